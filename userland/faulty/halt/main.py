"""Tries to reset the board (a write to the SCB's AIRCR): unprivileged code
may not touch the system control space, so it faults and the board runs on."""
import _hal


def main():
    _hal.reset()
