"""
Raw-XML tests of authentication and resource binding (RFC 6120 sections 6
and 7): SASL before TLS, PLAIN and SCRAM failures, the attempt limit,
stanzas before authentication or binding, generated resources, resource
conflicts and the per-account session limit.
"""

import base64

from lib import Server
from rawxmpp import (
    NS_SASL, NS_TLS, Failures, Raw, StreamClosed, client, dump, is_message, is_presence,
    local_name, q, stanza_error,
)

SUCCESS = q(NS_SASL, 'success')
FAILURE = q(NS_SASL, 'failure')


def _failure_condition(el):
    assert el.tag == FAILURE, 'expected a SASL <failure/>, got %s' % dump(el)
    conds = [local_name(c.tag) for c in el if local_name(c.tag) != 'text']
    assert len(conds) == 1, 'SASL failure with conditions %r: %s' % (conds, dump(el))
    return conds[0]


def _tls_stream(srv):
    r = Raw(srv.c2s_port)
    r.open()
    r.starttls()
    return r


def test_auth_before_tls_is_refused():
    """TLS is required: SASL before STARTTLS gets <encryption-required/>
    and the stream stays usable; PLAIN is never accepted in the clear."""
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.open()
        r.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
               % (NS_SASL, Raw.plain_payload('alice', 'alice-pw')))
        el = r.next()
        assert _failure_condition(el) == 'encryption-required', dump(el)
        # SCRAM in the clear too.
        r.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>"
               % (NS_SASL, base64.b64encode(b'n,,n=alice,r=abcdefghijklmnop').decode()))
        el = r.next()
        assert _failure_condition(el) == 'encryption-required', dump(el)
        # Still open: STARTTLS and a normal login on the same connection.
        r.starttls()
        el = r.auth_plain('alice', 'alice-pw')
        assert el.tag == SUCCESS, dump(el)
        assert r.bind('x') == 'alice@localhost/x'
        r.sync()


def test_plain_wrong_credentials():
    with Server() as srv:
        r = _tls_stream(srv)
        fails = Failures()

        def bad(user, pw):
            el = r.auth_plain(user, pw)
            assert _failure_condition(el) == 'not-authorized', dump(el)

        fails.run('wrong password', bad, 'alice', 'wrong')
        # An unknown account looks exactly the same (no account probing).
        fails.run('unknown user', bad, 'nobody', 'alice-pw')
        fails.run('empty password', bad, 'alice', '')
        fails.raise_if_any()
        # Three failures are below the limit of 5: the right password works.
        el = r.auth_plain('alice', 'alice-pw')
        assert el.tag == SUCCESS, dump(el)
        assert r.bind('x') == 'alice@localhost/x'


def test_auth_attempts_limit():
    """auth_attempts=3: three failures, then <policy-violation/>."""
    with Server(limits={'auth_attempts': 3}) as srv:
        r = _tls_stream(srv)
        for i in range(3):
            el = r.auth_plain('alice', 'wrong-%d' % i)
            assert _failure_condition(el) == 'not-authorized', 'attempt %d: %s' % (i + 1, dump(el))
        r.expect_stream_error('policy-violation')
        # Another connection can still log in.
        client(srv, 'alice').sync()


def test_sasl_protocol_errors():
    with Server() as srv:
        fails = Failures()

        def case(payload_xml, conditions):
            r = _tls_stream(srv)
            try:
                r.send(payload_xml)
                el = r.next()
                got = _failure_condition(el)
                assert got in conditions, 'condition %r, expected %s' % (
                    got, '|'.join(conditions))
                # The stream is still open and usable.
                el = r.auth_plain('alice', 'alice-pw')
                assert el.tag == SUCCESS, 'login after the failure: %s' % dump(el)
            finally:
                r.finish()

        fails.run('unknown mechanism', case,
                  "<auth xmlns='%s' mechanism='X-UNKNOWN'>AA==</auth>" % NS_SASL,
                  ('invalid-mechanism',))
        fails.run('bad base64', case,
                  "<auth xmlns='%s' mechanism='PLAIN'>!!not*base64!!</auth>" % NS_SASL,
                  ('incorrect-encoding',))
        fails.run('PLAIN without NUL separators', case,
                  "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                  % (NS_SASL, base64.b64encode(b'alicealice-pw').decode()),
                  ('malformed-request', 'not-authorized'))
        fails.run('authzid of another user', case,
                  "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                  % (NS_SASL, Raw.plain_payload('alice', 'alice-pw', 'bob@localhost')),
                  ('invalid-authzid',))
        fails.raise_if_any()

        # An authzid naming the user itself is fine.
        r = _tls_stream(srv)
        el = r.auth_plain('alice', 'alice-pw', authzid='alice@localhost')
        assert el.tag == SUCCESS, dump(el)
        assert r.bind('z') == 'alice@localhost/z'
        # The bound JID is alice's, whatever the authzid said.
        r.sync()


