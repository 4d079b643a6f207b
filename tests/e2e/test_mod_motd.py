"""
Message of the day (module motd): sent as a normal message from the host at
a session's initial presence, once per version of the text and account;
the host-level file "motd" wins over [server] motd; unusable files fall
back to the config; nothing at all when there is no text.
"""

import os
import re

from lib import Server
from rawxmpp import C, Raw, body_of, dump, is_message

MODULES = 'roster, saslauth, tls, disco, ping, offline, motd'
CONFIG_MOTD = 'Hello from the config & <friends>'


def open_server(motd=CONFIG_MOTD, **kw):
    server = {'modules': MODULES}
    if motd is not None:
        server['motd'] = motd
    return Server(server=server, **kw)


def host_dir(srv, host='localhost'):
    return os.path.join(srv.data_path, host, '%host')


def write_motd(srv, data, host='localhost'):
    """What admin_adhoc does: the host-level file, written atomically."""
    d = host_dir(srv, host)
    os.makedirs(d, mode=0o700, exist_ok=True)
    tmp = os.path.join(d, 'motd.new')
    with open(tmp, 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode('utf-8'))
    os.replace(tmp, os.path.join(d, 'motd'))


def seen_file(srv, user):
    return os.path.join(srv.data_path, 'localhost', user, 'motd-seen')


def from_host(e):
    return e.tag == C('message') and e.get('from') == 'localhost'


def login(srv, user, resource='r', presence=True):
    r = Raw(srv.c2s_port)
    r.login(user + '@localhost', srv.users[user + '@localhost'], resource=resource,
            presence=presence)
    return r


def expect_motd(r, text):
    """The one MOTD message; checks its every attribute and child."""
    m = r.expect(from_host, what='the MOTD')
    assert m.get('type') == 'normal', dump(m)
    assert m.get('to') == r.jid, dump(m)
    assert body_of(m) == text, 'MOTD body %r, expected %r' % (body_of(m), text)
    assert [c.tag for c in m] == [C('body')], dump(m)
    r.assert_nothing(from_host, what='a second MOTD')


def no_motd(r):
    r.assert_nothing(from_host, what='no MOTD')


def test_motd_from_config_once_per_text():
    with open_server() as srv:
        a = login(srv, 'alice')
        expect_motd(a, CONFIG_MOTD)
        # A second resource of the same account, while the first is online.
        a2 = login(srv, 'alice', 'two')
        no_motd(a2)
        a.close()
        a2.close()
        a = login(srv, 'alice', 'three')
        no_motd(a)
        a.close()
        seen = open(seen_file(srv, 'alice')).read()
        assert re.fullmatch(r"<motd-seen xmlns='urn:xmppd:motd' version='1' "
                            r"sha256='[0-9a-f]{64}'/>\n", seen), seen
        assert oct(os.stat(seen_file(srv, 'alice')).st_mode & 0o777) == '0o600'

        # The admins change the text: everybody gets the new one, once.
        write_motd(srv, 'Maintenance tonight.\nLine two, \u00e9t\u00e9.\n\n')
        a = login(srv, 'alice')
        expect_motd(a, 'Maintenance tonight.\nLine two, \u00e9t\u00e9.')
        a.close()
        b = login(srv, 'bob')
        expect_motd(b, 'Maintenance tonight.\nLine two, \u00e9t\u00e9.')
        b.close()
        for u in ('alice', 'bob'):
            r = login(srv, u, 'again')
            no_motd(r)
            r.close()

        # Only trailing blank space differs: the same text, not sent again.
        write_motd(srv, 'Maintenance tonight.\nLine two, \u00e9t\u00e9.   \r\n')
        a = login(srv, 'alice', 'same')
        no_motd(a)
        a.close()

        # An empty (or blank) file means: the config's text again, which
        # differs from the last one alice saw.
        write_motd(srv, ' \n\t\n')
        a = login(srv, 'alice', 'blank')
        expect_motd(a, CONFIG_MOTD)
        a.close()


def test_motd_only_at_initial_presence():
    with open_server() as srv:
        a = login(srv, 'alice', presence=False)
        a.send("<iq type='get' id='rost'><query xmlns='jabber:iq:roster'/></iq>")
        a.sync()
        no_motd(a)
        # Directed presence is not initial presence.
        a.send("<presence to='bob@localhost'/>")
        no_motd(a)
        a.send('<presence/>')
        expect_motd(a, CONFIG_MOTD)
        # Presence updates do not send it again.
        a.send('<presence><show>away</show></presence>')
        no_motd(a)
        a.close()


