/*
 * http_file_share.c - XEP-0363 HTTP File Upload (urn:xmpp:http:upload:0)
 * on each host's `upload` domain, served by the HTTP server in http.c.
 *
 * A slot is stateless: the PUT carries "Authorization: Bearer TOKEN"
 * where TOKEN holds the expiry, size, content type, uploader and service
 * domain, and an HMAC-SHA256 (key: random, per process) over those and
 * the path the slot names.  Nothing is kept for slots, so asking for
 * many of them costs the server nothing; a forged or altered token, or
 * one for another path, fails the HMAC.
 *
 * Files live in the service's own area, <data>/<upload domain>/%host/
 * files/: ID.data (the bytes, written to a temp file as they arrive,
 * fsync'd and linked into place) and ID.meta (one XML element: name,
 * size, type, uploader, time; version='1').  An index of them is kept in
 * memory for quotas and expiry.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bearssl.h>

#include "module.h"
#include "http.h"

#define MODNAME		"http_file_share"
#define NS_UPLOAD	"urn:xmpp:http:upload:0"
#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	"http://jabber.org/protocol/disco#items"
#define NS_XDATA	"jabber:x:data"
#define NS_PING		"urn:xmpp:ping"
#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"

#define ID_LEN		24	/* base32 of 15 random bytes */
#define NAME_MAX_LEN	255	/* bytes of a file name */
#define TYPE_MAX_LEN	255	/* bytes of a content type */
#define META_MAX	4096
#define META_VERSION	1
#define TOKEN_MAX	2048
#define URL_MAX		2048
#define MAC_LEN		32
#define DEFAULT_TYPE	"application/octet-stream"
#define SERVICE_NAME	"HTTP File Upload"

#define DEF_SIZE_LIMIT	(10ULL * 1024 * 1024)
#define DEF_QUOTA	(100ULL * 1024 * 1024)
#define DEF_EXPIRES	(7 * 86400LL)
#define DEF_SLOT_LIFE	300ULL
#define MAX_BYTES	(1ULL << 40)
#define MAX_EXPIRES	(100 * 365 * 86400LL)
#define EXPIRE_EVERY_MS	60000

extern const struct module mod_http_file_share;

/* ---- settings ---- */

/* Bytes: a number with an optional K, M or G (powers of 1024). */
static int
parse_bytes(const char *v, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long n = 0, unit = 1;
	size_t len;

	if (v == NULL || (len = strlen(v)) == 0 || len > 20)
		return -1;
	switch (v[len - 1]) {
	case 'K': case 'k': unit = 1024; len--; break;
	case 'M': case 'm': unit = 1024 * 1024; len--; break;
	case 'G': case 'g': unit = 1024 * 1024 * 1024; len--; break;
	}
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (unsigned long long)(v[i] - '0');
		if (n > max)
			return -1;
	}
	if (n > max / unit || n * unit < min)
		return -1;
	*out = n * unit;
	return 0;
}

/* Decimal digits only, up to max. */
static int
parse_num(const char *v, unsigned long long max, unsigned long long *out)
{
	unsigned long long n = 0;

	if (v == NULL || *v == '\0' || strlen(v) > 20)
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (n > (max - (unsigned long long)(*v - '0')) / 10)
			return -1;
		n = n * 10 + (unsigned long long)(*v - '0');
	}
	*out = n;
	return 0;
}

/* Seconds: "never" (0), or a number with an optional s, m(inutes), h, d, w. */
static int
parse_secs(const char *v, int never_ok, long long max, long long *out)
{
	long long n = 0, unit = 1;
	size_t len;

	if (v == NULL)
		return -1;
	if (never_ok && strcmp(v, "never") == 0) {
		*out = 0;
		return 0;
	}
	if ((len = strlen(v)) == 0 || len > 20)
		return -1;
	switch (v[len - 1]) {
	case 's': unit = 1; len--; break;
	case 'm': unit = 60; len--; break;
	case 'h': unit = 3600; len--; break;
	case 'd': unit = 86400; len--; break;
	case 'w': unit = 7 * 86400; len--; break;
	}
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
		if (n > max)
			return -1;
	}
	if (n < 1 || n > max / unit)
		return -1;
	*out = n * unit;
	return 0;
}

/*
 * external_url: http(s)://authority[/path], no query, no fragment, a
 * plain path (it becomes the prefix the HTTP server serves).  *path
 * points at the path in v ("" if none).
 */
