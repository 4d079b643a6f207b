/*
 * muc_archive.c - what a room remembers of its discussion: the history
 * sent on entering (XEP-0045 7.2.13, 7.2.14) and, for persistent rooms
 * with archiving on, the archive queried with MAM on the room's JID
 * (XEP-0313 with #extended; XEP-0359 stanza-ids; RSM paging, XEP-0059).
 *
 * The history is a ring of the last muc#maxhistoryfetch messages in
 * memory; a room with an archive fills it from the archive the first
 * time it is needed, so history survives a restart.
 *
 * Archive storage, in the room's directory:
 *   archive/<16 hex digits>   one file per run of up to 64 messages (or
 *                             1 MiB), named by the sequence number of its
 *                             first message:
 *     <archive version='1'><m id= t= nick= jid= [s='1']><message/></m>...
 * Only the newest file changes: it is written whole (atomically) for
 * each new message, from a copy of its records kept in memory.  When the
 * archive holds more than max_archive_messages, its oldest files go.
 *
 * Ids: 16 hex digits of the sequence number, then 8 random hex digits
 * (XEP-0313 ids are opaque; the random part keeps them unguessable).
 * The index (sequence, time, sender) of every archived message is read
 * once, when the archive is first used, and kept in memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muc.h"

#define NS_STORE	"urn:xmppd:muc"
#define ARCH_DIR	"archive"
#define ARCH_HEAD	"<archive xmlns='" NS_STORE "' version='1'>\n"
#define ARCH_TAIL	"</archive>\n"
#define CHUNK_RECORDS	64
#define CHUNK_BYTES	(1024 * 1024)
#define RECORD_MAX	(512 * 1024)	/* a bigger message is not archived */
#define FILE_MAX	(CHUNK_BYTES + RECORD_MAX + 4096)
#define ID_LEN		24
#define HIST_MSG_MAX	(64 * 1024)	/* bytes of a message kept as history */

static const struct xml_limits file_limits = { FILE_MAX, 64, 64, 256 };

struct arec {
	uint64_t	 seq;
	uint32_t	 rnd;
	int64_t		 t;
	uint64_t	 chunk;		/* first sequence number of its file */
	char		*nick;
	char		*bare;
	int		 subject;
};

struct archive {
	struct arec	*v;
	size_t		 n, cap;
	uint64_t	 next_seq;
	uint64_t	 tail_chunk;	/* the newest file */
	size_t		 tail_n;
	struct buf	 tail;		/* its <m/> records, serialized */
	int		 broken;	/* could not be read: nothing written */
};

/* ---- history ---- */

void
hist_clear(struct room *r)
{
	for (size_t i = 0; i < r->hist_n; i++) {
		struct hist *h = &r->hist[(r->hist_head + i) % r->hist_cap];
		xml_arena_free(h->msg->arena);
	}
	r->hist_n = r->hist_head = 0;
}

static void
hist_push(struct room *r, const struct xml_node *msg, int64_t t)
{
	size_t cap = r->cfg.maxhistory;
	struct hist *h;

	if (cap == 0)
		return;
	if (r->hist_cap != cap) {
		hist_clear(r);
		free(r->hist);
		r->hist = xcalloc(cap, sizeof *r->hist);
		r->hist_cap = cap;
	}
	if (r->hist_n == cap) {
		xml_arena_free(r->hist[r->hist_head].msg->arena);
		r->hist_head = (r->hist_head + 1) % cap;
		r->hist_n--;
	}
	h = &r->hist[(r->hist_head + r->hist_n) % cap];
	h->msg = xml_copy(xml_arena_new(), msg);
	xml_set_attr(h->msg, "to", NULL);
	h->t = t;
	r->hist_n++;
}

static void hist_fill(struct room *);

void
hist_add(struct room *r, const struct xml_node *msg, int64_t t)
{
	struct buf b;
	int big;

	/* Every room keeps a few of these for every newcomer: the large
	 * ones are delivered live and archived, not kept in memory. */
	buf_init(&b, HIST_MSG_MAX);
	big = xml_serialize(msg, &b, NS_CLIENT) == -1;
	buf_free(&b);
	if (big)
		return;
	if (!r->hist_loaded) {
		r->hist_loaded = 1;
		if (arch_enabled(r)) {
			/* The archive has this message already. */
			hist_fill(r);
			return;
		}
	}
	hist_push(r, msg, t);
}

