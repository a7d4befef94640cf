"""The benchmark scripts run end to end on the shipped models (tiny sizes) and print JSON.

They report the figures issues ask for; a script that only breaks when someone runs the
full benchmark would go unnoticed for a session, so each runs here on a problem or two.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_script(name: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_sketch_rate_script():
    summary = run_script("sketch_rate.py", "--n", "2", "--budgets", "3,6", "--variants", "drawn")
    assert summary["n"] == 2 and summary["score_measure"] == "registered-outline-chamfer"
    drawn = summary["drawn"]
    assert drawn["problems"] == 2 and 0.0 <= drawn["pct_iou90_at_6"] <= 100.0
    assert summary["fit_start"] is True and summary["style"] == "heldout" and summary["margin_kept_empty"] is True
    ablated = run_script("sketch_rate.py", "--n", "1", "--budgets", "3", "--variants", "drawn", "--no-margin")
    assert ablated["margin_kept_empty"] is False
    assert drawn["pct_iou90_up_to_style_transform_at_max"] >= drawn["pct_iou90_at_6"]


def test_sketch_rate_splits_draw_other_programs_and_drawings():
    """Settings are tuned on the validation and development splits; they must not share the
    test split's programs or drawing seeds, or tuning would look at the reported figure."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sketch_rate import SPLIT_SEEDS, benchmark_programs

    from treediff.domains import get_domain
    from treediff.sketch import register_sketch_domain

    register_sketch_domain()
    domain = get_domain("csg2d-sketch")
    programs = {split: set(benchmark_programs(domain, 16, seed)) for split, (seed, _) in SPLIT_SEEDS.items()}
    assert {"test", "validation", "development-3031", "development-3032"} <= programs.keys()
    assert len({seed for seed, _ in SPLIT_SEEDS.values()}) == len(SPLIT_SEEDS)
    # drawing i of a split uses seeds offset + 10_000 + i (drawn) and offset + 20_000 + i (photo)
    used = [{offset + base + i for base in (10_000, 20_000) for i in range(1000)} for _, offset in SPLIT_SEEDS.values()]
    assert sum(map(len, used)) == len(set().union(*used))
    for split, chosen in programs.items():
        if split != "test":
            assert len(chosen & programs["test"]) <= 1, split  # a one-shape program may recur by chance


def test_iou_up_to_transform_forgives_a_small_shift_only():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sketch_rate import iou_up_to_transform

    from treediff.domains import get_domain
    from treediff.sketch import HELDOUT_STYLE, without_transform

    d = get_domain("csg2d")
    target = d.render_text("(Quad 8 8 3 8 G)")
    moved = d.render_text("(Quad 7 8 3 8 G)")  # a digit (4 px) to the left: IoU 0.6
    assert iou_up_to_transform(target, moved, without_transform(HELDOUT_STYLE)) < 0.7
    assert iou_up_to_transform(target, moved, HELDOUT_STYLE) > 0.75
    assert iou_up_to_transform(target, target, HELDOUT_STYLE) == 1.0
    assert iou_up_to_transform(target, d.render_text("(Circle 3 3 3)"), HELDOUT_STYLE) < 0.05  # far away


