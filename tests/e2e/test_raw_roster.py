"""
Roster management (RFC 6121 section 2): get, set, update, remove, pushes to
interested resources only, invalid sets, versioning, persistence.
"""

from lib import Server
from rawxmpp import (
    C, NS_ROSTER, Failures, ack_push, client, dump, is_roster_push, push_item, q,
    stanza_error,
)

QUERY = q(NS_ROSTER, 'query')
ITEM = q(NS_ROSTER, 'item')
GROUP = q(NS_ROSTER, 'group')


def _set(r, items_xml):
    return r.iq("<iq type='set'><query xmlns='%s'>%s</query></iq>" % (NS_ROSTER, items_xml))


def _groups(item):
    return sorted((g.text or '') for g in item.findall(GROUP))


def _expect_push(r, jid, subscription, name=None, groups=None, ask=None, check_name=True):
    """Wait for a roster push about jid on r; check it; acknowledge it;
    return the item."""
    push = r.expect(is_roster_push(jid), what='a roster push for %s' % jid)
    assert push.get('from') in (None, r.jid.split('/')[0]), (
        'roster push from %r (RFC 6121 2.1.6: none or the bare JID): %s'
        % (push.get('from'), dump(push)))
    assert push.get('to') in (None, r.jid), 'roster push to %r on %s' % (push.get('to'), r.jid)
    item = push_item(push)
    assert item.get('subscription') == subscription, (
        'push subscription %r, expected %r: %s' % (item.get('subscription'), subscription,
                                                   dump(push)))
    assert item.get('ask') == ask, 'push ask %r, expected %r: %s' % (item.get('ask'), ask,
                                                                      dump(push))
    if check_name:
        assert item.get('name') == name, 'push name %r, expected %r' % (item.get('name'), name)
    if groups is not None:
        assert _groups(item) == sorted(groups), 'push groups %r, expected %r' % (
            _groups(item), sorted(groups))
    ack_push(r, push)
    return item


def _assert_empty_result(reply, what):
    assert reply.get('type') == 'result', '%s: %s' % (what, dump(reply))
    assert len(reply) == 0, '%s: result with a payload: %s' % (what, dump(reply))


