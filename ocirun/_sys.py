"""The only importer of the compiled shim.

Each wrapper calls one syscall and turns a failure into
OSError(errno, strerror, what), where `what` names the syscall and its
object, so a user reads `mount proc on /proc: Permission denied`.
"""
import errno
import os

from ocirun._shim import ffi, lib

# clone(2) / unshare(2) namespace flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_DETACH = 2

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


class SyscallError(OSError):
    """An OSError whose text is `<what>: <strerror>`."""

    def __str__(self):
        return f"{self.filename}: {self.strerror}"


def _check(result, what):
    if result < 0:
        err = ffi.errno
        raise SyscallError(err, os.strerror(err), what)
    return result


def _bytes(value):
    return os.fsencode(value) if value is not None else ffi.NULL


def unshare(flags):
    _check(lib.ocirun_unshare(flags), "unshare")


def setns(fd, nstype, path):
    _check(lib.ocirun_setns(fd, nstype), f"setns {path}")


def pivot_root(new_root, put_old):
    _check(lib.ocirun_pivot_root(_bytes(new_root), _bytes(put_old)), f"pivot_root {new_root}")


def mount(source, target, fstype, flags=0, data=None, what=None):
    _check(lib.ocirun_mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data)),
           what or f"mount {source} on {target}")


def umount2(target, flags=0):
    _check(lib.ocirun_umount2(_bytes(target), flags), f"umount {target}")


def sethostname(name):
    raw = name.encode()
    _check(lib.ocirun_sethostname(raw, len(raw)), f"sethostname {name}")


def setdomainname(name):
    raw = name.encode()
    _check(lib.ocirun_setdomainname(raw, len(raw)), f"setdomainname {name}")


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0, what="prctl"):
    return _check(lib.ocirun_prctl(option, arg2, arg3, arg4, arg5), what)


def is_child_subreaper():
    flag = ffi.new("int *")
    prctl(PR_GET_CHILD_SUBREAPER, int(ffi.cast("unsigned long", flag)), what="get child subreaper")
    return bool(flag[0])


def set_process_name(name):
    """prctl(PR_SET_NAME): what ps and /proc/<pid>/comm show (15 bytes at most)."""
    raw = ffi.new("char[]", name.encode()[:15])
    prctl(PR_SET_NAME, int(ffi.cast("unsigned long", raw)), what=f"set process name {name}")


def capset(effective, permitted, inheritable):
    """Each set is an int bit mask of capability numbers."""
    def halves(mask):
        return [mask & 0xFFFFFFFF, (mask >> 32) & 0xFFFFFFFF]
    _check(lib.ocirun_capset(halves(effective), halves(permitted), halves(inheritable)), "capset")


def join_session_keyring(name):
    _check(lib.ocirun_keyctl_join_session_keyring(_bytes(name)), f"keyctl join session keyring {name}")


def personality(persona):
    return _check(lib.ocirun_personality(persona), f"personality {persona:#x}")


def ioprio_set(which, who, ioprio, what="ioprio_set"):
    _check(lib.ocirun_ioprio_set(which, who, ioprio), what)


def sched_setattr(pid, policy, flags, nice, priority, runtime, deadline, period, what="sched_setattr"):
    _check(lib.ocirun_sched_setattr(pid, policy, flags, nice, priority, runtime, deadline, period), what)


# mount_setattr(2), open_tree(2), move_mount(2)
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40


def mount_setattr(path, flags, attr_set=0, attr_clr=0, propagation=0, userns_fd=0, dfd=AT_FDCWD,
                  what=None):
    _check(lib.ocirun_mount_setattr(dfd, _bytes(path), flags, attr_set, attr_clr, propagation, userns_fd),
           what or f"mount_setattr {path}")


def open_tree(path, flags, dfd=AT_FDCWD, what=None):
    return _check(lib.ocirun_open_tree(dfd, _bytes(path), flags), what or f"open_tree {path}")


