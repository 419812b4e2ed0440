"""Tables generated from dvc.yaml as DVC resolves it: "what reruns when you change what", and the stages.

``python -m tools.docs.reruns`` prints the first; ``make docs`` (tools/docs/facts.py) writes both into their pages'
``reruns`` and ``stages`` blocks (docs/reruns.md, docs/pipeline.md), and tests/test_docs.py fails when a
committed page is out of date.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tools.docs.deps import CODE_ROOTS, EXEMPT_FILES, StageDecl, covers, covers_key, declared_stages, leaf_keys



def downstream(first: set[str], stages: list[StageDecl]) -> set[str]:
    """Stages that read, directly or through others, an output of a stage in ``first``."""
    outputs = {stage.name: stage.outs for stage in stages}
    reached, frontier = set(first), set(first)
    while frontier:
        produced = [out for name in frontier for out in outputs[name]]
        frontier = {stage.name for stage in stages if stage.name not in reached
                    and any(covers(dep, out) or covers(out, dep) for dep in stage.deps for out in produced)}
        reached |= frontier
    return reached - first


def code_rows(root: Path, stages: list[StageDecl]) -> list[tuple[str, set[str]]]:
    """(project source file, stages that declare it) for every source file under src/ and stages/."""
    sources = sorted(p.relative_to(root).as_posix() for folder in CODE_ROOTS for p in (root / folder).rglob("*.py"))
    return [(path, {s.name for s in stages if any(covers(dep, path) for dep in s.deps)}) for path in sources]


def param_rows(params: dict[str, Any], stages: list[StageDecl]) -> list[tuple[str, str, set[str]]]:
    """(params key, a note, stages that declare it); each model's block is one row, the model list another."""
    keys = []
    for section, tree in params.items():
        for key in sorted(leaf_keys(tree, section)):
            parts = key.split(".")
            key = f"train.models.{parts[2]}.*" if parts[:2] == ["train", "models"] else key
            if key not in keys:
                keys.append(key)
    rows = [(key, "", key.removesuffix(".*")) for key in keys]
    first_block = next(i for i, key in enumerate(keys) if key.startswith("train.models."))
    rows.insert(first_block, ("train.models", " (which models: add or drop one)", "train.models"))
    return [(key, note, {s.name for s in stages if any(covers_key(d, probe) for d in s.params)})
            for key, note, probe in rows]


def stage_list(names: set[str], order: list[str]) -> str:
    """Stage names in pipeline order, with all the foreach instances of a stage shortened to ``train@*``."""
    out = []
    for name in order:
        if name not in names:
            continue
        base, _, instance = name.partition("@")
        family = [n for n in order if n.partition("@")[0] == base]
        label = f"`{base}@*`" if instance and len(family) > 1 and set(family) <= names else f"`{name}`"
        if label not in out:
            out.append(label)
    return ", ".join(out) or "nothing"


def table(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


def reruns_table(root: Path) -> str:
    """Two markdown tables, code files then params keys, each row with its direct and downstream reruns."""
    stages = declared_stages(root)
    order = [s.name for s in stages]
    params = yaml.safe_load((root / "params.yaml").read_text())

    def row(changed: str, direct: set[str], note: str = "") -> dict:
        reruns = f"nothing: {note}" if note else stage_list(direct, order)
        then = "" if note else stage_list(downstream(direct, stages), order)
        return {"you change": changed, "reruns": reruns, "then, if their outputs change": then}

    code = [row(f"`{path}`", direct, EXEMPT_FILES.get(path) or ("" if direct else "no stage imports it"))
            for path, direct in code_rows(root, stages)]
    keys = [row(f"`{key}`{note}", direct) for key, note, direct in param_rows(params, stages)]
    return f"### Code\n\n{table(code)}\n### Params\n\n{table(keys)}"


def stages_table(root: Path) -> str:
    """One row per stage: its command, what it writes, and the params keys it declares."""
    return table([{"stage": f"`{stage.name}`", "command": f"`{stage.cmd}`",
                   "writes": ", ".join(f"`{out}`" for out in stage.outs),
                   "params": ", ".join(f"`{key}`" for key in stage.params) or "none"}
                  for stage in declared_stages(root)])


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    print(reruns_table(Path.cwd()), end="")


if __name__ == "__main__":
    main()
