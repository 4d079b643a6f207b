"""
Daemon chores (module posix): the pidfile while running and its removal at
exit, the umask, detaching into the background, syslog, reloads, and the
[posix] settings.
"""

import os
import signal
import socket
import subprocess
import time

import lib
from lib import Server
from rawxmpp import Raw

MODULES = 'roster, saslauth, tls, ping, offline, register, posix'


def make_server(posix_ini='', **server):
    """A Server not started yet, with posix on and a pidfile in its
    temporary directory."""
    srv = Server(start=False, server={'modules': MODULES}, extra_ini=posix_ini)
    srv.pidfile = os.path.join(srv.tmp, 'run', 'xmppd.pid')
    os.makedirs(os.path.dirname(srv.pidfile))
    srv.server_cfg['pidfile'] = srv.pidfile
    srv.server_cfg.update(server)
    srv.write_config()
    return srv


def mode(path):
    return os.stat(path).st_mode & 0o777


def read(path):
    with open(path) as f:
        return f.read()


def login_works(srv):
    with Raw(srv.c2s_port) as r:
        jid = r.login('alice@localhost', srv.users['alice@localhost'])
        assert jid.startswith('alice@localhost/'), jid


def gone(pid):
    """Not running any more (a zombie waiting for its reaper counts)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_posix_pidfile_and_default_umask():
    with make_server() as srv:
        # A stale pidfile naming a running process (this test) is replaced.
        with open(srv.pidfile, 'w') as f:
            f.write('%d\n' % os.getpid())
        srv.start()
        assert read(srv.pidfile) == '%d\n' % srv.proc.pid, read(srv.pidfile)
        assert mode(srv.pidfile) == 0o600, oct(mode(srv.pidfile))   # umask 077
        assert 'names process %d, which is running; replacing it' % os.getpid() in srv.log()
        assert 'posix: umask 077, pidfile ' + srv.pidfile in srv.log(), srv.log_tail(10)
        assert not [n for n in os.listdir(os.path.dirname(srv.pidfile)) if '.tmp.' in n]
        login_works(srv)
        # A reload keeps the pidfile; a changed path waits for a restart.
        srv.server_cfg['pidfile'] = srv.pidfile + '.other'
        srv.write_config()
        n = len(srv.log())
        srv.hup()
        assert srv.wait_log('configuration reloaded', start=n), srv.log_tail(10)
        assert 'pidfile changed; takes effect after a restart' in srv.log()[n:]
        assert not os.path.exists(srv.pidfile + '.other')
        assert read(srv.pidfile) == '%d\n' % srv.proc.pid
        assert srv.stop() == 0
        assert not os.path.exists(srv.pidfile), 'pidfile left after TERM'


def test_posix_pidfile_not_ours_is_left_alone():
    with make_server() as srv:
        srv.start()
        # Someone else took the name over meanwhile.
        with open(srv.pidfile, 'w') as f:
            f.write('1\n')
        assert srv.stop() == 0
        assert read(srv.pidfile) == '1\n', 'removed a pidfile that was not ours'


def test_posix_umask_applies_and_data_stays_private():
    for mask, want in (('022', 0o644), ('027', 0o640), ('0', 0o644)):
        with make_server('[posix]\numask = %s\n' % mask, allow_registration=True) as srv:
            srv.start()
            assert mode(srv.pidfile) == want, (mask, oct(mode(srv.pidfile)))
            # Whatever the umask, account data is created private.
            with Raw(srv.c2s_port) as r:
                r.open()
                r.starttls()
                reply = r.iq("<iq type='set'><query xmlns='jabber:iq:register'>"
                             "<username>dave</username><password>dave-password</password>"
                             "</query></iq>")
                assert reply.get('type') == 'result', reply.get('type')
            d = os.path.join(srv.data_path, 'localhost', 'dave')
            assert mode(d) == 0o700, (mask, oct(mode(d)))
            assert mode(os.path.join(d, 'account')) == 0o600


def test_posix_startup_failure_pidfile_dir_missing():
    srv = make_server()
    try:
        srv.server_cfg['pidfile'] = os.path.join(srv.tmp, 'no', 'such', 'xmppd.pid')
        srv.write_config()
        try:
            srv.start()
            raise AssertionError('started without a writable pidfile')
        except RuntimeError as e:
            assert 'status 1' in str(e), e
        log = srv.log()
        assert 'posix: creating ' + srv.server_cfg['pidfile'] in log, log
        assert 'No such file or directory' in log and 'module posix failed to start' in log
        assert lib.sanitizer_report(log) is None, log
    finally:
        srv.cleanup()


def test_posix_daemonize():
    srv = make_server('[posix]\ndaemonize = true\n')
    asan_dir = os.path.join(srv.tmp, 'asan')
    os.makedirs(asan_dir)
    srv.server_cfg['log'] = srv.log_path
    srv.write_config()
    pid = None
    try:
        for jid, pw in srv.users.items():
            srv.adduser(jid, pw)
        env = srv._env()
        # The daemon's stderr is /dev/null: sanitizer reports go to files.
        env['ASAN_OPTIONS'] = 'detect_leaks=1:abort_on_error=0:log_path=' + \
            os.path.join(asan_dir, 'asan')
        t0 = time.monotonic()
        r = subprocess.run([lib.BIN, '-c', srv.config_path, 'run'],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           env=env, cwd=srv.tmp, timeout=20)
        took = time.monotonic() - t0
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr, srv.log_tail(20))
        assert took < 5, 'the command took %.1f s to return' % took
        assert r.stdout == '' and r.stderr == '', (r.stdout, r.stderr)
        # The pidfile exists as soon as the command has returned.
        pid = int(read(srv.pidfile))
        assert not gone(pid), 'daemon %d not running' % pid
        assert 'running in the background as process %d' % pid in srv.log()
        assert srv.wait_log('xmppd ready'), srv.log_tail(20)
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        ppid, pgrp, sid, tty = int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4])
        assert sid != os.getsid(0), 'daemon still in our session'
        assert sid != pid and pgrp == sid, 'daemon is a session leader (%d %d %d)' % (
            pid, pgrp, sid)
        assert tty == 0, 'daemon has a controlling terminal'
        for fd in (0, 1, 2):
            assert os.readlink('/proc/%d/fd/%d' % (pid, fd)) == '/dev/null', fd
        login_works(srv)
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: gone(pid)), 'daemon did not stop after TERM'
        pid = None
        assert wait_for(lambda: not os.path.exists(srv.pidfile), 2), 'pidfile left behind'
        assert 'stopped (' in srv.log(), srv.log_tail(10)
        reports = os.listdir(asan_dir)
        assert not reports, 'sanitizer reports: ' + ''.join(
            read(os.path.join(asan_dir, n)) for n in reports)[:3000]
        srv.check()
    finally:
        if pid is not None and not gone(pid):
            os.kill(pid, signal.SIGKILL)
        srv.cleanup()


def _syslog_run(srv, devlog):
    """Start srv's binary in a private mount namespace whose /dev/log is
    devlog (a socket this test reads), or None if that is impossible here."""
    d = srv.tmp
    script = '''set -e
mkdir -p {d}/olddev
mount --bind /dev {d}/olddev
mount -t tmpfs -o mode=755 none /dev
for n in null zero random urandom; do
    touch /dev/$n
    mount --bind {d}/olddev/$n /dev/$n
done
ln -s {log} /dev/log
exec "$@"
'''.format(d=d, log=devlog)
    probe = subprocess.run(['unshare', '-m', '--propagation', 'private', 'sh', '-c',
                            script, 'sh', 'true'], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return None
    logf = open(srv.log_path, 'ab')
    proc = subprocess.Popen(['unshare', '-m', '--propagation', 'private', 'sh', '-c',
                             script, 'sh', lib.BIN, '-c', srv.config_path, 'run'],
                            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                            env=srv._env(), cwd=srv.tmp)
    logf.close()
    return proc


def test_posix_syslog():
    srv = make_server('[posix]\nsyslog = true\nsyslog_facility = local3\n')
    devlog = os.path.join(srv.tmp, 'devlog')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(devlog)
    sock.settimeout(0.2)
    proc = None
    try:
        for jid, pw in srv.users.items():
            srv.adduser(jid, pw)
        proc = _syslog_run(srv, devlog)
        if proc is None:
            # No mount namespaces here: at least the server must run, and
            # its lines must leave stderr once posix is set up.
            srv.start()
            login_works(srv)
            assert 'xmppd ready' not in srv.log()
            assert srv.stop() == 0
            srv.check()
            return
        got = []
        deadline = time.monotonic() + 10
        while not any('xmppd ready' in g for g in got):
            assert time.monotonic() < deadline and proc.poll() is None, (
                'no "ready" line in syslog: %r; log: %s' % (got, srv.log_tail(10)))
            try:
                got.append(sock.recv(4096).decode('utf-8', 'replace'))
            except socket.timeout:
                pass
        ready = [g for g in got if 'xmppd ready' in g][0]
        # local3 (19) * 8 + info (6) = 158; the ident with our pid.
        assert ready.startswith('<158>'), ready
        assert ('xmppd[%d]: xmppd ready' % proc.pid) in ready, ready
        assert 'info: ' not in ready, 'level name repeated: ' + ready
        login_works(srv)
        got = []
        try:
            while True:
                got.append(sock.recv(4096).decode('utf-8', 'replace'))
        except socket.timeout:
            pass
        assert any(g.startswith('<158>') and 'connection opened' in g for g in got), got
        # stderr got the lines before posix took over, none after.
        log = srv.log()
        assert 'listening on' not in log and 'xmppd ready' not in log, log
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert lib.sanitizer_report(srv.log()) is None, srv.log()
        assert not os.path.exists(srv.pidfile)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        srv.cleanup()


def test_posix_bad_settings_refused():
    srv = Server(start=False, server={'modules': MODULES})
    try:
        bad = [
            ('umask = 0999', 'umask'), ('umask = 8', 'umask'), ('umask = 1777', 'umask'),
            ('umask = 00777', 'umask'), ('umask =', 'umask'), ('umask = -1', 'umask'),
            ('daemonize = maybe', 'daemonize'), ('syslog = 2', 'syslog'),
            ('syslog_facility = kern', 'syslog_facility'),
            ('syslog_facility = DAEMON', 'syslog_facility'),
            ('user = nobody', "unknown key 'user' in [posix]"),
        ]
        for line, text in bad:
            srv.extra_ini = '[posix]\n%s\n' % line
            srv.write_config()
            r = srv.cli('check', 'config')
            assert r.returncode == 2, (line, r.returncode, r.stdout, r.stderr)
            out = r.stdout + r.stderr
            assert text in out and 'xmppd.ini:' in out, (line, out)
        srv.extra_ini = ('[posix]\numask = 0777\ndaemonize = no\nsyslog = off\n'
                         'syslog_facility = authpriv\n')
        srv.write_config()
        r = srv.cli('check', 'config')
        assert r.returncode == 0, (r.stdout, r.stderr)
    finally:
        srv.cleanup()
