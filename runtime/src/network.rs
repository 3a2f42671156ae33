//! The [`Network`] trait every generated network implements.
//!
//! As prost derives `Message` and provides `encode`/`decode`, netspec generates only what
//! depends on a network's shape: its sizes and layout tables, the layer forward and backward
//! passes over its workspace, the fixed-size prediction rows and its loss. Everything else
//! (construction, modes, batches, training steps, checkpoints, preprocessing) is written once
//! here as provided methods over [`Core`], the state every network has. So
//! `fn fit<N: Network>(net: &mut N, ..)` works for any generated network:
//!
//! ```
//! use netspec_runtime::{Classifier, Optimizer, Rng};
//!
//! /// One step per mini-batch; works for any network whose targets are class indices.
//! fn epoch<N: Classifier>(
//!     net: &mut N,
//!     x: &[f32],
//!     y: &[usize],
//!     opt: &mut impl Optimizer,
//!     rng: &mut Rng,
//! ) -> Result<f32, netspec_runtime::BatchError> {
//!     let mut loss = 0.0;
//!     for (x, y) in x.chunks_exact(N::BATCH * N::INPUT).zip(y.chunks_exact(N::BATCH)) {
//!         loss = net.train_step(x, y, opt, rng)?;
//!     }
//!     Ok(loss)
//! }
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::batch::{BatchError, Divergence, check_labels, check_len, check_rows, check_samples};
use crate::checkpoint::CheckpointError;
use crate::checkpoint::state::{State, StateMut, load_state, save_state};
use crate::layout::{BufferInfo, ParamInfo, init_params, reset_buffers};
use crate::ops::loss::{StepLoss, l1_penalty, l2_penalty};
use crate::optim::Optimizer;
use crate::pipeline::augment::{Augmentation, Augmenter};
use crate::pipeline::preprocess::{PreprocessError, PreprocessKind, Preprocessor};
use crate::probe::{LayerInfo, LayerView, tensor_norms};
use crate::rng::Rng;
use crate::threads::{
    VALUES_PER_PIECE, for_values, for_work, in_pieces, in_row_shards, with_threads, zero,
};

/// One sample's values as generated code holds them: `[f32; N]` for inputs and for the outputs
/// of single-output networks, a generated struct with one array per head otherwise.
pub trait Sample: Copy + Send + Sync {
    /// What a flat slice of samples holds: `f32` for arrays, the sample itself for head structs.
    type Flat: Copy;
    /// `Flat` values per sample.
    const FLAT_LEN: usize;
    /// The sample of zeros.
    const ZERO: Self;
    /// The whole samples at the start of `flat`.
    fn samples(flat: &[Self::Flat]) -> &[Self];
    /// The whole samples at the start of `flat`, to write.
    fn samples_mut(flat: &mut [Self::Flat]) -> &mut [Self];
    /// Every value of the sample, in order (head after head).
    fn values(&self) -> impl Iterator<Item = f32>;
    /// Every value of the sample, to write.
    fn values_mut(&mut self) -> impl Iterator<Item = &mut f32>;
}

impl<const N: usize> Sample for [f32; N] {
    type Flat = f32;
    const FLAT_LEN: usize = N;
    const ZERO: Self = [0.0; N];

    fn samples(flat: &[f32]) -> &[Self] {
        flat.as_chunks::<N>().0
    }

    fn samples_mut(flat: &mut [f32]) -> &mut [Self] {
        flat.as_chunks_mut::<N>().0
    }

    fn values(&self) -> impl Iterator<Item = f32> {
        self.iter().copied()
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut f32> {
        self.iter_mut()
    }
}

/// The targets of one mini-batch: class indices (`&[usize]`, one per sample), values
/// (`&[f32]`, `width` per sample), or a generated struct with one of those per head (which
/// checks each head against its own width).
pub trait Targets: Copy {
    /// `Ok` when they fit `batch` samples of `width.1` outputs; `argument` names them in the
    /// error (`targets`, `targets.digit`), `width.0` names the width (`OUTPUT`, `WIDTH`).
    fn check(
        self,
        network: &'static str,
        method: &'static str,
        argument: &'static str,
        batch: usize,
        width: (&'static str, usize),
    ) -> Result<(), BatchError>;
}

impl Targets for &[usize] {
    fn check(
        self,
        network: &'static str,
        method: &'static str,
        argument: &'static str,
        batch: usize,
        (_, classes): (&'static str, usize),
    ) -> Result<(), BatchError> {
        check_len(network, method, argument, self.len(), batch, None)?;
        check_labels(network, method, self, classes)
    }
}

impl Targets for &[f32] {
    fn check(
        self,
        network: &'static str,
        method: &'static str,
        argument: &'static str,
        batch: usize,
        width: (&'static str, usize),
    ) -> Result<(), BatchError> {
        check_len(network, method, argument, self.len(), batch, Some(width))
    }
}

/// An L1 or L2 penalty on one parameter tensor, as the spec's `penalty` statements resolve.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Penalty {
    /// `(a/2) * ||w||^2` on `PARAMS[param]`.
    L2 {
        /// The index into [`Network::PARAMS`].
        param: usize,
        /// The coefficient a.
        a: f32,
    },
    /// `a * ||w||_1` on `PARAMS[param]`.
    L1 {
        /// The index into [`Network::PARAMS`].
        param: usize,
        /// The coefficient a.
        a: f32,
    },
}

impl Penalty {
    /// `(a/2) * ||w||^2` on `PARAMS[param]`.
    pub const fn l2(param: usize, a: f32) -> Penalty {
        Penalty::L2 { param, a }
    }

