"""A Lark grammar file turned into the tables the rest of treediff needs.

Lark parses and validates the ``.lark`` file; from its compiled rules we build a
*normalised* grammar in which every alternative has its own alias and no rule is inlined,
so a Lark parse tree maps one-to-one onto a derivation tree (`Node`). Terminals must match
a finite set of strings (numbers are range-checked by the grammar itself, e.g.
``NUM: "0".."9"``): the sampler enumerates them and the policy gets one vocabulary entry per
(terminal, text) pair, so decoding can never produce an out-of-range value.

Grammar files can carry directives in comments, read by treediff and ignored by Lark::

    // treediff: start = s
    // treediff: primitives = circle quad
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import lark
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import TreediffError

try:  # Python >= 3.11 moved the regex parser
    import re._parser as sre_parse
    import re._constants as sre_constants
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants
    import sre_parse

#: Largest primitive count the sampler's feasibility tables track.
MAX_PRIMITIVES = 32
#: A terminal may match at most this many strings (one vocabulary entry each).
MAX_TERMINAL_VALUES = 512

_DIRECTIVE = re.compile(r"^\s*//\s*treediff:\s*(\w+)\s*=\s*(.*?)\s*$", re.MULTILINE)
_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]},")


class GrammarFileError(TreediffError):
    """The grammar file itself is wrong (syntax, unsupported construct, missing directive)."""


class ProgramSyntaxError(TreediffError):
    """A program does not parse under its grammar."""


@dataclass(frozen=True)
class Terminal:
    name: str
    values: tuple[str, ...]  # every string the terminal matches, sorted
    literal: bool  # a fixed keyword or punctuation mark (one value, written in the rules)


def ordinal_order(term: Terminal) -> list[str] | None:
    """The terminal's values in their natural order when they have one, else None.

    Values that are all integers ("0".."15") order numerically; values that are all single
    letters or digits (ranges such as "0".."9" | "A".."F", or "G".."N") order by character.
    Words (colours) and punctuation have no order. Fewer than three values: no order worth
    using. Read from the values only, so grammar files need no extra directive.
    """
    values = list(term.values)
    if term.literal or len(values) < 3:
        return None
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    if all(len(v) == 1 and v.isalnum() for v in values):
        return sorted(values)
    return None


@dataclass(frozen=True)
class Alternative:
    index: int
    origin: int  # nonterminal id
    symbols: tuple[tuple[bool, int], ...]  # (is_nonterminal, id) in order
    primitive: bool  # deriving this alternative creates one primitive


class Node:
    """One nonterminal occurrence in a derivation tree.

    ``children`` holds child `Node`s and vocabulary ids (ints) for tokens. Nodes are
    immutable and share unchanged subtrees between programs, so an edit copies only the
    path from the root to the edited place.
    """

    __slots__ = ("nt", "alt", "children", "prims", "ntokens")

    def __init__(self, nt: int, alt: int, children: tuple, primitive: bool):
        self.nt = nt
        self.alt = alt
        self.children = children
        prims = 1 if primitive else 0
        ntokens = 0
        for child in children:
            if type(child) is int:
                ntokens += 1
            else:
                prims += child.prims
                ntokens += child.ntokens
        self.prims = prims
        self.ntokens = ntokens

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        return (
            isinstance(other, Node)
            and self.alt == other.alt
            and self.ntokens == other.ntokens
            and self.children == other.children
        )

    def __hash__(self) -> int:
        return hash((self.alt, self.children))

    def __repr__(self) -> str:
        return f"Node(nt={self.nt}, alt={self.alt}, prims={self.prims}, ntokens={self.ntokens})"


@dataclass(frozen=True)
class Site:
    """A place an edit can replace: a subtree (`nt` >= 0) or a variable token (`terminal` >= 0).

    ``path`` is the sequence of child indices from the root; ``start``/``end`` the token span.
    Unit chains (a node whose only child spans the same tokens) count once, as the outermost
    node, so every site has a distinct (start, end, kind).
    """

    path: tuple[int, ...]
    start: int
    end: int
    nt: int  # -1 for a token site
    terminal: int  # -1 for a subtree site
    prims: int


def enumerate_regex(pattern: str, limit: int = MAX_TERMINAL_VALUES) -> list[str] | None:
    """All strings a regular expression matches, or None if infinite or more than `limit`."""

    def seq(items) -> set[str] | None:
        out = {""}
        for op, arg in items:
            part = atom(op, arg)
            if part is None:
                return None
            out = {a + b for a in out for b in part}
            if len(out) > limit:
                return None
        return out

    def atom(op, arg) -> set[str] | None:
        if op is sre_constants.LITERAL:
            return {chr(arg)}
        if op is sre_constants.IN:
            chars: set[str] = set()
            for sub_op, sub_arg in arg:
                if sub_op is sre_constants.LITERAL:
                    chars.add(chr(sub_arg))
                elif sub_op is sre_constants.RANGE:
                    chars.update(chr(c) for c in range(sub_arg[0], sub_arg[1] + 1))
                else:  # NEGATE, CATEGORY (\d, \w): not a finite set we want to enumerate
                    return None
            return chars
        if op is sre_constants.BRANCH:
            out: set[str] = set()
            for branch in arg[1]:
                part = seq(branch)
                if part is None:
                    return None
                out |= part
            return out
        if op is sre_constants.SUBPATTERN:
            return seq(arg[-1])
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, body = arg
            if high is sre_constants.MAXREPEAT or high > 16:
                return None
            inner = seq(body)
            if inner is None:
                return None
            out, cur = set(), {""}
            for count in range(high + 1):
                if count >= low:
                    out |= cur
                if count < high:
                    cur = {a + b for a in cur for b in inner}
                if len(out) > limit or len(cur) > limit:
                    return None
            return out
        if op is sre_constants.AT:
            return {""}
        return None

    result = seq(sre_parse.parse(pattern))
    if result is None or len(result) > limit:
        return None
    return sorted(result)


def _lark_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex_body(pattern: str) -> str:
    """A regex written between slashes in a .lark file (no raw newlines or slashes)."""
    for raw, escaped in (("/", "\\/"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\f", "\\f")):
        pattern = pattern.replace(raw, escaped)
    return pattern


def _one_line(err: Exception) -> str:
    """Lark's grammar error on one line; a message ending in ':' keeps the list that follows."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    message = lines[0] if lines else type(err).__name__
    if message.endswith(":") and len(lines) > 1:
        message += " " + "; ".join(line.lstrip("- ") for line in lines[1:])
    if "collision" in message:
        message = "treediff needs an LALR(1) grammar: " + message
    return message