static int
attr_num(const struct xml_node *n, const char *name, long long max,
    long long *out)
{
	const char *v = xml_attr(n, name);
	char *end;
	long long x;

	if (v == NULL)
		return 0;
	if (*v < '0' || *v > '9')
		return -1;
	x = strtoll(v, &end, 10);
	if (*end != '\0' || x < 0)
		return -1;
	*out = x > max ? max : x;
	return 1;
}

/* A history message as it is sent: with its delay and 'to'. */
static struct xml_node *
hist_stanza(const struct room *r, const struct hist *h, const char *to)
{
	struct xml_node *m = xml_copy(xml_arena_new(), h->msg), *d;
	char stamp[32];

	d = xml_add(m, "delay", NS_DELAY);
	xml_set_attr(d, "from", r->jid);
	format_xep82(h->t, stamp, sizeof stamp);
	xml_set_attr(d, "stamp", stamp);
	xml_set_attr(m, "to", to);
	return m;
}

void
hist_send(struct room *r, const char *to, const struct xml_node *hreq)
{
	long long maxstanzas = r->cfg.maxhistory, maxchars = -1, secs;
	int64_t since = INT64_MIN, t;
	size_t first, n, i;
	struct buf b;
	struct xml_node *m;
	int rc;

	if (!r->hist_loaded) {
		r->hist_loaded = 1;
		if (arch_enabled(r))
			hist_fill(r);
	}
	if (hreq != NULL) {
		/* 7.2.14: bad values are ignored, not refused. */
		if (attr_num(hreq, "maxstanzas", r->cfg.maxhistory,
		    &maxstanzas) == -1)
			maxstanzas = r->cfg.maxhistory;
		if (attr_num(hreq, "maxchars", INT32_MAX, &maxchars) == -1)
			maxchars = -1;
		if (attr_num(hreq, "seconds", INT32_MAX, &secs) == 1)
			since = wall_time() - secs;
		if (xml_attr(hreq, "since") != NULL &&
		    muc_parse_time(xml_attr(hreq, "since"), &t) == 0 &&
		    t > since)
			since = t;
	}
	/* From the newest back: as many whole stanzas as every limit
	 * allows, maxchars counting them as they are sent. */
	n = 0;
	buf_init(&b, RECORD_MAX + 4096);
	for (i = r->hist_n; i > 0 && (long long)n < maxstanzas; i--) {
		const struct hist *h = &r->hist[(r->hist_head + i - 1) %
		    r->hist_cap];
		if (h->t < since)
			break;
		if (maxchars >= 0) {
			buf_reset(&b);
			m = hist_stanza(r, h, to);
			rc = xml_serialize(m, &b, NS_CLIENT);
			xml_arena_free(m->arena);
			if (rc == -1 || (long long)buf_used(&b) > maxchars)
				break;
			maxchars -= (long long)buf_used(&b);
		}
		n++;
	}
	buf_free(&b);
	first = r->hist_n - n;
	for (i = first; i < r->hist_n; i++) {
		m = hist_stanza(r, &r->hist[(r->hist_head + i) % r->hist_cap], to);
		route(m);
		xml_arena_free(m->arena);
	}
}

/* ---- the archive ---- */

int
arch_enabled(const struct room *r)
{
	return r->cfg.archive && room_is_persistent(r);
}

static void
arec_free(struct arec *a)
{
	free(a->nick);
	free(a->bare);
}

void
arch_free(struct archive *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++)
		arec_free(&a->v[i]);
	free(a->v);
	buf_free(&a->tail);
	free(a);
}

/* An archive index of a room nobody is in, read again when needed. */
void
arch_idle(struct room *r)
{
	if (r->nocc == 0 && r->arch != NULL) {
		arch_free(r->arch);
		r->arch = NULL;
	}
}

void
arch_remove(struct room *r)
{
	arch_free(r->arch);
	r->arch = NULL;
}

static void
id_format(uint64_t seq, uint32_t rnd, char *out, size_t outlen)
{
	snprintf(out, outlen, "%016" PRIx64 "%08" PRIx32, seq, rnd);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
id_parse(const char *s, uint64_t *seq, uint32_t *rnd)
{
	uint64_t q = 0;
	uint32_t x = 0;
	int v;

	if (s == NULL || strlen(s) != ID_LEN)
		return -1;
	for (int i = 0; i < 16; i++) {
		if ((v = hexval(s[i])) == -1)
			return -1;
		q = q << 4 | (uint64_t)v;
	}
	for (int i = 16; i < ID_LEN; i++) {
		if ((v = hexval(s[i])) == -1)
			return -1;
		x = x << 4 | (uint32_t)v;
	}
	*seq = q;
	*rnd = x;
	return 0;
}

static void
chunk_name(uint64_t chunk, char *out, size_t outlen)
{
	snprintf(out, outlen, ARCH_DIR "/%016" PRIx64, chunk);
}

static void
arec_push(struct archive *a, const struct arec *rec)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		if (cap > SIZE_MAX / sizeof *a->v)
			fatalx("muc: archive index too large");
		a->v = xrealloc(a->v, cap * sizeof *a->v);
		a->cap = cap;
	}
	a->v[a->n++] = *rec;
}

