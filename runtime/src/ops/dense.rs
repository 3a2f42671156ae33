//! A dense layer (nn.Linear) of a generated network over rows of fixed width, through the
//! register-tiled [`crate::ops::kernels`].

use crate::ops::dropout::{dropconnect_sample, mask_gradient, mask_weights};
use crate::ops::gemm::{SHARD_ROWS, View, gemm, workspace_len};
use crate::ops::kernels::{dense_backward_db, dense_backward_dw, dense_backward_dx, dense_forward};
use crate::rng::Rng;
use crate::threads::{for_work, in_row_shards};

/// Where a dense layer's weight (`[OUT, IN]`) and bias (`[OUT]`) lie in the flat parameter
/// buffer; `IN` and `OUT` come from the rows its methods take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    /// Offset of the weight.
    pub weight: usize,
    /// Offset of the bias, `None` for `bias none`.
    pub bias: Option<usize>,
}

impl Dense {
    /// A layer with its weight at `weight` and its bias at `bias`.
    pub const fn new(weight: usize, bias: usize) -> Dense {
        Dense { weight, bias: Some(bias) }
    }

    /// A layer without bias (`bias none`), its weight at `weight`.
    pub const fn without_bias(weight: usize) -> Dense {
        Dense { weight, bias: None }
    }

