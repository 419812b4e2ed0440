"""tools/sharing/remote.py's parts that need no remote: DVC's error line, the trust check of the shipped default
remote, and the private DVC calls behind `make push`, on a real one-stage DVC repository."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import dvc_cli
from tools.sharing.remote import SHIPPED_REMOTE, Remote, push_entry_files, trusted, untrusted
from mnist_ae import StudyError

from conftest import ROOT, as_another_user, git

DVC_FOOTER = "\nHaving any troubles? Hit us up at https://dvc.org/support, we are always happy to help!\n"


@pytest.mark.parametrize("output, line", [
    ("ERROR: unexpected error - Forbidden: An error occurred (403) when calling the HeadObject operation: Forbidden\n"
     + DVC_FOOTER, "Forbidden: An error occurred (403) when calling the HeadObject operation: Forbidden"),
    ("ERROR: failed to transfer 'ab12' - The specified bucket does not exist\n"
     "ERROR: failed to push data to the cloud - 1 files failed to upload\n",
     "failed to transfer 'ab12' - The specified bucket does not exist"),
    ("WARNING: something\nno ERROR prefix at all\n" + DVC_FOOTER, "no ERROR prefix at all"),
    ("", "no message"),
])
def test_a_failed_dvc_command_is_reported_by_its_error_line_not_its_footer(output, line):
    assert dvc_cli.error_line(output) == line


def test_a_failed_dvc_call_names_what_failed_and_dvcs_cause(tmp_path):
    with pytest.raises(StudyError) as failure:
        dvc_cli.output(tmp_path, "status", what="checking the status")
    assert str(failure.value).startswith("checking the status failed: ")
    assert "Having any troubles" not in str(failure.value) and "not inside of a DVC repository" in str(failure.value)


def shipped(path: Path) -> Remote:
    return Remote(SHIPPED_REMOTE, str(path))


def test_the_shipped_remote_in_a_folder_of_ones_own_is_trusted(tmp_path):
    assert untrusted(shipped(tmp_path / "store")) is None  # not made yet, in a private folder
    (tmp_path / "store").mkdir()
    assert untrusted(shipped(tmp_path / "store")) is None
    sticky = tmp_path / "shared-tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)  # like /tmp: anyone may create, nobody may replace another's folder
    assert untrusted(shipped(sticky / "store")) is None


def test_a_world_writable_folder_without_the_sticky_bit_is_refused(tmp_path):
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    open_folder.chmod(0o777)
    assert untrusted(shipped(open_folder / "store")) == f"{open_folder} is writable by every user and has no sticky bit"
    (open_folder / "store").mkdir()
    (open_folder / "store").chmod(0o777)
    with pytest.raises(StudyError, match=rf"^DVC remote 'store' \({open_folder / 'store'}\) is refused: "
                                         rf"{open_folder / 'store'} is writable by every user"):
        trusted(shipped(open_folder / "store"))
    (open_folder / "store").chmod(0o755)  # a private folder in a parent anyone may write: swappable
    assert untrusted(shipped(open_folder / "store")) == f"{open_folder} is writable by every user and has no sticky bit"


@pytest.mark.parametrize("name", ["store", "team", "lab-share"])
def test_every_folder_remote_is_checked_whatever_its_name(tmp_path, name):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert untrusted(Remote(name, str(shared / "store"))) == f"{shared} is writable by every user and has no sticky bit"
    assert untrusted(Remote(name, f"file://{shared / 'store'}")) is not None
    assert untrusted(Remote(name, "s3://bucket/prefix")) is None  # a network remote: its own access control


def test_a_world_writable_store_is_refused_even_with_the_sticky_bit(tmp_path):
    """Others could make files/ or runs/ inside it before the first push, and plant results there."""
    store = tmp_path / "store"
    store.mkdir()
    store.chmod(0o1777)
    assert untrusted(Remote("team", str(store))) == f"{store} is writable by every user"


def test_the_restore_path_teammates_use_checks_the_remote_first(tmp_path):
    """make exp-run (dvc exp run --pull) refuses a remote others may write before DVC restores anything."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    dvc_cli.output(repo, "init", "-q")
    dvc_cli.output(repo, "remote", "add", "-d", "lab", str(shared / "store"))
    result = subprocess.run([sys.executable, "-m", "tools.sharing.remote", "exp-run", "-S", "a=1"], cwd=repo,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"})
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: DVC remote 'lab' ({shared / 'store'}) is refused: {shared} is writable "
                                     f"by every user and has no sticky bit; anyone who can write it can plant results "
                                     f"that restore without training (docs/sharing.md, \"Trust\"): use a folder of "
                                     f"your own")


