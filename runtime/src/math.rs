//! The floating-point functions the kernels call, in one place: the standard library's with
//! `std` (so results on the desktop are those of `f32::exp` and friends), the `libm` crate's
//! without it. The two may differ in the last bit for exp, ln, tanh and cos (libm is a port of
//! musl's, std calls the platform's); sqrt is correctly rounded in both.

/// `f32` and `f64`.
pub(crate) trait Real: Copy {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn cos(self) -> Self;
    fn powi(self, n: i32) -> Self;
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
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
        }
    };
}

#[cfg(not(feature = "std"))]
macro_rules! real {
    ($t:ty, $exp:ident $ln:ident $ln_1p:ident $sqrt:ident $tanh:ident $cos:ident $pow:ident) => {
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
            fn tanh(self) -> Self {
                libm::$tanh(self)
            }
            fn cos(self) -> Self {
                libm::$cos(self)
            }
            fn powi(self, n: i32) -> Self {
                libm::$pow(self, n as $t)
            }
        }
    };
}

real!(f32, expf logf log1pf sqrtf tanhf cosf powf);
real!(f64, exp log log1p sqrt tanh cos pow);

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

/// The hyperbolic tangent.
#[inline]
pub(crate) fn tanh<T: Real>(x: T) -> T {
    x.tanh()
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
