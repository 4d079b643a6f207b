/*
 * muc_room.c - rooms of the group chat service: the table of rooms,
 * affiliations, the owner's configuration form (XEP-0045 10.1, 10.2),
 * destruction (10.9), the room's disco#info, its vCard and avatar
 * (XEP-0054, XEP-0486 with the XEP-0153 hash), and storage.
 *
 * Storage: a persistent room is a directory <data>/<service>/<room>/
 * (made with store_user_create()), holding
 *   config        <room version='1' .../>: options, name, description,
 *                 password
 *   affiliations  <affiliations version='1'><item jid= affiliation=
 *                 nick=><reason/></item>...</affiliations>
 *   subject       <subject version='1' nick= time=>text</subject>
 *   vcard         <vcard version='1'><vCard xmlns='vcard-temp'/></vcard>
 *   archive/...   the archive (muc_archive.c)
 * each written whole and atomically by store_write().  A temporary room
 * lives in memory only; when a room stops being persistent its directory
 * goes.  Files of a newer version are refused with a log line (the room
 * is then not loaded, and its files stay as they are).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearssl_hash.h"

#include "muc.h"

#define NS_STORE	"urn:xmppd:muc"
#define STORE_VERSION	"1"
#define ROOM_BUCKETS	1024
#define CONFIG_FILE_MAX	(64 * 1024)
#define SUBJECT_FILE_MAX (256 * 1024)
#define AFFIL_LINE_MAX	2600	/* bytes one affiliation takes, at most */

static const struct xml_limits file_limits = { 16 * 1024 * 1024, 64, 64, 256 };

static struct room *buckets[ROOM_BUCKETS];

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % ROOM_BUCKETS;
}

struct room *
room_find(const char *jid)
{
	struct room *r;

	for (r = buckets[hash(jid)]; r != NULL; r = r->hnext)
		if (strcmp(r->jid, jid) == 0)
			return r;
	return NULL;
}

void
rooms_each(void (*fn)(struct room *, void *), void *arg)
{
	for (size_t i = 0; i < ROOM_BUCKETS; i++) {
		struct room *r, *next;
		for (r = buckets[i]; r != NULL; r = next) {
			next = r->hnext;
			fn(r, arg);
		}
	}
}

size_t
rooms_count(const char *service)
{
	size_t n = 0;

	for (size_t i = 0; i < ROOM_BUCKETS; i++)
		for (struct room *r = buckets[i]; r != NULL; r = r->hnext)
			if (strcmp(r->service, service) == 0)
				n++;
	return n;
}

size_t
rooms_owned_by(const char *bare)
{
	size_t n = 0;

	for (size_t i = 0; i < ROOM_BUCKETS; i++)
		for (struct room *r = buckets[i]; r != NULL; r = r->hnext)
			for (struct affil *a = r->affils; a != NULL; a = a->next)
				if (a->aff == AFF_OWNER &&
				    strcmp(a->jid, bare) == 0) {
					n++;
					break;
				}
	return n;
}

void
room_defaults(struct room_config *c)
{
	memset(c, 0, sizeof *c);
	c->persistent = muc_setting_bool("default_persistent", 0);
	c->public = muc_setting_bool("default_public", 1);
	c->membersonly = muc_setting_bool("default_members_only", 0);
	c->moderated = muc_setting_bool("default_moderated", 0);
	c->whois_anyone = muc_setting_bool("default_non_anonymous", 0);
	c->archive = muc_setting_bool("default_archive", 1);
	c->allowpm = PM_ANYONE;
	c->maxusers = (unsigned)muc_setting(S_MAX_OCCUPANTS);
	c->maxhistory = (unsigned)muc_setting(S_MAX_HISTORY);
}

void
room_config_free(struct room_config *c)
{
	free(c->name);
	free(c->desc);
	if (c->password != NULL)
		xfree_secret(c->password, strlen(c->password));
	c->name = c->desc = c->password = NULL;
}

static struct room *
room_alloc(const char *service, const char *local)
{
	struct room *r = xcalloc(1, sizeof *r);
	size_t n = strlen(local) + 1 + strlen(service) + 1;
	unsigned h;

	r->local = xstrdup(local);
	r->service = xstrdup(service);
	r->jid = xmalloc(n);
	snprintf(r->jid, n, "%s@%s", local, service);
	room_defaults(&r->cfg);
	r->created = wall_time();
	h = hash(r->jid);
	r->hnext = buckets[h];
	buckets[h] = r;
	return r;
}

struct room *
room_create(const char *service, const char *local, const char *owner)
{
	struct room *r = room_alloc(service, local);

	r->locked = 1;
	room_set_affil(r, owner, AFF_OWNER, NULL, NULL);
	log_info("muc: room %s created by %s", r->jid, owner);
	return r;
}

static void
affil_free(struct affil *a)
{
	free(a->jid);
	free(a->nick);
	free(a->reason);
	free(a);
}

void
room_free(struct room *r)
{
	struct room **rp;
	struct occupant *o, *on;
	struct affil *a, *an;

	for (rp = &buckets[hash(r->jid)]; *rp != NULL; rp = &(*rp)->hnext)
		if (*rp == r) {
			*rp = r->hnext;
			break;
		}
	for (o = r->occ; o != NULL; o = on) {
		on = o->next;
		occ_free(o);
	}
	for (a = r->affils; a != NULL; a = an) {
		an = a->next;
		affil_free(a);
	}
	room_config_free(&r->cfg);
	free(r->subject);
	free(r->subject_nick);
	hist_clear(r);
	free(r->hist);
	if (r->vcard != NULL)
		xml_arena_free(r->vcard->arena);
	arch_free(r->arch);
	free(r->local);
	free(r->service);
	free(r->jid);
	free(r);
}

void
rooms_free_all(void)
{
	for (size_t i = 0; i < ROOM_BUCKETS; i++)
		while (buckets[i] != NULL)
			room_free(buckets[i]);
}

int
room_is_persistent(const struct room *r)
{
	return r->cfg.persistent && !r->locked;
}

/* ---- affiliations ---- */

static const char *const affil_names[] = {
	"outcast", "none", "member", "admin", "owner"
};

static int
affil_parse(const char *s)
{
	for (int i = 0; s != NULL && i < 5; i++)
		if (strcmp(s, affil_names[i]) == 0)
			return i;
	return -1;
}

struct affil *
room_affil_entry(const struct room *r, const char *jid)
{
	for (struct affil *a = r->affils; a != NULL; a = a->next)
		if (strcmp(a->jid, jid) == 0)
			return a;
	return NULL;
}

