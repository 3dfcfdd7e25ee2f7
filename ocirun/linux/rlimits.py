"""process.rlimits: setrlimit(2) for each RLIMIT_* named in the config."""
import resource

from ocirun import _sys
from ocirun.errors import ConfigError


def resource_number(name):
    number = getattr(resource, name, None)
    if not name.startswith("RLIMIT_") or number is None:
        raise ConfigError(f"config.json: process.rlimits: unknown limit {name!r}")
    return number


def check(rlimits):
    """Before any fork: every name known, soft never above hard."""
    for limit in rlimits:
        resource_number(limit.type)
        if limit.soft > limit.hard:
            raise ConfigError(f"config.json: process.rlimits: {limit.type}: soft limit {limit.soft}"
                              f" above the hard limit {limit.hard}")


def apply(rlimits):
    for limit in rlimits:
        try:
            resource.setrlimit(resource_number(limit.type), (limit.soft, limit.hard))
        except (OSError, ValueError) as e:
            host_hard = resource.getrlimit(resource_number(limit.type))[1]
            raise _sys.SyscallError(
                getattr(e, "errno", 1) or 1, str(getattr(e, "strerror", None) or e),
                f"process.rlimits {limit.type}: setrlimit soft={limit.soft} hard={limit.hard} "
                f"(host hard limit {host_hard})",
            ) from None
