"""process.terminal with --console-socket: ocirun makes a pty in the
container and sends its master over the socket, as conmon and containerd's
shim expect from runc."""
import array
import os
import socket
import threading

import pytest

from helpers import assert_clean_failure, sh


class ConsoleSocket:
    """An engine's end: accepts one connection, takes the pty master from it
    (SCM_RIGHTS) and collects what the container writes to its terminal."""

    def __init__(self, path):
        self.path = str(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.name = None
        self.master = None
        self.received = threading.Event()
        self.chunks = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.listener.close()
        if self.master is not None:
            os.close(self.master)

    def _serve(self):
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        with connection:
            data, ancillary, _, _ = connection.recvmsg(1024, socket.CMSG_SPACE(4))
        self.name = data
        self.master = array.array("i", ancillary[0][2][:4])[0]
        self.received.set()
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: every slave end is closed
                break
            if not chunk:
                break
            self.chunks.append(chunk)

    def output(self, timeout=10):
        """What came through the terminal until the container's side closed."""
        assert self.received.wait(timeout), "no pty master came over the console socket"
        self.thread.join(timeout)
        return b"".join(self.chunks).decode(errors="replace")


def test_create_sends_the_pty_master(runtime, bundle, tmp_path):
    bundle.process["terminal"] = True
    bundle.process["consoleSize"] = {"height": 30, "width": 100}
    bundle.set_args(sh("tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-on-the-tty; "
                       "ps -o pid,tty | grep -c pts/0"))
    cid = runtime.new_id()
    with ConsoleSocket(tmp_path / "console.sock") as console:
        runtime.create(cid, bundle, "--console-socket", console.path)
        runtime.start(cid)
        lines = console.output().replace("\r", "").split("\n")
    assert console.name == b"/dev/ptmx"
    assert lines[:3] == ["/dev/pts/0", "30 100", "all-on-the-tty"]
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


def test_the_terminal_is_the_controlling_one(runtime, bundle, tmp_path):
    """The shell's session has the pty as its controlling terminal: /dev/tty opens."""
    bundle.process["terminal"] = True
    bundle.set_args(sh("echo via-dev-tty > /dev/tty"))
    cid = runtime.new_id()
    with ConsoleSocket(tmp_path / "console.sock") as console:
        runtime.create(cid, bundle, "--console-socket", console.path)
        runtime.start(cid)
        assert "via-dev-tty" in console.output()
    runtime.delete(cid, force=True)


def test_console_socket_errors(runtime, bundle, tmp_path):
    bundle.process["terminal"] = True
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, "--console-socket", str(tmp_path / "nobody"), cid),
                         cid, f"--console-socket {tmp_path}/nobody")
    bundle.process["terminal"] = False
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, "--console-socket", str(tmp_path / "x"), cid),
                         cid, "--console-socket: config.json's process.terminal is false")


def test_a_foreground_run_relays_the_terminal(runtime, bundle):
    """runc's run does the engine's part itself when no console socket is given:
    the container's pty output comes out on run's stdout, and its status back."""
    bundle.process["terminal"] = True
    result = runtime.run(runtime.new_id(), bundle.set_args(sh("tty; [ -t 0 ] && echo stdin-is-a-tty; exit 3")))
    assert result.returncode == 3, result.stderr
    assert result.stdout.replace("\r", "").split("\n")[:2] == ["/dev/pts/0", "stdin-is-a-tty"]


def test_a_detached_run_with_a_terminal_needs_a_console_socket(runtime, bundle):
    bundle.process["terminal"] = True
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("run", "-d", "-b", bundle, cid), cid, "a terminal needs --console-socket")


def test_a_foreground_run_passes_window_size_changes_on(runtime, bundle):
    """run's own stdin is a terminal: the container's pty takes its size, and
    a later SIGWINCH to run carries the new size over (the kernel then signals
    the container's foreground process group)."""
    import fcntl
    import pty
    import struct
    import termios
    import time
    bundle.process["terminal"] = True
    bundle.set_args(sh("trap 'stty size' WINCH; stty size; echo ready; while :; do sleep 0.05; done"))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 90, 0, 0))
    run = runtime.popen("run", "-b", bundle, runtime.new_id(), stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 10
    while b"ready" not in output and time.monotonic() < deadline:
        output += os.read(master, 4096)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    run.send_signal(28)  # SIGWINCH, as the terminal would send it
    while b"40 120" not in output and time.monotonic() < deadline:
        output += os.read(master, 4096)
    run.kill()
    run.wait(10)
    os.close(master)
    assert b"33 90" in output and b"40 120" in output, output


def on_a_terminal(argv):
    """Run argv with a new pty as its stdio and controlling terminal (runc
    opens /dev/tty for a foreground terminal); (exit status, output)."""
    import fcntl
    import pty
    import subprocess
    import termios
    master, slave = pty.openpty()

    def own_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal)
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every slave end closed
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    return process.wait(10), output.decode(errors="replace").replace("\r", "")


def test_a_foreground_exec_relays_the_terminal(ocirun_and_runc, bundle, tmp_path):
    """CRI-O runs a terminal exec as `exec --process P ID` (P with
    "terminal": true), without a console socket, on a pty it owns: the
    runtime relays the new pty, as runc does, and passes the status back."""
    import json
    rt = ocirun_and_runc
    cid = rt.new_id()
    rt.run(cid, bundle.set_args(["sleep", "30"]), "-d")
    process = dict(bundle.process, terminal=True, args=sh("tty; [ -t 0 ] && echo stdin-is-a-tty; exit 4"))
    (tmp_path / "process.json").write_text(json.dumps(process))
    status, output = on_a_terminal(rt.argv("exec", "--process", str(tmp_path / "process.json"), cid))
    assert status == 4, output
    lines = output.split("\n")
    assert lines[0].startswith("/dev/pts/") and lines[1] == "stdin-is-a-tty", output
    detached = rt("exec", "-d", "-t", cid, "true")
    assert detached.returncode != 0 and "console" in detached.stderr.lower(), detached.stderr


@pytest.mark.parametrize("user, owner", [({"uid": 0, "gid": 0}, "0:5"), ({"uid": 1000, "gid": 100}, "1000:5")])
def test_the_pty_belongs_to_the_user_and_the_devpts_group(ocirun_and_runc, bundle, user, owner):
    """runc's spec mounts devpts with gid=5 (tty): the pty keeps that group."""
    rt = ocirun_and_runc
    devpts = next(m for m in bundle.config["mounts"] if m["destination"] == "/dev/pts")
    if not any(o.startswith("gid=") for o in devpts["options"]):
        devpts["options"].append("gid=5")
    bundle.process["terminal"] = True
    bundle.process["user"] = user
    bundle.set_args(sh("stat -c %u:%g $(tty)")).save()
    status, output = on_a_terminal(rt.argv("run", "--bundle", bundle.path, rt.new_id()))
    assert (status, output.strip()) == (0, owner), output
