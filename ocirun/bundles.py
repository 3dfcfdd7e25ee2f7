"""Build runnable bundles for the demo and the tests.

    python -m ocirun.bundles busybox DIR [--busybox PATH] [-- ARGS...]

makes DIR/rootfs from the host's statically linked busybox (a dynamic one
would need the host's libc inside the rootfs) and DIR/config.json from
config.plain_config(ARGS).
"""
import os
import shutil
import struct

from ocirun import specgen
from ocirun.config import with_containers_seccomp_profile
from ocirun.errors import OcirunError

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
INSTALL_HINT = "install it with `apt-get install busybox-static` on Debian/Ubuntu"

ROOTFS_DIRS = (
    "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp",
    "root", "home", "home/user", "var", "var/tmp", "run", "mnt", "opt",
)

TEST_UID = 1000  # the unprivileged "user" that tests switch to

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    f"user:x:{TEST_UID}:{TEST_UID}:user:/home/user:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = (
    "root:x:0:\n"
    "tty:x:5:\n"  # the default devpts mount gives ptys gid 5
    f"user:x:{TEST_UID}:\n"
    "nogroup:x:65534:\n"
)

PT_INTERP = 3


def is_static_elf(path):
    """True if path is an ELF executable without a program interpreter.

    A missing PT_INTERP is what "statically linked" means to the kernel: it
    maps the file alone, with no ld.so to look for inside the rootfs.
    """
    with open(path, "rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            return False
        is_64 = ident[4] == 2
        order = "<" if ident[5] == 1 else ">"
        if is_64:
            f.seek(32)
            (phoff,) = struct.unpack(order + "Q", f.read(8))
            f.seek(54)
        else:
            f.seek(28)
            (phoff,) = struct.unpack(order + "I", f.read(4))
            f.seek(42)
        phentsize, phnum = struct.unpack(order + "HH", f.read(4))
        for index in range(phnum):
            f.seek(phoff + index * phentsize)
            (p_type,) = struct.unpack(order + "I", f.read(4))
            if p_type == PT_INTERP:
                return False
    return True


def find_busybox(busybox=None):
    """Path of a static busybox: the one given, $OCIRUN_BUSYBOX, or the host's."""
    chosen = busybox or os.environ.get("OCIRUN_BUSYBOX")
    if chosen:
        # The user named one: use it or say why not, never silently another.
        if not os.path.isfile(chosen):
            raise OcirunError(f"busybox not found at {chosen}: {INSTALL_HINT}")
        if not is_static_elf(chosen):
            raise OcirunError(f"busybox at {chosen} is not statically linked: {INSTALL_HINT}")
        return chosen
    for candidate in BUSYBOX_CANDIDATES:
        if os.path.isfile(candidate) and is_static_elf(candidate):
            return candidate
    tried = ", ".join(BUSYBOX_CANDIDATES)
    raise OcirunError(f"no statically linked busybox in {tried}: {INSTALL_HINT}")


def list_applets(busybox):
    """The applet names this busybox was built with."""
    import subprocess  # lazy: only bundle building needs it

    result = subprocess.run([busybox, "--list"], capture_output=True, text=True)
    if result.returncode != 0:
        raise OcirunError(f"{busybox} --list failed: {result.stderr.strip()}")
    return [name for name in result.stdout.split() if name and "/" not in name]


def build_busybox_bundle(bundle_dir, args=None, busybox=None):
    """Make bundle_dir/rootfs and bundle_dir/config.json; return bundle_dir.

    args defaults to ["sh"]. Refuses to touch an existing rootfs.
    """
    busybox = find_busybox(busybox)
    rootfs = os.path.join(bundle_dir, "rootfs")
    os.makedirs(bundle_dir, exist_ok=True)
    try:
        os.mkdir(rootfs, 0o755)
    except FileExistsError:
        raise OcirunError(f"rootfs already exists in {bundle_dir}") from None

    for name in ROOTFS_DIRS:
        os.makedirs(os.path.join(rootfs, name), 0o755, exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    os.chmod(os.path.join(rootfs, "var/tmp"), 0o1777)
    os.chmod(os.path.join(rootfs, "root"), 0o700)
    if os.geteuid() == 0:
        os.chown(os.path.join(rootfs, "home/user"), TEST_UID, TEST_UID)

    target = os.path.join(rootfs, "bin", "busybox")
    shutil.copyfile(busybox, target)
    os.chmod(target, 0o755)
    # Relative symlinks: they resolve the same inside the container and on
    # the host, and busybox picks the applet from argv[0] either way.
    for applet in list_applets(busybox):
        link = os.path.join(rootfs, "bin", applet)
        if applet != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)

    _write_file(os.path.join(rootfs, "etc/passwd"), PASSWD)
    _write_file(os.path.join(rootfs, "etc/group"), GROUP)
    specgen.write_spec(bundle_dir, args=args, plain=True)
    return bundle_dir


def add_seccomp_profile(bundle_dir, profile_path):
    """Put a containers-format profile (podman's) into the bundle's config, in OCI form."""
    import json
    with open(profile_path) as f:
        profile = json.load(f)
    config_path = os.path.join(bundle_dir, "config.json")
    with open(config_path) as f:
        config = json.load(f)
    config = with_containers_seccomp_profile(config, profile)
    with open(config_path, "w") as f:
        json.dump(config, f, indent="\t")


def _write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m ocirun.bundles", description=__doc__.split("\n\n")[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    busybox_parser = kinds.add_parser(
        "busybox", help="a busybox rootfs with its applets in /bin",
        epilog="Everything after `--` becomes process.args (default: sh).")
    busybox_parser.add_argument("dir", help="bundle directory to create")
    busybox_parser.add_argument("--busybox", help="static busybox to copy (default: $OCIRUN_BUSYBOX, /bin/busybox)")
    busybox_parser.add_argument("--seccomp-profile", metavar="FILE",
                                help="a podman/Docker seccomp profile (e.g. /usr/share/containers/seccomp.json)"
                                     " to put into config.json, converted as podman does")
    argv = sys.argv[1:] if argv is None else list(argv)
    # Split at `--` ourselves: argparse mis-parses a trailing `--` list once
    # an option sits between the positionals.
    process_args = None
    if "--" in argv:
        split = argv.index("--")
        argv, process_args = argv[:split], argv[split + 1:] or None
    options = parser.parse_args(argv)
    try:
        build_busybox_bundle(options.dir, args=process_args, busybox=options.busybox)
        if options.seccomp_profile:
            add_seccomp_profile(options.dir, options.seccomp_profile)
    except (OcirunError, OSError) as error:
        print(f"ocirun.bundles: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
