"""
Message Archive Management (XEP-0313 v2), stanza ids (XEP-0359), Result Set
Management (XEP-0059) and archive preferences (XEP-0441): modules/mam.c.

slixmpp's xep_0313 retrieves and iterates (both ways, with/start/end
filters), xep_0359 reads the stanza ids on delivered messages and xep_0441
sets preferences.  Raw requests check paging message for message
(first/last/index/count/complete), every refusal with its exact stanza error,
forged stanza ids, what is and is not archived, retention and the size
bound, crash leftovers, and a month of 10,000 messages paged through in
pages of 250 against a time limit.  Archives are seeded on disk in the
documented format (mam.c's header comment) where a test needs old or many
messages.
"""

import asyncio
import datetime
import logging
import os
import signal
import ssl
import time
import xml.sax.saxutils

import slixmpp
from slixmpp import JID

from lib import Server
import sxlib
from sxlib import expect, close_client
from rawxmpp import (
    C, NS_DISCO_INFO, NS_STANZAS, Failures, client, dump, is_message, q, stanza_error,
)

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

NS_MAM = 'urn:xmpp:mam:2'
NS_RSM = 'http://jabber.org/protocol/rsm'
NS_SID = 'urn:xmpp:sid:0'
NS_FWD = 'urn:xmpp:forward:0'
NS_DELAY = 'urn:xmpp:delay'
NS_X = 'jabber:x:data'
NS_HINTS = 'urn:xmpp:hints'
MODULES = 'roster, saslauth, tls, disco, ping, offline, mam'
B32 = '0123456789abcdefghjkmnpqrstvwxyz'
HEADER = "xmppd-mam version='1'\n"
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


# ---- ids, times and the archive on disk ----

def make_id(t_us, r=0):
    """The archive id for a time in microseconds and a 20-bit random part."""
    s = ''
    for _ in range(13):
        s = B32[t_us & 31] + s
        t_us >>= 5
    rr = ''
    for _ in range(4):
        rr = B32[r & 31] + rr
        r >>= 5
    return s + rr

def run_scenario(scenario, timeout=40):
    return sxlib.run_scenario(scenario, timeout)


def id_time(i):
    t = 0
    for ch in i[:13]:
        t = t * 32 + B32.index(ch)
    return t


def dt_of(t_us):
    return EPOCH + datetime.timedelta(microseconds=t_us)


