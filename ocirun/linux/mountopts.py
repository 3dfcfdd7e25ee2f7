"""config.json's mount options, parsed once, before any fork: flags,
propagation, the recursive attributes, tmpcopyup, idmap and filesystem data."""
from ocirun import _sys
from ocirun.errors import ConfigError

# mount option -> (flags to set, flags to clear); see config.md and mount(8)
_FLAG_OPTIONS = {
    "ro": (_sys.MS_RDONLY, 0), "rw": (0, _sys.MS_RDONLY),
    "nosuid": (_sys.MS_NOSUID, 0), "suid": (0, _sys.MS_NOSUID),
    "nodev": (_sys.MS_NODEV, 0), "dev": (0, _sys.MS_NODEV),
    "noexec": (_sys.MS_NOEXEC, 0), "exec": (0, _sys.MS_NOEXEC),
    "sync": (_sys.MS_SYNCHRONOUS, 0), "async": (0, _sys.MS_SYNCHRONOUS),
    "dirsync": (_sys.MS_DIRSYNC, 0),
    "remount": (_sys.MS_REMOUNT, 0),
    "mand": (_sys.MS_MANDLOCK, 0), "nomand": (0, _sys.MS_MANDLOCK),
    "noatime": (_sys.MS_NOATIME, 0), "atime": (0, _sys.MS_NOATIME),
    "nodiratime": (_sys.MS_NODIRATIME, 0), "diratime": (0, _sys.MS_NODIRATIME),
    "relatime": (_sys.MS_RELATIME, 0), "norelatime": (0, _sys.MS_RELATIME),
    "strictatime": (_sys.MS_STRICTATIME, 0), "nostrictatime": (0, _sys.MS_STRICTATIME),
    "lazytime": (_sys.MS_LAZYTIME, 0), "nolazytime": (0, _sys.MS_LAZYTIME),
    "nosymfollow": (_sys.MS_NOSYMFOLLOW, 0), "symfollow": (0, _sys.MS_NOSYMFOLLOW),
    "silent": (_sys.MS_SILENT, 0), "loud": (0, _sys.MS_SILENT),
    "bind": (_sys.MS_BIND, 0), "rbind": (_sys.MS_BIND | _sys.MS_REC, 0),
}

PROPAGATION = {
    "private": _sys.MS_PRIVATE, "rprivate": _sys.MS_PRIVATE | _sys.MS_REC,
    "shared": _sys.MS_SHARED, "rshared": _sys.MS_SHARED | _sys.MS_REC,
    "slave": _sys.MS_SLAVE, "rslave": _sys.MS_SLAVE | _sys.MS_REC,
    "unbindable": _sys.MS_UNBINDABLE, "runbindable": _sys.MS_UNBINDABLE | _sys.MS_REC,
}

# The recursive options, set on the mount and every mount below it with
# mount_setattr(2): option -> (attributes to set, attributes to clear)
_MOUNT_ATTRS = {  # option -> (its attribute, the option that undoes it)
    "ro": (_sys.MOUNT_ATTR_RDONLY, "rw"), "nosuid": (_sys.MOUNT_ATTR_NOSUID, "suid"),
    "nodev": (_sys.MOUNT_ATTR_NODEV, "dev"), "noexec": (_sys.MOUNT_ATTR_NOEXEC, "exec"),
    "nodiratime": (_sys.MOUNT_ATTR_NODIRATIME, "diratime"),
    "nosymfollow": (_sys.MOUNT_ATTR_NOSYMFOLLOW, "symfollow"),
}
_RECURSIVE_OPTIONS = {**{"r" + option: (attr, 0) for option, (attr, _) in _MOUNT_ATTRS.items()},
                      **{"r" + undo: (0, attr) for attr, undo in _MOUNT_ATTRS.values()}}
