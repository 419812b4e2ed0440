"""The team's results through an S3 bucket: moto's standalone S3-protocol server on a loopback port, with IAM
authentication on, as the team's DVC remote. `make push`, `make pull`, `make exp-run` and `make check REMOTE=1`
(`python -m tools.sharing.remote`) against it, and the workflow steps that read it, run as written. Alice's clone
and experiment are test_sharing.py's, built once per test run and copied here, so the two modules run side by side.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port, real_part_missing, with_the_projects_venv
from test_pipeline import ran_stages
from test_sharing import (EXPERIMENT, NO_RUN_CACHE, PR_WORKFLOW, SWEEP_WORKFLOW, Team, clone, dvc, env_for,
                          experiment_md5, local_entries, lock_outputs, remote_tool, secrets_filled, team,  # noqa: F401
                          tree_digest, workflow_step)

pytestmark = pytest.mark.e2e

BUCKET = "team-results"
S3_URL = f"s3://{BUCKET}/mnist-ae"
S3_PREFIX = "mnist-ae/"
ALLOW_S3 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server (`python -m moto.server`) on 127.0.0.1 with IAM authentication on: its first three
    requests make a user allowed every S3 action and its access key, then every request must be signed with
    that key. The bucket is made with it. Yields the credentials and a boto3 client; stopped at the end."""
    try:
        import boto3
        import moto.server  # noqa: F401
    except ImportError as exc:
        real_part_missing("S3 server", f"moto's server is not installed ({exc}; make install installs it)")
    port, home = free_port(), tmp_path_factory.mktemp("s3")
    log = open(home / "moto.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                real_part_missing("S3 server", f"moto's server did not listen on port {port}: "
                                               f"{(home / 'moto.log').read_text()[-300:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup",
                           aws_secret_access_key="setup")
        iam.create_user(UserName="team")
        iam.put_user_policy(UserName="team", PolicyName="s3", PolicyDocument=ALLOW_S3)
        key = iam.create_access_key(UserName="team")["AccessKey"]
        env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
               "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_CONFIG_FILE": str(home / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "none")}
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        client.create_bucket(Bucket=BUCKET)
        yield {"env": env, "client": client, "endpoint": endpoint, "log": home / "moto.log"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def bucket_keys(s3) -> set[str]:
    pages = s3["client"].get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=S3_PREFIX)
    return {item["Key"].removeprefix(S3_PREFIX) for page in pages for item in page.get("Contents", [])}


def s3_clone(team: Team, s3, name: str) -> Path:
    """A fresh clone whose default remote is the team's bucket (its local config, as a teammate sets it)."""
    workdir = clone(team, name)
    dvc(workdir, "remote", "add", "--local", "--default", "team", S3_URL)
    return workdir


@pytest.fixture(scope="module")
def s3_team(team, s3):
    """Alice's results, run cache and experiment, pushed to the bucket with `make push`."""
    alice = s3_clone(team, s3, "alice-s3")
    shutil.copytree(team.alice / ".dvc" / "cache", alice / ".dvc" / "cache")
    dvc(alice, "checkout")
    pushed = remote_tool(alice, "push", **s3["env"])
    assert pushed.returncode == 0, pushed.stderr
    return alice, pushed.stdout


def test_make_push_to_s3_sends_results_run_cache_and_the_files_entries_name(team, s3, s3_team):
    alice, printed = s3_team
    keys = bucket_keys(s3)
    objects = {key.removeprefix("files/md5/").replace("/", "") for key in keys if key.startswith("files/md5/")}
    assert set(lock_outputs(alice).values()) <= objects  # the committed data and models
    entries = local_entries(alice)
    assert {key.split("/")[-1] for key in keys if key.startswith("runs/")} == {value for _, value in entries}
    assert experiment_md5(team) in objects  # named by a run-cache entry alone
    assert f"to DVC remote 'team' ({S3_URL})" in printed


def test_a_fresh_clone_pulls_from_s3_byte_identical_and_current(team, s3, s3_team):
    alice, _ = s3_team
    lena = s3_clone(team, s3, "lena")
    pulled = remote_tool(lena, "pull", **s3["env"])
    assert pulled.returncode == 0, pulled.stderr
    for path in lock_outputs(lena):
        assert tree_digest(lena / path) == tree_digest(alice / path), path
    assert "up to date" in dvc(lena, "status").stdout


def test_an_experiment_run_elsewhere_restores_from_s3_without_training(team, s3, s3_team):
    mona = s3_clone(team, s3, "mona")
    assert remote_tool(mona, "pull", **s3["env"]).returncode == 0
    name, override = EXPERIMENT
    run = remote_tool(mona, "exp-run", "-S", override, **s3["env"])  # make exp-run: the remote checked first
    assert run.returncode == 0, run.stderr[-2000:]
    output = run.stdout
    assert "Stage 'train@dense' is cached - skipping run" in output
    assert ran_stages(output) <= NO_RUN_CACHE, f"retrained or re-evaluated: {ran_stages(output)}"
    assert hashlib.md5((mona / "models" / "dense.keras").read_bytes()).hexdigest() == experiment_md5(team)


