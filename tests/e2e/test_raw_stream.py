"""
Raw-XML tests of stream setup and teardown (RFC 6120 sections 4 and 5):
headers, features before and after TLS and SASL, stream restarts, closing,
shutdown, whitespace keepalives, direct TLS, STARTTLS command injection,
stalled handshakes and the per-IP connection limits.
"""

import socket
import time

from lib import Server
from rawxmpp import (
    C, DOMAIN, FEATURES, NS_BIND, NS_CLIENT, NS_ROSTERVER, NS_SASL, NS_SESSION, NS_STREAM,
    NS_TLS, Failures, Raw, STREAM_ERROR, StreamClosed, client, client_hello_bytes, dump,
    is_message, is_presence, ProtocolError, q, stream_error_condition, stream_header,
)

SCRAM_AND_PLAIN = {'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'}


def _children(el):
    return [c.tag for c in el]


def _check_server_header(r, what):
    h = r.header
    assert h is not None, '%s: no server stream header' % what
    assert h.get('from') == DOMAIN, '%s: header from=%r, expected %r' % (what, h.get('from'), DOMAIN)
    assert h.get('id'), '%s: header without an id: %r' % (what, h)
    assert h.get('version') == '1.0', '%s: header version=%r' % (what, h.get('version'))
    assert r.header_ns.get('') == NS_CLIENT, (
        '%s: default namespace of the server header is %r' % (what, r.header_ns.get('')))
    assert r.header_ns.get('stream') == NS_STREAM, (
        '%s: stream prefix bound to %r' % (what, r.header_ns.get('stream')))


def _mechanisms(features):
    m = features.find(q(NS_SASL, 'mechanisms'))
    assert m is not None, 'no <mechanisms/> in %s' % dump(features)
    return [x.text for x in m.findall(q(NS_SASL, 'mechanism'))]


def test_features_before_tls_only_required_starttls():
    with Server() as srv:
        r = Raw(srv.c2s_port)
        f = r.open()
        _check_server_header(r, 'initial stream')
        # Exactly one feature: <starttls><required/></starttls>.
        assert _children(f) == [q(NS_TLS, 'starttls')], 'pre-TLS features: %s' % dump(f)
        st = f.find(q(NS_TLS, 'starttls'))
        assert _children(st) == [q(NS_TLS, 'required')], 'starttls content: %s' % dump(st)
        first_id = r.header['id']
        r.finish()

        # Without an XML declaration, and with an explicit UTF-8 one, the
        # same; every stream gets its own id.
        ids = {first_id}
        for decl in ('', "<?xml version='1.0' encoding='UTF-8'?>",
                     '<?xml version="1.0" encoding="utf-8"?>'):
            r = Raw(srv.c2s_port)
            r.send(decl + stream_header(decl=False))
            f = r.read_features()
            _check_server_header(r, 'declaration %r' % decl)
            assert _children(f) == [q(NS_TLS, 'starttls')], dump(f)
            assert r.header['id'] not in ids, 'stream id %r repeated' % r.header['id']
            ids.add(r.header['id'])
            r.finish()

        # Domain names compare case-insensitively.
        r = Raw(srv.c2s_port)
        f = r.open(to='LocalHost')
        assert _children(f) == [q(NS_TLS, 'starttls')], dump(f)
        r.finish()


