"""``python -m zibrato.backend --host H --port P``: the Zibrato broker.

The original ran its broker as ``python .../zibrato/backend.py``; this runs the Rust
broker (``zibrato-broker``) in this process, with its flags (``--help`` lists them),
signals and exit codes.
"""

import sys
from typing import Optional, Sequence

from ._daemon import run_daemon


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the broker with ``argv`` (default: this process's arguments)."""
    return run_daemon("zibrato-broker", argv)


if __name__ == "__main__":
    sys.exit(main())
