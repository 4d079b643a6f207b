"""
Federation with a real Prosody 0.12 (Debian's package) on loopback: xmppd
serves a.test (alice), Prosody serves b.test (bob); a dnsmasq publishes the
SRV records of both and is the resolver of both servers (xmppd through
[server] dns_servers, Prosody through libunbound's forwarder, see
s2s_prosody_peer.py).  Every scenario runs in both directions.

- dialback: certificates that neither side trusts (self-signed, or from a CA
  nobody trusts); subscription, presence, chat, IQs; both logs say dialback.
- SASL EXTERNAL: certificates from a throwaway CA both trust, Prosody with
  s2s_secure_auth: xmppd -> Prosody authenticates with EXTERNAL, and so does
  Prosody -> xmppd (xmppd offers EXTERNAL to peers it trusts); also with
  s2s_secure_auth on both sides, and with a ca_file as large as a real trust
  store.
- s2s_secure_auth on xmppd with a Prosody certificate it does not trust:
  alice's messages bounce with remote-server-not-found, xmppd's log says
  why, and nothing from b.test gets in either.
- robustness: stanza content as Prosody serializes it, first contact from
  both sides at once, restarts of either server, domains the peer does not
  serve, idle streams closed without losing what the peer sent meanwhile
  and reopened, a busy stream kept open.

Needs Debian's prosody and lua-unbound (s2s_prosody_peer.missing() says
what is absent), dnsmasq and python3-cryptography.  About a minute in all,
half of it in the two tests that wait out s2s_idle_timeout.
"""

import contextlib
import os
import tempfile
import time

from cryptography.hazmat.primitives import serialization

from lib import Server, free_port, make_cert
from rawxmpp import Raw, C, NS_SASL, q, dump
from s2s_prosody_peer import ProsodyPeer
from test_ops import CA
from test_s2s import Dns

WAIT = 15           # one s2s round trip, connection set-up included
SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'


@contextlib.contextmanager
def _federation(tmp, xmppd_tls=None, xmppd_server=None, xmppd_limits=None,
                prosody_cert=None, prosody_ca=None, prosody_secure=False,
                prosody_modules=()):
    """dnsmasq, xmppd for a.test and Prosody for b.test, all running;
    yields (xmppd Server, ProsodyPeer) and stops everything afterwards.
    prosody_cert is (crt, key), self-signed when None."""
    sa, sb, cb = free_port(), free_port(), free_port()
    # c.test points at Prosody and d.test at xmppd; neither serves them.
    dns = Dns(srv=[('_xmpp-server._tcp.a.test', 'xmpp-a.test', sa),
                   ('_xmpp-server._tcp.b.test', 'xmpp-b.test', sb),
                   ('_xmpp-server._tcp.c.test', 'xmpp-b.test', sb),
                   ('_xmpp-server._tcp.d.test', 'xmpp-a.test', sa)],
              hosts=[('xmpp-a.test', '127.0.0.1'), ('xmpp-b.test', '127.0.0.1')])
    b = None
    try:
        server = {'s2s_ports': sa, 'dns_servers': '127.0.0.1:%d' % dns.port,
                  'modules': 'roster, saslauth, tls, disco, ping, offline'}
        server.update(xmppd_server or {})
        limits = {'s2s_timeout': 20}
        limits.update(xmppd_limits or {})
        a = Server(hosts=('a.test',), users={'alice@a.test': 'alice-pw'}, server=server,
                   tls=xmppd_tls, limits=limits, start=False)
        if prosody_cert is None:
            prosody_cert = (os.path.join(tmp, 'b-self.crt'), os.path.join(tmp, 'b-self.key'))
            make_cert(prosody_cert[0], prosody_cert[1], ('b.test',))
        b = ProsodyPeer('b.test', users={'bob': 'bob-pw'}, s2s_port=sb, c2s_port=cb,
                        dns_port=dns.port, cert=prosody_cert[0], key=prosody_cert[1],
                        cafile=prosody_ca, secure_auth=prosody_secure,
                        modules=prosody_modules)
        a.start()
        with a, b:
            yield a, b
            bad = b.problems()
            assert not bad, 'Prosody reported errors:\n' + '\n'.join(bad[:20])
    finally:
        if b is not None:
            b.stop()
            b.cleanup()
        dns.stop()


def _tmp():
    return tempfile.TemporaryDirectory(prefix='xmppd-s2sp-')


def _ca_file(ca, path):
    with open(path, 'wb') as f:
        f.write(ca.cert.public_bytes(serialization.Encoding.PEM))
    return path


