"""ocirun's command line, runc-compatible: parse, make one library call,
print, exit.  The only place that turns exceptions into a stderr line and an
exit status.

The options are a table read by a small parser rather than argparse, which
imports re and gettext: a quarter of a container start's import time.
"""
import os
import sys

from ocirun.version import OCI_VERSION, __version__
from ocirun.errors import OcirunError

# command -> (its arguments, what it does), in runc's order; `ocirun --help`
# lists them, `ocirun COMMAND --help` adds its flags (FLAG_HELP)
COMMAND_HELP = {
    "checkpoint": ("[options] ID", "not supported: ocirun has no CRIU support yet"),
    "create": ("[options] ID", "create a container; its process waits for start"),
    "delete": ("[--force] ID", "delete a container and everything it made"),
    "events": ("[--stats] [--interval T] ID", "print a container's events as JSON lines: stats, oom"),
    "exec": ("[options] ID [COMMAND ARGS...]", "run a new process inside a running container"),
    "kill": ("[--all] ID [SIGNAL]", "send a signal (default SIGTERM) to the init, or with --all to every process"),
    "list": ("[--format table|json] [--quiet]", "list the containers under --root"),
    "pause": ("ID", "freeze every process of a running container"),
    "ps": ("[--format table|json] ID [PS ARGS...]", "the processes of a container (ps -ef lines, or pids)"),
    "restore": ("[options] ID", "not supported: ocirun has no CRIU support yet"),
    "resume": ("ID", "thaw a paused container"),
    "run": ("[options] ID", "create and start a container; without -d, wait and exit with its status"),
    "spec": ("[--bundle DIR] [--rootless]", "write runc's default config.json"),
    "start": ("ID", "run the user process of a created container"),
    "state": ("ID", "print the state of a container as JSON"),
    "update": ("[options] ID", "change the resources of a live container"),
    "features": ("", "print what this ocirun supports (runtime-spec features.md)"),
}

FLAG_HELP = {
    "--root": "state directory (default /run/ocirun; rootless: $XDG_RUNTIME_DIR/ocirun)", "--log": "write log lines to this file",
    "--log-format": "text (logrus's form, the default) or json", "--debug": "log debug lines too",
    "--systemd-cgroup": "make each cgroup a systemd scope (cgroupsPath slice:prefix:name)",
    "--rootless": "auto, true or false: rootless mode (auto: when not the host's root)",
    "--criu": "accepted as runc's: checkpoint and restore are not supported yet",
    "--version": "print the version", "--help": "show this help",
    "--bundle": "the bundle directory (default: the current one)",
    "--pid-file": "write the process's pid to this file",
    "--console-socket": "an AF_UNIX socket that gets the pty's master (process.terminal)",
    "--no-pivot": "move the rootfs over / and chroot instead of pivot_root",
    "--no-new-keyring": "keep the caller's session keyring",
    "--preserve-fds": "pass fds 3 to 3+N-1 on to the process",
    "--detach": "return once the process runs", "--keep": "keep the container once it has exited",
    "--all": "signal every process of the container",
    "--force": "kill a running container first", "--format": "table or json", "--quiet": "print the ids alone",
    "--stats": "print one stats event and exit", "--interval": "time between stats events (default 5s)",
    "--resources": "a linux.resources object, from a file or - for stdin",
    "--memory": "memory limit (e.g. 512m)", "--memory-swap": "memory plus swap limit",
    "--memory-reservation": "memory soft limit", "--kernel-memory": "kernel memory limit (deprecated)",
    "--kernel-memory-tcp": "kernel TCP memory limit", "--cpu-share": "the same as --cpu-shares",
    "--cpu-shares": "CPU shares (relative weight)", "--cpu-quota": "CPU time in microseconds per period",
    "--cpu-period": "CPU CFS period in microseconds", "--cpu-rt-period": "real-time period in microseconds",
    "--cpu-rt-runtime": "real-time runtime in microseconds", "--cpuset-cpus": "CPUs to use (0-3, 0,1)",
    "--cpuset-mems": "memory nodes to use", "--pids-limit": "maximum number of processes",
    "--blkio-weight": "block IO weight (10 to 1000)",
    "--process": "the process, as a config.json process object in a file",
    "--cwd": "the process's working directory", "--env": "set an environment variable (K=V); repeatable",
    "--user": "UID[:GID] to run as", "--additional-gids": "an additional group id; repeatable",
    "--cap": "add a capability; repeatable", "--no-new-privs": "set no_new_privs",
    "--apparmor": "the AppArmor profile", "--process-label": "the SELinux label",
    "--tty": "give the process a pty (relayed in the foreground, or sent to --console-socket)",
    "--ignore-paused": "exec even in a paused container",
    "--cgroup": "join a sub-cgroup of the container's: PATH, or CONTROLLER[,...]:PATH on v1; repeatable",
}

