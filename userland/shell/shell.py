"""The console read-eval loop: prompt, edit a line, dispatch it, repeat.

Holds PROMPT and run(). It owns no commands (commands.py) and no editing
(lineedit.py). Nothing typed ends the loop: every exception, MemoryError and
KeyboardInterrupt included, is reported and the prompt comes back. run()
returns only when console.read_byte() returns None (end of a scripted session).
"""

import gc

from userland.shell import commands
from userland.shell.lineedit import LineEditor

PROMPT = "qenex> "
SAFE_PROMPT = "[safe mode] qenex> "     # the kernel started no installed task
_NOMEM = "\nerror: MemoryError\n"  # a constant: reporting must not allocate


def run(console, ctx):
    """console: read_byte() -> int or None, write(str). ctx: see commands."""
    ed = LineEditor(console.write)
    prompt = getattr(ctx, "prompt", PROMPT)
    console.write(prompt)
    shown = getattr(console, "prompt_shown", None)
    if shown is not None:
        shown()                 # the first prompt is out (the shell task notes the counter for `uptime`)
    while True:
        try:
            b = console.read_byte()
            if b is None:
                return
            line = ed.feed(b)
            if line is not None:
                commands.dispatch(line, ctx)
                # Collect between commands, while little is alive: long-lived
                # objects stay packed low and large replies find room.
                gc.collect()
                console.write(prompt)
        except KeyboardInterrupt:
            _recover(console, ed, prompt, "^C\n")
        except MemoryError:
            _recover(console, ed, prompt, _NOMEM)
        except Exception as e:
            _recover(console, ed, prompt, None, e)


def _recover(console, ed, prompt, text, exc=None):
    ed.reset()
    try:
        console.write(text if exc is None else "\n" + commands.error_line(exc))
        console.write(prompt)
    except Exception:
        pass  # the console itself is failing; keep reading
