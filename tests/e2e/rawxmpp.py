"""
A small synchronous raw XMPP client for protocol-edge tests.

It writes exactly the bytes a test gives it and parses what the server sends
incrementally with expat (namespace-aware), turning every depth-1 element of
the server's stream into an ElementTree Element whose tags read
'{namespace}local'.  Nothing is hidden: stanzas the test did not ask for stay
queued until it asks for them, so a test can assert that something did NOT
arrive.

    r = Raw(srv.c2s_port)
    jid = r.login('alice', 'alice-pw')
    r.send("<message to='bob@localhost' type='chat'><body>hi</body></message>")
    reply = r.iq("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")

The server's stream header (attributes and namespace declarations) is kept in
r.header / r.header_ns, the last <stream:features/> in r.features.
"""

import base64
import hashlib
import hmac
import itertools
import os
import socket
import ssl
import time
import xml.etree.ElementTree as ET
import xml.parsers.expat

NS_STREAM = 'http://etherx.jabber.org/streams'
NS_CLIENT = 'jabber:client'
NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session'
NS_ROSTER = 'jabber:iq:roster'
NS_ROSTERVER = 'urn:xmpp:features:rosterver'
NS_PREAPPROVAL = 'urn:xmpp:features:pre-approval'
NS_PING = 'urn:xmpp:ping'
NS_DELAY = 'urn:xmpp:delay'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
NS_XML = 'http://www.w3.org/XML/1998/namespace'

STREAM_ERROR = '{%s}error' % NS_STREAM
FEATURES = '{%s}features' % NS_STREAM

DOMAIN = 'localhost'

_conn_ids = itertools.count(1)


class StreamClosed(Exception):
    """The server closed the TCP connection while we waited for something."""


class ProtocolError(Exception):
    """The server sent bytes that are not well-formed XML."""


def C(local):
    """'{jabber:client}local'."""
    return '{%s}%s' % (NS_CLIENT, local)


def q(ns, local):
    return '{%s}%s' % (ns, local)


def local_name(tag):
    return tag.rsplit('}', 1)[-1]


def ns_of(tag):
    return tag[1:].split('}', 1)[0] if tag.startswith('{') else ''


def dump(el):
    """An element as text, for assertion messages."""
    if el is None:
        return 'None'
    try:
        return ET.tostring(el, encoding='unicode')
    except Exception:  # pragma: no cover - diagnostics only
        return repr(el)


def bare(jid):
    return jid.split('/', 1)[0] if jid else jid


def stanza_error(el):
    """(type, condition) of the <error/> child of an error stanza, or
    (None, None) when there is none.  The condition is the local name of the
    first child in the stanzas namespace."""
    err = el.find(C('error'))
    if err is None:
        return (None, None)
    for child in err:
        if ns_of(child.tag) == NS_STANZAS and local_name(child.tag) != 'text':
            return (err.get('type'), local_name(child.tag))
    return (err.get('type'), None)


def stream_error_condition(el):
    """The condition of a <stream:error/> element (local name of its child in
    the streams namespace, 'text' excluded)."""
    conds = [local_name(c.tag) for c in el
             if ns_of(c.tag) == NS_STREAMS and local_name(c.tag) != 'text']
    return conds[0] if len(conds) == 1 else conds


def stream_header(to=DOMAIN, version='1.0', xmlns=NS_CLIENT, stream_ns=NS_STREAM,
                  lang='en', decl=True, frm=None, extra=''):
    """The text of an initial stream header; None drops an attribute."""
    s = "<?xml version='1.0'?>" if decl else ''
    s += '<stream:stream'
    if xmlns is not None:
        s += " xmlns='%s'" % xmlns
    if stream_ns is not None:
        s += " xmlns:stream='%s'" % stream_ns
    if to is not None:
        s += " to='%s'" % to
    if frm is not None:
        s += " from='%s'" % frm
    if version is not None:
        s += " version='%s'" % version
    if lang is not None:
        s += " xml:lang='%s'" % lang
    return s + extra + '>'


