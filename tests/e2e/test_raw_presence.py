"""
Presence and subscriptions (RFC 6121 sections 3 and 4, Appendix A), driven
with two or more real sessions: every subscription state transition that two
local users can cause, pre-approval, requests stored for offline contacts,
initial presence broadcast and probes, directed presence and unavailable
presence on disconnect.

Naming: alice is "the user", bob "the contact".  A user's roster item shows
the 'to' half of her subscription, the contact's item for her the 'from'
half; pending-in is invisible in rosters.
"""

from lib import DEFAULT_USERS, Server
from rawxmpp import (
    C, NS_PREAPPROVAL, Failures, ack_push, client, dump, is_presence, is_roster_push,
    push_item,
)

USERS = dict(DEFAULT_USERS, **{'dave@localhost': 'dave-pw'})


def _push(r, jid, subscription, ask=None, approved=None):
    """Expect a roster push for jid on r with exactly that state; ack it."""
    push = r.expect(lambda e: is_roster_push(jid)(e)
                    and push_item(e).get('subscription') == subscription
                    and push_item(e).get('ask') == ask,
                    what='a roster push %s subscription=%s ask=%s' % (jid, subscription, ask))
    item = push_item(push)
    if approved is not None:
        assert item.get('approved') == approved, 'approved=%r: %s' % (item.get('approved'),
                                                                      dump(push))
    ack_push(r, push)
    return item


def _state(r, jid):
    """(subscription, ask, approved) of jid in r's roster, None if absent."""
    it = r.roster_items().get(jid)
    if it is None:
        return None
    return (it.get('subscription'), it.get('ask'), it.get('approved'))


def _assert_state(r, jid, expected, what):
    got = _state(r, jid)
    if expected is None:
        ok = got is None or got == ('none', None, None)
    else:
        ok = got is not None and got[:2] == expected[:2] and \
            (len(expected) < 3 or got[2] == expected[2])
    assert ok, '%s: %s has %s as %r, expected %r' % (what, r.jid, jid, got, expected)


def _sub_stanza(r, type_, frm):
    """Expect a subscription-related presence of that type from a bare JID,
    stamped as RFC 6121 3.1.2 etc. require (bare from, bare to)."""
    p = r.expect(is_presence(frm, type_), what='presence type=%s from %s' % (type_, frm))
    assert p.get('from') == frm, 'subscription presence from %r, expected the bare %r: %s' % (
        p.get('from'), frm, dump(p))
    assert p.get('to') in (r.jid.split('/')[0], r.jid), dump(p)
    return p


def _quiet(r, *preds, what='nothing'):
    """Assert none of the predicates matches anything that has arrived (after
    a sync round trip)."""
    r.sync()
    for pred in preds:
        got = r.take_all(pred)
        assert not got, '%s: expected %s, got %s' % (r.jid, what, [dump(e) for e in got])


def _drop_pushes(*rs):
    for r in rs:
        r.sync()
        for p in r.take_all(is_roster_push()):
            ack_push(r, p)


def _subscribe_to(user, contact, user_bare, contact_bare, contact_full):
    """user subscribes to contact, contact approves; drains the effects."""
    user.send("<presence to='%s' type='subscribe'/>" % contact_bare)
    _sub_stanza(contact, 'subscribe', user_bare)
    contact.send("<presence to='%s' type='subscribed'/>" % user_bare)
    _sub_stanza(user, 'subscribed', contact_bare)
    user.expect(is_presence(contact_full))
    _drop_pushes(user, contact)
    user.take_all(is_presence(contact_bare, any_type=True))
    contact.take_all(is_presence(user_bare, any_type=True))


