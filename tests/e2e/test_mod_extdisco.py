"""
Module external_services: XEP-0215 external service discovery.  STUN and
TURN servers from [external_services] are listed for local accounts; with a
secret, TURN entries carry time-limited credentials that are recomputed
here (username EXPIRY:JID, password base64(HMAC-SHA1(secret, username))).
Raw XML covers filters, the credentials request, wrong types, foreign
requests and bad settings, each with its exact answer.
"""

import base64
import calendar
import hashlib
import hmac
import time

import rawxmpp as R
from lib import Server
from rawxmpp import dump, q, stanza_error
from test_mod_disco import assert_unchanged, snapshot

NS = 'urn:xmpp:extdisco:2'
NS_INFO = 'http://jabber.org/protocol/disco#info'
MODULES = 'roster, saslauth, tls, disco, ping, offline, external_services'
SECRET = 'correct horse battery staple'

SETTINGS = ('[external_services]\n'
            'stun = stun.example.org, [2001:db8::3]:3479\n'
            'turn = turn.example.org:3478, turn.example.org:3478/tcp\n'
            'turns = TURN.example.org\n'
            'secret = %s\n'
            'ttl = 600\n' % SECRET)


def services_iq(r, inner="<services xmlns='%s'/>" % NS, type='get', to='localhost'):
    return r.iq("<iq type='%s' to='%s'>%s</iq>" % (type, to, inner))


def entries(reply, name='services'):
    assert reply.get('type') == 'result', dump(reply)
    el = reply.find(q(NS, name))
    assert el is not None, dump(reply)
    return [dict(s.attrib) for s in el.findall(q(NS, 'service'))]


def check_credentials(e, jid, ttl):
    user = e.pop('username')
    pw = e.pop('password')
    expires = e.pop('expires')
    assert e.pop('restricted') == '1'
    stamp, who = user.split(':', 1)
    assert who == jid, user
    now = time.time()
    assert now + ttl - 10 <= int(stamp) <= now + ttl + 2, (user, now)
    want = base64.b64encode(hmac.new(SECRET.encode(), user.encode(), hashlib.sha1).digest())
    assert pw == want.decode(), 'password %s, computed %s' % (pw, want)
    assert calendar.timegm(time.strptime(expires, '%Y-%m-%dT%H:%M:%SZ')) == int(stamp), expires


def test_services_and_turn_credentials():
    with Server(server={'modules': MODULES}, extra_ini=SETTINGS) as srv:
        r = R.client(srv, 'alice')
        info = r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_INFO)
        assert NS in {f.get('var') for f in info.iter(q(NS_INFO, 'feature'))}, dump(info)
        before = snapshot(srv)
        got = entries(services_iq(r))
        assert len(got) == 5, got
        for e in got[2:]:
            check_credentials(e, 'alice@localhost', 600)
        assert got == [
            {'type': 'stun', 'host': 'stun.example.org', 'port': '3478', 'transport': 'udp'},
            {'type': 'stun', 'host': '[2001:db8::3]', 'port': '3479', 'transport': 'udp'},
            {'type': 'turn', 'host': 'turn.example.org', 'port': '3478', 'transport': 'udp'},
            {'type': 'turn', 'host': 'turn.example.org', 'port': '3478', 'transport': 'tcp'},
            {'type': 'turns', 'host': 'turn.example.org', 'port': '5349', 'transport': 'tcp'},
        ], got
        # Filtered by type.
        got = entries(services_iq(r, "<services xmlns='%s' type='stun'/>" % NS))
        assert [e['host'] for e in got] == ['stun.example.org', '[2001:db8::3]'], got
        assert entries(services_iq(r, "<services xmlns='%s' type='nothing'/>" % NS)) == []
        # Fresh credentials for one service.
        got = entries(services_iq(r, "<credentials xmlns='%s'><service host='turn.example.org' "
                                     "type='turns'/></credentials>" % NS), 'credentials')
        assert len(got) == 1, got
        check_credentials(got[0], 'alice@localhost', 600)
        assert got[0] == {'type': 'turns', 'host': 'turn.example.org', 'port': '5349',
                          'transport': 'tcp'}, got
        # bob gets his own.
        b = R.client(srv, 'bob')
        for e in entries(services_iq(b))[2:]:
            check_credentials(e, 'bob@localhost', 600)
        b.close()
        # Errors.
        for what, inner, err in (
                ('STUN needs no credentials',
                 "<credentials xmlns='%s'><service host='stun.example.org' type='stun'/>"
                 "</credentials>" % NS, ('cancel', 'item-not-found')),
                ('unknown host', "<credentials xmlns='%s'><service host='x.example' "
                 "type='turn'/></credentials>" % NS, ('cancel', 'item-not-found')),
                ('wrong port', "<credentials xmlns='%s'><service host='turn.example.org' "
                 "type='turn' port='1'/></credentials>" % NS, ('cancel', 'item-not-found')),
                ('no service', "<credentials xmlns='%s'/>" % NS, ('modify', 'bad-request')),
                ('no type', "<credentials xmlns='%s'><service host='turn.example.org'/>"
                 "</credentials>" % NS, ('modify', 'bad-request'))):
            rep = services_iq(r, inner)
            assert rep.get('type') == 'error' and stanza_error(rep) == err, (what, dump(rep))
        rep = services_iq(r, type='set')
        assert stanza_error(rep) == ('modify', 'bad-request'), dump(rep)
        # To the account itself it is still the server's question (RFC 6120 10.3.3).
        rep = services_iq(r, to='alice@localhost')
        assert len(entries(rep)) == 5, dump(rep)
        rep = services_iq(r, to='bob@localhost')
        assert rep.get('type') == 'error', 'asked on bob\'s behalf: %s' % dump(rep)
        assert_unchanged(before, snapshot(srv), 'extdisco requests')
        r.close()


def test_without_secret_no_credentials():
    ini = '[external_services]\nturn = turn.example.org\n'
    with Server(server={'modules': MODULES}, extra_ini=ini) as srv:
        r = R.client(srv, 'alice')
        got = entries(services_iq(r))
        assert got == [{'type': 'turn', 'host': 'turn.example.org', 'port': '3478',
                        'transport': 'udp'}], got
        rep = services_iq(r, "<credentials xmlns='%s'><service host='turn.example.org' "
                             "type='turn'/></credentials>" % NS)
        assert stanza_error(rep) == ('cancel', 'item-not-found'), dump(rep)
        r.close()


def test_module_off_and_bad_settings():
    with Server(extra_ini=SETTINGS) as srv:
        r = R.client(srv, 'alice')
        rep = services_iq(r)
        assert stanza_error(rep) == ('cancel', 'service-unavailable'), dump(rep)
        r.close()
    for key, value in (('turn', 'turn.example.org:0'), ('turn', 'turn.example.org:70000'),
                       ('turn', 'bad host'), ('stun', 'a.example/sctp'), ('stun', 'a.example,,b'),
                       ('stun', ','.join('s%d.example' % i for i in range(17))),
                       ('secret', 'short'), ('ttl', '10'), ('ttl', 'day'),
                       ('servers', 'x')):
        srv = Server(start=False, server={'modules': MODULES},
                     extra_ini='[external_services]\n%s = %s\n' % (key, value))
        res = srv.cli('check', 'config')
        out = res.stdout + res.stderr
        # "FILE:LINE: reason", the reason naming the section and the key.
        assert res.returncode == 2 and 'xmppd.ini:' in out and \
            '[external_services]' in out and key in out, \
            '%s = %s: %d %s' % (key, value, res.returncode, out)
        srv.cleanup()