def test_scram_exchanges():
    with Server() as srv:
        fails = Failures()

        def good(mech):
            r = _tls_stream(srv)
            el = r.auth_scram('alice', 'alice-pw', mech=mech)
            assert el.tag == SUCCESS, dump(el)
            assert r.bind('s') == 'alice@localhost/s'
            r.sync()
            r.finish()

        def bad(mech, pw, tamper=None, conditions=('not-authorized',)):
            r = _tls_stream(srv)
            try:
                el = r.auth_scram('alice', pw, mech=mech, tamper_final=tamper)
                assert el.tag != SUCCESS, 'SCRAM succeeded: %s' % dump(el)
                got = _failure_condition(el)
                assert got in conditions, 'condition %r, expected %s' % (got, conditions)
            finally:
                r.finish()

        def flip_proof(final):
            head, proof = final.rsplit(',p=', 1)
            raw = bytearray(base64.b64decode(proof))
            raw[0] ^= 1
            return head + ',p=' + base64.b64encode(bytes(raw)).decode()

        def other_nonce(final):
            return final.replace(',r=', ',r=X', 1)

        fails.run('SCRAM-SHA-256', good, 'SCRAM-SHA-256')
        fails.run('SCRAM-SHA-1', good, 'SCRAM-SHA-1')
        fails.run('SCRAM-SHA-256 wrong password', bad, 'SCRAM-SHA-256', 'nope')
        fails.run('SCRAM-SHA-1 wrong password', bad, 'SCRAM-SHA-1', 'nope')
        fails.run('SCRAM tampered proof', bad, 'SCRAM-SHA-256', 'alice-pw', flip_proof)
        fails.run('SCRAM foreign nonce', bad, 'SCRAM-SHA-256', 'alice-pw', other_nonce,
                  ('not-authorized', 'malformed-request'))
        fails.run('SCRAM unknown user', lambda: _scram_unknown(srv))
        fails.run('SCRAM abort', lambda: _scram_abort(srv))
        fails.raise_if_any()


def _scram_unknown(srv):
    r = _tls_stream(srv)
    el = r.auth_scram('nobody', 'pw')
    assert el.tag != SUCCESS, dump(el)
    assert _failure_condition(el) == 'not-authorized', dump(el)
    r.finish()


def _scram_abort(srv):
    r = _tls_stream(srv)
    r.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>"
           % (NS_SASL, base64.b64encode(b'n,,n=alice,r=0123456789abcdef').decode()))
    ch = r.next()
    assert ch.tag == q(NS_SASL, 'challenge'), dump(ch)
    r.send("<abort xmlns='%s'/>" % NS_SASL)
    el = r.next()
    assert _failure_condition(el) == 'aborted', dump(el)
    el = r.auth_plain('alice', 'alice-pw')
    assert el.tag == SUCCESS, 'login after abort: %s' % dump(el)


