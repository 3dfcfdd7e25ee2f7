"""A container without a mount namespace of its own shares the host's
(config-linux.md: it inherits the runtime's).  Its mounts are then host
mounts under the rootfs: they must exist while it lives and be gone after
delete or after any failure of create."""
import os

import pytest

from helpers import create_fails_cleanly, leftovers, read, sh


def mounts_under(path):
    return [line.split()[4] for line in read("/proc/self/mountinfo").splitlines()
            if line.split()[4].startswith(str(path) + "/")]


def without_mount_namespace(bundle):
    bundle.remove_namespace("mount")
    bundle.config["root"]["readonly"] = False
    bundle.linux.pop("maskedPaths", None)
    bundle.linux.pop("readonlyPaths", None)


def test_shares_the_hosts_mounts_and_delete_undoes_its_own(runtime, bundle):
    without_mount_namespace(bundle)
    with open(os.path.join(bundle.rootfs, "marker"), "w") as f:
        f.write("in the rootfs\n")
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(sh("cat /marker; sleep 1000")))
    pid = runtime.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert os.readlink(f"/proc/{pid}/root") == bundle.rootfs  # chroot, not pivot_root
    made = mounts_under(bundle.rootfs)
    assert os.path.join(bundle.rootfs, "proc") in made and os.path.join(bundle.rootfs, "dev") in made
    runtime.start(cid)
    runtime.delete(cid, force=True)
    assert mounts_under(bundle.rootfs) == []


def failing_bind_after_the_mounts(bundle, tmp_path):
    bundle.bind("/data", str(tmp_path / "missing"))
    return "missing"  # the init fails on it and undoes the mounts before it


def failing_create_runtime_hook(bundle, tmp_path):
    bundle.config["hooks"] = {"createRuntime": [{"path": os.path.join(bundle.rootfs, "bin", "false")}]}
    return "hook createRuntime[0]"  # the parent fails after every mount was made, and undoes them


@pytest.mark.parametrize("make_it_fail", [failing_bind_after_the_mounts, failing_create_runtime_hook])
def test_a_failed_create_leaves_no_host_mount(runtime, bundle, tmp_path, make_it_fail):
    without_mount_namespace(bundle)
    mentions = make_it_fail(bundle, tmp_path)
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle.set_args(["true"]), cid)
    assert result.returncode == 1 and mentions in result.stderr
    assert mounts_under(bundle.rootfs) == []
    assert leftovers(runtime, cid) == []


def test_what_would_change_the_host_is_refused(runtime, bundle):
    without_mount_namespace(bundle)
    bundle.linux["maskedPaths"] = ["/proc/kcore"]
    create_fails_cleanly(runtime, bundle, "linux.maskedPaths: needs a mount namespace (the container shares the host's)")
    assert mounts_under(bundle.rootfs) == []
