"""
In-band registration (XEP-0077, module register): the stream feature and
the form before authentication, account creation with legacy fields and
with a data form, every refusal (conflict, reserved names, short and long
passwords, bad usernames, missing fields, duplicates, registration closed,
the per-address limit), password changes and account removal after
authentication, and the [register] settings.  Refusals must leave the data
directory exactly as it was.
"""

import asyncio
import logging
import os
import ssl
import time

import slixmpp
from slixmpp.exceptions import IqError

from lib import Server
from rawxmpp import (
    C, FEATURES, NS_SASL, NS_STANZAS, NS_TLS, Raw, dump, q, stanza_error,
)

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)

NS_REG = 'jabber:iq:register'
NS_REG_FEATURE = 'http://jabber.org/features/iq-register'
NS_XDATA = 'jabber:x:data'
REG_FEATURE = q(NS_REG_FEATURE, 'register')
QUERY = q(NS_REG, 'query')

MODULES = 'roster, saslauth, tls, disco, ping, offline, register'


def open_server(allow=True, extra_ini='', **kw):
    server = {'modules': MODULES, 'allow_registration': allow}
    server.update(kw.pop('server', {}))
    return Server(server=server, extra_ini=extra_ini, **kw)


# ---- helpers ----

def data_tree(srv):
    """Every file and directory under data_path (the lock file aside) with
    its size, to show that a refused request wrote nothing."""
    out = {}
    for root, dirs, files in os.walk(srv.data_path):
        for n in dirs + files:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, srv.data_path)
            if rel == '.lock':
                continue
            out[rel] = os.path.getsize(p) if os.path.isfile(p) else 'dir'
    return out


def account_dir(srv, local, host='localhost'):
    return os.path.join(srv.data_path, host, local)


def has_account(srv, local, host='localhost'):
    return os.path.isfile(os.path.join(account_dir(srv, local, host), 'account'))


def preauth(srv, to='localhost'):
    """A raw connection after STARTTLS, not authenticated."""
    r = Raw(srv.c2s_port)
    r.open(to=to)
    r.starttls()
    return r


def reg_get(r):
    return r.iq("<iq type='get'><query xmlns='%s'/></iq>" % NS_REG)


def reg_set(r, inner, to=None):
    t = " to='%s'" % to if to else ''
    return r.iq("<iq type='set'%s><query xmlns='%s'>%s</query></iq>" % (t, NS_REG, inner))


def legacy(user, pw):
    return '<username>%s</username><password>%s</password>' % (user, pw)


def form(fields, type='submit', form_type='jabber:iq:register'):
    out = "<x xmlns='%s' type='%s'>" % (NS_XDATA, type)
    if form_type is not None:
        out += ("<field var='FORM_TYPE' type='hidden'><value>%s</value></field>"
                % form_type)
    for var, value in fields:
        out += "<field var='%s'><value>%s</value></field>" % (var, value)
    return out + '</x>'


def error_text(reply):
    err = reply.find(C('error'))
    t = err.find(q(NS_STANZAS, 'text')) if err is not None else None
    return None if t is None else (t.text or '')


def expect_error(reply, etype, cond, text=None):
    assert reply.get('type') == 'error', 'expected %s, got %s' % (cond, dump(reply))
    got = stanza_error(reply)
    assert got == (etype, cond), 'error %r, expected %r: %s' % (got, (etype, cond), dump(reply))
    if text is not None:
        t = error_text(reply)
        assert t is not None and text in t, 'error text %r lacks %r' % (t, text)


def expect_result(reply, what):
    assert reply.get('type') == 'result', '%s: %s' % (what, dump(reply))


def login_ok(srv, user, pw, resource='r'):
    """A full raw login; returns the connection."""
    r = Raw(srv.c2s_port)
    r.open()
    r.starttls()
    el = r.auth_plain(user, pw)
    assert el.tag == q(NS_SASL, 'success'), 'login %s/%s failed: %s' % (user, pw, dump(el))
    r.bind(resource)
    return r


def login_fails(srv, user, pw):
    with Raw(srv.c2s_port) as r:
        r.open()
        r.starttls()
        el = r.auth_plain(user, pw)
        assert el.tag == q(NS_SASL, 'failure'), 'login %s/%s should fail: %s' % (
            user, pw, dump(el))


# ---- slixmpp plumbing ----

