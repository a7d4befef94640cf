"""Baselines: hill climbing, CSGNet and REPL Flow with tiny random networks built inline."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from treediff.baselines import save_baseline
from treediff.baselines.csgnet import (CSGNet, CSGNetConfig, CSGNetSearcher, GrammarConstraint, ProgramBatches,
                                       beam_search, fit, load_csgnet, sample_sequences, teacher_masks)
from treediff.baselines.hillclimb import HillClimber
from treediff.baselines.repl import (NextShapeBatches, NextShapeConstraint, REPLSearcher, ShapeList, load_repl)
from treediff.decoding import EOS, ConstrainedDecoder
from treediff.domains import get_domain
from treediff.errors import TreediffError

torch.set_num_threads(1)
CSG = get_domain("csg2d")
TARGET = "(+ (- (Circle 6 8 8) (Quad 8 8 2 2 H)) (Circle 2 3 C))"


def tiny(in_channels: int = 1, max_tokens: int = 96, seed: int = 0) -> CSGNet:
    torch.manual_seed(seed)
    return CSGNet(CSGNetConfig(vocab_size=len(CSG.grammar.vocab), in_channels=in_channels, image_features=16,
                               embed=8, hidden=16, max_tokens=max_tokens)).eval()


def target_image() -> np.ndarray:
    return CSG.render_text(TARGET).astype(np.float32)


def check_budget_prefix(search, budgets=(3, 17, 40)):
    """One run to the largest budget tells the outcome at every smaller budget."""
    full = search(budgets[-1])
    assert full.nodes_expanded <= budgets[-1]
    for b in budgets[:-1]:
        r = search(b)
        assert r.nodes_expanded == min(b, full.nodes_expanded)
        assert r.solved == (full.solved and full.nodes_expanded <= b)
        assert r.score <= full.score + 1e-9


def test_hillclimb_budget_and_prefix():
    hc = HillClimber(CSG)
    check_budget_prefix(lambda b: hc.search(target_image(), b, seed=3), budgets=(5, 30, 120))
    r = hc.search(target_image(), 60, seed=1)
    assert CSG.grammar.check(r.program)
    assert r.score == pytest.approx(CSG.goal(target_image(), CSG.render_text(r.program))[1])


def test_hillclimb_solves_its_own_start():
    # The start program is the first node: a target equal to it is solved with one node.
    rng = random.Random(5)
    start = HillClimber(CSG).sampler.sample_program(rng, CSG.min_primitives, CSG.max_primitives)
    r = HillClimber(CSG).search(CSG.render(start), 100, seed=5)
    assert r.solved and r.nodes_expanded == 1


def test_csgnet_samples_and_beams_are_valid_programs():
    g = CSG.grammar
    model = tiny()
    constraint = GrammarConstraint(ConstrainedDecoder(g), g.start)
    feat = model.encode(torch.from_numpy(target_image())[None, None])
    samples = sample_sequences(model, feat, constraint, 8, torch.Generator().manual_seed(0))
    assert any(s is not None for s in samples)
    for s in samples:
        if s is not None:
            assert g.check(g.detokenize(s))
    with torch.no_grad():  # an untrained model may nest forever; lean it toward single shapes
        model.head.bias[g.token_id[(g.term_index["CIRCLE"], "Circle")]] += 5.0
    beams = beam_search(model, feat, constraint, 4)
    assert 1 <= len(beams) <= 4
    assert [lp for _, lp in beams] == sorted((lp for _, lp in beams), reverse=True)
    for tokens, _ in beams:
        assert g.check(g.detokenize(tokens))


def test_csgnet_search_counts_distinct_programs_and_is_budget_prefix():
    searcher = CSGNetSearcher(CSG, tiny(), beam=3, batch=8)
    check_budget_prefix(lambda b: searcher.search(target_image(), b, seed=2))


def test_training_lowers_the_loss_and_checkpoint_roundtrip(tmp_path):
    rng = random.Random(0)
    model = tiny().train()
    data = ProgramBatches(CSG, 64)
    batch = data(rng, 4, model.config.max_tokens)
    history = fit(model, lambda: batch, steps=30, lr=1e-2, log_every=10)  # overfit one batch
    assert history[-1]["loss"] < 0.9 * history[0]["loss"]
    save_baseline(tmp_path / "cs", model, kind="csgnet", domain="csg2d", grammar_hash=CSG.grammar.hash)
    loaded = load_csgnet(CSG, tmp_path / "cs.safetensors")
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_missing_or_foreign_checkpoint_errors(tmp_path):
    with pytest.raises(TreediffError, match=r"csgnet checkpoint not found: .*none\.safetensors; train it with: "
                                            r"python -m treediff.baselines.csgnet train --out"):
        load_csgnet(CSG, tmp_path / "none")
    save_baseline(tmp_path / "cs", tiny(), kind="csgnet", domain="csg2d", grammar_hash="0" * 16)
    with pytest.raises(TreediffError, match="different grammar"):
        load_csgnet(CSG, tmp_path / "cs")
    with pytest.raises(TreediffError, match="not a treediff repl checkpoint"):
        load_repl(CSG, tmp_path / "cs")


def test_repl_flatten_and_build():
    g = CSG.grammar
    shapes = ShapeList(g)
    flat = shapes.flatten(g.parse("(- (Circle 1 2 3) (+ (Quad 1 2 3 4 G) (Circle 5 5 5)))"))
    assert [(g.token_text[op], g.unparse(p)) for op, p in flat] == [
        ("+", "(Circle 1 2 3)"), ("-", "(Quad 1 2 3 4 G)"), ("+", "(Circle 5 5 5)")]
    assert g.unparse(shapes.build(flat)) == "(+ (- (Circle 1 2 3) (Quad 1 2 3 4 G)) (Circle 5 5 5))"
    left_nested = g.parse("(- (+ (Circle 1 2 3) (Quad 1 2 3 4 G)) (Circle 5 5 5))")
    assert shapes.build(shapes.flatten(left_nested)) == left_nested
    with pytest.raises(TreediffError, match="CSG-like grammar"):
        ShapeList(get_domain("tinysvg").grammar)


def test_repl_next_shape_constraint_allows_one_primitive():
    g = CSG.grammar
    shapes = ShapeList(g)
    dec = ConstrainedDecoder(g)
    first, later = NextShapeConstraint(shapes, dec, True), NextShapeConstraint(shapes, dec, False)
    assert not first.allowed(None)[EOS] and later.allowed(None)[EOS]
    assert np.flatnonzero(first.allowed(None)).tolist() == [shapes.first_op]
    model = tiny(in_channels=3, max_tokens=24)
    feat = model.encode(torch.zeros(1, 3, 64, 64))
    for seq in sample_sequences(model, feat, later, 16, torch.Generator().manual_seed(1)):
        if seq:
            assert seq[0] in shapes.op_tokens
            node = g.parse(g.detokenize(seq[1:]), shapes.start)
            assert node.prims == 1
    seq = [shapes.op_tokens[1]] + g.tokens(g.parse("(Circle 1 2 3)"))
    masks = teacher_masks(later, seq)
    assert all(masks[i, t] for i, t in enumerate(seq)) and masks[-1, EOS]


def test_repl_training_batches_and_search():
    images, inputs, targets, allowed, valid = NextShapeBatches(CSG, 64)(random.Random(0), 6)
    assert images.shape == (6, 3, 64, 64)
    assert bool(allowed.gather(2, targets.unsqueeze(-1)).squeeze(-1)[valid].all())
    searcher = REPLSearcher(CSG, tiny(in_channels=3, max_tokens=24), batch=4)
    check_budget_prefix(lambda b: searcher.search(target_image(), b, seed=4))


def test_killed_baseline_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """A run killed after its last state save and resumed ends with the weights of an unbroken run."""
    from safetensors.torch import load_file

    from treediff.baselines import csgnet as csgnet_module

    kw = dict(batch_size=4, hidden=16, image_features=16, log_every=1, quiet=True, save_every=2)
    csgnet_module.train_csgnet("csg2d", str(tmp_path / "whole"), 6, **kw)
    calls = {"n": 0}
    original = csgnet_module.ProgramBatches.__call__

    def dies_at_step_5(self, *args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # stands in for SIGKILL: nothing after the step-4 save survives
        return original(self, *args)

    monkeypatch.setattr(csgnet_module.ProgramBatches, "__call__", dies_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        csgnet_module.train_csgnet("csg2d", str(tmp_path / "broken"), 6, **kw)
    assert csgnet_module.state_path_for(tmp_path / "broken").exists()
    monkeypatch.setattr(csgnet_module.ProgramBatches, "__call__", original)
    result = csgnet_module.train_csgnet("csg2d", str(tmp_path / "broken"), 6, resume=True, **kw)
    assert result["steps"] == 6 and not csgnet_module.state_path_for(tmp_path / "broken").exists()
    whole, resumed = load_file(str(tmp_path / "whole.safetensors")), load_file(str(tmp_path / "broken.safetensors"))
    for name, tensor in whole.items():
        assert torch.equal(tensor, resumed[name]), name
    with pytest.raises(TreediffError, match="--resume: no training state"):
        csgnet_module.train_csgnet("csg2d", str(tmp_path / "never"), 6, resume=True, **kw)
