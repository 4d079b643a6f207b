"""
What the browser test (test_browser_conversejs.py) needs, installed when
missing: Debian's Chromium (apt-get) and the npm packages pinned in
tests/browser/package-lock.json (Converse.js and playwright-core, `npm ci`).
Playwright drives that Chromium; it never downloads a browser of its own.

    /usr/bin/python3 tests/e2e/browser_tools.py

installs what is missing and says so; test.sh runs it before the end-to-end
tests, and the test calls ensure() itself when run alone.  Exit status 1,
with the reason, when something could not be installed.
"""

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(os.path.dirname(HERE), 'browser')
NODE_MODULES = os.path.join(BROWSER_DIR, 'node_modules')
APT_TIMEOUT = 600
NPM_TIMEOUT = 300


def chromium():
    """The Chromium executable ($CHROMIUM, else `chromium` on PATH), or None."""
    path = os.environ.get('CHROMIUM') or shutil.which('chromium')
    return path if path and os.access(path, os.X_OK) else None


def _pinned():
    with open(os.path.join(BROWSER_DIR, 'package.json')) as f:
        return json.load(f)['dependencies']


def _installed_version(name):
    try:
        with open(os.path.join(NODE_MODULES, name, 'package.json')) as f:
            return json.load(f).get('version')
    except (OSError, ValueError):
        return None


def missing():
    """What is not there yet: a subset of ['chromium', 'node', 'npm packages']."""
    out = []
    if chromium() is None:
        out.append('chromium')
    if shutil.which('node') is None or shutil.which('npm') is None:
        out.append('node')
    # A version other than the pinned one counts as missing: package.json
    # changed since the last `npm ci`.
    if any(_installed_version(n) != v for n, v in _pinned().items()):
        out.append('npm packages')
    return out


def _run(cmd, timeout, cwd=None):
    """(ok, last lines of the output)."""
    try:
        r = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout,
                           env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return r.returncode == 0, '\n'.join(r.stdout.splitlines()[-15:])


def _apt(packages):
    if shutil.which('apt-get') is None:
        return 'no apt-get to install %s' % ' '.join(packages)
    if os.geteuid() != 0:
        return 'not root, cannot apt-get install %s' % ' '.join(packages)
    cmd = ['apt-get', 'install', '-y', '-q', '--no-install-recommends'] + packages
    ok, out = _run(cmd, APT_TIMEOUT)
    if not ok:
        # The package lists may be missing or stale: refresh them once.
        _run(['apt-get', 'update', '-q'], APT_TIMEOUT)
        ok, out = _run(cmd, APT_TIMEOUT)
    return None if ok else 'apt-get install %s failed:\n%s' % (' '.join(packages), out)


def ensure():
    """Install what is missing; raise RuntimeError saying what could not be."""
    need = missing()
    errors = []
    if 'chromium' in need or 'node' in need:
        pkgs = (['chromium'] if 'chromium' in need else []) + \
               (['nodejs', 'npm'] if 'node' in need else [])
        err = _apt(pkgs)
        if err:
            errors.append(err)
    if 'npm packages' in missing() and shutil.which('npm'):
        # From the lockfile only; --ignore-scripts: nothing may fetch more.
        ok, out = _run(['npm', 'ci', '--ignore-scripts', '--no-audit', '--no-fund'],
                       NPM_TIMEOUT, cwd=BROWSER_DIR)
        if not ok:
            errors.append('npm ci in tests/browser failed:\n' + out)
    left = missing()
    if left:
        raise RuntimeError('browser test: still missing %s after trying to install%s'
                           % (', '.join(left), ''.join('\n' + e for e in errors)))
    return need


if __name__ == '__main__':
    try:
        done = ensure()
    except RuntimeError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
    if done:
        print('browser test: installed %s' % ', '.join(done))
