"""The generated validator (ocirun/_config_validator.py, behind ocirun.schema) against jsonschema.

jsonschema's Draft4Validator with a registry of the same spec/ files is the reference: on a
corpus of valid documents, every single change to them (each node deleted or replaced by
boundary numbers, other enum values, strings next to the patterns, other types) and
hypothesis-driven random mutations, both must accept and reject exactly the same documents, and
the rule the generated validator reports must be one of the reference's errors (same path, same
keyword). Keywords the spec does not use are compared on small schemas, the patterns the
generated code runs without re against re.search.

Needs the generated module: `pip install -e .` or `python cext/schema_codegen.py` (the
generator is a build script, loaded here from the source tree).
"""
import copy
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from referencing import Registry
from referencing.jsonschema import DRAFT4

import ocirun
from ocirun import _config_validator, schema
from ocirun.errors import ConfigError, OcirunError

# The repository's spec/ and build scripts, which the installed package does not carry.
REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
SPEC_DIR = REPOSITORY / "spec"
CODEGEN = REPOSITORY / "cext" / "schema_codegen.py"
_spec = importlib.util.spec_from_file_location("schema_codegen", CODEGEN)
schema_codegen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(schema_codegen)
DOCS = schema_codegen.load_spec(SPEC_DIR)
BASE = "https://ocirun.invalid/spec/"


def reference_validator(file, repair=True):
    docs = copy.deepcopy(DOCS)
    if repair:
        # The generator's one repair (see schema_codegen.resolve): "#definitions/uint32" in
        # defs.json is read as "#/definitions/uint32"; unrepaired, jsonschema raises on it.
        docs["defs.json"] = json.loads(
            json.dumps(docs["defs.json"]).replace('"#definitions/', '"#/definitions/'))
    registry = Registry().with_resources(
        (BASE + name, DRAFT4.create_resource(doc)) for name, doc in docs.items())
    return jsonschema.Draft4Validator(dict(docs[file], id=BASE + file), registry=registry)


REFERENCE = {
    "config": reference_validator("config-schema.json"),
    "state": reference_validator("state-schema.json"),
    "features": reference_validator("features-schema.json"),
}
GENERATED = {
    "config": _config_validator.validate_config,
    "state": _config_validator.validate_state,
    "features": _config_validator.validate_features,
}

# --- corpus

RUNC_SPEC = {  # what `runc spec` writes
    "ociVersion": "1.2.0",
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        "capabilities": {
            "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                       {"type": "mount"}, {"type": "cgroup"}],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"],
    },
}

MINIMAL = {"ociVersion": "1.3.0", "root": {"path": "rootfs"},
           "process": {"cwd": "/", "args": ["/bin/true"]}}

