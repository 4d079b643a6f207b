"""
Message Carbons (XEP-0280, modules/carbons.c): slixmpp's xep_0280 plugin on
three resources of one account (two enabled) for received and sent copies,
then raw XML for the exact wrapper, which messages are copied (XEP-0280 6.1:
chat, normal with a body, IM payloads, invitations; never groupchat,
headline, MUC private messages from occupants, <private/> or <no-copy/>, nor
something that already is a carbon), messages between an account's own
resources, bounces, offline delivery, every refused enable/disable request
with its exact error, and the per-session state ending with the session.
"""

import asyncio
import logging
import os
import ssl

import slixmpp

from lib import Server
from rawxmpp import (
    C, NS_DISCO_INFO, Failures, body_of, client, dump, is_message, q, stanza_error,
)

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

NS_CARBONS = 'urn:xmpp:carbons:2'
NS_FORWARD = 'urn:xmpp:forward:0'
NS_HINTS = 'urn:xmpp:hints'
NS_MUC_USER = 'http://jabber.org/protocol/muc#user'
MODULES = 'roster, saslauth, tls, disco, ping, offline, carbons'
ALICE = 'alice@localhost'


def server(**kw):
    kw.setdefault('server', {'modules': MODULES})
    return Server(**kw)


# ---- raw helpers ----

def toggle(r, on=True, to=None):
    t = " to='%s'" % to if to else ''
    return r.iq("<iq type='set'%s><%s xmlns='%s'/></iq>"
                % (t, 'enable' if on else 'disable', NS_CARBONS))


def enable(r, on=True):
    rep = toggle(r, on)
    assert rep.get('type') == 'result', 'carbons %s: %s' % (on, dump(rep))
    assert list(rep) == [], 'result with a payload: %s' % dump(rep)
    assert rep.get('to') == r.jid, dump(rep)


def is_carbon(direction=None, body=None):
    """A carbon (any direction, or 'sent'/'received') whose inner message
    has that body."""
    def pred(e):
        if e.tag != C('message'):
            return False
        for d in ('sent', 'received'):
            w = e.find(q(NS_CARBONS, d))
            if w is None or (direction is not None and d != direction):
                continue
            inner = w.find('%s/%s' % (q(NS_FORWARD, 'forwarded'), C('message')))
            return body is None or (inner is not None and body_of(inner) == body)
        return False
    pred.desc = 'a %s carbon%s' % (direction or 'any', '' if body is None else ' of %r' % body)
    return pred


def unwrap(el, direction, to, mtype='chat'):
    """Check the wrapper exactly (XEP-0280 6/7: from the bare JID, to the
    receiving full JID, same type, DIRECTION > forwarded > message in
    jabber:client, nothing else) and return the inner message."""
    assert el.tag == C('message'), dump(el)
    assert el.get('from') == ALICE, 'carbon from %r: %s' % (el.get('from'), dump(el))
    assert el.get('to') == to, 'carbon to %r, expected %r: %s' % (el.get('to'), to, dump(el))
    assert el.get('type') == mtype, 'carbon type %r, expected %r: %s' % (
        el.get('type'), mtype, dump(el))
    kids = list(el)
    assert [k.tag for k in kids] == [q(NS_CARBONS, direction)], dump(el)
    assert kids[0].attrib == {}, dump(el)
    fw = list(kids[0])
    assert [k.tag for k in fw] == [q(NS_FORWARD, 'forwarded')], dump(el)
    inner = list(fw[0])
    assert [k.tag for k in inner] == [C('message')], dump(el)
    return inner[0]


def nothing(r, what):
    r.assert_nothing(C('message'), what=what)


def data_listing(srv):
    out = []
    for root, dirs, files in os.walk(srv.data_path):
        for f in files:
            p = os.path.join(root, f)
            with open(p, 'rb') as fh:
                out.append((os.path.relpath(p, srv.data_path), fh.read()))
    return sorted(out)


