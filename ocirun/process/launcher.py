"""The parent side of create: fork stage A, answer it over the channel, and
return the pid of a container init that is set up and waiting for start."""
import os
from _signal import SIGKILL

from ocirun.errors import ChildSetupError, OcirunError
from ocirun.linux import lsm, memory_policy, namespaces, personality, scheduling, sysctl
from ocirun.linux.capabilities import CapabilitySets
from ocirun.linux.rootfs import parse_mounts
from ocirun.process import channel as msg
from ocirun.process import sealed_exec
from ocirun.process.channel import Channel


class LaunchPlan:
    """Everything the child needs, checked in the parent before any fork."""

    def __init__(self, container_id, config, no_pivot=False, no_new_keyring=False, preserve_fds=0,
                 seccomp_cache=None, console_socket=None, keep_console=False):
        if config.process.terminal and not console_socket and not keep_console:
            raise OcirunError("config.json: process.terminal: a terminal needs --console-socket, "
                              "where ocirun sends the pty's master (or a foreground run, which relays it)")
        if console_socket and not config.process.terminal:
            raise OcirunError("--console-socket: config.json's process.terminal is false")
        if config.process.terminal:
            from ocirun.linux import console  # noqa: F401 - the init needs it after pivot_root
        self.console_socket = console_socket
        self.console_master = None  # the pty's master, kept when there is no console socket
        self.container_id = container_id
        self.config = config
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        check_preserved_fds(preserve_fds)
        self.mount_options = parse_mounts(config.mounts)
        if config.net_devices:
            from ocirun.linux import netdevices
            netdevices.check(config)
        self.idmapped_mounts = any(o.idmap for o in self.mount_options) or \
            any(m.uid_mappings or m.gid_mappings for m in config.mounts)
        if self.idmapped_mounts:
            from ocirun.linux import idmap
            idmap.check(config, self.mount_options)
        sysctl.check(config.sysctl, config)
        scheduling.check(config.process)
        personality.check(config.personality)
        memory_policy.check(config.memory_policy)
        self.seccomp = None
        if config.seccomp is not None:
            from ocirun.linux import seccomp
            self.seccomp = seccomp.compile_profile(config.seccomp, seccomp_cache)
        if config.intel_rdt:
            from ocirun.linux import intelrdt
            intelrdt.check(config.intel_rdt)
        lsm.check(config.process, config.mount_label)
        self.capability_sets = CapabilitySets(config.process.capabilities)
        self.environ = config.process.environ()
        # Set by Container.create once the state directory exists:
        self.cgroup = None
        self.fifo_fd = None  # the exec fifo's reading end, for the init to inherit
        self.status_fd = None  # exec.status, when start must hear how the init fared
        self.state_directory = None  # the container's, under the state root
        # its state.json (a ContainerState, "creating"): saved again as the
        # cgroup and the mounts are made, for `delete --force` after a kill
        self.record = None
        self.host_mount_points = None  # without a mount namespace: our mounts on the host
        self.exec_helper = None  # the sealed helper of the last exec (sealed_exec.py), made by launch_init
        self.init_mounted = False  # whether the init is past its mounts (RUN_HOOKS or INIT_READY)
        # The state directory's flock belongs to the open file, which fork
        # shares: the child must close its copy or it holds the lock until exec.
        self.lock_fd = None
        self.warnings = []  # filled here and in the child, reported with INIT_READY
        if self.capability_sets.not_granted:
            self.warnings.append("capabilities not granted, this runtime does not hold them: "
                                 + ", ".join(self.capability_sets.not_granted))
        # A new cgroup namespace is rooted at the cgroup its creator is in, so
        # then stage A must join first.  Otherwise the parent moves the init
        # in while the init sets up the rootfs: a v1 cgroup.procs write can
        # wait ~10 ms for an RCU grace period, and this overlaps it.
        ns = config.namespace("cgroup")
        self.child_joins_cgroup = bool(ns and not ns.path)
        # A real-time policy set before the move would make the move fail
        # (EINVAL: the new cpu cgroup has no real-time budget), and it is the
        # container's cgroup whose limits must apply.
        # Likewise a memory policy must name nodes the container's cpuset allows.
        # A mount of the container's cgroups needs them made, too.
        self.mounts_cgroups = any(m.type in ("cgroup", "cgroup2") for m in config.mounts)
        self.init_waits_for_cgroup = (config.process.scheduler is not None or config.memory_policy is not None
                                      or self.mounts_cgroups)


    def fds_for_container(self, channel_fd):
        """The fds stage A keeps (hygiene.py): stdio, --preserve-fds and our own."""
        from ocirun.process.hygiene import fds_to_keep
        return fds_to_keep(self.preserve_fds, channel_fd, self.fifo_fd, self.status_fd, self.exec_helper,
                           *(options.source_tree for options in self.mount_options))


