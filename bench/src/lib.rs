//! The reference models of issue 6 (float32, ReLU, softmax cross-entropy, batch 64), defined
//! with `netspec::network!`, plus deterministic inputs for benchmarks, and the loop shapes that
//! `netspec emit` generates today for dense layers, kept as the baseline the kernels in
//! `netspec_runtime::ops::kernels` are measured against.
//!
//! Besides the four MLPs (`Tiny`, `Small`, `Medium`, `Large` 784-1024-1024-10) and `CifarCnn`
//! (3x32x32 images, two conv-bn-relu-maxpool stages of 32 and 64 filters, dense 128, dense 10),
//! `DigitsCnn` is the convolutional network
//! of `specs/digits_cnn.nn` with exactly its layers and loss (conv, batch norm, a residual block
//! with stochastic depth 0.1, max pooling, dropout 0.5), at batch 64 like the others instead of
//! the spec's 32. Its `preprocess`, `augment` and `penalty` statements are left out: they are the
//! data pipeline (input standardization, augmentation) and a regularizer of training, not the
//! model, and the PyTorch baseline (`bench/pytorch_baseline.py`) has neither.
#![deny(unsafe_code)]

netspec::network! {
    network Tiny {
        input 4;
        batch 64;
        dense 16;
        relu;
        dense 16;
        relu;
        dense 3;
        loss softmax_cross_entropy;
    }
}

netspec::network! {
    network Small {
        input 64;
        batch 64;
        dense 128;
        relu;
        dense 64;
        relu;
        dense 10;
        loss softmax_cross_entropy;
    }
}

netspec::network! {
    network Medium {
        input 784;
        batch 64;
        dense 256;
        relu;
        dense 128;
        relu;
        dense 10;
        loss softmax_cross_entropy;
    }
}

netspec::network! {
    network Large {
        input 784;
        batch 64;
        dense 1024;
        relu;
        dense 1024;
        relu;
        dense 10;
        loss softmax_cross_entropy;
    }
}

// CIFAR-10-shaped images through two conv-bn-relu-pool stages (the performance issue's model).
netspec::network! {
    network CifarCnn {
        input image(3, 32, 32);
        batch 64;
        conv 32 kernel 3 pad 1; batchnorm; relu; maxpool 2;
        conv 64 kernel 3 pad 1; batchnorm; relu; maxpool 2;
        flatten; dense 128; relu; dense 10;
        loss softmax_cross_entropy;
    }
}

// The layers of specs/digits_cnn.nn, without its preprocess/augment/penalty statements (see the
// crate documentation: data pipeline and regularizer, not the model).
netspec::network! {
    network DigitsCnn {
        input image(1, 8, 8);
        batch 64;
        conv 16 kernel 3 pad 1 init kaiming_normal;
        batchnorm;
        relu;
        residual stochastic_depth 0.1 {
            conv 16 kernel 3 pad 1 init kaiming_normal;
            batchnorm;
            relu;
            conv 16 kernel 3 pad 1 init zeros;
        }
        maxpool 2;
        flatten;
        dense 64 init kaiming_uniform;
        relu;
        dropout 0.5;
        dense 10 init xavier_uniform bias zeros;
        loss softmax_cross_entropy;
    }
}

// The embedded models of tests/specs/kws_ds_cnn.nn (keyword spotting: a (10, 4) conv, four
// depthwise-separable blocks) and specs/activity.nn (1-D convs over a 3-axis accelerometer
// window), at batch 64.
netspec::network! {
    network KwsDsCnn {
        input image(1, 49, 10);
        batch 64;
        conv 64 kernel (10, 4) stride (2, 2) pad (5, 1) bias none; batchnorm; relu;
        conv 64 kernel 3 pad 1 groups 64 bias none; batchnorm; relu;
        conv 64 kernel 1 bias none; batchnorm; relu;
        conv 64 kernel 3 pad 1 groups 64 bias none; batchnorm; relu;
        conv 64 kernel 1 bias none; batchnorm; relu;
        conv 64 kernel 3 pad 1 groups 64 bias none; batchnorm; relu;
        conv 64 kernel 1 bias none; batchnorm; relu;
        conv 64 kernel 3 pad 1 groups 64 bias none; batchnorm; relu;
        conv 64 kernel 1 bias none; batchnorm; relu;
        global_avgpool; dense 12;
        loss softmax_cross_entropy;
    }
    network Activity {
        input sequence(3, 128);
        batch 64;
        conv 16 kernel 5 pad 2; batchnorm; relu; maxpool 2;
        conv 32 kernel 3 pad 2 dilation 2; batchnorm; relu;
        avgpool 3 stride 2 pad 1 count_pad false;
        conv 32 kernel 5 pad 2 groups 32; conv 32 kernel 1; relu;
        global_maxpool; dense 4;
        loss softmax_cross_entropy;
    }
}

/// Mini-batch size of every reference model.
pub const BATCH: usize = 64;

