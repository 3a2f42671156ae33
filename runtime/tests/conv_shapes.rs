//! Hand-computed values, shape edge cases and argument errors of the conv and pooling kernels.

use netspec_runtime::ops::GradMode;
use netspec_runtime::ops::conv::{ConvError, ConvShape, conv2d_backward, conv2d_forward};
use netspec_runtime::ops::pool::{
    FRACTIONAL_EVAL_SAMPLE, FractionalPoolShape, ImageShape, PoolShape, avgpool2d_backward,
    avgpool2d_forward, fractional_maxpool2d_backward, fractional_maxpool2d_forward,
    fractional_start, global_avgpool_backward, global_avgpool_forward, maxpool2d_backward,
    maxpool2d_forward, maxpool2d_forward_values,
};
use netspec_runtime::threads::with_threads;

fn scratch_for(shape: ConvShape) -> Vec<f32> {
    vec![f32::NAN; shape.scratch_len()]
}

fn conv(c: usize, h: usize, w: usize, f: usize, k: usize, s: usize, p: usize) -> ConvShape {
    ConvShape::square([c, h, w], f, k, s, p)
}

fn pool(c: usize, h: usize, w: usize, k: usize, s: usize, p: usize) -> PoolShape {
    PoolShape::square([c, h, w], k, s, p)
}

#[test]
fn conv_by_hand() {
    // x = 1..9 (3x3), kernel [[1, 2], [3, 4]], bias 10, no padding:
    // y[0,0] = 1 + 2*2 + 3*4 + 4*5 = 37, y[0,1] = 2 + 6 + 15 + 24 = 47,
    // y[1,0] = 4 + 10 + 21 + 32 = 67, y[1,1] = 5 + 12 + 24 + 36 = 77; plus bias.
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let w = [1.0, 2.0, 3.0, 4.0];
    let mut y = [0.0; 4];
    conv2d_forward(
        conv(1, 3, 3, 1, 2, 1, 0),
        &w,
        Some(&[10.0]),
        &x,
        &mut y,
        &mut scratch_for(conv(1, 3, 3, 1, 2, 1, 0)),
        1,
    )
    .unwrap();
    assert_eq!(y, [47.0, 57.0, 77.0, 87.0]);

    // Pad 1, stride 2, 3x3 kernel of ones: sums of the 3x3 neighbourhoods of (0,0), (0,2),
    // (2,0), (2,2) with zeros outside: 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9.
    let mut y = [0.0; 4];
    conv2d_forward(
        conv(1, 3, 3, 1, 3, 2, 1),
        &[1.0; 9],
        None,
        &x,
        &mut y,
        &mut scratch_for(conv(1, 3, 3, 1, 3, 2, 1)),
        1,
    )
    .unwrap();
    assert_eq!(y, [12.0, 16.0, 24.0, 28.0]);

    // Two channels, two filters, 1x1 kernel: a per-pixel matrix product.
    let x = [1.0, 2.0, /* channel 1 */ 3.0, 4.0];
    let w = [1.0, 10.0, /* filter 1 */ -1.0, 0.5];
    let mut y = [0.0; 4];
    conv2d_forward(
        conv(2, 1, 2, 2, 1, 1, 0),
        &w,
        None,
        &x,
        &mut y,
        &mut scratch_for(conv(2, 1, 2, 2, 1, 1, 0)),
        1,
    )
    .unwrap();
    assert_eq!(y, [31.0, 42.0, 0.5, 0.0]);

    // Backward of the first case with dy = 1: dbias = 4, dweight[kh,kw] = sum of the 2x2
    // block of x at (kh, kw), dx[i] = number of windows covering i weighted by w.
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let (mut dw, mut db, mut dx) = ([0.0; 4], [0.0; 1], [0.0; 9]);
    conv2d_backward(
        conv(1, 3, 3, 1, 2, 1, 0),
        &[1.0, 2.0, 3.0, 4.0],
        &x,
        &[1.0; 4],
        &mut dw,
        Some(&mut db),
        (Some(&mut dx), GradMode::Add),
        &mut scratch_for(conv(1, 3, 3, 1, 2, 1, 0)),
        1,
    )
    .unwrap();
    assert_eq!(db, [4.0]);
    assert_eq!(dw, [12.0, 16.0, 24.0, 28.0]);
    assert_eq!(dx, [1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0]);
}

