/*
 * import.c - `xmppd import-prosody`: carry the data of a Prosody server
 * (storage = "internal", the default) over into xmppd's data directory.
 *
 * What Prosody 0.9 .. 0.12 keeps, and where (util.datamanager):
 *   <data>/<host>/accounts/<user>.dat    SCRAM-SHA-1 stored_key, server_key
 *                                        (hex), salt and iteration_count, or
 *                                        a plaintext password (internal_plain)
 *   <data>/<host>/roster/<user>.dat      contacts keyed by JID with name,
 *                                        subscription, ask, approved, groups;
 *                                        [false] = { version, pending = {...} }
 *   <data>/<host>/vcard/<user>.dat       the vcard-temp element (mod_vcard)
 *   <data>/<host>/private/<user>.dat     XEP-0049 fragments by "name:namespace"
 *   <data>/<host>/offline/<user>.list    one item(...) per offline message
 *   <data>/<host>/pep/<user>.dat         PEP node configurations
 *   <data>/<host>/pep_<node>/<user>.list PEP items of one node
 * Elements are stored as Prosody's "preserialized" stanzas: { name = ...,
 * attr = { xmlns = ..., ["ns\1name"] = ... }, child, "text", ... }.  Host
 * and user names are escaped: every byte but [A-Za-z0-9] is '%' and two hex
 * digits; store names keep '_' too.  With mod_vcard_legacy (Debian's
 * default configuration) the vCard lives in PEP as vCard4 plus the avatar
 * nodes and nothing is in vcard/; it is turned back into vcard-temp.
 *
 * The import never trusts the files: each one is read with a bound, parsed
 * by the strict reader in luadata.c, converted with every name and text
 * checked, serialized, and parsed back with the limits the module that
 * reads it uses before anything is written.  A file that fails is reported
 * with its path and line and skipped; everything else goes on.  The account
 * file is written last, so an import cut short leaves an account that does
 * not exist yet and is imported again by the next run.  Existing xmppd
 * accounts are left alone unless --force is given.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bearssl_hash.h"
#include "account.h"
#include "config.h"
#include "import.h"
#include "jid.h"
#include "log.h"
#include "luadata.h"
#include "sasl.h"
#include "store.h"
#include "util.h"
#include "xml.h"

#define NS_ROSTER	"jabber:iq:roster"
#define NS_PRIVATE	"jabber:iq:private"
#define NS_VCARD	"vcard-temp"
#define NS_VCARD4	"urn:ietf:params:xml:ns:vcard-4.0"
#define NS_DELAY	"urn:xmpp:delay"
#define NS_PUBSUB	"http://jabber.org/protocol/pubsub"
#define NS_PEP_STORE	"urn:xmppd:pep"	/* modules/pep.c's files */
#define NS_LEGACY_BM	"storage:bookmarks"
#define NODE_LEGACY_BM	"storage:bookmarks"
#define NODE_VCARD4	"urn:xmpp:vcard4"
#define NODE_AVATAR_META "urn:xmpp:avatar:metadata"
#define NODE_AVATAR_DATA "urn:xmpp:avatar:data"

/* Bytes of one Prosody file we are willing to read. */
#define MAX_DAT_FILE	((size_t)16 * 1024 * 1024)
#define MAX_LIST_FILE	((size_t)64 * 1024 * 1024)
/* Element nesting in a converted stanza (the Lua reader bounds it too). */
#define MAX_XML_DEPTH	100
#define FILE_NAME_MAX	255

/*
 * What each module reads its files with (roster.c, vcard.c, private.c,
 * pep.c): a document we write must parse back under these, or the module
 * could not read it.  pep.c reads files of up to 1 GiB; one node file of
 * ours is bounded like a vCard.
 */
#define DOC_MAX		((size_t)16 * 1024 * 1024 + 4096)
static const struct xml_limits roster_limits = {
	(size_t)4 * 1024 * 1024, 16, 16, 256 };
static const struct xml_limits vcard_limits = { DOC_MAX, 260, 520, 1030 };
static const struct xml_limits private_limits = { DOC_MAX, 260, 520, 1030 };
static const struct xml_limits pep_limits = { DOC_MAX, 260, 520, 1030 };

struct names {
	char	**v;
	size_t	  n, cap;
};

struct counts {
	size_t	accounts, plain, existing;
	size_t	rosters, items, pending;
	size_t	vcards, vcards_pep;
	size_t	privates;
	size_t	offline;
	size_t	pep_nodes, pep_items;
	size_t	errors, notes;
};

struct imp {
	const struct config	*cfg;
	const char		*src;	/* Prosody's data directory */
	int			 dry_run, force;
	int			 store_ok;	/* xmppd's store is open */
	struct counts		 n;
	/* the host being imported */
	char			 host[JID_PART_MAX + 1];
	char			 hostdir[PATH_MAX];
	struct names		 users;	/* stems of account files */
	/* "pep_*" store directories and their node names, in step */
	struct names		 pepdirs;
	struct names		 pepnodes;
	struct xml_limits	 offline_limits;
};

/* One account being imported. */
struct user {
	const char	*stem;		/* as in Prosody's file names */
	char		 local[JID_PART_MAX + 1];
	char		 bare[JID_MAX + 1];
	int		 roster, vcard, vcard_pep;
	size_t		 items, pending, privates, offline;
	size_t		 pep_nodes, pep_items;
	struct xml_node	**pep;		/* PEP nodes, for vCard4 */
	size_t		 npep;
	struct xml_node	*legacy_bm;	/* PEP storage:bookmarks */
	int		 private_bm;	/* private bookmarks written */
};

/* Where a conversion went wrong. */
struct conv {
	unsigned	 line;
	char		 why[256];
};

/* ---- reporting ---- */

static void problem(struct imp *, const char *, unsigned, const char *, ...)
    __attribute__((format(printf, 4, 5)));
