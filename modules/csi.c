/*
 * csi.c - Client State Indication (XEP-0352): while a client says it is
 * <inactive/>, what it would not show the user at once waits here and
 * goes out later, so a phone's radio sleeps more.
 *
 * Held: presence updates (available and unavailable, only the latest per
 * sender full JID is kept), presence errors, and messages without
 * content for the user (chat states, receipts, markers, PEP
 * notifications).  Sent at once: IQs, subscription requests and answers,
 * messages with a body, a subject, an encrypted payload or a call
 * set-up (XEP-0353), and carbons or archive results wrapping one.  Just
 * before such a stanza, everything held goes out in arrival order, so
 * the client never sees a reply before what preceded it.  <active/>
 * flushes too, and so do more than max_queued stanzas or
 * max_queued_bytes of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

#define NS_CSI		"urn:xmpp:csi:0"
#define NS_FORWARD	"urn:xmpp:forward:0"

#define DEFAULT_MAX_QUEUED	100
#define MAX_MAX_QUEUED		10000
#define DEFAULT_MAX_BYTES	524288
#define MIN_MAX_BYTES		4096
#define MAX_MAX_BYTES		16777216

#define BUCKETS		256

/* One inactive session.  Only inactive sessions have a record: active is
 * the state every stream starts in (XEP-0352 5). */
struct csi_state {
	uint64_t	 id;		/* the session's (never reused) */
	struct xml_node	**held;		/* each in its own arena, oldest first */
	size_t		 n, cap;
	size_t		 bytes;		/* arena bytes of held[] */
	struct csi_state *hnext;
};

static struct csi_state	*bucket[BUCKETS];

static struct csi_state **
state_slot(uint64_t id)
{
	struct csi_state **sp = &bucket[id % BUCKETS];

	while (*sp != NULL && (*sp)->id != id)
		sp = &(*sp)->hnext;
	return sp;
}

static struct csi_state *
state_find(uint64_t id)
{
	return *state_slot(id);
}

static void
free_held(struct xml_node **held, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xml_arena_free(held[i]->arena);
	free(held);
}

/* Forget the record of id, dropping whatever it still holds. */
static void
state_remove(uint64_t id)
{
	struct csi_state **sp = state_slot(id), *st = *sp;

	if (st == NULL)
		return;
	*sp = st->hnext;
	free_held(st->held, st->n);
	free(st);
}

/* ---- settings ---- */

/*
 * A whole number from min to max; with 'units', a K or M suffix may
 * follow (as in [limits]).  0, or -1 if v is anything else.
 */
static int
parse_number(const char *v, int units, unsigned long min, unsigned long max,
    unsigned long *out)
{
	unsigned long n = 0, mult = 1;
	const char *p;

	for (p = v; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > max)
			return -1;
	}
	if (p == v)
		return -1;
	if (units && (*p == 'K' || *p == 'k')) {
		mult = 1024;
		p++;
	} else if (units && (*p == 'M' || *p == 'm')) {
		mult = 1024 * 1024;
		p++;
	}
	if (*p != '\0' || n > max / mult)
		return -1;
	n *= mult;
	if (n < min)
		return -1;
	*out = n;
	return 0;
}

static const struct csi_setting {
	const char	*key;
	int		 units;
	unsigned long	 min, max, def;
} settings[] = {
	{ "max_queued", 0, 1, MAX_MAX_QUEUED, DEFAULT_MAX_QUEUED },
	{ "max_queued_bytes", 1, MIN_MAX_BYTES, MAX_MAX_BYTES, DEFAULT_MAX_BYTES },
};

