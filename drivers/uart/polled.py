"""A CMSDK APB UART polled from the task that owns it (its manifest is
granted the device, so the MPU maps the UART's registers for that task
only): UART1 for the hsm task, UART2 for the gateway. Registers: DATA
+0x0, STATE +0x4 (bit 0 TX full, bit 1 RX full), CTRL +0x8 (bit 0 TX
enable, bit 1 RX enable), BAUDDIV +0x10."""
import _qx

DATA, STATE, CTRL, BAUDDIV = 0x0, 0x4, 0x8, 0x10
TX_FULL, RX_FULL = 1, 2


class UartPort:
    def __init__(self, base, sysclk_hz, baud=115200):
        self.base = base
        _qx.poke(base + BAUDDIV, sysclk_hz // baud)
        _qx.poke(base + CTRL, 3)

    def write(self, data):
        state, reg = self.base + STATE, self.base + DATA
        for b in data:
            while _qx.peek(state) & TX_FULL:
                pass
            _qx.poke(reg, b)

    def read(self, limit=8192):
        """The bytes waiting now (perhaps none)."""
        out = bytearray()
        state, reg = self.base + STATE, self.base + DATA
        while len(out) < limit and _qx.peek(state) & RX_FULL:
            out.append(_qx.peek(reg) & 0xFF)
        return bytes(out)
