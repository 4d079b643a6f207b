/*
 * admin_adhoc.c - server administration (XEP-0133) over ad-hoc commands
 * (XEP-0050): adding, deleting and re-keying accounts, reading a roster,
 * counting and listing users, announcements, the message of the day and
 * a configuration reload.
 *
 * Only the bare JIDs in [server] admins, from a session on this server,
 * may list or run the commands.  A command that needs input answers its
 * first request with a form and a session id (status 'executing'); the
 * submitted form completes it.  A first request that already carries a
 * submitted form completes at once.  Sessions live in memory only: a
 * bounded table, each entry bound to the requester's full JID, the host
 * and the command, and dropped when it completes, is canceled, times out
 * or its requester's session ends.
 *
 * Commands act on the host the request was addressed to: lists, counts,
 * announcements and the MOTD are per host; account commands take any
 * account on any host this server serves.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "roster.h"

#define NS_COMMANDS	"http://jabber.org/protocol/commands"
#define NS_XDATA	"jabber:x:data"
#define NS_ADMIN	"http://jabber.org/protocol/admin"
#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	"http://jabber.org/protocol/disco#items"
#define ADMIN_NODE(x)	NS_ADMIN "#" x
/* Prosody's node for the same thing, so tools written for it work. */
#define NODE_RELOAD	"http://prosody.im/protocol/config#reload"

#define MODNAME		"admin_adhoc"
#define MOTD_FILE	"motd"
/* The motd module reads at most this much of the file. */
#define TEXT_MAX	16384
#define FORM_MAX_FIELDS	32
#define FORM_MAX_VALUES	64	/* values of one field (accountjids) */
#define SESSIONS_HARD_MAX 256
#define MSG_MAX		4096	/* error texts and notes */

#define DEF_MAX_SESSIONS	64
#define DEF_SESSION_TIMEOUT	600	/* seconds */
#define DEF_MAX_LIST_ITEMS	1000

enum action { ACT_EXECUTE, ACT_CANCEL, ACT_PREV, ACT_NEXT, ACT_COMPLETE };

struct form {
	int			 present;
	const struct xml_node	*field[FORM_MAX_FIELDS];
	const char		*var[FORM_MAX_FIELDS];
	size_t			 n;
};

struct cmd;

/* One request being answered. */
struct ctx {
	struct iq_req		*r;
	const struct cmd	*cmd;
	const char		*host;		/* the host addressed */
	char			 who[JID_MAX + 1];	/* requester, bare */
	struct form		 form;
	struct xml_node		*out;		/* the <command/> of the reply */
	const char		*app;		/* XEP-0050 condition on error */
	char			 text[MSG_MAX];	/* error text */
};

struct cmd {
	const char	*node;
	const char	*name;
	/* Add the input form's fields, or NULL: the command takes no input
	 * (an optional submitted form is still read). */
	void		(*form)(struct ctx *, struct xml_node *x);
	const char	*instructions;
	/* Do it; on ERR_NONE the result is in c->out, otherwise the error
	 * condition is returned with c->app and c->text. */
	enum stanza_error (*run)(struct ctx *);
};

struct asession {
	int			 used;
	char			 id[48];
	const struct cmd	*cmd;
	char			*owner;		/* full JID of the requester */
	char			*host;
	int64_t			 last;		/* now_ms() of the last use */
};

static struct asession sessions[SESSIONS_HARD_MAX];
/* Serial numbers of session ids: every id below it was handed out by
 * this process, which tells an expired id from a made-up one. */
static uint64_t next_serial = 1;

/* ---- settings ---- */

static const struct {
	const char	*key;
	unsigned long	 min, max, def;
	const char	*what;
} settings[] = {
	{ "max_sessions", 1, SESSIONS_HARD_MAX, DEF_MAX_SESSIONS,
	    "command sessions waiting for a form" },
	{ "session_timeout", 1, 86400, DEF_SESSION_TIMEOUT,
	    "seconds a command session waits for its form" },
	{ "max_list_items", 1, 100000, DEF_MAX_LIST_ITEMS,
	    "JIDs in one user list" },
};
#define NSETTINGS	(sizeof settings / sizeof settings[0])

static unsigned long
setting(const char *key)
{
	const struct config *cfg = server_config();
	unsigned long v;

	for (size_t i = 0; i < NSETTINGS; i++) {
		if (strcmp(settings[i].key, key) != 0)
			continue;
		if (parse_ulong(config_module_opt(cfg, MODNAME, key),
		    settings[i].min, settings[i].max, &v) == 0)
			return v;
		return settings[i].def;
	}
	return 0;
}

static int
adhoc_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	unsigned long v;

	for (size_t i = 0; i < NSETTINGS; i++) {
		if (strcmp(settings[i].key, key) != 0)
			continue;
		if (parse_ulong(value, settings[i].min, settings[i].max, &v) == 0)
			return 0;
		snprintf(err, errlen, "%s must be a whole number from %lu to "
		    "%lu (%s)", key, settings[i].min, settings[i].max,
		    settings[i].what);
		return -1;
	}
	snprintf(err, errlen, "unknown key '%s' (known: max_sessions, "
	    "session_timeout, max_list_items)", key);
	return -1;
}

/* ---- small helpers ---- */

/* Cut s back so that it does not end inside a UTF-8 sequence (after a
 * truncating snprintf). */
static void
utf8_clip(char *s)
{
	size_t n = strlen(s), i = n, need;
	unsigned char c;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && n - i < 3)
		i--;
	if (i == 0)
		return;
	c = (unsigned char)s[i - 1];
	if (c < 0x80)
		return;
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

static void
vformat(char *out, size_t outlen, const char *fmt, va_list ap)
{
	int n = vsnprintf(out, outlen, fmt, ap);

	if (n < 0)
		out[0] = '\0';
	else if ((size_t)n >= outlen)
		utf8_clip(out);
}