HOOK = {"path": "/usr/bin/hook", "args": ["hook", "--flag"], "env": ["A=1"], "timeout": 5}
EVERYTHING_LINUX = {
    "ociVersion": "1.3.0",
    "hooks": {"prestart": [HOOK, {"path": "/bin/true"}], "createRuntime": [],
              **{name: [{"path": "/bin/true", "timeout": 1}] for name in (
                  "createContainer", "startContainer", "poststart", "poststop")}},
    "annotations": {"org.opencontainers.image.os": "linux", "com.example/key": ""},
    "hostname": "box", "domainname": "example.org",
    "root": {"path": "/var/lib/box/rootfs", "readonly": False},
    "mounts": [
        {"destination": "/data", "source": "/srv/data", "type": "bind",
         "options": ["rbind", "ro", "nosuid", "idmap"],
         "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
         "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777"]},
    ],
    "process": {
        "terminal": False,
        "consoleSize": {"height": 24, "width": 80},
        "cwd": "/home/user",
        "args": ["/usr/bin/app", "--serve"],
        "commandLine": "app --serve",
        "env": ["HOME=/home/user"],
        "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5, 27],
                 "username": "user"},
        "capabilities": {"bounding": ["CAP_CHOWN"], "permitted": [], "effective": [],
                         "inheritable": [], "ambient": []},
        "apparmorProfile": "box-default", "selinuxLabel": "system_u:system_r:svirt_lxc_net_t:s0",
        "oomScoreAdj": -500,
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
        "noNewPrivileges": True,
        "scheduler": {"policy": "SCHED_DEADLINE", "nice": -5, "priority": 0,
                      "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM"],
                      "runtime": 10000000, "deadline": 20000000, "period": 30000000},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
                    {"type": "RLIMIT_CORE", "hard": 18446744073709551615, "soft": 0}],
        "execCPUAffinity": {"initial": "0", "final": "0-3, 7"},
    },
    "linux": {
        "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                     "fileMode": 438, "uid": 0, "gid": 0},
                    {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}],
        "netDevices": {"eth1": {"name": "net1"}, "ens4": {}},
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1},
                        {"containerID": 1, "hostID": 100000, "size": 65535}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/box"},
                       {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                       {"type": "user"}, {"type": "cgroup"}, {"type": "time"}],
        "timeOffsets": {"monotonic": {"secs": 3600, "nanosecs": 0},
                        "boottime": {"secs": -7200, "nanosecs": 999999999}},
        "resources": {
            "unified": {"memory.high": "1G", "io.weight": "default 100"},
            "devices": [{"allow": False, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
            "pids": {"limit": 1024},
            "blockIO": {
                "weight": 500, "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 104857600}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 52428800}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 500}],
            },
            "cpu": {"shares": 1024, "quota": 100000, "burst": 1000, "period": 100000,
                    "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "0-3",
                    "mems": "0", "idle": 0},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200},
                               {"pageSize": "1GB", "limit": 0}],
            "memory": {"limit": 536870912, "reservation": 268435456, "swap": -1,
                       "kernel": -1, "kernelTCP": -1, "swappiness": 0,
                       "disableOOMKiller": False, "useHierarchy": True,
                       "checkBeforeUpdate": True},
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
        },
        "cgroupsPath": "/box/app",
        "rootfsPropagation": "slave",
        "seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "listenerPath": "/run/seccomp-agent.sock",
            "listenerMetadata": "box",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                          {"index": 1, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            ],
        },
        "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "68719476736"},
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
        "mountLabel": "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811",
        "intelRdt": {"closID": "guaranteed_group", "l3CacheSchema": "L3:0=7f0;1=1f",
                     "memBwSchema": "MB:0=20;1=70", "schemata": ["L2:0=ff"],
                     "enableMonitoring": True},
        "memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "0-3",
                         "flags": ["MPOL_F_STATIC_NODES"]},
        "personality": {"domain": "LINUX32", "flags": []},
    },
}

OTHER_PLATFORMS = {
    "ociVersion": "1.3.0",
    "process": {"cwd": "C:\\", "args": ["cmd.exe"]},
    "windows": {
        "layerFolders": ["C:\\layers\\1", "C:\\layers\\sandbox"],
        "devices": [{"id": "24E552F1-6F4B-4B09-9D45-1A7C2E9F2F33", "idType": "class"}],
        "resources": {"memory": {"limit": 2097152}, "cpu": {"count": 2, "shares": 5000,
                      "maximum": 5000, "affinity": {"mask": 3, "group": 0}},
                      "storage": {"iops": 50, "bps": 1000, "sandboxSize": 1024}},
        "network": {"endpointList": ["7a010682-17e0-4455-a838-02e5d9655fe6"],
                    "allowUnqualifiedDNSQuery": True, "DNSSearchList": ["a.com"],
                    "networkSharedContainerName": "c", "networkNamespace": "n"},
        "credentialSpec": {}, "servicing": False, "ignoreFlushesDuringBoot": True,
        "hyperv": {"utilityVMPath": "C:\\uvm"},
    },
    "vm": {"hypervisor": {"path": "/usr/bin/qemu", "parameters": ["-smp", "2"]},
           "kernel": {"path": "/vmlinuz", "parameters": ["console=ttyS0"], "initrd": "/initrd"},
           "image": {"path": "/disk.img", "format": "qcow2"},
           "hwConfig": {"deviceTree": "/dt.dtb", "vcpus": 2, "memory": 1073741824,
                        "dtdevs": ["/soc/serial"], "irqs": [5, 6],
                        "iomems": [{"firstGFN": 1, "firstMFN": 2, "nrMFNs": 3},
                                   {"anything": "goes after the first"}]}},
    "solaris": {"milestone": "svc:/milestone/container:default", "limitpriv": "default",
                "maxShmMemory": "512m", "cappedCPU": {"ncpus": "8"},
                "cappedMemory": {"physical": "512m", "swap": "512m"},
                "anet": [{"linkname": "net0", "lowerLink": "net2", "allowedAddress": "1.2.3.4/24",
                          "configureAllowedAddress": "true", "defrouter": "1.2.3.1",
                          "macAddress": "02:08:20:a2:a7:e5", "linkProtection": "mac-nospoof"}]},
    "zos": {"namespaces": [{"type": "pid"}, {"type": "mount", "path": "/ns"}]},
    "freebsd": {"devices": [{"path": "/dev/null", "mode": 438}],
                "jail": {"parent": "host", "host": "new", "ip4": "inherit", "ip4Addr": ["10.0.0.2"],
                         "ip6": "disable", "vnet": "new", "interface": "em0",
                         "vnetInterfaces": ["epair0b"], "sysvmsg": "new", "sysvsem": "new",
                         "sysvshm": "new", "enforceStatfs": 2,
                         "allow": {"setHostname": True, "rawSockets": False, "chflags": False,
                                   "mount": ["tmpfs"], "quotas": False, "socketAf": False,
                                   "mlock": True, "reservedPorts": False, "suser": True}}},
}