/* The records of a parsed archive file, in order, into a. */
static size_t
index_file(struct archive *a, const struct xml_node *doc, uint64_t chunk)
{
	const struct xml_node *m;
	struct arec rec;
	long long t;
	size_t n = 0;
	const char *nick, *bare, *s;

	for (m = xml_child(doc, "m", NS_STORE); m != NULL;
	    m = xml_next(m, "m", NS_STORE)) {
		memset(&rec, 0, sizeof rec);
		if (id_parse(xml_attr(m, "id"), &rec.seq, &rec.rnd) == -1 ||
		    attr_num(m, "t", INT64_MAX, &t) != 1 ||
		    (nick = xml_attr(m, "nick")) == NULL ||
		    (bare = xml_attr(m, "jid")) == NULL ||
		    xml_child(m, "message", NS_CLIENT) == NULL ||
		    (a->n > 0 && rec.seq <= a->v[a->n - 1].seq))
			continue;	/* damaged, or out of order */
		rec.t = t;
		rec.chunk = chunk;
		rec.nick = xstrdup(nick);
		rec.bare = xstrdup(bare);
		rec.subject = (s = xml_attr(m, "s")) != NULL &&
		    strcmp(s, "1") == 0;
		arec_push(a, &rec);
		n++;
	}
	return n;
}

static struct xml_node *
read_chunk(const struct room *r, uint64_t chunk)
{
	char name[64], *text = NULL, err[128];
	struct xml_node *d;
	const char *v;
	ssize_t n;

	chunk_name(chunk, name, sizeof name);
	n = store_read(r->service, r->local, name, FILE_MAX, &text);
	if (n < 0) {
		log_warn("muc: reading %s of room %s", name, r->jid);
		return NULL;
	}
	d = xml_parse_document(text, (size_t)n, &file_limits, err, sizeof err);
	free(text);
	if (d == NULL || !xml_is(d, "archive", NS_STORE)) {
		log_warnx("muc: %s of room %s is damaged: %s", name, r->jid,
		    d ? "not an archive" : err);
		if (d != NULL)
			xml_arena_free(d->arena);
		return NULL;
	}
	if ((v = xml_attr(d, "version")) == NULL || strcmp(v, "1") != 0) {
		log_warnx("muc: %s of room %s has format version %s; this "
		    "xmppd reads version 1", name, r->jid, v ? v : "(none)");
		xml_arena_free(d->arena);
		return NULL;
	}
	return d;
}

struct names {
	uint64_t	*v;
	size_t		 n;
	int		 bad;
};

static int
collect_name(const char *name, void *arg)
{
	struct names *ns = arg;
	uint64_t c = 0;
	int v;

	if (strlen(name) != 16) {
		ns->bad = 1;
		return 0;
	}
	for (int i = 0; i < 16; i++) {
		if ((v = hexval(name[i])) == -1) {
			ns->bad = 1;
			return 0;
		}
		c = c << 4 | (uint64_t)v;
	}
	ns->v = xrealloc(ns->v, (ns->n + 1) * sizeof *ns->v);
	ns->v[ns->n++] = c;
	return 0;
}

/* Serialize one record for the newest file. */
static int
record_add(struct buf *b, const struct xml_node *m)
{
	if (xml_serialize(m, b, NULL) == -1 || buf_addstr(b, "\n") == -1)
		return -1;
	return 0;
}

