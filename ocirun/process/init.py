"""The child side of create, from namespaces to exec.

Stage A sheds the runtime's state, enters the cgroup and the namespaces and
forks the container's init (pid 1 of a new pid namespace: unshare(CLONE_NEWPID)
only applies to children).  When nothing has to come before the init's fork
(no user namespace, no pid namespace to join: plan.forks_init_directly) and
the caller waits for the init or exits, the parent forks the init itself,
after an unshare(CLONE_NEWPID) of its own that it undoes at once, and the init
runs DIRECT_STEPS, stage A's part, first.  The init then runs INIT_STEPS, in order, with a
Context of its own, reports ready, waits for `ocirun start` and execs the
user's process through the sealed helper.  A failing step travels back to the
parent as data (see channel.py), named after the step's function.
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
from ocirun.state import CREATED

# setns order: the user namespace first (it owns the others), mount last (it
# changes what the other namespace paths resolve to).
_JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


class Context:
    """What a child process of ours learns and holds while it sets the
    container up: its own state, never the parent's, beside the frozen plan
    and what it inherited (launcher.Inherited)."""

    def __init__(self, plan, inherited, channel):
        self.plan = plan
        self.config = plan.config
        self.inherited = inherited
        self.channel = channel
        self.received = set()  # the parent's messages read so far (see await_parent)
        self.warnings = list(plan.warnings)  # sent with InitReady
        self.notes = []  # likewise, for --debug
        self.host_mounts_made = []  # destinations, without a mount namespace of our own
        self.chrooted = False
        self.root_fd = None  # the rootfs, from prepare_rootfs to pivot_root
        self.console_target = None  # /dev/console, made before pivot_root for the pty
        self.exec_attribute = None  # the LSM's attr/exec, opened before pivot_root
        self.readonly_later = []  # read-only tmpfs mounts, writable until the rootfs is built
        self.environ = dict(plan.environ)  # process.env, and HOME when it has none (set_home)
        self.cwd_entered = False  # enter_cwd, as root, unless the cwd needs the process's user


def run_stage_a(plan, inherited, channel):
    """Runs in the first child: STAGE_A_STEPS, the last of which forks the
    init (with a copy of the same Context); never returns."""
    _run_first_steps(STAGE_A_STEPS, Context(plan, inherited, channel))
    os._exit(0)


def run_direct_init(plan, inherited, channel):
    """Runs as the container's init when the parent forked it itself
    (plan.forks_init_directly), already pid 1 of its pid namespace: stage A's
    part of the work, DIRECT_STEPS, then the init's own; never returns."""
    ctx = Context(plan, inherited, channel)
    _run_first_steps(DIRECT_STEPS, ctx)
    run_init(ctx)


def _run_first_steps(steps, ctx):
    step = None
    try:
        for step in steps:
            step(ctx)
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent
        report_failure(ctx.channel, step_name(step), e)


def step_name(step):
    return step.__name__.replace("_", " ") if step else ""


# --- stage A's steps, in order ---------------------------------------------

def shed_the_runtime_state(ctx):
    hygiene.shed_host_state(ctx.inherited.fds_to_keep(ctx.plan.preserve_fds, ctx.channel.fileno()))


def enter_cgroup(ctx):
    if ctx.inherited.cgroup.places_stage_a:
        # the parent has systemd put this process in the container's unit
        _await_signal(ctx.channel, msg.CGROUP_JOINED)
    elif ctx.plan.child_joins_cgroup:
        ctx.inherited.cgroup.join(os.getpid())


