//! Checkpoints as safetensors files that PyTorch loads directly.
//!
//! [`save`] writes named tensors with `__metadata__ = {"format": "pt"}`, so
//! `model.load_state_dict(safetensors.torch.load_file(path))` accepts a file whose names and
//! shapes follow the network's `state_dict`. [`load`] reads a file back into caller-owned buffers
//! and checks every name, dtype and shape first, so a bad file never leaves buffers half
//! overwritten. No input file can make either function panic.

pub mod state;

use safetensors::tensor::{Dtype as StDtype, Metadata, TensorView};
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::layout::ParamInfo;

/// Element types a checkpoint holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dtype {
    /// 32-bit float (parameters, running statistics).
    F32,
    /// 64-bit signed integer (`num_batches_tracked`).
    I64,
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "F32",
            Dtype::I64 => "I64",
        })
    }
}

/// Borrowed tensor contents to save.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum TensorData<'a> {
    /// f32 elements.
    F32(&'a [f32]),
    /// i64 elements.
    I64(&'a [i64]),
}

/// A named tensor to save: `data` in row-major order for `shape` (`[]` is a scalar).
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'a> {
    /// PyTorch `state_dict` key.
    pub name: &'a str,
    /// PyTorch shape.
    pub shape: &'a [usize],
    /// The elements.
    pub data: TensorData<'a>,
}

