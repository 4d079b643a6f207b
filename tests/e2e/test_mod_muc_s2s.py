"""
A group chat on a.test's conference.a.test entered by a user of another
server (b.test) over server-to-server: b.test resolves the MUC service's own
SRV record, authenticates by dialback, and the remote occupant sees the room
roster, its own self-presence (code 110), the messages of local occupants and
vice versa, and is removed when it leaves.
"""

from rawxmpp import C
from test_s2s import Dns, _login, _server
from lib import free_port

NS_MUC = 'http://jabber.org/protocol/muc'
NS_USER = NS_MUC + '#user'
ROOM = 'lounge@conference.a.test'


def _codes(st):
    return {int(s.get('code')) for s in st.findall('{%s}x/{%s}status' % (NS_USER, NS_USER))}


def _pres(frm, type=None):
    return lambda e: (e.tag == C('presence') and e.get('from') == frm
                      and e.get('type') == type)


def _groupchat(body):
    return lambda e: (e.tag == C('message') and e.get('type') == 'groupchat'
                      and e.findtext(C('body')) == body)


def test_remote_user_joins_chats_and_leaves_a_room():
    sa, sb = free_port(), free_port()
    dns = Dns(srv=[('_xmpp-server._tcp.a.test', 'xmpp-a.test', sa),
                   ('_xmpp-server._tcp.conference.a.test', 'xmpp-a.test', sa),
                   ('_xmpp-server._tcp.b.test', 'xmpp-b.test', sb)],
              hosts=[('xmpp-a.test', '127.0.0.1'), ('xmpp-b.test', '127.0.0.1')])
    mods = {'modules': 'roster, ping, offline, disco, muc'}
    a = _server('a.test', 'alice', sa, dns.port, server=mods,
                hostcfg={'a.test': {'muc': 'conference.a.test'}})
    b = _server('b.test', 'bob', sb, dns.port, server=mods)
    try:
        a.start()
        b.start()
        with a, b:
            alice = _login(a, 'alice', 'a.test', 'pc')
            bob = _login(b, 'bob', 'b.test', 'phone')
            alice.send("<presence to='%s/Alice'><x xmlns='%s'/></presence>" % (ROOM, NS_MUC))
            alice.expect(_pres(ROOM + '/Alice'), timeout=10)
            # A new room is locked until configured (XEP-0045 10.1.2): take
            # the default configuration.
            r = alice.iq("<iq type='set' to='%s'><query xmlns='%s#owner'>"
                         "<x xmlns='jabber:x:data' type='submit'/></query></iq>" % (ROOM, NS_MUC))
            assert r.get('type') == 'result', r.attrib

            bob.send("<presence to='%s/Bob'><x xmlns='%s'/></presence>" % (ROOM, NS_MUC))
            other = bob.expect(_pres(ROOM + '/Alice'), timeout=10)
            assert other.find('{%s}x' % NS_USER) is not None
            me = bob.expect(_pres(ROOM + '/Bob'), timeout=10)
            assert 110 in _codes(me), me.attrib
            joined = alice.expect(_pres(ROOM + '/Bob'), timeout=10)
            assert 110 not in _codes(joined)

            alice.send("<message to='%s' type='groupchat'><body>hello bob</body></message>" % ROOM)
            m = bob.expect(_groupchat('hello bob'), timeout=10)
            assert m.get('from') == ROOM + '/Alice', m.attrib
            assert m.get('to') == 'bob@b.test/phone', m.attrib
            alice.expect(_groupchat('hello bob'), timeout=10)

            bob.send("<message to='%s' type='groupchat'><body>hi alice</body></message>" % ROOM)
            m = alice.expect(_groupchat('hi alice'), timeout=10)
            assert m.get('from') == ROOM + '/Bob', m.attrib
            bob.expect(_groupchat('hi alice'), timeout=10)

            bob.send("<presence to='%s/Bob' type='unavailable'/>" % ROOM)
            gone = bob.expect(_pres(ROOM + '/Bob', 'unavailable'), timeout=10)
            assert 110 in _codes(gone)
            alice.expect(_pres(ROOM + '/Bob', 'unavailable'), timeout=10)
            for log in (a.log(), b.log()):
                assert 'error: ' not in log, log[-2000:]
            assert 'verified by dialback' in b.log() or 'verified by dialback' in a.log()
    finally:
        dns.stop()
