"""
Message and IQ routing between local users (RFC 6120 section 10, RFC 6121
section 8.5), offline storage (XEP-0160) with delay stamps (XEP-0203) and
its cap, pings (XEP-0199).
"""

import datetime
import re
import time

from lib import Server
from rawxmpp import (
    C, NS_DELAY, NS_DISCO_INFO, NS_PING, NS_SASL, Failures, Raw, body_of, client, dump,
    is_message, q, stanza_error,
)

STAMP_RE = re.compile(r'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$')


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _parse_stamp(s):
    m = STAMP_RE.match(s or '')
    assert m, 'delay stamp %r is not YYYY-MM-DDThh:mm:ss[.sss]Z (XEP-0082)' % s
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    return datetime.datetime(y, mo, d, h, mi, se, tzinfo=datetime.timezone.utc)


def _login_prio(srv, user, res, prio):
    r = client(srv, user, res, presence=False)
    r.send("<presence><priority>%d</priority></presence>" % prio)
    r.sync()
    return r


def _error_reply(r, id_, frm, condition='service-unavailable', type_='cancel', tag='message'):
    e = r.expect(lambda x: x.tag == C(tag) and x.get('id') == id_ and x.get('type') == 'error',
                 what='a %s error for %s' % (tag, id_))
    assert e.get('from') == frm, 'error from %r, expected %r: %s' % (e.get('from'), frm, dump(e))
    assert e.get('to') in (r.jid, None), dump(e)
    assert stanza_error(e) == (type_, condition), 'error %r, expected %r: %s' % (
        stanza_error(e), (type_, condition), dump(e))
    return e


def _msgs(r, body=None):
    r.sync()
    return r.take_all(is_message(body=body)) if body is not None else r.take_all(C('message'))


def test_message_to_full_jid():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        b1 = client(srv, 'bob', 'b1')
        b2 = client(srv, 'bob', 'b2')
        for i, (res, mtype) in enumerate((('b1', 'chat'), ('b2', None), ('b1', 'normal'),
                                          ('b2', 'headline'), ('b1', 'groupchat'))):
            body = 'full %d' % i
            mid = alice.message('bob@localhost/' + res, body, type=mtype, id='full%d' % i)
            target, other = (b1, b2) if res == 'b1' else (b2, b1)
            m = target.expect(is_message(body=body))
            assert m.get('from') == 'alice@localhost/a', dump(m)
            assert m.get('to') == 'bob@localhost/' + res, dump(m)
            assert m.get('id') == mid, dump(m)
            assert m.get('type') == mtype, 'type %r, expected %r' % (m.get('type'), mtype)
            assert not _msgs(other, body), 'message for %s also reached the other resource' % res
        assert not _msgs(alice), 'alice got an answer to messages that were delivered'


