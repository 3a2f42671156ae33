//! Bytes -> `SourceFile::from_bytes` -> check -> render: must never panic, overflow the stack or
//! hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netspec_grammar::SourceFile;

fuzz_target!(|data: &[u8]| {
    let source = SourceFile::from_bytes("fuzz.nn", data);
    match source.check() {
        Ok(networks) => {
            let _ = format!("{networks:?}");
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "failed without a diagnostic");
            for d in &diagnostics {
                assert!(d.span.start <= d.span.end, "reversed span {:?}", d.span);
            }
            let _ = source.render(&diagnostics);
        }
    }
});
