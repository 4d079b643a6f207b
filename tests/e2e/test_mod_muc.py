"""
Group chat (XEP-0045) on conference.localhost, modules/muc*.c: rooms made,
configured, entered and left by python3-slixmpp's xep_0045 clients (three
users chatting, private messages, subject, nickname change, kick, ban,
history); the room archive read with slixmpp's xep_0313 (RSM paging) and a
persistent room across a restart; room vCards with xep_0054; direct
invitations with xep_0249.  Raw XML covers every refusal with its exact
stanza error (XEP-0045's types, e.g. wait/service-unavailable for a full
room), the limits, the self-ping (XEP-0410), IQs to occupants, ghosts,
destruction, admin ad-hoc commands, and what is (not) written to disk.
"""

import asyncio
import base64
import hashlib
import logging
import os
import signal
import ssl
import time

import slixmpp
from slixmpp.exceptions import IqError, PresenceError

from lib import Server
from sxlib import run_scenario, expect, close_client
from rawxmpp import (
    C, NS_DELAY, NS_DISCO_INFO, NS_PING, NS_STANZAS, Failures, Raw, client, dump,
    q, stanza_error,
)

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

SERVICE = 'conference.localhost'
MODULES = 'roster, saslauth, tls, disco, ping, offline, muc'
NS_MUC = 'http://jabber.org/protocol/muc'
NS_USER = NS_MUC + '#user'
NS_ADMIN = NS_MUC + '#admin'
NS_OWNER = NS_MUC + '#owner'
NS_XDATA = 'jabber:x:data'
NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_MAM = 'urn:xmpp:mam:2'
NS_RSM = 'http://jabber.org/protocol/rsm'
NS_FORWARD = 'urn:xmpp:forward:0'
NS_SID = 'urn:xmpp:sid:0'
NS_VCARD = 'vcard-temp'
NS_UPDATE = 'vcard-temp:x:update'
NS_COMMANDS = 'http://jabber.org/protocol/commands'
NS_CONFERENCE = 'jabber:x:conference'
PNG = base64.b64decode(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==')


# ---- helpers ----

def muc_server(server=None, extra_ini='', users=None, **kw):
    s = {'modules': MODULES}
    s.update(server or {})
    return Server(server=s, hostcfg={'localhost': {'muc': SERVICE}}, extra_ini=extra_ini,
                  users=users, **kw)


def rj(name):
    return '%s@%s' % (name, SERVICE)


def codes(st):
    """The MUC status codes of a stanza, as a set of ints."""
    return {int(s.get('code')) for s in st.findall('{%s}x/{%s}status' % (NS_USER, NS_USER))}


def item(st):
    it = st.find('{%s}x/{%s}item' % (NS_USER, NS_USER))
    assert it is not None, 'no muc#user item: %s' % dump(st)
    return it


def is_pres(frm, type=None):
    def pred(e):
        return (e.tag == C('presence') and e.get('from') == frm and
                e.get('type') == type)
    pred.desc = 'presence from %s type %s' % (frm, type)
    return pred


def is_msg(frm=None, body=None):
    def pred(e):
        if e.tag != C('message') or e.get('type') == 'error':
            return False
        if frm is not None and e.get('from') != frm:
            return False
        return body is None or e.findtext(C('body')) == body
    pred.desc = 'message from %s body %r' % (frm, body)
    return pred


def assert_error(el, etype, cond, what=''):
    assert el.get('type') == 'error', '%s: expected an error, got %s' % (what, dump(el))
    got = stanza_error(el)
    assert got == (etype, cond), '%s: error %r, expected %r: %s' % (what, got, (etype, cond),
                                                                    dump(el))


def join(r, room, nick, password=None, history=None, expect_error=None, x=True):
    """Send the MUC join presence; return a dict with 'others' (occupant
    presences before our own), 'self', 'history', 'subject' -- checking the
    order of XEP-0045 7.1 -- or the error presence when one was expected
    (etype, condition)."""
    inner = ''
    if password is not None:
        inner += '<password>%s</password>' % password
    if history is not None:
        inner += '<history %s/>' % ' '.join("%s='%s'" % kv for kv in history.items())
    me = '%s/%s' % (room, nick)
    xe = "<x xmlns='%s'>%s</x>" % (NS_MUC, inner) if x else ''
    r.send("<presence to='%s' id='j1'>%s</presence>" % (me, xe))
    if expect_error is not None:
        e = r.expect(lambda e: e.tag == C('presence') and e.get('type') == 'error' and
                     (e.get('from') or '').startswith(room),
                     what='a presence error from %s' % room)
        assert_error(e, expect_error[0], expect_error[1], 'join %s as %s' % (room, nick))
        assert e.find(q(NS_MUC, 'x')) is not None, 'no muc x in the error: %s' % dump(e)
        assert e.get('from') == me, dump(e)
        return e
    out = {'others': [], 'self': None, 'history': [], 'subject': None}
    # Whatever was queued before the join is not part of it.
    stash = r.take_all()
    try:
        return _join_read(r, room, me, out, stash)
    finally:
        r.queue[:0] = stash


def _join_read(r, room, me, out, stash):
    while True:
        el = r.next()
        frm = el.get('from') or ''
        if frm != room and not frm.startswith(room + '/'):
            stash.append(el)
            continue
        if el.tag == C('presence') and el.get('type') == 'error':
            raise AssertionError('join refused: %s' % dump(el))
        if out['self'] is None:
            assert el.tag == C('presence') and frm.startswith(room + '/'), \
                'before self-presence: %s' % dump(el)
            if frm == me and 110 in codes(el):
                out['self'] = el
            else:
                out['others'].append(el)
            continue
        assert el.tag == C('message') and el.get('type') == 'groupchat', \
            'after self-presence, not a groupchat message: %s' % dump(el)
        if el.find(C('subject')) is not None and el.find(C('body')) is None:
            out['subject'] = el
            return out
        out['history'].append(el)


def owner_set(r, room, fields=None, what='config'):
    """Submit the configuration form (None: an instant room)."""
    if fields is None:
        x = "<x xmlns='%s' type='submit'/>" % NS_XDATA
    else:
        fs = ''.join("<field var='%s'>%s</field>" % (
            k, ''.join('<value>%s</value>' % v for v in (vs if isinstance(vs, list) else [vs])))
            for k, vs in fields.items())
        x = ("<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>%s#roomconfig"
             "</value></field>%s</x>" % (NS_XDATA, NS_MUC, fs))
    return r.iq("<iq type='set' to='%s'><query xmlns='%s'>%s</query></iq>"
                % (room, NS_OWNER, x))


def make_room(r, name, nick, fields=None):
    room = rj(name)
    j = join(r, room, nick)
    assert {110, 201} <= codes(j['self']), dump(j['self'])
    rep = owner_set(r, room, fields)
    assert rep.get('type') == 'result', dump(rep)
    r.sync()
    r.drain(0.05)
    return room


def admin_iq(r, room, items, type='set'):
    return r.iq("<iq type='%s' to='%s'><query xmlns='%s'>%s</query></iq>"
                % (type, room, NS_ADMIN, items))


def room_dir(srv, name):
    return os.path.join(srv.data_path, SERVICE, name)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def tree(srv):
    """{relative path: bytes} of everything the service stored."""
    out = {}
    base = os.path.join(srv.data_path, SERVICE)
    for root, dirs, files in os.walk(base):
        for n in files:
            p = os.path.join(root, n)
            out[os.path.relpath(p, base)] = read(p)
    return out


# ---- raw: creating and entering ----

def test_muc_create_instant_and_enter_order():
    with muc_server() as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        room = rj('tea')
        j = join(a, room, 'Alice')
        assert j['others'] == [], [dump(e) for e in j['others']]
        assert codes(j['self']) == {110, 201}, dump(j['self'])
        it = item(j['self'])
        assert (it.get('affiliation'), it.get('role')) == ('owner', 'moderator'), dump(it)
        # The join's id is reflected on the self-presence (7.2.3).
        assert j['self'].get('id') == 'j1', dump(j['self'])
        assert j['subject'].findtext(C('subject')) == '' and \
            j['subject'].get('from') == room, dump(j['subject'])

        # Locked until configured: others get item-not-found (7.2.11).
        join(b, room, 'Bob', expect_error=('cancel', 'item-not-found'))
        # disco#items of the service does not list it yet.
        rep = b.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (SERVICE, NS_DISCO_ITEMS))
        assert rep.findall('.//{%s}item' % NS_DISCO_ITEMS) == [], dump(rep)

        # An instant room (10.1.2): unlocked.
        rep = owner_set(a, room)
        assert rep.get('type') == 'result', dump(rep)
        j = join(b, room, 'Bob')
        assert [e.get('from') for e in j['others']] == [room + '/Alice'], j['others']
        # Semi-anonymous: bob (participant) sees no real JIDs.
        assert item(j['others'][0]).get('jid') is None, dump(j['others'][0])
        assert codes(j['self']) == {110}, dump(j['self'])
        assert (item(j['self']).get('affiliation'), item(j['self']).get('role')) == \
            ('none', 'participant')
        # alice (moderator) sees bob's real JID.
        p = a.expect(is_pres(room + '/Bob'))
        assert item(p).get('jid') == 'bob@localhost/pc', dump(p)
        assert 110 not in codes(p)

        j = join(c, room, 'Carol')
        assert sorted(e.get('from') for e in j['others']) == [room + '/Alice', room + '/Bob']
        a.expect(is_pres(room + '/Carol'))
        b.expect(is_pres(room + '/Carol'))

        # Listed now, with its name.
        rep = c.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (SERVICE, NS_DISCO_ITEMS))
        items = [(i.get('jid'), i.get('name')) for i in rep.iter(q(NS_DISCO_ITEMS, 'item'))]
        assert items == [(room, 'tea')], items
        # The service is an item of its host, and says what it is.
        rep = c.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_ITEMS)
        assert SERVICE in [i.get('jid') for i in rep.iter(q(NS_DISCO_ITEMS, 'item'))], dump(rep)
        rep = c.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (SERVICE, NS_DISCO_INFO))
        ident = rep.find('.//{%s}identity' % NS_DISCO_INFO)
        assert (ident.get('category'), ident.get('type')) == ('conference', 'text'), dump(rep)
        feats = {f.get('var') for f in rep.iter(q(NS_DISCO_INFO, 'feature'))}
        assert NS_MUC in feats, feats

        # Leave: self-presence with 110 and role none to the leaver, the
        # others see role none (7.14).
        c.send("<presence to='%s/Carol' type='unavailable'><status>bye</status></presence>"
               % room)
        p = c.expect(is_pres(room + '/Carol', 'unavailable'))
        assert 110 in codes(p) and item(p).get('role') == 'none', dump(p)
        for r in (a, b):
            p = r.expect(is_pres(room + '/Carol', 'unavailable'))
            assert item(p).get('role') == 'none' and 110 not in codes(p), dump(p)
            assert p.findtext(C('status')) == 'bye', dump(p)

        # A temporary room goes with its last occupant; nothing on disk.
        a.send("<presence to='%s/Alice' type='unavailable'/>" % room)
        b.send("<presence to='%s/Bob' type='unavailable'/>" % room)
        a.expect(is_pres(room + '/Alice', 'unavailable'))
        b.expect(is_pres(room + '/Bob', 'unavailable'))
        b.sync()
        rep = b.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (room, NS_DISCO_INFO))
        assert_error(rep, 'cancel', 'item-not-found', 'disco of a destroyed room')
        assert tree(srv) == {}, tree(srv)


