"""CeLue triangular and multi-leg arbitrage: cycle books and evaluation per exchange (``evaluate``), N-leg
negative-cycle scans (``cycles``), the per-exchange step (``step``) and cross-venue cycles (``venues``)."""
