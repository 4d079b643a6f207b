"""
Privacy lists (XEP-0016) and the blocking command (XEP-0191), which share one
stored model: the blocklist is the default privacy list's jid/deny items.

Real-client flows use python3-slixmpp's xep_0191 plugin and the stanza
classes of its xep_0016 plugin (whose helper methods do not send or return
anything, so the tests send the IQs themselves).  Protocol edges, malformed
and unauthorised requests use raw XML; every rejected request is checked to
leave the stored `privacy` file exactly as it was.

Naming: alice is the user who sets rules, bob and carol are contacts.
"""

import asyncio
import logging
import os
import ssl
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError

from lib import Server
import sxlib
from sxlib import expect_none, close_client
from rawxmpp import (
    C, NS_STANZAS, Failures, client, dump, is_message, is_presence, q, stanza_error,
)

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

MODULES = 'roster, saslauth, tls, disco, ping, offline, privacy, blocklist'
NS_PRIV = 'jabber:iq:privacy'
NS_BLOCK = 'urn:xmpp:blocking'
NS_BLOCK_ERR = 'urn:xmpp:blocking:errors'
NS_ROSTER = 'jabber:iq:roster'
NS_DISCO = 'http://jabber.org/protocol/disco#info'
NS_VERSION = 'jabber:iq:version'

def run_scenario(scenario, timeout=40):
    return sxlib.run_scenario(scenario, timeout)


def _server(**kw):
    server = dict(kw.pop('server', {}))
    server.setdefault('modules', MODULES)
    return Server(server=server, **kw)


# ---- raw helpers ----

def _item(action='deny', order=1, type=None, value=None, kinds=()):
    a = ''
    if type is not None:
        a += " type='%s'" % type
    if value is not None:
        a += " value='%s'" % value
    a += " action='%s' order='%s'" % (action, order)
    inner = ''.join('<%s/>' % k for k in kinds)
    return '<item%s>%s</item>' % (a, inner) if inner else '<item%s/>' % a


def _list(name, *items):
    return "<list name='%s'>%s</list>" % (name, ''.join(items))


def _pset(r, inner):
    return r.iq("<iq type='set'><query xmlns='%s'>%s</query></iq>" % (NS_PRIV, inner))


def _pget(r, inner=''):
    return r.iq("<iq type='get'><query xmlns='%s'>%s</query></iq>" % (NS_PRIV, inner))


def _ok(reply, what):
    assert reply.get('type') == 'result', '%s: %s' % (what, dump(reply))
    return reply


def _err(reply, cond, what, etype=None):
    got = stanza_error(reply)
    assert reply.get('type') == 'error' and got[1] == cond, (
        '%s: expected error %s, got %s' % (what, cond, dump(reply)))
    if etype is not None:
        assert got[0] == etype, '%s: error type %r, expected %r' % (what, got[0], etype)


def _names(r):
    """(active, default, [list names]) from a names request."""
    res = _ok(_pget(r), 'get list names')
    qe = res.find(q(NS_PRIV, 'query'))
    assert qe is not None, dump(res)
    act = qe.find(q(NS_PRIV, 'active'))
    dfl = qe.find(q(NS_PRIV, 'default'))
    lists = [e.get('name') for e in qe.findall(q(NS_PRIV, 'list'))]
    for e in qe.findall(q(NS_PRIV, 'list')):
        assert len(e) == 0, 'names request returned items: %s' % dump(res)
    return (act.get('name') if act is not None else None,
            dfl.get('name') if dfl is not None else None, lists)


def _items(r, name):
    """The items of list name as tuples (type, value, action, order, kinds)."""
    res = _ok(_pget(r, "<list name='%s'/>" % name), 'get list %s' % name)
    lists = res.find(q(NS_PRIV, 'query')).findall(q(NS_PRIV, 'list'))
    assert len(lists) == 1 and lists[0].get('name') == name, dump(res)
    out = []
    for it in lists[0].findall(q(NS_PRIV, 'item')):
        kinds = tuple(sorted(c.tag.split('}')[1] for c in it))
        out.append((it.get('type'), it.get('value'), it.get('action'), it.get('order'), kinds))
    return out


def _blocklist(r):
    res = _ok(r.iq("<iq type='get'><blocklist xmlns='%s'/></iq>" % NS_BLOCK), 'blocklist get')
    bl = res.find(q(NS_BLOCK, 'blocklist'))
    assert bl is not None, 'no <blocklist/> in %s' % dump(res)
    return [i.get('jid') for i in bl.findall(q(NS_BLOCK, 'item'))]


def _block(r, *jids, what='block'):
    items = ''.join("<item jid='%s'/>" % j for j in jids)
    return r.iq("<iq type='set'><%s xmlns='%s'>%s</%s></iq>" % (what, NS_BLOCK, items, what))


def is_privacy_push(name):
    def pred(e):
        if e.tag != C('iq') or e.get('type') != 'set':
            return False
        qe = e.find(q(NS_PRIV, 'query'))
        if qe is None:
            return False
        ls = qe.findall(q(NS_PRIV, 'list'))
        return len(ls) == 1 and ls[0].get('name') == name
    return pred


def is_block_push(what, jids=None):
    def pred(e):
        if e.tag != C('iq') or e.get('type') != 'set':
            return False
        b = e.find(q(NS_BLOCK, what))
        if b is None:
            return False
        if jids is None:
            return True
        return sorted(i.get('jid') for i in b.findall(q(NS_BLOCK, 'item'))) == sorted(jids)
    return pred


def _expect_push(r, pred, what):
    push = r.expect(pred, what=what)
    assert push.get('to') == r.jid, 'push to %r on %s: %s' % (push.get('to'), r.jid, dump(push))
    assert push.get('from') in (None, r.jid.split('/')[0]), 'push from %r' % push.get('from')
    r.send("<iq type='result' id='%s'/>" % push.get('id'))
    return push


def _msg_error(r, frm, cond, what):
    """The error bounce of a message, from frm, with that condition."""
    e = r.expect(lambda m: m.tag == C('message') and m.get('type') == 'error'
                 and (m.get('from') or '').split('/')[0] == frm,
                 what='a message error from %s (%s)' % (frm, what))
    _err(e, cond, what)
    return e


def _bye(*rs):
    """Close streams politely and wait until the server has let go."""
    for r in rs:
        r.stream_close()
    for r in rs:
        r.closed(timeout=5)
        r.close()


def _befriend(srv, x, y, groups_x=()):
    """Mutual subscription between accounts x and y (x's roster item for y
    gets groups_x), made over the protocol by short-lived sessions."""
    xj, yj = x + '@localhost', y + '@localhost'
    rx = client(srv, x, 'setup', presence=False)
    ry = client(srv, y, 'setup', presence=False)
    for (a, b, bj, aj) in ((rx, ry, yj, xj), (ry, rx, xj, yj)):
        a.send("<presence to='%s' type='subscribe'/>" % bj)
        a.sync()
        b.send("<presence to='%s' type='subscribed'/>" % aj)
        b.sync()
    if groups_x:
        g = ''.join('<group>%s</group>' % n for n in groups_x)
        _ok(rx.iq("<iq type='set'><query xmlns='%s'><item jid='%s'>%s</item></query></iq>"
                  % (NS_ROSTER, yj, g)), 'roster set with groups')
    for r, j in ((rx, yj), (ry, xj)):
        it = r.roster_items().get(j)
        assert it is not None and it.get('subscription') == 'both', \
            'setup: %s has %s as %s' % (r.jid, j, dump(it))
    _bye(rx, ry)


