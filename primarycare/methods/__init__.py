"""The methods layer: estimators and inference, each a function over a tidy frame returning a result
object (:class:`~primarycare.methods.results.Estimate` or a richer one).

- :mod:`.did`: two-way fixed effects, event studies (TWFE, Sun-Abraham, imputation),
  Callaway-Sant'Anna, Goodman-Bacon decomposition;
- :mod:`.inference`: randomization tests and the wild cluster bootstrap for few treated units;
- :mod:`.pretrend`: the placebo p-value of the pre-trend test;
- :mod:`.synth`: synthetic control, with conformal inference for it in :mod:`.conformal`;
- :mod:`.sdid`: synthetic difference-in-differences, block design and staggered adoption;
- :mod:`.trends`: segmented (interrupted time-series) regression, with common shocks kept in the
  counterfactual;
- :mod:`.sensitivity`: pre-trend power (Roth 2022) and honest DiD sensitivity (Rambachan and Roth 2023).
- :mod:`.pretrend`: also the event study with placebo bands used by the case chapters.

Modules whose names start with ``_`` are private helpers of the estimator beside them.
"""
