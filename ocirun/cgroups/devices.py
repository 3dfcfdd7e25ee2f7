"""linux.resources.devices on the v1 devices controller: which device nodes
the container's processes may create (m), read (r) and write (w).

The rules are written in order to devices.deny or devices.allow, then the
rules runc always adds for the devices every container gets (null, zero,
full, random, urandom, tty, ptmx, pts, tun, and mknod of any node), so a
config that denies everything, as runc spec's does, still has a usable /dev.
"""
import os

from ocirun.errors import OcirunError

# (type, major, minor, access); None is any number
_ALWAYS_ALLOWED = (
    ("c", None, None, "m"), ("b", None, None, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 9, "rwm"),
    ("c", 5, 0, "rwm"), ("c", 5, 2, "rwm"), ("c", 136, None, "rwm"), ("c", 10, 200, "rwm"),
)


class DeviceRule:
    __slots__ = ("allow", "type", "major", "minor", "access")

    def __init__(self, allow, type="a", major=None, minor=None, access="rwm"):
        self.allow, self.type, self.major, self.minor, self.access = allow, type, major, minor, access

    def line(self):
        """The kernel's form: 'c 1:3 rwm', or 'a' for every device."""
        if self.type == "a":
            return "a"
        major = "*" if self.major is None or self.major < 0 else self.major
        minor = "*" if self.minor is None or self.minor < 0 else self.minor
        return f"{self.type} {major}:{minor} {self.access}"


def rules_for(configured):
    """The config's rules, then the ones every container gets."""
    return list(configured) + [DeviceRule(True, *rule) for rule in _ALWAYS_ALLOWED]


def rules_from_config(configured):
    """rules_for the config's DeviceRules (config.py's typed linux.resources.devices).
    Of access, only r, w and m mean anything to the kernel: the rest is
    dropped, as runc does ("rwa" is "rw"), and a rule left with none is none."""
    typed = []
    for r in configured:
        access = "".join(letter for letter in "rwm" if letter in (r.access or "rwm"))
        if access:
            typed.append(DeviceRule(r.allow, r.type, r.major, r.minor, access))
    return rules_for(typed)


def apply(directory, rules):
    """Write each rule to <directory>/devices.allow or devices.deny, in order."""
    for rule in rules:
        name = "devices.allow" if rule.allow else "devices.deny"
        try:
            with open(os.path.join(directory, name), "w") as f:
                f.write(rule.line())
        except OSError as e:
            raise OcirunError(f"cgroup {directory}: {name} {rule.line()!r}: {e.strerror}") from None
