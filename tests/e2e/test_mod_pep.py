"""
Personal eventing (XEP-0163, modules/pep.c) on the XEP-0060 subset it needs:
slixmpp clients (xep_0060, xep_0163, xep_0115, xep_0084, xep_0048, xep_0223)
publishing tunes, avatars, OMEMO device lists and bundles and bookmarks, and
receiving the notifications their entity capabilities ask for; then raw XML
for every refusal (precondition-not-met, item-not-found, forbidden,
not-authorized, not-allowed, not-acceptable, bad-request), each with the
exact stanza and pubsub#errors conditions and a look at the data directory
to see that nothing was written.
"""

import asyncio
import base64
import hashlib
import logging
import os
import ssl
import time

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from lib import Server
from rawxmpp import (C, NS_DISCO_INFO, NS_STANZAS, Failures, client, dump, q,
                     stanza_error)

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_OWNER = NS_PUBSUB + '#owner'
NS_EVENT = NS_PUBSUB + '#event'
NS_ERRORS = NS_PUBSUB + '#errors'
NS_CAPS = 'http://jabber.org/protocol/caps'
NS_XDATA = 'jabber:x:data'
NS_DELAY = 'urn:xmpp:delay'
NS_ADDRESS = 'http://jabber.org/protocol/address'
NS_PRIVATE = 'jabber:iq:private'
NS_BM1 = 'urn:xmpp:bookmarks:1'
NS_BM0 = 'storage:bookmarks'
NS_TUNE = 'http://jabber.org/protocol/tune'
NS_DEVICELIST = 'eu.siacs.conversations.axolotl.devicelist'
NS_AXOLOTL = 'eu.siacs.conversations.axolotl'
NS_OMEMO_DEVICES = 'urn:xmpp:omemo:2:devices'
NS_OMEMO_BUNDLES = 'urn:xmpp:omemo:2:bundles'
NS_OMEMO = 'urn:xmpp:omemo:2'
NS_AVATAR_DATA = 'urn:xmpp:avatar:data'
NS_AVATAR_META = 'urn:xmpp:avatar:metadata'

MODULES = 'roster, saslauth, tls, disco, ping, offline, pep'
MODULES_PRIVATE = MODULES + ', private'
CAPS_NODE = 'urn:xmppd:test'


# ---- files ----

def pep_dir(srv, user='alice'):
    return os.path.join(srv.data_path, 'localhost', user, 'pep')


def pep_files(srv, user='alice'):
    """{file name: bytes} of an account's pep/ directory."""
    d = pep_dir(srv, user)
    if not os.path.isdir(d):
        return {}
    out = {}
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), 'rb') as fh:
            out[name] = fh.read()
    return out


def node_file(node):
    """The file name pep.c gives a node (store_escape, then 'n-')."""
    out = ''
    for i, ch in enumerate(node.encode('utf-8')):
        c = chr(ch)
        if ('a' <= c <= 'z' or '0' <= c <= '9' or c in '-_') or (c == '.' and i > 0):
            out += c
        else:
            out += '%%%02X' % ch
    return 'n-' + out


# ---- raw requests ----

def ps(r, inner, type='set', to=None, ns=NS_PUBSUB):
    t = " to='%s'" % to if to else ''
    return r.iq("<iq type='%s'%s><pubsub xmlns='%s'>%s</pubsub></iq>" % (type, t, ns, inner))


def owner(r, inner, type='set', to=None):
    return ps(r, inner, type=type, to=to, ns=NS_OWNER)


def form(form_type, fields, type='submit'):
    out = "<x xmlns='jabber:x:data' type='%s'>" % type
    if form_type is not None:
        out += ("<field var='FORM_TYPE' type='hidden'><value>%s</value></field>"
                % form_type)
    for var, vals in fields:
        if not isinstance(vals, (list, tuple)):
            vals = [vals]
        out += "<field var='%s'>%s</field>" % (
            var, ''.join('<value>%s</value>' % v for v in vals))
    return out + '</x>'


def pubopts(*fields, form_type=NS_PUBSUB + '#publish-options'):
    return '<publish-options>%s</publish-options>' % form(form_type, fields)


def publish(r, node, payload, id=None, options='', to=None):
    i = " id='%s'" % id if id is not None else ''
    return ps(r, "<publish node='%s'><item%s>%s</item></publish>%s"
              % (node, i, payload, options), to=to)


def items(r, node, to=None, extra='', inner=''):
    return ps(r, "<items node='%s'%s>%s</items>" % (node, extra, inner), type='get', to=to)


