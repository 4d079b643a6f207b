"""
Client State Indication (XEP-0352, modules/csi.c): the stream feature, then
an inactive session that gets no presence updates or chat states until
something important (a message with a body, a subject, an encrypted payload,
a call, a carbon of such, a subscription request, an IQ) comes: held
stanzas first, in order; presence coalesced per sender; <active/> flushes;
the queue limits flush; stream errors for elements that are not CSI's; the
held queue freed with the session.  Driven by slixmpp's xep_0352 plugin and
raw XML.

An inactive client must not ping the server to sync (an IQ result is
important and flushes): the tests sync the senders instead (the server
writes the recipient's output in the same pass), then look at what arrived.
"""

import asyncio
import logging
import os
import ssl
import time

import slixmpp

from lib import Server
from rawxmpp import C, NS_STANZAS, Failures, Raw, body_of, client, dump, q

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

NS_CSI = 'urn:xmpp:csi:0'
NS_CHATSTATES = 'http://jabber.org/protocol/chatstates'
NS_CARBONS = 'urn:xmpp:carbons:2'
NS_FORWARD = 'urn:xmpp:forward:0'
MODULES = 'roster, saslauth, tls, disco, ping, offline, carbons, csi'
ALICE = 'alice@localhost'
PHONE = ALICE + '/phone'
INACTIVE = "<inactive xmlns='%s'/>" % NS_CSI
ACTIVE = "<active xmlns='%s'/>" % NS_CSI


def server(**kw):
    kw.setdefault('server', {'modules': MODULES})
    return Server(**kw)


def phone_and_friends(srv):
    """alice/phone (available, then inactive), alice/desk, bob, carol; all
    initial-presence traffic drained."""
    # desk first: the account's record must outlive phone's session (see
    # test_held_queue_dies_with_the_session).
    desk = client(srv, 'alice', 'desk')
    phone = client(srv, 'alice', 'phone')
    bob = client(srv, 'bob', 'b')
    carol = client(srv, 'carol', 'c')
    phone.drain(0.1)
    desk.drain(0.1)
    phone.send(INACTIVE)
    phone.sync()            # nothing held yet: the pong comes at once
    assert not phone.queue, [dump(e) for e in phone.queue]
    return phone, desk, bob, carol


def quiet(r, *senders, wait=0.2):
    """Nothing has reached r once everything the senders sent was handled."""
    for s in senders:
        s.sync()
    time.sleep(wait)
    got = r.drain(0.05)
    assert not got, 'conn %d (%s) got: %s' % (r.cid, r.jid, [dump(e) for e in got])


def directed(sender, status, to=PHONE, extra=''):
    sender.send("<presence to='%s'><status>%s</status>%s</presence>" % (to, status, extra))


def chat_state(sender, state='composing', to=PHONE, id_=None):
    i = " id='%s'" % id_ if id_ else ''
    sender.send("<message to='%s' type='chat'%s><%s xmlns='%s'/></message>"
                % (to, i, state, NS_CHATSTATES))


def describe(e):
    """A short, comparable summary of a stanza."""
    tag = e.tag.split('}')[1]
    if tag == 'presence':
        st = e.find(C('status'))
        return ('presence', e.get('from'), e.get('type'), None if st is None else st.text)
    if tag == 'message':
        kids = tuple(k.tag.split('}')[1] for k in e)
        return ('message', e.get('from'), body_of(e), kids)
    return (tag, e.get('from'), e.get('type'), e.get('id'))


def take(r, n, timeout=5):
    """Exactly the next n stanzas, in order."""
    return [describe(r.next(timeout)) for _ in range(n)]


def comp(frm, state='composing'):
    return ('message', frm, None, (state,))


# ---- the feature ----

