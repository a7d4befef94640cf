"""Train the sketch verifier (`verifier.SketchVerifier`) on simulated drawings.

    treediff train-verifier --out runs/verifier --sketches 12000 --steps 4000

Examples (`verifier_data.make_examples`) are made in chunks of CHUNK drawings and kept in
`out/data/`, so a killed run neither loses them nor makes them again; the weights and
optimizer state are saved every `save_every` steps and `--resume` continues from them.
The last EVAL_DRAWINGS drawings are held out: at each save the log reports how often the
verifier's choice among their candidates reaches IoU >= 0.9, against the choice of the
registered outline distance alone (what search returned before).

With ``--mined N`` it also runs the sketch search on N more drawings and keeps the
programs each shortlists (`verifier_data.mine_examples`, in chunks of MINED_CHUNK under
`out/data/`): each step then takes `mined_share` of its drawings from those, and the log
also reports the choice on the last fifth of them (at most EVAL_MINED), the choice the
verifier makes in use. ``--init`` starts from another verifier's weights (fine-tuning)
instead of at random.
Under ``torchrun`` each rank makes its share of the chunks and trains on its own batches
(DistributedDataParallel); rank 0 writes the checkpoint.
"""

from __future__ import annotations

import io
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import load_training_state, save_training_state
from .errors import TreediffError
from .sketch import BENCHMARK_PROGRAM_SEEDS, drawable_programs, outline_of, register_sketch_domain
from .utils import atomic_write_bytes, finish_distributed, init_distributed, seed_everything
from .verifier import SketchVerifier, VerifierConfig, augment, load_verifier, save_verifier, verifier_loss

CHUNK = 500
EVAL_DRAWINGS = 300
MINED_CHUNK = 25  # searches are slow: a killed run loses at most this many
EVAL_MINED = 100
WARMUP = 100


@dataclass
class VerifierTrainConfig:
    out: str
    sketches: int = 12_000
    steps: int = 4_000
    batch_size: int = 16  # drawings per step, each with all its candidates
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"
    threads: int = 2
    workers: int = 2  # processes making the examples
    save_every: int = 500
    resume: bool = False
    mined: int = 0  # drawings whose search shortlists are examples too (`mine_examples`)
    mine_budget: int = 500  # programs each of those searches tries
    mined_share: float = 0.5  # of each step's drawings, this share from the mined ones
    init: str | None = None  # start from this verifier's weights instead of at random


def _chunk_path(out: Path, j: int) -> Path:
    return out / "data" / f"chunk-{j:04d}.npz"


def _mined_path(out: Path, j: int) -> Path:
    return out / "data" / f"mined-{j:04d}.npz"


def _save_chunk(path: Path, chunk: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **chunk)
    atomic_write_bytes(path, buffer.getvalue())


def _make_mined_chunk(job) -> None:
    """Search MINED_CHUNK drawings and save their shortlists (`mine_examples`)."""
    cfg, j, n, n_chunks, held = job
    from .checkpoint import default_checkpoint, load_checkpoint
    from .sketch import SKETCH_DOMAIN
    from .verifier_data import mine_examples

    torch.set_num_threads(1)
    print(f"verifier mining: chunk {j + 1} of {n_chunks}", file=sys.stderr, flush=True)
    domain = register_sketch_domain()
    policy, _ = load_checkpoint(str(default_checkpoint(SKETCH_DOMAIN)), grammar_hash=domain.grammar.hash)
    # Programs of another seed than the near misses', so the two never share a drawing.
    chunk = mine_examples(domain, policy, n, seed=cfg.seed * 100_003 + 104_729 * (j + 1), budget=cfg.mine_budget,
                          exclude=held, progress=False)
    _save_chunk(_mined_path(Path(cfg.out), j), chunk)


def _make_chunk(job) -> None:
    """Make and save one chunk of examples (its own seed, so any worker may make it)."""
    cfg, j, n, n_chunks, held = job
    from .verifier_data import make_examples

    torch.set_num_threads(1)
    print(f"verifier data: chunk {j + 1} of {n_chunks}", file=sys.stderr, flush=True)
    chunk = make_examples(register_sketch_domain(), n, seed=cfg.seed * 100_003 + 7919 * (j + 1), exclude=held,
                          progress=False)
    _save_chunk(_chunk_path(Path(cfg.out), j), chunk)