int
room_affil(const struct room *r, const char *bare)
{
	const struct affil *a;
	const char *at;

	/* Server admins own every room (as in Prosody). */
	if (muc_is_admin(bare))
		return AFF_OWNER;
	if ((a = room_affil_entry(r, bare)) != NULL)
		return a->aff;
	/* XEP-0045 9.2: a ban on a domain covers everyone there. */
	if ((at = strchr(bare, '@')) != NULL &&
	    (a = room_affil_entry(r, at + 1)) != NULL)
		return a->aff;
	return AFF_NONE;
}

int
room_set_affil(struct room *r, const char *jid, int aff, const char *nick,
    const char *reason)
{
	struct affil *a, **ap;

	for (ap = &r->affils; *ap != NULL; ap = &(*ap)->next)
		if (strcmp((*ap)->jid, jid) == 0)
			break;
	if (aff == AFF_NONE) {
		if (*ap != NULL) {
			a = *ap;
			*ap = a->next;
			affil_free(a);
			r->naffils--;
		}
		return 0;
	}
	if ((a = *ap) == NULL) {
		if (r->naffils >= muc_setting(S_MAX_AFFILIATIONS))
			return -1;
		a = xcalloc(1, sizeof *a);
		a->jid = xstrdup(jid);
		*ap = a;
		r->naffils++;
	}
	a->aff = aff;
	if (nick != NULL) {
		free(a->nick);
		a->nick = *nick != '\0' ? xstrdup(nick) : NULL;
	}
	free(a->reason);
	a->reason = reason != NULL && *reason != '\0' ? xstrdup(reason) : NULL;
	return 0;
}

size_t
room_count_affil(const struct room *r, int aff)
{
	size_t n = 0;

	for (const struct affil *a = r->affils; a != NULL; a = a->next)
		if (a->aff == aff)
			n++;
	return n;
}

const char *
room_reserved_nick(const struct room *r, const char *bare)
{
	const struct affil *a = room_affil_entry(r, bare);

	return a != NULL && a->aff > AFF_NONE ? a->nick : NULL;
}

const char *
room_nick_owner(const struct room *r, const char *nick)
{
	for (const struct affil *a = r->affils; a != NULL; a = a->next)
		if (a->aff > AFF_NONE && a->nick != NULL &&
		    strcmp(a->nick, nick) == 0)
			return a->jid;
	return NULL;
}

/* ---- storage ---- */

static int
write_doc(struct room *r, const char *name, const struct xml_node *doc)
{
	struct buf b;
	int rc;

	buf_init(&b, 32 * 1024 * 1024);
	rc = xml_serialize(doc, &b, NULL);
	if (rc == 0)
		rc = buf_addstr(&b, "\n");
	if (rc == 0)
		rc = store_write(r->service, r->local, name, buf_head(&b),
		    buf_used(&b));
	if (rc == -1)
		log_warn("muc: saving %s of room %s", name, r->jid);
	buf_free(&b);
	return rc;
}

static const char *const pm_names[] = {
	"anyone", "participants", "moderators", "none"
};

static int
pm_parse(const char *s)
{
	for (int i = 0; s != NULL && i < 4; i++)
		if (strcmp(s, pm_names[i]) == 0)
			return i;
	return -1;
}

int
room_save_config(struct room *r)
{
	struct xml_node *d;
	char num[32];
	int rc;

	if (!room_is_persistent(r))
		return 0;
	d = xml_new(xml_arena_new(), "room", NS_STORE);
	xml_set_attr(d, "version", STORE_VERSION);
	xml_set_attr(d, "persistent", "1");
	xml_set_attr(d, "public", r->cfg.public ? "1" : "0");
	xml_set_attr(d, "membersonly", r->cfg.membersonly ? "1" : "0");
	xml_set_attr(d, "moderated", r->cfg.moderated ? "1" : "0");
	xml_set_attr(d, "whois", r->cfg.whois_anyone ? "anyone" : "moderators");
	xml_set_attr(d, "changesubject", r->cfg.changesubject ? "1" : "0");
	xml_set_attr(d, "allowinvites", r->cfg.allowinvites ? "1" : "0");
	xml_set_attr(d, "archive", r->cfg.archive ? "1" : "0");
	xml_set_attr(d, "allowpm", pm_names[r->cfg.allowpm]);
	snprintf(num, sizeof num, "%u", r->cfg.maxusers);
	xml_set_attr(d, "maxusers", num);
	snprintf(num, sizeof num, "%u", r->cfg.maxhistory);
	xml_set_attr(d, "maxhistory", num);
	snprintf(num, sizeof num, "%" PRId64, r->created);
	xml_set_attr(d, "created", num);
	if (r->cfg.name != NULL)
		xml_add_text_child(d, "name", NULL, r->cfg.name);
	if (r->cfg.desc != NULL)
		xml_add_text_child(d, "description", NULL, r->cfg.desc);
	if (r->cfg.password != NULL)
		xml_add_text_child(d, "password", NULL, r->cfg.password);
	rc = write_doc(r, "config", d);
	xml_arena_free(d->arena);
	return rc;
}

int
room_save_affils(struct room *r)
{
	struct xml_node *d, *it;
	int rc;

	if (!room_is_persistent(r))
		return 0;
	d = xml_new(xml_arena_new(), "affiliations", NS_STORE);
	xml_set_attr(d, "version", STORE_VERSION);
	for (struct affil *a = r->affils; a != NULL; a = a->next) {
		it = xml_add(d, "item", NULL);
		xml_set_attr(it, "jid", a->jid);
		xml_set_attr(it, "affiliation", affil_names[a->aff]);
		if (a->nick != NULL)
			xml_set_attr(it, "nick", a->nick);
		if (a->reason != NULL)
			xml_add_text_child(it, "reason", NULL, a->reason);
	}
	rc = write_doc(r, "affiliations", d);
	xml_arena_free(d->arena);
	return rc;
}

int
room_save_subject(struct room *r)
{
	struct xml_node *d;
	char num[32];
	int rc;

	if (!room_is_persistent(r))
		return 0;
	if (r->subject == NULL)
		return store_remove(r->service, r->local, "subject");
	d = xml_new(xml_arena_new(), "subject", NS_STORE);
	xml_set_attr(d, "version", STORE_VERSION);
	if (r->subject_nick != NULL)
		xml_set_attr(d, "nick", r->subject_nick);
	snprintf(num, sizeof num, "%" PRId64, r->subject_time);
	xml_set_attr(d, "time", num);
	xml_add_text(d, r->subject, strlen(r->subject));
	rc = write_doc(r, "subject", d);
	xml_arena_free(d->arena);
	return rc;
}

