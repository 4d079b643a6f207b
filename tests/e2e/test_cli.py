"""
The command line and the process: version/help/usage, account management
(adduser, passwd, deluser) seen by a running server, configuration errors,
the data_path lock, signals (TERM, HUP with a broken config, HUP with a new
certificate), and that no password is ever written to disk.

Logins are checked with a tiny raw client (STARTTLS, then SASL PLAIN) so that
these tests depend on nothing but the stream basics.
"""

import base64
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import lib
from lib import Server

STREAM_NS = 'http://etherx.jabber.org/streams'
STREAMS_ERR_NS = 'urn:ietf:params:xml:ns:xmpp-streams'


# ---- a tiny raw client ----

class ConnClosed(Exception):
    pass


class Raw:
    """One client connection speaking just enough XMPP to log in."""

    def __init__(self, port, host='localhost', direct_tls=False, timeout=5.0):
        self.host = host
        self.timeout = timeout
        self.buf = ''
        self.closed = False
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        if direct_tls:
            self._wrap()

    def _wrap(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.host)
        self.sock.settimeout(self.timeout)

    def peer_cert(self):
        return self.sock.getpeercert(binary_form=True)

    def send(self, text):
        self.sock.sendall(text.encode('utf-8'))

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError('timed out; received so far: %r' % self.buf[-500:])
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError('timed out; received so far: %r' % self.buf[-500:])
        except (ConnectionResetError, ssl.SSLError, OSError) as e:
            self.closed = True
            raise ConnClosed('connection error %s; received: %r' % (e, self.buf[-500:]))
        if not data:
            self.closed = True
            raise ConnClosed('connection closed; received: %r' % self.buf[-500:])
        self.buf += data.decode('utf-8', 'replace')

    def expect(self, pattern, timeout=None):
        """Wait for a regex in the input; consume the input up to the end of
        the match and return the match."""
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            self._fill(deadline)

    def read_until_closed(self, timeout=None):
        """Everything received until the server closes the connection."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                self._fill(deadline)
            except ConnClosed:
                out, self.buf = self.buf, ''
                return out

    def open_stream(self):
        self.send("<stream:stream xmlns='jabber:client' xmlns:stream='%s' "
                  "to='%s' version='1.0'>" % (STREAM_NS, self.host))
        self.expect(r'<stream:stream\b[^>]*>')
        return self.expect(r'<stream:features\s*/>|<stream:features\b.*?</stream:features>'
                           ).group(0)

    def starttls(self):
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.expect(r'<proceed\b[^>]*/>|<proceed\b[^>]*>\s*</proceed>')
        self._wrap()
        self.buf = ''

    def auth_plain(self, jid, pw):
        """True on <success/>, False on <failure/>."""
        local = jid.split('@', 1)[0]
        cred = base64.b64encode(('\0%s\0%s' % (local, pw)).encode('utf-8')).decode()
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                  % cred)
        m = self.expect(r'<(success|failure)\b')
        self.expect(r'</(success|failure)>|/>')
        return m.group(1) == 'success'

    def bind(self, resource='raw'):
        self.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>%s</resource></bind></iq>" % resource)
        m = self.expect(r"<iq\b[^>]*\bid=['\"]bind1['\"][^>]*>.*?</iq>")
        if "type='result'" not in m.group(0) and 'type="result"' not in m.group(0):
            raise AssertionError('bind failed: ' + m.group(0))
        return m.group(0)

    def login(self, jid, pw, resource='raw'):
        """STARTTLS + PLAIN (+ bind when it works). True if authenticated."""
        self.open_stream()
        self.starttls()
        self.open_stream()
        if not self.auth_plain(jid, pw):
            return False
        self.open_stream()
        self.bind(resource)
        return True

    def ping(self, ident='ping1'):
        """An XEP-0199 ping to the server; returns the reply."""
        self.send("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                  % (ident, self.host))
        return self.expect(r"<iq\b[^>]*\bid=['\"]%s['\"][^>]*(/>|>.*?</iq>)" % ident).group(0)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def can_login(srv, jid, pw, port=None):
    c = Raw(port or srv.c2s_port)
    try:
        return c.login(jid, pw)
    finally:
        c.close()


def run_bin(*args, input=None, env_extra=None, timeout=20):
    """The binary without a Server (and without -c unless given); HOME is
    an empty temporary directory unless env_extra names one."""
    lib.check_bin()
    tmp = tempfile.mkdtemp(prefix='xmppd-cli-')
    env = dict(os.environ)
    env.pop('XMPPD_CONFIG', None)
    env['HOME'] = tmp
    env.update(env_extra or {})
    try:
        r = subprocess.run([lib.BIN] + list(args), input=input,
                           stdin=subprocess.DEVNULL if input is None else None,
                           capture_output=True, text=True, timeout=timeout, env=env)
    finally:
        subprocess.run(['rm', '-rf', tmp])
    m = lib.sanitizer_report(r.stderr)
    assert not m, 'sanitizer report from xmppd %s: %s' % (' '.join(args), r.stderr[-3000:])
    return r


def account_dir(srv, jid):
    local, host = jid.split('@', 1)
    return os.path.join(srv.data_path, host, local)


def files_under(path):
    found = []
    for root, dirs, files in os.walk(path):
        for f in files:
            found.append(os.path.join(root, f))
    return found


def line_of(text, needle):
    """1-based number of the line that starts with needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith(needle):
            return i
    raise AssertionError('%r not in config' % needle)


