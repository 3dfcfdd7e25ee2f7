"""Watching a container's memory cgroup for OOM kills, for `events`.

v1: an eventfd registered through cgroup.event_control on memory.oom_control;
each read says how many OOMs happened.  v2: the kernel signals a change of
memory.events to inotify watchers; the oom_kill count in it says how many.
"""
import os


class EventfdWatch:
    def __init__(self, directory):
        self.fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        control = os.open(os.path.join(directory, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            with open(os.path.join(directory, "cgroup.event_control"), "w") as f:
                f.write(f"{self.fd} {control}")
        except OSError:
            os.close(self.fd)
            raise
        finally:
            os.close(control)  # the kernel keeps its own reference

    def new_kills(self):
        """How many OOMs since the last call."""
        try:
            return int.from_bytes(os.read(self.fd, 8), "little")
        except BlockingIOError:
            return 0

    def close(self):
        os.close(self.fd)


class MemoryEventsWatch:
    def __init__(self, directory):
        from ocirun import _sys
        self.events = os.path.join(directory, "memory.events")
        self.fd = _sys.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            _sys.inotify_add_watch(self.fd, self.events, _sys.IN_MODIFY)
        except OSError:
            os.close(self.fd)
            raise
        self.kills = 0
        self.kills = self._count()

    def _count(self):
        """memory.events' oom_kill, or the last count once the cgroup is gone."""
        try:
            with open(self.events) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except FileNotFoundError:  # the cgroup is gone with the container
            pass
        return self.kills

    def new_kills(self):
        try:
            while os.read(self.fd, 4096):
                pass
        except BlockingIOError:
            pass
        count = self._count()
        new, self.kills = max(0, count - self.kills), count
        return new

    def close(self):
        os.close(self.fd)
