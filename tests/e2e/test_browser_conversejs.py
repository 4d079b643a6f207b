"""
A real web client in a real browser: Converse.js (npm, pinned in
tests/browser/package-lock.json) in Debian's headless Chromium, driven by
playwright-core (tests/browser/run.mjs), against xmppd's WebSocket transport
(RFC 7395) on http_ports and https_ports, BOSH (XEP-0206) and HTTP File
Upload (XEP-0363), with slixmpp as the other side.

The browser logs in as alice through Converse's login form, starts a chat
with bob and sends a message (bob receives it); bob answers (the browser
shows it); the browser attaches a PNG, which Converse uploads and sends as a
link with an OOB element (bob receives it, the browser shows the image it
fetched back, and the test fetches it once more and compares the bytes).

What it needs is installed when missing (browser_tools.py); a failure to
install fails the test.  On failure the reason names a screenshot and the
browser's log (console, every WebSocket frame and BOSH body) in a kept
temporary directory.  Alone: /usr/bin/python3 tests/e2e/run.py browser_conversejs
"""

import asyncio
import functools
import http.server
import json
import os
import shutil
import ssl
import struct
import tempfile
import threading
import urllib.parse
import urllib.request
import zlib

import browser_tools
from lib import Server, free_port
from test_client import Client, expect, run_scenario

# What a server for web clients runs.  blocklist is needed: without XEP-0191
# Converse 14 never finishes starting a chat with someone not in the roster.
MODULES = ('roster, saslauth, tls, disco, ping, offline, vcard, privacy, blocklist, '
           'carbons, mam, pep, websocket, bosh, http_file_share')
SERVICE = 'upload.localhost'
SEND = 'hello from Converse in Chromium'
REPLY = 'hello back from slixmpp'
NS_OOB = 'jabber:x:oob'
BROWSER_LIMIT = 100		# seconds for the whole browser run