def test_features_after_tls_and_after_sasl():
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.open()
        id0 = r.header['id']
        f = r.starttls()
        _check_server_header(r, 'stream after TLS')
        id1 = r.header['id']
        assert id1 != id0, 'stream id not renewed after TLS (RFC 6120 4.3.2)'
        # No STARTTLS once TLS is on; SASL with SCRAM and PLAIN.
        assert f.find(q(NS_TLS, 'starttls')) is None, 'starttls offered over TLS: %s' % dump(f)
        mechs = _mechanisms(f)
        assert SCRAM_AND_PLAIN <= set(mechs), 'mechanisms %r' % mechs
        others = [m for m in mechs if m not in SCRAM_AND_PLAIN and not m.endswith('-PLUS')]
        assert not others, 'unexpected mechanisms %r' % others
        assert len(mechs) == len(set(mechs)), 'duplicate mechanisms %r' % mechs

        el = r.auth_plain('alice', 'alice-pw')
        assert el.tag == q(NS_SASL, 'success'), dump(el)
        f = r.features
        _check_server_header(r, 'stream after SASL')
        assert r.header['id'] not in (id0, id1), 'stream id not renewed after SASL'
        assert f.find(q(NS_SASL, 'mechanisms')) is None, 'mechanisms after SASL: %s' % dump(f)
        assert f.find(q(NS_TLS, 'starttls')) is None, dump(f)
        assert f.find(q(NS_BIND, 'bind')) is not None, 'no <bind/>: %s' % dump(f)
        sess = f.find(q(NS_SESSION, 'session'))
        assert sess is not None, 'no <session/>: %s' % dump(f)
        assert sess.find(q(NS_SESSION, 'optional')) is not None, 'session not optional: %s' % dump(f)
        assert f.find(q(NS_ROSTERVER, 'ver')) is not None, 'no roster versioning: %s' % dump(f)
        jid = r.bind('laptop')
        assert jid == 'alice@localhost/laptop', jid
        # The legacy session request is still answered (it is advertised).
        s = r.iq("<iq type='set'><session xmlns='%s'/></iq>" % NS_SESSION)
        assert s.get('type') == 'result', dump(s)
        r.sync()


def test_header_wrong_stream_namespace():
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.send(stream_header(stream_ns='http://etherx.jabber.org/streams/wrong'))
        r.expect_stream_error('invalid-namespace')


def test_header_wrong_content_namespace():
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.send(stream_header(xmlns='urn:example:not-jabber-client'))
        r.expect_stream_error('invalid-namespace')


def test_header_unknown_host():
    with Server() as srv:
        fails = Failures()

        def case(to):
            r = Raw(srv.c2s_port)
            r.send(stream_header(to=to))
            r.expect_stream_error('host-unknown')
            # The error comes on a stream whose header does not claim to be
            # a host we do not serve.
            assert r.header.get('from') in (None, DOMAIN, to), r.header

        fails.run('unknown domain', case, 'example.org')
        fails.run('subdomain', case, 'sub.localhost')
        fails.run('a JID with localpart', case, 'alice@localhost')
        fails.raise_if_any()
        # The server is still fine.
        client(srv, 'alice').sync()


def test_header_without_version():
    """RFC 6120 4.7.5: no version means a pre-1.0 peer: the response header
    carries the lower version (so no version="1.0") and no stream features,
    or the server refuses with <unsupported-version/>."""
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.send(stream_header(version=None))
        try:
            el = r.next(timeout=2)
        except TimeoutError:
            el = None
        if el is not None and el.tag == STREAM_ERROR:
            r.queue.insert(0, el)
            r.expect_stream_error('unsupported-version')
            return
        assert r.header is not None, 'no response header'
        assert r.header.get('version') != '1.0', (
            'version 1.0 announced to a client that did not send a version: %r' % r.header)
        assert el is None or el.tag != FEATURES, (
            'stream features sent on a pre-1.0 stream: %s' % dump(el))


def test_header_higher_version():
    """A client offering a higher minor version gets the server's (lower)
    version, and the stream goes on."""
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.send(stream_header(version='1.7'))
        f = r.read_features()
        assert r.header.get('version') == '1.0', r.header
        assert f.find(q(NS_TLS, 'starttls')) is not None, dump(f)


def test_header_unsupported_encoding():
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.send("<?xml version='1.0' encoding='ISO-8859-1'?>" + stream_header(decl=False))
        r.expect_stream_error('unsupported-encoding')


