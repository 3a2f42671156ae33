//! The `netspec` binary: exit codes, diagnostics on stderr, the summary table.

mod common;

use common::netspec;

fn temp_spec(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("netspec-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn check_exits_0_for_good_specs() {
    let (code, stdout, stderr) = netspec(&["check", "specs/digits_cnn.nn"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "specs/digits_cnn.nn: ok (DigitsCnn)\n");
}

#[test]
fn check_exits_1_with_every_file_diagnosed() {
    let bad = temp_spec("bad.nn", "network A {\n  input 4;\n  dense 0;\n  loss mse;\n}\n");
    let missing = "no/such/file.nn";
    let (code, stdout, stderr) = netspec(&["check", "specs/digits_cnn.nn", &bad, missing]);
    assert_eq!(code, 1);
    assert!(stdout.contains("digits_cnn.nn: ok"), "{stdout}");
    assert!(stderr.contains(&format!("--> {bad}:3:9")), "{stderr}");
    assert!(stderr.contains("the number of units must be positive, found `0`"), "{stderr}");
    assert!(stderr.contains("error: cannot read `no/such/file.nn`"), "{stderr}");
}

#[test]
fn summary_prints_the_table_with_pytorchs_parameter_count() {
    let (code, stdout, stderr) = netspec(&["summary", "specs/digits_cnn.nn"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Trainable params: 21,962"), "{stdout}");
    assert!(stdout.contains("conv1 (conv 3x3 pad 1)"), "{stdout}");
    assert!(stdout.contains("Non-trainable buffers: 64"), "{stdout}");
    assert!(
        stdout.contains("\nLayers: 14 (at most 1,000; through residual branches and heads)\n"),
        "{stdout}"
    );
    // 8,714 f32 per sample (max pooling keeps no argmaxes in predict), 9,216 f32 of im2col
    // scratch.
    assert!(
        stdout.contains(
            "\nPredict memory: 105 KiB per chunk of 2 samples, on the stack (at most 128 KiB)\n"
        ),
        "{stdout}"
    );
    // A chunk of one sample; the weights are the 21,962 parameters and 64 running statistics.
    assert!(
        stdout.contains(
            "\nFrozen predict: 71,720 bytes of stack per sample, no heap (weights baked in: \
             88,104 bytes)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("  conv1.bias          16          default (PyTorch, fan_in 9)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\nGenerated code: about 34,130 bytes (estimated; at most 1,200,000)\n"),
        "{stdout}"
    );
}

#[test]
fn check_exits_0_with_a_warning_printed() {
    let big =
        temp_spec("big.nn", "network Big {\n  input 32768;\n  dense 16384;\n  loss mse;\n}\n");
    let (code, stdout, stderr) = netspec(&["check", &big]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("{big}: ok (Big)\n"));
    assert!(
        stderr.starts_with(
            "warning: `Big` has 536,887,296 parameters, more than 268,435,456 (2^28)\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("--> {big}:1:9")), "{stderr}");
    assert!(stderr.ends_with(&format!("warning: {big}: 1 warning\n")), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn check_refuses_too_many_layers() {
    let body = "  relu;\n".repeat(1001);
    let deep =
        temp_spec("deep.nn", &format!("network Deep {{\n  input 4;\n{body}  loss mse;\n}}\n"));
    let (code, _, stderr) = netspec(&["check", &deep]);
    assert_eq!(code, 1);
    assert!(stderr.contains("`Deep` has 1,001 layers, more than the limit of 1,000"), "{stderr}");
    assert!(stderr.contains(&format!("--> {deep}:1003:3")), "{stderr}");
}

#[test]
fn bad_usage_exits_2_with_the_usage() {
    let (code, _, stderr) = netspec(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unrecognized subcommand 'frobnicate'"), "{stderr}");
    assert!(stderr.contains("Usage: netspec <COMMAND>"), "{stderr}");
    let (code, _, stderr) = netspec(&["summary"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("<FILE>..."), "{stderr}");
    let (code, _, stderr) = netspec(&["check", "--format", "yaml", "specs/digits.nn"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("[possible values: text, json]"), "{stderr}");
}

#[test]
fn version_and_help() {
    let (code, stdout, _) = netspec(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, format!("netspec {}\n", env!("CARGO_PKG_VERSION")));
    let (code, stdout, _) = netspec(&["help"]);
    assert_eq!(code, 0);
    for command in ["check", "summary", "emit", "fmt", "completions", "help"] {
        assert!(stdout.contains(&format!("\n  {command} ")), "{command} missing from:\n{stdout}");
    }
    let (code, stdout, _) = netspec(&["help", "fmt"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("--check"), "{stdout}");
}

#[test]
fn completions_are_generated_for_the_subcommands() {
    let (code, stdout, stderr) = netspec(&["completions", "bash"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("_netspec()"), "{stdout}");
    assert!(stdout.contains("check summary emit fmt export completions help"), "{stdout}");
    let (code, stdout, _) = netspec(&["completions", "fish"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("complete -c netspec"), "{stdout}");
}

#[test]
fn check_and_summary_take_several_files_and_globs() {
    let (code, stdout, stderr) = netspec(&["check", "specs/*.nn", "tests/specs/xor.nn"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "specs/activity.nn: ok (Activity)\nspecs/digits.nn: ok (DigitsMlp)\n\
         specs/digits_cnn.nn: ok (DigitsCnn)\ntests/specs/xor.nn: ok (Xor)\n"
    );
    let (code, stdout, stderr) = netspec(&["summary", "specs/digits.nn", "specs/digits_cnn.nn"]);
    assert_eq!(code, 0, "{stderr}");
    let digits = stdout.find("network DigitsMlp (batch 32)").expect("the first table");
    let cnn = stdout.find("\nnetwork DigitsCnn (batch 32)").expect("the second table");
    assert!(digits < cnn, "{stdout}");
    // A pattern that matches nothing stays as written and is reported like a missing file.
    let (code, _, stderr) = netspec(&["check", "no/such/dir/*.nn"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("error: cannot read `no/such/dir/*.nn`"), "{stderr}");
}

#[test]
fn check_as_json_lists_every_diagnostic_with_its_position() {
    let bad = temp_spec("json.nn", "network A {\n  input 4;\n  dense 0;\n  loss mse;\n}\n");
    let (code, stdout, stderr) = netspec(&["check", "--format", "json", "specs/digits.nn", &bad]);
    assert_eq!(code, 1);
    assert!(stderr.is_empty(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["errors"], 1);
    assert_eq!(report["warnings"], 0);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["path"], "specs/digits.nn");
    assert_eq!(files[0]["ok"], true);
    assert_eq!(files[0]["networks"], serde_json::json!(["DigitsMlp"]));
    assert_eq!(files[1]["ok"], false);
    let error = &files[1]["diagnostics"][0];
    assert_eq!(error["severity"], "error");
    assert_eq!(error["file"], bad.as_str());
    assert_eq!(error["message"], "the number of units must be positive, found `0`");
    assert_eq!(error["start"], serde_json::json!({"line": 3, "column": 9}));
    assert_eq!(error["end"], serde_json::json!({"line": 3, "column": 10}));
    let text = std::fs::read_to_string(&bad).unwrap();
    let span = &error["span"];
    let (start, end) = (span["start"].as_u64().unwrap(), span["end"].as_u64().unwrap());
    assert_eq!(&text[start as usize..end as usize], "0");
    assert!(error["rendered"].as_str().unwrap().contains(&format!("--> {bad}:3:9")));
    assert!(error["help"].is_string());

    // An unreadable file is an error without a position; a clean run exits 0.
    let (code, stdout, _) = netspec(&["check", "--format", "json", "no/such/file.nn"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["files"][0]["diagnostics"][0]["span"], serde_json::Value::Null);
    let (code, _, _) = netspec(&["check", "--format", "json", "specs/digits.nn"]);
    assert_eq!(code, 0);
}

#[test]
fn summary_as_json_carries_the_tables_figures() {
    let (code, stdout, stderr) = netspec(&["summary", "--format", "json", "specs/digits_cnn.nn"]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let net = &report["files"][0]["networks"][0];
    assert_eq!(net["name"], "DigitsCnn");
    assert_eq!(net["params"], 21962);
    assert_eq!(net["buffers"], 64);
    assert_eq!(net["input"], "1x8x8");
    let layers = net["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 14);
    assert_eq!(layers[0]["name"], "conv1");
    assert_eq!(layers[0]["type"], "conv 3x3 pad 1");
    assert_eq!(layers[0]["params"], 160);
    let in_residual: Vec<&str> = layers
        .iter()
        .filter(|l| l["in"] == "residual1")
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(in_residual.len(), 4, "{in_residual:?}");
    let total: u64 = layers.iter().map(|l| l["params"].as_u64().unwrap()).sum();
    assert_eq!(total, 21962);
    let (_, table, _) = netspec(&["summary", "specs/digits_cnn.nn"]);
    assert_eq!(net["text"], table.as_str());
}

#[test]
fn fmt_rewrites_specs_and_check_reports_without_writing() {
    let messy =
        "network A{input 4;dense 8 init uniform( - 0.1,0.1 ); // wide\nrelu;dense 2;loss mse;}";
    let path = temp_spec("fmt.nn", messy);
    let (code, stdout, _) = netspec(&["fmt", "--check", &path]);
    assert_eq!(code, 1);
    assert_eq!(stdout, format!("{path}: not formatted (`netspec fmt {path}` rewrites it)\n"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), messy, "--check writes nothing");

    let (code, stdout, stderr) = netspec(&["fmt", &path]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("{path}: formatted\n"));
    let formatted = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        formatted,
        "network A {\n    input 4;\n    dense 8 init uniform(-0.1, 0.1); // wide\n    relu;\n    \
         dense 2;\n    loss mse;\n}\n"
    );
    let (code, stdout, _) = netspec(&["fmt", "--check", &path]);
    assert_eq!((code, stdout.as_str()), (0, ""));

    // A spec that does not parse is reported and left alone.
    let broken = temp_spec("fmt-broken.nn", "network A { dense 8 }\n");
    let (code, _, stderr) = netspec(&["fmt", &broken]);
    assert_eq!(code, 1);
    assert!(stderr.contains(&format!("--> {broken}:1:21")), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "error: `{broken}` was left unchanged: fix the syntax errors first\n"
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "network A { dense 8 }\n");
}

#[test]
fn emit_prints_code_or_says_what_the_generator_cannot_do_yet() {
    let (code, stdout, stderr) = netspec(&["emit", "specs/digits.nn"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("// @generated by netspec-build from specs/digits.nn."), "{stdout}");
    assert!(stdout.contains("pub struct DigitsMlp"), "{stdout}");

    let (code, stdout, stderr) = netspec(&["emit", "specs/digits_cnn.nn"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("pub struct DigitsCnn"), "{stdout}");

    let (code, both, stderr) = netspec(&["emit", "specs/*.nn"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(both.matches("// @generated by netspec-build from specs/").count(), 3);
    assert!(both.find("pub struct DigitsMlp") < both.find("pub struct DigitsCnn"));

    let heads = temp_spec(
        "heads.nn",
        "network M {\n  input 4;\n  augment { mixup 0.2; }\n  dense 3;\n  \
         head a { dense 2; loss mse; }\n  head b { dense 1; loss mse; }\n}\n",
    );
    let (code, stdout, stderr) = netspec(&["emit", &heads]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("error: `augment` with `head` is not supported by the code generator yet"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("--> {heads}:3:3")), "{stderr}");
    // `check` reports the same error as the build, at the same place.
    let (code, _, check_stderr) = netspec(&["check", &heads]);
    assert_eq!(code, 1);
    assert_eq!(check_stderr, stderr);
}