def move_mount(from_fd, to_fd, what):
    """Attach the mount `from_fd` (from open_tree or fsmount) onto the file or
    directory open at `to_fd`: no path is resolved, so nothing can redirect it."""
    _check(lib.ocirun_move_mount(from_fd, b"", to_fd, b"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
           what)


# openat2(2) resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def openat2(dirfd, path, flags, resolve, mode=0, what=None):
    return _check(lib.ocirun_openat2(dirfd, _bytes(path), flags, mode, resolve), what or f"open {path}")


# fsopen(2), fsconfig(2), fsmount(2): a new filesystem as a detached mount
FSOPEN_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 1


def fsopen(fs_name, what):
    return _check(lib.ocirun_fsopen(_bytes(fs_name), FSOPEN_CLOEXEC), what)


def fsconfig(fd, cmd, key=None, value=None, what=None):
    _check(lib.ocirun_fsconfig(fd, cmd, _bytes(key), _bytes(value), 0), what or f"fsconfig {key}")


def fsmount(fd, attr_flags, what):
    return _check(lib.ocirun_fsmount(fd, FSMOUNT_CLOEXEC, attr_flags), what)


PROC_SUPER_MAGIC = 0x9FA0
TMPFS_MAGIC = 0x01021994


def fstatfs_type(fd, what):
    """The magic number of the filesystem `fd` is on (statfs(2) f_type)."""
    result = ffi.new("int64_t *")
    _check(lib.ocirun_fstatfs_type(fd, result), what)
    return result[0]


def set_mempolicy(mode, nodes, what="set_mempolicy"):
    """mode includes its MPOL_F_* flags; nodes is a set of node numbers."""
    bits = 64
    words = max(nodes, default=-1) // bits + 1
    mask = ffi.new("unsigned long[]", max(words, 1))
    for node in nodes:
        mask[node // bits] |= 1 << (node % bits)
    # maxnode counts one more than the highest bit the kernel may read
    _check(lib.ocirun_set_mempolicy(mode, mask if nodes else ffi.NULL, words * bits + 1 if nodes else 0), what)


# seccomp(2) filter flags
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32


def seccomp_set_mode_filter(flags, program):
    """Load `program` (BPF instructions, 8 bytes each); returns the notify fd with NEW_LISTENER."""
    return _check(lib.ocirun_seccomp_set_mode_filter(flags, program, len(program) // 8), "load seccomp filter")


BPF_CGROUP_DEVICE = 6  # attach type
BPF_F_ALLOW_MULTI = 2


def bpf_prog_load_cgroup_device(instructions):
    """Load a cgroup device program (bytes of struct bpf_insn); returns its fd.
    A refusal carries the verifier's log in the message."""
    log = ffi.new("char[]", 65536)
    fd = lib.ocirun_bpf_prog_load_cgroup_device(instructions, len(instructions) // 8, log, 65536)
    if fd < 0:
        err = ffi.errno
        verifier = ffi.string(log).decode(errors="replace").strip().splitlines()
        raise SyscallError(err, os.strerror(err) + (f" ({verifier[-1]})" if verifier else ""),
                           "bpf load device program")
    return fd


def bpf_prog_attach(target_fd, program_fd, attach_type, flags, what="bpf attach"):
    _check(lib.ocirun_bpf_prog_attach(target_fd, program_fd, attach_type, flags), what)


def bpf_prog_query(target_fd, attach_type, what="bpf query"):
    """The ids of the programs attached to target_fd for attach_type."""
    room = 64
    while True:
        ids = ffi.new("uint32_t[]", room)
        count = ffi.new("uint32_t *", room)
        if lib.ocirun_bpf_prog_query(target_fd, attach_type, ids, count) == 0:
            return [ids[i] for i in range(count[0])]
        if ffi.errno != errno.ENOSPC:
            _check(-1, what)
        room = count[0]


def bpf_prog_get_fd_by_id(program_id):
    return _check(lib.ocirun_bpf_prog_get_fd_by_id(program_id), f"bpf get program {program_id}")


def bpf_prog_detach(target_fd, program_fd, attach_type, what="bpf detach"):
    _check(lib.ocirun_bpf_prog_detach(target_fd, program_fd, attach_type), what)


IN_MODIFY = 0x00000002


def inotify_init1(flags):
    return _check(lib.ocirun_inotify_init1(flags), "inotify_init1")


def inotify_add_watch(fd, path, mask):
    return _check(lib.ocirun_inotify_add_watch(fd, os.fsencode(path), mask), f"inotify_add_watch {path}")
