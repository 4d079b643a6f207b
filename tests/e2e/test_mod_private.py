"""
Private XML storage (XEP-0049, modules/private.c): round trips with
slixmpp's xep_0049 and xep_0048 (bookmarks in storage:bookmarks), then raw
requests for every refusal the module makes (no child, reserved or mixed
namespaces, another account's or the server's storage, oversize fragments,
a full quota), each with the exact stanza error and a look at the data
directory to see that nothing was written.
"""

import asyncio
import logging
import os
import ssl

import slixmpp
from slixmpp.xmlstream import ElementBase, ET

from lib import Server
import sxlib
from sxlib import close_client
from rawxmpp import Failures, C, NS_DISCO_INFO, NS_STANZAS, client, dump, q, stanza_error

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

NS_PRIVATE = 'jabber:iq:private'
MODULES = 'roster, saslauth, tls, disco, ping, offline, private'
QUERY = q(NS_PRIVATE, 'query')


# ---- helpers ----

def private_dir(srv, user='alice'):
    return os.path.join(srv.data_path, 'localhost', user, 'private')

def run_scenario(scenario, timeout=20):
    return sxlib.run_scenario(scenario, timeout)


def private_files(srv, user='alice'):
    """{file name: bytes} of an account's private/ directory."""
    d = private_dir(srv, user)
    if not os.path.isdir(d):
        return {}
    out = {}
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), 'rb') as f:
            out[name] = f.read()
    return out


def pset(r, inner, to=None):
    t = " to='%s'" % to if to else ''
    return r.iq("<iq type='set'%s><query xmlns='%s'>%s</query></iq>" % (t, NS_PRIVATE, inner))


def pget(r, inner, to=None):
    t = " to='%s'" % to if to else ''
    return r.iq("<iq type='get'%s><query xmlns='%s'>%s</query></iq>" % (t, NS_PRIVATE, inner))


def assert_ok(reply, what):
    assert reply.get('type') == 'result', '%s: %s' % (what, dump(reply))


def assert_error(reply, etype, cond, what, text=None):
    assert reply.get('type') == 'error', '%s: expected an error, got %s' % (what, dump(reply))
    got = stanza_error(reply)
    assert got == (etype, cond), '%s: error %r, expected %r: %s' % (what, got, (etype, cond),
                                                                    dump(reply))
    if text is not None:
        t = reply.find('%s/{%s}text' % (C('error'), NS_STANZAS))
        assert t is not None and text in (t.text or ''), \
            '%s: error text %r does not mention %r' % (what, None if t is None else t.text, text)


def disco_features(r):
    """The server's disco#info features (the disco module is on in every
    configuration used here)."""
    rep = r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
    assert rep.get('type') == 'result', 'disco#info: %s' % dump(rep)
    return {f.get('var') for f in rep.iter(q(NS_DISCO_INFO, 'feature'))}


def children(reply):
    """The element children of the <query/> of a result."""
    qe = reply.find(QUERY)
    assert qe is not None, 'result without <query/>: %s' % dump(reply)
    return list(qe)


class Prefs(ElementBase):
    """A client's own settings, as a client would keep them with XEP-0049."""
    name = 'prefs'
    namespace = 'urn:example:client:prefs'
    plugin_attrib = 'example_prefs'
    interfaces = {'theme', 'sound'}
    sub_interfaces = interfaces


async def _none_answer(*args, **kwargs):
    return None


class Xc:
    """A slixmpp client for one scenario, with the plugins it needs."""

    def __init__(self, srv, jid, password, plugins):
        self.x = x = slixmpp.ClientXMPP(jid, password)
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.default_domain = x.boundjid.domain
        x._pick_dns_answer = _none_answer
        for p in plugins:
            x.register_plugin(p)
        self.srv = srv
        self.session = asyncio.Event()
        x.add_event_handler('session_start', lambda ev: self.session.set())

    async def connect(self):
        self.x.connect(address=('127.0.0.1', self.srv.c2s_port))
        await asyncio.wait_for(self.session.wait(), 10)

    async def close(self):
        await close_client(self.x)


# ---- slixmpp round trips ----

