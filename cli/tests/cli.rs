//! The `netspec` binary: exit codes, diagnostics on stderr, the summary table.

use std::process::Command;

fn netspec(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_netspec"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("the netspec binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

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
}

#[test]
fn bad_usage_exits_2_with_the_usage() {
    let (code, _, stderr) = netspec(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(stderr.starts_with("usage: netspec"), "{stderr}");
    let (code, _, _) = netspec(&["summary"]);
    assert_eq!(code, 2);
}