def offline_count(srv, user='alice'):
    d = os.path.join(srv.data_path, 'localhost', user, 'offline')
    return len(os.listdir(d)) if os.path.isdir(d) else 0


# ---- slixmpp ----

async def _none_answer(*args, **kwargs):
    return None


class Xc:
    """A slixmpp client with xep_0030 and xep_0280, and queues of the
    carbons and plain messages it got."""

    def __init__(self, clients, srv, jid, password):
        self.x = x = slixmpp.ClientXMPP(jid, password)
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.default_domain = x.boundjid.domain
        x._pick_dns_answer = _none_answer
        x.register_plugin('xep_0030')
        x.register_plugin('xep_0280')
        self.srv = srv
        self.session = asyncio.Event()
        self.received = asyncio.Queue()
        self.sent = asyncio.Queue()
        self.plain = asyncio.Queue()
        x.add_event_handler('session_start', lambda ev: self.session.set())
        x.add_event_handler('carbon_received', self.received.put_nowait)
        x.add_event_handler('carbon_sent', self.sent.put_nowait)
        x.add_event_handler('message', self._message)
        clients.append(self)

    def _message(self, m):
        if m.xml.find(q(NS_CARBONS, 'sent')) is None and \
                m.xml.find(q(NS_CARBONS, 'received')) is None:
            self.plain.put_nowait(m)

    @property
    def full(self):
        return str(self.x.boundjid.full)

    async def connect(self, priority=0):
        self.x.connect(address=('127.0.0.1', self.srv.c2s_port))
        await asyncio.wait_for(self.session.wait(), 10)
        self.x.send_presence(ppriority=priority)
        await self.ping()

    async def ping(self):
        iq = self.x.Iq()
        iq['type'] = 'get'
        iq['to'] = 'localhost'
        iq.xml.append(slixmpp.xmlstream.ET.Element('{urn:xmpp:ping}ping'))
        await iq.send(timeout=5)

    async def quiet(self, what):
        """After a round trip of our own, nothing new is queued."""
        await self.ping()
        await asyncio.sleep(0.05)
        for name, qu in (('received carbon', self.received), ('sent carbon', self.sent),
                         ('message', self.plain)):
            assert qu.empty(), '%s: %s got an unexpected %s: %s' % (
                what, self.full, name, qu.get_nowait())

    async def close(self):
        if self.x.transport is not None:
            try:
                await asyncio.wait_for(self.x.disconnect(wait=1), 3)
            except Exception:
                self.x.abort()


async def _get(qu, what):
    try:
        return await asyncio.wait_for(qu.get(), 5)
    except asyncio.TimeoutError:
        raise AssertionError('never got ' + what) from None


def _run(scenario, timeout=40):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clients = []
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(clients), timeout))
    finally:
        try:
            loop.run_until_complete(asyncio.wait_for(
                asyncio.gather(*(c.close() for c in clients), return_exceptions=True), 5))
        except Exception:
            pass
        for t in asyncio.all_tasks(loop):
            t.cancel()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        except Exception:
            pass
        loop.close()
        asyncio.set_event_loop(None)


