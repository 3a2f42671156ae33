//! Argument checks at the boundary of generated code: wrong slice lengths and class indices
//! become a [`BatchError`] before anything is computed.

use std::fmt;

/// A slice handed to a generated network's batch method has the wrong length, or a class index
/// is out of range (returned before anything is computed), or a training step went non-finite
/// (returned before the optimizer step, with the running statistics restored).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BatchError {
    /// Inputs that are not 1 to `BATCH` whole samples (or, for a training pass through a
    /// batch norm over single values per channel, fewer than 2).
    Rows {
        /// The network's name.
        network: &'static str,
        /// The method called.
        method: &'static str,
        /// Values in `inputs`.
        found: usize,
        /// Values per sample (the network's `INPUT`).
        input_width: usize,
        /// The most samples (the network's `BATCH`).
        batch: usize,
        /// The fewest samples: 2 when a batch norm in training mode would otherwise normalize
        /// one value per channel, else 1.
        min: usize,
    },
    /// A slice whose length is fixed by the network and the number of samples in `inputs`.
    Length {
        /// The network's name.
        network: &'static str,
        /// The method called.
        method: &'static str,
        /// The argument.
        argument: &'static str,
        /// Samples required: as many as `inputs` holds (`BATCH` for a method that takes
        /// exactly one mini-batch).
        batch: usize,
        /// Values per sample and their name (`INPUT`, `OUTPUT`, a head's `WIDTH`); `None`
        /// for one value per sample.
        per_sample: Option<(&'static str, usize)>,
        /// Values given.
        found: usize,
    },
    /// `predict_batch` inputs that are not a whole number of samples, or outputs of another
    /// number of samples.
    Samples {
        /// The network's name.
        network: &'static str,
        /// Values in `inputs`.
        inputs: usize,
        /// Values per input sample.
        input_width: usize,
        /// Values in `outputs`.
        outputs: usize,
        /// Values per output sample.
        output_width: usize,
    },
    /// A class index not below the number of classes.
    Label {
        /// The network's name.
        network: &'static str,
        /// The method called.
        method: &'static str,
        /// The sample within the batch.
        sample: usize,
        /// The index given.
        label: usize,
        /// The number of classes (the network's `OUTPUT`).
        classes: usize,
    },
    /// A training call (`train_step`, `loss_and_grad`, `forward` in training mode) on a
    /// network whose spec has `preprocess` before `fit_preprocess` (or `load`) gave it its
    /// statistics; nothing is computed then.
    PreprocessNotFitted {
        /// The network's name.
        network: &'static str,
        /// The method called.
        method: &'static str,
        /// The spec's preprocessing.
        kind: crate::PreprocessKind,
    },
    /// A training step whose loss, gradients or running statistics are NaN or infinite: the
    /// optimizer step is not taken, and the parameters and running statistics stay as they
    /// were before the step (Keras's `TerminateOnNaN`, without losing the model).
    NonFinite {
        /// The network's name.
        network: &'static str,
        /// The method called.
        method: &'static str,
        /// The step, counted from 1 over the network's `train_step` calls.
        step: u64,
        /// What went non-finite first.
        what: Divergence,
    },
}

