"""Locating and loading the CodeFusion benchmarks and pre-training snippets."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

from ..errors import TreediffError
from .literals import LiteralCodec

FILES = {
    "cf": ("CFRuleBenchmarks.json", "ConditionalFormattingSnippets.txt"),
    "bash": ("BashBenchmarks.json", "BashSnippets.txt"),
    "python": ("PythonBenchmarks.json", None),
}
PUBLIC = "the public benchmark is microsoft/prose-benchmarks on GitHub (folder CodeFusion)"


def check_lang(lang: str) -> str:
    if lang not in FILES:
        raise TreediffError(f"could not resolve language {lang!r} among choices {sorted(FILES)}")
    return lang


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``--data``, else ``$TREEDIFF_DATA``, else ``../shared/datasets/codefusion`` beside the repo."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("TREEDIFF_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "datasets" / "codefusion"


def _require(path: Path, lang: str) -> Path:
    if not path.is_file():
        names = ", ".join(f for f in FILES[lang] if f)
        raise TreediffError(
            f"CodeFusion data for {lang!r} not found: expected {names} in {path.parent} "
            f"(pass --data DIR or set TREEDIFF_DATA; {PUBLIC})"
        )
    return path


def load_benchmark(lang: str, data: str | os.PathLike | None = None) -> dict[str, list[dict]]:
    """``{"train": [...], "test": [...]}`` of items with "NL Utterance" and "Code"."""
    path = _require(data_dir(data) / FILES[check_lang(lang)][0], lang)
    try:
        with open(path, encoding="utf-8") as f:
            bench = json.load(f)
    except (OSError, ValueError) as err:
        raise TreediffError(f"could not read {path}: {err}") from None
    if not isinstance(bench, dict) or "train" not in bench or "test" not in bench:
        raise TreediffError(f"{path} must hold a JSON object with 'train' and 'test' lists")
    # some Python (CoNaLa) items have no utterance (null); they cannot be used or scored
    return {split: [it for it in bench[split] if isinstance(it.get("NL Utterance"), str)
                    and isinstance(it.get("Code"), str)] for split in ("train", "test")}


def load_snippets(lang: str, data: str | os.PathLike | None = None, limit: int | None = None) -> list[str]:
    """Unannotated code lines for pre-training; Python has none, so its train-split code is used."""
    name = FILES[check_lang(lang)][1]
    if name is None:
        return [it["Code"] for it in load_benchmark(lang, data)["train"]]
    path = _require(data_dir(data) / name, lang)
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    if limit is not None and len(lines) > limit:
        lines = random.Random(0).sample(lines, limit)
    return lines


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*|\d+(?:\.\d+)?")


def mask_code(code: str, rng: random.Random, p: float = 0.5, mask: str = "<mask>") -> str:
    """Continuous paragraph denoising input: identifiers, keywords and numbers masked with prob. p."""
    words = list(_WORD.finditer(code))
    if not words:
        return code
    chosen = {i for i in range(len(words)) if rng.random() < p} or {rng.randrange(len(words))}
    out, last = [], 0
    for i, m in enumerate(words):
        if i in chosen:
            out.append(code[last:m.start()])
            out.append(mask)
            last = m.end()
    out.append(code[last:])
    return "".join(out)


_VALUE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?|[^\W\d]\w*)(?![\w.(])")


def _random_like(value: str, rng: random.Random, words: list[str]) -> str:
    if value[0].isdigit():
        if "." in value:
            whole, frac = value.split(".")
            return f"{rng.randrange(10 ** max(1, len(whole)))}.{rng.randrange(10 ** len(frac)):0{len(frac)}d}"
        return str(rng.randrange(10 ** max(1, len(value))))
    return rng.choice(words)


def augment_pair(utterance: str, code: str, rng: random.Random, words: list[str]) -> tuple[str, str]:
    """Swap argument values that the code copies from the utterance (numbers, words) for
    random ones in both, so that fine-tuning learns to copy rather than to memorise."""
    values = {m.group(1) for m in _VALUE.finditer(code)}
    out_u, out_c = utterance, code
    for v in sorted(values, key=len, reverse=True):
        pat = re.compile(rf"(?<![\w.]){re.escape(v)}(?![\w.])")
        if not pat.search(utterance):
            continue
        new = _random_like(v, rng, words)
        out_u = pat.sub(new, out_u)
        out_c = re.sub(rf"(?<![\w.]){re.escape(v)}(?![\w.(])", new, out_c)
    return out_u, out_c


def drop_words(utterance: str, rng: random.Random, p: float) -> str:
    """The utterance with each word left out with probability `p`, never a placeholder nor
    every word: the 712 training requests share a few templates, the test requests are
    free text, and a model that cannot count on every template word must read the rest."""
    words = utterance.split(" ")
    kept = [w for w in words if LiteralCodec.has_placeholder(w) or rng.random() >= p]
    return " ".join(kept) if any(not LiteralCodec.has_placeholder(w) for w in kept) else utterance
