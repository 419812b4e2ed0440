"""The experiments as a readable table: changed params and the key metrics, nothing else.

``python -m tools.exp_table`` (``make exp-table``) runs ``dvc exp show --only-changed``
keeping only the columns of reports/summary.json (``<model>.<key metric>``, named in the metric
catalogue) and of params.yaml. A plain ``--drop`` cannot do it: DVC names a metric by its file only
when another file has the same name, so unique names of the full metrics files (the VAE's
``elbo.*``, the classifier's ``test_acc``) would survive any file-based pattern. Arguments after
the options go to ``dvc exp show`` unchanged, e.g. ``--md``, ``--rev 1a2b3c4`` or
``--sort-by denoise.gain_db``.
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


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
