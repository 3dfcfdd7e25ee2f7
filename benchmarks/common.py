"""What the benchmarks share: the private mount namespace crun needs on
this host, one bundle per runtime, and how a series is reported.

crun 1.8.1 refuses a hybrid cgroup v1 layout, so a benchmark that times it
re-runs itself in a mount namespace of its own where the unified hierarchy
(/sys/fs/cgroup/unified) is unmounted, and every runtime runs there alike;
the host's mounts are untouched.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ocirun.bundles import build_busybox_bundle

MARKER = "OCIRUN_BENCH_PRIVATE_MOUNTS"
UNISTD_64 = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
UNIFIED = "/sys/fs/cgroup/unified"


def arguments(doc, runs):
    """A parser with --runs and --ocirun, described by the script's docstring."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=runs, help=f"timed runs per command (default {runs})")
    parser.add_argument("--ocirun", default=shutil.which("ocirun") or "ocirun", help="ocirun executable")
    return parser


def in_private_mounts():
    """Re-exec this script in a private mount namespace without the unified hierarchy."""
    if os.environ.get(MARKER):
        if os.path.ismount(UNIFIED):
            subprocess.run(["umount", UNIFIED], check=True)
        return
    env = dict(os.environ, **{MARKER: "1"})
    os.execvpe("unshare", ["unshare", "-m", "--propagation", "private", sys.executable, *sys.argv], env)


def find_runtimes(ocirun="ocirun", others=("runc", "crun")):
    """{name: path} of the runtimes installed, ocirun first."""
    found = {"ocirun": shutil.which(ocirun)}
    found.update((name, shutil.which(name)) for name in others)
    return {name: path for name, path in found.items() if path}


def add_seccomp_option(parser):
    parser.add_argument("--seccomp", nargs="?", const="allow-list", metavar="FILE",
                        help="give every runtime a seccomp profile: FILE (linux.seccomp as JSON, or"
                             " podman's own format, e.g. /usr/share/containers/seccomp.json, converted"
                             " as podman does), or without FILE an allow list of every x86_64 syscall"
                             " the kernel headers name, with default ERRNO")


def seccomp_profile(choice, capabilities):
    if choice != "allow-list":
        with open(choice) as f:
            profile = json.load(f)
        if "archMap" in profile:  # podman's (containers-common) format
            from ocirun.config import oci_seccomp_from_containers_profile
            return oci_seccomp_from_containers_profile(profile, capabilities)
        return profile
    with open(UNISTD_64) as f:
        names = [word[len("__NR_"):] for word in f.read().split() if word.startswith("__NR_")]
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}


def bundles_for(runtimes, directory, args, seccomp=None):
    """{runtime: bundle}: one busybox bundle running args (with seccomp, as
    --seccomp chose, a profile); crun 1.8.1 knows runtime-spec versions up to
    1.0, so it gets the same config labelled so."""
    bundles = {}
    for name, version in (("ocirun", None), ("crun", "1.0.2")):
        if name == "crun" and "crun" not in runtimes:
            break
        bundle = build_busybox_bundle(os.path.join(directory, name + "-bundle"), args=args)
        path = os.path.join(bundle, "config.json")
        with open(path) as f:
            config = json.load(f)
        if version:
            config["ociVersion"] = version
        if seccomp:
            config["linux"]["seccomp"] = seccomp_profile(seccomp, config["process"]["capabilities"]["bounding"])
        with open(path, "w") as f:
            json.dump(config, f)
        bundles[name] = bundle
    return {name: bundles.get(name, bundles["ocirun"]) for name in runtimes}


def timed_command(argv, cwd=None, env=None):
    """Seconds argv took; a failure stops the benchmark with its stderr.
    stderr goes to a file made before the clock starts, not to a pipe: a
    created container's init keeps it open, so a pipe would not reach EOF
    until the container exits."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        result = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            err.seek(0)
            sys.exit(f"{' '.join(map(str, argv))} exited {result.returncode}: "
                     f"{err.read().decode(errors='replace').strip()}")
    return elapsed


def report(label, milliseconds, width=18):
    """Print median, p10 and p90 of a series; return the median."""
    deciles = statistics.quantiles(milliseconds, n=10, method="inclusive")
    median = statistics.median(milliseconds)
    print(f"{label:<{width}} median {median:8.2f} ms   p10 {deciles[0]:8.2f} ms   p90 {deciles[-1]:8.2f} ms")
    return median