def test_muc_enter_refusals():
    with muc_server() as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        f = Failures()
        room = make_room(a, 'locked', 'Alice', {
            'muc#roomconfig_passwordprotectedroom': '1',
            'muc#roomconfig_roomsecret': 's3cret',
            'muc#roomconfig_maxusers': '2'})

        def no_nick():
            b.send("<presence to='%s'><x xmlns='%s'/></presence>" % (room, NS_MUC))
            e = b.expect(lambda e: e.get('type') == 'error')
            assert_error(e, 'modify', 'jid-malformed', 'no nickname')
        f.run('no nickname', no_nick)
        f.run('no password', join, b, room, 'Bob', expect_error=('auth', 'not-authorized'))
        f.run('wrong password', join, b, room, 'Bob', password='nope',
              expect_error=('auth', 'not-authorized'))
        f.run('blank nick', join, b, room, ' ', password='s3cret',
              expect_error=('modify', 'jid-malformed'))
        f.run('nick too long', join, b, room, 'x' * 129, password='s3cret',
              expect_error=('cancel', 'not-acceptable'))
        f.run('nick conflict', join, b, room, 'Alice', password='s3cret',
              expect_error=('cancel', 'conflict'))

        def ok_then_full():
            j = join(b, room, 'Bob', password='s3cret')
            assert codes(j['self']) == {110}, dump(j['self'])
            # maxusers 2 reached: wait/service-unavailable (7.2.10).
            join(c, room, 'Carol', password='s3cret', expect_error=('wait', 'service-unavailable'))
        f.run('full room', ok_then_full)

        def gc10():
            # A presence without <x/> from a non-occupant: 110/307/333 (7.2.22).
            c.send("<presence to='%s/Carol'/>" % room)
            p = c.expect(is_pres(room + '/Carol', 'unavailable'))
            assert codes(p) == {110, 307, 333}, dump(p)
            assert item(p).get('role') == 'none', dump(p)
        f.run('groupchat 1.0 join', gc10)

        def probe_ignored():
            c.send("<presence to='%s/Carol' type='probe'/>" % room)
            c.send("<presence to='%s/Carol' type='unavailable'/>" % room)
            c.assert_nothing(lambda e: (e.get('from') or '').startswith(room))
        f.run('probe and unavailable from a non-occupant', probe_ignored)

        # Members-only and bans (7.2.7, 7.2.8).
        room2 = make_room(a, 'club', 'Alice', {'muc#roomconfig_membersonly': '1'})
        f.run('members only', join, c, room2, 'Carol',
              expect_error=('auth', 'registration-required'))

        def ban_then_join():
            rep = admin_iq(a, room2, "<item affiliation='outcast' jid='carol@localhost'/>")
            assert rep.get('type') == 'result', dump(rep)
            join(c, room2, 'Carol', expect_error=('auth', 'forbidden'))
            # The whole domain, too.
            rep = admin_iq(a, room2, "<item affiliation='none' jid='carol@localhost'/>"
                           "<item affiliation='member' jid='carol@localhost'/>")
            assert rep.get('type') == 'result', dump(rep)
        f.run('banned', ban_then_join)
        f.raise_if_any()
        # Temporary rooms: nothing on disk.
        assert tree(srv) == {}, tree(srv)


def test_muc_room_creation_limits():
    extra = '[muc]\nmax_rooms_per_user = 1\nrestrict_room_creation = local\nmax_rooms = 2\n'
    with muc_server(extra_ini=extra) as srv:
        a = client(srv, 'alice')
        b = client(srv, 'bob')
        c = client(srv, 'carol')
        make_room(a, 'one', 'A')
        join(a, rj('two'), 'A', expect_error=('cancel', 'not-allowed'))
        make_room(b, 'two', 'B')
        # The service is full now.
        join(c, rj('three'), 'C', expect_error=('cancel', 'not-allowed'))
        # A bad room name or a remote-only policy never reaches the disk.
        assert tree(srv) == {}


def test_muc_admin_only_creation():
    with muc_server(extra_ini='[muc]\nrestrict_room_creation = admin\n',
                    users={'admin@localhost': 'admin-pw', 'alice@localhost': 'alice-pw'}) as srv:
        a = client(srv, 'alice')
        join(a, rj('x'), 'A', expect_error=('cancel', 'not-allowed'))
        ad = client(srv, 'admin')
        room = make_room(ad, 'x', 'Boss')
        join(a, room, 'A')


# ---- raw: messages, subject, private messages, nicknames ----

def test_muc_messages_subject_pm_nick():
    with muc_server() as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        room = make_room(a, 'talk', 'Alice')
        join(b, room, 'Bob')
        join(c, room, 'Carol')
        a.drain(0.1)
        b.drain(0.1)

        # Groupchat: reflected to everyone, the sender too, from the
        # occupant JID, with the client's id (7.4); muc#user x and
        # stanza-ids in the room's name from the client are removed.
        b.send("<message to='%s' type='groupchat' id='m1'><body>hello &amp; &lt;all&gt;</body>"
               "<x xmlns='%s'><item affiliation='owner' role='moderator'/></x>"
               "<stanza-id xmlns='%s' by='%s' id='fake'/></message>" % (room, NS_USER, NS_SID, room))
        for r in (a, b, c):
            m = r.expect(is_msg(room + '/Bob'))
            assert m.get('type') == 'groupchat' and m.get('id') == 'm1', dump(m)
            assert m.findtext(C('body')) == 'hello & <all>', dump(m)
            assert m.find(q(NS_USER, 'x')) is None, 'spoofed x reflected: %s' % dump(m)
            assert m.find(q(NS_SID, 'stanza-id')) is None, 'temporary room stamped: %s' % dump(m)
        # Without an id the room makes one, the same for every copy.
        c.send("<message to='%s' type='groupchat'><body>no id</body></message>" % room)
        ids = {r.expect(is_msg(room + '/Carol', 'no id')).get('id') for r in (a, b, c)}
        assert len(ids) == 1 and None not in ids, ids

        f = Failures()

        def subject():
            # bob is a participant: forbidden without changesubject.
            b.send("<message to='%s' type='groupchat' id='s1'><subject>mine</subject></message>"
                   % room)
            assert_error(b.expect(lambda e: e.get('id') == 's1'), 'auth', 'forbidden', 'subject')
            a.send("<message to='%s' type='groupchat'><subject>Tea &amp; cake</subject></message>"
                   % room)
            for r in (a, b, c):
                m = r.expect(is_msg(room + '/Alice'))
                assert m.findtext(C('subject')) == 'Tea & cake' and m.find(C('body')) is None
            # A subject with a body is a message, not a change (8.1).
            b.send("<message to='%s' type='groupchat'><subject>x</subject><body>b</body></message>"
                   % room)
            a.expect(is_msg(room + '/Bob', 'b'))
            rep = a.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (room, NS_DISCO_INFO))
            vals = {fe.get('var'): fe.findtext(q(NS_XDATA, 'value'))
                    for fe in rep.iter(q(NS_XDATA, 'field'))}
            assert vals['muc#roominfo_subject'] == 'Tea & cake', vals
            assert vals['muc#roominfo_occupants'] == '3', vals
            # Too long (max_subject_length 1024).
            a.send("<message to='%s' type='groupchat' id='s2'><subject>%s</subject></message>"
                   % (room, 'x' * 1025))
            assert_error(a.expect(lambda e: e.get('id') == 's2'), 'modify', 'policy-violation',
                         'subject too long')
        f.run('subject', subject)

        def private():
            c.send("<message to='%s/Bob' type='chat' id='p1'><body>psst</body></message>" % room)
            m = b.expect(is_msg(room + '/Carol', 'psst'))
            assert m.get('type') == 'chat' and m.get('id') == 'p1', dump(m)
            assert m.find(q(NS_USER, 'x')) is not None, 'no muc#user x on a PM: %s' % dump(m)
            a.assert_nothing(is_msg(body='psst'))
            # Groupchat to one occupant: bad-request (7.5).
            c.send("<message to='%s/Bob' type='groupchat' id='p2'><body>x</body></message>" % room)
            assert_error(c.expect(lambda e: e.get('id') == 'p2'), 'modify', 'bad-request', 'gc pm')
            c.send("<message to='%s/Nobody' type='chat' id='p3'><body>x</body></message>" % room)
            assert_error(c.expect(lambda e: e.get('id') == 'p3'), 'cancel', 'item-not-found',
                         'pm to nobody')
        f.run('private messages', private)

        def outsider():
            o = client(srv, 'carol', 'other')
            o.send("<message to='%s' type='groupchat' id='o1'><body>x</body></message>" % room)
            assert_error(o.expect(lambda e: e.get('id') == 'o1'), 'modify', 'not-acceptable',
                         'outsider groupchat')
            o.send("<message to='%s/Bob' type='chat' id='o2'><body>x</body></message>" % room)
            assert_error(o.expect(lambda e: e.get('id') == 'o2'), 'modify', 'not-acceptable',
                         'outsider pm')
            o.send("<message to='%s' type='chat' id='o3'><body>x</body></message>" % room)
            assert_error(o.expect(lambda e: e.get('id') == 'o3'), 'modify', 'bad-request',
                         'chat to the room')
            o.send("<message to='%s' type='groupchat' id='o4'><body>x</body></message>"
                   % rj('nowhere'))
            assert_error(o.expect(lambda e: e.get('id') == 'o4'), 'cancel', 'item-not-found',
                         'no such room')
            for r in (a, b, c):
                r.assert_nothing(is_msg(body='x'))
            o.finish()
        f.run('outsider', outsider)

        def nick():
            # In use: conflict (7.6).
            c.send("<presence to='%s/Bob' id='n1'/>" % room)
            e = c.expect(lambda e: e.get('id') == 'n1')
            assert_error(e, 'cancel', 'conflict', 'nick in use')
            c.send("<presence to='%s/Caroline'><show>away</show></presence>" % room)
            for r, own in ((a, False), (b, False), (c, True)):
                p = r.expect(is_pres(room + '/Carol', 'unavailable'))
                assert 303 in codes(p) and item(p).get('nick') == 'Caroline', dump(p)
                assert (110 in codes(p)) == own, dump(p)
                p = r.expect(is_pres(room + '/Caroline'))
                assert (110 in codes(p)) == own and p.findtext(C('show')) == 'away', dump(p)
            # Messages now come from the new nick.
            c.send("<message to='%s' type='groupchat'><body>renamed</body></message>" % room)
            a.expect(is_msg(room + '/Caroline', 'renamed'))
        f.run('nick change', nick)

        def status_update():
            b.send("<presence to='%s/Bob'><show>dnd</show><status>busy</status>"
                   "<x xmlns='%s'><item role='moderator'/></x></presence>" % (room, NS_USER))
            for r in (a, b, c):
                p = r.expect(is_pres(room + '/Bob'))
                assert p.findtext(C('show')) == 'dnd' and p.findtext(C('status')) == 'busy'
                assert item(p).get('role') == 'participant', 'client item reflected: %s' % dump(p)
                assert len(p.findall(q(NS_USER, 'x'))) == 1, dump(p)
        f.run('presence update', status_update)

        def self_ping():
            rep = b.iq("<iq type='get' to='%s/Bob'><ping xmlns='%s'/></iq>" % (room, NS_PING))
            assert rep.get('type') == 'result' and rep.get('from') == room + '/Bob', dump(rep)
            o = client(srv, 'bob', 'notin')
            rep = o.iq("<iq type='get' to='%s/Bob'><ping xmlns='%s'/></iq>" % (room, NS_PING))
            assert_error(rep, 'cancel', 'not-acceptable', 'self-ping from outside')
            rep = o.iq("<iq type='get' to='%s/Bob'><query xmlns='%s'/></iq>" % (room,
                                                                               NS_DISCO_INFO))
            assert_error(rep, 'modify', 'bad-request', 'disco of an occupant from outside')
            o.finish()
            # The room advertises it.
            rep = b.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (room, NS_DISCO_INFO))
            feats = {fe.get('var') for fe in rep.iter(q(NS_DISCO_INFO, 'feature'))}
            assert 'http://jabber.org/protocol/muc#self-ping-optimization' in feats, feats
        f.run('self-ping', self_ping)

        def iq_proxy():
            # alice asks Bob's client for its version through the room: bob
            # sees the room JID, never alice's real JID (17.4 rule 3).
            a.send("<iq type='get' id='v1' to='%s/Bob'><query xmlns='jabber:iq:version'/></iq>"
                   % room)
            fw = b.expect(lambda e: e.tag == C('iq') and e.get('type') == 'get')
            assert fw.get('from') == room + '/Alice' and fw.get('id') != 'v1', dump(fw)
            b.send("<iq type='result' id='%s' to='%s/Alice'><query xmlns='jabber:iq:version'>"
                   "<name>bobclient</name></query></iq>" % (fw.get('id'), room))
            rep = a.expect(lambda e: e.tag == C('iq') and e.get('id') == 'v1')
            assert rep.get('type') == 'result' and rep.get('from') == room + '/Bob', dump(rep)
            assert rep.findtext('{jabber:iq:version}query/{jabber:iq:version}name') == \
                'bobclient', dump(rep)
            # A made-up answer goes nowhere.
            b.send("<iq type='result' id='%s' to='%s/Alice'/>" % (fw.get('id'), room))
            a.assert_nothing(lambda e: e.tag == C('iq') and e.get('id') == 'v1')
        f.run('iq to an occupant', iq_proxy)
        f.raise_if_any()


