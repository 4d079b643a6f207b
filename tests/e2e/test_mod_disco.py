"""
Module disco: service discovery (XEP-0030) of the server and of accounts,
contact addresses (XEP-0157 in a XEP-0128 form), and the server's entity
capabilities (XEP-0115) in stream features.

slixmpp's xep_0030/xep_0115 plugins read the answers the way a client does;
raw XML covers wrong types, unknown nodes, foreign accounts and oversize
input, each with the exact stanza error, and checks that none of it wrote
anything under data_path.
"""

import base64
import hashlib
import os
import xml.etree.ElementTree as ET

import rawxmpp as R
from lib import Server
from rawxmpp import dump, q, stanza_error
from test_client import Client, run_scenario

NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_CAPS = 'http://jabber.org/protocol/caps'
NS_XDATA = 'jabber:x:data'
NS_XML = 'http://www.w3.org/XML/1998/namespace'
NS_SERVERINFO = 'http://jabber.org/network/serverinfo'
CAPS_NODE = 'https://xmppd.invalid'

ALL_MODULES = 'roster, saslauth, tls, disco, ping, offline, version, uptime, time'

# What each of our modules adds to the server's disco#info.
FEATURES = {
    'disco': {NS_INFO, NS_ITEMS},
    'ping': {'urn:xmpp:ping'},
    'offline': {'msgoffline'},
    'version': {'jabber:iq:version'},
    'uptime': {'jabber:iq:last'},
    'time': {'urn:xmpp:time'},
    'roster': set(), 'saslauth': set(), 'tls': set(),
}


def expected_features(modules):
    out = set()
    for m in modules.replace(',', ' ').split():
        out |= FEATURES[m]
    return out


# ---- shared helpers (test_mod_info.py uses them too) ----

def snapshot(srv):
    """{relative path: (size, mtime_ns, sha256)} of everything in data_path."""
    out = {}
    for root, dirs, files in os.walk(srv.data_path):
        for name in dirs:
            p = os.path.join(root, name)
            out[os.path.relpath(p, srv.data_path) + '/'] = ('dir',)
        for name in files:
            p = os.path.join(root, name)
            st = os.stat(p)
            with open(p, 'rb') as f:
                h = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(p, srv.data_path)] = (st.st_size, st.st_mtime_ns, h)
    return out


def assert_unchanged(before, after, what):
    if before != after:
        added = sorted(set(after) - set(before))
        gone = sorted(set(before) - set(after))
        changed = sorted(k for k in before if k in after and before[k] != after[k])
        raise AssertionError('%s changed data_path: added %s, removed %s, changed %s'
                             % (what, added, gone, changed))


def subscribe(srv, subscriber, contact):
    """subscriber asks for contact's presence and contact approves: the
    contact's roster then has subscriber with 'from' (or 'both')."""
    a = R.client(srv, subscriber)
    b = R.client(srv, contact)
    try:
        a.send("<presence to='%s' type='subscribe'/>" % R.jid_of(contact))
        b.expect(R.is_presence(frm=R.jid_of(subscriber), type='subscribe'))
        b.send("<presence to='%s' type='subscribed'/>" % R.jid_of(subscriber))
        b.sync()
        a.sync()
        item = b.roster_items().get(R.jid_of(subscriber))
        assert item is not None and item.get('subscription') in ('from', 'both'), (
            'after approval %s has %s' % (contact, dump(item)))
    finally:
        a.close()
        b.close()


def expect_error(reply, etype, cond, what):
    assert reply.get('type') == 'error', '%s: expected an error, got %s' % (what, dump(reply))
    got = stanza_error(reply)
    assert got == (etype, cond), '%s: error %s, expected %s: %s' % (
        what, got, (etype, cond), dump(reply))


def info_iq(r, to=None, node=None, type='get', ns=NS_INFO, name='query'):
    t = " to='%s'" % to if to is not None else ''
    n = " node='%s'" % node if node is not None else ''
    return r.iq("<iq type='%s'%s><%s xmlns='%s'%s/></iq>" % (type, t, name, ns, n))