static int
save_vcard(struct room *r)
{
	struct xml_node *d;
	int rc;

	if (!room_is_persistent(r))
		return 0;
	if (r->vcard == NULL)
		return store_remove(r->service, r->local, "vcard");
	d = xml_new(xml_arena_new(), "vcard", NS_STORE);
	xml_set_attr(d, "version", STORE_VERSION);
	xml_append_copy(d, r->vcard);
	rc = write_doc(r, "vcard", d);
	xml_arena_free(d->arena);
	return rc;
}

/* Everything of a room that just became persistent (or changed while
 * being so): its directory first, since store_write() never makes it. */
static int
save_all(struct room *r)
{
	if (store_user_create(r->service, r->local) == -1 && errno != EEXIST) {
		log_warn("muc: cannot make the directory of room %s", r->jid);
		return -1;
	}
	if (room_save_config(r) == -1 || room_save_affils(r) == -1 ||
	    room_save_subject(r) == -1 || save_vcard(r) == -1)
		return -1;
	return 0;
}

/*
 * Read a stored document: the root, NULL if the file does not exist or
 * cannot be used (logged).  *bad is set for a file that exists but was
 * refused.
 */
static struct xml_node *
read_doc(const char *service, const char *local, const char *name,
    const char *root, size_t max, int *bad)
{
	char *text = NULL, err[128];
	struct xml_node *d;
	const char *v;
	ssize_t n;

	*bad = 0;
	n = store_read(service, local, name, max, &text);
	if (n < 0) {
		if (errno != ENOENT) {
			log_warn("muc: reading %s of room %s@%s", name, local,
			    service);
			*bad = 1;
		}
		return NULL;
	}
	d = xml_parse_document(text, (size_t)n, &file_limits, err, sizeof err);
	free(text);
	if (d == NULL || !xml_is(d, root, NS_STORE)) {
		log_warnx("muc: %s of room %s@%s is damaged: %s", name, local,
		    service, d == NULL ? err : "unexpected root element");
		if (d != NULL)
			xml_arena_free(d->arena);
		*bad = 1;
		return NULL;
	}
	v = xml_attr(d, "version");
	if (v == NULL || strcmp(v, STORE_VERSION) != 0) {
		log_warnx("muc: %s of room %s@%s has format version %s; this "
		    "xmppd reads version " STORE_VERSION, name, local, service,
		    v ? v : "(none)");
		xml_arena_free(d->arena);
		*bad = 1;
		return NULL;
	}
	return d;
}

static int
attr_bool(const struct xml_node *d, const char *name, int def)
{
	int b;

	return muc_parse_bool(xml_attr(d, name), &b) == 0 ? b : def;
}

static unsigned
attr_uint(const struct xml_node *d, const char *name, unsigned def,
    unsigned max)
{
	const char *v = xml_attr(d, name);
	char *end;
	unsigned long n;

	if (v == NULL || *v < '0' || *v > '9')
		return def;
	n = strtoul(v, &end, 10);
	if (*end != '\0' || n > max)
		return def;
	return (unsigned)n;
}

static char *
child_dup(const struct xml_node *d, const char *name, size_t max)
{
	const char *t = xml_child_text(d, name, NS_STORE);

	if (t == NULL || *t == '\0' || strlen(t) > max)
		return NULL;
	return xstrdup(t);
}

static void
load_config(struct room *r, const struct xml_node *d)
{
	const char *v;
	int pm;

	r->cfg.persistent = 1;
	r->cfg.public = attr_bool(d, "public", r->cfg.public);
	r->cfg.membersonly = attr_bool(d, "membersonly", 0);
	r->cfg.moderated = attr_bool(d, "moderated", 0);
	v = xml_attr(d, "whois");
	r->cfg.whois_anyone = v != NULL && strcmp(v, "anyone") == 0;
	r->cfg.changesubject = attr_bool(d, "changesubject", 0);
	r->cfg.allowinvites = attr_bool(d, "allowinvites", 0);
	r->cfg.archive = attr_bool(d, "archive", r->cfg.archive);
	pm = pm_parse(xml_attr(d, "allowpm"));
	r->cfg.allowpm = pm == -1 ? PM_ANYONE : pm;
	r->cfg.maxusers = attr_uint(d, "maxusers", r->cfg.maxusers,
	    (unsigned)muc_setting(S_MAX_OCCUPANTS));
	if (r->cfg.maxusers == 0)
		r->cfg.maxusers = (unsigned)muc_setting(S_MAX_OCCUPANTS);
	r->cfg.maxhistory = attr_uint(d, "maxhistory", r->cfg.maxhistory,
	    (unsigned)muc_setting(S_MAX_HISTORY));
	if ((v = xml_attr(d, "created")) != NULL)
		r->created = strtoll(v, NULL, 10);
	r->cfg.name = child_dup(d, "name", MUC_NAME_MAX);
	r->cfg.desc = child_dup(d, "description", MUC_DESC_MAX);
	r->cfg.password = child_dup(d, "password", MUC_PASSWORD_MAX);
}

static void
load_affils(struct room *r, const struct xml_node *d)
{
	const struct xml_node *it;
	struct jid j;
	char norm[JID_MAX + 1];
	int aff;

	for (it = xml_child(d, "item", NS_STORE); it != NULL;
	    it = xml_next(it, "item", NS_STORE)) {
		aff = affil_parse(xml_attr(it, "affiliation"));
		if (aff == -1 || aff == AFF_NONE ||
		    jid_parse(&j, xml_attr(it, "jid")) == -1 ||
		    j.resource[0] != '\0' || jid_bare(&j, norm, sizeof norm) == -1) {
			log_warnx("muc: room %s: a damaged affiliation is "
			    "skipped", r->jid);
			continue;
		}
		if (room_set_affil(r, norm, aff, xml_attr(it, "nick"),
		    xml_child_text(it, "reason", NS_STORE)) == -1) {
			log_warnx("muc: room %s has more affiliations than "
			    "max_affiliations; the rest are skipped", r->jid);
			break;
		}
	}
}

