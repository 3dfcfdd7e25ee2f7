"""No cgroup: a rootless container where its caller cannot make one (an
unprivileged user on cgroup v1, or on v2 without a delegated subtree).

runc does the same: it skips cgroups then, and refuses only what needs one
(resources at create, pause, stats).  The container's processes are then
the processes of its pid namespace, or its init alone without one.
"""
import os

from ocirun.cgroups.base import Manager
from ocirun.errors import ConfigError, OcirunError

# What needs a cgroup: config.Resources' members and the names config.json
# gives them (devices are skipped, as runc skips them in a user namespace:
# the kernel's own rules apply there).
_NEEDS_A_CGROUP = {"memory": "memory", "cpu": "cpu", "pids_limit": "pids", "block_io": "blockIO",
                   "hugepage_limits": "hugepageLimits", "network": "network", "rdma": "rdma",
                   "unified": "unified"}


class NoCgroup(Manager):
    driver = "none"

    def __init__(self, reason, init_pid=None):
        super().__init__("", {}, owned=False)
        self.reason = reason
        self.init_pid = init_pid

    def state_fields(self):
        return dict(super().state_fields(), cgroup_path=self.reason)

    def check_resources(self, resources, where="config.json: linux.resources"):
        """Before anything is made: a resource set (not to the zeros engines
        send for "unset") is a clear error naming it."""
        for member, name in _NEEDS_A_CGROUP.items():
            if resources is not None and _is_set(getattr(resources, member)):
                raise ConfigError(f"{where}.{name}: no cgroup to set it in: {self.reason}")

    def check_free(self, warn):
        pass

    def create(self):
        pass

    def join(self, pid, within=()):
        if within:
            raise OcirunError(f"exec --cgroup: the container has no cgroup ({self.reason})")

    def apply_resources(self, resources, warn, updating=False, where="config.json: linux.resources"):
        self.check_resources(resources, where)

    def apply_device_rules(self, configured):
        pass

    def freeze(self, timeout=5.0):
        raise OcirunError(f"pause: the container has no cgroup to freeze ({self.reason})")

    thaw = freeze

    def frozen(self):
        return False

    def stats(self):
        raise OcirunError(f"the container has no cgroup to read statistics from ({self.reason})")

    def oom_watch(self):
        return None

    def pids(self):
        """The processes in the init's pid namespace (its own, or the init alone)."""
        if self.init_pid is None:
            return []
        try:
            namespace = os.readlink(f"/proc/{self.init_pid}/ns/pid")
            own = os.readlink("/proc/self/ns/pid")
        except OSError:
            return []
        if namespace == own:
            return [self.init_pid]
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                        found.append(int(entry))
                except OSError:
                    continue
        return found

    def destroy(self, timeout=5.0):
        pass


def _is_set(value):
    if hasattr(value, "__slots__"):
        return any(_is_set(getattr(value, slot, None)) for slot in value.__slots__)
    if isinstance(value, (tuple, list, dict)):
        return any(_is_set(item) for item in (value.values() if isinstance(value, dict) else value))
    return value not in (None, 0, False, "")
