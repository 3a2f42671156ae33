//! The README and the crate page cannot drift: the crate page includes `docs/language.md` and
//! `docs/api.md`, and the README must hold each of them verbatim.

#[test]
fn the_readme_holds_the_crate_pages_reference_sections() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{dir}/../README.md")).unwrap();
    for doc in ["language.md", "api.md"] {
        let text = std::fs::read_to_string(format!("{dir}/docs/{doc}")).unwrap();
        assert!(text.len() > 2000, "docs/{doc} is nearly empty");
        assert!(
            readme.contains(&text),
            "README.md does not hold docs/{doc} verbatim: copy the file into the README's section"
        );
    }
}
