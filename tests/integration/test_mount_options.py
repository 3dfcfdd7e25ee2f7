"""Mount options that need more than mount(2): the recursive r* forms
(mount_setattr with AT_RECURSIVE) and tmpcopyup."""
import os

import pytest

from helpers import create_fails_cleanly, read, sh


def mount_options_in(output):
    """mount point -> set of per-mount options, from /proc/self/mountinfo text."""
    return {line.split()[4]: set(line.split()[5].split(",")) for line in output.splitlines()}


@pytest.mark.parametrize("options, present, absent", [
    (["rro", "rnosuid", "rnodev", "rnoexec"], {"ro", "nosuid", "nodev", "noexec"}, set()),
    (["rnoatime", "rnodiratime"], {"noatime", "nodiratime"}, {"relatime"}),
    (["rstrictatime"], set(), {"relatime", "noatime"}),
    (["rnoatime", "ratime"], {"relatime"}, {"noatime"}),
    (["rro", "rrw", "rnosymfollow"], {"rw", "nosymfollow"}, {"ro"}),
], ids=["flags", "noatime", "strictatime", "atime-undoes-noatime", "later-wins"])
def test_recursive_options_reach_every_submount(runtime, bundle, host_dir_with_submount, options, present, absent):
    bundle.add_mount("/data", str(host_dir_with_submount), options=["rbind", *options])
    mounts = mount_options_in(runtime.output(bundle, ["cat", "/proc/self/mountinfo"]))
    for point in ("/data", "/data/sub"):
        assert present <= mounts[point], (point, mounts[point])
        assert not absent & mounts[point], (point, mounts[point])
    # the container's mounts only: the host's stay as they were
    host = mount_options_in(read("/proc/self/mountinfo"))
    assert "ro" not in host[str(host_dir_with_submount / "sub")]


def test_recursive_readonly_is_enforced_below(runtime, bundle, host_dir_with_submount):
    bundle.add_mount("/data", str(host_dir_with_submount), options=["rbind", "rro"])
    out = runtime.output(bundle, sh("touch /data/sub/x 2>&1; echo done"))
    assert "Read-only file system" in out
    assert not (host_dir_with_submount / "sub" / "x").exists()


def test_tmpcopyup_starts_with_the_image_contents(runtime, bundle):
    image_dir = os.path.join(bundle.rootfs, "etc", "app")
    os.makedirs(os.path.join(image_dir, "conf.d"))
    with open(os.path.join(image_dir, "conf.d", "a.conf"), "w") as f:
        f.write("setting=1\n")
    os.chown(os.path.join(image_dir, "conf.d", "a.conf"), 1000, 1001)
    os.chmod(os.path.join(image_dir, "conf.d", "a.conf"), 0o604)
    os.symlink("/etc/passwd", os.path.join(image_dir, "passwd-link"))
    os.mkfifo(os.path.join(image_dir, "pipe"))
    os.chmod(image_dir, 0o750)
    bundle.add_mount("/etc/app", "tmpfs", type="tmpfs", options=["tmpcopyup", "size=1m"])
    out = runtime.output(bundle, sh(
        "cat /etc/app/conf.d/a.conf; stat -c '%u:%g %a' /etc/app/conf.d/a.conf /etc/app;"
        " readlink /etc/app/passwd-link; test -p /etc/app/pipe && echo fifo;"
        " echo new > /etc/app/written; grep ' /etc/app ' /proc/self/mountinfo | cut -d' ' -f9"))
    assert out.splitlines() == ["setting=1", "1000:1001 604", "0:0 750", "/etc/passwd", "fifo", "tmpfs"]
    # writes went to the tmpfs, not the image
    assert not os.path.exists(os.path.join(image_dir, "written"))


def test_tmpcopyup_readonly(runtime, bundle):
    os.makedirs(os.path.join(bundle.rootfs, "srv"))
    with open(os.path.join(bundle.rootfs, "srv", "f"), "w") as f:
        f.write("x\n")
    bundle.add_mount("/srv", "tmpfs", type="tmpfs", options=["tmpcopyup", "ro"])
    out = runtime.output(bundle, sh("cat /srv/f; touch /srv/g 2>&1 | grep -o Read-only"))
    assert out.splitlines() == ["x", "Read-only"]


def test_tmpcopyup_on_a_bind_mount_is_refused(runtime, bundle, host_dir):
    bundle.bind("/data", str(host_dir), "tmpcopyup")
    create_fails_cleanly(runtime, bundle, "tmpcopyup is for tmpfs mounts, not a bind mount")
