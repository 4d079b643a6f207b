/*
 * muc.c - the group chat service (XEP-0045) on each host's `muc` domain:
 * settings, routing of every stanza for the service domain, the service's
 * own disco and ping, server admins' ad-hoc commands (XEP-0050: list and
 * destroy rooms), the service item in the host's disco#items, sessions
 * that end, and direct invitations (XEP-0249) seen leaving local clients.
 *
 * Rooms, occupants and the archive live in muc_room.c, muc_occupant.c
 * and muc_archive.c; muc.h says who does what.
 *
 * Every stanza for the service domain comes here from route(), local or
 * from s2s: 'from' is then trusted (stamped by our c2s code or verified
 * by dialback), and whatever we send goes back out through route().
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muc.h"

#define CMD_NODE_LIST	"https://xmppd.invalid/muc#list-rooms"
#define CMD_NODE_DESTROY "https://xmppd.invalid/muc#destroy-room"
#define CMD_SESSIONS	16
#define CMD_TIMEOUT_MS	((int64_t)600 * 1000)
#define SERVICE_NAME_MAX 64
#define ARCH_IDLE_MS	((int64_t)600 * 1000)

/* ---- settings ---- */

static const struct {
	const char	*key;
	unsigned long	 min, max, def;
} nsettings[S_NSETTINGS] = {
	[S_MAX_ROOMS] =		{ "max_rooms", 1, 1000000, 1000 },
	[S_MAX_ROOMS_PER_USER] = { "max_rooms_per_user", 0, 100000, 10 },
	[S_MAX_OCCUPANTS] =	{ "max_occupants", 1, 100000, 200 },
	[S_MAX_HISTORY] =	{ "max_history", 0, 1000, 20 },
	[S_MAX_ARCHIVE] =	{ "max_archive_messages", 64, 10000000, 10000 },
	[S_MAX_NICK] =		{ "max_nick_length", 1, 1023, 128 },
	[S_MAX_SUBJECT] =	{ "max_subject_length", 1, 65536, 1024 },
	[S_MESSAGE_RATE] =	{ "message_rate", 0, 100000, 300 },
	[S_MESSAGE_BURST] =	{ "message_burst", 1, 10000, 30 },
	[S_MAX_VCARD] =		{ "max_vcard_size", 1024, 16777216, 131072 },
	[S_MAX_AFFILIATIONS] =	{ "max_affiliations", 1, 1000000, 1000 },
	[S_MAX_PAGE] =		{ "max_page_size", 1, 1000, 100 },
};

static const char *const bool_keys[] = {
	"default_public", "default_persistent", "default_members_only",
	"default_moderated", "default_archive", "default_non_anonymous",
	NULL
};

