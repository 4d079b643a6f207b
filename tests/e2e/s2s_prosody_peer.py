"""
A Prosody 0.12 (Debian's package) as a federation peer for the end-to-end
tests: one process in the foreground with a private configuration, data
directory, certificate directory and log in a temporary directory; bound to
127.0.0.1 ports the test picks; never touching /etc/prosody or the system
service.

Prosody resolves through libunbound (lua-unbound).  libunbound answers the
special-use .test zone itself and by default never asks a resolver on
localhost, so the peer's configuration forwards everything to the test's
dnsmasq with the port in libunbound's "ADDRESS@PORT" notation, turns
do-not-query-localhost off and makes .test a transparent local zone.

    with ProsodyPeer('b.test', users={'bob': 'bob-pw'}, s2s_port=P, c2s_port=Q,
                     dns_port=D, cert=CRT, key=KEY) as p:
        ... talk to 127.0.0.1:Q ...
        assert 'Accepting SASL EXTERNAL' in p.log()

Leaving the block stops Prosody (TERM, then KILL) and, when the block failed,
prints the end of Prosody's log so the runner's output shows both sides.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PROSODY = shutil.which('prosody') or '/usr/bin/prosody'
PROSODYCTL = shutil.which('prosodyctl') or '/usr/bin/prosodyctl'

START_TIMEOUT = 15.0
LOG_LINES = 40


def missing():
    """Why a Prosody peer cannot run here, or None."""
    if not os.path.exists(PROSODY):
        return ('prosody is not installed (apt-get install prosody lua-unbound; '
                'test.sh should install both)')
    try:
        subprocess.run(['lua5.4', '-e', 'require "lunbound"'], check=True,
                       capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ('lua-unbound is not installed: without it Prosody reads '
                '/etc/resolv.conf and cannot be pointed at the test DNS server')
    return None


def _die_with_parent():
    """In the child before exec: ask Linux to send TERM when the test
    process goes away, so that a killed run leaves no Prosody behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _lua_str(s):
    """A double-quoted Lua string literal of s (paths, domain names):
    quote and backslash escaped, control characters as decimal escapes."""
    out = ['"']
    for ch in str(s):
        if ch in '"\\':
            out.append('\\' + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append('\\%03d' % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


class ProsodyPeer:
    """One Prosody process serving one domain."""

    def __init__(self, domain, *, users, s2s_port, c2s_port, dns_port, cert, key,
                 cafile=None, secure_auth=False, modules=(), extra=''):
        self.domain = domain
        self.users = dict(users)
        self.s2s_port = s2s_port
        self.c2s_port = c2s_port
        self.dns_port = dns_port
        self.tmp = tempfile.mkdtemp(prefix='xmppd-prosody-')
        self.data = os.path.join(self.tmp, 'data')
        self.certs = os.path.join(self.tmp, 'certs')
        self.cfg = os.path.join(self.tmp, 'prosody.cfg.lua')
        self.log_path = os.path.join(self.tmp, 'prosody.log')
        self.out_path = os.path.join(self.tmp, 'prosody.out')
        os.makedirs(self.data, mode=0o700)
        os.makedirs(self.certs, mode=0o700)
        # Prosody finds DOMAIN.crt / DOMAIN.key in its certificate directory.
        shutil.copyfile(cert, os.path.join(self.certs, domain + '.crt'))
        shutil.copyfile(key, os.path.join(self.certs, domain + '.key'))
        os.chmod(os.path.join(self.certs, domain + '.key'), 0o600)
        self.cafile = cafile
        self.secure_auth = secure_auth
        self.modules = ('roster', 'saslauth', 'tls', 'dialback', 'disco', 'ping') + \
            tuple(modules)
        self.extra = extra
        self.proc = None
        self._out = None
        self._registered = False
        self._log_start = 0
        self._write_config()

    def _write_config(self):
        L = _lua_str
        ssl = ''
        if self.cafile is not None:
            ssl = 'ssl = { cafile = %s }\n' % L(self.cafile)
        text = (
            '-- written by tests/e2e/s2s_prosody_peer.py\n'
            'run_as_root = true\n'
            'pidfile = %(pid)s\n'
            'data_path = %(data)s\n'
            'certificates = %(certs)s\n'
            'admin_socket = %(sock)s\n'
            'log = { { levels = { min = "debug" }, to = "file", filename = %(log)s } }\n'
            'interfaces = { "127.0.0.1" }\n'
            'local_interfaces = { "127.0.0.1" }\n'
            'c2s_ports = { %(c2s)d }\n'
            's2s_ports = { %(s2s)d }\n'
            'c2s_direct_tls_ports = { }\n'
            's2s_direct_tls_ports = { }\n'
            'legacy_ssl_ports = { }\n'
            'http_ports = { }\n'
            'https_ports = { }\n'
            'modules_enabled = { %(modules)s }\n'
            'authentication = "internal_hashed"\n'
            'c2s_require_encryption = true\n'
            's2s_require_encryption = true\n'
            's2s_secure_auth = %(secure)s\n'
            '%(ssl)s'
            'unbound = { resolvconf = false; hoststxt = false; forward = %(fwd)s; '
            'options = { ["do-not-query-localhost"] = "no"; '
            '["local-zone"] = "test. transparent" } }\n'
            '%(extra)s\n'
            'VirtualHost %(domain)s\n'
        ) % {
            'pid': L(os.path.join(self.tmp, 'prosody.pid')),
            'data': L(self.data),
            'certs': L(self.certs),
            'sock': L(os.path.join(self.tmp, 'admin.sock')),
            'log': L(self.log_path),
            'c2s': self.c2s_port,
            's2s': self.s2s_port,
            'secure': 'true' if self.secure_auth else 'false',
            'ssl': ssl,
            'fwd': L('127.0.0.1@%d' % self.dns_port),
            'extra': self.extra,
            'domain': L(self.domain),
            'modules': ', '.join(L(m) for m in self.modules),
        }
        with open(self.cfg, 'w') as f:
            f.write(text)

    def _ctl(self, *args, timeout=20):
        return subprocess.run([PROSODYCTL, '--config', self.cfg] + list(args),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, cwd=self.tmp)

    def start(self):
        why = missing()
        if why:
            raise RuntimeError(why)
        if not self._registered:
            for user, pw in self.users.items():
                r = self._ctl('register', user, self.domain, pw)
                if r.returncode != 0:
                    raise RuntimeError('prosodyctl register %s@%s failed (%d): %s%s'
                                       % (user, self.domain, r.returncode, r.stdout,
                                          r.stderr))
            self._registered = True
        self._log_start = len(self.log())
        self._out = open(self.out_path, 'ab')
        self.proc = subprocess.Popen([PROSODY, '-F', '--config', self.cfg],
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._out, cwd=self.tmp,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT
        want = ["Activated service 's2s' on [127.0.0.1]:%d" % self.s2s_port,
                "Activated service 'c2s' on [127.0.0.1]:%d" % self.c2s_port]
        while True:
            log = self.log()[self._log_start:]
            if all(w in log for w in want) and self._accepts(self.c2s_port) \
                    and self._accepts(self.s2s_port):
                return self
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError('prosody exited with status %d at start-up:\n%s\n%s'
                                   % (rc, self.output(), self.log_tail()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError('prosody not listening after %.0f s:\n%s\n%s'
                                   % (START_TIMEOUT, self.output(), self.log_tail()))
            time.sleep(0.05)

    @staticmethod
    def _accepts(port):
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self, timeout=8):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._out is not None:
            self._out.close()
            self._out = None
        return self.proc.returncode

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def output(self):
        try:
            with open(self.out_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def log_tail(self, n=LOG_LINES):
        return '\n'.join(self.log().splitlines()[-n:])

    def wait_log(self, text, timeout=10.0):
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def problems(self):
        """Lines that show Prosody itself failing (a Lua error), which no
        peer's input should cause."""
        bad = []
        for line in self.log().splitlines() + self.output().splitlines():
            if 'Traceback' in line or 'stack traceback' in line or '\terror\t' in line:
                bad.append(line)
        return bad

    def cleanup(self):
        if os.environ.get('XMPPD_E2E_KEEP') == '1':
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is not None:
            print('    --- prosody log %s (last %d lines) ---' % (self.tmp, LOG_LINES))
            for line in self.log_tail().splitlines():
                print('    | ' + line)
        self.cleanup()
        return False
