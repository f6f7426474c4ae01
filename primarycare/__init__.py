"""primarycare: data, simulation, estimators and case running for the primary-care reform book.

The library behind the book *Primary health care reform in China: provincial cases*. Every data value
carries a ``status`` (``observed`` or ``simulated``); see ``data/README.md``.
"""

__version__ = "0.1.0"