CONFIGS = [RUNC_SPEC, MINIMAL, {"ociVersion": "1.0.0"}, EVERYTHING_LINUX, OTHER_PLATFORMS]

STATES = [
    {"ociVersion": "1.3.0", "id": "box", "status": "running", "pid": 4242,
     "bundle": "/containers/box", "annotations": {"org.example": "x"}},
    {"ociVersion": "1.3.0", "id": "box", "status": "creating", "bundle": "/b"},
]

FEATURES = [{
    "ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0",
    "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop"],
    "mountOptions": ["async", "bind", "ro", "rbind", "idmap"],
    "annotations": {"io.github.seccomp.libseccomp.version": "2.5.4"},
    "potentiallyUnsafeConfigAnnotations": ["org.systemd.property."],
    "linux": {
        "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
        "capabilities": ["CAP_CHOWN", "CAP_SYS_ADMIN"],
        "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": True, "rdma": True},
        "seccomp": {"enabled": True, "actions": ["SCMP_ACT_ALLOW"], "operators": ["SCMP_CMP_EQ"],
                    "archs": ["SCMP_ARCH_X86_64"], "knownFlags": ["SECCOMP_FILTER_FLAG_LOG"],
                    "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG"]},
        "apparmor": {"enabled": True}, "selinux": {"enabled": False},
        "intelRdt": {"enabled": True}, "mountExtensions": {"idmap": {"enabled": True}},
        "netDevices": {"enabled": True},
    },
}]

CORPUS = {"config": CONFIGS, "state": STATES, "features": FEATURES}


def generated_error(kind, doc):
    try:
        GENERATED[kind](doc)
    except _config_validator.ValidationError as error:
        return error
    return None


def reference_errors(kind, doc):
    """(path, keyword) of every error jsonschema finds, those inside anyOf/oneOf included."""
    found = set()

    def walk(errors):
        for error in errors:
            found.add((tuple(error.absolute_path), error.validator))
            walk(error.context or ())
    walk(REFERENCE[kind].iter_errors(doc))
    return found


def assert_same_verdict(kind, doc):
    error = generated_error(kind, doc)
    expected = reference_errors(kind, doc)
    assert (error is None) == (not expected), (error and schema.describe(error, kind), expected)
    if error is not None:
        # Draft-04's exclusiveMinimum/Maximum are reported by jsonschema as minimum/maximum.
        rule = {"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}.get(
            error.rule, error.rule)
        assert (tuple(error.path), rule) in expected, (schema.describe(error, kind), expected)
    return error


def record(error):
    """For --hypothesis-show-statistics: how many examples each rule rejected."""
    event("valid" if error is None else f"rejected by {error.rule}")


@pytest.mark.parametrize("kind,doc", [(kind, doc) for kind, docs in CORPUS.items()
                                      for doc in docs])
def test_corpus_is_valid(kind, doc):
    assert REFERENCE[kind].is_valid(doc)
    getattr(schema, f"validate_{kind}")(doc)


# --- mutations

