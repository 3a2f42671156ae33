//! The checked network: every shape resolved, every parameter laid out, every option given its
//! value (defaults included). This is what the code generator and `netspec summary` consume.

use std::fmt;

use crate::diagnostic::Span;

/// The shape of one sample (the batch dimension is not part of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A feature vector of this length.
    Vector(usize),
    /// An image, channels first (PyTorch's NCHW without the N).
    Image {
        /// Channels.
        channels: usize,
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
    /// A sequence, channels first (PyTorch's NCL without the N): 1-D layers slide along it.
    Sequence {
        /// Channels.
        channels: usize,
        /// Positions.
        length: usize,
    },
}

impl Shape {
    /// The number of values in one sample.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Vector(n) => n,
            Shape::Image { channels, height, width } => channels * height * width,
            Shape::Sequence { channels, length } => channels * length,
        }
    }

    /// `(channels, height, width)` of an image, `(channels, 1, length)` of a sequence (the
    /// runtime runs 1-D layers as 2-D ones on a single row); `None` for a vector.
    pub fn grid(&self) -> Option<(usize, usize, usize)> {
        match *self {
            Shape::Vector(_) => None,
            Shape::Image { channels, height, width } => Some((channels, height, width)),
            Shape::Sequence { channels, length } => Some((channels, 1, length)),
        }
    }

    /// The shape of the same kind (image or sequence) with this grid; a sequence keeps
    /// height 1.
    pub fn with_grid(&self, channels: usize, height: usize, width: usize) -> Shape {
        match self {
            Shape::Sequence { .. } => Shape::Sequence { channels, length: width },
            _ => Shape::Image { channels, height, width },
        }
    }

    /// Whether the shape holds no values (never true for a checked network).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dimensions as a list: `[n]` or `[c, h, w]`.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Vector(n) => vec![n],
            Shape::Image { channels, height, width } => vec![channels, height, width],
            Shape::Sequence { channels, length } => vec![channels, length],
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Vector(n) => write!(f, "{n}"),
            Shape::Image { channels, height, width } => write!(f, "{channels}x{height}x{width}"),
            Shape::Sequence { channels, length } => write!(f, "{channels}x{length} sequence"),
        }
    }
}

/// A checked network.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// The network's name, a Rust type name in generated code.
    pub name: String,
    /// The shape of one input sample.
    pub input: Shape,
    /// The mini-batch size the training code is specialized for (32 unless given, as in Keras).
    pub batch: usize,
    /// Input preprocessing, fitted on the training data.
    pub preprocess: Option<Preprocess>,
    /// Training-time data augmentation, in the order written.
    pub augment: Vec<Augmentation>,
    /// The shared trunk, in order.
    pub layers: Vec<Layer>,
    /// Multi-task heads after the trunk; empty for a single-output network.
    pub heads: Vec<Head>,
    /// The loss of a single-output network (`None` exactly when there are heads).
    pub loss: Option<Loss>,
    /// Every trainable parameter tensor, in layout order, laid end to end in one flat buffer.
    pub params: Vec<Param>,
    /// Every non-trainable buffer (batch-norm running statistics).
    pub buffers: Vec<Buffer>,
    /// `penalty l1_activity` terms.
    pub activity_penalties: Vec<ActivityPenalty>,
    /// Where the network is written.
    pub span: Span,
    /// Where its name is written.
    pub name_span: Span,
    /// Where its `augment { }` block is written, if any.
    pub augment_span: Option<Span>,
}