static int
check_url(const char *v, const char **path)
{
	const char *a, *p;
	size_t len = strlen(v);

	if (len > 512)
		return -1;
	if (strncmp(v, "https://", 8) == 0)
		a = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		a = v + 7;
	else
		return -1;
	p = a + strcspn(a, "/");
	if (p == a)
		return -1;
	for (const char *s = a; s < p; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._:[]", *s) != NULL))
			return -1;
	for (const char *s = p; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~/", *s) != NULL))
			return -1;
	if (strstr(p, "/./") != NULL || strstr(p, "/../") != NULL ||
	    strstr(p, "//") != NULL || str_has_suffix(p, "/.") ||
	    str_has_suffix(p, "/.."))
		return -1;
	*path = p;
	return 0;
}

static const char *
opt(const char *key)
{
	return config_module_opt(server_config(), MODNAME, key);
}

static unsigned long long
size_limit(void)
{
	unsigned long long v;

	return parse_bytes(opt("size_limit"), 1, MAX_BYTES, &v) == 0 ? v :
	    DEF_SIZE_LIMIT;
}

/* 0: no quota. */
static unsigned long long
quota(void)
{
	unsigned long long v;

	return parse_bytes(opt("quota"), 0, MAX_BYTES, &v) == 0 ? v : DEF_QUOTA;
}

/* 0: never. */
static long long
expires_after(void)
{
	long long v;

	return parse_secs(opt("expires_after"), 1, MAX_EXPIRES, &v) == 0 ? v :
	    DEF_EXPIRES;
}

static long long
slot_lifetime(void)
{
	long long v;

	return parse_secs(opt("slot_lifetime"), 0, 86400, &v) == 0 ? v :
	    (long long)DEF_SLOT_LIFE;
}

static int
hfs_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	unsigned long long b;
	long long s;
	const char *p;

	if (strcmp(key, "size_limit") == 0 || strcmp(key, "quota") == 0) {
		if (parse_bytes(value, strcmp(key, "quota") == 0 ? 0 : 1,
		    MAX_BYTES, &b) == 0)
			return 0;
		snprintf(err, errlen, "[%s] %s must be a number of bytes, "
		    "optionally with K, M or G, at most 1024G; not '%.64s'",
		    MODNAME, key, value);
		return -1;
	}
	if (strcmp(key, "expires_after") == 0) {
		if (parse_secs(value, 1, MAX_EXPIRES, &s) == 0)
			return 0;
		snprintf(err, errlen, "[%s] expires_after must be 'never' or "
		    "a number of seconds, optionally with s, m, h, d or w; "
		    "not '%.64s'", MODNAME, value);
		return -1;
	}
	if (strcmp(key, "slot_lifetime") == 0) {
		if (parse_secs(value, 0, 86400, &s) == 0)
			return 0;
		snprintf(err, errlen, "[%s] slot_lifetime must be 1 second to "
		    "1 day (a number, optionally with s, m or h); not '%.64s'",
		    MODNAME, value);
		return -1;
	}
	if (strcmp(key, "external_url") == 0) {
		if (check_url(value, &p) == 0)
			return 0;
		snprintf(err, errlen, "[%s] external_url must be an http:// or "
		    "https:// URL with a plain path and no query, e.g. "
		    "https://example.org/upload; not '%.64s'", MODNAME, value);
		return -1;
	}
	snprintf(err, errlen, "unknown key '%.64s' in [%s] (known: size_limit, "
	    "quota, expires_after, slot_lifetime, external_url)", key, MODNAME);
	return -1;
}

/* ---- the service domains ---- */

static const struct host_config *
service_host(const char *domain)
{
	const struct config *cfg = server_config();

	if (cfg == NULL || domain == NULL)
		return NULL;
	for (const struct host_config *h = cfg->hosts; h != NULL; h = h->next)
		if (h->enabled && h->upload != NULL &&
		    strcmp(h->upload, domain) == 0)
			return h;
	return NULL;
}

static int
hfs_serves(const char *domain)
{
	return service_host(domain) != NULL;
}

/*
 * The URL files of domain are under (no trailing slash), or -1 when
 * nothing serves HTTP.
 */
static int
base_url(const char *domain, char *out, size_t outlen)
{
	const struct config *cfg = server_config();
	const char *ext = opt("external_url");
	size_t len;
	int n;

	if (ext != NULL) {
		if (strlcpy_ok(out, ext, outlen) == -1)
			return -1;
		len = strlen(out);
		while (len > 0 && out[len - 1] == '/')
			out[--len] = '\0';
		return 0;
	}
	if (cfg->https_ports.n > 0)
		n = snprintf(out, outlen, "https://%s:%u/upload", domain,
		    cfg->https_ports.v[0]);
	else if (cfg->http_ports.n > 0)
		n = snprintf(out, outlen, "http://%s:%u/upload", domain,
		    cfg->http_ports.v[0]);
	else
		return -1;
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* The path prefix the HTTP server hands to us: external_url's path. */
static void
http_prefix(char *out, size_t outlen)
{
	const char *ext = opt("external_url"), *p = "";
	size_t len;

	if (ext == NULL || check_url(ext, &p) == -1)
		p = "/upload";
	strlcpy_ok(out, p, outlen);
	len = strlen(out);
	while (len > 0 && out[len - 1] == '/')
		out[--len] = '\0';
	if (len + 2 <= outlen) {
		out[len] = '/';
		out[len + 1] = '\0';
	}
}

/* ---- the index of stored files ---- */

struct upfile {
	char		*domain;
	char		 id[ID_LEN + 1];
	char		*uploader;
	unsigned long long size;
	long long	 time;
};

static struct upfile	*files;
static size_t		 nfiles, capfiles;
static int		 cleaned;	/* stale temp files removed (once) */
static int64_t		 next_expiry;
static unsigned char	 secret[32];
static int		 have_secret;
static char		 registered[URL_MAX];

static void
index_add(const char *domain, const char *id, const char *uploader,
    unsigned long long size, long long t)
{
	struct upfile *f;

	if (nfiles == capfiles) {
		capfiles = capfiles ? capfiles * 2 : 64;
		files = xrealloc(files, capfiles * sizeof *files);
	}
	f = &files[nfiles++];
	f->domain = xstrdup(domain);
	strlcpy_ok(f->id, id, sizeof f->id);
	f->uploader = xstrdup(uploader);
	f->size = size;
	f->time = t;
}

static void
index_drop(size_t i)
{
	free(files[i].domain);
	free(files[i].uploader);
	files[i] = files[--nfiles];
}

static void
index_clear(void)
{
	while (nfiles > 0)
		index_drop(nfiles - 1);
	free(files);
	files = NULL;
	capfiles = 0;
}

static unsigned long long
used_by(const char *uploader)
{
	unsigned long long sum = 0;

	for (size_t i = 0; i < nfiles; i++)
		if (strcmp(files[i].uploader, uploader) == 0)
			sum += files[i].size;
	return sum;
}

static int
id_is_valid(const char *id, size_t len)
{
	if (len != ID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= '2' && id[i] <= '7')))
			return 0;
	return 1;
}

static void
new_id(char *out)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char r[15];
	size_t o = 0;

	random_bytes(r, sizeof r);
	for (size_t i = 0; i < sizeof r; i += 5) {
		uint64_t v = 0;
		for (size_t k = 0; k < 5; k++)
			v = v << 8 | r[i + k];
		for (int k = 7; k >= 0; k--)
			out[o++] = alpha[(v >> (5 * k)) & 31];
	}
	out[o] = '\0';
}