def _schemas(node):
    """Every dict under node that has a "pattern" string (the spec's patterns)."""
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node
        for value in node.values():
            yield from _schemas(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schemas(item)


def _spec_strings():
    """Every enum value and property name in spec/, strings around the spec's patterns, for
    each enum value the values of the enums it is in, and the numbers around every minimum and
    maximum."""
    values, names, siblings, limits = set(), set(), {}, set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("minimum", "maximum") and isinstance(value, int):  # not a property
                    limits.update((value - 1, value, value + 1))
                if key == "enum":
                    values.update(item for item in value if isinstance(item, str))
                    for item in value:
                        siblings.setdefault(item, set()).update(value)
                if key == "properties":
                    names.update(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(DOCS)
    near_patterns = [
        "RLIMIT_NOFILE", "RLIMIT_NOFILE\n", "RLIMIT_", "rlimit_cpu", " RLIMIT_AS",
        "2MB", "1GB\n", "0MB", "64KB", "2mb", "10TB", "MB:0=100", "MB:0=100\n", "MB:\n0", "mb:0",
        "c", "b", "u", "p", "cc", "C", "c\n", "\nc", "0-3,5", "0-3\n", "0 - 3", "1-a", "",
        "CAP_SYS_ADMIN", "CAP_sys", "CAP_", "\n", "\r", "\u2028", "x\n",
    ]
    mangled = [f(value) for value in sorted(values) for f in (str.lower, lambda s: s + "\n")]
    return (sorted(values) + mangled + near_patterns, sorted(names),
            {value: sorted(others) for value, others in siblings.items()}, sorted(limits))


SPEC_STRINGS, SPEC_NAMES, ENUM_SIBLINGS, NEAR_LIMITS = _spec_strings()
BOUNDARIES = [
    0, 1, -1, 5, 100, 101, 127, 128, -128, -129, 255, 256, 511, 512, 65535, 65536,
    2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63, -2**63,
    -2**63 - 1, 2**64 - 1, 2**64, 0.0, 1.0, -1.0, 0.5, 1e20, -0.0, float("inf"),
    float("-inf"), True, False,
]
SHAPES = [None, True, False, 0, -1, 1.5, 1.0, "", "x", [], ["x"], [1], {}, {"a": 1},
          {"path": "/"}, [{}]]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(SPEC_STRINGS),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(SPEC_NAMES), children, max_size=3),
    max_leaves=6)
interesting = (json_values | st.sampled_from(BOUNDARIES) | st.sampled_from(SPEC_STRINGS)
               | st.sampled_from(SHAPES)).map(copy.deepcopy)  # SHAPES are shared and mutable