#[test]
fn conv_backward_accumulates_weights_and_dx() {
    let shape = conv(1, 3, 3, 1, 2, 1, 0);
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let (mut dw, mut db, mut dx) = ([100.0; 4], [100.0; 1], [10.0; 9]);
    conv2d_backward(
        shape,
        &[1.0; 4],
        &x,
        &[1.0; 4],
        &mut dw,
        Some(&mut db),
        (Some(&mut dx), GradMode::Add),
        &mut scratch_for(shape),
        1,
    )
    .unwrap();
    assert_eq!(dw, [112.0, 116.0, 124.0, 128.0]);
    assert_eq!(db, [104.0]);
    assert_eq!(dx, [11.0, 12.0, 11.0, 12.0, 14.0, 12.0, 11.0, 12.0, 11.0]);
    // Without dbias and dx.
    conv2d_backward(
        shape,
        &[1.0; 4],
        &x,
        &[1.0; 4],
        &mut dw,
        None,
        (None, GradMode::Add),
        &mut scratch_for(shape),
        1,
    )
    .unwrap();
    assert_eq!(dw, [124.0, 132.0, 148.0, 156.0]);
}

#[test]
fn conv_rows_are_independent() {
    let shape = conv(2, 4, 4, 3, 3, 1, 1);
    let x: Vec<f32> = (0..2 * shape.input_len()).map(|i| (i as f32 * 0.37).sin()).collect();
    let w: Vec<f32> = (0..shape.weight_len()).map(|i| (i as f32 * 0.11).cos()).collect();
    let mut both = vec![0.0; 2 * shape.output_len()];
    conv2d_forward(shape, &w, None, &x, &mut both, &mut scratch_for(shape), 2).unwrap();
    let mut second = vec![0.0; shape.output_len()];
    conv2d_forward(
        shape,
        &w,
        None,
        &x[shape.input_len()..],
        &mut second,
        &mut scratch_for(shape),
        1,
    )
    .unwrap();
    assert_eq!(&both[shape.output_len()..], &second[..]);
}

#[test]
fn edge_case_sizes() {
    // Kernel equal to the padded input: one output.
    let s = conv(1, 3, 3, 1, 5, 1, 1);
    assert_eq!((s.out_height(), s.out_width()), (1, 1));
    assert_eq!(s.check(), Ok(()));
    let mut y = [0.0];
    conv2d_forward(s, &[1.0; 25], None, &[1.0; 9], &mut y, &mut scratch_for(s), 1).unwrap();
    assert_eq!(y, [9.0]);
    // Stride larger than the kernel: inputs between windows are skipped.
    let s = conv(1, 8, 8, 1, 2, 3, 0);
    assert_eq!((s.out_height(), s.out_width()), (3, 3));
    let s = conv(1, 7, 5, 2, 1, 4, 0);
    assert_eq!((s.out_height(), s.out_width(), s.output_len()), (2, 2, 8));
    // floor: (8 + 2 - 3) / 2 + 1 = 4.
    let s = conv(1, 8, 8, 1, 3, 2, 1);
    assert_eq!((s.out_height(), s.out_width()), (4, 4));
    // Non-square input.
    let s = conv(1, 8, 5, 1, 3, 2, 0);
    assert_eq!((s.out_height(), s.out_width()), (3, 2));
    // Pools: kernel == padded input, stride > kernel.
    let p = pool(1, 2, 2, 2, 2, 0);
    assert_eq!((p.out_height(), p.out_width()), (1, 1));
    let p = pool(1, 8, 8, 2, 3, 0);
    assert_eq!((p.out_height(), p.out_width()), (3, 3));
    let p = pool(1, 8, 8, 3, 2, 1);
    assert_eq!((p.out_height(), p.out_width()), (4, 4));
    // maxpool 2 on the digits' 8x8.
    assert_eq!(pool(16, 8, 8, 2, 2, 0).output_len(), 16 * 4 * 4);
}

