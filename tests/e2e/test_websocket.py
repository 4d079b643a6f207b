"""
XMPP over WebSocket (RFC 7395, module websocket) with a raw WebSocket
client written here: the upgrade and every refusal with its status, login
and chat with a TCP client, <open/>/<close/> framing, stanzas that stand
alone with their namespace, ping/pong, fragmented messages, and the frame
errors that fail the connection with the right close code.

WsClient is used by other tests that need a web client (browser-free).
"""

import base64
import hashlib
import os
import socket
import struct
import time
import xml.etree.ElementTree as ET

import rawxmpp as R
from lib import web_server

NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
NS_STREAM = 'http://etherx.jabber.org/streams'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
MODULES = 'roster, saslauth, tls, disco, ping, offline, websocket'


class WsClient:
    """One WebSocket connection; every read has a deadline."""

    def __init__(self, port, tls=False, path='/xmpp-websocket', headers=None,
                 timeout=5, expect=101):
        s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        if tls:
            s = R.tls_context().wrap_socket(s, server_hostname='localhost')
        self.sock = s
        self.timeout = timeout
        self.buf = b''
        self.key = base64.b64encode(os.urandom(16)).decode()
        h = {'Host': 'localhost', 'Upgrade': 'websocket', 'Connection': 'Upgrade',
             'Sec-WebSocket-Key': self.key, 'Sec-WebSocket-Version': '13',
             'Sec-WebSocket-Protocol': 'xmpp'}
        for k, v in (headers or {}).items():
            if v is None:
                h.pop(k, None)
            else:
                h[k] = v
        req = 'GET %s HTTP/1.1\r\n' % path + ''.join(
            '%s: %s\r\n' % kv for kv in h.items()) + '\r\n'
        self.sock.sendall(req.encode())
        self.status, self.headers = self._head()
        assert self.status == expect, (self.status, self.headers, self.buf)
        if expect == 101:
            want = base64.b64encode(hashlib.sha1(self.key.encode() + GUID).digest())
            assert self.headers.get('sec-websocket-accept') == want.decode()
            assert self.headers.get('sec-websocket-protocol') == 'xmpp'

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError('have %r' % self.buf[:200])
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError('have %r' % self.buf[:200]) from None
        except OSError:
            d = b''
        if not d:
            raise EOFError('connection closed; have %r' % self.buf[:200])
        self.buf += d

    def _head(self):
        deadline = time.monotonic() + self.timeout
        while b'\r\n\r\n' not in self.buf:
            self._recv(deadline)
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = head.decode().split('\r\n')
        hdrs = {}
        for l in lines[1:]:
            k, v = l.split(':', 1)
            hdrs[k.strip().lower()] = v.strip()
        return int(lines[0].split()[1]), hdrs

    def body(self):
        n = int(self.headers.get('content-length', '0'))
        deadline = time.monotonic() + self.timeout
        while len(self.buf) < n:
            self._recv(deadline)
        return self.buf[:n]

    # ---- frames ----

    def frame(self, opcode, payload, fin=True, mask=True, rsv=0):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | rsv | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr = struct.pack('!BB', b0, mbit | n)
        elif n < 65536:
            hdr = struct.pack('!BBH', b0, mbit | 126, n)
        else:
            hdr = struct.pack('!BBQ', b0, mbit | 127, n)
        if mask:
            k = os.urandom(4)
            payload = bytes(c ^ k[i % 4] for i, c in enumerate(payload))
            hdr += k
        return hdr + payload

    def send_frame(self, opcode, payload, **kw):
        self.sock.sendall(self.frame(opcode, payload, **kw))

    def send(self, text):
        self.send_frame(1, text)

    def read_frame(self, timeout=None):
        """(opcode, payload) of the next frame from the server, which must
        be unmasked and final."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < 2:
            self._recv(deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, 'server frames are not masked'
        n, off = b1 & 0x7f, 2
        if n == 126:
            while len(self.buf) < 4:
                self._recv(deadline)
            n, off = struct.unpack('!H', self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._recv(deadline)
            n, off = struct.unpack('!Q', self.buf[2:10])[0], 10
        while len(self.buf) < off + n:
            self._recv(deadline)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        assert b0 & 0x80, 'server frames are final'
        return b0 & 0x0f, payload

    def read(self, timeout=None):
        """The next text message as an element (pings answered by us are
        not expected from the server)."""
        op, p = self.read_frame(timeout)
        assert op == 1, 'expected a text frame, got opcode %d %r' % (op, p)
        return ET.fromstring(p.decode())

    def read_until(self, pred, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            el = self.read(max(0.05, deadline - time.monotonic()))
            if pred(el):
                return el

    def closed_with(self, timeout=None):
        """Read up to the server's close frame: its code."""
        while True:
            op, p = self.read_frame(timeout)
            if op == 8:
                return struct.unpack('!H', p[:2])[0] if len(p) >= 2 else None

    # ---- XMPP ----

    def open(self, to='localhost'):
        self.send("<open xmlns='%s' to='%s' version='1.0'/>" % (NS_FRAMING, to))
        o = self.read()
        assert o.tag == '{%s}open' % NS_FRAMING, R.dump(o)
        assert o.get('from') == to and o.get('id') and o.get('version') == '1.0'
        f = self.read()
        assert f.tag == '{%s}features' % NS_STREAM, R.dump(f)
        return f

    def login(self, user, password, resource='web'):
        f = self.open()
        mechs = [m.text for m in f.iter('{%s}mechanism' % NS_SASL)]
        assert 'PLAIN' in mechs, mechs
        assert f.find('{urn:ietf:params:xml:ns:xmpp-tls}starttls') is None
        cred = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode())
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, cred.decode()))
        ok = self.read()
        assert ok.tag == '{%s}success' % NS_SASL, R.dump(ok)
        f = self.open()
        assert f.find('{%s}bind' % NS_BIND) is not None
        self.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='%s'>"
                  "<resource>%s</resource></bind></iq>" % (NS_BIND, resource))
        r = self.read()
        assert r.tag == '{jabber:client}iq' and r.get('type') == 'result', R.dump(r)
        self.jid = r.find('{%s}bind/{%s}jid' % (NS_BIND, NS_BIND)).text
        return self.jid

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def ws_server(tls=False, **kw):
    return web_server(MODULES, tls, **kw)


