"""process.apparmorProfile, process.selinuxLabel and linux.mountLabel.

The spec leaves a host without the LSM to the runtime; ocirun does what runc
does there: a profile or process label it cannot apply is an error (the
container would otherwise run unconfined while its config says confined), and
a mount label, which only changes how files are labelled, is ignored.

Where the LSM is enabled, the profile or label is written to the init's
attr/exec just before exec, so it takes effect at exec, as runc does.
"""
import errno
import os

from ocirun import _sys
from ocirun.errors import ConfigError
from ocirun.linux import procfs

_APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
_SELINUX_FS = "/sys/fs/selinux"


def apparmor_enabled():
    try:
        with open(_APPARMOR_ENABLED) as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled():
    return os.path.exists(os.path.join(_SELINUX_FS, "enforce"))


def check(process, mount_label):
    if process.apparmor_profile and not apparmor_enabled():
        raise ConfigError(f"config.json: process.apparmorProfile: {process.apparmor_profile!r}:"
                          " AppArmor is not enabled on this host")
    if process.selinux_label and not selinux_enabled():
        raise ConfigError(f"config.json: process.selinuxLabel: {process.selinux_label!r}:"
                          " SELinux is not enabled on this host")
    if mount_label and selinux_enabled():
        raise ConfigError("config.json: linux.mountLabel: SELinux mount labels not supported yet")


def open_exec_attribute(process):
    """Before pivot_root (the init) or in the container's verified /proc
    (exec): (fd, value, what) for the profile or label to write right
    before exec, or None.  Opened early so that the write cannot be sent
    elsewhere by whatever the container has at /proc (procfs.py)."""
    if process.apparmor_profile:
        value, what = f"exec {process.apparmor_profile}", "set AppArmor profile"
        paths = ("thread-self/attr/apparmor/exec", "thread-self/attr/exec")
    elif process.selinux_label:
        value, what = process.selinux_label, "set SELinux label"
        paths = ("thread-self/attr/exec",)
    else:
        return None
    for path in paths[:-1]:  # AppArmor's own file where the kernel has one
        try:
            return procfs.open_file(path, os.O_WRONLY, f"{what} {value!r} (/proc/{path})"), value, what
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
    return procfs.open_file(paths[-1], os.O_WRONLY, f"{what} {value!r} (/proc/{paths[-1]})"), value, what


def apply_on_exec(opened):
    """Right before exec: the label takes effect at the exec, as runc does it."""
    if opened is None:
        return
    fd, value, what = opened
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"{what} {value!r}") from None
    finally:
        os.close(fd)