def test_stanzas_before_authentication():
    """RFC 6120 4.9.3.12: stanzas before the stream is authenticated end
    it with <not-authorized/>; nothing is delivered."""
    with Server() as srv:
        bob = client(srv, 'bob', 'b')
        fails = Failures()

        def case(tls, stanza):
            r = Raw(srv.c2s_port)
            r.open()
            if tls:
                r.starttls()
            r.send(stanza)
            r.expect_stream_error('not-authorized')

        msg = "<message to='bob@localhost/b' type='chat'><body>sneaky</body></message>"
        fails.run('message before TLS', case, False, msg)
        fails.run('presence before TLS', case, False, "<presence/>")
        fails.run('iq before TLS', case, False,
                  "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        fails.run('message after TLS', case, True, msg)
        fails.run('iq after TLS', case, True,
                  "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
        fails.run('presence after TLS', case, True, "<presence to='bob@localhost'/>")
        fails.run('bind after TLS', case, True,
                  "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>early</resource></bind></iq>")
        fails.raise_if_any()
        bob.assert_nothing(what='nothing from unauthenticated streams')


def test_stanza_before_bind():
    with Server() as srv:
        bob = client(srv, 'bob', 'b')
        r = Raw(srv.c2s_port)
        r.open()
        r.starttls()
        assert r.auth_plain('alice', 'alice-pw').tag == SUCCESS
        r.send("<message to='bob@localhost/b' type='chat'><body>unbound</body></message>")
        r.expect_stream_error('not-authorized')
        bob.assert_nothing(is_message(), what='no message from an unbound stream')


def test_bind_generated_and_requested_resources():
    with Server() as srv:
        a1 = Raw(srv.c2s_port)
        j1 = a1.login('alice', 'alice-pw', presence=False)
        a2 = Raw(srv.c2s_port)
        j2 = a2.login('alice', 'alice-pw', presence=False)
        for j in (j1, j2):
            assert j.startswith('alice@localhost/') and len(j) > len('alice@localhost/'), j
        assert j1 != j2, 'two sessions got the same generated resource %r' % j1
        a3 = Raw(srv.c2s_port)
        assert a3.login('alice', 'alice-pw', resource='phone', presence=False) == \
            'alice@localhost/phone'
        # Each session is reachable at its own full JID.
        bob = client(srv, 'bob', 'b')
        for r, j in ((a1, j1), (a2, j2), (a3, 'alice@localhost/phone')):
            bob.message(j, 'to ' + j, type='chat')
            m = r.expect(is_message(body='to ' + j))
            assert m.get('to') == j, dump(m)
        for r in (a1, a2, a3):
            r.assert_nothing(is_message(), what='no message meant for another resource')


def test_bind_bad_resource():
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.open()
        r.starttls()
        assert r.auth_plain('alice', 'alice-pw').tag == SUCCESS
        reply = r.bind_iq('x' * 1100)
        assert reply.get('type') == 'error', dump(reply)
        assert stanza_error(reply) == ('modify', 'bad-request'), dump(reply)
        # The stream is still there and binding properly works.
        assert r.bind('ok') == 'alice@localhost/ok'
        r.sync()


def test_bind_resource_conflict():
    """The same resource again: the old session gets <conflict/>, the new
    one takes over the full JID."""
    with Server() as srv:
        old = client(srv, 'alice', 'desk')
        new = Raw(srv.c2s_port)
        assert new.login('alice', 'alice-pw', resource='desk') == 'alice@localhost/desk'
        old.expect_stream_error('conflict', skip_stanzas=True)
        bob = client(srv, 'bob', 'b')
        bob.message('alice@localhost/desk', 'who is desk?')
        m = new.expect(is_message(body='who is desk?'))
        assert m.get('from') == 'bob@localhost/b', dump(m)
        new.sync()


def test_bind_max_resources():
    with Server(limits={'max_resources': 2}) as srv:
        s1 = client(srv, 'alice', 'one')
        s2 = client(srv, 'alice', 'two')
        s3 = Raw(srv.c2s_port)
        s3.open()
        s3.starttls()
        assert s3.auth_plain('alice', 'alice-pw').tag == SUCCESS
        reply = s3.bind_iq('three')
        assert reply.get('type') == 'error', 'third session bound: %s' % dump(reply)
        # The contract says type 'cancel' (XEP-0205 style); RFC 6120 7.6.2.1
        # shows 'wait' (8.3.3.18: SHOULD be wait).  The condition is what
        # matters.
        t, c = stanza_error(reply)
        assert c == 'resource-constraint' and t in ('cancel', 'wait'), dump(reply)
        # The existing sessions were not touched.
        s1.sync()
        s2.sync()
        # Other accounts are not limited by alice's sessions.
        client(srv, 'bob', 'b').sync()
        # When one leaves, the waiting stream can bind.
        s1.stream_close()
        assert s1.closed()
        s2.sync()
        assert s3.bind('three') == 'alice@localhost/three'
        s3.sync()


def test_no_second_authentication_or_tls():
    """Once authenticated, neither SASL nor STARTTLS can be run again (no
    switching to another account on an authenticated stream)."""
    with Server() as srv:
        fails = Failures()

        def again(data, label):
            r = _tls_stream(srv)
            assert r.auth_plain('alice', 'alice-pw').tag == SUCCESS
            r.send(data)
            try:
                el = r.next(timeout=3)
            except StreamClosed:
                return
            assert el.tag not in (SUCCESS, q(NS_TLS, 'proceed')), (
                '%s accepted on an authenticated stream: %s' % (label, dump(el)))
            if el.tag in ('{http://etherx.jabber.org/streams}error', q(NS_TLS, 'failure')):
                # RFC 6120 5.4.2.2: a TLS <failure/> closes the stream.
                assert r.closed(), '%s without closing the connection' % dump(el)
                return
            # Refused with a SASL failure: the stream is still alice's.
            assert el.tag == FAILURE, dump(el)
            assert r.bind('still') == 'alice@localhost/still'
            r.finish()

        fails.run('second PLAIN as bob', again,
                  "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                  % (NS_SASL, Raw.plain_payload('bob', 'bob-pw')), 'PLAIN')
        fails.run('STARTTLS again', again, "<starttls xmlns='%s'/>" % NS_TLS, 'STARTTLS')
        fails.raise_if_any()


def test_second_bind_on_a_stream():
    with Server() as srv:
        r = client(srv, 'alice', 'first')
        reply = r.bind_iq('second')
        assert reply.get('type') == 'error', 'a second resource bound on one stream: %s' % dump(
            reply)
        bob = client(srv, 'bob', 'b')
        bob.message('alice@localhost/first', 'still first')
        r.expect(is_message(body='still first'))
        r2 = client(srv, 'alice', 'second')     # the name was not taken
        r2.sync()


def test_odd_sasl_requests():
    with Server() as srv:
        fails = Failures()

        def case(data, conditions):
            r = _tls_stream(srv)
            try:
                r.send(data)
                el = r.next()
                assert el.tag != SUCCESS, dump(el)
                got = _failure_condition(el)
                assert got in conditions, 'condition %r, expected %s' % (got, conditions)
            finally:
                r.finish()

        fails.run('no mechanism attribute', case, "<auth xmlns='%s'>AA==</auth>" % NS_SASL,
                  ('invalid-mechanism',))
        fails.run('10 KB of base64', case,
                  "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                  % (NS_SASL, base64.b64encode(b'\0alice\0' + b'x' * 7500).decode()),
                  ('not-authorized', 'malformed-request'))
        fails.run('response without exchange', case,
                  "<response xmlns='%s'>AA==</response>" % NS_SASL,
                  ('malformed-request', 'not-authorized', 'aborted'))
        fails.raise_if_any()


def test_plain_zero_length_initial_response():
    """RFC 6120 6.4.2: "=" is an initial response that is present but
    empty (not an absent one, which would earn an empty challenge).  An
    empty PLAIN message has no authcid and no password: a failure."""
    with Server() as srv:
        r = _tls_stream(srv)
        r.send("<auth xmlns='%s' mechanism='PLAIN'>=</auth>" % NS_SASL)
        el = r.next()
        assert el.tag != SUCCESS, dump(el)
        got = _failure_condition(el)
        assert got in ('malformed-request', 'not-authorized'), got


def test_failed_logins_per_address():
    """auth_failures_per_ip=3 (failures per minute and address): after three
    wrong passwords, even the right one is refused from that address with
    <temporary-auth-failure/>; another address is not affected."""
    with Server(limits={'auth_failures_per_ip': 3}) as srv:
        for i in range(3):
            r = _tls_stream(srv)
            el = r.auth_plain('alice', 'wrong-%d' % i)
            assert _failure_condition(el) == 'not-authorized', dump(el)
            r.finish()
        r = _tls_stream(srv)
        el = r.auth_plain('alice', 'alice-pw')
        assert el.tag != SUCCESS, 'login allowed after the per-address failure limit'
        assert _failure_condition(el) == 'temporary-auth-failure', dump(el)
        r.finish()
        other = Raw(srv.c2s_port, source='127.0.0.2')
        assert other.login('alice', 'alice-pw', resource='elsewhere') == \
            'alice@localhost/elsewhere'


def test_conflict_replacement_is_visible_to_contacts():
    """The replaced session ends like any other: its contacts get its
    unavailable presence, then the new session's available presence."""
    with Server() as srv:
        bob = client(srv, 'bob', 'b', roster=True)
        old = client(srv, 'alice', 'desk', roster=True)
        bob.send("<presence to='alice@localhost' type='subscribe'/>")
        old.expect(lambda e: e.tag == '{jabber:client}presence' and e.get('type') == 'subscribe')
        old.send("<presence to='bob@localhost' type='subscribed'/>")
        bob.expect(is_presence('alice@localhost/desk'))
        bob.sync()
        bob.take_all(is_presence('alice@localhost', any_type=True))

        new = Raw(srv.c2s_port)
        new.login('alice', 'alice-pw', resource='desk', presence=False)
        old.expect_stream_error('conflict', skip_stanzas=True)
        bob.expect(is_presence('alice@localhost/desk', 'unavailable'),
                   what='unavailable presence of the replaced session')
        new.send('<presence><status>new</status></presence>')
        p = bob.expect(is_presence('alice@localhost/desk'))
        assert p.findtext('{jabber:client}status') == 'new', dump(p)
