"""
Every bound in [limits], crossed on purpose.  Each test checks the exact
reaction the contract names (stream error, stanza error, close, delay) and
that two other users, alice and bob, keep chatting while it happens: a
limit must hurt the one who crosses it and nobody else.

Per-address limits need other addresses than alice's and bob's: the whole
of 127.0.0.0/8 is loopback on Linux, so the offender's sockets are bound to
127.0.0.2, 127.0.0.3, ... before they connect to the server on 127.0.0.1.
"""

import socket
import time

from lib import DEFAULT_USERS, Server
from rawxmpp import (
    NS_ROSTER, NS_SASL, C, Raw, StreamClosed, client, dump, is_message,
    is_presence, local_name, q, stanza_error,
)

ALICE = 'alice@localhost/a'
BOB = 'bob@localhost/b'
SUCCESS = q(NS_SASL, 'success')
FAILURE = q(NS_SASL, 'failure')

_tags = iter(range(1, 1 << 30))


def raw_from(srv, ip, **kw):
    """A Raw connection to srv whose source address is ip."""
    r = Raw(srv.c2s_port, connect=False, **kw)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((ip, 0))
    s.settimeout(r.timeout)
    s.connect(('127.0.0.1', srv.c2s_port))
    r.sock = s
    return r


def pair(srv):
    """alice/a and bob/b, logged in and available."""
    return client(srv, 'alice', 'a'), client(srv, 'bob', 'b')


def chat(a, b, a_jid=ALICE, b_jid=BOB, timeout=3.0):
    """One message each way between a and b; returns the round trip time."""
    n = next(_tags)
    t = time.monotonic()
    a.message(b_jid, 'ping %d' % n)
    b.expect(is_message(body='ping %d' % n, frm=a_jid), timeout=timeout)
    b.message(a_jid, 'pong %d' % n)
    a.expect(is_message(body='pong %d' % n, frm=b_jid), timeout=timeout)
    return time.monotonic() - t


def sasl_condition(el):
    assert el.tag == FAILURE, 'expected a SASL <failure/>, got %s' % dump(el)
    conds = [local_name(c.tag) for c in el if local_name(c.tag) != 'text']
    assert len(conds) == 1, 'SASL failure with conditions %r: %s' % (conds, dump(el))
    return conds[0]


def assert_silent(r, secs, what):
    """Nothing at all arrives on r for secs seconds and it stays open."""
    try:
        el = r.next(timeout=secs)
    except TimeoutError:
        assert not r.eof, 'conn %d: closed while %s' % (r.cid, what)
        return
    raise AssertionError('conn %d: got %s while %s' % (r.cid, dump(el), what))


def assert_refused(r, cond='policy-violation', timeout=3.0):
    """The server closed r at once: a plain close, or a stream error cond;
    never a stream the client could use."""
    got = r.expect_closed_or_stream_error(cond, timeout=timeout)
    assert got in (None, cond), got
    assert r.header is None or got == cond, (
        'conn %d: the server opened a stream (%r) on a refused connection'
        % (r.cid, r.header))


# ---- stanza sizes ----

def test_max_stanza_size_after_auth():
    """max_stanza_size=8K: a 7K message passes, a 9K one ends the sender's
    stream with policy-violation; alice and bob are not disturbed."""
    with Server(limits={'max_stanza_size': 8192, 'max_stanza_size_preauth': 4096,
                        'output_hard_limit': 65536}) as srv:
        alice, bob = pair(srv)
        carol = client(srv, 'carol', 'c')
        body = 'x' * 7000
        carol.message(BOB, body)
        got = bob.expect(is_message(frm='carol@localhost/c'))
        assert len(got.find(C('body')).text) == 7000
        chat(alice, bob)
        # One stanza over the limit, split over several writes.
        big = "<message to='%s' type='chat'><body>%s</body></message>" % (BOB, 'y' * 9000)
        for i in range(0, len(big), 1000):
            carol.send(big[i:i + 1000])
        err = carol.expect_stream_error('policy-violation')
        assert err is not None
        chat(alice, bob)
        # Nothing of the oversized stanza reached bob.
        bob.assert_nothing(is_message(frm='carol@localhost/c'))
        assert srv.wait_log('stream error policy-violation')


