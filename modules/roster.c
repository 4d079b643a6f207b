/*
 * roster.c - roster storage, roster get/set and pushes (RFC 6121 section
 * 2), with versioning (2.6): the version is a counter bumped on every
 * change; a get with the current version gets an empty result.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster.h"

#define ROSTER_FILE		"roster"
#define ROSTER_MAX_FILE		(4 * 1024 * 1024)
#define ROSTER_FORMAT		"1"
#define MAX_NAME_LEN		1023
#define MAX_GROUP_LEN		1023
#define MAX_GROUPS		64

static const struct xml_limits stored_limits = { ROSTER_MAX_FILE, 16, 16, 256 };

static struct xml_node *
new_root(void)
{
	struct xml_node *r = xml_new(xml_arena_new(), "roster", NS_ROSTER);

	xml_set_attr(r, "version", ROSTER_FORMAT);
	xml_set_attr(r, "ver", "0");
	return r;
}

int
roster_load(const char *host, const char *local, struct roster *r)
{
	char *text = NULL, err[256];
	ssize_t n;
	const char *v;

	memset(r, 0, sizeof *r);
	strlcpy_ok(r->host, host, sizeof r->host);
	strlcpy_ok(r->local, local, sizeof r->local);
	n = store_read(host, local, ROSTER_FILE, ROSTER_MAX_FILE, &text);
	if (n < 0) {
		if (errno != ENOENT) {
			log_warn("roster of %s@%s", local, host);
			return -1;
		}
		r->root = new_root();
		return 0;
	}
	r->root = xml_parse_document(text, (size_t)n, &stored_limits, err, sizeof err);
	free(text);
	if (r->root == NULL || !xml_is(r->root, "roster", NS_ROSTER)) {
		log_warnx("roster of %s@%s is damaged: %s", local, host,
		    r->root ? "not a roster" : err);
		if (r->root != NULL)
			xml_arena_free(r->root->arena);
		r->root = NULL;
		return -1;
	}
	v = xml_attr(r->root, "version");
	if (v == NULL || strcmp(v, ROSTER_FORMAT) != 0) {
		log_warnx("roster of %s@%s has format version %s; this xmppd "
		    "reads version " ROSTER_FORMAT, local, host, v ? v : "(none)");
		xml_arena_free(r->root->arena);
		r->root = NULL;
		return -1;
	}
	return 0;
}

uint64_t
roster_version(const struct roster *r)
{
	const char *v = xml_attr(r->root, "ver");

	return v ? strtoull(v, NULL, 10) : 0;
}

int
roster_save(struct roster *r)
{
	struct buf b;
	char ver[32];
	int rc;

	if (!r->changed)
		return 0;
	snprintf(ver, sizeof ver, "%" PRIu64, roster_version(r) + 1);
	xml_set_attr(r->root, "ver", ver);
	buf_init(&b, ROSTER_MAX_FILE);
	if (xml_serialize(r->root, &b, NULL) == -1) {
		buf_free(&b);
		log_warnx("roster of %s@%s too large to save", r->local, r->host);
		return -1;
	}
	buf_addstr(&b, "\n");
	rc = store_write(r->host, r->local, ROSTER_FILE, buf_head(&b), buf_used(&b));
	if (rc == -1)
		log_warn("saving roster of %s@%s", r->local, r->host);
	buf_free(&b);
	r->changed = 0;
	return rc;
}

void
roster_free(struct roster *r)
{
	if (r->root != NULL)
		xml_arena_free(r->root->arena);
	r->root = NULL;
}

struct xml_node *
roster_item(const struct roster *r, const char *jid)
{
	struct xml_node *i;

	for (i = xml_child(r->root, "item", NULL); i; i = xml_next(i, "item", NULL)) {
		const char *j = xml_attr(i, "jid");
		if (j != NULL && strcmp(j, jid) == 0)
			return i;
	}
	return NULL;
}

size_t
roster_count(const struct roster *r)
{
	struct xml_node *i;
	size_t n = 0;

	for (i = xml_child(r->root, "item", NULL); i; i = xml_next(i, "item", NULL))
		n++;
	return n;
}

struct xml_node *
roster_item_add(struct roster *r, const char *jid)
{
	struct xml_node *i = xml_add(r->root, "item", NULL);

	xml_set_attr(i, "jid", jid);
	xml_set_attr(i, "subscription", "none");
	r->changed = 1;
	return i;
}

void
roster_item_remove(struct roster *r, struct xml_node *item)
{
	xml_remove(item);
	r->changed = 1;
}

static const char *const subnames[] = { "none", "to", "from", "both" };

int
roster_sub(const struct xml_node *item)
{
	const char *s = item ? xml_attr(item, "subscription") : NULL;

	for (int i = 0; s != NULL && i < 4; i++)
		if (strcmp(s, subnames[i]) == 0)
			return i;
	return SUB_NONE;
}

void
roster_set_sub(struct roster *r, struct xml_node *item, int sub)
{
	xml_set_attr(item, "subscription", subnames[sub & 3]);
	r->changed = 1;
}

int
roster_ask(const struct xml_node *item)
{
	return item != NULL && xml_attr(item, "ask") != NULL;
}

void
roster_set_ask(struct roster *r, struct xml_node *item, int on)
{
	xml_set_attr(item, "ask", on ? "subscribe" : NULL);
	r->changed = 1;
}

int
roster_approved(const struct xml_node *item)
{
	const char *a = item ? xml_attr(item, "approved") : NULL;

	return a != NULL && strcmp(a, "true") == 0;
}

void
roster_set_approved(struct roster *r, struct xml_node *item, int on)
{
	xml_set_attr(item, "approved", on ? "true" : NULL);
	r->changed = 1;
}

static struct xml_node *
pending(const struct roster *r, const char *jid)
{
	struct xml_node *p;

	for (p = xml_child(r->root, "pending", NULL); p; p = xml_next(p, "pending", NULL)) {
		const char *j = xml_attr(p, "jid");
		if (j != NULL && strcmp(j, jid) == 0)
			return p;
	}
	return NULL;
}

int
roster_pending_in(const struct roster *r, const char *jid)
{
	return pending(r, jid) != NULL;
}

void
roster_set_pending_in(struct roster *r, const char *jid, int on)
{
	struct xml_node *p = pending(r, jid);

	if (on && p == NULL) {
		p = xml_add(r->root, "pending", NULL);
		xml_set_attr(p, "jid", jid);
		r->changed = 1;
	} else if (!on && p != NULL) {
		xml_remove(p);
		r->changed = 1;
	}
}

void
roster_each_pending(const struct roster *r, void (*fn)(const char *, void *),
    void *arg)
{
	struct xml_node *p;

	for (p = xml_child(r->root, "pending", NULL); p; p = xml_next(p, "pending", NULL))
		if (xml_attr(p, "jid") != NULL)
			fn(xml_attr(p, "jid"), arg);
}

void
roster_push(const struct roster *r, const struct xml_node *item, int removed)
{
	char bare[JID_MAX + 1], ver[32], id[32];
	struct user *u;
	struct session *s;
	static unsigned long pushes;

	snprintf(bare, sizeof bare, "%s@%s", r->local, r->host);
	if ((u = user_find(bare)) == NULL)
		return;
	snprintf(ver, sizeof ver, "%" PRIu64, roster_version(r));
	for (s = u->sessions; s != NULL; s = s->next) {
		struct xml_arena *a;
		struct xml_node *iq, *q, *it;
		if (!s->interested)
			continue;
		a = xml_arena_new();
		iq = xml_new(a, "iq", NS_CLIENT);
		xml_set_attr(iq, "type", "set");
		snprintf(id, sizeof id, "push%lu", ++pushes);
		xml_set_attr(iq, "id", id);
		xml_set_attr(iq, "to", s->full);
		q = xml_add(iq, "query", NS_ROSTER);
		xml_set_attr(q, "ver", ver);
		it = xml_append_copy(q, item);
		if (removed) {
			xml_set_attr(it, "subscription", "remove");
			xml_set_attr(it, "ask", NULL);
			xml_set_attr(it, "approved", NULL);
		}
		session_send(s, iq);
		xml_arena_free(a);
	}
}

int
roster_is_subscriber(const char *host, const char *local, const struct jid *who)
{
	struct roster r;
	struct jid j = *who;
	char bare[JID_MAX + 1];
	int ok;

	j.resource[0] = '\0';
	if (jid_bare(&j, bare, sizeof bare) == -1 || roster_load(host, local, &r) == -1)
		return 0;
	ok = (roster_sub(roster_item(&r, bare)) & SUB_FROM) != 0;
	roster_free(&r);
	return ok;
}

/* ---- roster get / set ---- */

