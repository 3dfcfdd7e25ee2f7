"""Container: one method per lifecycle operation of runtime.md.

    from ocirun import Container
    c = Container.create("web", bundle="/srv/web", root="/run/ocirun")
    c.start()
    c.state()     # {"ociVersion": ..., "status": "running", ...}
    c.kill("TERM")
    c.delete(force=True)

Each operation on an existing container holds the lock on its state
directory, so concurrent commands on one id are serialized.
"""
import os
# _signal, not signal: the signal module wraps the numbers in an IntEnum,
# and enum is a large share of a start's import time.
import _signal
from _signal import SIGKILL, SIGTERM

from ocirun.version import OCI_VERSION
from ocirun.errors import ChildSetupError, OcirunError, WrongState
from ocirun.log import rfc3339_now
from ocirun.rootless import SYSTEM_STATE_ROOT
from ocirun.state import (CREATED, CREATING, PAUSED, RUNNING, STOPPED, ContainerState, StateStore,
                          check_allowed)

DEFAULT_ROOT = SYSTEM_STATE_ROOT  # the library's default; the command's is rootless.default_state_root()
CONFIG_COPY = "config.json"  # in the state directory


class Container:
    console_master = None  # see create(keep_console)
    _holds_lock = False  # within _locked(): the state directory's flock is ours

    def __init__(self, container_id, store, record):
        self.id = container_id
        self.store = store
        self.record = record

    # --- create / start / run ---------------------------------------------

    @classmethod
    def create(cls, container_id, bundle=".", root=DEFAULT_ROOT, pid_file=None, no_pivot=False,
               no_new_keyring=False, preserve_fds=0, systemd_cgroup=False, console_socket=None,
               keep_console=False, rootless="auto", init_as_child=False):
        """Set the container up and leave its init waiting for start.
        systemd_cgroup: the cgroup is a systemd unit (cgroups/systemd.py).
        rootless: "auto", True or False, as runc's --rootless (rootless.py).
        keep_console: with a terminal and no console_socket, keep the pty's
        master as `console_master` (a foreground run relays it).
        init_as_child: the init may be forked as this process's own child,
        one fork fewer (~0.5-0.9 ms), for a caller that waits for it (run) or
        exits right after create (the command); a long-lived caller would
        otherwise have to reap it, so the library's default is False."""
        from ocirun.cgroups import prime_attach
        from ocirun.process.plan import Options
        prime_attach(preserve_fds)
        options = Options(no_pivot=no_pivot, no_new_keyring=no_new_keyring, preserve_fds=preserve_fds,
                          console_socket=console_socket, keep_console=keep_console, init_as_child=init_as_child)
        return cls._create(container_id, bundle, root, pid_file, systemd_cgroup, options, rootless)

    @classmethod
    def _create(cls, container_id, bundle, root, pid_file, systemd_cgroup, options, rootless="auto"):
        from ocirun import cgroups
        from ocirun import config as config_module
        from ocirun.process.plan import prepare_create
        store = StateStore(root)
        config = config_module.load(bundle)
        if os.environ.get("NOTIFY_SOCKET"):  # notify_socket.py, imported only then
            from ocirun import notify_socket
            config = notify_socket.add_to_config(config, store.directory(container_id))
        # every check, before any fork and before anything is made
        plan = prepare_create(container_id, config, options.replacing(seccomp_cache=store.seccomp_cache_directory()))
        from ocirun.rootless import resolve
        cgroup = cgroups.for_container(config.cgroups_path, container_id, systemd_cgroup, resolve(rootless))
        cgroup.check_resources(config.resources)
        directory = store.create_directory(container_id)  # the id is ours now
        lock = store.lock(container_id)
        try:
            record = _creating_record(store, directory, container_id, config, cgroup)
            result = _launch(store, plan, cgroup, record, pid_file)
        finally:
            os.close(lock)
        container = cls(container_id, store, record)
        container.console_master = result.console_master
        return container

    def start(self):
        """Let the created init exec the user's process."""
        from ocirun.process import startsync
        with self._locked():
            status = self.status()
            check_allowed("start", self.id, status)
            hooks = _hooks_of(self.record)
            notify = self._listen_for_notify()
            watched = startsync.watch_exec(self.record.directory)  # None unless create asked for it
            fifo = os.path.join(self.record.directory, startsync.FIFO_NAME)
            if not startsync.release(fifo):
                if watched is not None:
                    os.close(watched)
                if notify is not None:
                    notify.close()
                raise OcirunError(f"container {self.id}: its init exited before start")
            os.unlink(fifo)
            if watched is not None:
                # the init runs startContainer hooks and sets labels before the exec
                failure = startsync.wait_for_exec(watched)
                if failure:
                    raise OcirunError(f"container {self.id}: {failure}")
            self.record.status = RUNNING
            self.record.save()
            if hooks.get("poststart"):
                from ocirun import hooks as hooks_module
                from ocirun.log import current as log
                # the status the spec names for poststart, even when the
                # process has already exited by now (a live read would say stopped)
                record = self.record
                state = hooks_module.state_document(self.id, RUNNING, record, record.pid)
                hooks_module.run_all_warning("poststart", hooks["poststart"], state,
                                             log.warning_to_stderr_when_unlogged)
        if notify is not None:
            self._forward_notify(notify)

    def _listen_for_notify(self):
        """With NOTIFY_SOCKET set for both create and start (notify_socket.py)."""
        if not os.environ.get("NOTIFY_SOCKET"):
            return None
        from ocirun import notify_socket
        if notify_socket.is_set_up(self.record.directory):
            return notify_socket.listen(self.record.directory)
        return None

    def _forward_notify(self, sock):
        """start returns once the container says READY=1 (or its init exits), as runc's."""
        from ocirun import notify_socket
        try:
            pidfd = os.pidfd_open(self.record.pid)
        except ProcessLookupError:
            sock.close()
            return
        try:
            notify_socket.forward_when_ready(sock, notify_socket.requested(), self.record.pid, pidfd)
        finally:
            os.close(pidfd)

    @classmethod
    def run(cls, container_id, detach=False, keep=False, **create_options):
        """create + start; without detach, wait and return the exit status
        (128+N when killed by signal N) after deleting the container (unless keep)."""
        # An init forked through stage A is orphaned during create: as
        # subreaper we inherit it and can wait for its exit status.
        put_back = _as_subreaper() if not detach else _nothing
        try:
            return cls._run(container_id, detach, keep, create_options)
        finally:
            put_back()

    @classmethod
    def _run(cls, container_id, detach, keep, create_options):
        # a terminal without a console socket: this command relays it, as runc's run does
        keep_console = not detach and not create_options.get("console_socket")
        create_options.setdefault("init_as_child", not detach)  # waited for below
        container = cls.create(container_id, keep_console=keep_console, **create_options)
        if container.console_master is not None:
            from ocirun.linux import console
            console.copy_window_size(container.console_master)  # before the process can ask
        try:
            forwarded = _forward_signals(container.record.pid) if not detach else {}
            container.start()
        except BaseException:
            if container.console_master is not None:
                os.close(container.console_master)
            container.delete(force=True)
            raise
        if detach:
            return 0
        status = _wait_in_foreground(container.record.pid, container.console_master, forwarded)
        if not keep:
            container.delete(force=True)
        return status

    # --- exec ---------------------------------------------------------------

    def exec_process(self, flags):
        """The process `runc exec ID ARGS` starts: the container's own, as
        create saw it, with the flags (a config.ExecFlags) applied."""
        from ocirun import config as config_module
        return config_module.exec_process_from_flags(self._saved_config_text(), flags)

    def exec(self, process, detach=False, pid_file=None, preserve_fds=0, console_socket=None,
             ignore_paused=False, sub_cgroups=()):
        """Start `process` (a config.Process; config.exec_process makes one)
        in the container's namespaces and cgroup (runc exec).  Returns 0 once
        it runs with detach, else its exit status (128+N when killed by N).
        sub_cgroups: exec --cgroup's values, sub-cgroups to join instead."""
        from ocirun.process import execute
        from ocirun.process.plan import Options, prepare_exec
        status = self.status()
        if status == PAUSED and not ignore_paused:
            # runc's words, which scripts match
            raise WrongState(f"cannot exec in a paused container {self.id} (--ignore-paused to do it anyway)")
        check_allowed("exec", self.id, status)
        from ocirun import config as config_module
        config = config_module.from_saved(self._saved_config_text(), self.record.bundle)
        # a terminal without a console socket: this command relays it, as runc's exec does
        # (CRI-O runs a terminal exec so, on a pty of its own)
        keep_console = not detach and not console_socket
        options = Options(preserve_fds=preserve_fds, console_socket=console_socket,
                          keep_console=keep_console, seccomp_cache=self.store.seccomp_cache_directory(),
                          sub_cgroups=self._cgroup().sub_cgroups(sub_cgroups))
        plan = prepare_exec(self.id, config, process, self.record.pid, self.record.rootfs, options)
        # the new process's parent exits once it has forked it: as subreaper we inherit it
        put_back = _as_subreaper() if not detach else _nothing
        try:
            result = execute.launch(plan, self._cgroup())
            if pid_file:
                _write_pid_file(pid_file, result.pid)
            if detach:
                return 0
            if result.console_master is not None:
                from ocirun.linux import console
                console.copy_window_size(result.console_master)
            return _wait_in_foreground(result.pid, result.console_master)
        finally:
            put_back()

    def _saved_config_text(self):
        try:
            with open(os.path.join(self.record.directory, CONFIG_COPY), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise OcirunError(f"container {self.id}: no copy of its config.json in its state") from None

    # --- queries ------------------------------------------------------------

    @classmethod
    def load(cls, container_id, root=DEFAULT_ROOT):
        store = StateStore(root)
        from ocirun.state import validate_id
        validate_id(container_id)
        record = ContainerState.load(store.directory(container_id), container_id)
        return cls(container_id, store, record)

    def status(self):
        return self.record.live_status(locked=self._holds_lock)

    def state(self):
        """The runtime-spec state document (runc's extra fields included)."""
        status = self.status()
        return {
            "ociVersion": self.record.oci_version or OCI_VERSION,
            "id": self.id,
            "pid": self.record.pid or 0 if status != STOPPED else 0,
            "status": status,
            "bundle": self.record.bundle,
            "rootfs": self.record.rootfs,
            "created": self.record.created,
            "owner": self.record.owner,
            "annotations": self.record.annotations or {},
        }

    @classmethod
    def list(cls, root=DEFAULT_ROOT):
        store = StateStore(root)
        containers = []
        for container_id in store.ids():
            try:
                containers.append(cls.load(container_id, root))
            except OcirunError:
                continue  # deleted meanwhile
        return containers

    # --- kill / delete ------------------------------------------------------

    @classmethod
    def remove_leftover(cls, container_id, root=DEFAULT_ROOT):
        """The state directory of a create that died before writing its state,
        unless a create still holds it."""
        from ocirun.errors import ContainerNotFound
        store = StateStore(root)
        try:
            fd = store.lock(container_id, wait=False)
        except ContainerNotFound:
            return
        if fd is None:
            return  # a create in progress
        try:
            store.remove(container_id)
        finally:
            os.close(fd)

    def kill(self, signum=SIGTERM, all_processes=False):
        """Signal the init; with all_processes, every process in the container's
        cgroup, whatever the status: once the init has exited that is whatever
        it left, which may be nothing (runc's rule: containerd's shim sends
        `kill --all ID KILL` after every exit it handles)."""
        with self._locked():
            if all_processes:
                self._cgroup().signal_all(signum)
                return
            check_allowed("kill", self.id, self.status())
            self._signal_init(signum)

    def pause(self):
        """Freeze every process of the container (runc's pause)."""
        self._set_frozen("pause", True)

    def resume(self):
        self._set_frozen("resume", False)

    def _set_frozen(self, operation, frozen):
        with self._locked():
            check_allowed(operation, self.id, self.status())
            cgroup = self._cgroup()
            cgroup.freeze() if frozen else cgroup.thaw()
            self.record.status = PAUSED if frozen else RUNNING
            self.record.save()

    def update(self, update):
        """Change linux.resources of a live container (runc's update); `update`
        is a config.ResourceUpdate (config.resource_update makes one)."""
        from ocirun import log
        with self._locked():
            check_allowed("update", self.id, self.status())
            cgroup = self._cgroup()
            if cgroup.unit:
                cgroup.set_properties(update.resources)
            if update.device_rules and not cgroup.rootless:
                cgroup.apply_device_rules(update.device_rules)
            cgroup.apply_resources(update.resources, log.current.warning_to_stderr_when_unlogged, updating=True,
                                   where="update: resources")

    def stats(self):
        """The data of runc's "stats" event."""
        check_allowed("stats", self.id, self.status())
        return self._cgroup().stats()

    def oom_watch(self):
        return self._cgroup().oom_watch()

    def pids(self):
        """Host pids of every process in the container's cgroup."""
        return self._cgroup().pids()

    def delete(self, force=False):
        with self._locked():
            status = self.status()
            if force and status in (CREATED, RUNNING, PAUSED):
                cgroup = self._cgroup()
                if not cgroup.shared:  # others' processes in it are not the container's to kill
                    cgroup.signal_all(SIGKILL)
                self._signal_init(SIGKILL)
                if status == PAUSED:
                    cgroup.thaw()  # frozen processes cannot act on the SIGKILL
                _wait_gone(self.record.pid)
            elif status == CREATED:
                # runc, crun and youki delete a created container; containerd relies on it.
                self._signal_init(SIGKILL)
                _wait_gone(self.record.pid)
            else:
                check_allowed("delete", self.id, status)
            _destroy(self.store, self.id, self._cgroup(), self.record.host_mounts)
            poststop = _hooks_of(self.record).get("poststop")
            _run_poststop_hooks(poststop, self.id, self.record)

    # --- helpers --------------------------------------------------------------

    def _cgroup(self):
        """The cgroup driver create chose, on the path and hierarchies it recorded."""
        # the init's pid only while it is still our process: a cgroup-less
        # container finds its processes from it, and a reused pid is another's
        init_pid = self.record.pid if self.record.init_alive() else None
        from ocirun import cgroups
        return cgroups.from_state(self.record.cgroup_fields(), init_pid)

    def _signal_init(self, signum):
        """Signal the init through a pidfd, after checking it is still our process."""
        try:
            pidfd = os.pidfd_open(self.record.pid)
        except ProcessLookupError:
            return
        try:
            if self.record.init_alive():
                _signal.pidfd_send_signal(pidfd, signum)
        except ProcessLookupError:
            pass
        finally:
            os.close(pidfd)

    def _locked(self):
        return _Lock(self)


class _Lock:
    def __init__(self, container):
        self.container = container

    def __enter__(self):
        c = self.container
        self.fd = c.store.lock(c.id)
        c._holds_lock = True
        c.record = ContainerState.load(c.record.directory, c.id)  # re-read under the lock

    def __exit__(self, *exc):
        self.container._holds_lock = False
        os.close(self.fd)


def _as_subreaper():
    """Become a child subreaper for a foreground run or exec; returns what puts
    the caller back as it was (a library's caller must not keep inheriting
    orphans, detached containers' inits among them, that it never reaps)."""
    from ocirun import _sys
    if _sys.is_child_subreaper():
        return _nothing
    _sys.prctl(_sys.PR_SET_CHILD_SUBREAPER, 1, what="become child subreaper")
    return lambda: _sys.prctl(_sys.PR_SET_CHILD_SUBREAPER, 0, what="stop being a child subreaper")


def _nothing():
    pass


def _hooks_of(record):
    """The hooks create kept in the state, by phase (config.py reads them;
    imported only for a container that has some: start and delete stay cheap)."""
    if not record.hooks:
        return {}
    from ocirun import config as config_module
    return config_module.hooks_from_json(record.hooks)


def _start_must_watch_exec(config):
    """Whether start waits until the init has exec'd, or hears why it did not:
    when the init still has work that can fail after start releases it, or
    poststart hooks must run only once the process has exec'd."""
    process = config.process
    return bool(config.hooks.get("startContainer") or config.hooks.get("poststart")
                or process.apparmor_profile or process.selinux_label
                or (config.seccomp is not None and process.no_new_privileges))


def _creating_record(store, directory, container_id, config, cgroup):
    """The container's state while create runs, saved before anything is made
    and again as create makes what it could not name beforehand (launcher.py):
    a create killed at any point leaves a record of what `delete --force`
    must undo."""
    record = ContainerState(
        directory, id=container_id, status=CREATING, bundle=config.bundle, rootfs=config.root_path,
        created=rfc3339_now(), owner="root" if os.geteuid() == 0 else str(os.geteuid()),
        annotations=config.annotations, oci_version=config.oci_version, **cgroup.state_fields())
    try:
        from ocirun import log
        cgroup.check_free(log.current.warning_to_stderr_when_unlogged)
        record.cgroup_shared = cgroup.shared or None
        if os.environ.get("NOTIFY_SOCKET"):
            from ocirun import notify_socket
            notify_socket.make_directory(directory)
        record.save()
    except BaseException:
        store.remove(container_id)  # nothing else was made
        raise
    return record


def _launch(store, plan, cgroup, record, pid_file):
    """Fork the init and wait for it; then the state says "created".  On any
    failure the container is destroyed and its poststop hooks run."""
    from ocirun.process.launcher import Inherited, Result, launch_init
    from ocirun.process.startsync import create_fifo, create_status_fifo
    config, directory = plan.config, record.directory
    inherited = Inherited(cgroup)
    result = Result()
    try:
        _fifo_path, inherited.fifo_fd = create_fifo(directory)
        if _start_must_watch_exec(config):
            inherited.status_fd = create_status_fifo(directory)
        launch_init(plan, inherited, result, record)
        record.pid, record.pid_start_time = result.pid, result.pid_start_time
        record.status, record.hooks = CREATED, _hooks_kept_in_state(config.hooks)
        record.host_mounts = list(plan.host_mount_points) if plan.host_mount_points else None
        record.save()
        # exec's defaults and seccomp profile, as create saw them
        _write_private_file(os.path.join(directory, CONFIG_COPY), config.text)
        if pid_file:
            _write_pid_file(pid_file, result.pid)
    except BaseException as e:
        # A failing init undoes its own host mounts (init.undo_host_mounts);
        # when we fail after it made them all, they are ours to undo.
        ours = plan.host_mount_points if result.init_mounted and not isinstance(e, ChildSetupError) else None
        _destroy(store, record.id, cgroup, ours)
        # runtime.md: a failed create goes on at "destroy", then poststop
        _run_poststop_hooks(config.hooks.get("poststop"), record.id, config)
        raise
    finally:
        for fd in (inherited.fifo_fd, inherited.status_fd):
            if fd is not None:
                os.close(fd)
    return result


def _hooks_kept_in_state(hooks):
    """What start and delete need, from the config as it was at create: a
    config.json edited later must not change the container."""
    kept = {phase: [hook.to_json() for hook in hooks[phase]]
            for phase in ("startContainer", "poststart", "poststop") if phase in hooks}
    return kept or None


def _run_poststop_hooks(poststop, container_id, source):
    """After the container is gone; a failure is a warning (runtime.md step 13).
    source: its config or its state record (hooks.state_document)."""
    if not poststop:
        return
    from ocirun import hooks
    from ocirun.log import current as log
    state = hooks.state_document(container_id, STOPPED, source)
    hooks.run_all_warning("poststop", poststop, state, log.warning_to_stderr_when_unlogged)


def _destroy(store, container_id, cgroup, host_mounts=None):
    try:
        if host_mounts:
            from ocirun.linux.rootfs import undo_host_mounts
            undo_host_mounts(host_mounts)
        cgroup.destroy()
    finally:
        store.remove(container_id)


def _wait_gone(pid, timeout=10.0):
    """Wait for a process that is not necessarily our child to exit."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        import select  # only delete --force of a live container waits here
        if not select.select([pidfd], [], [], timeout)[0]:
            raise WrongState(f"process {pid} did not exit within {timeout:g}s")
    finally:
        os.close(pidfd)


def _wait_in_foreground(pid, console_master=None, forwarded=None):
    """A foreground run's or exec's end: the caller's signals passed on to
    `pid` (forwarded: already), the pty relayed, and its exit status."""
    if forwarded is None:
        forwarded = _forward_signals(pid)
    try:
        if console_master is not None:
            from ocirun.linux import console
            console.relay(console_master, pid)
        return _wait_exit_status(pid)
    finally:
        for signum, handler in forwarded.items():
            _signal.signal(signum, handler)


def _wait_exit_status(pid):
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        return os.WEXITSTATUS(status)


_FORWARDED_SIGNALS = (_signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGTERM,
                      _signal.SIGUSR1, _signal.SIGUSR2, _signal.SIGWINCH)


def _forward_signals(pid):
    """Pass the signals a foreground `run` gets on to the container, as runc does."""
    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    return {signum: _signal.signal(signum, forward) for signum in _FORWARDED_SIGNALS}


def _write_pid_file(path, pid):
    """As runc writes it: a new file beside it, then renamed over it, so that
    a symlink planted at `path` (or at the temporary name) is replaced, never
    written through."""
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _write_private_file(path, data):
    """A file of the state directory: root's alone (it holds the process's environment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
