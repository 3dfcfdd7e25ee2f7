#!/usr/bin/env python3
"""Every benchmark, one after another, in one command.

    sudo /opt/ocirun/bin/python benchmarks/all.py [--runs 60] [--containers 200] [--ocirun PATH]

run_vs_runc.py (`run` of ocirun, runc and crun, and the Python floors),
library_vs_cli.py (the library's Container.run, and create / start / delete
one by one) and scale.py (N containers, and the memory left alive), each in
a private mount namespace without the unified hierarchy so that crun runs
beside the others; then engines.py (podman and ctr with either runtime),
where the engines are installed.  Run it with ocirun's interpreter.
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60, help="timed runs per command (default 60)")
    parser.add_argument("--containers", type=int, default=200, help="containers per runtime in scale.py")
    parser.add_argument("--ocirun", default=shutil.which("ocirun") or "ocirun", help="ocirun executable")
    options = parser.parse_args()
    for script, arguments in (("run_vs_runc.py", ["--runs", str(options.runs)]),
                              ("library_vs_cli.py", ["--runs", str(options.runs)]),
                              ("scale.py", ["--containers", str(options.containers)]),
                              ("engines.py", ["--runs", str(max(options.runs // 2, 2))])):
        print(f"== {script}", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, script), "--ocirun", options.ocirun, *arguments],
                       check=script != "engines.py")  # engines.py says what it lacks


if __name__ == "__main__":
    main()
