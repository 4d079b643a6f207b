/*
 * presence.c - presence (RFC 6121 sections 3 and 4): subscription state
 * machines of Appendix A for outbound and inbound subscription stanzas,
 * pre-approval, initial presence with broadcast and probes, directed
 * presence, and unavailable presence when a session ends.
 *
 * Subscription state lives in the roster items (subscription + ask +
 * approved) plus <pending/> records for requests not yet answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster.h"

static int
ptype_is(const struct xml_node *p, const char *t)
{
	const char *type = xml_attr(p, "type");

	if (t == NULL)
		return type == NULL;
	return type != NULL && strcmp(type, t) == 0;
}

static int
is_subscription(const struct xml_node *p)
{
	return ptype_is(p, "subscribe") || ptype_is(p, "subscribed") ||
	    ptype_is(p, "unsubscribe") || ptype_is(p, "unsubscribed");
}

/* Route a copy of p from 'from' to 'to' (p itself is left as it was). */
static void
send_copy(const struct xml_node *p, const char *from, const char *to)
{
	struct xml_node *c = xml_copy(xml_arena_new(), p);

	xml_set_attr(c, "from", from);
	xml_set_attr(c, "to", to);
	route(c);
	xml_arena_free(c->arena);
}

static void
send_simple(const char *type, const char *from, const char *to)
{
	struct xml_node *p = xml_new(xml_arena_new(), "presence", NS_CLIENT);

	if (type != NULL)
		xml_set_attr(p, "type", type);
	xml_set_attr(p, "from", from);
	xml_set_attr(p, "to", to);
	route(p);
	xml_arena_free(p->arena);
}

/* Current presence of every available session of 'u' to 'to'. */
static void
send_presence_of(const char *bare, const char *to)
{
	struct user *u = user_find(bare);
	struct session *s;

	for (s = u ? u->sessions : NULL; s != NULL; s = s->next)
		if (s->available && s->presence != NULL)
			send_copy(s->presence, s->full, to);
}

static void
send_unavailable_of(const char *bare, const char *to)
{
	struct user *u = user_find(bare);
	struct session *s;

	for (s = u ? u->sessions : NULL; s != NULL; s = s->next)
		if (s->available)
			send_simple("unavailable", s->full, to);
}

static void
directed_add(struct session *s, const char *jid)
{
	for (size_t i = 0; i < s->directed.n; i++)
		if (strcmp(s->directed.v[i], jid) == 0)
			return;
	if (s->directed.n >= 256)	/* bound the list; oldest entries win */
		return;
	s->directed.v = xrealloc(s->directed.v, (s->directed.n + 1) * sizeof(char *));
	s->directed.v[s->directed.n++] = xstrdup(jid);
}

static void
directed_remove(struct session *s, const char *jid)
{
	for (size_t i = 0; i < s->directed.n; i++)
		if (strcmp(s->directed.v[i], jid) == 0) {
			free(s->directed.v[i]);
			s->directed.v[i] = s->directed.v[--s->directed.n];
			return;
		}
}

/*
 * Broadcast p from session s: to contacts with a 'from' subscription,
 * to every available resource of the account (the sender included,
 * RFC 6121 4.2.2 / 4.4.2), and for unavailable also to directed targets.
 */
static void
broadcast(struct session *s, const struct xml_node *p, int unavailable)
{
	struct roster r;
	struct xml_node *i;
	struct session *o;

	if (roster_load(s->host, s->local, &r) == 0) {
		for (i = xml_child(r.root, "item", NULL); i; i = xml_next(i, "item", NULL))
			if (roster_sub(i) & SUB_FROM) {
				const char *jid = xml_attr(i, "jid");
				send_copy(p, s->full, jid);
				if (unavailable)
					directed_remove(s, jid);
			}
		roster_free(&r);
	}
	for (o = s->user->sessions; o != NULL; o = o->next)
		if (o->available || o == s) {
			struct xml_node *c = xml_copy(xml_arena_new(), p);
			xml_set_attr(c, "from", s->full);
			xml_set_attr(c, "to", o->full);
			session_send(o, c);
			xml_arena_free(c->arena);
		}
	if (unavailable) {
		for (size_t k = 0; k < s->directed.n; k++)
			send_copy(p, s->full, s->directed.v[k]);
		for (size_t k = 0; k < s->directed.n; k++)
			free(s->directed.v[k]);
		s->directed.n = 0;
	}
}