def test_slixmpp_received_and_sent_copies():
    with server() as srv:
        async def scenario(clients):
            a1 = Xc(clients, srv, ALICE + '/a1', 'alice-pw')
            a2 = Xc(clients, srv, ALICE + '/a2', 'alice-pw')
            a3 = Xc(clients, srv, ALICE + '/a3', 'alice-pw')
            bob = Xc(clients, srv, 'bob@localhost/b', 'bob-pw')
            for c, prio in ((a1, 0), (a2, 0), (a3, 5), (bob, 0)):
                await c.connect(prio)
            info = await a1.x['xep_0030'].get_info(jid='localhost')
            assert NS_CARBONS in info['disco_info']['features'], info
            for c in (a1, a2):
                res = await c.x['xep_0280'].enable()
                assert res['type'] == 'result', res

            # To a full JID: the addressee gets the message, the other
            # enabled resources a copy; a3 has not enabled carbons.
            bob.x.send_message(mto=ALICE + '/a3', mbody='to a3', mtype='chat')
            m = await _get(a3.plain, 'the message at a3')
            assert m['body'] == 'to a3' and m['from'] == 'bob@localhost/b', m
            for c in (a1, a2):
                cm = await _get(c.received, 'a received carbon at ' + c.full)
                assert cm['from'] == ALICE and cm['to'] == c.full and cm['type'] == 'chat', cm
                inner = cm['carbon_received']
                assert inner['body'] == 'to a3', cm
                assert inner['from'] == 'bob@localhost/b' and inner['to'] == ALICE + '/a3', cm
            for c in (a1, a2, a3):
                await c.quiet('after a message to a3')

            # To an enabled resource: it gets the message and no copy.
            bob.x.send_message(mto=ALICE + '/a1', mbody='to a1', mtype='chat')
            m = await _get(a1.plain, 'the message at a1')
            assert m['body'] == 'to a1', m
            cm = await _get(a2.received, 'a received carbon at a2')
            assert cm['carbon_received']['body'] == 'to a1', cm
            for c in (a1, a2, a3):
                await c.quiet('after a message to a1')

            # To the bare JID: a3 has the highest priority (RFC 6121
            # 8.5.2.1.1), the enabled others get copies.
            bob.x.send_message(mto=ALICE, mbody='to bare', mtype='chat')
            m = await _get(a3.plain, 'the bare-JID message at a3')
            assert m['body'] == 'to bare', m
            for c in (a1, a2):
                cm = await _get(c.received, 'a received carbon of the bare-JID message')
                assert cm['carbon_received']['to'] == ALICE, cm
                assert cm['carbon_received']['body'] == 'to bare', cm
            for c in (a1, a2, a3):
                await c.quiet('after a message to the bare JID')

            # Sent by a3 (not enabled): copies go to a1 and a2 anyway.
            a3.x.send_message(mto='bob@localhost', mbody='from a3', mtype='chat')
            m = await _get(bob.plain, "a3's message at bob")
            assert m['from'] == ALICE + '/a3', m
            for c in (a1, a2):
                cm = await _get(c.sent, 'a sent carbon at ' + c.full)
                assert cm['from'] == ALICE and cm['to'] == c.full, cm
                inner = cm['carbon_sent']
                assert inner['body'] == 'from a3' and inner['from'] == ALICE + '/a3', cm
                assert inner['to'] == 'bob@localhost', cm
            for c in (a1, a2, a3):
                await c.quiet('after a message from a3')

            # Sent by a1: a2 gets a copy, a1 itself none.
            a1.x.send_message(mto='bob@localhost/b', mbody='from a1', mtype='chat')
            await _get(bob.plain, "a1's message at bob")
            cm = await _get(a2.sent, 'a sent carbon at a2')
            assert cm['carbon_sent']['body'] == 'from a1', cm
            for c in (a1, a2, a3):
                await c.quiet('after a message from a1')

            # a2 disables: only a1 still gets copies.
            res = await a2.x['xep_0280'].disable()
            assert res['type'] == 'result', res
            bob.x.send_message(mto=ALICE + '/a3', mbody='after disable', mtype='chat')
            await _get(a3.plain, 'the message at a3')
            cm = await _get(a1.received, 'a received carbon at a1')
            assert cm['carbon_received']['body'] == 'after disable', cm
            a3.x.send_message(mto='bob@localhost', mbody='sent after disable', mtype='chat')
            cm = await _get(a1.sent, 'a sent carbon at a1')
            assert cm['carbon_sent']['body'] == 'sent after disable', cm
            await _get(bob.plain, 'the message at bob')
            for c in (a1, a2, a3, bob):
                await c.quiet('after disable')
        _run(scenario)


# ---- raw XML ----

