"""Policy/value network, constrained decoding, training (resume, DDP) and search, on tiny models."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from treediff.checkpoint import load_checkpoint, save_checkpoint
from treediff.cli import main
from treediff.data import ExampleGenerator, collate, n_site_kinds
from treediff.decoding import EOS, ConstrainedDecoder
from treediff.domains import available_domains, get_domain
from treediff.model import ModelConfig, TreeDiffusionModel
from treediff.search import SearchConfig, Searcher
from treediff.train import TrainConfig, train

TINY = {"d_model": 32, "n_heads": 2, "enc_layers": 1, "dec_layers": 1, "ff_mult": 2}


def tiny_model(domain_name: str, seed: int = 0, memory_grid: int = 16) -> TreeDiffusionModel:
    torch.manual_seed(seed)
    d = get_domain(domain_name)
    g = d.grammar
    return TreeDiffusionModel(ModelConfig(vocab_size=len(g.vocab), n_site_kinds=n_site_kinds(g), channels=d.channels,
                                          image_size=d.model_size, memory_grid=memory_grid, **TINY)).eval()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(domain="csg2d", out=str(out), steps=3, batch_size=4, workers=0, eval_examples=8,
                      eval_every=3, save_every=3, device="cpu", model=TINY))
    return out / "model.safetensors"


@pytest.mark.parametrize("domain_name", available_domains())
def test_constrained_decoding_always_valid(domain_name):
    """10,000 randomly decoded edits per domain: every one parses as its site's kind."""
    g = get_domain(domain_name).grammar
    dec = ConstrainedDecoder(g)
    rng = random.Random(0)
    for _ in range(10_000):
        nt = rng.randrange(len(g.nonterminals))
        state, tokens = dec.initial(nt), []
        while True:
            allowed = np.flatnonzero(dec.allowed(state))
            assert len(allowed) > 0
            # Prefer finishing once long, so random walks through recursive rules end.
            tok = EOS if (len(tokens) > 30 and EOS in allowed) else int(rng.choice(list(allowed)))
            if tok == EOS:
                break
            tokens.append(tok)
            state = dec.advance(state, tok)
            if len(tokens) > 200:
                break
        if len(tokens) <= 200:
            node = g.parse(g.detokenize(tokens), nt)
            assert g.tokens(node) == tokens


@pytest.mark.parametrize("domain_name", available_domains())
def test_teacher_forcing_masks_admit_gold(domain_name):
    gen = ExampleGenerator(get_domain(domain_name))
    rng = random.Random(1)
    for _ in range(50):
        ex = gen.example(rng)
        assert all(ex.allowed[i, t] for i, t in enumerate(ex.replacement_out))
        assert 0 <= ex.edit_site < len(ex.sites) and ex.steps_left >= 1


def test_undo_targets_revert_the_last_mutation():
    """With targets="undo" the gold edit is a real change of the current program, and the
    edits left count the mutations still to revert (at most the chain's length)."""
    domain = get_domain("csg2d")
    g = domain.grammar
    gen = ExampleGenerator(domain, targets="undo")
    rng = random.Random(3)
    for _ in range(30):
        ex = gen.example(rng)
        assert 1 <= ex.steps_left <= gen.noise.max_steps
        assert all(ex.allowed[i, t] for i, t in enumerate(ex.replacement_out))
        current = g.parse(g.detokenize(ex.tokens))
        site = ex.sites[ex.edit_site]
        new = ex.replacement_out[0] if site.nt < 0 else g.parse(g.detokenize(ex.replacement_in), site.nt)
        assert g.replace(current, site.path, new) != current
    with pytest.raises(ValueError, match="choices: reverse, undo"):
        ExampleGenerator(domain, targets="last")