#[test]
fn maxpool_by_hand_ties_and_padding() {
    // Ties go to the first maximum in scan order.
    let s = pool(1, 2, 2, 2, 2, 0);
    let (mut y, mut a) = ([0.0], [9]);
    maxpool2d_forward(s, &[3.0, 3.0, 3.0, 3.0], &mut y, &mut a, 1).unwrap();
    assert_eq!((y, a), ([3.0], [0]));
    maxpool2d_forward(s, &[1.0, 3.0, 2.0, 3.0], &mut y, &mut a, 1).unwrap();
    assert_eq!((y, a), ([3.0], [1]));
    // Padding is -inf: negative inputs stay the maximum.
    let s = pool(1, 2, 2, 2, 1, 1);
    let (mut y, mut a) = ([0.0; 9], [0; 9]);
    maxpool2d_forward(s, &[-1.0, -2.0, -3.0, -4.0], &mut y, &mut a, 1).unwrap();
    assert_eq!(y, [-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -3.0, -3.0, -4.0]);
    assert_eq!(a, [0, 0, 1, 0, 0, 1, 2, 2, 3]);
    // Overlapping windows: the gradient sums at a shared argmax, added to dx.
    let mut dx = [10.0; 4];
    maxpool2d_backward(s, &[1.0; 9], &a, &mut dx, GradMode::Add, 1).unwrap();
    assert_eq!(dx, [14.0, 12.0, 12.0, 11.0]);
    // Channel offsets in argmax: channel 1 of a 2x2 image starts at 4.
    let s = pool(2, 2, 2, 2, 2, 0);
    let (mut y, mut a) = ([0.0; 2], [0; 2]);
    maxpool2d_forward(s, &[0.0, 1.0, 2.0, 3.0, 7.0, 6.0, 5.0, 4.0], &mut y, &mut a, 1).unwrap();
    assert_eq!((y, a), ([3.0, 7.0], [3, 4]));
    // NaN propagates, as in PyTorch.
    let s = pool(1, 2, 2, 2, 2, 0);
    let (mut y, mut a) = ([0.0], [0]);
    maxpool2d_forward(s, &[1.0, f32::NAN, 5.0, 2.0], &mut y, &mut a, 1).unwrap();
    assert!(y[0].is_nan());
    assert_eq!(a, [1]);
}

/// Unpadded max pooling (its own loop orders: one for 2x2 windows with stride 2, one for the
/// rest) against a brute-force scan of each window, row by row, over values with many ties and
/// a few NaNs: on two samples of 3 channels of 7x9, three of 2 channels of 6x38 (2x2 windows:
/// two blocks of 8 windows per line and 3 more), and on 40 samples of 8 channels of 64x64
/// (past the threads' threshold: shards of 16, 16 and 8 samples) on 1, 2 and 3 threads; the
/// maxima without their argmaxes (`maxpool2d_forward_values`) are the same bits.
#[test]
fn unpadded_maxpool_matches_a_window_by_window_scan() {
    let cases = [
        ((2, 3, 7, 9), 1),
        ((3, 2, 6, 38), 1),
        ((40, 8, 64, 64), 1),
        ((40, 8, 64, 64), 2),
        ((40, 8, 64, 64), 3),
    ];
    for (((rows, channels, height, width), threads), (kernel, stride)) in cases
        .into_iter()
        .flat_map(|case| [([2, 3], [2, 1]), ([2, 2], [2, 2]), ([3, 2], [1, 3])].map(|k| (case, k)))
    {
        let s = PoolShape { channels, height, width, kernel, stride, pad: [0, 0], count_pad: true };
        let (in_len, out_len) = (s.input_len(), s.output_len());
        let x: Vec<f32> = (0..rows * in_len)
            .map(|i| if i % 17 == 5 { f32::NAN } else { ((i * 7) % 5) as f32 })
            .collect();
        let (mut y, mut a) = (vec![0.0; rows * out_len], vec![0; rows * out_len]);
        with_threads(threads, || maxpool2d_forward(s, &x, &mut y, &mut a, rows)).unwrap();
        let mut values = vec![f32::MIN; rows * out_len];
        with_threads(threads, || maxpool2d_forward_values(s, &x, &mut values, rows)).unwrap();
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&y), "values only: {kernel:?}, {stride:?}, {threads}");
        let (oh_n, ow_n, plane) = (s.out_height(), s.out_width(), height * width);
        for n in 0..rows {
            for c in 0..channels {
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let (ih0, iw0) = (oh * stride[0], ow * stride[1]);
                        let (mut best, mut at) = (f32::NEG_INFINITY, c * plane + ih0 * width + iw0);
                        for ih in ih0..ih0 + kernel[0] {
                            for iw in iw0..iw0 + kernel[1] {
                                let v = x[n * in_len + c * plane + ih * width + iw];
                                if v > best || v.is_nan() {
                                    (best, at) = (v, c * plane + ih * width + iw);
                                }
                            }
                        }
                        let o = n * out_len + (c * oh_n + oh) * ow_n + ow;
                        let got = (y[o].to_bits(), a[o]);
                        let case = (kernel, stride, threads);
                        assert_eq!(got, (best.to_bits(), at as u32), "{case:?}: {o}");
                    }
                }
            }
        }
    }
}