static int
set_vcard(struct room *r, const struct xml_node *v)
{
	unsigned char md[br_sha1_SIZE], *bin;
	const struct xml_node *photo, *binval;
	const char *t;
	char *b64;
	size_t n = 0;
	ssize_t len;
	br_sha1_context h;

	photo = xml_child(v, "PHOTO", NS_VCARD);
	binval = photo != NULL ? xml_child(photo, "BINVAL", NS_VCARD) : NULL;
	r->avatar[0] = '\0';
	if (binval != NULL) {
		t = xml_text(binval);
		b64 = xmalloc(strlen(t) + 1);
		for (; *t != '\0'; t++)
			if (strchr(" \t\r\n", *t) == NULL)
				b64[n++] = *t;
		if (n > 0) {
			bin = xmalloc(n / 4 * 3 + 3);
			len = b64_decode(b64, n, bin, n / 4 * 3 + 3);
			if (len < 0) {
				free(bin);
				free(b64);
				return -1;
			}
			br_sha1_init(&h);
			br_sha1_update(&h, bin, (size_t)len);
			br_sha1_out(&h, md);
			for (size_t i = 0; i < sizeof md; i++)
				snprintf(r->avatar + 2 * i, 3, "%02x", md[i]);
			free(bin);
		}
		free(b64);
	}
	if (r->vcard != NULL)
		xml_arena_free(r->vcard->arena);
	r->vcard = v->children != NULL || v->attrs != NULL ?
	    xml_copy(xml_arena_new(), v) : NULL;
	return 0;
}

struct loadctx {
	const char	*service;
	size_t		 n, bad;
};

static int
load_one(const char *local, void *arg)
{
	struct loadctx *lc = arg;
	struct xml_node *d, *v;
	struct room *r;
	char jid[JID_MAX + 1];
	int bad;

	if ((size_t)snprintf(jid, sizeof jid, "%s@%s", local, lc->service) >=
	    sizeof jid || room_find(jid) != NULL)
		return 0;
	if ((d = read_doc(lc->service, local, "config", "room",
	    CONFIG_FILE_MAX, &bad)) == NULL) {
		if (!bad)
			log_warnx("muc: %s@%s has no config file: not loaded",
			    local, lc->service);
		lc->bad++;
		return 0;
	}
	r = room_alloc(lc->service, local);
	load_config(r, d);
	xml_arena_free(d->arena);
	if ((d = read_doc(lc->service, local, "affiliations", "affiliations",
	    (size_t)muc_setting(S_MAX_AFFILIATIONS) * AFFIL_LINE_MAX + 4096,
	    &bad)) != NULL) {
		load_affils(r, d);
		xml_arena_free(d->arena);
	}
	if (room_count_affil(r, AFF_OWNER) == 0)
		log_warnx("muc: room %s has no owner; only server admins can "
		    "configure it", r->jid);
	if ((d = read_doc(lc->service, local, "subject", "subject",
	    SUBJECT_FILE_MAX, &bad)) != NULL) {
		const char *t = xml_text(d), *nick = xml_attr(d, "nick");
		r->subject = xstrdup(t);
		r->subject_nick = nick != NULL ? xstrdup(nick) : NULL;
		r->subject_time = xml_attr(d, "time") ?
		    strtoll(xml_attr(d, "time"), NULL, 10) : 0;
		xml_arena_free(d->arena);
	}
	if ((d = read_doc(lc->service, local, "vcard", "vcard",
	    (size_t)muc_setting(S_MAX_VCARD) + 4096, &bad)) != NULL) {
		if ((v = xml_child(d, "vCard", NS_VCARD)) != NULL &&
		    set_vcard(r, v) == -1)
			log_warnx("muc: the vCard of room %s has a damaged "
			    "photo", r->jid);
		xml_arena_free(d->arena);
	}
	lc->n++;
	return 0;
}

int
rooms_load(const char *service)
{
	struct loadctx lc = { service, 0, 0 };
	ssize_t n;

	n = store_list_users(service, load_one, &lc);
	if (n == -1 && errno != ENOENT) {
		log_warn("muc: listing the rooms of %s", service);
		return -1;
	}
	if (lc.n > 0 || lc.bad > 0)
		log_info("muc: %zu room(s) of %s loaded%s", lc.n, service,
		    lc.bad ? " (some could not be read; see above)" : "");
	return lc.bad > 0 ? -1 : 0;
}

/* ---- destruction ---- */

void
room_destroy(struct room *r, const char *alt, const char *reason,
    const char *password)
{
	struct xml_node *p, *x, *it, *d;
	char from[JID_MAX + 1];

	for (struct occupant *o = r->occ; o != NULL; o = o->next) {
		p = xml_new(xml_arena_new(), "presence", NS_CLIENT);
		snprintf(from, sizeof from, "%s/%s", r->jid, o->nick);
		xml_set_attr(p, "from", from);
		xml_set_attr(p, "type", "unavailable");
		x = xml_add(p, "x", NS_MUC_USER);
		it = xml_add(x, "item", NULL);
		xml_set_attr(it, "affiliation", "none");
		xml_set_attr(it, "role", "none");
		d = xml_add(x, "destroy", NULL);
		if (alt != NULL)
			xml_set_attr(d, "jid", alt);
		if (reason != NULL)
			xml_add_text_child(d, "reason", NULL, reason);
		if (password != NULL)
			xml_add_text_child(d, "password", NULL, password);
		xml_add(x, "status", NULL);
		xml_set_attr(x->last, "code", "110");
		for (struct osess *s = o->sess; s != NULL; s = s->next)
			muc_send_copy(p, s->jid);
		xml_arena_free(p->arena);
	}
	if (room_is_persistent(r) &&
	    store_user_delete(r->service, r->local) == -1)
		log_warn("muc: removing the directory of room %s", r->jid);
	log_info("muc: room %s destroyed", r->jid);
	room_free(r);
}

/* ---- notifications ---- */

void
room_status_message(struct room *r, const int *codes, size_t n)
{
	struct xml_node *m, *x;
	char c[16];

	m = xml_new(xml_arena_new(), "message", NS_CLIENT);
	xml_set_attr(m, "from", r->jid);
	xml_set_attr(m, "type", "groupchat");
	x = xml_add(m, "x", NS_MUC_USER);
	for (size_t i = 0; i < n; i++) {
		snprintf(c, sizeof c, "%d", codes[i]);
		xml_set_attr(xml_add(x, "status", NULL), "code", c);
	}
	for (struct occupant *o = r->occ; o != NULL; o = o->next)
		for (struct osess *s = o->sess; s != NULL; s = s->next)
			muc_send_copy(m, s->jid);
	xml_arena_free(m->arena);
}

void
room_send_avatar(struct room *r, const char *to)
{
	struct xml_node *p, *x;

	p = xml_new(xml_arena_new(), "presence", NS_CLIENT);
	xml_set_attr(p, "from", r->jid);
	x = xml_add(p, "x", NS_VCARD_UPDATE);
	if (r->avatar[0] != '\0')
		xml_add_text_child(x, "photo", NULL, r->avatar);
	else
		xml_add(x, "photo", NULL);
	muc_send_copy(p, to);
	xml_arena_free(p->arena);
}

/* ---- the configuration form ---- */

static void
bool_field(struct xml_node *x, const char *var, const char *label, int v)
{
	muc_form_field(x, var, "boolean", label, v ? "1" : "0");
}

