//! A packed matrix product `C (+)= A B` (BLIS-style) for the batched dense layers and the
//! convolutions: `B` is packed once into panels of [`NR`] columns, `A` shard by shard into
//! micro-panels of [`MR`] rows, and an `MR x NR` register tile runs over [`KC`]-long slices of
//! the shared dimension. The tile is built twice: portable (`a * b + c`) and, on x86-64 CPUs
//! with AVX2 and FMA, with fused multiply-adds (picked at run time by [`Isa::detect`]).
//!
//! The rows of `C` are cut into shards of [`SHARD_ROWS`] rows, a count that depends only on
//! the shape; every element is computed by one shard in a fixed order, so the result is
//! bit-identical for any thread count ([`mod@crate::threads`]). The packed copies live in a
//! caller-owned workspace of [`workspace_len`] values: nothing allocates.

use crate::ops::kernels::{Isa, mul_add};
use crate::threads::in_pieces;

/// Rows of the register tile (rows of `A` per micro-panel).
pub const MR: usize = 4;
/// Columns of the register tile (columns of `B` per panel): two 8-lane vectors, so that the
/// 8 accumulators, 2 loads and a broadcast fit in 16 AVX registers without spilling.
pub const NR: usize = 16;
/// Length of the slice of the shared dimension a tile sums before adding into `C`: an
/// `NR`-panel slice (16 KB) and an `MR`-panel slice stay in L1 across the shard's tiles.
pub const KC: usize = 256;
/// Rows of `C` per shard: a multiple of [`MR`]; a batch of 64 rows makes 2 shards.
pub const SHARD_ROWS: usize = 32;
/// Multiply-adds below which a product runs on the calling thread only: a hand-off to a
/// helper thread costs microseconds.
pub const PARALLEL_MIN: usize = 1 << 20;

/// A read-only `rows x cols` matrix in a slice: element `(i, j)` at `data[i * rs + j * cs]`
/// (row-major `rs = cols, cs = 1`; a transposed row-major matrix `rs = 1, cs = rows`).
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Stride between rows.
    pub rs: usize,
    /// Stride between columns.
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major matrix with rows `cols` apart.
    pub const fn rows(data: &'a [f32], cols: usize) -> View<'a> {
        View { data, rs: cols, cs: 1 }
    }

    /// The transpose of a row-major matrix whose rows (this view's columns) are `len` apart.
    pub const fn transposed(data: &'a [f32], len: usize) -> View<'a> {
        View { data, rs: 1, cs: len }
    }
}

/// The workspace values [`gemm`] needs for an `m x n` product over a shared dimension `k`:
/// `B` packed in whole panels and `A` in whole micro-panels.
pub const fn workspace_len(m: usize, n: usize, k: usize) -> usize {
    n.div_ceil(NR) * NR * k + m.div_ceil(MR) * MR * k
}

/// `C = A B` (`accumulate` false) or `C += A B` for `C` row-major `m x n` (`c[i * n + j]`),
/// `A` `m x k` and `B` `k x n`, on this CPU's fastest tile.
///
/// # Panics
///
/// If `c` holds fewer than `m * n` values, a view is too short for its shape or `work` holds
/// fewer than [`workspace_len`] values.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    (m, n, k): (usize, usize, usize),
    a: View<'_>,
    b: View<'_>,
    c: &mut [f32],
    accumulate: bool,
    work: &mut [f32],
) {
    gemm_on(Isa::detect(), (m, n, k), a, b, c, accumulate, work);
}

/// [`gemm`] with the tile of `isa` where this CPU supports it, else the portable one (for
/// tests and benchmarks that compare the builds).
#[allow(clippy::too_many_arguments)]
pub fn gemm_on(
    isa: Isa,
    (m, n, k): (usize, usize, usize),
    a: View<'_>,
    b: View<'_>,
    c: &mut [f32],
    accumulate: bool,
    work: &mut [f32],
) {
    let c = &mut c[..m * n];
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let (packed_b, packed_a) = work[..workspace_len(m, n, k)].split_at_mut(n.div_ceil(NR) * NR * k);
    let groups = crate::threads::for_work((m * n * k) as u64);
    pack_b(b, (n, k), packed_b, groups);
    let fused = isa == Isa::Avx2Fma && Isa::detect() == Isa::Avx2Fma;
    let shard = Shard { n, k, a, packed_b, accumulate, fused };
    let shards = m.div_ceil(SHARD_ROWS);
    let a_len = SHARD_ROWS * k;
    run_groups(&shard, 0, shards, groups.clamp(1, shards.max(1)), c, packed_a, a_len);
}