def query_of(reply, ns=NS_INFO):
    assert reply.get('type') == 'result', 'expected a result: %s' % dump(reply)
    qe = reply.find(q(ns, 'query'))
    assert qe is not None, 'result without <query xmlns=%s/>: %s' % (ns, dump(reply))
    return qe


def identities(qe):
    return sorted((i.get('category'), i.get('type'), i.get('{%s}lang' % NS_XML),
                   i.get('name')) for i in qe.findall(q(NS_INFO, 'identity')))


def features(qe):
    fs = [f.get('var') for f in qe.findall(q(NS_INFO, 'feature'))]
    assert len(fs) == len(set(fs)), 'repeated features: %s' % fs
    return fs


def forms(qe):
    """[(FORM_TYPE, form type, [(var, field type, [values])...])] in document order."""
    out = []
    for x in qe.findall(q(NS_XDATA, 'x')):
        ftype = None
        fields = []
        for f in x.findall(q(NS_XDATA, 'field')):
            vals = [v.text or '' for v in f.findall(q(NS_XDATA, 'value'))]
            if f.get('var') == 'FORM_TYPE':
                assert f.get('type') == 'hidden', 'FORM_TYPE not hidden: %s' % dump(x)
                ftype = vals
            else:
                fields.append((f.get('var'), f.get('type'), vals))
        out.append((ftype, x.get('type'), fields))
    return out


def caps_ver(qe):
    """XEP-0115 section 5.1, written from the text of the XEP."""
    ids = ['%s/%s/%s/%s' % (i.get('category'), i.get('type'),
                            i.get('{%s}lang' % NS_XML) or '', i.get('name') or '')
           for i in qe.findall(q(NS_INFO, 'identity'))]
    feats = [f.get('var') for f in qe.findall(q(NS_INFO, 'feature'))]
    s = ''.join(x + '<' for x in sorted(ids)) + ''.join(f + '<' for f in sorted(feats))
    fs = []
    for x in qe.findall(q(NS_XDATA, 'x')):
        ftype, fields = None, {}
        for f in x.findall(q(NS_XDATA, 'field')):
            vals = [v.text or '' for v in f.findall(q(NS_XDATA, 'value'))]
            if f.get('var') == 'FORM_TYPE':
                ftype = vals[0]
            else:
                fields[f.get('var')] = vals
        if ftype is not None:
            fs.append((ftype, fields))
    for ftype, fields in sorted(fs, key=lambda t: t[0]):
        s += ftype + '<'
        for var in sorted(fields):
            s += var + '<' + ''.join(v + '<' for v in sorted(fields[var]))
    return base64.b64encode(hashlib.sha1(s.encode('utf-8')).digest()).decode('ascii')


def caps_of(features_el):
    c = features_el.find(q(NS_CAPS, 'c'))
    return None if c is None else dict(c.attrib)


# ---- the server's info, items and contact addresses ----

def test_disco_server_info_slixmpp():
    with Server(server={'modules': ALL_MODULES}) as srv:
        async def scenario(clients):
            c = Client(clients, srv, 'alice@localhost/disco', 'alice-pw')
            c.x.register_plugin('xep_0030')
            c.x.register_plugin('xep_0128')    # forms inside disco#info
            await c.connect()
            d = c.x['xep_0030']
            iq = await d.get_info(jid='localhost', timeout=5)
            info = iq['disco_info']
            assert iq['from'] == 'localhost', iq
            assert set(info['identities']) == {('server', 'im', None, 'xmppd')}, info['identities']
            assert set(info['features']) == expected_features(ALL_MODULES), (
                sorted(info['features']))
            assert info['node'] == '', info['node']
            # The XEP-0157 form: admin-addresses default to [server] admins.
            fs = [s for s in info['substanzas']
                  if isinstance(s, c.x['xep_0004'].stanza.Form)]
            assert len(fs) == 1, fs
            form = fs[0]
            assert form['type'] == 'result', form
            vals = form.get_values()
            assert vals == {'FORM_TYPE': [NS_SERVERINFO],
                            'admin-addresses': ['xmpp:admin@localhost']}, vals
            fields = form.get_fields()
            assert fields['FORM_TYPE']['type'] == 'hidden', fields
            assert fields['admin-addresses']['type'] == 'list-multi', fields
            iq = await d.get_items(jid='localhost', timeout=5)
            assert list(iq['disco_items']['items']) == [], iq
            assert iq['disco_items']['node'] == '', iq
            # The account's own bare JID.
            iq = await d.get_info(jid='alice@localhost', timeout=5)
            info = iq['disco_info']
            assert set(info['identities']) == {('account', 'registered', None, None)}, info
            assert set(info['features']) == {NS_INFO}, info['features']
            iq = await d.get_items(jid='alice@localhost', timeout=5)
            assert list(iq['disco_items']['items']) == [], iq
        run_scenario(scenario)


