"""The parent side of create and exec: fork the first child (stage A, or
exec's joiner), answer it over the channel (channel.py) in one loop shared
by both, and return once the process in the container is ready."""
import os
from _signal import SIGKILL

from ocirun.errors import ChildSetupError, OcirunError
from ocirun.process import channel as msg
from ocirun.process import sealed_exec
from ocirun.process.channel import Channel
from ocirun.state import process_start_time


class Inherited:
    """What the parent makes before the fork for its children: the cgroup
    manager, the exec fifos, the sealed helper, the bind sources it opened
    ({mount index: fd}).  The children close every other fd (hygiene.py)."""
    __slots__ = ("cgroup", "fifo_fd", "status_fd", "exec_helper", "source_trees")

    def __init__(self, cgroup, fifo_fd=None, status_fd=None):
        self.cgroup = cgroup
        self.fifo_fd = fifo_fd
        self.status_fd = status_fd
        self.exec_helper = None
        self.source_trees = {}

    def fds_to_keep(self, preserve_fds, channel_fd):
        """stdio, the --preserve-fds range, the channel and ours."""
        own = (channel_fd, self.fifo_fd, self.status_fd, self.exec_helper, *self.source_trees.values())
        return {*range(3 + preserve_fds), *(fd for fd in own if fd is not None)}

    def open_for_children(self, plan):
        """The sealed helper, and the id-mapped bind sources (idmap.py)."""
        try:
            if getattr(plan, "idmapped_mounts", False):
                from ocirun.linux import idmap
                self.source_trees.update(idmap.open_idmapped_trees(plan.config, plan.mount_options,
                                                                   plan.config.bundle))
            self.exec_helper = sealed_exec.sealed_helper()
        except BaseException:
            self.close_after_fork()
            raise

    def close_after_fork(self):
        """In the parent, once the children have their copies."""
        for fd in (self.exec_helper, *self.source_trees.values()):
            if fd is not None:
                os.close(fd)
        self.exec_helper = None
        self.source_trees = {}


class Result:
    """What the parent learnt: the process's pid and start time, the pty's
    master (kept when there is no console socket) and whether the init got
    past its mounts."""
    __slots__ = ("pid", "pid_start_time", "console_master", "init_mounted")

    def __init__(self):
        self.pid = None
        self.pid_start_time = None
        self.console_master = None
        self.init_mounted = False

    def learn_pid(self, pid):
        # the start time read now, while the parent waits anyway: once the init
        # has reported ready it execs, and a read of its /proc/PID/stat then
        # waits for the exec (~0.6 ms on create's path)
        self.pid = pid
        self.pid_start_time = process_start_time(pid)


def fork_child(child_main, *args):
    """Fork the first child, which runs child_main(*args, child_end); returns
    (its pid, the parent's end of the channel)."""
    parent_end, child_end = Channel.pair()
    pid = os.fork()
    if pid == 0:
        try:
            parent_end.close()
            child_main(*args, child_end)
        finally:
            os._exit(1)
    child_end.close()
    return pid, parent_end


def launch_init(plan, inherited, result, record=None):
    """create's child side, forked; fills `result` (a Result) and returns
    once the init is ready and in the container's cgroup.  record: the
    container's state ("creating"), saved again as create makes what
    `delete --force` must undo after a kill.  On failure the init (if it got
    that far) is killed, and ChildSetupError carries the failing step."""
    inherited.open_for_children(plan)
    try:
        if plan.child_joins_cgroup and not inherited.cgroup.places_stage_a:
            create_cgroup(plan, inherited.cgroup, record)
        if plan.forks_init_directly and not inherited.cgroup.places_stage_a:
            first_child, parent_end = _fork_init(plan, inherited)
            result.pid = first_child  # its start time is read once the cgroup is made
        else:
            from ocirun.process.init import run_stage_a
            first_child, parent_end = fork_child(run_stage_a, plan, inherited)
    finally:
        inherited.close_after_fork()
    await_child(plan, inherited, first_child, parent_end, result, record)


def _fork_init(plan, inherited):
    """Fork the init ourselves, into a new pid namespace when it has one (see
    plan._needs_no_stage_a): it stays our child, for a caller that waits for
    it or exits right after create (the init then goes to its subreaper, as
    one forked by stage A does at once)."""
    from ocirun.linux import namespaces
    from ocirun.process.init import run_direct_init
    if not plan.config.namespace("pid"):
        return fork_child(run_direct_init, plan, inherited)
    ours = namespaces.new_pid_namespace_for_next_child()
    try:
        init, parent_end = fork_child(run_direct_init, plan, inherited)
    except BaseException:
        namespaces.restore_pid_namespace_for_children(ours)
        raise
    try:
        namespaces.restore_pid_namespace_for_children(ours)
    except BaseException:
        kill_quietly(init)
        os.waitpid(init, 0)
        parent_end.close()
        raise
    return init, parent_end