def test_subscribe_approve_to_both():
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        carol = client(srv, 'carol', 'c', roster=True)

        # None -> None + Pending Out (alice), None -> None + Pending In (bob).
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        _push(alice, 'bob@localhost', 'none', ask='subscribe')
        _sub_stanza(bob, 'subscribe', 'alice@localhost')
        _assert_state(alice, 'bob@localhost', ('none', 'subscribe'), 'pending out')
        _assert_state(bob, 'alice@localhost', None, 'pending in is not a roster state')

        # Bob approves: bob From, alice To; alice gets bob's presence.
        bob.send("<presence to='alice@localhost' type='subscribed'/>")
        _push(bob, 'alice@localhost', 'from')
        _sub_stanza(alice, 'subscribed', 'bob@localhost')
        _push(alice, 'bob@localhost', 'to')
        alice.expect(is_presence('bob@localhost/b'))
        _quiet(bob, is_presence('alice@localhost/a'),
               what='no presence from alice (bob is not subscribed to her)')
        _assert_state(alice, 'bob@localhost', ('to', None), 'after approval')
        _assert_state(bob, 'alice@localhost', ('from', None), 'after approval')

        # Bob subscribes back: From -> From + Pending Out, To -> To + Pending In.
        bob.send("<presence to='alice@localhost' type='subscribe'/>")
        _push(bob, 'alice@localhost', 'from', ask='subscribe')
        _sub_stanza(alice, 'subscribe', 'bob@localhost')
        # Alice approves: both sides Both; bob gets alice's presence.
        alice.send("<presence to='bob@localhost' type='subscribed'/>")
        _push(alice, 'bob@localhost', 'both')
        _sub_stanza(bob, 'subscribed', 'alice@localhost')
        _push(bob, 'alice@localhost', 'both')
        bob.expect(is_presence('alice@localhost/a'))
        _assert_state(alice, 'bob@localhost', ('both', None), 'mutual')
        _assert_state(bob, 'alice@localhost', ('both', None), 'mutual')

        # Presence now flows both ways, and to nobody else.
        alice.send("<presence><show>away</show><status>lunch</status></presence>")
        p = bob.expect(is_presence('alice@localhost/a'))
        assert (p.findtext(C('show')), p.findtext(C('status'))) == ('away', 'lunch'), dump(p)
        bob.send("<presence><status>working</status></presence>")
        p = alice.expect(is_presence('bob@localhost/b'))
        assert p.findtext(C('status')) == 'working', dump(p)
        _quiet(carol, is_presence('alice@localhost', any_type=True),
               is_presence('bob@localhost', any_type=True), what='nothing about alice or bob')


def test_unsubscribe_and_cancel():
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        _subscribe_to(alice, bob, 'alice@localhost', 'bob@localhost', 'bob@localhost/b')
        _subscribe_to(bob, alice, 'bob@localhost', 'alice@localhost', 'alice@localhost/a')
        _assert_state(alice, 'bob@localhost', ('both', None), 'setup')

        # Alice unsubscribes from bob: Both -> From (alice), Both -> To (bob);
        # bob's resources go unavailable for alice.
        alice.send("<presence to='bob@localhost' type='unsubscribe'/>")
        _push(alice, 'bob@localhost', 'from')
        _sub_stanza(bob, 'unsubscribe', 'alice@localhost')
        _push(bob, 'alice@localhost', 'to')
        alice.expect(is_presence('bob@localhost/b', 'unavailable'))
        # Bob still sees alice, alice no longer sees bob.
        alice.send("<presence><status>s1</status></presence>")
        p = bob.expect(is_presence('alice@localhost/a'))
        assert p.findtext(C('status')) == 's1', dump(p)
        bob.send("<presence><status>s2</status></presence>")
        bob.sync()
        _quiet(alice, is_presence('bob@localhost/b'), what='no presence from bob any more')

        # Alice cancels bob's subscription: From -> None, To -> None; alice's
        # resources go unavailable for bob.
        alice.send("<presence to='bob@localhost' type='unsubscribed'/>")
        _push(alice, 'bob@localhost', 'none')
        _sub_stanza(bob, 'unsubscribed', 'alice@localhost')
        _push(bob, 'alice@localhost', 'none')
        bob.expect(is_presence('alice@localhost/a', 'unavailable'))
        alice.send("<presence><status>s3</status></presence>")
        alice.sync()
        _quiet(bob, is_presence('alice@localhost/a'), what='no presence from alice any more')
        _assert_state(alice, 'bob@localhost', ('none', None), 'after cancel')
        _assert_state(bob, 'alice@localhost', ('none', None), 'after cancel')


