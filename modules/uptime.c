/*
 * uptime.c - last activity (XEP-0012).  Asked of the server: how long it
 * has been running.  Asked of an account's bare JID: 0 while the account
 * has an available resource, else how long ago its last session ended,
 * with the status text of its last unavailable presence; only the owner
 * and contacts allowed to see its presence may ask, others get forbidden
 * (XEP-0012 section 4).  Prosody calls the account half "lastactivity".
 *
 * When the last session of an account ends, its directory gets the file
 *
 *   <last xmlns='jabber:iq:last' version='1' logout='1764093350'>Gone</last>
 *
 * The presence module consumes a client's unavailable presence before
 * any later module sees it, so the status text is taken from the copies
 * presence routes to contacts and directed-presence targets (route_filter),
 * and remembered per session until the session ends.  An account with no
 * such contacts therefore leaves no status text: only contacts may read
 * it, and there were none to send it to.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster.h"

#define NS_LAST			"jabber:iq:last"
#define LAST_FILE		"lastlogout"
#define LAST_FORMAT		"1"
#define STATUS_DEFAULT		1024
#define STATUS_HARD_MAX		16384
/* Escaping can make text six times longer (' is written &apos;). */
#define LAST_MAX_FILE		(6 * STATUS_HARD_MAX + 512)
#define STATUS_BUCKETS		256

static const struct xml_limits stored_limits = { LAST_MAX_FILE, 2, 8, 64 };

/* Status text of the last unavailable presence seen from a session. */
struct gone {
	uint64_t	 sid;
	char		*text;		/* NULL: that presence had none */
	struct gone	*next;
};
static struct gone	*gone[STATUS_BUCKETS];

static struct gone **
gone_slot(uint64_t sid)
{
	struct gone **gp;

	for (gp = &gone[sid % STATUS_BUCKETS]; *gp != NULL; gp = &(*gp)->next)
		if ((*gp)->sid == sid)
			break;
	return gp;
}

static void
gone_forget(uint64_t sid)
{
	struct gone **gp = gone_slot(sid), *g = *gp;

	if (g == NULL)
		return;
	*gp = g->next;
	free(g->text);
	free(g);
}