def png(width=24, height=16):
    """A small valid RGB PNG with a gradient, so a broken upload cannot
    pass as an empty or blank picture."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    rows = b''.join(b'\0' + b''.join(bytes((x * 10, y * 15, 128)) for x in range(width))
                    for y in range(height))
    return (b'\x89PNG\r\n\x1a\n'
            + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class StaticPages:
    """tests/browser served on 127.0.0.1 at a random port, in a thread."""

    def __init__(self):
        handler = functools.partial(Quiet, directory=browser_tools.BROWSER_DIR)
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def fetch(url):
    """GET url from the server on loopback, whatever host name it has (the
    certificate is a throwaway one: not checked)."""
    u = urllib.parse.urlsplit(url)
    local = u._replace(netloc='127.0.0.1:%d' % u.port).geturl()
    req = urllib.request.Request(local, headers={'Host': u.netloc})
    ctx = ssl._create_unverified_context() if u.scheme == 'https' else None
    with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
        return r.status, r.headers.get('Content-Type'), r.read()


def tail(path, n=25):
    try:
        with open(path, errors='replace') as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


def converse_flow(tls, bosh=False):
    """The whole conversation, over WebSocket or BOSH, with the uploads on
    the same port: https_ports (wss://, https://) when tls, else
    http_ports (ws://, http://)."""
    browser_tools.ensure()
    tmp = tempfile.mkdtemp(prefix='xmppd-browser-')
    image = os.path.join(tmp, 'xmppd-test.png')
    data = png()
    with open(image, 'wb') as f:
        f.write(data)
    said = []		# what run.mjs printed
    http_port = free_port()
    pages = StaticPages()
    try:
        with Server(server={'modules': MODULES,
                            'https_ports' if tls else 'http_ports': http_port},
                    limits={'max_bytes_per_second': '64M'},
                    hostcfg={'localhost': {'upload': SERVICE}},
                    # Plain HTTP is for a server behind a TLS front end.
                    extra_ini='' if tls else ('[websocket]\nconsider_secure = true\n'
                                              '[bosh]\nconsider_secure = true\n')) as srv:
            if bosh:
                what, url = 'bosh', '%s://127.0.0.1:%d/http-bind' % (
                    'https' if tls else 'http', http_port)
            else:
                what, url = 'ws', '%s://127.0.0.1:%d/xmpp-websocket' % (
                    'wss' if tls else 'ws', http_port)
            cfg = {
                'chromium': browser_tools.chromium(),
                'page': 'http://127.0.0.1:%d/index.html?%s=%s' % (
                    pages.port, what, urllib.parse.quote(url, safe='')),
                'bosh': url if bosh else None,
                'jid': 'alice@localhost', 'password': 'alice-pw',
                'peer': 'bob@localhost', 'send': SEND, 'expect': REPLY,
                'image': image, 'out': tmp, 'resolve': [SERVICE],
                # The server's certificate is a throwaway one.
                'ignore_https_errors': tls,
                'timeout_ms': (BROWSER_LIMIT - 10) * 1000,
            }
            cfg_path = os.path.join(tmp, 'run.json')
            with open(cfg_path, 'w') as f:
                json.dump(cfg, f)
            url = None

            async def scenario(clients):
                nonlocal url
                bob = Client(clients, srv, 'bob@localhost/slixmpp', 'bob-pw')
                await bob.connect()
                bob.x.send_presence()
                proc = await asyncio.create_subprocess_exec(
                    'node', os.path.join(browser_tools.BROWSER_DIR, 'run.mjs'), cfg_path,
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT)

                async def read():
                    async for line in proc.stdout:
                        said.append(line.decode('utf-8', 'replace').rstrip())
                reader = asyncio.ensure_future(read())

                async def from_browser(pred, what, timeout):
                    """The next message to bob that satisfies pred, or the
                    browser's own account of why it never came."""
                    got = asyncio.ensure_future(expect(bob.messages, pred, what, timeout))
                    done, _ = await asyncio.wait([got, reader], timeout=timeout + 1,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if got in done:
                        return got.result()
                    got.cancel()
                    raise AssertionError('bob never received %s%s' % (
                        what, ' (run.mjs gave up first)' if reader.done() else ''))

                try:
                    # Chromium's start and the login are in this wait.
                    m = await from_browser(lambda m: m['body'] == SEND,
                                           'the message typed in Converse', 60)
                    assert str(m['from']).startswith('alice@localhost/'), m
                    reply = bob.x.make_message(m['from'], REPLY, mtype='chat')
                    reply.send()
                    m = await from_browser(lambda m: m['body'].startswith('http'),
                                           'the link to the uploaded image', 45)
                    url = m['body']
                    oob = m.xml.find('{%s}x/{%s}url' % (NS_OOB, NS_OOB))
                    assert oob is not None and oob.text == url, \
                        'no OOB element with the link: %s' % m
                    await asyncio.wait_for(proc.wait(), 30)
                finally:
                    if proc.returncode is None:
                        # run.mjs takes its screenshot on TERM, then exits;
                        # one that closed its output is exiting already.
                        if not reader.done():
                            proc.terminate()
                        try:
                            await asyncio.wait_for(proc.wait(), 15)
                        except asyncio.TimeoutError:
                            proc.kill()
                            await proc.wait()
                    try:
                        await asyncio.wait_for(reader, 5)
                    except (asyncio.TimeoutError, asyncio.CancelledError):
                        pass
                assert proc.returncode == 0, 'run.mjs exit status %d' % proc.returncode

            run_scenario(scenario, timeout=BROWSER_LIMIT)
            shown = [s[len('uploaded: '):] for s in said if s.startswith('uploaded: ')]
            assert shown == [url], 'the browser showed %s, bob got %s' % (shown, url)
            u = urllib.parse.urlsplit(url)
            assert (u.scheme, u.hostname) == ('https' if tls else 'http', SERVICE), url
            status, ctype, body = fetch(url)
            assert status == 200 and body == data, \
                'GET %s: %d, %d bytes, not the %d uploaded' % (url, status, len(body), len(data))
            assert ctype == 'image/png', ctype
    except Exception as e:
        shot = [s for s in said if s.startswith('screenshot: ')]
        raise AssertionError('%s; %sbrowser said: %s; last of %s: %s' % (
            e, shot[0] + '; ' if shot else '', ' | '.join(said[-8:]) or 'nothing',
            os.path.join(tmp, 'browser.log'),
            ' | '.join(tail(os.path.join(tmp, 'browser.log'), 12)))) from e
    finally:
        pages.close()
    if os.environ.get('XMPPD_E2E_KEEP') != '1':
        shutil.rmtree(tmp, ignore_errors=True)


def test_conversejs_ws_on_http_port():
    converse_flow(tls=False)


def test_conversejs_wss_on_https_port():
    converse_flow(tls=True)


def test_conversejs_bosh_on_https_port():
    converse_flow(tls=True, bosh=True)


# Generous when Chromium or the npm packages still have to be installed.
for _t in (test_conversejs_ws_on_http_port, test_conversejs_wss_on_https_port,
           test_conversejs_bosh_on_https_port):
    _t.timeout = 150 if not browser_tools.missing() else 900
del _t