    /// `a * ||w||_1` on `PARAMS[param]`.
    pub const fn l1(param: usize, a: f32) -> Penalty {
        Penalty::L1 { param, a }
    }
}

/// The state every network has, whatever its layers: parameters and their gradients, the
/// batch-norm buffers, the mode, the last loss and the input pipeline. Generated code reads
/// and writes it directly; users reach it through the [`Network`] methods.
#[derive(Clone, Debug)]
pub struct Core {
    /// Every trainable value, laid out as [`Network::PARAMS`] says.
    pub params: Vec<f32>,
    /// dLoss/dparams of the last `loss_and_grad`, same layout.
    pub grads: Vec<f32>,
    /// Batch-norm running statistics: the f32 entries of [`Network::BUFFERS`].
    pub buffers: Vec<f32>,
    /// Batch-norm `num_batches_tracked`: the i64 entries of [`Network::BUFFERS`].
    pub counters: Vec<i64>,
    /// Training (`true`) or eval mode.
    pub training: bool,
    /// The parts of the last `loss_and_grad`.
    pub last_loss: StepLoss,
    /// One mini-batch of inputs as the layers see them: copied from the caller's slice, then
    /// augmented and preprocessed (the caller's slice is never changed); room for `BATCH`
    /// samples, of which the first [`Core::rows`] are the current mini-batch's.
    pub input: Vec<f32>,
    /// The samples in the current mini-batch, 1 to `BATCH`: the batch passes of generated code
    /// run over the first `rows` rows of every buffer.
    pub rows: usize,
    /// The most samples in a mini-batch (the network's `BATCH`).
    batch: usize,
    /// The fitted `preprocess` statistics (identity until fitted or loaded); `None` without
    /// `preprocess`.
    pub preprocess: Option<Preprocessor>,
    /// Whether `preprocess` was fitted or loaded: training refuses to start before (nothing
    /// would standardize the inputs, silently).
    pub preprocess_fitted: bool,
    /// The spec's `augment { .. }`; `None` without one.
    pub augmenter: Option<Augmenter>,
    /// The last `train_step`'s targets after augmentation, `BATCH x OUTPUT` (empty without
    /// `augment`).
    pub soft_targets: Vec<f32>,
    /// `train_step` calls so far.
    pub steps: u64,
    /// Whether `train_step` checks the loss, gradients and running statistics for NaN and
    /// infinities before the optimizer step (on unless turned off).
    pub check_finite: bool,
    /// The running statistics and counters before the step, restored when it diverges.
    saved_buffers: (Vec<f32>, Vec<i64>),
}

impl Core {
    /// Allocates every buffer of `N` once and initializes the parameters as its layout says
    /// (the same `rng` state always gives the same parameters); batch-norm buffers start as
    /// PyTorch's (running mean 0, running variance 1, 0 batches); training mode.
    pub fn new<N: Network>(rng: &mut Rng) -> Core {
        let mut params = vec![0.0; N::PARAM_COUNT];
        init_params(&mut params, N::PARAMS, rng)
            .expect("the generated layout table matches the generated buffer");
        let counter_count = N::BUFFERS.iter().filter(|b| b.kind.is_i64()).map(|b| b.len).sum();
        let mut buffers = vec![0.0; N::BUFFER_COUNT];
        let mut counters = vec![0; counter_count];
        reset_buffers(&mut buffers, &mut counters, N::BUFFERS)
            .expect("the generated buffer table matches the generated buffers");
        let preprocess = N::PREPROCESS.map(|(kind, eps)| {
            Preprocessor::new(kind, eps, N::INPUT_SHAPE)
                .expect("the checked preprocessing fits the input")
        });
        let augment = !N::AUGMENT.is_empty();
        let augmenter = augment.then(|| {
            Augmenter::new(N::AUGMENT, N::INPUT_SHAPE, N::BATCH, N::OUTPUT)
                .expect("the checked augmentations fit the input")
        });
        Core {
            grads: vec![0.0; params.len()],
            params,
            buffers,
            counters,
            training: true,
            last_loss: StepLoss::default(),
            input: vec![0.0; N::BATCH * N::INPUT],
            rows: N::BATCH,
            batch: N::BATCH,
            preprocess,
            preprocess_fitted: false,
            augmenter,
            soft_targets: vec![0.0; if augment { N::BATCH * N::OUTPUT } else { 0 }],
            steps: 0,
            check_finite: true,
            saved_buffers: (vec![0.0; N::BUFFER_COUNT], vec![0; counter_count]),
        }
    }

    /// What the step that just ran made non-finite, if anything: the loss, then a gradient,
    /// then a running statistic.
    fn divergence<N: Network>(&self) -> Option<Divergence> {
        let loss = self.last_loss.total;
        if !loss.is_finite() {
            return Some(Divergence::Loss(loss));
        }
        if all_finite(&self.grads) && all_finite(&self.buffers) {
            return None;
        }
        let first = |values: &[f32], offset: usize, len: usize| {
            values[offset..offset + len]
                .iter()
                .position(|v| !v.is_finite())
                .map(|i| (i, values[offset + i]))
        };
        for p in N::PARAMS {
            if let Some((index, value)) = first(&self.grads, p.offset, p.len) {
                return Some(Divergence::Gradient { name: p.name, index, value });
            }
        }
        N::BUFFERS.iter().filter(|b| !b.kind.is_i64()).find_map(|b| {
            let (index, value) = first(&self.buffers, b.offset, b.len)?;
            Some(Divergence::RunningStatistic { name: b.name, index, value })
        })
    }