def _values_text(term: Terminal) -> str:
    values = term.values
    return " ".join(values) if len(values) <= 10 else " ".join(values[:3]) + " ... " + values[-1]


def _explain_parse_error(err: UnexpectedInput, text: str, expected_names) -> str:
    line, col = getattr(err, "line", -1), getattr(err, "column", -1)
    where = f"line {line}, column {col}" if line and line > 0 else "end of input"
    if isinstance(err, UnexpectedCharacters):
        word = re.match(r"[^\s()\[\]{},]+", text[err.pos_in_stream:]) if 0 <= err.pos_in_stream < len(text) else None
        got = repr(word.group() if word else text[err.pos_in_stream]) if 0 <= err.pos_in_stream < len(text) \
            else "end of input"
        allowed = sorted(expected_names(err.allowed or ()))
    elif isinstance(err, UnexpectedToken):
        got = "end of input" if err.token.type == "$END" else repr(str(err.token))
        allowed = sorted(expected_names(err.expected or ()))
    elif isinstance(err, UnexpectedEOF):
        got, where = "end of input", "end of input"
        allowed = sorted(expected_names(err.expected or ()))
    else:
        return str(err).splitlines()[0]
    allowed = allowed or ["end of input"]
    shown = ", ".join(allowed[:12]) + (", ..." if len(allowed) > 12 else "")
    return f"at {where}: unexpected {got}; expected one of: {shown}"