/* The archive of r, read on first use; NULL if it cannot be read. */
static struct archive *
arch_load(struct room *r)
{
	struct archive *a;
	struct names ns = { NULL, 0, 0 };
	struct xml_node *d;
	ssize_t k;

	if (r->arch != NULL)
		return r->arch->broken ? NULL : r->arch;
	a = r->arch = xcalloc(1, sizeof *a);
	buf_init(&a->tail, FILE_MAX);
	a->next_seq = 1;
	k = store_list(r->service, r->local, ARCH_DIR, collect_name, &ns);
	if (k == -1 && errno != ENOENT) {
		log_warn("muc: listing the archive of room %s", r->jid);
		a->broken = 1;
		free(ns.v);
		return NULL;
	}
	if (ns.bad)
		log_warnx("muc: the archive of room %s has files this xmppd "
		    "did not make; they are ignored", r->jid);
	for (size_t i = 0; i < ns.n; i++) {
		size_t before = a->n;
		if ((d = read_chunk(r, ns.v[i])) == NULL) {
			if (i + 1 == ns.n) {
				/* The newest file would be overwritten. */
				a->broken = 1;
				free(ns.v);
				return NULL;
			}
			continue;
		}
		index_file(a, d, ns.v[i]);
		if (i + 1 == ns.n) {
			const struct xml_node *m;
			a->tail_chunk = ns.v[i];
			a->tail_n = a->n - before;
			for (m = xml_child(d, "m", NS_STORE); m != NULL;
			    m = xml_next(m, "m", NS_STORE))
				record_add(&a->tail, m);
		}
		xml_arena_free(d->arena);
	}
	free(ns.v);
	if (a->n > 0)
		a->next_seq = a->v[a->n - 1].seq + 1;
	return a;
}

/* Drop the oldest files while the rest still hold max_archive_messages. */
static void
arch_trim(struct room *r, struct archive *a)
{
	size_t max = (size_t)muc_setting(S_MAX_ARCHIVE), k;
	uint64_t c;
	char name[64];

	while (a->n > max) {
		c = a->v[0].chunk;
		if (c == a->tail_chunk)
			return;
		for (k = 0; k < a->n && a->v[k].chunk == c; k++)
			;
		if (a->n - k < max)
			return;
		chunk_name(c, name, sizeof name);
		if (store_remove(r->service, r->local, name) == -1) {
			log_warn("muc: removing %s of room %s", name, r->jid);
			return;
		}
		for (size_t i = 0; i < k; i++)
			arec_free(&a->v[i]);
		memmove(a->v, a->v + k, (a->n - k) * sizeof *a->v);
		a->n -= k;
	}
}

int
arch_append(struct room *r, const struct xml_node *msg, const char *nick,
    const char *bare, int subject, char *id, size_t idlen)
{
	struct archive *a = arch_load(r);
	struct xml_node *m;
	struct buf rec, file;
	struct arec ar;
	char t[32], name[64];
	size_t old_len;
	int rc;

	if (a == NULL)
		return -1;
	memset(&ar, 0, sizeof ar);
	ar.seq = a->next_seq;
	random_bytes(&ar.rnd, sizeof ar.rnd);
	ar.t = wall_time();
	id_format(ar.seq, ar.rnd, id, idlen);
	m = xml_new(xml_arena_new(), "m", NS_STORE);
	xml_set_attr(m, "id", id);
	snprintf(t, sizeof t, "%" PRId64, ar.t);
	xml_set_attr(m, "t", t);
	xml_set_attr(m, "nick", nick);
	xml_set_attr(m, "jid", bare);
	if (subject)
		xml_set_attr(m, "s", "1");
	xml_append_copy(m, msg);
	xml_set_attr(m->last, "to", NULL);
	muc_strip_ns(m->last);
	buf_init(&rec, RECORD_MAX);
	rc = record_add(&rec, m);
	xml_arena_free(m->arena);
	if (rc == -1) {
		buf_free(&rec);
		log_info("muc: a message in room %s is too large to archive",
		    r->jid);
		return -1;
	}
	if (a->tail_n == 0 || a->tail_n >= CHUNK_RECORDS ||
	    buf_used(&a->tail) + buf_used(&rec) > CHUNK_BYTES) {
		a->tail_chunk = ar.seq;
		a->tail_n = 0;
		buf_reset(&a->tail);
	}
	old_len = buf_used(&a->tail);
	buf_init(&file, FILE_MAX + 64);
	if (buf_add(&a->tail, buf_head(&rec), buf_used(&rec)) == -1 ||
	    buf_addstr(&file, ARCH_HEAD) == -1 ||
	    buf_add(&file, buf_head(&a->tail), buf_used(&a->tail)) == -1 ||
	    buf_addstr(&file, ARCH_TAIL) == -1)
		rc = -1;
	chunk_name(a->tail_chunk, name, sizeof name);
	if (rc == 0 && (rc = store_write(r->service, r->local, name,
	    buf_head(&file), buf_used(&file))) == -1)
		log_warn("muc: writing %s of room %s", name, r->jid);
	buf_free(&file);
	buf_free(&rec);
	if (rc == -1) {
		/* Not on disk: as if it never came. */
		a->tail.len = a->tail.off + old_len;
		if (a->tail_n == 0)
			buf_reset(&a->tail);
		return -1;
	}
	a->next_seq++;
	a->tail_n++;
	ar.chunk = a->tail_chunk;
	ar.nick = xstrdup(nick);
	ar.bare = xstrdup(bare);
	ar.subject = subject;
	arec_push(a, &ar);
	arch_trim(r, a);
	return 0;
}

