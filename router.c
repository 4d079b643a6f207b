/*
 * router.c - the routing table (accounts online and their sessions) and
 * the delivery rules of RFC 6120 section 10 and RFC 6121 section 8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "s2s.h"

#define USER_BUCKETS	4096

static struct user	*ubucket[USER_BUCKETS];
static size_t		 nsessions;
static uint64_t		 next_session_id = 1;

struct session_priv {
	struct session		 s;
	struct jid		 jid;
	const struct session_ops *ops;
};

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % USER_BUCKETS;
}

struct user *
user_find(const char *bare)
{
	struct user *u;

	for (u = ubucket[hash(bare)]; u != NULL; u = u->hnext)
		if (strcmp(u->bare, bare) == 0)
			return u;
	return NULL;
}

struct session *
session_find(const char *full)
{
	struct jid j;
	char bare[JID_MAX + 1];
	struct user *u;
	struct session *s;

	if (jid_parse(&j, full) == -1 || j.resource[0] == '\0' ||
	    jid_bare(&j, bare, sizeof bare) == -1)
		return NULL;
	if ((u = user_find(bare)) == NULL)
		return NULL;
	for (s = u->sessions; s != NULL; s = s->next)
		if (strcmp(s->resource, j.resource) == 0)
			return s;
	return NULL;
}

size_t
router_session_count(void)
{
	return nsessions;
}

void
session_deliver(struct session *s, const struct xml_node *st)
{
	struct session_priv *p = (struct session_priv *)s;

	p->ops->send(s->stream, st);
}

void
session_send(struct session *s, const struct xml_node *st)
{
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->session_filter && module_enabled(*m) &&
		    (*m)->session_filter(s, st))
			return;
	session_deliver(s, st);
}

/* Tell the modules which sessions got a message. */
static void
delivered(const struct xml_node *msg, struct session *const *to, size_t n)
{
	if (n == 0)
		return;
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->message_delivered && module_enabled(*m))
			(*m)->message_delivered(msg, to, n);
}

static void
make_resource(char *out, size_t outlen)
{
	unsigned char r[9];
	char b[16];

	random_bytes(r, sizeof r);
	b64_encode(r, sizeof r, b, sizeof b);
	for (char *p = b; *p; p++)
		if (*p == '/' || *p == '+')
			*p = 'x';
	snprintf(out, outlen, "xmppd-%s", b);
}

struct session *
session_bind(const char *host, const char *local, const char *resource,
    const struct session_ops *ops, void *stream, enum stanza_error *err)
{
	const struct config *cfg = server_config();
	struct session_priv *p;
	struct session *old;
	struct user *u;
	char res[JID_PART_MAX + 1];
	char bare[JID_MAX + 1];

	if (resource == NULL || *resource == '\0')
		make_resource(res, sizeof res);
	else if (strlcpy_ok(res, resource, sizeof res) == -1 ||
	    jid_prep_resource(res) == -1) {
		*err = ERR_BAD_REQUEST;
		return NULL;
	}
	if (snprintf(bare, sizeof bare, "%s@%s", local, host) >= (int)sizeof bare) {
		*err = ERR_BAD_REQUEST;
		return NULL;
	}
	u = user_find(bare);
	if (u != NULL) {
		/* RFC 6120 7.7.2.2: the new session wins, the old one is told. */
		for (old = u->sessions; old != NULL; old = old->next)
			if (strcmp(old->resource, res) == 0)
				break;
		if (old != NULL) {
			struct session_priv *op = (struct session_priv *)old;
			log_info("session %s replaced by a new login", old->full);
			op->ops->kick(old->stream, "conflict",
			    "Replaced by new connection");
			u = user_find(bare);	/* the kick may have freed it */
		} else if (u->nsessions >= cfg->limits.max_resources) {
			*err = ERR_RESOURCE_CONSTRAINT;
			return NULL;
		}
	}
	p = xcalloc(1, sizeof *p);
	p->ops = ops;
	p->s.id = next_session_id++;
	p->s.jid = &p->jid;
	if (strlcpy_ok(p->jid.local, local, sizeof p->jid.local) == -1 ||
	    strlcpy_ok(p->jid.domain, host, sizeof p->jid.domain) == -1 ||
	    strlcpy_ok(p->jid.resource, res, sizeof p->jid.resource) == -1 ||
	    jid_full(&p->jid, p->s.full, sizeof p->s.full) == -1) {
		free(p);
		*err = ERR_BAD_REQUEST;
		return NULL;
	}
	strlcpy_ok(p->s.bare, bare, sizeof p->s.bare);
	p->s.local = p->jid.local;
	p->s.host = p->jid.domain;
	p->s.resource = p->jid.resource;
	p->s.stream = stream;
	p->s.started = wall_time();
	if (u == NULL) {
		unsigned h = hash(bare);
		u = xcalloc(1, sizeof *u);
		strlcpy_ok(u->bare, bare, sizeof u->bare);
		strlcpy_ok(u->local, local, sizeof u->local);
		strlcpy_ok(u->host, host, sizeof u->host);
		u->hnext = ubucket[h];
		ubucket[h] = u;
	}
	p->s.user = u;
	p->s.next = u->sessions;
	u->sessions = &p->s;
	u->nsessions++;
	nsessions++;
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->session_bound && module_enabled(*m))
			(*m)->session_bound(&p->s);
	return &p->s;
}