def _three(srv, enabled=('a1', 'a2')):
    rs = {res: client(srv, 'alice', res) for res in ('a1', 'a2', 'a3')}
    for res in enabled:
        enable(rs[res])
    for r in rs.values():
        r.drain(0.1)        # the others' initial presence
    return rs


def test_wrapper_is_exact():
    with server() as srv:
        rs = _three(srv)
        bob = client(srv, 'bob', 'b')
        bob.send("<message to='alice@localhost/a3' type='chat' id='m1' xml:lang='en'>"
                 "<body>one &amp; &lt;two&gt;</body><thread parent='p'>t1</thread>"
                 "<x xmlns='urn:example:ext' a='1'><y>z</y></x></message>")
        orig = rs['a3'].expect(is_message(body='one & <two>'))
        for res in ('a1', 'a2'):
            w = rs[res].expect(is_carbon('received'))
            inner = unwrap(w, 'received', ALICE + '/' + res)
            assert inner.attrib == orig.attrib, 'forwarded %r, delivered %r' % (
                inner.attrib, orig.attrib)
            assert inner.get('from') == 'bob@localhost/b' and inner.get('id') == 'm1', dump(inner)
            assert inner.get('{http://www.w3.org/XML/1998/namespace}lang') == 'en', dump(inner)
            assert [k.tag for k in inner] == [C('body'), C('thread'), '{urn:example:ext}x'], \
                dump(inner)
            assert body_of(inner) == 'one & <two>', dump(inner)
            th = inner.find(C('thread'))
            assert th.text == 't1' and th.get('parent') == 'p', dump(inner)
            ext = inner.find('{urn:example:ext}x')
            assert ext.get('a') == '1' and ext.find('{urn:example:ext}y').text == 'z', \
                dump(inner)
        # Type normal (no type attribute): the wrapper has none either.
        rs['a3'].send("<message to='bob@localhost/b' id='m2'><body>plain</body></message>")
        bob.expect(is_message(body='plain'))
        for res in ('a1', 'a2'):
            w = rs[res].expect(is_carbon('sent'))
            inner = unwrap(w, 'sent', ALICE + '/' + res, mtype=None)
            assert inner.attrib == {'to': 'bob@localhost/b', 'id': 'm2',
                                    'from': ALICE + '/a3'}, dump(inner)
        for r in rs.values():
            nothing(r, 'one copy each')


# (description, type, body, extra payload, copied?)
_CASES = [
    ('chat with a body', 'chat', 'b', '', True),
    ('chat state only', 'chat', None,
     "<composing xmlns='http://jabber.org/protocol/chatstates'/>", True),
    ('normal with a body, no type', None, 'b', '', True),
    ('normal with a body', 'normal', 'b', '', True),
    ('normal without a body', 'normal', None, "<x xmlns='urn:example:other'/>", False),
    ('receipt', None, None, "<received xmlns='urn:xmpp:receipts' id='r1'/>", True),
    ('chat marker', None, None, "<displayed xmlns='urn:xmpp:chat-markers:0' id='r1'/>", True),
    ('call proposal', None, None,
     "<propose xmlns='urn:xmpp:jingle-message:0' id='j1'>"
     "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>", True),
    ('direct invitation', None, None,
     "<x xmlns='jabber:x:conference' jid='room@conference.localhost'/>", True),
    ('mediated invitation', None, None,
     "<x xmlns='%s'><invite from='carol@localhost'/></x>" % NS_MUC_USER, True),
    ('headline with a body', 'headline', 'b', '', False),
    ('groupchat', 'groupchat', 'b', '', False),
    ('private', 'chat', 'b', "<private xmlns='%s'/>" % NS_CARBONS, False),
    ('private + no-copy', 'chat', 'b',
     "<private xmlns='%s'/><no-copy xmlns='%s'/>" % (NS_CARBONS, NS_HINTS), False),
    ('no-copy hint', 'chat', 'b', "<no-copy xmlns='%s'/>" % NS_HINTS, False),
    ('posing as a carbon', 'chat', None,
     "<received xmlns='%s'><forwarded xmlns='%s'><message xmlns='jabber:client' "
     "from='x@localhost/y' to='alice@localhost'><body>fake</body></message>"
     "</forwarded></received>" % (NS_CARBONS, NS_FORWARD), False),
    ('error', 'error', None,
     "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
     "</error>", False),
]


