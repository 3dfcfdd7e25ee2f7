"""ocirun's command line, runc-compatible: parse, make one library call,
print, exit.  The only place that turns exceptions into a stderr line and an
exit status."""
import json
import os
import signal
import sys

from ocirun import OCI_VERSION, __version__
from ocirun.errors import OcirunError
from ocirun import log as log_module

USAGE = """usage: ocirun [global options] COMMAND [options] ARGS

commands:
  create   create a container from a bundle, ready to start
  start    run the user process of a created container
  run      create and start a container (and wait for it unless -d)
  state    print the state of a container as JSON
  kill     send a signal to a container's init (or to all its processes)
  delete   delete a container and everything it made
  list     list containers
  spec     write a default config.json

global options:
  --root DIR             state directory (default /run/ocirun)
  --log FILE             write log lines to FILE
  --log-format text|json
  --debug                log debug messages
  --version              print the version
"""


def build_parser():
    import argparse
    parser = argparse.ArgumentParser(prog="ocirun", usage=USAGE, add_help=True)
    parser.add_argument("--root", default="/run/ocirun")
    parser.add_argument("--log")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--version", "-v", action="store_true")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def container_command(name, **kwargs):
        sub = commands.add_parser(name, **kwargs)
        sub.add_argument("id", metavar="CONTAINER_ID")
        return sub

    for name in ("create", "run"):
        sub = container_command(name)
        sub.add_argument("--bundle", "-b", default=".")
        sub.add_argument("--pid-file")
        sub.add_argument("--no-pivot", action="store_true")
        sub.add_argument("--no-new-keyring", action="store_true")
        sub.add_argument("--preserve-fds", type=int, default=0)
        if name == "run":
            sub.add_argument("--detach", "-d", action="store_true")
    container_command("start")
    container_command("state")
    sub = container_command("kill")
    sub.add_argument("signal", nargs="?", default="SIGTERM")
    sub.add_argument("--all", "-a", action="store_true")
    sub = container_command("delete")
    sub.add_argument("--force", "-f", action="store_true")
    sub = commands.add_parser("list")
    sub.add_argument("--format", "-f", choices=("table", "json"), default="table")
    sub.add_argument("--quiet", "-q", action="store_true")
    sub = commands.add_parser("spec")
    sub.add_argument("--bundle", "-b", default=".")
    sub.add_argument("--rootless", action="store_true")
    return parser


def parse_signal(text):
    """SIGTERM, TERM or 15 -> 15."""
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        number = getattr(signal.Signals, name, None) if name.isidentifier() else None
        if number is not None:
            return int(number)
    raise OcirunError(f"invalid signal {text!r}")


# --- one handler per command ------------------------------------------------

def cmd_create(args, container_cls):
    container_cls.create(args.id, bundle=args.bundle, root=args.root, pid_file=args.pid_file,
                         no_pivot=args.no_pivot, no_new_keyring=args.no_new_keyring,
                         preserve_fds=args.preserve_fds)
    return 0


def cmd_run(args, container_cls):
    return container_cls.run(args.id, detach=args.detach, bundle=args.bundle, root=args.root,
                             pid_file=args.pid_file, no_pivot=args.no_pivot,
                             no_new_keyring=args.no_new_keyring, preserve_fds=args.preserve_fds)


def cmd_start(args, container_cls):
    container_cls.load(args.id, args.root).start()
    return 0


def cmd_state(args, container_cls):
    print(json.dumps(container_cls.load(args.id, args.root).state(), indent=2))
    return 0


def cmd_kill(args, container_cls):
    container_cls.load(args.id, args.root).kill(parse_signal(args.signal), all_processes=args.all)
    return 0


def cmd_delete(args, container_cls):
    container_cls.load(args.id, args.root).delete(force=args.force)
    return 0


def cmd_list(args, container_cls):
    states = [c.state() for c in container_cls.list(args.root)]
    if args.quiet:
        for s in states:
            print(s["id"])
    elif args.format == "json":
        print(json.dumps(states))
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


HANDLERS = {
    "create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec,
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    log = log_module.current = log_module.Logger(args.log, args.log_format, args.debug)
    if args.version:
        print(f"ocirun version {__version__}\nspec: {OCI_VERSION}")
        return 0
    if not args.command:
        sys.stderr.write(USAGE)
        return 2
    from ocirun.container import Container
    try:
        log.debug(f"{args.command} {getattr(args, 'id', '')}".strip())
        return HANDLERS[args.command](args, Container)
    except (OcirunError, OSError) as e:
        message = str(e) if isinstance(e, OcirunError) else _describe_os_error(e)
        log.error(message)
        sys.stderr.write(f"ocirun: {message}\n")
        return 1
    except KeyboardInterrupt:
        return 130


def _describe_os_error(error):
    if error.filename and not str(error).startswith(str(error.filename)):
        return f"{error.filename}: {error.strerror}"
    return str(error) if str(error) else error.strerror


if __name__ == "__main__":
    sys.exit(main())