#[test]
fn avgpool_by_hand_counts_padding() {
    // 2x2 input, kernel 2, stride 1, pad 1: 3x3 windows, each divided by 4.
    let s = pool(1, 2, 2, 2, 1, 1);
    let mut y = [0.0; 9];
    avgpool2d_forward(s, &[1.0, 2.0, 3.0, 4.0], &mut y, 1).unwrap();
    assert_eq!(y, [0.25, 0.75, 0.5, 1.0, 2.5, 1.5, 0.75, 1.75, 1.0]);
    let mut dx = [0.0; 4];
    avgpool2d_backward(s, &[4.0; 9], &mut dx, GradMode::Add, 1).unwrap();
    assert_eq!(dx, [4.0; 4]);
    // No padding, stride 2.
    let s = pool(1, 2, 4, 2, 2, 0);
    let mut y = [0.0; 2];
    avgpool2d_forward(s, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &mut y, 1).unwrap();
    assert_eq!(y, [3.5, 5.5]);
}

#[test]
fn global_avgpool_by_hand() {
    let s = ImageShape { channels: 2, height: 1, width: 3 };
    let mut y = [0.0; 4];
    global_avgpool_forward(
        s,
        &[1.0, 2.0, 3.0, -3.0, 0.0, 0.0, 6.0, 6.0, 6.0, 0.0, 0.0, 0.0],
        &mut y,
        2,
    )
    .unwrap();
    assert_eq!(y, [2.0, -1.0, 6.0, 0.0]);
    let mut dx = [0.0; 12];
    global_avgpool_backward(s, &[3.0, 6.0, 0.0, -3.0], &mut dx, GradMode::Add, 2).unwrap();
    assert_eq!(dx, [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, -1.0, -1.0, -1.0]);
}

#[test]
fn fractional_intervals_by_hand() {
    // 9 -> 6: alpha = (9 - 2) / 5 = 1.4; u = 0.25: floor((i + 0.25) 1.4) - floor(0.35)
    // = floor(0.35, 1.75, 3.15, 4.55, 5.95) = 0, 1, 3, 4, 5, and the last window at 7.
    let starts: Vec<usize> = (0..6).map(|i| fractional_start(0.25, 9, 6, i)).collect();
    assert_eq!(starts, [0, 1, 3, 4, 5, 7]);
    // The eval rule, u = 0.5: floor(0.7, 2.1, 3.5, 4.9, 6.3) - floor(0.7) = 0, 2, 3, 4, 6; then 7.
    let starts: Vec<usize> =
        (0..6).map(|i| fractional_start(FRACTIONAL_EVAL_SAMPLE, 9, 6, i)).collect();
    assert_eq!(starts, [0, 2, 3, 4, 6, 7]);
    // Every window of every u starts at 0, ends at the last pixel and steps by 1 or 2.
    for (input, output) in [(8, 5), (9, 6), (7, 4), (3, 2), (3, 1), (16, 11)] {
        for k in 0..100 {
            let u = k as f32 / 100.0;
            let starts: Vec<usize> =
                (0..output).map(|i| fractional_start(u, input, output, i)).collect();
            assert_eq!(starts[0], if output == 1 { input - 2 } else { 0 });
            assert_eq!(starts[output - 1], input - 2);
            assert!(starts.windows(2).all(|w| (1..=2).contains(&(w[1] - w[0]))), "{starts:?}");
        }
    }
    // Forward/backward by hand: 1 x 3 x 3 -> 2 x 2 with windows at 0 and 1 on both axes.
    let s = FractionalPoolShape { channels: 1, height: 3, width: 3, out_height: 2, out_width: 2 };
    let x = [1.0, 9.0, 2.0, 3.0, 4.0, 5.0, 8.0, 7.0, 6.0];
    let (mut y, mut a) = ([0.0; 4], [0; 4]);
    fractional_maxpool2d_forward(s, &[0.3, 0.7], &x, &mut y, &mut a, 1).unwrap();
    assert_eq!(y, [9.0, 9.0, 8.0, 7.0]);
    assert_eq!(a, [1, 1, 6, 7]);
    let mut dx = [0.0; 9];
    fractional_maxpool2d_backward(s, &[1.0, 2.0, 3.0, 4.0], &a, &mut dx, GradMode::Add, 1).unwrap();
    assert_eq!(dx, [0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 3.0, 4.0, 0.0]);
}