impl Network {
    /// The number of trainable values (the length of the flat parameter buffer).
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|p| p.len).sum()
    }

    /// The number of floating-point buffer values (running means and variances).
    pub fn buffer_count(&self) -> usize {
        self.buffers.iter().filter(|b| b.kind != BufferKind::NumBatchesTracked).map(|b| b.len).sum()
    }

    /// The output shape of the trunk (the input shape if the trunk is empty).
    pub fn trunk_output(&self) -> Shape {
        self.layers.last().map_or(self.input, |layer| layer.output)
    }

    /// Forward FLOPs of one sample in eval mode, every layer of the trunk and the heads.
    pub fn flops(&self) -> u64 {
        self.all_layers().iter().map(|l| l.flops).sum()
    }

    /// The parameter with this PyTorch-style name, e.g. `dense1.weight`.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Every layer, trunk then heads, residual branches (then shortcuts) after their block,
    /// depth first.
    pub fn all_layers(&self) -> Vec<&Layer> {
        fn walk<'a>(layers: &'a [Layer], out: &mut Vec<&'a Layer>) {
            for layer in layers {
                out.push(layer);
                if let Op::Residual { branch, shortcut, .. } = &layer.op {
                    walk(branch, out);
                    walk(shortcut, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.layers, &mut out);
        for head in &self.heads {
            walk(&head.layers, &mut out);
        }
        out
    }
}

/// One layer with its resolved shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Kind + index within the network: `dense1`, `relu2`, `residual1`.
    pub name: String,
    /// What the layer computes, with every option resolved.
    pub op: Op,
    /// Shape of one input sample.
    pub input: Shape,
    /// Shape of one output sample.
    pub output: Shape,
    /// Indices into [`Network::params`] of this layer's own parameters (not its branch's).
    pub params: Vec<usize>,
    /// Indices into [`Network::buffers`] of this layer's own buffers.
    pub buffers: Vec<usize>,
    /// Forward FLOPs for one sample in eval mode (a multiply-add counts 2); a residual block
    /// counts only its skip connection's sum, its branch's layers count their own.
    pub flops: u64,
    /// Where the layer is written.
    pub span: Span,
}

/// Layer operations with resolved options.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `dense`: y = x W^T + b, weight `[units, in]` (nn.Linear).
    Dense {
        /// Output features.
        units: usize,
        /// Whether the layer has a bias (`bias none` removes it).
        bias: bool,
        /// DropConnect probability of dropping a weight while training.
        dropconnect: Option<f64>,
    },
    /// `conv`: cross-correlation, weight `[filters, in / groups, kh, kw]` on an image
    /// (nn.Conv2d), `[filters, in / groups, k]` on a sequence (nn.Conv1d). Every pair is
    /// `[height, width]`; on a sequence the height entries are 1, 1, 0 and 1.
    Conv {
        /// Output channels.
        filters: usize,
        /// Kernel size.
        kernel: [usize; 2],
        /// Stride (1 unless given).
        stride: [usize; 2],
        /// Zero padding on each side (0 unless given).
        pad: [usize; 2],
        /// Spacing between kernel taps (1 unless given).
        dilation: [usize; 2],
        /// Channel groups (1 unless given; the input channels for a depthwise conv).
        groups: usize,
        /// Whether the layer has a bias.
        bias: bool,
    },
    /// `batchnorm`: nn.BatchNorm1d on vectors and sequences, nn.BatchNorm2d (per channel) on
    /// images.
    BatchNorm {
        /// Added to the variance (1e-5 unless given).
        eps: f64,
        /// Running-statistics update weight (0.1 unless given), as in PyTorch.
        momentum: f64,
        /// Whether the layer has gamma and beta (`affine false` removes them: y = x_hat).
        affine: bool,
        /// Whether it keeps running statistics for eval (`track_running_stats false`: no
        /// buffers, and eval normalizes each sample by its own statistics).
        track_running_stats: bool,
    },
    /// `layernorm`: nn.LayerNorm over the features of a vector, y = (x - mean) /
    /// sqrt(var + eps) * gamma + beta with the biased variance of each sample's features;
    /// parameters `.weight` (gamma) and `.bias` (beta) of shape `[features]`, no buffers.
    LayerNorm {
        /// Added to the variance (1e-5 unless given).
        eps: f64,
    },
    /// An elementwise activation.
    Activation(Activation),
    /// Dropout: drop each unit with probability `p` while training.
    Dropout {
        /// Probability of dropping a unit.
        p: f64,
        /// When the kept units are rescaled to keep the expected activation.
        rescale: Rescale,
    },
    /// Additive Gaussian noise while training, identity in eval.
    GaussianNoise {
        /// Standard deviation.
        sigma: f64,
    },
    /// `maxpool`.
    MaxPool(Pool),
    /// `avgpool`.
    AvgPool(Pool),
    /// `global_avgpool`: the mean of each channel, image C x H x W (or sequence C x L) ->
    /// vector C.
    GlobalAvgPool,
    /// `global_maxpool`: the maximum of each channel, image C x H x W (or sequence C x L) ->
    /// vector C (nn.AdaptiveMaxPool2d(1) then flatten).
    GlobalMaxPool,
    /// `fractional_maxpool` (Graham 2014) with 2x2 pooling regions, output = floor(input / alpha).
    FractionalMaxPool {
        /// The reduction ratio, 1 < alpha < 2.
        alpha: f64,
    },
    /// `flatten`: image C x H x W -> vector C*H*W in C, H, W order (sequence C x L ->
    /// vector C*L).
    Flatten,
    /// `residual`: y = x + F(x), where F (the branch) keeps the shape; with `shortcut`,
    /// y = S(x) + F(x), S a 1x1 conv without bias (stride as the shapes need) then batch norm
    /// (torchvision's BasicBlock `downsample`).
    Residual {
        /// Probability of dropping the whole branch for a sample while training (0 = never).
        stochastic_depth: f64,
        /// The branch F.
        branch: Vec<Layer>,
        /// The projection S on the skip path, `{residual}.shortcut.0` (conv) and
        /// `{residual}.shortcut.1` (batch norm); empty for the identity.
        shortcut: Vec<Layer>,
    },
}

