"""The C side of the task/kernel boundary (kernel/port/abi.h) says the same
numbers as the Python side (kernel/abi.py): a syscall number or event kind
changed on one side only would make tasks and kernel misunderstand each other."""
import os
import re

from kernel import abi
from tools.layout import ROOT

C_ONLY = {"SYS_NARGS", "EXIT_FAULT"}    # C conveniences with no Python twin


def c_defines():
    text = open(os.path.join(ROOT, "kernel", "port", "abi.h")).read()
    out = {}
    for name, value in re.findall(r"^#define QX_(\w+)\s+(\S+)", text, re.M):
        if name not in C_ONLY:
            out[name] = int(value, 0)
    return out


def test_every_c_number_matches_python():
    py = dict(abi.table())
    for name, value in c_defines().items():
        assert py.get(name) == value, "QX_%s = %d in abi.h, %r in abi.py" % (name, value, py.get(name))


def test_every_syscall_event_and_irq_is_in_the_c_header():
    c = c_defines()
    for name, value in abi.table():
        if re.match(r"(SYS|EV|IRQ)_", name) or name in ("NARGS", "MSG_MAX"):
            assert c.get(name) == value, "abi.h lacks QX_%s = %d" % (name, value)