def alice_bob(srv):
    return ('alice@localhost', srv.users['alice@localhost'])


# ---- tests ----

def test_ws_login_and_chat_with_a_tcp_client():
    with ws_server(tls=True) as srv:
        ws = WsClient(srv.http_port, tls=True)
        jid = ws.login('alice', srv.users['alice@localhost'])
        assert jid == 'alice@localhost/web'
        ws.send("<presence xmlns='jabber:client'/>")
        bob = R.client(srv, 'bob')
        bob.send("<message to='alice@localhost' type='chat'><body>hi web</body></message>")
        m = ws.read_until(lambda e: e.tag == '{jabber:client}message')
        assert m.findtext('{jabber:client}body') == 'hi web', R.dump(m)
        ws.send("<message xmlns='jabber:client' to='bob@localhost' type='chat'>"
                "<body>hi tcp</body></message>")
        got = bob.expect(R.is_message(body="hi tcp"))
        assert got.get('from') == 'alice@localhost/web'
        # A ping from the client is answered with its payload.
        ws.send_frame(9, b'p1')
        op, p = ws.read_frame()
        assert (op, p) == (10, b'p1')
        # <close/>: ours back, then the WebSocket closing handshake.
        ws.send("<close xmlns='%s'/>" % NS_FRAMING)
        c = ws.read()
        assert c.tag == '{%s}close' % NS_FRAMING, R.dump(c)
        assert ws.closed_with() == 1000
        ws.close()
        bob.close()