/* The files directory of domain's area. */
static int
files_dir(const char *domain, char *out, size_t outlen)
{
	return store_path(domain, NULL, "files", out, outlen);
}

struct meta {
	char	name[NAME_MAX_LEN + 1];
	char	type[TYPE_MAX_LEN + 1];
	char	uploader[JID_MAX + 1];
	unsigned long long size;
	long long time;
};

static int
meta_read(const char *domain, const char *id, struct meta *m)
{
	static const struct xml_limits xl = { META_MAX, 2, 16, 32 };
	char name[64], err[128], *buf = NULL;
	struct xml_node *n;
	const char *v, *nm, *ty, *up, *sz, *tm;
	ssize_t len;
	unsigned long long u, t;
	int rc = -1;

	snprintf(name, sizeof name, "files/%s.meta", id);
	if ((len = store_read(domain, NULL, name, META_MAX, &buf)) == -1)
		return -1;
	n = xml_parse_document(buf, (size_t)len, &xl, err, sizeof err);
	free(buf);
	if (n == NULL) {
		log_warnx("%s: %s/%s: %s", MODNAME, domain, name, err);
		return -1;
	}
	v = xml_attr(n, "version");
	if (!xml_is(n, "file", NS_UPLOAD) || v == NULL) {
		log_warnx("%s: %s/%s: not an upload record", MODNAME, domain,
		    name);
		goto out;
	}
	if (strcmp(v, "1") != 0) {
		log_warnx("%s: %s/%s: format version %s is newer than this "
		    "xmppd knows (1)", MODNAME, domain, name, v);
		goto out;
	}
	nm = xml_attr(n, "name");
	ty = xml_attr(n, "type");
	up = xml_attr(n, "uploader");
	sz = xml_attr(n, "size");
	tm = xml_attr(n, "time");
	if (nm == NULL || ty == NULL || up == NULL || sz == NULL || tm == NULL ||
	    strlcpy_ok(m->name, nm, sizeof m->name) == -1 ||
	    strlcpy_ok(m->type, ty, sizeof m->type) == -1 ||
	    strlcpy_ok(m->uploader, up, sizeof m->uploader) == -1 ||
	    parse_num(sz, MAX_BYTES, &u) == -1 ||
	    parse_num(tm, LLONG_MAX / 2, &t) == -1) {
		log_warnx("%s: %s/%s: damaged upload record", MODNAME, domain,
		    name);
		goto out;
	}
	m->size = u;
	m->time = (long long)t;
	rc = 0;
out:
	xml_arena_free(n->arena);
	return rc;
}

static int
meta_write(const char *domain, const char *id, const struct meta *m)
{
	struct xml_arena *a = xml_arena_new();
	struct xml_node *n = xml_new(a, "file", NS_UPLOAD);
	char name[64], num[32];
	struct buf b;
	int rc;

	xml_set_attr(n, "version", "1");
	xml_set_attr(n, "name", m->name);
	xml_set_attr(n, "type", m->type);
	xml_set_attr(n, "uploader", m->uploader);
	snprintf(num, sizeof num, "%llu", m->size);
	xml_set_attr(n, "size", num);
	snprintf(num, sizeof num, "%lld", m->time);
	xml_set_attr(n, "time", num);
	buf_init(&b, META_MAX);
	rc = xml_serialize(n, &b, NULL);
	xml_arena_free(a);
	snprintf(name, sizeof name, "files/%s.meta", id);
	if (rc == 0) {
		buf_addstr(&b, "\n");
		rc = store_write(domain, NULL, name, buf_head(&b), buf_used(&b));
	}
	buf_free(&b);
	return rc;
}

static void
remove_file(const char *domain, const char *id)
{
	char name[64];

	snprintf(name, sizeof name, "files/%s.data", id);
	if (store_remove(domain, NULL, name) == -1)
		log_warn("%s: removing %s/%s", MODNAME, domain, name);
	snprintf(name, sizeof name, "files/%s.meta", id);
	if (store_remove(domain, NULL, name) == -1)
		log_warn("%s: removing %s/%s", MODNAME, domain, name);
}

/*
 * Scan one service's files: index complete uploads; at the first start
 * also remove what a crash left (temp files, data without a record and
 * records without data).
 */
