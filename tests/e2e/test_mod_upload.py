"""
Module http_file_share: XEP-0363 HTTP File Upload on upload.localhost.

slixmpp's xep_0363 plugin finds the service through disco, asks for a slot
and PUTs a file over https_ports (aiohttp, told to resolve every name to
127.0.0.1 and not to verify the throwaway certificate); the file is then
downloaded and compared byte for byte.  Raw XML covers refused slot
requests, each with its exact stanza error and nothing written to disk;
raw HTTP covers every refused PUT (forged, foreign or expired token, wrong
size, wrong type, quota, second use) with its status code and no file
left behind, and the GET side: ranges, ETags, HEAD, CORS, the download
headers, path tricks, expiry, a restart, and external_url.
"""

import io
import os
import socket
import threading
import time
import xml.etree.ElementTree as ET

import aiohttp
import aiohttp.abc

import rawxmpp as R
from lib import Server, free_port
from rawxmpp import dump, q, stanza_error
from test_client import Client, run_scenario
from test_http import Http
from test_mod_disco import assert_unchanged, snapshot

NS_UPLOAD = 'urn:xmpp:http:upload:0'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_XDATA = 'jabber:x:data'
MODULES = 'roster, saslauth, tls, disco, ping, offline, http_file_share'
SERVICE = 'upload.localhost'


def upload_server(https=True, settings=None, limits=None, **kw):
    port = free_port()
    server = {'modules': MODULES, ('https_ports' if https else 'http_ports'): port}
    server.update(kw.pop('server', {}))
    lim = {'max_bytes_per_second': '64M'}
    lim.update(limits or {})
    ini = ''
    if settings:
        ini = '[http_file_share]\n' + ''.join('%s = %s\n' % kv for kv in settings.items())
    srv = Server(server=server, limits=lim, hostcfg={'localhost': {'upload': SERVICE}},
                 extra_ini=ini, **kw)
    srv.http_port = port
    srv.https = https
    return srv


def files_dir(srv):
    return os.path.join(srv.data_path, SERVICE, '%host', 'files')


def stored(srv):
    d = files_dir(srv)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def slot_iq(r, filename, size, ctype='application/octet-stream', to=SERVICE, type='get'):
    attrs = ''
    if filename is not None:
        attrs += " filename='%s'" % filename
    if size is not None:
        attrs += " size='%s'" % size
    if ctype is not None:
        attrs += " content-type='%s'" % ctype
    return r.iq("<iq type='%s' to='%s'><request xmlns='%s'%s/></iq>"
                % (type, to, NS_UPLOAD, attrs))


class Slot:
    def __init__(self, reply):
        assert reply.get('type') == 'result', 'slot refused: %s' % dump(reply)
        s = reply.find(q(NS_UPLOAD, 'slot'))
        put = s.find(q(NS_UPLOAD, 'put'))
        get = s.find(q(NS_UPLOAD, 'get'))
        self.put_url = put.get('url')
        self.get_url = get.get('url')
        hs = put.findall(q(NS_UPLOAD, 'header'))
        assert [h.get('name') for h in hs] == ['Authorization'], dump(reply)
        self.auth = hs[0].text
        assert self.auth.startswith('Bearer '), self.auth
        assert self.put_url == self.get_url, dump(reply)
        # scheme://host:port/path
        self.path = '/' + self.put_url.split('/', 3)[3]
        self.id, self.name = self.path.split('/')[2:4]


def get_slot(r, filename, size, ctype='application/octet-stream'):
    return Slot(slot_iq(r, filename, size, ctype))


def put(srv, path, body, auth=None, ctype='application/octet-stream', extra=None):
    c = Http(srv.http_port, tls=srv.https)
    try:
        hs = {}
        if auth is not None:
            hs['Authorization'] = auth
        if ctype is not None:
            hs['Content-Type'] = ctype
        hs.update(extra or {})
        return c.request('PUT', path, headers=hs, body=body, host=SERVICE)
    finally:
        c.close()