def xep82(t_us, tz=None):
    """A XEP-0082 DateTime with microseconds; tz = minutes east of UTC."""
    d = dt_of(t_us)
    if tz is None:
        return d.strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    d = d.astimezone(datetime.timezone(datetime.timedelta(minutes=tz)))
    off = '%+03d:%02d' % (tz // 60 if tz >= 0 else -((-tz) // 60), abs(tz) % 60)
    return d.strftime('%Y-%m-%dT%H:%M:%S.%f') + off


def stamp_of(i):
    return dt_of(id_time(i)).strftime('%Y-%m-%dT%H:%M:%SZ')


def archive_dir(srv, user):
    return os.path.join(srv.data_path, 'localhost', user, 'archive')


def archive_files(srv, user):
    d = archive_dir(srv, user)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def packs(srv, user):
    return [f for f in archive_files(srv, user) if f.startswith('p.')]


def loose(srv, user):
    return [f for f in archive_files(srv, user) if f.startswith('m.')]


def esc(s):
    return xml.sax.saxutils.escape(s, {'"': '&quot;', "'": '&apos;'})


def msg_xml(frm, to, body, mid='m1'):
    return ('<message xmlns="jabber:client" from="%s" to="%s" type="chat" id="%s">'
            '<body>%s</body></message>' % (frm, to, mid, esc(body)))


def rec_line(rid, d, with_, xml_text):
    return '%s\t%s\t%s\t%s\n' % (rid, d, with_, xml_text.replace('\n', '&#10;'))


def write_file(path, text):
    tmp = path + '.new'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def seed(srv, user, recs, pack=256, leave_loose=0):
    """Write recs [(id, dir, with, xml)] (in id order) as the server would:
    packs of `pack` records, and the last leave_loose records as loose
    files."""
    d = archive_dir(srv, user)
    os.makedirs(d, mode=0o700, exist_ok=True)
    body = recs[:len(recs) - leave_loose]
    for i in range(0, len(body), pack):
        chunk = body[i:i + pack]
        name = 'p.%s.%s.%d' % (chunk[0][0], chunk[-1][0], len(chunk))
        write_file(os.path.join(d, name), HEADER + ''.join(rec_line(*r) for r in chunk))
    for r in recs[len(recs) - leave_loose:]:
        write_file(os.path.join(d, 'm.' + r[0]), HEADER + rec_line(*r))


def history(n, start_us, span_us, peer='bob@localhost', me='alice@localhost'):
    """n messages between me and peer spread evenly over span_us, both ways."""
    out = []
    step = span_us // n
    for k in range(n):
        t = start_us + k * step
        rid = make_id(t, (k * 7919) & 0xfffff)
        body = 'message %d of %d' % (k, n)
        if k % 2:
            out.append((rid, 'i', peer + '/phone', msg_xml(peer + '/phone', me, body, 'h%d' % k)))
        else:
            out.append((rid, 'o', peer, msg_xml(me + '/pc', peer, body, 'h%d' % k)))
    return out


def now_us():
    return int(time.time() * 1000000)


# ---- raw queries ----

def form_xml(fields):
    """fields: [(var, value or [values])]; FORM_TYPE first unless given."""
    out = "<x xmlns='jabber:x:data' type='submit'>"
    if not any(v == 'FORM_TYPE' for v, _ in fields):
        out += "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>" % NS_MAM
    for var, val in fields:
        vals = val if isinstance(val, (list, tuple)) else [val]
        out += "<field var='%s'>%s</field>" % (
            var, ''.join('<value>%s</value>' % esc(v) for v in vals))
    return out + '</x>'


def rsm_xml(rsm):
    out = "<set xmlns='%s'>" % NS_RSM
    for k, v in rsm:
        out += '<%s/>' % k if v is None else '<%s>%s</%s>' % (k, esc(str(v)), k)
    return out + '</set>'


def query(r, fields=None, rsm=None, queryid='q1', flip=False, to=None, raw=None):
    """Send a MAM query; return (the final IQ, [result dicts]) with the
    result messages for this queryid taken from the queue."""
    inner = raw if raw is not None else (
        (form_xml(fields) if fields is not None else '')
        + (rsm_xml(rsm) if rsm is not None else '')
        + ('<flip-page/>' if flip else ''))
    qid = " queryid='%s'" % queryid if queryid is not None else ''
    t = " to='%s'" % to if to else ''
    iq = r.iq("<iq type='set'%s><query xmlns='%s'%s>%s</query></iq>" % (t, NS_MAM, qid, inner),
              timeout=30)
    msgs = r.take_all(lambda e: e.tag == C('message')
                      and e.find(q(NS_MAM, 'result')) is not None
                      and e.find(q(NS_MAM, 'result')).get('queryid') == queryid)
    return iq, [result_of(m) for m in msgs]


def result_of(m):
    res = m.find(q(NS_MAM, 'result'))
    fw = res.find(q(NS_FWD, 'forwarded'))
    assert fw is not None, dump(m)
    delay = fw.find(q(NS_DELAY, 'delay'))
    inner = fw.find(C('message'))
    return {'id': res.get('id'), 'to': m.get('to'), 'from': m.get('from'),
            'stamp': delay.get('stamp') if delay is not None else None,
            'msg': inner, 'body': inner.findtext(C('body')) if inner is not None else None}


def fin_of(iq):
    assert iq.get('type') == 'result', 'query failed: %s' % dump(iq)
    fin = iq.find(q(NS_MAM, 'fin'))
    assert fin is not None, dump(iq)
    s = fin.find(q(NS_RSM, 'set'))
    assert s is not None, dump(iq)
    first = s.find(q(NS_RSM, 'first'))
    last = s.find(q(NS_RSM, 'last'))
    count = s.findtext(q(NS_RSM, 'count'))
    return {'complete': fin.get('complete'),
            'first': None if first is None else first.text,
            'index': None if first is None else first.get('index'),
            'last': None if last is None else last.text,
            'count': None if count is None else int(count)}


def page(r, **kw):
    iq, res = query(r, **kw)
    return fin_of(iq), res


def assert_error(reply, etype, cond, what, text=None):
    assert reply.get('type') == 'error', '%s: expected an error, got %s' % (what, dump(reply))
    got = stanza_error(reply)
    assert got == (etype, cond), '%s: error %r, expected %r: %s' % (what, got, (etype, cond),
                                                                    dump(reply))
    if text is not None:
        t = reply.find('%s/{%s}text' % (C('error'), NS_STANZAS))
        assert t is not None and text in (t.text or ''), \
            '%s: error text %r does not mention %r' % (what, None if t is None else t.text, text)


def sids(m, by=None):
    """[(id, by)] of the stanza-id elements of a message (ElementTree)."""
    return [(s.get('id'), s.get('by')) for s in m.findall(q(NS_SID, 'stanza-id'))
            if by is None or s.get('by') == by]


def ids_of(res):
    return [x['id'] for x in res]


# ---- slixmpp ----

async def _none_answer(*args, **kwargs):
    return None


class Xc:
    def __init__(self, clients, srv, jid, password, plugins=('xep_0313', 'xep_0359')):
        self.x = x = slixmpp.ClientXMPP(jid, password)
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.default_domain = x.boundjid.domain
        x._pick_dns_answer = _none_answer
        for p in plugins:
            x.register_plugin(p)
        self.srv = srv
        self.session = asyncio.Event()
        self.messages = asyncio.Queue()
        x.add_event_handler('session_start', lambda ev: self.session.set())
        x.add_event_handler('message', lambda m: self.messages.put_nowait(m))
        clients.append(self)

    async def connect(self, presence=True):
        self.x.connect(address=('127.0.0.1', self.srv.c2s_port))
        await asyncio.wait_for(self.session.wait(), 10)
        if presence:
            self.x.send_presence()
            # a round trip: the presence is processed once this returns
            await self.x['xep_0030'].get_info(jid='localhost', timeout=5)

    async def close(self):
        await close_client(self.x)


def sx_results(iq):
    """[(archive id, body, forwarded message stanza)] of a slixmpp retrieve()."""
    return [(m['mam_result']['id'], m['mam_result']['forwarded']['stanza']['body'],
             m['mam_result']['forwarded']['stanza']) for m in iq['mam']['results']]


def sx_fin(iq):
    fin = iq.xml.find('{%s}fin' % NS_MAM)
    s = fin.find('{%s}set' % NS_RSM)
    return fin.get('complete'), int(s.findtext('{%s}count' % NS_RSM))


# ---- XEP-0313 / XEP-0359 with slixmpp ----

def test_mam_slixmpp_retrieve_filters_and_stanza_ids():
    with Server(server={'modules': MODULES}) as srv:
        async def scenario(clients):
            a = Xc(clients, srv, 'alice@localhost/s', 'alice-pw')
            b = Xc(clients, srv, 'bob@localhost/s', 'bob-pw')
            await a.connect()
            await b.connect()
            for i in range(5):
                a.x.send_message(mto='bob@localhost/s', mbody='a->b %d' % i, mtype='chat')
            got_b = [await expect(b.messages, lambda m: m['body'] == 'a->b %d' % i,
                                  'a->b %d' % i) for i in range(5)]
            for i in range(3):
                b.x.send_message(mto='alice@localhost/s', mbody='b->a %d' % i, mtype='chat')
            got_a = [await expect(a.messages, lambda m: m['body'] == 'b->a %d' % i,
                                  'b->a %d' % i) for i in range(3)]
            # to the bare JID: delivered to the available resource
            a.x.send_message(mto='bob@localhost', mbody='a->b bare', mtype='chat')
            got_b.append(await expect(b.messages, lambda m: m['body'] == 'a->b bare', 'bare'))

            # Every delivered message carries its archive id, by the account.
            for m in got_b:
                assert m['stanza_id']['by'] == 'bob@localhost', str(m)
                assert len(m['stanza_id']['id']) == 17, str(m)
            for m in got_a:
                assert m['stanza_id']['by'] == 'alice@localhost', str(m)
            seen_b = [m['stanza_id']['id'] for m in got_b]
            seen_a = [m['stanza_id']['id'] for m in got_a]
            assert len(set(seen_b + seen_a)) == 9, (seen_a, seen_b)

            # bob's archive: what he got (ids as delivered) and what he sent.
            iq = await b.x['xep_0313'].retrieve(jid=JID('bob@localhost'), timeout=10)
            res = sx_results(iq)
            assert [r[1] for r in res] == (['a->b %d' % i for i in range(5)]
                                          + ['b->a %d' % i for i in range(3)]
                                          + ['a->b bare']), res
            assert [r[0] for r in res[:5]] == seen_b[:5], (res, seen_b)
            assert res[8][0] == seen_b[5]
            assert sx_fin(iq) == ('true', 9), str(iq)
            # what bob sent is archived as sent, from his full JID
            assert str(res[5][2]['from']) == 'bob@localhost/s', str(res[5][2])
            assert str(res[5][2]['to']) == 'alice@localhost/s', str(res[5][2])

            # alice's: the incoming ones under the ids she saw
            iq = await a.x['xep_0313'].retrieve(jid=JID('alice@localhost'), timeout=10)
            res_a = sx_results(iq)
            assert [r[0] for r in res_a if r[1].startswith('b->a')] == seen_a, res_a
            all_a = [r[0] for r in res_a]

            # with: a bare JID matches every resource, a full JID only itself
            for with_jid, want in (('bob@localhost', 9), ('bob@localhost/s', 8),
                                   ('bob@localhost/other', 0), ('carol@localhost', 0),
                                   ('localhost', 0)):
                iq = await a.x['xep_0313'].retrieve(jid=JID('alice@localhost'),
                                                    with_jid=JID(with_jid), timeout=10)
                assert sx_fin(iq) == ('true', want), (with_jid, str(iq))
                assert len(sx_results(iq)) == want, with_jid

            # start / end, to the microsecond of an archive id
            t3 = id_time(all_a[3])
            iq = await a.x['xep_0313'].retrieve(jid=JID('alice@localhost'),
                                                start=dt_of(t3), timeout=10)
            assert [r[0] for r in sx_results(iq)] == all_a[3:], str(iq)
            iq = await a.x['xep_0313'].retrieve(jid=JID('alice@localhost'),
                                                end=dt_of(t3), timeout=10)
            assert [r[0] for r in sx_results(iq)] == all_a[:4], str(iq)
            iq = await a.x['xep_0313'].retrieve(jid=JID('alice@localhost'), start=dt_of(t3),
                                                end=dt_of(id_time(all_a[5])),
                                                with_jid=JID('bob@localhost'), timeout=10)
            assert [r[0] for r in sx_results(iq)] == all_a[3:6], str(iq)

            # the form
            form = await a.x['xep_0313'].get_fields(jid=JID('alice@localhost'), timeout=5)
            assert set(form.get_fields()) == {'FORM_TYPE', 'with', 'start', 'end', 'before-id',
                                              'after-id', 'ids', 'include-groupchat'}, form
        run_scenario(scenario)
test_mam_slixmpp_retrieve_filters_and_stanza_ids.timeout = 60


def test_mam_slixmpp_iterate_both_ways_and_prefs():
    with Server(server={'modules': MODULES}) as srv:
        async def scenario(clients):
            a = Xc(clients, srv, 'alice@localhost/s', 'alice-pw')
            b = Xc(clients, srv, 'bob@localhost/s', 'bob-pw',
                   ('xep_0313', 'xep_0359', 'xep_0441'))
            await a.connect()
            await b.connect()
            for i in range(23):
                a.x.send_message(mto='bob@localhost', mbody='n%02d' % i, mtype='chat')
            await expect(b.messages, lambda m: m['body'] == 'n22', 'the last message', 10)
            want = ['n%02d' % i for i in range(23)]

            fwd = []
            async for m in b.x['xep_0313'].iterate(jid=JID('bob@localhost'), rsm={'max': 5}):
                fwd.append(m['mam_result']['forwarded']['stanza']['body'])
            assert fwd == want, fwd
            back = []
            async for m in b.x['xep_0313'].iterate(jid=JID('bob@localhost'), rsm={'max': 5},
                                                     reverse=True):
                back.append(m['mam_result']['forwarded']['stanza']['body'])
            assert back == want[::-1], back
            # stopping early: the newest 7
            back = []
            async for m in b.x['xep_0313'].iterate(jid=JID('bob@localhost'), rsm={'max': 3},
                                                     reverse=True, total=7):
                back.append(m['mam_result']['forwarded']['stanza']['body'])
            assert back == want[::-1][:7], back

            # XEP-0441 through slixmpp: never alice, then nothing more from her
            default, always, never = await b.x['xep_0441'].get_preferences(timeout=5)
            assert (default, set(always), set(never)) == ('always', set(), set()), \
                (default, always, never)
            res = await b.x['xep_0441'].set_preferences(
                default='always', never=[JID('alice@localhost')],
                always=[JID('carol@localhost/phone')], timeout=5)
            p = res['mam_prefs']
            assert p['default'] == 'always' and set(map(str, p['never'])) == {
                'alice@localhost'} and set(map(str, p['always'])) == {
                'carol@localhost/phone'}, str(res)
            a.x.send_message(mto='bob@localhost', mbody='unarchived', mtype='chat')
            m = await expect(b.messages, lambda m: m['body'] == 'unarchived', 'unarchived')
            assert not m.xml.findall('{%s}stanza-id' % NS_SID), str(m)
            iq = await b.x['xep_0313'].retrieve(jid=JID('bob@localhost'), timeout=10)
            assert sx_fin(iq) == ('true', 23), str(iq)
        run_scenario(scenario)
test_mam_slixmpp_iterate_both_ways_and_prefs.timeout = 60


# ---- paging, message for message ----

def test_mam_raw_paging():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice', 'pc')
        c = client(srv, 'carol', 'c')
        for i in range(12):
            c.message('alice@localhost', 'm%02d' % i)
        got = [a.expect(is_message(body='m%02d' % i)) for i in range(12)]
        ids = []
        for m in got:
            s = sids(m)
            assert len(s) == 1 and s[0][1] == 'alice@localhost', dump(m)
            ids.append(s[0][0])
        assert ids == sorted(ids), ids

        f = Failures()

        def all_default():
            fin, res = page(a)
            assert ids_of(res) == ids, res
            assert fin == {'complete': 'true', 'first': ids[0], 'index': '0',
                           'last': ids[-1], 'count': 12}, fin
            r0 = res[0]
            assert r0['to'] == a.jid and r0['from'] == 'alice@localhost', r0
            assert r0['stamp'] == stamp_of(ids[0]), (r0['stamp'], ids[0])
            assert r0['body'] == 'm00' and r0['msg'].get('from') == c.jid, dump(r0['msg'])
            assert r0['msg'].get('to') == 'alice@localhost', dump(r0['msg'])
            assert sids(r0['msg']) == [], 'the archived copy has no stanza-id: %s' % dump(
                r0['msg'])
        f.run('no RSM', all_default)

        def forward():
            fin, res = page(a, rsm=[('max', 5)])
            assert ids_of(res) == ids[0:5] and fin == {
                'complete': 'false', 'first': ids[0], 'index': '0', 'last': ids[4],
                'count': 12}, (fin, res)
            fin, res = page(a, rsm=[('max', 5), ('after', ids[4])])
            assert ids_of(res) == ids[5:10] and fin == {
                'complete': 'false', 'first': ids[5], 'index': '5', 'last': ids[9],
                'count': 12}, (fin, res)
            fin, res = page(a, rsm=[('max', 5), ('after', ids[9])])
            assert ids_of(res) == ids[10:12] and fin == {
                'complete': 'true', 'first': ids[10], 'index': '10', 'last': ids[11],
                'count': 12}, (fin, res)
            fin, res = page(a, rsm=[('max', 5), ('after', ids[11])])
            assert res == [] and fin == {'complete': 'true', 'first': None, 'index': None,
                                         'last': None, 'count': 12}, fin
        f.run('forward', forward)

        def backward():
            fin, res = page(a, rsm=[('max', 5), ('before', None)])
            assert ids_of(res) == ids[7:12] and fin == {
                'complete': 'false', 'first': ids[7], 'index': None, 'last': ids[11],
                'count': 12}, (fin, res)
            fin, res = page(a, rsm=[('max', 5), ('before', ids[7])])
            assert ids_of(res) == ids[2:7] and fin['complete'] == 'false', (fin, res)
            fin, res = page(a, rsm=[('max', 5), ('before', ids[2])])
            assert ids_of(res) == ids[0:2] and fin == {
                'complete': 'true', 'first': ids[0], 'index': None, 'last': ids[1],
                'count': 12}, (fin, res)
            fin, res = page(a, rsm=[('max', 5), ('before', ids[0])])
            assert res == [] and fin['complete'] == 'true' and fin['count'] == 12, fin
        f.run('backward', backward)

        def index_and_count():
            fin, res = page(a, rsm=[('max', 3), ('index', 7)])
            assert ids_of(res) == ids[7:10] and fin == {
                'complete': 'false', 'first': ids[7], 'index': '7', 'last': ids[9],
                'count': 12}, (fin, res)
            fin, res = page(a, rsm=[('max', 3), ('index', 12)])
            assert res == [] and fin['count'] == 12 and fin['complete'] == 'true', fin
            fin, res = page(a, rsm=[('max', 0)])
            assert res == [] and fin == {'complete': 'false', 'first': None, 'index': None,
                                         'last': None, 'count': 12}, fin
        f.run('index and count', index_and_count)

        def flipped():
            fin, res = page(a, rsm=[('max', 5), ('after', ids[1])], flip=True)
            assert ids_of(res) == ids[2:7][::-1], res
            assert (fin['first'], fin['last'], fin['index']) == (ids[2], ids[6], '2'), fin
        f.run('flip-page', flipped)

        def extended_fields():
            fin, res = page(a, fields=[('after-id', ids[2]), ('before-id', ids[8])])
            assert ids_of(res) == ids[3:8] and fin == {
                'complete': 'true', 'first': ids[3], 'index': '0', 'last': ids[7],
                'count': 5}, (fin, res)
            fin, res = page(a, fields=[('ids', [ids[9], ids[1], ids[5]])])
            assert ids_of(res) == [ids[1], ids[5], ids[9]] and fin['count'] == 3, (fin, res)
            # paging inside the narrowed set
            fin, res = page(a, fields=[('after-id', ids[2])], rsm=[('max', 2), ('before', None)])
            assert ids_of(res) == ids[10:12] and fin['count'] == 9, (fin, res)
        f.run('before-id, after-id, ids', extended_fields)

        def with_and_times():
            for w, n in (('carol@localhost', 12), ('carol@localhost/c', 12),
                         ('carol@localhost/other', 0), ('bob@localhost', 0)):
                fin, res = page(a, fields=[('with', w)])
                assert fin['count'] == n and len(res) == n, (w, fin)
            t3 = id_time(ids[3])
            fin, res = page(a, fields=[('start', xep82(t3))])
            assert ids_of(res) == ids[3:], res
            fin, res = page(a, fields=[('end', xep82(t3))])
            assert ids_of(res) == ids[:4], res
            # the same instant written with another offset
            fin, res = page(a, fields=[('start', xep82(t3, tz=-330)),
                                       ('end', xep82(id_time(ids[5]), tz=120))])
            assert ids_of(res) == ids[3:6], res
            # an end to the second covers that whole second
            fin, res = page(a, fields=[('end', stamp_of(ids[11]))])
            assert fin['count'] == 12, fin
            fin, res = page(a, fields=[('start', '2000-01-01T00:00:00Z'),
                                       ('end', '2000-01-02T00:00:00Z')])
            assert fin['count'] == 0 and res == [], fin
            # combined with paging
            fin, res = page(a, fields=[('with', 'carol@localhost'), ('start', xep82(t3))],
                            rsm=[('max', 4)])
            assert ids_of(res) == ids[3:7] and fin['count'] == 9 and \
                fin['complete'] == 'false', fin
            # include-groupchat is understood (group chat is never in a user archive)
            fin, res = page(a, fields=[('include-groupchat', 'true')])
            assert fin['count'] == 12, fin
        f.run('with, start, end', with_and_times)

        def metadata_and_form():
            rep = a.iq("<iq type='get'><metadata xmlns='%s'/></iq>" % NS_MAM)
            md = rep.find(q(NS_MAM, 'metadata'))
            assert md is not None, dump(rep)
            st, en = md.find(q(NS_MAM, 'start')), md.find(q(NS_MAM, 'end'))
            assert (st.get('id'), st.get('timestamp')) == (ids[0], stamp_of(ids[0])), dump(md)
            assert (en.get('id'), en.get('timestamp')) == (ids[-1], stamp_of(ids[-1])), dump(md)
            rep = a.iq("<iq type='get' to='alice@localhost'><query xmlns='%s'/></iq>" % NS_MAM)
            x = rep.find('%s/{%s}x' % (q(NS_MAM, 'query'), NS_X))
            assert x is not None and x.get('type') == 'form', dump(rep)
            fields = [(fl.get('var'), fl.get('type')) for fl in x.findall(q(NS_X, 'field'))]
            assert fields == [('FORM_TYPE', 'hidden'), ('with', 'jid-single'),
                              ('start', 'text-single'), ('end', 'text-single'),
                              ('before-id', 'text-single'), ('after-id', 'text-single'),
                              ('ids', 'list-multi'), ('include-groupchat', 'boolean')], fields
            v = x.find(q(NS_X, 'field')).findtext(q(NS_X, 'value'))
            assert v == NS_MAM, dump(x)
            assert x.find('.//{http://jabber.org/protocol/xdata-validate}open') is not None
        f.run('metadata and form', metadata_and_form)

        def disco():
            rep = a.iq("<iq type='get' to='alice@localhost'><query xmlns='%s'/></iq>"
                       % NS_DISCO_INFO)
            feats = {x.get('var') for x in rep.iter(q(NS_DISCO_INFO, 'feature'))}
            assert {NS_MAM, NS_MAM + '#extended', NS_SID} <= feats, feats
            rep = a.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_INFO)
            feats = {x.get('var') for x in rep.iter(q(NS_DISCO_INFO, 'feature'))}
            assert NS_SID in feats and NS_MAM not in feats, feats
        f.run('disco', disco)

        def carol_sent():
            # carol's own archive has the 12 as outgoing, 'with' alice
            fin, res = page(c, fields=[('with', 'alice@localhost')])
            assert fin['count'] == 12 and [x['body'] for x in res] == [
                'm%02d' % i for i in range(12)], (fin, res)
            assert res[0]['msg'].get('from') == c.jid, dump(res[0]['msg'])
        f.run("carol's archive", carol_sent)

        def hard_content():
            body = 'line one\nline\ttwo\r\n<&> "quotes" \'apos\' \u00e9\u4e2d\U0001F600 ' + \
                'x' * 100000
            c.send("<message to='alice@localhost' type='chat'><body>%s</body>"
                   "<thread>t1</thread></message>" % esc(body).replace('\r', '&#13;'))
            m = a.expect(lambda e: e.tag == C('message') and e.findtext(C('thread')) == 't1',
                         what='the long message')
            assert m.findtext(C('body')) == body
            sid = sids(m, 'alice@localhost')[0][0]
            fin, res = page(a, fields=[('ids', sid)])
            assert len(res) == 1 and res[0]['body'] == body, repr(res[0]['body'][:80])
            assert res[0]['msg'].findtext(C('thread')) == 't1'
        f.run('content round trip', hard_content)
        f.raise_if_any()
