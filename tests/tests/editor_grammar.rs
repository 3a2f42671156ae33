//! The TextMate grammar of `editors/` (VS Code, Sublime Text, GitHub's highlighter) highlights
//! exactly the language's words: its three keyword lists are the layer registry, the grammar's
//! other keywords and the checker's values, as `netspec_grammar::VOCABULARY` holds them.

use netspec_grammar::{VOCABULARY, layers};
use netspec_tests::crate_dir;
use serde_json::Value;

fn read_json(path: &str) -> Value {
    let path = crate_dir().join("../editors").join(path);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The words of a `\b(?:a|b|c)\b` rule of the grammar's repository.
fn words<'a>(grammar: &'a Value, rule: &str) -> Vec<&'a str> {
    let pattern = grammar["repository"][rule]["match"]
        .as_str()
        .unwrap_or_else(|| panic!("rule `{rule}` has no `match`"));
    let inner = pattern
        .strip_prefix("\\b(?:")
        .and_then(|p| p.strip_suffix(")\\b"))
        .unwrap_or_else(|| panic!("rule `{rule}` is not a word list: {pattern}"));
    inner.split('|').collect()
}

#[test]
fn the_grammars_keywords_are_the_vocabulary() {
    let grammar = read_json("vscode/syntaxes/netspec.tmLanguage.json");
    assert_eq!(grammar["scopeName"], "source.netspec");
    let layer_kinds = words(&grammar, "layer-kinds");
    let keywords = words(&grammar, "keywords");
    let values = words(&grammar, "values");
    let expected_layers = layers::keywords();
    assert_eq!(layer_kinds, expected_layers, "layer kinds");
    let n = expected_layers.len();
    assert_eq!(keywords, &VOCABULARY[n..n + keywords.len()], "keywords");
    assert_eq!(values, &VOCABULARY[n + keywords.len()..], "values");
    // Every rule of the repository is used by the top-level patterns.
    let used: Vec<&str> = grammar["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["include"].as_str()?.strip_prefix('#'))
        .collect();
    for rule in grammar["repository"].as_object().unwrap().keys() {
        assert!(used.contains(&rule.as_str()), "rule `{rule}` is never included");
    }
}

#[test]
fn the_vscode_extension_registers_the_grammar_with_comments_and_brackets() {
    let manifest = read_json("vscode/package.json");
    let language = &manifest["contributes"]["languages"][0];
    assert_eq!(language["id"], "netspec");
    assert_eq!(language["extensions"], serde_json::json!([".nn"]));
    let grammar = &manifest["contributes"]["grammars"][0];
    assert_eq!(grammar["language"], "netspec");
    assert_eq!(grammar["scopeName"], "source.netspec");
    assert_eq!(grammar["path"], "./syntaxes/netspec.tmLanguage.json");
    let config = read_json("vscode/language-configuration.json");
    assert_eq!(config["comments"]["lineComment"], "//");
    assert_eq!(config["comments"]["blockComment"], serde_json::json!(["/*", "*/"]));
    assert_eq!(config["brackets"], serde_json::json!([["{", "}"], ["(", ")"]]));
}

#[test]
fn every_word_of_the_example_specs_is_highlighted_by_one_rule() {
    let grammar = read_json("vscode/syntaxes/netspec.tmLanguage.json");
    let rule = |name: &str| {
        regex::Regex::new(grammar["repository"][name]["match"].as_str().unwrap()).unwrap()
    };
    let lists = [rule("layer-kinds"), rule("keywords"), rule("values")];
    let numbers = rule("numbers");
    let spec = std::fs::read_to_string(crate_dir().join("../specs/digits_cnn.nn")).unwrap();
    let code: String = spec.lines().map(|line| line.split("//").next().unwrap()).collect();
    // The spec's own tokens: names and keywords, numbers as the grammar writes them.
    let token =
        regex::Regex::new(r"[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9.]*(?:[eE][+-]?[0-9]+)?").unwrap();
    let mut highlighted = 0;
    for word in token.find_iter(&code).map(|m| m.as_str()) {
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            assert!(numbers.find(word).is_some_and(|m| m.as_str() == word), "`{word}`");
            continue;
        }
        let hits = lists.iter().filter(|r| r.find(word).is_some_and(|m| m.as_str() == word));
        let expected = usize::from(VOCABULARY.contains(&word));
        assert_eq!(hits.count(), expected, "`{word}`");
        highlighted += expected;
    }
    assert!(highlighted > 50, "{highlighted}");
}
