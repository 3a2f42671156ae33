//! Small compute kernels that generated layer code calls.
//!
//! The dense-layer kernels are built twice: for the target's baseline instruction set (SSE2 on
//! x86-64) and, on x86-64, for AVX2 with FMA, and each call runs the FMA build when the CPU has
//! both ([`Isa::detect`]). Both builds run the multiplications and additions in the same order;
//! the FMA build fuses each multiply-add into one rounding (Rust never contracts `a * b + c` by
//! itself, so the fusing is explicit, `mul_add`). Results are therefore bit-identical on
//! machines of one build, and within rounding of each other across builds. AVX2 holds an
//! 8-lane partial sum in one register instead of two, and its 16 registers hold larger tiles.

/// `a · b` with 8 partial sums: f32 addition is not associative, so the compiler keeps a
/// single running sum in order and cannot vectorize it; 8 independent sums it can.
#[inline]
pub fn dot<const N: usize>(a: &[f32; N], b: &[f32; N]) -> f32 {
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    let mut lanes = [0.0f32; 8];
    for (a, b) in a8.iter().zip(b8) {
        for ((lane, &a), &b) in lanes.iter_mut().zip(a).zip(b) {
            *lane += a * b;
        }
    }
    let mut sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for (&a, &b) in a_rest.iter().zip(b_rest) {
        sum += a * b;
    }
    sum
}

/// `a * b + c`, fused (one rounding, one instruction) in a build with FMA (`FUSED`), else
/// rounded twice. The fused build runs only where CPUID found FMA: elsewhere `f32::mul_add`
/// would be a library call.
#[inline(always)]
pub(crate) fn mul_add<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { crate::math::mul_add(a, b, c) } else { a * b + c }
}

/// The instruction set the dense kernels run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isa {
    /// The target's baseline (SSE2 on x86-64; whatever the target enables elsewhere).
    Baseline,
    /// x86-64 with AVX2 but without FMA: the kernels run their baseline build, the packed
    /// matrix product ([`crate::ops::gemm`]) its portable tile.
    Avx2,
    /// x86-64 with AVX2 and FMA: the register-tiled kernels here and the packed matrix product
    /// run their builds with fused multiply-adds.
    Avx2Fma,
}

impl Isa {
    /// The instruction set of this CPU the kernels use (std caches the CPUID query, so this
    /// is one atomic load per call).
    #[inline]
    pub fn detect() -> Isa {
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        if std::arch::is_x86_feature_detected!("avx2") {
            if std::arch::is_x86_feature_detected!("fma") {
                return Isa::Avx2Fma;
            }
            return Isa::Avx2;
        }
        // Without std there is no runtime CPU query: what the target is compiled for.
        #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
        if cfg!(target_feature = "avx2") {
            if cfg!(target_feature = "fma") {
                return Isa::Avx2Fma;
            }
            return Isa::Avx2;
        }
        Isa::Baseline
    }

    /// Whether this CPU runs code built for `self`.
    pub fn supported(self) -> bool {
        match (self, Isa::detect()) {
            (Isa::Baseline, _) | (Isa::Avx2, Isa::Avx2 | Isa::Avx2Fma) => true,
            (a, b) => a == b,
        }
    }
}