/// When dropout rescales, so that a unit's expected value is the same in training and eval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rescale {
    /// Inverted dropout (the default, as nn.Dropout): kept units are scaled by 1/(1-p) while
    /// training; eval is the identity.
    Train,
    /// The original paper's rule (Srivastava et al. 2014): units are kept unscaled while
    /// training and scaled by (1-p) in eval, the weight-scaling approximation of the ensemble.
    Test,
}

/// Pooling window, per axis `[height, width]` (on a sequence the height entries are 1, 1
/// and 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Window size.
    pub kernel: [usize; 2],
    /// Stride (the kernel unless given, as in PyTorch).
    pub stride: [usize; 2],
    /// Padding on each side (0 unless given).
    pub pad: [usize; 2],
    /// Whether the average counts the padding as zeros (`count_include_pad`, true unless
    /// `count_pad false`); max pooling keeps true.
    pub count_pad: bool,
}

/// Elementwise activations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// max(0, x)
    Relu,
    /// x if x > 0 else slope * x (slope 0.01 unless given, as nn.LeakyReLU).
    LeakyRelu {
        /// The negative slope.
        slope: f64,
    },
    /// tanh(x)
    Tanh,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// x
    Identity,
    /// x * Phi(x) = x/2 * (1 + erf(x / sqrt(2))), the exact form (nn.GELU, Hendrycks and
    /// Gimpel 2016).
    Gelu,
    /// x * sigmoid(x) (nn.SiLU, also called swish).
    Silu,
}

/// A multi-task head after the trunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// The head's name.
    pub name: String,
    /// Its layers, fed the trunk's output.
    pub layers: Vec<Layer>,
    /// Its loss and weight in the total.
    pub loss: Loss,
    /// The shape of its output.
    pub output: Shape,
    /// Where the head is written.
    pub span: Span,
}

