//! Pass 2: each layer's options validated and resolved, names assigned (kind + index), shapes
//! inferred, parameters and buffers laid out in one flat buffer.

use super::*;
use crate::ast::InitKind;

/// Names, shapes and the flat parameter layout, built as layers are lowered in source order.
#[derive(Default)]
pub(super) struct Lowering {
    pub(super) counters: HashMap<String, usize>,
    pub(super) params: Vec<Param>,
    pub(super) buffers: Vec<Buffer>,
    pub(super) param_offset: usize,
    pub(super) buffer_offset: usize,
    pub(super) counter_offset: usize,
    /// Layers that could not be lowered (their errors are reported already).
    pub(super) failed: Vec<String>,
}

/// What a layer statement resolves to before its parameters are laid out.
pub(super) struct LayerPlan {
    pub(super) op: Op,
    pub(super) output: Shape,
    pub(super) flops: u64,
    /// (suffix, shape, role, init as written, resolved init)
    pub(super) params: Vec<(&'static str, Vec<usize>, Role, String, Init)>,
    pub(super) fans: Option<Fans>,
    pub(super) norm_features: Option<usize>,
}

impl Lowering {
    pub(super) fn layers(
        &mut self,
        checker: &mut Checker,
        statements: &[&Statement],
        input: Option<Shape>,
    ) -> (Vec<Layer>, Option<Shape>) {
        let mut layers = Vec::new();
        let mut shape = input;
        for statement in statements {
            let name = self.next_name(&statement.keyword.text);
            match self.layer(checker, statement, name.clone(), shape) {
                Some(layer) => {
                    shape = Some(layer.output);
                    layers.push(layer);
                }
                None => {
                    self.failed.push(name);
                    shape = None;
                }
            }
        }
        (layers, shape)
    }

    pub(super) fn next_name(&mut self, kind: &str) -> String {
        let counter = self.counters.entry(kind.to_string()).or_insert(0);
        *counter += 1;
        format!("{kind}{counter}")
    }

    /// Lowers one layer; `None` when it is invalid or its input shape is unknown.
    pub(super) fn layer(
        &mut self,
        checker: &mut Checker,
        statement: &Statement,
        name: String,
        input: Option<Shape>,
    ) -> Option<Layer> {
        if let StatementKind::Residual(body) = &statement.kind {
            return self.residual(checker, statement, name, body, input);
        }
        let plan = plan_layer(checker, statement, input);
        let input = input?;
        let plan = plan?;
        if !checker.fits(plan.output, statement.span) {
            return None;
        }
        let mut param_indices = Vec::new();
        for (suffix, shape, role, scheme, init) in plan.params {
            let len: usize = shape.iter().product();
            param_indices.push(self.params.len());
            let fans = if matches!(role, Role::Weight | Role::Bias) { plan.fans } else { None };
            self.params.push(Param {
                name: format!("{name}.{suffix}"),
                layer: name.clone(),
                shape,
                offset: self.param_offset,
                len,
                role,
                fans,
                init_scheme: scheme,
                init,
                l1: None,
                l2: None,
            });
            self.param_offset = self.param_offset.saturating_add(len);
        }
        let mut buffer_indices = Vec::new();
        if let Some(features) = plan.norm_features {
            for (suffix, kind) in [
                ("running_mean", BufferKind::RunningMean),
                ("running_var", BufferKind::RunningVar),
                ("num_batches_tracked", BufferKind::NumBatchesTracked),
            ] {
                let (shape, len, offset) = if kind == BufferKind::NumBatchesTracked {
                    self.counter_offset += 1;
                    (vec![], 1, self.counter_offset - 1)
                } else {
                    self.buffer_offset += features;
                    (vec![features], features, self.buffer_offset - features)
                };
                buffer_indices.push(self.buffers.len());
                self.buffers.push(Buffer {
                    name: format!("{name}.{suffix}"),
                    layer: name.clone(),
                    shape,
                    offset,
                    len,
                    kind,
                });
            }
        }
        Some(Layer {
            name,
            op: plan.op,
            input,
            output: plan.output,
            params: param_indices,
            buffers: buffer_indices,
            flops: plan.flops,
            span: statement.span,
        })
    }