async def _no_dns(*args, **kwargs):
    return None


def make_client(jid, password):
    x = slixmpp.ClientXMPP(jid, password)
    x.ssl_context.check_hostname = False
    x.ssl_context.verify_mode = ssl.CERT_NONE
    x.default_domain = x.boundjid.domain
    x._pick_dns_answer = _no_dns
    for p in ('xep_0030', 'xep_0004', 'xep_0066', 'xep_0077'):
        x.register_plugin(p)
    return x


async def connect(x, port, timeout=10, expect_session=True):
    """Connect; 'session', 'failed_auth' or 'disconnected'."""
    ev = {'session': asyncio.Event(), 'failed_auth': asyncio.Event(),
          'disconnected': asyncio.Event()}
    x.add_event_handler('session_start', lambda e: ev['session'].set())
    x.add_event_handler('failed_all_auth', lambda e: ev['failed_auth'].set())
    x.add_event_handler('disconnected', lambda e: ev['disconnected'].set())
    x.connect(address=('127.0.0.1', port))
    waits = {asyncio.ensure_future(e.wait()): k for k, e in ev.items()}
    done, pending = await asyncio.wait(list(waits), timeout=timeout,
                                       return_when=asyncio.FIRST_COMPLETED)
    for t in pending:
        t.cancel()
    what = waits[done.pop()] if done else 'timeout'
    if expect_session:
        assert what == 'session', '%s: no session (%s)' % (x.boundjid, what)
    return what


async def close(x):
    if x.transport is not None:
        try:
            await asyncio.wait_for(x.disconnect(wait=1), 3)
        except Exception:
            x.abort()


def run(coro_fn, timeout=30):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(coro_fn(), timeout))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        except Exception:
            pass
        loop.close()
        asyncio.set_event_loop(None)


# ---- tests ----

def test_register_with_slixmpp_then_login():
    with open_server() as srv:
        seen = {}

        async def scenario():
            x = make_client('dave@localhost/reg', 'dave-secret-1')
            # slixmpp 1.8 holds back every IQ until a session exists,
            # registration's included (its own plugin then hangs): let
            # this client send before authentication.
            x._always_send_everything = True

            async def on_register(iq):
                reg = iq['register']
                seen['fields'] = reg['fields']
                seen['instructions'] = reg['instructions']
                seen['registered'] = reg['registered']
                f = reg['form']
                seen['form_type'] = f['type']
                seen['form_fields'] = {k: (v['type'], v['required'])
                                       for k, v in f.get_fields().items()}
                v = f.get_fields()['FORM_TYPE']['value']
                seen['form_type_value'] = v if isinstance(v, list) else [v]
                resp = x.Iq()
                resp['type'] = 'set'
                resp['register']['username'] = 'dave'
                resp['register']['password'] = 'dave-secret-1'
                try:
                    r = await resp.send(timeout=5)
                    seen['result'] = r['type']
                except IqError as e:
                    seen['result'] = 'error ' + e.iq['error']['condition']
            x.add_event_handler('register', on_register)
            try:
                await connect(x, srv.c2s_port)
                seen['bound'] = str(x.boundjid)
            finally:
                await close(x)

            # A fresh client logs in with the new account.
            y = make_client('dave@localhost/again', 'dave-secret-1')
            try:
                await connect(y, srv.c2s_port)
                r = await y['xep_0077'].get_registration(timeout=5)
                seen['after'] = (r['register']['registered'], r['register']['username'])
            finally:
                await close(y)
        run(scenario)

        assert seen.get('fields') == {'username', 'password'}, seen
        assert seen['registered'] is False, seen
        assert 'username' in seen['instructions'], seen['instructions']
        assert seen['form_type'] == 'form', seen
        assert seen['form_type_value'] == ['jabber:iq:register'], seen
        assert seen['form_fields'] == {'FORM_TYPE': ('hidden', False),
                                       'username': ('text-single', True),
                                       'password': ('text-private', True)}, seen
        assert seen['result'] == 'result', seen
        assert seen['bound'] == 'dave@localhost/reg', seen
        assert seen['after'] == (True, 'dave'), seen
        assert has_account(srv, 'dave')
        assert 'account dave@localhost created by 127.0.0.1' in srv.log(), srv.log_tail(20)