/* The stored message of record i: from a file kept loaded in *doc. */
static const struct xml_node *
record_message(const struct room *r, const struct archive *a, size_t i,
    struct xml_node **doc, uint64_t *doc_chunk)
{
	const struct xml_node *m;
	char id[ID_LEN + 1];

	if (*doc == NULL || *doc_chunk != a->v[i].chunk) {
		if (*doc != NULL)
			xml_arena_free((*doc)->arena);
		*doc = read_chunk(r, a->v[i].chunk);
		*doc_chunk = a->v[i].chunk;
		if (*doc == NULL)
			return NULL;
	}
	id_format(a->v[i].seq, a->v[i].rnd, id, sizeof id);
	for (m = xml_child(*doc, "m", NS_STORE); m != NULL;
	    m = xml_next(m, "m", NS_STORE))
		if (strcmp(xml_attr(m, "id"), id) == 0)
			return xml_child(m, "message", NS_CLIENT);
	return NULL;
}

static void
hist_fill(struct room *r)
{
	struct archive *a = arch_load(r);
	struct xml_node *doc = NULL, *c, *sid;
	uint64_t dc = 0;
	size_t want = r->cfg.maxhistory, i, first, n = 0;
	const struct xml_node *msg;
	char id[ID_LEN + 1];

	hist_clear(r);
	if (a == NULL || want == 0)
		return;
	for (i = a->n; i > 0 && n < want; i--)
		if (!a->v[i - 1].subject)
			n++;
	first = i;
	for (i = first; i < a->n; i++) {
		if (a->v[i].subject ||
		    (msg = record_message(r, a, i, &doc, &dc)) == NULL)
			continue;
		{
			struct buf b;
			int big;
			buf_init(&b, HIST_MSG_MAX);
			big = xml_serialize(msg, &b, NS_CLIENT) == -1;
			buf_free(&b);
			if (big)
				continue;
		}
		c = xml_copy(xml_arena_new(), msg);
		id_format(a->v[i].seq, a->v[i].rnd, id, sizeof id);
		sid = xml_add(c, "stanza-id", NS_SID);
		xml_set_attr(sid, "id", id);
		xml_set_attr(sid, "by", r->jid);
		hist_push(r, c, a->v[i].t);
		xml_arena_free(c->arena);
	}
	if (doc != NULL)
		xml_arena_free(doc->arena);
}

/* ---- MAM queries ---- */

/* The position of id in the archive, or -1. */
static ssize_t
find_id(const struct archive *a, const char *id)
{
	uint64_t seq;
	uint32_t rnd;
	size_t lo = 0, hi = a->n;

	if (id_parse(id, &seq, &rnd) == -1)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->v[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < a->n && a->v[lo].seq == seq && a->v[lo].rnd == rnd)
		return (ssize_t)lo;
	return -1;
}

/* May bare read the archive?  XEP-0313 7.1.2: those who may enter. */
static int
may_read(const struct room *r, const char *bare)
{
	int aff = room_affil(r, bare);

	if (aff == AFF_OUTCAST)
		return 0;
	if (aff >= AFF_MEMBER)
		return 1;
	if (r->cfg.membersonly)
		return 0;
	if (r->cfg.password != NULL) {
		/* The password is not in the query: its occupants only. */
		for (const struct occupant *o = r->occ; o != NULL; o = o->next)
			if (strcmp(o->bare, bare) == 0)
				return 1;
		return 0;
	}
	return 1;
}

/* May bare see who sent what? */
static int
sees_jids(const struct room *r, const char *bare)
{
	if (r->cfg.whois_anyone || room_affil(r, bare) >= AFF_ADMIN)
		return 1;
	for (const struct occupant *o = r->occ; o != NULL; o = o->next)
		if (strcmp(o->bare, bare) == 0 && o->role == ROLE_MODERATOR)
			return 1;
	return 0;
}

