"""QENEX OS device drivers: Python first, C only for interrupt paths."""