FLAG, VALUE, NUMBER, LIST = "flag", "value", "number", "list"  # LIST: repeatable, values collected

GLOBAL_OPTIONS = {
    "--root": ("root", VALUE), "--log": ("log", VALUE), "--log-format": ("log_format", VALUE),
    "--debug": ("debug", FLAG), "--version": ("version", FLAG), "-v": ("version", FLAG),
    "--systemd-cgroup": ("systemd_cgroup", FLAG),
    # --criu: accepted as runc's; ocirun has no CRIU support yet (checkpoint says so)
    "--rootless": ("rootless", VALUE), "--criu": ("criu", VALUE),
    "--help": ("help", FLAG), "-h": ("help", FLAG),
}
GLOBAL_DEFAULTS = {"root": None, "log": None, "log_format": "text", "debug": False,
                   "version": False, "help": False, "systemd_cgroup": False, "rootless": "auto", "criu": "criu"}

_CREATE_OPTIONS = {
    "--bundle": ("bundle", VALUE), "-b": ("bundle", VALUE), "--pid-file": ("pid_file", VALUE),
    "--no-pivot": ("no_pivot", FLAG), "--no-new-keyring": ("no_new_keyring", FLAG),
    "--preserve-fds": ("preserve_fds", NUMBER), "--console-socket": ("console_socket", VALUE),
}
_CREATE_DEFAULTS = {"bundle": ".", "pid_file": None, "no_pivot": False, "no_new_keyring": False,
                    "preserve_fds": 0, "console_socket": None}

# runc update's flags -> the name of their value (config.UPDATE_FIELDS says where it goes)
_UPDATE_FLAGS = {
    "--memory": "memory", "--memory-swap": "memory_swap", "--memory-reservation": "memory_reservation",
    "--kernel-memory": "kernel_memory", "--kernel-memory-tcp": "kernel_memory_tcp",
    "--cpu-share": "cpu_shares", "--cpu-shares": "cpu_shares", "--cpu-quota": "cpu_quota",
    "--cpu-period": "cpu_period", "--cpu-rt-period": "cpu_rt_period", "--cpu-rt-runtime": "cpu_rt_runtime",
    "--cpuset-cpus": "cpuset_cpus", "--cpuset-mems": "cpuset_mems", "--pids-limit": "pids_limit",
    "--blkio-weight": "blkio_weight",
}
_SIZE_FLAGS = {"memory", "memory_swap", "memory_reservation", "kernel_memory", "kernel_memory_tcp"}
_LIST_FLAGS = {"cpuset_cpus", "cpuset_mems"}

