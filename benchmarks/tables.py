"""The markdown tables of docs/performance.md, from a bench.json."""

from __future__ import annotations

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


def markdown(results: dict) -> str:
    """The tables of docs/performance.md, from a bench.json."""
    lines = [f"Sections 1–5 measured on {results['machine']}, {provenance(results.get('run'))}; float32 matmul "
             f"peak {results['peak_gflops']:.0f} GFLOP/s; {results['epochs']} timed epochs per process, "
             f"{results['repeats']} A B pairs.", ""]
    runs = {label: results[key] for label, key in (("tiny", "tiny_pipeline"), ("canonical", "canonical_pipeline"))
            if key in results}
    if "canonical" in runs:
        lines += [f"The canonical run (section 6): {runs['canonical'].get('machine', results['machine'])}, "
                  f"{provenance(runs['canonical'].get('run'))}.", ""]
    ratios = {name: m["ratio"] for name, m in results["models"].items()}
    worst_ratio = min(ratios, key=ratios.get)
    peaks = {(label, stage): stat["peak_rss_mib"]
             for label, run in runs.items() for stage, stat in run["stages"].items()}
    goals = [("ratio A/B", "≥ 1.0 for every model", f"{ratios[worst_ratio]:.2f} at the lowest ({worst_ratio})",
              ratios[worst_ratio] >= 1.0)]
    if "canonical" in runs and (split := time_split(runs["canonical"])):
        share = split["machinery"] / runs["canonical"]["wall_seconds"]
        goals.append(("machinery, share of the canonical run's wall time", f"≤ {GOAL_MACHINERY:.0%}",
                      f"{share:.1%}", share <= GOAL_MACHINERY))
    goals.append(("no-op `dvc repro`", f"≤ {GOAL_NOOP_S:.0f} s", f"{results['noop_repro_s']:.2f} s",
                  results["noop_repro_s"] <= GOAL_NOOP_S))
    if peaks:
        (label, stage), peak = max(peaks.items(), key=lambda item: item[1])
        goals.append(("peak RSS of any stage", "≤ 2 GiB", f"{peak:,.0f} MiB ({stage}, {label})",
                      peak <= GOAL_RSS_MIB))
    lines += ["| measure | goal | measured | met |", "|---|---|---|---|"]
    lines += [f"| {measure} | {goal} | {value} | {'yes' if met else '**no**'} |" for measure, goal, value, met in goals]
    lines += ["", "| model | pipeline img/s | plain Keras img/s | A/B | A/B per pair | training MFLOP/img | "
                  "share of peak |", "|---|---|---|---|---|---|---|"]
    for name, m in results["models"].items():
        pairs = ", ".join(f"{r:.2f}" for r in m["pair_ratios"])
        lines.append(f"| {name} | {m['pipeline_images_per_s']:,.0f} | {m['plain_images_per_s']:,.0f} | "
                     f"{m['ratio']:.2f} | {pairs} | {m['training_mflops_per_image']:.2f} | {m['share_of_peak']:.1%} |")
    startup = results["startup"]
    lines += ["", f"Start-up: Python {startup['python_s']:.2f} s, `import tensorflow` "
                  f"{startup['import_tensorflow_s']:.2f} s. No-op `dvc repro`: {results['noop_repro_s']:.2f} s."]
    if runs:
        lines += ["", "| pipeline | `dvc repro` wall | model fitting | evaluation compute | machinery | "
                      "machinery share | wall / fit |", "|---" * 7 + "|"]
        for label, run in runs.items():
            split = time_split(run)
            parts = (f"{split['model fitting']:.0f} s | {split['evaluation compute']:.0f} s | "
                     f"{split['machinery']:.0f} s | {split['machinery'] / run['wall_seconds']:.1%}") if split else \
                f"{run['fit_seconds']:.0f} s | not recorded | not recorded | not recorded"
            lines.append(f"| {label} | {run['wall_seconds']:.0f} s | {parts} | {run['overhead']:.2f} |")
        header = " | ".join(f"{label} s | {label} fit s | {label} eval s | {label} peak RSS" for label in runs)
        lines += ["", f"| stage | {header} |", "|---" * (1 + 4 * len(runs)) + "|"]
        for stage in next(iter(runs.values()))["stages"]:
            cells = []
            for run in runs.values():
                stat = run["stages"].get(stage, {})
                cells += [f"{stat.get('seconds', float('nan')):.1f}", cell(stat, "fit_seconds"),
                          cell(stat, "evaluation_seconds"), f"{stat.get('peak_rss_mib', 0):,.0f} MiB"]
            lines.append(f"| {stage} | {' | '.join(cells)} |")
    return "\n".join(lines)


def versus_markdown(record: dict) -> str:
    """docs/performance.md's table of a recorded A B comparison against another commit (versus.json, versus_start.json:
    benchmarks/versus.py, removed after those runs, timed each commit's training path in alternating processes)."""
    machine = record["machine"]
    flags = ", ".join(machine["cpu_flags"]) or "none of AVX2, AVX-512, AMX"
    lines = [f"Commit `{machine['commit'][:7]}` against `{record['against'][:7]}`, {machine['date'][:10]}, "
             f"{machine['cpu']} (family/model {machine['cpu_family_model']}; {flags}), {machine['threads']} threads; "
             f"{record['epochs']} timed epochs per process, {record['repeats']} A B pairs; CPU seconds and "
             f"page faults per epoch.", "",
             "| model | code | s / epoch | user CPU s | sys CPU s | minor page faults | speed-up (per pair) |",
             "|---|---|---:|---:|---:|---:|---|"]
    for name, figures in record["models"].items():
        pairs = ", ".join(f"{pair:.2f}" for pair in figures["pairs"])
        for side, label in (("against", f"`{record['against'][:7]}`"), ("this", f"`{machine['commit'][:7]}`")):
            row = figures[side]
            speed_up = f"**{figures['speed_up']:.2f}** ({pairs})" if side == "this" else ""
            lines.append(f"| {name} | {label} | {row['seconds_per_epoch']:.1f} | {row['user_s']:.1f} | "
                         f"{row['sys_s']:.1f} | {row['minor_faults']:,.0f} | {speed_up} |")
    totals = {side: sum(figures[side]["seconds_per_epoch"] for figures in record["models"].values())
              for side in ("against", "this")}
    lines += ["", f"One epoch of each model above ({', '.join(record['models'])}), summed: "
              f"{totals['against']:.1f} s at `{record['against'][:7]}`, "
              f"{totals['this']:.1f} s at `{machine['commit'][:7]}` (**{totals['against'] / totals['this']:.2f}×**). "
              "Every model trains the same number of epochs, so with all of them listed this is the speed-up "
              "of the canonical run's training."]
    return "\n".join(lines)