test_mam_raw_paging.timeout = 60


# ---- refusals ----

def test_mam_errors():
    ini = '[mam]\nmax_page_size = 5\nmax_prefs_jids = 3\n'
    with Server(server={'modules': MODULES}, extra_ini=ini) as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        for i in range(3):
            b.message('alice@localhost', 'e%d' % i)
        got = [a.expect(is_message(body='e%d' % i)) for i in range(3)]
        ids = [sids(m)[0][0] for m in got]
        before = {u: archive_files(srv, u) for u in ('alice', 'bob')}
        missing = make_id(id_time(ids[1]) + 1, 5)      # well-formed, not there
        wrong_rand = ids[1][:13] + ('0000' if ids[1][13:] != '0000' else '0001')
        f = Failures()

        def err(what, etype, cond, text=None, **kw):
            def one():
                iq, res = query(a, **kw)
                assert res == [], '%s: results sent with an error: %s' % (what, res)
                assert_error(iq, etype, cond, what, text)
            f.run(what, one)

        for w, rid in (('unknown', missing), ('garbage', 'zzz'), ('random part', wrong_rand),
                       ('too long', ids[0] + 'a')):
            err('after ' + w, 'cancel', 'item-not-found', rsm=[('after', rid)])
            err('before ' + w, 'cancel', 'item-not-found', rsm=[('before', rid)])
            err('after-id ' + w, 'cancel', 'item-not-found', fields=[('after-id', rid)])
            err('before-id ' + w, 'cancel', 'item-not-found', fields=[('before-id', rid)])
            err('ids ' + w, 'cancel', 'item-not-found', fields=[('ids', [ids[0], rid])])
        err('wrong FORM_TYPE', 'modify', 'bad-request', 'FORM_TYPE',
            fields=[('FORM_TYPE', 'urn:xmpp:mam:1')])
        err('bad start', 'modify', 'bad-request', "'start'", fields=[('start', 'yesterday')])
        for bad in ('2024-13-01T00:00:00Z', '2024-02-30T00:00:00Z', '2024-01-01T24:00:00Z',
                    '2024-01-01T00:00:00', '2024-01-01 00:00:00Z', '2024-01-01T00:00:00.Z',
                    '2024-01-01T00:00:00+25:00', '2024-01-01T00:00:00Zjunk'):
            err('bad end ' + bad, 'modify', 'bad-request', "'end'", fields=[('end', bad)])
        err('bad with', 'modify', 'bad-request', "'with'", fields=[('with', 'a@b@c')])
        err('empty with', 'modify', 'bad-request', "'with'", fields=[('with', '')])
        err('two withs', 'modify', 'bad-request', 'one value',
            fields=[('with', ['bob@localhost', 'carol@localhost'])])
        err('field twice', 'modify', 'bad-request', 'twice',
            fields=[('with', 'bob@localhost'), ('with', 'bob@localhost')])
        err('unknown field', 'cancel', 'feature-not-implemented', "'{urn:x}fulltext'",
            fields=[('{urn:x}fulltext', 'hello')])
        err('field without var', 'modify', 'bad-request', "without 'var'",
            raw="<x xmlns='jabber:x:data' type='submit'><field><value>x</value></field></x>")
        err('form type', 'modify', 'bad-request', "'submit'",
            raw="<x xmlns='jabber:x:data' type='form'/>")
        err('include-groupchat', 'modify', 'bad-request', 'boolean',
            fields=[('include-groupchat', 'maybe')])
        err('too many ids', 'modify', 'policy-violation', "'ids'",
            fields=[('ids', ids + ids[:3])])
        for bad in ('-1', 'ten', '', '1e3'):
            err('max %r' % bad, 'modify', 'bad-request', '<max/>', rsm=[('max', bad)])
        err('index abc', 'modify', 'bad-request', '<index/>', rsm=[('index', 'abc')])
        err('after and before', 'modify', 'bad-request', 'together',
            rsm=[('after', ids[0]), ('before', ids[2])])
        err('index and after', 'modify', 'bad-request', '<index/>',
            rsm=[('index', 1), ('after', ids[0])])
        err('empty after', 'modify', 'bad-request', 'needs an id', rsm=[('after', None)])
        err('long queryid', 'modify', 'bad-request', 'queryid', queryid='q' * 257)

        def node():
            rep = a.iq("<iq type='set'><query xmlns='%s' node='urn:xmpp:mucsub:nodes:messages'/>"
                       "</iq>" % NS_MAM)
            assert_error(rep, 'cancel', 'feature-not-implemented', 'node', 'nodes')
        f.run('node', node)

        def others():
            # someone else's archive, the server's, the prefs of another
            rep = a.iq("<iq type='set' to='bob@localhost'><query xmlns='%s'/></iq>" % NS_MAM)
            assert_error(rep, 'auth', 'forbidden', "bob's archive")
            rep = a.iq("<iq type='get' to='bob@localhost'><query xmlns='%s'/></iq>" % NS_MAM)
            assert_error(rep, 'auth', 'forbidden', "bob's form")
            rep = a.iq("<iq type='get' to='bob@localhost'><prefs xmlns='%s'/></iq>" % NS_MAM)
            assert_error(rep, 'auth', 'forbidden', "bob's prefs")
            rep = a.iq("<iq type='set' to='bob@localhost'><prefs xmlns='%s' default='never'/>"
                       "</iq>" % NS_MAM)
            assert_error(rep, 'auth', 'forbidden', "setting bob's prefs")
            rep = a.iq("<iq type='get' to='bob@localhost'><metadata xmlns='%s'/></iq>" % NS_MAM)
            assert_error(rep, 'auth', 'forbidden', "bob's metadata")
            rep = a.iq("<iq type='set' to='localhost'><query xmlns='%s'/></iq>" % NS_MAM)
            assert_error(rep, 'cancel', 'service-unavailable', "the server's archive")
            rep = a.iq("<iq type='set'><metadata xmlns='%s'/></iq>" % NS_MAM)
            assert_error(rep, 'modify', 'bad-request', 'metadata set')
            assert not a.take_all(lambda e: e.tag == C('message')), 'results leaked'
            assert not b.take_all(lambda e: e.tag == C('message')), 'results went to bob'
        f.run('other archives', others)

        def prefs_refused():
            for body, cond, etype, text in (
                    ('<prefs xmlns="%s"/>' % NS_MAM, 'bad-request', 'modify', "'default'"),
                    ('<prefs xmlns="%s" default="sometimes"/>' % NS_MAM, 'bad-request',
                     'modify', "'default'"),
                    ('<prefs xmlns="%s" default="always"><always><jid>a@b@c</jid></always>'
                     '</prefs>' % NS_MAM, 'jid-malformed', 'modify', 'Invalid JID'),
                    ('<prefs xmlns="%s" default="always"><never><jid>a@x</jid><jid>b@x</jid>'
                     '</never><always><jid>c@x</jid><jid>d@x</jid></always></prefs>' % NS_MAM,
                     'policy-violation', 'modify', 'Too many')):
                rep = a.iq("<iq type='set'>%s</iq>" % body)
                assert_error(rep, etype, cond, body, text)
            # three (after removing repeats) is fine
            rep = a.iq("<iq type='set'><prefs xmlns='%s' default='roster'><never>"
                       "<jid>A@X</jid><jid>a@x</jid><jid>b@x/r</jid></never><always>"
                       "<jid>c@x</jid></always></prefs></iq>" % NS_MAM)
            p = rep.find(q(NS_MAM, 'prefs'))
            assert p is not None and p.get('default') == 'roster', dump(rep)
            assert [j.text for j in p.find(q(NS_MAM, 'never'))] == ['a@x', 'b@x/r'], dump(p)
            assert [j.text for j in p.find(q(NS_MAM, 'always'))] == ['c@x'], dump(p)
        assert not os.path.exists(os.path.join(srv.data_path, 'localhost', 'alice',
                                               'mam-prefs'))
        f.run('prefs refused', prefs_refused)
        f.raise_if_any()
        # nothing written by refused requests, only by the last good prefs set
        assert {u: archive_files(srv, u) for u in ('alice', 'bob')} == before
        with open(os.path.join(srv.data_path, 'localhost', 'alice', 'mam-prefs')) as fh:
            assert fh.read() == ('<prefs xmlns="urn:xmpp:mam:2" default="roster" version="1">'
                                 '<always><jid>c@x</jid></always><never><jid>a@x</jid>'
                                 '<jid>b@x/r</jid></never></prefs>\n')
        assert not os.path.exists(os.path.join(srv.data_path, 'localhost', 'bob', 'mam-prefs'))
