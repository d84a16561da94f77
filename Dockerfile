# shieldsweep on Ray: one image for the head and the workers (see docker-compose.yml).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends rsync git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/shieldsweep
COPY pyproject.toml README.md ./
COPY shield ./shield
COPY rllib_algos ./rllib_algos
COPY sweeps ./sweeps
COPY artifacts ./artifacts
RUN pip install --no-cache-dir -e .

# Everything that must be shared by every node lives under /shared (a compose volume).
ENV SHIELDSWEEP_ARTIFACTS=/shared/artifacts \
    RAY_AUTH_MODE=token
