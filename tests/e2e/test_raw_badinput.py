"""
Hostile input: malformed XML, restricted XML (RFC 6120 section 11),
invalid UTF-8, namespace prefix errors, size / depth / attribute / name
limits, spoofed 'from' addresses and unknown top-level elements.  Every case
must end only the offending stream with the right stream error; nothing of
the bad data reaches anyone, and the server stays up.
"""

from lib import Server
from rawxmpp import (
    C, STREAM_ERROR, Failures, Raw, StreamClosed, client, client_hello_bytes, dump,
    is_message, stanza_error, stream_error_condition, stream_header,
)

# Conditions an XML parser may legitimately report for a byte sequence that
# is not UTF-8: RFC 6120 4.9.3.22 names <unsupported-encoding/> for
# "violating the rules of UTF-8"; XML 1.0 calls it a fatal (well-formedness)
# error.
BAD_UTF8 = ('unsupported-encoding', 'not-well-formed')

NOT_WELL_FORMED = [
    ('mismatched end tag', b"<message><body>x</message>"),
    ('crossed tags', b"<message><a><b></a></b></message>"),
    ('unquoted attribute', b"<message to=bob@localhost><body>x</body></message>"),
    ('duplicate attribute', b"<message to='a@localhost' to='b@localhost'/>"),
    ('end tag without start', b"</message>"),
    ('bad name start', b"<1message/>"),
    ('lt in attribute', b"<message id='a<b'/>"),
    ('raw control character', b"<message><body>\x01</body></message>"),
    ('char ref to NUL', b"<message><body>&#0;</body></message>"),
    ('char ref to a surrogate', b"<message><body>&#xD800;</body></message>"),
    ('bare ampersand', b"<message><body>a & b</body></message>"),
    ('garbage', b"\x00\x00\x00\x00"),
]

RESTRICTED = [
    ('comment at top level', b"<!-- hello -->"),
    ('comment in a stanza', b"<message><body>x</body><!-- c --></message>"),
    ('processing instruction', b"<?evil data?>"),
    ('PI in a stanza', b"<message><?evil data?></message>"),
    ('undeclared entity', b"<message><body>&foo;</body></message>"),
    ('undeclared entity in an attribute', b"<message id='&foo;'/>"),
]

# A DOCTYPE in the middle of a stream is not even in a place XML allows one:
# either condition is right.
DOCTYPE_IN_STREAM = [
    ('DOCTYPE inside the stream', b"<!DOCTYPE foo [<!ENTITY x 'y'>]>"),
]

INVALID_UTF8 = [
    ('0xFF byte', b"<message><body>\xff</body></message>"),
    ('overlong NUL', b"<message><body>\xc0\x80</body></message>"),
    ('overlong slash', b"<message><body>\xe0\x80\xaf</body></message>"),
    ('UTF-16 surrogate', b"<message><body>\xed\xa0\x80</body></message>"),
    ('above U+10FFFF', b"<message><body>\xf4\x90\x80\x80</body></message>"),
    ('truncated sequence', b"<message><body>\xe2\x82</body></message>"),
    ('lone continuation', b"<message><body>\x80</body></message>"),
    ('bad byte in a name', b"<mess\xffage/>"),
    ('bad byte in an attribute', b"<message id='\xfe'/>"),
]

BAD_PREFIX = [
    ('unbound element prefix', b"<foo:message/>"),
    ('unbound attribute prefix', b"<message foo:bar='x'/>"),
    ('unbound prefix in a child', b"<message><x:body>hi</x:body></message>"),
]


def _preauth_case(srv, data, conditions):
    r = Raw(srv.c2s_port)
    r.open()
    r.send(data)
    r.expect_stream_error(conditions)


def _postauth_case(srv, bob, data, conditions):
    """Alice, logged in, sends the bad bytes; she gets the stream error and
    bob gets nothing."""
    r = client(srv, 'alice', 'bad', presence=False)
    r.send(data)
    r.expect_stream_error(conditions, skip_stanzas=True)


