//! `--format json`: what `check` and `summary` report, as one JSON document on stdout, for
//! editors and CI.
//!
//! A diagnostic is `{"file", "severity", "message", "label", "help", "span": {"start", "end"},
//! "start": {"line", "column"}, "end": {"line", "column"}, "rendered"}`: byte offsets, 1-based
//! lines and columns counted in characters, and the rustc-style text. A file that could not be
//! read has one error without a span.

use netspec_grammar::ir::{Layer, Network, Op};
use netspec_grammar::{Diagnostic, LineCol, Severity, summary::summary};
use serde_json::{Value, json};

use crate::Checked;

/// `{"files": [{"path", "ok", "networks": [NAME...], "diagnostics": [...]}], "errors",
/// "warnings"}`.
pub fn check_report(files: &[Checked]) -> String {
    let report: Vec<Value> = files
        .iter()
        .map(|file| {
            let names: Vec<&str> =
                file.networks.iter().flatten().map(|n| n.name.as_str()).collect();
            json!({
                "path": file.source.path,
                "ok": file.networks.is_some(),
                "networks": names,
                "diagnostics": diagnostics(file),
            })
        })
        .collect();
    with_counts(files, json!({ "files": report }))
}

/// `{"files": [{"path", "ok", "networks": [SUMMARY...], "diagnostics": [...]}], "errors",
/// "warnings"}`, where a summary holds the figures of `netspec summary`'s table and the table
/// itself as `text`.
pub fn summary_report(files: &[Checked]) -> String {
    let report: Vec<Value> = files
        .iter()
        .map(|file| {
            let networks: Vec<Value> = file.networks.iter().flatten().map(network).collect();
            json!({
                "path": file.source.path,
                "ok": file.networks.is_some(),
                "networks": networks,
                "diagnostics": diagnostics(file),
            })
        })
        .collect();
    with_counts(files, json!({ "files": report }))
}

fn with_counts(files: &[Checked], mut report: Value) -> String {
    let count = |severity| {
        files
            .iter()
            .map(|f| {
                f.diagnostics.iter().filter(|d| d.severity == severity).count()
                    + usize::from(severity == Severity::Error && f.unreadable.is_some())
            })
            .sum::<usize>()
    };
    report["errors"] = count(Severity::Error).into();
    report["warnings"] = count(Severity::Warning).into();
    serde_json::to_string_pretty(&report).expect("a JSON value serializes")
}

fn diagnostics(file: &Checked) -> Vec<Value> {
    let path = &file.source.path;
    if let Some(why) = &file.unreadable {
        return vec![json!({
            "file": path,
            "severity": "error",
            "message": why,
            "label": null,
            "help": null,
            "span": null,
            "start": null,
            "end": null,
            "rendered": format!("error: {why}\n"),
        })];
    }
    let text = &file.source.text;
    file.diagnostics.iter().map(|d| diagnostic(d, path, text)).collect()
}

fn diagnostic(d: &Diagnostic, path: &str, text: &str) -> Value {
    let position = |offset| {
        let at = LineCol::of(text, offset);
        json!({ "line": at.line, "column": at.column })
    };
    json!({
        "file": path,
        "severity": d.severity.as_str(),
        "message": d.message,
        "label": d.label,
        "help": d.help,
        "span": { "start": d.span.start, "end": d.span.end },
        "start": position(d.span.start),
        "end": position(d.span.end),
        "rendered": d.render(path, text),
    })
}

fn network(net: &Network) -> Value {
    let mut layers = Vec::new();
    rows(net, &net.layers, None, &mut layers);
    for head in &net.heads {
        rows(net, &head.layers, Some(&head.name), &mut layers);
    }
    json!({
        "name": net.name,
        "batch": net.batch,
        "input": net.input.to_string(),
        "layers": layers,
        "params": net.param_count(),
        "buffers": net.buffer_count(),
        "flops": net.flops(),
        "param_bytes": 4 * net.param_count(),
        "estimated_code_bytes": netspec_grammar::limits::estimated_code_bytes(net),
        "text": summary(net),
    })
}

/// One object per layer, as the table's rows: residual branches after their block (`"in"`
/// names the innermost block), head layers with `"head"` set.
fn rows(net: &Network, layers: &[Layer], head: Option<&str>, out: &mut Vec<Value>) {
    for layer in layers {
        let params: usize = layer.params.iter().map(|&i| net.params[i].len).sum();
        out.push(json!({
            "name": layer.name,
            "type": netspec_grammar::layers::label(layer),
            "output": layer.output.to_string(),
            "params": params,
            "flops": layer.flops,
            "head": head,
            "in": null,
        }));
        if let Op::Residual { branch, shortcut, .. } = &layer.op {
            let first = out.len();
            rows(net, branch, head, out);
            rows(net, shortcut, head, out);
            for row in &mut out[first..] {
                if row["in"].is_null() {
                    row["in"] = layer.name.clone().into();
                }
            }
        }
    }
}