static void
scan_domain(const char *domain)
{
	char dir[PATH_MAX], id[ID_LEN + 1], path[PATH_MAX], data[PATH_MAX];
	struct dirent *de;
	struct meta m;
	struct stat st;
	DIR *d;

	if (files_dir(domain, dir, sizeof dir) == -1 ||
	    (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name, *dot = strchr(nm, '.');
		int is_meta, is_data;
		if (nm[0] == '.')
			continue;
		if (strstr(nm, ".tmp.") != NULL) {
			if (!cleaned && snprintf(path, sizeof path, "%s/%s", dir,
			    nm) < (int)sizeof path)
				unlink(path);
			continue;
		}
		if (dot == NULL || !id_is_valid(nm, (size_t)(dot - nm)))
			continue;
		is_meta = strcmp(dot, ".meta") == 0;
		is_data = strcmp(dot, ".data") == 0;
		if (!is_meta && !is_data)
			continue;
		memcpy(id, nm, ID_LEN);
		id[ID_LEN] = '\0';
		if (snprintf(data, sizeof data, "%s/%s.data", dir, id) >=
		    (int)sizeof data ||
		    snprintf(path, sizeof path, "%s/%s.meta", dir, id) >=
		    (int)sizeof path)
			continue;
		if (is_data) {
			/* Records are read from their .meta; a .data alone
			 * is half an upload. */
			if (!cleaned && lstat(path, &st) == -1 && errno == ENOENT)
				unlink(data);
			continue;
		}
		if (lstat(data, &st) == -1 || !S_ISREG(st.st_mode)) {
			if (!cleaned)
				remove_file(domain, id);
			continue;
		}
		if (meta_read(domain, id, &m) == -1)
			continue;
		index_add(domain, id, m.uploader, m.size, m.time);
	}
	closedir(d);
}

/* ---- tokens ---- */

static void
b64url(const void *p, size_t n, char *out, size_t outlen)
{
	ssize_t l = b64_encode(p, n, out, outlen);

	if (l < 0) {
		out[0] = '\0';
		return;
	}
	for (ssize_t i = 0; i < l; i++)
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	while (l > 0 && out[l - 1] == '=')
		out[--l] = '\0';
}

/* Decode base64url text of n bytes into out (NUL-terminated); -1 on error. */
static ssize_t
unb64url(const char *s, size_t n, char *out, size_t outlen)
{
	char tmp[TOKEN_MAX + 4];
	ssize_t l;

	if (n > TOKEN_MAX || n % 4 == 1 || outlen == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			return -1;
		tmp[i] = c;
	}
	while (n % 4 != 0)
		tmp[n++] = '=';
	l = b64_decode(tmp, n, out, outlen - 1);
	if (l < 0)
		return -1;
	out[l] = '\0';
	return l;
}

struct slot {
	char		 domain[JID_PART_MAX + 1];
	char		 uploader[JID_MAX + 1];
	char		 type[TYPE_MAX_LEN + 1];
	unsigned long long size;
	long long	 expiry;
};

static void
slot_mac(const struct slot *s, const char *id, const char *name,
    unsigned char *mac)
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	char num[64];

	br_hmac_key_init(&kc, &br_sha256_vtable, secret, sizeof secret);
	br_hmac_init(&hc, &kc, 0);
	/* Newlines cannot occur in any of the fields. */
	br_hmac_update(&hc, "xmppd-upload-1\n", 15);
	br_hmac_update(&hc, s->domain, strlen(s->domain));
	br_hmac_update(&hc, "\n", 1);
	br_hmac_update(&hc, id, strlen(id));
	br_hmac_update(&hc, "\n", 1);
	br_hmac_update(&hc, name, strlen(name));
	br_hmac_update(&hc, "\n", 1);
	br_hmac_update(&hc, s->type, strlen(s->type));
	br_hmac_update(&hc, "\n", 1);
	br_hmac_update(&hc, s->uploader, strlen(s->uploader));
	snprintf(num, sizeof num, "\n%llu\n%lld", s->size, s->expiry);
	br_hmac_update(&hc, num, strlen(num));
	br_hmac_out(&hc, mac);
	memset(&kc, 0, sizeof kc);
	memset(&hc, 0, sizeof hc);
}

/* "1.EXPIRY.SIZE.TYPE.UPLOADER.DOMAIN.MAC", strings in base64url. */
static int
token_make(const struct slot *s, const char *id, const char *name, char *out,
    size_t outlen)
{
	char t[TYPE_MAX_LEN * 2], u[JID_MAX * 2], d[JID_PART_MAX * 2], m[64];
	unsigned char mac[MAC_LEN];
	int n;

	slot_mac(s, id, name, mac);
	b64url(s->type, strlen(s->type), t, sizeof t);
	b64url(s->uploader, strlen(s->uploader), u, sizeof u);
	b64url(s->domain, strlen(s->domain), d, sizeof d);
	b64url(mac, sizeof mac, m, sizeof m);
	n = snprintf(out, outlen, "1.%lld.%llu.%s.%s.%s.%s", s->expiry, s->size,
	    t, u, d, m);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Split at '.' into exactly 7 fields and check the MAC for id and name. */
static int
token_check(const char *tok, const char *id, const char *name, struct slot *s)
{
	const char *f[7], *p = tok;
	size_t fl[7];
	unsigned char mac[MAC_LEN], want[MAC_LEN];
	char macbuf[64];
	long long e;
	int i;

	if (strlen(tok) > TOKEN_MAX)
		return -1;
	for (i = 0; i < 7; i++) {
		const char *dot = strchr(p, '.');
		f[i] = p;
		fl[i] = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if ((dot == NULL) != (i == 6))
			return -1;
		p = dot != NULL ? dot + 1 : p;
	}
	if (fl[0] != 1 || f[0][0] != '1' || fl[1] == 0 || fl[1] > 18 ||
	    fl[2] == 0 || fl[2] > 18)
		return -1;
	e = 0;
	for (size_t k = 0; k < fl[1]; k++) {
		if (f[1][k] < '0' || f[1][k] > '9')
			return -1;
		e = e * 10 + (f[1][k] - '0');
	}
	s->expiry = e;
	s->size = 0;
	for (size_t k = 0; k < fl[2]; k++) {
		if (f[2][k] < '0' || f[2][k] > '9')
			return -1;
		s->size = s->size * 10 + (unsigned long long)(f[2][k] - '0');
	}
	if (unb64url(f[3], fl[3], s->type, sizeof s->type) < 1 ||
	    unb64url(f[4], fl[4], s->uploader, sizeof s->uploader) < 1 ||
	    unb64url(f[5], fl[5], s->domain, sizeof s->domain) < 1 ||
	    unb64url(f[6], fl[6], macbuf, sizeof macbuf) != MAC_LEN)
		return -1;
	memcpy(mac, macbuf, MAC_LEN);
	/* The decoded strings may hold anything: the MAC decides. */
	if (memchr(s->type, '\n', strlen(s->type)) != NULL ||
	    memchr(s->uploader, '\n', strlen(s->uploader)) != NULL ||
	    memchr(s->domain, '\n', strlen(s->domain)) != NULL)
		return -1;
	slot_mac(s, id, name, want);
	return ct_equal(mac, want, MAC_LEN) ? 0 : -1;
}

/* ---- the slot request (XEP-0363 4) ---- */

static int
name_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0 || !utf8_is_valid(s, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return 0;
	}
	return 1;
}

