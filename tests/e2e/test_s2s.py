"""
Federation between two xmppd instances on loopback (a.test and b.test), with a
local DNS server (dnsmasq) publishing their SRV records: dialback over TLS in
both directions, presence subscription, chat, and the failure cases — unknown
domain, refused port, DNS timeout, a peer that never finishes TLS, a peer that
spoofs 'from' — each with the right error for the local sender while local
traffic goes on.
"""

import os
import shutil
import socket
import subprocess
import threading
import time

from lib import Server, free_port
from rawxmpp import Raw, C

DNSMASQ = shutil.which('dnsmasq') or '/usr/sbin/dnsmasq'


class Dns:
    """dnsmasq on a loopback port with the given SRV and A records."""

    def __init__(self, srv=(), hosts=()):
        self.port = free_port()
        args = [DNSMASQ, '--no-daemon', '--port=%d' % self.port,
                '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv',
                '--no-hosts', '--local=/test/']
        for name, target, port in srv:
            args.append('--srv-host=%s,%s,%d,5,0' % (name, target, port))
        for name, addr in hosts:
            args.append('--host-record=%s,%s' % (name, addr))
        assert os.path.exists(DNSMASQ), 'dnsmasq missing (test.sh installs dnsmasq-base)'
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        time.sleep(0.2)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def _server(host, user, s2s_port, dns_port, **kw):
    server = {'s2s_ports': s2s_port, 'dns_servers': '127.0.0.1:%d' % dns_port,
              'modules': 'roster, ping, offline'}
    server.update(kw.pop('server', {}))
    return Server(hosts=(host,), users={'%s@%s' % (user, host): user + '-pw'},
                  server=server, start=False, **kw)


def _login(srv, user, host, resource):
    r = Raw(srv.c2s_port)
    r.open(to=host)
    r.starttls()
    el = r.auth_plain(user, user + '-pw')
    assert el.tag.endswith('success'), el
    r.bind(resource)
    r.send('<presence/>')
    # A ping to our own host (Raw.sync() pings 'localhost', remote here).
    assert r.iq("<iq type='get' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>" % host
                ).get('type') == 'result'
    r.take_all(lambda e: e.tag == C('presence'))
    return r


def _pair(**kw):
    sa, sb = free_port(), free_port()
    dns = Dns(srv=[('_xmpp-server._tcp.a.test', 'xmpp-a.test', sa),
                   ('_xmpp-server._tcp.b.test', 'xmpp-b.test', sb)],
              hosts=[('xmpp-a.test', '127.0.0.1'), ('xmpp-b.test', '127.0.0.1')])
    a = _server('a.test', 'alice', sa, dns.port, **kw)
    b = _server('b.test', 'bob', sb, dns.port, **kw)
    a.start()
    b.start()
    return dns, a, b


def _is_msg(body):
    return lambda e: e.tag == C('message') and e.findtext(C('body')) == body