static enum stanza_error
roster_get(struct iq_req *rq)
{
	struct roster r;
	struct xml_node *reply, *q, *i;
	const char *want = xml_attr(rq->payload, "ver");
	char ver[32];

	if (rq->sess != NULL)
		rq->sess->interested = 1;
	if (roster_load(rq->from.domain, rq->from.local, &r) == -1)
		return ERR_INTERNAL_SERVER_ERROR;
	snprintf(ver, sizeof ver, "%" PRIu64, roster_version(&r));
	reply = iq_result(rq);
	if (want == NULL || strcmp(want, ver) != 0) {
		q = xml_add(reply, "query", NS_ROSTER);
		if (want != NULL)
			xml_set_attr(q, "ver", ver);
		else
			xml_set_attr(q, "ver", ver);
		for (i = xml_child(r.root, "item", NULL); i; i = xml_next(i, "item", NULL))
			xml_append_copy(q, i);
	}
	/* else RFC 6121 2.6.3: an empty result, pushes follow as changes happen */
	iq_reply(rq, reply);
	roster_free(&r);
	return ERR_NONE;
}

/* Validate the groups of a set item: non-empty, bounded, no duplicates. */
static enum stanza_error
check_groups(const struct xml_node *item)
{
	struct xml_node *g, *h;
	size_t n = 0;

	for (g = xml_child(item, "group", NS_ROSTER); g; g = xml_next(g, "group", NS_ROSTER)) {
		const char *t = xml_text(g);
		if (*t == '\0')
			return ERR_NOT_ACCEPTABLE;
		if (strlen(t) > MAX_GROUP_LEN || ++n > MAX_GROUPS)
			return ERR_NOT_ACCEPTABLE;
		for (h = xml_child(item, "group", NS_ROSTER); h != g;
		    h = xml_next(h, "group", NS_ROSTER))
			if (strcmp(xml_text(h), t) == 0)
				return ERR_BAD_REQUEST;
	}
	return ERR_NONE;
}

