//! Unsupported constructs and spec errors become located diagnostics and `compile_error!`s,
//! never panics.

use netspec_codegen::{Config, expand_macro, generate_source};
use proc_macro2::{TokenStream, TokenTree};

fn errors(spec: &str) -> Vec<netspec_codegen::Diagnostic> {
    generate_source(spec, &Config::default()).expect_err("the spec must be refused")
}

#[test]
fn image_layers_residuals_and_the_input_pipeline_are_generated() {
    let spec = "network Cnn { input image(1, 8, 8); preprocess standardize per_channel; \
                augment { flip horizontal; mixup 0.2; } conv 4 kernel 3; relu; maxpool 2; \
                residual stochastic_depth 0.1 { conv 4 kernel 3 pad 1; } avgpool 1; \
                fractional_maxpool 1.5; global_avgpool; dense 3; loss softmax_cross_entropy; }";
    assert!(generate_source(spec, &Config::default()).is_ok());
    let spec = "network H { input 4; dense 8; relu; residual { dense 8; } \
                head a { dense 2; loss softmax_cross_entropy; } head b { dense 1; loss mse; } }";
    assert!(generate_source(spec, &Config::default()).is_ok());
}

#[test]
fn augmentation_with_heads_is_reported_at_the_block() {
    let spec = "network P { input 4; preprocess standardize per_feature; augment { noise gaussian 0.1; } \
                dense 2; relu; head a { dense 2; loss mse; } head b { dense 1; loss mse; } }";
    let errs = errors(spec);
    let at: Vec<(&str, &str)> =
        errs.iter().map(|d| (&spec[d.span.start..d.span.end], d.message.as_str())).collect();
    assert_eq!(
        at,
        [(
            "augment { noise gaussian 0.1; }",
            "`augment` with `head` is not supported by the code generator yet"
        )]
    );
    assert!(errs.iter().all(|d| d.help.is_some()));
    // The checker refuses it, so `netspec check` reports what the build would.
    assert_eq!(netspec_grammar::check_source(spec).unwrap_err(), errs);
}

#[test]
fn batch_norm_over_one_value_is_refused() {
    // PyTorch: "Expected more than 1 value per channel when training".
    let spec = "network B { input 4; batch 1; batchnorm; dense 2; loss mse; }";
    let errs = errors(spec);
    assert_eq!(&spec[errs[0].span.start..errs[0].span.end], "batchnorm;");
    assert!(errs[0].message.contains("more than 1 value per channel"), "{errs:?}");
    assert_eq!(netspec_grammar::check_source(spec).unwrap_err(), errs);
}

#[test]
fn the_digits_cnn_spec_is_generated() {
    let spec = include_str!("../../specs/digits_cnn.nn");
    assert!(generate_source(spec, &Config::default()).is_ok());
}

#[test]
fn a_bad_runtime_path_is_an_error() {
    let spec = "network Xor { input 2; dense 1; loss mse; }";
    let errs = generate_source(spec, &Config::new().runtime_path("::netspec::(")).unwrap_err();
    assert!(errs[0].message.contains("is not a Rust path"));
}

/// The `compile_error!` invocations of an expansion: (line, column) of their first token, and
/// the message.
fn compile_errors(out: &TokenStream) -> Vec<((usize, usize), String)> {
    let tokens: Vec<TokenTree> = out.clone().into_iter().collect();
    let mut found = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if let TokenTree::Ident(ident) = t
            && ident == "compile_error"
            && let Some(TokenTree::Group(group)) = tokens.get(i + 2)
        {
            let start = tokens[i - 3].span().start();
            let message = group.stream().to_string();
            found.push(((start.line, start.column), message));
        }
    }
    found
}

#[test]
fn macro_errors_point_at_the_tokens_and_leave_a_skeleton() {
    // Line 2, column 8 is `conv`; line 3, column 8 is the misspelt `relux`.
    let input: TokenStream =
        "network Cnn {\n    input 4;\n    relux;\n    dense 2; loss mse; }".parse().unwrap();
    let out = expand_macro(input, &Config::default());
    let errs = compile_errors(&out);
    // The error, then its help at the same tokens (rustc prints it below the error's location).
    assert_eq!(errs.len(), 2, "{out}");
    assert_eq!(errs[0].0, (3, 4), "{errs:?}");
    assert!(errs[0].1.contains("relux"), "{errs:?}");
    assert_eq!(errs[1].0, (3, 4), "{errs:?}");
    assert!(errs[1].1.starts_with("\"help: did you mean `relu`?"), "{errs:?}");
    assert!(out.to_string().contains("pub struct Cnn ;"), "{out}");

    let input: TokenStream =
        "network Cnn {\n    input image(1, 4, 4);\n    augment { flip horizontal; }\n    flatten; \
         head a { dense 2; loss mse; } head b { dense 1; loss mse; } }"
            .parse()
            .unwrap();
    let out = expand_macro(input, &Config::default());
    let errs = compile_errors(&out);
    assert_eq!(errs.len(), 2, "{out}");
    assert_eq!(errs[0].0, (3, 4), "{errs:?}");
    assert!(errs[0].1.contains("`augment` with `head` is not supported by the code generator yet"));
    assert!(!errs[0].1.contains("help"), "{errs:?}");
    assert_eq!(errs[1].0, (3, 4), "{errs:?}");
    assert!(errs[1].1.starts_with("\"help: "), "{errs:?}");
    // The skeleton (the struct and the API's names with bodies that never run), and nothing
    // else of the failed network: no layer functions, no layout table.
    let text = out.to_string();
    assert!(text.contains("pub struct Cnn ;"), "{out}");
    assert!(
        text.contains("PARAMS : & 'static [:: netspec :: __private :: ParamInfo] = & []"),
        "{out}"
    );
    assert!(!text.contains("_forward"), "{out}");
}

#[test]
fn a_good_network_is_generated_beside_a_failing_one() {
    let input: TokenStream =
        "network Good { input 2; dense 1; loss mse; } network Bad { input 2; augment { mixup 0.2; } \
         head a { dense 2; loss mse; } head b { dense 1; loss mse; } }"
            .parse()
            .unwrap();
    let out = expand_macro(input, &Config::default()).to_string();
    assert!(out.contains("pub struct Good {"), "{out}");
    assert!(out.contains("pub struct Bad ;"), "{out}");
    // The one error and its help.
    assert_eq!(out.matches("compile_error").count(), 2);

    // The same when the other network fails the checker rather than the generator.
    let input: TokenStream =
        "network Good { input 2; dense 1; loss mse; } network Bad { input 2; dense 0; loss mse; }"
            .parse()
            .unwrap();
    let out = expand_macro(input, &Config::default()).to_string();
    assert!(out.contains("pub struct Good {"), "{out}");
    assert!(out.contains("pub struct Bad ;"), "{out}");
    // The one error and its help.
    assert_eq!(out.matches("compile_error").count(), 2);
}

#[test]
fn empty_and_odd_inputs_do_not_panic() {
    for text in [
        "",
        "network",
        "network 3 { }",
        "network type { input 2; dense 1; loss mse; }",
        "{ [ ( ) ] }",
        "'a' \"s\" 1u8",
    ] {
        let out = expand_macro(text.parse().unwrap(), &Config::default());
        let _ = out.to_string();
    }
    let out = expand_macro(
        "network type { input 2; dense 1; loss mse; }".parse().unwrap(),
        &Config::default(),
    );
    assert!(out.to_string().contains("cannot name a Rust type"), "{out}");
}
