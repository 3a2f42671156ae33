//! A network's state with its fitted preprocessing: [`crate::state`]'s tensors plus the
//! `preprocess.*` statistics of a [`Preprocessor`], in one safetensors file.

use std::path::Path;

use crate::checkpoint::{
    CheckpointError, LoadOptions, TensorDataMut, TensorMut, TensorRef, load_checked, save,
};
use crate::layout::{BufferInfo, ParamInfo};
use crate::preprocess::Preprocessor;
use crate::state::{State, is_running_var};

/// Writes the parameters, the buffers and `pre`'s statistics (`preprocess.mean`, ...).
pub fn save_state_preprocessed(
    path: &Path,
    state: State<'_>,
    pre: &Preprocessor,
) -> Result<(), CheckpointError> {
    let mut tensors = Vec::new();
    let data = |values: &[f32], offset: usize, len: usize, name: &str| {
        values.get(offset..offset.saturating_add(len)).map(|_| ()).ok_or_else(|| {
            CheckpointError::InvalidTensor {
                name: name.to_string(),
                reason: "lies outside its buffer".into(),
            }
        })
    };
    for info in state.params_layout {
        data(state.params, info.offset, info.len, info.name)?;
        tensors.push(TensorRef {
            name: info.name,
            shape: info.shape,
            data: crate::checkpoint::TensorData::F32(
                &state.params[info.offset..info.offset + info.len],
            ),
        });
    }
    for info in state.buffers_layout {
        let d = if info.kind.is_i64() {
            if state.counters.get(info.offset..info.offset + info.len).is_none() {
                data(&[], 1, 0, info.name)?;
            }
            crate::checkpoint::TensorData::I64(&state.counters[info.offset..info.offset + info.len])
        } else {
            data(state.buffers, info.offset, info.len, info.name)?;
            crate::checkpoint::TensorData::F32(&state.buffers[info.offset..info.offset + info.len])
        };
        tensors.push(TensorRef { name: info.name, shape: info.shape, data: d });
    }
    tensors.extend(pre.tensor_refs());
    save(path, &tensors)
}

/// Reads a file written by [`save_state_preprocessed`]: exactly the network's tensors plus the
/// statistics `pre`'s kind keeps, which replace `pre`, with no NaN, infinite value or negative
/// running variance (see [`load_state_preprocessed_with`]). On error nothing is changed.
pub fn load_state_preprocessed(
    path: &Path,
    params_layout: &[ParamInfo],
    params: &mut [f32],
    buffers_layout: &[BufferInfo],
    buffers: &mut [f32],
    counters: &mut [i64],
    pre: &mut Preprocessor,
) -> Result<(), CheckpointError> {
    load_state_preprocessed_with(
        path,
        params_layout,
        params,
        buffers_layout,
        buffers,
        counters,
        pre,
        &LoadOptions::default(),
    )
}

