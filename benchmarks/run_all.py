"""`make bench`: every benchmark, then BENCHMARKS.md."""

from __future__ import annotations

import subprocess
import sys

STEPS = [
    ["benchmarks.bench_train", "--sizes", "m", "l", "--batch", "8", "--repeats", "3"],
    ["benchmarks.bench_memory", "--sizes", "m", "l"],
    ["benchmarks.bench_infer", "--sizes", "m", "l", "--repeats", "5"],
    ["benchmarks.bench_data"],
    ["benchmarks.bench_eval"],
]


def main() -> None:
    for step in STEPS:
        print("==>", " ".join(step), flush=True)
        subprocess.run([sys.executable, "-m", *step], check=True)
    subprocess.run([sys.executable, "-m", "benchmarks.report"], check=True)


if __name__ == "__main__":
    main()