#[test]
fn fractional_shapes_from_alpha() {
    let s = FractionalPoolShape::from_alpha(16, 8, 8, 1.41).unwrap();
    assert_eq!((s.out_height, s.out_width, s.output_len()), (5, 5, 16 * 25));
    let s = FractionalPoolShape::from_alpha(1, 32, 20, 2f64.sqrt()).unwrap();
    assert_eq!((s.out_height, s.out_width), (22, 14));
    for alpha in [1.0, 0.5, f64::NAN, f64::INFINITY, -1.5] {
        assert!(
            matches!(
                FractionalPoolShape::from_alpha(1, 8, 8, alpha),
                Err(ConvError::Fractional { alpha: Some(_), .. })
            ),
            "alpha {alpha}"
        );
    }
    // floor(1 / 1.41) = 0: no output.
    let err = FractionalPoolShape::from_alpha(1, 1, 8, 1.41).unwrap_err();
    assert!(err.to_string().contains("cannot pool 1x8 to 0x5"), "{err}");
}

#[test]
fn bad_shapes_are_errors() {
    let err = conv(1, 3, 3, 1, 6, 1, 1).check().unwrap_err();
    assert_eq!(
        err,
        ConvError::KernelTooLarge {
            layer: "conv2d",
            kernel: [6, 6],
            padded_height: 5,
            padded_width: 5
        }
    );
    assert!(
        err.to_string().contains("the 6x6 window is larger than the padded input 5x5"),
        "{err}"
    );
    assert_eq!(
        conv(1, 3, 3, 1, 3, 0, 1).check(),
        Err(ConvError::Zero { layer: "conv2d", field: "stride" })
    );
    assert_eq!(
        conv(0, 3, 3, 1, 3, 1, 1).check(),
        Err(ConvError::Zero { layer: "conv2d", field: "in_channels" })
    );
    assert!(matches!(conv(1, 3, 3, 1, 3, 1, usize::MAX).check(), Err(ConvError::Overflow { .. })));
    // A rejected shape reports zero outputs instead of panicking.
    assert_eq!(conv(1, 3, 3, 1, 3, 0, 1).out_height(), 0);
    assert_eq!(conv(1, 3, 3, 1, 9, 1, 1).out_width(), 0);
    // Calls with a bad shape fail before touching anything.
    let mut y = [7.0; 4];
    assert!(
        conv2d_forward(
            conv(1, 2, 2, 1, 3, 0, 0),
            &[0.0; 9],
            None,
            &[0.0; 4],
            &mut y,
            &mut scratch_for(conv(1, 2, 2, 1, 3, 0, 0)),
            1
        )
        .is_err()
    );
    assert_eq!(y, [7.0; 4]);
    // Pools: pad at most kernel / 2, as PyTorch.
    let err = pool(1, 4, 4, 2, 2, 2).check("maxpool2d").unwrap_err();
    assert_eq!(err, ConvError::PadTooLarge { layer: "maxpool2d", pad: 2, kernel: 2 });
    assert!(err.to_string().contains("at most 1"), "{err}");
    assert!(matches!(
        pool(1, 1, 4, 2, 2, 0).check("avgpool2d"),
        Err(ConvError::KernelTooLarge { .. })
    ));
    assert!(matches!(
        ImageShape { channels: 1, height: 0, width: 3 }.check("global_avgpool"),
        Err(ConvError::Zero { field: "height", .. })
    ));
    let s = FractionalPoolShape { channels: 1, height: 4, width: 4, out_height: 4, out_width: 2 };
    assert!(matches!(s.check(), Err(ConvError::Fractional { .. })));
}

