//! Pass 2: a checked network -> its struct, its `Network` implementation (sizes, layout tables,
//! the layer passes over the workspace, the prediction rows, the losses) and its layer functions.
//! Everything that does not depend on the shape is the runtime's `Network` provided methods.
//!
//! Activations are stored as arrays of rows, `[[f32; WIDTH]]`, so every inner loop has a
//! constant bound and indexes fixed-size arrays (no bounds checks), and the same layer function
//! serves a training batch (`BATCH` rows in the workspace) and one sample on the stack.
//!
//! Each layer's output buffer `{layer}_out` has its gradient `{layer}_grad`; backward functions
//! *add* to their
//! input's gradient, so a trunk output read by several heads receives the sum of their
//! gradients. One module per layer kind keeps each layer's forward and backward together.

mod batchnorm;
mod conv;
mod dense;
mod elementwise;
pub(crate) mod frozen;
mod layernorm;
mod pipeline;
mod pool;
mod predict;
mod probes;
mod residual;

use netspec_grammar::ir::{self, BufferKind, LossKind, Op, Role};
use netspec_grammar::{Diagnostic, Span};
use proc_macro2::{Ident, Literal, TokenStream, TokenTree};
use quote::{format_ident, quote};

// Dot products are not written out term by term for narrow inputs: measured with
// `netspec/tests/unroll.rs` (a dense forward over 64 rows, 16 outputs, --release), the
// written-out sum is 1.2x (IN = 2) to 2.2x (IN = 4) slower than `kernels::dot`, equal at
// IN = 8 and 12, and at most 4% faster at IN = 16 and 32 (noise level). LLVM fully unrolls the
// constant-bound loops of `dot::<IN>` by itself, so the unroll threshold is effectively 0.

/// Where a layer reads or writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buf<'a> {
    /// The mini-batch in `Core::input` (the caller's input on the stack in `predict_fixed`).
    Input,
    /// The output of the layer so named.
    Act(&'a str),
}

/// One layer that computes something (`flatten` only renames a buffer).
struct Step<'a> {
    layer: &'a ir::Layer,
    x: Buf<'a>,
    y: Buf<'a>,
    width_in: usize,
    width_out: usize,
    /// A residual block's branch output F(x) (`None` for every other layer).
    branch: Option<Buf<'a>>,
}

/// A loss on a buffer: the network's, or one head's.
struct Output<'a> {
    /// The head, or `None` for a single-output network.
    head: Option<&'a ir::Head>,
    buf: Buf<'a>,
    width: usize,
    loss: &'a ir::Loss,
}

struct Plan<'a> {
    steps: Vec<Step<'a>>,
    /// Each computing layer's output buffer: its layer's name and its width per sample.
    buffers: Vec<(&'a str, usize)>,
    outputs: Vec<Output<'a>>,
    /// Every layer's output buffer, by layer name (for activity penalties).
    layer_out: Vec<(&'a str, Buf<'a>)>,
}

/// The layer output buffers whose gradient one activation, batch norm, conv or pooling layer
/// writes alone: no other layer reads the buffer (a residual block reads its input twice,
/// every head its trunk's output), and no loss or activity penalty adds to its gradient. That
/// layer's backward pass overwrites the gradient, so `output_gradients` does not zero it.
fn overwritten_by_sole_readers<'a>(net: &ir::Network, plan: &Plan<'a>) -> Vec<&'a str> {
    let mut read: Vec<Buf<'a>> = Vec::new();
    for step in &plan.steps {
        read.push(step.x);
        read.extend(step.branch);
    }
    read.extend(plan.outputs.iter().map(|o| o.buf));
    for penalty in &net.activity_penalties {
        read.extend(plan.layer_out.iter().filter(|(n, _)| *n == penalty.layer).map(|&(_, b)| b));
    }
    plan.steps
        .iter()
        .filter(|step| {
            matches!(
                step.layer.op,
                Op::Activation(_)
                    | Op::BatchNorm { .. }
                    | Op::Conv { .. }
                    | Op::MaxPool(_)
                    | Op::AvgPool(_)
                    | Op::GlobalAvgPool
                    | Op::GlobalMaxPool
                    | Op::FractionalMaxPool { .. }
            )
        })
        .filter_map(|step| match step.x {
            Buf::Act(name) if read.iter().filter(|&&b| b == step.x).count() == 1 => Some(name),
            _ => None,
        })
        .collect()
}

fn plan_layers<'a>(layers: &'a [ir::Layer], input: Buf<'a>, plan: &mut Plan<'a>) -> Buf<'a> {
    let mut current = input;
    for layer in layers {
        if matches!(layer.op, Op::Flatten) {
            // C x H x W rows are already flat in C, H, W order.
            plan.layer_out.push((&layer.name, current));
            continue;
        }
        // y = x + F(x) (or S(x) + F(x)): the branch's steps first, then the shortcut's, then
        // the sum, which reads the shortcut's output as its x.
        let (x, branch) = match &layer.op {
            Op::Residual { branch, shortcut, .. } => {
                let f = plan_layers(branch, current, plan);
                (plan_layers(shortcut, current, plan), Some(f))
            }
            _ => (current, None),
        };
        let y = Buf::Act(&layer.name);
        plan.buffers.push((&layer.name, layer.output.len()));
        plan.steps.push(Step {
            layer,
            x,
            y,
            width_in: if x == current { layer.input.len() } else { layer.output.len() },
            width_out: layer.output.len(),
            branch,
        });
        plan.layer_out.push((&layer.name, y));
        current = y;
    }
    current
}

fn plan(net: &ir::Network) -> Plan<'_> {
    let mut plan =
        Plan { steps: Vec::new(), buffers: Vec::new(), outputs: Vec::new(), layer_out: Vec::new() };
    let trunk = plan_layers(&net.layers, Buf::Input, &mut plan);
    if let Some(loss) = &net.loss {
        plan.outputs.push(Output { head: None, buf: trunk, width: net.trunk_output().len(), loss });
    }
    for head in &net.heads {
        let buf = plan_layers(&head.layers, trunk, &mut plan);
        plan.outputs.push(Output {
            head: Some(head),
            buf,
            width: head.output.len(),
            loss: &head.loss,
        });
    }
    plan
}

