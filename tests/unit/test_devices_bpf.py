"""The cgroup v2 device program's shape (the kernel runs it in tests/vm)."""
import struct

from ocirun.cgroups.devices import DeviceRule
from ocirun.cgroups.devices_bpf import program

EXIT = 0x95


def instructions(code):
    return [struct.unpack("<BBhi", code[i:i + 8]) for i in range(0, len(code), 8)]


def test_rules_after_a_match_all_are_not_emitted():
    """The verifier refuses unreachable code: a deny-all checked last ends the program."""
    insns = instructions(program([DeviceRule(False, "a"), DeviceRule(True, "c", 1, 3, "rwm")]))
    assert insns[-1][0] == EXIT and insns[-2][3] == 0  # r0 = 0 (deny), exit
    assert sum(1 for insn in insns if insn[0] == EXIT) == 2  # the c 1:3 verdict, the deny-all


def test_every_jump_lands_inside_the_program():
    code = program([DeviceRule(False, "a"), DeviceRule(True, "c", 1, None, "rw"), DeviceRule(True, "b", 8, 0, "m")])
    insns = instructions(code)
    for index, (opcode, _, offset, _) in enumerate(insns):
        if opcode == 0x55:
            assert 0 < index + 1 + offset < len(insns)


def test_without_a_match_all_the_default_is_allow():
    insns = instructions(program([DeviceRule(False, "c", 1, 1, "rwm")]))
    assert insns[-2] == (0xb7, 0, 0, 1) and insns[-1][0] == EXIT