def test_a_shipped_remote_folder_another_user_made_first_is_refused(tmp_path):
    planted = tmp_path / "store"
    planted.mkdir()
    as_another_user(planted)  # nobody
    with pytest.raises(StudyError, match=rf"is refused: .* belongs to uid 65534, not to you \(uid {os.getuid()}\)"):
        trusted(shipped(planted))


@pytest.fixture(scope="module")
def one_stage_repo(tmp_path_factory) -> Path:
    """A DVC repository with one stage run twice at two params: two run-cache entries."""
    from tools.dev.sandbox import sandbox_env

    root = tmp_path_factory.mktemp("one-stage")
    git(root, "init", "-q")
    env = sandbox_env(root)
    run = lambda *args: subprocess.run([dvc_cli.executable(), *args], cwd=root, env=env, check=True,  # noqa: E731
                                       capture_output=True, text=True)
    run("init", "-q")
    (root / "params.yaml").write_text("word: one\n")
    (root / "dvc.yaml").write_text("stages:\n  echo:\n    cmd: mkdir -p out && echo ${word} > out/word.txt\n"
                                   "    params: [word]\n    outs: [out]\n")
    run("repro")
    (root / "params.yaml").write_text("word: two\n")
    run("repro")
    return root


def test_make_push_finds_the_run_cache_where_dvc_keeps_it_and_each_entrys_files(one_stage_repo, tmp_path):
    """The private DVC calls `make push` makes, all in tools/sharing/remote.py's push_entry_files; this names the one
    a DVC upgrade broke, then pushes both runs' files for real."""
    import shutil

    from dvc.data_cloud import DataCloud
    from dvc.repo import Repo
    from dvc.stage.cache import StageCache
    from dvc_data.hashfile.db import HashFileDB

    assert hasattr(StageCache, "get_used_objs"), "DVC dropped StageCache.get_used_objs: rewrite push_entry_files"
    assert "odb" in inspect.signature(DataCloud.push).parameters, "DVC's DataCloud.push lost odb=: rewrite it"
    assert hasattr(HashFileDB, "exists"), "DVC's HashFileDB.exists is gone: rewrite push_entry_files"
    root = tmp_path / "repo"
    shutil.copytree(one_stage_repo, root, symlinks=True)
    subprocess.run([dvc_cli.executable(), "remote", "add", "-d", "elsewhere", str(tmp_path / "remote")], cwd=root,
                   check=True, capture_output=True)
    with Repo(str(root)) as repo:
        assert Path(repo.stage_cache.cache_dir).is_dir(), "StageCache.cache_dir is no longer the entries' folder"
        entries, pushed, failed, skipped = push_entry_files(repo, "elsewhere")
    assert (entries, failed, skipped) == (2, 0, 0) and pushed == 4  # each run's out/ listing and its one file
    pushed_dirs = [path for path in (tmp_path / "remote" / "files" / "md5").rglob("*.dir")]
    assert len(pushed_dirs) == 2


def test_make_push_skips_and_counts_the_entries_whose_files_dvc_gc_removed(one_stage_repo, tmp_path, capsys):
    """After `dvc gc -w` only the workspace's files stay: the other run's entry is skipped, not a failure."""
    import shutil

    from tools.sharing.remote import push
    from tools.dev.sandbox import sandbox_env

    root = tmp_path / "repo"
    shutil.copytree(one_stage_repo, root, symlinks=True)
    env = sandbox_env(root)
    for args in (["gc", "-w", "-f"], ["remote", "add", "-d", "store", str(tmp_path / "remote")]):
        subprocess.run([dvc_cli.executable(), *args], cwd=root, env=env, check=True, capture_output=True)
    push(root)
    printed = capsys.readouterr().out
    assert printed.strip().endswith("1 entries skipped, their files gone from the cache (dvc gc)"), printed
    assert "the results, 1 run-cache entries' files" in printed
    pushed = {path.name for path in (tmp_path / "remote" / "files" / "md5").rglob("*") if path.is_file()}
    assert any(name.endswith(".dir") for name in pushed) and len(pushed) == 2  # the kept run's out/ and its file
