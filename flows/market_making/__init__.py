"""Paper market making (off by default): quote prices (``quotes``) and the per-exchange step (``step``)."""
