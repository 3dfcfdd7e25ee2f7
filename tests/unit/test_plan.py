"""Which creates skip stage A (plan._needs_no_stage_a): the parent forks the
init itself only where nothing must happen before that fork."""
import json

import pytest

from ocirun import config, rootless
from ocirun.config import default_config
from ocirun.process.plan import Options, prepare_create


def plan_for(tmp_path, namespaces, init_as_child=True):
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    raw = default_config()
    raw["process"]["terminal"] = False
    raw["linux"]["namespaces"] = namespaces
    if any(ns["type"] == "user" for ns in namespaces):
        raw["linux"]["uidMappings"] = raw["linux"]["gidMappings"] = [
            {"containerID": 0, "hostID": 100000, "size": 65536}]
    if any(ns["type"] == "time" for ns in namespaces):
        raw["linux"]["timeOffsets"] = {"monotonic": {"secs": 1, "nanosecs": 0}}
    (tmp_path / "config.json").write_text(json.dumps(raw))
    return prepare_create("c", config.load(str(tmp_path)), Options(init_as_child=init_as_child))


BASIC = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]


@pytest.mark.parametrize("namespaces, direct", [
    (BASIC, True),
    ([ns for ns in BASIC if ns["type"] != "pid"], True),  # the host's pid namespace: no pid namespace to make
    ([*(ns for ns in BASIC if ns["type"] != "network"), {"type": "network", "path": "/proc/1/ns/net"}],
     True),  # a join the init does itself
    ([*BASIC, {"type": "user"}], False),  # it owns the others: made first, by stage A
    ([{"type": "pid", "path": "/proc/1/ns/pid"}, *BASIC[1:]], False),  # setns(pid) takes effect for children
    ([*BASIC, {"type": "time"}], False),  # its offsets are written before the init exists
    ([*BASIC, {"type": "cgroup"}], True),  # rooted where its maker is: the init joins its cgroup first
])
def test_the_init_is_forked_directly_only_when_nothing_comes_before(tmp_path, namespaces, direct):
    assert plan_for(tmp_path, namespaces).forks_init_directly is direct


def test_a_caller_that_does_not_take_the_init_gets_stage_a(tmp_path):
    assert plan_for(tmp_path, BASIC, init_as_child=False).forks_init_directly is False


def test_a_caller_in_a_user_namespace_gets_stage_a(tmp_path, monkeypatch):
    # podman rootless runs the runtime in its own user namespace: there the
    # parent could unshare a pid namespace but not setns back to the host's
    monkeypatch.setattr(rootless, "_in_user_namespace", True)
    assert plan_for(tmp_path, BASIC).forks_init_directly is False