def open_own_sources(plan):
    """The binds of ocirun's own directories (the notify socket's), which sit
    in the root-only state directory: a user namespace's root cannot reach
    them, so the parent opens them."""
    from ocirun.linux.rootfs import open_source_in_parent
    trees = []
    own = plan.state_directory.rstrip("/") + "/"
    for mount, options in zip(plan.config.mounts, plan.mount_options):
        if options.is_bind and options.source_tree is None and mount.source.startswith(own):
            trees.append(open_source_in_parent(mount, options, plan.config.bundle, plan.config.rootfs_propagation))
    return trees


def check_preserved_fds(count):
    """--preserve-fds N passes fds 3 to 3+N-1 on: each must be open (runc fails
    then too), or an fd of ours could take its number and reach the container."""
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise OcirunError(f"--preserve-fds {count}: fd {fd} is not open") from None


def launch_init(plan):
    """Run the child side of create; return the init's pid once it is ready.

    On failure the init (if it got that far) is killed and reaped by whoever
    its parent is, and ChildSetupError carries the failing step.
    """
    for_children = []  # fds made here for the init to inherit, closed here after the fork
    try:
        if plan.idmapped_mounts:
            from ocirun.linux import idmap
            for_children += idmap.open_idmapped_trees(plan.config, plan.mount_options, plan.config.bundle)
        if plan.config.namespace("user"):
            for_children += open_own_sources(plan)
        plan.exec_helper = sealed_exec.sealed_helper()
        for_children.append(plan.exec_helper)
        parent_end, child_end = Channel.pair()
        if plan.child_joins_cgroup and not plan.cgroup.places_stage_a:
            create_cgroup(plan)
        stage_a = os.fork()
        if stage_a == 0:
            try:
                parent_end.close()
                from ocirun.process.init import run_stage_a
                run_stage_a(plan, child_end)
            finally:
                os._exit(1)
    finally:
        for fd in for_children:
            os.close(fd)
    child_end.close()
    return await_init(plan, stage_a, parent_end)


def await_init(plan, stage_a, parent_end):
    """The parent's half of the channel protocol, with stage A forked; returns
    the init's pid once the init is ready and in the container's cgroup."""
    init_pid = None
    ready = None
    hooks_requested = False
    seccomp_fd = None  # the init's notify fd, until the init's pid is known
    try:
        if plan.cgroup.places_stage_a:
            # systemd makes the cgroup with a process in it: stage A, waiting
            # for this before it makes the namespaces the init will inherit
            try:
                create_cgroup(plan, stage_a)
            except BaseException:
                kill_quietly(stage_a)  # it would wait for us forever
                raise
            parent_end.send(msg.CGROUP_JOINED)
        elif not plan.child_joins_cgroup:
            # meanwhile stage A unshares and forks: mkdir in cgroupfs waits on
            # the cgroup mutex, which an attach in progress elsewhere holds
            create_cgroup(plan)
        # INIT_PID (from stage A) and INIT_READY (from the init) race: a fast
        # init can report ready before a descheduled stage A reports its pid.
        while init_pid is None or ready is None:
            message = parent_end.receive()
            if message is None:
                raise ChildSetupError("", 0, "container init exited during setup")
            kind = message["type"]
            if kind == msg.USERNS_READY:
                namespaces.write_id_maps(stage_a, plan.config.uid_mappings, plan.config.gid_mappings)
                parent_end.send(msg.ID_MAPS_WRITTEN)
            elif kind == msg.INIT_PID:
                init_pid = message["pid"]
                if not plan.child_joins_cgroup and not plan.cgroup.places_stage_a:
                    try:
                        plan.cgroup.join(init_pid)
                    except OcirunError:
                        _raise_the_inits_own_error(parent_end, init_pid)
                        raise
                if plan.config.net_devices:
                    move_net_devices(plan, init_pid)
                # the init waits for it before it reports ready (init.run_init)
                try:
                    parent_end.send(msg.CGROUP_JOINED)
                except BrokenPipeError:
                    pass  # the init has failed already: its report, or EOF, comes next
            elif kind == msg.INIT_READY:
                ready = message
                _init_mounted(plan)
            elif kind == msg.RUN_HOOKS:
                hooks_requested = True
                _init_mounted(plan)
            elif kind == msg.SECCOMP_FD:
                seccomp_fd = message["fd"]
            elif kind == msg.CONSOLE_FD:
                if plan.console_socket:
                    from ocirun.linux import console
                    console.pass_on(message["fd"], plan.console_socket)
                else:
                    plan.console_master = message["fd"]
            elif kind == msg.ERROR:
                raise ChildSetupError(message["step"], message["errno"], message["message"])
            if seccomp_fd is not None and init_pid is not None:
                try:
                    send_to_seccomp_listener(plan, init_pid, seccomp_fd)
                finally:
                    os.close(seccomp_fd)
                    seccomp_fd = None
            if hooks_requested and init_pid is not None:  # the pid is part of their state
                hooks_requested = False
                run_runtime_create_hooks(plan, init_pid)
                parent_end.send(msg.HOOKS_DONE)
        from ocirun import log
        for warning in ready.get("warnings", ()):
            log.current.warning_to_stderr_when_unlogged(warning)
        return init_pid
    except BaseException:
        if seccomp_fd is not None:
            os.close(seccomp_fd)
        if init_pid is None:
            init_pid = _init_pid_if_forked(parent_end)
        if init_pid:
            kill_quietly(init_pid)
        raise
    finally:
        parent_end.close()
        os.waitpid(stage_a, 0)


