//! The layer kernels generated code calls: shape-independent forward and backward passes over
//! flat slices or fixed-width rows. A forward pass overwrites its output; a backward pass adds
//! into its input's gradient and accumulates its parameters' gradients.

pub mod activation;
pub mod batchnorm;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod kernels;
pub mod layernorm;
pub mod loss;
pub mod pool;
