"""A recording stand-in for ocirun.linux.kernel.Kernel: it lists, in order,
the calls the rootfs code makes, naming each fd by the path it has inside
a temporary rootfs (or by what the detached mount is), and makes
directories, files and symlinks for real in that tree, so that the code's
own lookups go on working; it mounts nothing and makes no device node
(a regular file stands in, with the node's type and numbers remembered)."""
import os
import stat

from ocirun import _sys
from ocirun.linux.kernel import Kernel


class RecordingKernel(Kernel):
    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.calls = []
        self.detached = {}  # fd of a detached mount -> what it is
        self.nodes = {}  # path inside the root -> (st_mode, st_rdev) of a device node "made"
        self.procfs = set()  # paths inside the root to report as on procfs

    # --- naming fds ---------------------------------------------------------

    def where(self, fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if fd in self.detached:
            if path == "/dev/null":
                return self.detached[fd]
            del self.detached[fd]  # closed since, and the number taken by a real open
        if path == self.root:
            return "/"
        assert path.startswith(self.root + "/"), f"fd {fd} is {path}, outside the rootfs"
        return path[len(self.root):]

    def _in(self, dir_fd, name):
        parent = self.where(dir_fd)
        return parent.rstrip("/") + "/" + name

    def _target(self, path):
        """mount(2)'s target: /proc/self/fd/N named by what N is."""
        if path and path.startswith("/proc/self/fd/"):
            return self.where(int(path.rsplit("/", 1)[1]))
        return path

    def _detached(self, description):
        fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        self.detached[fd] = description
        return fd

    # --- mounts: recorded only ---------------------------------------------

    def mount(self, source, target, fs_type, flags=0, data=None, what=None):
        self.calls.append(("mount", source, self._target(target), fs_type, flags, data))

    def fsopen(self, fs_type, what):
        fd = self._detached(f"new {fs_type}")
        self.calls.append(("fsopen", fs_type))
        return fd

    def fsconfig(self, fs, cmd, key=None, value=None, what=None):
        if cmd != _sys.FSCONFIG_CMD_CREATE:
            self.calls.append(("fsconfig", key, value))

    def fsmount(self, fs, attributes, what):
        fd = self._detached(self.detached[fs])
        self.calls.append(("fsmount", self.detached[fs], attributes))
        return fd

    def open_tree(self, path, flags, dfd=_sys.AT_FDCWD, what=None):
        source = path if path else self.where(dfd)
        recursive = " recursive" if flags & _sys.AT_RECURSIVE else ""
        fd = self._detached(f"clone of {source}{recursive}")
        self.calls.append(("open_tree", f"{source}{recursive}"))
        return fd

    def move_mount(self, tree, target, what):
        self.calls.append(("move_mount", self.detached[tree], self.where(target)))

    def mount_setattr(self, path, flags, attr_set=0, attr_clr=0, propagation=0, dfd=_sys.AT_FDCWD, what=None):
        self.calls.append(("mount_setattr", self.where(dfd) if not path else path, attr_set, attr_clr, propagation))

    # --- what an fd is ------------------------------------------------------

    def fstat(self, fd):
        path = self.where(fd)
        if fd in self.detached:
            return os.stat_result((stat.S_IFDIR | 0o755,) + (0,) * 9)
        node = self.nodes.get(path)
        if node:
            mode, rdev = node
            st = os.fstat(fd)
            return os.stat_result((mode, st.st_ino, st.st_dev, 1, 0, 0, 0, 0, 0, 0), {"st_rdev": rdev})
        return os.fstat(fd)

    def fstatfs_type(self, fd, what):
        path = self.where(fd)
        if any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.procfs):
            return _sys.PROC_SUPER_MAGIC
        return _sys.TMPFS_MAGIC

    def statvfs_flags(self, fd):
        return 0

    # --- names: made for real, and recorded ---------------------------------

    def mkdir(self, name, mode, dir_fd):
        path = self._in(dir_fd, name)
        os.mkdir(name, mode, dir_fd=dir_fd)
        self.calls.append(("mkdir", path, mode))

    def make_file(self, name, mode, dir_fd):
        path = self._in(dir_fd, name)
        super().make_file(name, mode, dir_fd)
        self.calls.append(("file", path, mode))

    def mknod(self, name, mode, device, dir_fd):
        path = self._in(dir_fd, name)
        super().make_file(name, 0o600, dir_fd)  # a stand-in: no root here
        self.nodes[path] = (mode, device)
        kind = "c" if stat.S_ISCHR(mode) else "b" if stat.S_ISBLK(mode) else "p"
        self.calls.append(("mknod", path, kind, os.major(device), os.minor(device), stat.S_IMODE(mode)))

    def chown(self, name, uid, gid, dir_fd):
        self.calls.append(("chown", self._in(dir_fd, name), uid, gid))

    def symlink(self, target, name, dir_fd):
        os.symlink(target, name, dir_fd=dir_fd)
        self.calls.append(("symlink", self._in(dir_fd, name), target))

    def unlink(self, name, dir_fd):
        path = self._in(dir_fd, name)
        os.unlink(name, dir_fd=dir_fd)
        self.calls.append(("unlink", path))

    def of(self, kind):
        """The recorded calls of one kind, without their name."""
        return [call[1:] for call in self.calls if call[0] == kind]
