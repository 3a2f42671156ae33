//! A network's whole `state_dict` in one safetensors file: the trainable parameters, the
//! batch-norm buffers (`running_mean`, `running_var` as f32, `num_batches_tracked` as i64) and,
//! for a network with `preprocess`, its fitted statistics (`preprocess.mean`, ...), so
//! `model.load_state_dict(safetensors.torch.load_file(path))` accepts it with `strict=True`.

use std::path::Path;

use crate::checkpoint::{
    CheckpointError, LoadOptions, TensorData, TensorDataMut, TensorMut, TensorRef, load_checked,
    save,
};
use crate::layout::{BufferInfo, BufferKind, ParamInfo};
use crate::pipeline::preprocess::Preprocessor;

/// A network's state: its layout tables, the three flat buffers they describe and its fitted
/// preprocessing.
#[derive(Clone, Copy, Debug)]
pub struct State<'a> {
    /// The parameter layout.
    pub params_layout: &'a [ParamInfo],
    /// The parameters.
    pub params: &'a [f32],
    /// The buffer layout (f32 buffers and i64 counters).
    pub buffers_layout: &'a [BufferInfo],
    /// The f32 buffers.
    pub buffers: &'a [f32],
    /// The i64 counters.
    pub counters: &'a [i64],
    /// The `preprocess` statistics, `None` for a network without `preprocess`.
    pub preprocess: Option<&'a Preprocessor>,
}

/// A network's state to load into: as [`State`], every buffer writable.
#[derive(Debug)]
pub struct StateMut<'a> {
    /// The parameter layout.
    pub params_layout: &'a [ParamInfo],
    /// The parameters.
    pub params: &'a mut [f32],
    /// The buffer layout (f32 buffers and i64 counters).
    pub buffers_layout: &'a [BufferInfo],
    /// The f32 buffers.
    pub buffers: &'a mut [f32],
    /// The i64 counters.
    pub counters: &'a mut [i64],
    /// The `preprocess` statistics, replaced by the file's (their kind, eps and shape kept).
    pub preprocess: Option<&'a mut Preprocessor>,
}

fn slice<'a, T>(
    data: &'a [T],
    name: &str,
    offset: usize,
    len: usize,
) -> Result<&'a [T], CheckpointError> {
    data.get(offset..offset.saturating_add(len)).ok_or_else(|| CheckpointError::InvalidTensor {
        name: name.to_string(),
        reason: "lies outside its buffer".into(),
    })
}

/// Writes every parameter, buffer and preprocessing statistic under its PyTorch name.
pub fn save_state(path: &Path, state: State<'_>) -> Result<(), CheckpointError> {
    let mut tensors = Vec::with_capacity(state.params_layout.len() + state.buffers_layout.len());
    for info in state.params_layout {
        let data = TensorData::F32(slice(state.params, info.name, info.offset, info.len)?);
        tensors.push(TensorRef { name: info.name, shape: info.shape, data });
    }
    for info in state.buffers_layout {
        let data = if info.kind.is_i64() {
            TensorData::I64(slice(state.counters, info.name, info.offset, info.len)?)
        } else {
            TensorData::F32(slice(state.buffers, info.name, info.offset, info.len)?)
        };
        tensors.push(TensorRef { name: info.name, shape: info.shape, data });
    }
    if let Some(pre) = state.preprocess {
        tensors.extend(pre.tensor_refs());
    }
    save(path, &tensors)
}