/* Record an error for the reply; returns e for "return bad(...)". */
static enum stanza_error
bad(struct ctx *c, enum stanza_error e, const char *app, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum stanza_error
bad(struct ctx *c, enum stanza_error e, const char *app, const char *fmt, ...)
{
	va_list ap;

	c->app = app;
	va_start(ap, fmt);
	vformat(c->text, sizeof c->text, fmt, ap);
	va_end(ap);
	return e;
}

static void
note(struct ctx *c, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note(struct ctx *c, const char *type, const char *fmt, ...)
{
	char text[MSG_MAX];
	struct xml_node *n;
	va_list ap;

	va_start(ap, fmt);
	vformat(text, sizeof text, fmt, ap);
	va_end(ap);
	n = xml_add_text_child(c->out, "note", NULL, text);
	xml_set_attr(n, "type", type);
}

/*
 * Is this text safe in a message body and a form value?  Valid UTF-8
 * without NUL and without what XML 1.0 forbids (controls other than
 * tab, line feed and carriage return; U+FFFE, U+FFFF).
 */
static int
text_is_sendable(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	if (!utf8_is_valid(s, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (u[i] < 0x20 && u[i] != '\t' && u[i] != '\n' && u[i] != '\r')
			return 0;
		if (u[i] == 0xef && i + 2 < n && u[i + 1] == 0xbf &&
		    (u[i + 2] == 0xbe || u[i + 2] == 0xbf))
			return 0;
	}
	return 1;
}

static int
is_blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

static int
requester_is_admin(const struct iq_req *r, char *bare, size_t barelen)
{
	/* Only a session of this server: the admin list names accounts,
	 * and a stanza from elsewhere proves nothing about who sent it. */
	if (r->preauth || r->sess == NULL)
		return 0;
	if (jid_bare(&r->from, bare, barelen) == -1)
		return 0;
	return config_is_admin(server_config(), bare);
}

/* ---- data forms (XEP-0004) ---- */

static struct xml_node *
form_new(struct xml_node *parent, const char *type, const char *title,
    const char *instructions)
{
	struct xml_node *x = xml_add(parent, "x", NS_XDATA), *f;

	xml_set_attr(x, "type", type);
	if (title != NULL)
		xml_add_text_child(x, "title", NULL, title);
	if (instructions != NULL)
		xml_add_text_child(x, "instructions", NULL, instructions);
	f = xml_add(x, "field", NULL);
	xml_set_attr(f, "type", "hidden");
	xml_set_attr(f, "var", "FORM_TYPE");
	xml_add_text_child(f, "value", NULL, NS_ADMIN);
	return x;
}

static struct xml_node *
field_add(struct xml_node *x, const char *var, const char *type,
    const char *label, int required)
{
	struct xml_node *f = xml_add(x, "field", NULL);

	xml_set_attr(f, "var", var);
	if (type != NULL)
		xml_set_attr(f, "type", type);
	if (label != NULL)
		xml_set_attr(f, "label", label);
	if (required)
		xml_add(f, "required", NULL);
	return f;
}

static void
field_value(struct xml_node *f, const char *v)
{
	xml_add_text_child(f, "value", NULL, v);
}

/* Values of a text-multi field: one per line. */
static void
field_lines(struct xml_node *f, const char *text)
{
	const char *p = text, *nl;
	size_t len;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		xml_add_text(xml_add(f, "value", NULL), p, len);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static size_t
count_values(const struct xml_node *field)
{
	const struct xml_node *v;
	size_t n = 0;

	for (v = xml_child(field, "value", NS_XDATA); v != NULL;
	    v = xml_next(v, "value", NS_XDATA))
		n++;
	return n;
}

/*
 * Read the submitted form of a <command/>, if there is one.  Checks its
 * shape only (type submit, named fields, each once, bounded counts, the
 * admin FORM_TYPE); what the fields mean is each command's business.
 */
static enum stanza_error
form_parse(struct ctx *c, const struct xml_node *command)
{
	struct form *f = &c->form;
	const struct xml_node *x, *fe;
	const char *type, *var;

	memset(f, 0, sizeof *f);
	if ((x = xml_child(command, "x", NS_XDATA)) == NULL)
		return ERR_NONE;
	f->present = 1;
	type = xml_attr(x, "type");
	/* XEP-0050 4.5.1: a 'cancel' form counts as a submission. */
	if (type == NULL || (strcmp(type, "submit") != 0 &&
	    strcmp(type, "cancel") != 0))
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "The data form must be of type 'submit'");
	for (fe = xml_child(x, "field", NS_XDATA); fe != NULL;
	    fe = xml_next(fe, "field", NS_XDATA)) {
		var = xml_attr(fe, "var");
		if (var == NULL || *var == '\0')
			return bad(c, ERR_BAD_REQUEST, "bad-payload",
			    "A submitted field has no 'var'");
		for (size_t i = 0; i < f->n; i++)
			if (strcmp(f->var[i], var) == 0)
				return bad(c, ERR_BAD_REQUEST, "bad-payload",
				    "A field is submitted twice");
		if (f->n == FORM_MAX_FIELDS)
			return bad(c, ERR_BAD_REQUEST, "bad-payload",
			    "More than %d fields", FORM_MAX_FIELDS);
		if (count_values(fe) > FORM_MAX_VALUES)
			return bad(c, ERR_BAD_REQUEST, "bad-payload",
			    "More than %d values in one field", FORM_MAX_VALUES);
		f->field[f->n] = fe;
		f->var[f->n] = var;
		f->n++;
	}
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->var[i], "FORM_TYPE") != 0)
			continue;
		if (count_values(f->field[i]) != 1 || strcmp(xml_child_text(
		    f->field[i], "value", NS_XDATA), NS_ADMIN) != 0)
			return bad(c, ERR_BAD_REQUEST, "bad-payload",
			    "FORM_TYPE must be " NS_ADMIN);
	}
	return ERR_NONE;
}

static const struct xml_node *
form_field(const struct ctx *c, const char *var)
{
	for (size_t i = 0; i < c->form.n; i++)
		if (strcmp(c->form.var[i], var) == 0)
			return c->form.field[i];
	return NULL;
}

/* The value of a single-valued field; *out NULL when it is absent or
 * has no value. */
static enum stanza_error
form_single(struct ctx *c, const char *var, const char **out)
{
	const struct xml_node *f = form_field(c, var);

	*out = NULL;
	if (f == NULL)
		return ERR_NONE;
	if (count_values(f) > 1)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "Field '%s' takes one value", var);
	*out = xml_child_text(f, "value", NS_XDATA);
	return ERR_NONE;
}

