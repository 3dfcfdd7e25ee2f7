"""Id-mapped bind mounts: the idmap and ridmap mount options, with the
mount's own uidMappings/gidMappings or else the container's.

The parent makes them, as host root: inside a container's user namespace
the init could not id-map a host filesystem itself (that takes CAP_SYS_ADMIN
over the filesystem's owner).  open_tree(OPEN_TREE_CLONE) makes a detached
copy of the source, mount_setattr(MOUNT_ATTR_IDMAP) gives it the mapping of a
user namespace (the container's, or one made for the mount's own mappings),
and the init attaches it with move_mount.  With a user namespace the copy is
made in the init's mount namespace once it exists, so that it keeps the
flags the kernel locked there (mountfd.clone_in_mount_namespace_of); without
one, here before the fork (open_idmapped_trees).
"""
import os

from ocirun import _sys
from ocirun.errors import ConfigError
from ocirun.linux import namespaces


def check(config, parsed_options):
    """The rules of config.md for each mount with an id mapping."""
    user_ns = config.namespace("user")
    for i, (mount, options) in enumerate(zip(config.mounts, parsed_options)):
        if bool(mount.uid_mappings) != bool(mount.gid_mappings):
            raise ConfigError(f"config.json: mounts[{i}]: uidMappings and gidMappings go together")
        if not options.idmap:
            continue
        if not options.is_bind:
            raise ConfigError(f"config.json: mounts[{i}].options: {options.idmap} is for bind mounts")
        if not mount.uid_mappings and not (user_ns and not user_ns.path):
            raise ConfigError(f"config.json: mounts[{i}].options: {options.idmap} needs the mount's"
                              " uidMappings and gidMappings, or a new user namespace to take them from")


def open_idmapped_trees(config, parsed_options, bundle):
    """Parent, before the fork: a detached, id-mapped copy of each such mount's
    source; {mount index: its fd}, for the init to attach and the parent to close."""
    from ocirun.linux.mountfd import open_source_in_parent
    trees = {}
    try:
        for index, (mount, options) in enumerate(zip(config.mounts, parsed_options)):
            if not options.idmap:
                continue
            uid_mappings = mount.uid_mappings or config.uid_mappings
            gid_mappings = mount.gid_mappings or config.gid_mappings
            tree = trees[index] = open_source_in_parent(mount, options, bundle, config.rootfs_propagation)
            userns = user_namespace_fd(uid_mappings, gid_mappings)
            try:
                _sys.mount_setattr("", _sys.AT_EMPTY_PATH | (_sys.AT_RECURSIVE if options.idmap == "ridmap" else 0),
                                   attr_set=_sys.MOUNT_ATTR_IDMAP, userns_fd=userns, dfd=tree,
                                   what=f"id-map {mount.source} for {mount.destination}")
            finally:
                os.close(userns)
    except BaseException:
        for fd in trees.values():
            os.close(fd)
        raise
    return trees


def user_namespace_fd(uid_mappings, gid_mappings):
    """An fd of a new user namespace with these mappings, made by a short-lived child."""
    unshared_r, unshared_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(unshared_r)
            os.close(done_w)
            _sys.unshare(_sys.CLONE_NEWUSER)
            os.write(unshared_w, b"u")
            os.read(done_r, 1)  # EOF when the parent has the namespace
        finally:
            os._exit(0)
    os.close(unshared_w)
    os.close(done_r)
    try:
        if os.read(unshared_r, 1) != b"u":
            raise _sys.SyscallError(1, "the helper process could not unshare", "new user namespace for an id mapping")
        namespaces.write_id_maps(pid, uid_mappings, gid_mappings)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(unshared_r)
        os.close(done_w)
        os.waitpid(pid, 0)