test_mam_errors.timeout = 60


# ---- XEP-0359 ----

def test_mam_forged_stanza_ids():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        forged = ("<stanza-id xmlns='%s' id='fake-1' by='bob@localhost'/>"
                  "<stanza-id xmlns='%s' id='fake-2' by='BOB@LocalHost'/>"
                  "<stanza-id xmlns='%s' id='carols' by='carol@localhost'/>"
                  "<origin-id xmlns='%s' id='origin-1'/>" % (NS_SID, NS_SID, NS_SID, NS_SID))
        c.message('bob@localhost', 'forged', extra=forged)
        m = b.expect(is_message(body='forged'))
        mine = sids(m, 'bob@localhost')
        assert len(mine) == 1 and mine[0][0] not in ('fake-1', 'fake-2'), dump(m)
        assert sids(m, 'BOB@LocalHost') == [], dump(m)
        assert sids(m, 'carol@localhost') == [], 'carol\'s own claim in her name is ' \
            'removed from what she sends: %s' % dump(m)
        assert m.find(q(NS_SID, 'origin-id')).get('id') == 'origin-1', dump(m)
        fin, res = page(b)
        assert ids_of(res) == [mine[0][0]], (fin, res)
        assert sids(res[0]['msg']) == [], 'forged ids stored: %s' % dump(res[0]['msg'])
        # a stanza-id by someone else stays (XEP-0359 routing rule)
        a.message('bob@localhost', 'other', extra="<stanza-id xmlns='%s' id='x9' "
                  "by='room@conference.example.org'/>" % NS_SID)
        m = b.expect(is_message(body='other'))
        assert sids(m, 'room@conference.example.org') == [('x9', 'room@conference.example.org')]
        assert len(sids(m, 'bob@localhost')) == 1, dump(m)
        # not archived (no body): forged ids go all the same, none is added
        c.send("<message to='bob@localhost' type='chat'><active "
               "xmlns='http://jabber.org/protocol/chatstates'/>%s</message>" % forged)
        m = b.expect(lambda e: e.tag == C('message') and e.find(
            '{http://jabber.org/protocol/chatstates}active') is not None, what='chat state')
        assert sids(m, 'bob@localhost') == [] and sids(m, 'BOB@LocalHost') == [], dump(m)
        # error messages are never archived, and still cleaned
        a.send("<message to='bob@localhost/pc' type='error'><body>err</body>"
               "<error type='cancel'><item-not-found xmlns='%s'/></error>%s</message>"
               % (NS_STANZAS, forged))
        m = b.expect(is_message(body='err'))
        assert sids(m, 'bob@localhost') == [], dump(m)
        assert page(b)[0]['count'] == 2


