"""The calls that build a container's filesystem, behind one seam.

rootfs.py, mountfd.py, devices.py and inroot.py make every mount, directory,
device node and symlink of a container through `current`, a Kernel: the real
one calls the shim and os.  A unit test puts a recording stand-in there
(tests/unit/kernel_fake.py), which lists the calls in order and makes the
directories for real in a temporary tree, so that the sequence a config
produces can be checked without root.  Integration tests stay the judge of
behaviour; this only makes the sequence visible.
"""
import os

from ocirun import _sys


class Kernel:
    """The real calls (one method each; fds in and out, as the syscalls take them)."""

    # --- mounts
    def mount(self, source, target, fs_type, flags=0, data=None, what=None):
        _sys.mount(source, target, fs_type, flags, data, what)

    def fsopen(self, fs_type, what):
        return _sys.fsopen(fs_type, what)

    def fsconfig(self, fs, cmd, key=None, value=None, what=None):
        _sys.fsconfig(fs, cmd, key, value, what=what)

    def fsmount(self, fs, attributes, what):
        return _sys.fsmount(fs, attributes, what)

    def open_tree(self, path, flags, dfd=_sys.AT_FDCWD, what=None):
        return _sys.open_tree(path, flags, dfd=dfd, what=what)

    def move_mount(self, tree, target, what):
        _sys.move_mount(tree, target, what)

    def mount_setattr(self, path, flags, attr_set=0, attr_clr=0, propagation=0, dfd=_sys.AT_FDCWD, what=None):
        _sys.mount_setattr(path, flags, attr_set, attr_clr, propagation=propagation, dfd=dfd, what=what)

    # --- what an fd is
    def fstat(self, fd):
        return os.fstat(fd)

    def fstatfs_type(self, fd, what):
        return _sys.fstatfs_type(fd, what)

    def statvfs_flags(self, fd):
        return os.statvfs(fd).f_flag

    # --- names in a directory open at dir_fd
    def mkdir(self, name, mode, dir_fd):
        os.mkdir(name, mode, dir_fd=dir_fd)

    def make_file(self, name, mode, dir_fd):
        """An empty regular file (O_EXCL, never through a symlink)."""
        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                         dir_fd=dir_fd))

    def mknod(self, name, mode, device, dir_fd):
        os.mknod(name, mode, device, dir_fd=dir_fd)

    def chown(self, name, uid, gid, dir_fd):
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)

    def symlink(self, target, name, dir_fd):
        os.symlink(target, name, dir_fd=dir_fd)

    def unlink(self, name, dir_fd):
        os.unlink(name, dir_fd=dir_fd)


current = Kernel()
