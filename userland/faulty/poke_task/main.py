"""Writes into another task's memory: the MPU stops it (MemManage)."""
import _qx
import board


def main():
    mine = _qx.addr(bytearray(16))
    # Some address in the task pool that is not in this task's own block.
    half = board.TASK_POOL_SIZE // 2
    target = board.TASK_POOL_BASE if mine >= board.TASK_POOL_BASE + half else board.TASK_POOL_BASE + half
    _qx.poke(target + 64, 0x0BADF00D)
