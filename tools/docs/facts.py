"""Numbers and tables quoted in README.md and docs/, each computed from a committed file, never typed.

In a page a number is written ``<!--fact:NAME-->value<!--/fact-->`` (the comments do not render),
and a block of generated markdown ``<!--block:NAME-->...<!--/block-->``. ``make docs``
(``python -m tools.docs.facts --write``) recomputes every value in place; tests/test_docs.py
fails when a committed page holds a value that is not what its source gives.

Fact names, each optionally followed by ``|format``:

- ``params:<dotted key>``: params.yaml, e.g. ``params:train.epochs``;
- ``bench:<dotted key>``: benchmarks/bench.json, e.g. ``bench:startup.import_tensorflow_s|.2f``;
- ``metric_raw:<model>.<dotted key>``: any value of metrics/<model>.json, e.g.
  ``metric_raw:vae.elbo.iwae_samples``;
- ``vendor:<npm package>``: the package and its version in vendor/vega/versions.json;
- a name from ``NAMED`` below, e.g. ``stages`` (how many stages dvc.yaml resolves to).

Formats: a Python format spec (``.2f``, ``,``) or ``min`` (seconds as whole minutes). Results
themselves are never inline facts: they live in the generated tables.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import yaml

from mnist_ae import StudyError
from mnist_ae.catalogue import BY_NAME
from mnist_ae.dotted import get
from mnist_ae.models import MODELS
from mnist_ae.paths import METRICS_DIR, RESULTS_TABLE, SEED_SPREAD, UNCERTAINTY_TABLE
from tools import dvc_cli

FACT = re.compile(r"<!--fact:(?P<name>[^>]+?)-->(?P<value>.*?)<!--/fact-->", re.DOTALL)
BLOCK = re.compile(r"<!--block:(?P<name>[^>]+?)-->\n(?P<value>.*?)<!--/block-->", re.DOTALL)
PAGES = ("README.md", "docs/*.md")
BENCH = Path("benchmarks/bench.json")
SWEEP_RECORD = Path("records/sweep_noise_factor_denoise.csv")


def dig(tree: Any, dotted: str, source: str) -> Any:
    try:
        return get(tree, dotted)
    except KeyError:
        raise StudyError(f"{source} has no {dotted}") from None


@cache
def _json(root: Path, path: Path) -> dict:
    return json.loads((root / path).read_text())


def _stage_count(root: Path) -> int:
    from tools.docs.deps import declared_stages

    return len(declared_stages(root))


def _spread_seeds(root: Path) -> str:
    if not (root / SEED_SPREAD).exists():
        return "none yet"
    return ", ".join(map(str, _json(root, SEED_SPREAD)["seeds"]))


def _sigma_multiple(root: Path) -> float:
    from tools.review.verdicts import SIGMA_MULTIPLE

    return SIGMA_MULTIPLE


NAMED: dict[str, Callable[[Path], Any]] = {
    "spread_seeds": _spread_seeds,
    "sigma_multiple": _sigma_multiple,
    "stages": _stage_count,
}


def _formatted(value: Any, spec: str) -> str:
    return f"{round(value / 60)}" if spec == "min" else format(value, spec)


def fact(root: Path, name: str) -> str:
    """The text of fact ``name`` (see the module's docstring) from the committed files under ``root``."""
    name, _, spec = name.partition("|")
    kind, _, key = name.partition(":")
    if kind == "params":
        value = dig(yaml.safe_load((root / "params.yaml").read_text()), key, "params.yaml")
    elif kind == "metric_raw":
        model, _, path = key.partition(".")
        value = dig(_json(root, METRICS_DIR / f"{model}.json"), path, f"metrics/{model}.json")
    elif kind == "vendor":
        return f"{key} {dig(_json(root, Path('vendor/vega/versions.json')), f'{key}.version', 'versions.json')}"
    elif kind == "bench":
        value = dig(_json(root, BENCH), key, str(BENCH))
    elif name in NAMED:
        value = NAMED[name](root)
    else:
        raise StudyError(f"unknown fact '{name}'; see tools/docs/facts.py")
    return _formatted(value, spec) if spec else str(value)


def spread_table(spread: dict) -> str:
    """records/seed_spread.json as a table: per model and key metric, mean ± sd, range and n."""
    lines = [f"Seeds {', '.join(map(str, spread['seeds']))} (`{spread['varied']}`), measured at commit "
             f"`{str(spread['commit'])[:7]}`."]
    for batch in spread.get("pooled", []):
        lines.append(f"Pooled with them for {', '.join(f'`{m}`' for m in batch['models'])}: seeds "
                     f"{', '.join(map(str, batch['seeds']))} at commit `{str(batch['commit'])[:7]}` on "
                     f"{batch['machine']} (as `make seed-spread POOL={','.join(batch['models'])}` runs them; see below).")
    order = [*MODELS, "pca", "classifier"]
    rows = [{"model": f"`{model}`", "metric": BY_NAME[name].title,
             "mean ± sd": f"{BY_NAME[name].format(s['mean'])} ± {s['sd']:.{BY_NAME[name].digits + 1}f}",
             "min – max": f"{BY_NAME[name].format(s['min'])} – {BY_NAME[name].format(s['max'])}", "n": s["n"]}
            for model in sorted(spread["metrics"], key=lambda m: order.index(m) if m in order else len(order))
            for name, s in spread["metrics"][model].items()]
    lines += ["", pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)]
    return "\n".join(lines) + "\n"


