//! ndarray interop (the `ndarray` feature): networks take mini-batches as `ArrayView2<f32>`
//! (one sample per row) and class labels as `ArrayView1<usize>` (or value targets as
//! `ArrayView2<f32>`), through [`NdarrayExt`], which every network implements.
//!
//! ```
//! use ndarray::{array, Array1};
//! use netspec::prelude::*;
//! use netspec::NdarrayExt;
//!
//! netspec::network! {
//!     network Tiny { input 2; batch 4; dense 3; loss softmax_cross_entropy; }
//! }
//!
//! let mut rng = netspec::Rng::seed(0);
//! let mut net = Tiny::new(&mut rng);
//! let mut opt = netspec::Sgd::new(0.5).build()?;
//! let x = array![[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]];
//! let y = Array1::from(vec![0, 1, 2, 0]);
//! for _ in 0..50 {
//!     net.train_step_array(x.view(), y.view(), &mut opt, &mut rng)?;
//! }
//! let scores = net.predict_array(x.view())?;           // [4, 3]
//! assert_eq!(scores.dim(), (4, 3));
//! // A wrong shape is an error that says which, not a panic.
//! let err = net.predict_array(x.t()).unwrap_err();
//! assert!(err.to_string().contains("`inputs` must be [n, 2]"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Inputs in any memory layout are accepted (those not row-major are copied first); target
//! views must be contiguous and row-major, as `.as_standard_layout()` makes them, since the
//! network reads them in place.

use std::fmt;

use ndarray::{Array2, ArrayView1, ArrayView2, CowArray, Ix2};
use netspec_runtime::{BatchError, Network, Optimizer, Rng, Sample};

/// An array handed to an [`NdarrayExt`] method has the wrong shape or layout, or the network's
/// slice method refused the batch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ArrayError {
    /// An array of another shape than the network needs; nothing is computed then.
    Shape {
        /// The network's name.
        network: &'static str,
        /// The method called.
        method: &'static str,
        /// The argument.
        argument: &'static str,
        /// The shape required, as `[BATCH, INPUT]` with the numbers filled in (`n` for any).
        expected: String,
        /// The shape given.
        found: Vec<usize>,
    },
    /// A target array that is not contiguous in row-major order.
    Layout {
        /// The network's name.
        network: &'static str,
        /// The method called.
        method: &'static str,
        /// The argument.
        argument: &'static str,
    },
    /// What the slice method returned: a class index out of range, a diverged step, training
    /// before `fit_preprocess`.
    Batch(BatchError),
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArrayError::Shape { network, method, argument, expected, found } => write!(
                f,
                "{network}::{method}: `{argument}` must be {expected}, found {found:?}; pass \
                 one sample per row"
            ),
            ArrayError::Layout { network, method, argument } => write!(
                f,
                "{network}::{method}: `{argument}` is not contiguous in row-major order; pass \
                 `{argument}.as_standard_layout().view()`"
            ),
            ArrayError::Batch(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ArrayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ArrayError::Batch(error) => Some(error),
            _ => None,
        }
    }
}

impl From<BatchError> for ArrayError {
    fn from(error: BatchError) -> Self {
        ArrayError::Batch(error)
    }
}

/// Targets given as an array: class indices as `ArrayView1<usize>` (softmax cross-entropy), or
/// `[BATCH, OUTPUT]` values as `ArrayView2<f32>` (`mse`, `binary_cross_entropy`).
pub trait ArrayTargets<'a> {
    /// The slice the network's methods take.
    type Slice;
    /// The shape required of one mini-batch, or `None` when `self` has it.
    fn wrong_shape(&self, batch: usize, output: usize) -> Option<String>;
    /// The shape of `self`.
    fn shape_of(&self) -> Vec<usize>;
    /// The values in place; `None` when they are not contiguous and row-major.
    fn as_targets(&self) -> Option<Self::Slice>;
}

impl<'a> ArrayTargets<'a> for ArrayView1<'a, usize> {
    type Slice = &'a [usize];

    fn wrong_shape(&self, batch: usize, _output: usize) -> Option<String> {
        (self.len() != batch).then(|| format!("[{batch}] (BATCH class indices)"))
    }

    fn shape_of(&self) -> Vec<usize> {
        self.shape().to_vec()
    }

    fn as_targets(&self) -> Option<&'a [usize]> {
        self.to_slice()
    }
}

impl<'a> ArrayTargets<'a> for ArrayView2<'a, f32> {
    type Slice = &'a [f32];

    fn wrong_shape(&self, batch: usize, output: usize) -> Option<String> {
        (self.dim() != (batch, output)).then(|| format!("[{batch}, {output}] ([BATCH, OUTPUT])"))
    }

    fn shape_of(&self) -> Vec<usize> {
        self.shape().to_vec()
    }

    fn as_targets(&self) -> Option<&'a [f32]> {
        self.to_slice()
    }
}

