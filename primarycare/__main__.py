"""``python -m primarycare COMMAND``: see :mod:`primarycare.cli`."""

from .cli import entry

entry()
