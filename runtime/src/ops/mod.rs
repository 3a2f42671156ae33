//! The layer kernels generated code calls: shape-independent forward and backward passes over
//! flat slices or fixed-width rows. A forward pass overwrites its output; a backward pass adds
//! into its input's gradient and accumulates its parameters' gradients.

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