def nodes(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from nodes(value, path + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from nodes(value, path + (index,))


def get(doc, path):
    for part in path:
        doc = doc[part]
    return doc


@st.composite
def mutate(draw, doc):
    """doc with one change at a random place: a key deleted, a value replaced (by one of
    another type, a boundary number, a spec string or random JSON), a key added (a spec
    property name or random), an item appended or duplicated, a subtree moved elsewhere."""
    kind = draw(st.sampled_from(["delete", "replace", "add", "append", "graft"] + ["tweak"] * 5))
    scalars = [path for path in nodes(doc) if path and isinstance(get(doc, path), (int, str))
               and not isinstance(get(doc, path), bool)]
    path = draw(st.sampled_from(scalars if kind == "tweak" and scalars else list(nodes(doc))))
    node = get(doc, path)
    if kind == "tweak" and path in scalars:
        # Same type, other value: what enum, pattern, minimum and maximum are about.
        if isinstance(node, int):
            value = draw(st.sampled_from(BOUNDARIES + [node - 1, node + 1, -node, node * 2**32]))
        else:
            value = draw(st.sampled_from(SPEC_STRINGS + [node.lower(), node + "\n", node[1:],
                                                         " " + node, node + "x"]) | st.text())
        get(doc, path[:-1])[path[-1]] = value
    elif kind == "delete" and path:
        parent = get(doc, path[:-1])
        del parent[path[-1]]
    elif kind == "add" and isinstance(node, dict):
        key = draw(st.sampled_from(SPEC_NAMES) | st.text(max_size=6))
        node[key] = draw(interesting)
    elif kind == "append" and isinstance(node, list):
        node.append(copy.deepcopy(node[0]) if node and draw(st.booleans())
                    else draw(interesting))
    elif kind == "graft":
        subtree = copy.deepcopy(get(doc, draw(st.sampled_from(list(nodes(doc))))))
        if not path:
            return subtree
        get(doc, path[:-1])[path[-1]] = subtree
    else:
        value = draw(interesting)
        if not path:
            return value
        get(doc, path[:-1])[path[-1]] = value
    return doc


@st.composite
def mutated(draw, kind):
    doc = copy.deepcopy(draw(st.sampled_from(CORPUS[kind])))
    for _ in range(draw(st.integers(1, 3))):
        doc = draw(mutate(doc))
    return doc


SPLIT = {("process",), ("linux",), ("linux", "resources")}


def sections(kind, doc):
    """doc cut into small documents (the reference's cost grows with the size): each keeps one
    subtree, split further at SPLIT, and the scalars along its path (e.g. process.cwd)."""
    if kind != "config":
        yield doc
        return

    def keeps(node, path):
        for key in node:
            if path + (key,) in SPLIT:
                yield from keeps(node[key], path + (key,))
            else:
                yield path + (key,)

    def pruned(node, keep):
        if not keep:
            return node
        kept = {key: value for key, value in node.items() if not isinstance(value, (dict, list))}
        kept[keep[0]] = pruned(node[keep[0]], keep[1:])
        return kept

    for keep in keeps(doc, ()):
        yield pruned(doc, keep)


def variants(node):
    """Values to put in node's place: other types, boundaries, strings next to node."""
    yield None
    if isinstance(node, bool):
        yield from ("true", 0)
    elif isinstance(node, int):
        yield from NEAR_LIMITS + [1.0, True, float(node), node + 1, node - 1]
    elif isinstance(node, str):
        yield from (node + "\n", node.lower(), node + "x", "", 1)
        yield from ENUM_SIBLINGS.get(node, ())
        if len(node) <= 4:
            for index in range(len(node)):
                for char in "T0_":
                    yield node[:index] + char + node[index + 1:]
    elif isinstance(node, dict):
        yield from ([], "x")
    elif isinstance(node, list):
        yield from ({}, "x", [None])


@pytest.mark.parametrize("kind,doc", [(kind, doc) for kind, docs in CORPUS.items()
                                      for doc in docs])
def test_every_single_change_matches_jsonschema(kind, doc):
    """Each node of each corpus document deleted, and replaced by each of its variants."""
    for section in sections(kind, copy.deepcopy(doc)):
        for path in list(nodes(section))[1:]:
            parent, key = get(section, path[:-1]), path[-1]
            node = parent[key]
            if isinstance(parent, dict):
                changed = copy.deepcopy(section)
                del get(changed, path[:-1])[key]
                assert_same_verdict(kind, changed)
            for value in variants(node):
                parent[key] = value
                assert_same_verdict(kind, section)
            parent[key] = node


MUTATION_SETTINGS = settings(max_examples=800, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@MUTATION_SETTINGS
@given(mutated("config"))
def test_config_mutations_match_jsonschema(doc):
    record(assert_same_verdict("config", doc))


@settings(max_examples=400, deadline=None)
@given(mutated("state"))
def test_state_mutations_match_jsonschema(doc):
    record(assert_same_verdict("state", doc))


@settings(max_examples=400, deadline=None)
@given(mutated("features"))
def test_features_mutations_match_jsonschema(doc):
    record(assert_same_verdict("features", doc))


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_documents_match_jsonschema(doc):
    for kind in CORPUS:
        assert_same_verdict(kind, doc)


def test_patterns_are_python_regexes_like_jsonschema():
    """Not ECMA 262 as the spec means them: `$` matches before a final newline, `.` matches
    "\r". Both validators agree; a runtime that cares must check such fields itself."""
    doc = config(process__rlimits__0__type="RLIMIT_NOFILE\n", annotations={"\r": "x"})
    assert REFERENCE["config"].is_valid(doc)
    schema.validate_config(doc)


def test_spec_ref_without_slash_is_repaired():
    """defs.json's ArrayOfUint32 refers to "#definitions/uint32" (no slash)."""
    doc = copy.deepcopy(OTHER_PLATFORMS)
    with pytest.raises(jsonschema.exceptions._RefResolutionError):
        reference_validator("config-schema.json", repair=False).is_valid(doc)
    doc["vm"]["hwConfig"]["irqs"] = [1, -1]
    with pytest.raises(ConfigError, match=r"^config.json: vm.hwConfig.irqs\[1\]: -1 is less "):
        schema.validate_config(doc)


# --- keywords the spec does not use (yet): the generator against jsonschema on small schemas

SYNTHETIC = [
    {"type": ["string", "null"]},
    {"type": "number", "minimum": 0, "exclusiveMinimum": True,
     "maximum": 10, "exclusiveMaximum": True},
    {"minimum": 1.5, "maximum": 2},
    {"enum": [1, "1", True, None, [1, 2], {"a": 1}, 1.5, [True]]},
    {"minLength": 2, "maxLength": 3},
    {"type": "array", "minItems": 1, "maxItems": 3, "uniqueItems": True},
    {"items": [{"type": "integer"}, {"type": "string"}], "additionalItems": False},
    {"items": [{"type": "integer"}], "additionalItems": {"type": "boolean"}},
    {"additionalItems": False},
    {"properties": {"a": {"type": "integer"}},
     "patternProperties": {"^b": {"type": "string"}, "c$": {"minimum": 3}},
     "additionalProperties": False},
    {"properties": {"a": {}}, "additionalProperties": {"type": "boolean"}},
    {"patternProperties": {"a|b": {"type": "null"}}, "additionalProperties": {"type": "integer"}},
    {"additionalProperties": False},
    {"minProperties": 1, "maxProperties": 2},
    {"dependencies": {"a": ["b", "c"], "b": {"required": ["d"]}}},
    {"anyOf": [{"type": "string", "minLength": 2}, {"type": "integer", "minimum": 0}]},
    {"oneOf": [{"type": "integer"}, {"minimum": 2}]},
    {"not": {"type": "object"}},
    {"not": {}},
    {"allOf": [{"type": "integer"}, {"maximum": 5}]},
    {"type": "object", "required": ["a"], "properties": {"a": {"$ref": "#/definitions/pos"}},
     "definitions": {"pos": {"type": "integer", "minimum": 1}}},
    {"type": "array", "items": {"$ref": "#"}},
    {"format": "email", "description": "annotations only"},
    {"pattern": "^(a|b)\\d+$"},  # beyond charset_program: left to re
    {"patternProperties": {"^a*a$": {"type": "integer"}}, "additionalProperties": False},
]


def synthetic_validator(index):
    namespace = {}
    exec(schema_codegen.generate({"t.json": SYNTHETIC[index]}, {"check": "t.json"}), namespace)
    return namespace["check"], namespace["ValidationError"]


SYNTHETIC_VALIDATORS = [synthetic_validator(index) for index in range(len(SYNTHETIC))]
small_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.sampled_from([0.5, 1.5, 2.0, 10.0])
    | st.text("abcd", max_size=3),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["a", "b", "c", "d", "bc", "x"]), children, max_size=4),
    max_leaves=8)


