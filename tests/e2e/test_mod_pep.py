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

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from lib import Server
import sxlib
from sxlib import close_client
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

def run_scenario(scenario, timeout=25):
    return sxlib.run_scenario(scenario, timeout)


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
        await close_client(self.x)


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


# ---- raw protocol ----

PUBOPT = NS_PUBSUB + '#publish-options'
NODE_CONFIG = NS_PUBSUB + '#node_config'


def test_pep_publish_options_preconditions():
    """XEP-0060 7.1.5 / XEP-0223: on a new node the options are its
    configuration; on an existing one every field must match, else
    conflict + precondition-not-met and nothing changes; unknown fields and
    values the node can never have fail the same way."""
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        f = Failures()
        n = 'urn:x:private'
        assert_ok(publish(a, n, "<p xmlns='urn:x'>1</p>", id='1',
                          options=pubopts(('pubsub#persist_items', 'true'),
                                          ('pubsub#access_model', 'whitelist'))),
                  'create with options')
        cfg = config_of(a, n)
        assert cfg['pubsub#access_model'] == ['whitelist'], cfg
        assert cfg['pubsub#max_items'] == ['1'] and \
            cfg['pubsub#send_last_published_item'] == ['on_sub_and_presence'], cfg
        before = pep_files(srv)

        def refused(options, what, etype='cancel', cond='conflict',
                    pcond='precondition-not-met', node=n):
            rep = publish(a, node, "<p xmlns='urn:x'>2</p>", id='2', options=options)
            assert_error(rep, etype, cond, what, pcond=pcond)
            assert pep_files(srv) == before, '%s: files changed' % what

        f.run('other access', refused, pubopts(('pubsub#access_model', 'open')),
              'open vs whitelist')
        f.run('max', refused, pubopts(('pubsub#max_items', 'max')), 'max vs 1')
        f.run('max number', refused, pubopts(('pubsub#max_items', '2')), '2 vs 1')
        f.run('unknown field', refused, pubopts(('pubsub#item_expire', '60')),
              'unknown field')
        f.run('send_last', refused, pubopts(('pubsub#send_last_published_item', 'never')),
              'send_last')
        f.run('wrong form type', refused, pubopts(('pubsub#access_model', 'whitelist'),
                                                   form_type=NODE_CONFIG),
              'FORM_TYPE', etype='modify', cond='bad-request', pcond=None)
        f.run('two forms', refused, '<publish-options>%s%s</publish-options>' % (
            form(PUBOPT, []), form(PUBOPT, [])), 'two forms', etype='modify',
            cond='bad-request', pcond=None)
        f.run('form type', refused, '<publish-options>%s</publish-options>' % form(
            PUBOPT, [('pubsub#access_model', 'whitelist')], type='form'),
            'a form that is not submitted', etype='modify', cond='bad-request', pcond=None)
        # New nodes that could never be what the options say: not created.
        for opt, what in ((('pubsub#persist_items', '0'), 'persist false'),
                          (('pubsub#access_model', 'authorize'), 'authorize'),
                          (('pubsub#max_items', '100000'), 'beyond the server max'),
                          (('pubsub#max_items', '0'), 'zero items'),
                          (('pubsub#deliver_payloads', 'yes'), 'not a boolean'),
                          (('pubsub#publish_model', 'open'), 'open publishing')):
            f.run(what, refused, pubopts(opt), what, node='urn:x:new')
        # Equal values written differently are the same.
        assert_ok(publish(a, n, "<p xmlns='urn:x'>3</p>", id='3',
                          options=pubopts(('pubsub#persist_items', '1'),
                                          ('pubsub#access_model', 'whitelist'),
                                          ('pubsub#max_items', '1'))), 'same values')
        # The Conversations flow: reconfigure, then the precondition holds.
        rep = owner(a, "<configure node='%s'>%s</configure>" % (
            n, form(NODE_CONFIG, [('pubsub#max_items', 'max'),
                                  ('pubsub#access_model', 'open')])))
        assert_ok(rep, 'reconfigure')
        assert_ok(publish(a, n, "<p xmlns='urn:x'>4</p>", id='4',
                          options=pubopts(('pubsub#max_items', 'max'),
                                          ('pubsub#access_model', 'open'))), 'after reconfig')
        # 'max' and the number it stands for match each other.
        assert_ok(publish(a, n, "<p xmlns='urn:x'>5</p>", id='5',
                          options=pubopts(('pubsub#max_items', '256'))), '256 == max')
        assert [i for i, _ in got_items(items(a, n), n)] == ['3', '4', '5']
        # An empty <publish-options/> is no precondition at all.
        assert_ok(publish(a, n, "<p xmlns='urn:x'>6</p>", id='6',
                          options='<publish-options/>'), 'empty options')
        f.raise_if_any()


