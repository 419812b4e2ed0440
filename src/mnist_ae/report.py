"""The README's results table, built from metrics/*.json (never typed by hand)."""

from __future__ import annotations

import re
from pathlib import Path

from mnist_ae.catalogue import metric, metrics_named

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

# The results table's metric columns, defined in the catalogue.
TABLE_METRICS = metrics_named(("bce_nats", "psnr_db", "ssim", "gain_db", "logreg_acc", "knn_acc"))
GENERATION_METRICS = metrics_named(("mean_confidence", "class_entropy_nats", "confident_share"))
NEG_ELBO, RECONSTRUCTION, KL = metrics_named(("neg_elbo_nats", "reconstruction_nats", "kl_nats"))

README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"


def results_table(metrics: dict[str, dict], floor_bce: float) -> str:
    """A markdown table with one row per model or baseline, in the given order."""
    header = ["model", *(m.title for m in TABLE_METRICS), "params", "compression", "published anchor"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in metrics.items():
        cells = [
            f"`{name}`",
            *(metric.format(metric.read(m)) for metric in TABLE_METRICS),
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