def assert_ok(reply, what):
    assert reply.get('type') == 'result', '%s: %s' % (what, dump(reply))


def assert_error(reply, etype, cond, what, pcond=None, text=None, feature=None):
    """The error type, stanza condition and pubsub#errors condition (None:
    there must be none) of an error reply."""
    assert reply.get('type') == 'error', '%s: expected an error, got %s' % (what, dump(reply))
    got = stanza_error(reply)
    assert got == (etype, cond), '%s: error %r, expected %r: %s' % (
        what, got, (etype, cond), dump(reply))
    err = reply.find(C('error'))
    app = [c for c in err if c.tag.startswith('{%s}' % NS_ERRORS)]
    if pcond is None:
        assert not app, '%s: unexpected pubsub condition: %s' % (what, dump(reply))
    else:
        assert len(app) == 1 and app[0].tag == q(NS_ERRORS, pcond), \
            '%s: pubsub condition %s expected: %s' % (what, pcond, dump(reply))
        if feature is not None:
            assert app[0].get('feature') == feature, '%s: feature: %s' % (what, dump(reply))
    if text is not None:
        t = err.find(q(NS_STANZAS, 'text'))
        assert t is not None and text in (t.text or ''), \
            '%s: error text does not mention %r: %s' % (what, text, dump(reply))


def got_items(reply, node):
    """[(id, payload element)] of an items result."""
    assert_ok(reply, 'items of %s' % node)
    el = reply.find('%s/%s' % (q(NS_PUBSUB, 'pubsub'), q(NS_PUBSUB, 'items')))
    assert el is not None and el.get('node') == node, dump(reply)
    return [(i.get('id'), i[0] if len(i) else None) for i in el.findall(q(NS_PUBSUB, 'item'))]


def form_values(x):
    """{var: [values]} of a data form."""
    return {f.get('var'): [v.text or '' for v in f.findall(q(NS_XDATA, 'value'))]
            for f in x.findall(q(NS_XDATA, 'field'))}


def config_of(r, node):
    rep = owner(r, "<configure node='%s'/>" % node, type='get')
    assert_ok(rep, 'configure get %s' % node)
    x = rep.find('%s/%s/%s' % (q(NS_OWNER, 'pubsub'), q(NS_OWNER, 'configure'),
                               q(NS_XDATA, 'x')))
    assert x is not None and x.get('type') == 'form', dump(rep)
    return form_values(x)


def is_event(node=None, frm='alice@localhost'):
    def pred(e):
        if e.tag != C('message'):
            return False
        ev = e.find(q(NS_EVENT, 'event'))
        if ev is None or (frm is not None and e.get('from') != frm):
            return False
        return node is None or any(c.get('node') == node for c in ev)
    pred.desc = 'a pubsub event%s' % ('' if node is None else ' for ' + node)
    return pred


def event_items(msg):
    """(node, [(tag, id, payload)]) of an <items/> event."""
    its = msg.find('%s/%s' % (q(NS_EVENT, 'event'), q(NS_EVENT, 'items')))
    assert its is not None, dump(msg)
    return its.get('node'), [(c.tag.split('}')[1], c.get('id'), c[0] if len(c) else None)
                             for c in its]


# ---- entity capabilities for raw clients ----

def caps_ver(features, identity=('client', 'pc', '', 'raw')):
    s = '%s/%s/%s/%s<' % identity
    for f in sorted(set(features)):
        s += f + '<'
    return base64.b64encode(hashlib.sha1(s.encode('utf-8')).digest()).decode()


def caps_features(notify):
    return [NS_DISCO_INFO, NS_CAPS] + ['%s+notify' % n for n in notify]


def answer_disco(r, query_iq, features, identity=('client', 'pc', '', 'raw')):
    node = query_iq.find(q(NS_DISCO_INFO, 'query')).get('node')
    inner = "<identity category='%s' type='%s' name='%s'/>" % (
        identity[0], identity[1], identity[3])
    inner += ''.join("<feature var='%s'/>" % f for f in features)
    r.send("<iq type='result' to='%s' id='%s'><query xmlns='%s' node='%s'>%s</query></iq>"
           % (query_iq.get('from'), query_iq.get('id'), NS_DISCO_INFO, node, inner))


def is_caps_query(e):
    return (e.tag == C('iq') and e.get('type') == 'get' and
            e.find(q(NS_DISCO_INFO, 'query')) is not None and
            '#' in (e.find(q(NS_DISCO_INFO, 'query')).get('node') or ''))


