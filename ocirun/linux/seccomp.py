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
    _check_notify_rules(profile, where)
    cache = _Cache(cache_dir, profile) if cache_dir else None
    program = cache.load() if cache else None
    if program is None:
        program = _compile(profile, where)
        if cache:
            cache.store(program)
    return CompiledFilter(program, flags, notify, profile.listener_path, profile.listener_metadata)


def _check_notify_rules(profile, where):
    """runc's rules, in its words: the runtime itself writes (logs, errors)
    after the filter is loaded and before the agent could answer, so a
    notified write(2) would hang the container's start."""
    if profile.default_action == "SCMP_ACT_NOTIFY":
        raise ConfigError(f"config.json: {where}.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action")
    for index, rule in enumerate(profile.syscalls):
        if rule.action == "SCMP_ACT_NOTIFY" and "write" in rule.names:
            raise ConfigError(f"config.json: {where}.syscalls[{index}]: "
                              "SCMP_ACT_NOTIFY cannot be used for the write syscall")


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
        tokens = {lib.seccomp_arch_resolve_name(_libseccomp_arch_name(arch, where).encode())
                  for arch in profile.architectures} | {lib.seccomp_arch_native()}
        for index, rule in enumerate(profile.syscalls):
            _add_rule(lib, ffi, ctx, rule, f"{where}.syscalls[{index}]", default_action)
        return enosys_stub(_last_syscalls(lib, profile, tokens), profile) + _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


_PROGRAM_FORM = "enosys-stub"  # changes whenever what a cached program holds changes


class _Cache:
    """<root>/~seccomp-bpf/<sha256 of the profile>: compiled programs, root's alone
    (a program planted there would be loaded into containers).  '~' is not a
    character of container ids, so no container can take the name."""

    def __init__(self, directory, profile):
        from _sha256 import sha256
        from ocirun.version import __version__
        self.directory = directory
        key = f"{__version__} {_PROGRAM_FORM} {os.uname().machine} {profile.key}".encode()
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


# --- the -ENOSYS stub ----------------------------------------------------------

_X86_64, _X32, _X32_BIT = 0xC000003E, 0x4000003E, 0x40000000  # audit arch tokens (libseccomp's too)
_LD_ABS, _JEQ, _JGT, _JSET, _JA, _RET = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06  # classic BPF opcodes
_NR, _ARCH = 0, 4  # offsets in struct seccomp_data
_PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")


def _last_syscalls(lib, profile, tokens):
    """{arch token: the highest syscall number the profile names there}."""
    last = {}
    for token in tokens:
        numbers = [lib.seccomp_syscall_resolve_name_arch(token, name.encode())
                   for rule in profile.syscalls for name in rule.names]
        numbers = [number for number in numbers if number >= 0]
        if numbers:
            last[token] = max(numbers)
    return last


def enosys_stub(last, profile):
    """BPF to put before libseccomp's program, as runc does: a syscall newer
    than any the profile names (for the calling architecture) fails with
    ENOSYS, not the default action.  A profile written before a syscall
    existed cannot have meant to forbid it, and programs fall back to the
    older call on ENOSYS only (glibc's clone3 does; EPERM makes it fail).
    Nothing for a permissive default, nor for a default that is ENOSYS."""
    if profile.default_action in _PERMISSIVE or not last or (
            profile.default_action == _ERRNO and profile.default_errno_ret == errno.ENOSYS):
        return b""
    program = [(_LD_ABS, 0, 0, _ARCH)]
    for arch in sorted(token for token in last if token != _X32):
        compares = [(_JGT, "enosys", "program", last[arch])]
        if arch == _X86_64 and _X32 in last:
            # x32 calls come as x86_64 with bit 30 set in the number
            compares = [(_JSET, 0, 1, _X32_BIT), (_JGT, "enosys", "program", last[_X32])] + compares
        program += [(_JEQ, 0, 1 + len(compares), arch), (_LD_ABS, 0, 0, _NR)] + compares
    if _X32 in last and _X86_64 not in last:
        program += [(_JEQ, 0, 3, _X86_64), (_LD_ABS, 0, 0, _NR), (_JSET, 0, "program", _X32_BIT),
                    (_JGT, "enosys", "program", last[_X32])]
    program += [(_JA, 0, 0, 1), (_RET, 0, 0, ACTIONS[_ERRNO] | errno.ENOSYS)]
    labels = {"enosys": len(program) - 1, "program": len(program)}
    import struct
    out = []
    for position, (code, jt, jf, k) in enumerate(program):
        jt, jf = (labels[j] - position - 1 if isinstance(j, str) else j for j in (jt, jf))
        out.append(struct.pack("=HBBI", code, jt, jf, k))
    return b"".join(out)


def _libseccomp_arch_name(arch, where):
    if arch not in ARCHITECTURES:
        raise ConfigError(f"config.json: {where}.architectures: unknown architecture {arch!r}")
    return arch[len("SCMP_ARCH_"):].lower()


def _check(result, what):
    if result < 0:  # libseccomp returns -errno
        raise ConfigError(f"config.json: {what}: {os.strerror(-result)}")
    return result