/// A loss with its weight in the total loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Loss {
    /// Which loss.
    pub kind: LossKind,
    /// Its weight in the total (1 unless given).
    pub weight: f64,
    /// `label_smoothing E` of softmax cross-entropy, in [0, 1) (0 unless given).
    pub label_smoothing: f64,
    /// `class_weights(W0, ...)` of softmax cross-entropy, one per class: the weighted mean
    /// `sum_i w[y_i] l_i / sum_i w[y_i]` of nn.CrossEntropyLoss(weight=...).
    pub class_weights: Option<Vec<f64>>,
    /// `delta D` of the Huber loss, > 0 (1 unless given, as nn.HuberLoss).
    pub delta: f64,
    /// `pos_weight W` of binary cross-entropy: the weight of the positive term
    /// (nn.BCEWithLogitsLoss(pos_weight=W)).
    pub pos_weight: Option<f64>,
    /// Where it is written.
    pub span: Span,
}

/// Losses, averaged over the mini-batch as PyTorch's `reduction='mean'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// Softmax over the outputs, then cross-entropy (nn.CrossEntropyLoss on logits).
    SoftmaxCrossEntropy,
    /// Mean squared error (nn.MSELoss).
    Mse,
    /// Sigmoid, then binary cross-entropy (nn.BCEWithLogitsLoss on logits).
    BinaryCrossEntropy,
    /// The Huber loss, quadratic within `delta` of the target and linear beyond (nn.HuberLoss).
    Huber,
    /// Mean absolute error (nn.L1Loss).
    L1,
}

impl LossKind {
    /// The word that names the loss in a spec.
    pub fn keyword(self) -> &'static str {
        match self {
            LossKind::SoftmaxCrossEntropy => "softmax_cross_entropy",
            LossKind::Mse => "mse",
            LossKind::BinaryCrossEntropy => "binary_cross_entropy",
            LossKind::Huber => "huber",
            LossKind::L1 => "l1",
        }
    }
}

/// What a parameter is to the layer that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A dense or conv weight (penalized by a bare `penalty l2`/`l1`).
    Weight,
    /// A dense or conv bias.
    Bias,
    /// Batch-norm or layer-norm gamma (PyTorch's `.weight`).
    NormWeight,
    /// Batch-norm or layer-norm beta (PyTorch's `.bias`).
    NormBias,
}

/// Fan-in and fan-out as torch.nn.init computes them for the layer's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fans {
    /// in_features, or in_channels * kernel * kernel.
    pub fan_in: usize,
    /// out_features, or out_channels * kernel * kernel.
    pub fan_out: usize,
}

/// A resolved initial distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All equal to the value.
    Constant(f64),
    /// Uniform on [lo, hi).
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// Normal with this mean and standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// A (semi-)orthogonal matrix times gain (torch.nn.init.orthogonal_).
    Orthogonal {
        /// Scale.
        gain: f64,
    },
    /// Normal with this mean and standard deviation, conditioned on [a, b]
    /// (torch.nn.init.trunc_normal_).
    TruncNormal {
        /// Mean of the normal before truncation.
        mean: f64,
        /// Its standard deviation.
        std: f64,
        /// Lower bound.
        a: f64,
        /// Upper bound.
        b: f64,
    },
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Zeros => write!(f, "zeros"),
            Init::Constant(c) => write!(f, "constant {c}"),
            Init::Uniform { lo, hi } => write!(f, "uniform({lo:.6}, {hi:.6})"),
            Init::Normal { mean, std } => write!(f, "normal({mean}, {std:.6})"),
            Init::Orthogonal { gain } => write!(f, "orthogonal(gain {gain})"),
            Init::TruncNormal { mean, std, a, b } => {
                write!(f, "trunc_normal({mean}, {std:.6}, {a}, {b})")
            }
        }
    }
}