def _privacy_file(srv, user='alice'):
    p = os.path.join(srv.data_path, 'localhost', user, 'privacy')
    try:
        with open(p, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def _stored(srv, user='alice'):
    data = _privacy_file(srv, user)
    assert data is not None, 'no privacy file for %s' % user
    root = ET.fromstring(data)
    assert root.tag == q(NS_PRIV, 'privacy') and root.get('version') == '1', data
    return root


def _got_message(r, frm, body):
    m = r.expect(is_message(body=body), what='message %r' % body)
    assert (m.get('from') or '').split('/')[0] == frm, dump(m)
    assert m.get('type') != 'error', dump(m)


# ---- real client: XEP-0191 with slixmpp ----

class Client:
    """A slixmpp ClientXMPP with the blocking plugin and queues."""

    def __init__(self, clients, srv, jid, password):
        self.x = x = slixmpp.ClientXMPP(jid, password)
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.default_domain = x.boundjid.domain

        async def no_dns(*a, **k):
            return None
        x._pick_dns_answer = no_dns
        x.auto_authorize = None
        x.auto_subscribe = False
        x.register_plugin('xep_0030')
        x.register_plugin('xep_0191')
        self.srv = srv
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.blocks = asyncio.Queue()
        self.session = asyncio.Event()
        # Every message and presence, errors and unavailable included.
        x.register_handler(slixmpp.Callback(
            'test messages', slixmpp.MatchXPath('{jabber:client}message'),
            lambda st: self.messages.put_nowait(st)))
        x.register_handler(slixmpp.Callback(
            'test presences', slixmpp.MatchXPath('{jabber:client}presence'),
            lambda st: self.presences.put_nowait(st)))
        x.add_event_handler('blocked', lambda iq: self.blocks.put_nowait(('block', iq)))
        x.add_event_handler('unblocked', lambda iq: self.blocks.put_nowait(('unblock', iq)))
        x.add_event_handler('session_start', lambda ev: self.session.set())
        clients.append(self)

    @property
    def full(self):
        return str(self.x.boundjid.full)

    async def connect(self):
        self.x.connect(address=('127.0.0.1', self.srv.c2s_port))
        await asyncio.wait_for(self.session.wait(), 10)

    async def close(self):
        await close_client(self.x)


async def expect(queue, pred, what, timeout=5):
    """The first stanza in queue that satisfies pred; the others stay
    queued (stanzas from different sessions arrive in any order)."""
    loop = asyncio.get_event_loop()
    deadline = loop.time() + timeout
    seen = []
    try:
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError('never received %s; got instead: %s'
                                     % (what, [str(s)[:300] for s in seen][-5:]))
            try:
                st = await asyncio.wait_for(queue.get(), left)
            except asyncio.TimeoutError:
                continue
            if pred(st):
                return st
            seen.append(st)
    finally:
        for st in seen:
            queue.put_nowait(st)


def _pres(frm, ptype=None):
    """Presence from the full JID frm of that type ('available' = none)."""
    def pred(p):
        return str(p['from']) == frm and p['type'] == (ptype or 'available')
    return pred


def _push_items(ev):
    what, iq = ev
    return what, sorted(str(j) for j in iq[what]['items'])


def test_blocking_with_slixmpp():
    """XEP-0191 end to end: block, what each side sees, unblock."""
    with _server() as srv:
        _befriend(srv, 'alice', 'bob')
        raw_a3 = None

        async def scenario(clients):
            nonlocal raw_a3
            a = Client(clients, srv, 'alice@localhost/phone', 'alice-pw')
            a2 = Client(clients, srv, 'alice@localhost/laptop', 'alice-pw')
            b = Client(clients, srv, 'bob@localhost/desk', 'bob-pw')
            for c in (a, a2, b):
                await c.connect()
            for c in (a, a2, b):
                c.x.send_presence()
            for frm in (a.full, a2.full):
                await expect(b.presences, _pres(frm), 'presence of %s at bob' % frm)
            for c in (a, a2):
                await expect(c.presences, _pres(b.full), 'bob available at %s' % c.full)
            # A third resource that never asks for the blocklist.
            raw_a3 = client(srv, 'alice', 'raw', presence=False)

            for c in (a, a2):
                res = await c.x['xep_0191'].get_blocked(timeout=5)
                assert res['type'] == 'result' and set(res['blocklist']['items']) == set(), \
                    'fresh blocklist: %s' % res

            res = await a.x['xep_0191'].block('bob@localhost', timeout=5)
            assert res['type'] == 'result', str(res)
            for c in (a, a2):
                ev = await expect(c.blocks, lambda e: e[0] == 'block', 'block push at ' + c.full)
                assert _push_items(ev) == ('block', ['bob@localhost']), ev
            # bob: alice's resources go offline for him.
            for frm in (a.full, a2.full):
                await expect(b.presences, _pres(frm, 'unavailable'),
                             'unavailable from %s at bob' % frm)
            # alice: bob looks offline too (presence-in is covered).
            for c in (a, a2):
                await expect(c.presences, _pres(b.full, 'unavailable'),
                             'bob unavailable at %s' % c.full)

            # bob's message bounces with service-unavailable; alice sees nothing.
            b.x.send_message(mto='alice@localhost', mbody='let me in', mtype='chat')
            err = await expect(b.messages, lambda m: m['type'] == 'error', 'bounce at bob')
            assert err['error']['condition'] == 'service-unavailable', str(err)
            assert str(err['from']).split('/')[0] == 'alice@localhost', str(err)
            # alice's message to bob: not-acceptable with <blocked/>.
            a.x.send_message(mto='bob@localhost', mbody='go away', mtype='chat')
            err = await expect(a.messages, lambda m: m['type'] == 'error', 'bounce at alice')
            assert err['error']['condition'] == 'not-acceptable', str(err)
            assert err.xml.find('{jabber:client}error/{%s}blocked' % NS_BLOCK_ERR) is not None, \
                'no <blocked/> in %s' % err
            assert str(err['from']) == 'bob@localhost', str(err)
            # bob's IQ to one of alice's resources: service-unavailable.
            iq = b.x.make_iq_get(queryxmlns=NS_VERSION, ito=a.full)
            try:
                await iq.send(timeout=5)
                raise AssertionError('IQ from a blocked contact was answered')
            except IqError as e:
                assert e.iq['error']['condition'] == 'service-unavailable', str(e.iq)
            # Presence changes cross the block in neither direction.
            a.x.send_presence(pstatus='not for bob')
            await expect_none(b.presences, lambda p: str(p['from']).startswith('alice@'),
                              'a presence broadcast to the blocked contact')
            b.x.send_presence(pstatus='knocking')
            for c in (a, a2):
                await expect_none(c.messages, lambda m: m['body'] == 'let me in',
                                  'message from the blocked contact')
                await expect_none(c.presences, lambda p: str(p['from']) == b.full,
                                  'presence from the blocked contact')
            res = await a2.x['xep_0191'].get_blocked(timeout=5)
            assert set(str(j) for j in res['blocklist']['items']) == {'bob@localhost'}, str(res)

            # Unblock: pushes, presence flows again both ways, messages too.
            res = await a2.x['xep_0191'].unblock('bob@localhost', timeout=5)
            assert res['type'] == 'result', str(res)
            for c in (a, a2):
                ev = await expect(c.blocks, lambda e: e[0] == 'unblock', 'unblock push')
                assert _push_items(ev) == ('unblock', ['bob@localhost']), ev
            for frm in (a.full, a2.full):
                p = await expect(b.presences, _pres(frm), 'alice back at bob: %s' % frm)
                if frm == a.full:
                    assert p['status'] == 'not for bob', str(p)
            for c in (a, a2):
                await expect(c.presences, lambda p: str(p['from']) == b.full
                             and p['type'] == 'available' and p['status'] == 'knocking',
                             'bob back at %s' % c.full)
            b.x.send_message(mto='alice@localhost', mbody='hello again', mtype='chat')
            await expect(a.messages, lambda m: m['body'] == 'hello again', 'message after unblock')
            res = await a.x['xep_0191'].get_blocked(timeout=5)
            assert set(res['blocklist']['items']) == set(), str(res)

        run_scenario(scenario)
        # The resource that never asked for the blocklist got no block pushes
        # (XEP-0191 3.3), but the privacy list pushes of XEP-0016 2.2.
        raw_a3.sync()
        assert not raw_a3.take_all(is_block_push('block')), 'block push to a resource not asking'
        assert not raw_a3.take_all(is_block_push('unblock')), 'unblock push to uninterested'
        assert raw_a3.take_all(is_privacy_push('blocklist')), 'no privacy list push'
        raw_a3.close()
        root = _stored(srv)
        assert root.find(q(NS_PRIV, 'default')).get('name') == 'blocklist', ET.tostring(root)
        assert root.find(q(NS_PRIV, 'list')).findall(q(NS_PRIV, 'item')) == [], ET.tostring(root)


def test_block_several_and_unblock_all_with_slixmpp():
    with _server() as srv:
        async def scenario(clients):
            a = Client(clients, srv, 'alice@localhost/phone', 'alice-pw')
            await a.connect()
            await a.x['xep_0191'].get_blocked(timeout=5)
            jids = ['bob@localhost', 'carol@localhost', 'spam.example', 'eve@evil.example/bot']
            res = await a.x['xep_0191'].block(jids, timeout=5)
            assert res['type'] == 'result', str(res)
            ev = await expect(a.blocks, lambda e: e[0] == 'block', 'block push')
            assert _push_items(ev) == ('block', sorted(jids)), ev
            res = await a.x['xep_0191'].get_blocked(timeout=5)
            assert sorted(str(j) for j in res['blocklist']['items']) == sorted(jids), str(res)
            # Blocking again changes nothing and pushes nothing.
            await a.x['xep_0191'].block('bob@localhost', timeout=5)
            await expect_none(a.blocks, lambda e: True, 'a push for a repeated block')
            # Unblock all: one empty <unblock/> push.
            res = await a.x['xep_0191'].unblock([], timeout=5)
            assert res['type'] == 'result', str(res)
            what, iq = await expect(a.blocks, lambda e: e[0] == 'unblock', 'unblock-all push')
            assert len(iq.xml.find('{%s}unblock' % NS_BLOCK)) == 0, 'unblock-all push: %s' % iq
            res = await a.x['xep_0191'].get_blocked(timeout=5)
            assert set(res['blocklist']['items']) == set(), str(res)
        run_scenario(scenario)


# ---- real client: XEP-0016 with slixmpp's stanza classes ----

def test_privacy_lists_with_slixmpp():
    """Create a list with slixmpp's xep_0016 stanzas, make it the default,
    read names and the list back through them, and see it enforced."""
    with _server() as srv:
        async def scenario(clients):
            a = Client(clients, srv, 'alice@localhost/phone', 'alice-pw')
            a.x.register_plugin('xep_0016')
            a.x.register_plugin('xep_0199')     # answers carol's ping below
            c = Client(clients, srv, 'carol@localhost/c', 'carol-pw')
            await a.connect()
            await c.connect()
            a.x.send_presence()

            iq = a.x.Iq()
            iq['type'] = 'set'
            lst = iq['privacy']['list']
            lst['name'] = 'quiet'
            lst.add_item('carol@localhost', 'deny', '7', itype='jid', message=True)
            lst.add_item(None, 'allow', '9')
            res = await iq.send(timeout=5)
            assert res['type'] == 'result', str(res)

            iq = a.x.Iq()
            iq['type'] = 'set'
            iq['privacy']['default']['name'] = 'quiet'
            await iq.send(timeout=5)

            iq = a.x.Iq()
            iq['type'] = 'get'
            iq.enable('privacy')
            res = await iq.send(timeout=5)
            assert res['privacy']['default']['name'] == 'quiet', str(res)
            assert [l['name'] for l in res['privacy']['lists']] == ['quiet'], str(res)

            iq = a.x.Iq()
            iq['type'] = 'get'
            iq['privacy']['list']['name'] = 'quiet'
            res = await iq.send(timeout=5)
            items = res['privacy']['lists'][0]['items']
            got = [(i['type'], i['value'], i['action'], i['order'], i['message'], i['iq'])
                   for i in items]
            assert got == [('jid', 'carol@localhost', 'deny', '7', True, False),
                           ('', '', 'allow', '9', False, False)], got

            c.x.send_message(mto='alice@localhost', mbody='psst', mtype='chat')
            err = await expect(c.messages, lambda m: m['type'] == 'error', 'bounce at carol')
            assert err['error']['condition'] == 'service-unavailable', str(err)
            await expect_none(a.messages, lambda m: m['body'] == 'psst', 'denied message')
            # Only messages are denied: an IQ from carol still gets through.
            iq = c.x.Iq()
            iq['type'] = 'get'
            iq['to'] = a.full
            ET.SubElement(iq.xml, '{urn:xmpp:ping}ping')
            res = await iq.send(timeout=5)
            assert res['type'] == 'result', str(res)
        run_scenario(scenario)


# ---- XEP-0016 protocol, raw ----

def test_privacy_list_management():
    """Names, get, create, edit, pushes, active, default, decline, remove,
    conflicts with another resource, unknown lists."""
    with _server() as srv:
        a1 = client(srv, 'alice', 'one')
        a2 = client(srv, 'alice', 'two')
        f = Failures()
        assert _names(a1) == (None, None, []), 'fresh account has lists'

        _ok(_pset(a1, _list('public',
                            _item('deny', 3, 'jid', 'Tybalt@Example.COM'),
                            _item('deny', 5, 'jid', 'paris@example.org/Balcony', kinds=('message',)),
                            _item('allow', 68))), 'create public')
        for r in (a1, a2):
            _expect_push(r, is_privacy_push('public'), 'privacy push for public at %s' % r.jid)
        assert _items(a2, 'public') == [
            ('jid', 'tybalt@example.com', 'deny', '3', ()),
            ('jid', 'paris@example.org/Balcony', 'deny', '5', ('message',)),
            (None, None, 'allow', '68', ())], _items(a2, 'public')

        # Edit = replace the whole list (2.5); items come back in order.  A
        # group rule needs the group in the roster.
        _ok(a1.iq("<iq type='set'><query xmlns='%s'><item jid='tybalt@example.com'>"
                  "<group>Enemies</group></item></query></iq>" % NS_ROSTER), 'roster group')
        _ok(_pset(a2, _list('public',
                            _item('allow', 20, 'subscription', 'both', kinds=('presence-out', 'iq')),
                            _item('deny', 4294967295, kinds=('presence-in',)),
                            _item('deny', 0, 'group', 'Enemies', kinds=()))), 'edit public')
        for r in (a1, a2):
            _expect_push(r, is_privacy_push('public'), 'push after edit')
        f.run('edited list', lambda: _assert_eq(_items(a1, 'public'), [
            ('group', 'Enemies', 'deny', '0', ()),
            ('subscription', 'both', 'allow', '20', ('iq', 'presence-out')),
            (None, None, 'deny', '4294967295', ('presence-in',))]))
        f.raise_if_any()

    # Conflicts need a fresh account without groups: use another server.
    with _server() as srv:
        a1 = client(srv, 'alice', 'one')
        a2 = client(srv, 'alice', 'two')
        _ok(_pset(a1, _list('public', _item('allow', 1))), 'create public')
        _ok(_pset(a1, _list('private', _item('allow', 10, 'subscription', 'both'),
                            _item('deny', 15))), 'create private')
        assert _names(a1) == (None, None, ['public', 'private']), _names(a1)

        _err(_pget(a1, "<list name='The Empty Set'/>"), 'item-not-found', 'get unknown list',
             'cancel')
        _err(_pget(a1, "<list name='public'/><list name='private'/>"), 'bad-request',
             'get two lists', 'modify')

        # Active lists are per session.
        _ok(_pset(a1, "<active name='private'/>"), 'activate private')
        assert _names(a1) == ('private', None, ['public', 'private']), _names(a1)
        assert _names(a2) == (None, None, ['public', 'private']), _names(a2)
        _err(_pset(a1, "<active name='nothing'/>"), 'item-not-found', 'activate unknown')
        _err(_pset(a1, "<default name='nothing'/>"), 'item-not-found', 'default unknown')

        # No default yet, so nobody relies on one: setting it is fine.
        _ok(_pset(a1, "<default name='public'/>"), 'default public')
        assert _names(a2) == (None, 'public', ['public', 'private']), _names(a2)
        # Now a2 (no active list) uses the default: a1 may not change it...
        _err(_pset(a1, "<default name='private'/>"), 'conflict', 'change default in use',
             'cancel')
        _err(_pset(a1, '<default/>'), 'conflict', 'decline default in use', 'cancel')
        # ...nor remove it, nor remove the list active on a1 from a2.
        _err(_pset(a1, "<list name='public'/>"), 'conflict', 'remove default in use')
        _err(_pset(a2, "<list name='private'/>"), 'conflict', 'remove active of other')
        assert _names(a1) == ('private', 'public', ['public', 'private']), _names(a1)
        # Setting the same default again is not a change.
        _ok(_pset(a1, "<default name='public'/>"), 'same default again')
        # Once a2 has its own active list, the default is a1's to change.
        _ok(_pset(a2, "<active name='public'/>"), 'a2 activates public')
        _ok(_pset(a1, "<default name='private'/>"), 'change default')
        _ok(_pset(a1, '<default/>'), 'decline default')
        assert _names(a1) == ('private', None, ['public', 'private']), _names(a1)

        # Removing one's own active list is fine and deactivates it.
        a1.sync()
        a1.take_all(is_privacy_push('public'))
        _ok(_pset(a1, "<list name='private'/>"), 'remove own active list')
        for r in (a1, a2):
            _expect_push(r, is_privacy_push('private'), 'push for removal')
        assert _names(a1) == (None, None, ['public']), _names(a1)
        assert _names(a2) == ('public', None, ['public']), _names(a2)
        _err(_pset(a1, "<list name='private'/>"), 'item-not-found', 'remove unknown list')
        # Decline the active list.
        _ok(_pset(a2, '<active/>'), 'decline active')
        assert _names(a2) == (None, None, ['public']), _names(a2)
        # Active lists die with the session; the stored model keeps lists only.
        root = _stored(srv)
        assert [e.get('name') for e in root.findall(q(NS_PRIV, 'list'))] == ['public']
        assert root.find(q(NS_PRIV, 'default')) is None, ET.tostring(root)


def _assert_eq(got, want):
    assert got == want, 'got %r, want %r' % (got, want)


def test_message_and_iq_rules():
    """jid, group and subscription rules, stanza kinds, and order."""
    with _server() as srv:
        _befriend(srv, 'alice', 'bob', groups_x=('Friends',))
        a = client(srv, 'alice', 'a')
        b = client(srv, 'bob', 'b')
        c = client(srv, 'carol', 'c')
        f = Failures()

        def use(name, *items):
            _ok(_pset(a, _list(name, *items)), 'create ' + name)
            _ok(_pset(a, "<default name='%s'/>" % name), 'default ' + name)

        def delivered(sender, body):
            sender.message('alice@localhost', body)
            _got_message(a, sender.jid.split('/')[0], body)

        def bounced(sender, body):
            sender.message('alice@localhost', body)
            _msg_error(sender, 'alice@localhost', 'service-unavailable', body)
            a.assert_nothing(is_message(body=body), what='a denied message')

        def case_group():
            use('g', _item('deny', 1, 'group', 'Friends', kinds=('message',)))
            bounced(b, 'group bob')
            delivered(c, 'group carol')

        def case_jid():
            use('j', _item('deny', 1, 'jid', 'carol@localhost', kinds=('message',)))
            bounced(c, 'jid carol')
            delivered(b, 'jid bob')

        def case_domain():
            use('d', _item('deny', 1, 'jid', 'localhost', kinds=('message',)))
            bounced(c, 'domain carol')
            bounced(b, 'domain bob')
            # The user's own server is never cut off: a ping still works.
            _ok(a.ping(), 'ping the server with a domain rule')

        def case_subscription():
            use('s', _item('deny', 1, 'subscription', 'none', kinds=('message',)))
            bounced(c, 'sub carol')        # not in the roster: 'none'
            delivered(b, 'sub bob')        # 'both'

        def case_order():
            use('o1', _item('allow', 5, 'jid', 'carol@localhost', kinds=('message',)),
                _item('deny', 10, kinds=('message',)))
            delivered(c, 'order carol')
            bounced(b, 'order bob')
            use('o2', _item('deny', 1, kinds=('message',)),
                _item('allow', 2, 'jid', 'carol@localhost', kinds=('message',)))
            bounced(c, 'order2 carol')

        def case_kinds():
            use('k', _item('deny', 1, 'jid', 'bob@localhost', kinds=('iq',)))
            delivered(b, 'kinds message')
            r = b.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (a.jid, NS_VERSION))
            _err(r, 'service-unavailable', 'iq from a jid denied iq', 'cancel')
            # Also on the account's behalf (bare JID).
            r = b.iq("<iq type='get' to='alice@localhost'><query xmlns='%s'/></iq>"
                     % NS_VERSION)
            _err(r, 'service-unavailable', 'iq to the bare JID', 'cancel')
            # Allowed for carol: her IQ reaches alice's client.
            c.send("<iq type='get' id='v1' to='%s'><query xmlns='%s'/></iq>"
                   % (a.jid, NS_VERSION))
            got = a.expect(lambda e: e.tag == C('iq') and e.get('id') == 'v1',
                           what="carol's IQ at alice")
            assert got.get('from') == c.jid, dump(got)
            a.send("<iq type='result' id='v1' to='%s'/>" % c.jid)
            c.expect(lambda e: e.tag == C('iq') and e.get('id') == 'v1', what='the answer')

        def case_outbound_all():
            # A rule with no kinds covers outbound too: not-acceptable, and
            # no <blocked/> because this is not a blocklist item.
            use('out', _item('deny', 1, 'group', 'Friends'))
            a.message('bob@localhost', 'to a friend')
            e = _msg_error(a, 'bob@localhost', 'not-acceptable', 'outbound to denied group')
            assert e.find(C('error')).find(q(NS_BLOCK_ERR, 'blocked')) is None, dump(e)
            assert e.find(C('body')).text == 'to a friend', dump(e)
            b.assert_nothing(is_message(body='to a friend'), what='a message alice may not send')
            # ...and inbound of every kind.
            bounced(b, 'all bob')

        def case_roster_changes():
            # XEP-0016 2.2 rule 9: roster changes apply at once.
            _ok(a.iq("<iq type='set'><query xmlns='%s'><item jid='dave@localhost'>"
                     "<group>Enemies</group></item></query></iq>" % NS_ROSTER), 'group')
            use('enemies', _item('deny', 1, 'group', 'Enemies', kinds=('message',)))
            delivered(c, 'carol not an enemy')
            for groups, body, ok in (('<group>Enemies</group>', 'carol now an enemy', False),
                                     ('', 'carol forgiven', True)):
                _ok(a.iq("<iq type='set'><query xmlns='%s'><item jid='carol@localhost'>%s"
                         "</item></query></iq>" % (NS_ROSTER, groups)), 'roster ' + body)
                (delivered if ok else bounced)(c, body)

        for name, fn in (('group', case_group), ('jid', case_jid), ('domain', case_domain),
                         ('subscription', case_subscription), ('order', case_order),
                         ('kinds', case_kinds), ('outbound all', case_outbound_all),
                         ('roster changes', case_roster_changes)):
            f.run(name, fn)
        f.raise_if_any()