def _login(port, user, pw, domain, resource):
    """STARTTLS, PLAIN, bind, roster, initial presence; the echo of that
    presence is dropped, any other presence stays queued."""
    r = Raw(port, timeout=WAIT)
    r.open(to=domain)
    r.starttls()
    el = r.auth_plain(user, pw)
    assert el.tag == q(NS_SASL, 'success'), '%s@%s: %s' % (user, domain, dump(el))
    jid = r.bind(resource)
    # Asking for the roster makes the session "interested" (RFC 6121 2.1.6):
    # Prosody gives subscription presence and roster pushes only to those.
    r.roster_get()
    r.send('<presence/>')
    reply = r.iq("<iq type='get' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>" % domain)
    assert reply.get('type') == 'result', dump(reply)
    r.take_all(lambda e: e.tag == C('presence') and e.get('from') == jid)
    return r


def _alice(a, resource='pc'):
    return _login(a.c2s_port, 'alice', 'alice-pw', 'a.test', resource)


def _bob(b, resource='phone'):
    return _login(b.c2s_port, 'bob', 'bob-pw', 'b.test', resource)


def _is_msg(body):
    return lambda e: e.tag == C('message') and e.findtext(C('body')) == body


def _is_error(e):
    return e.tag == C('message') and e.get('type') == 'error'


def _presence(frm, typ=None):
    return lambda e: (e.tag == C('presence') and e.get('from') == frm
                      and e.get('type') == typ)


def _error_conditions(el):
    err = el.find(C('error'))
    assert err is not None, dump(el)
    return [c.tag.split('}')[1] for c in err if c.tag.split('}')[1] != 'text']


def _chat(alice, bob, n=3, tag=''):
    """Messages both ways, to full and bare JIDs, with stamped senders."""
    for i in range(n):
        to = 'bob@b.test/phone' if i % 2 else 'bob@b.test'
        alice.send("<message to='%s' type='chat' id='a%s%d'><body>hi%s %d</body></message>"
                   % (to, tag, i, tag, i))
        m = bob.expect(_is_msg('hi%s %d' % (tag, i)), timeout=WAIT)
        assert m.get('from') == 'alice@a.test/pc', m.attrib
        assert m.get('to') in ('bob@b.test/phone', 'bob@b.test'), m.attrib
        to = 'alice@a.test' if i % 2 else 'alice@a.test/pc'
        bob.send("<message to='%s' type='chat' id='b%s%d'><body>re%s %d &amp; &lt;ok&gt;"
                 "</body></message>" % (to, tag, i, tag, i))
        m = alice.expect(_is_msg('re%s %d & <ok>' % (tag, i)), timeout=WAIT)
        assert m.get('from') == 'bob@b.test/phone', m.attrib


def _subscribe(frm, frm_jid, to, to_jid, to_full):
    """frm asks to see to's presence, to approves; frm then gets to's
    current presence from to's server."""
    frm.send("<presence to='%s' type='subscribe'/>" % to_jid)
    req = to.expect(lambda e: e.tag == C('presence') and e.get('type') == 'subscribe',
                    timeout=WAIT)
    assert req.get('from') == frm_jid, req.attrib
    to.send("<presence to='%s' type='subscribed'/>" % frm_jid)
    frm.expect(_presence(to_jid, 'subscribed'), timeout=WAIT)
    frm.expect(_presence(to_full), timeout=WAIT)


def _mutual(alice, bob):
    _subscribe(alice, 'alice@a.test', bob, 'bob@b.test', 'bob@b.test/phone')
    _subscribe(bob, 'bob@b.test', alice, 'alice@a.test', 'alice@a.test/pc')


def _assert_nothing(r, domain, pred):
    """Nothing matching pred has come: a ping to the user's own server
    (Raw.sync() pings 'localhost', a remote domain here) orders the check
    after everything the server had for us."""
    reply = r.iq("<iq type='get' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>" % domain)
    assert reply.get('type') == 'result', dump(reply)
    got = r.take_all(pred)
    assert not got, [dump(e) for e in got]


def _has_line(log, *parts):
    """Some line of log contains every part (Prosody serializes attributes
    in no fixed order, so a stanza is matched piece by piece)."""
    return any(all(p in line for p in parts) for line in log.splitlines())