int
muc_parse_bool(const char *s, int *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

unsigned long
muc_setting(enum muc_setting which)
{
	const char *v = config_module_opt(server_config(), MUC_MODNAME,
	    nsettings[which].key);
	unsigned long n;

	if (v == NULL || parse_ulong(v, nsettings[which].min,
	    nsettings[which].max, &n) == -1)
		return nsettings[which].def;
	return n;
}

int
muc_setting_bool(const char *key, int def)
{
	int b;

	if (muc_parse_bool(config_module_opt(server_config(), MUC_MODNAME,
	    key), &b) == -1)
		return def;
	return b;
}

static int
parse_create(const char *v)
{
	if (v == NULL)
		return -1;
	if (strcmp(v, "false") == 0 || strcmp(v, "anyone") == 0)
		return CREATE_ANYONE;
	if (strcmp(v, "local") == 0)
		return CREATE_LOCAL;
	if (strcmp(v, "true") == 0 || strcmp(v, "admin") == 0)
		return CREATE_ADMIN;
	return -1;
}

enum muc_create
muc_create_policy(void)
{
	int p = parse_create(config_module_opt(server_config(), MUC_MODNAME,
	    "restrict_room_creation"));

	return p == -1 ? CREATE_LOCAL : (enum muc_create)p;
}

const char *
muc_service_name(void)
{
	const char *v = config_module_opt(server_config(), MUC_MODNAME, "name");

	return v != NULL ? v : "Chatrooms";
}

static int
muc_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	unsigned long n;
	int b;

	for (size_t i = 0; i < S_NSETTINGS; i++) {
		if (strcmp(key, nsettings[i].key) != 0)
			continue;
		if (parse_ulong(value, nsettings[i].min, nsettings[i].max,
		    &n) == 0)
			return 0;
		snprintf(err, errlen, "[muc] %s must be a whole number from "
		    "%lu to %lu, not '%.64s'", key, nsettings[i].min,
		    nsettings[i].max, value);
		return -1;
	}
	for (size_t i = 0; bool_keys[i] != NULL; i++) {
		if (strcmp(key, bool_keys[i]) != 0)
			continue;
		if (muc_parse_bool(value, &b) == 0)
			return 0;
		snprintf(err, errlen, "[muc] %s must be true or false, not "
		    "'%.64s'", key, value);
		return -1;
	}
	if (strcmp(key, "restrict_room_creation") == 0) {
		if (parse_create(value) != -1)
			return 0;
		snprintf(err, errlen, "[muc] restrict_room_creation must be "
		    "false (anyone), local (users of this server) or admin "
		    "(server admins only), not '%.64s'", value);
		return -1;
	}
	if (strcmp(key, "name") == 0) {
		size_t len = strlen(value);
		int ok = len > 0 && len <= SERVICE_NAME_MAX &&
		    utf8_is_valid(value, len);

		for (size_t i = 0; ok && i < len; i++)
			if ((unsigned char)value[i] < 0x20)
				ok = 0;
		if (ok)
			return 0;
		snprintf(err, errlen, "[muc] name must be 1 to %d bytes of "
		    "text", SERVICE_NAME_MAX);
		return -1;
	}
	snprintf(err, errlen, "unknown key '%.64s' in [muc] (known: "
	    "max_rooms, max_rooms_per_user, max_occupants, max_history, "
	    "max_archive_messages, max_nick_length, max_subject_length, "
	    "message_rate, message_burst, max_vcard_size, max_affiliations, "
	    "max_page_size, restrict_room_creation, name, default_public, "
	    "default_persistent, default_members_only, default_moderated, "
	    "default_archive, default_non_anonymous)", key);
	return -1;
}

/* ---- helpers the other muc files share ---- */

int
muc_is_admin(const char *bare)
{
	return config_is_admin(server_config(), bare);
}

/* A bare JID of an account on one of our hosts? */
int
muc_is_local_user(const char *bare)
{
	struct jid j;

	return jid_parse(&j, bare) == 0 && j.local[0] != '\0' &&
	    host_is_local(j.domain);
}

void
muc_send_copy(const struct xml_node *n, const char *to)
{
	struct xml_node *c = xml_copy(xml_arena_new(), n);

	xml_set_attr(c, "to", to);
	route(c);
	xml_arena_free(c->arena);
}

void
muc_error(const struct xml_node *st, enum stanza_error e, const char *type,
    const char *text, int muc_x)
{
	const char *t = xml_attr(st, "type"), *from = xml_attr(st, "from");
	const char *to = xml_attr(st, "to");
	struct xml_node *r, *er;
	char by[JID_MAX + 1];
	struct jid j;

	/* RFC 6120 8.3.1: never an error for an error or a result. */
	if (from == NULL || (t != NULL && (strcmp(t, "error") == 0 ||
	    (xml_is(st, "iq", NULL) && strcmp(t, "result") == 0))))
		return;
	r = xml_new(xml_arena_new(), st->name, NS_CLIENT);
	xml_set_attr(r, "type", "error");
	xml_set_attr(r, "to", from);
	if (to != NULL)
		xml_set_attr(r, "from", to);
	if (xml_attr(st, "id") != NULL)
		xml_set_attr(r, "id", xml_attr(st, "id"));
	if (muc_x && xml_is(st, "presence", NULL))
		xml_add(r, "x", NS_MUC);
	er = xml_add(r, "error", NULL);
	xml_set_attr(er, "type", type != NULL ? type : stanza_error_type(e));
	/* XEP-0045 names the room (or service) as the error's origin. */
	if (to != NULL && jid_parse(&j, to) == 0) {
		j.resource[0] = '\0';
		if (jid_bare(&j, by, sizeof by) == 0)
			xml_set_attr(er, "by", by);
	}
	xml_add(er, stanza_error_name(e), NS_STANZAS);
	if (text != NULL)
		xml_add_text_child(er, "text", NS_STANZAS, text);
	route(r);
	xml_arena_free(r->arena);
}

