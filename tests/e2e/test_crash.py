"""
Crash safety: kill -9 at random moments while clients change rosters and
vCards and send messages to an offline user, then restart and check that

  - every file in data_path parses (XML files with Python's parser, the
    account files by their line format), temporary files of interrupted
    atomic writes aside;
  - those temporary files are ignored (never read as data) and do not pile
    up from crash to crash;
  - every change the server acknowledged is there: roster sets and removals
    (their result IQ came back), vCard sets (result IQ), and offline
    messages sent before an answered ping (the server handles one stream's
    input in order, so the pong means the messages before it were
    processed).  The one operation still in flight at the kill may have
    happened or not, nothing else.

Each round runs the clients for 0.1-0.5 s before the kill.  carol, the
offline recipient, logs in halfway and at the end and must receive every
acknowledged message exactly once, in order.
"""

import os
import random
import re
import threading
import time
import xml.etree.ElementTree as ET

from lib import REPO, Server
from rawxmpp import (
    NS_ROSTER, ProtocolError, Raw, StreamClosed, body_of, dump, is_message,
)

ROUNDS = 20
HAVE_VCARD = os.path.exists(os.path.join(REPO, 'modules', 'vcard.c'))
MODULES = 'roster, saslauth, tls, disco, ping, offline' + (', vcard' if HAVE_VCARD else '')
REMOVED = '<removed>'
ACCOUNT_RE = re.compile(
    r'xmppd-account 1\n(scram-sha-(1|256) \d+ [A-Za-z0-9+/=]+ [A-Za-z0-9+/=]+ '
    r'[A-Za-z0-9+/=]+\n)+\Z')
NS_VCARD = 'vcard-temp'

# What a dead server connection looks like to the clients.
GONE = (StreamClosed, TimeoutError, ProtocolError, OSError)


def is_temp(name):
    return '.tmp.' in name or name.endswith('.tmp')


class Ledger:
    """What the server acknowledged, and the one operation in flight."""

    def __init__(self):
        self.roster = {}            # jid -> name (acknowledged state)
        self.roster_pending = None  # (jid, new state) sent, not answered
        self.vcard = None           # FN of the last acknowledged vCard
        self.vcard_pending = None
        self.sent = []              # message bodies, in order
        self.acked = set()          # those followed by a pong on their stream
        self.counter = 0

    def next(self):
        self.counter += 1
        return self.counter


def roster_op(alice, led, rnd):
    """One roster set or removal, waiting for its result."""
    live = [j for j, n in led.roster.items() if n != REMOVED]
    r = random.random()
    if live and r < 0.25:
        jid, new = random.choice(live), REMOVED
        xml = ("<iq type='set'><query xmlns='%s'><item jid='%s' subscription='remove'/>"
               "</query></iq>" % (NS_ROSTER, jid))
    else:
        if live and r < 0.5:
            jid = random.choice(live)
        else:
            jid = 'c%d-%d@example.net' % (rnd, led.next())
        new = 'n%d' % led.next()
        xml = ("<iq type='set'><query xmlns='%s'><item jid='%s' name='%s'><group>g</group>"
               "</item></query></iq>" % (NS_ROSTER, jid, new))
    led.roster_pending = (jid, new)
    reply = alice.iq(xml, timeout=3)
    assert reply.get('type') == 'result', 'roster set refused: %s' % dump(reply)
    led.roster[jid] = new
    led.roster_pending = None


def vcard_op(alice, led):
    fn = 'fn-%d' % led.next()
    led.vcard_pending = fn
    reply = alice.iq("<iq type='set'><vCard xmlns='%s'><FN>%s</FN><NICKNAME>%s</NICKNAME>"
                     "<DESC>%s</DESC></vCard></iq>" % (NS_VCARD, fn, fn, 'd' * 2000), timeout=3)
    assert reply.get('type') == 'result', 'vCard set refused: %s' % dump(reply)
    led.vcard = fn
    led.vcard_pending = None


def message_op(bob, led, rnd):
    """A few messages to offline carol, then a ping as the ack point."""
    batch = []
    for _ in range(3):
        body = 'r%d-m%d' % (rnd, led.next())
        led.sent.append(body)
        batch.append(body)
        bob.message('carol@localhost', body)
    bob.sync(timeout=3)
    led.acked.update(batch)


def activity(alice, bob, led, rnd, stop):
    """Change things until the server dies (or stop is set)."""
    try:
        while not stop.is_set():
            roster_op(alice, led, rnd)
            if HAVE_VCARD:
                vcard_op(alice, led)
            message_op(bob, led, rnd)
    except GONE:
        pass


def check_files(data_path):
    """Parse every file; return the temp files found."""
    temps = []
    for root, dirs, files in os.walk(data_path):
        for name in files:
            path = os.path.join(root, name)
            if is_temp(name):
                temps.append(os.path.relpath(path, data_path))
                continue
            if root == data_path and name == '.lock':
                continue
            with open(path, 'rb') as f:
                data = f.read()
            rel = os.path.relpath(path, data_path)
            if name == 'account':
                assert ACCOUNT_RE.match(data.decode('ascii', 'replace')), (
                    'torn or malformed account file %s: %r' % (rel, data[:300]))
                continue
            assert data.strip(), 'empty file %s' % rel
            try:
                ET.fromstring(data)
            except ET.ParseError as e:
                raise AssertionError('%s does not parse (%s): %r' % (rel, e, data[:300]))
    return temps


