"""
Module proxy65: the XEP-0065 SOCKS5 bytestream proxy on proxy.localhost,
with its SOCKS5 side on proxy65_ports.

Raw XML covers discovery, the streamhost address and every activation
answer; raw sockets play both clients on the SOCKS5 side: a megabyte each
way after activation (compared byte for byte), backpressure with a reader
that does not read for a while, the close of one side ending the other,
bad greetings and requests (each refused with its RFC 1928 reply and a
log line), the activation deadline and the connection limits.  Two
slixmpp clients finally send a file through the proxy with slixmpp's own
xep_0065 plugin.
"""

import asyncio
import hashlib
import os
import signal
import socket
import threading
import time

import rawxmpp as R
from lib import Server, free_port
from rawxmpp import dump, q, stanza_error
from test_client import Client, run_scenario

NS_BS = 'http://jabber.org/protocol/bytestreams'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
MODULES = 'roster, saslauth, tls, disco, ping, offline, proxy65'
PROXY = 'proxy.localhost'


def proxy_server(address='127.0.0.1', ports=True, limits=None, **kw):
    port = free_port()
    server = {'modules': MODULES}
    if ports:
        server['proxy65_ports'] = port
    server.update(kw.pop('server', {}))
    hostcfg = {'localhost': {'proxy65': PROXY}}
    hostcfg.update(kw.pop('hostcfg', {}))
    ini = '[proxy65]\naddress = %s\n' % address if address else ''
    srv = Server(server=server, hostcfg=hostcfg, limits=limits, extra_ini=ini, **kw)
    srv.proxy_port = port
    return srv


def s5hash(sid, requester, target):
    return hashlib.sha1((sid + requester + target).encode()).hexdigest()


def recv_exact(s, n, timeout=10):
    s.settimeout(timeout)
    out = b''
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise AssertionError('closed after %d of %d bytes%s' % (
                len(out), n, ': %r' % out if len(out) < 64 else ''))
        out += b
    return out


def request(h, cmd=1, atyp=3, port=0):
    addr = h.encode() if isinstance(h, str) else h
    return bytes([5, cmd, 0, atyp, len(addr)]) + addr + port.to_bytes(2, 'big')


def socks(srv, h):
    """A SOCKS5 connection that asked for hash h and got the success
    reply (the address and port echoed)."""
    s = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=10)
    s.sendall(b'\x05\x01\x00')
    assert recv_exact(s, 2) == b'\x05\x00'
    req = request(h)
    s.sendall(req)
    assert recv_exact(s, len(req)) == b'\x05\x00' + req[2:]
    return s


def closed(s, timeout=10):
    """Everything the peer still sends until it closes (b'' then)."""
    s.settimeout(timeout)
    out = b''
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    except ConnectionResetError:
        return out


def activate(r, sid, target, to=PROXY):
    return r.iq("<iq type='set' to='%s'><query xmlns='%s' sid='%s'><activate>%s</activate>"
                "</query></iq>" % (to, NS_BS, sid, target))


def expect_error(reply, etype, cond, what):
    assert reply.get('type') == 'error', '%s: expected an error: %s' % (what, dump(reply))
    assert stanza_error(reply) == (etype, cond), '%s: %s' % (what, dump(reply))


def pair(srv, a, b, sid):
    """alice (a) and bob (b) connected for sid, target first; returns
    (initiator socket, target socket, hash)."""
    h = s5hash(sid, a.jid, b.jid)
    t = socks(srv, h)
    i = socks(srv, h)
    return i, t, h


def logins(srv):
    a = R.client(srv, 'alice', resource='a')
    a.jid = 'alice@localhost/a'
    b = R.client(srv, 'bob', resource='b')
    b.jid = 'bob@localhost/b'
    return a, b


# ---- discovery ----