def test_ws_plain_http_needs_a_secure_front_end():
    with ws_server(server={'http_trusted_proxies': '127.0.0.1'}) as srv:
        # Plain ws:// straight from a client: refused, passwords stay safe.
        ws = WsClient(srv.http_port, expect=403)
        assert b'wss' in ws.body()
        ws.close()
        # A trusted front end that terminated TLS says so.
        ws = WsClient(srv.http_port, headers={'X-Forwarded-Proto': 'https',
                                              'X-Forwarded-For': '192.0.2.7'})
        assert ws.login('alice', srv.users['alice@localhost'])
        ws.close()
        assert srv.wait_log('client 192.0.2.7')
    with ws_server(extra_ini='[websocket]\nconsider_secure = true\n') as srv:
        ws = WsClient(srv.http_port)
        assert ws.login('bob', srv.users['bob@localhost'])
        ws.close()
    # Where encryption is not required, plain ws:// works, and STARTTLS
    # (never offered on a WebSocket) is refused rather than attempted.
    with ws_server(server={'c2s_require_encryption': 'false'}) as srv:
        ws = WsClient(srv.http_port)
        f = ws.open()
        assert f.find('{urn:ietf:params:xml:ns:xmpp-tls}starttls') is None
        ws.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        fail = ws.read()
        assert fail.tag == '{urn:ietf:params:xml:ns:xmpp-tls}failure', R.dump(fail)
        assert ws.read().tag == '{%s}close' % NS_FRAMING
        assert ws.closed_with() == 1000
        ws.close()


def test_ws_upgrade_refusals_with_status():
    extra = '[websocket]\norigins = https://web.example\n'
    with ws_server(tls=True, extra_ini=extra) as srv:
        cases = [
            ({'Upgrade': None}, 426),
            ({'Sec-WebSocket-Version': '8'}, 426),
            ({'Sec-WebSocket-Key': 'short'}, 400),
            ({'Sec-WebSocket-Key': None}, 400),
            ({'Sec-WebSocket-Protocol': 'chat'}, 400),
            ({'Sec-WebSocket-Protocol': None}, 400),
            ({'Origin': 'https://evil.example'}, 403),
        ]
        for hdrs, status in cases:
            ws = WsClient(srv.http_port, tls=True, headers=hdrs, expect=status)
            if status == 426 and 'Sec-WebSocket-Version' in hdrs:
                assert ws.headers.get('sec-websocket-version') == '13'
            ws.close()
        ws = WsClient(srv.http_port, tls=True, headers={'Origin': 'https://web.example'})
        assert ws.login('alice', srv.users['alice@localhost'])
        ws.close()
        # The endpoint is listed in host-meta.
        ws = WsClient(srv.http_port, tls=True, path='/.well-known/host-meta.json',
                      headers={'Upgrade': None, 'Connection': None}, expect=200)
        assert b'urn:xmpp:alt-connections:websocket' in ws.body()
        assert b'wss://localhost:%d/xmpp-websocket' % srv.http_port in ws.buf
        ws.close()


