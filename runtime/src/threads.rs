//! How many threads the batched kernels use (with `std`: the calling thread and a helper per
//! further core, from the private `threads::pool`; without it everything runs on the calling
//! thread). The kernels cut their work into shards whose boundaries depend on the shapes only,
//! so the thread count changes the speed and never a result bit.

#[cfg(feature = "std")]
mod pool;

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
/// [`set_threads`]'s, else the available cores (more than the cores run as fast as the cores:
/// there is one helper thread per further core).
#[cfg(feature = "std")]
pub fn threads() -> usize {
    match (LOCAL.with(Cell::get), THREADS.load(Ordering::Relaxed)) {
        (0, 0) => pool::cores(),
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

/// Values per piece of a pass that works value by value over a flat buffer (an optimizer
/// step, a finiteness check, an activation): 2^16 values take tens of microseconds, against a
/// few for a hand-off to a helper thread.
pub(crate) const VALUES_PER_PIECE: usize = 1 << 16;

/// Threads for a value-by-value pass over `len` values: [`threads`] from two pieces of
/// [`VALUES_PER_PIECE`] on, else 1. Inlined, so that a short pass of a known length (an
/// activation in a single-sample `predict`) costs no call.
#[inline]
pub(crate) fn for_values(len: usize) -> usize {
    if len >= 2 * VALUES_PER_PIECE { threads() } else { 1 }
}

/// Sets every value to 0, on [`threads`] threads in pieces of 2^16 values once
/// `values` holds two pieces: zeroing is bound by memory bandwidth, and two cores draw more
/// of it than one.
#[cfg(feature = "std")]
pub fn zero(values: &mut [f32]) {
    let groups = for_values(values.len());
    in_pieces::<f32, f32, 0, 1>([], [values], VALUES_PER_PIECE, groups, &|_, [], [v]| {
        v.fill(0.0);
    });
}

/// Runs `a` and `b`, in parallel when a helper thread is free.
#[cfg(feature = "std")]
pub(crate) fn join(a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    pool::join(a, b);
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
/// consecutive shards, each group on its own thread when `groups > 1` and a helper is free.
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

/// Matching pieces of `R` shared and `W` mutable slices, each cut at the same offsets,
/// `shard` elements per piece (an empty slice yields empty pieces); `start` is the offset of
/// the first one.
struct Pieces<'a, A, B, const R: usize, const W: usize> {
    start: usize,
    read: [&'a [A]; R],
    write: [&'a mut [B]; W],
    shard: usize,
}

impl<A: Sync, B: Send, const R: usize, const W: usize> Shards for Pieces<'_, A, B, R, W> {
    fn split(self, k: usize) -> (Self, Self) {
        let at = k * self.shard;
        let read = self.read.map(|s| s.split_at(at.min(s.len())));
        let mut write = self.write.map(|s| s.split_at_mut(at.min(s.len())));
        let (start, shard) = (self.start, self.shard);
        let first = Pieces {
            start,
            read: read.map(|(first, _)| first),
            write: core::array::from_fn(|i| core::mem::take(&mut write[i].0)),
            shard,
        };
        let rest = Pieces {
            start: start + at,
            read: read.map(|(_, rest)| rest),
            write: core::array::from_fn(|i| core::mem::take(&mut write[i].1)),
            shard,
        };
        (first, rest)
    }
}

/// Runs `f(start, read, write)` on matching pieces of the slices `read` and `write`, `shard`
/// elements each (the last one shorter; `start` is the pieces' offset in the slices), in
/// `groups` groups of consecutive pieces ([`in_shards`]): for kernels that work element by
/// element or row by row, whose results come out the same whichever piece holds them. The
/// pieces cover the longest slice.
pub(crate) fn in_pieces<A: Sync, B: Send, const R: usize, const W: usize>(
    read: [&[A]; R],
    write: [&mut [B]; W],
    shard: usize,
    groups: usize,
    f: &(impl Fn(usize, [&[A]; R], [&mut [B]; W]) + Sync),
) {
    let len = read.iter().map(|s| s.len()).chain(write.iter().map(|s| s.len())).max();
    let count = len.unwrap_or(0).div_ceil(shard.max(1));
    let work = Pieces { start: 0, read, write, shard: shard.max(1) };
    in_shards(work, count, groups, &|p: Pieces<'_, A, B, R, W>| f(p.start, p.read, p.write));
}

/// [`in_pieces`] on one shared and one mutable slice of rows, `shard` rows per piece.
pub(crate) fn in_row_shards<A: Sync, B: Send>(
    (x, y): (&[A], &mut [B]),
    shard: usize,
    groups: usize,
    f: &(impl Fn(&[A], &mut [B]) + Sync),
) {
    let rows = x.len().min(y.len());
    let (x, y) = (&x[..rows], &mut y[..rows]);
    in_pieces([x], [y], shard, groups, &|_, [x], [y]| f(x, y));
}
