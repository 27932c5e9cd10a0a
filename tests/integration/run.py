#!/usr/bin/env python3
# Runs every test_*() function of tests/integration/test_*.py, one at a
# time, checks after each that it left nothing behind, and prints
# "PASS name (Xs)" / "FAIL name: reason" and a final "N passed, N failed".
#
# Usage: run.py [-k SUBSTRING]... [-v] [--list]
# WACHT_IT_KEEP=1 keeps the sensor output files and bundles for a look
# afterwards; WACHT_SENSOR=PATH tests another sensor binary.
# Needs root and a kernel with BPF; otherwise every test is skipped and the
# exit status is 0, unless REQUIRE_BPF=1 (CI), which makes that an error.

import argparse
import importlib
import inspect
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

TEST_TIMEOUT = int(os.environ.get("WACHT_TEST_TIMEOUT", "120"))


class TestTimeout(AssertionError):
    pass


def _alarm(signum, frame):
    raise TestTimeout("test did not finish within %ds" % TEST_TIMEOUT)


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def collect(patterns):
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        mod = importlib.import_module(fn[:-3])
        funcs = [(f.__code__.co_firstlineno, name, f)
                 for name, f in vars(mod).items()
                 if name.startswith("test_") and inspect.isfunction(f)
                 and f.__module__ == mod.__name__]
        for _, name, f in sorted(funcs):
            full = "%s.%s" % (mod.__name__, name)
            if patterns and not any(p in full for p in patterns):
                continue
            tests.append((full, f))
    return tests


def first_line(e):
    s = str(e).strip() or type(e).__name__
    return s.splitlines()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-k", action="append", default=[],
                    help="run only tests whose module.name contains this")
    ap.add_argument("-v", action="store_true", help="print full failure details")
    ap.add_argument("--list", action="store_true", help="list tests and exit")
    opts = ap.parse_args()

    tests = collect(opts.k)
    if opts.list:
        for name, _ in tests:
            print(name)
        return 0

    reason = harness.env_unusable_reason()
    if reason:
        if os.environ.get("REQUIRE_BPF") == "1":
            print("integration tests cannot run: %s (REQUIRE_BPF=1)" % reason)
            return 1
        for name, _ in tests:
            print("SKIP %s: %s" % (name, reason))
        print("0 passed, 0 failed, %d skipped" % len(tests))
        return 0

    signal.signal(signal.SIGALRM, _alarm)
    # SIGTERM (a CI timeout) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_tests(tests, opts)
    finally:
        if os.environ.get("WACHT_IT_KEEP") == "1" and harness.REG.tmp_root:
            print("kept sensor output and bundles in %s" % harness.REG.tmp_root,
                  file=sys.stderr)
        else:
            harness.cleanup_session()


def run_tests(tests, opts):
    passed = failed = skipped = 0
    t_all = time.monotonic()
    for name, func in tests:
        before = harness.snapshot()
        t0 = time.monotonic()
        err = None
        skip = None
        signal.alarm(TEST_TIMEOUT)
        try:
            func()
        except harness.Skip as e:
            skip = first_line(e)
        except BaseException as e:  # noqa: B902 - a test's error is a FAIL
            if isinstance(e, KeyboardInterrupt):
                signal.alarm(0)
                harness.check_clean(before)
                raise
            err = e
            tb = traceback.format_exc()
        finally:
            signal.alarm(0)
        dt = time.monotonic() - t0
        problems = harness.check_clean(before)
        if err is None and problems:
            err = AssertionError("left behind: " + "; ".join(problems))
            tb = ""
        elif problems:
            tb += "\n  also left behind: " + "; ".join(problems)
        if skip is not None:
            skipped += 1
            print("SKIP %s: %s" % (name, skip), flush=True)
        elif err is None:
            passed += 1
            print("PASS %s (%.1fs)" % (name, dt), flush=True)
        else:
            failed += 1
            print("FAIL %s: %s" % (name, first_line(err)), flush=True)
            detail = str(err).strip().splitlines()[1:]
            if opts.v and tb:
                detail.append(tb.rstrip())
            for line in detail:
                print("    " + line)
            if detail:
                print(flush=True)
    total = "%d passed, %d failed" % (passed, failed)
    if skipped:
        total += ", %d skipped" % skipped
    print("(%.0fs)" % (time.monotonic() - t_all), file=sys.stderr)
    print(total)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