static void
list_field(struct xml_node *x, const char *var, const char *label,
    const char *value, const char *const *opts, const char *const *labels)
{
	struct xml_node *f = muc_form_field(x, var, "list-single", label, value);

	for (size_t i = 0; opts[i] != NULL; i++) {
		struct xml_node *o = xml_add(f, "option", NULL);
		xml_set_attr(o, "label", labels[i]);
		xml_add_text_child(o, "value", NULL, opts[i]);
	}
}

static void
jids_field(struct xml_node *x, const struct room *r, const char *var,
    const char *label, int aff)
{
	struct xml_node *f = muc_form_field(x, var, "jid-multi", label, NULL);

	for (const struct affil *a = r->affils; a != NULL; a = a->next)
		if (a->aff == aff)
			xml_add_text_child(f, "value", NULL, a->jid);
}

enum stanza_error
room_owner_get(struct room *r, struct iq_req *req)
{
	static const char *const whois[] = { "moderators", "anyone", NULL };
	static const char *const whois_l[] = { "Moderators only", "Anyone" };
	static const char *const pm_l[] = { "Anyone", "Anyone with voice",
	    "Moderators only", "Nobody" };
	static const char *const maxu[] = { "10", "20", "30", "50", "100",
	    "none", NULL };
	static const char *const pm_opts[] = { "anyone", "participants",
	    "moderators", "none", NULL };
	struct xml_node *rep, *q, *x;
	char who[JID_MAX + 1], num[32], title[JID_MAX + 64];
	struct jid b = req->from;

	b.resource[0] = '\0';
	jid_bare(&b, who, sizeof who);
	if (room_affil(r, who) != AFF_OWNER)
		return ERR_FORBIDDEN;
	if (xml_first_element(req->payload) != NULL)
		return ERR_BAD_REQUEST;
	rep = iq_result(req);
	q = xml_add(rep, "query", NS_MUC_OWNER);
	x = xml_add(q, "x", NS_XDATA);
	xml_set_attr(x, "type", "form");
	snprintf(title, sizeof title, "Configuration of room %s", r->jid);
	xml_add_text_child(x, "title", NULL, title);
	muc_form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_ROOMCONFIG);
	muc_form_field(x, "muc#roomconfig_roomname", "text-single",
	    "Room name", r->cfg.name ? r->cfg.name : "");
	muc_form_field(x, "muc#roomconfig_roomdesc", "text-single",
	    "Description", r->cfg.desc ? r->cfg.desc : "");
	bool_field(x, "muc#roomconfig_persistentroom", "Persistent (kept "
	    "when the last occupant leaves)", r->cfg.persistent);
	bool_field(x, "muc#roomconfig_publicroom", "Listed in the room "
	    "directory", r->cfg.public);
	bool_field(x, "muc#roomconfig_membersonly", "Members only",
	    r->cfg.membersonly);
	bool_field(x, "muc#roomconfig_moderatedroom", "Moderated (only "
	    "participants may speak)", r->cfg.moderated);
	bool_field(x, "muc#roomconfig_passwordprotectedroom", "Password "
	    "required to enter", r->cfg.password != NULL);
	muc_form_field(x, "muc#roomconfig_roomsecret", "text-private",
	    "Password", r->cfg.password ? r->cfg.password : "");
	list_field(x, "muc#roomconfig_whois", "Who may see real addresses",
	    r->cfg.whois_anyone ? "anyone" : "moderators", whois, whois_l);
	bool_field(x, "muc#roomconfig_changesubject", "Occupants with voice "
	    "may change the subject", r->cfg.changesubject);
	bool_field(x, "muc#roomconfig_allowinvites", "Members may invite "
	    "others", r->cfg.allowinvites);
	list_field(x, "muc#roomconfig_allowpm", "Who may send private "
	    "messages", pm_opts[r->cfg.allowpm], pm_opts, pm_l);
	snprintf(num, sizeof num, "%u", r->cfg.maxusers);
	list_field(x, "muc#roomconfig_maxusers", "Maximum number of "
	    "occupants", num, maxu, maxu);
	snprintf(num, sizeof num, "%u", r->cfg.maxhistory);
	muc_form_field(x, "muc#maxhistoryfetch", "text-single", "Messages "
	    "of history sent on entering", num);
	bool_field(x, "muc#roomconfig_enablearchiving", "Archive messages "
	    "(persistent rooms; XEP-0313)", r->cfg.archive);
	jids_field(x, r, "muc#roomconfig_roomowners", "Owners", AFF_OWNER);
	jids_field(x, r, "muc#roomconfig_roomadmins", "Admins", AFF_ADMIN);
	iq_reply(req, rep);
	return ERR_NONE;
}

/* A text field's value within bounds: 0, or -1 (over max, not UTF-8 or
 * with control characters). */
static int
text_ok(const char *v, size_t max)
{
	size_t n = strlen(v);

	if (n > max || !utf8_is_valid(v, n))
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
			return -1;
	return 0;
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL && *v != '\0' ? xstrdup(v) : NULL;
}

/* The bare JIDs of a jid-multi field into l (normalised, each once);
 * -1 for an invalid one. */
static int
jid_list(const struct xml_node *f, struct strlist *l)
{
	const struct xml_node *v;
	struct jid j;
	char norm[JID_MAX + 1];

	for (v = xml_child(f, "value", NS_XDATA); v != NULL;
	    v = xml_next(v, "value", NS_XDATA)) {
		const char *t = xml_text(v);
		size_t k;
		if (*t == '\0')
			continue;
		if (jid_parse(&j, t) == -1 || j.local[0] == '\0')
			return -1;
		j.resource[0] = '\0';
		jid_bare(&j, norm, sizeof norm);
		for (k = 0; k < l->n && strcmp(l->v[k], norm) != 0; k++)
			;
		if (k < l->n)
			continue;
		if (l->n >= 1000)
			return -1;
		l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
		l->v[l->n++] = xstrdup(norm);
	}
	return 0;
}

