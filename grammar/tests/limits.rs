//! The size limits of `check`: the layer count and the generated code's estimated size are
//! errors past their limits, a large parameter count is a warning that leaves the spec valid.

use netspec_grammar::limits::{MAX_CODE_BYTES, MAX_LAYERS, PARAM_WARNING, estimated_code_bytes};
use netspec_grammar::{Severity, check_source, check_source_with_warnings, summary::summary};

/// `count` copies of `layer`, ten to a line.
fn repeat(layer: &str, count: usize) -> String {
    let layers = vec![layer; count];
    layers.chunks(10).map(|line| format!("    {}\n", line.join(" "))).collect()
}

/// A network with `trunk` relus, a residual block of `branch` relus and heads `a` and `b` with
/// `head_relus` relus before their dense layer: `trunk + 1 + branch + 2 * (head_relus + 1)`
/// layers.
fn deep(trunk: usize, branch: usize, head_relus: usize) -> String {
    let head = |name: &str| {
        format!("    head {name} {{\n{}    dense 1; loss mse; }}\n", repeat("relu;", head_relus))
    };
    format!(
        "network Deep {{\n    input 8;\n{}    residual {{\n{}    }}\n{}{}}}\n",
        repeat("relu;", trunk),
        repeat("relu;", branch),
        head("a"),
        head("b")
    )
}

#[test]
fn layers_are_counted_through_residual_branches_and_heads() {
    // 500 + 1 + 495 + 2 * 2 = 1,000 layers: the limit itself is fine.
    let spec = deep(500, 495, 1);
    let networks = check_source(&spec).unwrap();
    assert_eq!(networks[0].all_layers().len(), MAX_LAYERS);

    // One more relu in the branch: the 1,001st layer is head b's dense layer.
    let spec = deep(500, 496, 1);
    let errors = check_source(&spec).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].message, "`Deep` has 1,001 layers, more than the limit of 1,000");
    assert_eq!(errors[0].label.as_deref(), Some("layer 1,001 (`dense2`)"));
    let head_b = spec.find("head b").unwrap();
    let dense = head_b + spec[head_b..].find("dense 1;").unwrap();
    assert_eq!(&spec[errors[0].span.start..errors[0].span.end], "dense 1;");
    assert_eq!(errors[0].span.start, dense);
    assert!(errors[0].help.as_deref().unwrap().contains("use fewer layers"));
}

#[test]
fn too_many_layers_is_one_error_even_when_the_code_is_too_large_too() {
    let spec =
        format!("network Deep {{\n    input 8;\n{}    loss mse;\n}}\n", repeat("dense 8;", 2001));
    let errors = check_source(&spec).unwrap_err();
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["`Deep` has 2,001 layers, more than the limit of 1,000"]);
}

#[test]
fn the_code_size_estimate_grows_per_layer_and_is_refused_past_the_limit() {
    let dense = |count: usize| {
        format!("network Wide {{\n    input 8;\n{}    loss mse;\n}}\n", repeat("dense 8;", count))
    };
    let one = estimated_code_bytes(&check_source(&dense(1)).unwrap()[0]);
    let two = estimated_code_bytes(&check_source(&dense(2)).unwrap()[0]);
    let per_layer = two - one;
    assert!((1_000..3_000).contains(&per_layer), "{per_layer} bytes per dense layer");

    // The largest number of dense layers within the limit checks; one more is refused.
    let fits = ((MAX_CODE_BYTES - one) / per_layer + 1) as usize;
    let net = &check_source(&dense(fits)).unwrap()[0];
    assert!(estimated_code_bytes(net) <= MAX_CODE_BYTES);

    let spec = dense(fits + 1);
    let errors = check_source(&spec).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let estimate = one + fits as u64 * per_layer;
    assert!(estimate > MAX_CODE_BYTES);
    let grouped = |n: u64| {
        let digits = n.to_string();
        let (head, tail) = digits.split_at(digits.len() - 3);
        let (millions, thousands) = head.split_at(head.len() - 3);
        format!("{millions},{thousands},{tail}")
    };
    assert_eq!(
        errors[0].message,
        format!(
            "`Wide` would generate about {} bytes of Rust, more than the limit of 1,200,000",
            grouped(estimate)
        )
    );
    // Located at the layer where the estimate passes the limit: the last one here.
    let last = format!("dense{}", fits + 1);
    assert_eq!(
        errors[0].label.as_deref(),
        Some(format!("the estimate passes 1,200,000 bytes at `{last}`").as_str())
    );
    assert_eq!(errors[0].span.start, spec.rfind("dense 8;").unwrap());
}

#[test]
fn a_large_parameter_count_is_a_warning_and_the_spec_still_checks() {
    // 16384 x 16384 = 2^28 weights without a bias: at the threshold, no warning.
    let at = "network Big {\n    input 16384;\n    dense 16384 bias none;\n    loss mse;\n}\n";
    let (checked, warnings) = check_source_with_warnings(at);
    assert_eq!(checked.unwrap()[0].param_count() as u64, PARAM_WARNING);
    assert!(warnings.is_empty(), "{warnings:#?}");

    let over = "network Big {\n    input 32768;\n    dense 16384;\n    loss mse;\n}\n";
    let (checked, warnings) = check_source_with_warnings(over);
    let networks = checked.unwrap();
    assert_eq!(networks[0].param_count(), 32768 * 16384 + 16384);
    assert_eq!(warnings.len(), 1);
    let warning = &warnings[0];
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(warning.message, "`Big` has 536,887,296 parameters, more than 268,435,456 (2^28)");
    assert_eq!(&over[warning.span.start..warning.span.end], "Big");
    assert_eq!(warning.label.as_deref(), Some("2.0 GiB of f32 parameters"));
    // The API without warnings accepts it as well.
    assert_eq!(check_source(over).unwrap(), networks);
}

#[test]
fn warnings_are_kept_beside_errors() {
    let spec =
        "network Big {\n    input 32768;\n    dense 16384;\n    dense 0;\n    loss mse;\n}\n";
    let (checked, warnings) = check_source_with_warnings(spec);
    let errors = checked.unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].severity, Severity::Error);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].severity, Severity::Warning);
}

#[test]
fn the_summary_footer_shows_the_layer_count_and_the_code_estimate() {
    let spec = "network S { input 4; dense 8; relu; residual { dense 8; } dense 2; loss mse; }";
    let net = &check_source(spec).unwrap()[0];
    let table = summary(net);
    assert!(
        table.contains("\nLayers: 5 (at most 1,000; through residual branches and heads)\n"),
        "{table}"
    );
    let estimate = estimated_code_bytes(net);
    assert!((3_000..20_000).contains(&estimate), "{estimate}");
    let shown = format!("{},{:03}", estimate / 1000, estimate % 1000);
    assert!(
        table.contains(&format!(
            "\nGenerated code: about {shown} bytes (estimated; at most 1,200,000)\n"
        )),
        "{table}"
    );
}
