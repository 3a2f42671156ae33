//! The input pipeline through the generated API: preprocessing statistics fitted on the
//! training split are the ones `predict`, `loss_and_grad` and `train_step` apply (and `save`/
//! `load` keep); augmentation runs in `train_step` only, keeps labels unless it mixes them, and
//! mixup/cutmix label weights sum to 1.

use netspec::Rng;
use netspec::prelude::*;

netspec::network! {
    network Standardized {
        input image(2, 3, 3); batch 4;
        preprocess standardize per_channel;
        flatten; dense 3; loss softmax_cross_entropy;
    }
    network Plain {
        input image(2, 3, 3); batch 4;
        flatten; dense 3; loss softmax_cross_entropy;
    }
    network Whitened {
        input 3; batch 4;
        preprocess whiten pca eps 1e-2;
        dense 2; loss mse;
    }
    network Preserving {
        input image(1, 6, 6); batch 8;
        augment { translate 1; flip horizontal; rotate 10; noise gaussian 0.05; cutout 2; }
        conv 2 kernel 3 pad 1; relu; maxpool 2; flatten; dense 4; loss softmax_cross_entropy;
    }
    network Mixup {
        input image(1, 6, 6); batch 8;
        preprocess mean_subtract per_pixel;
        augment { mixup 0.4; }
        conv 2 kernel 3 pad 1; global_avgpool; dense 4; loss softmax_cross_entropy;
    }
    network Cutmix {
        input image(1, 6, 6); batch 8;
        augment { flip horizontal; cutmix 1.0; }
        conv 2 kernel 3 pad 1; global_avgpool; dense 4; loss softmax_cross_entropy;
    }
    network MixedValues {
        input 5; batch 6;
        augment { noise gaussian 0.1; mixup 1.0; }
        dense 2; loss mse;
    }
}

fn rows(rng: &mut Rng, n: usize, d: usize, offset: f32, scale: f32) -> Vec<f32> {
    (0..n * d).map(|i| offset * (1 + i % 2) as f32 + scale * rng.uniform(-1.0, 1.0)).collect()
}

