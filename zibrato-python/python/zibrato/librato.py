"""``python -m zibrato.librato --username U --levels L --flush F``: the Librato worker.

Runs the Rust worker (``zibrato-librato``) in this process, with its flags
(``--help`` lists them), signals and exit codes. The API token comes from
``LIBRATO_TOKEN``, or a file named by ``--apitoken-file``/``LIBRATO_TOKEN_FILE``;
``--apitoken`` still works, but a token on the command line is visible in ``ps``.
"""

import sys
from typing import Optional, Sequence

from ._daemon import run_daemon


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the Librato worker with ``argv`` (default: this process's arguments)."""
    return run_daemon("zibrato-librato", argv)


if __name__ == "__main__":
    sys.exit(main())
