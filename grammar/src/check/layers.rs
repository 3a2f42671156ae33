//! Pass 2: each layer's options validated and resolved, names assigned (kind + index), shapes
//! inferred, parameters and buffers laid out in one flat buffer.

use super::inits::resolve_init;
use super::*;
use crate::layers::{self, LayerKind, LayerPlan, LayerStatement, Lower, ParamPlan, shortcut_plans};

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
        let (kind, argument) = match &statement.kind {
            StatementKind::Residual(body) => {
                return self.residual(checker, statement, name, body, input);
            }
            StatementKind::Layer { kind, argument } => (*kind, argument.as_ref()),
            StatementKind::GaussianNoise(sigma) => (layers::NOISE, Some(sigma)),
            _ => return None,
        };
        let plan = plan_layer(checker, kind, statement, argument, input);
        let input = input?;
        let plan = plan?;
        if !checker.fits(plan.output, statement.span) {
            return None;
        }
        Some(self.install(plan, name, input, statement.span))
    }

    /// Lays out a planned layer's parameters and buffers after the ones before it.
    fn install(&mut self, plan: LayerPlan, name: String, input: Shape, span: Span) -> Layer {
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
        Layer {
            name,
            op: plan.op,
            input,
            output: plan.output,
            params: param_indices,
            buffers: buffer_indices,
            flops: plan.flops,
            span,
        }
    }

    pub(super) fn residual(
        &mut self,
        checker: &mut Checker,
        statement: &Statement,
        name: String,
        body: &[Statement],
        input: Option<Shape>,
    ) -> Option<Layer> {
        let options = checker.options(statement, layers::RESIDUAL.options);
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
        let shortcut =
            match options.get("shortcut") {
                // The projection's layers are named as torchvision's `downsample` Sequential is.
                Some(option) => shortcut_plans(checker, option.span, input, output)?
                    .into_iter()
                    .enumerate()
                    .map(|(i, plan)| {
                        let input = if i == 0 { input } else { output };
                        self.install(plan, format!("{name}.shortcut.{i}"), input, option.span)
                    })
                    .collect(),
                None if output != input => {
                    checker.error(
                    Diagnostic::error(
                        statement.keyword.span,
                        format!("the residual branch changes the shape from {input} to {output}"),
                    )
                    .with_label("y = x + F(x) needs F(x) shaped like x")
                    .with_help(if input.grid().is_some() && output.grid().is_some() {
                        format!(
                            "make the branch end with the shape it starts with, {input}, or \
                             project the skip path with `residual shortcut {{ ... }}` (a 1x1 \
                             conv and batch norm)"
                        )
                    } else {
                        format!("make the branch end with the shape it starts with, {input}")
                    }),
                );
                    return None;
                }
                None => Vec::new(),
            };
        // The branch's and the shortcut's layers count their own FLOPs; the block adds the sum.
        let flops = output.len() as u64;
        Some(Layer {
            name,
            op: Op::Residual { stochastic_depth: stochastic_depth?, branch, shortcut },
            input,
            output,
            params: Vec::new(),
            buffers: Vec::new(),
            flops,
            span: statement.span,
        })
    }
}

/// Validates a (non-residual) layer's options and argument, and infers its output shape and
/// parameters by its kind's rule.
fn plan_layer(
    checker: &mut Checker,
    kind: &LayerKind,
    statement: &Statement,
    argument: Option<&Number>,
    input: Option<Shape>,
) -> Option<LayerPlan> {
    let options = checker.options(statement, kind.options);
    let layer = LayerStatement { statement, argument, options, input };
    match &kind.lower {
        Lower::Plan(plan) => plan(checker, &layer),
        Lower::Activation(rule) => {
            let activation = match (&rule.parameter, argument) {
                (Some(parameter), Some(n)) => {
                    (parameter.with)(checker.representable(n, parameter.what)?)
                }
                _ => rule.activation,
            };
            layer.elementwise(Op::Activation(activation), rule.flops_per_value)
        }
        // The grammar parses `residual` with its block, which `Lowering::layer` lowers.
        Lower::Residual => None,
    }
}

/// The weight and (unless `bias none`) bias of a dense or conv layer with their resolved inits.
pub(crate) fn weight_and_bias(
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
    let default = default_init(fans);
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

/// The init of a dense or conv weight or bias without `init`: nn.Linear / nn.Conv2d
/// reset_parameters() draw the weight by kaiming_uniform_(a=sqrt(5)) and the bias from
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)); both are that same uniform distribution.
pub(crate) fn default_init(fans: Fans) -> (String, Init) {
    let bound = 1.0 / (fans.fan_in as f64).sqrt();
    ("default".to_string(), Init::Uniform { lo: -bound, hi: bound })
}

/// Reports the errors of a layer's `init` and `bias` clauses, which do not depend on its fans,
/// before its shape is known; `false` if there were any.
pub(crate) fn inits_are_valid(
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