/// What a diverging training step found non-finite, in the order it is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Divergence {
    /// The loss (data plus penalties).
    Loss(f32),
    /// A gradient: the parameter tensor, the index within it and the value.
    Gradient {
        /// The tensor's name.
        name: &'static str,
        /// The row-major index within it.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A batch-norm running statistic after the step's update.
    RunningStatistic {
        /// The buffer's name.
        name: &'static str,
        /// The index within it.
        index: usize,
        /// The value.
        value: f32,
    },
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Divergence::Loss(loss) => write!(f, "the loss is {loss}"),
            Divergence::Gradient { name, index, value } => {
                write!(f, "the gradient of `{name}` is {value} at index {index}")
            }
            Divergence::RunningStatistic { name, index, value } => {
                write!(f, "`{name}` became {value} at index {index}")
            }
        }
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Rows { network, method, found, input_width, batch, min } => {
                write!(
                    f,
                    "{network}::{method}: `inputs` has {found} values but must hold {min} to \
                     {batch} (BATCH) whole samples of {input_width} (INPUT) values"
                )?;
                if found.is_multiple_of(*input_width) && (1..*min).contains(&(found / input_width))
                {
                    write!(
                        f,
                        "; a batch norm in training mode needs {min} samples, since the batch \
                         variance of one value per channel is 0 (PyTorch refuses it too)"
                    )?;
                }
                Ok(())
            }
            BatchError::Length { network, method, argument, batch, per_sample, found } => {
                write!(f, "{network}::{method}: `{argument}` has {found} values but must have ")?;
                match per_sample {
                    Some((name, width)) => write!(
                        f,
                        "{}: {width} ({name}) per sample, for the {batch} samples of `inputs`",
                        batch * width
                    ),
                    None => write!(f, "{batch}: one per sample of `inputs`"),
                }
            }
            BatchError::Samples { network, inputs, input_width, outputs, output_width } => {
                write!(
                    f,
                    "{network}::predict_batch: `inputs` has {inputs} values and `outputs` \
                     {outputs}; they must be n * {input_width} and n * {output_width} for the \
                     same number n of samples"
                )
            }
            BatchError::Label { network, method, sample, label, classes } => write!(
                f,
                "{network}::{method}: sample {sample} has class {label} but the network has \
                 {classes} classes (0..{classes}); check the labels or the last layer's units"
            ),
            BatchError::PreprocessNotFitted { network, method, kind } => write!(
                f,
                "{network}::{method}: the spec preprocesses its inputs (`preprocess {kind}`) but \
                 the statistics were never fitted: call `fit_preprocess(&training_rows)` (or \
                 `load` a checkpoint) before training"
            ),
            BatchError::NonFinite { network, method, step, what } => write!(
                f,
                "{network}::{method}: step {step} diverged: {what}; the parameters and running \
                 statistics are as before the step. Lower the learning rate, check the inputs \
                 for NaN or infinite values, or scale them (`preprocess standardize ...`)"
            ),
        }
    }
}

impl std::error::Error for BatchError {}

/// `Err` unless `found` is `batch` samples of `per_sample` values (one value without).
pub fn check_len(
    network: &'static str,
    method: &'static str,
    argument: &'static str,
    found: usize,
    batch: usize,
    per_sample: Option<(&'static str, usize)>,
) -> Result<(), BatchError> {
    if found == batch * per_sample.map_or(1, |(_, width)| width) {
        Ok(())
    } else {
        Err(BatchError::Length { network, method, argument, batch, per_sample, found })
    }
}

/// The number of samples in `found` input values: `min..=batch` whole samples of `input_width`.
pub fn check_rows(
    network: &'static str,
    method: &'static str,
    found: usize,
    input_width: usize,
    (min, batch): (usize, usize),
) -> Result<usize, BatchError> {
    let samples = found / input_width.max(1);
    if found.is_multiple_of(input_width.max(1)) && (min..=batch).contains(&samples) {
        Ok(samples)
    } else {
        Err(BatchError::Rows { network, method, found, input_width, batch, min })
    }
}

/// The number of samples when `inputs` and `outputs` hold the same whole number of them.
pub fn check_samples(
    network: &'static str,
    inputs: usize,
    input_width: usize,
    outputs: usize,
    output_width: usize,
) -> Result<usize, BatchError> {
    let samples = inputs / input_width.max(1);
    if inputs.is_multiple_of(input_width.max(1))
        && samples.checked_mul(output_width) == Some(outputs)
    {
        Ok(samples)
    } else {
        Err(BatchError::Samples { network, inputs, input_width, outputs, output_width })
    }
}

/// `Err` for the first label not below `classes`.
pub fn check_labels(
    network: &'static str,
    method: &'static str,
    labels: &[usize],
    classes: usize,
) -> Result<(), BatchError> {
    match labels.iter().position(|&label| label >= classes) {
        None => Ok(()),
        Some(sample) => {
            Err(BatchError::Label { network, method, sample, label: labels[sample], classes })
        }
    }
}
