"""
Accounts that only have SCRAM-SHA-1 keys (as `import-prosody` brings them):
[server] sasl_mechanisms narrows what is offered, and a PLAIN login adds the
missing SCRAM-SHA-256 keys, after which SCRAM-SHA-256 works.
"""

import os

from lib import Server
from rawxmpp import Raw

NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'


def _mechs(features):
    m = features.find('{%s}mechanisms' % NS_SASL)
    return [e.text for e in m] if m is not None else []


def _only_sha1(path):
    lines = open(path).read().splitlines(True)
    open(path, 'w').write(''.join(l for l in lines if not l.startswith('scram-sha-256 ')))


def test_mechanisms_setting_and_plain_upgrade():
    with Server(server={'sasl_mechanisms': 'SCRAM-SHA-1, PLAIN'}) as srv:
        acct = os.path.join(srv.data_path, 'localhost', 'alice', 'account')
        _only_sha1(acct)
        r = Raw(srv.c2s_port)
        r.open()
        f = r.starttls()
        assert _mechs(f) == ['SCRAM-SHA-1', 'PLAIN'], _mechs(f)
        # A mechanism not offered is refused.
        r.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>biwsbj1hbGljZSxyPWFiYw==</auth>"
               % NS_SASL)
        el = r.next()
        assert el.tag == '{%s}failure' % NS_SASL and el.find('{%s}invalid-mechanism' % NS_SASL) \
            is not None, el
        # SCRAM-SHA-1 works with the SHA-1 keys alone.
        el = r.auth_scram('alice', 'alice-pw', mech='SCRAM-SHA-1')
        assert el.tag.endswith('success'), el
        assert 'scram-sha-256' not in open(acct).read()
        # A PLAIN login adds the SHA-256 keys.
        r2 = Raw(srv.c2s_port)
        r2.open()
        r2.starttls()
        assert r2.auth_plain('alice', 'alice-pw').tag.endswith('success')
        assert 'scram-sha-256 ' in open(acct).read()
    with Server() as srv:
        acct = os.path.join(srv.data_path, 'localhost', 'alice', 'account')
        _only_sha1(acct)
        r = Raw(srv.c2s_port)
        r.open()
        r.starttls()
        assert r.auth_plain('alice', 'alice-pw').tag.endswith('success')
        r3 = Raw(srv.c2s_port)
        r3.open()
        f = r3.starttls()
        assert _mechs(f)[0] == 'SCRAM-SHA-256'
        el = r3.auth_scram('alice', 'alice-pw', mech='SCRAM-SHA-256')
        assert el.tag.endswith('success'), el


def test_bad_mechanism_name_is_a_config_error():
    srv = Server(server={'sasl_mechanisms': 'SCRAM-SHA-512'}, start=False)
    try:
        srv.write_config()
        r = srv.cli('check', 'config')
        assert r.returncode == 2 and "unknown mechanism 'SCRAM-SHA-512'" in r.stderr, r.stderr
    finally:
        srv.cleanup()
