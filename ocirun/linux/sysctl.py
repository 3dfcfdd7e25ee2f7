"""linux.sysctl: only the kernel parameters that belong to one of the
container's own namespaces, written through the container's /proc/sys."""
import os

from ocirun.errors import ConfigError
from ocirun.linux import procfs

# runc's list: the IPC-namespaced parameters outside fs.mqueue.*
_IPC_KEYS = frozenset((
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
))
# parameters the config sets through their own fields
_OWN_FIELDS = {"kernel.hostname": "hostname", "kernel.domainname": "domainname"}


def check(settings, config):
    """Refuse a key that would change the host: one not namespaced, or whose
    namespace the container shares with the host (runc's rules)."""
    for key in settings:
        where = f"config.json: linux.sysctl[{key!r}]"
        if not key or ".." in key.split(".") or "/" in key:
            raise ConfigError(f"{where}: not a sysctl name")
        if key in _IPC_KEYS or key.startswith("fs.mqueue."):
            if config.namespace("ipc") is None:
                raise ConfigError(f"{where}: not allowed in the host's ipc namespace")
        elif key.startswith("net."):
            ns = config.namespace("network")
            if ns is None or (ns.path and _is_hosts_network_namespace(ns.path)):
                raise ConfigError(f"{where}: not allowed in the host's network namespace")
        elif key in _OWN_FIELDS:
            # runc takes it in a uts namespace of the container's own, when it
            # does not contradict the field
            field = getattr(config, _OWN_FIELDS[key])
            if config.namespace("uts") is None:
                raise ConfigError(f"{where}: not allowed in the host's uts namespace")
            if field is not None and field != settings[key]:
                raise ConfigError(f"{where}: {settings[key]!r} contradicts {_OWN_FIELDS[key]} {field!r}")
        else:
            raise ConfigError(f"{where}: not in a namespace of the container's own, "
                              "so it would change the host")


def _is_hosts_network_namespace(path):
    try:
        return os.stat(path).st_ino == os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False  # joining it will fail and say why


def apply(settings):
    """Before pivot_root, through the runtime's own /proc, whose /proc/sys
    shows the namespaces of the writer: the container's (procfs.py)."""
    for key, value in settings.items():
        procfs.write("sys/" + key.replace(".", "/"), value, f"sysctl {key}={value}")