# ---- what goes in ----

def test_mam_what_is_archived():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        cases = [
            # (type, inner xml, archived?)
            ('chat', '<body>chat</body>', True),
            ('normal', '<body>normal</body>', True),
            (None, '<body>no type</body>', True),
            ('headline', '<body>headline</body>', False),
            ('chat', "<body>no-store</body><no-store xmlns='%s'/>" % NS_HINTS, False),
            ('chat', "<body>no-permanent</body><no-permanent-store xmlns='%s'/>" % NS_HINTS,
             False),
            ('chat', "<active xmlns='http://jabber.org/protocol/chatstates'/>", False),
            ('chat', "<received xmlns='urn:xmpp:receipts' id='x'/>", False),
            ('chat', "<store xmlns='%s'/><encrypted xmlns='eu.siacs.conversations.axolotl'/>"
             % NS_HINTS, True),
            ('chat', '<subject>subject only</subject>', False),
        ]
        for n, (t, inner, _) in enumerate(cases):
            a.send("<message to='bob@localhost/pc'%s id='w%d'>%s</message>"
                   % ('' if t is None else " type='%s'" % t, n, inner))
        got = {}
        for n in range(len(cases)):
            m = b.expect(lambda e, n=n: e.tag == C('message') and e.get('id') == 'w%d' % n,
                         what='message w%d' % n)
            got[n] = sids(m, 'bob@localhost')
        for n, (t, inner, want) in enumerate(cases):
            assert bool(got[n]) == want, 'case %d %s %s: stanza ids %s' % (n, t, inner, got[n])
        want_ids = [got[n][0][0] for n in range(len(cases)) if cases[n][2]]
        fin, res = page(b)
        assert ids_of(res) == want_ids, (res, want_ids)
        fin, res = page(a)
        assert [x['msg'].get('id') for x in res] == [
            'w%d' % n for n in range(len(cases)) if cases[n][2]], res
        # group chat and errors are bounced or dropped, never archived
        a.send("<message to='bob@localhost' type='groupchat'><body>gc</body></message>")
        a.send("<message to='bob@localhost/pc' type='error'><body>err</body></message>")
        a.sync()
        b.sync()
        assert page(b)[0]['count'] == len(want_ids)
        assert page(a)[0]['count'] == len(want_ids)