/* Bytes of s that fit in max without cutting a UTF-8 character. */
static size_t
cut_utf8(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static void
gone_remember(uint64_t sid, const char *text, size_t max)
{
	struct gone **gp = gone_slot(sid);
	size_t n = text != NULL ? cut_utf8(text, max) : 0;

	if (*gp == NULL) {
		*gp = xcalloc(1, sizeof **gp);
		(*gp)->sid = sid;
	} else if (n > 0 && (*gp)->text != NULL &&
	    strncmp(text, (*gp)->text, n) == 0 && (*gp)->text[n] == '\0')
		return;		/* one copy per contact: the same text again */
	free((*gp)->text);
	(*gp)->text = n > 0 ? xstrndup(text, n) : NULL;
}

/* Decimal digits only, at most max.  0 / -1. */
static int
parse_count(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

/* [uptime] max_status_size: bytes of status text kept; 0 keeps none. */
static size_t
max_status(void)
{
	const char *v = config_module_opt(server_config(), "uptime",
	    "max_status_size");
	unsigned long n;

	if (v == NULL || parse_count(v, STATUS_HARD_MAX, &n) == -1)
		return STATUS_DEFAULT;
	return n;
}

/* ---- watching unavailable presence ---- */

static int
uptime_filter(struct xml_node *st, const struct jid *to)
{
	const char *type, *from;
	struct session *s;

	if (!xml_is(st, "presence", NULL))
		return 0;
	type = xml_attr(st, "type");
	if (type != NULL && strcmp(type, "unavailable") != 0)
		return 0;
	/* Only a local session's own presence carries its full JID. */
	if ((from = xml_attr(st, "from")) == NULL || strchr(from, '/') == NULL ||
	    (s = session_find(from)) == NULL)
		return 0;
	if (type == NULL)
		gone_forget(s->id);
	else
		gone_remember(s->id, xml_child_text(st, "status", st->ns),
		    max_status());
	return 0;
}

/* ---- the lastlogout file ---- */

static void
save_logout(const char *host, const char *local, const char *status)
{
	struct xml_node *root;
	struct buf b;
	char when[32];
	size_t max = max_status();

	root = xml_new(xml_arena_new(), "last", NS_LAST);
	xml_set_attr(root, "version", LAST_FORMAT);
	snprintf(when, sizeof when, "%" PRId64, wall_time());
	xml_set_attr(root, "logout", when);
	/* Cut again: the limit may have shrunk since (a reload). */
	if (status != NULL && cut_utf8(status, max) > 0)
		xml_add_text(root, status, cut_utf8(status, max));
	buf_init(&b, LAST_MAX_FILE);
	if (xml_serialize(root, &b, NULL) == 0 && buf_addstr(&b, "\n") == 0) {
		if (store_write(host, local, LAST_FILE, buf_head(&b),
		    buf_used(&b)) == -1)
			log_warn("saving last logout of %s@%s", local, host);
	} else
		log_warnx("last logout of %s@%s too large to save", local, host);
	buf_free(&b);
	xml_arena_free(root->arena);
}

/*
 * The last logout of an account: 0 with *when and *status (heap, caller
 * frees; NULL if none), or -1 with errno ENOENT when there is no record
 * and EINVAL when the record is damaged or from a newer xmppd (logged).
 */
static int
load_logout(const char *host, const char *local, int64_t *when, char **status)
{
	char *text = NULL, err[128], *end;
	const char *v, *t;
	struct xml_node *root;
	ssize_t n;
	long long w;

	n = store_read(host, local, LAST_FILE, LAST_MAX_FILE, &text);
	if (n < 0) {
		if (errno != ENOENT) {
			log_warn("last logout of %s@%s", local, host);
			errno = EINVAL;
		}
		return -1;
	}
	root = xml_parse_document(text, (size_t)n, &stored_limits, err, sizeof err);
	free(text);
	if (root == NULL || !xml_is(root, "last", NS_LAST)) {
		log_warnx("last logout of %s@%s is damaged: %s", local, host,
		    root ? "not a <last/> document" : err);
		goto bad;
	}
	v = xml_attr(root, "version");
	if (v == NULL || strcmp(v, LAST_FORMAT) != 0) {
		log_warnx("last logout of %s@%s has format version %s; this "
		    "xmppd reads version " LAST_FORMAT, local, host,
		    v ? v : "(none)");
		goto bad;
	}
	v = xml_attr(root, "logout");
	errno = 0;
	w = v ? strtoll(v, &end, 10) : -1;
	if (v == NULL || *v < '0' || *v > '9' || *end != '\0' || errno != 0) {
		log_warnx("last logout of %s@%s: bad logout time", local, host);
		goto bad;
	}
	*when = (int64_t)w;
	t = xml_text(root);
	*status = *t != '\0' ? xstrdup(t) : NULL;
	xml_arena_free(root->arena);
	return 0;
bad:
	if (root != NULL)
		xml_arena_free(root->arena);
	errno = EINVAL;
	return -1;
}

static void
uptime_session_end(struct session *s)
{
	struct gone *g = *gone_slot(s->id);

	/* An account being deleted has lost its directory already or is
	 * about to: writing would bring the directory back. */
	if (s->user->nsessions <= 1 && account_exists(s->host, s->local))
		save_logout(s->host, s->local, g != NULL ? g->text : NULL);
	gone_forget(s->id);
}

static void
uptime_fini(void)
{
	for (size_t i = 0; i < STATUS_BUCKETS; i++)
		while (gone[i] != NULL)
			gone_forget(gone[i]->sid);
}

/* ---- jabber:iq:last ---- */

/* Has the account granted its presence to the asker ('from' or 'both')? */
static int
is_subscriber(const struct iq_req *r)
{
	return roster_is_subscriber(r->to.domain, r->to.local, &r->from);
}

static int
is_available(const struct jid *to)
{
	char bare[JID_MAX + 1];
	struct user *u;

	if (jid_bare(to, bare, sizeof bare) == -1 || (u = user_find(bare)) == NULL)
		return 0;
	for (struct session *s = u->sessions; s != NULL; s = s->next)
		if (s->available)
			return 1;
	return 0;
}

static enum stanza_error
last_reply(struct iq_req *r, int64_t seconds, const char *status)
{
	struct xml_node *reply, *q;
	char secs[32];

	if (seconds < 0)
		seconds = 0;	/* the clock was set back */
	snprintf(secs, sizeof secs, "%" PRId64, seconds);
	reply = iq_result(r);
	q = xml_add(reply, "query", NS_LAST);
	xml_set_attr(q, "seconds", secs);
	if (status != NULL)
		xml_add_text(q, status, strlen(status));
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
last_get(struct iq_req *r)
{
	int64_t when;
	char *status = NULL;
	enum stanza_error e;

	if (r->where == IQ_TO_SERVER)
		return last_reply(r, wall_time() - server_start_time(), NULL);
	if (r->where == IQ_TO_CONTACT && !is_subscriber(r))
		return ERR_FORBIDDEN;
	if (is_available(&r->to))
		return last_reply(r, 0, NULL);
	if (load_logout(r->to.domain, r->to.local, &when, &status) == -1)
		return errno == ENOENT ? ERR_ITEM_NOT_FOUND :
		    ERR_INTERNAL_SERVER_ERROR;
	e = last_reply(r, wall_time() - when, status);
	free(status);
	return e;
}

static int
uptime_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	unsigned long n;

	if (strcmp(key, "max_status_size") != 0) {
		snprintf(err, errlen, "unknown key '%.64s' in [uptime] (known: "
		    "max_status_size)", key);
		return -1;
	}
	if (parse_count(value, STATUS_HARD_MAX, &n) == -1) {
		snprintf(err, errlen, "max_status_size: '%.64s' is not a number "
		    "of bytes in 0..%d", value, STATUS_HARD_MAX);
		return -1;
	}
	return 0;
}

static const struct iq_handler uptime_iq[] = {
	{ "query", NS_LAST, IQ_GET, IQ_TO_SERVER | IQ_TO_SELF | IQ_TO_CONTACT,
	    last_get },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const uptime_features[] = { NS_LAST, NULL };

const struct module mod_uptime = {
	.name = "uptime",
	.features = uptime_features,
	.iq = uptime_iq,
	.route_filter = uptime_filter,
	.session_end = uptime_session_end,
	.fini = uptime_fini,
	.config_check = uptime_config_check,
};
