//! Parse + check + render must never panic, whatever the input: random token soup, valid specs
//! with tokens deleted, inserted or replaced, and valid specs with bytes flipped. Every network
//! that checks must also generate, into tokens that parse as a Rust file: the checker is the one
//! place that refuses a spec.
//!
//! 10,000 + 10,000 + 6,000 = 26,000 generated cases, plus a few hand-made extremes and every
//! spec of the corpora.

use netspec_codegen::Config;
use netspec_grammar::{SourceFile, check_source};
use netspec_tests::{crate_dir, spec_files, valid_spec_texts};
use proptest::prelude::*;
use proptest::sample::select;
use std::sync::OnceLock;

/// Names close to keywords, numbers of every form, punctuation and characters that do not belong;
/// the language's own words come from [`netspec_grammar::VOCABULARY`].
const OTHER_TOKENS: &[&str] = &[
    // names
    "dense1",
    "relu2",
    "conv1",
    "batchnorm1",
    "running_mean",
    "running_var",
    "Net",
    "A",
    "_x",
    "densely",
    "he_normal",
    "x1y",
    // Rust keywords and a primitive type, which cannot name the generated struct
    "fn",
    "f32",
    "type",
    "Self",
    "_",
    // numbers
    "0",
    "1",
    "2",
    "3",
    "8",
    "16",
    "64",
    "0.5",
    "1.0",
    "0.1",
    "1e-5",
    "5e-4",
    "1E+3",
    "1e999",
    // beyond the f32 range, below it, subnormal, and 1 as an f32
    "1e39",
    "3.5e38",
    "1e-50",
    "1e-40",
    "0.99999999",
    "99999999999999999999",
    "16777217",
    "4294967296",
    "-",
    "1.",
    ".5",
    "1e",
    "0x10",
    // punctuation
    "{",
    "}",
    "(",
    ")",
    ";",
    ",",
    ".",
    "/*",
    "*/",
    "//",
    "\n",
    " ",
    "\t",
    "\r",
    // strays
    "@",
    "#",
    "$",
    "\"",
    "'",
    "\\",
    "\u{0}",
    "\u{7}",
    "\u{1b}",
    "\u{feff}",
    "\u{2212}",
    "é",
    "日本",
    "\u{fffd}",
    "*",
    "/",
    "+",
    "=",
    "::",
];

/// The valid specs to mutate: `specs/*.nn` and `tests/valid/*.nn`.
fn seeds() -> &'static [(String, String)] {
    static SEEDS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let seeds = valid_spec_texts();
        assert!(!seeds.is_empty());
        seeds
    })
}

/// Splits spec text into tokens the way a reader would: comments dropped, names, numbers and
/// single punctuation characters.
fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                // `1e-5`: the sign belongs to the exponent
                if (chars[i] == 'e' || chars[i] == 'E')
                    && matches!(chars.get(i + 1), Some('-' | '+'))
                {
                    i += 1;
                }
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// Every case goes through the whole front end as a file would; a failure must say something.
fn exercise(path: &str, bytes: &[u8]) {
    let source = SourceFile::from_bytes(path, bytes);
    match source.check() {
        Ok(networks) => {
            for network in &networks {
                let _ = format!("{network:?}");
                generates(network, &source);
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "failed without a diagnostic");
            for d in &diagnostics {
                // (`end` may lie one past the text for "found the end of the file"; the corpus
                // test is stricter about that.)
                assert!(d.span.start <= d.span.end, "reversed span {:?}: {}", d.span, d.message);
                assert!(d.span.start <= source.text.len(), "span {:?} beyond the text", d.span);
            }
            let rendered = source.render(&diagnostics);
            assert!(rendered.starts_with("error: "), "{rendered}");
        }
    }
    // The plain-text entry point too, on the same (lossy) text.
    let _ = check_source(&source.text).map_err(|d| source.render(&d));
}

