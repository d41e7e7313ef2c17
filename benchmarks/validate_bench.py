"""Benchmark: how long validating and planning the largest example city takes.

Prints one figure per line, e.g. `validate hangzhou.yaml: 41.2 ms median of 20 runs`.
Catalogue and profile loading are cached per process, as in the operator; the first
(cold) run is reported separately because the CLI pays it once per invocation.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from citykit.core.load.source import load_file
from citykit.core.model.catalogue import load_catalogue
from citykit.core.model.profiles import load_profile
from citykit.core.model.validation import validate, validate_file
from citykit.core.render.objects import plan
from citykit.resources import example_cities_dir

RUNS = 20


def median_ms(action: Callable[[], object], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    largest = max(
        example_cities_dir().glob("*.yaml"),
        key=lambda path: len(load_file(path).data["spec"]["initiatives"]),
    )
    start = time.perf_counter()
    validated = validate_file(largest)
    cold = (time.perf_counter() - start) * 1000
    count = len(validated.blueprint.enabled)
    print(f"largest example city: {largest.name} ({count} initiatives)")
    print(f"cold validate (loads catalogue and profile): {cold:.1f} ms")
    load_catalogue.cache_clear()
    load_profile.cache_clear()
    catalogue_ms = median_ms(lambda: (load_catalogue.cache_clear(), load_catalogue()), 5)
    print(f"catalogue load: {catalogue_ms:.1f} ms median of 5")
    validate_ms = median_ms(lambda: validate_file(largest))
    print(f"validate {largest.name}: {validate_ms:.1f} ms median of {RUNS} runs")
    document = load_file(largest)
    print(f"  of which YAML load: {median_ms(lambda: load_file(largest)):.1f} ms")
    print(f"  checks on loaded YAML: {median_ms(lambda: validate(document)):.1f} ms")
    objects = len(plan(validated))
    plan_ms = median_ms(lambda: plan(validated))
    print(f"plan {largest.name}: {plan_ms:.1f} ms median of {RUNS} runs, {objects} objects")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
