"""
Modules version (XEP-0092), time (XEP-0202) and uptime (XEP-0012: the
server's uptime and accounts' last activity).

slixmpp's xep_0092/xep_0202/xep_0012 plugins parse the answers; raw XML
covers wrong types, foreign JIDs, unsubscribed askers (forbidden), damaged
or newer stored records, and checks what is (and is not) written to
data_path.
"""

import asyncio
import datetime
import os
import re
import time
import xml.etree.ElementTree as ET

import rawxmpp as R
from lib import REPO, Server
from rawxmpp import dump, q
from test_client import Client, run_scenario
from test_mod_disco import (ALL_MODULES, assert_unchanged, check_config_error,
                            expect_error, snapshot, subscribe)

NS_VERSION = 'jabber:iq:version'
NS_TIME = 'urn:xmpp:time'
NS_LAST = 'jabber:iq:last'
UTC_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
TZO_RE = re.compile(r'^[+-]\d\d:\d\d$')


def version_file():
    with open(os.path.join(REPO, 'VERSION')) as f:
        return f.read().strip()


def last_iq(r, to=None, type='get'):
    t = " to='%s'" % to if to is not None else ''
    return r.iq("<iq type='%s'%s><query xmlns='%s'/></iq>" % (type, t, NS_LAST))


def last_of(reply):
    """(seconds, text) of a jabber:iq:last result."""
    assert reply.get('type') == 'result', 'expected a result: %s' % dump(reply)
    qe = reply.find(q(NS_LAST, 'query'))
    assert qe is not None, dump(reply)
    assert len(qe) == 0, 'children in a last activity answer: %s' % dump(qe)
    assert re.match(r'^\d+$', qe.get('seconds') or ''), dump(qe)
    return int(qe.get('seconds')), qe.text


def lastlogout_path(srv, user):
    return os.path.join(srv.data_path, 'localhost', user, 'lastlogout')