void
session_unbind(struct session *s)
{
	struct user *u = s->user, **up;
	struct session **sp;
	const struct module *const *all = modules_all(), *const *m;

	/* Teardown in reverse table order: presence says goodbye while the
	 * filters before it (privacy) still know the session. */
	for (m = all; *m; m++)
		;
	while (m-- > all)
		if ((*m)->session_end && module_enabled(*m))
			(*m)->session_end(s);
	for (sp = &u->sessions; *sp != NULL; sp = &(*sp)->next)
		if (*sp == s) {
			*sp = s->next;
			break;
		}
	u->nsessions--;
	nsessions--;
	if (u->sessions == NULL) {
		for (up = &ubucket[hash(u->bare)]; *up != NULL; up = &(*up)->hnext)
			if (*up == u) {
				*up = u->hnext;
				break;
			}
		free(u);
	}
	if (s->presence != NULL)
		xml_arena_free(s->presence->arena);
	for (size_t i = 0; i < s->directed.n; i++)
		free(s->directed.v[i]);
	free(s->directed.v);
	free(s);
}

void
router_kick_user(const char *bare, const char *condition, const char *text)
{
	struct user *u;

	while ((u = user_find(bare)) != NULL && u->sessions != NULL) {
		struct session_priv *p = (struct session_priv *)u->sessions;
		unsigned before = u->nsessions;
		p->ops->kick(p->s.stream, condition, text);
		if ((u = user_find(bare)) == NULL || u->nsessions == before)
			break;	/* kick did not unbind: avoid looping */
	}
}

void
sessions_each(void (*fn)(struct session *, void *), void *arg)
{
	router_each_session(fn, arg);
}

size_t
sessions_count(void)
{
	return nsessions;
}

void
router_each_session(void (*fn)(struct session *, void *), void *arg)
{
	for (size_t i = 0; i < USER_BUCKETS; i++) {
		struct user *u, *unext;
		for (u = ubucket[i]; u != NULL; u = unext) {
			struct session *s, *snext;
			unext = u->hnext;
			for (s = u->sessions; s != NULL; s = snext) {
				snext = s->next;
				fn(s, arg);
			}
		}
	}
}

/* ---- errors ---- */

