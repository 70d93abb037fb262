"""arbflow's application layer: the command line (``arbflow.cli``), the settings (``arbflow.settings``) and the
domain errors (``arbflow.errors``). The dataflow lives in ``flows/``, the edges in ``connectors/``."""