def test_roster_set_update_remove_and_pushes():
    with Server() as srv:
        a1 = client(srv, 'alice', 'one', roster=True)
        a2 = client(srv, 'alice', 'two')                # never asks for the roster
        a3 = client(srv, 'alice', 'three', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        assert a1.roster_items() == {}, 'fresh roster not empty'

        # Add.
        r = _set(a1, "<item jid='bob@localhost' name='Bob'><group>Friends</group></item>")
        _assert_empty_result(r, 'roster set')
        for a in (a1, a3):
            _expect_push(a, 'bob@localhost', 'none', name='Bob', groups=['Friends'])
        a2.assert_nothing(is_roster_push(), what='no push to a resource that never asked')
        bob.assert_nothing(what='nothing for the contact')
        items = a3.roster_items()
        assert list(items) == ['bob@localhost'], items
        it = items['bob@localhost']
        assert (it.get('name'), it.get('subscription'), it.get('ask'), _groups(it)) == \
            ('Bob', 'none', None, ['Friends']), dump(it)

        # Update: new name, two groups.
        r = _set(a3, "<item jid='bob@localhost' name='Robert'><group>Friends</group>"
                     "<group>Work</group></item>")
        _assert_empty_result(r, 'roster update')
        for a in (a1, a3):
            _expect_push(a, 'bob@localhost', 'none', name='Robert', groups=['Friends', 'Work'])
        it = a1.roster_items()['bob@localhost']
        assert (it.get('name'), _groups(it)) == ('Robert', ['Friends', 'Work']), dump(it)

        # A bare item: no name, no groups.
        r = _set(a1, "<item jid='carol@localhost'/>")
        _assert_empty_result(r, 'second item')
        for a in (a1, a3):
            _expect_push(a, 'carol@localhost', 'none', name=None, groups=[])
        # A JID is stored normalised (case-folded localpart and domain).
        r = _set(a1, "<item jid='Dave@LocalHost' name='D'/>")
        _assert_empty_result(r, 'mixed-case JID')
        for a in (a1, a3):
            _expect_push(a, 'dave@localhost', 'none', name='D')

        # Remove.
        r = _set(a1, "<item jid='bob@localhost' subscription='remove'/>")
        _assert_empty_result(r, 'roster remove')
        for a in (a1, a3):
            push = a.expect(is_roster_push('bob@localhost'))
            assert push_item(push).get('subscription') == 'remove', dump(push)
            ack_push(a, push)
        items = a1.roster_items()
        assert sorted(items) == ['carol@localhost', 'dave@localhost'], sorted(items)
        a2.assert_nothing(is_roster_push(), what='still no push to the uninterested resource')

        # Removing what is not there.
        r = _set(a1, "<item jid='nobody@localhost' subscription='remove'/>")
        assert r.get('type') == 'error', dump(r)
        assert stanza_error(r) == ('cancel', 'item-not-found'), dump(r)

        # Every push was acknowledged with a result; those are never answered.
        a1.assert_nothing(lambda e: e.tag == C('iq'), what='no answer to push acknowledgements')


def test_roster_invalid_sets():
    with Server() as srv:
        alice = client(srv, 'alice', 'a', roster=True)
        bob = client(srv, 'bob', 'b', roster=True)
        fails = Failures()

        def err(items_xml, type_, conditions):
            r = _set(alice, items_xml)
            assert r.get('type') == 'error', 'accepted: %s' % dump(r)
            t, c = stanza_error(r)
            assert c in conditions and t == type_, 'got (%s, %s), expected (%s, %s)' % (
                t, c, type_, '|'.join(conditions))

        fails.run('two items', err,
                  "<item jid='bob@localhost'/><item jid='carol@localhost'/>",
                  'modify', ('bad-request',))
        fails.run('no item', err, '', 'modify', ('bad-request',))
        fails.run('duplicate group', err,
                  "<item jid='bob@localhost'><group>G</group><group>G</group></item>",
                  'modify', ('bad-request',))
        fails.run('empty group', err, "<item jid='bob@localhost'><group/></item>",
                  'modify', ('not-acceptable',))
        fails.run('item without jid', err, "<item name='nobody'/>",
                  'modify', ('bad-request',))
        fails.run('empty localpart', err, "<item jid='@localhost'/>",
                  'modify', ('jid-malformed', 'bad-request'))
        fails.run('two @', err, "<item jid='a@b@localhost'/>",
                  'modify', ('jid-malformed', 'bad-request'))
        fails.run('over-long localpart', err, "<item jid='%s@localhost'/>" % ('l' * 1100),
                  'modify', ('jid-malformed', 'bad-request', 'not-acceptable'))
        fails.raise_if_any()
        assert alice.roster_items() == {}, 'a refused set changed the roster'
        alice.take_all(is_roster_push())

        # Subscription states are not the client's to set (RFC 6121
        # 2.1.2.5, 3.4): 'both', 'ask' and 'approved' in a set are ignored.
        r = _set(alice, "<item jid='bob@localhost' subscription='both' ask='subscribe' "
                        "approved='true'/>")
        _assert_empty_result(r, 'set with server-only attributes')
        item = _expect_push(alice, 'bob@localhost', 'none')
        assert item.get('approved') in (None, 'false'), dump(item)
        it = alice.roster_items()['bob@localhost']
        assert (it.get('subscription'), it.get('ask'), it.get('approved') in (None, 'false')) == \
            ('none', None, True), dump(it)

        # Nobody touches another user's roster.
        r = alice.iq("<iq type='set' to='bob@localhost'><query xmlns='%s'>"
                     "<item jid='carol@localhost' name='planted'/></query></iq>" % NS_ROSTER)
        assert r.get('type') == 'error', 'roster set on bob accepted: %s' % dump(r)
        assert stanza_error(r)[1] in ('forbidden', 'service-unavailable', 'not-allowed'), dump(r)
        r = alice.iq("<iq type='get' to='bob@localhost'><query xmlns='%s'/></iq>" % NS_ROSTER)
        assert r.get('type') == 'error', 'roster of bob disclosed: %s' % dump(r)
        assert r.find(QUERY) is None or not r.find(QUERY).findall(ITEM), dump(r)
        bob.assert_nothing(is_roster_push(), what='no push for bob')
        assert bob.roster_items() == {}, 'bob roster changed'


def test_roster_versioning_and_persistence():
    with Server() as srv:
        a = client(srv, 'alice', 'a', presence=False)
        r = a.roster_get(ver='')
        qe = r.find(QUERY)
        assert qe is not None and qe.get('ver') is not None, 'no ver in %s' % dump(r)
        v0 = qe.get('ver')
        _assert_empty_result(a.roster_get(ver=v0), 'roster get with the current version')

        name = "<Bob & \"Co\" 'x'> \u00e9\u4e2d"
        esc = "&lt;Bob &amp; &quot;Co&quot; &apos;x&apos;&gt; \u00e9\u4e2d"
        r = _set(a, "<item jid='bob@localhost' name='%s'><group>Gr\u00fcn &amp; Blau</group>"
                    "</item>" % esc)
        _assert_empty_result(r, 'set')
        push = a.expect(is_roster_push('bob@localhost'))
        v1 = push.find(QUERY).get('ver')
        assert v1 is not None and v1 != v0, 'push ver %r after %r: %s' % (v1, v0, dump(push))
        item = push_item(push)
        assert item.get('name') == name, repr(item.get('name'))
        assert _groups(item) == ['Gr\u00fcn & Blau'], _groups(item)
        ack_push(a, push)
        _assert_empty_result(a.roster_get(ver=v1), 'roster get with the new version')

        def up_to_date(ver, what):
            # A full roster carrying the current version, or an empty
            # result followed by pushes that end at the current version.
            r = a.roster_get(ver=ver)
            qe = r.find(QUERY)
            if qe is not None:
                assert qe.get('ver') == v1, '%s: ver %r, expected %r' % (what, qe.get('ver'), v1)
                jids = [i.get('jid') for i in qe.findall(ITEM)]
                assert jids == ['bob@localhost'], '%s: items %r' % (what, jids)
            else:
                push = a.expect(is_roster_push('bob@localhost'), timeout=3)
                assert push.find(QUERY).get('ver') == v1, dump(push)
                ack_push(a, push)

        up_to_date(v0, 'stale version')
        up_to_date('no-such-version-xyz', 'unknown version')
        a.close()

        # The roster and its version survive a restart.
        srv.stop()
        srv.start()
        a = client(srv, 'alice', 'a', presence=False)
        _assert_empty_result(a.roster_get(ver=v1), 'current version after restart')
        items = a.roster_items()
        assert list(items) == ['bob@localhost'], items
        it = items['bob@localhost']
        assert it.get('name') == name and _groups(it) == ['Gr\u00fcn & Blau'], dump(it)
        a.roster_get(ver='')
        r = _set(a, "<item jid='bob@localhost' subscription='remove'/>")
        _assert_empty_result(r, 'remove')
        push = a.expect(is_roster_push('bob@localhost'))
        v2 = push.find(QUERY).get('ver')
        assert v2 not in (None, v0, v1), 'version after removal %r (before: %r, %r)' % (v2, v0, v1)
        ack_push(a, push)
        r = a.roster_get(ver=v2)
        _assert_empty_result(r, 'roster get after removal')