/// Shards `first..first + count` in `groups` groups, each on its own thread, the shards
/// of a group in order (fixed shard boundaries: the grouping changes no result).
fn run_groups(
    shard: &Shard<'_>,
    first: usize,
    count: usize,
    groups: usize,
    c: &mut [f32],
    packed_a: &mut [f32],
    a_len: usize,
) {
    if groups <= 1 {
        let rows = c.chunks_mut(SHARD_ROWS * shard.n);
        for (i, (c, a)) in rows.zip(packed_a.chunks_mut(a_len)).enumerate() {
            shard.run((first + i) * SHARD_ROWS, c, a);
        }
        return;
    }
    let left = count * (groups / 2) / groups;
    let split_c = (left * SHARD_ROWS * shard.n).min(c.len());
    let (c0, c1) = c.split_at_mut(split_c);
    let (a0, a1) = packed_a.split_at_mut((left * a_len).min(packed_a.len()));
    crate::threads::join(
        || run_groups(shard, first, left, groups / 2, c0, a0, a_len),
        || run_groups(shard, first + left, count - left, groups - groups / 2, c1, a1, a_len),
    );
}

/// What every shard of one product shares.
struct Shard<'a> {
    n: usize,
    k: usize,
    a: View<'a>,
    packed_b: &'a [f32],
    accumulate: bool,
    // Only x86-64 has a fused build.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fused: bool,
}