static const struct csi_setting *
setting_find(const char *key)
{
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		if (strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

/* The value in force (config_check has vetted it; a reload may change it). */
static size_t
setting(const char *key)
{
	const struct csi_setting *d = setting_find(key);
	const char *v = config_module_opt(server_config(), "csi", key);
	unsigned long n;

	if (v == NULL || parse_number(v, d->units, d->min, d->max, &n) == -1)
		return d->def;
	return n;
}

static int
csi_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	const struct csi_setting *d = setting_find(key);
	unsigned long n;

	if (d == NULL) {
		snprintf(err, errlen, "unknown key '%.64s' in [csi] (known: "
		    "max_queued, max_queued_bytes)", key);
		return -1;
	}
	if (parse_number(value, d->units, d->min, d->max, &n) == -1) {
		snprintf(err, errlen, "[csi] %s: expected a whole number from "
		    "%lu to %lu%s, not '%.64s'", key, d->min, d->max,
		    d->units ? " (bytes; K and M suffixes allowed)" : "", value);
		return -1;
	}
	return 0;
}

/* ---- what matters now ---- */

/* Content the user is shown (or rung for) at once. */
static int
message_is_urgent(const struct xml_node *m)
{
	static const char *const urgent_ns[] = {
		"eu.siacs.conversations.axolotl",	/* OMEMO (legacy) */
		"urn:xmpp:omemo:2",			/* OMEMO */
		"urn:xmpp:openpgp:0",			/* OX */
		"jabber:x:encrypted",			/* legacy OpenPGP */
		"urn:xmpp:jingle-message:0",		/* a call rings */
		"urn:xmpp:jingle-message:1",
		NULL
	};

	for (struct xml_node *c = m->children; c != NULL; c = c->next) {
		if (c->name == NULL)
			continue;
		if ((strcmp(c->name, "body") == 0 ||
		    strcmp(c->name, "subject") == 0) &&
		    strcmp(c->ns, m->ns) == 0)
			return 1;
		for (const char *const *ns = urgent_ns; *ns != NULL; ns++)
			if (strcmp(c->ns, *ns) == 0)
				return 1;
	}
	return 0;
}

/*
 * A message wrapping another in a XEP-0297 <forwarded/> (carbons'
 * <sent/>/<received/>, an archive's <result/>) is as urgent as the
 * message inside.  One level only: a forwarded copy is never unwrapped
 * again, so a deep stanza costs nothing.
 */
static int
message_is_important(const struct xml_node *m)
{
	struct xml_node *c, *f, *inner;

	if (message_is_urgent(m))
		return 1;
	for (c = m->children; c != NULL; c = c->next) {
		if (c->name == NULL ||
		    (f = xml_child(c, "forwarded", NS_FORWARD)) == NULL)
			continue;
		if ((inner = xml_child(f, "message", NULL)) != NULL &&
		    message_is_urgent(inner))
			return 1;
	}
	return 0;
}

enum hold { SEND_NOW, HOLD, HOLD_LATEST };

static enum hold
classify(const struct xml_node *st)
{
	if (xml_is(st, "presence", NULL)) {
		const char *t = xml_attr(st, "type");
		if (t == NULL || strcmp(t, "unavailable") == 0)
			return xml_attr(st, "from") != NULL ? HOLD_LATEST : HOLD;
		if (strcmp(t, "error") == 0)
			return HOLD;
		return SEND_NOW;	/* subscription requests and answers */
	}
	if (xml_is(st, "message", NULL))
		return message_is_important(st) ? SEND_NOW : HOLD;
	return SEND_NOW;		/* IQs: someone waits for them */
}

/* ---- holding and flushing ---- */

/*
 * Write everything held for s, oldest first, and forget it.  Writing can
 * end the session (a slow consumer is closed at once, which runs
 * session_end and frees s), so the queue is taken out of the record
 * first and the session looked up again after each stanza.  Returns 0,
 * or -1 if the session is gone (s must not be used then).
 */
static int
flush(struct session *s, struct csi_state *st)
{
	struct xml_node **held = st->held;
	size_t n = st->n, i;
	uint64_t id = s->id;
	char full[JID_MAX + 1];
	int rc = 0;

	if (n == 0)
		return 0;
	st->held = NULL;
	st->n = st->cap = st->bytes = 0;
	strlcpy_ok(full, s->full, sizeof full);
	log_debug("csi: %zu held stanza(s) to %s", n, full);
	for (i = 0; i < n; i++) {
		if ((s = session_find(full)) == NULL || s->id != id) {
			rc = -1;
			break;
		}
		session_deliver(s, held[i]);
	}
	if (rc == 0 && ((s = session_find(full)) == NULL || s->id != id))
		rc = -1;
	free_held(held, n);
	return rc;
}

static void
drop_held(struct csi_state *st, size_t i)
{
	st->bytes -= xml_arena_size(st->held[i]->arena);
	xml_arena_free(st->held[i]->arena);
	memmove(st->held + i, st->held + i + 1,
	    (st->n - i - 1) * sizeof *st->held);
	st->n--;
}

/* Keep a copy of stanza for later; 1 = held, 0 = the limits say send
 * everything now (the copy is then the last held), -1 = session gone. */
static int
hold(struct session *s, struct csi_state *st, const struct xml_node *stanza,
    enum hold how)
{
	size_t max_n = setting("max_queued");
	size_t max_bytes = setting("max_queued_bytes");
	struct xml_node *c;
	const char *from = xml_attr(stanza, "from");

	/* A newer presence from the same sender makes the held one moot;
	 * the new one goes to the end, after what came in between. */
	if (how == HOLD_LATEST)
		for (size_t i = 0; i < st->n; i++) {
			const struct xml_node *h = st->held[i];
			const char *t = xml_attr(h, "type");
			const char *hf = xml_attr(h, "from");
			if (xml_is(h, "presence", NULL) && hf != NULL &&
			    strcmp(hf, from) == 0 &&
			    (t == NULL || strcmp(t, "unavailable") == 0)) {
				drop_held(st, i);
				break;	/* there is never more than one */
			}
		}
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 16;
		st->held = xrealloc(st->held, cap * sizeof *st->held);
		st->cap = cap;
	}
	c = xml_copy(xml_arena_new(), stanza);
	st->held[st->n++] = c;
	st->bytes += xml_arena_size(c->arena);
	if (st->n > max_n || st->bytes > max_bytes) {
		log_debug("csi: queue of %s over its limit (%zu stanzas, %zu "
		    "bytes): flushed", s->full, st->n, st->bytes);
		return flush(s, st) == -1 ? -1 : 0;
	}
	return 1;
}

