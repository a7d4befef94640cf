"""Grammar tables from .lark text: terminals, directives, costs, parsing, sites, errors."""

from __future__ import annotations

import pytest

from treediff.domains import builtin_grammar, get_domain
from treediff.grammar import Grammar, GrammarFileError, ProgramSyntaxError, enumerate_regex, ordinal_order

HEADER = "// treediff: start = start\n// treediff: primitives = item\n"


def make(body: str, **kwargs) -> Grammar:
    return Grammar(HEADER + body, **kwargs)


@pytest.fixture(scope="module")
def csg() -> Grammar:
    return get_domain("csg2d").grammar


@pytest.mark.parametrize("pattern,expected", [
    ("[0-3]", ["0", "1", "2", "3"]),
    ("a|bc", ["a", "bc"]),
    ("[ab]{2}", ["aa", "ab", "ba", "bb"]),
    ("x?y", ["xy", "y"]),
    ("(?:re|gre)en", ["green", "reen"]),
])
def test_enumerate_regex_finite(pattern, expected):
    assert enumerate_regex(pattern) == expected


@pytest.mark.parametrize("pattern", ["[0-9]+", r"\d", "[^a]", "a*", "[0-9]{1,5}"])
def test_enumerate_regex_infinite_or_too_many(pattern):
    assert enumerate_regex(pattern) is None


def test_directives_and_tables(csg):
    assert csg.start_name == "s"
    assert csg.primitives == ("circle", "quad")
    assert csg.nonterminals[csg.start] == "s"
    summary = csg.summary
    assert summary["rules"]["circle"] == ["'(' 'Circle' NUM NUM NUM ')'"]
    assert summary["min_primitive_cost"] == {"s": 1, "binop": 2, "circle": 1, "quad": 1}
    assert summary["terminal_values"]["NUM"] == list("0123456789ABCDEF")
    assert summary["terminal_values"]["ANGLE"] == list("GHIJKLMN")
    assert summary["terminal_values"]["OP"] == ["+", "-"]
    assert csg.counts(csg.start)[:5] == [1, 2, 3, 4, 5]
    assert csg.counts(csg.nt_index["binop"])[0] == 2


def test_vocabulary_has_one_id_per_terminal_value(csg):
    assert csg.vocab[:4] == [(-1, "<pad>"), (-1, "<bos>"), (-1, "<eos>"), (-1, "<sep>")]
    num = csg.term_index["NUM"]
    ids = csg.terminal_token_ids[num]
    assert len(ids) == 16 and len(set(ids)) == 16
    assert [csg.token_text[i] for i in ids] == list("0123456789ABCDEF")
    assert len(csg.vocab) == len(set(csg.vocab)) == summary_vocab(csg)


def summary_vocab(g: Grammar) -> int:
    return g.summary["vocab_size"]


def test_parse_builds_the_derivation_tree(csg):
    tree = csg.parse("(+ (Circle 1 2 3) (Quad 4 5 6 7 H))")
    assert tree.prims == 2
    assert csg.nonterminals[tree.nt] == "s"
    binop = tree.children[0]
    assert csg.nonterminals[binop.nt] == "binop"
    assert csg.token_text[binop.children[1]] == "+"
    assert [csg.nonterminals[c.children[0].nt] for c in binop.children[2:4]] == ["circle", "quad"]
    assert tree.ntokens == len(csg.tokens(tree)) == 17


def test_unparse_normalises_whitespace(csg):
    messy = "(  +(Circle 1 2 3)\n\t(Quad 4 5 6 7 H) )"
    assert csg.unparse(csg.parse(messy)) == "(+ (Circle 1 2 3) (Quad 4 5 6 7 H))"


def test_parse_from_a_nonterminal(csg):
    node = csg.parse("(Circle 1 2 3)", "circle")
    assert csg.nonterminals[node.nt] == "circle" and node.prims == 1
    with pytest.raises(ProgramSyntaxError):
        csg.parse("(+ (Circle 1 2 3) (Circle 1 2 3))", "circle")


def test_nodes_compare_and_hash_by_structure(csg):
    a = csg.parse("(- (Circle 1 2 3) (Circle 1 2 4))")
    b = csg.parse("(-   (Circle 1 2 3) (Circle 1 2 4))")
    c = csg.parse("(- (Circle 1 2 3) (Circle 1 2 5))")
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2


