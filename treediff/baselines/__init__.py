"""Baselines to compare tree diffusion against: hill climbing, CSGNet, REPL Flow.

Every baseline searches under the same budget definition as tree diffusion (distinct
programs rendered and checked) and returns a `BaselineResult`. Its behaviour never depends
on the budget except for where it stops, so one run to the largest budget gives the solve
rate at every smaller budget: solved at budget b iff solved with ``nodes_expanded <= b``.
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import TreediffError


@dataclass
class BaselineResult:
    program: str  # best program found ("" if none was valid)
    solved: bool
    score: float  # the domain's goal score of the best program
    nodes_expanded: int
    seconds: float


# ------------------------------------------------------------------ checkpoints
BASELINE_FORMAT = "treediff-baseline"

#: How to train each network baseline's checkpoint, for the "missing checkpoint" message.
TRAIN_COMMANDS = {
    "csgnet": "python -m treediff.baselines.csgnet train --out {stem} --steps 20000",
    "repl": "python -m treediff.baselines.repl train --out {stem} --steps 20000",
}


def default_baseline_checkpoint(kind: str) -> Path:
    """The shipped checkpoint of a baseline (``treediff/checkpoints/baselines/<kind>.safetensors``)."""
    return Path(str(importlib.resources.files("treediff") / "checkpoints" / "baselines" / f"{kind}.safetensors"))


def save_baseline(path: str | Path, model, *, kind: str, domain: str, grammar_hash: str, extra: dict | None = None):
    """safetensors weights + JSON (constructor args, domain, grammar hash, version); metadata last."""
    from safetensors.torch import save

    from .. import __version__
    from ..checkpoint import checkpoint_paths
    from ..utils import atomic_write_bytes, atomic_write_text

    weights, meta = checkpoint_paths(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(weights, save(state))
    info = {"format": BASELINE_FORMAT, "kind": kind, "version": __version__, "domain": domain,
            "grammar_hash": grammar_hash, "model_args": asdict(model.config), **(extra or {})}
    atomic_write_text(meta, json.dumps(info, indent=2))


def load_baseline(path: str | Path | None, *, kind: str, model_cls, config_cls, domain: str, grammar_hash: str,
                  device: str = "cpu"):
    """Rebuild a baseline network from its JSON and safetensors (nothing is unpickled).

    A missing checkpoint names the file and the command that trains it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..checkpoint import checkpoint_paths

    weights, meta = checkpoint_paths(path or default_baseline_checkpoint(kind))
    if not weights.exists() or not meta.exists():
        missing = weights if not weights.exists() else meta
        raise TreediffError(f"{kind} checkpoint not found: {missing}; train it with: "
                            + TRAIN_COMMANDS[kind].format(stem=weights.with_suffix("")))
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError) as err:
        raise TreediffError(f"checkpoint metadata {meta} is unreadable or corrupt ({err})") from None
    if not isinstance(info, dict) or info.get("format") != BASELINE_FORMAT or info.get("kind") != kind:
        raise TreediffError(f"{meta} is not a treediff {kind} checkpoint")
    if info.get("domain") != domain:
        raise TreediffError(f"{kind} checkpoint {weights.name} was trained for domain '{info.get('domain')}', "
                            f"not '{domain}'")
    if info.get("grammar_hash") != grammar_hash:
        raise TreediffError(f"{kind} checkpoint {weights.name} was trained on a different grammar "
                            f"(hash {info.get('grammar_hash')}, this grammar is {grammar_hash}); retrain it")
    try:
        model = model_cls(config_cls(**info["model_args"]))
        model.load_state_dict(load_file(str(weights)))
    except (SafetensorError, OSError, RuntimeError, TypeError, ValueError) as err:
        raise TreediffError(f"checkpoint {weights} is corrupt or does not match its metadata "
                            f"({str(err).splitlines()[0][:200]})") from None
    return model.to(device).eval(), info