static const struct {
	const char *name, *type;
} errs[ERR_COUNT] = {
	[ERR_NONE] = { "undefined-condition", "cancel" },
	[ERR_BAD_REQUEST] = { "bad-request", "modify" },
	[ERR_CONFLICT] = { "conflict", "cancel" },
	[ERR_FEATURE_NOT_IMPLEMENTED] = { "feature-not-implemented", "cancel" },
	[ERR_FORBIDDEN] = { "forbidden", "auth" },
	[ERR_GONE] = { "gone", "cancel" },
	[ERR_INTERNAL_SERVER_ERROR] = { "internal-server-error", "cancel" },
	[ERR_ITEM_NOT_FOUND] = { "item-not-found", "cancel" },
	[ERR_JID_MALFORMED] = { "jid-malformed", "modify" },
	[ERR_NOT_ACCEPTABLE] = { "not-acceptable", "modify" },
	[ERR_NOT_ALLOWED] = { "not-allowed", "cancel" },
	[ERR_NOT_AUTHORIZED] = { "not-authorized", "auth" },
	[ERR_POLICY_VIOLATION] = { "policy-violation", "modify" },
	[ERR_RECIPIENT_UNAVAILABLE] = { "recipient-unavailable", "wait" },
	[ERR_REDIRECT] = { "redirect", "modify" },
	[ERR_REGISTRATION_REQUIRED] = { "registration-required", "auth" },
	[ERR_REMOTE_SERVER_NOT_FOUND] = { "remote-server-not-found", "cancel" },
	[ERR_REMOTE_SERVER_TIMEOUT] = { "remote-server-timeout", "wait" },
	[ERR_RESOURCE_CONSTRAINT] = { "resource-constraint", "wait" },
	[ERR_SERVICE_UNAVAILABLE] = { "service-unavailable", "cancel" },
	[ERR_SUBSCRIPTION_REQUIRED] = { "subscription-required", "auth" },
	[ERR_UNDEFINED_CONDITION] = { "undefined-condition", "cancel" },
	[ERR_UNEXPECTED_REQUEST] = { "unexpected-request", "wait" },
};

const char *
stanza_error_name(enum stanza_error e)
{
	return e > ERR_NONE && e < ERR_COUNT ? errs[e].name : "undefined-condition";
}

const char *
stanza_error_type(enum stanza_error e)
{
	return e > ERR_NONE && e < ERR_COUNT ? errs[e].type : "cancel";
}

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/*
 * The error reply to orig in a new arena, or NULL when none may be sent.
 * A stanza without 'from' (pre-authentication) gets a reply without 'to'.
 */
static struct xml_node *
make_error(const struct xml_node *orig, enum stanza_error e, const char *text)
{
	struct xml_arena *a;
	struct xml_node *r, *er;
	const char *type = xml_attr(orig, "type");
	const char *from = xml_attr(orig, "from"), *to = xml_attr(orig, "to");

	/* RFC 6120 8.3.1: never answer an error with an error (nor a result). */
	if (type != NULL && (strcmp(type, "error") == 0 ||
	    (xml_is(orig, "iq", NULL) && strcmp(type, "result") == 0)))
		return NULL;
	a = xml_arena_new();
	r = xml_new(a, orig->name, orig->ns);
	xml_set_attr(r, "type", "error");
	if (from != NULL)
		xml_set_attr(r, "to", from);
	if (to != NULL)
		xml_set_attr(r, "from", to);
	if (xml_attr(orig, "id") != NULL)
		xml_set_attr(r, "id", xml_attr(orig, "id"));
	/* The request is not echoed (RFC 6120 8.3.1 allows either): it may
	 * carry a password (XEP-0077 3.3), and clients match by id. */
	er = xml_add(r, "error", NULL);
	xml_set_attr(er, "type", stanza_error_type(e));
	xml_add(er, stanza_error_name(e), NS_STANZAS);
	if (text != NULL)
		xml_add_text_child(er, "text", NS_STANZAS, text);
	return r;
}

void
route_error(const struct xml_node *orig, enum stanza_error e, const char *text)
{
	struct xml_node *r;

	if (xml_attr(orig, "from") == NULL ||
	    (r = make_error(orig, e, text)) == NULL)
		return;
	route(r);
	xml_arena_free(r->arena);
}

void
iq_error(const struct iq_req *req, enum stanza_error e, const char *text)
{
	struct xml_node *r = make_error(req->iq, e, text);

	if (r == NULL)
		return;
	if (req->reply_fn != NULL)
		req->reply_fn(req, r);
	else if (xml_attr(r, "to") != NULL)
		route(r);
	xml_arena_free(r->arena);
}

/* ---- IQ plumbing ---- */