def test_presence_rules_per_session():
    """presence-out hides the user from a contact (unavailable sent when the
    rule starts to apply, current presence when it stops); presence-in hides a
    contact; active lists act per session."""
    with _server() as srv:
        _befriend(srv, 'alice', 'bob')
        b = client(srv, 'bob', 'b')
        a1 = client(srv, 'alice', 'one')
        b.expect(is_presence(a1.jid), what='alice/one available at bob')
        a1.expect(is_presence(b.jid), what='bob available at alice/one')
        b.take_all(is_presence('alice@localhost', 'unavailable'))   # probe answer
        _ok(_pset(a1, _list('hide', _item('deny', 1, 'jid', 'bob@localhost',
                                          kinds=('presence-out',)))), 'create hide')
        _ok(_pset(a1, _list('deaf', _item('deny', 1, 'jid', 'bob@localhost',
                                          kinds=('presence-in',)))), 'create deaf')
        b.assert_nothing(is_presence('alice@localhost', any_type=True),
                         what='presence from creating lists')

        _ok(_pset(a1, "<active name='hide'/>"), 'activate hide')
        b.expect(is_presence(a1.jid, 'unavailable'), what='unavailable from alice/one')
        a1.send("<presence><show>away</show><status>hidden</status></presence>")
        a1.sync()
        b.assert_nothing(is_presence('alice@localhost', any_type=True),
                         what='presence through presence-out deny')
        # Messages are not presence: they still flow.
        b.message('alice@localhost', 'still here?')
        _got_message(a1, 'bob@localhost', 'still here?')
        # A second resource without an active list is seen.
        a2 = client(srv, 'alice', 'two')
        b.expect(is_presence(a2.jid), what='alice/two available at bob')
        a2.expect(is_presence(b.jid), what='bob at alice/two (probe answer)')
        a1.sync()
        a1.take_all(is_presence(b.jid))     # the answer went to the bare JID
        b.assert_nothing(is_presence(a1.jid, any_type=True), what='alice/one at bob')
        # Declining the list shows alice/one's current presence again.
        _ok(_pset(a1, '<active/>'), 'decline')
        p = b.expect(is_presence(a1.jid), what='alice/one back at bob')
        assert p.find(C('status')).text == 'hidden', dump(p)

        # presence-in on alice/one: bob disappears there only.
        _ok(_pset(a1, "<active name='deaf'/>"), 'activate deaf')
        a1.expect(is_presence(b.jid, 'unavailable'), what='bob unavailable at alice/one')
        a2.assert_nothing(is_presence(b.jid, any_type=True), what='bob at alice/two')
        b.send("<presence><status>bob here</status></presence>")
        p = a2.expect(is_presence(b.jid), what='bob update at alice/two')
        assert p.find(C('status')).text == 'bob here', dump(p)
        a1.assert_nothing(is_presence(b.jid, any_type=True), what='bob update at alice/one')
        _ok(_pset(a1, '<active/>'), 'decline deaf')
        p = a1.expect(is_presence(b.jid), what='bob back at alice/one')
        assert p.find(C('status')).text == 'bob here', dump(p)

        # As default list, presence-out also stops probe answers and the
        # initial broadcast of a new session.
        _ok(_pset(a2, "<active name='deaf'/>"), 'a2 active deaf')
        a2.expect(is_presence(b.jid, 'unavailable'), what='bob unavailable at alice/two')
        _ok(_pset(a1, "<default name='hide'/>"), 'default hide')
        # a1 now uses 'hide' (default): bob gets alice/one unavailable.
        b.expect(is_presence(a1.jid, 'unavailable'), what='alice/one hidden by default')
        b.assert_nothing(is_presence(a2.jid, any_type=True), what='alice/two untouched')
        b2 = client(srv, 'bob', 'b2')      # probes alice
        got = b2.drain(0.3)
        froms = [e.get('from') for e in got if e.tag == C('presence')
                 and e.get('type') is None]
        assert a2.jid in froms and a1.jid not in froms, \
            'probe answers at bob/b2: %s' % [dump(e) for e in got]
        a3 = client(srv, 'alice', 'three')
        b.assert_nothing(is_presence(a3.jid, any_type=True),
                         what='initial presence of a session under the default list')