def test_disco_and_streamhost():
    with proxy_server() as srv:
        r = R.client(srv, 'alice')
        items = r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_ITEMS)
        found = [(i.get('jid'), i.get('name')) for i in items.iter(q(NS_ITEMS, 'item'))]
        assert (PROXY, 'SOCKS5 Bytestreams Service') in found, dump(items)
        info = r.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (PROXY, NS_INFO))
        qe = info.find(q(NS_INFO, 'query'))
        ids = [(i.get('category'), i.get('type')) for i in qe.findall(q(NS_INFO, 'identity'))]
        assert ids == [('proxy', 'bytestreams')], dump(info)
        feats = {f.get('var') for f in qe.findall(q(NS_INFO, 'feature'))}
        assert NS_BS in feats and NS_INFO in feats, feats
        # The feature is the service's, not the server's.
        sinfo = r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_INFO)
        assert NS_BS not in {f.get('var') for f in sinfo.iter(q(NS_INFO, 'feature'))}
        items = r.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (PROXY, NS_ITEMS))
        assert items.get('type') == 'result' and len(items.find(q(NS_ITEMS, 'query'))) == 0
        expect_error(r.iq("<iq type='get' to='%s'><query xmlns='%s' node='x'/></iq>"
                          % (PROXY, NS_INFO)), 'cancel', 'item-not-found', 'a node')
        rep = r.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (PROXY, NS_BS))
        sh = rep.findall('%s/%s' % (q(NS_BS, 'query'), q(NS_BS, 'streamhost')))
        assert [dict(s.attrib) for s in sh] == [
            {'jid': PROXY, 'host': '127.0.0.1', 'port': str(srv.proxy_port)}], dump(rep)
        for what, xml, err in (
                ('unknown payload', "<iq type='get' to='%s'><query xmlns='urn:x'/></iq>" % PROXY,
                 ('cancel', 'service-unavailable')),
                ('a JID on the service', "<iq type='get' to='x@%s'><query xmlns='%s'/></iq>"
                 % (PROXY, NS_BS), ('cancel', 'service-unavailable')),
                ('two payloads', "<iq type='get' to='%s'><query xmlns='%s'/><x xmlns='y'/></iq>"
                 % (PROXY, NS_BS), ('modify', 'bad-request')),
                ('disco set', "<iq type='set' to='%s'><query xmlns='%s'/></iq>"
                 % (PROXY, NS_INFO), ('modify', 'bad-request'))):
            expect_error(r.iq(xml), *err, what)
        r.send("<message to='%s' id='m1'><body>hi</body></message>" % PROXY)
        err = r.expect(lambda e: e.tag == R.C('message') and e.get('id') == 'm1')
        assert stanza_error(err) == ('cancel', 'service-unavailable'), dump(err)
        r.close()


def test_default_address_and_no_ports():
    with proxy_server(address=None) as srv:
        r = R.client(srv, 'alice')
        rep = r.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (PROXY, NS_BS))
        sh = rep.find('%s/%s' % (q(NS_BS, 'query'), q(NS_BS, 'streamhost')))
        assert sh is not None and sh.get('host') == PROXY, dump(rep)
        r.close()
    # Without proxy65_ports nothing listens and the proxy cannot act.
    with proxy_server(ports=False) as srv:
        assert 'no proxy65_ports' in srv.log(), srv.log_tail(20)
        assert 'SOCKS5' not in srv.log()
        r = R.client(srv, 'alice')
        rep = r.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (PROXY, NS_BS))
        expect_error(rep, 'cancel', 'not-allowed', 'no ports')
        r.close()
    # The module off: the domain is nobody's, nothing is listed.
    with proxy_server(server={'modules': 'roster, saslauth, tls, disco, ping'}) as srv:
        r = R.client(srv, 'alice')
        items = r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_ITEMS)
        assert PROXY not in [i.get('jid') for i in items.iter(q(NS_ITEMS, 'item'))]
        r.close()


def test_bad_settings_refused():
    for ini, word in (('[proxy65]\ncolour = blue\n', 'address'),
                      ('[proxy65]\naddress =\n', 'address'),
                      ('[proxy65]\naddress = %s\n' % ('a' * 300), 'address')):
        srv = Server(start=False, server={'modules': MODULES}, extra_ini=ini)
        r = srv.cli('check', 'config')
        assert r.returncode == 2 and word in (r.stdout + r.stderr), \
            '%r: %d %s%s' % (ini, r.returncode, r.stdout, r.stderr)
        srv.cleanup()
    srv = Server(start=False, server={'modules': MODULES})
    srv.server_cfg['proxy65_ports'] = srv.c2s_port
    srv.write_config()
    r = srv.cli('check', 'config')
    assert r.returncode == 2 and 'proxy65_ports' in r.stdout + r.stderr, r.stdout + r.stderr
    srv.cleanup()


# ---- the relay ----