static enum stanza_error
query_form(struct iq_req *req)
{
	struct xml_node *rep, *q, *x, *f, *v;

	rep = iq_result(req);
	q = xml_add(rep, "query", NS_MAM);
	x = xml_add(q, "x", NS_XDATA);
	xml_set_attr(x, "type", "form");
	muc_form_field(x, "FORM_TYPE", "hidden", NULL, NS_MAM);
	muc_form_field(x, "with", "jid-single", NULL, NULL);
	muc_form_field(x, "start", "text-single", NULL, NULL);
	muc_form_field(x, "end", "text-single", NULL, NULL);
	muc_form_field(x, "before-id", "text-single", NULL, NULL);
	muc_form_field(x, "after-id", "text-single", NULL, NULL);
	f = muc_form_field(x, "ids", "list-multi", NULL, NULL);
	v = xml_add(f, "validate", "http://jabber.org/protocol/xdata-validate");
	xml_set_attr(v, "datatype", "xs:string");
	xml_add(v, "open", NULL);
	iq_reply(req, rep);
	return ERR_NONE;
}

static enum stanza_error
metadata(struct room *r, struct iq_req *req)
{
	struct archive *a = arch_load(r);
	struct xml_node *rep, *md, *e;
	char id[ID_LEN + 1], stamp[32];

	if (a == NULL)
		return ERR_INTERNAL_SERVER_ERROR;
	rep = iq_result(req);
	md = xml_add(rep, "metadata", NS_MAM);
	if (a->n > 0) {
		const struct arec *ends[2] = { &a->v[0], &a->v[a->n - 1] };
		for (int k = 0; k < 2; k++) {
			e = xml_add(md, k == 0 ? "start" : "end", NULL);
			id_format(ends[k]->seq, ends[k]->rnd, id, sizeof id);
			xml_set_attr(e, "id", id);
			format_xep82(ends[k]->t, stamp, sizeof stamp);
			xml_set_attr(e, "timestamp", stamp);
		}
	}
	iq_reply(req, rep);
	return ERR_NONE;
}

struct query {
	int64_t		 start, end;
	char		 with_nick[JID_PART_MAX + 1];	/* "" none */
	char		 with_bare[JID_MAX + 1];	/* "" none */
	ssize_t		 after_id, before_id;	/* -1: none */
	ssize_t		*ids;
	size_t		 nids;
	int		 has_ids;
};

static int
matches(const struct archive *a, size_t i, const struct query *q)
{
	const struct arec *rec = &a->v[i];

	if (rec->t < q->start || rec->t > q->end)
		return 0;
	if (q->after_id >= 0 && i <= (size_t)q->after_id)
		return 0;
	if (q->before_id >= 0 && i >= (size_t)q->before_id)
		return 0;
	if (q->with_nick[0] != '\0' && strcmp(rec->nick, q->with_nick) != 0)
		return 0;
	if (q->with_bare[0] != '\0' && strcmp(rec->bare, q->with_bare) != 0)
		return 0;
	if (q->has_ids) {
		size_t k;
		for (k = 0; k < q->nids && q->ids[k] != (ssize_t)i; k++)
			;
		if (k == q->nids)
			return 0;
	}
	return 1;
}