def test_disco_features_follow_modules():
    small = 'roster, saslauth, tls, disco'
    mid = 'roster, disco, time, ping'
    for mods in (ALL_MODULES, small, mid):
        with Server(server={'modules': mods}) as srv:
            with R.client(srv, 'alice') as r:
                qe = query_of(info_iq(r, to='localhost'))
                assert set(features(qe)) == expected_features(mods), (
                    'modules = %s: features %s' % (mods, features(qe)))
                assert features(qe) == sorted(features(qe)), features(qe)
                assert identities(qe) == [('server', 'im', None, 'xmppd')], identities(qe)
                assert caps_of(r.features)['ver'] == caps_ver(qe), (mods, dump(r.features))
    # Without disco in `modules =`: nobody answers, no caps advertised.
    with Server(server={'modules': 'roster, ping, version'}) as srv:
        with R.client(srv, 'alice') as r:
            assert caps_of(r.features) is None, dump(r.features)
            expect_error(info_iq(r, to='localhost'), 'cancel', 'service-unavailable',
                         'disco#info without the module')
            expect_error(info_iq(r, to='localhost', ns=NS_ITEMS), 'cancel',
                         'service-unavailable', 'disco#items without the module')
            expect_error(info_iq(r, to='alice@localhost'), 'cancel', 'service-unavailable',
                         'account disco#info without the module')


def test_disco_contact_addresses():
    extra = ('[disco]\n'
             'abuse = mailto:abuse@example.org, xmpp:abuse@localhost\n'
             'security = https://example.org/security\n'
             'support = "xmpp:support@localhost?message", mailto:help@example.org\n')
    with Server(server={'modules': ALL_MODULES}, extra_ini=extra) as srv:
        with R.client(srv, 'alice') as r:
            qe = query_of(info_iq(r, to='localhost'))
            assert forms(qe) == [([NS_SERVERINFO], 'result', [
                ('abuse-addresses', 'list-multi',
                 ['mailto:abuse@example.org', 'xmpp:abuse@localhost']),
                ('security-addresses', 'list-multi', ['https://example.org/security']),
                ('support-addresses', 'list-multi',
                 ['xmpp:support@localhost?message', 'mailto:help@example.org']),
            ])], forms(qe)
            # Configured addresses replace the admins default.
            assert caps_of(r.features)['ver'] == caps_ver(qe)
    # No admins and nothing configured: no form at all.
    with Server(server={'modules': ALL_MODULES, 'admins': None}) as srv:
        with R.client(srv, 'alice') as r:
            qe = query_of(info_iq(r, to='localhost'))
            assert forms(qe) == [], forms(qe)
            assert caps_of(r.features)['ver'] == caps_ver(qe)
    # Several admins: all of them, in the configured order.
    with Server(server={'modules': ALL_MODULES,
                        'admins': 'admin@localhost, Boss@LocalHost'}) as srv:
        with R.client(srv, 'alice') as r:
            qe = query_of(info_iq(r, to='localhost'))
            assert forms(qe) == [([NS_SERVERINFO], 'result', [
                ('admin-addresses', 'list-multi',
                 ['xmpp:admin@localhost', 'xmpp:boss@localhost'])])], forms(qe)


def _line_of(text, needle):
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError('%r not in config' % needle)


def check_config_error(section_text, needle, message):
    """`xmppd check config` refuses the config with FILE:LINE: message."""
    with Server(start=False, extra_ini=section_text) as srv:
        r = srv.cli('check', 'config')
        assert r.returncode == 2, '%r: exit %d (want 2): %s' % (
            section_text, r.returncode, r.stderr)
        want = '%s:%d: ' % (srv.config_path, _line_of(srv.config_text(), needle))
        assert want in r.stderr and message in r.stderr, (
            '%r: want %r and %r in %r' % (section_text, want, message, r.stderr))