def test_transfer_both_ways_after_activation():
    up = os.urandom(1024 * 1024 + 17)
    down = os.urandom(300 * 1024 + 5)
    with proxy_server() as srv:
        a, b = logins(srv)
        i, t, h = pair(srv, a, b, 'sid-1')
        rep = activate(a, 'sid-1', b.jid)
        assert rep.get('type') == 'result', dump(rep)
        assert srv.wait_log('activated')
        got = {}

        def reader(name, s, n):
            got[name] = recv_exact(s, n, timeout=30)
        th = [threading.Thread(target=reader, args=('t', t, len(up))),
              threading.Thread(target=reader, args=('i', i, len(down)))]
        for x in th:
            x.start()
        i.sendall(up)
        t.sendall(down)
        for x in th:
            x.join(40)
        assert got.get('t') == up, 'target got %d bytes' % len(got.get('t', b''))
        assert got.get('i') == down, 'initiator got %d bytes' % len(got.get('i', b''))
        # A second activation of the running pair finds nothing to start.
        expect_error(activate(a, 'sid-1', b.jid), 'cancel', 'item-not-found', 'again')
        # The initiator closes after its last bytes: the target gets them,
        # then the end.
        i.sendall(b'last words')
        i.close()
        assert closed(t) == b'last words'
        t.close()
        # A new pair with the same hash works again.
        i, t, h = pair(srv, a, b, 'sid-1')
        assert activate(a, 'sid-1', b.jid).get('type') == 'result'
        t.sendall(b'ping')
        assert recv_exact(i, 4) == b'ping'
        # ... and the target closing ends the initiator's side.
        t.close()
        assert closed(i) == b''
        i.close()
        a.close()
        b.close()


test_transfer_both_ways_after_activation.timeout = 90


def test_backpressure_with_a_slow_reader():
    """The reader does not read for a while: the proxy stops reading from
    the sender instead of queueing everything (a queue over the hard limit
    would end the relay as a slow consumer)."""
    data = os.urandom(12 * 1024 * 1024)
    limits = {'output_high_water': '64K', 'output_hard_limit': '600K'}
    with proxy_server(limits=limits) as srv:
        a, b = logins(srv)
        i, t, h = pair(srv, a, b, 'slow')
        t.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        assert activate(a, 'slow', b.jid).get('type') == 'result'
        sent = {}

        def writer():
            i.sendall(data)
            sent['done'] = time.monotonic()
        th = threading.Thread(target=writer)
        th.start()
        time.sleep(2)
        assert 'done' not in sent, 'all 12 MB went out while nobody read'
        got = recv_exact(t, len(data), timeout=60)
        th.join(30)
        assert got == data
        assert 'slow consumer' not in srv.log(), srv.log_tail(20)
        i.close()
        assert closed(t) == b''
        t.close()
        a.close()
        b.close()


test_backpressure_with_a_slow_reader.timeout = 120


def test_activation_errors():
    with proxy_server(hosts=('localhost', 'example.test'),
                      users={'alice@localhost': 'a', 'bob@localhost': 'b',
                             'dave@example.test': 'd'}) as srv:
        a, b = logins(srv)
        # Nobody connected for this hash yet.
        expect_error(activate(a, 'e1', b.jid), 'cancel', 'item-not-found', 'nobody connected')
        h = s5hash('e1', a.jid, b.jid)
        t = socks(srv, h)
        expect_error(activate(a, 'e1', b.jid), 'cancel', 'not-allowed', 'one side only')
        i = socks(srv, h)
        # A third connection for the hash is refused (ruleset).
        x = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=10)
        x.sendall(b'\x05\x01\x00' + request(h))
        assert recv_exact(x, 4) == b'\x05\x00\x05\x02'
        assert len(closed(x)) == 8
        x.close()
        # Someone else's request names another hash (XEP-0065: not the
        # requester's full JID).
        expect_error(activate(b, 'e1', b.jid), 'cancel', 'item-not-found', 'wrong requester')
        expect_error(activate(b, 'e1', a.jid), 'cancel', 'item-not-found', 'target asks')
        expect_error(activate(a, 'e1', 'bob@localhost'), 'cancel', 'item-not-found',
                     'bare target')
        for what, inner, err in (
                ('no sid', "<query xmlns='%s'><activate>%s</activate></query>" % (NS_BS, b.jid),
                 ('modify', 'bad-request')),
                ('no activate', "<query xmlns='%s' sid='e1'/>" % NS_BS,
                 ('modify', 'bad-request')),
                ('bad target', "<query xmlns='%s' sid='e1'><activate>a@b@c</activate>"
                 "</query>" % NS_BS, ('modify', 'jid-malformed'))):
            expect_error(a.iq("<iq type='set' to='%s'>%s</iq>" % (PROXY, inner)), *err, what)
        # Nothing was relayed before activation.
        i.sendall(b'early')
        t.settimeout(0.5)
        try:
            early = t.recv(10)
        except socket.timeout:
            early = None
        assert early is None, early
        # A local account of another host may not use this host's proxy.
        d = R.Raw(srv.c2s_port)
        d.open(to='example.test')
        d.starttls()
        assert d.auth_plain('dave', 'd').tag.endswith('}success')
        d.bind()
        for xml in ("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (PROXY, NS_BS),
                    "<iq type='set' to='%s'><query xmlns='%s' sid='e1'><activate>%s"
                    "</activate></query></iq>" % (PROXY, NS_BS, b.jid)):
            expect_error(d.iq(xml), 'auth', 'forbidden', 'other host')
        d.close()
        # The right request starts it, and the early bytes come first.
        assert activate(a, 'e1', b.jid).get('type') == 'result'
        i.sendall(b' and late')
        assert recv_exact(t, 14) == b'early and late'
        i.close()
        t.close()
        a.close()
        b.close()