def test_active_list_splits_message_delivery():
    """A message to the bare JID goes to the sessions whose list takes it;
    bounced only when no available session does."""
    with _server() as srv:
        a1 = client(srv, 'alice', 'one')
        a2 = client(srv, 'alice', 'two')
        b = client(srv, 'bob', 'b')
        _ok(_pset(a1, _list('nobob', _item('deny', 1, 'jid', 'bob@localhost',
                                           kinds=('message',)))), 'create nobob')
        _ok(_pset(a1, "<active name='nobob'/>"), 'activate on one')
        b.message('alice@localhost', 'to the bare JID')
        _got_message(a2, 'bob@localhost', 'to the bare JID')
        a1.assert_nothing(is_message(body='to the bare JID'), what='message past the list')
        b.assert_nothing(lambda e: e.get('type') == 'error', what='an error for a delivery')
        # To the full JIDs: each session's own list.
        b.message(a1.jid, 'to one')
        _msg_error(b, 'alice@localhost', 'service-unavailable', 'full JID, denied')
        b.message(a2.jid, 'to two')
        _got_message(a2, 'bob@localhost', 'to two')
        # With two only unavailable, no session takes it: bounced, not stored.
        a2.send("<presence type='unavailable'/>")
        a2.sync()
        b.message('alice@localhost', 'nobody takes it')
        _msg_error(b, 'alice@localhost', 'service-unavailable', 'all available sessions deny')
        a1.assert_nothing(is_message(body='nobody takes it'), what='denied message')
        offline = os.path.join(srv.data_path, 'localhost', 'alice', 'offline')
        assert not os.path.isdir(offline) or not os.listdir(offline), 'message stored'


