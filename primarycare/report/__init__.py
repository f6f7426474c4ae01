"""The reporting layer: the only place that turns numbers into words, tables, boxes and figure labels.

- :mod:`.boxes`: reader-facing boxes (reproduce this chapter, simulated-data notice);
- :mod:`.plots`: figures;
- the chapter text helpers (see the modules of this package).
"""
