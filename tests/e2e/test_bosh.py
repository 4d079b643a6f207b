"""
BOSH (XEP-0124/XEP-0206, module bosh) with a small client written here:
session creation, SASL, restart, bind, long polling that a TCP user's
message ends, chat both ways, rid ordering (a request that overtakes its
predecessor waits for it), replay of an answered rid, the window, wait
expiry, pause, terminate, the session's end when the client goes quiet,
and every refusal with its condition.
"""

import base64
import http.client
import ssl
import threading
import time
import xml.etree.ElementTree as ET

import rawxmpp as R
from lib import web_server

NS_HTTPBIND = 'http://jabber.org/protocol/httpbind'
NS_XBOSH = 'urn:xmpp:xbosh'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_STREAM = 'http://etherx.jabber.org/streams'
MODULES = 'roster, saslauth, tls, disco, ping, offline, bosh'
B = lambda n: '{%s}%s' % (NS_HTTPBIND, n)


class Bosh:
    def __init__(self, port, tls=True, path='/http-bind', rid=1000, headers=None):
        self.port, self.tls, self.path = port, tls, path
        self.rid = rid
        self.sid = None
        self.headers = headers or {}

    def raw(self, body, timeout=20, method='POST'):
        """(status, headers dict, bytes) of one request on a new connection."""
        if self.tls:
            c = http.client.HTTPSConnection('127.0.0.1', self.port, timeout=timeout,
                                            context=R.tls_context())
        else:
            c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)
        h = {'Content-Type': 'text/xml; charset=utf-8', 'Host': 'localhost'}
        h.update(self.headers)
        c.request(method, self.path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def body(self, inner='', rid=None, timeout=20, **attrs):
        """POST a <body/> with the next rid (or the one given): the
        response's root element."""
        if rid is None:
            self.rid += 1
            rid = self.rid
        a = {'rid': str(rid), 'xmlns': NS_HTTPBIND}
        if self.sid:
            a['sid'] = self.sid
        a.update({k.replace('__', ':'): v for k, v in attrs.items()})
        text = '<body %s>%s</body>' % (' '.join("%s='%s'" % kv for kv in a.items()), inner)
        st, h, data = self.raw(text.encode(), timeout)
        assert st == 200, (st, data)
        return ET.fromstring(data)

    def create(self, wait=3, hold=1, **kw):
        r = self.body(to='localhost', wait=str(wait), hold=str(hold), ver='1.11',
                      xmpp__version='1.0', xmlns__xmpp=NS_XBOSH, **kw)
        assert r.get('type') != 'terminate', ET.tostring(r)
        self.sid = r.get('sid')
        assert self.sid and r.get('requests') == '2', r.attrib
        return r

    def features(self, r):
        """Stream features in a response, or from the next poll."""
        f = r.find('{%s}features' % NS_STREAM)
        while f is None:
            r = self.body()
            f = r.find('{%s}features' % NS_STREAM)
        return f

    def login(self, user, pw, resource='bosh', wait=3):
        f = self.features(self.create(wait=wait))
        assert 'PLAIN' in [m.text for m in f.iter('{%s}mechanism' % NS_SASL)]
        cred = base64.b64encode(b'\0' + user.encode() + b'\0' + pw.encode()).decode()
        r = self.body("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, cred))
        assert r.find('{%s}success' % NS_SASL) is not None, ET.tostring(r)
        f = self.features(self.body(xmpp__restart='true', xmlns__xmpp=NS_XBOSH,
                                    to='localhost'))
        assert f.find('{%s}bind' % NS_BIND) is not None
        r = self.body("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='%s'>"
                      "<resource>%s</resource></bind></iq>" % (NS_BIND, resource))
        jid = r.find('{jabber:client}iq/{%s}bind/{%s}jid' % (NS_BIND, NS_BIND))
        assert jid is not None, ET.tostring(r)
        return jid.text


def bosh_server(tls=True, **kw):
    return web_server(MODULES, tls, **kw)


def in_thread(fn):
    out = {}

    def run():
        try:
            out['r'] = fn()
        except Exception as e:      # reported by the caller
            out['e'] = e
    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_bosh_login_long_poll_and_chat():
    with bosh_server() as srv:
        b = Bosh(srv.http_port)
        assert b.login('alice', srv.users['alice@localhost']) == 'alice@localhost/bosh'
        b.body("<presence xmlns='jabber:client'/>")
        bob = R.client(srv, 'bob')
        # A held poll returns as soon as something arrives.
        t, out = in_thread(lambda: b.body())
        time.sleep(0.5)
        assert t.is_alive(), 'the poll was answered at once'
        t0 = time.monotonic()
        bob.send("<message to='alice@localhost' type='chat'><body>to bosh</body></message>")
        t.join(10)
        assert 'r' in out, out
        assert time.monotonic() - t0 < 3
        m = out['r'].find('{jabber:client}message')
        assert m is not None and m.findtext('{jabber:client}body') == 'to bosh', ET.tostring(out['r'])
        # Unqualified children of <body/> count as jabber:client.
        b.body("<message to='bob@localhost' type='chat'><body>from bosh</body></message>")
        got = bob.expect(R.is_message(body='from bosh'))
        assert got.get('from') == 'alice@localhost/bosh'
        r = b.body("<presence xmlns='jabber:client' type='unavailable'/>", type='terminate')
        assert r.get('type') == 'terminate', ET.tostring(r)
        assert b.body(rid=b.rid + 1).get('condition') == 'item-not-found'
        bob.close()


def test_bosh_rid_order_replay_window_and_wait():
    with bosh_server() as srv:
        b = Bosh(srv.http_port)
        b.login('alice', srv.users['alice@localhost'])
        # Replay: the same rid again gets the same answer.
        r1 = b.body("<iq xmlns='jabber:client' type='get' id='v1'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>")
        again = b.body("<iq xmlns='jabber:client' type='get' id='v1'>"
                       "<ping xmlns='urn:xmpp:ping'/></iq>", rid=b.rid)
        assert ET.tostring(again) == ET.tostring(r1)
        # rid+2 overtakes rid+1: it waits, then both are handled in order.
        first, second = b.rid + 1, b.rid + 2
        t, out = in_thread(lambda: b.body("<iq xmlns='jabber:client' type='get' id='o2'>"
                                          "<ping xmlns='urn:xmpp:ping'/></iq>", rid=second))
        time.sleep(0.3)
        r = b.body("<iq xmlns='jabber:client' type='get' id='o1'>"
                   "<ping xmlns='urn:xmpp:ping'/></iq>", rid=first)
        b.rid = second
        t.join(10)
        ids = [i.get('id') for x in (r, out.get('r')) if x is not None
               for i in x.iter('{jabber:client}iq')]
        assert ids == ['o1', 'o2'], (ids, out)
        # A held request comes back empty after wait.
        b2 = Bosh(srv.http_port)
        b2.login('bob', srv.users['bob@localhost'])
        t0 = time.monotonic()
        r = b2.body()
        assert len(r) == 0 and 0.5 < time.monotonic() - t0 < 6, ET.tostring(r)
        # Far outside the window: the session ends.
        r = b2.body(rid=b2.rid + 10)
        assert r.get('type') == 'terminate' and r.get('condition') == 'item-not-found'
        assert b2.body().get('condition') == 'item-not-found'
        assert srv.alive()


def test_bosh_refusals_and_inactivity():
    extra = '[bosh]\ninactivity = 2\nmax_wait = 2\n'
    with bosh_server(extra_ini=extra) as srv:
        b = Bosh(srv.http_port)
        # Not XML, not a <body/>, no rid, an unknown session.
        for text, cond in ((b'<body', 'bad-request'),
                           (b"<iq xmlns='jabber:client'/>", 'bad-request'),
                           (("<body xmlns='%s' to='localhost'/>" % NS_HTTPBIND).encode(),
                            'bad-request'),
                           (("<body xmlns='%s' rid='5' sid='nope'/>" % NS_HTTPBIND).encode(),
                            'item-not-found')):
            st, h, data = b.raw(text)
            assert st == 200, (st, data)
            r = ET.fromstring(data)
            assert r.get('type') == 'terminate' and r.get('condition') == cond, data
        st, h, _ = b.raw(None, method='GET')
        assert st == 405 and 'POST' in h.get('allow', '')
        st, h, _ = b.raw(None, method='OPTIONS')
        assert st == 204 and h.get('access-control-allow-origin') == '*'
        meta = Bosh(srv.http_port, path='/.well-known/host-meta.json')
        st, h, data = meta.raw(None, method='GET')
        assert st == 200 and (b'"urn:xmpp:alt-connections:xbosh","href":'
                              b'"https://localhost:%d/http-bind"' % srv.http_port) in data, data
        st, h, _ = b.raw(b'x' * 400000)
        assert st == 413
        # A wrong host: the stream error comes in a terminate body.
        r = b.body(to='elsewhere.example', wait='2', hold='1', xmpp__version='1.0',
                   xmlns__xmpp=NS_XBOSH)
        assert r.get('type') == 'terminate' and r.get('condition') == 'remote-stream-error', \
            ET.tostring(r)
        # Silent client: the session ends after inactivity.
        b = Bosh(srv.http_port)
        b.login('alice', srv.users['alice@localhost'])
        assert srv.wait_log('no request for', timeout=10)
        assert b.body().get('condition') == 'item-not-found'
    with bosh_server(tls=False) as srv:
        r = Bosh(srv.http_port, tls=False).body(to='localhost', xmpp__version='1.0',
                                                xmlns__xmpp=NS_XBOSH)
        assert r.get('condition') == 'policy-violation', ET.tostring(r)


def test_bosh_byte_rate_delays_but_delivers_in_order():
    """Over [limits] max_bytes_per_second a session's next request waits
    for the next second (as reading pauses on a socket); nothing is lost
    and the order holds."""
    with bosh_server(limits={'max_bytes_per_second': 4096}) as srv:
        b = Bosh(srv.http_port)
        b.login('alice', srv.users['alice@localhost'], wait=1)
        bob = R.client(srv, 'bob')
        pad = 'x' * 900
        for round_ in range(3):
            inner = ''.join("<message xmlns='jabber:client' to='bob@localhost' type='chat'>"
                            "<body>%d-%d %s</body></message>" % (round_, i, pad)
                            for i in range(6))
            t, out = in_thread(lambda inner=inner: b.body(inner))
            t.join(20)
            assert 'r' in out, out
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 18 and time.monotonic() < deadline:
            m = bob.expect(R.is_message(), timeout=10)
            got.append(m.findtext('{jabber:client}body').split()[0])
        assert got == ['%d-%d' % (r, i) for r in range(3) for i in range(6)], got
        bob.close()
