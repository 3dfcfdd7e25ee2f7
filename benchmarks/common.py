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

from ocirun.bundles import build_busybox_bundle

MARKER = "OCIRUN_BENCH_PRIVATE_MOUNTS"
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


def bundles_for(runtimes, directory, args):
    """{runtime: bundle}: one busybox bundle running args; crun 1.8.1 knows
    runtime-spec versions up to 1.0, so it gets the same config labelled so."""
    bundle = build_busybox_bundle(os.path.join(directory, "bundle"), args=args)
    bundles = {name: bundle for name in runtimes}
    if "crun" in runtimes:
        crun_bundle = build_busybox_bundle(os.path.join(directory, "crun-bundle"), args=args)
        path = os.path.join(crun_bundle, "config.json")
        with open(path) as f:
            config = json.load(f)
        config["ociVersion"] = "1.0.2"
        with open(path, "w") as f:
            json.dump(config, f)
        bundles["crun"] = crun_bundle
    return bundles


def report(label, milliseconds, width=18):
    """Print median, p10 and p90 of a series; return the median."""
    deciles = statistics.quantiles(milliseconds, n=10, method="inclusive")
    median = statistics.median(milliseconds)
    print(f"{label:<{width}} median {median:8.2f} ms   p10 {deciles[0]:8.2f} ms   p90 {deciles[-1]:8.2f} ms")
    return median