# command -> (options, defaults, positional names; a trailing "?" marks an optional one,
# a trailing "*" the list of all the remaining arguments)
COMMANDS = {
    "create": (_CREATE_OPTIONS, _CREATE_DEFAULTS, ("id",)),
    "run": ({**_CREATE_OPTIONS, "--detach": ("detach", FLAG), "-d": ("detach", FLAG),
             "--keep": ("keep", FLAG)},
            {**_CREATE_DEFAULTS, "detach": False, "keep": False}, ("id",)),
    "start": ({}, {}, ("id",)),
    "state": ({}, {}, ("id",)),
    "kill": ({"--all": ("all", FLAG), "-a": ("all", FLAG)}, {"all": False}, ("id", "signal?")),
    "delete": ({"--force": ("force", FLAG), "-f": ("force", FLAG)}, {"force": False}, ("id",)),
    "list": ({"--format": ("format", VALUE), "-f": ("format", VALUE), "--quiet": ("quiet", FLAG),
              "-q": ("quiet", FLAG)}, {"format": "table", "quiet": False}, ()),
    "spec": ({"--bundle": ("bundle", VALUE), "-b": ("bundle", VALUE), "--rootless": ("rootless", FLAG)},
             {"bundle": ".", "rootless": False}, ()),
    "features": ({}, {}, ()),
    "pause": ({}, {}, ("id",)),
    "events": ({"--stats": ("stats", FLAG), "--interval": ("interval", VALUE)},
               {"stats": False, "interval": "5s"}, ("id",)),
    "update": ({"--resources": ("resources", VALUE), "-r": ("resources", VALUE),
                **{flag: (dest, VALUE) for flag, dest in _UPDATE_FLAGS.items()}},
               {"resources": None, **{dest: None for dest in _UPDATE_FLAGS.values()}}, ("id",)),
    "resume": ({}, {}, ("id",)),
    # runc's checkpoint/restore take many options; all of them end in the same error
    "checkpoint": ({}, {}, ()),
    "restore": ({}, {}, ()),
    "exec": ({"--process": ("process", VALUE), "-p": ("process", VALUE), "--cwd": ("cwd", VALUE),
              "--env": ("env", LIST), "-e": ("env", LIST), "--user": ("user", VALUE), "-u": ("user", VALUE),
              "--additional-gids": ("additional_gids", LIST), "-g": ("additional_gids", LIST),
              "--cap": ("cap", LIST), "-c": ("cap", LIST), "--no-new-privs": ("no_new_privs", FLAG),
              "--apparmor": ("apparmor", VALUE), "--process-label": ("process_label", VALUE),
              "--tty": ("tty", FLAG), "-t": ("tty", FLAG), "--console-socket": ("console_socket", VALUE),
              "--detach": ("detach", FLAG), "-d": ("detach", FLAG), "--pid-file": ("pid_file", VALUE),
              "--preserve-fds": ("preserve_fds", NUMBER), "--ignore-paused": ("ignore_paused", FLAG),
              "--cgroup": ("cgroup", LIST)},
             {"process": None, "cwd": None, "env": [], "user": None, "additional_gids": [], "cap": [],
              "no_new_privs": False, "apparmor": None, "process_label": None, "tty": False,
              "console_socket": None, "detach": False, "pid_file": None, "preserve_fds": 0,
              "ignore_paused": False, "cgroup": []},
             ("id", "args*")),
    "ps": ({"--format": ("format", VALUE), "-f": ("format", VALUE)}, {"format": "table"}, ("id", "ps_args*")),
}

_CHOICES = {"log_format": ("text", "json"), "format": ("table", "json"), "rootless": ("auto", "true", "false")}