def test_private_slixmpp_store_retrieve_and_bookmarks():
    with Server(server={'modules': MODULES}) as srv:
        async def scenario(clients):
            a = Xc(srv, 'alice@localhost/s', 'alice-pw', ['xep_0049', 'xep_0048'])
            clients.append(a)
            a.x['xep_0049'].register(Prefs)
            await a.connect()

            # Nothing stored yet: the element comes back as asked, empty.
            res = await a.x['xep_0049'].retrieve('example_prefs', timeout=5)
            el = res.xml.find('{%s}query/{%s}prefs' % (NS_PRIVATE, Prefs.namespace))
            assert el is not None and len(el) == 0 and not el.attrib, ET.tostring(res.xml)

            p = Prefs()
            p['theme'] = 'dark & <stormy>'
            p['sound'] = 'b\u00e9ep \U0001F514'
            await a.x['xep_0049'].store(p, timeout=5)
            res = await a.x['xep_0049'].retrieve('example_prefs', timeout=5)
            got = res['private']['example_prefs']
            assert got['theme'] == 'dark & <stormy>', ET.tostring(res.xml)
            assert got['sound'] == 'b\u00e9ep \U0001F514', ET.tostring(res.xml)

            # Bookmarks (XEP-0048 through XEP-0049).
            bm = a.x['xep_0048'].stanza.Bookmarks()
            bm.add_conference('room@conference.example.org', 'ally', name='The Room',
                              autojoin=True, password='s3cret')
            bm.add_url('https://example.org/?a=1&b=2', name='Example')
            await a.x['xep_0048'].set_bookmarks(bm, method='xep_0049', timeout=5)
            res = await a.x['xep_0048'].get_bookmarks(method='xep_0049', timeout=5)
            confs = res['private']['bookmarks']['conferences']
            assert len(confs) == 1, ET.tostring(res.xml)
            c = confs[0]
            assert (str(c['jid']), c['nick'], c['name'], c['autojoin'], c['password']) == \
                ('room@conference.example.org', 'ally', 'The Room', True, 's3cret'), \
                ET.tostring(res.xml)
            urls = res['private']['bookmarks']['urls']
            assert [(u['url'], u['name']) for u in urls] == \
                [('https://example.org/?a=1&b=2', 'Example')], ET.tostring(res.xml)

            # The prefs are still there, untouched by the bookmarks.
            res = await a.x['xep_0049'].retrieve('example_prefs', timeout=5)
            assert res['private']['example_prefs']['theme'] == 'dark & <stormy>'

            # Two fragments of one namespace in one set (XEP-0049 2.3 MAY).
            one = ET.Element('{urn:example:multi}one')
            one.text = 'first'
            two = ET.Element('{urn:example:multi}two', {'n': '2'})
            await a.x['xep_0049'].store([one, two], timeout=5)
        run_scenario(scenario)

        files = private_files(srv)
        assert set(files) == {'prefs%7Curn%3Aexample%3Aclient%3Aprefs',
                              'storage%7Cstorage%3Abookmarks',
                              'one%7Curn%3Aexample%3Amulti',
                              'two%7Curn%3Aexample%3Amulti'}, sorted(files)
        for name, data in files.items():
            assert data.startswith(b'<query xmlns="jabber:iq:private" version="1">'), \
                (name, data[:200])
        # Another account saw none of it.
        assert private_files(srv, 'bob') == {}

        # It survives a restart, and a raw get of both multi fragments at
        # once returns both in order.
        srv.stop()
        srv.start()
        r = client(srv, 'alice')
        rep = pget(r, "<storage xmlns='storage:bookmarks'/>")
        assert_ok(rep, 'bookmarks after restart')
        st = children(rep)
        assert len(st) == 1 and st[0].tag == '{storage:bookmarks}storage', dump(rep)
        conf = st[0].find('{storage:bookmarks}conference')
        assert conf is not None and conf.get('jid') == 'room@conference.example.org' and \
            conf.findtext('{storage:bookmarks}nick') == 'ally', dump(rep)
        rep = pget(r, "<two xmlns='urn:example:multi'/><one xmlns='urn:example:multi'/>")
        assert_ok(rep, 'two fragments')
        got = [(e.tag, e.text, e.get('n')) for e in children(rep)]
        assert got == [('{urn:example:multi}two', None, '2'),
                       ('{urn:example:multi}one', 'first', None)], dump(rep)


# ---- raw protocol edges ----

