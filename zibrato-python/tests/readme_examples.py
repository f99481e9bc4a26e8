"""Writes each ```python block of a README to a file of its own, for `mypy --strict`.

    python readme_examples.py README.md OUTDIR
"""

import pathlib
import re
import sys


def main() -> None:
    readme, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    blocks = re.findall(r"^```python\n(.*?)^```", readme.read_text(), re.S | re.M)
    if not blocks:
        sys.exit("no python blocks in %s" % readme)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("readme_example_*.py"):
        old.unlink()
    for i, block in enumerate(blocks, 1):
        (out / ("readme_example_%d.py" % i)).write_text(block)
    print("%d examples from %s in %s" % (len(blocks), readme, out))


if __name__ == "__main__":
    main()