/// Defines each listed kernel three times from its `#[inline(always)]` bodies (`= baseline
/// body, FMA body`, the same function where the two builds do not pick different tiles):
/// `pub fn` (runs the FMA build when [`Isa::detect`] finds AVX2 and FMA, else the baseline
/// one), `baseline::` (the baseline build only, for benchmarks and tests) and the private
/// `fma::` build. Every body takes `const FUSED: bool` first: whether its build fuses
/// multiply-adds ([`mul_add`]); bodies without multiply-adds ignore it. Used here, in
/// [`crate::ops::conv`] and in [`crate::ops::batchnorm`]; a body must inline everything it
/// computes with, so that the FMA build compiles it for AVX2 and FMA.
macro_rules! dispatched_kernels {
    ($(
        $(#[$attr:meta])*
        fn $name:ident<$(const $c:ident: usize),*>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
            = $body:ident, $fma_body:ident;
    )*) => {
        $(
            $(#[$attr])*
            #[inline]
            pub fn $name<$(const $c: usize),*>($($arg: $ty),*) $(-> $ret)? {
                #[cfg(target_arch = "x86_64")]
                if $crate::ops::kernels::Isa::Avx2Fma.supported() {
                    // SAFETY: calling a `#[target_feature(enable = "avx2,fma")]` function is
                    // sound when the CPU has AVX2 and FMA, which `Isa::detect` has just checked
                    // (CPUID via `is_x86_feature_detected!`); the function itself is safe code.
                    #[allow(unsafe_code)]
                    return unsafe { fma::$name::<$($c),*>($($arg),*) };
                }
                $body::<false, $($c),*>($($arg),*)
            }
        )*

        /// The kernels above built for the target's baseline instruction set only, whatever
        /// the CPU: what the dispatched kernels are measured and checked against.
        #[doc(hidden)]
        pub mod baseline {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[inline]
                #[allow(clippy::too_many_arguments)]
                pub fn $name<$(const $c: usize),*>($($arg: $ty),*) $(-> $ret)? {
                    $body::<false, $($c),*>($($arg),*)
                }
            )*
        }

        #[cfg(target_arch = "x86_64")]
        mod fma {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                pub(super) fn $name<$(const $c: usize),*>($($arg: $ty),*) $(-> $ret)? {
                    $fma_body::<true, $($c),*>($($arg),*)
                }
            )*
        }
    };
}
pub(crate) use dispatched_kernels;

dispatched_kernels! {
    /// `y = x W^T + b` (nn.Linear; `b` `None` for a layer without bias) for every row of `x`,
    /// with `R x C` register tiles (`R` rows, `C` outputs); remainders go through smaller
    /// tiles. Bit-identical to `dot(w[o], x) + b[o]` (`dot(w[o], x)` without bias) per output
    /// for every tile.
    ///
    /// # Panics
    ///
    /// If `w` has fewer than `OUT` rows or `b` fewer than `OUT` values.
    fn dense_forward_tiled<const IN: usize, const OUT: usize, const R: usize, const C: usize>(
        w: &[[f32; IN]],
        b: Option<&[f32]>,
        x: &[[f32; IN]],
        y: &mut [[f32; OUT]],
    ) = forward_body, forward_body;

    /// `dW += dy^T x` over the rows (the weight gradient of nn.Linear, `dW` as `[OUT][IN]`):
    /// a tile of `C` outputs x `W` inputs stays in registers across every row, so `dW` is read
    /// and written once instead of once per row. Per element the sum runs over the rows in
    /// order from the value in `dw`, for every tile.
    ///
    /// # Panics
    ///
    /// If `dw` has fewer than `OUT` rows.
    fn dense_backward_dw_tiled<const IN: usize, const OUT: usize, const C: usize, const W: usize>(
        dw: &mut [[f32; IN]],
        x: &[[f32; IN]],
        dy: &[[f32; OUT]],
    ) = dw_body, dw_body;

    /// `db += ` the sum of the rows of `dy` (the bias gradient of nn.Linear), summed over the
    /// rows in order from the value in `db`.
    ///
    /// # Panics
    ///
    /// If `db` has fewer than `OUT` values.
    fn dense_backward_db<const OUT: usize>(db: &mut [f32], dy: &[[f32; OUT]]) = db_body, db_body;

    /// `dx += dy W` (the input gradient of nn.Linear, `W` as `[OUT][IN]`, added to what `dx`
    /// holds, as generated backward passes add to their input's gradient), with tiles of `R`
    /// rows x `W` inputs in registers across every output. Per element the sum runs over the
    /// outputs in order from the value in `dx`, for every tile.
    ///
    /// # Panics
    ///
    /// If `w` has fewer than `OUT` rows.
    fn dense_backward_dx_tiled<const IN: usize, const OUT: usize, const R: usize, const W: usize>(
        w: &[[f32; IN]],
        dy: &[[f32; OUT]],
        dx: &mut [[f32; IN]],
    ) = dx_body, dx_body;

    /// [`dense_forward_tiled`] with the tile that measured best for the layer's shape on the
    /// instruction set this CPU runs (`cargo bench -p netspec-bench --bench kernels`, README
    /// "Performance"). With AVX2, layers of 8 inputs or more take tiles of 8 outputs for fewer
    /// than 4 rows (`predict`): their reduction trees run as vector operations across the
    /// outputs.
    fn dense_forward<const IN: usize, const OUT: usize>(
        w: &[[f32; IN]],
        b: Option<&[f32]>,
        x: &[[f32; IN]],
        y: &mut [[f32; OUT]],
    ) = forward_tiles_baseline, forward_tiles_fma;

    /// [`dense_backward_dw_tiled`] with the tile that measured best for the layer's shape on
    /// this CPU's instruction set.
    fn dense_backward_dw<const IN: usize, const OUT: usize>(
        dw: &mut [[f32; IN]],
        x: &[[f32; IN]],
        dy: &[[f32; OUT]],
    ) = dw_tiles_baseline, dw_tiles_fma;

    /// [`dense_backward_dx_tiled`] with the tile that measured best for the layer's shape on
    /// this CPU's instruction set.
    fn dense_backward_dx<const IN: usize, const OUT: usize>(
        w: &[[f32; IN]],
        dy: &[[f32; OUT]],
        dx: &mut [[f32; IN]],
    ) = dx_tiles_baseline, dx_tiles_fma;
}