def test_block_without_subscription():
    """A blocked stranger's subscription requests and probes vanish without
    an answer; unavailable presence goes only where presence went."""
    with _server() as srv:
        a = client(srv, 'alice', 'a')
        b = client(srv, 'bob', 'b')
        c = client(srv, 'carol', 'c')
        a.send("<presence to='carol@localhost'/>")      # directed presence
        c.expect(is_presence(a.jid), what='directed presence at carol')
        _ok(_block(a, 'bob@localhost', 'carol@localhost'), 'block both')
        c.expect(is_presence(a.jid, 'unavailable'), what='unavailable after the block')
        b.assert_nothing(is_presence('alice@localhost', any_type=True),
                         what='presence for a stranger')
        for t in ('subscribe', 'probe', 'subscribed', 'unsubscribe'):
            b.send("<presence to='alice@localhost' type='%s'/>" % t)
        b.assert_nothing(what='any answer to blocked presence')
        a.assert_nothing(is_presence('bob@localhost', any_type=True),
                         what='presence from a blocked stranger')
        assert a.roster_items() == {}, 'roster changed by blocked presence'
        # alice's own subscription request to a blocked JID bounces.
        a.send("<presence to='bob@localhost' type='subscribe'/>")
        e = a.expect(lambda x: x.tag == C('presence') and x.get('type') == 'error',
                     what='presence error')
        _err(e, 'not-acceptable', 'outbound subscribe to a blocked JID')
        assert e.find(C('error')).find(q(NS_BLOCK_ERR, 'blocked')) is not None, dump(e)
        b.assert_nothing(what='a subscription request alice may not send')
        # Unblocking a stranger sends no presence either.
        _ok(_block(a, 'bob@localhost', what='unblock'), 'unblock bob')
        b.assert_nothing(is_presence('alice@localhost', any_type=True),
                         what='presence after unblocking a stranger')
        # After logging in again the request bob sent while blocked is gone.
        _bye(a)
        a = client(srv, 'alice', 'a2')
        a.assert_nothing(is_presence('bob@localhost', 'subscribe'),
                         what='a request stored while blocked')