def wait_for_file(path, after=None, timeout=5):
    """Wait until path exists (and, with after, its mtime_ns differs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st = os.stat(path)
            if after is None or st.st_mtime_ns != after:
                # The server writes atomically: what is there is whole.
                return st.st_mtime_ns
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    raise AssertionError('%s not written within %.0f s' % (path, timeout))


def read_lastlogout(srv, user):
    with open(lastlogout_path(srv, user), 'rb') as f:
        root = ET.fromstring(f.read())
    assert root.tag == q(NS_LAST, 'last'), root.tag
    assert root.get('version') == '1', root.attrib
    assert set(root.attrib) == {'version', 'logout'}, root.attrib
    return int(root.get('logout')), root.text


def logout(srv, r, user, status=None):
    """Send unavailable presence (with status) if asked, close the stream,
    and wait for the server to record the logout."""
    path = lastlogout_path(srv, user)
    try:
        old = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        old = None
    if status is not None:
        r.send("<presence type='unavailable'><status>%s</status></presence>" % status)
        r.sync()
    r.stream_close()
    r.close()
    wait_for_file(path, after=old)


# ---- version ----

def test_version_slixmpp():
    with Server(server={'modules': ALL_MODULES}) as srv:
        async def scenario(clients):
            c = Client(clients, srv, 'alice@localhost/v', 'alice-pw')
            c.x.register_plugin('xep_0092')
            await c.connect()
            iq = await c.x['xep_0092'].get_version('localhost', timeout=5)
            sv = iq['software_version']
            u = os.uname()
            assert iq['from'] == 'localhost', iq
            assert sv['name'] == 'xmppd', sv
            assert sv['version'] == version_file(), (sv['version'], version_file())
            assert sv['os'] == '%s %s' % (u.sysname, u.release), sv['os']
        run_scenario(scenario)


def test_version_raw():
    extra = '[version]\nhide_os = yes\n'
    with Server(server={'modules': ALL_MODULES}, extra_ini=extra) as srv:
        with R.client(srv, 'alice') as r:
            before = snapshot(srv)
            rep = r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>" % NS_VERSION)
            assert rep.get('type') == 'result', dump(rep)
            qe = rep.find(q(NS_VERSION, 'query'))
            assert [(c.tag, c.text) for c in qe] == [
                (q(NS_VERSION, 'name'), 'xmppd'),
                (q(NS_VERSION, 'version'), version_file())], dump(qe)
            # Without 'to': for the account, which has no version, so the server.
            rep = r.iq("<iq type='get'><query xmlns='%s'/></iq>" % NS_VERSION)
            assert rep.find(q(NS_VERSION, 'query')) is not None, dump(rep)
            expect_error(r.iq("<iq type='set' to='localhost'><query xmlns='%s'>"
                              "<name>x</name></query></iq>" % NS_VERSION),
                         'modify', 'bad-request', 'version set')
            # An account's bare JID has no version: nobody answers.
            expect_error(r.iq("<iq type='get' to='bob@localhost'><query xmlns='%s'/></iq>"
                              % NS_VERSION), 'cancel', 'service-unavailable', 'bob version')
            assert_unchanged(before, snapshot(srv), 'version requests')
    with Server(server={'modules': 'roster, disco'}) as srv:
        with R.client(srv, 'alice') as r:
            expect_error(r.iq("<iq type='get' to='localhost'><query xmlns='%s'/></iq>"
                              % NS_VERSION), 'cancel', 'service-unavailable',
                         'version not enabled')
    check_config_error('[version]\nhide_os = maybe\n', 'hide_os',
                       "hide_os: expected true/false, yes/no, on/off or 1/0, not 'maybe'")
    check_config_error('[version]\nshow_os = true\n', 'show_os',
                       "unknown key 'show_os' in [version] (known: hide_os)")


# ---- time ----

def test_time_slixmpp():
    with Server(server={'modules': ALL_MODULES}) as srv:
        async def scenario(clients):
            c = Client(clients, srv, 'alice@localhost/t', 'alice-pw')
            c.x.register_plugin('xep_0082')
            c.x.register_plugin('xep_0202')
            await c.connect()
            t0 = datetime.datetime.now(datetime.timezone.utc)
            iq = await c.x['xep_0202'].get_entity_time('localhost', timeout=5)
            t1 = datetime.datetime.now(datetime.timezone.utc)
            # slixmpp 1.8.3 cannot read either field: get_utc() appends a
            # second 'Z' to the 'Z' XEP-0202 requires, and get_tzo() hands
            # a bare time to its date-time parser.  Read the text with its
            # XEP-0082 parser instead.
            assert iq['type'] == 'result' and iq['from'] == 'localhost', iq
            text = iq.xml.find('{%s}time/{%s}utc' % (NS_TIME, NS_TIME)).text
            tzo = iq.xml.find('{%s}time/{%s}tzo' % (NS_TIME, NS_TIME)).text
            assert UTC_RE.match(text) and TZO_RE.match(tzo), (text, tzo)
            utc = c.x['xep_0082'].parse(text)
            assert utc.tzinfo is not None, utc
            # The server writes whole seconds.
            assert t0.replace(microsecond=0) - datetime.timedelta(seconds=1) <= utc <= t1, (
                t0, utc, t1)
            # Same zone as ours (the server inherits our environment).
            off = c.x['xep_0082'].parse('2000-01-01T00:00:00' + tzo).utcoffset()
            want = datetime.timedelta(seconds=time.localtime().tm_gmtoff)
            assert off == want, (tzo, want)
        run_scenario(scenario)


def _time_in_zone(tz):
    old = os.environ.get('TZ')
    os.environ['TZ'] = tz
    try:
        srv = Server(server={'modules': ALL_MODULES})
    finally:
        if old is None:
            del os.environ['TZ']
        else:
            os.environ['TZ'] = old
    with srv:
        with R.client(srv, 'alice') as r:
            rep = r.iq("<iq type='get' to='localhost'><time xmlns='%s'/></iq>" % NS_TIME)
            assert rep.get('type') == 'result', dump(rep)
            te = rep.find(q(NS_TIME, 'time'))
            assert [c.tag for c in te] == [q(NS_TIME, 'tzo'), q(NS_TIME, 'utc')], dump(te)
            tzo, utc = te.find(q(NS_TIME, 'tzo')).text, te.find(q(NS_TIME, 'utc')).text
            assert TZO_RE.match(tzo) and UTC_RE.match(utc), dump(te)
            when = datetime.datetime.strptime(utc, '%Y-%m-%dT%H:%M:%SZ').replace(
                tzinfo=datetime.timezone.utc)
            now = datetime.datetime.now(datetime.timezone.utc)
            assert abs((now - when).total_seconds()) < 5, (utc, now)
            expect_error(r.iq("<iq type='set' to='localhost'><time xmlns='%s'/></iq>"
                              % NS_TIME), 'modify', 'bad-request', 'time set')
            return tzo


def test_time_zones():
    # POSIX TZ strings: the sign is west-positive.
    assert _time_in_zone('IST-5:30') == '+05:30'
    assert _time_in_zone('NST+3:30') == '-03:30'
    assert _time_in_zone('UTC0') == '+00:00'
    check_config_error('[time]\nzone = UTC\n', 'zone', "module 'time' has no settings")


# ---- uptime: the server ----

def test_uptime_server():
    with Server(server={'modules': ALL_MODULES}) as srv:
        async def scenario(clients):
            c = Client(clients, srv, 'alice@localhost/u', 'alice-pw')
            c.x.register_plugin('xep_0012')
            await c.connect()
            la = c.x['xep_0012']
            iq = await la.get_last_activity('localhost', timeout=5)
            s1 = iq['last_activity']['seconds']
            assert iq['from'] == 'localhost' and 0 <= s1 < 30, iq
            assert iq['last_activity']['status'] in (None, ''), iq
            await asyncio.sleep(2.1)
            iq = await la.get_last_activity('localhost', timeout=5)
            s2 = iq['last_activity']['seconds']
            assert s1 + 2 <= s2 <= s1 + 4, (s1, s2)
        run_scenario(scenario)
        with R.client(srv, 'alice') as r:
            expect_error(last_iq(r, to='localhost', type='set'), 'modify', 'bad-request',
                         'last set')


# ---- uptime: accounts ----

def test_last_activity_contact():
    with Server(server={'modules': ALL_MODULES}) as srv:
        # bob may see alice's presence; carol may not.
        subscribe(srv, 'bob', 'alice')
        a = R.client(srv, 'alice')
        t0 = int(time.time())
        logout(srv, a, 'alice', status='Heading Home &amp; &lt;away&gt;')
        t1 = int(time.time())
        when, text = read_lastlogout(srv, 'alice')
        assert t0 <= when <= t1, (t0, when, t1)
        assert text == 'Heading Home & <away>', text
        time.sleep(2.1)

        async def scenario(clients):
            c = Client(clients, srv, 'bob@localhost/la', 'bob-pw')
            c.x.register_plugin('xep_0012')
            await c.connect()
            iq = await c.x['xep_0012'].get_last_activity('alice@localhost', timeout=5)
            la = iq['last_activity']
            assert iq['from'] == 'alice@localhost', iq
            assert 2 <= la['seconds'] <= 10, la
            assert la['status'] == 'Heading Home & <away>', la['status']
        run_scenario(scenario)

        before = snapshot(srv)
        with R.client(srv, 'carol') as c, R.client(srv, 'bob') as b:
            rep = last_iq(c, to='alice@localhost')
            expect_error(rep, 'auth', 'forbidden', 'carol without subscription')
            assert rep.get('from') == 'alice@localhost', dump(rep)
            expect_error(last_iq(c, to='nobody@localhost'), 'cancel', 'service-unavailable',
                         'no such account')
            # alice subscribed to bob's presence, but bob granted nothing.
            expect_error(last_iq(b, to='carol@localhost'), 'auth', 'forbidden',
                         'bob to carol')
            expect_error(last_iq(b, to='alice@localhost', type='set'), 'modify',
                         'bad-request', 'set on an account')
            secs, txt = last_of(last_iq(b, to='alice@localhost'))
            assert secs >= 2 and txt == 'Heading Home & <away>', (secs, txt)
            assert_unchanged(before, snapshot(srv), 'last activity queries')

            # alice online and available: 0, no status text.
            a = R.client(srv, 'alice')
            assert last_of(last_iq(b, to='alice@localhost')) == (0, None)
            # Her own bare JID and no 'to' at all: the same.
            assert last_of(last_iq(a, to='alice@localhost')) == (0, None)
            assert last_of(last_iq(a)) == (0, None)
            # Unavailable but still connected: the stored record again.
            a.send("<presence type='unavailable'/>")
            a.sync()
            secs, txt = last_of(last_iq(b, to='alice@localhost'))
            assert secs >= 2 and txt == 'Heading Home & <away>', (secs, txt)
            # A new logout without status text replaces the record.
            logout(srv, a, 'alice')
            when2, text2 = read_lastlogout(srv, 'alice')
            assert when2 >= when and text2 is None, (when2, text2)
            assert last_of(last_iq(b, to='alice@localhost'))[1] is None


def test_last_activity_records():
    users = {'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw',
             'carol@localhost': 'carol-pw', 'dave@localhost': 'dave-pw'}
    extra = '[uptime]\nmax_status_size = 5\n'
    with Server(server={'modules': ALL_MODULES}, users=users, extra_ini=extra) as srv:
        subscribe(srv, 'bob', 'alice')
        subscribe(srv, 'bob', 'dave')
        # Logouts of subscribe()'s sessions land in the files; wait for
        # them, then make dave someone who never logged out.
        for u in ('alice', 'bob', 'dave'):
            wait_for_file(lastlogout_path(srv, u))
        os.unlink(lastlogout_path(srv, 'dave'))
        with R.client(srv, 'bob') as b:
            # dave never logged out (record removed): nothing to tell.
            expect_error(last_iq(b, to='dave@localhost'), 'cancel', 'item-not-found',
                         'no record')

            # Status cut to 5 bytes on a character boundary: 'héll'.
            a = R.client(srv, 'alice')
            logout(srv, a, 'alice', status='h\u00e9llo w\u00f6rld')
            assert read_lastlogout(srv, 'alice')[1] == 'h\u00e9ll'
            assert last_of(last_iq(b, to='alice@localhost'))[1] == 'h\u00e9ll'

            # Two sessions: only the end of the last one is a logout.
            a1 = R.client(srv, 'alice', resource='one')
            a2 = R.client(srv, 'alice', resource='two')
            old = os.stat(lastlogout_path(srv, 'alice')).st_mtime_ns
            mark = len(srv.log())
            a1.send("<presence type='unavailable'><status>one</status></presence>")
            a1.stream_close()
            a1.close()
            assert srv.wait_log('connection closed', timeout=5, start=mark)
            a2.sync()
            time.sleep(0.2)
            assert os.stat(lastlogout_path(srv, 'alice')).st_mtime_ns == old, \
                'logout recorded while a session remained'
            # a2 is still available: 0.
            assert last_of(last_iq(b, to='alice@localhost')) == (0, None)
            logout(srv, a2, 'alice', status='two')
            assert read_lastlogout(srv, 'alice')[1] == 'two'

            # Damaged and newer records: an error, and a line in the log.
            path = lastlogout_path(srv, 'alice')
            for content, cond, logline in (
                    (b"<last xmlns='jabber:iq:last' version='2' logout='1'/>",
                     'internal-server-error', 'has format version 2'),
                    (b"<last xmlns='jabber:iq:last' version='1' logout='-5'/>",
                     'internal-server-error', 'bad logout time'),
                    (b"<last xmlns='jabber:iq:last' version='1'",
                     'internal-server-error', 'is damaged'),
                    (b"<other xmlns='jabber:iq:last' version='1' logout='1'/>",
                     'internal-server-error', 'not a <last/> document')):
                with open(path + '.new', 'wb') as f:
                    f.write(content)
                os.replace(path + '.new', path)
                expect_error(last_iq(b, to='alice@localhost'), 'cancel', cond,
                             repr(content))
                assert srv.wait_log(logline, timeout=2), (logline, srv.log_tail(5))
            # An old record from the future (clock set back): 0, not negative.
            with open(path + '.new', 'wb') as f:
                f.write(b"<last xmlns='jabber:iq:last' version='1' logout='%d'>x</last>"
                        % (int(time.time()) + 3600))
            os.replace(path + '.new', path)
            assert last_of(last_iq(b, to='alice@localhost')) == (0, 'x')

    # The setting is checked.
    check_config_error('[uptime]\nmax_status_size = 16385\n', 'max_status_size',
                       "max_status_size: '16385' is not a number of bytes in 0..16384")
    check_config_error('[uptime]\nmax_status_size = -1\n', 'max_status_size',
                       "max_status_size: '-1' is not a number of bytes in 0..16384")
    check_config_error('[uptime]\nstatus = 1\n', 'status',
                       "unknown key 'status' in [uptime] (known: max_status_size)")


def test_last_activity_no_status_kept():
    """max_status_size = 0 keeps no text; a deleted account's logout does
    not bring its directory back."""
    extra = '[uptime]\nmax_status_size = 0\n'
    with Server(server={'modules': ALL_MODULES}, extra_ini=extra) as srv:
        subscribe(srv, 'bob', 'alice')
        a = R.client(srv, 'alice')
        logout(srv, a, 'alice', status='secret plans')
        assert read_lastlogout(srv, 'alice')[1] is None
        with open(lastlogout_path(srv, 'alice'), 'rb') as f:
            assert b'secret' not in f.read()
        # Deleting carol while she is connected: her session ends after the
        # account is gone, and nothing may recreate her directory.
        c = R.client(srv, 'carol')
        r = srv.cli('deluser', 'carol@localhost')
        assert r.returncode == 0, r.stderr
        mark = len(srv.log())
        c.close()
        assert srv.wait_log('connection closed', timeout=5, start=mark)
        assert not os.path.exists(os.path.join(srv.data_path, 'localhost', 'carol')), \
            os.listdir(os.path.join(srv.data_path, 'localhost'))