struct xml_node *
iq_result(const struct iq_req *r)
{
	struct xml_arena *a = xml_arena_new();
	struct xml_node *n = xml_new(a, "iq", NS_CLIENT);

	xml_set_attr(n, "type", "result");
	if (r->id != NULL)
		xml_set_attr(n, "id", r->id);
	if (r->from_str != NULL)
		xml_set_attr(n, "to", r->from_str);
	if (r->to_str != NULL)
		xml_set_attr(n, "from", r->to_str);
	return n;
}

void
iq_reply(const struct iq_req *r, struct xml_node *reply)
{
	if (r->reply_fn != NULL)
		r->reply_fn(r, reply);
	else
		route(reply);
	xml_arena_free(reply->arena);
}

enum stanza_error
iq_ok(const struct iq_req *r)
{
	iq_reply(r, iq_result(r));
	return ERR_NONE;
}

/*
 * An IQ get/set for the server or on behalf of an account.  Checks the
 * shape RFC 6120 8.2.3 demands (an id, exactly one payload child) and
 * hands it to the modules.
 */
static void
dispatch_iq(struct xml_node *iq, const struct jid *from, const struct jid *to,
    int where, struct session *sess)
{
	struct iq_req r;
	const char *type = xml_attr(iq, "type");
	struct xml_node *c, *payload = NULL;
	int nchild = 0;
	char tobuf[JID_MAX + 1];

	memset(&r, 0, sizeof r);
	for (c = iq->children; c != NULL; c = c->next)
		if (c->name != NULL) {
			nchild++;
			payload = c;
		}
	if (nchild != 1) {
		route_error(iq, ERR_BAD_REQUEST, "An IQ request needs exactly one child element");
		return;
	}
	r.iq = iq;
	r.payload = payload;
	r.type = strcmp(type, "get") == 0 ? IQ_GET : IQ_SET;
	r.where = where;
	r.id = xml_attr(iq, "id");
	r.from = *from;
	r.from_str = xml_attr(iq, "from");
	r.to = *to;
	r.to.resource[0] = '\0';
	if (jid_bare(&r.to, tobuf, sizeof tobuf) == -1)
		return;
	/* Answer from exactly the address the request went to. */
	r.to_str = xml_attr(iq, "to");
	r.sess = sess;
	modules_dispatch_iq(&r);
}

static void
iq_response(struct xml_node *st, const struct jid *to)
{
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->iq_response && module_enabled(*m) &&
		    (*m)->iq_response(st, to))
			return;
}

static int
type_is(const struct xml_node *st, const char *t)
{
	const char *type = xml_attr(st, "type");

	if (type == NULL)
		return t == NULL || strcmp(t, "normal") == 0;
	return t != NULL && strcmp(type, t) == 0;
}

static int
iq_is_request(const struct xml_node *st)
{
	return type_is(st, "get") || type_is(st, "set");
}

/* Available sessions with the highest non-negative priority (or all
 * non-negative ones); returns how many got it. */
static int
deliver_to_best(struct user *u, struct xml_node *st, int all_nonneg)
{
	struct session *s, *got[64];
	int best = -129, n = 0;
	size_t ngot = 0;

	for (s = u->sessions; s != NULL; s = s->next)
		if (s->available && s->priority >= 0 && s->priority > best)
			best = s->priority;
	if (best < 0)
		return 0;
	for (s = u->sessions; s != NULL; s = s->next)
		if (s->available && s->priority >= 0 &&
		    (all_nonneg || s->priority == best)) {
			session_send(s, st);
			if (ngot < sizeof got / sizeof got[0])
				got[ngot++] = s;
			n++;
		}
	delivered(st, got, ngot);
	return n;
}

static void
message_offline(struct xml_node *st, const struct jid *to)
{
	enum stanza_error err = ERR_SERVICE_UNAVAILABLE;

	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->offline && module_enabled(*m) && (*m)->offline(st, to, &err))
			return;
	route_error(st, err, NULL);
}