def test_max_stanza_size_preauth():
    """Before authentication the smaller bound holds: 4K in the clear (before
    STARTTLS) and after STARTTLS but before SASL."""
    with Server(limits={'max_stanza_size': 65536, 'max_stanza_size_preauth': 4096,
                        'output_hard_limit': 262144}) as srv:
        alice, bob = pair(srv)
        # In the clear, right after the header.
        r = raw_from(srv, '127.0.0.2')
        r.open()
        r.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, 'A' * 5000))
        r.expect_stream_error('policy-violation')
        chat(alice, bob)
        # After TLS, before SASL: a 5K SASL element is over the 4K bound ...
        r = raw_from(srv, '127.0.0.2')
        r.open()
        r.starttls()
        r.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>" % (NS_SASL, 'B' * 5000))
        r.expect_stream_error('policy-violation')
        # ... and so is any other element, e.g. a pre-auth IQ.
        r = raw_from(srv, '127.0.0.2')
        r.open()
        r.starttls()
        r.send("<iq type='get' id='x'><query xmlns='jabber:iq:register'>%s</query></iq>"
               % ('<x/>' * 1200))
        r.expect_stream_error('policy-violation')
        # The same 5K is fine once authenticated (65536 then).
        carol = client(srv, 'carol', 'c')
        carol.message(BOB, 'z' * 5000)
        bob.expect(is_message(body='z' * 5000))
        chat(alice, bob)


# ---- connection counts ----

def test_max_connections_total():
    """max_connections=5: with 5 connections open the listener stops
    accepting; a sixth waits unanswered in the kernel's backlog and is
    served as soon as a slot frees.  The clients already in keep chatting."""
    with Server(limits={'max_connections': 5, 'max_connections_per_ip': 5,
                        'max_unauth_per_ip': 4}) as srv:
        alice, bob = pair(srv)
        fillers = []
        for _ in range(3):
            f = raw_from(srv, '127.0.0.2')
            f.open()
            fillers.append(f)
        extra = raw_from(srv, '127.0.0.3')
        extra.send_header()
        assert_silent(extra, 1.5, 'the server is full')
        # Those inside are served normally, new stanzas included.
        chat(alice, bob)
        alice.sync()
        fillers[0].starttls()
        assert_silent(extra, 0.5, 'the server is full')
        # One leaves: the waiting connection gets its stream.
        fillers[1].finish()
        extra.read_features(timeout=5)
        assert extra.header is not None
        extra.starttls()
        extra.auth_plain('carol', 'carol-pw')
        extra.bind('extra')
        extra.sync()
        chat(alice, bob)
        assert srv.alive()


def test_max_connections_per_ip():
    """max_connections_per_ip=3 (unauth 3): a fourth connection from the same
    address is closed at once, before any stream; other addresses are not
    affected, and a slot freed on that address can be used again."""
    with Server(limits={'max_connections_per_ip': 3, 'max_unauth_per_ip': 3}) as srv:
        alice, bob = pair(srv)
        mine = []
        for i in range(3):
            r = raw_from(srv, '127.0.0.2')
            r.login('carol@localhost', 'carol-pw', resource='r%d' % i, presence=False)
            mine.append(r)
        over = raw_from(srv, '127.0.0.2')
        over.send_header()
        assert_refused(over)
        assert srv.wait_log('refused: per-address limit')
        # alice's address (127.0.0.1) holds 2 of its 3; a third is fine.
        alice2 = client(srv, 'alice', 'a2')
        alice2.sync()
        chat(alice, bob)
        # The refused attempts did not use up anything: one leaves, one
        # more from 127.0.0.2 gets in.
        mine[0].finish()
        again = raw_from(srv, '127.0.0.2')
        again.login('carol@localhost', 'carol-pw', resource='again', presence=False)
        again.sync()
        over = raw_from(srv, '127.0.0.2')
        over.send_header()
        assert_refused(over)
        chat(alice, bob)


def test_max_unauth_per_ip():
    """max_unauth_per_ip=2 (per address 6): a third connection that has not
    authenticated yet is refused; once one of the two authenticates, a new
    one is accepted again."""
    with Server(limits={'max_connections_per_ip': 6, 'max_unauth_per_ip': 2}) as srv:
        alice, bob = pair(srv)
        u1 = raw_from(srv, '127.0.0.2')
        u1.open()
        u2 = raw_from(srv, '127.0.0.2')
        u2.open()
        u2.starttls()
        over = raw_from(srv, '127.0.0.2')
        over.send_header()
        assert_refused(over)
        chat(alice, bob)
        # u2 authenticates: it no longer counts as unauthenticated.
        assert u2.auth_plain('carol', 'carol-pw').tag == SUCCESS
        u3 = raw_from(srv, '127.0.0.2')
        u3.open()
        over = raw_from(srv, '127.0.0.2')
        over.send_header()
        assert_refused(over)
        # Authenticated connections do not count: with the two
        # unauthenticated ones gone, two more logins from that address fit
        # (each is unauthenticated for a moment), next to u2.
        u1.finish()
        u3.finish()
        c2 = raw_from(srv, '127.0.0.2')
        c2.login('carol@localhost', 'carol-pw', resource='c2', presence=False)
        c3 = raw_from(srv, '127.0.0.2')
        c3.login('carol@localhost', 'carol-pw', resource='c3', presence=False)
        u2.bind('c1')
        u2.sync()
        chat(alice, bob)