def _assert_dialback_both_ways(a, b):
    alog, blog = a.log(), b.log()
    # xmppd: Prosody's stream in was verified by dialback; its own route
    # out is up over TLS though it could not trust Prosody's certificate.
    assert 'b.test -> a.test: verified by dialback' in alog, alog[-3000:]
    assert 's2s a.test -> b.test: ready (TLS)' in alog, alog[-3000:]
    assert 's2s a.test -> b.test: certificate not signed by a trusted authority' \
        in alog, alog[-3000:]
    assert 'authenticated by certificate' not in alog, alog[-3000:]
    # Prosody: a.test's stream in sent a dialback key, which Prosody checked
    # with xmppd; its own stream out used dialback, which xmppd checked with
    # Prosody ("verified dialback key").
    assert _has_line(blog, 'Received[s2sin_unauthed]: <result',
                     "xmlns='jabber:server:dialback'", "from='a.test'", "to='b.test'"), \
        b.log_tail()
    assert 'connection a.test->b.test is now authenticated for a.test' in blog
    assert 'Initiating dialback...' in blog
    assert 'verified dialback key... it is valid' in blog
    assert 'connection b.test->a.test is now authenticated for a.test' in blog
    assert 'certificate chain validation result: valid' not in blog
    assert 'SASL EXTERNAL' not in blog, b.log_tail()


# ---- dialback ----

