"""The edges of arbflow: sources, venue parsers and sinks. Never imports ``flows``."""
