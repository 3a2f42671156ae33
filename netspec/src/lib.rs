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
//!
//! A spec can also live in a `.nn` file compiled by a build script: `netspec_build::compile`
//! in `build.rs` and [`include_spec!`] in the crate (see the `netspec-build` crate). The
//! `netspec` command checks, summarizes, formats and emits specs.
//!
//! The language reference and the generated API below are the README's own sections,
//! included from `docs/` (a test keeps the README equal to them).
//!
#![doc = include_str!("../docs/language.md")]
//!
#![doc = include_str!("../docs/api.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "ndarray")]
pub mod array;
#[cfg(feature = "ndarray")]
pub use array::{ArrayError, ArrayTargets, NdarrayExt};

/// Compiles the network specs written inside into Rust types, one `pub struct` per `network`,
/// each implementing [`Network`] (see the crate page for the language and the API).
///
/// ```
/// use netspec::prelude::*;
///
/// netspec::network! {
///     network Classifier {
///         input 4;
///         batch 2;
///         dense 8 init kaiming_uniform;   // nn.Linear(4, 8), He-initialized
///         relu;
///         dropout 0.1;
///         dense 3;
///         loss softmax_cross_entropy;
///         penalty l2 1e-4;
///     }
/// }
///
/// let mut rng = netspec::Rng::seed(1);
/// let mut net = Classifier::new(&mut rng);
/// assert_eq!((Classifier::INPUT, Classifier::OUTPUT, Classifier::BATCH), (4, 3, 2));
/// assert_eq!(Classifier::PARAM_COUNT, 4 * 8 + 8 + 8 * 3 + 3);
/// assert_eq!(Classifier::PARAMS[0].name, "dense1.weight");
///
/// let mut opt = netspec::Sgd::new(0.1).build()?;
/// let x = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0];   // BATCH * INPUT values
/// let y = [0, 2];                                     // BATCH class indices
/// let first = net.train_step(&x, &y, &mut opt, &mut rng)?;
/// for _ in 0..100 {
///     net.train_step(&x, &y, &mut opt, &mut rng)?;
/// }
/// net.set_training(false);
/// assert!(net.loss_and_grad(&x, &y)? < first);
/// let scores: [f32; 3] = net.predict(&[1.0, 0.0, 0.0, 0.0]);
/// assert_eq!(netspec::argmax(&scores), Some(0));
///
/// // A wrong length is an error, not a panic.
/// assert!(net.train_step(&x[..4], &y, &mut opt, &mut rng).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Errors in the spec are compile errors at the offending token, each followed by its help,
/// and the network becomes a stub type so that its uses add no errors of their own.
pub use netspec_macros::network;
#[cfg(feature = "progress")]
pub use netspec_runtime::Progress;
#[cfg(feature = "std")]
pub use netspec_runtime::pipeline::augment::Mix;
#[cfg(feature = "plots")]
pub use netspec_runtime::plot;
#[cfg(feature = "std")]
pub use netspec_runtime::probe::{
    self, Histogram, LayerInfo, LayerStats, LayerView, Saturation, tensor_norms, update_norms,
};
#[cfg(feature = "std")]
pub use netspec_runtime::{Adam, AdamBuilder, OptimError, Optimizer, Sgd, SgdBuilder};
#[cfg(feature = "std")]
pub use netspec_runtime::{
    AugmentError, Augmentation, Augmenter, BatchError, Batches, BufferInfo, BufferKind,
    CheckpointError, Classifier, Core, CosineLr, CsvOptions, DataError, Dataset, Divergence,
    History, Init, LabelColumn, LayoutError, LoadOptions, LrSchedule, Network, ParamInfo, Penalty,
    PreprocessError, PreprocessKind, Preprocessor, Role, Sample, StepLoss, StepLr, Targets,
    accuracy, one_hot, set_threads, threads, with_threads,
};
pub use netspec_runtime::{Rng, argmax};

#[cfg(feature = "std")]
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

/// What generated code calls; not a stable API. Without `std`, what frozen networks call.
#[doc(hidden)]
pub mod __private {
    pub use netspec_runtime::Rng;
    #[cfg(feature = "std")]
    pub use netspec_runtime::Role;
    #[cfg(feature = "std")]
    pub use netspec_runtime::network::fmt_network;
    pub use netspec_runtime::ops::GradMode;
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
        binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_pos_weight, huber,
        l1_activity, l1_loss, mse, softmax_cross_entropy, softmax_cross_entropy_soft,
        softmax_cross_entropy_soft_weighted, softmax_cross_entropy_weighted,
    };
    pub use netspec_runtime::ops::pool::{
        FRACTIONAL_EVAL_SAMPLE, FractionalPoolShape, ImageShape, PoolShape, avgpool2d_backward,
        avgpool2d_forward, fractional_maxpool2d_backward, fractional_maxpool2d_forward,
        fractional_samples, global_avgpool_backward, global_avgpool_forward, maxpool2d_backward,
        maxpool2d_forward, maxpool2d_forward_values,
    };
    pub use netspec_runtime::pipeline::stats::{PreprocessKind, Stats};
    #[cfg(feature = "std")]
    pub use netspec_runtime::threads::zero;
    #[cfg(feature = "std")]
    pub use netspec_runtime::workspace::{PredictWorkspace, take_array, take_rows};
    #[cfg(feature = "std")]
    pub use netspec_runtime::{
        Augmentation, BatchError, BufferInfo, BufferKind, Init, LayerInfo, ParamInfo, Targets,
    };
}
