"""
vcard-temp (XEP-0054) and vCard-based avatars (XEP-0153), modules/vcard.c:
slixmpp's xep_0054 publishes and reads vCards (one's own, a contact's),
slixmpp's xep_0153 sees the photo hash the server adds to presence; raw
requests check every refusal (another account's vCard, the server's,
malformed payloads, oversize vCards) with the exact stanza error, and the
data directory shows that nothing was written.
"""

import asyncio
import base64
import hashlib
import logging
import os
import ssl

import slixmpp
from slixmpp.exceptions import IqError

from lib import Server
import sxlib
from sxlib import expect, close_client
from rawxmpp import (
    C, NS_DISCO_INFO, NS_STANZAS, Failures, client, dump, is_presence, q, stanza_error,
)

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

NS_VCARD = 'vcard-temp'
NS_UPDATE = 'vcard-temp:x:update'
MODULES = 'roster, saslauth, tls, disco, ping, offline, vcard'
VCARD = q(NS_VCARD, 'vCard')
X = q(NS_UPDATE, 'x')
PHOTO = q(NS_UPDATE, 'photo')

# A small PNG (1x1, red) and some larger made-up image data.
PNG = base64.b64decode(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==')
BIG = bytes((i * 7 + (i >> 8)) & 0xff for i in range(150 * 1024))

def run_scenario(scenario, timeout=25):
    return sxlib.run_scenario(scenario, timeout)


def sha1(b):
    return hashlib.sha1(b).hexdigest()


# ---- helpers ----

def user_dir(srv, user):
    return os.path.join(srv.data_path, 'localhost', user)


def vcard_files(srv, user='alice'):
    """{name: bytes} of the vCard files of an account."""
    out = {}
    for name in ('vcard', 'vcard-photo'):
        p = os.path.join(user_dir(srv, user), name)
        if os.path.exists(p):
            with open(p, 'rb') as f:
                out[name] = f.read()
    return out


def vset(r, inner, to=None):
    t = " to='%s'" % to if to else ''
    return r.iq("<iq type='set'%s><vCard xmlns='vcard-temp'>%s</vCard></iq>" % (t, inner))


def vget(r, to=None):
    t = " to='%s'" % to if to else ''
    return r.iq("<iq type='get'%s><vCard xmlns='vcard-temp'/></iq>" % t)


def photo_xml(data, wrap=None, mime='image/png'):
    b64 = base64.b64encode(data).decode()
    if wrap:
        b64 = '\r\n'.join(b64[i:i + wrap] for i in range(0, len(b64), wrap))
        b64 = '\n  ' + b64 + '\n '
    return '<PHOTO><TYPE>%s</TYPE><BINVAL>%s</BINVAL></PHOTO>' % (mime, b64)


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


def the_vcard(reply):
    v = reply.findall(VCARD)
    assert len(v) == 1, 'result without exactly one vCard: %s' % dump(reply)
    return v[0]


def photos(pres):
    """[text of every x/photo] of a presence, and the number of x."""
    xs = pres.findall(X)
    return [(p.text or '') for x in xs for p in x.findall(PHOTO)], len(xs)


def befriend(srv, u1, u2):
    """Mutual presence subscription between two accounts (raw clients)."""
    a = client(srv, u1, 'setup')
    b = client(srv, u2, 'setup')
    for x, y, yuser in ((a, b, u2), (b, a, u1)):
        x.send("<presence type='subscribe' to='%s@localhost'/>" % yuser)
        y.expect(is_presence(frm=x.jid.split('/')[0], type='subscribe'))
        y.send("<presence type='subscribed' to='%s'/>" % x.jid.split('/')[0])
        x.expect(is_presence(frm=y.jid.split('/')[0], type='subscribed'))
    for r in (a, b):
        r.sync()
        r.close()


def disco_features(r):
    """The server's disco#info features (the disco module is on in every
    configuration used here)."""
    rep = r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
    assert rep.get('type') == 'result', 'disco#info: %s' % dump(rep)
    return {f.get('var') for f in rep.iter(q(NS_DISCO_INFO, 'feature'))}


async def _none_answer(*args, **kwargs):
    return None


class Xc:
    """A slixmpp client for one scenario, with the plugins it needs."""

    def __init__(self, clients, srv, jid, password, plugins):
        self.x = x = slixmpp.ClientXMPP(jid, password)
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.default_domain = x.boundjid.domain
        x._pick_dns_answer = _none_answer
        for p in plugins:
            x.register_plugin(p)
        self.srv = srv
        self.session = asyncio.Event()
        self.presences = asyncio.Queue()
        self.avatars = asyncio.Queue()
        x.add_event_handler('session_start', lambda ev: self.session.set())
        x.register_handler(slixmpp.Callback(
            'test presences', slixmpp.MatchXPath('{jabber:client}presence'),
            lambda st: self.presences.put_nowait(st)))
        x.add_event_handler('vcard_avatar_update', lambda p: self.avatars.put_nowait(p))
        clients.append(self)

    async def connect(self):
        self.x.connect(address=('127.0.0.1', self.srv.c2s_port))
        await asyncio.wait_for(self.session.wait(), 10)

    async def close(self):
        await close_client(self.x)

    def vcard(self, fn=None, nick=None, photo=None, mime='image/png'):
        v = self.x['xep_0054'].make_vcard()
        if fn is not None:
            v['FN'] = fn
        if nick is not None:
            v['NICKNAME'] = nick
        if photo is not None:
            v['PHOTO']['TYPE'] = mime
            v['PHOTO']['BINVAL'] = photo
        return v


def vcard_fields(iq):
    """(FN, NICKNAME, PHOTO/TYPE, decoded PHOTO/BINVAL) of a vCard result,
    read from the XML (slixmpp's BINVAL getter does not work on Python 3)."""
    v = iq.xml.find('{%s}vCard' % NS_VCARD)
    assert v is not None, str(iq)
    binval = v.findtext('{vcard-temp}PHOTO/{vcard-temp}BINVAL')
    return (v.findtext('{vcard-temp}FN'), v.findtext('{vcard-temp}NICKNAME'),
            v.findtext('{vcard-temp}PHOTO/{vcard-temp}TYPE'),
            base64.b64decode(''.join(binval.split())) if binval is not None else None)


# ---- XEP-0054 with slixmpp ----

def test_vcard_slixmpp_publish_and_read():
    with Server(server={'modules': MODULES}) as srv:
        async def scenario(clients):
            a = Xc(clients, srv, 'alice@localhost/s', 'alice-pw', ['xep_0054'])
            b = Xc(clients, srv, 'bob@localhost/s', 'bob-pw', ['xep_0054'])
            await a.connect()
            await b.connect()

            # No vCard yet: one's own is empty, another's is an error.
            res = await a.x['xep_0054'].get_vcard('alice@localhost', timeout=5)
            v = res.xml.find('{%s}vCard' % NS_VCARD)
            assert v is not None and len(v) == 0, str(res)
            try:
                await b.x['xep_0054'].get_vcard('alice@localhost', timeout=5)
                raise AssertionError('a missing vCard of another account was returned')
            except IqError as e:
                assert e.iq['error']['condition'] == 'service-unavailable', str(e.iq)

            await a.x['xep_0054'].publish_vcard(
                a.vcard('Alice Liddell \u2014 \u00e0 la <carte>', 'ally', BIG, 'image/jpeg'),
                timeout=10)
            want = ('Alice Liddell \u2014 \u00e0 la <carte>', 'ally', 'image/jpeg', BIG)
            res = await a.x['xep_0054'].get_vcard('alice@localhost', timeout=10)
            assert vcard_fields(res) == want, 'own vCard differs: %s' % str(res)[:500]
            res = await b.x['xep_0054'].get_vcard('alice@localhost', timeout=10)
            assert str(res['from']) == 'alice@localhost', res['from']
            assert vcard_fields(res) == want, "bob's view differs: %s" % str(res)[:500]

            # Replace it: the old fields are gone (no partial updates).
            await a.x['xep_0054'].publish_vcard(a.vcard(nick='al', photo=PNG), timeout=5)
            res = await b.x['xep_0054'].get_vcard('alice@localhost', timeout=5)
            assert vcard_fields(res) == (None, 'al', 'image/png', PNG), str(res)
        run_scenario(scenario)

        files = vcard_files(srv)
        assert files['vcard'].startswith(
            b'<store xmlns="vcard-temp" version="1" photo="%s"><vCard>' % sha1(PNG).encode()), \
            files['vcard'][:200]
        assert files['vcard-photo'] == (
            '<photo xmlns="vcard-temp:x:update" version="1">%s</photo>\n' % sha1(PNG)).encode()
        assert vcard_files(srv, 'bob') == {}, 'reading a vCard wrote one for bob'

        # It survives a restart.
        srv.stop()
        srv.start()
        b = client(srv, 'bob')
        v = the_vcard(vget(b, 'alice@localhost'))
        assert v.findtext(q(NS_VCARD, 'NICKNAME')) == 'al', dump(v)
test_vcard_slixmpp_publish_and_read.timeout = 40


# ---- XEP-0153 with slixmpp ----

def test_vcard_avatar_hash_seen_by_contact():
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')

        async def scenario(clients):
            # alice's client knows nothing of XEP-0153: the server adds it.
            a = Xc(clients, srv, 'alice@localhost/s', 'alice-pw', ['xep_0054'])
            b = Xc(clients, srv, 'bob@localhost/s', 'bob-pw', ['xep_0054', 'xep_0153'])
            await b.connect()
            b.x.send_presence()
            await a.connect()
            await a.x['xep_0054'].publish_vcard(a.vcard('Alice', photo=PNG), timeout=5)
            a.x.send_presence()
            p = await expect(b.avatars, lambda p: p['from'].bare == 'alice@localhost',
                             "alice's avatar update at bob")
            assert p['vcard_temp_update']['photo'] == sha1(PNG), str(p)
            assert len(p.xml.findall(X)) == 1, str(p)

            # A new photo; alice's client sends presence again.
            await a.x['xep_0054'].publish_vcard(a.vcard('Alice', photo=BIG[:5000]), timeout=5)
            a.x.send_presence(pstatus='new face')
            p = await expect(b.avatars, lambda p: p['status'] == 'new face',
                             'the second avatar update')
            assert p['vcard_temp_update']['photo'] == sha1(BIG[:5000]), str(p)

            # No photo any more: no hash, and no update element either.
            await a.x['xep_0054'].publish_vcard(a.vcard('Alice'), timeout=5)
            a.x.send_presence(pstatus='faceless')
            p = await expect(b.presences, lambda p: p['status'] == 'faceless',
                             'presence without avatar')
            assert photos(p.xml) == ([], 0), str(p)
        run_scenario(scenario)
        files = vcard_files(srv)
        assert files['vcard-photo'] == \
            b'<photo xmlns="vcard-temp:x:update" version="1"/>\n', files
        assert b'photo=' not in files['vcard'], files['vcard'][:200]


# ---- raw: presence details ----

def test_vcard_presence_hash_rules():
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')
        b = client(srv, 'bob')
        a = client(srv, 'alice', 'one')
        a2 = client(srv, 'alice', 'two')
        c = client(srv, 'carol')
        b.drain()
        a.drain()
        a2.drain()

        def pres_at(r, frm, extra_pred=None, status=None):
            """The next presence from frm (with that status); a probe
            answer for a newcomer reaches every resource, so older
            presences may wait in the queue: select by status."""
            return r.expect(lambda e: e.tag == C('presence') and e.get('from') == frm
                            and (extra_pred is None or extra_pred(e))
                            and (status is None or e.findtext(C('status')) == status),
                            what='presence from %s' % frm)

        # No vCard: presence goes out untouched.
        a.send('<presence><status>plain</status></presence>')
        assert photos(pres_at(b, a.jid)) == ([], 0)

        # A photo with base64 wrapped at 76 columns, CR LF and spaces.
        data = BIG[:3000]
        assert_ok(vset(a, '<FN>A</FN>' + photo_xml(data, wrap=76)), 'wrapped photo')
        h = sha1(data)
        a.drain()
        a2.drain()
        a.send('<presence><status>hash</status></presence>')
        assert photos(pres_at(b, a.jid)) == ([h], 1)
        # The sender's other resource and the echo carry it as well.
        assert photos(pres_at(a2, a.jid)) == ([h], 1)
        assert photos(pres_at(a, a.jid)) == ([h], 1)

        # The client's own photo, even an empty one, stays as it is.
        other = 'f' * 40
        a.send("<presence><x xmlns='%s'><photo>%s</photo></x></presence>" % (NS_UPDATE, other))
        assert photos(pres_at(b, a.jid)) == ([other], 1)
        a.send("<presence><x xmlns='%s'><photo/></x></presence>" % NS_UPDATE)
        assert photos(pres_at(b, a.jid)) == ([''], 1)
        # An empty update element ("not ready yet") gets the hash inside it.
        a.send("<presence><x xmlns='%s'/><status>ready</status></presence>" % NS_UPDATE)
        p = pres_at(b, a.jid)
        assert photos(p) == ([h], 1) and p.findtext(C('status')) == 'ready', dump(p)

        # Directed presence to someone without a subscription carries it too.
        a.send("<presence to='carol@localhost'/>")
        assert photos(pres_at(c, a.jid)) == ([h], 1)
        # Unavailable and subscription presence never get one.
        a2.send('<presence type="unavailable"/>')
        p = pres_at(b, a2.jid, lambda e: e.get('type') == 'unavailable')
        assert photos(p) == ([], 0), dump(p)
        a.send("<presence type='subscribe' to='carol@localhost'/>")
        p = c.expect(is_presence(frm='alice@localhost', type='subscribe'))
        assert photos(p) == ([], 0), dump(p)

        # A newcomer's probe is answered with the stored presence, hash and all.
        b2 = client(srv, 'bob', 'late')
        p = pres_at(b2, a.jid)
        assert photos(p) == ([h], 1), dump(p)

        # The cache file lost (a crash between writes): rebuilt from the vCard.
        os.unlink(os.path.join(user_dir(srv, 'alice'), 'vcard-photo'))
        a.send('<presence><status>rebuilt</status></presence>')
        assert photos(pres_at(b, a.jid, status='rebuilt')) == ([h], 1)
        assert vcard_files(srv)['vcard-photo'] == (
            '<photo xmlns="vcard-temp:x:update" version="1">%s</photo>\n' % h).encode()
        # A damaged cache file is rebuilt too.
        with open(os.path.join(user_dir(srv, 'alice'), 'vcard-photo'), 'w') as f:
            f.write('<photo xmlns="vcard-temp:x:update" version="1">nothex</photo>\n')
        a.send('<presence><status>again</status></presence>')
        assert photos(pres_at(b, a.jid, status='again')) == ([h], 1)
        assert srv.wait_log('vCard photo hash of alice@localhost unreadable')

        # An empty BINVAL means no photo.
        assert_ok(vset(a, '<PHOTO><TYPE>image/png</TYPE><BINVAL>  </BINVAL></PHOTO>'),
                  'empty BINVAL')
        a.send('<presence><status>none</status></presence>')
        assert photos(pres_at(b, a.jid, status='none')) == ([], 0)

        # Deleting the vCard (an empty one) removes both files.
        assert_ok(vset(a, photo_xml(PNG)), 'photo again')
        assert_ok(vset(a, ' \n '), 'empty vCard')
        assert vcard_files(srv) == {}, vcard_files(srv)
        assert_ok(vget(a), 'own get after delete')
        assert len(the_vcard(vget(a))) == 0
        a.send('<presence><status>deleted</status></presence>')
        assert photos(pres_at(b, a.jid, status='deleted')) == ([], 0)
        # Nothing was ever written for the others.
        for u in ('bob', 'carol'):
            assert vcard_files(srv, u) == {}, (u, vcard_files(srv, u))
test_vcard_presence_hash_rules.timeout = 40


# ---- raw: refusals ----

def test_vcard_refusals_write_nothing():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        b = client(srv, 'bob')
        assert_ok(vset(b, '<FN>Bob</FN>' + photo_xml(PNG)), "bob's own vCard")
        bob_files = vcard_files(srv, 'bob')
        assert set(bob_files) == {'vcard', 'vcard-photo'}
        f = Failures()

        def not_yours():
            for to in ('bob@localhost', 'BOB@localhost', 'localhost', 'nobody@localhost'):
                rep = vset(a, '<FN>Mallory</FN>', to=to)
                want = ('cancel', 'service-unavailable') if to.startswith('nobody') \
                    else ('auth', 'forbidden')
                assert_error(rep, want[0], want[1], 'set to %s' % to)
                assert rep.get('from') == to, dump(rep)
            assert vcard_files(srv, 'bob') == bob_files, "bob's vCard changed"

        def gets():
            v = the_vcard(vget(a, 'bob@localhost'))
            assert v.findtext(q(NS_VCARD, 'FN')) == 'Bob', dump(v)
            assert_error(vget(a, 'carol@localhost'), 'cancel', 'service-unavailable',
                         'no vCard')
            assert_error(vget(a, 'nobody@localhost'), 'cancel', 'service-unavailable',
                         'no account')
            assert_error(vget(a, 'localhost'), 'cancel', 'item-not-found', 'the server')
            rep = vget(a)
            assert_ok(rep, 'own, none stored')
            assert len(the_vcard(rep)) == 0, dump(rep)
            rep = vget(a, 'alice@localhost')
            assert_ok(rep, 'own by bare JID')
            assert len(the_vcard(rep)) == 0 and rep.get('from') == 'alice@localhost', dump(rep)

        def malformed():
            for iq, what in (
                    ("<iq type='set'><vcard xmlns='vcard-temp'><FN>x</FN></vcard></iq>",
                     'lower-case vcard'),
                    ("<iq type='set'><FN xmlns='vcard-temp'>x</FN></iq>", 'FN alone'),
                    ("<iq type='get'><vcard xmlns='vcard-temp'/></iq>", 'get of vcard'),
                    ("<iq type='get' to='bob@localhost'><x xmlns='vcard-temp'/></iq>",
                     'get of x at bob')):
                assert_error(a.iq(iq), 'modify', 'bad-request', what, text='vCard')
            for binval, what in (('!!!!', 'not base64'), ('abc', 'bad length'),
                                 ('aGVsbG8', 'no padding'), ('aGVsbG9=', 'stray bits'),
                                 ('aGVs bG8=\n=', 'padding in the middle')):
                rep = vset(a, '<FN>x</FN><PHOTO><BINVAL>%s</BINVAL></PHOTO>' % binval)
                assert_error(rep, 'modify', 'bad-request', what, text='base64')
            # A vCard inside something else is not a vCard.
            rep = a.iq("<iq type='set'><query xmlns='jabber:iq:private'>"
                       "<vCard xmlns='vcard-temp'/></query></iq>")
            assert rep.get('type') == 'error', dump(rep)

        for name, fn in (('not yours', not_yours), ('gets', gets), ('malformed', malformed)):
            f.run(name, fn)
        assert vcard_files(srv) == {}, 'refused requests wrote %s' % vcard_files(srv)
        assert vcard_files(srv, 'carol') == {}
        assert vcard_files(srv, 'bob') == bob_files

        # A refused set leaves the stored vCard as it was.
        assert_ok(vset(a, '<FN>Alice</FN>'), 'good set')
        before = vcard_files(srv)
        assert_error(vset(a, '<FN>Evil</FN><PHOTO><BINVAL>@@@@</BINVAL></PHOTO>'),
                     'modify', 'bad-request', 'bad photo after a good set')
        assert vcard_files(srv) == before
        assert the_vcard(vget(b, 'alice@localhost')).findtext(q(NS_VCARD, 'FN')) == 'Alice'
        f.raise_if_any()


def test_vcard_size_limit():
    with Server(server={'modules': MODULES}, extra_ini='[vcard]\nmax_size = 4K\n') as srv:
        a = client(srv, 'alice')
        assert_ok(vset(a, '<FN>small</FN>'), 'small')
        before = vcard_files(srv)
        rep = vset(a, '<FN>big</FN>' + photo_xml(BIG[:3300]))     # ~4.5K of base64
        assert_error(rep, 'modify', 'not-acceptable', 'over max_size', text='larger')
        assert vcard_files(srv) == before, 'an oversize vCard was written'
        assert srv.wait_log('vCard of alice@localhost refused: larger than max_size '
                            '(4096 bytes)')
        # Exactly 4096 bytes as serialized is fine, one more is not.
        head = '<vCard xmlns="vcard-temp"><DESC>'
        tail = '</DESC></vCard>'
        n = 4096 - len(head) - len(tail)
        assert_ok(vset(a, '<DESC>%s</DESC>' % ('d' * n)), 'exactly max_size')
        assert b'd' * n in vcard_files(srv)['vcard']
        assert_error(vset(a, '<DESC>%s</DESC>' % ('d' * (n + 1))), 'modify', 'not-acceptable',
                     'max_size + 1')
        # Escaping counts: '&' takes five bytes once serialized.
        assert_error(vset(a, '<DESC>%s</DESC>' % ('&amp;' * (n // 4))), 'modify',
                     'not-acceptable', 'escaped text over the limit')
        v = the_vcard(vget(a))
        assert v.findtext(q(NS_VCARD, 'DESC')) == 'd' * n


def test_vcard_default_size_takes_a_real_avatar():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        b = client(srv, 'bob')
        assert_ok(vset(a, photo_xml(BIG, wrap=76)), '150 KiB avatar')
        v = the_vcard(vget(b, 'alice@localhost'))
        got = base64.b64decode(''.join(v.findtext('{vcard-temp}PHOTO/{vcard-temp}BINVAL')
                                       .split()))
        assert got == BIG
        assert ('photo="%s"' % sha1(BIG)).encode() in vcard_files(srv)['vcard'][:200]


def test_vcard_damaged_or_newer_file():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        b = client(srv, 'bob')
        path = os.path.join(user_dir(srv, 'alice'), 'vcard')
        with open(path, 'w') as f:
            f.write('<store xmlns="vcard-temp" version="2"><vCard><FN>future</FN></vCard>'
                    '</store>\n')
        assert_error(vget(a), 'cancel', 'internal-server-error', 'newer format, own')
        rep = vget(b, 'alice@localhost')
        assert_error(rep, 'cancel', 'internal-server-error', 'newer format, contact')
        assert 'future' not in dump(rep)
        assert srv.wait_log('vCard of alice@localhost has format version 2; this xmppd '
                            'reads version 1')
        # Presence still goes out (without a hash).
        a.send('<presence><status>still here</status></presence>')
        p = a.expect(lambda e: e.tag == C('presence') and e.findtext(C('status')) ==
                     'still here')
        assert photos(p) == ([], 0), dump(p)
        for text in ('<store xmlns="vcard-temp" version="1"><FN>no vCard</FN></store>',
                     '<store xmlns="vcard-temp" version="1" photo="xyz"><vCard/></store>',
                     '<store xmlns="vcard-temp" version="1"><vCard>'):
            with open(path, 'w') as f:
                f.write(text)
            assert_error(vget(b, 'alice@localhost'), 'cancel', 'internal-server-error', text)
        # A set replaces it whatever it held.
        assert_ok(vset(a, '<FN>now</FN>'), 'set over a damaged file')
        assert the_vcard(vget(b, 'alice@localhost')).findtext(q(NS_VCARD, 'FN')) == 'now'


def test_vcard_not_enabled():
    with Server() as srv:       # modules without vcard
        a = client(srv, 'alice')
        assert_error(vget(a), 'cancel', 'service-unavailable', 'get, module off')
        assert_error(vset(a, '<FN>x</FN>'), 'cancel', 'service-unavailable', 'set, module off')
        feats = disco_features(a)
        assert 'vcard-temp' not in feats and 'disco#info' in ' '.join(feats), feats
        assert vcard_files(srv) == {}
        # A vCard left on disk from when it was on adds nothing to presence.
        os.makedirs(user_dir(srv, 'alice'), exist_ok=True)
        with open(os.path.join(user_dir(srv, 'alice'), 'vcard-photo'), 'w') as f:
            f.write('<photo xmlns="vcard-temp:x:update" version="1">%s</photo>\n' % sha1(PNG))
        a.send('<presence><status>off</status></presence>')
        p = a.expect(lambda e: e.tag == C('presence') and e.findtext(C('status')) == 'off')
        assert photos(p) == ([], 0), dump(p)
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        assert 'vcard-temp' in disco_features(a)


def test_vcard_config_errors():
    for ini, word in (('[vcard]\nsize = 1K\n', "unknown key 'size'"),
                      ('[vcard]\nmax_size = -1\n', 'not a size'),
                      ('[vcard]\nmax_size = 1k5\n', 'not a size'),
                      ('[vcard]\nmax_size = 1023\n', 'out of range'),
                      ('[vcard]\nmax_size = 17M\n', 'out of range')):
        with Server(start=False, server={'modules': MODULES}, extra_ini=ini) as srv:
            line = srv.config_text().splitlines().index(ini.split('\n')[1]) + 1
            r = srv.cli('check', 'config')
            assert r.returncode == 2, '%r: exit %d (want 2): %s' % (ini, r.returncode, r.stderr)
            want = '%s:%d:' % (srv.config_path, line)
            assert want in r.stderr and word in r.stderr, \
                '%r: %r / %r not in %r' % (ini, want, word, r.stderr)
    with Server(start=False, server={'modules': MODULES},
                extra_ini='[vcard]\nmax_size = 16M\n') as srv:
        r = srv.cli('check', 'config')
        assert r.returncode == 0, r.stderr