int
muc_parse_time(const char *s, int64_t *out)
{
	int64_t us;
	int whole;

	if (parse_xep82(s, &us, &whole) == -1)
		return -1;
	/* Whole seconds, rounded down (also before 1970). */
	*out = us / 1000000 - (us < 0 && us % 1000000 != 0);
	return 0;
}

struct xml_node *
muc_form_field(struct xml_node *x, const char *var, const char *type,
    const char *label, const char *value)
{
	struct xml_node *f = xml_add(x, "field", NS_XDATA);

	if (var != NULL)
		xml_set_attr(f, "var", var);
	if (type != NULL)
		xml_set_attr(f, "type", type);
	if (label != NULL)
		xml_set_attr(f, "label", label);
	if (value != NULL)
		xml_add_text_child(f, "value", NS_XDATA, value);
	return f;
}

const char *
muc_field_value(const struct xml_node *x, const char *var)
{
	const struct xml_node *f;
	const char *v;

	for (f = xml_child(x, "field", NS_XDATA); f != NULL;
	    f = xml_next(f, "field", NS_XDATA))
		if ((v = xml_attr(f, "var")) != NULL && strcmp(v, var) == 0)
			return xml_child_text(f, "value", NS_XDATA);
	return NULL;
}

/* Stanzas from s2s carry jabber:server; what we keep is jabber:client. */
void
muc_strip_ns(struct xml_node *n)
{
	for (; n != NULL; n = n->next) {
		if (n->name == NULL)
			continue;
		if (strcmp(n->ns, NS_SERVER) == 0)
			n->ns = NS_CLIENT;
		muc_strip_ns(n->children);
	}
}

/* ---- services ---- */

static int
muc_serves(const char *domain)
{
	const struct config *cfg = server_config();

	if (cfg == NULL)
		return 0;
	for (const struct host_config *h = cfg->hosts; h != NULL; h = h->next)
		if (h->enabled && h->muc != NULL && strcmp(h->muc, domain) == 0)
			return 1;
	return 0;
}

/* Services whose rooms were loaded by this process. */
static struct strlist loaded;

static int
service_loaded(const char *d)
{
	for (size_t i = 0; i < loaded.n; i++)
		if (strcmp(loaded.v[i], d) == 0)
			return 1;
	return 0;
}

static int
muc_init(void)
{
	const struct config *cfg = server_config();

	/* Also runs after every reload: only new services are loaded. */
	for (const struct host_config *h = cfg->hosts; h != NULL; h = h->next) {
		if (!h->enabled || h->muc == NULL || service_loaded(h->muc))
			continue;
		if (rooms_load(h->muc) == -1)
			log_warnx("muc: rooms of %s could not all be loaded",
			    h->muc);
		loaded.v = xrealloc(loaded.v, (loaded.n + 1) * sizeof *loaded.v);
		loaded.v[loaded.n++] = xstrdup(h->muc);
	}
	return 0;
}

/* ---- ad-hoc commands for server admins (XEP-0050) ---- */

struct csess {
	int	 used;
	char	 id[24];
	char	 owner[JID_MAX + 1];
	int64_t	 expires;
};

static struct csess csessions[CMD_SESSIONS];

static void
csess_expire(int64_t now)
{
	for (size_t i = 0; i < CMD_SESSIONS; i++)
		if (csessions[i].used && csessions[i].expires <= now)
			csessions[i].used = 0;
}

static struct csess *
csess_new(const char *owner)
{
	struct csess *s = NULL;
	unsigned char rnd[8];

	csess_expire(now_ms());
	for (size_t i = 0; i < CMD_SESSIONS && s == NULL; i++)
		if (!csessions[i].used)
			s = &csessions[i];
	if (s == NULL)
		return NULL;
	random_bytes(rnd, sizeof rnd);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
	s->used = 1;
	strlcpy_ok(s->owner, owner, sizeof s->owner);
	s->expires = now_ms() + CMD_TIMEOUT_MS;
	return s;
}

