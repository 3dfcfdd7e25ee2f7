"""exec: a new process in a running container, as runc exec starts it.

    parent (ocirun exec)            joiner                             the new process
    ────────────────────            ──────                             ───────────────
    fork ─────────────────────────▶ setns into the init's namespaces
                                    (user first, mount last); fork ──▶
                                ◀── INIT_PID {pid}
                                    exit 0
    move it into the container's cgroup
    CGROUP_JOINED ───────────────────────────────────────────────────▶ (with a terminal: open the pty)
                                ◀─────────────────────────────────── CONSOLE_FD + master fd
    send it to --console-socket
                                ◀─────────────────────────────────── SECCOMP_FD + notify fd (with
    send it to listenerPath                                          SCMP_ACT_NOTIFY)
                                                                       rlimits, user, capabilities,
                                                                       no_new_privs, seccomp, cwd;
                                                                       execve: the channel closes
    (no --detach: wait for its exit status)

The new process is a grandchild; without --detach the parent is a child
subreaper, so it inherits the process when the joiner exits and can wait
for it.  The steps are the init's (init.py) where they are the same.
"""
import os
from _signal import SIGKILL

from ocirun import _sys
from ocirun.errors import ChildSetupError, OcirunError
from ocirun.linux import console, lsm, namespaces, scheduling
from ocirun.linux.capabilities import CapabilitySets
from ocirun.process import channel as msg
from ocirun.process import hygiene, init, sealed_exec
from ocirun.process.channel import Channel
from ocirun.process.launcher import check_preserved_fds

# /proc/<pid>/ns names, in setns order: the user namespace owns the others,
# and the mount namespace changes what paths resolve to
_NAMESPACES = (("user", "user"), ("ipc", "ipc"), ("uts", "uts"), ("net", "network"), ("pid", "pid"),
               ("cgroup", "cgroup"), ("time", "time"), ("mnt", "mount"))


class ExecPlan:
    """What the new process needs, checked before any fork; `config` is the
    container's, with the exec'd process in place of its own."""

    def __init__(self, container_id, config, process, init_pid, rootfs, cgroup, preserve_fds=0,
                 console_socket=None, seccomp_cache=None):
        if process.terminal and not console_socket:
            raise OcirunError("exec: a terminal (-t, process.terminal) needs --console-socket")
        if console_socket and not process.terminal:
            raise OcirunError("exec: --console-socket is for a terminal (-t, process.terminal)")
        self.container_id = container_id
        self.config = config.replacing(process=process)
        self.init_pid = init_pid
        self.rootfs = rootfs
        self.cgroup = cgroup
        self.preserve_fds = preserve_fds
        check_preserved_fds(preserve_fds)
        self.console_socket = console_socket
        self.exec_helper = None  # made by launch (sealed_exec.py)
        scheduling.check(process)
        lsm.check(process, None)
        self.seccomp = None
        if config.seccomp is not None:
            from ocirun.linux import seccomp
            self.seccomp = seccomp.compile_profile(config.seccomp, seccomp_cache)
        self.capability_sets = CapabilitySets(process.capabilities)
        self.environ = process.environ()
        self.warnings = []
        self.init_waits_for_cgroup = True  # the new process waits for the parent to move it
        self.namespaces = _namespaces_to_join(init_pid)

    def fds_for_container(self, channel_fd):
        return hygiene.fds_to_keep(self.preserve_fds, channel_fd, self.exec_helper)


def _namespaces_to_join(init_pid):
    """[(type, path)] of the init's namespaces that are not already ours."""
    joins = []
    for proc_name, ns_type in _NAMESPACES:
        theirs = f"/proc/{init_pid}/ns/{proc_name}"
        try:
            their_stat = os.stat(theirs)
        except FileNotFoundError:
            continue  # a kernel without that namespace type
        except OSError as e:
            raise OcirunError(f"exec: namespaces of the container's init {init_pid}: {e.strerror}") from None
        ours = os.stat(f"/proc/self/ns/{proc_name}")
        if (their_stat.st_dev, their_stat.st_ino) != (ours.st_dev, ours.st_ino):
            joins.append((ns_type, theirs))
    return joins


def launch(plan):
    """Start the process; return its pid once it has exec'd."""
    plan.exec_helper = sealed_exec.sealed_helper()
    try:
        parent_end, child_end = Channel.pair()
        joiner = os.fork()
        if joiner == 0:
            try:
                parent_end.close()
                _run_joiner(plan, child_end)
            finally:
                os._exit(1)
    finally:
        os.close(plan.exec_helper)
    child_end.close()
    pid = None
    try:
        while True:
            message = parent_end.receive()
            if message is None:
                if pid is None:
                    raise ChildSetupError("", 0, "exec: the process exited during setup")
                return pid  # the channel closed on execve
            kind = message["type"]
            if kind == msg.INIT_PID:
                pid = message["pid"]
                plan.cgroup.join(pid)
                parent_end.send(msg.CGROUP_JOINED)
            elif kind == msg.CONSOLE_FD:
                console.pass_on(message["fd"], plan.console_socket)
            elif kind == msg.SECCOMP_FD:
                from ocirun.process.launcher import send_to_seccomp_listener
                try:
                    send_to_seccomp_listener(plan, pid, message["fd"], status="running")
                finally:
                    os.close(message["fd"])
            elif kind == msg.ERROR:
                raise ChildSetupError(message["step"], message["errno"], message["message"])
    except BaseException:
        if pid is not None:
            try:
                os.kill(pid, SIGKILL)
            except ProcessLookupError:
                pass
        raise
    finally:
        parent_end.close()
        os.waitpid(joiner, 0)


def _run_joiner(plan, channel):
    step = "shed the runtime's state"
    try:
        hygiene.shed_host_state(plan.fds_for_container(channel.fileno()))
        step = "enter namespaces"
        for ns_type, path in plan.namespaces:
            namespaces.join(ns_type, path)
        if not any(ns_type == "mount" for ns_type, _ in plan.namespaces):
            # a container without a mount namespace of its own runs chrooted
            os.chroot(plan.rootfs)
        os.chdir("/")
        step = "fork"
        init.fork_child(_run_process, plan, channel)
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent
        init.report_failure(channel, step, e)
    os._exit(0)


def _run_process(plan, channel):
    """The new process: the init's last steps, then execve."""
    step = None
    plan.channel = channel
    plan.received = set()
    plan.console_target = None  # the init's alone binds /dev/console
    try:
        _sys.set_process_name("ocirun:exec")
        for step in EXEC_STEPS:
            step(plan)
        step = None
        path = init.find_executable(plan)
        lsm.apply_on_exec(lsm.open_exec_attribute(plan.config.process))
        init.load_seccomp_last(plan)
        sealed_exec.exec_through(plan.exec_helper, path, plan.config.process.args, plan.environ)
    except BaseException as e:  # noqa: BLE001
        init.report_failure(channel, step.__name__.replace("_", " ") if step else "", e)
    os._exit(1)


def await_cgroup(plan):
    init.await_parent(plan, msg.CGROUP_JOINED)


EXEC_STEPS = (
    init.restore_default_signals,
    init.keep_only_preserved_fds,
    await_cgroup,
    init.attach_terminal,
    init.set_oom_score_adj,  # through the container's /proc, checked to be procfs
    init.apply_rlimits,
    init.apply_scheduling,
    init.load_seccomp_while_privileged,
    init.switch_user,
    init.enter_cwd,
    init.load_seccomp,  # with no_new_privs and a listener: the parent passes the fd on
)