def caps_client(srv, user, notify, resource=None, ver=None, answer=True, hash='sha-1'):
    """A raw client whose initial presence carries caps with NODE+notify for
    every node in notify; answers the server's disco#info query (if it asks)
    with the matching features.  ver overrides the verification string."""
    r = client(srv, user, resource=resource, presence=False)
    feats = caps_features(notify)
    v = ver or caps_ver(feats)
    h = " hash='%s'" % hash if hash else ''
    r.send("<presence><c xmlns='%s'%s node='%s' ver='%s'/></presence>" % (NS_CAPS, h, CAPS_NODE, v))
    r.sync()
    asked = r.take_all(is_caps_query)
    assert len(asked) <= 1, [dump(e) for e in asked]
    r.asked = asked
    if asked and answer:
        qn = asked[0].find(q(NS_DISCO_INFO, 'query')).get('node')
        assert qn == '%s#%s' % (CAPS_NODE, v), dump(asked[0])
        # Asked by the account itself (its own presence is seen first).
        assert asked[0].get('to') == r.jid and \
            asked[0].get('from') == r.jid.split('/')[0], dump(asked[0])
        answer_disco(r, asked[0], feats)
        r.sync()
    r.take_all(lambda e: e.tag == C('presence') and e.get('from') == r.jid)
    return r


def befriend(srv, a, b):
    """Mutual presence subscription ('both') between two accounts."""
    ra, rb = client(srv, a), client(srv, b)
    ja, jb = a + '@localhost', b + '@localhost'
    for x, y, jx, jy in ((ra, rb, ja, jb), (rb, ra, jb, ja)):
        x.send("<presence to='%s' type='subscribe'/>" % jy)
        y.expect(lambda e: e.tag == C('presence') and e.get('type') == 'subscribe')
        y.send("<presence to='%s' type='subscribed'/>" % jx)
        x.sync()
        y.sync()
    ra.finish()
    rb.finish()


def roster_set(r, jid, groups=()):
    g = ''.join('<group>%s</group>' % x for x in groups)
    rep = r.iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='%s'>%s</item>"
               "</query></iq>" % (jid, g))
    assert_ok(rep, 'roster set')


# ---- slixmpp ----

async def _none_answer(*args, **kwargs):
    return None


class Xc:
    """A slixmpp client with the plugins a scenario needs.  Interests
    (+notify) are set before the session starts, and the initial presence
    is sent only once the caps hash includes them."""

    def __init__(self, srv, jid, plugins, interests=()):
        self.x = x = slixmpp.ClientXMPP(jid, srv.users[jid.split('/')[0]])
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.default_domain = x.boundjid.domain
        x._pick_dns_answer = _none_answer
        x.auto_authorize = None
        x.auto_subscribe = False
        for p in ('xep_0030', 'xep_0115', 'xep_0060', 'xep_0163') + tuple(plugins):
            x.register_plugin(p)
        for ns in interests:
            x['xep_0030'].add_feature('%s+notify' % ns)
        self.srv = srv
        self.session = asyncio.Event()
        self.events = asyncio.Queue()
        x.register_handler(slixmpp.Callback(
            'pep events', slixmpp.MatchXPath('{jabber:client}message/{%s}event' % NS_EVENT),
            lambda m: self.events.put_nowait(m)))
        x.add_event_handler('session_start', self._start)

    async def _start(self, ev):
        await self.x['xep_0115'].update_caps(broadcast=False)
        self.x.send_presence()
        await self.ping()
        self.session.set()

    async def connect(self):
        self.x.connect(address=('127.0.0.1', self.srv.c2s_port))
        await asyncio.wait_for(self.session.wait(), 10)

    async def ping(self):
        iq = self.x.Iq()
        iq['type'] = 'get'
        iq['to'] = 'localhost'
        ET.SubElement(iq.xml, '{urn:xmpp:ping}ping')
        return await iq.send(timeout=5)

    async def event(self, timeout=5):
        return (await asyncio.wait_for(self.events.get(), timeout)).xml

    async def no_event(self):
        """Nothing arrived (after a round trip, and a moment for caps
        queries the server may still be waiting for)."""
        await asyncio.sleep(0.2)
        await self.ping()
        assert self.events.empty(), 'unexpected event: %s' % ET.tostring(
            self.events.get_nowait().xml)

    async def close(self):
        if self.x.transport is not None:
            try:
                await asyncio.wait_for(self.x.disconnect(wait=1), 3)
            except Exception:
                self.x.abort()


