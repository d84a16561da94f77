# shieldsweep on Ray: one image for the head and the workers (see docker-compose.yml).
#
# With Docker Hub and PyPI, `docker compose build` needs no arguments. Without a registry,
# build on a local Debian base that has python3 and python3-venv, from a build context
# holding the project and a wheelhouse/ folder with every dependency's wheel
# (tests/cluster/test_compose.py builds it so):
#   docker build --build-arg BASE=shieldsweep-base:bookworm --build-arg APT_PACKAGES= \
#       --build-arg "PIP_OPTIONS=--no-index --find-links /tmp/wheelhouse" -t shieldsweep:latest <context>
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG APT_PACKAGES="rsync git"
RUN if [ -n "$APT_PACKAGES" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends $APT_PACKAGES \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# A virtual environment: Debian's own python3 refuses installs into the system (PEP 668).
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /opt/shieldsweep
COPY pyproject.toml README.md ./
COPY shield ./shield
COPY rllib_algos ./rllib_algos
COPY sweeps ./sweeps
COPY artifacts ./artifacts
# `wheelhouse*` matches nothing in a plain checkout; pyproject.toml keeps the COPY valid then.
COPY pyproject.toml wheelhouse* /tmp/wheelhouse/
# PyTorch's CPU index: PyPI's Linux torch is the multi-GB CUDA build.
ARG PIP_OPTIONS="--extra-index-url https://download.pytorch.org/whl/cpu"
RUN pip install --no-cache-dir $PIP_OPTIONS -e . && rm -rf /tmp/wheelhouse

# Everything that must be shared by every node lives under /shared (a compose volume).
ENV SHIELDSWEEP_ARTIFACTS=/shared/artifacts \
    RAY_AUTH_MODE=token