def enter_user_namespace(ctx):
    """Join or make the user namespace first: it owns the others.  A new one
    has its id maps written by the parent."""
    config = ctx.config
    user_ns = config.namespace("user")
    if user_ns and user_ns.path:
        namespaces.join("user", user_ns.path)
    elif user_ns:
        namespaces.unshare(["user"])
        # An unprivileged parent writes our maps only while /proc/<us> is
        # ours, not root's as for a process that is not dumpable; nothing
        # else lives in this new namespace yet (runc's nsexec does the same).
        unprivileged = os.geteuid() != 0
        if unprivileged:
            _sys.prctl(_sys.PR_SET_DUMPABLE, 1, what="let the parent write the id maps")
        ctx.channel.signal(msg.USERNS_READY)
        _await_signal(ctx.channel, msg.ID_MAPS_WRITTEN)
        if unprivileged:
            _sys.prctl(_sys.PR_SET_DUMPABLE, 0, what="make the runtime's process not dumpable")
        if namespaces.maps_root(config.gid_mappings):
            os.setresgid(0, 0, 0)
        if namespaces.maps_root(config.uid_mappings):
            os.setresuid(0, 0, 0)


def enter_namespaces(ctx):
    """Join the others in _JOIN_ORDER, then make the new ones."""
    _enter_namespaces(ctx.config, made_already=("user",))


def enter_namespaces_but_pid(ctx):
    """The direct init's: it was forked into its new pid namespace."""
    _enter_namespaces(ctx.config, made_already=("user", "pid"))


def _enter_namespaces(config, made_already):
    for ns_type in _JOIN_ORDER[1:]:
        ns = config.namespace(ns_type)
        if ns and ns.path:
            namespaces.join(ns_type, ns.path)
    namespaces.unshare([ns.type for ns in config.namespaces if not ns.path and ns.type not in made_already])


def set_time_offsets(ctx):
    if ctx.config.time_offsets:
        namespaces.write_time_offsets(ctx.config.time_offsets)


def fork_init(ctx):
    fork_in_namespaces(run_init, ctx)


STAGE_A_STEPS = (
    shed_the_runtime_state,
    enter_cgroup,
    enter_user_namespace,
    enter_namespaces,
    set_time_offsets,
    fork_init,
)

# what is left of them when the parent forks the init itself
DIRECT_STEPS = (
    shed_the_runtime_state,
    enter_cgroup,  # before a new cgroup namespace, which is rooted where its maker is
    enter_namespaces_but_pid,
)


def _await_signal(channel, kind):
    """Stage A and the joiner wait for the parent's one word; EOF: it failed."""
    reply = channel.receive()
    if reply is None or reply.kind != kind:
        os._exit(1)


def fork_in_namespaces(child_main, ctx):
    """Fork the process that lives in the namespaces just entered (a pid
    namespace takes effect for children only) and tell the parent its pid."""
    pid = os.fork()
    if pid == 0:
        child_main(ctx)  # never returns
    ctx.channel.send_init_pid(pid)


def run_init(ctx):
    """Runs as the container's init: INIT_STEPS, ready, then (after start)
    START_STEPS and the exec; never returns."""
    step = None
    try:
        _sys.set_process_name("ocirun:init")
        for step in INIT_STEPS:
            step(ctx)
        step = None
        path = find_executable(ctx)
        # in its cgroup before it says ready: a create killed after this
        # leaves an init that `delete --force` finds there
        await_parent(ctx, msg.CGROUP_JOINED)
        ctx.channel.send_ready(ctx.warnings, ctx.notes)
        ctx.channel.close()
    except BaseException as e:  # noqa: BLE001
        undo_host_mounts(ctx)
        report_failure(ctx.channel, step_name(step), e)
    if not _work_after_start(ctx):
        exec_user_process(ctx, path, wait_for_start_in_helper=True)
    try:
        wait_for_start(ctx.inherited.fifo_fd)
    except OSError:
        os._exit(127)
    try:
        for step in START_STEPS:
            step(ctx)
    except OSError as e:
        _report_start_failure(ctx, describe(e))
        os._exit(1)
    except OcirunError as e:
        _report_start_failure(ctx, str(e))
        os._exit(1)
    except BaseException as e:  # noqa: BLE001 - a bug: still one line for start to show
        _report_start_failure(ctx, f"internal error: {type(e).__name__}: {e} (a bug in ocirun: please report it)")
        os._exit(1)
    exec_user_process(ctx, path)