def _run(srv, cases, conditions, postauth=False):
    fails = Failures()
    bob = client(srv, 'bob', 'b') if postauth else None
    for name, data in cases:
        if postauth:
            fails.run(name + ' (after auth)', _postauth_case, srv, bob, data, conditions)
        else:
            fails.run(name + ' (before auth)', _preauth_case, srv, data, conditions)
    if bob is not None:
        fails.run('bob unaffected', bob.assert_nothing, is_message(),
                  what='no message from broken streams')
    # The server still accepts and serves logins.
    fails.run('server alive', lambda: client(srv, 'carol').sync())
    fails.raise_if_any()


def test_not_well_formed_before_auth():
    with Server() as srv:
        _run(srv, NOT_WELL_FORMED, 'not-well-formed')


def test_not_well_formed_after_auth():
    with Server() as srv:
        _run(srv, NOT_WELL_FORMED, 'not-well-formed', postauth=True)


def test_restricted_xml_before_auth():
    with Server() as srv:
        _run(srv, RESTRICTED, 'restricted-xml')


def test_restricted_xml_after_auth():
    with Server() as srv:
        _run(srv, RESTRICTED, 'restricted-xml', postauth=True)


def test_doctype_inside_stream():
    with Server() as srv:
        _run(srv, DOCTYPE_IN_STREAM, ('restricted-xml', 'not-well-formed'))


def test_doctype_before_stream_header():
    """A DTD before the stream (the billion-laughs vector) is refused."""
    with Server() as srv:
        r = Raw(srv.c2s_port)
        r.send("<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY lol 'lol'>"
               "<!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>" + stream_header(decl=False))
        r.expect_stream_error('restricted-xml')
        client(srv, 'alice').sync()


def test_invalid_utf8_before_auth():
    with Server() as srv:
        _run(srv, INVALID_UTF8, BAD_UTF8)


def test_invalid_utf8_after_auth():
    with Server() as srv:
        _run(srv, INVALID_UTF8, BAD_UTF8, postauth=True)


def test_unbound_prefix():
    with Server() as srv:
        _run(srv, BAD_PREFIX, 'bad-namespace-prefix')


def test_unbound_prefix_after_auth():
    with Server() as srv:
        _run(srv, BAD_PREFIX, 'bad-namespace-prefix', postauth=True)