# ---- authentication ----

def test_auth_timeout():
    """auth_timeout=3: connections that have not finished TLS + SASL + bind
    within it get connection-timeout; a bound session is never timed out
    by it.  (3 s, not less: alice's and bob's own logins must fit in it on
    a loaded CI machine running the sanitizer build.)"""
    with Server(limits={'auth_timeout': 3}) as srv:
        alice, bob = pair(srv)
        t0 = time.monotonic()
        header_only = raw_from(srv, '127.0.0.2')
        header_only.open()
        after_tls = raw_from(srv, '127.0.0.2')
        after_tls.open()
        after_tls.starttls()
        no_bind = raw_from(srv, '127.0.0.3')
        no_bind.open()
        no_bind.starttls()
        assert no_bind.auth_plain('carol', 'carol-pw').tag == SUCCESS
        silent = raw_from(srv, '127.0.0.4')     # not a byte sent
        for r in (header_only, after_tls, no_bind):
            r.expect_stream_error('connection-timeout', timeout=8)
        silent.expect_closed_or_stream_error('connection-timeout', timeout=8)
        dt = time.monotonic() - t0
        assert 2.0 <= dt <= 8.0, 'timed out after %.1f s (auth_timeout=3)' % dt
        # alice and bob logged in within the bound and stay.
        time.sleep(max(0.0, 4.5 - dt))
        chat(alice, bob)


def test_auth_attempts():
    """auth_attempts=3: the third failure on one stream ends it with
    policy-violation (PLAIN and SCRAM failures both count)."""
    with Server(limits={'auth_attempts': 3, 'auth_failures_per_ip': 100}) as srv:
        alice, bob = pair(srv)
        r = raw_from(srv, '127.0.0.2')
        r.open()
        r.starttls()
        assert sasl_condition(r.auth_plain('carol', 'wrong1')) == 'not-authorized'
        assert sasl_condition(r.auth_scram('carol', 'wrong2')) == 'not-authorized'
        chat(alice, bob)
        r.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
               % (NS_SASL, Raw.plain_payload('carol', 'wrong3')))
        el = r.next()
        assert sasl_condition(el) == 'not-authorized', dump(el)
        r.expect_stream_error('policy-violation')
        # A new connection starts counting afresh; the right password works.
        ok = raw_from(srv, '127.0.0.2')
        ok.login('carol@localhost', 'carol-pw', resource='c')
        chat(alice, bob)


def test_auth_failures_per_ip():
    """auth_failures_per_ip=3: after three failed logins from 127.0.0.2 in
    a minute, every login from that address gets temporary-auth-failure, the
    right password and other accounts included, while the same accounts log
    in fine from other addresses (nobody can lock an account out)."""
    with Server(limits={'auth_failures_per_ip': 3, 'auth_attempts': 5}) as srv:
        alice, bob = pair(srv)
        for i in range(3):
            r = raw_from(srv, '127.0.0.2')
            r.open()
            r.starttls()
            assert sasl_condition(r.auth_plain('carol', 'bad%d' % i)) == 'not-authorized'
            r.finish()
        refused = []
        for user, pw in (('carol', 'carol-pw'), ('alice', 'alice-pw')):
            r = raw_from(srv, '127.0.0.2')
            r.open()
            r.starttls()
            el = r.auth_plain(user, pw)
            refused.append((user, sasl_condition(el)))
            # The stream stays open; SCRAM on it is refused too, at the
            # first step.
            el = r.auth_scram(user, pw)
            refused.append((user + ' scram', sasl_condition(el)))
            r.finish()
        assert refused == [('carol', 'temporary-auth-failure'),
                           ('carol scram', 'temporary-auth-failure'),
                           ('alice', 'temporary-auth-failure'),
                           ('alice scram', 'temporary-auth-failure')], refused
        # From another address the same accounts work.
        c = raw_from(srv, '127.0.0.3')
        c.login('carol@localhost', 'carol-pw', resource='c')
        a2 = client(srv, 'alice', 'a2')
        a2.sync()
        chat(alice, bob)
        chat(c, alice, 'carol@localhost/c', ALICE)


