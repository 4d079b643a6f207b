/*
 * muc_occupant.c - life in a room (XEP-0045 sections 7 to 9): entering
 * (with every refusal the XEP names), presence broadcast with muc#user
 * items and status codes, nickname changes, leaving, groupchat messages
 * and the subject, private messages, mediated invitations and declines,
 * voice requests, roles and affiliations through muc#admin (kick, ban,
 * voice, member lists), IQs to occupants (forwarded, and the XEP-0410
 * self-ping answered by the room), ghosts, and direct invitations
 * (XEP-0249) that make members.
 *
 * An occupant is a nickname held by one bare JID; each of that JID's
 * clients in the room is a session (XEP-0045 7.2.9 allows several).
 * Others see the first session's presence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muc.h"

#define SESSIONS_PER_NICK	8
#define ADMIN_EXTRA		10	/* admins/owners past maxusers */
#define MAX_INVITES		10	/* <invite/>s in one message */
#define PENDING_MAX		256	/* IQs forwarded to occupants */
#define PENDING_MS		((int64_t)60 * 1000)
#define MAX_CODES		8
#define PRES_KEEP_MAX		4096	/* bytes of a presence kept */

static const char *const role_names[] = {
	"none", "visitor", "participant", "moderator"
};
static const char *const aff_names[] = {
	"outcast", "none", "member", "admin", "owner"
};

/* ---- lookups ---- */

struct occupant *
occ_by_nick(const struct room *r, const char *nick)
{
	for (struct occupant *o = r->occ; o != NULL; o = o->next)
		if (strcmp(o->nick, nick) == 0)
			return o;
	return NULL;
}

struct occupant *
occ_by_jid(const struct room *r, const char *full, struct osess **sp)
{
	for (struct occupant *o = r->occ; o != NULL; o = o->next)
		for (struct osess *s = o->sess; s != NULL; s = s->next)
			if (strcmp(s->jid, full) == 0) {
				if (sp != NULL)
					*sp = s;
				return o;
			}
	return NULL;
}

/* Table 4 of XEP-0045 (5.1.2). */
int
occ_default_role(const struct room *r, int aff)
{
	if (aff == AFF_OUTCAST)
		return ROLE_NONE;
	if (aff >= AFF_ADMIN)
		return ROLE_MODERATOR;
	if (r->cfg.moderated && aff < AFF_MEMBER)
		return ROLE_VISITOR;
	return ROLE_PARTICIPANT;
}

int
occ_can_see_jid(const struct room *r, const struct occupant *viewer)
{
	return r->cfg.whois_anyone || viewer->role == ROLE_MODERATOR;
}

static void
osess_free(struct osess *s)
{
	if (s->pres != NULL)
		xml_arena_free(s->pres->arena);
	free(s->jid);
	free(s);
}

void
occ_free(struct occupant *o)
{
	struct osess *s, *sn;

	for (s = o->sess; s != NULL; s = sn) {
		sn = s->next;
		osess_free(s);
	}
	free(o->nick);
	free(o->bare);
	free(o);
}

static void
occ_unlink(struct room *r, struct occupant *o)
{
	for (struct occupant **op = &r->occ; *op != NULL; op = &(*op)->next)
		if (*op == o) {
			*op = o->next;
			r->nocc--;
			return;
		}
}

/* Does this occupant's JID fall under jid (a bare JID or a domain)? */
static int
jid_covers(const char *jid, const char *bare)
{
	const char *at;

	if (strcmp(jid, bare) == 0)
		return 1;
	return strchr(jid, '@') == NULL && (at = strchr(bare, '@')) != NULL &&
	    strcmp(at + 1, jid) == 0;
}

/* A temporary room goes when its last occupant does (10.1.3 and 7.14).
 * 1 if r was freed. */
static int
room_collect(struct room *r)
{
	if (r->nocc > 0 || room_is_persistent(r))
		return 0;
	log_debug("muc: temporary room %s is empty: gone", r->jid);
	room_free(r);
	return 1;
}

/* ---- rate limits ---- */

/* A generic cell rate: message_rate per minute, message_burst at once. */
static int
rate_ok(struct occupant *o)
{
	unsigned long rate = muc_setting(S_MESSAGE_RATE);
	int64_t burst = (int64_t)muc_setting(S_MESSAGE_BURST);
	int64_t now = now_ms(), cost;

	if (rate == 0)
		return 1;
	cost = (int64_t)(60000 / rate);
	if (cost < 1)
		cost = 1;
	if (o->bucket_ms < now)
		o->bucket_ms = now;
	if (o->bucket_ms - now + cost > burst * cost)
		return 0;
	o->bucket_ms += cost;
	return 1;
}

/* ---- presence ---- */

struct pinfo {
	const char		*type;		/* NULL or "unavailable" */
	const char		*nick;		/* item nick: the new one (303) */
	const char		*actor;		/* actor nick */
	const char		*reason;
	const struct xml_node	*content;	/* NULL: the occupant's own */
	int			 codes[MAX_CODES];	/* for everyone */
	size_t			 ncodes;
	int			 self[MAX_CODES];	/* and for the occupant */
	size_t			 nself;
	int			 aff;		/* -1: the current one */
};

static void
pinfo_init(struct pinfo *pi)
{
	memset(pi, 0, sizeof *pi);
	pi->aff = -1;
}

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Children of a presence worth passing on: not the MUC extensions,
 * which only the room may make (XEP-0045 17.3 rule 6). */
static void
copy_content(struct xml_node *p, const struct xml_node *src, int unavailable)
{
	if (src == NULL)
		return;
	for (const struct xml_node *c = src->children; c != NULL; c = c->next) {
		if (c->name == NULL)
			continue;
		if (strcmp(c->ns, NS_MUC) == 0 || strcmp(c->ns, NS_MUC_USER) == 0)
			continue;
		if (unavailable && !xml_is(c, "status", NULL))
			continue;
		xml_append_copy(p, c);
	}
}

static struct xml_node *
build_presence(const struct room *r, const struct occupant *o,
    const struct pinfo *pi, int with_jid, int self)
{
	struct xml_node *p, *x, *it;
	char from[JID_MAX + 1], c[16];
	int codes[2 * MAX_CODES + 1];
	size_t n = 0;
	int aff = pi->aff >= 0 ? pi->aff : room_affil(r, o->bare);

	p = xml_new(xml_arena_new(), "presence", NS_CLIENT);
	snprintf(from, sizeof from, "%s/%s", r->jid, o->nick);
	xml_set_attr(p, "from", from);
	if (pi->type != NULL)
		xml_set_attr(p, "type", pi->type);
	copy_content(p, pi->content != NULL ? pi->content :
	    (o->sess != NULL ? o->sess->pres : NULL), pi->type != NULL);
	muc_strip_ns(p->children);
	x = xml_add(p, "x", NS_MUC_USER);
	it = xml_add(x, "item", NULL);
	xml_set_attr(it, "affiliation", aff_names[aff]);
	if (with_jid && o->sess != NULL)
		xml_set_attr(it, "jid", o->sess->jid);
	if (pi->nick != NULL)
		xml_set_attr(it, "nick", pi->nick);
	xml_set_attr(it, "role", role_names[o->role]);
	if (pi->actor != NULL)
		xml_set_attr(xml_add(it, "actor", NULL), "nick", pi->actor);
	if (pi->reason != NULL)
		xml_add_text_child(it, "reason", NULL, pi->reason);
	for (size_t i = 0; i < pi->ncodes; i++)
		codes[n++] = pi->codes[i];
	if (self) {
		codes[n++] = 110;
		for (size_t i = 0; i < pi->nself; i++)
			codes[n++] = pi->self[i];
	}
	qsort(codes, n, sizeof codes[0], cmp_int);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && codes[i] == codes[i - 1])
			continue;
		snprintf(c, sizeof c, "%d", codes[i]);
		xml_set_attr(xml_add(x, "status", NULL), "code", c);
	}
	return p;
}

/* What role o shows while it leaves: none, as 7.14 requires. */
struct variants {
	struct xml_node	*v[2][2];	/* [with_jid][self] */
};

static void
variants_free(struct variants *vs)
{
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			if (vs->v[i][j] != NULL)
				xml_arena_free(vs->v[i][j]->arena);
}

static void
send_variant(struct variants *vs, const struct room *r,
    const struct occupant *o, const struct pinfo *pi, int wj, int self,
    const char *to)
{
	if (vs->v[wj][self] == NULL)
		vs->v[wj][self] = build_presence(r, o, pi, wj, self);
	muc_send_copy(vs->v[wj][self], to);
}

/*
 * o's presence to every session in the room: 'others' to everyone else,
 * 'own' to o's own sessions (with 110); skip: a session not to tell.
 */
static void
broadcast(struct room *r, struct occupant *o, const struct pinfo *pi,
    int own, int others, const struct osess *skip)
{
	struct variants vs;

	memset(&vs, 0, sizeof vs);
	if (own)
		for (struct osess *s = o->sess; s != NULL; s = s->next)
			if (s != skip)
				send_variant(&vs, r, o, pi,
				    occ_can_see_jid(r, o), 1, s->jid);
	if (others)
		for (struct occupant *p = r->occ; p != NULL; p = p->next) {
			if (p == o)
				continue;
			for (struct osess *s = p->sess; s != NULL; s = s->next)
				send_variant(&vs, r, o, pi,
				    occ_can_see_jid(r, p), 0, s->jid);
		}
	variants_free(&vs);
}