fn usize_lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// An f32 constant, its sign as a separate token (as Rust writes `-0.5`); an error when the
/// value does not fit an f32, since `Literal::f32_unsuffixed` would panic.
fn f32_tokens(value: f64, what: &str, span: Span) -> Result<TokenStream, Diagnostic> {
    let single = value as f32;
    if !single.is_finite() {
        return Err(Diagnostic::error(span, format!("{what} = {value} is not a finite f32"))
            .with_help("use a value between -3.4e38 and 3.4e38"));
    }
    let magnitude = Literal::f32_unsuffixed(single.abs());
    Ok(if single.is_sign_negative() { quote!(-#magnitude) } else { quote!(#magnitude) })
}

/// A layer's name as a Rust identifier: a shortcut's `residual1.shortcut.0` reads
/// `residual1_shortcut_0`.
fn ident_name(layer: &str) -> String {
    layer.replace('.', "_")
}

/// The field (or stack array) holding a layer's output rows.
fn act_field(layer: &str) -> Ident {
    format_ident!("{}_out", ident_name(layer))
}

/// The field holding dLoss/d(a layer's output).
fn grad_field(layer: &str) -> Ident {
    format_ident!("{}_grad", ident_name(layer))
}

/// `Some(tokens)` as a generated `Option` expression: a backward kernel's `dx` argument, `None`
/// where the layer reads the network's input (no gradient is wanted there).
fn option_tokens(tokens: Option<TokenStream>) -> TokenStream {
    match tokens {
        Some(tokens) => quote!(::core::option::Option::Some(#tokens)),
        None => quote!(::core::option::Option::None),
    }
}

/// The values in the current mini-batch's `n` rows of `width` values: `n * width` (`n` for
/// one value per row, which clippy would call an identity operation).
fn rows_len(width: usize) -> TokenStream {
    if width == 1 {
        quote!(n)
    } else {
        let w = usize_lit(width);
        quote!(n * #w)
    }
}

/// Whether `tokens` use the identifier `name` anywhere.
fn mentions(tokens: &TokenStream, name: &str) -> bool {
    tokens.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == name,
        TokenTree::Group(g) => mentions(&g.stream(), name),
        _ => false,
    })
}

/// Sample `r`'s row of a buffer in `predict_fixed`.
fn output_row(buf: Buf<'_>, r: &TokenStream) -> TokenStream {
    match buf {
        Buf::Input => quote!(input[#r]),
        Buf::Act(layer) => {
            let f = act_field(layer);
            quote!(#f[#r])
        }
    }
}

/// What the layer modules need: the network, the runtime paths and expressions for buffers.
///
/// The batch passes (`forward_batch`, `backward_batch`, `output_gradients`, `resample`,
/// `batch_outputs`) run over the current mini-batch's `n = self.core.rows` samples (1 to
/// `BATCH`): every buffer and per-sample field is sliced to its first `n` rows.
pub(crate) struct Ctx<'a> {
    net: &'a ir::Network,
    p: TokenStream,
    batch: usize,
    /// Each layer output buffer's width per sample.
    widths: &'a [(&'a str, usize)],
    /// The layer output buffers whose gradient one activation or batch norm writes alone
    /// ([`overwritten_by_sole_readers`]).
    overwritten: &'a [&'a str],
}

impl Ctx<'_> {
    /// Whether `step`'s backward pass overwrites its input's gradient instead of adding to it
    /// ([`overwritten_by_sole_readers`]).
    fn overwrites_input_grad(&self, step: &Step<'_>) -> bool {
        matches!(step.x, Buf::Act(name) if self.overwritten.contains(&name))
    }

    /// The runtime's `GradMode` for `step`'s input gradient: `Overwrite` where
    /// [`Ctx::overwrites_input_grad`], else `Add`.
    fn input_grad_mode(&self, step: &Step<'_>) -> TokenStream {
        let p = &self.p;
        if self.overwrites_input_grad(step) {
            quote!(#p::GradMode::Overwrite)
        } else {
            quote!(#p::GradMode::Add)
        }
    }

    /// `step`'s optional input gradient with its `GradMode`, `(Some(dx) or None, mode)`: the
    /// `dx` argument of the conv and batch norm backward passes.
    fn input_grad_arg(&self, step: &Step<'_>) -> TokenStream {
        let (dx, mode) = (option_tokens(self.grad_flat_mut(step.x)), self.input_grad_mode(step));
        quote!((#dx, #mode))
    }

    /// The values per sample of a buffer.
    fn width(&self, buf: Buf<'_>) -> usize {
        match buf {
            Buf::Input => self.net.input.len(),
            Buf::Act(layer) => {
                self.widths.iter().find(|(name, _)| *name == layer).map_or(0, |(_, width)| *width)
            }
        }
    }

    /// The current mini-batch's rows of a per-sample field, `per_sample` values each:
    /// `self.field[..n * per_sample]` (borrow it as needed).
    fn sample_field(&self, field: &Ident, per_sample: usize) -> TokenStream {
        let len = rows_len(per_sample);
        quote!(self.#field[..#len])
    }

    /// A buffer's rows, read (inside `forward_batch` and `backward_batch`, where `x_in` is the
    /// input's rows).
    fn rows(&self, buf: Buf<'_>, width: usize) -> TokenStream {
        let (w, len) = (usize_lit(width), rows_len(width));
        match buf {
            Buf::Input => quote!(x_in),
            Buf::Act(layer) => {
                let f = act_field(layer);
                quote!(self.#f[..#len].as_chunks::<#w>().0)
            }
        }
    }

    /// A buffer's rows, written.
    fn rows_mut(&self, buf: Buf<'_>, width: usize) -> TokenStream {
        let (w, len) = (usize_lit(width), rows_len(width));
        let Buf::Act(layer) = buf else { unreachable!("no layer writes the input") };
        let f = act_field(layer);
        quote!(self.#f[..#len].as_chunks_mut::<#w>().0)
    }

    /// The gradient of a buffer's rows, read.
    fn grad_rows(&self, buf: Buf<'_>, width: usize) -> TokenStream {
        let (w, len) = (usize_lit(width), rows_len(width));
        let f = match buf {
            Buf::Input => format_ident!("input_grad"),
            Buf::Act(layer) => grad_field(layer),
        };
        quote!(self.#f[..#len].as_chunks::<#w>().0)
    }

    /// The gradient of a buffer's rows, added to; `None` for the network's input.
    fn grad_rows_mut(&self, buf: Buf<'_>, width: usize) -> Option<TokenStream> {
        let (w, len) = (usize_lit(width), rows_len(width));
        let Buf::Act(layer) = buf else { return None };
        let f = grad_field(layer);
        Some(quote!(self.#f[..#len].as_chunks_mut::<#w>().0))
    }

    /// A buffer's rows as one flat slice, read.
    fn flat(&self, buf: Buf<'_>) -> TokenStream {
        let len = rows_len(self.width(buf));
        match buf {
            Buf::Input => quote!(&self.core.input[..#len]),
            Buf::Act(layer) => {
                let f = act_field(layer);
                quote!(&self.#f[..#len])
            }
        }
    }

    /// A buffer's rows as one flat slice, written.
    fn flat_mut(&self, buf: Buf<'_>) -> TokenStream {
        let len = rows_len(self.width(buf));
        let Buf::Act(layer) = buf else { unreachable!("no layer writes the input") };
        let f = act_field(layer);
        quote!(&mut self.#f[..#len])
    }

    /// The gradient of a buffer, flat.
    fn grad_flat(&self, buf: Buf<'_>) -> TokenStream {
        let len = rows_len(self.width(buf));
        let f = match buf {
            Buf::Input => format_ident!("input_grad"),
            Buf::Act(layer) => grad_field(layer),
        };
        quote!(&self.#f[..#len])
    }

    /// The gradient of a buffer, flat and added to; `None` for the network's input.
    fn grad_flat_mut(&self, buf: Buf<'_>) -> Option<TokenStream> {
        let len = rows_len(self.width(buf));
        let Buf::Act(layer) = buf else { return None };
        let f = grad_field(layer);
        Some(quote!(&mut self.#f[..#len]))
    }

    /// A buffer's `ROWS` samples in `predict_fixed` (where `input` is `&[[f32; INPUT]; ROWS]`
    /// and each layer's output a local `&mut [[f32; WIDTH]; ROWS]`).
    fn one(&self, buf: Buf<'_>) -> TokenStream {
        match buf {
            Buf::Input => quote!(input),
            Buf::Act(layer) => {
                let f = act_field(layer);
                quote!(&*#f)
            }
        }
    }

    fn one_mut(&self, buf: Buf<'_>) -> TokenStream {
        let Buf::Act(layer) = buf else { unreachable!("no layer writes the input") };
        let f = act_field(layer);
        quote!(&mut *#f)
    }

    /// A buffer's `ROWS` samples in `predict_fixed` as one flat slice.
    fn one_flat(&self, buf: Buf<'_>) -> TokenStream {
        match buf {
            Buf::Input => quote!(input.as_flattened()),
            Buf::Act(layer) => {
                let f = act_field(layer);
                quote!(#f.as_flattened())
            }
        }
    }

    fn one_flat_mut(&self, buf: Buf<'_>) -> TokenStream {
        let Buf::Act(layer) = buf else { unreachable!("no layer writes the input") };
        let f = act_field(layer);
        quote!(#f.as_flattened_mut())
    }
}

/// A struct field a layer needs (masks, saved statistics).
pub(super) struct Field {
    name: Ident,
    ty: TokenStream,
    init: TokenStream,
    doc: String,
}

impl Field {
    /// A `Vec<f32>` of `len` values, each `fill` at first.
    fn f32s(name: &Ident, fill: TokenStream, len: &Literal, doc: String) -> Field {
        Field {
            name: name.clone(),
            ty: quote!(::std::vec::Vec<f32>),
            init: quote!(::std::vec![#fill; #len]),
            doc,
        }
    }
}

/// The code of one layer, in the places of the struct it goes to.
#[derive(Default)]
pub(super) struct LayerCode {
    /// The formula the layer computes, the doc of its output buffer.
    doc: String,
    /// Its constants (shapes, offsets), with their docs.
    items: TokenStream,
    fields: Vec<Field>,
    /// Its statement in `forward_batch` (`training` in scope).
    forward: TokenStream,
    /// Its statement in `backward_batch` (`training` in scope).
    backward: TokenStream,
    /// Its statement in `predict_fixed` (`ROWS` samples; eval mode, or stochastic layers
    /// drawing from `rng` when it is `Some`).
    predict: TokenStream,
    /// The per-sample scratch its `predict` statement uses, besides the output rows.
    regions: Vec<predict::Region>,
    /// The f32 values of [`predict::shared_scratch`] its `predict` statement uses.
    shared_scratch: usize,
    /// Draws its masks or noise from `rng` into its fields.
    resample: TokenStream,
    /// The field holding its last masks or noise, for the test hook.
    noise_hook: Option<Ident>,
    /// The `(offset, len)` ranges of the gradient buffer its `backward` statement overwrites
    /// instead of adding to: the runtime does not zero them before the backward pass.
    overwritten_grads: Vec<(usize, usize)>,
}

fn layer_code(ctx: &Ctx<'_>, step: &Step<'_>) -> Result<LayerCode, Diagnostic> {
    match &step.layer.op {
        Op::Dense { .. } => dense::code(ctx, step),
        Op::Activation(a) => elementwise::activation(ctx, step, *a),
        Op::Dropout { p, rescale } => elementwise::dropout(ctx, step, *p, *rescale),
        Op::GaussianNoise { sigma } => elementwise::noise(ctx, step, *sigma),
        Op::BatchNorm { eps, momentum, .. } => batchnorm::code(ctx, step, *eps, *momentum),
        Op::LayerNorm { eps } => layernorm::code(ctx, step, *eps),
        Op::Conv { .. } => conv::code(ctx, step),
        Op::MaxPool(_)
        | Op::AvgPool(_)
        | Op::GlobalAvgPool
        | Op::GlobalMaxPool
        | Op::FractionalMaxPool { .. } => pool::code(ctx, step),
        Op::Residual { stochastic_depth, .. } => residual::code(ctx, step, *stochastic_depth),
        _ => Err(Diagnostic::error(
            step.layer.span,
            "internal error: unsupported layer reached the emitter",
        )),
    }
}

/// One loss: its targets' type, their check and the call adding it to the data loss.
struct LossCode {
    /// `&'a [usize]` or `&'a [f32]`.
    target_ty: TokenStream,
    check: TokenStream,
    call: TokenStream,
    /// The call on the soft target rows of an augmented batch (`Core::soft_targets`).
    soft_call: TokenStream,
    doc: &'static str,
    target_doc: String,
}

fn loss_code(
    ctx: &Ctx<'_>,
    out: &Output<'_>,
    targets: &TokenStream,
    argument: &str,
) -> Result<LossCode, Diagnostic> {
    let p = &ctx.p;
    let (w, len) = (usize_lit(out.width), rows_len(out.width));
    let rows = match out.buf {
        Buf::Input => quote!(self.core.input[..#len].as_chunks::<#w>().0),
        Buf::Act(_) => ctx.rows(out.buf, out.width),
    };
    let grad = match out.buf {
        Buf::Input => quote!(self.input_grad[..#len].as_chunks_mut::<#w>().0),
        Buf::Act(_) => ctx.grad_rows_mut(out.buf, out.width).unwrap_or_default(),
    };
    let weight = f32_tokens(out.loss.weight, "the loss weight", out.loss.span)?;
    let soft = quote!(self.core.soft_targets[..#len].as_chunks::<#w>().0);
    let width_name = if out.head.is_some() { "WIDTH" } else { "OUTPUT" };
    // Only a head's targets are checked in generated code (the struct's `Targets` impl).
    let receiver = match out.head {
        Some(head) => {
            let f = format_ident!("{}", head.name);
            quote!(self.#f)
        }
        None => targets.clone(),
    };
    let check = quote!(#p::Targets::check(#receiver, network, method, #argument, batch, (#width_name, #w))?;);
    let loss = out.loss;
    let values_doc =
        || format!("`{argument}` holds `BATCH * {}` values, sample after sample", out.width);
    let (target_ty, call, soft_call, doc, target_doc) = match loss.kind {
        LossKind::SoftmaxCrossEntropy
            if loss.label_smoothing != 0.0 || loss.class_weights.is_some() =>
        {
            let ones = vec![1.0; out.width];
            let class_weights = loss
                .class_weights
                .as_ref()
                .unwrap_or(&ones)
                .iter()
                .map(|&w| f32_tokens(w, "a class weight", loss.span))
                .collect::<Result<Vec<_>, _>>()?;
            let smoothing = f32_tokens(loss.label_smoothing, "the label smoothing", loss.span)?;
            let class_weights = quote!(&[#(#class_weights),*]);
            (
                quote!(usize),
                quote!(#p::softmax_cross_entropy_weighted(#rows, #targets, #class_weights, #smoothing, #weight, #grad)),
                quote!(#p::softmax_cross_entropy_soft_weighted(#rows, #soft, #class_weights, #smoothing, #weight, #grad)),
                "softmax cross-entropy on the logits with class weights and label smoothing \
                 (PyTorch `CrossEntropyLoss(weight, label_smoothing)`: sum(w[label] * loss) / \
                 sum(w[label]) over the batch)",
                format!(
                    "`{argument}` holds one class index per sample (`BATCH` values, each below {})",
                    out.width
                ),
            )
        }
        LossKind::SoftmaxCrossEntropy => (
            quote!(usize),
            quote!(#p::softmax_cross_entropy(#rows, #targets, #weight, #grad)),
            quote!(#p::softmax_cross_entropy_soft(#rows, #soft, #weight, #grad)),
            "softmax cross-entropy on the logits (PyTorch `CrossEntropyLoss`, mean over the batch)",
            format!(
                "`{argument}` holds one class index per sample (`BATCH` values, each below {})",
                out.width
            ),
        ),
        LossKind::Mse => (
            quote!(f32),
            quote!(#p::mse(#rows, #targets.as_chunks::<#w>().0, #weight, #grad)),
            quote!(#p::mse(#rows, #soft, #weight, #grad)),
            "mean squared error over all values (PyTorch `MSELoss`)",
            format!("`{argument}` holds `BATCH * {}` values, sample after sample", out.width),
        ),
        LossKind::BinaryCrossEntropy if loss.pos_weight.is_some() => {
            let pos_weight =
                f32_tokens(loss.pos_weight.unwrap_or(1.0), "the positive-class weight", loss.span)?;
            (
                quote!(f32),
                quote!(#p::binary_cross_entropy_with_logits_pos_weight(#rows, #targets.as_chunks::<#w>().0, #pos_weight, #weight, #grad)),
                quote!(#p::binary_cross_entropy_with_logits_pos_weight(#rows, #soft, #pos_weight, #weight, #grad)),
                "binary cross-entropy on the logits with a positive-class weight, mean over all \
                 values (PyTorch `BCEWithLogitsLoss(pos_weight)`)",
                format!(
                    "`{argument}` holds `BATCH * {}` probabilities in [0, 1], sample after sample",
                    out.width
                ),
            )
        }
        LossKind::BinaryCrossEntropy => (
            quote!(f32),
            quote!(#p::binary_cross_entropy_with_logits(#rows, #targets.as_chunks::<#w>().0, #weight, #grad)),
            quote!(#p::binary_cross_entropy_with_logits(#rows, #soft, #weight, #grad)),
            "binary cross-entropy on the logits, mean over all values (PyTorch `BCEWithLogitsLoss`)",
            format!(
                "`{argument}` holds `BATCH * {}` probabilities in [0, 1], sample after sample",
                out.width
            ),
        ),
        LossKind::Huber => {
            let delta = f32_tokens(loss.delta, "the Huber delta", loss.span)?;
            (
                quote!(f32),
                quote!(#p::huber(#rows, #targets.as_chunks::<#w>().0, #delta, #weight, #grad)),
                quote!(#p::huber(#rows, #soft, #delta, #weight, #grad)),
                "Huber loss over all values, quadratic within delta and linear beyond (PyTorch \
                 `HuberLoss(delta)`)",
                values_doc(),
            )
        }
        LossKind::L1 => (
            quote!(f32),
            quote!(#p::l1_loss(#rows, #targets.as_chunks::<#w>().0, #weight, #grad)),
            quote!(#p::l1_loss(#rows, #soft, #weight, #grad)),
            "mean absolute error over all values (PyTorch `L1Loss`)",
            values_doc(),
        ),
    };
    Ok(LossCode { target_ty, check, call, soft_call, doc, target_doc })
}

pub(crate) fn network(net: &ir::Network, rt: &TokenStream) -> Result<TokenStream, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    fn ok(errors: &mut Vec<Diagnostic>, r: Result<TokenStream, Diagnostic>) -> TokenStream {
        r.unwrap_or_else(|d| {
            errors.push(d);
            TokenStream::new()
        })
    }
    let p = quote!(#rt::__private);
    let name = format_ident!("{}", net.name);
    let name_str = &net.name;
    let plan = plan(net);
    let batch = net.batch;
    let overwritten_acts = overwritten_by_sole_readers(net, &plan);
    let ctx =
        Ctx { net, p: p.clone(), batch, widths: &plan.buffers, overwritten: &overwritten_acts };
    if plan.outputs.is_empty() {
        return Err(vec![Diagnostic::error(net.span, "the network has no `loss`")]);
    }
    let heads = !net.heads.is_empty();

    let input_w = net.input.len();
    let output_w: usize = plan.outputs.iter().map(|o| o.width).sum();
    let param_count = net.param_count();
    let input_len = rows_len(input_w);
    let (input_lit, output_lit, batch_lit) =
        (usize_lit(input_w), usize_lit(output_w), usize_lit(batch));
    let flops_lit = Literal::u64_unsuffixed(net.flops());

    // The layout tables.
    let param_infos: Vec<TokenStream> =
        net.params.iter().map(|param| ok(&mut errors, param_info(param, net.span, &p))).collect();
    let buffer_infos: Vec<TokenStream> = net.buffers.iter().map(|b| buffer_info(b, &p)).collect();

    // Each layer's code.
    let mut codes = Vec::new();
    for step in &plan.steps {
        match layer_code(&ctx, step) {
            Ok(code) => codes.push(code),
            Err(d) => errors.push(d),
        }
    }

    // Outputs: one array, or a struct with a field per head; targets likewise.
    let output_struct = format_ident!("{}Output", net.name);
    let targets_struct = format_ident!("{}Targets", net.name);
    let head_fields: Vec<Ident> =
        plan.outputs.iter().filter_map(|o| o.head).map(|h| format_ident!("{}", h.name)).collect();
    let mut losses = Vec::new();
    for out in &plan.outputs {
        let (targets, argument) = match out.head {
            None => (quote!(targets), "targets".to_string()),
            Some(head) => {
                let f = format_ident!("{}", head.name);
                (quote!(targets.#f), format!("targets.{}", head.name))
            }
        };
        match loss_code(&ctx, out, &targets, &argument) {
            Ok(code) => losses.push(code),
            Err(d) => errors.push(d),
        }
    }

    // Activity penalties: a * sum|y| / BATCH into the loss, a sign(y) / BATCH into dL/dy.
    let mut activity = Vec::new();
    for penalty in &net.activity_penalties {
        let Some(&(_, buf)) = plan.layer_out.iter().find(|(n, _)| *n == penalty.layer) else {
            errors.push(Diagnostic::error(
                penalty.span,
                format!("internal error: no layer `{}` for the activity penalty", penalty.layer),
            ));
            continue;
        };
        let what = format!("the activity penalty coefficient on `{}`", penalty.layer);
        let a = match f32_tokens(penalty.coefficient, &what, penalty.span) {
            Ok(a) => a,
            Err(d) => {
                errors.push(d);
                continue;
            }
        };
        activity.push(match buf {
            Buf::Input => quote! {
                #p::l1_activity(&self.core.input[..#input_len], ::core::option::Option::None, #a, n)
            },
            Buf::Act(_) => {
                let (f, g) = (ctx.flat(buf), ctx.grad_flat_mut(buf).unwrap_or_default());
                quote!(#p::l1_activity(#f, ::core::option::Option::Some(#g), #a, n))
            }
        });
    }

    // Penalties on parameters, applied by the runtime after the backward pass.
    let mut penalties = Vec::new();
    for (index, param) in net.params.iter().enumerate() {
        let index = usize_lit(index);
        let what = format!("the penalty coefficient on `{}`", param.name);
        if let Some(a) = param.l2 {
            let a = ok(&mut errors, f32_tokens(a, &what, net.span));
            penalties.push(quote!(#rt::Penalty::l2(#index, #a)));
        }
        if let Some(a) = param.l1 {
            let a = ok(&mut errors, f32_tokens(a, &what, net.span));
            penalties.push(quote!(#rt::Penalty::l1(#index, #a)));
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }

    // Workspace fields: one output buffer and its gradient per layer, then the layers' own.
    let needs_input_grad = plan.outputs.iter().any(|o| o.buf == Buf::Input);
    let mut field_defs = TokenStream::new();
    let mut field_inits = TokenStream::new();
    if needs_input_grad {
        let len = usize_lit(batch * input_w);
        field_defs.extend(quote! {
            /// dLoss/dinput rows: a loss reads the input directly.
            input_grad: ::std::vec::Vec<f32>,
        });
        field_inits.extend(quote!(input_grad: ::std::vec![0.0; #len],));
    }
    let grad_fields: Vec<Ident> = plan.buffers.iter().map(|(layer, _)| grad_field(layer)).collect();
    let zeroed_grads: Vec<&Ident> = plan
        .buffers
        .iter()
        .zip(&grad_fields)
        .filter(|((layer, _), _)| !overwritten_acts.contains(layer))
        .map(|(_, grad)| grad)
        .collect();
    for (((layer, width), grad), code) in plan.buffers.iter().zip(&grad_fields).zip(&codes) {
        let (act, len) = (act_field(layer), usize_lit(batch * width));
        // `{layer}_grad` is dLoss/d`{layer}_out` (the struct's doc says so once).
        let act_doc = format!("{}; `BATCH x {width}`.", code.doc);
        field_defs.extend(quote! {
            #[doc = #act_doc]
            #act: ::std::vec::Vec<f32>,
            #grad: ::std::vec::Vec<f32>,
        });
        field_inits.extend(quote!(#act: ::std::vec![0.0; #len], #grad: ::std::vec![0.0; #len],));
    }
    for field in codes.iter().flat_map(|c| &c.fields) {
        let Field { name, ty, init, doc } = field;
        field_defs.extend(quote!(#[doc = #doc] #name: #ty,));
        field_inits.extend(quote!(#name: #init,));
    }

    let layer_items = codes.iter().map(|c| &c.items);
    let forward_body: TokenStream = codes.iter().map(|c| c.forward.clone()).collect();
    let backward_body: TokenStream = codes.iter().rev().map(|c| c.backward.clone()).collect();
    let resample_body: TokenStream = codes.iter().map(|c| c.resample.clone()).collect();
    let resample_n = if mentions(&resample_body, "n") { quote!(n) } else { quote!(_n) };
    let stochastic = !resample_body.is_empty();

    // Sample `r`'s output.
    let assemble = |r: TokenStream| {
        if heads {
            let values = plan.outputs.iter().map(|o| output_row(o.buf, &r));
            quote!(#output_struct { #(#head_fields: #values),* })
        } else {
            output_row(plan.outputs[0].buf, &r)
        }
    };
    let pipe = pipeline::input_pipeline(net, &p, &plan);

    // Types of the API.
    let out_ty = if heads { quote!(#output_struct) } else { quote!([f32; #output_lit]) };
    let targets_ty = if heads {
        quote!(#targets_struct<'a>)
    } else {
        let t = &losses[0].target_ty;
        quote!(&'a [#t])
    };

    // The last training-mode forward pass's outputs, copied out (`forward`).
    let copy_out = if heads {
        let rows = plan.outputs.iter().map(|o| {
            let w = usize_lit(o.width);
            match o.buf {
                Buf::Input => quote!(self.core.input.as_chunks::<#w>().0[r]),
                Buf::Act(layer) => {
                    let f = act_field(layer);
                    quote!(self.#f.as_chunks::<#w>().0[r])
                }
            }
        });
        quote! {
            for (r, out) in outputs.iter_mut().enumerate() {
                *out = #output_struct { #(#head_fields: #rows),* };
            }
        }
    } else {
        match plan.outputs[0].buf {
            Buf::Input => {
                quote!(outputs.copy_from_slice(&self.core.input.as_chunks().0[..outputs.len()]);)
            }
            Buf::Act(layer) => {
                let f = act_field(layer);
                quote!(outputs.copy_from_slice(&self.#f.as_chunks().0[..outputs.len()]);)
            }
        }
    };

    let checks = losses.iter().map(|l| &l.check);
    let loss_calls: Vec<&TokenStream> = losses.iter().map(|l| &l.call).collect();
    let data_loss = if pipe.augment {
        let soft_calls = losses.iter().map(|l| &l.soft_call);
        quote!(if augmented { #(#soft_calls)+* } else { #(#loss_calls)+* })
    } else {
        quote!(#(#loss_calls)+*)
    };
    let augmented_param = if pipe.augment { quote!(augmented) } else { quote!(_augmented) };
    let (activity_decl, activity_value) = if activity.is_empty() {
        (TokenStream::new(), quote!(0.0))
    } else {
        (quote!(let activity = #(#activity)+*;), quote!(activity))
    };
    let input_grad_fill = needs_input_grad.then(|| quote!(#p::zero(&mut self.input_grad);));

    // The head types.
    let head_types = heads.then(|| {
        let widths: Vec<Literal> = plan.outputs.iter().map(|o| usize_lit(o.width)).collect();
        let out_docs = plan.outputs.iter().map(|o| {
            let h = o.head.expect("every output of a network with heads is a head");
            format!(
                "Head `{}`: {} output(s) ({:?} loss, weight {}).",
                h.name, o.width, o.loss.kind, o.loss.weight
            )
        });
        let target_docs: Vec<&String> = losses.iter().map(|l| &l.target_doc).collect();
        let target_tys = losses.iter().map(|l| &l.target_ty);
        let out_doc = format!(
            "The outputs of one `{name_str}` sample, one field per head (logits for the \
             cross-entropy losses)."
        );
        let targets_doc = format!(
            "The targets of one `{name_str}` mini-batch, one slice per head: the total loss is \
             the sum of each head's mean loss times its weight."
        );
        quote! {
            #[doc = #out_doc]
            #[derive(Clone, Copy, Debug, PartialEq)]
            pub struct #output_struct {
                #(#[doc = #out_docs] pub #head_fields: [f32; #widths],)*
            }

            impl ::core::default::Default for #output_struct {
                fn default() -> Self {
                    <Self as #rt::Sample>::ZERO
                }
            }

            impl #rt::Sample for #output_struct {
                type Flat = Self;
                const FLAT_LEN: usize = 1;
                const ZERO: Self = Self { #(#head_fields: [0.0; #widths]),* };

                fn samples(flat: &[Self]) -> &[Self] {
                    flat
                }

                fn samples_mut(flat: &mut [Self]) -> &mut [Self] {
                    flat
                }

                fn values(&self) -> impl ::core::iter::Iterator<Item = f32> {
                    ::core::iter::empty() #(.chain(self.#head_fields.iter().copied()))*
                }

                fn values_mut(&mut self) -> impl ::core::iter::Iterator<Item = &mut f32> {
                    ::core::iter::empty() #(.chain(self.#head_fields.iter_mut()))*
                }
            }

            #[doc = #targets_doc]
            #[derive(Clone, Copy, Debug)]
            pub struct #targets_struct<'a> {
                #(#[doc = #target_docs] pub #head_fields: &'a [#target_tys],)*
            }

            impl #rt::Targets for #targets_struct<'_> {
                fn check(
                    self,
                    network: &'static str,
                    method: &'static str,
                    _argument: &'static str,
                    batch: usize,
                    _width: (&'static str, usize),
                ) -> ::core::result::Result<(), #p::BatchError> {
                    #(#checks)*
                    ::core::result::Result::Ok(())
                }
            }
        }
    });

    let layers_doc = layers_doc(net);
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let (inputs_s, outputs_s) = (plural(input_w), plural(output_w));
    let loss_doc = if heads {
        let parts: Vec<String> = plan
            .outputs
            .iter()
            .zip(&losses)
            .map(|(o, l)| {
                let h = o.head.expect("heads");
                format!("head `{}`: {} times {}", h.name, o.loss.weight, l.doc)
            })
            .collect();
        format!("the sum over heads of {}", parts.join("; "))
    } else {
        losses[0].doc.to_string()
    };
    let struct_doc = format!(
        "The `{name_str}` network generated by `netspec`: {input_w} input{inputs_s}, \
         {output_w} output{outputs_s}, {param_count} parameters, trained on mini-batches of \
         {batch}. Its API is the `netspec::Network` trait; each layer's output `{{layer}}_out` has \
         its gradient dLoss/doutput in `{{layer}}_grad`.\n\n{layers_doc}\nLoss: {loss_doc}."
    );

    let stochastic_items = stochastic.then(|| {
        let hooks = plan.steps.iter().zip(&codes).filter_map(|(step, code)| {
            let field = code.noise_hook.as_ref()?;
            let layer = &step.layer.name;
            Some(quote!(#layer => ::core::option::Option::Some(&self.#field),))
        });
        quote! {
            fn resample_rows(&mut self, #resample_n: usize, rng: &mut #p::Rng) {
                #resample_body
            }

            fn predict_sample(&self, input: &[f32; #input_lit], rng: &mut #p::Rng) -> #out_ty {
                let mut out = [<#out_ty as #rt::Sample>::ZERO];
                self.predict_fixed(::core::array::from_ref(input), &mut out, ::core::option::Option::Some(rng));
                out[0]
            }

            fn noise(&self, layer: &str) -> ::core::option::Option<&[f32]> {
                match layer {
                    #(#hooks)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    });

    let (rng_param, no_rng) = if stochastic {
        (
            quote!(, mut rng: ::core::option::Option<&mut #p::Rng>),
            quote!(::core::option::Option::None),
        )
    } else {
        (TokenStream::new(), TokenStream::new())
    };
    // The current mini-batch's rows (1 to BATCH), and the input's.
    let prelude = |body: &TokenStream| {
        let rows = (mentions(body, "n") || mentions(body, "x_in"))
            .then(|| quote!(let n = self.core.rows;));
        let x_in = mentions(body, "x_in")
            .then(|| quote!(let x_in = self.core.input[..#input_len].as_chunks::<#input_lit>().0;));
        quote!(#rows #x_in)
    };
    let (forward_prelude, backward_prelude) = (prelude(&forward_body), prelude(&backward_body));
    let training = |body: &TokenStream| {
        if mentions(body, "training") { quote!(training) } else { quote!(_training) }
    };
    let (forward_training, backward_training) = (training(&forward_body), training(&backward_body));
    // A batch norm over one value per channel and sample needs two samples while training.
    let single_values = |layer: &&ir::Layer| {
        matches!(layer.op, Op::BatchNorm { .. })
            && layer.input.len() == layer.input.dims().first().copied().unwrap_or(0)
    };
    let min_batch_const = net.all_layers().iter().any(single_values).then(|| {
        quote!(
            const MIN_TRAINING_BATCH: usize = 2;
        )
    });
    let penalties_const = (!penalties.is_empty())
        .then(|| quote!(const PENALTIES: &'static [#rt::Penalty] = &[#(#penalties),*];));
    let mut overwritten_params: Vec<(usize, usize)> =
        codes.iter().flat_map(|c| c.overwritten_grads.iter().copied()).collect();
    overwritten_params.sort_unstable();
    let overwritten_const = (!overwritten_params.is_empty()).then(|| {
        let ranges = overwritten_params.iter().map(|&(offset, len)| {
            let (offset, len) = (usize_lit(offset), usize_lit(len));
            quote!((#offset, #len))
        });
        quote!(const OVERWRITTEN_GRADS: &'static [(usize, usize)] = &[#(#ranges),*];)
    });
    let pipeline::InputPipeline { consts: pipe_consts, predict: preprocess, augment: _, methods } =
        pipe;
    let dims = net.input.dims().into_iter().map(usize_lit);
    let predict = predict::predict_fixed(
        net,
        &plan,
        &codes,
        predict::Signature {
            p: p.clone(),
            input_lit: input_lit.clone(),
            out_ty: out_ty.clone(),
            rng_param,
            stochastic,
            preprocess,
            assemble_r: assemble(quote!(r)),
            frozen: false,
        },
    )
    .map_err(|d| vec![d])?;
    let (predict_fixed, predict_rows_lit) = (predict.method, usize_lit(predict.rows));
    let probe_items = probes::items(net, &plan, &p, needs_input_grad);

    Ok(quote! {
        #head_types

        #[doc = #struct_doc]
        #[derive(Clone)]
        pub struct #name {
            core: #rt::Core,
            #field_defs
        }

        impl ::core::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #p::fmt_network(self, f)
            }
        }

        // Init bounds such as sqrt(6/3) are computed values that clippy would mistake for
        // hand-typed approximations of its constants (SQRT_2, ...).
        #[allow(clippy::approx_constant)]
        impl #rt::Network for #name {
            const NAME: &'static str = #name_str;
            const INPUT: usize = #input_lit;
            const OUTPUT: usize = #output_lit;
            const BATCH: usize = #batch_lit;
            const FLOPS: u64 = #flops_lit;
            const INPUT_SHAPE: &'static [usize] = &[#(#dims),*];
            const PARAMS: &'static [#p::ParamInfo] = &[#(#param_infos),*];
            const BUFFERS: &'static [#p::BufferInfo] = &[#(#buffer_infos),*];
            #penalties_const
            #overwritten_const
            #min_batch_const
            #pipe_consts

            type Input = [f32; #input_lit];
            type Output = #out_ty;
            type Targets<'a> = #targets_ty;

            fn with_core(core: #rt::Core) -> Self {
                Self { core, #field_inits }
            }

            fn core(&self) -> &#rt::Core {
                &self.core
            }

            fn core_mut(&mut self) -> &mut #rt::Core {
                &mut self.core
            }

            fn forward_batch(&mut self, #forward_training: bool) {
                #forward_prelude
                #forward_body
            }

            fn output_gradients(&mut self, targets: Self::Targets<'_>, #augmented_param: bool) -> (f64, f64) {
                let n = self.core.rows;
                #(#p::zero(&mut self.#zeroed_grads);)*
                #input_grad_fill
                let data = #data_loss;
                #activity_decl
                (data, #activity_value)
            }

            fn backward_batch(&mut self, #backward_training: bool) {
                #backward_prelude
                #backward_body
            }

            fn batch_outputs(&self, outputs: &mut [#out_ty]) {
                #copy_out
            }

            fn predict_rows(&self, inputs: &[[f32; #input_lit]], outputs: &mut [#out_ty]) {
                let (x_full, x_rest) = inputs.as_chunks::<#predict_rows_lit>();
                let (y_full, y_rest) = outputs.as_chunks_mut::<#predict_rows_lit>();
                for (x, y) in x_full.iter().zip(y_full) {
                    self.predict_fixed(x, y, #no_rng);
                }
                for (x, y) in x_rest.iter().zip(y_rest) {
                    self.predict_fixed(::core::array::from_ref(x), ::core::array::from_mut(y), #no_rng);
                }
            }

            fn predict(&self, input: &[f32; #input_lit]) -> #out_ty {
                let mut out = [<#out_ty as #rt::Sample>::ZERO];
                self.predict_fixed(::core::array::from_ref(input), &mut out, #no_rng);
                out[0]
            }

            #stochastic_items
            #methods
            #probe_items
        }

        #[allow(clippy::approx_constant)]
        impl #name {
            #predict_fixed

            #(#layer_items)*
        }
    })
}

fn layers_doc(net: &ir::Network) -> String {
    let mut doc = String::from("| layer | output |\n|---|---|\n");
    doc.push_str(&format!("| input | {} |\n", net.input));
    for layer in &net.layers {
        doc.push_str(&format!("| `{}` | {} |\n", layer.name, layer.output));
    }
    for head in &net.heads {
        for layer in &head.layers {
            doc.push_str(&format!(
                "| `{}` (head `{}`) | {} |\n",
                layer.name, head.name, layer.output
            ));
        }
    }
    doc
}

fn buffer_info(buffer: &ir::Buffer, p: &TokenStream) -> TokenStream {
    let name = &buffer.name;
    let shape = buffer.shape.iter().map(|d| usize_lit(*d));
    let offset = usize_lit(buffer.offset);
    let kind = match buffer.kind {
        BufferKind::RunningMean => quote!(RunningMean),
        BufferKind::RunningVar => quote!(RunningVar),
        BufferKind::NumBatchesTracked => quote!(NumBatchesTracked),
    };
    quote!(#p::BufferInfo::new(#name, &[#(#shape),*], #offset, #p::BufferKind::#kind))
}

fn param_info(param: &ir::Param, span: Span, p: &TokenStream) -> Result<TokenStream, Diagnostic> {
    let name = &param.name;
    let shape = param.shape.iter().map(|d| usize_lit(*d));
    let offset = usize_lit(param.offset);
    let role = match param.role {
        Role::Weight => quote!(Weight),
        Role::Bias => quote!(Bias),
        Role::NormWeight => quote!(NormWeight),
        Role::NormBias => quote!(NormBias),
    };
    let what = |field: &str| format!("the initial {field} of `{name}`");
    let init = match param.init {
        ir::Init::Zeros => quote!(#p::Init::Zeros),
        ir::Init::Constant(c) => {
            let c = f32_tokens(c, &what("value"), span)?;
            quote!(#p::Init::Constant(#c))
        }
        ir::Init::Uniform { lo, hi } => {
            let (lo, hi) = (
                f32_tokens(lo, &what("lower bound"), span)?,
                f32_tokens(hi, &what("upper bound"), span)?,
            );
            quote!(#p::Init::uniform(#lo, #hi))
        }
        ir::Init::Normal { mean, std } => {
            let (mean, std) =
                (f32_tokens(mean, &what("mean"), span)?, f32_tokens(std, &what("std"), span)?);
            quote!(#p::Init::normal(#mean, #std))
        }
        ir::Init::Orthogonal { gain } => {
            let gain = f32_tokens(gain, &what("gain"), span)?;
            quote!(#p::Init::Orthogonal { gain: #gain })
        }
        ir::Init::TruncNormal { mean, std, a, b } => {
            let (mean, std) =
                (f32_tokens(mean, &what("mean"), span)?, f32_tokens(std, &what("std"), span)?);
            let (a, b) = (
                f32_tokens(a, &what("lower bound"), span)?,
                f32_tokens(b, &what("upper bound"), span)?,
            );
            quote!(#p::Init::TruncNormal { mean: #mean, std: #std, a: #a, b: #b })
        }
    };
    let fan_in = usize_lit(param.fans.map_or(0, |f| f.fan_in));
    Ok(quote!(#p::ParamInfo::new(#name, &[#(#shape),*], #offset, #p::Role::#role, #init, #fan_in)))
}
