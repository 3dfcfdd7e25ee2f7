#!/usr/bin/env python3
"""Wall-clock time of `ocirun run` against `runc run` (and `crun run`, where
installed) for a busybox /bin/true.

    sudo /opt/ocirun/bin/python benchmarks/run_vs_runc.py [--runs 50] [--ocirun PATH] [--runc PATH]
        [--baseline PATH]

The runtimes run the same bundle, alternately, inside one loop, each with a
fresh container id and its own temporary --root, so drift on the machine
(cache, frequency, other load) hits all alike.  Two floors run in the same
loop, with the interpreter this script runs under (run it with ocirun's),
started with -IS as ocirun's command is: `python -c pass`, below which no
Python program starts, and python_floor.py, the least any CPython runtime
does for the same `run`.  Everything runs in a private mount namespace
without the unified cgroup hierarchy, which crun 1.8.1 refuses (common.py).
"""
import argparse
import os
import shutil
import sys
import tempfile

from common import add_seccomp_option, bundles_for, in_private_mounts, report, timed_command

WARMUPS = 3
FLOORS = ("python -c pass", "python floor")
FLOOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_floor.py")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per command (default 50)")
    parser.add_argument("--ocirun", default="ocirun", help="ocirun executable (default: from PATH)")
    parser.add_argument("--runc", default="runc", help="runc executable (default: from PATH)")
    parser.add_argument("--baseline", help="another ocirun (say, an earlier commit's install) timed in the"
                                           " same loop: what a change to ocirun gained")
    add_seccomp_option(parser)
    return parser.parse_args()


def main():
    options = parse_args()
    if options.runs < 2:
        sys.exit("--runs must be at least 2")
    in_private_mounts()
    runtimes = {}
    for name in ("ocirun", "runc", "crun", "baseline"):
        wanted = getattr(options, name, "crun")
        path = shutil.which(wanted) if wanted else None
        if path:
            runtimes[name] = path
        elif wanted and name != "crun":
            print(f"{name} not found ({wanted}): measuring without it")
    if not runtimes:
        sys.exit("neither ocirun nor runc was found")

    with tempfile.TemporaryDirectory(prefix="ocirun-bench-") as tmp:
        bundle_of = bundles_for(runtimes, tmp, args=["/bin/true"], seccomp=options.seccomp)
        for floor in FLOORS:  # they read config.json where they run
            bundle_of[floor] = next(iter(bundle_of.values()))
        serial = iter(range(1_000_000))

        def command_for(name):
            if name == "python -c pass":
                return [sys.executable, "-IS", "-c", "pass"]
            if name == "python floor":
                return [sys.executable, "-IS", FLOOR, f"bench-{os.getpid()}-{next(serial)}"]
            # cwd is the bundle, so no runtime needs a --bundle flag.
            container_id = f"bench-{os.getpid()}-{next(serial)}"
            return [runtimes[name], "--root", os.path.join(tmp, name), "run", container_id]

        names = list(runtimes) + list(FLOORS)
        for _ in range(WARMUPS):
            for name in names:
                timed_command(command_for(name), bundle_of[name])

        timings = {name: [] for name in names}
        for run in range(options.runs):
            # Alternate which command goes first, so neither always runs
            # right after the other's teardown.
            order = names if run % 2 == 0 else names[::-1]
            for name in order:
                timings[name].append(timed_command(command_for(name), bundle_of[name]))

    profile = f", seccomp profile: {options.seccomp}" if options.seccomp else ""
    print(f"busybox /bin/true{profile}, {options.runs} runs each after {WARMUPS} warmups, alternating order, "
          "in a private mount namespace without the unified hierarchy")
    # The interpreter's build matters (an unoptimized one made ocirun ~15% slower)
    print(f"floors run on {os.path.realpath(sys.executable)} -IS ({sys.version.split()[0]})")
    for name in ("ocirun", "baseline"):
        if name in runtimes:
            print(f"{name} ({runtimes[name]}) runs on {_interpreter_of(runtimes[name])}")
    medians = {name: report(f"{name} run" if name in runtimes else name, [s * 1000 for s in timings[name]])
               for name in names}
    for other in ("runc", "crun"):
        if "ocirun" in medians and other in medians:
            print(f"ratio ocirun/{other} (medians): {medians['ocirun'] / medians[other]:.2f}x")
    if "ocirun" in medians and "baseline" in medians:
        print(f"ratio ocirun/baseline (medians): {medians['ocirun'] / medians['baseline']:.2f}x")
    if "runc" in medians:
        print(f"ratio python floor/runc (medians): {medians['python floor'] / medians['runc']:.2f}x")


def _interpreter_of(script):
    try:
        with open(script, "rb") as f:
            first_line = f.readline(256).decode(errors="replace").strip()
    except OSError:
        return "?"
    if not first_line.startswith("#!"):
        return "? (not a script)"
    interpreter, *flags = first_line[2:].split()
    return f"{interpreter} -> {os.path.realpath(interpreter)}{' ' + ' '.join(flags) if flags else ''}"


if __name__ == "__main__":
    main()