    pub(super) fn residual(
        &mut self,
        checker: &mut Checker,
        statement: &Statement,
        name: String,
        body: &[Statement],
        input: Option<Shape>,
    ) -> Option<Layer> {
        let options = checker.options(statement, &["stochastic_depth"]);
        let stochastic_depth = match options.get("stochastic_depth") {
            Some(ast::OptionAst { kind: OptionKind::StochasticDepth(n), .. }) => {
                checker.probability(n, "the stochastic-depth probability")
            }
            _ => Some(0.0),
        };
        let mut layers = Vec::new();
        for inner in body {
            if is_layer(&inner.kind) {
                layers.push(inner);
            } else {
                checker.misplaced(inner, Place::Residual);
            }
        }
        if body.is_empty() {
            checker.error(
                Diagnostic::error(statement.keyword.span, "empty residual branch")
                    .with_label("y = x + F(x) needs layers in F")
                    .with_help("put the branch's layers inside the braces, e.g. `residual { conv 16 kernel 3 pad 1; relu; }`"),
            );
        }
        let (branch, output) = self.layers(checker, &layers, input);
        let (input, output) = (input?, output?);
        if output != input {
            checker.error(
                Diagnostic::error(
                    statement.keyword.span,
                    format!("the residual branch changes the shape from {input} to {output}"),
                )
                .with_label("y = x + F(x) needs F(x) shaped like x")
                .with_help(format!("make the branch end with the shape it starts with, {input}")),
            );
            return None;
        }
        // The branch's layers count their own FLOPs; the block adds the skip connection's sum.
        let flops = input.len() as u64;
        Some(Layer {
            name,
            op: Op::Residual { stochastic_depth: stochastic_depth?, branch },
            input,
            output,
            params: Vec::new(),
            buffers: Vec::new(),
            flops,
            span: statement.span,
        })
    }
}

/// Validates a (non-residual) layer's options and infers its output shape and parameters.
pub(super) fn plan_layer(
    checker: &mut Checker,
    statement: &Statement,
    input: Option<Shape>,
) -> Option<LayerPlan> {
    let allowed: &[&str] = match &statement.kind {
        StatementKind::Dense(_) => &["init", "bias", "dropconnect"],
        StatementKind::Conv(_) => &["kernel", "stride", "pad", "init", "bias"],
        StatementKind::BatchNorm => &["eps", "momentum"],
        StatementKind::MaxPool(_) | StatementKind::AvgPool(_) => &["stride", "pad"],
        StatementKind::Dropout(_) => &["rescale"],
        _ => &[],
    };
    let options = checker.options(statement, allowed);
    let number = |name: &str| -> Option<&Number> {
        options.get(name).and_then(|o| match &o.kind {
            OptionKind::DropConnect(n)
            | OptionKind::Kernel(n)
            | OptionKind::Stride(n)
            | OptionKind::Pad(n)
            | OptionKind::Eps(n)
            | OptionKind::Momentum(n) => Some(n),
            _ => None,
        })
    };
    let elementwise = |op: Op, per_element: u64| {
        input.map(|shape| LayerPlan {
            op,
            output: shape,
            flops: per_element * shape.len() as u64,
            params: vec![],
            fans: None,
            norm_features: None,
        })
    };
    match &statement.kind {
        StatementKind::Dense(units) => {
            let units = checker.count(units, "the number of units", 1);
            let dropconnect = number("dropconnect")
                .map(|n| checker.probability(n, "the DropConnect probability"));
            let inits_valid = inits_are_valid(checker, &options);
            let in_features = match input? {
                Shape::Vector(n) => n,
                image @ Shape::Image { .. } => {
                    checker.error(
                        Diagnostic::error(statement.keyword.span, format!("`dense` needs a vector input, but its input is the image {image}"))
                            .with_label("image input")
                            .with_help("dense after conv needs `flatten`: add `flatten;` before this layer (or `global_avgpool;`)"),
                    );
                    return None;
                }
            };
            let units = units?;
            // No `dropconnect` is Some(None); an invalid one (already reported) is None.
            let dropconnect = dropconnect.map_or(Some(None), |p| p.map(Some))?;
            if !inits_valid {
                return None;
            }
            let fans = Fans { fan_in: in_features, fan_out: units };
            let (params, bias) =
                weight_and_bias(checker, statement, &options, vec![units, in_features], fans)?;
            let flops =
                2 * (in_features as u64) * (units as u64) + if bias { units as u64 } else { 0 };
            Some(LayerPlan {
                op: Op::Dense { units, bias, dropconnect },
                output: Shape::Vector(units),
                flops,
                params,
                fans: Some(fans),
                norm_features: None,
            })
        }
        StatementKind::Conv(filters) => {
            let filters = checker.count(filters, "the number of filters", 1);
            let inits_valid = inits_are_valid(checker, &options);
            let kernel = match number("kernel") {
                Some(n) => checker.count(n, "the kernel size", 1),
                // A misspelled `kernel` is reported as such; one error is enough.
                None if misspelled(statement, "kernel") => None,
                None => {
                    checker.error(
                        Diagnostic::error(statement.keyword.span, "`conv` needs a kernel size")
                            .with_label("no `kernel`")
                            .with_help("add e.g. `kernel 3` (and `pad 1` to keep the size)"),
                    );
                    None
                }
            };
            let stride = number("stride").map_or(Some(1), |n| checker.count(n, "the stride", 1));
            let pad = number("pad").map_or(Some(0), |n| checker.count(n, "the padding", 0));
            let (channels, height, width) = image_input(checker, statement, input?)?;
            let (filters, kernel, stride, pad) = (filters?, kernel?, stride?, pad?);
            let (out_h, out_w) =
                window_output(checker, statement, (height, width), kernel, stride, pad)?;
            if !inits_valid {
                return None;
            }
            let fans =
                Fans { fan_in: channels * kernel * kernel, fan_out: filters * kernel * kernel };
            let (params, bias) = weight_and_bias(
                checker,
                statement,
                &options,
                vec![filters, channels, kernel, kernel],
                fans,
            )?;
            let positions = (filters * out_h * out_w) as u64;
            let flops = 2 * positions * fans.fan_in as u64 + if bias { positions } else { 0 };
            let output = Shape::Image { channels: filters, height: out_h, width: out_w };
            Some(LayerPlan {
                op: Op::Conv { filters, kernel, stride, pad, bias },
                output,
                flops,
                params,
                fans: Some(fans),
                norm_features: None,
            })
        }
        StatementKind::BatchNorm => {
            let eps = number("eps").map_or(Some(1e-5), |n| {
                checker.positive(
                    n,
                    "batch norm's eps",
                    "eps keeps 1/sqrt(var + eps) finite; PyTorch's default is 1e-5",
                )
            });
            let momentum = number("momentum").map_or(Some(0.1), |n| {
                checker.bounded(n, "batch norm's momentum", "in (0, 1]", "running = (1 - momentum) * running + momentum * batch; PyTorch's default is 0.1", |m| {
                    m > 0.0 && m <= 1.0
                })
            });
            let input = input?;
            let features = match input {
                Shape::Vector(n) => n,
                Shape::Image { channels, .. } => channels,
            };
            let params = vec![
                (
                    "weight",
                    vec![features],
                    Role::NormWeight,
                    "ones".to_string(),
                    Init::Constant(1.0),
                ),
                ("bias", vec![features], Role::NormBias, "zeros".to_string(), Init::Zeros),
            ];
            Some(LayerPlan {
                op: Op::BatchNorm { eps: eps?, momentum: momentum? },
                output: input,
                flops: 2 * input.len() as u64,
                params,
                fans: None,
                norm_features: Some(features),
            })
        }
        StatementKind::Relu => elementwise(Op::Activation(Activation::Relu), 1),
        StatementKind::LeakyRelu(slope) => {
            let slope = match slope {
                Some(n) => checker.representable(n, "the negative slope")?,
                None => 0.01,
            };
            elementwise(Op::Activation(Activation::LeakyRelu { slope }), 1)
        }
        StatementKind::Tanh => elementwise(Op::Activation(Activation::Tanh), 1),
        StatementKind::Sigmoid => elementwise(Op::Activation(Activation::Sigmoid), 1),
        StatementKind::Identity => elementwise(Op::Activation(Activation::Identity), 0),
        StatementKind::Dropout(p) => {
            let p = checker.probability(p, "the dropout probability");
            let rescale = match options.get("rescale").map(|o| &o.kind) {
                Some(OptionKind::Rescale(when)) => match when.text.as_str() {
                    "train" => Some(Rescale::Train),
                    "test" => Some(Rescale::Test),
                    other => {
                        checker.error(
                            Diagnostic::error(when.span, format!("unknown rescale rule `{other}`"))
                                .with_label("expected `train` or `test`")
                                .with_help(
                                    "`rescale train` scales kept units by 1/(1-p) while training \
                                     (inverted dropout, the default); `rescale test` scales by \
                                     (1-p) in eval, as the original paper",
                                ),
                        );
                        None
                    }
                },
                _ => Some(Rescale::Train),
            };
            elementwise(Op::Dropout { p: p?, rescale: rescale? }, 0)
        }
        StatementKind::GaussianNoise(sigma) => {
            let sigma = checker.non_negative(
                sigma,
                "the noise level",
                "sigma is a standard deviation; 0 adds no noise",
            )?;
            elementwise(Op::GaussianNoise { sigma }, 0)
        }
        StatementKind::MaxPool(k) | StatementKind::AvgPool(k) => {
            let kernel = checker.count(k, "the pooling window", 1);
            let stride = number("stride").map(|n| checker.count(n, "the stride", 1));
            let pad = number("pad").map_or(Some(0), |n| checker.count(n, "the padding", 0));
            let (channels, height, width) = image_input(checker, statement, input?)?;
            let kernel = kernel?;
            let stride = stride.unwrap_or(Some(kernel))?;
            let pad = pad?;
            if 2 * pad > kernel {
                checker.error(
                    Diagnostic::error(
                        statement.span,
                        format!("padding {pad} is more than half the pooling window {kernel}"),
                    )
                    .with_label("too much padding")
                    .with_help(format!("use `pad {}` at most, as PyTorch requires", kernel / 2)),
                );
                return None;
            }
            let (out_h, out_w) =
                window_output(checker, statement, (height, width), kernel, stride, pad)?;
            let pool = Pool { kernel, stride, pad };
            let op = if matches!(statement.kind, StatementKind::MaxPool(_)) {
                Op::MaxPool(pool)
            } else {
                Op::AvgPool(pool)
            };
            let output = Shape::Image { channels, height: out_h, width: out_w };
            Some(LayerPlan {
                op,
                output,
                flops: (output.len() * kernel * kernel) as u64,
                params: vec![],
                fans: None,
                norm_features: None,
            })
        }
        StatementKind::GlobalAvgPool => {
            let (channels, height, width) = image_input(checker, statement, input?)?;
            let flops = (channels * height * width) as u64;
            Some(LayerPlan {
                op: Op::GlobalAvgPool,
                output: Shape::Vector(channels),
                flops,
                params: vec![],
                fans: None,
                norm_features: None,
            })
        }
        StatementKind::FractionalMaxPool(alpha) => {
            let alpha = checker.bounded(
                alpha,
                "the fractional pooling ratio",
                "in (1, 2)",
                "Graham (2014) shrinks each side by a factor alpha between 1 and 2, e.g. 1.41",
                |a| a > 1.0 && a < 2.0,
            );
            let (channels, height, width) = image_input(checker, statement, input?)?;
            let alpha = alpha?;
            // torch.nn.FractionalMaxPool2d(kernel_size=2, output_ratio=1/alpha): int(size * ratio).
            let out = |side: usize| (side as f64 * (1.0 / alpha)) as usize;
            let (out_h, out_w) = (out(height), out(width));
            if out_h < 1 || out_w < 1 || out_h + 1 > height || out_w + 1 > width {
                checker.error(
                    Diagnostic::error(statement.span, format!("fractional max pooling by {alpha} cannot shrink {height}x{width} with 2x2 regions"))
                        .with_label("input too small")
                        .with_help("pool a larger input (at least 2x2) or remove this layer"),
                );
                return None;
            }
            let output = Shape::Image { channels, height: out_h, width: out_w };
            Some(LayerPlan {
                op: Op::FractionalMaxPool { alpha },
                output,
                flops: 4 * output.len() as u64,
                params: vec![],
                fans: None,
                norm_features: None,
            })
        }
        StatementKind::Flatten => match input? {
            Shape::Image { .. } => {
                let input = input?;
                Some(LayerPlan {
                    op: Op::Flatten,
                    output: Shape::Vector(input.len()),
                    flops: 0,
                    params: vec![],
                    fans: None,
                    norm_features: None,
                })
            }
            Shape::Vector(n) => {
                checker.error(
                    Diagnostic::error(statement.keyword.span, format!("`flatten` needs an image input, but its input is already a vector of {n}"))
                        .with_label("nothing to flatten")
                        .with_help("delete this `flatten`"),
                );
                None
            }
        },
        _ => None,
    }
}

/// Whether an unknown option of the statement is most likely a misspelling of `option`.
fn misspelled(statement: &Statement, option: &str) -> bool {
    statement.options.iter().any(|o| {
        matches!(o.kind, OptionKind::Unknown)
            && suggest::closest(&o.keyword.text, [option]).is_some()
    })
}

/// The (channels, height, width) of an image input, or an error naming the layer.
pub(super) fn image_input(
    checker: &mut Checker,
    statement: &Statement,
    input: Shape,
) -> Option<(usize, usize, usize)> {
    match input {
        Shape::Image { channels, height, width } => Some((channels, height, width)),
        Shape::Vector(n) => {
            checker.error(
                Diagnostic::error(
                    statement.keyword.span,
                    format!(
                        "`{}` needs an image input, but its input is a vector of {n}",
                        statement.keyword.text
                    ),
                )
                .with_label("vector input")
                .with_help(
                    "declare `input image(C, H, W);`, and put image layers before `flatten`",
                ),
            );
            None
        }
    }
}

/// Output size of a sliding window: floor((size + 2 pad - kernel) / stride) + 1 (nn.Conv2d).
pub(super) fn window_output(
    checker: &mut Checker,
    statement: &Statement,
    (height, width): (usize, usize),
    kernel: usize,
    stride: usize,
    pad: usize,
) -> Option<(usize, usize)> {
    let (padded_h, padded_w) = (height + 2 * pad, width + 2 * pad);
    if kernel > padded_h || kernel > padded_w {
        checker.error(
            Diagnostic::error(statement.span, format!("the {kernel}x{kernel} window of `{}` is larger than its padded input {padded_h}x{padded_w}", statement.keyword.text))
                .with_label("window larger than the input")
                .with_help(format!("use a window of at most {} or add padding", padded_h.min(padded_w))),
        );
        return None;
    }
    Some(((padded_h - kernel) / stride + 1, (padded_w - kernel) / stride + 1))
}

pub(super) type ParamPlan = (&'static str, Vec<usize>, Role, String, Init);

/// The weight and (unless `bias none`) bias of a dense or conv layer with their resolved inits.
pub(super) fn weight_and_bias(
    checker: &mut Checker,
    statement: &Statement,
    options: &HashMap<&str, &ast::OptionAst>,
    weight_shape: Vec<usize>,
    fans: Fans,
) -> Option<(Vec<ParamPlan>, bool)> {
    let values = weight_shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    if values.is_none_or(|v| v > MAX_VALUES) {
        let shape: Vec<String> = weight_shape.iter().map(usize::to_string).collect();
        checker.error(
            Diagnostic::error(
                statement.span,
                format!(
                    "the weight of this `{}` would have {} values",
                    statement.keyword.text,
                    shape.join(" x ")
                ),
            )
            .with_label("too many parameters")
            .with_help(format!("a tensor may hold at most {MAX_VALUES} values; use fewer units")),
        );
        return None;
    }
    // nn.Linear / nn.Conv2d reset_parameters(): kaiming_uniform_(a=sqrt(5)) for the weight and
    // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias; both are that same uniform distribution.
    let bound = 1.0 / (fans.fan_in as f64).sqrt();
    let default = ("default".to_string(), Init::Uniform { lo: -bound, hi: bound });
    let weight = match options.get("init") {
        Some(ast::OptionAst { kind: OptionKind::Init(init), .. }) => {
            resolve_init(checker, init, fans, false)
        }
        _ => Some(default.clone()),
    };
    let bias = match options.get("bias") {
        Some(ast::OptionAst { kind: OptionKind::Bias(None), .. }) => None,
        Some(ast::OptionAst { kind: OptionKind::Bias(Some(init)), .. }) => {
            Some(resolve_init(checker, init, fans, true))
        }
        _ => Some(Some(default)),
    };
    let units = weight_shape[0];
    let (weight_scheme, weight_init) = weight?;
    let mut params = vec![("weight", weight_shape, Role::Weight, weight_scheme, weight_init)];
    let has_bias = bias.is_some();
    if let Some(bias) = bias {
        let (scheme, init) = bias?;
        params.push(("bias", vec![units], Role::Bias, scheme, init));
    }
    Some((params, has_bias))
}

/// Reports the errors of a layer's `init` and `bias` clauses, which do not depend on its fans,
/// before its shape is known; `false` if there were any.
pub(super) fn inits_are_valid(
    checker: &mut Checker,
    options: &HashMap<&str, &ast::OptionAst>,
) -> bool {
    let any_fans = Fans { fan_in: 1, fan_out: 1 };
    let mut valid = true;
    for option in options.values() {
        let (init, is_bias) = match &option.kind {
            OptionKind::Init(init) => (init, false),
            OptionKind::Bias(Some(init)) => (init, true),
            _ => continue,
        };
        valid &= resolve_init(checker, init, any_fans, is_bias).is_some();
    }
    valid
}

/// Resolves an init scheme to a distribution with torch.nn.init's formulas.
pub(super) fn resolve_init(
    checker: &mut Checker,
    init: &ast::InitAst,
    fans: Fans,
    is_bias: bool,
) -> Option<(String, Init)> {
    let Fans { fan_in, fan_out } = fans;
    let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
    let written = init.name.text.clone();
    let resolved = match &init.kind {
        InitKind::Zeros => Init::Zeros,
        InitKind::Ones => Init::Constant(1.0),
        InitKind::Constant(c) => Init::Constant(checker.representable(c, "the constant")?),
        InitKind::Uniform(lo, hi) => {
            let (lo_v, hi_v) = (
                checker.representable(lo, "the lower bound"),
                checker.representable(hi, "the upper bound"),
            );
            let (lo_v, hi_v) = (lo_v?, hi_v?);
            if lo_v >= hi_v {
                checker.error(
                    Diagnostic::error(
                        init.span,
                        format!(
                            "`uniform({lo_v}, {hi_v})` needs its lower bound below its upper bound"
                        ),
                    )
                    .with_label("empty interval")
                    .with_help(if lo_v == hi_v {
                        format!("for a single value write `constant {lo_v}`")
                    } else {
                        format!("write `uniform({hi_v}, {lo_v})`?")
                    }),
                );
                return None;
            }
            Init::Uniform { lo: lo_v, hi: hi_v }
        }
        InitKind::Normal(mean, std) => {
            let mean = checker.representable(mean, "the mean");
            let std = checker.non_negative(
                std,
                "the standard deviation",
                "write e.g. `normal(0, 0.01)`; the mean may be negative, the spread may not",
            );
            Init::Normal { mean: mean?, std: std? }
        }
        // LeCun (1998): Var(w) = 1/fan_in, the lecture's derivation; Keras draws it truncated.
        InitKind::LecunNormal => Init::Normal { mean: 0.0, std: (1.0 / fan_in).sqrt() },
        InitKind::LecunUniform => uniform((3.0 / fan_in).sqrt()),
        // torch.nn.init.xavier_*_ (Glorot and Bengio 2010): Var(w) = 2/(fan_in + fan_out).
        InitKind::XavierNormal => {
            Init::Normal { mean: 0.0, std: (2.0 / (fan_in + fan_out)).sqrt() }
        }
        InitKind::XavierUniform => uniform((6.0 / (fan_in + fan_out)).sqrt()),
        // torch.nn.init.kaiming_*_ defaults (He et al. 2015, mode fan_in, gain sqrt(2)): Var(w) = 2/fan_in.
        InitKind::KaimingNormal => Init::Normal { mean: 0.0, std: (2.0 / fan_in).sqrt() },
        InitKind::KaimingUniform => uniform((6.0 / fan_in).sqrt()),
        InitKind::Orthogonal if is_bias => {
            checker.error(
                Diagnostic::error(
                    init.name.span,
                    "`orthogonal` needs a matrix, but a bias is a vector",
                )
                .with_label("1-D tensor")
                .with_help("initialize the bias with `zeros` or `constant C`"),
            );
            return None;
        }
        InitKind::Orthogonal => Init::Orthogonal { gain: 1.0 },
        InitKind::Unknown => {
            checker.error(unknown_init(init));
            return None;
        }
    };
    Some((written, resolved))
}

/// A word after `init`/`bias` that is not a scheme, or a scheme written without its arguments
/// (the grammar only accepts `uniform` with its parentheses).
fn unknown_init(init: &ast::InitAst) -> Diagnostic {
    let name = init.name.text.as_str();
    let form = match name {
        "constant" => Some("constant C"),
        "uniform" => Some("uniform(LO, HI)"),
        "normal" => Some("normal(MEAN, STD)"),
        _ => None,
    };
    match form {
        Some(form) => {
            Diagnostic::error(init.span, format!("`{name}` needs its arguments: `{form}`"))
                .with_label("arguments missing or malformed")
                .with_help(format!(
                    "write e.g. `{}`",
                    form.replace("LO, HI", "-0.1, 0.1")
                        .replace("MEAN, STD", "0, 0.01")
                        .replace(" C", " 0.1")
                ))
        }
        None => Diagnostic::error(init.name.span, format!("unknown init scheme `{name}`"))
            .with_label("not an init scheme")
            .with_help(suggest::hint(name, INIT_SCHEMES, "expected")),
    }
}

fn uniform(bound: f64) -> Init {
    Init::Uniform { lo: -bound, hi: bound }
}
