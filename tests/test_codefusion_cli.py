import json

import pytest

from treediff.cli import main
from treediff.codefusion.checkpoint import SHIPPED
from treediff.codefusion.metrics import is_valid

HAS_SHIPPED = (SHIPPED / "cf" / "diffusion.json").is_file() and (SHIPPED / "cf" / "ar.json").is_file()


def run(capsys, *argv):
    code = main(["codefusion", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return len(lines) == 1 and lines[0].startswith("treediff: ") and "Traceback" not in err


def test_empty_utterance(capsys):
    code, out, err = run(capsys, "generate", "  ")
    assert code == 2 and one_line_error(err) and "empty utterance" in err


def test_missing_data(capsys, tmp_path):
    code, out, err = run(capsys, "eval", "--lang", "bash", "--data", str(tmp_path))
    assert code == 2 and one_line_error(err)
    assert "BashBenchmarks.json" in err and "microsoft/prose-benchmarks" in err


def test_missing_checkpoint(capsys, tmp_path):
    code, out, err = run(capsys, "generate", "x", "--checkpoint", str(tmp_path / "nope"))
    assert code == 2 and one_line_error(err)


def test_no_shipped_bash_checkpoint(capsys):
    code, out, err = run(capsys, "generate", "list files", "--lang", "bash")
    assert code == 2 and one_line_error(err) and "no shipped" in err


@pytest.mark.skipif(not HAS_SHIPPED, reason="no shipped CF checkpoint")
def test_wrong_language_checkpoint(capsys):
    code, out, err = run(capsys, "generate", "list files", "--lang", "bash",
                         "--checkpoint", str(SHIPPED / "cf" / "diffusion"))
    assert code == 2 and one_line_error(err) and "for language 'cf', not 'bash'" in err


@pytest.mark.skipif(not HAS_SHIPPED, reason="no shipped CF checkpoint")
def test_long_utterance_is_truncated_with_warning(capsys):
    code, out, err = run(capsys, "generate", "color the cells " * 60, "-k", "2")
    assert code == 0 and "truncated" in err and len(out.splitlines()) >= 1


@pytest.mark.skipif(not HAS_SHIPPED, reason="no shipped CF checkpoint")
@pytest.mark.parametrize("model", ["diffusion", "ar"])
def test_shipped_generate_k_distinct_ranked(capsys, model):
    argv = ["generate", "Color cells that are greater than 85 and smaller than 15", "-k", "5", "--json",
            "--model", model, "--seed", "3"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    res = json.loads(out)
    codes = [c["code"] for c in res["candidates"]]
    scores = [c["score"] for c in res["candidates"]]
    assert len(codes) == 5 and len(set(codes)) == 5
    # rules that parse first, each group best first by the model's own score
    valid = [is_valid(c, "cf") for c in codes]
    assert valid == sorted(valid, reverse=True) and valid[0]
    for group in (True, False):
        ranked = [s for s, v in zip(scores, valid) if v == group]
        assert ranked == sorted(ranked, reverse=True)
    assert run(capsys, *argv)[1] == out  # same seed, same output
    code, plain, _ = run(capsys, *[a for a in argv if a != "--json"])
    assert code == 0 and len(plain.splitlines()) == 5