static int
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* type "/" subtype, then parameters in printable ASCII. */
static int
type_is_valid(const char *s)
{
	size_t n = strlen(s), i = 0, k;

	if (n == 0 || n > TYPE_MAX_LEN)
		return 0;
	for (k = i; i < n && is_tchar(s[i]); i++)
		;
	if (i == k || i == n || s[i++] != '/')
		return 0;
	for (k = i; i < n && is_tchar(s[i]); i++)
		;
	if (i == k)
		return 0;
	for (; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* An error reply with an application condition (XEP-0363 file-too-large). */
static void
too_large(const struct iq_req *r, unsigned long long max)
{
	struct xml_arena *a = xml_arena_new();
	struct xml_node *iq = xml_new(a, "iq", NS_CLIENT), *e, *f;
	char num[32];

	xml_set_attr(iq, "type", "error");
	if (r->id != NULL)
		xml_set_attr(iq, "id", r->id);
	xml_set_attr(iq, "to", r->from_str);
	xml_set_attr(iq, "from", r->to_str);
	e = xml_add(iq, "error", NULL);
	xml_set_attr(e, "type", stanza_error_type(ERR_NOT_ACCEPTABLE));
	xml_add(e, "not-acceptable", NS_STANZAS);
	xml_add_text_child(e, "text", NS_STANZAS, "File too large");
	f = xml_add(e, "file-too-large", NS_UPLOAD);
	snprintf(num, sizeof num, "%llu", max);
	xml_add_text_child(f, "max-file-size", NS_UPLOAD, num);
	route(iq);
	xml_arena_free(a);
}

static enum stanza_error
slot_request(struct iq_req *r)
{
	const char *fname, *fsize, *ftype;
	unsigned long long size, max = size_limit(), q = quota();
	struct slot s;
	struct jid b;
	char id[ID_LEN + 1], base[URL_MAX], enc[NAME_MAX_LEN * 3 + 1];
	char url[URL_MAX + 4 * NAME_MAX_LEN], tok[TOKEN_MAX], auth[TOKEN_MAX + 8];
	struct xml_node *reply, *slot, *put, *h;

	if (r->type != IQ_GET)
		return ERR_BAD_REQUEST;
	/* Only this server's accounts may store files here. */
	if (r->from.local[0] == '\0' || !host_is_local(r->from.domain))
		return ERR_FORBIDDEN;
	fname = xml_attr(r->payload, "filename");
	fsize = xml_attr(r->payload, "size");
	ftype = xml_attr(r->payload, "content-type");
	if (fname == NULL || !name_is_valid(fname)) {
		iq_error(r, ERR_BAD_REQUEST, "Invalid filename");
		return ERR_NONE;
	}
	if (parse_num(fsize, ULLONG_MAX / 4, &size) == -1 || size == 0) {
		iq_error(r, ERR_BAD_REQUEST, "Invalid size");
		return ERR_NONE;
	}
	if (ftype != NULL && ftype[0] != '\0' && !type_is_valid(ftype)) {
		iq_error(r, ERR_BAD_REQUEST, "Invalid content-type");
		return ERR_NONE;
	}
	if (size > max) {
		too_large(r, max);
		return ERR_NONE;
	}
	b = r->from;
	b.resource[0] = '\0';
	memset(&s, 0, sizeof s);
	if (jid_bare(&b, s.uploader, sizeof s.uploader) == -1)
		return ERR_BAD_REQUEST;
	if (q > 0 && used_by(s.uploader) + size > q) {
		iq_error(r, ERR_RESOURCE_CONSTRAINT, "Quota exceeded");
		return ERR_NONE;
	}
	if (base_url(r->to.domain, base, sizeof base) == -1) {
		iq_error(r, ERR_SERVICE_UNAVAILABLE, "No HTTP port is configured");
		return ERR_NONE;
	}
	strlcpy_ok(s.domain, r->to.domain, sizeof s.domain);
	strlcpy_ok(s.type, ftype != NULL && ftype[0] != '\0' ? ftype :
	    DEFAULT_TYPE, sizeof s.type);
	s.size = size;
	s.expiry = wall_time() + slot_lifetime();
	new_id(id);
	if (http_path_encode(fname, enc, sizeof enc) == -1 ||
	    snprintf(url, sizeof url, "%s/%s/%s", base, id, enc) >=
	    (int)sizeof url || token_make(&s, id, fname, tok, sizeof tok) == -1)
		return ERR_INTERNAL_SERVER_ERROR;
	snprintf(auth, sizeof auth, "Bearer %s", tok);
	reply = iq_result(r);
	slot = xml_add(reply, "slot", NS_UPLOAD);
	put = xml_add(slot, "put", NULL);
	xml_set_attr(put, "url", url);
	h = xml_add_text_child(put, "header", NULL, auth);
	xml_set_attr(h, "name", "Authorization");
	xml_set_attr(xml_add(slot, "get", NULL), "url", url);
	log_info("%s: slot %s for %s: %llu bytes", MODNAME, id, s.uploader,
	    size);
	iq_reply(r, reply);
	return ERR_NONE;
}

/* ---- the service's disco (XEP-0030, XEP-0128 form) ---- */

static enum stanza_error
service_info(struct iq_req *r)
{
	struct xml_node *reply = iq_result(r), *q, *n, *x, *f;
	char num[32];

	q = xml_add(reply, "query", NS_DISCO_INFO);
	if (xml_attr(r->payload, "node") != NULL) {
		xml_arena_free(reply->arena);
		return ERR_ITEM_NOT_FOUND;
	}
	n = xml_add(q, "identity", NULL);
	xml_set_attr(n, "category", "store");
	xml_set_attr(n, "type", "file");
	xml_set_attr(n, "name", SERVICE_NAME);
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_DISCO_INFO);
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_DISCO_ITEMS);
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_UPLOAD);
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_PING);
	x = xml_add(q, "x", NS_XDATA);
	xml_set_attr(x, "type", "result");
	f = xml_add(x, "field", NULL);
	xml_set_attr(f, "var", "FORM_TYPE");
	xml_set_attr(f, "type", "hidden");
	xml_add_text_child(f, "value", NULL, NS_UPLOAD);
	f = xml_add(x, "field", NULL);
	xml_set_attr(f, "var", "max-file-size");
	snprintf(num, sizeof num, "%llu", size_limit());
	xml_add_text_child(f, "value", NULL, num);
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
service_items(struct iq_req *r)
{
	struct xml_node *reply = iq_result(r);

	xml_add(reply, "query", NS_DISCO_ITEMS);
	if (xml_attr(r->payload, "node") != NULL) {
		xml_arena_free(reply->arena);
		return ERR_ITEM_NOT_FOUND;
	}
	iq_reply(r, reply);
	return ERR_NONE;
}