def test_register_feature_and_form_raw():
    with open_server() as srv:
        with Raw(srv.c2s_port) as r:
            feats = r.open()
            # Before TLS: no registration (the password would travel in clear).
            assert feats.find(REG_FEATURE) is None, dump(feats)
            assert feats.find(q(NS_TLS, 'starttls')) is not None
            feats = r.starttls()
            assert feats.find(REG_FEATURE) is not None, dump(feats)
            reply = reg_get(r)
            expect_result(reply, 'form')
            assert reply.get('to') is None and reply.get('from') is None, dump(reply)
            qe = reply.find(QUERY)
            assert qe is not None, dump(reply)
            assert qe.find(q(NS_REG, 'registered')) is None
            for name in ('instructions', 'username', 'password'):
                assert qe.find(q(NS_REG, name)) is not None, (name, dump(reply))
            assert (qe.find(q(NS_REG, 'username')).text or '') == ''
            x = qe.find(q(NS_XDATA, 'x'))
            assert x is not None and x.get('type') == 'form', dump(reply)
            fields = {f.get('var'): f for f in x.findall(q(NS_XDATA, 'field'))}
            assert set(fields) == {'FORM_TYPE', 'username', 'password'}, dump(x)
            assert fields['FORM_TYPE'].find(q(NS_XDATA, 'value')).text == 'jabber:iq:register'
            assert fields['password'].get('type') == 'text-private'
            assert fields['username'].find(q(NS_XDATA, 'required')) is not None

            # Registration by data form, then login on the same stream.
            before = data_tree(srv)
            reply = reg_set(r, form([('username', 'Erin'), ('password', 'erin-password')]))
            expect_result(reply, 'form registration')
            assert len(reply) == 0, dump(reply)
            assert has_account(srv, 'erin'), 'username not case-folded'
            assert set(data_tree(srv)) - set(before) >= {'localhost/erin',
                                                       'localhost/erin/account'}
            el = r.auth_plain('erin', 'erin-password')
            assert el.tag == q(NS_SASL, 'success'), dump(el)
            assert r.bind('x') == 'erin@localhost/x'

        # The legacy fields, and a login with the account afterwards.
        with preauth(srv) as r:
            expect_result(reg_set(r, legacy('frank', 'frank-password')), 'legacy')
        login_ok(srv, 'frank', 'frank-password').close()
        # Disco on the server lists the namespace.
        c = login_ok(srv, 'frank', 'frank-password')
        info = c.iq("<iq type='get' to='localhost'><query "
                    "xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        c.close()
        vars_ = [f.get('var') for f in info.iter(q('http://jabber.org/protocol/disco#info',
                                                   'feature'))]
        assert NS_REG in vars_, dump(info)


def test_register_errors_write_nothing():
    with open_server() as srv:
        long_user = 'u' * 1100
        long_pw = 'p' * 1100
        cases = [
            # (request payload, error type, condition, text fragment)
            (legacy('alice', 'long-enough-pw'), 'cancel', 'conflict', 'already taken'),
            (legacy('ALICE', 'long-enough-pw'), 'cancel', 'conflict', 'already taken'),
            (legacy('admin', 'long-enough-pw'), 'cancel', 'conflict', 'reserved'),
            (legacy('PostMaster', 'long-enough-pw'), 'cancel', 'conflict', 'reserved'),
            (legacy('gina', 'short'), 'modify', 'not-acceptable', 'too short'),
            (legacy('gina', '1234567'), 'modify', 'not-acceptable', 'at least 8'),
            # Eight characters but more bytes: characters count.
            (legacy('gina', '\u00e9' * 7), 'modify', 'not-acceptable', 'too short'),
            (legacy('gina', long_pw), 'modify', 'not-acceptable', 'too long'),
            (legacy('gina', ''), 'modify', 'not-acceptable', 'password is required'),
            (legacy('', 'long-enough-pw'), 'modify', 'not-acceptable', 'username is required'),
            ('<username>gina</username>', 'modify', 'not-acceptable', 'Both'),
            ('<password>long-enough-pw</password>', 'modify', 'not-acceptable', 'Both'),
            ('', 'modify', 'not-acceptable', 'Both'),
            (legacy('gi na', 'long-enough-pw'), 'modify', 'not-acceptable', 'not valid'),
            (legacy('gina@localhost', 'long-enough-pw'), 'modify', 'not-acceptable',
             'not valid'),
            (legacy('gi/na', 'long-enough-pw'), 'modify', 'not-acceptable', 'not valid'),
            (legacy('gi&lt;na', 'long-enough-pw'), 'modify', 'not-acceptable', 'not valid'),
            (legacy(long_user, 'long-enough-pw'), 'modify', 'not-acceptable', 'too long'),
            ('<username>gina</username><username>hank</username>'
             '<password>long-enough-pw</password>', 'modify', 'bad-request', 'twice'),
            (form([('username', 'gina'), ('password', 'long-enough-pw')], type='form'),
             'modify', 'bad-request', "type='submit'"),
            (form([('username', 'gina'), ('password', 'long-enough-pw')],
                  form_type='urn:example:other'), 'modify', 'bad-request', 'FORM_TYPE'),
            (form([('username', 'gina'), ('username', 'hank'),
                   ('password', 'long-enough-pw')]), 'modify', 'bad-request', 'twice'),
            (form([('username', 'gina')]), 'modify', 'not-acceptable', 'Both'),
            ('<remove/>', 'wait', 'unexpected-request', 'Log in'),
        ]
        before = data_tree(srv)
        failures = []
        with preauth(srv) as r:
            for inner, etype, cond, text in cases:
                try:
                    expect_error(reg_set(r, inner), etype, cond, text)
                except AssertionError as e:
                    failures.append('%s: %s' % (inner[:80], e))
            # A payload the module does not know, and a get with another
            # element: the core's answer.
            reply = r.iq("<iq type='set'><unknown xmlns='%s'/></iq>" % NS_REG)
            expect_error(reply, 'cancel', 'service-unavailable')
            # A result is not answered at all.
            r.send("<iq type='result' id='nope'><query xmlns='%s'/></iq>" % NS_REG)
            expect_result(reg_get(r), 'still usable')
            assert not r.queue, [dump(e) for e in r.queue]
        assert not failures, '\n'.join(failures)
        assert data_tree(srv) == before, 'refused registrations changed the data directory'
        # The stream survives all that, and one good request still works.
        with preauth(srv) as r:
            expect_result(reg_set(r, legacy('gina', 'long-enough-pw')), 'good one')
        assert has_account(srv, 'gina')


def test_register_odd_names_stay_inside_and_oversize_stanza():
    with open_server() as srv:
        host_dir = os.path.join(srv.data_path, 'localhost', '%host')
        os.makedirs(host_dir)
        with open(os.path.join(host_dir, 'motd'), 'w') as f:
            f.write('keep me')
        # Valid localparts that look like paths are stored escaped, inside
        # the host's directory, and never clash with the host's own files.
        with preauth(srv) as r:
            for name in ('..', '%host', '.profile'):
                expect_result(reg_set(r, legacy(name, 'odd-name-password')), name)
        entries = sorted(os.listdir(os.path.join(srv.data_path, 'localhost')))
        assert entries == ['%25host', '%2E.', '%2Eprofile', '%host', 'alice', 'bob',
                           'carol'], entries
        assert open(os.path.join(host_dir, 'motd')).read() == 'keep me'
        assert sorted(os.listdir(srv.data_path)) == ['.lock', 'localhost'], \
            os.listdir(srv.data_path)
        for name in ('..', '%host', '.profile'):
            login_ok(srv, name, 'odd-name-password').close()
        # A registration bigger than the pre-authentication stanza limit
        # (16K here) ends the stream and creates nothing.
        before = data_tree(srv)
        with preauth(srv) as r:
            r.send("<iq type='set' id='big'><query xmlns='%s'>%s</query></iq>"
                   % (NS_REG, legacy('oscar', 'p' * 20000)))
            r.expect_stream_error('policy-violation')
        assert data_tree(srv) == before


def test_register_not_before_tls():
    with open_server() as srv:
        with Raw(srv.c2s_port) as r:
            feats = r.open()
            assert feats.find(REG_FEATURE) is None, dump(feats)
            r.send("<iq type='set' id='r1'><query xmlns='%s'>%s</query></iq>"
                   % (NS_REG, legacy('ivan', 'ivan-password')))
            r.expect_stream_error('not-authorized')
        assert not has_account(srv, 'ivan')


def test_register_closed():
    # Registration off for the server (the default), on for one host.
    hosts = ('localhost', 'open.example')
    users = {'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw'}
    with open_server(allow=False, hosts=hosts, users=users,
                     hostcfg={'open.example': {'allow_registration': 'true'}}) as srv:
        before = data_tree(srv)
        with preauth(srv) as r:
            assert r.features.find(REG_FEATURE) is None, dump(r.features)
            expect_error(reg_get(r), 'cancel', 'service-unavailable', 'not available')
            expect_error(reg_set(r, legacy('judy', 'judy-password')), 'cancel',
                         'service-unavailable', 'not available')
            expect_error(reg_set(r, form([('username', 'judy'),
                                          ('password', 'judy-password')])),
                         'cancel', 'service-unavailable')
        assert data_tree(srv) == before
        with preauth(srv, to='open.example') as r:
            assert r.features.find(REG_FEATURE) is not None, dump(r.features)
            expect_result(reg_get(r), 'form on the open host')
            expect_result(reg_set(r, legacy('judy', 'judy-password')), 'open host')
        assert has_account(srv, 'judy', 'open.example')
        assert not has_account(srv, 'judy', 'localhost')

        # Closed registration does not stop password changes or removal.
        a = login_ok(srv, 'alice', 'alice-pw')
        expect_result(reg_set(a, legacy('alice', 'alice-new-pw')), 'password change')
        a.close()
        login_ok(srv, 'alice', 'alice-new-pw').close()
        b = login_ok(srv, 'bob', 'bob-pw')
        expect_result(reg_set(b, '<remove/>'), 'removal')
        b.expect_stream_error('not-authorized')
        assert not os.path.exists(account_dir(srv, 'bob'))


def test_register_rate_limit_per_address():
    with open_server() as srv:
        with preauth(srv) as r:
            for n in ('kim1', 'kim2', 'kim3'):
                expect_result(reg_set(r, legacy(n, 'kim-password')), n)
            before = data_tree(srv)
            reply = reg_set(r, legacy('kim4', 'kim-password'))
            expect_error(reply, 'modify', 'policy-violation', 'Too many')
            # The request's own faults are still named first.
            expect_error(reg_set(r, legacy('kim4', 'short')), 'modify', 'not-acceptable')
            # And a limited address cannot probe for existing names.
            expect_error(reg_set(r, legacy('alice', 'kim-password')), 'modify',
                         'policy-violation')
        # A new connection from the same address is limited as well.
        with preauth(srv) as r:
            expect_error(reg_set(r, form([('username', 'kim5'), ('password', 'kim-password')])),
                         'modify', 'policy-violation')
        assert data_tree(srv) == before
        assert 'kim4@localhost refused for 127.0.0.1' in srv.log(), srv.log_tail(10)
        # Password changes are not limited.
        a = login_ok(srv, 'kim1', 'kim-password')
        expect_result(reg_set(a, legacy('kim1', 'kim-password-2')), 'change')
        a.close()


def test_register_settings():
    ini = ('[register]\nmin_password_length = 12\nreserved = boss, Chef\n'
           'max_per_ip_per_hour = 0\n')
    with open_server(extra_ini=ini) as srv:
        with preauth(srv) as r:
            expect_error(reg_set(r, legacy('lara', 'eleven-char')), 'modify',
                         'not-acceptable', 'at least 12')
            expect_error(reg_set(r, legacy('chef', 'twelve-chars')), 'cancel', 'conflict',
                         'reserved')
            expect_error(reg_set(r, legacy('BOSS', 'twelve-chars')), 'cancel', 'conflict',
                         'reserved')
            # The configured list replaces the default one.
            expect_result(reg_set(r, legacy('admin', 'twelve-chars')), 'admin allowed')
            # max_per_ip_per_hour = 0: no limit.
            for i in range(5):
                expect_result(reg_set(r, legacy('lara%d' % i, 'twelve-chars')), 'unlimited')
        assert has_account(srv, 'admin') and has_account(srv, 'lara4')
        # Password changes follow min_password_length too.
        a = login_ok(srv, 'lara0', 'twelve-chars')
        expect_error(reg_set(a, legacy('lara0', 'short-pw')), 'modify', 'not-acceptable',
                     'at least 12')
        a.close()


def test_register_bad_settings_refused():
    srv = Server(start=False)
    try:
        bad = [
            ('[register]\nmin_password_length = 0\n', 'min_password_length'),
            ('[register]\nmin_password_length = 1024\n', 'min_password_length'),
            ('[register]\nmin_password_length = 8x\n', 'min_password_length'),
            ('[register]\nmax_per_ip_per_hour = -1\n', 'max_per_ip_per_hour'),
            ('[register]\nmax_per_ip_per_hour = 10001\n', 'max_per_ip_per_hour'),
            ('[register]\nreserved = admin, bad@name\n', "'bad@name' is not a valid"),
            ('[register]\ncolour = blue\n', "unknown key 'colour' in [register]"),
        ]
        for ini, text in bad:
            srv.extra_ini = ini
            srv.write_config()
            r = srv.cli('check', 'config')
            assert r.returncode == 2, (ini, r.returncode, r.stdout, r.stderr)
            out = r.stdout + r.stderr
            assert text in out, (ini, out)
            assert 'xmppd.ini:' in out, ('no file:line', out)
        srv.extra_ini = ('[register]\nmin_password_length = 1\nmax_per_ip_per_hour = 10000\n'
                         'reserved =\n')
        srv.write_config()
        r = srv.cli('check', 'config')
        assert r.returncode == 0, (r.stdout, r.stderr)
    finally:
        srv.cleanup()


def test_register_change_password_with_slixmpp():
    with open_server() as srv:
        out = {}

        async def scenario():
            x = make_client('alice@localhost/pw', 'alice-pw')
            try:
                await connect(x, srv.c2s_port)
                r = await x['xep_0077'].get_registration(timeout=5)
                out['get'] = (r['register']['registered'], r['register']['username'],
                              r['register']['password'])
                r = await x['xep_0077'].change_password('alice-new-password', timeout=5)
                out['change'] = r['type']
                try:
                    await x['xep_0077'].change_password('short', timeout=5)
                    out['short'] = 'result'
                except IqError as e:
                    out['short'] = (e.iq['error']['type'], e.iq['error']['condition'])
            finally:
                await close(x)
            old = make_client('alice@localhost/old', 'alice-pw')
            try:
                out['old'] = await connect(old, srv.c2s_port, expect_session=False)
            finally:
                await close(old)
            new = make_client('alice@localhost/new', 'alice-new-password')
            try:
                out['new'] = await connect(new, srv.c2s_port, expect_session=False)
            finally:
                await close(new)
        run(scenario)
        assert out['get'] == (True, 'alice', ''), out
        assert out['change'] == 'result', out
        assert out['short'] == ('modify', 'not-acceptable'), out
        assert out['old'] == 'failed_auth', out
        assert out['new'] == 'session', out
        assert 'alice@localhost changed the account' in srv.log()


def test_register_cancel_with_slixmpp():
    with open_server() as srv:
        out = {}

        async def scenario():
            x = make_client('carol@localhost/c', 'carol-pw')
            errs = []
            x.add_event_handler('stream_error', lambda e: errs.append(e['condition']))
            gone = asyncio.Event()
            try:
                await connect(x, srv.c2s_port)
                x.add_event_handler('disconnected', lambda e: gone.set())
                r = await x['xep_0077'].cancel_registration(timeout=5)
                out['cancel'] = r['type']
                await asyncio.wait_for(gone.wait(), 5)
                out['stream_errors'] = errs
            finally:
                await close(x)
            y = make_client('carol@localhost/again', 'carol-pw')
            try:
                out['again'] = await connect(y, srv.c2s_port, expect_session=False)
            finally:
                await close(y)
        run(scenario)
        assert out['cancel'] == 'result', out
        assert out['stream_errors'] == ['not-authorized'], out
        assert out['again'] == 'failed_auth', out
        assert not os.path.exists(account_dir(srv, 'carol')), os.listdir(
            os.path.join(srv.data_path, 'localhost'))
        assert 'account carol@localhost deleted by its owner' in srv.log()


def test_register_after_login_raw():
    with open_server(allow=False) as srv:
        a = login_ok(srv, 'alice', 'alice-pw', 'a1')
        a2 = login_ok(srv, 'alice', 'alice-pw', 'a2')
        bob = login_ok(srv, 'bob', 'bob-pw', 'b1')
        # The registration of the account itself, to self and to the server.
        for to in (None, 'alice@localhost', 'localhost'):
            t = " to='%s'" % to if to else ''
            reply = a.iq("<iq type='get'%s><query xmlns='%s'/></iq>" % (t, NS_REG))
            expect_result(reply, 'get to %s' % to)
            assert reply.get('to') == 'alice@localhost/a1', dump(reply)
            assert reply.get('from') == to, dump(reply)
            qe = reply.find(QUERY)
            assert qe.find(q(NS_REG, 'registered')) is not None, dump(reply)
            assert qe.find(q(NS_REG, 'username')).text == 'alice', dump(reply)
            assert qe.find(q(NS_XDATA, 'x')) is None, dump(reply)

        before = data_tree(srv)
        # Another account's registration, or a change of its password.
        expect_error(a.iq("<iq type='get' to='bob@localhost'><query xmlns='%s'/></iq>"
                          % NS_REG), 'auth', 'forbidden')
        expect_error(reg_set(a, legacy('bob', 'bob-new-password'), to='bob@localhost'),
                     'auth', 'forbidden')
        expect_error(reg_set(a, '<remove/>', to='bob@localhost'), 'auth', 'forbidden')
        expect_error(reg_set(a, legacy('bob', 'bob-new-password')), 'auth', 'forbidden',
                     'your own account')
        expect_error(reg_set(a, legacy('bob@localhost', 'bob-new-password')), 'auth',
                     'forbidden')
        expect_error(reg_set(a, legacy('alice@other.example', 'alice-new-pw')), 'auth',
                     'forbidden')
        expect_error(reg_set(a, legacy('alice@localhost/res', 'alice-new-pw')), 'auth',
                     'forbidden')
        # Incomplete or bad changes.
        expect_error(reg_set(a, '<password>alice-new-pw</password>'), 'modify',
                     'bad-request', 'Both')
        expect_error(reg_set(a, '<username>alice</username>'), 'modify', 'bad-request')
        expect_error(reg_set(a, legacy('alice', '')), 'modify', 'bad-request', 'unchanged')
        expect_error(reg_set(a, '<username>alice</username><password/>'), 'modify',
                     'bad-request')
        expect_error(reg_set(a, legacy('alice', 'short')), 'modify', 'not-acceptable')
        expect_error(reg_set(a, legacy('alice', 'x' * 1100)), 'modify', 'not-acceptable',
                     'too long')
        expect_error(reg_set(a, '<remove/><username>alice</username>'), 'modify',
                     'bad-request', 'only child')
        expect_error(reg_set(a, form([('username', 'alice'), ('password', 'alice-new-pw')],
                                     form_type='urn:example:x')), 'modify', 'bad-request')
        assert data_tree(srv) == before, 'refused requests changed the data directory'
        login_fails(srv, 'bob', 'bob-new-password')

        # A change with the password-change form, to the server's address,
        # naming the account by its bare JID.
        reply = reg_set(a, form([('username', 'alice@localhost'),
                                 ('old_password', 'alice-pw'),
                                 ('password', 'alice-form-pw')],
                                form_type='jabber:iq:register:changepassword'),
                        to='localhost')
        expect_result(reply, 'form change')
        login_ok(srv, 'alice', 'alice-form-pw').close()
        login_fails(srv, 'alice', 'alice-pw')

        # Removal ends every session of the account, the answer first.
        reply = reg_set(a, '<remove/>', to='localhost')
        expect_result(reply, 'remove')
        a.expect_stream_error('not-authorized')
        a2.expect_stream_error('not-authorized', skip_stanzas=True)
        assert not os.path.exists(account_dir(srv, 'alice'))
        assert has_account(srv, 'bob')
        bob.sync()
        bob.close()
        login_fails(srv, 'alice', 'alice-form-pw')


def test_register_preauth_over_plain_tcp_refused():
    # With encryption not required, a client may skip STARTTLS; it must
    # still not be able to register (its password would travel in clear).
    with open_server(server={'c2s_require_encryption': 'false'}) as srv:
        with Raw(srv.c2s_port) as r:
            feats = r.open()
            assert feats.find(REG_FEATURE) is None, dump(feats)
            r.send("<iq type='set' id='p1'><query xmlns='%s'>%s</query></iq>"
                   % (NS_REG, legacy('mallory', 'mallory-password')))
            try:
                el = r.next(timeout=3)
            except Exception:
                el = None
            ok = el is None or el.tag != C('iq') or el.get('type') != 'result'
            assert ok, 'registration accepted over plain TCP: %s' % dump(el)
        time.sleep(0.2)
        assert not has_account(srv, 'mallory'), 'account created over plain TCP'