    /// The weight `W` as `OUT` rows of `IN` values.
    pub fn weight<'a, const IN: usize, const OUT: usize>(
        &self,
        params: &'a [f32],
    ) -> &'a [[f32; IN]] {
        params[self.weight..][..IN * OUT].as_chunks::<IN>().0
    }

    /// `y = x W^T + b`, `W` the layer's weight.
    pub fn forward<const IN: usize, const OUT: usize>(
        &self,
        params: &[f32],
        x: &[[f32; IN]],
        y: &mut [[f32; OUT]],
    ) {
        self.forward_with(self.weight::<IN, OUT>(params), params, x, y);
    }

    /// `y = x w^T + b` with another weight `w` (DropConnect's masked one) and the layer's bias.
    pub fn forward_with<const IN: usize, const OUT: usize>(
        &self,
        w: &[[f32; IN]],
        params: &[f32],
        x: &[[f32; IN]],
        y: &mut [[f32; OUT]],
    ) {
        dense_forward(w, self.bias.map(|b| &params[b..][..OUT]), x, y);
    }

    /// The backward pass: `dW += dy^T x` and `db += sum dy` into `grads`, `dx += dy W` when
    /// given.
    pub fn backward<const IN: usize, const OUT: usize>(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x: &[[f32; IN]],
        dy: &[[f32; OUT]],
        dx: Option<&mut [[f32; IN]]>,
    ) {
        self.backward_with(self.weight::<IN, OUT>(params), grads, x, dy, dx);
    }

    /// [`Dense::backward`] with `w` the weight the forward pass used (DropConnect's masked
    /// one): `dx += dy w`.
    pub fn backward_with<const IN: usize, const OUT: usize>(
        &self,
        w: &[[f32; IN]],
        grads: &mut [f32],
        x: &[[f32; IN]],
        dy: &[[f32; OUT]],
        dx: Option<&mut [[f32; IN]]>,
    ) {
        dense_backward_dw(grads[self.weight..][..IN * OUT].as_chunks_mut::<IN>().0, x, dy);
        if let Some(b) = self.bias {
            dense_backward_db(&mut grads[b..][..OUT], dy);
        }
        if let Some(dx) = dx {
            dense_backward_dx(w, dy, dx);
        }
    }

    /// The workspace values [`Dense::backward_packed`] needs for up to `rows` rows: the larger
    /// of its two products' packed copies.
    pub const fn packed_len(inputs: usize, outputs: usize, rows: usize) -> usize {
        let dw = workspace_len(outputs, inputs, rows);
        let dx = workspace_len(rows, inputs, outputs);
        if dw > dx { dw } else { dx }
    }

    /// [`Dense::forward`] for layers large enough to gain from threads: the register-tiled
    /// kernel (faster than the packed product for `y = x W^T`, whose `W^T` packing costs a
    /// pass over the weight per call) over fixed shards of [`SHARD_ROWS`] rows, in parallel
    /// when the product is large. Bit-identical to [`Dense::forward`] for any thread count.
    pub fn forward_packed<const IN: usize, const OUT: usize>(
        &self,
        params: &[f32],
        x: &[[f32; IN]],
        y: &mut [[f32; OUT]],
    ) {
        let w = self.weight::<IN, OUT>(params);
        let bias = self.bias.map(|b| &params[b..][..OUT]);
        let rows = x.len().min(y.len());
        let groups = for_work((rows * IN * OUT) as u64);
        let shard = |x: &[[f32; IN]], y: &mut [[f32; OUT]]| dense_forward(w, bias, x, y);
        in_row_shards((&x[..rows], &mut y[..rows]), SHARD_ROWS, groups, &shard);
    }

    /// [`Dense::backward`] through the packed matrix product, except that it overwrites the
    /// weight and bias gradients: `dW = dy^T x`, `db = sum dy`, and `dx += dy W` when given;
    /// packed copies in `work` ([`Dense::packed_len`]).
    pub fn backward_packed<const IN: usize, const OUT: usize>(
        &self,
        params: &[f32],
        grads: &mut [f32],
        (x, dy): (&[[f32; IN]], &[[f32; OUT]]),
        dx: Option<&mut [[f32; IN]]>,
        work: &mut [f32],
    ) {
        let rows = x.len().min(dy.len());
        let dy_flat = dy[..rows].as_flattened();
        let dw = &mut grads[self.weight..][..IN * OUT];
        let (dy_t, x_rows) = (View::transposed(dy_flat, OUT), View::rows(x.as_flattened(), IN));
        gemm((OUT, IN, rows), dy_t, x_rows, dw, false, work);
        if let Some(b) = self.bias {
            let db = &mut grads[b..][..OUT];
            db.fill(0.0);
            dense_backward_db(db, &dy[..rows]);
        }
        if let Some(dx) = dx {
            let w = View::rows(&params[self.weight..][..IN * OUT], IN);
            gemm((rows, IN, OUT), View::rows(dy_flat, OUT), w, dx.as_flattened_mut(), true, work);
        }
    }

    /// DropConnect's forward pass (Wan et al. 2013): while training `y = x (W * M)^T + b` with
    /// the weight times its mask `M` written to `masked`; in eval the mean network W.
    pub fn forward_dropconnect<const IN: usize, const OUT: usize>(
        &self,
        training: bool,
        params: &[f32],
        (mask, masked): (&[f32], &mut [f32]),
        x: &[[f32; IN]],
        y: &mut [[f32; OUT]],
    ) {
        if training {
            mask_weights(&params[self.weight..][..IN * OUT], mask, masked);
            self.forward_with(masked.as_chunks::<IN>().0, params, x, y);
        } else {
            self.forward(params, x, y);
        }
    }

    /// The backward pass of [`Dense::forward_dropconnect`] in the same mode: while training
    /// `dW = (dy^T x) * M` (only kept weights learn) and `dx += dy (W * M)`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_dropconnect<const IN: usize, const OUT: usize>(
        &self,
        training: bool,
        params: &[f32],
        (mask, masked): (&[f32], &[f32]),
        grads: &mut [f32],
        x: &[[f32; IN]],
        dy: &[[f32; OUT]],
        dx: Option<&mut [[f32; IN]]>,
    ) {
        if training {
            self.backward_with(masked.as_chunks::<IN>().0, grads, x, dy, dx);
            mask_gradient(&mut grads[self.weight..][..IN * OUT], mask);
        } else {
            self.backward(params, grads, x, dy, dx);
        }
    }

    /// DropConnect at prediction: with `rng`, every row with its own mask drawn weight by
    /// weight (drop with probability `p`, keep times `keep`; MC inference); without, the mean
    /// network.
    pub fn predict_dropconnect<const IN: usize, const OUT: usize>(
        &self,
        params: &[f32],
        p_keep: (f32, f32),
        x: &[[f32; IN]],
        y: &mut [[f32; OUT]],
        rng: &mut Option<&mut Rng>,
    ) {
        let Some(rng) = rng.as_deref_mut() else { return self.forward(params, x, y) };
        let bias = self.bias.map(|b| &params[b..][..OUT]);
        let weight = &params[self.weight..][..IN * OUT];
        for (x, y) in x.iter().zip(y) {
            dropconnect_sample(weight, bias, x, y, p_keep, rng);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::with_threads;

    /// The packed passes against the register-tiled ones (which the gradient checks cover) on
    /// a layer past the parallel threshold, within 1e-5 of the gradients' scale, and
    /// bit-identical for 1, 2 and 3 threads; the packed backward overwrites the weight and bias
    /// gradients (NaN before it), the tiled one adds to them (zeros before it).
    #[test]
    fn packed_passes_match_the_tiled_ones_for_any_thread_count() {
        const IN: usize = 200;
        const OUT: usize = 90;
        const ROWS: usize = 61;
        let mut rng = Rng::seed(5);
        let mut values = |n: usize| (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect::<Vec<f32>>();
        let params = values(IN * OUT + OUT);
        let (x, dy, dx0) = (values(ROWS * IN), values(ROWS * OUT), values(ROWS * IN));
        let (x, dy) = (x.as_chunks::<IN>().0, dy.as_chunks::<OUT>().0);
        let layer = Dense::new(0, IN * OUT);
        let mut y = vec![[0.0; OUT]; ROWS];
        // The tiled pass adds dW and db to zeros; the packed one overwrites what is there.
        let (mut grads, mut dx) = (vec![0.0; IN * OUT + OUT], dx0.clone());
        layer.forward(&params, x, &mut y);
        layer.backward(&params, &mut grads, x, dy, Some(dx.as_chunks_mut::<IN>().0));
        let mut first = None;
        for threads in [1, 2, 3] {
            with_threads(threads, || {
                let mut work = vec![f32::NAN; Dense::packed_len(IN, OUT, ROWS)];
                let mut y_p = vec![[f32::NAN; OUT]; ROWS];
                let (mut grads_p, mut dx_p) = (vec![f32::NAN; IN * OUT + OUT], dx0.clone());
                layer.forward_packed(&params, x, &mut y_p);
                let dx_rows = dx_p.as_chunks_mut::<IN>().0;
                layer.backward_packed(&params, &mut grads_p, (x, dy), Some(dx_rows), &mut work);
                assert_eq!(y_p, y, "the forward pass is the tiled kernel's, bit for bit");
                for (what, got, want) in [("dW, db", &grads_p, &grads), ("dx", &dx_p, &dx)] {
                    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                        assert!(
                            (g - w).abs() <= 1e-5 * w.abs().max(10.0),
                            "{what}[{i}]: {g} vs {w}"
                        );
                    }
                }
                let run = (grads_p, dx_p);
                match &first {
                    None => first = Some(run),
                    Some(first) => assert!(*first == run, "threads {threads} changed a bit"),
                }
            });
        }
    }
}