def test_ws_fragments_and_frame_errors():
    with ws_server(tls=True, limits={'max_stanza_size': 65536}) as srv:
        # A message in three fragments with a ping in between.
        ws = WsClient(srv.http_port, tls=True)
        ws.login('alice', srv.users['alice@localhost'])
        ws.send_frame(1, "<iq xmlns='jabber:client' type='get' id='p", fin=False)
        ws.send_frame(9, b'mid')
        ws.send_frame(0, "1'><ping xmlns='urn:xmpp:ping'/>", fin=False)
        ws.send_frame(0, "</iq>")
        assert ws.read_frame() == (10, b'mid')
        r = ws.read()
        assert r.get('id') == 'p1' and r.get('type') == 'result', R.dump(r)
        ws.close()

        def fails(code, *frames, login=True):
            ws = WsClient(srv.http_port, tls=True)
            if login:
                ws.login('alice', srv.users['alice@localhost'])
            for f in frames:
                ws.sock.sendall(f(ws))
            got = ws.closed_with()
            ws.close()
            assert got == code, (got, code)

        fails(1002, lambda w: w.frame(1, '<presence/>', mask=False))
        fails(1003, lambda w: w.frame(2, b'\0\1'))
        fails(1002, lambda w: w.frame(1, 'x', rsv=0x40))
        fails(1002, lambda w: w.frame(0, 'stray continuation'))
        fails(1002, lambda w: w.frame(9, b'x' * 126))
        fails(1002, lambda w: w.frame(1, '<a', fin=False) + w.frame(1, 'b/>'))
        fails(1009, lambda w: w.frame(1, 'x' * 80000)[:64])  # the header says too much
        fails(1002, lambda w: w.frame(8, b'\3'))

        # XMPP-level errors: a stream error, then <close/>, then close.
        def stream_err(msg, cond):
            ws = WsClient(srv.http_port, tls=True)
            ws.login('alice', srv.users['alice@localhost'])
            ws.send(msg)
            e = ws.read_until(lambda e: e.tag == '{%s}error' % NS_STREAM)
            assert e.find('{urn:ietf:params:xml:ns:xmpp-streams}' + cond) is not None, R.dump(e)
            c = ws.read()
            assert c.tag == '{%s}close' % NS_FRAMING
            assert ws.closed_with() == 1000
            ws.close()

        stream_err("<message xmlns='jabber:client' to='bob@localhost'><body>half",
                   'not-well-formed')
        stream_err("<open xmlns='urn:example' to='localhost' version='1.0'/>",
                   'invalid-namespace')
        # A client that closes the WebSocket without <close/> gets its
        # close frame answered.
        ws = WsClient(srv.http_port, tls=True)
        ws.login('bob', srv.users['bob@localhost'])
        ws.send_frame(8, struct.pack('!H', 1001))
        assert ws.closed_with() == 1000
        ws.close()
        # Wrong host in <open/>: host-unknown.
        ws = WsClient(srv.http_port, tls=True)
        ws.send("<open xmlns='%s' to='elsewhere.example' version='1.0'/>" % NS_FRAMING)
        ws.read()     # our <open/>
        e = ws.read()
        assert e.find('{urn:ietf:params:xml:ns:xmpp-streams}host-unknown') is not None, R.dump(e)
        ws.close()
        assert srv.alive()


def test_ws_session_resumed_over_tcp():
    """One stream logic: a browser's XEP-0198 session, cut off, is resumed
    by a TCP client with everything that arrived meanwhile."""
    extra = '[smacks]\nresume_timeout = 60\n'
    with ws_server(tls=True, server={'modules': MODULES + ', smacks'},
                   extra_ini=extra) as srv:
        ws = WsClient(srv.http_port, tls=True)
        ws.login('alice', srv.users['alice@localhost'], resource='tab')
        ws.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        en = ws.read()
        assert en.tag == '{urn:xmpp:sm:3}enabled' and en.get('id'), R.dump(en)
        ws.send("<presence xmlns='jabber:client'/>")
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        ws.close()
        assert srv.wait_log('session kept')
        bob = R.client(srv, 'bob')
        bob.send("<message to='alice@localhost/tab' type='chat'><body>while away</body></message>")
        bob.sync()
        r = R.Raw(srv.c2s_port)
        r.open()
        r.starttls()
        r.auth_plain('alice', srv.users['alice@localhost'])
        r.send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>" % en.get('id'))
        r.expect('{urn:xmpp:sm:3}resumed')
        r.expect(R.is_message(body='while away'))
        r.close()
        bob.close()


def _plain_auth(ws, user, pw):
    cred = base64.b64encode(b'\0' + user.encode() + b'\0' + pw.encode()).decode()
    ws.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, cred))
    return ws.read()


