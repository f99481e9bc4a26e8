#!/usr/bin/env bash
# What a device links for recording: the no_std proof's `zibrato_demo_record` (a
# Recorder with 2 levels, 8 strings, 8 series, 32 values, 512-byte frames, a UART
# transport writing COBS records, no clock), linked freestanding with unused sections
# removed, on this host's architecture (x86_64; a Cortex-M build is typically smaller).
# Prints the text, data and bss of the result, and the recorder's RAM.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out="$(mktemp -d)"
gcc -O2 -ffreestanding -fno-builtin -c size/mem.c -o "$out/mem.o"
gcc -nostdlib -static -Wl,--gc-sections -Wl,-e,zibrato_demo_record \
  -o "$out/device.elf" "$out/mem.o" target/release/libzibrato_no_std_check.a
size "$out/device.elf"
rm -rf "$out"
