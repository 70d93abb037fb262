# syntax=docker/dockerfile:1
# arbflow image: Python 3.12 slim, multi-stage, non-root. The install itself is docker/install.sh, the same script
# tests/ops/test_container.py runs in a fresh virtualenv. Build: docker build -t arbflow .
# Run:   docker run arbflow flow | api | scheduler | version | help      (see docker/entrypoint.sh, compose.yaml)
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY arbflow/ arbflow/
COPY connectors/ connectors/
COPY flows/ flows/
COPY quality/ quality/
COPY ops/ ops/
COPY config/ config/
COPY sql/ sql/
COPY samples/ samples/
COPY docker/ docker/
RUN PYTHON=python docker/install.sh /opt/venv /app

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 arbflow \
    && useradd --system --uid 10001 --gid arbflow --home-dir /app --shell /usr/sbin/nologin arbflow \
    && mkdir -p /data \
    && chown arbflow:arbflow /data
# Same paths as in the build stage: the editable install points at /app.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ARBFLOW_APP_DIR=/app \
    ARBFLOW_VENV=/opt/venv \
    ARBFLOW__SINKS__DATA_DIR=/data \
    ARBFLOW__API__HOST='"0.0.0.0"' \
    BYTEWAX_RECOVERY_DIRECTORY=/data/recovery
USER arbflow
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4).status != 200)"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["api"]