#[test]
fn bad_lengths_are_errors() {
    let s = conv(1, 8, 8, 4, 3, 1, 1);
    let (w, b, x) = (vec![0.0; 36], vec![0.0; 4], vec![0.0; 2 * 64]);
    let mut y = vec![0.0; 2 * 256];
    let err =
        conv2d_forward(s, &w, Some(&b), &x[..100], &mut y, &mut scratch_for(s), 2).unwrap_err();
    assert_eq!(
        err,
        ConvError::Length {
            function: "conv2d_forward",
            argument: "x",
            expected: 128,
            formula: "rows * in_channels * height * width",
            found: 100,
        }
    );
    assert_eq!(
        err.to_string(),
        "conv2d_forward: `x` has 100 values but must have 128 (rows * in_channels * height * width)"
    );
    let arg = |e: ConvError| match e {
        ConvError::Length { argument, .. } => argument,
        e => panic!("{e}"),
    };
    assert_eq!(
        arg(conv2d_forward(s, &w[1..], None, &x, &mut y, &mut scratch_for(s), 2).unwrap_err()),
        "weight"
    );
    assert_eq!(
        arg(conv2d_forward(s, &w, Some(&b[1..]), &x, &mut y, &mut scratch_for(s), 2).unwrap_err()),
        "bias"
    );
    assert_eq!(
        arg(conv2d_forward(s, &w, None, &x, &mut y[1..], &mut scratch_for(s), 2).unwrap_err()),
        "y"
    );
    assert_eq!(
        arg(conv2d_forward(s, &w, None, &x, &mut y, &mut scratch_for(s), 3).unwrap_err()),
        "x"
    );
    let (mut dw, mut db, mut dx) = (vec![0.0; 36], vec![0.0; 4], vec![0.0; 128]);
    let dy = vec![0.0; 512];
    let e = conv2d_backward(
        s,
        &w,
        &x,
        &dy[1..],
        &mut dw,
        None,
        (None, GradMode::Add),
        &mut scratch_for(s),
        2,
    )
    .unwrap_err();
    assert_eq!(arg(e), "dy");
    let e = conv2d_backward(
        s,
        &w,
        &x,
        &dy,
        &mut dw[1..],
        None,
        (None, GradMode::Add),
        &mut scratch_for(s),
        2,
    )
    .unwrap_err();
    assert_eq!(arg(e), "dweight");
    let e = conv2d_backward(
        s,
        &w,
        &x,
        &dy,
        &mut dw,
        Some(&mut db[1..]),
        (None, GradMode::Add),
        &mut scratch_for(s),
        2,
    )
    .unwrap_err();
    assert_eq!(arg(e), "dbias");
    let e = conv2d_backward(
        s,
        &w,
        &x,
        &dy,
        &mut dw,
        None,
        (Some(&mut dx[1..]), GradMode::Add),
        &mut scratch_for(s),
        2,
    )
    .unwrap_err();
    assert_eq!(arg(e), "dx");
    assert!(
        conv2d_backward(
            s,
            &w,
            &x,
            &dy,
            &mut dw,
            Some(&mut db),
            (Some(&mut dx), GradMode::Add),
            &mut scratch_for(s),
            2
        )
        .is_ok()
    );
    assert_eq!(s.scratch_len(), 9 * 64);
    let e = conv2d_forward(s, &w, None, &x, &mut y, &mut [0.0; 10], 2).unwrap_err();
    assert_eq!(arg(e), "scratch");
    let e =
        conv2d_backward(s, &w, &x, &dy, &mut dw, None, (None, GradMode::Add), &mut [0.0; 10], 2)
            .unwrap_err();
    assert_eq!(arg(e), "scratch");

    let p = pool(2, 4, 4, 2, 2, 0);
    let (x, mut y, mut a) = (vec![0.0; 32], vec![0.0; 8], vec![0u32; 8]);
    assert_eq!(arg(maxpool2d_forward(p, &x, &mut y, &mut a[1..], 1).unwrap_err()), "argmax");
    assert_eq!(arg(maxpool2d_forward(p, &x[1..], &mut y, &mut a, 1).unwrap_err()), "x");
    assert_eq!(arg(avgpool2d_forward(p, &x, &mut y[1..], 1).unwrap_err()), "y");
    let mut dx = vec![0.0; 32];
    assert_eq!(
        arg(maxpool2d_backward(p, &y[1..], &a, &mut dx, GradMode::Add, 1).unwrap_err()),
        "dy"
    );
    assert_eq!(arg(avgpool2d_backward(p, &y, &mut dx[1..], GradMode::Add, 1).unwrap_err()), "dx");
    // An argmax that does not point into the row.
    a[3] = 32;
    let err = maxpool2d_backward(p, &y, &a, &mut dx, GradMode::Add, 1).unwrap_err();
    assert_eq!(err, ConvError::Argmax { index: 3, value: 32, input_len: 32 });
    let g = ImageShape { channels: 2, height: 4, width: 4 };
    assert_eq!(arg(global_avgpool_forward(g, &x, &mut y[..3], 1).unwrap_err()), "y");
    assert_eq!(
        arg(global_avgpool_backward(g, &y[..2], &mut dx[1..], GradMode::Add, 1).unwrap_err()),
        "dx"
    );

    let f = FractionalPoolShape::from_alpha(2, 4, 4, 1.5).unwrap();
    let (mut y, mut a) = (vec![0.0; 8], vec![0u32; 8]);
    let e = fractional_maxpool2d_forward(f, &[0.5], &x, &mut y, &mut a, 1).unwrap_err();
    assert_eq!(arg(e), "samples");
    let e = fractional_maxpool2d_forward(f, &[0.5, 1.0], &x, &mut y, &mut a, 1).unwrap_err();
    assert_eq!(e, ConvError::Sample { index: 1, value: 1.0 });
    let e = fractional_maxpool2d_forward(f, &[f32::NAN, 0.0], &x, &mut y, &mut a, 1).unwrap_err();
    assert!(matches!(e, ConvError::Sample { index: 0, .. }));
    assert!(fractional_maxpool2d_forward(f, &[0.5, 0.0], &x, &mut y, &mut a, 1).is_ok());
    assert_eq!(
        arg(fractional_maxpool2d_backward(f, &y, &a[1..], &mut dx, GradMode::Add, 1).unwrap_err()),
        "argmax"
    );
}