def test_whitespace_keepalives():
    with Server() as srv:
        bob = client(srv, 'bob', 'b')
        r = Raw(srv.c2s_port)
        # Before the header (then no XML declaration: it must come first).
        r.send('\n  \n')
        r.send(stream_header(decl=False) + '\n \t \r\n')
        r.read_features()
        r.send(' \n ')                      # between header and STARTTLS
        r.starttls()
        r.send('\n' * 3)
        el = r.auth_plain('alice', 'alice-pw')
        assert el.tag == q(NS_SASL, 'success'), dump(el)
        r.send('   ')
        r.bind('a')
        r.send('<presence/>')
        for _ in range(50):
            r.send(' ')
        r.send(' ' * 10000)
        r.send("\n<message to='bob@localhost/b' type='chat'>\n <body>ka</body>\n</message>\n  ")
        m = bob.expect(is_message(body='ka'))
        assert m.get('from') == 'alice@localhost/a', dump(m)
        r.sync()
        assert not r.eof, 'server closed a stream that only sent whitespace keepalives'


def test_client_closes_stream():
    """RFC 6120 4.4: the server answers </stream:stream> with its own close
    tag and closes the TCP connection; contacts see the session go
    unavailable."""
    with Server() as srv:
        # Before authentication.
        r = Raw(srv.c2s_port)
        r.open()
        r.stream_close()
        assert r.closed(), 'connection not closed after </stream:stream>'
        assert r.stream_ended, 'no </stream:stream> from the server'
        assert not [e for e in r.queue if e.tag == STREAM_ERROR], [dump(e) for e in r.queue]

        # A logged-in session whose contact is subscribed.
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        bob.send("<presence to='alice@localhost' type='subscribe'/>")
        alice.expect(is_presence('bob@localhost', 'subscribe'))
        alice.send("<presence to='bob@localhost' type='subscribed'/>")
        bob.expect(is_presence('alice@localhost/a'))
        alice.stream_close()
        assert alice.closed(), 'logged-in connection not closed after </stream:stream>'
        assert alice.stream_ended, 'no </stream:stream> for the logged-in session'
        bob.expect(is_presence('alice@localhost/a', 'unavailable'))


def test_shutdown_closes_every_stream():
    """TERM: every stream gets <system-shutdown/> and </stream:stream>, the
    server exits 0 within 5 s."""
    srv = Server()
    with srv:
        alice = client(srv, 'alice', 'a')
        plain = Raw(srv.c2s_port)
        plain.open()
        tls = Raw(srv.c2s_port)
        tls.open()
        tls.starttls()
        t0 = time.monotonic()
        rc = srv.stop(timeout=10)
        dt = time.monotonic() - t0
        assert rc == 0, 'exit status %r after TERM' % rc
        assert dt < 5.0, 'took %.1f s to exit after TERM' % dt
        for name, r in (('logged-in', alice), ('pre-TLS', plain), ('TLS, pre-SASL', tls)):
            try:
                r.expect_stream_error('system-shutdown', timeout=3, skip_stanzas=True)
            except AssertionError as e:
                raise AssertionError('%s stream: %s' % (name, e)) from None


def test_direct_tls_port():
    """XEP-0368: TLS from the first byte; no STARTTLS offered, SASL at once."""
    with Server(direct_tls=True) as srv:
        r = Raw(srv.tls_port, direct_tls=True)
        f = r.open()
        _check_server_header(r, 'direct TLS stream')
        assert f.find(q(NS_TLS, 'starttls')) is None, dump(f)
        assert SCRAM_AND_PLAIN <= set(_mechanisms(f)), dump(f)
        el = r.auth_plain('alice', 'alice-pw')
        assert el.tag == q(NS_SASL, 'success'), dump(el)
        assert r.bind('dt') == 'alice@localhost/dt'
        bob = client(srv, 'bob', 'b')
        r.message('bob@localhost/b', 'over direct tls')
        m = bob.expect(is_message(body='over direct tls'))
        assert m.get('from') == 'alice@localhost/dt', dump(m)
        # Plain XML on the direct-TLS port is not XMPP: the connection ends
        # (no parse of plaintext as a stream).
        p = Raw(srv.tls_port)
        p.detach_parser()           # a TLS alert may come back: not XML
        p.send(stream_header())
        assert p.closed(timeout=5), 'plaintext stream accepted on the direct TLS port'
        assert not p.trailing.lstrip().startswith(b'<'), (
            'server spoke plaintext XMPP on the direct TLS port: %r' % p.trailing[:200])