    /// Augments the raw mini-batch in [`Core::input`] and its class indices `labels`, as
    /// one-hot rows mixed into [`Core::soft_targets`] (mixup, cutmix).
    pub fn augment_labels(&mut self, labels: &[usize], rng: &mut Rng) {
        let classes = self.soft_targets.len() / self.batch;
        // one-hot rows, t[n][label] = 1
        self.soft_targets.fill(0.0);
        for (t, &label) in self.soft_targets.chunks_exact_mut(classes).zip(labels) {
            t[label] = 1.0;
        }
        self.augment_soft(rng);
    }

    /// Augments the raw mini-batch in [`Core::input`] and its target `values`, copied into
    /// [`Core::soft_targets`] and mixed there.
    pub fn augment_values(&mut self, values: &[f32], rng: &mut Rng) {
        self.soft_targets[..values.len()].copy_from_slice(values);
        self.augment_soft(rng);
    }

    fn augment_soft(&mut self, rng: &mut Rng) {
        let (inputs, targets) =
            (self.input_values(), self.rows * self.soft_targets.len() / self.batch);
        if let Some(augmenter) = &mut self.augmenter {
            augmenter
                .augment(&mut self.input[..inputs], &mut self.soft_targets[..targets], rng)
                .expect("the workspace holds one mini-batch");
        }
    }

    /// The values of the current mini-batch's rows in [`Core::input`].
    fn input_values(&self) -> usize {
        self.rows * (self.input.len() / self.batch)
    }

    /// Copies one mini-batch of 1 to `BATCH` samples into [`Core::input`] and preprocesses it.
    fn prepare(&mut self, inputs: &[f32]) {
        self.load_rows(inputs);
        self.preprocess_input();
    }

    /// Copies one mini-batch of 1 to `BATCH` samples into [`Core::input`] and sets
    /// [`Core::rows`].
    fn load_rows(&mut self, inputs: &[f32]) {
        self.rows = inputs.len() / (self.input.len() / self.batch);
        self.input[..inputs.len()].copy_from_slice(inputs);
    }

    /// Applies the fitted preprocessing to the mini-batch in [`Core::input`] (nothing without
    /// `preprocess`).
    fn preprocess_input(&mut self) {
        let rows = self.input_values();
        if let Some(pre) = &self.preprocess {
            pre.apply_rows(&mut self.input[..rows]);
        }
    }

