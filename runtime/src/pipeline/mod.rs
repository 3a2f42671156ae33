//! The input pipeline: preprocessing fitted on the training split and saved with the model,
//! and seeded training-time augmentation.

pub mod augment;
pub mod preprocess;
