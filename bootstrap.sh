#!/usr/bin/env bash
# Set-up on a fresh Debian machine, as root (see README.md):
#   ./bootstrap.sh demo   install ocirun and run a demo busybox container
#   ./bootstrap.sh test   install ocirun and the test dependencies, run the whole suite
set -euo pipefail
cd "$(dirname "$0")"

# ocirun lives in a virtualenv of its own: a runtime starts on every container
# start, and a clean site-packages keeps the interpreter's start-up short.
PREFIX=${OCIRUN_PREFIX:-/opt/ocirun}
# Debian's interpreter, not whatever python3 comes first on PATH: Debian builds
# it with PGO and LTO, and `ocirun run` measured 1.16-1.18x runc with it against
# 1.29-1.42x with an unoptimized (pyenv) 3.11 build of the same code.
PYTHON=${OCIRUN_PYTHON:-/usr/bin/python3}

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

interpreter_immutable() {  # +i or -i on the venv's copies of the interpreter
    local file
    for file in "$PREFIX"/bin/python*; do
        [ -f "$file" ] && [ ! -L "$file" ] || continue
        chattr "$1" "$file" 2>/dev/null ||
            { [ "$1" = -i ] || echo "warning: cannot make $file immutable (chattr +i): see README, Security" >&2; }
    done
}

install_ocirun() {
    apt-get update -qq
    apt_install python3 python3-venv python3-dev gcc libc6-dev musl-tools libffi-dev libseccomp-dev busybox-static \
        e2fsprogs
    # --clear: a venv left by another interpreter would keep its old python link.
    # --copies: the interpreter ocirun runs is a file of its own, made immutable
    # below: a process of a container allowed to look into ocirun's processes
    # there (CAP_SYS_PTRACE) could otherwise open it through /proc/<pid>/exe
    # and, once nothing runs it, overwrite what root runs next (README: Security).
    interpreter_immutable -i
    "$PYTHON" -m venv --clear --copies "$PREFIX"
    "$PREFIX/bin/pip" install -q .
    # -I -S for the command (bin/ocirun says why), as one word: the kernel passes
    # whatever follows the interpreter on a #! line as a single argument
    sed -i '1s|^\(#!.*/python[0-9.]*\)$|\1 -IS|' "$PREFIX/bin/ocirun"
    # Not needed at run time (pip builds in an isolated environment), and its
    # distutils-precedence.pth costs every ocirun start about a millisecond.
    "$PREFIX/bin/pip" uninstall -q -y setuptools
    interpreter_immutable +i
    ln -sf "$PREFIX/bin/ocirun" /usr/local/bin/ocirun
    echo "installed: $(ocirun --version | head -1) at $PREFIX, linked from /usr/local/bin/ocirun"
}

demo() {
    local bundle
    bundle=$(mktemp -d)
    "$PREFIX/bin/python" -m ocirun.bundles busybox "$bundle/busybox" -- \
        /bin/sh -c 'echo "hello from $(hostname), pid $$ in its own namespaces"; id; uname -a'
    ocirun run --bundle "$bundle/busybox" "demo-$$"
    rm -rf "$bundle"
}

run_tests() {
    # runc is the reference the tests compare with; iproute2 makes test namespaces;
    # uidmap has newuidmap/newgidmap, which rootless id ranges go through;
    # golang-github-containers-common has podman's default seccomp profile;
    # qemu, a Debian kernel and virtme-ng boot the cgroup v2 VM (tests/vm);
    # dbus-daemon carries the --systemd-cgroup tests' D-Bus conversation.
    apt_install runc iproute2 util-linux uidmap golang-github-containers-common \
        qemu-system-x86 linux-image-amd64 dbus-daemon
    # the engines of tests/engines; a policy-rc.d that refuses keeps the
    # packages from starting a docker daemon (and its docker0 bridge)
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        apt_install podman conmon containerd docker.io buildah tini
        rm -f /usr/sbin/policy-rc.d
    else
        apt_install podman conmon containerd docker.io buildah tini
    fi
    [ -x /opt/vng/bin/vng ] || { python3 -m venv /opt/vng && /opt/vng/bin/pip install -q virtme-ng; }
    "$PREFIX/bin/pip" install -q pytest hypothesis jsonschema referencing
    # pytest from the venv (not `python -m pytest`), so the tests import the
    # installed package, not the source tree.
    OCIRUN="$PREFIX/bin/ocirun" "$PREFIX/bin/pytest" -q -p no:cacheprovider tests "$@"
}

case "${1:-}" in
    demo) install_ocirun; demo ;;
    test) shift; install_ocirun; run_tests "$@" ;;
    *) echo "usage: $0 demo|test [pytest args]" >&2; exit 2 ;;
esac