def _has_nested_bool(value, top=True):
    if isinstance(value, bool):
        return not top
    if isinstance(value, list):
        return any(_has_nested_bool(item, False) for item in value)
    if isinstance(value, dict):
        return any(_has_nested_bool(item, False) for item in value.values())
    return False


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, len(SYNTHETIC) - 1), small_values)
def test_synthetic_keywords_match_jsonschema(index, doc):
    if SYNTHETIC[index].get("uniqueItems"):
        # jsonschema sorts, then compares neighbours only; with true and 1 inside lists that
        # misses duplicates ([[1], [true], [1]] passes), which _unique does not.
        doc = doc if not _has_nested_bool(doc) else []
    check, error_type = SYNTHETIC_VALIDATORS[index]
    try:
        check(doc)
        error = None
    except error_type as caught:
        error = caught
    reference = jsonschema.Draft4Validator(SYNTHETIC[index])
    assert (error is None) == reference.is_valid(doc), (SYNTHETIC[index], doc, error)


@pytest.mark.parametrize("index,doc,message", [
    (0, 5, "t: 5 is not of type string or null"),
    (1, 0, "t: 0 is less than or equal to the exclusive minimum of 0"),
    (1, 10, "t: 10 is greater than or equal to the exclusive maximum of 10"),
    (3, 2, 't: 2 is not one of [1, "1", true, null, [1, 2], {"a": 1}, 1.5, [true]]'),
    (4, "a", 't: "a" is shorter than 2 characters'),
    (5, [1, 1], "t: [1, 1] has non-unique items"),
    (5, [1, 2, 3, 4], "t: [1, 2, 3, 4] has more than 3 items"),
    (6, [1, "a", 2], 't: [1, "a", 2] has more than 2 items (additionalItems is false)'),
    (7, [1, 2], "t: [1]: 2 is not of type boolean"),
    (9, {"x": 1}, 't: "x" is not an allowed property'),
    (9, {"abc": 1}, 't: abc: 1 is less than the minimum of 3'),
    (13, {}, "t: {} has fewer than 1 property"),
    (14, {"a": 1, "b": 1, "d": 1}, 't: "c" is a required property when "a" is present'),
    (15, 1.5, "t: 1.5 is not valid under any of the given schemas (anyOf)"),
    (16, 3, "t: 3 is valid under more than one of the given schemas (oneOf)"),
    (17, {}, "t: {} is valid under a schema it must not match (not)"),
    (21, [[], [[5]]], "t: [1][0][0]: 5 is not of type array"),
])
def test_synthetic_messages(index, doc, message):
    check, error_type = SYNTHETIC_VALIDATORS[index]
    with pytest.raises(error_type) as caught:
        check(doc)
    assert schema.describe(caught.value, "t") == message