/* A required single value that is not empty. */
static enum stanza_error
form_required(struct ctx *c, const char *var, const char **out)
{
	enum stanza_error e;

	if ((e = form_single(c, var, out)) != ERR_NONE)
		return e;
	if (*out == NULL || **out == '\0')
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "Field '%s' is required", var);
	return ERR_NONE;
}

/* The values of a text-multi field joined by line feeds into b; b is
 * left empty when the field is absent. */
static enum stanza_error
form_text(struct ctx *c, const char *var, struct buf *b)
{
	const struct xml_node *f = form_field(c, var), *v;
	int first = 1;

	if (f == NULL)
		return ERR_NONE;
	for (v = xml_child(f, "value", NS_XDATA); v != NULL;
	    v = xml_next(v, "value", NS_XDATA)) {
		if ((!first && buf_add(b, "\n", 1) == -1) ||
		    buf_addstr(b, xml_text(v)) == -1)
			return bad(c, ERR_BAD_REQUEST, "bad-payload",
			    "Field '%s' is longer than %d bytes", var, TEXT_MAX);
		first = 0;
	}
	return ERR_NONE;
}

/*
 * An account JID from a form: valid, user@host without a resource, on a
 * host this server serves.
 */
static enum stanza_error
account_jid(struct ctx *c, const char *var, const char *s, struct jid *out)
{
	if (jid_parse(out, s) == -1)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "Field '%s': not a valid JID", var);
	if (out->local[0] == '\0' || out->resource[0] != '\0')
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "Field '%s': an account is user@host, without a resource",
		    var);
	if (!host_is_local(out->domain))
		return bad(c, ERR_NOT_ALLOWED, NULL,
		    "%s is not a host of this server", out->domain);
	return ERR_NONE;
}

static enum stanza_error
existing_account(struct ctx *c, const char *var, const char *s,
    struct jid *out)
{
	enum stanza_error e;

	if ((e = account_jid(c, var, s, out)) != ERR_NONE)
		return e;
	if (!account_exists(out->domain, out->local))
		return bad(c, ERR_ITEM_NOT_FOUND, NULL,
		    "There is no account %s@%s", out->local, out->domain);
	return ERR_NONE;
}

/* ---- sessions on this server ---- */

struct walk {
	const char	*host;
	struct xml_node	*msg;		/* to send, or NULL */
	int		 available_only;
	size_t		 nsessions, nusers;
	char		**jids;		/* bare JIDs of online users */
	size_t		 njids, cap;
};

static void
walk_session(struct session *s, void *arg)
{
	struct walk *w = arg;

	if (strcmp(s->host, w->host) != 0)
		return;
	/* A user's sessions hang off one record: count it at its first. */
	if (s->user != NULL && s->user->sessions == s) {
		w->nusers++;
		if (w->cap > 0) {
			if (w->njids == w->cap) {
				w->cap *= 2;
				w->jids = xrealloc(w->jids, w->cap * sizeof *w->jids);
			}
			w->jids[w->njids++] = xstrdup(s->bare);
		}
	}
	if (w->msg != NULL && (!w->available_only || s->available)) {
		xml_set_attr(w->msg, "to", s->full);
		session_send(s, w->msg);
		w->nsessions++;
	}
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->njids; i++)
		free(w->jids[i]);
	free(w->jids);
}

/* Send a normal message from the host to its sessions; how many. */
static size_t
broadcast(const char *host, const char *subject, const char *body,
    int available_only)
{
	struct walk w;

	memset(&w, 0, sizeof w);
	w.host = host;
	w.available_only = available_only;
	w.msg = xml_new(xml_arena_new(), "message", NS_CLIENT);
	xml_set_attr(w.msg, "type", "normal");
	xml_set_attr(w.msg, "from", host);
	if (subject != NULL && *subject != '\0')
		xml_add_text_child(w.msg, "subject", NULL, subject);
	xml_add_text_child(w.msg, "body", NULL, body);
	sessions_each(walk_session, &w);
	xml_arena_free(w.msg->arena);
	return w.nsessions;
}

/* ---- command sessions ---- */

static void
asession_free(struct asession *s)
{
	free(s->owner);
	free(s->host);
	memset(s, 0, sizeof *s);
}

static int
asession_expired(const struct asession *s, int64_t now)
{
	return now - s->last > (int64_t)setting("session_timeout") * 1000;
}

static void
new_id(char *out, size_t outlen)
{
	uint64_t rnd;

	random_bytes(&rnd, sizeof rnd);
	snprintf(out, outlen, "%" PRIu64 "-%016" PRIx64, next_serial++, rnd);
}

/* Was id handed out by this process?  (Then it has ended.) */
static int
id_was_issued(const char *id)
{
	uint64_t serial = 0;
	const char *p = id;
	size_t i;

	for (; isdigit((unsigned char)*p); p++) {
		if (serial > (UINT64_MAX - 9) / 10)
			return 0;
		serial = serial * 10 + (uint64_t)(*p - '0');
	}
	if (p == id || *p++ != '-')
		return 0;
	for (i = 0; i < 16; i++)
		if (!isdigit((unsigned char)p[i]) && (p[i] < 'a' || p[i] > 'f'))
			return 0;
	return p[16] == '\0' && serial > 0 && serial < next_serial;
}

static struct asession *
asession_new(struct ctx *c)
{
	size_t max = setting("max_sessions"), used = 0, i;
	struct asession *free_slot = NULL;
	int64_t now = now_ms();

	for (i = 0; i < SESSIONS_HARD_MAX; i++) {
		if (sessions[i].used && asession_expired(&sessions[i], now))
			asession_free(&sessions[i]);
		if (sessions[i].used)
			used++;
		else if (free_slot == NULL)
			free_slot = &sessions[i];
	}
	if (used >= max || free_slot == NULL)
		return NULL;
	free_slot->used = 1;
	new_id(free_slot->id, sizeof free_slot->id);
	free_slot->cmd = c->cmd;
	free_slot->owner = xstrdup(c->r->from_str);
	free_slot->host = xstrdup(c->host);
	free_slot->last = now;
	return free_slot;
}