    /// The parameters, buffers and preprocessing with their layout tables.
    fn state<N: Network>(&self) -> State<'_> {
        State {
            params_layout: N::PARAMS,
            params: &self.params,
            buffers_layout: N::BUFFERS,
            buffers: &self.buffers,
            counters: &self.counters,
            preprocess: self.preprocess.as_ref(),
        }
    }
}

/// Zeroes `grads` outside the `overwritten` ranges (`(offset, len)`, in order and disjoint),
/// which the backward pass writes before anything reads them: skipping them saves a pass over
/// the largest layers' gradients.
fn zero_accumulated(grads: &mut [f32], overwritten: &[(usize, usize)]) {
    let mut start = 0;
    for &(offset, len) in overwritten {
        zero(&mut grads[start..offset]);
        start = offset + len;
    }
    zero(&mut grads[start..]);
}

/// Whether every value is finite: the exponent bits of none are all ones. An integer OR over
/// each piece's values, which vectorizes (a float comparison chain would stop at the first);
/// large buffers are checked on several threads.
fn all_finite(values: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    let all = AtomicBool::new(true);
    let groups = for_values(values.len());
    in_pieces::<f32, f32, 1, 0>([values], [], VALUES_PER_PIECE, groups, &|_, [v], []| {
        if v.iter().fold(0, |bad, v| bad | u32::from(v.to_bits() & EXPONENT == EXPONENT)) != 0 {
            all.store(false, Ordering::Relaxed);
        }
    });
    all.into_inner()
}

/// The length of the flat buffer a parameter layout table describes (its end).
pub const fn param_count(params: &[ParamInfo]) -> usize {
    let (mut end, mut i) = (0, 0);
    while i < params.len() {
        let p = &params[i];
        if p.offset + p.len > end {
            end = p.offset + p.len;
        }
        i += 1;
    }
    end
}

/// The length of the f32 buffer a buffer layout table describes (the i64 counters aside).
pub const fn buffer_count(buffers: &[BufferInfo]) -> usize {
    let (mut end, mut i) = (0, 0);
    while i < buffers.len() {
        let b = &buffers[i];
        if !matches!(b.kind, crate::layout::BufferKind::NumBatchesTracked) && b.offset + b.len > end
        {
            end = b.offset + b.len;
        }
        i += 1;
    }
    end
}

/// A generated network. The required items are generated from the spec; the provided methods
/// are the whole API (training, prediction, modes, checkpoints, preprocessing), the same for
/// every network. Bring it into scope with `use netspec::prelude::*`.
///
/// # Modes
///
/// Like a PyTorch module, a network starts in training mode ([`Network::set_training`],
/// [`Network::is_training`]). [`Network::loss_and_grad`] and [`Network::forward`] follow the
/// mode; [`Network::predict`] and [`Network::predict_batch`] are always eval mode,
/// [`Network::train_step`] always training mode (the mode is left as it was). Training mode:
/// dropout, DropConnect and noise are applied, batch norm normalizes with the batch statistics
/// and updates its running statistics. Eval mode: dropout is the identity (`rescale test`:
/// times 1-p), DropConnect uses the mean network W, noise is off, batch norm uses its running
/// statistics (without them, `track_running_stats false`, each sample's own statistics).
///
/// No method allocates after [`Network::new`] but `fit_preprocess`, `save` and `load`.
pub trait Network: Sized + Sync {
    /// The spec's network name.
    const NAME: &'static str;
    /// Values in one input sample.
    const INPUT: usize;
    /// Values in one output sample (logits for the cross-entropy losses; the sum over heads
    /// for a network with heads).
    const OUTPUT: usize;
    /// Samples in the mini-batch that `loss_and_grad` and `train_step` take.
    const BATCH: usize;
    /// Forward FLOPs of one sample in eval mode (a multiply-add counts 2), as `netspec summary`
    /// prints them: [`Network::predict_batch`] uses threads past a size.
    const FLOPS: u64 = 0;
    /// The input's shape: `[D]` for vectors, `[C, H, W]` for images.
    const INPUT_SHAPE: &'static [usize];
    /// The layout of the flat parameter buffer: PyTorch `state_dict` name, shape (`[out, in]`
    /// for weights), offset, length, role and initial distribution.
    const PARAMS: &'static [ParamInfo];
    /// The layout of the non-trainable buffers (PyTorch names; `num_batches_tracked` offsets
    /// index [`Network::counters`]).
    const BUFFERS: &'static [BufferInfo];
    /// The L1 and L2 penalties on parameters, applied in this order.
    const PENALTIES: &'static [Penalty] = &[];
    /// The `(offset, len)` ranges of [`Network::grads`], in order and disjoint, that the
    /// backward pass overwrites (the packed dense layers' weight and bias gradients); the
    /// rest is zeroed before each backward pass, whose layers add to it.
    const OVERWRITTEN_GRADS: &'static [(usize, usize)] = &[];
    /// The spec's `preprocess` method and eps.
    const PREPROCESS: Option<(PreprocessKind, f64)> = None;
    /// The spec's `augment` block.
    const AUGMENT: &'static [Augmentation] = &[];
    /// The fewest samples of a training-mode mini-batch: 2 when a batch norm normalizes one
    /// value per channel and sample (nn.BatchNorm1d), whose batch variance over one sample is 0.
    const MIN_TRAINING_BATCH: usize = 1;
    /// Every layer in the order the forward pass computes them (a residual block's branch
    /// before its sum, heads after the trunk): name, kind and output shape.
    const LAYERS: &'static [LayerInfo] = &[];
    /// Trainable values: the length of [`Network::params`] and [`Network::grads`].
    const PARAM_COUNT: usize = param_count(Self::PARAMS);
    /// f32 buffer values (batch-norm running statistics): the length of [`Network::buffers`].
    const BUFFER_COUNT: usize = buffer_count(Self::BUFFERS);

    /// One input sample, `[f32; INPUT]`.
    type Input: Sample<Flat = f32>;
    /// One output sample: `[f32; OUTPUT]`, or a struct with one array per head.
    type Output: Sample;
    /// One mini-batch's targets: `&[usize]` class indices for softmax cross-entropy, `&[f32]`
    /// values for the other losses, or a struct with one slice per head.
    type Targets<'a>: Targets;

