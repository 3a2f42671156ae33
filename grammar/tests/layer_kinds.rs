//! `gelu`, `silu` and `layernorm`: their lowering, parameters, penalties, summary and errors.

use netspec_grammar::ir::*;
use netspec_grammar::{VOCABULARY, check_source, summary::summary};

fn net(body: &str) -> Network {
    let spec = format!("network T {{ {body} }}");
    match check_source(&spec) {
        Ok(mut networks) => networks.remove(0),
        Err(errors) => panic!("{spec}\n{errors:#?}"),
    }
}

/// The diagnostics of a spec that must fail: (message, the text under the caret, help).
fn errors(body: &str) -> Vec<(String, String, String)> {
    let spec = format!("network T {{ {body} }}");
    let diagnostics = check_source(&spec).expect_err("the spec must fail");
    diagnostics
        .into_iter()
        .map(|d| {
            (d.message, spec[d.span.start..d.span.end].to_string(), d.help.unwrap_or_default())
        })
        .collect()
}

#[test]
fn gelu_and_silu_are_elementwise_on_any_shape() {
    let n = net("input image(2, 3, 3); gelu; silu; flatten; dense 4; gelu; silu; loss mse;");
    assert_eq!(n.layers[0].op, Op::Activation(Activation::Gelu));
    assert_eq!(n.layers[1].op, Op::Activation(Activation::Silu));
    assert_eq!(n.layers[0].output, Shape::Image { channels: 2, height: 3, width: 3 });
    assert_eq!(n.layers[4].output, Shape::Vector(4));
    let names: Vec<&str> = n.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["gelu1", "silu1", "flatten1", "dense1", "gelu2", "silu2"]);
    assert_eq!(n.layers[0].flops, 2 * 18);
    assert_eq!(n.layers[5].flops, 2 * 4);
    assert!(n.layers[0].params.is_empty() && n.layers[1].params.is_empty());
}

#[test]
fn layernorm_has_weight_and_bias_per_feature_and_no_buffers() {
    let n = net("input 6; dense 4; layernorm; relu; layernorm eps 1e-3; dense 2; loss mse;");
    assert_eq!(n.layers[1].name, "layernorm1");
    assert_eq!(n.layers[1].op, Op::LayerNorm { eps: 1e-5 });
    assert_eq!(n.layers[3].name, "layernorm2");
    assert_eq!(n.layers[3].op, Op::LayerNorm { eps: 1e-3 });
    assert_eq!(n.layers[1].output, Shape::Vector(4));
    assert_eq!(n.layers[1].flops, 5 * 4);
    let layout: Vec<_> = n
        .params
        .iter()
        .filter(|p| p.layer == "layernorm1")
        .map(|p| (p.name.as_str(), p.shape.clone(), p.offset, p.role, p.init, p.fans))
        .collect();
    // dense1 holds 4 * 6 + 4 = 28 values before them.
    assert_eq!(
        layout,
        [
            ("layernorm1.weight", vec![4], 28, Role::NormWeight, Init::Constant(1.0), None),
            ("layernorm1.bias", vec![4], 32, Role::NormBias, Init::Zeros, None),
        ]
    );
    assert_eq!(n.param("layernorm1.weight").unwrap().init_scheme, "ones");
    assert!(n.buffers.is_empty() && n.layers[1].buffers.is_empty());
    // As torch.nn.LayerNorm(4): 2 * 4 parameters.
    assert_eq!(n.param_count(), (4 * 6 + 4) + 8 + 8 + (2 * 4 + 2));
}

#[test]
fn a_bare_penalty_skips_layernorm_parameters_and_a_named_one_reaches_them() {
    let n = net("input 6; dense 4; layernorm; dense 2; loss mse; penalty l2 1e-4; \
         penalty l1 1e-5 on layernorm1.weight;");
    let l2: Vec<&str> =
        n.params.iter().filter(|p| p.l2.is_some()).map(|p| p.name.as_str()).collect();
    assert_eq!(l2, ["dense1.weight", "dense2.weight"]);
    let l1: Vec<&str> =
        n.params.iter().filter(|p| p.l1.is_some()).map(|p| p.name.as_str()).collect();
    assert_eq!(l1, ["layernorm1.weight"]);
}

#[test]
fn the_summary_labels_and_counts_the_new_layers() {
    let n = net("input 6; dense 4; layernorm; gelu; silu; dense 2; loss mse;");
    let table = summary(&n);
    let row = |name: &str| {
        table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}\n{table}"))
    };
    let cells = |name: &str| row(name).split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(cells("layernorm1"), ["layernorm1", "(layernorm)", "4", "8", "20"]);
    assert_eq!(cells("gelu1"), ["gelu1", "(gelu)", "4", "0", "8"]);
    assert_eq!(cells("silu1"), ["silu1", "(silu)", "4", "0", "8"]);
}

#[test]
fn layernorm_on_an_image_says_to_flatten_first() {
    let found = errors("input image(1, 4, 4); layernorm; flatten; dense 2; loss mse;");
    assert_eq!(found.len(), 1, "{found:?}");
    let (message, under_caret, help) = &found[0];
    assert_eq!(message, "`layernorm` needs a vector input, but its input is the image 1x4x4");
    assert_eq!(under_caret, "layernorm");
    assert!(help.contains("flatten first"), "{help}");
}

#[test]
fn layernorm_eps_is_validated_like_batchnorms() {
    for (eps, message) in [
        ("0", "layer norm's eps must be > 0, found 0"),
        ("- 0.1", "layer norm's eps must be > 0, found -0.1"),
        ("1e-50", "layer norm's eps is too small to represent"),
    ] {
        let found = errors(&format!("input 4; layernorm eps {eps}; loss mse;"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, message);
        assert_eq!(found[0].1, eps);
    }
}

#[test]
fn activations_take_no_number_or_option() {
    // A number where none is taken is a syntax error, as for `relu 2`.
    let found = errors("input 4; gelu 2; loss mse;");
    assert_eq!(found[0].0, "expected `;` or an option, found `2`");
    let found = errors("input 4; silu momentum 0.1; layernorm momentum 0.1; loss mse;");
    let messages: Vec<&str> = found.iter().map(|(m, ..)| m.as_str()).collect();
    assert_eq!(
        messages,
        ["`momentum` does not apply to `silu`", "`momentum` does not apply to `layernorm`"]
    );
    assert_eq!(found[1].2, "`layernorm` takes `eps`; `momentum` applies to `batchnorm`");
}

#[test]
fn misspellings_suggest_the_new_kinds() {
    let found = errors("input 4; layer_norm; loss mse;");
    assert_eq!(found[0].0, "unknown statement `layer_norm`");
    assert_eq!(found[0].2, "did you mean `layernorm`?");
}

#[test]
fn the_vocabulary_holds_the_new_kinds() {
    for word in ["gelu", "silu", "layernorm"] {
        assert!(VOCABULARY.contains(&word), "{word}");
    }
}
