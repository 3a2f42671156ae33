//! Classifies the held-out digits with the frozen conv net and prints the accuracy.
#![no_std]
#![no_main]

use netspec_embedded::{cnn, correct, firmware};

#[cortex_m_rt::entry]
fn main() -> ! {
    let n = correct(|x| cnn::DigitsCnnFrozen.predict(x), &cnn::TEST_X, &cnn::TEST_Y);
    firmware::report(n, cnn::TEST_Y.len())
}
