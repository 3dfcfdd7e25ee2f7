#!/usr/bin/env python3
"""Many containers, and the memory a runtime leaves behind.

    sudo /opt/ocirun/bin/python benchmarks/scale.py [--containers 200]

Series: each runtime (ocirun, runc, and crun where installed) creates N
containers of a busybox `sleep`, one after another, the runtimes taking
turns container by container; then each starts its N, the same way.  What
is printed is the median time of the first 20 and of the last 20 of each
series: a runtime whose cost grows with the containers it already has
(state it scans, cgroups it walks) shows it there.

Memory, while those containers exist:
- the waiting init: what each created container keeps alive between create
  and start (VmRSS, and Pss, which counts shared pages once), median over
  the N, and the total for N;
- a foreground `run`'s own process, which stays alive as long as the
  container does (VmHWM, its peak), median of 10.

Runs in a private mount namespace without the unified hierarchy, for
crun (see common.py).  Everything made is deleted at the end.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import bundles_for, find_runtimes, in_private_mounts, timed_command

EDGE = 20  # containers at each end of a series that are reported
RUN_SAMPLES = 10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=200, help="containers per runtime (default 200)")
    parser.add_argument("--ocirun", default="ocirun", help="ocirun executable (default: from PATH)")
    return parser.parse_args()


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise KeyError("Pss")


def edges(label, seconds):
    first = statistics.median(seconds[:EDGE]) * 1000
    last = statistics.median(seconds[-EDGE:]) * 1000
    print(f"{label:<16} first {EDGE}: {first:7.2f} ms   last {EDGE}: {last:7.2f} ms   ({last / first:.2f}x)")


def foreground_run_peak(runtime, bundle, root, serial):
    """VmHWM of `runtime run` itself while its container sleeps."""
    peaks = []
    for n in range(RUN_SAMPLES):
        process = subprocess.Popen([runtime, "--root", root, "run", f"fg-{serial}-{n}"], cwd=bundle,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        time.sleep(0.5)  # well after create and start: the command now only waits
        try:
            peaks.append(status_kib(process.pid, "VmHWM"))
        finally:
            process.wait()
    return statistics.median(peaks)


def main():
    options = parse_args()
    if options.containers < 2 * EDGE:
        sys.exit(f"--containers must be at least {2 * EDGE}")
    in_private_mounts()
    runtimes = find_runtimes(options.ocirun)
    names = list(runtimes)
    with tempfile.TemporaryDirectory(prefix="ocirun-scale-") as tmp:
        bundles = bundles_for(runtimes, tmp, args=["sleep", "3600"])
        short = bundles_for(runtimes, os.path.join(tmp, "short"), args=["sleep", "1"])
        roots = {name: os.path.join(tmp, "root-" + name) for name in names}
        ids = {name: [f"scale-{os.getpid()}-{name}-{n}" for n in range(options.containers)] for name in names}
        created = {name: [] for name in names}
        timings = {f"{name} {step}": [] for step in ("create", "start") for name in names}
        try:
            for n in range(options.containers):
                for name in (names if n % 2 == 0 else names[::-1]):
                    container_id = ids[name][n]
                    pid_file = os.path.join(tmp, container_id + ".pid")
                    timings[f"{name} create"].append(timed_command(
                        [runtimes[name], "--root", roots[name], "create", "--pid-file", pid_file, container_id],
                        bundles[name]))
                    created[name].append(container_id)
            memory = {}
            for name in names:
                inits = []
                for container_id in created[name]:
                    with open(os.path.join(tmp, container_id + ".pid")) as f:
                        inits.append(int(f.read()))
                memory[name] = ([status_kib(pid, "VmRSS") for pid in inits], [pss_kib(pid) for pid in inits])
            for n in range(options.containers):
                for name in (names if n % 2 == 0 else names[::-1]):
                    timings[f"{name} start"].append(timed_command([runtimes[name], "--root", roots[name], "start",
                                                          ids[name][n]]))
            peaks = {name: foreground_run_peak(runtimes[name], short[name], roots[name], os.getpid())
                     for name in names}
        finally:
            for name in names:
                for container_id in created[name]:
                    subprocess.run([runtimes[name], "--root", roots[name], "delete", "-f", container_id],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    print(f"{options.containers} busybox `sleep` containers per runtime, created one after another (the runtimes "
          "taking turns), then started; in a private mount namespace without the unified hierarchy")
    for step in ("create", "start"):
        for name in names:
            edges(f"{name} {step}", timings[f"{name} {step}"])
    print("waiting init between create and start (median per container; total for all):")
    for name in names:
        rss, pss = memory[name]
        print(f"  {name:<8} VmRSS {statistics.median(rss):7.0f} KiB   Pss {statistics.median(pss):7.0f} KiB"
              f"   total Pss {sum(pss) / 1024:8.1f} MiB")
    print(f"a foreground run's own process (VmHWM, median of {RUN_SAMPLES}):")
    for name in names:
        print(f"  {name:<8} {peaks[name]:7.0f} KiB")


if __name__ == "__main__":
    main()