/*
 * The service shuts down (XEP-0045 status 332): each occupant hears it
 * on its own sessions only, since everyone leaves at once and telling
 * each of the others would cost the square of the room, and is taken out
 * so that the sessions closing next do not announce departures.
 */
static void
shutdown_room(struct room *r, void *unused)
{
	struct occupant *o;
	struct pinfo pi;

	(void)unused;
	while ((o = r->occ) != NULL) {
		pinfo_init(&pi);
		pi.type = "unavailable";
		pi.codes[pi.ncodes++] = 332;
		o->role = ROLE_NONE;
		broadcast(r, o, &pi, 1, 0, NULL);
		occ_unlink(r, o);
		occ_free(o);
	}
}

void
occ_shutdown_all(void)
{
	rooms_each(shutdown_room, NULL);
}

void
occ_announce(struct room *r, struct occupant *o, const char *actor,
    const char *reason)
{
	struct pinfo pi;

	pinfo_init(&pi);
	pi.actor = actor;
	pi.reason = reason;
	broadcast(r, o, &pi, 1, 1, NULL);
}

/*
 * A presence to keep: own arena, no addresses, no MUC extensions.  What
 * is kept lives as long as the occupant and is copied to everyone, so it
 * is bounded: past PRES_KEEP_MAX bytes only show and priority stay (and
 * the status, if that still fits).
 */
static size_t
presence_size(const struct xml_node *p)
{
	struct buf b;
	size_t n;

	buf_init(&b, PRES_KEEP_MAX + 1);
	n = xml_serialize(p, &b, NS_CLIENT) == -1 ? PRES_KEEP_MAX + 1 :
	    buf_used(&b);
	buf_free(&b);
	return n;
}

static struct xml_node *
keep_presence(const struct xml_node *st)
{
	struct xml_node *p = xml_new(xml_arena_new(), "presence", NS_CLIENT);
	static const char *const basic[] = { "show", "priority", "status" };

	copy_content(p, st, 0);
	muc_strip_ns(p->children);
	if (presence_size(p) <= PRES_KEEP_MAX)
		return p;
	xml_arena_free(p->arena);
	for (size_t k = 3; k > 0; k--) {
		p = xml_new(xml_arena_new(), "presence", NS_CLIENT);
		for (size_t i = 0; i < k; i++) {
			const struct xml_node *c = xml_child(st, basic[i], NULL);
			if (c != NULL)
				xml_append_copy(p, c);
		}
		muc_strip_ns(p->children);
		if (k == 1 || presence_size(p) <= PRES_KEEP_MAX)
			break;
		xml_arena_free(p->arena);
	}
	log_debug("muc: a large presence was cut down to show and status");
	return p;
}

/*
 * Take o out of the room with the codes given: the unavailable presence
 * to its sessions (unless tell_self is 0) and to everyone else; o is
 * freed.  The room may now be empty (the caller collects it).
 */
static void
remove_occupant(struct room *r, struct occupant *o, struct pinfo *pi,
    int tell_self)
{
	pi->type = "unavailable";
	o->role = ROLE_NONE;
	broadcast(r, o, pi, tell_self, 1, NULL);
	occ_unlink(r, o);
	occ_free(o);
}

void
occ_remove_all(struct room *r, const char *jid, int code, const char *actor,
    const char *reason)
{
	struct occupant *o;
	struct pinfo pi;

	for (;;) {
		for (o = r->occ; o != NULL; o = o->next)
			if (jid_covers(jid, o->bare))
				break;
		if (o == NULL)
			return;
		pinfo_init(&pi);
		pi.codes[pi.ncodes++] = code;
		pi.actor = actor;
		pi.reason = reason;
		if (code == 301)
			pi.aff = AFF_OUTCAST;
		remove_occupant(r, o, &pi, 1);
	}
}

void
occ_affil_changed(struct room *r, const char *jid, const char *actor,
    const char *reason)
{
	struct occupant *o;
	int aff, role;

	for (o = r->occ; o != NULL; o = o->next) {
		if (!jid_covers(jid, o->bare))
			continue;
		aff = room_affil(r, o->bare);
		if (aff == AFF_OUTCAST) {
			occ_remove_all(r, jid, 301, actor, reason);
			return;
		}
		if (r->cfg.membersonly && aff < AFF_MEMBER) {
			/* 9.4: removed because of an affiliation change. */
			occ_remove_all(r, jid, 321, actor, reason);
			return;
		}
		break;
	}
	for (o = r->occ; o != NULL; o = o->next) {
		if (!jid_covers(jid, o->bare))
			continue;
		aff = room_affil(r, o->bare);
		role = o->role;
		if (aff >= AFF_ADMIN)
			role = ROLE_MODERATOR;
		else if (o->role == ROLE_MODERATOR)
			role = occ_default_role(r, aff);
		else if (aff >= AFF_MEMBER && o->role == ROLE_VISITOR)
			role = ROLE_PARTICIPANT;
		o->role = role;
		occ_announce(r, o, actor, reason);
	}
}

/* ---- entering ---- */

/* Only white space or invisible characters (XEP-0045 17.1)? */
static int
nick_is_blank(const char *s)
{
	static const char *const invisible[] = {
		"\xc2\xa0", "\xe2\x80\x8b", "\xe2\x80\x8c", "\xe2\x80\x8d",
		"\xe2\x81\xa0", "\xef\xbb\xbf", "\xe3\x80\x80", NULL
	};

	while (*s != '\0') {
		size_t i;
		if (*s == ' ' || *s == '\t') {
			s++;
			continue;
		}
		for (i = 0; invisible[i] != NULL; i++)
			if (strncmp(s, invisible[i], strlen(invisible[i])) == 0)
				break;
		if (invisible[i] == NULL)
			return 0;
		s += strlen(invisible[i]);
	}
	return 1;
}

/* ERR_NONE, or the error for a nickname we refuse (with type). */
static enum stanza_error
nick_check(const char *nick, const char **type, const char **text)
{
	if (*nick == '\0' || nick_is_blank(nick)) {
		*type = "modify";
		*text = "Empty or invisible nicknames are not allowed";
		return ERR_JID_MALFORMED;
	}
	if (strlen(nick) > muc_setting(S_MAX_NICK)) {
		*type = "cancel";
		*text = "The nickname is too long";
		return ERR_NOT_ACCEPTABLE;
	}
	return ERR_NONE;
}

/* May bare create a room on this service now?  ERR_NONE or why not. */
static enum stanza_error
may_create(const char *service, const char *local, const char *bare,
    const char **text)
{
	unsigned long per_user = muc_setting(S_MAX_ROOMS_PER_USER);
	char esc[256];
	int admin = muc_is_admin(bare);

	switch (muc_create_policy()) {
	case CREATE_ADMIN:
		if (!admin) {
			*text = "Only server admins may create rooms here";
			return ERR_NOT_ALLOWED;
		}
		break;
	case CREATE_LOCAL:
		if (!admin && !muc_is_local_user(bare)) {
			*text = "Only users of this server may create rooms";
			return ERR_NOT_ALLOWED;
		}
		break;
	case CREATE_ANYONE:
		break;
	}
	if (store_escape(local, esc, sizeof esc) == -1) {
		*text = "The room name is too long";
		return ERR_NOT_ALLOWED;
	}
	if (rooms_count(service) >= muc_setting(S_MAX_ROOMS)) {
		*text = "This service has as many rooms as it may have";
		return ERR_NOT_ALLOWED;
	}
	if (per_user > 0 && !admin && rooms_owned_by(bare) >= per_user) {
		*text = "You own as many rooms as you may";
		return ERR_NOT_ALLOWED;
	}
	return ERR_NONE;
}

static void
send_subject(struct room *r, const char *to)
{
	struct xml_node *m, *d;
	char from[JID_MAX + 1], stamp[32];

	m = xml_new(xml_arena_new(), "message", NS_CLIENT);
	if (r->subject_nick != NULL) {
		snprintf(from, sizeof from, "%s/%s", r->jid, r->subject_nick);
		xml_set_attr(m, "from", from);
	} else
		xml_set_attr(m, "from", r->jid);
	xml_set_attr(m, "type", "groupchat");
	xml_add_text_child(m, "subject", NULL, r->subject ? r->subject : "");
	if (r->subject != NULL && r->subject_time > 0) {
		d = xml_add(m, "delay", NS_DELAY);
		xml_set_attr(d, "from", r->jid);
		format_xep82(r->subject_time, stamp, sizeof stamp);
		xml_set_attr(d, "stamp", stamp);
	}
	muc_send_copy(m, to);
	xml_arena_free(m->arena);
}

/* Everything a session is sent on entering, in the order of 7.1:
 * others' presence, its own, history, subject (and the avatar). */
