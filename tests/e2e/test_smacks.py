"""
XEP-0198 stream management: enable, acks both ways, h counting, resumption
on a new connection after the old one was cut mid-conversation (nothing
lost, nothing duplicated), a handled count that is too high, and a session
that is never resumed (its unacknowledged messages go to offline storage).
"""

import socket
import time

from lib import Server
from rawxmpp import Raw, C, client

NS_SM = 'urn:xmpp:sm:3'
SM = lambda n: '{%s}%s' % (NS_SM, n)


def _is_msg(body):
    return lambda e: e.tag == C('message') and e.findtext(C('body')) == body


def _server(**kw):
    server = {'modules': 'roster, ping, offline, smacks'}
    return Server(server=server, extra_ini='[smacks]\nresume_timeout = %d\n'
                  % kw.pop('resume_timeout', 60), **kw)


def _login(srv, user, res):
    r = Raw(srv.c2s_port)
    r.open()
    r.starttls()
    assert r.auth_plain(user, user + '-pw').tag.endswith('success')
    assert r.features.find(SM('sm')) is not None, 'no <sm/> feature'
    r.bind(res)
    return r


def _enable(r, resume=True):
    r.send("<enable xmlns='%s' resume='%s'/>" % (NS_SM, 'true' if resume else 'false'))
    e = r.expect(SM('enabled'))
    return e


def _cut(r):
    """Drop the TCP connection without a goodbye (a phone losing its network)."""
    try:
        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
    except OSError:
        pass
    r.sock.close()


def test_enable_and_acks():
    with _server() as srv:
        r = _login(srv, 'alice', 'a')
        e = _enable(r)
        assert e.get('resume') == 'true' and e.get('id'), e.attrib
        assert int(e.get('max')) == 60
        # The server counts what it handled: 3 stanzas -> h=3.
        r.send('<presence/>')
        r.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        r.send("<message to='bob@localhost' type='chat'><body>x</body></message>")
        r.send("<r xmlns='%s'/>" % NS_SM)
        a = r.expect(SM('a'))
        assert a.get('h') == '3', a.attrib
        r.take_all()
        # Acking what we received is accepted; acking more is a stream error.
        r.send("<a xmlns='%s' h='1'/>" % NS_SM)
        r.send("<a xmlns='%s' h='4000000000'/>" % NS_SM)
        r.expect_stream_error('undefined-condition')


def test_enable_needs_bind_and_twice_fails():
    with _server() as srv:
        r = Raw(srv.c2s_port)
        r.open()
        r.starttls()
        r.auth_plain('alice', 'alice-pw')
        r.send("<enable xmlns='%s'/>" % NS_SM)
        f = r.expect(SM('failed'))
        assert f.find('{urn:ietf:params:xml:ns:xmpp-stanzas}unexpected-request') is not None
        r.bind('a')
        _enable(r)
        r.send("<enable xmlns='%s'/>" % NS_SM)
        r.expect(SM('failed'))