def test_starttls_command_injection():
    """CVE-2011-0411 style: bytes sent in the same packet after <starttls/>
    must never be processed as if they came through TLS."""
    with Server() as srv:
        bob = client(srv, 'bob', 'b')
        r = Raw(srv.c2s_port)
        r.open()
        inj = ("<iq type='get' id='injected1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
               "<message to='bob@localhost/b' type='chat' id='injected2'><body>injected</body>"
               "</message>")
        r.send("<starttls xmlns='%s'/>%s" % (NS_TLS, inj))
        try:
            el = r.next()
        except ProtocolError as e:
            raise AssertionError('plaintext XML after <proceed/> (the injected data was '
                                 'processed?): %s' % e) from None
        if el.tag in (STREAM_ERROR, q(NS_TLS, 'failure')):
            # Refusing the whole packet is fine, as long as the stream ends
            # (RFC 6120 5.4.2.2: <failure/>, then close) and the injected
            # stanzas were not answered in the clear either.
            assert r.closed(), 'connection not closed after %s' % dump(el)
            assert not r.queue, 'more after the refusal: %s' % [dump(e) for e in r.queue]
        else:
            assert el.tag == q(NS_TLS, 'proceed'), dump(el)
            handshake_ok = True
            try:
                r.wrap_tls()
            except (OSError, ValueError):
                handshake_ok = False      # the server treated the bytes as TLS: fine
            if handshake_ok:
                try:
                    r.send_header()
                    f = r.read_features()
                    assert f.find(q(NS_SASL, 'mechanisms')) is not None, dump(f)
                    el = r.auth_plain('alice', 'alice-pw')
                    assert el.tag == q(NS_SASL, 'success'), dump(el)
                    r.bind('x')
                    r.sync()
                    bad = [e for e in r.queue if e.get('id') in ('injected1', 'injected2')]
                    assert not bad, 'injected stanza processed in the TLS stream: %s' % (
                        [dump(e) for e in bad])
                except StreamClosed:
                    pass      # closing the connection is an acceptable answer too
        # Bob never sees the injected message.
        bob.assert_nothing(is_message(body='injected'), what='no injected message')
        # And the server is still fine.
        client(srv, 'carol').sync()


def _wait_eof_raw(sock, deadline):
    """Read and drop bytes until EOF; True on EOF, False at the deadline."""
    while True:
        rem = deadline - time.monotonic()
        if rem <= 0:
            return False
        sock.settimeout(rem)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            return True
        if not d:
            return True


def _poll_closed(r):
    """Non-blocking-ish: has the server closed r yet?"""
    if r.eof:
        return True
    try:
        r._read_some(time.monotonic() + 0.005)
    except TimeoutError:
        pass
    return r.eof


