"""Issue 13.11: a new run's tables become visible together. A reader loops (its own thread, the real DuckDB view file
and the lake globs) while a second run of the real flow writes: every observation is the whole old run or a part of
the new one, never new clean quotes next to old signals."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import duckdb

from connectors.lake import connect, table_glob
from ops.flow_process import flow_argv, flow_env

TABLES = {"quotes_clean": "quote_id, bid_px, ask_px", "signals": "signal_id, net_edge_bps"}


def _run(data_dir: Path, seed: int) -> None:
    market = {"source.kind": "simulator", "simulator.duration_s": 120.0, "source.batch_rows": 200}
    env = flow_env({**market, "simulator.seed": seed, "sinks.data_dir": str(data_dir)})
    run = subprocess.run(flow_argv(None), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]


def _view_rows(data_dir: Path) -> dict[str, frozenset]:
    """One connection to the view file: what a CLI or plain duckdb user sees at one moment."""
    con = connect(data_dir)
    try:
        return {t: frozenset(con.execute(f'select {cols} from "{t}"').fetchall()) for t, cols in TABLES.items()}
    finally:
        con.close()


def _glob_rows(data_dir: Path) -> dict[str, frozenset]:
    """Through the lake globs, as the API reads (each glob resolves the run link once)."""
    con = duckdb.connect()
    out = {}
    for table, cols in TABLES.items():
        glob = table_glob(data_dir, table).replace("'", "''")
        out[table] = frozenset(
            con.execute(f"select {cols} from read_parquet('{glob}', union_by_name = true)").fetchall()
        )
    con.close()
    return out


def test_a_reader_sees_the_old_run_or_the_new_one_never_a_mix(tmp_path: Path):
    _run(tmp_path, seed=1)
    old = _view_rows(tmp_path)
    assert all(old.values())
    seen: list[dict[str, frozenset]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                seen.append(_view_rows(tmp_path))
            except BaseException as exc:  # noqa: BLE001 - any read failure is a finding
                errors.append(exc)
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    _run(tmp_path, seed=2)
    done.set()
    thread.join(30)
    new = _view_rows(tmp_path)
    assert _glob_rows(tmp_path) == new
    assert errors == []
    assert all(new[t] - old[t] for t in TABLES)  # the two runs differ in every table
    assert len(seen) > 10  # the reader looped throughout the second run
    for view in seen:
        old_only = any(rows & (old[t] - new[t]) for t, rows in view.items())
        new_only = any(rows & (new[t] - old[t]) for t, rows in view.items())
        assert not (old_only and new_only), "a reader saw rows of both runs at once"
        if old_only:
            assert view == old  # the old run, whole
        else:
            assert all(rows <= new[t] for t, rows in view.items())  # the new run, complete or on its way
