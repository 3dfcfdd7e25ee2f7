"""A container's persistent state: <root>/<id>/state.json.

Written atomically (temporary file + rename); every command on one container
holds an flock on its directory; the status is derived from what was
recorded and what the kernel says of the init (its pid and start time, so a
recycled pid is not mistaken for the container).
"""
import errno
import fcntl
import os

from ocirun import jsonio
from ocirun.errors import ContainerExists, ContainerNotFound, OcirunError, WrongState

CREATING, CREATED, RUNNING, STOPPED = "creating", "created", "running", "stopped"
PAUSED = "paused"  # runc's additional status: the container's cgroup is frozen

# runc's rule for container ids: ^[\w+-\.]+$ in ASCII (a set test, not re:
# importing re costs more than the rest of a start's imports together)
_ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")

# operation -> statuses it is allowed from (runtime.md "Operations")
_ALLOWED = {
    "start": (CREATED,),
    "kill": (CREATED, RUNNING, PAUSED),
    "delete": (STOPPED, CREATED),
    "pause": (RUNNING,),
    "resume": (PAUSED,),
    "stats": (CREATED, RUNNING, PAUSED),
    "exec": (CREATED, RUNNING, PAUSED),  # paused only with --ignore-paused (container.exec)
    "update": (CREATED, RUNNING, PAUSED),
}


def check_allowed(operation, container_id, status):
    if status not in _ALLOWED[operation]:
        if operation == "kill":
            # "container not running": runc's words, which containerd looks for
            raise WrongState(f"cannot kill container {container_id}: container not running")
        if operation == "delete":
            raise WrongState(f"cannot delete container {container_id} that is not stopped: {status}")
        if operation in ("exec", "update"):
            raise WrongState(f"cannot {operation} container {container_id}: it is {status}")
        raise WrongState(f"cannot {operation} container {container_id}: it is {status}, not "
                         + " or ".join(_ALLOWED[operation]))


def validate_id(container_id):
    if not container_id or container_id in (".", "..") or not _ID_CHARACTERS.issuperset(container_id):
        raise OcirunError(f"invalid container id {container_id!r}: use letters, digits, '_', '+', '-' and '.'")


def process_start_time(pid):
    """Field 22 of /proc/<pid>/stat, or None when the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def _locked_by_another(directory, container_id):
    try:
        fd = StateStore(os.path.dirname(directory)).lock(container_id, wait=False)
    except ContainerNotFound:
        return False
    if fd is None:
        return True
    os.close(fd)
    return False


def _remove_tree(directory):
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _remove_tree(entry.path)
        else:
            os.unlink(entry.path)
    os.rmdir(directory)


class ContainerState:
    """The record of one container; `save` writes it, `status` derives the live status."""

    # the cgroup's, as cgroups.Manager.state_fields gives them: the driver
    # create chose, its path, the hierarchies it is in (name -> mount point),
    # with --systemd-cgroup [unit, slice], the parents create made, and
    # whether a rootless caller made it (device rules are then not its to set)
    CGROUP_FIELDS = ("cgroup_driver", "cgroup_path", "cgroup_mounts", "cgroup_unit", "cgroup_created_from",
                     "cgroup_shared", "cgroup_rootless")
    FIELDS = ("id", "pid", "pid_start_time", "status", "bundle", "rootfs", "created",
              "owner", "annotations", "oci_version",
              "hooks",  # the startContainer, poststart and poststop hooks, as in config.json
              "host_mounts",  # without a mount namespace: its mounts on the host, to undo
              ) + CGROUP_FIELDS

    def __init__(self, directory, **fields):
        self.directory = directory
        for name in self.FIELDS:
            setattr(self, name, fields.get(name))

    @property
    def path(self):
        return os.path.join(self.directory, "state.json")

    def save(self):
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, jsonio.dumps({name: getattr(self, name) for name in self.FIELDS}).encode())
        finally:
            os.close(fd)
        os.rename(tmp, self.path)

    @classmethod
    def load(cls, directory, container_id):
        try:
            with open(os.path.join(directory, "state.json")) as f:
                fields = jsonio.loads(f.read())
        except FileNotFoundError:
            raise ContainerNotFound(f"container {container_id} does not exist") from None
        return cls(directory, **fields)

    def cgroup_fields(self):
        return {name: getattr(self, name) for name in self.CGROUP_FIELDS}

    def init_alive(self):
        return bool(self.pid) and process_start_time(self.pid) == self.pid_start_time

    def live_status(self, locked=False):
        """The status now.  A record still "creating" is a create in progress,
        which holds the directory's lock, or else one that was killed: that
        one is stopped (`locked`: the caller holds the lock itself)."""
        if self.status in (CREATED, RUNNING, PAUSED) and not self.init_alive():
            return STOPPED
        if self.status == CREATING and (locked or not _locked_by_another(self.directory, self.id)):
            return STOPPED
        return self.status


class StateStore:
    """The --root directory: one subdirectory per container."""

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def _ensure_root(self):
        try:
            os.makedirs(self.root, 0o700, exist_ok=True)
            probe = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            os.close(probe)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(errno.EACCES, "Permission denied")
        except OSError as e:
            raise OcirunError(f"state directory {self.root}: {e.strerror}") from None

    def seccomp_cache_directory(self):
        """Where compiled seccomp programs are kept (see linux/seccomp.py)."""
        return os.path.join(self.root, "~seccomp-bpf")

    def directory(self, container_id):
        return os.path.join(self.root, container_id)

    def create_directory(self, container_id):
        """Claim the id: mkdir is atomic, so two creates of one id cannot both win."""
        validate_id(container_id)
        self._ensure_root()
        path = self.directory(container_id)
        try:
            os.mkdir(path, 0o700)  # root's alone: its files hold the process's environment
        except FileExistsError:
            raise ContainerExists(f"container {container_id} already exists") from None
        except OSError as e:
            raise OcirunError(f"state directory {path}: {e.strerror}") from None
        return path

    def lock(self, container_id, wait=True):
        """Open and flock the container's directory; returns the fd (close it
        to unlock), or None without `wait` when another holds the lock (a
        create in progress, or a command on the container).  The one place
        where a container's directory is locked: every command on it holds
        the lock, create from the moment it made the directory."""
        validate_id(container_id)
        try:
            fd = os.open(self.directory(container_id), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(f"container {container_id} does not exist") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if not os.path.isdir(self.directory(container_id)):  # deleted while we waited
            os.close(fd)
            raise ContainerNotFound(f"container {container_id} does not exist")
        return fd

    def remove(self, container_id):
        """Remove the container's directory: plain files, and the notify
        directory with its socket (notify_socket.py)."""
        _remove_tree(self.directory(container_id))

    def ids(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.isfile(os.path.join(self.root, n, "state.json")))