@pytest.mark.parametrize("text,where,expected", [
    ("(Circle 1 2)", "line 1, column 12", "NUM"),
    ("(Circle 1 2 G)", "line 1, column 13", "NUM"),
    ("(Circle 1 2 3", "end of input", "')'"),
    ("(* (Circle 1 2 3) (Circle 1 2 3))", "line 1, column 2", "OP"),
    ("(Square 1 2 3)", "line 1, column 2", "'Circle'"),
    ("(Circle 1 2 3) (Circle 1 2 3)", "line 1, column 16", "end of input"),
    ("", "end of input", "'('"),
])
def test_parse_errors_name_the_place_and_what_was_expected(csg, text, where, expected):
    with pytest.raises(ProgramSyntaxError) as info:
        csg.parse(text)
    message = str(info.value)
    assert "\n" not in message
    assert where in message
    assert "expected one of:" in message and expected in message.split("expected one of:")[1]
    assert not csg.check(text)


def test_sites_cover_every_editable_place(csg):
    tree = csg.parse("(+ (Circle 1 2 3) (Quad 4 5 6 7 H))")
    sites = csg.sites(tree)
    tokens = csg.tokens(tree)
    subtree = [s for s in sites if s.nt >= 0]
    token = [s for s in sites if s.nt < 0]
    # root, the two shapes; OP, 3 + 4 NUMs, ANGLE. Literal tokens ("(", "Circle") are not sites.
    assert len(subtree) == 3 and len(token) == 9
    assert len({(s.start, s.end, s.nt < 0) for s in sites}) == len(sites)
    assert subtree[0].path == () and subtree[0].prims == 2 and (subtree[0].start, subtree[0].end) == (0, 17)
    for s in sites:
        item = csg.get(tree, s.path)
        if s.nt >= 0:
            assert csg.tokens(item) == tokens[s.start:s.end]
            assert item.nt == s.nt and item.prims == s.prims
        else:
            assert s.end == s.start + 1 and item == tokens[s.start]
            assert csg.token_terminal[item] == s.terminal


def test_replace_copies_only_the_path(csg):
    tree = csg.parse("(+ (Circle 1 2 3) (Quad 4 5 6 7 H))")
    circle_site = next(s for s in csg.sites(tree) if s.nt >= 0 and s.prims == 1)
    new = csg.replace(tree, circle_site.path, csg.parse("(Circle F F F)"))
    assert csg.unparse(new) == "(+ (Circle F F F) (Quad 4 5 6 7 H))"
    assert csg.unparse(tree) == "(+ (Circle 1 2 3) (Quad 4 5 6 7 H))"  # unchanged
    assert new.children[0].children[3] is tree.children[0].children[3]  # shared
    assert new.prims == 2 and new.ntokens == tree.ntokens
    angle = next(s for s in csg.sites(tree) if s.terminal == csg.term_index["ANGLE"])
    turned = csg.replace(tree, angle.path, csg.token_id[(angle.terminal, "N")])
    assert csg.unparse(turned) == "(+ (Circle 1 2 3) (Quad 4 5 6 7 N))"


def test_feasible_counts_follow_the_rules():
    pairs = make('start: "[" items "]"\nitems: item item | item item items\nitem: "x"\n')
    assert pairs.counts(pairs.start)[:4] == [2, 4, 6, 8]
    assert pairs.min_cost[pairs.nt_index["items"]] == 2
    exact = make('start: "(" item item item ")"\nitem: "x" | "y"\n')
    assert exact.counts(exact.start) == [3]


def test_zero_primitive_rules_have_min_cost_zero():
    g = make('start: "(" item tail ")"\ntail: "." | "," tail\nitem: "x"\n%ignore " "\n')
    assert g.min_cost[g.nt_index["tail"]] == 0
    assert g.counts(g.start) == [1]
    text = g.unparse(g.parse("( x , , . )"))
    assert text.replace(" ", "") == "(x,,.)" and g.unparse(g.parse(text)) == text


