"""The image descriptions (hal/board/<board>/images.py) and the build's check
of each image as one system (tools/gather_manifests.py): what a bad image
fails with, and that production freezes none of the test tasks' code."""
import os

import pytest

from tools import gather_manifests as gm
from tools.layout import ROOT

BOARD = "mps2-an385"
TEST_ONLY = ("bench", "benchpeer", "hsmbench", "ledgerbench", "hsmdemo", "hsmrogue", "ledgerload",
             "moneycheck", "gatewaycheck", "pinger", "ponger", "faulty")


def with_images(monkeypatch, **images):
    real = gm.load_images(BOARD)
    base = dict(real["production"])
    monkeypatch.setattr(gm, "load_images", lambda board: {k: dict(base, **v) for k, v in images.items()})


def names(found):
    return [os.path.basename(os.path.dirname(s)) for s, _ in found]


def test_production_image_is_the_services():
    desc, found = gm.image_manifests(BOARD, "production")
    assert sorted(names(found)) == ["fixnet", "gateway", "heartbeat", "hostnet", "hsm", "httpnet", "ledger", "net",
                                    "shell"]
    assert "bench_store" not in desc["devices"]
    assert desc["flash"] == "flash.bin"


def test_ledgerbench_and_its_partition_are_the_dev_images():
    """Its 512 KiB block would leave the test image's pool no room for bundles."""
    for image, has in (("dev", True), ("test", False), ("production", False)):
        desc, found = gm.image_manifests(BOARD, image)
        assert ("ledgerbench" in names(found)) == has == ("bench_store" in desc["devices"]), image


def test_test_image_has_every_task_of_the_tree_in_folder_order():
    """Every task is in the test image, but those of the dev image alone (the
    test image has no task id left), net (in the production image: it
    owns the LAN9118, which the dev image gives netecho) and net's clients hostnet, fixnet and httpnet."""
    _, found = gm.image_manifests(BOARD, "test")
    _, dev = gm.image_manifests(BOARD, "dev")
    dev_only = {s for s, _ in dev} - {s for s, _ in found}
    assert dev_only and [s for s, _ in found] == [s for s, _ in gm.find()
                                                  if s not in dev_only and s not in ("userland/net/manifest",
                                                                                          "userland/hostnet/manifest",
                                                                                          "userland/fixnet/manifest",
                                                                                          "userland/httpnet/manifest")]
    tree = dict(gm.find())
    for source, text in found:          # as written, but for the image's own grants (images.py "calls")
        if source != "userland/shell/manifest":
            assert text == tree[source], source
    from kernel import manifest
    assert manifest.parse(dict(found)["userland/shell/manifest"], "shell").calls[-1] == "ponger"


def test_an_image_grants_calls_only_to_tasks_it_has(monkeypatch):
    images = gm.load_images(BOARD)
    bad = dict(images["production"], calls={"nosuch": ("heartbeat",)})
    monkeypatch.setattr(gm, "load_images", lambda board: dict(images, production=bad))
    with pytest.raises(SystemExit, match="calls granted to 'nosuch'"):
        gm.image_manifests(BOARD, "production")
    bad = dict(images["production"], calls={"shell": ("ponger",)})       # ponger is not in production
    monkeypatch.setattr(gm, "load_images", lambda board: dict(images, production=bad))
    with pytest.raises(SystemExit):
        gm.image_manifests(BOARD, "production")


def test_production_freezes_no_test_task_code():
    _, found = gm.image_manifests(BOARD, "production")
    files = gm.frozen_files([s for s, _ in found])
    assert "shell/main.py" in files and "lib/qenex.py" in files and "__init__.py" in files
    for f in files:
        assert f.split("/")[0] not in TEST_ONLY + ("bundles",), f
    _, found = gm.image_manifests(BOARD, "test")
    every = gm.frozen_files([s for s, _ in found])
    assert "faulty/secret.py" in every and "bench/work.py" in every


@pytest.mark.parametrize("tasks, why", [
    (("shell", "hsm", "shell"), "task 'shell' named twice"),
    (("shell", "nosuch"), "no task manifest for nosuch"),
    (("heartbeat", "pinger"), "'ponger' is not a task of this system"),
])
def test_a_bad_image_fails_the_build(monkeypatch, tasks, why):
    with_images(monkeypatch, bad={"tasks": tasks, "devices": ("uart1", "ledger_store", "bench_store",
                                                                "uart2", "gateway_store")})
    with pytest.raises(SystemExit) as e:
        gm.image_manifests(BOARD, "bad")
    assert why in str(e.value)


