"""Regenerate the fixed test sets in benchmarks/testsets/ (they are committed; this shows how they were made).

    python benchmarks/make_testsets.py
"""

from pathlib import Path

from treediff.testsets import make_test_set

HERE = Path(__file__).resolve().parent / "testsets"

SETS = {
    # name: (domain, n, seed)
    "csg2d_64.txt": ("csg2d", 64, 1001),
    "csg2d_256.txt": ("csg2d", 256, 2002),
    "tinysvg_256.txt": ("tinysvg", 256, 3003),
}


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, (domain, n, seed) in SETS.items():
        programs = make_test_set(domain, n, seed)
        header = f"# {domain} test set: {n} programs, seed {seed}, made by benchmarks/make_testsets.py\n"
        (HERE / name).write_text(header + "\n".join(programs) + "\n")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
