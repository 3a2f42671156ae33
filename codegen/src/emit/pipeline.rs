//! The input pipeline: `preprocess` (fitted on training rows, applied by every forward pass,
//! saved with the checkpoint) and `augment` (in `train_step` only, on the raw inputs before
//! preprocessing, as torchvision's transforms: augment, then normalize). The runtime applies
//! both to `Core::input`, a copy of the caller's inputs; the code here names them.

use netspec_grammar::ir::{self, Augmentation, LossKind, PreprocessKind};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::predict::Region;
use super::{Plan, usize_lit};

/// The pipeline's tokens, in the places of the network they go to.
pub(super) struct InputPipeline {
    /// `PREPROCESS` and `AUGMENT`, the constants the runtime builds the pipeline from.
    pub(super) consts: TokenStream,
    /// `predict_fixed`, `predict_sample`: `input` (`ROWS` samples) rebound to its
    /// preprocessed copy, and the region holding that copy.
    pub(super) predict: Option<(TokenStream, Region)>,
    /// Whether `train_step` augments (and the losses read the soft targets).
    pub(super) augment: bool,
    /// The `augment` method.
    pub(super) methods: TokenStream,
}

fn f64_lit(v: f64) -> Literal {
    Literal::f64_unsuffixed(v)
}

/// The runtime's `PreprocessKind` variant of a `preprocess` statement.
pub(super) fn preprocess_kind(kind: PreprocessKind) -> TokenStream {
    match kind {
        PreprocessKind::MeanSubtractPerPixel => quote!(MeanSubtractPerPixel),
        PreprocessKind::MeanSubtractPerChannel => quote!(MeanSubtractPerChannel),
        PreprocessKind::StandardizePerChannel => quote!(StandardizePerChannel),
        PreprocessKind::StandardizePerFeature => quote!(StandardizePerFeature),
        PreprocessKind::WhitenPca => quote!(WhitenPca),
    }
}

pub(super) fn input_pipeline(net: &ir::Network, p: &TokenStream, plan: &Plan<'_>) -> InputPipeline {
    let mut out = InputPipeline {
        consts: TokenStream::new(),
        predict: None,
        augment: !net.augment.is_empty(),
        methods: TokenStream::new(),
    };
    if let Some(pre) = net.preprocess {
        let kind = preprocess_kind(pre.kind);
        let eps = f64_lit(pre.eps);
        out.consts.extend(quote! {
            const PREPROCESS: ::core::option::Option<(#p::PreprocessKind, f64)> =
                ::core::option::Option::Some((#p::PreprocessKind::#kind, #eps));
        });
        let preprocessed = format_ident!("preprocessed");
        let statement = quote! {
            #preprocessed.copy_from_slice(input);
            if let ::core::option::Option::Some(pre) = &self.core.preprocess {
                for x in #preprocessed.iter_mut() {
                    pre.apply(x);
                }
            }
            let input = &*#preprocessed;
        };
        out.predict = Some((statement, Region::f32_rows(preprocessed, net.input.len())));
    }
    if out.augment {
        let ops = net.augment.iter().map(|a| match *a {
            Augmentation::Translate { pixels } => {
                let n = usize_lit(pixels);
                quote!(#p::Augmentation::Translate { pixels: #n })
            }
            Augmentation::FlipHorizontal => quote!(#p::Augmentation::FlipHorizontal),
            Augmentation::FlipVertical => quote!(#p::Augmentation::FlipVertical),
            Augmentation::Rotate { degrees } => {
                let d = f64_lit(degrees);
                quote!(#p::Augmentation::Rotate { degrees: #d })
            }
            Augmentation::GaussianNoise { sigma } => {
                let s = f64_lit(sigma);
                quote!(#p::Augmentation::GaussianNoise { sigma: #s })
            }
            Augmentation::Cutout { size } => {
                let n = usize_lit(size);
                quote!(#p::Augmentation::Cutout { size: #n })
            }
            Augmentation::Mixup { alpha } => {
                let a = f64_lit(alpha);
                quote!(#p::Augmentation::Mixup { alpha: #a })
            }
            Augmentation::Cutmix { alpha } => {
                let a = f64_lit(alpha);
                quote!(#p::Augmentation::Cutmix { alpha: #a })
            }
        });
        out.consts.extend(quote! {
            const AUGMENT: &'static [#p::Augmentation] = &[#(#ops),*];
        });
        let mix = if plan.outputs[0].loss.kind == LossKind::SoftmaxCrossEntropy {
            quote!(augment_labels)
        } else {
            quote!(augment_values)
        };
        out.methods = quote! {
            fn augment(&mut self, targets: Self::Targets<'_>, rng: &mut #p::Rng) {
                self.core.#mix(targets, rng);
            }
        };
    }
    out
}