# ---- throughput ----

def test_max_bytes_per_second():
    """max_bytes_per_second=32K: a client pushing 128K of messages at once
    (far more than 3x the rate) is read at the rate, so their delivery
    takes more than 2 s; nothing is dropped, order is kept, and alice and bob
    chat at full speed meanwhile."""
    rate = 32768
    with Server(limits={'max_bytes_per_second': rate}) as srv:
        alice, bob = pair(srv)
        carol = client(srv, 'carol', 'c')
        sink = client(srv, 'bob', 'sink')
        body = 'r' * 900
        n = (4 * rate) // 900
        data = ''.join("<message to='bob@localhost/sink' type='chat' id='m%d'>"
                       "<body>%d %s</body></message>" % (i, i, body) for i in range(n))
        assert len(data) >= 4 * rate
        t0 = time.monotonic()
        carol.send(data)
        worst = 0.0
        got = []
        deadline = t0 + 15
        while len(got) < n and time.monotonic() < deadline:
            worst = max(worst, chat(alice, bob))
            for el in sink.take_all(is_message(frm='carol@localhost/c')):
                got.append(el)
            try:
                got.append(sink.expect(is_message(frm='carol@localhost/c'),
                                            timeout=0.05))
            except TimeoutError:
                pass
        t_last = time.monotonic() - t0
        while len(got) < n:
            got.append(sink.expect(is_message(frm='carol@localhost/c'), timeout=5))
        ids = [el.get('id') for el in got]
        assert ids == ['m%d' % i for i in range(n)], 'lost or reordered: %s' % ids[:20]
        assert t_last >= 2.0, ('%d bytes at %d bytes/s delivered in %.2f s: not throttled'
                               % (len(data), rate, t_last))
        assert t_last <= 10.0, 'throttled far too hard: %.2f s' % t_last
        assert worst < 1.0, 'alice/bob round trip %.2f s while carol was throttled' % worst
        assert srv.wait_log('bytes/s: reading paused')
        # The throttled client itself is fine afterwards.
        carol.sync()
        chat(carol, bob, 'carol@localhost/c', BOB)


# ---- per-account bounds ----

def test_max_resources():
    """max_resources=2: a third resource gets resource-constraint on bind;
    replacing one of the two (same resource) is still allowed; the failed
    bind leaves the stream usable for another try."""
    with Server(limits={'max_resources': 2}) as srv:
        alice, bob = pair(srv)
        c1 = client(srv, 'carol', 'one')
        c2 = client(srv, 'carol', 'two')
        c3 = Raw(srv.c2s_port)
        c3.open()
        c3.starttls()
        assert c3.auth_plain('carol', 'carol-pw').tag == SUCCESS
        r = c3.bind_iq('three')
        assert r.get('type') == 'error', dump(r)
        etype, cond = stanza_error(r)
        assert cond == 'resource-constraint', dump(r)
        # RFC 6120 8.3.3.18 uses type wait; the e2e contract says cancel.
        assert etype in ('wait', 'cancel'), dump(r)
        chat(alice, bob)
        # Taking over an existing resource is not a new session.
        r = c3.bind_iq('two')
        assert r.get('type') == 'result', dump(r)
        c2.expect_stream_error('conflict', skip_stanzas=True)
        c3.jid = 'carol@localhost/two'
        c3.sync()
        c1.sync()
        # Still two: another new one is refused.
        c4 = Raw(srv.c2s_port)
        c4.open()
        c4.starttls()
        assert c4.auth_plain('carol', 'carol-pw').tag == SUCCESS
        assert stanza_error(c4.bind_iq())[1] == 'resource-constraint'
        # One leaves: the next one binds.
        c1.finish()
        time.sleep(0.2)
        c4.bind('four')
        c4.sync()
        chat(alice, bob)


