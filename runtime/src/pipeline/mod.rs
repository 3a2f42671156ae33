//! The input pipeline: preprocessing fitted on the training split and saved with the model,
//! and seeded training-time augmentation.

#[cfg(feature = "std")]
pub mod augment;
#[cfg(feature = "std")]
pub mod preprocess;
pub mod stats;