def test_deny_and_cancel_pending_requests():
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        # Denial: None + Pending Out -> None at alice, Pending In cleared at bob.
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        _push(alice, 'bob@localhost', 'none', ask='subscribe')
        _sub_stanza(bob, 'subscribe', 'alice@localhost')
        bob.send("<presence to='alice@localhost' type='unsubscribed'/>")
        _sub_stanza(alice, 'unsubscribed', 'bob@localhost')
        _push(alice, 'bob@localhost', 'none', ask=None)
        _assert_state(alice, 'bob@localhost', ('none', None), 'after denial')
        _quiet(alice, is_presence('bob@localhost/b'), what='no presence after denial')

        # The pending-in state is gone, so a new request is delivered again.
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        _push(alice, 'bob@localhost', 'none', ask='subscribe')
        _sub_stanza(bob, 'subscribe', 'alice@localhost')
        # Alice withdraws it: None + Pending Out -> None, bob is told.
        alice.send("<presence to='bob@localhost' type='unsubscribe'/>")
        _push(alice, 'bob@localhost', 'none', ask=None)
        _sub_stanza(bob, 'unsubscribe', 'alice@localhost')
        _assert_state(alice, 'bob@localhost', ('none', None), 'after withdrawal')
        # A later "subscribed" from bob is now a pre-approval, not an
        # approval: alice gets nothing and stays at None.
        bob.send("<presence to='alice@localhost' type='subscribed'/>")
        bob.sync()
        _quiet(alice, is_presence('bob@localhost', 'subscribed'), is_presence('bob@localhost/b'),
               what='no approval for a withdrawn request')
        _assert_state(alice, 'bob@localhost', ('none', None), 'after late subscribed')


def test_pending_request_delivered_at_next_login():
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        _push(alice, 'bob@localhost', 'none', ask='subscribe')
        alice.stream_close()
        assert alice.closed()

        # Bob was offline; the request waits for his next available session.
        bob = client(srv, 'bob', 'b', roster=True)
        _sub_stanza(bob, 'subscribe', 'alice@localhost')
        bob.stream_close()
        assert bob.closed()
        # Not answered: delivered again next time.
        bob = client(srv, 'bob', 'b', roster=True)
        _sub_stanza(bob, 'subscribe', 'alice@localhost')
        # Bob approves while alice is offline.
        bob.send("<presence to='alice@localhost' type='subscribed'/>")
        _push(bob, 'alice@localhost', 'from')

        # Alice finds the new state and gets bob's presence by probe.
        alice = client(srv, 'alice', 'a', roster=True)
        _assert_state(alice, 'bob@localhost', ('to', None), 'after offline approval')
        alice.expect(is_presence('bob@localhost/b'))

        # Answered requests are not delivered again.
        bob2 = client(srv, 'bob', 'b2', roster=True)
        _quiet(bob2, is_presence('alice@localhost', 'subscribe'),
               what='no subscription request once approved')


def test_withdrawn_request_not_delivered_at_login():
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        _push(alice, 'bob@localhost', 'none', ask='subscribe')
        alice.send("<presence to='bob@localhost' type='unsubscribe'/>")
        _push(alice, 'bob@localhost', 'none', ask=None)
        bob = client(srv, 'bob', 'b', roster=True)
        _quiet(bob, is_presence('alice@localhost', 'subscribe'),
               what='no withdrawn subscription request')


def test_preapproval():
    with Server(users=USERS) as srv:
        bob = client(srv, 'bob', 'b', roster=True)
        assert bob.features.find('{%s}sub' % NS_PREAPPROVAL) is not None, (
            'pre-approval supported but not advertised (RFC 6121 3.4): %s' % dump(bob.features))
        alice = client(srv, 'alice', 'a', roster=True)

        # Bob pre-approves alice: item "none" with approved='true'; nothing
        # reaches alice.
        bob.send("<presence to='alice@localhost' type='subscribed'/>")
        _push(bob, 'alice@localhost', 'none', approved='true')
        bob.sync()
        _quiet(alice, is_presence('bob@localhost', any_type=True),
               what='nothing routed for a pre-approval')
        _assert_state(bob, 'alice@localhost', ('none', None, 'true'), 'pre-approved')

        # Alice's request is approved by bob's server at once; bob never
        # sees the request.
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        _sub_stanza(alice, 'subscribed', 'bob@localhost')
        _push(alice, 'bob@localhost', 'to')
        alice.expect(is_presence('bob@localhost/b'))
        _push(bob, 'alice@localhost', 'from')
        _quiet(bob, is_presence('alice@localhost', 'subscribe'),
               what='no request for a pre-approved subscription')
        _assert_state(bob, 'alice@localhost', ('from', None, None), 'approval used up')

        # A pre-approval can be withdrawn with "unsubscribed".
        carol = client(srv, 'carol', 'c', roster=True)
        bob.send("<presence to='carol@localhost' type='subscribed'/>")
        _push(bob, 'carol@localhost', 'none', approved='true')
        bob.send("<presence to='carol@localhost' type='unsubscribed'/>")
        item = _push(bob, 'carol@localhost', 'none')
        assert item.get('approved') in (None, 'false'), dump(item)
        carol.send("<presence to='bob@localhost' type='subscribe'/>")
        _sub_stanza(bob, 'subscribe', 'carol@localhost')
        _quiet(carol, is_presence('bob@localhost', 'subscribed'),
               what='no automatic approval after withdrawing it')

        # Pre-approving someone whose request is already pending is a plain
        # approval.
        dave = client(srv, 'dave', 'd', roster=True)
        dave.send("<presence to='bob@localhost' type='subscribe'/>")
        _sub_stanza(bob, 'subscribe', 'dave@localhost')
        bob.send("<presence to='dave@localhost' type='subscribed'/>")
        _push(bob, 'dave@localhost', 'from')
        _sub_stanza(dave, 'subscribed', 'bob@localhost')


