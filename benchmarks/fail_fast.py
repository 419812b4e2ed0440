"""How long a stage takes to reject a bad param, against Python's start-up and TensorFlow's import.

Every stage validates params.yaml before it imports TensorFlow; this prints the wall time of each
stage script failing on a misspelt key (``train.epoch``), median of ``--repeats`` runs, in an empty
directory holding only that params.yaml.

    python -m benchmarks.fail_fast [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.timing import ROOT

STAGES = ["fetch.py", "prepare.py", "noise.py", "train.py dense", "baselines.py", "classifier.py",
          "evaluate.py dense", "figures.py", "report.py"]


def median_seconds(command: list[str], cwd: Path, repeats: int, expect_failure: bool) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if (result.returncode != 0) != expect_failure:
            sys.exit(f"error: {' '.join(command)} exited {result.returncode}:\n{result.stderr[-1000:]}")
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["epoch"] = params["train"]["epochs"]  # the typo every stage must catch
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
        python = [sys.executable]
        print(f"{'command':<38} {'median s':>9}")
        for label, command, fails in [
            ("python -c pass", [*python, "-c", "pass"], False),
            ("python -c 'import tensorflow'", [*python, "-c", "import tensorflow"], False),
            *[(f"stages/{stage} (bad param)", [*python, str(ROOT / "stages" / stage.split()[0]), *stage.split()[1:]],
               True) for stage in STAGES],
        ]:
            print(f"{label:<38} {median_seconds(command, workdir, args.repeats, fails):>9.2f}", flush=True)


if __name__ == "__main__":
    main()
