# syntax=docker/dockerfile:1
# The serving image: `attentive serve`, `attentive batch`, `attentive health`, `attentive infer`,
# `attentive taxonomy`. Installs the project as `make run` does (pip, from pyproject.toml), with
# the serve extra only: onnxruntime-gpu, grpc, tokenizers, pyarrow; never torch.
#
# BASE: a slim CPython by default (onnxruntime-gpu runs on CPU when no GPU is there). For CUDA,
# a CUDA runtime image with cuDNN (docker-compose.gpu.yml passes one); such images have no
# Python, so the distribution's python3 (3.11 or newer) is installed first.
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    ATTENTIVE_REPOSITORY=/models ATTENTIVE_HOST=0.0.0.0 \
    ATTENTIVE_GRPC_PORT=8001 ATTENTIVE_METRICS_PORT=8002

RUN if ! command -v python3 >/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && \
        rm -rf /var/lib/apt/lists/*; \
    fi && python3 -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml ./
COPY attentive attentive
COPY taxonomy taxonomy
COPY server server
COPY protos protos
RUN python -m pip install -q --upgrade pip && python -m pip install -q '.[serve]'

EXPOSE 8001 8002
ENTRYPOINT ["attentive"]
CMD ["serve"]