def test_mutual_pending_requests():
    """None + Pending Out/In on both sides, resolved one at a time."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        _push(alice, 'bob@localhost', 'none', ask='subscribe')
        _sub_stanza(bob, 'subscribe', 'alice@localhost')
        bob.send("<presence to='alice@localhost' type='subscribe'/>")
        _push(bob, 'alice@localhost', 'none', ask='subscribe')
        _sub_stanza(alice, 'subscribe', 'bob@localhost')

        # Bob approves alice: bob None+PO/I -> From+PO, alice -> To+PI.
        bob.send("<presence to='alice@localhost' type='subscribed'/>")
        _push(bob, 'alice@localhost', 'from', ask='subscribe')
        _sub_stanza(alice, 'subscribed', 'bob@localhost')
        _push(alice, 'bob@localhost', 'to')
        alice.expect(is_presence('bob@localhost/b'))
        # Alice approves bob: Both.
        alice.send("<presence to='bob@localhost' type='subscribed'/>")
        _push(alice, 'bob@localhost', 'both')
        _sub_stanza(bob, 'subscribed', 'alice@localhost')
        _push(bob, 'alice@localhost', 'both')
        bob.expect(is_presence('alice@localhost/a'))


def test_redundant_subscription_stanzas():
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        # A second request while one is pending is not delivered again
        # (None + Pending In: no delivery).
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        alice.sync()
        bob.sync()
        got = bob.take_all(is_presence('alice@localhost', 'subscribe'))
        assert len(got) == 1, '%d subscription requests delivered' % len(got)
        bob.send("<presence to='alice@localhost' type='subscribed'/>")
        _sub_stanza(alice, 'subscribed', 'bob@localhost')
        _drop_pushes(alice, bob)
        alice.take_all(is_presence('bob@localhost/b'))

        # Subscribing again while subscribed: bob's server answers for him
        # (From), bob sees nothing, nothing changes.
        alice.send("<presence to='bob@localhost' type='subscribe'/>")
        alice.sync()
        _quiet(bob, is_presence('alice@localhost', 'subscribe'), is_roster_push(),
               what='no request when already subscribed')
        _assert_state(alice, 'bob@localhost', ('to', None), 'unchanged')
        _assert_state(bob, 'alice@localhost', ('from', None), 'unchanged')
        # "subscribed" again in From: not routed, no change.
        bob.send("<presence to='alice@localhost' type='subscribed'/>")
        bob.sync()
        _quiet(alice, is_presence('bob@localhost', 'subscribed'), is_roster_push(),
               what='no second approval')
        # "unsubscribed" to someone with no subscription at all: nothing.
        alice.send("<presence to='carol@localhost' type='unsubscribed'/>")
        carol = client(srv, 'carol', 'c', roster=True)
        alice.send("<presence to='carol@localhost' type='unsubscribed'/>")
        alice.send("<presence to='carol@localhost' type='unsubscribe'/>")
        alice.sync()
        _quiet(carol, is_presence('alice@localhost', 'unsubscribed'),
               is_presence('alice@localhost', 'unsubscribe'),
               is_presence('alice@localhost', 'subscribed'), is_roster_push(),
               what='no effect of unsubscribed in state None')


def test_cancel_from_pending_out():
    """From + Pending Out -> None + Pending Out (contact side), To + Pending
    In -> None + Pending In (user side), then the pending request is still
    answerable."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        _subscribe_to(alice, bob, 'alice@localhost', 'bob@localhost', 'bob@localhost/b')
        bob.send("<presence to='alice@localhost' type='subscribe'/>")
        _push(bob, 'alice@localhost', 'from', ask='subscribe')
        _sub_stanza(alice, 'subscribe', 'bob@localhost')

        bob.send("<presence to='alice@localhost' type='unsubscribed'/>")
        _push(bob, 'alice@localhost', 'none', ask='subscribe')
        _sub_stanza(alice, 'unsubscribed', 'bob@localhost')
        _push(alice, 'bob@localhost', 'none')
        alice.expect(is_presence('bob@localhost/b', 'unavailable'))

        alice.send("<presence to='bob@localhost' type='subscribed'/>")
        _push(alice, 'bob@localhost', 'from')
        _sub_stanza(bob, 'subscribed', 'alice@localhost')
        _push(bob, 'alice@localhost', 'to')
        bob.expect(is_presence('alice@localhost/a'))


