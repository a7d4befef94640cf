"""Evaluate a checkpoint on a benchmark split: top-1/3/5 for each metric, validity of the
top-1, diversity of the top-5, seconds per sample."""

from __future__ import annotations

import time

from .generate import topk
from .metrics import diversity, is_valid, item_scores


def evaluate(model, kind, tok, lang, items, *, k=5, seed=0, steps=10, decode="dh", ar_method="beam",
             device="cpu", batch=32, progress=True, literals=None, grammar_rank=True, pool=None) -> dict:
    from tqdm import tqdm

    items = [it for it in items if it["NL Utterance"].strip()]
    cands: list[list[tuple[str, float]]] = []
    t0 = time.time()
    chunks = range(0, len(items), batch)
    for s in tqdm(chunks, desc=f"eval {kind} {lang}", disable=not progress, mininterval=2.0):
        utts = [it["NL Utterance"] for it in items[s : s + batch]]
        cands += topk(model, kind, tok, utts, k=k, seed=seed + s, steps=steps, decode=decode,
                      ar_method=ar_method, device=device, literals=literals,
                      lang=lang if grammar_rank else None, pool=pool)
    seconds = (time.time() - t0) / max(1, len(items))
    sums: dict[str, float] = {}
    valid = 0
    div = {"distinct_1": 0.0, "distinct_2": 0.0, "edit_distance": 0.0}
    for it, cs in zip(items, cands):
        codes = [c for c, _ in cs] or [""]
        per = [item_scores(c, it, lang) for c in codes]
        for name in per[0]:
            for kk in (1, 3, 5):
                if kk <= k:
                    sums[f"{name}_top{kk}"] = sums.get(f"{name}_top{kk}", 0.0) + max(p[name] for p in per[:kk])
        valid += is_valid(codes[0], lang)
        for key, v in diversity(codes[:5]).items():
            div[key] += v
    n = max(1, len(items))
    out = {"language": lang, "model": kind, "n": len(items), "k": k}
    out.update({key: round(100 * v / n, 2) for key, v in sorted(sums.items())})
    out["valid_top1"] = round(100 * valid / n, 2)
    out.update({f"top5_{key}": round(v / n, 4) for key, v in div.items()})
    out["seconds_per_sample"] = round(seconds, 4)
    out["predictions"] = [[c for c, _ in cs] for cs in cands]
    return out
