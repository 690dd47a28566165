"""Builds one image's frozen system table from its description
(hal/board/<board>/images.py) and the task manifests (userland/**/manifest).

Writes into OUTDIR:
    _manifests.py        the image's task manifests, in task id order, as
                         their parsed fields (Manifest.as_dict(): the kernel
                         builds them with manifest.from_dict and checks the
                         set again at boot, parsing no text)
    _image.py            the image's name, task names and the devices it maps
    _vectors.py          the data files the image freezes (test vectors, the
                         gateway's default compliance rules)
    userland_frozen.py   the MicroPython manifest fragment that freezes only
                         the image's tasks' folders and the libraries
                         (kernel/port/manifest.py includes it)

The image is checked here as one system first (kernel.manifest.check_system:
unique names, calls within the image, devices the image maps, memory within
the task pool; every named task must have a manifest): a bad image fails the
build with the message the device would print.

    python -m tools.gather_manifests BOARD IMAGE OUTDIR
"""
import importlib.util
import os
import sys

from kernel import manifest
from tools.layout import ROOT, load_board, write_if_changed

USERLAND = os.path.join(ROOT, "userland")
NOT_FROZEN = ("bundles",)       # sources of installable bundles, not part of an image


def find():
    """Every task manifest of the tree: [(path, text)] in folder order."""
    out = []
    for folder, dirs, files in os.walk(USERLAND):
        dirs.sort()
        if "manifest" in files:
            path = os.path.join(folder, "manifest")
            out.append((os.path.relpath(path, ROOT), open(path).read()))
    return out


def load_images(board):
    path = os.path.join(ROOT, "hal", "board", board, "images.py")
    if not os.path.exists(path):
        raise SystemExit("images: board %r has no %s" % (board, os.path.relpath(path, ROOT)))
    spec = importlib.util.spec_from_file_location("images_" + board.replace("-", "_"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.IMAGES


def image_manifests(board, image):
    """The image's [(path, text)] in task id order (the tree's folder order),
    checked as one system; raises SystemExit with the reason."""
    images = load_images(board)
    if image not in images:
        raise SystemExit("images: board %s has no image %r (%s)" % (board, image, ", ".join(sorted(images))))
    desc = images[image]
    names = list(desc["tasks"])
    for n in names:
        if names.count(n) > 1:
            raise SystemExit("images: %s: task %r named twice" % (image, n))
    by_name = {}
    for source, text in find():
        try:
            m = manifest.parse(text, source)
        except manifest.ManifestError as e:
            raise SystemExit("manifest: %s" % e)
        by_name[m.name] = (source, text, m)
    for name, extra in desc.get("calls", {}).items():   # the image's own grants beyond a manifest's calls
        if name not in by_name:
            raise SystemExit("images: %s: calls granted to %r, which has no manifest" % (image, name))
        source, text, m = by_name[name]
        lines = [ln for ln in text.splitlines() if not ln.replace(" ", "").startswith("calls=")]
        text = "\n".join(lines + ["calls      = %s" % ", ".join(tuple(m.calls) + tuple(extra))]) + "\n"
        by_name[name] = (source, text, manifest.parse(text, source))
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SystemExit("images: %s: no task manifest for %s" % (image, ", ".join(missing)))
    chosen = [by_name[n] for n in sorted(names, key=lambda n: list(by_name).index(n))]
    b = load_board(board)
    known = set(d[0] for d in b.DEVICES)
    for d in desc["devices"]:
        if d not in known:
            raise SystemExit("images: %s: %r is not a device of board %s" % (image, d, board))
    if len(chosen) >= b.MAX_TASKS:
        raise SystemExit("images: %s: %d tasks, the board holds %d" % (image, len(chosen), b.MAX_TASKS - 1))
    try:
        manifest.check_system([m for _, _, m in chosen], b.TASK_POOL_SIZE, tuple(desc["devices"]),
                              tuple(i[0] for i in getattr(b, "IRQS", ())))
    except manifest.ManifestError as e:
        raise SystemExit("images: %s: %s" % (image, e))
    return desc, [(s, t) for s, t, _ in chosen]


def frozen_files(sources):
    """The userland .py files (relative to userland/) an image with these
    manifests freezes: each task's folder, the package files of the folders
    above it, and every library folder (one holding no task)."""
    task_dirs = [os.path.dirname(os.path.join(ROOT, s)) for s in sources]
    all_task_dirs = [os.path.dirname(os.path.join(ROOT, s)) for s, _ in find()]
    out = set()
    for folder, dirs, files in os.walk(USERLAND):
        dirs.sort()
        rel = os.path.relpath(folder, USERLAND)
        top = rel.split(os.sep)[0]
        if top in NOT_FROZEN:
            continue
        inside_task = [d for d in all_task_dirs if folder == d or folder.startswith(d + os.sep)]
        if inside_task:
            take = any(d in task_dirs for d in inside_task)
        else:
            holds_task = [d for d in all_task_dirs if d.startswith(folder + os.sep)]
            # a library folder, or a package above tasks of this image: its own files
            take = not holds_task or any(d in task_dirs for d in holds_task)
        if take:
            for f in files:
                if f.endswith(".py"):
                    out.add(os.path.normpath(os.path.join(rel, f)))
    return sorted(out)


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__.rstrip().splitlines()[-1].strip())
    board, image, outdir = argv
    desc, found = image_manifests(board, image)
    os.makedirs(outdir, exist_ok=True)
    body = "".join("    (%r, %r),\n" % (s, manifest.parse(t, s).as_dict()) for s, t in found)
    write_if_changed(os.path.join(outdir, "_manifests.py"),
                     "# generated by tools/gather_manifests.py: do not edit\nMANIFESTS = (\n%s)\n" % body)
    names = tuple(manifest.parse(t, s).name for s, t in found)
    write_if_changed(os.path.join(outdir, "_image.py"),
                     "# generated by tools/gather_manifests.py from hal/board/%s/images.py: do not edit\n"
                     "NAME = %r\nTASKS = %r\nDEVICES = %r\n" % (board, image, names, tuple(desc["devices"])))
    vectors = "".join("%s = %r\n" % (os.path.basename(f).split(".")[0].upper(),
                                     open(os.path.join(ROOT, f)).read()) for f in desc["vectors"])
    write_if_changed(os.path.join(outdir, "_vectors.py"), vectors)
    files = frozen_files([s for s, _ in found])
    write_if_changed(os.path.join(outdir, "userland_frozen.py"),
                     "# generated by tools/gather_manifests.py: the userland code of image %s\n"
                     "package(\"userland\", base_path=\"$(QENEX_ROOT)\", files=(\n%s))\n"
                     % (image, "".join("    %r,\n" % f for f in files)))


if __name__ == "__main__":
    main(sys.argv[1:])