/* Read the query's form into q; ERR_NONE or the error to answer. */
static enum stanza_error
parse_form(struct room *r, const struct archive *a, const struct xml_node *x,
    const char *bare, struct query *q, const char **text)
{
	const struct xml_node *f, *v;
	const char *var, *val;
	struct jid j;
	int64_t t;

	for (f = xml_child(x, "field", NS_XDATA); f != NULL;
	    f = xml_next(f, "field", NS_XDATA)) {
		if ((var = xml_attr(f, "var")) == NULL)
			continue;
		val = xml_child_text(f, "value", NS_XDATA);
		if (strcmp(var, "FORM_TYPE") == 0) {
			if (val == NULL || strcmp(val, NS_MAM) != 0) {
				*text = "FORM_TYPE must be " NS_MAM;
				return ERR_BAD_REQUEST;
			}
		} else if (strcmp(var, "start") == 0 || strcmp(var, "end") == 0) {
			if (val == NULL || *val == '\0')
				continue;
			if (muc_parse_time(val, &t) == -1) {
				*text = "start and end must be XEP-0082 times";
				return ERR_BAD_REQUEST;
			}
			if (strcmp(var, "start") == 0)
				q->start = t;
			else
				q->end = t;
		} else if (strcmp(var, "with") == 0) {
			if (val == NULL || *val == '\0')
				continue;
			if (jid_parse(&j, val) == -1)
				return ERR_JID_MALFORMED;
			if (j.resource[0] != '\0') {
				char rb[JID_MAX + 1];
				struct jid jb = j;
				jb.resource[0] = '\0';
				jid_bare(&jb, rb, sizeof rb);
				if (strcmp(rb, r->jid) == 0) {
					strlcpy_ok(q->with_nick, j.resource,
					    sizeof q->with_nick);
					continue;
				}
			}
			/* XEP-0313 4.1.1: by real JID only for those who
			 * may know who said what. */
			if (!sees_jids(r, bare)) {
				*text = "This room does not show who you may "
				    "search for";
				return ERR_FORBIDDEN;
			}
			j.resource[0] = '\0';
			jid_bare(&j, q->with_bare, sizeof q->with_bare);
		} else if (strcmp(var, "after-id") == 0 ||
		    strcmp(var, "before-id") == 0) {
			ssize_t p;
			if (val == NULL || *val == '\0')
				continue;
			if ((p = find_id(a, val)) == -1) {
				*text = "No message with that id";
				return ERR_ITEM_NOT_FOUND;
			}
			if (var[0] == 'a')
				q->after_id = p;
			else
				q->before_id = p;
		} else if (strcmp(var, "ids") == 0) {
			q->has_ids = 1;
			for (v = xml_child(f, "value", NS_XDATA); v != NULL;
			    v = xml_next(v, "value", NS_XDATA)) {
				ssize_t p = find_id(a, xml_text(v));
				if (p == -1) {
					*text = "No message with that id";
					return ERR_ITEM_NOT_FOUND;
				}
				if (q->nids >= 1000)
					return ERR_POLICY_VIOLATION;
				q->ids = xrealloc(q->ids, (q->nids + 1) *
				    sizeof *q->ids);
				q->ids[q->nids++] = p;
			}
		} else {
			/* 4.1.6: a field we do not know. */
			*text = "Unknown query field";
			return ERR_FEATURE_NOT_IMPLEMENTED;
		}
	}
	return ERR_NONE;
}

static void
send_result(struct room *r, struct iq_req *req, const struct archive *a,
    size_t i, const struct xml_node *msg, const char *queryid, int jids)
{
	struct xml_node *m, *res, *fw, *d, *c, *x, *it;
	char id[ID_LEN + 1], stamp[32], mid[32];
	unsigned char rnd[8];

	id_format(a->v[i].seq, a->v[i].rnd, id, sizeof id);
	m = xml_new(xml_arena_new(), "message", NS_CLIENT);
	xml_set_attr(m, "from", r->jid);
	random_bytes(rnd, sizeof rnd);
	for (size_t k = 0; k < sizeof rnd; k++)
		snprintf(mid + 2 * k, 3, "%02x", rnd[k]);
	xml_set_attr(m, "id", mid);
	res = xml_add(m, "result", NS_MAM);
	if (queryid != NULL)
		xml_set_attr(res, "queryid", queryid);
	xml_set_attr(res, "id", id);
	fw = xml_add(res, "forwarded", NS_FORWARD);
	d = xml_add(fw, "delay", NS_DELAY);
	format_xep82(a->v[i].t, stamp, sizeof stamp);
	xml_set_attr(d, "stamp", stamp);
	c = xml_append_copy(fw, msg);
	xml_set_attr(c, "to", NULL);
	if (jids) {
		/* 7.1.2: the sender's real JID for those who may see it. */
		x = xml_add(c, "x", NS_MUC_USER);
		it = xml_add(x, "item", NULL);
		xml_set_attr(it, "jid", a->v[i].bare);
	}
	xml_set_attr(m, "to", req->from_str);
	route(m);
	xml_arena_free(m->arena);
}