/*
 * The live session named id for this requester, host and command, or
 * NULL with the XEP-0050 error in c.
 */
static struct asession *
asession_find(struct ctx *c, const char *id, enum stanza_error *e)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < SESSIONS_HARD_MAX; i++) {
		struct asession *s = &sessions[i];
		if (!s->used || strcmp(s->id, id) != 0)
			continue;
		if (asession_expired(s, now)) {
			asession_free(s);
			break;
		}
		/* Someone else's session, or another command's: not one
		 * this requester may continue. */
		if (strcmp(s->owner, c->r->from_str) != 0 ||
		    strcmp(s->host, c->host) != 0 || s->cmd != c->cmd) {
			*e = bad(c, ERR_BAD_REQUEST, "bad-sessionid",
			    "This session belongs to another requester or "
			    "command");
			return NULL;
		}
		s->last = now;
		return s;
	}
	if (id_was_issued(id))
		*e = bad(c, ERR_NOT_ALLOWED, "session-expired",
		    "The session has ended or timed out");
	else
		*e = bad(c, ERR_BAD_REQUEST, "bad-sessionid",
		    "Unknown session id");
	return NULL;
}

/* ---- replies ---- */

/*
 * Answer with an error carrying an XEP-0050 condition.  The <command/>
 * goes back with its attributes only, so a submitted password is never
 * echoed.
 */
static enum stanza_error
reply_error(const struct iq_req *r, enum stanza_error e, const char *app,
    const char *text)
{
	struct xml_node *res = xml_new(xml_arena_new(), "iq", NS_CLIENT);
	struct xml_node *cmd, *er;
	const char *attrs[] = { "node", "sessionid", "action" };

	xml_set_attr(res, "type", "error");
	if (r->id != NULL)
		xml_set_attr(res, "id", r->id);
	if (r->from_str != NULL)
		xml_set_attr(res, "to", r->from_str);
	if (r->to_str != NULL)
		xml_set_attr(res, "from", r->to_str);
	cmd = xml_add(res, "command", NS_COMMANDS);
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
		if (xml_attr(r->payload, attrs[i]) != NULL)
			xml_set_attr(cmd, attrs[i], xml_attr(r->payload, attrs[i]));
	er = xml_add(res, "error", NULL);
	xml_set_attr(er, "type", stanza_error_type(e));
	xml_add(er, stanza_error_name(e), NS_STANZAS);
	if (app != NULL)
		xml_add(er, app, NS_COMMANDS);
	if (text != NULL && *text != '\0')
		xml_add_text_child(er, "text", NS_STANZAS, text);
	iq_reply(r, res);
	return ERR_NONE;
}

static struct xml_node *
reply_start(struct ctx *c, const char *sessionid, const char *status)
{
	struct xml_node *res = iq_result(c->r);

	c->out = xml_add(res, "command", NS_COMMANDS);
	xml_set_attr(c->out, "node", c->cmd->node);
	if (sessionid != NULL)
		xml_set_attr(c->out, "sessionid", sessionid);
	xml_set_attr(c->out, "status", status);
	return res;
}

/*
 * Run the command with the submitted form in c and send what comes out:
 * 0 if it completed, -1 if an error went back instead.
 */
static int
complete(struct ctx *c, const char *sessionid)
{
	struct xml_node *res = reply_start(c, sessionid, "completed");
	enum stanza_error e;

	if ((e = c->cmd->run(c)) != ERR_NONE) {
		xml_arena_free(res->arena);
		reply_error(c->r, e, c->app, c->text);
		return -1;
	}
	iq_reply(c->r, res);
	return 0;
}

/* The first stage of a command with input: the form to fill in. */
static enum stanza_error
send_form(struct ctx *c, const struct asession *s)
{
	struct xml_node *res = reply_start(c, s->id, "executing"), *a, *x;

	a = xml_add(c->out, "actions", NULL);
	xml_set_attr(a, "execute", "complete");
	xml_add(a, "complete", NULL);
	x = form_new(c->out, "form", c->cmd->name, c->cmd->instructions);
	c->cmd->form(c, x);
	iq_reply(c->r, res);
	return ERR_NONE;
}

/* ---- the commands ---- */

static void
form_add_user(struct ctx *c, struct xml_node *x)
{
	field_add(x, "accountjid", "jid-single",
	    "The Jabber ID for the account to be added", 1);
	field_add(x, "password", "text-private",
	    "The password for this account", 1);
	field_add(x, "password-verify", "text-private", "Retype password", 1);
}

static enum stanza_error
run_add_user(struct ctx *c)
{
	const char *jid, *pw, *pw2;
	char esc[256], err[256];
	struct jid j;
	enum stanza_error e;

	if ((e = form_required(c, "accountjid", &jid)) != ERR_NONE ||
	    (e = form_required(c, "password", &pw)) != ERR_NONE ||
	    (e = form_single(c, "password-verify", &pw2)) != ERR_NONE ||
	    (e = account_jid(c, "accountjid", jid, &j)) != ERR_NONE)
		return e;
	/* A client that sends no verification field at all (a script) is
	 * believed; one that sends it must send the same password. */
	if (form_field(c, "password-verify") != NULL &&
	    (pw2 == NULL || strcmp(pw, pw2) != 0))
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "The passwords do not match");
	if (strlen(pw) > PASSWORD_MAX)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "The password is longer than %d bytes", PASSWORD_MAX);
	if (store_escape(j.local, esc, sizeof esc) == -1)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "The user name is too long to be stored");
	if (account_exists(j.domain, j.local))
		return bad(c, ERR_CONFLICT, NULL, "%s@%s already exists",
		    j.local, j.domain);
	if (account_create(j.domain, j.local, pw, err, sizeof err) == -1) {
		if (errno == EEXIST)
			return bad(c, ERR_CONFLICT, NULL, "%s", err);
		log_warnx("admin_adhoc: %s could not add %s@%s: %s",
		    c->r->from_str, j.local, j.domain, err);
		return bad(c, ERR_INTERNAL_SERVER_ERROR, NULL, "%s", err);
	}
	log_info("admin_adhoc: %s added account %s@%s", c->r->from_str,
	    j.local, j.domain);
	note(c, "info", "Account %s@%s created", j.local, j.domain);
	return ERR_NONE;
}