def _init_mounted(plan):
    if not plan.init_mounted:
        plan.init_mounted = True
        if plan.host_mount_points and plan.record:
            plan.record.host_mounts = plan.host_mount_points
            plan.record.save()


def create_cgroup(plan, first_pid=None):
    """The container's cgroup, with its limits set before any process joins it
    (with the systemd driver, whose unit needs one, once first_pid is in)."""
    plan.cgroup.create()  # checked free, and recorded, by Container.create
    if first_pid is not None:
        plan.cgroup.start_unit(first_pid, plan.config.resources)
    if plan.cgroup.created_from and plan.record:
        plan.record.cgroup_created_from = plan.cgroup.created_from  # parents for delete to remove
        plan.record.save()
    if plan.config.device_rules:
        plan.cgroup.apply_device_rules(plan.config.device_rules)
    if plan.config.resources:
        from ocirun import log
        plan.cgroup.apply_resources(plan.config.resources, log.current.warning_to_stderr_when_unlogged)


def move_net_devices(plan, init_pid):
    """Into the container's network namespace, before the init reports ready
    and before the create-time hooks, which may expect them there."""
    from ocirun.linux import netdevices
    ns = plan.config.namespace("network")
    netdevices.move_into(plan.config.net_devices, ns.path or f"/proc/{init_pid}/ns/net")


def send_to_seccomp_listener(plan, init_pid, notify_fd, status="creating"):
    """config-linux.md: one container process state per connection to
    listenerPath, with the notify fd as SCM_RIGHTS; a failure is an error.
    (exec: the new process's pid, and the container "running".)"""
    import _socket
    from ocirun import hooks, jsonio
    config = plan.config
    state = {"ociVersion": config.oci_version, "fds": ["seccompFd"], "pid": init_pid,
             "metadata": plan.seccomp.listener_metadata,
             "state": hooks.state_document(plan.container_id, init_pid, status, config.bundle,
                                           config.annotations, config.oci_version)}
    path = plan.seccomp.listener_path
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        sock.sendmsg([jsonio.dumps(state).encode()], msg.fd_rights(notify_fd))
    except OSError as e:
        raise OcirunError(f"linux.seccomp.listenerPath {path}: {e.strerror}") from None
    finally:
        sock.close()


def run_runtime_create_hooks(plan, init_pid):
    """prestart then createRuntime: in the runtime's namespaces, while the init
    waits before pivot_root."""
    from ocirun import hooks
    config = plan.config
    state = hooks.state_document(plan.container_id, init_pid, "created", config.bundle,
                                 config.annotations, config.oci_version)
    for phase in ("prestart", "createRuntime"):
        hooks.run_all(phase, config.hooks.get(phase, ()), state)


def _raise_the_inits_own_error(parent_end, init_pid):
    """The move into the cgroup failed because the init had already failed
    and exited (a missing executable fails fast): its report, queued before
    it exited, says why; otherwise return and let the move's error stand."""
    from ocirun.state import process_start_time
    if process_start_time(init_pid) is not None:
        return  # alive: the failure was the move's own
    while True:
        message = parent_end.receive()
        if message is None:
            return
        if message["type"] == msg.ERROR:
            raise ChildSetupError(message["step"], message["errno"], message["message"])
        if "fd" in message:
            os.close(message["fd"])


def _init_pid_if_forked(parent_end):
    """After a failure in the parent: the init's pid if stage A forked it (so it
    can be killed), None if it never will (stage A stopped or waits for us)."""
    while True:
        message = parent_end.receive()
        if message is None or message["type"] != msg.INIT_PID:
            if message is None or message["type"] in (msg.USERNS_READY, msg.ERROR):
                return None
            continue
        return message["pid"]


def kill_quietly(pid):
    try:
        os.kill(pid, SIGKILL)
    except ProcessLookupError:
        pass
