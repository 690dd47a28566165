"""The device console (UART0): bytes in from the interrupt-driven ring buffer,
text out with "\\n" sent as "\\r\\n". A thin layer over the C driver in
drivers/uart/; the shell and the kernel write through it."""
import _hal


class Console:
    def read_byte(self):
        """The next byte typed, waiting (the CPU sleeps) until there is one."""
        return _hal.read_byte()

    def poll_byte(self):
        """The next byte typed, or None when nothing is waiting."""
        return _hal.poll_byte()

    def write(self, text):
        _hal.write(text)

    def stats(self):
        """(bytes received, bytes dropped because the ring buffer was full)."""
        return _hal.uart_stats()
