import json

import pytest

from treediff.cli import main
from treediff.codefusion.cfrule import type_error
from treediff.codefusion.checkpoint import SHIPPED
from treediff.codefusion.literals import LiteralCodec
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
    # rules that parse first, then those whose arguments fit their functions, then those
    # that neither leave a placeholder unfilled (a value the request does not have) nor
    # ignore the request's values (85, 15); each group best first by the model's own score
    values = ["85", "15"]
    groups = [(not is_valid(c, "cf"), is_valid(c, "cf") and type_error(c) is not None,
               LiteralCodec.has_placeholder(c) or LiteralCodec.ignores_values(c, values)) for c in codes]
    assert groups == sorted(groups) and groups[0] == (False, False, False)
    for group in set(groups):
        ranked = [s for s, g in zip(scores, groups) if g == group]
        assert ranked == sorted(ranked, reverse=True)
    assert run(capsys, *argv)[1] == out  # same seed, same output
    code, plain, _ = run(capsys, *[a for a in argv if a != "--json"])
    assert code == 0 and len(plain.splitlines()) == 5


TINY = ["--vocab-size", "300", "--d-model", "32", "--d-embed", "16", "--n-heads", "2", "--d-ff", "64",
        "--enc-layers", "1", "--den-layers", "1", "--dec-layers", "1", "--max-tgt-len", "16",
        "--batch-size", "4", "--seed", "0"]


@pytest.mark.parametrize("model", ["diffusion", "ar"])
def test_pretrain_finetune_resume_and_eval_a_tiny_model(capsys, tmp_path, model):
    """The training commands end to end on the real CF data: pre-training, fine-tuning from
    it, a resumed run that continues from the saved step (a finished one is left alone),
    and evaluation of the result."""
    from treediff.codefusion.checkpoint import load_checkpoint, read_info

    pre, ft = tmp_path / "pre", tmp_path / "ft"
    assert run(capsys, "pretrain", "--lang", "cf", "--model", model, "--out", str(pre), "--train-steps", "2",
               *TINY)[0] == 0
    assert run(capsys, "train", "--lang", "cf", "--model", model, "--init", str(pre), "--out", str(ft),
               "--train-steps", "2", *TINY)[0] == 0
    first, _, _ = load_checkpoint(ft, lang="cf", kind=model)
    assert read_info(ft)["meta"]["step"] == 2 and read_info(ft)["meta"]["word_dropout"] == 0.15
    code, _, err = run(capsys, "train", "--lang", "cf", "--model", model, "--out", str(ft), "--train-steps", "2",
                       "--resume", *TINY)
    assert code == 0 and "already at step 2" in err
    assert run(capsys, "train", "--lang", "cf", "--model", model, "--out", str(ft), "--train-steps", "3",
               "--resume", *TINY)[0] == 0
    assert read_info(ft)["meta"]["step"] == 3
    resumed, _, _ = load_checkpoint(ft, lang="cf", kind=model)
    assert any(not (a == b).all() for a, b in zip(first.state_dict().values(), resumed.state_dict().values()))
    code, out, _ = run(capsys, "eval", "--lang", "cf", "--model", model, "--checkpoint", str(ft), "--limit", "3",
                       "--steps", "2", "--json")
    res = json.loads(out)
    assert code == 0 and res["n"] == 3 and 0.0 <= res["execution_top1"] <= res["execution_top5"] <= 100.0


def test_weight_average_is_saved_and_resumes_exactly(capsys, tmp_path):
    """With --ema the checkpoint holds the moving average, the resume file the live weights,
    and a run stopped and resumed ends with the same average as one run straight through."""
    import torch

    from treediff.codefusion.checkpoint import load_checkpoint, load_training_weights, read_info

    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    args = ["train", "--lang", "cf", "--model", "diffusion", "--ema", "0.9", *TINY]
    assert run(capsys, *args, "--out", str(straight), "--train-steps", "4")[0] == 0
    assert run(capsys, *args, "--out", str(stopped), "--train-steps", "2")[0] == 0
    assert run(capsys, *args, "--out", str(stopped), "--train-steps", "4", "--resume")[0] == 0
    assert read_info(stopped)["meta"]["ema"] == 0.9
    average, _, _ = load_checkpoint(straight, lang="cf", kind="diffusion")
    resumed, _, _ = load_checkpoint(stopped, lang="cf", kind="diffusion")
    for (name, a), b in zip(average.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    live = load_training_weights(straight)
    assert live is not None and any(not torch.equal(live[k], v) for k, v in average.state_dict().items())
    code, _, err = run(capsys, *args, "--out", str(tmp_path / "bad"), "--ema", "1.5")
    assert code == 2 and one_line_error(err) and "--ema" in err
    # a run saved without an average cannot be resumed with one,
    plain = tmp_path / "plain"
    assert run(capsys, "train", "--lang", "cf", "--model", "ar", "--out", str(plain), "--train-steps", "1", *TINY)[0] == 0
    code, _, err = run(capsys, "train", "--lang", "cf", "--model", "ar", "--out", str(plain), "--train-steps", "2",
                       "--resume", "--ema", "0.9", *TINY)
    assert code == 2 and one_line_error(err) and "trained with --ema 0, not 0.9" in err
    # nor one saved with an average without it (its weights are the average, not the trained ones)
    code, _, err = run(capsys, *args, "--out", str(straight), "--train-steps", "5", "--resume", "--ema", "0")
    assert code == 2 and one_line_error(err) and "trained with --ema 0.9, not 0" in err


def test_lowercase_is_recorded_and_used_by_generation(capsys, tmp_path):
    """--lowercase goes into the checkpoint's codec, so generation reads requests as the
    model was trained to; resuming with a different setting, or asking for it without
    literal placeholders, is a one-line error."""
    from treediff.codefusion.checkpoint import read_info
    from treediff.codefusion.literals import LiteralCodec

    out = tmp_path / "lc"
    args = ["train", "--lang", "cf", "--model", "ar", "--out", str(out), *TINY]
    assert run(capsys, *args, "--train-steps", "1", "--lowercase")[0] == 0
    codec = LiteralCodec.from_meta(read_info(out)["meta"])
    assert codec.lowercase and codec.encode("Highlight Cells Less Than 70")[0] == "highlight cells less than §0"
    code, _, err = run(capsys, *args, "--train-steps", "2", "--resume")
    assert code == 2 and one_line_error(err) and "trained with --lowercase" in err
    code, _, err = run(capsys, *args, "--train-steps", "1", "--lowercase", "--no-literals")
    assert code == 2 and one_line_error(err) and "--lowercase needs literal placeholders" in err
