/*
 * offline.c - offline messages (XEP-0160): chat and normal messages for an
 * account with no available resource are stored, one file each under
 * offline/ in the account's directory, stamped with a XEP-0203 delay, and
 * delivered (then removed) when a session sends initial presence with a
 * non-negative priority.  A per-account cap bounds the store; beyond it
 * the sender gets service-unavailable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "module.h"

#define OFFLINE_DIR		"offline"
#define NS_DELAY		"urn:xmpp:delay"
#define NS_CHATSTATES		"http://jabber.org/protocol/chatstates"
#define NS_HINTS		"urn:xmpp:hints"

struct count_ctx {
	size_t	n;
};

static int
count_one(const char *name, void *arg)
{
	((struct count_ctx *)arg)->n++;
	return 0;
}

/* Worth keeping?  Chat states alone are not (XEP-0085 5.5), nor
 * messages that ask not to be stored (XEP-0334). */
static int
worth_storing(const struct xml_node *m)
{
	struct xml_node *c;
	int content = 0;

	for (c = m->children; c != NULL; c = c->next) {
		if (c->name == NULL)
			continue;
		if (strcmp(c->ns, NS_HINTS) == 0 &&
		    (strcmp(c->name, "no-store") == 0 ||
		    strcmp(c->name, "no-permanent-store") == 0))
			return 0;
		if (strcmp(c->ns, NS_CHATSTATES) == 0 || strcmp(c->ns, NS_HINTS) == 0)
			continue;
		content = 1;
	}
	return content;
}

static int
offline_store(struct xml_node *m, const struct jid *to, enum stanza_error *err)
{
	const struct config *cfg = server_config();
	struct count_ctx cc = { 0 };
	struct xml_node *c, *d;
	struct buf b;
	char name[64], stamp[32];
	static unsigned seq;
	static uint64_t last_us;
	int rc;

	if (!worth_storing(m)) {
		*err = ERR_NONE;
		return 1;	/* silently dropped, as clients expect for chat states */
	}
	if (store_list(to->domain, to->local, OFFLINE_DIR, count_one, &cc) < 0) {
		*err = ERR_INTERNAL_SERVER_ERROR;
		return 0;
	}
	if (cc.n >= cfg->limits.max_offline_messages) {
		log_info("offline store of %s@%s full (%zu messages): bounced",
		    to->local, to->domain, cc.n);
		*err = ERR_SERVICE_UNAVAILABLE;
		return 0;
	}
	c = xml_copy(xml_arena_new(), m);
	format_xep82(wall_time(), stamp, sizeof stamp);
	d = xml_add(c, "delay", NS_DELAY);
	xml_set_attr(d, "from", to->domain);
	xml_set_attr(d, "stamp", stamp);
	/* Names sort in arrival order: a microsecond wall clock that never
	 * goes backwards in this process, then a counter. */
	{
		struct timespec ts;
		uint64_t us;
		clock_gettime(CLOCK_REALTIME, &ts);
		us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
		if (us <= last_us)
			us = last_us + 1;
		last_us = us;
		snprintf(name, sizeof name, OFFLINE_DIR "/%016" PRIx64 "-%08x",
		    us, ++seq);
	}
	buf_init(&b, cfg->limits.max_stanza_size * 2 + 1024);
	rc = xml_serialize(c, &b, NULL);
	xml_arena_free(c->arena);
	if (rc == 0)
		rc = store_write(to->domain, to->local, name, buf_head(&b), buf_used(&b));
	buf_free(&b);
	if (rc == -1) {
		log_warn("storing offline message for %s@%s", to->local, to->domain);
		*err = ERR_INTERNAL_SERVER_ERROR;
		return 0;
	}
	log_debug("stored offline message for %s@%s", to->local, to->domain);
	return 1;
}

struct deliver_ctx {
	struct session	*s;
	char		**names;
	size_t		 n;
};

static int
collect(const char *name, void *arg)
{
	struct deliver_ctx *dc = arg;

	if (dc->n >= 100000)
		return 1;
	dc->names = xrealloc(dc->names, (dc->n + 1) * sizeof(char *));
	dc->names[dc->n++] = xstrdup(name);
	return 0;
}

static void
offline_deliver(struct session *s)
{
	const struct config *cfg = server_config();
	struct deliver_ctx dc = { s, NULL, 0 };
	struct xml_limits lim = { cfg->limits.max_stanza_size * 2 + 1024,
	    cfg->limits.max_depth + 2, cfg->limits.max_attrs, cfg->limits.max_name };

	if (s->priority < 0)
		return;		/* XEP-0160: only to a non-negative priority */
	if (store_list(s->host, s->local, OFFLINE_DIR, collect, &dc) <= 0)
		return;
	for (size_t i = 0; i < dc.n; i++) {
		char path[512], *text = NULL, err[128];
		ssize_t n;
		struct xml_node *m;

		snprintf(path, sizeof path, OFFLINE_DIR "/%s", dc.names[i]);
		n = store_read(s->host, s->local, path, lim.max_stanza, &text);
		if (n < 0) {
			log_warn("offline message %s of %s", path, s->bare);
			continue;
		}
		m = xml_parse_document(text, (size_t)n, &lim, err, sizeof err);
		free(text);
		if (m == NULL) {
			log_warnx("offline message %s of %s is damaged (%s): removed",
			    path, s->bare, err);
			store_remove(s->host, s->local, path);
			continue;
		}
		session_send(s, m);
		xml_arena_free(m->arena);
		store_remove(s->host, s->local, path);
	}
	for (size_t i = 0; i < dc.n; i++)
		free(dc.names[i]);
	free(dc.names);
	log_debug("delivered %zu offline message(s) to %s", dc.n, s->full);
}

static const char *const offline_features[] = { "msgoffline", NULL };

const struct module mod_offline = {
	.name = "offline",
	.features = offline_features,
	.offline = offline_store,
	.session_available = offline_deliver,
};
