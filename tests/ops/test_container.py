"""Container files without a Docker engine: the Dockerfile's structure, the install script in a fresh virtualenv
(fed exactly the files the Dockerfile copies), and the entrypoint starting the API and a flow."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins, args in _instructions():
        if ins == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((ins, args))
    return stages


def test_dockerfile_is_multistage_slim_nonroot_with_healthcheck_and_one_install_path():
    instructions = _instructions()
    assert ("ARG", "PYTHON_IMAGE=python:3.12-slim") in instructions
    stages = _stages()
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    assert all(args.startswith("${PYTHON_IMAGE}") for ins, args in instructions if ins == "FROM")
    assert [a for i, a in build if i == "RUN"] == ["PYTHON=python docker/install.sh /opt/venv /app"]
    assert not any(i == "RUN" and "pip install" in a for i, a in instructions)  # the script is the only install
    users = [a for i, a in runtime if i == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert [i for i, _ in runtime].index("USER") < [i for i, _ in runtime].index("ENTRYPOINT")
    [health] = [a for i, a in runtime if i == "HEALTHCHECK"]
    assert "http://127.0.0.1:8080/health" in health and "EXPOSE" in [i for i, _ in runtime]
    assert ("ENTRYPOINT", '["/app/docker/entrypoint.sh"]') in runtime
    for ins, args in build:
        if ins == "COPY":
            for src in args.split()[:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repo"
    assert os.access(ROOT / "docker" / "install.sh", os.X_OK) and os.access(ROOT / "docker" / "entrypoint.sh", os.X_OK)


def test_compose_runs_flow_and_api_on_one_volume():
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    flow, api = doc["services"]["flow"], doc["services"]["api"]
    assert flow["command"] == ["flow"] and api["command"] == ["api"]
    assert flow["volumes"] == api["volumes"] == ["arbflow-data:/data"] and "arbflow-data" in doc["volumes"]
    assert flow["restart"] == "no"  # the supervisor inside decides; Docker must not restart behind it
    assert api["ports"] == ["127.0.0.1:8080:8080"] and "ARBFLOW_API_KEYS" in api["environment"]


def test_compose_api_keeps_the_shared_environment():
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())  # PyYAML applies `<<` merge keys
    flow, api = doc["services"]["flow"]["environment"], doc["services"]["api"]["environment"]
    assert flow["BYTEWAX_SNAPSHOT_INTERVAL"] == "10"
    assert {k: api.get(k) for k in flow} == flow  # the api adds its keys without dropping the shared ones


def test_deployment_files_set_the_api_host_the_readme_names():
    readme = (ROOT / "README.md").read_text()
    assert "the container sets ARBFLOW__API__HOST='\"0.0.0.0\"'" in readme
    runtime_env = " ".join(a for i, a in _stages()[-1] if i == "ENV")
    assert "ARBFLOW__API__HOST='\"0.0.0.0\"'" in runtime_env
    files = [ROOT / "Dockerfile", ROOT / "compose.yaml", *(ROOT / "docker").iterdir(), *(ROOT / "deploy").iterdir()]
    stale = [f.name for f in files if "ARBFLOW_API_BIND" in f.read_text()]
    assert stale == []  # one name for the bind address: [api] host, i.e. ARBFLOW__API__HOST
    assert "ARBFLOW__API__HOST" in (ROOT / "docker" / "entrypoint.sh").read_text()
    assert "Environment=ARBFLOW__API__HOST=127.0.0.1" in (ROOT / "deploy" / "arbflow-api.service").read_text()


def test_deployment_files_refer_only_to_documents_that_exist():
    for path in [
        ROOT / "Dockerfile",
        ROOT / "compose.yaml",
        *(ROOT / "docker").iterdir(),
        *(ROOT / "deploy").iterdir(),
    ]:
        for found in re.findall(r"[\w./:-]+\.md\b", path.read_text()):
            doc = re.sub(r"^(file:)?/*(opt/arbflow/app/)?", "", found)  # systemd units name the installed checkout
            assert (ROOT / doc).exists() or (path.parent / doc).exists(), f"{path.name} refers to missing {doc}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_parse():
    units = sorted(str(p) for p in (ROOT / "deploy").iterdir() if p.suffix in (".service", ".timer"))
    assert {Path(u).name for u in units} >= {"arbflow.service", "arbflow-replay.service", "arbflow-replay.timer"}
    out = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, check=False)
    problems = [
        ln
        for ln in (out.stdout + out.stderr).splitlines()
        if ln.strip() and "/opt/arbflow/app/docker/entrypoint.sh is not executable" not in ln
    ]
    assert problems == []


def _copy_like_the_dockerfile(dest: Path) -> None:
    """Lay out the app exactly as the build stage's COPY lines do, so a file the image would miss fails here too."""
    for ins, args in _stages()[0]:
        if ins != "COPY":
            continue
        *sources, target = args.split()
        for src in sources:
            path = ROOT / src
            out = dest / target / (path.name if target.endswith("/") and path.is_file() else "")
            if path.is_dir():
                shutil.copytree(path, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, out)