def _work_after_start(ctx):
    """Whether the init has steps of its own between start and exec."""
    seccomp = ctx.plan.seccomp
    return bool(ctx.config.hooks.get("startContainer") or ctx.exec_attribute
                or (seccomp and ctx.config.process.no_new_privileges and not seccomp.notify))


def exec_user_process(ctx, path, wait_for_start_in_helper=False):
    """The last exec, through the sealed helper; never returns."""
    process = ctx.config.process
    try:
        sealed_exec.exec_through(ctx.inherited.exec_helper, path, process.args, ctx.environ,
                                 ctx.inherited.status_fd,
                                 ctx.inherited.fifo_fd if wait_for_start_in_helper else None)
    except (OSError, ValueError) as e:  # ValueError: what execve cannot take (plan.validate refuses it)
        message = f"exec {process.args[0]}: {getattr(e, 'strerror', None) or e}"
        os.write(2, f"ocirun: {message}\n".encode())
        _report_start_failure(ctx, message)
    os._exit(1)  # runc's init's status when its last exec fails


# --- after start, before exec (START_STEPS) ---------------------------------

def run_start_hooks(ctx):
    """startContainer: after start, in the container (pivot_root done), with
    the process's seccomp filter and LSM label, before exec."""
    start_hooks = ctx.config.hooks.get("startContainer")
    if start_hooks:
        from ocirun import hooks  # imported before pivot_root by run_create_hooks
        hooks.run_all("startContainer", start_hooks, _state_in_container(ctx),
                      hooks.InContainer(ctx.inherited.exec_helper, "/"))


def apply_exec_label(ctx):
    lsm.apply_on_exec(ctx.exec_attribute)  # it labels the next exec of this process


def _report_start_failure(ctx, message):
    """Tell the start command, when it listens on exec.status."""
    if ctx.inherited.status_fd is not None:
        try:
            os.write(ctx.inherited.status_fd, message.encode())
        except OSError:
            pass


def _state_in_container(ctx):
    """The state as the container sees it: the pid is the init's in its own pid namespace."""
    from ocirun import hooks
    return hooks.state_document(ctx.plan.container_id, CREATED, ctx.config, os.getpid())


def undo_host_mounts(ctx):
    """After a failure, without a mount namespace: take our mounts off the host."""
    if ctx.host_mounts_made:
        root = "/" if ctx.chrooted else ctx.config.root_path
        try:
            rootfs.undo_host_mounts([rootfs.resolve_in_root(root, d) for d in ctx.host_mounts_made])
        except OSError:
            pass  # the failure being reported matters more


def report_failure(channel, step, error):
    """Send the failure to the parent, and exit."""
    try:
        channel.send_error(step, getattr(error, "errno", None) or 0, describe(error))
    finally:
        os._exit(1)


def describe(error):
    """One line for the user: `<object>: <strerror>` for an OSError, never `[Errno N]`."""
    if isinstance(error, OSError) and not isinstance(error, _sys.SyscallError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error) or type(error).__name__


def await_parent(ctx, kind):
    """Wait for the parent's message `kind`; the parent's messages to the init
    may come in either order, so one that arrives early is kept for later."""
    while kind not in ctx.received:
        message = ctx.channel.receive()
        if message is None:
            os._exit(1)  # the parent failed (e.g. a hook): it reports why and kills us
        if isinstance(message, msg.BindSourceFd):  # a detached copy, for mount_all
            ctx.inherited.source_trees[message.index] = message.fd
        ctx.received.add(message.kind)


# --- the init's steps, in order -------------------------------------------

def restore_default_signals(ctx):
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


def keep_only_preserved_fds(ctx):
    """Beyond stdio and the --preserve-fds ones, no inherited fd survives exec."""
    last_preserved = 2 + ctx.plan.preserve_fds
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > last_preserved:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # the fd listdir itself used
        elif fd > 2:
            os.set_inheritable(fd, True)


