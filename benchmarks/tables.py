"""benchmarks/bench.md, the tables `make bench` writes beside bench.json (docs/performance.md links it)."""

from __future__ import annotations

import pandas as pd

from benchmarks.pipeline_runs import cell, time_split

GOAL_MACHINERY, GOAL_NOOP_S, GOAL_RSS_MIB = 0.05, 3.0, 2048  # the issues' goals: machinery ≤ 5% of the wall


def provenance(run: dict | None) -> str:
    """Which code ran, when, and on what, as bench.json records it."""
    if not run:
        return "commit and date not recorded (older than bench.json's provenance)"
    dirty = f", with uncommitted changes to {', '.join(run['code_changes'])}" if run["code_changes"] else ""
    flags = ", ".join(run["cpu_flags"]) or "none of AVX2, AVX-512, AMX"
    return (f"commit `{run['commit'][:7]}`{dirty} on {run['date'][:10]}, CPU family/model "
            f"{run['cpu_family_model']} ({flags}), {run['threads']} threads")


def table(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def goals(results: dict, runs: dict[str, dict]) -> list[dict]:
    ratios = {name: m["ratio"] for name, m in results["models"].items()}
    worst = min(ratios, key=ratios.get)
    measured = [("ratio A/B", "≥ 1.0 for every model", f"{ratios[worst]:.2f} at the lowest ({worst})",
                 ratios[worst] >= 1.0)]
    if "canonical" in runs and (split := time_split(runs["canonical"])):
        share = split["machinery"] / runs["canonical"]["wall_seconds"]
        measured.append(("machinery, share of the canonical run's wall time", f"≤ {GOAL_MACHINERY:.0%}",
                         f"{share:.1%}", share <= GOAL_MACHINERY))
    measured.append(("no-op `dvc repro`", f"≤ {GOAL_NOOP_S:.0f} s", f"{results['noop_repro_s']:.2f} s",
                     results["noop_repro_s"] <= GOAL_NOOP_S))
    peaks = {(label, stage): stat["peak_rss_mib"]
             for label, run in runs.items() for stage, stat in run["stages"].items()}
    if peaks:
        (label, stage), peak = max(peaks.items(), key=lambda item: item[1])
        measured.append(("peak RSS of any stage", "≤ 2 GiB", f"{peak:,.0f} MiB ({stage}, {label})",
                         peak <= GOAL_RSS_MIB))
    return [{"measure": m, "goal": g, "measured": v, "met": "yes" if met else "**no**"} for m, g, v, met in measured]


def markdown(results: dict) -> str:
    """bench.md: provenance, the goals, throughput per model, and the tiny and canonical pipelines."""
    runs = {label: results[key] for label, key in (("tiny", "tiny_pipeline"), ("canonical", "canonical_pipeline"))
            if key in results}
    parts = [f"Sections 1–5 measured on {results['machine']}, {provenance(results.get('run'))}; float32 matmul "
             f"peak {results['peak_gflops']:.0f} GFLOP/s; {results['epochs']} timed epochs per process, "
             f"{results['repeats']} A B pairs."]
    if "canonical" in runs:
        parts.append(f"The canonical run (section 6): {runs['canonical'].get('machine', results['machine'])}, "
                     f"{provenance(runs['canonical'].get('run'))}.")
    parts.append(table(goals(results, runs)))
    parts.append(table([{"model": name, "pipeline img/s": f"{m['pipeline_images_per_s']:,.0f}",
                         "plain Keras img/s": f"{m['plain_images_per_s']:,.0f}", "A/B": f"{m['ratio']:.2f}",
                         "A/B per pair": ", ".join(f"{r:.2f}" for r in m["pair_ratios"]),
                         "training MFLOP/img": f"{m['training_mflops_per_image']:.2f}",
                         "share of peak": f"{m['share_of_peak']:.1%}"} for name, m in results["models"].items()]))
    startup = results["startup"]
    parts.append(f"Start-up: Python {startup['python_s']:.2f} s, `import tensorflow` "
                 f"{startup['import_tensorflow_s']:.2f} s. No-op `dvc repro`: {results['noop_repro_s']:.2f} s.")
    if runs:
        rows = []
        for label, run in runs.items():
            split = time_split(run) or {}
            row = {"pipeline": label, "`dvc repro` wall": f"{run['wall_seconds']:.0f} s"}
            row |= {part: f"{split[part]:.0f} s" if split else "not recorded"
                    for part in ("model fitting", "evaluation compute", "machinery")}
            if not split:
                row["model fitting"] = f"{run['fit_seconds']:.0f} s"
            row["machinery share"] = f"{split['machinery'] / run['wall_seconds']:.1%}" if split else "not recorded"
            rows.append(row | {"wall / fit": f"{run['overhead']:.2f}"})
        parts.append(table(rows))
        stages = []
        for stage in next(iter(runs.values()))["stages"]:
            row = {"stage": stage}
            for label, run in runs.items():
                stat = run["stages"].get(stage, {})
                row |= {f"{label} s": f"{stat.get('seconds', float('nan')):.1f}",
                        f"{label} fit s": cell(stat, "fit_seconds"),
                        f"{label} eval s": cell(stat, "evaluation_seconds"),
                        f"{label} peak RSS": f"{stat.get('peak_rss_mib', 0):,.0f} MiB"}
            stages.append(row)
        parts.append(table(stages))
    return "\n\n".join(parts) + "\n"
