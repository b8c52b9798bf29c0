"""Print how long each gallery example took in the last build, and hold the gallery to its time budget.

Usage, after ``sphinx-build`` ran the gallery::

    python docs/gallery_times.py docs/sg_execution_times.rst

sphinx-gallery writes ``sg_execution_times.rst`` into the source folder at every build that runs examples. The
budget (``BUDGET_S``) is a guard against an example that has grown into a training run, not a speed test: the
examples take about a minute in all on two idle cores, and the budget is many times that, so a slow spell of a
shared machine does not trip it. Each example is meant to take well under a minute.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

#: The whole gallery's budget, in seconds (the CI run has 90 minutes in all).
BUDGET_S = 15 * 60


def example_times(text: str) -> dict[str, float]:
    """Example file name -> seconds, from the list-table of ``sg_execution_times.rst``."""
    rows = re.findall(r"\(``[^`]*?([\w-]+\.py)``\)\s*\n\s*- (\d+):(\d+)\.(\d+)", text)
    return {name: int(m) * 60 + int(s) + int(frac) / 10 ** len(frac) for name, m, s, frac in rows}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python docs/gallery_times.py docs/sg_execution_times.rst", file=sys.stderr)
        return 2
    path = Path(argv[1])
    if not path.is_file():
        print(f"{path}: no such file (was the gallery run?)", file=sys.stderr)
        return 2
    times = example_times(path.read_text(encoding="utf-8"))
    if not times:
        print(f"{path}: no example times in it", file=sys.stderr)
        return 2
    for name, seconds in sorted(times.items(), key=lambda item: -item[1]):
        print(f"  {seconds:7.1f} s  {name}")
    total = sum(times.values())
    print(f"gallery: {len(times)} examples in {total:.0f} s (budget {BUDGET_S} s)")
    return 1 if total > BUDGET_S else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
