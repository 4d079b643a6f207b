/*
 * mam.c - Message Archive Management (XEP-0313, urn:xmpp:mam:2 with the
 * #extended features), archive ids handed out as XEP-0359 stanza-ids,
 * paging with Result Set Management (XEP-0059) and the preferences of
 * XEP-0441.
 *
 * What is archived, once per account: chat and normal messages with a
 * body (or a XEP-0334 <store/> hint), in both directions.  Outgoing ones
 * as the client sends them (outbound hook), incoming ones before they
 * are delivered or stored offline (inbound hook); those then carry
 * <stanza-id by='user@host'/> with the archive id, and any stanza-id the
 * sender put there in our name is removed first (XEP-0359 3.3).  Not
 * archived: error, headline and groupchat messages, no-store and
 * no-permanent-store hints, chat states alone, and what the user's
 * preferences exclude.  A message to one's own account is archived once,
 * as it comes in; so is one that stream management routes again after a
 * lost session (it keeps its id).
 *
 * Storage, in the account's directory:
 *   archive/m.ID             one message ("loose"), made with store_create()
 *                            before the message is routed: once it is on
 *                            its way, it is on disk whole.
 *   archive/p.FIRST.LAST.N   a pack: N messages, ids FIRST..LAST, made
 *                            from 256 loose files (or 1 MiB of them).
 *   mam-prefs                the preferences (an XML document).
 * An archive file is the line "xmppd-mam version='1'" and then one line
 * per message: ID TAB DIR TAB WITH TAB XML, where DIR is "i" or "o", WITH
 * the normalised JID of the other side, and XML the message as it came,
 * serialized, with line feeds written as &#10; so one line stays one
 * record.
 *
 * Ids: 13 base32 digits of the archive time in microseconds, then 4
 * random digits (XEP-0313 wants them unpredictable).  Within an archive
 * the time part only grows, so id order is arrival order and the time
 * part alone names a message; the random part must still match.
 *
 * Why this layout: store_write() replaces whole files, so appending to a
 * day file would cost O(day) per message; a file per message costs two
 * fsyncs and a 4 KiB block each, so they are packed by 256.  A month of
 * 10,000 messages is then ~40 packs, a query counts from file names
 * alone and reads only the few packs its page shows.  Packing writes the
 * pack (atomically, synced) before it removes the loose files, and
 * trimming writes the smaller pack before it removes the old one: a
 * crash leaves duplicates, never gaps.  Readers drop duplicate ids, and
 * the next maintenance merges what overlaps.
 *
 * Retention: expires_after (default 1w, as Prosody), max_messages
 * (default 100000; beyond it the oldest go, with 1% slack so that a full
 * archive does not rewrite a pack per message).  Maintenance (expiry,
 * packing, trimming) runs once a day per account, at its first archive
 * write or query of the day, and for every account in a daily sweep
 * that the tick hook spreads over time.
 */
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "module.h"
#include "roster.h"

#define NS_MAM		"urn:xmpp:mam:2"
#define NS_MAM_EXT	"urn:xmpp:mam:2#extended"
#define NS_MAM_GCF	"urn:xmpp:mam:2#groupchat-field"
#define NS_SID		"urn:xmpp:sid:0"
#define NS_RSM		"http://jabber.org/protocol/rsm"
#define NS_FORWARD	"urn:xmpp:forward:0"
#define NS_DELAY	"urn:xmpp:delay"
#define NS_XDATA	"jabber:x:data"
#define NS_XVALIDATE	"http://jabber.org/protocol/xdata-validate"
#define NS_HINTS	"urn:xmpp:hints"

#define MODNAME		"mam"
#define ARCHIVE_DIR	"archive"
#define PREFS_FILE	"mam-prefs"
#define FORMAT_LINE	"xmppd-mam version='1'\n"
#define FORMAT_PREFIX	"xmppd-mam version="
#define PREFS_VERSION	"1"

#define ID_TIME_DIGITS	13
#define ID_RAND_DIGITS	4
#define ID_LEN		(ID_TIME_DIGITS + ID_RAND_DIGITS)
#define UNIT_NAME_MAX	64

#define PACK_RECORDS	256
#define PACK_BYTES	(1024 * 1024)
/* One record at most (a 16 MiB stanza limit could make more; such a
 * message is delivered but not archived, with a log line). */
#define RECORD_MAX	(8 * 1024 * 1024)
#define FILE_MAX	(PACK_BYTES + RECORD_MAX + 64)
#define PREFS_FILE_MAX	(1024 * 1024)
#define CACHE_MAX	512
#define QUERYID_MAX	256
/* Bytes a result message adds around the stored one. */
#define RESULT_OVERHEAD	512
#define SWEEP_SLICE_MS	20
#define DAY_MS		((int64_t)86400 * 1000)
#define US_PER_SEC	((int64_t)1000000)
#define DAY_US		((int64_t)86400 * US_PER_SEC)

/* Stored messages were checked against the limits when they came in;
 * they are read back with the widest limits the configuration allows,
 * so a lowered limit never makes an archive unreadable. */
static const struct xml_limits record_limits = { RECORD_MAX, 256, 512, 1024 };
static const struct xml_limits prefs_limits = { PREFS_FILE_MAX, 8, 16, 256 };

enum { POLICY_ALWAYS, POLICY_NEVER, POLICY_ROSTER };
static const char *const policy_names[] = { "always", "never", "roster" };

/* ---- settings ---- */

static const struct {
	const char	*key;
	unsigned long	 min, max, def;
} nsettings[] = {
	{ "max_messages",	1, 100000000, 100000 },
	{ "max_page_size",	1, 1000, 250 },
	{ "max_prefs_jids",	0, 10000, 1000 },
};
enum { S_MAX_MESSAGES, S_MAX_PAGE, S_MAX_PREFS_JIDS };
#define NSETTINGS	(sizeof nsettings / sizeof nsettings[0])

#define EXPIRY_DEFAULT	(7 * 86400)		/* Prosody's "1w" */
#define EXPIRY_MAX	((int64_t)100 * 365 * 86400)

/*
 * expires_after: "never", a number of seconds, or a number with a unit
 * as Prosody's archive_expires_after takes them: h, d, w, m (30 days),
 * y (365 days).  *secs is 0 for never.
 */
static int
parse_expiry(const char *v, int64_t *secs)
{
	unsigned long n;
	char num[32];
	size_t len;
	int64_t unit = 1;

	if (v == NULL)
		return -1;
	if (strcmp(v, "never") == 0) {
		*secs = 0;
		return 0;
	}
	len = strlen(v);
	if (len == 0 || len >= sizeof num)
		return -1;
	memcpy(num, v, len + 1);
	switch (num[len - 1]) {
	case 's': unit = 1; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	case 'm': unit = 30 * 86400; break;
	case 'y': unit = 365 * 86400; break;
	default: unit = 0; break;
	}
	if (unit != 0)
		num[len - 1] = '\0';
	else
		unit = 1;
	if (parse_ulong(num, 1, (unsigned long)(EXPIRY_MAX / unit), &n) == -1)
		return -1;
	*secs = (int64_t)n * unit;
	return 0;
}

static int
parse_policy(const char *v)
{
	for (int i = 0; i < 3; i++)
		if (v != NULL && strcmp(v, policy_names[i]) == 0)
			return i;
	return -1;
}

static unsigned long
setting(int which)
{
	const char *v = config_module_opt(server_config(), MODNAME,
	    nsettings[which].key);
	unsigned long n;

	if (v == NULL || parse_ulong(v, nsettings[which].min,
	    nsettings[which].max, &n) == -1)
		return nsettings[which].def;
	return n;
}

/* Seconds messages are kept; 0 for ever. */
static int64_t
setting_expiry(void)
{
	int64_t s;

	if (parse_expiry(config_module_opt(server_config(), MODNAME,
	    "expires_after"), &s) == -1)
		return EXPIRY_DEFAULT;
	return s;
}

static int
setting_policy(void)
{
	int p = parse_policy(config_module_opt(server_config(), MODNAME,
	    "default_policy"));

	return p == -1 ? POLICY_ALWAYS : p;
}

static int
mam_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	unsigned long n;
	int64_t s;

	for (size_t i = 0; i < NSETTINGS; i++) {
		if (strcmp(key, nsettings[i].key) != 0)
			continue;
		if (parse_ulong(value, nsettings[i].min, nsettings[i].max,
		    &n) == 0)
			return 0;
		snprintf(err, errlen, "[mam] %s must be a whole number from "
		    "%lu to %lu, not '%.64s'", key, nsettings[i].min,
		    nsettings[i].max, value);
		return -1;
	}
	if (strcmp(key, "expires_after") == 0) {
		if (parse_expiry(value, &s) == 0)
			return 0;
		snprintf(err, errlen, "[mam] expires_after must be 'never', "
		    "a number of seconds, or a number followed by h, d, w, m "
		    "(30 days) or y (365 days), at most 100 years; not "
		    "'%.64s'", value);
		return -1;
	}
	if (strcmp(key, "default_policy") == 0) {
		if (parse_policy(value) != -1)
			return 0;
		snprintf(err, errlen, "[mam] default_policy must be always, "
		    "never or roster, not '%.64s'", value);
		return -1;
	}
	snprintf(err, errlen, "unknown key '%.64s' in [mam] (known: "
	    "expires_after, max_messages, max_page_size, default_policy, "
	    "max_prefs_jids)", key);
	return -1;
}

/* ---- time ---- */

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

/* Archive times before this are gone (INT64_MIN: nothing expires). */
static int64_t
cutoff_us(void)
{
	int64_t e = setting_expiry();

	return e == 0 ? INT64_MIN : now_us() - e * US_PER_SEC;
}

static void
stamp_of(int64_t t, char *out, size_t outlen)
{
	int64_t s = t / US_PER_SEC;

	if (t < 0 && t % US_PER_SEC != 0)
		s--;
	format_xep82(s, out, outlen);
}

/* ---- ids ---- */

struct mid {
	int64_t		t;	/* archive time, microseconds */
	uint32_t	r;	/* the random part */
};

