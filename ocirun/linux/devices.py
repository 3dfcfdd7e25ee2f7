"""Device nodes in the container's /dev: the defaults every container gets,
the ones config.json lists, and the standard /dev symlinks."""
import os
import stat

from ocirun import _sys
from ocirun.linux import inroot, kernel

# runtime-spec config-linux.md "Default Devices": name -> (major, minor)
DEFAULT_DEVICES = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7),
    "random": (1, 8), "urandom": (1, 9), "tty": (5, 0),
}

_DEV_SYMLINKS = {
    "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
}

_FILE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def needs_dev_setup(mounts):
    """runc's rule: the runtime fills /dev unless the config binds one in from the host."""
    for mount in mounts:
        if mount.destination.rstrip("/") == "/dev" and ("bind" in mount.options or "rbind" in mount.options):
            return False
    return True


def create_default_devices(root_fd, in_user_namespace, configured=()):
    """The defaults, except those `configured` paths that linux.devices sets itself (as in runc,
    the config's entry wins)."""
    for name, (major, minor) in DEFAULT_DEVICES.items():
        if f"/dev/{name}" not in configured:
            make_node(root_fd, f"/dev/{name}", "c", major, minor, 0o666, 0, 0, in_user_namespace)


def create_devices(root_fd, devices, in_user_namespace):
    for device in devices:
        mode = device.file_mode if device.file_mode is not None else 0o666
        make_node(root_fd, device.path, device.type, device.major, device.minor, mode,
                  device.uid or 0, device.gid or 0, in_user_namespace)


def make_node(root_fd, path, dev_type, major, minor, mode, uid, gid, in_user_namespace):
    """The node `path`, made in its directory opened inside the root (the umask is 0 here)."""
    directory, name = os.path.split(path.rstrip("/"))
    try:
        parent = inroot.make_in_root(root_fd, directory or "/")
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"mknod {path}") from None
    try:
        if in_user_namespace:
            _bind_host_node(parent, name, path)
            return
        try:
            kernel.current.mknod(name, _FILE_TYPES[dev_type] | (mode & 0o7777), os.makedev(major, minor), parent)
        except FileExistsError:
            return  # the image ships this node already, as runc allows
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, f"mknod {path}") from None
        kernel.current.chown(name, uid, gid, parent)
    finally:
        os.close(parent)


def _bind_host_node(parent, name, path):
    """mknod is not allowed in a user namespace: bind the host's node onto an empty file."""
    node = kernel.current.open_tree(path, _sys.OPEN_TREE_CLONE | _sys.OPEN_TREE_CLOEXEC, what=f"bind device {path}")
    try:
        try:
            try:
                kernel.current.make_file(name, 0o000, parent)
            except FileExistsError:
                pass
            target = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, f"bind device {path}") from None
        try:
            kernel.current.move_mount(node, target, f"bind device {path}")
        finally:
            os.close(target)
    finally:
        os.close(node)


def create_dev_symlinks(root_fd):
    dev = inroot.make_in_root(root_fd, "/dev")
    try:
        links = dict(_DEV_SYMLINKS)
        if os.path.exists("/proc/kcore"):
            links["core"] = "/proc/kcore"
        for name, target in links.items():
            try:
                kernel.current.symlink(target, name, dev)
            except FileExistsError:
                pass
        # /dev/ptmx must be the container's own devpts instance (config-linux.md).
        try:
            kernel.current.unlink("ptmx", dev)
        except FileNotFoundError:
            pass
        kernel.current.symlink("pts/ptmx", "ptmx", dev)
    finally:
        os.close(dev)
