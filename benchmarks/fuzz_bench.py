"""Fuzz benchmark: the hostile-input contracts of tests/unit/test_fuzz.py (tests/fuzzing.py)
over many more cases, with a random seed; prints cases/s and every defect found (issue 13).

    PYTHONPATH=operator python benchmarks/fuzz_bench.py [--cases N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzzing import (
    blueprint_shaped,
    contract_defects,
    mutated_data,
    mutated_text,
)

STRATEGIES = {"text": mutated_text(), "data": mutated_data(), "shaped": blueprint_shaped}


def run(name: str, cases: int, random_seed: int, folder: Path) -> tuple[int, float, Counter[str]]:
    defects: Counter[str] = Counter()
    count = 0

    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(random_seed)
    @given(content=STRATEGIES[name])
    def case(content: bytes) -> None:
        nonlocal count
        count += 1
        path = folder / f"{name}.yaml"
        path.write_bytes(content)
        for defect in contract_defects(path):
            defects[defect.split(":")[0]] += 1
            print(f"  defect ({name}): {defect[:160]}", flush=True)

    started = time.monotonic()
    case()
    return count, time.monotonic() - started, defects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=3000, help="cases per strategy")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    print(f"seed {args.seed}")
    total_cases, total_seconds, total_defects = 0, 0.0, 0
    with tempfile.TemporaryDirectory() as folder:
        for name in STRATEGIES:
            cases = args.cases if name != "shaped" else max(1, args.cases // 10)
            count, seconds, defects = run(name, cases, args.seed, Path(folder))
            found = sum(defects.values())
            total_cases, total_seconds, total_defects = (
                total_cases + count,
                total_seconds + seconds,
                total_defects + found,
            )
            print(f"{name:7} {count:6} cases  {count / seconds:7.1f} cases/s  {found} defects")
    print(
        f"total   {total_cases:6} cases  {total_cases / total_seconds:7.1f} cases/s  "
        f"{total_defects} defects"
    )
    sys.exit(1 if total_defects else 0)


if __name__ == "__main__":
    main()