def test_muc_moderated_voice_and_rate():
    extra = '[muc]\nmessage_rate = 30\nmessage_burst = 4\n'
    with muc_server(extra_ini=extra) as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        room = make_room(a, 'mod', 'Alice', {'muc#roomconfig_moderatedroom': '1'})
        j = join(b, room, 'Bob')
        assert item(j['self']).get('role') == 'visitor', dump(j['self'])
        b.send("<message to='%s' type='groupchat' id='v1'><body>may I?</body></message>" % room)
        assert_error(b.expect(lambda e: e.get('id') == 'v1'), 'auth', 'forbidden', 'visitor')
        a.assert_nothing(is_msg(body='may I?'))

        # A voice request reaches the moderator as a form (7.13).
        b.send("<message to='%s'><x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>"
               "http://jabber.org/protocol/muc#request</value></field><field var='muc#role'>"
               "<value>participant</value></field></x></message>" % (room, NS_XDATA))
        m = a.expect(lambda e: e.tag == C('message') and e.find(q(NS_XDATA, 'x')) is not None)
        vals = {fe.get('var'): fe.findtext(q(NS_XDATA, 'value'))
                for fe in m.iter(q(NS_XDATA, 'field'))}
        assert vals['muc#roomnick'] == 'Bob' and vals['muc#jid'] == 'bob@localhost/pc', vals
        # A participant cannot give voice (it is not a moderator).
        c = client(srv, 'carol')
        join(c, room, 'Carol')
        rep = admin_iq(c, room, "<item nick='Bob' role='participant'/>")
        assert_error(rep, 'auth', 'forbidden', 'visitor gives voice')

        # The moderator grants voice (8.3) with a reason.
        rep = admin_iq(a, room, "<item nick='Bob' role='participant'><reason>ok</reason></item>")
        assert rep.get('type') == 'result', dump(rep)
        p = b.expect(is_pres(room + '/Bob'))
        assert item(p).get('role') == 'participant' and 110 in codes(p), dump(p)
        assert item(p).find(q(NS_USER, 'reason')).text == 'ok', dump(p)
        # message_burst 4 (the voice request took one): the fourth
        # message at once is refused (wait); one more every 2 s.
        for i in range(3):
            b.send("<message to='%s' type='groupchat' id='r%d'><body>r%d</body></message>"
                   % (room, i, i))
        b.send("<message to='%s' type='groupchat' id='r3'><body>r3</body></message>" % room)
        for i in range(3):
            a.expect(is_msg(room + '/Bob', 'r%d' % i))
        assert_error(b.expect(lambda e: e.get('id') == 'r3' and e.get('type') == 'error'),
                     'wait', 'policy-violation', 'rate')
        a.assert_nothing(is_msg(body='r3'))
        time.sleep(2.1)
        b.send("<message to='%s' type='groupchat'><body>later</body></message>" % room)
        a.expect(is_msg(room + '/Bob', 'later'))

        # Revoke voice again (8.4); an owner's voice cannot be revoked.
        rep = admin_iq(a, room, "<item nick='Bob' role='visitor'/>")
        assert rep.get('type') == 'result', dump(rep)
        assert item(b.expect(is_pres(room + '/Bob'))).get('role') == 'visitor'
        rep = admin_iq(a, room, "<item nick='Alice' role='visitor'/>")
        assert_error(rep, 'cancel', 'not-allowed', 'revoke the owner')


# ---- raw: roles, affiliations, invitations ----

def test_muc_kick_ban_and_lists():
    with muc_server() as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        room = make_room(a, 'court', 'Alice')
        join(b, room, 'Bob')
        join(c, room, 'Carol')
        a.drain(0.1)
        b.drain(0.1)
        f = Failures()

        def bad_requests():
            # Both role and affiliation in one item (17.4 rule 4).
            rep = admin_iq(a, room, "<item nick='Bob' role='none' affiliation='none'/>")
            assert_error(rep, 'modify', 'bad-request', 'role and affiliation')
            rep = admin_iq(a, room, "<item nick='Bob' role='king'/>")
            assert_error(rep, 'modify', 'bad-request', 'unknown role')
            rep = admin_iq(a, room, "<item nick='Nobody' role='none'/>")
            assert_error(rep, 'cancel', 'item-not-found', 'kick nobody')
            rep = admin_iq(a, room, "<item affiliation='member' jid='not a jid@@'/>")
            assert_error(rep, 'modify', 'jid-malformed', 'bad jid')
            # Participants may not kick or list (8.x: moderators only).
            rep = admin_iq(b, room, "<item nick='Carol' role='none'/>")
            assert_error(rep, 'auth', 'forbidden', 'participant kicks')
            rep = admin_iq(b, room, "<item role='participant'/>", type='get')
            assert_error(rep, 'auth', 'forbidden', 'participant lists')
            rep = admin_iq(b, room, "<item affiliation='outcast'/>", type='get')
            assert_error(rep, 'auth', 'forbidden', 'participant lists bans')
            # Nothing changed for anyone.
            for r in (a, b, c):
                r.assert_nothing(lambda e: e.tag == C('presence'))
        f.run('bad requests', bad_requests)

        def role_list():
            rep = admin_iq(a, room, "<item role='participant'/>", type='get')
            got = sorted((i.get('nick'), i.get('jid'), i.get('role'), i.get('affiliation'))
                         for i in rep.iter(q(NS_ADMIN, 'item')))
            assert got == [('Bob', 'bob@localhost/pc', 'participant', 'none'),
                           ('Carol', 'carol@localhost/pc', 'participant', 'none')], got
        f.run('role list', role_list)

        def kick():
            rep = admin_iq(a, room, "<item nick='Carol' role='none'><reason>out</reason></item>")
            assert rep.get('type') == 'result', dump(rep)
            p = c.expect(is_pres(room + '/Carol', 'unavailable'))
            assert codes(p) == {110, 307}, dump(p)
            assert item(p).find(q(NS_USER, 'actor')).get('nick') == 'Alice', dump(p)
            assert item(p).findtext(q(NS_USER, 'reason')) == 'out', dump(p)
            for r in (a, b):
                p = r.expect(is_pres(room + '/Carol', 'unavailable'))
                assert codes(p) == {307} and item(p).get('role') == 'none', dump(p)
            # carol may come back (a kick is not a ban).
            join(c, room, 'Carol')
            a.drain(0.1)
            b.drain(0.1)
        f.run('kick', kick)

        def ban():
            rep = admin_iq(a, room, "<item affiliation='outcast' jid='carol@localhost'>"
                           "<reason>spam</reason></item>")
            assert rep.get('type') == 'result', dump(rep)
            p = c.expect(is_pres(room + '/Carol', 'unavailable'))
            assert codes(p) == {110, 301} and item(p).get('affiliation') == 'outcast', dump(p)
            p = b.expect(is_pres(room + '/Carol', 'unavailable'))
            assert codes(p) == {301}, dump(p)
            join(c, room, 'Carol', expect_error=('auth', 'forbidden'))
            rep = admin_iq(a, room, "<item affiliation='outcast'/>", type='get')
            got = [(i.get('jid'), i.findtext(q(NS_ADMIN, 'reason')))
                   for i in rep.iter(q(NS_ADMIN, 'item'))]
            assert got == [('carol@localhost', 'spam')], dump(rep)
            # A ban on the whole domain (9.2).
            rep = admin_iq(a, room, "<item affiliation='none' jid='carol@localhost'/>"
                           "<item affiliation='outcast' jid='example.org'/>")
            assert rep.get('type') == 'result', dump(rep)
            join(c, room, 'Carol')
            a.drain(0.1)
            b.drain(0.1)
        f.run('ban', ban)

        def owner_rules():
            # Banning oneself: conflict (9.1); the last owner cannot go (10.6).
            rep = admin_iq(a, room, "<item affiliation='outcast' jid='alice@localhost'/>")
            assert_error(rep, 'cancel', 'conflict', 'self-ban')
            rep = admin_iq(a, room, "<item affiliation='member' jid='alice@localhost'/>")
            assert_error(rep, 'cancel', 'conflict', 'last owner')
            # bob becomes admin: a moderator at once (10.6).
            rep = admin_iq(a, room, "<item affiliation='admin' jid='bob@localhost'/>")
            assert rep.get('type') == 'result', dump(rep)
            p = b.expect(is_pres(room + '/Bob'))
            assert (item(p).get('affiliation'), item(p).get('role')) == ('admin', 'moderator')
            # An admin may not touch owners or make admins.
            rep = admin_iq(b, room, "<item affiliation='outcast' jid='alice@localhost'/>")
            assert_error(rep, 'cancel', 'not-allowed', 'admin bans owner')
            rep = admin_iq(b, room, "<item nick='Alice' role='none'/>")
            assert_error(rep, 'cancel', 'not-allowed', 'admin kicks owner')
            rep = admin_iq(b, room, "<item affiliation='admin' jid='carol@localhost'/>")
            assert_error(rep, 'auth', 'forbidden', 'admin makes admins')
            rep = admin_iq(b, room, "<item affiliation='owner'/>", type='get')
            assert [i.get('jid') for i in rep.iter(q(NS_ADMIN, 'item'))] == \
                ['alice@localhost'], dump(rep)
            # Nothing applies when one item is refused.
            rep = admin_iq(b, room, "<item affiliation='member' jid='dave@localhost'/>"
                           "<item affiliation='outcast' jid='alice@localhost'/>")
            assert_error(rep, 'cancel', 'not-allowed', 'mixed')
            rep = admin_iq(b, room, "<item affiliation='member'/>", type='get')
            assert rep.findall('.//{%s}item' % NS_ADMIN) == [], dump(rep)
            # A second owner; then alice may step down.
            rep = admin_iq(a, room, "<item affiliation='owner' jid='bob@localhost'/>")
            assert rep.get('type') == 'result', dump(rep)
            rep = admin_iq(a, room, "<item affiliation='admin' jid='alice@localhost'/>")
            assert rep.get('type') == 'result', dump(rep)
            p = a.expect(lambda e: e.get('from') == room + '/Alice' and
                         item(e).get('affiliation') == 'admin')
            assert item(p).get('role') == 'moderator' and 110 in codes(p), dump(p)
            # ... and alice can no longer configure the room.
            rep = a.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (room, NS_OWNER))
            assert_error(rep, 'auth', 'forbidden', 'config by an admin')
        f.run('owner rules', owner_rules)
        f.raise_if_any()