def test_mam_offline_self_and_restart():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice', 'pc')
        a.message('bob@localhost', 'while you were out')
        a.message('bob@localhost/gone', 'to a resource that is not there')
        a.sync()
        # to oneself: archived once, as it comes in
        a.message('alice@localhost', 'note to self')
        m = a.expect(is_message(body='note to self'))
        self_id = sids(m, 'alice@localhost')[0][0]
        fin, res = page(a, fields=[('with', 'alice@localhost')])
        assert ids_of(res) == [self_id] and fin['count'] == 1, (fin, res)
        b_files = loose(srv, 'bob')
        assert len(b_files) == 2, b_files

        b = client(srv, 'bob', 'pc')
        got = [b.expect(is_message(body=t)) for t in ('while you were out',
                                                      'to a resource that is not there')]
        offline_ids = [sids(m, 'bob@localhost')[0][0] for m in got]
        for m in got:
            assert m.find(q(NS_DELAY, 'delay')) is not None, dump(m)
        fin, res = page(b)
        assert ids_of(res) == offline_ids, (res, offline_ids)
        assert ['m.' + i for i in offline_ids] == b_files

        # everything survives a restart, ids and all
        srv.stop()
        srv.start()
        b = client(srv, 'bob', 'pc')
        fin, res = page(b)
        assert ids_of(res) == offline_ids and fin['count'] == 2, (fin, res)
        a = client(srv, 'alice', 'pc')
        fin, res = page(a)
        assert fin['count'] == 3 and res[2]['id'] == self_id, (fin, res)
        # new ids keep growing after the restart
        a.message('bob@localhost/pc', 'after restart')
        m = b.expect(is_message(body='after restart'))
        assert sids(m, 'bob@localhost')[0][0] > offline_ids[-1]


def test_mam_unacked_messages_rerouted_once():
    # XEP-0198: what a lost session did not acknowledge is routed again;
    # it is in the archive already and keeps its id.
    ns_sm = 'urn:xmpp:sm:3'
    with Server(server={'modules': MODULES + ', smacks'}) as srv:
        pc = client(srv, 'bob', 'pc')
        phone = client(srv, 'bob', 'phone')
        phone.send("<enable xmlns='%s'/>" % ns_sm)
        phone.expect('{%s}enabled' % ns_sm)
        a = client(srv, 'alice', 'pc')
        a.message('bob@localhost/phone', 'unacked')
        m = phone.expect(is_message(body='unacked'))
        sid = sids(m, 'bob@localhost')
        assert len(sid) == 1, dump(m)
        phone.close()
        m = pc.expect(is_message(body='unacked'), timeout=10)
        assert sids(m, 'bob@localhost') == sid, dump(m)
        fin, res = page(pc)
        assert ids_of(res) == [sid[0][0]] and fin['count'] == 1, (fin, res)
        # the same id on other content is a forgery: replaced, archived
        c = client(srv, 'carol', 'pc')
        c.message('bob@localhost/pc', 'imposter', extra="<stanza-id xmlns='%s' id='%s' "
                  "by='bob@localhost'/>" % (NS_SID, sid[0][0]))
        m = pc.expect(is_message(body='imposter'))
        new = sids(m, 'bob@localhost')
        assert len(new) == 1 and new != sid, dump(m)
        assert ids_of(page(pc)[1]) == [sid[0][0], new[0][0]]


