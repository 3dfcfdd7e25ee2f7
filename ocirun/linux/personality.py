"""linux.personality: the execution domain (uname -m says i686 under LINUX32)."""
from ocirun import _sys
from ocirun.errors import ConfigError

# include/uapi/linux/personality.h
DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


def check(personality):
    if personality is not None and personality.flags:
        # config-linux.md: "Currently no flag values are supported."
        raise ConfigError(f"config.json: linux.personality.flags: {', '.join(personality.flags)}:"
                          " the spec defines no personality flags")


def apply(personality):
    if personality is not None:
        _sys.personality(DOMAINS[personality.domain])
