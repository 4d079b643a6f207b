"""
The end-to-end harness: one real xmppd process per Server, on loopback, with a
private temporary data_path, configuration and throwaway certificate.

Tests use it as a context manager:

    with Server() as srv:
        ... talk to 127.0.0.1:srv.c2s_port ...

Leaving the block sends TERM and then checks what every test wants checked:
the server exited 0, the sanitizers reported nothing, and no temporary file of
an atomic write was left behind in data_path.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get('XMPPD_BIN') or os.path.join(REPO, 'build', 'san', 'xmppd')

DEFAULT_USERS = {
    'alice@localhost': 'alice-pw',
    'bob@localhost': 'bob-pw',
    'carol@localhost': 'carol-pw',
}

# Text that only appears in a log when a sanitizer found something.
SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'runtime error:', 'LeakSanitizer')

READY_MARKER = 'xmppd ready'
READY_TIMEOUT = 10.0

# Every Server made since the last reset_registry(): run.py uses it to show the
# log of a failed test and to stop servers a test forgot to stop.
_registry = []

# Ports handed out by free_port() in this process.  The kernel may hand the
# same ephemeral port out twice once we have closed our probe socket, and two
# servers in one test would then fight over it.
_given_ports = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _given_ports:
            _given_ports.add(port)
            return port
    raise RuntimeError('free_port: no unused port found')


def make_cert(cert_path, key_path, hosts=('localhost',), days=30):
    """A self-signed EC P-256 certificate whose CN is hosts[0] and whose
    subjectAltName lists every host."""
    san = ','.join('DNS:' + h for h in hosts)
    cmd = ['openssl', 'req', '-x509', '-newkey', 'ec',
           '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
           '-days', str(days), '-subj', '/CN=' + hosts[0],
           '-addext', 'subjectAltName=' + san,
           '-keyout', key_path, '-out', cert_path]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError('openssl req failed: ' + r.stderr.strip())


def cert_der(path):
    """The DER bytes of the first certificate in a PEM file (to compare with
    ssl.SSLSocket.getpeercert(binary_form=True))."""
    with open(path) as f:
        pem = f.read()
    start = pem.index('-----BEGIN CERTIFICATE-----')
    end = pem.index('-----END CERTIFICATE-----', start)
    return ssl.PEM_cert_to_DER_cert(pem[start:end + len('-----END CERTIFICATE-----')] + '\n')


def sanitizer_report(text):
    """The first sanitizer marker found in text, or None."""
    for m in SANITIZER_MARKERS:
        if m in text:
            return m
    return None


def reset_registry():
    del _registry[:]


def registered_servers():
    return list(_registry)


def stop_all():
    """Stop every registered server still running (KILL after a TERM timeout);
    returns the servers that were still alive."""
    left = []
    for srv in _registry:
        if srv.alive():
            left.append(srv)
            try:
                srv.stop(timeout=5)
            except Exception:
                pass
    return left


def cleanup_all():
    """Remove temporary directories of registered servers (unless asked to
    keep them with XMPPD_E2E_KEEP=1)."""
    for srv in _registry:
        srv.cleanup()


def check_bin():
    """Raise a readable error when the binary under test is missing."""
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        raise RuntimeError('xmppd binary not found or not executable: %s '
                           '(build it with `make build/san/xmppd`, or set XMPPD_BIN)'
                           % BIN)


def _ini_value(v):
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    if isinstance(v, (list, tuple)):
        return ', '.join(str(x) for x in v)
    return str(v)


class Server:
    """One xmppd process and everything it needs on disk."""

    def __init__(self, *, hosts=('localhost',), users=None, server=None,
                 limits=None, tls=None, hostcfg=None, extra_ini='',
                 direct_tls=False, start=True):
        self.hosts = tuple(hosts)
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.tmp = tempfile.mkdtemp(prefix='xmppd-e2e-')
        self.data_path = os.path.join(self.tmp, 'data')
        self.config_path = os.path.join(self.tmp, 'xmppd.ini')
        self.cert_path = os.path.join(self.tmp, 'cert.pem')
        self.key_path = os.path.join(self.tmp, 'key.pem')
        self.log_path = os.path.join(self.tmp, 'server.log')
        self.c2s_port = free_port()
        self.tls_port = free_port() if direct_tls else None
        os.makedirs(self.data_path, mode=0o700)

        # Values of None remove a default key from the written file.
        self.server_cfg = {
            'data_path': self.data_path,
            'log_level': 'debug',
            'interfaces': '127.0.0.1',
            'c2s_ports': self.c2s_port,
            'c2s_require_encryption': 'true',
            'allow_registration': 'false',
            'modules': 'roster, saslauth, tls, disco, ping, offline',
            'admins': 'admin@' + self.hosts[0],
        }
        if direct_tls:
            self.server_cfg['c2s_direct_tls_ports'] = self.tls_port
        self.server_cfg.update(server or {})
        self.tls_cfg = {'certificate': self.cert_path, 'key': self.key_path}
        self.tls_cfg.update(tls or {})
        self.limits_cfg = {
            'max_stanza_size': 262144,
            'max_stanza_size_preauth': 16384,
            'max_connections_per_ip': 16,
            'max_unauth_per_ip': 4,
            'auth_timeout': 30,
            'auth_attempts': 5,
            'max_resources': 8,
            'max_offline_messages': 100,
            'output_hard_limit': 1048576,
            'idle_timeout': 300,
            'ping_timeout': 60,
        }
        self.limits_cfg.update(limits or {})
        self.hostcfg = {h: {'enabled': 'true'} for h in self.hosts}
        for h, kv in (hostcfg or {}).items():
            self.hostcfg.setdefault(h, {'enabled': 'true'}).update(kv)
        self.extra_ini = extra_ini

        self.proc = None
        self._logf = None
        self._users_added = False
        self._cleaned = False
        self.returncode = None
        # What check() wants as the final exit status; a test that kills the
        # server on purpose sets it (None: not checked).
        self.expected_status = 0
        self.killed_after_timeout = False
        self.cli_reports = []	# sanitizer output seen in CLI runs

        _registry.append(self)
        check_bin()
        make_cert(self.cert_path, self.key_path, self.hosts)
        self.write_config()
        if start:
            self.start()

    # ---- configuration ----

    def config_text(self):
        out = []

        def section(name, kv):
            out.append('[%s]' % name)
            for k, v in kv.items():
                if v is not None:
                    out.append('%s = %s' % (k, _ini_value(v)))
            out.append('')

        section('server', self.server_cfg)
        section('tls', self.tls_cfg)
        section('limits', self.limits_cfg)
        for h, kv in self.hostcfg.items():
            section('host ' + h, kv)
        text = '\n'.join(out)
        if self.extra_ini:
            text += '\n' + self.extra_ini.strip('\n') + '\n'
        return text

    def write_config(self):
        tmp = self.config_path + '.new'
        with open(tmp, 'w') as f:
            f.write(self.config_text())
        os.replace(tmp, self.config_path)

    # ---- the process ----

    def _env(self):
        env = dict(os.environ)
        env.pop('XMPPD_CONFIG', None)
        env['HOME'] = self.tmp
        env['LANG'] = 'C'
        env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
        env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1')
        return env

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError('server already running')
        if not self._users_added:
            for jid, pw in self.users.items():
                self.adduser(jid, pw)
            self._users_added = True
        if self._logf is not None:
            self._logf.close()
        self._logf = open(self.log_path, 'ab')
        self._log_start = self._logf.tell()
        self.returncode = None
        self.proc = subprocess.Popen(
            [BIN, '-c', self.config_path, 'run'],
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=self._logf,
            env=self._env(), cwd=self.tmp)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if READY_MARKER in self._log_since_start():
                return
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise RuntimeError('xmppd exited with status %d before "%s"; log:\n%s'
                                   % (rc, READY_MARKER, self.log_tail(40)))
            if time.monotonic() > deadline:
                self.stop(signal.SIGKILL, timeout=5)
                raise RuntimeError('xmppd not ready after %.0f s; log:\n%s'
                                   % (READY_TIMEOUT, self.log_tail(40)))
            time.sleep(0.02)

    def _log_since_start(self):
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(self._log_start)
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the server and wait for it; KILL it after timeout seconds.
        Returns its exit status (negative: killed by that signal)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.killed_after_timeout = True
        self.returncode = self.proc.returncode
        if self._logf is not None:
            self._logf.close()
            self._logf = None
        return self.returncode

    def wait_log(self, text, timeout=5.0, start=0):
        """Wait until text appears in the log (after byte offset start of the
        decoded log); returns True if it did."""
        deadline = time.monotonic() + timeout
        while True:
            if text in self.log()[start:]:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def log_tail(self, n=30):
        return '\n'.join(self.log().splitlines()[-n:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def hup(self):
        if not self.alive():
            raise RuntimeError('hup: server not running')
        self.proc.send_signal(signal.SIGHUP)

    # ---- the command line ----

    def cli(self, *args, input=None, timeout=30):
        check_bin()
        r = subprocess.run([BIN, '-c', self.config_path] + [str(a) for a in args],
                           input=input,
                           stdin=subprocess.DEVNULL if input is None else None,
                           capture_output=True, text=True, timeout=timeout,
                           env=self._env(), cwd=self.tmp)
        m = sanitizer_report(r.stderr)
        if m:
            self.cli_reports.append('xmppd %s: %s' % (' '.join(map(str, args)), r.stderr))
            raise AssertionError('sanitizer report (%s) from `xmppd %s`:\n%s'
                                 % (m, ' '.join(map(str, args)), r.stderr[-3000:]))
        return r

    def adduser(self, jid, pw):
        r = self.cli('adduser', jid, input=pw + '\n')
        if r.returncode != 0:
            raise RuntimeError('adduser %s failed (%d): %s%s'
                               % (jid, r.returncode, r.stdout, r.stderr))
        self.users[jid] = pw

    # ---- checks ----

    def leftovers(self):
        """Temporary files of atomic writes left in data_path."""
        found = []
        for root, dirs, files in os.walk(self.data_path):
            for name in files + dirs:
                if '.tmp.' in name or name.endswith('.tmp'):
                    found.append(os.path.join(root, name))
        return found

    def check(self):
        """Raise AssertionError if the (stopped) server misbehaved."""
        problems = []
        if self.killed_after_timeout:
            problems.append('did not exit within the timeout after a signal; killed')
        elif (self.expected_status is not None and self.returncode is not None
              and self.returncode != self.expected_status):
            problems.append('exit status %d (expected %d)'
                            % (self.returncode, self.expected_status))
        m = sanitizer_report(self.log())
        if m:
            problems.append('sanitizer report in the log: ' + m)
        if self.cli_reports:
            problems.append('sanitizer report from the CLI')
        left = self.leftovers()
        if left:
            problems.append('temporary files left in data_path: ' + ', '.join(left))
        if problems:
            raise AssertionError('; '.join(problems))

    def cleanup(self):
        if self._cleaned or os.environ.get('XMPPD_E2E_KEEP') == '1':
            return
        if self.alive():
            return
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._cleaned = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None:
            self.check()
        else:
            # The test already failed; a sanitizer report is still the more
            # useful reason, so say so instead of hiding it.
            m = sanitizer_report(self.log())
            if m:
                raise AssertionError('sanitizer report in the log (%s) after: %s: %s'
                                     % (m, exc_type.__name__, exc)) from exc
        return False


def web_server(modules=None, tls=False, **kw):
    """A Server with one HTTP port, plain or (tls) HTTPS, as srv.http_port;
    modules replaces [server] modules when given."""
    port = free_port()
    server = dict(kw.pop('server', {}))
    if modules is not None:
        server.setdefault('modules', modules)
    server['https_ports' if tls else 'http_ports'] = port
    srv = Server(server=server, **kw)
    srv.http_port = port
    return srv
