"""The case layer: a case's configuration (:mod:`.config`) and the run of every analysis on it
(:mod:`.run`), which returns numbers only (frames and result objects, no prose); the words are written
by :mod:`primarycare.report`.
"""