# --- messages on real configs

def config(**changes):
    doc = copy.deepcopy(RUNC_SPEC)
    for dotted, value in changes.items():
        *parents, last = [int(part) if part.isdigit() else part for part in dotted.split("__")]
        node = get(doc, parents)
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return doc


@pytest.mark.parametrize("doc,message", [
    (config(process__args="true"), 'config.json: process.args: "true" is not of type array'),
    (config(root__path=KeyError), 'config.json: root: "path" is a required property'),
    (config(process__cwd=KeyError), 'config.json: process: "cwd" is a required property'),
    (config(ociVersion=KeyError), 'config.json: "ociVersion" is a required property'),
    (config(linux__namespaces__1__type="net"),
     'config.json: linux.namespaces[1].type: "net" is not one of ["mount", "pid", "network", '
     '"uts", "ipc", "user", "cgroup", "time"]'),
    (config(mounts__2__destination=7),
     "config.json: mounts[2].destination: 7 is not of type string"),
    (config(mounts__2__destination=KeyError),
     'config.json: mounts[2]: "destination" is a required property'),
    (config(process__user__uid=-1),
     "config.json: process.user.uid: -1 is less than the minimum of 0"),
    (config(process__user__uid=2**32),
     "config.json: process.user.uid: 4294967296 is greater than the maximum of 4294967295"),
    (config(process__user__gid=1.0), "config.json: process.user.gid: 1.0 is not of type integer"),
    (config(process__rlimits__0__type="RLIMIT_nofile"),
     'config.json: process.rlimits[0].type: "RLIMIT_nofile" does not match pattern '
     '"^RLIMIT_[A-Z]+$"'),
    (config(linux__seccomp={"defaultAction": "SCMP_ACT_ALLOW",
                            "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
     "config.json: linux.seccomp.syscalls[0].names: [] has fewer than 1 item"),
    (config(annotations={"org.example.key": 1}),
     'config.json: annotations["org.example.key"]: 1 is not of type string'),
    (config(linux__resources__devices__0__allow="yes"),
     'config.json: linux.resources.devices[0].allow: "yes" is not of type boolean'),
    (["x"], 'config.json: ["x"] is not of type object'),
])
def test_config_messages(doc, message):
    with pytest.raises(ConfigError) as caught:
        schema.validate_config(doc)
    assert str(caught.value) == message
    assert "\n" not in message and not message.endswith(".")


def test_long_values_are_shortened():
    with pytest.raises(ConfigError) as caught:
        schema.validate_config(config(process__args={"k": "x" * 100}))
    assert str(caught.value) == (
        'config.json: process.args: {"k": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'
        " is not of type array")


def test_unknown_properties_and_annotations_are_accepted():
    doc = config()
    doc["x-unknown"] = {"anything": [1, 2]}
    doc["process"]["someFutureField"] = 1
    doc["linux"]["resources"]["someController"] = {}
    doc["annotations"] = {"com.example.anything": "value", "": 5}  # "" does not match ".{1,}"
    schema.validate_config(doc)


def test_state_messages():
    schema.validate_state(STATES[0])
    with pytest.raises(OcirunError, match=r'^state.json: "bundle" is a required property$'):
        schema.validate_state({"ociVersion": "1.3.0", "id": "a", "status": "running"})
    with pytest.raises(OcirunError, match=r'^state.json: status: "paused" is not one of '):
        schema.validate_state(dict(STATES[0], status="paused"))
    with pytest.raises(OcirunError, match=r"^state.json: pid: -1 is less than the minimum of 0$"):
        schema.validate_state(dict(STATES[0], pid=-1))


# --- build: generated module, determinism, import cost, speed

def test_generated_module_is_fresh():
    """The importable module is what the generator makes from spec/ now."""
    assert _config_validator.SPEC_DIGEST == schema_codegen.spec_digest(DOCS)
    source = pathlib.Path(_config_validator.__file__).read_text(encoding="utf-8")
    assert source == schema_codegen.generate(DOCS)


def test_generator_is_deterministic(tmp_path):
    outputs = []
    for seed in ("0", "1", "12345"):
        out = tmp_path / f"v{seed}.py"
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=_package_root())
        subprocess.run([sys.executable, str(CODEGEN), str(out)], env=env, check=True)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    assert b"fastjsonschema" not in outputs[0] and b"jsonschema" not in outputs[0]


def test_generator_rejects_unsupported_keywords():
    with pytest.raises(schema_codegen.SchemaError, match="unsupported keyword.*multipleOf"):
        schema_codegen.generate({"t.json": {"multipleOf": 2}}, {"check": "t.json"})
    with pytest.raises(schema_codegen.SchemaError, match="unresolvable"):
        schema_codegen.generate({"t.json": {"$ref": "#/definitions/nope"}}, {"check": "t.json"})


def _package_root():
    return str(pathlib.Path(ocirun.__file__).resolve().parent.parent)


def test_validating_imports_neither_jsonschema_nor_re(tmp_path):
    """Nor json, which imports re: create's start-up cost (see ocirun/jsonio.py)."""
    bad = config(annotations={"a.b": 1})
    code = ("import sys, ocirun.schema\n"
            f"ocirun.schema.validate_config({RUNC_SPEC!r})\n"
            "try:\n"
            f"    ocirun.schema.validate_config({bad!r})\n"
            "except ocirun.schema.ConfigError as error:\n"
            "    print(error)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('jsonschema', 'fastjsonschema', 'referencing', 'decimal', 're', 'json')"
            " or m.endswith('schema_codegen')))")
    env = dict(os.environ, PYTHONPATH=_package_root())
    # -S: site may import re itself; cwd: not a source tree, whose ocirun/ would shadow the
    # package under test (a clean checkout has no generated validator)
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, check=True,
                         capture_output=True, text=True, cwd=tmp_path).stdout
    assert out.splitlines() == ['config.json: annotations["a.b"]: 1 is not of type string', "[]"]