def test_dialback_both_ways_subscribe_and_chat():
    dns, a, b = _pair()
    try:
        with a, b:
            alice = _login(a, 'alice', 'a.test', 'pc')
            bob = _login(b, 'bob', 'b.test', 'phone')
            # Subscription across servers, both ways (RFC 6121 over s2s).
            alice.send("<presence to='bob@b.test' type='subscribe'/>")
            req = bob.expect(lambda e: e.tag == C('presence') and e.get('type') == 'subscribe',
                             timeout=10)
            assert req.get('from') == 'alice@a.test', req.attrib
            bob.send("<presence to='alice@a.test' type='subscribed'/>")
            alice.expect(lambda e: e.tag == C('presence') and e.get('type') == 'subscribed'
                         and e.get('from') == 'bob@b.test', timeout=10)
            # Bob's presence reaches alice once he approved (RFC 6121 3.1.5).
            alice.expect(lambda e: e.tag == C('presence') and e.get('from') == 'bob@b.test/phone'
                         and e.get('type') is None, timeout=10)
            # Chat both ways, to full and bare JIDs.
            for i in range(5):
                alice.send("<message to='bob@b.test' type='chat'><body>hi %d</body></message>" % i)
                m = bob.expect(_is_msg('hi %d' % i), timeout=10)
                assert m.get('from') == 'alice@a.test/pc', m.attrib
                bob.send("<message to='alice@a.test/pc' type='chat'><body>re %d</body></message>" % i)
                m = alice.expect(_is_msg('re %d' % i), timeout=10)
                assert m.get('from') == 'bob@b.test/phone', m.attrib
            # IQ across: a ping to bob's server is answered.
            reply = alice.iq("<iq type='get' to='b.test'><ping xmlns='urn:xmpp:ping'/></iq>")
            assert reply.get('type') == 'result', reply.attrib
            # Bob goes offline: alice sees him go, then a message waits offline on b.
            bob.finish()
            alice.expect(lambda e: e.tag == C('presence') and e.get('type') == 'unavailable',
                         timeout=10)
            alice.send("<message to='bob@b.test' type='chat'><body>later</body></message>")
            time.sleep(0.3)
            bob2 = _login(b, 'bob', 'b.test', 'again')
            bob2.expect(_is_msg('later'), timeout=10)
            for log in (a.log(), b.log()):
                assert 'verified by dialback' in log and 'ready (TLS)' in log, log[-2000:]
    finally:
        dns.stop()


def _bounce(r, to, cond, timeout=40):
    r.send("<message to='%s' type='chat' id='x1'><body>x</body></message>" % to)
    e = r.expect(lambda e: e.tag == C('message') and e.get('type') == 'error', timeout=timeout)
    got = [c.tag.split('}')[1] for c in e.find(C('error'))]
    assert cond in got, (cond, got)
    return e


def test_unknown_domain_refused_port_and_local_traffic_goes_on():
    closed = free_port()          # nothing listens here
    dns = Dns(srv=[('_xmpp-server._tcp.closed.test', 'xmpp-c.test', closed)],
              hosts=[('xmpp-c.test', '127.0.0.1')])
    a = Server(hosts=('a.test',), users={'alice@a.test': 'alice-pw', 'carol@a.test': 'carol-pw'},
               server={'s2s_ports': free_port(), 'dns_servers': '127.0.0.1:%d' % dns.port},
               start=False)
    try:
        a.start()
        with a:
            alice = _login(a, 'alice', 'a.test', 'x')
            carol = Raw(a.c2s_port)
            carol.open(to='a.test')
            carol.starttls()
            carol.auth_plain('carol', 'carol-pw')
            carol.bind('y')
            t0 = time.time()
            _bounce(alice, 'someone@nowhere.test', 'remote-server-not-found')
            _bounce(alice, 'someone@closed.test', 'remote-server-not-found')
            assert time.time() - t0 < 10, 'bounces took %.1fs' % (time.time() - t0)
            # Local chat is unaffected.
            alice.send("<message to='carol@a.test/y' type='chat'><body>local</body></message>")
            carol.expect(_is_msg('local'), timeout=5)
    finally:
        dns.stop()


def test_dns_timeout_bounces_with_timeout():
    dead = free_port()            # a DNS "server" that never answers
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', dead))
    a = Server(hosts=('a.test',), users={'alice@a.test': 'alice-pw'},
               server={'s2s_ports': free_port(), 'dns_servers': '127.0.0.1:%d' % dead},
               limits={'s2s_timeout': 8}, start=False)
    try:
        a.start()
        with a:
            alice = _login(a, 'alice', 'a.test', 'x')
            t0 = time.time()
            e = _bounce(alice, 'someone@slow.test', 'remote-server-timeout', timeout=30)
            assert e.get('from') == 'someone@slow.test'
            # The loop never stalled meanwhile: pings kept being answered.
            assert alice.iq("<iq type='get' to='a.test'><ping xmlns='urn:xmpp:ping'/></iq>"
                            ).get('type') == 'result'
            assert time.time() - t0 < 25
    finally:
        sock.close()