#[test]
fn zero_rows_is_a_no_op() {
    let s = conv(1, 8, 8, 4, 3, 1, 1);
    assert!(conv2d_forward(s, &[0.0; 36], None, &[], &mut [], &mut scratch_for(s), 0).is_ok());
    let mut dw = [1.0; 36];
    assert!(
        conv2d_backward(
            s,
            &[0.0; 36],
            &[],
            &[],
            &mut dw,
            None,
            (Some(&mut []), GradMode::Add),
            &mut scratch_for(s),
            0
        )
        .is_ok()
    );
    assert_eq!(dw, [1.0; 36]);
}

/// `n` values in [-1, 1) from a fixed hash of their index and `seed`.
fn hashed(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 1000)
        .map(|v| v as f32 / 500.0 - 1.0)
        .collect()
}

/// Runs `backward(dx, mode)` twice, adding into zeros and overwriting NaNs, with one row more
/// in `dx` than the pass covers: both give the same values (`==`, so `+0` and `-0` agree), and
/// the row past the pass is left alone.
fn assert_overwrite_matches_add(
    what: &str,
    row: usize,
    rows: usize,
    mut backward: impl FnMut(&mut [f32], GradMode),
) {
    let mut added = vec![0.0; (rows + 1) * row];
    backward(&mut added, GradMode::Add);
    let mut overwritten = vec![f32::NAN; (rows + 1) * row];
    backward(&mut overwritten, GradMode::Overwrite);
    let (covered, past) = overwritten.split_at(rows * row);
    for (i, (o, a)) in covered.iter().zip(&added).enumerate() {
        assert!(o == a, "{what}: dx[{i}] is {o} overwritten, {a} added to zeros");
    }
    assert!(past.iter().all(|v| v.is_nan()), "{what}: the row past the pass was written");
}