/// Cuts `data` into the disjoint `(name, offset, len)` pieces, in any order.
fn pieces<'a, T>(
    data: &'a mut [T],
    mut wanted: Vec<(&'a str, usize, usize)>,
) -> Result<Vec<(&'a str, &'a mut [T])>, CheckpointError> {
    wanted.sort_by_key(|w| w.1);
    let mut out = Vec::with_capacity(wanted.len());
    let (mut rest, mut at) = (data, 0usize);
    for (name, offset, len) in wanted {
        let invalid = |reason: &str| CheckpointError::InvalidTensor {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let skip = offset.checked_sub(at).ok_or_else(|| invalid("overlaps another tensor"))?;
        if skip.saturating_add(len) > rest.len() {
            return Err(invalid("lies outside its buffer"));
        }
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(skip);
        let (piece, tail) = tail.split_at_mut(len);
        rest = tail;
        at = offset + len;
        out.push((name, piece));
    }
    Ok(out)
}

/// Reads a file written by [`save_state`] (or PyTorch's `state_dict` of the same network):
/// exactly these tensors (with the statistics the preprocessing keeps), with these shapes and
/// dtypes, and no NaN, infinite value or negative running variance (see
/// [`load_state_with`]); on error nothing is changed.
pub fn load_state(path: &Path, state: StateMut<'_>) -> Result<(), CheckpointError> {
    load_state_with(path, state, &LoadOptions::default())
}

/// As [`load_state`], accepting the values `options` allows.
pub fn load_state_with(
    path: &Path,
    state: StateMut<'_>,
    options: &LoadOptions,
) -> Result<(), CheckpointError> {
    let StateMut { params_layout, params, buffers_layout, buffers, counters, preprocess } = state;
    let invalid = |name: &str, reason: String| CheckpointError::InvalidTensor {
        name: name.to_string(),
        reason,
    };
    let shapes = match &preprocess {
        Some(pre) => Preprocessor::tensor_shapes(pre.kind(), pre.shape())
            .map_err(|e| invalid("preprocess", e.to_string()))?,
        None => Vec::new(),
    };
    let shape_of = |name: &str| {
        params_layout
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.shape)
            .or_else(|| buffers_layout.iter().find(|b| b.name == name).map(|b| b.shape))
            .unwrap_or(&[])
    };
    // Read into copies, so a failure (of the file or of the statistics it holds) leaves
    // everything as it was.
    let (mut p, mut b, mut c) = (params.to_vec(), buffers.to_vec(), counters.to_vec());
    let mut stats: Vec<Vec<f32>> =
        shapes.iter().map(|(_, s)| vec![0.0; s.iter().product()]).collect();
    {
        let p = pieces(&mut p, params_layout.iter().map(|i| (i.name, i.offset, i.len)).collect())?;
        let (ints, floats): (Vec<&BufferInfo>, Vec<&BufferInfo>) =
            buffers_layout.iter().partition(|b| b.kind.is_i64());
        let f = pieces(&mut b, floats.iter().map(|i| (i.name, i.offset, i.len)).collect())?;
        let c = pieces(&mut c, ints.iter().map(|i| (i.name, i.offset, i.len)).collect())?;
        let mut tensors: Vec<TensorMut<'_>> = Vec::new();
        let mut rules = Vec::new();
        for (name, data) in p.into_iter().chain(f) {
            rules.push(options.rule(is_running_var(buffers_layout, name)));
            tensors.push(TensorMut { name, shape: shape_of(name), data: TensorDataMut::F32(data) });
        }
        for (name, data) in c {
            rules.push(options.rule(false));
            tensors.push(TensorMut { name, shape: shape_of(name), data: TensorDataMut::I64(data) });
        }
        for ((name, shape), data) in shapes.iter().zip(stats.iter_mut()) {
            rules.push(options.rule(false));
            tensors.push(TensorMut { name, shape, data: TensorDataMut::F32(data) });
        }
        load_checked(path, &mut tensors, &rules)?;
    }
    let fitted = match &preprocess {
        Some(pre) => {
            let named: Vec<(&str, &[usize], &[f32])> = shapes
                .iter()
                .zip(&stats)
                .map(|((name, shape), data)| (*name, shape.as_slice(), data.as_slice()))
                .collect();
            let fitted = Preprocessor::from_tensors(pre.kind(), pre.eps(), pre.shape(), &named)
                .map_err(|e| invalid("preprocess", e.to_string()))?;
            Some(fitted)
        }
        None => None,
    };
    params.copy_from_slice(&p);
    buffers.copy_from_slice(&b);
    counters.copy_from_slice(&c);
    if let (Some(pre), Some(fitted)) = (preprocess, fitted) {
        *pre = fitted;
    }
    Ok(())
}