def test_pep_refusals_write_nothing():
    """Malformed and unauthorised requests: the exact error for each, and
    no file touched."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')
        a = client(srv, 'alice')
        b = client(srv, 'bob')
        n = 'urn:x:n'
        assert_ok(publish(a, n, "<p xmlns='urn:x'>1</p>", id='1'), 'publish')
        assert_ok(publish(b, n, "<p xmlns='urn:x'>b</p>", id='b'), 'bob publishes')
        before = {u: pep_files(srv, u) for u in ('alice', 'bob', 'carol')}
        f = Failures()

        def err(rep, etype, cond, what, pcond=None, **kw):
            assert_error(rep, etype, cond, what, pcond=pcond, **kw)
            now = {u: pep_files(srv, u) for u in ('alice', 'bob', 'carol')}
            assert now == before, '%s: files changed' % what

        def publishing():
            err(ps(a, "<publish><item><p xmlns='urn:x'/></item></publish>"),
                'modify', 'bad-request', 'no node', 'nodeid-required')
            err(ps(a, "<publish node=''><item><p xmlns='urn:x'/></item></publish>"),
                'modify', 'bad-request', 'empty node', 'nodeid-required')
            err(ps(a, "<publish node='%s'/>" % n), 'modify', 'bad-request', 'no item',
                'item-required')
            err(ps(a, "<publish node='%s'><item/><item/></publish>" % n), 'modify',
                'bad-request', 'two items', 'invalid-payload')
            err(ps(a, "<publish node='%s'><item id='x'/></publish>" % n), 'modify',
                'bad-request', 'no payload', 'payload-required')
            err(ps(a, "<publish node='%s'><item>text only</item></publish>" % n), 'modify',
                'bad-request', 'text payload', 'payload-required')
            err(publish(a, n, "<p xmlns='urn:x'/><q xmlns='urn:x'/>"), 'modify',
                'bad-request', 'two payloads', 'invalid-payload')
            err(publish(a, n, "<p xmlns='urn:x'/>", id=''), 'modify', 'bad-request',
                'empty id')
            err(publish(a, n, "<p xmlns='urn:x'/>", id='i' * 3073), 'modify',
                'bad-request', 'long id')
            err(publish(a, 'x' * 1025, "<p xmlns='urn:x'/>"), 'modify', 'not-acceptable',
                'long node')
            err(ps(a, "<publish node='%s'><foo/></publish>" % n), 'modify', 'bad-request',
                'not an item')
            err(publish(a, n, "<p xmlns='urn:x'>x</p>", to='bob@localhost'), 'auth',
                'forbidden', 'publish to bob')
            err(publish(a, 'urn:x:other', "<p xmlns='urn:x'>x</p>", to='bob@localhost'),
                'auth', 'forbidden', 'create at bob by publishing')
            err(ps(a, "<create node='urn:x:c'/>", to='bob@localhost'), 'auth', 'forbidden',
                'create at bob')

        def retracting():
            err(ps(a, "<retract node='%s'><item id='nope'/></retract>" % n), 'cancel',
                'item-not-found', 'retract missing item')
            err(ps(a, "<retract node='urn:x:none'><item id='1'/></retract>"), 'cancel',
                'item-not-found', 'retract from missing node')
            err(ps(a, "<retract node='%s'/>" % n), 'modify', 'bad-request', 'no item',
                'item-required')
            err(ps(a, "<retract node='%s'><item/></retract>" % n), 'modify', 'bad-request',
                'no id', 'item-required')
            err(ps(a, "<retract><item id='1'/></retract>"), 'modify', 'bad-request',
                'no node', 'nodeid-required')
            err(ps(a, "<retract node='%s' notify='maybe'><item id='1'/></retract>" % n),
                'modify', 'bad-request', 'bad notify')
            err(ps(a, "<retract node='%s'><item id='1'/><item id='2'/></retract>" % n),
                'modify', 'bad-request', 'two items')
            err(ps(a, "<retract node='%s'><item id='b'/></retract>" % n,
                   to='bob@localhost'), 'auth', 'forbidden', 'retract at bob')

        def retrieving():
            err(items(a, 'urn:x:none'), 'cancel', 'item-not-found', 'items of missing node')
            err(ps(a, "<items/>", type='get'), 'modify', 'bad-request', 'items without node',
                'nodeid-required')
            err(items(a, n, extra=" max_items='0'"), 'modify', 'bad-request', 'max 0')
            err(items(a, n, extra=" max_items='many'"), 'modify', 'bad-request', 'max text')
            err(ps(a, "<items node='%s'/>" % n, type='set'), 'modify', 'bad-request',
                'items with set')
            err(ps(a, "<publish node='%s'><item><p xmlns='urn:x'/></item></publish>" % n,
                   type='get'), 'modify', 'bad-request', 'publish with get')
            err(items(a, 'urn:x:none', to='bob@localhost'), 'cancel', 'item-not-found',
                'bob\'s missing node')
            # No such item: an empty result (6.5.9.12 "No Such Item(s)").
            assert got_items(items(a, n, inner="<item id='zz'/>"), n) == []

        def shapes():
            err(ps(a, ''), 'modify', 'bad-request', 'empty pubsub')
            err(ps(a, "<items node='%s'/><items node='%s'/>" % (n, n), type='get'),
                'modify', 'bad-request', 'two actions')
            err(ps(a, "<frobnicate node='%s'/>" % n), 'cancel', 'feature-not-implemented',
                'unknown action')
            err(ps(a, "<options node='%s' jid='alice@localhost'/>" % n, type='get'),
                'cancel', 'feature-not-implemented', 'subscription options',
                'unsupported', feature='subscription-options')
            err(ps(a, "<publish node='%s'><item><p xmlns='urn:x'/></item></publish>"
                   "<configure/>" % n), 'modify', 'bad-request', 'publish + configure')
            err(ps(a, "<items xmlns='urn:other' node='%s'/>" % n, type='get'), 'modify',
                'bad-request', 'foreign action')
            err(ps(a, "<create node='%s'/>" % n), 'cancel', 'conflict', 'create existing')
            err(ps(a, "<create/>"), 'modify', 'not-acceptable', 'instant node',
                'nodeid-required')
            err(ps(a, "<create node='urn:x:c'/><configure node='urn:x:c'/>"), 'modify',
                'bad-request', 'configure with node')
            err(ps(a, "<create node='urn:x:c'/><configure>%s</configure>"
                   % form(NODE_CONFIG, [('pubsub#access_model', 'authorize')])), 'modify',
                'not-acceptable', 'create unsupported access', 'unsupported-access-model')

        def owning():
            err(owner(a, "<configure node='%s'/>" % n, type='get', to='bob@localhost'),
                'auth', 'forbidden', 'configure bob\'s')
            err(owner(a, "<delete node='%s'/>" % n, to='bob@localhost'), 'auth',
                'forbidden', 'delete bob\'s')
            err(owner(a, "<purge node='%s'/>" % n, to='bob@localhost'), 'auth',
                'forbidden', 'purge bob\'s')
            err(owner(a, "<affiliations node='%s'/>" % n, type='get', to='bob@localhost'),
                'auth', 'forbidden', 'affiliations of bob\'s')
            err(owner(a, "<configure node='urn:x:none'/>", type='get'), 'cancel',
                'item-not-found', 'configure missing')
            err(owner(a, "<configure/>", type='get'), 'modify', 'bad-request',
                'configure without node', 'nodeid-required')
            err(owner(a, "<delete node='urn:x:none'/>"), 'cancel', 'item-not-found',
                'delete missing')
            err(owner(a, "<purge node='urn:x:none'/>"), 'cancel', 'item-not-found',
                'purge missing')
            err(owner(a, "<delete node='%s'/>" % n, type='get'), 'modify', 'bad-request',
                'delete with get')
            err(owner(a, "<configure node='%s'/>" % n), 'modify', 'bad-request',
                'configure set without form')
            for fields, what, pc in (
                    ([('pubsub#access_model', 'authorize')], 'authorize',
                     'unsupported-access-model'),
                    ([('pubsub#max_items', '-1')], 'negative max', None),
                    ([('pubsub#persist_items', '0')], 'persist off', None),
                    ([('pubsub#frobnicate', '1')], 'unknown field', None),
                    ([('pubsub#notification_type', 'chat')], 'chat notifications', None),
                    ([('pubsub#title', ['a', 'b'])], 'two titles', None)):
                err(owner(a, "<configure node='%s'>%s</configure>" % (
                    n, form(NODE_CONFIG, fields))), 'modify', 'not-acceptable', what, pc)
            err(owner(a, "<configure node='%s'>%s</configure>" % (
                n, form(PUBOPT, [('pubsub#max_items', '2')]))), 'modify', 'bad-request',
                'wrong FORM_TYPE')
            err(owner(a, "<configure node='%s'>%s</configure>" % (
                n, form(NODE_CONFIG, [('pubsub#max_items', '2'), ('pubsub#max_items', '3')]))),
                'modify', 'bad-request', 'a field twice')
            err(owner(a, "<default type='collection'/>", type='get'), 'cancel',
                'feature-not-implemented', 'collection default', 'unsupported',
                feature='collections')
            err(owner(a, "<affiliations node='%s'><affiliation jid='bob@localhost' "
                         "affiliation='owner'/></affiliations>" % n), 'modify',
                'not-acceptable', 'second owner')
            err(owner(a, "<affiliations node='%s'><affiliation jid='alice@localhost' "
                         "affiliation='none'/></affiliations>" % n), 'modify',
                'not-acceptable', 'owner gives up')
            err(owner(a, "<affiliations node='%s'><affiliation jid='@@' "
                         "affiliation='member'/></affiliations>" % n), 'modify',
                'bad-request', 'bad jid')
            err(owner(a, "<subscriptions node='%s'><subscription jid='bob@localhost' "
                         "subscription='pending'/></subscriptions>" % n), 'modify',
                'not-acceptable', 'pending subscription')
            # Cancelling a configuration keeps it (and writes nothing).
            assert_ok(owner(a, "<configure node='%s'><x xmlns='jabber:x:data' "
                               "type='cancel'/></configure>" % n), 'cancel')
            assert pep_files(srv) == before['alice']

        for name, fn in (('publishing', publishing), ('retracting', retracting),
                         ('retrieving', retrieving), ('shapes', shapes),
                         ('owning', owning)):
            f.run(name, fn)
        # The server's own JID is no pubsub service.
        rep = items(a, n, to='localhost')
        assert_error(rep, 'cancel', 'service-unavailable', 'pubsub on the server')
        f.raise_if_any()


def test_pep_access_models():
    """presence (the default), roster (groups), whitelist (members,
    outcasts) and open, for items, subscriptions and disco#items; a
    contact who loses access stops hearing of the node."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')
        befriend(srv, 'alice', 'carol')
        a = client(srv, 'alice')
        roster_set(a, 'bob@localhost', ['Friends'])
        roster_set(a, 'carol@localhost', ['Work'])
        b = caps_client(srv, 'bob', ['urn:x:pres', 'urn:x:ros', 'urn:x:white', 'urn:x:open'])
        c = client(srv, 'carol')
        srv.adduser('dave@localhost', 'dave-pw')
        dv = client(srv, 'dave')
        f = Failures()
        assert_ok(publish(a, 'urn:x:pres', "<p xmlns='urn:x'>p</p>", id='1'), 'presence node')
        assert_ok(publish(a, 'urn:x:ros', "<p xmlns='urn:x'>r</p>", id='1',
                          options=pubopts(('pubsub#access_model', 'roster'),
                                          ('pubsub#roster_groups_allowed', 'Friends'))),
                  'roster node')
        assert_ok(publish(a, 'urn:x:white', "<p xmlns='urn:x'>w</p>", id='1',
                          options=pubopts(('pubsub#access_model', 'whitelist'))), 'whitelist')
        assert_ok(publish(a, 'urn:x:open', "<p xmlns='urn:x'>o</p>", id='1',
                          options=pubopts(('pubsub#access_model', 'open'))), 'open node')
        cfg = config_of(a, 'urn:x:ros')
        assert cfg['pubsub#roster_groups_allowed'] == ['Friends'], cfg
        # bob heard of every node but the whitelist one.
        evs = b.take_all(is_event())
        b.sync()
        evs += b.take_all(is_event())
        assert sorted(event_items(e)[0] for e in evs) == ['urn:x:open', 'urn:x:pres',
                                                          'urn:x:ros'], [dump(e) for e in evs]

        nopres = ('auth', 'not-authorized', None, 'presence-subscription-required')
        nogroup = ('auth', 'not-authorized', None, 'not-in-roster-group')
        closed = ('cancel', 'not-allowed', None, 'closed-node')

        def fix(e):
            return {'etype': e[0], 'cond': e[1], 'pcond': e[3]}

        def check(r, node, ok, e=None):
            rep = items(r, node, to='alice@localhost')
            if ok:
                assert [i for i, _ in got_items(rep, node)] == ['1'], dump(rep)
            else:
                assert_error(rep, what='%s reading %s' % (r.jid, node), **fix(e))

        f.run('bob presence', check, b, 'urn:x:pres', True)
        f.run('bob roster', check, b, 'urn:x:ros', True)
        f.run('bob whitelist', check, b, 'urn:x:white', False, closed)
        f.run('bob open', check, b, 'urn:x:open', True)
        f.run('carol presence', check, c, 'urn:x:pres', True)
        f.run('carol roster', check, c, 'urn:x:ros', False, nogroup)
        f.run('dave presence', check, dv, 'urn:x:pres', False, nopres)
        f.run('dave roster', check, dv, 'urn:x:ros', False, nogroup)
        f.run('dave whitelist', check, dv, 'urn:x:white', False, closed)
        f.run('dave open', check, dv, 'urn:x:open', True)
        # Subscribing follows the same rules (6.1.3.2 - 6.1.3.4).
        rep = ps(dv, "<subscribe node='urn:x:pres' jid='%s'/>" % dv.jid, to='alice@localhost')
        assert_error(rep, what='dave subscribes to presence node', **fix(nopres))
        rep = ps(c, "<subscribe node='urn:x:ros' jid='%s'/>" % c.jid, to='alice@localhost')
        assert_error(rep, what='carol subscribes to roster node', **fix(nogroup))
        rep = ps(b, "<subscribe node='urn:x:white' jid='bob@localhost'/>", to='alice@localhost')
        assert_error(rep, what='bob subscribes to whitelist node', **fix(closed))

        # disco#items on alice (bob may see the account): only his nodes.
        rep = b.iq("<iq type='get' to='alice@localhost'><query "
                   "xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        assert_ok(rep, 'disco#items')
        got = sorted(i.get('node') for i in rep.iter(
            q('http://jabber.org/protocol/disco#items', 'item')))
        assert got == ['urn:x:open', 'urn:x:pres', 'urn:x:ros'], dump(rep)
        rep = a.iq("<iq type='get' to='alice@localhost'><query "
                   "xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        got = sorted(i.get('node') for i in rep.iter(
            q('http://jabber.org/protocol/disco#items', 'item')))
        assert got == ['urn:x:open', 'urn:x:pres', 'urn:x:ros', 'urn:x:white'], dump(rep)
        rep = b.iq("<iq type='get' to='alice@localhost'><query xmlns='%s' node='urn:x:white'/>"
                   "</iq>" % NS_DISCO_INFO)
        assert_error(rep, 'cancel', 'item-not-found', 'disco#info of a hidden node')
        rep = b.iq("<iq type='get' to='alice@localhost'><query xmlns='%s' node='urn:x:pres'/>"
                   "</iq>" % NS_DISCO_INFO)
        assert_ok(rep, 'disco#info of a node')
        idn = rep.find('%s/%s' % (q(NS_DISCO_INFO, 'query'), q(NS_DISCO_INFO, 'identity')))
        assert (idn.get('category'), idn.get('type')) == ('pubsub', 'leaf'), dump(rep)
        rep = b.iq("<iq type='get' to='alice@localhost'><query xmlns='%s' "
                   "node='urn:x:pres'/></iq>" % 'http://jabber.org/protocol/disco#items')
        assert [i.get('name') for i in rep.iter(
            q('http://jabber.org/protocol/disco#items', 'item'))] == ['1'], dump(rep)

        # Whitelist: member in, outcast out of everything.
        assert_ok(owner(a, "<affiliations node='urn:x:white'><affiliation jid='bob@localhost' "
                           "affiliation='member'/></affiliations>"), 'member')
        f.run('bob member', check, b, 'urn:x:white', True)
        rep = owner(a, "<affiliations node='urn:x:white'/>", type='get')
        affs = {x.get('jid'): x.get('affiliation') for x in rep.iter(q(NS_OWNER, 'affiliation'))}
        assert affs == {'alice@localhost': 'owner', 'bob@localhost': 'member'}, dump(rep)
        rep = ps(b, "<affiliations/>", type='get', to='alice@localhost')
        got = [(x.get('node'), x.get('affiliation')) for x in rep.iter(q(NS_PUBSUB, 'affiliation'))]
        assert got == [('urn:x:white', 'member')], dump(rep)
        assert_ok(owner(a, "<affiliations node='urn:x:open'><affiliation jid='dave@localhost' "
                           "affiliation='outcast'/></affiliations>"), 'outcast')
        rep = items(dv, 'urn:x:open', to='alice@localhost')
        assert_error(rep, 'auth', 'forbidden', 'outcast reads')
        # A contact's explicit subscription ends when the model shuts
        # him out (XEP-0163 7.1), the next time the node is written.
        assert_ok(ps(b, "<subscribe node='urn:x:ros' jid='bob@localhost'/>",
                     to='alice@localhost'), 'bob subscribes')
        b.take_all(is_event())
        # Moving bob out of Friends: no more roster-node notifications.
        roster_set(a, 'bob@localhost', ['Others'])
        f.run('bob roster after move', check, b, 'urn:x:ros', False, nogroup)
        b.take_all(is_event())
        assert_ok(publish(a, 'urn:x:ros', "<p xmlns='urn:x'>r2</p>", id='2'), 'roster node 2')
        assert_ok(publish(a, 'urn:x:white', "<p xmlns='urn:x'>w2</p>", id='2'), 'white 2')
        b.sync()
        evs = b.take_all(is_event())
        assert [event_items(e)[0] for e in evs] == ['urn:x:white'], [dump(e) for e in evs]
        rep = owner(a, "<subscriptions node='urn:x:ros'/>", type='get')
        assert list(rep.iter(q(NS_OWNER, 'subscription'))) == [], dump(rep)
        assert b'subscription' not in pep_files(srv)[node_file('urn:x:ros')]
        f.raise_if_any()


