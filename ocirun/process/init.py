"""The child side of create, from namespaces to exec.

Stage A enters the cgroup and the namespaces and forks the container's init
(pid 1 of a new pid namespace: unshare(CLONE_NEWPID) only applies to
children).  The init then runs INIT_STEPS, in order, reports ready, waits for
`ocirun start` and execs the user's process.  A failing step travels back to
the parent as data (see channel.py), named after the step's function.
"""
import errno
import os

import _signal

from ocirun import _sys
from ocirun.errors import ChildSetupError, OcirunError
# Everything the init runs is imported here, before the fork: after
# pivot_root the package's files are out of reach, so a lazy import fails.
from ocirun.linux import (capabilities, devices, inroot, lsm, memory_policy, namespaces, network, personality,
                          procfs, rlimits, rootfs, scheduling, sysctl)
from ocirun.process import channel as msg
from ocirun.process import hygiene, sealed_exec
from ocirun.process.startsync import wait_for_start

# setns order: the user namespace first (it owns the others), mount last (it
# changes what the other namespace paths resolve to).
_JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def run_stage_a(plan, channel):
    """Runs in the first child; never returns."""
    step = "shed the runtime's state"
    try:
        hygiene.shed_host_state(plan.fds_for_container(channel.fileno()))
        step = "enter cgroup"
        config = plan.config
        if plan.cgroup.places_stage_a:
            # the parent has systemd put this process in the container's unit
            reply = channel.receive()
            if not reply or reply["type"] != msg.CGROUP_JOINED:
                os._exit(1)
        elif plan.child_joins_cgroup:
            plan.cgroup.join(os.getpid())
        step = "enter user namespace"
        user_ns = config.namespace("user")
        if user_ns and user_ns.path:
            namespaces.join("user", user_ns.path)
        elif user_ns:
            namespaces.unshare(["user"])
            channel.send(msg.USERNS_READY)
            reply = channel.receive()
            if not reply or reply["type"] != msg.ID_MAPS_WRITTEN:
                os._exit(1)
            if namespaces.maps_root(config.gid_mappings):
                os.setresgid(0, 0, 0)
            if namespaces.maps_root(config.uid_mappings):
                os.setresuid(0, 0, 0)
        step = "enter namespaces"
        for ns_type in _JOIN_ORDER[1:]:
            ns = config.namespace(ns_type)
            if ns and ns.path:
                namespaces.join(ns_type, ns.path)
        namespaces.unshare([ns.type for ns in config.namespaces if not ns.path and ns.type != "user"])
        if config.time_offsets:
            step = "set time offsets"
            namespaces.write_time_offsets(config.time_offsets)
        step = "fork init"
        fork_child(run_init, plan, channel)
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent
        report_failure(channel, step, e)
    os._exit(0)


def fork_child(child_main, plan, channel):
    """Fork the process that lives in the namespaces just entered (a pid
    namespace takes effect for children only) and tell the parent its pid."""
    pid = os.fork()
    if pid == 0:
        child_main(plan, channel)  # never returns
    channel.send(msg.INIT_PID, pid=pid)


def run_init(plan, channel):
    """Runs as the container's init; never returns."""
    step = None
    plan.channel = channel
    plan.received = set()  # the parent's messages read so far (see await_parent)
    plan.host_mounts_made = []  # destinations, without a mount namespace of our own
    plan.chrooted = False
    plan.root_fd = None  # the rootfs, from prepare_rootfs to pivot_root
    plan.console_target = None  # /dev/console, made before pivot_root for the pty
    plan.exec_attribute = None  # the LSM's attr/exec, opened before pivot_root
    try:
        _sys.set_process_name("ocirun:init")
        for step in INIT_STEPS:
            step(plan)
        step = None
        path = find_executable(plan)
        # in its cgroup before it says ready: a create killed after this
        # leaves an init that `delete --force` finds there
        await_parent(plan, msg.CGROUP_JOINED)
        channel.send(msg.INIT_READY, warnings=plan.warnings)
        channel.close()
    except BaseException as e:  # noqa: BLE001
        undo_host_mounts(plan)
        report_failure(channel, step.__name__.replace("_", " ") if step else "", e)
        os._exit(1)
    if not _work_after_start(plan):
        _exec_user_process(plan, path, wait_for_start_in_helper=True)
    try:
        wait_for_start(plan.fifo_fd)
    except OSError:
        os._exit(127)
    try:
        run_start_hooks(plan)
        lsm.apply_on_exec(plan.exec_attribute)  # it labels the next exec of this process
        load_seccomp_last(plan)
    except OSError as e:
        _report_start_failure(plan, describe(e))
        os._exit(1)
    except OcirunError as e:
        _report_start_failure(plan, str(e))
        os._exit(1)
    _exec_user_process(plan, path)