/* Probes to contacts we are subscribed to (RFC 6121 4.3.1). */
static void
probe_contacts(struct session *s)
{
	struct roster r;
	struct xml_node *i;
	struct session *o;

	if (roster_load(s->host, s->local, &r) == 0) {
		for (i = xml_child(r.root, "item", NULL); i; i = xml_next(i, "item", NULL))
			if (roster_sub(i) & SUB_TO)
				send_simple("probe", s->bare, xml_attr(i, "jid"));
		roster_free(&r);
	}
	/* Our other resources' presence, for the new one. */
	for (o = s->user->sessions; o != NULL; o = o->next)
		if (o != s && o->available && o->presence != NULL) {
			struct xml_node *c = xml_copy(xml_arena_new(), o->presence);
			xml_set_attr(c, "from", o->full);
			xml_set_attr(c, "to", s->full);
			session_send(s, c);
			xml_arena_free(c->arena);
		}
}

struct pending_ctx {
	struct session	*s;
};

static void
deliver_pending(const char *jid, void *arg)
{
	struct pending_ctx *pc = arg;
	struct xml_node *p = xml_new(xml_arena_new(), "presence", NS_CLIENT);

	xml_set_attr(p, "type", "subscribe");
	xml_set_attr(p, "from", jid);
	xml_set_attr(p, "to", pc->s->bare);
	session_send(pc->s, p);
	xml_arena_free(p->arena);
}

static int
parse_priority(const struct xml_node *p)
{
	const char *t = xml_child_text(p, "priority", NULL);
	char *end;
	long v;

	if (t == NULL)
		return 0;
	v = strtol(t, &end, 10);
	if (end == t || *end != '\0' || v < -128 || v > 127)
		return 0;
	return (int)v;
}

static void
initial_or_update(struct session *s, struct xml_node *p)
{
	int first = !s->available, was_negative = s->priority < 0;

	if (s->presence != NULL)
		xml_arena_free(s->presence->arena);
	s->presence = xml_copy(xml_arena_new(), p);
	xml_set_attr(s->presence, "to", NULL);
	xml_set_attr(s->presence, "from", NULL);
	s->priority = parse_priority(p);
	s->available = 1;
	broadcast(s, s->presence, 0);
	if (!first) {
		/* Raised from a negative priority: now it may be given
		 * what waited for a non-negative one (XEP-0160). */
		if (was_negative && s->priority >= 0)
			for (const struct module *const *m = modules_all(); *m; m++)
				if ((*m)->session_available && module_enabled(*m))
					(*m)->session_available(s);
		return;
	}
	probe_contacts(s);
	/* Subscription requests that waited for us (RFC 6121 3.1.3). */
	{
		struct roster r;
		struct pending_ctx pc = { s };
		if (roster_load(s->host, s->local, &r) == 0) {
			roster_each_pending(&r, deliver_pending, &pc);
			roster_free(&r);
		}
	}
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->session_available && module_enabled(*m))
			(*m)->session_available(s);
}

static void
go_unavailable(struct session *s, const struct xml_node *p)
{
	struct xml_node *c;

	if (!s->available)
		return;
	c = xml_copy(xml_arena_new(), p);
	xml_set_attr(c, "to", NULL);
	xml_set_attr(c, "type", "unavailable");
	/* Only status may travel with unavailable; priority means nothing. */
	broadcast(s, c, 1);
	xml_arena_free(c->arena);
	s->available = 0;
	if (s->presence != NULL) {
		xml_arena_free(s->presence->arena);
		s->presence = NULL;
	}
}

/* ---- outbound subscription stanzas (Appendix A.2) ---- */

