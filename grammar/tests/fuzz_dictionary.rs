//! The fuzz dictionary (`fuzz/netspec.dict`) opens with the language's words, which must be
//! `VOCABULARY` itself: a layer kind added to the registry reaches the fuzzer too.

#[test]
fn the_fuzz_dictionary_lists_the_vocabulary_in_order() {
    let dictionary = include_str!("../../fuzz/netspec.dict");
    let words: Vec<&str> = dictionary
        .lines()
        .skip_while(|line| line.starts_with('#'))
        .take_while(|line| !line.starts_with('#'))
        .map(|line| line.trim_matches('"'))
        .collect();
    let expected: Vec<String> =
        netspec_grammar::VOCABULARY.iter().map(|word| format!("\"{word}\"")).collect();
    assert_eq!(
        words,
        netspec_grammar::VOCABULARY,
        "fuzz/netspec.dict should open with these lines:\n{}",
        expected.join("\n")
    );
}
