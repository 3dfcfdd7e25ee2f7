"""Container statistics from the cgroup v1 files, in the form of runc's
`events --stats` (the "data" of a "stats" event)."""
import os

_NS_PER_TICK = 10**9 // os.sysconf("SC_CLK_TCK")


def collect(directory_of):
    """directory_of(controller) -> the container's directory in that hierarchy, or None."""
    stats = {}
    cpu = _cpu(directory_of("cpuacct"), directory_of("cpu"))
    if cpu:
        stats["cpu"] = cpu
    memory = _memory(directory_of("memory"))
    if memory:
        stats["memory"] = memory
    pids = directory_of("pids")
    if pids:
        limit = _read(pids, "pids.max")
        stats["pids"] = {"current": _int(pids, "pids.current"),
                         "limit": 0 if limit in (None, "max") else int(limit)}
    blkio = directory_of("blkio")
    if blkio:
        stats["blkio"] = {
            "ioServiceBytesRecursive": _blkio(blkio, "blkio.throttle.io_service_bytes_recursive"),
            "ioServicedRecursive": _blkio(blkio, "blkio.throttle.io_serviced_recursive"),
        }
    hugetlb = _hugetlb(directory_of("hugetlb"))
    if hugetlb:
        stats["hugetlb"] = hugetlb
    return stats


def page_sizes(hugepages="/sys/kernel/mm/hugepages"):
    """The kernel's huge page sizes as cgroup file names give them: 2MB, 1GB."""
    sizes = []
    for entry in sorted(os.listdir(hugepages)) if os.path.isdir(hugepages) else ():
        kilobytes = int(entry[len("hugepages-"):-len("kB")])
        for unit, scale in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kilobytes % scale == 0:
                sizes.append(f"{kilobytes // scale}{unit}")
                break
    return sizes


def _hugetlb(directory):
    """Per page size: usage, max usage and failures (v1 files), or on v2 (a
    hybrid host's hugetlb included) current usage and the "max" event count."""
    if not directory:
        return None
    out = {}
    for size in page_sizes():
        prefix = f"hugetlb.{size}"
        if os.path.exists(os.path.join(directory, f"{prefix}.usage_in_bytes")):
            out[size] = {"usage": _int(directory, f"{prefix}.usage_in_bytes"),
                         "max": _int(directory, f"{prefix}.max_usage_in_bytes"),
                         "failcnt": _int(directory, f"{prefix}.failcnt")}
        elif os.path.exists(os.path.join(directory, f"{prefix}.current")):
            out[size] = {"usage": _int(directory, f"{prefix}.current"), "max": 0,
                         "failcnt": _key_values(directory, f"{prefix}.events").get("max", 0)}
    return out


def _cpu(cpuacct, cpu):
    out = {}
    if cpuacct:
        ticks = _key_values(cpuacct, "cpuacct.stat")
        percpu = _read(cpuacct, "cpuacct.usage_percpu") or ""
        out["usage"] = {"total": _int(cpuacct, "cpuacct.usage"), "percpu": [int(v) for v in percpu.split()],
                        "kernel": ticks.get("system", 0) * _NS_PER_TICK, "user": ticks.get("user", 0) * _NS_PER_TICK}
    if cpu:
        throttling = _key_values(cpu, "cpu.stat")
        out["throttling"] = {"periods": throttling.get("nr_periods", 0),
                             "throttledPeriods": throttling.get("nr_throttled", 0),
                             "throttledTime": throttling.get("throttled_time", 0)}
    return out


def _memory(directory):
    if not directory:
        return None

    def usage(prefix):
        return {"limit": _int(directory, f"{prefix}.limit_in_bytes"), "usage": _int(directory, f"{prefix}.usage_in_bytes"),
                "max": _int(directory, f"{prefix}.max_usage_in_bytes"), "failcnt": _int(directory, f"{prefix}.failcnt")}
    return {"usage": usage("memory"), "swap": usage("memory.memsw"), "kernel": usage("memory.kmem"),
            "kernelTCP": usage("memory.kmem.tcp"), "raw": _key_values(directory, "memory.stat")}


def _blkio(directory, name):
    entries = []
    for line in (_read(directory, name) or "").splitlines():
        fields = line.split()
        if len(fields) == 3 and ":" in fields[0]:
            major, minor = fields[0].split(":")
            entries.append({"major": int(major), "minor": int(minor), "op": fields[1], "value": int(fields[2])})
    return entries


def _read(directory, name):
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read().strip()
    except OSError:
        return None


def _int(directory, name):
    text = _read(directory, name)
    return int(text) if text and text.lstrip("-").isdigit() else 0


def _key_values(directory, name):
    values = {}
    for line in (_read(directory, name) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def collect_v2(directory):
    """The same document from a cgroup v2 directory."""
    cpu = _key_values(directory, "cpu.stat")
    stats = {"cpu": {"usage": {"total": cpu.get("usage_usec", 0) * 1000, "percpu": [],
                               "kernel": cpu.get("system_usec", 0) * 1000, "user": cpu.get("user_usec", 0) * 1000},
                     "throttling": {"periods": cpu.get("nr_periods", 0), "throttledPeriods": cpu.get("nr_throttled", 0),
                                    "throttledTime": cpu.get("throttled_usec", 0) * 1000}}}

    def limit(name):
        text = _read(directory, name)
        return 0 if text in (None, "max") else int(text)
    stats["memory"] = {"usage": {"usage": _int(directory, "memory.current"), "limit": limit("memory.max"),
                                 "max": _int(directory, "memory.peak"), "failcnt": 0},
                       "swap": {"usage": _int(directory, "memory.swap.current"), "limit": limit("memory.swap.max"),
                                "max": _int(directory, "memory.swap.peak"), "failcnt": 0},
                       "raw": _key_values(directory, "memory.stat")}
    stats["pids"] = {"current": _int(directory, "pids.current"), "limit": limit("pids.max")}
    entries = []
    for line in (_read(directory, "io.stat") or "").splitlines():
        device, *pairs = line.split()
        major, minor = device.split(":")
        counters = dict(pair.split("=") for pair in pairs if "=" in pair)
        for op, key in (("Read", "rbytes"), ("Write", "wbytes")):
            if key in counters:
                entries.append({"major": int(major), "minor": int(minor), "op": op, "value": int(counters[key])})
    stats["blkio"] = {"ioServiceBytesRecursive": entries}
    hugetlb = _hugetlb(directory)
    if hugetlb:
        stats["hugetlb"] = hugetlb
    return stats