# ---- version, help, usage ----

def test_version():
    r = run_bin('version')
    assert r.returncode == 0, 'exit %d: %s' % (r.returncode, r.stderr)
    with open(os.path.join(lib.REPO, 'VERSION')) as f:
        want = f.read().strip()
    assert re.match(r'^xmppd \S+\s*$', r.stdout), 'stdout %r' % r.stdout
    assert r.stdout.strip() == 'xmppd ' + want, 'stdout %r, VERSION %r' % (r.stdout, want)


def test_help():
    r = run_bin('help')
    assert r.returncode == 0, 'exit %d: %s' % (r.returncode, r.stderr)
    text = r.stdout + r.stderr
    for word in ('run', 'adduser', 'passwd', 'deluser', 'check', 'version', '-c'):
        assert word in text, '%r missing from help: %r' % (word, text)


def test_unknown_command_is_usage_error():
    r = run_bin('frobnicate')
    assert r.returncode == 2, 'exit %d (want 2)' % r.returncode
    assert 'usage' in (r.stdout + r.stderr).lower(), 'no usage text: %r' % (r.stdout + r.stderr)
    r = run_bin('adduser')		# missing JID
    assert r.returncode == 2, 'adduser without JID: exit %d (want 2)' % r.returncode
    r = run_bin('-c')			# -c without a file
    assert r.returncode == 2, '-c without FILE: exit %d (want 2)' % r.returncode


def test_missing_config_file():
    r = run_bin('-c', '/nonexistent/xmppd.ini', 'check', 'config')
    assert r.returncode == 2, 'exit %d (want 2)' % r.returncode
    assert '/nonexistent/xmppd.ini' in r.stderr, 'stderr %r' % r.stderr


def test_default_config_from_env():
    # Without -c, $XMPPD_CONFIG names the file.
    with Server(start=False) as srv:
        r = run_bin('check', 'config', env_extra={'XMPPD_CONFIG': srv.config_path})
        assert r.returncode == 0, 'exit %d: %s' % (r.returncode, r.stderr)
        r = run_bin('check', 'config',
                    env_extra={'XMPPD_CONFIG': os.path.join(srv.tmp, 'nothere.ini')})
        assert r.returncode == 2, 'missing $XMPPD_CONFIG file: exit %d' % r.returncode
        # Without -c and $XMPPD_CONFIG: ~/etc/xmppd.ini, and "~" in paths
        # means $HOME.
        home = os.path.join(srv.tmp, 'home')
        os.makedirs(os.path.join(home, 'etc'))
        text = srv.config_text().replace('data_path = ' + srv.data_path,
                                         'data_path = ~/xmppd-data')
        assert '~/xmppd-data' in text
        with open(os.path.join(home, 'etc', 'xmppd.ini'), 'w') as f:
            f.write(text)
        r = run_bin('check', 'config', env_extra={'HOME': home})
        assert r.returncode == 0, '~/etc/xmppd.ini: exit %d: %s' % (r.returncode, r.stderr)
        r = run_bin('adduser', 'gina@localhost', input='gina-pw\n', env_extra={'HOME': home})
        assert r.returncode == 0, 'adduser via ~/etc/xmppd.ini: %s' % r.stderr
        assert os.path.isdir(os.path.join(home, 'xmppd-data', 'localhost', 'gina')), \
            '"~/xmppd-data" not expanded to $HOME/xmppd-data'
        assert not os.path.exists(os.path.join(srv.tmp, '~')), 'a directory named "~"'


