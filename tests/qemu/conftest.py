"""Fixtures of the QEMU integration tests: boot the firmware on the emulated
mps2-an385 and talk to its console (qemu_console.Device).

`device` is a booted board waiting at the shell prompt; `boot(flash)` boots any
flash image (a corrupted one, say) and leaves the waiting to the test. Every
QEMU started here is killed at teardown, and every wait has a timeout.
"""
import os
import sys

import pytest

from kernel import manifest as kmanifest
from qemu_console import BOARD, FLASH, IMAGE, Device, norm
from tools import gather_manifests
from tools.layout import ROOT, load_board


@pytest.fixture(scope="session")
def flash_bin():
    """Path of the built test image (boot + slot A): what the tests boot."""
    if not os.path.isfile(FLASH):
        pytest.fail("%s does not exist: run `make build` first" % os.path.relpath(FLASH, ROOT),
                    pytrace=False)
    return FLASH


@pytest.fixture(scope="session")
def board():
    return load_board(BOARD)


@pytest.fixture(scope="session")
def version():
    with open(os.path.join(ROOT, "VERSION")) as f:
        return f.read().strip()


@pytest.fixture(scope="session")
def manifests():
    """The task manifests of the image the tests boot (the test image,
    hal/board/<board>/images.py), parsed, in task id order (id = index + 1),
    as the build freezes them."""
    return [kmanifest.parse(text, source) for source, text in gather_manifests.image_manifests(BOARD, IMAGE)[1]]


@pytest.fixture
def boot(flash_bin):
    """Factory: boot(flash=None, storage=None, hsm=None, hostlink=None,
    qemu_args=(), net=None) starts QEMU on
    `flash` (default: the built test image, flash-test.bin) with the storage file `storage`
    (default: a new erased one), UART1 on the HSM socket `hsm` and UART2
    served on the socket `hostlink` (defaults: none), the board's network
    services forwarded from free host ports if `net` (Device.ports), and returns its Device
    without waiting for anything."""
    devices = []

    def start(flash=None, storage=None, hsm=None, hostlink=None, qemu_args=(), net=None):
        dev = Device(flash or flash_bin, storage, hsm, hostlink, qemu_args, net)
        devices.append(dev)
        return dev

    yield start
    for dev in devices:
        dev.terminate()
        # Shown by pytest only when the test failed.
        sys.stdout.write("---- console of %s ----\n%s\n" % (
            os.path.basename(dev.flash), norm(dev.text)))


@pytest.fixture
def device(boot):
    """A freshly booted board at the shell prompt; `.boot_output` holds what
    the bootloader and kernel printed before it."""
    dev = boot()
    dev.boot_output = dev.wait_prompt()
    return dev
