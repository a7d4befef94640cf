"""Pre-training (unsupervised generation + continuous paragraph denoising) and fine-tuning.

The same loop trains the diffusion model and the autoregressive baseline; the batch for
step ``s`` depends only on ``(seed, s)``, so ``--resume`` continues exactly where it stopped.
"""

from __future__ import annotations

import math
import random
import re
import sys
import time
from dataclasses import fields

import torch

from ..errors import TreediffError
from .checkpoint import (build_model, load_checkpoint, load_optimizer_state, load_training_weights, read_info,
                         save_checkpoint, stem)
from .data import augment_pair, drop_words, load_benchmark, load_snippets, mask_code
from .literals import LiteralCodec
from .model import CodeFusionConfig
from .tokenizer import CodeTokenizer

LANG_DEFAULTS = {
    "cf": dict(vocab_size=1024, max_src_len=64, max_tgt_len=32),  # 99% of CF utterances fit
    "bash": dict(vocab_size=4096, max_src_len=64, max_tgt_len=64),
    "python": dict(vocab_size=4096, max_src_len=64, max_tgt_len=64),
}


def pad_batch(seqs: list[list[int]], length: int, pad: int) -> torch.Tensor:
    out = torch.full((len(seqs), length), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        s = s[:length]
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def encode_src(tok: CodeTokenizer, texts: list[str], cfg: CodeFusionConfig) -> tuple[torch.Tensor, bool]:
    """Utterances → padded ids; also says whether any was truncated."""
    ids = [e.ids for e in tok.tok.encode_batch(texts)]
    truncated = any(len(s) > cfg.max_src_len for s in ids)
    return pad_batch([s or [tok.unk_id] for s in ids], cfg.max_src_len, cfg.pad_id), truncated


def encode_tgt(tok: CodeTokenizer, codes: list[str], cfg: CodeFusionConfig) -> torch.Tensor:
    ids = [e.ids[: cfg.max_tgt_len - 1] + [cfg.eos_id] for e in tok.tok.encode_batch(codes)]
    return pad_batch(ids, cfg.max_tgt_len, cfg.pad_id)


def build_tokenizer(lang: str, data, vocab_size: int) -> CodeTokenizer:
    bench = load_benchmark(lang, data)["train"]
    snippets = sorted(set(load_snippets(lang, data)))
    texts = [it["NL Utterance"] for it in bench] + [it["Code"] for it in bench] + snippets[:100000]
    # The same pairs with literal placeholders, so "§0" is a token whether or not a model uses them.
    codec = fit_literals(bench)
    for it in bench:
        u, c, _ = codec.encode(it["NL Utterance"], it["Code"])
        texts += [u, c]
    return CodeTokenizer.train(texts, vocab_size=vocab_size)


def fit_literals(items: list[dict]) -> LiteralCodec:
    return LiteralCodec.fit([(it["NL Utterance"], it["Code"]) for it in items])


def make_config(lang: str, tok: CodeTokenizer, overrides: dict) -> CodeFusionConfig:
    kw = dict(LANG_DEFAULTS[lang])
    kw.update({k: v for k, v in overrides.items() if v is not None})
    kw.update(vocab_size=tok.vocab_size, pad_id=tok.pad_id, bos_id=tok.bos_id, eos_id=tok.eos_id, mask_id=tok.mask_id)
    names = {f.name for f in fields(CodeFusionConfig)}
    return CodeFusionConfig(**{k: v for k, v in kw.items() if k in names})


def lr_at(step: int, steps: int, lr: float, warmup: int = 100) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    frac = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def ema_decay_at(step: int, decay: float) -> float:
    """The average's decay at `step`: short at first, so early weights fade out quickly."""
    return min(decay, (1.0 + step) / (10.0 + step))


def train_loop(model, kind, tok, lang, make_batch, *, steps, lr, out, seed, device, resume=False,
               meta=None, save_every=500, log=None, loss_kwargs=None, ema=0.0):
    """Generic loop: AdamW, warmup + cosine, grad clip 1, atomic checkpoints, exact resume.

    With `ema` > 0 the saved weights are an exponential moving average of the trained ones
    (decay `ema`; the live weights go in the resume file). An average over the last
    ~1/(1 - ema) steps is a flatter, less noisy point than the last step, which matters
    most for a diffusion model trained on few pairs (docs/models.md)."""
    import copy

    from tqdm import tqdm

    log = log or sys.stderr  # looked up at call time: a caller may have replaced sys.stderr
    model.to(device)
    average = None
    if ema > 0:
        average = copy.deepcopy(model).eval()  # `model` holds the average when resuming; fixed below
        for p in average.parameters():
            p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    start = 0
    meta = dict(meta or {}, ema=ema)
    if resume:
        info = read_info(out)
        saved = float(info["meta"].get("ema") or 0.0)
        if saved != ema:  # the checkpoint holds the average, the resume file the live weights
            raise TreediffError(f"cannot resume {stem(out)}: it was trained with --ema {saved:g}, not {ema:g}")
        if average is not None:
            live = load_training_weights(out)
            if live is None:
                raise TreediffError(f"cannot resume {stem(out)}: its live weights are missing from the resume file")
            model.load_state_dict(live)
        load_optimizer_state(out, opt, info)
        start = int(info["meta"].get("step", 0))
        if start >= steps:
            print(f"checkpoint {stem(out)} already at step {start}", file=log)
            return average if average is not None else model
    model.train()
    bar = tqdm(range(start, steps), desc=f"{kind} {meta.get('stage', '')}", file=sys.stderr,
               initial=start, total=steps, mininterval=2.0)
    smooth = None  # the loss shown, smoothed
    t0 = time.time()
    for step in bar:
        torch.manual_seed(seed * 1_000_003 + step)
        src, tgt, noise_mem = make_batch(step)
        src = None if src is None else src.to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr)
        loss, parts = model.loss(src, tgt.to(device), noise_memory=noise_mem, **(loss_kwargs or {}))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if average is not None:
            with torch.no_grad():
                weight = 1.0 - ema_decay_at(step, ema)
                for a, p in zip(average.parameters(), model.parameters()):
                    a.lerp_(p, weight)
                for a, b in zip(average.buffers(), model.buffers()):
                    a.copy_(b)
        smooth = loss.item() if smooth is None else 0.98 * smooth + 0.02 * loss.item()
        bar.set_postfix(loss=f"{smooth:.3f}", **{k: f"{v:.3f}" for k, v in parts.items()})
        if (step + 1) % save_every == 0 or step + 1 == steps:
            meta.update(step=step + 1, loss=round(smooth, 4),
                        seconds=round(meta.get("seconds", 0) + time.time() - t0, 1))
            t0 = time.time()
            if average is not None:
                save_checkpoint(out, average, kind, tok, lang, meta, optimizer=opt, training_model=model)
            else:
                save_checkpoint(out, model, kind, tok, lang, meta, optimizer=opt)
    model.eval()
    return average if average is not None else model


