"""What a container's processes will do, decided and checked before any fork.

prepare_create and prepare_exec run every check a config needs beyond its
schema, in one order (validate), and return a frozen plan: the child side
reads it, and nothing is assigned to it afterwards.  Where is linux.sysctl
checked?  In validate, by sysctl.check; likewise for every other field.
"""
import os

from ocirun import config as config_module, rootless
from ocirun.config import Frozen
from ocirun.errors import OcirunError
from ocirun.state import CREATING, RUNNING


class Options(Frozen):
    """The command's options that change what the child does."""
    __slots__ = ("no_pivot", "no_new_keyring", "preserve_fds", "console_socket", "keep_console",
                 "seccomp_cache", "sub_cgroups", "init_as_child")

    def __init__(self, no_pivot=False, no_new_keyring=False, preserve_fds=0, console_socket=None,
                 keep_console=False, seccomp_cache=None, sub_cgroups=(), init_as_child=False):
        # sub_cgroups: exec --cgroup, as cgroups.base.Manager.sub_cgroups gives it
        # init_as_child: the caller waits for the init or exits soon (Container.create)
        self._set(no_pivot=no_pivot, no_new_keyring=no_new_keyring, preserve_fds=preserve_fds,
                  console_socket=console_socket, keep_console=keep_console, seccomp_cache=seccomp_cache,
                  sub_cgroups=sub_cgroups, init_as_child=init_as_child)


class LaunchPlan(Frozen):
    """create's plan: the init's steps read it (process/init.py)."""
    __slots__ = ("container_id", "config", "options", "mount_options", "seccomp", "capability_sets",
                 "environ", "warnings", "idmapped_mounts", "mounts_cgroups", "child_joins_cgroup",
                 "init_waits_for_cgroup", "parent_joins_cgroup", "moves_net_devices", "host_mount_points",
                 "bind_sources_for_init", "in_user_namespace", "forks_init_directly")
    # what the parent's loop (launcher.await_child) does differently for create and exec
    makes_cgroup = True  # the parent makes the cgroup while stage A runs
    reports_ready = True  # the init says InitReady, then waits for start
    listener_status = CREATING  # the container's status a seccomp listener is told

    @property
    def preserve_fds(self):
        return self.options.preserve_fds

    @property
    def console_socket(self):
        return self.options.console_socket


class ExecPlan(Frozen):
    """exec's plan: `config` is the container's, with the exec'd process in
    place of its own; `namespaces` are the init's to join."""
    __slots__ = ("container_id", "config", "options", "seccomp", "capability_sets", "environ", "warnings",
                 "init_pid", "rootfs", "namespaces", "init_waits_for_cgroup", "parent_joins_cgroup",
                 "moves_net_devices")

    preserve_fds = LaunchPlan.preserve_fds
    console_socket = LaunchPlan.console_socket
    makes_cgroup = False
    bind_sources_for_init = ()
    reports_ready = False  # its channel closes on its last exec
    listener_status = RUNNING


def prepare_create(container_id, config, options):
    checked = validate(config, options, for_exec=False)
    ns = config.namespace("cgroup")
    # A new cgroup namespace is rooted at the cgroup its creator is in, so
    # then stage A must join first.  Otherwise the parent moves the init
    # in while the init sets up the rootfs: a v1 cgroup.procs write can
    # wait ~10 ms for an RCU grace period, and this overlaps it.
    child_joins = bool(ns and not ns.path)
    # A real-time policy set before the move would make the move fail
    # (EINVAL: the new cpu cgroup has no real-time budget), and it is the
    # container's cgroup whose limits must apply.  Likewise a memory policy
    # must name nodes the container's cpuset allows, and a mount of the
    # container's cgroups needs them made.
    mounts_cgroups = any(m.type in ("cgroup", "cgroup2") for m in config.mounts)
    host_mount_points = None
    if not config.namespace("mount"):
        from ocirun.linux.rootfs import host_mount_points as points
        host_mount_points = tuple(points(config.root_path, config.mounts))
    bind_sources_for_init = _bind_sources_for_init(config, checked["mount_options"])
    plan = object.__new__(LaunchPlan)
    plan._set(container_id=container_id, config=config, options=options, **checked,
              mounts_cgroups=mounts_cgroups,
              child_joins_cgroup=child_joins,
              init_waits_for_cgroup=(config.process.scheduler is not None or config.memory_policy is not None
                                     or mounts_cgroups),
              parent_joins_cgroup=not child_joins, moves_net_devices=bool(config.net_devices),
              host_mount_points=host_mount_points, bind_sources_for_init=bind_sources_for_init,
              # the container's own, or the one ocirun runs in (podman rootless's):
              # no mknod in either
              in_user_namespace=bool(config.namespace("user")) or rootless.in_user_namespace(),
              # without a user namespace the parent makes them before the fork (idmap.py)
              idmapped_mounts=not bind_sources_for_init and any(o.idmap for o in checked["mount_options"]),
              forks_init_directly=(options.init_as_child and _needs_no_stage_a(config)
                                   # in podman rootless's user namespace we could make the pid
                                   # namespace but never setns back to the host's, which it owns
                                   and not rootless.in_user_namespace()))
    return plan