/// [`Network`]'s batch methods over ndarray views; implemented for every network.
pub trait NdarrayExt: Network {
    /// [`Network::predict_batch`] over the rows of `inputs` (`[n, INPUT]`): the `[n, OUTPUT]`
    /// outputs, in eval mode.
    ///
    /// # Errors
    ///
    /// [`ArrayError::Shape`] when `inputs` does not have `INPUT` columns.
    fn predict_array(&self, inputs: ArrayView2<'_, f32>) -> Result<Array2<f32>, ArrayError>
    where
        Self::Output: Sample<Flat = f32>,
    {
        let rows = input_rows::<Self>("predict_array", inputs, None)?;
        let mut outputs = Array2::zeros((inputs.nrows(), Self::OUTPUT));
        let out = outputs.as_slice_mut().expect("a new array is row-major");
        self.predict_batch(rows.as_slice().expect("made row-major"), out)?;
        Ok(outputs)
    }

    /// [`Network::loss_and_grad`] on one mini-batch: `inputs` is `[BATCH, INPUT]`, `targets`
    /// `[BATCH]` class indices or `[BATCH, OUTPUT]` values.
    ///
    /// # Errors
    ///
    /// [`ArrayError::Shape`] or [`ArrayError::Layout`] for the arrays, [`ArrayError::Batch`]
    /// for what [`Network::loss_and_grad`] refuses; nothing is computed then.
    fn loss_and_grad_array<'a, T>(
        &mut self,
        inputs: ArrayView2<'_, f32>,
        targets: T,
    ) -> Result<f32, ArrayError>
    where
        T: ArrayTargets<'a, Slice = Self::Targets<'a>>,
    {
        let method = "loss_and_grad_array";
        let rows = input_rows::<Self>(method, inputs, Some(Self::BATCH))?;
        let targets = target_slice::<Self, T>(method, &targets)?;
        Ok(self.loss_and_grad(rows.as_slice().expect("made row-major"), targets)?)
    }

    /// [`Network::train_step`] on one mini-batch: `inputs` is `[BATCH, INPUT]`, `targets`
    /// `[BATCH]` class indices or `[BATCH, OUTPUT]` values.
    ///
    /// # Errors
    ///
    /// As [`NdarrayExt::loss_and_grad_array`], and [`Network::train_step`]'s; nothing is
    /// changed then.
    fn train_step_array<'a, T>(
        &mut self,
        inputs: ArrayView2<'_, f32>,
        targets: T,
        optimizer: &mut impl Optimizer,
        rng: &mut Rng,
    ) -> Result<f32, ArrayError>
    where
        T: ArrayTargets<'a, Slice = Self::Targets<'a>>,
    {
        let method = "train_step_array";
        let rows = input_rows::<Self>(method, inputs, Some(Self::BATCH))?;
        let targets = target_slice::<Self, T>(method, &targets)?;
        Ok(self.train_step(rows.as_slice().expect("made row-major"), targets, optimizer, rng)?)
    }
}

impl<N: Network> NdarrayExt for N {}

/// `inputs` checked to be `[rows, INPUT]` (any number of rows when `rows` is `None`), as a
/// row-major array (copied only when it is not one).
fn input_rows<'v, N: Network>(
    method: &'static str,
    inputs: ArrayView2<'v, f32>,
    rows: Option<usize>,
) -> Result<CowArray<'v, f32, Ix2>, ArrayError> {
    let (n, width) = inputs.dim();
    if width != N::INPUT || rows.is_some_and(|rows| rows != n) {
        let expected = match rows {
            Some(rows) => format!("[{rows}, {}] ([BATCH, INPUT])", N::INPUT),
            None => format!("[n, {}] ([n, INPUT])", N::INPUT),
        };
        let found = inputs.shape().to_vec();
        return Err(ArrayError::Shape {
            network: N::NAME,
            method,
            argument: "inputs",
            expected,
            found,
        });
    }
    Ok(if inputs.is_standard_layout() {
        CowArray::from(inputs)
    } else {
        CowArray::from(inputs.as_standard_layout().into_owned())
    })
}

fn target_slice<'a, N: Network, T: ArrayTargets<'a>>(
    method: &'static str,
    targets: &T,
) -> Result<T::Slice, ArrayError> {
    if let Some(expected) = targets.wrong_shape(N::BATCH, N::OUTPUT) {
        let found = targets.shape_of();
        return Err(ArrayError::Shape {
            network: N::NAME,
            method,
            argument: "targets",
            expected,
            found,
        });
    }
    targets.as_targets().ok_or(ArrayError::Layout { network: N::NAME, method, argument: "targets" })
}