# ---- accounts ----

def test_adduser_seen_by_running_server():
    with Server() as srv:
        pid = srv.proc.pid
        assert not can_login(srv, 'dave@localhost', 'dave-pw'), 'login before adduser'
        r = srv.cli('adduser', 'dave@localhost', input='dave-pw\n')
        assert r.returncode == 0, 'adduser: exit %d: %s' % (r.returncode, r.stderr)
        assert can_login(srv, 'dave@localhost', 'dave-pw'), 'new account refused'
        assert not can_login(srv, 'dave@localhost', 'dave-pw\n'), 'newline kept in password'
        assert not can_login(srv, 'dave@localhost', 'wrong'), 'wrong password accepted'
        assert can_login(srv, 'alice@localhost', 'alice-pw'), 'existing account broken'
        assert srv.alive() and srv.proc.pid == pid


def test_adduser_reads_one_line():
    with Server() as srv:
        # Only the first line is the password.
        r = srv.cli('adduser', 'dave@localhost', input='first-line\nsecond-line\n')
        assert r.returncode == 0, 'exit %d: %s' % (r.returncode, r.stderr)
        assert can_login(srv, 'dave@localhost', 'first-line'), 'first line not the password'
        assert not can_login(srv, 'dave@localhost', 'first-line\nsecond-line')
        # No line at all (stdin at EOF): no account with an empty password.
        r = srv.cli('adduser', 'erin@localhost', input='')
        assert r.returncode != 0, 'adduser with no password line succeeded'
        assert r.stderr.strip(), 'no message'
        assert not os.path.exists(account_dir(srv, 'erin@localhost')), 'account created'
        assert not can_login(srv, 'erin@localhost', '')
        # A password with spaces and non-ASCII characters is kept whole.
        pw = 'p\u00e4ss w\u00f6rd \u2713 '
        r = srv.cli('adduser', 'frank@localhost', input=pw + '\n')
        assert r.returncode == 0, 'exit %d: %s' % (r.returncode, r.stderr)
        assert can_login(srv, 'frank@localhost', pw), 'non-ASCII password refused'
        assert not can_login(srv, 'frank@localhost', pw.strip()), 'password trimmed'


def test_adduser_existing_fails():
    with Server() as srv:
        r = srv.cli('adduser', 'alice@localhost', input='other-pw\n')
        assert r.returncode == 1, 'exit %d (want 1)' % r.returncode
        assert r.stderr.strip(), 'no message on stderr'
        # The existing account is untouched.
        assert can_login(srv, 'alice@localhost', 'alice-pw'), 'old password lost'
        assert not can_login(srv, 'alice@localhost', 'other-pw'), 'password overwritten'
        # Case differences name the same account.
        r = srv.cli('adduser', 'ALICE@LocalHost', input='other-pw\n')
        assert r.returncode == 1, 'ALICE@LocalHost: exit %d (want 1)' % r.returncode


def test_adduser_normalises_case():
    with Server() as srv:
        r = srv.cli('adduser', 'Dave@LOCALHOST', input='dave-pw\n')
        assert r.returncode == 0, 'exit %d: %s' % (r.returncode, r.stderr)
        assert can_login(srv, 'dave@localhost', 'dave-pw'), 'normalised login refused'
        assert can_login(srv, 'DAVE@localhost', 'dave-pw'), 'mixed-case login refused'


def test_passwd_on_running_server():
    with Server() as srv:
        pid = srv.proc.pid
        assert can_login(srv, 'alice@localhost', 'alice-pw')
        r = srv.cli('passwd', 'alice@localhost', input='new-secret\n')
        assert r.returncode == 0, 'passwd: exit %d: %s' % (r.returncode, r.stderr)
        assert not can_login(srv, 'alice@localhost', 'alice-pw'), 'old password still works'
        assert can_login(srv, 'alice@localhost', 'new-secret'), 'new password refused'
        assert can_login(srv, 'bob@localhost', 'bob-pw'), 'other account affected'
        assert srv.alive() and srv.proc.pid == pid, 'server restarted'


