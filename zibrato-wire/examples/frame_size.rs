//! Prints the bytes per measurement of a realistic frame beside the statsd text line
//! and the original library's pipe-delimited text for the same events.
//!
//! `cargo run --release -p zibrato-wire --example frame_size`

#[path = "../benches/realistic.rs"]
mod realistic;

use zibrato_wire::{FrameBuilder, Header, Level};

fn main() -> Result<(), zibrato_wire::Error> {
    let level = Level::new("info")?;
    let header = Header {
        publisher: 0x9e37_79b9_7f4a_7c15,
        sequence: 123_456,
        time_us: 1_764_158_400_000_000,
    };
    println!(
        "| measurements per frame | zibrato frame B/measurement | statsd line B | original text B |"
    );
    println!("|---:|---:|---:|---:|");
    for count in [8usize, 64, 512, 4096] {
        let ms = realistic::measurements(count);
        let mut builder = Box::new(FrameBuilder::<&str, 16, 16, 4096>::new());
        for m in &ms {
            builder.push(*m)?;
        }
        let mut buf = vec![0u8; builder.encoded_len(level, &header)];
        let frame = builder.encode(level, &header, &mut buf)?.len();
        let statsd: usize = ms.iter().map(|m| realistic::statsd_line(m).len() + 1).sum();
        let original: usize = ms
            .iter()
            .map(|m| realistic::original_line("info", m).len())
            .sum();
        println!(
            "| {count} | {:.2} | {:.1} | {:.1} |",
            frame as f64 / count as f64,
            statsd as f64 / count as f64,
            original as f64 / count as f64
        );
    }
    Ok(())
}
