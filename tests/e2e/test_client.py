"""
Flows driven by a real client library (Debian's python3-slixmpp): login with
each SASL mechanism, a refused password, mutual subscription and chat, roster
pushes to several resources, offline messages, a resource conflict, and the
direct-TLS port.

Every scenario is a coroutine run by run_scenario() in a fresh event loop with
a time limit; the clients it made are disconnected at the end whatever
happened.
"""

import asyncio
import datetime
import logging
import os
import re
import ssl
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

from lib import Server
from sxlib import run_scenario, expect, expect_none, close_client

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

ROSTER_NS = 'jabber:iq:roster'
DELAY_NS = 'urn:xmpp:delay'
STAMP_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$')


async def _none_answer(*args, **kwargs):
    return None


class Client:
    """A slixmpp ClientXMPP with queues of what it received."""

    def __init__(self, clients, srv, jid, password, mech=None, direct_tls=False):
        self.srv = srv
        self.jid = jid
        self.direct_tls = direct_tls
        self.x = x = slixmpp.ClientXMPP(jid, password, sasl_mech=mech)
        # Throwaway self-signed certificate: no verification.
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        # Connect to 127.0.0.1 but still say "localhost" in SNI and STARTTLS
        # (slixmpp uses an empty name for an IP address, which ssl refuses),
        # and never resolve anything.
        x.default_domain = x.boundjid.domain
        x._pick_dns_answer = _none_answer
        # Subscriptions are answered by the tests, not automatically.
        x.auto_authorize = None
        x.auto_subscribe = False

        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.pushes = asyncio.Queue()
        self.stream_errors = []
        self.failed_auth = asyncio.Event()
        self.session = asyncio.Event()
        self.gone = asyncio.Event()
        self.auth_failures = []

        x.register_handler(slixmpp.Callback(
            'test messages', slixmpp.MatchXPath('{jabber:client}message'),
            lambda st: self.messages.put_nowait(st)))
        x.register_handler(slixmpp.Callback(
            'test presences', slixmpp.MatchXPath('{jabber:client}presence'),
            lambda st: self.presences.put_nowait(st)))
        x.register_handler(slixmpp.Callback(
            'test roster pushes', slixmpp.StanzaPath('iq@type=set/roster'),
            lambda st: self.pushes.put_nowait(st)))
        x.add_event_handler('session_start', lambda ev: self.session.set())
        x.add_event_handler('failed_auth', self._on_failed_auth)
        x.add_event_handler('failed_all_auth', lambda ev: self.failed_auth.set())
        x.add_event_handler('stream_error', lambda err: self.stream_errors.append(err))
        x.add_event_handler('disconnected', lambda ev: self.gone.set())
        clients.append(self)

    def _on_failed_auth(self, stanza):
        self.auth_failures.append(stanza['condition'])
        self.failed_auth.set()

    @property
    def full(self):
        return str(self.x.boundjid.full)

    async def connect(self, timeout=10, expect_session=True):
        """Connect and wait for the session (or for a failure when
        expect_session is False)."""
        port = self.srv.tls_port if self.direct_tls else self.srv.c2s_port
        self.x.connect(address=('127.0.0.1', port), use_ssl=self.direct_tls)
        waits = {asyncio.ensure_future(self.session.wait()): 'session',
                 asyncio.ensure_future(self.failed_auth.wait()): 'failed_auth',
                 asyncio.ensure_future(self.gone.wait()): 'disconnected'}
        done, pending = await asyncio.wait(list(waits), timeout=timeout,
                                           return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        what = waits[done.pop()] if done else 'timeout'
        if expect_session and what != 'session':
            raise AssertionError('%s: no session (%s%s)' % (
                self.jid, what,
                ', SASL failure %s' % self.auth_failures if self.auth_failures else ''))
        return what

    async def roster_get(self, ver=None):
        iq = self.x.Iq()
        iq['type'] = 'get'
        q = ET.SubElement(iq.xml, '{%s}query' % ROSTER_NS)
        if ver is not None:
            q.set('ver', ver)
        return await iq.send(timeout=5)

    async def roster_set(self, jid, name=None, groups=(), subscription=None):
        iq = self.x.Iq()
        iq['type'] = 'set'
        q = ET.SubElement(iq.xml, '{%s}query' % ROSTER_NS)
        item = ET.SubElement(q, '{%s}item' % ROSTER_NS, {'jid': jid})
        if name is not None:
            item.set('name', name)
        if subscription is not None:
            item.set('subscription', subscription)
        for g in groups:
            ET.SubElement(item, '{%s}group' % ROSTER_NS).text = g
        return await iq.send(timeout=5)

    async def ping_server(self):
        """A round trip: everything sent before it has been handled once the
        reply is back."""
        iq = self.x.Iq()
        iq['type'] = 'get'
        iq['to'] = self.x.boundjid.domain
        ET.SubElement(iq.xml, '{urn:xmpp:ping}ping')
        return await iq.send(timeout=5)

    async def close(self):
        await close_client(self.x)


def roster_items(iq):
    """{jid: element} of the items of a roster query in iq."""
    q = iq.xml.find('{%s}query' % ROSTER_NS)
    if q is None:
        return {}
    return {it.get('jid'): it for it in q.findall('{%s}item' % ROSTER_NS)}


def item_groups(item):
    return sorted(g.text or '' for g in item.findall('{%s}group' % ROSTER_NS))


def is_type(st, t):
    return st['type'] == t


def bare(j):
    return str(j).split('/', 1)[0]


# ---- login ----

def _login_with(mech):
    with Server() as srv:
        async def scenario(clients):
            c = Client(clients, srv, 'alice@localhost/' + mech.lower(), 'alice-pw', mech=mech)
            await c.connect()
            used = c.x['feature_mechanisms'].mech.name
            assert used == mech, 'authenticated with %s, wanted %s' % (used, mech)
            assert c.full == 'alice@localhost/' + mech.lower(), 'bound %s' % c.full
            reply = await c.ping_server()
            assert reply['type'] == 'result'
        run_scenario(scenario)


def test_login_scram_sha1():
    _login_with('SCRAM-SHA-1')


def test_login_scram_sha256():
    _login_with('SCRAM-SHA-256')


def test_login_plain():
    _login_with('PLAIN')


def test_login_without_mech_restriction_and_generated_resource():
    with Server() as srv:
        async def scenario(clients):
            c = Client(clients, srv, 'bob@localhost', 'bob-pw')
            await c.connect()
            assert bare(c.full) == 'bob@localhost' and '/' in c.full, c.full
            assert len(c.full.split('/', 1)[1]) > 0, 'empty generated resource'
            # slixmpp picks the strongest offered mechanism.
            used = c.x['feature_mechanisms'].mech.name
            assert used == 'SCRAM-SHA-256', 'strongest mechanism not used: ' + used
        run_scenario(scenario)


def test_wrong_password():
    with Server() as srv:
        async def scenario(clients):
            for mech in ('PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256'):
                c = Client(clients, srv, 'alice@localhost', 'not-the-pw', mech=mech)
                what = await c.connect(expect_session=False)
                assert what == 'failed_auth', '%s: %s instead of failed_auth' % (mech, what)
                assert c.auth_failures == ['not-authorized'], \
                    '%s: SASL failure %s' % (mech, c.auth_failures)
                assert not c.session.is_set()
                await c.close()
            # Unknown account: the same answer, no hint that it does not exist.
            c = Client(clients, srv, 'nobody@localhost', 'whatever', mech='SCRAM-SHA-1')
            what = await c.connect(expect_session=False)
            assert what == 'failed_auth' and c.auth_failures == ['not-authorized'], \
                'unknown user: %s %s' % (what, c.auth_failures)
            # The right password still works afterwards.
            ok = Client(clients, srv, 'alice@localhost/ok', 'alice-pw')
            await ok.connect()
        run_scenario(scenario)


# ---- subscriptions and chat ----

def test_subscribe_both_ways_and_chat():
    with Server() as srv:
        async def scenario(clients):
            a = Client(clients, srv, 'alice@localhost/a1', 'alice-pw')
            b = Client(clients, srv, 'bob@localhost/b1', 'bob-pw')
            await a.connect()
            await b.connect()
            for c in (a, b):
                res = await c.roster_get()
                assert roster_items(res) == {}, 'fresh roster not empty'
                c.x.send_presence()

            # alice asks bob.
            a.x.send_presence(pto='bob@localhost', ptype='subscribe')
            st = await expect(b.presences, lambda p: is_type(p, 'subscribe'),
                              'subscribe at bob')
            assert bare(st['from']) == 'alice@localhost', st['from']
            push = await expect(a.pushes, lambda p: 'bob@localhost' in roster_items(p),
                                'roster push at alice (pending out)')
            it = roster_items(push)['bob@localhost']
            assert it.get('subscription', 'none') == 'none' and it.get('ask') == 'subscribe', \
                ET.tostring(it)

            # bob approves.
            b.x.send_presence(pto='alice@localhost', ptype='subscribed')
            st = await expect(a.presences, lambda p: is_type(p, 'subscribed'),
                              'subscribed at alice')
            assert bare(st['from']) == 'bob@localhost', st['from']
            push = await expect(a.pushes,
                                lambda p: roster_items(p).get('bob@localhost') is not None
                                and roster_items(p)['bob@localhost'].get('subscription') == 'to',
                                "push subscription='to' at alice")
            assert str(push['from']) in ('', 'alice@localhost'), \
                'roster push from %s' % push['from']
            await expect(b.pushes,
                         lambda p: roster_items(p).get('alice@localhost') is not None
                         and roster_items(p)['alice@localhost'].get('subscription') == 'from',
                         "push subscription='from' at bob")
            # bob is online: alice now gets his presence.
            st = await expect(a.presences,
                              lambda p: str(p['from']) == b.full and p['type'] == 'available',
                              "bob's available presence at alice")

            # And the other way round.
            b.x.send_presence(pto='alice@localhost', ptype='subscribe')
            await expect(a.presences, lambda p: is_type(p, 'subscribe')
                         and bare(p['from']) == 'bob@localhost', 'subscribe at alice')
            a.x.send_presence(pto='bob@localhost', ptype='subscribed')
            await expect(b.presences, lambda p: is_type(p, 'subscribed')
                         and bare(p['from']) == 'alice@localhost', 'subscribed at bob')
            await expect(b.presences,
                         lambda p: str(p['from']) == a.full and p['type'] == 'available',
                         "alice's available presence at bob")
            for c, other in ((a, 'bob@localhost'), (b, 'alice@localhost')):
                await expect(c.pushes,
                             lambda p: roster_items(p).get(other) is not None
                             and roster_items(p)[other].get('subscription') == 'both',
                             "push subscription='both' at %s" % c.jid)
                items = roster_items(await c.roster_get())
                assert set(items) == {other}, items
                assert items[other].get('subscription') == 'both', ET.tostring(items[other])
                assert items[other].get('ask') is None, ET.tostring(items[other])

            # Chat to the bare JID, answer to the full JID.
            a.x.send_message(mto='bob@localhost', mbody='hello bob', mtype='chat')
            m = await expect(b.messages, lambda m: m['body'] == 'hello bob', 'chat at bob')
            assert str(m['from']) == a.full, 'from %s' % m['from']
            assert bare(m['to']) == 'bob@localhost', 'to %s' % m['to']
            assert m['type'] == 'chat'
            b.x.send_message(mto=a.full, mbody='hi <alice> & "co"', mtype='chat')
            m = await expect(a.messages, lambda m: m['body'] == 'hi <alice> & "co"',
                             'chat at alice')
            assert str(m['from']) == b.full, 'from %s' % m['from']
            assert str(m['to']) == a.full, 'to %s' % m['to']

            # alice leaves: bob sees her go.
            await a.close()
            st = await expect(b.presences, lambda p: str(p['from']) == a.full
                              and p['type'] == 'unavailable', "alice's unavailable at bob")
        run_scenario(scenario)


def test_subscription_persists_and_probe():
    # After alice subscribed to bob, a fresh login of alice sees bob's
    # presence (the server probes on her behalf) and the roster is kept.
    with Server() as srv:
        async def scenario(clients):
            a = Client(clients, srv, 'alice@localhost/a1', 'alice-pw')
            b = Client(clients, srv, 'bob@localhost/b1', 'bob-pw')
            await a.connect()
            await b.connect()
            for c in (a, b):
                await c.roster_get()
                c.x.send_presence()
            a.x.send_presence(pto='bob@localhost', ptype='subscribe')
            await expect(b.presences, lambda p: is_type(p, 'subscribe'), 'subscribe')
            b.x.send_presence(pto='alice@localhost', ptype='subscribed')
            await expect(a.presences, lambda p: is_type(p, 'subscribed'), 'subscribed')
            await a.close()
            # alice comes back: initial presence → probe → bob's presence.
            a2 = Client(clients, srv, 'alice@localhost/a2', 'alice-pw')
            await a2.connect()
            items = roster_items(await a2.roster_get())
            assert items.get('bob@localhost') is not None, 'roster lost: %r' % items
            assert items['bob@localhost'].get('subscription') == 'to', \
                ET.tostring(items['bob@localhost'])
            a2.x.send_presence(pstatus='back')
            await expect(a2.presences, lambda p: str(p['from']) == b.full
                         and p['type'] == 'available', "bob's presence after probe")
            # bob is only subscribed *from* (he sees nothing of alice): her
            # broadcast must not reach him, nor her earlier unavailable.
            await expect_none(b.presences,
                              lambda p: bare(p['from']) == 'alice@localhost'
                              and p['type'] not in ('subscribe', 'subscribed'),
                              "alice's presence at bob (he is not subscribed to her)")
            # Once bob subscribes and alice approves, he does get it.
            b.x.send_presence(pto='alice@localhost', ptype='subscribe')
            await expect(a2.presences, lambda p: is_type(p, 'subscribe'), 'subscribe')
            a2.x.send_presence(pto='bob@localhost', ptype='subscribed')
            st = await expect(b.presences, lambda p: str(p['from']) == a2.full
                              and p['type'] == 'available', "alice's presence at bob")
            assert st['status'] == 'back', 'status %r' % st['status']
        run_scenario(scenario)


# ---- roster pushes ----

def test_roster_push_to_all_interested_resources():
    with Server() as srv:
        async def scenario(clients):
            r1 = Client(clients, srv, 'alice@localhost/r1', 'alice-pw')
            r2 = Client(clients, srv, 'alice@localhost/r2', 'alice-pw')
            r3 = Client(clients, srv, 'alice@localhost/r3', 'alice-pw')
            for c in (r1, r2, r3):
                await c.connect()
            first = await r1.roster_get()
            await r2.roster_get()
            versioned = 'rosterver' in r1.x.features
            assert versioned, 'roster versioning not advertised'
            ver0 = first.xml.find('{%s}query' % ROSTER_NS).get('ver')
            assert ver0 is not None, 'roster result without ver'
            # r3 never asks for the roster: it is not an interested resource.

            res = await r1.roster_set('dave@localhost', name='Dave', groups=['Friends', 'Work'])
            assert res['type'] == 'result'
            pushes = []
            for c in (r1, r2):
                p = await expect(c.pushes, lambda p: 'dave@localhost' in roster_items(p),
                                 'push at %s' % c.full)
                it = roster_items(p)['dave@localhost']
                assert it.get('name') == 'Dave', ET.tostring(it)
                assert item_groups(it) == ['Friends', 'Work'], ET.tostring(it)
                assert it.get('subscription', 'none') == 'none', ET.tostring(it)
                assert it.get('ask') is None, ET.tostring(it)
                assert str(p['from']) in ('', 'alice@localhost'), 'push from %s' % p['from']
                ver = p.xml.find('{%s}query' % ROSTER_NS).get('ver')
                assert ver and ver != ver0, 'push ver %r (before %r)' % (ver, ver0)
                pushes.append(ver)
            assert pushes[0] == pushes[1], 'different versions in the same push'
            await expect_none(r3.pushes, lambda p: True, 'push at r3 (never requested roster)')

            # The current version: nothing to send.
            res = await r1.roster_get(ver=pushes[0])
            assert res['type'] == 'result'
            q = res.xml.find('{%s}query' % ROSTER_NS)
            assert q is None or len(q) == 0, 'roster sent again for the current ver'
            # An old version: the whole roster.
            full = roster_items(await r2.roster_get(ver=''))
            assert set(full) == {'dave@localhost'}, full

            # Rename and regroup from r2; remove from r1.
            await r2.roster_set('dave@localhost', name='David', groups=['Work'])
            for c in (r1, r2):
                p = await expect(c.pushes, lambda p: 'dave@localhost' in roster_items(p),
                                 'rename push at %s' % c.full)
                it = roster_items(p)['dave@localhost']
                assert it.get('name') == 'David' and item_groups(it) == ['Work'], \
                    ET.tostring(it)
            await r1.roster_set('dave@localhost', subscription='remove')
            for c in (r1, r2):
                p = await expect(c.pushes, lambda p: 'dave@localhost' in roster_items(p),
                                 'remove push at %s' % c.full)
                assert roster_items(p)['dave@localhost'].get('subscription') == 'remove'
            assert roster_items(await r1.roster_get()) == {}
            await expect_none(r3.pushes, lambda p: True, 'push at r3', wait=0.3)
        run_scenario(scenario)


def test_roster_set_errors():
    with Server() as srv:
        async def scenario(clients):
            c = Client(clients, srv, 'alice@localhost/r1', 'alice-pw')
            await c.connect()
            await c.roster_get()

            async def refused(make, cond, what):
                try:
                    res = await make()
                except IqError as e:
                    got = e.iq['error']['condition']
                    assert got == cond, '%s: %s instead of %s' % (what, got, cond)
                    return
                raise AssertionError('%s accepted: %s' % (what, res))

            # Two items in one set → bad-request (RFC 6121 §2.3.3).
            async def two_items():
                iq = c.x.Iq()
                iq['type'] = 'set'
                q = ET.SubElement(iq.xml, '{%s}query' % ROSTER_NS)
                ET.SubElement(q, '{%s}item' % ROSTER_NS, {'jid': 'x@localhost'})
                ET.SubElement(q, '{%s}item' % ROSTER_NS, {'jid': 'y@localhost'})
                return await iq.send(timeout=5)
            await refused(two_items, 'bad-request', 'two items')
            # The same group twice → bad-request.
            await refused(lambda: c.roster_set('x@localhost', groups=['G', 'G']),
                          'bad-request', 'duplicate group')
            # An empty group name → not-acceptable.
            await refused(lambda: c.roster_set('x@localhost', groups=['']),
                          'not-acceptable', 'empty group')
            # Nothing was added.
            assert roster_items(await c.roster_get()) == {}
        run_scenario(scenario)


# ---- offline messages ----

def test_offline_message_delivered_with_delay():
    with Server() as srv:
        async def scenario(clients):
            a = Client(clients, srv, 'alice@localhost/a1', 'alice-pw')
            await a.connect()
            a.x.send_presence()
            a.x.send_message(mto='bob@localhost', mbody='first, while you were out',
                             mtype='chat')
            a.x.send_message(mto='bob@localhost', mbody='lost headline', mtype='headline')
            a.x.send_message(mto='bob@localhost', mbody='second, normal', mtype='normal')
            await a.ping_server()		# all three handled
            sent_at = datetime.datetime.now(datetime.timezone.utc)
            # Nothing bounced back to alice.
            await expect_none(a.messages, lambda m: m['type'] == 'error',
                              'error for an offline message', wait=0.5)

            b = Client(clients, srv, 'bob@localhost/b1', 'bob-pw')
            await b.connect()
            await b.roster_get()
            # Not before the initial presence.
            await expect_none(b.messages, lambda m: True, 'message before presence', wait=1.0)
            b.x.send_presence()
            got = []
            for body in ('first, while you were out', 'second, normal'):
                m = await expect(b.messages, lambda m: m['body'] != '', 'offline message')
                got.append(m)
            assert [m['body'] for m in got] == ['first, while you were out', 'second, normal'], \
                [m['body'] for m in got]
            for m in got:
                assert str(m['from']) == a.full, 'from %s' % m['from']
                assert bare(m['to']) == 'bob@localhost', 'to %s' % m['to']
                d = m.xml.find('{%s}delay' % DELAY_NS)
                assert d is not None, 'no <delay/>: %s' % m
                assert d.get('from') == 'localhost', 'delay from %r' % d.get('from')
                stamp = d.get('stamp') or ''
                assert STAMP_RE.match(stamp), 'stamp %r' % stamp
                when = datetime.datetime.strptime(stamp[:19], '%Y-%m-%dT%H:%M:%S').replace(
                    tzinfo=datetime.timezone.utc)
                skew = (sent_at - when).total_seconds()
                assert -2 <= skew <= 30, 'stamp %s vs sent %s' % (stamp, sent_at)
            assert got[0]['type'] == 'chat'
            assert got[1]['type'] in ('normal', ''), got[1]['type']
            await expect_none(b.messages, lambda m: m['body'] == 'lost headline',
                              'stored headline', wait=1.0)
            await b.close()

            # Delivered once: a new login gets nothing.
            b2 = Client(clients, srv, 'bob@localhost/b2', 'bob-pw')
            await b2.connect()
            b2.x.send_presence()
            await expect_none(b2.messages, lambda m: m['body'] != '',
                              'offline message delivered twice', wait=1.5)
        run_scenario(scenario)


# ---- resources ----

def test_resource_conflict_kicks_old_session():
    with Server() as srv:
        async def scenario(clients):
            old = Client(clients, srv, 'alice@localhost/same', 'alice-pw')
            await old.connect()
            old.x.send_presence()
            assert old.full == 'alice@localhost/same'
            new = Client(clients, srv, 'alice@localhost/same', 'alice-pw')
            await new.connect()
            assert new.full == 'alice@localhost/same', 'new session bound %s' % new.full
            try:
                await asyncio.wait_for(old.gone.wait(), 5)
            except asyncio.TimeoutError:
                raise AssertionError('old session not disconnected')
            conds = [e['condition'] for e in old.stream_errors]
            assert conds == ['conflict'], 'old session got stream errors %s' % conds
            # The new session works: a message to the full JID reaches it.
            b = Client(clients, srv, 'bob@localhost/b', 'bob-pw')
            await b.connect()
            b.x.send_message(mto='alice@localhost/same', mbody='to the new one', mtype='chat')
            m = await expect(new.messages, lambda m: m['body'] == 'to the new one',
                             'message at the new session')
            assert str(m['from']) == b.full
            assert not new.stream_errors, [e['condition'] for e in new.stream_errors]
        run_scenario(scenario)


def test_message_to_bare_jid_prefers_highest_priority():
    with Server() as srv:
        async def scenario(clients):
            lo = Client(clients, srv, 'alice@localhost/lo', 'alice-pw')
            hi = Client(clients, srv, 'alice@localhost/hi', 'alice-pw')
            b = Client(clients, srv, 'bob@localhost/b', 'bob-pw')
            for c in (lo, hi, b):
                await c.connect()
            lo.x.send_presence(ppriority=1)
            hi.x.send_presence(ppriority=5)
            await lo.ping_server()
            await hi.ping_server()
            b.x.send_message(mto='alice@localhost', mbody='for the top one', mtype='chat')
            await expect(hi.messages, lambda m: m['body'] == 'for the top one',
                         'message at priority 5')
            await expect_none(lo.messages, lambda m: m['body'] == 'for the top one',
                              'message at priority 1', wait=0.7)
            # A headline to the bare JID goes to every non-negative resource.
            b.x.send_message(mto='alice@localhost', mbody='news for all', mtype='headline')
            for c in (hi, lo):
                m = await expect(c.messages, lambda m: m['body'] == 'news for all',
                                 'headline at %s' % c.full)
                assert m['type'] == 'headline'
            # Priorities change: the next chat follows.
            lo.x.send_presence(ppriority=10)
            await lo.ping_server()
            b.x.send_message(mto='alice@localhost', mbody='now for lo', mtype='chat')
            await expect(lo.messages, lambda m: m['body'] == 'now for lo', 'chat at new top')
            await expect_none(hi.messages, lambda m: m['body'] == 'now for lo',
                              'chat at the lower one', wait=0.7)
        run_scenario(scenario)


# ---- direct TLS (XEP-0368) ----

def test_direct_tls_port():
    with Server(direct_tls=True) as srv:
        async def scenario(clients):
            c = Client(clients, srv, 'carol@localhost/tls', 'carol-pw', mech='SCRAM-SHA-1',
                       direct_tls=True)
            await c.connect()
            assert c.full == 'carol@localhost/tls'
            assert 'starttls' not in c.x.features, 'STARTTLS offered inside TLS'
            reply = await c.ping_server()
            assert reply['type'] == 'result'
            # The STARTTLS port keeps working next to it.
            d = Client(clients, srv, 'alice@localhost/plain-port', 'alice-pw')
            await d.connect()
            d.x.send_message(mto=c.full, mbody='across ports', mtype='chat')
            m = await expect(c.messages, lambda m: m['body'] == 'across ports', 'message')
            assert str(m['from']) == d.full
        run_scenario(scenario)


# ---- passwords, payloads, many clients ----

def test_non_ascii_password_every_mechanism():
    pw = 'gr\u00fc\u00dfe \u2603 caf\u00e9'
    with Server() as srv:
        srv.adduser('dave@localhost', pw)

        async def scenario(clients):
            for mech in ('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'):
                c = Client(clients, srv, 'dave@localhost/' + mech.lower(), pw, mech=mech)
                await c.connect()
                await c.close()
                bad = Client(clients, srv, 'dave@localhost/x', pw.upper(), mech=mech)
                what = await bad.connect(expect_session=False)
                assert what == 'failed_auth', '%s: wrong case accepted (%s)' % (mech, what)
        run_scenario(scenario)


def test_large_and_unicode_messages():
    with Server() as srv:
        async def scenario(clients):
            a = Client(clients, srv, 'alice@localhost/a', 'alice-pw')
            b = Client(clients, srv, 'bob@localhost/b', 'bob-pw')
            await a.connect()
            await b.connect()
            b.x.send_presence()
            await b.ping_server()
            texts = [
                'gr\u00fc\u00df dich \u2014 \u65e5\u672c\u8a9e \U0001f600 e\u0301',
                '<not a tag> &amp; "quotes" \'apos\' ]]> \t tab',
                # 200 KB: under max_stanza_size (256 KB), far over one TLS
                # record and the socket buffers on the way.
                ''.join(chr(0x41 + (i * 7) % 26) for i in range(200 * 1024)),
            ]
            for i, t in enumerate(texts):
                a.x.send_message(mto=b.full, mbody=t, mtype='chat')
            for i, t in enumerate(texts):
                m = await expect(b.messages, lambda m: m['body'] != '', 'message %d' % i,
                                 timeout=10)
                assert m['body'] == t, 'message %d changed on the way (%d chars, want %d)' % (
                    i, len(m['body']), len(t))
                assert str(m['from']) == a.full
            # The big one the other way, to a bare JID, while chatting.
            b.x.send_message(mto='alice@localhost', mbody=texts[2][::-1], mtype='chat')
            a.x.send_presence()
            m = await expect(a.messages, lambda m: m['body'] != '', 'big reply', timeout=10)
            assert m['body'] == texts[2][::-1]
        run_scenario(scenario)


def test_many_clients_exchange_messages():
    n = 10
    users = {'u%d@localhost' % i: 'pw-%d' % i for i in range(n)}
    with Server(users=users, limits={'max_connections_per_ip': 64,
                                     'max_unauth_per_ip': 32}) as srv:
        async def scenario(clients):
            cs = [Client(clients, srv, 'u%d@localhost/r' % i, 'pw-%d' % i) for i in range(n)]
            await asyncio.gather(*(c.connect(timeout=15) for c in cs))
            for c in cs:
                c.x.send_presence()
            await asyncio.gather(*(c.ping_server() for c in cs))
            for i, c in enumerate(cs):
                for j, d in enumerate(cs):
                    if i != j:
                        c.x.send_message(mto=d.full, mbody='m %d->%d' % (i, j), mtype='chat')
            for j, d in enumerate(cs):
                want = {'m %d->%d' % (i, j) for i in range(n) if i != j}
                got = set()
                while got != want:
                    m = await expect(d.messages, lambda m: m['body'].startswith('m '),
                                     'messages at u%d (have %d of %d)' % (j, len(got),
                                                                         len(want)),
                                     timeout=10)
                    sender = int(m['body'].split()[1].split('->')[0])
                    assert str(m['from']) == cs[sender].full, \
                        'from %s for %r' % (m['from'], m['body'])
                    assert m['body'] not in got, 'duplicate %r' % m['body']
                    got.add(m['body'])
        run_scenario(scenario, timeout=45)


def test_unusual_localparts_every_mechanism():
    # ',' and '=' are legal in a localpart and must survive SCRAM's saslname
    # escaping (=2C, =3D); non-ASCII must survive normalisation and storage.
    users = {'x=y,z@localhost': 'pw-comma', 'j\u00fcrgen@localhost': 'pw-umlaut',
             'o.k_-+!#$%*~@localhost': 'pw-punct'}
    with Server(users=users) as srv:
        async def scenario(clients):
            for jid, pw in users.items():
                for mech in ('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'):
                    c = Client(clients, srv, jid + '/r', pw, mech=mech)
                    await c.connect()
                    assert bare(c.full) == jid, '%s bound as %s' % (jid, c.full)
                    await c.close()
            # Messages between them carry the exact JIDs.
            a = Client(clients, srv, 'x=y,z@localhost/a', 'pw-comma')
            b = Client(clients, srv, 'j\u00fcrgen@localhost/b', 'pw-umlaut')
            await a.connect()
            await b.connect()
            a.x.send_message(mto=b.full, mbody='hallo', mtype='chat')
            m = await expect(b.messages, lambda m: m['body'] == 'hallo', 'message')
            assert str(m['from']) == 'x=y,z@localhost/a', m['from']
            assert str(m['to']) == 'j\u00fcrgen@localhost/b', m['to']
        run_scenario(scenario)


def test_deluser_while_online_leaves_nothing_behind():
    # Deleting an account whose user is online: whatever happens to the
    # session, the account's data must not come back, and an account made
    # later under the same name starts empty.
    with Server() as srv:
        acct = os.path.join(srv.data_path, 'localhost', 'bob')

        async def scenario(clients):
            b = Client(clients, srv, 'bob@localhost/b', 'bob-pw')
            await b.connect()
            await b.roster_get()
            await b.roster_set('secret-contact@localhost', name='Secret')
            a = Client(clients, srv, 'alice@localhost/a', 'alice-pw')
            await a.connect()
            r = srv.cli('deluser', 'bob@localhost')
            assert r.returncode == 0, r.stderr
            assert not os.path.exists(acct), 'account directory still there'
            # The old session (if still open) writes; alice sends to bob.
            if not b.gone.is_set():
                try:
                    await b.roster_set('another@localhost', name='Another')
                except Exception:
                    pass
                b.x.send_presence()
            a.x.send_message(mto='bob@localhost', mbody='to a deleted account', mtype='chat')
            a.x.send_presence(pto='bob@localhost', ptype='subscribe')
            try:
                await a.ping_server()
            except Exception:
                pass
            await asyncio.sleep(0.3)
            assert not os.path.exists(acct), 'deleted account data reappeared: %s' % (
                sorted(os.listdir(acct)),)
            await b.close()
            # A new bob starts from nothing.
            r = srv.cli('adduser', 'bob@localhost', input='new-bob-pw\n')
            assert r.returncode == 0, r.stderr
            nb = Client(clients, srv, 'bob@localhost/new', 'new-bob-pw')
            await nb.connect()
            items = roster_items(await nb.roster_get())
            assert items == {}, 'new account inherited a roster: %s' % sorted(items)
            nb.x.send_presence()
            await expect_none(nb.messages, lambda m: m['body'] != '',
                              'old offline message at the new account', wait=1.0)
            await expect_none(nb.presences, lambda p: p['type'] == 'subscribe',
                              'old subscription request at the new account', wait=0.3)
        run_scenario(scenario)


def test_deluser_while_online_session_not_left_hanging():
    # After deluser the server may close the account's sessions or keep
    # them; if it keeps one, that session's requests are still answered
    # (every get/set gets exactly one reply), never silently dropped.
    with Server() as srv:
        async def scenario(clients):
            b = Client(clients, srv, 'bob@localhost/b', 'bob-pw')
            await b.connect()
            await b.roster_get()
            r = srv.cli('deluser', 'bob@localhost')
            assert r.returncode == 0, r.stderr
            try:
                await asyncio.wait_for(b.gone.wait(), 1.0)
                return			# closed: fine
            except asyncio.TimeoutError:
                pass
            for what, call in (('ping', b.ping_server), ('roster get', b.roster_get)):
                try:
                    await call()
                except IqError:
                    pass		# an error reply is a reply
                except IqTimeout:
                    if b.gone.is_set():
                        return
                    raise AssertionError('%s from the open session of a deleted account '
                                         'got no reply' % what)
        run_scenario(scenario)


def test_dropped_connection_sends_unavailable():
    # A client that vanishes without closing its stream (TCP reset or a
    # plain close) is seen going offline by its contacts.
    with Server() as srv:
        async def scenario(clients):
            a = Client(clients, srv, 'alice@localhost/a', 'alice-pw')
            b = Client(clients, srv, 'bob@localhost/b', 'bob-pw')
            await a.connect()
            await b.connect()
            for c in (a, b):
                await c.roster_get()
                c.x.send_presence()
            a.x.send_presence(pto='bob@localhost', ptype='subscribe')
            await expect(b.presences, lambda p: is_type(p, 'subscribe'), 'subscribe')
            b.x.send_presence(pto='alice@localhost', ptype='subscribed')
            await expect(a.presences, lambda p: str(p['from']) == b.full
                         and p['type'] == 'available', "bob's presence")
            b.x.abort()			# no </stream:stream>
            await expect(a.presences, lambda p: str(p['from']) == b.full
                         and p['type'] == 'unavailable', "bob's unavailable", timeout=5)
            # bob is offline now: a chat to his bare JID is kept for him.
            a.x.send_message(mto='bob@localhost', mbody='after the drop', mtype='chat')
            await a.ping_server()
            b2 = Client(clients, srv, 'bob@localhost/b2', 'bob-pw')
            await b2.connect()
            b2.x.send_presence()
            m = await expect(b2.messages, lambda m: m['body'] == 'after the drop',
                             'offline message after the drop')
            assert m.xml.find('{%s}delay' % DELAY_NS) is not None
        run_scenario(scenario)
