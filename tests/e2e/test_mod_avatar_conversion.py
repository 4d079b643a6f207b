"""
XEP-0398, the pep and vcard modules together (modules/avatar.h): an avatar
published to PEP (XEP-0084) becomes the vCard's PHOTO and with it the
XEP-0153 hash in presence, when its data node is open; a vCard PHOTO is
published to the avatar data and metadata nodes.  Raw XML checks every
rule (which <info/>, the SHA-1 check, removal by empty metadata, retract
and delete, the access model, the size limits of either side, one
notification per change, nothing with one module off); slixmpp's xep_0084
and xep_0054/xep_0153 clients see each other's avatars.
"""

import asyncio
import base64
import hashlib
import logging
import os

from lib import Server
from rawxmpp import C, NS_DISCO_INFO, client, dump, q
from test_mod_pep import (NS_AVATAR_DATA, NS_AVATAR_META, Xc, assert_ok, befriend,
                          caps_client, config_of, event_items, got_items, is_event, items,
                          node_file, owner, pep_files, publish, pubopts, run_scenario,
                          slix_form)
from test_mod_vcard import photo_xml, photos, the_vcard, vcard_files, vget, vset

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

NS_VCARD = 'vcard-temp'
FEATURE = 'urn:xmpp:pep-vcard-conversion:0'
MODULES = 'roster, saslauth, tls, disco, ping, offline, pep, vcard'
OPEN = pubopts(('pubsub#access_model', 'open'))

IMG1 = bytes((i * 7 + (i >> 8)) & 0xff for i in range(3000))
IMG2 = bytes((i * 13 + 5) & 0xff for i in range(2000))


def sha1(b):
    return hashlib.sha1(b).hexdigest()


def b64(b):
    return base64.b64encode(b).decode()


def data_xml(img):
    return "<data xmlns='%s'>%s</data>" % (NS_AVATAR_DATA, b64(img))


def info_xml(img, mime='image/png', id=None, url=None):
    u = " url='%s'" % url if url else ''
    return "<info bytes='%d' id='%s' type='%s'%s/>" % (len(img), id or sha1(img), mime, u)


def meta_xml(*infos):
    return "<metadata xmlns='%s'>%s</metadata>" % (NS_AVATAR_META, ''.join(infos))


def pep_avatar(r, img, mime='image/png', data_opts=OPEN):
    """Publish img as a client does: data (open unless said), then metadata."""
    assert_ok(publish(r, NS_AVATAR_DATA, data_xml(img), id=sha1(img), options=data_opts),
              'data publish')
    assert_ok(publish(r, NS_AVATAR_META, meta_xml(info_xml(img, mime)), id=sha1(img)),
              'metadata publish')


def vphoto(r, user='alice@localhost'):
    """(TYPE, decoded BINVAL, FN) of a vCard as another account reads it;
    BINVAL None without a photo."""
    v = the_vcard(vget(r, user))
    binval = v.findtext('%s/%s' % (q(NS_VCARD, 'PHOTO'), q(NS_VCARD, 'BINVAL')))
    return (v.findtext('%s/%s' % (q(NS_VCARD, 'PHOTO'), q(NS_VCARD, 'TYPE'))),
            base64.b64decode(''.join(binval.split())) if binval is not None else None,
            v.findtext(q(NS_VCARD, 'FN')))


def account_features(r, jid='alice@localhost'):
    rep = r.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (jid, NS_DISCO_INFO))
    assert rep.get('type') == 'result', dump(rep)
    return {f.get('var') for f in rep.iter(q(NS_DISCO_INFO, 'feature'))}


def presence_hash(a, b, status):
    """The vcard-temp:x:update photos bob sees in alice's next presence."""
    a.send('<presence><status>%s</status></presence>' % status)
    p = b.expect(lambda e: e.tag == C('presence') and e.findtext(C('status')) == status,
                 what='presence %s' % status)
    return photos(p)


def meta_events(r):
    """[(item id, [info ids])] of the metadata events r has now."""
    r.sync()
    out = []
    for m in r.take_all(is_event(NS_AVATAR_META)):
        node, its = event_items(m)
        for tag, iid, pl in its:
            assert tag == 'item' and pl is not None, dump(m)
            out.append((iid, [i.get('id') for i in pl.findall(q(NS_AVATAR_META, 'info'))]))
    return out