/// As [`load_state_preprocessed`], accepting the values `options` allows.
// The arguments of `load_state_preprocessed` plus the options, in the same order.
#[allow(clippy::too_many_arguments)]
pub fn load_state_preprocessed_with(
    path: &Path,
    params_layout: &[ParamInfo],
    params: &mut [f32],
    buffers_layout: &[BufferInfo],
    buffers: &mut [f32],
    counters: &mut [i64],
    pre: &mut Preprocessor,
    options: &LoadOptions,
) -> Result<(), CheckpointError> {
    let invalid = |name: &str, reason: String| CheckpointError::InvalidTensor {
        name: name.to_string(),
        reason,
    };
    let shapes = Preprocessor::tensor_shapes(pre.kind(), pre.shape())
        .map_err(|e| invalid("preprocess", e.to_string()))?;
    // Read into copies, so a failure leaves everything as it was.
    let (mut p, mut b, mut c) = (params.to_vec(), buffers.to_vec(), counters.to_vec());
    let mut stats: Vec<Vec<f32>> =
        shapes.iter().map(|(_, s)| vec![0.0; s.iter().product()]).collect();
    {
        let mut tensors: Vec<TensorMut<'_>> = Vec::new();
        let mut rules = Vec::new();
        let (mut rest_p, mut rest_b, mut rest_c): (&mut [f32], &mut [f32], &mut [i64]) =
            (&mut p, &mut b, &mut c);
        let mut at = (0usize, 0usize, 0usize);
        let mut order: Vec<(usize, &str, &[usize], usize, usize)> =
            params_layout
                .iter()
                .map(|i| (0, i.name, i.shape, i.offset, i.len))
                .chain(buffers_layout.iter().map(|i| {
                    (if i.kind.is_i64() { 2 } else { 1 }, i.name, i.shape, i.offset, i.len)
                }))
                .collect();
        order.sort_by_key(|o| (o.0, o.3));
        for (kind, name, shape, offset, len) in order {
            let bad = || invalid(name, "overlaps another tensor or lies outside its buffer".into());
            let data = match kind {
                0 => {
                    let skip = offset.checked_sub(at.0).ok_or_else(bad)?;
                    if skip + len > rest_p.len() {
                        return Err(bad());
                    }
                    let (_, tail) = std::mem::take(&mut rest_p).split_at_mut(skip);
                    let (piece, tail) = tail.split_at_mut(len);
                    (rest_p, at.0) = (tail, offset + len);
                    TensorDataMut::F32(piece)
                }
                1 => {
                    let skip = offset.checked_sub(at.1).ok_or_else(bad)?;
                    if skip + len > rest_b.len() {
                        return Err(bad());
                    }
                    let (_, tail) = std::mem::take(&mut rest_b).split_at_mut(skip);
                    let (piece, tail) = tail.split_at_mut(len);
                    (rest_b, at.1) = (tail, offset + len);
                    TensorDataMut::F32(piece)
                }
                _ => {
                    let skip = offset.checked_sub(at.2).ok_or_else(bad)?;
                    if skip + len > rest_c.len() {
                        return Err(bad());
                    }
                    let (_, tail) = std::mem::take(&mut rest_c).split_at_mut(skip);
                    let (piece, tail) = tail.split_at_mut(len);
                    (rest_c, at.2) = (tail, offset + len);
                    TensorDataMut::I64(piece)
                }
            };
            rules.push(options.rule(is_running_var(buffers_layout, name)));
            tensors.push(TensorMut { name, shape, data });
        }
        for ((name, shape), data) in shapes.iter().zip(stats.iter_mut()) {
            rules.push(options.rule(false));
            tensors.push(TensorMut { name, shape, data: TensorDataMut::F32(data) });
        }
        load_checked(path, &mut tensors, &rules)?;
    }
    let named: Vec<(&str, &[usize], &[f32])> = shapes
        .iter()
        .zip(&stats)
        .map(|((name, shape), data)| (*name, shape.as_slice(), data.as_slice()))
        .collect();
    let fitted = Preprocessor::from_tensors(pre.kind(), pre.eps(), pre.shape(), &named)
        .map_err(|e| invalid("preprocess", e.to_string()))?;
    params.copy_from_slice(&p);
    buffers.copy_from_slice(&b);
    counters.copy_from_slice(&c);
    *pre = fitted;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::layout::{BufferKind, Role};
    use crate::preprocess::PreprocessKind;

    const PARAMS: &[ParamInfo] = &[ParamInfo {
        name: "bn.weight",
        shape: &[2],
        offset: 0,
        len: 2,
        role: Role::NormWeight,
        init: Init::Constant(1.0),
        fan_in: 0,
    }];
    const BUFFERS: &[BufferInfo] = &[BufferInfo {
        name: "bn.running_var",
        shape: &[2],
        offset: 0,
        len: 2,
        kind: BufferKind::RunningVar,
    }];

    #[test]
    fn poisoned_values_are_refused_unless_allowed() {
        let path = std::env::temp_dir()
            .join(format!("netspec-model-state-{}.safetensors", std::process::id()));
        let kind = PreprocessKind::StandardizePerFeature;
        let fitted = Preprocessor::fit(kind, 1e-5, &[2], &[1.0, 2.0, 3.0, 5.0]).unwrap();
        let state = State {
            params_layout: PARAMS,
            params: &[1.0, f32::NAN],
            buffers_layout: BUFFERS,
            buffers: &[1.0, -1.0],
            counters: &[],
        };
        save_state_preprocessed(&path, state, &fitted).unwrap();
        let (mut p, mut b) = ([9.0; 2], [9.0; 2]);
        let mut pre = Preprocessor::new(kind, 1e-5, &[2]).unwrap();
        let err =
            load_state_preprocessed(&path, PARAMS, &mut p, BUFFERS, &mut b, &mut [], &mut pre)
                .unwrap_err();
        assert!(err.to_string().contains("`bn.weight` holds NaN at index [1]"), "{err}");
        assert_eq!((p, b), ([9.0; 2], [9.0; 2]));
        assert_eq!(pre.mean(), &[0.0, 0.0]);

        let only_nan = LoadOptions { allow_non_finite: true, ..LoadOptions::default() };
        let err = load_state_preprocessed_with(
            &path,
            PARAMS,
            &mut p,
            BUFFERS,
            &mut b,
            &mut [],
            &mut pre,
            &only_nan,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`bn.running_var` holds -1 at index [1]"), "{err}");

        let lax = LoadOptions { allow_non_finite: true, allow_negative_variance: true };
        load_state_preprocessed_with(
            &path,
            PARAMS,
            &mut p,
            BUFFERS,
            &mut b,
            &mut [],
            &mut pre,
            &lax,
        )
        .unwrap();
        assert!(p[0] == 1.0 && p[1].is_nan());
        assert_eq!(b, [1.0, -1.0]);
        assert_eq!(pre.mean(), &[2.0, 3.5]);
        std::fs::remove_file(&path).unwrap();
    }
}