static struct csess *
csess_find(const char *id, const char *owner)
{
	csess_expire(now_ms());
	for (size_t i = 0; i < CMD_SESSIONS; i++)
		if (csessions[i].used && strcmp(csessions[i].id, id) == 0 &&
		    strcmp(csessions[i].owner, owner) == 0)
			return &csessions[i];
	return NULL;
}

static void
cmd_error(struct iq_req *r, enum stanza_error e, const char *app,
    const char *text)
{
	struct xml_node *rep, *er;

	if (app == NULL) {
		iq_error(r, e, text);
		return;
	}
	rep = iq_result(r);
	xml_set_attr(rep, "type", "error");
	er = xml_add(rep, "error", NULL);
	xml_set_attr(er, "type", stanza_error_type(e));
	xml_add(er, stanza_error_name(e), NS_STANZAS);
	xml_add(er, app, NS_COMMANDS);
	if (text != NULL)
		xml_add_text_child(er, "text", NS_STANZAS, text);
	iq_reply(r, rep);
}

static struct xml_node *
cmd_reply(struct iq_req *r, const char *node, const char *sid,
    const char *status, struct xml_node **cmd)
{
	struct xml_node *rep = iq_result(r);

	*cmd = xml_add(rep, "command", NS_COMMANDS);
	xml_set_attr(*cmd, "node", node);
	xml_set_attr(*cmd, "sessionid", sid);
	xml_set_attr(*cmd, "status", status);
	return rep;
}

struct listctx {
	const char	*service;
	struct xml_node	*x;
	size_t		 n;
};

static void
list_one(struct room *r, void *arg)
{
	struct listctx *lc = arg;
	struct xml_node *it;
	char num[32];

	if (strcmp(r->service, lc->service) != 0 || lc->n >= 10000)
		return;
	it = xml_add(lc->x, "item", NS_XDATA);
	muc_form_field(it, "jid", NULL, NULL, r->jid);
	snprintf(num, sizeof num, "%zu", r->nocc);
	muc_form_field(it, "occupants", NULL, NULL, num);
	muc_form_field(it, "persistent", NULL, NULL,
	    r->cfg.persistent ? "1" : "0");
	muc_form_field(it, "public", NULL, NULL, r->cfg.public ? "1" : "0");
	lc->n++;
}

static void
cmd_list(struct iq_req *r, const char *service)
{
	struct xml_node *rep, *cmd, *x, *rep_f;
	struct listctx lc;
	char sid[24], title[JID_MAX + 32];
	unsigned char rnd[8];

	random_bytes(rnd, sizeof rnd);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(sid + 2 * i, 3, "%02x", rnd[i]);
	rep = cmd_reply(r, CMD_NODE_LIST, sid, "completed", &cmd);
	x = xml_add(cmd, "x", NS_XDATA);
	xml_set_attr(x, "type", "result");
	snprintf(title, sizeof title, "Rooms on %s", service);
	xml_add_text_child(x, "title", NS_XDATA, title);
	rep_f = xml_add(x, "reported", NS_XDATA);
	muc_form_field(rep_f, "jid", "jid-single", "Room", NULL);
	muc_form_field(rep_f, "occupants", "text-single", "Occupants", NULL);
	muc_form_field(rep_f, "persistent", "boolean", "Persistent", NULL);
	muc_form_field(rep_f, "public", "boolean", "Public", NULL);
	lc.service = service;
	lc.x = x;
	lc.n = 0;
	rooms_each(list_one, &lc);
	iq_reply(r, rep);
}

static void
destroy_form(struct xml_node *cmd)
{
	struct xml_node *x = xml_add(cmd, "x", NS_XDATA);

	xml_set_attr(x, "type", "form");
	xml_add_text_child(x, "title", NS_XDATA, "Destroy a room");
	xml_add_text_child(x, "instructions", NS_XDATA, "The occupants are "
	    "told, then the room and its archive are deleted.");
	muc_form_field(x, "room", "jid-single", "Room", NULL);
	muc_form_field(x, "reason", "text-single", "Reason", NULL);
	muc_form_field(x, "alternate", "jid-single", "Alternate venue", NULL);
}

