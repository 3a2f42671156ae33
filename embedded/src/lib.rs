//! The digits networks frozen with their trained weights (`build.rs`), their held-out samples,
//! and the accuracy loop the firmware runs; `no_std`, no heap.
#![no_std]

/// The MLP of `specs/digits.nn`.
pub mod mlp {
    netspec::include_spec!("digits_frozen");
    include!(concat!(env!("OUT_DIR"), "/digits_test.rs"));
}

/// The conv net of `specs/digits_cnn.nn`.
pub mod cnn {
    netspec::include_spec!("digits_cnn_frozen");
    include!(concat!(env!("OUT_DIR"), "/digits_cnn_test.rs"));
}

/// How many of the samples `predict` classifies as their label (the highest score, the first
/// on ties, as the desktop's `netspec::argmax`).
pub fn correct<const IN: usize, const OUT: usize>(
    predict: impl Fn(&[f32; IN]) -> [f32; OUT],
    samples: &[[f32; IN]],
    labels: &[u8],
) -> usize {
    samples
        .iter()
        .zip(labels)
        .filter(|&(x, &y)| netspec::argmax(&predict(x)) == Some(usize::from(y)))
        .count()
}

/// Prints the accuracy through semihosting and exits QEMU with its status; a panic exits with
/// a failure.
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub mod firmware {
    use cortex_m_semihosting::{debug, hprintln};

    /// Prints `embedded test accuracy: X` as the desktop example prints its test accuracy, and
    /// ends the run.
    pub fn report(correct: usize, total: usize) -> ! {
        let accuracy = correct as f64 / total as f64;
        hprintln!("embedded test accuracy: {:.4} ({}/{})", accuracy, correct, total);
        exit()
    }

    /// Ends the run with success.
    pub fn exit() -> ! {
        debug::exit(debug::EXIT_SUCCESS);
        loop {}
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        hprintln!("panic: {}", info);
        debug::exit(debug::EXIT_FAILURE);
        loop {}
    }
}