    /// Allocates the layer workspace around `core` (generated).
    fn with_core(core: Core) -> Self;
    /// The shape-independent state.
    fn core(&self) -> &Core;
    /// The shape-independent state, to write.
    fn core_mut(&mut self) -> &mut Core;
    /// Every layer forward over [`Core::input`] in the workspace (generated).
    fn forward_batch(&mut self, training: bool);
    /// Zeroes the activation gradients that backward passes add to (not those that an
    /// activation or batch norm overwrites), then writes the losses' gradients (with the `l1_activity`
    /// penalties') into the outputs' gradients; returns the data loss and the activity
    /// penalty. `augmented`: the targets are [`Core::soft_targets`] (generated).
    fn output_gradients(&mut self, targets: Self::Targets<'_>, augmented: bool) -> (f64, f64);
    /// Every layer backward, last to first: parameter gradients into [`Core::grads`], each
    /// input gradient added to its buffer's (generated).
    fn backward_batch(&mut self, training: bool);
    /// Copies the last training-mode forward pass's outputs (generated).
    fn batch_outputs(&self, outputs: &mut [Self::Output]);
    /// The eval-mode outputs of any number of samples, their activations on the stack (at most
    /// 128 KiB) or in a per-thread heap workspace, every sample's output the same whatever the
    /// number (generated).
    fn predict_rows(&self, inputs: &[Self::Input], outputs: &mut [Self::Output]);

    /// The output rows of layer `LAYERS[layer]` in the workspace, `n x width` values for the
    /// last mini-batch's `n` samples (`flatten` shares its input's); empty for an index past the
    /// table (generated).
    fn layer_output(&self, layer: usize) -> &[f32] {
        let _ = layer;
        &[]
    }

    /// dLoss/d(the output of `LAYERS[layer]`) in the workspace, like
    /// [`Network::layer_output`]; empty where nothing keeps it (a `flatten` of the input) or
    /// for an index past the table (generated).
    fn layer_grad(&self, layer: usize) -> &[f32] {
        let _ = layer;
        &[]
    }

    /// Draws new dropout masks, DropConnect masks (one per weight for the mini-batch) and
    /// noise from `rng`, layer after layer and value after value, for the next training-mode
    /// [`Network::loss_and_grad`]. [`Network::train_step`] and [`Network::forward`] call it.
    /// A network without stochastic layers draws nothing.
    fn resample(&mut self, rng: &mut Rng) {
        self.resample_rows(Self::BATCH, rng);
    }

    /// [`Network::resample`] for the first `rows` samples of the mini-batch: what
    /// [`Network::train_step`] and [`Network::forward`] draw for a mini-batch of `rows` samples,
    /// the same draws as a network of `batch rows` would make (generated).
    fn resample_rows(&mut self, rows: usize, rng: &mut Rng) {
        let _ = (rows, rng);
    }

    /// Mixes one mini-batch of [`Core::input`] and its targets into [`Core::soft_targets`] as
    /// the spec's `augment` says; nothing without `augment` (generated).
    fn augment(&mut self, targets: Self::Targets<'_>, rng: &mut Rng) {
        let _ = (targets, rng);
    }

    /// One stochastic forward pass of one sample: dropout, DropConnect and noise drawn from
    /// `rng` as while training (DropConnect with a mask of its own), batch norm with its
    /// running statistics. The mode is not used. A network without stochastic layers returns
    /// [`Network::predict`].
    fn predict_sample(&self, input: &Self::Input, rng: &mut Rng) -> Self::Output {
        let _ = rng;
        self.predict(input)
    }

    /// Test hook: the masks (dropout: 0 or the kept-unit scale per sample and unit;
    /// DropConnect: per weight) or noise that layer `layer` uses while training.
    #[doc(hidden)]
    fn noise(&self, layer: &str) -> Option<&[f32]> {
        let _ = layer;
        None
    }

    /// Allocates every buffer once and initializes the parameters as the spec says, in layout
    /// order (the same `rng` state always gives the same parameters); batch-norm buffers start
    /// as PyTorch's (running mean 0, running variance 1, 0 batches); the network is in
    /// training mode, its masks keep every unit and its noise is 0.
    fn new(rng: &mut Rng) -> Self {
        Self::with_core(Core::new::<Self>(rng))
    }

    /// The parameters, laid out as [`Network::PARAMS`] says.
    fn params(&self) -> &[f32] {
        &self.core().params
    }

    /// The parameters, to set them by hand.
    fn params_mut(&mut self) -> &mut [f32] {
        &mut self.core_mut().params
    }

    /// The gradients of the last [`Network::loss_and_grad`], laid out as the parameters.
    fn grads(&self) -> &[f32] {
        &self.core().grads
    }

    /// The batch-norm running means and variances, laid out as [`Network::BUFFERS`] says.
    fn buffers(&self) -> &[f32] {
        &self.core().buffers
    }

    /// The batch-norm running statistics, to set them by hand.
    fn buffers_mut(&mut self) -> &mut [f32] {
        &mut self.core_mut().buffers
    }

    /// Each batch-norm layer's `num_batches_tracked` (training-mode forward passes).
    fn counters(&self) -> &[i64] {
        &self.core().counters
    }

    /// Every layer's output in the last mini-batch forward pass ([`Network::loss_and_grad`],
    /// [`Network::train_step`], or [`Network::forward`] in training mode; not `predict`, whose
    /// activations live on the stack), in [`Network::LAYERS`] order: borrowed views of the
    /// workspace, `n x width` values each for its `n` samples. [`LayerView::stats`] summarizes
    /// one.
    fn activations(&self) -> impl Iterator<Item = LayerView<'_>> {
        Self::LAYERS.iter().enumerate().map(|(i, info)| LayerView::new(info, self.layer_output(i)))
    }

    /// Every layer's gradient dLoss/d(output) after the last backward pass
    /// ([`Network::loss_and_grad`], [`Network::train_step`]), in [`Network::LAYERS`] order,
    /// borrowed like [`Network::activations`]. A layer whose gradient nothing keeps (a
    /// `flatten` right after the input) has no values.
    fn activation_grads(&self) -> impl Iterator<Item = LayerView<'_>> {
        Self::LAYERS.iter().enumerate().map(|(i, info)| LayerView::new(info, self.layer_grad(i)))
    }

    /// The output of the layer named `name` in the last forward pass, as
    /// [`Network::activations`] lends it; `None` for a name that is not a layer.
    fn activation(&self, name: &str) -> Option<LayerView<'_>> {
        let i = Self::LAYERS.iter().position(|l| l.name == name)?;
        Some(LayerView::new(&Self::LAYERS[i], self.layer_output(i)))
    }

    /// Each parameter tensor's name and the L2 norm of its gradient in [`Network::grads`], in
    /// [`Network::PARAMS`] order. For the norm of an optimizer step's update, keep a copy of
    /// [`Network::params`] before it and call [`crate::probe::update_norms`].
    fn grad_norms(&self) -> impl Iterator<Item = (&'static str, f64)> {
        tensor_norms(Self::PARAMS, self.grads())
    }

    /// Sets training (`true`, PyTorch's `model.train()`) or eval mode (`model.eval()`).
    fn set_training(&mut self, training: bool) {
        self.core_mut().training = training;
    }

    /// Whether the network is in training mode (PyTorch's `model.training`).
    fn is_training(&self) -> bool {
        self.core().training
    }

    /// The last [`Network::loss_and_grad`] (or [`Network::train_step`]) loss in parts: the
    /// data loss, the penalty terms and their sum.
    fn last_loss(&self) -> StepLoss {
        self.core().last_loss
    }