def test_mam_prefs():
    with Server(server={'modules': MODULES},
                extra_ini='[mam]\ndefault_policy = never\n') as srv:
        a = client(srv, 'alice', 'pc', roster=True)
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')

        def talk(tag):
            """b and c each send alice one message and get one back;
            returns alice's archive count growth per side."""
            before = page(a)[0]['count']
            for r, name in ((b, 'bob'), (c, 'carol')):
                r.message('alice@localhost/pc', '%s from %s' % (tag, name))
                a.expect(is_message(body='%s from %s' % (tag, name)))
                a.message('%s@localhost/pc' % name, '%s to %s' % (tag, name))
                r.expect(is_message(body='%s to %s' % (tag, name)))
            fin, res = page(a)
            new = res[before:] if fin['count'] > before else []
            return sorted(x['body'] for x in new)

        def prefs(xml_inner=None, default=None):
            if xml_inner is None and default is None:
                rep = a.iq("<iq type='get'><prefs xmlns='%s'/></iq>" % NS_MAM)
            else:
                rep = a.iq("<iq type='set'><prefs xmlns='%s' default='%s'>%s</prefs></iq>"
                           % (NS_MAM, default, xml_inner or ''))
            p = rep.find(q(NS_MAM, 'prefs'))
            assert p is not None, dump(rep)
            return (p.get('default'), [j.text for j in p.find(q(NS_MAM, 'always'))],
                    [j.text for j in p.find(q(NS_MAM, 'never'))])

        # the configured default, nothing stored yet
        assert prefs() == ('never', [], [])
        assert talk('t1') == []
        assert prefs(default='always') == ('always', [], [])
        assert talk('t2') == ['t2 from bob', 't2 from carol', 't2 to bob', 't2 to carol']
        assert prefs('<never><jid>bob@localhost</jid></never>', 'always') == \
            ('always', [], ['bob@localhost'])
        assert talk('t3') == ['t3 from carol', 't3 to carol']
        # a full JID in a list matches that resource only
        assert prefs('<always><jid>carol@localhost/other</jid><jid>bob@localhost/pc</jid>'
                     '</always>', 'never') == \
            ('never', ['carol@localhost/other', 'bob@localhost/pc'], [])
        assert talk('t4') == ['t4 from bob', 't4 to bob']
        # never wins over always
        assert prefs('<always><jid>bob@localhost</jid></always><never><jid>bob@localhost</jid>'
                     '</never>', 'always')[0] == 'always'
        assert talk('t5') == ['t5 from carol', 't5 to carol']
        # roster: bob is in alice's roster, carol is not
        rep = a.iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/>"
                   "</query></iq>")
        assert rep.get('type') == 'result', dump(rep)
        assert prefs(default='roster') == ('roster', [], [])
        assert talk('t6') == ['t6 from bob', 't6 to bob']

        # stored, and read back after a restart; bob never set any
        path = os.path.join(srv.data_path, 'localhost', 'alice', 'mam-prefs')
        with open(path) as fh:
            assert fh.read() == ('<prefs xmlns="urn:xmpp:mam:2" default="roster" version="1">'
                                 '<always/><never/></prefs>\n')
        assert not os.path.exists(os.path.join(srv.data_path, 'localhost', 'bob', 'mam-prefs'))
        srv.stop()
        srv.start()
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        c = client(srv, 'carol', 'pc')
        assert prefs() == ('roster', [], [])

        # a file of a newer format is not guessed at: nothing is archived
        with open(path, 'w') as fh:
            fh.write('<prefs xmlns="urn:xmpp:mam:2" default="always" version="2"/>\n')
        assert talk('t7') == []
        assert srv.wait_log('preferences of alice@localhost have format version 2')
        rep = a.iq("<iq type='get'><prefs xmlns='%s'/></iq>" % NS_MAM)
        assert_error(rep, 'cancel', 'internal-server-error', 'unreadable prefs')
test_mam_prefs.timeout = 60


# ---- retention, bounds, crashes ----

def test_mam_retention_sweep_and_max_messages():
    users = {'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw',
             'carol@localhost': 'carol-pw', 'dave@localhost': 'dave-pw'}
    with Server(server={'modules': MODULES}, users=users,
                extra_ini='[mam]\nexpires_after = 1w\nmax_messages = 20\n') as srv:
        srv.stop()
        now = now_us()
        day = 86400 * 1000000
        old = history(30, now - 30 * day, 5 * day)            # a month ago: gone
        straddle = history(10, now - 8 * day + 3600000000, 2 * day)  # half expired
        recent = history(5, now - 2 * day, day)                # kept
        seed(srv, 'dave', old + straddle + recent, pack=10, leave_loose=2)
        seed(srv, 'carol', old[:10], pack=10)
        assert len(archive_files(srv, 'dave')) == 5 + 2
        srv.start()
        # the sweep at start-up removes what expired whole, untouched
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and archive_files(srv, 'carol'):
            time.sleep(0.1)
        assert archive_files(srv, 'carol') == [], archive_files(srv, 'carol')
        d = client(srv, 'dave', 'pc')
        fin, res = page(d)
        keep = [r for r in straddle + recent if id_time(r[0]) >= now - 7 * day]
        assert ids_of(res) == [r[0] for r in keep], (len(res), len(keep))
        assert fin['count'] == len(keep) == 10, fin
        files = archive_files(srv, 'dave')
        assert not any(id_time(f.split('.')[-2 if f.startswith('p.') else 1]) < now - 7 * day
                       for f in files), files
        # an expired id is no longer in the archive
        iq, _ = query(d, rsm=[('after', old[-1][0])])
        assert_error(iq, 'cancel', 'item-not-found', 'expired id')

        # max_messages: the oldest go
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        for i in range(26):
            a.message('bob@localhost/pc', 'n%02d' % i)
        got = [b.expect(is_message(body='n%02d' % i)) for i in range(26)]
        ids = [sids(m, 'bob@localhost')[0][0] for m in got]
        fin, res = page(b)
        assert ids_of(res) == ids[6:] and fin['count'] == 20, (fin, ids_of(res))
        assert len(loose(srv, 'bob')) == 20
        fin, res = page(a)
        assert fin['count'] == 20 and res[0]['body'] == 'n06', fin
        iq, _ = query(b, fields=[('ids', ids[5])])
        assert_error(iq, 'cancel', 'item-not-found', 'trimmed id')
test_mam_retention_sweep_and_max_messages.timeout = 60


def test_mam_trim_rewrites_packs():
    # A full archive of packs: trimming rewrites the oldest pack smaller.
    with Server(server={'modules': MODULES},
                extra_ini='[mam]\nmax_messages = 300\nexpires_after = never\n') as srv:
        srv.stop()
        recs = history(300, now_us() - 3600 * 1000000, 3000 * 1000000)
        seed(srv, 'alice', recs)
        assert len(packs(srv, 'alice')) == 2 and len(loose(srv, 'alice')) == 0
        srv.start()
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        b.message('alice@localhost', 'one more')
        m = a.expect(is_message(body='one more'))
        new_id = sids(m, 'alice@localhost')[0][0]
        # 301 > 300: down to 297 (1% slack), the oldest 4 gone
        fin, res = page(a, rsm=[('max', 5), ('before', None)])
        assert fin['count'] == 297 and res[-1]['id'] == new_id, fin
        fin, res = page(a, rsm=[('max', 2)])
        assert ids_of(res) == [recs[4][0], recs[5][0]], (ids_of(res), recs[4][0])
        p = packs(srv, 'alice')
        assert len(p) == 2 and p[0] == 'p.%s.%s.252' % (recs[4][0], recs[255][0]), p