def test_motd_bad_files_fall_back_to_config():
    with open_server() as srv:
        for data, why in ((b'bad \xff\xfe utf-8', 'not plain UTF-8'),
                          (b'nul \x00 inside', 'not plain UTF-8'),
                          (b'bell \x07 inside', 'not plain UTF-8'),
                          ('nonchar \uffff'.encode('utf-8'), 'not plain UTF-8'),
                          (b'x' * 16385, 'larger than 16384')):
            write_motd(srv, data)
            # A new user each time, so the config's text is always news.
            user = 'u%d' % len(srv.users)
            srv.adduser(user + '@localhost', user + '-pw')
            r = login(srv, user)
            expect_motd(r, CONFIG_MOTD)
            r.close()
            assert why in srv.log(), (why, srv.log_tail(5))
        # 16384 bytes exactly is fine.
        write_motd(srv, 'y' * 16384)
        r = login(srv, 'alice')
        expect_motd(r, 'y' * 16384)
        r.close()


def test_motd_file_without_config_and_none_at_all():
    with open_server(motd=None) as srv:
        a = login(srv, 'alice')
        no_motd(a)
        a.close()
        assert not os.path.exists(seen_file(srv, 'alice')), 'motd-seen written for nothing'
        write_motd(srv, 'From the file only')
        a = login(srv, 'alice')
        expect_motd(a, 'From the file only')
        a.close()
        # The file removed again: nothing, and the record stays.
        os.unlink(os.path.join(host_dir(srv), 'motd'))
        a = login(srv, 'alice')
        no_motd(a)
        a.close()
        assert os.path.exists(seen_file(srv, 'alice'))


def test_motd_seen_file_damaged_or_newer():
    with open_server() as srv:
        os.makedirs(os.path.dirname(seen_file(srv, 'alice')), exist_ok=True)
        with open(seen_file(srv, 'alice'), 'w') as f:
            f.write('<not-xml')
        a = login(srv, 'alice')
        expect_motd(a, CONFIG_MOTD)
        a.close()
        assert 'motd-seen of alice@localhost is damaged' in srv.log()
        assert "version='1'" in open(seen_file(srv, 'alice')).read()
        # A file from a newer xmppd is left alone, and nothing is sent.
        newer = "<motd-seen xmlns='urn:xmppd:motd' version='2' digest='x'/>\n"
        with open(seen_file(srv, 'alice'), 'w') as f:
            f.write(newer)
        a = login(srv, 'alice')
        no_motd(a)
        a.close()
        assert open(seen_file(srv, 'alice')).read() == newer
        assert 'has format version 2' in srv.log()


def test_motd_module_disabled():
    with Server(server={'motd': CONFIG_MOTD}) as srv:
        a = login(srv, 'alice')
        no_motd(a)
        a.close()
        assert not os.path.exists(seen_file(srv, 'alice'))


def test_motd_routed_from_host_counts_as_seen():
    # The welcome module routes a message from the host to a new account.
    # When it carries the current MOTD (as an admin's announcement of a new
    # MOTD does), the account has seen it and is not sent it again.
    text = 'Same words for both'
    srv = Server(server={'modules': MODULES + ', register, welcome',
                         'allow_registration': True, 'motd': text,
                         'welcome_message': text + '  '})
    with srv:
        for user, expect_two in (('dave', False), ('erin', True)):
            if expect_two:
                # A different welcome: the MOTD is still news for erin.
                write_motd(srv, 'Another text')
            with Raw(srv.c2s_port) as r:
                r.open()
                r.starttls()
                reply = r.iq("<iq type='set'><query xmlns='jabber:iq:register'>"
                             "<username>%s</username><password>long-password</password>"
                             "</query></iq>" % user)
                assert reply.get('type') == 'result', dump(reply)
            srv.users[user + '@localhost'] = 'long-password'
            r = login(srv, user)
            got = [body_of(m) for m in r.drain() if from_host(m)]
            want = [text, 'Another text'] if expect_two else [text]
            assert sorted(got) == sorted(want), (user, got)
            r.close()
            assert os.path.exists(seen_file(srv, user))
