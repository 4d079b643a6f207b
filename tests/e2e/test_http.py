"""
The HTTP server (http.c) on http_ports and https_ports, spoken to with raw
bytes: host-meta (XEP-0156) per Host, keep-alive and pipelining, every
malformed request shape with its exact status code (and the connection
closed after it), path traversal and encoding tricks, slow clients cut off
at their deadlines, X-Forwarded-For only from trusted proxies, HTTPS, and
a shutdown that does not wait for idle keep-alive connections.

The small client here (Http, Resp) is used by test_mod_upload.py too.
"""

import json
import select
import socket
import threading
import time
import xml.etree.ElementTree as ET

import rawxmpp as R
from lib import Server, free_port, web_server

XRD_NS = 'http://docs.oasis-open.org/ns/xri/xrd-1.0'


# ---- a raw HTTP/1.1 client ----

class Resp:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # [(name lower-case, value)]
        self.body = body

    def h(self, name):
        """The value of the first header named so, or None."""
        for n, v in self.headers:
            if n == name.lower():
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def __repr__(self):
        return '<%d %s %s %r>' % (self.status, self.reason, self.headers, self.body[:200])


class Http:
    """One connection; responses are read with a deadline."""

    def __init__(self, port, tls=False, timeout=5, source=None):
        self.timeout = timeout
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source is not None:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(('127.0.0.1', port))
        if tls:
            s = R.tls_context().wrap_socket(s, server_hostname='localhost')
        self.sock = s
        self.buf = b''
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.sock.sendall(data)

    def _more(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError('no complete response; have %r' % self.buf[:300])
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError('no complete response; have %r' % self.buf[:300]) from None
        except (ConnectionResetError, OSError):
            d = b''
        if not d:
            self.eof = True
        self.buf += d
        return d

    def response(self, head=False, timeout=None, skip_continue=True):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while b'\r\n\r\n' not in self.buf:
                if not self._more(deadline):
                    raise ConnectionError('connection closed; got %r' % self.buf[:300])
            top, self.buf = self.buf.split(b'\r\n\r\n', 1)
            lines = top.decode('latin-1').split('\r\n')
            ver, status, reason = (lines[0].split(' ', 2) + [''])[:3]
            assert ver == 'HTTP/1.1', 'status line %r' % lines[0]
            headers = []
            for ln in lines[1:]:
                n, v = ln.split(':', 1)
                headers.append((n.strip().lower(), v.strip()))
            status = int(status)
            if status == 100 and skip_continue:
                continue
            break
        r = Resp(status, reason, headers, b'')
        n = 0 if head or status in (204, 304) or status < 200 else int(r.h('content-length') or 0)
        while len(self.buf) < n:
            if not self._more(deadline):
                raise ConnectionError('body cut short: %d of %d' % (len(self.buf), n))
        r.body, self.buf = self.buf[:n], self.buf[n:]
        return r

    def request(self, method, path, headers=None, body=b'', host='localhost', version='1.1'):
        hs = [] if host is None else [('Host', host)]
        hs += list((headers or {}).items())
        if body and not any(k.lower() == 'content-length' for k, _ in hs):
            hs.append(('Content-Length', str(len(body))))
        text = '%s %s HTTP/%s\r\n' % (method, path, version)
        text += ''.join('%s: %s\r\n' % kv for kv in hs) + '\r\n'
        if isinstance(body, str):
            body = body.encode('utf-8')
        self.send(text.encode('utf-8') + body)
        return self.response(head=(method == 'HEAD'))

    def closed(self, timeout=5):
        """True once the server has closed the connection (within timeout)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            try:
                self._more(deadline)
            except TimeoutError:
                return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_server(**kw):
    """A Server with one plain HTTP port (srv.http_port)."""
    return web_server(**kw)


def one_shot(port, raw, what, tls=False):
    """Send raw bytes on a fresh connection; the response, after which the
    server must close the connection."""
    c = Http(port, tls=tls)
    try:
        c.send(raw)
        r = c.response()
        assert c.closed(5), '%s: connection left open after %d' % (what, r.status)
        return r
    finally:
        c.close()


# ---- host-meta ----

def test_host_meta_xrd_and_json_per_host():
    with http_server(hosts=('localhost', 'example.test')) as srv:
        c = Http(srv.http_port)
        r = c.request('GET', '/.well-known/host-meta')
        assert r.status == 200, r
        assert r.h('content-type') == 'application/xrd+xml', r
        assert r.h('access-control-allow-origin') == '*', r
        root = ET.fromstring(r.body)
        assert root.tag == '{%s}XRD' % XRD_NS, r.body
        assert list(root) == [], 'no BOSH or WebSocket yet, so no links: %r' % r.body
        assert int(r.h('content-length')) == len(r.body)
        r = c.request('GET', '/.well-known/host-meta.json', host='EXAMPLE.test:5280')
        assert r.status == 200 and r.h('content-type') == 'application/json', r
        assert json.loads(r.body) == {'links': []}, r.body
        # HEAD: the same headers, no body.
        r = c.request('HEAD', '/.well-known/host-meta.json')
        assert r.status == 200 and r.h('content-length') == '13' and r.body == b'', r
        after = c.request('GET', '/.well-known/host-meta.json')
        assert after.body == b'{"links":[]}\n', 'HEAD left a body behind: %r' % after
        # Another host's name: nothing to say.
        r = c.request('GET', '/.well-known/host-meta', host='elsewhere.test')
        assert r.status == 404 and r.body == b'404 Not Found\n', r
        # CORS preflight and methods.
        r = c.request('OPTIONS', '/.well-known/host-meta')
        assert r.status == 204 and r.h('access-control-allow-methods') == 'GET, HEAD, OPTIONS', r
        r = c.request('POST', '/.well-known/host-meta', body=b'x=1')
        assert r.status == 405 and r.h('allow') == 'GET, HEAD, OPTIONS', r
        # Still the same connection after all of that.
        r = c.request('GET', '/.well-known/host-meta')
        assert r.status == 200, r
        c.close()


def test_keep_alive_pipelining_and_connection_close():
    with http_server() as srv:
        c = Http(srv.http_port)
        # Three requests in one write: three answers, in order.
        c.send(b'GET /.well-known/host-meta.json HTTP/1.1\r\nHost: localhost\r\n\r\n'
               b'GET /nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n'
               b'HEAD /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n\r\n')
        r1 = c.response()
        r2 = c.response()
        r3 = c.response(head=True)
        assert (r1.status, r2.status, r3.status) == (200, 404, 200), (r1, r2, r3)
        assert r1.body == b'{"links":[]}\n' and r3.body == b''
        assert r1.h('connection') is None, 'HTTP/1.1 keeps the connection: %r' % r1
        r = c.request('GET', '/.well-known/host-meta', headers={'Connection': 'close'})
        assert r.status == 200 and r.h('connection') == 'close', r
        assert c.closed(), 'Connection: close did not close'
        c.close()
        # HTTP/1.0: closes unless asked to keep the connection.
        c = Http(srv.http_port)
        r = c.request('GET', '/.well-known/host-meta', version='1.0')
        assert r.status == 200 and r.h('connection') == 'close', r
        assert c.closed()
        c.close()
        c = Http(srv.http_port)
        r = c.request('GET', '/.well-known/host-meta', version='1.0',
                      headers={'Connection': 'keep-alive'})
        assert r.status == 200 and r.h('connection') == 'keep-alive', r
        r = c.request('GET', '/.well-known/host-meta', version='1.0',
                      headers={'Connection': 'keep-alive'})
        assert r.status == 200, r
        c.close()
        # Empty lines before a request are tolerated (RFC 9112 2.2).
        c = Http(srv.http_port)
        c.send(b'\r\n\r\nGET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n\r\n')
        assert c.response().status == 200
        # OPTIONS * asks about the server.
        c.send(b'OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n')
        r = c.response()
        assert r.status == 204 and r.h('allow') == 'GET, HEAD, PUT, OPTIONS', r
        # A body for a path nobody serves is read and dropped; the
        # connection goes on.
        r = c.request('PUT', '/nowhere', body=b'z' * 5000)
        assert r.status == 404, r
        assert c.request('GET', '/.well-known/host-meta').status == 200
        c.close()


BAD = [
    # (what, bytes, status)
    ('no Host in HTTP/1.1', b'GET / HTTP/1.1\r\n\r\n', 400),
    ('two Host headers', b'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400),
    ('bad Host', b'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400),
    ('Host with a path', b'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400),
    ('HTTP/2.0', b'GET / HTTP/2.0\r\nHost: localhost\r\n\r\n', 505),
    ('HTTP/0.9 style', b'GET /\r\n\r\n', 400),
    ('lower-case version', b'GET / http/1.1\r\nHost: localhost\r\n\r\n', 400),
    ('extra field in the request line', b'GET / HTTP/1.1 x\r\nHost: l\r\n\r\n', 400),
    ('two spaces', b'GET  / HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('unknown method', b'BREW /pot HTTP/1.1\r\nHost: localhost\r\n\r\n', 501),
    ('lower-case method', b'get / HTTP/1.1\r\nHost: localhost\r\n\r\n', 501),
    ('CONNECT', b'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', 501),
    ('bad method token', b'G(T / HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('chunked body', b'PUT /x HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n', 411),
    ('gzip transfer coding', b'PUT /x HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: gzip\r\n\r\n', 501),
    ('Transfer-Encoding and Content-Length',
     b'PUT /x HTTP/1.1\r\nHost: l\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400),
    ('Content-Length abc', b'PUT /x HTTP/1.1\r\nHost: l\r\nContent-Length: abc\r\n\r\n', 400),
    ('Content-Length -1', b'PUT /x HTTP/1.1\r\nHost: l\r\nContent-Length: -1\r\n\r\n', 400),
    ('Content-Length list', b'PUT /x HTTP/1.1\r\nHost: l\r\nContent-Length: 1, 1\r\n\r\n', 400),
    ('empty Content-Length', b'PUT /x HTTP/1.1\r\nHost: l\r\nContent-Length:\r\n\r\n', 400),
    ('Content-Length +5', b'PUT /x HTTP/1.1\r\nHost: l\r\nContent-Length: +5\r\n\r\n', 400),
    ('two different lengths',
     b'PUT /x HTTP/1.1\r\nHost: l\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400),
    ('absurd Content-Length',
     b'PUT /x HTTP/1.1\r\nHost: l\r\nContent-Length: 99999999999999999999999\r\n\r\n', 413),
    ('header without colon', b'GET / HTTP/1.1\r\nHost: l\r\nBroken\r\n\r\n', 400),
    ('space in a header name', b'GET / HTTP/1.1\r\nHost: l\r\nX Y: 1\r\n\r\n', 400),
    ('space before the colon', b'GET / HTTP/1.1\r\nHost : l\r\n\r\n', 400),
    ('folded header', b'GET / HTTP/1.1\r\nHost: l\r\nX-A: 1\r\n  more\r\n\r\n', 400),
    ('NUL in a value', b'GET / HTTP/1.1\r\nHost: l\r\nX-A: a\x00b\r\n\r\n', 400),
    ('bare CR', b'GET / HTTP/1.1\r\nHost: l\rX-A: 1\r\n\r\n', 400),
    ('control character in a value', b'GET / HTTP/1.1\r\nHost: l\r\nX-A: \x01\r\n\r\n', 400),
    ('unknown expectation', b'PUT /x HTTP/1.1\r\nHost: l\r\nContent-Length: 1\r\nExpect: tea\r\n\r\n', 417),
    ('request line over 8 KiB', b'GET /' + b'a' * 8200 + b' HTTP/1.1\r\nHost: l\r\n\r\n', 414),
    ('8 KiB without a space', b'x' * 9000 + b'\r\n\r\n', 400),
    ('headers over 16 KiB',
     b'GET / HTTP/1.1\r\nHost: l\r\n' + b''.join(b'X-%d: %s\r\n' % (i, b'v' * 1000) for i in range(17)) + b'\r\n', 431),
    ('65 headers',
     b'GET / HTTP/1.1\r\nHost: l\r\n' + b''.join(b'X-%d: 1\r\n' % i for i in range(64)) + b'\r\n', 431),
    ('too many empty lines first', b'\r\n' * 5 + b'GET / HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('asterisk for GET', b'GET * HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('relative target', b'GET index.html HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('fragment in the target', b'GET /a#b HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('non-ASCII in the target', b'GET /\xc3\xa9 HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('ftp URL', b'GET ftp://l/x HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    # Paths: no way out of where a handler serves from.
    ('dot-dot', b'GET /upload/../etc/passwd HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('encoded dot-dot', b'GET /upload/%2e%2e/x HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('mixed dot-dot', b'GET /upload/.%2E/x HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('trailing dot-dot', b'GET /upload/.. HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('encoded slash', b'GET /upload/a%2fb HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('encoded backslash', b'GET /upload/a%5cb HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('backslash', b'GET /upload\\..\\x HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('encoded NUL', b'GET /a%00b HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('encoded newline', b'GET /a%0ab HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('bad escape', b'GET /a%zz HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('cut escape', b'GET /a% HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('invalid UTF-8 escapes', b'GET /a%ff%fe HTTP/1.1\r\nHost: l\r\n\r\n', 400),
    ('overlong UTF-8 slash', b'GET /a%c0%afb HTTP/1.1\r\nHost: l\r\n\r\n', 400),
]


def test_malformed_requests_exact_status_and_close():
    with http_server() as srv:
        fails = R.Failures()
        for what, raw, status in BAD:
            def case(raw=raw, status=status, what=what):
                r = one_shot(srv.http_port, raw, what)
                assert r.status == status, '%s: %d, expected %d' % (what, r.status, status)
                assert r.h('connection') == 'close', '%s: no Connection: close' % what
                assert r.body.startswith(b'%d ' % status), '%s: body %r' % (what, r.body)
            fails.run(what, case)
        fails.raise_if_any()
        # The server is still fine.
        c = Http(srv.http_port)
        assert c.request('GET', '/.well-known/host-meta').status == 200
        c.close()
        log = srv.log()
        assert 'http - - -> 400' in log, 'parse errors are logged'


def test_paths_that_normalise():
    """Dot segments and empty segments collapse; absolute-form targets name
    the host; nothing of it leaves the served tree."""
    with http_server() as srv:
        c = Http(srv.http_port)
        for path in ('/.well-known/./host-meta', '//.well-known//host-meta',
                     '/.well-known/host%2Dmeta', '/%2E%77ell-known/host-meta',
                     '/.well-known/host-meta?x=1&y=/../'):
            r = c.request('GET', path)
            assert r.status == 200 and r.h('content-type') == 'application/xrd+xml', (path, r)
        r = c.request('GET', 'http://localhost/.well-known/host-meta', host='other.test')
        assert r.status == 200, 'absolute-form: its authority is the host: %r' % r
        r = c.request('GET', 'http://other.test/.well-known/host-meta', host='localhost')
        assert r.status == 404, r
        r = c.request('GET', '/.well-known/host-meta/')
        assert r.status == 404, 'a trailing slash is another path: %r' % r
        c.close()


def test_slow_clients_cut_off():
    """Header deadline 10 s from the first byte (a connection that sends
    nothing, and one that sends a byte a second), body progress 20 s,
    idle keep-alive 30 s."""
    with http_server() as srv:
        results = {}

        def silent():
            c = Http(srv.http_port, timeout=40)
            t0 = time.monotonic()
            r = c.response(timeout=20)
            results['silent'] = (r.status, time.monotonic() - t0, c.closed(3))

        def slowloris():
            c = Http(srv.http_port, timeout=40)
            t0 = time.monotonic()
            c.send(b'GET / HTTP/1.1\r\nHost: localhost\r\n')
            for ch in b'X-Slow: ' + b'a' * 20:
                ready, _, _ = select.select([c.sock], [], [], 1.0)
                if ready:
                    break
                try:
                    c.send(bytes([ch]))
                except OSError:
                    break
            r = c.response(timeout=20)
            results['slowloris'] = (r.status, time.monotonic() - t0, c.closed(3))

        def body_stall():
            c = Http(srv.http_port, timeout=40)
            c.send(b'PUT /nowhere HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\nabc')
            r = c.response()
            t0 = time.monotonic()
            results['body'] = (r.status, c.closed(30), time.monotonic() - t0)

        def idle():
            c = Http(srv.http_port, timeout=40)
            r = c.request('GET', '/.well-known/host-meta')
            t0 = time.monotonic()
            closed = c.closed(40)
            results['idle'] = (r.status, closed, time.monotonic() - t0, c.buf)

        threads = [threading.Thread(target=f) for f in (silent, slowloris, body_stall, idle)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(50)
        st, dt, closed = results['silent']
        assert st == 408 and 9 <= dt <= 13 and closed, results['silent']
        st, dt, closed = results['slowloris']
        assert st == 408 and 9 <= dt <= 13 and closed, results['slowloris']
        st, closed, dt = results['body']
        assert st == 404 and closed and 18 <= dt <= 24, results['body']
        st, closed, dt, extra = results['idle']
        assert st == 200 and closed and 28 <= dt <= 34 and extra == b'', \
            'idle keep-alive: closed quietly after 30 s: %r' % (results['idle'],)


test_slow_clients_cut_off.timeout = 60


def test_x_forwarded_for_only_from_trusted_proxies():
    with http_server(server={'http_trusted_proxies': '127.0.0.1'}) as srv:
        c = Http(srv.http_port)
        start = len(srv.log())
        c.request('GET', '/.well-known/host-meta?a',
                  headers={'X-Forwarded-For': '198.51.100.7, 203.0.113.9'})
        c.request('GET', '/.well-known/host-meta?b',
                  headers={'X-Forwarded-For': '203.0.113.9, 127.0.0.1'})
        c.request('GET', '/.well-known/host-meta?c',
                  headers={'X-Forwarded-For': 'not-an-address'})
        c.request('GET', '/.well-known/host-meta?d',
                  headers={'X-Forwarded-For': '2001:db8::1'})
        c.close()
        # From 127.0.0.2 (not trusted) the header is the client's word only.
        d = Http(srv.http_port, source='127.0.0.2')
        d.request('GET', '/.well-known/host-meta?e',
                  headers={'X-Forwarded-For': '203.0.113.9'})
        d.close()
        # Each line is written before its response leaves.
        clients = [line.rsplit(' client ', 1)[1] for line in srv.log()[start:].splitlines()
                   if 'http GET /.well-known/host-meta -> 200' in line]
        # The query is not in the logged path; the order is the order sent.
        assert clients == ['203.0.113.9', '203.0.113.9', '127.0.0.1', '2001:db8::1',
                           '127.0.0.2'], clients


def test_https_port_and_plain_bytes_on_it():
    port = free_port()
    with Server(server={'https_ports': port}):
        c = Http(port, tls=True)
        r = c.request('GET', '/.well-known/host-meta.json')
        assert r.status == 200 and json.loads(r.body) == {'links': []}, r
        r = c.request('GET', '/.well-known/host-meta.json')
        assert r.status == 200, 'keep-alive over TLS: %r' % r
        c.close()
        # Plain HTTP on the TLS port: no answer, the connection closes.
        p = Http(port)
        p.send(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
        assert p.closed(5), 'plain text on an HTTPS port left open'
        assert not p.buf.startswith(b'HTTP/'), p.buf[:100]
        p.close()


def test_shutdown_does_not_wait_for_idle_connections():
    srv = http_server(limits={'shutdown_timeout': 20})
    with srv:
        idle = [Http(srv.http_port) for _ in range(3)]
        for c in idle:
            assert c.request('GET', '/.well-known/host-meta').status == 200
        fresh = Http(srv.http_port)     # connected, nothing sent
        t0 = time.monotonic()
        srv.stop()
        took = time.monotonic() - t0
        assert took < 5, 'TERM took %.1f s with idle HTTP connections' % took
        for c in idle + [fresh]:
            assert c.closed(2)
            c.close()
