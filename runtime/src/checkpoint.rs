//! Checkpoints as safetensors files that PyTorch loads directly.
//!
//! [`save`] writes named tensors with `__metadata__ = {"format": "pt"}`, so
//! `model.load_state_dict(safetensors.torch.load_file(path))` accepts a file whose names and
//! shapes follow the network's `state_dict`. [`load`] reads a file back into caller-owned buffers
//! and checks every name, dtype and shape first, so a bad file never leaves buffers half
//! overwritten. No input file can make either function panic.

use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::layout::ParamInfo;

/// Element types a checkpoint holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
        detail: String,
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
            CheckpointError::Corrupt { path, detail } => write!(
                f,
                "checkpoint {} is not a valid safetensors file ({detail}); it may be truncated \
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

/// Reads the checkpoint at `path` into the `expected` buffers.
///
/// The file must hold exactly the expected tensors (like PyTorch's `load_state_dict` with
/// `strict=True`), each with the expected dtype and shape; every check runs before any buffer
/// is written, so on error the buffers are unchanged.
pub fn load(path: impl AsRef<Path>, expected: &mut [TensorMut<'_>]) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
    load_bytes(&bytes, path, expected)
}

fn load_bytes(
    bytes: &[u8],
    path: &Path,
    expected: &mut [TensorMut<'_>],
) -> Result<(), CheckpointError> {
    let path_buf = || path.to_path_buf();
    for t in expected.iter() {
        let len = match &t.data {
            TensorDataMut::F32(v) => v.len(),
            TensorDataMut::I64(v) => v.len(),
        };
        check_len(t.name, t.shape, len)?;
    }
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| CheckpointError::Corrupt { path: path_buf(), detail: e.to_string() })?;

    let missing: Vec<String> = expected
        .iter()
        .filter(|t| file.tensor(t.name).is_err())
        .map(|t| t.name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(CheckpointError::Missing { path: path_buf(), names: missing });
    }
    let mut unexpected: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| !expected.iter().any(|t| t.name == *n))
        .map(String::from)
        .collect();
    if !unexpected.is_empty() {
        unexpected.sort();
        return Err(CheckpointError::Unexpected { path: path_buf(), names: unexpected });
    }

    let mut views = Vec::with_capacity(expected.len());
    for t in expected.iter() {
        let view = file
            .tensor(t.name)
            .map_err(|e| CheckpointError::Corrupt { path: path_buf(), detail: e.to_string() })?;
        let (want, want_st) = match t.data {
            TensorDataMut::F32(_) => (Dtype::F32, StDtype::F32),
            TensorDataMut::I64(_) => (Dtype::I64, StDtype::I64),
        };
        if view.dtype() != want_st {
            return Err(CheckpointError::DtypeMismatch {
                path: path_buf(),
                name: t.name.to_string(),
                expected: want,
                found: format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != t.shape {
            return Err(CheckpointError::ShapeMismatch {
                path: path_buf(),
                name: t.name.to_string(),
                expected: t.shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        views.push(view.data());
    }

    // All checks passed; safetensors has validated that each tensor's byte range matches its
    // dtype and shape, so the chunk counts equal the buffer lengths.
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
        load(
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
