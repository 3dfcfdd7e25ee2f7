"""The calls a config's filesystem takes, in order, through the kernel seam
(ocirun/linux/kernel.py) with a recording stand-in: masked paths, read-only
paths, a bind with a remount, devices, the default mounts.  No root needed;
the integration tests judge what the kernel then shows."""
import os
import stat

import pytest

from kernel_fake import RecordingKernel
from ocirun import _sys
from ocirun.config import Mount
from ocirun.linux import devices, inroot, kernel, rootfs
from ocirun.linux.mountopts import parse_mounts


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "rootfs"
    path.mkdir()
    return path


@pytest.fixture
def fake(root, monkeypatch):
    recording = RecordingKernel(str(root))
    monkeypatch.setattr(kernel, "current", recording)
    return recording


@pytest.fixture
def root_fd(root):
    fd = inroot.open_root(str(root))
    yield fd
    os.close(fd)


def mount_config(root_fd, raw_mounts, bundle="/bundle"):
    mounts = tuple(Mount(m) for m in raw_mounts)
    rootfs.make_readonly_later(rootfs.mount_all(root_fd, mounts, parse_mounts(mounts), bundle, None,
                                                (None, False), {}))


def test_masked_paths_a_tmpfs_over_a_directory_the_null_device_over_a_file(root, fake, root_fd):
    (root / "proc" / "acpi").mkdir(parents=True)
    (root / "proc" / "kcore").write_text("")
    devices.make_node(root_fd, "/dev/null", "c", 1, 3, 0o666, 0, 0, False)
    fake.calls.clear()
    rootfs.mask_paths(root_fd, ["/proc/acpi", "/proc/kcore", "/proc/missing", "/proc/timer_list"])
    assert fake.calls == [
        ("fsopen", "tmpfs"), ("fsconfig", "source", "tmpfs"), ("fsconfig", "ro", None),
        ("fsmount", "new tmpfs", _sys.MOUNT_ATTR_RDONLY), ("move_mount", "new tmpfs", "/proc/acpi"),
        ("open_tree", "/dev/null"), ("move_mount", "clone of /dev/null", "/proc/kcore"),
    ]  # the missing paths are skipped


def test_masking_refuses_a_dev_null_that_is_not_the_null_device(root, fake, root_fd):
    (root / "proc").mkdir()
    (root / "proc" / "kcore").write_text("")
    (root / "dev").mkdir()
    (root / "secret").write_text("planted\n")
    os.symlink("/secret", root / "dev" / "null")
    with pytest.raises(OSError, match="not the null device"):
        rootfs.mask_paths(root_fd, ["/proc/kcore"])
    assert fake.of("move_mount") == []


def test_readonly_paths_a_recursive_clone_onto_itself_then_a_remount(root, fake, root_fd):
    (root / "proc" / "sys").mkdir(parents=True)
    rootfs.make_readonly(root_fd, ["/proc/sys", "/proc/sysrq-trigger"])
    assert fake.calls == [
        ("open_tree", "/proc/sys recursive"),
        ("move_mount", "clone of /proc/sys recursive", "/proc/sys"),
        ("mount", None, "clone of /proc/sys recursive", None,
         _sys.MS_BIND | _sys.MS_REMOUNT | _sys.MS_RDONLY, None),
    ]


def test_a_bind_with_options_makes_its_mount_point_then_remounts(root, fake, root_fd, tmp_path):
    source = tmp_path / "volume"
    source.mkdir()
    mount_config(root_fd, [{"destination": "/data/vol", "type": "bind", "source": str(source),
                            "options": ["rbind", "ro", "nosuid", "rprivate"]}])
    flags = _sys.MS_BIND | _sys.MS_REMOUNT | _sys.MS_RDONLY | _sys.MS_NOSUID
    assert fake.calls == [
        ("open_tree", f"{source} recursive"),
        ("mkdir", "/data", 0o755), ("mkdir", "/data/vol", 0o755),
        ("move_mount", f"clone of {source} recursive", "/data/vol"),
        ("mount", None, f"clone of {source} recursive", None, flags, None),
        ("mount", None, f"clone of {source} recursive", None, _sys.MS_PRIVATE | _sys.MS_REC, None),
    ]


def test_a_file_source_gets_a_file_mount_point_through_a_planted_symlink(root, fake, root_fd, tmp_path):
    source = tmp_path / "hosts"
    source.write_text("")
    real_fstat = fake.fstat
    fake.fstat = lambda fd: os.stat_result((stat.S_IFREG | 0o644,) + (0,) * 9) \
        if fake.where(fd).startswith("clone of") else real_fstat(fd)
    os.symlink("/elsewhere", root / "etc")  # the image's: followed inside the root
    mount_config(root_fd, [{"destination": "/etc/hosts", "type": "bind", "source": str(source),
                            "options": ["bind"]}])
    assert fake.of("mkdir") == [("/elsewhere", 0o755)]
    assert fake.of("file") == [("/elsewhere/hosts", 0o644)]
    assert fake.of("move_mount") == [(f"clone of {source}", "/elsewhere/hosts")]