/// Caller-owned buffers to load into.
#[derive(Debug)]
#[non_exhaustive]
pub enum TensorDataMut<'a> {
    /// f32 elements.
    F32(&'a mut [f32]),
    /// i64 elements.
    I64(&'a mut [i64]),
}

/// A named tensor expected in a checkpoint, with the buffer it loads into.
#[derive(Debug)]
pub struct TensorMut<'a> {
    /// PyTorch `state_dict` key.
    pub name: &'a str,
    /// Expected shape.
    pub shape: &'a [usize],
    /// Where the elements go; its length must be the product of `shape`.
    pub data: TensorDataMut<'a>,
}

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing the file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file (truncated, corrupt or another format).
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the safetensors parser reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Tensors the caller expects are not in the file.
    Missing {
        /// The file.
        path: PathBuf,
        /// Their names.
        names: Vec<String>,
    },
    /// The file holds tensors the caller does not expect.
    Unexpected {
        /// The file.
        path: PathBuf,
        /// Their names.
        names: Vec<String>,
    },
    /// A tensor's shape differs from the expected one.
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Shape the caller expects.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A tensor's element type differs from the expected one.
    DtypeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Type the caller expects.
        expected: Dtype,
        /// Type in the file, as safetensors names it.
        found: String,
    },
    /// A tensor holds a value the network cannot use: NaN or infinite, or a negative running
    /// variance (see [`LoadOptions`]).
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Index of the first bad element (`[]` for a scalar).
        index: Vec<usize>,
        /// Its value.
        value: f32,
        /// Why it is refused and which [`LoadOptions`] field accepts it.
        reason: String,
    },
    /// A tensor passed by the caller is inconsistent (before any file is touched).
    InvalidTensor {
        /// The tensor.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Io { path, source } => {
                write!(f, "checkpoint {}: {source}", path.display())
            }
            CheckpointError::Corrupt { path, source } => write!(
                f,
                "checkpoint {} is not a valid safetensors file ({source}); it may be truncated \
                 or not a checkpoint at all: save it again",
                path.display()
            ),
            CheckpointError::Missing { path, names } => write!(
                f,
                "checkpoint {} lacks tensor(s) {}; it was saved from a different network \
                 (compare its tensor names with the network's layout)",
                path.display(),
                names.join(", ")
            ),
            CheckpointError::Unexpected { path, names } => write!(
                f,
                "checkpoint {} has tensor(s) {} that this network does not have; it was saved \
                 from a different network (remove them or load into the right network)",
                path.display(),
                names.join(", ")
            ),
            CheckpointError::ShapeMismatch { path, name, expected, found } => write!(
                f,
                "checkpoint {}: tensor `{name}` has shape {found:?} but the network expects \
                 {expected:?}; the layer sizes differ from those it was saved with",
                path.display()
            ),
            CheckpointError::DtypeMismatch { path, name, expected, found } => write!(
                f,
                "checkpoint {}: tensor `{name}` is stored as {found} but the network expects \
                 {expected}; convert it (in PyTorch: `.float()` or `.long()`) and save again",
                path.display()
            ),
            CheckpointError::InvalidValue { path, name, index, value, reason } => write!(
                f,
                "checkpoint {}: tensor `{name}` holds {value} at index {index:?}, {reason}; the \
                 run that saved it diverged or the file is damaged: load an earlier checkpoint",
                path.display()
            ),
            CheckpointError::InvalidTensor { name, reason } => {
                write!(f, "tensor `{name}`: {reason}")
            }
        }
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CheckpointError::Io { source, .. } => Some(source),
            CheckpointError::Corrupt { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// Product of `shape`, or an error naming the tensor if `len` differs or it overflows.
fn check_len(name: &str, shape: &[usize], len: usize) -> Result<(), CheckpointError> {
    let product = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if product == Some(len) {
        Ok(())
    } else {
        Err(CheckpointError::InvalidTensor {
            name: name.to_string(),
            reason: format!("shape {shape:?} does not match the {len} elements given"),
        })
    }
}

/// Writes `tensors` to `path` as safetensors, replacing the file only once it is complete.
///
/// The bytes go to a new temporary file in the destination's directory (`.<name>.<pid>.<n>.tmp`,
/// unique to this call), which is flushed to disk and then renamed over `path`; the directory is
/// flushed too, so after a crash `path` holds either the old or the new checkpoint, never a mix.
/// Concurrent saves to one path, from threads or processes, each replace the file whole: the
/// last rename wins and a concurrent [`load`] always sees a complete file. On error the
/// temporary file is removed (only a process killed mid-save can leave one behind).
///
/// If `path` is a symbolic link, the file it points to is replaced and the link is kept (as
/// `std::fs::write` through the link would do); a dangling link gets its target created.
pub fn save(path: impl AsRef<Path>, tensors: &[TensorRef<'_>]) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let mut seen = std::collections::HashSet::new();
    let mut bytes: Vec<(&str, StDtype, &[usize], Vec<u8>)> = Vec::with_capacity(tensors.len());
    for t in tensors {
        if !seen.insert(t.name) {
            return Err(CheckpointError::InvalidTensor {
                name: t.name.to_string(),
                reason: "the name appears twice; every tensor needs its own name".into(),
            });
        }
        let (dtype, len, data) = match t.data {
            TensorData::F32(v) => {
                (StDtype::F32, v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            TensorData::I64(v) => {
                (StDtype::I64, v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
        };
        check_len(t.name, t.shape, len)?;
        bytes.push((t.name, dtype, t.shape, data));
    }
    let mut views = Vec::with_capacity(bytes.len());
    for (name, dtype, shape, data) in &bytes {
        let view = TensorView::new(*dtype, shape.to_vec(), data).map_err(|e| {
            CheckpointError::InvalidTensor { name: name.to_string(), reason: e.to_string() }
        })?;
        views.push((*name, view));
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let file = safetensors::serialize(views, Some(metadata)).map_err(|e| {
        CheckpointError::InvalidTensor {
            name: "(all)".into(),
            reason: format!("safetensors could not serialize the checkpoint: {e}"),
        }
    })?;

    write_atomically(path, &file)
        .map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })
}

/// Follows `path` through symbolic links (at most 40, as Linux does) to the file they name,
/// which need not exist yet.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&at)?;
                // A relative target is relative to the link's directory.
                at = match at.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            _ => return Ok(at),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Writes `bytes` to a fresh temporary file next to `path`'s target, flushes it, renames it
/// over the target and flushes the directory; removes the temporary file on every error.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let target = resolve_links(path)?;
    let name = target.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &target));
    drop(file);
    if let Err(e) = written {
        // Best effort: the write or rename error is what the caller needs to see.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable. Opening a directory to flush it works on unix; other
    // platforms refuse to open or flush one and give no other way, so errors are ignored there.
    #[cfg(unix)]
    std::fs::File::open(&dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = std::fs::File::open(&dir).and_then(|d| d.sync_all());
    Ok(())
}

/// Values [`load_with`] and the state loaders accept beyond the expected names, dtypes and
/// shapes. The default refuses values no trained network holds, which come from a run that
/// diverged or a damaged file and would silently turn every prediction into NaN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Accept NaN and infinite f32 values.
    pub allow_non_finite: bool,
    /// Accept negative batch-norm running variances.
    pub allow_negative_variance: bool,
}

impl LoadOptions {
    /// The rule for one f32 tensor; `variance` marks a batch-norm running variance.
    pub(crate) fn rule(&self, variance: bool) -> ValueRule {
        ValueRule {
            finite: !self.allow_non_finite,
            non_negative: variance && !self.allow_negative_variance,
        }
    }
}

/// Which values a loaded f32 tensor may hold (i64 tensors may hold any).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ValueRule {
    /// No NaN or infinity.
    finite: bool,
    /// No value below zero.
    non_negative: bool,
}

/// Longest header read: the limit of the safetensors format itself.
const MAX_HEADER_LEN: u64 = 100_000_000;

/// Reads the checkpoint at `path` into the `expected` buffers, refusing NaN and infinite
/// values (see [`load_with`]).
///
/// The file must hold exactly the expected tensors (like PyTorch's `load_state_dict` with
/// `strict=True`), each with the expected dtype and shape; every check runs before any buffer
/// is written, so on error the buffers are unchanged.
pub fn load(path: impl AsRef<Path>, expected: &mut [TensorMut<'_>]) -> Result<(), CheckpointError> {
    load_with(path, expected, &LoadOptions::default())
}

/// As [`load`], with the values `options` accepts.
///
/// The header is read and checked first (at most 100 MB, the format's limit): its names,
/// dtypes and shapes against `expected`, and the data size it describes against the file's
/// length. Only then is the data read, so a file that is not this network's checkpoint is
/// refused without reading more than its header, whatever its size.
pub fn load_with(
    path: impl AsRef<Path>,
    expected: &mut [TensorMut<'_>],
    options: &LoadOptions,
) -> Result<(), CheckpointError> {
    let rules = vec![options.rule(false); expected.len()];
    load_checked(path.as_ref(), expected, &rules)
}

/// [`load_with`] with a rule per expected tensor (`rules[i]` for `expected[i]`).
pub(crate) fn load_checked(
    path: &Path,
    expected: &mut [TensorMut<'_>],
    rules: &[ValueRule],
) -> Result<(), CheckpointError> {
    let path_buf = || path.to_path_buf();
    let corrupt =
        |detail: String| CheckpointError::Corrupt { path: path_buf(), source: detail.into() };
    let io = |source| CheckpointError::Io { path: path_buf(), source };
    for t in expected.iter() {
        let len = match &t.data {
            TensorDataMut::F32(v) => v.len(),
            TensorDataMut::I64(v) => v.len(),
        };
        check_len(t.name, t.shape, len)?;
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    if file_len < 8 {
        return Err(corrupt(format!(
            "the file is {file_len} bytes, too short for the 8-byte header length"
        )));
    }
    let mut word = [0u8; 8];
    file.read_exact(&mut word).map_err(io)?;
    let header_len = u64::from_le_bytes(word);
    if header_len > MAX_HEADER_LEN {
        return Err(corrupt(format!(
            "its header length is {header_len} bytes, over the format's limit of {MAX_HEADER_LEN}"
        )));
    }
    let after_len = file_len - 8;
    if header_len > after_len {
        return Err(corrupt(format!(
            "its header length is {header_len} bytes but only {after_len} bytes follow"
        )));
    }
    let mut header = Vec::new();
    (&mut file).take(header_len).read_to_end(&mut header).map_err(io)?;
    let meta: Metadata = std::str::from_utf8(&header)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(text).map_err(|e| e.to_string()))
        .map_err(|e| corrupt(format!("its header is not valid: {e}")))?;
    let data_len = meta.data_len() as u64;
    let have = after_len - header_len;
    if data_len != have {
        return Err(corrupt(format!(
            "its header describes {data_len} bytes of tensor data but {have} bytes follow the \
             header"
        )));
    }

    let missing: Vec<String> = expected
        .iter()
        .filter(|t| meta.info(t.name).is_none())
        .map(|t| t.name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(CheckpointError::Missing { path: path_buf(), names: missing });
    }
    let mut unexpected: Vec<String> =
        meta.tensors().into_keys().filter(|n| !expected.iter().any(|t| t.name == *n)).collect();
    if !unexpected.is_empty() {
        unexpected.sort();
        return Err(CheckpointError::Unexpected { path: path_buf(), names: unexpected });
    }
    let mut ranges = Vec::with_capacity(expected.len());
    for t in expected.iter() {
        let info = meta.info(t.name).ok_or_else(|| corrupt(format!("`{}` vanished", t.name)))?;
        let (want, want_st) = match t.data {
            TensorDataMut::F32(_) => (Dtype::F32, StDtype::F32),
            TensorDataMut::I64(_) => (Dtype::I64, StDtype::I64),
        };
        if info.dtype != want_st {
            return Err(CheckpointError::DtypeMismatch {
                path: path_buf(),
                name: t.name.to_string(),
                expected: want,
                found: format!("{:?}", info.dtype),
            });
        }
        if info.shape != t.shape {
            return Err(CheckpointError::ShapeMismatch {
                path: path_buf(),
                name: t.name.to_string(),
                expected: t.shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        ranges.push(info.data_offsets);
    }

    // The file holds exactly the expected tensors, so the data is as large as the buffers.
    let mut data = Vec::new();
    (&mut file).take(data_len + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 != data_len {
        return Err(corrupt("the file changed while it was read; load it again".into()));
    }
    let mut views = Vec::with_capacity(expected.len());
    for (t, (start, end)) in expected.iter().zip(ranges) {
        // The header was validated: the ranges tile the data and match dtype and shape.
        let bytes = data
            .get(start..end)
            .ok_or_else(|| corrupt(format!("the data of `{}` lies outside the file", t.name)))?;
        views.push(bytes);
    }
    for ((t, bytes), rule) in expected.iter().zip(&views).zip(rules) {
        if matches!(t.data, TensorDataMut::F32(_)) {
            check_values(path, t, bytes, *rule)?;
        }
    }

    // All checks passed; the chunk counts equal the buffer lengths.
    for (t, data) in expected.iter_mut().zip(views) {
        match &mut t.data {
            TensorDataMut::F32(out) => {
                for (x, b) in out.iter_mut().zip(data.chunks_exact(4)) {
                    *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            TensorDataMut::I64(out) => {
                for (x, b) in out.iter_mut().zip(data.chunks_exact(8)) {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(b);
                    *x = i64::from_le_bytes(word);
                }
            }
        }
    }
    Ok(())
}

/// Refuses the first f32 in `bytes` (the data of `t`) that `rule` forbids.
fn check_values(
    path: &Path,
    t: &TensorMut<'_>,
    bytes: &[u8],
    rule: ValueRule,
) -> Result<(), CheckpointError> {
    let values = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    for (flat, value) in values.enumerate() {
        let reason = if rule.finite && !value.is_finite() {
            "which is not finite (set `LoadOptions::allow_non_finite` to accept it)"
        } else if rule.non_negative && value < 0.0 {
            "but a variance cannot be negative (set `LoadOptions::allow_negative_variance` to \
             accept it)"
        } else {
            continue;
        };
        // Row-major index from the flat one.
        let mut index = vec![0; t.shape.len()];
        let mut rest = flat;
        for (i, &d) in index.iter_mut().zip(t.shape).rev() {
            *i = rest % d.max(1);
            rest /= d.max(1);
        }
        return Err(CheckpointError::InvalidValue {
            path: path.to_path_buf(),
            name: t.name.to_string(),
            index,
            value,
            reason: reason.to_string(),
        });
    }
    Ok(())
}

/// Saves each layout entry as a tensor named and shaped as PyTorch's `state_dict`.
pub fn save_params(
    path: &Path,
    layout: &[ParamInfo],
    params: &[f32],
) -> Result<(), CheckpointError> {
    let mut tensors = Vec::with_capacity(layout.len());
    for info in layout {
        let data = params.get(info.offset..info.offset + info.len).ok_or_else(|| {
            CheckpointError::InvalidTensor {
                name: info.name.to_string(),
                reason: "lies outside the parameter buffer".into(),
            }
        })?;
        tensors.push(TensorRef { name: info.name, shape: info.shape, data: TensorData::F32(data) });
    }
    save(path, &tensors)
}

/// Loads every layout entry from a checkpoint; on error `params` is unchanged.
pub fn load_params(
    path: &Path,
    layout: &[ParamInfo],
    params: &mut [f32],
) -> Result<(), CheckpointError> {
    // Hand out disjoint slices in offset order (the layout is contiguous and sorted, but
    // do not rely on it beyond what is checked here).
    let mut order: Vec<&ParamInfo> = layout.iter().collect();
    order.sort_by_key(|info| info.offset);
    let mut tensors = Vec::with_capacity(order.len());
    let mut rest = params;
    let mut at = 0;
    for info in order {
        let invalid = |reason: &str| CheckpointError::InvalidTensor {
            name: info.name.to_string(),
            reason: reason.to_string(),
        };
        let skip = info.offset.checked_sub(at).ok_or_else(|| invalid("overlaps another tensor"))?;
        if skip + info.len > rest.len() {
            return Err(invalid("lies outside the parameter buffer"));
        }
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(skip);
        let (data, tail) = tail.split_at_mut(info.len);
        rest = tail;
        at = info.offset + info.len;
        tensors.push(TensorMut {
            name: info.name,
            shape: info.shape,
            data: TensorDataMut::F32(data),
        });
    }
    load(path, &mut tensors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::SafeTensors;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("netspec-ckpt-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const W: [f32; 6] = [1.5, -0.0, f32::MIN_POSITIVE, f32::MAX, -3.25e-7, 0.1];
    const B: [f32; 3] = [0.5, 1.0, -2.0];

    fn save_net(path: &Path) {
        let nan = f32::from_bits(0x7fc0_1234); // a NaN with a payload must survive too
        save(
            path,
            &[
                TensorRef { name: "fc.weight", shape: &[3, 2], data: TensorData::F32(&W) },
                TensorRef { name: "fc.bias", shape: &[3], data: TensorData::F32(&B) },
                TensorRef { name: "bn.running_mean", shape: &[1], data: TensorData::F32(&[nan]) },
                TensorRef {
                    name: "bn.num_batches_tracked",
                    shape: &[],
                    data: TensorData::I64(&[i64::MIN + 7]),
                },
            ],
        )
        .unwrap();
    }

    #[test]
    fn round_trip_is_bit_identical() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("net.safetensors");
        save_net(&path);
        let (mut w, mut b, mut m, mut n) = ([0f32; 6], [0f32; 3], [0f32; 1], [0i64; 1]);
        load_with(
            &path,
            &mut [
                TensorMut {
                    name: "bn.num_batches_tracked",
                    shape: &[],
                    data: TensorDataMut::I64(&mut n),
                },
                TensorMut { name: "fc.weight", shape: &[3, 2], data: TensorDataMut::F32(&mut w) },
                TensorMut { name: "fc.bias", shape: &[3], data: TensorDataMut::F32(&mut b) },
                TensorMut {
                    name: "bn.running_mean",
                    shape: &[1],
                    data: TensorDataMut::F32(&mut m),
                },
            ],
            &LoadOptions { allow_non_finite: true, ..LoadOptions::default() },
        )
        .unwrap();
        assert_eq!(w.map(f32::to_bits), W.map(f32::to_bits));
        assert_eq!(b, B);
        assert_eq!(m[0].to_bits(), 0x7fc0_1234);
        assert_eq!(n, [i64::MIN + 7]);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);
    }

    #[test]
    fn file_has_pytorch_metadata() {
        let dir = TempDir::new("meta");
        let path = dir.0.join("net.safetensors");
        save_net(&path);
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let info = meta.metadata().as_ref().unwrap();
        assert_eq!(info.get("format").map(String::as_str), Some("pt"));
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
        assert!(
            header.contains(r#""bn.num_batches_tracked":{"dtype":"I64","shape":[]"#),
            "{header}"
        );
        assert!(header.contains(r#""fc.weight":{"dtype":"F32","shape":[3,2]"#), "{header}");
    }

    /// Expects `fc.weight [3, 2]` and `fc.bias [3]` and returns the error, checking the
    /// buffers were left untouched.
    fn load_fc(path: &Path) -> CheckpointError {
        let (mut w, mut b) = ([7f32; 6], [7f32; 3]);
        let err = load(
            path,
            &mut [
                TensorMut { name: "fc.weight", shape: &[3, 2], data: TensorDataMut::F32(&mut w) },
                TensorMut { name: "fc.bias", shape: &[3], data: TensorDataMut::F32(&mut b) },
            ],
        )
        .unwrap_err();
        assert_eq!((w, b), ([7.0; 6], [7.0; 3]), "buffers must be unchanged on error");
        err
    }

    fn write(path: &Path, tensors: &[TensorRef<'_>]) {
        save(path, tensors).unwrap();
    }

    #[test]
    fn extra_tensors_are_named() {
        let dir = TempDir::new("extra");
        let path = dir.0.join("net.safetensors");
        save_net(&path);
        match load_fc(&path) {
            CheckpointError::Unexpected { names, .. } => {
                assert_eq!(names, ["bn.num_batches_tracked", "bn.running_mean"])
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn missing_tensors_are_named() {
        let dir = TempDir::new("missing");
        let path = dir.0.join("net.safetensors");
        write(&path, &[TensorRef { name: "fc.weight", shape: &[3, 2], data: TensorData::F32(&W) }]);
        let err = load_fc(&path);
        assert!(matches!(&err, CheckpointError::Missing { names, .. } if names == &["fc.bias"]));
        assert!(err.to_string().contains("lacks tensor(s) fc.bias"), "{err}");
    }

    #[test]
    fn shape_mismatch_names_tensor_and_shapes() {
        let dir = TempDir::new("shape");
        let path = dir.0.join("net.safetensors");
        write(
            &path,
            &[
                TensorRef { name: "fc.weight", shape: &[2, 3], data: TensorData::F32(&W) },
                TensorRef { name: "fc.bias", shape: &[3], data: TensorData::F32(&B) },
            ],
        );
        let err = load_fc(&path);
        assert!(
            matches!(&err, CheckpointError::ShapeMismatch { name, expected, found, .. }
                if name == "fc.weight" && expected == &[3, 2] && found == &[2, 3]),
            "{err}"
        );
        assert!(err.to_string().contains("shape [2, 3] but the network expects [3, 2]"), "{err}");
    }

    #[test]
    fn dtype_mismatch_names_tensor() {
        let dir = TempDir::new("dtype");
        let path = dir.0.join("net.safetensors");
        write(
            &path,
            &[
                TensorRef { name: "fc.weight", shape: &[3, 2], data: TensorData::F32(&W) },
                TensorRef { name: "fc.bias", shape: &[3], data: TensorData::I64(&[1, 2, 3]) },
            ],
        );
        let err = load_fc(&path);
        assert!(
            matches!(&err, CheckpointError::DtypeMismatch { name, expected: Dtype::F32, found, .. }
                if name == "fc.bias" && found == "I64"),
            "{err}"
        );
    }

    #[test]
    fn truncated_and_garbage_files_are_errors() {
        let dir = TempDir::new("corrupt");
        let path = dir.0.join("net.safetensors");
        save_net(&path);
        let good = std::fs::read(&path).unwrap();
        // Every truncation point, from an empty file to one byte short.
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            let err = load_fc(&path);
            assert!(matches!(err, CheckpointError::Corrupt { .. }), "cut {cut}: {err}");
            // The safetensors error is kept as the source, and its text in the message.
            let source = std::error::Error::source(&err).expect("the parser's error");
            assert!(err.to_string().contains(&source.to_string()), "{err}");
        }
        let mut rng = crate::Rng::seed(1);
        for len in [1usize, 8, 9, 64, 1000] {
            let garbage: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            std::fs::write(&path, &garbage).unwrap();
            assert!(matches!(load_fc(&path), CheckpointError::Corrupt { .. }));
        }
        // A plausible header length followed by non-JSON.
        let mut fake = 16u64.to_le_bytes().to_vec();
        fake.extend_from_slice(b"{not json at all");
        std::fs::write(&path, &fake).unwrap();
        let err = load_fc(&path);
        assert!(err.to_string().contains("not a valid safetensors file"), "{err}");
    }

    #[test]
    fn non_finite_values_are_refused_naming_tensor_and_index() {
        let dir = TempDir::new("nan");
        let path = dir.0.join("net.safetensors");
        let mut w = W;
        w[3] = f32::NEG_INFINITY;
        write(
            &path,
            &[
                TensorRef { name: "fc.weight", shape: &[3, 2], data: TensorData::F32(&w) },
                TensorRef { name: "fc.bias", shape: &[3], data: TensorData::F32(&B) },
            ],
        );
        let err = load_fc(&path);
        assert!(
            matches!(&err, CheckpointError::InvalidValue { name, index, value, .. }
                if name == "fc.weight" && index == &[1, 1] && *value == f32::NEG_INFINITY),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("`fc.weight` holds -inf at index [1, 1]"), "{text}");
        assert!(text.contains("allow_non_finite"), "{text}");
    }

    /// Writes `fc.weight [3, 2]` and `fc.bias [3]`, then makes the file `len` bytes long
    /// (sparse: no disk space is used).
    fn sparse_checkpoint(path: &Path, len: u64) {
        write(
            path,
            &[
                TensorRef { name: "fc.weight", shape: &[3, 2], data: TensorData::F32(&W) },
                TensorRef { name: "fc.bias", shape: &[3], data: TensorData::F32(&B) },
            ],
        );
        std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
    }

    #[test]
    fn a_huge_file_is_refused_from_its_header() {
        let dir = TempDir::new("huge");
        let path = dir.0.join("net.safetensors");
        // A valid header for 36 bytes of data, then 3 GiB: refused before the data is read
        // (reading it took 3.1 GB of memory).
        sparse_checkpoint(&path, 3 << 30);
        let err = load_fc(&path);
        assert!(err.to_string().contains("describes 36 bytes of tensor data but 3221225"), "{err}");
        // A header that claims a 3 GiB tensor the file does hold: refused by its shape.
        let big = 3usize << 28;
        let end = 12 * big;
        let header = format!(
            r#"{{"fc.weight":{{"dtype":"F32","shape":[3,{big}],"data_offsets":[0,{end}]}},"#
        ) + &format!(
            r#""fc.bias":{{"dtype":"F32","shape":[3],"data_offsets":[{end},{}]}}}}"#,
            end + 12
        );
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let len = bytes.len() as u64 + end as u64 + 12;
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len).unwrap();
        let err = load_fc(&path);
        assert!(
            matches!(&err, CheckpointError::ShapeMismatch { name, .. } if name == "fc.weight"),
            "{err}"
        );
        // A header length over the format's 100 MB limit.
        let mut bytes = (200u64 << 20).to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        std::fs::write(&path, &bytes).unwrap();
        let err = load_fc(&path);
        assert!(err.to_string().contains("over the format's limit"), "{err}");
    }

    #[test]
    fn io_errors_carry_the_path() {
        let dir = TempDir::new("io");
        let path = dir.0.join("nope.safetensors");
        let err = load_fc(&path);
        assert!(matches!(err, CheckpointError::Io { .. }));
        assert!(err.to_string().contains("nope.safetensors"), "{err}");
        let err = save(dir.0.join("no/such/dir/x.safetensors"), &[]).unwrap_err();
        assert!(err.to_string().contains("x.safetensors"), "{err}");
    }

    #[test]
    fn inconsistent_caller_tensors_are_rejected() {
        let dir = TempDir::new("invalid");
        let path = dir.0.join("x.safetensors");
        let err = save(
            &path,
            &[TensorRef { name: "w", shape: &[2, 2], data: TensorData::F32(&[1.0; 3]) }],
        )
        .unwrap_err();
        assert!(matches!(&err, CheckpointError::InvalidTensor { name, .. } if name == "w"));
        let one = TensorRef { name: "w", shape: &[1], data: TensorData::F32(&[1.0]) };
        let err = save(&path, &[one, one]).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
        assert!(!path.exists());
    }
}