def check_roster(alice, led):
    items = alice.roster_items(timeout=5)
    got = {j: (it.get('name') or '') for j, it in items.items()}
    pend = led.roster_pending
    for jid, want in led.roster.items():
        have = got.get(jid, REMOVED)
        ok = {want}
        if pend is not None and pend[0] == jid:
            ok.add(pend[1])
        assert have in ok, ('roster item %s is %r after the crash; acknowledged %r%s'
                            % (jid, have, want,
                               '' if len(ok) == 1 else ' (in flight: %r)' % pend[1]))
    for jid in got:
        if jid not in led.roster:
            assert pend is not None and pend[0] == jid and pend[1] != REMOVED, (
                'roster item %s was never set' % jid)
    # The operation in flight went one way or the other: settle it.
    if pend is not None:
        led.roster[pend[0]] = got.get(pend[0], REMOVED)
        led.roster_pending = None


def check_vcard(alice, led):
    if not HAVE_VCARD:
        return
    r = alice.iq("<iq type='get'><vCard xmlns='%s'/></iq>" % NS_VCARD, timeout=5)
    fn = r.find('{%s}vCard/{%s}FN' % (NS_VCARD, NS_VCARD))
    have = fn.text if fn is not None else None
    ok = {led.vcard, led.vcard_pending}
    assert have in ok, ('vCard FN is %r after the crash; acknowledged %r, in flight %r: %s'
                        % (have, led.vcard, led.vcard_pending, dump(r)))
    led.vcard = have
    led.vcard_pending = None


def collect_offline(srv, led):
    """carol logs in: every acknowledged message exactly once, in order,
    nothing that was never sent."""
    stored = {}
    odir = os.path.join(srv.data_path, 'localhost', 'carol', 'offline')
    for name in sorted(os.listdir(odir)) if os.path.isdir(odir) else []:
        if is_temp(name):
            continue
        with open(os.path.join(odir, name), 'rb') as f:
            m = re.search(rb'<body>([^<]*)</body>', f.read())
        stored[m.group(1).decode() if m else None] = name
    carol = Raw(srv.c2s_port, timeout=5)
    carol.login('carol@localhost', 'carol-pw', resource='c', presence=False)
    carol.send('<presence/>')
    got = []
    while True:
        carol.sync(timeout=10)
        new = carol.take_all(is_message(frm=None))
        if not new:
            break
        got.extend(body_of(m) for m in new)
    carol.finish()
    index = {b: i for i, b in enumerate(led.sent)}
    unknown = [b for b in got if b not in index]
    assert not unknown, 'carol got messages nobody sent: %s' % unknown[:10]
    dupes = sorted({b for b in got if got.count(b) > 1})
    assert not dupes, 'carol got messages twice: %s' % dupes[:10]
    missing = [b for b in led.sent if b in led.acked and b not in set(got)]
    assert not missing, ('%d acknowledged offline message(s) lost in the crashes: %s '
                         '(of them, stored but not delivered: %s)'
                         % (len(missing), missing[:10],
                            [(b, stored[b]) for b in missing if b in stored][:10]))
    order = [index[b] for b in got]
    assert order == sorted(order), 'offline messages out of order: %s' % got[:40]
    # What was delivered is gone from the store; start afresh.
    led.sent, led.acked = [], set()
    return len(got)


def test_kill_9_during_writes():
    random.seed(int(os.environ.get('XMPPD_CRASH_SEED', '0')) or None)
    led = Ledger()
    kills = 0
    stale = []      # (round, temp files of a killed process still there)
    with Server(server={'modules': MODULES},
                limits={'max_offline_messages': 100000, 'max_roster_items': 100000}) as srv:
        last_temps = []
        for rnd in range(ROUNDS + 1):
            if rnd > 0:
                srv.start()
                # The killed process's temp files: the new one holds the
                # data_path lock, so nobody else can be writing them; they
                # must not stay (else they pile up, one per crash).
                time.sleep(0.3)
                left = [t for t in last_temps
                        if os.path.exists(os.path.join(srv.data_path, t))]
                if left:
                    stale.append((rnd, left))
            alice = Raw(srv.c2s_port, timeout=3)
            alice.login('alice@localhost', 'alice-pw', resource='a', presence=False)
            check_roster(alice, led)
            check_vcard(alice, led)
            if rnd == ROUNDS // 2 or rnd == ROUNDS:
                collect_offline(srv, led)
            if rnd == ROUNDS:
                alice.finish()
                break
            bob = Raw(srv.c2s_port, timeout=3)
            bob.login('bob@localhost', 'bob-pw', resource='b', presence=False)
            stop = threading.Event()
            killer = threading.Timer(random.uniform(0.1, 0.5), srv.proc.kill)
            killer.start()
            activity(alice, bob, led, rnd, stop)
            killer.join()
            srv.stop(timeout=5)
            assert srv.returncode == -9, 'server exit status %s' % srv.returncode
            kills += 1
            alice.close()
            bob.close()
            # The state on disk at the crash: everything parses.
            last_temps = check_files(srv.data_path)
        assert led.counter > 0
        if stale:
            total = sorted({t for _, ts in stale for t in ts})
            # Leave a clean data_path, so lib's final check does not repeat this.
            for t in srv.leftovers():
                os.unlink(t)
            raise AssertionError(
                'temporary files of killed processes are never removed: after %d kills, '
                '%d restart(s) found the previous crash\'s temp files still there (%s); '
                'they are ignored by reads, but accumulate' % (kills, len(stale), total[:6]))


test_kill_9_during_writes.timeout = 150
