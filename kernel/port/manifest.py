# Python code frozen into the kernel firmware (MicroPython manifest).
# QENEX_ROOT and QENEX_GEN are passed by kernel/port/Makefile.
# kernel/sim.py (the host simulation of the trap layer) stays out of the firmware.
# Of userland/, only the image's tasks and the libraries are frozen: the list is
# made per image by tools/gather_manifests.py from hal/board/<board>/images.py.
package("kernel", base_path="$(QENEX_ROOT)", files=("__init__.py", "abi.py", "buddy.py", "errors.py",
        "fasttab.py", "ipc.py", "kernel.py", "main.py", "manifest.py", "sched.py", "supervisor.py", "system.py",
        "bootctl.py", "bundles.py", "rights.py", "tasks.py", "syscalls.py", "kctl.py", "taskmem.py",
        "faults.py", "clock.py"))
package("drivers", base_path="$(QENEX_ROOT)")
include("$(QENEX_GEN)/userland_frozen.py")
module("board.py", base_path="$(QENEX_ROOT)/hal/board/$(QENEX_BOARD)")
module("_build.py", base_path="$(QENEX_GEN)")
module("_manifests.py", base_path="$(QENEX_GEN)")
module("_image.py", base_path="$(QENEX_GEN)")
module("_vectors.py", base_path="$(QENEX_GEN)")