/* The submitted destroy form: ERR_NONE after the room is gone. */
static enum stanza_error
destroy_run(const struct xml_node *x, const char *service, const char **text)
{
	const char *room = muc_field_value(x, "room");
	const char *reason = muc_field_value(x, "reason");
	const char *alt = muc_field_value(x, "alternate");
	struct jid j, aj;
	char bare[JID_MAX + 1], altbuf[JID_MAX + 1];
	struct room *rm;

	if (room == NULL || jid_parse(&j, room) == -1 || j.local[0] == '\0' ||
	    j.resource[0] != '\0') {
		*text = "The 'room' field must hold a room address";
		return ERR_BAD_REQUEST;
	}
	if (strcmp(j.domain, service) != 0) {
		*text = "That room is not on this service";
		return ERR_ITEM_NOT_FOUND;
	}
	jid_bare(&j, bare, sizeof bare);
	if ((rm = room_find(bare)) == NULL) {
		*text = "No such room";
		return ERR_ITEM_NOT_FOUND;
	}
	if (alt != NULL && *alt != '\0') {
		if (jid_parse(&aj, alt) == -1 ||
		    jid_bare(&aj, altbuf, sizeof altbuf) == -1) {
			*text = "The alternate venue is not a JID";
			return ERR_JID_MALFORMED;
		}
		alt = altbuf;
	} else
		alt = NULL;
	if (reason != NULL && (*reason == '\0' ||
	    strlen(reason) > MUC_REASON_MAX))
		reason = NULL;
	log_info("muc: room %s destroyed by a server admin", bare);
	room_destroy(rm, alt, reason, NULL);
	return ERR_NONE;
}

static void
cmd_destroy(struct iq_req *r, const char *who, const struct xml_node *command)
{
	const char *sid = xml_attr(command, "sessionid");
	const char *action = xml_attr(command, "action");
	const struct xml_node *x = xml_child(command, "x", NS_XDATA);
	struct csess *s = NULL;
	struct xml_node *rep, *cmd, *acts;
	const char *text = NULL, *t;
	enum stanza_error e;
	char idbuf[24];

	if (sid != NULL && (s = csess_find(sid, r->from_str)) == NULL) {
		cmd_error(r, ERR_BAD_REQUEST, "bad-sessionid",
		    "No such command session");
		return;
	}
	if (action != NULL && strcmp(action, "cancel") == 0) {
		if (s != NULL)
			s->used = 0;
		rep = cmd_reply(r, CMD_NODE_DESTROY, sid ? sid : "none",
		    "canceled", &cmd);
		iq_reply(r, rep);
		return;
	}
	if (action != NULL && strcmp(action, "execute") != 0 &&
	    strcmp(action, "complete") != 0) {
		cmd_error(r, ERR_BAD_REQUEST, "bad-action", NULL);
		return;
	}
	t = x != NULL ? xml_attr(x, "type") : NULL;
	if (x == NULL || t == NULL || strcmp(t, "submit") != 0) {
		if (s == NULL && (s = csess_new(r->from_str)) == NULL) {
			iq_error(r, ERR_RESOURCE_CONSTRAINT,
			    "Too many command sessions");
			return;
		}
		rep = cmd_reply(r, CMD_NODE_DESTROY, s->id, "executing", &cmd);
		acts = xml_add(cmd, "actions", NULL);
		xml_set_attr(acts, "execute", "complete");
		xml_add(acts, "complete", NULL);
		destroy_form(cmd);
		iq_reply(r, rep);
		return;
	}
	/* A refused form leaves the session open for another try. */
	if ((e = destroy_run(x, r->to.domain, &text)) != ERR_NONE) {
		iq_error(r, e, text);
		return;
	}
	if (s != NULL) {
		strlcpy_ok(idbuf, s->id, sizeof idbuf);
		s->used = 0;
	} else
		strlcpy_ok(idbuf, "single", sizeof idbuf);
	log_debug("muc: destroy command by %s", who);
	rep = cmd_reply(r, CMD_NODE_DESTROY, idbuf, "completed", &cmd);
	xml_set_attr(xml_add_text_child(cmd, "note", NULL, "The room was "
	    "destroyed."), "type", "info");
	iq_reply(r, rep);
}

