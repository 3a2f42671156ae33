//! Checkpoint saves are atomic: concurrent writers (threads or processes, even one killed
//! with SIGKILL mid-write) never leave a file that fails to load or mixes two states, a
//! failed save leaves no temporary file, and a symbolic link keeps pointing at the checkpoint.

use netspec_runtime::checkpoint::{TensorData, TensorDataMut, TensorMut, TensorRef, load, save};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// State `k` of `n` elements: every element depends on `k` and its index, so a file mixing two
/// states, or cut short, is caught by [`check`].
fn state(k: u32, n: usize) -> Vec<f32> {
    (0..n).map(|i| (k * 1_000_000 + (i as u32 % 1000)) as f32).collect()
}

fn save_state(path: &Path, data: &[f32]) {
    let shape = [data.len()];
    save(path, &[TensorRef { name: "w", shape: &shape, data: TensorData::F32(data) }]).unwrap();
}

/// Loads `path` and returns which of the states `ks` of `n` elements it holds, failing on
/// anything else.
fn check(path: &Path, ks: &[u32], n: usize) -> u32 {
    let mut out = vec![0.0f32; n];
    let shape = [n];
    load(path, &mut [TensorMut { name: "w", shape: &shape, data: TensorDataMut::F32(&mut out) }])
        .unwrap_or_else(|e| panic!("a concurrent save left a file that does not load: {e}"));
    let k = (out[0] / 1_000_000.0) as u32;
    assert!(ks.contains(&k) && out == state(k, n), "the file holds none of the states {ks:?}");
    k
}

/// Elements per state in the thread test (64 KiB: 400 saves, each flushed to disk).
const SMALL: usize = 1 << 14;
/// Elements per state in the process test (256 KiB, so that a write takes a while).
const LARGE: usize = 1 << 16;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("netspec-atomic-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn concurrent_thread_saves_never_expose_a_partial_file() {
    let dir = TempDir::new("threads");
    let path = dir.0.join("net.safetensors");
    save_state(&path, &state(1, SMALL));
    let loads = std::thread::scope(|s| {
        let writers = [1, 2].map(|k| {
            let path = &path;
            s.spawn(move || {
                let data = state(k, SMALL);
                for _ in 0..200 {
                    save_state(path, &data);
                }
            })
        });
        let mut loads = 0;
        // A writer that panics ends too; the scope then reports its panic.
        while !writers.iter().all(|w| w.is_finished()) {
            check(&path, &[1, 2], SMALL);
            loads += 1;
        }
        loads
    });
    assert!(loads > 0);
    check(&path, &[1, 2], SMALL);
    assert_eq!(dir.entries(), ["net.safetensors"], "temporary files were left behind");
}

/// Set in a child process: save state `k` to the path in a loop until killed.
const WRITER: &str = "NETSPEC_TEST_ATOMIC_WRITER";

/// A writer process, killed with SIGKILL when dropped (also when the test fails).
struct Writer(Child);

impl Writer {
    fn spawn(path: &Path, k: u32) -> Writer {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "killed_writer_processes_never_corrupt_the_file", "--test-threads=1"])
            .env(WRITER, format!("{k}:{}", path.display()))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Writer(child)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill(); // SIGKILL on unix
        let _ = self.0.wait();
    }
}

#[test]
fn killed_writer_processes_never_corrupt_the_file() {
    if let Ok(arg) = std::env::var(WRITER) {
        let (k, path) = arg.split_once(':').unwrap();
        let data = state(k.parse().unwrap(), LARGE);
        loop {
            save_state(Path::new(path), &data);
        }
    }
    let dir = TempDir::new("processes");
    let path = dir.0.join("net.safetensors");
    save_state(&path, &state(1, LARGE));
    let steady = Writer::spawn(&path, 2);
    let mut seen = [0usize; 3];
    for round in 0..100u64 {
        let victim = Writer::spawn(&path, 3);
        // Vary the moment of the kill so it lands in every phase of a save, and load the
        // file all the while.
        let until = Instant::now() + Duration::from_millis(5 + round * 7 % 40);
        while Instant::now() < until {
            seen[check(&path, &[1, 2, 3], LARGE) as usize - 1] += 1;
        }
        drop(victim);
        seen[check(&path, &[1, 2, 3], LARGE) as usize - 1] += 1;
    }
    drop(steady);
    check(&path, &[1, 2, 3], LARGE);
    // The writers did replace the file.
    assert!(seen[1] + seen[2] > 0, "{seen:?}");
}

#[test]
fn a_failed_save_leaves_no_temporary_file() {
    let dir = TempDir::new("failed");
    // The destination is a non-empty directory: the data is written, the rename fails.
    let target = dir.0.join("net.safetensors");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    let shape = [2];
    let err = save(
        &target,
        &[TensorRef { name: "w", shape: &shape, data: TensorData::F32(&[1.0, 2.0]) }],
    )
    .unwrap_err();
    assert!(err.to_string().contains("net.safetensors"), "{err}");
    assert_eq!(dir.entries(), ["net.safetensors"], "temporary files were left behind");
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"x");

    // The parent is a file: nothing can be created, the error names the path.
    let file = dir.0.join("plain");
    std::fs::write(&file, b"y").unwrap();
    let err = save(file.join("net.safetensors"), &[]).unwrap_err();
    assert!(err.to_string().contains("plain/net.safetensors"), "{err}");
    assert_eq!(dir.entries(), ["net.safetensors", "plain"]);
}

#[cfg(unix)]
#[test]
fn saving_through_a_symlink_replaces_its_target_and_keeps_the_link() {
    let dir = TempDir::new("symlink");
    std::fs::create_dir(dir.0.join("runs")).unwrap();
    let target = dir.0.join("runs").join("epoch3.safetensors");
    save_state(&target, &state(1, SMALL));
    let link = dir.0.join("latest.safetensors");
    std::os::unix::fs::symlink("runs/epoch3.safetensors", &link).unwrap();
    save_state(&link, &state(2, SMALL));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(check(&target, &[1, 2], SMALL), 2);
    assert_eq!(check(&link, &[1, 2], SMALL), 2);
    // A dangling link gets its target created.
    std::fs::remove_file(&target).unwrap();
    save_state(&link, &state(1, SMALL));
    assert_eq!(check(&target, &[1, 2], SMALL), 1);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(dir.entries(), ["latest.safetensors", "runs"]);
}