static void
form_delete_user(struct ctx *c, struct xml_node *x)
{
	field_add(x, "accountjids", "jid-multi", "The Jabber ID(s) to delete",
	    1);
}

static enum stanza_error
run_delete_user(struct ctx *c)
{
	const struct xml_node *f = form_field(c, "accountjids"), *v;
	struct jid *jids;
	struct buf done, failed;
	char err[256];
	size_t n = 0, i, k, ndone = 0;
	enum stanza_error e = ERR_NONE;

	if (f == NULL || count_values(f) == 0)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "Field 'accountjids' is required");
	jids = xcalloc(FORM_MAX_VALUES, sizeof *jids);
	/* All or nothing as far as the input goes: check every JID before
	 * deleting any. */
	for (v = xml_child(f, "value", NS_XDATA); v != NULL && e == ERR_NONE;
	    v = xml_next(v, "value", NS_XDATA)) {
		if ((e = existing_account(c, "accountjids", xml_text(v),
		    &jids[n])) != ERR_NONE)
			break;
		if (strcmp(jids[n].local, c->r->from.local) == 0 &&
		    strcmp(jids[n].domain, c->r->from.domain) == 0) {
			e = bad(c, ERR_NOT_ALLOWED, NULL, "An administrator "
			    "cannot delete their own account this way");
			break;
		}
		for (k = 0; k < n; k++)
			if (jid_bare_equal(&jids[k], &jids[n]))
				break;
		if (k == n)
			n++;
	}
	if (e != ERR_NONE) {
		free(jids);
		return e;
	}
	buf_init(&done, MSG_MAX);
	buf_init(&failed, MSG_MAX);
	for (i = 0; i < n; i++) {
		/* Ends the account's sessions, then removes its directory. */
		if (account_delete(jids[i].domain, jids[i].local, err,
		    sizeof err) == -1) {
			log_warnx("admin_adhoc: %s could not delete %s@%s: %s",
			    c->r->from_str, jids[i].local, jids[i].domain, err);
			buf_printf(&failed, "%s%s@%s (%s)", buf_used(&failed) ?
			    ", " : "", jids[i].local, jids[i].domain, err);
			continue;
		}
		log_info("admin_adhoc: %s deleted account %s@%s",
		    c->r->from_str, jids[i].local, jids[i].domain);
		buf_printf(&done, "%s%s@%s", ndone ? ", " : "",
		    jids[i].local, jids[i].domain);
		ndone++;
	}
	/* (buf_printf adds a whole name or nothing: no cut sequences.) */
	if (ndone > 0)
		note(c, "info", "Deleted: %s", buf_cstr(&done));
	/* XEP-0050 4.4: a command that completes but fails says so in a
	 * note of type error. */
	if (buf_used(&failed) > 0)
		note(c, "error", "Not deleted: %s", buf_cstr(&failed));
	buf_free(&done);
	buf_free(&failed);
	free(jids);
	return ERR_NONE;
}

static void
form_change_password(struct ctx *c, struct xml_node *x)
{
	field_add(x, "accountjid", "jid-single", "The Jabber ID for this account",
	    1);
	field_add(x, "password", "text-private", "The password for this account",
	    1);
}

static enum stanza_error
run_change_password(struct ctx *c)
{
	const char *jid, *pw;
	char err[256];
	struct jid j;
	enum stanza_error e;

	if ((e = form_required(c, "accountjid", &jid)) != ERR_NONE ||
	    (e = form_required(c, "password", &pw)) != ERR_NONE ||
	    (e = existing_account(c, "accountjid", jid, &j)) != ERR_NONE)
		return e;
	if (strlen(pw) > PASSWORD_MAX)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "The password is longer than %d bytes", PASSWORD_MAX);
	if (account_set_password(j.domain, j.local, pw, err, sizeof err) == -1) {
		if (errno == ENOENT)
			return bad(c, ERR_ITEM_NOT_FOUND, NULL, "%s", err);
		log_warnx("admin_adhoc: %s could not change the password of "
		    "%s@%s: %s", c->r->from_str, j.local, j.domain, err);
		return bad(c, ERR_INTERNAL_SERVER_ERROR, NULL, "%s", err);
	}
	log_info("admin_adhoc: %s changed the password of %s@%s",
	    c->r->from_str, j.local, j.domain);
	note(c, "info", "Password of %s@%s changed", j.local, j.domain);
	return ERR_NONE;
}

static void
form_get_roster(struct ctx *c, struct xml_node *x)
{
	field_add(x, "accountjids", "jid-multi",
	    "The Jabber ID for which to retrieve the roster", 1);
}

static enum stanza_error
run_get_roster(struct ctx *c)
{
	const struct xml_node *f = form_field(c, "accountjids");
	struct xml_node *x, *fe, *q, *it;
	struct roster ro;
	char bare[JID_MAX + 1];
	struct jid j;
	enum stanza_error e;

	/* XEP-0133 names the field accountjids, but its result has room
	 * for one roster only: one account per request. */
	if (f == NULL)
		f = form_field(c, "accountjid");
	if (f == NULL || count_values(f) == 0)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "Field 'accountjids' is required");
	if (count_values(f) > 1)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "One account at a time");
	if ((e = existing_account(c, "accountjids",
	    xml_child_text(f, "value", NS_XDATA), &j)) != ERR_NONE)
		return e;
	if (roster_load(j.domain, j.local, &ro) == -1)
		return bad(c, ERR_INTERNAL_SERVER_ERROR, NULL,
		    "The roster of %s@%s cannot be read", j.local, j.domain);
	jid_bare(&j, bare, sizeof bare);
	x = form_new(c->out, "result", "Roster", NULL);
	fe = field_add(x, "accountjids", "jid-multi", NULL, 0);
	field_value(fe, bare);
	q = xml_add(x, "query", NS_ROSTER);
	/* Stored items carry exactly the wire format's attributes. */
	for (it = xml_child(ro.root, "item", NS_ROSTER); it != NULL;
	    it = xml_next(it, "item", NS_ROSTER))
		xml_append_copy(q, it);
	roster_free(&ro);
	return ERR_NONE;
}

