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
Each call is appended to the log file as a JSON line {"method", "args"}.

Usage: fake_systemd.py BUS_ADDRESS LOG_FILE   (prints "ready" once it owns the name)
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
    def __init__(self, connection, log_path):
        self.connection = connection
        self.log_path = log_path
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
        for hierarchy in hierarchies():
            parent = hierarchy
            for level in relative.split("/")[:-1]:
                parent = os.path.join(parent, level)
                if not os.path.isdir(parent):
                    os.mkdir(parent)
                    self.made_slices.add(parent)
            os.mkdir(os.path.join(hierarchy, relative))
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
    connection = open_dbus_connection(bus=address)
    connection.send_and_get_reply(message_bus.RequestName("org.freedesktop.systemd1", 0x4))
    fake = FakeSystemd(connection, log_path)
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
