"""The review's curve charts: DVC's own Vega-Lite specs of both revisions, as PNGs made without a browser.

``dvc plots diff <base> --json`` fills the project's templates (.dvc/plots/) with the data of both
revisions: colour tells the models apart, dash patterns the revisions. vl-convert renders each
spec to PNG, so a pull-request comment, which runs no JavaScript, still shows how training changed.
"""

from __future__ import annotations

import re
from pathlib import Path

from mnist_ae import StudyError


class NoRenderer(StudyError):
    """The optional chart renderer (the ``review`` extra) is missing."""


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def render_charts(plots_json: dict, out_dir: Path, titles: set[str], scale: float = 1.5) -> list[tuple[str, Path]]:
    """Write the Vega charts named in ``titles`` of a ``dvc plots show/diff --json`` output to ``out_dir``
    as PNG.

    Returns (title, path) per chart, in DVC's order; image plots (the PNG figures) are left out.
    """
    try:
        import vl_convert
    except ImportError:
        raise NoRenderer("vl-convert is not installed (`pip install -e '.[review]'`; the lock has it), so the "
                         "curves are only in the interactive plots below") from None

    charts = []
    for title, items in (plots_json.get("data") or {}).items():
        if title not in titles:
            continue
        for item in items:
            if item.get("type") != "vega":
                continue
            try:
                png = vl_convert.vegalite_to_png(item["content"], scale=scale)
            except ValueError as exc:
                reason = str(exc).splitlines()[1:2] or [str(exc)]
                raise StudyError(f"chart '{title}': vl-convert could not render its spec ({reason[0].strip()})") from None
            path = out_dir / f"{slug(title)}.png"
            out_dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
            charts.append((title, path))
    return charts


def charts_section(charts: list[tuple[str, str]], revisions: str) -> str:
    """Markdown for (title, image link) pairs."""
    if not charts:
        return "No curve to draw.\n"
    lines = [f"Each chart overlays {revisions}: colour is the model, the dash pattern the revision.", ""]
    for title, link in charts:
        lines += [f"**{title}**", "", f"![{title}]({link})", ""]
    return "\n".join(lines)
