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
    assert summary["fit_start"] is True and summary["style"] == "heldout"


def test_solve_rate_script():
    summary = run_script("solve_rate.py", "--domain", "csg2d", "--n", "2", "--budgets", "5,10")
    assert summary["n"] == 2 and {"solved_pct_at_5", "solved_pct_at_10"} <= summary.keys()
    assert summary["solved_pct_at_5"] <= summary["solved_pct_at_10"]
    assert 0.0 < summary["one_step_pointer_accuracy"] <= 1.0
    assert summary["one_step_token_loss"]["NUM"] > 0.0


def test_sketch_ambiguity_script():
    summary = run_script("sketch_ambiguity.py", "--n", "2", "--styles", "train,heldout-untransformed")
    assert summary["n"] == 2 and {"train", "heldout-untransformed"} <= summary.keys()
    for figures in (summary["train"], summary["heldout-untransformed"]):
        assert set(figures) == {"pct_iou90_goal", "pct_iou90_verifier", "pct_iou90_as_drawn", "pct_truth_beaten_by_goal"}
        assert all(0.0 <= v <= 100.0 for v in figures.values())
