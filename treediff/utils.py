"""Small shared helpers: seeding, devices, atomic writes, JSON output."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

from .errors import TreediffError


def seed_everything(seed: int) -> random.Random:
    """Seed Python, numpy and (if imported) torch; return a Random for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
    return random.Random(seed)


def resolve_device(name: str = "auto") -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TreediffError("--device cuda was asked for but no CUDA device is available")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise TreediffError(f"unknown device '{name}'; choices: auto, cpu, cuda")
    return name


def init_distributed(device_name: str = "auto") -> tuple[int, int, int, str]:
    """(world size, rank, local rank, device) for this process. Under ``torchrun``
    (WORLD_SIZE > 1) also joins the process group, each rank on its own GPU when on CUDA."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name)
    if world > 1:
        import torch
        import torch.distributed as dist

        if device.startswith("cuda"):
            device = f"cuda:{local_rank}"
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return world, rank, local_rank, device


def finish_distributed(world: int) -> None:
    """Wait for every rank, then leave the process group (nothing to do in one process)."""
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a killed process never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def print_json(obj) -> None:
    print(json.dumps(obj, indent=None, sort_keys=False))


def print_summary(summary: dict, as_json: bool) -> None:
    """A benchmark's figures: one JSON line, or one aligned `key value` line each."""
    if as_json:
        print_json(summary)
        return
    width = max(map(len, summary), default=0) + 2
    for key, value in summary.items():
        print(f"{key:{width}s} {value}")


def run_script(main) -> None:
    """Exit with `main()`'s code; a TreediffError is one line on stderr and its exit code, not a traceback."""
    try:
        sys.exit(main())
    except TreediffError as err:
        print(f"treediff: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
