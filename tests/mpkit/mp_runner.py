"""Runs one MicroPython-side test file inside the unix `micropython` interpreter.

Usage: micropython tests/mpkit/mp_runner.py tests/mp_test_x.py [name ...]
Prints one line per test: `@@PASS name`, `@@FAIL name` (traceback follows), `@@SKIP name reason`,
and `@@DONE` at the end. tests/conftest.py turns these into pytest results.
A test module may define setup() and teardown(), called around every test.
"""

import sys

from mptest import Skip


def main():
    path = sys.argv[1]
    only = sys.argv[2:]
    folder, _, fname = path.rpartition("/")
    if folder and folder not in sys.path:
        sys.path.insert(0, folder)
    modname = fname[:-3] if fname.endswith(".py") else fname
    try:
        mod = __import__(modname)
    except BaseException as exc:  # noqa: B036 - report import errors as a failure
        print("@@FAIL <import>")
        sys.print_exception(exc)
        print("@@DONE")
        return
    names = sorted(n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n)))
    if only:
        names = [n for n in names if n in only]
    print("@@TESTS " + " ".join(names))
    setup = getattr(mod, "setup", None)
    teardown = getattr(mod, "teardown", None)
    for name in names:
        try:
            if setup:
                setup()
            getattr(mod, name)()
            if teardown:
                teardown()
            print("@@PASS " + name)
        except Skip as exc:
            print("@@SKIP %s %s" % (name, exc))
        except BaseException as exc:  # noqa: B036
            print("@@FAIL " + name)
            sys.print_exception(exc)
            if teardown:
                try:
                    teardown()
                except BaseException:  # noqa: B036
                    pass
    print("@@DONE")


main()