static enum stanza_error
service_command(struct iq_req *r, const char *who)
{
	const char *node = xml_attr(r->payload, "node");

	if (r->type != IQ_SET || !xml_is(r->payload, "command", NS_COMMANDS))
		return ERR_BAD_REQUEST;
	if (!muc_is_admin(who))
		return ERR_FORBIDDEN;
	if (node == NULL)
		return ERR_BAD_REQUEST;
	if (strcmp(node, CMD_NODE_LIST) == 0) {
		cmd_list(r, r->to.domain);
		return ERR_NONE;
	}
	if (strcmp(node, CMD_NODE_DESTROY) == 0) {
		cmd_destroy(r, who, r->payload);
		return ERR_NONE;
	}
	return ERR_ITEM_NOT_FOUND;
}

/* ---- the service's own IQs ---- */

struct itemsctx {
	const char	*service;
	struct xml_node	*q;
	size_t		 n;
};

static void
item_one(struct room *r, void *arg)
{
	struct itemsctx *ic = arg;
	struct xml_node *it;

	/* XEP-0045 6.3: public rooms only; a locked room does not exist
	 * yet. */
	if (strcmp(r->service, ic->service) != 0 || !r->cfg.public ||
	    r->locked || ic->n >= 1000)
		return;
	it = xml_add(ic->q, "item", NULL);
	xml_set_attr(it, "jid", r->jid);
	xml_set_attr(it, "name", r->cfg.name ? r->cfg.name : r->local);
	ic->n++;
}

static void
add_feature(struct xml_node *q, const char *var)
{
	xml_set_attr(xml_add(q, "feature", NULL), "var", var);
}

static enum stanza_error
service_disco(struct iq_req *r, const char *who)
{
	const char *node = xml_attr(r->payload, "node");
	struct xml_node *rep, *q, *n;
	int admin = muc_is_admin(who);

	if (r->type != IQ_GET)
		return ERR_BAD_REQUEST;
	rep = iq_result(r);
	q = xml_add(rep, "query", r->payload->ns);
	if (node != NULL)
		xml_set_attr(q, "node", node);
	if (xml_is(r->payload, "query", NS_DISCO_INFO)) {
		if (node != NULL && strcmp(node, NS_COMMANDS) == 0) {
			n = xml_add(q, "identity", NULL);
			xml_set_attr(n, "category", "automation");
			xml_set_attr(n, "type", "command-list");
		} else if (node != NULL && admin &&
		    (strcmp(node, CMD_NODE_LIST) == 0 ||
		    strcmp(node, CMD_NODE_DESTROY) == 0)) {
			n = xml_add(q, "identity", NULL);
			xml_set_attr(n, "category", "automation");
			xml_set_attr(n, "type", "command-node");
			add_feature(q, NS_COMMANDS);
			add_feature(q, NS_XDATA);
		} else if (node != NULL) {
			xml_arena_free(rep->arena);
			return ERR_ITEM_NOT_FOUND;
		} else {
			n = xml_add(q, "identity", NULL);
			xml_set_attr(n, "category", "conference");
			xml_set_attr(n, "type", "text");
			xml_set_attr(n, "name", muc_service_name());
			add_feature(q, NS_DISCO_INFO);
			add_feature(q, NS_DISCO_ITEMS);
			add_feature(q, NS_MUC);
			add_feature(q, NS_MUC_STABLE_ID);
			add_feature(q, NS_MUC_SELFPING);
			add_feature(q, NS_COMMANDS);
			add_feature(q, NS_PING);
			add_feature(q, NS_VCARD);
		}
	} else if (node != NULL && strcmp(node, NS_COMMANDS) == 0) {
		/* XEP-0050 2.2: commands only for those who may run them. */
		if (admin) {
			n = xml_add(q, "item", NULL);
			xml_set_attr(n, "jid", r->to.domain);
			xml_set_attr(n, "node", CMD_NODE_LIST);
			xml_set_attr(n, "name", "List rooms");
			n = xml_add(q, "item", NULL);
			xml_set_attr(n, "jid", r->to.domain);
			xml_set_attr(n, "node", CMD_NODE_DESTROY);
			xml_set_attr(n, "name", "Destroy a room");
		}
	} else if (node != NULL) {
		xml_arena_free(rep->arena);
		return ERR_ITEM_NOT_FOUND;
	} else {
		struct itemsctx ic = { r->to.domain, q, 0 };
		rooms_each(item_one, &ic);
	}
	iq_reply(r, rep);
	return ERR_NONE;
}

