//! `predict_fixed`: the eval-mode forward pass over a chunk of `ROWS` samples (or one sample's
//! pass drawing from `rng`, for `predict_sample`), behind `predict`, `predict_batch` and
//! `predict_sample`.
//!
//! Its working memory is every layer's output rows plus the layers' regions (scratch the layer
//! declares) and one scratch shared by the layers that run sample by sample (a conv's im2col
//! columns). `netspec_grammar::memory::predict_memory` decides where it lives: arrays on the
//! stack, or a per-thread heap workspace for networks past the stack budget. Either way each
//! region is bound to a local `&mut` fixed-size array, so the layers' statements are the same.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir;
use netspec_grammar::memory::{PredictMemory, Workspace, predict_memory};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{LayerCode, Plan, act_field, usize_lit};

/// A per-sample region of predict's working memory a layer uses, bound to `name` as
/// `&mut [[T; width]; ROWS]`.
pub(super) struct Region {
    name: Ident,
    width: usize,
    elem: Elem,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Elem {
    F32,
    U32,
}

impl Region {
    /// `width` f32 values per sample (zeros on the stack, the last call's values in the heap
    /// workspace: the layer writes them before it reads them).
    pub(super) fn f32_rows(name: Ident, width: usize) -> Region {
        Region { name, width, elem: Elem::F32 }
    }

