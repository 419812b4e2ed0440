"""Vendored Vega, Vega-Lite and Vega-Embed, so `dvc plots show` and `dvc plots diff` render offline.

DVC's HTML pages load these three scripts from a CDN, so on a machine without internet the
interactive charts are silently missing. ``make vendor`` (``python -m tools.review.vega``):

- downloads each pinned npm tarball from the npm registry and checks it against its pinned
  sha512 integrity (the ``dist.integrity`` that ``npm view <package>@<version>`` prints);
- writes ``vendor/vega/<package>.LICENSE`` (each package's LICENSE file; vega's tarball has none,
  so its file quotes the license its package.json declares) and
  ``vendor/vega/versions.json`` (version, tarball integrity, and the sha256 of the script used);
- writes ``vendor/vega/page.html``, DVC's page template with the three scripts inlined, which
  ``.dvc/config`` names as ``plots.html_template``: every page DVC writes then carries them.

To update: change ``PINS`` (version and integrity), run ``make vendor``, run the browser test
(tests/test_plots_page.py) and look at the pages. tests/test_plots_page.py also checks that the
inlined scripts are the ones versions.json records.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path

from mnist_ae import StudyError
from mnist_ae.files import atomic_path

# package: (version, the browser build in its tarball, sha512 integrity of the tarball)
PINS = {
    "vega": ("5.33.1", "package/build/vega.min.js",
             "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw=="),
    "vega-lite": ("5.23.0", "package/build/vega-lite.min.js",
                  "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA=="),
    "vega-embed": ("6.29.0", "package/build/vega-embed.min.js",
                   "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q=="),
}
REGISTRY = "https://registry.npmjs.org"
VENDOR_DIR = Path("vendor/vega")
PAGE = VENDOR_DIR / "page.html"
VERSIONS = VENDOR_DIR / "versions.json"
SCRIPT_START, SCRIPT_END = "<script>", "</script>"

# DVC's page (dvc_render.html.PAGE_HTML) without its {scripts} placeholder, which would add the CDN
# tags back, and with the scripts inlined where it had them.
PAGE_TEMPLATE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- {provenance}: vendored by python -m tools.review.vega (tools/review/vega.py); see vendor/vega/versions.json -->
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch_tarball(package: str, version: str, integrity: str) -> bytes:
    url = f"{REGISTRY}/{package}/-/{package}-{version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as exc:
        raise StudyError(f"{url}: download failed ({exc})") from None
    if integrity_of(data) != integrity:
        raise StudyError(f"{url}: integrity mismatch (expected {integrity[:20]}…, got {integrity_of(data)[:20]}…)")
    return data


def member(tarball: bytes, name: str) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        try:
            extracted = archive.extractfile(name)
        except KeyError:
            return None
        return None if extracted is None else extracted.read()


def license_text(package: str, tarball: bytes) -> tuple[str, bytes]:
    """(SPDX id from package.json, the LICENSE file, or a note quoting package.json where the tarball has none)."""
    manifest = json.loads(member(tarball, "package/package.json") or b"{}")
    spdx = manifest.get("license", "unknown")
    text = member(tarball, "package/LICENSE")
    if text is None:  # vega's npm tarball ships no LICENSE file, only the declaration in package.json
        author = manifest.get("author") or "its authors"
        author = author.get("name", "its authors") if isinstance(author, dict) else author
        text = (f"The npm tarball of {package} {manifest.get('version')} ships no LICENSE file. Its package.json\n"
                f"declares the license {spdx}; the project is {manifest.get('repository')} on GitHub, by\n"
                f"{author}.\n").encode()
    return spdx, text


def page(scripts: dict[str, bytes]) -> str:
    provenance = ", ".join(f"{package} {PINS[package][0]}" for package in scripts)
    for package, script in scripts.items():
        if SCRIPT_END.encode() in script:
            raise StudyError(f"{package}: the script contains {SCRIPT_END} and cannot be inlined")
    inlined = "\n".join(f"    {SCRIPT_START}{script.decode()}{SCRIPT_END}" for script in scripts.values())
    return PAGE_TEMPLATE.format(provenance=provenance, scripts=inlined)


def vendor(root: Path) -> None:
    scripts, versions = {}, {}
    for package, (version, path, integrity) in PINS.items():
        tarball = fetch_tarball(package, version, integrity)
        script = member(tarball, path)
        if script is None:
            raise StudyError(f"{package} {version}: no {path} in its tarball")
        scripts[package] = script
        spdx, text = license_text(package, tarball)
        with atomic_path(root / VENDOR_DIR / f"{package}.LICENSE") as tmp:
            tmp.write_bytes(text)
        versions[package] = {"version": version, "license": spdx,
                             "tarball": f"{REGISTRY}/{package}/-/{package}-{version}.tgz",
                             "integrity": integrity, "script": path.removeprefix("package/"),
                             "script_sha256": hashlib.sha256(scripts[package]).hexdigest()}
        print(f"{package} {version}: {len(scripts[package]):,} bytes")
    with atomic_path(root / VERSIONS) as tmp:
        tmp.write_text(json.dumps(versions, indent=2) + "\n")
    with atomic_path(root / PAGE) as tmp:
        tmp.write_text(page(scripts))
    print(f"wrote {PAGE}, {VERSIONS} and the licenses")


def main(argv: list[str]) -> None:
    if argv:
        raise StudyError("usage: python -m tools.review.vega (no arguments; the versions are in PINS)")
    vendor(Path.cwd())


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