def test_muc_members_only_invitations():
    with muc_server() as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        room = make_room(a, 'club', 'Alice', {'muc#roomconfig_membersonly': '1',
                                              'muc#roomconfig_passwordprotectedroom': '1',
                                              'muc#roomconfig_roomsecret': 'pw'})
        # A mediated invitation (7.8.2) makes bob a member of a members-only
        # room, and carries the password.
        a.send("<message to='%s' id='i1'><x xmlns='%s'><invite to='bob@localhost'>"
               "<reason>join us</reason></invite></x></message>" % (room, NS_USER))
        m = b.expect(lambda e: e.tag == C('message') and e.get('from') == room)
        inv = m.find('{%s}x/{%s}invite' % (NS_USER, NS_USER))
        assert inv is not None and inv.get('from') == 'alice@localhost', dump(m)
        assert inv.findtext(q(NS_USER, 'reason')) == 'join us', dump(m)
        assert m.findtext('{%s}x/{%s}password' % (NS_USER, NS_USER)) == 'pw', dump(m)
        rep = admin_iq(a, room, "<item affiliation='member'/>", type='get')
        assert [i.get('jid') for i in rep.iter(q(NS_ADMIN, 'item'))] == ['bob@localhost']
        j = join(b, room, 'Bob', password='pw')
        assert item(j['self']).get('affiliation') == 'member', dump(j['self'])
        # A member may not invite without allowinvites (9.5): forbidden.
        b.send("<message to='%s' id='i2'><x xmlns='%s'><invite to='carol@localhost'/></x>"
               "</message>" % (room, NS_USER))
        assert_error(b.expect(lambda e: e.get('id') == 'i2'), 'auth', 'forbidden', 'member invite')
        c.assert_nothing(lambda e: e.tag == C('message'))
        # Invitations to accounts that do not exist, and bad JIDs.
        a.send("<message to='%s' id='i3'><x xmlns='%s'><invite to='nobody@localhost'/></x>"
               "</message>" % (room, NS_USER))
        assert_error(a.expect(lambda e: e.get('id') == 'i3'), 'cancel', 'item-not-found',
                     'invite nobody')
        a.send("<message to='%s' id='i4'><x xmlns='%s'><invite to='@@'/></x></message>"
               % (room, NS_USER))
        assert_error(a.expect(lambda e: e.get('id') == 'i4'), 'modify', 'jid-malformed', 'bad')
        # An outsider may not invite at all.
        c.send("<message to='%s' id='i5'><x xmlns='%s'><invite to='carol@localhost'/></x>"
               "</message>" % (room, NS_USER))
        assert_error(c.expect(lambda e: e.get('id') == 'i5'), 'modify', 'not-acceptable', 'out')
        # A decline goes back to the inviter, from the room.
        c.send("<message to='%s'><x xmlns='%s'><decline to='alice@localhost/pc'><reason>busy"
               "</reason></decline></x></message>" % (room, NS_USER))
        m = a.expect(lambda e: e.tag == C('message') and e.find(q(NS_USER, 'x')) is not None
                     and e.find('{%s}x/{%s}decline' % (NS_USER, NS_USER)) is not None)
        d = m.find('{%s}x/{%s}decline' % (NS_USER, NS_USER))
        assert m.get('from') == room and d.get('from') == 'carol@localhost', dump(m)
        assert d.findtext(q(NS_USER, 'reason')) == 'busy', dump(m)

        # Revoking membership removes bob (321, 9.4).
        rep = admin_iq(a, room, "<item affiliation='none' jid='bob@localhost'/>")
        assert rep.get('type') == 'result', dump(rep)
        p = b.expect(is_pres(room + '/Bob', 'unavailable'))
        assert codes(p) == {110, 321}, dump(p)
        # Granting it sends an invitation (9.5).
        rep = admin_iq(a, room, "<item affiliation='member' jid='carol@localhost' nick='Caro'/>")
        assert rep.get('type') == 'result', dump(rep)
        m = c.expect(lambda e: e.tag == C('message') and e.get('from') == room)
        assert m.find('{%s}x/{%s}invite' % (NS_USER, NS_USER)).get('from') == \
            'alice@localhost', dump(m)
        # Carol's reserved nick: disco x-roomuser-item (7.12), and a conflict
        # for others.
        rep = c.iq("<iq type='get' to='%s'><query xmlns='%s' node='x-roomuser-item'/></iq>"
                   % (room, NS_DISCO_INFO))
        assert rep.find('.//{%s}identity' % NS_DISCO_INFO).get('name') == 'Caro', dump(rep)
        admin_iq(a, room, "<item affiliation='member' jid='bob@localhost'/>")
        join(b, room, 'Caro', password='pw', expect_error=('cancel', 'conflict'))
        join(c, room, 'Caro', password='pw')

        # Open room -> members-only with a non-member inside: 322 (10.2).
        room2 = make_room(a, 'open', 'Alice')
        d = Raw(srv.c2s_port)
        d.login('bob@localhost', 'bob-pw', resource='two')
        join(d, room2, 'Bob2')
        admin_iq(a, room2, "<item affiliation='member' jid='carol@localhost'/>")
        join(c, room2, 'Carol')
        rep = owner_set(a, room2, {'muc#roomconfig_membersonly': '1'})
        assert rep.get('type') == 'result', dump(rep)
        p = d.expect(is_pres(room2 + '/Bob2', 'unavailable'))
        assert codes(p) == {110, 322}, dump(p)
        p = c.expect(is_pres(room2 + '/Bob2', 'unavailable'))
        assert codes(p) == {322}, dump(p)
        m = c.expect(lambda e: e.tag == C('message') and e.get('from') == room2)
        assert codes(m) == {104}, dump(m)
        # The other way: open members can always come in; config status
        # codes for anonymity (172/173).
        rep = owner_set(a, room2, {'muc#roomconfig_whois': 'anyone'})
        m = c.expect(lambda e: e.tag == C('message') and e.get('from') == room2)
        assert codes(m) == {104, 172}, dump(m)
        d.finish()


# ---- persistence, archive, history ----

def mam_query(r, room, form=None, rsm='', flip=False, qid='q1'):
    """A MAM query: ([result messages], fin element) or the error IQ."""
    x = ''
    if form:
        x = ("<x xmlns='%s' type='submit'><field var='FORM_TYPE' type='hidden'><value>%s"
             "</value></field>%s</x>" % (NS_XDATA, NS_MAM, ''.join(
                 "<field var='%s'>%s</field>" % (k, ''.join(
                     '<value>%s</value>' % v for v in (vs if isinstance(vs, list) else [vs])))
                 for k, vs in form.items())))
    s = "<set xmlns='%s'>%s</set>" % (NS_RSM, rsm) if rsm else ''
    fl = '<flip-page/>' if flip else ''
    rep = r.iq("<iq type='set' to='%s'><query xmlns='%s' queryid='%s'>%s%s%s</query></iq>"
               % (room, NS_MAM, qid, x, s, fl))
    if rep.get('type') != 'result':
        return rep
    res = r.take_all(lambda e: e.tag == C('message') and
                     e.find(q(NS_MAM, 'result')) is not None)
    for m in res:
        assert m.get('from') == room, dump(m)
        assert m.find(q(NS_MAM, 'result')).get('queryid') == qid, dump(m)
    return res, rep.find(q(NS_MAM, 'fin'))


def result_info(m):
    """(archive id, inner message from, body, delay stamp) of a result."""
    res = m.find(q(NS_MAM, 'result'))
    fw = res.find(q(NS_FORWARD, 'forwarded'))
    inner = fw.find(C('message'))
    assert inner.get('to') is None, dump(m)
    return (res.get('id'), inner.get('from'), inner.findtext(C('body')),
            fw.find(q(NS_DELAY, 'delay')).get('stamp'))


def fin_set(fin):
    s = fin.find(q(NS_RSM, 'set'))
    first = s.find(q(NS_RSM, 'first'))
    return (fin.get('complete'), first.text if first is not None else None,
            first.get('index') if first is not None else None,
            s.findtext(q(NS_RSM, 'last')), s.findtext(q(NS_RSM, 'count')))


def test_muc_persistent_archive_and_restart():
    with muc_server() as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        room = make_room(a, 'lounge', 'Alice', {
            'muc#roomconfig_persistentroom': '1',
            'muc#roomconfig_roomname': 'The Lounge',
            'muc#roomconfig_roomdesc': 'chairs &amp; &lt;tables&gt;',
            'muc#maxhistoryfetch': '10'})
        # 170: this room is archived (7.2.12) -- seen by the next one in.
        j = join(b, room, 'Bob')
        assert codes(j['self']) == {110, 170}, dump(j['self'])
        a.drain(0.1)
        a.send("<message to='%s' type='groupchat'><subject>Archive</subject></message>" % room)
        sids = []
        for i in range(25):
            (a if i % 2 == 0 else b).send(
                "<message to='%s' type='groupchat' id='m%d'><body>n%d</body></message>"
                % (room, i, i))
            m = a.expect(is_msg(body='n%d' % i))
            sid = m.find(q(NS_SID, 'stanza-id'))
            assert sid is not None and sid.get('by') == room, dump(m)
            sids.append(sid.get('id'))
        assert len(set(sids)) == 25, sids
        b.drain(0.2)

        # Paging forward with RSM (XEP-0313 5.1, XEP-0059).
        res, fin = mam_query(b, room, rsm='<max>10</max>')
        got = [result_info(m) for m in res]
        # The subject change is archived too (7.1.2), first.
        assert [g[2] for g in got] == [None] + ['n%d' % i for i in range(9)], got
        assert [g[0] for g in got[1:]] == sids[:9]
        assert got[1][1] == room + '/Alice' and got[2][1] == room + '/Bob', got
        assert fin_set(fin) == (None, got[0][0], '0', got[-1][0], '26'), dump(fin)
        res, fin = mam_query(b, room, rsm='<max>10</max><after>%s</after>' % got[-1][0])
        assert [result_info(m)[2] for m in res] == ['n%d' % i for i in range(9, 19)]
        assert fin.get('complete') is None
        res, fin = mam_query(b, room, rsm='<max>10</max><after>%s</after>' % sids[18])
        assert [result_info(m)[2] for m in res] == ['n%d' % i for i in range(19, 25)]
        assert fin_set(fin)[0] == 'true' and fin_set(fin)[2] == '20', dump(fin)
        # The last page, and flipped.
        res, fin = mam_query(b, room, rsm='<max>3</max><before/>')
        assert [result_info(m)[2] for m in res] == ['n22', 'n23', 'n24'], res
        res, fin = mam_query(b, room, rsm='<max>3</max><before>%s</before>' % sids[22], flip=True)
        assert [result_info(m)[2] for m in res] == ['n21', 'n20', 'n19'], res
        # Form filters: ids, after-id/before-id, with (occupant JID).
        res, fin = mam_query(b, room, {'ids': [sids[3], sids[7]]})
        assert [result_info(m)[2] for m in res] == ['n3', 'n7'], res
        res, fin = mam_query(b, room, {'after-id': sids[4], 'before-id': sids[8]})
        assert [result_info(m)[2] for m in res] == ['n5', 'n6', 'n7'], res
        res, fin = mam_query(b, room, {'with': room + '/Bob'}, rsm='<max>2</max>')
        assert [result_info(m)[2] for m in res] == ['n1', 'n3'], res
        assert fin_set(fin)[4] == '12', dump(fin)
        # Errors: unknown id (item-not-found), unknown field, real-JID
        # search by a non-moderator in a semi-anonymous room.
        f = Failures()
        f.run('unknown after', lambda: assert_error(
            mam_query(b, room, rsm='<after>0000000000000063deadbeef</after>'), 'cancel',
            'item-not-found'))
        f.run('unknown field', lambda: assert_error(
            mam_query(b, room, {'colour': 'red'}), 'cancel', 'feature-not-implemented'))
        f.run('with real jid', lambda: assert_error(
            mam_query(b, room, {'with': 'alice@localhost'}), 'auth', 'forbidden'))
        f.run('bad start', lambda: assert_error(
            mam_query(b, room, {'start': 'yesterday'}), 'modify', 'bad-request'))
        f.raise_if_any()
        # The owner may: by real JID, with the sender's JID shown.
        res, fin = mam_query(a, room, {'with': 'bob@localhost'}, rsm='<max>1</max>')
        assert [result_info(m)[2] for m in res] == ['n1'], res
        assert res[0].find('.//{%s}item' % NS_USER).get('jid') == 'bob@localhost', dump(res[0])
        # Metadata (#extended).
        rep = b.iq("<iq type='get' to='%s'><metadata xmlns='%s'/></iq>" % (room, NS_MAM))
        md = rep.find(q(NS_MAM, 'metadata'))
        assert md.find(q(NS_MAM, 'end')).get('id') == sids[-1], dump(rep)
        # Disco says so.
        rep = b.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (room, NS_DISCO_INFO))
        feats = {fe.get('var') for fe in rep.iter(q(NS_DISCO_INFO, 'feature'))}
        assert {NS_MAM, NS_MAM + '#extended', NS_SID, 'muc_persistent'} <= feats, feats
        # A members-only room's archive is closed to outsiders; an outcast
        # is refused too.
        admin_iq(a, room, "<item affiliation='outcast' jid='carol@localhost'/>")
        cc = client(srv, 'carol')
        assert_error(mam_query(cc, room), 'auth', 'forbidden', 'outcast reads the archive')

        files = tree(srv)
        assert files['lounge/config'].startswith(
            b'<room xmlns="urn:xmppd:muc" version="1" persistent="1"'), files['lounge/config']
        assert b'<name>The Lounge</name>' in files['lounge/config']
        assert files['lounge/affiliations'].startswith(
            b'<affiliations xmlns="urn:xmppd:muc" version="1"><item jid="alice@localhost" '
            b'affiliation="owner"/>'), files['lounge/affiliations']
        assert files['lounge/subject'].startswith(
            b'<subject xmlns="urn:xmppd:muc" version="1" nick="Alice"'), files['lounge/subject']
        arch = sorted(k for k in files if k.startswith('lounge/archive/'))
        assert arch == ['lounge/archive/0000000000000001'], arch
        assert files[arch[0]].startswith(b"<archive xmlns='urn:xmppd:muc' version='1'>\n")
        assert files[arch[0]].count(b'<m ') == 26

        # A restart: room, configuration, affiliations, subject, archive
        # and history are all still there.
        a.finish()
        b.finish()
        cc.finish()
        srv.stop()
        srv.start()
        b = client(srv, 'bob', 'pc')
        rep = b.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (room, NS_DISCO_INFO))
        assert rep.find('.//{%s}identity' % NS_DISCO_INFO).get('name') == 'The Lounge', dump(rep)
        vals = {fe.get('var'): fe.findtext(q(NS_XDATA, 'value'))
                for fe in rep.iter(q(NS_XDATA, 'field'))}
        assert vals['muc#roominfo_description'] == 'chairs & <tables>', vals
        assert vals['muc#roominfo_occupants'] == '0', vals
        j = join(b, room, 'Bob', history={'maxstanzas': '5'})
        assert [m.findtext(C('body')) for m in j['history']] == \
            ['n%d' % i for i in range(20, 25)], [dump(m) for m in j['history']]
        for m in j['history']:
            d = m.find(q(NS_DELAY, 'delay'))
            assert d is not None and d.get('from') == room, dump(m)
            assert m.find(q(NS_SID, 'stanza-id')).get('id') in sids, dump(m)
        assert j['subject'].findtext(C('subject')) == 'Archive', dump(j['subject'])
        assert j['subject'].get('from') == room + '/Alice', dump(j['subject'])
        assert j['subject'].find(q(NS_DELAY, 'delay')) is not None, dump(j['subject'])
        # maxchars 0: no history at all (7.2.14).
        b2 = Raw(srv.c2s_port)
        b2.login('bob@localhost', 'bob-pw', resource='two')
        j = join(b2, room, 'Bob', history={'maxchars': '0'})
        assert j['history'] == [], j['history']
        b2.finish()
        b.drain(0.1)
        # alice is still the owner; new messages continue the archive.
        a = client(srv, 'alice', 'pc')
        j = join(a, room, 'Alice', history={'seconds': '3600', 'maxstanzas': '2'})
        assert item(j['self']).get('affiliation') == 'owner', dump(j['self'])
        assert len(j['history']) == 2
        a.send("<message to='%s' type='groupchat'><body>after</body></message>" % room)
        m = a.expect(is_msg(body='after'))
        res, fin = mam_query(b, room, rsm='<max>2</max><after>%s</after>' % sids[-1])
        assert [result_info(m)[2] for m in res] == ['after'], res
        assert result_info(res[0])[0] == m.find(q(NS_SID, 'stanza-id')).get('id')
        # The owner destroys it: occupants told (10.9), directory gone.
        rep = a.iq("<iq type='set' to='%s'><query xmlns='%s'><destroy jid='%s'><reason>moved"
                   "</reason></destroy></query></iq>" % (room, NS_OWNER, rj('elsewhere')))
        assert rep.get('type') == 'result', dump(rep)
        for r, nick in ((a, 'Alice'), (b, 'Bob')):
            p = r.expect(is_pres(room + '/' + nick, 'unavailable'))
            d = p.find('{%s}x/{%s}destroy' % (NS_USER, NS_USER))
            assert d is not None and d.get('jid') == rj('elsewhere'), dump(p)
            assert d.findtext(q(NS_USER, 'reason')) == 'moved', dump(p)
            assert item(p).get('role') == 'none', dump(p)
        b.assert_nothing(is_pres(room + '/Alice', 'unavailable'))
        assert not os.path.exists(room_dir(srv, 'lounge'))
