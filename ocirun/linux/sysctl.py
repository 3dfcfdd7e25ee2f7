"""linux.sysctl: write kernel parameters through the container's /proc/sys."""
from ocirun import _sys
from ocirun.errors import ConfigError


def apply(settings):
    for key, value in settings.items():
        path = "/proc/sys/" + key.replace(".", "/")
        if ".." in key.split("."):
            raise ConfigError(f"config.json: linux.sysctl: {key!r} is not a sysctl name")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, f"sysctl {key}={value}") from None
