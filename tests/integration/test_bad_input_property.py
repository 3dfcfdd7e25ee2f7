"""A property over bad input: a config.json made from a full one by deleting a
member or putting an odd value in its place either runs, or fails with one
`ocirun:` line that names what is wrong (never a traceback or an internal
error), and in both cases leaves nothing behind.

The configs are generated (hypothesis): the member is any of the base
config's, the value one of the shapes that broke ocirun before (an empty
object where a member is required, a NUL in a path, integers beyond 64
bits...) or an arbitrary small JSON value.
"""
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import leftovers

ODD_VALUES = [{}, [], "", "\0", "a\0b", 0, -1, 2**63, 2**64, 1.5, True, None, "/", "../../..",
              "x" * 300, [{}], {"": ""}, {"a": {}}]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**65, 2**65) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def full_config(bundle):
    """The busybox bundle's config with most optional members set (values
    that run here: nothing of them touches the host)."""
    config = copy.deepcopy(bundle.config)
    config["process"]["args"] = ["true"]
    config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    config["process"]["user"].update(umask=18, additionalGids=[1])
    config["process"]["oomScoreAdj"] = 0
    config["process"]["scheduler"] = {"policy": "SCHED_OTHER", "nice": 1}
    config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
    config["hostname"] = "fuzzed"
    config["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                             "options": ["nosuid", "size=1m"]})
    linux = config["linux"]
    linux["sysctl"] = {"kernel.shmmni": "4000"}
    linux["resources"] = {"memory": {"limit": 1 << 28}, "pids": {"limit": 64},
                          "cpu": {"shares": 512, "quota": 50000, "period": 100000}}
    linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    linux["memoryPolicy"] = {"mode": "MPOL_DEFAULT"}
    linux["personality"] = {"domain": "LINUX"}
    return config


def member_paths(document, prefix=()):
    if prefix:
        yield prefix
    items = document.items() if isinstance(document, dict) else enumerate(document) \
        if isinstance(document, list) else ()
    for key, value in items:
        yield from member_paths(value, prefix + (key,))


def mutated(config, path, value, delete):
    config = copy.deepcopy(config)
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(value)
    return config


@pytest.fixture
def base_config(bundle):
    return full_config(bundle)


def test_the_full_config_runs(runtime, bundle, base_config):
    bundle.config = base_config
    result = runtime.run(runtime.new_id(), bundle)
    assert (result.returncode, result.stderr) == (0, "")


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutated_config_runs_or_fails_cleanly(runtime, bundle, base_config, data):
    path = data.draw(st.sampled_from(sorted(member_paths(base_config), key=str)), label="member")
    delete = data.draw(st.booleans(), label="delete")
    value = data.draw(st.sampled_from(ODD_VALUES) | json_values, label="value")
    bundle.config = mutated(base_config, path, value, delete)
    cid = runtime.new_id()
    result = runtime.run(cid, bundle)
    described = f"{'.'.join(map(str, path))} {'deleted' if delete else '= ' + json.dumps(value)}"
    if result.returncode != 0:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("ocirun: "), f"{described}:\n{result.stderr}"
        assert "internal error" not in lines[0] and "Traceback" not in result.stderr, \
            f"{described}:\n{result.stderr}"
    else:
        runtime("delete", "-f", cid)
    left = leftovers(runtime, cid)
    assert not left, f"{described}: left {left}"