# ---- bad SOCKS5 input ----

def test_bad_socks_input_refused_with_reply_and_log():
    h = 'ab' * 20
    cases = [
        ('SOCKS4', b'\x04\x01\x00\x50\x7f\x00\x00\x01\x00', b'', 'not version 5'),
        ('HTTP', b'GET / HTTP/1.1\r\nHost: x\r\n\r\n', b'', 'not version 5'),
        ('password only', b'\x05\x01\x02', b'\x05\xff', 'wants authentication'),
        ('no methods', b'\x05\x00', b'\x05\xff', 'wants authentication'),
        ('request version 4', b'\x05\x01\x00\x04\x01\x00\x03', b'\x05\x00', 'not version 5'),
        ('BIND', b'\x05\x01\x00' + request(h, cmd=2), b'\x05\x00\x05\x07', 'not CONNECT'),
        ('UDP', b'\x05\x01\x00' + request(h, cmd=3), b'\x05\x00\x05\x07', 'not CONNECT'),
        ('IPv4', b'\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x00', b'\x05\x00\x05\x08',
         'not a domain name'),
        ('39 digits', b'\x05\x01\x00' + request(h[:39]), b'\x05\x00\x05\x01',
         'not a SHA-1 hash'),
        ('41 digits', b'\x05\x01\x00' + request(h + 'a'), b'\x05\x00\x05\x01',
         'not a SHA-1 hash'),
        ('not hex', b'\x05\x01\x00' + request('g' * 40), b'\x05\x00\x05\x01',
         'not a SHA-1 hash'),
        ('NUL in hash', b'\x05\x01\x00' + request('a' * 39 + '\0'), b'\x05\x00\x05\x01',
         'not a SHA-1 hash'),
        ('reserved byte', b'\x05\x01\x00\x05\x01\x01\x03\x28' + h.encode() + b'\0\0',
         b'\x05\x00\x05\x01', 'not a SHA-1 hash'),
        ('data before activation', b'\x05\x01\x00' + request(h) + b'hello',
         b'\x05\x00\x05\x01', 'data before activation'),
        ('a flood', b'\x05\xff' + b'\x00' * 100000, b'\x05', None),
    ]
    with proxy_server() as srv:
        fails = R.Failures()
        for what, send, want, logged in cases:
            def one(send=send, want=want, logged=logged, what=what):
                start = len(srv.log())
                s = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=10)
                try:
                    s.sendall(send)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                got = closed(s)
                s.close()
                assert got.startswith(want) and len(got) <= 12, (what, got)
                if logged:
                    assert srv.wait_log('socks5: ' + logged, start=start), \
                        (what, srv.log()[start:])
            fails.run(what, one)
        fails.raise_if_any()
        # Accepted the slow way: greeting and request one byte at a time,
        # and both in one piece.
        for split in (True, False):
            s = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=10)
            msg = b'\x05\x02\x02\x00' + request('CD' * 20, port=1234)
            if split:
                for k in range(len(msg)):
                    s.sendall(msg[k:k + 1])
                    time.sleep(0.002)
            else:
                s.sendall(msg)
            assert recv_exact(s, 2 + 47) == b'\x05\x00' + b'\x05\x00' + msg[6:]
            s.close()
        r = R.client(srv, 'alice')
        r.ping()
        r.close()


# ---- deadlines and limits ----

