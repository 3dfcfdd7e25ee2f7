"""linux.memoryPolicy: the NUMA memory policy of the container's process
(set_mempolicy(2)); kept across exec and inherited by children."""
from ocirun import _sys
from ocirun.errors import ConfigError
from ocirun.linux.scheduling import parse_list

# include/uapi/linux/mempolicy.h
MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3, "MPOL_LOCAL": 4,
         "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14, "MPOL_F_STATIC_NODES": 1 << 15}
_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
_NEED_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY")


def check(policy):
    """The node list and the mode's rules (set_mempolicy(2)); returns the node set."""
    if policy is None:
        return None
    nodes = parse_list(policy.nodes, "linux.memoryPolicy.nodes") if policy.nodes else set()
    if policy.mode in _NO_NODES and nodes:
        raise ConfigError(f"config.json: linux.memoryPolicy.nodes: {policy.mode} takes no nodes")
    if policy.mode in _NEED_NODES and not nodes:
        raise ConfigError(f"config.json: linux.memoryPolicy.nodes: {policy.mode} needs at least one node")
    return nodes


def apply(policy):
    if policy is None:
        return
    mode = MODES[policy.mode]
    for flag in policy.flags:
        mode |= FLAGS[flag]
    _sys.set_mempolicy(mode, check(policy), what=f"set_mempolicy {policy.mode}")