def test_passwd_missing_account():
    with Server() as srv:
        r = srv.cli('passwd', 'nobody@localhost', input='x-pw\n')
        assert r.returncode == 1, 'exit %d (want 1)' % r.returncode
        assert r.stderr.strip(), 'no message'
        assert not os.path.exists(account_dir(srv, 'nobody@localhost')), 'account created'


def test_deluser():
    with Server() as srv:
        d = account_dir(srv, 'bob@localhost')
        assert os.path.isdir(d), 'no account directory %s' % d
        assert can_login(srv, 'bob@localhost', 'bob-pw')
        r = srv.cli('deluser', 'bob@localhost')
        assert r.returncode == 0, 'deluser: exit %d: %s' % (r.returncode, r.stderr)
        assert not os.path.exists(d), 'account directory still there'
        assert not can_login(srv, 'bob@localhost', 'bob-pw'), 'deleted account can log in'
        assert can_login(srv, 'alice@localhost', 'alice-pw'), 'other account affected'
        r = srv.cli('deluser', 'bob@localhost')
        assert r.returncode == 1, 'second deluser: exit %d (want 1)' % r.returncode
        # The name can be taken again, with a new password only.
        r = srv.cli('adduser', 'bob@localhost', input='bob-pw2\n')
        assert r.returncode == 0, 're-adduser: exit %d: %s' % (r.returncode, r.stderr)
        assert can_login(srv, 'bob@localhost', 'bob-pw2')
        assert not can_login(srv, 'bob@localhost', 'bob-pw')


def test_bad_jids_refused():
    bad = [
        '',
        'localhost',			# no localpart: a server, not an account
        '@localhost',
        'alice@',
        'a b@localhost',		# space is not allowed in a localpart
        'a"b@localhost',
        'a:b@localhost',
        "a'b@localhost",
        'a<b@localhost',
        'x' * 1100 + '@localhost',	# localpart over 1023 bytes
        'alice@unknown.example',	# not a host of this server
        'alice@localhost@localhost',
    ]
    with Server() as srv:
        host_dir = os.path.join(srv.data_path, 'localhost')
        before_top = sorted(os.listdir(srv.tmp))
        before_data = sorted(os.listdir(srv.data_path))
        before_host = sorted(os.listdir(host_dir)) if os.path.isdir(host_dir) else []
        for jid in bad:
            r = srv.cli('adduser', jid, input='some-pw\n')
            assert r.returncode in (1, 2), 'adduser %r: exit %d' % (jid, r.returncode)
            assert r.stderr.strip(), 'adduser %r: no message' % jid
            for cmd in ('passwd', 'deluser'):
                r = srv.cli(cmd, jid, input='some-pw\n')
                assert r.returncode in (1, 2), '%s %r: exit %d' % (cmd, jid, r.returncode)
        assert sorted(os.listdir(srv.tmp)) == before_top, 'files appeared next to data_path'
        assert sorted(os.listdir(srv.data_path)) == before_data, 'data_path changed'
        after_host = sorted(os.listdir(host_dir)) if os.path.isdir(host_dir) else []
        assert after_host == before_host, 'accounts appeared: %r' % (
            set(after_host) - set(before_host))
        assert srv.alive()


def test_path_like_localparts_stay_inside():
    # '.', '..' and '/'-free but path-like names are valid or not; either way
    # nothing may be written outside data_path/<host>/.
    names = ['..@localhost', '.@localhost', '.hidden@localhost', 'a..b@localhost',
             '%2e%2e@localhost', 'con@localhost']
    with Server() as srv:
        before_top = sorted(os.listdir(srv.tmp))
        before_data = sorted(os.listdir(srv.data_path))
        for jid in names:
            r = srv.cli('adduser', jid, input='odd-pw\n')
            assert r.returncode in (0, 1, 2), 'adduser %r: exit %d' % (jid, r.returncode)
            if r.returncode == 0:
                assert can_login(srv, jid, 'odd-pw'), '%r added but cannot log in' % jid
        assert sorted(os.listdir(srv.tmp)) == before_top, 'files appeared next to data_path'
        assert sorted(os.listdir(srv.data_path)) == before_data, 'data_path top level changed'
        host_dir = os.path.join(srv.data_path, 'localhost')
        for name in os.listdir(host_dir):
            assert name not in ('.', '..'), name
            assert os.path.isdir(os.path.join(host_dir, name)), name


