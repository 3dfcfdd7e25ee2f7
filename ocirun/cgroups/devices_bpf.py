"""linux.resources.devices on cgroup v2, which has no devices.allow: an eBPF
program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's
cgroup, that the kernel runs on every open or mknod of a device node.

The program checks the rules last to first, so the last one that matches
decides, as the v1 files do when written in order; with none matching, it
allows (a v1 cgroup without rules allows everything, and the rules ocirun
writes always start from a deny-all of the config or end in allowing the
default devices).
"""
import struct

# struct bpf_cgroup_dev_ctx: u32 access_type (access << 16 | type), u32 major, u32 minor
_DEVICE_TYPE = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# eBPF opcodes (linux/bpf_common.h, linux/bpf.h)
_LDX_W = 0x61     # dst = *(u32 *)(src + off)
_AND32_K = 0x54   # dst &= imm
_RSH32_K = 0x74   # dst >>= imm
_MOV32_X = 0xbc   # dst = src
_JNE_K = 0x55     # if dst != imm: pc += off
_MOV64_K = 0xb7   # dst = imm
_EXIT = 0x95

_R0, _R1, _TYPE, _ACCESS_REG, _MAJOR, _MINOR = 0, 1, 2, 3, 4, 5


def _insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _signed32(value):
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def program(rules):
    """The program's bytes for DeviceRule objects (allow, type a/b/c, major,
    minor with None or -1 for any, access from "rwm")."""
    code = [
        _insn(_LDX_W, _TYPE, _R1, 0), _insn(_AND32_K, _TYPE, imm=0xFFFF),
        _insn(_LDX_W, _ACCESS_REG, _R1, 0), _insn(_RSH32_K, _ACCESS_REG, imm=16),
        _insn(_LDX_W, _MAJOR, _R1, 4),
        _insn(_LDX_W, _MINOR, _R1, 8),
    ]
    for rule in reversed(list(rules)):
        block = _rule_block(rule)
        code += block
        if len(block) == 2:  # matches every access: what follows could never run (the verifier refuses that)
            return b"".join(code)
    code += [_insn(_MOV64_K, _R0, imm=1), _insn(_EXIT)]
    return b"".join(code)


def _rule_block(rule):
    """Instructions that return the rule's verdict when it matches, else fall
    through to the next block; each test jumps to the end of the block."""
    tests = []  # (instructions, index of the jump among them)
    if rule.type != "a":
        tests.append([(_JNE_K, _TYPE, _DEVICE_TYPE[rule.type])])
    mask = sum(_ACCESS[a] for a in set(rule.access))
    if mask != 7:
        # every requested access must be one the rule names
        tests.append([(_MOV32_X, _R0, _ACCESS_REG), (_AND32_K, _R0, _signed32(~mask)), (_JNE_K, _R0, 0)])
    if rule.type != "a" and rule.major is not None and rule.major >= 0:
        tests.append([(_JNE_K, _MAJOR, rule.major)])
    if rule.type != "a" and rule.minor is not None and rule.minor >= 0:
        tests.append([(_JNE_K, _MINOR, rule.minor)])
    flat = [step for test in tests for step in test]
    verdict = [_insn(_MOV64_K, _R0, imm=1 if rule.allow else 0), _insn(_EXIT)]
    out = []
    for position, step in enumerate(flat):
        code, dst, value = step
        if code == _JNE_K:
            remaining = len(flat) - position - 1 + len(verdict)
            out.append(_insn(code, dst, off=remaining, imm=value))
        elif code == _MOV32_X:
            out.append(_insn(code, dst, value))
        else:
            out.append(_insn(code, dst, imm=value))
    return out + verdict
