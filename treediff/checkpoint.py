"""Checkpoints: safetensors weights + a JSON of constructor args, domain, grammar hash, version.

Loading never unpickles anything: weights come from safetensors, metadata from JSON, and
the optional training state through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from . import __version__
from .errors import TreediffError
from .model import ModelConfig, TreeDiffusionModel
from .utils import atomic_write_bytes, atomic_write_text


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, metadata) for a checkpoint given as either file or as the stem."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_suffix(".safetensors"), path.with_suffix(".json")


def save_checkpoint(path: str | Path, model: TreeDiffusionModel, *, domain: str, grammar_hash: str,
                    extra: dict | None = None) -> None:
    weights, meta = checkpoint_paths(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(weights, save(state))
    info = {"format": "treediff-tree-diffusion", "version": __version__, "domain": domain,
            "grammar_hash": grammar_hash, "model_args": model.config.to_dict(), **(extra or {})}
    # Metadata last: a checkpoint counts as present only once both files are complete.
    atomic_write_text(meta, json.dumps(info, indent=2))


def read_metadata(path: str | Path) -> dict:
    weights, meta = checkpoint_paths(path)
    if not meta.exists() or not weights.exists():
        raise TreediffError(f"checkpoint not found: expected {weights} and {meta}")
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError) as err:
        raise TreediffError(f"checkpoint metadata {meta} is unreadable or corrupt ({err})") from None
    if not isinstance(info, dict) or info.get("format") != "treediff-tree-diffusion" or "model_args" not in info:
        raise TreediffError(f"{meta} is not a treediff tree-diffusion checkpoint")
    return info


def load_checkpoint(path: str | Path, *, domain: str | None = None, grammar_hash: str | None = None,
                    device: str = "cpu") -> tuple[TreeDiffusionModel, dict]:
    """Rebuild the model from its JSON args and load the weights; check it fits the grammar."""
    weights, meta = checkpoint_paths(path)
    info = read_metadata(path)
    if domain is not None and info.get("domain") != domain:
        raise TreediffError(f"checkpoint {weights.name} was trained for domain '{info.get('domain')}', "
                            f"not '{domain}'")
    if grammar_hash is not None and info.get("grammar_hash") != grammar_hash:
        raise TreediffError(f"checkpoint {weights.name} was trained on a different grammar "
                            f"(hash {info.get('grammar_hash')}, this grammar is {grammar_hash}); retrain it")
    try:
        config = ModelConfig(**info["model_args"])
        model = TreeDiffusionModel(config)
        state = load_file(str(weights))
        model.load_state_dict(state)
    except (SafetensorError, OSError, RuntimeError, TypeError, ValueError) as err:
        raise TreediffError(f"checkpoint {weights} is corrupt or does not match its metadata "
                            f"({str(err).splitlines()[0][:200]})") from None
    model.to(device).eval()
    return model, info


def default_checkpoint(domain: str) -> Path:
    """The shipped model for a domain (inside the installed package)."""
    import importlib.resources

    return Path(str(importlib.resources.files("treediff") / "checkpoints" / f"{domain}.safetensors"))


def save_training_state(path: Path, state: dict) -> None:
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_training_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a half-written or foreign file: say so instead of a traceback
        raise TreediffError(f"training state {path} is unreadable ({type(err).__name__}); "
                            f"delete it to restart from the weights only") from None