static void
send_entry(struct room *r, struct occupant *o, struct osess *s,
    const struct pinfo *self_pi, const struct xml_node *history)
{
	struct pinfo pi;
	struct xml_node *p;
	int wj = occ_can_see_jid(r, o);

	pinfo_init(&pi);
	for (struct occupant *q = r->occ; q != NULL; q = q->next) {
		if (q == o)
			continue;
		p = build_presence(r, q, &pi, wj, 0);
		muc_send_copy(p, s->jid);
		xml_arena_free(p->arena);
	}
	p = build_presence(r, o, self_pi, wj, 1);
	if (xml_attr(s->pres, "id") != NULL)
		xml_set_attr(p, "id", xml_attr(s->pres, "id"));
	muc_send_copy(p, s->jid);
	xml_arena_free(p->arena);
	hist_send(r, s->jid, history);
	send_subject(r, s->jid);
	if (r->avatar[0] != '\0')
		room_send_avatar(r, s->jid);
}

static void
self_codes(struct room *r, struct pinfo *pi, int created, int modified)
{
	if (r->cfg.whois_anyone)
		pi->self[pi->nself++] = 100;
	if (arch_enabled(r))
		pi->self[pi->nself++] = 170;
	if (created)
		pi->self[pi->nself++] = 201;
	if (modified)
		pi->self[pi->nself++] = 210;
}

/* The resource of the 'to' as sent differs from the prepared nick? */
static int
nick_modified(const struct xml_node *st, const char *nick)
{
	const char *to = xml_attr(st, "to"), *slash;

	if (to == NULL || (slash = strchr(to, '/')) == NULL)
		return 0;
	return strcmp(slash + 1, nick) != 0;
}

/* A presence without <x xmlns=muc/> from someone who is not in the room:
 * the kick 7.2.22 recommends, so the client knows it is out. */
static void
not_in_room(const struct xml_node *st, const char *full)
{
	struct xml_node *p, *x, *it;
	static const char *const codes[] = { "110", "307", "333" };

	p = xml_new(xml_arena_new(), "presence", NS_CLIENT);
	xml_set_attr(p, "from", xml_attr(st, "to"));
	xml_set_attr(p, "type", "unavailable");
	x = xml_add(p, "x", NS_MUC_USER);
	it = xml_add(x, "item", NULL);
	xml_set_attr(it, "affiliation", "none");
	xml_set_attr(it, "role", "none");
	xml_add_text_child(it, "reason", NULL, "You are not in the room.");
	for (size_t i = 0; i < 3; i++)
		xml_set_attr(xml_add(x, "status", NULL), "code", codes[i]);
	muc_send_copy(p, full);
	xml_arena_free(p->arena);
}

static void
join(struct room *r, struct xml_node *st, const struct jid *to,
    const char *full, const char *bare)
{
	const struct xml_node *x = xml_child(st, "x", NS_MUC);
	const char *nick = to->resource, *type = NULL, *text = NULL, *pw;
	struct occupant *o;
	struct osess *s;
	struct pinfo pi;
	enum stanza_error e;
	int aff, created = 0;
	const char *holder;

	if (x == NULL) {
		not_in_room(st, full);
		return;
	}
	if ((e = nick_check(nick, &type, &text)) != ERR_NONE) {
		muc_error(st, e, type, text, 1);
		return;
	}
	if (r == NULL) {
		if ((e = may_create(to->domain, to->local, bare, &text)) !=
		    ERR_NONE) {
			muc_error(st, e, "cancel", text, 1);
			return;
		}
		r = room_create(to->domain, to->local, bare);
		created = 1;
	}
	aff = room_affil(r, bare);
	/* The checks in the order of 7.2.6 to 7.2.11. */
	if (r->locked && aff != AFF_OWNER) {
		muc_error(st, ERR_ITEM_NOT_FOUND, "cancel", NULL, 1);
		return;
	}
	if (aff == AFF_OUTCAST) {
		muc_error(st, ERR_FORBIDDEN, "auth", NULL, 1);
		return;
	}
	if (r->cfg.membersonly && aff < AFF_MEMBER) {
		muc_error(st, ERR_REGISTRATION_REQUIRED, "auth", NULL, 1);
		return;
	}
	if (!created && r->cfg.password != NULL) {
		pw = xml_child_text(x, "password", NS_MUC);
		if (pw == NULL || strlen(pw) != strlen(r->cfg.password) ||
		    !ct_equal(pw, r->cfg.password, strlen(pw))) {
			muc_error(st, ERR_NOT_AUTHORIZED, "auth", NULL, 1);
			return;
		}
	}
	o = occ_by_nick(r, nick);
	holder = room_nick_owner(r, nick);
	if ((o != NULL && strcmp(o->bare, bare) != 0) ||
	    (holder != NULL && strcmp(holder, bare) != 0)) {
		muc_error(st, ERR_CONFLICT, "cancel", NULL, 1);
		return;
	}
	if (o != NULL && o->nsess >= SESSIONS_PER_NICK) {
		muc_error(st, ERR_RESOURCE_CONSTRAINT, "wait",
		    "Too many clients with this nickname", 1);
		return;
	}
	if (o == NULL && (r->nocc >= r->cfg.maxusers + ADMIN_EXTRA ||
	    (r->nocc >= r->cfg.maxusers && aff < AFF_ADMIN))) {
		/* 7.2.10; admins and owners get in up to a margin. */
		muc_error(st, ERR_SERVICE_UNAVAILABLE, "wait", NULL, 1);
		return;
	}
	s = xcalloc(1, sizeof *s);
	s->jid = xstrdup(full);
	s->pres = keep_presence(st);
	if (xml_attr(st, "id") != NULL)
		xml_set_attr(s->pres, "id", xml_attr(st, "id"));
	pinfo_init(&pi);
	self_codes(r, &pi, created, nick_modified(st, nick));
	if (o != NULL) {
		/* Another client of the same user under the same nick. */
		struct osess **sp = &o->sess;
		while (*sp != NULL)
			sp = &(*sp)->next;
		*sp = s;
		o->nsess++;
		send_entry(r, o, s, &pi, xml_child(x, "history", NS_MUC));
		xml_set_attr(s->pres, "id", NULL);
		return;
	}
	o = xcalloc(1, sizeof *o);
	o->nick = xstrdup(nick);
	o->bare = xstrdup(bare);
	o->role = occ_default_role(r, aff);
	o->sess = s;
	o->nsess = 1;
	{
		struct occupant **op = &r->occ;
		while (*op != NULL)
			op = &(*op)->next;
		*op = o;
		r->nocc++;
	}
	{
		struct pinfo others;
		pinfo_init(&others);
		broadcast(r, o, &others, 0, 1, NULL);
	}
	send_entry(r, o, s, &pi, xml_child(x, "history", NS_MUC));
	xml_set_attr(s->pres, "id", NULL);
	log_debug("muc: %s entered %s as %s", full, r->jid, nick);
}

/* ---- leaving, nick changes, updates ---- */

/*
 * Session s of o leaves.  With other sessions left, only s is told; the
 * others see the next session's presence if s was the one shown.  code:
 * a status for everyone (333 for ghosts), or 0.  tell_self 0: s is
 * gone, nothing is sent to it.  1 if the room was freed.
 */
static int
leave(struct room *r, struct occupant *o, struct osess *s,
    const struct xml_node *st, int code, int tell_self)
{
	struct pinfo pi;
	struct osess **sp;
	int was_first = o->sess == s;

	if (r->locked && r->nocc == 1 && o->nsess == 1) {
		/* 10.1.3: the creator left before configuring: the room is
		 * destroyed, and the presence says so. */
		if (tell_self)
			room_destroy(r, NULL, NULL, NULL);
		else
			room_free(r);
		return 1;
	}
	pinfo_init(&pi);
	pi.content = st;
	if (code != 0)
		pi.codes[pi.ncodes++] = code;
	if (o->nsess > 1) {
		if (tell_self) {
			struct xml_node *p;
			int role = o->role;
			pi.type = "unavailable";
			o->role = ROLE_NONE;
			p = build_presence(r, o, &pi, occ_can_see_jid(r, o), 1);
			o->role = role;
			muc_send_copy(p, s->jid);
			xml_arena_free(p->arena);
		}
		for (sp = &o->sess; *sp != s; sp = &(*sp)->next)
			;
		*sp = s->next;
		o->nsess--;
		osess_free(s);
		if (was_first)
			occ_announce(r, o, NULL, NULL);
		return 0;
	}
	log_debug("muc: %s left %s", s->jid, r->jid);
	if (!tell_self) {
		/* Skip the dead session: remove_occupant() tells the rest. */
		pi.type = "unavailable";
		o->role = ROLE_NONE;
		broadcast(r, o, &pi, 0, 1, NULL);
		occ_unlink(r, o);
		occ_free(o);
	} else
		remove_occupant(r, o, &pi, 1);
	return room_collect(r);
}

static void
change_nick(struct room *r, struct occupant *o, struct osess *s,
    struct xml_node *st, const char *nick)
{
	const char *type = NULL, *text = NULL, *holder;
	struct occupant *other;
	struct pinfo pi;
	enum stanza_error e;
	char *old;