/* Fill an iq_req for an IQ get/set; ERR_NONE or the error to answer. */
static enum stanza_error
make_req(struct iq_req *r, struct xml_node *iq, const struct jid *from,
    const struct jid *to)
{
	struct xml_node *c;
	int n = 0;

	memset(r, 0, sizeof *r);
	for (c = iq->children; c != NULL; c = c->next)
		if (c->name != NULL) {
			n++;
			r->payload = c;
		}
	r->iq = iq;
	r->type = strcmp(xml_attr(iq, "type"), "get") == 0 ? IQ_GET : IQ_SET;
	r->where = IQ_TO_SERVER;
	r->id = xml_attr(iq, "id");
	r->from = *from;
	r->from_str = xml_attr(iq, "from");
	r->to = *to;
	r->to_str = xml_attr(iq, "to");
	return n == 1 ? ERR_NONE : ERR_BAD_REQUEST;
}

static int
iq_is_request(const struct xml_node *st)
{
	const char *t = xml_attr(st, "type");

	return t != NULL && (strcmp(t, "get") == 0 || strcmp(t, "set") == 0);
}

static void
service_stanza(struct xml_node *st, const struct jid *from,
    const struct jid *to)
{
	struct iq_req r;
	char who[JID_MAX + 1];
	enum stanza_error e;
	struct jid b = *from;

	b.resource[0] = '\0';
	if (jid_bare(&b, who, sizeof who) == -1)
		return;
	if (xml_is(st, "message", NULL)) {
		muc_error(st, ERR_SERVICE_UNAVAILABLE, NULL, NULL, 0);
		return;
	}
	if (!xml_is(st, "iq", NULL) || !iq_is_request(st))
		return;		/* presence, answers: nothing to do */
	if (to->resource[0] != '\0') {
		muc_error(st, ERR_SERVICE_UNAVAILABLE, NULL, NULL, 0);
		return;
	}
	if ((e = make_req(&r, st, from, to)) != ERR_NONE) {
		muc_error(st, e, NULL, NULL, 0);
		return;
	}
	if (xml_is(r.payload, "query", NS_DISCO_INFO) ||
	    xml_is(r.payload, "query", NS_DISCO_ITEMS))
		e = service_disco(&r, who);
	else if (xml_is(r.payload, "command", NS_COMMANDS))
		e = service_command(&r, who);
	else if (xml_is(r.payload, "ping", NS_PING) && r.type == IQ_GET)
		e = iq_ok(&r);
	else
		e = ERR_SERVICE_UNAVAILABLE;
	if (e != ERR_NONE)
		iq_error(&r, e, NULL);
}

/* ---- IQs to a room's bare JID ---- */

static void
room_iq(struct room *rm, struct xml_node *st, const struct jid *from,
    const struct jid *to)
{
	struct iq_req r;
	enum stanza_error e;
	char who[JID_MAX + 1];
	struct jid b = *from;
	const struct xml_node *p;

	b.resource[0] = '\0';
	if (jid_bare(&b, who, sizeof who) == -1)
		return;
	if ((e = make_req(&r, st, from, to)) != ERR_NONE) {
		muc_error(st, e, NULL, NULL, 0);
		return;
	}
	p = r.payload;
	/* A room that does not exist, or that only its owner may see
	 * before it is configured (XEP-0045 7.2.11). */
	if (rm == NULL || (rm->locked && room_affil(rm, who) != AFF_OWNER)) {
		iq_error(&r, ERR_ITEM_NOT_FOUND, NULL);
		return;
	}
	if (xml_is(p, "query", NS_DISCO_INFO) || xml_is(p, "query",
	    NS_DISCO_ITEMS))
		e = r.type == IQ_GET ? room_disco_info(rm, &r) : ERR_BAD_REQUEST;
	else if (xml_is(p, "query", NS_MUC_OWNER))
		e = r.type == IQ_GET ? room_owner_get(rm, &r) :
		    room_owner_set(rm, &r, who);
	else if (xml_is(p, "query", NS_MUC_ADMIN))
		e = occ_admin(rm, &r, who);
	else if (strcmp(p->ns, NS_MAM) == 0)
		e = arch_query(rm, &r, who);
	else if (xml_is(p, "vCard", NS_VCARD))
		e = room_vcard(rm, &r, who);
	else if (xml_is(p, "ping", NS_PING) && r.type == IQ_GET)
		e = iq_ok(&r);
	else
		e = ERR_SERVICE_UNAVAILABLE;
	if (e != ERR_NONE)
		iq_error(&r, e, NULL);
}