def test_no_password_on_disk():
    pw_add = 'Zebra-Quokka-7731'
    pw_new = 'Walrus-Narwhal-9902'
    with Server() as srv:
        r = srv.cli('adduser', 'erin@localhost', input=pw_add + '\n')
        assert r.returncode == 0, r.stderr
        assert can_login(srv, 'erin@localhost', pw_add)
        r = srv.cli('passwd', 'erin@localhost', input=pw_new + '\n')
        assert r.returncode == 0, r.stderr
        assert can_login(srv, 'erin@localhost', pw_new)
        needles = []
        for pw in (pw_add, pw_new, 'alice-pw'):
            needles.append(pw.encode())
            needles.append(base64.b64encode(pw.encode()))
            needles.append(pw.encode().hex().encode())
        for path in files_under(srv.data_path):
            with open(path, 'rb') as f:
                data = f.read()
            for n in needles:
                assert n not in data, 'password material %r found in %s' % (n, path)
        # The log must not carry it either (e.g. a debug dump of <auth/>).
        plain = base64.b64encode(('\0erin\0' + pw_new).encode()).decode()
        log = srv.log()
        assert pw_new not in log and pw_add not in log, 'password in the log'
        assert plain not in log, 'PLAIN credentials in the log'


# ---- configuration errors ----

def test_config_unknown_key():
    with Server(start=False, server={'frobnication_level': '11'}) as srv:
        line = line_of(srv.config_text(), 'frobnication_level')
        want = '%s:%d:' % (srv.config_path, line)
        for args in (('check', 'config'), ('run',)):
            try:
                r = srv.cli(*args, timeout=15)
            except subprocess.TimeoutExpired:
                raise AssertionError('`%s` kept running with a bad config' % ' '.join(args))
            assert r.returncode == 2, '`%s`: exit %d (want 2)' % (' '.join(args), r.returncode)
            assert want in r.stderr, '`%s`: %r not in stderr %r' % (' '.join(args), want,
                                                                    r.stderr)


def test_config_bad_value():
    with Server(start=False, limits={'max_stanza_size': 'lots'}) as srv:
        line = line_of(srv.config_text(), 'max_stanza_size =')
        r = srv.cli('check', 'config')
        assert r.returncode == 2, 'exit %d (want 2)' % r.returncode
        want = '%s:%d:' % (srv.config_path, line)
        assert want in r.stderr, '%r not in %r' % (want, r.stderr)
    with Server(start=False, server={'c2s_ports': '99999'}) as srv:
        line = line_of(srv.config_text(), 'c2s_ports')
        r = srv.cli('check', 'config')
        assert r.returncode == 2, 'port 99999: exit %d (want 2)' % r.returncode
        want = '%s:%d:' % (srv.config_path, line)
        assert want in r.stderr, '%r not in %r' % (want, r.stderr)


def test_config_unknown_key_in_host_section():
    with Server(start=False, hostcfg={'localhost': {'wibble': 'yes'}}) as srv:
        line = line_of(srv.config_text(), 'wibble')
        r = srv.cli('check', 'config')
        assert r.returncode == 2, 'exit %d (want 2)' % r.returncode
        want = '%s:%d:' % (srv.config_path, line)
        assert want in r.stderr, '%r not in %r' % (want, r.stderr)


def test_check_config_good():
    with Server(start=False) as srv:
        r = srv.cli('check', 'config')
        assert r.returncode == 0, 'exit %d: %s%s' % (r.returncode, r.stdout, r.stderr)


# ---- the process ----

def test_second_server_same_data_path():
    with Server() as srv:
        other = os.path.join(srv.tmp, 'second.ini')
        text = srv.config_text().replace('c2s_ports = %d' % srv.c2s_port,
                                         'c2s_ports = %d' % lib.free_port())
        with open(other, 'w') as f:
            f.write(text)
        lib.check_bin()
        try:
            r = subprocess.run([lib.BIN, '-c', other, 'run'], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=15,
                               env=srv._env())
        except subprocess.TimeoutExpired:
            raise AssertionError('second server kept running on the same data_path')
        assert r.returncode == 1, 'exit %d (want 1): %s' % (r.returncode, r.stderr[-500:])
        assert 'lock' in r.stderr.lower(), 'no "lock" in %r' % r.stderr[-500:]
        assert not lib.sanitizer_report(r.stderr), r.stderr[-3000:]
        # The first one is unharmed.
        assert srv.alive()
        assert can_login(srv, 'alice@localhost', 'alice-pw')


