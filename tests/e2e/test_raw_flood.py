"""
Floods and slow peers: a client that writes pings without ever reading the
answers, and a recipient that stops reading while someone sends to it.  The
server must close or throttle the offender, stay responsive, and keep
delivering between everyone else.
"""

import socket
import threading
import time

from lib import Server
from rawxmpp import C, Raw, client, is_message

MB = 1 << 20


def _round_trip(a, b, a_jid, b_jid, tag, timeout):
    t = time.monotonic()
    a.message(b_jid, 'rt ' + tag)
    b.expect(is_message(body='rt ' + tag), timeout=timeout)
    b.message(a_jid, 'rt back ' + tag)
    a.expect(is_message(body='rt back ' + tag), timeout=timeout)
    return time.monotonic() - t


def _writer(sock, chunk, limit, result, block_timeout=3.0):
    """Write chunk repeatedly until limit bytes, a write blocked for
    block_timeout seconds (throttled) or an error (closed)."""
    sent = 0
    sock.settimeout(block_timeout)
    try:
        while sent < limit:
            sock.sendall(chunk)
            sent += len(chunk)
        result['outcome'] = 'unthrottled'
    except socket.timeout:
        result['outcome'] = 'throttled'
    except OSError as e:            # ssl.SSLError, EPIPE, ECONNRESET
        result['outcome'] = 'closed (%s)' % type(e).__name__
    result['sent'] = sent


def test_ping_flood_without_reading():
    with Server() as srv:
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        flood = Raw(srv.c2s_port, rcvbuf=4096)
        flood.login('carol', 'carol-pw', resource='flood', presence=False)
        chunk = ''.join("<iq type='get' id='f%d' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
                        % i for i in range(800)).encode()
        result = {}
        t = threading.Thread(target=_writer, args=(flood.sock, chunk, 48 * MB, result),
                             daemon=True)
        t.start()
        worst = 0.0
        n = 0
        t0 = time.monotonic()
        while t.is_alive() and time.monotonic() - t0 < 60:
            worst = max(worst, _round_trip(alice, bob, 'alice@localhost/a', 'bob@localhost/b',
                                           'during %d' % n, 3.0))
            n += 1
        t.join(10)
        assert not t.is_alive(), 'flood writer still running'
        assert result['outcome'] != 'unthrottled', (
            'the server took %d MB of pings from a client that reads nothing, without closing '
            'or throttling it' % (result['sent'] // MB))
        assert worst < 2.0, 'message round trip took %.2f s during the flood' % worst
        for i in range(5):
            rt = _round_trip(alice, bob, 'alice@localhost/a', 'bob@localhost/b', 'after %d' % i, 1.0)
            assert rt < 1.0, 'round trip %.2f s after the flood' % rt
        # New logins still work; the flooder's own account is fine too.
        client(srv, 'carol', 'fresh').sync()
        flood.close()


def test_slow_reader_is_closed_not_the_sender():
    with Server(limits={'output_hard_limit': 262144, 'max_stanza_size': 65536,
                        'max_stanza_size_preauth': 16384}) as srv:
        alice = client(srv, 'alice', 'a')
        carol = client(srv, 'carol', 'c')
        slow = Raw(srv.c2s_port, rcvbuf=4096)
        slow.login('bob', 'bob-pw', resource='slow', presence=False)
        # IQ results are responses: delivered to an existing full JID,
        # silently dropped once it is gone, never answered -- so alice has
        # nothing to read and cannot be blamed for not reading.
        pad = 'p' * 4000
        chunk = ''.join("<iq type='result' id='s%d' to='bob@localhost/slow'>"
                        "<x xmlns='urn:example:pad'>%s</x></iq>" % (i, pad)
                        for i in range(16)).encode()
        result = {}
        # 2 MB: eight times the recipient's hard limit (the server reads a
        # connection at max_bytes_per_second, 256 KB/s by default).
        _writer(alice.sock, chunk, 2 * MB, result, block_timeout=10.0)
        assert result['outcome'] == 'unthrottled', (
            'the sender was %s after %d MB because the recipient did not read'
            % (result['outcome'], result['sent'] // MB))
        # The slow reader was cut off: read what it has and find the end
        # (the bytes may stop in the middle of a stanza: do not parse).
        slow.detach_parser()
        assert slow.closed(timeout=20), 'the slow reader was never closed'
        # The sender is fine and still served (once the server has read the
        # rest of what she sent).
        alice.sync(timeout=30)
        carol.message('alice@localhost/a', 'still fine')
        alice.expect(is_message(body='still fine'))
        alice.message('carol@localhost/c', 'me too')
        carol.expect(is_message(body='me too'))
        assert not alice.take_all(C('iq')), 'the sender got answers to IQ results'


test_ping_flood_without_reading.timeout = 120
test_slow_reader_is_closed_not_the_sender.timeout = 120