def test_activation_deadline_and_limits():
    # Unactivated connections have auth_timeout to be activated.
    with proxy_server(limits={'auth_timeout': 2, 'max_unauth_per_ip': 4}) as srv:
        a, b = logins(srv)
        h = s5hash('late', a.jid, b.jid)
        quiet = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=10)
        t = socks(srv, h)
        i = socks(srv, h)
        t0 = time.monotonic()
        assert closed(quiet) == b''
        assert closed(t) == b'' and closed(i) == b''
        assert time.monotonic() - t0 < 8
        assert 'socks5 connection' not in srv.log()
        expect_error(activate(a, 'late', b.jid), 'cancel', 'item-not-found', 'timed out')
        for s in (quiet, t, i):
            s.close()
        # Per address, pending connections count as unauthenticated ones.
        socks_ = [socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=10)
                  for _ in range(4)]
        extra = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=10)
        assert closed(extra, timeout=5) == b''
        assert srv.wait_log('socks5 connection from 127.0.0.1 refused: limits')
        before = srv.log().count('connection closed')
        for s in socks_ + [extra]:
            s.close()
        # The server must have seen the four closes before the pair below
        # connects, or the pair is over the per-address limit itself.
        deadline = time.monotonic() + 10
        while srv.log().count('connection closed') < before + 4 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        # An active pair no longer counts: it outlives auth_timeout.
        i, t, h = pair(srv, a, b, 'long')
        assert activate(a, 'long', b.jid).get('type') == 'result'
        time.sleep(3)
        i.sendall(b'still here')
        assert recv_exact(t, 10) == b'still here'
        i.close()
        t.close()
        a.close()
        b.close()


test_activation_deadline_and_limits.timeout = 60


def test_pending_cap():
    with proxy_server(limits={'max_connections_per_ip': 200, 'max_unauth_per_ip': 200}) as srv:
        held = [socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=10)
                for _ in range(64)]
        R.client(srv, 'alice').close()	# all accepted by now
        extra = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=10)
        assert closed(extra, timeout=5) == b''
        assert srv.wait_log('refused: limits')
        extra.close()
        for s in held:
            s.close()


def test_reload_and_shutdown_with_a_running_relay():
    with proxy_server() as srv:
        a, b = logins(srv)
        i, t, h = pair(srv, a, b, 'r')
        assert activate(a, 'r', b.jid).get('type') == 'result'
        # HUP with a new port: the new one listens, the relay goes on.
        new = free_port()
        srv.server_cfg['proxy65_ports'] = new
        srv.write_config()
        start = len(srv.log())
        srv.proc.send_signal(signal.SIGHUP)
        assert srv.wait_log('configuration reloaded', start=start)
        assert 'listening on 127.0.0.1 port %d (SOCKS5 proxy)' % new in srv.log()[start:]
        srv.proxy_port = new
        socks(srv, 'ee' * 20).close()
        i.sendall(b'after reload')
        assert recv_exact(t, 12) == b'after reload'
        # TERM ends the relay (both sides see the end) and exits 0.
        srv.stop()
        assert srv.returncode == 0
        assert closed(i) == b'' and closed(t) == b''
        i.close()
        t.close()


# ---- slixmpp ----

def test_slixmpp_sends_a_file_through_the_proxy():
    data = os.urandom(512 * 1024 + 3)
    with proxy_server() as srv:
        async def run(clients):
            ca = Client(clients, srv, 'alice@localhost/send', 'alice-pw')
            cb = Client(clients, srv, 'bob@localhost/recv', 'bob-pw')
            for c in (ca, cb):
                c.x.register_plugin('xep_0030')
                c.x.register_plugin('xep_0065', {'auto_accept': True})
            got = bytearray()
            done = asyncio.Event()

            def on_data(d):
                got.extend(d)
                if len(got) >= len(data):
                    done.set()
            cb.x.add_event_handler('socks5_data', on_data)
            await ca.connect()
            await cb.connect()
            proxies = await ca.x['xep_0065'].discover_proxies(timeout=5)
            assert proxies == {PROXY: ('127.0.0.1', srv.proxy_port)} or \
                {str(k): (v[0], int(v[1])) for k, v in proxies.items()} == \
                {PROXY: ('127.0.0.1', srv.proxy_port)}, proxies
            sock = await ca.x['xep_0065'].handshake(cb.full, timeout=10)
            assert sock is not None
            for k in range(0, len(data), 16384):
                await sock.write(data[k:k + 16384])
            await asyncio.wait_for(done.wait(), 20)
            assert bytes(got) == data, 'received %d of %d bytes' % (len(got), len(data))
        run_scenario(run, timeout=40)
        assert 'activated' in srv.log()


test_slixmpp_sends_a_file_through_the_proxy.timeout = 60
