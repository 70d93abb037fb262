"""The built wheel works outside the repository: config, SQL and the sample ship inside it.

Cost kept low for CI: the fresh venv reuses this interpreter's installed dependencies through a .pth line (a path
line only: .pth files inside that directory, such as an editable arbflow finder, are not processed), and only the
arbflow wheel is installed into it, with --no-deps.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, count

pytestmark = pytest.mark.slow
NOT_SOURCE = (".git", ".venv", "data", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the arbflow wheel built from this checkout; returns its bin directory."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"  # a copy, so the in-tree build leaves no build/ or *.egg-info in the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root / "dist", source],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (root / "dist").glob("arbflow-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (venv / "lib" / version / "site-packages" / "_arbflow_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel],
                             capture_output=True, text=True, env=_clean_env(), check=False)  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    return venv / "bin"


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH (it would import this checkout) and no ARBFLOW__ overrides."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("ARBFLOW__")}


def _run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([bin_dir / "arbflow", *args], cwd=cwd, capture_output=True, text=True, env=_clean_env(),
                          timeout=300, check=False)  # fmt: skip


def test_the_installed_package_imports_from_the_venv_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    # ops.api (the API package) and the dashboard's files must be in the wheel too: `arbflow serve` needs them
    probe = (
        "import flows, connectors.resources as r, ops.api, pathlib; print(flows.__file__); print(r.DEFAULT_CONFIG);"
        " print(pathlib.Path(ops.api.__file__).parents[1] / 'dashboard' / 'live.js')"
    )
    out = subprocess.run([installed / "python", "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         env=_clean_env(), check=True).stdout.split()  # fmt: skip
    venv = installed.parent
    assert Path(out[0]).is_relative_to(venv)
    assert Path(out[1]).is_relative_to(venv) and Path(out[1]).is_file()
    assert Path(out[2]).is_relative_to(venv) and Path(out[2]).is_file()


def test_run_and_query_list_from_an_empty_directory(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    run = _run(installed, empty, "run")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert count(empty / "data", "select count(*) from quotes_clean") > 100_000  # the bundled sample, ~158k quotes
    assert count(empty / "data", "select count(*) from signals") > 0
    listing = _run(installed, empty, "query", "--list")
    assert listing.returncode == 0, listing.stderr
    for name in ("best_signals", "route_spread_stats", "feed_health"):
        assert name in listing.stdout
    summary = _run(installed, empty, "summary")
    assert summary.returncode == 0, summary.stderr
    assert "signals" in summary.stdout