def get(srv, path, headers=None, method='GET'):
    c = Http(srv.http_port, tls=srv.https)
    try:
        return c.request(method, path, headers=headers, host=SERVICE)
    finally:
        c.close()


def expect_error(reply, etype, cond, what):
    assert reply.get('type') == 'error', '%s: expected an error: %s' % (what, dump(reply))
    assert stanza_error(reply) == (etype, cond), '%s: %s' % (what, dump(reply))


# ---- slixmpp ----

class LocalResolver(aiohttp.abc.AbstractResolver):
    """Every name is 127.0.0.1 (upload.localhost resolves nowhere)."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{'hostname': host, 'host': '127.0.0.1', 'port': port,
                 'family': socket.AF_INET, 'proto': 0, 'flags': 0}]

    async def close(self):
        pass


class TestSession(aiohttp.ClientSession):
    def __init__(self, *a, **kw):
        kw.setdefault('connector', aiohttp.TCPConnector(ssl=False, resolver=LocalResolver()))
        super().__init__(*a, **kw)


def test_slixmpp_uploads_over_https_and_download_matches():
    import slixmpp.plugins.xep_0363.http_upload as hu
    data = os.urandom(3 * 1024 * 1024 + 12345)
    with upload_server(settings={'size_limit': '8M'}) as srv:
        async def scenario(clients):
            c = Client(clients, srv, 'alice@localhost/up', 'alice-pw')
            c.x.register_plugin('xep_0030')
            c.x.register_plugin('xep_0128')
            c.x.register_plugin('xep_0363')
            await c.connect()
            up = c.x['xep_0363']
            # What find_upload_service() does, with slixmpp's own disco and
            # form plugins (its helper trips over asyncio in this Python).
            items = await c.x['xep_0030'].get_items(jid='localhost', timeout=5)
            jids = [str(i[0]) for i in items['disco_items']['items']]
            assert SERVICE in jids, jids
            info = await c.x['xep_0030'].get_info(jid=SERVICE, timeout=5)
            di = info['disco_info']
            assert ('store', 'file', None, 'HTTP File Upload') in di['identities'], \
                di['identities']
            assert NS_UPLOAD in di['features'], di['features']
            forms = [f['values'] for f in di.iterables]
            assert forms == [{'FORM_TYPE': [NS_UPLOAD], 'max-file-size': '8388608'}], forms
            form = forms[0]
            up.upload_service = info['from']
            up.max_file_size = int(form['max-file-size'])
            saved, hu.ClientSession = hu.ClientSession, TestSession
            try:
                url = await up.upload_file('holiday photo.bin', size=len(data),
                                           content_type='application/x-test',
                                           input_file=io.BytesIO(data), timeout=20)
            finally:
                hu.ClientSession = saved
            assert up.max_file_size == 8 * 1024 * 1024, up.max_file_size
            return url
        box = {}

        async def run(clients):
            box['url'] = await scenario(clients)
        run_scenario(run, timeout=40)
        url = box['url']
        assert url.startswith('https://%s:%d/upload/' % (SERVICE, srv.http_port)), url
        assert url.endswith('/holiday%20photo.bin'), url
        path = '/' + url.split('/', 3)[3]
        r = get(srv, path)
        assert r.status == 200, r
        assert r.body == data, 'downloaded %d bytes, uploaded %d; equal: %s' % (
            len(r.body), len(data), r.body == data)
        assert r.h('content-type') == 'application/x-test', r
        assert r.h('content-length') == str(len(data))
        assert r.h('x-content-type-options') == 'nosniff', r
        assert r.h('access-control-allow-origin') == '*', r
        assert r.h('content-disposition') == \
            "attachment; filename*=UTF-8''holiday%20photo.bin", r
        fid = path.split('/')[2]
        assert r.h('etag') == '"%s"' % fid, r
        assert stored(srv) == [fid + '.data', fid + '.meta'], stored(srv)
        with open(os.path.join(files_dir(srv), fid + '.data'), 'rb') as f:
            assert f.read() == data
        meta = ET.parse(os.path.join(files_dir(srv), fid + '.meta')).getroot()
        assert meta.tag == q(NS_UPLOAD, 'file') and meta.get('version') == '1', \
            ET.tostring(meta)
        assert meta.get('name') == 'holiday photo.bin'
        assert meta.get('size') == str(len(data))
        assert meta.get('uploader') == 'alice@localhost'
        assert meta.get('type') == 'application/x-test'


test_slixmpp_uploads_over_https_and_download_matches.timeout = 60


# ---- discovery and slot requests ----

def test_disco_and_refused_slot_requests():
    with upload_server(settings={'size_limit': '600', 'quota': '1000'}) as srv:
        r = R.client(srv, 'alice')
        items = r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_ITEMS)
        found = [(i.get('jid'), i.get('name')) for i in items.iter(q(NS_ITEMS, 'item'))]
        assert (SERVICE, 'HTTP File Upload') in found, dump(items)
        info = r.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (SERVICE, NS_INFO))
        qe = info.find(q(NS_INFO, 'query'))
        ids = [(i.get('category'), i.get('type')) for i in qe.findall(q(NS_INFO, 'identity'))]
        assert ids == [('store', 'file')], dump(info)
        feats = {f.get('var') for f in qe.findall(q(NS_INFO, 'feature'))}
        assert NS_UPLOAD in feats and NS_INFO in feats, feats
        form = qe.find(q(NS_XDATA, 'x'))
        fields = {f.get('var'): [v.text for v in f.findall(q(NS_XDATA, 'value'))]
                  for f in form.findall(q(NS_XDATA, 'field'))}
        assert fields == {'FORM_TYPE': [NS_UPLOAD], 'max-file-size': ['600']}, fields
        # The upload feature is the service's, not the server's.
        sinfo = r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_INFO)
        assert NS_UPLOAD not in {f.get('var') for f in sinfo.iter(q(NS_INFO, 'feature'))}
        items = r.iq("<iq type='get' to='%s'><query xmlns='%s'/></iq>" % (SERVICE, NS_ITEMS))
        assert items.get('type') == 'result' and len(items.find(q(NS_ITEMS, 'query'))) == 0

        before = snapshot(srv)
        # Too large: not-acceptable with the limit in XEP-0363's element.
        rep = slot_iq(r, 'big.bin', 601)
        expect_error(rep, 'modify', 'not-acceptable', 'too large')
        mx = rep.find('%s/%s/%s' % (q(R.NS_CLIENT, 'error'), q(NS_UPLOAD, 'file-too-large'),
                                    q(NS_UPLOAD, 'max-file-size')))
        assert mx is not None and mx.text == '600', dump(rep)
        cases = [
            ('no filename', (None, 10), 'bad-request'),
            ('empty filename', ('', 10), 'bad-request'),
            ('slash in the name', ('a/b', 10), 'bad-request'),
            ('backslash in the name', ('a\\b', 10), 'bad-request'),
            ('dot-dot name', ('..', 10), 'bad-request'),
            ('tab in the name', ('a&#9;b', 10), 'bad-request'),
            ('newline in the name', ('a&#10;b', 10), 'bad-request'),
            ('name over 255 bytes', ('n' * 256, 10), 'bad-request'),
            ('no size', ('a.txt', None), 'bad-request'),
            ('size zero', ('a.txt', 0), 'bad-request'),
            ('negative size', ('a.txt', -5), 'bad-request'),
            ('size with a unit', ('a.txt', '5K'), 'bad-request'),
            ('huge size', ('a.txt', '9' * 40), 'bad-request'),
        ]
        fails = R.Failures()
        for what, (name, size), cond in cases:
            fails.run(what, lambda name=name, size=size, cond=cond, what=what:
                      expect_error(slot_iq(r, name, size), 'modify', cond, what))
        for what, ctype in (('type without subtype', 'text'), ('space in type', 'te xt/plain'),
                            ('newline in type', 'text/plain&#10;X-Evil: 1'),
                            ('type over 255 bytes', 'a/' + 'b' * 300)):
            fails.run(what, lambda ctype=ctype, what=what:
                      expect_error(slot_iq(r, 'a.txt', 5, ctype), 'modify', 'bad-request', what))
        fails.raise_if_any()
        expect_error(slot_iq(r, 'a.txt', 5, type='set'), 'modify', 'bad-request', 'IQ set')
        expect_error(r.iq("<iq type='get' to='%s'><request xmlns='urn:xmpp:http:upload'"
                          " filename='a' size='1'/></iq>" % SERVICE),
                     'cancel', 'service-unavailable', 'legacy namespace')
        expect_error(r.iq("<iq type='get' to='x@%s'><request xmlns='%s' filename='a' "
                          "size='1'/></iq>" % (SERVICE, NS_UPLOAD)),
                     'cancel', 'service-unavailable', 'a JID on the service')
        expect_error(r.iq("<iq type='get' to='%s'><request xmlns='%s' filename='a' size='1'/>"
                          "<x xmlns='y'/></iq>" % (SERVICE, NS_UPLOAD)),
                     'modify', 'bad-request', 'two payloads')
        r.send("<message to='%s' id='m1'><body>hi</body></message>" % SERVICE)
        err = r.expect(lambda e: e.tag == R.C('message') and e.get('id') == 'm1')
        assert stanza_error(err) == ('cancel', 'service-unavailable'), dump(err)
        # Good slots are stateless: they write nothing either.
        s1 = get_slot(r, 'a.txt', 600)
        assert_unchanged(before, snapshot(srv), 'slot requests')
        # Quota: 600 stored, so another 500 is refused, 400 is not.
        assert put(srv, s1.path, b'q' * 600, s1.auth).status == 201
        expect_error(slot_iq(r, 'b.txt', 500), 'wait', 'resource-constraint', 'quota')
        get_slot(r, 'b.txt', 400)
        # bob has his own quota.
        b = R.client(srv, 'bob')
        get_slot(b, 'b.txt', 600)
        b.close()
        r.close()


# ---- PUT ----

def test_put_refusals_with_exact_status():
    with upload_server(https=False, settings={'size_limit': '1K', 'quota': '2K'}) as srv:
        r = R.client(srv, 'alice')
        s = get_slot(r, 'note.txt', 10, 'text/plain')
        other = get_slot(r, 'other.txt', 10, 'text/plain')
        mac = s.auth.rsplit('.', 1)
        forged = mac[0] + '.' + ('A' if mac[1][0] != 'A' else 'B') + mac[1][1:]
        fields = s.auth.split('.')
        bigger = '.'.join(fields[:2] + ['1000'] + fields[3:])
        evil_user = '.'.join(fields[:4] + ['Ym9iQGxvY2FsaG9zdA'] + fields[5:])
        cases = [
            ('no Authorization', dict(auth=None), 403),
            ('not Bearer', dict(auth='Basic ' + s.auth[7:]), 403),
            ('forged MAC', dict(auth=forged), 403),
            ('size changed in the token', dict(auth=bigger), 403),
            ('uploader changed in the token', dict(auth=evil_user), 403),
            ('token of another slot', dict(auth=other.auth), 403),
            ('garbage token', dict(auth='Bearer 1.2.3'), 403),
            ('longer body', dict(body=b'x' * 11), 413),
            ('shorter body', dict(body=b'x' * 9), 400),
            ('other content type', dict(ctype='text/html'), 415),
            ('no Content-Length', dict(extra={'Content-Length': None}), 411),
        ]
        fails = R.Failures()
        for what, kw, status in cases:
            def case(kw=kw, status=status, what=what):
                body = kw.get('body', b'0123456789')
                auth = kw['auth'] if 'auth' in kw else s.auth
                ctype = kw.get('ctype', 'text/plain')
                c = Http(srv.http_port)
                hs = {'Content-Type': ctype}
                if auth is not None:
                    hs['Authorization'] = auth
                if kw.get('extra') == {'Content-Length': None}:
                    c.send(('PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n'
                            % (s.path, auth)).encode())
                    resp = c.response()
                else:
                    resp = c.request('PUT', s.path, headers=hs, body=body)
                c.close()
                assert resp.status == status, '%s: %r' % (what, resp)
                assert resp.h('access-control-allow-origin') == '*', resp
            fails.run(what, case)
        # A path the slot does not name: the MAC covers it.
        def wrong_path(path, what):
            resp = put(srv, path, b'0123456789', s.auth, 'text/plain')
            assert resp.status == 403, '%s: %r' % (what, resp)
        fails.run('renamed file', wrong_path, s.path.rsplit('/', 1)[0] + '/evil.html',
                  'renamed file')
        fails.run('other id', wrong_path, other.path.rsplit('/', 1)[0] + '/note.txt', 'other id')
        # A refused PUT whose body is on its way: the answer still arrives
        # (the body is read and dropped, the connection then closed).
        c = Http(srv.http_port)
        c.send(('PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 600000'
                '\r\n\r\n' % (s.path, forged)).encode() + b'y' * 600000)
        resp = c.response()
        assert resp.status == 403 and resp.h('connection') == 'close', resp
        assert c.closed(), 'closed after the body'
        c.close()
        # Chunked bodies are refused by the HTTP layer.
        c = Http(srv.http_port)
        c.send(('PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nTransfer-Encoding: chunked'
                '\r\n\r\n' % (s.path, s.auth)).encode())
        assert c.response().status == 411
        c.close()
        fails.raise_if_any()
        assert stored(srv) == [], 'refused PUTs left files: %s' % stored(srv)
        # The real one works once; the same slot again is a conflict.
        resp = put(srv, s.path, b'0123456789', s.auth, 'text/plain')
        assert resp.status == 201, resp
        assert put(srv, s.path, b'0123456789', s.auth, 'text/plain').status == 409
        # Without a Content-Type the slot's type is kept; 100-continue works.
        s2 = get_slot(r, 'two.txt', 5, 'text/plain')
        c = Http(srv.http_port)
        c.send(('PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 5\r\n'
                'Expect: 100-continue\r\n\r\n' % (s2.path, s2.auth)).encode())
        r100 = c.response(skip_continue=False)
        assert r100.status == 100, r100
        c.send(b'hello')
        assert c.response().status == 201
        c.close()
        assert get(srv, s2.path).h('content-type') == 'text/plain'
        # Quota at PUT time: two slots fit the quota one at a time only.
        a = get_slot(r, 'a.bin', 1020)
        b = get_slot(r, 'b.bin', 1020)
        assert put(srv, a.path, b'a' * 1020, a.auth).status == 201
        resp = put(srv, b.path, b'b' * 1020, b.auth)
        assert resp.status == 413, 'over quota at PUT time: %r' % resp
        r.close()
        assert len(stored(srv)) == 6, stored(srv)


def test_stalled_upload_times_out_and_leaves_nothing():
    with upload_server(https=False) as srv:
        r = R.client(srv, 'alice')
        s = get_slot(r, 'slow.bin', 100000)
        r.close()
        c = Http(srv.http_port, timeout=30)
        c.send(('PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 100000\r\n'
                'Content-Type: application/octet-stream\r\n\r\n' % (s.path, s.auth)).encode()
               + b'z' * 5000)
        time.sleep(1)
        tmp = [n for n in stored(srv) if '.tmp.' in n]
        assert len(tmp) == 1, 'the body goes to a temp file as it arrives: %s' % stored(srv)
        assert os.path.getsize(os.path.join(files_dir(srv), tmp[0])) == 5000
        t0 = time.monotonic()
        resp = c.response(timeout=30)
        took = time.monotonic() - t0
        assert resp.status == 408 and 17 <= took <= 24, (resp, took)
        assert c.closed(3)
        c.close()
        assert stored(srv) == [], 'a stalled upload left %s' % stored(srv)
        # A client that hangs up mid-body leaves nothing either.
        r = R.client(srv, 'alice')
        s = get_slot(r, 'cut.bin', 100000)
        r.close()
        c = Http(srv.http_port)
        c.send(('PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 100000\r\n'
                '\r\n' % (s.path, s.auth)).encode() + b'z' * 70000)
        time.sleep(0.5)
        c.close()
        assert srv.wait_log('PUT %s -> 0, aborted (0 bytes) client 127.0.0.1' % s.path), \
            'the aborted request is logged'
        assert stored(srv) == [], 'an aborted upload left %s' % stored(srv)


test_stalled_upload_times_out_and_leaves_nothing.timeout = 45


# ---- GET ----

def test_get_ranges_etags_headers_and_paths():
    with upload_server(https=False) as srv:
        r = R.client(srv, 'alice')
        data = bytes(range(256)) * 4
        s = get_slot(r, 'data file.bin', len(data))
        assert put(srv, s.path, data, s.auth).status == 201
        png = get_slot(r, 'pic.png', 8, 'image/png')
        assert put(srv, png.path, b'\x89PNG\r\n\x1a\n', png.auth, 'image/png').status == 201
        svg = get_slot(r, 'pic.svg', 6, 'image/svg+xml')
        assert put(srv, svg.path, b'<svg/>', svg.auth, 'image/svg+xml').status == 201
        r.close()
        etag = '"%s"' % s.id
        full = get(srv, s.path)
        assert full.status == 200 and full.body == data, full
        assert full.h('accept-ranges') == 'bytes' and full.h('etag') == etag, full
        cases = [
            ('bytes=0-9', 206, data[0:10], 'bytes 0-9/1024'),
            ('bytes=1000-', 206, data[1000:], 'bytes 1000-1023/1024'),
            ('bytes=-5', 206, data[-5:], 'bytes 1019-1023/1024'),
            ('bytes=1020-5000', 206, data[1020:], 'bytes 1020-1023/1024'),
            ('bytes=-5000', 206, data, 'bytes 0-1023/1024'),
            ('bytes=1024-', 416, b'', 'bytes */1024'),
            ('bytes=-0', 416, b'', 'bytes */1024'),
            ('bytes=5-2', 200, data, None),
            ('bytes=0-1,5-6', 200, data, None),
            ('items=0-1', 200, data, None),
            ('bytes=a-b', 200, data, None),
        ]
        for rng, status, body, cr in cases:
            resp = get(srv, s.path, {'Range': rng})
            assert (resp.status, resp.body, resp.h('content-range')) == (status, body, cr), \
                '%s: %r' % (rng, resp)
        resp = get(srv, s.path, {'Range': 'bytes=0-9', 'If-Range': etag})
        assert resp.status == 206 and resp.body == data[:10], resp
        resp = get(srv, s.path, {'Range': 'bytes=0-9', 'If-Range': '"other"'})
        assert resp.status == 200 and resp.body == data, resp
        for inm in (etag, 'W/' + etag, '"x", ' + etag, '*'):
            resp = get(srv, s.path, {'If-None-Match': inm})
            assert resp.status == 304 and resp.body == b'' and resp.h('etag') == etag, (inm, resp)
        assert get(srv, s.path, {'If-None-Match': '"x"'}).status == 200
        resp = get(srv, s.path, method='HEAD')
        assert resp.status == 200 and resp.body == b'' and resp.h('content-length') == '1024'
        # Download headers: images inline, everything else (SVG too) attached.
        resp = get(srv, png.path)
        assert resp.h('content-type') == 'image/png' and resp.h('content-disposition') is None
        assert resp.h('x-content-type-options') == 'nosniff'
        resp = get(srv, svg.path)
        assert resp.h('content-disposition') == "attachment; filename*=UTF-8''pic.svg", resp
        assert "default-src 'none'" in resp.h('content-security-policy'), resp
        # CORS preflight and methods.
        resp = get(srv, s.path, method='OPTIONS')
        assert resp.status == 204, resp
        assert resp.h('access-control-allow-methods') == 'GET, HEAD, PUT, OPTIONS', resp
        assert resp.h('access-control-allow-headers') == 'Authorization, Content-Type', resp
        c = Http(srv.http_port)
        resp = c.request('POST', s.path, body=b'x')
        assert resp.status == 405 and resp.h('allow') == 'GET, HEAD, PUT, OPTIONS', resp
        c.close()
        # Wrong names and ids, and ways out of the files directory.
        dirp = s.path.rsplit('/', 1)[0]
        notfound = [dirp + '/other.bin', '/upload/' + 'a' * 24 + '/data%20file.bin',
                    '/upload/' + s.id, '/upload/', '/upload/%s/' % s.id,
                    '/upload/%s.data/data%%20file.bin' % s.id,
                    '/upload/%s/data%%20file.bin/x' % s.id,
                    '/upload/' + s.id.upper() + '/data%20file.bin']
        for p in notfound:
            resp = get(srv, p)
            assert resp.status == 404, '%s: %r' % (p, resp)
        bad = ['/upload/%s/../%s/data%%20file.bin' % (s.id, s.id),
               '/upload/%s%%2fdata%%20file.bin' % s.id,
               '/upload/%s/..%%2f..%%2f..%%2fdata%%2flocalhost%%2falice%%2faccount' % s.id,
               '/upload/%%2e%%2e/%%2e%%2e/localhost/alice/account']
        for p in bad:
            c = Http(srv.http_port)
            c.send(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % p).encode())
            resp = c.response()
            c.close()
            assert resp.status == 400, '%s: %r' % (p, resp)


def test_expiry_slot_lifetime_restart_and_cleanup():
    with upload_server(https=False, settings={'slot_lifetime': '1', 'expires_after': '5s',
                                              'quota': '100'}) as srv:
        r = R.client(srv, 'alice')
        old = get_slot(r, 'late.txt', 5)
        keep = get_slot(r, 'keep.txt', 60)
        assert put(srv, keep.path, b'k' * 60, keep.auth).status == 201
        time.sleep(2.2)
        resp = put(srv, old.path, b'hello', old.auth)
        assert resp.status == 403, 'expired slot: %r' % resp
        # A restart keeps the files and their quota.
        r.close()
        d = files_dir(srv)
        stale = os.path.join(d, 'aaaaaaaaaaaaaaaaaaaaaaaa.data.tmp.99999.1')
        orphan = os.path.join(d, 'bbbbbbbbbbbbbbbbbbbbbbbb.data')
        srv.stop()
        for p in (stale, orphan):
            with open(p, 'wb') as f:
                f.write(b'left by a crash')
        srv.start()
        assert not os.path.exists(stale) and not os.path.exists(orphan), stored(srv)
        assert get(srv, keep.path).body == b'k' * 60
        r = R.client(srv, 'alice')
        expect_error(slot_iq(r, 'more.txt', 50), 'wait', 'resource-constraint', 'quota after restart')
        r.close()
        # Then the file expires: gone from the disk and from the quota.
        deadline = time.monotonic() + 8
        while stored(srv) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored(srv) == [], 'not expired: %s' % stored(srv)
        assert get(srv, keep.path).status == 404
        r = R.client(srv, 'alice')
        get_slot(r, 'more.txt', 50)
        r.close()
        assert srv.wait_log('expired (uploaded by alice@localhost)')


def test_external_url_sets_slot_urls_and_http_prefix():
    port = free_port()
    base = 'http://127.0.0.1:%d/files' % port
    with upload_server(https=False, settings={'external_url': base + '/'},
                       server={'http_ports': port}) as srv:
        srv.http_port = port
        r = R.client(srv, 'alice')
        s = get_slot(r, 'x.txt', 3, 'text/plain')
        r.close()
        assert s.put_url.startswith(base + '/') and s.put_url.endswith('/x.txt'), s.put_url
        assert s.path.startswith('/files/'), s.path
        assert put(srv, s.path, b'abc', s.auth, 'text/plain').status == 201
        assert get(srv, s.path).body == b'abc'
        assert get(srv, s.path.replace('/files/', '/upload/', 1)).status == 404


def test_bad_settings_refused():
    for key, value in (('size_limit', '0'), ('size_limit', '10X'), ('quota', '-1'),
                       ('expires_after', 'soon'), ('slot_lifetime', '2d'),
                       ('external_url', 'ftp://x/y'), ('external_url', 'https://x/a/../b'),
                       ('external_url', 'https://x/up?x=1'), ('colour', 'blue')):
        srv = Server(start=False, server={'modules': MODULES},
                     extra_ini='[http_file_share]\n%s = %s\n' % (key, value))
        r = srv.cli('check', 'config')
        assert r.returncode == 2 and key in (r.stdout + r.stderr), \
            '%s = %s: %d %s%s' % (key, value, r.returncode, r.stdout, r.stderr)
        srv.cleanup()


def test_files_go_with_a_deleted_account():
    with upload_server(https=False, server={'modules': MODULES + ', register'}) as srv:
        a = R.client(srv, 'alice')
        s = get_slot(a, 'mine.txt', 4)
        assert put(srv, s.path, b'mine', s.auth).status == 201
        b = R.client(srv, 'bob')
        t = get_slot(b, 'bobs.txt', 4)
        assert put(srv, t.path, b'bobs', t.auth).status == 201
        assert len(stored(srv)) == 4
        rep = a.iq("<iq type='set'><query xmlns='jabber:iq:register'><remove/></query></iq>")
        assert rep.get('type') == 'result', dump(rep)
        a.close()
        assert srv.wait_log('removed with its account')
        assert stored(srv) == sorted([t.id + '.data', t.id + '.meta']), stored(srv)
        assert get(srv, s.path).status == 404
        assert get(srv, t.path).body == b'bobs'
        b.close()


def test_parallel_downloads_and_pipelining_behind_a_file():
    data = os.urandom(2 * 1024 * 1024 + 7)
    with upload_server(https=False, settings={'size_limit': '4M'}) as srv:
        r = R.client(srv, 'alice')
        s = get_slot(r, 'big.bin', len(data))
        r.close()
        assert put(srv, s.path, data, s.auth).status == 201
        results = []

        def fetch():
            c = Http(srv.http_port, timeout=20)
            try:
                # A slow start: let the server's queue fill before reading.
                c.send(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % s.path).encode())
                time.sleep(0.3)
                results.append(c.response(timeout=20).body == data)
            finally:
                c.close()
        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [True] * 4, results
        # Requests queued behind a file being sent are answered after it,
        # in order, on the same connection.
        c = Http(srv.http_port, timeout=20)
        c.send(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n'
                'GET /.well-known/host-meta.json HTTP/1.1\r\nHost: localhost\r\n\r\n'
                'HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n'
                'GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\nConnection: close\r\n\r\n'
                % (s.path, s.path, s.path)).encode())
        r1 = c.response()
        r2 = c.response()
        r3 = c.response(head=True)
        r4 = c.response()
        assert r1.status == 200 and r1.body == data, (r1.status, len(r1.body))
        assert r2.status == 200 and r2.body == b'{"links":[]}\n', r2
        assert r3.status == 200 and r3.h('content-length') == str(len(data)), r3
        assert r4.status == 206 and r4.body == data[-3:], r4
        assert c.closed()
        c.close()
