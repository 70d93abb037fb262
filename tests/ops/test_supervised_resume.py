"""A real Bytewax flow crashes hard mid-run; the supervisor restarts it; it resumes from its recovery snapshot and the
exactly-once file sink ends with every row once, in order. (The project flow's own resume test lives with the flow.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

from ops.supervisor import RestartPolicy, Supervisor

ROWS = 300
CRASH_AT = 200

FLOW = """
import os, time
from pathlib import Path

import bytewax.operators as op
from bytewax.connectors.files import FileSink, FileSource
from bytewax.dataflow import Dataflow

MARK, SEEN = Path(os.environ["CRASH_MARK"]), Path(os.environ["SEEN_LOG"])


def work(line):
    time.sleep(0.003)  # long enough for several snapshots (-s 0: every epoch) before the crash
    with SEEN.open("a") as fh:
        fh.write(f"{os.getpid()} {line}\\n")
    if int(line) == int(os.environ["CRASH_AT"]) and not MARK.exists():
        MARK.touch()
        os._exit(9)  # no cleanup, like kill -9
    return line


flow = Dataflow("resume")
lines = op.map("work", op.input("in", flow, FileSource(Path(os.environ["IN_FILE"]), batch_size=1)), work)
op.output("out", op.key_on("one", lines, lambda _: "out"), FileSink(Path(os.environ["OUT_FILE"])))
"""


def test_crashed_flow_is_restarted_and_resumes_without_loss_or_duplicates(tmp_path):
    (tmp_path / "resume_flow.py").write_text(FLOW)
    (tmp_path / "in.txt").write_text("".join(f"{i}\n" for i in range(ROWS)))
    (tmp_path / "out.txt").touch()
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "IN_FILE": str(tmp_path / "in.txt"),
        "OUT_FILE": str(tmp_path / "out.txt"),
        "CRASH_MARK": str(tmp_path / "crashed"),
        "SEEN_LOG": str(tmp_path / "seen.log"),
        "CRASH_AT": str(CRASH_AT),
    }
    argv = [sys.executable, "-m", "bytewax.run", "resume_flow:flow", "-r", str(recovery), "-s", "0", "-b", "0"]
    sup = Supervisor(argv, RestartPolicy(3, 0.05, 2.0), cwd=tmp_path, env=env)
    sup.start()
    status = sup.wait(timeout_s=120)

    assert status.state == "exited" and status.restarts == 1 and status.last_exit_code == 0
    assert (tmp_path / "crashed").exists()
    assert (tmp_path / "out.txt").read_text().splitlines() == [str(i) for i in range(ROWS)]
    seen = [ln.split() for ln in (tmp_path / "seen.log").read_text().splitlines()]
    per_run = Counter(pid for pid, _ in seen)
    assert len(per_run) == 2
    first_pid = seen[0][0]
    second_run = [int(line) for pid, line in seen if pid != first_pid]
    # resumed from a snapshot, not from the start: the second run begins past row 0 and at or before the crash row
    assert 0 < second_run[0] <= CRASH_AT and second_run[-1] == ROWS - 1