test_muc_persistent_archive_and_restart.timeout = 60


# ---- slixmpp: three users in a room (XEP-0045), MAM (XEP-0313), vCard
# (XEP-0054), direct invitations (XEP-0249) ----

async def _none_answer(*args, **kwargs):
    return None


class Mx:
    """A slixmpp client with queues for what a MUC test waits for."""

    def __init__(self, clients, srv, user, res='s', plugins=()):
        jid = '%s@localhost/%s' % (user, res)
        self.x = x = slixmpp.ClientXMPP(jid, srv.users['%s@localhost' % user])
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.default_domain = x.boundjid.domain
        x._pick_dns_answer = _none_answer
        for p in ('xep_0030', 'xep_0045') + tuple(plugins):
            x.register_plugin(p)
        self.srv = srv
        self.session = asyncio.Event()
        self.gc = asyncio.Queue()
        self.pres = asyncio.Queue()
        self.msgs = asyncio.Queue()
        self.subjects = asyncio.Queue()
        self.errors = asyncio.Queue()
        self.invites = asyncio.Queue()
        x.add_event_handler('session_start', lambda ev: self.session.set())
        x.add_event_handler('groupchat_message', self.gc.put_nowait)
        x.add_event_handler('groupchat_presence', self.pres.put_nowait)
        x.add_event_handler('groupchat_subject', self.subjects.put_nowait)
        x.add_event_handler('groupchat_message_error', self.errors.put_nowait)
        x.add_event_handler('groupchat_invite', self.invites.put_nowait)
        x.add_event_handler('groupchat_direct_invite', self.invites.put_nowait)
        x.add_event_handler('message', self.msgs.put_nowait)
        clients.append(self)

    async def connect(self):
        self.x.connect(address=('127.0.0.1', self.srv.c2s_port))
        await asyncio.wait_for(self.session.wait(), 10)
        self.x.send_presence()

    async def close(self):
        await close_client(self.x)

    @property
    def muc(self):
        return self.x['xep_0045']


def sx_codes(st):
    return {int(c) for c in st['muc']['status_codes']}


def test_muc_slixmpp_three_users():
    with muc_server() as srv:
        room = slixmpp.JID(rj('garden'))

        async def scenario(clients):
            a = Mx(clients, srv, 'alice')
            b = Mx(clients, srv, 'bob')
            c = Mx(clients, srv, 'carol')
            await asyncio.gather(a.connect(), b.connect(), c.connect())

            # alice makes a reserved room with the owner's form (10.1.3).
            pres, subject, occ, hist = await a.muc.join_muc_wait(room, 'Alice', timeout=5)
            assert sx_codes(pres) == {110, 201}, str(pres)
            assert (pres['muc']['affiliation'], pres['muc']['role']) == ('owner', 'moderator')
            form = await a.muc.get_room_config(room, timeout=5)
            fields = form.get_fields()
            for var in ('FORM_TYPE', 'muc#roomconfig_roomname', 'muc#roomconfig_persistentroom',
                        'muc#roomconfig_membersonly', 'muc#roomconfig_moderatedroom',
                        'muc#roomconfig_passwordprotectedroom', 'muc#roomconfig_roomsecret',
                        'muc#roomconfig_whois', 'muc#roomconfig_maxusers',
                        'muc#roomconfig_changesubject', 'muc#roomconfig_allowpm',
                        'muc#roomconfig_roomowners', 'muc#roomconfig_enablearchiving'):
                assert var in fields, '%s missing from the form: %s' % (var, list(fields))
            assert fields['FORM_TYPE'].xml.findtext(q(NS_XDATA, 'value')) == \
                NS_MUC + '#roomconfig', str(form)
            assert [str(v) for v in fields['muc#roomconfig_roomowners']['value']] == \
                ['alice@localhost'], fields['muc#roomconfig_roomowners']
            assert {o['value'] for o in fields['muc#roomconfig_whois']['options']} == \
                {'moderators', 'anyone'}
            form.set_values({'muc#roomconfig_roomname': 'The Garden',
                             'muc#roomconfig_whois': 'anyone'})
            await a.muc.set_room_config(room, form, timeout=5)

            # bob and carol come in: non-anonymous, so real JIDs for all
            # and status 100 (7.2.4).
            pres, subject, occ, hist = await b.muc.join_muc_wait(room, 'Bob', timeout=5)
            assert sx_codes(pres) == {100, 110}, str(pres)
            # (slixmpp counts its own presence among the occupants)
            got = [(str(p['from']), p['muc']['affiliation'], str(p['muc']['jid']))
                   for p in occ]
            assert got == [(room.bare + '/Alice', 'owner', 'alice@localhost/s'),
                           (room.bare + '/Bob', 'none', 'bob@localhost/s')], got
            assert subject['subject'] == '', str(subject)
            pres, subject, occ, hist = await c.muc.join_muc_wait(room, 'Carol', timeout=5)
            assert sorted(str(p['from']) for p in occ) == [room.bare + '/Alice',
                                                          room.bare + '/Bob',
                                                          room.bare + '/Carol']
            assert sorted(a.muc.get_roster(room)) == ['Alice', 'Bob', 'Carol']

            # Everyone gets the message, from the sender's occupant JID.
            a.x.send_message(mto=room, mbody='welcome to the garden', mtype='groupchat')
            ids = set()
            for cl in (a, b, c):
                m = await expect(cl.gc, lambda m: m['body'] == 'welcome to the garden',
                                 'the groupchat message')
                assert m['from'] == room.bare + '/Alice' and m['type'] == 'groupchat', str(m)
                ids.add(m['id'])
            assert len(ids) == 1 and '' not in ids, ids

            # The subject (by the owner), refused to a participant.
            a.muc.set_subject(room, 'Roses')
            for cl in (b, c):
                s = await expect(cl.subjects, lambda s: s['subject'] == 'Roses', 'the subject')
                assert s['from'] == room.bare + '/Alice', str(s)
            b.muc.set_subject(room, 'Weeds')
            e = await expect(b.errors, lambda m: True, 'the subject error')
            assert e['error']['condition'] == 'forbidden' and e['error']['type'] == 'auth', str(e)

            # A private message between occupants (7.5).
            b.x.send_message(mto=room.bare + '/Carol', mbody='psst', mtype='chat')
            m = await expect(c.msgs, lambda m: m['body'] == 'psst', 'the private message')
            assert m['from'] == room.bare + '/Bob' and m['type'] == 'chat', str(m)
            assert m.xml.find(q(NS_USER, 'x')) is not None, str(m)

            # carol's new nickname (7.6).
            c.x.send_presence(pto=room.bare + '/Caroline')
            p = await expect(a.pres, lambda p: p['type'] == 'unavailable' and
                             p['from'].resource == 'Carol', 'the 303 presence')
            assert sx_codes(p) == {303} and p['muc']['item']['nick'] == 'Caroline', str(p)
            p = await expect(a.pres, lambda p: p['from'].resource == 'Caroline',
                             'the new nick')
            assert p['muc']['jid'] == 'carol@localhost/s', str(p)
            await asyncio.sleep(0.2)
            assert sorted(await a.muc.get_roles_list(room, 'participant', timeout=5)) == \
                ['Bob', 'Caroline']

            # Kick (8.2) and ban (9.1).
            await a.muc.set_role(room, 'Caroline', 'none', reason='rude', timeout=5)
            p = await expect(c.pres, lambda p: p['type'] == 'unavailable' and
                             307 in sx_codes(p), 'the kick')
            assert sx_codes(p) == {110, 307} and p['muc']['item']['reason'] == 'rude', str(p)
            p = await expect(b.pres, lambda p: p['type'] == 'unavailable' and
                             p['from'].resource == 'Caroline', 'the kick, seen by bob')
            assert sx_codes(p) == {307}, str(p)
            await a.muc.set_affiliation(room, 'outcast', jid=slixmpp.JID('carol@localhost'),
                                        reason='rude again', timeout=5)
            assert await a.muc.get_affiliation_list(room, 'outcast', timeout=5) == \
                [slixmpp.JID('carol@localhost')]
            try:
                await c.muc.join_muc_wait(room, 'Carol', timeout=5)
                raise AssertionError('a banned user got in')
            except PresenceError as e:
                assert (e.presence['error']['type'], e.presence['error']['condition']) == \
                    ('auth', 'forbidden'), str(e.presence)

            # Membership (9.3), and bob's history on coming back (7.2.14).
            await a.muc.set_affiliation(room, 'member', jid=slixmpp.JID('bob@localhost'),
                                        timeout=5)
            p = await expect(b.pres, lambda p: p['muc']['affiliation'] == 'member',
                             'the membership presence')
            assert 110 in sx_codes(p), str(p)
            for i in range(3):
                a.x.send_message(mto=room, mbody='line %d' % i, mtype='groupchat')
                await expect(b.gc, lambda m, i=i: m['body'] == 'line %d' % i, 'line')
            b.muc.leave_muc(room, 'Bob')
            await expect(a.pres, lambda p: p['type'] == 'unavailable' and
                         p['from'].resource == 'Bob', 'bob leaving')
            pres, subject, occ, hist = await b.muc.join_muc_wait(room, 'Bob', maxstanzas=2,
                                                                 timeout=5)
            assert [m['body'] for m in hist] == ['line 1', 'line 2'], [str(m) for m in hist]
            assert subject['subject'] == 'Roses'
            assert pres['muc']['affiliation'] == 'member'

            # The owner destroys the room.
            await a.muc.destroy(room, reason='winter', altroom=slixmpp.JID(rj('greenhouse')),
                                timeout=5)
            p = await expect(b.pres, lambda p: p['type'] == 'unavailable', 'the destruction')
            d = p.xml.find('{%s}x/{%s}destroy' % (NS_USER, NS_USER))
            assert d is not None and d.get('jid') == rj('greenhouse'), str(p)
            assert d.findtext(q(NS_USER, 'reason')) == 'winter', str(p)
        run_scenario(scenario, timeout=40)