def _work_after_start(plan):
    """Whether the init has steps of its own between start and exec."""
    process = plan.config.process
    return bool(plan.config.hooks.get("startContainer") or plan.exec_attribute
                or (plan.seccomp and process.no_new_privileges and not plan.seccomp.notify))


def _exec_user_process(plan, path, wait_for_start_in_helper=False):
    """The last exec, through the sealed helper; never returns."""
    try:
        sealed_exec.exec_through(plan.exec_helper, path, plan.config.process.args, plan.environ,
                                 plan.status_fd, plan.fifo_fd if wait_for_start_in_helper else None)
    except OSError as e:
        message = f"exec {plan.config.process.args[0]}: {e.strerror}"
        os.write(2, f"ocirun: {message}\n".encode())
        _report_start_failure(plan, message)
    os._exit(127)


def run_start_hooks(plan):
    """startContainer: after start, in the container (pivot_root done), before exec."""
    start_hooks = plan.config.hooks.get("startContainer")
    if start_hooks:
        from ocirun import hooks  # imported before pivot_root by run_create_hooks
        hooks.run_all("startContainer", start_hooks, _state_in_container(plan), plan.exec_helper)


def _report_start_failure(plan, message):
    """Tell the start command, when it listens on exec.status."""
    if plan.status_fd is not None:
        try:
            os.write(plan.status_fd, message.encode())
        except OSError:
            pass


def _state_in_container(plan):
    """The state as the container sees it: the pid is the init's in its own pid namespace."""
    from ocirun import hooks
    config = plan.config
    return hooks.state_document(plan.container_id, os.getpid(), "created", config.bundle,
                                config.annotations, config.oci_version)


def undo_host_mounts(plan):
    """After a failure, without a mount namespace: take our mounts off the host."""
    if plan.host_mounts_made:
        root = "/" if plan.chrooted else plan.config.root_path
        try:
            rootfs.undo_host_mounts([rootfs.resolve_in_root(root, d) for d in plan.host_mounts_made])
        except OSError:
            pass  # the failure being reported matters more


def report_failure(channel, step, error):
    try:
        channel.send(msg.ERROR, step=step, errno=getattr(error, "errno", None) or 0,
                     message=describe(error))
    finally:
        os._exit(1)


def describe(error):
    """One line for the user: `<object>: <strerror>` for an OSError, never `[Errno N]`."""
    if isinstance(error, OSError) and not isinstance(error, _sys.SyscallError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error) or type(error).__name__


# --- the init's steps, in order -------------------------------------------

def restore_default_signals(plan):
    """The interpreter ignores SIGPIPE and SIGXFSZ and handles SIGINT; ignored
    signals survive exec, so the user's process must not inherit that."""
    for signum in range(1, _signal.NSIG):
        try:
            # getsignal is the interpreter's record, read from the kernel at
            # start-up: only the few that differ cost a syscall
            if _signal.getsignal(signum) not in (_signal.SIG_DFL, None):
                _signal.signal(signum, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # SIGKILL, SIGSTOP and the unused numbers


def keep_only_preserved_fds(plan):
    """Beyond stdio and the --preserve-fds ones, no inherited fd survives exec."""
    last_preserved = 2 + plan.preserve_fds
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > last_preserved:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # the fd listdir itself used
        elif fd > 2:
            os.set_inheritable(fd, True)


def bring_up_loopback(plan):
    ns = plan.config.namespace("network")
    if ns and not ns.path:
        network.bring_up_loopback()


def prepare_rootfs(plan):
    config = plan.config
    os.umask(0)  # device and mount point modes are the config's, not our umask's
    if config.namespace("mount"):  # otherwise / is the host's: leave its propagation be
        rootfs.prepare_root(config.root_path, config.rootfs_propagation)
    # everything up to pivot_root acts inside the rootfs through this fd (inroot.py)
    plan.root_fd = inroot.open_root(config.root_path)


def mount_config_mounts(plan):
    config = plan.config
    # Sharing the host's mount namespace, each mount is a host mount: keep
    # what has been made, so that a failure from here on undoes exactly that.
    made = None if config.namespace("mount") else plan.host_mounts_made
    if plan.mounts_cgroups:  # the container's cgroup directories must exist, with the init in them
        await_parent(plan, msg.CGROUP_JOINED)
    rootfs.mount_all(plan.root_fd, config.mounts, plan.mount_options, config.bundle, made,
                     (plan.cgroup, config.namespace("cgroup") is not None))


def create_devices(plan):
    config = plan.config
    in_user_ns = config.namespace("user") is not None
    if not devices.needs_dev_setup(config.mounts):
        return  # /dev is a bind mount: whatever is made there lands on that (host) directory
    devices.create_default_devices(plan.root_fd, in_user_ns,
                                   configured={device.path for device in config.devices})
    devices.create_dev_symlinks(plan.root_fd)
    devices.create_devices(plan.root_fd, config.devices, in_user_ns)
    if config.process.terminal:
        from ocirun.linux import console  # imported before the fork (LaunchPlan)
        plan.console_target = console.make_console_target(plan.root_fd)


def create_cwd(plan):
    try:
        os.close(inroot.make_in_root(plan.root_fd, plan.config.process.cwd))
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"process.cwd {plan.config.process.cwd}") from None