# ---- discovery ----

def test_avatar_conversion_feature():
    """The account shows urn:xmpp:pep-vcard-conversion:0 with both modules
    on, not with either alone; the server's own disco#info never does."""
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice')
        assert FEATURE in account_features(a), 'feature missing with pep and vcard'
        rep = a.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
        assert FEATURE not in {f.get('var') for f in rep.iter(q(NS_DISCO_INFO, 'feature'))}
    for mods in ('roster, saslauth, tls, disco, pep', 'roster, saslauth, tls, disco, vcard'):
        with Server(server={'modules': mods}) as srv:
            a = client(srv, 'alice')
            assert FEATURE not in account_features(a), mods


# ---- PEP to vCard ----

def test_avatar_pep_to_vcard():
    """A PEP avatar (open data node) becomes the PHOTO, the rest of the vCard
    kept, and the hash in presence; one metadata notification, no item
    published back; empty metadata, a retract or a delete of the metadata
    node take the PHOTO off again."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')
        a = client(srv, 'alice')
        b = caps_client(srv, 'bob', [NS_AVATAR_META])
        assert_ok(vset(a, '<FN>Alice</FN><NICKNAME>al</NICKNAME>'), 'vCard without photo')
        assert presence_hash(a, b, 'before') == ([], 0)

        pep_avatar(a, IMG1, 'image/webp')
        assert meta_events(b) == [(sha1(IMG1), [sha1(IMG1)])], 'one notification'
        assert vphoto(b) == ('image/webp', IMG1, 'Alice')
        assert presence_hash(a, b, 'pep avatar') == ([sha1(IMG1)], 1)
        assert b'photo="%s"' % sha1(IMG1).encode() in vcard_files(srv)['vcard']
        # Nothing was published back (no loop): one item in each node.
        assert [i for i, _ in got_items(items(a, NS_AVATAR_META), NS_AVATAR_META)] == \
            [sha1(IMG1)]
        assert [i for i, _ in got_items(items(a, NS_AVATAR_DATA), NS_AVATAR_DATA)] == \
            [sha1(IMG1)]
        assert meta_events(b) == []

        # Republishing the same metadata leaves the vCard file alone.
        before = vcard_files(srv)
        assert_ok(publish(a, NS_AVATAR_META, meta_xml(info_xml(IMG1, 'image/webp')),
                          id=sha1(IMG1)), 'same metadata again')
        assert meta_events(b) == [(sha1(IMG1), [sha1(IMG1)])]
        assert vcard_files(srv) == before

        # XEP-0084 4.5: empty metadata, "no avatar".
        assert_ok(publish(a, NS_AVATAR_META, meta_xml(), id='none'), 'empty metadata')
        assert meta_events(b) == [('none', [])]
        assert vphoto(b) == (None, None, 'Alice')
        assert presence_hash(a, b, 'no avatar') == ([], 0)
        assert b'photo=' not in vcard_files(srv)['vcard']

        # A new avatar, then its metadata item retracted.
        pep_avatar(a, IMG2, 'image/png')
        assert vphoto(b) == ('image/png', IMG2, 'Alice')
        assert_ok(a.iq("<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                       "<retract node='%s'><item id='%s'/></retract></pubsub></iq>"
                       % (NS_AVATAR_META, sha1(IMG2))), 'retract')
        assert vphoto(b) == (None, None, 'Alice')

        # Again, then the metadata node deleted.
        pep_avatar(a, IMG1)
        assert vphoto(b)[1] == IMG1
        assert_ok(owner(a, "<delete node='%s'/>" % NS_AVATAR_META), 'delete')
        assert vphoto(b) == (None, None, 'Alice')
        assert presence_hash(a, b, 'deleted') == ([], 0)
        assert 'not copied' not in srv.log()


def test_avatar_pep_to_vcard_rules():
    """Which avatars are not copied, each with a log line, and the PHOTO an
    avatar replaced taken off: a data node that is not open (XEP-0398
    section 8), an id that is not the data's SHA-1, no data item; the
    first <info/> without a url is the one taken; an account without a
    vCard gets one with just the PHOTO."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')
        a = client(srv, 'alice')

        # The default access model (presence): not copied, no vCard made.
        pep_avatar(a, IMG1, data_opts='')
        assert srv.wait_log('pep: alice@localhost: avatar %s not copied to the vCard'
                            % sha1(IMG1))
        assert vcard_files(srv) == {}, 'a vCard written for a presence-only avatar'

        # Open now: copied into a new vCard that holds only the PHOTO.
        assert_ok(owner(a, "<configure node='%s'><x xmlns='jabber:x:data' type='submit'>"
                           "<field var='FORM_TYPE' type='hidden'><value>"
                           "http://jabber.org/protocol/pubsub#node_config</value></field>"
                           "<field var='pubsub#access_model'><value>open</value></field>"
                           "</x></configure>" % NS_AVATAR_DATA), 'configure open')
        assert_ok(publish(a, NS_AVATAR_META, meta_xml(info_xml(IMG1)), id=sha1(IMG1)), 'again')
        assert vphoto(a) == ('image/png', IMG1, None)
        v = the_vcard(vget(a, 'alice@localhost'))
        assert [c.tag for c in v] == [q(NS_VCARD, 'PHOTO')], dump(v)

        # The first <info/> without a url counts (XEP-0398 3.1).
        assert_ok(publish(a, NS_AVATAR_DATA, data_xml(IMG2), id=sha1(IMG2)), 'data 2')
        assert_ok(publish(a, NS_AVATAR_META, meta_xml(
            info_xml(IMG1, id='e' * 40, url='https://example.org/a.png'),
            info_xml(IMG2, 'image/gif'), info_xml(IMG1)), id=sha1(IMG2)), 'with url')
        assert vphoto(a) == ('image/gif', IMG2, None)

        # An id that is not the SHA-1 of its data: not copied, the old
        # PHOTO taken off.
        log_at = len(srv.log())
        assert_ok(publish(a, NS_AVATAR_DATA, data_xml(IMG1), id='f' * 40), 'wrong id')
        assert_ok(publish(a, NS_AVATAR_META, meta_xml(info_xml(IMG1, id='f' * 40)),
                          id='f' * 40), 'wrong id metadata')
        assert srv.wait_log('avatar %s not copied to the vCard' % ('f' * 40), start=log_at)
        assert vphoto(a) == (None, None, None)

        # No data item for the id.
        pep_avatar(a, IMG2)
        assert vphoto(a)[1] == IMG2
        log_at = len(srv.log())
        assert_ok(publish(a, NS_AVATAR_META, meta_xml(info_xml(b'missing')),
                          id='x'), 'no data')
        assert srv.wait_log('avatar %s not copied' % sha1(b'missing'), start=log_at)
        assert vphoto(a) == (None, None, None)

        # Back to presence access: a new avatar is not copied and the old
        # one leaves the vCard (it would show an avatar PEP replaced).
        pep_avatar(a, IMG1)
        assert vphoto(a)[1] == IMG1
        pep_avatar(a, IMG2, data_opts=pubopts(('pubsub#access_model', 'open')))
        assert vphoto(a)[1] == IMG2
        assert_ok(owner(a, "<configure node='%s'><x xmlns='jabber:x:data' type='submit'>"
                           "<field var='FORM_TYPE' type='hidden'><value>"
                           "http://jabber.org/protocol/pubsub#node_config</value></field>"
                           "<field var='pubsub#access_model'><value>presence</value></field>"
                           "</x></configure>" % NS_AVATAR_DATA), 'configure presence')
        pep_avatar(a, IMG1, data_opts='')
        assert vphoto(a)[1] is None