/* RFC 6121 8.5.2 (bare JID) and 8.5.3 (full JID) for messages. */
static void
deliver_message(struct xml_node *st, const struct jid *to)
{
	char bare[JID_MAX + 1];
	struct user *u;
	struct session *s = NULL;
	const char *type = xml_attr(st, "type");

	if (type == NULL || *type == '\0')
		type = "normal";
	jid_bare(to, bare, sizeof bare);
	u = user_find(bare);
	if (to->resource[0] != '\0' && u != NULL)
		for (s = u->sessions; s != NULL; s = s->next)
			if (strcmp(s->resource, to->resource) == 0)
				break;
	if (s != NULL) {
		session_send(s, st);
		delivered(st, &s, 1);
		return;
	}
	if (strcmp(type, "error") == 0)
		return;				/* silently dropped */
	if (strcmp(type, "groupchat") == 0) {
		route_error(st, ERR_SERVICE_UNAVAILABLE, NULL);
		return;
	}
	if (strcmp(type, "headline") == 0) {
		if (to->resource[0] == '\0' && u != NULL)
			deliver_to_best(u, st, 1);
		return;				/* never stored */
	}
	if (strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0) {
		route_error(st, ERR_BAD_REQUEST, "Unknown message type");
		return;
	}
	if (u != NULL && deliver_to_best(u, st, 0) > 0)
		return;
	message_offline(st, to);
}

void
route_local_default(struct xml_node *st, const struct jid *to)
{
	char bare[JID_MAX + 1];
	struct user *u;
	struct session *s;

	if (xml_is(st, "message", NULL)) {
		deliver_message(st, to);
		return;
	}
	jid_bare(to, bare, sizeof bare);
	u = user_find(bare);
	if (to->resource[0] != '\0') {
		s = u ? session_find(xml_attr(st, "to")) : NULL;
		if (s != NULL)
			session_send(s, st);
		else if (xml_is(st, "iq", NULL) && iq_is_request(st))
			route_error(st, ERR_SERVICE_UNAVAILABLE, NULL);
		return;
	}
	if (xml_is(st, "presence", NULL)) {
		if (u != NULL)
			for (s = u->sessions; s != NULL; s = s->next)
				if (s->available)
					session_send(s, st);
		return;
	}
	if (xml_is(st, "iq", NULL) && iq_is_request(st)) {
		struct jid from;
		const char *f = xml_attr(st, "from");
		if (f == NULL || jid_parse(&from, f) == -1)
			return;
		dispatch_iq(st, &from, to,
		    strcmp(from.local, to->local) == 0 &&
		    strcmp(from.domain, to->domain) == 0 ? IQ_TO_SELF : IQ_TO_CONTACT,
		    NULL);
		return;
	}
	/* IQ results/errors for a bare JID: answers to a module's query. */
	if (xml_is(st, "iq", NULL))
		iq_response(st, to);
}

static void
route_to_local(struct xml_node *st, const struct jid *to)
{
	char bare[JID_MAX + 1];

	/* Online means it exists: no file system call on the hot path. */
	if ((jid_bare(to, bare, sizeof bare) == -1 || user_find(bare) == NULL) &&
	    !account_exists(to->domain, to->local)) {
		/* RFC 6121 8.5.1: no such account. */
		if (xml_is(st, "presence", NULL))
			return;
		if (xml_is(st, "iq", NULL) && !iq_is_request(st))
			return;
		route_error(st, ERR_SERVICE_UNAVAILABLE, NULL);
		return;
	}
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->inbound && module_enabled(*m) && (*m)->inbound(st, to))
			return;
	route_local_default(st, to);
}

static void
route_to_host(struct xml_node *st, const struct jid *to)
{
	struct jid from;
	const char *f = xml_attr(st, "from");

	if (xml_is(st, "iq", NULL)) {
		if (!iq_is_request(st)) {
			iq_response(st, to);	/* e.g. answers to our pings */
			return;
		}
		if (f == NULL || jid_parse(&from, f) == -1)
			return;
		dispatch_iq(st, &from, to, IQ_TO_SERVER, session_find(f));
		return;
	}
	/* Messages and presence for the server itself: let modules look
	 * (announcements, probes); otherwise nothing to do. */
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->inbound && module_enabled(*m) && (*m)->inbound(st, to))
			return;
	if (xml_is(st, "message", NULL) && !type_is(st, "error") &&
	    !type_is(st, "groupchat") && !type_is(st, "headline"))
		route_error(st, ERR_SERVICE_UNAVAILABLE, NULL);
}

