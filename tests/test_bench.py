"""`treediff bench`: budgets from one run, resume, shards + merge, outputs, one-line errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from treediff.bench import (BenchConfig, add_bench_parser, markdown_table, merge, parse_budgets, parse_methods,
                            parse_shard, read_records, run_bench, td_runner)
from treediff.data import n_site_kinds
from treediff.domains import get_domain
from treediff.errors import TreediffError
from treediff.model import ModelConfig, TreeDiffusionModel
from treediff.search import Searcher

torch.set_num_threads(1)
CSG = get_domain("csg2d")


def fake_runner(calls: list | None = None):
    """Deterministic stand-in for a method: solves problem p (seed s) after 3 * (p + s) + 1 nodes if p is even."""
    def run(target, budget, seed):
        if calls is not None:
            calls.append(seed)
        problem, s = seed % 1_000_003, seed // 1_000_003
        nodes = 3 * (problem + s) + 1
        solved = problem % 2 == 0 and nodes <= budget
        return {"program": "(Circle 4 8 8)", "solved": solved, "score": 1.0 if solved else 0.5,
                "nodes_expanded": nodes if solved else budget, "seconds": 0.0}
    return run


def config(tmp_path, **kw) -> BenchConfig:
    base = dict(domain="csg2d", methods=("td", "hillclimb"), n=4, seeds=2, budgets=(1, 4, 10, 20), out=str(tmp_path))
    base.update(kw)
    return BenchConfig(**base)


def test_parsers_reject_bad_input():
    assert parse_budgets("1,10,100") == (1, 10, 100)
    assert parse_shard("1/4") == (1, 4)
    assert parse_methods("td,hillclimb") == ("td", "hillclimb")
    for bad in ("10,1", "1,1", "0,5", "-1", "a,b", ""):
        with pytest.raises(TreediffError, match="--budgets"):
            parse_budgets(bad)
    for bad in ("4/4", "-1/2", "1", "a/b", "1/2/3", "0/0"):
        with pytest.raises(TreediffError, match="malformed --shard"):
            parse_shard(bad)
    with pytest.raises(TreediffError, match="unknown method 'foo'; choices: td, td-rollout, td-novalue, td-norepair, td-nofit, td-undo, td-ar, csgnet"):
        parse_methods("td,foo")


def test_summary_uses_one_run_for_every_budget(tmp_path):
    summary = run_bench(config(tmp_path), runners={"td": fake_runner(), "hillclimb": fake_runner()}, progress=False)
    td = summary["methods"]["td"]
    # seed 0 solves problems 0 (1 node) and 2 (7 nodes); seed 1 solves 0 (4 nodes) and 2 (10 nodes).
    assert td["solved"]["1"]["per_seed"] == [25.0, 0.0]
    assert td["solved"]["4"]["per_seed"] == [25.0, 25.0]
    assert td["solved"]["10"]["per_seed"] == [50.0, 50.0]
    assert td["solved"]["1"]["mean"] == 12.5
    assert td["solved"]["1"]["std"] == pytest.approx(np.std([25.0, 0.0], ddof=1), abs=0.01)
    assert td["problems"] == 4 and td["seeds"] == 2 and td["runs"] == 8
    assert td["iou"] is not None and td["chamfer"] is not None
    for name in ("results.jsonl", "summary.json", "table.md", "solve_rate.png"):
        assert (tmp_path / name).stat().st_size > 0
    table = (tmp_path / "table.md").read_text()
    assert "| td | 12.5 ± 17.7 | 25.0 ± 0.0 | 50.0 ± 0.0 | 50.0 ± 0.0 |" in table
    assert len(read_records([tmp_path])) == 16


def test_resume_skips_recorded_runs_and_survives_a_half_written_line(tmp_path):
    runners = {"td": fake_runner(), "hillclimb": fake_runner()}
    first = run_bench(config(tmp_path), runners=runners, progress=False)
    calls: list = []
    again = run_bench(config(tmp_path), runners={"td": fake_runner(calls), "hillclimb": fake_runner(calls)},
                      progress=False)
    assert calls == [] and again["methods"] == first["methods"]
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])  # killed mid-write
    resumed = run_bench(config(tmp_path), runners={"td": fake_runner(calls), "hillclimb": fake_runner(calls)},
                        progress=False)
    assert len(calls) == 16 - 5
    assert resumed["methods"] == first["methods"]
    assert len(read_records([path])) == 16
    # A larger largest budget cannot reuse runs that stopped earlier.
    calls.clear()
    run_bench(config(tmp_path, budgets=(1, 50)), runners={"td": fake_runner(calls), "hillclimb": fake_runner(calls)},
              progress=False)
    assert len(calls) == 16


def test_shards_merge_to_the_unsharded_result(tmp_path):
    runners = {"td": fake_runner(), "hillclimb": fake_runner()}
    whole = run_bench(config(tmp_path / "whole", n=5), runners=runners, progress=False)
    for i in range(3):
        run_bench(config(tmp_path / "shards", n=5, shard=(i, 3)), runners=runners, progress=False)
    files = sorted(str(p) for p in (tmp_path / "shards").glob("*.jsonl"))
    assert len(files) == 3
    merged, out_dir = merge(files, None, (1, 4, 10, 20))
    assert out_dir == tmp_path / "shards"
    assert merged["methods"] == whole["methods"]
    assert (out_dir / "solve_rate.png").exists() and len(read_records([out_dir / "results.jsonl"])) == 20
    with pytest.raises(TreediffError, match="shard 5/8 is empty"):
        run_bench(config(tmp_path / "x", n=5, shard=(5, 8)), runners=runners, progress=False)


def test_other_test_set_in_the_same_folder_is_an_error(tmp_path):
    runners = {"td": fake_runner(), "hillclimb": fake_runner()}
    run_bench(config(tmp_path), runners=runners, progress=False)
    other = tmp_path / "other.txt"
    other.write_text("(Circle 1 2 3)\n(Circle 4 5 6)\n(Circle 7 8 9)\n(Circle 1 1 1)\n")
    with pytest.raises(TreediffError, match="different test set"):
        run_bench(config(tmp_path, test_set=str(other)), runners=runners, progress=False)


def tiny_searcher() -> Searcher:
    torch.manual_seed(0)
    g = CSG.grammar
    cfg = ModelConfig(vocab_size=len(g.vocab), n_site_kinds=n_site_kinds(g), channels=1, image_size=64, d_model=32,
                      n_heads=2, enc_layers=1, dec_layers=1, ff_mult=1)
    return Searcher(CSG, TreeDiffusionModel(cfg))


def test_tree_diffusion_methods_with_a_tiny_model(tmp_path):
    searcher = tiny_searcher()
    runners = {m: td_runner(searcher, m, beam=2, edits_per_node=2) for m in ("td", "td-rollout", "td-novalue")}
    cfg = config(tmp_path, methods=("td", "td-rollout", "td-novalue"), n=2, seeds=1, budgets=(1, 6, 12))
    summary = run_bench(cfg, runners=runners, progress=False)
    assert list(summary["methods"]) == ["td", "td-rollout", "td-novalue"]
    for rec in read_records([tmp_path]):
        assert 1 <= rec["nodes_expanded"] <= 12 and rec["max_budget"] == 12
        assert CSG.grammar.check(rec["program"])
        assert 0.0 <= rec["iou"] <= 1.0 and rec["chamfer"] >= 0.0
    assert markdown_table(summary).count("\n") == 4


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="treediff")
    add_bench_parser(parser.add_subparsers())
    args = parser.parse_args(["bench"] + argv)
    return args.func(args)


def test_cli_errors_are_one_line(tmp_path):
    cases = [
        (["--methods", "td,nope"], "unknown method 'nope'"),
        (["--domain", "nope"], "unknown domain 'nope'; choices:"),
        (["--budgets", "10,5"], "strictly increasing"),
        (["--shard", "2"], "malformed --shard '2'"),
        (["--baseline", "gpt"], "unknown baseline 'gpt'; choices: csgnet, repl, hillclimb"),
        (["merge"], "bench merge needs results"),
        (["frobnicate"], "unknown bench action 'frobnicate'"),
        (["--methods", "csgnet", "--n", "1", "--csgnet-checkpoint", str(tmp_path / "cs"), "--out", str(tmp_path)],
         r"csgnet checkpoint not found: .*cs\.safetensors; train it with: python -m treediff.baselines.csgnet"),
        (["--methods", "repl", "--domain", "tinysvg", "--n", "1", "--out", str(tmp_path)], "CSG-like grammar"),
    ]
    for argv, message in cases:
        with pytest.raises(TreediffError, match=message) as err:
            run_cli(argv)
        assert "\n" not in str(err.value)


def test_cli_hillclimb_run_and_merge(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(["--methods", "hillclimb", "--n", "2", "--seeds", "1", "--budgets", "1,5", "--out", str(out),
                    "--shard", "0/2", "--quiet"]) == 0
    assert run_cli(["--methods", "hillclimb", "--n", "2", "--seeds", "1", "--budgets", "1,5", "--out", str(out),
                    "--shard", "1/2", "--quiet", "--json"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(printed)["methods"]["hillclimb"]["problems"] == 1
    assert run_cli(["merge", str(out / "results-0of2.jsonl"), str(out / "results-1of2.jsonl"), "--budgets", "1,5"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"]["hillclimb"]["problems"] == 2
    assert "| hillclimb |" in capsys.readouterr().out


def test_undo_ablation_needs_a_model_trained_to_undo(tmp_path):
    """td-undo loads a model trained with --targets undo, and says how to make one."""
    from treediff.bench import make_runner
    from treediff.train import TrainConfig, train

    tiny = {"d_model": 32, "n_heads": 2, "enc_layers": 1, "dec_layers": 1}
    runs = {}
    for targets in ("undo", "reverse"):
        out = tmp_path / targets
        train(TrainConfig(domain="csg2d", out=str(out), steps=2, batch_size=4, workers=0, eval_examples=4,
                          eval_every=2, save_every=2, device="cpu", model=tiny, targets=targets))
        runs[targets] = str(out / "model.safetensors")
    run = make_runner("td-undo", CSG, BenchConfig(undo_checkpoint=runs["undo"]))
    result = run(CSG.render(CSG.grammar.parse("(Circle 4 8 8)"), CSG.model_size), 5, 0)
    assert result["nodes_expanded"] <= 5
    with pytest.raises(TreediffError, match="trained with --targets reverse, td-undo needs --targets undo"):
        make_runner("td-undo", CSG, BenchConfig(undo_checkpoint=runs["reverse"]))
    with pytest.raises(TreediffError, match="--targets undo"):
        make_runner("td-undo", CSG, BenchConfig(undo_checkpoint=str(tmp_path / "missing.safetensors")))


def test_td_ar_starts_from_the_autoregressive_programs():
    """td-ar: the search's first nodes are CSGNet's first distinct programs, in its order."""
    import itertools

    from treediff.baselines.csgnet import CSGNet, CSGNetConfig, CSGNetSearcher
    from treediff.seeding import ARSeeder

    torch.manual_seed(0)
    g = CSG.grammar
    csgnet = CSGNetSearcher(CSG, CSGNet(CSGNetConfig(vocab_size=len(g.vocab), hidden=32, image_features=32,
                                                      max_tokens=40)).eval(), beam=3, batch=8)
    target = CSG.render(g.parse("(+ (Circle 4 8 8) (Quad 8 8 4 4 G))"), 64)
    seeds = [g.detokenize(t) for t in itertools.islice(csgnet.programs(target, seed=0), 3)]
    assert len(set(seeds)) == 3 and all(g.check(s) for s in seeds)
    searcher = tiny_searcher()
    run = td_runner(searcher, "td", beam=2, edits_per_node=2, seeder=ARSeeder(CSG, csgnet), n_seeds=3)
    result = run(target, 3, 0)  # a budget of 3 nodes: exactly the three seeds are checked
    assert result["nodes_expanded"] == 3
    best = max(seeds, key=lambda s: CSG.goal(target, CSG.render(g.parse(s), 64))[1])
    assert result["program"] == best
    assert parse_methods("td-ar") == ("td-ar",)


def test_shipped_undo_ablation_model_loads_by_default():
    """`treediff bench --methods td-undo` needs no flag: the ablation model ships beside the baselines."""
    from treediff.bench import load_undo_searcher

    searcher = load_undo_searcher(CSG, None, "cpu")
    assert searcher.model.config.grid == 8 and searcher.domain.name == "csg2d"


def test_baseline_flag_compares_the_search_solve_runs():
    """`--baseline X` pits X against what `treediff solve` does: CSG2D searches start from
    the shipped CSGNet's programs (td-ar); a domain without an autoregressive model, from
    random programs (td)."""
    from treediff.bench import shipped_td_method
    from treediff.domains import get_domain

    assert shipped_td_method(get_domain("csg2d")) == "td-ar"
    assert shipped_td_method(get_domain("tinysvg")) == "td"