/// Every backward kernel that writes an input gradient overwrites it as it would add to zeros:
/// conv paths (im2col + col2im, pointwise, depthwise, grouped; register-tiled and packed,
/// one shard and several, 1 and 2 threads) and every pooling.
#[test]
fn overwriting_input_gradients_matches_adding_to_zeros() {
    let grouped = ConvShape { groups: 2, ..conv(4, 7, 6, 6, 3, 1, 1) };
    let depthwise = ConvShape { groups: 8, ..conv(8, 6, 5, 8, 3, 1, 1) };
    let pointwise_packed = conv(24, 5, 4, 32, 1, 1, 0);
    let convs = [
        ("3x3 stride 2, tiled", conv(3, 9, 8, 5, 3, 2, 1)),
        ("3x3, packed", conv(3, 8, 8, 20, 3, 1, 1)),
        ("pointwise, tiled", conv(6, 5, 4, 7, 1, 1, 0)),
        ("pointwise, packed", pointwise_packed),
        ("grouped", grouped),
        ("depthwise", depthwise),
    ];
    for (what, shape) in convs {
        let layer =
            netspec_runtime::ops::conv::Conv2d { shape, weight: 0, bias: Some(shape.weight_len()) };
        let params = hashed(shape.weight_len() + shape.filters, 1);
        for (rows, threads) in [(3, 1), (20, 1), (20, 2)] {
            let x = hashed(rows * shape.input_len(), 2);
            let dy = hashed(rows * shape.output_len(), 3);
            let mut work = vec![0.0; layer.batch_workspace_len(rows)];
            let what = format!("conv {what}, {rows} rows on {threads} threads");
            assert_overwrite_matches_add(&what, shape.input_len(), rows, |dx, mode| {
                let mut grads = vec![0.0; params.len()];
                let dx = (Some(&mut dx[..rows * shape.input_len()]), mode);
                with_threads(threads, || {
                    layer.backward_batch(&params, &mut grads, &x, &dy, dx, &mut work, rows)
                });
            });
        }
        let (x, dy) = (hashed(2 * shape.input_len(), 4), hashed(2 * shape.output_len(), 5));
        let w = &params[..shape.weight_len()];
        assert_overwrite_matches_add(what, shape.input_len(), 2, |dx, mode| {
            let mut dw = vec![0.0; w.len()];
            let dx = (Some(&mut dx[..2 * shape.input_len()]), mode);
            conv2d_backward(shape, w, &x, &dy, &mut dw, None, dx, &mut scratch_for(shape), 2)
                .unwrap();
        });
    }

    let rows = 2;
    // Overlapping, padded windows: several outputs add into one input.
    for shape in [pool(3, 7, 6, 3, 2, 1), pool(2, 6, 6, 2, 2, 0)] {
        let (x, dy) = (hashed(rows * shape.input_len(), 6), hashed(rows * shape.output_len(), 7));
        let mut y = vec![0.0; dy.len()];
        let mut argmax = vec![0; dy.len()];
        maxpool2d_forward(shape, &x, &mut y, &mut argmax, rows).unwrap();
        assert_overwrite_matches_add("maxpool", shape.input_len(), rows, |dx, mode| {
            maxpool2d_backward(shape, &dy, &argmax, &mut dx[..x.len()], mode, rows).unwrap();
        });
        assert_overwrite_matches_add("avgpool", shape.input_len(), rows, |dx, mode| {
            avgpool2d_backward(shape, &dy, &mut dx[..x.len()], mode, rows).unwrap();
        });
    }
    let image = ImageShape { channels: 3, height: 4, width: 5 };
    let dy = hashed(rows * image.channels, 8);
    assert_overwrite_matches_add("global_avgpool", image.len(), rows, |dx, mode| {
        global_avgpool_backward(image, &dy, &mut dx[..rows * image.len()], mode, rows).unwrap();
    });
    let fractional = FractionalPoolShape::from_alpha(2, 9, 8, 1.5).unwrap();
    let (x, dy) =
        (hashed(rows * fractional.input_len(), 9), hashed(rows * fractional.output_len(), 10));
    let (mut y, mut argmax) = (vec![0.0; dy.len()], vec![0; dy.len()]);
    let samples = [0.3, 0.7, 0.1, 0.9];
    fractional_maxpool2d_forward(fractional, &samples, &x, &mut y, &mut argmax, rows).unwrap();
    assert_overwrite_matches_add("fractional_maxpool", fractional.input_len(), rows, |dx, mode| {
        let dx = &mut dx[..x.len()];
        fractional_maxpool2d_backward(fractional, &dy, &argmax, dx, mode, rows).unwrap();
    });
}
