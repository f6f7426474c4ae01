"""The data layer: registries (provinces, indicators, facts), the panel schema, the importer and the
simulated teaching panel.

``from primarycare import data`` keeps working as before: the panel loaders below live in
:mod:`primarycare.data.panel` and are re-exported here.
"""

from .panel import (  # noqa: F401 - re-exported public API
    KEY,
    OBSERVED_FILE,
    PANEL_COLUMNS,
    POLICIES_FILE,
    SIMULATED_FILE,
    TRUTH_FILE,
    derivations,
    derive,
    load_facts,
    load_panel,
    load_policies,
    load_truth,
    merge_observed,
    policy,
    status_summary,
    wide,
)
