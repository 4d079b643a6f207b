/*
 * cloud_notify.c - push notifications (XEP-0357), Prosody's module name.
 *
 * A client registers an app server (a pubsub service, usually on another
 * domain, reached over s2s) and a node with <enable/>.  When a message
 * arrives for an account whose session is waiting for XEP-0198 resumption
 * (the phone's app is asleep), or that has no session at all, the server
 * publishes a notification to each registered node, so the app server
 * wakes the phone.  By default the notification says only that something
 * arrived and from whom; [cloud_notify] include_body adds the text.
 *
 * Registrations are kept in the account's `push` file:
 *   <push xmlns='urn:xmpp:push:0' version='1'>
 *     <service jid='push.example' node='n1'>
 *       <x xmlns='jabber:x:data' type='submit'>...publish-options...</x>
 *     </service>
 *   </push>
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

#define NS_PUSH		"urn:xmpp:push:0"
#define NS_PUBSUB	"http://jabber.org/protocol/pubsub"
#define NS_DATA		"jabber:x:data"
#define PUSH_FILE	"push"
#define PUSH_MAX_FILE	65536
#define MAX_SERVICES	16
#define MAX_NODE	1023

static const struct xml_limits stored_limits = { PUSH_MAX_FILE, 16, 16, 256 };

static struct xml_node *
load(const char *host, const char *local)
{
	char *text = NULL, err[128];
	ssize_t n = store_read(host, local, PUSH_FILE, PUSH_MAX_FILE, &text);
	struct xml_node *root;

	if (n < 0) {
		if (errno != ENOENT)
			log_warn("push registrations of %s@%s", local, host);
		root = xml_new(xml_arena_new(), "push", NS_PUSH);
		xml_set_attr(root, "version", "1");
		return root;
	}
	root = xml_parse_document(text, (size_t)n, &stored_limits, err, sizeof err);
	free(text);
	if (root == NULL || !xml_is(root, "push", NS_PUSH) ||
	    xml_attr(root, "version") == NULL ||
	    strcmp(xml_attr(root, "version"), "1") != 0) {
		log_warnx("push registrations of %s@%s unusable (%s); ignored",
		    local, host, root ? "unknown version" : err);
		if (root != NULL)
			xml_arena_free(root->arena);
		return NULL;
	}
	return root;
}

static int
save(const char *host, const char *local, struct xml_node *root)
{
	struct buf b;
	int rc;

	buf_init(&b, PUSH_MAX_FILE);
	if (xml_child(root, "service", NULL) == NULL) {
		buf_free(&b);
		return store_remove(host, local, PUSH_FILE);
	}
	rc = xml_serialize(root, &b, NULL);
	if (rc == 0)
		rc = store_write(host, local, PUSH_FILE, buf_head(&b), buf_used(&b));
	buf_free(&b);
	return rc;
}

static struct xml_node *
find(struct xml_node *root, const char *jid, const char *node)
{
	for (struct xml_node *s = xml_child(root, "service", NULL); s;
	    s = xml_next(s, "service", NULL)) {
		const char *j = xml_attr(s, "jid"), *n = xml_attr(s, "node");
		if (j != NULL && strcmp(j, jid) == 0 &&
		    (node == NULL || (n != NULL && strcmp(n, node) == 0)))
			return s;
	}
	return NULL;
}

static enum stanza_error
push_enable(struct iq_req *r, int enable)
{
	const char *jid = xml_attr(r->payload, "jid"), *node = xml_attr(r->payload, "node");
	char norm[JID_MAX + 1];
	struct xml_node *root, *s, *x;
	size_t n = 0;

	if (jid == NULL || jid_normalize(jid, norm, sizeof norm) == -1)
		return ERR_BAD_REQUEST;
	if (enable && (node == NULL || *node == '\0' || strlen(node) > MAX_NODE))
		return ERR_BAD_REQUEST;
	if ((root = load(r->from.domain, r->from.local)) == NULL)
		return ERR_INTERNAL_SERVER_ERROR;
	/* One registration per (jid, node): enable replaces, disable removes
	 * the node's or (without node) all of the service's. */
	while ((s = find(root, norm, node)) != NULL)
		xml_remove(s);
	if (enable) {
		for (s = xml_child(root, "service", NULL); s; s = xml_next(s, "service", NULL))
			n++;
		if (n >= MAX_SERVICES) {
			xml_arena_free(root->arena);
			return ERR_RESOURCE_CONSTRAINT;
		}
		s = xml_add(root, "service", NULL);
		xml_set_attr(s, "jid", norm);
		xml_set_attr(s, "node", node);
		/* Publish options (XEP-0357 5: a submitted data form). */
		if ((x = xml_child(r->payload, "x", NS_DATA)) != NULL)
			xml_append_copy(s, x);
	}
	if (save(r->from.domain, r->from.local, root) == -1) {
		xml_arena_free(root->arena);
		return ERR_INTERNAL_SERVER_ERROR;
	}
	xml_arena_free(root->arena);
	log_info("push: %s@%s %s %s node %s", r->from.local, r->from.domain,
	    enable ? "enabled" : "disabled", norm, node ? node : "(all)");
	return iq_ok(r);
}