def test_ws_failed_login_budget_is_per_client_address():
    """auth_failures_per_ip counts the client behind a trusted front end
    (X-Forwarded-For) as for TCP streams; other clients of the same
    front end are not affected."""
    srv_kw = dict(server={'http_trusted_proxies': '127.0.0.1'},
                  limits={'auth_failures_per_ip': 2})
    with ws_server(**srv_kw) as srv:
        hdr = lambda ip: {'X-Forwarded-Proto': 'https', 'X-Forwarded-For': ip}
        for i in range(2):
            ws = WsClient(srv.http_port, headers=hdr('192.0.2.1'))
            ws.open()
            f = _plain_auth(ws, 'alice', 'wrong')
            assert f.tag == '{%s}failure' % NS_SASL, R.dump(f)
            ws.close()
        ws = WsClient(srv.http_port, headers=hdr('192.0.2.1'))
        ws.open()
        f = _plain_auth(ws, 'alice', srv.users['alice@localhost'])
        assert f.find('{%s}temporary-auth-failure' % NS_SASL) is not None, R.dump(f)
        ws.close()
        ws = WsClient(srv.http_port, headers=hdr('192.0.2.2'))
        assert ws.login('alice', srv.users['alice@localhost'])
        ws.close()


def test_ws_byte_rate_pauses_reading_and_loses_nothing():
    with ws_server(tls=True, limits={'max_bytes_per_second': 4096}) as srv:
        ws = WsClient(srv.http_port, tls=True)
        ws.login('alice', srv.users['alice@localhost'])
        bob = R.client(srv, 'bob')
        pad = 'y' * 1000
        t0 = time.monotonic()
        for i in range(12):          # about 13 KB: three seconds' worth
            ws.send("<message xmlns='jabber:client' to='bob@localhost' type='chat'>"
                    "<body>%d %s</body></message>" % (i, pad))
        got = [bob.expect(R.is_message(), timeout=15).findtext('{jabber:client}body').split()[0]
               for _ in range(12)]
        assert got == [str(i) for i in range(12)], got
        assert time.monotonic() - t0 >= 1.5, 'the byte rate was not applied'
        assert srv.wait_log('reading paused')
        ws.close()
        bob.close()


def test_ws_frames_in_the_same_packet_as_the_upgrade():
    """Bytes right behind the upgrade request belong to the WebSocket."""
    with ws_server(tls=True) as srv:
        s = socket.create_connection(('127.0.0.1', srv.http_port), timeout=5)
        s = R.tls_context().wrap_socket(s, server_hostname='localhost')
        key = base64.b64encode(os.urandom(16)).decode()
        w = WsClient.__new__(WsClient)
        w.sock, w.timeout, w.buf = s, 5, b''
        req = ('GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n'
               'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n'
               'Sec-WebSocket-Protocol: xmpp\r\n\r\n' % key).encode()
        s.sendall(req + w.frame(1, "<open xmlns='%s' to='localhost' version='1.0'/>"
                                % NS_FRAMING))
        st, _ = w._head()
        assert st == 101
        assert w.read().tag == '{%s}open' % NS_FRAMING
        assert w.read().tag == '{%s}features' % NS_STREAM
        w.close()


def test_ws_and_bosh_bad_settings_refused():
    for section, key, value in (('websocket', 'path', 'no-slash'),
                                ('websocket', 'path', '/a?b'),
                                ('websocket', 'consider_secure', 'maybe'),
                                ('websocket', 'external_url', 'https://x/ws'),
                                ('websocket', 'colour', 'blue'),
                                ('bosh', 'max_wait', '0'),
                                ('bosh', 'inactivity', '3601'),
                                ('bosh', 'external_url', 'wss://x/b'),
                                ('bosh', 'path', ''),
                                ('bosh', 'colour', 'blue')):
        srv = web_server(MODULES + ', bosh', start=False,
                         extra_ini='[%s]\n%s = %s\n' % (section, key, value))
        r = srv.cli('check', 'config')
        assert r.returncode == 2 and key in (r.stdout + r.stderr), \
            '[%s] %s = %s: %d %s%s' % (section, key, value, r.returncode, r.stdout, r.stderr)
        srv.cleanup()
