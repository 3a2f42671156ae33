//! A quick timing of the conv kernels on the DigitsCnn shapes, against a naive im2col
//! variant (the kernels' earlier direct loops measured 113/1699/1903 us forward and
//! 224/3447/4131 us backward on these shapes), run by hand (ignored by default):
//!
//! `cargo test --release -p netspec-runtime --test conv_bench -- --ignored --nocapture`

use netspec_runtime::ops::GradMode;
use std::hint::black_box;
use std::time::Instant;

use netspec_runtime::ops::conv::{ConvShape, conv2d_backward, conv2d_forward};

/// im2col for one row: `cols[(c, kh, kw), (oh, ow)]`, zeros for padding.
fn im2col(s: &ConvShape, x: &[f32], cols: &mut [f32]) {
    let (oh_n, ow_n, k) = (s.out_height(), s.out_width(), s.kernel[0]);
    let mut i = 0;
    for c in 0..s.in_channels {
        for kh in 0..k {
            for kw in 0..k {
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let ih = (oh * s.stride[0] + kh) as isize - s.pad[0] as isize;
                        let iw = (ow * s.stride[1] + kw) as isize - s.pad[1] as isize;
                        let inside = (0..s.height as isize).contains(&ih)
                            && (0..s.width as isize).contains(&iw);
                        cols[i] = if inside {
                            x[c * s.height * s.width + ih as usize * s.width + iw as usize]
                        } else {
                            0.0
                        };
                        i += 1;
                    }
                }
            }
        }
    }
}

/// `y[f, p] = sum_q w[f, q] * cols[q, p]`, the inner loop over the contiguous `p`.
fn im2col_forward(
    s: &ConvShape,
    w: &[f32],
    x: &[f32],
    y: &mut [f32],
    cols: &mut [f32],
    rows: usize,
) {
    let (in_len, out_len) = (s.input_len(), s.output_len());
    let plane = s.out_height() * s.out_width();
    let q_n = s.in_channels * s.kernel[0] * s.kernel[1];
    for r in 0..rows {
        im2col(s, &x[r * in_len..(r + 1) * in_len], cols);
        let y = &mut y[r * out_len..(r + 1) * out_len];
        for (f, y) in y.chunks_exact_mut(plane).enumerate() {
            y.fill(0.0);
            for q in 0..q_n {
                let wv = w[f * q_n + q];
                for (y, &c) in y.iter_mut().zip(&cols[q * plane..(q + 1) * plane]) {
                    *y += wv * c;
                }
            }
        }
    }
}

fn scratch_for(shape: ConvShape) -> Vec<f32> {
    vec![f32::NAN; shape.scratch_len()]
}

fn time(label: &str, iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
    println!("{label:<48} {us:>9.1} us/batch");
    us
}

#[test]
#[ignore = "timing, run by hand with --release"]
fn conv_timing() {
    let rows = 32;
    for s in [
        ConvShape::square([1, 8, 8], 16, 3, 1, 1),
        ConvShape::square([16, 8, 8], 16, 3, 1, 1),
        ConvShape::square([16, 8, 8], 32, 3, 2, 1),
    ] {
        let x: Vec<f32> = (0..rows * s.input_len()).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..s.weight_len()).map(|i| (i as f32 * 0.11).cos()).collect();
        let b = vec![0.1; s.filters];
        let mut y = vec![0.0; rows * s.output_len()];
        let mut y2 = y.clone();
        let mut cols =
            vec![0.0; s.in_channels * s.kernel[0] * s.kernel[1] * s.out_height() * s.out_width()];
        let mut scratch = scratch_for(s);
        let iters = 2000;
        println!(
            "{}x{}x{} -> {} k{} s{} p{}, batch {rows}:",
            s.in_channels, s.height, s.width, s.filters, s.kernel[0], s.stride[0], s.pad[0]
        );
        time("  kernel forward (im2col in scratch)", iters, || {
            conv2d_forward(s, &w, Some(&b), black_box(&x), &mut y, &mut scratch, rows).unwrap();
        });
        time("  naive im2col forward (this file)", iters, || {
            im2col_forward(&s, &w, black_box(&x), &mut y2, &mut cols, rows);
        });
        let dy = y.clone();
        let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], b.clone(), x.clone());
        time("  kernel backward (dweight, dbias, dx)", iters, || {
            conv2d_backward(
                s,
                &w,
                black_box(&x),
                &dy,
                &mut dw,
                Some(&mut db),
                (Some(&mut dx), GradMode::Add),
                &mut scratch,
                rows,
            )
            .unwrap();
        });
        // Same result up to summation order.
        conv2d_forward(s, &w, None, &x, &mut y, &mut scratch, rows).unwrap();
        im2col_forward(&s, &w, &x, &mut y2, &mut cols, rows);
        assert!(y.iter().zip(&y2).all(|(a, b)| (a - b).abs() <= 1e-4 * b.abs().max(1.0)));
    }
}