def test_message_to_bare_jid_by_priority():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        r1 = _login_prio(srv, 'bob', 'r1', 1)
        r2 = _login_prio(srv, 'bob', 'r2', 5)
        r3 = _login_prio(srv, 'bob', 'r3', -1)
        fails = Failures()

        def only_highest(mtype):
            body = 'bare %s' % mtype
            alice.message('bob@localhost', body, type=mtype)
            m = r2.expect(is_message(body=body))
            assert m.get('from') == 'alice@localhost/a', dump(m)
            assert m.get('to') == 'bob@localhost', dump(m)
            assert not _msgs(r1, body), 'also delivered to the lower priority'
            assert not _msgs(r3, body), 'delivered to a negative priority'

        def headline():
            alice.message('bob@localhost', 'bare headline', type='headline')
            r1.expect(is_message(body='bare headline'))
            r2.expect(is_message(body='bare headline'))
            assert not _msgs(r3, 'bare headline'), 'headline to a negative priority'

        def groupchat():
            mid = alice.message('bob@localhost', 'bare groupchat', type='groupchat')
            _error_reply(alice, mid, 'bob@localhost')
            for r in (r1, r2, r3):
                assert not _msgs(r, 'bare groupchat'), 'groupchat to a bare JID delivered'

        def error_type():
            alice.send("<message to='bob@localhost' type='error' id='err1'><body>bare error</body>"
                       "<error type='cancel'><item-not-found "
                       "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
            alice.sync()
            for r in (r1, r2, r3):
                assert not _msgs(r, 'bare error'), 'error message to a bare JID delivered'
            got = [e for e in alice.take_all(C('message'))]
            assert not got, 'error message answered: %s' % [dump(e) for e in got]

        fails.run('chat', only_highest, 'chat')
        fails.run('no type', only_highest, None)
        fails.run('normal', only_highest, 'normal')
        fails.run('headline', headline)
        fails.run('groupchat', groupchat)
        fails.run('error', error_type)
        fails.raise_if_any()

        # A tie: one or both of the top resources, never the negative one.
        r1.send("<presence><priority>5</priority></presence>")
        r1.sync()
        alice.message('bob@localhost', 'tie', type='chat')
        alice.sync()
        got = len(_msgs(r1, 'tie')) + len(_msgs(r2, 'tie'))
        assert got in (1, 2), 'tie: delivered %d times' % got
        assert not _msgs(r3, 'tie')


def test_message_to_unavailable_full_jid():
    """The account is online but not with that resource (RFC 6121
    8.5.3.2): an error message is dropped; anything else is delivered as
    if to the bare JID, dropped, or bounced with <service-unavailable/> --
    never both delivered and bounced."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        for mtype in ('chat', 'normal', 'headline', 'groupchat'):
            body = 'gone %s' % mtype
            mid = alice.message('bob@localhost/gone', body, type=mtype)
            alice.sync()
            delivered = _msgs(bob, body)
            bounced = [e for e in alice.take_all(C('message')) if e.get('id') == mid]
            assert not (delivered and bounced), '%s: delivered and bounced' % mtype
            if bounced:
                e = bounced[0]
                assert e.get('type') == 'error', dump(e)
                assert stanza_error(e)[1] == 'service-unavailable', dump(e)
                assert e.get('from') == 'bob@localhost/gone', dump(e)
        alice.send("<message to='bob@localhost/gone' type='error' id='e2'><body>gone error</body>"
                   "</message>")
        alice.sync()
        assert not _msgs(bob, 'gone error')
        assert not alice.take_all(C('message')), 'error message answered'


def test_offline_storage_and_delay():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        t0 = _utcnow().replace(microsecond=0)
        stored = []
        for mtype, body in (('chat', 'off chat'), (None, 'off none'), ('normal', 'off normal')):
            stored.append((alice.message('bob@localhost', body, type=mtype), mtype, body))
        alice.message('bob@localhost', 'off headline', type='headline')
        alice.send("<message to='bob@localhost' type='chat' id='state1'>"
                   "<active xmlns='http://jabber.org/protocol/chatstates'/></message>")
        alice.send("<message to='bob@localhost' type='error' id='err1'><body>off error</body>"
                   "</message>")
        gid = alice.message('bob@localhost', 'off groupchat', type='groupchat')
        _error_reply(alice, gid, 'bob@localhost')
        alice.sync()
        bounced = alice.take_all(C('message'))
        assert not bounced, 'unexpected answers: %s' % [dump(e) for e in bounced]

        # Nothing before the first available presence...
        bob = client(srv, 'bob', 'b', presence=False)
        assert not _msgs(bob), 'offline messages delivered before initial presence'
        bob.send('<presence/>')
        got = []
        for _ in stored:
            got.append(bob.expect(C('message'), what='an offline message'))
        t1 = _utcnow()
        assert [body_of(m) for m in got] == [b for _, _, b in stored], (
            'offline messages %r' % [body_of(m) for m in got])
        for m, (mid, mtype, body) in zip(got, stored):
            assert m.get('from') == 'alice@localhost/a', dump(m)
            assert m.get('to') in ('bob@localhost', 'bob@localhost/b'), dump(m)
            assert m.get('id') == mid, dump(m)
            assert m.get('type') == mtype, 'type %r became %r' % (mtype, m.get('type'))
            delays = m.findall('{%s}delay' % NS_DELAY)
            assert len(delays) == 1, 'expected one <delay/>: %s' % dump(m)
            assert delays[0].get('from') == 'localhost', dump(delays[0])
            when = _parse_stamp(delays[0].get('stamp'))
            assert t0 - datetime.timedelta(seconds=2) <= when <= t1 + datetime.timedelta(seconds=2), (
                'stamp %s outside [%s, %s]' % (when, t0, t1))
        rest = _msgs(bob)
        assert not rest, 'not stored but delivered: %s' % [dump(e) for e in rest]

        # Delivered means gone.
        bob.close()
        bob = client(srv, 'bob', 'b')
        assert not _msgs(bob), 'offline messages delivered twice'


def test_offline_messages_survive_restart():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        mid = alice.message('bob@localhost', 'kept over restart')
        alice.sync()
        alice.close()
        srv.stop()
        srv.start()
        bob = client(srv, 'bob', 'b', presence=False)
        bob.send('<presence/>')
        m = bob.expect(is_message(body='kept over restart'))
        assert m.get('id') == mid and m.find('{%s}delay' % NS_DELAY) is not None, dump(m)


def test_offline_messages_keep_their_order():
    """Messages stored over more than a second come back in the order they
    were sent (RFC 6120 10.1: in-order processing)."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        ids = []
        for i in range(30):
            ids.append(alice.message('bob@localhost', 'order %02d' % i, id='ord%02d' % i))
            alice.sync()
            time.sleep(0.05)
        assert not alice.take_all(C('message')), 'messages bounced'
        bob = client(srv, 'bob', 'b', presence=False)
        bob.send('<presence/>')
        got = [bob.expect(C('message')).get('id') for _ in ids]
        assert got == ids, 'offline messages delivered out of order: %s' % got


def test_offline_storage_cap():
    with Server(limits={'max_offline_messages': 3}) as srv:
        alice = client(srv, 'alice', 'a')
        ids = [alice.message('bob@localhost', 'cap %d' % i, id='cap%d' % i) for i in range(5)]
        for mid in ids[3:]:
            _error_reply(alice, mid, 'bob@localhost')
        alice.sync()
        extra = alice.take_all(C('message'))
        assert not extra, 'errors for stored messages: %s' % [dump(e) for e in extra]
        bob = client(srv, 'bob', 'b', presence=False)
        bob.send('<presence/>')
        got = [bob.expect(C('message')) for _ in range(3)]
        assert [m.get('id') for m in got] == ids[:3], [dump(m) for m in got]
        assert not _msgs(bob), 'more than max_offline_messages delivered'


def test_negative_priority_is_not_available_for_bare_jid():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        neg = _login_prio(srv, 'bob', 'neg', -1)
        alice.message('bob@localhost', 'for later', type='chat')
        alice.message('bob@localhost', 'headline for nobody', type='headline')
        alice.sync()
        assert not _msgs(neg), 'delivered to a negative-priority resource'
        assert not alice.take_all(C('message')), 'message bounced instead of stored'
        neg.close()
        bob = client(srv, 'bob', 'b', presence=False)
        bob.send('<presence/>')
        m = bob.expect(is_message(body='for later'))
        assert m.find('{%s}delay' % NS_DELAY) is not None, dump(m)
        assert not _msgs(bob, 'headline for nobody'), 'headline stored'


def test_message_without_to_goes_to_own_bare_jid():
    """RFC 6120 10.3.1: a message without 'to' is for the sender's bare JID."""
    with Server() as srv:
        a1 = _login_prio(srv, 'alice', 'low', 1)
        a2 = _login_prio(srv, 'alice', 'high', 5)
        a1.send("<message type='chat' id='self1'><body>note to self</body></message>")
        m = a2.expect(is_message(body='note to self'))
        assert m.get('from') == 'alice@localhost/low', dump(m)
        assert not _msgs(a1, 'note to self')


def test_stanzas_to_nonexistent_user():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        for mtype in ('chat', 'normal'):
            mid = alice.message('nobody@localhost', 'hello?', type=mtype)
            _error_reply(alice, mid, 'nobody@localhost')
        iid = 'nx-iq'
        alice.send("<iq type='get' id='%s' to='nobody@localhost'><query "
                   "xmlns='urn:example:unknown'/></iq>" % iid)
        _error_reply(alice, iid, 'nobody@localhost', tag='iq')
        alice.send("<iq type='get' id='nx-iq2' to='nobody@localhost/res'><ping "
                   "xmlns='urn:xmpp:ping'/></iq>")
        _error_reply(alice, 'nx-iq2', 'nobody@localhost/res', tag='iq')
        # Errors are never answered with errors.
        alice.send("<message to='nobody@localhost' type='error' id='nx-err'><body>x</body>"
                   "</message>")
        alice.send("<presence to='nobody@localhost'/>")
        alice.sync()
        got = alice.take_all(lambda e: e.tag in (C('message'), C('presence'), C('iq')))
        assert not got, 'answers to an error message / presence: %s' % [dump(e) for e in got]


def test_iq_routing():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        # To bob's bare JID: the server answers for him; bob never sees it.
        r = alice.iq("<iq type='get' to='bob@localhost'><query xmlns='urn:example:unknown'/></iq>")
        assert r.get('type') == 'error' and r.get('from') == 'bob@localhost', dump(r)
        assert stanza_error(r) == ('cancel', 'service-unavailable'), dump(r)
        r = alice.iq("<iq type='set' to='bob@localhost'><query xmlns='urn:example:unknown'/></iq>")
        assert stanza_error(r) == ('cancel', 'service-unavailable'), dump(r)
        # disco#info on an account: answered by the server (a result or an
        # error), from the bare JID.
        r = alice.iq("<iq type='get' to='bob@localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
        assert r.get('from') == 'bob@localhost', dump(r)
        bob.sync()
        leaked = bob.take_all(C('iq'))
        assert not leaked, 'IQ to the bare JID reached the client: %s' % [dump(e) for e in leaked]

        # To bob's full JID: routed to him, his answer routed back.
        alice.send("<iq type='get' id='q1' to='bob@localhost/b'><query xmlns='urn:example:q'/></iq>")
        got = bob.expect(lambda e: e.tag == C('iq') and e.get('id') == 'q1')
        assert (got.get('from'), got.get('to'), got.get('type')) == \
            ('alice@localhost/a', 'bob@localhost/b', 'get'), dump(got)
        assert got.find('{urn:example:q}query') is not None, dump(got)
        bob.send("<iq type='result' id='q1' to='alice@localhost/a'><query xmlns='urn:example:q'>"
                 "<answer>42</answer></query></iq>")
        r = alice.expect(lambda e: e.tag == C('iq') and e.get('id') == 'q1')
        assert (r.get('type'), r.get('from')) == ('result', 'bob@localhost/b'), dump(r)
        assert r.findtext('{urn:example:q}query/{urn:example:q}answer') == '42', dump(r)

        # To a resource that does not exist.
        r = alice.iq("<iq type='get' to='bob@localhost/nope'><ping xmlns='%s'/></iq>" % NS_PING)
        assert r.get('from') == 'bob@localhost/nope', dump(r)
        assert stanza_error(r) == ('cancel', 'service-unavailable'), dump(r)

        # Bob offline: his bare JID still answers with an error, his old
        # full JID too.
        bob.stream_close()
        assert bob.closed()
        r = alice.iq("<iq type='get' to='bob@localhost'><query xmlns='urn:example:unknown'/></iq>")
        assert stanza_error(r) == ('cancel', 'service-unavailable'), dump(r)
        r = alice.iq("<iq type='get' to='bob@localhost/b'><query xmlns='urn:example:q'/></iq>")
        assert stanza_error(r) == ('cancel', 'service-unavailable'), dump(r)
        assert r.get('from') == 'bob@localhost/b', dump(r)


def test_every_request_gets_exactly_one_reply():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        client(srv, 'bob', 'b')
        reqs = [
            ('localhost', "<ping xmlns='urn:xmpp:ping'/>", 'get'),
            ('localhost', "<query xmlns='%s'/>" % NS_DISCO_INFO, 'get'),
            ('localhost', "<query xmlns='urn:example:unknown'/>", 'get'),
            ('localhost', "<query xmlns='urn:example:unknown'/>", 'set'),
            ('localhost', "<query xmlns='jabber:iq:roster'/>", 'get'),
            (None, "<query xmlns='jabber:iq:roster'/>", 'get'),
            (None, "<ping xmlns='urn:xmpp:ping'/>", 'get'),
            (None, "<query xmlns='urn:example:unknown'/>", 'get'),
            ('alice@localhost', "<query xmlns='urn:example:unknown'/>", 'get'),
            ('bob@localhost', "<query xmlns='urn:example:unknown'/>", 'get'),
            ('bob@localhost', "<query xmlns='jabber:iq:roster'/>", 'get'),
            ('bob@localhost/zz', "<query xmlns='urn:example:unknown'/>", 'get'),
            ('nobody@localhost', "<query xmlns='urn:example:unknown'/>", 'set'),
            ('localhost', '', 'get'),                       # no payload
            ('localhost', "<a xmlns='urn:x'/><b xmlns='urn:x'/>", 'get'),   # two payloads
        ]
        ids = []
        for i, (to, payload, t) in enumerate(reqs * 2):
            iid = 'one%d' % i
            ids.append(iid)
            toa = " to='%s'" % to if to else ''
            alice.send("<iq type='%s' id='%s'%s>%s</iq>" % (t, iid, toa, payload))
        alice.sync()
        alice.sync()
        replies = [e for e in alice.take_all(C('iq')) if e.get('id') in ids]
        counts = {i: 0 for i in ids}
        for e in replies:
            counts[e.get('id')] += 1
            assert e.get('type') in ('result', 'error'), dump(e)
        wrong = {i: n for i, n in counts.items() if n != 1}
        assert not wrong, 'reply counts other than 1: %r' % wrong
        for e in replies:
            idx = ids.index(e.get('id')) % len(reqs)
            if reqs[idx][1] in ('', "<a xmlns='urn:x'/><b xmlns='urn:x'/>"):
                assert e.get('type') == 'error', 'malformed IQ accepted: %s' % dump(e)


def test_result_and_error_iqs_are_never_answered():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        targets = ['localhost', 'bob@localhost', 'nobody@localhost', 'bob@localhost/nope',
                   'nobody@localhost/x', None]
        for i, to in enumerate(targets):
            toa = " to='%s'" % to if to else ''
            alice.send("<iq type='result' id='res%d'%s/>" % (i, toa))
            alice.send("<iq type='error' id='err%d'%s><error type='cancel'><item-not-found "
                       "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>" % (i, toa))
        alice.sync()
        got = alice.take_all(lambda e: e.tag in (C('iq'), C('message')))
        assert not got, 'result/error IQs answered: %s' % [dump(e) for e in got]
        # A result to a full JID is a response: it is delivered.
        alice.send("<iq type='result' id='resp1' to='bob@localhost/b'/>")
        r = bob.expect(lambda e: e.tag == C('iq') and e.get('id') == 'resp1')
        assert r.get('from') == 'alice@localhost/a', dump(r)


def test_ping_and_disco_of_server():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        r = alice.iq("<iq type='get' to='localhost'><ping xmlns='%s'/></iq>" % NS_PING)
        assert r.get('type') == 'result', dump(r)
        assert r.get('from') == 'localhost' and r.get('to') == 'alice@localhost/a', dump(r)
        assert len(r) == 0, 'ping result with a payload: %s' % dump(r)
        # No 'to': the server answers for the account.
        r = alice.iq("<iq type='get'><ping xmlns='%s'/></iq>" % NS_PING)
        assert r.get('type') == 'result', dump(r)
        assert r.get('from') in (None, 'alice@localhost'), dump(r)
        r = alice.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
        assert r.get('type') == 'result', dump(r)
        qe = r.find('{%s}query' % NS_DISCO_INFO)
        feats = {f.get('var') for f in qe.findall('{%s}feature' % NS_DISCO_INFO)}
        idents = [(i.get('category'), i.get('type'))
                  for i in qe.findall('{%s}identity' % NS_DISCO_INFO)]
        assert ('server', 'im') in idents, idents
        assert NS_PING in feats and NS_DISCO_INFO in feats, feats


def test_jid_case_folding():
    """Localparts and domains compare case-insensitively (RFC 7622):
    BOB@LocalHost/b is bob's session b."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        alice.message('BOB@LocalHost/b', 'full, mixed case')
        m = bob.expect(is_message(body='full, mixed case'))
        assert m.get('from') == 'alice@localhost/a', dump(m)
        alice.message('Bob@LOCALHOST', 'bare, mixed case')
        bob.expect(is_message(body='bare, mixed case'))
        assert not [e for e in alice.take_all(C('message')) if e.get('type') == 'error']


def test_malformed_addresses():
    """A 'to' that is not a JID gets <jid-malformed/> (RFC 6120 8.3.3.8);
    the sender's stream stays open."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        fails = Failures()

        def case(to, tag='message'):
            if tag == 'message':
                mid = alice.message(to, 'to a bad address')
            else:
                mid = alice.new_id()
                alice.send("<iq type='get' id='%s' to='%s'><ping xmlns='%s'/></iq>"
                           % (mid, to, NS_PING))
            e = alice.expect(lambda x: x.tag == C(tag) and x.get('id') == mid,
                             what='an error for %r' % to)
            assert e.get('type') == 'error', dump(e)
            assert stanza_error(e) == ('modify', 'jid-malformed'), dump(e)

        fails.run('two @', case, 'a@b@localhost')
        fails.run('empty localpart', case, '@localhost')
        fails.run('empty resource', case, 'bob@localhost/')
        fails.run('1100-byte localpart', case, 'l' * 1100 + '@localhost')
        fails.run('1100-byte resource', case, 'bob@localhost/' + 'r' * 1100)
        fails.run('iq with empty domain', case, 'bob@', 'iq')
        fails.raise_if_any()
        alice.sync()
        assert not _msgs(bob), 'a message with a bad address was delivered'


def test_pipelined_stanzas_keep_their_order():
    """500 messages in one write all arrive, in order (RFC 6120 10.1)."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        alice.send(''.join("<message to='bob@localhost/b' type='chat' id='p%d'><body>%d</body>"
                           "</message>" % (i, i) for i in range(500)))
        got = [bob.expect(C('message'), timeout=10).get('id') for _ in range(500)]
        assert got == ['p%d' % i for i in range(500)], 'out of order: %s' % got[:40]


def test_escaping_round_trip():
    """What the server forwards parses to exactly what the sender sent:
    characters that XML normalises (tab, CR, LF in attributes; CR in text)
    must be written as character references."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        alice.send("<message to='bob@localhost/b' id='e&#9;s&#10;c&#13;' type='chat'>"
                   "<body>line1&#13;\nline2&#13;&#10;end ]]&gt; &lt;/body&gt;</body>"
                   "<x xmlns='urn:example:e' a='&quot;&apos;&lt;&gt;&amp;' b=\"'\" c='\"'/>"
                   "</message>")
        m = bob.expect(is_message(frm='alice@localhost/a'))
        assert m.get('id') == 'e\ts\nc\r', repr(m.get('id'))
        assert body_of(m) == 'line1\r\nline2\r\nend ]]> </body>', repr(body_of(m))
        x = m.find('{urn:example:e}x')
        assert (x.get('a'), x.get('b'), x.get('c')) == ('"\'<>&', "'", '"'), dump(x)


def test_offline_messages_wait_for_non_negative_priority():
    """XEP-0160: offline messages go to a session once it is available with
    a non-negative priority -- also when that happens by a presence update
    after an initial presence with a negative priority."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        alice.message('bob@localhost', 'waiting')
        alice.sync()
        bob = client(srv, 'bob', 'b', presence=False)
        bob.send("<presence><priority>-5</priority></presence>")
        bob.sync()
        assert not _msgs(bob), 'offline messages delivered to a negative priority'
        bob.send("<presence><priority>2</priority></presence>")
        m = bob.expect(is_message(body='waiting'))
        assert m.find('{%s}delay' % NS_DELAY) is not None, dump(m)


def test_unicode_localparts_end_to_end():
    """A UTF-8 localpart and password work for login, routing, offline
    storage and rosters (data directories escape such names).  (Case
    folding is ASCII-only by design, jid.h; only ASCII letters vary here.)"""
    users = {'alice@localhost': 'alice-pw',
             'j\u00fcrgen.m\u00fcller@localhost': 'p\u00e4ss w\u00f6rd',
             '\u4e2d\u6587@localhost': '\u5bc6\u7801'}
    with Server(users=users) as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        # Offline first: stored under the escaped name.
        alice.message('J\u00fcrgen.M\u00fcller@localhost', 'f\u00fcr dich')
        alice.message('\u4e2d\u6587@LOCALHOST', '\u4f60\u597d')
        alice.sync()
        assert not alice.take_all(C('message')), 'bounced'
        j = client(srv, 'j\u00fcrgen.m\u00fcller@localhost', 'j', presence=False)
        assert j.jid == 'j\u00fcrgen.m\u00fcller@localhost/j', j.jid
        j.send('<presence/>')
        m = j.expect(is_message(body='f\u00fcr dich'))
        assert m.find('{%s}delay' % NS_DELAY) is not None, dump(m)
        z = client(srv, '\u4e2d\u6587@localhost', '\u8d44\u6e90')
        assert z.jid == '\u4e2d\u6587@localhost/\u8d44\u6e90', z.jid
        z.expect(is_message(body='\u4f60\u597d'))
        # Live routing to the full JID, with a non-ASCII resource.
        alice.message('\u4e2d\u6587@localhost/\u8d44\u6e90', 'live')
        m = z.expect(is_message(body='live'))
        assert m.get('from') == 'alice@localhost/a', dump(m)
        z.message('alice@localhost/a', '\u56de\u590d')
        m = alice.expect(is_message(body='\u56de\u590d'))
        assert m.get('from') == '\u4e2d\u6587@localhost/\u8d44\u6e90', dump(m)
        # Roster items with such JIDs.
        r = alice.iq("<iq type='set'><query xmlns='jabber:iq:roster'><item "
                     "jid='j\u00fcrgen.m\u00fcller@localhost' name='J\u00fcrgen'/></query></iq>")
        assert r.get('type') == 'result', dump(r)
        items = alice.roster_items()
        assert items['j\u00fcrgen.m\u00fcller@localhost'].get('name') == 'J\u00fcrgen'
        # A wrong password is still wrong.
        bad = Raw(srv.c2s_port)
        bad.open()
        bad.starttls()
        el = bad.auth_plain('\u4e2d\u6587', '\u5bc6')
        assert el.tag == q(NS_SASL, 'failure'), dump(el)


def test_unavailable_resource_not_chosen_for_bare_jid():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        r1 = _login_prio(srv, 'bob', 'r1', 1)
        r2 = _login_prio(srv, 'bob', 'r2', 5)
        # r2 goes unavailable but stays connected.
        r2.send("<presence type='unavailable'/>")
        r2.sync()
        alice.message('bob@localhost', 'who gets this?')
        r1.expect(is_message(body='who gets this?'))
        assert not _msgs(r2, 'who gets this?'), 'delivered to an unavailable resource'
        # A message to its full JID still reaches it (RFC 6121 8.5.3.1).
        alice.message('bob@localhost/r2', 'direct to r2')
        r2.expect(is_message(body='direct to r2'))


def test_account_changes_apply_to_routing_without_restart():
    """Accounts added or deleted with the CLI while the server runs are
    routed accordingly at once."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        # dave does not exist yet: service-unavailable.
        mid = alice.message('dave@localhost', 'too early')
        _error_reply(alice, mid, 'dave@localhost')
        r = srv.cli('adduser', 'dave@localhost', input='dave-pw\n')
        assert r.returncode == 0, r.stderr
        srv.users['dave@localhost'] = 'dave-pw'
        alice.message('dave@localhost', 'welcome')
        alice.sync()
        assert not alice.take_all(C('message')), 'message to a new account bounced'
        dave = client(srv, 'dave', 'd', presence=False)
        dave.send('<presence/>')
        dave.expect(is_message(body='welcome'))
        # carol deleted: messages to her bounce, nothing is stored.
        r = srv.cli('deluser', 'carol@localhost')
        assert r.returncode == 0, r.stderr
        mid = alice.message('carol@localhost', 'anyone there?')
        _error_reply(alice, mid, 'carol@localhost')
