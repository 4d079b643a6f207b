"""
A connection flood: 1,000 connections that never log in, trickling bytes
slowly (a stream header one byte at a time; a stanza whose attribute never
ends; a TLS handshake one byte at a time) plus a swarm of 100 that connect, send
2 KB of garbage, are thrown out and come back 50-200 ms later.  Meanwhile alice and bob chat: the
p99 of their message round trips must stay under 100 ms, and the server's
memory (VmRSS from /proc) must stay bounded.  The p99 is over 200 round
trips; if a window misses it, a second window is measured (a scheduling
hiccup on a busy machine is not the server's fault; a server that bogs
down fails both).

The flood runs in its own process (no shared interpreter lock with the
measuring side) and comes from 127.0.1.x-127.0.9.x so that the per-address
limits stay in force: max_connections is raised, the per-address limits
are the defaults.
"""

import multiprocessing
import os
import random
import resource
import selectors
import socket
import time

from lib import Server
from rawxmpp import client, client_hello_bytes, is_message, stream_header

TRICKLERS = 1000
GARBAGE = 100
RTT_SAMPLES = 200         # p99 is then the second worst
P99_LIMIT = 0.100
RSS_GROWTH_LIMIT_MB = 400    # ASan build: shadow memory and quarantine


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_status(pid):
    """(VmRSS in kB, number of open fds) of a process."""
    rss = 0
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                rss = int(line.split()[1])
    return rss, len(os.listdir('/proc/%d/fd' % pid))


# ---- the flood (a child process) ----

class Peer:
    __slots__ = ('sock', 'kind', 'todo', 'next_at', 'connected', 'addr')


def _src(i, base):
    return '127.0.%d.%d' % (base + i // 250, 1 + i % 250)


def _open(sel, port, kind, src, todo):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((src, 0))
    s.connect_ex(('127.0.0.1', port))
    p = Peer()
    p.sock, p.kind, p.todo, p.addr = s, kind, todo, src
    p.next_at = time.monotonic() + random.uniform(0, 1.0)
    p.connected = False
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, p)
    return p


def flood(port, stop, stats):
    """Keep TRICKLERS slow connections open and GARBAGE garbage senders
    coming back until stop is set; put counters into stats."""
    raise_nofile(TRICKLERS + GARBAGE + 256)
    random.seed(1)
    sel = selectors.DefaultSelector()
    header = stream_header().encode()
    hello = client_hello_bytes()
    kinds = {
        # 150 bytes at about one per second: never a complete header
        'header': lambda: header,
        # a complete header, then one attribute value that never ends
        'attr': lambda: header + b"<message to='x@localhost' a='" + b'x' * 100000,
        # STARTTLS, then a ClientHello at one byte per second
        'tls': lambda: header + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    }
    names = sorted(kinds)
    peers = []
    c = dict(opened=0, closed_by_server=0, garbage_rounds=0, errors=0, max_open=0)
    for i in range(TRICKLERS):
        k = names[i % len(names)]
        peers.append(_open(sel, port, k, _src(i, 1), kinds[k]()))
        c['opened'] += 1
        if i % 100 == 99:
            time.sleep(0.02)     # do not overflow the listen backlog
    for i in range(GARBAGE):
        peers.append(_open(sel, port, 'garbage', _src(i, 9), b''))
    tls_wait = {}   # tls peers waiting for <proceed/>
    comeback = []   # (when, address) of garbage senders thrown out
    while not stop.is_set():
        now = time.monotonic()
        while comeback and comeback[0][0] <= now:
            peers.append(_open(sel, port, 'garbage', comeback.pop(0)[1], b''))
        for key, ev in sel.select(0.02):
            p = key.data
            if ev & selectors.EVENT_WRITE and not p.connected:
                err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    c['errors'] += 1
                    sel.unregister(p.sock)
                    p.sock.close()
                    continue
                p.connected = True
                sel.modify(p.sock, selectors.EVENT_READ, p)
                if p.kind == 'garbage':
                    junk = os.urandom(2048)
                    try:
                        p.sock.send(header + junk if random.random() < 0.5 else junk)
                    except OSError:
                        pass
                    c['garbage_rounds'] += 1
                elif p.kind == 'tls':
                    try:
                        p.sock.send(p.todo)
                    except OSError:
                        pass
                    p.todo = b''
                    tls_wait[p] = b''
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = p.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b''
                if data and p in tls_wait:
                    tls_wait[p] += data
                    if b'<proceed' in tls_wait[p]:
                        del tls_wait[p]
                        p.todo = hello
                if not data:
                    sel.unregister(p.sock)
                    p.sock.close()
                    if p.kind == 'garbage':
                        # Back for more, soon.
                        comeback.append((now + random.uniform(0.05, 0.2), p.addr))
                    else:
                        c['closed_by_server'] += 1
                    p.connected = None
        # One byte per trickler per second or so.
        for p in peers:
            if p.connected and p.todo and now >= p.next_at:
                try:
                    p.sock.send(p.todo[:1])
                    p.todo = p.todo[1:]
                except OSError:
                    pass
                p.next_at = now + random.uniform(0.7, 1.3)
        peers = [p for p in peers if p.connected is not None]
        c['max_open'] = max(c['max_open'], sum(1 for p in peers if p.connected))
        stats.update(c)
    for p in peers:
        try:
            p.sock.close()
        except OSError:
            pass
    stats.update(c)