impl Shard<'_> {
    /// The rows of `C` from `row0` (`c` holds them), packing their `A` into `packed_a`.
    fn run(&self, row0: usize, c: &mut [f32], packed_a: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.fused {
            // SAFETY: calling a `#[target_feature(enable = "avx2,fma")]` function is sound
            // when the CPU has AVX2 and FMA, which `Isa::detect` checked in `gemm_on`
            // (CPUID via `is_x86_feature_detected!`); the function itself is safe code.
            #[allow(unsafe_code)]
            return unsafe { shard_avx2_fma(self, row0, c, packed_a) };
        }
        shard_body::<false>(self, row0, c, packed_a);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn shard_avx2_fma(shard: &Shard<'_>, row0: usize, c: &mut [f32], packed_a: &mut [f32]) {
    shard_body::<true>(shard, row0, c, packed_a);
}

/// `B` (`k x n`) as panels of [`NR`] columns, each `k` rows of `NR` values, zero-padded; the
/// panels in `groups` runs of whole panels, each on its own thread (a copy: any grouping gives
/// the same).
fn pack_b(b: View<'_>, (n, k): (usize, usize), packed: &mut [f32], groups: usize) {
    let panel_len = NR * k;
    let run_len = n.div_ceil(NR).div_ceil(groups.max(1)) * panel_len;
    in_pieces::<f32, f32, 0, 1>([], [packed], run_len, groups, &|start, [], [run]| {
        pack_panels(b, (n, k), start / panel_len, run);
    });
}

/// Rows of a row-major `B` that [`pack_panels`] copies into every panel of its run before
/// the next rows: 8 rows are read as 8 sequential streams. Panel by panel, every 16-value
/// group came from another row, 4 KB or more apart, which the prefetcher does not follow: a
/// 1024 x 1024 weight not in cache took 1.8 ms to pack that way and 1.0 ms in blocks of 8 rows
/// (0.3 and 0.2 ms in cache).
const PACK_ROWS: usize = 8;

/// The panels of `B` from panel `first` on, into `run` (whole panels).
fn pack_panels(b: View<'_>, (n, k): (usize, usize), first: usize, run: &mut [f32]) {
    // A row-major B in blocks of PACK_ROWS rows; otherwise each line (column of B) is
    // contiguous and a whole panel at once reads NR sequential streams.
    let block_rows = if b.cs == 1 { PACK_ROWS } else { k };
    for p0 in (0..k).step_by(block_rows) {
        let rows = block_rows.min(k - p0);
        let block = View { data: &b.data[p0 * b.rs..], ..b };
        for (i, panel) in run.chunks_exact_mut(NR * k).enumerate() {
            let j0 = (first + i) * NR;
            let groups = &mut panel.as_chunks_mut::<NR>().0[p0..p0 + rows];
            pack(block, (j0, NR.min(n - j0)), rows, groups);
        }
    }
}

/// Lines `l0..l0 + count` of `m` (its columns, or with `m` transposed its rows) as `k` groups
/// of `L` values, group `p` holding element `p` of each line, zero-padded past `count`: a
/// panel of [`pack_b`] or a micro-panel of `A`. Contiguous runs are copied as slices, whole
/// groups as arrays.
#[inline(always)]
fn pack<const L: usize>(m: View<'_>, (l0, count): (usize, usize), k: usize, out: &mut [[f32; L]]) {
    let out = &mut out[..k];
    if m.cs == 1 && count == L {
        // Element p of line l at p * rs + l: each group is a run, here a whole one, copied as
        // a fixed-length array (vector moves instead of a `memcpy` call per group).
        for (p, group) in out.iter_mut().enumerate() {
            *group = *m.data[p * m.rs + l0..].first_chunk::<L>().expect("a whole group");
        }
    } else if m.cs == 1 {
        for (p, group) in out.iter_mut().enumerate() {
            group[..count].copy_from_slice(&m.data[p * m.rs + l0..][..count]);
            group[count..].fill(0.0);
        }
    } else if count == L {
        // Element p of line l at l * cs + p * rs: whole groups gathered from the L lines, each
        // cut to its k elements first, so that no index is checked per element (checked one by
        // one, this took 16% of a small CNN's train step).
        let span = (k - 1) * m.rs + 1;
        let lines: [&[f32]; L] = core::array::from_fn(|l| &m.data[(l0 + l) * m.cs..][..span]);
        for (p, group) in out.iter_mut().enumerate() {
            *group = core::array::from_fn(|l| lines[l][p * m.rs]);
        }
    } else {
        // The same for a partial group, zero-padded.
        out.iter_mut().for_each(|g| g[count..].fill(0.0));
        for l in 0..count {
            let line = &m.data[(l0 + l) * m.cs..];
            for (p, group) in out.iter_mut().enumerate() {
                group[l] = line[p * m.rs];
            }
        }
    }
}

#[inline(always)]
fn shard_body<const FUSED: bool>(s: &Shard<'_>, row0: usize, c: &mut [f32], packed_a: &mut [f32]) {
    let (n, k) = (s.n, s.k);
    let rows = c.len() / n;
    // A's rows row0.. as micro-panels of MR rows, each k columns of MR values, zero-padded:
    // lines of the transposed view.
    let a_t = View { data: s.a.data, rs: s.a.cs, cs: s.a.rs };
    for (i0, panel) in (0..rows).step_by(MR).zip(packed_a.chunks_exact_mut(MR * k)) {
        pack(a_t, (row0 + i0, MR.min(rows - i0)), k, panel.as_chunks_mut::<MR>().0);
    }
    let a_panels = rows.div_ceil(MR);
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        let first = p0 == 0 && !s.accumulate;
        for (j0, b_panel) in (0..n).step_by(NR).zip(s.packed_b.chunks_exact(NR * k)) {
            let b = b_panel[p0 * NR..][..kc * NR].as_chunks::<NR>().0;
            let cols = NR.min(n - j0);
            for (i0, a_panel) in
                (0..rows).step_by(MR).zip(packed_a.chunks_exact(MR * k)).take(a_panels)
            {
                let a = a_panel[p0 * MR..][..kc * MR].as_chunks::<MR>().0;
                let tile = tile::<FUSED>(a, b);
                let shape = (MR.min(rows - i0), cols);
                store_tile(&tile, &mut c[i0 * n + j0..], n, shape, first);
            }
        }
    }
}

