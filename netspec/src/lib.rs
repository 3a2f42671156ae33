//! netspec: declarative neural-network specs compiled to specialized Rust.
//!
//! ```
//! netspec::network! {
//!     network Xor {
//!         input 2;
//!         batch 4;
//!         dense 8 init xavier_normal;
//!         tanh;
//!         dense 1;
//!         loss mse;
//!     }
//! }
//!
//! let mut rng = netspec::Rng::seed(42);
//! let mut net = Xor::new(&mut rng);
//! let mut opt = netspec::Adam::new().lr(0.05).build()?;
//! let xs = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
//! let ys = [0.0, 1.0, 1.0, 0.0];
//! let first = net.train_step(&xs, &ys, &mut opt, &mut rng)?;
//! for _ in 0..300 {
//!     net.train_step(&xs, &ys, &mut opt, &mut rng)?;
//! }
//! assert!(net.loss_and_grad(&xs, &ys)? < first / 10.0);
//! let y: [f32; 1] = net.predict(&[0.0, 1.0]);
//! assert!(y[0] > 0.5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The runtime ([`Rng`], optimizers, data sets, checkpoints, ...) is re-exported at the root.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use netspec_macros::network;
pub use netspec_runtime::*;

/// Includes the code that `netspec-build` generated in a build script for `specs/NAME.nn`:
/// `netspec::include_spec!("NAME");` (like `tonic::include_proto!` or `lalrpop_mod!`).
#[macro_export]
macro_rules! include_spec {
    ($name:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $name, ".rs"));
    };
}

/// What generated code calls; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use netspec_runtime::batch::{check_labels, check_len, check_samples};
    pub use netspec_runtime::batchnorm::{
        NormShape, backward_eval as batch_norm_backward_eval,
        backward_train as batch_norm_backward_train, forward_eval as batch_norm_forward_eval,
        forward_train as batch_norm_forward_train,
    };
    pub use netspec_runtime::checkpoint::{load_params, save_params};
    pub use netspec_runtime::conv::{ConvShape, conv2d_backward, conv2d_forward};
    pub use netspec_runtime::dropout::{bernoulli_mask, gaussian_noise, mask_weights};
    pub use netspec_runtime::kernels;
    pub use netspec_runtime::loss::{
        binary_cross_entropy_with_logits, l1_activity, l1_penalty, l2_penalty, mse,
        softmax_cross_entropy, softmax_cross_entropy_soft,
    };
    pub use netspec_runtime::model_state::{load_state_preprocessed, save_state_preprocessed};
    pub use netspec_runtime::pool::{
        FRACTIONAL_EVAL_SAMPLE, FractionalPoolShape, ImageShape, PoolShape, avgpool2d_backward,
        avgpool2d_forward, fractional_maxpool2d_backward, fractional_maxpool2d_forward,
        fractional_samples, global_avgpool_backward, global_avgpool_forward, maxpool2d_backward,
        maxpool2d_forward,
    };
    pub use netspec_runtime::state::{State, load_state, save_state};
    pub use netspec_runtime::{
        AugmentError, Augmentation, Augmenter, PreprocessError, PreprocessKind, Preprocessor,
    };
    pub use netspec_runtime::{
        BatchError, BufferInfo, BufferKind, CheckpointError, Init, Optimizer, ParamInfo, Rng, Role,
        StepLoss, init_params, reset_buffers,
    };
}
