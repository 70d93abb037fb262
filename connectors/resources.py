"""Where the files arbflow ships beside its code live: the default config, the SQL schema and queries, the sample.

In a source checkout (and an editable install) they are the repository's top-level ``config/``, ``sql/`` and
``samples/``. A wheel installs the same trees as the ``arbflow_data`` directory next to the ``connectors`` package
(pyproject.toml maps it to the repository root), so an installed ``arbflow`` finds them wherever it runs, never
through the current directory. User data is not here: it goes under ``sinks.data_dir``.
"""

from __future__ import annotations

from pathlib import Path

_CODE_ROOT = Path(__file__).resolve().parent.parent
_WHEEL_ROOT = _CODE_ROOT / "arbflow_data"
ROOT = _WHEEL_ROOT if (_WHEEL_ROOT / "config").is_dir() else _CODE_ROOT

DEFAULT_CONFIG = ROOT / "config" / "default.toml"
SQL_DIR = ROOT / "sql"
QUERY_DIR = SQL_DIR / "queries"
SAMPLE_DIR = ROOT / "samples" / "binance-spot-2024-08-08"
CLI_QUERY_DIR = QUERY_DIR / "cli"  # what the commands run themselves (not listed by `arbflow query --list`)