def test_the_ruler_style_draws_the_outline_itself():
    """`--style ruler` (a diagnostic) draws each outline clean: its reading lies on the true
    outline (a pixel at 64 is 0.5 units) in every drawing, which the held-out hand does not."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import numpy as np
    from sketch_rate import STYLES, benchmark_programs

    from treediff.preprocess import read_sketch
    from treediff.sketch import outline_distance, register_sketch_domain, sketch_program

    domain = register_sketch_domain()
    nodes = [domain.grammar.parse(text) for text in benchmark_programs(domain, 6, 7)]

    def worst(style: str) -> float:
        return max(outline_distance(read_sketch(1.0 - sketch_program(domain, node, 256, np.random.default_rng(i),
                                                                     STYLES[style]), 64, frame="canvas").image,
                                    domain.render(node, 64)) for i, node in enumerate(nodes))

    assert worst("ruler") < 0.3 < worst("heldout")


def test_registration_speed_script():
    summary = run_script("registration_speed.py", "--drawings", "2", "--candidates", "6", "--searches", "1",
                         "--budget", "12")
    assert summary["identical_results"] is True and summary["registrations"] >= 10
    assert summary["ms_per_registration_direct"] > 0 and summary["speedup"] > 0
    assert summary["searches"] == 1 and summary["searches_with_the_same_program"] == 1


def test_preprocess_speed_script():
    """Sixteen photos of one drawing (four kinds of paper, alone, on a desk, turned and at an
    angle, turned 30 degrees) and two 12 MP photos of a whole page squared or ruled every
    5 mm: each is timed, and each is one `solve` would switch to sketch mode for (a page
    turned 30 degrees was not, before its lines were sought at any turn, nor a whole page,
    before its dense lines were judged at 512 px)."""
    summary = run_script("preprocess_speed.py", "--repeats", "1")
    assert len(summary["photos"]) == 18
    assert all(row["sketch"] and row["read_ms"] > 0 for row in summary["photos"])
    assert summary["photos"][0]["ratio_to_plain_page"] == 1.0


def test_choice_speed_script():
    summary = run_script("choice_speed.py", "--drawings", "2", "--candidates", "5")
    assert summary["drawings"] == 2 and 1 <= summary["candidates_per_shortlist"] <= 5
    assert summary["seconds_per_shortlist_distance_only"] > 0 and summary["ratio"] > 0
    assert summary["direction_weight"] > 0
    assert 0 < summary["milliseconds_per_shortlist_wobble_check"] < 1000 * summary["seconds_per_shortlist_with_direction"]


def test_solve_rate_script():
    summary = run_script("solve_rate.py", "--domain", "csg2d", "--n", "2", "--budgets", "5,10")
    assert summary["n"] == 2 and {"solved_pct_at_5", "solved_pct_at_10"} <= summary.keys()
    assert summary["solved_pct_at_5"] <= summary["solved_pct_at_10"]
    assert 0.0 < summary["one_step_pointer_accuracy"] <= 1.0
    assert summary["one_step_token_loss"]["NUM"] > 0.0


def test_joined_shapes_script():
    summary = run_script("joined_shapes.py", "--n", "1", "--budget", "20")
    assert summary["n_per_kind"] == 1 and summary["budget"] == 20
    for name in ("shipped", "without_joined_fits"):
        assert summary[name]["median_seconds"] > 0
        for kind in ("circle+box", "box+box"):
            figures = summary[name][kind]
            assert 0.0 <= figures["pct_answered"] <= 100.0 and 0.0 <= figures["pct_joined"] <= 100.0
            assert len(figures["answers"]) == len(figures["ious"]) == 1 and 0.0 <= figures["mean_iou"] <= 1.0


def test_sketch_ambiguity_script():
    summary = run_script("sketch_ambiguity.py", "--n", "2", "--styles", "train,heldout-untransformed")
    assert summary["n"] == 2 and {"train", "heldout-untransformed"} <= summary.keys()
    for figures in (summary["train"], summary["heldout-untransformed"]):
        assert set(figures) == {"pct_iou90_goal", "pct_iou90_verifier", "pct_iou90_as_drawn", "pct_iou90_goal_on_detail",
                                "pct_iou90_verifier_on_detail", "pct_truth_beaten_by_goal"}
        assert all(0.0 <= v <= 100.0 for v in figures.values())


def test_sketch_ceiling_script():
    """Without the whole-drawing transform and with a steady hand every drawing tells its
    program; the held-out transform leaves some drawings open."""
    summary = run_script("sketch_ceiling.py", "--n", "6", "--draws", "2", "--grid", "17,9", "--sigma", "0.05",
                         "--styles", "heldout-untransformed,heldout", "--sigma-circles", "3")
    assert summary["n"] == 6 and sum(summary["programs_by_shapes_shown"].values()) == 6
    steady = summary["heldout-untransformed@sigma=0.05"]
    assert steady["pct_ceiling"] == steady["pct_most_probable"] == 100.0
    held_out = summary["heldout@sigma=0.05"]
    assert 0.0 < held_out["pct_most_probable"] <= 100.0 and held_out["pct_ceiling"] < 100.0
    assert held_out["median_candidates"] > steady["median_candidates"] == 1
    assert 0.0 < summary["measured_sigma"]["heldout"]["centre"] < 0.5


def test_visible_part_drops_operands_that_change_no_pixel():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sketch_ceiling import visible_part

    from treediff.domains import get_domain

    d = get_domain("csg2d")
    assert visible_part(d, "(- (Circle 3 6 4) (Circle 0 1 F))") == "(Circle 3 6 4)"  # a point-sized cut far away
    assert visible_part(d, "(- (Quad 8 8 5 5 H) (Circle 3 9 7))") == "(- (Quad 8 8 5 5 H) (Circle 3 9 7))"