    /// `width` u32 values per sample (as [`Region::f32_rows`]).
    pub(super) fn u32_rows(name: Ident, width: usize) -> Region {
        Region { name, width, elem: Elem::U32 }
    }
}

/// The local bound to the shared scratch, `&mut [f32; LEN]` with `LEN` the largest
/// [`LayerCode::shared_scratch`].
pub(super) fn shared_scratch() -> Ident {
    format_ident!("shared_scratch")
}

/// `predict_fixed` itself and the number of rows `predict_rows` gives it per chunk.
pub(super) struct Predict {
    pub(super) method: TokenStream,
    pub(super) rows: usize,
}

/// What `predict_fixed`'s signature and body are made of, besides the layers.
pub(super) struct Signature {
    pub(super) p: TokenStream,
    pub(super) input_lit: proc_macro2::Literal,
    pub(super) out_ty: TokenStream,
    /// `, mut rng: Option<&mut Rng>` for a stochastic network, else empty.
    pub(super) rng_param: TokenStream,
    /// Whether `rng` draws anything (the doc says so).
    pub(super) stochastic: bool,
    /// The preprocessing statement (reads `input`, fills the `preprocessed` region, rebinds
    /// `input`), and its region.
    pub(super) preprocess: Option<(TokenStream, Region)>,
    /// Sample `r`'s output from the layers' rows.
    pub(super) assemble_r: TokenStream,
    /// For a frozen network: always on the stack (no heap there), and a network with
    /// stochastic layers runs them in eval mode (`rng` is `None`).
    pub(super) frozen: bool,
}

pub(super) fn predict_fixed(
    net: &ir::Network,
    plan: &Plan<'_>,
    codes: &[LayerCode],
    sig: Signature,
) -> Result<Predict, Diagnostic> {
    let Signature { p, input_lit, out_ty, rng_param, stochastic, preprocess, assemble_r, frozen } =
        sig;
    let (pre_statement, pre_region) = preprocess.unzip();
    let outputs: Vec<Region> =
        plan.buffers.iter().map(|(layer, w)| Region::f32_rows(act_field(layer), *w)).collect();
    let regions: Vec<&Region> = outputs
        .iter()
        .chain(pre_region.as_ref())
        .chain(codes.iter().flat_map(|c| &c.regions))
        .collect();
    let per_row = |elem| regions.iter().filter(|r| r.elem == elem).map(|r| r.width).sum::<usize>();
    let shared = codes.iter().map(|c| c.shared_scratch).max().unwrap_or(0);

    // The grammar's figures (the summary's, and the stack-or-heap decision) must be this code's.
    let memory = predict_memory(net);
    let declared = (per_row(Elem::F32), per_row(Elem::U32), shared);
    if declared != (memory.f32s_per_row, memory.u32s_per_row, memory.shared_f32s) {
        return Err(Diagnostic::error(
            net.span,
            format!(
                "internal error: predict declares (f32 per row, u32 per row, shared f32) =                  {declared:?}, but the memory model says {memory:?}"
            ),
        ));
    }

    let workspace = if frozen { Workspace::Stack } else { memory.workspace };
    let declarations = match workspace {
        Workspace::Stack => stack_declarations(&regions, shared),
        Workspace::Heap => heap_declarations(&p, &regions, &memory),
    };
    let no_rng = (frozen && stochastic).then(|| {
        quote!(let mut rng: ::core::option::Option<&mut #p::Rng> = ::core::option::Option::None;)
    });
    let steps = codes.iter().map(|c| &c.predict);
    let body = quote! {
        #declarations
        #no_rng
        #pre_statement
        #(#steps)*
        for (r, out) in out.iter_mut().enumerate() {
            *out = #assemble_r;
        }
    };
    let body = match workspace {
        Workspace::Stack => body,
        Workspace::Heap => quote! {
            ::std::thread_local! {
                static WORKSPACE: ::core::cell::RefCell<#p::PredictWorkspace> =
                    const { ::core::cell::RefCell::new(#p::PredictWorkspace::new()) };
            }
            WORKSPACE.with_borrow_mut(|workspace| { #body });
        },
    };
    let doc = if frozen { frozen_doc(&memory) } else { doc(&memory, stochastic) };
    let method = quote! {
        #[doc = #doc]
        fn predict_fixed<const ROWS: usize>(&self, input: &[[f32; #input_lit]; ROWS], out: &mut [#out_ty; ROWS] #rng_param) {
            #body
        }
    };
    Ok(Predict { method, rows: memory.rows })
}

fn stack_declarations(regions: &[&Region], shared: usize) -> TokenStream {
    let mut out: TokenStream = regions
        .iter()
        .map(|Region { name, width, elem }| {
            let (w, zero) = (usize_lit(*width), zero(*elem));
            quote!(let #name = &mut [[#zero; #w]; ROWS];)
        })
        .collect();
    if shared > 0 {
        let (name, len) = (shared_scratch(), usize_lit(shared));
        out.extend(quote!(let #name = &mut [0.0f32; #len];));
    }
    out
}

/// The regions taken one after the other from the workspace's values, sized by
/// `memory` (checked equal to the regions' sums).
fn heap_declarations(p: &TokenStream, regions: &[&Region], memory: &PredictMemory) -> TokenStream {
    let (f32s, u32s) = (usize_lit(memory.f32s_per_row), usize_lit(memory.u32s_per_row));
    let shared_len = usize_lit(memory.shared_f32s);
    // No u32 values is a literal 0, not `ROWS * 0` (clippy's erasing_op in generated code).
    let (bindings, u32s_len) = if memory.u32s_per_row > 0 {
        (quote!((mut f32s, mut u32s)), quote!(ROWS * #u32s))
    } else {
        (quote!((mut f32s, _)), quote!(0))
    };
    let mut out = quote!(let #bindings = workspace.values(ROWS * #f32s + #shared_len, #u32s_len););
    for Region { name, width, elem } in regions {
        let w = usize_lit(*width);
        out.extend(match elem {
            Elem::F32 => quote!(let #name = #p::take_rows::<f32, #w, ROWS>(&mut f32s);),
            Elem::U32 => quote!(let #name = #p::take_rows::<u32, #w, ROWS>(&mut u32s);),
        });
    }
    if memory.shared_f32s > 0 {
        let name = shared_scratch();
        out.extend(quote!(let #name = #p::take_array::<f32, #shared_len>(&mut f32s);));
    }
    out
}

fn zero(elem: Elem) -> TokenStream {
    match elem {
        Elem::F32 => quote!(0.0f32),
        Elem::U32 => quote!(0u32),
    }
}

fn frozen_doc(memory: &PredictMemory) -> String {
    format!(
        " The outputs of `ROWS` samples, their activations and scratch on the stack ({} bytes \
         for one sample), in eval mode.",
        memory.chunk_bytes(1)
    )
}

fn doc(memory: &PredictMemory, stochastic: bool) -> String {
    let kib = |bytes: usize| bytes.div_ceil(1024);
    let place = match memory.workspace {
        Workspace::Stack => format!(
            "on the stack ({} KiB for a chunk of {} samples, {} KiB for one)",
            kib(memory.bytes()),
            memory.rows,
            kib(memory.chunk_bytes(1))
        ),
        Workspace::Heap => format!(
            "in a heap workspace kept per thread ({} KiB for a chunk of {} samples), allocated by              the thread's first call",
            kib(memory.bytes()),
            memory.rows
        ),
    };
    let mode = if stochastic {
        "eval mode without `rng`, every sample's output the same whatever `ROWS` is; with `rng`          (`predict_sample`, one sample) dropout, DropConnect and noise draw from it"
    } else {
        "eval mode; every sample's output is the same whatever `ROWS` is"
    };
    format!(" The outputs of `ROWS` samples, their activations and scratch {place}: {mode}.")
}