/* Crockford's base32 alphabet, in ASCII order so that ids sort. */
static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";

static void
id_format(const struct mid *id, char *out)
{
	uint64_t t = (uint64_t)id->t;
	uint32_t r = id->r;
	int i;

	for (i = ID_TIME_DIGITS - 1; i >= 0; i--, t >>= 5)
		out[i] = b32[t & 31];
	for (i = ID_LEN - 1; i >= ID_TIME_DIGITS; i--, r >>= 5)
		out[i] = b32[r & 31];
	out[ID_LEN] = '\0';
}

static int
b32_value(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b32, c)) == NULL)
		return -1;
	return (int)(p - b32);
}

static int
id_parse(const char *s, size_t len, struct mid *id)
{
	uint64_t t = 0;
	uint32_t r = 0;
	int i, v;

	if (len != ID_LEN)
		return -1;
	for (i = 0; i < ID_TIME_DIGITS; i++) {
		/* 13 digits hold 65 bits; a time fits in 63. */
		if ((v = b32_value(s[i])) == -1 || (i == 0 && v > 7))
			return -1;
		t = t << 5 | (uint64_t)v;
	}
	for (; i < ID_LEN; i++) {
		if ((v = b32_value(s[i])) == -1)
			return -1;
		r = r << 5 | (uint32_t)v;
	}
	id->t = (int64_t)t;
	id->r = r;
	return 0;
}

static int
id_parse_str(const char *s, struct mid *id)
{
	return s == NULL ? -1 : id_parse(s, strlen(s), id);
}

/* ---- records ---- */

struct rec {
	struct mid	 id;
	char		 dir;		/* 'i' incoming, 'o' outgoing */
	const char	*with;
	const char	*xml;
	size_t		 xml_len;
};

struct recv {
	struct rec	*v;
	size_t		 n, cap;
};

static void
recv_add(struct recv *rv, const struct rec *r)
{
	if (rv->n == rv->cap) {
		size_t cap = rv->cap ? rv->cap * 2 : 64;

		if (cap > SIZE_MAX / sizeof *rv->v)
			fatalx("mam: too many records");
		rv->v = xrealloc(rv->v, cap * sizeof *rv->v);
		rv->cap = cap;
	}
	rv->v[rv->n++] = *r;
}

static size_t
rec_line_len(const struct rec *r)
{
	return ID_LEN + 3 + strlen(r->with) + 1 + r->xml_len + 1;
}

static int
rec_write(struct buf *b, const struct rec *r)
{
	char id[ID_LEN + 1];

	id_format(&r->id, id);
	if (buf_printf(b, "%s\t%c\t%s\t", id, r->dir, r->with) == -1 ||
	    buf_add(b, r->xml, r->xml_len) == -1 || buf_addstr(b, "\n") == -1)
		return -1;
	return 0;
}

/*
 * Split a file (NUL-terminated, ours to change) into records appended to
 * rv; they point into buf.  Returns the number of damaged lines, or -1 if
 * this is not an archive file of a version this xmppd reads.
 */
static int
parse_file(char *buf, size_t len, struct recv *rv, const char *what)
{
	char *p = buf, *end = buf + len, *nl, *f[3];
	struct rec r;
	int bad = 0;

	if (len < sizeof FORMAT_LINE - 1 ||
	    memcmp(buf, FORMAT_LINE, sizeof FORMAT_LINE - 1) != 0) {
		if (len >= sizeof FORMAT_PREFIX - 1 &&
		    memcmp(buf, FORMAT_PREFIX, sizeof FORMAT_PREFIX - 1) == 0)
			log_warnx("mam: %s has another format version; this "
			    "xmppd reads version 1: not read", what);
		else
			log_warnx("mam: %s is not an archive file: not read",
			    what);
		return -1;
	}
	for (p += sizeof FORMAT_LINE - 1; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			bad++;	/* a torn last line: never made by us */
			break;
		}
		*nl = '\0';
		f[0] = strchr(p, '\t');
		f[1] = f[0] ? strchr(f[0] + 1, '\t') : NULL;
		f[2] = f[1] ? strchr(f[1] + 1, '\t') : NULL;
		if (f[2] == NULL || id_parse(p, (size_t)(f[0] - p), &r.id) == -1 ||
		    f[1] - f[0] != 2 || (f[0][1] != 'i' && f[0][1] != 'o') ||
		    f[2] == f[1] + 1 || f[2][1] == '\0') {
			bad++;
			continue;
		}
		*f[0] = *f[1] = *f[2] = '\0';
		r.dir = f[0][1];
		r.with = f[1] + 1;
		r.xml = f[2] + 1;
		r.xml_len = (size_t)(nl - r.xml);
		recv_add(rv, &r);
	}
	if (bad > 0)
		log_warnx("mam: %s: %d damaged line(s) skipped", what, bad);
	return bad;
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->id.t < y->id.t ? -1 : x->id.t > y->id.t;
}

/* Sort by id and drop repeated ids (what a crash between writing a pack
 * and removing its sources leaves). */
static void
recv_sort_unique(struct recv *rv)
{
	size_t i, n = 0;

	if (rv->n > 1)
		qsort(rv->v, rv->n, sizeof *rv->v, rec_cmp);
	for (i = 0; i < rv->n; i++)
		if (n == 0 || rv->v[i].id.t != rv->v[n - 1].id.t)
			rv->v[n++] = rv->v[i];
	rv->n = n;
}

/* ---- the files of an archive ---- */

struct unit {
	struct mid	 first, last;
	size_t		 n;		/* records, as the name says */
	int		 pack;
	char		 name[UNIT_NAME_MAX];
};

struct scan {
	struct unit	*u;
	size_t		 n, cap;
	size_t		 loose, total;
};

static void
scan_free(struct scan *sc)
{
	free(sc->u);
	memset(sc, 0, sizeof *sc);
}

/* "m.ID" or "p.FIRST.LAST.N" into u; -1 for anything else. */
static int
unit_parse(const char *name, struct unit *u)
{
	size_t len = strlen(name);
	unsigned long n;

	if (len >= sizeof u->name)
		return -1;
	memset(u, 0, sizeof *u);
	if (len == 2 + ID_LEN && strncmp(name, "m.", 2) == 0) {
		if (id_parse(name + 2, ID_LEN, &u->first) == -1)
			return -1;
		u->last = u->first;
		u->n = 1;
	} else if (len >= 2 + 2 * ID_LEN + 3 && strncmp(name, "p.", 2) == 0) {
		const char *p = name + 2;
		if (id_parse(p, ID_LEN, &u->first) == -1 || p[ID_LEN] != '.' ||
		    id_parse(p + ID_LEN + 1, ID_LEN, &u->last) == -1 ||
		    p[2 * ID_LEN + 1] != '.' ||
		    parse_ulong(p + 2 * ID_LEN + 2, 1, 100000000, &n) == -1 ||
		    u->last.t < u->first.t)
			return -1;
		u->n = n;
		u->pack = 1;
	} else
		return -1;
	memcpy(u->name, name, len + 1);
	return 0;
}

static int
scan_one(const char *name, void *arg)
{
	struct scan *sc = arg;
	struct unit u;

	if (unit_parse(name, &u) == -1) {
		log_debug("mam: stray file archive/%s ignored", name);
		return 0;
	}
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		if (cap > SIZE_MAX / sizeof *sc->u)
			fatalx("mam: too many archive files");
		sc->u = xrealloc(sc->u, cap * sizeof *sc->u);
		sc->cap = cap;
	}
	sc->u[sc->n++] = u;
	if (!u.pack)
		sc->loose++;
	sc->total += u.n;
	return 0;
}

static int
unit_cmp(const void *a, const void *b)
{
	const struct unit *x = a, *y = b;

	if (x->first.t != y->first.t)
		return x->first.t < y->first.t ? -1 : 1;
	if (x->last.t != y->last.t)
		return x->last.t < y->last.t ? -1 : 1;
	return x->pack - y->pack;
}

static int
scan(const char *host, const char *local, struct scan *sc)
{
	memset(sc, 0, sizeof *sc);
	if (store_list(host, local, ARCHIVE_DIR, scan_one, sc) == -1) {
		if (errno != ENOENT)
			log_warn("mam: listing the archive of %s@%s", local, host);
		scan_free(sc);
		return -1;
	}
	if (sc->n > 1)
		qsort(sc->u, sc->n, sizeof *sc->u, unit_cmp);
	return 0;
}

/* Files read for one query or one maintenance step: records point into
 * them. */
struct loaded {
	char		**bufs;
	size_t		 nbufs;
	struct recv	 r;
};

static void
loaded_free(struct loaded *ld)
{
	for (size_t i = 0; i < ld->nbufs; i++)
		free(ld->bufs[i]);
	free(ld->bufs);
	free(ld->r.v);
	memset(ld, 0, sizeof *ld);
}

/* Read one archive file into ld; 0, or -1 (logged).  A file gone
 * meanwhile is empty. */
static int
load_unit(const char *host, const char *local, const struct unit *u,
    struct loaded *ld)
{
	char path[UNIT_NAME_MAX + sizeof ARCHIVE_DIR + 1];
	char what[UNIT_NAME_MAX + 128];
	char *text = NULL;
	ssize_t n;

	snprintf(path, sizeof path, ARCHIVE_DIR "/%s", u->name);
	n = store_read(host, local, path, FILE_MAX, &text);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		log_warn("mam: reading %s of %s@%s", path, local, host);
		return -1;
	}
	ld->bufs = xrealloc(ld->bufs, (ld->nbufs + 1) * sizeof *ld->bufs);
	ld->bufs[ld->nbufs++] = text;
	snprintf(what, sizeof what, "%s of %s@%s", path, local, host);
	if (parse_file(text, (size_t)n, &ld->r, what) == -1)
		return -1;
	return 0;
}

/* Remove an archive file.  Not synced: a file that comes back after a
 * crash holds records that are in a pack as well, or expired ones. */
