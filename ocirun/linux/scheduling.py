"""process.scheduler, process.ioPriority and process.execCPUAffinity: how the
kernel schedules the container's process on the CPUs and for I/O.

Values are checked in the parent (check) and applied by the init before it
drops privileges (apply), since a real-time policy or class needs CAP_SYS_NICE
or CAP_SYS_ADMIN; both survive exec and are inherited by children.
"""
from ocirun import _sys
from ocirun.errors import ConfigError

# include/uapi/linux/sched.h
POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
            "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
         "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10,
         "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20, "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
_REALTIME = ("SCHED_FIFO", "SCHED_RR")

# include/uapi/linux/ioprio.h
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
_IOPRIO_CLASS_SHIFT = 13
_IOPRIO_WHO_PROCESS = 1


def check(process):
    """Refuse what the kernel would refuse less clearly, naming the field."""
    scheduler = process.scheduler
    if scheduler is not None:
        if scheduler.policy == "SCHED_ISO":
            raise ConfigError("config.json: process.scheduler.policy: SCHED_ISO is not a policy of the Linux kernel")
        if not -20 <= scheduler.nice <= 19:
            raise ConfigError(f"config.json: process.scheduler.nice: {scheduler.nice} is outside -20..19")
        if scheduler.policy in _REALTIME and not 1 <= scheduler.priority <= 99:
            raise ConfigError(f"config.json: process.scheduler.priority: {scheduler.policy} needs 1..99,"
                              f" not {scheduler.priority}")
        if scheduler.policy not in _REALTIME and scheduler.priority != 0:
            raise ConfigError(f"config.json: process.scheduler.priority: only SCHED_FIFO and SCHED_RR"
                              f" take a priority, not {scheduler.policy}")
    if process.io_priority is not None and not 0 <= process.io_priority.priority <= 7:
        raise ConfigError(f"config.json: process.ioPriority.priority: {process.io_priority.priority}"
                          " is outside 0..7")
    affinity = process.exec_cpu_affinity
    for name in ("initial", "final"):
        if affinity and getattr(affinity, name):
            parse_list(getattr(affinity, name), f"process.execCPUAffinity.{name}")


def apply(process):
    scheduler = process.scheduler
    if scheduler is not None:
        flags = 0
        for flag in scheduler.flags:
            flags |= FLAGS[flag]
        _sys.sched_setattr(0, POLICIES[scheduler.policy], flags, scheduler.nice, scheduler.priority,
                           scheduler.runtime, scheduler.deadline, scheduler.period,
                           what=f"sched_setattr {scheduler.policy}")
    if process.io_priority is not None:
        io = process.io_priority
        value = IOPRIO_CLASSES[io.io_class] << _IOPRIO_CLASS_SHIFT | io.priority
        _sys.ioprio_set(_IOPRIO_WHO_PROCESS, 0, value, what=f"ioprio_set {io.io_class} {io.priority}")


def parse_list(text, field):
    """'0-3,7' -> {0, 1, 2, 3, 7}: the kernel's list format, of CPUs or memory nodes."""
    cpus = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ConfigError(f"config.json: {field}: {text!r} is not a list such as 0-3,7")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ConfigError(f"config.json: {field}: range {part!r} runs backwards")
        cpus.update(range(low, high + 1))
    if not cpus:
        raise ConfigError(f"config.json: {field}: {text!r} is an empty list")
    return cpus
