"""Cgroup placement: one Manager over every hierarchy this host mounts.

For now a container gets its own cgroup in each hierarchy (v1 controllers,
the v1 name= hierarchies and the unified one), so that its processes can be
listed, signalled and cleaned up as a whole; resource limits are refused in
config.py until they are implemented here.
"""
import errno
import os
from _signal import SIGKILL
import time

DEFAULT_PARENT = "/ocirun"


def mounted_hierarchies(mountinfo="/proc/self/mountinfo"):
    """Mount points of every cgroup (v1) and cgroup2 filesystem, by name."""
    hierarchies = {}
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, options = fields[sep + 1], fields[sep + 3]
            if fstype == "cgroup2":
                hierarchies.setdefault("unified", fields[4])
            elif fstype == "cgroup":
                names = [o for o in options.split(",") if o not in ("rw", "ro") and "=" not in o
                         or o.startswith("name=")]
                hierarchies.setdefault(",".join(sorted(names)), fields[4])
    return hierarchies


class AttachWarmup:
    """Begins, in a thread, the wait that the container's first cgroup.procs write would pay.

    Every cgroup.procs write takes the kernel's global cgroup_threadgroup_rwsem
    for writing, and the first writer after a quiet spell waits for an RCU
    grace period (~10 ms here); writers within the next grace period do not.
    Writing our own pid into the cgroup we are already in changes nothing, but
    starts that wait while the caller parses and validates the config.
    Call wait() before forking: the process must be single-threaded by then.
    """

    def __init__(self, mountinfo="/proc/self/mountinfo", own_cgroups="/proc/self/cgroup"):
        import _thread
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self._paths = (mountinfo, own_cgroups)
        _thread.start_new_thread(self._write_own_pid, ())

    def _write_own_pid(self):
        mountinfo, own_cgroups = self._paths
        try:
            mounts = mounted_hierarchies(mountinfo)
            with open(own_cgroups) as f:
                for line in f:
                    _, controllers, path = line.rstrip("\n").split(":", 2)
                    mount = mounts.get(controllers or "unified")
                    if mount:
                        with open(os.path.join(mount, path.lstrip("/"), "cgroup.procs"), "w") as procs:
                            procs.write(str(os.getpid()))
                        break
        except OSError:
            pass  # only a head start; the real write will simply wait
        finally:
            self._done.release()

    def wait(self):
        """Return once the thread's write is over; idempotent."""
        with self._done:
            pass


_warmup = None


def prime_attach():
    """Start the process's AttachWarmup if it has not started yet, and return it.

    The CLI calls this as soon as it knows it will create a container, so the
    grace period runs while the rest of ocirun is imported."""
    global _warmup
    if _warmup is None:
        _warmup = AttachWarmup()
    return _warmup


def container_cgroup_path(cgroups_path, container_id):
    if not cgroups_path:
        return f"{DEFAULT_PARENT}/{container_id}"
    return "/" + cgroups_path.strip("/")


class Manager:
    """One container's cgroup, `path`, in each hierarchy of `mounts` (name -> mount point)."""

    def __init__(self, path, mounts):
        self.path = path
        self.mounts = mounts

    @classmethod
    def for_container(cls, cgroups_path, container_id):
        return cls(container_cgroup_path(cgroups_path, container_id), mounted_hierarchies())

    def directories(self):
        return [os.path.join(mount, self.path.lstrip("/")) for mount in self.mounts.values()]

    def create(self):
        for name, mount in self.mounts.items():
            directory = mount
            for part in self.path.strip("/").split("/"):
                directory = os.path.join(directory, part)
                try:
                    os.mkdir(directory, 0o755)
                except FileExistsError:
                    continue
                if "cpuset" in name.split(","):
                    _inherit_cpuset(directory)

    def join(self, pid):
        for directory in self.directories():
            with open(os.path.join(directory, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def pids(self):
        """Every process in the container's cgroup."""
        for directory in self.directories():
            try:
                with open(os.path.join(directory, "cgroup.procs")) as f:
                    return [int(line) for line in f if line.strip()]
            except FileNotFoundError:
                continue
        return []

    def signal_all(self, signum):
        for pid in self.pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def destroy(self, timeout=5.0):
        """Remove the container's cgroup from every hierarchy, deepest level only:
        shared parents such as /ocirun stay."""
        deadline = time.monotonic() + timeout
        for directory in self.directories():
            while True:
                try:
                    os.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    # processes still exiting: make sure they are going, then retry
                    self.signal_all(SIGKILL)
                    time.sleep(0.01)


def _inherit_cpuset(directory):
    """A new v1 cpuset cgroup starts empty, and no task can join it until it has cpus and mems."""
    parent = os.path.dirname(directory)
    for name in ("cpuset.cpus", "cpuset.mems"):
        with open(os.path.join(directory, name)) as f:
            if f.read().strip():
                continue
        with open(os.path.join(parent, name)) as f:
            value = f.read().strip()
        with open(os.path.join(directory, name), "w") as f:
            f.write(value)
