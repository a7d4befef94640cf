"""Top-k generation: diffusion by different noise seeds, the baseline by beam or nucleus search.

Candidates are de-duplicated and ranked by the model's own mean token log-probability;
given the language, candidates that do not parse come after every one that does.
"""

from __future__ import annotations

import sys

import torch

from ..errors import TreediffError
from .metrics import is_valid
from .train import encode_src


def _check_utterances(utterances: list[str]) -> None:
    for u in utterances:
        if not u or not u.strip():
            raise TreediffError("empty utterance: describe the code to generate, e.g. \"Color cells greater than 5\"")


def _mean_logp(tokens: list[int], logps: list[float], eos: int, pad: int) -> float:
    total, n = 0.0, 0
    for tok, lp in zip(tokens, logps):
        total += lp
        n += 1
        if tok in (eos, pad):
            break
    return total / max(1, n)


def encode_utterances(model, tok, utterances, warn=True) -> torch.Tensor:
    _check_utterances(utterances)
    src, truncated = encode_src(tok, list(utterances), model.cfg)
    if truncated and warn:
        print(f"treediff: warning: utterance longer than the encoder's limit of {model.cfg.max_src_len} "
              "tokens; truncated", file=sys.stderr)
    return src


@torch.no_grad()
def diffusion_topk(model, tok, utterances, k=5, steps=10, seed=0, oversample=4, decode="dh", device="cpu",
                   keep_all=False):
    """For each utterance, ``k * oversample`` noise seeds → distinct candidates ranked by the
    best mean token log-prob among the seeds that produced them; the best ``k``, or all of
    them with ``keep_all``."""
    src = encode_utterances(model, tok, utterances).to(device)
    n = max(k, k * oversample)
    gen = torch.Generator().manual_seed(seed)
    reps = src.repeat_interleave(n, 0)
    tokens, logp = [], []
    for chunk in reps.split(256):
        t, lp = model.sample(chunk, num_steps=steps, decode=decode, generator=gen)
        tokens.append(t.cpu())
        logp.append(lp.cpu())
    tokens, logp = torch.cat(tokens), torch.cat(logp)
    results = []
    for i in range(len(utterances)):
        best: dict[str, float] = {}
        for j in range(i * n, (i + 1) * n):
            ids = tokens[j].tolist()
            code = tok.decode(ids).strip()
            score = _mean_logp(ids, logp[j].tolist(), tok.eos_id, tok.pad_id)
            if code not in best or score > best[code]:
                best[code] = score
        ranked = sorted(best.items(), key=lambda c: -c[1])
        results.append(ranked if keep_all else ranked[:k])
    return results


@torch.no_grad()
def ar_topk(model, tok, utterances, k=5, method="beam", seed=0, oversample=4, top_p=0.9, device="cpu"):
    src = encode_utterances(model, tok, utterances).to(device)
    gen = torch.Generator().manual_seed(seed)
    results = []
    for i in range(len(utterances)):
        row = src[i : i + 1]
        if method == "beam":
            hyps = model.beam_search(row, k=k)
        elif method == "nucleus":
            hyps = model.nucleus(row, n=k * oversample, top_p=top_p, generator=gen)
        else:
            raise TreediffError(f"could not resolve AR search {method!r} among choices ['beam', 'nucleus']")
        best: dict[str, float] = {}
        for ids, score in hyps:
            code = tok.decode(ids).strip()
            if code not in best or score > best[code]:
                best[code] = score
        results.append(sorted(best.items(), key=lambda c: -c[1])[:k])
    return results