class UsageError(OcirunError):
    """A command line ocirun cannot read; `status` is runc's exit status for
    it (1; 3 for an unknown command)."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


class Arguments:
    def __init__(self, values):
        self.__dict__.update(values)


def parse_args(argv):
    """(command or None, Arguments) from argv, runc's flags and positionals."""
    values = dict(GLOBAL_DEFAULTS)
    rest = _parse_options(list(argv), GLOBAL_OPTIONS, values, stop_at_positional=True, where="")
    if values["root"] is None:
        from ocirun.rootless import default_state_root
        values["root"] = default_state_root()
    if not rest or values["help"] or values["version"]:
        return None, Arguments(values)
    command, rest = rest[0], rest[1:]
    if command not in COMMANDS:
        # runc's words (urfave/cli's), with or without -h after the name
        raise UsageError(f"No help topic for {command!r}: no such command (see ocirun --help)", status=3)
    options, defaults, positional_names = COMMANDS[command]
    values.update(defaults)
    if rest and rest[0] in ("-h", "--help"):
        values["help"] = command
        return None, Arguments(values)
    if command in ("checkpoint", "restore"):
        values["options"] = rest  # whatever they are: the command only says it is unsupported
        return command, Arguments(values)
    # a trailing "name*" takes everything after the other positionals, options
    # included (ps ID -o pid,comm), so option parsing stops at the first positional
    takes_rest = bool(positional_names) and positional_names[-1].endswith("*")
    positionals = _parse_options(rest, options, values, stop_at_positional=takes_rest, where=command)
    if takes_rest:
        fixed = len(positional_names) - 1
        values[positional_names[-1].rstrip("*")] = positionals[fixed:]
        positionals, positional_names = positionals[:fixed], positional_names[:-1]
    required = [name for name in positional_names if not name.endswith("?")]
    if "--help" in positionals[:len(required)] or "-h" in positionals[:len(required)]:
        values["help"] = command
        return None, Arguments(values)
    if len(positionals) < len(required):
        raise UsageError(f"{command}: missing {' and '.join(required[len(positionals):])}")
    if len(positionals) > len(positional_names):
        raise UsageError(f"{command}: unexpected argument {positionals[len(positional_names)]!r}")
    for name in positional_names:
        values[name.rstrip("?")] = positionals.pop(0) if positionals else None
    return command, Arguments(values)


def _parse_options(args, table, values, stop_at_positional, where):
    positionals = []
    while args:
        arg = args.pop(0)
        if arg == "--":
            positionals.extend(args)
            break
        if not arg.startswith("-") or arg == "-":
            if stop_at_positional:
                return [arg] + args
            positionals.append(arg)
            continue
        name, has_value, inline = arg.partition("=")
        if name in ("-h", "--help") and where:
            positionals.append(name)  # the command's help (parse_args)
            continue
        if name not in table:
            raise UsageError(f"unknown option {name}" + (f" for {where}" if where else ""))
        dest, kind = table[name]
        if kind == FLAG:
            values[dest] = inline.lower() not in ("false", "0") if has_value else True
            continue
        if not has_value:
            if not args:
                raise UsageError(f"option {name} needs a value")
            inline = args.pop(0)
        if kind == NUMBER:
            if not inline.isdigit():
                raise UsageError(f"option {name} takes a number, not {inline!r}")
            inline = int(inline)
        elif kind == LIST:
            values[dest] = values[dest] + [inline]
            continue
        elif dest in _CHOICES and inline not in _CHOICES[dest]:
            raise UsageError(f"option {name} takes one of {', '.join(_CHOICES[dest])}")
        values[dest] = inline
    return positionals


def usage(command=None):
    """`ocirun --help`, or `ocirun COMMAND --help`, laid out as runc's are
    (NAME:, USAGE:, then the commands or options), for readers of both."""
    if command is None:
        lines = ["NAME:", "   ocirun - Open Container Initiative runtime", "",
                 "USAGE:", "   ocirun [global options] command [command options] [arguments...]", "",
                 "COMMANDS:"]
        lines += [f"   {name:<11} {COMMAND_HELP[name][1]}" for name in sorted(COMMAND_HELP)]
        lines += ["", "GLOBAL OPTIONS:"] + _flag_lines(GLOBAL_OPTIONS)
        lines += ["", "`ocirun COMMAND --help` lists the command's options."]
    else:
        arguments, summary = COMMAND_HELP[command]
        lines = ["NAME:", f"   ocirun {command} - {summary}", "",
                 "USAGE:", f"   ocirun {command} {arguments}".rstrip()]
        flags = _flag_lines(COMMANDS[command][0])
        if flags:
            lines += ["", "OPTIONS:"] + flags
    return "\n".join(lines) + "\n"


def _flag_lines(table):
    """One line per flag: its names (long, then short) and what it does."""
    names = {}
    for flag, (dest, kind) in table.items():
        names.setdefault((dest, kind), []).append(flag)
    lines = []
    for (dest, kind), flags in names.items():
        flags.sort(key=lambda f: not f.startswith("--"))
        described = next((FLAG_HELP[f] for f in flags if f in FLAG_HELP), "")
        value = "" if kind == FLAG else " VALUE"
        lines.append(f"   {', '.join(flags) + value:<28} {described}")
    return lines