def test_private_refusals_write_nothing():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        f = Failures()

        def no_child():
            assert_error(pget(a, ''), 'modify', 'not-acceptable', 'get without child')
            assert_error(pset(a, ''), 'modify', 'not-acceptable', 'set without child')
            # Text is not a child element.
            assert_error(pset(a, 'just text'), 'modify', 'not-acceptable', 'set with text')

        def reserved():
            for frag in ("<query xmlns='jabber:iq:roster'/>",
                         "<x xmlns='jabber:x:data' type='form'/>",
                         "<foo xmlns='jabber:client'/>",
                         "<q xmlns='http://jabber.org/protocol/disco#info'/>",
                         "<vCard xmlns='vcard-temp'><FN>Hamlet</FN></vCard>",
                         "<foo xmlns=''><bar/></foo>",
                         "<inherits><the-parent-ns/></inherits>"):
                for verb in (pget, pset):
                    assert_error(verb(a, frag), 'modify', 'not-acceptable',
                                 '%s %s' % (verb.__name__, frag),
                                 text='namespace of its own' if "xmlns=''" in frag
                                 else 'reserved')

        def mixed():
            assert_error(pset(a, "<a xmlns='urn:x:one'/><b xmlns='urn:x:two'/>"),
                         'modify', 'bad-request', 'set of two namespaces')
            assert_error(pget(a, "<a xmlns='urn:x:one'/><b xmlns='urn:x:two'/>"),
                         'modify', 'bad-request', 'get of two namespaces')
            assert_error(pset(a, "<a xmlns='urn:x:one'>1</a><a xmlns='urn:x:one'>2</a>"),
                         'modify', 'bad-request', 'the same element twice')
            many = ''.join("<e%d xmlns='urn:x:many'/>" % i for i in range(65))
            assert_error(pget(a, many), 'modify', 'bad-request', '65 children')
            # A reserved namespace among good ones still mixes namespaces.
            assert_error(pset(a, "<a xmlns='urn:x:one'/><b xmlns='jabber:iq:roster'/>"),
                         'modify', 'bad-request', 'good and reserved')

        def others():
            for to in ('bob@localhost', 'localhost', 'nobody@localhost'):
                for verb in (pget, pset):
                    rep = verb(a, "<p xmlns='urn:x:p'>mine</p>", to=to)
                    want = ('cancel', 'service-unavailable') if to.startswith('nobody') \
                        else ('auth', 'forbidden')
                    assert_error(rep, want[0], want[1], '%s to %s' % (verb.__name__, to))
                    assert rep.get('from') == to, 'error from %r, not %s' % (rep.get('from'), to)

        def wrong_element():
            # Only <query/> is the protocol; anything else in the namespace
            # is not something the server offers.
            rep = a.iq("<iq type='get'><list xmlns='%s'/></iq>" % NS_PRIVATE)
            assert_error(rep, 'cancel', 'service-unavailable', '<list/> payload')

        for name, fn in (('no child', no_child), ('reserved', reserved), ('mixed', mixed),
                         ('others', others), ('wrong element', wrong_element)):
            f.run(name, fn)
        for user in ('alice', 'bob', 'carol'):
            assert not os.path.exists(private_dir(srv, user)), \
                'private/ of %s made by refused requests: %s' % (user, private_files(srv, user))
        # The server still answers normally afterwards.
        assert_ok(pset(a, "<p xmlns='urn:x:p'>ok</p>"), 'a good set')
        assert list(private_files(srv)) == ['p%7Curn%3Ax%3Ap']
        f.raise_if_any()


def test_private_other_account_cannot_touch_it():
    """bob, whatever 'to' he uses, never reads or changes alice's data."""
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        b = client(srv, 'bob')
        assert_ok(pset(a, "<secret xmlns='urn:x:s'>alice's</secret>"), 'alice stores')
        before = private_files(srv)
        for to in ('alice@localhost', 'ALICE@LOCALHOST', 'Alice@LocalHost.'):
            for verb in (pget, pset):
                rep = verb(b, "<secret xmlns='urn:x:s'>bob's</secret>", to=to)
                assert_error(rep, 'auth', 'forbidden', '%s to %s' % (verb.__name__, to))
                assert "alice's" not in dump(rep), "alice's data leaked: %s" % dump(rep)
        # To a full JID the request is alice's client's business: the
        # server passes it on and does not answer it itself.
        b.send("<iq type='get' id='full1' to='%s'><query xmlns='%s'>"
               "<secret xmlns='urn:x:s'/></query></iq>" % (a.jid, NS_PRIVATE))
        got = a.expect(lambda e: e.tag == C('iq') and e.get('id') == 'full1',
                       what='the IQ at alice')
        assert got.get('from') == b.jid and got.get('type') == 'get', dump(got)
        b.assert_nothing(lambda e: e.get('id') == 'full1', what='a server answer')
        assert private_files(srv) == before, "alice's files changed"
        assert private_files(srv, 'bob') == {}
        # bob's own get sees his (empty) storage, not alice's.
        rep = pget(b, "<secret xmlns='urn:x:s'/>")
        assert_ok(rep, 'bob own get')
        (el,) = children(rep)
        assert el.tag == '{urn:x:s}secret' and not el.text, dump(rep)
        rep = pget(a, "<secret xmlns='urn:x:s'/>", to='alice@localhost')
        assert_ok(rep, 'alice get with her bare JID as to')
        assert children(rep)[0].text == "alice's", dump(rep)


