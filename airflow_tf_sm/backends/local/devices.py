"""The accelerators this machine really has, as a local training host sees them (``SM_NUM_GPUS``).

In a SageMaker container the toolkit counts the lines of ``nvidia-smi --list-gpus`` that start with
``GPU ``; locally the same count is narrowed by ``CUDA_VISIBLE_DEVICES`` when it is set, since that is what
the script's CUDA runtime will show it. Standard library only (the runner loads it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping

#: How long ``nvidia-smi -L`` may take before the machine counts as having no GPU.
NVIDIA_SMI_TIMEOUT = 20.0
_GPU_LINE = re.compile(r"^GPU (\d+):.*?(?:\(UUID: (\S+)\))?\s*$")


def listed_gpus(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Return ``(index, uuid)`` of every GPU ``nvidia-smi -L`` lists (empty without the command or on error)."""
    path = (environ if environ is not None else os.environ).get("PATH")
    command = shutil.which("nvidia-smi", path=path)
    if command is None:
        return []
    try:
        done = subprocess.run([command, "-L"], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    gpus = []
    for line in done.stdout.splitlines():
        match = _GPU_LINE.match(line.strip())
        if match:
            gpus.append((match.group(1), match.group(2) or ""))
    return gpus


def visible_gpu_count(gpus: list[tuple[str, str]], cuda_visible_devices: str | None) -> int:
    """Return how many of ``gpus`` a process sees under ``CUDA_VISIBLE_DEVICES``.

    Unset: all of them. Set: the listed indices or UUIDs (``GPU-...``, prefixes allowed) that exist, up
    to the first that does not -- CUDA ignores the rest of the list from there; empty or ``-1``: none.
    """
    if cuda_visible_devices is None:
        return len(gpus)
    seen: set[str] = set()
    for item in (part.strip() for part in cuda_visible_devices.split(",")):
        match = next((index for index, uuid in gpus if item == index or (uuid and uuid.startswith(item))), None)
        if not item or match is None or match in seen:
            break
        seen.add(match)
    return len(seen)


def gpu_count(environ: Mapping[str, str] | None = None) -> int:
    """Return the GPUs a script started with ``environ`` (default: this process's) can use."""
    env = environ if environ is not None else os.environ
    return visible_gpu_count(listed_gpus(env), env.get("CUDA_VISIBLE_DEVICES"))
