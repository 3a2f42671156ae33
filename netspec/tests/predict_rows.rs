//! `predict_batch` runs chunks of samples through the layers at once; every sample's output
//! must be bit for bit what `predict` gives it alone, for any number of samples (whole chunks,
//! a remainder, none), for dense, convolutional, preprocessed and multi-head networks.

use netspec::Rng;
use netspec::prelude::*;

netspec::network! {
    network Mlp {
        input 5; batch 4;
        dense 40; batchnorm; relu; dropout 0.3; dense 17 dropconnect 0.2; tanh; dense 3;
        loss softmax_cross_entropy;
    }
}

netspec::network! {
    network Cnn {
        input image(2, 6, 6); batch 4;
        preprocess standardize per_channel;
        conv 4 kernel 3 pad 1; batchnorm; relu;
        residual { conv 4 kernel 3 pad 1; relu; }
        maxpool 2; fractional_maxpool 1.5; residual shortcut { conv 6 kernel 1; relu; }
        flatten; dense 5; relu; dense 2;
        loss softmax_cross_entropy;
    }
}

netspec::network! {
    network Heads {
        input 6; batch 4;
        dense 12; layernorm; gelu; dense 8; silu;
        head digit { dense 4; loss softmax_cross_entropy; }
        head parity { dense 1; loss binary_cross_entropy weight 0.5; }
    }
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed(seed);
    (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect()
}

/// Sample counts around the chunk sizes `predict_batch` can pick (powers of two up to 32).
const COUNTS: [usize; 9] = [0, 1, 2, 7, 8, 9, 31, 33, 70];

#[test]
fn predict_batch_gives_every_sample_predicts_bits() {
    let mut rng = Rng::seed(3);
    let mut mlp = Mlp::new(&mut rng);
    // Batch norm with running statistics away from (0, 1), so eval mode shows.
    let (x, t) = (values(4 * Mlp::INPUT, 1), [0, 1, 2, 1]);
    let mut opt = netspec::Sgd::new(0.1).build().unwrap();
    for _ in 0..3 {
        mlp.train_step(&x, &t, &mut opt, &mut rng).unwrap();
    }
    let mut cnn = Cnn::new(&mut rng);
    cnn.fit_preprocess(&values(10 * Cnn::INPUT, 2)).unwrap();
    let heads = Heads::new(&mut rng);

    // `predict_batch` of `n` samples against `predict` of each, for a single-output network.
    macro_rules! check_rows {
        ($net:ident: $ty:ty, $n:expr, $seed:expr) => {{
            let n = $n;
            let x = values(n * <$ty>::INPUT, $seed + n as u64);
            let mut out = vec![f32::NAN; n * <$ty>::OUTPUT];
            $net.predict_batch(&x, &mut out).unwrap();
            for (s, (x, y)) in x.chunks(<$ty>::INPUT).zip(out.chunks(<$ty>::OUTPUT)).enumerate() {
                let want = $net.predict(x.try_into().unwrap());
                assert_eq!(bits(y), bits(&want), "{}, {n} samples, sample {s}", stringify!($ty));
            }
        }};
    }
    for n in COUNTS {
        check_rows!(mlp: Mlp, n, 10);
        check_rows!(cnn: Cnn, n, 20);

        let x = values(n * Heads::INPUT, 30 + n as u64);
        let mut out = vec![HeadsOutput::default(); n];
        heads.predict_batch(&x, &mut out).unwrap();
        for (s, (x, y)) in x.chunks(Heads::INPUT).zip(&out).enumerate() {
            let want = heads.predict(x.try_into().unwrap());
            assert_eq!(bits(&y.digit), bits(&want.digit), "Heads, {n} samples, sample {s}");
            assert_eq!(bits(&y.parity), bits(&want.parity), "Heads, {n} samples, sample {s}");
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}
