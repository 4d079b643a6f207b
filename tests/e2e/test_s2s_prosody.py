"""
Federation with a real Prosody 0.12 (Debian's package) on loopback: xmppd
serves a.test (alice), Prosody serves b.test (bob), a dnsmasq publishes the
SRV records of both and is the resolver of both servers (xmppd through
[server] dns_servers, Prosody through libunbound's forwarder).

- dialback: self-signed certificates that neither side trusts; subscription,
  presence and chat both ways, and both logs say dialback.
- SASL EXTERNAL: certificates from a throwaway CA both trust, Prosody with
  s2s_secure_auth; xmppd -> Prosody authenticates with EXTERNAL (Prosody's
  log says it accepted it), and Prosody -> xmppd too, since xmppd offers
  EXTERNAL to peers whose certificate it trusts; no dialback either way.
- s2s_secure_auth on xmppd with a Prosody certificate it does not trust:
  alice's messages bounce with remote-server-not-found, xmppd's log says
  why, and nothing from b.test gets through the other way either.
"""

import os
import shutil
import tempfile
import time

from cryptography.hazmat.primitives import serialization

from lib import Server, free_port, make_cert
from rawxmpp import Raw, C, NS_SASL, q, dump
from s2s_prosody_peer import ProsodyPeer
from test_ops import CA
from test_s2s import Dns

WAIT = 15           # one s2s round trip, connection set-up included


def _net(xmppd_tls=None, xmppd_server=None, prosody_cert=None, prosody_ca=None,
         prosody_secure=False, tmp=None):
    """dnsmasq, xmppd (a.test, not started) and Prosody (b.test, not
    started).  prosody_cert is (crt, key); self-signed when None."""
    sa, sb, cb = free_port(), free_port(), free_port()
    dns = Dns(srv=[('_xmpp-server._tcp.a.test', 'xmpp-a.test', sa),
                   ('_xmpp-server._tcp.b.test', 'xmpp-b.test', sb)],
              hosts=[('xmpp-a.test', '127.0.0.1'), ('xmpp-b.test', '127.0.0.1')])
    server = {'s2s_ports': sa, 'dns_servers': '127.0.0.1:%d' % dns.port,
              'modules': 'roster, saslauth, tls, disco, ping, offline'}
    server.update(xmppd_server or {})
    a = Server(hosts=('a.test',), users={'alice@a.test': 'alice-pw'}, server=server,
               tls=xmppd_tls, limits={'s2s_timeout': 20}, start=False)
    if prosody_cert is None:
        crt, key = os.path.join(tmp, 'b-self.crt'), os.path.join(tmp, 'b-self.key')
        make_cert(crt, key, ('b.test',))
    else:
        crt, key = prosody_cert
    b = ProsodyPeer('b.test', users={'bob': 'bob-pw'}, s2s_port=sb, c2s_port=cb,
                    dns_port=dns.port, cert=crt, key=key, cafile=prosody_ca,
                    secure_auth=prosody_secure)
    return dns, a, b


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


def _is_msg(body):
    return lambda e: e.tag == C('message') and e.findtext(C('body')) == body


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


def _has_line(log, *parts):
    """Some line of log contains every part (Prosody serializes attributes
    in no fixed order, so a stanza is matched piece by piece)."""
    return any(all(p in line for p in parts) for line in log.splitlines())


def _check_prosody(b):
    bad = b.problems()
    assert not bad, 'Prosody reported errors:\n' + '\n'.join(bad[:20])


