"""`.ci/run`'s install path as GitHub's hosted runners take it: a user who is not root but has passwordless sudo
installs the real parts through `sudo -n` (.ci/install); a user with neither is told why, in one line."""

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, real_part_missing

pytestmark = pytest.mark.e2e


def as_root(*command: str) -> subprocess.CompletedProcess:
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    return subprocess.run([*prefix, *command], capture_output=True, text=True)


@pytest.fixture
def users():
    """Two fresh users made for the test: ``runner`` with passwordless sudo, as on a hosted runner, and
    ``guest`` without; both removed afterwards, with the sudoers rule."""
    if shutil.which("useradd") is None or shutil.which("sudo") is None:
        real_part_missing("root or sudo", "useradd or sudo is not installed (.ci/run installs sudo)")
    if os.geteuid() != 0 and as_root("true").returncode != 0:
        real_part_missing("root or sudo", "making a user needs root or passwordless sudo")
    tag = uuid.uuid4().hex[:6]
    names = {"runner": f"ci-runner-{tag}", "guest": f"ci-guest-{tag}"}
    rule = Path(f"/etc/sudoers.d/ci-runner-{tag}")
    try:
        for name in names.values():
            made = as_root("useradd", "--no-create-home", "--shell", "/bin/bash", name)
            assert made.returncode == 0, made.stderr
        written = as_root("sh", "-c", f"printf '%s ALL=(ALL) NOPASSWD:ALL\\n' {names['runner']} > {rule} "
                                      f"&& chmod 0440 {rule}")
        assert written.returncode == 0, written.stderr
        yield names
    finally:
        as_root("rm", "-f", str(rule))
        for name in names.values():
            as_root("userdel", name)


def run_install_as(user: str, *packages: str) -> subprocess.CompletedProcess:
    """.ci/install from a folder every user may read (the clone itself may be private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="ci-install-"))
    try:
        folder.chmod(0o755)
        shutil.copy2(ROOT / ".ci" / "install", folder / "install")
        return as_root("runuser", "-u", user, "--", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp",
                       str(folder / "install"), *packages)
    finally:
        shutil.rmtree(folder)


def test_a_user_with_passwordless_sudo_installs_the_real_parts_through_sudo(users):
    result = run_install_as(users["runner"], "hostname")  # installed already: apt-get has nothing to fetch
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "installing hostname with sudo"


def test_a_user_without_root_or_sudo_is_told_why_in_one_line(users):
    result = run_install_as(users["guest"], "hostname")
    assert result.returncode == 1
    assert result.stderr.strip() == ("note: hostname missing, and neither root nor passwordless sudo here to install "
                                     "it; their tests will be skipped (and fail under CI=true)")


def test_ci_run_installs_every_missing_part_through_it():
    script = (ROOT / ".ci" / "run").read_text()
    assert '.ci/install "${need[@]}"' in script
    for package in ("chromium", "openssh-server", "slurm-wlm", "sudo"):
        assert f"need+=({package}" in script