static void
unit_remove(const char *host, const char *local, const char *name)
{
	char rel[UNIT_NAME_MAX + sizeof ARCHIVE_DIR + 1], path[PATH_MAX];

	snprintf(rel, sizeof rel, ARCHIVE_DIR "/%s", name);
	if (store_path(host, local, rel, path, sizeof path) == -1 ||
	    (unlink(path) == -1 && errno != ENOENT))
		log_warn("mam: removing %s of %s@%s", rel, local, host);
}

/* Write recs[0..n) as one pack; its name goes to name. */
static int
write_pack(const char *host, const char *local, const struct rec *recs,
    size_t n, char *name, size_t namelen)
{
	char first[ID_LEN + 1], last[ID_LEN + 1], rel[UNIT_NAME_MAX + 16];
	struct buf b;
	int rc = 0;

	id_format(&recs[0].id, first);
	id_format(&recs[n - 1].id, last);
	snprintf(name, namelen, "p.%s.%s.%zu", first, last, n);
	snprintf(rel, sizeof rel, ARCHIVE_DIR "/%s", name);
	buf_init(&b, FILE_MAX);
	rc = buf_addstr(&b, FORMAT_LINE);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = rec_write(&b, &recs[i]);
	if (rc == 0)
		rc = store_write(host, local, rel, buf_head(&b), buf_used(&b));
	if (rc == -1)
		log_warn("mam: writing %s of %s@%s", rel, local, host);
	buf_free(&b);
	return rc;
}

/* How many records of recs[from..n) go into the next pack. */
static size_t
pack_take(const struct rec *recs, size_t from, size_t n)
{
	size_t k = 0, bytes = 0, len;

	while (from + k < n && k < PACK_RECORDS) {
		len = rec_line_len(&recs[from + k]);
		if (k > 0 && bytes + len > PACK_BYTES)
			break;
		bytes += len;
		k++;
	}
	return k;
}

struct namelist {
	char	(*v)[UNIT_NAME_MAX];
	size_t	 n;
};

static int
namelist_has(const struct namelist *nl, const char *name)
{
	for (size_t i = 0; i < nl->n; i++)
		if (strcmp(nl->v[i], name) == 0)
			return 1;
	return 0;
}

/* Write recs as packs; their names go to nl.  0 / -1. */
static int
write_packs(const char *host, const char *local, const struct rec *recs,
    size_t n, struct namelist *nl)
{
	size_t i, k;

	for (i = 0; i < n; i += k) {
		k = pack_take(recs, i, n);
		nl->v = xrealloc(nl->v, (nl->n + 1) * sizeof *nl->v);
		if (write_pack(host, local, recs + i, k, nl->v[nl->n],
		    sizeof nl->v[nl->n]) == -1)
			return -1;
		nl->n++;
	}
	return 0;
}

/* ---- what we know of each archive ---- */

struct arch {
	char		*host, *local;
	size_t		 total, loose;	/* records, as file names say */
	int64_t		 last_t;	/* newest id time ever seen */
	int64_t		 day;		/* UTC day, last maintenance */
	struct arch	*prev, *next;
};

static struct arch	*arch_head, *arch_tail;
static size_t		 narch;

static void
arch_unlink(struct arch *a)
{
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		arch_head = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	else
		arch_tail = a->prev;
	a->prev = a->next = NULL;
}

static void
arch_push_front(struct arch *a)
{
	a->next = arch_head;
	a->prev = NULL;
	if (arch_head != NULL)
		arch_head->prev = a;
	arch_head = a;
	if (arch_tail == NULL)
		arch_tail = a;
}

static void
arch_free(struct arch *a)
{
	free(a->host);
	free(a->local);
	free(a);
}

static struct arch *
arch_find(const char *host, const char *local)
{
	struct arch *a;

	for (a = arch_head; a != NULL; a = a->next)
		if (strcmp(a->local, local) == 0 && strcmp(a->host, host) == 0)
			return a;
	return NULL;
}

static void
arch_forget(const char *host, const char *local)
{
	struct arch *a = arch_find(host, local);

	if (a != NULL) {
		arch_unlink(a);
		arch_free(a);
		narch--;
	}
}

static void
arch_count(struct arch *a, const struct scan *sc)
{
	a->total = sc->total;
	a->loose = sc->loose;
	for (size_t i = 0; i < sc->n; i++)
		if (sc->u[i].last.t > a->last_t)
			a->last_t = sc->u[i].last.t;
}

/* Delete what expired: whole files whose newest record is too old.  A
 * file that is partly expired stays (queries skip its old records) until
 * its last record expires too. */
static void
maint_expire(struct arch *a, const struct scan *sc, int64_t cutoff)
{
	size_t n = 0;

	for (size_t i = 0; i < sc->n; i++)
		if (sc->u[i].last.t < cutoff) {
			unit_remove(a->host, a->local, sc->u[i].name);
			n++;
		}
	if (n > 0)
		log_debug("mam: %zu expired archive file(s) of %s@%s removed",
		    n, a->local, a->host);
}

/* Files whose id ranges overlap (left by a crash, or by a clock that
 * went back) are merged into fresh packs. */
static void
maint_merge(struct arch *a, const struct scan *sc, int64_t cutoff)
{
	size_t i = 0, j, k;
	int64_t last;

	while (i < sc->n) {
		last = sc->u[i].last.t;
		for (j = i + 1; j < sc->n && sc->u[j].first.t <= last; j++)
			if (sc->u[j].last.t > last)
				last = sc->u[j].last.t;
		if (j - i > 1) {
			struct loaded ld = { NULL, 0, { NULL, 0, 0 } };
			struct namelist nl = { NULL, 0 };
			int rc = 0;

			for (k = i; k < j && rc == 0; k++)
				rc = load_unit(a->host, a->local, &sc->u[k], &ld);
			if (rc == 0) {
				recv_sort_unique(&ld.r);
				/* Expired records need not be carried over. */
				for (k = 0; k < ld.r.n &&
				    ld.r.v[k].id.t < cutoff; k++)
					;
				rc = write_packs(a->host, a->local, ld.r.v + k,
				    ld.r.n - k, &nl);
			}
			if (rc == 0) {
				for (k = i; k < j; k++)
					if (!namelist_has(&nl, sc->u[k].name))
						unit_remove(a->host, a->local,
						    sc->u[k].name);
				log_info("mam: %zu overlapping archive files of "
				    "%s@%s merged", j - i, a->local, a->host);
			}
			free(nl.v);
			loaded_free(&ld);
		}
		i = j;
	}
}

/*
 * Pack the loose files u[i..j) (a run between packs).  Of the newest run
 * (trailing) only full packs are made: the rest stays loose until more
 * messages come.  Sources go once the pack that holds them is on disk.
 */
static void
pack_run(struct arch *a, const struct scan *sc, size_t i, size_t j,
    int trailing)
{
	struct loaded ld = { NULL, 0, { NULL, 0, 0 } };
	char name[UNIT_NAME_MAX];
	size_t k, from, take;
	int64_t packed = INT64_MIN;

	for (k = i; k < j; k++)
		if (load_unit(a->host, a->local, &sc->u[k], &ld) == -1)
			goto out;
	recv_sort_unique(&ld.r);
	for (from = 0; from < ld.r.n; from += take) {
		take = pack_take(ld.r.v, from, ld.r.n);
		if (trailing && take < PACK_RECORDS && from + take == ld.r.n)
			break;
		if (write_pack(a->host, a->local, ld.r.v + from, take, name,
		    sizeof name) == -1)
			break;
		packed = ld.r.v[from + take - 1].id.t;
	}
	for (k = i; k < j && sc->u[k].first.t <= packed; k++)
		unit_remove(a->host, a->local, sc->u[k].name);
out:
	loaded_free(&ld);
}

static void
maint_pack(struct arch *a, const struct scan *sc)
{
	size_t i = 0, j;

	while (i < sc->n) {
		if (sc->u[i].pack) {
			i++;
			continue;
		}
		for (j = i; j < sc->n && !sc->u[j].pack; j++)
			;
		if (j < sc->n || j - i >= PACK_RECORDS)
			pack_run(a, sc, i, j, j == sc->n);
		i = j;
	}
}

/* Over max_messages: the oldest go, down to 1% below it. */
static void
maint_trim(struct arch *a, const struct scan *sc)
{
	size_t max = setting(S_MAX_MESSAGES), excess;

	if (sc->total <= max)
		return;
	excess = sc->total - (max - max / 100);
	log_info("mam: archive of %s@%s has %zu messages, more than %zu: "
	    "the oldest %zu removed", a->local, a->host, sc->total, max, excess);
	for (size_t i = 0; i < sc->n && excess > 0; i++) {
		const struct unit *u = &sc->u[i];
		struct loaded ld = { NULL, 0, { NULL, 0, 0 } };
		struct namelist nl = { NULL, 0 };

		if (u->n <= excess) {
			unit_remove(a->host, a->local, u->name);
			excess -= u->n;
			continue;
		}
		/* The newer part of the oldest pack is written first. */
		if (load_unit(a->host, a->local, u, &ld) == 0) {
			recv_sort_unique(&ld.r);
			if (excess >= ld.r.n || (write_packs(a->host, a->local,
			    ld.r.v + excess, ld.r.n - excess, &nl) == 0 &&
			    !namelist_has(&nl, u->name)))
				unit_remove(a->host, a->local, u->name);
		}
		free(nl.v);
		loaded_free(&ld);
		excess = 0;
	}
}

static void
maintain(struct arch *a)
{
	int64_t cutoff = cutoff_us();
	struct scan sc;

	a->day = now_us() / DAY_US;
	/* Each step works on a fresh listing of what the one before left. */
	for (int step = 0; step < 5; step++) {
		if (scan(a->host, a->local, &sc) == -1)
			return;
		if (sc.n == 0)
			step = 4;
		switch (step) {
		case 0:
			maint_expire(a, &sc, cutoff);
			break;
		case 1:
			maint_merge(a, &sc, cutoff);
			break;
		case 2:
			maint_pack(a, &sc);
			break;
		case 3:
			maint_trim(a, &sc);
			break;
		default:
			arch_count(a, &sc);
			break;
		}
		scan_free(&sc);
	}
}