/* max_items of an optional submitted form ("none" or absent: all). */
static enum stanza_error
list_limit(struct ctx *c, size_t *limit)
{
	const char *v;
	unsigned long n;
	enum stanza_error e;

	*limit = setting("max_list_items");
	if ((e = form_single(c, "max_items", &v)) != ERR_NONE)
		return e;
	if (v == NULL || *v == '\0' || strcmp(v, "none") == 0)
		return ERR_NONE;
	if (parse_ulong(v, 1, 100000, &n) == -1)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "max_items must be a positive number or 'none'");
	if (n < *limit)
		*limit = n;
	return ERR_NONE;
}

static void
result_number(struct ctx *c, const char *var, const char *label, size_t n)
{
	struct xml_node *x = form_new(c->out, "result", NULL, NULL), *f;
	char num[32];

	snprintf(num, sizeof num, "%zu", n);
	f = field_add(x, var, "text-single", label, 0);
	field_value(f, num);
}

static void
result_list(struct ctx *c, const char *var, const char *label, char **v,
    size_t n, size_t total)
{
	struct xml_node *x = form_new(c->out, "result", NULL, NULL), *f;

	if (n < total)
		note(c, "warn", "Showing %zu of %zu", n, total);
	f = field_add(x, var, "jid-multi", label, 0);
	for (size_t i = 0; i < n; i++)
		field_value(f, v[i]);
}

static enum stanza_error
online_users(struct ctx *c, int list)
{
	struct walk w;
	size_t limit;
	enum stanza_error e;

	if ((e = list_limit(c, &limit)) != ERR_NONE)
		return e;
	memset(&w, 0, sizeof w);
	w.host = c->host;
	if (list) {
		w.cap = 16;
		w.jids = xcalloc(w.cap, sizeof *w.jids);
	}
	sessions_each(walk_session, &w);
	if (list) {
		qsort(w.jids, w.njids, sizeof *w.jids, cmp_str);
		result_list(c, "onlineuserjids", "The list of all online users",
		    w.jids, w.njids < limit ? w.njids : limit, w.njids);
	} else
		result_number(c, "onlineusersnum", "The number of online users",
		    w.nusers);
	walk_free(&w);
	return ERR_NONE;
}

static enum stanza_error
run_online_num(struct ctx *c)
{
	return online_users(c, 0);
}

static enum stanza_error
run_online_list(struct ctx *c)
{
	return online_users(c, 1);
}

struct reg {
	const char	*host;
	size_t		 n, limit;
	char		**v;
};

static int
reg_user(const char *local, void *arg)
{
	struct reg *g = arg;
	char bare[JID_MAX + 1];

	/* A directory is an account only once its credentials exist. */
	if (!account_exists(g->host, local))
		return 0;
	if (g->v != NULL && g->n < g->limit) {
		snprintf(bare, sizeof bare, "%s@%s", local, g->host);
		g->v[g->n] = xstrdup(bare);
	}
	g->n++;
	return 0;
}

static enum stanza_error
registered_users(struct ctx *c, int list)
{
	struct reg g;
	size_t limit, shown;
	enum stanza_error e;

	if ((e = list_limit(c, &limit)) != ERR_NONE)
		return e;
	memset(&g, 0, sizeof g);
	g.host = c->host;
	g.limit = limit;
	if (list)
		g.v = xcalloc(limit, sizeof *g.v);
	if (store_list_users(c->host, reg_user, &g) == -1) {
		log_warn("admin_adhoc: listing the accounts of %s", c->host);
		e = bad(c, ERR_INTERNAL_SERVER_ERROR, NULL,
		    "The accounts cannot be listed");
	} else if (list) {
		/* The store lists them sorted already. */
		shown = g.n < limit ? g.n : limit;
		result_list(c, "registereduserjids", "The list of all users",
		    g.v, shown, g.n);
	} else
		result_number(c, "registeredusersnum",
		    "The number of registered users", g.n);
	if (g.v != NULL) {
		for (size_t i = 0; i < limit && i < g.n; i++)
			free(g.v[i]);
		free(g.v);
	}
	return e;
}

static enum stanza_error
run_registered_num(struct ctx *c)
{
	return registered_users(c, 0);
}

static enum stanza_error
run_registered_list(struct ctx *c)
{
	return registered_users(c, 1);
}

static void
form_announce(struct ctx *c, struct xml_node *x)
{
	field_add(x, "subject", "text-single", "Subject", 0);
	field_add(x, "announcement", "text-multi", "Announcement", 1);
}

static enum stanza_error
run_announce(struct ctx *c)
{
	const char *subject;
	struct buf b;
	size_t n;
	enum stanza_error e;

	if ((e = form_single(c, "subject", &subject)) != ERR_NONE)
		return e;
	if (subject != NULL && strlen(subject) > 1024)
		return bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "The subject is longer than 1024 bytes");
	buf_init(&b, TEXT_MAX);
	if ((e = form_text(c, "announcement", &b)) != ERR_NONE)
		goto out;
	if (is_blank(buf_cstr(&b))) {
		e = bad(c, ERR_BAD_REQUEST, "bad-payload",
		    "Field 'announcement' is required");
		goto out;
	}
	n = broadcast(c->host, subject, buf_cstr(&b), 0);
	log_info("admin_adhoc: %s sent an announcement to %zu session(s) "
	    "on %s", c->r->from_str, n, c->host);
	note(c, "info", "Announcement sent to %zu session(s)", n);
out:
	buf_free(&b);
	return e;
}

/* The stored MOTD of the host as a heap string, else [server] motd, else
 * NULL. */
static char *
motd_current(const char *host)
{
	const char *cfg = server_config()->motd;
	char *text = NULL;
	ssize_t n;

	n = store_read(host, NULL, MOTD_FILE, TEXT_MAX, &text);
	if (n >= 0 && strlen(text) == (size_t)n &&
	    text_is_sendable(text, (size_t)n) && !is_blank(text))
		return text;
	free(text);
	if (cfg != NULL && !is_blank(cfg) && text_is_sendable(cfg, strlen(cfg)))
		return xstrdup(cfg);
	return NULL;
}

static void
form_set_motd(struct ctx *c, struct xml_node *x)
{
	field_add(x, "motd", "text-multi", "Message of the Day", 1);
}

