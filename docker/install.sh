#!/usr/bin/env bash
# Install arbflow into a virtualenv. The ONE install path: the Dockerfile runs it, and so does tests/ops/test_container.py
# (in a fresh virtualenv), so what the image gets is what the test checked.
#
# Usage: docker/install.sh PREFIX [APP_DIR]
#   PREFIX   the virtualenv to create (or reuse), e.g. /opt/venv
#   APP_DIR  the source tree (default: this script's repo). Installed editable on purpose: config/, sql/ and samples/
#            are read from the app directory next to the packages, so the app must stay where it was installed.
# Environment: PYTHON (interpreter for the venv, default python3); UV_* (uv's own settings, e.g. UV_NO_CACHE=1).
#
# The installer is uv (from PyPI): on a 2-core machine it installs the ~150 dependencies in ~15 s where pip takes
# minutes. It is used from PATH when present, else bootstrapped into a throw-away virtualenv with pip.
set -euo pipefail

prefix=${1:?usage: docker/install.sh PREFIX [APP_DIR]}
app_dir=$(cd "${2:-$(dirname "$0")/..}" && pwd)
python=${PYTHON:-python3}

if command -v uv >/dev/null 2>&1; then
    uv=uv
else
    tool_dir=$(mktemp -d)
    trap 'rm -rf "$tool_dir"' EXIT
    "$python" -m venv "$tool_dir"
    "$tool_dir/bin/python" -m pip install --quiet --disable-pip-version-check uv
    uv="$tool_dir/bin/uv"
fi

if [ ! -x "$prefix/bin/python" ]; then
    "$python" -m venv "$prefix"
fi
"$uv" pip install --quiet --python "$prefix/bin/python" -e "$app_dir"

# Smoke check: every package imports and the console script exists.
"$prefix/bin/python" -c "import bytewax, connectors, flows, ops, quality; print('arbflow installed in', '$prefix')"
test -x "$prefix/bin/arbflow"
