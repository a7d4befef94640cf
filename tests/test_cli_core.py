"""The core CLI commands through `treediff.cli.main`, and the domain registry."""

from __future__ import annotations

import json
import sys

import cairosvg
import numpy as np
import pytest
from PIL import Image

from treediff import domains as registry
from treediff.cli import main
from treediff.domains import Domain, available_domains, get_domain, register_domain, unregister_domain
from treediff.errors import TreediffError
from treediff.renderers.csg2d import CSG2DRenderer, csg_goal
from treediff.renderers.tinysvg import rgb_goal

from domains.dots import GRAMMAR_FILE as DOTS_GRAMMAR


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str) -> str:
    assert err.startswith("treediff: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_unparsable_program_exits_2_with_position_and_expectation(capsys, tmp_path):
    code, out, err = run(capsys, "render", "(+ (Circle 1 2 3)", "-o", str(tmp_path / "x.png"))
    assert code == 2 and out == ""
    assert_one_line_error(err)
    assert "end of input" in err and "expected one of: '('" in err
    code, _, err = run(capsys, "render", "(Circle 1 2 3))", "-o", str(tmp_path / "x.png"))
    assert code == 2 and "line 1, column 15" in assert_one_line_error(err)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("domain,program,says", [
    ("csg2d", "(Circle 10 8 8)", "'10' at column 9 is not a single value: NUM is one of 0 1 2 ... F"),
    ("csg2d", "(Quad 1 2 3 4 Z)", "unexpected 'Z'; expected one of: ANGLE (G H I J K L M N)"),
    ("tinysvg", "(Rect 4 4 pink black 1)", "unexpected 'pink'; expected one of: COLOR (black blue"),
    ("tinysvg", "(Rect 1 4 red black -1)", "unexpected '-1'; expected one of: NUM (0 1 2 3 4 5 6 7 8 9)"),
    ("dots", "canvas white [dot 8 1 1 red]", "unexpected '8'; expected one of: CELL (0 1 2 3 4 5 6 7)"),
])
def test_out_of_range_values_and_unknown_colours_are_rejected(capsys, tmp_path, domain, program, says):
    code, _, err = run(capsys, "render", "--domain", domain, program, "-o", str(tmp_path / "x.png"))
    assert code == 2
    assert says in assert_one_line_error(err)


def test_unknown_domain_lists_the_choices(capsys):
    code, _, err = run(capsys, "sample", "--domain", "csg3d")
    assert code == 2
    assert_one_line_error(err)
    assert "unknown domain 'csg3d'" in err
    for name in ("csg2d", "tinysvg", "dots"):
        assert name in err


def test_bad_grammar_file_reports_line_and_reason(capsys, tmp_path):
    bad = tmp_path / "bad.lark"
    bad.write_text('// treediff: primitives = item\nstart: item\nitem: "x" NUM\nNUM: "0" ..\n')
    code, out, err = run(capsys, "check-grammar", str(bad))
    assert code == 2 and out == ""
    assert str(bad) in err and "line 4" in assert_one_line_error(err)
    bad.write_text('// treediff: primitives = item\nstart: item\nitem: "x" NUM\nNUM: /[0-9]+/\n')
    code, _, err = run(capsys, "check-grammar", str(bad))
    assert code == 2 and "terminal NUM matches infinitely many" in assert_one_line_error(err)
    bad.write_text('start: item\nitem: "x"\n')
    code, _, err = run(capsys, "check-grammar", str(bad))
    assert code == 2 and "// treediff: primitives" in assert_one_line_error(err)
    code, _, err = run(capsys, "check-grammar", str(tmp_path / "missing.lark"))
    assert code == 2 and "cannot read grammar file" in assert_one_line_error(err)


def test_check_grammar_reports_what_treediff_derives(capsys):
    code, out, _ = run(capsys, "check-grammar", str(DOTS_GRAMMAR))
    assert code == 0
    assert "OK (start rule 'scene'" in out
    assert "  shapes: shape | shape ',' shapes" in out
    assert "primitive rules: dot, bar" in out
    assert "minimum primitive cost: scene=1, shapes=1, shape=1, dot=1, bar=1" in out
    assert "  CELL: 0 1 2 3 4 5 6 7" in out and "  SIZE: 1 2 3 4" in out
    code, out, _ = run(capsys, "check-grammar", str(DOTS_GRAMMAR), "--json")
    report = json.loads(out)
    assert report["primitives"] == ["dot", "bar"]
    assert report["min_primitive_cost"]["shapes"] == 1
    assert report["terminal_values"]["COLOR"] == ["gold", "navy", "red", "teal", "white"]
    assert len(report["example_programs"]) == 3
    assert report["feasible_primitive_counts"][:3] == [1, 2, 3]


def test_sample_is_reproducible_by_seed(capsys):
    first = run(capsys, "sample", "-n", "8", "--seed", "3")[1]
    again = run(capsys, "sample", "-n", "8", "--seed", "3")[1]
    other = run(capsys, "sample", "-n", "8", "--seed", "4")[1]
    assert first == again and first != other
    assert len(first.splitlines()) == 8
    code, out, _ = run(capsys, "sample", "--domain", "dots", "-n", "20", "--min-primitives", "2",
                       "--max-primitives", "3", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 20
    g = get_domain("dots").grammar
    for row in rows:
        assert 2 <= row["primitives"] <= 3 and g.parse(row["program"]).prims == row["primitives"]
    code, _, err = run(capsys, "sample", "--min-primitives", "5", "--max-primitives", "2")
    assert code == 2 and "--min-primitives" in assert_one_line_error(err)


def _png(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


@pytest.mark.parametrize("domain,program", [
    ("csg2d", "(+ (- (Quad 8 8 6 5 H) (Circle 3 9 7)) (Circle 2 3 C))"),
    ("tinysvg", "(Arrange h (Ellipse 4 4 blue black 1) (Move (Rect 3 5 yellow none 0) 1 2) 1)"),
    ("dots", "canvas navy [dot 2 2 3 gold, bar 4 1 2 4 red]"),
])
def test_render_writes_png_and_an_svg_cairosvg_draws_the_same(capsys, tmp_path, domain, program):
    png, svg = tmp_path / "out.png", tmp_path / "out.svg"
    code, out, _ = run(capsys, "render", "--domain", domain, program, "-o", str(png), "--svg", str(svg))
    assert code == 0 and out.split() == [str(png), str(svg)]
    with Image.open(png) as img:
        assert img.size == (128, 128)  # the domain's canvas
    picture = _png(png)
    raster = tmp_path / "from_svg.png"
    cairosvg.svg2png(url=str(svg), write_to=str(raster), output_width=128, output_height=128)
    drawn = _png(raster)
    if domain == "csg2d":  # one channel, white shapes on black; the SVG draws black on white
        drawn = 1.0 - drawn
    assert float(np.abs(drawn - picture).mean()) < 0.02
    code, _, _ = run(capsys, "render", "--domain", domain, program, "-o", str(png), "--size", "48")
    with Image.open(png) as img:
        assert code == 0 and img.size == (48, 48)


def test_render_program_file_and_bad_arguments(capsys, tmp_path):
    program = tmp_path / "p.txt"
    program.write_text("(Circle 4 8 8)\n")
    code, _, _ = run(capsys, "render", "--file", str(program), "-o", str(tmp_path / "c.png"))
    assert code == 0 and _png(tmp_path / "c.png")[64, 64].tolist() == [1.0, 1.0, 1.0]
    code, _, err = run(capsys, "render", "--file", str(tmp_path / "none.txt"))
    assert code == 2 and "cannot read program file" in assert_one_line_error(err)
    code, _, err = run(capsys, "render")
    assert code == 2 and "give a program" in assert_one_line_error(err)
    code, _, err = run(capsys, "render", "(Circle 4 8 8)", "--size", "5")
    assert code == 2 and "--size" in assert_one_line_error(err)


def test_noise_writes_forward_and_reverse_strip(capsys, tmp_path):
    strip = tmp_path / "strip.png"
    code, out, err = run(capsys, "noise", "(+ (Circle 4 8 8) (Quad 3 3 2 2 H))", "--steps", "3", "--seed", "1",
                         "--size", "32", "-o", str(strip), "--json")
    assert code == 0 and "wrote" in err
    chains = json.loads(out)
    assert len(chains["forward"]) == 4
    assert chains["reverse"][-1] == chains["forward"][0] == "(+ (Circle 4 8 8) (Quad 3 3 2 2 H))"
    with Image.open(strip) as img:
        assert img.size[1] == 2 * 32 + 8 and img.size[0] >= 4 * 32
    again = run(capsys, "noise", "(+ (Circle 4 8 8) (Quad 3 3 2 2 H))", "--steps", "3", "--seed", "1", "--json")[1]
    assert again == out


def test_domains_command_lists_every_domain(capsys):
    code, out, _ = run(capsys, "domains", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and set(rows) == set(available_domains())
    assert rows["csg2d"]["channels"] == 1 and rows["tinysvg"]["channels"] == 3
    assert rows["dots"]["primitive_rules"] == ["dot", "bar"]


def test_registry_rejects_duplicates_and_lists_choices():
    csg = get_domain("csg2d")
    with pytest.raises(ValueError, match="'csg2d' is already registered"):
        register_domain(Domain("csg2d", csg.grammar_file, CSG2DRenderer, csg_goal))
    assert get_domain("csg2d") is csg
    with pytest.raises(TreediffError, match=r"unknown domain 'nope'; choices: .*csg2d.*dots.*tinysvg"):
        get_domain("nope")


def test_entry_point_route_registers_a_third_party_domain(tmp_path, monkeypatch):
    """A package declaring [project.entry-points."treediff.domains"] is found at first lookup."""
    pkg = tmp_path / "dots_plugin.py"
    pkg.write_text(
        "from domains.dots import domain as _domain\n"
        "def plugin_domain():\n"
        "    d = _domain()\n"
        "    d.name = 'dots-plugin'\n"
        "    return d\n")
    info = tmp_path / "dots_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dots-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[treediff.domains]\ndots-plugin = dots_plugin:plugin_domain\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    try:
        assert "dots-plugin" in available_domains()
        plugin = get_domain("dots-plugin")
        assert plugin.grammar.start_name == "scene"
        assert plugin.render_text("canvas red [dot 1 1 1 navy]", 32).shape == (32, 32, 3)
    finally:
        unregister_domain("dots-plugin")
        sys.modules.pop("dots_plugin", None)


def test_goal_functions_return_solved_and_score():
    image = np.zeros((8, 8, 3), np.float32)
    assert rgb_goal(image, image)[0] and not rgb_goal(image, image + 0.5)[0]


def test_solve_complexity_penalty_is_checked_and_used(tmp_path, capsys):
    """--complexity-penalty trades score for shorter programs; a negative one is refused."""
    from pathlib import Path

    image = str(Path(__file__).resolve().parents[1] / "examples" / "target.png")
    assert main(["solve", image, "--complexity-penalty", "-1", "--out", str(tmp_path / "a"), "--quiet"]) == 2
    assert "complexity-penalty" in capsys.readouterr().err
    assert main(["solve", image, "--complexity-penalty", "0.002", "--budget", "40", "--json", "--quiet",
                     "--out", str(tmp_path / "b")]) == 0
    assert json.loads(capsys.readouterr().out)["solved"]
    assert get_domain("csg2d").complexity_penalty == 0.0  # the registered domain is untouched


def test_top_level_help_lists_each_command_in_words(capsys):
    """`treediff --help` lists every command with its one-line help as written: a literal
    "%" in a help string must not make argparse print its internal parameters instead."""
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "% solved vs node budget" in out
    assert "option_strings" not in out