	if ((e = nick_check(nick, &type, &text)) != ERR_NONE) {
		muc_error(st, e, type, text, 1);
		return;
	}
	other = occ_by_nick(r, nick);
	holder = room_nick_owner(r, nick);
	if ((other != NULL && other != o) ||
	    (holder != NULL && strcmp(holder, o->bare) != 0)) {
		muc_error(st, ERR_CONFLICT, "cancel", NULL, 1);
		return;
	}
	if (!rate_ok(o)) {
		muc_error(st, ERR_POLICY_VIOLATION, "wait",
		    "Too many changes; try again later", 1);
		return;
	}
	/* 7.6: unavailable from the old nick with the new one and 303 ... */
	pinfo_init(&pi);
	pi.type = "unavailable";
	pi.nick = nick;
	pi.codes[pi.ncodes++] = 303;
	broadcast(r, o, &pi, 1, 1, NULL);
	old = o->nick;
	o->nick = xstrdup(nick);
	free(old);
	if (s->pres != NULL)
		xml_arena_free(s->pres->arena);
	s->pres = keep_presence(st);
	/* ... then available from the new one. */
	pinfo_init(&pi);
	if (nick_modified(st, nick))
		pi.self[pi.nself++] = 210;
	broadcast(r, o, &pi, 1, 1, NULL);
}

static void
update(struct room *r, struct occupant *o, struct osess *s,
    struct xml_node *st)
{
	const struct xml_node *x = xml_child(st, "x", NS_MUC);
	struct pinfo pi;

	if (s->pres != NULL)
		xml_arena_free(s->pres->arena);
	s->pres = keep_presence(st);
	pinfo_init(&pi);
	if (x != NULL) {
		/* 7.2.1: a join from a joined client is a resync: all of it
		 * again, and others see a changed presence. */
		self_codes(r, &pi, 0, nick_modified(st, o->nick));
		send_entry(r, o, s, &pi, xml_child(x, "history", NS_MUC));
		if (o->sess == s) {
			pinfo_init(&pi);
			broadcast(r, o, &pi, 0, 1, NULL);
		}
		return;
	}
	if (!rate_ok(o)) {
		log_debug("muc: presence of %s in %s over the rate: dropped",
		    s->jid, r->jid);
		return;
	}
	if (o->sess == s)
		broadcast(r, o, &pi, 1, 1, NULL);
	else {
		struct xml_node *p = build_presence(r, o, &pi,
		    occ_can_see_jid(r, o), 1);
		muc_send_copy(p, s->jid);
		xml_arena_free(p->arena);
	}
}

/* An error from an occupant's client that says it is gone (17.3.1). */
static int
is_delivery_error(const struct xml_node *st)
{
	static const char *const conds[] = {
		"gone", "item-not-found", "recipient-unavailable", "redirect",
		"remote-server-not-found", "remote-server-timeout",
		"service-unavailable", NULL
	};
	const struct xml_node *e = xml_child(st, "error", NULL), *c;

	if (e == NULL)
		return 0;
	for (c = xml_first_element(e); c != NULL; c = xml_next(c, NULL, NULL))
		if (strcmp(c->ns, NS_STANZAS) == 0)
			for (size_t i = 0; conds[i] != NULL; i++)
				if (strcmp(c->name, conds[i]) == 0)
					return 1;
	return 0;
}

/*
 * Ghosts are removed later, not at once: the error that tells us may come
 * back synchronously from route() while this file walks the occupant
 * list to send something (a privacy list bouncing the room's messages),
 * and removing then would pull the list from under that walk.
 */
#define GHOSTS_MAX	64

static struct ghost {
	char	*room;
	char	*full;
} ghosts[GHOSTS_MAX];
static size_t nghosts;

static void
ghost_check(struct room *r, const struct xml_node *st, const char *full)
{
	if (r == NULL || !is_delivery_error(st) ||
	    occ_by_jid(r, full, NULL) == NULL)
		return;
	for (size_t i = 0; i < nghosts; i++)
		if (strcmp(ghosts[i].full, full) == 0 &&
		    strcmp(ghosts[i].room, r->jid) == 0)
			return;
	if (nghosts == GHOSTS_MAX)
		return;		/* the next error will tell us again */
	ghosts[nghosts].room = xstrdup(r->jid);
	ghosts[nghosts].full = xstrdup(full);
	nghosts++;
}

void
occ_ghosts_flush(void)
{
	struct occupant *o;
	struct osess *s;
	struct room *r;
	struct ghost g;

	while (nghosts > 0) {
		g = ghosts[--nghosts];
		if ((r = room_find(g.room)) != NULL &&
		    (o = occ_by_jid(r, g.full, &s)) != NULL) {
			log_info("muc: %s is gone from %s (delivery error)",
			    g.full, g.room);
			leave(r, o, s, NULL, 333, 0);
		}
		free(g.room);
		free(g.full);
	}
}

static void
names_of(const struct jid *from, char *full, size_t fl, char *bare, size_t bl)
{
	struct jid b = *from;

	if (jid_full(from, full, fl) == -1)
		full[0] = '\0';
	b.resource[0] = '\0';
	if (jid_bare(&b, bare, bl) == -1)
		bare[0] = '\0';
}

void
occ_presence(struct room *r, struct xml_node *st, const struct jid *from,
    const struct jid *to)
{
	const char *type = xml_attr(st, "type");
	char full[JID_MAX + 1], bare[JID_MAX + 1];
	struct occupant *o;
	struct osess *s = NULL;

	names_of(from, full, sizeof full, bare, sizeof bare);
	if (full[0] == '\0' || bare[0] == '\0')
		return;
	if (type != NULL && strcmp(type, "error") == 0) {
		ghost_check(r, st, full);
		return;
	}
	if (type != NULL && strcmp(type, "unavailable") != 0)
		return;		/* probes, subscriptions: 17.2 rules 1 and 2 */
	o = r != NULL ? occ_by_jid(r, full, &s) : NULL;
	if (type != NULL) {
		/* 17.2 rule 5: from someone not in the room, ignored. */
		if (o != NULL)
			leave(r, o, s, st, 0, 1);
		return;
	}
	if (to->resource[0] == '\0') {
		/* 7.2.1: no nickname. */
		muc_error(st, ERR_JID_MALFORMED, "modify", NULL, 1);
		return;
	}
	if (o == NULL)
		join(r, st, to, full, bare);
	else if (strcmp(o->nick, to->resource) != 0)
		change_nick(r, o, s, st, to->resource);
	else
		update(r, o, s, st);
}

/* ---- messages ---- */

/* Remove what a sender may not put in a reflected message: the room's
 * own extensions (XEP-0045 17.3, XEP-0313 7.1.2) and stanza-ids in the
 * room's name (XEP-0359 3.3). */
static void
sanitize(struct room *r, struct xml_node *m)
{
	struct xml_node *c, *next;
	const char *by;

	for (c = m->children; c != NULL; c = next) {
		next = c->next;
		if (c->name == NULL)
			continue;
		if (xml_is(c, "x", NS_MUC_USER) ||
		    (xml_is(c, "stanza-id", NS_SID) &&
		    (by = xml_attr(c, "by")) != NULL && strcmp(by, r->jid) == 0))
			xml_remove(c);
	}
}

static void
ensure_id(struct xml_node *m)
{
	unsigned char rnd[12];
	char id[32];

	if (xml_attr(m, "id") != NULL)
		return;
	random_bytes(rnd, sizeof rnd);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	xml_set_attr(m, "id", id);
}

static void
to_everyone(struct room *r, const struct xml_node *m)
{
	for (struct occupant *o = r->occ; o != NULL; o = o->next)
		for (struct osess *s = o->sess; s != NULL; s = s->next)
			muc_send_copy(m, s->jid);
}

/* A copy of st as the room reflects it: from the occupant JID. */
static struct xml_node *
reflected(struct room *r, const struct xml_node *st, const char *nick)
{
	struct xml_node *m = xml_copy(xml_arena_new(), st);
	char from[JID_MAX + 1];

	muc_strip_ns(m);
	sanitize(r, m);
	snprintf(from, sizeof from, "%s/%s", r->jid, nick);
	xml_set_attr(m, "from", from);
	xml_set_attr(m, "to", NULL);
	ensure_id(m);
	return m;
}

static void
stamp_archive(struct room *r, struct xml_node *m, const struct occupant *o,
    int subject)
{
	char id[64];
	struct xml_node *sid;

	if (!arch_enabled(r) ||
	    arch_append(r, m, o->nick, o->bare, subject, id, sizeof id) == -1)
		return;
	sid = xml_add(m, "stanza-id", NS_SID);
	xml_set_attr(sid, "id", id);
	xml_set_attr(sid, "by", r->jid);
}

static void
change_subject(struct room *r, struct occupant *o, struct xml_node *st,
    const struct xml_node *subj)
{
	const char *text = xml_text(subj);
	struct xml_node *m;

	if (o->role != ROLE_MODERATOR &&
	    !(r->cfg.changesubject && o->role >= ROLE_PARTICIPANT)) {
		muc_error(st, ERR_FORBIDDEN, "auth", NULL, 0);
		return;
	}
	if (strlen(text) > muc_setting(S_MAX_SUBJECT)) {
		muc_error(st, ERR_POLICY_VIOLATION, "modify",
		    "The subject is too long", 0);
		return;
	}
	if (!rate_ok(o)) {
		muc_error(st, ERR_POLICY_VIOLATION, "wait",
		    "Too many messages; try again later", 0);
		return;
	}
	free(r->subject);
	free(r->subject_nick);
	r->subject = xstrdup(text);
	r->subject_nick = xstrdup(o->nick);
	r->subject_time = wall_time();
	room_save_subject(r);
	m = reflected(r, st, o->nick);
	stamp_archive(r, m, o, 1);
	to_everyone(r, m);
	xml_arena_free(m->arena);
}