def _setup_relations(srv):
    """alice <-> bob Both; carol -> alice (carol To, alice From); dave none."""
    alice = client(srv, 'alice', 'a', roster=True)
    bob = client(srv, 'bob', 'b', roster=True)
    carol = client(srv, 'carol', 'c', roster=True)
    _subscribe_to(alice, bob, 'alice@localhost', 'bob@localhost', 'bob@localhost/b')
    _subscribe_to(bob, alice, 'bob@localhost', 'alice@localhost', 'alice@localhost/a')
    _subscribe_to(carol, alice, 'carol@localhost', 'alice@localhost', 'alice@localhost/a')
    for r in (alice, bob, carol):
        r.stream_close()
        assert r.closed()


def test_initial_presence_broadcast_and_probes():
    with Server(users=USERS) as srv:
        _setup_relations(srv)
        bob = client(srv, 'bob', 'b', presence=False)
        bob.send("<presence><priority>3</priority><status>bob here</status></presence>")
        carol = client(srv, 'carol', 'c')
        dave = client(srv, 'dave', 'd')
        a2 = client(srv, 'alice', 'other')
        for r in (bob, carol, dave, a2):
            r.drain(quiet=0.2)

        alice = client(srv, 'alice', 'a', presence=False)
        alice.send("<presence><status>alice here</status></presence>")
        # Probe answers: bob's current presence, as he last sent it.
        p = alice.expect(is_presence('bob@localhost/b'))
        assert (p.findtext(C('status')), p.findtext(C('priority'))) == ('bob here', '3'), dump(p)
        # Her own presence comes back to her (RFC 6121 4.2.2), and goes to
        # her other resource.
        alice.expect(is_presence('alice@localhost/a'))
        a2.expect(is_presence('alice@localhost/a'))
        # Broadcast to those subscribed to her: bob (Both), carol (To).
        for r in (bob, carol):
            p = r.expect(is_presence('alice@localhost/a'))
            assert p.findtext(C('status')) == 'alice here', dump(p)
        # Not to dave; and alice is not subscribed to carol or dave.
        _quiet(dave, is_presence('alice@localhost', any_type=True), what='nothing for dave')
        _quiet(alice, is_presence('carol@localhost', any_type=True),
               is_presence('dave@localhost', any_type=True),
               what='no presence from carol or dave')

        # Updates go the same way.
        alice.send("<presence><show>dnd</show></presence>")
        for r in (bob, carol, a2):
            p = r.expect(is_presence('alice@localhost/a'))
            assert p.findtext(C('show')) == 'dnd', dump(p)
        carol.send("<presence><show>xa</show></presence>")
        carol.sync()
        _quiet(alice, is_presence('carol@localhost', any_type=True), what='nothing from carol')

        # Carol logging in again probes alice (carol is subscribed to her).
        carol2 = client(srv, 'carol', 'c2')
        p = carol2.expect(is_presence('alice@localhost/a'))
        assert p.findtext(C('show')) == 'dnd', dump(p)

        # Abrupt disconnect: unavailable to everyone who saw her.
        alice.close()
        for r in (bob, carol, a2):
            r.expect(is_presence('alice@localhost/a', 'unavailable'))
        _quiet(dave, is_presence('alice@localhost', any_type=True), what='nothing for dave')


def test_explicit_unavailable():
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        _subscribe_to(bob, alice, 'bob@localhost', 'alice@localhost', 'alice@localhost/a')
        alice.send("<presence type='unavailable'><status>gone fishing</status></presence>")
        p = bob.expect(is_presence('alice@localhost/a', 'unavailable'))
        assert p.findtext(C('status')) == 'gone fishing', dump(p)
        # Available again: bob sees it.
        alice.send("<presence/>")
        bob.expect(is_presence('alice@localhost/a'))


