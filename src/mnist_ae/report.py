"""The README's results table, built from metrics/*.json (never typed by hand)."""

from __future__ import annotations

import math
import re
from pathlib import Path

# Published reference values, quoted from the sources named in README.md; they are not our results.
PUBLISHED_ANCHORS = {
    "dense": "≈ 0.09 BCE",
    "sparse": "",
    "deep": "≈ 0.08 BCE (100 epochs)",
    "conv": "0.094 BCE",
    "denoise": "val. BCE 0.084 (keras-io, noise 0.4)",
    "vae": "≈ 149–150 neg. ELBO",
    "pca": "0.1175 BCE",
    "mean_image": "",
}

COLUMNS = ["model", "test BCE", "PSNR dB", "SSIM", "denoising gain dB", "logreg acc", "kNN acc",
           "params", "compression", "published anchor"]

# The few numbers per model that an experiment table or a pull-request review shows first:
# (section of metrics/<model>.json, key there, name in reports/summary.json).
KEY_METRICS = (
    ("test", "bce_nats", "bce"),
    ("test", "psnr_db", "psnr_db"),
    ("noisy_test", "gain_db", "gain_db"),
    ("probe", "logreg_acc", "logreg_acc"),
)

README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"


def _fmt(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def results_table(metrics: dict[str, dict], floor_bce: float) -> str:
    """A markdown table with one row per model or baseline, in the given order."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name, m in metrics.items():
        test, noisy, probe = m.get("test", {}), m.get("noisy_test", {}), m.get("probe", {})
        cells = [
            f"`{name}`",
            _fmt(test.get("bce_nats"), 4),
            _fmt(test.get("psnr_db"), 2),
            _fmt(test.get("ssim"), 3),
            _fmt(noisy.get("gain_db"), 2),
            _fmt(probe.get("logreg_acc"), 3),
            _fmt(probe.get("knn_acc"), 3),
            f"{m['params']:,}" if "params" in m else "–",
            f"{m['compression']:.1f}×" if "compression" in m else "–",
            PUBLISHED_ANCHORS.get(name, ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Floor: BCE(x, x) on the test digits = {floor_bce:.4f} nats per pixel (published: 0.0581).")
    return "\n".join(lines) + "\n"


def extras_table(metrics: dict[str, dict], classifier: dict) -> str:
    """Generation quality of every decoder fed random codes, and the VAE's ELBO terms."""
    lines = [f"Digit classifier test accuracy: {classifier['test_acc']:.4f}.", "",
             "| model | mean confidence | class entropy (nats, max 2.30) | share ≥ threshold |",
             "|---|---|---|---|"]
    for name, m in metrics.items():
        if "generation" in m:
            g = m["generation"]
            lines.append(f"| `{name}` | {g['mean_confidence']:.3f} | {g['class_entropy_nats']:.3f} | "
                         f"{g['confident_share']:.3f} |")
    for name, m in metrics.items():
        if "neg_elbo_nats" in m.get(name, {}):
            e = m[name]
            lines += ["", f"`{name}` test negative ELBO: {e['neg_elbo_nats']:.2f} nats per image "
                          f"= {e['reconstruction_nats']:.2f} reconstruction + {e['kl_nats']:.2f} KL "
                          f"(published ≈ 149–150)."]
    return "\n".join(lines) + "\n"


def key_metrics(metrics: dict[str, dict], classifier: dict) -> dict[str, dict[str, float]]:
    """reports/summary.json: ``{model: {bce, psnr_db, gain_db, logreg_acc[, neg_elbo]}, classifier: {test_acc}}``.

    Short, flat names keep ``dvc exp show`` and ``dvc metrics diff`` readable; every value is
    copied from the full per-model files.
    """
    summary = {}
    for name, m in metrics.items():
        row = {short: m[section][key] for section, key, short in KEY_METRICS
               if key in m.get(section, {})}
        if "neg_elbo_nats" in m.get(name, {}):
            row["neg_elbo"] = m[name]["neg_elbo_nats"]
        summary[name] = row
    summary["classifier"] = {"test_acc": classifier["test_acc"]}
    return summary


def splice_between(page: Path, start: str, end: str, text: str) -> None:
    """Replace what lies between the markers ``start`` and ``end`` in ``page`` with ``text``."""
    content = page.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(content):
        raise ValueError(f"{page}: markers {start} / {end} not found")
    page.write_text(pattern.sub(lambda _: f"{start}\n{text}{end}", content))


def splice_into_readme(readme: Path, table: str) -> None:
    """Replace the text between the README's results markers with ``table``."""
    splice_between(readme, README_START, README_END, table)