static void
dispatch(struct xml_node *st, const struct jid *to)
{
	const char *f = xml_attr(st, "from");
	struct jid from;
	char rj[JID_MAX + 1];
	struct room *r;
	struct jid rb = *to;

	if (f == NULL || jid_parse(&from, f) == -1)
		return;
	if (to->local[0] == '\0') {
		service_stanza(st, &from, to);
		return;
	}
	rb.resource[0] = '\0';
	if (jid_bare(&rb, rj, sizeof rj) == -1)
		return;
	r = room_find(rj);
	if (xml_is(st, "presence", NULL))
		occ_presence(r, st, &from, to);
	else if (xml_is(st, "message", NULL))
		occ_message(r, st, &from, to);
	else if (xml_is(st, "iq", NULL)) {
		if (!iq_is_request(st)) {
			if (r != NULL && to->resource[0] != '\0')
				occ_iq_response(r, st, &from, to);
		} else if (to->resource[0] != '\0')
			occ_iq(r, st, &from, to);
		else
			room_iq(r, st, &from, to);
	}
}

/*
 * What we route may come straight back here (an error bounced by a
 * privacy list, a room's message to another room): only the outermost
 * call removes the ghosts such errors revealed.
 */
static void
muc_component_route(struct xml_node *st, const struct jid *to)
{
	static int depth;

	if (depth >= 8) {
		log_info("muc: stanzas bouncing between rooms: one dropped");
		return;
	}
	depth++;
	dispatch(st, to);
	if (--depth == 0)
		occ_ghosts_flush();
}

/* ---- hooks ---- */

/* The service in the host's disco#items (XEP-0045 6.1). */
static int
muc_disco_items(const struct iq_req *r, const char *node, struct xml_node *q)
{
	const struct host_config *h;
	struct xml_node *it;

	if (node != NULL)
		return 0;
	h = config_host(server_config(), r->to.domain);
	if (h == NULL || h->muc == NULL)
		return 0;
	it = xml_add(q, "item", NULL);
	xml_set_attr(it, "jid", h->muc);
	xml_set_attr(it, "name", muc_service_name());
	return 0;
}

static void
muc_session_end(struct session *s)
{
	occ_session_gone(s->full);
}

static int
muc_outbound(struct session *s, struct xml_node *st)
{
	if (xml_is(st, "message", NULL))
		occ_direct_invite(s, st);
	return 0;
}

static void
idle_one(struct room *r, void *arg)
{
	arch_idle(r);
}

static void
muc_tick(int64_t now)
{
	static int64_t next_idle;

	csess_expire(now);
	occ_pending_expire(now);
	occ_ghosts_flush();
	/* Archive indexes of empty rooms go after a while: memory for
	 * the rooms in use. */
	if (now >= next_idle) {
		next_idle = now + ARCH_IDLE_MS;
		rooms_each(idle_one, NULL);
	}
}

static void
muc_fini(void)
{
	rooms_free_all();
	occ_free_all();
	for (size_t i = 0; i < loaded.n; i++)
		free(loaded.v[i]);
	free(loaded.v);
	loaded.v = NULL;
	loaded.n = 0;
}

const struct module mod_muc = {
	.name = "muc",
	.init = muc_init,
	.outbound = muc_outbound,
	.session_end = muc_session_end,
	.disco_items = muc_disco_items,
	.tick = muc_tick,
	.serves_domain = muc_serves,
	.component_route = muc_component_route,
	.stopping = occ_shutdown_all,
	.fini = muc_fini,
	.config_check = muc_config_check,
};