def _build(cfg: VerifierTrainConfig, total: int, size: int, path_of, make, rank: int, world: int) -> dict:
    """`total` drawings of examples in chunks of `size`: this rank's missing chunks made by
    `make` (in `cfg.workers` processes), then every chunk read back from `path_of(out, j)`."""
    domain = register_sketch_domain()
    out = Path(cfg.out)
    n_chunks = math.ceil(total / size)
    # The benchmark's programs never appear in training, whatever their drawing.
    held = set().union(*(drawable_programs(domain, 64, s) for s in BENCHMARK_PROGRAM_SEEDS.values()))
    todo = [j for j in range(rank, n_chunks, world) if not path_of(out, j).exists()]
    jobs = [(cfg, j, min(size, total - j * size), n_chunks, held) for j in todo]
    if cfg.workers > 1 and len(jobs) > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(cfg.workers) as pool:
            for _ in pool.imap_unordered(make, jobs):
                pass
    else:
        for job in jobs:
            make(job)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    parts = []
    for j in range(n_chunks):
        try:
            with np.load(path_of(out, j)) as z:
                parts.append({k: z[k] for k in z.files})
        except (OSError, ValueError, KeyError) as err:
            raise TreediffError(f"verifier data {path_of(out, j)} is unreadable ({err}); delete it to remake it")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def build_data(cfg: VerifierTrainConfig, rank: int = 0, world: int = 1) -> dict:
    """Every chunk of near-miss examples, made (this rank's share) or read back from `out/data/`."""
    return _build(cfg, cfg.sketches, CHUNK, _chunk_path, _make_chunk, rank, world)


def build_mined(cfg: VerifierTrainConfig, rank: int = 0, world: int = 1) -> dict | None:
    """Every chunk of mined examples (`--mined`), or None without them."""
    if cfg.mined <= 0:
        return None
    return _build(cfg, cfg.mined, MINED_CHUNK, _mined_path, _make_mined_chunk, rank, world)


def batch_tensors(data: dict, idx: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images (B*K, 3, n, n), distances (B*K, 1), ious (B, K)) for drawings `idx`."""
    to = lambda a: torch.from_numpy(a).to(device).float() / 255  # noqa: E731
    renders = data["renders"][idx]
    B, K, n, _ = renders.shape
    outlines = torch.from_numpy(outline_of(renders / 255.0)).to(device).float()  # as `candidate_inputs` draws them
    images = torch.stack([to(data["registered"][idx]), to(renders), outlines], dim=2)
    distances = torch.from_numpy(data["distances"][idx]).to(device).reshape(-1, 1).clamp(max=100.0)
    return images.reshape(B * K, 3, n, n), distances, torch.from_numpy(data["ious"][idx]).to(device)


@torch.no_grad()
def held_out_choice(model: SketchVerifier, data: dict, idx: np.ndarray, device: str) -> dict:
    """% of held-out drawings where the chosen candidate reaches IoU >= 0.9: the verifier's
    choice, the smallest registered distance's, and the best possible."""
    was = model.training
    model.eval()
    verifier = distance = best = 0
    for j in range(0, len(idx), 50):
        part = idx[j:j + 50]
        images, distances, ious = batch_tensors(data, part, device)
        logits = model(images, distances).reshape(ious.shape)
        verifier += int((ious.gather(1, logits.argmax(1, keepdim=True)) >= 0.9).sum())
        by_distance = torch.from_numpy(data["distances"][part]).to(device).argmin(1, keepdim=True)
        distance += int((ious.gather(1, by_distance) >= 0.9).sum())
        best += int((ious.max(1).values >= 0.9).sum())
    model.train(was)
    pct = lambda x: round(100.0 * x / len(idx), 1)  # noqa: E731
    return {"verifier_pct": pct(verifier), "distance_pct": pct(distance), "best_pct": pct(best)}