static void
outbound_subscription(struct session *s, struct xml_node *p, const char *to)
{
	struct roster r;
	struct xml_node *it;
	int sub, ask, pend, route_it = 1, push = 0;
	const char *t = xml_attr(p, "type");

	if (roster_load(s->host, s->local, &r) == -1)
		return;
	it = roster_item(&r, to);
	sub = roster_sub(it);
	ask = roster_ask(it);
	pend = roster_pending_in(&r, to);
	if (it == NULL && strcmp(t, "unsubscribe") != 0 &&
	    strcmp(t, "unsubscribed") != 0 &&
	    roster_count(&r) >= server_config()->limits.max_roster_items) {
		/* A new item would pass max_roster_items (RFC 6121 2.3.3's
		 * not-allowed, as for a roster set). */
		roster_free(&r);
		route_error(p, ERR_NOT_ALLOWED, "The roster is full");
		return;
	}
	if (strcmp(t, "subscribe") == 0) {
		if (it == NULL)
			it = roster_item_add(&r, to);
		if (!(sub & SUB_TO) && !ask) {
			roster_set_ask(&r, it, 1);
			push = 1;
		}
	} else if (strcmp(t, "unsubscribe") == 0) {
		if (it != NULL && ((sub & SUB_TO) || ask)) {
			roster_set_sub(&r, it, sub & ~SUB_TO);
			roster_set_ask(&r, it, 0);
			push = 1;
		}
	} else if (strcmp(t, "subscribed") == 0) {
		if (sub & SUB_FROM)
			route_it = 0;		/* already approved */
		else if (pend) {
			if (it == NULL)
				it = roster_item_add(&r, to);
			roster_set_pending_in(&r, to, 0);
			roster_set_sub(&r, it, sub | SUB_FROM);
			roster_set_approved(&r, it, 0);
			push = 1;
		} else {
			/* Pre-approval (3.4): remembered, not sent. */
			if (it == NULL)
				it = roster_item_add(&r, to);
			if (!roster_approved(it)) {
				roster_set_approved(&r, it, 1);
				push = 1;
			}
			route_it = 0;
		}
	} else {			/* unsubscribed */
		if (pend || (sub & SUB_FROM)) {
			roster_set_pending_in(&r, to, 0);
			if (it != NULL) {
				roster_set_sub(&r, it, sub & ~SUB_FROM);
				push = 1;
			}
		} else if (it != NULL && roster_approved(it)) {
			roster_set_approved(&r, it, 0);	/* cancel pre-approval */
			push = 1;
			route_it = 0;
		} else
			route_it = 0;
	}
	if (r.changed && roster_save(&r) == -1) {
		roster_free(&r);
		route_error(p, ERR_INTERNAL_SERVER_ERROR, NULL);
		return;
	}
	if (push && it != NULL)
		roster_push(&r, it, 0);
	roster_free(&r);
	if (route_it) {
		/* 3.1.2: outbound subscription stanzas carry the bare JID. */
		send_copy(p, s->bare, to);
	}
	if (route_it && strcmp(t, "subscribed") == 0)
		send_presence_of(s->bare, to);		/* 3.1.5 */
	else if (route_it && strcmp(t, "unsubscribed") == 0)
		send_unavailable_of(s->bare, to);	/* 3.2.2 */
}

static int
presence_outbound(struct session *s, struct xml_node *p)
{
	const char *to = xml_attr(p, "to");
	struct jid j;
	char bare[JID_MAX + 1];

	if (!xml_is(p, "presence", NULL))
		return 0;
	if (to == NULL) {
		if (ptype_is(p, NULL))
			initial_or_update(s, p);
		else if (ptype_is(p, "unavailable"))
			go_unavailable(s, p);
		/* other types without 'to' mean nothing; drop them */
		return 1;
	}
	if (jid_parse(&j, to) == -1) {
		route_error(p, ERR_JID_MALFORMED, NULL);
		return 1;
	}
	if (is_subscription(p)) {
		jid_bare(&j, bare, sizeof bare);
		outbound_subscription(s, p, bare);
		return 1;
	}
	if (ptype_is(p, NULL) || ptype_is(p, "unavailable")) {
		/* Directed presence (4.6): remember who must hear we left. */
		if (ptype_is(p, NULL) && s->available)
			directed_add(s, to);
		else if (ptype_is(p, "unavailable"))
			directed_remove(s, to);
	}
	route(p);
	return 1;
}

/* ---- inbound (Appendix A.3) ---- */

static void
deliver_to_available(const char *bare, struct xml_node *p)
{
	struct user *u = user_find(bare);
	struct session *s;

	for (s = u ? u->sessions : NULL; s != NULL; s = s->next)
		if (s->available)
			session_send(s, p);
}

static void
inbound_subscription(struct xml_node *p, const char *me, const char *from)
{
	struct roster r;
	struct xml_node *it;
	const char *t = xml_attr(p, "type");
	char host[JID_PART_MAX + 1], local[JID_PART_MAX + 1];
	struct jid mj;
	int sub, ask, pend, deliver = 0, push = 0, gone = 0;

	if (jid_parse(&mj, me) == -1)
		return;
	strlcpy_ok(host, mj.domain, sizeof host);
	strlcpy_ok(local, mj.local, sizeof local);
	if (roster_load(host, local, &r) == -1)
		return;
	it = roster_item(&r, from);
	sub = roster_sub(it);
	ask = roster_ask(it);
	pend = roster_pending_in(&r, from);
	if (strcmp(t, "subscribe") == 0) {
		if (sub & SUB_FROM) {
			/* Already subscribed: answer for the user (3.1.3). */
			roster_free(&r);
			send_simple("subscribed", me, from);
			send_presence_of(me, from);
			return;
		}
		if (it != NULL && roster_approved(it)) {
			/* Pre-approved (3.4): approve now. */
			roster_set_approved(&r, it, 0);
			roster_set_sub(&r, it, sub | SUB_FROM);
			if (roster_save(&r) == 0)
				roster_push(&r, it, 0);
			roster_free(&r);
			send_simple("subscribed", me, from);
			send_presence_of(me, from);
			return;
		}
		/* A.3.1: a request already pending is not delivered again;
		 * it reaches the user's next session from the stored record. */
		if (!pend) {
			roster_set_pending_in(&r, from, 1);
			deliver = 1;
		}
	} else if (strcmp(t, "unsubscribe") == 0) {
		if (pend || (sub & SUB_FROM)) {
			roster_set_pending_in(&r, from, 0);
			if (it != NULL && (sub & SUB_FROM)) {
				roster_set_sub(&r, it, sub & ~SUB_FROM);
				push = 1;
				gone = 1;
			}
			deliver = 1;
		}
	} else if (strcmp(t, "subscribed") == 0) {
		if (it != NULL && ask) {
			roster_set_ask(&r, it, 0);
			roster_set_sub(&r, it, sub | SUB_TO);
			push = deliver = 1;
		}
	} else {			/* unsubscribed */
		if (it != NULL && (ask || (sub & SUB_TO))) {
			roster_set_ask(&r, it, 0);
			roster_set_sub(&r, it, sub & ~SUB_TO);
			push = deliver = 1;
		}
	}
	if (r.changed && roster_save(&r) == -1) {
		roster_free(&r);
		return;
	}
	if (push && it != NULL)
		roster_push(&r, it, 0);
	roster_free(&r);
	if (deliver) {
		struct xml_node *c = xml_copy(xml_arena_new(), p);
		xml_set_attr(c, "from", from);
		xml_set_attr(c, "to", me);
		deliver_to_available(me, c);
		xml_arena_free(c->arena);
	}
	/* 3.3.3: the former subscriber stops seeing us, explicitly. */
	if (gone)
		send_unavailable_of(me, from);
}