/// A checked network generates, and the code parses as a Rust file.
fn generates(network: &netspec_grammar::ir::Network, source: &SourceFile) {
    let tokens = netspec_codegen::generate(network, &Config::default()).unwrap_or_else(|d| {
        panic!("`{}` checks but does not generate:\n{}", network.name, source.render(&d))
    });
    if let Err(error) = syn::parse2::<syn::File>(tokens) {
        panic!("the code of `{}` does not parse: {error}\n{}", network.name, source.text);
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, &'static str),
    Replace(usize, &'static str),
    Swap(usize, usize),
}

/// The language's words and the other tokens, in one list to draw from.
fn tokens() -> Vec<&'static str> {
    netspec_grammar::VOCABULARY.iter().chain(OTHER_TOKENS).copied().collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), select(tokens())).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<usize>(), select(tokens())).prop_map(|(i, t)| Edit::Replace(i, t)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::Swap(i, j)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// (a) Random strings over the language's tokens, joined by nothing, a space or a newline.
    #[test]
    fn random_token_soup(
        tokens in prop::collection::vec((select(tokens()), select(&["", " ", " ", "\n"][..])), 0..80),
        wrap in any::<bool>(),
    ) {
        let mut text: String = tokens.iter().flat_map(|(t, sep)| [*t, *sep]).collect();
        if wrap {
            text = format!("network N {{ {text} }}");
        }
        exercise("soup.nn", text.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// (b) Valid specs with a few tokens deleted, inserted, replaced or swapped, written in the
    /// `.nn` form (one line per statement) or the Rust-token form (single spaces).
    #[test]
    fn mutated_valid_specs(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
        rust_form in any::<bool>(),
    ) {
        let seeds = seeds();
        let (_, text) = &seeds[seed.index(seeds.len())];
        let mut tokens = tokenize(text);
        for edit in edits {
            let n = tokens.len();
            match edit {
                Edit::Delete(i) if n > 0 => { tokens.remove(i % n); }
                Edit::Insert(i, t) => tokens.insert(i % (n + 1), t.to_string()),
                Edit::Replace(i, t) if n > 0 => tokens[i % n] = t.to_string(),
                Edit::Swap(i, j) if n > 0 => tokens.swap(i % n, j % n),
                _ => {}
            }
        }
        let text = if rust_form {
            tokens.join(" ")
        } else {
            tokens.iter().fold(String::new(), |mut out, t| {
                out.push_str(t);
                out.push_str(if matches!(t.as_str(), ";" | "{" | "}") { "\n" } else { " " });
                out
            })
        };
        exercise("mutated.nn", text.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6_000))]

    /// (c) Valid spec files with random bytes overwritten, xor-ed or cut off, read as bytes
    /// (so that invalid UTF-8 reaches `SourceFile::from_bytes`).
    #[test]
    fn byte_flipped_valid_specs(
        seed in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 1..8),
        cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        let seeds = seeds();
        let (_, text) = &seeds[seed.index(seeds.len())];
        let mut bytes = text.as_bytes().to_vec();
        for (at, byte, xor) in flips {
            let i = at.index(bytes.len());
            if xor { bytes[i] ^= byte } else { bytes[i] = byte }
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        exercise("flipped.nn", &bytes);
    }
}

/// The tokenizer used by the mutations must reproduce the valid specs exactly enough that,
/// unmutated, they still check in both forms.
#[test]
fn tokenized_seeds_still_check() {
    for (path, text) in seeds() {
        let tokens = tokenize(text);
        let spaced = tokens.join(" ");
        if let Err(d) = check_source(&spaced) {
            panic!(
                "{path} in the Rust-token form:\n{}",
                netspec_grammar::render_all(&d, path, &spaced)
            );
        }
    }
}

/// Extremes the generators are unlikely to reach: very deep nesting of every bracket and of
/// block comments, long runs, huge numbers.
#[test]
fn extremes_do_not_panic() {
    let mut cases: Vec<String> = Vec::new();
    for depth in [33, 100, 1_000, 10_000, 100_000] {
        cases.push(format!("network A {{ {} }}", "residual { ".repeat(depth)));
        cases.push(format!(
            "network A {{ input 4; {}{} }}",
            "residual { ".repeat(depth),
            "} ".repeat(depth)
        ));
        cases.push(format!(
            "network A {{ dense 4 init uniform{}{}; }}",
            "(".repeat(depth),
            ")".repeat(depth)
        ));
        cases.push(format!(
            "network A {{ input 4; batch 1; dense 2; loss mse; }} {}{}",
            "/*".repeat(depth),
            "*/".repeat(depth)
        ));
        cases.push(format!("network A {{ {} }}", "dense 4; ".repeat(depth)));
        cases.push(format!("network A {{ dense {}; }}", "9".repeat(depth)));
        cases.push(format!("network A {{ dropout 0.{}1; }}", "0".repeat(depth)));
        cases.push(format!("network A {{ dropout 1e{}; }}", "9".repeat(depth)));
        cases.push(format!("network A {{ dense 4 {} }}", "- ".repeat(depth)));
        cases.push("}".repeat(depth));
        cases.push(";".repeat(depth));
        cases.push("network A { input 4; batch 1; dense 2; loss mse; }\n".repeat(depth.min(2_000)));
    }
    for case in &cases {
        exercise("extreme.nn", case.as_bytes());
    }
}

/// Over every spec of the corpora: `check` accepts a spec exactly when the build generates it,
/// and a refused spec gets the same diagnostics from both.
#[test]
fn check_and_generate_agree_on_every_corpus_spec() {
    let mut count = 0;
    for dir in ["specs", "valid", "malformed", "../specs"] {
        for path in spec_files(&crate_dir().join(dir)) {
            let source =
                SourceFile::from_bytes(path.display().to_string(), &std::fs::read(&path).unwrap());
            let checked = check_source(&source.text);
            let generated = netspec_codegen::generate_source(&source.text, &Config::default());
            match (&checked, &generated) {
                (Ok(networks), Ok(tokens)) => {
                    assert!(!networks.is_empty(), "{}", source.path);
                    networks.iter().for_each(|network| generates(network, &source));
                    assert!(syn::parse2::<syn::File>(tokens.clone()).is_ok(), "{}", source.path);
                }
                (Err(from_check), Err(from_build)) => {
                    assert_eq!(from_check, from_build, "{}", source.path);
                }
                (Ok(_), Err(d)) => panic!("checks but does not generate:\n{}", source.render(d)),
                (Err(d), Ok(_)) => panic!("generates but does not check:\n{}", source.render(d)),
            }
            count += 1;
        }
    }
    assert!(count >= 180, "only {count} corpus specs");
}