def pretrain(lang, data, out, *, kind="diffusion", steps=2000, batch_size=64, lr=5e-4, seed=0, device="cpu",
             gen=True, cpd=True, resume=False, overrides=None, high_noise=0.5, literals=True):
    """Pre-train on unannotated snippets: unsupervised generation and/or CPD, alternating."""
    if not (gen or cpd):
        raise TreediffError("pre-training needs at least one of generation pre-training and CPD")
    snippets = sorted(set(load_snippets(lang, data)))
    if resume:
        model, tok, info = load_checkpoint(out, lang=lang, kind=kind, device=device)
        cfg = model.cfg
    else:
        tok = build_tokenizer(lang, data, (overrides or {}).get("vocab_size") or LANG_DEFAULTS[lang]["vocab_size"])
        cfg = make_config(lang, tok, overrides or {})
        model = build_model(kind, cfg)
    tasks = (["gen"] if gen else []) + (["cpd"] if cpd else [])

    def make_batch(step):
        rng = random.Random(seed * 7919 + step)
        codes = [snippets[rng.randrange(len(snippets))] for _ in range(batch_size)]
        task = tasks[step % len(tasks)]
        tgt = encode_tgt(tok, codes, cfg)
        if task == "gen":
            return None, tgt, True
        src, _ = encode_src(tok, [mask_code(c, rng) for c in codes], cfg)
        return src, tgt, False

    meta = {"stage": "pretrain", "tasks": tasks, "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed}
    if resume:
        meta["literals"] = info["meta"].get("literals")
    elif literals:  # fine-tuning from this checkpoint inherits the literal vocabulary
        meta["literals"] = fit_literals(load_benchmark(lang, data)["train"]).to_json()
    kw = {"high_noise": high_noise} if kind == "diffusion" else {}
    meta.update(kw)
    return train_loop(model, kind, tok, lang, make_batch, steps=steps, lr=lr, out=out, seed=seed,
                      device=device, resume=resume, meta=meta, loss_kwargs=kw), tok


def finetune(lang, data, out, *, kind="diffusion", init=None, steps=2000, batch_size=64, lr=5e-4, seed=0,
             device="cpu", resume=False, overrides=None, augment=0.5, high_noise=0.5, literals=True,
             word_dropout=0.15, ema=0.0, lowercase=False):
    """Fine-tune on (utterance, code) pairs of the train split, from ``init`` or from scratch.

    With probability ``augment`` a pair has the values it copies from the utterance swapped
    for random ones (see :func:`data.augment_pair`). With ``literals`` the model sees
    utterance and code with literal placeholders (see :mod:`literals`), using the
    vocabulary of ``init`` when it has one. ``word_dropout``: each word of the utterance
    that is not a placeholder is left out with this probability (see `data.drop_words`).
    ``ema``: save an exponential moving average of the weights with this decay (`train_loop`).
    ``lowercase``: the model reads the utterance lower-cased after its literals are found
    (`LiteralCodec`; needs ``literals``); the checkpoint records it for generation."""
    items = [it for it in load_benchmark(lang, data)["train"] if it["Code"].strip()]
    meta = {"stage": "train", "init": str(init) if init else None, "steps": steps, "batch_size": batch_size,
            "lr": lr, "seed": seed, "augment": augment, "word_dropout": word_dropout}
    if lowercase and not literals:
        raise TreediffError("--lowercase needs literal placeholders (drop --no-literals): the literals are found "
                            "by their capitals before the rest is lower-cased")
    if resume:
        model, tok, info = load_checkpoint(out, lang=lang, kind=kind, device=device)
        meta = dict(info["meta"], steps=steps)
        saved = bool((meta.get("literals") or {}).get("lowercase"))
        if saved != lowercase:
            raise TreediffError(f"cannot resume {out}: it was trained {'with' if saved else 'without'} --lowercase")
    elif init:
        model, tok, info = load_checkpoint(init, lang=lang, kind=kind, device=device)
        meta["pretrain"] = {k: info["meta"].get(k) for k in ("tasks", "steps", "loss", "seconds")}
        if literals:
            meta["literals"] = info["meta"].get("literals") or fit_literals(items).to_json()
    else:
        tok = build_tokenizer(lang, data, (overrides or {}).get("vocab_size") or LANG_DEFAULTS[lang]["vocab_size"])
        model = build_model(kind, make_config(lang, tok, overrides or {}))
        meta["pretrain"] = None
        if literals:
            meta["literals"] = fit_literals(items).to_json()
    if literals and not resume:  # a new run records how it reads requests (a resumed one already has)
        meta["literals"] = dict(meta["literals"], lowercase=lowercase)
    codec = LiteralCodec.from_meta(meta)
    cfg = model.cfg
    words = sorted({w for it in items for w in re.findall(r"[^\W\d_]{2,}", it["NL Utterance"])})
    if codec is not None:  # swapped-in words must still read as values, or they would not become placeholders
        words = [w for w in words if codec.value_like(w)]

    def make_batch(step):
        rng = random.Random(seed * 7919 + step)
        utts, codes = [], []
        for _ in range(batch_size):
            it = items[rng.randrange(len(items))]
            u, c = it["NL Utterance"], it["Code"]
            if rng.random() < augment:
                u, c = augment_pair(u, c, rng, words)
            if codec is not None:
                u, c, _ = codec.encode(u, c)
            if word_dropout > 0:
                u = drop_words(u, rng, word_dropout)
            utts.append(u)
            codes.append(c)
        return encode_src(tok, utts, cfg)[0], encode_tgt(tok, codes, cfg), False

    kw = {"high_noise": high_noise} if kind == "diffusion" else {}
    meta.update(kw)
    return train_loop(model, kind, tok, lang, make_batch, steps=steps, lr=lr, out=out, seed=seed,
                      device=device, resume=resume, meta=meta, loss_kwargs=kw, ema=ema), tok
