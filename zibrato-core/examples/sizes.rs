//! The RAM a `Recorder` takes for a few choices of capacity, on this host (pointers
//! are 8 bytes here, 4 on a 32-bit microcontroller, so a device's figure is smaller).
//!
//! `cargo run -p zibrato-core --example sizes`

use zibrato_core::{Clock, Recorder, Transport};

struct Nothing;

impl Transport for Nothing {
    type Error = ();
    fn send(&mut self, _: &[u8]) -> Result<(), ()> {
        Ok(())
    }
}

impl Clock for Nothing {
    fn now_us(&mut self) -> u64 {
        0
    }
}

fn main() {
    println!("levels strings series values frame  bytes of RAM");
    macro_rules! row {
        ($l:literal, $s:literal, $r:literal, $v:literal, $f:literal) => {
            println!(
                "{:>6} {:>7} {:>6} {:>6} {:>5}  {}",
                $l,
                $s,
                $r,
                $v,
                $f,
                size_of::<Recorder<'static, Nothing, Nothing, $l, $s, $r, $v, $f>>()
            );
        };
    }
    row!(1, 4, 4, 16, 256);
    row!(2, 8, 8, 32, 512);
    row!(2, 16, 16, 64, 1024);
    row!(4, 32, 32, 256, 1400);
}
