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
//! use netspec::prelude::*;
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
//! Every generated network implements [`Network`], whose provided methods are the whole API;
//! `use netspec::prelude::*` brings it into scope. The runtime's public types ([`Rng`],
//! optimizers, data sets, checkpoints, ...) are re-exported at the root by name.
#![forbid(unsafe_code)]

pub use netspec_macros::network;
#[cfg(feature = "progress")]
pub use netspec_runtime::Progress;
pub use netspec_runtime::pipeline::augment::Mix;
#[cfg(feature = "plots")]
pub use netspec_runtime::plot;
pub use netspec_runtime::probe::{
    self, Histogram, LayerInfo, LayerStats, LayerView, Saturation, tensor_norms, update_norms,
};
pub use netspec_runtime::{Adam, AdamBuilder, OptimError, Optimizer, Sgd, SgdBuilder};
pub use netspec_runtime::{
    AugmentError, Augmentation, Augmenter, BatchError, Batches, BufferInfo, BufferKind,
    CheckpointError, Classifier, Core, CosineLr, CsvOptions, DataError, Dataset, Divergence,
    History, Init, LabelColumn, LayoutError, LoadOptions, LrSchedule, Network, ParamInfo, Penalty,
    PreprocessError, PreprocessKind, Preprocessor, Rng, Role, Sample, StepLoss, StepLr, Targets,
    accuracy, argmax, one_hot,
};

/// `use netspec::prelude::*;` brings the traits a training program calls methods of.
pub mod prelude {
    pub use netspec_runtime::{Classifier, LrSchedule, Network, Optimizer, Sample};
}

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
    pub use netspec_runtime::network::fmt_network;
    pub use netspec_runtime::ops::activation::{
        Activation, add_into, dropout_backward, dropout_forward, dropout_predict, noise_forward,
        noise_predict, residual_backward, residual_forward, residual_predict,
    };
    pub use netspec_runtime::ops::batchnorm::{BatchNorm, NormShape};
    pub use netspec_runtime::ops::conv::{Conv2d, ConvShape};
    pub use netspec_runtime::ops::dense::Dense;
    pub use netspec_runtime::ops::dropout::{bernoulli_mask, gaussian_noise};
    pub use netspec_runtime::ops::kernels;
    pub use netspec_runtime::ops::layernorm::{LayerNorm, LayerNormShape};
    pub use netspec_runtime::ops::loss::{
        binary_cross_entropy_with_logits, l1_activity, mse, softmax_cross_entropy,
        softmax_cross_entropy_soft,
    };
    pub use netspec_runtime::ops::pool::{
        FRACTIONAL_EVAL_SAMPLE, FractionalPoolShape, ImageShape, PoolShape, avgpool2d_backward,
        avgpool2d_forward, fractional_maxpool2d_backward, fractional_maxpool2d_forward,
        fractional_samples, global_avgpool_backward, global_avgpool_forward, maxpool2d_backward,
        maxpool2d_forward,
    };
    pub use netspec_runtime::{
        Augmentation, BatchError, BufferInfo, BufferKind, Init, LayerInfo, ParamInfo,
        PreprocessKind, Rng, Role, Targets,
    };
}