def test_the_review_workflows_remote_check_runs_as_written_against_s3_and_names_a_deleted_file(team, s3, s3_team):
    step = workflow_step(PR_WORKFLOW, "tests", "Every output in dvc.lock is on the team's DVC remote")
    nina = clone(team, "nina")
    with_the_projects_venv(nina)
    secrets = {"DVC_REMOTE_URL": S3_URL, "AWS_ACCESS_KEY_ID": s3["env"]["AWS_ACCESS_KEY_ID"],
               "AWS_SECRET_ACCESS_KEY": s3["env"]["AWS_SECRET_ACCESS_KEY"]}
    env = {**s3["env"], **secrets_filled(step["env"], secrets)}  # the endpoint: moto's, where GitHub has none

    def run_step() -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=nina, env=env_for(nina, **env),
                              capture_output=True, text=True, timeout=600)

    passed = run_step()
    assert passed.returncode == 0 and f"every output in dvc.lock is on DVC remote 'team' ({S3_URL})" in passed.stdout, \
        passed.stdout[-2000:] + passed.stderr[-2000:]
    model = lock_outputs(nina)["models/dense.keras"]
    key = f"{S3_PREFIX}files/md5/{model[:2]}/{model[2:]}"
    body = s3["client"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3["client"].delete_object(Bucket=BUCKET, Key=key)
    try:
        failed = run_step()
    finally:
        s3["client"].put_object(Bucket=BUCKET, Key=key, Body=body)  # the other tests share the bucket
    assert failed.returncode != 0
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "models/dense.keras" in errors[0] and f"'team' ({S3_URL})" in errors[0], failed.stderr


def test_the_sweep_workflows_collector_pulls_experiments_from_s3_as_written(team, s3, s3_team):
    step = workflow_step(SWEEP_WORKFLOW, "collect", "Pull every experiment of this commit")
    olivia = clone(team, "olivia")
    with_the_projects_venv(olivia)
    result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=olivia,
                            env=env_for(olivia, DVC_REMOTE_URL=S3_URL, **s3["env"]), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    name, _ = EXPERIMENT
    assert name in dvc(olivia, "exp", "list", "--names-only").stdout.split()
    model = experiment_md5(team)
    assert (olivia / ".dvc" / "cache" / "files" / "md5" / model[:2] / model[2:]).is_file()  # from the bucket


def test_the_remote_is_reached_within_its_prefix_as_a_least_privilege_policy_allows(team, s3, s3_team):
    """A team's IAM user may list only the project's prefix (s3:ListBucket with an s3:prefix condition):
    make check, make pull and make push then ask the server for nothing outside it. moto's server does not
    evaluate policy conditions, so its request log shows what reached it: every listing names the prefix."""
    workdir = s3_clone(team, s3, "pia")
    shutil.copytree(s3_team[0] / ".dvc" / "cache", workdir / ".dvc" / "cache")
    start = s3["log"].stat().st_size
    for command in (["check"], ["pull"], ["push"]):
        result = remote_tool(workdir, *command, DVC_REMOTE_URL=S3_URL, **s3["env"])
        assert result.returncode == 0, result.stderr[-2000:]
    with open(s3["log"]) as log:
        log.seek(start)
        listings = re.findall(rf'"GET /{BUCKET}\?([^ ]*list-type=2[^ ]*) HTTP', log.read())
    assert listings
    prefixes = {dict(part.split("=", 1) for part in query.split("&")).get("prefix", "") for query in listings}
    assert all(prefix.startswith(S3_PREFIX.rstrip("/")) for prefix in prefixes), prefixes


@pytest.mark.parametrize("case", ["wrong credentials", "missing bucket", "unreachable endpoint"])
def test_a_bad_s3_remote_is_one_line_naming_it(team, s3, s3_team, case):
    """`make push`, `make pull` and `make check REMOTE=1` each end in one line naming the remote and DVC's cause."""
    workdir = clone(team, f"bad-{case.replace(' ', '-')}")
    env, url = dict(s3["env"]), S3_URL
    if case == "wrong credentials":
        env["AWS_ACCESS_KEY_ID"] = "AKIAWRONGKEY000000"
        command, cause = ["pull"], "refused these credentials: The AWS Access Key Id you provided does not exist"
    elif case == "missing bucket":
        url = "s3://no-such-bucket/mnist-ae"
        command, cause = ["check"], "is unreachable: 'no-such-bucket' does not exist"
        env["DVC_REMOTE_URL"] = url
    else:
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
        command, cause = ["push"], "is unreachable: Could not connect to the endpoint URL"
        shutil.copytree(s3_team[0] / ".dvc" / "cache", workdir / ".dvc" / "cache")
    dvc(workdir, "remote", "add", "--local", "--default", "team", url)
    result = remote_tool(workdir, *command, **env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"DVC remote 'team' ({url})" in lines[0], \
        result.stderr[-2000:]
    assert cause in lines[0] and "Having any troubles" not in lines[0], lines[0]
