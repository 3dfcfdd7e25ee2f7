"""--log / --log-format: the lines engines read back from the runtime.

runc's JSON form is one object per line: {"level", "msg", "time"}; containerd
shows the last error's msg to its user, so messages must stand on their own.
"""
import time

from ocirun import jsonio


def rfc3339_now():
    """UTC with nanoseconds, the form of runc's log times and state's `created`."""
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + f".{now % 10**9:09d}Z"


class Logger:
    def __init__(self, path=None, log_format="text", debug=False):
        self.path = path
        self.format = log_format
        self.debug_enabled = debug

    def _write(self, level, message):
        if not self.path:
            return
        stamp = rfc3339_now()
        if self.format == "json":
            line = jsonio.dumps({"level": level, "msg": message, "time": stamp})
        else:
            line = f'time="{stamp}" level={level} msg="{message}"'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass  # a log that cannot be written must not hide the real outcome

    def warning_to_stderr_when_unlogged(self, message):
        if self.path:
            self._write("warning", message)
        else:
            import sys
            sys.stderr.write(f"ocirun: warning: {message}\n")

    def debug(self, message):
        if self.debug_enabled:
            self._write("debug", message)

    def warning(self, message):
        self._write("warning", message)

    def error(self, message):
        self._write("error", message)


# The process-wide logger; the CLI replaces it with one built from its flags.
current = Logger()
