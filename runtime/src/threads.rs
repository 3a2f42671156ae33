//! How many threads the batched kernels use (with `std`: rayon's pool, one thread per core;
//! without it everything runs on the calling thread). The kernels cut their work into shards
//! whose boundaries depend on the shapes only, so the thread count changes the speed and never
//! a result bit.

#[cfg(feature = "std")]
use std::cell::Cell;
#[cfg(feature = "std")]
use std::sync::atomic::{AtomicUsize, Ordering};

/// The process-wide count set by [`set_threads`]; 0 until set (then: the available cores).
#[cfg(feature = "std")]
static THREADS: AtomicUsize = AtomicUsize::new(0);

#[cfg(feature = "std")]
thread_local! {
    /// [`with_threads`]'s count for the calling thread; 0 outside it.
    static LOCAL: Cell<usize> = const { Cell::new(0) };
}

/// Sets how many threads the batched kernels (dense layers and convolutions through the packed
/// matrix product) use from now on, in every thread; `0` restores the default, the available
/// cores. Products too small to gain run on the calling thread whatever the count.
#[cfg(feature = "std")]
pub fn set_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The thread count the batched kernels use on the calling thread: [`with_threads`]'s, else
/// [`set_threads`]'s, else the available cores (capped by rayon's pool, which has one thread
/// per core).
#[cfg(feature = "std")]
pub fn threads() -> usize {
    match (LOCAL.with(Cell::get), THREADS.load(Ordering::Relaxed)) {
        (0, 0) => rayon::current_num_threads(),
        (0, n) | (n, _) => n,
    }
}

/// Runs `f` with the batched kernels called from this thread using `n` threads (`n >= 1`),
/// whatever [`set_threads`] says, and returns its result.
#[cfg(feature = "std")]
pub fn with_threads<R>(n: usize, f: impl FnOnce() -> R) -> R {
    let before = LOCAL.with(|c| c.replace(n.max(1)));
    let out = f();
    LOCAL.with(|c| c.set(before));
    out
}

/// Without `std`: one thread.
#[cfg(not(feature = "std"))]
pub fn threads() -> usize {
    1
}

/// Without `std`: runs `f` on the one thread there is.
#[cfg(not(feature = "std"))]
pub fn with_threads<R>(_n: usize, f: impl FnOnce() -> R) -> R {
    f()
}

/// Threads for a pass of `macs` multiply-adds: [`threads`] from
/// [`PARALLEL_MIN`](crate::ops::gemm::PARALLEL_MIN) on, else 1 (a smaller pass loses more to
/// the hand-off than it gains).
pub(crate) fn for_work(macs: u64) -> usize {
    if macs >= crate::ops::gemm::PARALLEL_MIN as u64 { threads() } else { 1 }
}

/// Runs `a` and `b`, in parallel on rayon's pool when a thread of it is free.
#[cfg(feature = "std")]
pub(crate) fn join(a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    rayon::join(a, b);
}

/// Without `std`: `a`, then `b`.
#[cfg(not(feature = "std"))]
pub(crate) fn join(a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    a();
    b();
}

/// Work cut into shards at boundaries that depend on the shapes only.
pub(crate) trait Shards: Sized + Send {
    /// The first `k` shards and the rest.
    fn split(self, k: usize) -> (Self, Self);
}

/// Runs `f` on each of the `count` shards of `work`, in order within `groups` groups of
/// consecutive shards, each group on its own rayon task when `groups > 1`.
pub(crate) fn in_shards<S: Shards>(work: S, count: usize, groups: usize, f: &(impl Fn(S) + Sync)) {
    if groups <= 1 || count <= 1 {
        let mut rest = work;
        for _ in 0..count {
            let (one, others) = rest.split(1);
            f(one);
            rest = others;
        }
        return;
    }
    let left = count * (groups / 2) / groups;
    let (first, second) = work.split(left);
    join(
        || in_shards(first, left, groups / 2, f),
        || in_shards(second, count - left, groups - groups / 2, f),
    );
}

/// Matching pieces of two slices, `shard` elements per shard.
struct RowPieces<'a, A, B> {
    x: &'a [A],
    y: &'a mut [B],
    shard: usize,
}

impl<A: Sync, B: Send> Shards for RowPieces<'_, A, B> {
    fn split(self, k: usize) -> (Self, Self) {
        let at = (k * self.shard).min(self.x.len()).min(self.y.len());
        let ((x0, x1), (y0, y1)) = (self.x.split_at(at), self.y.split_at_mut(at));
        let shard = self.shard;
        (RowPieces { x: x0, y: y0, shard }, RowPieces { x: x1, y: y1, shard })
    }
}

/// Runs `f` on matching pieces of `x` and `y` of `shard` rows each (the last one shorter), in
/// `groups` groups of consecutive pieces ([`in_shards`]): for row-wise kernels, whose rows come
/// out the same whichever piece holds them.
pub(crate) fn in_row_shards<A: Sync, B: Send>(
    (x, y): (&[A], &mut [B]),
    shard: usize,
    groups: usize,
    f: &(impl Fn(&[A], &mut [B]) + Sync),
) {
    let count = y.len().min(x.len()).div_ceil(shard);
    in_shards(RowPieces { x, y, shard }, count, groups, &|p: RowPieces<'_, A, B>| f(p.x, p.y));
}