static void
form_edit_motd(struct ctx *c, struct xml_node *x)
{
	struct xml_node *f = field_add(x, "motd", "text-multi",
	    "Message of the Day", 1);
	char *cur = motd_current(c->host);

	if (cur != NULL)
		field_lines(f, cur);
	free(cur);
}

static enum stanza_error
run_set_motd(struct ctx *c)
{
	struct buf b;
	size_t n;
	enum stanza_error e;

	buf_init(&b, TEXT_MAX);
	if ((e = form_text(c, "motd", &b)) != ERR_NONE)
		goto out;
	if (is_blank(buf_cstr(&b))) {
		e = bad(c, ERR_BAD_REQUEST, "bad-payload", "Field 'motd' is "
		    "required (delete-motd removes the message)");
		goto out;
	}
	if (store_write(c->host, NULL, MOTD_FILE, buf_head(&b),
	    buf_used(&b)) == -1) {
		log_warn("admin_adhoc: writing the motd of %s", c->host);
		e = bad(c, ERR_INTERNAL_SERVER_ERROR, NULL,
		    "The message of the day cannot be saved");
		goto out;
	}
	/* XEP-0133 4.24: online users get it now.  Sessions that are not
	 * available yet get it from the motd module when they are. */
	n = broadcast(c->host, NULL, buf_cstr(&b), 1);
	log_info("admin_adhoc: %s set the motd of %s", c->r->from_str, c->host);
	note(c, "info", "Message of the day set and sent to %zu session(s)", n);
	if (!config_has_module(server_config(), "motd"))
		note(c, "warn", "The motd module is not enabled: users who "
		    "log in later will not get it");
out:
	buf_free(&b);
	return e;
}

static enum stanza_error
run_delete_motd(struct ctx *c)
{
	if (store_remove(c->host, NULL, MOTD_FILE) == -1) {
		log_warn("admin_adhoc: removing the motd of %s", c->host);
		return bad(c, ERR_INTERNAL_SERVER_ERROR, NULL,
		    "The message of the day cannot be removed");
	}
	log_info("admin_adhoc: %s deleted the motd of %s", c->r->from_str,
	    c->host);
	note(c, "info", "Message of the day deleted");
	if (server_config()->motd != NULL && !is_blank(server_config()->motd))
		note(c, "warn", "The motd in the configuration file still "
		    "applies");
	return ERR_NONE;
}

static enum stanza_error
run_reload(struct ctx *c)
{
	server_request_reload();
	log_info("admin_adhoc: %s asked for a configuration reload",
	    c->r->from_str);
	note(c, "info", "Configuration reload requested; the server log "
	    "says whether the new configuration was taken");
	return ERR_NONE;
}

static const struct cmd cmds[] = {
	{ ADMIN_NODE("add-user"), "Add User", form_add_user,
	    "Fill out this form to add a user.", run_add_user },
	{ ADMIN_NODE("delete-user"), "Delete User", form_delete_user,
	    "Fill out this form to delete users.", run_delete_user },
	{ ADMIN_NODE("change-user-password"), "Change User Password",
	    form_change_password,
	    "Fill out this form to change a user's password.",
	    run_change_password },
	{ ADMIN_NODE("get-user-roster"), "Get User Roster", form_get_roster,
	    "Fill out this form to get a user's roster.", run_get_roster },
	{ ADMIN_NODE("get-registered-users-num"),
	    "Get Number of Registered Users", NULL, NULL, run_registered_num },
	{ ADMIN_NODE("get-registered-users-list"),
	    "Get List of Registered Users", NULL, NULL, run_registered_list },
	{ ADMIN_NODE("get-online-users-num"), "Get Number of Online Users",
	    NULL, NULL, run_online_num },
	{ ADMIN_NODE("get-online-users-list"), "Get List of Online Users",
	    NULL, NULL, run_online_list },
	{ ADMIN_NODE("announce"), "Send Announcement to Online Users",
	    form_announce, "Fill out this form to make an announcement to "
	    "all online users of this service.", run_announce },
	{ ADMIN_NODE("set-motd"), "Set Message of the Day", form_set_motd,
	    "Fill out this form to set the message of the day.",
	    run_set_motd },
	{ ADMIN_NODE("edit-motd"), "Edit Message of the Day", form_edit_motd,
	    "Fill out this form to edit the message of the day.",
	    run_set_motd },
	{ ADMIN_NODE("delete-motd"), "Delete Message of the Day", NULL, NULL,
	    run_delete_motd },
	{ NODE_RELOAD, "Reload Configuration", NULL, NULL, run_reload },
};
#define NCMDS	(sizeof cmds / sizeof cmds[0])

static const struct cmd *
cmd_find(const char *node)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].node, node) == 0)
			return &cmds[i];
	return NULL;
}

/* ---- XEP-0050 execution ---- */

static int
action_parse(const char *a)
{
	static const char *const names[] = {
		[ACT_EXECUTE] = "execute", [ACT_CANCEL] = "cancel",
		[ACT_PREV] = "prev", [ACT_NEXT] = "next",
		[ACT_COMPLETE] = "complete",
	};

	if (a == NULL)
		return ACT_EXECUTE;	/* XEP-0050 4.1: the default */
	for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
		if (strcmp(a, names[i]) == 0)
			return i;
	return -1;
}

static enum stanza_error
reply_canceled(struct ctx *c, const char *sessionid)
{
	iq_reply(c->r, reply_start(c, sessionid, "canceled"));
	return ERR_NONE;
}

/* A request that names a session: the second stage. */
static enum stanza_error
continue_session(struct ctx *c, const char *sid, int act)
{
	struct asession *s;
	char id[sizeof s->id];
	enum stanza_error e = ERR_NONE;

	if ((s = asession_find(c, sid, &e)) == NULL)
		return reply_error(c->r, e, c->app, c->text);
	if (act == ACT_CANCEL) {
		asession_free(s);
		return reply_canceled(c, sid);
	}
	/* Every command here has a single form: nothing before or after. */
	if (act == ACT_PREV || act == ACT_NEXT)
		return reply_error(c->r, ERR_BAD_REQUEST, "bad-action",
		    "This command has a single stage; use complete or cancel");
	if ((e = form_parse(c, c->r->payload)) != ERR_NONE)
		return reply_error(c->r, e, c->app, c->text);
	if (!c->form.present)
		return reply_error(c->r, ERR_BAD_REQUEST, "bad-payload",
		    "Submit the form to complete the command");
	/*
	 * Running it may end other sessions (a deleted account's), so the
	 * slot is looked up again by id afterwards.  A failed run keeps the
	 * session: the requester may correct the form and submit again.
	 */
	strlcpy_ok(id, s->id, sizeof id);
	if (complete(c, id) == 0)
		for (size_t i = 0; i < SESSIONS_HARD_MAX; i++)
			if (sessions[i].used && strcmp(sessions[i].id, id) == 0)
				asession_free(&sessions[i]);
	return ERR_NONE;
}