static void
strlist_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
in_list(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

struct submit {
	struct room_config	 cfg;
	struct strlist		 owners, admins;
	int			 have_owners, have_admins;
	int			 pw_flag;	/* -1 not given */
	const char		*secret;	/* NULL: not given */
};

/* Read a submitted form into s (starting from the room's options). */
static enum stanza_error
parse_submit(const struct room *r, const struct xml_node *x,
    struct submit *s, const char **text)
{
	const struct xml_node *f;
	const char *var, *v;
	int b, pm;
	unsigned long n;
	char *end;

	s->cfg = r->cfg;
	s->cfg.name = r->cfg.name ? xstrdup(r->cfg.name) : NULL;
	s->cfg.desc = r->cfg.desc ? xstrdup(r->cfg.desc) : NULL;
	s->cfg.password = r->cfg.password ? xstrdup(r->cfg.password) : NULL;
	s->pw_flag = -1;
	for (f = xml_child(x, "field", NS_XDATA); f != NULL;
	    f = xml_next(f, "field", NS_XDATA)) {
		if ((var = xml_attr(f, "var")) == NULL)
			continue;
		v = xml_child_text(f, "value", NS_XDATA);
		if (strcmp(var, "FORM_TYPE") == 0) {
			if (v == NULL || strcmp(v, NS_MUC_ROOMCONFIG) != 0) {
				*text = "FORM_TYPE must be " NS_MUC_ROOMCONFIG;
				return ERR_BAD_REQUEST;
			}
			continue;
		}
		if (strcmp(var, "muc#roomconfig_roomowners") == 0) {
			s->have_owners = 1;
			if (jid_list(f, &s->owners) == -1) {
				*text = "Invalid owner address";
				return ERR_NOT_ACCEPTABLE;
			}
			continue;
		}
		if (strcmp(var, "muc#roomconfig_roomadmins") == 0) {
			s->have_admins = 1;
			if (jid_list(f, &s->admins) == -1) {
				*text = "Invalid admin address";
				return ERR_NOT_ACCEPTABLE;
			}
			continue;
		}
		if (v == NULL)
			v = "";
		if (strcmp(var, "muc#roomconfig_roomname") == 0) {
			if (text_ok(v, MUC_NAME_MAX) == -1) {
				*text = "The room name is too long or not text";
				return ERR_NOT_ACCEPTABLE;
			}
			set_str(&s->cfg.name, v);
		} else if (strcmp(var, "muc#roomconfig_roomdesc") == 0) {
			if (text_ok(v, MUC_DESC_MAX) == -1) {
				*text = "The description is too long or not text";
				return ERR_NOT_ACCEPTABLE;
			}
			set_str(&s->cfg.desc, v);
		} else if (strcmp(var, "muc#roomconfig_roomsecret") == 0) {
			if (text_ok(v, MUC_PASSWORD_MAX) == -1) {
				*text = "The password is too long or not text";
				return ERR_NOT_ACCEPTABLE;
			}
			s->secret = v;
		} else if (strcmp(var, "muc#roomconfig_whois") == 0) {
			if (strcmp(v, "anyone") != 0 &&
			    strcmp(v, "moderators") != 0) {
				*text = "whois must be moderators or anyone";
				return ERR_NOT_ACCEPTABLE;
			}
			s->cfg.whois_anyone = strcmp(v, "anyone") == 0;
		} else if (strcmp(var, "muc#roomconfig_allowpm") == 0) {
			if ((pm = pm_parse(v)) == -1) {
				*text = "allowpm must be anyone, participants, "
				    "moderators or none";
				return ERR_NOT_ACCEPTABLE;
			}
			s->cfg.allowpm = pm;
		} else if (strcmp(var, "muc#roomconfig_maxusers") == 0) {
			if (strcmp(v, "none") == 0 || *v == '\0')
				n = muc_setting(S_MAX_OCCUPANTS);
			else if (*v < '0' || *v > '9' ||
			    (n = strtoul(v, &end, 10), *end != '\0') || n == 0 ||
			    n > muc_setting(S_MAX_OCCUPANTS)) {
				*text = "maxusers must be a number from 1 to "
				    "the service's max_occupants, or none";
				return ERR_NOT_ACCEPTABLE;
			}
			s->cfg.maxusers = (unsigned)n;
		} else if (strcmp(var, "muc#maxhistoryfetch") == 0) {
			if (*v < '0' || *v > '9' ||
			    (n = strtoul(v, &end, 10), *end != '\0')) {
				*text = "maxhistoryfetch must be a number";
				return ERR_NOT_ACCEPTABLE;
			}
			if (n > muc_setting(S_MAX_HISTORY))
				n = muc_setting(S_MAX_HISTORY);
			s->cfg.maxhistory = (unsigned)n;
		} else {
			int *dst = NULL;
			if (strcmp(var, "muc#roomconfig_persistentroom") == 0)
				dst = &s->cfg.persistent;
			else if (strcmp(var, "muc#roomconfig_publicroom") == 0)
				dst = &s->cfg.public;
			else if (strcmp(var, "muc#roomconfig_membersonly") == 0)
				dst = &s->cfg.membersonly;
			else if (strcmp(var, "muc#roomconfig_moderatedroom") == 0)
				dst = &s->cfg.moderated;
			else if (strcmp(var, "muc#roomconfig_changesubject") == 0)
				dst = &s->cfg.changesubject;
			else if (strcmp(var, "muc#roomconfig_allowinvites") == 0)
				dst = &s->cfg.allowinvites;
			else if (strcmp(var, "muc#roomconfig_enablearchiving") == 0 ||
			    strcmp(var, "muc#roomconfig_enablelogging") == 0)
				dst = &s->cfg.archive;
			else if (strcmp(var,
			    "muc#roomconfig_passwordprotectedroom") == 0)
				dst = &s->pw_flag;
			if (dst == NULL)
				continue;	/* XEP-0004: unknown fields */
			if (muc_parse_bool(v, &b) == -1) {
				*text = "A boolean field holds neither 0/1 nor "
				    "false/true";
				return ERR_NOT_ACCEPTABLE;
			}
			*dst = b;
		}
	}
	/* The password: a secret given turns protection on unless the flag
	 * says off; the flag on needs a secret (XEP-0045 10.1.3). */
	if (s->pw_flag == 0)
		set_str(&s->cfg.password, NULL);
	else if (s->secret != NULL && *s->secret != '\0')
		set_str(&s->cfg.password, s->secret);
	else if (s->pw_flag == 1 && s->secret != NULL)
		set_str(&s->cfg.password, NULL);
	if (s->pw_flag == 1 && s->cfg.password == NULL) {
		*text = "A password-protected room needs a password";
		return ERR_NOT_ACCEPTABLE;
	}
	if (s->have_owners && s->owners.n == 0) {
		*text = "A room needs at least one owner";
		return ERR_NOT_ACCEPTABLE;
	}
	return ERR_NONE;
}

/* Set the owner and admin lists as submitted; the JIDs whose affiliation
 * changed go to changed.  -1 if max_affiliations would be passed. */
static int
apply_lists(struct room *r, const struct submit *s, struct strlist *changed)
{
	struct affil *a, *an;
	const struct strlist *lists[2] = { &s->owners, &s->admins };
	const int have[2] = { s->have_owners, s->have_admins };
	const int affs[2] = { AFF_OWNER, AFF_ADMIN };
	const char *jid;

	size_t added = 0;

	/* First the bound, so that nothing changes when it would be passed. */
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; have[k] && i < lists[k]->n; i++)
			if (room_affil_entry(r, lists[k]->v[i]) == NULL &&
			    !(k == 1 && s->have_owners &&
			    in_list(&s->owners, lists[k]->v[i])))
				added++;
	if (r->naffils + added > muc_setting(S_MAX_AFFILIATIONS))
		return -1;
	for (int k = 0; k < 2; k++) {
		if (!have[k])
			continue;
		/* Dropped from the list: affiliation none. */
		for (a = r->affils; a != NULL; a = an) {
			an = a->next;
			if (a->aff != affs[k] || in_list(lists[k], a->jid) ||
			    (k == 1 && in_list(&s->owners, a->jid)))
				continue;
			if (!in_list(changed, a->jid)) {
				changed->v = xrealloc(changed->v,
				    (changed->n + 1) * sizeof *changed->v);
				changed->v[changed->n++] = xstrdup(a->jid);
			}
			room_set_affil(r, a->jid, AFF_NONE, NULL, NULL);
		}
		for (size_t i = 0; i < lists[k]->n; i++) {
			jid = lists[k]->v[i];
			/* Both lists: owner wins. */
			if (k == 1 && s->have_owners && in_list(&s->owners, jid))
				continue;
			a = room_affil_entry(r, jid);
			if (a != NULL && a->aff == affs[k])
				continue;
			if (room_set_affil(r, jid, affs[k], NULL, NULL) == -1)
				return -1;
			if (!in_list(changed, jid)) {
				changed->v = xrealloc(changed->v,
				    (changed->n + 1) * sizeof *changed->v);
				changed->v[changed->n++] = xstrdup(jid);
			}
		}
	}
	return 0;
}

