"""resolve_in_root and mount option parsing: no root needed, a tmp tree stands in for a rootfs."""
import os

import pytest

from ocirun import _sys
from ocirun.errors import ConfigError
from ocirun.linux.mountopts import MountOptions
from ocirun.linux.rootfs import resolve_in_root


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "data").mkdir()
    return root


def test_plain_path_maps_under_root(rootfs):
    assert resolve_in_root(str(rootfs), "/etc/hosts") == f"{rootfs}/etc/hosts"


def test_absolute_symlink_stays_inside_root(rootfs):
    os.symlink("/etc", rootfs / "evil")
    assert resolve_in_root(str(rootfs), "/evil/passwd") == f"{rootfs}/etc/passwd"


def test_dotdot_cannot_climb_above_root(rootfs):
    os.symlink("../../../../../../tmp", rootfs / "up")
    assert resolve_in_root(str(rootfs), "/up/x") == f"{rootfs}/tmp/x"
    assert resolve_in_root(str(rootfs), "/../../etc") == f"{rootfs}/etc"


def test_symlink_chain_is_followed_inside_root(rootfs):
    os.symlink("/b", rootfs / "a")
    os.symlink("data", rootfs / "b")
    assert resolve_in_root(str(rootfs), "/a/file") == f"{rootfs}/data/file"


def test_symlink_loop_is_an_error(rootfs):
    os.symlink("/loop", rootfs / "loop")
    with pytest.raises(OSError) as info:
        resolve_in_root(str(rootfs), "/loop/x")
    assert "Too many levels" in str(info.value) or info.value.errno == 40


def test_flags_set_and_cleared_in_order():
    options = MountOptions(["nosuid", "ro", "rw", "noexec", "exec"], "mounts[0]")
    assert options.flags == _sys.MS_NOSUID
    assert options.cleared & _sys.MS_RDONLY and options.cleared & _sys.MS_NOEXEC


def test_bind_and_propagation_and_data():
    options = MountOptions(["rbind", "rprivate", "mode=755", "size=64k"], "mounts[1]")
    assert options.is_bind and options.flags & _sys.MS_REC
    assert options.propagation == [_sys.MS_PRIVATE | _sys.MS_REC]
    assert options.data == "mode=755,size=64k"


def test_idmap_options_are_not_filesystem_data():
    options = MountOptions(["rbind", "ridmap", "ro"], "mounts[3]", "none")
    assert (options.idmap, options.data) == ("ridmap", None)


def test_recursive_options_parse_to_mount_setattr_attributes():
    options = MountOptions(["rbind", "rro", "rnosuid", "rrw", "rnoatime", "rstrictatime"], "mounts[0]", "none")
    assert options.recursive_set == _sys.MOUNT_ATTR_NOSUID | _sys.MOUNT_ATTR_STRICTATIME
    assert options.recursive_clear == _sys.MOUNT_ATTR_RDONLY | _sys.MOUNT_ATTR__ATIME
    assert options.data is None  # none of them is passed to the filesystem


def test_tmpcopyup_only_for_tmpfs():
    assert MountOptions(["tmpcopyup", "size=1m"], "mounts[0]", "tmpfs").copy_up
    with pytest.raises(ConfigError, match=r"mounts\[2\].options: tmpcopyup is for tmpfs mounts, not type proc"):
        MountOptions(["tmpcopyup"], "mounts[2]", "proc")
