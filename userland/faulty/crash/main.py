"""Raises an exception nobody catches."""


def main():
    raise ValueError("crash on purpose")
