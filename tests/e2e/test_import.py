"""
`xmppd import-prosody` (issue 6).

test_import_from_real_prosody: Debian's Prosody 0.12 makes the data
directory: accounts with prosodyctl (SCRAM-SHA-1 keys on one host, a
plaintext password on the other), then rosters (groups, subscriptions, a
pending request), vCards (mod_vcard on one host, mod_vcard_legacy's PEP
vCard4 and avatar on the other), private XML, a PEP node and offline
messages made with slixmpp against the running Prosody.  What Prosody
answers is recorded, Prosody is stopped, the data imported, and xmppd must
answer the same: login with the old passwords (SCRAM-SHA-1 and PLAIN), the
same roster, vCard and private data, the offline messages, the pending
request.

The other tests build Prosody-format files by hand (no Prosody needed):
malformed and hostile files are reported with path and line and skipped
while the rest is imported; --dry-run writes nothing; without --force an
existing account is left alone; a second run changes nothing; a running
server's lock is respected; usage errors have their exit codes.
"""

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import slixmpp

from lib import Server, free_port, make_cert

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

NS_ROSTER = 'jabber:iq:roster'
NS_VCARD = 'vcard-temp'
NS_PRIVATE = 'jabber:iq:private'
NS_DELAY = 'urn:xmpp:delay'
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
XML_LANG = '{http://www.w3.org/XML/1998/namespace}lang'
MODULES = 'roster, saslauth, tls, disco, ping, offline, vcard, private'
STAMP_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
# A 1x1 PNG.
PNG_B64 = ('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAF'
           'AAH/iZk9HQAAAABJRU5ErkJggg==')


# ---- an XMPP client ----

async def _no_dns(*args, **kwargs):
    return None


class Client:
    """slixmpp with queues of what arrives; connects to 127.0.0.1:port."""

    def __init__(self, clients, port, jid, password, mech=None):
        self.port = port
        self.jid = jid
        self.x = x = slixmpp.ClientXMPP(jid, password, sasl_mech=mech)
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.default_domain = x.boundjid.domain
        x._pick_dns_answer = _no_dns
        x.auto_authorize = None
        x.auto_subscribe = False
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.session = asyncio.Event()
        self.failed = asyncio.Event()
        self.gone = asyncio.Event()
        x.register_handler(slixmpp.Callback(
            'import messages', slixmpp.MatchXPath('{jabber:client}message'),
            lambda st: self.messages.put_nowait(st)))
        x.register_handler(slixmpp.Callback(
            'import presences', slixmpp.MatchXPath('{jabber:client}presence'),
            lambda st: self.presences.put_nowait(st)))
        x.add_event_handler('session_start', lambda ev: self.session.set())
        x.add_event_handler('failed_all_auth', lambda ev: self.failed.set())
        x.add_event_handler('disconnected', lambda ev: self.gone.set())
        clients.append(self)

    async def connect(self, expect=True, timeout=10):
        self.x.connect(address=('127.0.0.1', self.port))
        waits = {asyncio.ensure_future(self.session.wait()): 'session',
                 asyncio.ensure_future(self.failed.wait()): 'failed',
                 asyncio.ensure_future(self.gone.wait()): 'disconnected'}
        done, pending = await asyncio.wait(list(waits), timeout=timeout,
                                           return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        what = waits[done.pop()] if done else 'timeout'
        if expect and what != 'session':
            raise AssertionError('%s: no session on port %d (%s)'
                                 % (self.jid, self.port, what))
        return what

    @property
    def mech(self):
        return self.x['feature_mechanisms'].mech.name

    async def iq(self, typ, payload, to=None):
        iq = self.x.Iq()
        iq['type'] = typ
        if to is not None:
            iq['to'] = to
        iq.xml.append(ET.fromstring(payload))
        r = await iq.send(timeout=5)
        return r.xml

    async def close(self):
        if self.x.transport is not None:
            try:
                await asyncio.wait_for(self.x.disconnect(wait=1), 3)
            except Exception:
                self.x.abort()
        else:
            self.x.cancel_connection_attempt()


def run(scenario, timeout=40):
    """Run scenario(clients) in a fresh event loop; clients are closed."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clients = []
    try:
        try:
            return loop.run_until_complete(asyncio.wait_for(scenario(clients), timeout))
        except asyncio.TimeoutError:
            raise AssertionError('scenario did not finish in %d s' % timeout)
    finally:
        try:
            loop.run_until_complete(asyncio.wait_for(asyncio.gather(
                *(c.close() for c in clients), return_exceptions=True), 5))
        except Exception:
            pass
        for t in asyncio.all_tasks(loop):
            t.cancel()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        except Exception:
            pass
        loop.close()
        asyncio.set_event_loop(None)


async def collect(queue, n, what, timeout=5):
    """n stanzas from queue, or fail naming what was missing."""
    got = []
    loop = asyncio.get_event_loop()
    deadline = loop.time() + timeout
    while len(got) < n:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError('got %d of %d %s: %s'
                                 % (len(got), n, what, [str(s)[:300] for s in got]))
        try:
            got.append(await asyncio.wait_for(queue.get(), left))
        except asyncio.TimeoutError:
            pass
    return got


# ---- comparing answers ----

def canon(el):
    """An element as a comparable tuple, white space around text ignored."""
    return (el.tag, tuple(sorted(el.attrib.items())), (el.text or '').strip(),
            tuple(canon(c) + ((c.tail or '').strip(),) for c in el))


def roster_of(reply):
    q = reply.find('{%s}query' % NS_ROSTER)
    out = {}
    for it in q.findall('{%s}item' % NS_ROSTER):
        out[it.get('jid')] = (it.get('name'), it.get('subscription'), it.get('ask'),
                              tuple(sorted(g.text or '' for g in
                                           it.findall('{%s}group' % NS_ROSTER))))
    return out


async def get_roster(c):
    return roster_of(await c.iq('get', "<query xmlns='jabber:iq:roster'/>"))


async def get_vcard(c, to=None):
    r = await c.iq('get', "<vCard xmlns='vcard-temp'/>", to)
    return r.find('{%s}vCard' % NS_VCARD)


async def get_private(c, name, ns):
    r = await c.iq('get', "<query xmlns='jabber:iq:private'><%s xmlns='%s'/></query>"
                   % (name, ns))
    return r.find('{%s}query/{%s}%s' % (NS_PRIVATE, ns, name))


async def pep_item(c, node):
    """The newest item of one of the account's own PEP nodes."""
    r = await c.iq('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>"
                   % (NS_PUBSUB, node))
    items = r.findall('{%s}pubsub/{%s}items/{%s}item' % ((NS_PUBSUB,) * 3))
    assert items, 'no items in %s: %s' % (node, ET.tostring(r))
    return items[-1]


def vtext(vcard, path):
    el = vcard.find('/'.join('{%s}%s' % (NS_VCARD, p) for p in path.split('/')))
    return None if el is None else (el.text or '')


# ---- Prosody-format files written by hand ----

class T:
    """A Lua table with positional entries and keyed ones, in order."""

    def __init__(self, *pos, **kw):
        self.pos = list(pos)
        self.kv = list(kw.items())

    def set(self, k, v):
        self.kv.append((k, v))
        return self


class Raw:
    """Lua text written as it is."""

    def __init__(self, text):
        self.text = text


def st(name, attr=None, *children):
    """A stanza as Prosody preserializes it."""
    return T(*children).set('name', name).set('attr', attr or {})


def lua_str(s):
    """A Lua string literal the way util.serialization writes one."""
    b = s.encode() if isinstance(s, str) else s
    out = ['"']
    for c in b:
        ch = chr(c)
        if ch == '\n':
            out.append('\\n')
        elif ch in '"\'\\':
            out.append('\\' + ch)
        elif 0x20 <= c < 0x7f:
            out.append(ch)
        else:
            out.append('\\%03d' % c)
    out.append('"')
    return ''.join(out)


def lua(v, d=1):
    if isinstance(v, Raw):
        return v.text
    if v is None:
        return 'nil'
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    if isinstance(v, int):
        return '%d' % v
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (str, bytes)):
        return lua_str(v)
    if isinstance(v, dict):
        v = T(**{}) if not v else _dict_table(v)
    if isinstance(v, list):
        v = T(*v)
    ind = '\t' * d
    parts = []
    for p in v.pos:
        parts.append('%s%s;\n' % (ind, lua(p, d + 1)))
    for k, val in v.kv:
        parts.append('%s[%s] = %s;\n' % (ind, lua(k, d + 1), lua(val, d + 1)))
    if not parts:
        return '{}'
    return '{\n' + ''.join(parts) + '\t' * (d - 1) + '}'


