"""linux.resources.devices: what the kernel lets the container's processes
open, on the v1 devices controller here and, in the cgroup v2 VM
(tests/vm), through the eBPF device program; and what a v1 cgroup lists."""
import json
import os
import time

import pytest

from helpers import CGROUP_ROOT, sh, unified_only

DENY_ALL = {"allow": False, "access": "rwm"}
MEM = {"path": "/dev/mem-test", "type": "c", "major": 1, "minor": 1, "fileMode": 0o600}

needs_v1_devices = pytest.mark.skipif(not os.path.isdir(os.path.join(CGROUP_ROOT, "devices")),
                                      reason="no v1 devices controller on this host")
needs_device_rules = pytest.mark.skipif(not (unified_only() or os.path.isdir(os.path.join(CGROUP_ROOT, "devices"))),
                                        reason="neither a v1 devices controller nor cgroup v2")


@needs_device_rules
def test_deny_all_keeps_the_default_devices_usable(runtime, bundle):
    bundle.linux["resources"] = {"devices": [DENY_ALL]}
    bundle.linux["devices"] = [MEM]
    out = runtime.output(bundle, sh("head -c1 /dev/mem-test 2>&1; echo x > /dev/null && "
                                    "head -c1 /dev/zero | wc -c && echo defaults-ok"))
    assert "Operation not permitted" in out  # made (mknod is allowed), but not to be opened
    assert "defaults-ok" in out


@needs_device_rules
def test_an_allow_rule_opens_the_device(runtime, bundle):
    bundle.linux["resources"] = {"devices": [DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 1,
                                                        "access": "r"}]}
    bundle.linux["devices"] = [MEM]
    bundle.process["capabilities"]["bounding"].append("CAP_SYS_RAWIO")
    bundle.process["capabilities"]["effective"].append("CAP_SYS_RAWIO")
    bundle.process["capabilities"]["permitted"].append("CAP_SYS_RAWIO")
    out = runtime.output(bundle, sh("head -c1 /dev/mem-test > /dev/null 2>/tmp/err; cat /tmp/err; echo done"))
    assert "Operation not permitted" not in out


@needs_v1_devices
def test_the_cgroup_lists_the_rules(runtime, bundle):
    bundle.linux["resources"] = {"devices": [DENY_ALL, {"allow": True, "type": "b", "major": 8, "access": "r"}]}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    listed = open(os.path.join(CGROUP_ROOT, "devices", "ocirun", cid, "devices.list")).read().split("\n")
    assert "b 8:* r" in listed and "c 1:3 rwm" in listed and "c 136:* rwm" in listed
    assert "a *:* rwm" not in listed
    runtime.delete(cid)


@needs_device_rules
def test_update_replaces_the_rules(runtime, bundle, tmp_path):
    """The container tries /dev/mem-test every 50 ms and reports each time the
    cgroup lets it through (the driver itself may still refuse: ENXIO here):
    allowed by update, then denied again by the next (on v2, the previous
    program must be detached, or its verdict would still count)."""
    bundle.linux["resources"] = {"devices": [DENY_ALL]}
    bundle.linux["devices"] = [MEM]
    for capabilities in bundle.process["capabilities"].values():
        capabilities.append("CAP_SYS_RAWIO")
    bundle.bind("/out", str(tmp_path))
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(sh(
        "while :; do head -c1 /dev/mem-test 2>&1 >/dev/null | grep -q 'not permitted' || echo opened > /out/seen;"
        " sleep 0.05; done")), cid)
    seen = tmp_path / "seen"
    time.sleep(0.5)
    assert not seen.exists()
    allow = {"allow": True, "type": "c", "major": 1, "minor": 1, "access": "r"}
    runtime.ok("update", "-r", "-", cid, input=json.dumps({"devices": [DENY_ALL, allow]}))
    wait_for(seen.exists)
    runtime.ok("update", "-r", "-", cid, input=json.dumps({"devices": [DENY_ALL]}))
    time.sleep(0.2)
    seen.unlink()
    time.sleep(0.5)
    assert not seen.exists()
    runtime.delete(cid, force=True)


def wait_for(condition, timeout=5):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