#[test]
fn preprocessing_fitted_on_the_training_split_is_applied_at_predict() {
    let mut rng = Rng::seed(5);
    let train = rows(&mut rng, 40, 18, 3.0, 2.0);
    let test = rows(&mut rng, 12, 18, -7.0, 0.5); // another distribution
    let mut net = Standardized::new(&mut rng);
    net.fit_preprocess(&train).unwrap();
    // Per-channel mean and std of the training rows, by hand (biased variance + eps).
    for c in 0..2 {
        let values: Vec<f64> = train
            .chunks(18)
            .flat_map(|r| r[c * 9..(c + 1) * 9].iter().map(|&v| v as f64))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        let p = net.preprocessor().unwrap();
        assert!((p.mean()[c] as f64 - mean).abs() < 1e-4, "mean {c}");
        assert!((p.std()[c] as f64 - (var + 1e-5).sqrt()).abs() < 1e-4, "std {c}");
    }
    // predict(x) = the same network without preprocessing on (x - mean) / std.
    let mut plain = Plain::new(&mut rng);
    plain.params_mut().copy_from_slice(net.params());
    let (mean, std) =
        (net.preprocessor().unwrap().mean().to_vec(), net.preprocessor().unwrap().std().to_vec());
    let standardize = |x: &[f32]| -> Vec<f32> {
        x.iter().enumerate().map(|(i, &v)| (v - mean[i / 9]) / std[i / 9]).collect()
    };
    for x in test.chunks(18) {
        let by_hand = standardize(x);
        let want = plain.predict(by_hand.as_slice().try_into().unwrap());
        let got = net.predict(x.try_into().unwrap());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{got:?} vs {want:?}");
        }
    }
    // loss_and_grad too, and the caller's rows are not changed.
    let batch = test[..4 * 18].to_vec();
    let labels = [0, 1, 2, 1];
    let loss = net.loss_and_grad(&batch, &labels).unwrap();
    assert_eq!(batch, test[..4 * 18]);
    let by_hand: Vec<f32> = batch.chunks(18).flat_map(standardize).collect();
    let want = plain.loss_and_grad(&by_hand, &labels).unwrap();
    assert!((loss - want).abs() < 1e-5, "{loss} vs {want}");
    for (g, w) in net.grads().iter().zip(plain.grads()) {
        assert!((g - w).abs() < 1e-5);
    }

    // save/load keeps the statistics (`preprocess.mean`, `preprocess.std`).
    let path = std::env::temp_dir().join(format!("netspec-pre-{}.safetensors", std::process::id()));
    net.save(&path).unwrap();
    let mut loaded = Standardized::new(&mut rng);
    loaded.load(&path).unwrap();
    assert_eq!(loaded.preprocessor().unwrap().mean(), net.preprocessor().unwrap().mean());
    assert_eq!(loaded.preprocessor().unwrap().std(), net.preprocessor().unwrap().std());
    let x: &[f32; 18] = test[..18].try_into().unwrap();
    assert_eq!(loaded.predict(x), net.predict(x));
    // A checkpoint without the statistics is rejected and changes nothing.
    plain.save(&path).unwrap();
    let before = loaded.params().to_vec();
    let err = loaded.load(&path).unwrap_err();
    assert!(err.to_string().contains("preprocess"), "{err}");
    assert_eq!(loaded.params(), before);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn training_before_fit_preprocess_is_refused_with_the_call_to_make() {
    let mut rng = Rng::seed(8);
    let x = rows(&mut rng, 4, 18, 3.0, 2.0);
    let y = [0, 1, 2, 0];
    let mut opt = netspec::Sgd::new(0.1).build().unwrap();
    let mut net = Standardized::new(&mut rng);
    let before = net.params().to_vec();
    let err = net.train_step(&x, &y, &mut opt, &mut rng).unwrap_err();
    assert!(matches!(err, netspec::BatchError::PreprocessNotFitted { method: "train_step", .. }));
    assert_eq!(
        err.to_string(),
        "Standardized::train_step: the spec preprocesses its inputs (`preprocess standardize \
         per_channel`) but the statistics were never fitted: call \
         `fit_preprocess(&training_rows)` (or `load` a checkpoint) before training"
    );
    let err = net.loss_and_grad(&x, &y).unwrap_err();
    assert!(err.to_string().starts_with("Standardized::loss_and_grad: "), "{err}");
    let mut out = [0.0; 12];
    let err = net.forward(&x, &mut out, &mut rng).unwrap_err();
    assert!(err.to_string().starts_with("Standardized::forward: "), "{err}");
    assert_eq!(net.params(), before, "nothing was trained");
    assert_eq!(net.last_loss().total, 0.0, "nothing was computed");
    // Eval-mode forward is prediction, which needs no fitted statistics to run.
    net.set_training(false);
    net.forward(&x, &mut out, &mut rng).unwrap();
    net.set_training(true);

    // Fitting, or loading a checkpoint that holds the statistics, lets training start.
    net.fit_preprocess(&x).unwrap();
    net.train_step(&x, &y, &mut opt, &mut rng).unwrap();
    let path = std::env::temp_dir().join(format!("netspec-fit-{}.safetensors", std::process::id()));
    net.save(&path).unwrap();
    let mut loaded = Standardized::new(&mut rng);
    loaded.load(&path).unwrap();
    loaded.train_step(&x, &y, &mut opt, &mut rng).unwrap();
    std::fs::remove_file(&path).unwrap();
    // A spec without `preprocess` trains at once.
    Plain::new(&mut rng).train_step(&x, &y, &mut opt, &mut rng).unwrap();
}

#[test]
fn whitening_is_fitted_and_applied() {
    let mut rng = Rng::seed(9);
    let mut train = Vec::new();
    for _ in 0..200 {
        let a = rng.normal(0.0, 2.0);
        let b = rng.normal(0.0, 0.5);
        train.extend([a + 1.0, a + b - 2.0, b * 3.0]);
    }
    let mut net = Whitened::new(&mut rng);
    let before = net.predict(&[1.0, 2.0, 3.0]);
    net.fit_preprocess(&train).unwrap();
    assert_ne!(net.predict(&[1.0, 2.0, 3.0]), before);
    assert!(net.fit_preprocess(&train[..4]).is_err(), "not whole samples");
}