def test_shared_terminals_can_be_imported_from_a_sibling_file(tmp_path):
    (tmp_path / "shared.lark").write_text('DIGIT: "0".."3"\n')
    (tmp_path / "main.lark").write_text(HEADER + 'start: item | item start\nitem: "d" DIGIT\n'
                                        "%import shared.DIGIT\n%ignore \" \"\n")
    g = Grammar.from_file(tmp_path / "main.lark")
    assert g.summary["terminal_values"]["DIGIT"] == ["0", "1", "2", "3"]
    assert g.unparse(g.parse("d 1 d 3")) == "d 1 d 3"
    assert g.path == str(tmp_path / "main.lark") and g.name == "main"


def test_keyword_arguments_override_directives():
    g = Grammar('start: a | b\na: "a"\nb: "b"\n', start="start", primitives=("a",))
    assert g.primitives == ("a",)
    assert g.counts(g.start) == [0, 1]


def test_grammar_hash_tracks_the_text(csg):
    text = builtin_grammar("csg2d.lark").read_text()
    assert Grammar(text).hash == csg.hash
    assert Grammar(text + "\n// a comment\n").hash != csg.hash


@pytest.mark.parametrize("body,reason", [
    ('start: item\nitem: "x" NUM\nNUM: /[0-9]+/\n', "infinitely many"),
    ('start: item\nitem: "x" |\n', "empty alternative"),
    ('start: item\nitem: "(" item ")"\n', "can never finish"),
    ('start: item\nitem: "x" other\n', "other"),
    ('start: item | other\nitem: "x"\nother: "x"\n', "LALR(1) grammar: Reduce/Reduce collision"),
    ('start: item | other\nitem: "x"\nother: "x"\n', "<other : X>"),
    ('start: item\nitem: "x" NUM\nNUM: "0" ..\n', "line 5"),
])
def test_bad_grammar_files_say_why(body, reason):
    with pytest.raises(GrammarFileError) as info:
        make(body)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)


def test_directive_problems_are_reported():
    with pytest.raises(GrammarFileError, match="declare which rules are primitives"):
        Grammar('start: "x"\n')
    with pytest.raises(GrammarFileError, match="primitive rule.*shape.*not in the grammar"):
        Grammar('// treediff: primitives = shape\nstart: "x"\n')
    with pytest.raises(GrammarFileError):
        Grammar('// treediff: primitives = item\n// treediff: start = top\nstart: item\nitem: "x"\n')
    with pytest.raises(GrammarFileError, match="cannot read grammar file"):
        Grammar.from_file("/nonexistent/dsl.lark")


def test_out_of_range_values_are_named(csg):
    with pytest.raises(ProgramSyntaxError) as info:
        csg.parse("(Circle 10 8 8)")  # lexes as 1 0 8, then fails at the last 8
    assert "'10' at column 9 is not a single value: NUM is one of 0 1 2 ... F" in str(info.value)
    with pytest.raises(ProgramSyntaxError) as info:
        csg.parse("(Quad 1 2 3 4 Z)")
    assert "unexpected 'Z'; expected one of: ANGLE (G H I J K L M N)" in str(info.value)
    tiny = get_domain("tinysvg").grammar
    with pytest.raises(ProgramSyntaxError) as info:
        tiny.parse("(Rect 4 4 pink black 1)")
    assert "unexpected 'pink'" in str(info.value) and "COLOR (black blue green" in str(info.value)


def test_ordinal_order_is_read_from_the_values():
    """Number-like terminals have a natural order (used to smooth number targets); words do not."""
    by_name = {t.name: t for t in get_domain("csg2d").grammar.terminals}
    assert ordinal_order(by_name["NUM"]) == list("0123456789ABCDEF")
    assert ordinal_order(by_name["ANGLE"]) == list("GHIJKLMN")
    assert ordinal_order(by_name["OP"]) is None
    tiny = {t.name: t for t in get_domain("tinysvg").grammar.terminals}
    assert ordinal_order(tiny["COLOR"]) is None and ordinal_order(tiny["DIRECTION"]) is None
    g = Grammar('// treediff: primitives = n\nstart: n+\nn: N\nN: "2" | "10" | "9" | "-1"\n%ignore " "\n')
    assert ordinal_order(next(t for t in g.terminals if t.name == "N")) == ["-1", "2", "9", "10"]