static void
hfs_component_route(struct xml_node *st, const struct jid *to)
{
	const char *f = xml_attr(st, "from"), *type = xml_attr(st, "type");
	struct iq_req r;
	struct xml_node *c;
	enum stanza_error e;
	int n = 0;

	if (f == NULL)
		return;
	if (!xml_is(st, "iq", NULL)) {
		if (xml_is(st, "message", NULL))
			route_error(st, ERR_SERVICE_UNAVAILABLE, NULL);
		return;		/* presence: nothing to do */
	}
	if (type == NULL || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
		return;		/* results and errors: we ask nothing */
	memset(&r, 0, sizeof r);
	if (jid_parse(&r.from, f) == -1)
		return;
	for (c = st->children; c != NULL; c = c->next)
		if (c->name != NULL) {
			n++;
			r.payload = c;
		}
	r.iq = st;
	r.type = strcmp(type, "get") == 0 ? IQ_GET : IQ_SET;
	r.where = IQ_TO_SERVER;
	r.id = xml_attr(st, "id");
	r.from_str = f;
	r.to = *to;
	r.to_str = xml_attr(st, "to");
	if (n != 1)
		e = ERR_BAD_REQUEST;
	else if (to->local[0] != '\0' || to->resource[0] != '\0')
		e = ERR_SERVICE_UNAVAILABLE;
	else if (xml_is(r.payload, "request", NS_UPLOAD))
		e = slot_request(&r);
	else if (xml_is(r.payload, "query", NS_DISCO_INFO))
		e = r.type == IQ_GET ? service_info(&r) : ERR_BAD_REQUEST;
	else if (xml_is(r.payload, "query", NS_DISCO_ITEMS))
		e = r.type == IQ_GET ? service_items(&r) : ERR_BAD_REQUEST;
	else if (xml_is(r.payload, "ping", NS_PING))
		e = r.type == IQ_GET ? iq_ok(&r) : ERR_BAD_REQUEST;
	else
		e = ERR_SERVICE_UNAVAILABLE;
	if (e != ERR_NONE)
		iq_error(&r, e, NULL);
}

/* The service in its host's disco#items (XEP-0363 3). */
static int
hfs_disco_items(const struct iq_req *r, const char *node, struct xml_node *q)
{
	const struct host_config *h;
	struct xml_node *it;

	if (node != NULL)
		return 0;
	h = config_host(server_config(), r->to.domain);
	if (h == NULL || h->upload == NULL)
		return 0;
	it = xml_add(q, "item", NULL);
	xml_set_attr(it, "jid", h->upload);
	xml_set_attr(it, "name", SERVICE_NAME);
	return 0;
}

/* ---- HTTP: PUT and GET ---- */

struct upload {
	int		 fd;
	int		 complete;
	char		 tmp[PATH_MAX];
	char		 final[PATH_MAX];
	char		 dir[PATH_MAX];
	char		 id[ID_LEN + 1];
	struct meta	 m;
	struct slot	 s;
};

static void
cors(struct http_request *rq)
{
	http_add_header(rq, "Access-Control-Allow-Origin", "*");
	http_add_header(rq, "Access-Control-Allow-Methods",
	    "GET, HEAD, PUT, OPTIONS");
	http_add_header(rq, "Access-Control-Allow-Headers",
	    "Authorization, Content-Type");
	http_add_header(rq, "Access-Control-Max-Age", "86400");
}

/* After the prefix: "ID/NAME"; 0 with id and name filled, or -1. */
static int
split_path(const char *path, char *id, char *name, size_t namelen)
{
	char prefix[URL_MAX];
	const char *rest, *slash;

	http_prefix(prefix, sizeof prefix);
	if (strncmp(path, prefix, strlen(prefix)) != 0)
		return -1;
	rest = path + strlen(prefix);
	if ((slash = strchr(rest, '/')) == NULL ||
	    !id_is_valid(rest, (size_t)(slash - rest)) ||
	    strchr(slash + 1, '/') != NULL ||
	    strlcpy_ok(name, slash + 1, namelen) == -1 ||
	    !name_is_valid(name))
		return -1;
	memcpy(id, rest, ID_LEN);
	id[ID_LEN] = '\0';
	return 0;
}

/* Images may be shown inline; everything else (and SVG, which can carry
 * scripts) is offered as a download. */
static int
is_inline_type(const char *type)
{
	return strncasecmp(type, "image/", 6) == 0 &&
	    strncasecmp(type, "image/svg", 9) != 0;
}

static void
serve_get(struct http_request *rq, const char *id, const char *name)
{
	const struct config *cfg = server_config();
	long long exp = expires_after();
	struct meta m;
	struct stat st;
	char path[PATH_MAX], rel[64], etag[ID_LEN + 3];
	char disp[NAME_MAX_LEN * 3 + 64], enc[NAME_MAX_LEN * 3 + 1];
	const char *domain = NULL;
	int fd;

	for (const struct host_config *h = cfg->hosts; h != NULL; h = h->next)
		if (h->enabled && h->upload != NULL &&
		    meta_read(h->upload, id, &m) == 0) {
			domain = h->upload;
			break;
		}
	if (domain == NULL || strcmp(m.name, name) != 0 ||
	    (exp > 0 && m.time + exp <= wall_time())) {
		http_respond_error(rq, 404);
		return;
	}
	snprintf(rel, sizeof rel, "files/%s.data", id);
	if (store_path(domain, NULL, rel, path, sizeof path) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		http_respond_error(rq, 404);
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		http_respond_error(rq, 404);
		return;
	}
	http_add_header(rq, "X-Content-Type-Options", "nosniff");
	http_add_header(rq, "Content-Security-Policy",
	    "default-src 'none'; frame-ancestors 'none'");
	http_add_header(rq, "Cache-Control", "private, max-age=604800, immutable");
	if (!is_inline_type(m.type)) {
		if (http_path_encode(m.name, enc, sizeof enc) == 0 &&
		    snprintf(disp, sizeof disp, "attachment; filename*=UTF-8''%s",
		    enc) < (int)sizeof disp)
			http_add_header(rq, "Content-Disposition", disp);
		else
			http_add_header(rq, "Content-Disposition", "attachment");
	}
	snprintf(etag, sizeof etag, "\"%s\"", id);
	http_respond_file(rq, fd, (uint64_t)st.st_size, m.type, etag);
}

/* Create the service's files directory (and the two above it). */
static int
make_files_dir(const char *domain, char *dir, size_t dirlen)
{
	char p[PATH_MAX];
	char *slash;

	if (files_dir(domain, dir, dirlen) == -1 ||
	    strlcpy_ok(p, dir, sizeof p) == -1)
		return -1;
	if (mkdir(p, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	/* <data>/<domain>/%host/files: make the parents, then again. */
	if ((slash = strrchr(p, '/')) == NULL)
		return -1;
	*slash = '\0';
	if ((slash = strrchr(p, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (mkdir(p, 0700) == -1 && errno != EEXIST)
		return -1;
	*slash = '/';
	if (mkdir(p, 0700) == -1 && errno != EEXIST)
		return -1;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static int
file_exists(const char *dir, const char *id, const char *ext)
{
	char p[PATH_MAX];
	struct stat st;

	if (snprintf(p, sizeof p, "%s/%s.%s", dir, id, ext) >= (int)sizeof p)
		return 1;
	return lstat(p, &st) == 0 || errno != ENOENT;
}

static void
start_put(struct http_request *rq, const char *id, const char *name)
{
	const char *auth = http_request_header(rq, "authorization");
	const char *ctype = http_request_header(rq, "content-type");
	unsigned long long q = quota();
	uint64_t len = http_request_content_length(rq);
	static unsigned seq;
	struct upload *u;
	struct slot s;

	memset(&s, 0, sizeof s);
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    token_check(auth + 7, id, name, &s) == -1) {
		log_info("%s: PUT %s from %s: bad or missing token", MODNAME,
		    id, http_request_client(rq));
		http_respond_error(rq, 403);
		return;
	}
	if (s.expiry < wall_time()) {
		log_info("%s: PUT %s from %s: slot expired", MODNAME, id,
		    http_request_client(rq));
		http_respond_error(rq, 403);
		return;
	}
	if (service_host(s.domain) == NULL) {
		http_respond_error(rq, 404);
		return;
	}
	if (http_request_header(rq, "content-length") == NULL) {
		http_respond_error(rq, 411);
		return;
	}
	if (len != s.size) {
		http_respond_error(rq, len > s.size ? 413 : 400);
		return;
	}
	if (ctype != NULL && strcasecmp(ctype, s.type) != 0) {
		http_respond_error(rq, 415);
		return;
	}
	if (q > 0 && used_by(s.uploader) + s.size > q) {
		http_respond_error(rq, 413);
		return;
	}
	u = xcalloc(1, sizeof *u);
	u->fd = -1;
	u->s = s;
	strlcpy_ok(u->id, id, sizeof u->id);
	if (make_files_dir(s.domain, u->dir, sizeof u->dir) == -1) {
		log_warn("%s: cannot make the files directory for %s", MODNAME,
		    s.domain);
		free(u);
		http_respond_error(rq, 500);
		return;
	}
	if (file_exists(u->dir, id, "data") || file_exists(u->dir, id, "meta")) {
		free(u);
		http_respond_error(rq, 409);
		return;
	}
	if (snprintf(u->final, sizeof u->final, "%s/%s.data", u->dir, id) >=
	    (int)sizeof u->final ||
	    snprintf(u->tmp, sizeof u->tmp, "%s/%s.data.tmp.%ld.%u", u->dir, id,
	    (long)getpid(), ++seq) >= (int)sizeof u->tmp) {
		free(u);
		http_respond_error(rq, 500);
		return;
	}
	u->fd = open(u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (u->fd == -1) {
		log_warn("%s: %s", MODNAME, u->tmp);
		free(u);
		http_respond_error(rq, 500);
		return;
	}
	strlcpy_ok(u->m.name, name, sizeof u->m.name);
	strlcpy_ok(u->m.type, s.type, sizeof u->m.type);
	strlcpy_ok(u->m.uploader, s.uploader, sizeof u->m.uploader);
	u->m.size = s.size;
	http_request_set_data(rq, u);
}

static void
hfs_head(struct http_request *rq, void *arg)
{
	char id[ID_LEN + 1], name[NAME_MAX_LEN + 1];
	enum http_method m = http_request_method(rq);

	cors(rq);
	if (!module_enabled(&mod_http_file_share)) {
		http_respond_error(rq, 404);
		return;
	}
	if (m == HTTP_M_OPTIONS) {
		http_respond(rq, 204, NULL, NULL, 0);
		return;
	}
	if (m != HTTP_M_GET && m != HTTP_M_HEAD && m != HTTP_M_PUT) {
		http_add_header(rq, "Allow", "GET, HEAD, PUT, OPTIONS");
		http_respond_error(rq, 405);
		return;
	}
	if (split_path(http_request_path(rq), id, name, sizeof name) == -1) {
		http_respond_error(rq, 404);
		return;
	}
	if (m == HTTP_M_PUT)
		start_put(rq, id, name);
	else
		serve_get(rq, id, name);
}

static int
hfs_body(struct http_request *rq, const char *p, size_t n, void *arg)
{
	struct upload *u = http_request_data(rq);

	if (u == NULL || u->fd == -1)
		return 0;
	while (n > 0) {
		ssize_t w = write(u->fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_warn("%s: writing %s", MODNAME, u->tmp);
			http_respond_error(rq, 500);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
fsync_path(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static void
hfs_end(struct http_request *rq, void *arg)
{
	struct upload *u = http_request_data(rq);
	unsigned long long q = quota();
	int rc;

	if (u == NULL)
		return;
	rc = fsync(u->fd);
	if (close(u->fd) == -1)
		rc = -1;
	u->fd = -1;
	if (rc == -1) {
		log_warn("%s: %s", MODNAME, u->tmp);
		http_respond_error(rq, 500);
		return;
	}
	/* Someone else's upload may have finished meanwhile. */
	if (q > 0 && used_by(u->s.uploader) + u->s.size > q) {
		http_respond_error(rq, 413);
		return;
	}
	/* link(): exclusive, unlike rename(), so two PUTs of one slot
	 * cannot both win. */
	if (link(u->tmp, u->final) == -1) {
		if (errno != EEXIST)
			log_warn("%s: %s", MODNAME, u->final);
		http_respond_error(rq, errno == EEXIST ? 409 : 500);
		return;
	}
	unlink(u->tmp);
	u->complete = 1;
	u->m.time = wall_time();
	if (fsync_path(u->dir) == -1 || meta_write(u->s.domain, u->id, &u->m) == -1) {
		log_warn("%s: storing the record of %s", MODNAME, u->id);
		unlink(u->final);
		http_respond_error(rq, 500);
		return;
	}
	index_add(u->s.domain, u->id, u->s.uploader, u->s.size, u->m.time);
	log_info("%s: %s stored %s (%llu bytes, %s)", MODNAME, u->s.uploader,
	    u->id, u->s.size, u->m.type);
	http_respond(rq, 201, NULL, NULL, 0);
}

static void
hfs_done(struct http_request *rq, void *arg)
{
	struct upload *u = http_request_data(rq);

	if (u == NULL)
		return;
	if (u->fd != -1)
		close(u->fd);
	if (!u->complete)
		unlink(u->tmp);
	http_request_set_data(rq, NULL);
	free(u);
}

static const struct http_handler hfs_http = {
	hfs_head, hfs_body, hfs_end, hfs_done
};

/* ---- life cycle ---- */

static void
expire(void)
{
	long long exp = expires_after(), now = wall_time();

	if (exp == 0)
		return;
	for (size_t i = 0; i < nfiles;) {
		if (files[i].time + exp > now) {
			i++;
			continue;
		}
		log_info("%s: %s expired (uploaded by %s)", MODNAME, files[i].id,
		    files[i].uploader);
		remove_file(files[i].domain, files[i].id);
		index_drop(i);
	}
}

static void
hfs_tick(int64_t now)
{
	long long exp = expires_after();
	int64_t every = EXPIRE_EVERY_MS;

	if (now < next_expiry)
		return;
	/* Short lifetimes are checked more often than once a minute. */
	if (exp > 0 && exp * 250 < every)
		every = exp * 250 < 1000 ? 1000 : exp * 250;
	next_expiry = now + every;
	expire();
}

/* A deleted account's files go with it (only this process's deletions
 * are seen; the rest expire). */
static void
hfs_account_deleted(const char *host, const char *local)
{
	char bare[JID_MAX + 1];

	if (snprintf(bare, sizeof bare, "%s@%s", local, host) >= (int)sizeof bare)
		return;
	for (size_t i = 0; i < nfiles;) {
		if (strcmp(files[i].uploader, bare) != 0) {
			i++;
			continue;
		}
		log_info("%s: %s removed with its account", MODNAME, files[i].id);
		remove_file(files[i].domain, files[i].id);
		index_drop(i);
	}
}

static int
hfs_init(void)
{
	const struct config *cfg = server_config();
	char prefix[URL_MAX], base[URL_MAX];
	int any = 0;

	if (!have_secret) {
		random_bytes(secret, sizeof secret);
		have_secret = 1;
	}
	index_clear();
	for (const struct host_config *h = cfg->hosts; h != NULL; h = h->next) {
		if (!h->enabled || h->upload == NULL)
			continue;
		any = 1;
		scan_domain(h->upload);
		if (base_url(h->upload, base, sizeof base) == -1)
			log_warnx("%s: %s: no http_ports, https_ports or "
			    "external_url: no slots can be given", MODNAME,
			    h->upload);
	}
	cleaned = 1;
	if (!any)
		log_warnx("%s: no [host] has an upload domain (upload = "
		    "upload.HOST)", MODNAME);
	http_prefix(prefix, sizeof prefix);
	if (registered[0] != '\0' && strcmp(registered, prefix) != 0)
		http_unregister(registered);
	if (http_register(prefix, &hfs_http, NULL) == -1) {
		log_warnx("%s: cannot serve %s", MODNAME, prefix);
		return -1;
	}
	strlcpy_ok(registered, prefix, sizeof registered);
	next_expiry = 0;
	return 0;
}

static void
hfs_fini(void)
{
	if (registered[0] != '\0')
		http_unregister(registered);
	registered[0] = '\0';
	index_clear();
}

const struct module mod_http_file_share = {
	.name = MODNAME,
	.init = hfs_init,
	.disco_items = hfs_disco_items,
	.tick = hfs_tick,
	.account_deleted = hfs_account_deleted,
	.serves_domain = hfs_serves,
	.component_route = hfs_component_route,
	.fini = hfs_fini,
	.config_check = hfs_config_check,
};