void
route(struct xml_node *st)
{
	const char *t = xml_attr(st, "to");
	struct jid to;

	if (t == NULL) {
		log_debug("route: stanza without 'to' dropped");
		return;
	}
	if (jid_parse(&to, t) == -1) {
		route_error(st, ERR_JID_MALFORMED, NULL);
		return;
	}
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->route_filter && module_enabled(*m) &&
		    (*m)->route_filter(st, &to))
			return;
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->serves_domain && module_enabled(*m) &&
		    (*m)->serves_domain(to.domain)) {
			(*m)->component_route(st, &to);
			return;
		}
	if (!host_is_local(to.domain)) {
		if (server_config()->s2s_ports.n + server_config()->s2s_direct_tls_ports.n == 0 &&
		    xml_is(st, "presence", NULL)) {
			/* Federation is off: presence errors would be noise. */
			log_debug("route: presence for remote %s dropped", to.domain);
			return;
		}
		s2s_send(st, &to);
		return;
	}
	if (to.local[0] == '\0')
		route_to_host(st, &to);
	else
		route_to_local(st, &to);
}

/*
 * Accounts deleted by `xmppd deluser` (another process) while online:
 * their sessions are ended here, before anything they send could write
 * into the account again.
 */
void
router_sweep_deleted(void)
{
	/* A slice of the table per call, so that thousands of online users
	 * never stall the loop with one access() each at once. */
	static size_t next_bucket;

	for (size_t k = 0; k < USER_BUCKETS / 16; k++) {
		size_t i = next_bucket;
		struct user *u, *next;
		next_bucket = (next_bucket + 1) % USER_BUCKETS;
		for (u = ubucket[i]; u != NULL; u = next) {
			next = u->hnext;
			if (!account_exists(u->host, u->local)) {
				char bare[JID_MAX + 1];
				strlcpy_ok(bare, u->bare, sizeof bare);
				log_info("account %s was deleted: ending its sessions",
				    bare);
				router_kick_user(bare, "not-authorized",
				    "Account deleted");
			}
		}
	}
}

void
router_from_client(struct session *s, struct xml_node *st)
{
	const char *t = xml_attr(st, "to");
	struct jid to;

	/* What a client asks of its own account (IQs: rosters, vCards ...)
	 * needs the account; one access() is cheap next to the work. */
	if (xml_is(st, "iq", NULL) && !account_exists(s->host, s->local)) {
		char bare[JID_MAX + 1];
		/* A copy: the kick frees the session and its strings. */
		strlcpy_ok(bare, s->bare, sizeof bare);
		router_kick_user(bare, "not-authorized", "Account deleted");
		return;
	}

	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->outbound && module_enabled(*m) && (*m)->outbound(s, st))
			return;
	if (t == NULL) {
		if (xml_is(st, "iq", NULL)) {
			/* RFC 6120 10.3.3: handled on behalf of the account. */
			if (iq_is_request(st))
				dispatch_iq(st, s->jid, s->jid, IQ_TO_SELF, s);
			return;
		}
		if (xml_is(st, "presence", NULL))
			return;		/* the presence module broadcasts */
		/* RFC 6121 8.1.1.1: a message without 'to' is for our bare JID. */
		xml_set_attr(st, "to", s->bare);
		t = s->bare;
	}
	if (jid_parse(&to, t) == -1) {
		route_error(st, ERR_JID_MALFORMED, NULL);
		return;
	}
	if (xml_is(st, "iq", NULL) && iq_is_request(st) && to.resource[0] == '\0' &&
	    strcmp(to.local, s->local) == 0 && strcmp(to.domain, s->host) == 0) {
		dispatch_iq(st, s->jid, &to, IQ_TO_SELF, s);
		return;
	}
	route(st);
}