def test_disco_config_checked():
    bad = [
        ('sales_team = mailto:a@example.org', "unknown key 'sales_team' in [disco]"),
        ('abuse = ftp://example.org', "'ftp://example.org' is not an xmpp:, mailto: or https: URI"),
        ('abuse = xmpp:', 'is not an xmpp: URI with an address'),
        ('admin = xmpp:a@b@c', "'xmpp:a@b@c': 'a@b@c' is not a valid JID"),
        ('admin = xmpp://localhost/x', 'is not an xmpp: URI with an address'),
        ('feedback = mailto:nobody', "'mailto:nobody' is not a mailto: URI"),
        ('feedback = mailto:@example.org', "'mailto:@example.org' is not a mailto: URI"),
        ('sales = https:example.org', "'https:example.org' is not an https: URI"),
        ('sales = https://', "'https://' is not an https: URI"),
        ('security = xmpp:a@localhost xmpp:a@localhost', "security: 'xmpp:a@localhost' is listed twice"),
        ('security = "xmpp:a@localhost', "an address contains a control character, a quote, '<' or '>'"),
        ('security = xmpp:a@localhost "', "an address contains a control character, a quote, '<' or '>'"),
        ('support = ,', 'support: no address given'),
        ('support = , ""', 'support: no address given'),
        ('support = xmpp:a@localhost\x01', "an address contains a control character, a quote, '<' or '>'"),
        ('support = https://example.org/<x>', "an address contains a control character, a quote, '<' or '>'"),
        ('support = ' + ' '.join('xmpp:u%d@localhost' % i for i in range(17)),
         'support: more than 16 addresses'),
        ('support = https://example.org/' + 'x' * 600, 'support: an address is longer than 511 bytes'),
    ]
    for line, msg in bad:
        check_config_error('[disco]\n%s\n' % line, line[:20], msg)
    # Invalid UTF-8 needs the bytes written by hand.
    with Server(start=False, extra_ini='[disco]\nsupport = mailto:a@example.org\n') as srv:
        with open(srv.config_path, 'rb') as f:
            raw = f.read()
        with open(srv.config_path, 'wb') as f:
            f.write(raw.replace(b'mailto:a@example.org', b'mailto:\xff@example.org'))
        r = srv.cli('check', 'config')
        assert r.returncode == 2 and 'support' not in r.stdout, r
        assert 'an address is not valid UTF-8' in r.stderr, r.stderr
    # Good ones load.
    with Server(start=False, extra_ini='[disco]\nabuse = MAILTO:abuse@example.org,'
                'XMPP:abuse@localhost , HTTPS://example.org\n') as srv:
        r = srv.cli('check', 'config')
        assert r.returncode == 0, r.stderr


# ---- XEP-0115 ----

XEP0115_SIMPLE = (
    "<query xmlns='%s'>"
    "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
    "<feature var='http://jabber.org/protocol/muc'/>"
    "<feature var='http://jabber.org/protocol/caps'/>"
    "<feature var='http://jabber.org/protocol/disco#info'/>"
    "<feature var='http://jabber.org/protocol/disco#items'/></query>" % NS_INFO)
XEP0115_COMPLEX = (
    "<query xmlns='%s'>"
    "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
    "<identity xml:lang='el' category='client' name='\u03a8 0.11' type='pc'/>"
    "<feature var='http://jabber.org/protocol/caps'/>"
    "<feature var='http://jabber.org/protocol/disco#info'/>"
    "<feature var='http://jabber.org/protocol/disco#items'/>"
    "<feature var='http://jabber.org/protocol/muc'/>"
    "<x xmlns='jabber:x:data' type='result'>"
    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
    "<field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>"
    "<field var='os'><value>Mac</value></field>"
    "<field var='os_version'><value>10.5.1</value></field>"
    "<field var='software'><value>Psi</value></field>"
    "<field var='software_version'><value>0.11</value></field></x></query>" % NS_INFO)