def run_create_hooks(plan):
    """The rootfs is built and pivot_root not done yet: the parent runs the
    prestart and createRuntime hooks (runtime namespace) while we wait, then
    we run the createContainer ones here (container namespace)."""
    config = plan.config
    if not config.hooks:
        return
    from ocirun import hooks  # now, while the host's files are in reach: startContainer needs it too
    if config.hooks.get("prestart") or config.hooks.get("createRuntime"):
        plan.channel.send(msg.RUN_HOOKS)
        await_parent(plan, msg.HOOKS_DONE)
    hooks.run_all("createContainer", config.hooks.get("createContainer", ()), _state_in_container(plan),
                  plan.exec_helper)


def await_parent(plan, kind):
    """Wait for the parent's message `kind`; the parent's messages to the init
    may come in either order, so one that arrives early is kept for later."""
    while kind not in plan.received:
        message = plan.channel.receive()
        if message is None:
            os._exit(1)  # the parent failed (e.g. a hook): it reports why and kills us
        plan.received.add(message["type"])


def apply_sysctl(plan):
    if plan.config.sysctl:
        sysctl.apply(plan.config.sysctl)


def set_oom_score_adj(plan):
    process = plan.config.process
    if process.oom_score_adj is not None:
        procfs.write("self/oom_score_adj", str(process.oom_score_adj),
                     f"set oom_score_adj to {process.oom_score_adj}")


def protect_paths(plan):
    rootfs.make_readonly(plan.root_fd, plan.config.readonly_paths)
    rootfs.mask_paths(plan.root_fd, plan.config.masked_paths)


def open_exec_attribute(plan):
    plan.exec_attribute = lsm.open_exec_attribute(plan.config.process)


def pivot_root(plan):
    if plan.config.namespace("mount"):
        rootfs.pivot(plan.root_fd, plan.no_pivot)
    else:
        rootfs.chroot(plan.root_fd)  # pivot_root would move the host's root
        plan.chrooted = True
    os.close(plan.root_fd)
    plan.root_fd = None


def attach_terminal(plan):
    """process.terminal: a pty of the container's devpts, bound at
    /dev/console (runtime-spec); the master goes to the parent (for
    --console-socket), the slave becomes our stdio."""
    process = plan.config.process
    if process.terminal:
        from ocirun.linux import console  # imported before the fork (LaunchPlan, execute.py)
        master, slave = console.open_pty(process.console_size, process.uid, process.gid)
        if plan.console_target is not None:
            console.bind_console(slave, plan.console_target)
            os.close(plan.console_target)
            plan.console_target = None
        plan.channel.send_fd(msg.CONSOLE_FD, master)
        os.close(master)
        console.become_controlling_terminal(slave)


def set_hostname(plan):
    if plan.config.hostname:
        _sys.sethostname(plan.config.hostname)
    if plan.config.domainname:
        _sys.setdomainname(plan.config.domainname)


def finish_rootfs(plan):
    config = plan.config
    if config.rootfs_propagation:
        rootfs.set_root_propagation(config.rootfs_propagation)
    if config.root_readonly:
        rootfs.make_root_readonly()