test_muc_slixmpp_three_users.timeout = 50


def test_muc_slixmpp_mam_vcard_direct_invite():
    with muc_server() as srv:
        room = slixmpp.JID(rj('library'))
        a = client(srv, 'alice', 'raw')
        make_room(a, 'library', 'Alice', {'muc#roomconfig_persistentroom': '1',
                                          'muc#roomconfig_membersonly': '1'})
        for i in range(12):
            a.send("<message to='%s' type='groupchat'><body>book %d</body></message>"
                   % (room, i))
        a.sync()
        a.drain(0.1)
        before = tree(srv)

        async def scenario(clients):
            al = Mx(clients, srv, 'alice', plugins=('xep_0054', 'xep_0153', 'xep_0249'))
            b = Mx(clients, srv, 'bob', plugins=('xep_0313', 'xep_0059', 'xep_0054', 'xep_0249'))
            await asyncio.gather(al.connect(), b.connect())

            # bob is not a member: the archive is closed to him (XEP-0313 7.1.2).
            try:
                await b.x['xep_0313'].retrieve(jid=room, timeout=5)
                raise AssertionError('a non-member read a members-only archive')
            except IqError as e:
                assert e.iq['error']['condition'] == 'forbidden', str(e.iq)

            # A direct invitation (XEP-0249) from the owner makes him a member.
            al.x['xep_0249'].send_invitation(slixmpp.JID('bob@localhost'), room,
                                             reason='read with us')
            inv = await expect(b.invites, lambda m: True, 'the direct invitation')
            assert inv['groupchat_invite']['jid'] == room, str(inv)
            assert inv['groupchat_invite']['reason'] == 'read with us', str(inv)
            await asyncio.sleep(0.2)

            # Now his RSM pages come in order, 5 at a time.
            seen = []
            async for page in b.x['xep_0313'].iterate(jid=room, rsm={'max': 5}):
                seen.append(page)
            bodies = [m['mam_result']['forwarded']['stanza']['body'] for m in seen]
            assert bodies == ['book %d' % i for i in range(12)], bodies
            ids = [m['mam_result']['id'] for m in seen]
            assert len(set(ids)) == 12 and all(len(i) == 24 for i in ids), ids
            assert all(m['mam_result']['forwarded']['stanza']['from'] == room.bare + '/Alice'
                       for m in seen)
            assert all(m['mam_result']['forwarded']['delay']['stamp'] is not None for m in seen)
            # (The raw test pages backwards: slixmpp's reverse iterator
            # stops after one page whenever the server gives the index, as
            # RSM allows.)
            # One page with RSM details.
            res = await b.x['xep_0313'].retrieve(jid=room, rsm={'max': 4}, timeout=5)
            assert res['mam_fin']['rsm']['count'] == '12', str(res)
            assert res['mam_fin']['complete'] in ('', None, False), str(res)
            assert [m['mam_result']['forwarded']['stanza']['body']
                    for m in res['mam']['results']] == ['book 0', 'book 1', 'book 2', 'book 3']

            # The room's vCard (XEP-0054 on the room, XEP-0486): only an
            # owner sets it; everyone reads it; the hash is announced.
            pres, subject, occ, hist = await b.muc.join_muc_wait(room, 'Bob', timeout=5)
            assert pres['muc']['affiliation'] == 'member', str(pres)
            v = b.x['xep_0054'].make_vcard()
            v['FN'] = 'not mine'
            try:
                await b.x['xep_0054'].publish_vcard(v, jid=room, timeout=5)
                raise AssertionError('a member set the room vCard')
            except IqError as e:
                assert (e.iq['error']['type'], e.iq['error']['condition']) == \
                    ('auth', 'forbidden'), str(e.iq)
            v = al.x['xep_0054'].make_vcard()
            v['FN'] = 'The Library'
            v['PHOTO']['TYPE'] = 'image/png'
            v['PHOTO']['BINVAL'] = PNG
            await al.x['xep_0054'].publish_vcard(v, jid=room, timeout=5)
            res = await b.x['xep_0054'].get_vcard(room, timeout=5)
            vc = res.xml.find(q(NS_VCARD, 'vCard'))
            assert vc.findtext(q(NS_VCARD, 'FN')) == 'The Library', str(res)
            binval = vc.findtext('{vcard-temp}PHOTO/{vcard-temp}BINVAL')
            assert base64.b64decode(''.join(binval.split())) == PNG
            info = await b.x['xep_0030'].get_info(jid=room, timeout=5)
            form = info['disco_info'].xml.find(q(NS_XDATA, 'x'))
            vals = {f.get('var'): f.findtext(q(NS_XDATA, 'value'))
                    for f in form.findall(q(NS_XDATA, 'field'))}
            assert vals['muc#roominfo_avatarhash'] == hashlib.sha1(PNG).hexdigest(), vals
            assert 'vcard-temp' in info['disco_info']['features']
        run_scenario(scenario, timeout=40)

        # The refused requests wrote nothing; what was allowed did.
        after = tree(srv)
        assert after['library/config'] == before['library/config']
        assert b'bob@localhost' in after['library/affiliations'] and \
            b'bob@localhost' not in before['library/affiliations'], after['library/affiliations']
        assert after['library/vcard'].startswith(
            b'<vcard xmlns="urn:xmppd:muc" version="1"><vCard xmlns="vcard-temp">'), \
            after['library/vcard'][:100]
test_muc_slixmpp_mam_vcard_direct_invite.timeout = 50


# ---- raw: owner form, vCard, multi-session, ghosts, admin commands ----

def test_muc_owner_form_refusals_and_cancel():
    with muc_server(extra_ini='[muc]\nmax_occupants = 50\n') as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        # Cancelling the first configuration destroys the room (10.1.3).
        join(a, rj('gone'), 'Alice')
        rep = a.iq("<iq type='set' to='%s'><query xmlns='%s'><x xmlns='%s' type='cancel'/>"
                   "</query></iq>" % (rj('gone'), NS_OWNER, NS_XDATA))
        assert rep.get('type') == 'result', dump(rep)
        p = a.expect(is_pres(rj('gone') + '/Alice', 'unavailable'))
        assert p.find('{%s}x/{%s}destroy' % (NS_USER, NS_USER)) is not None, dump(p)
        rep = a.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (rj('gone'), NS_OWNER))
        assert_error(rep, 'cancel', 'item-not-found', 'config of a cancelled room')

        room = make_room(a, 'formal', 'Alice', {'muc#roomconfig_persistentroom': '1'})
        join(b, room, 'Bob')
        a.drain(0.1)
        before = tree(srv)
        f = Failures()
        for what, fields, cond in (
                ('password without secret', {'muc#roomconfig_passwordprotectedroom': '1'},
                 'not-acceptable'),
                ('maxusers over max_occupants', {'muc#roomconfig_maxusers': '51'},
                 'not-acceptable'),
                ('maxusers zero', {'muc#roomconfig_maxusers': '0'}, 'not-acceptable'),
                ('bad boolean', {'muc#roomconfig_moderatedroom': 'maybe'}, 'not-acceptable'),
                ('bad whois', {'muc#roomconfig_whois': 'everyone'}, 'not-acceptable'),
                ('no owner left', {'muc#roomconfig_roomowners': ''}, 'not-acceptable'),
                ('owner not a jid', {'muc#roomconfig_roomowners': '@@'}, 'not-acceptable'),
                ('name too long', {'muc#roomconfig_roomname': 'n' * 257}, 'not-acceptable')):
            f.run(what, lambda fields=fields, cond=cond, what=what: assert_error(
                owner_set(a, room, fields), 'modify', cond, what))
        f.run('wrong FORM_TYPE', lambda: assert_error(a.iq(
            "<iq type='set' to='%s'><query xmlns='%s'><x xmlns='%s' type='submit'>"
            "<field var='FORM_TYPE'><value>urn:other</value></field></x></query></iq>"
            % (room, NS_OWNER, NS_XDATA)), 'modify', 'bad-request', 'form type'))
        # Not an owner: forbidden for the form, the submission, destroy.
        f.run('get by member', lambda: assert_error(b.iq(
            "<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (room, NS_OWNER)),
            'auth', 'forbidden', 'non-owner form'))
        f.run('set by member', lambda: assert_error(
            owner_set(b, room, {'muc#roomconfig_roomname': 'mine'}), 'auth', 'forbidden'))
        f.run('destroy by member', lambda: assert_error(b.iq(
            "<iq type='set' to='%s'><query xmlns='%s'><destroy/></query></iq>"
            % (room, NS_OWNER)), 'auth', 'forbidden', 'non-owner destroy'))
        f.run('unknown payload', lambda: assert_error(b.iq(
            "<iq type='get' to='%s'><query xmlns='urn:nothing'/></iq>" % room),
            'cancel', 'service-unavailable'))
        f.raise_if_any()
        b.assert_nothing(lambda e: e.tag == C('message'))
        assert tree(srv) == before, 'a refused form changed the files'

        # Unknown fields are ignored (XEP-0004); hidden rooms are not listed,
        # and the occupants are told (104).
        rep = owner_set(a, room, {'muc#roomconfig_publicroom': '0', 'x-unknown': 'v',
                                  'muc#roomconfig_passwordprotectedroom': '1',
                                  'muc#roomconfig_roomsecret': 'pw'})
        assert rep.get('type') == 'result', dump(rep)
        assert codes(b.expect(lambda e: e.tag == C('message') and e.get('from') == room)) == \
            {104}
        rep = b.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (SERVICE, NS_DISCO_ITEMS))
        assert rep.findall('.//{%s}item' % NS_DISCO_ITEMS) == [], dump(rep)
        rep = b.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (room, NS_DISCO_INFO))
        feats = {fe.get('var') for fe in rep.iter(q(NS_DISCO_INFO, 'feature'))}
        assert {'muc_hidden', 'muc_passwordprotected'} <= feats, feats
        cfg = read(os.path.join(room_dir(srv, 'formal'), 'config'))
        assert b'public="0"' in cfg and b'<password>pw</password>' in cfg, cfg
        # Temporary again: the directory goes.
        owner_set(a, room, {'muc#roomconfig_persistentroom': '0'})
        assert not os.path.exists(room_dir(srv, 'formal'))


