"""CeLue triangular and multi-leg arbitrage: cycle books from market facts (``markets``), the evaluator's carried
state (``state``) and batch evaluation per exchange (``evaluate``), N-leg negative-cycle scans (``cycles``), the
per-exchange step (``step``) and cross-venue cycles (``venues``)."""