def join_session_keyring(plan):
    if not plan.no_new_keyring:
        try:
            _sys.join_session_keyring(f"_ses.{plan.container_id}")
        except OSError as e:
            if e.errno != 38:  # ENOSYS: a kernel without keyrings
                raise


def apply_rlimits(plan):
    rlimits.apply(plan.config.process.rlimits)


def apply_scheduling(plan):
    """CPU and I/O scheduling and the NUMA memory policy, once in the container's cgroup."""
    if plan.init_waits_for_cgroup:
        await_parent(plan, msg.CGROUP_JOINED)
    scheduling.apply(plan.config.process)
    memory_policy.apply(plan.config.memory_policy)


def set_personality(plan):
    personality.apply(plan.config.personality)


def load_seccomp_while_privileged(plan):
    """Without no_new_privs, loading a filter takes CAP_SYS_ADMIN, which the
    user switch may drop: load it now (runc does the same)."""
    if plan.seccomp and not plan.config.process.no_new_privileges:
        _load_seccomp(plan)


def load_seccomp(plan):
    """With no_new_privs and a notify listener, as late as create allows: the
    parent must still be there to pass the listener fd on.  Without a
    listener the filter waits until just before exec (load_seccomp_last)."""
    if plan.seccomp and plan.config.process.no_new_privileges and plan.seccomp.notify:
        _load_seccomp(plan)


def load_seccomp_last(plan):
    """With no_new_privs and no listener: right before exec, after start, the
    startContainer hooks and the LSM label, so only execve runs filtered."""
    if plan.seccomp and plan.config.process.no_new_privileges and not plan.seccomp.notify:
        _load_seccomp(plan)


def _load_seccomp(plan):
    notify_fd = _sys.seccomp_set_mode_filter(plan.seccomp.flags, plan.seccomp.program)
    if plan.seccomp.notify:
        # the parent passes it on to the listener, which is out of our reach now
        plan.channel.send_fd(msg.SECCOMP_FD, notify_fd)
        os.close(notify_fd)


def switch_user(plan):
    """Become the process's user, keeping exactly the configured capabilities."""
    process = plan.config.process
    sets = plan.capability_sets
    capabilities.drop_bounding(sets)
    _sys.prctl(_sys.PR_SET_KEEPCAPS, 1, what="keep capabilities")
    os.setgroups(list(dict.fromkeys(process.additional_gids)))
    os.setresgid(process.gid, process.gid, process.gid)
    os.setresuid(process.uid, process.uid, process.uid)
    _sys.prctl(_sys.PR_SET_KEEPCAPS, 0, what="keep capabilities")
    not_raised = capabilities.apply(sets)
    if not_raised:
        plan.warnings.append("ambient capabilities not raised because they are not both permitted"
                             " and inheritable: " + ", ".join(not_raised))
    if process.no_new_privileges:
        _sys.prctl(_sys.PR_SET_NO_NEW_PRIVS, 1, what="set no_new_privs")


def enter_cwd(plan):
    process = plan.config.process
    os.umask(process.umask if process.umask is not None else 0o022)
    os.chdir(process.cwd)
    hygiene.check_cwd_in_root(process.cwd)


INIT_STEPS = (
    restore_default_signals,
    keep_only_preserved_fds,
    bring_up_loopback,
    prepare_rootfs,
    mount_config_mounts,
    create_devices,
    create_cwd,
    run_create_hooks,
    apply_sysctl,
    set_oom_score_adj,
    protect_paths,
    open_exec_attribute,
    pivot_root,
    attach_terminal,
    set_hostname,
    finish_rootfs,
    join_session_keyring,
    apply_rlimits,
    apply_scheduling,
    set_personality,
    load_seccomp_while_privileged,
    switch_user,
    enter_cwd,
    load_seccomp,
)


def find_executable(plan):
    """args[0] resolved as exec would, on the container's PATH; missing is an
    error of create, as with runc."""
    name = plan.config.process.args[0]
    if "/" in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in plan.environ.get("PATH", "").split(":")]
        if not plan.environ.get("PATH"):
            candidates = []
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    if "/" in name:
        if os.path.exists(name):
            raise ChildSetupError("", errno.EACCES, f'exec: "{name}": permission denied')
        raise ChildSetupError("", errno.ENOENT, f'exec: "{name}": no such file or directory')
    raise ChildSetupError("", errno.ENOENT, f'exec: "{name}": executable file not found in $PATH')