/* Tell a contact we are gone from their roster (RFC 6121 2.5.2). */
static void
send_sub(const char *from_bare, const char *to, const char *type)
{
	struct xml_arena *a = xml_arena_new();
	struct xml_node *p = xml_new(a, "presence", NS_CLIENT);

	xml_set_attr(p, "type", type);
	xml_set_attr(p, "from", from_bare);
	xml_set_attr(p, "to", to);
	route(p);
	xml_arena_free(a);
}

static enum stanza_error
roster_remove(struct iq_req *rq, struct roster *r, const char *jid)
{
	struct xml_node *it = roster_item(r, jid);
	char me[JID_MAX + 1];
	int sub, pend;

	pend = roster_pending_in(r, jid);
	if (it == NULL && !pend)
		return ERR_ITEM_NOT_FOUND;
	snprintf(me, sizeof me, "%s@%s", r->local, r->host);
	sub = roster_sub(it);
	roster_set_pending_in(r, jid, 0);
	if (it != NULL)
		roster_item_remove(r, it);
	if (roster_save(r) == -1)
		return ERR_INTERNAL_SERVER_ERROR;
	iq_ok(rq);
	if (it != NULL)
		roster_push(r, it, 1);
	if ((sub & SUB_TO) || roster_ask(it))
		send_sub(me, jid, "unsubscribe");
	if ((sub & SUB_FROM) || pend)
		send_sub(me, jid, "unsubscribed");
	if (sub & SUB_FROM) {
		/* RFC 6121 3.2.2: the former subscriber sees us go. */
		struct user *u = user_find(me);
		for (struct session *s = u ? u->sessions : NULL; s; s = s->next)
			if (s->available)
				send_sub(s->full, jid, "unavailable");
	}
	return ERR_NONE;
}

