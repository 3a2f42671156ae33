//! A dense layer (nn.Linear) of a generated network over rows of fixed width, through the
//! register-tiled [`crate::ops::kernels`].

use crate::ops::dropout::{dropconnect_sample, mask_gradient, mask_weights};
use crate::ops::kernels::{dense_backward_db, dense_backward_dw, dense_backward_dx, dense_forward};
use crate::rng::Rng;

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