/* ---- hooks ---- */

static int
csi_filter(struct session *s, const struct xml_node *stanza)
{
	struct csi_state *st = state_find(s->id);
	enum hold how;

	if (st == NULL)
		return 0;		/* active */
	how = classify(stanza);
	if (how == SEND_NOW)
		/* What waited goes first; if that ended the session, the
		 * stanza has nowhere to go: say it was taken. */
		return flush(s, st) == -1 ? 1 : 0;
	/* Held, or held and flushed with the rest: taken either way. */
	hold(s, st, stanza, how);
	return 1;
}

/*
 * Back to active: everything held goes out and the record is forgotten
 * (whatever the flush does to the session).  Also what a stream resumed
 * with XEP-0198 needs: XEP-0352 5.2 says a resumed stream starts active.
 */
static void
csi_set_active(struct session *s)
{
	uint64_t id = s->id;
	struct csi_state *st;

	if ((st = state_find(id)) == NULL)
		return;
	log_debug("csi: %s active", s->full);
	flush(s, st);
	state_remove(id);
}

static int
csi_stream_element(struct session *s, struct xml_node *el)
{
	struct csi_state **sp, *st;

	if (el->ns == NULL || strcmp(el->ns, NS_CSI) != 0)
		return 0;
	if (strcmp(el->name, "inactive") == 0) {
		sp = state_slot(s->id);
		if (*sp == NULL) {
			st = xcalloc(1, sizeof *st);
			st->id = s->id;
			*sp = st;
			log_debug("csi: %s inactive", s->full);
		}
		return 1;
	}
	if (strcmp(el->name, "active") == 0) {
		csi_set_active(s);
		return 1;
	}
	return 0;		/* not ours: the stream answers it */
}

static void
csi_features(struct xml_node *features)
{
	xml_add(features, "csi", NS_CSI);
}

static void
csi_session_end(struct session *s)
{
	/* Nothing held is worth keeping: presence and chat states of a
	 * session that is gone. */
	state_remove(s->id);
}

static void
csi_fini(void)
{
	for (size_t i = 0; i < BUCKETS; i++)
		while (bucket[i] != NULL)
			state_remove(bucket[i]->id);
}

const struct module mod_csi = {
	.name = "csi",
	.session_filter = csi_filter,
	.stream_element = csi_stream_element,
	.stream_features = csi_features,
	.session_end = csi_session_end,
	.fini = csi_fini,
	.config_check = csi_config_check,
	.session_resumed = csi_set_active,	/* XEP-0352 5.2 */
};
