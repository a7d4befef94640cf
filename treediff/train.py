"""Training the policy and value networks on edits generated on the fly.

The same function is the single-process case of DDP: under ``torchrun`` every rank gets
its own data seed, gradients are averaged (gloo on CPU, nccl on GPU), and rank 0 logs,
evaluates and writes checkpoints. Checkpoints are written atomically every
``save_every`` steps; ``resume=True`` continues from the last one, so a killed run loses
at most the steps since then.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from . import __version__
from .checkpoint import checkpoint_paths, load_checkpoint, load_training_state, save_checkpoint, save_training_state
from .data import EditStream, ExampleGenerator, collate, n_site_kinds
from .domains import get_domain
from .errors import TreediffError
from .model import ModelConfig, TreeDiffusionModel
from .noise import NoiseConfig
from .utils import finish_distributed, init_distributed, seed_everything


@dataclass
class TrainConfig:
    domain: str = "csg2d"
    out: str = "runs/csg2d"
    steps: int = 20000
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 500
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    workers: int = 1
    threads: int = 1
    save_every: int = 500
    eval_every: int = 1000
    eval_examples: int = 256
    device: str = "auto"
    resume: bool = False
    sigma: int = 2
    max_noise_steps: int = 5
    random_mix: float = 0.2
    curriculum: float = 0.4  # fraction of steps over which the largest target grows to the domain's maximum
    curriculum_start: int = 1  # largest target (primitives) at step 0: one shape at a time first
    init_from: str | None = None  # start from these weights (same grammar), e.g. to fine-tune for sketches
    targets: str = "reverse"  # "reverse" path edits, or "undo" the last mutation (ablation)
    ordinal_smoothing: float = 0.0  # weight of the Gaussian over neighbouring values in number targets
    model: dict = field(default_factory=dict)  # ModelConfig overrides (d_model, enc_layers, ...)


def _lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _curriculum_max(step: int, cfg: TrainConfig, domain_max: int) -> int:
    """Largest target program at `step`: grows linearly, small programs first (short, cheap, easy)."""
    if cfg.curriculum <= 0:
        return domain_max
    frac = min(1.0, step / (cfg.curriculum * cfg.steps))
    return min(domain_max, round(cfg.curriculum_start + frac * (domain_max - cfg.curriculum_start)))


def _move(batch: dict, device: str) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def evaluation_batches(domain_name: str, noise: NoiseConfig, n: int, seed: int = 12345, batch_size: int = 64,
                       targets: str = "reverse"):
    """A fixed, seeded set of held-out examples (fresh programs and mutations)."""
    gen = ExampleGenerator(get_domain(domain_name), noise, targets=targets)
    rng = random.Random(seed)
    examples = [gen.example(rng) for _ in range(n)]
    return [collate(examples[i:i + batch_size], gen.grammar) for i in range(0, n, batch_size)]


@torch.no_grad()
def evaluate(model: TreeDiffusionModel, batches: list[dict], device: str) -> dict:
    """One-step denoising accuracy: the greedy edit equals the reverse-path edit exactly.

    Teacher-forced argmax over grammar-masked logits equals greedy constrained decoding
    (each greedy step sees the gold prefix exactly when all earlier argmaxes were right).
    """
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    for batch in batches:
        out = model(_move(batch, device))
        n = batch["tokens"].shape[0]
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + float(v) * n
        count += n
    model.train(was_training)
    return {k: v / count for k, v in totals.items()}


@torch.no_grad()
def token_loss_by_terminal(model: TreeDiffusionModel, batches: list[dict], grammar, device: str = "cpu") -> dict:
    """Mean teacher-forced cross-entropy of replacement tokens, per terminal (e.g. NUM), in nats.

    The overall token loss hides which part of an edit is not learned: structure tokens are
    easy, numbers read off the image are not; chance for a terminal with n values is ln n.
    """
    from .model import NEG_INF

    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    names = [grammar.terminals[t].name if t >= 0 else grammar.vocab[i][1] for i, t in enumerate(grammar.token_terminal)]
    for batch in batches:
        b = _move(batch, device)
        out = model.heads(b["target"], b["current"], b["tokens"], b["site_start"], b["site_end"], b["site_kind"],
                          b["site_valid"])
        chosen = out["sites"][torch.arange(b["tokens"].shape[0], device=device), b["edit_site"]]
        logits = model.decode(out["memory"], out["memory_pad"], chosen, b["replacement_in"])
        logits = logits.masked_fill(~b["replacement_allowed"], NEG_INF)
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), b["replacement_out"], reduction="none")
        for token, loss, ok in zip(b["replacement_out"].flatten().tolist(), ce.flatten().tolist(),
                                   b["replacement_valid"].flatten().tolist()):
            if ok:
                name = names[token]
                sums[name] = sums.get(name, 0.0) + loss
                counts[name] = counts.get(name, 0) + 1
    model.train(was_training)
    return {name: round(sums[name] / counts[name], 4) for name in sorted(sums)}


def train(cfg: TrainConfig) -> dict:
    world, rank, local_rank, device = init_distributed(cfg.device)
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed + rank)
    domain = get_domain(cfg.domain)
    grammar = domain.grammar
    noise = NoiseConfig(sigma=cfg.sigma, max_steps=cfg.max_noise_steps, random_mix=cfg.random_mix,
                        min_primitives=domain.min_primitives, max_primitives=domain.max_primitives)
    out = Path(cfg.out)
    ckpt = out / "model"
    state_path = out / "train_state.pt"
    weights, meta = checkpoint_paths(ckpt)
    step = 0
    train_state = None
    if meta.exists() and weights.exists():
        if not cfg.resume:
            raise TreediffError(f"{out} already holds a checkpoint; pass --resume to continue it "
                                f"or choose another --out")
        model, info = load_checkpoint(ckpt, domain=cfg.domain, grammar_hash=grammar.hash, device=device)
        step = int(info.get("step", 0))
        if state_path.exists():
            train_state = load_training_state(state_path)
            if int(train_state.get("step", -1)) != step:
                print(f"treediff: training state is from step {train_state.get('step')}, weights from step "
                      f"{step}; restarting the optimizer moments", file=sys.stderr)
                train_state = None
        if rank == 0:
            print(f"resuming {out} from step {step}", file=sys.stderr)
    elif cfg.init_from:
        model, _ = load_checkpoint(cfg.init_from, grammar_hash=grammar.hash, device=device)
        if model.config.channels != domain.channels or model.config.image_size != domain.model_size:
            raise TreediffError(f"--init-from {cfg.init_from}: its model reads {model.config.channels}-channel "
                                f"{model.config.image_size}px images, {cfg.domain} needs {domain.channels}-channel "
                                f"{domain.model_size}px")
        if rank == 0:
            print(f"starting from the weights of {cfg.init_from}", file=sys.stderr)
    else:
        # A fine image map for the replacement decoder (a quarter of the input size): where
        # target and current differ is where the new shape's numbers are read from.
        model_args = dict(vocab_size=len(grammar.vocab), n_site_kinds=n_site_kinds(grammar),
                          channels=domain.channels, image_size=domain.model_size)
        model_args.update(cfg.model)
        if "memory_grid" not in cfg.model:
            fine = model_args["image_size"] // 4
            model_args["memory_grid"] = fine if fine > model_args.get("grid", ModelConfig.grid) else 0
        model = TreeDiffusionModel(ModelConfig(**model_args)).to(device)
    model.train()
    raw_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[local_rank] if device.startswith("cuda") else None)
    decay = [p for n, p in raw_model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in raw_model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    if train_state is not None:
        optimizer.load_state_dict(train_state["optimizer"])
    # Data seeds move with the step so a resumed run does not replay the batches it saw.
    stream = EditStream(cfg.domain, cfg.batch_size, seed=cfg.seed * 1_000_003 + step, rank=rank, noise=noise,
                        image_size=domain.model_size,
                        max_primitives=_curriculum_max(step, cfg, domain.max_primitives), targets=cfg.targets,
                        ordinal_smoothing=cfg.ordinal_smoothing)
    loader = DataLoader(stream, batch_size=None, num_workers=cfg.workers,
                        persistent_workers=cfg.workers > 0, prefetch_factor=4 if cfg.workers > 0 else None)
    eval_batches = evaluation_batches(cfg.domain, noise, cfg.eval_examples, targets=cfg.targets) if rank == 0 else []
    log_path = out / "log.jsonl"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))

    def checkpoint(metrics: dict | None = None) -> None:
        if rank != 0:
            return
        save_training_state(state_path, {"step": step, "optimizer": optimizer.state_dict()})
        save_checkpoint(ckpt, raw_model, domain=cfg.domain, grammar_hash=grammar.hash,
                        extra={"step": step, "noise": asdict(noise), "train_config": asdict(cfg),
                               "metrics": metrics or {}, "treediff_version": __version__})

    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.domain}", disable=rank != 0, file=sys.stderr,
               dynamic_ncols=True)
    metrics: dict = {}
    started = time.time()
    running: dict[str, float] = {}
    for batch in loader:
        if step >= cfg.steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, cfg)
        stream.curriculum.value = _curriculum_max(step, cfg, domain.max_primitives)
        losses = model(_move(batch, device))
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        for k in ("loss", "pointer_acc", "edit_acc"):
            value = float(losses[k].detach())
            running[k] = 0.98 * running.get(k, value) + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{running['loss']:.3f}", edit_acc=f"{running['edit_acc']:.2f}")
        if rank == 0 and (step % cfg.eval_every == 0 or step == cfg.steps):
            metrics = evaluate(raw_model, eval_batches, device)
            # Per terminal: structure tokens are learned long before numbers, and the total hides that.
            by_terminal = token_loss_by_terminal(raw_model, eval_batches, grammar, device)
            record = {"step": step, "seconds": round(time.time() - started, 1), "lr": _lr_at(step, cfg),
                      **{f"train_{k}": round(v, 4) for k, v in running.items()},
                      **{f"eval_{k}": round(v, 4) for k, v in metrics.items()},
                      "eval_token_loss_by_terminal": by_terminal}
            with open(log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
            tqdm.write(f"step {step}: eval edit_acc {metrics['edit_acc']:.3f} pointer_acc "
                       f"{metrics['pointer_acc']:.3f} value_loss {metrics['value_loss']:.3f}", file=sys.stderr)
        if step % cfg.save_every == 0 or step == cfg.steps:
            checkpoint(metrics)
    bar.close()
    finish_distributed(world)
    return {"step": step, "out": str(out), **{f"eval_{k}": v for k, v in metrics.items()}}