def tls_context():
    """A client context that does not verify (the test certificate is
    self-signed); the server speaks TLS 1.2 (BearSSL)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Raw:
    """One client connection.  Every read has a deadline (timeout seconds
    unless a call says otherwise); what arrives is parsed into self.queue,
    and EOF sets self.eof."""

    def __init__(self, port, host='127.0.0.1', timeout=5, direct_tls=False,
                 rcvbuf=None, connect=True, source=None):
        self.port = port
        self.host = host
        self.timeout = timeout
        self.cid = next(_conn_ids)
        self._ids = itertools.count(1)
        self.queue = []
        self.header = None          # attributes of the server's stream header
        self.header_ns = {}         # prefix ('' = default) -> URI on that header
        self.headers = []           # every server header seen, in order
        self.stream_ended = False   # server sent </stream:stream>
        self.trailing = b''         # bytes after </stream:stream>
        self.eof = False            # server closed the TCP connection
        self.eof_reason = None
        self.tls = False
        self.jid = None
        self.features = None
        self.authenticated = False
        self.send_failed = None
        self.to = DOMAIN
        self.rx = bytearray()       # the last bytes received, for messages
        self.rx_total = 0
        self.sock = None
        self._rcvbuf = rcvbuf
        self._source = source       # local address to connect from (127.0.0.x)
        self._new_parser()
        if connect:
            self.connect(direct_tls)

    # ---- transport ----

    def connect(self, direct_tls=False):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self._rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
        if self._source is not None:
            s.bind((self._source, 0))
        s.settimeout(self.timeout)
        s.connect((self.host, self.port))
        self.sock = s
        if direct_tls:
            self.wrap_tls()

    def wrap_tls(self):
        """Run a TLS handshake on the socket (after <proceed/>, or at once on
        a direct-TLS port) and start a fresh parser."""
        self.sock.settimeout(self.timeout)
        self.sock = tls_context().wrap_socket(self.sock, server_hostname=DOMAIN)
        self.tls = True
        self._restart()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except socket.timeout:
            raise
        except OSError as e:        # EPIPE, ECONNRESET, ssl.SSLError
            # The server may legitimately have closed us; what the test
            # expects next (an error, an EOF) decides whether that is fine.
            self.send_failed = e

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _read_some(self, deadline, what='data'):
        """Receive once and feed the parser; raise TimeoutError at the
        deadline.  An EOF (or reset) sets self.eof."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(self._timeout_text(what))
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except socket.timeout:
                raise TimeoutError(self._timeout_text(what)) from None
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as e:
                self.eof, self.eof_reason = True, repr(e)
                return
            except ssl.SSLError as e:
                # An unclean TLS shutdown (no close_notify) is an EOF too.
                self.eof, self.eof_reason = True, repr(e)
                return
            break
        if not data:
            self.eof, self.eof_reason = True, 'EOF'
            return
        self.rx_total += len(data)
        self.rx += data
        if len(self.rx) > 8192:
            del self.rx[:len(self.rx) - 8192]
        self._feed(data)

    def _timeout_text(self, what):
        tail = bytes(self.rx[-600:]).decode('utf-8', 'replace')
        queued = ' | '.join(dump(e)[:300] for e in self.queue[:8])
        return ('conn %d: timed out waiting for %s; queued: [%s]; last bytes received: %r'
                % (self.cid, what, queued, tail))

    # ---- parsing ----

    def _new_parser(self):
        p = xml.parsers.expat.ParserCreate(namespace_separator=' ')
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._chars
        p.StartNamespaceDeclHandler = self._nsdecl
        p.buffer_text = True
        self._parser = p
        self._depth = 0
        self._stack = []
        self._root_is_stream = False
        self._pending_ns = {}

    def _restart(self):
        """A new stream begins (after TLS or SASL success)."""
        self._new_parser()
        self.header = None
        self.header_ns = {}
        self.stream_ended = False

    @staticmethod
    def _name(n):
        if ' ' in n:
            uri, local = n.split(' ', 1)
            return '{%s}%s' % (uri, local)
        return n

    def _nsdecl(self, prefix, uri):
        self._pending_ns[prefix or ''] = uri

    def _start(self, name, attrs):
        tag = self._name(name)
        a = {self._name(k): v for k, v in attrs.items()}
        ns = self._pending_ns
        self._pending_ns = {}
        if self._depth == 0:
            self._depth = 1
            if tag == '{%s}stream' % NS_STREAM:
                self._root_is_stream = True
                self.header = a
                self.header_ns = ns
                self.headers.append(a)
                return
            # Not a stream at all: keep the root as a "stanza" so a test can
            # see what came.
            self._stack = [ET.Element(tag, a)]
            return
        self._depth += 1
        if not self._stack:
            self._stack = [ET.Element(tag, a)]
        else:
            el = ET.SubElement(self._stack[-1], tag, a)
            self._stack.append(el)

    def _end(self, name):
        self._depth -= 1
        if self._depth == 0:
            if self._root_is_stream:
                self.stream_ended = True
            elif self._stack:
                self.queue.append(self._stack.pop())
            return
        el = self._stack.pop()
        if not self._stack:
            self.queue.append(el)

    def _chars(self, data):
        if not self._stack:
            return      # whitespace between stanzas
        cur = self._stack[-1]
        if len(cur):
            last = cur[-1]
            last.tail = (last.tail or '') + data
        else:
            cur.text = (cur.text or '') + data

    def detach_parser(self):
        """Stop parsing what arrives (bytes go to self.trailing): for a
        connection left between <proceed/> and a TLS handshake."""
        self.stream_ended = True

    def _feed(self, data):
        if self.stream_ended:
            # Anything after </stream:stream> is not XML we can parse; keep
            # it for tests that want to know.
            self.trailing += data
            return
        try:
            self._parser.Parse(data, False)
        except xml.parsers.expat.ExpatError as e:
            if self.stream_ended:
                # "junk after document element": bytes after the close tag
                # in the same read.
                i = data.find(b'stream>')
                self.trailing += data[i + 7:] if i >= 0 else data
                return
            raise ProtocolError('conn %d: server sent bad XML (%s); last bytes: %r'
                                % (self.cid, e, bytes(self.rx[-400:]))) from None

    # ---- reading ----

    def _deadline(self, timeout):
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def next(self, timeout=None):
        """The next complete top-level element (a <stream:error/> too)."""
        deadline = self._deadline(timeout)
        while not self.queue:
            if self.eof:
                raise StreamClosed('conn %d: server closed the connection (%s); last bytes: %r'
                                   % (self.cid, self.eof_reason, bytes(self.rx[-400:])))
            self._read_some(deadline, 'the next element')
        return self.queue.pop(0)

    @staticmethod
    def _pred(p):
        if callable(p):
            return p
        tag = p if p.startswith('{') else C(p)
        return lambda e: e.tag == tag

    def expect(self, pred_or_tag, timeout=None, what=None):
        """The first element (queued or arriving) that satisfies the
        predicate, or has that tag ('message' means jabber:client);
        the others stay queued."""
        pred = self._pred(pred_or_tag)
        deadline = self._deadline(timeout)
        while True:
            for i, el in enumerate(self.queue):
                if pred(el):
                    return self.queue.pop(i)
            if self.eof:
                raise StreamClosed('conn %d: server closed the connection (%s) while waiting '
                                   'for %s; queued: %s'
                                   % (self.cid, self.eof_reason, what or _describe(pred_or_tag),
                                      [dump(e)[:200] for e in self.queue]))
            self._read_some(deadline, what or _describe(pred_or_tag))

    def take_all(self, pred_or_tag=None):
        """Remove and return every queued element that matches (all of them
        without a predicate)."""
        pred = self._pred(pred_or_tag) if pred_or_tag is not None else (lambda e: True)
        out = [e for e in self.queue if pred(e)]
        self.queue = [e for e in self.queue if not pred(e)]
        return out

    def drain(self, quiet=0.3):
        """Read until nothing has arrived for `quiet` seconds; return and
        forget everything queued."""
        while not self.eof:
            try:
                self._read_some(time.monotonic() + quiet)
            except TimeoutError:
                break
        out, self.queue = self.queue, []
        return out

    def closed(self, timeout=None):
        """True once the server has closed the TCP connection (elements that
        arrive meanwhile are queued)."""
        deadline = self._deadline(timeout)
        while not self.eof:
            try:
                self._read_some(deadline, 'the server to close the connection')
            except TimeoutError:
                return False
        return True

    def expect_stream_error(self, condition, timeout=None, skip_stanzas=False,
                            close_tag=True):
        """Assert that the next element is a <stream:error/> with exactly the
        given condition (a str, or a tuple of acceptable ones), that the server
        sent its own stream header first, then </stream:stream> (unless
        close_tag is False), then closed the TCP connection, with nothing in
        between.  Returns the error element."""
        while True:
            el = self.next(timeout)
            if el.tag == STREAM_ERROR or not skip_stanzas:
                break
        conds = condition if isinstance(condition, tuple) else (condition,)
        assert el.tag == STREAM_ERROR, (
            'conn %d: expected <stream:error><%s/></stream:error>, got %s'
            % (self.cid, '|'.join(conds), dump(el)))
        got = stream_error_condition(el)
        assert got in conds, ('conn %d: stream error condition %r, expected %s: %s'
                              % (self.cid, got, '|'.join(conds), dump(el)))
        assert self.header is not None, (
            'conn %d: stream error sent without a stream header of its own' % self.cid)
        assert self.closed(timeout), (
            'conn %d: server did not close the TCP connection after <%s/>' % (self.cid, got))
        if close_tag:
            assert self.stream_ended, (
                'conn %d: no </stream:stream> after the stream error <%s/>' % (self.cid, got))
        assert not self.queue, ('conn %d: data after the stream error: %s'
                                % (self.cid, [dump(e) for e in self.queue]))
        assert not self.trailing.strip(), ('conn %d: bytes after </stream:stream>: %r'
                                           % (self.cid, self.trailing[:300]))
        return el

    def expect_closed_or_stream_error(self, condition, timeout=None):
        """Either a stream error with that condition (then a close) or a
        plain close without any data; returns the condition seen or None."""
        if not self.closed(timeout):
            raise AssertionError('conn %d: connection still open after %ss; queued: %s'
                                 % (self.cid, self.timeout if timeout is None else timeout,
                                    [dump(e) for e in self.queue]))
        if not self.queue:
            return None
        el = self.queue.pop(0)
        conds = condition if isinstance(condition, tuple) else (condition,)
        assert el.tag == STREAM_ERROR and stream_error_condition(el) in conds, (
            'conn %d: expected a plain close or stream error %s, got %s'
            % (self.cid, '|'.join(conds), dump(el)))
        return stream_error_condition(el)

    # ---- XMPP steps ----

    def new_id(self):
        return 'c%d-%d' % (self.cid, next(self._ids))

    def send_header(self, to=DOMAIN, **kw):
        self.to = to
        self.send(stream_header(to=to, **kw))

    def read_features(self, timeout=None):
        el = self.next(timeout)
        assert el.tag == FEATURES, ('conn %d: expected <stream:features/>, got %s'
                                    % (self.cid, dump(el)))
        assert self.header is not None
        self.features = el
        return el

    def open(self, to=DOMAIN, timeout=None, **kw):
        """Send a stream header; return the server's <stream:features/>."""
        self.send_header(to=to, **kw)
        return self.read_features(timeout)

    def starttls(self, timeout=None):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.next(timeout)
        assert el.tag == q(NS_TLS, 'proceed'), ('conn %d: expected <proceed/>, got %s'
                                                % (self.cid, dump(el)))
        self.wrap_tls()
        return self.open(to=self.to, timeout=timeout)

    @staticmethod
    def plain_payload(user, pw, authzid=''):
        user = user.split('@', 1)[0]
        raw = ('%s\0%s\0%s' % (authzid, user, pw)).encode('utf-8')
        return base64.b64encode(raw).decode('ascii')

    def auth_plain(self, user, pw, authzid='', restart=True, timeout=None):
        """PLAIN; returns the <success/> or <failure/> element.  On success
        the stream is restarted and the new features are in self.features
        (unless restart is False)."""
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                  % (NS_SASL, self.plain_payload(user, pw, authzid)))
        el = self.next(timeout)
        if el.tag == q(NS_SASL, 'success'):
            self._authenticated(restart, timeout)
        return el

    def _authenticated(self, restart, timeout):
        self.authenticated = True
        self._restart()
        if restart:
            self.open(to=self.to, timeout=timeout)

    def auth_scram(self, user, pw, mech='SCRAM-SHA-256', restart=True, timeout=None,
                   tamper_final=None):
        """A complete SCRAM exchange (RFC 5802 / 7677, no channel binding).
        Returns the final <success/> or <failure/> element.  Asserts the
        server's signature on success.  tamper_final(str) -> str may spoil
        the client-final-message."""
        hname = {'SCRAM-SHA-1': 'sha1', 'SCRAM-SHA-256': 'sha256'}[mech]
        user = user.split('@', 1)[0]
        cnonce = base64.b64encode(os.urandom(18)).decode('ascii')
        first_bare = 'n=%s,r=%s' % (user.replace('=', '=3D').replace(',', '=2C'), cnonce)
        self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>"
                  % (NS_SASL, mech, base64.b64encode(('n,,' + first_bare).encode()).decode()))
        ch = self.next(timeout)
        if ch.tag != q(NS_SASL, 'challenge'):
            return ch
        server_first = base64.b64decode(ch.text or '').decode('utf-8')
        fields = dict(f.split('=', 1) for f in server_first.split(','))
        assert fields['r'].startswith(cnonce), 'server nonce does not extend ours: %r' % server_first
        salt = base64.b64decode(fields['s'])
        iters = int(fields['i'])
        assert iters >= 4096, 'SCRAM iteration count %d < 4096' % iters
        salted = hashlib.pbkdf2_hmac(hname, pw.encode('utf-8'), salt, iters)
        client_key = hmac.new(salted, b'Client Key', hname).digest()
        stored_key = hashlib.new(hname, client_key).digest()
        final_bare = 'c=biws,r=%s' % fields['r']
        auth_msg = ','.join([first_bare, server_first, final_bare]).encode('utf-8')
        sig = hmac.new(stored_key, auth_msg, hname).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        final = final_bare + ',p=' + base64.b64encode(proof).decode('ascii')
        if tamper_final is not None:
            final = tamper_final(final)
        self.send("<response xmlns='%s'>%s</response>"
                  % (NS_SASL, base64.b64encode(final.encode()).decode()))
        el = self.next(timeout)
        if el.tag == q(NS_SASL, 'success'):
            server_key = hmac.new(salted, b'Server Key', hname).digest()
            want = 'v=' + base64.b64encode(hmac.new(server_key, auth_msg, hname).digest()).decode()
            got = base64.b64decode(el.text or '').decode('utf-8')
            assert got == want, 'SCRAM server signature %r, expected %r' % (got, want)
            self._authenticated(restart, timeout)
        return el

    def bind_iq(self, resource=None, timeout=None):
        """Send a bind request; return the reply IQ as is."""
        inner = '<resource>%s</resource>' % resource if resource is not None else ''
        return self.iq("<iq type='set'><bind xmlns='%s'>%s</bind></iq>" % (NS_BIND, inner),
                       timeout=timeout)

    def bind(self, resource=None, timeout=None):
        """Bind; return the full JID the server assigned."""
        r = self.bind_iq(resource, timeout)
        assert r.get('type') == 'result', 'conn %d: bind failed: %s' % (self.cid, dump(r))
        j = r.find('{%s}bind/{%s}jid' % (NS_BIND, NS_BIND))
        assert j is not None and j.text, 'conn %d: bind result without <jid/>: %s' % (
            self.cid, dump(r))
        self.jid = j.text
        return self.jid

    def login(self, user, pw, resource=None, presence=True, roster=False, timeout=None):
        """Every step: stream, STARTTLS, PLAIN, bind, optionally the roster
        and initial presence.  Returns the full JID.  With presence, waits
        until the server has processed it (a ping round trip), so a test can
        rely on the session being available afterwards, and drops the echo
        of that presence."""
        self.open(timeout=timeout)
        self.starttls(timeout=timeout)
        el = self.auth_plain(user, pw, timeout=timeout)
        assert el.tag == q(NS_SASL, 'success'), 'conn %d: login %s failed: %s' % (
            self.cid, user, dump(el))
        jid = self.bind(resource, timeout=timeout)
        if roster:
            self.roster = self.roster_get(timeout=timeout)
        if presence:
            self.send('<presence/>')
            self.sync(timeout=timeout)
            # The echo of our own initial presence (RFC 6121 4.2.2) is not
            # news to a test; anything else that came stays queued.
            self.take_all(lambda e: e.tag == C('presence') and e.get('from') == jid
                          and e.get('type') is None)
        return jid

    def iq(self, xml, timeout=None):
        """Send an <iq ...> given as text (without id); return the reply
        (the IQ from the server carrying the generated id)."""
        assert xml.startswith('<iq'), xml
        i = self.new_id()
        self.send("<iq id='%s'%s" % (i, xml[3:]))
        return self.expect(lambda e: e.tag == C('iq') and e.get('id') == i
                           and e.get('type') in ('result', 'error'),
                           timeout=timeout, what='the reply to iq %s' % i)

    def ping(self, to=DOMAIN, timeout=None):
        return self.iq("<iq type='get' to='%s'><ping xmlns='%s'/></iq>" % (to, NS_PING),
                       timeout=timeout)

    def sync(self, timeout=None):
        """A ping round trip to the server.  The server handles one
        connection's input in order and writes one connection's output in
        order, so after this everything it produced for us before the pong
        is queued here, and everything we sent before it was processed."""
        r = self.ping(timeout=timeout)
        assert r.get('type') in ('result', 'error'), dump(r)
        return r

    def assert_nothing(self, pred_or_tag=None, sync=True, wait=0.0, what='nothing'):
        """Assert that nothing (matching) has arrived: syncs first (see
        sync()), then optionally waits a little longer, then checks the
        queue; matching elements are removed."""
        if wait:
            time.sleep(wait)
        if sync:
            self.sync()
        got = self.take_all(pred_or_tag)
        assert not got, 'conn %d (%s): expected %s, got %s' % (
            self.cid, self.jid, what, [dump(e) for e in got])

    def roster_get(self, ver=None, timeout=None):
        v = '' if ver is None else " ver='%s'" % ver
        r = self.iq("<iq type='get'><query xmlns='%s'%s/></iq>" % (NS_ROSTER, v),
                    timeout=timeout)
        assert r.get('type') == 'result', 'conn %d: roster get failed: %s' % (self.cid, dump(r))
        return r

    def roster_items(self, timeout=None):
        """{jid: item element} of the current roster."""
        r = self.roster_get(timeout=timeout)
        qe = r.find(q(NS_ROSTER, 'query'))
        assert qe is not None, 'roster result without <query/>: %s' % dump(r)
        return {i.get('jid'): i for i in qe.findall(q(NS_ROSTER, 'item'))}

    def message(self, to, body, type='chat', id=None, extra=''):
        i = id or self.new_id()
        t = " type='%s'" % type if type is not None else ''
        b = '<body>%s</body>' % body if body is not None else ''
        self.send("<message to='%s'%s id='%s'>%s%s</message>" % (to, t, i, b, extra))
        return i

    def stream_close(self):
        self.send('</stream:stream>')

    def finish(self, timeout=None):
        """Close politely and wait until the server has closed its side, so
        that the server has forgotten the connection before the next one
        (per-IP limits count open connections)."""
        if not self.eof:
            self.stream_close()
            try:
                self.closed(timeout)
            except ProtocolError:
                pass        # whatever the server said last, we are leaving
        self.close()


