"""Rootless mode: ocirun run by an unprivileged user, or as "root" inside a
user namespace someone else made (podman rootless), as runc's --rootless.

What changes then, each decided here and carried out by its own module:
the state root ($XDG_RUNTIME_DIR/ocirun), how the container's id maps are
written (setgroups denied for a single mapping of the caller's own ids,
newuidmap/newgidmap for ranges /etc/subuid grants), and the cgroup (none
where the caller cannot make one: cgroups.for_container).
"""
import os

from ocirun.errors import OcirunError

SYSTEM_STATE_ROOT = "/run/ocirun"
_FULL_MAP = "0 0 4294967295"
_in_user_namespace = None  # read once: the command's process never changes its user namespace


def in_user_namespace():
    """Whether this process runs in a user namespace other than the host's
    (asked by the state root's choice, --rootless auto and the plan alike)."""
    global _in_user_namespace
    if _in_user_namespace is None:
        try:
            with open("/proc/self/uid_map") as f:
                _in_user_namespace = f.read().split() != _FULL_MAP.split()
        except OSError:
            _in_user_namespace = False
    return _in_user_namespace


def resolve(flag="auto"):
    """--rootless true|false|auto: auto means not the host's root (an
    unprivileged user, or root of a user namespace), as runc decides."""
    if flag in ("true", True):
        return True
    if flag in ("false", False):
        return False
    return os.geteuid() != 0 or in_user_namespace()


def default_state_root():
    """runc's rule: $XDG_RUNTIME_DIR/ocirun for an unprivileged user, and for
    root of a user namespace unless $USER says root; /run/ocirun otherwise
    (the host's root keeps it even when XDG_RUNTIME_DIR is /run/user/0)."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime_dir:
        return SYSTEM_STATE_ROOT
    if os.geteuid() != 0 or (in_user_namespace() and os.environ.get("USER", "") != "root"):
        return os.path.join(runtime_dir, "ocirun")
    return SYSTEM_STATE_ROOT


def write_id_maps(pid, uid_mappings, gid_mappings):
    """Write the id maps of the user namespace `pid` made, as its parent.

    Privileged over our own user namespace (the host's root, or root of
    podman's namespace): the files directly.  Unprivileged: the kernel lets
    a process map only its own euid and egid, one id each, and the gid map
    only once setgroups is denied; anything else goes through the setuid
    newuidmap/newgidmap, which check /etc/subuid and /etc/subgid."""
    from ocirun.linux import namespaces
    if os.geteuid() == 0:
        namespaces.write_id_maps(pid, uid_mappings, gid_mappings)
        return
    own = (_only_own_id(uid_mappings, os.geteuid()), _only_own_id(gid_mappings, os.getegid()))
    if all(own):
        namespaces.deny_setgroups(pid)
        namespaces.write_id_maps(pid, uid_mappings, gid_mappings)
        return
    _run_helper("newuidmap", pid, uid_mappings)
    _run_helper("newgidmap", pid, gid_mappings)


def _only_own_id(mappings, own_id):
    return len(mappings) == 1 and mappings[0].host_id == own_id and mappings[0].size == 1


def _run_helper(name, pid, mappings):
    import shutil
    import subprocess
    field = f"config.json: linux.{name[3:6]}Mappings"
    helper = shutil.which(name)
    if helper is None:
        raise OcirunError(f"{field}: mapping more than your own id needs {name} (the uidmap package) "
                          f"and a range in /etc/sub{name[3:6]}")
    argv = [helper, str(pid)]
    for m in mappings:
        argv += [str(m.container_id), str(m.host_id), str(m.size)]
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        reason = reason if reason.startswith(name + ":") else f"{name}: {reason}"
        raise OcirunError(f"{field}: {reason}")
