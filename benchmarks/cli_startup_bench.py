"""Benchmark: how long a whole `citykit` process takes, beside the floor of its own imports.

Each figure is a whole process, as a user runs it: the installed `citykit` console script
(found on PATH with shutil.which) against the floor `python3 -c 'import jsonschema, yaml,
click'` (what validating cannot do without). One warm-up run each, then A and B alternated,
median of 5. Prints, e.g.
`citykit validate hangzhou.yaml: 372.1 ms | floor 151.0 ms | ratio 2.46 (median of 5)`.
Both sides start through the same launchers (a pyenv shim, say), so the ratio compares like
with like. No assertions: these are figures.

`--checkout DIR` measures another checkout instead (e.g. a `git worktree` of an older commit):
`python3 -m citykit` with PYTHONPATH=DIR/operator, and that checkout's example cities.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

RUNS = 5
FLOOR = ("-c", "import jsonschema, yaml, click")


def run_ms(command: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if completed.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} exited {completed.returncode}: "
            f"{completed.stderr.decode(errors='replace').strip()}"
        )
    return elapsed


def side_by_side(
    a: Sequence[str], b: Sequence[str], env_a: dict[str, str], env_b: dict[str, str]
) -> tuple[float, float]:
    """Medians of A and B, one warm-up each, then alternated RUNS times."""
    run_ms(a, env_a)
    run_ms(b, env_b)
    samples_a, samples_b = [], []
    for _ in range(RUNS):
        samples_a.append(run_ms(a, env_a))
        samples_b.append(run_ms(b, env_b))
    return statistics.median(samples_a), statistics.median(samples_b)


def largest_city(cities: Path) -> tuple[Path, int]:
    counted = [
        (path, len(yaml.safe_load(path.read_text())["spec"]["initiatives"]))
        for path in sorted(cities.glob("*.yaml"))
    ]
    return max(counted, key=lambda pair: pair[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, help="measure this checkout's operator/ instead")
    arguments = parser.parse_args()
    python = shutil.which("python3") or sys.executable
    env = dict(os.environ)
    if arguments.checkout:
        checkout = arguments.checkout.resolve()
        citykit = [python, "-m", "citykit"]
        citykit_env = {**env, "PYTHONPATH": str(checkout / "operator")}
        cities = checkout / "blueprints" / "cities"
    else:
        script = shutil.which("citykit")
        if script is None:
            raise SystemExit("no `citykit` on PATH: python3 -m pip install -e .")
        from citykit.resources import example_cities_dir

        citykit, citykit_env, cities = [script], env, example_cities_dir()
    city, count = largest_city(cities)
    floor = [python, *FLOOR]
    print(
        f"citykit: {' '.join(citykit)}" + (f" ({arguments.checkout})" if arguments.checkout else "")
    )
    print(f"floor: {python} -c '{FLOOR[1]}'")
    print(f"largest example city: {city.name} ({count} initiatives)")
    for label, args in ((f"validate {city.name}", ["validate", str(city)]), ("--help", ["--help"])):
        measured, base = side_by_side([*citykit, *args], floor, citykit_env, env)
        print(
            f"citykit {label}: {measured:.1f} ms | floor {base:.1f} ms | "
            f"ratio {measured / base:.2f} (median of {RUNS})"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