static void
groupchat(struct room *r, struct occupant *o, struct xml_node *st)
{
	const struct xml_node *subj = xml_child(st, "subject", NULL);
	const struct xml_node *body = xml_child(st, "body", NULL);
	struct xml_node *m;

	if (o == NULL) {
		muc_error(st, ERR_NOT_ACCEPTABLE, NULL,
		    "Only occupants may send messages to the room", 0);
		return;
	}
	/* 8.1: a subject without body or thread changes the subject. */
	if (subj != NULL && body == NULL && xml_child(st, "thread", NULL) == NULL) {
		change_subject(r, o, st, subj);
		return;
	}
	if (o->role < ROLE_PARTICIPANT) {
		muc_error(st, ERR_FORBIDDEN, "auth",
		    "Visitors may not speak in this room", 0);
		return;
	}
	/* After the refusals that cost nobody else anything. */
	if (!rate_ok(o)) {
		muc_error(st, ERR_POLICY_VIOLATION, "wait",
		    "Too many messages; try again later", 0);
		return;
	}
	m = reflected(r, st, o->nick);
	if (body != NULL) {
		stamp_archive(r, m, o, 0);
		hist_add(r, m, wall_time());
	}
	to_everyone(r, m);
	xml_arena_free(m->arena);
}

static void
private_message(struct room *r, struct occupant *o, struct xml_node *st,
    const char *nick)
{
	const char *type = xml_attr(st, "type");
	struct occupant *t;
	struct xml_node *m;
	int ok;

	if (type != NULL && strcmp(type, "groupchat") == 0) {
		muc_error(st, ERR_BAD_REQUEST, "modify", NULL, 0);
		return;
	}
	if (o == NULL) {
		muc_error(st, ERR_NOT_ACCEPTABLE, NULL,
		    "Only occupants may send private messages", 0);
		return;
	}
	if ((t = occ_by_nick(r, nick)) == NULL) {
		muc_error(st, ERR_ITEM_NOT_FOUND, "cancel", NULL, 0);
		return;
	}
	switch (r->cfg.allowpm) {
	case PM_ANYONE:
		ok = 1;
		break;
	case PM_PARTICIPANTS:
		ok = o->role >= ROLE_PARTICIPANT;
		break;
	case PM_MODERATORS:
		ok = o->role == ROLE_MODERATOR;
		break;
	default:
		ok = 0;
	}
	if (!ok) {
		muc_error(st, ERR_FORBIDDEN, "auth",
		    "Private messages are not allowed here", 0);
		return;
	}
	if (!rate_ok(o)) {
		muc_error(st, ERR_POLICY_VIOLATION, "wait",
		    "Too many messages; try again later", 0);
		return;
	}
	m = reflected(r, st, o->nick);
	/* 7.5: the x that lets carbons know (only ours, not the client's). */
	xml_add(m, "x", NS_MUC_USER);
	for (struct osess *s = t->sess; s != NULL; s = s->next)
		muc_send_copy(m, s->jid);
	xml_arena_free(m->arena);
}

/* May this user invite others into the room?  (7.8.2 and 9.5) */
static int
may_invite(const struct room *r, int aff)
{
	if (!r->cfg.membersonly)
		return 1;
	return aff >= AFF_ADMIN || (r->cfg.allowinvites && aff >= AFF_MEMBER);
}

/* Members-only: an invitation makes a member (7.8.2, 9.5). */
static void
invite_makes_member(struct room *r, const char *invitee, const char *by)
{
	struct affil *a = room_affil_entry(r, invitee);

	if (!r->cfg.membersonly || a != NULL)
		return;
	if (room_set_affil(r, invitee, AFF_MEMBER, NULL, NULL) == -1) {
		log_info("muc: room %s has max_affiliations: %s not made a "
		    "member", r->jid, invitee);
		return;
	}
	room_save_affils(r);
	log_info("muc: %s made a member of %s by an invitation from %s",
	    invitee, r->jid, by);
}

static void
send_invite(struct room *r, const char *to, const char *from_bare,
    const char *reason, const char *id)
{
	struct xml_node *m, *x, *inv;
	char body[2 * JID_MAX + MUC_REASON_MAX + 64];

	m = xml_new(xml_arena_new(), "message", NS_CLIENT);
	xml_set_attr(m, "from", r->jid);
	if (id != NULL)
		xml_set_attr(m, "id", id);
	x = xml_add(m, "x", NS_MUC_USER);
	inv = xml_add(x, "invite", NULL);
	xml_set_attr(inv, "from", from_bare);
	if (reason != NULL)
		xml_add_text_child(inv, "reason", NULL, reason);
	if (r->cfg.password != NULL)
		xml_add_text_child(x, "password", NULL, r->cfg.password);
	snprintf(body, sizeof body, "%s invites you to the room %s%s%s",
	    from_bare, r->jid, reason ? ": " : "", reason ? reason : "");
	xml_add_text_child(m, "body", NULL, body);
	xml_set_attr(m, "to", to);
	route(m);
	xml_arena_free(m->arena);
}

static void
invitations(struct room *r, struct occupant *o, struct xml_node *st,
    const struct xml_node *x, const char *bare)
{
	const struct xml_node *inv;
	char tos[MAX_INVITES][JID_MAX + 1];
	const char *reasons[MAX_INVITES];
	size_t n = 0;
	struct jid j;
	int aff = room_affil(r, bare);

	if (o == NULL && aff < AFF_ADMIN) {
		muc_error(st, ERR_NOT_ACCEPTABLE, NULL,
		    "Only occupants may invite", 0);
		return;
	}
	if (!may_invite(r, aff)) {
		muc_error(st, ERR_FORBIDDEN, "auth", NULL, 0);
		return;
	}
	for (inv = xml_child(x, "invite", NULL); inv != NULL;
	    inv = xml_next(inv, "invite", NULL)) {
		const char *reason = xml_child_text(inv, "reason", NS_MUC_USER);
		if (n == MAX_INVITES) {
			muc_error(st, ERR_POLICY_VIOLATION, "modify",
			    "Too many invitations in one message", 0);
			return;
		}
		if (jid_parse(&j, xml_attr(inv, "to")) == -1 ||
		    j.local[0] == '\0' ||
		    jid_full(&j, tos[n], sizeof tos[n]) == -1) {
			muc_error(st, ERR_JID_MALFORMED, "modify", NULL, 0);
			return;
		}
		/* 7.8.2: an invitee who does not exist, where we can tell. */
		if (host_is_local(j.domain) &&
		    !account_exists(j.domain, j.local)) {
			muc_error(st, ERR_ITEM_NOT_FOUND, "cancel", NULL, 0);
			return;
		}
		j.resource[0] = '\0';
		{
			char ib[JID_MAX + 1];
			jid_bare(&j, ib, sizeof ib);
			if (r->cfg.membersonly && room_affil(r, ib) ==
			    AFF_OUTCAST && aff < AFF_ADMIN) {
				muc_error(st, ERR_FORBIDDEN, "auth", NULL, 0);
				return;
			}
		}
		reasons[n] = reason != NULL && *reason != '\0' &&
		    strlen(reason) <= MUC_REASON_MAX ? reason : NULL;
		n++;
	}
	if (n == 0) {
		muc_error(st, ERR_BAD_REQUEST, "modify", NULL, 0);
		return;
	}
	if (o != NULL && !rate_ok(o)) {
		muc_error(st, ERR_POLICY_VIOLATION, "wait",
		    "Too many messages; try again later", 0);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char ib[JID_MAX + 1];
		jid_parse(&j, tos[i]);
		j.resource[0] = '\0';
		jid_bare(&j, ib, sizeof ib);
		invite_makes_member(r, ib, bare);
		send_invite(r, tos[i], bare, reasons[i], xml_attr(st, "id"));
	}
}

static void
decline(struct room *r, struct xml_node *st, const struct xml_node *d,
    const char *bare)
{
	const char *reason = xml_child_text(d, "reason", NS_MUC_USER);
	struct xml_node *m, *x, *dn;
	struct jid j;
	char to[JID_MAX + 1];

	if (jid_parse(&j, xml_attr(d, "to")) == -1 ||
	    jid_full(&j, to, sizeof to) == -1) {
		muc_error(st, ERR_JID_MALFORMED, "modify", NULL, 0);
		return;
	}
	m = xml_new(xml_arena_new(), "message", NS_CLIENT);
	xml_set_attr(m, "from", r->jid);
	if (xml_attr(st, "id") != NULL)
		xml_set_attr(m, "id", xml_attr(st, "id"));
	x = xml_add(m, "x", NS_MUC_USER);
	dn = xml_add(x, "decline", NULL);
	xml_set_attr(dn, "from", bare);
	if (reason != NULL && *reason != '\0' && strlen(reason) <= MUC_REASON_MAX)
		xml_add_text_child(dn, "reason", NULL, reason);
	xml_set_attr(m, "to", to);
	route(m);
	xml_arena_free(m->arena);
}