static void
inbound_probe(const char *me, const char *from_full, const char *from_bare)
{
	struct roster r;
	struct jid mj;
	struct user *u;
	int allowed;

	if (jid_parse(&mj, me) == -1 || roster_load(mj.domain, mj.local, &r) == -1)
		return;
	allowed = (roster_sub(roster_item(&r, from_bare)) & SUB_FROM) != 0;
	roster_free(&r);
	if (!allowed)
		return;		/* 4.3.2: reveal nothing */
	u = user_find(me);
	if (u == NULL || u->sessions == NULL) {
		send_simple("unavailable", me, from_full);
		return;
	}
	{
		struct session *s;
		int any = 0;
		for (s = u->sessions; s != NULL; s = s->next)
			if (s->available && s->presence != NULL) {
				send_copy(s->presence, s->full, from_full);
				any = 1;
			}
		if (!any)
			send_simple("unavailable", me, from_full);
	}
}

static int
presence_inbound(struct xml_node *p, const struct jid *to)
{
	char me[JID_MAX + 1], frombare[JID_MAX + 1];
	const char *from = xml_attr(p, "from");
	struct jid fj;

	if (!xml_is(p, "presence", NULL) || to->local[0] == '\0')
		return 0;
	if (from == NULL || jid_parse(&fj, from) == -1)
		return 1;
	jid_bare(to, me, sizeof me);
	jid_bare(&fj, frombare, sizeof frombare);
	if (is_subscription(p)) {
		/* Subscription stanzas always go to the bare JID (3.1.3). */
		inbound_subscription(p, me, frombare);
		return 1;
	}
	if (ptype_is(p, "probe")) {
		inbound_probe(me, from, frombare);
		return 1;
	}
	if (to->resource[0] != '\0') {
		struct session *s = session_find(xml_attr(p, "to"));
		if (s != NULL)
			session_send(s, p);
		return 1;
	}
	deliver_to_available(me, p);
	return 1;
}

static void
presence_session_end(struct session *s)
{
	struct xml_node *p;

	if (!s->available)
		return;
	p = xml_new(xml_arena_new(), "presence", NS_CLIENT);
	xml_set_attr(p, "type", "unavailable");
	/* The ending session must not be sent its own goodbye. */
	s->available = 0;
	{
		struct roster r;
		struct xml_node *i;
		if (roster_load(s->host, s->local, &r) == 0) {
			for (i = xml_child(r.root, "item", NULL); i; i = xml_next(i, "item", NULL))
				if (roster_sub(i) & SUB_FROM) {
					directed_remove(s, xml_attr(i, "jid"));
					send_copy(p, s->full, xml_attr(i, "jid"));
				}
			roster_free(&r);
		}
	}
	for (struct session *o = s->user->sessions; o != NULL; o = o->next)
		if (o != s && o->available) {
			struct xml_node *c = xml_copy(xml_arena_new(), p);
			xml_set_attr(c, "from", s->full);
			xml_set_attr(c, "to", o->full);
			session_send(o, c);
			xml_arena_free(c->arena);
		}
	for (size_t k = 0; k < s->directed.n; k++)
		send_copy(p, s->full, s->directed.v[k]);
	xml_arena_free(p->arena);
}

const struct module mod_presence = {
	.name = "presence",
	.always = 1,
	.outbound = presence_outbound,
	.inbound = presence_inbound,
	.session_end = presence_session_end,
};