static enum stanza_error
run_query(struct room *r, struct iq_req *req, const char *bare)
{
	struct archive *a = arch_load(r);
	const struct xml_node *x, *set;
	const char *text = NULL, *queryid = xml_attr(req->payload, "queryid");
	struct query q;
	size_t *match = NULL, nm = 0, from, to, max;
	enum stanza_error e;
	int backward = 0, flip, complete, jids = sees_jids(r, bare);
	struct xml_node *rep, *fin, *rs, *doc = NULL;
	uint64_t dc = 0;
	char id[ID_LEN + 1], num[32];
	long long v;

	if (a == NULL)
		return ERR_INTERNAL_SERVER_ERROR;
	if (queryid != NULL && strlen(queryid) > 256)
		return ERR_BAD_REQUEST;
	if (xml_attr(req->payload, "node") != NULL)
		return ERR_ITEM_NOT_FOUND;
	memset(&q, 0, sizeof q);
	q.start = INT64_MIN;
	q.end = INT64_MAX;
	q.after_id = q.before_id = -1;
	if ((x = xml_child(req->payload, "x", NS_XDATA)) != NULL &&
	    (e = parse_form(r, a, x, bare, &q, &text)) != ERR_NONE) {
		free(q.ids);
		if (text == NULL)
			return e;
		iq_error(req, e, text);
		return ERR_NONE;
	}
	match = xcalloc(a->n + 1, sizeof *match);
	for (size_t i = 0; i < a->n; i++)
		if (matches(a, i, &q))
			match[nm++] = i;
	free(q.ids);
	/* RSM (XEP-0059): max, after, before, index. */
	max = (size_t)muc_setting(S_MAX_PAGE);
	from = 0;
	to = nm;
	set = xml_child(req->payload, "set", NS_RSM);
	if (set != NULL) {
		const struct xml_node *mx = xml_child(set, "max", NS_RSM);
		const struct xml_node *af = xml_child(set, "after", NS_RSM);
		const struct xml_node *bf = xml_child(set, "before", NS_RSM);
		const struct xml_node *ix = xml_child(set, "index", NS_RSM);
		char *end;
		if (mx != NULL) {
			const char *t = xml_text(mx);
			if (*t < '0' || *t > '9' ||
			    (v = strtoll(t, &end, 10), *end != '\0') || v < 0) {
				free(match);
				return ERR_BAD_REQUEST;
			}
			if ((unsigned long long)v < max)
				max = (size_t)v;
		}
		if (af != NULL) {
			ssize_t p = find_id(a, xml_text(af));
			if (p == -1) {
				free(match);
				return ERR_ITEM_NOT_FOUND;
			}
			while (from < nm && match[from] <= (size_t)p)
				from++;
		}
		if (bf != NULL) {
			backward = 1;
			if (*xml_text(bf) != '\0') {
				ssize_t p = find_id(a, xml_text(bf));
				if (p == -1) {
					free(match);
					return ERR_ITEM_NOT_FOUND;
				}
				while (to > from && match[to - 1] >= (size_t)p)
					to--;
			}
		}
		if (ix != NULL && af == NULL && bf == NULL) {
			const char *t = xml_text(ix);
			if (*t < '0' || *t > '9' ||
			    (v = strtoll(t, &end, 10), *end != '\0')) {
				free(match);
				return ERR_BAD_REQUEST;
			}
			from = (size_t)v < nm ? (size_t)v : nm;
		}
	}
	if (backward) {
		if (to - from > max)
			from = to - max;
		complete = from == 0;
	} else {
		if (to - from > max)
			to = from + max;
		complete = to == nm;
	}
	flip = xml_child(req->payload, "flip-page", NS_MAM) != NULL;
	for (size_t k = 0; k < to - from; k++) {
		size_t i = match[flip ? to - 1 - k : from + k];
		const struct xml_node *msg = record_message(r, a, i, &doc, &dc);
		if (msg != NULL)
			send_result(r, req, a, i, msg, queryid, jids);
	}
	if (doc != NULL)
		xml_arena_free(doc->arena);
	rep = iq_result(req);
	fin = xml_add(rep, "fin", NS_MAM);
	if (complete)
		xml_set_attr(fin, "complete", "true");
	rs = xml_add(fin, "set", NS_RSM);
	if (to > from) {
		struct xml_node *fe;
		id_format(a->v[match[from]].seq, a->v[match[from]].rnd, id,
		    sizeof id);
		fe = xml_add_text_child(rs, "first", NULL, id);
		snprintf(num, sizeof num, "%zu", from);
		xml_set_attr(fe, "index", num);
		id_format(a->v[match[to - 1]].seq, a->v[match[to - 1]].rnd, id,
		    sizeof id);
		xml_add_text_child(rs, "last", NULL, id);
	}
	snprintf(num, sizeof num, "%zu", nm);
	xml_add_text_child(rs, "count", NULL, num);
	free(match);
	iq_reply(req, rep);
	return ERR_NONE;
}

enum stanza_error
arch_query(struct room *r, struct iq_req *req, const char *bare)
{
	if (!arch_enabled(r))
		return ERR_SERVICE_UNAVAILABLE;
	if (!may_read(r, bare))
		return ERR_FORBIDDEN;
	if (xml_is(req->payload, "query", NS_MAM))
		return req->type == IQ_GET ? query_form(req) :
		    run_query(r, req, bare);
	if (xml_is(req->payload, "metadata", NS_MAM) && req->type == IQ_GET)
		return metadata(r, req);
	return ERR_BAD_REQUEST;
}
