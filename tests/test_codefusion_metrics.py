import pytest

from treediff.codefusion.metrics import (
    bash_template, diversity, edit_distance, exact_match, is_valid, item_scores, sentence_bleu, template_match,
)


def test_exact_match_normalisation():
    assert exact_match("AND( GreaterThan(3) , lessthan(5) )", "AND(GreaterThan(3),LessThan(5))", "cf")
    assert not exact_match("GreaterThan(3)", "GreaterThan(4)", "cf")
    assert exact_match("x=[1,2]", "x = [1, 2]", "python")
    assert exact_match("ls   -l", "ls -l", "bash")


def test_bash_template():
    assert bash_template("find . -name '*.txt' | wc -l") == "find ARG -name ARG | wc -l"
    assert template_match("find /tmp -name a.txt", "find . -name '*.py'")
    assert not template_match("find . -type f", "find . -name x")
    assert template_match("ls -l >out", "ls -l > other")
    # a negative number is a value, not a flag (NL2Bash: "find . -mtime -14 -ls")
    assert template_match("find . -mtime -14 -ls", "find /home -mtime +3 -ls")
    assert template_match("find . -mtime -14 -ls | sort", "find . -mtime 2 -ls | sort")


def test_bleu_and_distance():
    assert sentence_bleu("x = a + b", "x = a + b") == pytest.approx(1.0)
    assert sentence_bleu("foo", "bar baz") == 0.0
    assert 0 < sentence_bleu("x = a + c", "x = a + b") < 1
    assert edit_distance("kitten", "sitting") == 3


def test_diversity():
    same = diversity(["top(1)"] * 5)
    assert same["edit_distance"] == 0.0 and same["distinct_1"] == pytest.approx(4 / 20)
    diff = diversity(["top(1)", "Blanks()"])
    assert diff["distinct_1"] == pytest.approx(5 / 7) and diff["edit_distance"] > 0.5


def test_validity():
    assert is_valid("top(10%)", "cf") and not is_valid("top(10%", "cf")
    assert is_valid("ls -l | grep x", "bash") and not is_valid("ls |", "bash")
    assert is_valid("x = 1", "python") and not is_valid("x = (", "python")
    assert not is_valid("", "python")


def test_item_scores():
    item = {"Code": "GreaterThan(c[2], 4000)", "Data": [["D", "R", "P"], [0, "a", 5000], [1, "b", 100]]}
    assert item_scores("GreaterThan(4000)", item, "cf") == {"exact": 0.0, "execution": 1.0}
    assert item_scores("ls -a", {"Code": "ls -l"}, "bash") == {"exact": 0.0, "template": 0.0}
    assert item_scores("x = 1", {"Code": "x=1"}, "python")["exact"] == 1.0


def test_grammar_first_ranks_parsing_candidates_first_and_cuts_trailing_slips():
    from treediff.codefusion.generate import grammar_first

    cands = [("TextContains(Bull)0))", -0.1), ("NOT(Bull", -0.2), ("TextEquals(Bull)", -0.3),
             ("TextContains(Bull)", -0.4)]
    ranked = grammar_first(cands, "cf")
    # the slip is cut to the rule it starts with, which then keeps the better score
    assert ranked == [("TextContains(Bull)", -0.1), ("TextEquals(Bull)", -0.3), ("NOT(Bull", -0.2)]
    # CF: a rule whose arguments do not fit its function goes after the rules that fit,
    # then what `demote` flags, whatever the model's scores
    ranked = grammar_first([("GreaterThan()", -0.1), ("TextContains(60)", -0.2), ("GreaterThan(60)", -0.3),
                            ("nonsense(", -0.05)], "cf", demote=lambda c: c.startswith("Text"))
    assert [c for c, _ in ranked] == ["GreaterThan(60)", "TextContains(60)", "GreaterThan()", "nonsense("]
    # other languages: order by validity only, nothing is cut
    assert [c for c, _ in grammar_first([("print(", -0.1), ("print(1)", -0.5)], "python")] == ["print(1)", "print("]
