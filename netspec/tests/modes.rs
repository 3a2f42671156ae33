//! The train/eval mode, the loss parts, and checkpoints with batch-norm buffers.

use netspec::prelude::*;
use netspec::{Rng, Sgd};

netspec::network! {
    network Net {
        input 4; batch 8; dense 6; batchnorm; relu; dropout 0.5; dense 3;
        loss softmax_cross_entropy; penalty l2 1e-2; penalty l1_activity 1e-2 on relu1;
    }
}

fn batch() -> (Vec<f32>, Vec<usize>) {
    let x = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
    (x, (0..8).map(|i| i % 3).collect())
}

#[test]
fn modes_follow_pytorch() {
    let mut rng = Rng::seed(1);
    let mut net = Net::new(&mut rng);
    let (x, y) = batch();
    assert!(net.is_training(), "modules start in training mode");
    // train_step runs in training mode and leaves the mode alone.
    net.set_training(false);
    let mut opt = Sgd::new(0.1).build().unwrap();
    net.train_step(&x, &y, &mut opt, &mut rng).unwrap();
    assert!(!net.is_training());
    assert_eq!(net.counters(), [1], "train_step counted one training batch");
    // Eval mode: loss_and_grad is deterministic and does not touch the running statistics.
    let buffers = net.buffers().to_vec();
    let a = net.loss_and_grad(&x, &y).unwrap();
    assert_eq!(net.loss_and_grad(&x, &y).unwrap(), a);
    assert_eq!(net.buffers(), buffers);
    // forward in eval mode is predict_batch.
    let (mut out, mut want) = (vec![0.0; 24], vec![0.0; 24]);
    net.forward(&x, &mut out, &mut rng).unwrap();
    net.predict_batch(&x, &mut want).unwrap();
    assert_eq!(out, want);
    // Training mode: forward draws masks and counts; loss_and_grad reuses them.
    net.set_training(true);
    net.forward(&x, &mut out, &mut rng).unwrap();
    assert_eq!(net.counters(), [2]);
    assert_ne!(out, want);
    let loss = net.loss_and_grad(&x, &y).unwrap();
    assert_eq!(net.loss_and_grad(&x, &y).unwrap(), loss);
    let parts = net.last_loss();
    assert_eq!(parts.total, loss);
    assert!(parts.penalty > 0.0 && (parts.data + parts.penalty - parts.total).abs() < 1e-6);
    // MC dropout: stochastic passes differ, their mean approaches predict's weight scaling.
    let one: &[f32; 4] = x[..4].try_into().unwrap();
    assert_ne!(net.predict_sample(one, &mut rng), net.predict_sample(one, &mut rng));
    let (mc, scaled) = (net.predict_mc(one, 20_000, &mut rng), net.predict(one));
    for (m, s) in mc.iter().zip(scaled) {
        // dropout after the last relu, before a linear layer: E[MC] = weight scaling exactly.
        assert!((m - s).abs() < 0.02 * s.abs().max(1.0), "{mc:?} vs {scaled:?}");
    }
}

#[test]
fn checkpoints_carry_batch_norm_buffers() {
    let dir = std::env::temp_dir().join(format!("netspec-modes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.safetensors");
    let mut rng = Rng::seed(2);
    let mut saved = Net::new(&mut rng);
    let (x, y) = batch();
    let mut opt = Sgd::new(0.1).build().unwrap();
    for _ in 0..3 {
        saved.train_step(&x, &y, &mut opt, &mut rng).unwrap();
    }
    saved.save(&path).unwrap();
    // `tests/reference/load_state_dict_check.py` loads this file into PyTorch (strict).
    if let Some(keep) = std::env::var_os("NETSPEC_KEEP_CHECKPOINT") {
        std::fs::copy(&path, keep).unwrap();
    }
    let names: Vec<&str> = Net::BUFFERS.iter().map(|b| b.name).collect();
    assert_eq!(
        names,
        ["batchnorm1.running_mean", "batchnorm1.running_var", "batchnorm1.num_batches_tracked"]
    );
    let mut loaded = Net::new(&mut Rng::seed(3));
    loaded.load(&path).unwrap();
    assert_eq!(loaded.params(), saved.params());
    assert_eq!(loaded.buffers(), saved.buffers());
    assert_eq!(loaded.counters(), [3]);
    let one: &[f32; 4] = x[..4].try_into().unwrap();
    assert_eq!(loaded.predict(one), saved.predict(one));
    std::fs::remove_dir_all(&dir).unwrap();
}