/* The record of an archive, maintained if today's maintenance is due. */
static struct arch *
arch_get(const char *host, const char *local)
{
	struct arch *a = arch_find(host, local);

	if (a != NULL)
		arch_unlink(a);
	else {
		if (narch >= CACHE_MAX) {
			struct arch *old = arch_tail;
			arch_unlink(old);
			arch_free(old);
			narch--;
		}
		a = xcalloc(1, sizeof *a);
		a->host = xstrdup(host);
		a->local = xstrdup(local);
		a->day = -1;
		narch++;
	}
	arch_push_front(a);
	if (a->day != now_us() / DAY_US)
		maintain(a);
	return a;
}

/* ---- preferences (XEP-0441) ---- */

struct prefs {
	int		 def;
	struct strlist	 always, never;
};

static void
strlist_add(struct strlist *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = xstrdup(s);
}

static int
strlist_has(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
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

static void
prefs_free(struct prefs *p)
{
	strlist_clear(&p->always);
	strlist_clear(&p->never);
}

/*
 * Read the <always/> and <never/> lists of a prefs element into p, JIDs
 * normalised.  A request (check set) also loses repeats and is held to
 * max_prefs_jids.  ERR_NONE, or the error for a request with *text.
 */
static enum stanza_error
prefs_lists(const struct xml_node *el, struct prefs *p, const char **text,
    int check)
{
	static const char *const names[] = { "always", "never" };
	struct strlist *lists[] = { &p->always, &p->never };
	size_t max = setting(S_MAX_PREFS_JIDS);
	char norm[JID_MAX + 1];

	for (int i = 0; i < 2; i++) {
		struct xml_node *l, *j;

		for (l = xml_child(el, names[i], NS_MAM); l != NULL;
		    l = xml_next(l, names[i], NS_MAM))
			for (j = xml_child(l, "jid", NS_MAM); j != NULL;
			    j = xml_next(j, "jid", NS_MAM)) {
				if (jid_normalize(xml_text(j), norm,
				    sizeof norm) == -1) {
					*text = "Invalid JID in the preferences";
					return ERR_JID_MALFORMED;
				}
				if (check && strlist_has(lists[i], norm))
					continue;
				if (check && p->always.n + p->never.n >= max) {
					*text = "Too many JIDs in the preferences";
					return ERR_POLICY_VIOLATION;
				}
				strlist_add(lists[i], norm);
			}
	}
	return ERR_NONE;
}

/*
 * The stored preferences: 0 with *root (NULL when there are none), or -1
 * when they cannot be read or are of a format we do not know (logged).
 */
static int
prefs_read(const char *host, const char *local, struct xml_node **root)
{
	char *text = NULL, err[128];
	const char *v;
	ssize_t n;

	*root = NULL;
	n = store_read(host, local, PREFS_FILE, PREFS_FILE_MAX, &text);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		log_warn("mam: preferences of %s@%s", local, host);
		return -1;
	}
	*root = xml_parse_document(text, (size_t)n, &prefs_limits, err,
	    sizeof err);
	free(text);
	if (*root == NULL || !xml_is(*root, "prefs", NS_MAM)) {
		log_warnx("mam: preferences of %s@%s are damaged: %s", local,
		    host, *root == NULL ? err : "not a prefs element");
		goto bad;
	}
	v = xml_attr(*root, "version");
	if (v == NULL || strcmp(v, PREFS_VERSION) != 0) {
		log_warnx("mam: preferences of %s@%s have format version %s; "
		    "this xmppd reads version " PREFS_VERSION, local, host,
		    v ? v : "(none)");
		goto bad;
	}
	if (parse_policy(xml_attr(*root, "default")) == -1) {
		log_warnx("mam: preferences of %s@%s are damaged: no default",
		    local, host);
		goto bad;
	}
	return 0;
bad:
	if (*root != NULL)
		xml_arena_free((*root)->arena);
	*root = NULL;
	return -1;
}

/* The account's preferences; 0, or -1 if they cannot be read (logged). */
static int
prefs_load(const char *host, const char *local, struct prefs *p)
{
	struct xml_node *root;
	const char *text;
	int rc = 0;

	memset(p, 0, sizeof *p);
	p->def = setting_policy();
	if (prefs_read(host, local, &root) == -1)
		return -1;
	if (root == NULL)
		return 0;
	p->def = parse_policy(xml_attr(root, "default"));
	if (prefs_lists(root, p, &text, 0) != ERR_NONE) {
		log_warnx("mam: preferences of %s@%s are damaged: %s", local,
		    host, text);
		prefs_free(p);
		rc = -1;
	}
	xml_arena_free(root->arena);
	return rc;
}

/* Is with (or its bare JID, for a bare entry) in the stored list? */
static int
list_has(const struct xml_node *root, const char *name, const char *full,
    const char *bare)
{
	struct xml_node *l, *j;
	const char *t;

	for (l = xml_child(root, name, NS_MAM); l != NULL;
	    l = xml_next(l, name, NS_MAM))
		for (j = xml_child(l, "jid", NS_MAM); j != NULL;
		    j = xml_next(j, "jid", NS_MAM)) {
			t = xml_text(j);
			if (strcmp(t, strchr(t, '/') ? full : bare) == 0)
				return 1;
		}
	return 0;
}

/*
 * Do the preferences let a message with this JID (normalised) into the
 * archive?  Read for every message, straight from the stored document
 * (its JIDs were normalised when they were set).
 */
static int
prefs_allow(const char *host, const char *local, const char *with)
{
	char bare[JID_MAX + 1];
	struct xml_node *root;
	struct roster ro;
	const char *slash = strchr(with, '/');
	size_t blen = slash ? (size_t)(slash - with) : strlen(with);
	int ok, def;

	/* Preferences we cannot read may say "never": keep nothing. */
	if (prefs_read(host, local, &root) == -1)
		return 0;
	memcpy(bare, with, blen);
	bare[blen] = '\0';
	def = root ? parse_policy(xml_attr(root, "default")) : setting_policy();
	if (root != NULL && list_has(root, "never", with, bare))
		ok = 0;
	else if (root != NULL && list_has(root, "always", with, bare))
		ok = 1;
	else if (def == POLICY_ROSTER) {
		/* XEP-0441 4: the contact's bare JID in the roster. */
		ok = 0;
		if (roster_load(host, local, &ro) == 0) {
			ok = roster_item(&ro, bare) != NULL;
			roster_free(&ro);
		}
	} else
		ok = def == POLICY_ALWAYS;
	if (root != NULL)
		xml_arena_free(root->arena);
	return ok;
}

static struct xml_node *
prefs_element(struct xml_node *parent, const struct prefs *p)
{
	struct xml_node *e, *l;
	const struct strlist *lists[] = { &p->always, &p->never };
	static const char *const names[] = { "always", "never" };

	e = parent ? xml_add(parent, "prefs", NS_MAM) :
	    xml_new(xml_arena_new(), "prefs", NS_MAM);
	xml_set_attr(e, "default", policy_names[p->def]);
	for (int i = 0; i < 2; i++) {
		l = xml_add(e, names[i], NS_MAM);
		for (size_t j = 0; j < lists[i]->n; j++)
			xml_add_text_child(l, "jid", NS_MAM, lists[i]->v[j]);
	}
	return e;
}

static enum stanza_error
prefs_set(struct iq_req *r, struct prefs *p, const char **text)
{
	struct xml_node *doc;
	enum stanza_error e;
	struct buf b;
	int rc;

	memset(p, 0, sizeof *p);
	if ((p->def = parse_policy(xml_attr(r->payload, "default"))) == -1) {
		p->def = POLICY_ALWAYS;
		*text = "'default' must be always, never or roster";
		return ERR_BAD_REQUEST;
	}
	if ((e = prefs_lists(r->payload, p, text, 1)) != ERR_NONE)
		return e;
	doc = prefs_element(NULL, p);
	xml_set_attr(doc, "version", PREFS_VERSION);
	buf_init(&b, PREFS_FILE_MAX);
	rc = xml_serialize(doc, &b, NULL);
	xml_arena_free(doc->arena);
	if (rc == -1 || buf_addstr(&b, "\n") == -1) {
		buf_free(&b);
		*text = "The preferences are too large";
		return ERR_POLICY_VIOLATION;
	}
	rc = store_write(r->to.domain, r->to.local, PREFS_FILE, buf_head(&b),
	    buf_used(&b));
	buf_free(&b);
	if (rc == -1) {
		log_warn("mam: saving preferences of %s@%s", r->to.local,
		    r->to.domain);
		return ERR_INTERNAL_SERVER_ERROR;
	}
	return ERR_NONE;
}

/* Preferences get and set; both answer with what is in force. */
static enum stanza_error
mam_prefs(struct iq_req *r)
{
	struct xml_node *reply;
	struct prefs p;
	const char *text = NULL;
	enum stanza_error e;

	if (r->where != IQ_TO_SELF)
		return ERR_FORBIDDEN;
	if (r->type == IQ_SET) {
		if ((e = prefs_set(r, &p, &text)) != ERR_NONE) {
			prefs_free(&p);
			if (text == NULL)
				return e;
			iq_error(r, e, text);
			return ERR_NONE;
		}
	} else if (prefs_load(r->to.domain, r->to.local, &p) == -1)
		return ERR_INTERNAL_SERVER_ERROR;
	reply = iq_result(r);
	prefs_element(reply, &p);
	iq_reply(r, reply);
	prefs_free(&p);
	return ERR_NONE;
}

/* ---- archiving ---- */

static int
has_hint(const struct xml_node *m, const char *name)
{
	return xml_child(m, name, NS_HINTS) != NULL;
}

/* Worth a place in the archive?  XEP-0313 6.1.1: chat and normal
 * messages with a body; XEP-0334 hints decide either way. */
