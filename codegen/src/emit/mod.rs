//! Pass 2: a supported network -> its struct, layout tables, layer functions and API.
//!
//! Activations are stored as arrays of rows, `[[f32; WIDTH]]`, so every inner loop has a
//! constant bound and indexes fixed-size arrays (no bounds checks), and the same layer function
//! serves a training batch (`BATCH` rows in the workspace) and one sample on the stack.
//!
//! Each activation buffer `actN` has its gradient `grad_actN`; backward functions *add* to their
//! input's gradient, so a trunk output read by several heads receives the sum of their
//! gradients. One module per layer kind keeps each layer's forward and backward together.

mod batchnorm;
mod conv;
mod dense;
mod elementwise;
mod pipeline;
mod pool;
mod residual;

use netspec_grammar::ir::{self, BufferKind, LossKind, Op, Role};
use netspec_grammar::{Diagnostic, Span};
use pipeline::{InputPipeline, input_pipeline};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

// Dot products are not written out term by term for narrow inputs: measured with
// `netspec/tests/unroll.rs` (a dense forward over 64 rows, 16 outputs, --release), the
// written-out sum is 1.2x (IN = 2) to 2.2x (IN = 4) slower than `kernels::dot`, equal at
// IN = 8 and 12, and at most 4% faster at IN = 16 and 32 (noise level). LLVM fully unrolls the
// constant-bound loops of `dot::<IN>` by itself, so the unroll threshold is effectively 0.

/// Where a layer reads or writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buf {
    /// The caller's input slice.
    Input,
    /// The `index`-th activation buffer.
    Act(usize),
}

/// One layer that computes something (`flatten` only renames a buffer).
struct Step<'a> {
    layer: &'a ir::Layer,
    x: Buf,
    y: Buf,
    width_in: usize,
    width_out: usize,
    /// A residual block's branch output F(x) (`None` for every other layer).
    branch: Option<Buf>,
}

impl Step<'_> {
    /// Whether the layer's input gradient is wanted (not when it reads the network's input).
    fn needs_dx(&self) -> bool {
        self.x != Buf::Input
    }
}

/// A loss on a buffer: the network's, or one head's.
struct Output<'a> {
    /// The head, or `None` for a single-output network.
    head: Option<&'a ir::Head>,
    buf: Buf,
    width: usize,
    loss: ir::Loss,
}

struct Plan<'a> {
    steps: Vec<Step<'a>>,
    /// Width of each activation buffer.
    act_widths: Vec<usize>,
    outputs: Vec<Output<'a>>,
    /// Every layer's output buffer, by layer name (for activity penalties).
    layer_out: Vec<(&'a str, Buf)>,
}

fn plan_layers<'a>(layers: &'a [ir::Layer], input: Buf, plan: &mut Plan<'a>) -> Buf {
    let mut current = input;
    for layer in layers {
        if matches!(layer.op, Op::Flatten) {
            // C x H x W rows are already flat in C, H, W order.
            plan.layer_out.push((&layer.name, current));
            continue;
        }
        // y = x + F(x): the branch's steps first, then the sum.
        let branch = match &layer.op {
            Op::Residual { branch, .. } => Some(plan_layers(branch, current, plan)),
            _ => None,
        };
        let y = Buf::Act(plan.act_widths.len());
        plan.act_widths.push(layer.output.len());
        plan.steps.push(Step {
            layer,
            x: current,
            y,
            width_in: layer.input.len(),
            width_out: layer.output.len(),
            branch,
        });
        plan.layer_out.push((&layer.name, y));
        current = y;
    }
    current
}

fn plan(net: &ir::Network) -> Plan<'_> {
    let mut plan = Plan {
        steps: Vec::new(),
        act_widths: Vec::new(),
        outputs: Vec::new(),
        layer_out: Vec::new(),
    };
    let trunk = plan_layers(&net.layers, Buf::Input, &mut plan);
    if let Some(loss) = net.loss {
        plan.outputs.push(Output { head: None, buf: trunk, width: net.trunk_output().len(), loss });
    }
    for head in &net.heads {
        let buf = plan_layers(&head.layers, trunk, &mut plan);
        plan.outputs.push(Output {
            head: Some(head),
            buf,
            width: head.output.len(),
            loss: head.loss,
        });
    }
    plan
}

fn usize_lit(n: usize) -> Literal {
    Literal::usize_suffixed(n)
}