def test_valid_unicode_entities_and_namespaces_pass_intact():
    """The other side of the coin: multi-byte UTF-8, the five predefined
    entities, character references, prefixed namespaces and extension
    payloads all reach the recipient unchanged."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        body_xml = "gr\u00fc\u00df \u20ac \U0001F600 &lt;&amp;&gt;&quot;&apos; &#65;&#x42; ]]&gt;"
        body_text = "gr\u00fc\u00df \u20ac \U0001F600 <&>\"' AB ]]>"
        alice.send("<message to='bob@localhost/b' type='chat' id='u1' "
                   "xmlns:x='urn:example:x'>"
                   "<body>%s</body>"
                   "<x:data a='1 &lt; 2' b=\"it's\"><x:inner>t</x:inner>tail</x:data>"
                   "<ext xmlns='urn:example:y' k='v'><deep><deeper/></deep></ext>"
                   "</message>" % body_xml)
        m = bob.expect(is_message(frm='alice@localhost/a'))
        assert m.get('id') == 'u1', dump(m)
        assert m.find(C('body')).text == body_text, repr(m.find(C('body')).text)
        d = m.find('{urn:example:x}data')
        assert d is not None, dump(m)
        assert d.get('a') == '1 < 2' and d.get('b') == "it's", dump(d)
        assert d.find('{urn:example:x}inner').text == 't', dump(d)
        assert d.find('{urn:example:x}inner').tail == 'tail', dump(d)
        e = m.find('{urn:example:y}ext')
        assert e is not None and e.get('k') == 'v', dump(m)
        assert e.find('{urn:example:y}deep/{urn:example:y}deeper') is not None, dump(e)


def test_stanza_size_before_auth():
    """max_stanza_size_preauth (16384 by default) applies before
    authentication, even to a stanza that is never completed."""
    with Server() as srv:
        fails = Failures()
        big = 'a' * 20000

        def unfinished_pre_tls():
            r = Raw(srv.c2s_port)
            r.open()
            r.send("<message to='bob@localhost'><body>" + big)
            r.expect_stream_error('policy-violation')

        def unfinished_tag():
            r = Raw(srv.c2s_port)
            r.open()
            r.send("<message to='" + big)
            r.expect_stream_error('policy-violation')

        def sasl_after_tls():
            r = Raw(srv.c2s_port)
            r.open()
            r.starttls()
            r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                   + 'A' * 20000)
            r.expect_stream_error('policy-violation')

        fails.run('unfinished stanza before TLS', unfinished_pre_tls)
        fails.run('unfinished start tag', unfinished_tag)
        fails.run('oversized <auth/> after TLS', sasl_after_tls)
        fails.raise_if_any()
        # After authentication the larger limit applies.
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        body = 'z' * 100000
        alice.message('bob@localhost/b', body)
        m = bob.expect(is_message(frm='alice@localhost/a'), timeout=10)
        assert m.find(C('body')).text == body, 'large body altered'


def test_stanza_size_after_auth():
    with Server(limits={'max_stanza_size': 4096, 'max_stanza_size_preauth': 4096}) as srv:
        bob = client(srv, 'bob', 'b')
        alice = client(srv, 'alice', 'a')
        ok = 'k' * 3000
        alice.message('bob@localhost/b', ok)
        m = bob.expect(is_message(frm='alice@localhost/a'))
        assert m.find(C('body')).text == ok
        alice.message('bob@localhost/b', 'x' * 5000)
        alice.expect_stream_error('policy-violation', skip_stanzas=True)
        # Never finished, still too big: the server does not wait for the end.
        carol = client(srv, 'carol', 'c')
        carol.send("<message to='bob@localhost/b'><body>" + 'y' * 6000)
        carol.expect_stream_error('policy-violation', skip_stanzas=True)
        bob.assert_nothing(is_message(), what='no oversized message')


def test_nesting_depth_limit():
    with Server() as srv:
        fails = Failures()
        deep = '<message>' + '<a>' * 300 + '</a>' * 300 + '</message>'
        fails.run('deep before auth', _preauth_case, srv, deep.encode(), 'policy-violation')
        bob = client(srv, 'bob', 'b')
        fails.run('deep after auth', _postauth_case, srv, bob, deep.encode(), 'policy-violation')
        # Never closed: the limit applies while the stanza is still open.
        fails.run('deep and unfinished', _preauth_case, srv, ('<message>' + '<a>' * 300).encode(),
                  'policy-violation')
        fails.raise_if_any()
        # A moderately nested payload is fine and arrives whole.
        alice = client(srv, 'alice', 'a')
        alice.send("<message to='bob@localhost/b'><body>n</body><x xmlns='urn:example:n'>"
                   + '<a>' * 20 + 'core' + '</a>' * 20 + '</x></message>')
        m = bob.expect(is_message(body='n'))
        el = m.find('{urn:example:n}x')
        depth = 0
        while True:
            kids = list(el)
            if not kids:
                break
            el = kids[0]
            depth += 1
        assert depth == 20 and el.text == 'core', 'nesting altered: %s' % dump(m)[:300]


def test_attribute_count_and_name_length_limits():
    with Server() as srv:
        fails = Failures()
        many = ('<message ' + ' '.join("a%d='v'" % i for i in range(300)) + '/>').encode()
        longname = ('<' + 'n' * 5000 + '/>').encode()
        longattr = ("<message " + 'b' * 5000 + "='v'/>").encode()
        fails.run('300 attributes', _preauth_case, srv, many, 'policy-violation')
        fails.run('5000-byte element name', _preauth_case, srv, longname, 'policy-violation')
        fails.run('5000-byte attribute name', _preauth_case, srv, longattr, 'policy-violation')
        bob = client(srv, 'bob', 'b')
        fails.run('300 attributes after auth', _postauth_case, srv, bob, many,
                  'policy-violation')
        fails.raise_if_any()
        # Twenty attributes are fine and arrive intact.
        alice = client(srv, 'alice', 'a')
        attrs = ' '.join("k%d='%d'" % (i, i) for i in range(20))
        alice.send("<message to='bob@localhost/b'><body>attrs</body>"
                   "<x xmlns='urn:example:a' %s/></message>" % attrs)
        m = bob.expect(is_message(body='attrs'))
        x = m.find('{urn:example:a}x')
        assert x is not None and all(x.get('k%d' % i) == str(i) for i in range(20)), dump(m)


def test_spoofed_from_is_invalid_from():
    with Server() as srv:
        bob = client(srv, 'bob', 'b')
        carol = client(srv, 'carol', 'c')
        alice = client(srv, 'alice', 'a')
        # Her own bare and full JIDs are accepted.
        alice.send("<message from='alice@localhost/a' to='bob@localhost/b'>"
                   "<body>own full</body></message>")
        m = bob.expect(is_message(body='own full'))
        assert m.get('from') == 'alice@localhost/a', dump(m)
        alice.send("<message from='alice@localhost' to='bob@localhost/b'>"
                   "<body>own bare</body></message>")
        m = bob.expect(is_message(body='own bare'))
        assert m.get('from') in ('alice@localhost', 'alice@localhost/a'), dump(m)
        # Somebody else's JID: the stream ends with <invalid-from/>.
        alice.send("<message from='carol@localhost/c' to='bob@localhost/b'>"
                   "<body>I am carol</body></message>")
        alice.expect_stream_error('invalid-from', skip_stanzas=True)
        bob.assert_nothing(is_message(body='I am carol'), what='no spoofed message')

        fails = Failures()

        def spoof(stanza):
            r = client(srv, 'alice', 'a2', presence=False)
            r.send(stanza)
            r.expect_stream_error('invalid-from', skip_stanzas=True)

        # Another resource of the same account is not "her own full JID".
        fails.run('other resource', spoof,
                  "<message from='alice@localhost/elsewhere' to='bob@localhost/b'>"
                  "<body>other res</body></message>")
        fails.run('server domain', spoof,
                  "<message from='localhost' to='bob@localhost/b'><body>from server</body>"
                  "</message>")
        fails.run('spoofed presence', spoof, "<presence from='carol@localhost/c'/>")
        fails.run('spoofed iq', spoof,
                  "<iq type='get' id='s1' from='bob@localhost/b' to='localhost'>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>")
        fails.run('spoofed subscription', spoof,
                  "<presence from='carol@localhost' to='bob@localhost' type='subscribed'/>")
        fails.raise_if_any()
        bob.assert_nothing(is_message(), what='no spoofed stanza')
        carol.assert_nothing(what='nothing for carol')


def test_unknown_top_level_element():
    """RFC 6120 4.9.3.24: a first-level child that is not a stanza."""
    with Server() as srv:
        fails = Failures()

        def case(data, conditions):
            r = client(srv, 'alice', presence=False)
            r.send(data)
            r.expect_stream_error(conditions, skip_stanzas=True)

        fails.run('unknown element in jabber:client', case, "<foo/>",
                  'unsupported-stanza-type')
        fails.run('message in a foreign namespace', case,
                  "<message xmlns='urn:example:other' to='bob@localhost'/>",
                  ('unsupported-stanza-type', 'invalid-namespace'))
        fails.raise_if_any()


def test_other_protocols_on_the_xmpp_port():
    """A TLS ClientHello (no STARTTLS) or an HTTP request on the c2s port is
    not XML: a stream error (the server's header first) or a plain close."""
    with Server() as srv:
        fails = Failures()

        def case(data):
            r = Raw(srv.c2s_port)
            r.send(data)
            if not r.closed(timeout=5):
                raise AssertionError('connection still open')
            errs = [e for e in r.queue if e.tag == STREAM_ERROR]
            if r.queue:
                assert errs and r.header is not None, [dump(e) for e in r.queue]
                assert stream_error_condition(errs[0]) in ('not-well-formed', 'bad-format'), (
                    dump(errs[0]))

        fails.run('TLS ClientHello', case, client_hello_bytes())
        fails.run('HTTP GET', case, b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
        fails.run('NUL bytes', case, b'\0' * 64)
        fails.raise_if_any()
        client(srv, 'alice').sync()


def test_namespace_prefix_confusion():
    """Prefixes are resolved, never copied blindly: a payload that binds
    'stream' to another namespace, or redefines the default namespace,
    reaches the recipient as what it is, and does not break the recipient's
    stream."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        alice.send("<message to='bob@localhost/b' id='pc1' xmlns:stream='urn:example:evil'>"
                   "<body>prefixes</body><stream:error><stream:text>not a stream error"
                   "</stream:text></stream:error><features xmlns='urn:example:f'>"
                   "<starttls/></features></message>")
        m = bob.expect(is_message(body='prefixes'))
        err = m.find('{urn:example:evil}error')
        assert err is not None, dump(m)
        assert err.findtext('{urn:example:evil}text') == 'not a stream error', dump(m)
        assert m.find('{urn:example:f}features/{urn:example:f}starttls') is not None, dump(m)
        # Bob's stream is intact.
        bob.sync()
        assert not bob.eof


def test_stanza_level_oddities():
    """Out-of-range priorities, IQs without id or with a bogus type, bogus
    message and presence types: each gets a stanza error, is ignored, or
    ends only that stream with a stream error -- and the server stays up
    (the sanitizers watch the whole run)."""
    stream_conditions = ('bad-format', 'invalid-xml', 'policy-violation', 'not-well-formed',
                         'unsupported-stanza-type')
    cases = [
        ('priority 2^66', "<presence><priority>99999999999999999999</priority></presence>"),
        ('priority -129', "<presence><priority>-129</priority></presence>"),
        ('priority 128', "<presence><priority>128</priority></presence>"),
        ('priority abc', "<presence><priority>abc</priority></presence>"),
        ('empty priority', "<presence><priority/></presence>"),
        ('priority with spaces', "<presence><priority> 5 </priority></presence>"),
        ('two priorities', "<presence><priority>1</priority><priority>2</priority></presence>"),
        ('iq without id', "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"),
        ('iq with a bogus type', "<iq type='bogus' id='b1' to='localhost'>"
                                 "<ping xmlns='urn:xmpp:ping'/></iq>"),
        ('iq without type', "<iq id='b2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"),
        ('message with a bogus type', "<message type='bogus' to='bob@localhost/b'>"
                                      "<body>bogus type</body></message>"),
        ('presence with a bogus type', "<presence type='bogus'/>"),
        ('presence with a bogus type to bob', "<presence type='bogus' to='bob@localhost'/>"),
        ('show with a bogus value', "<presence><show>sleepy</show></presence>"),
        ('1000 empty siblings', "<message to='bob@localhost/b'><body>many</body>"
                                + "<x xmlns='urn:example:m'/>" * 1000 + "</message>"),
    ]
    with Server() as srv:
        bob = client(srv, 'bob', 'b')
        fails = Failures()

        def case(data):
            r = client(srv, 'alice', 'odd', presence=False)
            r.send(data)
            try:
                r.sync()
            except StreamClosed:
                pass
            errs = [e for e in r.queue if e.tag == STREAM_ERROR]
            if errs or r.eof:
                assert errs, 'connection closed without a stream error'
                assert stream_error_condition(errs[0]) in stream_conditions, dump(errs[0])
                assert r.closed(), 'not closed after the stream error'
            else:
                for e in r.queue:
                    if e.get('type') == 'error':
                        assert stanza_error(e)[1] in ('bad-request', 'not-acceptable',
                                                      'service-unavailable',
                                                      'feature-not-implemented'), dump(e)
                r.finish()

        for name, data in cases:
            fails.run(name, case, data)
        fails.raise_if_any()
        bob.sync()
        client(srv, 'carol').sync()