static int
archivable(const struct xml_node *m)
{
	const char *type = xml_attr(m, "type");

	if (type != NULL && *type != '\0' && strcmp(type, "chat") != 0 &&
	    strcmp(type, "normal") != 0)
		return 0;
	if (has_hint(m, "no-store") || has_hint(m, "no-permanent-store"))
		return 0;
	return xml_child(m, "body", m->ns) != NULL || has_hint(m, "store");
}

/* XEP-0359 3.3: a stanza-id in the name of this archive that we did not
 * put there is a forgery. */
static void
strip_stanza_ids(struct xml_node *m, const char *bare)
{
	struct xml_node *c, *next;
	char norm[JID_MAX + 1];
	const char *by;

	for (c = m->children; c != NULL; c = next) {
		next = c->next;
		if (c->name == NULL || !xml_is(c, "stanza-id", NS_SID))
			continue;
		by = xml_attr(c, "by");
		if (by != NULL && jid_normalize(by, norm, sizeof norm) == 0 &&
		    strcmp(norm, bare) == 0)
			xml_remove(c);
	}
}

static void
to_client_ns(struct xml_node *n)
{
	struct xml_node *c;

	if (strcmp(n->ns, NS_SERVER) == 0)
		n->ns = NS_CLIENT;
	for (c = n->children; c != NULL; c = c->next)
		if (c->name != NULL)
			to_client_ns(c);
}

/*
 * The message as stored: serialized in jabber:client (stanzas from other
 * servers are in jabber:server), line feeds (left as they are in text by
 * the serializer) as character references.  0 / -1 if too large.
 */
static int
record_xml(const struct xml_node *m, struct buf *out)
{
	struct xml_node *copy = NULL;
	struct buf b;
	const char *p;
	size_t i, start = 0, n;
	int rc;

	if (strcmp(m->ns, NS_SERVER) == 0) {
		copy = xml_copy(xml_arena_new(), m);
		to_client_ns(copy);
		m = copy;
	}
	buf_init(&b, RECORD_MAX);
	rc = xml_serialize(m, &b, NULL);
	if (copy != NULL)
		xml_arena_free(copy->arena);
	p = buf_head(&b);
	n = buf_used(&b);
	for (i = 0; rc == 0 && i <= n; i++) {
		if (i < n && p[i] != '\n')
			continue;
		if (buf_add(out, p + start, i - start) == -1 ||
		    (i < n && buf_addstr(out, "&#10;") == -1))
			rc = -1;
		start = i + 1;
	}
	buf_free(&b);
	return rc;
}

/*
 * Append m to the archive of local@host (dir 'i' or 'o', with the other
 * side's JID).  Its id goes to idout (ID_LEN + 1 bytes).  0, or -1 when
 * it was not archived (preferences; errors are logged).
 */
static int
archive(const char *host, const char *local, char dir, const char *with,
    const struct xml_node *m, char *idout)
{
	char name[sizeof ARCHIVE_DIR + ID_LEN + 8];
	struct buf xml, file;
	struct arch *a;
	struct rec r;
	int rc = -1, saved = 0;

	if (!prefs_allow(host, local, with))
		return -1;
	buf_init(&xml, RECORD_MAX);
	if (record_xml(m, &xml) == -1) {
		log_warnx("mam: a message for %s@%s is larger than %d bytes "
		    "stored: not archived", local, host, RECORD_MAX);
		buf_free(&xml);
		return -1;
	}
	a = arch_get(host, local);
	r.dir = dir;
	r.with = with;
	r.xml = buf_head(&xml);
	r.xml_len = buf_used(&xml);
	buf_init(&file, RECORD_MAX + 2 * JID_MAX + 256);
	/* The time part only grows; a name that exists anyway (a clock
	 * that went back before a restart) gets the next one. */
	for (int tries = 0; tries < 8; tries++) {
		r.id.t = now_us();
		if (r.id.t <= a->last_t)
			r.id.t = a->last_t + 1;
		random_bytes(&r.id.r, sizeof r.id.r);
		r.id.r &= (1u << (5 * ID_RAND_DIGITS)) - 1;
		a->last_t = r.id.t;
		buf_reset(&file);
		if (buf_addstr(&file, FORMAT_LINE) == -1 ||
		    rec_write(&file, &r) == -1) {
			saved = EFBIG;
			break;
		}
		id_format(&r.id, idout);
		snprintf(name, sizeof name, ARCHIVE_DIR "/m.%s", idout);
		rc = store_create(host, local, name, buf_head(&file),
		    buf_used(&file));
		saved = errno;
		if (rc == 0 || saved != EEXIST)
			break;
	}
	buf_free(&file);
	buf_free(&xml);
	if (rc == -1) {
		if (saved == ENOENT)
			log_debug("mam: %s@%s is gone: not archived", local, host);
		else {
			errno = saved;
			log_warn("mam: archiving a message for %s@%s", local,
			    host);
		}
		return -1;
	}
	a->loose++;
	a->total++;
	if (a->loose >= PACK_RECORDS || a->total > setting(S_MAX_MESSAGES))
		maintain(a);
	return 0;
}

/* A message a local client sends: its own archive gets it as outgoing
 * (one to the same account is archived as it comes in instead). */
static int
mam_outbound(struct session *s, struct xml_node *st)
{
	char with[JID_MAX + 1], id[ID_LEN + 1];
	const char *to;
	struct jid j;

	if (!xml_is(st, "message", NULL))
		return 0;
	strip_stanza_ids(st, s->bare);
	if (!archivable(st) || (to = xml_attr(st, "to")) == NULL ||
	    jid_parse(&j, to) == -1 || jid_full(&j, with, sizeof with) == -1)
		return 0;
	if (strcmp(j.local, s->local) == 0 && strcmp(j.domain, s->host) == 0)
		return 0;
	(void)archive(s->host, s->local, 'o', with, st, id);
	return 0;
}

/* ---- queries ---- */

struct filter {
	int64_t		 tmin, tmax;		/* inclusive */
	char		 with[JID_MAX + 1];	/* "" = anyone */
	int		 with_full;	/* with a resource: exactly */
	struct mid	*ids;			/* by time; NULL = any */
	size_t		 nids;
};

struct group {
	size_t		 u0, u1;	/* units [u0, u1): they overlap */
	int64_t		 first, last;
	ssize_t		 count;		/* matching records, or -1 */
};

struct qctx {
	const char	*host, *local;
	struct scan	 sc;
	struct group	*g;
	size_t		 ng;
	struct filter	 f;
	int64_t		 cutoff;
	size_t		 cached;	/* the group in ld, or SIZE_MAX */
	struct loaded	 ld;
};