def grammar_first(cands: list[tuple[str, float]], lang: str | None, demote=None) -> list[tuple[str, float]]:
    """Candidates that parse first (with a language), then, for CF, those whose arguments
    have the kinds their functions need (`cfrule.type_error`), then those `demote` does
    not flag, each group best score first. A CF candidate that does not parse but starts
    with a complete rule ("TextContains(Bull)0))": the diffusion model fills every
    position, and a stray token after the rule is its commonest slip) is cut to that rule;
    duplicates that result keep the better score."""
    from .cfrule import type_error

    fixed: dict[str, float] = {}
    for code, score in cands:
        if lang == "cf" and not is_valid(code, lang):
            code = _complete_rule_prefix(code)
        if code not in fixed or score > fixed[code]:
            fixed[code] = score
    flagged = demote or (lambda code: False)

    def rank(cand: tuple[str, float]) -> tuple:
        code = cand[0]
        parses = lang is None or is_valid(code, lang)
        ill_typed = lang == "cf" and parses and type_error(code) is not None
        return (not parses, ill_typed, flagged(code), -cand[1])

    return sorted(fixed.items(), key=rank)


def _complete_rule_prefix(code: str) -> str:
    """The longest prefix of ``code`` ending in ")" that is a valid CF rule, else ``code``."""
    from .cfrule import is_valid as cf_valid

    for end in range(len(code) - 1, 0, -1):
        if code[end - 1] == ")" and cf_valid(code[:end]):
            return code[:end]
    return code


DIFFUSION_POOL = 10  # distinct diffusion candidates drawn before the best k are kept (docs/models.md)


def topk(model, kind, tok, utterances, k=5, seed=0, steps=10, decode="dh", ar_method="beam", device="cpu",
         literals=None, lang=None, pool=None):
    """Dispatch on the checkpoint kind; returns one ranked [(code, score)] list per utterance.

    ``literals`` (the checkpoint's `LiteralCodec`, if it was trained with one): utterances
    get their placeholders before generation and the candidates their values back after.
    ``lang``: rank the candidates that parse in that language first (`grammar_first`).
    The k are chosen after values are restored, among all distinct samples: for diffusion,
    among samples enough for `pool` candidates (default DIFFUSION_POOL): more noise seeds
    find better ones, which the ranking puts first. A candidate that still holds a
    placeholder after restoring (the model wrote a value the request does not have), or
    that uses none of the request's values, goes after those that do neither."""
    if k < 1:
        raise TreediffError("-k must be at least 1")
    pool = DIFFUSION_POOL if pool is None else pool
    if pool < 1:
        raise TreediffError("--pool must be at least 1")
    _check_utterances(utterances)
    torch.manual_seed(seed)
    values = [[] for _ in utterances]
    if literals is not None:
        encoded = [literals.encode(u) for u in utterances]
        utterances, values = [e[0] for e in encoded], [e[2] for e in encoded]
    if kind == "diffusion":
        width = max(k, pool)
        ranked = diffusion_topk(model, tok, utterances, k=width, steps=steps, seed=seed, decode=decode, device=device,
                                keep_all=True)
        # A confident model gives the same program from most noise seeds: draw more seeds
        # (a few rounds at most) for the utterances that have fewer than k distinct ones
        # (given the language, fewer than k that parse).
        enough = ((lambda r: len(r) >= width) if lang is None
                  else (lambda r: sum(is_valid(c, lang) for c, _ in r) >= width))
        for round_ in range(1, 4):
            short = [i for i, r in enumerate(ranked) if not enough(r)]
            if not short:
                break
            more = diffusion_topk(model, tok, [utterances[i] for i in short], k=width, steps=steps,
                                  seed=seed + 7919 * round_, oversample=8, decode=decode, device=device,
                                  keep_all=True)
            for i, extra in zip(short, more):
                merged = dict(ranked[i])
                for code, score in extra:
                    merged[code] = max(score, merged.get(code, score))
                ranked[i] = sorted(merged.items(), key=lambda c: -c[1])
    else:
        ranked = ar_topk(model, tok, utterances, k=k, method=ar_method, seed=seed, device=device)
    out = []
    for cands, vals in zip(ranked, values):
        restored: dict[str, float] = {}
        for code, score in cands:  # already best first: the first of any duplicates keeps its rank
            restored.setdefault(code if literals is None else literals.restore(code, vals), score)
        demote = None if literals is None else (
            lambda code, vals=vals: literals.has_placeholder(code) or literals.ignores_values(code, vals))
        out.append(grammar_first(list(restored.items()), lang, demote=demote)[:k])
    return out
