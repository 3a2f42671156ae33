//! The heap workspace of `predict` for networks too large for its stack budget.
//!
//! Generated code keeps one [`PredictWorkspace`] per thread (a `thread_local!` of its network
//! type), so that `predict` takes `&self`, runs on any number of threads at once, and allocates
//! only on a thread's first call (or when a larger chunk is asked for). It then takes its
//! regions (every layer's output rows and scratch) from the workspace's values with
//! [`take_rows`] and [`take_array`], as fixed-size arrays: the layer kernels see the same types
//! as on the stack.

/// `f32` and `u32` values, grown on demand and kept between calls.
#[derive(Debug, Default)]
pub struct PredictWorkspace {
    f32s: Vec<f32>,
    u32s: Vec<u32>,
}

impl PredictWorkspace {
    /// An empty workspace; it allocates on first use.
    pub const fn new() -> Self {
        Self { f32s: Vec::new(), u32s: Vec::new() }
    }

    /// `f32s` and `u32s` values, growing the workspace (with zeros) if it holds fewer.
    ///
    /// They hold what the previous call left: every layer of `predict` writes its output and
    /// scratch before it reads them, so zeroing them on each call (a megabyte for a
    /// CIFAR-sized CNN, 8% of its `predict`) would be work for nothing. Debug builds set them
    /// to NaN and `u32::MAX` instead, on every call, so that a layer that read a region before
    /// writing it fails the tests instead of reading the previous call's values.
    pub fn values(&mut self, f32s: usize, u32s: usize) -> (&mut [f32], &mut [u32]) {
        fn values<T: Copy + Default>(values: &mut Vec<T>, len: usize, poison: T) -> &mut [T] {
            if values.len() < len {
                values.resize(len, T::default());
            }
            let values = &mut values[..len];
            if cfg!(debug_assertions) {
                values.fill(poison);
            }
            values
        }
        (values(&mut self.f32s, f32s, f32::NAN), values(&mut self.u32s, u32s, u32::MAX))
    }

    /// The bytes the workspace holds.
    pub fn bytes(&self) -> usize {
        4 * (self.f32s.capacity() + self.u32s.capacity())
    }
}

/// The first `R` rows of `W` values of `values`, which is left holding the rest.
///
/// # Panics
/// If `values` holds fewer than `R * W` values: generated code sizes the workspace from the same
/// constants, so that would be a bug in the code generator.
pub fn take_rows<'a, T, const W: usize, const R: usize>(
    values: &mut &'a mut [T],
) -> &'a mut [[T; W]; R] {
    let (rows, rest) = core::mem::take(values).split_at_mut(R * W);
    *values = rest;
    rows.as_chunks_mut::<W>().0.try_into().expect("R * W values make R rows of W")
}

/// The first `N` values of `values`, which is left holding the rest.
///
/// # Panics
/// As [`take_rows`].
pub fn take_array<'a, T, const N: usize>(values: &mut &'a mut [T]) -> &'a mut [T; N] {
    let (array, rest) = core::mem::take(values).split_at_mut(N);
    *values = rest;
    array.try_into().expect("N values make an array of N")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_consecutive_and_hold_the_last_calls_values_or_poison() {
        let mut ws = PredictWorkspace::new();
        let (f, _) = ws.values(10, 0);
        f.fill(7.0);
        // Debug builds poison the values on every call; release builds leave the last call's
        // (zeros where the workspace grew).
        let (left_f32, left_u32) =
            if cfg!(debug_assertions) { (f32::NAN, u32::MAX) } else { (7.0, 0) };
        let (mut f, u) = ws.values(10, 3);
        assert_eq!(u, &[left_u32; 3]);
        let a: &mut [[f32; 3]; 2] = take_rows(&mut f);
        assert!(a.as_flattened().iter().all(|v| v.to_bits() == left_f32.to_bits()));
        a[1][2] = 1.0;
        let b: &mut [f32; 4] = take_array(&mut f);
        assert!(b.iter().all(|v| v.to_bits() == left_f32.to_bits()));
        assert!(f.is_empty());
        let again = ws.values(10, 0).0[5];
        let expected = if cfg!(debug_assertions) { f32::NAN } else { 1.0 };
        assert_eq!(again.to_bits(), expected.to_bits(), "the value written last call, or poison");
    }

    #[test]
    fn the_workspace_grows_but_never_shrinks() {
        let mut ws = PredictWorkspace::new();
        assert_eq!(ws.bytes(), 0);
        ws.values(100, 10);
        let grown = ws.bytes();
        assert!(grown >= 440);
        ws.values(5, 1);
        assert_eq!(ws.bytes(), grown);
    }
}
