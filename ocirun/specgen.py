"""The default config.json that `ocirun spec` writes.

Modelled on `runc spec` (and `runc spec --rootless`), so a bundle made for
one runtime runs unchanged on the other.
"""
import json
import os

from ocirun import OCI_VERSION
from ocirun.errors import OcirunError

# runc's short default list: enough to bind low ports and signal processes,
# nothing that reaches outside the container.
DEFAULT_CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
]

READONLY_PATHS = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
]


def default_config(args=None, rootless=False):
    """Return a new config dict; `args` replaces the default ["sh"]."""
    config = {
        "ociVersion": OCI_VERSION,
        "process": {
            # False, unlike runc: a terminal needs --console-socket (ocirun
            # does not relay a tty itself), and a default that fails on a
            # plain `ocirun run` is worse than no tty.
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args) if args is not None else ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            # No "ambient", unlike runc: the kernel raises an ambient
            # capability only if it is also inheritable, which runc's default
            # does not ask for, so runc's ambient list only yields a warning.
            "capabilities": {
                kind: list(DEFAULT_CAPABILITIES)
                for kind in ("bounding", "effective", "permitted")
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "ocirun",
        # No /sys/fs/cgroup mount, unlike runc: ocirun does not set up a
        # cgroup namespace or mount cgroupfs yet.
        "mounts": _default_mounts(),
        # No "resources" (runc denies all devices there): ocirun's cgroup
        # managers are not written yet, and a spec should not ask for limits
        # the runtime would silently ignore.
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
    if rootless:
        _make_rootless(config)
    return config


def _default_mounts():
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
    ]


def _make_rootless(config):
    """Apply the changes `runc spec --rootless` makes, for an unprivileged user."""
    linux = config["linux"]
    # An unprivileged user may not create a network namespace without a user
    # namespace it owns, and gets no veth anyway: share the host's network.
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    for mount in config["mounts"]:
        if mount["destination"] == "/dev/pts":
            # gid 5 (tty) is not mapped inside a single-id user namespace.
            mount["options"] = [opt for opt in mount["options"] if opt != "gid=5"]
        elif mount["destination"] == "/sys":
            # A fresh sysfs needs a network namespace the user owns; bind the
            # host's instead.
            mount.update(type="none", source="/sys",
                         options=["rbind", "nosuid", "noexec", "nodev", "ro"])


def write_spec(bundle_dir, rootless=False, args=None):
    """Write the default config.json into bundle_dir; never overwrite one."""
    path = os.path.join(bundle_dir, "config.json")
    text = json.dumps(default_config(args, rootless=rootless), indent="\t") + "\n"
    try:
        # O_EXCL: the existence check and the create are one step, so a
        # concurrent writer cannot be clobbered.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise OcirunError(f"config.json already exists in {bundle_dir}") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path
