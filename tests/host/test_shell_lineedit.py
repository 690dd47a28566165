"""Host tests of userland.shell.lineedit: echo, editing keys, history, escape
sequences, and bounded behaviour under garbage input."""
import random

import pytest

from userland.shell import lineedit

UP, DOWN, RIGHT, LEFT = b"\x1b[A", b"\x1b[B", b"\x1b[C", b"\x1b[D"


class Term:
    """A LineEditor plus everything it wrote and every line it returned."""

    def __init__(self, **kw):
        self.out = []
        self.ed = lineedit.LineEditor(self.out.append, **kw)
        self.lines = []

    def feed(self, data):
        if isinstance(data, str):
            data = data.encode()
        for b in data:
            r = self.ed.feed(b)
            if r is not None:
                self.lines.append(r)
        return self

    def written(self):
        s = "".join(self.out)
        self.out.clear()
        return s


def test_printable_bytes_are_echoed_and_the_line_returned_on_enter():
    t = Term().feed("echo hi")
    assert t.written() == "echo hi"
    assert t.lines == [] and t.ed.buffer() == "echo hi"
    t.feed("\r")
    assert t.lines == ["echo hi"] and t.written() == "\n"
    assert t.ed.buffer() == ""


def test_enter_on_an_empty_line_returns_empty_string():
    assert Term().feed("\r").lines == [""]


def test_lf_alone_ends_a_line_and_repeated_terminators_give_empty_lines():
    assert Term().feed("a\nb\n\n").lines == ["a", "b", ""]
    assert Term().feed("a\r\r").lines == ["a", ""]
    assert Term().feed("a\n\r").lines == ["a", ""]


def test_crlf_ends_the_line_only_once():
    t = Term().feed("a\r\n\r\nb\r\n")
    assert t.lines == ["a", "", "b"]
    assert t.written() == "a\n\nb\n"


def test_lf_after_cr_is_swallowed_only_immediately_after():
    assert Term().feed("a\rx\n").lines == ["a", "x"]


@pytest.mark.parametrize("key", [0x08, 0x7F])
def test_backspace_and_del_remove_the_last_char_and_rub_it_out(key):
    t = Term().feed("abc")
    t.written()
    t.feed(bytes([key]))
    assert t.ed.buffer() == "ab" and t.written() == "\b \b"
    t.feed("\r")
    assert t.lines == ["ab"]


def test_backspace_on_an_empty_line_writes_nothing():
    t = Term().feed(b"\x08\x7f")
    assert t.written() == "" and t.ed.buffer() == ""


def test_ctrl_c_discards_the_line_and_returns_empty_string():
    t = Term().feed("reboot")
    t.written()
    t.feed(b"\x03")
    assert t.lines == [""] and t.written() == "^C\n"
    assert t.ed.buffer() == "" and t.ed.history() == []
    t.feed("ok\r")
    assert t.lines == ["", "ok"]


def test_ctrl_u_erases_the_whole_line_on_screen_and_in_the_buffer():
    t = Term().feed("abcd")
    t.written()
    t.feed(b"\x15")
    assert t.written() == "\b \b" * 4 and t.ed.buffer() == ""
    t.feed(b"\x15")
    assert t.written() == ""
    assert t.feed("x\r").lines == ["x"]


def test_history_up_recalls_older_lines_and_down_newer_ones():
    t = Term().feed("one\rtwo\rthree\r")
    t.written()
    t.feed(UP)
    assert t.ed.buffer() == "three" and t.written() == "three"
    t.feed(UP)
    assert t.ed.buffer() == "two" and t.written() == "\b \b" * 5 + "two"
    t.feed(UP).feed(UP)           # stays at the oldest
    assert t.ed.buffer() == "one"
    t.feed(DOWN)
    assert t.ed.buffer() == "two"


def test_history_down_past_the_newest_gives_an_empty_line():
    t = Term().feed("one\r").feed(UP)
    t.written()
    t.feed(DOWN)
    assert t.ed.buffer() == "" and t.written() == "\b \b" * 3
    t.feed(DOWN)
    assert t.ed.buffer() == "" and t.written() == ""


