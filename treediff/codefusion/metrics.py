"""Metrics for the CodeFusion benchmarks: exact match, Bash template match, CF execution
match, Python AST exact match and BLEU; syntactic validity; top-k diversity."""

from __future__ import annotations

import ast
import itertools
import math
import re
from collections import Counter

_TOKEN = re.compile(r"\w+|[^\w\s]")
_CALL = re.compile(r"([A-Za-z][A-Za-z0-9_.]*)(?=\s*\()")


def code_tokens(code: str) -> list[str]:
    return _TOKEN.findall(code)


def normalize(code: str, lang: str) -> str:
    """Whitespace-insensitive form; CF function names are case-insensitive as in Excel;
    Python is round-tripped through ``ast`` when it parses."""
    code = code.strip()
    if lang == "python":
        try:
            return ast.unparse(ast.parse(code))
        except (SyntaxError, ValueError, RecursionError):
            pass
    code = re.sub(r"\s+", " ", code)
    code = re.sub(r"\s*([(),\[\]])\s*", r"\1", code)
    if lang == "cf":
        code = _CALL.sub(lambda m: m.group(1).lower(), code)
    return code


def exact_match(pred: str, gold: str, lang: str) -> bool:
    return normalize(pred, lang) == normalize(gold, lang)


# ----------------------------------------------------------------------------- bash


def _is_flag(word: str) -> bool:
    # "-mtime -14": the -14 is a value (a negative number), not an option.
    return word.startswith("-") and not re.fullmatch(r"-[0-9.]+", word)


def _bash_words(node, out: list[str]) -> None:
    kind = node.kind
    if kind == "command":
        first = True
        for part in node.parts:
            if part.kind == "word":
                w = part.word
                if first:
                    out.append(w)
                    first = False
                elif _is_flag(w):
                    out.append(w.split("=", 1)[0])
                else:
                    out.append("ARG")
                for sub in getattr(part, "parts", []):
                    if sub.kind in ("commandsubstitution", "processsubstitution"):
                        out.append("$(")
                        _bash_words(sub.command, out)
                        out.append(")")
            elif part.kind == "redirect":
                out.append(str(part.type))
                out.append("ARG")
            elif part.kind == "assignment":
                out.append("ASSIGN")
            else:
                _bash_words(part, out)
        return
    if kind in ("operator", "pipe"):
        out.append(getattr(node, "op", None) or getattr(node, "pipe", ""))
        return
    if kind == "reservedword":
        out.append(node.word)
        return
    for child in getattr(node, "parts", []) or getattr(node, "list", []):
        _bash_words(child, out)
    if hasattr(node, "command") and kind != "command":
        _bash_words(node.command, out)


def bash_template(cmd: str) -> str:
    """Utilities, flags and operators kept, arguments replaced by ``ARG`` (NL2Bash style)."""
    import bashlex

    try:
        out: list[str] = []
        for tree in bashlex.parse(cmd):
            _bash_words(tree, out)
        return " ".join(out)
    except Exception:  # bashlex raises several error types; fall back to a lexical template
        out, first = [], True
        for tok in re.findall(r"\|\||&&|[|;]|\S+", cmd):
            if tok in ("|", "||", "&&", ";"):
                out.append(tok)
                first = True
            elif first:
                out.append(tok)
                first = False
            else:
                out.append(tok.split("=", 1)[0] if _is_flag(tok) else "ARG")
        return " ".join(out)


def template_match(pred: str, gold: str) -> bool:
    return bash_template(pred) == bash_template(gold)


# ----------------------------------------------------------------------------- python


def sentence_bleu(pred: str, gold: str, max_n: int = 4) -> float:
    """Smoothed (add-one for n>1) sentence BLEU-4 on code tokens, in [0, 1]."""
    p, g = code_tokens(pred), code_tokens(gold)
    if not p or not g:
        return float(p == g)
    logs = 0.0
    for n in range(1, max_n + 1):
        pc = Counter(tuple(p[i : i + n]) for i in range(len(p) - n + 1))
        gc = Counter(tuple(g[i : i + n]) for i in range(len(g) - n + 1))
        match = sum(min(c, gc[k]) for k, c in pc.items())
        total = max(0, len(p) - n + 1)
        if n == 1:
            if match == 0:
                return 0.0
            logs += math.log(match / total)
        else:
            logs += math.log((match + 1) / (total + 1))
    bp = 1.0 if len(p) > len(g) else math.exp(1 - len(g) / len(p))
    return bp * math.exp(logs / max_n)


# ----------------------------------------------------------------------------- validity


def is_valid(code: str, lang: str) -> bool:
    """Syntactic validity: the CF Lark grammar, ``bashlex`` or ``ast``."""
    if not code.strip():
        return False
    if lang == "cf":
        from .cfrule import is_valid as cf_valid

        return cf_valid(code)
    if lang == "bash":
        import bashlex

        try:
            bashlex.parse(code)
            return True
        except Exception:  # bashlex's errors do not share a useful base class
            return False
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError, RecursionError):
        return False


# ----------------------------------------------------------------------------- diversity


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def diversity(cands: list[str]) -> dict[str, float]:
    """distinct-1/2 (unique n-grams / all n-grams over the candidates) and mean pairwise
    edit distance normalised by the longer string."""
    out = {}
    for n in (1, 2):
        grams = [tuple(t[i : i + n]) for c in cands for t in [code_tokens(c)] for i in range(len(t) - n + 1)]
        out[f"distinct_{n}"] = len(set(grams)) / len(grams) if grams else 0.0
    pairs = list(itertools.combinations(cands, 2))
    out["edit_distance"] = (
        sum(edit_distance(a, b) / max(1, len(a), len(b)) for a, b in pairs) / len(pairs) if pairs else 0.0
    )
    return out


# ----------------------------------------------------------------------------- per item


def item_scores(pred: str, item: dict, lang: str) -> dict[str, float]:
    """All metrics of one candidate against one benchmark item."""
    gold = item["Code"]
    em = exact_match(pred, gold, lang)
    scores = {"exact": float(em)}
    if lang == "cf":
        from .cfrule import execution_match

        ex = execution_match(pred, gold, item.get("Data"))
        scores["execution"] = float(em if ex is None else (ex or em))
    elif lang == "bash":
        scores["template"] = float(em or template_match(pred, gold))
    else:
        scores["bleu"] = sentence_bleu(pred, gold)
    return scores


def primary_metric(lang: str) -> str:
    return {"cf": "execution", "bash": "template", "python": "bleu"}[lang]