def test_dialback_both_ways():
    with _tmp() as tmp, _federation(tmp) as (a, b):
        alice, bob = _alice(a), _bob(b)
        # xmppd -> Prosody first, then Prosody -> xmppd.
        _mutual(alice, bob)
        _chat(alice, bob)
        # Rosters on both sides show a mutual subscription.
        items = alice.roster_items()
        assert items['bob@b.test'].get('subscription') == 'both', dump(items['bob@b.test'])
        items = bob.roster_items()
        assert items['alice@a.test'].get('subscription') == 'both', \
            dump(items['alice@a.test'])
        # IQs across: each pings the other's server.
        r = alice.iq("<iq type='get' to='b.test'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert r.get('type') == 'result' and r.get('from') == 'b.test', dump(r)
        r = bob.iq("<iq type='get' to='a.test'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert r.get('type') == 'result' and r.get('from') == 'a.test', dump(r)
        # Going offline and coming back is seen across, both ways; Prosody
        # probes alice's presence for bob's new session and xmppd answers.
        bob.finish()
        alice.expect(_presence('bob@b.test/phone', 'unavailable'), timeout=WAIT)
        bob = _bob(b, 'tablet')
        alice.expect(_presence('bob@b.test/tablet'), timeout=WAIT)
        bob.expect(_presence('alice@a.test/pc'), timeout=WAIT)
        alice.finish()
        bob.expect(_presence('alice@a.test/pc', 'unavailable'), timeout=WAIT)
        alice = _alice(a, 'laptop')
        bob.expect(_presence('alice@a.test/laptop'), timeout=WAIT)
        alice.expect(_presence('bob@b.test/tablet'), timeout=WAIT)
        bob.finish()
        alice.finish()
        _assert_dialback_both_ways(a, b)


test_dialback_both_ways.timeout = 40


def test_first_contact_from_both_sides_at_once():
    """Both users write first at the same moment: two routes and two
    dialbacks are set up at once, each needing the other's route for its
    verify; every queued message arrives, in order.  The certificates come
    from a CA neither side trusts (xmppd trusts another one)."""
    with _tmp() as tmp:
        ca = CA()
        a_crt, a_key, _ = ca.leaf(tmp, 'a.test', tag='a')
        b_crt, b_key, _ = ca.leaf(tmp, 'b.test', tag='b')
        other = _ca_file(CA(), os.path.join(tmp, 'other.pem'))
        n = 60
        with _federation(tmp, xmppd_tls={'certificate': a_crt, 'key': a_key,
                                         'ca_file': other},
                         prosody_cert=(b_crt, b_key)) as (a, b):
            alice, bob = _alice(a), _bob(b)
            alice.send(''.join("<message to='bob@b.test/phone' type='chat'><body>a%d</body>"
                               "</message>" % i for i in range(n)))
            bob.send(''.join("<message to='alice@a.test/pc' type='chat'><body>b%d</body>"
                             "</message>" % i for i in range(n)))
            for r, pfx in ((bob, 'a'), (alice, 'b')):
                got = []
                deadline = time.time() + WAIT
                while len(got) < n and time.time() < deadline:
                    m = r.expect(lambda e: e.tag == C('message'),
                                 timeout=max(0.1, deadline - time.time()))
                    assert m.get('type') == 'chat', dump(m)
                    got.append(m.findtext(C('body')))
                assert got == ['%s%d' % (pfx, i) for i in range(n)], got
            _assert_dialback_both_ways(a, b)


test_first_contact_from_both_sides_at_once.timeout = 40


# ---- SASL EXTERNAL ----

def test_sasl_external_with_a_shared_ca():
    with _tmp() as tmp:
        ca = CA()
        ca_pem = _ca_file(ca, os.path.join(tmp, 'ca.pem'))
        a_crt, a_key, _ = ca.leaf(tmp, 'a.test', tag='a')
        b_crt, b_key, _ = ca.leaf(tmp, 'b.test', tag='b')
        with _federation(tmp, xmppd_tls={'certificate': a_crt, 'key': a_key,
                                         'ca_file': ca_pem},
                         prosody_cert=(b_crt, b_key), prosody_ca=ca_pem,
                         prosody_secure=True) as (a, b):
            alice, bob = _alice(a), _bob(b)
            # xmppd -> Prosody: the first stanza opens the route.
            alice.send("<message to='bob@b.test/phone' type='chat'><body>ext 1</body>"
                       "</message>")
            m = bob.expect(_is_msg('ext 1'), timeout=WAIT)
            assert m.get('from') == 'alice@a.test/pc', m.attrib
            blog = b.log()
            # Prosody checked xmppd's client certificate, offered EXTERNAL
            # and accepted it; no dialback key on that stream.
            assert 'Offering SASL EXTERNAL' in blog, b.log_tail()
            assert 'Accepting SASL EXTERNAL identity from a.test' in blog, b.log_tail()
            assert not _has_line(blog, '<result', "xmlns='jabber:server:dialback'",
                                 "from='a.test'"), b.log_tail()
            alog = a.log()
            assert 's2s a.test -> b.test: ready (TLS)' in alog, alog[-3000:]
            # Prosody's certificate was trusted: no verdict line.
            assert 'a.test -> b.test: certificate' not in alog, alog[-3000:]
            # Prosody -> xmppd: Prosody (s2s_secure_auth) accepts xmppd's
            # certificate; xmppd trusts Prosody's client certificate, offers
            # EXTERNAL, and Prosody authenticates with it.
            bob.send("<message to='alice@a.test/pc' type='chat'><body>ext 2</body></message>")
            m = alice.expect(_is_msg('ext 2'), timeout=WAIT)
            assert m.get('from') == 'bob@b.test/phone', m.attrib
            _mutual(alice, bob)
            _chat(alice, bob, n=2, tag='x')
            alice.finish()
            bob.expect(_presence('alice@a.test/pc', 'unavailable'), timeout=WAIT)
            bob.finish()
            alog, blog = a.log(), b.log()
            assert 's2s b.test: authenticated by certificate (SASL EXTERNAL)' in alog, \
                alog[-3000:]
            assert 'Initiating SASL EXTERNAL with a.test' in blog, b.log_tail()
            assert 'SASL EXTERNAL with a.test succeeded' in blog, b.log_tail()
            # No dialback anywhere, in either direction.
            assert 'verified by dialback' not in alog, alog[-3000:]
            assert 'Initiating dialback' not in blog, b.log_tail()
            assert 'dialback key' not in blog, b.log_tail()
            # Both of Prosody's streams found xmppd's chain and name valid.
            assert 'certificate chain validation result: invalid' not in blog, b.log_tail()
            assert 'certificate identity validation result: valid' in blog, b.log_tail()


test_sasl_external_with_a_shared_ca.timeout = 40


def test_secure_auth_on_both_sides_with_a_shared_ca():
    """Both servers insist on certificates (s2s_secure_auth on each) and
    trust the same CA: federation works, by EXTERNAL both ways."""
    with _tmp() as tmp:
        ca = CA()
        ca_pem = _ca_file(ca, os.path.join(tmp, 'ca.pem'))
        a_crt, a_key, _ = ca.leaf(tmp, 'a.test', tag='a')
        b_crt, b_key, _ = ca.leaf(tmp, 'b.test', tag='b')
        with _federation(tmp, xmppd_tls={'certificate': a_crt, 'key': a_key,
                                         'ca_file': ca_pem},
                         xmppd_server={'s2s_secure_auth': 'true'},
                         prosody_cert=(b_crt, b_key), prosody_ca=ca_pem,
                         prosody_secure=True) as (a, b):
            alice, bob = _alice(a), _bob(b)
            _chat(alice, bob, n=2)
            alog, blog = a.log(), b.log()
            assert 's2s b.test: authenticated by certificate (SASL EXTERNAL)' in alog, \
                alog[-3000:]
            assert 's2s a.test -> b.test: ready (TLS)' in alog, alog[-3000:]
            assert 's2s_secure_auth' not in alog, alog[-3000:]
            assert 'Accepting SASL EXTERNAL identity from a.test' in blog, b.log_tail()
            assert 'SASL EXTERNAL with a.test succeeded' in blog, b.log_tail()


test_secure_auth_on_both_sides_with_a_shared_ca.timeout = 40


def test_sasl_external_with_the_system_bundle_plus_a_private_ca():
    """A ca_file the size of a real trust store: Debian's bundle (about 140
    certificates) with the test CA appended.  xmppd must load all of them
    and still trust Prosody's certificate, as with a one-CA file."""
    assert os.path.exists(SYSTEM_CA_BUNDLE), SYSTEM_CA_BUNDLE + ' missing (ca-certificates)'
    with _tmp() as tmp:
        ca = CA()
        with open(SYSTEM_CA_BUNDLE, 'rb') as f:
            system = f.read()
        bundle = os.path.join(tmp, 'bundle.pem')
        with open(bundle, 'wb') as f:
            f.write(system)
            f.write(b'\n' + ca.cert.public_bytes(serialization.Encoding.PEM))
        ca_pem = _ca_file(ca, os.path.join(tmp, 'ca.pem'))
        a_crt, a_key, _ = ca.leaf(tmp, 'a.test', tag='a')
        b_crt, b_key, _ = ca.leaf(tmp, 'b.test', tag='b')
        with _federation(tmp, xmppd_tls={'certificate': a_crt, 'key': a_key,
                                         'ca_file': bundle},
                         prosody_cert=(b_crt, b_key), prosody_ca=ca_pem,
                         prosody_secure=True) as (a, b):
            n = system.count(b'-----BEGIN CERTIFICATE-----') + 1
            assert 's2s: %d trust anchors from %s' % (n, bundle) in a.log(), a.log_tail()
            alice, bob = _alice(a), _bob(b)
            _chat(alice, bob, n=1)
            assert 's2s b.test: authenticated by certificate (SASL EXTERNAL)' in a.log()
            assert 'Accepting SASL EXTERNAL identity from a.test' in b.log(), b.log_tail()


test_sasl_external_with_the_system_bundle_plus_a_private_ca.timeout = 40


# ---- s2s_secure_auth on xmppd, Prosody not trusted ----

def test_secure_auth_on_xmppd_refuses_untrusted_prosody():
    """xmppd with s2s_secure_auth and anchors that do not cover Prosody's
    self-signed certificate: nothing crosses in either direction, alice's
    messages bounce with remote-server-not-found, the log says why."""
    with _tmp() as tmp:
        ca_pem = _ca_file(CA(), os.path.join(tmp, 'ca.pem'))
        with _federation(tmp, xmppd_tls={'ca_file': ca_pem},
                         xmppd_server={'s2s_secure_auth': 'true'}) as (a, b):
            alice, bob = _alice(a), _bob(b)
            t0 = time.time()
            alice.send("<message to='bob@b.test/phone' type='chat' id='s1'>"
                       "<body>secure 1</body></message>")
            e = alice.expect(_is_error, timeout=WAIT)
            assert time.time() - t0 < 10, time.time() - t0
            assert e.get('id') == 's1' and e.get('from') == 'bob@b.test/phone', e.attrib
            assert _error_conditions(e) == ['remote-server-not-found'], dump(e)
            text = e.findtext('.//{urn:ietf:params:xml:ns:xmpp-stanzas}text') or ''
            assert 's2s_secure_auth' in text, dump(e)
            alog = a.log()
            assert 's2s a.test -> b.test: certificate not signed by a trusted authority' \
                in alog, alog[-3000:]
            assert ('s2s a.test -> b.test: the remote server has no valid certificate '
                    '(s2s_secure_auth)') in alog, alog[-3000:]
            # xmppd gave up before authenticating: Prosody saw neither a
            # dialback key nor EXTERNAL on its incoming stream.
            blog = b.log()
            assert not _has_line(blog, 'Received[s2sin', '<result'), b.log_tail()
            assert not _has_line(blog, 'Received[s2sin', '<auth'), b.log_tail()
            _assert_nothing(bob, 'b.test', _is_msg('secure 1'))
            # The other way: Prosody's dialback to a.test fails, because
            # xmppd cannot check the key over a route to b.test it may not
            # use; bob's message comes back to him, alice never sees it.
            bob.send("<message to='alice@a.test/pc' type='chat' id='s2'>"
                     "<body>secure 2</body></message>")
            e = bob.expect(_is_error, timeout=WAIT)
            assert e.get('id') == 's2' and e.get('from') == 'alice@a.test/pc', dump(e)
            assert _error_conditions(e) in (['remote-server-timeout'],
                                            ['remote-server-not-found']), dump(e)
            # (xmppd refuses the dialback attempt with not-authorized,
            # naming the certificate: see test_secure_auth_on_xmppd_tells_prosody_why)
            _assert_nothing(alice, 'a.test', _is_msg('secure 2'))
            alog = a.log()
            # Prosody's dialback attempt was refused at once, naming the
            # certificate (no verify connection was even tried).
            assert "Your server's certificate is not trusted here" in alog, alog[-3000:]
            assert 'b.test -> a.test: verified by dialback' not in alog, alog[-3000:]
            assert 'authenticated by certificate' not in alog, alog[-3000:]


test_secure_auth_on_xmppd_refuses_untrusted_prosody.timeout = 40


def test_secure_auth_on_xmppd_tells_prosody_why():
    """The refusal of Prosody's incoming stream under s2s_secure_auth names
    the reason, on both sides: Prosody's certificate is not trusted.  (Not
    "could not reach your authoritative server": xmppd reached it fine and
    refused it by policy.)"""
    with _tmp() as tmp:
        ca_pem = _ca_file(CA(), os.path.join(tmp, 'ca.pem'))
        with _federation(tmp, xmppd_tls={'ca_file': ca_pem},
                         xmppd_server={'s2s_secure_auth': 'true'}) as (a, b):
            bob = _bob(b)
            bob.send("<message to='alice@a.test' type='chat' id='w1'><body>why</body>"
                     "</message>")
            e = bob.expect(_is_error, timeout=WAIT)
            assert e.get('id') == 'w1', dump(e)
            assert b.wait_log('Session closed by remote with error'), b.log_tail()
            told = [ln for ln in b.log().splitlines()
                    if 'Session closed by remote with error' in ln]
            assert any('certificate' in ln.lower() for ln in told), told
            refused = [ln for ln in a.log().splitlines() if 's2s stream error' in ln]
            assert refused and all('s2s_secure_auth' in ln or 'certificate' in ln
                                   for ln in refused), refused


test_secure_auth_on_xmppd_tells_prosody_why.timeout = 40


# ---- robustness ----

def test_stanza_content_survives_both_ways():
    """What Prosody serializes (quotes as entities, its own attribute order,
    xml:lang on everything) reaches alice intact, and the other way; IQs
    across get their answers, errors included.  Prosody also offers XEP-0288
    bidirectional streams, which xmppd does not use and must ignore."""
    with _tmp() as tmp, _federation(tmp, prosody_modules=('s2s_bidi',)) as (a, b):
        alice, bob = _alice(a), _bob(b)
        text = 'Gr\u00fc\u00dfe \u65e5\u672c \U0001f600 "dq" \'sq\' & <lt> >gt'
        esc = (text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
               .replace('"', '&quot;').replace("'", '&apos;'))
        big = 'x' * 30000
        ext = ("<thread>t-1</thread><x xmlns='urn:example:test' a='1&amp;2' "
               "b='&quot;'><y>z</y></x>")
        for src, dst, to in ((alice, bob, 'bob@b.test/phone'),
                             (bob, alice, 'alice@a.test/pc')):
            src.send("<message to='%s' type='chat' id='u1' xml:lang='de'>"
                     "<body>%s</body>%s</message>" % (to, esc, ext))
            m = dst.expect(_is_msg(text), timeout=WAIT)
            assert m.findtext(C('thread')) == 't-1', dump(m)
            x = m.find('{urn:example:test}x')
            assert x is not None and x.get('a') == '1&2' and x.get('b') == '"', dump(m)
            assert x.findtext('{urn:example:test}y') == 'z', dump(m)
            src.send("<message to='%s' type='chat' id='u2'><body>%s</body></message>"
                     % (to, big))
            m = dst.expect(_is_msg(big), timeout=WAIT)
            assert m.get('id') == 'u2', m.attrib
        # An IQ nobody answers on the other side comes back as an error.
        r = alice.iq("<iq type='get' to='bob@b.test'><query xmlns='urn:example:none'/></iq>")
        assert r.get('type') == 'error' and r.get('from') == 'bob@b.test', dump(r)
        assert _error_conditions(r) == ['service-unavailable'], dump(r)
        r = bob.iq("<iq type='get' to='alice@a.test'><query xmlns='urn:example:none'/></iq>")
        assert r.get('type') == 'error' and r.get('from') == 'alice@a.test', dump(r)
        assert _error_conditions(r) == ['service-unavailable'], dump(r)
        # disco#info of each server, asked from the other side.
        r = bob.iq("<iq type='get' to='a.test'><query "
                   "xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        assert r.get('type') == 'result', dump(r)
        feats = {f.get('var') for f in
                 r.iter('{http://jabber.org/protocol/disco#info}feature')}
        assert 'urn:xmpp:ping' in feats, feats
        r = alice.iq("<iq type='get' to='b.test'><query "
                     "xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        assert r.get('type') == 'result', dump(r)
        # An IQ to a full JID is answered by the client itself.
        alice.send("<iq type='get' id='q1' to='bob@b.test/phone'>"
                   "<ping xmlns='urn:xmpp:ping'/></iq>")
        req = bob.expect(lambda e: e.tag == C('iq') and e.get('id') == 'q1', timeout=WAIT)
        assert req.get('from') == 'alice@a.test/pc', req.attrib
        bob.send("<iq type='result' id='q1' to='alice@a.test/pc'/>")
        r = alice.expect(lambda e: e.tag == C('iq') and e.get('id') == 'q1', timeout=WAIT)
        assert r.get('type') == 'result' and r.get('from') == 'bob@b.test/phone', dump(r)
        # A message to a user who does not exist bounces across.
        alice.send("<message to='nobody@b.test' type='chat' id='n1'><body>?</body></message>")
        e = alice.expect(_is_error, timeout=WAIT)
        assert e.get('id') == 'n1' and e.get('from') == 'nobody@b.test', dump(e)
        assert _error_conditions(e) == ['service-unavailable'], dump(e)
        bob.send("<message to='nobody@a.test' type='chat' id='n2'><body>?</body></message>")
        e = bob.expect(_is_error, timeout=WAIT)
        assert e.get('id') == 'n2' and e.get('from') == 'nobody@a.test', dump(e)
        assert _error_conditions(e) == ['service-unavailable'], dump(e)
        assert 'urn:xmpp:features:bidi' in b.log(), b.log_tail()


test_stanza_content_survives_both_ways.timeout = 40


def test_domains_the_peer_does_not_serve():
    """DNS sends c.test to Prosody and d.test to xmppd, which serve neither:
    each side refuses the stream and the sender gets an error at once, not
    after a timeout; the real domains keep working."""
    with _tmp() as tmp, _federation(tmp) as (a, b):
        alice, bob = _alice(a), _bob(b)
        t0 = time.time()
        alice.send("<message to='x@c.test' type='chat' id='c1'><body>c</body></message>")
        e = alice.expect(_is_error, timeout=WAIT)
        assert time.time() - t0 < 5, time.time() - t0
        assert e.get('id') == 'c1' and e.get('from') == 'x@c.test', dump(e)
        assert _error_conditions(e) == ['remote-server-not-found'], dump(e)
        assert a.wait_log('s2s a.test -> c.test: stream error from the remote server: '
                          'host-unknown'), a.log_tail()
        t0 = time.time()
        bob.send("<message to='x@d.test' type='chat' id='d1'><body>d</body></message>")
        e = bob.expect(_is_error, timeout=WAIT)
        assert time.time() - t0 < 5, time.time() - t0
        assert e.get('id') == 'd1' and e.get('from') == 'x@d.test', dump(e)
        assert len(_error_conditions(e)) == 1, dump(e)
        assert 's2s stream error host-unknown' in a.log(), a.log_tail()
        _chat(alice, bob, n=1)


test_domains_the_peer_does_not_serve.timeout = 40


def test_each_side_restarts():
    """Prosody restarts: xmppd notices its route is gone and makes a new one
    for the next stanza.  xmppd stops with alice online: bob sees her go
    offline; it starts again: Prosody's next stanza finds it."""
    with _tmp() as tmp, _federation(tmp) as (a, b):
        alice, bob = _alice(a), _bob(b)
        _mutual(alice, bob)
        _chat(alice, bob, n=1, tag='1')
        # Bob leaves, then Prosody goes away (politely) and comes back.
        # Bob is offline before the stop: Prosody 0.12 sometimes loses the
        # unavailable presence it writes to its s2s streams while shutting
        # down (its log says "Sending", the bytes never reach xmppd).
        bob.finish()
        alice.expect(_presence('bob@b.test/phone', 'unavailable'), timeout=WAIT)
        b.stop()
        assert a.wait_log('s2s a.test -> b.test: stream error from the remote server: '
                          'system-shutdown', timeout=5), a.log_tail()
        b.start()
        bob = _bob(b)
        alice.expect(_presence('bob@b.test/phone'), timeout=WAIT)
        bob.expect(_presence('alice@a.test/pc'), timeout=WAIT)
        _chat(alice, bob, n=1, tag='2')
        # xmppd goes away: Prosody must learn that alice is offline.
        mark = len(b.log())
        assert a.stop() == 0, a.log_tail()
        bob.expect(_presence('alice@a.test/pc', 'unavailable'), timeout=WAIT)
        a.start()
        alice = _alice(a)
        bob.expect(_presence('alice@a.test/pc'), timeout=WAIT)
        _chat(alice, bob, n=1, tag='3')
        assert 'Incoming s2s connection a.test->b.test complete' in b.log()[mark:]


test_each_side_restarts.timeout = 40


def _collect(r, prefix, n, timeout):
    """The bodies of the next n messages whose body starts with prefix, in
    the order they came (fewer if they do not come within timeout)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            m = r.expect(lambda e: e.tag == C('message') and
                         (e.findtext(C('body')) or '').startswith(prefix), timeout=left)
        except TimeoutError:
            break
        got.append(m.findtext(C('body')))
    return got


def test_idle_close_loses_nothing_and_streams_come_back():
    """xmppd closes both of its streams with Prosody after s2s_idle_timeout.
    Bob starts writing just after xmppd has decided to close Prosody's
    stream into it, before Prosody has seen the close: RFC 6120 4.4 has the
    closing side go on reading until the peer closes too, so every one of
    those messages reaches alice.  Then new streams carry traffic both ways."""
    with _tmp() as tmp, _federation(tmp, xmppd_limits={'s2s_idle_timeout': 10}) as (a, b):
        alice, bob = _alice(a), _bob(b)
        _chat(alice, bob, n=1, tag='1')
        # Bob's reply was the last stanza on Prosody's stream into xmppd;
        # xmppd checks deadlines once a second, so 11 s from now its
        # decision to close that stream has been taken.
        last = time.monotonic()
        time.sleep(max(0.0, last + 11.05 - time.monotonic()))
        n = 75
        for i in range(n):
            bob.send("<message to='alice@a.test/pc' type='chat'><body>late %d</body>"
                     "</message>" % i)
            time.sleep(0.02)
        got = _collect(alice, 'late ', n, 8)
        want = ['late %d' % i for i in range(n)]
        missing = [w for w in want if w not in got]
        assert not missing, ('%d of %d messages sent while xmppd closed the idle stream '
                             'were lost (%s ... %s)' % (len(missing), n, missing[0],
                                                         missing[-1]))
        assert got == want, got
        # Both streams were closed by xmppd, and Prosody saw them end cleanly.
        blog = b.log()
        assert 'Incoming s2s stream a.test->b.test closed: stream closed' in blog, \
            b.log_tail()
        assert 'Outgoing s2s stream b.test->a.test closed: stream closed' in blog, \
            b.log_tail()
        assert a.log().count('connection closed (idle') == 2, a.log_tail()
        _chat(alice, bob, n=1, tag='2')
        assert a.log().count('s2s a.test -> b.test: ready (TLS)') == 2, a.log_tail()
        assert a.log().count('b.test -> a.test: verified by dialback') == 2, a.log_tail()


test_idle_close_loses_nothing_and_streams_come_back.timeout = 45


def test_busy_incoming_stream_is_not_idle():
    """Bob writes to alice without pause for longer than s2s_idle_timeout
    (a message every 20 ms for 13 s, about 70 KB, which alice's socket and
    xmppd's queue hold while she does not read).  Prosody's stream into
    xmppd is busy the whole time: xmppd must not close it as idle, and
    every message must arrive, in order."""
    with _tmp() as tmp, _federation(tmp, xmppd_limits={'s2s_idle_timeout': 10}) as (a, b):
        alice, bob = _alice(a), _bob(b)
        sent = 0
        t0 = time.time()
        while time.time() - t0 < 13:
            bob.send("<message to='alice@a.test/pc' type='chat'><body>busy %d</body>"
                     "</message>" % sent)
            sent += 1
            time.sleep(0.02)
        got = _collect(alice, 'busy ', sent, 8)
        want = ['busy %d' % i for i in range(sent)]
        missing = [w for w in want if w not in got]
        closed = [ln for ln in a.log().splitlines() if 'connection closed (idle' in ln]
        assert not missing, ('%d of %d messages lost (%s ... %s); xmppd closed as idle: %s'
                             % (len(missing), sent, missing[0], missing[-1], closed))
        assert got == want, 'out of order'
        # One incoming stream did it all: the busy one stayed open.
        assert a.log().count('b.test -> a.test: verified by dialback') == 1, closed


test_busy_incoming_stream_is_not_idle.timeout = 40