def test_stream_feature():
    with server() as srv:
        r = Raw(srv.c2s_port)
        r.open()
        assert r.features.find(q(NS_CSI, 'csi')) is None, 'csi before TLS: %s' % dump(r.features)
        r.starttls()
        assert r.features.find(q(NS_CSI, 'csi')) is None, 'csi before auth: %s' % dump(r.features)
        r.auth_plain(ALICE, 'alice-pw')
        assert r.features.find(q(NS_CSI, 'csi')) is not None, dump(r.features)
        assert list(r.features.find(q(NS_CSI, 'csi'))) == [], dump(r.features)
        r.finish()
    with Server(server={'modules': 'roster, saslauth, tls, disco, ping, offline'}) as srv:
        r = Raw(srv.c2s_port)
        r.open()
        r.starttls()
        r.auth_plain(ALICE, 'alice-pw')
        assert r.features.find(q(NS_CSI, 'csi')) is None, dump(r.features)
        r.bind('x')
        # Without the module the element is not understood at all.
        r.send(INACTIVE)
        r.expect_stream_error('unsupported-stanza-type')


def test_elements_that_are_not_csi():
    with server() as srv:
        fails = Failures()

        def one(xml, what):
            r = client(srv, 'alice', 'x', presence=False)
            r.send(xml)
            r.expect_stream_error('unsupported-stanza-type')

        fails.run('other name', one, "<idle xmlns='%s'/>" % NS_CSI, 'idle')
        fails.run('other namespace', one, "<inactive xmlns='urn:xmpp:csi:1'/>", 'csi:1')
        fails.raise_if_any()

        # Before binding a resource there is no session to mark.
        r = Raw(srv.c2s_port)
        r.open()
        r.starttls()
        r.auth_plain(ALICE, 'alice-pw')
        r.send(INACTIVE)
        r.expect_stream_error('unsupported-stanza-type')

        # Repeats, attributes and children are harmless; no reply ever.
        r = client(srv, 'alice', 'y')
        for xml in (ACTIVE, ACTIVE, INACTIVE, INACTIVE,
                    "<inactive xmlns='%s' foo='bar'><x/></inactive>" % NS_CSI, ACTIVE):
            r.send(xml)
        r.sync()
        assert not r.queue, [dump(e) for e in r.queue]


# ---- holding and flushing ----

def test_presence_held_and_coalesced_until_a_message():
    with server() as srv:
        phone, desk, bob, carol = phone_and_friends(srv)
        # Each sender syncs before the next one starts: the order of
        # stanzas from different connections is otherwise the server's.
        for i in range(1, 6):
            directed(bob, 'bob %d' % i)
        bob.sync()
        desk.send('<presence><show>away</show><status>desk 1</status></presence>')
        desk.send('<presence><show>dnd</show><status>desk 2</status></presence>')
        desk.sync()
        chat_state(carol)
        directed(carol, 'carol 1')
        quiet(phone, bob, desk, carol)
        # A message with a body: what waited comes first, oldest first,
        # one presence per sender (the latest), then the message.
        carol.message(PHONE, 'wake up')
        got = take(phone, 5)
        assert got == [
            ('presence', 'bob@localhost/b', None, 'bob 5'),
            ('presence', ALICE + '/desk', None, 'desk 2'),
            comp('carol@localhost/c'),
            ('presence', 'carol@localhost/c', None, 'carol 1'),
            ('message', 'carol@localhost/c', 'wake up', ('body',)),
        ], got
        quiet(phone, bob, desk, carol)
        # Still inactive: the next update is held again.
        directed(bob, 'bob 6')
        quiet(phone, bob)
        # Unavailable replaces an available one, and is itself held.
        bob.send("<presence type='unavailable' to='%s'/>" % PHONE)
        quiet(phone, bob)
        phone.send(ACTIVE)
        got = take(phone, 1)
        assert got == [('presence', 'bob@localhost/b', 'unavailable', None)], got
        quiet(phone, bob)
        # Active: straight through.
        directed(bob, 'bob 7')
        assert take(phone, 1) == [('presence', 'bob@localhost/b', None, 'bob 7')]


