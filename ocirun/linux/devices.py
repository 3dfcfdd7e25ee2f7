"""Device nodes in the container's /dev: the defaults every container gets,
the ones config.json lists, and the standard /dev symlinks."""
import os
import stat

from ocirun import _sys
from ocirun.linux.rootfs import resolve_in_root

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


def create_default_devices(rootfs, in_user_namespace, configured=()):
    """The defaults, except those `configured` paths that linux.devices sets itself (as in runc,
    the config's entry wins)."""
    for name, (major, minor) in DEFAULT_DEVICES.items():
        if f"/dev/{name}" not in configured:
            make_node(rootfs, f"/dev/{name}", "c", major, minor, 0o666, 0, 0, in_user_namespace)


def create_devices(rootfs, devices, in_user_namespace):
    for device in devices:
        mode = device.file_mode if device.file_mode is not None else 0o666
        make_node(rootfs, device.path, device.type, device.major, device.minor, mode,
                  device.uid or 0, device.gid or 0, in_user_namespace)


def make_node(rootfs, path, dev_type, major, minor, mode, uid, gid, in_user_namespace):
    target = resolve_in_root(rootfs, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if in_user_namespace:
        # mknod is not allowed in a user namespace: bind the host's node instead.
        if not os.path.lexists(target):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o000))
        _sys.mount(path, target, None, _sys.MS_BIND, None, f"bind device {path}")
        return
    try:
        os.mknod(target, _FILE_TYPES[dev_type] | (mode & 0o7777), os.makedev(major, minor))
    except FileExistsError:
        return  # the image ships this node already, as runc allows
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"mknod {path}") from None
    os.chown(target, uid, gid)
    os.chmod(target, mode & 0o7777)  # mknod's mode is filtered by the umask


def create_dev_symlinks(rootfs):
    dev = resolve_in_root(rootfs, "/dev")
    links = dict(_DEV_SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links["core"] = "/proc/kcore"
    for name, target in links.items():
        try:
            os.symlink(target, os.path.join(dev, name))
        except FileExistsError:
            pass
    # /dev/ptmx must be the container's own devpts instance (config-linux.md).
    ptmx = os.path.join(dev, "ptmx")
    if os.path.lexists(ptmx):
        os.unlink(ptmx)
    os.symlink("pts/ptmx", ptmx)