def test_term_closes_streams():
    with Server() as srv:
        early = Raw(srv.c2s_port)	# a stream that has not even done TLS
        early.open_stream()
        authed = Raw(srv.c2s_port)
        assert authed.login('alice@localhost', 'alice-pw', resource='term')
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        for name, c in (('pre-TLS stream', early), ('session', authed)):
            text = c.read_until_closed(timeout=6)
            assert re.search(r"<stream:error>\s*<system-shutdown\s+xmlns=['\"]%s['\"]\s*/?>"
                             % re.escape(STREAMS_ERR_NS), text), \
                '%s: no system-shutdown stream error in %r' % (name, text)
            assert text.rstrip().endswith('</stream:stream>'), \
                '%s: does not end with </stream:stream>: %r' % (name, text)
            c.close()
        try:
            rc = srv.proc.wait(timeout=max(0.1, 5 - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            raise AssertionError('still running 5 s after TERM')
        assert rc == 0, 'exit %d after TERM' % rc


def test_int_exits_zero():
    with Server() as srv:
        c = Raw(srv.c2s_port)
        assert c.login('bob@localhost', 'bob-pw')
        rc = srv.stop(signal.SIGINT, timeout=5)
        assert rc == 0, 'exit %d after INT' % rc
        text = c.read_until_closed(timeout=2)
        assert '</stream:stream>' in text, text
        c.close()


def test_hup_broken_config_keeps_serving():
    with Server() as srv:
        c = Raw(srv.c2s_port)
        assert c.login('alice@localhost', 'alice-pw')
        good = srv.config_text()
        srv.server_cfg['no_such_key'] = 'oops'
        srv.write_config()
        line = line_of(srv.config_text(), 'no_such_key')
        mark = len(srv.log())
        srv.hup()
        want = '%s:%d:' % (srv.config_path, line)
        assert srv.wait_log(want, timeout=5, start=mark), \
            'no "%s" logged after HUP; log tail:\n%s' % (want, srv.log_tail(10))
        assert srv.alive(), 'server died on a broken config'
        reply = c.ping('p2')
        assert re.search(r"type=['\"]result['\"]", reply), 'old session: ' + reply
        assert can_login(srv, 'bob@localhost', 'bob-pw'), 'new logins refused'
        # Fix it again: reload works and the server still serves.
        del srv.server_cfg['no_such_key']
        srv.write_config()
        assert srv.config_text() == good
        srv.hup()
        time.sleep(0.5)
        assert srv.alive()
        assert can_login(srv, 'carol@localhost', 'carol-pw')
        c.close()


def _cert_seen(port):
    c = Raw(port)
    try:
        c.open_stream()
        c.starttls()
        return c.peer_cert()
    finally:
        c.close()


def test_hup_new_certificate():
    with Server() as srv:
        old_der = lib.cert_der(srv.cert_path)
        old = Raw(srv.c2s_port)
        assert old.login('alice@localhost', 'alice-pw', resource='old')
        assert old.peer_cert() == old_der, 'server does not present the configured cert'
        # A renewal: the files are replaced in place.
        lib.make_cert(srv.cert_path + '.new', srv.key_path + '.new', srv.hosts)
        os.replace(srv.key_path + '.new', srv.key_path)
        os.replace(srv.cert_path + '.new', srv.cert_path)
        new_der = lib.cert_der(srv.cert_path)
        assert new_der != old_der
        srv.hup()
        deadline = time.monotonic() + 5
        seen = None
        while time.monotonic() < deadline:
            seen = _cert_seen(srv.c2s_port)
            if seen == new_der:
                break
            time.sleep(0.1)
        assert seen == new_der, 'new connections still get the old certificate'
        assert can_login(srv, 'bob@localhost', 'bob-pw'), 'login with the new cert fails'
        reply = old.ping('after-hup')
        assert re.search(r"type=['\"]result['\"]", reply), 'old session: ' + reply
        old.close()


def test_hup_with_missing_key_keeps_old_cert():
    with Server() as srv:
        old_der = lib.cert_der(srv.cert_path)
        srv.tls_cfg['key'] = os.path.join(srv.tmp, 'no-such-key.pem')
        srv.write_config()
        mark = len(srv.log())
        srv.hup()
        time.sleep(0.5)
        assert srv.alive(), 'server died on a HUP with a missing key'
        assert 'no-such-key.pem' in srv.log()[mark:], 'missing key not reported'
        assert _cert_seen(srv.c2s_port) == old_der
        assert can_login(srv, 'alice@localhost', 'alice-pw')


def test_kill9_then_restart():
    # The lock dies with the process (no stale lock file blocks a restart),
    # and what the server acknowledged before the kill is still there.
    with Server() as srv:
        c = Raw(srv.c2s_port)
        assert c.login('alice@localhost', 'alice-pw')
        c.send("<iq type='set' id='r1'><query xmlns='jabber:iq:roster'>"
               "<item jid='zed@localhost' name='Zed'><group>Kill</group></item>"
               "</query></iq>")
        c.expect(r"<iq\b[^>]*\bid=['\"]r1['\"][^>]*type=['\"]result['\"]"
                 r"|<iq\b[^>]*type=['\"]result['\"][^>]*\bid=['\"]r1['\"]")
        srv.expected_status = None
        srv.stop(signal.SIGKILL)
        c.close()
        srv.start()
        srv.expected_status = 0
        c = Raw(srv.c2s_port)
        assert c.login('alice@localhost', 'alice-pw'), 'login after restart'
        c.send("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>")
        m = c.expect(r"<iq\b[^>]*\bid=['\"]r2['\"].*?</iq>")
        assert "jid='zed@localhost'" in m.group(0) or 'jid="zed@localhost"' in m.group(0), \
            'acknowledged roster item lost: ' + m.group(0)
        assert 'Kill' in m.group(0), m.group(0)
        c.close()


def _stream_answer(port, host):
    """'features' or the stream error condition the server answers a
    stream header for host with."""
    c = Raw(port, host=host)
    try:
        c.send("<stream:stream xmlns='jabber:client' xmlns:stream='%s' "
               "to='%s' version='1.0'>" % (STREAM_NS, host))
        m = c.expect(r'<stream:features|<stream:error>\s*<([a-z-]+)')
        return 'features' if m.group(0).startswith('<stream:features') else m.group(1)
    finally:
        c.close()


def test_hup_applies_new_config():
    with Server() as srv:
        assert _stream_answer(srv.c2s_port, 'example.test') == 'host-unknown'
        # A broken file that would add the host changes nothing.
        srv.hostcfg['example.test'] = {'enabled': 'true', 'bogus_option': '1'}
        srv.write_config()
        mark = len(srv.log())
        srv.hup()
        assert srv.wait_log('bogus_option', timeout=5, start=mark) or \
            srv.wait_log(srv.config_path, timeout=1, start=mark), 'broken config not logged'
        assert srv.alive()
        assert _stream_answer(srv.c2s_port, 'example.test') == 'host-unknown', \
            'part of a broken config was applied'
        # The good version is applied.
        del srv.hostcfg['example.test']['bogus_option']
        srv.write_config()
        srv.hup()
        deadline = time.monotonic() + 5
        got = None
        while time.monotonic() < deadline:
            got = _stream_answer(srv.c2s_port, 'example.test')
            if got == 'features':
                break
            time.sleep(0.1)
        assert got == 'features', 'new host not served after HUP: %s' % got
        assert _stream_answer(srv.c2s_port, 'localhost') == 'features'
        # An account on the new host can be made and used at once.
        r = srv.cli('adduser', 'xena@example.test', input='xena-pw\n')
        assert r.returncode == 0, r.stderr
        c = Raw(srv.c2s_port, host='example.test')
        assert c.login('xena@example.test', 'xena-pw'), 'login on the new host'
        c.close()


def test_term_with_many_sessions():
    with Server(limits={'max_connections_per_ip': 64, 'max_unauth_per_ip': 32}) as srv:
        conns = []
        for i in range(12):
            c = Raw(srv.c2s_port)
            user = ('alice', 'bob', 'carol')[i % 3]
            assert c.login(user + '@localhost', user + '-pw', resource='m%d' % i)
            conns.append(c)
        for i in range(6):		# and some that only opened a stream
            c = Raw(srv.c2s_port)
            c.open_stream()
            conns.append(c)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        for i, c in enumerate(conns):
            text = c.read_until_closed(timeout=6)
            assert 'system-shutdown' in text and text.rstrip().endswith('</stream:stream>'), \
                'connection %d got %r' % (i, text[-300:])
            c.close()
        try:
            rc = srv.proc.wait(timeout=max(0.1, 5 - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            raise AssertionError('still running 5 s after TERM')
        assert rc == 0, 'exit %d' % rc


def test_hup_mismatched_key_keeps_old_pair():
    # A renewal caught half-way (new key, old certificate) must not be
    # loaded: every handshake would fail.
    with Server() as srv:
        old_der = lib.cert_der(srv.cert_path)
        other = os.path.join(srv.tmp, 'other')
        lib.make_cert(other + '.crt', other + '.key', srv.hosts)
        os.replace(other + '.key', srv.key_path)
        mark = len(srv.log())
        srv.hup()
        time.sleep(0.5)
        assert srv.alive()
        assert srv.log()[mark:].strip(), 'nothing logged about the reload'
        assert _cert_seen(srv.c2s_port) == old_der, 'certificate changed'
        assert can_login(srv, 'alice@localhost', 'alice-pw'), \
            'handshakes fail after loading a key that does not match the certificate'


def test_hup_storm():
    with Server() as srv:
        c = Raw(srv.c2s_port)
        assert c.login('alice@localhost', 'alice-pw')
        for i in range(30):
            srv.hup()
            time.sleep(0.01)
            if i % 10 == 0:
                assert can_login(srv, 'bob@localhost', 'bob-pw'), 'login during HUPs'
        time.sleep(0.3)
        assert srv.alive()
        reply = c.ping('storm')
        assert re.search(r"type=['\"]result['\"]", reply), reply
        c.close()


def test_concurrent_cli_account_changes():
    # Many CLI processes at once, next to the running server: each distinct
    # account is made exactly once, and of many racing adduser calls for
    # the same name exactly one wins.
    with Server() as srv:
        env = srv._env()
        lib.check_bin()

        def spawn(*args, pw):
            return subprocess.Popen([lib.BIN, '-c', srv.config_path] + list(args),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=env)

        procs = [(i, spawn('adduser', 'p%d@localhost' % i, pw=None)) for i in range(12)]
        for i, p in procs:
            p.stdin.write('pw-%d\n' % i)
            p.stdin.close()
        for i, p in procs:
            p.wait(timeout=30)
            err = p.stderr.read()
            assert not lib.sanitizer_report(err), err[-3000:]
            assert p.returncode == 0, 'adduser p%d: exit %d: %s' % (i, p.returncode, err)
        for i in range(12):
            assert can_login(srv, 'p%d@localhost' % i, 'pw-%d' % i), 'p%d' % i

        racers = [(i, spawn('adduser', 'same@localhost', pw=None)) for i in range(8)]
        for i, p in racers:
            p.stdin.write('same-%d\n' % i)
            p.stdin.close()
        winners = []
        for i, p in racers:
            p.wait(timeout=30)
            err = p.stderr.read()
            assert not lib.sanitizer_report(err), err[-3000:]
            assert p.returncode in (0, 1), 'racer %d: exit %d: %s' % (i, p.returncode, err)
            if p.returncode == 0:
                winners.append(i)
        assert len(winners) == 1, 'adduser of one name succeeded %d times' % len(winners)
        w = winners[0]
        assert can_login(srv, 'same@localhost', 'same-%d' % w), 'winner cannot log in'
        for i, _ in racers:
            if i != w:
                assert not can_login(srv, 'same@localhost', 'same-%d' % i), \
                    'loser %d password works' % i


def test_start_with_missing_certificate_fails_clearly():
    with Server(start=False) as srv:
        os.unlink(srv.cert_path)
        try:
            r = srv.cli('run', timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError('server started without its certificate')
        assert r.returncode in (1, 2), 'exit %d' % r.returncode
        assert srv.cert_path in r.stderr, 'certificate path not named: %r' % r.stderr[-500:]