def _needs_no_stage_a(config):
    """Whether the parent can fork the init itself, one fork fewer than
    through stage A (launcher.launch_init): a new pid namespace it can make
    for its next child (unshare(CLONE_NEWPID) in the parent); the others the
    init enters itself, after joining its cgroup itself when it makes a
    cgroup namespace.  Stage A stays for what must come before the fork: a
    user namespace (it owns the others), a pid namespace to join, a time
    namespace's offsets."""
    pid_ns, time_ns = config.namespace("pid"), config.namespace("time")
    return not (config.namespace("user") or (pid_ns and pid_ns.path) or (time_ns and not time_ns.path))


def _bind_sources_for_init(config, mount_options):
    """((mount index, source path, recursive, idmap option or None), ...):
    the binds whose source the parent clones for the init, as host root in
    the init's mount namespace (mountfd.clone_in_mount_namespace_of).  With
    a user namespace the init mounts as its root, who cannot reach a source
    under a directory only host root may enter, nor id-map a host
    filesystem; runc opens bind sources as host root too.  An unprivileged
    caller (rootless) can neither enter that namespace nor reach more than
    the container's root, its own uid mapped: the init clones them then."""
    if not (config.namespace("user") and config.namespace("mount")) or os.geteuid() != 0:
        return ()
    from ocirun import _sys
    return tuple((index, os.path.join(config.bundle, mount.source), bool(options.flags & _sys.MS_REC),
                  options.idmap or None)
                 for index, (mount, options) in enumerate(zip(config.mounts, mount_options))
                 if options.is_bind)


def prepare_exec(container_id, config, process, init_pid, rootfs, options):
    """`config` is the container's, as create saved it; `process` the one to start."""
    from ocirun.process.execute import namespaces_to_join
    config = config.replacing(process=process)
    checked = validate(config, options, for_exec=True)
    plan = object.__new__(ExecPlan)
    plan._set(container_id=container_id, config=config, options=options, init_pid=init_pid, rootfs=rootfs,
              namespaces=namespaces_to_join(init_pid), init_waits_for_cgroup=True, parent_joins_cgroup=True,
              moves_net_devices=False, **{key: checked[key] for key in
                                         ("seccomp", "capability_sets", "environ", "warnings")})
    return plan


def validate(config, options, for_exec):
    """Every check beyond the schema, in order; returns what they computed.
    create checks the whole config; exec the process it starts (the rest
    was checked by the container's create)."""
    from ocirun.linux import lsm, rlimits, scheduling
    from ocirun.linux.capabilities import CapabilitySets
    process = config.process
    if not for_exec:
        config_module.check_consistent(config)
    _check_terminal(process, options, for_exec)
    check_preserved_fds(options.preserve_fds)
    checked = {}
    if not for_exec:
        checked["mount_options"] = _check_mounts(config)
        _check_kernel_fields(config)
    scheduling.check(process)
    rlimits.check(process.rlimits)
    lsm.check(process, None if for_exec else config.mount_label)
    checked["seccomp"] = None
    if config.seccomp is not None:
        from ocirun.linux import seccomp
        checked["seccomp"] = seccomp.compile_profile(config.seccomp, options.seccomp_cache)
    sets = checked["capability_sets"] = CapabilitySets(process.capabilities)
    checked["environ"] = process.environ()
    checked["warnings"] = ()
    if sets.not_granted:
        checked["warnings"] = ("capabilities not granted, this runtime does not hold them: "
                               + ", ".join(sets.not_granted),)
    return checked


def _check_terminal(process, options, for_exec):
    if for_exec:
        if process.terminal and not options.console_socket and not options.keep_console:
            raise OcirunError("exec: a detached terminal (-t, process.terminal) needs --console-socket")
        if options.console_socket and not process.terminal:
            raise OcirunError("exec: --console-socket is for a terminal (-t, process.terminal)")
    else:
        if process.terminal and not options.console_socket and not options.keep_console:
            raise OcirunError("config.json: process.terminal: a terminal needs --console-socket, "
                              "where ocirun sends the pty's master (or a foreground run, which relays it)")
        if options.console_socket and not process.terminal:
            raise OcirunError("--console-socket: config.json's process.terminal is false")
    if process.terminal:
        from ocirun.linux import console  # noqa: F401 - the child needs it once its root is the container's


def _check_mounts(config):
    from ocirun.linux.mountopts import parse_mounts
    mount_options = parse_mounts(config.mounts)
    if any(o.idmap for o in mount_options):
        from ocirun.linux import idmap
        idmap.check(config, mount_options)
    return mount_options


def _check_kernel_fields(config):
    from ocirun.linux import memory_policy, personality, sysctl
    if config.net_devices:
        from ocirun.linux import netdevices
        netdevices.check(config)
    sysctl.check(config.sysctl, config)
    personality.check(config.personality)
    memory_policy.check(config.memory_policy)
    if config.intel_rdt:
        from ocirun.linux import intelrdt
        intelrdt.check(config.intel_rdt)


def check_preserved_fds(count):
    """--preserve-fds N passes fds 3 to 3+N-1 on: each must be open (runc fails
    then too), or an fd of ours could take its number and reach the container."""
    import os
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise OcirunError(f"--preserve-fds {count}: fd {fd} is not open") from None