def _stanza(to, mtype, body, extra, id_):
    t = " type='%s'" % mtype if mtype else ''
    b = '<body>%s</body>' % body if body is not None else ''
    return "<message to='%s'%s id='%s'>%s%s</message>" % (to, t, id_, b, extra)


def _check_case(sender, addressee, watcher, direction, to, case, id_):
    desc, mtype, body, extra, copied = case
    sender.send(_stanza(to, mtype, body, extra, id_))
    got = addressee.expect(lambda e: e.tag == C('message') and e.get('id') == id_,
                           what='%s delivered' % desc)
    assert got.get('type') == mtype, dump(got)
    # XEP-0280 0.14: <private/> stays in the delivered message.
    if 'private' in extra:
        assert got.find(q(NS_CARBONS, 'private')) is not None, dump(got)
    sender.sync()
    watcher.sync()
    carbons = watcher.take_all(C('message'))
    if not copied:
        assert not carbons, '%s was copied: %s' % (desc, [dump(c) for c in carbons])
        return
    assert len(carbons) == 1, '%s: %d copies: %s' % (desc, len(carbons),
                                                    [dump(c) for c in carbons])
    inner = unwrap(carbons[0], direction, watcher.jid, mtype=mtype)
    assert inner.get('id') == id_, dump(inner)
    assert [k.tag for k in inner] == [k.tag for k in got], \
        'forwarded %s, delivered %s' % (dump(inner), dump(got))


def test_which_messages_are_copied():
    with server() as srv:
        rs = _three(srv, enabled=('a1',))
        bob = client(srv, 'bob', 'b')
        fails = Failures()
        for i, case in enumerate(_CASES):
            fails.run('inbound ' + case[0], _check_case, bob, rs['a3'], rs['a1'],
                      'received', ALICE + '/a3', case, 'in%d' % i)
        for i, case in enumerate(_CASES):
            fails.run('outbound ' + case[0], _check_case, rs['a3'], bob, rs['a1'],
                      'sent', 'bob@localhost/b', case, 'out%d' % i)
        # A private message from a MUC occupant is already copied by the
        # room; one a user sends to an occupant is copied.
        pm = ('MUC private message', 'chat', 'b', "<x xmlns='%s'/>" % NS_MUC_USER, False)
        fails.run('inbound MUC PM', _check_case, bob, rs['a3'], rs['a1'], 'received',
                  ALICE + '/a3', pm, 'pm1')
        fails.run('outbound MUC PM', _check_case, rs['a3'], bob, rs['a1'], 'sent',
                  'bob@localhost/b', pm[:4] + (True,), 'pm2')
        fails.raise_if_any()
        nothing(rs['a2'], 'copies for a resource that did not enable carbons')