/* 7.13 / 8.6: a visitor asks for voice; moderators get a form. */
static void
voice_request(struct room *r, struct occupant *o, const struct xml_node *form)
{
	struct xml_node *m, *x;
	const char *role = muc_field_value(form, "muc#role");

	if (o == NULL || o->role != ROLE_VISITOR || role == NULL ||
	    strcmp(role, "participant") != 0 || !rate_ok(o))
		return;
	m = xml_new(xml_arena_new(), "message", NS_CLIENT);
	xml_set_attr(m, "from", r->jid);
	x = xml_add(m, "x", NS_XDATA);
	xml_set_attr(x, "type", "form");
	xml_add_text_child(x, "title", NULL, "Voice request");
	muc_form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_REQUEST);
	muc_form_field(x, "muc#role", "list-single", "Requested role",
	    "participant");
	muc_form_field(x, "muc#jid", "jid-single", "User ID", o->sess->jid);
	muc_form_field(x, "muc#roomnick", "text-single", "Room Nickname",
	    o->nick);
	muc_form_field(x, "muc#request_allow", "boolean",
	    "Grant voice to this person?", "false");
	for (struct occupant *p = r->occ; p != NULL; p = p->next)
		if (p->role == ROLE_MODERATOR)
			for (struct osess *s = p->sess; s != NULL; s = s->next)
				muc_send_copy(m, s->jid);
	xml_arena_free(m->arena);
}

static void
voice_approval(struct room *r, struct occupant *o, struct xml_node *st,
    const struct xml_node *form)
{
	const char *allow = muc_field_value(form, "muc#request_allow");
	const char *nick = muc_field_value(form, "muc#roomnick");
	struct occupant *t;
	int yes;

	if (o == NULL || o->role != ROLE_MODERATOR) {
		muc_error(st, ERR_FORBIDDEN, "auth", NULL, 0);
		return;
	}
	if (muc_parse_bool(allow, &yes) == -1 || !yes || nick == NULL ||
	    (t = occ_by_nick(r, nick)) == NULL || t->role != ROLE_VISITOR)
		return;
	t->role = ROLE_PARTICIPANT;
	occ_announce(r, t, o->nick, NULL);
}

void
occ_message(struct room *r, struct xml_node *st, const struct jid *from,
    const struct jid *to)
{
	const char *type = xml_attr(st, "type");
	char full[JID_MAX + 1], bare[JID_MAX + 1];
	struct occupant *o;
	const struct xml_node *x, *form;

	names_of(from, full, sizeof full, bare, sizeof bare);
	if (full[0] == '\0' || bare[0] == '\0')
		return;
	if (type != NULL && strcmp(type, "error") == 0) {
		ghost_check(r, st, full);
		return;
	}
	if (r == NULL) {
		/* 17.2: a message for a room that does not exist. */
		muc_error(st, ERR_ITEM_NOT_FOUND, "cancel", NULL, 0);
		return;
	}
	o = occ_by_jid(r, full, NULL);
	if (r->locked && o == NULL) {
		muc_error(st, ERR_ITEM_NOT_FOUND, "cancel", NULL, 0);
		return;
	}
	if (to->resource[0] != '\0') {
		private_message(r, o, st, to->resource);
		return;
	}
	if (type != NULL && strcmp(type, "groupchat") == 0) {
		groupchat(r, o, st);
		return;
	}
	if (type != NULL && strcmp(type, "headline") == 0)
		return;
	if ((x = xml_child(st, "x", NS_MUC_USER)) != NULL) {
		const struct xml_node *d = xml_child(x, "decline", NULL);
		if (xml_child(x, "invite", NULL) != NULL)
			invitations(r, o, st, x, bare);
		else if (d != NULL)
			decline(r, st, d, bare);
		else
			muc_error(st, ERR_BAD_REQUEST, "modify", NULL, 0);
		return;
	}
	if ((form = xml_child(st, "x", NS_XDATA)) != NULL) {
		const char *ft = muc_field_value(form, "FORM_TYPE");
		if (ft != NULL && strcmp(ft, NS_MUC_REQUEST) == 0) {
			if (muc_field_value(form, "muc#request_allow") != NULL)
				voice_approval(r, o, st, form);
			else
				voice_request(r, o, form);
			return;
		}
	}
	/* 17.1 rule 1: only groupchat messages go to the room. */
	muc_error(st, ERR_BAD_REQUEST, "modify",
	    "Messages to the room must be of type groupchat", 0);
}

/* ---- muc#admin: roles and affiliations ---- */

static int
role_parse(const char *s)
{
	for (int i = 0; s != NULL && i < 4; i++)
		if (strcmp(s, role_names[i]) == 0)
			return i;
	return -1;
}

static int
aff_parse(const char *s)
{
	for (int i = 0; s != NULL && i < 5; i++)
		if (strcmp(s, aff_names[i]) == 0)
			return i;
	return -1;
}

/* The requester's role: its occupant's, or what its affiliation would
 * give it when it is not in the room. */
static int
actor_role(const struct room *r, const struct iq_req *req, const char *bare,
    const struct occupant **actor)
{
	char full[JID_MAX + 1];
	const struct occupant *o;

	*actor = NULL;
	if (jid_full(&req->from, full, sizeof full) == 0 &&
	    (o = occ_by_jid(r, full, NULL)) != NULL) {
		*actor = o;
		return o->role;
	}
	for (o = r->occ; o != NULL; o = o->next)
		if (strcmp(o->bare, bare) == 0) {
			*actor = o;
			return o->role;
		}
	return room_affil(r, bare) >= AFF_ADMIN ? ROLE_MODERATOR : ROLE_NONE;
}

static enum stanza_error
admin_get(struct room *r, struct iq_req *req, const char *bare)
{
	const struct xml_node *it = xml_child(req->payload, "item", NS_MUC_ADMIN);
	const struct occupant *actor;
	struct xml_node *rep, *q, *n;
	int role, aff, myaff = room_affil(r, bare);

	if (it == NULL || xml_next(it, "item", NS_MUC_ADMIN) != NULL)
		return ERR_BAD_REQUEST;
	if (xml_attr(it, "role") != NULL) {
		if ((role = role_parse(xml_attr(it, "role"))) <= ROLE_NONE ||
		    xml_attr(it, "affiliation") != NULL)
			return ERR_BAD_REQUEST;
		if (actor_role(r, req, bare, &actor) != ROLE_MODERATOR)
			return ERR_FORBIDDEN;
		rep = iq_result(req);
		q = xml_add(rep, "query", NS_MUC_ADMIN);
		for (struct occupant *o = r->occ; o != NULL; o = o->next) {
			if (o->role != role)
				continue;
			n = xml_add(q, "item", NULL);
			xml_set_attr(n, "affiliation",
			    aff_names[room_affil(r, o->bare)]);
			xml_set_attr(n, "jid", o->sess->jid);
			xml_set_attr(n, "nick", o->nick);
			xml_set_attr(n, "role", role_names[o->role]);
		}
		iq_reply(req, rep);
		return ERR_NONE;
	}
	if ((aff = aff_parse(xml_attr(it, "affiliation"))) == -1 ||
	    aff == AFF_NONE)
		return ERR_BAD_REQUEST;
	/* Admins and owners see every list; members see the member list
	 * of a non-anonymous room (9.5). */
	if (myaff < AFF_ADMIN && !(aff == AFF_MEMBER && myaff == AFF_MEMBER &&
	    r->cfg.whois_anyone))
		return ERR_FORBIDDEN;
	rep = iq_result(req);
	q = xml_add(rep, "query", NS_MUC_ADMIN);
	for (struct affil *a = r->affils; a != NULL; a = a->next) {
		if (a->aff != aff)
			continue;
		n = xml_add(q, "item", NULL);
		xml_set_attr(n, "affiliation", aff_names[a->aff]);
		xml_set_attr(n, "jid", a->jid);
		if (a->nick != NULL && aff != AFF_OUTCAST)
			xml_set_attr(n, "nick", a->nick);
		if (a->reason != NULL)
			xml_add_text_child(n, "reason", NULL, a->reason);
	}
	iq_reply(req, rep);
	return ERR_NONE;
}

/* One change of a muc#admin set, checked before any is made. */
struct change {
	int			 is_role;
	int			 was_none;	/* affiliation none before */
	struct occupant		*target;	/* role changes */
	char			 jid[JID_MAX + 1];	/* affiliation changes */
	int			 value;
	const char		*nick;		/* reserved nick, or NULL */
	const char		*reason;
};

static enum stanza_error
check_role(struct room *r, const struct xml_node *it, int aa, int ar,
    struct change *c, const char **text)
{
	const char *nick = xml_attr(it, "nick");
	int nr = role_parse(xml_attr(it, "role")), ta;