def _dict_table(dct):
    t = T()
    t.kv = list(dct.items())
    return t


def dat(v):
    return 'return ' + lua(v) + ';\n'


def items(*vs):
    return ''.join('item(' + lua(v) + ');\n' for v in vs)


def write_tree(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(text.encode() if isinstance(text, str) else text)


def scram_account(password, salt, iterations):
    """An accounts/*.dat table as mod_auth_internal_hashed writes it."""
    salted = hashlib.pbkdf2_hmac('sha1', password.encode(), salt.encode(), iterations)
    client_key = hmac.new(salted, b'Client Key', 'sha1').digest()
    return {
        'iteration_count': iterations,
        'server_key': hmac.new(salted, b'Server Key', 'sha1').hexdigest(),
        'salt': salt,
        'stored_key': hashlib.sha1(client_key).hexdigest(),
    }


def import_server(hosts, **kw):
    """An xmppd (not started) with no accounts of its own."""
    return Server(hosts=hosts, users={}, start=False,
                  server={'modules': MODULES}, **kw)


def data_files(srv):
    """{relative path: bytes} of everything in the server's data_path."""
    out = {}
    for root, dirs, files in os.walk(srv.data_path):
        for n in files:
            p = os.path.join(root, n)
            with open(p, 'rb') as f:
                out[os.path.relpath(p, srv.data_path)] = f.read()
    return out


def summary_counts(stdout):
    """The numbers of the summary lines: {'accounts': 3, ...}."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r'^  ([a-z ,]+): (\d+)', line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


# ---- a real Prosody ----

def _lua_path(p):
    return lua_str(p)


class Prosody:
    """Debian's Prosody with its own config and data under a temp dir."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.data = os.path.join(tmp, 'prosody-data')
        self.cfg = os.path.join(tmp, 'prosody.cfg.lua')
        self.log = os.path.join(tmp, 'prosody.log')
        self.port = free_port()
        self.proc = None
        os.makedirs(self.data, mode=0o750)
        cert, key = os.path.join(tmp, 'p-cert.pem'), os.path.join(tmp, 'p-key.pem')
        make_cert(cert, key, ('localhost', 'plain.localhost'))
        common = ['roster', 'saslauth', 'tls', 'disco', 'private', 'offline',
                  'pep', 'ping']
        text = '\n'.join([
            'run_as_root = true',
            'daemonize = false',
            'pidfile = %s' % _lua_path(os.path.join(tmp, 'prosody.pid')),
            'data_path = %s' % _lua_path(self.data),
            'log = { { levels = { min = "info" }, to = "file", filename = %s } }'
            % _lua_path(self.log),
            'interfaces = { "127.0.0.1" }',
            'local_interfaces = { "127.0.0.1" }',
            'c2s_ports = { %d }' % self.port,
            'c2s_direct_tls_ports = { }',
            's2s_ports = { }',
            'certificates = %s' % _lua_path(tmp),
            'ssl = { certificate = %s; key = %s }' % (_lua_path(cert), _lua_path(key)),
            'c2s_require_encryption = true',
            'storage = "internal"',
            'authentication = "internal_hashed"',
            'modules_enabled = { %s }' % ', '.join(lua_str(m) for m in common + ['vcard']),
            'modules_disabled = { "s2s" }',
            'VirtualHost "localhost"',
            # Debian's default: vCards go to PEP as vCard4 + avatar.
            'VirtualHost "plain.localhost"',
            '\tauthentication = "internal_plain"',
            '\tmodules_enabled = { %s }' % ', '.join(
                lua_str(m) for m in common + ['vcard4', 'vcard_legacy']),
            ''])
        with open(self.cfg, 'w') as f:
            f.write(text)

    def ctl(self, *args, timeout=30):
        r = subprocess.run(['prosodyctl', '--config', self.cfg] + list(args),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError('prosodyctl %s failed (%d): %s %s'
                                 % (' '.join(args[:3]), r.returncode,
                                    r.stdout[-1500:], r.stderr[-1500:]))
        return r

    def register(self, user, host, password):
        self.ctl('register', user, host, password)

    def start(self, timeout=15):
        self.out = open(os.path.join(self.tmp, 'prosody.out'), 'wb')
        self.proc = subprocess.Popen(['prosody', '--config', self.cfg, '-F'],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, cwd=self.tmp)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError('prosody exited with %d before listening: %s'
                                     % (self.proc.returncode, self.tail()))
            try:
                socket.create_connection(('127.0.0.1', self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError('prosody not listening on %d after %d s: %s'
                             % (self.port, timeout, self.tail()))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.out.close()

    def tail(self, n=2000):
        text = ''
        for p in (os.path.join(self.tmp, 'prosody.out'), self.log):
            try:
                with open(p, errors='replace') as f:
                    text += f.read()[-n:]
            except OSError:
                pass
        return text


def ensure_prosody():
    """Install Debian's prosody when it is missing; a reason if we cannot."""
    if shutil.which('prosody') and shutil.which('prosodyctl'):
        return None
    if os.geteuid() != 0 or not shutil.which('apt-get'):
        return 'prosody is not installed and cannot be installed here (needs root and apt-get)'
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    for cmd in (['apt-get', 'install', '-y', '-q', '--no-install-recommends', 'prosody'],
                ['apt-get', 'update', '-q'],
                ['apt-get', 'install', '-y', '-q', '--no-install-recommends', 'prosody']):
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=240, env=env)
        except subprocess.TimeoutExpired:
            return '%s timed out' % ' '.join(cmd)
        if cmd[1] == 'install' and r.returncode == 0:
            break
    if not (shutil.which('prosody') and shutil.which('prosodyctl')):
        return 'apt-get install prosody failed: ' + r.stderr[-500:]
    return None


# ---- the real thing ----

def _populate(p):
    """Make Prosody write every kind of data; return what it answers."""
    vcard_alice = ("<vCard xmlns='vcard-temp'><FN>Alice Liddell \u00c4\u00df</FN>"
                   "<N><FAMILY>Liddell</FAMILY><GIVEN>Alice</GIVEN></N>"
                   "<NICKNAME>ally</NICKNAME><PHOTO><TYPE>image/png</TYPE>"
                   "<BINVAL>%s</BINVAL></PHOTO></vCard>" % PNG_B64)
    vcard_dot = ("<vCard xmlns='vcard-temp'><FN>Dot User</FN><NICKNAME>dotty</NICKNAME>"
                 "<EMAIL><INTERNET/><USERID>dot@example.org</USERID></EMAIL>"
                 "<PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO></vCard>"
                 % PNG_B64)
    seen = {}

    async def scenario(clients):
        a = Client(clients, p.port, 'alice@localhost/pr', 'alice-pw', 'SCRAM-SHA-1')
        b = Client(clients, p.port, 'bob@localhost/pr', 'bob-pw')
        await a.connect()
        await b.connect()
        await a.iq('set', "<query xmlns='jabber:iq:roster'><item jid='bob@localhost' "
                   "name='Bobby'><group>Friends</group><group>Work</group></item></query>")
        await a.iq('set', "<query xmlns='jabber:iq:roster'><item "
                   "jid='dave@elsewhere.example' name='Dave &quot;D&quot; &amp; Co'/>"
                   "</query>")
        a.x.send_presence()
        b.x.send_presence()
        # alice <-> bob: both; alice -> carol: a request carol has not seen.
        a.x.send_presence(pto='bob@localhost', ptype='subscribe')
        await asyncio.sleep(0.3)
        b.x.send_presence(pto='alice@localhost', ptype='subscribed')
        b.x.send_presence(pto='alice@localhost', ptype='subscribe')
        await asyncio.sleep(0.3)
        a.x.send_presence(pto='bob@localhost', ptype='subscribed')
        a.x.send_presence(pto='carol@localhost', ptype='subscribe')
        await asyncio.sleep(0.3)
        await a.iq('set', vcard_alice)
        await a.iq('set', "<query xmlns='jabber:iq:private'><storage "
                   "xmlns='storage:bookmarks'><conference jid='room@conference.localhost' "
                   "autojoin='true' name='Room'><nick>al</nick></conference></storage>"
                   "</query>")
        await a.iq('set', "<query xmlns='jabber:iq:private'><prefs xmlns='urn:test:prefs' "
                   "mode='x'>quote \" amp &amp; lt &lt; tab\there \u2603</prefs></query>")
        await a.iq('set', "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish "
                   "node='http://jabber.org/protocol/nick'><item id='current'><nick "
                   "xmlns='http://jabber.org/protocol/nick'>Ally</nick></item></publish>"
                   "</pubsub>")
        seen['alice_nick'] = canon(await pep_item(a, 'http://jabber.org/protocol/nick'))
        seen['alice_roster'] = await get_roster(a)
        seen['bob_roster'] = await get_roster(b)
        seen['alice_vcard'] = canon(await get_vcard(a))
        seen['bookmarks'] = canon(await get_private(a, 'storage', 'storage:bookmarks'))
        seen['prefs'] = canon(await get_private(a, 'prefs', 'urn:test:prefs'))
        await a.close()
        await asyncio.sleep(0.3)
        b.x.send_message(mto='alice@localhost', mbody='hello 1', mtype='chat')
        m = b.x.make_message(mto='alice@localhost', mbody='second\nline <&>',
                             msubject='subj', mtype='normal')
        m['lang'] = 'de'
        m['thread'] = 'th1'
        m.send()
        await b.iq('get', "<ping xmlns='urn:xmpp:ping'/>", 'localhost')
        d = Client(clients, p.port, 'dot.user@plain.localhost/pr', 'pl"ain\\pw', 'PLAIN')
        await d.connect()
        await d.iq('set', "<query xmlns='jabber:iq:roster'><item jid='alice@localhost'/>"
                   "</query>")
        await d.iq('set', vcard_dot)
        seen['dot_vcard'] = await get_vcard(d)
        seen['dot_roster'] = await get_roster(d)
        seen['dot_avatar'] = canon(await pep_item(d, 'urn:xmpp:avatar:data'))
    run(scenario)
    # Prosody really stored what the comparisons below rely on.
    assert seen['alice_roster'] == {
        'bob@localhost': ('Bobby', 'both', None, ('Friends', 'Work')),
        'carol@localhost': (None, 'none', 'subscribe', ()),
        'dave@elsewhere.example': ('Dave "D" & Co', 'none', None, ())}, seen
    assert seen['bob_roster'] == {'alice@localhost': (None, 'both', None, ())}, seen
    assert seen['alice_vcard'][3][0][:3] == ('{vcard-temp}FN', (), 'Alice Liddell \u00c4\u00df')
    assert seen['bookmarks'][3][0][1] == (('autojoin', 'true'),
                                          ('jid', 'room@conference.localhost'),
                                          ('name', 'Room')), seen['bookmarks']
    assert seen['prefs'][2] == 'quote " amp & lt < tab\there \u2603', seen['prefs']
    assert seen['alice_nick'][3][0][2] == 'Ally', seen['alice_nick']
    assert seen['dot_avatar'][3][0][2] == PNG_B64, seen['dot_avatar']
    return seen


def test_import_from_real_prosody():
    why = ensure_prosody()
    assert why is None, why
    tmp = tempfile.mkdtemp(prefix='xmppd-import-')
    p = Prosody(tmp)
    try:
        t0 = time.monotonic()
        for user, host, pw in (('alice', 'localhost', 'alice-pw'),
                               ('bob', 'localhost', 'bob-pw'),
                               ('carol', 'localhost', 'carol-pw'),
                               ('dot.user', 'plain.localhost', 'pl"ain\\pw')):
            p.register(user, host, pw)
        p.start()
        try:
            seen = _populate(p)
        finally:
            p.stop()
        # What Prosody wrote, as the brief describes it.
        acct = open(os.path.join(p.data, 'localhost', 'accounts', 'alice.dat')).read()
        assert '["stored_key"]' in acct and '["iteration_count"]' in acct, acct
        plain = open(os.path.join(p.data, 'plain%2elocalhost', 'accounts',
                                  'dot%2euser.dat')).read()
        assert '["password"] = "pl\\"ain\\\\pw"' in plain, plain
        assert os.path.exists(os.path.join(p.data, 'localhost', 'offline', 'alice.list'))
        assert os.path.isdir(os.path.join(p.data, 'plain%2elocalhost',
                                          'pep_urn%3axmpp%3avcard4'))
        assert not os.path.exists(os.path.join(p.data, 'plain%2elocalhost', 'vcard',
                                               'dot%2euser.dat'))
        setup = time.monotonic() - t0

        with import_server(('localhost', 'plain.localhost')) as srv:
            r = srv.cli('import-prosody', p.data, '--dry-run')
            assert r.returncode == 0, r.stdout + r.stderr
            assert data_files(srv) == {}, 'a dry run wrote %s' % data_files(srv)
            r = srv.cli('import-prosody', p.data)
            assert r.returncode == 0, r.stdout + r.stderr
            n = summary_counts(r.stdout)
            assert n['accounts'] == 4 and n['rosters'] == 4, r.stdout
            assert n['vcards'] == 2 and n['private fragments'] == 2, r.stdout
            assert n['offline messages'] == 2 and n['skipped, errors'] == 0, r.stdout
            assert 'imported dot.user@plain.localhost: account (keys made from its ' \
                'plaintext password)' in r.stdout, r.stdout
            # Idempotent: the second run touches nothing.
            before = data_files(srv)
            r = srv.cli('import-prosody', p.data)
            assert r.returncode == 0 and summary_counts(r.stdout)['skipped, already '
                                                               'in xmppd'] == 4, r.stdout
            assert data_files(srv) == before
            srv.start()

            async def scenario(clients):
                a = Client(clients, srv.c2s_port, 'alice@localhost/x', 'alice-pw',
                           'SCRAM-SHA-1')
                await a.connect()
                assert a.mech == 'SCRAM-SHA-1'
                assert await get_roster(a) == seen['alice_roster'], \
                    (await get_roster(a), seen['alice_roster'])
                assert canon(await get_vcard(a)) == seen['alice_vcard']
                assert canon(await get_private(a, 'storage', 'storage:bookmarks')) == \
                    seen['bookmarks']
                assert canon(await get_private(a, 'prefs', 'urn:test:prefs')) == \
                    seen['prefs']
                a.x.send_presence()
                msgs = await collect(a.messages, 2, 'offline messages')
                assert [m['body'] for m in msgs] == ['hello 1', 'second\nline <&>']
                assert msgs[0]['from'] == 'bob@localhost/pr' and msgs[0]['type'] == 'chat'
                assert msgs[1]['subject'] == 'subj' and msgs[1]['thread'] == 'th1'
                assert msgs[1].xml.get(XML_LANG) == 'de', msgs[1]
                for m in msgs:
                    d = m.xml.find('{%s}delay' % NS_DELAY)
                    assert d is not None and d.get('from') == 'localhost' and \
                        STAMP_RE.match(d.get('stamp')), str(m)

                b = Client(clients, srv.c2s_port, 'bob@localhost/x', 'bob-pw', 'PLAIN')
                await b.connect()
                assert b.mech == 'PLAIN'
                assert await get_roster(b) == seen['bob_roster']

                # carol gets the request alice made while she was away.
                c = Client(clients, srv.c2s_port, 'carol@localhost/x', 'carol-pw',
                           'SCRAM-SHA-1')
                await c.connect()
                assert await get_roster(c) == {}
                c.x.send_presence()
                while True:
                    pr = (await collect(c.presences, 1, 'the pending subscribe'))[0]
                    if pr['type'] == 'subscribe':
                        break
                assert str(pr['from']) == 'alice@localhost', pr

                # The plaintext account: every mechanism works.
                for mech in ('PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256'):
                    d = Client(clients, srv.c2s_port, 'dot.user@plain.localhost/' + mech,
                               'pl"ain\\pw', mech)
                    await d.connect()
                    assert d.mech == mech
                assert await get_roster(d) == seen['dot_roster']
                v = await get_vcard(d)
                want = seen['dot_vcard']
                for path in ('FN', 'NICKNAME', 'EMAIL/USERID', 'PHOTO/TYPE', 'PHOTO/BINVAL'):
                    assert vtext(v, path) == vtext(want, path), (path, ET.tostring(v))
                assert vtext(v, 'FN') == 'Dot User' and vtext(v, 'PHOTO/BINVAL') == PNG_B64

                # The old password only.
                w = Client(clients, srv.c2s_port, 'alice@localhost/w', 'wrong', 'SCRAM-SHA-1')
                assert await w.connect(expect=False) != 'session'
            run(scenario)

            # With xmppd's PEP module on, the PEP data Prosody had is there.
            srv.stop()
            srv.server_cfg['modules'] = MODULES + ', pep'
            srv.write_config()
            srv.start()

            async def scenario_pep(clients):
                # Left to choose, slixmpp tries SCRAM-SHA-256 first: the
                # account has SHA-1 keys only, so it falls back to SHA-1.
                a = Client(clients, srv.c2s_port, 'alice@localhost/p', 'alice-pw')
                await a.connect()
                assert a.mech == 'SCRAM-SHA-1', a.mech
                assert canon(await pep_item(a, 'http://jabber.org/protocol/nick')) == \
                    seen['alice_nick']
                d = Client(clients, srv.c2s_port, 'dot.user@plain.localhost/p',
                           'pl"ain\\pw')
                await d.connect()
                assert canon(await pep_item(d, 'urn:xmpp:avatar:data')) == seen['dot_avatar']
            run(scenario_pep)
        elapsed = time.monotonic() - t0
        assert elapsed < 60, 'took %.1f s (Prosody part %.1f s)' % (elapsed, setup)
    except AssertionError as e:
        raise AssertionError('%s\n--- prosody log ---\n%s' % (e, p.tail(1500)))
    finally:
        p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# Installing Prosody may take a few minutes; the test itself takes ~15 s.
test_import_from_real_prosody.timeout = 420


# ---- hand-made data: everything at once ----

HOSTED = 'example%2etest'


def synthetic_tree(root, evil_path):
    """A Prosody data directory with good, malformed and hostile files."""
    h = HOSTED + '/'
    avatar = hashlib.sha1(base64.b64decode(PNG_B64)).hexdigest()
    files = {
        h + 'accounts/hashed.dat': dat(scram_account('hashed-pw', 'f00dbabe-1', 4096)),
        h + 'accounts/plain.dat': 'return {\n\t["password"] = "q\\"\\\\\\065z";\n};\n',
        h + 'accounts/pepper.dat': dat(scram_account('pepper-pw', 'cafe-2', 10000)),
        h + 'accounts/bad%2dsyntax.dat': 'return {\n\t["password"] = "unterminated;\n};\n',
        h + 'accounts/nokeys.dat': 'return {\n\t["salt"] = "x";\n};\n',
        h + 'accounts/shortkey.dat': dat({'iteration_count': 4096, 'salt': 's',
                                          'stored_key': 'abc', 'server_key': 'a' * 40}),
        h + 'accounts/Upper.dat': dat({'password': 'x'}),
        h + 'accounts/evil.dat': 'return os.execute(%s)\n' % lua_str('touch ' + evil_path),
        h + 'roster/hashed.dat': dat(T().set(False, {
            'version': 41,
            'pending': {'someone@remote.example': True, 'bad jid@@x': True},
        }).set('friend@example.test', {
            'name': 'Friend \u2603', 'subscription': 'both',
            'groups': {'B': True, 'A': True}, 'approved': 'true',
        }).set('Remote@Elsewhere.Example', {
            'subscription': 'to', 'ask': 'subscribe', 'groups': {},
        }).set('not a jid@@', {'subscription': 'none', 'groups': {}})
          .set('weird@example.test', {'subscription': 'sideways', 'groups': {}})
          .set('hashed@example.test', {'subscription': 'both', 'groups': {}})
          .set('ctl@example.test', {'name': 'bell\x07', 'subscription': 'none',
                                    'groups': {}})
          .set('FRIEND@example.test', {'subscription': 'none', 'groups': {}})),
        h + 'vcard/hashed.dat': dat(st('notvcard', {'xmlns': 'urn:x'})),
        h + 'vcard/plain.dat': (
            '-- written by hand, with a long string and comments\n'
            'return {\n'
            '\t{ [[Plain User]]; ["name"] = "FN"; ["attr"] = { ["xmlns"] = "vcard-temp" } };\n'
            '\t{ "desc with \\"quotes\\" & <tags>"; name = "DESC", attr = {} }, --[[ inherits ]]\n'
            '\t["name"] = "vCard";\n'
            '\t["attr"] = { ["xmlns"] = "vcard-temp"; ["xml:lang"] = "en" };\n'
            '};\n'),
        h + 'offline/hashed.list': items(
            st('message', {'from': 'friend@example.test/x', 'to': 'hashed@example.test',
                           'type': 'chat', 'stamp': '2020-01-02T03:04:05Z',
                           'xml:lang': 'en', 'http://example.org/x\x01flag': '1'},
               st('body', None, 'first')).set('when', 1577934245).set('key', 'k1')
            .set('with', ''),
            st('iq', {'type': 'get'}).set('when', 1577934246),
            st('message', {'type': 'chat'}, st('body', None, b'bad \xff utf8'))
            .set('when', 1577934247),
            st('message', {'from': 'friend@example.test/x', 'to': 'hashed@example.test',
                           'type': 'normal', 'stamp': '2020-01-02T03:04:06Z'},
               st('body', None, 'second'))),
        h + 'private/hashed.dat': dat({
            'storage:storage:bookmarks': st('storage', {'xmlns': 'storage:bookmarks'},
                                            st('conference', {'jid': 'room@conf.example.test',
                                                              'autojoin': 'true'})),
            'query:jabber:iq:roster': st('query', {'xmlns': 'jabber:iq:roster'}, 'x'),
        }),
        h + 'pep/pepper.dat': dat({
            'urn:xmpp:vcard4': {'name': 'urn:xmpp:vcard4', 'config': {}},
            'urn:xmpp:bookmarks:1': {'name': 'urn:xmpp:bookmarks:1',
                                     'config': {'access_model': 'whitelist',
                                                'max_items': 'max',
                                                'persist_items': True}},
        }),
        h + 'pep_urn%3axmpp%3avcard4/pepper.list': items(
            st('vcard', {'xmlns': 'urn:ietf:params:xml:ns:vcard-4.0',
                         'stamp': '2020-01-01T00:00:00Z'},
               st('fn', None, st('text', None, 'Pepper Potts')),
               st('n', None, st('surname', None, 'Potts'), st('given', None, 'Pepper')),
               st('nickname', None, st('text', None, 'pep')),
               st('email', None, st('text', None, 'pepper@example.org'),
                  st('parameters', None, st('type', None, st('text', None, 'work')))),
               st('tel', None, st('uri', None, 'tel:+1-555-0100')),
               st('impp', None, st('uri', None, 'xmpp:pepper@example.test')),
               st('note', None, st('text', None, 'CEO')))
            .set('key', 'current').set('when', 1577836800).set('with', 'pepper@example.test')),
        h + 'pep_urn%3axmpp%3aavatar%3adata/pepper.list': items(
            st('data', {'xmlns': 'urn:xmpp:avatar:data'}, PNG_B64)
            .set('key', avatar).set('when', 1577836801).set('with', 'pepper@example.test')),
        h + 'pep_urn%3axmpp%3aavatar%3ametadata/pepper.list': items(
            st('metadata', {'xmlns': 'urn:xmpp:avatar:metadata'},
               st('info', {'id': avatar, 'type': 'image/png', 'bytes': '70'}))
            .set('key', avatar).set('when', 1577836801)),
        h + 'pep_urn%3axmpp%3abookmarks%3a1/pepper.list': items(
            st('conference', {'xmlns': 'urn:xmpp:bookmarks:1', 'autojoin': 'true'},
               st('nick', None, 'pep')).set('key', 'a@conf.example.test').set('when', 1.5),
            st('conference', {'xmlns': 'urn:xmpp:bookmarks:1'})
            .set('key', 'b@conf.example.test'),
            st('conference', {'xmlns': 'urn:xmpp:bookmarks:1', 'name': 'again'})
            .set('key', 'a@conf.example.test')),
        h + 'blocklist/hashed.dat': dat({'spam@example.org': True}),
        h + 'roster/ghost.dat': dat({}),
        'other%2ehost/accounts/x.dat': dat({'password': 'x'}),
        '_global/accounts/y.dat': dat({'password': 'y'}),
    }
    write_tree(root, files)
    with open(os.path.join(root, 'README'), 'w') as f:
        f.write('not a host\n')


def test_import_handmade_data():
    with import_server(('example.test',)) as srv:
        src = os.path.join(srv.tmp, 'prosody')
        evil = os.path.join(srv.tmp, 'EVIL')
        synthetic_tree(src, evil)
        r = srv.cli('import-prosody', src)
        out, err = r.stdout, r.stderr
        assert r.returncode == 1, out + err
        assert not os.path.exists(evil), 'os.execute ran'
        acc = os.path.join(src, HOSTED, 'accounts')
        for want in (
                '%s/bad%%2dsyntax.dat:2: not Prosody data: unfinished string; skipped' % acc,
                '%s/nokeys.dat:1: neither a password nor the SCRAM-SHA-1' % acc,
                '%s/shortkey.dat:' % acc,
                'stored_key is not 40 hex digits',
                '%s/Upper.dat: the user name "Upper" is not in normal form' % acc,
                "%s/evil.dat:1: not Prosody data: unexpected name 'os'" % acc,
                'roster/hashed.dat:23: contact "not a jid@@" is not a valid bare JID',
                'roster/hashed.dat:28: contact weird@example.test: unknown subscription',
                'roster/hashed.dat:36: contact ctl@example.test: the name is not text',
                'roster/hashed.dat:6: pending request from an invalid JID',
                'roster/hashed.dat: contact friend@example.test appears twice once its '
                'JID is normalised; skipped',
                "vcard/hashed.dat:1: not a vcard-temp <vCard/> but <notvcard xmlns='urn:x'>",
                'offline/hashed.list:', "offline item is <iq xmlns='jabber:client'>",
                'text in <body> is not valid XML text'):
            assert want in err, 'missing %r in:\n%s' % (want, err)
        assert err.count('error: ') == 13, err
        n = summary_counts(out)
        assert n == {'accounts': 3, 'rosters': 1, 'vcards': 2, 'private fragments': 1,
                     'offline messages': 2, 'pep nodes': 4,
                     'skipped, already in xmppd': 0, 'skipped, errors': 13,
                     'skipped, not importable': 4}, out
        assert 'rosters: 1 (2 contacts, 1 pending requests)' in out, out
        assert 'vcards: 2 (1 from PEP vCard4)' in out and 'pep nodes: 4 (5 items)' in out
        for want in ("private <query xmlns='jabber:iq:roster'> of hashed@example.test: "
                     "xmppd does not store reserved namespaces",
                     "Prosody's 'blocklist' store is not imported",
                     'roster/ghost.dat: no account in accounts/ for it',
                     'other.host is not an enabled [host]'):
            assert want in out, 'missing %r in:\n%s' % (want, out)
        assert '_global' not in out and 'README' not in out

        files = data_files(srv)
        hosted = {k for k in files if k.startswith('example.test/')}
        users = {k.split('/')[1] for k in hosted}
        assert users == {'hashed', 'plain', 'pepper'}, users
        roster = files['example.test/hashed/roster'].decode()
        assert 'ver="42"' in roster and '<pending jid="someone@remote.example"/>' in roster
        assert 'approved="true"' in roster, roster
        pep = files['example.test/pepper/pep/n-urn%3Axmpp%3Abookmarks%3A1'].decode()
        assert pep.count('<item ') == 2 and 'name="again"' in pep, pep
        assert pep.index('b@conf') < pep.index('a@conf'), 'the newer a@conf is last'
        assert '<config access="whitelist" max_items="max" send_last=' in pep, pep
        assert pep.startswith('<node xmlns="urn:xmppd:pep" version="1" '
                              'name="urn:xmpp:bookmarks:1">'), pep
        assert '<item id="a@conf.example.test" stamp="' in pep, pep
        v4 = files['example.test/pepper/pep/n-urn%3Axmpp%3Avcard4'].decode()
        assert '<item id="current" stamp="2020-01-01T00:00:00Z"><vcard ' \
            'xmlns="urn:ietf:params:xml:ns:vcard-4.0">' in v4, v4
        assert not re.search(r'<conference[^>]*stamp=', pep), 'archive stamp kept'
        assert not re.search(r'<vcard[^>]*stamp=', v4), 'archive stamp kept'
        assert 'example.test/pepper/vcard' in files
        assert 'example.test/hashed/account' in files and \
            files['example.test/hashed/account'].count(b'\n') == 2, 'SHA-1 only'
        assert files['example.test/plain/account'].count(b'scram-sha-256') == 1

        srv.start()

        async def scenario(clients):
            h = Client(clients, srv.c2s_port, 'hashed@example.test/x', 'hashed-pw',
                       'SCRAM-SHA-1')
            await h.connect()
            assert await get_roster(h) == {
                'friend@example.test': ('Friend \u2603', 'both', None, ('A', 'B')),
                'remote@elsewhere.example': (None, 'to', 'subscribe', ()),
            }
            bm = await get_private(h, 'storage', 'storage:bookmarks')
            assert bm is not None and bm[0].get('jid') == 'room@conf.example.test'
            h.x.send_presence()
            msgs = await collect(h.messages, 2, 'offline messages')
            assert [m['body'] for m in msgs] == ['first', 'second']
            assert [m.xml.find('{%s}delay' % NS_DELAY).get('stamp') for m in msgs] == \
                ['2020-01-02T03:04:05Z', '2020-01-02T03:04:06Z']
            assert msgs[0].xml.get(XML_LANG) == 'en'
            assert msgs[0].xml.get('{http://example.org/x}flag') == '1'
            assert msgs[0].xml.get('stamp') is None and msgs[1].xml.get('stamp') is None

            for mech in ('PLAIN', 'SCRAM-SHA-256'):
                p = Client(clients, srv.c2s_port, 'plain@example.test/' + mech,
                           'q"\\Az', mech)
                await p.connect()
            v = await get_vcard(p)
            assert vtext(v, 'FN') == 'Plain User'
            assert vtext(v, 'DESC') == 'desc with "quotes" & <tags>'
            assert v.get(XML_LANG) == 'en'

            pp = Client(clients, srv.c2s_port, 'pepper@example.test/x', 'pepper-pw',
                        'SCRAM-SHA-1')
            await pp.connect()
            v = await get_vcard(pp)
            for path, want in (('FN', 'Pepper Potts'), ('N/FAMILY', 'Potts'),
                               ('N/GIVEN', 'Pepper'), ('NICKNAME', 'pep'),
                               ('EMAIL/USERID', 'pepper@example.org'),
                               ('TEL/NUMBER', '+1-555-0100'),
                               ('JABBERID', 'pepper@example.test'), ('DESC', 'CEO'),
                               ('PHOTO/TYPE', 'image/png'), ('PHOTO/BINVAL', PNG_B64)):
                assert vtext(v, path) == want, (path, ET.tostring(v))
            assert v.find('{vcard-temp}EMAIL/{vcard-temp}WORK') is not None
        run(scenario)


# ---- dry run, --force, idempotence ----

def _small_tree(root, password='one-pw', body='hi', user='alice'):
    h = 'localhost/'
    write_tree(root, {
        h + 'accounts/%s.dat' % user: dat(scram_account(password, 'salt-a', 4096)),
        h + 'roster/%s.dat' % user: dat(T().set(False, {'version': 3, 'pending': {}})
                                        .set('bob@localhost', {'subscription': 'both',
                                                               'groups': {'G': True}})),
        h + 'offline/%s.list' % user: items(
            st('message', {'to': 'alice@localhost', 'type': 'chat'},
               st('body', None, body)).set('when', 1600000000)),
    })


def test_import_dry_run_force_and_again():
    with import_server(('localhost',)) as srv:
        src = os.path.join(srv.tmp, 'prosody')
        _small_tree(src)
        r = srv.cli('import-prosody', src, '-n')
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith('dry run: nothing will be written\n'), r.stdout
        assert 'would import alice@localhost: account (SCRAM-SHA-1 keys), roster ' \
            '(1 contacts, 0 pending), 1 offline' in r.stdout, r.stdout
        assert summary_counts(r.stdout)['accounts'] == 1
        assert os.listdir(srv.data_path) == [], os.listdir(srv.data_path)

        r = srv.cli('import-prosody', src)
        assert r.returncode == 0, r.stderr
        first = data_files(srv)
        assert set(first) == {'.lock', '.clean-stop', 'localhost/alice/account', 'localhost/alice/roster',
                              'localhost/alice/offline/0005af3107a40000-00000001'}, first

        # xmppd's data changes; without --force nothing is overwritten.
        roster = os.path.join(srv.data_path, 'localhost', 'alice', 'roster')
        with open(roster, 'w') as f:
            f.write("<roster xmlns='jabber:iq:roster' version='1' ver='9'/>\n")
        _small_tree(src, password='two-pw', body='changed')
        r = srv.cli('import-prosody', src)
        assert r.returncode == 0, r.stderr
        assert 'exists: alice@localhost is already an xmppd account; left alone' in r.stdout
        assert open(roster).read() == "<roster xmlns='jabber:iq:roster' version='1' ver='9'/>\n"
        r = srv.cli('import-prosody', src, '--dry-run', '--force')
        assert r.returncode == 0 and 'would import alice@localhost' in r.stdout
        assert open(roster).read().endswith("ver='9'/>\n"), 'dry run wrote'

        # --force replaces what it imports, and the same twice is the same.
        r = srv.cli('import-prosody', '--force', src)
        assert r.returncode == 0, r.stderr
        forced = data_files(srv)
        assert b'ver="4"' in forced['localhost/alice/roster']
        assert forced['localhost/alice/account'] != first['localhost/alice/account']
        assert b'changed' in forced['localhost/alice/offline/0005af3107a40000-00000001']
        r = srv.cli('import-prosody', src, '--force', '--host', 'localhost')
        assert r.returncode == 0
        assert data_files(srv) == forced

        srv.start()

        async def scenario(clients):
            a = Client(clients, srv.c2s_port, 'alice@localhost/x', 'two-pw', 'SCRAM-SHA-1')
            await a.connect()
            assert await get_roster(a) == {'bob@localhost': (None, 'both', None, ('G',))}
            a.x.send_presence()
            m = (await collect(a.messages, 1, 'the offline message'))[0]
            assert m['body'] == 'changed'
            assert m.xml.find('{%s}delay' % NS_DELAY).get('stamp') == '2020-09-13T12:26:40Z'
        run(scenario)


# ---- refusals and usage ----

def test_import_refused_while_running_and_usage():
    with Server(hosts=('localhost',)) as srv:
        src = os.path.join(srv.tmp, 'prosody')
        _small_tree(src, user='zed')
        _small_tree(src, user='alice')
        r = srv.cli('import-prosody', src)
        assert r.returncode == 1, r.stdout + r.stderr
        assert 'another xmppd is running' in r.stderr and 'stop the server first' in r.stderr
        assert not os.path.exists(os.path.join(srv.data_path, 'localhost', 'zed'))
        # Reading only: allowed while the server runs.
        r = srv.cli('import-prosody', src, '--dry-run')
        assert r.returncode == 0 and 'would import zed@localhost' in r.stdout, r.stdout
        assert not os.path.exists(os.path.join(srv.data_path, 'localhost', 'zed'))
        srv.stop()

        for args, code, text in (
                ((), 2, 'import-prosody PROSODY_DATA_DIR'),
                ((src, '--bogus'), 2, 'usage:'),
                ((src, src), 2, 'usage:'),
                ((src, '--host', 'bad host'), 2, 'not a domain name'),
                ((src, '--host', 'elsewhere.example'), 1, 'not an enabled [host]'),
                ((os.path.join(srv.tmp, 'missing'),), 1, 'No such file or directory'),
                ((srv.config_path,), 1, 'not a directory'),
                ((srv.tmp,), 1, 'holds no Prosody data for any enabled [host]'),
                ((srv.data_path + '/',), 1, "is xmppd's data_path too")):
            r = srv.cli('import-prosody', *args)
            assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
            assert text in r.stderr, (args, r.stderr)
        # alice was added by the harness: left alone, and that is no error.
        r = srv.cli('import-prosody', src, '--host', 'LocalHost')
        assert r.returncode == 0 and 'exists: alice@localhost' in r.stdout, r.stdout
        assert 'imported zed@localhost' in r.stdout, r.stdout


# ---- hostile files ----

def test_import_hostile_files():
    """Every file broken in its own way: each one reported once with its
    path, none imported, nothing crashes or hangs (ASan build)."""
    hostile = {
        'deep': 'return ' + '{' * 100000,
        'wide': 'return {' + '1,' * 300000 + '}',
        'huge%2dnumber': 'return { ["iteration_count"] = 1e999999 }',
        'binary': bytes(range(256)) * 8,
        'nul': b'return { ["password"] = "a\x00b" }',
        'nul%2descape': 'return { ["password"] = "a\\0b" }',
        'badescape': 'return { ["password"] = "\\q" }',
        'unicode': 'return { ["password"] = "\\u{110000}" }',
        'longcomment': '--[==[ never closed ]=]\n',
        'expr': 'return { ["password"] = "a" .. "b" }',
        'call': 'return setmetatable({}, {})',
        'twice': 'return { ["password"] = "a", ["password"] = "b" }',
        'itemfile': 'item({ ["password"] = "x" });',
        'empty': '',
        'string': 'return "just a string"',
        'numbers': 'return { ["iteration_count"] = -5, ["salt"] = "s", '
                   '["stored_key"] = "' + 'a' * 40 + '", ["server_key"] = "' + 'b' * 40 + '" }',
        'bigsalt': dat(dict(scram_account('x', 's' * 65, 1))),
        'iter0': dat(dict(scram_account('x', 's', 1), iteration_count=0)),
        'bigiter': dat(dict(scram_account('x', 's', 1), iteration_count=2000000)),
        'emptypw': 'return { ["password"] = "" }',
        'longpw': dat({'password': 'p' * 1024}),
        'tablepw': 'return { ["password"] = { "x" } }',
        'slash%2fname': dat({'password': 'x'}),
        'nul%00name': dat({'password': 'x'}),
        'quote%22name': dat({'password': 'x'}),
    }
    with import_server(('localhost',)) as srv:
        src = os.path.join(srv.tmp, 'prosody')
        acc = os.path.join(src, 'localhost', 'accounts')
        write_tree(src, {'localhost/accounts/%s.dat' % k: v for k, v in hostile.items()})
        # A good account whose data files are all in the way.
        write_tree(src, {
            'localhost/accounts/good.dat': dat({'password': 'good-pw'}),
            'localhost/vcard/good.dat/x': '',
            'localhost/offline/good.list': 'item(' * 50000,
            'localhost/private/good.dat': dat({'a:b': st('a', {'xmlns': 'b'},
                                                         st('c', {'bad name': 'x'}))}),
            'localhost/pep/good.dat': dat({'n': {'config': {'max_items': 1}}}),
            'localhost/pep_n/good.list': items(T('just text').set('key', 'k')),
        })
        # A user name that is two dots is a valid localpart: it must stay
        # inside its directory.
        write_tree(src, {'localhost/accounts/%2e%2e.dat': dat({'password': 'dots'})})
        os.makedirs(os.path.join(src, 'localhost', 'roster'))
        os.mkfifo(os.path.join(src, 'localhost', 'roster', 'good.dat'))
        os.symlink('/etc/passwd', os.path.join(acc, 'link.dat'))
        t0 = time.monotonic()
        r = srv.cli('import-prosody', src, timeout=60)
        assert time.monotonic() - t0 < 30, 'too slow'
        out, err = r.stdout, r.stderr
        assert r.returncode == 1, out + err
        for k in list(hostile) + ['link']:
            assert err.count('%s/%s.dat:' % (acc, k)) == 1, (k, err)
        assert 'nested deeper than 128' in err
        assert "unexpected name 'setmetatable'" in err
        assert 'key "password" appears twice' in err
        assert 'iteration_count is not a positive integer' in err
        assert 'salt is not a string of 1 to 64 bytes' in err
        assert 'the password is not a string of 1 to 1023 bytes' in err
        assert 'outside what xmppd accepts' in err
        assert 'Too many levels of symbolic links' in err
        # good itself is imported; each of its files is an error.
        assert 'imported good@localhost: account (keys made from its plaintext ' \
            'password), 1 PEP node (0 items)\n' in out, out
        for want in ('roster/good.dat: cannot read: Invalid argument',
                     'vcard/good.dat: cannot read: Invalid argument',
                     "offline/good.list:1: not Prosody data: unexpected name 'item'",
                     'private/good.dat:', 'bad attribute name "bad name" on <c>',
                     'pep_n/good.list:1: PEP item k of good@localhost: an element '
                     'without a valid name'):
            assert want in err, (want, err)
        users = {k.split('/')[1] for k in data_files(srv) if k.startswith('localhost/')}
        assert users == {'good', '%2E.'}, users
        assert 'imported ..@localhost' in out, out
        n = summary_counts(out)
        assert n['accounts'] == 2 and n['skipped, errors'] == err.count('error: '), out
