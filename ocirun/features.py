"""`ocirun features`: the runtime-spec features document (features.md), what
this build of ocirun supports on this host, for engines to read."""
import os

from ocirun.version import OCI_VERSION
from ocirun.hooks import PHASES

OCI_VERSION_MIN = "1.0.0"

# seccomp(2) filter flags, by the kernel release that added them
_SECCOMP_FLAGS_SINCE = {"SECCOMP_FILTER_FLAG_TSYNC": (3, 17), "SECCOMP_FILTER_FLAG_LOG": (4, 14),
                        "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (4, 17),
                        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (5, 19)}


def document():
    from ocirun.config import NAMESPACE_TYPES
    from ocirun.linux import lsm, seccomp
    from ocirun.linux.capabilities import CAPABILITY_NAMES
    from ocirun.linux.mountopts import known_mount_options
    kernel = _kernel_release()
    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION,
        "hooks": list(PHASES),
        "mountOptions": known_mount_options(),
        "linux": {
            "namespaces": list(NAMESPACE_TYPES),
            "capabilities": list(CAPABILITY_NAMES),
            # placement in v1 and v2 hierarchies; of the resources, devices on v1
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False, "rdma": True},
            "seccomp": {
                "enabled": True,
                "actions": list(seccomp.ACTIONS),
                "operators": list(seccomp.OPERATORS),
                "archs": list(seccomp.ARCHITECTURES),
                "knownFlags": list(seccomp.FLAGS),
                "supportedFlags": [flag for flag, since in _SECCOMP_FLAGS_SINCE.items() if kernel >= since],
            },
            "apparmor": {"enabled": lsm.apparmor_enabled()},
            "selinux": {"enabled": lsm.selinux_enabled()},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": True},
        },
    }


def _kernel_release():
    """(major, minor) of the running kernel."""
    parts = os.uname().release.split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