def test_muc_vcard_avatar_raw():
    with muc_server(extra_ini='[muc]\nmax_vcard_size = 2048\n') as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        room = make_room(a, 'pics', 'Alice', {'muc#roomconfig_persistentroom': '1'})
        join(b, room, 'Bob')
        a.drain(0.1)
        rep = b.iq("<iq type='get' to='%s'><vCard xmlns='%s'/></iq>" % (room, NS_VCARD))
        v = rep.find(q(NS_VCARD, 'vCard'))
        assert v is not None and len(v) == 0, dump(rep)

        def vset(r, inner):
            return r.iq("<iq type='set' to='%s'><vCard xmlns='%s'>%s</vCard></iq>"
                        % (room, NS_VCARD, inner))
        photo = ("<PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO>"
                 % base64.b64encode(PNG).decode())
        f = Failures()
        f.run('member sets', lambda: assert_error(vset(b, photo), 'auth', 'forbidden'))
        f.run('too large', lambda: assert_error(vset(a, '<DESC>%s</DESC>' % ('d' * 3000)),
                                                'modify', 'not-acceptable'))
        f.run('bad base64', lambda: assert_error(
            vset(a, '<PHOTO><BINVAL>!!!not base64</BINVAL></PHOTO>'), 'modify', 'bad-request'))
        f.raise_if_any()
        assert not os.path.exists(os.path.join(room_dir(srv, 'pics'), 'vcard'))
        b.assert_nothing(lambda e: e.tag == C('message'))

        rep = vset(a, photo)
        assert rep.get('type') == 'result', dump(rep)
        want = hashlib.sha1(PNG).hexdigest()
        for r in (a, b):
            assert codes(r.expect(lambda e: e.tag == C('message') and
                                  e.get('from') == room)) == {104}
            p = r.expect(is_pres(room))
            assert p.findtext('{%s}x/{%s}photo' % (NS_UPDATE, NS_UPDATE)) == want, dump(p)
        # A newcomer gets the hash after the subject.
        c = client(srv, 'carol')
        join(c, room, 'Carol')
        p = c.expect(is_pres(room))
        assert p.findtext('{%s}x/{%s}photo' % (NS_UPDATE, NS_UPDATE)) == want, dump(p)
        # An empty vCard removes the avatar: an empty photo element.
        rep = vset(a, '')
        assert rep.get('type') == 'result', dump(rep)
        p = c.expect(is_pres(room))
        ph = p.find('{%s}x/{%s}photo' % (NS_UPDATE, NS_UPDATE))
        assert ph is not None and not ph.text, dump(p)
        assert not os.path.exists(os.path.join(room_dir(srv, 'pics'), 'vcard'))


def test_muc_multi_session_and_ghosts():
    with muc_server() as srv:
        a = client(srv, 'alice', 'pc')
        a2 = client(srv, 'alice', 'phone')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        room = make_room(a, 'multi', 'Alice')
        join(b, room, 'Bob')
        a.drain(0.1)
        # alice's second client, same nick (7.2.9): bob sees no new join.
        j = join(a2, room, 'Alice')
        assert [e.get('from') for e in j['others']] == [room + '/Bob'], j['others']
        b.assert_nothing(lambda e: e.tag == C('presence'))
        b.send("<message to='%s' type='groupchat'><body>both</body></message>" % room)
        a.expect(is_msg(room + '/Bob', 'both'))
        a2.expect(is_msg(room + '/Bob', 'both'))
        b.send("<message to='%s/Alice' type='chat'><body>pm</body></message>" % room)
        a.expect(is_msg(room + '/Bob', 'pm'))
        a2.expect(is_msg(room + '/Bob', 'pm'))
        # Someone else may not share the nick.
        join(c, room, 'Alice', expect_error=('cancel', 'conflict'))
        # The phone leaves: only it hears of it.
        a2.send("<presence to='%s/Alice' type='unavailable'/>" % room)
        p = a2.expect(is_pres(room + '/Alice', 'unavailable'))
        assert 110 in codes(p), dump(p)
        b.assert_nothing(is_pres(room + '/Alice', 'unavailable'))
        a.assert_nothing(is_pres(room + '/Alice', 'unavailable'))

        # A connection that drops: its server ends the session and the room
        # hears of it (presence module or the session_end hook).
        j = join(c, room, 'Carol')
        b.expect(is_pres(room + '/Carol'))
        c.close()
        p = b.expect(is_pres(room + '/Carol', 'unavailable'), timeout=10)
        assert item(p).get('role') == 'none', dump(p)

        # A client that never sent initial presence is still removed.
        d = Raw(srv.c2s_port)
        d.login('carol@localhost', 'carol-pw', resource='quiet', presence=False)
        join(d, room, 'Quiet')
        b.expect(is_pres(room + '/Quiet'))
        d.close()
        b.expect(is_pres(room + '/Quiet', 'unavailable'), timeout=10)

        # A delivery error from an occupant's client makes it a ghost (17.3):
        # removed with 333.
        b2 = client(srv, 'bob', 'two')
        join(b2, room, 'Bob2')
        a.expect(is_pres(room + '/Bob2'))
        b2.send("<message to='%s' type='error'><error type='cancel'><service-unavailable "
                "xmlns='%s'/></error></message>" % (room, NS_STANZAS))
        p = a.expect(is_pres(room + '/Bob2', 'unavailable'))
        assert codes(p) == {333}, dump(p)
        # Other errors do not remove anyone.
        b.send("<message to='%s' type='error'><error type='modify'><bad-request "
               "xmlns='%s'/></error></message>" % (room, NS_STANZAS))
        a.assert_nothing(is_pres(room + '/Bob', 'unavailable'))
        b2.finish()


def adhoc(r, node, action=None, sid=None, fields=None, to=SERVICE):
    attrs = " node='%s'" % node
    if action:
        attrs += " action='%s'" % action
    if sid:
        attrs += " sessionid='%s'" % sid
    x = ''
    if fields is not None:
        x = "<x xmlns='%s' type='submit'>%s</x>" % (NS_XDATA, ''.join(
            "<field var='%s'><value>%s</value></field>" % kv for kv in fields.items()))
    return r.iq("<iq type='set' to='%s'><command xmlns='%s'%s>%s</command></iq>"
                % (to, NS_COMMANDS, attrs, x))


LIST = 'https://xmppd.invalid/muc#list-rooms'
DESTROY = 'https://xmppd.invalid/muc#destroy-room'


def test_muc_admin_commands():
    users = {'admin@localhost': 'admin-pw', 'alice@localhost': 'alice-pw',
             'bob@localhost': 'bob-pw'}
    with muc_server(users=users) as srv:
        ad = client(srv, 'admin')
        a = client(srv, 'alice')
        b = client(srv, 'bob')
        r1 = make_room(a, 'one', 'Alice', {'muc#roomconfig_persistentroom': '1'})
        make_room(a, 'two', 'Alice', {'muc#roomconfig_publicroom': '0'})
        join(b, r1, 'Bob')

        # The commands are listed for admins only (XEP-0050 2.2).
        def cmd_items(r):
            rep = r.iq("<iq type='get' to='%s'><query xmlns='%s' node='%s'/></iq>"
                       % (SERVICE, NS_DISCO_ITEMS, NS_COMMANDS))
            return [i.get('node') for i in rep.iter(q(NS_DISCO_ITEMS, 'item'))]
        assert cmd_items(ad) == [LIST, DESTROY], cmd_items(ad)
        assert cmd_items(a) == []
        assert_error(adhoc(a, LIST), 'auth', 'forbidden', 'list by a user')
        assert_error(adhoc(a, DESTROY, fields={'room': r1}), 'auth', 'forbidden')

        rep = adhoc(ad, LIST)
        cmd = rep.find(q(NS_COMMANDS, 'command'))
        assert cmd.get('status') == 'completed', dump(rep)
        rows = {}
        for it in cmd.iter(q(NS_XDATA, 'item')):
            vals = {f.get('var'): f.findtext(q(NS_XDATA, 'value'))
                    for f in it.findall(q(NS_XDATA, 'field'))}
            rows[vals['jid']] = (vals['occupants'], vals['persistent'], vals['public'])
        assert rows == {r1: ('2', '1', '1'), rj('two'): ('1', '0', '0')}, rows

        # Two stages: the form, then the submission.
        rep = adhoc(ad, DESTROY)
        cmd = rep.find(q(NS_COMMANDS, 'command'))
        assert cmd.get('status') == 'executing' and cmd.find(q(NS_XDATA, 'x')) is not None
        sid = cmd.get('sessionid')
        assert_error(adhoc(ad, DESTROY, sid='nope', fields={'room': r1}), 'modify',
                     'bad-request', 'bad session id')
        assert_error(adhoc(ad, DESTROY, sid=sid, fields={'room': rj('nothere')}),
                     'cancel', 'item-not-found', 'no such room')
        rep = adhoc(ad, DESTROY, sid=sid, fields={'room': r1, 'reason': 'closing'})
        assert rep.find(q(NS_COMMANDS, 'command')).get('status') == 'completed', dump(rep)
        for r, nick in ((a, 'Alice'), (b, 'Bob')):
            p = r.expect(is_pres(r1 + '/' + nick, 'unavailable'))
            assert p.findtext('{%s}x/{%s}destroy/{%s}reason' % (NS_USER, NS_USER, NS_USER)) == \
                'closing', dump(p)
        assert not os.path.exists(room_dir(srv, 'one'))
        # The session is over; a one-step command (form at once) works too.
        assert_error(adhoc(ad, DESTROY, sid=sid, fields={'room': rj('two')}), 'modify',
                     'bad-request', 'used session id')
        rep = adhoc(ad, DESTROY, action='cancel', sid=None)
        assert rep.find(q(NS_COMMANDS, 'command')).get('status') == 'canceled', dump(rep)
        # Server admins are owners everywhere.
        rep = ad.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (rj('two'), NS_OWNER))
        assert rep.get('type') == 'result', dump(rep)


def test_muc_settings_are_checked():
    srv = Server(start=False, hostcfg={'localhost': {'muc': SERVICE}},
                 server={'modules': MODULES})
    try:
        for ini, msg in (
                ('max_occupants = 0', 'max_occupants must be a whole number from 1 to 100000'),
                ('max_rooms_per_user = x', 'max_rooms_per_user must be a whole number'),
                ('message_rate = -1', 'message_rate must be a whole number from 0'),
                ('max_nick_length = 1024', 'max_nick_length must be a whole number from 1 to 1023'),
                ('restrict_room_creation = maybe', 'restrict_room_creation must be false'),
                ('default_persistent = yes', 'default_persistent must be true or false'),
                ('name = ', 'name must be 1 to 64 bytes'),
                ('colour = red', "unknown key 'colour' in [muc]")):
            srv.extra_ini = '[muc]\n%s\n' % ini
            srv.write_config()
            r = srv.cli('check', 'config')
            assert r.returncode == 2, '%s: exit %d: %s' % (ini, r.returncode, r.stderr)
            assert msg in r.stderr, '%s: %s' % (ini, r.stderr)
        srv.extra_ini = ('[muc]\nmax_rooms = 5\nmax_rooms_per_user = 0\nmax_occupants = 10\n'
                         'max_history = 0\nmax_archive_messages = 64\nmax_nick_length = 20\n'
                         'max_subject_length = 100\nmessage_rate = 0\nmessage_burst = 1\n'
                         'max_vcard_size = 4096\nmax_affiliations = 10\nmax_page_size = 10\n'
                         'restrict_room_creation = admin\nname = Rooms\n'
                         'default_public = false\ndefault_persistent = true\n'
                         'default_members_only = false\ndefault_moderated = false\n'
                         'default_archive = false\ndefault_non_anonymous = true\n')
        srv.write_config()
        r = srv.cli('check', 'config')
        assert r.returncode == 0, r.stderr
    finally:
        srv.cleanup()