def test_mam_live_packing_and_crash_leftovers():
    with Server(server={'modules': MODULES}) as srv:
        a = client(srv, 'alice', 'pc')
        b = client(srv, 'bob', 'pc')
        n = 300
        for i in range(n):
            a.send("<message to='bob@localhost/pc' type='chat' id='p%d'><body>p%03d</body>"
                   "</message>" % (i, i))
        got = [b.expect(lambda e, i=i: e.tag == C('message') and e.get('id') == 'p%d' % i,
                        timeout=30, what='message %d' % i) for i in range(n)]
        ids = [sids(m, 'bob@localhost')[0][0] for m in got]
        for u in ('alice', 'bob'):
            assert len(packs(srv, u)) == 1 and len(loose(srv, u)) == n - 256, \
                (u, archive_files(srv, u)[:3], len(archive_files(srv, u)))
        assert packs(srv, 'bob')[0] == 'p.%s.%s.256' % (ids[0], ids[255])
        fin, res = page(b, rsm=[('max', 50), ('after', ids[200])])
        assert ids_of(res) == ids[201:251] and fin['index'] == '201', fin

        # acknowledged means on disk: a hard kill loses nothing
        a.message('bob@localhost/pc', 'last words')
        m = b.expect(is_message(body='last words'))
        last_id = sids(m, 'bob@localhost')[0][0]
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        srv.expected_status = None
        srv.stop()

        # what a crash while packing leaves: a pack and its loose files,
        # and two overlapping packs
        d = archive_dir(srv, 'bob')
        p0 = os.path.join(d, packs(srv, 'bob')[0])
        with open(p0) as fh:
            lines = fh.read().splitlines(True)[1:]
        for line in lines[:10]:
            write_file(os.path.join(d, 'm.' + line[:17]), HEADER + line)
        first, last = lines[100][:17], lines[180][:17]
        write_file(os.path.join(d, 'p.%s.%s.81' % (first, last)),
                   HEADER + ''.join(lines[100:181]))
        srv.expected_status = 0
        srv.start()
        b = client(srv, 'bob', 'pc')
        fin, res = page(b, rsm=[('max', 250)])
        assert fin['count'] == n + 1, fin
        got_ids = ids_of(res)
        fin, more = page(b, rsm=[('max', 250), ('after', got_ids[-1])])
        got_ids += ids_of(more)
        assert fin['complete'] == 'true', fin
        assert got_ids == ids + [last_id], 'duplicates or gaps after the crash'
        # the leftovers were merged away by the day's maintenance
        fs = archive_files(srv, 'bob')
        assert len([f for f in fs if f.startswith('m.')]) == n + 1 - 256, len(fs)
        assert len(packs(srv, 'bob')) == 1, packs(srv, 'bob')
        assert srv.wait_log('overlapping archive files of bob@localhost merged')
test_mam_live_packing_and_crash_leftovers.timeout = 90


def test_mam_month_sync_timing():
    """A phone syncing a month of history: 10,000 messages in pages of 250,
    forwards from the start and backwards from the end."""
    with Server(server={'modules': MODULES},
                extra_ini='[mam]\nexpires_after = 1y\n') as srv:
        srv.stop()
        n = 10000
        recs = history(n, now_us() - 31 * 86400 * 1000000, 30 * 86400 * 1000000)
        seed(srv, 'alice', recs, leave_loose=n % 256)
        srv.start()
        a = client(srv, 'alice', 'phone')
        want = [r[0] for r in recs]

        t0 = time.monotonic()
        got, after, pages = [], None, 0
        while True:
            rsm = [('max', 250)] + ([('after', after)] if after else [])
            fin, res = page(a, rsm=rsm, queryid='sync%d' % pages)
            pages += 1
            got += ids_of(res)
            if fin['complete'] == 'true':
                break
            after = fin['last']
        forward = time.monotonic() - t0
        assert got == want and pages == 40, (len(got), pages)
        assert res[-1]['body'] == 'message 9999 of 10000', res[-1]

        t0 = time.monotonic()
        got, before = [], ''
        while True:
            fin, res = page(a, rsm=[('max', 250), ('before', before or None)])
            got = ids_of(res) + got
            if fin['complete'] == 'true':
                break
            before = fin['first']
        backward = time.monotonic() - t0
        assert got == want, len(got)
        print('    month sync: forward %.2fs, backward %.2fs' % (forward, backward))
        assert forward < 6 and backward < 6, (forward, backward)

        # a filtered count reads every pack: still quick
        t0 = time.monotonic()
        fin, res = page(a, fields=[('with', 'bob@localhost/phone')], rsm=[('max', 10)])
        assert fin['count'] == n // 2 and res[0]['id'] == want[1], fin
        assert time.monotonic() - t0 < 3
test_mam_month_sync_timing.timeout = 90


def test_mam_damaged_and_foreign_files():
    with Server(server={'modules': MODULES},
                extra_ini='[mam]\nexpires_after = never\n') as srv:
        srv.stop()
        t = now_us() - 3600 * 1000000
        recs = history(6, t, 600 * 1000000)
        seed(srv, 'alice', recs[:3], pack=3)
        d = archive_dir(srv, 'alice')
        # a loose file of a newer format: left alone, not read
        newer = os.path.join(d, 'm.' + recs[3][0])
        write_file(newer, "xmppd-mam version='2'\n" + rec_line(*recs[3]))
        # a damaged line and an unparsable message in a loose file
        write_file(os.path.join(d, 'm.' + recs[4][0]), HEADER + 'garbage\n' + rec_line(
            recs[4][0], 'i', 'bob@localhost', '<message xmlns="jabber:client"><body>x'))
        write_file(os.path.join(d, 'stray-file'), 'hello')
        srv.start()
        a = client(srv, 'alice', 'pc')
        fin, res = page(a)
        assert ids_of(res) == [r[0] for r in recs[:3]] + [recs[4][0]], ids_of(res)
        assert res[3]['msg'] is None, 'a damaged message is sent without it'
        assert srv.wait_log('has another format version; this xmppd reads version 1')
        assert srv.wait_log('1 damaged line(s) skipped')
        assert os.path.exists(newer) and os.path.exists(os.path.join(d, 'stray-file'))


def test_mam_config_checked():
    srv = Server(start=False, server={'modules': MODULES})
    try:
        for ini, msg in (
                ('expires_after = 1 week', '[mam] expires_after must be'),
                ('expires_after = 0', '[mam] expires_after must be'),
                ('expires_after = 101y', 'at most 100 years'),
                ('expires_after = 2q', '[mam] expires_after must be'),
                ('max_messages = 0', '[mam] max_messages must be a whole number from 1 to '
                 '100000000'),
                ('max_messages = lots', "not 'lots'"),
                ('max_page_size = 1001', 'max_page_size must be a whole number from 1 to 1000'),
                ('max_prefs_jids = -1', 'max_prefs_jids must be'),
                ('default_policy = sometimes', '[mam] default_policy must be always, never '
                 'or roster'),
                ('archive_expires_after = 1w', "unknown key 'archive_expires_after' in [mam] "
                 "(known: expires_after, max_messages, max_page_size, default_policy, "
                 "max_prefs_jids)")):
            srv.extra_ini = '[mam]\n%s\n' % ini
            srv.write_config()
            r = srv.cli('check', 'config')
            assert r.returncode == 2, '%s: exit %d: %s' % (ini, r.returncode, r.stderr)
            assert msg in r.stderr, '%s: %s' % (ini, r.stderr)
            lines = [x.rstrip() for x in srv.config_text().splitlines()]
            assert ':%d:' % (lines.index(ini.rstrip()) + 1) in r.stderr, \
                '%s: no line number: %s' % (ini, r.stderr)
        srv.extra_ini = ('[mam]\nexpires_after = never\nmax_messages = 100000000\n'
                         'max_page_size = 1000\nmax_prefs_jids = 0\ndefault_policy = roster\n')
        srv.write_config()
        r = srv.cli('check', 'config')
        assert r.returncode == 0, r.stderr
        for v in ('3600', '12h', '30d', '2w', '6m', '1y', '100y'):
            srv.extra_ini = '[mam]\nexpires_after = %s\n' % v
            srv.write_config()
            r = srv.cli('check', 'config')
            assert r.returncode == 0, (v, r.stderr)
    finally:
        srv.stop()
