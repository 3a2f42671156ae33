//! The conv net's `predict` alone, for measuring its code and weights (`sizes`): one call on
//! an input the optimizer cannot see through, then exit.
#![no_std]
#![no_main]

use core::hint::black_box;
use netspec_embedded::{cnn, firmware};

#[cortex_m_rt::entry]
fn main() -> ! {
    black_box(cnn::DigitsCnnFrozen.predict(&black_box([0.0; 64])));
    firmware::exit()
}
