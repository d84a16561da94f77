"""The pretraining artifact store: weight files with manifests, keyed by their config.

Layout: ``<root>/<key>/weights.pt`` (see `shield.weights`), ``manifest.json`` and, for
encoders, ``latent.png``. The key is derived from the artifact's config, so the same
config always maps to the same folder, on a laptop or on a shared cluster volume.

The manifest holds the full config, package versions, training budget, the time it took,
the quality figures and the weight file's SHA-256. `ArtifactStore.check` refuses a
missing, corrupt or mismatched artifact with `ArtifactError`; it never returns one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "artifacts"
ROOT_ENV_VAR = "SHIELDSWEEP_ARTIFACTS"
KINDS = ("source_q", "prior_q", "encoder")


class ArtifactError(RuntimeError):
    """An artifact is missing, corrupt or built for another config."""


@dataclass(frozen=True)
class ArtifactSpec:
    """What an artifact is: its kind, observation kind, budget and kind-specific params."""

    kind: str
    obs: str
    budget: str
    params: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    @classmethod
    def make(cls, kind: str, obs: str, budget: str, **params: Any) -> ArtifactSpec:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
        return cls(kind, obs, budget, tuple(sorted(params.items())))

    @property
    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "obs": self.obs, "budget": self.budget, **dict(self.params)}

    @property
    def key(self) -> str:
        digest = hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()[:10]
        named = {"margin": "margin", "env_id": "", "variant": ""}  # parts of the name: {param: its prefix}
        readable = "-".join(f"{named[k]}{v}" for k, v in self.params if k in named and v)
        readable = readable.replace("MiniGrid-", "").replace("-v0", "")
        return "-".join(p for p in (self.kind, self.obs, self.budget, readable, digest) if p)


ARTIFACT_PACKAGES = ("shieldsweep", "torch", "ray", "gymnasium", "minigrid", "numpy")


def versions(packages: tuple[str, ...]) -> dict[str, str]:
    """{package: installed version, or "not installed"}."""
    out = {}
    for package in packages:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ArtifactStore:
    """Artifacts under `root` (default: $SHIELDSWEEP_ARTIFACTS, else the repo's artifacts/)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or os.environ.get(ROOT_ENV_VAR) or DEFAULT_ROOT).resolve()

    def folder(self, spec: ArtifactSpec) -> Path:
        return self.root / spec.key

    def weights(self, spec: ArtifactSpec) -> Path:
        return self.folder(spec) / "weights.pt"

    def manifest(self, spec: ArtifactSpec) -> dict[str, Any]:
        return json.loads((self.folder(spec) / "manifest.json").read_text())

    def check(self, spec: ArtifactSpec) -> Path:
        """The weight file of a complete, intact artifact for `spec`.

        Raises:
            ArtifactError: the artifact is missing, its manifest is unreadable or for
                another config, or the weight file does not match the manifest's hash.
        """
        folder, weights = self.folder(spec), self.weights(spec)
        if not (folder / "manifest.json").is_file() or not weights.is_file():
            raise ArtifactError(f"artifact {spec.key} is missing under {self.root}")
        try:
            manifest = self.manifest(spec)
        except (OSError, json.JSONDecodeError) as err:
            raise ArtifactError(f"artifact {spec.key}: unreadable manifest.json ({err})") from err
        if manifest.get("config") != spec.config:
            raise ArtifactError(f"artifact {spec.key}: manifest config {manifest.get('config')} != {spec.config}")
        if manifest.get("sha256") != sha256(weights):
            raise ArtifactError(f"artifact {spec.key}: weights.pt does not match the manifest's SHA-256 (corrupt)")
        return weights

    def is_ready(self, spec: ArtifactSpec) -> bool:
        try:
            self.check(spec)
        except ArtifactError:
            return False
        return True

    def commit(self, spec: ArtifactSpec, staging: Path, record: dict[str, Any]) -> Path:
        """Finish an artifact built in `staging` (holding weights.pt): write its manifest
        and move it into place in one rename, so readers never see half an artifact."""
        manifest = {
            "key": spec.key,
            "config": spec.config,
            "versions": {"python": platform.python_version(), **versions(ARTIFACT_PACKAGES)},
            "sha256": sha256(staging / "weights.pt"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **record,
        }
        text = json.dumps(_finite(manifest), indent=2, sort_keys=True, allow_nan=False)
        (staging / "manifest.json").write_text(text + "\n")
        target = self.folder(spec)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
        return target / "weights.pt"

    def amend(self, spec: ArtifactSpec, record: dict[str, Any]) -> None:
        """Merge `record` into the manifest of an intact artifact (recomputed figures);
        the weights, and so the config and hash the manifest vouches for, stay as they are."""
        self.check(spec)
        manifest = self.manifest(spec) | record
        text = json.dumps(_finite(manifest), indent=2, sort_keys=True, allow_nan=False)
        staging = self.folder(spec) / f".manifest-{os.getpid()}.json"
        staging.write_text(text + "\n")
        staging.replace(self.folder(spec) / "manifest.json")

    def staging(self, spec: ArtifactSpec) -> Path:
        """A fresh, private folder next to the artifact's final place."""
        path = self.root / f".staging-{spec.key}-{os.getpid()}-{os.urandom(4).hex()}"
        path.mkdir(parents=True)
        return path