def run_scenario(coro_fn, timeout=25):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clients = []
    try:
        loop.run_until_complete(asyncio.wait_for(coro_fn(clients), timeout))
    finally:
        try:
            loop.run_until_complete(asyncio.wait_for(
                asyncio.gather(*(c.close() for c in clients), return_exceptions=True), 5))
        except Exception:
            pass
        for task in asyncio.all_tasks(loop):
            task.cancel()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        except Exception:
            pass
        loop.close()
        asyncio.set_event_loop(None)


def tune(title):
    t = ET.Element('{%s}tune' % NS_TUNE)
    ET.SubElement(t, '{%s}title' % NS_TUNE).text = title
    return t


def xfind(el, *path):
    for p in path:
        el = el.find(p) if el is not None else None
    return el


# ---- slixmpp scenarios ----

def test_pep_slixmpp_tune_notifications_and_last_item():
    """XEP-0163: a contact with tune+notify in its caps gets each publication
    (with a XEP-0033 replyto naming the publishing resource), the owner's
    other interested resource gets it too, a stranger with the same caps
    gets nothing and may not read; a returning contact gets the last item
    with a delay; items answers with the one item max_items keeps."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')

        async def scenario(clients):
            a = Xc(srv, 'alice@localhost/pub', [])
            a2 = Xc(srv, 'alice@localhost/other', [], interests=[NS_TUNE])
            b = Xc(srv, 'bob@localhost/phone', [], interests=[NS_TUNE])
            c = Xc(srv, 'carol@localhost/x', [], interests=[NS_TUNE])
            clients.extend([a, a2, b, c])
            for x in (a, a2, b, c):
                await x.connect()
            await a.x['xep_0060'].publish(None, NS_TUNE, id='t1', payload=tune('Finzi'),
                                          timeout=5)
            for who in (b, a2):
                m = await who.event()
                assert m.get('from') == 'alice@localhost' and m.get('type') == 'headline', \
                    ET.tostring(m)
                node, its = event_items(m)
                assert node == NS_TUNE and len(its) == 1 and its[0][:2] == ('item', 't1'), \
                    ET.tostring(m)
                assert xfind(its[0][2], '{%s}title' % NS_TUNE).text == 'Finzi'
                addr = xfind(m, '{%s}addresses' % NS_ADDRESS, '{%s}address' % NS_ADDRESS)
                if who is b:
                    assert addr is not None and addr.get('type') == 'replyto' and \
                        addr.get('jid') == 'alice@localhost/pub', ET.tostring(m)
                else:
                    assert addr is None, 'replyto for the owner: %s' % ET.tostring(m)
                assert m.find('{%s}delay' % NS_DELAY) is None, ET.tostring(m)
            await c.no_event()
            await a.no_event()      # no +notify: not even the publisher
            try:
                await c.x['xep_0060'].get_items('alice@localhost', NS_TUNE, timeout=5)
                raise AssertionError('carol read alice\'s tune')
            except IqError as e:
                assert e.iq['error']['condition'] == 'not-authorized', ET.tostring(e.iq.xml)
                assert e.iq.xml.find('{jabber:client}error/{%s}presence-subscription-required'
                                     % NS_ERRORS) is not None, ET.tostring(e.iq.xml)

            # bob leaves; alice publishes twice more; bob comes back.
            await b.close()
            await a.x['xep_0060'].publish(None, NS_TUNE, id='t2', payload=tune('Elgar'),
                                          timeout=5)
            await a.x['xep_0060'].publish(None, NS_TUNE, id='t3', payload=tune('Holst'),
                                          timeout=5)
            b2 = Xc(srv, 'bob@localhost/laptop', [], interests=[NS_TUNE])
            clients.append(b2)
            await b2.connect()
            m = await b2.event()
            node, its = event_items(m)
            assert (node, [i[:2] for i in its]) == (NS_TUNE, [('item', 't3')]), ET.tostring(m)
            delay = m.find('{%s}delay' % NS_DELAY)
            assert delay is not None and delay.get('stamp', '').endswith('Z'), ET.tostring(m)
            await b2.no_event()
            res = await b2.x['xep_0060'].get_items('alice@localhost', NS_TUNE, timeout=5)
            got = [(i['id'], i.xml[0].find('{%s}title' % NS_TUNE).text)
                   for i in res['pubsub']['items']]
            assert got == [('t3', 'Holst')], ET.tostring(res.xml)
            # a2 saw every publication, as they happened.
            for want in ('t2', 't3'):
                node, its = event_items(await a2.event())
                assert its[0][1] == want
        run_scenario(scenario)
        files = pep_files(srv)
        assert list(files) == [node_file(NS_TUNE)], list(files)
        data = files[node_file(NS_TUNE)].decode()
        assert 'Holst' in data and 'Finzi' not in data and 'version="1"' in data, data
        assert pep_files(srv, 'bob') == {} and pep_files(srv, 'carol') == {}


def slix_form(x, fields, form_type=NS_PUBSUB + '#publish-options'):
    f = x['xep_0004'].stanza.Form()
    f['type'] = 'submit'
    f.add_field(var='FORM_TYPE', ftype='hidden', value=form_type)
    for var, val in fields:
        f.add_field(var=var, value=val)
    return f


def devicelist(ids):
    el = ET.Element('{%s}list' % NS_AXOLOTL)
    for i in ids:
        ET.SubElement(el, '{%s}device' % NS_AXOLOTL, {'id': str(i)})
    return el


def bundle(seed):
    el = ET.Element('{%s}bundle' % NS_AXOLOTL)
    spk = ET.SubElement(el, '{%s}signedPreKeyPublic' % NS_AXOLOTL, {'signedPreKeyId': '1'})
    spk.text = base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()
    ET.SubElement(el, '{%s}signedPreKeySignature' % NS_AXOLOTL).text = \
        base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()
    ET.SubElement(el, '{%s}identityKey' % NS_AXOLOTL).text = \
        base64.b64encode(hashlib.sha256((seed + 'id').encode()).digest()).decode()
    pks = ET.SubElement(el, '{%s}prekeys' % NS_AXOLOTL)
    for i in range(1, 101):
        ET.SubElement(pks, '{%s}preKeyPublic' % NS_AXOLOTL, {'preKeyId': str(i)}).text = \
            base64.b64encode(hashlib.sha256(('%s%d' % (seed, i)).encode()).digest()).decode()
    return el


def test_pep_slixmpp_omemo_device_lists_and_bundles():
    """Two accounts set up OMEMO (legacy axolotl nodes and urn:xmpp:omemo:2)
    with publish-options access_model=open: each gets the other's device
    list through +notify (live, and as the last item at login), fetches the
    other's bundle; a stranger may fetch open bundles too; omemo:2 bundles
    of two devices live in one node with max_items=max."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')

        async def scenario(clients):
            notify = [NS_DEVICELIST, NS_OMEMO_DEVICES]
            a = Xc(srv, 'alice@localhost/conv', ['xep_0004'], interests=notify)
            b = Xc(srv, 'bob@localhost/dino', ['xep_0004'], interests=notify)
            c = Xc(srv, 'carol@localhost/x', ['xep_0004'])
            clients.extend([a, b, c])
            await a.connect()
            open_opts = slix_form(a.x, [('pubsub#access_model', 'open')])
            await a.x['xep_0060'].publish(None, NS_AXOLOTL + '.bundles:1111', id='current',
                                          payload=bundle('alice-1111'), options=open_opts,
                                          timeout=5)
            await a.x['xep_0060'].publish(None, NS_DEVICELIST, id='current',
                                          payload=devicelist([1111]), options=open_opts,
                                          timeout=5)
            # alice's own resource hears of its device list.
            node, its = event_items(await a.event())
            assert node == NS_DEVICELIST and its[0][1] == 'current'

            # bob comes online: alice's device list arrives as last item.
            await b.connect()
            m = await b.event()
            node, its = event_items(m)
            assert node == NS_DEVICELIST and [d.get('id') for d in its[0][2]] == ['1111'], \
                ET.tostring(m)
            assert m.find('{%s}delay' % NS_DELAY) is not None
            bopts = slix_form(b.x, [('pubsub#access_model', 'open')])
            await b.x['xep_0060'].publish(None, NS_AXOLOTL + '.bundles:2222', id='current',
                                          payload=bundle('bob-2222'), options=bopts, timeout=5)
            await b.x['xep_0060'].publish(None, NS_DEVICELIST, id='current',
                                          payload=devicelist([2222]), options=bopts,
                                          timeout=5)
            for who in (a, b):
                m = await who.event()
                node, its = event_items(m)
                assert m.get('from') == 'bob@localhost' and node == NS_DEVICELIST and \
                    [d.get('id') for d in its[0][2]] == ['2222'], ET.tostring(m)

            # Each fetches the other's bundle.
            res = await b.x['xep_0060'].get_items('alice@localhost', NS_AXOLOTL + '.bundles:1111',
                                                  timeout=5)
            (it,) = list(res['pubsub']['items'])
            assert ET.tostring(it.xml[0]) == ET.tostring(bundle('alice-1111')), \
                ET.tostring(res.xml)[:300]
            res = await a.x['xep_0060'].get_items('bob@localhost', NS_AXOLOTL + '.bundles:2222',
                                                  max_items=1, timeout=5)
            (it,) = list(res['pubsub']['items'])
            assert it['id'] == 'current' and \
                ET.tostring(it.xml[0]) == ET.tostring(bundle('bob-2222'))

            # Open nodes: a stranger may read them as well.
            await c.connect()
            res = await c.x['xep_0060'].get_items('alice@localhost', NS_DEVICELIST, timeout=5)
            assert [i['id'] for i in res['pubsub']['items']] == ['current']

            # A second device: alice's list grows, bob hears of it.
            await a.x['xep_0060'].publish(None, NS_DEVICELIST, id='current',
                                          payload=devicelist([1111, 3333]), options=open_opts,
                                          timeout=5)
            node, its = event_items(await b.event())
            assert [d.get('id') for d in its[0][2]] == ['1111', '3333']
            await a.event()

            # OMEMO 2: one bundles node, an item per device, max_items=max.
            o2 = slix_form(a.x, [('pubsub#max_items', 'max'), ('pubsub#access_model', 'open')])
            for dev in ('1111', '3333'):
                el = ET.Element('{%s}bundle' % NS_OMEMO)
                ET.SubElement(el, '{%s}ik' % NS_OMEMO).text = base64.b64encode(
                    dev.encode()).decode()
                await a.x['xep_0060'].publish(None, NS_OMEMO_BUNDLES, id=dev, payload=el,
                                              options=o2, timeout=5)
            dl = ET.Element('{%s}devices' % NS_OMEMO)
            ET.SubElement(dl, '{%s}device' % NS_OMEMO, {'id': '1111', 'label': 'Phone'})
            await a.x['xep_0060'].publish(None, NS_OMEMO_DEVICES, id='current', payload=dl,
                                          options=slix_form(a.x, [('pubsub#access_model', 'open')]),
                                          timeout=5)
            m = await b.event()
            node, its = event_items(m)
            assert node == NS_OMEMO_DEVICES and its[0][2][0].get('label') == 'Phone'
            res = await b.x['xep_0060'].get_items('alice@localhost', NS_OMEMO_BUNDLES, timeout=5)
            assert [i['id'] for i in res['pubsub']['items']] == ['1111', '3333']
            res = await b.x['xep_0060'].get_items('alice@localhost', NS_OMEMO_BUNDLES,
                                                  item_ids=['3333'], timeout=5)
            assert [i['id'] for i in res['pubsub']['items']] == ['3333']
            # The node is what the options asked for.
            cfg = await a.x['xep_0060'].get_node_config(None, NS_OMEMO_BUNDLES, timeout=5)
            vals = cfg['pubsub_owner']['configure']['form'].get_values()
            assert vals['pubsub#access_model'] == 'open' and vals['pubsub#max_items'] == 'max', \
                vals
            # Reusing the options on the existing node passes the preconditions;
            # a stricter access model does not.
            try:
                await a.x['xep_0060'].publish(
                    None, NS_OMEMO_BUNDLES, id='1111', payload=el,
                    options=slix_form(a.x, [('pubsub#access_model', 'presence')]), timeout=5)
                raise AssertionError('precondition not checked')
            except IqError as e:
                assert e.iq['error']['condition'] == 'conflict' and e.iq.xml.find(
                    '{jabber:client}error/{%s}precondition-not-met' % NS_ERRORS) is not None, \
                    ET.tostring(e.iq.xml)
            await c.no_event()
        run_scenario(scenario)
        names = set(pep_files(srv))
        assert names == {node_file(n) for n in (NS_DEVICELIST, NS_AXOLOTL + '.bundles:1111',
                                                NS_OMEMO_BUNDLES, NS_OMEMO_DEVICES)}, names
        assert set(pep_files(srv, 'bob')) == {node_file(NS_DEVICELIST),
                                              node_file(NS_AXOLOTL + '.bundles:2222')}
        assert pep_files(srv, 'carol') == {}


