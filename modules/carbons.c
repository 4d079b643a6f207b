/*
 * carbons.c - Message Carbons (XEP-0280): a session that sent <enable/>
 * gets a copy of the account's chat traffic that went to or came from
 * its other resources, wrapped as <received/> or <sent/> around a
 * XEP-0297 <forwarded/>.
 *
 * Which messages are copied follows XEP-0280 6.1 (chat, normal with a
 * body, IM payloads such as chat states, receipts and markers, call
 * set-up, invitations; never groupchat, never private or no-copy), with
 * one server-side approximation: an error is copied when it comes from
 * a bare JID (a bounce of a message sent to one), as there is no
 * tracking of which message it answers.  So only urn:xmpp:carbons:2 is
 * advertised, not urn:xmpp:carbons:rules:0.
 *
 * The <private/> element is left in place: XEP-0280 0.14 dropped the
 * rule that servers remove it, as a sender could use its removal to
 * hide how a message was routed.
 *
 * Messages between resources of one account are copied once, as
 * <sent/>, to the enabled resources that neither sent nor received them.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"

#define NS_CARBONS	"urn:xmpp:carbons:2"
#define NS_FORWARD	"urn:xmpp:forward:0"
#define NS_HINTS	"urn:xmpp:hints"
#define NS_MUC_USER	"http://jabber.org/protocol/muc#user"
#define NS_CONFERENCE	"jabber:x:conference"

/*
 * Ids of the sessions that enabled carbons, sorted for a binary search.
 * Session ids are never reused, so a stale id can never match a new
 * session; session_end removes each one anyway.
 */
static uint64_t	*enabled;
static size_t	 nenabled, capenabled;