def parse_signal(text):
    """SIGTERM, TERM, term or 15 -> 15; 0 checks that the process exists, as kill(2)."""
    import _signal
    if text.isdigit():
        number = int(text)
        if 0 <= number < _signal.NSIG:
            return number
    elif text:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        number = getattr(_signal, name, None)
        if isinstance(number, int) and not name.startswith("SIG_"):
            return number
    raise OcirunError(f"invalid signal {text!r}")


# --- one handler per command ------------------------------------------------

def cmd_create(args, container_cls):
    container_cls.create(args.id, bundle=args.bundle, root=args.root, pid_file=args.pid_file,
                         no_pivot=args.no_pivot, no_new_keyring=args.no_new_keyring,
                         preserve_fds=args.preserve_fds, systemd_cgroup=args.systemd_cgroup,
                         console_socket=args.console_socket, rootless=args.rootless,
                         init_as_child=True)  # this process exits next
    return 0


def cmd_run(args, container_cls):
    return container_cls.run(args.id, detach=args.detach, keep=args.keep, bundle=args.bundle, root=args.root,
                             pid_file=args.pid_file, no_pivot=args.no_pivot,
                             no_new_keyring=args.no_new_keyring, preserve_fds=args.preserve_fds,
                             systemd_cgroup=args.systemd_cgroup, console_socket=args.console_socket,
                             rootless=args.rootless, init_as_child=True)  # waited for, or this process exits next


def cmd_start(args, container_cls):
    container_cls.load(args.id, args.root).start()
    return 0


def cmd_state(args, container_cls):
    from ocirun import jsonio
    print(jsonio.dumps(container_cls.load(args.id, args.root).state(), indent=2))
    return 0


def cmd_kill(args, container_cls):
    signum = parse_signal(args.signal or "SIGTERM")
    container_cls.load(args.id, args.root).kill(signum, all_processes=args.all)
    return 0


def cmd_delete(args, container_cls):
    from ocirun.errors import ContainerNotFound
    try:
        container = container_cls.load(args.id, args.root)
    except ContainerNotFound:
        if not args.force:
            raise
        # runc's rule, which engines count on after a failed create: nothing to
        # delete is no error with --force, and a create that died is cleared
        container_cls.remove_leftover(args.id, args.root)
        return 0
    container.delete(force=args.force)
    return 0


def cmd_list(args, container_cls):
    from ocirun import jsonio
    states = [c.state() for c in container_cls.list(args.root)]
    if args.quiet:
        for s in states:
            print(s["id"])
    elif args.format == "json":
        print(jsonio.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"])
                 for s in states]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def cmd_spec(args, _container_cls):
    from ocirun.specgen import write_spec
    write_spec(args.bundle, rootless=args.rootless)
    return 0


def cmd_update(args, container_cls):
    """runc's update: -r gives a linux.resources object; the flags override it."""
    from ocirun.config import resource_update
    text = None
    if args.resources:
        text = sys.stdin.read() if args.resources == "-" else _read_text(args.resources)
    values = {}
    for flag, dest in _UPDATE_FLAGS.items():
        value = getattr(args, dest)
        if value is not None and dest not in _LIST_FLAGS:
            value = parse_size(value, flag) if dest in _SIZE_FLAGS else _integer(value, flag)
        values[dest] = value
    update = resource_update(text, values)
    if update is None:
        raise UsageError("update: nothing to update (see ocirun --help)")
    container_cls.load(args.id, args.root).update(update)
    return 0


def _read_text(path, what="update: --resources"):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise OcirunError(f"{what} {path}: {e.strerror}") from None