def test_resume_after_cut_nothing_lost_nothing_duplicated():
    with _server() as srv:
        bob = client(srv, 'bob', 'b')
        r = _login(srv, 'alice', 'phone')
        sid = _enable(r).get('id')
        r.send('<presence/>')
        for i in range(3):
            bob.send("<message to='alice@localhost/phone' type='chat'><body>m%d</body></message>" % i)
            r.expect(_is_msg('m%d' % i))
        # Alice acknowledges what she has seen so far, then loses her network.
        r.send("<r xmlns='%s'/>" % NS_SM)
        r.expect(SM('a'))
        r.take_all()
        got_before = 0
        r.send("<a xmlns='%s' h='%d'/>" % (NS_SM, 0))
        _cut(r)
        time.sleep(0.3)
        # Messages sent while she is away wait in the hibernating session.
        for i in range(3, 6):
            bob.send("<message to='alice@localhost/phone' type='chat'><body>m%d</body></message>" % i)
        bob.sync()
        assert 'session kept' in srv.log(), srv.log_tail()
        # She comes back on a new connection and resumes: she had acked
        # nothing (h=0), so she gets the presence echo, m0..m5 again.
        r2 = Raw(srv.c2s_port)
        r2.open()
        r2.starttls()
        r2.auth_plain('alice', 'alice-pw')
        r2.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, sid, got_before))
        res = r2.expect(SM('resumed'))
        assert res.get('previd') == sid
        bodies = []
        deadline = time.time() + 5
        while time.time() < deadline and len(bodies) < 6:
            e = r2.next(timeout=5)
            if e.tag == C('message'):
                bodies.append(e.findtext(C('body')))
        assert bodies == ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'], bodies
        # The resumed session is the same resource, still bound.
        bob.send("<message to='alice@localhost/phone' type='chat'><body>after</body></message>")
        r2.expect(_is_msg('after'))
        # Acking everything leaves nothing to resend.
        r2.send("<r xmlns='%s'/>" % NS_SM)
        r2.expect(SM('a'))


def test_resume_with_acked_part_resends_only_the_rest():
    with _server() as srv:
        bob = client(srv, 'bob', 'b')
        r = _login(srv, 'alice', 'phone')
        sid = _enable(r).get('id')
        for i in range(4):
            bob.send("<message to='alice@localhost/phone' type='chat'><body>k%d</body></message>" % i)
            r.expect(_is_msg('k%d' % i))
        _cut(r)
        time.sleep(0.3)
        r2 = Raw(srv.c2s_port)
        r2.open()
        r2.starttls()
        r2.auth_plain('alice', 'alice-pw')
        r2.send("<resume xmlns='%s' previd='%s' h='2'/>" % (NS_SM, sid))
        r2.expect(SM('resumed'))
        b = [r2.expect(lambda e: e.tag == C('message')).findtext(C('body')) for _ in range(2)]
        assert b == ['k2', 'k3'], b
        r2.assert_nothing(lambda e: e.tag == C('message'))


def test_resume_unknown_id_and_foreign_user():
    with _server() as srv:
        r = _login(srv, 'alice', 'phone')
        sid = _enable(r).get('id')
        _cut(r)
        time.sleep(0.3)
        for user, previd in (('alice', 'nonexistent'), ('bob', sid)):
            r2 = Raw(srv.c2s_port)
            r2.open()
            r2.starttls()
            r2.auth_plain(user, user + '-pw')
            r2.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, previd))
            f = r2.expect(SM('failed'))
            assert f.find('{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found') is not None
            # A failed resume leaves the stream usable: bind works.
            assert r2.bind('new-' + user).endswith('/new-' + user)


def test_never_resumed_messages_go_offline():
    with _server(resume_timeout=1) as srv:
        bob = client(srv, 'bob', 'b')
        r = _login(srv, 'alice', 'phone')
        _enable(r)
        r.send('<presence/>')
        r.sync()
        _cut(r)
        time.sleep(0.3)
        bob.send("<message to='alice@localhost/phone' type='chat'><body>kept</body></message>")
        bob.sync()
        time.sleep(2.5)     # resume_timeout passes; tick ends the session
        assert 'not resumed in time' in srv.log(), srv.log_tail()
        a2 = client(srv, 'alice', 'desk')
        m = a2.expect(_is_msg('kept'), timeout=5)
        assert m.find('{urn:xmpp:delay}delay') is not None


def test_without_smacks_module():
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.open()
        r.starttls()
        r.auth_plain('alice', 'alice-pw')
        assert r.features.find(SM('sm')) is None
        r.bind('a')
        r.send("<enable xmlns='%s'/>" % NS_SM)
        f = r.expect(SM('failed'))
        assert f.find('{urn:ietf:params:xml:ns:xmpp-stanzas}feature-not-implemented') is not None