    /// The output for one sample in eval mode; the activations live on the stack (at most
    /// 128 KiB), or for a wider network in a heap workspace kept per thread.
    fn predict(&self, input: &Self::Input) -> Self::Output {
        let mut out = [Self::Output::ZERO];
        self.predict_rows(std::slice::from_ref(input), &mut out);
        out[0]
    }

    /// The mean of `k` stochastic forward passes of one sample (MC dropout, Gal and
    /// Ghahramani 2016): each pass draws its own dropout masks, DropConnect masks (per weight,
    /// for this sample) and noise from `rng`; batch norm uses its running statistics. Outputs
    /// (logits for the cross-entropy losses) are averaged as they are; average probabilities
    /// with [`Network::predict_sample`] instead. `k = 0` counts as 1. [`Network::predict`] is
    /// the weight-scaling approximation of the same ensemble.
    fn predict_mc(&self, input: &Self::Input, k: usize, rng: &mut Rng) -> Self::Output {
        let mut mean = Self::Output::ZERO;
        for _ in 0..k.max(1) {
            let pass = self.predict_sample(input, rng);
            for (m, v) in mean.values_mut().zip(pass.values()) {
                *m += v;
            }
        }
        let scale = 1.0 / k.max(1) as f32;
        for m in mean.values_mut() {
            *m *= scale;
        }
        mean
    }

    /// [`Network::predict`] for any number of samples: `inputs` holds `n * INPUT` values and
    /// `outputs` receives `n` outputs (`n * OUTPUT` values for a single-output network).
    ///
    /// # Errors
    ///
    /// When `inputs` is not a whole number of samples or `outputs` has not room for exactly
    /// their outputs; `outputs` is not written then.
    fn predict_batch(
        &self,
        inputs: &[f32],
        outputs: &mut [<Self::Output as Sample>::Flat],
    ) -> Result<(), BatchError> {
        let width = <Self::Output as Sample>::FLAT_LEN;
        let n = check_samples(Self::NAME, inputs.len(), Self::INPUT, outputs.len(), width)?;
        let (x, y) = (Self::Input::samples(inputs), Self::Output::samples_mut(outputs));
        let macs = (n as u64).saturating_mul(Self::FLOPS / 2);
        let groups = for_work(macs);
        // Each sample's output is computed on its own, so any cut gives the same bits.
        let shard = n.div_ceil(groups).max(1);
        // The shards are the parallelism: each runs its layers on its own thread.
        let predict =
            |x: &[Self::Input], y: &mut [Self::Output]| with_threads(1, || self.predict_rows(x, y));
        in_row_shards((&x[..n], &mut y[..n]), shard, groups, &predict);
        Ok(())
    }

    /// The forward pass PyTorch's `model(inputs)` makes, in the current mode. Training mode:
    /// one mini-batch of 1 to `BATCH` samples (`n * INPUT` values), fresh masks and noise from
    /// `rng` (kept for a following [`Network::loss_and_grad`]), batch statistics, running statistics
    /// updated. Eval mode: [`Network::predict_batch`], any number of samples, `rng` unused.
    ///
    /// # Errors
    ///
    /// Wrong `inputs` or `outputs` lengths; nothing is computed or drawn then.
    fn forward(
        &mut self,
        inputs: &[f32],
        outputs: &mut [<Self::Output as Sample>::Flat],
        rng: &mut Rng,
    ) -> Result<(), BatchError> {
        if !self.is_training() {
            return self.predict_batch(inputs, outputs);
        }
        let name = Self::NAME;
        let range = (Self::MIN_TRAINING_BATCH, Self::BATCH);
        let rows = check_rows(name, "forward", inputs.len(), Self::INPUT, range)?;
        let width = <Self::Output as Sample>::FLAT_LEN;
        let per_sample = if width == Self::OUTPUT { Some(("OUTPUT", width)) } else { None };
        check_len(name, "forward", "outputs", outputs.len(), rows, per_sample)?;
        check_fitted(self, "forward")?;
        self.resample_rows(rows, rng);
        self.core_mut().prepare(inputs);
        self.forward_batch(true);
        self.batch_outputs(Self::Output::samples_mut(outputs));
        Ok(())
    }

    /// One mini-batch forward and backward in the current mode: overwrites the gradients (see
    /// [`Network::grads`]) and returns the mean data loss plus every `penalty` term (both also
    /// in [`Network::last_loss`]).
    ///
    /// `inputs` holds `n * INPUT` values, sample after sample, for `n` from 1 to `BATCH` (a
    /// partial last batch is one such; the mean loss and batch norm's statistics are over its
    /// `n` samples, as PyTorch's are; at least [`Network::MIN_TRAINING_BATCH`] in training
    /// mode); `targets` holds one class index per sample for softmax cross-entropy, `n *
    /// OUTPUT` values otherwise (one slice per head for a network with heads).
    ///
    /// In training mode the dropout, DropConnect and noise layers use the masks of the last
    /// [`Network::resample`] (or [`Network::train_step`], [`Network::forward`]), so repeated
    /// calls see the same network, as a gradient check needs, and batch norm updates its
    /// running statistics, as PyTorch's forward does in `train()` mode.
    ///
    /// # Errors
    ///
    /// A wrong `inputs` or `targets` length, or a class index out of range; nothing is
    /// computed then and the gradients are left as they were.
    fn loss_and_grad(
        &mut self,
        inputs: &[f32],
        targets: Self::Targets<'_>,
    ) -> Result<f32, BatchError> {
        let training = self.is_training();
        check_batch::<Self>("loss_and_grad", inputs, targets, training)?;
        check_fitted(self, "loss_and_grad")?;
        self.core_mut().prepare(inputs);
        Ok(loss_and_grad_prepared(self, targets, training, false))
    }