def test_caps_python_reference():
    """Our Python ver against the XEP's own examples (sections 5.2, 5.3),
    and against hashlib over the string the XEP spells out."""
    assert caps_ver(ET.fromstring(XEP0115_SIMPLE)) == 'QgayPKawpkPSDYmwT/WM94uAlu0='
    assert caps_ver(ET.fromstring(XEP0115_COMPLEX)) == 'q07IKJEyjvHSyhy//CH0CxmKi8w='
    s = ('client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<'
         'http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<'
         'http://jabber.org/protocol/muc<')
    assert base64.b64encode(hashlib.sha1(s.encode()).digest()).decode() == \
        'QgayPKawpkPSDYmwT/WM94uAlu0='


def test_caps_in_stream_features():
    extra = '[disco]\nsupport = mailto:b@example.org mailto:a@example.org\n'
    with Server(server={'modules': ALL_MODULES}, extra_ini=extra) as srv:
        r = R.Raw(srv.c2s_port)
        try:
            f0 = r.open()
            assert caps_of(f0) is None, 'caps before TLS: %s' % dump(f0)
            f1 = r.starttls()
            pre = caps_of(f1)
            el = r.auth_plain('alice', 'alice-pw')
            assert el.tag == q(R.NS_SASL, 'success'), dump(el)
            post = caps_of(r.features)
            r.bind()
            assert pre is not None and post is not None, (dump(f1), dump(r.features))
            assert pre == post, (pre, post)
            assert post['hash'] == 'sha-1' and post['node'] == CAPS_NODE, post
            assert set(post) == {'hash', 'node', 'ver'}, post

            qe = query_of(info_iq(r, to='localhost'))
            assert post['ver'] == caps_ver(qe), (post, dump(qe))
            # XEP-0115 6.2: node#ver names the same information.
            node = '%s#%s' % (CAPS_NODE, post['ver'])
            qn = query_of(info_iq(r, to='localhost', node=node))
            assert qn.get('node') == node, dump(qn)
            assert (identities(qn), features(qn), forms(qn)) == \
                (identities(qe), features(qe), forms(qe)), (dump(qn), dump(qe))
            assert caps_ver(qn) == post['ver']
            for bad in (CAPS_NODE, CAPS_NODE + '#', CAPS_NODE + '#AAAA' + post['ver'][4:],
                        'http://jabber.org/protocol/commands', ''):
                expect_error(info_iq(r, to='localhost', node=bad), 'cancel',
                             'item-not-found', 'disco#info node %r' % bad)
        finally:
            r.close()

    # slixmpp's own caps code: it sees <c/> in the features, asks for
    # node#ver, verifies the hash and caches the server's ver.
    with Server(server={'modules': ALL_MODULES}) as srv:
        with R.client(srv, 'bob') as r:
            want = caps_of(r.features)['ver']

        async def scenario(clients):
            c = Client(clients, srv, 'alice@localhost/caps', 'alice-pw')
            c.x.register_plugin('xep_0030')
            c.x.register_plugin('xep_0115')
            await c.connect()
            caps = c.x['xep_0115']
            got = None
            for _ in range(100):
                got = await caps.get_verstring('localhost')
                if got:
                    break
                await asyncio_sleep(0.05)
            assert got == want, 'slixmpp validated ver %r, stream said %r' % (got, want)
            iq = await c.x['xep_0030'].get_info(jid='localhost', timeout=5)
            assert caps.generate_verstring(iq['disco_info'], 'sha-1') == want
        run_scenario(scenario)


async def asyncio_sleep(t):
    import asyncio
    await asyncio.sleep(t)


# ---- errors and privacy ----