def test_peer_that_never_finishes_tls():
    """A 'server' that accepts, answers the stream and STARTTLS, then says
    nothing: the sender gets remote-server-timeout within s2s_timeout."""
    lport = free_port()
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(('127.0.0.1', lport))
    lsock.listen(5)
    held = []

    def serve():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            held.append(c)
            try:
                c.settimeout(5)
                c.recv(4096)
                c.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                          b"xmlns:stream='http://etherx.jabber.org/streams' "
                          b"xmlns:db='jabber:server:dialback' id='s1' from='stall.test' "
                          b"version='1.0'><stream:features><starttls "
                          b"xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
                          b"</stream:features>")
                c.recv(4096)
                c.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    dns = Dns(srv=[('_xmpp-server._tcp.stall.test', 'xmpp-s.test', lport)],
              hosts=[('xmpp-s.test', '127.0.0.1')])
    a = Server(hosts=('a.test',), users={'alice@a.test': 'alice-pw'},
               server={'s2s_ports': free_port(), 'dns_servers': '127.0.0.1:%d' % dns.port},
               limits={'s2s_timeout': 6}, start=False)
    try:
        a.start()
        with a:
            alice = _login(a, 'alice', 'a.test', 'x')
            t0 = time.time()
            _bounce(alice, 'x@stall.test', 'remote-server-timeout', timeout=30)
            assert 4 < time.time() - t0 < 20, time.time() - t0
    finally:
        lsock.close()
        for c in held:
            c.close()
        dns.stop()


def test_spoofed_from_on_incoming_stream():
    """A peer that verified as a.test but sends from another domain gets
    invalid-from; b's users never see the stanza."""
    dns, a, b = _pair()
    try:
        with a, b:
            alice = _login(a, 'alice', 'a.test', 'pc')
            bob = _login(b, 'bob', 'b.test', 'phone')
            alice.send("<message to='bob@b.test/phone' type='chat'><body>ok</body></message>")
            bob.expect(_is_msg('ok'), timeout=10)
            # A raw s2s peer on b's port that claims c.test without dialback.
            s = socket.create_connection(('127.0.0.1', int(b.server_cfg['s2s_ports'])))
            s.settimeout(5)
            s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                      b"xmlns:stream='http://etherx.jabber.org/streams' "
                      b"xmlns:db='jabber:server:dialback' from='c.test' to='b.test' version='1.0'>")
            buf = b''
            while b'</stream:features>' not in buf:
                buf += s.recv(4096)
            assert b'<starttls' in buf and b'<required/>' in buf, buf
            s.sendall(b"<message from='evil@c.test' to='bob@b.test/phone' type='chat'>"
                      b"<body>spoof</body></message>")
            buf = b''
            try:
                while b'</stream:stream>' not in buf:
                    d = s.recv(4096)
                    if not d:
                        break
                    buf += d
            except socket.timeout:
                pass
            assert b'invalid-from' in buf or b'not-authorized' in buf, buf
            s.close()
            assert bob.iq("<iq type='get' to='b.test'><ping xmlns='urn:xmpp:ping'/></iq>"
                          ).get('type') == 'result'
            assert not [e for e in bob.take_all() if e.findtext(C('body')) == 'spoof']
    finally:
        dns.stop()