def test_ordinal_soft_targets_credit_neighbouring_numbers():
    from treediff.data import ordinal_soft_targets

    g = get_domain("csg2d").grammar
    soft = ordinal_soft_targets(g, smoothing=0.5)
    assert np.allclose(soft.sum(1), 1.0)
    names = [t.name for t in g.terminals]
    seven, eight, nine, two = (g.token_id[(names.index("NUM"), v)] for v in "7892")
    row = soft[eight]
    assert row.argmax() == eight and row[seven] == row[nine] > row[two] > 0
    plus = g.token_id[(names.index("OP"), "+")]
    assert soft[plus, plus] == 1.0  # operators have no order: one-hot
    assert np.array_equal(ordinal_soft_targets(g, 0.0), np.eye(len(g.vocab), dtype=np.float32))
    # A batch carrying the targets trains through the smoothed objective, scored by the hard loss.
    gen = ExampleGenerator(get_domain("csg2d"))
    examples = [gen.example(random.Random(i)) for i in range(4)]
    batch = collate(examples, g, soft)
    assert torch.allclose(batch["replacement_soft"][batch["replacement_valid"]].sum(-1), torch.tensor(1.0))
    out = tiny_model("csg2d").train()(batch)
    hard = tiny_model("csg2d").train()(collate(examples, g))
    assert torch.isfinite(out["loss"]) and torch.isclose(out["token_loss"], hard["token_loss"])
    assert not torch.isclose(out["loss"], hard["loss"])