/// `true` if `name` is a batch-norm running variance in `buffers_layout`.
fn is_running_var(buffers_layout: &[BufferInfo], name: &str) -> bool {
    buffers_layout.iter().any(|b| b.name == name && b.kind == BufferKind::RunningVar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::layout::{BufferKind, Role};
    use crate::pipeline::preprocess::PreprocessKind;

    const PARAMS: &[ParamInfo] = &[ParamInfo {
        name: "batchnorm1.weight",
        shape: &[2],
        offset: 0,
        len: 2,
        role: Role::NormWeight,
        init: Init::Constant(1.0),
        fan_in: 0,
    }];
    const BUFFERS: &[BufferInfo] = &[
        BufferInfo {
            name: "batchnorm1.running_mean",
            shape: &[2],
            offset: 0,
            len: 2,
            kind: BufferKind::RunningMean,
        },
        BufferInfo {
            name: "batchnorm1.running_var",
            shape: &[2],
            offset: 2,
            len: 2,
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

    fn state_mut<'a>(
        params: &'a mut [f32],
        buffers: &'a mut [f32],
        counters: &'a mut [i64],
        preprocess: Option<&'a mut Preprocessor>,
    ) -> StateMut<'a> {
        StateMut {
            params_layout: PARAMS,
            params,
            buffers_layout: BUFFERS,
            buffers,
            counters,
            preprocess,
        }
    }

    #[test]
    fn parameters_buffers_and_counters_round_trip() {
        let path =
            std::env::temp_dir().join(format!("netspec-state-{}.safetensors", std::process::id()));
        let state = State {
            params_layout: PARAMS,
            params: &[1.5, -2.0],
            buffers_layout: BUFFERS,
            buffers: &[0.25, 0.5, 2.0, 3.0],
            counters: &[7],
            preprocess: None,
        };
        save_state(&path, state).unwrap();
        let (mut p, mut b, mut c) = ([0.0; 2], [0.0; 4], [0i64; 1]);
        load_state(&path, state_mut(&mut p, &mut b, &mut c, None)).unwrap();
        assert_eq!((p, b, c), ([1.5, -2.0], [0.25, 0.5, 2.0, 3.0], [7]));
        // Parameters alone are not this network's state.
        let only_params = StateMut {
            params_layout: PARAMS,
            params: &mut p,
            buffers_layout: &[],
            buffers: &mut [],
            counters: &mut [],
            preprocess: None,
        };
        let err = load_state(&path, only_params).unwrap_err();
        assert!(err.to_string().contains("running_mean"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }

    /// Parameters, buffers and counters as loaded.
    type Loaded = ([f32; 2], [f32; 4], [i64; 1]);

    /// Saves a state with `params` and `buffers`, loads it into buffers of 9s with `options`
    /// and returns the result; on error checks that nothing was changed.
    fn load_poisoned(
        tag: &str,
        params: &[f32],
        buffers: &[f32],
        options: &LoadOptions,
    ) -> Result<Loaded, CheckpointError> {
        let path = std::env::temp_dir()
            .join(format!("netspec-state-{tag}-{}.safetensors", std::process::id()));
        let state = State {
            params_layout: PARAMS,
            params,
            buffers_layout: BUFFERS,
            buffers,
            counters: &[7],
            preprocess: None,
        };
        save_state(&path, state).unwrap();
        let (mut p, mut b, mut c) = ([9.0; 2], [9.0; 4], [9i64; 1]);
        let result = load_state_with(&path, state_mut(&mut p, &mut b, &mut c, None), options);
        std::fs::remove_file(&path).unwrap();
        match result {
            Ok(()) => Ok((p, b, c)),
            Err(e) => {
                assert_eq!((p, b, c), ([9.0; 2], [9.0; 4], [9]), "changed on error: {e}");
                Err(e)
            }
        }
    }

    #[test]
    fn nan_parameters_and_negative_variances_are_refused_unless_allowed() {
        let strict = LoadOptions::default();
        let err =
            load_poisoned("nan", &[1.0, f32::NAN], &[0.0, 0.0, 1.0, 1.0], &strict).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`batchnorm1.weight` holds NaN at index [1]"), "{text}");
        let err = load_poisoned("var", &[1.0, 1.0], &[0.0, 0.0, 1.0, -1.0], &strict).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`batchnorm1.running_var` holds -1 at index [1]"), "{text}");
        assert!(text.contains("allow_negative_variance"), "{text}");
        // An infinite running mean is refused too; a negative one is fine.
        let err = load_poisoned("inf", &[1.0, 1.0], &[f32::INFINITY, -2.0, 1.0, 1.0], &strict)
            .unwrap_err();
        assert!(err.to_string().contains("`batchnorm1.running_mean` holds inf"), "{err}");
        let (_, b, _) = load_poisoned("neg", &[1.0, 1.0], &[-2.0, 0.0, 0.0, 1.0], &strict).unwrap();
        assert_eq!(b, [-2.0, 0.0, 0.0, 1.0]);

        let lax = LoadOptions { allow_non_finite: true, allow_negative_variance: true };
        let (p, b, c) =
            load_poisoned("lax", &[1.0, f32::NAN], &[0.0, 0.0, 1.0, -1.0], &lax).unwrap();
        assert!(p[0] == 1.0 && p[1].is_nan());
        assert_eq!((b, c), ([0.0, 0.0, 1.0, -1.0], [7]));
        // Each option accepts its own kind of value only.
        let only_nan = LoadOptions { allow_non_finite: true, ..strict };
        assert!(load_poisoned("only", &[1.0, 1.0], &[0.0, 0.0, 1.0, -1.0], &only_nan).is_err());
    }

    #[test]
    fn preprocessing_statistics_load_with_the_state_or_not_at_all() {
        let path = std::env::temp_dir()
            .join(format!("netspec-state-pre-{}.safetensors", std::process::id()));
        let kind = PreprocessKind::StandardizePerFeature;
        let fitted = Preprocessor::fit(kind, 1e-5, &[2], &[1.0, 2.0, 3.0, 5.0]).unwrap();
        let state = State {
            params_layout: PARAMS,
            params: &[1.0, f32::NAN],
            buffers_layout: BUFFERS,
            buffers: &[0.0, 0.0, 1.0, -1.0],
            counters: &[7],
            preprocess: Some(&fitted),
        };
        save_state(&path, state).unwrap();
        let (mut p, mut b, mut c) = ([9.0; 2], [9.0; 4], [9i64; 1]);
        let mut pre = Preprocessor::new(kind, 1e-5, &[2]).unwrap();
        let err = load_state(&path, state_mut(&mut p, &mut b, &mut c, Some(&mut pre))).unwrap_err();
        assert!(err.to_string().contains("`batchnorm1.weight` holds NaN at index [1]"), "{err}");
        assert_eq!((p, b, c), ([9.0; 2], [9.0; 4], [9]));
        assert_eq!(pre.mean(), &[0.0, 0.0]);

        let only_nan = LoadOptions { allow_non_finite: true, ..LoadOptions::default() };
        let into = state_mut(&mut p, &mut b, &mut c, Some(&mut pre));
        let err = load_state_with(&path, into, &only_nan).unwrap_err();
        assert!(
            err.to_string().contains("`batchnorm1.running_var` holds -1 at index [1]"),
            "{err}"
        );

        let lax = LoadOptions { allow_non_finite: true, allow_negative_variance: true };
        load_state_with(&path, state_mut(&mut p, &mut b, &mut c, Some(&mut pre)), &lax).unwrap();
        assert!(p[0] == 1.0 && p[1].is_nan());
        assert_eq!((b, c), ([0.0, 0.0, 1.0, -1.0], [7]));
        assert_eq!(pre.mean(), &[2.0, 3.5]);
        // Without the preprocessing, its statistics are tensors this network does not have.
        let err =
            load_state_with(&path, state_mut(&mut p, &mut b, &mut c, None), &lax).unwrap_err();
        assert!(err.to_string().contains("preprocess.mean"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }
}
