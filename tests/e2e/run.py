"""
Run the end-to-end tests: every `test_*` function of every tests/e2e/test_*.py,
modules in name order, functions in definition order.

    /usr/bin/python3 tests/e2e/run.py [PATTERN...]

A PATTERN keeps only the tests whose "module.function" name contains it.
Each test has a hard time limit (60 s, or the function's `timeout` attribute),
enforced with SIGALRM.  Prints "PASS name (1.2s)" or "FAIL name: reason", the
last lines of the log of every server the failed test started, and finally
"e2e: N passed, N failed".  Exit status 1 if anything failed or nothing ran.
"""

import asyncio
import glob
import importlib
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lib  # noqa: E402

DEFAULT_TIMEOUT = 60
LOG_LINES = 30


class HardTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise HardTimeout('hard timeout')


def out(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def discover():
    """[(full name, function or None, import error or None)]"""
    found = []
    for path in sorted(glob.glob(os.path.join(HERE, 'test_*.py'))):
        modname = os.path.splitext(os.path.basename(path))[0]
        try:
            mod = importlib.import_module(modname)
        except BaseException as e:  # a syntax error must not stop the rest
            found.append((modname + '.(import)', None,
                          '%s: %s' % (type(e).__name__, e)))
            continue
        for name, obj in list(vars(mod).items()):
            if (name.startswith('test_') and callable(obj)
                    and getattr(obj, '__module__', None) == modname):
                found.append(('%s.%s' % (modname, name), obj, None))
    return found


def where(exc):
    """file:line of the innermost frame in a test file, to point at the
    failing check."""
    tb = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(tb):
        if os.path.dirname(os.path.abspath(fr.filename)) == HERE:
            return '%s:%d' % (os.path.basename(fr.filename), fr.lineno)
    return None


def one_line(s):
    s = ' '.join(str(s).split())
    return s if len(s) <= 2000 else s[:2000] + '...'


def run_one(fn, limit):
    """None on success, else the reason."""
    lib.reset_registry()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    reason = None
    try:
        try:
            fn()
        finally:
            signal.alarm(0)
    except HardTimeout:
        reason = 'timed out after %d s' % limit
    except BaseException as e:  # noqa: B902 - report everything, even SystemExit
        if isinstance(e, KeyboardInterrupt):
            raise
        loc = where(e)
        reason = '%s%s: %s' % ('' if loc is None else loc + ': ',
                               type(e).__name__, one_line(e) or '(no message)')
    # Servers a test left running are stopped here; a sanitizer report or a
    # crash in one of them still fails the test.
    try:
        left = lib.stop_all()
    except HardTimeout:
        left = []
    for srv in lib.registered_servers():
        m = lib.sanitizer_report(srv.log())
        if m and reason is None:
            reason = 'sanitizer report in the server log: ' + m
        if srv in left and reason is None:
            # Only a test that never stopped its server gets here; check it
            # the same way the context manager would.
            try:
                srv.check()
            except AssertionError as e:
                reason = 'server left running, then: %s' % e
    return reason


def main(argv):
    patterns = argv[1:]
    tests = discover()
    if patterns:
        tests = [t for t in tests if any(p in t[0] for p in patterns)]
    passed = failed = 0
    for name, fn, err in tests:
        if fn is None:
            out('FAIL %s: %s' % (name, err))
            failed += 1
            continue
        limit = int(getattr(fn, 'timeout', DEFAULT_TIMEOUT))
        t0 = time.monotonic()
        reason = run_one(fn, limit)
        dt = time.monotonic() - t0
        if reason is None:
            out('PASS %s (%.1fs)' % (name, dt))
            passed += 1
        else:
            out('FAIL %s: %s (%.1fs)' % (name, reason, dt))
            for srv in lib.registered_servers():
                tail = srv.log_tail(LOG_LINES)
                if tail:
                    out('    --- server log %s (last %d lines) ---' % (srv.tmp, LOG_LINES))
                    for line in tail.splitlines():
                        out('    | ' + line)
            failed += 1
        lib.cleanup_all()
        # A test that timed out inside an asyncio loop may leave it set.
        try:
            asyncio.set_event_loop(None)
        except Exception:
            pass
    out('e2e: %d passed, %d failed' % (passed, failed))
    if passed + failed == 0:
        out('e2e: no tests %s' % ('matched ' + ' '.join(patterns) if patterns else 'found'))
        return 1
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
