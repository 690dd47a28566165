"""Byte-at-a-time line editor for the serial console.

Holds LineEditor: it turns raw bytes from a terminal into completed lines,
echoing as it goes, with backspace, Ctrl-C, Ctrl-U and a small history reached
by the arrow keys. It does not parse commands and does not read the UART; the
caller feeds it one byte (an int) at a time and gives it a write(str) function.

Secrets: the arguments of a command in `secret` (default `hsm login`, `hsm
pin`: PINs typed on the command line) are echoed as `*`, and such a line is
never kept in the history. read_secret() reads a line with no echo at all,
for a command that asks for its PIN (`hsm login` alone); that is the form
to use: nothing of the PIN, not even its length, reaches the screen.

Memory is bounded whatever arrives: the line lives in a fixed bytearray of
max_line bytes, escape sequences are consumed without being stored, and every
control byte it does not know and every byte >= 0x80 is dropped.
Runs under MicroPython (no floats) and CPython alike.
"""

BELL = "\x07"
RUBOUT = "\b \b"

# States of the escape-sequence recogniser.
_TEXT = 0   # ordinary input
_ESC = 1    # after ESC
_CSI = 2    # after ESC [ : parameter/intermediate bytes until a final byte
_SS3 = 3    # after ESC O : one more byte, ignored

SECRET = (("hsm", "login"), ("hsm", "pin"))    # commands whose arguments are PINs


class LineEditor:
    def __init__(self, write, max_line=200, history_size=16, secret=SECRET):
        self._write = write
        self._secret = secret
        self._buf = bytearray(max_line)
        self._max = max_line
        self._hist_size = history_size
        self._hist = []
        self._n = 0              # bytes of _buf in use
        self._state = _TEXT
        self._csi_params = False  # a CSI sequence carried parameter bytes
        self._after_cr = False    # the previous byte ended a line with CR
        self._hpos = 0            # history index being shown; len(_hist) = none

    def reset(self):
        """Forget the line being typed and any half-read escape; keep history."""
        self._n = 0
        self._state = _TEXT
        self._after_cr = False
        self._hpos = len(self._hist)

    def buffer(self):
        """The line typed so far, as a str."""
        return bytes(self._buf[:self._n]).decode()

    def history(self):
        """Completed lines, oldest first (a copy)."""
        return list(self._hist)

    def feed(self, b):
        """Take one byte; return the finished line on Enter, else None."""
        after_cr = self._after_cr
        self._after_cr = False
        st = self._state
        if st == _ESC:
            if b == 0x5B:        # '['
                self._state = _CSI
                self._csi_params = False
                return None
            if b == 0x4F:        # 'O'
                self._state = _SS3
                return None
            self._state = _TEXT  # lone ESC: drop it, handle b normally
        elif st == _CSI:
            if 0x20 <= b <= 0x3F:
                self._csi_params = True
                return None
            self._state = _TEXT
            if 0x40 <= b <= 0x7E:
                if not self._csi_params:
                    if b == 0x41:    # 'A'
                        self._recall(-1)
                    elif b == 0x42:  # 'B'
                        self._recall(1)
                return None
            # malformed sequence: abandon it, handle b normally
        elif st == _SS3:
            self._state = _TEXT
            return None

        if 0x20 <= b <= 0x7E:
            if self._n >= self._max:
                self._write(BELL)
            else:
                masked = self._secret_args()
                self._buf[self._n] = b
                self._n += 1
                self._write("*" if masked else chr(b))
        elif b == 0x0D or b == 0x0A:
            if b == 0x0A and after_cr:
                return None      # the LF of a CR LF pair
            self._after_cr = b == 0x0D
            return self._finish()
        elif b == 0x08 or b == 0x7F:
            if self._n:
                self._n -= 1
                self._write(RUBOUT)
        elif b == 0x1B:
            self._state = _ESC
        elif b == 0x03:          # Ctrl-C
            self._write("^C\n")
            self.reset()
            return ""
        elif b == 0x15:          # Ctrl-U
            self._erase()
        return None

    def _finish(self):
        self._write("\n")
        line = self.buffer()
        secret = self._secret_args(True)
        self._n = 0
        if line and not secret and (not self._hist or self._hist[-1] != line):
            self._hist.append(line)
            if len(self._hist) > self._hist_size:
                self._hist.pop(0)
        self._hpos = len(self._hist)
        return line

    def _secret_args(self, whole=False):
        """True when what is typed so far is a secret command and the space
        after it (the next byte is one of its arguments); whole: the line
        is a secret command, arguments or not."""
        text = bytes(self._buf[:self._n]).decode()
        words = text.split()
        for cmd in self._secret:
            k = len(cmd)
            if tuple(words[:k]) == cmd and (whole or len(words) > k or text[-1:] in (" ", "\t")):
                return True
        return False

    def _erase(self):
        if self._n:
            self._write(RUBOUT * self._n)
            self._n = 0

    def _recall(self, step):
        pos = self._hpos + step
        if pos < 0 or pos > len(self._hist):
            return
        self._hpos = pos
        self._erase()
        if pos < len(self._hist):
            text = self._hist[pos]
            for i in range(len(text)):
                self._buf[i] = ord(text[i])
            self._n = len(text)
            self._write(text)


def read_secret(read_byte, write, prompt, max_len=64):
    """A line typed with no echo (a PIN), after `prompt`: printable bytes
    up to CR or LF, backspace and Ctrl-U edit it (nothing shows), escape
    sequences are dropped. Returns the text, or None on Ctrl-C or the end
    of input. A LF right away is the end of the command line's CR LF."""
    write(prompt)
    buf = bytearray()
    state = _TEXT
    first = True
    while True:
        b = read_byte()
        if b is None:
            write("\n")
            return None
        if first and b == 0x0A:
            first = False
            continue
        first = False
        if state == _ESC:
            state = _CSI if b in (0x5B, 0x4F) else _TEXT
            continue
        if state == _CSI:
            if 0x40 <= b <= 0x7E:
                state = _TEXT
            continue
        if b == 0x0D or b == 0x0A:
            write("\n")
            return bytes(buf).decode()
        if b == 0x03:
            write("^C\n")
            return None
        if b == 0x08 or b == 0x7F:
            buf = buf[:-1]
        elif b == 0x15:
            buf = bytearray()
        elif b == 0x1B:
            state = _ESC
        elif 0x20 <= b <= 0x7E and len(buf) < max_len:
            buf.append(b)