def bring_up_loopback(ctx):
    ns = ctx.config.namespace("network")
    if ns and not ns.path:
        network.bring_up_loopback()


def prepare_rootfs(ctx):
    config = ctx.config
    os.umask(0)  # device and mount point modes are the config's, not our umask's
    if config.namespace("mount"):  # otherwise / is the host's: leave its propagation be
        rootfs.prepare_root(config.root_path, config.rootfs_propagation)
    # everything up to pivot_root acts inside the rootfs through this fd (inroot.py)
    ctx.root_fd = inroot.open_root(config.root_path)


def mount_config_mounts(ctx):
    config = ctx.config
    # Sharing the host's mount namespace, each mount is a host mount: keep
    # what has been made, so that a failure from here on undoes exactly that.
    made = None if config.namespace("mount") else ctx.host_mounts_made
    if ctx.plan.mounts_cgroups:  # the container's cgroup directories must exist, with the init in them
        await_parent(ctx, msg.CGROUP_JOINED)
    if ctx.plan.bind_sources_for_init:
        await_parent(ctx, msg.BIND_SOURCES_SENT)
    ctx.readonly_later = rootfs.mount_all(
        ctx.root_fd, config.mounts, ctx.plan.mount_options, config.bundle, made,
        (ctx.inherited.cgroup, config.namespace("cgroup") is not None), ctx.inherited.source_trees)


def create_devices(ctx):
    config = ctx.config
    in_user_ns = ctx.plan.in_user_namespace
    if not devices.needs_dev_setup(config.mounts):
        return  # /dev is a bind mount: whatever is made there lands on that (host) directory
    devices.create_default_devices(ctx.root_fd, in_user_ns, configured={device.path for device in config.devices})
    devices.create_dev_symlinks(ctx.root_fd)
    devices.create_devices(ctx.root_fd, config.devices, in_user_ns)
    if config.process.terminal:
        from ocirun.linux import console  # imported before the fork (plan.validate)
        ctx.console_target = console.make_console_target(ctx.root_fd)


def create_cwd(ctx):
    cwd = ctx.config.process.cwd
    try:
        os.close(inroot.make_in_root(ctx.root_fd, cwd))
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"process.cwd {cwd}") from None


def run_create_hooks(ctx):
    """The rootfs is built and pivot_root not done yet: the parent runs the
    prestart and createRuntime hooks (runtime namespace) while we wait, then
    we run the createContainer ones here (container namespace)."""
    config = ctx.config
    if not config.hooks:
        return
    from ocirun import hooks  # now, while the host's files are in reach: startContainer needs it too
    if config.hooks.get("prestart") or config.hooks.get("createRuntime"):
        ctx.channel.signal(msg.RUN_HOOKS)
        await_parent(ctx, msg.HOOKS_DONE)
    hooks.run_all("createContainer", config.hooks.get("createContainer", ()), _state_in_container(ctx),
                  hooks.InContainer(ctx.inherited.exec_helper, config.root_path))


def apply_sysctl(ctx):
    """Before pivot_root, through the runtime's own /proc (procfs.py)."""
    if ctx.config.sysctl:
        sysctl.apply(ctx.config.sysctl)


def set_oom_score_adj(ctx):
    process = ctx.config.process
    if process.oom_score_adj is not None:
        procfs.write("self/oom_score_adj", str(process.oom_score_adj),
                     f"process.oomScoreAdj {process.oom_score_adj}: write /proc/self/oom_score_adj")


def protect_paths(ctx):
    """Read-only paths and masks, then the read-only tmpfs mounts: the rootfs
    is built (mounts, devices, the cwd, createContainer hooks)."""
    rootfs.make_readonly(ctx.root_fd, ctx.config.readonly_paths)
    rootfs.mask_paths(ctx.root_fd, ctx.config.masked_paths)
    rootfs.make_readonly_later(ctx.readonly_later)
    ctx.readonly_later = []