	if (nr == -1 || nick == NULL)
		return ERR_BAD_REQUEST;
	if (ar != ROLE_MODERATOR)
		return ERR_FORBIDDEN;
	if ((c->target = occ_by_nick(r, nick)) == NULL) {
		*text = "No occupant with that nickname";
		return ERR_ITEM_NOT_FOUND;
	}
	ta = room_affil(r, c->target->bare);
	c->is_role = 1;
	c->value = nr;
	switch (nr) {
	case ROLE_NONE:
		/* 8.2: not by a moderator with a lower affiliation. */
		if (ta > aa)
			return ERR_NOT_ALLOWED;
		break;
	case ROLE_VISITOR:
		/* 8.4: never from admins and owners, nor from a higher
		 * affiliation; a moderator's status is an admin's matter. */
		if (ta >= AFF_ADMIN || ta > aa ||
		    (c->target->role == ROLE_MODERATOR && aa < AFF_ADMIN))
			return ERR_NOT_ALLOWED;
		break;
	case ROLE_PARTICIPANT:
		if (c->target->role == ROLE_MODERATOR) {
			/* 9.7: revoking moderator status. */
			if (ta >= AFF_ADMIN)
				return ERR_NOT_ALLOWED;
			if (aa < AFF_ADMIN)
				return ERR_FORBIDDEN;
		}
		break;
	case ROLE_MODERATOR:
		if (aa < AFF_ADMIN)
			return ERR_FORBIDDEN;
		break;
	}
	return ERR_NONE;
}

static enum stanza_error
check_affil(struct room *r, const struct xml_node *it, const char *actor,
    int aa, struct change *c, const char **text)
{
	const char *jid = xml_attr(it, "jid"), *nick = xml_attr(it, "nick");
	int na = aff_parse(xml_attr(it, "affiliation")), ta;
	struct jid j;
	const struct affil *cur;
	const struct occupant *o;

	if (na == -1)
		return ERR_BAD_REQUEST;
	if (jid == NULL && nick != NULL && (o = occ_by_nick(r, nick)) != NULL) {
		/* An occupant named by nickname: its bare JID. */
		strlcpy_ok(c->jid, o->bare, sizeof c->jid);
		nick = NULL;
	} else {
		if (jid == NULL)
			return ERR_BAD_REQUEST;
		if (jid_parse(&j, jid) == -1)
			return ERR_JID_MALFORMED;
		j.resource[0] = '\0';
		jid_bare(&j, c->jid, sizeof c->jid);
		/* A whole domain: bans only (9.2). */
		if (j.local[0] == '\0' && na != AFF_OUTCAST && na != AFF_NONE)
			return ERR_BAD_REQUEST;
	}
	if (nick != NULL && strlen(nick) > muc_setting(S_MAX_NICK)) {
		*text = "The nickname is too long";
		return ERR_NOT_ACCEPTABLE;
	}
	cur = room_affil_entry(r, c->jid);
	ta = cur != NULL ? cur->aff : AFF_NONE;
	c->is_role = 0;
	c->value = na;
	c->nick = nick;
	if (aa < AFF_ADMIN)
		return ERR_FORBIDDEN;
	if (ta > aa)
		return ERR_NOT_ALLOWED;		/* 9.1: an admin banning an owner */
	if ((na >= AFF_ADMIN || ta >= AFF_ADMIN) && aa < AFF_OWNER)
		return ERR_FORBIDDEN;		/* 10.3 ff.: owners' business */
	if (na == AFF_OUTCAST && strcmp(c->jid, actor) == 0) {
		*text = "You cannot ban yourself";
		return ERR_CONFLICT;
	}
	return ERR_NONE;
}

/* Send an invitation to someone made a member of a members-only room
 * who is not in it (9.5). */
static void
invite_new_member(struct room *r, const char *jid, const char *actor)
{
	for (struct occupant *o = r->occ; o != NULL; o = o->next)
		if (strcmp(o->bare, jid) == 0)
			return;
	if (strchr(jid, '@') != NULL)
		send_invite(r, jid, actor, NULL, NULL);
}

/* The affiliation jid will have after the changes (the last one for it
 * wins, as they are applied in order). */
static int
final_affil(const struct room *r, const struct change *ch, size_t n,
    const char *jid)
{
	const struct affil *a = room_affil_entry(r, jid);
	int v = a != NULL ? a->aff : AFF_NONE;

	for (size_t i = 0; i < n; i++)
		if (!ch[i].is_role && strcmp(ch[i].jid, jid) == 0)
			v = ch[i].value;
	return v;
}

static size_t
owners_after(const struct room *r, const struct change *ch, size_t n)
{
	size_t count = 0;

	for (const struct affil *a = r->affils; a != NULL; a = a->next)
		if (final_affil(r, ch, n, a->jid) == AFF_OWNER)
			count++;
	for (size_t i = 0; i < n; i++) {
		size_t k;
		if (ch[i].is_role || room_affil_entry(r, ch[i].jid) != NULL)
			continue;
		/* Count a new JID once, at its last change. */
		for (k = i + 1; k < n; k++)
			if (!ch[k].is_role && strcmp(ch[k].jid, ch[i].jid) == 0)
				break;
		if (k == n && ch[i].value == AFF_OWNER)
			count++;
	}
	return count;
}

static enum stanza_error
admin_set(struct room *r, struct iq_req *req, const char *actor)
{
	const struct xml_node *it;
	struct change *ch;
	const struct occupant *ao;
	const char *text = NULL, *reason;
	size_t n = 0, max = 0, before, newentries = 0;
	enum stanza_error e = ERR_NONE;
	int aa = room_affil(r, actor), ar = actor_role(r, req, actor, &ao);
	char actor_nick[JID_PART_MAX + 1];
	int any_affil = 0;

	actor_nick[0] = '\0';
	if (ao != NULL)
		strlcpy_ok(actor_nick, ao->nick, sizeof actor_nick);
	for (it = xml_child(req->payload, "item", NS_MUC_ADMIN); it != NULL;
	    it = xml_next(it, "item", NS_MUC_ADMIN))
		max++;
	if (max == 0 || max > 100)
		return ERR_BAD_REQUEST;
	ch = xcalloc(max, sizeof *ch);
	for (it = xml_child(req->payload, "item", NS_MUC_ADMIN); it != NULL &&
	    e == ERR_NONE; it = xml_next(it, "item", NS_MUC_ADMIN)) {
		int has_role = xml_attr(it, "role") != NULL;
		int has_aff = xml_attr(it, "affiliation") != NULL;
		/* 17.4 rule 4: one or the other, not both. */
		if (has_role == has_aff) {
			e = ERR_BAD_REQUEST;
			break;
		}
		reason = xml_child_text(it, "reason", NS_MUC_ADMIN);
		if (reason != NULL && strlen(reason) > MUC_REASON_MAX) {
			text = "The reason is too long";
			e = ERR_NOT_ACCEPTABLE;
			break;
		}
		ch[n].reason = reason != NULL && *reason != '\0' ? reason : NULL;
		e = has_role ? check_role(r, it, aa, ar, &ch[n], &text) :
		    check_affil(r, it, actor, aa, &ch[n], &text);
		if (e == ERR_NONE && !ch[n].is_role) {
			any_affil = 1;
			if (room_affil_entry(r, ch[n].jid) == NULL &&
			    ch[n].value != AFF_NONE)
				newentries++;
		}
		n++;
	}
	if (e == ERR_NONE && any_affil) {
		/* The room keeps an owner (10.6), and its bound. */
		before = room_count_affil(r, AFF_OWNER);
		if (before > 0 && owners_after(r, ch, n) == 0) {
			text = "The room would have no owner left";
			e = ERR_CONFLICT;
		} else if (r->naffils + newentries >
		    muc_setting(S_MAX_AFFILIATIONS)) {
			text = "The room has as many affiliations as it may";
			e = ERR_NOT_ACCEPTABLE;
		}
	}
	if (e != ERR_NONE) {
		free(ch);
		if (text == NULL)
			return e;
		iq_error(req, e, text);
		return ERR_NONE;
	}
	/* Everything is allowed: make the changes. */
	for (size_t i = 0; i < n; i++)
		if (!ch[i].is_role) {
			const struct affil *a = room_affil_entry(r, ch[i].jid);
			int was = a != NULL ? a->aff : AFF_NONE;
			room_set_affil(r, ch[i].jid, ch[i].value, ch[i].nick,
			    ch[i].value == AFF_OUTCAST ? ch[i].reason : NULL);
			ch[i].was_none = was == AFF_NONE;
		}
	if (any_affil)
		room_save_affils(r);
	/* 8.2: the kicked hear it first, then the moderator, then the
	 * rest (for the other changes the order does not matter). */
	for (size_t i = 0; i < n; i++)
		if (ch[i].is_role && ch[i].value == ROLE_NONE &&
		    ch[i].target != NULL) {
			struct pinfo pi;
			struct xml_node *p;
			pinfo_init(&pi);
			pi.type = "unavailable";
			pi.codes[pi.ncodes++] = 307;
			pi.actor = actor_nick[0] ? actor_nick : NULL;
			pi.reason = ch[i].reason;
			ch[i].target->role = ROLE_NONE;
			p = build_presence(r, ch[i].target, &pi,
			    occ_can_see_jid(r, ch[i].target), 1);
			for (struct osess *s = ch[i].target->sess; s != NULL;
			    s = s->next)
				muc_send_copy(p, s->jid);
			xml_arena_free(p->arena);
		}
	iq_ok(req);
	for (size_t i = 0; i < n; i++) {
		if (ch[i].is_role) {
			struct occupant *t = ch[i].target;
			if (t == NULL)
				continue;
			if (ch[i].value == ROLE_NONE) {
				struct pinfo pi;
				pinfo_init(&pi);
				pi.type = "unavailable";
				pi.codes[pi.ncodes++] = 307;
				pi.actor = actor_nick[0] ? actor_nick : NULL;
				pi.reason = ch[i].reason;
				broadcast(r, t, &pi, 0, 1, NULL);
				occ_unlink(r, t);
				occ_free(t);
				/* Later changes may name the same occupant. */
				for (size_t k = i + 1; k < n; k++)
					if (ch[k].target == t)
						ch[k].target = NULL;
			} else {
				t->role = ch[i].value;
				occ_announce(r, t, actor_nick[0] ? actor_nick :
				    NULL, ch[i].reason);
			}
		} else {
			occ_affil_changed(r, ch[i].jid, actor_nick[0] ?
			    actor_nick : NULL, ch[i].reason);
			if (ch[i].was_none && ch[i].value == AFF_MEMBER &&
			    r->cfg.membersonly)
				invite_new_member(r, ch[i].jid, actor);
		}
	}
	free(ch);
	room_collect(r);	/* a moderator who kicked the last one */
	return ERR_NONE;
}