def test_directed_presence():
    with Server(users=USERS) as srv:
        alice = client(srv, 'alice', 'a')
        carol = client(srv, 'carol', 'c')
        dave1 = client(srv, 'dave', 'd1')
        dave2 = client(srv, 'dave', 'd2')
        for r in (carol, dave1, dave2):
            r.drain(quiet=0.2)

        alice.send("<presence to='carol@localhost'><status>hi carol</status></presence>")
        p = carol.expect(is_presence('alice@localhost/a'))
        assert p.findtext(C('status')) == 'hi carol', dump(p)
        alice.send("<presence to='dave@localhost/d1'/>")
        dave1.expect(is_presence('alice@localhost/a'))
        _quiet(dave2, is_presence('alice@localhost', any_type=True),
               what='directed presence to d1 only')

        # Going offline: unavailable to every recipient of directed presence.
        alice.close()
        carol.expect(is_presence('alice@localhost/a', 'unavailable'))
        dave1.expect(is_presence('alice@localhost/a', 'unavailable'))
        _quiet(dave2, is_presence('alice@localhost', any_type=True),
               what='nothing for a resource that got no directed presence')

        # An explicit unavailable broadcast reaches them too.
        a2 = client(srv, 'alice', 'a2')
        a2.send("<presence to='carol@localhost'/>")
        carol.expect(is_presence('alice@localhost/a2'))
        a2.send("<presence type='unavailable'/>")
        carol.expect(is_presence('alice@localhost/a2', 'unavailable'))