static enum stanza_error
on_enable(struct iq_req *r)
{
	return push_enable(r, 1);
}

static enum stanza_error
on_disable(struct iq_req *r)
{
	return push_enable(r, 0);
}

static void
add_field(struct xml_node *x, const char *var, const char *value)
{
	struct xml_node *f = xml_add(x, "field", NULL);

	xml_set_attr(f, "var", var);
	xml_add_text_child(f, "value", NULL, value);
}

/* Publish one notification (XEP-0357 7) to every registered node. */
static void
notify(const char *host, const char *local, const struct xml_node *msg)
{
	const char *body = xml_child_text(msg, "body", NULL);
	const char *inc = config_module_opt(server_config(), "cloud_notify",
	    "include_body");
	struct xml_node *root = load(host, local), *s;
	char me[JID_MAX + 1];
	static unsigned long seq;

	if (root == NULL)
		return;
	snprintf(me, sizeof me, "%s@%s", local, host);
	for (s = xml_child(root, "service", NULL); s; s = xml_next(s, "service", NULL)) {
		struct xml_node *iq = xml_new(xml_arena_new(), "iq", NS_CLIENT);
		struct xml_node *pub, *item, *n, *x, *opts;
		char id[32];

		snprintf(id, sizeof id, "push%lu", ++seq);
		xml_set_attr(iq, "type", "set");
		xml_set_attr(iq, "id", id);
		xml_set_attr(iq, "from", me);
		xml_set_attr(iq, "to", xml_attr(s, "jid"));
		pub = xml_add(xml_add(iq, "pubsub", NS_PUBSUB), "publish", NULL);
		xml_set_attr(pub, "node", xml_attr(s, "node"));
		item = xml_add(pub, "item", NULL);
		n = xml_add(item, "notification", NS_PUSH);
		x = xml_add(n, "x", NS_DATA);
		xml_set_attr(x, "type", "submit");
		add_field(x, "FORM_TYPE", "urn:xmpp:push:summary");
		add_field(x, "message-count", "1");
		if (xml_attr(msg, "from") != NULL)
			add_field(x, "last-message-sender", xml_attr(msg, "from"));
		if (body != NULL && inc != NULL && strcmp(inc, "true") == 0)
			add_field(x, "last-message-body", body);
		if ((opts = xml_child(s, "x", NS_DATA)) != NULL) {
			struct xml_node *po = xml_add(xml_child(iq, "pubsub", NS_PUBSUB),
			    "publish-options", NULL);
			xml_append_copy(po, opts);
		}
		route(iq);
		xml_arena_free(iq->arena);
	}
	xml_arena_free(root->arena);
}

/* Worth waking a phone for: a message with a body (or encrypted payload). */
static int
wakes(const struct xml_node *st)
{
	const char *type = xml_attr(st, "type");

	if (!xml_is(st, "message", NULL) || (type != NULL &&
	    (strcmp(type, "error") == 0 || strcmp(type, "groupchat") == 0 ||
	    strcmp(type, "headline") == 0)))
		return 0;
	return xml_child(st, "body", NULL) != NULL ||
	    xml_child(st, "encrypted", NULL) != NULL;
}

/* A message for a session whose phone is asleep (XEP-0198 hibernation). */
static int
push_filter(struct session *s, const struct xml_node *st)
{
	if (s->detached && wakes(st))
		notify(s->host, s->local, st);
	return 0;		/* it still goes into the session's queue */
}

/* A message for an account with no session at all: stored offline by
 * the offline module after us; we only tell the app servers. */
static int
push_offline(struct xml_node *st, const struct jid *to, enum stanza_error *err)
{
	if (wakes(st))
		notify(to->domain, to->local, st);
	return 0;
}

static int
push_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	if (strcmp(key, "include_body") != 0) {
		snprintf(err, errlen, "unknown key '%s' in [cloud_notify] (known: "
		    "include_body)", key);
		return -1;
	}
	if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
		snprintf(err, errlen, "include_body: expected true or false");
		return -1;
	}
	return 0;
}

/* XEP-0357 4: the account says it can do push. */
static int
push_account_info(const struct iq_req *r, const char *node, struct xml_node *q)
{
	struct xml_node *f;

	if (node != NULL || r->where != IQ_TO_SELF)
		return 0;
	f = xml_add(q, "feature", NULL);
	xml_set_attr(f, "var", NS_PUSH);
	return 0;
}

static const struct iq_handler push_iq[] = {
	{ "enable", NS_PUSH, IQ_SET, IQ_TO_SELF, on_enable },
	{ "disable", NS_PUSH, IQ_SET, IQ_TO_SELF, on_disable },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const push_features[] = { NS_PUSH, NULL };

const struct module mod_cloud_notify = {
	.name = "cloud_notify",
	.features = push_features,
	.iq = push_iq,
	.session_filter = push_filter,
	.offline = push_offline,
	.account_info = push_account_info,
	.config_check = push_config_check,
};