def _ca_pair(secure_auth=False, trusted=True):
    """Two servers with certificates from one throwaway CA, each trusting it
    (or, with trusted=False, trusting nothing)."""
    from test_ops import CA
    import tempfile
    ca = CA()
    d = tempfile.mkdtemp(prefix='xmppd-s2s-')
    capath = os.path.join(d, 'ca.pem')
    from cryptography.hazmat.primitives import serialization
    open(capath, 'wb').write(ca.cert.public_bytes(serialization.Encoding.PEM))
    other = CA()                  # an authority nobody's certificate comes from
    otherpath = os.path.join(d, 'other.pem')
    open(otherpath, 'wb').write(other.cert.public_bytes(serialization.Encoding.PEM))
    sa, sb = free_port(), free_port()
    dns = Dns(srv=[('_xmpp-server._tcp.a.test', 'xmpp-a.test', sa),
                   ('_xmpp-server._tcp.b.test', 'xmpp-b.test', sb)],
              hosts=[('xmpp-a.test', '127.0.0.1'), ('xmpp-b.test', '127.0.0.1')])
    servers = []
    for host, user, port in (('a.test', 'alice', sa), ('b.test', 'bob', sb)):
        crt, key, _ = ca.leaf(d, host, tag=host)
        tls = {'certificate': crt, 'key': key, 'ca_file': capath if trusted else otherpath}
        extra = {'s2s_secure_auth': 'true'} if secure_auth else {}
        servers.append(_server(host, user, port, dns.port, tls=tls, server=extra))
    for s in servers:
        s.start()
    return dns, servers[0], servers[1], d


def test_sasl_external_with_trusted_certificates():
    dns, a, b, d = _ca_pair()
    try:
        with a, b:
            alice = _login(a, 'alice', 'a.test', 'pc')
            bob = _login(b, 'bob', 'b.test', 'phone')
            alice.send("<message to='bob@b.test/phone' type='chat'><body>by cert</body></message>")
            bob.expect(_is_msg('by cert'), timeout=10)
            bob.send("<message to='alice@a.test/pc' type='chat'><body>back</body></message>")
            alice.expect(_is_msg('back'), timeout=10)
            for log in (a.log(), b.log()):
                assert 'authenticated by certificate (SASL EXTERNAL)' in log, log[-3000:]
                assert 'verified by dialback' not in log, log[-3000:]
    finally:
        dns.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_secure_auth_refuses_untrusted_peers():
    """s2s_secure_auth: a peer whose certificate does not chain to our
    anchors is refused; the sender gets remote-server-not-found."""
    dns, a, b, d = _ca_pair(secure_auth=True, trusted=False)
    try:
        with a, b:
            alice = _login(a, 'alice', 'a.test', 'pc')
            e = _bounce(alice, 'bob@b.test', 'remote-server-not-found', timeout=20)
            assert 's2s_secure_auth' in (e.findtext('.//' + '{urn:ietf:params:xml:ns:xmpp-stanzas}text')
                                         or ''), e
    finally:
        dns.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_direct_tls_to_a_server_xep0368():
    """_xmpps-server._tcp points at b's direct TLS port; _xmpp-server at a
    port where nothing listens: the message can only arrive over TLS from
    the first byte."""
    sa, sb_tls, closed = free_port(), free_port(), free_port()
    dns = Dns(srv=[('_xmpp-server._tcp.a.test', 'xmpp-a.test', sa),
                   ('_xmpp-server._tcp.b.test', 'xmpp-b.test', closed),
                   ('_xmpps-server._tcp.b.test', 'xmpp-b.test', sb_tls)],
              hosts=[('xmpp-a.test', '127.0.0.1'), ('xmpp-b.test', '127.0.0.1')])
    a = _server('a.test', 'alice', sa, dns.port)
    b = _server('b.test', 'bob', free_port(), dns.port,
                server={'s2s_direct_tls_ports': sb_tls})
    try:
        a.start()
        b.start()
        with a, b:
            alice = _login(a, 'alice', 'a.test', 'pc')
            bob = _login(b, 'bob', 'b.test', 'phone')
            alice.send("<message to='bob@b.test/phone' type='chat'><body>direct</body></message>")
            bob.expect(_is_msg('direct'), timeout=10)
            assert '(servers, direct TLS)' in b.log()
            assert 'a.test -> b.test: ready (TLS)' in a.log(), a.log()[-2000:]
    finally:
        dns.stop()