def _seed_spread_block(root: Path) -> str:
    if not (root / SEED_SPREAD).exists():
        return f"No `{SEED_SPREAD}` is committed yet: `make seed-spread` measures it.\n"
    return spread_table(_json(root, SEED_SPREAD))


def _reruns_block(table: str) -> Callable[[Path], str]:
    def render(root: Path) -> str:
        from tools.docs import reruns

        return getattr(reruns, table)(root)

    return render


# Generated markdown, by block name.
BLOCKS: dict[str, Callable[[Path], str]] = {
    "results": lambda root: (root / RESULTS_TABLE).read_text(),  # README.md: the report stage's table
    "uncertainty": lambda root: (root / UNCERTAINTY_TABLE).read_text(),  # docs/uncertainty.md: the same stage's
    "reruns": _reruns_block("reruns_table"),  # docs/reruns.md, from dvc.yaml
    "stages": _reruns_block("stages_table"),  # docs/pipeline.md, from dvc.yaml
    "dag": lambda root: dvc_cli.output(root, "dag", "--md") + "\n",  # docs/pipeline.md: DVC's own graph
    # docs/experiments.md, from the committed sweep record
    "sweep_record": lambda root: pd.read_csv(root / SWEEP_RECORD).to_markdown(index=False, floatfmt=".4g") + "\n",
    "seed_spread": _seed_spread_block,  # docs/uncertainty.md
}


def block(root: Path, name: str) -> str:
    if name not in BLOCKS:
        raise StudyError(f"unknown block '{name}'; see tools/docs/facts.py")
    return BLOCKS[name](root)


def block_in(text: str, name: str) -> str:
    """What a page holds in its block ``name`` now (to check against what the block's source gives)."""
    found = [m["value"] for m in BLOCK.finditer(text) if m["name"] == name]
    if len(found) != 1:
        raise StudyError(f"expected one block '{name}', found {len(found)}")
    return found[0]


def render(root: Path, text: str) -> str:
    """``text`` with every fact and block recomputed."""
    text = BLOCK.sub(lambda m: f"<!--block:{m['name']}-->\n{block(root, m['name'])}<!--/block-->", text)
    return FACT.sub(lambda m: f"<!--fact:{m['name']}-->{fact(root, m['name'])}<!--/fact-->", text)


def pages(root: Path) -> list[Path]:
    return sorted(page for pattern in PAGES for page in root.glob(pattern))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the pages in place (default: list stale ones)")
    args = parser.parse_args(argv)
    root, stale = Path.cwd(), []
    for page in pages(root):
        text = page.read_text()
        fresh = render(root, text)
        if fresh != text:
            stale.append(page.relative_to(root).as_posix())
            if args.write:
                page.write_text(fresh)
    verb = "rewrote" if args.write else "stale"
    print(f"{verb}: {', '.join(stale)}" if stale else "every quoted number is current")
    if stale and not args.write:
        sys.exit(1)


if __name__ == "__main__":
    main()