def _data(srv):
    out = []
    for root, dirs, files in os.walk(srv.data_path):
        for f in files:
            with open(os.path.join(root, f), 'rb') as fh:
                out.append((os.path.join(root, f), fh.read()))
    return sorted(out)


def test_active_flushes_everything_in_order():
    with server() as srv:
        phone, desk, bob, carol = phone_and_friends(srv)
        before = _data(srv)
        chat_state(bob, 'composing')
        directed(bob, 'b1')
        chat_state(bob, 'paused')
        bob.sync()
        directed(carol, 'c1')
        carol.sync()
        directed(bob, 'b2')
        bob.send("<message to='%s'><received xmlns='urn:xmpp:receipts' id='r1'/></message>"
                 % PHONE)
        quiet(phone, bob, carol)
        phone.send(ACTIVE)
        phone.sync()
        got = [describe(e) for e in phone.take_all()]
        assert got == [
            comp('bob@localhost/b', 'composing'),
            comp('bob@localhost/b', 'paused'),
            ('presence', 'carol@localhost/c', None, 'c1'),
            ('presence', 'bob@localhost/b', None, 'b2'),
            ('message', 'bob@localhost/b', None, ('received',)),
        ], got
        chat_state(bob)
        bob.sync()
        assert take(phone, 1) == [comp('bob@localhost/b')]
        assert _data(srv) == before, 'holding stanzas wrote to the data directory'


