# Python code frozen into the kernel firmware (MicroPython manifest).
# QENEX_ROOT and QENEX_GEN are passed by kernel/port/Makefile.
# kernel/sim.py (the host simulation of the trap layer) stays out of the firmware.
package("kernel", base_path="$(QENEX_ROOT)", files=("__init__.py", "abi.py", "buddy.py", "errors.py",
        "ipc.py", "kernel.py", "main.py", "manifest.py", "sched.py", "supervisor.py", "system.py",
        "bootctl.py", "bundles.py", "rights.py"))
package("drivers", base_path="$(QENEX_ROOT)")
package("userland", base_path="$(QENEX_ROOT)")
module("board.py", base_path="$(QENEX_ROOT)/hal/board/$(QENEX_BOARD)")
module("_build.py", base_path="$(QENEX_GEN)")
module("_manifests.py", base_path="$(QENEX_GEN)")
module("_vectors.py", base_path="$(QENEX_GEN)")
