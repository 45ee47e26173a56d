# syntax=docker/dockerfile:1
# The builder image: `attentive build` (train + export the zoo into ATTENTIVE_REPOSITORY), the
# step `make run` runs before serving. Installs the project as `make run` does (pip, from
# pyproject.toml) with the train extra: torch (CPU wheel), onnx, onnxscript, ... Datasets are
# fetched into ATTENTIVE_DATA on first use (a volume, so once).
ARG BASE=python:3.11-slim
FROM ${BASE}

# torch is pinned in pyproject.toml; this index serves its CPU-only wheel (no CUDA libraries).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    ATTENTIVE_REPOSITORY=/models ATTENTIVE_DATA=/data ATTENTIVE_RUNS=/runs

RUN python3 -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml ./
COPY attentive attentive
COPY taxonomy taxonomy
COPY training training
COPY export export
COPY server server
COPY protos protos
COPY benchmarks benchmarks
RUN python -m pip install -q --upgrade pip && \
    python -m pip install -q --extra-index-url "${TORCH_INDEX}" '.[train]'

ENTRYPOINT ["attentive"]
CMD ["build", "--preset", "quick"]
