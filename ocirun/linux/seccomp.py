"""linux.seccomp: the profile is compiled to BPF by libseccomp in the parent,
before any fork, so a bad rule fails create naming it; the init loads the
program with seccomp(2) as late as it can (see process/init.py).

Rules follow runc where the spec is silent: a syscall name this kernel and
libseccomp do not know is skipped; a rule whose action is the default one is
dropped (libseccomp refuses it); comparisons of one rule on distinct
arguments are ANDed in one rule, several on the same argument become one
rule each (libseccomp cannot AND them).
"""
import errno
import os

from ocirun.errors import ConfigError

_ERRNO, _TRACE = "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"
# seccomp.h; ERRNO and TRACE carry errnoRet in their low 16 bits
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000, _ERRNO: 0x00050000, _TRACE: 0x7ff00000,
    "SCMP_ACT_LOG": 0x7ffc0000, "SCMP_ACT_ALLOW": 0x7fff0000, "SCMP_ACT_NOTIFY": 0x7fc00000,
}
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ")
ARCHITECTURES = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
)
FLAGS = {  # seccomp(2)
    "SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}
NEW_LISTENER = 8


class CompiledFilter:
    """What the init needs: the BPF program and the seccomp(2) flags."""
    __slots__ = ("program", "flags", "notify", "listener_path", "listener_metadata")

    def __init__(self, program, flags, notify, listener_path, listener_metadata):
        self.program = program
        if notify:
            # The kernel refuses TSYNC with a listener; the init loading the
            # filter is single-threaded, so there is nothing to sync anyway.
            flags = flags & ~FLAGS["SECCOMP_FILTER_FLAG_TSYNC"] | NEW_LISTENER
        self.flags = flags
        self.notify = notify
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata


def compile_profile(profile, cache_dir=None):
    """The config's linux.seccomp (a config.Seccomp) -> CompiledFilter.

    With cache_dir, a program compiled before for the same profile is reused:
    engines pass the same large profile to every container, and compiling
    podman's default takes libseccomp ~12 ms here (crun keeps such a cache too).
    """
    where = "linux.seccomp"
    flags = 0
    for flag in profile.flags:
        if flag not in FLAGS:
            raise ConfigError(f"config.json: {where}.flags: unknown flag {flag!r}")
        flags |= FLAGS[flag]
    actions = [profile.default_action] + [rule.action for rule in profile.syscalls]
    notify = "SCMP_ACT_NOTIFY" in actions
    if notify and not profile.listener_path:
        raise ConfigError(f"config.json: {where}.listenerPath: SCMP_ACT_NOTIFY needs a listener")
    cache = _Cache(cache_dir, profile) if cache_dir else None
    program = cache.load() if cache else None
    if program is None:
        program = _compile(profile, where)
        if cache:
            cache.store(program)
    return CompiledFilter(program, flags, notify, profile.listener_path, profile.listener_metadata)


def _compile(profile, where):
    from ocirun._libseccomp import ffi, lib
    default_action = action_value(profile.default_action, profile.default_errno_ret, where)
    ctx = lib.seccomp_init(default_action)
    if ctx == ffi.NULL:
        raise ConfigError(f"config.json: {where}.defaultAction: libseccomp refused {profile.default_action}")
    try:
        for arch in profile.architectures:
            token = lib.seccomp_arch_resolve_name(_libseccomp_arch_name(arch, where).encode())
            if token == 0:
                raise ConfigError(f"config.json: {where}.architectures: {arch} is unknown to libseccomp")
            if lib.seccomp_arch_exist(ctx, token) != 0:  # the native one is already there
                _check(lib.seccomp_arch_add(ctx, token), f"{where}.architectures: add {arch}")
        for index, rule in enumerate(profile.syscalls):
            _add_rule(lib, ffi, ctx, rule, f"{where}.syscalls[{index}]", default_action)
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


class _Cache:
    """<root>/~seccomp-bpf/<sha256 of the profile>: compiled programs, root's alone
    (a program planted there would be loaded into containers).  '~' is not a
    character of container ids, so no container can take the name."""

    def __init__(self, directory, profile):
        from _sha256 import sha256
        from ocirun.version import __version__
        self.directory = directory
        key = f"{__version__} {os.uname().machine} {profile.key}".encode()
        self.path = os.path.join(directory, sha256(key).hexdigest())

    def load(self):
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or st.st_mode & 0o022 or st.st_size % 8:
                return None
            return os.read(fd, st.st_size) or None
        finally:
            os.close(fd)

    def store(self, program):
        try:
            os.makedirs(os.path.dirname(self.directory), 0o700, exist_ok=True)  # the state root, as state.py makes it
            os.mkdir(self.directory, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return  # no cache then; the program is still good
        tmp = f"{self.path}.{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, program)
            finally:
                os.close(fd)
            os.rename(tmp, self.path)
        except OSError:
            pass


def action_value(action, errno_ret, where):
    if action not in ACTIONS:
        raise ConfigError(f"config.json: {where}: unknown action {action!r}")
    if errno_ret is not None and action not in (_ERRNO, _TRACE):
        raise ConfigError(f"config.json: {where}: {action} takes no errno return code")
    if action in (_ERRNO, _TRACE):
        errno_ret = errno.EPERM if errno_ret is None else errno_ret
        if not 0 <= errno_ret <= 0xFFFF:
            raise ConfigError(f"config.json: {where}: errno return code {errno_ret} is out of range")
        return ACTIONS[action] | errno_ret
    return ACTIONS[action]


def _add_rule(lib, ffi, ctx, rule, where, default_action):
    names = rule.names
    label = f"{where} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
    action = action_value(rule.action, rule.errno_ret, label)
    comparisons = []
    for arg in rule.args:
        if arg.op not in OPERATORS:
            raise ConfigError(f"config.json: {label}: unknown operator {arg.op!r}")
        if not 0 <= arg.index <= 5:
            raise ConfigError(f"config.json: {label}: argument index {arg.index} is not 0..5")
        comparisons.append((arg.index, getattr(lib, arg.op), arg.value, arg.value_two))
    if action == default_action:
        return  # what the default does anyway; libseccomp would refuse the rule
    indexes = [c[0] for c in comparisons]
    groups = [comparisons] if len(set(indexes)) == len(indexes) else [[c] for c in comparisons]
    for name in names:
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number == lib.__NR_SCMP_ERROR:
            continue  # not a syscall of this kernel's architectures: skipped, as runc does
        for group in groups:
            array = ffi.new("struct scmp_arg_cmp[]", max(len(group), 1))
            for i, (index, op, value, value_two) in enumerate(group):
                array[i].arg, array[i].op, array[i].datum_a, array[i].datum_b = index, op, value, value_two
            _check(lib.seccomp_rule_add_array(ctx, action, number, len(group), array),
                   f"{label}: {name}")


def _export(lib, ctx):
    fd = os.memfd_create("ocirun-seccomp-bpf", os.MFD_CLOEXEC)
    try:
        _check(lib.seccomp_export_bpf(ctx, fd), "linux.seccomp: export the BPF program")
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _libseccomp_arch_name(arch, where):
    if arch not in ARCHITECTURES:
        raise ConfigError(f"config.json: {where}.architectures: unknown architecture {arch!r}")
    return arch[len("SCMP_ARCH_"):].lower()


def _check(result, what):
    if result < 0:  # libseccomp returns -errno
        raise ConfigError(f"config.json: {what}: {os.strerror(-result)}")
    return result