static int
mid_cmp(const void *a, const void *b)
{
	const struct mid *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

static const struct mid *
ids_find(const struct filter *f, int64_t t)
{
	struct mid key = { t, 0 };

	return bsearch(&key, f->ids, f->nids, sizeof *f->ids, mid_cmp);
}

static int
ids_in_range(const struct filter *f, int64_t lo, int64_t hi)
{
	for (size_t i = 0; i < f->nids; i++)
		if (f->ids[i].t >= lo && f->ids[i].t <= hi)
			return 1;
	return 0;
}

static int
rec_matches(const struct filter *f, const struct rec *r)
{
	size_t wl;
	const struct mid *m;

	if (r->id.t < f->tmin || r->id.t > f->tmax)
		return 0;
	if (f->with[0] != '\0') {
		/* XEP-0313 4.1.1: a bare JID matches its every resource.
		 * Stored JIDs are normalised, so bytes compare. */
		wl = strlen(f->with);
		if (strncmp(r->with, f->with, wl) != 0 || (r->with[wl] != '\0' &&
		    (f->with_full || r->with[wl] != '/')))
			return 0;
	}
	if (f->ids != NULL && ((m = ids_find(f, r->id.t)) == NULL ||
	    m->r != r->id.r))
		return 0;
	return 1;
}

static void
qctx_free(struct qctx *q)
{
	loaded_free(&q->ld);
	scan_free(&q->sc);
	free(q->g);
	free(q->f.ids);
	q->g = NULL;
	q->f.ids = NULL;
}

/* List the archive and group the files whose ranges overlap. */
static int
qctx_open(struct qctx *q, const char *host, const char *local)
{
	size_t i, j;

	q->host = host;
	q->local = local;
	q->cached = SIZE_MAX;
	q->cutoff = cutoff_us();
	if (q->f.tmin < q->cutoff)
		q->f.tmin = q->cutoff;
	if (scan(host, local, &q->sc) == -1)
		return -1;
	q->g = xcalloc(q->sc.n + 1, sizeof *q->g);
	for (i = 0; i < q->sc.n; i = j) {
		struct group *g = &q->g[q->ng++];
		g->u0 = i;
		g->first = q->sc.u[i].first.t;
		g->last = q->sc.u[i].last.t;
		for (j = i + 1; j < q->sc.n && q->sc.u[j].first.t <= g->last; j++)
			if (q->sc.u[j].last.t > g->last)
				g->last = q->sc.u[j].last.t;
		g->u1 = j;
		g->count = -1;
	}
	return 0;
}

/* The records of a group, sorted and unique (unfiltered); a file that
 * cannot be read is left out (logged). */
static const struct recv *
load_group(struct qctx *q, size_t gi)
{
	if (q->cached == gi)
		return &q->ld.r;
	loaded_free(&q->ld);
	for (size_t u = q->g[gi].u0; u < q->g[gi].u1; u++)
		(void)load_unit(q->host, q->local, &q->sc.u[u], &q->ld);
	recv_sort_unique(&q->ld.r);
	q->cached = gi;
	return &q->ld.r;
}

static size_t
group_count(struct qctx *q, size_t gi)
{
	struct group *g = &q->g[gi];
	const struct filter *f = &q->f;
	const struct recv *rv;
	size_t n = 0;

	if (g->count >= 0)
		return (size_t)g->count;
	if (g->last < f->tmin || g->first > f->tmax ||
	    (f->ids != NULL && !ids_in_range(f, g->first, g->last)))
		n = 0;
	else if (g->u1 - g->u0 == 1 && f->with[0] == '\0' && f->ids == NULL &&
	    g->first >= f->tmin && g->last <= f->tmax)
		n = q->sc.u[g->u0].n;	/* the name says it */
	else {
		rv = load_group(q, gi);
		for (size_t i = 0; i < rv->n; i++)
			n += (size_t)rec_matches(f, &rv->v[i]);
	}
	g->count = (ssize_t)n;
	return n;
}

/* The record with this id (not expired), whatever the filter says;
 * valid until the next load. */
static const struct rec *
archive_find(struct qctx *q, const struct mid *id)
{
	const struct recv *rv;
	struct rec *r, key;

	if (id->t < q->cutoff)
		return NULL;
	for (size_t gi = 0; gi < q->ng; gi++) {
		if (q->g[gi].first > id->t || q->g[gi].last < id->t)
			continue;
		rv = load_group(q, gi);
		key.id = *id;
		r = bsearch(&key, rv->v, rv->n, sizeof *rv->v, rec_cmp);
		return r != NULL && r->id.r == id->r ? r : NULL;
	}
	return NULL;
}

static int
archive_has(struct qctx *q, const struct mid *id)
{
	return archive_find(q, id) != NULL;
}

/* Matching records with a time up to t. */
static size_t
count_upto(struct qctx *q, int64_t t)
{
	const struct recv *rv;
	size_t n = 0;

	for (size_t gi = 0; gi < q->ng && q->g[gi].first <= t; gi++) {
		if (q->g[gi].last <= t) {
			n += group_count(q, gi);
			continue;
		}
		rv = load_group(q, gi);
		for (size_t i = 0; i < rv->n && rv->v[i].id.t <= t; i++)
			n += (size_t)rec_matches(&q->f, &rv->v[i]);
	}
	return n;
}

struct pitem {
	struct mid	 id;
	char		*xml;
	size_t		 len;
};

struct page {
	struct pitem	*v;
	size_t		 n, max, bytes, budget;
};

/* 0, or -1 when the page is full (by count, or by bytes: a page must fit
 * in what the connection may queue). */
static int
page_add(struct page *pg, const struct rec *r)
{
	size_t len = r->xml_len + RESULT_OVERHEAD;

	if (pg->n >= pg->max || (pg->n > 0 && len > pg->budget - pg->bytes))
		return -1;
	if (pg->n == 0)
		pg->v = xcalloc(pg->max, sizeof *pg->v);
	pg->v[pg->n].id = r->id;
	pg->v[pg->n].xml = xstrndup(r->xml, r->xml_len);
	pg->v[pg->n].len = r->xml_len;
	pg->n++;
	pg->bytes = len > pg->budget - pg->bytes ? pg->budget : pg->bytes + len;
	return 0;
}

static void
page_free(struct page *pg)
{
	for (size_t i = 0; i < pg->n; i++)
		free(pg->v[i].xml);
	free(pg->v);
}

/* The page after time 'after' (skipping 'skip' matches first). */
static void
walk_forward(struct qctx *q, int64_t after, size_t skip, struct page *pg)
{
	const struct recv *rv;
	size_t gi, i, cnt;

	for (gi = 0; gi < q->ng && pg->n < pg->max; gi++) {
		if (q->g[gi].last <= after || (cnt = group_count(q, gi)) == 0)
			continue;
		if (q->g[gi].first > after && skip >= cnt) {
			skip -= cnt;
			continue;
		}
		rv = load_group(q, gi);
		for (i = 0; i < rv->n; i++) {
			if (rv->v[i].id.t <= after ||
			    !rec_matches(&q->f, &rv->v[i]))
				continue;
			if (skip > 0) {
				skip--;
				continue;
			}
			if (page_add(pg, &rv->v[i]) == -1)
				return;
		}
	}
}

/* The page that ends just before time 'before', in order. */
static void
walk_backward(struct qctx *q, int64_t before, struct page *pg)
{
	const struct recv *rv;
	struct pitem tmp;
	size_t gi, i;
	int stop = 0;

	for (gi = q->ng; gi-- > 0 && !stop && pg->n < pg->max;) {
		if (q->g[gi].first >= before || group_count(q, gi) == 0)
			continue;
		rv = load_group(q, gi);
		for (i = rv->n; i-- > 0;) {
			if (rv->v[i].id.t >= before ||
			    !rec_matches(&q->f, &rv->v[i]))
				continue;
			if (page_add(pg, &rv->v[i]) == -1) {
				stop = 1;
				break;
			}
		}
	}
	for (i = 0; i < pg->n / 2; i++) {
		tmp = pg->v[i];
		pg->v[i] = pg->v[pg->n - 1 - i];
		pg->v[pg->n - 1 - i] = tmp;
	}
}

/*
 * Does st, which carries a stanza-id of this archive, hold exactly the
 * message archived under that id?  Stream management (XEP-0198) routes
 * what a lost session did not acknowledge once more: it is archived
 * already, and keeps its id.  A forged id names another message, or
 * none, and is removed as usual.
 */
static int
already_archived(const struct jid *to, const char *bare,
    const struct xml_node *st)
{
	const struct xml_node *c;
	const struct rec *r;
	struct xml_node *copy;
	struct qctx q;
	struct mid id;
	struct buf xml;
	char norm[JID_MAX + 1];
	const char *by;
	int same = 0;

	for (c = xml_child(st, "stanza-id", NS_SID); c != NULL;
	    c = xml_next(c, "stanza-id", NS_SID))
		if ((by = xml_attr(c, "by")) != NULL &&
		    jid_normalize(by, norm, sizeof norm) == 0 &&
		    strcmp(norm, bare) == 0)
			break;
	/* Nothing stays unacknowledged for a week (resumption waits a day
	 * at most): older ids are not looked up at all. */
	if (c == NULL || id_parse_str(xml_attr(c, "id"), &id) == -1 ||
	    id.t < now_us() - 7 * DAY_US)
		return 0;
	memset(&q, 0, sizeof q);
	q.f.tmin = INT64_MIN;
	q.f.tmax = INT64_MAX;
	if (qctx_open(&q, to->domain, to->local) == 0 &&
	    (r = archive_find(&q, &id)) != NULL) {
		copy = xml_copy(xml_arena_new(), st);
		strip_stanza_ids(copy, bare);
		buf_init(&xml, RECORD_MAX);
		same = record_xml(copy, &xml) == 0 &&
		    buf_used(&xml) == r->xml_len &&
		    memcmp(buf_head(&xml), r->xml, r->xml_len) == 0;
		buf_free(&xml);
		xml_arena_free(copy->arena);
	}
	qctx_free(&q);
	return same;
}

/* A message for a local account: archived as incoming, and marked with
 * its archive id before anyone sees it. */
static int
mam_inbound(struct xml_node *st, const struct jid *to)
{
	char bare[JID_MAX + 1], with[JID_MAX + 1], id[ID_LEN + 1];
	const char *from;
	struct xml_node *sid;
	struct jid j;

	if (to->local[0] == '\0' || !xml_is(st, "message", NULL) ||
	    jid_bare(to, bare, sizeof bare) == -1)
		return 0;
	if (xml_child(st, "stanza-id", NS_SID) != NULL &&
	    already_archived(to, bare, st))
		return 0;
	strip_stanza_ids(st, bare);
	if (!archivable(st) || (from = xml_attr(st, "from")) == NULL ||
	    jid_parse(&j, from) == -1 || jid_full(&j, with, sizeof with) == -1)
		return 0;
	if (archive(to->domain, to->local, 'i', with, st, id) == -1)
		return 0;
	sid = xml_add(st, "stanza-id", NS_SID);
	xml_set_attr(sid, "id", id);
	xml_set_attr(sid, "by", bare);
	return 0;
}

/* What a query asked for. */
struct qreq {
	const char	*queryid;
	struct filter	 f;
	int		 after_id_set, before_id_set;
	struct mid	 after_id, before_id;
	size_t		 max;
	int		 has_after, has_before, has_index, flip;
	/* RSM; before.t is INT64_MAX for an empty <before/> (last page) */
	struct mid	 after, before;
	size_t		 index;
	const char	*text;		/* for an error reply */
	char		 textbuf[160];
};

enum {
	F_FORM_TYPE, F_WITH, F_START, F_END, F_AFTER_ID, F_BEFORE_ID, F_IDS,
	F_GROUPCHAT, F_COUNT
};
static const char *const field_names[F_COUNT] = {
	"FORM_TYPE", "with", "start", "end", "after-id", "before-id", "ids",
	"include-groupchat"
};

/* Answer e, with a text made of fmt and one string. */
static enum stanza_error
qerr(struct qreq *qr, enum stanza_error e, const char *fmt, const char *arg)
{
	snprintf(qr->textbuf, sizeof qr->textbuf, fmt, arg);
	qr->text = qr->textbuf;
	return e;
}

static enum stanza_error
qfail(struct qreq *qr, enum stanza_error e, const char *text)
{
	qr->text = text;
	return e;
}

static enum stanza_error
form_field(struct qreq *qr, int k, const struct xml_node *fld, size_t nv)
{
	const struct xml_node *v = xml_child(fld, "value", NS_XDATA);
	const char *val = xml_text(v);
	struct jid j;
	int64_t t;
	int whole;

	switch (k) {
	case F_FORM_TYPE:
		if (strcmp(val, NS_MAM) != 0)
			return qerr(qr, ERR_BAD_REQUEST, "FORM_TYPE must be %s",
			    NS_MAM);
		break;
	case F_WITH:
		if (jid_parse(&j, val) == -1 ||
		    jid_full(&j, qr->f.with, sizeof qr->f.with) == -1)
			return qfail(qr, ERR_BAD_REQUEST, "'with' is not a valid "
			    "JID");
		qr->f.with_full = j.resource[0] != '\0';
		break;
	case F_START:
	case F_END:
		if (parse_xep82(val, &t, &whole) == -1)
			return qerr(qr, ERR_BAD_REQUEST, "'%s' is not a "
			    "XEP-0082 date and time", field_names[k]);
		if (k == F_START && t > qr->f.tmin)
			qr->f.tmin = t;
		if (k == F_END) {
			if (whole)
				t += US_PER_SEC - 1;
			if (t < qr->f.tmax)
				qr->f.tmax = t;
		}
		break;
	case F_AFTER_ID:
	case F_BEFORE_ID:
		if (id_parse_str(val, k == F_AFTER_ID ? &qr->after_id :
		    &qr->before_id) == -1)
			return qerr(qr, ERR_ITEM_NOT_FOUND, "No message with "
			    "that '%s' in the archive", field_names[k]);
		if (k == F_AFTER_ID)
			qr->after_id_set = 1;
		else
			qr->before_id_set = 1;
		break;
	case F_IDS:
		if (nv > setting(S_MAX_PAGE))
			return qfail(qr, ERR_POLICY_VIOLATION, "More 'ids' than "
			    "a page holds");
		qr->f.ids = xcalloc(nv, sizeof *qr->f.ids);
		for (; v != NULL; v = xml_next(v, "value", NS_XDATA))
			if (id_parse_str(xml_text(v),
			    &qr->f.ids[qr->f.nids++]) == -1)
				return qerr(qr, ERR_ITEM_NOT_FOUND, "No message "
				    "with id '%.40s' in the archive", xml_text(v));
		qsort(qr->f.ids, qr->f.nids, sizeof *qr->f.ids, mid_cmp);
		break;
	case F_GROUPCHAT:
		/* Group chat is never in a user archive here: both
		 * answers leave the results as they are. */
		if (strcmp(val, "true") != 0 && strcmp(val, "1") != 0 &&
		    strcmp(val, "false") != 0 && strcmp(val, "0") != 0)
			return qfail(qr, ERR_BAD_REQUEST, "'include-groupchat' "
			    "must be a boolean");
		break;
	}
	return ERR_NONE;
}

/* The data form of a query (XEP-0313 4.1). */
static enum stanza_error
parse_form(struct qreq *qr, const struct xml_node *x)
{
	const struct xml_node *fld, *v;
	const char *type = xml_attr(x, "type"), *var;
	unsigned seen = 0;
	enum stanza_error e;
	size_t nv;
	int k;

	if (type != NULL && strcmp(type, "submit") != 0)
		return qfail(qr, ERR_BAD_REQUEST, "The query form must be of "
		    "type 'submit'");
	for (fld = xml_child(x, "field", NS_XDATA); fld != NULL;
	    fld = xml_next(fld, "field", NS_XDATA)) {
		if ((var = xml_attr(fld, "var")) == NULL)
			return qfail(qr, ERR_BAD_REQUEST, "A form field without "
			    "'var'");
		for (k = 0; k < F_COUNT && strcmp(field_names[k], var) != 0; k++)
			;
		if (k == F_COUNT)
			return qerr(qr, ERR_FEATURE_NOT_IMPLEMENTED, "Unknown "
			    "field '%.64s'", var);
		if (seen & (1u << k))
			return qerr(qr, ERR_BAD_REQUEST, "Field '%.64s' given "
			    "twice", var);
		seen |= 1u << k;
		nv = 0;
		for (v = xml_child(fld, "value", NS_XDATA); v != NULL;
		    v = xml_next(v, "value", NS_XDATA))
			nv++;
		if (nv > 1 && k != F_IDS)
			return qerr(qr, ERR_BAD_REQUEST, "Field '%.64s' takes one "
			    "value", var);
		if (nv == 0)
			continue;	/* an empty field filters nothing */
		if ((e = form_field(qr, k, fld, nv)) != ERR_NONE)
			return e;
	}
	return ERR_NONE;
}

/* Result Set Management (XEP-0059) in a query. */
static enum stanza_error
parse_rsm(struct qreq *qr, const struct xml_node *set)
{
	const char *v;
	unsigned long n;
	size_t max = setting(S_MAX_PAGE);

	if ((v = xml_child_text(set, "max", NS_RSM)) != NULL) {
		if (parse_ulong(v, 0, ULONG_MAX, &n) == -1)
			return qfail(qr, ERR_BAD_REQUEST, "<max/> must be a "
			    "whole number");
		if (n < max)
			max = n;
	}
	qr->max = max;
	if ((v = xml_child_text(set, "after", NS_RSM)) != NULL) {
		if (*v == '\0')
			return qfail(qr, ERR_BAD_REQUEST, "<after/> needs an "
			    "id");
		if (id_parse_str(v, &qr->after) == -1)
			return qfail(qr, ERR_ITEM_NOT_FOUND, "No message with "
			    "that id in the archive");
		qr->has_after = 1;
	}
	if ((v = xml_child_text(set, "before", NS_RSM)) != NULL) {
		qr->has_before = 1;
		qr->before.t = INT64_MAX;
		if (*v != '\0' && id_parse_str(v, &qr->before) == -1)
			return qfail(qr, ERR_ITEM_NOT_FOUND, "No message with "
			    "that id in the archive");
	}
	if ((v = xml_child_text(set, "index", NS_RSM)) != NULL) {
		if (parse_ulong(v, 0, ULONG_MAX, &n) == -1)
			return qfail(qr, ERR_BAD_REQUEST, "<index/> must be a "
			    "whole number");
		qr->index = n;
		qr->has_index = 1;
	}
	if (qr->has_after && qr->has_before)
		return qfail(qr, ERR_BAD_REQUEST, "<after/> and <before/> "
		    "together are not defined; use the after-id and "
		    "before-id fields");
	if (qr->has_index && (qr->has_after || qr->has_before))
		return qfail(qr, ERR_BAD_REQUEST, "<index/> goes without "
		    "<after/> and <before/>");
	return ERR_NONE;
}

static enum stanza_error
parse_query(struct qreq *qr, const struct xml_node *query)
{
	const struct xml_node *x, *set;
	enum stanza_error e;

	memset(qr, 0, sizeof *qr);
	qr->f.tmin = INT64_MIN;
	qr->f.tmax = INT64_MAX;
	qr->max = setting(S_MAX_PAGE);
	qr->queryid = xml_attr(query, "queryid");
	if (qr->queryid != NULL && strlen(qr->queryid) > QUERYID_MAX)
		return qfail(qr, ERR_BAD_REQUEST, "queryid is longer than 256 "
		    "bytes");
	if (xml_attr(query, "node") != NULL)
		return qfail(qr, ERR_FEATURE_NOT_IMPLEMENTED, "A user archive "
		    "has no nodes");
	if ((x = xml_child(query, "x", NS_XDATA)) != NULL &&
	    (e = parse_form(qr, x)) != ERR_NONE)
		return e;
	if ((set = xml_child(query, "set", NS_RSM)) != NULL &&
	    (e = parse_rsm(qr, set)) != ERR_NONE)
		return e;
	qr->flip = xml_child(query, "flip-page", NS_MAM) != NULL;
	return ERR_NONE;
}

static void
send_result(struct session *s, const char *queryid, const struct pitem *it)
{
	char id[ID_LEN + 1], stamp[32], err[128];
	struct xml_node *m, *res, *fw, *d, *orig;

	id_format(&it->id, id);
	m = xml_new(xml_arena_new(), "message", NS_CLIENT);
	xml_set_attr(m, "to", s->full);
	xml_set_attr(m, "from", s->bare);
	res = xml_add(m, "result", NS_MAM);
	if (queryid != NULL)
		xml_set_attr(res, "queryid", queryid);
	xml_set_attr(res, "id", id);
	fw = xml_add(res, "forwarded", NS_FORWARD);
	d = xml_add(fw, "delay", NS_DELAY);
	stamp_of(it->id.t, stamp, sizeof stamp);
	xml_set_attr(d, "stamp", stamp);
	orig = xml_parse_document(it->xml, it->len, &record_limits, err,
	    sizeof err);
	if (orig != NULL && xml_is(orig, "message", NS_CLIENT))
		xml_append_copy(fw, orig);
	else	/* XEP-0313 3.2 allows a result without the message */
		log_warnx("mam: archived message %s of %s is damaged (%s): "
		    "sent without it", id, s->bare, orig ? "not a message" : err);
	if (orig != NULL)
		xml_arena_free(orig->arena);
	session_send(s, m);
	xml_arena_free(m->arena);
}

/* Every id the query names must be in the archive (XEP-0313 4.1.3). */
static int
ids_exist(struct qctx *q, const struct qreq *qr)
{
	if ((qr->after_id_set && !archive_has(q, &qr->after_id)) ||
	    (qr->before_id_set && !archive_has(q, &qr->before_id)) ||
	    (qr->has_after && !archive_has(q, &qr->after)) ||
	    (qr->has_before && qr->before.t != INT64_MAX &&
	    !archive_has(q, &qr->before)))
		return 0;
	for (size_t i = 0; i < q->f.nids; i++)
		if (!archive_has(q, &q->f.ids[i]))
			return 0;
	return 1;
}

static enum stanza_error
run_query(struct iq_req *r, struct session *s, struct qreq *qr)
{
	const struct config *cfg = server_config();
	struct qctx q;
	struct page pg;
	struct xml_node *reply, *fin, *set, *first;
	char id[ID_LEN + 1], num[32];
	size_t total = 0, i0, gi;
	int complete, backward = qr->has_before;

	memset(&q, 0, sizeof q);
	memset(&pg, 0, sizeof pg);
	q.f = qr->f;
	qr->f.ids = NULL;		/* q owns them now */
	(void)arch_get(r->to.domain, r->to.local);
	if (qctx_open(&q, r->to.domain, r->to.local) == -1) {
		qctx_free(&q);
		return ERR_INTERNAL_SERVER_ERROR;
	}
	if (!ids_exist(&q, qr)) {
		qctx_free(&q);
		iq_error(r, ERR_ITEM_NOT_FOUND, "No message with that id in "
		    "the archive");
		return ERR_NONE;
	}
	if (qr->after_id_set && qr->after_id.t + 1 > q.f.tmin)
		q.f.tmin = qr->after_id.t + 1;
	if (qr->before_id_set && qr->before_id.t - 1 < q.f.tmax)
		q.f.tmax = qr->before_id.t - 1;
	for (gi = 0; gi < q.ng; gi++)
		total += group_count(&q, gi);

	pg.max = qr->max;
	pg.budget = cfg->limits.output_hard_limit / 2;
	if (backward) {
		size_t j = qr->before.t == INT64_MAX ? total :
		    count_upto(&q, qr->before.t - 1);
		walk_backward(&q, qr->before.t, &pg);
		i0 = j - pg.n;
		complete = i0 == 0;
	} else {
		i0 = qr->has_index ? qr->index :
		    qr->has_after ? count_upto(&q, qr->after.t) : 0;
		if (qr->has_index)
			walk_forward(&q, INT64_MIN, qr->index, &pg);
		else
			walk_forward(&q, qr->has_after ? qr->after.t : INT64_MIN,
			    0, &pg);
		complete = i0 + pg.n >= total;
	}
	qctx_free(&q);

	for (size_t k = 0; k < pg.n; k++)
		send_result(s, qr->queryid, &pg.v[qr->flip ? pg.n - 1 - k : k]);
	reply = iq_result(r);
	fin = xml_add(reply, "fin", NS_MAM);
	xml_set_attr(fin, "complete", complete ? "true" : "false");
	set = xml_add(fin, "set", NS_RSM);
	if (pg.n > 0) {
		id_format(&pg.v[0].id, id);
		first = xml_add_text_child(set, "first", NS_RSM, id);
		/* Backward pages leave the index out (XEP-0059 lets us):
		 * clients such as slixmpp take "index + page = count" for
		 * the end of a backward walk and would stop at once. */
		if (!backward) {
			snprintf(num, sizeof num, "%zu", i0);
			xml_set_attr(first, "index", num);
		}
		id_format(&pg.v[pg.n - 1].id, id);
		xml_add_text_child(set, "last", NS_RSM, id);
	}
	snprintf(num, sizeof num, "%zu", total);
	xml_add_text_child(set, "count", NS_RSM, num);
	iq_reply(r, reply);
	log_debug("mam: query of %s: %zu of %zu result(s)%s", s->full, pg.n,
	    total, complete ? ", complete" : "");
	page_free(&pg);
	return ERR_NONE;
}

/* The fields a query form may have (XEP-0313 4.1.5). */
static enum stanza_error
query_form(struct iq_req *r)
{
	static const struct {
		const char *var, *type;
	} fields[] = {
		{ "FORM_TYPE", "hidden" }, { "with", "jid-single" },
		{ "start", "text-single" }, { "end", "text-single" },
		{ "before-id", "text-single" }, { "after-id", "text-single" },
		{ "ids", "list-multi" }, { "include-groupchat", "boolean" },
	};
	struct xml_node *reply, *x, *f, *v;

	reply = iq_result(r);
	x = xml_add(xml_add(reply, "query", NS_MAM), "x", NS_XDATA);
	xml_set_attr(x, "type", "form");
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		f = xml_add(x, "field", NS_XDATA);
		xml_set_attr(f, "var", fields[i].var);
		xml_set_attr(f, "type", fields[i].type);
		if (i == 0)
			xml_add_text_child(f, "value", NS_XDATA, NS_MAM);
		if (strcmp(fields[i].var, "ids") == 0) {
			v = xml_add(f, "validate", NS_XVALIDATE);
			xml_set_attr(v, "datatype", "xs:string");
			xml_add(v, "open", NS_XVALIDATE);
		}
	}
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
mam_query(struct iq_req *r)
{
	struct qreq qr;
	struct session *s;
	enum stanza_error e;

	if (r->where != IQ_TO_SELF)
		return ERR_FORBIDDEN;	/* XEP-0313 8.1: only one's own */
	if (r->type == IQ_GET)
		return query_form(r);
	s = r->sess;
	if (s == NULL && r->from_str != NULL)
		s = session_find(r->from_str);
	if (s == NULL)
		return ERR_SERVICE_UNAVAILABLE;
	if ((e = parse_query(&qr, r->payload)) != ERR_NONE) {
		free(qr.f.ids);
		iq_error(r, e, qr.text);
		return ERR_NONE;
	}
	return run_query(r, s, &qr);
}

/* The first and last message of the archive (XEP-0313 5). */
static enum stanza_error
mam_metadata(struct iq_req *r)
{
	struct qctx q;
	struct xml_node *reply, *md, *e;
	const struct recv *rv;
	char id[ID_LEN + 1], stamp[32];
	size_t gi, i;

	if (r->where != IQ_TO_SELF)
		return ERR_FORBIDDEN;
	if (r->type != IQ_GET)
		return ERR_BAD_REQUEST;	/* metadata is only read */
	memset(&q, 0, sizeof q);
	q.f.tmin = INT64_MIN;
	q.f.tmax = INT64_MAX;
	(void)arch_get(r->to.domain, r->to.local);
	if (qctx_open(&q, r->to.domain, r->to.local) == -1) {
		qctx_free(&q);
		return ERR_INTERNAL_SERVER_ERROR;
	}
	reply = iq_result(r);
	md = xml_add(reply, "metadata", NS_MAM);
	for (int end = 0; end < 2; end++)
		for (gi = 0; gi < q.ng; gi++) {
			size_t g = end ? q.ng - 1 - gi : gi;
			if (group_count(&q, g) == 0)
				continue;
			rv = load_group(&q, g);
			for (i = 0; i < rv->n; i++) {
				const struct rec *rec =
				    &rv->v[end ? rv->n - 1 - i : i];
				if (!rec_matches(&q.f, rec))
					continue;
				e = xml_add(md, end ? "end" : "start", NS_MAM);
				id_format(&rec->id, id);
				xml_set_attr(e, "id", id);
				stamp_of(rec->id.t, stamp, sizeof stamp);
				xml_set_attr(e, "timestamp", stamp);
				break;
			}
			break;
		}
	qctx_free(&q);
	iq_reply(r, reply);
	return ERR_NONE;
}

/* ---- disco, accounts, the daily sweep ---- */

static int
mam_account_info(const struct iq_req *r, const char *node,
    struct xml_node *q)
{
	static const char *const feats[] = { NS_MAM, NS_MAM_EXT, NS_MAM_GCF,
	    NS_SID };

	/* Only the owner can query the archive: only the owner is told. */
	if (node != NULL || r->where != IQ_TO_SELF)
		return 0;
	for (size_t i = 0; i < sizeof feats / sizeof feats[0]; i++)
		xml_set_attr(xml_add(q, "feature", NULL), "var", feats[i]);
	return 0;
}

static void
mam_account_deleted(const char *host, const char *local)
{
	arch_forget(host, local);
}

/* Every account of every host, maintained a slice of time per tick, so
 * that archives nobody touches still expire. */
static struct {
	char		**host, **local;
	size_t		 n, cap, i;
	int64_t		 next;
	int		 active;
} sweep;

static int
sweep_collect(const char *local, void *arg)
{
	if (sweep.n == sweep.cap) {
		size_t cap = sweep.cap ? sweep.cap * 2 : 64;
		if (cap > SIZE_MAX / sizeof(char *))
			fatalx("mam: too many accounts");
		sweep.host = xrealloc(sweep.host, cap * sizeof(char *));
		sweep.local = xrealloc(sweep.local, cap * sizeof(char *));
		sweep.cap = cap;
	}
	sweep.host[sweep.n] = xstrdup(arg);
	sweep.local[sweep.n++] = xstrdup(local);
	return 0;
}

static void
sweep_free(void)
{
	for (size_t i = 0; i < sweep.n; i++) {
		free(sweep.host[i]);
		free(sweep.local[i]);
	}
	free(sweep.host);
	free(sweep.local);
	sweep.host = sweep.local = NULL;
	sweep.n = sweep.cap = sweep.i = 0;
	sweep.active = 0;
}

static void
mam_tick(int64_t now)
{
	const struct config *cfg = server_config();
	const struct host_config *h;
	struct arch *a, tmp;
	int64_t start, today = now_us() / DAY_US;
	size_t i;

	if (!sweep.active) {
		if (now < sweep.next)
			return;
		sweep.next = now + DAY_MS;
		for (h = cfg->hosts; h != NULL; h = h->next)
			if (h->enabled && store_list_users(h->name,
			    sweep_collect, h->name) == -1)
				log_warn("mam: listing the accounts of %s",
				    h->name);
		sweep.active = 1;
	}
	start = now_ms();
	while (sweep.i < sweep.n && now_ms() - start < SWEEP_SLICE_MS) {
		i = sweep.i++;
		if ((a = arch_find(sweep.host[i], sweep.local[i])) != NULL) {
			if (a->day != today)
				maintain(a);
			continue;
		}
		memset(&tmp, 0, sizeof tmp);
		tmp.host = sweep.host[i];
		tmp.local = sweep.local[i];
		maintain(&tmp);
	}
	if (sweep.i >= sweep.n)
		sweep_free();
}

static void
mam_fini(void)
{
	while (arch_head != NULL) {
		struct arch *a = arch_head;
		arch_unlink(a);
		arch_free(a);
	}
	narch = 0;
	sweep_free();
}

static const char *const mam_features[] = { NS_SID, NULL };

static const struct iq_handler mam_iq[] = {
	{ "query", NS_MAM, IQ_GET | IQ_SET, IQ_TO_SELF | IQ_TO_CONTACT,
	    mam_query },
	{ "prefs", NS_MAM, IQ_GET | IQ_SET, IQ_TO_SELF | IQ_TO_CONTACT,
	    mam_prefs },
	{ "metadata", NS_MAM, IQ_GET | IQ_SET, IQ_TO_SELF | IQ_TO_CONTACT,
	    mam_metadata },
	{ NULL, NULL, 0, 0, NULL }
};

const struct module mod_mam = {
	.name = "mam",
	.features = mam_features,
	.iq = mam_iq,
	.outbound = mam_outbound,
	.inbound = mam_inbound,
	.account_info = mam_account_info,
	.account_deleted = mam_account_deleted,
	.tick = mam_tick,
	.fini = mam_fini,
	.config_check = mam_config_check,
};