TINY_FLOW = """
import bytewax.operators as op
from bytewax.connectors.stdio import StdOutSink
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource

flow = Dataflow("tiny")
op.output("out", op.map("double", op.input("in", flow, TestingSource([1, 2, 3])), lambda x: f"doubled {2 * x}"), StdOutSink())
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_install_script_in_fresh_venv_and_entrypoint_runs_api_and_flow(tmp_path):
    app, venv, data = tmp_path / "app", tmp_path / "venv", tmp_path / "data"
    _copy_like_the_dockerfile(app)
    started = time.monotonic()
    install = subprocess.run(
        [str(app / "docker" / "install.sh"), str(venv), str(app)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    print(f"docker/install.sh into a fresh venv: {time.monotonic() - started:.0f} s")
    assert (venv / "bin" / "arbflow").exists()

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ARBFLOW", "VIRTUAL_ENV", "BYTEWAX"))},
        "ARBFLOW_APP_DIR": str(app),
        "ARBFLOW_VENV": str(venv),
        "ARBFLOW__SINKS__DATA_DIR": str(data),
        "ARBFLOW_API_KEYS": "container-key",
        "ARBFLOW__API__HOST": "127.0.0.1",
        "ARBFLOW__MONITOR__RESTART_INITIAL_DELAY_S": "0.1",  # a failing flow must not wait 5 + 10 + 20 s here
    }
    entry = str(app / "docker" / "entrypoint.sh")

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [entry, *args], env={**env, **extra}, capture_output=True, text=True, timeout=120, check=False
        )

    version = run("version")
    assert version.returncode == 0 and version.stdout.strip() == "arbflow 0.1.0"
    usage = run("help")
    assert usage.returncode == 0 and all(word in usage.stdout for word in ("flow", "api", "scheduler"))
    which = run("python", "-c", "import sys; print(sys.prefix)")
    assert which.stdout.strip() == str(venv)  # anything else runs as a command inside the installed venv

    # flow: initializes the bytewax recovery directory, runs the flow under the supervisor, exits 0 when it ends
    (app / "tiny_flow.py").write_text(TINY_FLOW)
    flow = run("flow", ARBFLOW_FLOW="tiny_flow:flow", BYTEWAX_RECOVERY_DIRECTORY=str(tmp_path / "recovery"))
    assert flow.returncode == 0, flow.stderr[-3000:]
    assert [ln for ln in flow.stdout.splitlines() if ln.startswith("doubled")] == [
        "doubled 2",
        "doubled 4",
        "doubled 6",
    ]
    assert sorted(p.name for p in (tmp_path / "recovery").iterdir()) == ["part-0.sqlite3"]
    assert (data / "heartbeats" / "supervisor.json").exists()

    # api: the real server from the installed venv answers /health and an authenticated route
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [entry, "api", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "API did not come up"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        headers = {"x-api-key": "container-key"}
        status = httpx.get(f"http://127.0.0.1:{port}/api/system/status", headers=headers, timeout=10)
        assert status.status_code == 200 and status.json()["system"]["cpu_count"] >= 1
        assert httpx.get(f"http://127.0.0.1:{port}/api/signals", timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