def test_default_mounts_each_a_new_filesystem_attached_onto_its_mount_point(root, fake, root_fd):
    mount_config(root_fd, [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    ])
    assert [c for c in fake.calls if c[0] in ("mkdir", "fsopen", "move_mount")] == [
        ("mkdir", "/proc", 0o755), ("fsopen", "proc"), ("move_mount", "new proc", "/proc"),
        ("mkdir", "/dev", 0o755), ("fsopen", "tmpfs"), ("move_mount", "new tmpfs", "/dev"),
        ("mkdir", "/sys", 0o755), ("fsopen", "sysfs"), ("move_mount", "new sysfs", "/sys"),
    ]
    assert ("fsconfig", "mode", "755") in fake.calls and ("fsconfig", "size", "65536k") in fake.calls
    sysfs = next(c for c in fake.calls if c[:2] == ("fsmount", "new sysfs"))
    assert sysfs[2] == (_sys.MOUNT_ATTR_RDONLY | _sys.MOUNT_ATTR_NOSUID | _sys.MOUNT_ATTR_NODEV
                        | _sys.MOUNT_ATTR_NOEXEC)


def test_nothing_but_procfs_over_procfs(root, fake, root_fd, tmp_path):
    (root / "proc" / "sys" / "kernel").mkdir(parents=True)
    fake.procfs.add("/proc")
    volume = tmp_path / "volume"
    volume.mkdir()
    with pytest.raises(OSError, match="only procfs"):
        mount_config(root_fd, [{"destination": "/proc/sys/kernel", "type": "bind", "source": str(volume),
                                "options": ["rbind"]}])
    assert fake.of("move_mount") == []


def test_devices_defaults_links_then_the_configs(root, fake, root_fd):
    devices.create_default_devices(root_fd, False, configured={"/dev/zero"})
    devices.create_dev_symlinks(root_fd)
    devices.make_node(root_fd, "/dev/zero", "c", 1, 5, 0o640, 1000, 5, False)
    devices.make_node(root_fd, "/dev/sub/fuse", "c", 10, 229, 0o666, 0, 0, False)
    assert fake.of("mknod") == [
        ("/dev/null", "c", 1, 3, 0o666), ("/dev/full", "c", 1, 7, 0o666), ("/dev/random", "c", 1, 8, 0o666),
        ("/dev/urandom", "c", 1, 9, 0o666), ("/dev/tty", "c", 5, 0, 0o666),
        ("/dev/zero", "c", 1, 5, 0o640), ("/dev/sub/fuse", "c", 10, 229, 0o666),
    ]
    assert ("/dev/zero", 1000, 5) in fake.of("chown")
    links = dict(fake.of("symlink"))
    assert links["/dev/fd"] == "/proc/self/fd" and links["/dev/ptmx"] == "pts/ptmx"
    assert ("mkdir", "/dev/sub", 0o755) in fake.calls


def test_devices_in_a_user_namespace_are_the_hosts_nodes_bound(root, fake, root_fd):
    devices.make_node(root_fd, "/dev/null", "c", 1, 3, 0o666, 0, 0, True)
    assert fake.calls == [("mkdir", "/dev", 0o755), ("open_tree", "/dev/null"), ("file", "/dev/null", 0),
                          ("move_mount", "clone of /dev/null", "/dev/null")]


def test_a_read_only_tmpfs_is_made_read_only_after_what_goes_inside_it(root, fake, root_fd):
    """runc's order: a read-only /dev gets its submounts first (and, in the
    init, its device nodes), and is remounted read-only last."""
    mounts = tuple(Mount(m) for m in [
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "nosuid", "mode=755"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid"]},
    ])
    later = rootfs.mount_all(root_fd, mounts, parse_mounts(mounts), "/bundle", None, (None, False), {})
    devices.make_node(root_fd, "/dev/null", "c", 1, 3, 0o666, 0, 0, False)
    rootfs.make_readonly_later(later)
    assert ("fsmount", "new tmpfs", _sys.MOUNT_ATTR_NOSUID) in fake.calls  # writable for now
    order = [c[:3] for c in fake.calls if c[0] in ("move_mount", "mknod", "mount")]
    assert order == [("move_mount", "new tmpfs", "/dev"), ("move_mount", "new devpts", "/dev/pts"),
                     ("mknod", "/dev/null", "c"),
                     ("mount", None, "new tmpfs")]
    remount = fake.calls[-1]
    assert remount[4] == _sys.MS_REMOUNT | _sys.MS_RDONLY | _sys.MS_NOSUID and remount[5] == "mode=755"
