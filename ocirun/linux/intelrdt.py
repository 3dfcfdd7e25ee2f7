"""linux.intelRdt: resctrl classes of service.

config-linux.md: with intelRdt set and no resctrl filesystem mounted in the
runtime's mount namespace, the runtime MUST generate an error; that is what
this host (no resctrl in its kernel) can show.  Placing a container in a
class on a host that has resctrl is not implemented yet, and says so.
"""
from ocirun.errors import ConfigError


def resctrl_mounted(mountinfo="/proc/self/mountinfo"):
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "resctrl":
                return True
    return False


def check(intel_rdt):
    if not intel_rdt:
        return
    if not resctrl_mounted():
        raise ConfigError("config.json: linux.intelRdt: no resctrl filesystem is mounted on this host")
    raise ConfigError("config.json: linux.intelRdt: resctrl classes of service not supported yet")
