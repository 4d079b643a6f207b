"""
Operations on a shared host: `xmppd init`, `xmppd check` (certificates,
ports, data directory, DNS SRV records) and certificates renewed on disk
under a running server.
"""

import datetime
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lib import BIN, Server, free_port


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class CA:
    """A throwaway CA that signs leaf certificates for the tests."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.utcnow()
        self.cert = (x509.CertificateBuilder()
                     .subject_name(_name('xmppd test CA')).issuer_name(_name('xmppd test CA'))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=365))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))

    def leaf(self, directory, host, days=60, expired=False, tag='leaf'):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.utcnow()
        start = now - datetime.timedelta(days=90 if expired else 1)
        end = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=days)
        cert = (x509.CertificateBuilder()
                .subject_name(_name(host)).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), False)
                .sign(self.key, hashes.SHA256()))
        crt = os.path.join(directory, tag + '.crt')
        keyp = os.path.join(directory, tag + '.key')
        with open(crt, 'wb') as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        with open(keyp, 'wb') as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        return crt, keyp, cert.public_bytes(serialization.Encoding.DER)


def _run(home, *args, inp=None):
    env = dict(os.environ, HOME=home)
    env.pop('XMPPD_CONFIG', None)
    return subprocess.run([BIN] + list(args), env=env, input=inp, capture_output=True,
                          text=True, timeout=60)


def test_init_and_check_round_trip():
    home = tempfile.mkdtemp(prefix='xmppd-ops-')
    try:
        ca = CA()
        os.makedirs(os.path.join(home, 'etc', 'certificates'))
        crt, key, _ = ca.leaf(os.path.join(home, 'etc', 'certificates'), 'example.test')
        port = free_port()
        r = _run(home, 'init', 'Example.Test', '--c2s-port', str(port), '--cert', crt,
                 '--key', key)
        assert r.returncode == 0, r.stderr
        cfg = os.path.join(home, 'etc', 'xmppd.ini')
        assert os.path.exists(cfg)
        assert oct(os.stat(cfg).st_mode & 0o777) == '0o600'
        text = open(cfg).read()
        assert '[host example.test]' in text and 'c2s_ports = %d' % port in text, text
        assert '_xmpp-client._tcp.example.test. 3600 IN SRV 0 5 %d example.test.' % port \
            in r.stdout, r.stdout
        # Never replaced without --force.
        r = _run(home, 'init', 'example.test')
        assert r.returncode == 1 and 'exists' in r.stderr, r.stderr
        assert open(cfg).read() == text
        # The written file passes every check but DNS (none here).
        for part in ('config', 'certs', 'ports', 'data'):
            r = _run(home, 'check', part)
            assert r.returncode == 0, (part, r.stdout, r.stderr)
        r = _run(home, 'check', 'certs')
        assert 'example.test: certificate OK' in r.stdout, r.stdout
        # adduser through the default config path.
        r = _run(home, 'adduser', 'admin@example.test', inp='secret-pw\n')
        assert r.returncode == 0, r.stderr
        assert os.path.exists(os.path.join(home, 'var', 'xmppd', 'example.test', 'admin',
                                           'account'))
        # A bad domain is refused with a usage error.
        r = _run(home, 'init', 'bad domain', '--force')
        assert r.returncode == 2, r.stderr
        r = _run(home, 'init', 'example.test', '--force', '--c2s-port', '99999')
        assert r.returncode == 2, r.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _check_certs(home, crt, key, host='example.test'):
    port = free_port()
    _run(home, 'init', host, '--force', '--c2s-port', str(port), '--cert', crt, '--key', key)
    return _run(home, 'check', 'certs')


def test_check_reports_bad_certificates():
    home = tempfile.mkdtemp(prefix='xmppd-ops-')
    try:
        ca = CA()
        crt, key, _ = ca.leaf(home, 'example.test', expired=True, tag='expired')
        r = _check_certs(home, crt, key)
        assert r.returncode == 1 and 'has expired' in r.stdout, r.stdout
        crt, key, _ = ca.leaf(home, 'other.test', tag='other')
        r = _check_certs(home, crt, key)
        assert r.returncode == 1 and 'does not name example.test' in r.stdout, r.stdout
        crt, key, _ = ca.leaf(home, 'example.test', days=5, tag='soon')
        r = _check_certs(home, crt, key)
        assert r.returncode == 0 and 'expires in' in r.stdout, r.stdout
        # A key that belongs to another certificate.
        crt2, key2, _ = ca.leaf(home, 'example.test', tag='good')
        r = _check_certs(home, crt2, key)
        assert r.returncode == 1 and 'does not match' in r.stdout, r.stdout
        # Self-signed.
        ss_crt, ss_key = os.path.join(home, 'ss.crt'), os.path.join(home, 'ss.key')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30', '-subj',
                        '/CN=example.test', '-addext', 'subjectAltName=DNS:example.test',
                        '-keyout', ss_key, '-out', ss_crt], check=True, capture_output=True)
        r = _check_certs(home, ss_crt, ss_key)
        assert r.returncode == 1 and 'self-signed' in r.stdout, r.stdout
        # Missing file.
        r = _check_certs(home, os.path.join(home, 'nope.crt'), key)
        assert r.returncode == 1 and 'nope.crt' in r.stdout, r.stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_check_data_and_ports():
    home = tempfile.mkdtemp(prefix='xmppd-ops-')
    try:
        ca = CA()
        crt, key, _ = ca.leaf(home, 'example.test')
        data = os.path.join(home, 'data')
        os.makedirs(data)
        os.chmod(data, 0o755)
        port = free_port()
        _run(home, 'init', 'example.test', '--c2s-port', str(port), '--data', data,
             '--cert', crt, '--key', key)
        r = _run(home, 'check', 'data')
        assert r.returncode == 1 and 'chmod 700' in r.stdout, r.stdout
        os.chmod(data, 0o700)
        r = _run(home, 'check', 'data')
        assert r.returncode == 0 and 'writable and private' in r.stdout, r.stdout
        # A port held by someone else is reported but not counted (it may be us).
        s = socket.socket()
        s.bind(('0.0.0.0', port))
        s.listen(1)
        try:
            r = _run(home, 'check', 'ports')
            assert 'in use' in r.stdout, r.stdout
        finally:
            s.close()
        r = _run(home, 'check', 'ports')
        assert r.returncode == 0 and 'free' in r.stdout, r.stdout
        # The HTTP and proxy ports are checked too.
        ini = os.path.join(home, 'etc', 'xmppd.ini')
        hp, pp = free_port(), free_port()
        text = open(ini).read().replace('[server]\n', '[server]\nhttp_ports = %d\n'
                                        'proxy65_ports = %d\n' % (hp, pp), 1)
        open(ini, 'w').write(text)
        r = _run(home, 'check', 'ports')
        assert 'port %d (HTTP)' % hp in r.stdout and \
            'port %d (file transfer proxy)' % pp in r.stdout, r.stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_check_dns_with_local_dns_server():
    dnsmasq = shutil.which('dnsmasq') or '/usr/sbin/dnsmasq'
    assert os.path.exists(dnsmasq), 'dnsmasq is not installed (test.sh installs dnsmasq-base)'
    home = tempfile.mkdtemp(prefix='xmppd-ops-')
    dport = free_port()
    proc = None
    try:
        ca = CA()
        crt, key, _ = ca.leaf(home, 'example.test')
        c2s, s2s = free_port(), free_port()
        proc = subprocess.Popen([dnsmasq, '--no-daemon', '--port=%d' % dport,
                                 '--listen-address=127.0.0.1', '--bind-interfaces',
                                 '--no-resolv', '--no-hosts', '--local=/example.test/',
                                 '--srv-host=_xmpp-client._tcp.example.test,xmpp.example.test,%d,5,0' % c2s,
                                 '--srv-host=_xmpp-server._tcp.example.test,xmpp.example.test,5269,5,0',
                                 '--host-record=xmpp.example.test,127.0.0.1'],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        _run(home, 'init', 'example.test', '--c2s-port', str(c2s), '--s2s-port', str(s2s),
             '--cert', crt, '--key', key)
        cfg = os.path.join(home, 'etc', 'xmppd.ini')
        text = open(cfg).read().replace('[server]\n', '[server]\ndns_servers = 127.0.0.1:%d\n'
                                        % dport, 1)
        open(cfg, 'w').write(text)
        r = _run(home, 'check', 'dns')
        out = r.stdout
        assert '_xmpp-client._tcp.example.test -> xmpp.example.test port %d: OK' % c2s in out, out
        assert 'points at port 5269, which xmppd does not listen on' in out, out
        assert '_xmpp-server._tcp.example.test. 3600 IN SRV 5 0 %d example.test.' % s2s in out, out
        assert r.returncode == 1, out
        # A DNS server that does not answer is a problem, said plainly.
        proc.kill()
        proc.wait()
        proc = None
        r = _run(home, 'check', 'dns')
        assert r.returncode == 1 and 'no answer from the DNS servers' in r.stdout, r.stdout
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(home, ignore_errors=True)


def _peer_cert(port):
    """The certificate a fresh STARTTLS connection is shown."""
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    s.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
              b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
    buf = b''
    while b'</stream:features>' not in buf:
        buf += s.recv(4096)
    s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    buf = b''
    while b'proceed' not in buf:
        buf += s.recv(4096)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s, server_hostname='localhost')
    der = t.getpeercert(binary_form=True)
    t.close()
    return der


def test_certificate_renewed_on_disk_without_restart():
    """Provider certificates are replaced in place every few weeks: new
    connections get the new chain within seconds, without HUP, and the
    sessions already open stay up."""
    ca = CA()
    d = tempfile.mkdtemp(prefix='xmppd-ops-')
    try:
        crt, key, der1 = ca.leaf(d, 'localhost', tag='live')
        with Server(tls={'certificate': crt, 'key': key}) as srv:
            from rawxmpp import Raw
            alice = Raw(srv.c2s_port)
            alice.login('alice', 'alice-pw', 'a')
            assert _peer_cert(srv.c2s_port) == der1
            # Renew: write the new files the way certbot-style tools do.
            new_crt, new_key, der2 = ca.leaf(d, 'localhost', tag='next')
            os.replace(new_key, key)
            os.replace(new_crt, crt)
            deadline = time.time() + 20
            while time.time() < deadline and _peer_cert(srv.c2s_port) != der2:
                time.sleep(0.5)
            assert _peer_cert(srv.c2s_port) == der2, 'new certificate not picked up'
            assert 'certificate files changed on disk' in srv.log(), srv.log_tail()
            # The old session still works.
            reply = alice.iq("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
            assert reply.get('type') == 'result'
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_readiness_fd_for_s6():
    """-N FD: a newline on FD once the ports are open, then FD is closed."""
    srv = Server(start=False)
    try:
        srv.adduser('alice@localhost', 'alice-pw') if hasattr(srv, 'adduser') else None
        srv.write_config()
        r, w = os.pipe()
        p = subprocess.Popen([BIN, '-c', srv.config_path, '-N', str(w), 'run'],
                             pass_fds=(w,), stderr=subprocess.PIPE,
                             env=dict(os.environ, HOME=srv.tmp))
        os.close(w)
        try:
            data = os.read(r, 16)
            assert data == b'\n', data
            assert os.read(r, 16) == b'', 'descriptor not closed'
            socket.create_connection(('127.0.0.1', srv.c2s_port), timeout=2).close()
        finally:
            p.terminate()
            rc = p.wait(timeout=10)
            err = p.stderr.read().decode(errors='replace')
            assert rc == 0, (rc, err[-2000:])
            os.close(r)
        bad = subprocess.run([BIN, '-N', 'x', 'version'], capture_output=True)
        assert bad.returncode == 2
    finally:
        srv.cleanup()


def test_temp_files_swept_only_after_an_unclean_stop():
    """Start-up walks every account directory for temp files left by an
    interrupted write only when the last server did not stop cleanly (the
    walk costs 80 ms per 10,000 accounts)."""
    import signal
    srv = Server()
    try:
        srv.stop()
        marker = os.path.join(srv.data_path, '.clean-stop')
        assert os.path.exists(marker), 'no clean-stop marker after TERM'
        stale = os.path.join(srv.data_path, 'localhost', 'alice', 'roster.tmp.999999')
        os.makedirs(os.path.dirname(stale), exist_ok=True)
        open(stale, 'w').write('half')
        srv.start()
        assert not os.path.exists(marker), 'the marker outlived the start'
        assert os.path.exists(stale), 'swept although the last stop was clean'
        srv.expected_status = None
        srv.stop(sig=signal.SIGKILL)
        assert not os.path.exists(marker)
        srv.expected_status = 0
        srv.start()
        assert not os.path.exists(stale), 'not swept after a kill'
        assert srv.wait_log('removed 1 temporary file')
    finally:
        srv.stop()
        srv.cleanup()
