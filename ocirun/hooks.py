"""Lifecycle hooks (config.md "POSIX-platform Hooks"): run each one with the
container's state on stdin, its args and env, within its timeout.

Who runs which, and when (runtime.md, lifecycle steps 3-13):

    prestart, createRuntime   the create command, when the init has built the
                              rootfs and waits before pivot_root (runtime namespace)
    createContainer           the init itself, at that same point (container namespace)
    startContainer            the init, released by start, after pivot_root and
                              before exec (container namespace)
    poststart                 the start command, once the init has exec'd
    poststop                  the delete command, after the container is gone

Only os and select are used, so the init can run hooks after pivot_root,
and a config without hooks never imports this module.
"""
import os
import select
from _signal import SIGKILL

from ocirun import jsonio
from ocirun.version import OCI_VERSION
from ocirun.errors import OcirunError

PHASES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

_OUTPUT_SHOWN = 200  # characters of a failed hook's output quoted in its error


class HookError(OcirunError):
    pass


def state_document(container_id, status, source, pid=0):
    """The runtime-spec state a hook (or a seccomp listener) reads; source is
    the container's config, or its state record: what has its bundle,
    annotations and ociVersion."""
    state = {"ociVersion": source.oci_version or OCI_VERSION, "id": container_id, "status": status,
             "bundle": source.bundle, "annotations": source.annotations or {}}
    if pid:
        state["pid"] = pid
    return state


class InContainer:
    """How the container's init runs a hook (createContainer, startContainer):
    through the sealed helper (process/sealed_exec.py: a startContainer hook
    is a file of the image's), in the container's root as its working
    directory, and without the runtime's environment (only the hook's env),
    as runc's init does."""

    def __init__(self, exec_helper, cwd):
        self.exec_helper = exec_helper
        self.cwd = cwd


def run_all(phase, hooks, state, in_container=None):
    """Run the hooks of one phase in order; the first failure raises HookError.
    A hook the runtime runs without an env of its own gets the runtime's
    environment, as with runc."""
    for index, hook in enumerate(hooks):
        run_one(f"{phase}[{index}]", hook, state, in_container)


def run_all_warning(phase, hooks, state, warn):
    """Run every hook of a phase whose failures are warnings (poststart, poststop)."""
    for index, hook in enumerate(hooks):
        try:
            run_one(f"{phase}[{index}]", hook, state)
        except HookError as e:
            warn(str(e))


def run_one(name, hook, state, in_container=None):
    """fork + execve the hook with `state` as JSON on stdin; its stdout and
    stderr are kept for the error message.  Both are memfds, not pipes, so
    neither side can block the other and a hook that leaves a daemon behind
    holding them does not hang the runtime."""
    stdin = os.memfd_create("ocirun-hook-state", os.MFD_CLOEXEC)
    output = os.memfd_create("ocirun-hook-output", os.MFD_CLOEXEC)
    try:
        os.write(stdin, jsonio.dumps(state).encode())
        os.lseek(stdin, 0, os.SEEK_SET)
        pid = _spawn(hook, stdin, output, in_container)
        status = _wait(pid, hook.timeout)
        if status is None:
            raise HookError(f"error running hook {name} {hook.path}: timed out after {hook.timeout}s")
        if status != 0:
            os.lseek(output, 0, os.SEEK_SET)
            text = os.read(output, _OUTPUT_SHOWN * 4).decode(errors="replace")
            text = " ".join(text.split())[:_OUTPUT_SHOWN]
            raise HookError(f"error running hook {name} {hook.path}: {_describe_status(status)}"
                            + (f": {text}" if text else ""))
    finally:
        os.close(stdin)
        os.close(output)


def _spawn(hook, stdin, output, in_container):
    # Prepared before the fork: the child only dup2s and execs.
    argv = list(hook.args) or [hook.path]
    if hook.env is not None:
        env = dict(entry.split("=", 1) if "=" in entry else (entry, "") for entry in hook.env)
    else:
        env = {} if in_container else dict(os.environ)
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(stdin, 0)
            os.dup2(output, 1)
            os.dup2(output, 2)
            if in_container is not None:
                from ocirun.process import sealed_exec  # loaded already by the init
                os.chdir(in_container.cwd)
                sealed_exec.exec_through(in_container.exec_helper, hook.path, argv, env)
            os.execve(hook.path, argv, env)
        except OSError as e:
            os.write(2, f"exec: {e.strerror}".encode())
        finally:
            os._exit(127)
    return pid


def _wait(pid, timeout):
    """The hook's wait status, or None when it outran its timeout (it is then killed)."""
    if timeout:
        pidfd = os.pidfd_open(pid)
        try:
            if not select.select([pidfd], [], [], timeout)[0]:
                os.kill(pid, SIGKILL)
                os.waitpid(pid, 0)
                return None
        finally:
            os.close(pidfd)
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def _describe_status(status):
    """As runc (Go) words it, which scripts match: "exit status 1",
    "signal: bad system call"."""
    if os.WIFSIGNALED(status):
        import _signal  # built in: startContainer hooks fail here after pivot_root, where no file is ours
        description = _signal.strsignal(os.WTERMSIG(status)) or f"signal {os.WTERMSIG(status)}"
        return f"signal: {description[0].lower()}{description[1:]}"
    return f"exit status {os.WEXITSTATUS(status)}"