def test_an_image_whose_tasks_outgrow_the_pool_fails_the_build(monkeypatch):
    real = gm.load_board

    def small(board):
        b = real(board)
        b.TASK_POOL_SIZE = 512 * 1024
        return b
    monkeypatch.setattr(gm, "load_board", small)
    with_images(monkeypatch, bad={"tasks": ("ledger", "hsm", "heartbeat")})
    with pytest.raises(SystemExit) as e:
        gm.image_manifests(BOARD, "bad")
    assert "the task pool holds 524288" in str(e.value)


def test_a_device_the_image_does_not_map_fails_the_build(monkeypatch):
    with_images(monkeypatch, bad={"tasks": ("ledgerbench",), "devices": ("uart1",)})
    with pytest.raises(SystemExit) as e:
        gm.image_manifests(BOARD, "bad")
    assert "'bench_store' is not a device" in str(e.value)


def test_the_built_production_firmware_holds_no_test_task(tmp_path):
    frozen = os.path.join(ROOT, "build", BOARD, "kernel", "frozen_content.c")
    if not os.path.exists(frozen):
        pytest.skip("not built")
    text = open(frozen).read()
    for name in TEST_ONLY:
        assert '"userland/%s/' % name not in text, name
    assert '"userland/shell/' in text


def test_gather_writes_the_image_modules(tmp_path):
    gm.main([BOARD, "production", str(tmp_path)])
    ns = {}
    exec(open(tmp_path / "_image.py").read(), ns)
    assert ns["NAME"] == "production" and "bench_store" not in ns["DEVICES"]
    exec(open(tmp_path / "_vectors.py").read(), ns)
    assert "RULES" in ns and "MONEY" not in ns
    assert "userland_frozen.py" in os.listdir(tmp_path)


def userland_imports(rel):
    """The userland files (relative to userland/) that userland/rel imports,
    at its top or inside a function (a command's lazy import counts)."""
    import ast
    tree = ast.parse(open(os.path.join(ROOT, "userland", rel)).read())
    out = set()
    optional = set()        # imports under `try: ... except ImportError:`: the module does without them
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(isinstance(h.type, ast.Name) and h.type.id == "ImportError"
                                             for h in node.handlers):
            for inner in node.body:
                optional.update(id(n) for n in ast.walk(inner))
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "userland":
            base = node.module.split(".")[1:]
            for alias in node.names:
                sub = "/".join(base + [alias.name]) + ".py"
                out.add(sub if os.path.exists(os.path.join(ROOT, "userland", sub)) else "/".join(base) + ".py")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "userland":
                    out.add("/".join(alias.name.split(".")[1:]) + ".py")
    return out


@pytest.mark.parametrize("image", ["production", "test"])
def test_every_module_a_task_imports_is_frozen_with_it(image):
    """What each task's entry imports, and all that imports in turn (the
    shell's service commands beside their services, userland/*/shell.py, and
    the clients they use, userland/*/api.py), is in the image: a service's
    commands are frozen where the shell is because the shell calls the
    service, so the image must carry it (kernel.manifest.check_system)."""
    from kernel import manifest
    _, found = gm.image_manifests(BOARD, image)
    files = set(gm.frozen_files([s for s, _ in found]))
    todo = [(manifest.parse(t, s).entry.split(".", 1)[1].replace(".", "/") + ".py", s) for s, t in found]
    seen = set()
    while todo:
        rel, by = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        assert rel in files, "%s needs userland/%s, which image %s does not freeze" % (by, rel, image)
        todo.extend((f, "userland/" + rel) for f in userland_imports(rel))
    for f in ("ledger/shell.py", "ledger/api.py", "hsm/shell.py", "hsm/api.py", "gateway/shell.py",
              "shell/dispatch.py"):
        assert f in seen, f


def test_dev_image_is_production_and_the_network_tasks():
    desc, found = gm.image_manifests(BOARD, "dev")
    got = names(found)
    assert set(got) >= {"gateway", "heartbeat", "hsm", "ledger", "shell", "netecho", "peek_eth", "net_rogue"}
    assert {"eth", "net_ram"} <= set(desc["devices"]) and desc["flash"] == "flash-dev.bin"
    from kernel import manifest
    ms = {m.name: m for m in (manifest.parse(t, s) for s, t in found)}
    # net_ram and eth are netecho's, and netdhcp's (started by hand, netecho stopped), alone
    assert sorted(n for n, m in ms.items() if "net_ram" in m.devices or "eth" in m.devices) == ["netdhcp", "netecho"]
    assert ms["netdhcp"].start == "manual"