static enum stanza_error
roster_set(struct iq_req *rq)
{
	struct roster r;
	struct xml_node *item, *it, *g;
	const char *jidattr, *sub, *name;
	struct jid j;
	char jid[JID_MAX + 1];
	enum stanza_error e;

	item = xml_child(rq->payload, "item", NS_ROSTER);
	if (item == NULL || xml_next(item, "item", NS_ROSTER) != NULL)
		return ERR_BAD_REQUEST;		/* exactly one item (2.3.3) */
	jidattr = xml_attr(item, "jid");
	if (jidattr == NULL || jid_parse(&j, jidattr) == -1 ||
	    jid_bare(&j, jid, sizeof jid) == -1)
		return ERR_BAD_REQUEST;
	if (j.resource[0] != '\0')
		return ERR_BAD_REQUEST;
	sub = xml_attr(item, "subscription");
	if (roster_load(rq->from.domain, rq->from.local, &r) == -1)
		return ERR_INTERNAL_SERVER_ERROR;
	if (sub != NULL && strcmp(sub, "remove") == 0) {
		e = roster_remove(rq, &r, jid);
		roster_free(&r);
		return e;
	}
	if ((e = check_groups(item)) != ERR_NONE) {
		roster_free(&r);
		return e;
	}
	name = xml_attr(item, "name");
	if (name != NULL && strlen(name) > MAX_NAME_LEN) {
		roster_free(&r);
		return ERR_NOT_ACCEPTABLE;
	}
	it = roster_item(&r, jid);
	if (it == NULL) {
		if (roster_count(&r) >= server_config()->limits.max_roster_items) {
			roster_free(&r);
			return ERR_NOT_ALLOWED;
		}
		it = roster_item_add(&r, jid);
	}
	/* Only name and groups come from the client; subscription and ask
	 * are the server's (2.1.2.5, 2.3.3 ignore them in a set). */
	xml_set_attr(it, "name", name != NULL && *name ? name : NULL);
	while ((g = xml_child(it, "group", NULL)) != NULL)
		xml_remove(g);
	for (g = xml_child(item, "group", NS_ROSTER); g; g = xml_next(g, "group", NS_ROSTER))
		xml_add_text_child(it, "group", NULL, xml_text(g));
	r.changed = 1;
	if (roster_save(&r) == -1) {
		roster_free(&r);
		return ERR_INTERNAL_SERVER_ERROR;
	}
	iq_ok(rq);
	roster_push(&r, it, 0);
	roster_free(&r);
	return ERR_NONE;
}

static void
roster_features(struct xml_node *features)
{
	xml_add(features, "ver", "urn:xmpp:features:rosterver");
	/* RFC 6121 3.4.1: subscription pre-approval is supported. */
	xml_add(features, "sub", "urn:xmpp:features:pre-approval");
}

static const struct iq_handler roster_iq[] = {
	{ "query", NS_ROSTER, IQ_GET, IQ_TO_SELF, roster_get },
	{ "query", NS_ROSTER, IQ_SET, IQ_TO_SELF, roster_set },
	{ NULL, NULL, 0, 0, NULL }
};

const struct module mod_roster = {
	.name = "roster",
	.always = 1,
	.iq = roster_iq,
	.stream_features = roster_features,
};