# ---- vCard to PEP ----

def test_avatar_vcard_to_pep():
    """A vCard PHOTO is published to the data node (id = SHA-1, plain
    base64), then the metadata node (bytes, id, type), both new nodes open:
    a contact hears of it once and reads the data, a stranger may too.  The
    same photo again publishes nothing; no photo publishes empty metadata;
    the vCard itself is stored as sent."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')
        a = client(srv, 'alice')
        b = caps_client(srv, 'bob', [NS_AVATAR_META])
        c = client(srv, 'carol')

        assert_ok(vset(a, '<FN>Alice</FN>' + photo_xml(IMG1, wrap=76, mime='image/jpeg')),
                  'vCard with photo')
        assert meta_events(b) == [(sha1(IMG1), [sha1(IMG1)])], 'one metadata event'
        meta = got_items(items(b, NS_AVATAR_META, to='alice@localhost'), NS_AVATAR_META)
        assert [i for i, _ in meta] == [sha1(IMG1)]
        info = meta[0][1].findall(q(NS_AVATAR_META, 'info'))
        assert len(info) == 1 and info[0].attrib == {
            'bytes': str(len(IMG1)), 'id': sha1(IMG1), 'type': 'image/jpeg'}, dump(meta[0][1])
        for r in (b, c):
            data = got_items(items(r, NS_AVATAR_DATA, to='alice@localhost'), NS_AVATAR_DATA)
            assert [i for i, _ in data] == [sha1(IMG1)], r.jid
            assert data[0][1].tag == q(NS_AVATAR_DATA, 'data')
            assert data[0][1].text == b64(IMG1), 'data is the base64 without white space'
        for node in (NS_AVATAR_DATA, NS_AVATAR_META):
            assert config_of(a, node)['pubsub#access_model'] == ['open'], node
        assert vphoto(b) == ('image/jpeg', IMG1, 'Alice')

        # The same photo with another name: no publication.
        assert_ok(vset(a, '<FN>Alice L.</FN>' + photo_xml(IMG1, mime='image/jpeg')), 'same')
        assert meta_events(b) == []
        # A new one, without TYPE (image/png then, XEP-0084 wants a type).
        assert_ok(vset(a, '<FN>Alice L.</FN><PHOTO><BINVAL>%s</BINVAL></PHOTO>' % b64(IMG2)),
                  'new photo')
        ev = meta_events(b)
        assert ev == [(sha1(IMG2), [sha1(IMG2)])], ev
        meta = got_items(items(b, NS_AVATAR_META, to='alice@localhost'), NS_AVATAR_META)
        assert meta[0][1].find(q(NS_AVATAR_META, 'info')).get('type') == 'image/png'
        assert presence_hash(a, b, 'vcard photo') == ([sha1(IMG2)], 1)

        # The photo removed: "no avatar" in PEP.
        assert_ok(vset(a, '<FN>Alice L.</FN>'), 'no photo')
        ev = meta_events(b)
        assert len(ev) == 1 and ev[0][1] == [], ev
        assert vphoto(b) == (None, None, 'Alice L.')
        # And a vCard without a photo after that publishes nothing.
        assert_ok(vset(a, '<FN>Alice</FN>'), 'still no photo')
        assert meta_events(b) == []
        # An existing node keeps its access model.
        assert_ok(owner(a, "<configure node='%s'><x xmlns='jabber:x:data' type='submit'>"
                           "<field var='FORM_TYPE' type='hidden'><value>"
                           "http://jabber.org/protocol/pubsub#node_config</value></field>"
                           "<field var='pubsub#access_model'><value>presence</value></field>"
                           "</x></configure>" % NS_AVATAR_DATA), 'configure presence')
        assert_ok(vset(a, photo_xml(IMG1)), 'photo again')
        assert config_of(a, NS_AVATAR_DATA)['pubsub#access_model'] == ['presence']
        assert meta_events(b) == [(sha1(IMG1), [sha1(IMG1)])]


# ---- limits, errors, modules off ----

def test_avatar_conversion_limits():
    """An avatar too large for the other side is not converted there (a log
    line), and the request that started it still succeeds."""
    big = bytes((i * 31 + (i >> 5)) & 0xff for i in range(6000))
    with Server(server={'modules': MODULES}, extra_ini='[vcard]\nmax_size = 4K\n') as srv:
        befriend(srv, 'alice', 'bob')
        a = client(srv, 'alice')
        b = client(srv, 'bob')
        assert_ok(vset(a, '<FN>Alice</FN>'), 'vCard')
        pep_avatar(a, big)
        assert srv.wait_log('vCard of alice@localhost refused: larger than max_size')
        assert srv.wait_log('avatar %s not copied to the vCard' % sha1(big))
        assert vphoto(b) == (None, None, 'Alice')
        pep_avatar(a, IMG2)
        assert vphoto(b) == ('image/png', IMG2, 'Alice')
    with Server(server={'modules': MODULES}, extra_ini='[pep]\nmax_item_size = 4K\n') as srv:
        a = client(srv, 'alice')
        assert_ok(vset(a, '<FN>Alice</FN>' + photo_xml(big)), 'vCard set despite PEP limit')
        assert srv.wait_log("pep: alice@localhost: item for '%s' refused, larger than "
                            "max_item_size" % NS_AVATAR_DATA)
        assert pep_files(srv) == {}, 'metadata published without its data'
        assert vphoto(a)[1] == big
        assert_ok(vset(a, '<FN>Alice</FN>' + photo_xml(IMG2)), 'a small one')
        assert set(pep_files(srv)) == {node_file(NS_AVATAR_DATA), node_file(NS_AVATAR_META)}


def test_avatar_conversion_modules_off():
    """With one module off, nothing is converted either way."""
    with Server(server={'modules': 'roster, saslauth, tls, disco, pep'}) as srv:
        a = client(srv, 'alice')
        pep_avatar(a, IMG1)
        assert vcard_files(srv) == {}
    with Server(server={'modules': 'roster, saslauth, tls, disco, vcard'}) as srv:
        a = client(srv, 'alice')
        assert_ok(vset(a, photo_xml(IMG1)), 'vCard')
        assert pep_files(srv) == {}
        assert set(vcard_files(srv)) == {'vcard', 'vcard-photo'}


# ---- slixmpp: a XEP-0084 client and a vCard client ----

def test_avatar_conversion_slixmpp():
    """alice's client speaks XEP-0084 only, bob's XEP-0054/0153 only: each
    sees the other's avatar."""
    with Server(server={'modules': MODULES}) as srv:
        befriend(srv, 'alice', 'bob')
        img_a = os.urandom(20 * 1024)
        img_b = os.urandom(10 * 1024)

        async def scenario(clients):
            a = Xc(srv, 'alice@localhost/a', ['xep_0084'])
            b = Xc(srv, 'bob@localhost/b', ['xep_0054', 'xep_0153'])
            clients.extend([a, b])
            updates = asyncio.Queue()
            b.x.add_event_handler('vcard_avatar_update', lambda p: updates.put_nowait(p))
            await a.connect()
            await b.connect()

            aid = sha1(img_a)
            await a.x['xep_0084'].publish_avatar(
                img_a, options=slix_form(a.x, [('pubsub#access_model', 'open')]), timeout=10)
            await a.x['xep_0084'].publish_avatar_metadata(
                [{'id': aid, 'type': 'image/png', 'bytes': len(img_a)}], timeout=5)
            a.x.send_presence(pstatus='new avatar')
            while True:
                p = await asyncio.wait_for(updates.get(), 5)
                if p['from'].bare == 'alice@localhost' and p['status'] == 'new avatar':
                    break
            assert p['vcard_temp_update']['photo'] == aid, str(p)
            res = await b.x['xep_0054'].get_vcard('alice@localhost', timeout=10)
            binval = res.xml.findtext('{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL')
            assert base64.b64decode(''.join(binval.split())) == img_a

            # bob sets his vCard photo: alice hears of it through PEP.
            while not a.events.empty():
                a.events.get_nowait()
            v = b.x['xep_0054'].make_vcard()
            v['FN'] = 'Bob'
            v['PHOTO']['TYPE'] = 'image/jpeg'
            v['PHOTO']['BINVAL'] = img_b
            await b.x['xep_0054'].publish_vcard(v, timeout=10)
            while True:
                m = await a.event()
                if m.get('from') == 'bob@localhost':
                    break
            node, its = event_items(m)
            bid = sha1(img_b)
            assert node == NS_AVATAR_META and its[0][1] == bid, str(m)
            res = await a.x['xep_0084'].retrieve_avatar('bob@localhost', bid, timeout=10)
            assert res['pubsub']['items']['item']['avatar_data']['value'] == img_b
        run_scenario(scenario)