def test_blocklist_and_privacy_views_agree():
    with _server() as srv:
        a1 = client(srv, 'alice', 'one')
        assert _blocklist(a1) == []          # a1 now gets block pushes
        # Block through XEP-0016: a jid/deny item in the default list.
        _ok(_pset(a1, _list('main', _item('deny', 5, 'jid', 'bob@localhost'),
                            _item('deny', 6, 'jid', 'dave@localhost', kinds=('message',)),
                            _item('allow', 9))), 'create main')
        a1.assert_nothing(is_block_push('block'), what='block push for a non-default list')
        _ok(_pset(a1, "<default name='main'/>"), 'default main')
        _expect_push(a1, is_block_push('block', ['bob@localhost']), 'block push via 0016')
        # dave's item only covers messages: not a block in XEP-0191's sense.
        assert _blocklist(a1) == ['bob@localhost'], _blocklist(a1)

        # Block through XEP-0191: seen in the default list, in front.
        _ok(_block(a1, 'carol@localhost'), 'block carol')
        _expect_push(a1, is_block_push('block', ['carol@localhost']), 'block push carol')
        _expect_push(a1, is_privacy_push('main'), 'privacy push for main')
        items = _items(a1, 'main')
        assert items[0][:3] == ('jid', 'carol@localhost', 'deny') and \
            int(items[0][3]) < 5 and items[0][4] == (), items
        assert items[1:] == [('jid', 'bob@localhost', 'deny', '5', ()),
                             ('jid', 'dave@localhost', 'deny', '6', ('message',)),
                             (None, None, 'allow', '9', ())], items
        assert sorted(_blocklist(a1)) == ['bob@localhost', 'carol@localhost']

        # Unblock through XEP-0191 removes the 0016 item.
        _ok(_block(a1, 'bob@localhost', what='unblock'), 'unblock bob')
        _expect_push(a1, is_block_push('unblock', ['bob@localhost']), 'unblock push')
        assert [i[1] for i in _items(a1, 'main')] == ['carol@localhost', 'dave@localhost', None]
        # Unblock through XEP-0016: edit the list without carol.
        _ok(_pset(a1, _list('main', _item('allow', 9))), 'edit main')
        _expect_push(a1, is_block_push('unblock', ['carol@localhost']), 'unblock push via 0016')
        assert _blocklist(a1) == []

        # Blocking makes a default list when there is none, named blocklist,
        # and the blocks order first even when orders start at 0.
        _ok(_pset(a1, _list('zero', _item('allow', 0, 'jid', 'x@localhost'),
                            _item('deny', 1, 'jid', 'y@localhost'))), 'create zero')
        _ok(_pset(a1, "<default name='zero'/>"), 'default zero')
        _expect_push(a1, is_block_push('block', ['y@localhost']), 'y blocked via default')
        _ok(_block(a1, 'x@localhost', 'w@localhost'), 'block x and w')
        items = _items(a1, 'zero')
        assert [(i[1], i[2]) for i in items] == [
            ('x@localhost', 'deny'), ('w@localhost', 'deny'), ('x@localhost', 'allow'),
            ('y@localhost', 'deny')], items
        assert len(set(i[3] for i in items)) == 4, 'orders not unique: %s' % items
        _ok(_pset(a1, '<default/>'), 'decline default')
        _expect_push(a1, is_block_push('unblock'), 'blocks gone with the default')
        assert _blocklist(a1) == []
        _ok(_block(a1, 'eve@localhost'), 'block with no default list')
        assert _names(a1)[1:] == ('blocklist', ['main', 'zero', 'blocklist']), _names(a1)
        assert _items(a1, 'blocklist') == [('jid', 'eve@localhost', 'deny', '0', ())]


