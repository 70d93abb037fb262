"""What the benchmarks share: the benchmark market's shape, timing with wall and CPU clocks, and loading another
version of a module from a file (``git show <commit>:flows/x.py > /tmp/x.py``) to time it on the same input."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SYMBOLS = [f"{b}/USDT" for b in ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "LINK", "DOT")]
VENUES = ["binance", "okx", "htx"]
FEES_BPS = {"binance": 10.0, "okx": 10.0, "htx": 20.0}
T = TypeVar("T")


def load_version(path: str | None, default: ModuleType) -> ModuleType:
    """``default``, or the module in the file at ``path`` (another version of it, e.g. an older commit's)."""
    if path is None:
        return default
    spec = importlib.util.spec_from_file_location(f"{default.__name__.rsplit('.', 1)[-1]}_under_test", path)
    if spec is None or spec.loader is None:
        msg = f"{path}: not a Python module file"
        raise SystemExit(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@dataclass
class Spent:
    """Time in one function over a pass: wall and CPU (all threads) seconds, rows handed to it, calls."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    rows: int = 0
    calls: int = 0

    def per_row_us(self) -> tuple[float, float]:
        """(wall, CPU) microseconds per row."""
        return self.wall_s / self.rows * 1e6, self.cpu_s / self.rows * 1e6


def timed(spent: Spent, rows: int, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)``, its time added to ``spent``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    spent.wall_s += time.perf_counter() - wall
    spent.cpu_s += time.process_time() - cpu
    spent.rows += rows
    spent.calls += 1
    return out
