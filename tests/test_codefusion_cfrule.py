import json
from pathlib import Path

import pytest

from treediff.codefusion.cfrule import CFRuleError, execute, execution_match, is_valid, parse, type_error

DATA = Path(__file__).resolve().parents[2] / "shared/datasets/codefusion/CFRuleBenchmarks.json"
ROWS = [[0, "5"], [1, "12"], [2, "apple pie"], [3, ""], [4, "12"], [5, "Apple"], [6, "#N/A"], [7, "30"]]


def mask(rule, rows=ROWS, col=1):
    return [i for i, b in enumerate(execute(rule, rows, col)[1]) if b]


@pytest.mark.parametrize("rule,expected", [
    ("GreaterThan(10)", [1, 4, 7]),
    ("LessThan(12)", [0]),
    ("GreaterThanEqual(12)", [1, 4, 7]),
    ("Between(30, 6)", [1, 4, 7]),
    ("AND(GreaterThan(5),LessThan(20))", [1, 4]),
    ("OR(Equals(5), TextStartsWith(app))", [0, 2, 5]),
    ("NOT(TextContains(apple))", [0, 1, 3, 4, 6, 7]),
    ("TextEquals(APPLE)", [5]),
    ("TextContains('pie')", [2]),
    ("Blanks()", [3]),
    ("Errors()", [6]),
    ("Duplicate()", [1, 4]),
    ("top(1)", [7]),
    ("bottom(2)", [0, 1, 4]),
    ("top(50%)", [1, 4, 7]),
    ("TopPercent(c[1], 50)", [1, 4, 7]),
    ("aboveAverage()", [7]),
    ("BelowAverage(c[1])", [0, 1, 4]),
    ("GreaterThan(LEN(c[1]), 4)", [2, 5]),
    ("LessThan(c[1], c[0])", []),
    ("GreaterThan(c[1], c[0])", [0, 1, 4, 7]),
])
def test_hand_made_rules(rule, expected):
    assert mask(rule) == expected


def test_scales_are_their_own_kind():
    kind, m = execute("ColorScale()", ROWS, 1)
    assert kind == "colorscale" and m[3] is False and m[0] is True
    assert execute("DataBar()", ROWS, 1)[0] == "databar"


def test_invalid_rules():
    for bad in ["", "--", "$A2=$A3", "GreaterThan(5", "Foo(3)", "SUMPRODUCT(($D4<=$E$4))>1"]:
        assert not is_valid(bad)
        with pytest.raises(CFRuleError):
            parse(bad)
    with pytest.raises(CFRuleError):
        execute("Between(3)", ROWS, 1)


@pytest.mark.parametrize("rule", ["GreaterThan(60)", "GreaterThan(c[2], 4000)", "GreaterThan(LEN(c[0]), 6)",
                                  "Between(-5,5)", "NOT(Between(5,10))", "OR(TextContains(Bull), TextContains(Bear))",
                                  "TextContains(c[1], 'L compatible')", "top(10%)", "Top(c[2], 3)", "bottom()",
                                  "Duplicates(c[0])", "ColorScale()", "DataBar(c[1])", "Equals(c[3], 0)",
                                  "LessThan(c[2], c[1])", "GreaterThan($E$13)", "Blanks()"])
def test_sensible_rules_type_check(rule):
    assert type_error(rule) is None


@pytest.mark.parametrize("rule, problem", [
    ("GreaterThan()", "number"), ("GreaterThan(Excel)", "number"), ("Between(5)", "number"),
    ("TextContains()", "text"), ("TextEquals(' ')", "text"), ("NOT(5)", "condition"),
    ("AND(GreaterThan(1))", "two conditions"), ("NOT(ColorScale())", "inside a condition"),
    ("top(Temperature)", "count"), ("Duplicate(5)", "no value"), ("LEN(c[0])", "condition"),
])
def test_ill_typed_rules_say_why(rule, problem):
    assert is_valid(rule) and problem in type_error(rule)


def test_type_error_on_a_rule_that_does_not_parse():
    with pytest.raises(CFRuleError):
        type_error("GreaterThan(")


def test_execution_match_uses_gold_column_and_probes():
    data = [["Date", "Rep", "Profit"], [0, "a", 5000], [1, "b", 3000], [2, "c", 4500]]
    assert execution_match("GreaterThan(4000)", "GreaterThan(c[2], 4000)", data)
    assert not execution_match("GreaterThan(4600)", "GreaterThan(c[2], 4000)", data)
    # no data rows: synthetic probes still tell constants apart
    assert execution_match("AND(GreaterThan(15),LessThan(85))", "Between(15.0001,84.9999)", [["Index", "Value"]]) is not None
    assert not execution_match("GreaterThan(15)", "GreaterThan(16)", [["Index", "Value"]])
    assert execution_match("top(1)", "Top(1)", [["Index", "Value"]])
    assert execution_match("nonsense(", "top(1)", None) is False
    assert execution_match("top(1)", "--", None) is None


@pytest.mark.skipif(not DATA.is_file(), reason="CodeFusion data not beside the repo")
def test_gold_rules_parse_and_match_their_labels():
    bench = json.loads(DATA.read_text())
    codes = [it["Code"] for split in bench.values() for it in split]
    assert sum(is_valid(c) for c in codes) >= 0.98 * len(codes)
    # Labels (one per data row, after a leading 0) are trustworthy for value and text rules;
    # rank/duplicate rules' labels mark whole ranges and are not checked here.
    families = ("greaterthan", "lessthan", "between", "equals", "textcontains", "textequals", "aboveaverage",
                "belowaverage", "colorscale", "databar", "iconset")
    ok = total = 0
    for it in bench["train"]:
        data, labels = it["Data"], it["Labels"]
        name = it["Code"].split("(")[0].lower()
        if len(data) > 1 and len(labels) == len(data) and name in families and is_valid(it["Code"]):
            got = [int(b) for b in execute(it["Code"], [list(r) for r in data[1:]], 1)[1]]
            ok += got == labels[1:]
            total += 1
    assert total > 300 and ok >= 0.85 * total
    # every executable gold rule execution-matches itself on its own data
    for it in bench["test"]:
        if is_valid(it["Code"]):
            assert execution_match(it["Code"], it["Code"], it["Data"]) in (True, None)
