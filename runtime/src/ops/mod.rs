//! The layer kernels generated code calls: shape-independent forward and backward passes over
//! flat slices or fixed-width rows. A forward pass overwrites its output; a backward pass adds
//! into its input's gradient (or overwrites it, where it takes a [`GradMode`]) and accumulates
//! its parameters' gradients.

pub mod activation;
pub mod batchnorm;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod gemm;
pub mod kernels;
pub mod layernorm;
pub mod loss;
pub mod pool;
pub mod vmath;

/// How a backward kernel writes its input's gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradMode {
    /// Added to what the buffer holds, which starts at zero: the layers that read one input
    /// sum their gradients in it.
    Add,
    /// Overwriting the buffer, for the input's only reader: nothing has to zero it first.
    /// The values are those [`GradMode::Add`] leaves in a zeroed buffer (up to the sign of a
    /// zero: `0 + -0` is `+0`).
    Overwrite,
}

impl GradMode {
    /// Zeroes one sample's input-gradient row for [`GradMode::Overwrite`], right before a
    /// backward pass adds into it (the row is then in cache for the adds); leaves it for
    /// [`GradMode::Add`].
    #[inline(always)]
    pub(crate) fn start_row(self, dx: &mut [f32]) {
        if self == GradMode::Overwrite {
            dx.fill(0.0);
        }
    }
}

/// Two disjoint `len`-long pieces of `data`, at `a` and at `b`, to write (a norm layer's gamma
/// and beta, or its running mean and variance).
pub(crate) fn two_mut<T>(data: &mut [T], a: usize, b: usize, len: usize) -> (&mut [T], &mut [T]) {
    if a < b {
        let (lo, hi) = data.split_at_mut(b);
        (&mut lo[a..a + len], &mut hi[..len])
    } else {
        let (lo, hi) = data.split_at_mut(a);
        (&mut hi[..len], &mut lo[b..b + len])
    }
}
