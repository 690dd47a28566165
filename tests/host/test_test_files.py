"""pytest imports each test file by its basename (rootdir-relative, no packages):
two test files with the same name in tests/host and tests/qemu stop the whole
run at collection. The host run alone would not see it, so this test does."""
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_test_module_name_is_unique_across_tests():
    seen = {}
    for folder, _dirs, files in os.walk(TESTS):
        if "__pycache__" in folder:
            continue
        for name in files:
            if name.endswith(".py") and name != "conftest.py":
                seen.setdefault(name, []).append(os.path.relpath(folder, TESTS))
    twice = {name: where for name, where in seen.items() if len(where) > 1}
    assert not twice, "test modules sharing a name: %r" % twice