    /// [`Network::resample`], [`Network::loss_and_grad`] in training mode (whatever the mode;
    /// it is left as it was) on the inputs augmented as the spec says, then one optimizer step
    /// on the parameters; returns the loss before the step, data plus penalties
    /// ([`Network::last_loss`] has the parts).
    ///
    /// # Errors
    ///
    /// As [`Network::loss_and_grad`]; nothing is changed or drawn then. Unless
    /// [`Network::set_check_finite`] turned it off, [`BatchError::NonFinite`] when the loss, a
    /// gradient or a running statistic went NaN or infinite: the optimizer step is not taken
    /// and the running statistics are restored, so the network is as before the step (the
    /// gradients are the diverged ones, to inspect).
    fn train_step(
        &mut self,
        inputs: &[f32],
        targets: Self::Targets<'_>,
        optimizer: &mut impl Optimizer,
        rng: &mut Rng,
    ) -> Result<f32, BatchError> {
        let rows = check_batch::<Self>("train_step", inputs, targets, true)?;
        check_fitted(self, "train_step")?;
        self.resample_rows(rows, rng);
        // augment the raw inputs (and mix the targets), then preprocess
        let core = self.core_mut();
        core.steps += 1;
        core.load_rows(inputs);
        if core.check_finite {
            core.saved_buffers.0.copy_from_slice(&core.buffers);
            core.saved_buffers.1.copy_from_slice(&core.counters);
        }
        self.augment(targets, rng);
        let core = self.core_mut();
        core.preprocess_input();
        let augmented = core.augmenter.is_some();
        let loss = loss_and_grad_prepared(self, targets, true, augmented);
        let core = self.core_mut();
        if core.check_finite
            && let Some(what) = core.divergence::<Self>()
        {
            core.buffers.copy_from_slice(&core.saved_buffers.0);
            core.counters.copy_from_slice(&core.saved_buffers.1);
            let (network, step) = (Self::NAME, core.steps);
            return Err(BatchError::NonFinite { network, method: "train_step", step, what });
        }
        optimizer.step(&mut core.params, &core.grads);
        Ok(loss)
    }

    /// Turns `train_step`'s check for NaN and infinities off (`false`) or on (`true`, the
    /// default). The check scans the gradients and running statistics once per step.
    fn set_check_finite(&mut self, on: bool) {
        self.core_mut().check_finite = on;
    }

    /// Fits the spec's `preprocess` on training rows: `rows` holds `n * INPUT` values, sample
    /// after sample (the training split only, never the test split). `predict`,
    /// `predict_batch`, `forward`, `loss_and_grad` and `train_step` then apply it to their
    /// inputs; `save` and `load` keep it (`preprocess.*` tensors).
    ///
    /// # Errors
    ///
    /// When the spec has no `preprocess`, or `rows` is empty or not whole samples; nothing is
    /// changed then.
    fn fit_preprocess(&mut self, rows: &[f32]) -> Result<(), PreprocessError> {
        let Some((kind, eps)) = Self::PREPROCESS else {
            return Err(PreprocessError::NotInSpec { network: Self::NAME });
        };
        let core = self.core_mut();
        core.preprocess = Some(Preprocessor::fit(kind, eps, Self::INPUT_SHAPE, rows)?);
        core.preprocess_fitted = true;
        Ok(())
    }

    /// The preprocessing statistics in use (fitted, loaded, or the identity); `None` when the
    /// spec has no `preprocess`.
    fn preprocessor(&self) -> Option<&Preprocessor> {
        self.core().preprocess.as_ref()
    }

    /// The augmenter (its last mix and partners); `None` when the spec has no `augment`.
    fn augmenter(&self) -> Option<&Augmenter> {
        self.core().augmenter.as_ref()
    }

    /// The targets the last [`Network::train_step`] trained on, after augmentation:
    /// `n x OUTPUT` values for its `n` samples, one-hot rows for softmax cross-entropy, mixed by
    /// mixup and cutmix (each row sums to 1); empty when the spec has no `augment`.
    fn last_targets(&self) -> &[f32] {
        let core = self.core();
        &core.soft_targets[..core.rows * core.soft_targets.len() / Self::BATCH]
    }

    /// Writes the parameters, batch-norm buffers and fitted preprocessing to a safetensors
    /// file with PyTorch's names, shapes and dtypes (`num_batches_tracked` as i64), so
    /// `model.load_state_dict(safetensors.torch.load_file(path))` accepts it.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        save_state(path.as_ref(), self.core().state::<Self>())
    }

    /// Reads parameters and buffers saved by [`Network::save`] (or from PyTorch's
    /// `state_dict` with the same names and shapes).
    ///
    /// # Errors
    ///
    /// When the file is missing, corrupt, or holds other tensors, shapes or types than this
    /// network's; nothing is changed then.
    fn load(&mut self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let Core { params, buffers, counters, preprocess, .. } = self.core_mut();
        let state = StateMut {
            params_layout: Self::PARAMS,
            params,
            buffers_layout: Self::BUFFERS,
            buffers,
            counters,
            preprocess: preprocess.as_mut(),
        };
        load_state(path.as_ref(), state)?;
        // The checkpoint held the fitted statistics (loading requires every tensor).
        let core = self.core_mut();
        core.preprocess_fitted = core.preprocess.is_some();
        Ok(())
    }
}

