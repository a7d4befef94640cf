"""An interpreter for the Excel conditional-formatting rules of the CodeFusion CF benchmark.

A rule such as ``AND(GreaterThanEqual(25),LessThan(50))`` or ``TextContains(c[1], 'L')`` is
parsed with ``grammars/cfrule.lark`` and executed on a table: the result is the kind of
format ("highlight", "colorscale", "databar", "iconset") and the mask of formatted rows.

Semantics follow Excel where the data allows: text comparisons ignore case; numeric
predicates never match text or blank cells; ``top(10%)``/``TopPercent`` keep ties; a rule
without a ``c[i]`` column applies to the selected range, which is the ``default_column``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from lark import Lark, Transformer
from lark.exceptions import LarkError

GRAMMAR = Path(__file__).resolve().parents[1] / "grammars" / "cfrule.lark"


class CFRuleError(ValueError):
    """The rule does not parse or cannot be executed."""


@lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(GRAMMAR.read_text(), parser="earley", lexer="dynamic")


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple


@dataclass(frozen=True)
class Col:
    index: int


@dataclass(frozen=True)
class Lit:
    value: object  # float, or str
    percent: bool = False


_COL = re.compile(r"^c\s*\[\s*(\d+)\s*\]$", re.I)
_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?(%?)$")


class _ToAst(Transformer):
    def start(self, items):
        return items[0]

    def call(self, items):
        name = str(items[0]).lower()
        return Call(name, tuple(a for a in items[1:] if a is not None))

    def string(self, items):
        return Lit(str(items[0])[1:-1])

    def text(self, items):
        s = str(items[0]).strip()
        m = _COL.match(s)
        if m:
            return Col(int(m.group(1)))
        m = _NUM.match(s)
        if m:
            return Lit(float(s.rstrip("%")), percent=bool(m.group(4)))
        return Lit(s)


def parse(rule: str):
    """Rule text → AST (raises CFRuleError)."""
    node = _parse_or_error(rule.strip())
    if isinstance(node, str):
        raise CFRuleError(node)
    return node


@lru_cache(maxsize=4096)
def _parse_or_error(rule: str):
    """The AST, or the error message. Cached, failures included: ranking parses every
    candidate several times (validity, then types), and the Earley parser is the slow part.
    The AST is immutable, so sharing it is safe."""
    try:
        tree = parser().parse(rule)
    except LarkError as err:
        return f"not a CF rule: {str(err).splitlines()[0]}"
    return _ToAst().transform(tree)


def is_valid(rule: str) -> bool:
    """Syntactic validity under ``cfrule.lark``."""
    try:
        parse(rule)
        return True
    except CFRuleError:
        return False


# --------------------------------------------------------------------------- values


def to_number(v):
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return None if isinstance(v, float) and math.isnan(v) else float(v)
    s = str(v).strip().replace(",", "").replace("$", "")
    if not s:
        return None
    try:
        return float(s.rstrip("%")) / (100 if s.endswith("%") else 1)
    except ValueError:
        return None


def to_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip().lower()


def is_blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _to_date(v):
    for fmt in ("%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.strptime(str(v).strip(), fmt)
        except ValueError:
            continue
    return None


COMPARE = {
    "greaterthan": lambda a, b: a > b,
    "lessthan": lambda a, b: a < b,
    "greaterthanequal": lambda a, b: a >= b,
    "greaterthanequals": lambda a, b: a >= b,
    "lessthanequal": lambda a, b: a <= b,
    "lessthanequals": lambda a, b: a <= b,
}
TEXT = {
    "textcontains": lambda s, x: x in s,
    "textnotcontains": lambda s, x: x not in s,
    "textequals": lambda s, x: s == x,
    "textstartswith": lambda s, x: s.startswith(x),
    "startswith": lambda s, x: s.startswith(x),
    "textendswith": lambda s, x: s.endswith(x),
    "endswith": lambda s, x: s.endswith(x),
}
SCALES = {"colorscale", "databar", "iconset"}


class _Exec:
    def __init__(self, rows: list[list], default_column: int):
        self.rows = rows
        self.default = default_column

    def column(self, i: int) -> list:
        return [r[i] if i < len(r) else None for r in self.rows]

    def value(self, node) -> list:
        """A per-row value: a column, LEN(...) of one, or a constant."""
        if isinstance(node, Col):
            return self.column(node.index)
        if isinstance(node, Call) and node.name == "len":
            inner = self.value(node.args[0]) if node.args else self.column(self.default)
            return [len(to_text(v)) if not is_blank(v) else 0 for v in inner]
        if isinstance(node, Lit):
            return [node.value] * len(self.rows)
        raise CFRuleError(f"cannot use {node} as a value")

    def split(self, node: Call):
        """(subject values, remaining args): a leading column or LEN(...) is the subject."""
        args = node.args
        if args and (isinstance(args[0], Col) or (isinstance(args[0], Call) and args[0].name == "len")):
            return self.value(args[0]), args[1:]
        return self.column(self.default), args

    def run(self, node) -> tuple[str, tuple[bool, ...]]:
        if not isinstance(node, Call):
            raise CFRuleError("a rule must be a function call")
        name = node.name
        if name in SCALES:
            subject, _ = self.split(node)
            return name, tuple(not is_blank(v) for v in subject)
        return "highlight", tuple(self.mask(node))

    def mask(self, node) -> list[bool]:
        if not isinstance(node, Call):
            raise CFRuleError("expected a condition")
        n, name = len(self.rows), node.name
        if name in ("and", "or"):
            parts = [self.mask(a) for a in node.args]
            if not parts:
                raise CFRuleError(f"{name.upper()} needs arguments")
            comb = all if name == "and" else any
            return [comb(p[i] for p in parts) for i in range(n)]
        if name == "not":
            if len(node.args) != 1:
                raise CFRuleError("NOT takes one argument")
            return [not b for b in self.mask(node.args[0])]
        subject, args = self.split(node)
        nums = [to_number(v) for v in subject]
        if name in COMPARE:
            if len(args) != 1:
                raise CFRuleError(f"{name} takes one value")
            other = [to_number(v) for v in self.value(args[0])]
            f = COMPARE[name]
            return [a is not None and b is not None and f(a, b) for a, b in zip(nums, other)]
        if name in ("equals", "notequals"):
            if len(args) != 1:
                raise CFRuleError(f"{name} takes one value")
            other = self.value(args[0])
            eq = [
                (a == to_number(o)) if a is not None and to_number(o) is not None else to_text(v) == to_text(o)
                for a, v, o in zip(nums, subject, other)
            ]
            return eq if name == "equals" else [not e and not is_blank(v) for e, v in zip(eq, subject)]
        if name in ("between", "notbetween"):
            if len(args) != 2:
                raise CFRuleError("Between takes two values")
            lo_v, hi_v = ([to_number(v) for v in self.value(a)] for a in args)
            out = []
            for a, lo, hi in zip(nums, lo_v, hi_v):
                inside = a is not None and lo is not None and hi is not None and min(lo, hi) <= a <= max(lo, hi)
                out.append(inside if name == "between" else (a is not None and not inside))
            return out
        if name in TEXT:
            if len(args) > 1 and all(isinstance(a, Lit) for a in args):
                args = (Lit(", ".join(to_text(a.value) for a in args)),)  # unquoted text with commas
            args = args or (Lit(""),)
            if len(args) != 1:
                raise CFRuleError(f"{name} takes one text")
            other = self.value(args[0])
            return [not is_blank(v) and TEXT[name](to_text(v), to_text(o)) for v, o in zip(subject, other)]
        if name == "blanks":
            return [is_blank(v) for v in subject]
        if name in ("noblanks", "notblanks"):
            return [not is_blank(v) for v in subject]
        if name in ("errors", "noerrors"):
            err = [to_text(v).startswith("#") for v in subject]
            return err if name == "errors" else [not e for e in err]
        if name in ("duplicate", "duplicates", "unique", "uniques"):
            keys = [None if is_blank(v) else (to_number(v) if to_number(v) is not None else to_text(v)) for v in subject]
            counts: dict = {}
            for k in keys:
                counts[k] = counts.get(k, 0) + 1
            dup = name.startswith("dup")
            return [k is not None and ((counts[k] > 1) == dup) for k in keys]
        if name in ("top", "bottom", "toppercent", "bottompercent"):
            if len(args) > 1:
                raise CFRuleError(f"{name} takes one count")
            arg = args[0] if args else Lit(10.0)
            if not isinstance(arg, Lit) or not isinstance(arg.value, float):
                raise CFRuleError(f"{name} needs a number")
            present = sorted((a for a in nums if a is not None), reverse=name.startswith("top"))
            if not present:
                return [False] * n
            count = arg.value
            if arg.percent or name.endswith("percent"):
                count = max(1, int(len(present) * count / 100))
            count = max(1, min(int(count), len(present)))
            cut = present[count - 1]
            top = name.startswith("top")
            return [a is not None and (a >= cut if top else a <= cut) for a in nums]
        if name in ("aboveaverage", "belowaverage"):
            present = [a for a in nums if a is not None]
            if not present:
                return [False] * n
            mean = sum(present) / len(present)
            above = name == "aboveaverage"
            return [a is not None and (a > mean if above else a < mean) for a in nums]
        if name in ("lastmonth", "thismonth", "nextmonth"):
            dates = [_to_date(v) for v in subject]
            ref = max((d for d in dates if d), default=None)
            if ref is None:
                return [False] * n
            shift = {"lastmonth": -1, "thismonth": 0, "nextmonth": 1}[name]
            month = ref.year * 12 + ref.month - 1 + shift
            return [d is not None and d.year * 12 + d.month - 1 == month for d in dates]
        if name in SCALES:
            raise CFRuleError(f"{name} cannot be combined inside a condition")
        raise CFRuleError(f"unsupported function {name}")


# --------------------------------------------------------------------------- types

NUMERIC_ARGS = {**{name: 1 for name in COMPARE}, "between": 2, "notbetween": 2}
COUNTED = {"top", "bottom", "toppercent", "bottompercent"}
NO_ARGS = {"blanks", "noblanks", "notblanks", "errors", "noerrors", "duplicate", "duplicates", "unique",
           "uniques", "aboveaverage", "belowaverage", "lastmonth", "thismonth", "nextmonth"} | SCALES


def type_error(rule: str | Call) -> str | None:
    """Why a parsed rule cannot mean what it says, or None: a comparison without its
    number (``GreaterThan()``, ``GreaterThan(Excel)``), a text test without its text, a
    condition given a value where it needs a condition (``NOT(5)``), a scale inside a
    condition. The grammar leaves argument kinds to the interpreter (bare text may be a
    number, a column or a word), so this is the check that tells a sensible rule from a
    well-bracketed one. Raises CFRuleError if the rule does not parse."""
    node = parse(rule) if isinstance(rule, str) else rule
    if not isinstance(node, Call) or node.name == "len":
        return "a rule must be a condition or a scale"
    return _condition_error(node, top=True)


def _is_subject(arg) -> bool:
    return isinstance(arg, Col) or (isinstance(arg, Call) and arg.name == "len")


_CELL = re.compile(r"^\$?[A-Za-z]{1,3}\$?\d+$")  # a reference to one cell, "$E$13"


def _is_number(arg) -> bool:
    return _is_subject(arg) or (isinstance(arg, Lit) and (isinstance(arg.value, float) or bool(_CELL.match(arg.value))))


def _condition_error(node, top=False) -> str | None:
    if not isinstance(node, Call) or node.name == "len":
        return "expected a condition"
    name = node.name
    if name in ("and", "or"):
        if len(node.args) < 2:
            return f"{name.upper()} needs two conditions"
        return next((e for e in map(_condition_error, node.args) if e), None)
    if name == "not":
        return "NOT takes one condition" if len(node.args) != 1 else _condition_error(node.args[0])
    if name in SCALES and not top:
        return f"{name} cannot be combined inside a condition"
    args = node.args[1:] if node.args and _is_subject(node.args[0]) else node.args
    if name in NUMERIC_ARGS:
        if len(args) != NUMERIC_ARGS[name] or not all(map(_is_number, args)):
            return f"{name} needs {NUMERIC_ARGS[name]} number(s)"
    elif name in ("equals", "notequals"):
        if len(args) != 1 or not (_is_subject(args[0]) or (isinstance(args[0], Lit) and str(args[0].value))):
            return f"{name} needs one value"
    elif name in TEXT:
        if not args or not all(isinstance(a, Lit) and str(a.value).strip() for a in args):
            return f"{name} needs a text"
    elif name in COUNTED:
        if len(args) > 1 or (args and not (isinstance(args[0], Lit) and isinstance(args[0].value, float))):
            return f"{name} takes one count"
    elif name in NO_ARGS:
        if args:
            return f"{name} takes no value"
    return None


def default_column(rule_ast) -> int | None:
    """The first ``c[i]`` referenced anywhere in the rule (the range it formats), if any."""
    stack = [rule_ast]
    while stack:
        node = stack.pop(0)
        if isinstance(node, Col):
            return node.index
        if isinstance(node, Call):
            stack = list(node.args) + stack
    return None


def execute(rule: str | Call, rows: list[list], default_column_index: int = 1):
    """Run ``rule`` on data ``rows`` (lists of cells; ``c[i]`` is ``row[i]``) → (kind, mask)."""
    node = parse(rule) if isinstance(rule, str) else rule
    return _Exec(rows, default_column_index).run(node)


def _constants(node, nums: set, texts: set) -> None:
    if isinstance(node, Lit):
        (nums if isinstance(node.value, float) else texts).add(node.value)
    elif isinstance(node, Call):
        for a in node.args:
            _constants(a, nums, texts)


def probe_rows(*asts, width: int = 10) -> list[list]:
    """Synthetic cells that tell apart rules with different constants (for items without data)."""
    nums: set = set()
    texts: set = set()
    for a in asts:
        _constants(a, nums, texts)
    values: list = [0.0, 1.0, -1.0, 7.0, 50.0, 100.0, 1000.0, 1e6, "", "other", "#N/A", "dup", "dup"]
    for x in sorted(nums):
        values += [x - 1, x - 0.5, x, x + 0.5, x + 1, x / 100, -x]
    for s in sorted(texts):
        values += [s, s.upper(), "xx" + s + "yy", s + " zz", "zz " + s, s[:-1]]
    return [[v] * width for v in values]


def execution_match(pred: str, gold: str, data: list[list] | None) -> bool | None:
    """Same format kind and same formatted rows on the item's data (else on probe cells).

    ``data`` is the benchmark's ``Data`` (header row first). Returns None when the gold rule
    itself cannot be executed (the caller falls back to exact match); False when the
    prediction cannot.
    """
    try:
        g = parse(gold)
        rows = [list(r) for r in (data or [])[1:]]
        col = default_column(g)
        col = 1 if col is None else col
        gold_probe = execute(g, rows, col) if rows else None
    except CFRuleError:
        return None
    try:
        p = parse(pred)
    except CFRuleError:
        return False
    if not rows:
        rows = probe_rows(g, p)
        gold_probe = None
    try:
        gold_out = gold_probe or execute(g, rows, col)
    except CFRuleError:
        return None
    try:
        return execute(p, rows, col) == gold_out
    except CFRuleError:
        return False