/// An f32 constant, its sign as a separate token (as Rust writes `-0.5`); an error when the
/// value does not fit an f32, since `Literal::f32_suffixed` would panic.
fn f32_tokens(value: f64, what: &str, span: Span) -> Result<TokenStream, Diagnostic> {
    let single = value as f32;
    if !single.is_finite() {
        return Err(Diagnostic::error(span, format!("{what} = {value} is not a finite f32"))
            .with_help("use a value between -3.4e38 and 3.4e38"));
    }
    let magnitude = Literal::f32_suffixed(single.abs());
    Ok(if single.is_sign_negative() { quote!(-#magnitude) } else { quote!(#magnitude) })
}

fn act_field(index: usize) -> Ident {
    format_ident!("act{}", index + 1)
}

fn grad_field(index: usize) -> Ident {
    format_ident!("grad_act{}", index + 1)
}

/// What the layer modules need: the network, the runtime paths and expressions for buffers.
pub(crate) struct Ctx<'a> {
    net: &'a ir::Network,
    p: TokenStream,
    /// The runtime's dense kernels, reached like everything else through `__private`.
    kernels: TokenStream,
    batch: usize,
}

impl Ctx<'_> {
    /// A buffer's `BATCH` rows, read (inside the workspace methods, where `x_in` is the input).
    fn rows(&self, buf: Buf, width: usize) -> TokenStream {
        let w = usize_lit(width);
        match buf {
            Buf::Input => quote!(x_in),
            Buf::Act(i) => {
                let f = act_field(i);
                quote!(self.#f.as_chunks::<#w>().0)
            }
        }
    }

    /// A buffer's rows, written.
    fn rows_mut(&self, buf: Buf, width: usize) -> TokenStream {
        let w = usize_lit(width);
        match buf {
            Buf::Input => unreachable!("no layer writes the input"),
            Buf::Act(i) => {
                let f = act_field(i);
                quote!(self.#f.as_chunks_mut::<#w>().0)
            }
        }
    }

    /// The gradient of a buffer's rows, read.
    fn grad_rows(&self, buf: Buf, width: usize) -> TokenStream {
        let w = usize_lit(width);
        match buf {
            Buf::Input => quote!(self.grad_input.as_chunks::<#w>().0),
            Buf::Act(i) => {
                let f = grad_field(i);
                quote!(self.#f.as_chunks::<#w>().0)
            }
        }
    }

    /// The gradient of a buffer's rows, added to; `None` for the network's input.
    fn grad_rows_mut(&self, buf: Buf, width: usize) -> Option<TokenStream> {
        let w = usize_lit(width);
        match buf {
            Buf::Input => None,
            Buf::Act(i) => {
                let f = grad_field(i);
                Some(quote!(self.#f.as_chunks_mut::<#w>().0))
            }
        }
    }

    /// The gradient of a buffer, flat.
    fn grad_flat(&self, buf: Buf) -> TokenStream {
        match buf {
            Buf::Input => quote!(&self.grad_input),
            Buf::Act(i) => {
                let f = grad_field(i);
                quote!(&self.#f)
            }
        }
    }

    /// The gradient of a buffer, flat and added to; `None` for the network's input.
    fn grad_flat_mut(&self, buf: Buf) -> Option<TokenStream> {
        match buf {
            Buf::Input => None,
            Buf::Act(i) => {
                let f = grad_field(i);
                Some(quote!(&mut self.#f))
            }
        }
    }

    /// A buffer's `ROWS` samples on the stack (in `predict_rows` and `predict_sample`, where
    /// `input` is `&[[f32; INPUT]; ROWS]`).
    fn one(&self, buf: Buf) -> TokenStream {
        match buf {
            Buf::Input => quote!(input),
            Buf::Act(i) => {
                let f = act_field(i);
                quote!(&#f)
            }
        }
    }

    fn one_mut(&self, buf: Buf) -> TokenStream {
        let Buf::Act(i) = buf else { unreachable!("no layer writes the input") };
        let f = act_field(i);
        quote!(&mut #f)
    }

    /// The first sample's row on the stack (`predict_sample`, where `ROWS` is 1).
    fn one_row(&self, buf: Buf) -> TokenStream {
        match buf {
            Buf::Input => quote!(&input[0]),
            Buf::Act(i) => {
                let f = act_field(i);
                quote!(&#f[0])
            }
        }
    }

    fn one_row_mut(&self, buf: Buf) -> TokenStream {
        let Buf::Act(i) = buf else { unreachable!("no layer writes the input") };
        let f = act_field(i);
        quote!(&mut #f[0])
    }
}

/// A struct field a layer needs (masks, saved statistics).
pub(super) struct Field {
    name: Ident,
    ty: TokenStream,
    init: TokenStream,
    doc: String,
}

/// The code of one layer, in the places of the struct it goes to.
#[derive(Default)]
pub(super) struct LayerCode {
    /// The layer's functions: forward and backward next to each other.
    items: TokenStream,
    fields: Vec<Field>,
    /// Its statement in the workspace forward pass (`training` in scope).
    forward: TokenStream,
    /// Its statement in the workspace backward pass (`training` in scope).
    backward: TokenStream,
    /// Its statement in `predict` (eval mode, one sample on the stack).
    predict: TokenStream,
    /// Its statement in `predict_sample` (stochastic layers draw from `rng`).
    sample: TokenStream,
    /// Draws its masks or noise from `rng` into its fields.
    resample: TokenStream,
    /// The field holding its last masks or noise, for the test hook.
    noise_hook: Option<Ident>,
}

fn layer_code(ctx: &Ctx<'_>, step: &Step<'_>) -> Result<LayerCode, Diagnostic> {
    match &step.layer.op {
        Op::Dense { .. } => dense::code(ctx, step),
        Op::Activation(a) => elementwise::activation(ctx, step, *a),
        Op::Dropout { p, rescale } => elementwise::dropout(ctx, step, *p, *rescale),
        Op::GaussianNoise { sigma } => elementwise::noise(ctx, step, *sigma),
        Op::BatchNorm { eps, momentum } => batchnorm::code(ctx, step, *eps, *momentum),
        Op::Conv { .. } => conv::code(ctx, step),
        Op::MaxPool(_) | Op::AvgPool(_) | Op::GlobalAvgPool | Op::FractionalMaxPool { .. } => {
            pool::code(ctx, step)
        }
        Op::Residual { stochastic_depth, .. } => residual::code(ctx, step, *stochastic_depth),
        _ => Err(Diagnostic::error(
            step.layer.span,
            "internal error: unsupported layer reached the emitter",
        )),
    }
}

/// One loss: its target type, the checks of its targets and the call adding it to the data loss.
struct LossCode {
    target_ty: TokenStream,
    checks: TokenStream,
    call: TokenStream,
    /// The call on the soft target rows of an augmented batch (`self.soft_targets`).
    soft_call: TokenStream,
    doc: String,
    target_doc: String,
}

fn loss_code(
    ctx: &Ctx<'_>,
    name_str: &str,
    out: &Output<'_>,
    targets: &TokenStream,
    argument: &str,
) -> Result<LossCode, Diagnostic> {
    let p = &ctx.p;
    let batch = ctx.batch;
    let w = usize_lit(out.width);
    let rows = match out.buf {
        Buf::Input => quote!(inputs.as_chunks::<#w>().0),
        Buf::Act(i) => {
            let f = act_field(i);
            quote!(self.#f.as_chunks::<#w>().0)
        }
    };
    let grad = match out.buf {
        Buf::Input => quote!(self.grad_input.as_chunks_mut::<#w>().0),
        Buf::Act(i) => {
            let f = grad_field(i);
            quote!(self.#f.as_chunks_mut::<#w>().0)
        }
    };
    let weight = f32_tokens(out.loss.weight, "the loss weight", out.loss.span)?;
    let soft = quote!(self.soft_targets.as_chunks::<#w>().0);
    let soft_call = match out.loss.kind {
        LossKind::SoftmaxCrossEntropy => {
            quote!(#p::softmax_cross_entropy_soft(#rows, #soft, #weight, #grad))
        }
        LossKind::Mse => quote!(#p::mse(#rows, #soft, #weight, #grad)),
        LossKind::BinaryCrossEntropy => {
            quote!(#p::binary_cross_entropy_with_logits(#rows, #soft, #weight, #grad))
        }
    };
    let (target_ty, len, formula, call, doc, target_doc) = match out.loss.kind {
        LossKind::SoftmaxCrossEntropy => (
            quote!(usize),
            batch,
            format!("BATCH = {batch}"),
            quote!(#p::softmax_cross_entropy(#rows, #targets, #weight, #grad)),
            "softmax cross-entropy on the logits (PyTorch `CrossEntropyLoss`, mean over the batch)",
            format!(
                "`{argument}` holds one class index per sample (`BATCH` values, each below {})",
                out.width
            ),
        ),
        LossKind::Mse => (
            quote!(f32),
            batch * out.width,
            format!(
                "BATCH * {} = {batch} * {}",
                if out.head.is_some() { "WIDTH" } else { "OUTPUT" },
                out.width
            ),
            quote!(#p::mse(#rows, #targets.as_chunks::<#w>().0, #weight, #grad)),
            "mean squared error over all values (PyTorch `MSELoss`)",
            format!("`{argument}` holds `BATCH * {}` values, sample after sample", out.width),
        ),
        LossKind::BinaryCrossEntropy => (
            quote!(f32),
            batch * out.width,
            format!(
                "BATCH * {} = {batch} * {}",
                if out.head.is_some() { "WIDTH" } else { "OUTPUT" },
                out.width
            ),
            quote!(#p::binary_cross_entropy_with_logits(#rows, #targets.as_chunks::<#w>().0, #weight, #grad)),
            "binary cross-entropy on the logits, mean over all values (PyTorch `BCEWithLogitsLoss`)",
            format!(
                "`{argument}` holds `BATCH * {}` probabilities in [0, 1], sample after sample",
                out.width
            ),
        ),
    };
    let len = usize_lit(len);
    let mut checks =
        quote!(#p::check_len(#name_str, method, #argument, #targets.len(), #len, #formula)?;);
    if out.loss.kind == LossKind::SoftmaxCrossEntropy {
        checks.extend(quote!(#p::check_labels(#name_str, method, #targets, #w)?;));
    }
    Ok(LossCode { target_ty, checks, call, soft_call, doc: doc.to_string(), target_doc })
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
    let ctx = Ctx { net, p: p.clone(), kernels: quote!(#p::kernels), batch };
    if plan.outputs.is_empty() {
        return Err(vec![Diagnostic::error(net.span, "the network has no `loss`")]);
    }
    let heads = !net.heads.is_empty();

    let input_w = net.input.len();
    let output_w: usize = plan.outputs.iter().map(|o| o.width).sum();
    let param_count = net.param_count();
    let buffer_count = net.buffer_count();
    let counter_count: usize =
        net.buffers.iter().filter(|b| b.kind == BufferKind::NumBatchesTracked).map(|b| b.len).sum();
    let (input_lit, output_lit, batch_lit) =
        (usize_lit(input_w), usize_lit(output_w), usize_lit(batch));
    let (param_count_lit, buffer_count_lit, counter_count_lit) =
        (usize_lit(param_count), usize_lit(buffer_count), usize_lit(counter_count));

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
        match loss_code(&ctx, name_str, out, &targets, &argument) {
            Ok(code) => losses.push(code),
            Err(d) => errors.push(d),
        }
    }

    // Activity penalties: a * sum|y| / BATCH into the loss, a sign(y) / BATCH into dL/dy.
    let mut activity_body = TokenStream::new();
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
        activity_body.extend(match buf {
            Buf::Input => quote! {
                penalty += #p::l1_activity(inputs, ::core::option::Option::None, #a, #batch_lit);
            },
            Buf::Act(i) => {
                let (f, g) = (act_field(i), grad_field(i));
                quote! {
                    penalty += #p::l1_activity(&self.#f, ::core::option::Option::Some(&mut self.#g), #a, #batch_lit);
                }
            }
        });
    }

    // Penalties on parameters, into the loss and the gradient.
    let mut penalty_body = TokenStream::new();
    for param in &net.params {
        let (start, end) = (usize_lit(param.offset), usize_lit(param.offset + param.len));
        let what = format!("the penalty coefficient on `{}`", param.name);
        if let Some(a) = param.l2 {
            let a = ok(&mut errors, f32_tokens(a, &what, net.span));
            penalty_body.extend(quote!(
                penalty += #p::l2_penalty(&self.params[#start..#end], &mut self.grads[#start..#end], #a);
            ));
        }
        if let Some(a) = param.l1 {
            let a = ok(&mut errors, f32_tokens(a, &what, net.span));
            penalty_body.extend(quote!(
                penalty += #p::l1_penalty(&self.params[#start..#end], &mut self.grads[#start..#end], #a);
            ));
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }

    // Workspace fields: one activation buffer and its gradient per step, then the layers' own.
    let act_fields: Vec<Ident> = (0..plan.act_widths.len()).map(act_field).collect();
    let grad_fields: Vec<Ident> = (0..plan.act_widths.len()).map(grad_field).collect();
    let act_lens: Vec<Literal> = plan.act_widths.iter().map(|w| usize_lit(batch * w)).collect();
    let needs_grad_input = plan.outputs.iter().any(|o| o.buf == Buf::Input);
    let grad_input_len = usize_lit(batch * input_w);
    let grad_input_def = needs_grad_input.then(|| {
        quote! {
            /// dLoss/dinput rows: a loss reads the input directly.
            grad_input: ::std::vec::Vec<f32>,
        }
    });
    let grad_input_init =
        needs_grad_input.then(|| quote!(grad_input: ::std::vec![0.0f32; #grad_input_len],));
    let mut field_defs = TokenStream::new();
    let mut field_inits = TokenStream::new();
    for ((act, grad), len) in act_fields.iter().zip(&grad_fields).zip(&act_lens) {
        field_defs.extend(quote!(#act: ::std::vec::Vec<f32>, #grad: ::std::vec::Vec<f32>,));
        field_inits.extend(quote!(#act: ::std::vec![0.0; #len], #grad: ::std::vec![0.0; #len],));
    }
    for field in codes.iter().flat_map(|c| &c.fields) {
        let Field { name, ty, init, doc } = field;
        field_defs.extend(quote!(#[doc = #doc] #name: #ty,));
        field_inits.extend(quote!(#name: #init,));
    }

    let layer_items = codes.iter().map(|c| &c.items);
    let forward_body = codes.iter().map(|c| &c.forward);
    let backward_body = codes.iter().rev().map(|c| &c.backward);
    let resample_body = codes.iter().map(|c| &c.resample);
    let hooks: Vec<TokenStream> = plan
        .steps
        .iter()
        .zip(&codes)
        .filter_map(|(step, code)| {
            let field = code.noise_hook.as_ref()?;
            let layer = &step.layer.name;
            Some(quote!(#layer => ::core::option::Option::Some(&self.#field),))
        })
        .collect();
    let stochastic = !hooks.is_empty();
    let noise_body = if stochastic {
        quote! {
            match layer {
                #(#hooks)*
                _ => ::core::option::Option::None,
            }
        }
    } else {
        quote! {
            let _ = layer;
            ::core::option::Option::None
        }
    };

    // `ROWS` samples on the stack: eval (`predict_rows`) or one with fresh randomness
    // (`predict_sample`).
    let stack_acts: TokenStream = plan
        .act_widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let (f, w) = (act_field(i), usize_lit(*w));
            quote!(let mut #f = [[0.0f32; #w]; ROWS];)
        })
        .collect();
    // Sample `r`'s output.
    let assemble = |r: TokenStream| {
        let output = |buf: Buf| match buf {
            Buf::Input => quote!(input[#r]),
            Buf::Act(i) => {
                let f = act_field(i);
                quote!(#f[#r])
            }
        };
        if heads {
            let values = plan.outputs.iter().map(|o| output(o.buf));
            quote!(#output_struct { #(#head_fields: #values),* })
        } else {
            output(plan.outputs[0].buf)
        }
    };
    let (assemble_first, assemble_r) = (assemble(quote!(0)), assemble(quote!(r)));
    let predict_rows_lit = usize_lit(predict_rows(net, &plan));
    let predict_steps = codes.iter().map(|c| &c.predict);
    let sample_steps = codes.iter().map(|c| &c.sample);

    // Types of the API.
    let out_ty = if heads { quote!(#output_struct) } else { quote!([f32; #output_lit]) };
    let out_elem = if heads { quote!(#output_struct) } else { quote!(f32) };
    let out_elem_w = usize_lit(if heads { 1 } else { output_w });
    let targets_ty = if heads {
        quote!(#targets_struct<'_>)
    } else {
        let t = &losses[0].target_ty;
        quote!(&[#t])
    };
    let accessors: Vec<TokenStream> = if heads {
        head_fields.iter().map(|f| quote!(.#f)).collect()
    } else {
        vec![TokenStream::new()]
    };
    let zero_out =
        if heads { quote!(#output_struct::default()) } else { quote!([0.0f32; #output_lit]) };

    // Batch forward results copied out (`forward` in training mode).
    let copy_out = if heads {
        let rows = plan.outputs.iter().map(|o| {
            let w = usize_lit(o.width);
            match o.buf {
                Buf::Input => quote!(x_in[n]),
                Buf::Act(i) => {
                    let f = act_field(i);
                    quote!(self.#f.as_chunks::<#w>().0[n])
                }
            }
        });
        quote! {
            for (n, out) in outputs.iter_mut().enumerate() {
                *out = #output_struct { #(#head_fields: #rows),* };
            }
        }
    } else {
        match plan.outputs[0].buf {
            Buf::Input => quote!(outputs.copy_from_slice(inputs);),
            Buf::Act(i) => {
                let f = act_field(i);
                quote!(outputs.copy_from_slice(&self.#f);)
            }
        }
    };

    let output_rows =
        if heads { quote!(outputs) } else { quote!(outputs.as_chunks_mut::<#output_lit>().0) };
    let checks = losses.iter().map(|l| &l.checks);
    let loss_calls = losses.iter().map(|l| &l.call);
    let penalty_decl = if activity_body.is_empty() && penalty_body.is_empty() {
        quote!(let penalty = 0.0f64;)
    } else {
        quote!(let mut penalty = 0.0f64;)
    };
    let grad_input_fill = needs_grad_input.then(|| quote!(self.grad_input.fill(0.0);));

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
                    Self { #(#head_fields: [0.0; #widths]),* }
                }
            }

            #[doc = #targets_doc]
            #[derive(Clone, Copy, Debug)]
            pub struct #targets_struct<'a> {
                #(#[doc = #target_docs] pub #head_fields: &'a [#target_tys],)*
            }
        }
    });

    let inputs_len = usize_lit(batch * input_w);
    let inputs_formula = format!("BATCH * INPUT = {batch} * {input_w}");
    let outputs_len = usize_lit(batch * if heads { 1 } else { output_w });
    let outputs_formula = if heads {
        format!("BATCH = {batch}")
    } else {
        format!("BATCH * OUTPUT = {batch} * {output_w}")
    };
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
        losses[0].doc.clone()
    };
    let struct_doc = format!(
        "The `{name_str}` network generated by `netspec`: {input_w} input{inputs_s}, {output_w} output{outputs_s}, \
         {param_count} parameters, trained on mini-batches of {batch}.\n\n{layers_doc}\n\
         Loss: {loss_doc}.\n\n\
         The struct owns its parameters, their gradients, the batch-norm buffers, the dropout, \
         DropConnect and noise masks and the activations the backward pass needs, all allocated \
         once by [`{name_str}::new`]; no method but `new`, `fit_preprocess`, `save` and `load` allocates.\n\n\
         # Modes\n\n\
         Like a PyTorch module, the network starts in training mode ([`Self::set_training`], \
         [`Self::is_training`]). [`Self::loss_and_grad`] and [`Self::forward`] follow the mode; \
         [`Self::predict`], [`Self::predict_batch`] are always eval mode, [`Self::train_step`] \
         always training mode (the mode is left as it was). Training mode: dropout, DropConnect \
         and noise are applied, batch norm normalizes with the batch statistics and updates its \
         running statistics. Eval mode: dropout is the identity (`rescale test`: times 1-p), \
         DropConnect uses the mean network W, noise is off, batch norm uses its running statistics."
    );
    let new_doc = "Allocates every buffer and initializes the parameters as the spec says, in \
                   layout order (the same `rng` state always gives the same parameters); batch-norm \
                   buffers start as PyTorch's (running mean 0, running variance 1, 0 batches); the \
                   network is in training mode, its masks keep every unit and its noise is 0.";
    let target_doc = if heads {
        format!("`targets` holds one slice per head (see [`{name_str}Targets`])")
    } else {
        losses[0].target_doc.clone()
    };
    let loss_and_grad_doc = format!(
        "One mini-batch forward and backward in the current mode: overwrites the gradients (see \
         [`Self::grads`]) and returns the mean data loss plus every `penalty` term (both also in \
         [`Self::last_loss`]).\n\n\
         `inputs` holds `BATCH * INPUT` values, sample after sample; {target_doc}.\n\n\
         In training mode the dropout, DropConnect and noise layers use the masks of the last \
         [`Self::resample`] (or [`Self::train_step`], [`Self::forward`]) — so repeated calls see \
         the same network, as a gradient check needs — and batch norm updates its running \
         statistics, as PyTorch's forward does in `train()` mode.\n\n\
         # Errors\n\nA wrong `inputs` or `targets` length, or a class index out of range; nothing \
         is computed then and the gradients are left as they were."
    );
    let predict_batch_doc = if heads {
        "[`Self::predict`] for any number of samples: `inputs` holds `n * INPUT` values and \
         `outputs` receives `n` outputs.\n\n# Errors\n\nWhen `inputs` is not `outputs.len()` whole \
         samples; `outputs` is not written then."
    } else {
        "[`Self::predict`] for any number of samples: `inputs` holds `n * INPUT` values and \
         `outputs` receives `n * OUTPUT`.\n\n# Errors\n\nWhen `inputs` is not a whole number of \
         samples or `outputs` has not room for exactly their outputs; `outputs` is not written \
         then."
    };
    let mc_doc = if stochastic {
        "The mean of `k` stochastic forward passes of one sample (MC dropout, Gal and Ghahramani \
         2016): each pass draws its own dropout masks, DropConnect masks (per weight, for this \
         sample) and noise from `rng`; batch norm uses its running statistics. Outputs (logits \
         for the cross-entropy losses) are averaged as they are; average probabilities with \
         [`Self::predict_sample`] instead. `k = 0` counts as 1. [`Self::predict`] is the \
         weight-scaling approximation of the same ensemble."
    } else {
        "The mean of `k` stochastic forward passes of one sample; this network has no dropout, \
         DropConnect or noise, so every pass equals [`Self::predict`]."
    };

    let pipe = input_pipeline(net, &p, &plan, &losses);

    let counters_new = if counter_count > 0 {
        quote!(::std::vec![0i64; #counter_count_lit])
    } else {
        quote!(::std::vec::Vec::new())
    };

    let InputPipeline {
        fields: pipe_fields,
        inits: pipe_inits,
        one: pre_one,
        prepare,
        prepare_train,
        restore,
        soft,
        soft_calls,
        methods: pipe_methods,
        save: save_body,
        load: load_body,
    } = pipe;

    Ok(quote! {
        #head_types

        #[doc = #struct_doc]
        #[derive(Clone)]
        #[allow(dead_code)]
        pub struct #name {
            /// Every trainable value, laid out as [`Self::PARAMS`] says.
            params: ::std::vec::Vec<f32>,
            /// dLoss/dparams of the last `loss_and_grad`, same layout.
            grads: ::std::vec::Vec<f32>,
            /// Batch-norm running statistics, laid out as the f32 entries of [`Self::BUFFERS`].
            buffers: ::std::vec::Vec<f32>,
            /// Batch-norm `num_batches_tracked`, the i64 entries of [`Self::BUFFERS`].
            counters: ::std::vec::Vec<i64>,
            /// Training (`true`) or eval mode.
            training: bool,
            /// The parts of the last `loss_and_grad`.
            last_loss: #p::StepLoss,
            #grad_input_def
            #field_defs
            #pipe_fields
        }

        impl ::core::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name_str)
                    .field("param_count", &Self::PARAM_COUNT)
                    .field("training", &self.training)
                    .finish_non_exhaustive()
            }
        }

        // Init bounds such as sqrt(6/3) are computed values that clippy would mistake for
        // hand-typed approximations of its constants (SQRT_2, ...).
        // A program rarely calls every generated method (nor reads every field through them).
        #[allow(dead_code, clippy::approx_constant, clippy::excessive_precision)]
        impl #name {
            /// Values in one input sample.
            pub const INPUT: usize = #input_lit;
            /// Values in one output sample (logits for the cross-entropy losses; the sum over
            /// heads for a network with heads).
            pub const OUTPUT: usize = #output_lit;
            /// Samples in the mini-batch that `loss_and_grad` and `train_step` take.
            pub const BATCH: usize = #batch_lit;
            /// Trainable values: the length of [`Self::params`] and [`Self::grads`].
            pub const PARAM_COUNT: usize = #param_count_lit;
            /// f32 buffer values (batch-norm running statistics): the length of [`Self::buffers`].
            pub const BUFFER_COUNT: usize = #buffer_count_lit;
            /// The layout of the flat parameter buffer: PyTorch `state_dict` name, shape
            /// (`[out, in]` for weights), offset, length, role and initial distribution.
            pub const PARAMS: &'static [#p::ParamInfo] = &[#(#param_infos),*];
            /// The layout of the non-trainable buffers (PyTorch names; `num_batches_tracked`
            /// offsets index [`Self::counters`]).
            pub const BUFFERS: &'static [#p::BufferInfo] = &[#(#buffer_infos),*];

            #[doc = #new_doc]
            pub fn new(rng: &mut #p::Rng) -> Self {
                let mut params = ::std::vec![0.0f32; #param_count_lit];
                #p::init_params(&mut params, Self::PARAMS, rng)
                    .expect("the generated layout table matches the generated buffer");
                let mut buffers = ::std::vec![0.0f32; #buffer_count_lit];
                let mut counters = #counters_new;
                #p::reset_buffers(&mut buffers, &mut counters, Self::BUFFERS)
                    .expect("the generated buffer table matches the generated buffers");
                Self {
                    params,
                    grads: ::std::vec![0.0f32; #param_count_lit],
                    buffers,
                    counters,
                    training: true,
                    last_loss: #p::StepLoss::default(),
                    #grad_input_init
                    #field_inits
                    #pipe_inits
                }
            }

            /// The parameters, laid out as [`Self::PARAMS`] says.
            pub fn params(&self) -> &[f32] {
                &self.params
            }

            /// The parameters, to set them by hand or load them.
            pub fn params_mut(&mut self) -> &mut [f32] {
                &mut self.params
            }

            /// The gradients of the last [`Self::loss_and_grad`], laid out as the parameters.
            pub fn grads(&self) -> &[f32] {
                &self.grads
            }

            /// The batch-norm running means and variances, laid out as [`Self::BUFFERS`] says.
            pub fn buffers(&self) -> &[f32] {
                &self.buffers
            }

            /// The batch-norm running statistics, to set them by hand.
            pub fn buffers_mut(&mut self) -> &mut [f32] {
                &mut self.buffers
            }

            /// Each batch-norm layer's `num_batches_tracked` (training-mode forward passes).
            pub fn counters(&self) -> &[i64] {
                &self.counters
            }

            /// Sets training (`true`, PyTorch's `model.train()`) or eval mode (`model.eval()`).
            pub fn set_training(&mut self, training: bool) {
                self.training = training;
            }

            /// Whether the network is in training mode (PyTorch's `model.training`).
            pub fn is_training(&self) -> bool {
                self.training
            }

            /// The last [`Self::loss_and_grad`] (or [`Self::train_step`]) loss in parts: the
            /// data loss, the penalty terms and their sum.
            pub fn last_loss(&self) -> #p::StepLoss {
                self.last_loss
            }

            /// The output for one sample in eval mode; the activations live on the stack.
            pub fn predict(&self, input: &[f32; #input_lit]) -> #out_ty {
                let mut out = [#zero_out];
                self.predict_rows(::core::array::from_ref(input), &mut out);
                let [out] = out;
                out
            }

            /// Samples that [`Self::predict_batch`] runs through the layers at once, with their
            /// activations on the stack (at most 128 KiB of them).
            const PREDICT_ROWS: usize = #predict_rows_lit;

            /// The eval-mode outputs of `ROWS` samples, the activations on the stack; every
            /// sample's output is the same whatever `ROWS` is.
            fn predict_rows<const ROWS: usize>(&self, input: &[[f32; #input_lit]; ROWS], out: &mut [#out_ty; ROWS]) {
                #pre_one
                #stack_acts
                #(#predict_steps)*
                for (r, out) in out.iter_mut().enumerate() {
                    *out = #assemble_r;
                }
            }

            /// One stochastic forward pass of one sample: dropout, DropConnect and noise drawn
            /// from `rng` as while training (DropConnect with a mask of its own), batch norm with
            /// its running statistics. The mode is not used.
            pub fn predict_sample(&self, input: &[f32; #input_lit], rng: &mut #p::Rng) -> #out_ty {
                const ROWS: usize = 1;
                let _ = &rng;
                let input = ::core::array::from_ref(input);
                #pre_one
                #stack_acts
                #(#sample_steps)*
                #assemble_first
            }

            #[doc = #mc_doc]
            pub fn predict_mc(&self, input: &[f32; #input_lit], k: usize, rng: &mut #p::Rng) -> #out_ty {
                let mut mean = #zero_out;
                for _ in 0..k.max(1) {
                    let pass = self.predict_sample(input, rng);
                    #(
                        for (m, v) in mean #accessors.iter_mut().zip(pass #accessors) {
                            *m += v;
                        }
                    )*
                }
                let scale = 1.0 / k.max(1) as f32;
                #(
                    for m in mean #accessors.iter_mut() {
                        *m *= scale;
                    }
                )*
                mean
            }

            #[doc = #predict_batch_doc]
            pub fn predict_batch(&self, inputs: &[f32], outputs: &mut [#out_elem]) -> ::core::result::Result<(), #p::BatchError> {
                let samples = #p::check_samples(#name_str, inputs.len(), #input_lit, outputs.len(), #out_elem_w)?;
                let (x, _) = inputs.as_chunks::<#input_lit>();
                let (x, y) = (&x[..samples], &mut #output_rows[..samples]);
                let (x_full, x_rest) = x.as_chunks::<{ Self::PREDICT_ROWS }>();
                let (y_full, y_rest) = y.as_chunks_mut::<{ Self::PREDICT_ROWS }>();
                for (x, y) in x_full.iter().zip(y_full) {
                    self.predict_rows(x, y);
                }
                for (x, y) in x_rest.iter().zip(y_rest) {
                    self.predict_rows(::core::array::from_ref(x), ::core::array::from_mut(y));
                }
                ::core::result::Result::Ok(())
            }

            /// The forward pass PyTorch's `model(inputs)` makes, in the current mode. Training
            /// mode: exactly one mini-batch (`BATCH * INPUT` values), fresh masks and noise from
            /// `rng` (kept for a following [`Self::loss_and_grad`]), batch statistics, running
            /// statistics updated. Eval mode: [`Self::predict_batch`], any number of samples,
            /// `rng` unused.
            ///
            /// # Errors
            ///
            /// Wrong `inputs` or `outputs` lengths; nothing is computed or drawn then.
            pub fn forward(&mut self, inputs: &[f32], outputs: &mut [#out_elem], rng: &mut #p::Rng) -> ::core::result::Result<(), #p::BatchError> {
                if !self.training {
                    return self.predict_batch(inputs, outputs);
                }
                #p::check_len(#name_str, "forward", "inputs", inputs.len(), #inputs_len, #inputs_formula)?;
                #p::check_len(#name_str, "forward", "outputs", outputs.len(), #outputs_len, #outputs_formula)?;
                self.resample(rng);
                #prepare
                self.forward_workspace(x_in, true);
                #restore
                #copy_out
                ::core::result::Result::Ok(())
            }

            /// Draws new dropout masks, DropConnect masks (one per weight for the mini-batch)
            /// and noise from `rng`, layer after layer and value after value, for the next
            /// training-mode [`Self::loss_and_grad`]. [`Self::train_step`] and
            /// [`Self::forward`] call it.
            pub fn resample(&mut self, rng: &mut #p::Rng) {
                let _ = &rng;
                #(#resample_body)*
            }

            /// Test hook: the masks (dropout: 0 or the kept-unit scale per sample and unit;
            /// DropConnect: per weight) or noise that layer `layer` uses while training.
            #[doc(hidden)]
            pub fn __noise(&self, layer: &str) -> ::core::option::Option<&[f32]> {
                #noise_body
            }

            /// Checks one mini-batch's lengths and labels before anything is computed.
            fn check_batch(method: &'static str, inputs: &[f32], targets: #targets_ty) -> ::core::result::Result<(), #p::BatchError> {
                #p::check_len(#name_str, method, "inputs", inputs.len(), #inputs_len, #inputs_formula)?;
                #(#checks)*
                ::core::result::Result::Ok(())
            }

            #[doc = #loss_and_grad_doc]
            pub fn loss_and_grad(&mut self, inputs: &[f32], targets: #targets_ty) -> ::core::result::Result<f32, #p::BatchError> {
                Self::check_batch("loss_and_grad", inputs, targets)?;
                #prepare
                let loss = self.loss_and_grad_rows(x_in, inputs, targets, false);
                #restore
                ::core::result::Result::Ok(loss)
            }

            /// [`Self::loss_and_grad`] on checked and prepared (augmented, preprocessed) rows;
            /// `soft`: the targets are the soft rows of the last augmentation.
            fn loss_and_grad_rows(&mut self, x_in: &[[f32; #input_lit]], inputs: &[f32], targets: #targets_ty, soft: bool) -> f32 {
                let _ = (inputs, soft);
                let training = self.training;
                self.grads.fill(0.0);
                self.forward_workspace(x_in, training);
                #(self.#grad_fields.fill(0.0);)*
                #grad_input_fill
                let data_loss: f64 = if soft { 0.0 #(+ #soft_calls)* } else { 0.0 #(+ #loss_calls)* };
                #penalty_decl
                #activity_body
                self.backward_workspace(x_in, training);
                #penalty_body
                self.last_loss = #p::StepLoss {
                    data: data_loss as f32,
                    penalty: penalty as f32,
                    total: (data_loss + penalty) as f32,
                };
                self.last_loss.total
            }

            /// [`Self::resample`], [`Self::loss_and_grad`] in training mode (whatever the mode;
            /// it is left as it was), then one optimizer step on the parameters; returns the
            /// loss before the step, data plus penalties ([`Self::last_loss`] has the parts).
            ///
            /// # Errors
            ///
            /// As [`Self::loss_and_grad`]; nothing is changed or drawn then.
            pub fn train_step(
                &mut self,
                inputs: &[f32],
                targets: #targets_ty,
                optimizer: &mut impl #p::Optimizer,
                rng: &mut #p::Rng,
            ) -> ::core::result::Result<f32, #p::BatchError> {
                Self::check_batch("loss_and_grad", inputs, targets)?;
                self.resample(rng);
                let mode = ::core::mem::replace(&mut self.training, true);
                #prepare_train
                let loss = self.loss_and_grad_rows(x_in, inputs, targets, #soft);
                #restore
                self.training = mode;
                optimizer.step(&mut self.params, &self.grads);
                ::core::result::Result::Ok(loss)
            }

            /// Every layer forward over the workspace, `training` or eval.
            fn forward_workspace(&mut self, x_in: &[[f32; #input_lit]], training: bool) {
                let _ = (x_in, training);
                #(#forward_body)*
            }

            /// Every layer backward, last to first: parameter gradients into `grads`, each
            /// input gradient added to its buffer's (the losses' gradients are in place).
            fn backward_workspace(&mut self, x_in: &[[f32; #input_lit]], training: bool) {
                let _ = (x_in, training);
                #(#backward_body)*
            }

            /// Writes the parameters and batch-norm buffers to a safetensors file with PyTorch's
            /// names, shapes and dtypes (`num_batches_tracked` as i64), so
            /// `model.load_state_dict(safetensors.torch.load_file(path))` accepts it.
            ///
            /// # Errors
            ///
            /// When the file cannot be written.
            pub fn save(&self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), #p::CheckpointError> {
                let state = #p::State {
                    params_layout: Self::PARAMS,
                    params: &self.params,
                    buffers_layout: Self::BUFFERS,
                    buffers: &self.buffers,
                    counters: &self.counters,
                };
                #save_body
            }

            /// Reads parameters and buffers saved by [`Self::save`] (or from PyTorch's
            /// `state_dict` with the same names and shapes).
            ///
            /// # Errors
            ///
            /// When the file is missing, corrupt, or holds other tensors, shapes or types than
            /// this network's; nothing is changed then.
            pub fn load(&mut self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), #p::CheckpointError> {
                #load_body
            }

            #pipe_methods

            #(#layer_items)*
        }
    })
}

/// Stack bytes `predict_batch` may give one chunk of samples' activations.
const PREDICT_STACK_BYTES: usize = 128 * 1024;

/// Samples per `predict_batch` chunk: the largest power of two up to 32 whose activations (and
/// preprocessed inputs and pooling argmaxes) fit in [`PREDICT_STACK_BYTES`], at least 1. The
/// batched layer kernels share each weight load across the chunk's rows.
fn predict_rows(net: &ir::Network, plan: &Plan<'_>) -> usize {
    let per_sample: usize = plan.act_widths.iter().sum::<usize>()
        + if net.preprocess.is_some() { net.input.len() } else { 0 }
        + plan
            .steps
            .iter()
            .filter(|s| matches!(s.layer.op, Op::MaxPool(_) | Op::FractionalMaxPool { .. }))
            .map(|s| s.width_out)
            .sum::<usize>();
    let bytes = 4 * per_sample.max(1);
    let mut rows = 1;
    while rows < 32 && 2 * rows * bytes <= PREDICT_STACK_BYTES {
        rows *= 2;
    }
    rows
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
    let (offset, len) = (usize_lit(buffer.offset), usize_lit(buffer.len));
    let kind = match buffer.kind {
        BufferKind::RunningMean => quote!(RunningMean),
        BufferKind::RunningVar => quote!(RunningVar),
        BufferKind::NumBatchesTracked => quote!(NumBatchesTracked),
    };
    quote! {
        #p::BufferInfo {
            name: #name,
            shape: &[#(#shape),*],
            offset: #offset,
            len: #len,
            kind: #p::BufferKind::#kind,
        }
    }
}
fn param_info(param: &ir::Param, span: Span, p: &TokenStream) -> Result<TokenStream, Diagnostic> {
    let name = &param.name;
    let shape = param.shape.iter().map(|d| usize_lit(*d));
    let (offset, len) = (usize_lit(param.offset), usize_lit(param.len));
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
            quote!(#p::Init::Uniform { lo: #lo, hi: #hi })
        }
        ir::Init::Normal { mean, std } => {
            let (mean, std) =
                (f32_tokens(mean, &what("mean"), span)?, f32_tokens(std, &what("std"), span)?);
            quote!(#p::Init::Normal { mean: #mean, std: #std })
        }
        ir::Init::Orthogonal { gain } => {
            let gain = f32_tokens(gain, &what("gain"), span)?;
            quote!(#p::Init::Orthogonal { gain: #gain })
        }
    };
    let fan_in = usize_lit(param.fans.map_or(0, |f| f.fan_in));
    Ok(quote! {
        #p::ParamInfo {
            name: #name,
            shape: &[#(#shape),*],
            offset: #offset,
            len: #len,
            role: #p::Role::#role,
            init: #init,
            fan_in: #fan_in,
        }
    })
}