/// A network's `Debug`: its name, parameter count and mode.
pub fn fmt_network<N: Network>(net: &N, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct(N::NAME)
        .field("param_count", &N::PARAM_COUNT)
        .field("training", &net.is_training())
        .finish_non_exhaustive()
}

/// A network trained on class indices, with array outputs: what a generic classification
/// loop needs, as in `fn train<N: Classifier>(net: &mut N, ..)`. Every generated network whose
/// loss is softmax cross-entropy (without heads) is one.
pub trait Classifier:
    for<'a> Network<Targets<'a> = &'a [usize], Output: Sample<Flat = f32>>
{
}

impl<N> Classifier for N where
    N: for<'a> Network<Targets<'a> = &'a [usize], Output: Sample<Flat = f32>>
{
}

/// Checks one mini-batch's lengths and labels before anything is computed: its number of
/// samples, 1 (2 for some batch norms in training mode) to `BATCH`.
fn check_batch<N: Network>(
    method: &'static str,
    inputs: &[f32],
    targets: N::Targets<'_>,
    training: bool,
) -> Result<usize, BatchError> {
    let min = if training { N::MIN_TRAINING_BATCH } else { 1 };
    let rows = check_rows(N::NAME, method, inputs.len(), N::INPUT, (min, N::BATCH))?;
    targets.check(N::NAME, method, "targets", rows, ("OUTPUT", N::OUTPUT))?;
    Ok(rows)
}

/// Training before `fit_preprocess` would train on raw inputs that prediction later sees
/// standardized (once fitted) or not: refused, naming the call that is missing.
fn check_fitted<N: Network>(net: &N, method: &'static str) -> Result<(), BatchError> {
    match N::PREPROCESS {
        Some((kind, _)) if !net.core().preprocess_fitted => {
            Err(BatchError::PreprocessNotFitted { network: N::NAME, method, kind })
        }
        _ => Ok(()),
    }
}

/// Forward, losses, backward and penalties on the prepared [`Core::input`].
fn loss_and_grad_prepared<N: Network>(
    net: &mut N,
    targets: N::Targets<'_>,
    training: bool,
    augmented: bool,
) -> f32 {
    zero_accumulated(&mut net.core_mut().grads, N::OVERWRITTEN_GRADS);
    net.forward_batch(training);
    let (data, activity) = net.output_gradients(targets, augmented);
    net.backward_batch(training);
    let core = net.core_mut();
    let mut penalty = activity;
    for term in N::PENALTIES {
        let (param, a, l1) = match *term {
            Penalty::L2 { param, a } => (param, a, false),
            Penalty::L1 { param, a } => (param, a, true),
        };
        let info = &N::PARAMS[param];
        let range = info.offset..info.offset + info.len;
        let (w, g) = (&core.params[range.clone()], &mut core.grads[range]);
        penalty += if l1 { l1_penalty(w, g, a) } else { l2_penalty(w, g, a) };
    }
    core.last_loss =
        StepLoss { data: data as f32, penalty: penalty as f32, total: (data + penalty) as f32 };
    core.last_loss.total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the gaps between the overwritten ranges are zeroed: before, between and after them,
    /// and all of it without ranges.
    #[test]
    fn zero_accumulated_zeroes_everything_but_the_overwritten_ranges() {
        let mut grads = vec![1.0f32; 12];
        zero_accumulated(&mut grads, &[(2, 3), (5, 2), (9, 1)]);
        let want = [0., 0., 1., 1., 1., 1., 1., 0., 0., 1., 0., 0.];
        assert_eq!(grads, want);
        let mut grads = vec![1.0f32; 4];
        zero_accumulated(&mut grads, &[(0, 4)]);
        assert_eq!(grads, [1.0; 4]);
        zero_accumulated(&mut grads, &[]);
        assert_eq!(grads, [0.0; 4]);
        // Gaps of several pieces, zeroed on the thread pool.
        let len = 3 * VALUES_PER_PIECE + 5;
        let kept = (VALUES_PER_PIECE + 3, 7);
        for threads in [1, 2, 3] {
            let mut grads = vec![1.0f32; len];
            with_threads(threads, || zero_accumulated(&mut grads, &[kept]));
            let (zeros, ones) =
                (grads.iter().filter(|&&g| g == 0.0).count(), &grads[kept.0..][..7]);
            assert_eq!((zeros, ones), (len - 7, &[1.0; 7][..]), "{threads} threads");
        }
    }

    /// A NaN or an infinity anywhere in a buffer of several pieces is found on any thread
    /// count, whichever piece holds it.
    #[test]
    fn all_finite_finds_a_bad_value_in_any_piece() {
        let len = 3 * VALUES_PER_PIECE + 5;
        let mut values: Vec<f32> = (0..len).map(|i| i as f32 * 1e-3 - 7.0).collect();
        for threads in [1, 2, 3] {
            with_threads(threads, || {
                assert!(all_finite(&values));
                for at in [0, VALUES_PER_PIECE + 1, len - 1] {
                    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                        let good = core::mem::replace(&mut values[at], bad);
                        assert!(!all_finite(&values), "{bad} at {at}, {threads} threads");
                        values[at] = good;
                    }
                }
            });
        }
    }
}