def await_child(plan, inherited, first_child, parent_end, result, record=None):
    """The parent's half of the channel protocol (channel.py), for create and
    exec alike, with the first child forked; fills `result`."""
    ready = False
    hooks_requested = False
    seccomp_fd = None  # the process's notify fd, until its pid is known
    init_is_first_child = result.pid == first_child  # _fork_init's: it stays ours
    try:
        if plan.makes_cgroup:
            _make_cgroup_meanwhile(plan, inherited.cgroup, first_child, parent_end, record)
        if init_is_first_child:
            result.learn_pid(result.pid)
            _process_born(plan, inherited.cgroup, parent_end, result.pid)
        # InitPid (from the first child) and InitReady race: a fast process
        # can report ready before a descheduled first child reports its pid.
        while result.pid is None or not ready:
            message = parent_end.receive()
            if message is None:
                if result.pid is not None and not plan.reports_ready:
                    break  # exec: the channel closed on execve
                raise ChildSetupError("", 0, _gone_during_setup(plan))
            if isinstance(message, msg.InitPid):
                result.learn_pid(message.pid)
                _process_born(plan, inherited.cgroup, parent_end, result.pid)
            elif isinstance(message, msg.InitReady):
                ready = True
                _init_mounted(plan, result, record)
                _show_warnings(message.warnings, message.notes)
            elif isinstance(message, msg.SeccompFd):
                seccomp_fd = message.fd
            elif isinstance(message, msg.ConsoleFd):
                _console_master(plan, result, message.fd)
            elif isinstance(message, msg.Error):
                raise ChildSetupError(message.step, message.errno, message.message)
            elif message.kind == msg.USERNS_READY:
                from ocirun import rootless
                try:
                    rootless.write_id_maps(first_child, plan.config.uid_mappings, plan.config.gid_mappings)
                except BaseException:
                    kill_quietly(first_child)  # it waits for the maps, and has forked nothing yet
                    raise
                parent_end.signal(msg.ID_MAPS_WRITTEN)
            elif message.kind == msg.RUN_HOOKS:
                hooks_requested = True
                _init_mounted(plan, result, record)
            if seccomp_fd is not None and result.pid is not None:
                try:
                    send_to_seccomp_listener(plan, result.pid, seccomp_fd)
                finally:
                    os.close(seccomp_fd)
                    seccomp_fd = None
            if hooks_requested and result.pid is not None:  # the pid is part of their state
                hooks_requested = False
                run_runtime_create_hooks(plan, result.pid)
                parent_end.signal(msg.HOOKS_DONE)
    except BaseException:
        if seccomp_fd is not None:
            os.close(seccomp_fd)
        pid = result.pid if result.pid is not None else _pid_if_forked(parent_end)
        if pid:
            kill_quietly(pid)
        init_is_first_child = False  # killed: reaped below
        raise
    finally:
        parent_end.close()
        if not init_is_first_child:  # stage A or exec's joiner, which exit once they have forked
            os.waitpid(first_child, 0)


def _gone_during_setup(plan):
    return "exec: the process exited during setup" if not plan.reports_ready else \
        "container init exited during setup"


def _make_cgroup_meanwhile(plan, cgroup, stage_a, parent_end, record):
    if cgroup.places_stage_a:
        # systemd makes the cgroup with a process in it: stage A, waiting
        # for this before it makes the namespaces the init will inherit
        try:
            create_cgroup(plan, cgroup, record, stage_a)
        except BaseException:
            kill_quietly(stage_a)  # it would wait for us forever
            raise
        parent_end.signal(msg.CGROUP_JOINED)
    elif not plan.child_joins_cgroup:
        # meanwhile stage A unshares and forks: mkdir in cgroupfs waits on
        # the cgroup mutex, which an attach in progress elsewhere holds
        create_cgroup(plan, cgroup, record)


def _process_born(plan, cgroup, parent_end, pid):
    """The process in the container exists: into its cgroup, then its
    network devices; it waits for CGROUP_JOINED before it reports ready."""
    if plan.parent_joins_cgroup and not cgroup.places_stage_a:
        try:
            cgroup.join(pid, plan.options.sub_cgroups)
        except OcirunError:
            _raise_the_childs_own_error(parent_end, pid)
            raise
    if plan.moves_net_devices:
        move_net_devices(plan, pid)
    if plan.bind_sources_for_init:
        _send_bind_sources(plan, parent_end, pid)
    try:
        parent_end.signal(msg.CGROUP_JOINED)
    except BrokenPipeError:
        pass  # the process has failed already: its report, or EOF, comes next


def _send_bind_sources(plan, parent_end, pid):
    """The init's bind sources, cloned by us (plan._bind_sources_for_init)."""
    from ocirun.linux.mountfd import clone_in_mount_namespace_of
    user_namespaces = []
    try:
        sources = []
        for index, path, recursive, idmap_option in plan.bind_sources_for_init:
            idmap = None
            if idmap_option:
                user_namespaces.append(_user_namespace_for_idmap(plan.config.mounts[index], pid))
                idmap = (user_namespaces[-1], idmap_option == "ridmap")
            sources.append((index, path, recursive, idmap))
        fds = clone_in_mount_namespace_of(pid, sources)
    finally:
        for fd in user_namespaces:
            os.close(fd)
    try:
        for index, fd in fds.items():
            parent_end.send_bind_source_fd(index, fd)
        parent_end.signal(msg.BIND_SOURCES_SENT)
    except BrokenPipeError:
        pass  # the init has failed already: its report, or EOF, comes next
    finally:
        for fd in fds.values():
            os.close(fd)


