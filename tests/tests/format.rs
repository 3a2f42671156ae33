//! `netspec fmt` over every spec of the repository: `tests/specs`, `tests/valid`, `specs/`, the
//! malformed corpus (where it parses) and the inline `network!` specs of the examples and of
//! the facade's tests. Formatting changes only whitespace (comments included), checking the
//! formatted text gives the same IR (or the same errors), and a formatted spec is a fixed point.

use std::path::Path;

use netspec_grammar::{check_source_with_warnings, format::format};
use netspec_tests::{crate_dir, spec_files};

/// `(name, text)` of every spec file in the corpora.
fn spec_corpus() -> Vec<(String, String)> {
    let mut specs = Vec::new();
    for dir in ["specs", "valid", "malformed", "../specs"] {
        for path in spec_files(&crate_dir().join(dir)) {
            let bytes = std::fs::read(&path).unwrap();
            // The malformed corpus holds bytes that are not UTF-8 on purpose: not text to format.
            if let Ok(text) = String::from_utf8(bytes) {
                specs.push((path.display().to_string(), text));
            }
        }
    }
    specs
}

/// The body of every `network! { ... }` in the Rust files of `dir`, as spec text.
fn inline_specs(dir: &Path) -> Vec<(String, String)> {
    let mut specs = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, (at, _)) in text.match_indices("network! {").enumerate() {
            let open = at + "network! ".len();
            let mut depth = 0;
            let close = text[open..]
                .char_indices()
                .find(|&(_, c)| {
                    depth += i32::from(c == '{') - i32::from(c == '}');
                    depth == 0
                })
                .map(|(i, _)| open + i)
                .unwrap();
            let body = &text[open + 1..close];
            // A `macro_rules!` template (`$(...)*` fragments) is no spec until expanded.
            if !body.contains('$') {
                specs.push((format!("{}#{i}", path.display()), body.to_string()));
            }
        }
    }
    specs
}

/// Text without whitespace: what formatting must keep.
fn non_space(text: &str) -> String {
    text.trim_start_matches('\u{feff}').chars().filter(|c| !c.is_whitespace()).collect()
}

/// The checker's result without byte offsets, which formatting moves.
fn without_spans(debug: String) -> String {
    let mut out = String::new();
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("Span { start: ") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').unwrap();
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    out
}

fn checked(text: &str) -> String {
    let (result, warnings) = check_source_with_warnings(text);
    let result = result.map_err(|errors| {
        errors.into_iter().map(|e| (e.message, e.label, e.help)).collect::<Vec<_>>()
    });
    let warnings: Vec<_> = warnings.into_iter().map(|w| w.message).collect();
    without_spans(format!("{result:?} {warnings:?}"))
}

#[test]
fn formatting_every_spec_keeps_its_meaning_and_comments_and_is_a_fixed_point() {
    let mut corpus = spec_corpus();
    corpus.extend(inline_specs(&crate_dir().join("../examples")));
    corpus.extend(inline_specs(&crate_dir().join("../netspec/tests")));
    let (mut formatted_count, mut refused, mut changed) = (0, 0, 0);
    let mut failures = Vec::new();
    for (name, text) in &corpus {
        let Ok(formatted) = format(text) else {
            // Only specs with syntax errors are refused; those are malformed on purpose.
            assert!(name.contains("malformed"), "{name}: refused");
            refused += 1;
            continue;
        };
        formatted_count += 1;
        changed += usize::from(&formatted != text);
        if non_space(&formatted) != non_space(text) {
            failures.push(format!("{name}: more than whitespace changed:\n{formatted}"));
        }
        if checked(&formatted) != checked(text) {
            failures.push(format!("{name}: checks differently after formatting:\n{formatted}"));
        }
        match format(&formatted) {
            Ok(again) if again == formatted => {}
            Ok(again) => failures.push(format!("{name}: not a fixed point:\n{formatted}\n{again}")),
            Err(errors) => failures.push(format!("{name}: formatted text refused: {errors:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The corpora are large; a walk that found nothing would prove nothing.
    assert!(formatted_count > 100, "only {formatted_count} specs formatted");
    assert!(refused > 10 && changed > 50, "refused {refused}, changed {changed}");
}
