//! The floating-point functions the kernels call, in one place: the standard library's with
//! `std` (so results on the desktop are those of `f32::exp` and friends), the `libm` crate's
//! without it. The two may differ in the last bit for exp, ln and cos (libm is a port of
//! musl's, std calls the platform's); sqrt is correctly rounded in both.

/// `f32` and `f64`.
pub(crate) trait Real: Copy {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn cos(self) -> Self;
    fn powi(self, n: i32) -> Self;
    fn mul_add(self, a: Self, b: Self) -> Self;
}

#[cfg(feature = "std")]
macro_rules! real {
    ($t:ty, $($libm:ident)*) => {
        impl Real for $t {
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
        }
    };
}

#[cfg(not(feature = "std"))]
macro_rules! real {
    ($t:ty, $exp:ident $ln:ident $ln_1p:ident $sqrt:ident $cos:ident $pow:ident $fma:ident) => {
        impl Real for $t {
            fn exp(self) -> Self {
                libm::$exp(self)
            }
            fn ln(self) -> Self {
                libm::$ln(self)
            }
            fn ln_1p(self) -> Self {
                libm::$ln_1p(self)
            }
            fn sqrt(self) -> Self {
                libm::$sqrt(self)
            }
            fn cos(self) -> Self {
                libm::$cos(self)
            }
            fn powi(self, n: i32) -> Self {
                libm::$pow(self, n as $t)
            }
            fn mul_add(self, a: Self, b: Self) -> Self {
                libm::$fma(self, a, b)
            }
        }
    };
}

real!(f32, expf logf log1pf sqrtf cosf powf fmaf);
real!(f64, exp log log1p sqrt cos pow fma);

/// e^x.
#[inline]
pub(crate) fn exp<T: Real>(x: T) -> T {
    x.exp()
}

/// The natural logarithm.
#[inline]
pub(crate) fn ln<T: Real>(x: T) -> T {
    x.ln()
}

/// ln(1 + x), accurate near 0.
#[inline]
pub(crate) fn ln_1p<T: Real>(x: T) -> T {
    x.ln_1p()
}

/// The square root.
#[inline]
pub(crate) fn sqrt<T: Real>(x: T) -> T {
    x.sqrt()
}

/// The cosine.
#[inline]
pub(crate) fn cos<T: Real>(x: T) -> T {
    x.cos()
}

/// x^n.
#[inline]
pub(crate) fn powi<T: Real>(x: T, n: i32) -> T {
    x.powi(n)
}

/// `x * a + b` with one rounding (an FMA instruction where the build enables it).
#[inline(always)]
pub(crate) fn mul_add<T: Real>(x: T, a: T, b: T) -> T {
    x.mul_add(a, b)
}

#[cfg(test)]
mod tests {
    /// libm's functions (used without `std`) against the standard library's (used with it),
    /// on the range activations and losses meet: within 1e-6 relative (or absolute near 0).
    #[test]
    fn libm_is_within_1e_6_of_std() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
        for i in -4000..=4000 {
            let x = i as f32 / 200.0 + 0.003;
            assert!(close(f64::from(libm::expf(x)), f64::from(x.exp())), "exp({x})");
            assert!(close(f64::from(libm::cosf(x)), f64::from(x.cos())), "cos({x})");
            let y = f64::from(x);
            assert!(close(libm::exp(y), y.exp()), "exp({y})");
            let (u, v) = (x.abs() + 1e-3, y.abs() + 1e-3);
            assert!(close(f64::from(libm::logf(u)), f64::from(u.ln())), "ln({u})");
            assert!(close(f64::from(libm::log1pf(u)), f64::from(u.ln_1p())), "ln_1p({u})");
            assert!(close(f64::from(libm::sqrtf(u)), f64::from(u.sqrt())), "sqrt({u})");
            assert!(close(libm::log(v), v.ln()), "ln({v})");
            assert!(close(libm::sqrt(v), v.sqrt()), "sqrt({v})");
        }
    }
}
