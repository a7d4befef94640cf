"""Checkpoints: safetensors weights + a JSON of constructor args, tokenizer, language, version.

Writes are atomic (temporary file, then ``os.replace``). Loading never unpickles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from ..errors import TreediffError
from .model import CodeFusion, CodeFusionConfig
from .tokenizer import CodeTokenizer

KINDS = ("diffusion", "ar")
SHIPPED = Path(__file__).resolve().parent / "checkpoints"


def stem(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p


def _atomic_write_bytes(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def build_model(kind: str, cfg: CodeFusionConfig):
    if kind == "diffusion":
        return CodeFusion(cfg)
    if kind == "ar":
        from .ar_model import ARBaseline

        return ARBaseline(cfg)
    raise TreediffError(f"could not resolve model kind {kind!r} among choices {list(KINDS)}")


TRAINING_WEIGHTS = "weights."  # prefix, in the resume file, of the live weights behind an EMA


def save_checkpoint(path, model, kind: str, tok: CodeTokenizer, lang: str, meta: dict | None = None,
                    optimizer: torch.optim.Optimizer | None = None, training_model=None) -> Path:
    """Save ``<stem>.safetensors`` + ``<stem>.json`` (+ ``<stem>.optim.safetensors`` for --resume).

    With an exponential moving average of the weights, `model` is the average (what is
    used) and `training_model` the weights being trained, kept in the resume file."""
    s = stem(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    info = {
        "format": "treediff-codefusion",
        "version": __version__,
        "kind": kind,
        "language": lang,
        "config": model.cfg.to_dict(),
        "meta": meta or {},
        "tokenizer": tok.to_json(),
    }
    if optimizer is not None:
        sd = optimizer.state_dict()
        opt = {f"{i}.{k}": v.detach().cpu().contiguous() for i, st in sd["state"].items()
               for k, v in st.items() if torch.is_tensor(v)}
        if training_model is not None:
            opt.update({TRAINING_WEIGHTS + k: v.detach().cpu().contiguous()
                        for k, v in training_model.state_dict().items()})
        info["optimizer_groups"] = sd["param_groups"]
        _atomic_write_bytes(s.with_suffix(".optim.safetensors"), lambda p: save_file(opt, str(p)))
    _atomic_write_bytes(s.with_suffix(".safetensors"), lambda p: save_file(tensors, str(p)))
    _atomic_write_bytes(s.with_suffix(".json"), lambda p: p.write_text(json.dumps(info, indent=1)))
    return s


def read_info(path) -> dict:
    s = stem(path)
    js = s.with_suffix(".json")
    if not js.is_file() or not s.with_suffix(".safetensors").is_file():
        raise TreediffError(f"no CodeFusion checkpoint at {s} (expected {js.name} and {s.name}.safetensors)")
    try:
        info = json.loads(js.read_text())
    except ValueError as err:
        raise TreediffError(f"{js} is not valid JSON: {err}") from None
    if info.get("format") != "treediff-codefusion":
        raise TreediffError(f"{js} is not a treediff CodeFusion checkpoint")
    return info


def load_checkpoint(path, lang: str | None = None, kind: str | None = None, device: str = "cpu"):
    """Return (model in eval mode, tokenizer, info); checks language and kind."""
    info = read_info(path)
    if lang is not None and info["language"] != lang:
        raise TreediffError(
            f"checkpoint {stem(path)} is for language {info['language']!r}, not {lang!r}"
        )
    if kind is not None and info["kind"] != kind:
        raise TreediffError(f"checkpoint {stem(path)} is a {info['kind']!r} model, expected {kind!r}")
    cfg = CodeFusionConfig(**info["config"])
    model = build_model(info["kind"], cfg)
    try:
        state = load_file(str(stem(path).with_suffix(".safetensors")))
        model.load_state_dict(state)
    except Exception as err:  # safetensors raises several types for corrupt files
        raise TreediffError(f"could not load weights of {stem(path)}: {err}".splitlines()[0]) from None
    model.to(device).eval()
    return model, CodeTokenizer.from_json(info["tokenizer"]), info


def load_optimizer_state(path, optimizer: torch.optim.Optimizer, info: dict) -> None:
    f = stem(path).with_suffix(".optim.safetensors")
    if not f.is_file() or "optimizer_groups" not in info:
        raise TreediffError(f"cannot resume: {f} is missing")
    flat = load_file(str(f))
    state: dict = {}
    for key, v in flat.items():
        if key.startswith(TRAINING_WEIGHTS):
            continue
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": info["optimizer_groups"]})


def load_training_weights(path) -> dict | None:
    """The live weights saved next to an EMA checkpoint for --resume, or None."""
    f = stem(path).with_suffix(".optim.safetensors")
    if not f.is_file():
        return None
    flat = load_file(str(f))
    weights = {k[len(TRAINING_WEIGHTS):]: v for k, v in flat.items() if k.startswith(TRAINING_WEIGHTS)}
    return weights or None


def shipped_checkpoint(lang: str, kind: str = "diffusion") -> Path:
    s = SHIPPED / lang / kind
    if not s.with_suffix(".json").is_file():
        raise TreediffError(
            f"no shipped {kind} checkpoint for language {lang!r}; train one with "
            f"'treediff codefusion pretrain/train --lang {lang}' and pass --checkpoint"
        )
    return s