/* Members-only now: those who are not members leave (status 322). */
static void
expel_nonmembers(struct room *r)
{
	struct occupant *o;
	int again = 1;

	while (again) {
		again = 0;
		for (o = r->occ; o != NULL; o = o->next)
			if (room_affil(r, o->bare) < AFF_MEMBER) {
				char bare[JID_MAX + 1];
				strlcpy_ok(bare, o->bare, sizeof bare);
				occ_remove_all(r, bare, 322, NULL, NULL);
				again = 1;
				break;
			}
	}
}

static enum stanza_error
destroy_request(struct room *r, struct iq_req *req, const struct xml_node *d)
{
	const char *alt = xml_attr(d, "jid");
	const char *reason = xml_child_text(d, "reason", NS_MUC_OWNER);
	const char *pw = xml_child_text(d, "password", NS_MUC_OWNER);
	struct jid j;
	char altbuf[JID_MAX + 1];

	if (alt != NULL) {
		if (jid_parse(&j, alt) == -1 ||
		    jid_full(&j, altbuf, sizeof altbuf) == -1)
			return ERR_JID_MALFORMED;
		alt = altbuf;
	}
	if (reason != NULL && strlen(reason) > MUC_REASON_MAX)
		return ERR_NOT_ACCEPTABLE;
	if (pw != NULL && strlen(pw) > MUC_PASSWORD_MAX)
		return ERR_NOT_ACCEPTABLE;
	room_destroy(r, alt, reason != NULL && *reason ? reason : NULL,
	    pw != NULL && *pw ? pw : NULL);
	return iq_ok(req);
}

enum stanza_error
room_owner_set(struct room *r, struct iq_req *req, const char *actor)
{
	const struct xml_node *c = xml_first_element(req->payload), *x;
	struct submit s;
	struct strlist changed = { NULL, 0 };
	const char *t, *text = NULL;
	enum stanza_error e;
	int was_persistent, was_archiving, was_anyone, was_members, was_locked;
	int codes[4];
	size_t ncodes = 0;

	if (room_affil(r, actor) != AFF_OWNER)
		return ERR_FORBIDDEN;
	if (c == NULL || xml_next(c, NULL, NULL) != NULL)
		return ERR_BAD_REQUEST;
	if (xml_is(c, "destroy", NS_MUC_OWNER))
		return destroy_request(r, req, c);
	if (!xml_is(c, "x", NS_XDATA))
		return ERR_BAD_REQUEST;
	x = c;
	t = xml_attr(x, "type");
	if (t != NULL && strcmp(t, "cancel") == 0) {
		/* 10.1.3: cancelling the first configuration destroys. */
		if (r->locked)
			room_destroy(r, NULL, NULL, NULL);
		return iq_ok(req);
	}
	if (t == NULL || strcmp(t, "submit") != 0)
		return ERR_BAD_REQUEST;
	memset(&s, 0, sizeof s);
	if ((e = parse_submit(r, x, &s, &text)) != ERR_NONE) {
		room_config_free(&s.cfg);
		strlist_clear(&s.owners);
		strlist_clear(&s.admins);
		iq_error(req, e, text);
		return ERR_NONE;
	}
	was_persistent = room_is_persistent(r);
	was_archiving = arch_enabled(r);
	was_anyone = r->cfg.whois_anyone;
	was_members = r->cfg.membersonly;
	was_locked = r->locked;
	if (apply_lists(r, &s, &changed) == -1) {
		room_config_free(&s.cfg);
		strlist_clear(&s.owners);
		strlist_clear(&s.admins);
		strlist_clear(&changed);
		iq_error(req, ERR_NOT_ACCEPTABLE, "Too many affiliations");
		return ERR_NONE;
	}
	room_config_free(&r->cfg);
	r->cfg = s.cfg;
	strlist_clear(&s.owners);
	strlist_clear(&s.admins);
	r->locked = 0;
	if (r->cfg.maxhistory < r->hist_n) {
		/* Keep only what the new bound allows. */
		hist_clear(r);
		r->hist_loaded = 0;
	}
	if (room_is_persistent(r))
		save_all(r);
	else if (was_persistent) {
		/* Temporary now: nothing of it stays on disk. */
		arch_remove(r);
		if (store_user_delete(r->service, r->local) == -1)
			log_warn("muc: removing the directory of room %s",
			    r->jid);
	}
	iq_ok(req);
	for (size_t i = 0; i < changed.n; i++)
		occ_affil_changed(r, changed.v[i], NULL, NULL);
	strlist_clear(&changed);
	if (r->cfg.membersonly && !was_members)
		expel_nonmembers(r);
	if (!was_locked) {
		codes[ncodes++] = 104;
		if (arch_enabled(r) != was_archiving)
			codes[ncodes++] = arch_enabled(r) ? 170 : 171;
		if (r->cfg.whois_anyone != was_anyone)
			codes[ncodes++] = r->cfg.whois_anyone ? 172 : 173;
		room_status_message(r, codes, ncodes);
	}
	/* Made temporary by an owner who is not inside: nothing keeps it. */
	if (r->nocc == 0 && !room_is_persistent(r))
		room_free(r);
	return ERR_NONE;
}