def train_verifier(cfg: VerifierTrainConfig) -> dict:
    world, rank, local_rank, device = init_distributed(cfg.device)
    if cfg.sketches < EVAL_DRAWINGS + cfg.batch_size:
        raise TreediffError(f"--sketches must be at least {EVAL_DRAWINGS + cfg.batch_size}")
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    weights_stem, state_path = out / "verifier", out / "train_state.pt"
    has_checkpoint = weights_stem.with_suffix(".json").exists()
    if has_checkpoint and not cfg.resume:
        raise TreediffError(f"{out} already holds a verifier; pass --resume to continue it or choose another --out")
    if cfg.mined and not (cfg.mined >= 5 and 0.0 < cfg.mined_share < 1.0):
        raise TreediffError("--mined must be 5 or more (a fifth of them, at most "
                            f"{EVAL_MINED}, are held out) and --mined-share between 0 and 1")
    seed_everything(cfg.seed + rank)
    if cfg.init and not has_checkpoint:
        init, _ = load_verifier(cfg.init, device)  # before the slow part: a wrong path fails at once
    data = build_data(cfg, rank, world)
    mined = build_mined(cfg, rank, world)
    n = len(data["ious"])
    held_out, train_idx = np.arange(n - EVAL_DRAWINGS, n), np.arange(n - EVAL_DRAWINGS)
    n_mined = 0 if mined is None else len(mined["ious"])
    n_held = min(EVAL_MINED, n_mined // 5)
    mined_held, mined_idx = np.arange(n_mined - n_held, n_mined), np.arange(n_mined - n_held)
    from_mined = 0 if mined is None else min(cfg.batch_size - 1, max(1, round(cfg.batch_size * cfg.mined_share)))
    step = 0
    if has_checkpoint:
        model, info = load_verifier(weights_stem, device)
        step = int(info.get("step", 0))
        if rank == 0:
            print(f"resuming {out} from step {step}", file=sys.stderr)
    elif cfg.init:
        model = init
    else:
        model = SketchVerifier(VerifierConfig(image_size=data["drawings"].shape[-1])).to(device)
    model.train()
    raw = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[local_rank] if device.startswith("cuda") else None)
    optimizer = torch.optim.AdamW(raw.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if has_checkpoint and state_path.exists():
        state = load_training_state(state_path)
        if int(state.get("step", -1)) == step:
            optimizer.load_state_dict(state["optimizer"])
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))

    def lr_at(s: int) -> float:
        if s < WARMUP:
            return cfg.lr * (s + 1) / WARMUP
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (s - WARMUP) / max(1, cfg.steps - WARMUP))))

    def save(metrics: dict) -> None:
        if rank != 0:
            return
        save_training_state(state_path, {"step": step, "optimizer": optimizer.state_dict()})
        save_verifier(weights_stem, raw, extra={"step": step, "train_config": asdict(cfg), "held_out": metrics,
                                                "training_style": "TRAIN_STYLE"})

    metrics: dict = {}
    started = time.time()
    running = None
    bar = tqdm(total=cfg.steps, initial=step, desc="train verifier", file=sys.stderr, disable=rank != 0,
               dynamic_ncols=True)
    while step < cfg.steps:
        # Batches are a function of (seed, rank, step): a resumed run draws what it would have.
        rng = np.random.default_rng([cfg.seed, rank, step])
        idx = rng.choice(train_idx, cfg.batch_size - from_mined, replace=False)
        images, distances, ious = batch_tensors(data, idx, device)
        if from_mined:
            extra = batch_tensors(mined, rng.choice(mined_idx, from_mined, replace=len(mined_idx) < from_mined), device)
            images, distances, ious = (torch.cat(pair) for pair in zip((images, distances, ious), extra))
        images = augment(images, int(rng.integers(4)), bool(rng.integers(2)))
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss = verifier_loss(model(images, distances).reshape(ious.shape), ious)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        value = float(loss.detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}")
        if step % cfg.save_every == 0 or step == cfg.steps:
            if rank == 0:
                metrics = held_out_choice(raw, data, held_out, device)
                if mined is not None:
                    metrics.update({f"mined_{k}": v for k, v in held_out_choice(raw, mined, mined_held, device).items()})
                record = {"step": step, "seconds": round(time.time() - started, 1), "train_loss": round(running, 4),
                          **metrics}
                with open(out / "log.jsonl", "a") as f:
                    f.write(json.dumps(record) + "\n")
                tqdm.write(f"step {step}: held-out choice IoU>=0.9 {metrics['verifier_pct']}% "
                           f"(distance alone {metrics['distance_pct']}%, best {metrics['best_pct']}%)"
                           + ("" if mined is None else f"; among search shortlists {metrics['mined_verifier_pct']}% "
                              f"(distance {metrics['mined_distance_pct']}%, best {metrics['mined_best_pct']}%)"),
                           file=sys.stderr)
            save(metrics)
    bar.close()
    finish_distributed(world)
    return {"step": step, "out": str(out), **metrics}
