"""
Welcome message (module welcome): an account created by the running server
(in-band registration here) finds [server] welcome_message, with $user and
$host filled in, waiting at its first login (offline delivery, with a
delay stamp).  Accounts from `xmppd adduser` get nothing; nor does anyone
when no text is set or the module is off.
"""

import os

from lib import Server
from rawxmpp import C, NS_DELAY, Raw, body_of, dump, q

NS_REG = 'jabber:iq:register'
MODULES = 'roster, saslauth, tls, disco, ping, offline, register, welcome'
TEXT = 'Welcome $user to $host! $username costs $5, $$ and $hostile.'


def open_server(text=TEXT, modules=MODULES):
    server = {'modules': modules, 'allow_registration': True}
    if text is not None:
        server['welcome_message'] = text
    return Server(server=server)


def register(srv, user, pw):
    with Raw(srv.c2s_port) as r:
        r.open()
        r.starttls()
        reply = r.iq("<iq type='set'><query xmlns='%s'><username>%s</username>"
                     "<password>%s</password></query></iq>" % (NS_REG, user, pw))
        assert reply.get('type') == 'result', dump(reply)
    srv.users[user + '@localhost'] = pw


def login(srv, user, resource='r'):
    r = Raw(srv.c2s_port)
    r.login(user + '@localhost', srv.users[user + '@localhost'], resource=resource)
    return r


def from_host(e):
    return e.tag == C('message') and e.get('from') == 'localhost'


def offline_dir(srv, user):
    return os.path.join(srv.data_path, 'localhost', user, 'offline')


def test_welcome_after_registration():
    with open_server() as srv:
        register(srv, 'dave', 'dave-password')
        # Stored while dave is not online yet.
        stored = os.listdir(offline_dir(srv, 'dave'))
        assert len(stored) == 1, stored
        r = login(srv, 'dave')
        m = r.expect(from_host, what='the welcome message')
        assert m.get('type') == 'normal', dump(m)
        assert m.get('to') in ('dave@localhost', r.jid), dump(m)
        assert body_of(m) == ('Welcome dave to localhost! davename costs $5, $$ and '
                              'localhostile.'), body_of(m)
        d = m.find(q(NS_DELAY, 'delay'))
        assert d is not None and d.get('from') == 'localhost', dump(m)
        r.assert_nothing(from_host, what='a second welcome')
        r.close()
        assert os.listdir(offline_dir(srv, 'dave')) == []
        # Only once: not at the next login.
        r = login(srv, 'dave', 'two')
        r.assert_nothing(from_host, what='welcome at the second login')
        r.close()
        # Accounts made by `xmppd adduser` (another process) get none.
        r = login(srv, 'alice')
        r.assert_nothing(from_host, what='welcome for a CLI account')
        r.close()
        assert not os.path.exists(offline_dir(srv, 'alice'))


def test_welcome_not_without_text_or_module():
    for text, modules in ((None, MODULES),
                          (TEXT, 'roster, saslauth, tls, ping, offline, register')):
        with open_server(text, modules) as srv:
            register(srv, 'erin', 'erin-password')
            assert not os.path.exists(offline_dir(srv, 'erin'))
            r = login(srv, 'erin')
            r.assert_nothing(from_host, what='a welcome message')
            r.close()