/* ---- disco ---- */

static void
feature(struct xml_node *q, const char *var)
{
	xml_set_attr(xml_add(q, "feature", NULL), "var", var);
}

enum stanza_error
room_disco_info(struct room *r, struct iq_req *req)
{
	const char *node = xml_attr(req->payload, "node");
	struct xml_node *rep, *q, *id, *x;
	char who[JID_MAX + 1], num[32];
	struct jid b = req->from;
	const char *nick;

	b.resource[0] = '\0';
	jid_bare(&b, who, sizeof who);
	if (xml_is(req->payload, "query", NS_DISCO_ITEMS)) {
		/* 6.5: occupants are private. */
		rep = iq_result(req);
		q = xml_add(rep, "query", NS_DISCO_ITEMS);
		if (node != NULL)
			xml_set_attr(q, "node", node);
		iq_reply(req, rep);
		return ERR_NONE;
	}
	if (node != NULL && strcmp(node, "http://jabber.org/protocol/muc#traffic") == 0)
		return ERR_FEATURE_NOT_IMPLEMENTED;
	if (node != NULL && strcmp(node, "x-roomuser-item") != 0)
		return ERR_ITEM_NOT_FOUND;
	rep = iq_result(req);
	q = xml_add(rep, "query", NS_DISCO_INFO);
	if (node != NULL) {
		/* 7.12: the reserved nickname, if there is one. */
		xml_set_attr(q, "node", node);
		if ((nick = room_reserved_nick(r, who)) != NULL) {
			id = xml_add(q, "identity", NULL);
			xml_set_attr(id, "category", "conference");
			xml_set_attr(id, "type", "text");
			xml_set_attr(id, "name", nick);
		}
		iq_reply(req, rep);
		return ERR_NONE;
	}
	id = xml_add(q, "identity", NULL);
	xml_set_attr(id, "category", "conference");
	xml_set_attr(id, "type", "text");
	xml_set_attr(id, "name", r->cfg.name ? r->cfg.name : r->local);
	feature(q, NS_DISCO_INFO);
	feature(q, NS_DISCO_ITEMS);
	feature(q, NS_MUC);
	feature(q, NS_MUC_STABLE_ID);
	feature(q, NS_MUC_SELFPING);
	feature(q, r->cfg.public ? "muc_public" : "muc_hidden");
	feature(q, r->cfg.persistent ? "muc_persistent" : "muc_temporary");
	feature(q, r->cfg.membersonly ? "muc_membersonly" : "muc_open");
	feature(q, r->cfg.moderated ? "muc_moderated" : "muc_unmoderated");
	feature(q, r->cfg.whois_anyone ? "muc_nonanonymous" :
	    "muc_semianonymous");
	feature(q, r->cfg.password ? "muc_passwordprotected" : "muc_unsecured");
	feature(q, NS_VCARD);
	if (arch_enabled(r)) {
		feature(q, NS_MAM);
		feature(q, NS_MAM_EXT);
		feature(q, NS_SID);
	}
	x = xml_add(q, "x", NS_XDATA);
	xml_set_attr(x, "type", "result");
	muc_form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_ROOMINFO);
	muc_form_field(x, "muc#roominfo_description", NULL, "Description",
	    r->cfg.desc ? r->cfg.desc : "");
	muc_form_field(x, "muc#roomconfig_roomname", NULL, "Name",
	    r->cfg.name ? r->cfg.name : "");
	muc_form_field(x, "muc#roominfo_subject", NULL, "Subject",
	    r->subject ? r->subject : "");
	muc_form_field(x, "muc#roominfo_subjectmod", "boolean",
	    "Occupants may change the subject", r->cfg.changesubject ? "1" : "0");
	snprintf(num, sizeof num, "%zu", r->nocc);
	muc_form_field(x, "muc#roominfo_occupants", NULL, "Occupants", num);
	snprintf(num, sizeof num, "%u", r->cfg.maxhistory);
	muc_form_field(x, "muc#maxhistoryfetch", NULL,
	    "Messages of history sent on entering", num);
	if (r->avatar[0] != '\0')
		muc_form_field(x, "muc#roominfo_avatarhash", "text-multi",
		    "Avatar hash", r->avatar);
	iq_reply(req, rep);
	return ERR_NONE;
}

/* ---- vCard and avatar ---- */

enum stanza_error
room_vcard(struct room *r, struct iq_req *req, const char *actor)
{
	struct xml_node *rep, *v = req->payload;
	struct buf b;
	char old[MUC_HASH_HEX + 1];
	int rc, codes[1] = { 104 };

	if (req->type == IQ_GET) {
		if (xml_first_element(v) != NULL)
			return ERR_BAD_REQUEST;
		rep = iq_result(req);
		if (r->vcard != NULL)
			xml_append_copy(rep, r->vcard);
		else
			xml_add(rep, "vCard", NS_VCARD);
		iq_reply(req, rep);
		return ERR_NONE;
	}
	if (room_affil(r, actor) != AFF_OWNER) {
		iq_error(req, ERR_FORBIDDEN, "Only owners may set the room's "
		    "vCard");
		return ERR_NONE;
	}
	buf_init(&b, (size_t)muc_setting(S_MAX_VCARD));
	rc = xml_serialize(v, &b, NULL);
	buf_free(&b);
	if (rc == -1) {
		iq_error(req, ERR_NOT_ACCEPTABLE, "The vCard is larger than "
		    "the service allows");
		return ERR_NONE;
	}
	strlcpy_ok(old, r->avatar, sizeof old);
	if (set_vcard(r, v) == -1) {
		iq_error(req, ERR_BAD_REQUEST, "PHOTO/BINVAL is not base64");
		return ERR_NONE;
	}
	if (save_vcard(r) == -1)
		return ERR_INTERNAL_SERVER_ERROR;
	iq_ok(req);
	/* XEP-0486 3.2: a configuration change; XEP-0153 style presence
	 * from the room for clients that look there. */
	room_status_message(r, codes, 1);
	if (strcmp(old, r->avatar) != 0)
		for (struct occupant *o = r->occ; o != NULL; o = o->next)
			for (struct osess *s = o->sess; s != NULL; s = s->next)
				room_send_avatar(r, s->jid);
	return ERR_NONE;
}
