"""Literal placeholders: how a small model copies values from the utterance into the code.

Most rules copy their arguments from the request: "greater than 85 and smaller than 15" ->
``Between(15,85)``, "cells that contain FB" -> ``TextContains(FB)``. A model of a few
million parameters trained on 712 pairs does not learn to spell arbitrary values through a
BPE vocabulary (it writes ``GreaterThan(4)`` for "greater than 100"). So the values are
taken out before the model sees the text and put back after it has written the code, as
semantic parsers anonymise literals:

* the utterance's *literals* are quoted strings, numbers, and runs of words that look like
  names (a capital, a digit, a symbol, another script) and that the training utterances
  do not use as ordinary English (the `common` vocabulary, learned from the train split
  and saved with the checkpoint); the first word is never one (it is capitalised anyway);
* each distinct literal becomes a placeholder ``§0``, ``§1``, ... in order of appearance,
  in the utterance and wherever the code uses it as a whole argument;
* the model learns where placeholders go; `restore` writes the values back.

A value the code needs but the utterance does not contain verbatim (``Top(1)`` for "the
highest") stays ordinary text for the model to write.

With ``lowercase`` the rest of the utterance is then lower-cased: the model reads
"Highlights Cells containing values Less Than 70" as the "less than" it was trained on.
The literals are found first, so the capitals that mark a name still count, and the values
keep their case.
"""

from __future__ import annotations

import re
from collections import Counter

PLACEHOLDER = "§{}"
_PLACEHOLDER = re.compile(r"§(\d+)")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|(?<!\w)'([^']+)'(?!\w)")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*\w)")
_WORD = re.compile(r"[^\s,;:!?()\"“”]+")
_EDGE = ".'’"  # trailing punctuation that ends a sentence, not a value


def _words(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _WORD.finditer(text):
        start, end = m.start(), m.end()
        while end > start and text[end - 1] in _EDGE:
            end -= 1
        while start < end and text[start] in "'’":
            start += 1
        if end > start:
            out.append((start, end, text[start:end]))
    return out


class LiteralCodec:
    """Anonymises utterances (and training code) and restores generated code."""

    def __init__(self, common: set[str] | frozenset[str], lowercase: bool = False):
        self.common = frozenset(common)
        self.lowercase = lowercase

    # ------------------------------------------------------------------ learning the vocabulary
    @classmethod
    def fit(cls, pairs: list[tuple[str, str]], min_count: int = 2) -> LiteralCodec:
        """Common words: used in at least `min_count` training utterances, and there mostly as
        English rather than as the argument the code copies."""
        seen, as_value = Counter(), Counter()
        for utterance, code in pairs:
            words = {w.lower() for _, _, w in _words(utterance)}
            seen.update(words)
            as_value.update(w for w in words if _argument_in(code, w))
        common = {w for w, n in seen.items()
                  if n >= min_count and as_value[w] * 2 < n and not _NUMBER.fullmatch(w)}
        return cls(common)

    # ------------------------------------------------------------------ anonymise / restore
    def literals(self, utterance: str) -> list[str]:
        """The utterance's literal values, distinct, in order of appearance."""
        spans: list[tuple[int, int]] = []
        for m in _QUOTED.finditer(utterance):
            g = next(i for i in (1, 2, 3) if m.group(i) is not None)
            if m.group(g).strip():
                spans.append((m.start(g), m.end(g)))
        taken = lambda a, b: any(a < e and s < b for s, e in spans)  # noqa: E731
        run: list[tuple[int, int]] = []
        words = _words(utterance)
        for k, (start, end, word) in enumerate(words + [(len(utterance) + 1, len(utterance) + 1, "")]):
            numeric = bool(word) and _NUMBER.fullmatch(word) is not None
            literal = bool(word) and not taken(start, end) and (numeric or (k > 0 and self.value_like(word)))
            # Consecutive non-English words are one value ("On Hold" is two common words,
            # "Zamina Kalo" one value); a number always stands alone.
            if literal and not numeric and run and utterance[run[-1][1]:start] == " " \
                    and not _NUMBER.fullmatch(utterance[run[-1][0]:run[-1][1]]):
                run[-1] = (run[-1][0], end)
                continue
            if literal:
                run.append((start, end))
        spans += run
        values: list[str] = []
        for s, e in sorted(spans):
            v = utterance[s:e]
            if v not in values:
                values.append(v)
        return values

    def value_like(self, word: str) -> bool:
        """A word that is a value, not English: unknown to the training utterances *and*
        written like a name (a capital, a digit, a symbol or another script). Unknown
        lowercase words are taken for English: users' requests use far more English than
        712 training sentences do."""
        if word.lower() in self.common:
            return False
        return not (word.isascii() and word.isalpha() and word.islower())

    def encode(self, utterance: str, code: str | None = None) -> tuple[str, str | None, list[str]]:
        """(utterance with placeholders, code with placeholders or None, the values)."""
        values = self.literals(utterance)
        if not values:
            return self._case(utterance), code, values
        # One pass over an alternation, longest first ("10" before "1"), so a placeholder
        # already written is never matched again.
        index = {v: i for i, v in enumerate(values)}
        pattern = re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
                             + r")(?![\w.])")
        swap = lambda m: PLACEHOLDER.format(index[m.group(0)])  # noqa: E731
        return self._case(pattern.sub(swap, utterance)), None if code is None else pattern.sub(swap, code), values

    def _case(self, utterance: str) -> str:
        return utterance.lower() if self.lowercase else utterance

    @staticmethod
    def restore(code: str, values: list[str]) -> str:
        """Generated code with its placeholders replaced by the values (unknown ones stay)."""
        return _PLACEHOLDER.sub(lambda m: values[int(m.group(1))] if int(m.group(1)) < len(values)
                                else m.group(0), code)

    @staticmethod
    def has_placeholder(code: str) -> bool:
        """Whether restored code still holds a placeholder (one the utterance had no value for)."""
        return _PLACEHOLDER.search(code) is not None

    @staticmethod
    def ignores_values(code: str, values: list[str]) -> bool:
        """Whether the request names values and restored code uses none of them as an
        argument (``GreaterThan()`` or ``IconSet()`` for "values greater than 60"): a
        request that names a value wants a rule that tests it."""
        if not values:
            return False
        args = {_plain(a) for a in re.split(r"[(),]", code)}
        return not any(_plain(v) in args for v in values)

    # ------------------------------------------------------------------ checkpoint round trip
    def to_json(self) -> dict:
        return {"common": sorted(self.common), "lowercase": self.lowercase}

    @classmethod
    def from_meta(cls, meta: dict | None) -> LiteralCodec | None:
        """The codec a checkpoint was trained with (None: it sees raw text). Checkpoints
        from before ``lowercase`` existed read their utterances as written."""
        spec = (meta or {}).get("literals")
        return cls(spec["common"], spec.get("lowercase", False)) if spec else None


def _plain(value: str) -> str:
    """A value as compared with a rule's arguments: unquoted, any "%" dropped ("top 10%"
    asks for 10), lower case."""
    return value.strip().strip("'\"").strip().rstrip("%").lower()


def _argument_in(code: str, word_lower: str) -> bool:
    return any(m.group(0).lower() == word_lower for m in re.finditer(r"[^\s(),]+", code))
