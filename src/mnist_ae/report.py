"""The README's results table, built from metrics/*.json (never typed by hand)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mnist_ae.catalogue import metric, metrics_named


@dataclass(frozen=True)
class Anchor:
    """A published reference value, quoted from the sources named in README.md; not our result.

    Where it measures what a metric here measures, that metric and the quoted range: a value quoted to
    d decimals stands for everything that rounds to it, so 0.09 is [0.085, 0.095].
    """
    quoted: str
    measures: str | None = None  # the metric's name
    low: float = 0.0
    high: float = 0.0
    decimals: int = 0


# The denoising anchor is a validation BCE at another noise factor, so it is quoted, not compared.
ANCHORS = {
    "dense": Anchor("≈ 0.09 BCE", "bce_nats", 0.09, 0.09, 2),
    "deep": Anchor("≈ 0.08 BCE (100 epochs)", "bce_nats", 0.08, 0.08, 2),
    "conv": Anchor("0.094 BCE", "bce_nats", 0.094, 0.094, 3),
    "denoise": Anchor("val. BCE 0.084 (keras-io, noise 0.4)"),
    "vae": Anchor("≈ 149–150 neg. ELBO", "neg_elbo_nats", 149.0, 150.0, 0),
    "pca": Anchor("0.1175 BCE", "bce_nats", 0.1175, 0.1175, 4),
}

# The results table's metric columns, defined in the catalogue.
TABLE_METRICS = metrics_named(("bce_nats", "psnr_db", "ssim", "gain_db", "logreg_acc", "knn_acc"))
GENERATION_METRICS = metrics_named(("mean_confidence", "class_entropy_nats", "confident_share"))
NEG_ELBO, RECONSTRUCTION, KL = metrics_named(("neg_elbo_nats", "reconstruction_nats", "kl_nats"))

UNCERTAINTY_METRICS = metrics_named(("bce_nats", "psnr_db", "logreg_acc", "neg_elbo_nats", "iwae_nll_nats"))
# A change is better or worse only beyond this many seed standard deviations (the review), and an anchor
# is "inside" the seed spread within mean ± this many sd.
SIGMA_MULTIPLE = 2.0



def _cell(metric, m: dict, stats: dict | None) -> str:
    """The value, and ± the seed sd where the spread measured this metric."""
    value = metric.format(metric.read(m))
    return f"{value} ± {stats['sd']:.{metric.digits + 1}f}" if stats and metric.read(m) is not None else value


def results_table(metrics: dict[str, dict], floor_bce: float, spread: dict | None = None) -> str:
    """A markdown table with one row per model or baseline, in the given order; with a seed spread
    (measured at these params), each value carries ± its sd over seeds."""
    spread_metrics = (spread or {}).get("metrics", {})
    header = ["model", *(m.title for m in TABLE_METRICS), "params", "compression", "published anchor"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in metrics.items():
        cells = [
            f"`{name}`",
            *(_cell(metric, m, spread_metrics.get(name, {}).get(metric.name)) for metric in TABLE_METRICS),
            f"{m['params']:,}" if "params" in m else "–",
            f"{m['compression']:.1f}×" if "compression" in m else "–",
            ANCHORS[name].quoted if name in ANCHORS else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if spread:
        lines.append(f"± is the standard deviation over {len(spread.get('seeds', []))} seeds{pooled_note(spread)}; "
                     "intervals and anchors against the spread: `docs/uncertainty.md`.")
    lines.append(f"Floor: BCE(x, x) on the test digits = {floor_bce:.4f} nats per pixel (published: 0.0581).")
    return "\n".join(lines) + "\n"


def extras_table(metrics: dict[str, dict], classifier: dict) -> str:
    """Generation quality of every decoder fed random codes, and the VAE's ELBO terms."""
    accuracy = metric("test_acc")
    lines = [f"Digit classifier test accuracy: {accuracy.format(accuracy.read(classifier))}.", "",
             "| model | " + " | ".join(m.title for m in GENERATION_METRICS) + " |",
             "|---|" + "---|" * len(GENERATION_METRICS)]
    for name, m in metrics.items():
        if "generation" in m:
            lines.append(f"| `{name}` | " + " | ".join(g.format(g.read(m)) for g in GENERATION_METRICS) + " |")
    for name, m in metrics.items():
        if NEG_ELBO.read(m) is not None:
            lines += ["", f"`{name}` test negative ELBO: {NEG_ELBO.format(NEG_ELBO.read(m))} nats per image "
                          f"= {RECONSTRUCTION.format(RECONSTRUCTION.read(m))} reconstruction "
                          f"+ {KL.format(KL.read(m))} KL (published ≈ 149–150)."]
    return "\n".join(lines) + "\n"