/* A request without a session id: the first stage. */
static enum stanza_error
start_command(struct ctx *c, int act)
{
	struct asession *s;
	char id[48];
	enum stanza_error e;

	if (act == ACT_CANCEL)
		return reply_canceled(c, NULL);
	if (act == ACT_PREV || act == ACT_NEXT)
		return reply_error(c->r, ERR_BAD_REQUEST, "bad-action",
		    "There is no stage to move to; execute the command first");
	if ((e = form_parse(c, c->r->payload)) != ERR_NONE)
		return reply_error(c->r, e, c->app, c->text);
	/* No input needed, or the form came with the request: one stage.
	 * The id is a fresh one, already ended. */
	if (c->cmd->form == NULL || c->form.present) {
		new_id(id, sizeof id);
		complete(c, id);
		return ERR_NONE;
	}
	if ((s = asession_new(c)) == NULL)
		return reply_error(c->r, ERR_RESOURCE_CONSTRAINT, NULL,
		    "Too many command sessions are open; try again later");
	return send_form(c, s);
}

static enum stanza_error
adhoc_exec(struct iq_req *r)
{
	struct ctx *c;
	const char *node, *sid;
	int act;
	enum stanza_error e;

	c = xcalloc(1, sizeof *c);
	c->r = r;
	if (!requester_is_admin(r, c->who, sizeof c->who)) {
		e = reply_error(r, ERR_FORBIDDEN, NULL, "Only the server's "
		    "administrators may run these commands");
		goto out;
	}
	node = xml_attr(r->payload, "node");
	if (node == NULL || *node == '\0') {
		e = reply_error(r, ERR_BAD_REQUEST, NULL,
		    "The command has no node");
		goto out;
	}
	if ((c->cmd = cmd_find(node)) == NULL) {
		e = reply_error(r, ERR_ITEM_NOT_FOUND, NULL, "No such command");
		goto out;
	}
	if ((act = action_parse(xml_attr(r->payload, "action"))) == -1) {
		e = reply_error(r, ERR_BAD_REQUEST, "malformed-action",
		    "Unknown action");
		goto out;
	}
	c->host = r->to.domain;
	sid = xml_attr(r->payload, "sessionid");
	if (sid != NULL)
		e = continue_session(c, sid, act);
	else
		e = start_command(c, act);
out:
	free(c);
	return e;
}

/* ---- service discovery (XEP-0050 2.2) ---- */

static int
adhoc_disco_items(const struct iq_req *r, const char *node,
    struct xml_node *query)
{
	char bare[JID_MAX + 1];
	struct xml_node *it;

	if (node == NULL)
		return 0;
	if (cmd_find(node) != NULL)
		return 1;	/* a command node has no items */
	if (strcmp(node, NS_COMMANDS) != 0)
		return 0;
	/* Others get the empty list: nothing here is for them. */
	if (!requester_is_admin(r, bare, sizeof bare))
		return 1;
	for (size_t i = 0; i < NCMDS; i++) {
		it = xml_add(query, "item", NULL);
		xml_set_attr(it, "jid", r->to.domain);
		xml_set_attr(it, "node", cmds[i].node);
		xml_set_attr(it, "name", cmds[i].name);
	}
	return 1;
}

static int
adhoc_disco_info(const struct iq_req *r, const char *node,
    struct xml_node *query)
{
	const struct cmd *cmd;
	char bare[JID_MAX + 1];
	struct xml_node *id;

	if (node == NULL)
		return 0;
	if (strcmp(node, NS_COMMANDS) == 0) {
		id = xml_add(query, "identity", NULL);
		xml_set_attr(id, "category", "automation");
		xml_set_attr(id, "type", "command-list");
		xml_set_attr(id, "name", "Commands");
		return 1;
	}
	if ((cmd = cmd_find(node)) == NULL)
		return 0;
	/* XEP-0050 2.2 wants forbidden here for others; the hook cannot
	 * say that, so the node is simply not theirs to see. */
	if (!requester_is_admin(r, bare, sizeof bare))
		return 0;
	id = xml_add(query, "identity", NULL);
	xml_set_attr(id, "category", "automation");
	xml_set_attr(id, "type", "command-node");
	xml_set_attr(id, "name", cmd->name);
	xml_set_attr(xml_add(query, "feature", NULL), "var", NS_COMMANDS);
	xml_set_attr(xml_add(query, "feature", NULL), "var", NS_XDATA);
	return 1;
}

/* ---- hooks ---- */

static void
adhoc_session_end(struct session *s)
{
	for (size_t i = 0; i < SESSIONS_HARD_MAX; i++)
		if (sessions[i].used && strcmp(sessions[i].owner, s->full) == 0)
			asession_free(&sessions[i]);
}

static void
adhoc_fini(void)
{
	for (size_t i = 0; i < SESSIONS_HARD_MAX; i++)
		if (sessions[i].used)
			asession_free(&sessions[i]);
}

static const struct iq_handler adhoc_iq[] = {
	{ "command", NS_COMMANDS, IQ_SET, IQ_TO_SERVER, adhoc_exec },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const adhoc_features[] = { NS_COMMANDS, NULL };

const struct module mod_admin_adhoc = {
	.name = "admin_adhoc",
	.features = adhoc_features,
	.iq = adhoc_iq,
	.session_end = adhoc_session_end,
	.disco_items = adhoc_disco_items,
	.disco_info = adhoc_disco_info,
	.fini = adhoc_fini,
	.config_check = adhoc_config_check,
};