def _integer(text, flag):
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"option {flag} takes a number, not {text!r}") from None


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text, flag):
    """runc's sizes: 1024, 64k, 512m, 2g (and -1 for unlimited)."""
    number = text.strip().lower().rstrip("b") if text.strip().lower() not in ("-1",) else "-1"
    unit = number[-1:] if number[-1:].isalpha() else ""
    digits = number[:-1] if unit else number
    if unit not in _SIZE_UNITS or not digits.lstrip("-").isdigit():
        raise UsageError(f"option {flag} takes a size such as 512m or 2g, not {text!r}")
    return int(digits) * _SIZE_UNITS[unit]


def cmd_exec(args, container_cls):
    """runc's exec: --process FILE, or the container's own process with ARGS
    and the flags in place."""
    from ocirun import config as config_module
    container = container_cls.load(args.id, args.root)
    if args.process:
        from ocirun import jsonio
        try:
            raw = jsonio.loads(_read_text(args.process, "exec: --process"))
        except ValueError as e:
            raise OcirunError(f"exec: --process {args.process}: not valid JSON: {e}") from None
        process = config_module.exec_process(raw)
    elif not args.args:
        raise UsageError("exec: missing the command to run (or --process FILE)")
    else:
        process = container.exec_process(exec_flags(args))
    return container.exec(process, detach=args.detach, pid_file=args.pid_file, preserve_fds=args.preserve_fds,
                          console_socket=args.console_socket, ignore_paused=args.ignore_paused,
                          sub_cgroups=args.cgroup)


def exec_flags(args):
    """runc exec's flags as a config.ExecFlags."""
    from ocirun.config import ExecFlags
    uid = gid = None
    if args.user:
        uid_text, _, gid_text = args.user.partition(":")
        if not uid_text.isdigit() or (gid_text and not gid_text.isdigit()):
            raise UsageError(f"exec: --user takes UID[:GID] as numbers, not {args.user!r}")
        uid, gid = int(uid_text), int(gid_text) if gid_text else 0
    if not all(g.isdigit() for g in args.additional_gids):
        raise UsageError("exec: --additional-gids takes numbers")
    return ExecFlags(args.args, tty=args.tty, cwd=args.cwd, env=args.env, uid=uid, gid=gid,
                     additional_gids=[int(g) for g in args.additional_gids], caps=args.cap,
                     no_new_privs=args.no_new_privs, apparmor=args.apparmor, process_label=args.process_label)


def cmd_checkpoint(args, _container_cls):
    raise OcirunError("checkpoint and restore are not supported: ocirun has no CRIU support yet")


def cmd_events(args, container_cls):
    """runc's events: JSON lines, {"type": "stats", "id", "data"} each interval
    and {"type": "oom", "id"} when the kernel's OOM killer acts in the
    container; until the container stops."""
    import select
    import time
    from ocirun import jsonio

    def emit(kind, **fields):
        print(jsonio.dumps({"type": kind, "id": args.id, **fields}), flush=True)
    interval = _seconds(args.interval, "--interval")
    container = container_cls.load(args.id, args.root)
    if args.stats:
        emit("stats", data=container.stats())
        return 0
    oom = container.oom_watch()
    try:
        init_exit = [os.pidfd_open(container.record.pid)]  # readable once the init has exited
    except ProcessLookupError:
        return 0
    next_stats = time.monotonic() + interval  # the first after one interval, as runc's
    while container.status() != "stopped":
        if time.monotonic() >= next_stats:
            emit("stats", data=container.stats())
            next_stats += interval
        watched = init_exit + ([oom.fd] if oom is not None else [])
        ready = select.select(watched, [], [], max(0.0, next_stats - time.monotonic()))[0]
        if oom is not None and (oom.fd in ready or init_exit[0] in ready):
            # an OOM kill of the init itself may be seen only after it has gone
            for _ in range(oom.new_kills()):
                emit("oom")
        container = container_cls.load(args.id, args.root)
    return 0


def _seconds(text, flag):
    """runc's durations: 5s, 500ms, 1m, or plain seconds."""
    for suffix, scale in (("ms", 0.001), ("s", 1), ("m", 60)):
        if text.endswith(suffix) and text[:-len(suffix)].replace(".", "", 1).isdigit():
            return float(text[:-len(suffix)]) * scale
    if text.replace(".", "", 1).isdigit():
        return float(text)
    raise UsageError(f"option {flag} takes a duration such as 5s or 500ms, not {text!r}")