def _anchor_cell(name: str, metric, stats: dict | None) -> tuple[str, str]:
    anchor = ANCHORS.get(name)
    if anchor is None or anchor.measures != metric.name:
        return "", ""
    low, high, decimals = anchor.low, anchor.high, anchor.decimals
    shown = f"{low:.{decimals}f}" if low == high else f"{low:.{decimals}f}–{high:.{decimals}f}"
    if stats is None:
        return shown, "no seed spread"
    half_unit = 0.5 * 10.0 ** -decimals  # the rounding the quoted value hides
    lower, upper = stats["mean"] - SIGMA_MULTIPLE * stats["sd"], stats["mean"] + SIGMA_MULTIPLE * stats["sd"]
    return shown, "inside" if high + half_unit >= lower and low - half_unit <= upper else "outside"


def uncertainty_table(metrics: dict[str, dict], spread: dict | None) -> str:
    """Per model and headline metric: the committed value, its 95% bootstrap interval over the test digits,
    the mean ± sd over seeds (records/seed_spread.json), and whether the published anchor (with the
    rounding of its quoted digits) meets mean ± 2 sd."""
    spread_metrics = (spread or {}).get("metrics", {})
    seeds = len((spread or {}).get("seeds", []))
    lines = ["| model | metric | this run | 95% interval, test digits | mean ± sd over seeds | "
             "published anchor | anchor vs seeds |", "|---|---|---|---|---|---|---|"]
    for name, m in metrics.items():
        for quantity in UNCERTAINTY_METRICS:
            value = quantity.read(m)
            if value is None:
                continue
            interval = quantity.interval(m)
            stats = spread_metrics.get(name, {}).get(quantity.name)
            seeds_cell = (f"{quantity.format(stats['mean'])} ± {stats['sd']:.{quantity.digits + 1}f} ({stats['n']})"
                          if stats else "–")
            anchor, verdict = _anchor_cell(name, quantity, stats)
            lines.append(f"| `{name}` | {quantity.title} | {quantity.format(value)} | "
                         + (f"{quantity.format(interval[0])} – {quantity.format(interval[1])}" if interval else "–")
                         + f" | {seeds_cell} | {anchor} | {verdict} |")
    note = (f"Seeds: {seeds} runs varying `{spread['varied']}` ({', '.join(map(str, sorted(spread['seeds'])))}), "
            f"measured at commit `{str(spread['commit'])[:7]}`{pooled_note(spread)}. An anchor is inside when the values "
            "that round to it "
            f"meet mean ± {SIGMA_MULTIPLE:g} sd." if spread else
            "No seed spread is committed at these params (`make seed-spread` measures it).")
    return "\n".join([*lines, "", note, ""])


def pooled_note(spread: dict) -> str:
    """", and for `deep` 4 more on AMD EPYC" for each batch of runs pooled in from another machine, and
    ", `vae.iwae_nll_nats` from 4 runs at commit `6c5213e`" for each metric added later."""
    return "".join(f", and for {', '.join(f'`{m}`' for m in batch['models'])} {len(batch['seeds'])} more on "
                   f"{batch['machine']}" for batch in spread.get("pooled", [])) + \
        "".join(f", {', '.join(f'`{m}`' for m in batch['metrics'])} from {len(batch['seeds'])} runs at commit "
                f"`{str(batch['commit'])[:7]}`" for batch in spread.get("added", []))


# The params a key metric can depend on, so the ones a seed spread must share to apply: not the
# figures', nor fetch's URLs and timeouts (its content hash pins the data they serve).
METRIC_PARAMS = ("base", "fetch.content_sha256", "prepare", "noise", "train", "baselines", "classifier", "evaluate")


def metric_params(flat: dict[str, Any]) -> dict[str, Any]:
    """The dotted params in ``flat`` that lie under METRIC_PARAMS."""
    return {key: value for key, value in flat.items()
            if any(key == prefix or key.startswith(f"{prefix}.") for prefix in METRIC_PARAMS)}


def spread_param_differences(spread: dict, params: dict[str, Any]) -> list[str]:
    """The dotted metric params whose values differ between where the seed spread was measured and ``params``."""
    theirs, ours, varied = metric_params(spread.get("params", {})), metric_params(params), spread.get("varied")
    return sorted(key for key in set(theirs) | set(ours) if key != varied and theirs.get(key) != ours.get(key))


def applicable_spread(spread: dict | None, params: dict[str, Any]) -> dict | None:
    """The seed spread, if it was measured at these params (its varied seed aside), else None."""
    return spread if spread is not None and not spread_param_differences(spread, params) else None
