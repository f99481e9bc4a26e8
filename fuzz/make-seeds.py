#!/usr/bin/env python3
"""Writes the wire spec's test vectors (docs/wire-format.md) as seed files for the
fuzzers: fuzz/seeds/frame/<vector-name>.bin for the frame fuzzers and
fuzz/seeds/relay/<vector-name>.bin for the relay decoder. Run from anywhere."""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
spec = (root / "docs" / "wire-format.md").read_text()
out = root / "fuzz" / "seeds" / "frame"
out.mkdir(parents=True, exist_ok=True)
count = 0
for block in re.findall(r"```vector\n(.*?)```", spec, re.S):
    name = re.search(r"^name: (.+)$", block, re.M).group(1).strip()
    hex_text = re.search(r"^hex: (.+?)(?=^\S|\Z)", block, re.M | re.S).group(1)
    data = bytes.fromhex("".join(hex_text.split()))
    (out / f"{name}.bin").write_bytes(data)
    count += 1
print(f"wrote {count} seeds to {out}")

# The relay messages (section 10) seed the relay decoder.
out = root / "fuzz" / "seeds" / "relay"
out.mkdir(parents=True, exist_ok=True)
count = 0
for block in re.findall(r"```relay-vector\n(.*?)```", spec, re.S):
    name = re.search(r"^name: (.+)$", block, re.M).group(1).strip()
    hex_text = re.search(r"^hex: (.+?)(?=^\S|\Z)", block, re.M | re.S).group(1)
    data = bytes.fromhex("".join(hex_text.split()))
    (out / f"{name}.bin").write_bytes(data)
    count += 1
print(f"wrote {count} seeds to {out}")