def test_disco_raw_errors():
    users = {'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw',
             'carol@localhost': 'carol-pw'}
    # Without uptime: nothing may write to data_path during these requests.
    mods = 'roster, saslauth, tls, disco, ping, offline, version, time'
    with Server(server={'modules': mods}, users=users) as srv:
        # carol may see bob's presence (bob's roster: carol 'from');
        # bob's view of carol is 'to' only.
        subscribe(srv, 'carol', 'bob')
        before = snapshot(srv)
        with R.client(srv, 'alice') as a, R.client(srv, 'carol') as c, \
                R.client(srv, 'bob') as b:
            f = R.Failures()
            f.run('info set', lambda: expect_error(
                info_iq(a, to='localhost', type='set'), 'modify', 'bad-request', 'info set'))
            f.run('items set', lambda: expect_error(
                info_iq(a, to='localhost', type='set', ns=NS_ITEMS), 'modify', 'bad-request',
                'items set'))
            f.run('own info set', lambda: expect_error(
                info_iq(a, to='alice@localhost', type='set'), 'modify', 'bad-request',
                'own info set'))
            f.run('unknown node', lambda: expect_error(
                info_iq(a, to='localhost', node='urn:xmppd:nothing'), 'cancel',
                'item-not-found', 'unknown node'))
            f.run('items unknown node', lambda: expect_error(
                info_iq(a, to='localhost', node='urn:xmppd:nothing', ns=NS_ITEMS), 'cancel',
                'item-not-found', 'items node'))
            f.run('own node', lambda: expect_error(
                info_iq(a, to='alice@localhost', node='x'), 'cancel', 'item-not-found',
                'own node'))
            f.run('own items node', lambda: expect_error(
                info_iq(a, to='alice@localhost', node='x', ns=NS_ITEMS), 'cancel',
                'item-not-found', 'own items node'))
            f.run('wrong element', lambda: expect_error(
                info_iq(a, to='localhost', name='info'), 'cancel', 'service-unavailable',
                'wrong element'))

            # Foreign accounts: no subscription, or no such account, look
            # exactly alike.
            def foreign():
                r1 = info_iq(a, to='bob@localhost')
                r2 = info_iq(a, to='nobody@localhost')
                expect_error(r1, 'cancel', 'service-unavailable', 'bob without subscription')
                expect_error(r2, 'cancel', 'service-unavailable', 'nobody')
                assert r1.get('from') == 'bob@localhost' and r2.get('from') == 'nobody@localhost'
                expect_error(info_iq(a, to='bob@localhost', ns=NS_ITEMS), 'cancel',
                             'service-unavailable', 'bob items')
                expect_error(info_iq(a, to='bob@localhost', node='x'), 'cancel',
                             'service-unavailable', 'bob node without subscription')
                # bob is subscribed to carol but carol granted nothing.
                expect_error(info_iq(b, to='carol@localhost'), 'cancel',
                             'service-unavailable', "bob to carol ('to' only)")
            f.run('foreign', foreign)

            def contact():
                r1 = info_iq(c, to='bob@localhost')
                qe = query_of(r1)
                assert r1.get('from') == 'bob@localhost', dump(r1)
                assert identities(qe) == [('account', 'registered', None, None)], dump(qe)
                assert features(qe) == [NS_INFO], dump(qe)
                expect_error(info_iq(c, to='bob@localhost', node='x'), 'cancel',
                             'item-not-found', 'contact node')
                # A contact allowed to see the account may list its items
                # (PEP nodes it may see, XEP-0163): none here.
                ri = info_iq(c, to='bob@localhost', ns=NS_ITEMS)
                assert ri.get('type') == 'result', dump(ri)
                assert list(query_of(ri, NS_ITEMS)) == [], dump(ri)
            f.run('contact', contact)

            def own():
                for to in ('alice@localhost', None, 'ALICE@LocalHost'):
                    rr = info_iq(a, to=to)
                    qe = query_of(rr)
                    assert identities(qe) == [('account', 'registered', None, None)], (to, dump(qe))
                    assert features(qe) == [NS_INFO], dump(qe)
                    qi = query_of(info_iq(a, to=to, ns=NS_ITEMS), NS_ITEMS)
                    assert len(qi) == 0 and not (qi.text or '').strip(), dump(qi)
            f.run('own', own)

            def oversize():
                big = 'n' * 60000
                expect_error(info_iq(a, to='localhost', node=big), 'cancel', 'item-not-found',
                             'oversize node')
                expect_error(info_iq(a, to='localhost', node=CAPS_NODE + '#' + big),
                             'cancel', 'item-not-found', 'oversize caps node')
                a.sync()
            f.run('oversize', oversize)
            f.raise_if_any()
            assert_unchanged(before, snapshot(srv), 'disco requests')
