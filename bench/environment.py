"""What a result records about where it ran: versions, code commit, device."""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

import bench

PACKAGES = ("torch", "torchaudio", "numpy", "scipy", "soundfile", "espeakng-loader", "safetensors",
            "adversarial-robustness-toolbox", "pandas")
REPO = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The scrbench version and, in a git checkout, the commit, whether tracked files were modified, and if so
    the sha256 of their changes (``git diff HEAD``; 16 hex digits), which tells two modified trees apart."""
    info: dict[str, Any] = {"scrbench": bench.__version__, "commit": None, "dirty": None}
    if (REPO / ".git").exists():
        info["commit"] = _git("rev-parse", "HEAD")
        status = _git("status", "--porcelain", "--untracked-files=no")
        info["dirty"] = None if status is None else bool(status)
        if info["dirty"]:
            diff = _git("diff", "HEAD")
            info["changes_sha256"] = None if diff is None else hashlib.sha256(diff.encode()).hexdigest()[:16]
    return info


@lru_cache(maxsize=1)
def _packages() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment(device: torch.device) -> dict[str, Any]:
    return {
        "code": code_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _packages(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
    }


def resolve_device(name: str) -> torch.device:
    from bench.errors import BadParameter

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadParameter(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadParameter(f"--device {name}: CUDA is not available here; use --device cpu")
    return device
