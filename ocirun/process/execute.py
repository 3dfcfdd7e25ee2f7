"""exec: a new process in a running container, as runc exec starts it.

    parent (ocirun exec)            joiner                             the new process
    ────────────────────            ──────                             ───────────────
    fork ─────────────────────────▶ shed the runtime's state;
                                    setns into the init's namespaces
                                    (user first, mount last); fork ──▶
                                ◀── InitPid {pid}
                                    exit 0
    move it into the container's cgroup
    CGROUP_JOINED ───────────────────────────────────────────────────▶ (with a terminal: open the pty)
                                ◀─────────────────────────────────── ConsoleFd + master fd
    send it to --console-socket
                                ◀─────────────────────────────────── SeccompFd + notify fd (with
    send it to listenerPath                                          SCMP_ACT_NOTIFY)
                                                                       rlimits, user, capabilities,
                                                                       no_new_privs, seccomp, cwd;
                                                                       exec through the sealed
                                                                       helper: the channel closes
    (no --detach: wait for its exit status)

The parent's side is create's (launcher.await_child).  The new process is a
grandchild; without --detach the parent is a child subreaper, so it inherits
the process when the joiner exits and can wait for it.  The steps are the
init's (init.py) where they are the same.
"""
import os

from ocirun import _sys
from ocirun.errors import OcirunError
from ocirun.linux import lsm, namespaces
from ocirun.process import hygiene, init
from ocirun.process.launcher import Inherited, Result, await_child, fork_child

# /proc/<pid>/ns names, in setns order: the user namespace owns the others,
# and the mount namespace changes what paths resolve to
_NAMESPACES = (("user", "user"), ("ipc", "ipc"), ("uts", "uts"), ("net", "network"), ("pid", "pid"),
               ("cgroup", "cgroup"), ("time", "time"), ("mnt", "mount"))


def namespaces_to_join(init_pid):
    """((type, path), ...) of the init's namespaces that are not already ours."""
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
    return tuple(joins)


def launch(plan, cgroup):
    """Start the process (an ExecPlan's) in the container's cgroup; return the
    Result (its pid) once it has exec'd."""
    inherited = Inherited(cgroup)
    inherited.open_for_children(plan)
    try:
        joiner, parent_end = fork_child(_run_joiner, plan, inherited)
    finally:
        inherited.close_after_fork()
    result = Result()
    await_child(plan, inherited, joiner, parent_end, result)
    return result


def _run_joiner(plan, inherited, channel):
    step = "shed the runtime's state"
    try:
        hygiene.shed_host_state(inherited.fds_to_keep(plan.preserve_fds, channel.fileno()))
        step = "enter namespaces"
        for ns_type, path in plan.namespaces:
            namespaces.join(ns_type, path)
        if not any(ns_type == "mount" for ns_type, _ in plan.namespaces):
            # a container without a mount namespace of its own runs chrooted
            os.chroot(plan.rootfs)
        hygiene.forbid_imports_from_files()
        os.chdir("/")
        step = "fork"
        init.fork_in_namespaces(_run_process, init.Context(plan, inherited, channel))
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent
        init.report_failure(channel, step, e)
    os._exit(0)


def _run_process(ctx):
    """The new process: the init's last steps, then the sealed exec."""
    step = None
    try:
        _sys.set_process_name("ocirun:exec")
        for step in EXEC_STEPS:
            step(ctx)
        step = None
        path = init.find_executable(ctx)
        lsm.apply_on_exec(lsm.open_exec_attribute(ctx.config.process))
        init.load_seccomp_last(ctx)
    except BaseException as e:  # noqa: BLE001
        init.report_failure(ctx.channel, init.step_name(step), e)
    init.exec_user_process(ctx, path)


def await_cgroup(ctx):
    init.await_parent(ctx, init.msg.CGROUP_JOINED)


def own_process_group(ctx):
    """Without a terminal (which gives a session of its own), a process group
    of its own inside the container: the caller's lies outside its pid
    namespace, where getpgrp() says 0 and job control fails."""
    if not ctx.config.process.terminal:
        os.setpgid(0, 0)


EXEC_STEPS = (
    init.restore_default_signals,
    init.keep_only_preserved_fds,
    await_cgroup,
    own_process_group,
    init.attach_terminal,
    init.set_oom_score_adj,  # through the container's /proc, checked to be procfs
    init.apply_rlimits,
    init.apply_scheduling,
    init.load_seccomp_while_privileged,
    init.set_home,
    init.enter_cwd,
    init.switch_user,
    init.enter_cwd_as_user,
    init.load_seccomp,  # with no_new_privs and a listener: the parent passes the fd on
)
