//! A dense layer (nn.Linear) of a generated network over rows of fixed width, through the
//! register-tiled [`crate::kernels`].

use crate::kernels::{dense_backward_db, dense_backward_dw, dense_backward_dx, dense_forward};

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
    /// A layer with its weight at `weight` and its bias (if any) at `bias`.
    pub const fn new(weight: usize, bias: Option<usize>) -> Dense {
        Dense { weight, bias }
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
}
