"""The least a CPython runtime can do for `run` of a bundle's process: a floor.

    (cd BUNDLE && sudo /opt/ocirun/bin/python -IS benchmarks/python_floor.py ID)

What every runc-like runtime must do, and nothing more: read config.json,
put the container in a cgroup of each mounted hierarchy, new mount, pid,
uts, ipc and network namespaces, a private rootfs with /proc, pivot_root,
wait for the go-ahead, exec, wait, and remove the cgroups.  No validation,
no state directory, no lock, no devices, no symlink-safe path resolution,
no error handling worth the name: not a runtime, a measuring stick.  It
borrows ocirun's two speed tricks (the cgroup attach's RCU grace period
started early in a thread, the child joined while it sets up) so that what
it measures is the interpreter and the kernel, not a missed overlap.

run_vs_runc.py times it in the same loop as ocirun and runc, so the gap
between ocirun and runc can be split into what any CPython runtime pays
(this script) and what ocirun adds on top of it.
"""
import os
import sys

if sys.flags.no_site:  # run with -IS, as ocirun's command is: the site-packages beside the interpreter
    sys.path.append(os.path.join(os.path.dirname(os.path.dirname(sys.executable)), "lib",
                                 f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages"))

# the installed ocirun's shim and helpers (run it with the interpreter ocirun runs with)
from ocirun import _sys, jsonio  # noqa: E402
from ocirun.cgroups import Manager, mounted_hierarchies, prime_attach  # noqa: E402

NEW_NAMESPACES = (_sys.CLONE_NEWNS | _sys.CLONE_NEWPID | _sys.CLONE_NEWUTS
                  | _sys.CLONE_NEWIPC | _sys.CLONE_NEWNET)


def main(container_id):
    prime_attach()
    _sys.prctl(_sys.PR_SET_CHILD_SUBREAPER, 1)  # the init's exit status comes to us
    with open("config.json", "rb") as f:
        config = jsonio.loads(f.read())
    rootfs = os.path.abspath(config["root"]["path"])
    args = config["process"]["args"]
    pid_pipe, go_pipe = os.pipe(), os.pipe()

    stage_a = os.fork()
    if stage_a == 0:
        _sys.unshare(NEW_NAMESPACES)
        init = os.fork()  # pid 1 of the new pid namespace
        if init == 0:
            run_init(rootfs, args, go_pipe[0])
        os.write(pid_pipe[1], str(init).encode())
        os._exit(0)

    cgroup = Manager(f"/ocirun-floor-{container_id}", mounted_hierarchies())
    cgroup.create()
    init = int(os.read(pid_pipe[0], 16))
    os.waitpid(stage_a, 0)
    cgroup.join(init)
    os.write(go_pipe[1], b"0")  # `start`
    _, status = os.waitpid(init, 0)
    cgroup.destroy()
    return os.waitstatus_to_exitcode(status)


def run_init(rootfs, args, go_fd):
    try:
        _sys.mount(None, "/", None, _sys.MS_REC | _sys.MS_PRIVATE)
        _sys.mount(rootfs, rootfs, None, _sys.MS_BIND | _sys.MS_REC)
        _sys.mount("proc", os.path.join(rootfs, "proc"), "proc")
        os.chdir(rootfs)
        _sys.pivot_root(".", ".")
        _sys.umount2(".", _sys.MNT_DETACH)
        os.chdir("/")
        os.read(go_fd, 1)
        os.execv(args[0], args)
    finally:
        os._exit(127)


if __name__ == "__main__":
    status = main(sys.argv[1])
    sys.stdout.flush()
    os._exit(status)