def test_messages_between_own_resources():
    with server() as srv:
        rs = _three(srv, enabled=('a1', 'a2', 'a3'))
        a4 = client(srv, 'alice', 'a4', presence=False)
        a4.send('<presence><priority>5</priority></presence>')
        a4.sync()
        for r in rs.values():
            r.drain(0.1)
        a4.drain(0.1)
        a1, a2, a3 = rs['a1'], rs['a2'], rs['a3']

        # To another resource: it gets the message; the enabled resources
        # that neither sent nor got it get one <sent/> copy; no <received/>.
        a1.message(ALICE + '/a2', 'a1 to a2', id='s1')
        m = a2.expect(is_message(body='a1 to a2'))
        assert m.get('from') == ALICE + '/a1', dump(m)
        w = a3.expect(is_carbon())
        inner = unwrap(w, 'sent', ALICE + '/a3')
        assert inner.get('to') == ALICE + '/a2' and inner.get('from') == ALICE + '/a1', dump(w)
        for r in (a1, a2, a3, a4):
            nothing(r, 'one copy of a message to an own resource')

        # To the bare JID: a4 (priority 5) gets it, a2 and a3 a copy.
        a1.message(ALICE, 'a1 to bare', id='s2')
        a4.expect(is_message(body='a1 to bare'))
        for r in (a2, a3):
            inner = unwrap(r.expect(is_carbon()), 'sent', r.jid)
            assert inner.get('to') == ALICE and body_of(inner) == 'a1 to bare', dump(inner)
        for r in (a1, a2, a3, a4):
            nothing(r, 'copies of a message to the own bare JID')

        # Without 'to' it is for the bare JID too (RFC 6121 8.1.1.1).
        a2.send("<message type='chat' id='s3'><body>no to</body></message>")
        a4.expect(is_message(body='no to'))
        for r in (a1, a3):
            inner = unwrap(r.expect(is_carbon()), 'sent', r.jid)
            assert inner.get('to') == ALICE and inner.get('from') == ALICE + '/a2', dump(inner)
        for r in (a1, a2, a3, a4):
            nothing(r, 'copies of a message without to')


def test_bounce_and_offline():
    with server() as srv:
        rs = _three(srv, enabled=('a1',))
        a1, a3 = rs['a1'], rs['a3']
        # A message to no one: a1 sees the sent copy, then the bounce
        # (an error from a bare JID) as a received copy.
        a3.message('nobody@localhost', 'lost', id='lost1')
        err = a3.expect(lambda e: e.get('id') == 'lost1' and e.get('type') == 'error')
        assert stanza_error(err) == ('cancel', 'service-unavailable'), dump(err)
        s = unwrap(a1.expect(is_carbon('sent')), 'sent', a1.jid)
        assert s.get('to') == 'nobody@localhost' and body_of(s) == 'lost', dump(s)
        r = unwrap(a1.expect(is_carbon('received')), 'received', a1.jid, mtype='error')
        assert r.get('from') == 'nobody@localhost' and r.get('to') == ALICE + '/a3', dump(r)
        assert stanza_error(r) == ('cancel', 'service-unavailable'), dump(r)
        nothing(a1, 'more than the two copies')
        for r_ in rs.values():
            r_.finish()

    with server() as srv:
        # An enabled session that never sent presence takes no messages for
        # the bare JID: the message is stored, nobody gets a copy.
        a1 = client(srv, 'alice', 'a1', presence=False)
        a2 = client(srv, 'alice', 'a2', presence=False)
        enable(a1)
        enable(a2)
        bob = client(srv, 'bob', 'b')
        bob.message(ALICE, 'for later', id='off1')
        bob.sync()
        nothing(a1, 'a copy of an offline message')
        nothing(a2, 'a copy of an offline message')
        assert offline_count(srv) == 1, 'message not stored offline'


def _refused(r, xml, etype, cond, what):
    rep = r.iq(xml)
    assert rep.get('type') == 'error', '%s: %s' % (what, dump(rep))
    assert stanza_error(rep) == (etype, cond), '%s: %r: %s' % (what, stanza_error(rep),
                                                               dump(rep))
    assert list(rep) == [rep.find(C('error'))], '%s: request echoed: %s' % (what, dump(rep))