def test_private_replace_delete_and_echo():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        # An unknown fragment comes back as asked, attributes and children
        # included.
        rep = pget(a, "<cfg xmlns='urn:x:c' v='1'><k/></cfg>")
        assert_ok(rep, 'get of nothing')
        (el,) = children(rep)
        assert el.tag == '{urn:x:c}cfg' and el.get('v') == '1' and len(el) == 1, dump(rep)

        assert_ok(pset(a, "<cfg xmlns='urn:x:c'><k>1</k><k>2</k></cfg>"), 'set 1')
        assert_ok(pset(a, "<cfg xmlns='urn:x:c'><k>3</k></cfg>"), 'replace')
        (el,) = children(pget(a, "<cfg xmlns='urn:x:c'/>"))
        assert [k.text for k in el] == ['3'], ET.tostring(el)
        # Same name, other namespace; same namespace, other name: separate.
        assert_ok(pset(a, "<cfg xmlns='urn:x:d'>other</cfg>"), 'other ns')
        assert_ok(pset(a, "<cfh xmlns='urn:x:c'>sibling</cfh>"), 'other name')
        (el,) = children(pget(a, "<cfg xmlns='urn:x:c'/>"))
        assert [k.text for k in el] == ['3'], ET.tostring(el)
        assert len(private_files(srv)) == 3, private_files(srv)

        # An empty element deletes (white space does not count as content).
        assert_ok(pset(a, "<cfg xmlns='urn:x:c'>\n  </cfg>"), 'delete')
        assert sorted(private_files(srv)) == ['cfg%7Curn%3Ax%3Ad', 'cfh%7Curn%3Ax%3Ac']
        (el,) = children(pget(a, "<cfg xmlns='urn:x:c'/>"))
        assert len(el) == 0 and not (el.text or '').strip(), ET.tostring(el)
        # Deleting what is not there is fine too.
        assert_ok(pset(a, "<never xmlns='urn:x:c'/>"), 'delete nothing')

        # Namespace URIs and names that do not fit a file name.
        long_ns = 'urn:x:' + 'l' * 300
        assert_ok(pset(a, "<z xmlns='%s'>long</z>" % long_ns), 'long namespace')
        names = [n for n in private_files(srv) if n.startswith('sha1-')]
        assert len(names) == 1 and len(names[0]) == 45, private_files(srv)
        (el,) = children(pget(a, "<z xmlns='%s'/>" % long_ns))
        assert el.text == 'long', ET.tostring(el)
        # A name one character different does not find it.
        (el,) = children(pget(a, "<y xmlns='%s'/>" % long_ns))
        assert el.text is None, ET.tostring(el)


# ---- sizes ----

def _frag(name, size, ns='urn:x:big'):
    """An element whose stored file is about size bytes."""
    return "<%s xmlns='%s'>%s</%s>" % (name, ns, 'x' * size, name)


def test_private_size_limits():
    ini = '[private]\nmax_size = 2K\nmax_total = 5K\n'
    with Server(server={'modules': MODULES}, extra_ini=ini) as srv:
        a = client(srv, 'alice')
        rep = pset(a, _frag('big', 2100))
        assert_error(rep, 'modify', 'not-acceptable', 'over max_size', text='larger')
        assert private_files(srv) == {}
        assert srv.wait_log('larger than max_size (2048 bytes)'), 'no log line for the limit'

        # Fits exactly: 2048 bytes on disk is allowed, 2049 is not.
        wrapper = len('<query xmlns="jabber:iq:private" version="1">'
                      '<b xmlns="urn:x:big"></b></query>\n')
        assert_ok(pset(a, _frag('b', 2048 - wrapper)), 'exactly max_size')
        assert len(private_files(srv)['b%7Curn%3Ax%3Abig']) == 2048
        assert_error(pset(a, _frag('c', 2049 - wrapper)), 'modify', 'not-acceptable',
                     'max_size + 1')

        # Quota: 2048 used; two more of 1500 fit (5048 <= 5120), a third not.
        assert_ok(pset(a, _frag('c', 1450)), 'c')
        assert_ok(pset(a, _frag('d', 1450)), 'd')
        used = sum(len(v) for v in private_files(srv).values())
        assert used <= 5120, used
        before = private_files(srv)
        rep = pset(a, _frag('e', 1450))
        assert_error(rep, 'modify', 'not-acceptable', 'over max_total', text='full')
        assert private_files(srv) == before
        # Replacing counts the new size only, not both.
        assert_ok(pset(a, _frag('d', 1400)), 'replace d within the quota')
        # A set of two where the second does not fit writes neither.
        before = private_files(srv)
        rep = pset(a, _frag('f', 10) + _frag('g', 1900))
        assert_error(rep, 'modify', 'not-acceptable', 'pair over quota')
        assert private_files(srv) == before, 'half of a refused set was written'
        rep = pset(a, _frag('f', 10) + _frag('g', 2100))
        assert_error(rep, 'modify', 'not-acceptable', 'pair with an oversize one')
        assert private_files(srv) == before
        # Deleting frees room.
        assert_ok(pset(a, "<b xmlns='urn:x:big'/>"), 'delete b')
        assert_ok(pset(a, _frag('f', 10) + _frag('g', 1900)), 'pair after delete')
        assert {'f%7Curn%3Ax%3Abig', 'g%7Curn%3Ax%3Abig'} <= set(private_files(srv))

        # Each account has its own quota.
        b = client(srv, 'bob')
        assert_ok(pset(b, _frag('c', 1450)), 'bob has room')


