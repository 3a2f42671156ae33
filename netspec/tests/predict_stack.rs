//! `predict` stays within a fixed stack budget whatever the network's width: networks whose
//! one-sample working memory passes `netspec_grammar::memory::PREDICT_STACK_BYTES` (128 KiB)
//! take a heap workspace kept per thread instead of stack arrays. These networks overflowed a
//! thread's stack before (4 MiB of activations for `WideDense`, a 4.7 MB im2col scratch for
//! `BigConv`); each now predicts in a thread with a 2 MiB stack, its outputs equal to the
//! batched eval-mode forward pass within 1e-5 relative, and bit for bit the same on every thread.

use netspec::Rng;
use netspec::prelude::*;

netspec::network! {
    network WideDense { input 16; batch 1; dense 1048576; relu; dense 1; loss mse; }
}

netspec::network! {
    network BigConv {
        input image(3, 64, 64); batch 1;
        conv 32 kernel 3 pad 1; relu; conv 32 kernel 3 pad 1; relu;
        global_avgpool; dense 2; loss mse;
    }
}

netspec::network! {
    network Vgg {
        input image(3, 32, 32); batch 2;
        preprocess standardize per_channel;
        conv 16 kernel 3 pad 1; batchnorm; relu; conv 16 kernel 3 pad 1; relu; maxpool 2;
        conv 32 kernel 3 pad 1; batchnorm; relu; conv 32 kernel 3 pad 1; relu; maxpool 2;
        flatten; dense 64; layernorm; relu; dropout 0.5; dense 10;
        loss softmax_cross_entropy;
    }
}

// The most outputs `check` accepts (`limits::MAX_OUTPUT_VALUES`), returned by value.
netspec::network! {
    network WideOutput { input 4; batch 1; dense 16384; loss mse; }
}

const THREAD_STACK: usize = 2 << 20;

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed(seed);
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// Checks `net`'s `predict` in a 2 MiB thread against its batched eval forward pass, and the
/// main test thread's `predict` against the small thread's, bit for bit.
macro_rules! check {
    ($net:expr, $ty:ty) => {{
        let net: &mut $ty = $net;
        let inputs = values(<$ty as Network>::BATCH * <$ty as Network>::INPUT, 7);
        net.set_training(false);
        let mut expected = vec![0.0f32; <$ty as Network>::BATCH * <$ty as Network>::OUTPUT];
        net.forward(&inputs, &mut expected, &mut Rng::seed(0)).unwrap();
        let net = &*net;
        let in_thread: Vec<[f32; <$ty as Network>::OUTPUT]> = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(THREAD_STACK)
                .spawn_scoped(scope, || {
                    inputs
                        .as_chunks::<{ <$ty as Network>::INPUT }>()
                        .0
                        .iter()
                        .map(|x| net.predict(x))
                        .collect()
                })
                .unwrap()
                .join()
                .expect("predict within a 2 MiB stack")
        });
        for (n, (got, want)) in
            in_thread.iter().zip(expected.chunks(<$ty as Network>::OUTPUT)).enumerate()
        {
            for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
                let tolerance = 1e-5 * w.abs().max(1e-3);
                assert!(
                    (g - w).abs() <= tolerance,
                    "{} sample {n} output {i}: predict {g}, forward {w}",
                    <$ty as Network>::NAME
                );
            }
        }
        for (x, got) in inputs.as_chunks::<{ <$ty as Network>::INPUT }>().0.iter().zip(&in_thread) {
            let again = net.predict(x);
            assert!(again.iter().zip(got).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }};
}

#[test]
fn a_million_wide_dense_layer_predicts_in_a_2_mib_thread() {
    check!(&mut WideDense::new(&mut Rng::seed(1)), WideDense);
}

#[test]
fn a_conv_net_on_64x64_images_predicts_in_a_2_mib_thread() {
    check!(&mut BigConv::new(&mut Rng::seed(2)), BigConv);
}

#[test]
fn a_vgg_style_net_predicts_in_a_2_mib_thread() {
    let mut rng = Rng::seed(3);
    let mut net = Vgg::new(&mut rng);
    net.fit_preprocess(&values(4 * Vgg::INPUT, 4)).unwrap();
    // Batch norm's running statistics away from (0, 1), so eval mode shows.
    let mut opt = netspec::Sgd::new(0.01).build().unwrap();
    net.train_step(&values(2 * Vgg::INPUT, 5), &[3, 7], &mut opt, &mut rng).unwrap();
    check!(&mut net, Vgg);
}

#[test]
fn the_widest_output_check_accepts_predicts_in_a_2_mib_thread() {
    check!(&mut WideOutput::new(&mut Rng::seed(6)), WideOutput);
}
