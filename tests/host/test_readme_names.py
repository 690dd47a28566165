"""The README names only what exists: every `make` target, every `qenex`
command and every file path it shows (in `code` or a fenced block) is in
the tree. (tests/qemu/test_readme.py checks its shell session on the board.)

Paths: a word of code that starts with one of the tree's folders
(boot/, kernel/, ..., docs/) or is one of its top-level files must exist;
`<board>` stands for every board, `*` must match a file, a `TARGET` folder
means its parent; `tools/hostlink.Link` names a class in that module; a
bare file name (`PROTOCOL.md`) must be some file's name in the tree
(upper-case ones, `SOURCE.py`, are placeholders; EXAMPLES lists the names
of the README's examples). A `make` target counts where a code line or span
starts with `make` (after `$ ` and VAR=value words). Paths
under build/, images/ and tests/fuzz/crashes/ are made when the system runs
(git-ignored) and are not checked."""
import glob
import os
import re

from tools import qenex
from tools.layout import ROOT

README = os.path.join(ROOT, "README.md")
FOLDERS = ("boot", "kernel", "hal", "drivers", "userland", "tools", "tests", "docs", ".ci")
TOP_FILES = ("Makefile", "VERSION", "requirements.txt", "pytest.ini", "README.md")
MADE_AT_RUN = ("build/", "images/", "tests/fuzz/crashes/")
EXAMPLES = {"big.py"}     # a file of the README's examples (`qenex bundle make`'s error), not of the tree
SKIP_DIRS = {"build", "images", ".git", "__pycache__", ".pytest_cache"}


def code_texts():
    """The README's code: each inline `span` and each line of a fenced block."""
    with open(README) as f:
        text = f.read()
    out, prose = [], []
    fenced = False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            out.append(line)
        else:
            prose.append(line)
    # A span may run across a line break of its paragraph.
    for para in "\n".join(prose).split("\n\n"):
        out += re.findall(r"`([^`]+)`", para.replace("\n", " "))
    return out


def words():
    for t in code_texts():
        for w in t.split():
            yield w.strip("`'\",;:()[]")


def make_targets():
    with open(os.path.join(ROOT, "Makefile")) as f:
        text = f.read()
    targets = set()
    for m in re.finditer(r"^([^\s:=#][^:=]*?)\s*:(?!=)", text, re.M):
        targets.update(m.group(1).split())
    return targets


def qenex_commands():
    """{"run": set(), "image": {"info", "sign", ...}, ...} from the parser."""
    p = qenex._parser()
    sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
    cmds = {}
    for name, parser in sub.choices.items():
        inner = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        cmds[name] = set(inner[0].choices) if inner else set()
    return cmds


def tree_names():
    names = set()
    for root, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        names.update(files)
    return names


def test_every_make_target_named_exists():
    targets = make_targets()
    named = set()
    for t in code_texts():
        m = re.match(r"\s*(?:\$ )?(?:\w+=\S+ )*make ([a-z][\w-]*)(?![\w/.-])", t)
        if m:
            named.add(m.group(1))
    assert {"run", "test", "build", "bench", "fuzz", "flash"} <= named, named
    missing = sorted(n for n in named if n not in targets)
    assert not missing, "the README names make targets the Makefile does not have: %s" % missing


def test_every_qenex_command_named_exists():
    cmds = qenex_commands()
    named = set()
    for t in code_texts():
        for m in re.finditer(r"(?:^|[\s`/.])qenex ([a-z][\w-]*)(?: ([a-z][\w-]*))?", t):
            named.add((m.group(1), m.group(2)))
    assert len(named) > 10, named
    bad = []
    for first, second in sorted(named, key=str):
        if first not in cmds:
            bad.append(first)
        elif cmds[first] and second not in cmds[first]:
            bad.append("%s %s" % (first, second))
    assert not bad, "the README names qenex commands the tool does not have: %s" % bad


def _exists(path):
    if "<board>" in path:
        boards = os.listdir(os.path.join(ROOT, "hal", "board"))
        return all(_exists(path.replace("<board>", b)) for b in boards)
    if "TARGET" in path:
        path = path[:path.index("TARGET")]
    full = os.path.join(ROOT, path)
    if "*" in path:
        return bool(glob.glob(full))
    if os.path.exists(full):
        return True
    m = re.fullmatch(r"(.+)\.([A-Z]\w*)", path)     # module.Class
    if m and os.path.isfile(os.path.join(ROOT, m.group(1) + ".py")):
        with open(os.path.join(ROOT, m.group(1) + ".py")) as f:
            return re.search(r"^class %s\b" % m.group(2), f.read(), re.M) is not None
    return False


def test_every_path_named_exists():
    names = tree_names()
    checked, missing = set(), []
    for w in words():
        w = w.rstrip(".")
        if w.startswith(MADE_AT_RUN) or w in checked:
            continue
        if w.split("/")[0] in FOLDERS and "/" in w or w in TOP_FILES:
            checked.add(w)
            if not _exists(w):
                missing.append(w)
        elif re.fullmatch(r"[\w-]*[a-z][\w-]*\.(py|c|h|md|json|txt|ld|lock)", w) and w not in EXAMPLES:
            checked.add(w)
            if w not in names:
                missing.append(w)
    assert len(checked) > 30, sorted(checked)
    assert "docs/ARCHITECTURE.md" in checked
    assert not missing, "the README names files the tree does not have: %s" % missing


def test_the_readme_points_inside_the_repository():
    with open(README) as f:
        text = f.read()
    assert "../" not in text, "the README sends readers outside the clone"
