#!/usr/bin/env python
"""Run one provincial case (a new province, other settings, or your own data) and add it to the book.

Same as ``python -m primarycare case``; run with ``--help`` for the options. The work is done by the
library (:mod:`primarycare.cli` lists the module behind each command).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from primarycare.cli import command, run  # noqa: E402

if __name__ == "__main__":
    run(command("case"))