class Grammar:
    """Tables derived from one ``.lark`` grammar: rules, vocabulary, primitive costs, parser."""

    def __init__(self, text: str, *, name: str = "grammar", path: str | None = None,
                 start: str | None = None, primitives: tuple[str, ...] | None = None,
                 import_paths: tuple[str, ...] = ()):
        self.name = name
        self.path = path
        self.text = text
        self.hash = hashlib.sha256(text.encode()).hexdigest()[:16]
        directives = {key: value for key, value in _DIRECTIVE.findall(text)}
        self.start_name = start or directives.get("start", "start")
        primitive_names = primitives or tuple(directives.get("primitives", "").split())
        where = path or name
        try:
            source = lark.Lark(text, parser="lalr", start=self.start_name, keep_all_tokens=True,
                               import_paths=list(import_paths))
        except LarkError as err:
            raise GrammarFileError(f"{where}: {_one_line(err)}") from None
        self._build_tables(source, primitive_names, where)
        self._build_parser(where)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> "Grammar":
        path = Path(path)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise GrammarFileError(f"cannot read grammar file {path}: {err}") from None
        return cls(text, name=path.stem, path=str(path), import_paths=(str(path.parent),), **kwargs)

    # ----------------------------------------------------------------- tables
    def _build_tables(self, source: lark.Lark, primitive_names, where: str) -> None:
        nt_names: list[str] = []
        nt_index: dict[str, int] = {}
        for rule in source.rules:
            if rule.origin.name not in nt_index:
                nt_index[str(rule.origin.name)] = len(nt_names)
                # Plain str: Lark's Token compares in Python, which renderers feel per node.
                nt_names.append(str(rule.origin.name))
        unknown = [p for p in primitive_names if p not in nt_index]
        if unknown:
            raise GrammarFileError(f"{where}: primitive rule(s) {', '.join(unknown)} not in the grammar "
                                   f"(rules: {', '.join(nt_names)})")
        if not primitive_names:
            raise GrammarFileError(f"{where}: declare which rules are primitives with a line "
                                   f"'// treediff: primitives = rule1 rule2'")
        ignore = set(source.ignore_tokens)
        self.ignore_patterns = [t.pattern for t in source.terminals if t.name in ignore]
        terminals: list[Terminal] = []
        term_index: dict[str, int] = {}
        self._term_priority: list[int] = []
        for term in source.terminals:
            if term.name in ignore:
                continue
            if isinstance(term.pattern, lark.lexer.PatternStr):
                values, literal = (term.pattern.value,), True
            else:
                found = enumerate_regex(term.pattern.value)
                if found is None:
                    raise GrammarFileError(
                        f"{where}: terminal {term.name} matches infinitely many (or over "
                        f"{MAX_TERMINAL_VALUES}) strings; give it a finite range such as \"0\"..\"9\"")
                values, literal = tuple(found), False
            term_index[term.name] = len(terminals)
            terminals.append(Terminal(term.name, values, literal))
            self._term_priority.append(term.priority)
        alternatives: list[Alternative] = []
        primitive_set = set(primitive_names)
        for rule in source.rules:
            if not rule.expansion:
                raise GrammarFileError(f"{where}: rule {rule.origin.name} has an empty alternative; "
                                       f"treediff needs every alternative to produce at least one token")
            symbols = tuple((isinstance(s, lark.grammar.NonTerminal),
                             nt_index[s.name] if isinstance(s, lark.grammar.NonTerminal) else term_index[s.name])
                            for s in rule.expansion)
            alternatives.append(Alternative(len(alternatives), nt_index[rule.origin.name], symbols,
                                            rule.origin.name in primitive_set))
        self.nonterminals = nt_names
        self.nt_index = nt_index
        self.terminals = terminals
        self.term_index = term_index
        self.alternatives = alternatives
        self.primitives = tuple(primitive_names)
        self.alts_of: list[list[int]] = [[] for _ in nt_names]
        for alt in alternatives:
            self.alts_of[alt.origin].append(alt.index)
        # Vocabulary: one id per (terminal, text); ids 0..3 are reserved for the networks.
        self.specials = ("<pad>", "<bos>", "<eos>", "<sep>")
        self.vocab: list[tuple[int, str]] = [(-1, s) for s in self.specials]
        self.token_id: dict[tuple[int, str], int] = {}
        for t_idx, term in enumerate(terminals):
            for value in term.values:
                self.token_id[(t_idx, value)] = len(self.vocab)
                self.vocab.append((t_idx, value))
        self.token_text = [text for _, text in self.vocab]
        self.token_terminal = [t for t, _ in self.vocab]
        self.terminal_token_ids = [[self.token_id[(i, v)] for v in term.values] for i, term in enumerate(terminals)]
        self._compute_feasibility()
        if self.start_name not in nt_index:
            raise GrammarFileError(f"{where}: start rule '{self.start_name}' not found")
        self.start = nt_index[self.start_name]
        if not self.feasible[self.start] >> 1:
            raise GrammarFileError(f"{where}: the start rule cannot derive a program with a primitive")

    def _compute_feasibility(self) -> None:
        """feasible[nt]: bitmask of the primitive counts nt can derive (<= MAX_PRIMITIVES).

        Computed as a least fixed point; it drives exact-count sampling and min costs.
        """
        full = (1 << (MAX_PRIMITIVES + 1)) - 1
        feasible = [0] * len(self.nonterminals)

        def conv(a: int, b: int) -> int:
            out, i = 0, 0
            while a:
                if a & 1:
                    out |= b << i
                a >>= 1
                i += 1
            return out & full

        changed = True
        while changed:
            changed = False
            for alt in self.alternatives:
                mask = 1
                for is_nt, idx in alt.symbols:
                    if is_nt:
                        mask = conv(mask, feasible[idx])
                if alt.primitive:
                    mask = (mask << 1) & full
                new = feasible[alt.origin] | mask
                if new != feasible[alt.origin]:
                    feasible[alt.origin] = new
                    changed = True
        unproductive = [self.nonterminals[i] for i, m in enumerate(feasible) if m == 0]
        if unproductive:
            raise GrammarFileError(f"{self.path or self.name}: rule(s) {', '.join(unproductive)} "
                                   f"can never finish (every alternative recurses forever)")
        self.feasible = feasible
        self.alt_feasible: list[int] = []
        # suffix[alt][i]: counts achievable by the nonterminal symbols from position i on.
        self.alt_suffix: list[list[int]] = []
        for alt in self.alternatives:
            suffix = [1] * (len(alt.symbols) + 1)
            for i in range(len(alt.symbols) - 1, -1, -1):
                is_nt, idx = alt.symbols[i]
                suffix[i] = conv(suffix[i + 1], feasible[idx]) if is_nt else suffix[i + 1]
            self.alt_suffix.append(suffix)
            own = (suffix[0] << 1) & full if alt.primitive else suffix[0]
            self.alt_feasible.append(own)
        self.min_cost = [(m & -m).bit_length() - 1 for m in feasible]
        # Minimum derivation height, used to cut off zero-primitive recursion when sampling.
        height = [10**9] * len(self.nonterminals)
        changed = True
        while changed:
            changed = False
            for alt in self.alternatives:
                h = 1 + max((height[idx] for is_nt, idx in alt.symbols if is_nt), default=0)
                if h < height[alt.origin]:
                    height[alt.origin] = h
                    changed = True
        self.min_height = height
        self.alt_height = [1 + max((height[idx] for is_nt, idx in alt.symbols if is_nt), default=0)
                           for alt in self.alternatives]

    def counts(self, nt: int) -> list[int]:
        """The primitive counts (<= MAX_PRIMITIVES) that nonterminal `nt` can derive."""
        mask = self.feasible[nt]
        return [k for k in range(MAX_PRIMITIVES + 1) if mask >> k & 1]

    # ----------------------------------------------------------------- parser
    def _build_parser(self, where: str) -> None:
        """A Lark LALR parser for the normalised grammar: one alias per alternative."""
        lines = []
        for nt, name in enumerate(self.nonterminals):
            alts = []
            for a in self.alts_of[nt]:
                parts = [f"n{i}" if is_nt else f"T{i}" for is_nt, i in self.alternatives[a].symbols]
                alts.append(" ".join(parts) + f" -> a{a}")
            lines.append(f"n{nt}: " + "\n    | ".join(alts))
        for i, term in enumerate(self.terminals):
            prio = f".{self._term_priority[i]}" if self._term_priority[i] != 0 else ""
            if term.literal:
                lines.append(f"T{i}{prio}: {_lark_string(term.values[0])}")
            else:
                lines.append(f"T{i}{prio}: " + " | ".join(_lark_string(v) for v in term.values))
        for j, pattern in enumerate(self.ignore_patterns):
            body = _lark_string(pattern.value) if isinstance(pattern, lark.lexer.PatternStr) \
                else "/" + _regex_body(pattern.value) + "/" + "".join(pattern.flags)
            lines.append(f"IGNORED{j}: {body}")
            lines.append(f"%ignore IGNORED{j}")
        self.normalised_text = "\n".join(lines) + "\n"
        try:
            self.lark = lark.Lark(self.normalised_text, parser="lalr", keep_all_tokens=True,
                                  start=[f"n{i}" for i in range(len(self.nonterminals))])
        except LarkError as err:
            raise GrammarFileError(f"{where}: treediff needs an LALR(1) grammar: {_one_line(err)}") from None

    def _expected_names(self, names) -> list[str]:
        out = set()
        for name in names:
            if name.startswith("T") and name[1:].isdigit():
                term = self.terminals[int(name[1:])]
                out.add(repr(term.values[0]) if term.literal else f"{term.name} ({_values_text(term)})")
            elif name == "$END":
                out.add("end of input")
            else:
                out.add(name)
        return sorted(out)

    def parse(self, text: str, nt: int | str | None = None) -> Node:
        """Parse program text into a derivation tree (from the start rule or nonterminal `nt`)."""
        if nt is None:
            nt = self.start
        elif isinstance(nt, str):
            nt = self.nt_index[nt]
        try:
            tree = self.lark.parse(text, start=f"n{nt}")
        except UnexpectedInput as err:
            raise ProgramSyntaxError(
                f"program does not parse ({self.name}) " + _explain_parse_error(err, text, self._expected_names)
                + self._run_together_hint(text)
            ) from None
        return self._from_lark(tree)

    def _run_together_hint(self, text: str) -> str:
        """Explain values written without a space, e.g. '10' where a number is one digit.

        Such text lexes as two valid tokens, so the parser only fails later, somewhere
        else; naming the run-together word is what tells the user what is wrong.
        """
        try:
            tokens = list(self.lark.lex(text))
        except LarkError:
            return ""
        for a, b in zip(tokens, tokens[1:]):
            if a.end_pos == b.start_pos and a.type[1:].isdigit() and b.type[1:].isdigit():
                first, second = self.terminals[int(a.type[1:])], self.terminals[int(b.type[1:])]
                if not first.literal and not second.literal:
                    return (f" ('{text[a.start_pos:b.end_pos]}' at column {a.column} is not a single value: "
                            f"{first.name} is one of {_values_text(first)})")
        return ""

    def _from_lark(self, tree) -> Node:
        alt = self.alternatives[int(tree.data[1:])]
        children = []
        for child, (is_nt, idx) in zip(tree.children, alt.symbols):
            if is_nt:
                children.append(self._from_lark(child))
            else:
                children.append(self.token_id[(idx, str(child))])
        return Node(alt.origin, alt.index, tuple(children), alt.primitive)

    def check(self, text: str) -> bool:
        try:
            self.parse(text)
        except ProgramSyntaxError:
            return False
        return True

    # --------------------------------------------------------------- tokens
    def tokens(self, node: Node) -> list[int]:
        out: list[int] = []
        stack = [node]
        while stack:
            item = stack.pop()
            if type(item) is int:
                out.append(item)
            else:
                stack.extend(reversed(item.children))
        return out

    def detokenize(self, ids) -> str:
        """Token ids to text; whitespace is implied: one space between tokens except inside brackets."""
        parts: list[str] = []
        prev = ""
        for i in ids:
            text = self.token_text[i]
            if parts and prev[-1:] not in _OPENERS and text[:1] not in _CLOSERS:
                parts.append(" ")
            parts.append(text)
            prev = text
        return "".join(parts)

    def unparse(self, node: Node) -> str:
        return self.detokenize(self.tokens(node))

    def build(self, alt: int, children) -> Node:
        a = self.alternatives[alt]
        return Node(a.origin, alt, tuple(children), a.primitive)

    # ---------------------------------------------------------------- sites
    def sites(self, root: Node) -> list[Site]:
        """Every place an edit may replace, in pre-order (see `Site`)."""
        out: list[Site] = []

        def walk(node: Node, path: tuple, start: int, unit_parent: bool) -> None:
            if not unit_parent:
                out.append(Site(path, start, start + node.ntokens, node.nt, -1, node.prims))
            only_child = len(node.children) == 1
            pos = start
            for i, child in enumerate(node.children):
                if type(child) is int:
                    term = self.token_terminal[child]
                    if not only_child and len(self.terminals[term].values) > 1:
                        out.append(Site(path + (i,), pos, pos + 1, -1, term, 0))
                    pos += 1
                else:
                    walk(child, path + (i,), pos, only_child)
                    pos += child.ntokens

        walk(root, (), 0, False)
        return out

    def hoists(self, root: Node) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(path, sub_path) pairs such that replacing the subtree at `path` by its descendant
        at `sub_path` is a valid, smaller program: the descendant is a nearest one deriving
        from the same nonterminal (an operand of a union, the child of a move). Search uses
        them to try a program without each of its parts."""
        subtrees = [s for s in self.sites(root) if s.nt >= 0]
        pairs = []
        for i, outer in enumerate(subtrees):
            n = len(outer.path)
            inner = [s for s in subtrees[i + 1:] if s.nt == outer.nt and s.path[:n] == outer.path]
            for s in inner:  # nearest only: no other same-nonterminal site in between
                if not any(t is not s and t.path == s.path[:len(t.path)] for t in inner):
                    pairs.append((outer.path, s.path))
        return pairs

    @staticmethod
    def get(root: Node, path: tuple[int, ...]):
        node = root
        for i in path:
            node = node.children[i]
        return node

    def replace(self, root: Node, path: tuple[int, ...], new) -> Node:
        """A new tree with the item at `path` replaced by `new` (a Node or a token id).

        When `path` names the outermost node of a unit chain, `new` (derived from that
        node's nonterminal) replaces the whole chain, which keeps every result valid.
        """
        if not path:
            return new
        children = list(root.children)
        children[path[0]] = self.replace(root.children[path[0]], path[1:], new)
        a = self.alternatives[root.alt]
        return Node(root.nt, root.alt, tuple(children), a.primitive)

    @cached_property
    def summary(self) -> dict:
        """What treediff derived from the grammar, for `treediff check-grammar` and `domains`."""
        return {
            "name": self.name,
            "path": self.path,
            "hash": self.hash,
            "start": self.start_name,
            "rules": {name: [" ".join(
                (self.nonterminals[i] if is_nt else
                 (repr(self.terminals[i].values[0]) if self.terminals[i].literal else self.terminals[i].name))
                for is_nt, i in self.alternatives[a].symbols) for a in self.alts_of[nt]]
                for nt, name in enumerate(self.nonterminals)},
            "primitives": list(self.primitives),
            "min_primitive_cost": {name: self.min_cost[nt] for nt, name in enumerate(self.nonterminals)},
            "terminal_values": {t.name: list(t.values) for t in self.terminals if not t.literal},
            "vocab_size": len(self.vocab),
        }