fn labels(rng: &mut Rng, n: usize, classes: usize) -> Vec<usize> {
    (0..n).map(|_| rng.below(classes)).collect()
}

#[test]
fn label_preserving_augmentations_keep_labels() {
    let mut rng = Rng::seed(11);
    let mut net = Preserving::new(&mut rng);
    let mut opt = netspec::Sgd::new(0.01).build().unwrap();
    for _ in 0..5 {
        let x = rows(&mut rng, 8, 36, 0.5, 0.5);
        let y = labels(&mut rng, 8, 4);
        net.train_step(&x, &y, &mut opt, &mut rng).unwrap();
        for (t, &label) in net.last_targets().chunks(4).zip(&y) {
            let mut want = [0.0; 4];
            want[label] = 1.0;
            assert_eq!(t, want, "one-hot of the label");
        }
    }
    // loss_and_grad does not augment: repeated, it gives the same loss.
    let x = rows(&mut rng, 8, 36, 0.5, 0.5);
    let y = labels(&mut rng, 8, 4);
    let first = net.loss_and_grad(&x, &y).unwrap();
    assert_eq!(net.loss_and_grad(&x, &y).unwrap(), first);
}

/// Each row of the mixed targets is lam one_hot(y_n) + (1 - lam) one_hot(y_partner(n)).
fn check_mixed(targets: &[f32], labels: &[usize], partners: &[usize], lambda: f32, classes: usize) {
    for (n, t) in targets.chunks(classes).enumerate() {
        let sum: f32 = t.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "row {n} sums to {sum}");
        let mut want = vec![0.0f32; classes];
        want[labels[n]] += lambda;
        want[labels[partners[n]]] += 1.0 - lambda;
        for (a, b) in t.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "row {n}: {t:?} vs {want:?}");
        }
    }
}

#[test]
fn mixup_and_cutmix_label_weights_sum_to_one() {
    let mut rng = Rng::seed(13);
    let mut mixup = Mixup::new(&mut rng);
    mixup.fit_preprocess(&rows(&mut rng, 20, 36, 0.3, 1.0)).unwrap();
    let mut cutmix = Cutmix::new(&mut rng);
    let mut opt = netspec::Adam::new().lr(1e-3).build().unwrap();
    let mut opt2 = netspec::Adam::new().lr(1e-3).build().unwrap();
    let mut mixed_rows = 0;
    for _ in 0..10 {
        let x = rows(&mut rng, 8, 36, 0.5, 0.5);
        let y = labels(&mut rng, 8, 4);
        mixup.train_step(&x, &y, &mut opt, &mut rng).unwrap();
        let Some(netspec::Mix::Mixup { lambda }) = mixup.augmenter().unwrap().last_mix() else {
            panic!("mixup mixes every batch");
        };
        check_mixed(mixup.last_targets(), &y, mixup.augmenter().unwrap().partners(), lambda, 4);
        cutmix.train_step(&x, &y, &mut opt2, &mut rng).unwrap();
        let Some(netspec::Mix::Cutmix { lambda, .. }) = cutmix.augmenter().unwrap().last_mix()
        else {
            panic!("cutmix mixes every batch");
        };
        check_mixed(cutmix.last_targets(), &y, cutmix.augmenter().unwrap().partners(), lambda, 4);
        mixed_rows += mixup.last_targets().chunks(4).filter(|t| t.iter().all(|&v| v < 1.0)).count();
    }
    assert!(mixed_rows > 0, "some rows really are mixed");
}

#[test]
fn mixup_mixes_value_targets() {
    let mut rng = Rng::seed(17);
    let mut net = MixedValues::new(&mut rng);
    let mut opt = netspec::Sgd::new(0.01).build().unwrap();
    let x = rows(&mut rng, 6, 5, 0.0, 1.0);
    let t: Vec<f32> = (0..12).map(|i| (i % 2) as f32).collect(); // rows [0, 1]
    net.train_step(&x, &t, &mut opt, &mut rng).unwrap();
    for row in net.last_targets().chunks(2) {
        assert!((row[0] + row[1] - 1.0).abs() < 1e-6, "{row:?}");
    }
}