def test_private_not_enabled():
    with Server() as srv:      # modules without private
        a = client(srv, 'alice')
        rep = pget(a, "<p xmlns='urn:x:p'/>")
        assert_error(rep, 'cancel', 'service-unavailable', 'module off')
        rep = pset(a, "<p xmlns='urn:x:p'>x</p>")
        assert_error(rep, 'cancel', 'service-unavailable', 'module off')
        assert private_files(srv) == {}
        feats = disco_features(a)
        assert NS_PRIVATE not in feats and NS_DISCO_INFO in feats, feats
    with Server(server={'modules': MODULES}) as srv:
        assert NS_PRIVATE in disco_features(client(srv, 'alice'))


def test_private_damaged_or_newer_file():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        assert_ok(pset(a, "<p xmlns='urn:x:p'>v1</p>"), 'store')
        path = os.path.join(private_dir(srv), 'p%7Curn%3Ax%3Ap')
        with open(path, 'w') as fh:
            fh.write('<query xmlns="jabber:iq:private" version="2"><p xmlns="urn:x:p">v2</p>'
                     '</query>\n')
        rep = pget(a, "<p xmlns='urn:x:p'/>")
        assert_error(rep, 'cancel', 'internal-server-error', 'newer format')
        assert 'v2' not in dump(rep)
        assert srv.wait_log('has format version 2; this xmppd reads version 1'), \
            'no log line for the newer format'
        # A file that holds another element than its name says.
        with open(path, 'w') as fh:
            fh.write('<query xmlns="jabber:iq:private" version="1"><q xmlns="urn:x:p">x</q>'
                     '</query>\n')
        assert_error(pget(a, "<p xmlns='urn:x:p'/>"), 'cancel', 'internal-server-error',
                     'wrong element in the file')
        with open(path, 'w') as fh:
            fh.write('<query xmlns="jabber:iq:private" version="1"><p xmlns="urn:x:p">')
        assert_error(pget(a, "<p xmlns='urn:x:p'/>"), 'cancel', 'internal-server-error',
                     'truncated file')
        # A set replaces it whatever it held.
        assert_ok(pset(a, "<p xmlns='urn:x:p'>v3</p>"), 'store over it')
        (el,) = children(pget(a, "<p xmlns='urn:x:p'/>"))
        assert el.text == 'v3'


def test_private_config_errors():
    for ini, word in (('[private]\nmax_bytes = 1K\n', "unknown key 'max_bytes'"),
                      ('[private]\nmax_size = lots\n', 'not a size'),
                      ('[private]\nmax_size = 100\n', 'out of range'),
                      ('[private]\nmax_total = 2G\n', 'not a size'),
                      ('[private]\nmax_total = 2000M\n', 'out of range')):
        with Server(start=False, server={'modules': MODULES}, extra_ini=ini) as srv:
            text = srv.config_text()
            key = ini.split('\n')[1].split(' ')[0]
            line = text.splitlines().index(ini.split('\n')[1]) + 1
            r = srv.cli('check', 'config')
            assert r.returncode == 2, '%r: exit %d (want 2): %s' % (ini, r.returncode, r.stderr)
            want = '%s:%d:' % (srv.config_path, line)
            assert want in r.stderr and word in r.stderr, \
                '%r: %r / %r not in %r' % (ini, want, word, r.stderr)
            assert key in r.stderr
    with Server(start=False, server={'modules': MODULES},
                extra_ini='[private]\nmax_size = 16M\nmax_total = 1024M\n') as srv:
        r = srv.cli('check', 'config')
        assert r.returncode == 0, r.stderr