PATTERNS = sorted({node["pattern"] for node in _schemas(DOCS)} | {
    "^a*b?$", "^[a\\-c]+$", "^[^\\n]{2,3}x$", "^[]a]{2}$", "x.?$", "^$", "$", "", "^a{0,2}b",
    "[ab]", ".{3,}", "^(a)$", "a|b", "\\d+", "^a*a$", "^[^b]*b$", "^[a-c]*[c-e]$",
    "^[a-c-e]+$", "^[\\n-\\r]?x"})


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(PATTERNS), st.text("abcdexRLIMIT_NOFILE2MKGB:0, -\n\r\t\x0b]", max_size=8))
def test_patterns_without_re_match_like_re(pattern, text):
    """charset_program's patterns, as _search runs them, against re.search."""
    import re
    program = schema_codegen.charset_program(pattern)
    if program is None:
        return  # left to re by the generated code
    namespace = {}
    exec(schema_codegen.SEARCH_HELPER, namespace)
    assert namespace["_search"](text, program) == (re.search(pattern, text) is not None)


def test_only_plain_patterns_are_taken_without_re():
    taken = [pattern for pattern in PATTERNS if schema_codegen.charset_program(pattern)]
    assert set(taken) >= {node["pattern"] for node in _schemas(DOCS)}
    assert not {"^(a)$", "a|b", "\\d+", "^a*a$", "^[a-c]*[c-e]$"} & set(taken)


def test_validation_is_fast():
    runs = []
    for _ in range(300):
        start = time.perf_counter()
        schema.validate_config(EVERYTHING_LINUX)
        runs.append(time.perf_counter() - start)
    assert statistics.median(runs) < 0.001
