//! Freezing a network with a checkpoint: the values are baked in, and a checkpoint that does
//! not fit the spec is an error naming the tensor (through `network!(weights = ...)` too).

use netspec_codegen::{Config, expand_macro, generate_frozen};
use netspec_runtime::checkpoint::{TensorData, TensorRef, save};

const SPEC: &str = "network Tiny { input 3; dense 2; relu; dense 1; loss mse; }";

/// Writes the tensors (name, shape) with values 0.5, 1.5, 2.5, ... to a temporary file.
fn checkpoint(tensors: &[(&str, &[usize])]) -> tempfile::TempPath {
    let file = tempfile::Builder::new().suffix(".safetensors").tempfile().unwrap().into_temp_path();
    let mut next = 0.5f32;
    let data: Vec<Vec<f32>> = tensors
        .iter()
        .map(|(_, shape)| {
            (0..shape.iter().product::<usize>())
                .map(|_| {
                    next += 1.0;
                    next - 1.0
                })
                .collect()
        })
        .collect();
    let refs: Vec<TensorRef<'_>> = tensors
        .iter()
        .zip(&data)
        .map(|((name, shape), d)| TensorRef { name, shape, data: TensorData::F32(d) })
        .collect();
    save(&file, &refs).unwrap();
    file
}

const TINY: [(&str, &[usize]); 4] = [
    ("dense1.weight", &[2, 3]),
    ("dense1.bias", &[2]),
    ("dense2.weight", &[1, 2]),
    ("dense2.bias", &[1]),
];

#[test]
fn values_are_baked_in_as_statics() {
    let weights = checkpoint(&TINY);
    let code = generate_frozen(SPEC, &Config::default(), &weights).unwrap().to_string();
    assert!(code.contains("pub struct TinyFrozen"), "{code}");
    // The 9 values in layout order, as f32 literals.
    let values = "[0.5 , 1.5 , 2.5 , 3.5 , 4.5 , 5.5 , 6.5 , 7.5 , 8.5 , 9.5 , 10.5]";
    assert!(code.contains(&format!("static TINY_FROZEN_PARAMS : [f32 ; 11] = {values}")), "{code}");
    assert!(!code.contains("self . core"), "{code}");
}

#[test]
fn a_misshapen_tensor_is_named_with_both_shapes() {
    let mut tensors = TINY;
    tensors[2] = ("dense2.weight", &[2, 1]);
    let weights = checkpoint(&tensors);
    let errors = generate_frozen(SPEC, &Config::default(), &weights).unwrap_err();
    let message = &errors[0].message;
    assert!(
        message.contains("`dense2.weight` has shape [2, 1] but the network expects [1, 2]"),
        "{message}"
    );
}

#[test]
fn a_missing_tensor_is_named() {
    let weights = checkpoint(&TINY[..3]);
    let errors = generate_frozen(SPEC, &Config::default(), &weights).unwrap_err();
    assert!(errors[0].message.contains("lacks tensor(s) dense2.bias"), "{}", errors[0].message);
}

#[test]
fn the_macro_freezes_with_a_weights_argument() {
    let weights = checkpoint(&TINY);
    let path = weights.to_str().unwrap();
    let input = format!("weights = {path:?}, {SPEC}").parse().unwrap();
    let code = expand_macro(input, &Config::default()).to_string();
    assert!(code.contains("pub struct TinyFrozen") && code.contains("include_bytes"), "{code}");
    assert!(!code.contains("compile_error"), "{code}");

    let mut tensors = TINY;
    tensors[0] = ("dense1.weight", &[3, 2]);
    let weights = checkpoint(&tensors);
    let input = format!("weights = {:?}, {SPEC}", weights.to_str().unwrap()).parse().unwrap();
    let code = expand_macro(input, &Config::default()).to_string();
    assert!(code.contains("compile_error") && code.contains("dense1.weight"), "{code}");

    let code = expand_macro("weights = 3, network A {}".parse().unwrap(), &Config::default());
    assert!(code.to_string().contains("`weights` takes a string"), "{code}");
}

/// A projection shortcut's conv and batch norm read only the parameters and buffers in
/// `predict`, so they freeze like every other layer (their tensors under
/// `residual1.shortcut.*`).
#[test]
fn a_projection_shortcut_freezes() {
    let spec = "network Stage { input image(1, 4, 4); \
                residual shortcut { conv 2 kernel 3 stride 2 pad 1 bias none; } \
                flatten; loss mse; }";
    let file = tempfile::Builder::new().suffix(".safetensors").tempfile().unwrap().into_temp_path();
    let (w, s, two) = ([0.25f32; 18], [0.5f32; 2], [1.0f32; 2]);
    let tensor = |name, shape, data| TensorRef { name, shape, data: TensorData::F32(data) };
    let refs = [
        tensor("conv1.weight", &[2, 1, 3, 3][..], &w[..]),
        tensor("residual1.shortcut.0.weight", &[2, 1, 1, 1], &s),
        tensor("residual1.shortcut.1.weight", &[2], &two),
        tensor("residual1.shortcut.1.bias", &[2], &s),
        tensor("residual1.shortcut.1.running_mean", &[2], &s),
        tensor("residual1.shortcut.1.running_var", &[2], &two),
        TensorRef {
            name: "residual1.shortcut.1.num_batches_tracked",
            shape: &[],
            data: TensorData::I64(&[3]),
        },
    ];
    save(&file, &refs).unwrap();
    let code = generate_frozen(spec, &Config::default(), &file).unwrap().to_string();
    assert!(code.contains("pub struct StageFrozen"), "{code}");
    assert!(code.contains("RESIDUAL1_SHORTCUT_1"), "{code}");
    // 18 + 2 + 2 + 2 parameters, 2 + 2 statistics
    assert!(code.contains("static STAGE_FROZEN_PARAMS : [f32 ; 24]"), "{code}");
    assert!(code.contains("static STAGE_FROZEN_BUFFERS : [f32 ; 4]"), "{code}");
    assert!(!code.contains("self . core"), "{code}");
}

/// A batch norm without gamma, beta or running statistics reads neither from the frozen
/// network: no buffers static is made, and its eval normalizes each sample by its own
/// statistics.
#[test]
fn batchnorm_without_affine_or_running_statistics_freezes() {
    let spec = "network Bn { input image(1, 3, 3); batch 2; \
         batchnorm affine false track_running_stats false; flatten; dense 1; loss mse; }";
    let weights = checkpoint(&[("dense1.weight", &[1, 9]), ("dense1.bias", &[1])]);
    let code = generate_frozen(spec, &Config::default(), &weights).unwrap().to_string();
    assert!(code.contains("static BN_FROZEN_PARAMS : [f32 ; 10]"), "{code}");
    assert!(!code.contains("BN_FROZEN_BUFFERS") && !code.contains("self . core"), "{code}");
    assert!(code.contains("track_running_stats : false"), "{code}");
}