def test_muc_privacy_bounce_is_a_ghost():
    """An occupant whose privacy list (XEP-0016) refuses the room's
    messages bounces them at once, while the room is still sending to the
    others: it is removed as a ghost (333) afterwards, and everyone else
    still gets everything."""
    with muc_server(server={'modules': MODULES + ', privacy'}) as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        room = make_room(a, 'walls', 'Alice')
        join(b, room, 'Bob')
        join(c, room, 'Carol')
        a.drain(0.1)
        b.drain(0.1)
        rep = b.iq("<iq type='set'><query xmlns='jabber:iq:privacy'><list name='quiet'>"
                   "<item type='jid' value='%s' action='deny' order='1'><message/></item>"
                   "</list></query></iq>" % room)
        assert rep.get('type') == 'result', dump(rep)
        rep = b.iq("<iq type='set'><query xmlns='jabber:iq:privacy'><active name='quiet'/>"
                   "</query></iq>")
        assert rep.get('type') == 'result', dump(rep)
        b.drain(0.1)
        c.send("<message to='%s' type='groupchat'><body>anyone?</body></message>" % room)
        a.expect(is_msg(room + '/Carol', 'anyone?'))
        c.expect(is_msg(room + '/Carol', 'anyone?'))
        p = a.expect(is_pres(room + '/Bob', 'unavailable'))
        assert codes(p) == {333}, dump(p)
        c.expect(is_pres(room + '/Bob', 'unavailable'))
        b.assert_nothing(is_msg(body='anyone?'))
        rep = a.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (room, NS_DISCO_INFO))
        vals = {fe.get('var'): fe.findtext(q(NS_XDATA, 'value'))
                for fe in rep.iter(q(NS_XDATA, 'field'))}
        assert vals['muc#roominfo_occupants'] == '2', vals


def test_muc_history_options_and_permissions():
    with muc_server() as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        # The creator leaving before configuring destroys the room (10.1.3).
        join(a, rj('draft'), 'Alice')
        a.send("<presence to='%s/Alice' type='unavailable'/>" % rj('draft'))
        p = a.expect(is_pres(rj('draft') + '/Alice', 'unavailable'))
        assert p.find('{%s}x/{%s}destroy' % (NS_USER, NS_USER)) is not None, dump(p)

        room = make_room(a, 'hist', 'Alice', {'muc#roomconfig_changesubject': '1',
                                              'muc#roomconfig_membersonly': '1',
                                              'muc#roomconfig_allowinvites': '1'})
        for i in range(6):
            a.send("<message to='%s' type='groupchat'><body>h%d</body></message>" % (room, i))
        a.sync()
        a.drain(0.1)
        # allowinvites: a member may invite, and the invitee becomes a member.
        admin_iq(a, room, "<item affiliation='member' jid='bob@localhost'/>")
        b.drain(0.2)
        j = join(b, room, 'Bob', history={'maxstanzas': '0'})
        assert j['history'] == []
        b.send("<message to='%s'><x xmlns='%s'><invite to='carol@localhost'/></x></message>"
               % (room, NS_USER))
        m = c.expect(lambda e: e.tag == C('message') and e.get('from') == room)
        assert m.find('{%s}x/{%s}invite' % (NS_USER, NS_USER)).get('from') == 'bob@localhost'
        # since: in the future -> nothing; in the past -> everything (up to
        # the room's maximum); maxchars -> only whole stanzas that fit.
        j = join(c, room, 'Carol', history={'since': '2999-01-01T00:00:00Z'})
        assert j['history'] == [], j['history']
        c.send("<presence to='%s/Carol' type='unavailable'/>" % room)
        c.expect(is_pres(room + '/Carol', 'unavailable'))
        j = join(c, room, 'Carol', history={'since': '1970-01-01T00:00:00Z'})
        assert [m.findtext(C('body')) for m in j['history']] == ['h%d' % i for i in range(6)]
        one = len(ET_tostring(j['history'][-1]))
        c.send("<presence to='%s/Carol' type='unavailable'/>" % room)
        c.expect(is_pres(room + '/Carol', 'unavailable'))
        j = join(c, room, 'Carol', history={'maxchars': str(one * 2 + 20)})
        bodies = [m.findtext(C('body')) for m in j['history']]
        assert 1 <= len(bodies) <= 3 and bodies[-1] == 'h5', bodies
        # changesubject: a participant may set the subject.
        b.send("<message to='%s' type='groupchat'><subject>by bob</subject></message>" % room)
        m = c.expect(is_msg(room + '/Bob'))
        assert m.findtext(C('subject')) == 'by bob', dump(m)


def ET_tostring(el):
    import xml.etree.ElementTree as ET
    return ET.tostring(el)


def test_muc_occupant_vcard_and_big_presence():
    with muc_server(server={'modules': MODULES + ', vcard'}) as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        rep = a.iq("<iq type='set'><vCard xmlns='%s'><FN>Alice L.</FN></vCard></iq>" % NS_VCARD)
        assert rep.get('type') == 'result', dump(rep)
        room = make_room(a, 'faces', 'Alice')
        join(b, room, 'Bob')
        a.drain(0.1)
        # A vCard request to an occupant goes to its account (the room
        # never shows bob who alice is).
        rep = b.iq("<iq type='get' to='%s/Alice'><vCard xmlns='%s'/></iq>" % (room, NS_VCARD))
        assert rep.get('type') == 'result' and rep.get('from') == room + '/Alice', dump(rep)
        assert rep.findtext('{%s}vCard/{%s}FN' % (NS_VCARD, NS_VCARD)) == 'Alice L.', dump(rep)
        assert 'alice@localhost' not in dump(rep)
        # A huge presence is kept (and passed on) cut down to show/status.
        big = "<x xmlns='urn:example:big'>%s</x>" % ('b' * 20000)
        a.send("<presence to='%s/Alice'><show>chat</show><status>hi</status>%s</presence>"
               % (room, big))
        p = b.expect(is_pres(room + '/Alice'))
        assert p.findtext(C('show')) == 'chat' and p.findtext(C('status')) == 'hi', dump(p)
        assert p.find(q('urn:example:big', 'x')) is None, 'big presence kept'
        c = client(srv, 'carol')
        j = join(c, room, 'Carol')
        p = [e for e in j['others'] if e.get('from') == room + '/Alice'][0]
        assert p.find(q('urn:example:big', 'x')) is None and p.findtext(C('show')) == 'chat'


def test_muc_enabled_by_reload():
    """A service added by a reload (HUP) works at once; its rooms survive
    the next reload untouched."""
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice', 'pc')
        rep = a.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (SERVICE, NS_DISCO_INFO))
        assert rep.get('type') == 'error', dump(rep)     # no such domain yet
        mark = len(srv.log())
        srv.hostcfg['localhost']['muc'] = SERVICE
        srv.write_config()
        srv.hup()
        assert srv.wait_log('configuration reloaded', start=mark), srv.log_tail()
        room = make_room(a, 'late', 'Alice')
        mark = len(srv.log())
        srv.hup()
        assert srv.wait_log('configuration reloaded', start=mark), srv.log_tail()
        a.send("<message to='%s' type='groupchat'><body>still here</body></message>" % room)
        a.expect(is_msg(room + '/Alice', 'still here'))


def test_muc_hostile_requests():
    with muc_server() as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        room = make_room(a, 'fort', 'Alice', {'muc#roomconfig_persistentroom': '1'})
        join(b, room, 'Bob')
        a.drain(0.1)
        before = tree(srv)
        f = Failures()
        f.run('two payloads', lambda: assert_error(a.iq(
            "<iq type='get' to='%s'><query xmlns='%s'/><query xmlns='%s'/></iq>"
            % (room, NS_DISCO_INFO, NS_DISCO_ITEMS)), 'modify', 'bad-request'))
        f.run('no payload', lambda: assert_error(a.iq(
            "<iq type='get' to='%s'/>" % room), 'modify', 'bad-request'))
        f.run('admin set without items', lambda: assert_error(
            admin_iq(a, room, ''), 'modify', 'bad-request'))
        f.run('101 admin items', lambda: assert_error(admin_iq(a, room, ''.join(
            "<item affiliation='member' jid='u%d@localhost'/>" % i for i in range(101))),
            'modify', 'bad-request'))
        f.run('admin get with two items', lambda: assert_error(admin_iq(
            a, room, "<item role='moderator'/><item role='visitor'/>", type='get'),
            'modify', 'bad-request'))
        f.run('admin get affiliation none', lambda: assert_error(admin_iq(
            a, room, "<item affiliation='none'/>", type='get'), 'modify', 'bad-request'))

        def many_invites():
            a.send("<message to='%s' id='mi'><x xmlns='%s'>%s</x></message>" % (
                room, NS_USER, ''.join("<invite to='bob@localhost'/>" for _ in range(11))))
            assert_error(a.expect(lambda e: e.get('id') == 'mi'), 'modify', 'policy-violation')
            b.assert_nothing(lambda e: e.tag == C('message'))
        f.run('eleven invitations', many_invites)
        f.run('mam max not a number', lambda: assert_error(
            mam_query(a, room, rsm='<max>-1</max>'), 'modify', 'bad-request'))
        f.run('mam unknown ids', lambda: assert_error(
            mam_query(a, room, {'ids': ['%024x' % i for i in range(3)]}),
            'cancel', 'item-not-found'))
        f.run('mam node', lambda: assert_error(a.iq(
            "<iq type='set' to='%s'><query xmlns='%s' node='x'/></iq>" % (room, NS_MAM)),
            'cancel', 'item-not-found'))
        f.run('mam on a temporary room', lambda: assert_error(a.iq(
            "<iq type='set' to='%s'><query xmlns='%s'/></iq>" % (rj('nothere'), NS_MAM)),
            'cancel', 'item-not-found'))

        def unsolicited():
            # Answers nobody asked for, errors from non-occupants, presence
            # errors and probes: nothing happens.
            c = client(srv, 'carol')
            c.send("<iq type='result' id='zzz' to='%s/Alice'/>" % room)
            c.send("<iq type='error' id='zzz' to='%s'/>" % room)
            c.send("<presence type='error' to='%s/Alice'><error type='cancel'>"
                   "<gone xmlns='%s'/></error></presence>" % (room, NS_STANZAS))
            c.send("<message type='error' to='%s/Alice'><error type='cancel'>"
                   "<gone xmlns='%s'/></error></message>" % (room, NS_STANZAS))
            c.send("<presence type='subscribe' to='%s'/>" % room)
            c.send("<message to='%s' type='headline'><body>x</body></message>" % room)
            c.send("<presence to='%s' type='unavailable'/>" % SERVICE)
            c.assert_nothing()
            for r in (a, b):
                r.assert_nothing()
            c.finish()
        f.run('unsolicited', unsolicited)

        def service_level():
            rep = a.iq("<iq type='get' to='%s'><ping xmlns='%s'/></iq>" % (SERVICE, NS_PING))
            assert rep.get('type') == 'result', dump(rep)
            rep = a.iq("<iq type='get' to='%s'><query xmlns='jabber:iq:version'/></iq>"
                       % SERVICE)
            assert_error(rep, 'cancel', 'service-unavailable')
            a.send("<message to='%s' id='sm'><body>hi</body></message>" % SERVICE)
            assert_error(a.expect(lambda e: e.get('id') == 'sm'), 'cancel',
                         'service-unavailable')
            rep = a.iq("<iq type='get' to='%s'><query xmlns='%s' node='nope'/></iq>"
                       % (SERVICE, NS_DISCO_INFO))
            assert_error(rep, 'cancel', 'item-not-found')
        f.run('service', service_level)
        f.raise_if_any()
        assert tree(srv) == before, 'refused requests changed the files'


def test_muc_shutdown_tells_occupants_332():
    """SIGTERM: every occupant's sessions get their own unavailable presence
    with 110 and 332 (XEP-0045 status codes) before the stream closes, and
    nobody is sent the others' departures one by one."""
    srv = muc_server()
    with srv:
        a = client(srv, 'alice', 'pc')
        a2 = client(srv, 'alice', 'phone')
        b = client(srv, 'bob', 'pc')
        room = make_room(a, 'closing', 'Alice')
        join(a2, room, 'Alice')
        join(b, room, 'Bob')
        for r in (a, a2, b):
            r.drain(0.1)
        srv.proc.send_signal(signal.SIGTERM)
        for r, nick in ((a, 'Alice'), (a2, 'Alice'), (b, 'Bob')):
            p = r.expect(is_pres('%s/%s' % (room, nick), 'unavailable'))
            assert codes(p) == {110, 332}, dump(p)
            assert item(p).get('role') == 'none', dump(p)
            r.send('</stream:stream>')
            assert r.closed(timeout=5), 'stream not closed after 332'
            got = [e for e in r.take_all() if e.tag == C('presence')
                   and (e.get('from') or '').startswith(room)]
            assert got == [], [dump(e) for e in got]
            r.close()
        assert srv.stop() == 0
        assert 'shutting down' in srv.log()