def test_rejected_requests_change_nothing():
    """Malformed, unknown, unauthorised and oversized requests: exact errors,
    and the stored file is byte for byte what it was."""
    ini = '[privacy]\nmax_items = 5\nmax_lists = 3\n'
    with _server(extra_ini=ini) as srv:
        _befriend(srv, 'alice', 'bob')
        a = client(srv, 'alice', 'a')
        b = client(srv, 'bob', 'b')
        _ok(_block(a, 'mallory@localhost'), 'baseline block')
        _ok(_pset(a, _list('two', _item('allow', 1))), 'second list')
        before = _privacy_file(srv)
        st = os.stat(os.path.join(srv.data_path, 'localhost', 'alice', 'privacy'))
        f = Failures()

        def bad(what, send, cond, etype=None):
            def case():
                _err(send(), cond, what, etype)
            f.run(what, case)

        def L(*items, name='x'):
            return lambda: _pset(a, _list(name, *items))

        bad('list without name', lambda: _pset(a, '<list>%s</list>' % _item()), 'bad-request')
        bad('list with empty name', L(_item(), name=''), 'bad-request')
        bad('list name too long', L(_item(), name='n' * 1024), 'bad-request')
        bad('item without action',
            lambda: _pset(a, _list('x', "<item order='1'/>")), 'bad-request', 'modify')
        bad('action block', L(_item('block')), 'bad-request')
        bad('action upper case', L(_item('DENY')), 'bad-request')
        bad('no order', lambda: _pset(a, _list('x', "<item action='deny'/>")), 'bad-request')
        for order in ('-1', '1.5', '4294967296', ' 1', '', '0x10'):
            bad('order %r' % order, L(_item(order=order)), 'bad-request')
        bad('non-unique orders', L(_item('deny', 2, 'jid', 'a@localhost'),
                                   _item('allow', 2)), 'bad-request', 'modify')
        bad('unknown type', L(_item(type='color', value='red')), 'bad-request')
        bad('jid without value', L(_item(type='jid')), 'bad-request')
        bad('jid with empty value', L(_item(type='jid', value='')), 'bad-request')
        bad('invalid jid', L(_item(type='jid', value='a@b@c')), 'bad-request')
        bad('jid with empty resource', L(_item(type='jid', value='a@b/')), 'bad-request')
        bad('subscription all', L(_item(type='subscription', value='all')), 'bad-request')
        bad('value without type', L(_item(value='bob@localhost')), 'bad-request')
        bad('unknown stanza kind', L("<item action='deny' order='1'><chat/></item>"),
            'bad-request')
        bad('kind twice', L(_item(kinds=('message', 'message'))), 'bad-request')
        bad('kind in another namespace',
            L("<item action='deny' order='1'><message xmlns='urn:x'/></item>"), 'bad-request')
        bad('foreign element in list', L(_item(), '<rule/>'), 'bad-request')
        bad('group not in roster', L(_item(type='group', value='Nobody')), 'item-not-found')
        bad('two children in a set', lambda: _pset(a, "<active/><default/>"), 'bad-request')
        bad('empty set', lambda: _pset(a, ''), 'bad-request')
        bad('unknown set child', lambda: _pset(a, '<purge/>'), 'bad-request')
        bad('two lists in a set', lambda: _pset(a, _list('x', _item()) + _list('y', _item())),
            'bad-request')
        bad('get unknown child', lambda: _pget(a, '<whatever/>'), 'bad-request')
        bad('get list without name', lambda: _pget(a, '<list/>'), 'bad-request')
        bad('get unknown list', lambda: _pget(a, "<list name='nope'/>"), 'item-not-found',
            'cancel')
        bad('remove unknown list', lambda: _pset(a, "<list name='nope'/>"), 'item-not-found')
        bad('activate unknown list', lambda: _pset(a, "<active name='nope'/>"),
            'item-not-found')
        bad('default unknown list', lambda: _pset(a, "<default name='nope'/>"),
            'item-not-found')
        # Limits: 5 items per list, 3 lists.
        bad('too many items', L(*[_item(order=i) for i in range(6)]), 'not-allowed', 'cancel')
        bad('blocklist full', lambda: _block(a, *['u%d@localhost' % i for i in range(5)]),
            'not-allowed')
        _ok(_pset(a, _list('three', _item())), 'third list')
        before = _privacy_file(srv)
        st = os.stat(os.path.join(srv.data_path, 'localhost', 'alice', 'privacy'))
        bad('too many lists', L(_item(), name='four'), 'not-allowed')
        # XEP-0191 requests.
        bad('block without items', lambda: _block(a), 'bad-request', 'modify')
        bad('block item without jid',
            lambda: a.iq("<iq type='set'><block xmlns='%s'><item/></block></iq>" % NS_BLOCK),
            'bad-request')
        bad('block foreign element',
            lambda: a.iq("<iq type='set'><block xmlns='%s'><jid>x@y</jid></block></iq>"
                         % NS_BLOCK), 'bad-request')
        bad('block malformed jid', lambda: _block(a, 'a@@b'), 'jid-malformed', 'modify')
        bad('block empty localpart', lambda: _block(a, '@localhost'), 'jid-malformed')
        bad('unblock malformed jid', lambda: _block(a, 'x@y/', what='unblock'),
            'jid-malformed')
        bad('block oneself', lambda: _block(a, 'alice@localhost'), 'not-acceptable')
        bad('block own resource', lambda: _block(a, 'alice@localhost/other'),
            'not-acceptable')
        bad('blocklist with type set',
            lambda: a.iq("<iq type='set'><blocklist xmlns='%s'/></iq>" % NS_BLOCK),
            'bad-request')
        bad('block with type get',
            lambda: a.iq("<iq type='get'><block xmlns='%s'><item jid='x@y'/></block></iq>"
                         % NS_BLOCK), 'bad-request')
        bad('unblock with type get',
            lambda: a.iq("<iq type='get'><unblock xmlns='%s'/></iq>" % NS_BLOCK),
            'bad-request')
        # Someone else's lists: nobody answers for alice's account.
        bad('privacy get for another account',
            lambda: b.iq("<iq type='get' to='alice@localhost'><query xmlns='%s'/></iq>"
                         % NS_PRIV), 'service-unavailable', 'cancel')
        bad('privacy set for another account',
            lambda: b.iq("<iq type='set' to='alice@localhost'><query xmlns='%s'>%s</query>"
                         "</iq>" % (NS_PRIV, _list('evil', _item()))), 'service-unavailable')
        bad('block for another account',
            lambda: b.iq("<iq type='set' to='alice@localhost'><block xmlns='%s'>"
                         "<item jid='bob@localhost'/></block></iq>" % NS_BLOCK),
            'service-unavailable')
        bad('blocklist of the server',
            lambda: a.iq("<iq type='get' to='localhost'><blocklist xmlns='%s'/></iq>"
                         % NS_BLOCK), 'service-unavailable')
        # An oversized stanza never reaches the module: the stream ends.
        f.raise_if_any()
        assert _privacy_file(srv) == before, 'privacy file changed by rejected requests'
        st2 = os.stat(os.path.join(srv.data_path, 'localhost', 'alice', 'privacy'))
        assert (st.st_ino, st.st_mtime_ns) == (st2.st_ino, st2.st_mtime_ns), 'file rewritten'
        assert _privacy_file(srv, 'bob') is None, "bob's requests wrote a file"
        # A blocklist repeat changes nothing either.
        _ok(_block(a, 'mallory@localhost'), 'repeat block')
        _ok(_block(a, 'nobody@localhost', what='unblock'), 'unblock a JID not blocked')
        assert _privacy_file(srv) == before, 'no-op requests rewrote the file'