def test_pep_slixmpp_avatar():
    """XEP-0084 through slixmpp's xep_0084: data and metadata published, the
    contact hears of the metadata (xep_0084 asks for metadata+notify) but
    not of the data, and fetches the data by id; a 100 KB avatar fits the
    default max_item_size."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')
        image = os.urandom(100 * 1024)
        aid = hashlib.sha1(image).hexdigest()

        async def scenario(clients):
            a = Xc(srv, 'alice@localhost/a', ['xep_0084'])
            b = Xc(srv, 'bob@localhost/b', ['xep_0084'])
            clients.extend([a, b])
            await a.connect()
            await b.connect()
            await a.x['xep_0084'].publish_avatar(image, timeout=10)
            await a.x['xep_0084'].publish_avatar_metadata(
                [{'id': aid, 'type': 'image/png', 'bytes': len(image)}], timeout=5)
            m = await b.event()
            node, its = event_items(m)
            assert node == NS_AVATAR_META and its[0][1] == aid, ET.tostring(m)
            info = its[0][2].find('{%s}info' % NS_AVATAR_META)
            assert info.get('bytes') == str(len(image)) and info.get('type') == 'image/png'
            await b.no_event()      # nothing for the data node
            res = await b.x['xep_0084'].retrieve_avatar('alice@localhost', aid, timeout=10)
            got = res['pubsub']['items']['item']['avatar_data']['value']
            assert got == image and res['pubsub']['items']['item']['id'] == aid
        run_scenario(scenario)
        assert set(pep_files(srv)) == {node_file(NS_AVATAR_DATA), node_file(NS_AVATAR_META)}


def conference(name, nick=None, autojoin=None, ext=None):
    el = ET.Element('{%s}conference' % NS_BM1, {'name': name})
    if autojoin is not None:
        el.set('autojoin', autojoin)
    if nick is not None:
        ET.SubElement(el, '{%s}nick' % NS_BM1).text = nick
    if ext is not None:
        e = ET.SubElement(el, '{%s}extensions' % NS_BM1)
        e.append(ext)
    return el


BM1_OPTIONS = [('pubsub#persist_items', 'true'), ('pubsub#max_items', 'max'),
               ('pubsub#send_last_published_item', 'never'),
               ('pubsub#access_model', 'whitelist')]


def test_pep_slixmpp_bookmarks_and_conversions():
    """XEP-0402 bookmarks (one item per room, publish-options whitelist/max)
    seen by another resource; the same bookmarks through XEP-0048 in
    private XML (XEP-0402 5.3) and in the storage:bookmarks PEP node
    (XEP-0411) with slixmpp's xep_0048; a legacy set publishes only the
    rooms that changed and retracts the rooms that went; bob may not read
    any of it."""
    with Server(server={'modules': MODULES}) as srv:
        async def scenario(clients):
            a = Xc(srv, 'alice@localhost/modern', ['xep_0004'], interests=[NS_BM1])
            old = Xc(srv, 'alice@localhost/legacy', ['xep_0004', 'xep_0049', 'xep_0048',
                                                     'xep_0223'], interests=[NS_BM0])
            b = Xc(srv, 'bob@localhost/b', ['xep_0004'])
            clients.extend([a, old, b])
            for x in (a, old, b):
                await x.connect()
            opts = slix_form(a.x, BM1_OPTIONS)
            state = ET.Element('{urn:example:client}state', {'minimized': 'true'})
            await a.x['xep_0060'].publish(None, NS_BM1, id='play@conference.example.org',
                                          payload=conference('The Play', 'JC', 'true'),
                                          options=opts, timeout=5)
            await a.x['xep_0060'].publish(None, NS_BM1, id='orchard@conference.example.org',
                                          payload=conference('Orchard', 'JC', ext=state),
                                          options=opts, timeout=5)
            for want in ('play@conference.example.org', 'orchard@conference.example.org'):
                node, its = event_items(await a.event())
                assert (node, its[0][1]) == (NS_BM1, want)
            # The legacy resource asked for storage:bookmarks: it hears of
            # the whole list as one item, twice.
            for n in (1, 2):
                m = await old.event()
                node, its = event_items(m)
                assert node == NS_BM0 and its[0][1] == 'current', ET.tostring(m)
                assert len(its[0][2].findall('{%s}conference' % NS_BM0)) == n

            # XEP-0048 in private XML: both rooms, autojoin, nick, extension.
            res = await old.x['xep_0048'].get_bookmarks(method='xep_0049', timeout=5)
            confs = {str(c['jid']): c for c in res['private']['bookmarks']['conferences']}
            assert set(confs) == {'play@conference.example.org',
                                  'orchard@conference.example.org'}, ET.tostring(res.xml)
            play = confs['play@conference.example.org']
            assert (play['name'], play['nick'], play['autojoin']) == ('The Play', 'JC', True)
            orch = confs['orchard@conference.example.org']
            assert orch['autojoin'] is False and \
                orch.xml.find('{urn:example:client}state') is not None, ET.tostring(orch.xml)
            # The same through the storage:bookmarks PEP node (XEP-0411).
            res = await old.x['xep_0048'].get_bookmarks(method='xep_0223', timeout=5)
            (it,) = list(res['pubsub']['items'])
            st = it.xml.find('{%s}storage' % NS_BM0)
            assert it['id'] == 'current' and \
                {c.get('jid') for c in st.findall('{%s}conference' % NS_BM0)} == set(confs)

            # A legacy client rewrites the list: the play is renamed, the
            # orchard goes, a new room and a URL come.
            bm = old.x['xep_0048'].stanza.Bookmarks()
            bm.add_conference('play@conference.example.org', 'JC', name='The Play (2)',
                              autojoin=True)
            bm.add_conference('Globe@Conference.Example.Org', 'Puck', name='Globe')
            bm.add_url('https://example.org/', name='Example')
            await old.x['xep_0048'].set_bookmarks(bm, method='xep_0049', timeout=5)
            seen = []
            for _ in range(3):
                node, its = event_items(await a.event())
                assert node == NS_BM1
                seen.append(its[0][:2])
            assert sorted(seen) == [('item', 'globe@conference.example.org'),
                                    ('item', 'play@conference.example.org'),
                                    ('retract', 'orchard@conference.example.org')], seen
            await a.no_event()
            m = await old.event()
            node, its = event_items(m)
            st = its[0][2]
            assert node == NS_BM0 and \
                [u.get('url') for u in st.findall('{%s}url' % NS_BM0)] == \
                ['https://example.org/'], ET.tostring(m)
            res = await a.x['xep_0060'].get_items(None, NS_BM1, timeout=5)
            got = {i['id']: i.xml[0] for i in res['pubsub']['items']}
            assert set(got) == {'play@conference.example.org', 'globe@conference.example.org'}
            assert got['play@conference.example.org'].get('name') == 'The Play (2)'
            assert got['globe@conference.example.org'].findtext('{%s}nick' % NS_BM1) == 'Puck'

            # Setting the same list again changes nothing: no notification.
            await old.x['xep_0048'].set_bookmarks(bm, method='xep_0049', timeout=5)
            await a.no_event()
            await old.no_event()

            # Through the legacy PEP node (xep_0223: whitelist, persist).
            bm2 = old.x['xep_0048'].stanza.Bookmarks()
            bm2.add_conference('globe@conference.example.org', 'Puck', name='Globe')
            await old.x['xep_0048'].set_bookmarks(bm2, method='xep_0223', timeout=5)
            node, its = event_items(await a.event())
            assert its[0][:2] == ('retract', 'play@conference.example.org'), its
            node, its = event_items(await old.event())
            assert node == NS_BM0 and len(its[0][2]) == 1 and \
                its[0][2][0].get('jid') == 'globe@conference.example.org'
            # The URL went with it: the legacy list had none.
            res = await old.x['xep_0048'].get_bookmarks(method='xep_0049', timeout=5)
            assert len(res['private']['bookmarks']['urls']) == 0

            # bob: whitelist, and the view is the owner's alone.
            for node in (NS_BM1, NS_BM0):
                try:
                    await b.x['xep_0060'].get_items('alice@localhost', node, timeout=5)
                    raise AssertionError('bob read alice\'s bookmarks')
                except IqError as e:
                    assert e.iq['error']['condition'] == 'not-allowed' and e.iq.xml.find(
                        '{jabber:client}error/{%s}closed-node' % NS_ERRORS) is not None, \
                        ET.tostring(e.iq.xml)
            await b.no_event()
        run_scenario(scenario)
        files = pep_files(srv)
        assert set(files) == {node_file(NS_BM1)}, set(files)
        assert b'access="whitelist"' in files[node_file(NS_BM1)]
        assert not os.path.exists(os.path.join(srv.data_path, 'localhost', 'alice', 'private'))
