#!/usr/bin/env python3
"""What an engine's user sees: `podman run --rm IMAGE true` and
`ctr run --rm IMAGE ID true` with ocirun against runc as the runtime.

    sudo /opt/ocirun/bin/python benchmarks/engines.py [--runs 30] [--ocirun PATH]

Needs what `bootstrap.sh test` installs (podman and conmon, containerd and
ctr, the tests' Python packages).  The engines run on state of this
script's own, as the engine tests do (tests/engines): podman's storage and a
containerd started here with its own root and socket, an image imported
from the busybox rootfs, no network; all of it is removed at the end.  The
two runtimes alternate within one loop.
"""
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "engines"))

from common import arguments, timed_command  # noqa: E402
from engine_helpers import IMAGE, Ctr, Daemon, Podman, cgroup_tops, remove_cgroup_tops_made_since  # noqa: E402
from ocirun.bundles import build_busybox_bundle  # noqa: E402

WARMUPS = 2


def engines(directory, runtimes):
    """(podman, containerd daemon, ctr), each with the busybox image."""
    bundle = build_busybox_bundle(str(directory / "bundle"), ["true"])
    rootfs_tar = directory / "rootfs.tar"
    with tarfile.open(rootfs_tar, "w") as tar:
        tar.add(os.path.join(bundle, "rootfs"), arcname=".")
    podman = Podman(directory / "podman", runtimes)
    podman("import", rootfs_tar, IMAGE)
    archive = directory / "oci.tar"
    podman("save", "--format", "oci-archive", "-o", archive, IMAGE)
    state = directory / "containerd"
    state.mkdir()
    socket = state / "containerd.sock"
    (state / "config.toml").write_text(f'version = 2\nroot = "{state}/root"\nstate = "{state}/state"\n'
                                       f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                                       f'[grpc]\n  address = "{socket}"\n')
    daemon = Daemon(["containerd", "--config", str(state / "config.toml")], str(socket), str(state / "log"))
    ctr = Ctr(socket, runtimes["ocirun"])
    ctr("image", "import", "--base-name", IMAGE.rsplit(":", 1)[0], archive)
    return podman, daemon, ctr


def main():
    options = arguments(__doc__, runs=30).parse_args()
    runtimes = {"ocirun": shutil.which(options.ocirun), "runc": shutil.which("runc")}
    missing = [name for name in ("podman", "conmon", "containerd", "ctr", "containerd-shim-runc-v2")
               if not shutil.which(name)] + [name for name, path in runtimes.items() if not path]
    if missing:
        sys.exit(f"needs {', '.join(missing)} (bootstrap.sh test installs them)")
    cgroups_before = cgroup_tops()
    had_containerd_state = os.path.exists("/run/containerd")
    serial = iter(range(1_000_000))
    timings = {}
    with tempfile.TemporaryDirectory(prefix="ocirun-engines-") as tmp:
        podman, daemon, ctr = engines(Path(tmp), runtimes)
        try:
            def podman_run(name):
                return timed_command(podman.using(name).base + ["run", "--rm", IMAGE, "true"], env=podman.env)

            def ctr_run(name):
                return timed_command(ctr.base + ["run", "--rm", "--runc-binary", runtimes[name], IMAGE,
                                                 f"bench-{next(serial)}", "true"])

            for run in range(WARMUPS + options.runs):
                order = ("ocirun", "runc") if run % 2 == 0 else ("runc", "ocirun")
                for engine, call in (("podman run --rm", podman_run), ("ctr run --rm", ctr_run)):
                    for name in order:
                        seconds = call(name)
                        if run >= WARMUPS:
                            timings.setdefault((engine, name), []).append(seconds * 1000)
        finally:
            podman("rm", "-a", "-f", "-t", "0", check=False)
            podman("system", "reset", "-f", check=False)
            daemon.stop()
            if not had_containerd_state:
                shutil.rmtree("/run/containerd", ignore_errors=True)
            remove_cgroup_tops_made_since(cgroups_before)
    print(f"busybox `true`, {options.runs} runs each after {WARMUPS} warmups, runtimes alternating")
    for engine in ("podman run --rm", "ctr run --rm"):
        medians = {}
        for name in ("ocirun", "runc"):
            ms = timings[(engine, name)]
            medians[name] = statistics.median(ms)
            deciles = statistics.quantiles(ms, n=10, method="inclusive")
            print(f"{engine:<17} {name:<7} median {medians[name]:8.1f} ms   p10 {deciles[0]:8.1f} ms"
                  f"   p90 {deciles[-1]:8.1f} ms")
        print(f"{engine:<17} ratio ocirun/runc (medians): {medians['ocirun'] / medians['runc']:.2f}x")


if __name__ == "__main__":
    main()