def test_max_offline_messages():
    """max_offline_messages=3: the fourth message to offline carol bounces
    with service-unavailable (with its id); the first three are delivered,
    in order and with a delay stamp, when carol comes online."""
    with Server(limits={'max_offline_messages': 3}) as srv:
        alice, bob = pair(srv)
        ids = [alice.message('carol@localhost', 'off %d' % i, id='off%d' % i)
               for i in range(4)]
        err = alice.expect(lambda e: e.tag == C('message') and e.get('type') == 'error',
                           what='the bounce of the fourth message')
        assert err.get('id') == 'off3', dump(err)
        assert err.get('from') == 'carol@localhost', dump(err)
        assert stanza_error(err) == ('cancel', 'service-unavailable'), dump(err)
        alice.assert_nothing(lambda e: e.tag == C('message') and e.get('type') == 'error',
                             what='only one bounce')
        chat(alice, bob)
        # Headlines are never stored and never count.
        alice.message('carol@localhost', 'headline', type='headline')
        carol = Raw(srv.c2s_port)
        carol.login('carol@localhost', 'carol-pw', resource='c', presence=False)
        carol.send('<presence/>')
        got = [carol.expect(is_message(frm='alice@localhost/a'), timeout=5) for _ in range(3)]
        assert [el.get('id') for el in got] == ids[:3], [dump(e) for e in got]
        for el in got:
            d = el.find('{urn:xmpp:delay}delay')
            assert d is not None and d.get('stamp', '').endswith('Z'), dump(el)
        carol.assert_nothing(is_message(), what='no fourth or headline message')
        # The store is empty again: a new offline message is accepted.
        carol.finish()
        time.sleep(0.2)
        alice.message('carol@localhost', 'after', id='after')
        alice.assert_nothing(lambda e: e.tag == C('message') and e.get('type') == 'error')
        chat(alice, bob)


def _roster_set(r, jid, name=None):
    n = " name='%s'" % name if name else ''
    return r.iq("<iq type='set'><query xmlns='%s'><item jid='%s'%s/></query></iq>"
                % (NS_ROSTER, jid, n))


def _roster_remove(r, jid):
    return r.iq("<iq type='set'><query xmlns='%s'><item jid='%s' subscription='remove'/>"
                "</query></iq>" % (NS_ROSTER, jid))


def test_max_roster_items():
    """max_roster_items=3: a fourth contact gets not-allowed; renaming an
    existing one is fine; after a removal a new one fits again."""
    with Server(limits={'max_roster_items': 3}) as srv:
        alice, bob = pair(srv)
        carol = client(srv, 'carol', 'c', roster=True)
        for i in range(3):
            r = _roster_set(carol, 'u%d@example.net' % i)
            assert r.get('type') == 'result', dump(r)
        r = _roster_set(carol, 'u3@example.net')
        assert r.get('type') == 'error', dump(r)
        assert stanza_error(r) == ('cancel', 'not-allowed'), dump(r)
        chat(alice, bob)
        r = _roster_set(carol, 'u1@example.net', name='renamed')
        assert r.get('type') == 'result', dump(r)
        items = carol.roster_items()
        assert sorted(items) == ['u0@example.net', 'u1@example.net', 'u2@example.net'], items
        assert items['u1@example.net'].get('name') == 'renamed'
        r = _roster_remove(carol, 'u0@example.net')
        assert r.get('type') == 'result', dump(r)
        r = _roster_set(carol, 'u3@example.net')
        assert r.get('type') == 'result', dump(r)
        items = sorted(carol.roster_items())
        assert items == ['u1@example.net', 'u2@example.net', 'u3@example.net'], items
        chat(alice, bob)
        # An outbound subscription request to a new contact adds a roster
        # item (RFC 6121 3.1.2): it is bounded by the same limit.
        for to in ('u9@example.net', 'bob@localhost'):
            carol.send("<presence type='subscribe' to='%s'/>" % to)
        carol.sync()
        items = sorted(carol.roster_items())
        assert len(items) <= 3, (
            'max_roster_items=3, but presence subscriptions grew the roster to %d items: %s'
            % (len(items), items))
        chat(alice, bob)


# ---- slow and silent peers ----