/// One trainable parameter tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// PyTorch state_dict name: `dense1.weight`, `conv2.bias`, `batchnorm1.weight`,
    /// `layernorm1.bias`.
    pub name: String,
    /// The owning layer's name.
    pub layer: String,
    /// Shape in PyTorch's layout: `[out, in]`, `[out, in, kh, kw]`, `[features]`.
    pub shape: Vec<usize>,
    /// First index in the flat parameter buffer.
    pub offset: usize,
    /// Number of values.
    pub len: usize,
    /// What it is to its layer.
    pub role: Role,
    /// The layer's fans (`None` for batch-norm and layer-norm parameters).
    pub fans: Option<Fans>,
    /// The scheme as written, or `default` for PyTorch's own initialization.
    pub init_scheme: String,
    /// The resolved distribution.
    pub init: Init,
    /// Coefficient `a` of `penalty l1`: adds a * sum(|w|).
    pub l1: Option<f64>,
    /// Coefficient `a` of `penalty l2`: adds (a/2) * sum(w^2).
    pub l2: Option<f64>,
}

/// Non-trainable buffers, named as PyTorch's BatchNorm names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferKind {
    /// `running_mean`, starts at 0.
    RunningMean,
    /// `running_var` (unbiased), starts at 1.
    RunningVar,
    /// `num_batches_tracked`, an i64 scalar in PyTorch, starts at 0.
    NumBatchesTracked,
}

/// One non-trainable buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    /// `batchnorm1.running_mean` etc.
    pub name: String,
    /// The owning layer's name.
    pub layer: String,
    /// Shape: `[features]`, or `[]` for `num_batches_tracked`.
    pub shape: Vec<usize>,
    /// First index in the flat f32 buffer; for `num_batches_tracked`, the index among the
    /// network's i64 counters.
    pub offset: usize,
    /// Number of values.
    pub len: usize,
    /// Which statistic.
    pub kind: BufferKind,
}

/// Input preprocessing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    /// The method.
    pub kind: PreprocessKind,
    /// Added to variances (standardize) or eigenvalues (whiten); 1e-5 unless given.
    pub eps: f64,
    /// Where the `preprocess` statement is written.
    pub span: Span,
}

/// Preprocessing methods, fitted on the training split and applied by `predict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreprocessKind {
    /// Subtract the mean sample (AlexNet's mean image).
    MeanSubtractPerPixel,
    /// Subtract each channel's mean (VGG).
    MeanSubtractPerChannel,
    /// Per-channel mean and standard deviation (ResNet).
    StandardizePerChannel,
    /// Per-feature mean and standard deviation.
    StandardizePerFeature,
    /// PCA whitening.
    WhitenPca,
}

/// Training-time augmentations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Augmentation {
    /// Random shift by up to this many pixels in each direction (zero fill).
    Translate {
        /// Maximum shift.
        pixels: usize,
    },
    /// Mirror left-right with probability 1/2.
    FlipHorizontal,
    /// Mirror top-bottom with probability 1/2.
    FlipVertical,
    /// Random rotation by an angle uniform in [-degrees, degrees].
    Rotate {
        /// Maximum angle.
        degrees: f64,
    },
    /// Additive Gaussian noise on the input.
    GaussianNoise {
        /// Standard deviation.
        sigma: f64,
    },
    /// Zero a random square of this side (DeVries and Taylor 2017).
    Cutout {
        /// Side of the square.
        size: usize,
    },
    /// Mix pairs of samples and their labels with weight ~ Beta(alpha, alpha).
    Mixup {
        /// Beta parameter.
        alpha: f64,
    },
    /// Paste a box from another sample; labels mixed by area (Yun et al. 2019).
    Cutmix {
        /// Beta parameter.
        alpha: f64,
    },
}

/// `penalty l1_activity a on LAYER`: adds a * sum(|activation|) of the layer's output,
/// averaged over the mini-batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityPenalty {
    /// The layer whose output is penalized.
    pub layer: String,
    /// The coefficient.
    pub coefficient: f64,
    /// Where the `penalty` statement is written.
    pub span: Span,
}
