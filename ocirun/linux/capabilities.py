"""process.capabilities: the bounding set by prctl, the effective, permitted
and inheritable sets by capset(2), the ambient set by prctl."""
from ocirun import _sys
from ocirun.errors import ConfigError

# capability(7) numbers, in order: CAP_CHOWN is 0
CAPABILITY_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
_NUMBERS = {name: number for number, name in enumerate(CAPABILITY_NAMES)}


def last_cap():
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def own_bounding_set(status="/proc/self/status"):
    """The runtime's own bounding set: what it can grant at all."""
    with open(status) as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return ~0


class CapabilitySets:
    """The five sets as bit masks, checked against the names above and limited
    to what this kernel knows and this runtime holds.

    config.md: a capability that cannot be granted MUST be logged as a
    warning, and the runtime SHOULD NOT fail; `not_granted` names them."""
    __slots__ = ("bounding", "effective", "inheritable", "permitted", "ambient", "last", "not_granted")

    def __init__(self, capabilities, grantable=None):
        self.last = last_cap()
        grantable = own_bounding_set() if grantable is None else grantable
        not_granted = set()
        for set_name in self.__slots__[:5]:
            mask = 0
            for name in getattr(capabilities, set_name):
                number = _NUMBERS.get(name)
                if number is None:
                    raise ConfigError(f"config.json: process.capabilities.{set_name}: unknown capability {name!r}")
                if number > self.last:
                    continue  # newer than this kernel: nothing to grant
                if not grantable & (1 << number):
                    not_granted.add(name)
                    continue
                mask |= 1 << number
            setattr(self, set_name, mask)
        self.not_granted = sorted(not_granted, key=_NUMBERS.get)


def drop_bounding(sets):
    for number in range(sets.last + 1):
        if not sets.bounding & (1 << number):
            _sys.prctl(_sys.PR_CAPBSET_DROP, number, what=f"drop {CAPABILITY_NAMES[number]} from the bounding set")


def apply(sets):
    """After the uid change (made with PR_SET_KEEPCAPS): set the process's sets.

    Returns the ambient capabilities that could not be raised: the kernel
    only allows one that is both permitted and inheritable.  runc warns and
    goes on in that case (its own default spec asks for such ones), so the
    caller reports them as warnings.
    """
    _sys.capset(sets.effective, sets.permitted, sets.inheritable)
    _sys.prctl(_sys.PR_CAP_AMBIENT, _sys.PR_CAP_AMBIENT_CLEAR_ALL, what="clear ambient capabilities")
    not_raised = []
    for number in range(sets.last + 1):
        if sets.ambient & (1 << number):
            if not (sets.permitted & sets.inheritable) & (1 << number):
                not_raised.append(CAPABILITY_NAMES[number])
                continue
            _sys.prctl(_sys.PR_CAP_AMBIENT, _sys.PR_CAP_AMBIENT_RAISE, number,
                       what=f"raise ambient {CAPABILITY_NAMES[number]}")
    return not_raised