def test_pep_subscriptions_retract_purge_delete():
    """Explicit subscriptions (to the subscribed JID, caps or not), retract
    with notify, purge and delete notifications, the owner's and the
    subscriber's lists, and their refusals."""
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        c = client(srv, 'carol')
        n = 'urn:x:blog'
        assert_ok(publish(a, n, "<entry xmlns='urn:x'>first</entry>", id='e1',
                          options=pubopts(('pubsub#access_model', 'open'),
                                          ('pubsub#max_items', '10'))), 'publish')
        f = Failures()
        # Refusals first.
        rep = ps(c, "<subscribe node='%s' jid='bob@localhost'/>" % n, to='alice@localhost')
        assert_error(rep, 'modify', 'bad-request', 'another jid', pcond='invalid-jid')
        rep = ps(c, "<subscribe node='%s'/>" % n, to='alice@localhost')
        assert_error(rep, 'modify', 'bad-request', 'no jid', pcond='invalid-jid')
        rep = ps(c, "<subscribe node='urn:x:none' jid='%s'/>" % c.jid, to='alice@localhost')
        assert_error(rep, 'cancel', 'item-not-found', 'missing node')
        rep = ps(c, "<unsubscribe node='%s' jid='%s'/>" % (n, c.jid), to='alice@localhost')
        assert_error(rep, 'cancel', 'unexpected-request', 'not subscribed',
                     pcond='not-subscribed')
        rep = ps(c, "<subscribe node='%s' jid='%s'/><options><x xmlns='jabber:x:data' "
                    "type='submit'/></options>" % (n, c.jid), to='alice@localhost')
        assert_error(rep, 'cancel', 'feature-not-implemented', 'with options',
                     pcond='unsupported', feature='subscription-options')
        before = pep_files(srv)
        assert b'subscription' not in before[node_file(n)]

        # carol subscribes her full JID: the last item comes at once.
        rep = ps(c, "<subscribe node='%s' jid='%s'/>" % (n, c.jid), to='alice@localhost')
        assert_ok(rep, 'subscribe')
        sub = rep.find('%s/%s' % (q(NS_PUBSUB, 'pubsub'), q(NS_PUBSUB, 'subscription')))
        assert sub.get('subscription') == 'subscribed' and sub.get('jid') == c.jid and \
            sub.get('node') == n and len(sub.get('subid') or '') >= 16, dump(rep)
        subid = sub.get('subid')
        m = c.expect(is_event(n))
        assert event_items(m)[1][0][1] == 'e1' and m.find(q(NS_DELAY, 'delay')) is not None
        assert m.get('to') == c.jid
        # Again: the same subscription, no second last item.
        rep = ps(c, "<subscribe node='%s' jid='%s'/>" % (n, c.jid), to='alice@localhost')
        assert xfind(rep, q(NS_PUBSUB, 'pubsub'), q(NS_PUBSUB, 'subscription')).get('subid') \
            == subid
        c.assert_nothing(is_event())
        rep = ps(c, "<subscriptions/>", type='get', to='alice@localhost')
        got = [(s.get('node'), s.get('jid'), s.get('subid'))
               for s in rep.iter(q(NS_PUBSUB, 'subscription'))]
        assert got == [(n, c.jid, subid)], dump(rep)
        rep = owner(a, "<subscriptions node='%s'/>" % n, type='get')
        got = [(s.get('jid'), s.get('subscription')) for s in rep.iter(q(NS_OWNER, 'subscription'))]
        assert got == [(c.jid, 'subscribed')], dump(rep)

        # Publish, retract (notify), purge, delete: carol hears of each.
        assert_ok(publish(a, n, "<entry xmlns='urn:x'>second</entry>", id='e2'), 'e2')
        m = c.expect(is_event(n))
        assert event_items(m)[1][0][:2] == ('item', 'e2') and m.get('type') == 'headline'
        assert m.find(q(NS_ADDRESS, 'addresses')) is None, 'replyto for a non-contact'
        assert_ok(ps(a, "<retract node='%s' notify='true'><item id='e1'/></retract>" % n),
                  'retract')
        assert event_items(c.expect(is_event(n)))[1] == [('retract', 'e1', None)]
        assert [i for i, _ in got_items(items(a, n), n)] == ['e2']
        assert_ok(owner(a, "<purge node='%s'/>" % n), 'purge')
        m = c.expect(is_event(n))
        assert m.find('%s/%s' % (q(NS_EVENT, 'event'), q(NS_EVENT, 'purge'))) is not None
        assert got_items(items(a, n), n) == []
        # Unsubscribe (wrong subid, someone else's, then right).
        rep = ps(c, "<unsubscribe node='%s' jid='%s' subid='nope'/>" % (n, c.jid),
                 to='alice@localhost')
        assert_error(rep, 'modify', 'not-acceptable', 'bad subid', pcond='invalid-subid')
        rep = ps(a, "<unsubscribe node='%s' jid='%s'/>" % (n, c.jid))
        assert_error(rep, 'auth', 'forbidden', 'alice unsubscribes carol')
        assert_ok(ps(c, "<unsubscribe node='%s' jid='%s' subid='%s'/>" % (n, c.jid, subid),
                     to='alice@localhost'), 'unsubscribe')
        assert_ok(publish(a, n, "<entry xmlns='urn:x'>third</entry>", id='e3'), 'e3')
        c.assert_nothing(is_event())
        # The owner subscribes carol's bare JID: no caps, no presence
        # known here -> the bare JID gets it.
        assert_ok(owner(a, "<subscriptions node='%s'><subscription jid='carol@localhost' "
                           "subscription='subscribed'/></subscriptions>" % n), 'owner adds')
        assert_ok(publish(a, n, "<entry xmlns='urn:x'>fourth</entry>", id='e4'), 'e4')
        m = c.expect(is_event(n))
        assert m.get('to') == 'carol@localhost', dump(m)
        assert_ok(owner(a, "<delete node='%s'/>" % n), 'delete')
        m = c.expect(is_event(n))
        d = m.find('%s/%s' % (q(NS_EVENT, 'event'), q(NS_EVENT, 'delete')))
        assert d is not None and d.get('node') == n, dump(m)
        assert node_file(n) not in pep_files(srv)
        assert_error(items(a, n), 'cancel', 'item-not-found', 'deleted node')
        f.raise_if_any()