def test_refused_requests():
    with server() as srv:
        rs = _three(srv, enabled=())
        a1, a3 = rs['a1'], rs['a3']
        bob = client(srv, 'bob', 'b')
        before = data_listing(srv)
        E = "<enable xmlns='%s'/>" % NS_CARBONS
        fails = Failures()
        for what, xml, etype, cond in (
                ('get', "<iq type='get'>%s</iq>" % E, 'modify', 'bad-request'),
                ('get disable', "<iq type='get'><disable xmlns='%s'/></iq>" % NS_CARBONS,
                 'modify', 'bad-request'),
                ("another account's", "<iq type='set' to='bob@localhost'>%s</iq>" % E,
                 'cancel', 'service-unavailable'),
                ('the server', "<iq type='set' to='localhost'>%s</iq>" % E,
                 'cancel', 'service-unavailable'),
                ('unknown element', "<iq type='set'><enabled xmlns='%s'/></iq>" % NS_CARBONS,
                 'cancel', 'service-unavailable'),
                ('wrong namespace', "<iq type='set'><enable xmlns='urn:xmpp:carbons:1'/></iq>",
                 'cancel', 'service-unavailable'),
                ('child element', "<iq type='set'><enable xmlns='%s'><x/></enable></iq>"
                 % NS_CARBONS, 'modify', 'bad-request'),
                ('two payloads', "<iq type='set'>%s%s</iq>" % (E, E), 'modify', 'bad-request')):
            fails.run(what, _refused, a1, xml, etype, cond, what)
        # bob's request went nowhere near alice's sessions.
        fails.run('bob', _refused, bob, "<iq type='set' to='alice@localhost'>%s</iq>" % E,
                  'cancel', 'service-unavailable', 'bob for alice')
        fails.raise_if_any()
        # None of that enabled anything.
        bob.message(ALICE + '/a3', 'after refusals')
        a3.expect(is_message(body='after refusals'))
        for r in (a1, rs['a2']):
            nothing(r, 'a copy after refused requests')
        nothing(a3, 'extra stanzas')

        # Repeats are not errors (XEP-0280 9.1); to the own bare JID works.
        enable(a1, False)
        enable(a1)
        enable(a1)
        rep = toggle(rs['a2'], True, to=ALICE)
        assert rep.get('type') == 'result' and rep.get('from') == ALICE, dump(rep)
        bob.message(ALICE + '/a3', 'after enable')
        for r in (a1, rs['a2']):
            unwrap(r.expect(is_carbon('received')), 'received', r.jid)
            nothing(r, 'a second copy after two enables')
        enable(a1, False)
        enable(a1, False)
        bob.message(ALICE + '/a3', 'after disable')
        rs['a2'].expect(is_carbon('received', 'after disable'))
        nothing(a1, 'a copy after disable')
        assert data_listing(srv) == before, 'carbons wrote to the data directory'


def test_state_ends_with_the_session():
    with server() as srv:
        # a2 first: the account's record must outlive a1's session (the
        # router keeps pointers into the first session; see the report).
        a2 = client(srv, 'alice', 'a2')
        a1 = client(srv, 'alice', 'a1')
        enable(a1)
        a1.finish()
        a1 = client(srv, 'alice', 'a1')
        bob = client(srv, 'bob', 'b')
        a2.drain(0.1)
        bob.message(ALICE + '/a2', 'new session')
        a2.expect(is_message(body='new session'))
        nothing(a1, 'a copy for a new session with the same resource')

        # A session replaced by a new login (RFC 6120 7.7.2.2) does not
        # pass its state on either.
        enable(a1)
        a1b = client(srv, 'alice', 'a1')
        a1.closed()
        bob.message(ALICE + '/a2', 'replaced')
        a2.expect(is_message(body='replaced'))
        nothing(a1b, 'a copy for the replacing session')
        a2.finish()
        a1b.finish()
        bob.finish()


def test_module_not_enabled():
    with Server(server={'modules': 'roster, saslauth, tls, disco, ping, offline'}) as srv:
        a1 = client(srv, 'alice', 'a1')
        a2 = client(srv, 'alice', 'a2')
        _refused(a1, "<iq type='set'><enable xmlns='%s'/></iq>" % NS_CARBONS,
                 'cancel', 'service-unavailable', 'carbons off')
        rep = a1.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
        feats = {f.get('var') for f in rep.iter(q(NS_DISCO_INFO, 'feature'))}
        assert NS_CARBONS not in feats, feats
        a2.message('bob@localhost', 'x')
        nothing(a1, 'a copy with the module off')
