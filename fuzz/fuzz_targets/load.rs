//! Bytes -> file -> `load_state` into a small MLP with batch norm: must never panic, hang or
//! allocate beyond the network's size; a refused file leaves the buffers unchanged, and an
//! accepted one holds only finite values and non-negative running variances and saves back
//! to a file that loads to the same bits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netspec_runtime::layout::{BufferInfo, BufferKind, ParamInfo, Role};
use netspec_runtime::checkpoint::state::{State, StateMut, load_state, load_state_with, save_state};
use netspec_runtime::{Init, LoadOptions};

const fn param(
    name: &'static str,
    shape: &'static [usize],
    offset: usize,
    len: usize,
    role: Role,
) -> ParamInfo {
    ParamInfo { name, shape, offset, len, role, init: Init::Constant(0.0), fan_in: 0 }
}

/// input 3; dense 4; batchnorm; relu; dense 2.
const PARAMS: &[ParamInfo] = &[
    param("dense1.weight", &[4, 3], 0, 12, Role::Weight),
    param("dense1.bias", &[4], 12, 4, Role::Bias),
    param("batchnorm1.weight", &[4], 16, 4, Role::NormWeight),
    param("batchnorm1.bias", &[4], 20, 4, Role::NormBias),
    param("dense2.weight", &[2, 4], 24, 8, Role::Weight),
    param("dense2.bias", &[2], 32, 2, Role::Bias),
];
const BUFFERS: &[BufferInfo] = &[
    BufferInfo {
        name: "batchnorm1.running_mean",
        shape: &[4],
        offset: 0,
        len: 4,
        kind: BufferKind::RunningMean,
    },
    BufferInfo {
        name: "batchnorm1.running_var",
        shape: &[4],
        offset: 4,
        len: 4,
        kind: BufferKind::RunningVar,
    },
    BufferInfo {
        name: "batchnorm1.num_batches_tracked",
        shape: &[],
        offset: 0,
        len: 1,
        kind: BufferKind::NumBatchesTracked,
    },
];

/// The MLP's state in these buffers.
fn state<'a>(p: &'a mut [f32], b: &'a mut [f32], c: &'a mut [i64]) -> StateMut<'a> {
    StateMut {
        params_layout: PARAMS,
        params: p,
        buffers_layout: BUFFERS,
        buffers: b,
        counters: c,
        preprocess: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("netspec-fuzz-load-{}.safetensors", std::process::id()));
    std::fs::write(&path, data).expect("the temporary directory is writable");
    let (mut p, mut b, mut c) = ([7.5f32; 34], [7.5f32; 8], [7i64; 1]);
    match load_state(&path, state(&mut p, &mut b, &mut c)) {
        Err(e) => {
            assert_eq!((p, b, c), ([7.5; 34], [7.5; 8], [7]), "changed on error: {e}");
            let _ = e.to_string();
        }
        Ok(()) => {
            assert!(p.iter().chain(&b).all(|x| x.is_finite()));
            assert!(b[4..].iter().all(|&v| v >= 0.0));
            let again = dir.join(format!("netspec-fuzz-resave-{}.safetensors", std::process::id()));
            let saved = State {
                params_layout: PARAMS,
                params: &p,
                buffers_layout: BUFFERS,
                buffers: &b,
                counters: &c,
                preprocess: None,
            };
            save_state(&again, saved).expect("an accepted state saves");
            let (mut p2, mut b2, mut c2) = ([0f32; 34], [0f32; 8], [0i64; 1]);
            load_state(&again, state(&mut p2, &mut b2, &mut c2)).expect("a saved state loads");
            assert_eq!(
                (p.map(f32::to_bits), b.map(f32::to_bits), c),
                (p2.map(f32::to_bits), b2.map(f32::to_bits), c2)
            );
        }
    }
    // The permissive options accept more but must not panic either.
    let lax = LoadOptions { allow_non_finite: true, allow_negative_variance: true };
    let _ = load_state_with(&path, state(&mut p, &mut b, &mut c), &lax);
});