def test_pep_caps_resolution_and_verification():
    """XEP-0115 as the server uses it: a 'ver' is asked for once (node#ver,
    from the account), the answer must hash to it (else not used: no
    notifications), a verified 'ver' is shared by every JID announcing it
    (no second query), an answer from anyone but the JID asked is ignored,
    a presence without <c/> keeps the caps known, the legacy format works
    for its JID alone, and going unavailable stops notifications."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')
        befriend(srv, 'alice', 'carol')
        a = client(srv, 'alice')
        n = 'urn:x:mood'
        assert_ok(publish(a, n, "<m xmlns='urn:x'>happy</m>", id='m1'), 'publish')

        # A lying client: its answer does not hash to its ver.
        liar = caps_client(srv, 'bob', [n], resource='liar', ver='AAAAAAAAAAAAAAAAAAAAAAAAAAA=')
        assert len(liar.asked) == 1
        assert srv.wait_log('does not hash to its caps ver AAAAAAAAAAAAAAAAAAAAAAAAAAA='), \
            'no log line for a wrong caps hash'
        liar.assert_nothing(is_event())
        assert_ok(publish(a, n, "<m xmlns='urn:x'>sad</m>", id='m2'), 'publish 2')
        liar.assert_nothing(is_event())

        # An honest one: asked once, then the last item at once.
        bob = caps_client(srv, 'bob', [n], resource='phone')
        assert len(bob.asked) == 1
        m = bob.expect(is_event(n))
        assert event_items(m)[1][0][1] == 'm2' and m.find(q(NS_DELAY, 'delay')) is not None
        # The same ver from another JID is known: no query, last item.
        carol = caps_client(srv, 'carol', [n])
        assert carol.asked == [], 'asked again about a verified ver'
        assert event_items(carol.expect(is_event(n)))[1][0][1] == 'm2'
        # A presence update without <c/>: caps stay, no new last item.
        bob.send("<presence><show>away</show></presence>")
        bob.assert_nothing(is_event())
        assert_ok(publish(a, n, "<m xmlns='urn:x'>calm</m>", id='m3'), 'publish 3')
        for r in (bob, carol):
            assert event_items(r.expect(is_event(n)))[1][0][1] == 'm3'
        liar.assert_nothing(is_event())

        # A spoofed answer: carol answers the query sent to another JID.
        ver = caps_ver(caps_features(['urn:x:spoof']))
        bob2 = client(srv, 'bob', resource='tablet', presence=False)
        bob2.send("<presence><c xmlns='%s' hash='sha-1' node='%s' ver='%s'/></presence>"
                  % (NS_CAPS, CAPS_NODE, ver))
        qy = bob2.expect(is_caps_query)
        carol.send("<iq type='result' to='alice@localhost' id='%s'><query xmlns='%s' "
                   "node='%s#%s'><identity category='client' type='pc' name='raw'/>%s</query>"
                   "</iq>" % (qy.get('id'), NS_DISCO_INFO, CAPS_NODE, ver,
                              ''.join("<feature var='%s'/>" % f
                                      for f in caps_features(['urn:x:spoof']))))
        carol.sync()
        assert_ok(publish(a, 'urn:x:spoof', "<s xmlns='urn:x'/>", id='s1'), 'spoof node')
        bob2.assert_nothing(is_event())
        # Answered by an error: nothing known, nothing sent.
        bob2.send("<iq type='error' to='%s' id='%s'><query xmlns='%s'/><error type='cancel'>"
                  "<service-unavailable xmlns='%s'/></error></iq>"
                  % (qy.get('from'), qy.get('id'), NS_DISCO_INFO, NS_STANZAS))
        bob2.assert_nothing(is_event())

        # Ill-formed (a feature twice), even with a hash over exactly that:
        # XEP-0115 5.4 says not to use it.
        dup = caps_features(['urn:x:dup']) + ['urn:x:dup+notify']
        s = 'client/pc//raw<' + ''.join(x + '<' for x in sorted(dup))
        dver = base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()
        bob3 = client(srv, 'bob', resource='dup', presence=False)
        bob3.send("<presence><c xmlns='%s' hash='sha-1' node='%s' ver='%s'/></presence>"
                  % (NS_CAPS, CAPS_NODE, dver))
        answer_disco(bob3, bob3.expect(is_caps_query), dup)
        bob3.sync()
        assert_ok(publish(a, 'urn:x:dup', "<d xmlns='urn:x'/>", id='d1'), 'dup node')
        bob3.assert_nothing(is_event())

        # Legacy caps (no hash): asked, believed for that JID only.
        leg = caps_client(srv, 'carol', ['urn:x:legacy'], resource='old', ver='1.0', hash=None)
        assert len(leg.asked) == 1
        assert_ok(publish(a, 'urn:x:legacy', "<l xmlns='urn:x'/>", id='l1'), 'legacy node')
        assert event_items(leg.expect(is_event('urn:x:legacy')))[1][0][1] == 'l1'
        leg2 = caps_client(srv, 'bob', ['urn:x:legacy'], resource='old', ver='1.0', hash=None)
        assert len(leg2.asked) == 1, 'a legacy ver must not be shared'

        # Unavailable: bob's phone hears nothing more.
        bob.send("<presence type='unavailable'/>")
        bob.sync()
        bob.take_all()
        assert_ok(publish(a, n, "<m xmlns='urn:x'>gone</m>", id='m4'), 'publish 4')
        bob.assert_nothing(is_event())
        assert event_items(carol.expect(is_event(n)))[1][0][1] == 'm4'


def test_pep_caps_query_timeout_and_owner_resources():
    """While a query is out nobody else is asked about the same ver, and
    a late answer still counts; an error answer makes the server ask
    another JID announcing that ver; the owner's own resources get
    notifications and last items only when their caps ask for the node."""
    with Server(server={'modules': MODULES}) as srv:
        n = 'urn:x:geo'
        a = client(srv, 'alice')
        assert_ok(publish(a, n, "<g xmlns='urn:x'>here</g>", id='g1'), 'publish')
        mute = caps_client(srv, 'alice', [n], resource='mute', answer=False)
        assert len(mute.asked) == 1
        mute.assert_nothing(is_event())
        assert_ok(publish(a, n, "<g xmlns='urn:x'>there</g>", id='g2'), 'publish 2')
        mute.assert_nothing(is_event())
        # A second JID with the same ver is not asked while the first
        # query is out...
        other = caps_client(srv, 'alice', [n], resource='other', answer=False)
        assert other.asked == []
        # ...and the mute one answering late still counts.
        answer_disco(mute, mute.asked[0], caps_features([n]))
        for r in (mute, other):
            m = r.expect(is_event(n))
            assert event_items(m)[1][0][1] == 'g2' and m.get('to') == r.jid
        # A resource without caps, and one without this node: nothing.
        plain = client(srv, 'alice', resource='plain')
        uninterested = caps_client(srv, 'alice', ['urn:x:other'], resource='uninterested')
        assert_ok(publish(a, n, "<g xmlns='urn:x'>again</g>", id='g3'), 'publish 3')
        for r in (mute, other):
            assert event_items(r.expect(is_event(n)))[1][0][1] == 'g3'
        plain.assert_nothing(is_event())
        uninterested.assert_nothing(is_event())
        a.assert_nothing(is_event())
        # An error answer: the next JID with that ver is asked at once.
        r1 = caps_client(srv, 'alice', ['urn:x:retry'], resource='r1', answer=False)
        r2 = caps_client(srv, 'alice', ['urn:x:retry'], resource='r2', answer=False)
        assert len(r1.asked) == 1 and r2.asked == []
        assert_ok(publish(a, 'urn:x:retry', "<t xmlns='urn:x'/>", id='t1'), 'retry node')
        r1.send("<iq type='error' to='%s' id='%s'><error type='cancel'><item-not-found "
                "xmlns='%s'/></error></iq>" % (r1.asked[0].get('from'), r1.asked[0].get('id'),
                                               NS_STANZAS))
        qy = r2.expect(is_caps_query)
        assert qy.get('id') != r1.asked[0].get('id')
        answer_disco(r2, qy, caps_features(['urn:x:retry']))
        for r in (r1, r2):
            assert event_items(r.expect(is_event('urn:x:retry')))[1][0][1] == 't1'


def test_pep_limits():
    """[pep] max_item_size, max_items_per_node ('max'), max_nodes and
    max_total: refusals with the exact errors, nothing written, and a
    retract still works over a lowered quota."""
    ini = ('[pep]\nmax_item_size = 1K\nmax_items_per_node = 3\nmax_nodes = 2\n'
           'max_total = 64K\n')
    with Server(server={'modules': MODULES}, extra_ini=ini) as srv:
        a = client(srv, 'alice')
        big = "<p xmlns='urn:x'>%s</p>" % ('x' * 1100)
        rep = publish(a, 'urn:x:a', big)
        assert_error(rep, 'modify', 'not-acceptable', 'item over 1K', pcond='payload-too-big')
        assert pep_files(srv) == {}
        opts = pubopts(('pubsub#max_items', 'max'))
        for i in range(5):
            assert_ok(publish(a, 'urn:x:a', "<p xmlns='urn:x'>%d</p>" % i, id=str(i),
                              options=opts), 'item %d' % i)
        assert [i for i, _ in got_items(items(a, 'urn:x:a'), 'urn:x:a')] == ['2', '3', '4']
        assert_ok(publish(a, 'urn:x:a', "<p xmlns='urn:x'>again</p>", id='2'), 'republish 2')
        assert [i for i, _ in got_items(items(a, 'urn:x:a'), 'urn:x:a')] == ['3', '4', '2']
        assert [i for i, _ in got_items(items(a, 'urn:x:a', extra=" max_items='2'"),
                                        'urn:x:a')] == ['4', '2']
        rep = publish(a, 'urn:x:a', "<p xmlns='urn:x'/>", options=pubopts(
            ('pubsub#max_items', '4')))
        assert_error(rep, 'cancel', 'conflict', 'more than the server keeps',
                     pcond='precondition-not-met')
        cfg = config_of(a, 'urn:x:a')
        assert cfg['pubsub#max_items'] == ['max'], cfg
        # Lowering max_items drops the oldest at once.
        assert_ok(owner(a, "<configure node='urn:x:a'>%s</configure>" % form(
            NODE_CONFIG, [('pubsub#max_items', '1')])), 'max 1')
        assert [i for i, _ in got_items(items(a, 'urn:x:a'), 'urn:x:a')] == ['2']
        # Nodes: two, then no more.
        assert_ok(publish(a, 'urn:x:b', "<p xmlns='urn:x'/>"), 'second node')
        before = pep_files(srv)
        rep = publish(a, 'urn:x:c', "<p xmlns='urn:x'/>")
        assert_error(rep, 'modify', 'policy-violation', 'third node', text='as many PEP nodes')
        rep = ps(a, "<create node='urn:x:c'/>")
        assert_error(rep, 'modify', 'policy-violation', 'third node by create')
        assert pep_files(srv) == before
        assert srv.wait_log("node 'urn:x:c' refused, max_nodes (2) reached")
    ini = '[pep]\nmax_total = 128K\n'
    with Server(server={'modules': MODULES}, extra_ini=ini) as srv:
        a = client(srv, 'alice')
        chunk = "<p xmlns='urn:x'>%s</p>" % ('z' * 9000)
        opts = pubopts(('pubsub#max_items', 'max'))
        n = 0
        while True:
            rep = publish(a, 'urn:x:q', chunk, id='q%d' % n, options=opts)
            if rep.get('type') != 'result':
                break
            n += 1
            assert n < 100
        assert_error(rep, 'modify', 'policy-violation', 'quota', text='storage is full')
        total = sum(len(v) for v in pep_files(srv).values())
        assert 14 * 9000 < total <= 128 * 1024 and n == 14, (n, total)
        assert srv.wait_log('would store more than max_total (131072 bytes)')
        before = pep_files(srv)
        rep = publish(a, 'urn:x:r', "<p xmlns='urn:x'>%s</p>" % ('z' * 4000))
        assert_error(rep, 'modify', 'policy-violation', 'a new node over quota')
        assert pep_files(srv) == before
        # A lowered quota, below what is stored: retracting still works,
        # growing does not.
        a.finish()
        srv.stop()
        srv.extra_ini = '[pep]\nmax_total = 64K\n'
        srv.write_config()
        srv.start()
        a = client(srv, 'alice')
        rep = publish(a, 'urn:x:q', "<p xmlns='urn:x'>%s</p>" % ('z' * 9500), id='q0')
        assert_error(rep, 'modify', 'policy-violation', 'growing over a lowered quota')
        assert_ok(ps(a, "<retract node='urn:x:q'><item id='q0'/></retract>"), 'retract')
        assert len(pep_files(srv)[node_file('urn:x:q')]) < len(before[node_file('urn:x:q')])
        assert [i for i, _ in got_items(items(a, 'urn:x:q'), 'urn:x:q')][:1] == ['q1']


def test_pep_damaged_or_newer_files():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        assert_ok(publish(a, 'urn:x:d', "<p xmlns='urn:x'>v1</p>", id='1'), 'publish')
        path = os.path.join(pep_dir(srv), node_file('urn:x:d'))
        with open(path) as fh:
            good = fh.read()
        with open(path, 'w') as fh:
            fh.write(good.replace('version="1"', 'version="2"'))
        assert_error(items(a, 'urn:x:d'), 'cancel', 'internal-server-error', 'newer format')
        assert srv.wait_log('has format version 2; this xmppd reads version 1')
        rep = publish(a, 'urn:x:d', "<p xmlns='urn:x'>v2</p>", id='1')
        assert_error(rep, 'cancel', 'internal-server-error', 'publish over a newer file')
        with open(path) as fh:
            assert 'version="2"' in fh.read(), 'a newer file was overwritten'
        for bad in (good[:len(good) // 2], '<node xmlns="urn:xmppd:pep" version="1"/>',
                    good.replace('name="urn:x:d"', 'name="urn:x:other"')):
            with open(path, 'w') as fh:
                fh.write(bad)
            assert_error(items(a, 'urn:x:d'), 'cancel', 'internal-server-error',
                         'damaged: %r' % bad[:60])
        os.unlink(path)
        assert_error(items(a, 'urn:x:d'), 'cancel', 'item-not-found', 'gone')
        assert_ok(publish(a, 'urn:x:d', "<p xmlns='urn:x'>v3</p>", id='1'), 'fresh')


def test_pep_config_errors():
    for ini, word in (('[pep]\nmax_things = 1\n', "unknown key 'max_things'"),
                      ('[pep]\nmax_item_size = big\n', 'not a size'),
                      ('[pep]\nmax_item_size = 100\n', 'out of range'),
                      ('[pep]\nmax_total = 2G\n', 'not a size'),
                      ('[pep]\nmax_items_per_node = 0\n', 'out of range'),
                      ('[pep]\nmax_items_per_node = 1K\n', 'not a number'),
                      ('[pep]\nmax_nodes = 10001\n', 'out of range')):
        with Server(start=False, server={'modules': MODULES}, extra_ini=ini) as srv:
            text = srv.config_text()
            line = text.splitlines().index(ini.split('\n')[1]) + 1
            r = srv.cli('check', 'config')
            assert r.returncode == 2, '%r: exit %d (want 2): %s' % (ini, r.returncode, r.stderr)
            assert '%s:%d:' % (srv.config_path, line) in r.stderr and word in r.stderr, \
                '%r: %r' % (ini, r.stderr)
    with Server(start=False, server={'modules': MODULES},
                extra_ini='[pep]\nmax_item_size = 16M\nmax_total = 1024M\n'
                          'max_items_per_node = 10000\nmax_nodes = 1\n') as srv:
        r = srv.cli('check', 'config')
        assert r.returncode == 0, r.stderr


def test_pep_disco_and_not_enabled():
    """The account's disco#info shows pubsub/pep and the features; without
    the module nothing of it, and pubsub requests are not answered."""
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        rep = a.iq("<iq type='get' to='alice@localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
        ids = [(i.get('category'), i.get('type')) for i in rep.iter(q(NS_DISCO_INFO, 'identity'))]
        assert ('pubsub', 'pep') in ids and ('account', 'registered') in ids, dump(rep)
        feats = {x.get('var') for x in rep.iter(q(NS_DISCO_INFO, 'feature'))}
        for want in ('publish', 'publish-options', 'auto-create', 'auto-subscribe',
                     'filtered-notifications', 'access-presence', 'access-open',
                     'access-roster', 'access-whitelist', 'config-node', 'retract-items',
                     'delete-nodes', 'purge-nodes', 'persistent-items', 'retrieve-items',
                     'subscribe', 'last-published'):
            assert NS_PUBSUB + '#' + want in feats, want
        for want in (NS_BM1 + '#compat', NS_BM1 + '#compat-pep',
                     'urn:xmpp:bookmarks-conversion:0'):
            assert want in feats, want
        rep = a.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
        feats = {x.get('var') for x in rep.iter(q(NS_DISCO_INFO, 'feature'))}
        assert NS_PUBSUB + '#publish-options' in feats and NS_BM1 + '#compat' not in feats
    with Server() as srv:
        a = client(srv, 'alice')
        assert_error(publish(a, 'urn:x:n', "<p xmlns='urn:x'/>"), 'cancel',
                     'service-unavailable', 'module off')
        rep = a.iq("<iq type='get' to='alice@localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
        ids = [(i.get('category'), i.get('type')) for i in rep.iter(q(NS_DISCO_INFO, 'identity'))]
        assert ('pubsub', 'pep') not in ids, dump(rep)
        assert pep_files(srv) == {}


def test_pep_private_bookmarks_imported_once():
    """Bookmarks the private module stored before pep was enabled are
    copied into urn:xmpp:bookmarks:1 at the next login, once."""
    with Server(server={'modules': 'roster, saslauth, tls, disco, ping, private'}) as srv:
        a = client(srv, 'alice')
        rep = a.iq("<iq type='set'><query xmlns='%s'><storage xmlns='%s'>"
                   "<conference jid='old@conference.example.org' name='Old' autojoin='true'>"
                   "<nick>al</nick></conference><url url='https://e.org/' name='E'/>"
                   "</storage></query></iq>" % (NS_PRIVATE, NS_BM0))
        assert_ok(rep, 'private set')
        a.finish()
        srv.stop()
        srv.server_cfg['modules'] = MODULES_PRIVATE
        srv.write_config()
        srv.start()
        a = client(srv, 'alice')
        got = got_items(items(a, NS_BM1), NS_BM1)
        assert [i for i, _ in got] == ['old@conference.example.org'], got
        conf = got[0][1]
        assert conf.get('name') == 'Old' and conf.get('autojoin') == 'true' and \
            conf.findtext(q(NS_BM1, 'nick')) == 'al'
        assert srv.wait_log('XEP-0048 bookmarks copied to urn:xmpp:bookmarks:1')
        files = pep_files(srv)
        assert set(files) == {node_file(NS_BM1), 'x-bookmark-urls', 'x-bookmarks-imported'}
        # Retract it; a new login does not bring it back.
        assert_ok(ps(a, "<retract node='%s'><item id='old@conference.example.org'/></retract>"
                     % NS_BM1), 'retract')
        a.finish()
        a = client(srv, 'alice')
        assert got_items(items(a, NS_BM1), NS_BM1) == []
        # Private XML now shows the bookmarks:1 view (the URL is kept).
        rep = a.iq("<iq type='get'><query xmlns='%s'><storage xmlns='%s'/></query></iq>"
                   % (NS_PRIVATE, NS_BM0))
        st = xfind(rep, q(NS_PRIVATE, 'query'), q(NS_BM0, 'storage'))
        assert st is not None and st.find(q(NS_BM0, 'conference')) is None and \
            st.find(q(NS_BM0, 'url')).get('url') == 'https://e.org/', dump(rep)
        # Other private data still goes to the private module.
        assert_ok(a.iq("<iq type='set'><query xmlns='%s'><p xmlns='urn:x:p'>1</p></query></iq>"
                       % NS_PRIVATE), 'other private data')


def test_pep_bookmark_view_refusals_and_subscription_limit():
    """The storage:bookmarks view: only the owner reads it, it cannot be
    retracted, purged, deleted or reconfigured, and takes only a
    <storage/>; a XEP-0048 list longer than the server keeps is refused
    whole; an invalid room JID is skipped; 64 subscriptions per node."""
    ini = '[pep]\nmax_items_per_node = 2\n'
    with Server(server={'modules': MODULES}, extra_ini=ini) as srv:
        a = client(srv, 'alice')
        c = client(srv, 'carol')
        f = Failures()
        assert_error(items(a, NS_BM0), 'cancel', 'item-not-found', 'no bookmarks yet')
        rep = a.iq("<iq type='set'><query xmlns='%s'><storage xmlns='%s'>%s</storage></query>"
                   "</iq>" % (NS_PRIVATE, NS_BM0, ''.join(
                       "<conference jid='r%d@conf.example.org'/>" % i for i in range(3))))
        assert_error(rep, 'modify', 'not-acceptable', 'three rooms, two kept',
                     text='More bookmarks than the server keeps')
        assert pep_files(srv) == {}
        rep = a.iq("<iq type='set'><query xmlns='%s'><storage xmlns='%s'>"
                   "<conference jid='@bad'/><conference jid='ok@conf.example.org' "
                   "autojoin='1'><nick>x</nick><password>p</password></conference>"
                   "</storage></query></iq>" % (NS_PRIVATE, NS_BM0))
        assert_ok(rep, 'one bad, one good room')
        got = got_items(items(a, NS_BM1), NS_BM1)
        assert [i for i, _ in got] == ['ok@conf.example.org'], got
        assert got[0][1].findtext(q(NS_BM1, 'password')) == 'p' and \
            got[0][1].get('autojoin') == 'true'
        before = pep_files(srv)

        def views():
            assert_error(ps(a, "<retract node='%s'><item id='current'/></retract>" % NS_BM0),
                         'cancel', 'not-allowed', 'retract the view')
            assert_error(owner(a, "<delete node='%s'/>" % NS_BM0), 'cancel', 'not-allowed',
                         'delete the view')
            assert_error(owner(a, "<purge node='%s'/>" % NS_BM0), 'cancel', 'not-allowed',
                         'purge the view')
            assert_error(owner(a, "<configure node='%s'>%s</configure>" % (
                NS_BM0, form(NODE_CONFIG, [('pubsub#access_model', 'open')]))),
                'modify', 'not-acceptable', 'open the view')
            assert_ok(owner(a, "<configure node='%s'>%s</configure>" % (
                NS_BM0, form(NODE_CONFIG, [('pubsub#access_model', 'whitelist')]))),
                'view configured as it is')
            assert config_of(a, NS_BM0)['pubsub#access_model'] == ['whitelist']
            assert_error(publish(a, NS_BM0, "<conference xmlns='%s'/>" % NS_BM1),
                         'modify', 'bad-request', 'not a storage', pcond='invalid-payload')
            assert_error(publish(a, NS_BM0, "<storage xmlns='%s'/>" % NS_BM0,
                                 options=pubopts(('pubsub#access_model', 'open'))),
                         'cancel', 'conflict', 'open view', pcond='precondition-not-met')
            assert_error(items(c, NS_BM0, to='alice@localhost'), 'cancel', 'not-allowed',
                         'carol reads the view', pcond='closed-node')
            assert_error(ps(c, "<subscribe node='%s' jid='carol@localhost'/>" % NS_BM0,
                            to='alice@localhost'), 'cancel', 'not-allowed',
                         'carol subscribes to the view', pcond='closed-node')
            assert_error(owner(a, "<affiliations node='%s'><affiliation jid='carol@localhost' "
                                  "affiliation='member'/></affiliations>" % NS_BM0),
                         'cancel', 'not-allowed', 'members of the view')
            assert_error(ps(a, "<create node='%s'/>" % NS_BM0), 'cancel', 'conflict',
                         'create the view again')
            got = got_items(items(a, NS_BM0), NS_BM0)
            assert [i for i, _ in got] == ['current'], got
            conf = got[0][1].find(q(NS_BM0, 'conference'))
            assert conf.get('jid') == 'ok@conf.example.org' and \
                conf.findtext(q(NS_BM0, 'nick')) == 'x', dump(got[0][1])
            assert got_items(items(a, NS_BM0, inner="<item id='other'/>"), NS_BM0) == []
            assert pep_files(srv) == before

        def many_subscriptions():
            assert_ok(publish(a, 'urn:x:open', "<p xmlns='urn:x'/>",
                              options=pubopts(('pubsub#access_model', 'open'))), 'open node')
            for i in range(64):
                rep = ps(c, "<subscribe node='urn:x:open' jid='carol@localhost/r%d'/>" % i,
                         to='alice@localhost')
                assert_ok(rep, 'subscription %d' % i)
            c.take_all(is_event())
            mid = pep_files(srv)
            rep = ps(c, "<subscribe node='urn:x:open' jid='carol@localhost/r64'/>",
                     to='alice@localhost')
            assert_error(rep, 'modify', 'policy-violation', '65th subscription',
                         pcond='too-many-subscriptions')
            assert pep_files(srv) == mid
            rep = ps(c, "<subscriptions node='urn:x:open'/>", type='get', to='alice@localhost')
            assert len(list(rep.iter(q(NS_PUBSUB, 'subscription')))) == 64
            # An outcast loses every subscription at once.
            assert_ok(owner(a, "<affiliations node='urn:x:open'><affiliation "
                               "jid='carol@localhost' affiliation='outcast'/>"
                               "</affiliations>"), 'outcast')
            rep = owner(a, "<subscriptions node='urn:x:open'/>", type='get')
            assert list(rep.iter(q(NS_OWNER, 'subscription'))) == [], dump(rep)

        f.run('views', views)
        f.run('many subscriptions', many_subscriptions)
        f.raise_if_any()
