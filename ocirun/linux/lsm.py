"""process.apparmorProfile, process.selinuxLabel and linux.mountLabel.

The spec leaves a host without the LSM to the runtime; ocirun does what runc
does there: a profile or process label it cannot apply is an error (the
container would otherwise run unconfined while its config says confined), and
a mount label, which only changes how files are labelled, is ignored.

Where the LSM is enabled, the profile or label is written to the init's
attr/exec just before exec, so it takes effect at exec, as runc does.
"""
import os

from ocirun.errors import ConfigError

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


def apply_on_exec(process):
    """In the init, right before exec."""
    if process.apparmor_profile:
        _write_attr(("/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"),
                    f"exec {process.apparmor_profile}", "set AppArmor profile")
    if process.selinux_label:
        _write_attr(("/proc/thread-self/attr/exec",), process.selinux_label, "set SELinux label")


def _write_attr(candidates, value, what):
    from ocirun._sys import SyscallError
    for path in candidates:
        if not os.path.exists(path) and path != candidates[-1]:
            continue
        try:
            with open(path, "w") as f:
                f.write(value)
            return
        except OSError as e:
            raise SyscallError(e.errno, e.strerror, f"{what} {value!r} ({path})") from None
