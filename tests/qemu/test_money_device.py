"""The money vectors (tests/vectors/money.txt) run on the device by the
moneycheck task, with the same results as on the host."""
import re

import pytest

pytestmark = pytest.mark.timeout(120)


def test_the_money_vectors_hold_on_the_device(device):
    count = sum(1 for line in open(__file__.replace("qemu/test_money_device.py", "vectors/money.txt"))
                if line.strip() and not line.startswith("#"))
    mark = device.mark()
    device.cmd("start moneycheck")
    m = device.wait_line(r"moneycheck: (\d+) vectors, (\d+) failures", since=mark, timeout=60)
    assert (int(m.group(1)), int(m.group(2))) == (count, 0), device.text[mark:]
    assert not re.search(r"moneycheck: FAIL", device.text[mark:])