enum stanza_error
occ_admin(struct room *r, struct iq_req *req, const char *actor)
{
	return req->type == IQ_GET ? admin_get(r, req, actor) :
	    admin_set(r, req, actor);
}

/* ---- IQs to occupants ---- */

/* IQs forwarded to an occupant's client, waiting for its answer. */
struct pending {
	int	 used;
	char	 id[40];		/* the id we sent */
	char	*orig_id;		/* NULL: none */
	char	*asker;			/* full JID that asked */
	char	*target;		/* JID the request went to */
	char	*room;			/* room JID */
	char	*nick;			/* target's nick then */
	int64_t	 expires;
};

static struct pending pend[PENDING_MAX];

static void
pending_free(struct pending *p)
{
	free(p->orig_id);
	free(p->asker);
	free(p->target);
	free(p->room);
	free(p->nick);
	memset(p, 0, sizeof *p);
}

void
occ_pending_expire(int64_t now)
{
	for (size_t i = 0; i < PENDING_MAX; i++)
		if (pend[i].used && pend[i].expires <= now)
			pending_free(&pend[i]);
}

void
occ_free_all(void)
{
	for (size_t i = 0; i < PENDING_MAX; i++)
		if (pend[i].used)
			pending_free(&pend[i]);
	while (nghosts > 0) {
		nghosts--;
		free(ghosts[nghosts].room);
		free(ghosts[nghosts].full);
	}
}

static struct pending *
pending_new(void)
{
	occ_pending_expire(now_ms());
	for (size_t i = 0; i < PENDING_MAX; i++)
		if (!pend[i].used)
			return &pend[i];
	return NULL;
}

void
occ_iq(struct room *r, struct xml_node *st, const struct jid *from,
    const struct jid *to)
{
	char full[JID_MAX + 1], bare[JID_MAX + 1], tmp[JID_MAX + 1];
	struct occupant *o, *t;
	const struct xml_node *c, *payload = NULL;
	struct xml_node *fw;
	struct pending *p;
	unsigned char rnd[12];
	int nchild = 0;

	names_of(from, full, sizeof full, bare, sizeof bare);
	if (full[0] == '\0')
		return;
	for (c = st->children; c != NULL; c = c->next)
		if (c->name != NULL) {
			payload = c;
			nchild++;
		}
	if (nchild != 1) {
		muc_error(st, ERR_BAD_REQUEST, NULL, NULL, 0);
		return;
	}
	if (r == NULL || r->locked) {
		muc_error(st, ERR_ITEM_NOT_FOUND, "cancel", NULL, 0);
		return;
	}
	o = occ_by_jid(r, full, NULL);
	if (o == NULL) {
		/* 6.6 for disco; XEP-0410 for the rest (the self-ping). */
		if (strcmp(payload->ns, NS_DISCO_INFO) == 0 ||
		    strcmp(payload->ns, NS_DISCO_ITEMS) == 0)
			muc_error(st, ERR_BAD_REQUEST, "modify", NULL, 0);
		else
			muc_error(st, ERR_NOT_ACCEPTABLE, "cancel", NULL, 0);
		return;
	}
	if (strcmp(o->nick, to->resource) == 0 &&
	    xml_is(payload, "ping", NS_PING)) {
		/* XEP-0410 4: the room answers a self-ping itself. */
		struct xml_node *res = xml_new(xml_arena_new(), "iq", NS_CLIENT);
		xml_set_attr(res, "type", "result");
		xml_set_attr(res, "from", xml_attr(st, "to"));
		xml_set_attr(res, "to", xml_attr(st, "from"));
		if (xml_attr(st, "id") != NULL)
			xml_set_attr(res, "id", xml_attr(st, "id"));
		route(res);
		xml_arena_free(res->arena);
		return;
	}
	if ((t = occ_by_nick(r, to->resource)) == NULL) {
		muc_error(st, ERR_ITEM_NOT_FOUND, "cancel", NULL, 0);
		return;
	}
	if ((p = pending_new()) == NULL) {
		muc_error(st, ERR_RESOURCE_CONSTRAINT, "wait", NULL, 0);
		return;
	}
	/* 17.4 rule 3: forwarded without revealing either real JID. */
	random_bytes(rnd, sizeof rnd);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(p->id + 2 * i, 3, "%02x", rnd[i]);
	p->used = 1;
	p->orig_id = xml_attr(st, "id") ? xstrdup(xml_attr(st, "id")) : NULL;
	p->asker = xstrdup(full);
	/* vCards belong to the account, not to one of its clients. */
	p->target = xstrdup(xml_is(payload, "vCard", NS_VCARD) ? t->bare :
	    t->sess->jid);
	p->room = xstrdup(r->jid);
	p->nick = xstrdup(t->nick);
	p->expires = now_ms() + PENDING_MS;
	fw = xml_copy(xml_arena_new(), st);
	muc_strip_ns(fw);
	snprintf(tmp, sizeof tmp, "%s/%s", r->jid, o->nick);
	xml_set_attr(fw, "from", tmp);
	xml_set_attr(fw, "to", p->target);
	xml_set_attr(fw, "id", p->id);
	route(fw);
	xml_arena_free(fw->arena);
}

void
occ_iq_response(struct room *r, struct xml_node *st, const struct jid *from,
    const struct jid *to)
{
	const char *id = xml_attr(st, "id");
	char full[JID_MAX + 1], bare[JID_MAX + 1], tmp[JID_MAX + 1];
	struct xml_node *fw;
	struct occupant *asker;

	names_of(from, full, sizeof full, bare, sizeof bare);
	if (id == NULL)
		return;
	for (size_t i = 0; i < PENDING_MAX; i++) {
		struct pending *p = &pend[i];
		if (!p->used || strcmp(p->id, id) != 0 ||
		    strcmp(p->room, r->jid) != 0 ||
		    (strcmp(p->target, full) != 0 &&
		    strcmp(p->target, bare) != 0))
			continue;
		/* The asker must still be the occupant the answer is for. */
		asker = occ_by_jid(r, p->asker, NULL);
		if (asker != NULL && strcmp(asker->nick, to->resource) == 0) {
			fw = xml_copy(xml_arena_new(), st);
			muc_strip_ns(fw);
			snprintf(tmp, sizeof tmp, "%s/%s", r->jid, p->nick);
			xml_set_attr(fw, "from", tmp);
			xml_set_attr(fw, "to", p->asker);
			xml_set_attr(fw, "id", p->orig_id);
			route(fw);
			xml_arena_free(fw->arena);
		}
		pending_free(p);
		return;
	}
}

/* ---- sessions that end, direct invitations ---- */

static void
gone_in_room(struct room *r, void *arg)
{
	const char *full = arg;
	struct occupant *o;
	struct osess *s;

	if ((o = occ_by_jid(r, full, &s)) != NULL)
		leave(r, o, s, NULL, 0, 0);
}

void
occ_session_gone(const char *full)
{
	rooms_each(gone_in_room, (void *)full);
}

int
occ_direct_invite(struct session *sess, struct xml_node *st)
{
	const struct xml_node *x = xml_child(st, "x", NS_CONFERENCE);
	struct jid rj, ij;
	char room[JID_MAX + 1], invitee[JID_MAX + 1];
	struct room *r;

	if (x == NULL || jid_parse(&rj, xml_attr(x, "jid")) == -1 ||
	    rj.local[0] == '\0' || jid_parse(&ij, xml_attr(st, "to")) == -1 ||
	    ij.local[0] == '\0')
		return 0;
	rj.resource[0] = ij.resource[0] = '\0';
	if (jid_bare(&rj, room, sizeof room) == -1 ||
	    jid_bare(&ij, invitee, sizeof invitee) == -1 ||
	    (r = room_find(room)) == NULL || r->locked)
		return 0;
	/* XEP-0249 leaves membership to the inviter; in a members-only
	 * room whose invitations make members (as mediated ones do), a
	 * direct invitation from someone allowed to invite does too. */
	if (r->cfg.membersonly && may_invite(r, room_affil(r, sess->bare)))
		invite_makes_member(r, invitee, sess->bare);
	return 0;
}