def test_stalled_handshakes_cut_after_auth_timeout():
    """auth_timeout=2: connections stuck before the end of TLS/SASL/bind are
    cut off after about 2 s, while logged-in users keep chatting with round
    trips under 1 s and are not cut off."""
    with Server(limits={'auth_timeout': 2, 'max_unauth_per_ip': 16,
                        'max_connections_per_ip': 32}) as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')

        stuck = {}
        t0 = time.monotonic()
        # TCP only, not a byte sent.
        stuck['silent TCP'] = Raw(srv.c2s_port)
        # Stream opened, no STARTTLS.
        r = Raw(srv.c2s_port)
        r.open()
        stuck['no STARTTLS'] = r
        # <proceed/> and then nothing: a half-open TLS handshake.
        r = Raw(srv.c2s_port)
        r.open()
        r.send("<starttls xmlns='%s'/>" % NS_TLS)
        assert r.next().tag == q(NS_TLS, 'proceed')
        r.detach_parser()
        stuck['after proceed'] = r
        # Half a ClientHello.
        r = Raw(srv.c2s_port)
        r.open()
        r.send("<starttls xmlns='%s'/>" % NS_TLS)
        assert r.next().tag == q(NS_TLS, 'proceed')
        r.detach_parser()
        hello = client_hello_bytes()
        r.send(hello[:len(hello) // 2])
        stuck['partial ClientHello'] = r
        # TLS done, no SASL.
        r = Raw(srv.c2s_port)
        r.open()
        r.starttls()
        stuck['no SASL'] = r
        # SASL done, no bind.
        r = Raw(srv.c2s_port)
        r.open()
        r.starttls()
        assert r.auth_plain('carol', 'carol-pw').tag == q(NS_SASL, 'success')
        stuck['no bind'] = r
        setup = time.monotonic() - t0

        closed_at = {}
        worst = 0.0
        n = 0
        while time.monotonic() - t0 < 5.0:
            a = time.monotonic()
            alice.message('bob@localhost/b', 'ping %d' % n)
            bob.expect(is_message(body='ping %d' % n), timeout=1.0)
            bob.message('alice@localhost/a', 'pong %d' % n)
            alice.expect(is_message(body='pong %d' % n), timeout=1.0)
            rt = time.monotonic() - a
            worst = max(worst, rt)
            n += 1
            for name, r in stuck.items():
                if name not in closed_at and _poll_closed(r):
                    closed_at[name] = time.monotonic() - t0
            time.sleep(0.05)
        assert worst < 1.0, 'worst message round trip %.2f s' % worst

        fails = Failures()
        for name, r in stuck.items():
            def check(name=name, r=r):
                if name not in closed_at:
                    if r.closed(timeout=1.5):
                        closed_at[name] = time.monotonic() - t0
                assert name in closed_at, 'still open %.1f s after it started' % (
                    time.monotonic() - t0)
                # Created at most `setup` seconds after t0.
                assert closed_at[name] >= 1.5, 'closed after %.2f s, before auth_timeout' % (
                    closed_at[name])
                assert closed_at[name] <= 4.5 + setup, 'closed only after %.2f s' % closed_at[name]
                if name in ('no STARTTLS', 'no SASL', 'no bind'):
                    errs = [e for e in r.queue if e.tag == STREAM_ERROR]
                    assert errs and stream_error_condition(errs[0]) == 'connection-timeout', (
                        'expected <connection-timeout/>, got %s' % [dump(e) for e in r.queue])
                elif name == 'silent TCP':
                    errs = [e for e in r.queue if e.tag == STREAM_ERROR]
                    assert not errs or stream_error_condition(errs[0]) == 'connection-timeout', (
                        [dump(e) for e in errs])
            fails.run(name, check)
        fails.raise_if_any()

        # The logged-in sessions outlived auth_timeout.
        alice.message('bob@localhost/b', 'still here')
        bob.expect(is_message(body='still here'), timeout=1.0)
        assert not alice.eof and not bob.eof


def test_per_ip_connection_limit():
    with Server(limits={'max_connections_per_ip': 4, 'max_unauth_per_ip': 4}) as srv:
        conns = [Raw(srv.c2s_port) for _ in range(4)]
        for r in conns:
            r.open()
        extra = Raw(srv.c2s_port)
        t0 = time.monotonic()
        extra.expect_closed_or_stream_error('policy-violation', timeout=2)
        assert time.monotonic() - t0 < 1.5, 'fifth connection not closed at once'
        # One that sends its header at once is refused too.
        extra = Raw(srv.c2s_port)
        extra.send(stream_header())
        extra.expect_closed_or_stream_error('policy-violation', timeout=2)
        # Another address is not affected (all of 127/8 is loopback).
        other = Raw(srv.c2s_port, source='127.0.0.2')
        f = other.open()
        assert f.tag == FEATURES, dump(f)
        # The first four are unharmed.
        for r in conns:
            r.send(' ')
            assert not r.closed(timeout=0.1), 'an allowed connection was closed'
        conns[0].starttls()
        el = conns[0].auth_plain('alice', 'alice-pw')
        assert el.tag == q(NS_SASL, 'success'), dump(el)
        conns[0].bind('one')
        conns[0].sync()
        # Closing one frees a slot.
        conns[3].stream_close()
        assert conns[3].closed()
        time.sleep(0.2)
        again = Raw(srv.c2s_port)
        f = again.open()
        assert f.tag == FEATURES


def test_unauthenticated_per_ip_limit():
    with Server(limits={'max_unauth_per_ip': 2, 'max_connections_per_ip': 16}) as srv:
        u1 = Raw(srv.c2s_port)
        u1.open()
        u2 = Raw(srv.c2s_port)
        u2.open()
        u3 = Raw(srv.c2s_port)
        u3.expect_closed_or_stream_error('policy-violation', timeout=2)
        assert not u1.closed(timeout=0.1) and not u2.closed(timeout=0.1)
        # Free a slot, log in there: an authenticated session no longer
        # counts, so another unauthenticated connection fits.
        u2.stream_close()
        assert u2.closed()
        time.sleep(0.2)
        alice = client(srv, 'alice', 'a')
        u4 = Raw(srv.c2s_port)
        f = u4.open()
        assert f.tag == FEATURES
        u5 = Raw(srv.c2s_port)
        u5.expect_closed_or_stream_error('policy-violation', timeout=2)
        alice.sync()


test_stalled_handshakes_cut_after_auth_timeout.timeout = 90


def test_idle_sessions_are_pinged_and_dead_ones_dropped():
    """idle_timeout=10, ping_timeout=5: a silent session gets an XEP-0199
    ping from the server; one that answers stays, one that does not is
    closed about ping_timeout later."""
    with Server(limits={'idle_timeout': 10, 'ping_timeout': 5}) as srv:
        alive = client(srv, 'alice', 'a')
        dead = client(srv, 'bob', 'b')
        t0 = time.monotonic()

        def is_server_ping(e):
            return (e.tag == C('iq') and e.get('type') == 'get'
                    and e.find('{urn:xmpp:ping}ping') is not None)

        p = alive.expect(is_server_ping, timeout=20, what='a ping from the server')
        dt = time.monotonic() - t0
        assert 8 <= dt <= 16, 'pinged after %.1f s (idle_timeout 10)' % dt
        assert p.get('from') in (None, 'localhost'), dump(p)
        alive.send("<iq type='result' id='%s'%s/>"
                   % (p.get('id'), " to='%s'" % p.get('from') if p.get('from') else ''))
        dead.expect(is_server_ping, timeout=20, what='a ping from the server')
        assert dead.closed(timeout=15), 'unanswered ping: session not dropped'
        dt = time.monotonic() - t0
        assert dt >= 13, 'dropped after %.1f s, before idle_timeout + ping_timeout' % dt
        errs = [e for e in dead.queue if e.tag == STREAM_ERROR]
        assert not errs or stream_error_condition(errs[0]) == 'connection-timeout', (
            [dump(e) for e in errs])
        # The one that answered is still served.
        alive.sync()
        assert not alive.eof


test_idle_sessions_are_pinged_and_dead_ones_dropped.timeout = 90