def test_model_learns_a_fixed_batch():
    d = get_domain("csg2d")
    gen = ExampleGenerator(d)
    batch = collate([gen.example(random.Random(i)) for i in range(8)], d.grammar)
    model = tiny_model("csg2d").train()
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    with torch.no_grad():
        first = float(model(batch)["loss"])
    for _ in range(40):
        loss = model(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = float(model(batch)["loss"])
    assert last < 0.6 * first


def test_pointer_is_not_punished_for_another_correct_site():
    """The pointer loss is -log P(any correct site): with more correct sites it is lower, and
    a batch that lists only the canonical site gives plain cross-entropy."""
    d = get_domain("csg2d")
    gen = ExampleGenerator(d)
    examples = [gen.example(random.Random(i)) for i in range(32)]
    assert any(len(e.edit_sites_ok) > 1 for e in examples)
    assert all(e.edit_site in e.edit_sites_ok for e in examples)
    model = tiny_model("csg2d").eval()
    with torch.no_grad():
        wide = model(collate(examples, d.grammar))
        for e in examples:
            e.edit_sites_ok = None
        narrow = model(collate(examples, d.grammar))
    assert float(wide["pointer_loss"]) < float(narrow["pointer_loss"])
    assert float(wide["pointer_acc"]) >= float(narrow["pointer_acc"])


def test_checkpoint_roundtrip_and_grammar_check(tmp_path):
    model = tiny_model("csg2d")
    g = get_domain("csg2d").grammar
    save_checkpoint(tmp_path / "m", model, domain="csg2d", grammar_hash=g.hash)
    loaded, info = load_checkpoint(tmp_path / "m.safetensors", domain="csg2d", grammar_hash=g.hash)
    assert info["model_args"]["d_model"] == 32
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    from treediff.errors import TreediffError

    with pytest.raises(TreediffError, match="different grammar"):
        load_checkpoint(tmp_path / "m", domain="csg2d", grammar_hash="0" * 16)
    with pytest.raises(TreediffError, match="domain"):
        load_checkpoint(tmp_path / "m", domain="tinysvg")


@pytest.mark.parametrize("rank", ["value", "logprob"])
def test_search_finds_target_reachable_in_one_edit(rank):
    """Starting one edit away, search with any policy must find the target within budget:
    the candidate set includes every site, and the goal check is exact."""
    d = get_domain("csg2d")
    g = d.grammar
    target_prog = g.parse("(+ (Circle 4 8 8) (Quad 8 8 4 4 G))")
    start = g.parse("(+ (Circle 4 8 8) (Quad 8 8 4 5 G))")
    searcher = Searcher(d, tiny_model("csg2d"))
    target = d.render(target_prog)
    result = searcher.search(target, SearchConfig(budget=150, beam=4, edits_per_node=8, rank=rank), seed=0,
                             init=[start])
    assert result.nodes_expanded <= 150
    assert result.score >= d.goal(target, d.render(start))[1]
    if result.solved:
        assert d.goal(target, d.render(g.parse(result.program)))[0]


def test_search_is_deterministic_and_counts_budget():
    d = get_domain("csg2d")
    searcher = Searcher(d, tiny_model("csg2d"))
    target = d.render(d.grammar.parse("(- (Circle 7 8 8) (Quad 8 8 3 3 H))"))
    a = searcher.search(target, SearchConfig(budget=60, beam=4), seed=3)
    b = searcher.search(target, SearchConfig(budget=60, beam=4), seed=3)
    assert (a.program, a.nodes_expanded) == (b.program, b.nodes_expanded)
    assert a.nodes_expanded <= 60
    r = searcher.rollout(target, 20, seed=0)
    assert r.nodes_expanded <= 20
    assert all(d.grammar.check(p) for _, p, _ in a.trace)


def test_search_stops_at_the_first_start_program_that_meets_the_goal():
    """Start programs are checked in order: one that solves the target ends the search
    there, so the later ones are never counted (an AR seeder's greedy answer costs 1 node)."""
    d = get_domain("csg2d")
    g = d.grammar
    answer = g.parse("(- (Circle 7 8 8) (Quad 8 8 3 3 H))")
    starts = [g.parse("(Circle 1 2 3)"), answer, g.parse("(Circle 3 2 1)")]
    result = Searcher(d, tiny_model("csg2d")).search(d.render(answer), SearchConfig(budget=50), init=starts)
    assert result.solved and result.nodes_expanded == 2 and result.program == g.unparse(answer)


def test_complexity_penalty_prefers_the_simpler_of_equal_pictures():
    """Two programs with the same picture: without a penalty the first one seen stays best;
    with one the search returns the simpler, and still reports the goal's own score. (A
    domain that spends its budget, like sketches: an exact goal would stop at the first.)"""
    import dataclasses

    d = dataclasses.replace(get_domain("csg2d"), stop_at_goal=False)
    g = d.grammar
    simple, padded = g.parse("(Circle 4 8 8)"), g.parse("(+ (Circle 4 8 8) (Circle 4 8 8))")
    target = d.render(simple)
    cfg = SearchConfig(budget=2, beam=2, refine=False, tidy=False)  # tidy would drop the copy either way
    plain = Searcher(d, tiny_model("csg2d")).search(target, cfg, seed=0, init=[padded, simple])
    assert plain.program == g.unparse(padded)
    occam = dataclasses.replace(d, complexity_penalty=0.01)
    result = Searcher(occam, tiny_model("csg2d")).search(target, cfg, seed=0, init=[padded, simple])
    assert result.program == g.unparse(simple) and result.score == pytest.approx(d.goal(target, target)[1])


def test_polish_drops_parts_the_picture_does_not_need():
    """The polish tries the program without each operand and keeps the smaller one when the
    picture matches as well: the empty difference goes, the answer stays."""
    d = get_domain("csg2d")
    g = d.grammar
    answer = g.parse("(- (Circle 8 8 6) (Quad 8 8 2 2 G))")
    padded = g.parse("(+ (- (Circle 8 8 6) (Quad 8 8 2 2 G)) (- (Circle 1 1 1) (Circle 1 1 2)))")
    searcher = Searcher(d, tiny_model("csg2d"))
    target = d.render(answer)
    start = searcher._candidate(padded, target)
    visited = {start.text: start.objective}
    polished = searcher.refine(start, target, visited, budget=50, cap=50, on_new=lambda c: None, simplify=True)
    assert polished.text == g.unparse(answer)
    kept = searcher.refine(start, target, {start.text: start.objective}, budget=50, cap=50, on_new=lambda c: None)
    assert kept.state.node.prims == padded.prims


def test_tinysvg_search_runs():
    d = get_domain("tinysvg")
    searcher = Searcher(d, tiny_model("tinysvg"))
    target = d.render(d.grammar.parse("(Arrange h (Rect 4 6 red black 1) (Ellipse 3 3 blue none 0) 1)"))
    result = searcher.search(target, SearchConfig(budget=30, beam=4), seed=0)
    assert d.grammar.check(result.program) and result.nodes_expanded <= 30


def test_training_log_reports_token_loss_per_terminal(tiny_checkpoint):
    """Every evaluation record splits the replacement loss by terminal, numbers included."""
    records = [json.loads(line) for line in (tiny_checkpoint.parent / "log.jsonl").read_text().splitlines()]
    by_terminal = records[-1]["eval_token_loss_by_terminal"]
    assert {"NUM", "OP"} <= set(by_terminal)
    assert all(v >= 0 for v in by_terminal.values())


def test_solve_cli_outputs(tiny_checkpoint, tmp_path, capsys):
    img = tmp_path / "target.png"
    assert main(["render", "(- (Circle 8 8 8) (Quad 8 8 4 4 H))", "-o", str(img)]) == 0
    out = tmp_path / "out"
    capsys.readouterr()
    code = main(["solve", str(img), "--checkpoint", str(tiny_checkpoint), "--budget", "20", "--out", str(out),
                 "--json", "--trace", "--quiet", "--seed", "1"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"program", "solved", "score", "nodes_expanded", "seconds", "domain"}
    assert report["nodes_expanded"] <= 20 and report["domain"] == "csg2d"
    for name in ("program.txt", "render.png", "program.svg", "compare.png", "trace.gif"):
        assert (out / name).stat().st_size > 0, name
    # --init repairs a given program; a broken --init is a one-line parse error.
    assert main(["solve", str(img), "--checkpoint", str(tiny_checkpoint), "--budget", "5", "--out", str(out),
                 "--init", "(Circle 8 8 8)", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["solve", str(img), "--checkpoint", str(tiny_checkpoint), "--init", "(Circle 8 8", "--quiet"]) == 2
    assert "does not parse" in capsys.readouterr().err



def test_solve_starts_from_the_shipped_autoregressive_programs(tiny_checkpoint, tmp_path, capsys):
    """By default a CSG2D search starts from the shipped CSGNet's first programs; with a budget
    of exactly that many, the answer is the best of them. --ar-seeds 0 starts at random."""
    from treediff.domains import get_domain
    from treediff.images import load_image
    from treediff.seeding import shipped_seeder

    csg = get_domain("csg2d")
    img = tmp_path / "target.png"
    assert main(["render", "(+ (Circle 5 8 8) (Quad A A 4 3 H))", "-o", str(img)]) == 0
    seeder = shipped_seeder(csg)
    assert seeder is not None  # the shipped CSGNet fits the shipped CSG2D grammar
    target = load_image(str(img), csg.channels, 64)
    seeds = [csg.grammar.unparse(n) for n in seeder.seeds(target, 3, seed=4)]
    assert len(set(seeds)) == 3
    goals = [csg.goal(target, csg.render(csg.grammar.parse(s), 64)) for s in seeds]
    solving = [i for i, (solved, _) in enumerate(goals) if solved]
    # The best of the seeds, or the first that already solves it (search stops there).
    best = seeds[solving[0]] if solving else max(zip(seeds, goals), key=lambda sg: sg[1][1])[0]
    expected_nodes = solving[0] + 1 if solving else 3
    capsys.readouterr()
    args = ["solve", str(img), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "o"), "--json",
            "--quiet", "--seed", "4", "--budget", "3"]
    assert main(args + ["--ar-seeds", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["start"] == "autoregressive" and report["nodes_expanded"] == expected_nodes
    # The answer is that program without the parts its picture does not need.
    searcher = Searcher(csg, tiny_model("csg2d"))
    assert report["program"] == searcher.tidy(searcher._candidate(csg.grammar.parse(best), target), target).text
    assert main(args + ["--ar-seeds", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["start"] == "random"
    # No autoregressive model for TinySVG: its search starts at random, without complaint.
    assert shipped_seeder(get_domain("tinysvg")) is None
    assert main(args + ["--ar-seeds", "-1"]) == 2

def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_solve_bad_inputs(tiny_checkpoint, tmp_path, capsys):
    from PIL import Image

    ck = ["--checkpoint", str(tiny_checkpoint), "--quiet"]
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    Image.new("L", (40, 30), 255).save(tmp_path / "blank.png")
    Image.new("L", (64, 64), 0).save(tmp_path / "ok.png")
    good = tmp_path / "good.png"
    main(["render", "(Circle 8 8 8)", "-o", str(good)])
    data = good.read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    for name, expect in [("missing.png", "not found"), ("empty.png", "empty"), ("text.png", "cannot read"),
                         ("blank.png", "blank"), ("trunc.png", "cannot read")]:
        capsys.readouterr()
        assert main(["solve", str(tmp_path / name), *ck]) == 2, name
        assert expect in _one_error_line(capsys), name
    # A huge image is refused from its header, before decoding.
    huge = tmp_path / "huge.png"
    Image.new("1", (10_000, 6_000)).save(huge)
    capsys.readouterr()
    assert main(["solve", str(huge), *ck]) == 2
    assert "megapixels" in _one_error_line(capsys)
    # Corrupted checkpoint, a checkpoint for another domain.
    bad = tmp_path / "bad"
    bad.with_suffix(".safetensors").write_bytes(b"\x00" * 100)
    bad.with_suffix(".json").write_text(tiny_checkpoint.with_suffix(".json").read_text())
    assert main(["solve", str(good), "--checkpoint", str(bad.with_suffix(".safetensors")), "--quiet"]) == 2
    assert "corrupt" in _one_error_line(capsys)
    assert main(["solve", str(good), "--domain", "tinysvg", *ck]) == 2
    assert "domain" in _one_error_line(capsys)


def test_training_resumes_after_sigkill(tmp_path):
    """A run killed with SIGKILL resumes from its last checkpoint with --resume."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "treediff", "train", "--domain", "csg2d", "--out", str(out), "--steps", "1000",
           "--batch-size", "4", "--workers", "0", "--save-every", "2", "--eval-every", "1000",
           "--eval-examples", "4", "--d-model", "32", "--n-heads", "2", "--enc-layers", "1", "--dec-layers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = out / "model.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (meta.exists() and json.loads(meta.read_text())["step"] >= 4):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step = json.loads(meta.read_text())["step"]
    assert step >= 4
    # Without --resume the existing run is protected.
    assert subprocess.run(cmd, capture_output=True).returncode == 2
    resumed = subprocess.run(cmd[:-14] + ["--steps", str(step + 2), "--resume", "--batch-size", "4", "--workers",
                                          "0", "--save-every", "2", "--eval-every", "1000", "--eval-examples", "4"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-500:]
    assert f"from step {step}" in resumed.stderr
    assert json.loads(meta.read_text())["step"] == step + 2


def test_ddp_training_under_torchrun(tmp_path):
    """The same command runs under torchrun with 2 processes (gloo on CPU)."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "treediff", "train", "--domain", "csg2d", "--out", str(out), "--steps", "2", "--batch-size", "4",
           "--workers", "0", "--save-every", "2", "--eval-every", "2", "--eval-examples", "4", "--device", "cpu",
           "--d-model", "32", "--n-heads", "2", "--enc-layers", "1", "--dec-layers", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-1000:]
    assert json.loads((out / "model.json").read_text())["step"] == 2


@pytest.mark.parametrize("memory_grid", [0, 16])
def test_incremental_decoding_matches_full_decoder(memory_grid):
    d = get_domain("csg2d")
    gen = ExampleGenerator(d)
    batch = collate([gen.example(random.Random(i)) for i in range(4)], d.grammar)
    model = tiny_model("csg2d", seed=2, memory_grid=memory_grid)
    with torch.no_grad():
        out = model.heads(batch["target"], batch["current"], batch["tokens"], batch["site_start"],
                          batch["site_end"], batch["site_kind"], batch["site_valid"])
        assert out["memory"].shape[1] == out["states"].shape[1] + memory_grid ** 2
        site = out["sites"][torch.arange(4), batch["edit_site"]]
        full = model.decode(out["memory"], out["memory_pad"], site, batch["replacement_in"])
        cache, logits = model.start_decoding(out["memory"], out["memory_pad"], site)
        steps = [logits]
        for j in range(batch["replacement_in"].shape[1]):
            steps.append(model.continue_decoding(cache, batch["replacement_in"][:, j]))
        # As in search: several items share one program's memory, selected by row.
        rows = torch.tensor([2, 0, 2, 3, 1])
        shared, _ = model.start_decoding(out["memory"], out["memory_pad"], site[rows], rows)
        tokens = batch["replacement_in"][rows]
        repeated = [model.continue_decoding(shared, tokens[:, j]) for j in range(tokens.shape[1])]
    assert torch.allclose(torch.stack(steps, dim=1), full, atol=1e-4)
    assert torch.allclose(torch.stack(repeated, dim=1), full[rows, 1:], atol=1e-4)


@pytest.mark.parametrize("domain_name", ["csg2d", "tinysvg"])
def test_shipped_checkpoint_loads_for_its_grammar(domain_name):
    from treediff.checkpoint import default_checkpoint
    from treediff.solve import load_searcher

    path = default_checkpoint(domain_name)
    assert path.exists(), f"{path} must ship with the package"
    searcher = load_searcher(domain_name, None)
    assert searcher.domain.name == domain_name
    d = searcher.domain
    target = d.render(d.grammar.parse(d.grammar.unparse(searcher.sampler.sample_program(random.Random(0), 2, 3))))
    result = searcher.search(target, SearchConfig(budget=12, beam=2), seed=0)
    assert result.nodes_expanded <= 12 and d.grammar.check(result.program)


def test_fine_image_memory_reads_where_the_image_changes():
    """The decoder's fine memory carries each cell's position, so a different target image
    changes the replacement logits (the coarse path alone could, too; this checks the fine
    map is wired in: zeroing its projection changes the output)."""
    d = get_domain("csg2d")
    batch = collate([ExampleGenerator(d).example(random.Random(3))], d.grammar)
    model = tiny_model("csg2d", seed=1)
    args = [batch[k] for k in ("target", "current", "tokens", "site_start", "site_end", "site_kind", "site_valid")]
    with torch.no_grad():
        out = model.heads(*args)
        site = out["sites"][:, batch["edit_site"][0]]
        before = model.decode(out["memory"], out["memory_pad"], site, batch["replacement_in"])
        model.image_encoder.memory_proj.weight.mul_(5)
        out = model.heads(*args)
        after = model.decode(out["memory"], out["memory_pad"], site, batch["replacement_in"])
    assert not torch.allclose(before, after)
    with pytest.raises(ValueError, match="memory_grid"):
        tiny_model("csg2d", memory_grid=3)


def test_curriculum_starts_with_single_shapes():
    """At curriculum value 1 every target (and fresh noise program) has one primitive; at the
    domain's maximum, the domain's own range is back."""
    from treediff.data import EditStream

    d = get_domain("csg2d")
    stream = EditStream("csg2d", batch_size=4, seed=0, max_primitives=1)
    gen = ExampleGenerator(d)
    stream.curriculum.value = 1
    stream.apply_curriculum(gen)
    rng = random.Random(0)
    assert {gen.mutator.sampler.sample_program(rng, gen.min_primitives, gen.max_primitives).prims
            for _ in range(20)} == {1}
    assert (gen.noise.min_primitives, gen.noise.max_primitives) == (1, 1)
    assert gen.example(rng).target.shape == (1, d.model_size, d.model_size)
    stream.curriculum.value = d.max_primitives
    stream.apply_curriculum(gen)
    assert (gen.min_primitives, gen.max_primitives) == (d.min_primitives, d.max_primitives)
    assert next(iter(stream))["target"].shape[0] == 4


def test_init_from_copies_weights_and_checks_the_grammar(tiny_checkpoint, tmp_path):
    from treediff.errors import TreediffError

    out = tmp_path / "ft"
    train(TrainConfig(domain="csg2d-sketch", out=str(out), steps=1, batch_size=2, workers=0, eval_examples=2,
                      eval_every=1, save_every=1, device="cpu", lr=0.0, init_from=str(tiny_checkpoint)))
    source, _ = load_checkpoint(tiny_checkpoint)
    tuned, info = load_checkpoint(out / "model.safetensors", domain="csg2d-sketch")
    assert info["step"] == 1
    for (k, a), (_, b) in zip(source.state_dict().items(), tuned.state_dict().items()):
        assert torch.equal(a, b), k  # lr 0: the weights are exactly the starting ones
    with pytest.raises(TreediffError, match="different grammar"):
        train(TrainConfig(domain="tinysvg", out=str(tmp_path / "bad"), steps=1, batch_size=2, workers=0,
                          eval_examples=2, device="cpu", init_from=str(tiny_checkpoint)))
