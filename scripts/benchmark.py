#!/usr/bin/env python
"""Benchmark the estimators against the peer packages and print a table.

Same as ``python -m primarycare bench``; run with ``--help`` for the options. The work is done by the
library (:mod:`primarycare.cli` lists the module behind each command).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from primarycare.cli import command, run  # noqa: E402

if __name__ == "__main__":
    run(command("bench"))