def _describe(pred_or_tag):
    return getattr(pred_or_tag, 'desc', None) or str(pred_or_tag)


def _named(desc):
    def deco(fn):
        fn.desc = desc
        return fn
    return deco


def body_of(el):
    b = el.find(C('body'))
    return None if b is None else (b.text or '')


def is_message(body=None, frm=None):
    @_named('a message%s%s' % ('' if body is None else ' with body %r' % body[:60],
                               '' if frm is None else ' from %s' % frm))
    def pred(e):
        if e.tag != C('message'):
            return False
        if body is not None and body_of(e) != body:
            return False
        if frm is not None and e.get('from') != frm:
            return False
        return True
    return pred


def is_presence(frm=None, type=None, any_type=False):
    """Presence from that JID (bare: any resource of it) with that type
    (None means available) unless any_type."""
    @_named('presence%s%s' % ('' if frm is None else ' from %s' % frm,
                              '' if any_type else ' type=%s' % (type or 'available')))
    def pred(e):
        if e.tag != C('presence'):
            return False
        if frm is not None:
            f = e.get('from') or ''
            if '/' in frm:
                if f != frm:
                    return False
            elif bare(f) != frm:
                return False
        if not any_type and e.get('type') != type:
            return False
        return True
    return pred


def is_roster_push(jid=None):
    @_named('a roster push%s' % ('' if jid is None else ' for %s' % jid))
    def pred(e):
        if e.tag != C('iq') or e.get('type') != 'set':
            return False
        qe = e.find(q(NS_ROSTER, 'query'))
        if qe is None:
            return False
        if jid is None:
            return True
        return any(i.get('jid') == jid for i in qe.findall(q(NS_ROSTER, 'item')))
    return pred


