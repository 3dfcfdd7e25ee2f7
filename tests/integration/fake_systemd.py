"""A stand-in for systemd's manager on a private D-Bus bus, for the tests of
--systemd-cgroup on hosts without systemd as PID 1 (this one, the v2 VM).

It owns org.freedesktop.systemd1 and answers what the driver calls the way
systemd does, on the real cgroup filesystem:
  StartTransientUnit  makes the scope's cgroup under its slice (name=systemd
                      and the accounted controllers on v1, the unified
                      hierarchy on v2), moves PIDs in, returns a job and
                      signals JobRemoved "done"; a unit already running is
                      org.freedesktop.systemd1.UnitExists
  StopUnit            kills what is in the scope, removes its cgroup, job as above
  SetUnitProperties, ResetFailedUnit: accepted
  Get (org.freedesktop.DBus.Properties): the manager's ControlGroup
Each call is appended to the log file as a JSON line {"method", "args"}.

With --user UID BASE it is a user's manager (systemd --user) whose own
cgroup is BASE on cgroup v2: it makes BASE, and units below it, as that
manager makes them, running as UID (directories and files UID's; memory and
pids enabled on the way down).

Usage: fake_systemd.py BUS_ADDRESS LOG_FILE [--user UID BASE]
(prints "ready" once it owns the name)
"""
import json
import os
import signal
import sys
import time

from jeepney import DBusAddress, HeaderFields, MessageType, message_bus, new_error, new_method_return, new_signal
from jeepney.io.blocking import open_dbus_connection

CGROUP_ROOT = "/sys/fs/cgroup"
MANAGER = DBusAddress("/org/freedesktop/systemd1", interface="org.freedesktop.systemd1.Manager")


def hierarchies():
    """Where systemd keeps a scope: v2's one hierarchy, or on v1 its own
    name=systemd one plus the controllers it accounts for."""
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        return [CGROUP_ROOT]
    return [os.path.join(CGROUP_ROOT, name) for name in ("systemd", "memory", "pids", "cpu")
            if os.path.isdir(os.path.join(CGROUP_ROOT, name))]


def slice_path(name):
    stem = name[:-len(".slice")]
    levels = stem.split("-")
    return "/".join("-".join(levels[:i + 1]) + ".slice" for i in range(len(levels)))


def plain(value):
    """A D-Bus value as JSON can hold it."""
    if isinstance(value, bytes):
        return list(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class FakeSystemd:
    def __init__(self, connection, log_path, user=None, base=""):
        self.connection = connection
        self.log_path = log_path
        self.user = user  # the uid whose manager this is, or None: the system's
        self.base = base.strip("/")  # the manager's own cgroup, below the root
        self.units = {}  # name -> relative cgroup path
        self.made_slices = set()
        self.jobs = 0

    def log(self, method, args):
        with open(self.log_path, "a") as f:
            f.write(json.dumps({"method": method, "args": plain(args)}) + "\n")

    def handle(self, message):
        method = message.header.fields.get(HeaderFields.member)
        self.log(method, message.body)
        handler = getattr(self, method, None)
        if handler is None:
            self.connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", "s",
                                           (f"fake systemd has no {method}",)))
            return
        handler(message)

    def finish_job(self, message, unit):
        self.jobs += 1
        job = f"/org/freedesktop/systemd1/job/{self.jobs}"
        self.connection.send(new_method_return(message, "o", (job,)))
        self.connection.send(new_signal(MANAGER, "JobRemoved", "uoss", (self.jobs, job, unit, "done")))

    def StartTransientUnit(self, message):
        name, _mode, properties, _aux = message.body
        if name in self.units:
            self.connection.send(new_error(message, "org.freedesktop.systemd1.UnitExists", "s",
                                           (f"Unit {name} was already loaded or has a fragment file.",)))
            return
        props = {key: value for key, (_signature, value) in properties}
        relative = slice_path(props.get("Slice", "system.slice")) + "/" + name
        if self.base:
            relative = self.base + "/" + relative
        for hierarchy in hierarchies():
            parent = hierarchy
            for level in relative.split("/")[:-1]:
                if self.user is not None:
                    with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                        f.write("+memory +pids")
                parent = os.path.join(parent, level)
                if not os.path.isdir(parent):
                    os.mkdir(parent)
                    self.made_slices.add(parent)
                    self.delegate(parent)
            if self.user is not None:
                with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory +pids")
            os.mkdir(os.path.join(hierarchy, relative))
            self.delegate(os.path.join(hierarchy, relative))
            for pid in props.get("PIDs", []):
                with open(os.path.join(hierarchy, relative, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
        self.units[name] = relative
        self.finish_job(message, name)

    def StopUnit(self, message):
        name, _mode = message.body
        relative = self.units.pop(name, None)
        if relative is None:
            self.connection.send(new_error(message, "org.freedesktop.systemd1.NoSuchUnit", "s",
                                           (f"Unit {name} not loaded.",)))
            return
        for hierarchy in hierarchies():
            directory = os.path.join(hierarchy, relative)
            for _ in range(500):
                try:
                    with open(os.path.join(directory, "cgroup.procs")) as f:
                        pids = [int(line) for line in f if line.strip()]
                except FileNotFoundError:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                try:
                    os.rmdir(directory)
                    break
                except OSError:
                    time.sleep(0.01)
        self.finish_job(message, name)

    def delegate(self, directory):
        """A user manager makes its cgroups as the user: directory and files are the user's."""
        if self.user is None:
            return
        os.chown(directory, self.user, self.user)
        for name in os.listdir(directory):
            os.chown(os.path.join(directory, name), self.user, self.user)

    def Get(self, message):
        _interface, name = message.body
        if name != "ControlGroup":
            self.connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownProperty", "s", (name,)))
            return
        self.connection.send(new_method_return(message, "v", (("s", "/" + self.base),)))

    def SetUnitProperties(self, message):
        self.connection.send(new_method_return(message))

    def ResetFailedUnit(self, message):
        self.connection.send(new_method_return(message))

    def remove_slices(self):
        for directory in sorted(self.made_slices, key=len, reverse=True):
            try:
                os.rmdir(directory)
            except OSError:
                pass


def main():
    address, log_path = sys.argv[1:3]
    user, base = (int(sys.argv[4]), sys.argv[5]) if sys.argv[3:4] == ["--user"] else (None, "")
    connection = open_dbus_connection(bus=address)
    connection.send_and_get_reply(message_bus.RequestName("org.freedesktop.systemd1", 0x4))
    fake = FakeSystemd(connection, log_path, user, base)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    try:
        while True:
            message = connection.receive()
            if message.header.message_type == MessageType.method_call:
                fake.handle(message)
    finally:
        fake.remove_slices()


if __name__ == "__main__":
    main()