/// Writes (`first`) or adds the top-left `rows x cols` of `tile` into `c`, whose rows are `n`
/// apart. A whole tile takes fixed-length rows, so that each row is two vector stores (or
/// load-add-stores) instead of a loop of unknown length or a `memcpy` call.
#[inline(always)]
fn store_tile(
    tile: &[[f32; NR]; MR],
    c: &mut [f32],
    n: usize,
    (rows, cols): (usize, usize),
    first: bool,
) {
    if (rows, cols) == (MR, NR) {
        for (i, t) in tile.iter().enumerate() {
            let c = c[i * n..].first_chunk_mut::<NR>().expect("a whole tile fits in C");
            if first {
                *c = *t;
            } else {
                c.iter_mut().zip(t).for_each(|(c, t)| *c += t);
            }
        }
        return;
    }
    for (i, t) in tile.iter().enumerate().take(rows) {
        let c = &mut c[i * n..][..cols];
        for (c, &t) in c.iter_mut().zip(t) {
            *c = if first { t } else { *c + t };
        }
    }
}

/// The `MR x NR` register tile: `sum over p of a[p][i] * b[p][j]`, in order of `p`.
#[inline(always)]
fn tile<const FUSED: bool>(a: &[[f32; MR]], b: &[[f32; NR]]) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    for (a, b) in a.iter().zip(b) {
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = mul_add::<FUSED>(a[i], b[j], acc[i][j]);
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::kernels::tests::reals;

    /// The product in f64, `C0 + A B` or `A B`.
    fn reference(
        m: usize,
        n: usize,
        k: usize,
        a: View<'_>,
        b: View<'_>,
        c0: &[f32],
        acc: bool,
    ) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = if acc { f64::from(c0[i * n + j]) } else { 0.0 };
                for p in 0..k {
                    s += f64::from(a.data[i * a.rs + p * a.cs])
                        * f64::from(b.data[p * b.rs + j * b.cs]);
                }
                c[i * n + j] = s;
            }
        }
        c
    }

    /// Every build this CPU runs, on shapes with remainders in every dimension, plain and
    /// transposed views, against f64 within 1e-5 of the sum of |terms|; and the portable and
    /// detected builds bit-identical for 1 and several threads.
    #[test]
    fn every_build_matches_the_f64_product_and_is_identical_for_any_thread_count() {
        let isas = [Isa::Baseline, Isa::Avx2, Isa::Avx2Fma];
        for &(m, n, k) in
            &[(1, 1, 1), (3, 5, 7), (16, 24, 256), (17, 25, 257), (64, 130, 300), (70, 10, 600)]
        {
            let a_data = reals(m * k, 1);
            let b_data = reals(k * n, 2);
            let c0 = reals(m * n, 3);
            for (a, b) in [
                (View::rows(&a_data, k), View::rows(&b_data, n)),
                (View::transposed(&a_data, m), View::transposed(&b_data, k)),
            ] {
                for acc in [false, true] {
                    let want = reference(m, n, k, a, b, &c0, acc);
                    let mut work = vec![f32::NAN; workspace_len(m, n, k)];
                    let mut first: Option<Vec<f32>> = None;
                    for isa in isas.into_iter().filter(|isa| isa.supported()) {
                        for threads in [1, 2, 3] {
                            crate::threads::with_threads(threads, || {
                                let mut c = c0.clone();
                                gemm_on(isa, (m, n, k), a, b, &mut c, acc, &mut work);
                                for (i, (&got, &want)) in c.iter().zip(&want).enumerate() {
                                    let tol = 1e-5 * (k as f64 + 1.0);
                                    assert!(
                                        (f64::from(got) - want).abs() <= tol,
                                        "{isa:?} {m}x{n}x{k} acc {acc} at {i}: {got} vs {want}"
                                    );
                                }
                                if threads == 1 {
                                    first = Some(c);
                                } else {
                                    assert_eq!(
                                        first.as_deref(),
                                        Some(&c[..]),
                                        "{isa:?} threads {threads}"
                                    );
                                }
                            });
                        }
                    }
                }
            }
        }
    }
}