def _user_namespace_for_idmap(mount, pid):
    """The mount's own mapping's user namespace, or else the container's."""
    if mount.uid_mappings:
        from ocirun.linux.idmap import user_namespace_fd
        return user_namespace_fd(mount.uid_mappings, mount.gid_mappings)
    return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)


def _init_mounted(plan, result, record):
    """Past its mounts: without a mount namespace they are the host's, and
    `delete --force` must know them from now on."""
    if not result.init_mounted:
        result.init_mounted = True
        host_points = getattr(plan, "host_mount_points", None)
        if host_points and record is not None:
            record.host_mounts = list(host_points)
            record.save()


def _show_warnings(warnings, notes):
    from ocirun import log
    for warning in warnings:
        log.current.warning_to_stderr_when_unlogged(warning)
    for note in notes:
        log.current.debug(note)


def _console_master(plan, result, master):
    if plan.console_socket:
        from ocirun.linux import console
        console.pass_on(master, plan.console_socket)
    else:
        result.console_master = master


def create_cgroup(plan, cgroup, record=None, first_pid=None):
    """The container's cgroup, with its limits set before any process joins it
    (with the systemd driver, whose unit needs one, once first_pid is in)."""
    cgroup.create()  # checked free, and recorded, by Container.create
    if first_pid is not None:
        cgroup.start_unit(first_pid, plan.config.resources)
    if cgroup.created_from and record is not None:
        record.cgroup_created_from = cgroup.created_from  # parents for delete to remove
        record.save()
    if plan.config.device_rules and not cgroup.rootless:
        cgroup.apply_device_rules(plan.config.device_rules)
    if plan.config.resources:
        from ocirun import log
        cgroup.apply_resources(plan.config.resources, log.current.warning_to_stderr_when_unlogged)


def move_net_devices(plan, init_pid):
    """Into the container's network namespace, before the init reports ready
    and before the create-time hooks, which may expect them there."""
    from ocirun.linux import netdevices
    ns = plan.config.namespace("network")
    netdevices.move_into(plan.config.net_devices, ns.path or f"/proc/{init_pid}/ns/net")


def send_to_seccomp_listener(plan, pid, notify_fd):
    """config-linux.md: one container process state per connection to
    listenerPath, with the notify fd as SCM_RIGHTS; a failure is an error.
    (exec: the new process's pid, and the container running.)"""
    import _socket
    from ocirun import hooks, jsonio
    config = plan.config
    state = {"ociVersion": config.oci_version, "fds": ["seccompFd"], "pid": pid,
             "metadata": plan.seccomp.listener_metadata,
             "state": hooks.state_document(plan.container_id, plan.listener_status, config, pid)}
    path = plan.seccomp.listener_path
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        sock.sendmsg([jsonio.dumps(state).encode()], msg.fd_rights(notify_fd))
    except OSError as e:
        # "failed to connect with seccomp agent": runc's words, which scripts match
        raise OcirunError(f"linux.seccomp.listenerPath {path}: failed to connect with seccomp agent: "
                          f"{e.strerror}") from None
    finally:
        sock.close()


def run_runtime_create_hooks(plan, init_pid):
    """prestart then createRuntime: in the runtime's namespaces, while the init
    waits before pivot_root."""
    from ocirun import hooks
    from ocirun.state import CREATED
    state = hooks.state_document(plan.container_id, CREATED, plan.config, init_pid)
    for phase in ("prestart", "createRuntime"):
        hooks.run_all(phase, plan.config.hooks.get(phase, ()), state)


def _raise_the_childs_own_error(parent_end, pid):
    """The move into the cgroup failed because the process had already failed
    and exited (a missing executable fails fast): its report, queued before
    it exited, says why; otherwise return and let the move's error stand."""
    from ocirun.state import process_start_time
    if process_start_time(pid) is not None:
        return  # alive: the failure was the move's own
    while True:
        message = parent_end.receive()
        if message is None:
            return
        if isinstance(message, msg.Error):
            raise ChildSetupError(message.step, message.errno, message.message)
        if getattr(message, "fd", None) is not None:
            os.close(message.fd)


def _pid_if_forked(parent_end):
    """After a failure in the parent: the pid of the process in the container
    if the first child forked it (so it can be killed), None if it never will
    (the first child stopped, or waits for us)."""
    while True:
        message = parent_end.receive()
        if message is None or isinstance(message, msg.Error) or \
                getattr(message, "kind", None) == msg.USERNS_READY:
            return None
        if isinstance(message, msg.InitPid):
            return message.pid
        if getattr(message, "fd", None) is not None:
            os.close(message.fd)


def kill_quietly(pid):
    try:
        os.kill(pid, SIGKILL)
    except ProcessLookupError:
        pass
