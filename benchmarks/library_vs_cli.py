#!/usr/bin/env python3
"""ocirun as a library against the runtimes' command lines: run of a busybox
/bin/true, and create / start / delete timed one by one as an engine calls
them.

    sudo /opt/ocirun/bin/python benchmarks/library_vs_cli.py [--runs 40]

"ocirun library" is this Python process, which has imported ocirun already,
calling Container.run (create, start, wait, delete) with no process of
ocirun's spawned; the others are the commands `crun run` (when installed),
`runc run` and `ocirun run`.  All alternate within one loop, each with a
fresh container id.  crun 1.8.1 refuses a hybrid cgroup v1 layout, so the
whole benchmark runs in a private mount namespace of its own where the
unified hierarchy (/sys/fs/cgroup/unified) is unmounted; the host's mounts
are untouched.
"""
import os
import sys
import tempfile
import time

from common import (add_seccomp_option, arguments, bundles_for, find_runtimes, in_private_mounts, report,
                    timed_command)
# the installed ocirun (run this with its interpreter): the library needs its built shim
from ocirun.container import Container

WARMUPS = 3


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = arguments(__doc__, runs=40)
    add_seccomp_option(parser)
    options = parser.parse_args()
    in_private_mounts()
    runtimes = find_runtimes(options.ocirun)
    serial = iter(range(1_000_000))
    with tempfile.TemporaryDirectory(prefix="ocirun-bench-") as tmp:
        bundle_of = bundles_for(runtimes, tmp, args=["/bin/true"], seccomp=options.seccomp)
        bundle = bundle_of["ocirun"]

        def new_id():
            return f"bench-{os.getpid()}-{next(serial)}"

        def library_run():
            status = Container.run(new_id(), bundle=bundle, root=os.path.join(tmp, "library"))
            if status != 0:
                sys.exit(f"Container.run exited {status}")

        def steps(name):
            """create, start and delete as three commands, each timed."""
            root = os.path.join(tmp, name + "-steps")
            container_id = new_id()
            base = [runtimes[name], "--root", root]
            where = bundle_of[name]
            return [("create", base + ["create", container_id], where),
                    ("start", base + ["start", container_id], where),
                    ("delete", base + ["delete", "-f", container_id], where)]

        timings = {}
        names = ["ocirun library"] + [f"{name} run" for name in runtimes]

        def one_round(order, record):
            for name in order:
                if name == "ocirun library":
                    seconds = timed(library_run)
                else:
                    runtime = name.split()[0]
                    seconds = timed_command([runtimes[runtime], "--root", os.path.join(tmp, runtime), "run",
                                             new_id()], bundle_of[runtime])
                if record:
                    timings.setdefault(name, []).append(seconds)
            for runtime in sorted(runtimes) if order == names else sorted(runtimes, reverse=True):
                for step, argv, where in steps(runtime):
                    seconds = timed_command(argv, where)
                    if record:
                        timings.setdefault(f"{runtime} {step}", []).append(seconds)

        for _ in range(WARMUPS):
            one_round(names, record=False)
        for run in range(options.runs):
            one_round(names if run % 2 == 0 else names[::-1], record=True)

    profile = f", seccomp profile: {options.seccomp}" if options.seccomp else ""
    print(f"busybox /bin/true{profile}, {options.runs} runs each after {WARMUPS} warmups, alternating order, "
          "in a private mount namespace without the unified hierarchy")
    medians = {}
    for name, seconds in timings.items():
        ms = sorted(s * 1000 for s in seconds)
        medians[name] = report(name, ms, width=16)
    for other in ("crun run", "runc run"):
        if other in medians:
            print(f"ratio ocirun library/{other} (medians): {medians['ocirun library'] / medians[other]:.2f}x")
    if "runc run" in medians:
        print(f"ratio ocirun run/runc run (medians): {medians['ocirun run'] / medians['runc run']:.2f}x")
        for step in ("create", "start", "delete"):
            print(f"ratio ocirun {step}/runc {step} (medians): "
                  f"{medians[f'ocirun {step}'] / medians[f'runc {step}']:.2f}x")


if __name__ == "__main__":
    main()