def cmd_pause(args, container_cls):
    container_cls.load(args.id, args.root).pause()
    return 0


def cmd_resume(args, container_cls):
    container_cls.load(args.id, args.root).resume()
    return 0


def cmd_ps(args, container_cls):
    pids = container_cls.load(args.id, args.root).pids()
    if args.format == "json":
        from ocirun import jsonio
        print(jsonio.dumps(pids))
        return 0
    import subprocess
    lines = subprocess.run(["ps", *(args.ps_args or ["-ef"])], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise OcirunError("ps: its output has no PID column")
    column = header.index("PID")
    wanted = {str(pid) for pid in pids}
    rows = [line for line in lines[1:] if (fields := line.split())[column:] and fields[column] in wanted]
    print("\n".join([lines[0]] + rows))
    return 0


def cmd_features(_args, _container_cls):
    from ocirun import jsonio
    from ocirun.features import document
    print(jsonio.dumps(document(), indent=2))
    return 0


HANDLERS = {
    "create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec,
    "features": cmd_features, "pause": cmd_pause, "resume": cmd_resume, "ps": cmd_ps,
    "update": cmd_update, "events": cmd_events, "exec": cmd_exec,
    "checkpoint": cmd_checkpoint, "restore": cmd_checkpoint,
}


def main():
    """The console entry point: exit without the interpreter's teardown, which
    costs milliseconds on every container start and has nothing left to do."""
    try:
        status = run_cli(sys.argv[1:])
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        # our reader stopped early (`ocirun list | head -1`): end as a
        # program killed by SIGPIPE does, quietly (Python ignores the signal)
        status = 128 + 13
    os._exit(status)


def run_cli(argv):
    """Run one command; return its exit status."""
    try:
        command, args = parse_args(argv)
    except UsageError as e:
        _say_error(e)
        return e.status
    if command in ("create", "run"):
        # first, so the kernel wait it starts overlaps every import that follows
        from ocirun.cgroups import prime_attach
        prime_attach(args.preserve_fds)
    from ocirun import log as log_module
    try:
        log = log_module.current = log_module.Logger(args.log, args.log_format, args.debug)
    except OcirunError as e:
        _say_error(e)
        return 1
    if args.version:
        print(f"ocirun version {__version__}\nspec: {OCI_VERSION}")
        return 0
    if command is None:
        (sys.stdout if args.help else sys.stderr).write(usage(args.help if isinstance(args.help, str) else None))
        return 0 if args.help else 1
    from ocirun.container import Container
    try:
        log.debug(f"{command} {getattr(args, 'id', '') or ''}".strip())
        return HANDLERS[command](args, Container)
    except UsageError as e:
        _say_error(e)
        return e.status
    except BrokenPipeError:
        raise  # our stdout's reader is gone: main() ends quietly
    except (OcirunError, OSError) as e:
        message = str(e) if isinstance(e, OcirunError) else _describe_os_error(e)
        log.error(message)
        _say_error(message)
        # runc's: 255 when exec itself fails, so that it is told from the process's own status
        return 255 if command == "exec" else 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        # A bug, not bad input (that is an OcirunError naming the field): one
        # line still, the traceback for --debug, and what was made is undone
        # on the way here as for any other failure.
        import traceback
        log.debug("".join(traceback.format_exception(e)))
        message = f"internal error: {type(e).__name__}: {e} (a bug in ocirun: please report it)"
        log.error(message)
        _say_error(message)
        return 255 if command == "exec" else 1


def _say_error(message):
    from ocirun.log import one_line
    sys.stderr.write(f"ocirun: {one_line(str(message))}\n")


def _describe_os_error(error):
    if error.filename and not str(error).startswith(str(error.filename)):
        return f"{error.filename}: {error.strerror}"
    return str(error) if str(error) else error.strerror


if __name__ == "__main__":
    main()