/* Index of id in enabled[], or where it would go (*found tells). */
static size_t
find_slot(uint64_t id, int *found)
{
	size_t lo = 0, hi = nenabled;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (enabled[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < nenabled && enabled[lo] == id;
	return lo;
}

static int
carbons_is_enabled(uint64_t id)
{
	int found;

	find_slot(id, &found);
	return found;
}

static void
set_enabled(uint64_t id, int on)
{
	int found;
	size_t i = find_slot(id, &found);

	if (on && !found) {
		if (nenabled == capenabled) {
			size_t cap = capenabled ? capenabled * 2 : 64;
			if (cap > SIZE_MAX / sizeof *enabled)
				fatalx("carbons: too many sessions");
			enabled = xrealloc(enabled, cap * sizeof *enabled);
			capenabled = cap;
		}
		memmove(enabled + i + 1, enabled + i,
		    (nenabled - i) * sizeof *enabled);
		enabled[i] = id;
		nenabled++;
	} else if (!on && found) {
		memmove(enabled + i, enabled + i + 1,
		    (nenabled - i - 1) * sizeof *enabled);
		nenabled--;
	}
}

/* ---- which messages are copied ---- */

static int
has_child_ns(const struct xml_node *m, const char *ns)
{
	for (struct xml_node *c = m->children; c != NULL; c = c->next)
		if (c->name != NULL && strcmp(c->ns, ns) == 0)
			return 1;
	return 0;
}

/* Payloads that make a message part of a conversation (XEP-0280 6.1):
 * chat states, receipts, markers, call set-up (XEP-0353) and direct
 * invitations (XEP-0249). */
static int
has_im_payload(const struct xml_node *m)
{
	static const char *const ns[] = {
		"http://jabber.org/protocol/chatstates",
		"urn:xmpp:receipts",
		"urn:xmpp:chat-markers:0",
		"urn:xmpp:jingle-message:0",
		"urn:xmpp:jingle-message:1",
		NS_CONFERENCE,
		NULL
	};

	for (const char *const *n = ns; *n != NULL; n++)
		if (has_child_ns(m, *n))
			return 1;
	return 0;
}

static int
type_is(const struct xml_node *m, const char *t)
{
	const char *type = xml_attr(m, "type");

	if (type == NULL || *type == '\0')
		type = "normal";
	return strcmp(type, t) == 0;
}

/*
 * Is m (inbound: arriving for the account; else: sent by one of its
 * resources) to be copied?
 */
static int
eligible(const struct xml_node *m, int inbound)
{
	struct xml_node *x = xml_child(m, "x", NS_MUC_USER);
	const char *from;

	if (xml_child(m, "private", NS_CARBONS) != NULL ||
	    xml_child(m, "no-copy", NS_HINTS) != NULL)
		return 0;
	/* Never a copy of a copy (nor of something posing as one). */
	if (xml_child(m, "sent", NS_CARBONS) != NULL ||
	    xml_child(m, "received", NS_CARBONS) != NULL)
		return 0;
	if (type_is(m, "groupchat"))
		return 0;
	/* A room invitation is news for every device ... */
	if (x != NULL && xml_child(x, "invite", NS_MUC_USER) != NULL)
		return 1;
	/* ... but a private message from an occupant reaches every joined
	 * client through the room already. */
	if (inbound && x != NULL)
		return 0;
	if (type_is(m, "error")) {
		from = xml_attr(m, "from");
		return inbound && from != NULL && strchr(from, '/') == NULL;
	}
	if (type_is(m, "chat"))
		return 1;
	if (type_is(m, "normal") && xml_child(m, "body", NULL) != NULL)
		return 1;
	return has_im_payload(m);
}

/* ---- copies ---- */

/* A stanza from a server-to-server stream keeps jabber:server on its
 * elements; inside <forwarded/> it must read as jabber:client. */
static void
to_client_ns(struct xml_node *n, unsigned depth)
{
	if (n->name == NULL || depth > 64)
		return;
	if (strcmp(n->ns, NS_SERVER) == 0)
		n->ns = NS_CLIENT;
	for (struct xml_node *c = n->children; c != NULL; c = c->next)
		to_client_ns(c, depth + 1);
}

/* <message from=bare type=...><DIR><forwarded>m</forwarded></DIR></message>
 * in a new arena; 'to' is set per recipient. */
static struct xml_node *
wrap(const char *dir, const struct xml_node *m, const char *bare)
{
	struct xml_node *w = xml_new(xml_arena_new(), "message", NS_CLIENT);
	struct xml_node *f, *c;
	const char *type = xml_attr(m, "type");

	xml_set_attr(w, "from", bare);
	if (type != NULL && *type != '\0')
		xml_set_attr(w, "type", type);
	f = xml_add(xml_add(w, dir, NS_CARBONS), "forwarded", NS_FORWARD);
	c = xml_append_copy(f, m);
	to_client_ns(c, 0);
	c->ns = NS_CLIENT;
	return w;
}

struct target {
	uint64_t	 id;
	char		 full[JID_MAX + 1];
};

static int
in_list(const struct session *s, struct session *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == s)
			return 1;
	return 0;
}

/*
 * Send m wrapped in DIR to every enabled session of the account 'bare'
 * except 'skip' and the n sessions in 'got'.  Sending can end a session
 * (a slow consumer is closed at once), which frees it and maybe the
 * account's record: so the targets are chosen first, by id and JID, and
 * each is looked up again just before its copy goes out.
 */
static void
send_copies(const char *dir, const struct xml_node *m, const char *bare,
    const struct session *skip, struct session *const *got, size_t n)
{
	struct target *t;
	struct user *u = user_find(bare);
	struct session *s;
	struct xml_node *w;
	size_t nt = 0;
	char account[JID_MAX + 1];

	if (u == NULL || nenabled == 0)
		return;
	t = xcalloc(u->nsessions, sizeof *t);
	for (s = u->sessions; s != NULL && nt < u->nsessions; s = s->next) {
		if (s == skip || in_list(s, got, n) || !carbons_is_enabled(s->id))
			continue;
		t[nt].id = s->id;
		strlcpy_ok(t[nt].full, s->full, sizeof t[nt].full);
		nt++;
	}
	if (nt > 0) {
		strlcpy_ok(account, bare, sizeof account);
		w = wrap(dir, m, account);
		for (size_t i = 0; i < nt; i++) {
			if ((s = session_find(t[i].full)) == NULL || s->id != t[i].id)
				continue;
			xml_set_attr(w, "to", s->full);
			session_send(s, w);
		}
		xml_arena_free(w->arena);
		log_debug("carbons: %s copy to %zu session(s) of %s", dir, nt,
		    account);
	}
	free(t);
}

/* ---- hooks ---- */

/*
 * A message from a client: copies as <sent/> to its other resources, then
 * routing goes on.  A message to the account itself (no 'to', or one of
 * its own JIDs) is copied once it is known who got it (delivered()).
 */
static int
carbons_outbound(struct session *s, struct xml_node *st)
{
	const char *to;
	struct jid j;

	if (!xml_is(st, "message", NULL) || s->user == NULL ||
	    s->user->nsessions < 2 || !eligible(st, 0))
		return 0;
	if ((to = xml_attr(st, "to")) == NULL)
		return 0;
	if (jid_parse(&j, to) == -1)
		return 0;	/* the router bounces it */
	if (strcmp(j.local, s->local) == 0 && strcmp(j.domain, s->host) == 0)
		return 0;
	send_copies("sent", st, s->bare, s, NULL, 0);
	return 0;
}

/*
 * A message reached 'got' (sessions of one account): <received/> copies
 * for the account's enabled sessions that did not get it, or <sent/>
 * copies when one of the account's own resources sent it.  The account
 * is read from 'to', and got[] only compared with, never followed: a
 * recipient closed as a slow consumer by the delivery is gone already.
 */
static void
carbons_delivered(const struct xml_node *msg, struct session *const *got,
    size_t n)
{
	const char *to = xml_attr(msg, "to"), *from = xml_attr(msg, "from");
	char bare[JID_MAX + 1];
	struct user *u;
	struct jid t, f;

	if (n == 0 || nenabled == 0 || to == NULL || jid_parse(&t, to) == -1 ||
	    jid_bare(&t, bare, sizeof bare) == -1 ||
	    (u = user_find(bare)) == NULL || u->nsessions <= n)
		return;
	if (from != NULL && jid_parse(&f, from) == 0 && f.resource[0] != '\0' &&
	    jid_bare_equal(&f, &t)) {
		if (eligible(msg, 0))
			send_copies("sent", msg, bare, session_find(from), got, n);
		return;
	}
	if (eligible(msg, 1))
		send_copies("received", msg, bare, NULL, got, n);
}

static enum stanza_error
carbons_toggle(struct iq_req *r)
{
	int on = strcmp(r->payload->name, "enable") == 0;

	/* Registered for get too: otherwise a get would fall through to the
	 * server's handlers and read as service-unavailable. */
	if (r->type != IQ_SET)
		return ERR_BAD_REQUEST;
	/* Only a client of this server, for its own session (XEP-0280 3.1). */
	if (r->sess == NULL)
		return ERR_NOT_ALLOWED;
	if (xml_first_element(r->payload) != NULL)
		return ERR_BAD_REQUEST;
	set_enabled(r->sess->id, on);
	log_debug("carbons %s for %s", on ? "enabled" : "disabled",
	    r->sess->full);
	return iq_ok(r);
}

static void
carbons_session_end(struct session *s)
{
	set_enabled(s->id, 0);
}

static void
carbons_fini(void)
{
	free(enabled);
	enabled = NULL;
	nenabled = capenabled = 0;
}

static const struct iq_handler carbons_iq[] = {
	{ "enable", NS_CARBONS, IQ_GET | IQ_SET, IQ_TO_SELF, carbons_toggle },
	{ "disable", NS_CARBONS, IQ_GET | IQ_SET, IQ_TO_SELF, carbons_toggle },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const carbons_features[] = { NS_CARBONS, NULL };

const struct module mod_carbons = {
	.name = "carbons",
	.features = carbons_features,
	.iq = carbons_iq,
	.outbound = carbons_outbound,
	.message_delivered = carbons_delivered,
	.session_end = carbons_session_end,
	.fini = carbons_fini,
};