def test_presence_to_nonexistent_user_is_dropped():
    """Presence to an account that does not exist is dropped (RFC 6121
    8.5.1); a subscription request or probe may at most be answered with
    'unsubscribed' (or 'unavailable' for the probe) -- never an error."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        for stanza in ("<presence to='nobody@localhost'/>",
                       "<presence to='nobody@localhost/x'/>",
                       "<presence to='nobody@localhost' type='unavailable'/>"):
            alice.send(stanza)
        alice.sync()
        got = alice.take_all(lambda e: e.tag in (C('presence'), C('message'), C('iq')))
        assert not got, 'answers to presence for a nonexistent user: %s' % [dump(e) for e in got]
        alice.send("<presence to='nobody@localhost' type='subscribe'/>")
        alice.send("<presence to='nobody@localhost' type='probe'/>")
        alice.sync()
        alice.take_all(is_roster_push())
        got = alice.take_all(lambda e: e.tag in (C('presence'), C('message'), C('iq')))
        bad = [e for e in got if not (e.tag == C('presence') and e.get('from') == 'nobody@localhost'
                                      and e.get('type') in ('unsubscribed', 'unavailable'))]
        assert not bad, 'answers to subscribe/probe for a nonexistent user: %s' % (
            [dump(e) for e in bad])
        assert not alice.eof


# ---- Appendix A, table-driven ----
#
# A state is (subscription, pending_out, pending_in) from one side.  The
# other side sees the mirror: to <-> from, pending out <-> pending in.

_MIRROR_SUB = {'none': 'none', 'to': 'from', 'from': 'to', 'both': 'both'}

STATES = {
    'None': ('none', False, False),
    'None+PO': ('none', True, False),
    'None+PI': ('none', False, True),
    'None+PO/PI': ('none', True, True),
    'To': ('to', False, False),
    'To+PI': ('to', False, True),
    'From': ('from', False, False),
    'From+PO': ('from', True, False),
    'Both': ('both', False, False),
}

# How alice (the user) and bob (the contact) reach each state of alice's:
# A_sub/B_sub = subscribe, A_ok/B_ok = subscribed.
SETUP = {
    'None': [],
    'None+PO': ['A_sub'],
    'None+PI': ['B_sub'],
    'None+PO/PI': ['A_sub', 'B_sub'],
    'To': ['A_sub', 'B_ok'],
    'To+PI': ['A_sub', 'B_ok', 'B_sub'],
    'From': ['B_sub', 'A_ok'],
    'From+PO': ['B_sub', 'A_ok', 'A_sub'],
    'Both': ['A_sub', 'B_ok', 'B_sub', 'A_ok'],
}

# alice sends <presence type=ACTION to=bob>: (alice's new state, whether bob
# gets the stanza, whether alice's item carries approved='true').  RFC 6121
# Appendix A.2 (outbound, alice's server) with A.3 (inbound, bob's server).
EXPECT = {
    'subscribe': {
        'None': ('None+PO', True), 'None+PO': ('None+PO', False),
        'None+PI': ('None+PO/PI', True), 'None+PO/PI': ('None+PO/PI', False),
        'To': ('To', False), 'To+PI': ('To+PI', False),
        'From': ('From+PO', True), 'From+PO': ('From+PO', False), 'Both': ('Both', False),
    },
    'subscribed': {
        'None': ('None', False, 'pre'), 'None+PO': ('None+PO', False, 'pre'),
        'None+PI': ('From', True), 'None+PO/PI': ('From+PO', True),
        'To': ('To', False, 'pre'), 'To+PI': ('Both', True),
        'From': ('From', False), 'From+PO': ('From+PO', False), 'Both': ('Both', False),
    },
    'unsubscribe': {
        'None': ('None', False), 'None+PO': ('None', True),
        'None+PI': ('None+PI', False), 'None+PO/PI': ('None+PI', True),
        'To': ('None', True), 'To+PI': ('None+PI', True),
        'From': ('From', False), 'From+PO': ('From', True), 'Both': ('From', True),
    },
    'unsubscribed': {
        'None': ('None', False), 'None+PO': ('None+PO', False),
        'None+PI': ('None', True), 'None+PO/PI': ('None+PO', True),
        'To': ('To', False), 'To+PI': ('To', True),
        'From': ('None', True), 'From+PO': ('None+PO', True), 'Both': ('To', True),
    },
}


def _view(state, mirror=False):
    """(subscription, ask) a roster shows for a state (or its mirror)."""
    sub, po, pi = STATES[state]
    if mirror:
        sub, po, pi = _MIRROR_SUB[sub], pi, po
    return (sub, 'subscribe' if po else None)


def _roster_view(r, jid):
    it = r.roster_items().get(jid)
    if it is None:
        return ('none', None), None
    return (it.get('subscription'), it.get('ask')), it.get('approved')


def _settle(*rs):
    for r in rs:
        r.sync()
    for r in rs:
        r.sync()
        for p in r.take_all(is_roster_push()):
            ack_push(r, p)


def _appendix_case(srv, a_user, b_user, start, action):
    aj, bj = a_user + '@localhost', b_user + '@localhost'
    alice = client(srv, a_user, 'a', roster=True)
    bob = client(srv, b_user, 'b', roster=True)
    try:
        for step in SETUP[start]:
            who, what = step.split('_')
            src, dst = (alice, bj) if who == 'A' else (bob, aj)
            src.send("<presence to='%s' type='%s'/>"
                     % (dst, 'subscribe' if what == 'sub' else 'subscribed'))
            _settle(alice, bob)
        got_a, _ = _roster_view(alice, bj)
        got_b, _ = _roster_view(bob, aj)
        assert (got_a, got_b) == (_view(start), _view(start, mirror=True)), (
            'setup of %s: alice sees %r, bob sees %r' % (start, got_a, got_b))
        alice.queue.clear()
        bob.queue.clear()

        exp = EXPECT[action][start]
        new, delivered = exp[0], exp[1]
        preapproved = len(exp) > 2
        alice.send("<presence to='%s' type='%s'/>" % (bj, action))
        _settle(alice, bob)
        seen = [p for p in bob.queue if is_presence(aj, action)(p)]
        assert bool(seen) == delivered, '%s %s: bob %s the stanza' % (
            start, action, 'got' if seen else 'did not get')
        if seen:
            assert seen[0].get('from') == aj, 'not stamped with the bare JID: %s' % dump(seen[0])
        assert len(seen) <= 1, 'delivered %d times' % len(seen)
        odd = [p for p in alice.queue if is_presence(bj, any_type=True)(p)
               and p.get('type') in ('subscribe', 'subscribed', 'unsubscribe', 'unsubscribed')]
        assert not odd, '%s %s: alice got %s' % (start, action, [dump(p) for p in odd])

        got_a, appr = _roster_view(alice, bj)
        got_b, _ = _roster_view(bob, aj)
        assert got_a == _view(new), '%s %s: alice sees %r, expected %r (%s)' % (
            start, action, got_a, _view(new), new)
        assert got_b == _view(new, mirror=True), '%s %s: bob sees %r, expected %r' % (
            start, action, got_b, _view(new, mirror=True))
        if preapproved:
            assert appr == 'true', '%s %s: no approved=true on alice item' % (start, action)
        else:
            assert appr in (None, 'false'), '%s %s: approved=%r' % (start, action, appr)

        # Presence follows the subscription: bob newly subscribed to alice
        # gets her presence; a subscription ended brings unavailable.
        old_sub, new_sub = STATES[start][0], STATES[new][0]
        bob_saw_alice = old_sub in ('from', 'both')
        bob_sees_alice = new_sub in ('from', 'both')
        alice_saw_bob = old_sub in ('to', 'both')
        alice_sees_bob = new_sub in ('to', 'both')
        avail = [p for p in bob.queue if is_presence(aj + '/a')(p)]
        unav = [p for p in bob.queue if is_presence(aj + '/a', 'unavailable')(p)]
        if bob_sees_alice and not bob_saw_alice:
            assert avail, '%s %s: bob did not get alice\'s presence' % (start, action)
        if bob_saw_alice and not bob_sees_alice:
            assert unav, '%s %s: bob did not get alice\'s unavailable' % (start, action)
        unav = [p for p in alice.queue if is_presence(bj + '/b', 'unavailable')(p)]
        if alice_saw_bob and not alice_sees_bob:
            assert unav, '%s %s: alice did not get bob\'s unavailable' % (start, action)
    finally:
        alice.finish()
        bob.finish()


def test_appendix_a_transitions():
    """Every (state, outbound subscription stanza) pair of RFC 6121 Appendix
    A, from alice's side, with the inbound processing on bob's side: 36
    cases, each on a fresh pair of accounts."""
    cases = [(s, a) for a in EXPECT for s in STATES]
    users = dict(DEFAULT_USERS)
    for i in range(len(cases)):
        users['u%da@localhost' % i] = 'pw'
        users['u%db@localhost' % i] = 'pw'
    with Server(users=users, limits={'max_unauth_per_ip': 16,
                                     'max_connections_per_ip': 32}) as srv:
        fails = Failures()
        for i, (start, action) in enumerate(cases):
            fails.run('%s + %s' % (start, action), _appendix_case, srv,
                      'u%da' % i, 'u%db' % i, start, action)
        fails.raise_if_any()


test_appendix_a_transitions.timeout = 240


def test_roster_remove_cancels_subscriptions():
    """RFC 6121 2.5.2: removing a contact with subscription 'both' sends
    unsubscribe and unsubscribed to it, and presence stops both ways."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        _subscribe_to(alice, bob, 'alice@localhost', 'bob@localhost', 'bob@localhost/b')
        _subscribe_to(bob, alice, 'bob@localhost', 'alice@localhost', 'alice@localhost/a')
        r = alice.iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' "
                     "subscription='remove'/></query></iq>")
        assert r.get('type') == 'result', dump(r)
        push = alice.expect(is_roster_push('bob@localhost'))
        assert push_item(push).get('subscription') == 'remove', dump(push)
        ack_push(alice, push)
        _sub_stanza(bob, 'unsubscribe', 'alice@localhost')
        _sub_stanza(bob, 'unsubscribed', 'alice@localhost')
        _push(bob, 'alice@localhost', 'none')
        bob.expect(is_presence('alice@localhost/a', 'unavailable'),
                   what="alice's unavailable presence (bob's subscription to her ended)")
        alice.expect(is_presence('bob@localhost/b', 'unavailable'),
                     what="bob's unavailable presence (her subscription to him ended)")
        assert 'bob@localhost' not in alice.roster_items()
        # And no presence flows any more.
        alice.send("<presence><status>after</status></presence>")
        bob.send("<presence><status>after</status></presence>")
        alice.sync()
        bob.sync()
        _quiet(bob, is_presence('alice@localhost/a'), what='no presence after removal')
        _quiet(alice, is_presence('bob@localhost/b'), what='no presence after removal')