def push_item(push):
    """The single <item/> of a roster push (asserts there is exactly one)."""
    items = push.find(q(NS_ROSTER, 'query')).findall(q(NS_ROSTER, 'item'))
    assert len(items) == 1, 'roster push with %d items: %s' % (len(items), dump(push))
    return items[0]


def ack_push(r, push):
    """Answer a roster push as RFC 6121 2.1.6 says a client SHOULD."""
    r.send("<iq type='result' id='%s'/>" % push.get('id'))


def connect_many(port, n, **kw):
    return [Raw(port, **kw) for _ in range(n)]


def jid_of(user):
    return user if '@' in user else user + '@' + DOMAIN


def client(srv, user, resource=None, presence=True, roster=False, **kw):
    """A Raw connection logged in as user ('alice' or a full address) on
    srv (a lib.Server)."""
    jid = jid_of(user)
    r = Raw(srv.c2s_port, **kw)
    r.login(jid, srv.users[jid], resource=resource, presence=presence, roster=roster)
    return r


def client_hello_bytes():
    """The first flight of a real TLS client handshake (a ClientHello
    record), made with a memory BIO."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls_context().wrap_bio(inc, out, server_hostname=DOMAIN)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


class Failures:
    """Collects the failures of many sub-cases so one broken case does not
    hide the others; raise_if_any() at the end."""

    def __init__(self):
        self.items = []

    def run(self, name, fn, *a, **kw):
        try:
            fn(*a, **kw)
        except (AssertionError, TimeoutError, StreamClosed, ProtocolError, OSError) as e:
            self.items.append('%s: %s: %s' % (name, type(e).__name__, e))

    def raise_if_any(self):
        if self.items:
            raise AssertionError('%d sub-case(s) failed:\n  ' % len(self.items)
                                 + '\n  '.join(self.items))
