# syntax=docker/dockerfile:1
# One image for every process of the product; the command picks the role:
#   runai-failure-exporter              the monitoring sidecar (metrics and health on :10108)
#   runai-failure-agent serve           the agent (HTTP API :8000, web chat UI :3000)
#   runai-simulator --scenario demo     the Run:ai API simulator (:8090), for demos and tests
# Build:  make image   (docker build --build-arg VERSION=<version> -t runai-failure-analysis:<version>,
#                       the version read from pyproject.toml, its one source)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The default equals pyproject.toml's version (a test checks it); `make image` passes it anyway.
ARG VERSION=0.1.0

# ---- build: install the package and its dependencies into a self-contained virtualenv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, from the metadata alone, so code edits do not re-download them.
COPY pyproject.toml README.md ./
RUN mkdir common history exporter agent simulator \
    && touch common/__init__.py history/__init__.py exporter/__init__.py agent/__init__.py simulator/__init__.py \
    && /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/pip uninstall --yes runai-failure-analysis \
    && rm -rf build ./*.egg-info common history exporter agent simulator
COPY common ./common
COPY history ./history
COPY exporter ./exporter
COPY agent ./agent
COPY simulator ./simulator
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/pip uninstall --yes pip setuptools wheel \
    && find /opt/venv -name '__pycache__' -type d -prune -exec rm -rf {} + \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---- runtime: the virtualenv on a clean slim base, no compilers, no pip, no caches ----
FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
ARG VERSION
LABEL org.opencontainers.image.title="runai-failure-analysis" \
      org.opencontainers.image.description="Why NVIDIA Run:ai workloads fail: monitoring sidecar, agent and API simulator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid ${APP_UID} app \
    && useradd --system --uid ${APP_UID} --gid ${APP_UID} --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown ${APP_UID}:${APP_UID} /data \
    && rm -rf /root/.cache /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    RUNAI_FAILURE_DB_PATH=/data/runai_failure_history.db \
    HEALTHCHECK_URL=http://127.0.0.1:10108/healthz
# glibc gives threads allocation arenas of their own, up to 8 a core: the sidecar's evidence
# threads kept ~20 MiB more of them at a 50,000-workload first start (docs/sizing.md).
ENV MALLOC_ARENA_MAX=2
WORKDIR /data
VOLUME ["/data"]
# 10108 exporter metrics and health, 8000 agent API, 3000 chat UI, 8090 simulator
EXPOSE 10108 8000 3000 8090
USER 10001:10001
# The image has no curl: the health check is a one-line Python GET of HEALTHCHECK_URL, which
# each role sets to its own health endpoint (the default is the sidecar's).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]
CMD ["runai-failure-exporter"]
