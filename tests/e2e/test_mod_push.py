"""
Push notifications (XEP-0357, module cloud_notify): a phone registers an app
server; when a message arrives while its session waits for XEP-0198
resumption, or while it has no session at all, the app server gets a
pubsub publish with the summary form (no body by default).
"""

import socket
import time

from lib import Server
from rawxmpp import Raw, C, client

NS_PUSH = 'urn:xmpp:push:0'
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_DATA = 'jabber:x:data'
NS_SM = 'urn:xmpp:sm:3'


def _server(**kw):
    return Server(server={'modules': 'roster, ping, offline, smacks, cloud_notify, disco'},
                  users={'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw',
                         'apps@localhost': 'apps-pw'}, **kw)


def _fields(iq):
    x = iq.find('{%s}pubsub/{%s}publish/{%s}item/{%s}notification/{%s}x'
                % (NS_PUBSUB, NS_PUBSUB, NS_PUBSUB, NS_PUSH, NS_DATA))
    assert x is not None, iq
    return {f.get('var'): f.findtext('{%s}value' % NS_DATA) for f in x.findall('{%s}field' % NS_DATA)}


def _publish(apps, timeout=5):
    iq = apps.expect(lambda e: e.tag == C('iq') and e.get('type') == 'set', timeout=timeout)
    apps.send("<iq type='result' id='%s' to='%s'/>" % (iq.get('id'), iq.get('from')))
    return iq


def _enable(r, node='n1', form=True):
    opts = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
            "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            "<field var='secret'><value>s3cr3t</value></field></x>") if form else ''
    reply = r.iq("<iq type='set'><enable xmlns='%s' jid='apps@localhost/srv' node='%s'>%s"
                 "</enable></iq>" % (NS_PUSH, node, opts))
    assert reply.get('type') == 'result', reply.attrib


def test_push_while_hibernating_and_while_offline():
    with _server() as srv:
        apps = client(srv, 'apps', 'srv')
        bob = client(srv, 'bob', 'b')
        alice = client(srv, 'alice', 'phone')
        _enable(alice)
        info = alice.iq("<iq type='get' to='alice@localhost'><query "
                        "xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        assert any(f.get('var') == NS_PUSH for f in info.iter('{http://jabber.org/protocol/disco#info}feature'))
        alice.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
        alice.expect('{%s}enabled' % NS_SM)
        # While she is connected, nothing is pushed.
        bob.send("<message to='alice@localhost/phone' type='chat'><body>awake</body></message>")
        alice.expect(lambda e: e.findtext(C('body')) == 'awake')
        apps.assert_nothing(lambda e: e.tag == C('iq'))
        # Her phone loses the network: the session hibernates; a message
        # now wakes the app server, without its body.
        alice.sock.close()
        time.sleep(0.3)
        bob.send("<message to='alice@localhost' type='chat'><body>secret text</body></message>")
        iq = _publish(apps)
        assert iq.get('from') == 'alice@localhost', iq.attrib
        pub = iq.find('{%s}pubsub/{%s}publish' % (NS_PUBSUB, NS_PUBSUB))
        assert pub.get('node') == 'n1'
        f = _fields(iq)
        assert f['FORM_TYPE'] == 'urn:xmpp:push:summary', f
        assert f['last-message-sender'] == 'bob@localhost/b', f
        assert 'last-message-body' not in f, f
        opts = iq.find('{%s}pubsub/{%s}publish-options' % (NS_PUBSUB, NS_PUBSUB))
        assert opts is not None and 's3cr3t' in ''.join(opts.itertext())
        # Chat states alone do not wake anybody.
        bob.send("<message to='alice@localhost' type='chat'><composing "
                 "xmlns='http://jabber.org/protocol/chatstates'/></message>")
        bob.sync()
        apps.assert_nothing(lambda e: e.tag == C('iq'), wait=0.3)


def test_push_for_offline_account_and_disable():
    with _server() as srv:
        apps = client(srv, 'apps', 'srv')
        bob = client(srv, 'bob', 'b')
        alice = client(srv, 'alice', 'phone')
        _enable(alice, form=False)
        alice.finish()
        time.sleep(0.2)
        bob.send("<message to='alice@localhost' type='chat'><body>while away</body></message>")
        iq = _publish(apps)
        assert _fields(iq)['last-message-sender'] == 'bob@localhost/b'
        # The message itself is waiting offline.
        a2 = client(srv, 'alice', 'phone2')
        a2.expect(lambda e: e.findtext(C('body')) == 'while away')
        # Disable: no more pushes.
        reply = a2.iq("<iq type='set'><disable xmlns='%s' jid='apps@localhost/srv'/></iq>" % NS_PUSH)
        assert reply.get('type') == 'result'
        a2.finish()
        time.sleep(0.2)
        bob.send("<message to='alice@localhost' type='chat'><body>again</body></message>")
        bob.sync()
        apps.assert_nothing(lambda e: e.tag == C('iq'), wait=0.3)


def test_push_bad_requests_write_nothing():
    import os
    with _server() as srv:
        alice = client(srv, 'alice', 'phone')
        for payload in ("<enable xmlns='%s' node='n'/>" % NS_PUSH,
                        "<enable xmlns='%s' jid='apps@localhost'/>" % NS_PUSH,
                        "<enable xmlns='%s' jid='bad@@jid' node='n'/>" % NS_PUSH):
            reply = alice.iq("<iq type='set'>%s</iq>" % payload)
            assert reply.get('type') == 'error', reply.attrib
            assert reply.find(C('error')).find(
                '{urn:ietf:params:xml:ns:xmpp-stanzas}bad-request') is not None
        reply = alice.iq("<iq type='set' to='bob@localhost'><enable xmlns='%s' "
                         "jid='apps@localhost' node='n'/></iq>" % NS_PUSH)
        assert reply.get('type') == 'error'
        assert not os.path.exists(os.path.join(srv.data_path, 'localhost', 'alice', 'push'))
