"""Regression tests for bugs found while building the core runtime; each failed before its fix."""
import json
import os

import pytest

from cli_runner import Runtime, make_bundle, requires_root_and_ocirun

pytestmark = requires_root_and_ocirun


@pytest.fixture
def ocirun(tmp_path):
    runtime = Runtime(tmp_path / "state")
    yield runtime
    runtime.cleanup()


def test_container_process_does_not_inherit_ignored_sigpipe(tmp_path, ocirun):
    # Python ignores SIGPIPE; an ignored disposition survives execve.
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "grep SigIgn /proc/self/status"])
    result = ocirun("run", "-b", bundle, "sigs")
    assert result.returncode == 0, result.stderr
    ignored = int(result.stdout.split()[1], 16)
    assert not ignored & (1 << (13 - 1)), f"SIGPIPE ignored in the container: {result.stdout}"
    assert not ignored & (1 << (25 - 1)), f"SIGXFSZ ignored in the container: {result.stdout}"


def test_start_is_not_blocked_by_the_lock_create_held(tmp_path, ocirun):
    # The init inherited create's flocked fd on the state directory, so start
    # waited for the lock forever.
    bundle = make_bundle(tmp_path, ["/bin/true"])
    assert ocirun("create", "-b", bundle, "locked").returncode == 0
    started = ocirun("start", "locked")
    assert started.returncode == 0, started.stderr


@pytest.mark.parametrize("bad_id", ["x\n", "a/b", "..", "caf\u00e9"])
def test_bad_ids_leave_no_state(tmp_path, ocirun, bad_id):
    bundle = make_bundle(tmp_path, ["/bin/true"])
    result = ocirun("create", "-b", bundle, bad_id)
    assert result.returncode == 1
    assert result.stderr.startswith("ocirun: invalid container id") and result.stderr.count("\n") == 1
    assert not os.path.exists(ocirun.root) or os.listdir(ocirun.root) == []


def test_state_of_created_then_running_then_stopped(tmp_path, ocirun):
    bundle = make_bundle(tmp_path, ["/bin/sleep", "100"])
    assert ocirun("create", "-b", bundle, "life").returncode == 0
    state = json.loads(ocirun("state", "life").stdout)
    assert state["status"] == "created" and state["pid"] > 0
    assert ocirun("start", "life").returncode == 0
    assert json.loads(ocirun("state", "life").stdout)["status"] == "running"
    assert ocirun("kill", "life", "KILL").returncode == 0
    for _ in range(100):
        state = json.loads(ocirun("state", "life").stdout)
        if state["status"] == "stopped":
            break
    assert state["status"] == "stopped" and state["pid"] == 0
    assert ocirun("delete", "life").returncode == 0
    assert ocirun("state", "life").stderr == "ocirun: container life does not exist\n"
