//! Small compute kernels that generated layer code calls.

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

#[cfg(test)]
mod tests {
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
}
