"""Never yields: `while True: pass`. Time slices keep the others running."""


def main():
    while True:
        pass
