"""
TLS session resumption ([tls] session_cache): a client that offers the
session of its last connection gets it back (no key exchange, no
signature) on the c2s ports and the HTTPS port, across a reload; not when
the cache is off.  Python's ssl module says what happened:
SSLSocket.session_reused.
"""

import socket
import time

from lib import Server, free_port
from rawxmpp import DOMAIN, Raw, tls_context


class ResumingRaw(Raw):
    """A Raw connection whose TLS handshake offers a saved session."""

    def __init__(self, port, ctx, session=None, **kw):
        self._ctx = ctx
        self._session = session
        super().__init__(port, **kw)

    def wrap_tls(self):
        self.sock.settimeout(self.timeout)
        self.sock = self._ctx.wrap_socket(self.sock, server_hostname=DOMAIN,
                                          session=self._session)
        self.tls = True
        self._restart()


def login(srv, ctx, session, direct_tls=False):
    """Log alice in (STARTTLS, or direct TLS); (session, reused)."""
    if direct_tls:
        r = ResumingRaw(srv.tls_port, ctx, session, direct_tls=True, timeout=10)
        r.open()
        el = r.auth_plain('alice@localhost', srv.users['alice@localhost'])
        assert el.tag.endswith('success'), 'direct TLS login failed'
        r.bind()
    else:
        r = ResumingRaw(srv.c2s_port, ctx, session, timeout=10)
        r.login('alice@localhost', srv.users['alice@localhost'], presence=False)
    out = (r.sock.session, r.sock.session_reused)
    r.close()
    return out


def test_c2s_sessions_resumed_across_ports_and_reload():
    with Server(direct_tls=True) as srv:
        ctx = tls_context()
        s, reused = login(srv, ctx, None)
        assert not reused, 'a first connection cannot resume'
        s2, reused = login(srv, ctx, s)
        assert reused, 'the offered session was not resumed'
        assert s2.id == s.id
        # One cache for every c2s listener: direct TLS takes it too.
        _, reused = login(srv, ctx, s, direct_tls=True)
        assert reused, 'not resumed on the direct TLS port'
        # A reload with the same settings keeps the sessions.
        start = len(srv.log())
        srv.hup()
        assert srv.wait_log('configuration reloaded', timeout=10, start=start)
        _, reused = login(srv, ctx, s)
        assert reused, 'sessions lost on a reload that changed nothing'
        # Another cipher list forgets them.
        srv.tls_cfg['ciphers'] = 'ECDHE-ECDSA-AES256-GCM-SHA384'
        srv.write_config()
        start = len(srv.log())
        srv.hup()
        assert srv.wait_log('configuration reloaded', timeout=10, start=start)
        s3, reused = login(srv, ctx, s)
        assert not reused, 'a session resumed after the cipher list changed'
        _, reused = login(srv, ctx, s3)
        assert reused


def test_no_resumption_with_session_cache_0():
    with Server(tls={'session_cache': '0'}) as srv:
        ctx = tls_context()
        s, _ = login(srv, ctx, None)
        _, reused = login(srv, ctx, s)
        assert not reused, 'resumed with session_cache = 0'


def test_https_sessions_resumed():
    port = free_port()
    with Server(server={'https_ports': port}):
        ctx = tls_context()
        session = None
        for i in range(2):
            s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=10),
                                server_hostname=DOMAIN, session=session)
            s.sendall(b'GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n'
                      b'Connection: close\r\n\r\n')
            data = b''
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b'HTTP/1.1 200'), data[:100]
            assert s.session_reused == (i == 1), 'round %d: reused %s' % (i, s.session_reused)
            session = s.session
            s.close()
