"""`dvc plots show` and `dvc plots diff` pages render every chart offline, in a real browser.

The pages come from the committed plots and the vendored Vega (vendor/vega/page.html); headless
Chromium opens them with every network request failing, runs their scripts and dumps the DOM.
Each chart must then be an SVG that names its models (Vega-Embed renders SVG: the templates in
.dvc/plots ask for it). `.ci/run` installs Chromium where it is missing; where there is none, the
browser tests are skipped with one line saying so.
"""

import hashlib
import json
import re
import shutil
import subprocess

import pytest

from mnist_ae.models import MODELS
from tools import dvc_cli

from tools.review import vega
from conftest import ROOT, real_part_missing

pytestmark = pytest.mark.e2e  # a real Chromium renders the plots pages

CHARTS = {  # dvc.yaml's plot titles and the series each must show
    "Validation BCE per epoch": list(MODELS),
    "Training BCE per epoch": list(MODELS),
    "Noise robustness, PSNR against the input noise": [*MODELS, "pca", "noisy_input"],
}
# Chromium may not reach anything: every host resolves to nothing and every proxy request fails.
OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    real_part_missing("Chromium", "not installed (Debian: apt-get install chromium); the browser tests need it")


def rendered_dom(page) -> str:
    result = subprocess.run(
        [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", *OFFLINE, "--virtual-time-budget=20000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def charts_in(dom: str) -> dict[str, str]:
    """The markup of each chart's div, by its title (DVC makes the div's id from the title)."""
    divs = re.split(r'<div id="', dom)[1:]
    charts = {}
    for title in CHARTS:
        ident = re.sub(r"[^a-zA-Z0-9]", "_", title)
        charts[title] = next((div for div in divs if div.startswith(ident)), "")
    return charts


def legend_labels(chart: str) -> set[str]:
    return set(re.findall(r"<text[^>]*>([^<]+)</text>", chart))


def dvc_page(args, out, repo=ROOT) -> str:
    dvc_cli.output(repo, "plots", *args, "-o", str(out))
    html = (out / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and "<script src=" not in html  # nothing to fetch
    return html


def test_plots_show_renders_every_chart_offline_with_model_names(tmp_path):
    """The overlays name every model; after them, one chart per curve file of the stages' own plot
    outputs (declared as plots so the run cache stays on), each of which must render too."""
    html = dvc_page(["show"], tmp_path / "show")
    dom = rendered_dom(tmp_path / "show" / "index.html")
    for title, chart in charts_in(dom).items():
        assert 'role="graphics-document"' in chart and "<svg" in chart, f"'{title}' did not render"
        labels = legend_labels(chart)
        assert set(CHARTS[title]) <= labels, f"'{title}' lacks {set(CHARTS[title]) - labels}"
        assert not any("/" in label for label in labels), f"'{title}' shows file paths: {labels}"
    shown = json.loads(dvc_cli.output(ROOT, "plots", "show", "--json"))["data"]
    vega_charts = [title for title, items in shown.items() if any(item["type"] == "vega" for item in items)]
    assert list(CHARTS) == vega_charts[:len(CHARTS)]  # the overlays come first
    # Every chart with data, plus an empty one per dvclive summary (plots/train/<model>/metrics.json).
    assert html.count("vegaEmbed(") == len(vega_charts) + len(MODELS)
    assert dom.count('role="graphics-document"') == html.count("vegaEmbed("), "a chart did not render"


def test_plots_diff_tells_the_revisions_apart(tmp_path):
    """In a clone (the committed plots, so both sides define the same charts) against its HEAD."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(tmp_path / "repo")], check=True)
    dvc_page(["diff", "HEAD"], tmp_path / "diff", repo=tmp_path / "repo")
    dom = rendered_dom(tmp_path / "diff" / "index.html")
    for title, chart in charts_in(dom).items():
        labels = legend_labels(chart)
        assert {"revision", "workspace", "HEAD"} <= labels, f"'{title}': {labels}"
        assert set(CHARTS[title]) <= labels, title


def inlined_scripts(html: str) -> list[str]:
    """The inline scripts of a page, in order."""
    parts = html.split(vega.SCRIPT_START)[1:]
    return [part.split(vega.SCRIPT_END, 1)[0] for part in parts]


def test_the_page_template_inlines_the_vendored_scripts():
    page = (ROOT / vega.PAGE).read_text()
    versions = json.loads((ROOT / vega.VERSIONS).read_text())
    scripts = inlined_scripts(page)
    assert list(versions) == list(vega.PINS) and len(scripts) == len(versions)
    for (package, info), script in zip(versions.items(), scripts):
        assert info["version"] == vega.PINS[package][0], package
        assert hashlib.sha256(script.encode()).hexdigest() == info["script_sha256"], package
        assert (ROOT / vega.VENDOR_DIR / f"{package}.LICENSE").stat().st_size > 100, package
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC would add its CDN tags back


def test_dvc_uses_the_vendored_page():
    config = (ROOT / ".dvc" / "config").read_text()
    assert re.search(r"html_template = \.\./vendor/vega/page\.html", config)