# The atime setting is one value, not bits: setting it means clearing the
# whole field.  Undoing noatime, relatime or strictatime gives relatime, the
# kernel's default, as the non-recursive atime, norelatime and nostrictatime do.
_RECURSIVE_ATIME = {
    "rrelatime": _sys.MOUNT_ATTR_RELATIME, "rnoatime": _sys.MOUNT_ATTR_NOATIME,
    "rstrictatime": _sys.MOUNT_ATTR_STRICTATIME, "ratime": _sys.MOUNT_ATTR_RELATIME,
    "rnorelatime": _sys.MOUNT_ATTR_RELATIME, "rnostrictatime": _sys.MOUNT_ATTR_RELATIME,
}

_IDMAP_OPTIONS = ("idmap", "ridmap")  # see idmap.py

# flags a bind remount may change; the rest come from the mount as it is
BIND_REMOUNT_FLAGS = (_sys.MS_RDONLY | _sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC
                       | _sys.MS_NOATIME | _sys.MS_NODIRATIME | _sys.MS_RELATIME
                       | _sys.MS_STRICTATIME | _sys.MS_NOSYMFOLLOW)


class MountOptions:
    """One mount's options, parsed: flags for mount(2), propagation, the
    recursive attributes (mount_setattr), tmpcopyup, idmap, and the rest as
    the filesystem's data.  Read-only once made."""
    __slots__ = ("flags", "cleared", "propagation", "data", "recursive_set", "recursive_clear",
                 "copy_up", "idmap")

    def __init__(self, options, where, fs_type=None, has_mappings=False):
        self.flags = self.cleared = 0
        self.recursive_set = self.recursive_clear = 0
        self.copy_up = False
        # "idmap" or "ridmap"; the spec's SHOULD: the mount's own mappings alone mean idmap
        self.idmap = "idmap" if has_mappings else None
        self.propagation = []
        data = []
        for option in options:
            if option in _FLAG_OPTIONS:
                set_flags, clear_flags = _FLAG_OPTIONS[option]
                self.flags = (self.flags | set_flags) & ~clear_flags
                self.cleared = (self.cleared | clear_flags) & ~set_flags
            elif option in PROPAGATION:
                self.propagation.append(PROPAGATION[option])
            elif option in _RECURSIVE_OPTIONS:
                set_attrs, clear_attrs = _RECURSIVE_OPTIONS[option]
                self.recursive_set = (self.recursive_set | set_attrs) & ~clear_attrs
                self.recursive_clear = (self.recursive_clear | clear_attrs) & ~set_attrs
            elif option in _RECURSIVE_ATIME:
                self.recursive_set = self.recursive_set & ~_sys.MOUNT_ATTR__ATIME | _RECURSIVE_ATIME[option]
                self.recursive_clear |= _sys.MOUNT_ATTR__ATIME
            elif option == "tmpcopyup":
                self.copy_up = True
            elif option in _IDMAP_OPTIONS:
                self.idmap = option
            else:
                data.append(option)  # filesystem-specific, e.g. mode=755, size=64k
        self.data = ",".join(data) or None
        if self.copy_up and (fs_type != "tmpfs" or self.is_bind):
            kind = "a bind mount" if self.is_bind else f"type {fs_type}"
            raise ConfigError(f"config.json: {where}.options: tmpcopyup is for tmpfs mounts, not {kind}")

    @property
    def is_bind(self):
        return bool(self.flags & _sys.MS_BIND)


def parse_mounts(mounts):
    """Check every mount's options up front, so a bad one fails before any fork."""
    return tuple(MountOptions(m.options, f"mounts[{i}]", m.type, bool(m.uid_mappings or m.gid_mappings))
                 for i, m in enumerate(mounts))


def known_mount_options():
    """Every option name ocirun handles itself (anything else is filesystem data)."""
    return sorted({*_FLAG_OPTIONS, *PROPAGATION, *_RECURSIVE_OPTIONS, *_RECURSIVE_ATIME,
                   *_IDMAP_OPTIONS, "tmpcopyup"})
