"""requirements.lock must pin what pyproject.toml pins, with hashes for every package (make lock)."""

import re
import tomllib

from conftest import ROOT

LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *(pin for extra in project["optional-dependencies"].values() for pin in extra)]
    pins = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        assert version, f"pyproject.toml: {requirement} is not an exact pin"
        pins[canonical(name.split("[")[0])] = version  # moto[s3]: the lock names the package, extras stripped
    return pins


def lock_entries() -> dict[str, tuple[str, str]]:
    """name -> (version, the entry's text up to the next one), for every package in the lock."""
    text = LOCK.read_text()
    matches = list(PIN.finditer(text))
    return {canonical(m[1]): (m[2], text[m.end(): matches[i + 1].start() if i + 1 < len(matches) else len(text)])
            for i, m in enumerate(matches)}


def test_the_lock_pins_every_direct_dependency_at_pyprojects_version():
    locked = lock_entries()
    for name, version in pyproject_pins().items():
        assert name in locked, f"{name} is in pyproject.toml but not in requirements.lock: run make lock"
        assert locked[name][0] == version, (f"{name}: pyproject.toml pins {version}, requirements.lock "
                                            f"{locked[name][0]}: run make lock")


def test_the_lock_names_no_direct_dependency_pyproject_dropped():
    direct = {name for name, (_, entry) in lock_entries().items() if "mnist-ae (pyproject.toml)" in entry}
    assert direct == set(pyproject_pins()), "requirements.lock is stale against pyproject.toml: run make lock"


def test_every_locked_package_carries_a_hash():
    for name, (version, entry) in lock_entries().items():
        assert "--hash=sha256:" in entry, f"{name}=={version} has no hash"


def test_the_lock_covers_the_install_without_build_isolation():
    assert "setuptools" in lock_entries(), "pip install --no-build-isolation -e . needs setuptools from the lock"