def test_subscription_to_a_full_jid_is_bare():
    """Subscriptions are between bare JIDs (RFC 6121 3.1.2): a subscribe
    addressed to bob@localhost/b is stamped and stored as bob@localhost."""
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        alice.send("<presence to='bob@localhost/b' type='subscribe'/>")
        p = _sub_stanza(bob, 'subscribe', 'alice@localhost')
        assert p.get('to') in ('bob@localhost', 'bob@localhost/b'), dump(p)
        _push(alice, 'bob@localhost', 'none', ask='subscribe')
        items = alice.roster_items()
        assert list(items) == ['bob@localhost'], list(items)


def test_probe_answers_every_resource():
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        b1 = client(srv, 'bob', 'b1', roster=True)
        _subscribe_to(alice, b1, 'alice@localhost', 'bob@localhost', 'bob@localhost/b1')
        b2 = client(srv, 'bob', 'b2')
        alice.expect(is_presence('bob@localhost/b2'))
        alice.finish()
        a = client(srv, 'alice', 'again', presence=False)
        a.send('<presence/>')
        a.expect(is_presence('bob@localhost/b1'))
        a.expect(is_presence('bob@localhost/b2'))
        b2.finish()
        a.expect(is_presence('bob@localhost/b2', 'unavailable'))