# ---- the test ----

def _rtt(alice, bob, n):
    t = time.monotonic()
    alice.message('bob@localhost/b', 'f%d' % n)
    bob.expect(is_message(body='f%d' % n), timeout=5)
    bob.message('alice@localhost/a', 'g%d' % n)
    alice.expect(is_message(body='g%d' % n), timeout=5)
    return time.monotonic() - t


def _p99(xs):
    s = sorted(xs)
    return s[min(len(s) - 1, int(0.99 * len(s)))]


def test_flood_of_slow_and_garbage_connections():
    if raise_nofile(4 * (TRICKLERS + GARBAGE)) < 2 * (TRICKLERS + GARBAGE) + 64:
        raise AssertionError('cannot raise RLIMIT_NOFILE high enough for the test')
    with Server(limits={'max_connections': 4 * (TRICKLERS + GARBAGE),
                        'max_connections_per_ip': 16, 'max_unauth_per_ip': 4,
                        'auth_timeout': 60}) as srv:
        pid = srv.proc.pid
        alice = client(srv, 'alice', 'a')
        bob = client(srv, 'bob', 'b')
        quiet = [_rtt(alice, bob, i) for i in range(20)]
        rss0, fds0 = proc_status(pid)

        mgr = multiprocessing.Manager()
        stats = mgr.dict()
        stop = multiprocessing.Event()
        child = multiprocessing.Process(target=flood, args=(srv.c2s_port, stop, stats),
                                        daemon=True)
        child.start()
        try:
            # Wait until the server holds (almost) all of them.
            deadline = time.monotonic() + 20
            fds = fds0
            while time.monotonic() < deadline:
                rss, fds = proc_status(pid)
                if fds >= fds0 + TRICKLERS:
                    break
                time.sleep(0.2)
            assert fds >= fds0 + int(0.95 * TRICKLERS), (
                'the server holds only %d connections after 20 s (flood stats %s)'
                % (fds - fds0, dict(stats)))
            peak_rss, peak_fds = rss, fds
            # A second window only if the first one was slow: on a shared
            # machine one scheduling hiccup can cost 100 ms; a server that
            # really bogs down under the flood fails both.
            windows = []
            for w in range(2):
                rtts = []
                for i in range(RTT_SAMPLES):
                    rtts.append(_rtt(alice, bob, 1000 * (w + 1) + i))
                    if i % 10 == 0:
                        rss, fds = proc_status(pid)
                        peak_rss, peak_fds = max(peak_rss, rss), max(peak_fds, fds)
                    time.sleep(0.01)
                windows.append(rtts)
                if _p99(rtts) < P99_LIMIT:
                    break
            rtts = min(windows, key=_p99)
            rss, fds = proc_status(pid)
            peak_rss, peak_fds = max(peak_rss, rss), max(peak_fds, fds)
        finally:
            stop.set()
            child.join(10)
            if child.is_alive():
                child.terminate()
                child.join(5)
        st = dict(stats)
        mgr.shutdown()
        # Everyone is gone again; the server is fine.
        time.sleep(1.0)
        after = [_rtt(alice, bob, 5000 + i) for i in range(10)]
        rss_end, fds_end = proc_status(pid)
        report = ('flood: %s; rtt quiet p99 %.1f ms, flood p99 %.1f ms max %.1f ms '
                  '(%d of %d over %.0f ms; %d window(s)), after '
                  'max %.1f ms; VmRSS %d kB before, peak %d kB, end %d kB; fds %d, peak %d, '
                  'end %d' % (st, _p99(quiet) * 1e3, _p99(rtts) * 1e3, max(rtts) * 1e3,
                              sum(1 for r in rtts if r >= P99_LIMIT), len(rtts), P99_LIMIT * 1e3,
                              len(windows),
                              max(after) * 1e3, rss0, peak_rss, rss_end, fds0, peak_fds,
                              fds_end))
        print(report)
        assert st.get('garbage_rounds', 0) >= GARBAGE, 'the garbage swarm did not run: ' + report
        assert _p99(rtts) < P99_LIMIT, 'round trips too slow under the flood: ' + report
        assert peak_rss - rss0 < RSS_GROWTH_LIMIT_MB * 1024, 'memory grew too much: ' + report
        assert fds_end < fds0 + 50, 'connections not released after the flood: ' + report
        assert srv.alive()


test_flood_of_slow_and_garbage_connections.timeout = 90