def test_history_recall_replaces_what_was_being_typed():
    t = Term().feed("ls\r").feed("xyz")
    t.written()
    t.feed(UP)
    assert t.written() == "\b \b" * 3 + "ls"


def test_up_with_no_history_does_nothing():
    t = Term().feed(UP)
    assert t.written() == "" and t.ed.buffer() == ""


def test_recalled_line_can_be_edited_and_submitted():
    t = Term().feed("echo a\r").feed(UP).feed(b"\x7fb\r")
    assert t.lines == ["echo a", "echo b"]
    assert t.ed.history() == ["echo a", "echo b"]


def test_history_skips_empty_lines_and_consecutive_duplicates():
    t = Term().feed("a\r\ra\rb\ra\r")
    assert t.ed.history() == ["a", "b", "a"]


def test_history_keeps_only_the_newest_history_size_lines():
    t = Term(history_size=3).feed("".join("l%d\r" % i for i in range(10)))
    assert t.ed.history() == ["l7", "l8", "l9"]
    t.feed(UP * 5)
    assert t.ed.buffer() == "l7"


@pytest.mark.parametrize("seq", [RIGHT, LEFT, b"\x1b[1;5C", b"\x1b[3~",
                                 b"\x1b[200~", b"\x1bOP", b"\x1bOA", b"\x1b[1A"])
def test_cursor_keys_and_other_escape_sequences_are_consumed_and_ignored(seq):
    t = Term().feed("prev\r").feed("ab")
    t.written()
    t.feed(seq).feed("c\r")
    assert t.lines == ["prev", "abc"]
    assert t.written() == "c\n"


def test_a_lone_esc_is_dropped_and_the_next_byte_handled_normally():
    t = Term().feed(b"\x1bx\x1b\x1b[A")   # ESC x, then ESC ESC [ A
    assert t.ed.buffer() == "x" and t.written() == "x"
    t.feed(b"\x1b\r")
    assert t.lines == ["x"]


def test_a_malformed_csi_is_abandoned_and_the_byte_handled_normally():
    assert Term().feed(b"ab\x1b[1\r").lines == ["ab"]
    assert Term().feed(b"ab\x1b[\x03").lines == [""]


def test_a_long_line_is_capped_at_max_line_with_a_bell_per_dropped_byte():
    t = Term(max_line=8).feed("x" * 8)
    t.written()
    t.feed("yyy")
    assert t.written() == "\x07" * 3 and t.ed.buffer() == "x" * 8
    t.feed(b"\x7fz\r")
    assert t.lines == ["xxxxxxxz"]


def test_other_control_bytes_and_high_bytes_are_ignored_silently():
    junk = bytes(b for b in range(256)
                 if (b < 0x20 and b not in (0x03, 0x08, 0x0A, 0x0D, 0x15, 0x1B))
                 or b >= 0x80)
    t = Term().feed("a").feed(junk).feed("b")
    assert t.written() == "ab" and t.ed.buffer() == "ab" and t.lines == []


def test_random_garbage_never_yields_nonprintable_or_overlong_lines():
    rng = random.Random(20261125)
    t = Term(max_line=16, history_size=4)
    for _ in range(300):
        data = list(range(256))
        rng.shuffle(data)
        for b in data:
            r = t.ed.feed(b)
            assert len(t.ed.buffer()) <= 16
            if r is not None:
                assert len(r) <= 16
                assert all(0x20 <= ord(c) <= 0x7E for c in r), repr(r)
                t.lines.append(r)
    assert t.lines                               # lines did complete
    assert len(t.ed.history()) <= 4
    assert all(ch in "\x07\b \n^C" or 0x20 <= ord(ch) <= 0x7E
               for ch in "".join(t.out))


def test_reset_clears_the_line_and_pending_escape_but_keeps_history():
    t = Term().feed("keep\r").feed(b"abc\x1b[")
    t.ed.reset()
    t.feed("A\r")                  # not taken as the end of ESC [ A
    assert t.lines == ["keep", "A"]
    assert t.ed.history() == ["keep", "A"]