static void note(struct imp *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static struct xml_node *conv_fail(struct conv *, const struct lua_value *,
    const char *, ...) __attribute__((format(printf, 3, 4)));

/* Something that should have been imported was not: counts as an error. */
static void
problem(struct imp *im, const char *path, unsigned line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	if (line > 0)
		fprintf(stderr, "error: %s:%u: ", path, line);
	else
		fprintf(stderr, "error: %s: ", path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; skipped\n", stderr);
	im->n.errors++;
}

/* Something left out on purpose: said, but not an error. */
static void
note(struct imp *im, const char *fmt, ...)
{
	va_list ap;

	fputs("skipped: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	im->n.notes++;
}

static struct xml_node *
conv_fail(struct conv *cv, const struct lua_value *where, const char *fmt, ...)
{
	va_list ap;

	if (where != NULL)
		cv->line = where->line;
	va_start(ap, fmt);
	(void)vsnprintf(cv->why, sizeof cv->why, fmt, ap);
	va_end(ap);
	return NULL;
}

/* ---- small helpers ---- */

static void
names_add(struct names *ns, const char *s)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		if (cap > SIZE_MAX / sizeof *ns->v)
			fatalx("import: too many names");
		ns->v = xrealloc(ns->v, cap * sizeof *ns->v);
		ns->cap = cap;
	}
	ns->v[ns->n++] = xstrdup(s);
}

static void
names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	memset(ns, 0, sizeof *ns);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
names_sort(struct names *ns)
{
	if (ns->n > 1)
		qsort(ns->v, ns->n, sizeof *ns->v, cmp_str);
}

static int
names_has(const struct names *ns, const char *s)
{
	return ns->n > 0 && bsearch(&s, ns->v, ns->n, sizeof *ns->v,
	    cmp_str) != NULL;
}

/* snprintf into a path; -1 (reported by the caller) if it did not fit. */
static int path_fmt(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
path_fmt(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/*
 * Entries of a directory, sorted, without dot files.  With want_dirs, only
 * directories; otherwise only regular files ending in ext (which is cut
 * off).  -1 with errno if the directory cannot be read.
 */
static int
list_dir(const char *path, int want_dirs, const char *ext, struct names *out)
{
	char full[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	size_t n, el = ext ? strlen(ext) : 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (path_fmt(full, sizeof full, "%s/%s", path,
		    de->d_name) == -1 || stat(full, &st) == -1)
			continue;
		if (want_dirs) {
			if (S_ISDIR(st.st_mode))
				names_add(out, de->d_name);
			continue;
		}
		n = strlen(de->d_name);
		if (!S_ISREG(st.st_mode) || n <= el ||
		    strcmp(de->d_name + n - el, ext) != 0)
			continue;
		de->d_name[n - el] = '\0';
		names_add(out, de->d_name);
	}
	closedir(d);
	names_sort(out);
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Undo Prosody's file name escaping ("%2e" for '.'); like Prosody, a '%'
 * that is not followed by two hex digits stands for itself.  -1 if the
 * result is empty, does not fit, or holds a NUL, or a '/' when it names a
 * host or a user (a PEP node name may have one).
 */
static int
pz_decode(const char *in, char *out, size_t outlen, int slash_ok)
{
	size_t o = 0;
	int c;

	for (const char *p = in; *p != '\0'; p++) {
		c = (unsigned char)*p;
		if (c == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			c = hexval(p[1]) * 16 + hexval(p[2]);
			p += 2;
		}
		if (c == '\0' || (c == '/' && !slash_ok) || o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

/*
 * Read a whole regular file of at most max bytes.  0 with *out (caller
 * frees) and *len, or -1 with errno (ENOENT when missing, EFBIG when too
 * large, EINVAL when not a regular file).
 */
static int
read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	ssize_t r;
	int fd, saved;

	/* O_NONBLOCK: a FIFO in the way must not hang the import. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* r == 0: it shrank under us */
			saved = r == 0 ? EIO : errno;
			free(buf);
			close(fd);
			errno = saved;
			return -1;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	close(fd);
	*out = buf;
	*len = got;
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Read and parse one Prosody file.  NULL when it is missing (*missing set,
 * nothing said) or broken (reported as an error).
 */
static struct lua_doc *
load_lua(struct imp *im, const char *path, enum lua_mode mode, int *missing)
{
	struct lua_limits lim = LUA_DEFAULT_LIMITS;
	struct lua_doc *doc;
	char *text, err[256];
	size_t len;
	unsigned line;

	*missing = 0;
	lim.max_input = mode == LUA_MODE_ITEMS ? MAX_LIST_FILE : MAX_DAT_FILE;
	if (read_file(path, lim.max_input, &text, &len) == -1) {
		if (errno == ENOENT) {
			*missing = 1;
			return NULL;
		}
		if (errno == EFBIG)
			problem(im, path, 0, "larger than %zu bytes",
			    lim.max_input);
		else
			problem(im, path, 0, "cannot read: %s",
			    strerror(errno));
		return NULL;
	}
	doc = lua_parse(text, len, mode, &lim, err, sizeof err, &line);
	free(text);
	if (doc == NULL)
		problem(im, path, line, "not Prosody data: %s", err);
	return doc;
}

/* Can s be XML character data or an attribute value (XML 1.0 Char)? */
static int
text_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!utf8_is_valid(s, len))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return 0;
		/* U+FFFE and U+FFFF */
		if (p[i] == 0xef && i + 2 < len && p[i + 1] == 0xbf &&
		    (p[i + 2] == 0xbe || p[i + 2] == 0xbf))
			return 0;
	}
	return 1;
}

static int
cstr_ok(const char *s)
{
	return s != NULL && text_ok(s, strlen(s));
}

/*
 * An XML name without a prefix (NCName), judged on ASCII: letters, digits,
 * '-', '.', '_' and any non-ASCII character, not starting with a digit,
 * '-' or '.'.  The read-back check catches what this lets through.
 */
static int
name_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > 1023 ||
	    !utf8_is_valid(s, n))
		return 0;
	if ((p[0] >= '0' && p[0] <= '9') || p[0] == '-' || p[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c >= 0x80))
			return 0;
	}
	return 1;
}

/* A XEP-0082 stamp as whole seconds since 1970, or -1. */
static int64_t
parse_stamp(const char *s)
{
	int64_t us;
	int whole;

	if (parse_xep82(s, &us, &whole) != 0 || us < 0)
		return -1;
	return us / 1000000;
}

/*
 * A time stored by Prosody (seconds, maybe with fractions) in range for a
 * file name and XEP-0082: 1 with *secs, 0 if v is no such number.
 */
static int
when_of(const struct lua_value *v, double *secs)
{
	if (v == NULL || v->type != LUA_T_NUMBER || !isfinite(v->number) ||
	    v->number < 0 || v->number > 253402300799.0)	/* 9999-12-31 */
		return 0;
	*secs = v->number;
	return 1;
}

static void
sha1_hex(const void *data, size_t len, char hex[2 * br_sha1_SIZE + 1])
{
	unsigned char md[br_sha1_SIZE];
	br_sha1_context h;

	br_sha1_init(&h);
	br_sha1_update(&h, data, len);
	br_sha1_out(&h, md);
	for (size_t i = 0; i < sizeof md; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/*
 * A file under dir named by key: its store_escape()d form, or "sha1-" and
 * the hex SHA-1 of the key when that would be too long for a file name
 * (the rule modules/private.c uses).  -1 if out is too small.
 */
static int
keyed_file(const char *dir, const char *key, size_t keylen, char *out,
    size_t outlen)
{
	char esc[FILE_NAME_MAX + 1], hex[2 * br_sha1_SIZE + 1];

	if (memchr(key, '\0', keylen) == NULL && strlen(key) == keylen &&
	    store_escape(key, esc, sizeof esc) == 0)
		return path_fmt(out, outlen, "%s/%s", dir, esc);
	sha1_hex(key, keylen, hex);
	return path_fmt(out, outlen, "%s/sha1-%s", dir, hex);
}

/* ---- Prosody stanzas to XML ---- */

/*
 * Add the attributes of t's attr table to el.  Prosody keeps namespaced
 * attributes as "namespace\1name" (or "namespace|name") and xml:lang as
 * "xml:lang"; xmlns is the element's own namespace, taken by the caller.
 */
static int
conv_attrs(struct conv *cv, struct xml_node *el, const struct lua_value *attr)
{
	const char *k, *v, *sep;
	char *ns;

	for (size_t i = 0; attr != NULL && i < attr->nfields; i++) {
		const struct lua_field *f = &attr->fields[i];

		k = lua_cstr(&f->key);
		v = lua_cstr(&f->value);
		if (k == NULL) {
			conv_fail(cv, &f->value, "an attribute name is not "
			    "a string");
			return -1;
		}
		if (v == NULL || !cstr_ok(v)) {
			conv_fail(cv, &f->value, "attribute %.64s of <%.64s> "
			    "is not text", k, el->name);
			return -1;
		}
		/* The serializer declares what it needs. */
		if (strcmp(k, "xmlns") == 0 || strncmp(k, "xmlns:", 6) == 0)
			continue;
		if (strcmp(k, "xml:lang") == 0) {
			xml_set_attr_ns(el, NS_XML, "lang", v);
			continue;
		}
		if ((sep = strchr(k, '\1')) != NULL ||
		    (sep = strchr(k, '|')) != NULL) {
			if (sep == k || !name_ok(sep + 1) ||
			    !text_ok(k, (size_t)(sep - k))) {
				conv_fail(cv, &f->value, "bad namespaced "
				    "attribute on <%.64s>", el->name);
				return -1;
			}
			ns = xstrndup(k, (size_t)(sep - k));
			xml_set_attr_ns(el, ns, sep + 1, v);
			free(ns);
			continue;
		}
		if (!name_ok(k)) {
			conv_fail(cv, &f->value, "bad attribute name "
			    "\"%.64s\" on <%.64s>", k, el->name);
			return -1;
		}
		xml_set_attr(el, k, v);
	}
	return 0;
}

static int
cmp_field_index(const void *a, const void *b)
{
	const struct lua_field *x = *(const struct lua_field *const *)a;
	const struct lua_field *y = *(const struct lua_field *const *)b;

	if (x->key.integer != y->key.integer)
		return x->key.integer < y->key.integer ? -1 : 1;
	return 0;
}

/*
 * A preserialized stanza as an element: a new root in a (parent NULL) or
 * the last child of parent.  ns is the namespace in scope, used when the
 * element has no xmlns of its own.  NULL with cv filled on any problem.
 */
static struct xml_node *
conv_element(struct conv *cv, struct xml_arena *a, struct xml_node *parent,
    const struct lua_value *t, const char *ns, unsigned depth)
{
	const struct lua_value *attr, *xmlns;
	const struct lua_field **kids;
	struct xml_node *el;
	const char *name;
	size_t nk = 0;

	if (!lua_is_table(t))
		return conv_fail(cv, t, "an element is a %s, not a table",
		    t ? lua_type_name(t->type) : "nil");
	if (depth > MAX_XML_DEPTH)
		return conv_fail(cv, t, "elements nested deeper than %d",
		    MAX_XML_DEPTH);
	name = lua_cstr(lua_get(t, "name"));
	if (!name_ok(name))
		return conv_fail(cv, t, "an element without a valid name");
	attr = lua_get(t, "attr");
	if (attr != NULL && !lua_is_table(attr))
		return conv_fail(cv, attr, "attr of <%.64s> is not a table",
		    name);
	if ((xmlns = lua_get(attr, "xmlns")) != NULL) {
		ns = lua_cstr(xmlns);
		if (ns == NULL || !cstr_ok(ns))
			return conv_fail(cv, xmlns, "bad xmlns on <%.64s>",
			    name);
	}
	el = parent != NULL ? xml_add(parent, name, ns) : xml_new(a, name, ns);
	if (conv_attrs(cv, el, attr) == -1)
		return NULL;
	/* Children are the positional entries 1..n, in order. */
	kids = xcalloc(t->nfields ? t->nfields : 1, sizeof *kids);
	for (size_t i = 0; i < t->nfields; i++)
		if (t->fields[i].key.type == LUA_T_NUMBER &&
		    t->fields[i].key.is_integer)
			kids[nk++] = &t->fields[i];
	qsort(kids, nk, sizeof *kids, cmp_field_index);
	for (size_t i = 0; i < nk; i++) {
		const struct lua_value *c = &kids[i]->value;

		if (kids[i]->key.integer != (int64_t)i + 1) {
			free(kids);
			return conv_fail(cv, c, "children of <%.64s> are not "
			    "numbered 1, 2, 3 ...", name);
		}
		if (c->type == LUA_T_STRING) {
			if (!text_ok(c->str, c->len)) {
				free(kids);
				return conv_fail(cv, c, "text in <%.64s> is "
				    "not valid XML text (bad UTF-8 or control "
				    "characters)", name);
			}
			if (c->len > 0)
				xml_add_text(el, c->str, c->len);
		} else if (c->type == LUA_T_TABLE) {
			if (conv_element(cv, a, el, c, el->ns,
			    depth + 1) == NULL) {
				free(kids);
				return NULL;
			}
		} else {
			free(kids);
			return conv_fail(cv, c, "a %s among the children of "
			    "<%.64s>", lua_type_name(c->type), name);
		}
	}
	free(kids);
	return el;
}

/*
 * Serialize root and a newline into b, then parse the bytes back with the
 * limits their reader uses.  0, or -1 with a reason (b is then freed).
 */
static int
render(const struct xml_node *root, const struct xml_limits *lim,
    struct buf *b, char *why, size_t whylen)
{
	struct xml_node *back;
	char err[200];

	buf_init(b, lim->max_stanza);
	if (xml_serialize(root, b, NULL) == -1 || buf_addstr(b, "\n") == -1) {
		snprintf(why, whylen, "larger than %zu bytes once written",
		    lim->max_stanza);
		buf_free(b);
		return -1;
	}
	back = xml_parse_document(buf_head(b), buf_used(b), lim, err,
	    sizeof err);
	if (back == NULL) {
		snprintf(why, whylen, "would not read back (%s)", err);
		buf_free(b);
		return -1;
	}
	xml_arena_free(back->arena);
	return 0;
}

/* Write one file of the account (nothing in a dry run).  0 / -1 (reported). */
static int
put(struct imp *im, struct user *u, const char *name, struct buf *b,
    const char *src)
{
	int rc = 0;

	if (!im->dry_run && store_write(im->host, u->local, name, buf_head(b),
	    buf_used(b)) == -1) {
		problem(im, src, 0, "cannot write %s for %s: %s", name, u->bare,
		    strerror(errno));
		rc = -1;
	}
	buf_free(b);
	return rc;
}

/* ---- accounts ---- */

static int
unhex(const char *s, unsigned char *out, size_t n)
{
	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi * 16 + lo);
	}
	return 0;
}

/*
 * Credentials from an accounts/<user>.dat table.  A plaintext password
 * (internal_plain) becomes fresh keys for every hash; SCRAM-SHA-1 keys
 * (internal_hashed) are carried over as they are, so the password never
 * has to be known.  0 with *plain set, or -1 with a reason.
 */
static int
creds_from(const struct lua_value *t, struct account_creds *cr, int *plain,
    const struct lua_value **bad, char *why, size_t whylen)
{
	const struct lua_value *pw, *sk, *vk, *salt, *iter;
	struct scram_key *k = &cr->key[SCRAM_SHA1];
	int64_t it;

	memset(cr, 0, sizeof *cr);
	*bad = t;
	if (!lua_is_table(t)) {
		snprintf(why, whylen, "the account is a %s, not a table",
		    lua_type_name(t->type));
		return -1;
	}
	if ((pw = lua_get(t, "password")) != NULL) {
		*bad = pw;
		*plain = 1;
		if (lua_cstr(pw) == NULL || pw->len == 0 ||
		    pw->len > PASSWORD_MAX) {
			snprintf(why, whylen, "the password is not a string "
			    "of 1 to %d bytes without NUL", PASSWORD_MAX);
			return -1;
		}
		if (account_creds_make(pw->str, SCRAM_DEFAULT_ITER, cr) == -1) {
			snprintf(why, whylen, "cannot derive keys from the "
			    "password");
			return -1;
		}
		return 0;
	}
	*plain = 0;
	sk = lua_get(t, "stored_key");
	vk = lua_get(t, "server_key");
	salt = lua_get(t, "salt");
	iter = lua_get(t, "iteration_count");
	if (sk == NULL || vk == NULL || salt == NULL || iter == NULL) {
		snprintf(why, whylen, "neither a password nor the SCRAM-SHA-1 "
		    "stored_key, server_key, salt and iteration_count");
		return -1;
	}
	if (unhex(lua_cstr(sk), k->stored_key, br_sha1_SIZE) == -1) {
		*bad = sk;
		snprintf(why, whylen, "stored_key is not 40 hex digits");
		return -1;
	}
	if (unhex(lua_cstr(vk), k->server_key, br_sha1_SIZE) == -1) {
		*bad = vk;
		snprintf(why, whylen, "server_key is not 40 hex digits");
		return -1;
	}
	if (salt->type != LUA_T_STRING || salt->len == 0 ||
	    salt->len > sizeof k->salt) {
		*bad = salt;
		snprintf(why, whylen, "salt is not a string of 1 to %zu bytes",
		    sizeof k->salt);
		return -1;
	}
	if (!lua_is_int(iter, &it) || it < 1 || it > UINT_MAX) {
		*bad = iter;
		snprintf(why, whylen, "iteration_count is not a positive "
		    "integer");
		return -1;
	}
	memcpy(k->salt, salt->str, salt->len);
	k->salt_len = salt->len;
	k->iter = (unsigned)it;
	k->present = 1;
	return 0;
}

/* ---- rosters ---- */

/* A JID Prosody stored, normalised by xmppd's rules into out. */
static int
bare_jid(const char *s, char *out, size_t outlen)
{
	struct jid j;

	if (s == NULL || jid_parse(&j, s) == -1 || j.resource[0] != '\0')
		return -1;
	return jid_bare(&j, out, outlen);
}

static void
add_pending(struct imp *im, const char *path, struct user *u,
    struct xml_node *root, const struct lua_value *set)
{
	char jid[JID_MAX + 1];
	struct xml_node *p;

	for (size_t i = 0; set != NULL && i < set->nfields; i++) {
		const struct lua_field *f = &set->fields[i];

		if (bare_jid(lua_cstr(&f->key), jid, sizeof jid) == -1) {
			problem(im, path, f->value.line, "pending request from "
			    "an invalid JID");
			continue;
		}
		/* Twice under different spellings: one record. */
		for (p = xml_child(root, "pending", NULL); p != NULL;
		    p = xml_next(p, "pending", NULL))
			if (strcmp(xml_attr(p, "jid"), jid) == 0)
				break;
		if (p != NULL)
			continue;
		p = xml_add(root, "pending", NULL);
		xml_set_attr(p, "jid", jid);
		u->pending++;
	}
}

/* One contact; 0, or -1 with a reason in cv. */
static int
roster_item(struct conv *cv, struct xml_node *root, const char *jid,
    const struct lua_value *it)
{
	static const char *const subs[] = {
		"none", "to", "from", "both", NULL
	};
	const struct lua_value *v, *groups;
	const char *sub = "none", *name = NULL, *s;
	struct xml_node *item;
	size_t i;

	if (!lua_is_table(it)) {
		conv_fail(cv, it, "contact %s is a %s, not a table", jid,
		    lua_type_name(it->type));
		return -1;
	}
	if ((v = lua_get(it, "subscription")) != NULL) {
		sub = lua_cstr(v);
		for (i = 0; sub != NULL && subs[i] != NULL; i++)
			if (strcmp(sub, subs[i]) == 0)
				break;
		if (sub == NULL || subs[i] == NULL) {
			conv_fail(cv, v, "contact %s: unknown subscription",
			    jid);
			return -1;
		}
	}
	if ((v = lua_get(it, "name")) != NULL) {
		name = lua_cstr(v);
		if (name == NULL || !cstr_ok(name)) {
			conv_fail(cv, v, "contact %s: the name is not text",
			    jid);
			return -1;
		}
	}
	groups = lua_get(it, "groups");
	if (groups != NULL && !lua_is_table(groups)) {
		conv_fail(cv, groups, "contact %s: groups is not a table", jid);
		return -1;
	}
	item = xml_add(root, "item", NULL);
	xml_set_attr(item, "jid", jid);
	if (name != NULL && *name != '\0')
		xml_set_attr(item, "name", name);
	xml_set_attr(item, "subscription", sub);
	if ((v = lua_get(it, "ask")) != NULL && (s = lua_cstr(v)) != NULL &&
	    strcmp(s, "subscribe") == 0)
		xml_set_attr(item, "ask", "subscribe");
	v = lua_get(it, "approved");
	if ((v != NULL && v->type == LUA_T_BOOLEAN && v->boolean) ||
	    ((s = lua_cstr(v)) != NULL && strcmp(s, "true") == 0))
		xml_set_attr(item, "approved", "true");
	/* Groups are a set, { ["Friends"] = true }; a list does too. */
	for (i = 0; groups != NULL && i < groups->nfields; i++) {
		const struct lua_field *f = &groups->fields[i];

		s = f->key.type == LUA_T_STRING ? lua_cstr(&f->key) :
		    lua_cstr(&f->value);
		if (f->key.type == LUA_T_STRING && !(f->value.type ==
		    LUA_T_BOOLEAN && f->value.boolean))
			continue;	/* [name] = false: not a member */
		if (s == NULL || *s == '\0' || !cstr_ok(s)) {
			xml_remove(item);
			conv_fail(cv, &f->value, "contact %s: a group name is "
			    "not text", jid);
			return -1;
		}
		xml_add_text_child(item, "group", NULL, s);
	}
	return 0;
}

/* A contact and its place in the file. */
struct twin {
	struct xml_node	*item;
	size_t		 pos;
};

static int
cmp_twin(const void *a, const void *b)
{
	const struct twin *x = a, *y = b;
	int r = strcmp(xml_attr(x->item, "jid"), xml_attr(y->item, "jid"));

	if (r == 0)
		r = x->pos < y->pos ? -1 : x->pos > y->pos;
	return r;
}

/*
 * Two contacts Prosody kept apart can be one JID for xmppd (keys not in
 * normal form): the first one in the file stays, the others are errors.
 */
static void
drop_twins(struct imp *im, const char *path, struct user *u,
    struct xml_node *root)
{
	struct twin *v;
	struct xml_node *it;
	size_t n = 0, i;

	for (it = xml_child(root, "item", NULL); it != NULL;
	    it = xml_next(it, "item", NULL))
		n++;
	if (n < 2)
		return;
	v = xcalloc(n, sizeof *v);
	n = 0;
	for (it = xml_child(root, "item", NULL); it != NULL;
	    it = xml_next(it, "item", NULL)) {
		v[n].item = it;
		v[n].pos = n;
		n++;
	}
	qsort(v, n, sizeof *v, cmp_twin);
	for (i = 1; i < n; i++)
		if (strcmp(xml_attr(v[i - 1].item, "jid"),
		    xml_attr(v[i].item, "jid")) == 0) {
			problem(im, path, 0, "contact %s appears twice once "
			    "its JID is normalised",
			    xml_attr(v[i].item, "jid"));
			xml_remove(v[i].item);
			u->items--;
		}
	free(v);
}

static void
import_roster(struct imp *im, struct user *u)
{
	char path[PATH_MAX], jid[JID_MAX + 1], ver[32], why[256];
	const struct lua_value *t, *meta, *legacy = NULL, *s;
	struct xml_node *root;
	struct lua_doc *doc;
	struct conv cv;
	struct buf b;
	int64_t version = 0;
	int missing;

	if (path_fmt(path, sizeof path, "%s/roster/%s.dat", im->hostdir,
	    u->stem) == -1)
		return;
	if ((doc = load_lua(im, path, LUA_MODE_RETURN, &missing)) == NULL)
		return;
	t = lua_doc_value(doc, 0);
	if (!lua_is_table(t)) {
		problem(im, path, t->line, "the roster is a %s, not a table",
		    lua_type_name(t->type));
		lua_doc_free(doc);
		return;
	}
	root = xml_new(xml_arena_new(), "roster", NS_ROSTER);
	xml_set_attr(root, "version", "1");
	meta = lua_get_bool(t, 0);
	if (lua_is_int(lua_get(meta, "version"), &version) && version < 0)
		version = 0;
	/* One more than Prosody's: a client's cached copy is fetched again. */
	if (version < INT64_MAX)
		version++;
	snprintf(ver, sizeof ver, "%" PRId64, version);
	xml_set_attr(root, "ver", ver);
	for (size_t i = 0; i < t->nfields; i++) {
		const struct lua_field *f = &t->fields[i];
		const char *k = lua_cstr(&f->key);

		if (f->key.type == LUA_T_BOOLEAN)
			continue;	/* the metadata, read above */
		/* Before 0.10 pending requests were a "pending" entry. */
		if (k != NULL && strcmp(k, "pending") == 0 &&
		    lua_is_table(&f->value) &&
		    ((s = lua_get(&f->value, "subscription")) == NULL ||
		    s->type != LUA_T_STRING)) {
			legacy = &f->value;
			continue;
		}
		if (bare_jid(k, jid, sizeof jid) == -1) {
			problem(im, path, f->value.line, "contact \"%.64s\" is "
			    "not a valid bare JID", k ? k : "(not a string)");
			continue;
		}
		if (strcmp(jid, u->bare) == 0)
			continue;	/* Prosody drops self-contacts too */
		memset(&cv, 0, sizeof cv);
		if (roster_item(&cv, root, jid, &f->value) == -1) {
			problem(im, path, cv.line, "%s", cv.why);
			continue;
		}
		u->items++;
	}
	if (lua_is_table(lua_get(meta, "pending")))
		add_pending(im, path, u, root, lua_get(meta, "pending"));
	if (legacy != NULL)
		add_pending(im, path, u, root, legacy);
	lua_doc_free(doc);
	drop_twins(im, path, u, root);
	if (render(root, &roster_limits, &b, why, sizeof why) == -1)
		problem(im, path, 0, "the roster %s", why);
	else if (put(im, u, "roster", &b, path) == 0)
		u->roster = 1;
	xml_arena_free(root->arena);
}

/* ---- vCards ---- */

/*
 * The hash modules/vcard.c keeps with a vCard: SHA-1 (hex) of the decoded
 * PHOTO/BINVAL, white space removed.  1 with hex, 0 if there is no photo
 * or it is not base64.
 */
static int
photo_hash(const struct xml_node *vcard, char hex[2 * br_sha1_SIZE + 1])
{
	const struct xml_node *photo, *binval;
	const char *t;
	unsigned char *bin;
	char *b64;
	size_t n = 0;
	ssize_t len;

	photo = xml_child(vcard, "PHOTO", NS_VCARD);
	binval = photo ? xml_child(photo, "BINVAL", NS_VCARD) : NULL;
	if (binval == NULL)
		return 0;
	t = xml_text(binval);
	b64 = xmalloc(strlen(t) + 1);
	for (; *t != '\0'; t++)
		if (strchr(" \t\r\n", *t) == NULL)
			b64[n++] = *t;
	bin = xmalloc(n / 4 * 3 + 3);
	len = n > 0 ? b64_decode(b64, n, bin, n / 4 * 3 + 3) : -1;
	free(b64);
	if (len >= 0)
		sha1_hex(bin, (size_t)len, hex);
	free(bin);
	return len >= 0;
}

/* Nothing in the vCard but white space? */
static int
vcard_is_empty(const struct xml_node *v)
{
	for (const struct xml_node *c = v->children; c != NULL; c = c->next) {
		if (c->name != NULL)
			return 0;
		for (size_t i = 0; i < c->text_len; i++)
			if (strchr(" \t\r\n", c->text[i]) == NULL)
				return 0;
	}
	return 1;
}

/* The built PEP node named node, or NULL. */
static struct xml_node *
pep_node(const struct user *u, const char *node)
{
	for (size_t i = 0; i < u->npep; i++)
		if (strcmp(xml_attr(u->pep[i], "name"), node) == 0)
			return u->pep[i];
	return NULL;
}

/* The payload of the newest item of a PEP node (or of the item with id). */
static struct xml_node *
pep_payload(const struct user *u, const char *node, const char *id)
{
	struct xml_node *n = pep_node(u, node), *it, *last = NULL;

	for (it = n ? xml_child(n, "item", NS_PEP_STORE) : NULL; it != NULL;
	    it = xml_next(it, "item", NS_PEP_STORE))
		if (id == NULL || (xml_attr(it, "id") != NULL &&
		    strcmp(xml_attr(it, "id"), id) == 0))
			last = it;
	return last ? xml_first_element(last) : NULL;
}

/* Text of the first child named name of el, and of its child sub if given. */
static const char *
v4_text(const struct xml_node *el, const char *name, const char *sub)
{
	const struct xml_node *c = el ? xml_child(el, name, NS_VCARD4) : NULL;

	if (c != NULL && sub != NULL)
		c = xml_child(c, sub, NS_VCARD4);
	if (c == NULL)
		return NULL;
	return xml_text(c);
}

static void
add_if(struct xml_node *parent, const char *name, const char *text)
{
	if (text != NULL && *text != '\0')
		xml_add_text_child(parent, name, NULL, text);
}

/* HOME or WORK from vCard4 <parameters><type><text>. */
static void
v4_kind(struct xml_node *out, const struct xml_node *in)
{
	const struct xml_node *p = xml_child(in, "parameters", NS_VCARD4);
	const char *t = v4_text(p, "type", "text");

	if (t != NULL && strcmp(t, "home") == 0)
		xml_add(out, "HOME", NULL);
	else if (t != NULL && strcmp(t, "work") == 0)
		xml_add(out, "WORK", NULL);
}

/*
 * vCard4 (XEP-0292, as mod_vcard4/mod_vcard_legacy keep it in PEP) back to
 * vcard-temp, field by field as mod_vcard_legacy maps them, with the
 * avatar from the XEP-0084 nodes as PHOTO.
 */
static struct xml_node *
vcard_from_pep(const struct user *u, struct xml_node *parent)
{
	static const struct {
		const char *v4, *sub, *temp;
	} simple[] = {
		{ "nickname", "text", "NICKNAME" },
		{ "title", "text", "TITLE" },
		{ "role", "text", "ROLE" }, { "note", "text", "DESC" },
		{ "url", "uri", "URL" }, { "bday", "date", "BDAY" },
	};
	static const struct {
		const char *v4, *temp;
	} adr[] = {
		{ "pobox", "POBOX" }, { "ext", "EXTADD" },
		{ "street", "STREET" },
		{ "locality", "LOCALITY" }, { "region", "REGION" },
		{ "code", "PCODE" }, { "country", "CTRY" },
	};
	const struct xml_node *v4, *meta, *info, *data, *c;
	struct xml_node *v, *e;
	const char *t;

	v4 = pep_payload(u, NODE_VCARD4, NULL);
	meta = pep_payload(u, NODE_AVATAR_META, NULL);
	info = meta ? xml_child(meta, "info", NODE_AVATAR_META) : NULL;
	data = pep_payload(u, NODE_AVATAR_DATA,
	    info ? xml_attr(info, "id") : NULL);
	if (v4 != NULL && !xml_is(v4, "vcard", NS_VCARD4))
		v4 = NULL;
	if (data != NULL && !xml_is(data, "data", "urn:xmpp:avatar:data"))
		data = NULL;
	if (v4 == NULL && data == NULL)
		return NULL;
	v = xml_add(parent, "vCard", NS_VCARD);
	add_if(v, "FN", v4_text(v4, "fn", "text"));
	if ((c = v4 ? xml_child(v4, "n", NS_VCARD4) : NULL) != NULL) {
		e = xml_add(v, "N", NULL);
		add_if(e, "FAMILY", v4_text(c, "surname", NULL));
		add_if(e, "GIVEN", v4_text(c, "given", NULL));
		add_if(e, "MIDDLE", v4_text(c, "additional", NULL));
		add_if(e, "PREFIX", v4_text(c, "prefix", NULL));
		add_if(e, "SUFFIX", v4_text(c, "suffix", NULL));
	}
	for (c = v4 ? xml_first_element(v4) : NULL; c != NULL;
	    c = xml_next(c, NULL, NULL)) {
		if (strcmp(c->ns, NS_VCARD4) != 0)
			continue;
		for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
			if (strcmp(c->name, simple[i].v4) == 0)
				add_if(v, simple[i].temp, xml_child_text(c,
				    simple[i].sub, NS_VCARD4));
		if (strcmp(c->name, "email") == 0 &&
		    (t = xml_child_text(c, "text", NS_VCARD4)) != NULL && *t) {
			e = xml_add(v, "EMAIL", NULL);
			xml_add(e, "INTERNET", NULL);
			v4_kind(e, c);
			xml_add_text_child(e, "USERID", NULL, t);
		} else if (strcmp(c->name, "tel") == 0 &&
		    (t = xml_child_text(c, "uri", NS_VCARD4)) != NULL && *t) {
			e = xml_add(v, "TEL", NULL);
			v4_kind(e, c);
			xml_add_text_child(e, "NUMBER", NULL,
			    strncmp(t, "tel:", 4) == 0 ? t + 4 : t);
		} else if (strcmp(c->name, "adr") == 0) {
			e = xml_add(v, "ADR", NULL);
			v4_kind(e, c);
			for (size_t i = 0; i < sizeof adr / sizeof adr[0]; i++)
				add_if(e, adr[i].temp, xml_child_text(c,
				    adr[i].v4, NS_VCARD4));
		} else if (strcmp(c->name, "impp") == 0 &&
		    (t = xml_child_text(c, "uri", NS_VCARD4)) != NULL &&
		    strncmp(t, "xmpp:", 5) == 0 && t[5] != '\0') {
			xml_add_text_child(v, "JABBERID", NULL, t + 5);
		} else if (strcmp(c->name, "org") == 0 &&
		    (t = xml_child_text(c, "text", NS_VCARD4)) != NULL && *t) {
			e = xml_add(v, "ORG", NULL);
			xml_add_text_child(e, "ORGNAME", NULL, t);
		}
	}
	if (data != NULL && *(t = xml_text(data)) != '\0') {
		e = xml_add(v, "PHOTO", NULL);
		if (info != NULL && xml_attr(info, "type") != NULL)
			xml_add_text_child(e, "TYPE", NULL,
			    xml_attr(info, "type"));
		xml_add_text_child(e, "BINVAL", NULL, t);
	}
	return v;
}

static void
import_vcard(struct imp *im, struct user *u)
{
	char path[PATH_MAX], why[256], hex[2 * br_sha1_SIZE + 1];
	struct xml_node *root, *v = NULL;
	struct lua_doc *doc;
	struct conv cv;
	struct buf b;
	int missing, from_pep = 0;

	if (path_fmt(path, sizeof path, "%s/vcard/%s.dat", im->hostdir,
	    u->stem) == -1)
		return;
	root = xml_new(xml_arena_new(), "store", NS_VCARD);
	xml_set_attr(root, "version", "1");
	doc = load_lua(im, path, LUA_MODE_RETURN, &missing);
	if (doc != NULL) {
		memset(&cv, 0, sizeof cv);
		v = conv_element(&cv, NULL, root, lua_doc_value(doc, 0), "", 1);
		if (v == NULL)
			problem(im, path, cv.line, "the vCard: %s", cv.why);
		else if (!xml_is(v, "vCard", NS_VCARD)) {
			problem(im, path, lua_doc_value(doc, 0)->line, "not a "
			    "vcard-temp <vCard/> but <%s xmlns='%s'>", v->name,
			    v->ns);
			v = NULL;
		}
		lua_doc_free(doc);
	} else if (missing) {
		/* mod_vcard_legacy keeps it in PEP; the path names the node. */
		if (path_fmt(path, sizeof path,
		    "%s/pep_urn%%3axmpp%%3avcard4/%s.list", im->hostdir,
		    u->stem) == -1)
			path[0] = '\0';
		if ((v = vcard_from_pep(u, root)) != NULL)
			from_pep = 1;
	}
	if (v == NULL || vcard_is_empty(v)) {
		xml_arena_free(root->arena);
		return;
	}
	if (photo_hash(v, hex))
		xml_set_attr(root, "photo", hex);
	if (render(root, &vcard_limits, &b, why, sizeof why) == -1)
		problem(im, path, 0, "the vCard %s", why);
	else {
		/* The photo hash cache is rebuilt from the new vCard. */
		if (!im->dry_run && store_remove(im->host, u->local,
		    "vcard-photo") == -1) {
			problem(im, path, 0, "cannot remove the old "
			    "vcard-photo of %s: %s", u->bare, strerror(errno));
			buf_free(&b);
		} else if (put(im, u, "vcard", &b, path) == 0) {
			u->vcard = 1;
			u->vcard_pep = from_pep;
		}
	}
	xml_arena_free(root->arena);
}

/* ---- private XML ---- */

/* XEP-0049 2.3: namespaces nobody may store under (as private.c says). */
static int
ns_is_reserved(const char *ns)
{
	return strncmp(ns, "jabber:", 7) == 0 ||
	    strncmp(ns, "http://jabber.org/", 18) == 0 ||
	    strcmp(ns, "vcard-temp") == 0;
}

static int
frag_is_empty(const struct xml_node *el)
{
	return el->attrs == NULL && vcard_is_empty(el);
}

/*
 * Write one fragment (el, a child of root) as modules/private.c keeps it:
 * private/<store_escape("name|namespace")>.  0, or -1 (reported).
 */
static int
write_private(struct imp *im, struct user *u, const char *path, unsigned line,
    const struct xml_node *root, const struct xml_node *el)
{
	char file[PATH_MAX], why[256], *key;
	size_t nl = strlen(el->name), sl = strlen(el->ns);
	struct buf b;
	int rc = -1;

	key = xmalloc(nl + sl + 2);
	memcpy(key, el->name, nl);
	key[nl] = '|';
	memcpy(key + nl + 1, el->ns, sl + 1);
	if (keyed_file("private", key, nl + sl + 1, file, sizeof file) == -1)
		problem(im, path, line, "no file name for <%s xmlns='%s'>",
		    el->name, el->ns);
	else if (render(root, &private_limits, &b, why, sizeof why) == -1)
		problem(im, path, line, "private <%s xmlns='%s'> %s", el->name,
		    el->ns, why);
	else if (put(im, u, file, &b, path) == 0) {
		u->privates++;
		if (xml_is(el, "storage", NS_LEGACY_BM))
			u->private_bm = 1;
		rc = 0;
	}
	free(key);
	return rc;
}

static void
import_private(struct imp *im, struct user *u)
{
	char path[PATH_MAX];
	const struct lua_value *t;
	struct xml_node *root, *el;
	struct lua_doc *doc;
	struct conv cv;
	int missing;

	if (path_fmt(path, sizeof path, "%s/private/%s.dat", im->hostdir,
	    u->stem) == -1)
		return;
	if ((doc = load_lua(im, path, LUA_MODE_RETURN, &missing)) == NULL)
		return;
	t = lua_doc_value(doc, 0);
	if (!lua_is_table(t)) {
		problem(im, path, t->line, "private data is a %s, not a table",
		    lua_type_name(t->type));
		lua_doc_free(doc);
		return;
	}
	for (size_t i = 0; i < t->nfields; i++) {
		const struct lua_field *f = &t->fields[i];

		root = xml_new(xml_arena_new(), "query", NS_PRIVATE);
		xml_set_attr(root, "version", "1");
		memset(&cv, 0, sizeof cv);
		el = conv_element(&cv, NULL, root, &f->value, "", 1);
		if (el == NULL)
			problem(im, path, cv.line, "private data: %s", cv.why);
		else if (el->ns[0] == '\0' || ns_is_reserved(el->ns))
			note(im, "%s:%u: private <%s xmlns='%s'> of %s: xmppd "
			    "does not store %s", path, f->value.line, el->name,
			    el->ns, u->bare, el->ns[0] ? "reserved namespaces" :
			    "elements without a namespace");
		else if (!frag_is_empty(el))	/* as private.c: none */
			write_private(im, u, path, f->value.line, root, el);
		xml_arena_free(root->arena);
	}
	lua_doc_free(doc);
}

/*
 * Bookmarks Prosody kept only in the XEP-0048 PEP node storage:bookmarks
 * (XEP-0411): xmppd serves that node from urn:xmpp:bookmarks:1 and copies
 * XEP-0048 bookmarks from private XML into it at the next login, so they
 * go to private XML unless a private copy was imported already.
 */
static void
import_legacy_bookmarks(struct imp *im, struct user *u)
{
	struct xml_node *it, *last = NULL, *st, *root;
	char path[PATH_MAX];

	if (u->legacy_bm == NULL || u->private_bm)
		return;
	for (it = xml_child(u->legacy_bm, "item", NULL); it != NULL;
	    it = xml_next(it, "item", NULL))
		last = it;
	st = last ? xml_first_element(last) : NULL;
	if (st == NULL || !xml_is(st, "storage", NS_LEGACY_BM) ||
	    frag_is_empty(st))
		return;
	if (path_fmt(path, sizeof path, "%s/pep_storage%%3abookmarks/%s.list",
	    im->hostdir, u->stem) == -1)
		path[0] = '\0';
	root = xml_new(xml_arena_new(), "query", NS_PRIVATE);
	xml_set_attr(root, "version", "1");
	write_private(im, u, path, 0, root, xml_append_copy(root, st));
	xml_arena_free(root->arena);
}

/* ---- offline messages ---- */

static void
import_offline(struct imp *im, struct user *u)
{
	char path[PATH_MAX], name[64], stamp[32], why[256];
	const struct lua_value *it;
	struct xml_node *m, *d;
	struct lua_doc *doc;
	struct conv cv;
	struct buf b;
	double when;
	int64_t secs;
	uint64_t us;
	int missing;

	if (path_fmt(path, sizeof path, "%s/offline/%s.list", im->hostdir,
	    u->stem) == -1)
		return;
	if ((doc = load_lua(im, path, LUA_MODE_ITEMS, &missing)) == NULL)
		return;
	for (size_t i = 0; i < lua_doc_count(doc); i++) {
		struct xml_arena *a = xml_arena_new();

		it = lua_doc_value(doc, i);
		memset(&cv, 0, sizeof cv);
		if ((m = conv_element(&cv, a, NULL, it, NS_CLIENT, 1)) ==
		    NULL) {
			problem(im, path, cv.line, "offline message: %s",
			    cv.why);
			xml_arena_free(a);
			continue;
		}
		if (!xml_is(m, "message", NS_CLIENT)) {
			problem(im, path, it->line, "offline item is <%s "
			    "xmlns='%s'>, not a message", m->name, m->ns);
			xml_arena_free(m->arena);
			continue;
		}
		/* Storage bookkeeping, not part of the stanza. */
		secs = parse_stamp(xml_attr(m, "stamp"));
		xml_set_attr(m, "stamp", NULL);
		xml_set_attr(m, "stamp_legacy", NULL);
		if (when_of(lua_get(it, "when"), &when))
			;
		else if (secs >= 0)
			when = (double)secs;
		else
			when = (double)wall_time();
		/* What mod_offline adds on delivery (XEP-0203). */
		format_xep82((int64_t)when, stamp, sizeof stamp);
		d = xml_add(m, "delay", NS_DELAY);
		xml_set_attr(d, "from", im->host);
		xml_set_attr(d, "stamp", stamp);
		/* offline.c's names: microseconds, then a counter; the same
		 * file for the same message however often we import. */
		us = (uint64_t)(when * 1e6);
		snprintf(name, sizeof name, "offline/%016" PRIx64 "-%08zx", us,
		    (i + 1) & 0xffffffffu);
		if (render(m, &im->offline_limits, &b, why, sizeof why) == -1)
			problem(im, path, it->line, "offline message %s", why);
		else if (put(im, u, name, &b, path) == 0)
			u->offline++;
		xml_arena_free(m->arena);
	}
	lua_doc_free(doc);
	if (u->offline > im->cfg->limits.max_offline_messages)
		printf("note: %s has %zu offline messages, more than "
		    "[limits] max_offline_messages (%u): all are kept, and "
		    "new ones wait until these are delivered\n", u->bare,
		    u->offline,
		    im->cfg->limits.max_offline_messages);
}

/* ---- PEP ---- */

/*
 * A node's configuration in modules/pep.c's terms: <config/> with
 * attributes, starting from the PEP defaults both servers share (XEP-0163
 * section 7), then what Prosody stored.  Prosody's "authorize" model,
 * which xmppd lacks, becomes the stricter "whitelist".
 */
static void
pep_config(struct imp *im, const char *path, struct xml_node *node,
    const struct lua_value *cfg)
{
	static const struct {
		const char *prosody, *xmppd;
	} bools[] = {
		{ "deliver_notifications", "deliver_notifications" },
		{ "deliver_payloads", "deliver_payloads" },
		{ "notify_retract", "notify_retract" },
		{ "notify_delete", "notify_delete" },
	}, names[] = {
		{ "send_last_published_item", "send_last" },
		{ "notification_type", "notification_type" },
		{ "title", "title" },
		{ "description", "description" },
	};
	const struct lua_value *v, *groups;
	struct xml_node *c;
	const char *s;
	char num[32];
	int64_t n;

	c = xml_add(node, "config", NULL);
	xml_set_attr(c, "access", "presence");
	xml_set_attr(c, "max_items", "1");
	xml_set_attr(c, "send_last", "on_sub_and_presence");
	xml_set_attr(c, "notification_type", "headline");
	for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
		xml_set_attr(c, bools[i].xmppd, "1");
	if ((s = lua_cstr(lua_get(cfg, "access_model"))) != NULL) {
		if (strcmp(s, "open") == 0 || strcmp(s, "presence") == 0 ||
		    strcmp(s, "roster") == 0 || strcmp(s, "whitelist") == 0)
			xml_set_attr(c, "access", s);
		else {
			xml_set_attr(c, "access", "whitelist");
			note(im, "%s: node %s: access model '%.32s' is not "
			    "known to xmppd; the node is whitelist now", path,
			    xml_attr(node, "name"), cstr_ok(s) ? s : "?");
		}
	}
	v = lua_get(cfg, "max_items");
	if ((s = lua_cstr(v)) != NULL && strcmp(s, "max") == 0)
		xml_set_attr(c, "max_items", "max");
	else if (lua_is_int(v, &n) && n > 0 && n <= 1000000000) {
		snprintf(num, sizeof num, "%" PRId64, n);
		xml_set_attr(c, "max_items", num);
	}
	for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
		if ((v = lua_get(cfg, bools[i].prosody)) != NULL &&
		    v->type == LUA_T_BOOLEAN)
			xml_set_attr(c, bools[i].xmppd, v->boolean ? "1" : "0");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if ((s = lua_cstr(lua_get(cfg, names[i].prosody))) != NULL &&
		    *s != '\0' && cstr_ok(s))
			xml_set_attr(c, names[i].xmppd, s);
	/* A list of group names, or a set of them. */
	groups = lua_get(cfg, "roster_groups_allowed");
	for (size_t i = 0; lua_is_table(groups) && i < groups->nfields; i++) {
		const struct lua_field *f = &groups->fields[i];
		s = f->key.type == LUA_T_STRING ? lua_cstr(&f->key) :
		    lua_cstr(&f->value);
		if (s != NULL && *s != '\0' && cstr_ok(s))
			xml_add_text_child(c, "group", NULL, s);
	}
}

/* Who else may see or gets the node: affiliations and subscriptions. */
static void
pep_people(struct user *u, struct xml_node *node, const struct lua_value *nc)
{
	static const char *const affs[] = {
		"member", "publisher", "outcast", NULL
	};
	const struct lua_value *t;
	struct xml_node *e;
	char jid[JID_MAX + 1], hex[2 * br_sha1_SIZE + 1], *key;
	const char *a, *j;
	size_t i, k, nl, jl;

	t = lua_get(nc, "affiliations");
	for (i = 0; lua_is_table(t) && i < t->nfields; i++) {
		j = lua_cstr(&t->fields[i].key);
		a = lua_cstr(&t->fields[i].value);
		for (k = 0; a != NULL && affs[k] != NULL &&
		    strcmp(a, affs[k]) != 0; k++)
			;
		if (a == NULL || affs[k] == NULL || j == NULL ||
		    jid_normalize(j, jid, sizeof jid) == -1 ||
		    strcmp(jid, u->bare) == 0)
			continue;	/* "owner" is the account itself */
		e = xml_add(node, "affiliation", NULL);
		xml_set_attr(e, "jid", jid);
		xml_set_attr(e, "affiliation", a);
	}
	t = lua_get(nc, "subscribers");
	for (i = 0; lua_is_table(t) && i < t->nfields; i++) {
		j = lua_cstr(&t->fields[i].key);
		if (j == NULL || jid_normalize(j, jid, sizeof jid) == -1)
			continue;
		/* A subscription id that stays the same on every import. */
		a = xml_attr(node, "name");
		nl = strlen(a);
		jl = strlen(jid);
		key = xmalloc(nl + jl + 2);
		memcpy(key, a, nl);
		key[nl] = '\n';
		memcpy(key + nl + 1, jid, jl + 1);
		sha1_hex(key, nl + jl + 1, hex);
		free(key);
		hex[24] = '\0';
		e = xml_add(node, "subscription", NULL);
		xml_set_attr(e, "jid", jid);
		xml_set_attr(e, "subid", hex);
	}
}

/* Items of one node from its .list file into node.  0, or -1 (reported). */
static int
pep_items(struct imp *im, struct user *u, struct xml_node *node,
    const char *path, size_t max_items, size_t *count)
{
	const struct lua_value *it, *payload, *idv;
	struct xml_node *item, *old, *next, *pl;
	struct lua_doc *doc;
	struct conv cv;
	char id[32], stamp[32];
	const char *ids, *xmlns;
	double when;
	size_t n = 0;
	int missing;

	if ((doc = load_lua(im, path, LUA_MODE_ITEMS, &missing)) == NULL)
		return missing ? 0 : -1;
	for (size_t i = 0; i < lua_doc_count(doc); i++) {
		it = payload = lua_doc_value(doc, i);
		idv = lua_get(it, "key");
		/* An item kept whole: its one child is the payload. */
		ids = lua_cstr(lua_get(it, "name"));
		xmlns = lua_cstr(lua_get(lua_get(it, "attr"), "xmlns"));
		if (ids != NULL && strcmp(ids, "item") == 0 && xmlns != NULL &&
		    strcmp(xmlns, NS_PUBSUB) == 0) {
			if (idv == NULL)
				idv = lua_get(lua_get(it, "attr"), "id");
			payload = lua_get_index(it, 1);
			if (!lua_is_table(payload))
				payload = lua_get_index(it, 2);
		}
		ids = lua_cstr(idv);
		if (ids == NULL || *ids == '\0' || !cstr_ok(ids)) {
			snprintf(id, sizeof id, "%zu", i + 1);
			ids = id;
		}
		/* A republished id replaces the old item and is the newest. */
		for (old = xml_child(node, "item", NULL); old != NULL;
		    old = next) {
			next = xml_next(old, "item", NULL);
			if (strcmp(xml_attr(old, "id"), ids) == 0) {
				xml_remove(old);
				n--;
			}
		}
		item = xml_add(node, "item", NULL);
		xml_set_attr(item, "id", ids);
		if (!when_of(lua_get(it, "when"), &when))
			when = (double)wall_time();
		format_xep82((int64_t)when, stamp, sizeof stamp);
		xml_set_attr(item, "stamp", stamp);
		memset(&cv, 0, sizeof cv);
		if (payload == NULL || (pl = conv_element(&cv, NULL, item,
		    payload, NS_PUBSUB, 2)) == NULL) {
			problem(im, path, payload ? cv.line : it->line,
			    "PEP item %s of %s: %s", ids, u->bare,
			    payload ? cv.why : "no payload");
			xml_remove(item);
			continue;
		}
		/* The archive's bookkeeping, not part of the payload. */
		xml_set_attr(pl, "stamp", NULL);
		xml_set_attr(pl, "stamp_legacy", NULL);
		n++;
	}
	lua_doc_free(doc);
	/* Only the newest max_items are kept, as both servers do. */
	while (n > max_items && (old = xml_child(node, "item", NULL)) != NULL) {
		xml_remove(old);
		n--;
	}
	*count = n;
	return 0;
}

/* modules/pep.c's file for a node: pep/n-ESCAPED, or pep/h-SHA1. */
static int
pep_file(const char *node, char *out, size_t outlen)
{
	char esc[FILE_NAME_MAX + 1], hex[2 * br_sha1_SIZE + 1];

	if (store_escape(node, esc, sizeof esc) == 0 &&
	    strlen(esc) <= FILE_NAME_MAX - 2)
		return path_fmt(out, outlen, "pep/n-%s", esc);
	sha1_hex(node, strlen(node), hex);
	return path_fmt(out, outlen, "pep/h-%s", hex);
}

/* The most items a node may keep: its max_items, or [pep]'s limit. */
static size_t
pep_keep(const struct imp *im, const struct xml_node *node)
{
	const char *v = xml_attr(xml_child(node, "config", NULL), "max_items");
	const char *lim = config_module_opt(im->cfg, "pep",
	    "max_items_per_node");
	unsigned long top = 256, n;
	char *end;

	if (lim != NULL && (n = strtoul(lim, &end, 10)) > 0 && *end == '\0')
		top = n;
	if (v != NULL && strcmp(v, "max") != 0 &&
	    (n = strtoul(v, &end, 10)) > 0 && *end == '\0' && n < top)
		return n;
	return top;
}

static void
import_pep(struct imp *im, struct user *u)
{
	char path[PATH_MAX], list[PATH_MAX], file[PATH_MAX], why[256];
	const struct lua_value *t = NULL, *nc, *cfg;
	struct names nodes = { 0 };
	struct lua_doc *doc;
	struct xml_node *node;
	struct stat st;
	struct buf b;
	size_t count;
	int missing;

	if (path_fmt(path, sizeof path, "%s/pep/%s.dat", im->hostdir,
	    u->stem) == -1)
		return;
	doc = load_lua(im, path, LUA_MODE_RETURN, &missing);
	if (doc != NULL) {
		t = lua_doc_value(doc, 0);
		if (!lua_is_table(t)) {
			problem(im, path, t->line, "PEP nodes are a %s, not "
			    "a table", lua_type_name(t->type));
			t = NULL;
		}
	}
	/* The nodes: those configured, and those with items. */
	for (size_t i = 0; t != NULL && i < t->nfields; i++) {
		const char *k = lua_cstr(&t->fields[i].key);
		if (k != NULL && *k != '\0' && cstr_ok(k) &&
		    !names_has(&nodes, k)) {
			names_add(&nodes, k);
			names_sort(&nodes);
		}
	}
	for (size_t i = 0; i < im->pepdirs.n; i++) {
		if (path_fmt(list, sizeof list, "%s/%s/%s.list", im->hostdir,
		    im->pepdirs.v[i], u->stem) == 0 && stat(list, &st) == 0 &&
		    !names_has(&nodes, im->pepnodes.v[i])) {
			names_add(&nodes, im->pepnodes.v[i]);
			names_sort(&nodes);
		}
	}
	for (size_t i = 0; i < nodes.n; i++) {
		const char *name = nodes.v[i];

		node = xml_new(xml_arena_new(), "node", NS_PEP_STORE);
		xml_set_attr(node, "version", "1");
		xml_set_attr(node, "name", name);
		nc = lua_get(t, name);
		cfg = lua_get(nc, "config");
		pep_config(im, path, node, lua_is_table(cfg) ? cfg : NULL);
		pep_people(u, node, nc);
		count = 0;
		list[0] = '\0';
		for (size_t j = 0; j < im->pepnodes.n; j++)
			if (strcmp(im->pepnodes.v[j], name) == 0 &&
			    path_fmt(list, sizeof list, "%s/%s/%s.list",
			    im->hostdir, im->pepdirs.v[j], u->stem) == 0)
				break;
		if (list[0] != '\0' && pep_items(im, u, node, list,
		    pep_keep(im, node), &count) == -1) {
			xml_arena_free(node->arena);
			continue;
		}
		if (strcmp(name, NODE_LEGACY_BM) == 0) {
			/* xmppd shows this node from urn:xmpp:bookmarks:1 and
			 * takes XEP-0048 bookmarks from private XML: kept for
			 * import_private. */
			u->legacy_bm = node;
			continue;
		}
		if (pep_file(name, file, sizeof file) == -1)
			problem(im, path, 0, "no file name for PEP node %s",
			    name);
		else if (render(node, &pep_limits, &b, why, sizeof why) == -1)
			problem(im, list[0] ? list : path, 0, "PEP node %s %s",
			    name, why);
		else if (put(im, u, file, &b, list[0] ? list : path) == 0) {
			u->pep_nodes++;
			u->pep_items += count;
			u->pep = xrealloc(u->pep,
			    (u->npep + 1) * sizeof *u->pep);
			u->pep[u->npep++] = node;
			continue;	/* kept for the vCard */
		}
		xml_arena_free(node->arena);
	}
	names_free(&nodes);
	lua_doc_free(doc);
}

/* ---- one account ---- */

static void
print_user(struct imp *im, const struct user *u, int plain)
{
	printf("%s %s: account (%s)", im->dry_run ? "would import" : "imported",
	    u->bare, plain ? "keys made from its plaintext password" :
	    "SCRAM-SHA-1 keys");
	if (u->roster)
		printf(", roster (%zu contacts, %zu pending)", u->items,
		    u->pending);
	if (u->vcard)
		printf(", vCard%s", u->vcard_pep ? " (from PEP vCard4)" : "");
	if (u->privates)
		printf(", %zu private", u->privates);
	if (u->offline)
		printf(", %zu offline", u->offline);
	if (u->pep_nodes)
		printf(", %zu PEP node%s (%zu item%s)", u->pep_nodes,
		    u->pep_nodes == 1 ? "" : "s", u->pep_items,
		    u->pep_items == 1 ? "" : "s");
	putchar('\n');
}

static void
import_user(struct imp *im, const char *stem)
{
	char path[PATH_MAX], why[256], text[ACCOUNT_MAX_FILE];
	char prepped[JID_PART_MAX + 1];
	const struct lua_value *bad;
	struct account_creds cr;
	struct lua_doc *doc;
	struct user u;
	int missing, plain = 0, exists, made = 0, n;
	size_t errors = im->n.errors;
	unsigned line;

	memset(&u, 0, sizeof u);
	u.stem = stem;
	if (path_fmt(path, sizeof path, "%s/accounts/%s.dat", im->hostdir,
	    stem) == -1) {
		problem(im, stem, 0, "path too long");
		return;
	}
	if (pz_decode(stem, u.local, sizeof u.local, 0) == -1 ||
	    strlcpy_ok(prepped, u.local, sizeof prepped) == -1 ||
	    jid_prep_local(prepped) == -1) {
		problem(im, path, 0, "the user name is not a valid localpart "
		    "(the account and its data are not imported)");
		return;
	}
	if (strcmp(prepped, u.local) != 0) {
		problem(im, path, 0, "the user name \"%s\" is not in normal "
		    "form (xmppd would call it \"%s\"; not imported)", u.local,
		    prepped);
		return;
	}
	if (path_fmt(u.bare, sizeof u.bare, "%s@%s", u.local, im->host) == -1) {
		problem(im, path, 0, "the JID is too long");
		return;
	}
	if ((doc = load_lua(im, path, LUA_MODE_RETURN, &missing)) == NULL) {
		if (missing)
			problem(im, path, 0, "vanished while importing");
		return;
	}
	n = creds_from(lua_doc_value(doc, 0), &cr, &plain, &bad, why,
	    sizeof why);
	line = bad->line;
	lua_doc_free(doc);
	if (n == -1) {
		problem(im, path, line, "%s (the account and its data are "
		    "not imported)", why);
		return;
	}
	if ((n = account_creds_format(&cr, text, sizeof text)) < 0) {
		explicit_bzero(&cr, sizeof cr);
		problem(im, path, 0, "the credentials are outside what xmppd "
		    "accepts (iteration count or salt length)");
		return;
	}
	explicit_bzero(&cr, sizeof cr);
	exists = im->store_ok && account_exists(im->host, u.local);
	if (exists && !im->force) {
		explicit_bzero(text, sizeof text);
		printf("exists: %s is already an xmppd account; left alone "
		    "with its data (--force replaces it)\n", u.bare);
		im->n.existing++;
		return;
	}
	if (!im->dry_run) {
		if (store_user_create(im->host, u.local) == 0)
			made = 1;
		else if (errno != EEXIST) {
			problem(im, path, 0, "cannot create the account "
			    "directory of %s: %s", u.bare, strerror(errno));
			explicit_bzero(text, sizeof text);
			return;
		}
	}
	import_pep(im, &u);
	import_roster(im, &u);
	import_vcard(im, &u);
	import_private(im, &u);
	import_legacy_bookmarks(im, &u);
	import_offline(im, &u);
	for (size_t i = 0; i < u.npep; i++)
		xml_arena_free(u.pep[i]->arena);
	free(u.pep);
	if (u.legacy_bm != NULL)
		xml_arena_free(u.legacy_bm->arena);
	/* Last: until this file exists the account does not. */
	if (!im->dry_run && store_write(im->host, u.local, ACCOUNT_FILE, text,
	    (size_t)n) == -1) {
		problem(im, path, 0, "cannot write the account file of %s: %s",
		    u.bare, strerror(errno));
		explicit_bzero(text, sizeof text);
		if (made)
			store_user_delete(im->host, u.local);
		return;
	}
	explicit_bzero(text, sizeof text);
	im->n.accounts++;
	im->n.plain += plain;
	im->n.rosters += u.roster;
	im->n.items += u.items;
	im->n.pending += u.pending;
	im->n.vcards += u.vcard;
	im->n.vcards_pep += u.vcard_pep;
	im->n.privates += u.privates;
	im->n.offline += u.offline;
	im->n.pep_nodes += u.pep_nodes;
	im->n.pep_items += u.pep_items;
	print_user(im, &u, plain);
	if (im->n.errors > errors)
		printf("  (%s: %zu problem%s above)\n", u.bare,
		    im->n.errors - errors,
		    im->n.errors - errors == 1 ? "" : "s");
}

/* ---- one host ---- */

/* Files of store (ext) whose user has no account: said, not imported. */
static void
orphans(struct imp *im, const char *store, const char *ext)
{
	char dir[PATH_MAX];
	struct names files = { 0 };

	if (path_fmt(dir, sizeof dir, "%s/%s", im->hostdir, store) == -1 ||
	    list_dir(dir, 0, ext, &files) == -1)
		return;
	for (size_t i = 0; i < files.n; i++)
		if (!names_has(&im->users, files.v[i]))
			note(im, "%s/%s%s: no account in accounts/ for it",
			    dir, files.v[i], ext);
	names_free(&files);
}

static void
import_host(struct imp *im, const char *dirname)
{
	static const char *const known[] = { "accounts", "roster", "vcard",
	    "private", "offline", "pep", NULL };
	struct names stores = { 0 };
	char dir[PATH_MAX], node[1024];
	size_t i;

	if (path_fmt(im->hostdir, sizeof im->hostdir, "%s/%s", im->src,
	    dirname) == -1 || path_fmt(dir, sizeof dir, "%s/accounts",
	    im->hostdir) == -1) {
		problem(im, dirname, 0, "path too long");
		return;
	}
	printf("host %s (%s)\n", im->host, im->hostdir);
	if (list_dir(im->hostdir, 1, NULL, &stores) == -1) {
		problem(im, im->hostdir, 0, "cannot read: %s", strerror(errno));
		return;
	}
	for (i = 0; i < stores.n; i++) {
		const char *s = stores.v[i];
		size_t k;

		if (strncmp(s, "pep_", 4) == 0) {
			if (pz_decode(s + 4, node, sizeof node, 1) == -1 ||
			    !cstr_ok(node)) {
				note(im, "%s/%s: cannot tell which PEP node "
				    "this is", im->hostdir, s);
				continue;
			}
			names_add(&im->pepdirs, s);
			names_add(&im->pepnodes, node);
			continue;
		}
		for (k = 0; known[k] != NULL && strcmp(known[k], s) != 0; k++)
			;
		if (known[k] == NULL)
			note(im, "%s/%s: Prosody's '%s' store is not imported",
			    im->hostdir, s, s);
	}
	names_free(&stores);
	if (list_dir(dir, 0, ".dat", &im->users) == -1) {
		if (errno != ENOENT)
			problem(im, dir, 0, "cannot read: %s", strerror(errno));
		else
			printf("  no accounts in %s\n", dir);
	}
	for (i = 0; i < im->users.n; i++)
		import_user(im, im->users.v[i]);
	orphans(im, "roster", ".dat");
	orphans(im, "vcard", ".dat");
	orphans(im, "private", ".dat");
	orphans(im, "offline", ".list");
	orphans(im, "pep", ".dat");
	for (i = 0; i < im->pepdirs.n; i++)
		orphans(im, im->pepdirs.v[i], ".list");
	names_free(&im->users);
	names_free(&im->pepdirs);
	names_free(&im->pepnodes);
}

/* ---- the command ---- */

static int
import_usage(void)
{
	fputs("usage: xmppd [-c FILE] import-prosody PROSODY_DATA_DIR "
	    "[--host HOST] [--dry-run] [--force]\n", stderr);
	return 2;
}

static void
summary(const struct imp *im)
{
	const struct counts *n = &im->n;

	printf("%s\n", im->dry_run ? "summary (dry run: nothing was written):" :
	    "summary:");
	printf("  accounts: %zu (%zu from plaintext passwords)\n", n->accounts,
	    n->plain);
	printf("  rosters: %zu (%zu contacts, %zu pending requests)\n",
	    n->rosters, n->items, n->pending);
	printf("  vcards: %zu (%zu from PEP vCard4)\n", n->vcards,
	    n->vcards_pep);
	printf("  private fragments: %zu\n", n->privates);
	printf("  offline messages: %zu\n", n->offline);
	printf("  pep nodes: %zu (%zu items)\n", n->pep_nodes, n->pep_items);
	printf("  skipped, already in xmppd: %zu\n", n->existing);
	printf("  skipped, errors: %zu\n", n->errors);
	printf("  skipped, not importable: %zu\n", n->notes);
}

/* Open xmppd's store: locked to write; unlocked (if there is one) to look. */
static int
open_store(struct imp *im)
{
	char err[512];
	struct stat st;

	if (im->dry_run) {
		/* Nothing there yet: every account is new. */
		if (stat(im->cfg->data_path, &st) == -1 || !S_ISDIR(st.st_mode))
			return 0;
		if (store_open_nolock(im->cfg->data_path, err,
		    sizeof err) == -1) {
			fprintf(stderr, "xmppd: %s\n", err);
			return -1;
		}
	} else {
		if (store_open(im->cfg->data_path, err, sizeof err) == -1) {
			fprintf(stderr, "xmppd: %s\n", err);
			if (errno == EWOULDBLOCK)
				fprintf(stderr, "xmppd: stop the server first: "
				    "the import writes to %s while nothing "
				    "else may\n", im->cfg->data_path);
			return -1;
		}
		/* Files the server cannot read are no use to it. */
		if (stat(im->cfg->data_path, &st) == 0 &&
		    st.st_uid != geteuid())
			printf("warning: %s belongs to uid %lu, but the import "
			    "runs as uid %lu: run it as the server's user\n",
			    im->cfg->data_path, (unsigned long)st.st_uid,
			    (unsigned long)geteuid());
	}
	im->store_ok = 1;
	return 0;
}

/* Do a and b name the same directory? */
static int
same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int
cmd_import_prosody(const char *config_path, int argc, char **argv)
{
	struct config *cfg;
	struct imp im;
	struct names hosts = { 0 };
	char want[JID_PART_MAX + 1] = "", err[1024];
	const char *only = NULL;
	struct stat st;
	int matched = 0, i;
	size_t lim;

	memset(&im, 0, sizeof im);
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0 ||
		    strcmp(argv[i], "-n") == 0)
			im.dry_run = 1;
		else if (strcmp(argv[i], "--force") == 0)
			im.force = 1;
		else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strncmp(argv[i], "--host=", 7) == 0)
			only = argv[i] + 7;
		else if (argv[i][0] == '-' || im.src != NULL)
			return import_usage();
		else
			im.src = argv[i];
	}
	if (im.src == NULL)
		return import_usage();
	if (only != NULL && (strlcpy_ok(want, only, sizeof want) == -1 ||
	    jid_prep_domain(want) == -1)) {
		fprintf(stderr, "xmppd: --host %s: not a domain name\n", only);
		return 2;
	}
	if (config_load(config_path, &cfg, err, sizeof err) == -1) {
		fprintf(stderr, "xmppd: %s\n", err);
		return 2;
	}
	im.cfg = cfg;
	if (only != NULL && config_host(cfg, want) == NULL) {
		fprintf(stderr, "xmppd: --host %s: not an enabled [host] "
		    "in %s\n", want, cfg->path);
		config_free(cfg);
		return 1;
	}
	errno = 0;
	if (stat(im.src, &st) == -1 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "xmppd: %s: %s\n", im.src, errno != 0 ?
		    strerror(errno) : "not a directory");
		config_free(cfg);
		return 1;
	}
	if (same_dir(im.src, cfg->data_path)) {
		/* Prosody's stores and xmppd's accounts would share names. */
		fprintf(stderr, "xmppd: %s is xmppd's data_path too; give "
		    "xmppd a data_path of its own\n", im.src);
		config_free(cfg);
		return 1;
	}
	if (open_store(&im) == -1) {
		config_free(cfg);
		return 1;
	}
	/* What offline.c reads a stored message with. */
	lim = cfg->limits.max_stanza_size;
	im.offline_limits.max_stanza = lim > (SIZE_MAX - 1024) / 2 ? SIZE_MAX :
	    lim * 2 + 1024;
	im.offline_limits.max_depth = cfg->limits.max_depth + 2;
	im.offline_limits.max_attrs = cfg->limits.max_attrs;
	im.offline_limits.max_name = cfg->limits.max_name;
	if (im.dry_run)
		printf("dry run: nothing will be written\n");
	if (list_dir(im.src, 1, NULL, &hosts) == -1) {
		fprintf(stderr, "xmppd: %s: %s\n", im.src, strerror(errno));
		store_close();
		config_free(cfg);
		return 1;
	}
	for (size_t h = 0; h < hosts.n; h++) {
		if (strcmp(hosts.v[h], "_global") == 0)
			continue;	/* server-wide Prosody state */
		if (pz_decode(hosts.v[h], im.host, sizeof im.host, 0) == -1 ||
		    jid_prep_domain(im.host) == -1) {
			if (only == NULL)
				note(&im, "%s/%s: not a host directory", im.src,
				    hosts.v[h]);
			continue;
		}
		if (only != NULL && strcmp(im.host, want) != 0)
			continue;
		if (config_host(cfg, im.host) == NULL) {
			note(&im, "%s/%s: %s is not an enabled [host] in %s",
			    im.src, hosts.v[h], im.host, cfg->path);
			continue;
		}
		matched++;
		import_host(&im, hosts.v[h]);
	}
	names_free(&hosts);
	if (matched == 0) {
		fprintf(stderr, "xmppd: %s holds no Prosody data for %s%s "
		    "(expected %s/<host>/accounts/ ...)\n", im.src,
		    only ? "host " : "any enabled [host] of ", only ? want :
		    cfg->path, im.src);
		im.n.errors++;
	}
	summary(&im);
	if (matched > 0 && im.n.accounts == 0 && im.n.existing == 0)
		printf("note: no Prosody accounts found; only storage = "
		    "\"internal\" is read (prosody-migrator turns SQL "
		    "storage into it)\n");
	if (im.n.accounts > im.n.plain && !im.dry_run)
		printf("note: accounts imported with SCRAM-SHA-1 keys log in "
		    "with SCRAM-SHA-1 or PLAIN; SCRAM-SHA-256 needs a new "
		    "password (xmppd passwd)\n");
	fflush(stdout);
	store_close();
	config_free(cfg);
	return im.n.errors > 0 ? 1 : 0;
}
