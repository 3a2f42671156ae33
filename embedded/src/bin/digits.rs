//! Classifies the held-out digits with the frozen MLP and prints the accuracy.
#![no_std]
#![no_main]

use netspec_embedded::{correct, firmware, mlp};

#[cortex_m_rt::entry]
fn main() -> ! {
    let n = correct(|x| mlp::DigitsMlpFrozen.predict(x), &mlp::TEST_X, &mlp::TEST_Y);
    firmware::report(n, mlp::TEST_Y.len())
}