def test_blocks_persist_and_apply_offline():
    with _server() as srv:
        a = client(srv, 'alice', 'a')
        _ok(_block(a, 'bob@localhost'), 'block bob')
        _bye(a)
        b = client(srv, 'bob', 'b')
        # alice is offline: the default list still applies; nothing is stored.
        b.message('alice@localhost', 'while you were out')
        _msg_error(b, 'alice@localhost', 'service-unavailable', 'offline, blocked')
        c = client(srv, 'carol', 'c')
        c.message('alice@localhost', 'from carol')
        c.sync()
        b.close()
        c.close()
        srv.stop()
        assert srv.returncode == 0, srv.log_tail()
        srv.start()
        a = client(srv, 'alice', 'a')
        assert _blocklist(a) == ['bob@localhost'], 'blocklist lost in a restart'
        got = a.drain(0.3)
        bodies = [m.find(C('body')).text for m in got if m.tag == C('message')
                  and m.find(C('body')) is not None]
        assert bodies == ['from carol'], 'offline messages: %s' % bodies
        b = client(srv, 'bob', 'b')
        b.message('alice@localhost', 'after restart')
        _msg_error(b, 'alice@localhost', 'service-unavailable', 'blocked after restart')
        a.assert_nothing(is_message(body='after restart'), what='blocked message')


def test_newer_or_damaged_file_is_refused():
    with _server() as srv:
        d = os.path.join(srv.data_path, 'localhost', 'alice')
        path = os.path.join(d, 'privacy')
        newer = (b"<privacy xmlns='jabber:iq:privacy' version='2'><list name='x'>"
                 b"<item action='deny' order='1'/></list></privacy>\n")
        with open(path, 'wb') as fh:
            fh.write(newer)
        a = client(srv, 'alice', 'a')
        _err(a.iq("<iq type='get'><blocklist xmlns='%s'/></iq>" % NS_BLOCK),
             'internal-server-error', 'blocklist of a newer format')
        _err(_block(a, 'bob@localhost'), 'internal-server-error', 'block with a newer file')
        _err(_pset(a, _list('y', _item())), 'internal-server-error', 'set with a newer file')
        assert srv.wait_log('format version 2'), 'no log line about the version'
        with open(path, 'rb') as fh:
            assert fh.read() == newer, 'a newer file was overwritten'
        # Rules that cannot be read do not cut the user off.
        b = client(srv, 'bob', 'b')
        b.message('alice@localhost', 'hi')
        _got_message(a, 'bob@localhost', 'hi')

    with _server() as srv:
        # One account each: a model once read stays cached.
        for user, text in (('alice', b'<privacy'),
                           ('bob', b"<privacy xmlns='jabber:iq:privacy' version='1'>"
                            b"<list name='x'><item action='deny' order='1'/><item "
                            b"action='allow' order='1'/></list></privacy>"),
                           ('carol', b"<privacy xmlns='jabber:iq:privacy' version='1'>"
                            b"<default name='gone'/></privacy>")):
            path = os.path.join(srv.data_path, 'localhost', user, 'privacy')
            with open(path, 'wb') as fh:
                fh.write(text)
            r = client(srv, user, 'r')
            _err(_pget(r), 'internal-server-error', 'damaged file of %s' % user)
            with open(path, 'rb') as fh:
                assert fh.read() == text, 'damaged file of %s rewritten' % user
        for why in ('not-well-formed', 'unique', 'default list does not exist'):
            assert srv.wait_log(why, timeout=1), 'no log line saying %r' % why


def test_disco_and_config():
    with _server() as srv:
        a = client(srv, 'alice', 'a')
        r = a.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO)
        _ok(r, 'disco#info')
        feats = {e.get('var') for e in r.find(q(NS_DISCO, 'query')).findall(q(NS_DISCO, 'feature'))}
        assert {NS_PRIV, NS_BLOCK} <= feats, 'features: %s' % sorted(feats)
    # Only one of them enabled: only its feature, and its rules still apply.
    with _server(server={'modules': 'roster, saslauth, tls, disco, ping, blocklist'}) as srv:
        a = client(srv, 'alice', 'a')
        r = a.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO)
        feats = {e.get('var') for e in r.find(q(NS_DISCO, 'query')).findall(q(NS_DISCO, 'feature'))}
        assert NS_BLOCK in feats and NS_PRIV not in feats, sorted(feats)
        _err(_pget(a), 'service-unavailable', 'privacy lists not enabled')
        _ok(_block(a, 'bob@localhost'), 'block with blocklist alone')
        b = client(srv, 'bob', 'b')
        b.message('alice@localhost', 'x')
        _msg_error(b, 'alice@localhost', 'service-unavailable', 'blocklist alone')
        a.message('bob@localhost', 'y')
        e = _msg_error(a, 'bob@localhost', 'not-acceptable', 'outbound, blocklist alone')
        assert e.find(C('error')).find(q(NS_BLOCK_ERR, 'blocked')) is not None, dump(e)
    for bad, want in (('max_lists = 0', 'max_lists must be a number from 1 to 1000'),
                      ('max_items = lots', 'max_items must be a number'),
                      ('max_colours = 3', "unknown key 'max_colours' in [privacy]")):
        with _server(start=False, extra_ini='[privacy]\n%s\n' % bad) as srv:
            r = srv.cli('check', 'config')
            assert r.returncode == 2, '%s: exit %d' % (bad, r.returncode)
            assert want in r.stderr, '%s: %r not in %r' % (bad, want, r.stderr)
    with _server(start=False, extra_ini='[privacy]\nmax_lists = 5\nmax_items = 200\n') as srv:
        r = srv.cli('check', 'config')
        assert r.returncode == 0, r.stderr
