"""--log / --log-format: the lines engines read back from the runtime.

runc's JSON form is one object per line: {"level", "msg", "time"}; containerd
shows the last error's msg to its user, so messages must stand on their own.
"""
import os
import time

from ocirun import jsonio


def rfc3339_now():
    """UTC with nanoseconds, the form of runc's log times and state's `created`."""
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + f".{now % 10**9:09d}Z"


def one_line(message):
    """The message with every unprintable character escaped: a line written
    for a person or a line-reading engine stays one line whatever a config
    put into a name (a NUL, a newline, U+0085 that splitlines() breaks at)."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in message)


class Logger:
    """runc's logging: lines in logrus's text form (time="..." level=... msg="...")
    or as JSON, to --log's file when there is one, else the debug lines (with
    --debug) to stderr; warnings go to stderr, prefixed, when unlogged."""

    def __init__(self, path=None, log_format="text", debug=False):
        self.path = path
        self.format = log_format
        self.debug_enabled = debug
        self.fd = None
        if path:
            try:  # opened now: an unusable --log is the command's error, not a silence
                self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as e:
                from ocirun.errors import OcirunError
                raise OcirunError(f"--log {path}: {e.strerror}") from None

    def _line(self, level, message):
        stamp = rfc3339_now()
        if self.format == "json":
            return jsonio.dumps({"level": level, "msg": message, "time": stamp})
        escaped = one_line(message.replace("\\", "\\\\").replace('"', '\\"'))
        return f'time="{stamp}" level={level} msg="{escaped}"'

    def _write(self, level, message, fd=None):
        fd = self.fd if self.fd is not None else fd
        if fd is None:
            return
        try:
            os.write(fd, (self._line(level, message) + "\n").encode())
        except OSError:
            pass  # a log that cannot be written must not hide the real outcome

    def warning_to_stderr_when_unlogged(self, message):
        if self.fd is not None:
            self._write("warning", message)
        else:
            os.write(2, f"ocirun: warning: {one_line(message)}\n".encode())

    def debug(self, message):
        if self.debug_enabled:
            self._write("debug", message, fd=2)

    def warning(self, message):
        self._write("warning", message)

    def error(self, message):
        self._write("error", message)


# The process-wide logger; the CLI replaces it with one built from its flags.
current = Logger()
