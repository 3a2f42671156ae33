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

use std::fmt;

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

/// A slice handed to a generated network's batch method has the wrong length, or a class index
/// is out of range. Returned before anything is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// A slice whose length is fixed by the network.
    Length {
        /// The network's name.
        network: &'static str,
        /// The method called.
        method: &'static str,
        /// The argument.
        argument: &'static str,
        /// Values required.
        expected: usize,
        /// How `expected` is made up, e.g. `BATCH * INPUT = 32 * 2`.
        formula: &'static str,
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
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Length { network, method, argument, expected, formula, found } => write!(
                f,
                "{network}::{method}: `{argument}` has {found} values but must have {expected} \
                 ({formula}); pass exactly one mini-batch"
            ),
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
        }
    }
}

impl std::error::Error for BatchError {}

/// What generated code calls; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::BatchError;
    pub use netspec_runtime::{
        CheckpointError, Init, Optimizer, ParamInfo, Rng, Role, TensorData, TensorDataMut,
        TensorMut, TensorRef, checkpoint, init_params,
    };
    use std::path::Path;

    /// `Err` unless `found == expected`.
    pub fn check_len(
        network: &'static str,
        method: &'static str,
        argument: &'static str,
        found: usize,
        expected: usize,
        formula: &'static str,
    ) -> Result<(), BatchError> {
        if found == expected {
            Ok(())
        } else {
            Err(BatchError::Length { network, method, argument, expected, formula, found })
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

    /// `a · b` with 8 partial sums: f32 addition is not associative, so the compiler keeps a
    /// single running sum in order and cannot vectorize it; 8 independent sums it can.
    #[inline]
    pub fn dot<const N: usize>(a: &[f32; N], b: &[f32; N]) -> f32 {
        let (a8, a_rest) = a.as_chunks::<8>();
        let (b8, b_rest) = b.as_chunks::<8>();
        let mut lanes = [0.0f32; 8];
        for (a, b) in a8.iter().zip(b8) {
            for ((lane, &a), &b) in lanes.iter_mut().zip(a).zip(b) {
                *lane += a * b;
            }
        }
        let mut sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
            + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
        for (&a, &b) in a_rest.iter().zip(b_rest) {
            sum += a * b;
        }
        sum
    }

    /// nn.CrossEntropyLoss on logits, mean over the rows, times `weight`: per row
    /// `logsumexp(z) - z[label]`; writes `weight * (softmax(z) - onehot(label)) / rows`.
    /// Labels were checked to be below `K`.
    pub fn softmax_cross_entropy<const K: usize>(
        logits: &[[f32; K]],
        labels: &[usize],
        weight: f32,
        dlogits: &mut [[f32; K]],
    ) -> f64 {
        let scale = weight / logits.len().max(1) as f32;
        let mut total = 0.0f64;
        for ((z, &label), dz) in logits.iter().zip(labels).zip(dlogits.iter_mut()) {
            // logsumexp with the max subtracted, so exp cannot overflow.
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for (dz, &z) in dz.iter_mut().zip(z) {
                *dz = (z - max).exp();
                sum += *dz;
            }
            total += f64::from(max + sum.ln() - z[label]);
            let inv = scale / sum;
            for dz in dz.iter_mut() {
                *dz *= inv;
            }
            dz[label] -= scale;
        }
        f64::from(weight) * total / logits.len().max(1) as f64
    }

    /// nn.MSELoss: mean of (y - t)^2 over every value, times `weight`; writes
    /// `weight * 2 (y - t) / count`.
    pub fn mse<const K: usize>(
        outputs: &[[f32; K]],
        targets: &[[f32; K]],
        weight: f32,
        doutputs: &mut [[f32; K]],
    ) -> f64 {
        let count = (outputs.len() * K).max(1);
        let scale = 2.0 * weight / count as f32;
        let mut total = 0.0f64;
        for ((y, t), dy) in outputs.iter().zip(targets).zip(doutputs.iter_mut()) {
            for ((&y, &t), dy) in y.iter().zip(t).zip(dy.iter_mut()) {
                let diff = y - t;
                total += f64::from(diff * diff);
                *dy = scale * diff;
            }
        }
        f64::from(weight) * total / count as f64
    }

    /// nn.BCEWithLogitsLoss: mean over every value of
    /// `max(z, 0) - z t + ln(1 + e^-|z|)` (never overflows), times `weight`; writes
    /// `weight * (sigmoid(z) - t) / count`.
    pub fn binary_cross_entropy_with_logits<const K: usize>(
        logits: &[[f32; K]],
        targets: &[[f32; K]],
        weight: f32,
        dlogits: &mut [[f32; K]],
    ) -> f64 {
        let count = (logits.len() * K).max(1);
        let scale = weight / count as f32;
        let mut total = 0.0f64;
        for ((z, t), dz) in logits.iter().zip(targets).zip(dlogits.iter_mut()) {
            for ((&z, &t), dz) in z.iter().zip(t).zip(dz.iter_mut()) {
                let e = (-z.abs()).exp();
                total += f64::from(z.max(0.0) - z * t + e.ln_1p());
                // sigmoid(z) from e = exp(-|z|), stable on both sides.
                let sigmoid = if z >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                *dz = scale * (sigmoid - t);
            }
        }
        f64::from(weight) * total / count as f64
    }

    /// `penalty l2 a`: returns (a/2) sum(w^2), adds a w to the gradient.
    pub fn l2_penalty(w: &[f32], grad: &mut [f32], a: f32) -> f64 {
        let mut sum = 0.0f64;
        for (&w, g) in w.iter().zip(grad.iter_mut()) {
            sum += f64::from(w * w);
            *g += a * w;
        }
        0.5 * f64::from(a) * sum
    }

    /// `penalty l1 a`: returns a sum|w|, adds the subgradient a sign(w) (sign(0) = 0).
    pub fn l1_penalty(w: &[f32], grad: &mut [f32], a: f32) -> f64 {
        let mut sum = 0.0f64;
        for (&w, g) in w.iter().zip(grad.iter_mut()) {
            sum += f64::from(w.abs());
            if w != 0.0 {
                *g += a * w.signum();
            }
        }
        f64::from(a) * sum
    }

    /// Saves each layout entry as a tensor named and shaped as PyTorch's `state_dict`.
    pub fn save_params(
        path: &Path,
        layout: &[ParamInfo],
        params: &[f32],
    ) -> Result<(), CheckpointError> {
        let mut tensors = Vec::with_capacity(layout.len());
        for info in layout {
            let data = params.get(info.offset..info.offset + info.len).ok_or_else(|| {
                CheckpointError::InvalidTensor {
                    name: info.name.to_string(),
                    reason: "lies outside the parameter buffer".into(),
                }
            })?;
            tensors.push(TensorRef {
                name: info.name,
                shape: info.shape,
                data: TensorData::F32(data),
            });
        }
        checkpoint::save(path, &tensors)
    }

    /// Loads every layout entry from a checkpoint; on error `params` is unchanged.
    pub fn load_params(
        path: &Path,
        layout: &[ParamInfo],
        params: &mut [f32],
    ) -> Result<(), CheckpointError> {
        // Hand out disjoint slices in offset order (the layout is contiguous and sorted, but
        // do not rely on it beyond what is checked here).
        let mut order: Vec<&ParamInfo> = layout.iter().collect();
        order.sort_by_key(|info| info.offset);
        let mut tensors = Vec::with_capacity(order.len());
        let mut rest = params;
        let mut at = 0;
        for info in order {
            let invalid = |reason: &str| CheckpointError::InvalidTensor {
                name: info.name.to_string(),
                reason: reason.to_string(),
            };
            let skip =
                info.offset.checked_sub(at).ok_or_else(|| invalid("overlaps another tensor"))?;
            if skip + info.len > rest.len() {
                return Err(invalid("lies outside the parameter buffer"));
            }
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(skip);
            let (data, tail) = tail.split_at_mut(info.len);
            rest = tail;
            at = info.offset + info.len;
            tensors.push(TensorMut {
                name: info.name,
                shape: info.shape,
                data: TensorDataMut::F32(data),
            });
        }
        checkpoint::load(path, &mut tensors)
    }
}