def open_exec_attribute(ctx):
    ctx.exec_attribute = lsm.open_exec_attribute(ctx.config.process)


def pivot_root(ctx):
    if ctx.config.namespace("mount"):
        rootfs.pivot(ctx.root_fd, ctx.plan.options.no_pivot)
    else:
        rootfs.chroot(ctx.root_fd)  # pivot_root would move the host's root
        ctx.chrooted = True
    hygiene.forbid_imports_from_files()
    os.close(ctx.root_fd)
    ctx.root_fd = None


def attach_terminal(ctx):
    """process.terminal: a pty of the container's devpts, bound at
    /dev/console (runtime-spec); the master goes to the parent (for
    --console-socket), the slave becomes our stdio."""
    process = ctx.config.process
    if process.terminal:
        from ocirun.linux import console  # imported before the fork (plan.validate)
        # the group a devpts gid= option gives stays (runc's default spec: tty, 5)
        devpts_sets_group = any(m.type == "devpts" and any(o.startswith("gid=") for o in m.options)
                                for m in ctx.config.mounts)
        master, slave = console.open_pty(process.console_size, process.uid,
                                         -1 if devpts_sets_group else process.gid)
        if ctx.console_target is not None:
            console.bind_console(slave, ctx.console_target)
            os.close(ctx.console_target)
            ctx.console_target = None
        ctx.channel.send_console_fd(master)
        os.close(master)
        console.become_controlling_terminal(slave)


def set_hostname(ctx):
    if ctx.config.hostname:
        _sys.sethostname(ctx.config.hostname)
    if ctx.config.domainname:
        _sys.setdomainname(ctx.config.domainname)


def finish_rootfs(ctx):
    config = ctx.config
    if config.rootfs_propagation:
        rootfs.set_root_propagation(config.rootfs_propagation)
    if config.root_readonly:
        rootfs.make_root_readonly()


def join_session_keyring(ctx):
    if not ctx.plan.options.no_new_keyring:
        try:
            _sys.join_session_keyring(f"_ses.{ctx.plan.container_id}")
        except OSError as e:
            if e.errno != errno.ENOSYS:  # a kernel without keyrings
                raise


def apply_rlimits(ctx):
    rlimits.apply(ctx.config.process.rlimits)


def apply_scheduling(ctx):
    """CPU and I/O scheduling and the NUMA memory policy, once in the container's cgroup."""
    if ctx.plan.init_waits_for_cgroup:
        await_parent(ctx, msg.CGROUP_JOINED)
    scheduling.apply(ctx.config.process)
    memory_policy.apply(ctx.config.memory_policy)


def set_personality(ctx):
    personality.apply(ctx.config.personality)


def load_seccomp_while_privileged(ctx):
    """Without no_new_privs, loading a filter takes CAP_SYS_ADMIN, which the
    user switch may drop: load it now (runc does the same)."""
    if ctx.plan.seccomp and not ctx.config.process.no_new_privileges:
        _load_seccomp(ctx)


def load_seccomp(ctx):
    """With no_new_privs and a notify listener, as late as create allows: the
    parent must still be there to pass the listener fd on.  Without a
    listener the filter waits until just before exec (load_seccomp_last)."""
    seccomp = ctx.plan.seccomp
    if seccomp and ctx.config.process.no_new_privileges and seccomp.notify:
        _load_seccomp(ctx)


def load_seccomp_last(ctx):
    """With no_new_privs and no listener: after start and the LSM label, so
    little of ours runs filtered: the startContainer hooks (which the filter
    confines too, as with runc) and execve."""
    seccomp = ctx.plan.seccomp
    if seccomp and ctx.config.process.no_new_privileges and not seccomp.notify:
        _load_seccomp(ctx)


def _load_seccomp(ctx):
    seccomp = ctx.plan.seccomp
    notify_fd = _sys.seccomp_set_mode_filter(seccomp.flags, seccomp.program)
    if seccomp.notify:
        # the parent passes it on to the listener, which is out of our reach now
        ctx.channel.send_seccomp_fd(notify_fd)
        os.close(notify_fd)


