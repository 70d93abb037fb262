#!/usr/bin/env bash
# Container entrypoint: the first argument picks what runs; the rest is passed on.
#   flow       the dataflow, under the supervisor (restart with backoff, alert when retries run out). Set
#              BYTEWAX_RECOVERY_DIRECTORY to resume after a crash (initialized here on first use).
#   api        `arbflow serve`: the HTTP API on 0.0.0.0:8080 (ARBFLOW__API__HOST, --host/--port override it)
#   scheduler  `arbflow schedule`: scheduled batch replays in the foreground
#   version    print the installed version
#   help       this text
#   anything else is executed as a command (e.g. `arbflow query ...`, `bash`)
set -euo pipefail

app_dir=${ARBFLOW_APP_DIR:-/app}
venv=${ARBFLOW_VENV:-/opt/venv}
export PATH="$venv/bin:$PATH"
cd "$app_dir"

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-help}
[ "$#" -gt 0 ] && shift

case "$cmd" in
    flow)
        if [ -n "${BYTEWAX_RECOVERY_DIRECTORY:-}" ]; then
            # bytewax refuses recovery without both intervals (defaults: a snapshot every 10 s, backup interval 0)
            export BYTEWAX_SNAPSHOT_INTERVAL=${BYTEWAX_SNAPSHOT_INTERVAL:-10}
            export BYTEWAX_RECOVERY_BACKUP_INTERVAL=${BYTEWAX_RECOVERY_BACKUP_INTERVAL:-0}
            if [ -z "$(ls -A "$BYTEWAX_RECOVERY_DIRECTORY" 2>/dev/null)" ]; then
                mkdir -p "$BYTEWAX_RECOVERY_DIRECTORY"
                python -m bytewax.recovery "$BYTEWAX_RECOVERY_DIRECTORY" "${ARBFLOW_RECOVERY_PARTS:-1}"
            fi
        fi
        exec python -m ops.supervisor --name dataflow -- python -m bytewax.run "${ARBFLOW_FLOW:-flows.arbitrage:flow}" "$@"
        ;;
    api)
        # a container serves every interface; [api] host (127.0.0.1) is for a developer's machine
        export ARBFLOW__API__HOST=${ARBFLOW__API__HOST:-'"0.0.0.0"'}
        exec arbflow serve "$@"
        ;;
    scheduler)
        exec arbflow schedule "$@"
        ;;
    version | --version)
        exec python -c "import importlib.metadata as m; print('arbflow', m.version('arbflow'))"
        ;;
    help | --help | -h)
        usage
        ;;
    *)
        exec "$cmd" "$@"
        ;;
esac
