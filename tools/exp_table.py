"""The experiments as a readable table: changed params and the key metrics, nothing else.

``python -m tools.exp_table`` (``make experiments``) runs ``dvc exp show --only-changed``
keeping only the columns of reports/summary.json (``<model>.<key metric>``, named in the metric
catalogue) and of params.yaml. A plain ``--drop`` cannot do it: DVC names a metric by its file only
when another file has the same name, so unique names of the full metrics files (the VAE's
``elbo.*``, the classifier's ``test_acc``) would survive any file-based pattern. Arguments after
the options go to ``dvc exp show`` unchanged, e.g. ``--md``, ``--rev 1a2b3c4`` or
``--sort-by denoise.gain_db``.

After the table it lists each failed queued experiment with the last lines of its log and the log's
path, which ``dvc queue status`` does not show (treeverse/dvc#8192, #10779).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mnist_ae.catalogue import KEY_METRICS
from mnist_ae.config import PARAMS_FILE
from mnist_ae.models import MODELS
from tools import dvc_cli

SUMMARY_ROWS = (*MODELS, "pca", "classifier")  # the keys of reports/summary.json


def keep_pattern(param_sections: list[str]) -> str:
    """A ``--keep`` regex for the experiment's name and state, every param, and every key metric."""
    metrics = "|".join(re.escape(m.name) for m in KEY_METRICS)
    rows = "|".join(re.escape(name) for name in SUMMARY_ROWS)
    sections = "|".join(re.escape(section) for section in param_sections)
    return (rf"^(Experiment|rev|State|(reports/summary\.json:)?({rows})\.({metrics})$"
            rf"|(params\.yaml:)?({sections})\.)")


def command(param_sections: list[str], extra: list[str]) -> list[str]:
    return ["exp", "show", "--no-pager", "--only-changed", "--drop", ".*", "--keep", keep_pattern(param_sections),
            *extra]


def main(argv: list[str]) -> None:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    sections = list(yaml.safe_load(Path(PARAMS_FILE).read_text()))
    print(dvc_cli.output(Path.cwd(), *command(sections, argv)))
    if "--csv" not in argv and "--json" not in argv:
        for failure in failed_experiments(Path.cwd()):
            print(failure)


LOG_TAIL = 12  # lines of a failed experiment's log shown


def failed_experiments(root: Path, tail: int = LOG_TAIL) -> list[str]:
    """Each failed queued experiment as a block: its name, where its full log is, and the log's last lines."""
    from dvc.repo import Repo

    blocks = []
    with Repo(str(root)) as repo:
        queue = repo.experiments.celery_queue
        for done in queue.iter_failed():
            entry = done.entry
            name = entry.name or entry.stash_rev[:7]
            try:
                log = Path(queue.proc[entry.stash_rev].stdout)
            except KeyError:  # it failed before its process started: DVC kept no log
                blocks.append(f"failed: {name}; no log was kept (it failed during set-up): "
                              f"dvc queue logs {name}")
                continue
            lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
            shown = "\n".join(f"    {line}" for line in lines[-tail:])
            blocks.append(f"failed: {name}; full log: {log}\n{shown}")
    return blocks


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