def test_what_goes_out_at_once():
    with server() as srv:
        phone, desk, bob, carol = phone_and_friends(srv)
        fails = Failures()
        held = [0]

        def urgent(xml, expect, what):
            directed(carol, 'held %d' % held[0])
            quiet(phone, carol, wait=0.05)
            bob.send(xml)
            got = take(phone, 2)
            assert got[0] == ('presence', 'carol@localhost/c', None, 'held %d' % held[0]), \
                '%s: %r' % (what, got)
            assert got[1] == expect, '%s: %r' % (what, got)
            held[0] += 1
            quiet(phone, bob, carol, wait=0.05)

        B = 'bob@localhost/b'
        fails.run('subject', urgent, "<message to='%s' type='groupchat'><subject>s</subject>"
                  "</message>" % PHONE, ('message', B, None, ('subject',)), 'subject')
        fails.run('omemo', urgent, "<message to='%s' type='chat'><encrypted xmlns='"
                  "eu.siacs.conversations.axolotl'><header sid='1'/></encrypted></message>"
                  % PHONE, ('message', B, None, ('encrypted',)), 'omemo')
        fails.run('omemo 2', urgent, "<message to='%s' type='chat'><encrypted xmlns='"
                  "urn:xmpp:omemo:2'/></message>" % PHONE,
                  ('message', B, None, ('encrypted',)), 'omemo2')
        fails.run('call', urgent, "<message to='%s'><propose xmlns='urn:xmpp:jingle-message:0'"
                  " id='j'/></message>" % PHONE, ('message', B, None, ('propose',)), 'call')
        fails.run('body', urgent, "<message to='%s' type='chat'><body>hi</body><active xmlns="
                  "'%s'/></message>" % (PHONE, NS_CHATSTATES),
                  ('message', B, 'hi', ('body', 'active')), 'body')
        fails.run('headline body', urgent, "<message to='%s' type='headline'><body>news</body>"
                  "</message>" % PHONE, ('message', B, 'news', ('body',)), 'headline')
        fails.run('subscription request', urgent,
                  "<presence to='alice@localhost' type='subscribe'/>",
                  ('presence', 'bob@localhost', 'subscribe', None), 'subscribe')
        # An IQ for the phone (a contact's IQ to its full JID).
        fails.run('iq', urgent, "<iq type='get' to='%s' id='q1'><query xmlns='jabber:iq:"
                  "version'/></iq>" % PHONE, ('iq', B, 'get', 'q1'), 'iq')
        fails.raise_if_any()
        # The phone's own request: the reply flushes what waited.
        directed(carol, 'before pong')
        quiet(phone, carol, wait=0.05)
        phone.send("<iq type='get' id='pp' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        got = take(phone, 2)
        assert got == [('presence', 'carol@localhost/c', None, 'before pong'),
                       ('iq', 'localhost', 'result', 'pp')], got

        # Still held: a message with nothing for the user, an error.
        for xml in ("<message to='%s' type='chat'><gone xmlns='%s'/></message>"
                    % (PHONE, NS_CHATSTATES),
                    "<message to='%s' type='chat'><displayed xmlns='urn:xmpp:chat-markers:0'"
                    " id='x'/></message>" % PHONE,
                    "<message to='%s' type='error'><error type='cancel'><gone xmlns='%s'/>"
                    "</error></message>" % (PHONE, NS_STANZAS),
                    "<presence to='%s' type='error'><error type='cancel'><gone xmlns='%s'/>"
                    "</error></presence>" % (PHONE, NS_STANZAS)):
            bob.send(xml)
        quiet(phone, bob)
        phone.send(ACTIVE)
        got = take(phone, 4)
        assert [g[0] for g in got] == ['message', 'message', 'message', 'presence'], got


def test_carbons_through_csi():
    with server() as srv:
        phone = client(srv, 'alice', 'phone')
        desk = client(srv, 'alice', 'desk')
        bob = client(srv, 'bob', 'b')
        r = phone.iq("<iq type='set'><enable xmlns='%s'/></iq>" % NS_CARBONS)
        assert r.get('type') == 'result', dump(r)
        phone.drain(0.1)
        phone.send(INACTIVE)
        phone.sync()
        # A carbon of a chat state waits, a carbon of a message does not.
        desk.send("<message to='bob@localhost' type='chat'><composing xmlns='%s'/></message>"
                  % NS_CHATSTATES)
        quiet(phone, desk)
        desk.message('bob@localhost', 'sent from desk')
        first, second = phone.next(), phone.next()
        for w, kid in ((first, 'composing'), (second, 'body')):
            inner = w.find('%s/%s/%s' % (q(NS_CARBONS, 'sent'), q(NS_FORWARD, 'forwarded'),
                                         C('message')))
            assert inner is not None and inner[0].tag.endswith('}' + kid), dump(w)
        bob.message(ALICE + '/desk', 'to desk')
        w = phone.next()
        assert w.find(q(NS_CARBONS, 'received')) is not None, dump(w)


def test_queue_limits():
    with server(extra_ini='[csi]\nmax_queued = 5\n') as srv:
        phone, desk, bob, carol = phone_and_friends(srv)
        for i in range(5):
            chat_state(bob, id_='s%d' % i)
        quiet(phone, bob)
        chat_state(bob, id_='s5')
        bob.sync()
        ids = [phone.next().get('id') for _ in range(6)]
        assert ids == ['s%d' % i for i in range(6)], ids
        # Counting starts again; coalesced presence does not add up.
        for i in range(20):
            directed(bob, 'p%d' % i)
        for i in range(4):
            chat_state(bob, id_='t%d' % i)
        quiet(phone, bob)
        chat_state(bob, id_='t4')
        bob.sync()
        got = take(phone, 6)
        assert got[0] == ('presence', 'bob@localhost/b', None, 'p19'), got
        assert [g[0] for g in got[1:]] == ['message'] * 5, got

    with server(extra_ini='[csi]\nmax_queued_bytes = 64K\n') as srv:
        phone, desk, bob, carol = phone_and_friends(srv)
        big = 'x' * 40000
        bob.send("<message to='%s' id='big1'><x xmlns='urn:example:blob'>%s</x></message>"
                 % (PHONE, big))
        quiet(phone, bob)
        bob.send("<message to='%s' id='big2'><x xmlns='urn:example:blob'>%s</x></message>"
                 % (PHONE, big))
        bob.sync()
        got = [phone.next() for _ in range(2)]
        assert [e.get('id') for e in got] == ['big1', 'big2'], [dump(e)[:200] for e in got]
        assert got[1].find('{urn:example:blob}x').text == big


def test_held_queue_dies_with_the_session():
    with server() as srv:
        phone, desk, bob, carol = phone_and_friends(srv)
        for i in range(30):
            directed(bob, 'p%d' % i)
            chat_state(carol, id_='c%d' % i)
        quiet(phone, bob, carol)
        phone.finish()
        # A new session with the same resource starts active.
        phone = client(srv, 'alice', 'phone')
        phone.drain(0.1)
        directed(bob, 'fresh')
        bob.sync()
        assert take(phone, 1) == [('presence', 'bob@localhost/b', None, 'fresh')]
        # An inactive session that is replaced or cut off frees its queue
        # too (the sanitizer build checks for leaks at exit).
        phone.send(INACTIVE)
        phone.sync()
        directed(bob, 'held')
        chat_state(carol)
        quiet(phone, bob, carol)
        client(srv, 'alice', 'phone')
        phone.closed()
        phone3 = client(srv, 'alice', 'other')
        phone3.send(INACTIVE)
        phone3.sync()
        directed(bob, 'held again', to=ALICE + '/other')
        bob.sync()
        phone3.close()


def test_flush_to_a_slow_consumer():
    # A flush bigger than the phone's output queue may hold closes it as a
    # slow consumer in the middle of the flush; the rest of the queue and
    # the stanza that caused the flush are dropped with the session.
    with server(limits={'max_stanza_size': 65536, 'output_hard_limit': 131072,
                        'output_high_water': 65536},
                extra_ini='[csi]\nmax_queued_bytes = 4M\n') as srv:
        phone, desk, bob, carol = phone_and_friends(srv)
        r = desk.iq("<iq type='set'><enable xmlns='%s'/></iq>" % NS_CARBONS)
        assert r.get('type') == 'result', dump(r)
        blob = 'y' * 30000
        for i in range(8):
            bob.send("<message to='%s' id='b%d'><x xmlns='urn:example:blob'>%s</x></message>"
                     % (PHONE, i, blob))
        quiet(phone, bob)
        mark = len(srv.log())
        bob.message(PHONE, 'too much at once')
        bob.sync()
        assert srv.wait_log('closing slow consumer', start=mark), srv.log_tail(20)
        assert phone.closed(), 'phone still connected'
        # Everyone else carries on.  The phone is closed at the end of the
        # pass that overflowed it (never in the middle of a delivery), so
        # the message counted as delivered and desk has its carbon copy:
        # the text is not lost to the user.
        desk.expect(lambda e: e.tag == C('message') and 'too much at once' in
                    ''.join(e.itertext()), what='the carbon of the message')
        phone = client(srv, 'alice', 'phone')
        bob.message(PHONE, 'again')
        assert body_of(phone.expect(C('message'))) == 'again'


def test_settings_are_checked():
    srv = Server(start=False, server={'modules': MODULES})
    try:
        for ini, msg in (
                ('max_queued = 0', '[csi] max_queued: expected a whole number from 1 to 10000'),
                ('max_queued = 10001', 'max_queued: expected a whole number from 1 to 10000'),
                ('max_queued = 5x', "not '5x'"),
                ('max_queued = 5K', "max_queued: expected a whole number from 1 to 10000, "
                 "not '5K'"),
                ('max_queued = -1', "not '-1'"),
                ('max_queued = ', 'max_queued: expected a whole number'),
                ('max_queued_bytes = 4095', 'max_queued_bytes: expected a whole number from '
                 "4096 to 16777216 (bytes; K and M suffixes allowed), not '4095'"),
                ('max_queued_bytes = 3K', "not '3K'"),
                ('max_queued_bytes = 17M', "not '17M'"),
                ('max_queued_bytes = 1G', "not '1G'"),
                ('max_queued_bytes = 99999999999999999999999', 'max_queued_bytes: expected'),
                ('hold_presence = no', "unknown key 'hold_presence' in [csi] (known: "
                 "max_queued, max_queued_bytes)")):
            srv.extra_ini = '[csi]\n%s\n' % ini
            srv.write_config()
            r = srv.cli('check', 'config')
            assert r.returncode == 2, '%s: exit %d: %s' % (ini, r.returncode, r.stderr)
            assert msg in r.stderr, '%s: %s' % (ini, r.stderr)
            lines = [x.rstrip() for x in srv.config_text().splitlines()]
            assert ':%d:' % (lines.index(ini.rstrip()) + 1) in r.stderr, \
                '%s: no line number: %s' % (ini, r.stderr)
        for good in ('max_queued = 10000\nmax_queued_bytes = 4096',
                     'max_queued = 1\nmax_queued_bytes = 4k', 'max_queued_bytes = 512K',
                     'max_queued_bytes = 16M'):
            srv.extra_ini = '[csi]\n%s\n' % good
            srv.write_config()
            r = srv.cli('check', 'config')
            assert r.returncode == 0, '%s: %s' % (good, r.stderr)
    finally:
        srv.cleanup()


# ---- slixmpp ----

async def _none_answer(*args, **kwargs):
    return None


def test_slixmpp_inactive_and_active():
    with server() as srv:
        bob = client(srv, 'bob', 'b')

        async def scenario():
            x = slixmpp.ClientXMPP(PHONE, 'alice-pw')
            x.ssl_context.check_hostname = False
            x.ssl_context.verify_mode = ssl.CERT_NONE
            x.default_domain = 'localhost'
            x._pick_dns_answer = _none_answer
            x.register_plugin('xep_0352')
            got = asyncio.Queue()
            started = asyncio.Event()
            x.add_event_handler('session_start', lambda ev: started.set())
            x.add_event_handler('presence', got.put_nowait)
            x.add_event_handler('message', got.put_nowait)
            x.connect(address=('127.0.0.1', srv.c2s_port))
            try:
                await asyncio.wait_for(started.wait(), 10)
                assert x['xep_0352'].enabled, 'slixmpp did not see the csi feature'
                x.send_presence()
                await asyncio.sleep(0.2)
                while not got.empty():
                    got.get_nowait()
                x['xep_0352'].send_inactive()
                # A round trip: the server has read <inactive/> (nothing
                # is held yet, so the answer is not delayed).
                iq = x.Iq()
                iq['type'] = 'get'
                iq['to'] = 'localhost'
                iq.xml.append(slixmpp.xmlstream.ET.Element('{urn:xmpp:ping}ping'))
                await iq.send(timeout=5)
                for i in range(5):
                    directed(bob, 's%d' % i)
                bob.sync()
                await asyncio.sleep(0.3)
                assert got.empty(), 'inactive client got %s' % got.get_nowait()
                bob.message(PHONE, 'ring')
                bob.sync()
                p = await asyncio.wait_for(got.get(), 5)
                m = await asyncio.wait_for(got.get(), 5)
                assert p.name == 'presence' and p['status'] == 's4', p
                assert m.name == 'message' and m['body'] == 'ring', m
                assert got.empty()
                directed(bob, 'later')
                bob.sync()
                await asyncio.sleep(0.3)
                assert got.empty(), 'held presence delivered early'
                x['xep_0352'].send_active()
                p = await asyncio.wait_for(got.get(), 5)
                assert p['status'] == 'later', p
            finally:
                try:
                    await asyncio.wait_for(x.disconnect(wait=1), 3)
                except Exception:
                    x.abort()

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(asyncio.wait_for(scenario(), 30))
        finally:
            for t in asyncio.all_tasks(loop):
                t.cancel()
            try:
                loop.run_until_complete(asyncio.sleep(0))
            except Exception:
                pass
            loop.close()
            asyncio.set_event_loop(None)