def test_output_hard_limit():
    """output_hard_limit=64K: dave/slow never reads while alice and carol send
    it up to 2 MB; it is disconnected as a slow consumer, the senders are
    never blocked or closed, and alice and bob keep chatting."""
    users = dict(DEFAULT_USERS)
    users['dave@localhost'] = 'dave-pw'
    with Server(users=users, limits={'output_hard_limit': 65536, 'max_stanza_size': 16384,
                                     'max_stanza_size_preauth': 4096,
                                     'max_bytes_per_second': 16 << 20}) as srv:
        alice, bob = pair(srv)
        carol = client(srv, 'carol', 'c')
        slow = Raw(srv.c2s_port, rcvbuf=4096)
        slow.login('dave', 'dave-pw', resource='slow', presence=False)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        pad = 'p' * 4000
        sent = 0
        t0 = time.monotonic()
        while sent < 2 << 20 and time.monotonic() - t0 < 20:
            for who in (alice, carol):
                # Headlines to a full JID: delivered to that resource only.
                who.message('dave@localhost/slow', pad, type='headline')
                sent += 4000
            if sent % (256 * 1024) < 8000:
                chat(alice, bob, timeout=5)
                if srv.wait_log('closing slow consumer', timeout=0):
                    break
        assert srv.wait_log('closing slow consumer', timeout=10), (
            'dave/slow was never closed as a slow consumer (%d bytes sent)' % sent)
        slow.detach_parser()
        assert slow.closed(timeout=10), 'the slow reader is still connected'
        # The senders are fine and get no errors for the messages that were
        # on their way when the slow one went away (headlines are dropped).
        for who in (alice, carol):
            who.sync(timeout=10)
        chat(alice, bob)
        chat(carol, bob, 'carol@localhost/c', BOB)
        assert srv.alive()


def _subscribe(watcher, wjid, contact, cjid):
    """watcher subscribes to contact's presence and contact approves."""
    watcher.send("<presence type='subscribe' to='%s'/>" % cjid)
    contact.expect(lambda e: e.tag == C('presence') and e.get('type') == 'subscribe',
                   what='the subscription request')
    contact.send("<presence type='subscribed' to='%s'/>" % wjid)
    watcher.expect(lambda e: e.tag == C('presence') and e.get('type') == 'subscribed',
                   what='the subscription approval')


def test_idle_and_ping_timeout():
    """idle_timeout=10, ping_timeout=5: a client silent for 10 s is pinged;
    bob/quiet answers and stays, carol never answers and is closed with
    connection-timeout ~5 s later; alice, who is subscribed to carol, gets
    carol's unavailable presence.  alice and bob chat meanwhile."""
    with Server(limits={'idle_timeout': 10, 'ping_timeout': 5}) as srv:
        alice, bob = pair(srv)
        carol = client(srv, 'carol', 'c')
        _subscribe(alice, 'alice@localhost', carol, 'carol@localhost')
        # carol's current presence reaches alice once subscribed.
        alice.expect(is_presence(frm='carol@localhost/c'), timeout=5)
        quiet = client(srv, 'bob', 'quiet')
        carol.drain(0.1)
        quiet.drain(0.1)
        t0 = time.monotonic()
        pings = {}
        answered = 0
        unavailable = None
        while time.monotonic() - t0 < 24:
            chat(alice, bob)
            for name, r in (('carol', carol), ('quiet', quiet)):
                try:
                    el = r.expect(lambda e: e.tag == C('iq') and e.get('type') == 'get',
                                  timeout=0.2)
                except (TimeoutError, StreamClosed):
                    continue
                assert el.find('{urn:xmpp:ping}ping') is not None, dump(el)
                assert el.get('from') == 'localhost', dump(el)
                pings.setdefault(name, time.monotonic() - t0)
                if name == 'quiet':
                    r.send("<iq type='result' id='%s' to='localhost'/>" % el.get('id'))
                    answered += 1
            try:
                unavailable = alice.expect(
                    is_presence(frm='carol@localhost/c', type='unavailable'), timeout=0.2)
                break
            except TimeoutError:
                pass
        dt = time.monotonic() - t0
        assert 'carol' in pings, 'carol was never pinged in %.1f s' % dt
        assert 8.0 <= pings['carol'] <= 13.0, 'carol pinged after %.1f s' % pings['carol']
        assert unavailable is not None, 'no unavailable presence for carol after %.1f s' % dt
        assert 13.0 <= dt <= 20.0, 'carol closed %.1f s after going silent' % dt
        carol.expect_stream_error('connection-timeout', skip_stanzas=True, timeout=5)
        assert answered >= 1, 'bob/quiet was never pinged'
        # quiet answered and is still there.
        quiet.sync()
        chat(alice, bob)
        chat(quiet, alice, 'bob@localhost/quiet', ALICE)


test_max_bytes_per_second.timeout = 60
test_output_hard_limit.timeout = 90
test_idle_and_ping_timeout.timeout = 45
test_idle_and_ping_timeout.slow = True