/// `n` values uniform in [-1, 1) from a fixed seed.
pub fn inputs(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = netspec::Rng::seed(seed);
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// `n` class labels below `classes` from a fixed seed.
pub fn labels(n: usize, classes: usize, seed: u64) -> Vec<usize> {
    let mut rng = netspec::Rng::seed(seed);
    (0..n).map(|_| (rng.next_u64() % classes as u64) as usize).collect()
}

/// The dense-layer loops exactly as `netspec emit specs/digits.nn` generates them (generic over
/// the shapes instead of constant-bound per layer): the baseline of the kernel benchmarks.
pub mod generated {
    /// `y = x W^T + b`, one `dot` per output.
    pub fn forward<const IN: usize, const OUT: usize>(
        w: &[[f32; IN]],
        b: &[f32],
        x: &[[f32; IN]],
        y: &mut [[f32; OUT]],
    ) {
        for (x, y) in x.iter().zip(y.iter_mut()) {
            for ((y, w), b) in y.iter_mut().zip(w).zip(b) {
                *y = netspec_runtime::ops::kernels::dot(w, x) + *b;
            }
        }
    }

    /// `dW += dy^T x`, sample by sample.
    pub fn backward_dw<const IN: usize, const OUT: usize>(
        dw: &mut [[f32; IN]],
        x: &[[f32; IN]],
        dy: &[[f32; OUT]],
    ) {
        for (x, dy) in x.iter().zip(dy) {
            for (dw, &g) in dw.iter_mut().zip(dy) {
                for (dw, &x) in dw.iter_mut().zip(x) {
                    *dw += g * x;
                }
            }
        }
    }

    /// `db += sum of the rows of dy`.
    pub fn backward_db<const OUT: usize>(db: &mut [f32], dy: &[[f32; OUT]]) {
        for dy in dy {
            for (db, &g) in db.iter_mut().zip(dy) {
                *db += g;
            }
        }
    }

    /// `dx = dy W`.
    pub fn backward_dx<const IN: usize, const OUT: usize>(
        w: &[[f32; IN]],
        dy: &[[f32; OUT]],
        dx: &mut [[f32; IN]],
    ) {
        for (dx, dy) in dx.iter_mut().zip(dy) {
            *dx = [0.0; IN];
            for (w, &g) in w.iter().zip(dy) {
                for (dx, &w) in dx.iter_mut().zip(w) {
                    *dx += g * w;
                }
            }
        }
    }
}

/// The same operations through `matrixmultiply::sgemm` (row-major, strides given), to decide
/// where a GEMM path wins. Safe wrappers: the slices' lengths are checked against the shapes
/// before the call.
pub mod gemm {
    /// `y = x W^T + b`: b broadcast into y, then `y += x W^T`.
    pub fn forward<const IN: usize, const OUT: usize>(
        w: &[[f32; IN]],
        b: &[f32],
        x: &[[f32; IN]],
        y: &mut [[f32; OUT]],
    ) {
        let m = x.len().min(y.len());
        assert!(w.len() == OUT && b.len() == OUT);
        for y in y[..m].iter_mut() {
            y.copy_from_slice(b);
        }
        let (x, w, y) = (x.as_flattened(), w.as_flattened(), y.as_flattened_mut());
        assert!(x.len() >= m * IN && y.len() >= m * OUT && w.len() == OUT * IN);
        // SAFETY: x is m x IN (row stride IN), W^T is IN x OUT read from W [OUT][IN] with row
        // stride 1 and column stride IN, y is m x OUT (row stride OUT); every index sgemm
        // touches is below the lengths asserted/derived above, and y does not alias x or w
        // (it is a distinct &mut).
        #[allow(unsafe_code)]
        unsafe {
            matrixmultiply::sgemm(
                m,
                IN,
                OUT,
                1.0,
                x.as_ptr(),
                IN as isize,
                1,
                w.as_ptr(),
                1,
                IN as isize,
                1.0,
                y.as_mut_ptr(),
                OUT as isize,
                1,
            );
        }
    }

    /// `dW += dy^T x`: dW is OUT x IN = (OUT x m) (m x IN).
    pub fn backward_dw<const IN: usize, const OUT: usize>(
        dw: &mut [[f32; IN]],
        x: &[[f32; IN]],
        dy: &[[f32; OUT]],
    ) {
        let m = x.len().min(dy.len());
        let (x, dy, dw) = (x.as_flattened(), dy.as_flattened(), dw.as_flattened_mut());
        assert!(x.len() >= m * IN && dy.len() >= m * OUT && dw.len() == OUT * IN);
        // SAFETY: dy^T is OUT x m read from dy [m][OUT] (row stride 1, column stride OUT), x is
        // m x IN (row stride IN), dW is OUT x IN (row stride IN); bounds asserted above, dW is
        // a distinct &mut.
        #[allow(unsafe_code)]
        unsafe {
            matrixmultiply::sgemm(
                OUT,
                m,
                IN,
                1.0,
                dy.as_ptr(),
                1,
                OUT as isize,
                x.as_ptr(),
                IN as isize,
                1,
                1.0,
                dw.as_mut_ptr(),
                IN as isize,
                1,
            );
        }
    }

    /// `dx = dy W`: (m x OUT) (OUT x IN).
    pub fn backward_dx<const IN: usize, const OUT: usize>(
        w: &[[f32; IN]],
        dy: &[[f32; OUT]],
        dx: &mut [[f32; IN]],
    ) {
        let m = dx.len().min(dy.len());
        let (w, dy, dx) = (w.as_flattened(), dy.as_flattened(), dx.as_flattened_mut());
        assert!(dx.len() >= m * IN && dy.len() >= m * OUT && w.len() == OUT * IN);
        // SAFETY: dy is m x OUT (row stride OUT), W is OUT x IN (row stride IN), dx is m x IN
        // (row stride IN); bounds asserted above, dx is a distinct &mut.
        #[allow(unsafe_code)]
        unsafe {
            matrixmultiply::sgemm(
                m,
                OUT,
                IN,
                1.0,
                dy.as_ptr(),
                OUT as isize,
                1,
                w.as_ptr(),
                IN as isize,
                1,
                0.0,
                dx.as_mut_ptr(),
                IN as isize,
                1,
            );
        }
    }
}
