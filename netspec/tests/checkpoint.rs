//! Checkpoints through the generated API: a save -> load round trip predicts bit for bit the
//! same, and a damaged or foreign file is refused with an error that says what is wrong.

use netspec::prelude::*;
use netspec::{CheckpointError, Rng};

netspec::network! {
    network Small {
        input 3;
        batch 2;
        dense 5 init kaiming_uniform;
        tanh;
        dense 2;
        loss softmax_cross_entropy;
    }
    network Other {
        input 3;
        batch 2;
        dense 4;
        relu;
        dense 2;
        loss softmax_cross_entropy;
    }
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("netspec-checkpoint-{}-{name}", std::process::id()))
}

#[test]
fn a_loaded_network_predicts_bit_for_bit_what_the_saved_one_did() {
    let path = temp("round-trip.safetensors");
    let saved = Small::new(&mut Rng::seed(3));
    saved.save(&path).unwrap();
    let mut loaded = Small::new(&mut Rng::seed(4));
    loaded.load(&path).unwrap();
    for input in [[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [-3.0, 1e-3, 7.5]] {
        let (a, b) = (saved.predict(&input), loaded.predict(&input));
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "input {input:?}");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn truncated_and_foreign_files_are_refused_and_leave_the_parameters_alone() {
    let path = temp("truncated.safetensors");
    Small::new(&mut Rng::seed(3)).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut net = Small::new(&mut Rng::seed(5));
    let before = net.params().to_vec();
    for cut in [0, 7, 8, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let error = net.load(&path).unwrap_err();
        assert!(matches!(error, CheckpointError::Corrupt { .. }), "cut at {cut}: {error:?}");
        assert_eq!(net.params(), before);
    }

    // A checkpoint of another network: same names, other shapes.
    Other::new(&mut Rng::seed(1)).save(&path).unwrap();
    let error = net.load(&path).unwrap_err().to_string();
    assert!(error.contains("dense1.weight"), "{error}");
    assert!(error.contains("[5, 3]") && error.contains("[4, 3]"), "{error}");
    assert_eq!(net.params(), before);

    let missing = net.load(temp("missing.safetensors")).unwrap_err();
    assert!(matches!(missing, CheckpointError::Io { .. }), "{missing:?}");
    std::fs::remove_file(&path).unwrap();
}