def test_dialback_both_ways():
    tmp = tempfile.mkdtemp(prefix='xmppd-s2sp-')
    dns, a, b = _net(tmp=tmp)
    try:
        a.start()
        with a, b:
            alice = _login(a.c2s_port, 'alice', 'alice-pw', 'a.test', 'pc')
            bob = _login(b.c2s_port, 'bob', 'bob-pw', 'b.test', 'phone')
            # xmppd -> Prosody first, then Prosody -> xmppd.
            _subscribe(alice, 'alice@a.test', bob, 'bob@b.test', 'bob@b.test/phone')
            _subscribe(bob, 'bob@b.test', alice, 'alice@a.test', 'alice@a.test/pc')
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
            # Going offline is seen across, both ways.
            bob.finish()
            alice.expect(_presence('bob@b.test/phone', 'unavailable'), timeout=WAIT)
            bob = _login(b.c2s_port, 'bob', 'bob-pw', 'b.test', 'tablet')
            alice.expect(_presence('bob@b.test/tablet'), timeout=WAIT)
            bob.expect(_presence('alice@a.test/pc'), timeout=WAIT)
            alice.finish()
            bob.expect(_presence('alice@a.test/pc', 'unavailable'), timeout=WAIT)
            bob.finish()
            # Both directions authenticated by dialback, over TLS.
            alog, blog = a.log(), b.log()
            assert 'b.test -> a.test: verified by dialback' in alog, alog[-3000:]
            assert 's2s a.test -> b.test: ready (TLS)' in alog, alog[-3000:]
            assert 'certificate not signed by a trusted authority' in alog, alog[-3000:]
            # Prosody: a.test's stream to it was authenticated by dialback
            # (its key checked with xmppd), and its own stream to a.test too
            # (xmppd asked it to confirm its key).
            assert _has_line(blog, 'Received[s2sin_unauthed]: <result',
                             "xmlns='jabber:server:dialback'", "from='a.test'", "to='b.test'")
            assert 'connection a.test->b.test is now authenticated for a.test' in blog
            assert 'Initiating dialback...' in blog
            assert 'verified dialback key... it is valid' in blog
            assert 'connection b.test->a.test is now authenticated for a.test' in blog
            assert 'SASL EXTERNAL' not in blog
            _check_prosody(b)
    finally:
        dns.stop()
        shutil.rmtree(tmp, ignore_errors=True)


test_dialback_both_ways.timeout = 40


def _ca_file(ca, path):
    with open(path, 'wb') as f:
        f.write(ca.cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_sasl_external_with_a_shared_ca():
    tmp = tempfile.mkdtemp(prefix='xmppd-s2sp-')
    ca = CA()
    ca_pem = _ca_file(ca, os.path.join(tmp, 'ca.pem'))
    a_crt, a_key, _ = ca.leaf(tmp, 'a.test', tag='a')
    b_crt, b_key, _ = ca.leaf(tmp, 'b.test', tag='b')
    dns, a, b = _net(xmppd_tls={'certificate': a_crt, 'key': a_key, 'ca_file': ca_pem},
                     prosody_cert=(b_crt, b_key), prosody_ca=ca_pem, prosody_secure=True,
                     tmp=tmp)
    try:
        a.start()
        with a, b:
            alice = _login(a.c2s_port, 'alice', 'alice-pw', 'a.test', 'pc')
            bob = _login(b.c2s_port, 'bob', 'bob-pw', 'b.test', 'phone')
            # xmppd -> Prosody: the first stanza opens the route.
            alice.send("<message to='bob@b.test/phone' type='chat'><body>ext 1</body></message>")
            m = bob.expect(_is_msg('ext 1'), timeout=WAIT)
            assert m.get('from') == 'alice@a.test/pc', m.attrib
            blog = b.log()
            # Prosody checked xmppd's client certificate, offered EXTERNAL
            # and accepted it; no dialback on that stream.
            assert 'Offering SASL EXTERNAL' in blog, b.log_tail()
            assert 'Accepting SASL EXTERNAL identity from a.test' in blog, b.log_tail()
            assert not _has_line(blog, '<result', "xmlns='jabber:server:dialback'",
                                 "from='a.test'"), b.log_tail()
            alog = a.log()
            assert 's2s a.test -> b.test: ready (TLS)' in alog, alog[-3000:]
            # The certificate was trusted, so xmppd wrote no verdict line.
            assert 'a.test -> b.test: certificate' not in alog, alog[-3000:]
            # Prosody -> xmppd: Prosody (s2s_secure_auth) accepts xmppd's
            # certificate; xmppd trusts Prosody's client certificate, offers
            # EXTERNAL, and Prosody authenticates with it.
            bob.send("<message to='alice@a.test/pc' type='chat'><body>ext 2</body></message>")
            m = alice.expect(_is_msg('ext 2'), timeout=WAIT)
            assert m.get('from') == 'bob@b.test/phone', m.attrib
            _subscribe(alice, 'alice@a.test', bob, 'bob@b.test', 'bob@b.test/phone')
            _subscribe(bob, 'bob@b.test', alice, 'alice@a.test', 'alice@a.test/pc')
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
            # Both of Prosody's streams found the peer's chain valid.
            assert 'certificate chain validation result: invalid' not in blog, b.log_tail()
            assert 'certificate identity validation result: valid' in blog, b.log_tail()
            _check_prosody(b)
    finally:
        dns.stop()
        shutil.rmtree(tmp, ignore_errors=True)


test_sasl_external_with_a_shared_ca.timeout = 40