// Each build's tiles: one body per build, so that a layer compiles only the tiles its build can
// pick.

#[inline(always)]
fn forward_tiles_baseline<const FUSED: bool, const IN: usize, const OUT: usize>(
    w: &[[f32; IN]],
    b: Option<&[f32]>,
    x: &[[f32; IN]],
    y: &mut [[f32; OUT]],
) {
    match IN {
        0..8 => forward_body::<FUSED, IN, OUT, 2, 2>(w, b, x, y),
        8..=16 => forward_body::<FUSED, IN, OUT, 1, 4>(w, b, x, y),
        _ => forward_body::<FUSED, IN, OUT, 4, 1>(w, b, x, y),
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn forward_tiles_fma<const FUSED: bool, const IN: usize, const OUT: usize>(
    w: &[[f32; IN]],
    b: Option<&[f32]>,
    x: &[[f32; IN]],
    y: &mut [[f32; OUT]],
) {
    match (IN, x.len()) {
        (0..8, _) => forward_body::<FUSED, IN, OUT, 2, 2>(w, b, x, y),
        (_, 0..4) => forward_body::<FUSED, IN, OUT, 1, 8>(w, b, x, y),
        (8..=16, _) => forward_body::<FUSED, IN, OUT, 4, 1>(w, b, x, y),
        // 12 accumulators pay on long rows (784x256: 320 us against 4 x 2's 341 us); on
        // shorter ones 4 x 2 is as fast or faster (64x128: 21.1 us against 23.2 us).
        (512.., _) => forward_body::<FUSED, IN, OUT, 4, 3>(w, b, x, y),
        _ => forward_body::<FUSED, IN, OUT, 4, 2>(w, b, x, y),
    }
}

#[inline(always)]
fn dw_tiles_baseline<const FUSED: bool, const IN: usize, const OUT: usize>(
    dw: &mut [[f32; IN]],
    x: &[[f32; IN]],
    dy: &[[f32; OUT]],
) {
    dw_body::<FUSED, IN, OUT, 4, LANES>(dw, x, dy)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dw_tiles_fma<const FUSED: bool, const IN: usize, const OUT: usize>(
    dw: &mut [[f32; IN]],
    x: &[[f32; IN]],
    dy: &[[f32; OUT]],
) {
    match IN {
        0..8 => dw_body::<FUSED, IN, OUT, 8, LANES>(dw, x, dy),
        // 12 accumulators: 2 loads of x and 6 broadcasts of dy per 12 vector multiply-adds.
        _ => dw_body::<FUSED, IN, OUT, 6, 16>(dw, x, dy),
    }
}

#[inline(always)]
fn dx_tiles_baseline<const FUSED: bool, const IN: usize, const OUT: usize>(
    w: &[[f32; IN]],
    dy: &[[f32; OUT]],
    dx: &mut [[f32; IN]],
) {
    match (IN, OUT) {
        (0..8, _) | (_, 0..=10) => dx_body::<FUSED, IN, OUT, 2, LANES>(w, dy, dx),
        _ => dx_body::<FUSED, IN, OUT, 4, LANES>(w, dy, dx),
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dx_tiles_fma<const FUSED: bool, const IN: usize, const OUT: usize>(
    w: &[[f32; IN]],
    dy: &[[f32; OUT]],
    dx: &mut [[f32; IN]],
) {
    match IN {
        0..8 => dx_body::<FUSED, IN, OUT, 4, LANES>(w, dy, dx),
        // 12 accumulators: 2 loads of W and 6 broadcasts of dy per 12 vector multiply-adds.
        _ => dx_body::<FUSED, IN, OUT, 6, 16>(w, dy, dx),
    }
}

// The bodies of the dispatched kernels, register-tiled over batch-major rows. The tiles keep a
// few rows' or outputs' partial sums in registers at once: loads of `W` (or `x`) are shared
// across the tile, and the independent sums hide the add latency. Every tile keeps the
// summation order of the plain loops (the forward ones the 8 lanes and reduction tree of
// [`dot`], the backward ones a running sum over rows or outputs in order, starting from what
// is in the output), so the tile shape changes no result bit.

/// Lanes of a partial-sum vector: 8 f32, as in [`dot`] (two SSE or one AVX register).
const LANES: usize = 8;

#[inline(always)]
fn forward_body<
    const FUSED: bool,
    const IN: usize,
    const OUT: usize,
    const R: usize,
    const C: usize,
>(
    w: &[[f32; IN]],
    b: Option<&[f32]>,
    x: &[[f32; IN]],
    y: &mut [[f32; OUT]],
) {
    let w: &[[f32; IN]; OUT] = w[..OUT].try_into().expect("OUT rows");
    let b: Option<&[f32; OUT]> = b.map(|b| b[..OUT].try_into().expect("OUT values"));
    let (xr, x_rest) = x.as_chunks::<R>();
    let (yr, y_rest) = y.as_chunks_mut::<R>();
    for (x, y) in xr.iter().zip(yr.iter_mut()) {
        forward_rows::<FUSED, IN, OUT, R, C>(w, b, x, y);
    }
    for (x, y) in x_rest.iter().zip(y_rest.iter_mut()) {
        forward_rows::<FUSED, IN, OUT, 1, C>(
            w,
            b,
            ::core::array::from_ref(x),
            ::core::array::from_mut(y),
        );
    }
}

/// `R x C` dot products `x[r] · w[c]` with [`dot`]'s lanes and reduction tree, sharing each
/// load of `w` across the `R` rows and of `x` across the `C` outputs.
#[inline(always)]
fn dot_tile<const FUSED: bool, const IN: usize, const R: usize, const C: usize>(
    w: [&[f32; IN]; C],
    x: [&[f32; IN]; R],
) -> [[f32; C]; R] {
    let mut lanes = [[[0.0f32; LANES]; C]; R];
    // Whole 8-value chunks as arrays: with indices into the rows, LLVM leaves the fused build's
    // multiply-adds scalar.
    let w8: [&[[f32; LANES]]; C] = ::core::array::from_fn(|c| w[c].as_chunks::<LANES>().0);
    let x8: [&[[f32; LANES]]; R] = ::core::array::from_fn(|r| x[r].as_chunks::<LANES>().0);
    for k in 0..IN / LANES {
        for r in 0..R {
            for c in 0..C {
                let (w, x, lanes) = (&w8[c][k], &x8[r][k], &mut lanes[r][c]);
                *lanes = ::core::array::from_fn(|l| mul_add::<FUSED>(w[l], x[l], lanes[l]));
            }
        }
    }
    // [`dot`]'s tree ((v0 + v4) + (v1 + v5)) + ((v2 + v6) + (v3 + v7)) for every output at
    // once: with the outputs innermost, each step is one vector operation across the tile.
    let mut out = [[0.0f32; C]; R];
    for r in 0..R {
        let v = &lanes[r];
        let mut half = [[0.0f32; C]; 4];
        for (i, half) in half.iter_mut().enumerate() {
            for c in 0..C {
                half[c] = v[c][i] + v[c][i + 4];
            }
        }
        for c in 0..C {
            let mut sum = (half[0][c] + half[1][c]) + (half[2][c] + half[3][c]);
            for i in IN / LANES * LANES..IN {
                sum = mul_add::<FUSED>(w[c][i], x[r][i], sum);
            }
            out[r][c] = sum;
        }
    }
    out
}

#[inline(always)]
fn forward_rows<
    const FUSED: bool,
    const IN: usize,
    const OUT: usize,
    const R: usize,
    const C: usize,
>(
    w: &[[f32; IN]; OUT],
    b: Option<&[f32; OUT]>,
    x: &[[f32; IN]; R],
    y: &mut [[f32; OUT]; R],
) {
    let xs: [&[f32; IN]; R] = ::core::array::from_fn(|r| &x[r]);
    let mut o = 0;
    while o + C <= OUT {
        let s = dot_tile::<FUSED, IN, R, C>(::core::array::from_fn(|c| &w[o + c]), xs);
        for r in 0..R {
            for c in 0..C {
                y[r][o + c] = match b {
                    Some(b) => s[r][c] + b[o + c],
                    None => s[r][c],
                };
            }
        }
        o += C;
    }
    while o < OUT {
        let s = dot_tile::<FUSED, IN, R, 1>([&w[o]], xs);
        for r in 0..R {
            y[r][o] = match b {
                Some(b) => s[r][0] + b[o],
                None => s[r][0],
            };
        }
        o += 1;
    }
}

#[inline(always)]
fn dw_body<const FUSED: bool, const IN: usize, const OUT: usize, const C: usize, const W: usize>(
    dw: &mut [[f32; IN]],
    x: &[[f32; IN]],
    dy: &[[f32; OUT]],
) {
    let dw: &mut [[f32; IN]; OUT] = (&mut dw[..OUT]).try_into().expect("OUT rows");
    let rows = x.len().min(dy.len());
    let (x, dy) = (&x[..rows], &dy[..rows]);
    let mut o = 0;
    while o + C <= OUT {
        dw_outputs::<FUSED, IN, OUT, C, W>(dw, o, x, dy);
        o += C;
    }
    while o < OUT {
        dw_outputs::<FUSED, IN, OUT, 1, W>(dw, o, x, dy);
        o += 1;
    }
}

/// Outputs `o..o + C` of `dW`, in blocks of `W` inputs, then of [`LANES`], then single ones.
#[inline(always)]
fn dw_outputs<
    const FUSED: bool,
    const IN: usize,
    const OUT: usize,
    const C: usize,
    const W: usize,
>(
    dw: &mut [[f32; IN]; OUT],
    o: usize,
    x: &[[f32; IN]],
    dy: &[[f32; OUT]],
) {
    let mut i = 0;
    while i + W <= IN {
        dw_block::<FUSED, IN, OUT, C, W>(dw, o, i, x, dy);
        i += W;
    }
    while i + LANES <= IN {
        dw_block::<FUSED, IN, OUT, C, LANES>(dw, o, i, x, dy);
        i += LANES;
    }
    while i < IN {
        dw_block::<FUSED, IN, OUT, C, 1>(dw, o, i, x, dy);
        i += 1;
    }
}

/// `dW[o..o + C][i..i + W] += sum over rows of dy[r][o + c] * x[r][i..i + W]`, in registers.
#[inline(always)]
fn dw_block<
    const FUSED: bool,
    const IN: usize,
    const OUT: usize,
    const C: usize,
    const W: usize,
>(
    dw: &mut [[f32; IN]; OUT],
    o: usize,
    i: usize,
    x: &[[f32; IN]],
    dy: &[[f32; OUT]],
) {
    let mut acc = [[0.0f32; W]; C];
    for c in 0..C {
        acc[c].copy_from_slice(&dw[o + c][i..i + W]);
    }
    for (x, dy) in x.iter().zip(dy) {
        let x = x[i..].first_chunk::<W>().expect("i + W <= IN");
        for c in 0..C {
            let g = dy[o + c];
            acc[c] = ::core::array::from_fn(|l| mul_add::<FUSED>(g, x[l], acc[c][l]));
        }
    }
    for c in 0..C {
        dw[o + c][i..i + W].copy_from_slice(&acc[c]);
    }
}

#[inline(always)]
fn db_body<const FUSED: bool, const OUT: usize>(db: &mut [f32], dy: &[[f32; OUT]]) {
    let db: &mut [f32; OUT] = (&mut db[..OUT]).try_into().expect("OUT values");
    let mut acc = *db;
    for dy in dy {
        for (a, &g) in acc.iter_mut().zip(dy) {
            *a += g;
        }
    }
    *db = acc;
}

#[inline(always)]
fn dx_body<const FUSED: bool, const IN: usize, const OUT: usize, const R: usize, const W: usize>(
    w: &[[f32; IN]],
    dy: &[[f32; OUT]],
    dx: &mut [[f32; IN]],
) {
    let w: &[[f32; IN]; OUT] = w[..OUT].try_into().expect("OUT rows");
    let (dyr, dy_rest) = dy.as_chunks::<R>();
    let (dxr, dx_rest) = dx.as_chunks_mut::<R>();
    for (dy, dx) in dyr.iter().zip(dxr.iter_mut()) {
        dx_rows::<FUSED, IN, OUT, R, W>(w, dy, dx);
    }
    for (dy, dx) in dy_rest.iter().zip(dx_rest.iter_mut()) {
        dx_rows::<FUSED, IN, OUT, 1, W>(
            w,
            ::core::array::from_ref(dy),
            ::core::array::from_mut(dx),
        );
    }
}

/// Rows `dx[..R]`, in blocks of `W` inputs, then of [`LANES`], then single ones.
#[inline(always)]
fn dx_rows<const FUSED: bool, const IN: usize, const OUT: usize, const R: usize, const W: usize>(
    w: &[[f32; IN]; OUT],
    dy: &[[f32; OUT]; R],
    dx: &mut [[f32; IN]; R],
) {
    let mut i = 0;
    while i + W <= IN {
        dx_block::<FUSED, IN, OUT, R, W>(w, dy, dx, i);
        i += W;
    }
    while i + LANES <= IN {
        dx_block::<FUSED, IN, OUT, R, LANES>(w, dy, dx, i);
        i += LANES;
    }
    while i < IN {
        dx_block::<FUSED, IN, OUT, R, 1>(w, dy, dx, i);
        i += 1;
    }
}

/// `dx[r][i..i + W] += sum over outputs of dy[r][o] * W[o][i..i + W]`, in registers.
#[inline(always)]
fn dx_block<
    const FUSED: bool,
    const IN: usize,
    const OUT: usize,
    const R: usize,
    const W: usize,
>(
    w: &[[f32; IN]; OUT],
    dy: &[[f32; OUT]; R],
    dx: &mut [[f32; IN]; R],
    i: usize,
) {
    let mut acc = [[0.0f32; W]; R];
    for r in 0..R {
        acc[r].copy_from_slice(&dx[r][i..i + W]);
    }
    for (o, w) in w.iter().enumerate() {
        let w = w[i..].first_chunk::<W>().expect("i + W <= IN");
        for r in 0..R {
            let g = dy[r][o];
            acc[r] = ::core::array::from_fn(|l| mul_add::<FUSED>(g, w[l], acc[r][l]));
        }
    }
    for r in 0..R {
        dx[r][i..i + W].copy_from_slice(&acc[r]);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn dot_sums_every_product_for_any_length() {
        for n in [0usize, 1, 7, 8, 9, 17] {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let expected: f32 = a.iter().map(|x| x * x).sum();
            let got = match n {
                0 => super::dot::<0>(&[], &[]),
                1 => super::dot::<1>(&[0.0], &[0.0]),
                7 => super::dot::<7>(a[..].try_into().unwrap(), a[..].try_into().unwrap()),
                8 => super::dot::<8>(a[..].try_into().unwrap(), a[..].try_into().unwrap()),
                9 => super::dot::<9>(a[..].try_into().unwrap(), a[..].try_into().unwrap()),
                _ => super::dot::<17>(a[..].try_into().unwrap(), a[..].try_into().unwrap()),
            };
            assert_eq!(got, expected, "n = {n}");
        }
    }

    /// Small integers from a fixed LCG: every product and sum in the tests below is an
    /// integer far below 2^24, so f32 arithmetic is exact in any order.
    fn ints(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((s >> 24) % 7) as f32 - 3.0
            })
            .collect()
    }

    /// Non-integer values in (-1, 1), where the summation order shows in the last bits.
    pub(crate) fn reals(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// `a * b + c` as the kernels' build computes it: fused (one rounding) or not.
    pub(crate) fn madd(fused: bool, a: f32, b: f32, c: f32) -> f32 {
        if fused { a.mul_add(b, c) } else { a * b + c }
    }

    /// [`super::dot`]'s 8 lanes and reduction tree, multiply-adds fused or not.
    pub(crate) fn dot_loop(fused: bool, a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0.0f32; 8];
        let whole = a.len() / 8 * 8;
        for k in 0..whole {
            lanes[k % 8] = madd(fused, a[k], b[k], lanes[k % 8]);
        }
        let v = lanes;
        let mut sum = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
        for k in whole..a.len() {
            sum = madd(fused, a[k], b[k], sum);
        }
        sum
    }

    /// Whether the dispatched kernels run their fused build on this CPU.
    pub(crate) fn dispatched_fused() -> bool {
        cfg!(target_arch = "x86_64") && Isa::detect() == Isa::Avx2Fma
    }

    /// Checks the dense kernels (the dispatched build with several tile shapes, and the
    /// baseline build) against naive definitions on small integers (exact), and bit for bit
    /// against plain loops in their build's order (one 8-lane dot per output forward, running
    /// sums backward; multiply-adds fused where the build fuses them) on real values.
    fn check_dense<const IN: usize, const OUT: usize>(rows: usize) {
        for (exact, seed) in [(true, 1u32), (false, 2)] {
            let gen_ =
                |n: usize, k: u32| if exact { ints(n, seed + k) } else { reals(n, seed + k) };
            let w_flat = gen_(OUT * IN, 10);
            let w: &[[f32; IN]] = w_flat.as_chunks::<IN>().0;
            let b = gen_(OUT, 11);
            let x_flat = gen_(rows * IN, 12);
            let x: &[[f32; IN]] = x_flat.as_chunks::<IN>().0;
            let dy_flat = gen_(rows * OUT, 13);
            let dy: &[[f32; OUT]] = dy_flat.as_chunks::<OUT>().0;
            let dw0 = gen_(OUT * IN, 14);
            let db0 = gen_(OUT, 15);
            let dx0 = gen_(rows * IN, 16);

            // A build's references `[y, y without bias, dW, db, dx]`: naive definitions (exact
            // case, where every order gives the same) or the loops `netspec emit` generated
            // before it called these kernels, in the kernels' order.
            let references = |fused: bool| -> [Vec<f32>; 5] {
                let mut y = vec![0.0f32; rows * OUT];
                let mut y_nobias = vec![0.0f32; rows * OUT];
                let (mut dw, mut db, mut dx) = (dw0.clone(), db0.clone(), dx0.clone());
                for r in 0..rows {
                    for o in 0..OUT {
                        let dot = if exact {
                            (0..IN).map(|i| x[r][i] * w[o][i]).sum::<f32>()
                        } else {
                            dot_loop(fused, &w[o], &x[r])
                        };
                        y_nobias[r * OUT + o] = dot;
                        y[r * OUT + o] = dot + b[o];
                        db[o] += dy[r][o];
                        for i in 0..IN {
                            dw[o * IN + i] = madd(fused, dy[r][o], x[r][i], dw[o * IN + i]);
                        }
                    }
                    for o in 0..OUT {
                        for i in 0..IN {
                            dx[r * IN + i] = madd(fused, dy[r][o], w[o][i], dx[r * IN + i]);
                        }
                    }
                }
                [y, y_nobias, dw, db, dx]
            };
            let by_build = [references(false), references(true)];
            let reference = |fused: bool| &by_build[usize::from(fused)];
            let fused = dispatched_fused();
            let what = format!("IN {IN} OUT {OUT} rows {rows} exact {exact}");

            type Forward<const IN: usize, const OUT: usize> =
                fn(&[[f32; IN]], Option<&[f32]>, &[[f32; IN]], &mut [[f32; OUT]]);
            let forwards: [(bool, Forward<IN, OUT>); 7] = [
                (fused, dense_forward::<IN, OUT>),
                (fused, dense_forward_tiled::<IN, OUT, 1, 1>),
                (fused, dense_forward_tiled::<IN, OUT, 1, 4>),
                (fused, dense_forward_tiled::<IN, OUT, 2, 2>),
                (fused, dense_forward_tiled::<IN, OUT, 4, 2>),
                (fused, dense_forward_tiled::<IN, OUT, 4, 3>),
                (false, baseline::dense_forward_tiled::<IN, OUT, 4, 1>),
            ];
            for (t, (fused, f)) in forwards.iter().enumerate() {
                let [y_ref, y_nobias_ref, ..] = reference(*fused);
                let mut y = vec![[f32::NAN; OUT]; rows];
                f(w, Some(&b), x, &mut y);
                assert_eq!(bits(y.as_flattened()), bits(y_ref), "forward {t} {what}");
                let mut y = vec![[f32::NAN; OUT]; rows];
                f(w, None, x, &mut y);
                assert_eq!(
                    bits(y.as_flattened()),
                    bits(y_nobias_ref),
                    "forward without bias {t} {what}"
                );
            }
            type Dw<const IN: usize, const OUT: usize> =
                fn(&mut [[f32; IN]], &[[f32; IN]], &[[f32; OUT]]);
            let dws: [(bool, Dw<IN, OUT>); 6] = [
                (fused, dense_backward_dw::<IN, OUT>),
                (fused, dense_backward_dw_tiled::<IN, OUT, 1, 8>),
                (fused, dense_backward_dw_tiled::<IN, OUT, 2, 16>),
                (fused, dense_backward_dw_tiled::<IN, OUT, 4, 24>),
                (fused, dense_backward_dw_tiled::<IN, OUT, 8, 8>),
                (false, baseline::dense_backward_dw_tiled::<IN, OUT, 4, 8>),
            ];
            for (t, (fused, f)) in dws.iter().enumerate() {
                let mut dw = dw0.clone();
                f(dw.as_chunks_mut::<IN>().0, x, dy);
                assert_eq!(bits(&dw), bits(&reference(*fused)[2]), "dW {t} {what}");
            }
            for db_kernel in [dense_backward_db::<OUT>, baseline::dense_backward_db::<OUT>] {
                let mut db = db0.clone();
                db_kernel(&mut db, dy);
                assert_eq!(bits(&db), bits(&reference(false)[3]), "db {what}");
            }
            type Dx<const IN: usize, const OUT: usize> =
                fn(&[[f32; IN]], &[[f32; OUT]], &mut [[f32; IN]]);
            let dxs: [(bool, Dx<IN, OUT>); 6] = [
                (fused, dense_backward_dx::<IN, OUT>),
                (fused, dense_backward_dx_tiled::<IN, OUT, 1, 8>),
                (fused, dense_backward_dx_tiled::<IN, OUT, 2, 16>),
                (fused, dense_backward_dx_tiled::<IN, OUT, 4, 24>),
                (fused, dense_backward_dx_tiled::<IN, OUT, 8, 8>),
                (false, baseline::dense_backward_dx_tiled::<IN, OUT, 4, 8>),
            ];
            for (t, (fused, f)) in dxs.iter().enumerate() {
                let mut dx = dx0.clone();
                f(w, dy, dx.as_chunks_mut::<IN>().0);
                assert_eq!(bits(&dx), bits(&reference(*fused)[4]), "dx {t} {what}");
            }
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn dense_kernels_match_their_definitions_and_todays_loops() {
        for rows in [0, 1, 3, 4, 5, 9, 64] {
            check_dense::<1, 1>(rows);
            check_dense::<4, 16>(rows);
            check_dense::<7, 3>(rows);
            check_dense::<8, 5>(rows);
            check_dense::<9, 4>(rows);
            check_dense::<17, 10>(rows);
            check_dense::<64, 13>(rows);
            check_dense::<50, 9>(rows);
        }
    }
}