def _set_groups(gids):
    """setgroups, or nothing in a user namespace whose setgroups a rootless
    caller had to deny (its single gid map needs that): as runc, an error
    only when the config asks for supplementary groups."""
    try:
        os.setgroups(gids)
    except PermissionError:
        with open("/proc/self/setgroups") as f:
            denied = f.read().strip() == "deny"
        if not denied:
            raise
        if gids:
            raise OcirunError("process.user.additionalGids: setgroups is denied in this user namespace "
                              "(a rootless container with a single gid mapping)") from None


def switch_user(ctx):
    """Become the process's user, keeping exactly the configured capabilities."""
    process = ctx.config.process
    sets = ctx.plan.capability_sets
    capabilities.drop_bounding(sets)
    _sys.prctl(_sys.PR_SET_KEEPCAPS, 1, what="keep capabilities")
    _set_groups(list(dict.fromkeys(process.additional_gids)))
    os.setresgid(process.gid, process.gid, process.gid)
    os.setresuid(process.uid, process.uid, process.uid)
    _sys.prctl(_sys.PR_SET_KEEPCAPS, 0, what="keep capabilities")
    not_raised = capabilities.apply(sets)
    if not_raised:  # as runc: runc spec's default asks for them, so this is no warning
        ctx.notes.append("ambient capabilities not raised because they are not both permitted"
                         " and inheritable: " + ", ".join(not_raised))
    if process.no_new_privileges:
        _sys.prctl(_sys.PR_SET_NO_NEW_PRIVS, 1, what="set no_new_privs")


def set_home(ctx):
    """HOME, when process.env has none: the user's home in the container's
    /etc/passwd, or / (runc's rule; programs that read HOME need one)."""
    if "HOME" not in ctx.environ:
        ctx.environ["HOME"] = home_of(ctx.config.process.uid)


def home_of(uid, passwd="/etc/passwd"):
    try:
        with open(passwd, "rb") as f:
            for line in f:
                fields = line.rstrip(b"\n").split(b":")
                if len(fields) >= 6 and fields[2] == str(uid).encode():
                    return fields[5].decode(errors="replace") or "/"
    except OSError:
        pass
    return "/"


def enter_cwd(ctx):
    """As root still, as runc does: a cwd only root may enter works (one the
    process's user alone may enter is tried again after the switch)."""
    process = ctx.config.process
    os.umask(process.umask if process.umask is not None else 0o022)
    try:
        os.chdir(process.cwd)
    except PermissionError:
        return
    hygiene.check_cwd_in_root(process.cwd)
    ctx.cwd_entered = True


def enter_cwd_as_user(ctx):
    if not ctx.cwd_entered:
        os.chdir(ctx.config.process.cwd)
        hygiene.check_cwd_in_root(ctx.config.process.cwd)


START_STEPS = (
    apply_exec_label,
    load_seccomp_last,
    run_start_hooks,  # confined as the process will be, as runc runs them
)

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
    set_home,
    enter_cwd,
    switch_user,
    enter_cwd_as_user,
    load_seccomp,
)


def find_executable(ctx):
    """args[0] resolved as exec would, on the container's PATH; missing is an
    error of create, as with runc."""
    name = ctx.config.process.args[0]
    path_variable = ctx.environ.get("PATH")
    if "/" in name:
        candidates = [name]
    elif path_variable:
        candidates = [os.path.join(d or ".", name) for d in path_variable.split(":")]
    else:
        candidates = []
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    if "/" in name:
        if os.path.exists(name):
            raise ChildSetupError("", errno.EACCES, f'exec: "{name}": permission denied')
        raise ChildSetupError("", errno.ENOENT, f'exec: "{name}": no such file or directory')
    raise ChildSetupError("", errno.ENOENT, f'exec: "{name}": executable file not found in $PATH')
