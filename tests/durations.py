# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The durations table that ends tests/run: each stage and its timed steps, then the slowest tests.

Reads what tests/run leaves in RESULTS: ``stages.tsv`` (stage, step, seconds, result; step
``(stage)`` is the stage itself) and the JUnit reports of every pytest run (``*.xml``: unit, lab,
molecule's testinfra). A test's time is setup + call + teardown, so a session fixture (the lab's
deploy) counts for the first test that uses it.
"""

from __future__ import annotations

import argparse
import csv
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def read_steps(path: Path) -> list[tuple[str, str, float, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row[0], row[1], float(row[2]), row[3]) for row in csv.reader(handle, delimiter="\t") if len(row) == 4]


def read_tests(results: Path) -> list[tuple[float, str, str]]:
    """(seconds, report, test id) of every test case in the JUnit reports under results."""
    tests = []
    for report in sorted(results.glob("*.xml")):
        try:
            root = ET.parse(report).getroot()
        except ET.ParseError:
            continue
        for case in root.iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}".lstrip(":")
            outcome = "failed" if case.find("failure") is not None or case.find("error") is not None else (
                "skipped" if case.find("skipped") is not None else "passed")
            tests.append((float(case.get("time") or 0), report.stem, f"{name} [{outcome}]"))
    return tests


def table(steps, tests, total: float | None, slowest: int) -> str:
    lines = ["", "durations (s)", f"{'stage':<10} {'step':<40} {'seconds':>8}  result"]
    for stage, step, seconds, result in steps:
        if step == "(stage)":
            lines.append(f"{stage:<10} {'':<40} {seconds:>8.0f}  {result}")
    for stage, step, seconds, result in steps:
        if step != "(stage)":
            lines.append(f"{stage:<10} {'  ' + step:<40} {seconds:>8.0f}  {result}")
    if total is not None:
        lines.append(f"{'total':<10} {'':<40} {total:>8.0f}")
    counts = {}
    for dummy, report, test in tests:
        counts[report] = counts.get(report, 0) + 1
    lines += ["", "tests per report: " + (", ".join(f"{r} {n}" for r, n in sorted(counts.items())) or "none"),
              "", f"the {slowest} slowest tests (s)"]
    for seconds, report, test in sorted(tests, reverse=True)[:slowest]:
        lines.append(f"{seconds:8.1f}  {report:<22} {test}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--total", type=float, help="wall time of the whole run")
    parser.add_argument("--slowest", type=int, default=15)
    args = parser.parse_args(argv)
    print(table(read_steps(args.results / "stages.tsv"), read_tests(args.results), args.total, args.slowest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
