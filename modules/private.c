/*
 * private.c - private XML storage (XEP-0049): an account keeps XML
 * fragments on the server, each named by its root element's name and
 * namespace, readable and writable by that account alone.
 *
 * Where the XEP leaves a choice, this is what we do:
 * - A query without a child element gets not-acceptable (section 2.3:
 *   "MUST respond with a Not Acceptable error").
 * - One request may carry several children, all in ONE namespace (2.3: a
 *   get MUST NOT ask for more than one namespace; "an IQ set or result MAY
 *   contain multiple elements qualified by the same namespace").  Mixed
 *   namespaces, the same element named twice, or more than MAX_CHILDREN
 *   children get bad-request.  A set with several children is applied
 *   as a whole: everything is checked before anything is written, and a
 *   failed write puts back what the earlier ones replaced.
 * - Reserved namespaces (2.3: those beginning with "jabber:" or
 *   "http://jabber.org/", and "vcard-temp") and children without a
 *   namespace of their own get not-acceptable, for get and set alike.
 * - Asking for another account's storage, or the server's, gets forbidden
 *   (the condition the XEP prefers over service-unavailable).
 * - A fragment larger than [private] max_size, or a set that would take
 *   the account past max_total, gets not-acceptable with a text naming
 *   the limit, and nothing is written.  Both count bytes as stored on disk.
 * - Storing an empty element (no attributes, no child elements, no text
 *   but white space) deletes the fragment: a get answers with the element
 *   as asked either way, and the bytes go back to the account's quota.
 *
 * Storage: one file per fragment, private/<escaped "name|ns">, holding
 * <query xmlns='jabber:iq:private' version='1'>FRAGMENT</query>.  When the
 * escaped key is longer than a file name may be, the file is named
 * "sha1-<hex of the key>"; an escaped key always contains "%7C" (the '|'),
 * so the two kinds of name never meet.  The stored fragment's own name and
 * namespace are checked on every read.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearssl_hash.h"
#include "module.h"

#define NS_PRIVATE		"jabber:iq:private"
#define PRIVATE_DIR		"private"
#define PRIVATE_FORMAT		"1"
#define FILE_NAME_MAX		255	/* what store_escape() may produce */

#define DEFAULT_MAX_SIZE	((size_t)64 * 1024)
#define DEFAULT_MAX_TOTAL	((size_t)1024 * 1024)
#define SETTING_MIN		((size_t)1024)
#define MAX_SIZE_TOP		((size_t)16 * 1024 * 1024)
#define MAX_TOTAL_TOP		((size_t)1024 * 1024 * 1024)
/* Children of one query: a client names one or a few fragments; the bound
 * keeps the duplicate check and the number of files touched small. */
#define MAX_CHILDREN		64

/*
 * Stored files were checked against the settings when written.  Reading
 * allows the largest any setting can give, so lowering max_size later
 * never makes stored data unreadable; the tree limits are the largest
 * [limits] allows, plus the wrapper.
 */
#define READ_MAX		(MAX_SIZE_TOP + 4096)
static const struct xml_limits stored_limits = { READ_MAX, 260, 520, 1030 };

/* ---- settings ---- */


static size_t
setting(const char *key, size_t dflt)
{
	const struct config *cfg = server_config();
	const char *v = cfg ? config_module_opt(cfg, "private", key) : NULL;
	size_t n;

	if (v == NULL || config_parse_size(v, &n) == -1)
		return dflt;
	return n;
}

static size_t
max_total(void)
{
	return setting("max_total", DEFAULT_MAX_TOTAL);
}

/* One fragment can never be larger than the whole quota. */
static size_t
max_size(void)
{
	size_t s = setting("max_size", DEFAULT_MAX_SIZE), t = max_total();

	return s < t ? s : t;
}

static int
private_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	size_t top;

	if (strcmp(key, "max_size") == 0)
		top = MAX_SIZE_TOP;
	else if (strcmp(key, "max_total") == 0)
		top = MAX_TOTAL_TOP;
	else {
		snprintf(err, errlen, "unknown key '%s' in [private] (known: "
		    "max_size, max_total)", key);
		return -1;
	}
	return config_check_size(key, value, SETTING_MIN, top, err, errlen);
}

/* ---- the request ---- */

/* XEP-0049 2.3: namespaces nobody may store under. */
static int
ns_is_reserved(const char *ns)
{
	return strncmp(ns, "jabber:", 7) == 0 ||
	    strncmp(ns, "http://jabber.org/", 18) == 0 ||
	    strcmp(ns, "vcard-temp") == 0;
}

/*
 * Is the query well-formed for us: 1..MAX_CHILDREN children, one
 * namespace, no element twice, nothing reserved?  Returns ERR_NONE with
 * the number of children, or the error with a text for the client.
 */
static enum stanza_error
check_children(const struct xml_node *query, size_t *count, const char **why)
{
	const struct xml_node *first, *c, *d;
	size_t n = 0;

	if ((first = xml_first_element(query)) == NULL) {
		*why = "The query needs a child element naming the data";
		return ERR_NOT_ACCEPTABLE;
	}
	for (c = first; c != NULL; c = xml_next(c, NULL, NULL)) {
		if (++n > MAX_CHILDREN) {
			*why = "Too many elements in one request";
			return ERR_BAD_REQUEST;
		}
		if (strcmp(c->ns, first->ns) != 0) {
			*why = "All elements of one request must share a namespace";
			return ERR_BAD_REQUEST;
		}
		for (d = first; d != c; d = xml_next(d, NULL, NULL))
			if (strcmp(d->name, c->name) == 0) {
				*why = "The same element is named twice";
				return ERR_BAD_REQUEST;
			}
	}
	if (first->ns[0] == '\0') {
		*why = "The element needs a namespace of its own";
		return ERR_NOT_ACCEPTABLE;
	}
	if (ns_is_reserved(first->ns)) {
		*why = "This namespace is reserved and cannot be used for "
		    "private data";
		return ERR_NOT_ACCEPTABLE;
	}
	*count = n;
	return ERR_NONE;
}

/* Nothing worth keeping: no attributes, no child elements, blank text. */
static int
is_empty(const struct xml_node *el)
{
	const struct xml_node *c;

	if (el->attrs != NULL)
		return 0;
	for (c = el->children; c != NULL; c = c->next) {
		if (c->name != NULL)
			return 0;
		for (size_t i = 0; i < c->text_len; i++)
			if (strchr(" \t\r\n", c->text[i]) == NULL)
				return 0;
	}
	return 1;
}

/* ---- storage ---- */

/* The file of fragment name|ns under PRIVATE_DIR; -1 if it cannot be. */
static int
fragment_file(const char *name, const char *ns, char *out, size_t outlen)
{
	char esc[FILE_NAME_MAX + 1], *key;
	size_t nl = strlen(name), sl = strlen(ns);
	unsigned char md[br_sha1_SIZE];
	br_sha1_context h;
	int r;

	if (nl > SIZE_MAX - sl - 2)
		return -1;
	key = xmalloc(nl + sl + 2);
	memcpy(key, name, nl);
	key[nl] = '|';
	memcpy(key + nl + 1, ns, sl + 1);
	if (store_escape(key, esc, sizeof esc) == 0)
		r = snprintf(out, outlen, PRIVATE_DIR "/%s", esc);
	else {
		/* Too long for a file name: name it by its hash. */
		br_sha1_init(&h);
		br_sha1_update(&h, key, nl + sl + 1);
		br_sha1_out(&h, md);
		r = snprintf(out, outlen, PRIVATE_DIR "/sha1-");
		for (size_t i = 0; i < sizeof md && r > 0 && (size_t)r < outlen; i++)
			r += snprintf(out + r, outlen - (size_t)r, "%02x", md[i]);
	}
	free(key);
	return r > 0 && (size_t)r < outlen ? 0 : -1;
}

/*
 * The stored fragment for <name xmlns=ns/>: 1 with *doc (the caller frees
 * its arena) and *frag in it, 0 if nothing is stored, -1 on an error
 * (logged).
 */
static int
fragment_load(const char *host, const char *local, const char *file,
    const char *name, const char *ns, struct xml_node **doc,
    struct xml_node **frag)
{
	char *text = NULL, err[256];
	struct xml_node *root, *f;
	const char *v;
	ssize_t n;

	n = store_read(host, local, file, READ_MAX, &text);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		log_warn("private data %s of %s@%s", file, local, host);
		return -1;
	}
	root = xml_parse_document(text, (size_t)n, &stored_limits, err, sizeof err);
	free(text);
	if (root == NULL) {
		log_warnx("private data %s of %s@%s is damaged: %s", file,
		    local, host, err);
		return -1;
	}
	if (!xml_is(root, "query", NS_PRIVATE)) {
		log_warnx("private data %s of %s@%s is damaged: not private "
		    "data", file, local, host);
		xml_arena_free(root->arena);
		return -1;
	}
	v = xml_attr(root, "version");
	if (v == NULL || strcmp(v, PRIVATE_FORMAT) != 0) {
		log_warnx("private data %s of %s@%s has format version %s; this "
		    "xmppd reads version " PRIVATE_FORMAT, file, local, host,
		    v ? v : "(none)");
		xml_arena_free(root->arena);
		return -1;
	}
	f = xml_first_element(root);
	if (f == NULL || !xml_is(f, name, ns) || xml_next(f, NULL, NULL) != NULL) {
		log_warnx("private data %s of %s@%s does not hold <%s xmlns='%s'/>",
		    file, local, host, name, ns);
		xml_arena_free(root->arena);
		return -1;
	}
	*doc = root;
	*frag = f;
	return 1;
}

/* Size of a stored file, 0 if there is none; -1 on an error. */
static ssize_t
file_size(const char *host, const char *local, const char *file)
{
	char path[PATH_MAX];
	struct stat st;

	if (store_path(host, local, file, path, sizeof path) == -1)
		return -1;
	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (unsigned long long)st.st_size > (unsigned long long)SSIZE_MAX)
		return -1;
	return (ssize_t)st.st_size;
}

struct usage {
	const char	*host, *local;
	size_t		 total;
	int		 failed;
};

static int
add_usage(const char *name, void *arg)
{
	struct usage *u = arg;
	char file[sizeof PRIVATE_DIR + 1 + FILE_NAME_MAX + 1];
	ssize_t s;

	if (snprintf(file, sizeof file, PRIVATE_DIR "/%s", name) >= (int)sizeof file ||
	    (s = file_size(u->host, u->local, file)) < 0) {
		u->failed = 1;
		return 1;
	}
	u->total = (size_t)s > SIZE_MAX - u->total ? SIZE_MAX : u->total + (size_t)s;
	return 0;
}

/* Bytes the account's private data take now; -1 on an error (logged). */
static int
usage_of(const char *host, const char *local, size_t *total)
{
	struct usage u = { host, local, 0, 0 };

	if (store_list(host, local, PRIVATE_DIR, add_usage, &u) < 0 || u.failed) {
		log_warn("private data of %s@%s: cannot count its size", local, host);
		return -1;
	}
	*total = u.total;
	return 0;
}

/* ---- get ---- */

static enum stanza_error
private_get(struct iq_req *r)
{
	const char *host = r->from.domain, *local = r->from.local, *why = NULL;
	char file[sizeof PRIVATE_DIR + 1 + FILE_NAME_MAX + 1];
	struct xml_node *reply, *q, *c, *doc, *frag;
	enum stanza_error e;
	size_t n;
	int rc;

	if ((e = check_children(r->payload, &n, &why)) != ERR_NONE) {
		iq_error(r, e, why);
		return ERR_NONE;
	}
	reply = iq_result(r);
	q = xml_add(reply, "query", NS_PRIVATE);
	for (c = xml_first_element(r->payload); c != NULL; c = xml_next(c, NULL, NULL)) {
		if (fragment_file(c->name, c->ns, file, sizeof file) == -1) {
			xml_arena_free(reply->arena);
			return ERR_INTERNAL_SERVER_ERROR;
		}
		rc = fragment_load(host, local, file, c->name, c->ns, &doc, &frag);
		if (rc == -1) {
			xml_arena_free(reply->arena);
			return ERR_INTERNAL_SERVER_ERROR;
		}
		if (rc == 1) {
			xml_append_copy(q, frag);
			xml_arena_free(doc->arena);
		} else
			xml_append_copy(q, c);	/* nothing stored: as asked */
	}
	iq_reply(r, reply);
	return ERR_NONE;
}

/* ---- set ---- */

/* One child of a set: where it goes, what it replaces, what it becomes. */
struct change {
	struct xml_node	*el;
	char		 file[sizeof PRIVATE_DIR + 1 + FILE_NAME_MAX + 1];
	struct buf	 data;		/* the new file; unused when removing */
	int		 remove;
	size_t		 oldsize;
	char		*old;		/* the old file for undoing, or NULL */
	size_t		 oldlen;
	int		 done;
};

/* Serialize el as its stored file; -1 if it is larger than max bytes. */
static int
make_file(const struct xml_node *el, struct buf *b, size_t max)
{
	struct xml_node *root = xml_new(xml_arena_new(), "query", NS_PRIVATE);
	int rc;

	xml_set_attr(root, "version", PRIVATE_FORMAT);
	xml_append_copy(root, el);
	buf_init(b, max);
	rc = xml_serialize(root, b, NULL);
	if (rc == 0)
		rc = buf_addstr(b, "\n");
	xml_arena_free(root->arena);
	return rc;
}

/* Put the files of changes[0..n) back as they were (best effort). */
static void
undo(const char *host, const char *local, struct change *ch, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (!ch[i].done)
			continue;
		if (ch[i].old != NULL)
			rc = store_write(host, local, ch[i].file, ch[i].old,
			    ch[i].oldlen);
		else
			rc = store_remove(host, local, ch[i].file);
		if (rc == -1)
			log_warn("private data %s of %s@%s: cannot undo a "
			    "failed change", ch[i].file, local, host);
	}
}

/* Check every change and read what it replaces; ERR_NONE when all fit. */
static enum stanza_error
prepare(struct iq_req *r, struct change *ch, size_t n, const char **why)
{
	const char *host = r->from.domain, *local = r->from.local;
	size_t limit = max_size(), quota = max_total(), total;
	struct xml_node *c;
	ssize_t s;
	size_t i;

	for (i = 0, c = xml_first_element(r->payload); i < n;
	    i++, c = xml_next(c, NULL, NULL)) {
		ch[i].el = c;
		if (fragment_file(c->name, c->ns, ch[i].file, sizeof ch[i].file) == -1)
			return ERR_INTERNAL_SERVER_ERROR;
		ch[i].remove = is_empty(c);
		if (!ch[i].remove && make_file(c, &ch[i].data, limit) == -1) {
			log_info("private data of %s@%s: <%s xmlns='%s'> refused, "
			    "larger than max_size (%zu bytes)", local, host,
			    c->name, c->ns, limit);
			*why = "This element is larger than the server stores";
			return ERR_NOT_ACCEPTABLE;
		}
		if ((s = file_size(host, local, ch[i].file)) < 0) {
			log_warn("private data %s of %s@%s", ch[i].file, local, host);
			return ERR_INTERNAL_SERVER_ERROR;
		}
		ch[i].oldsize = (size_t)s;
	}
	if (usage_of(host, local, &total) == -1)
		return ERR_INTERNAL_SERVER_ERROR;
	for (i = 0; i < n; i++) {
		total -= ch[i].oldsize < total ? ch[i].oldsize : total;
		if (ch[i].remove)
			continue;
		if (buf_used(&ch[i].data) > SIZE_MAX - total)
			total = SIZE_MAX;
		else
			total += buf_used(&ch[i].data);
	}
	if (total > quota) {
		log_info("private data of %s@%s: set refused, the account "
		    "would store %zu bytes, over max_total (%zu)", local, host,
		    total, quota);
		*why = "The account's private storage is full";
		return ERR_NOT_ACCEPTABLE;
	}
	/* Only now, when everything fits: keep the old files for undo. */
	for (i = 0; i < n; i++) {
		if (ch[i].oldsize == 0)
			continue;
		s = store_read(host, local, ch[i].file, READ_MAX, &ch[i].old);
		if (s < 0) {
			log_warn("private data %s of %s@%s", ch[i].file, local, host);
			return ERR_INTERNAL_SERVER_ERROR;
		}
		ch[i].oldlen = (size_t)s;
	}
	return ERR_NONE;
}

static enum stanza_error
apply(struct iq_req *r, struct change *ch, size_t n)
{
	const char *host = r->from.domain, *local = r->from.local;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (ch[i].remove)
			rc = store_remove(host, local, ch[i].file);
		else
			rc = store_write(host, local, ch[i].file,
			    buf_head(&ch[i].data), buf_used(&ch[i].data));
		if (rc == -1) {
			log_warn("saving private data %s of %s@%s", ch[i].file,
			    local, host);
			undo(host, local, ch, i);
			return ERR_INTERNAL_SERVER_ERROR;
		}
		ch[i].done = 1;
	}
	return ERR_NONE;
}

static enum stanza_error
private_set(struct iq_req *r)
{
	const char *why = NULL;
	struct change *ch;
	enum stanza_error e;
	size_t n = 0;

	if ((e = check_children(r->payload, &n, &why)) != ERR_NONE) {
		iq_error(r, e, why);
		return ERR_NONE;
	}
	ch = xcalloc(n, sizeof *ch);	/* zeroed buffers are empty ones */
	e = prepare(r, ch, n, &why);
	if (e == ERR_NONE)
		e = apply(r, ch, n);
	for (size_t i = 0; i < n; i++) {
		buf_free(&ch[i].data);
		free(ch[i].old);
	}
	free(ch);
	if (e != ERR_NONE) {
		iq_error(r, e, why);
		return ERR_NONE;
	}
	return iq_ok(r);
}

/* XEP-0049 2.3 and 4: nobody reads or writes another entity's storage. */
static enum stanza_error
private_not_yours(struct iq_req *r)
{
	iq_error(r, ERR_FORBIDDEN, "Private data can only be stored and "
	    "read by its own account");
	return ERR_NONE;
}

static const struct iq_handler private_iq[] = {
	{ "query", NS_PRIVATE, IQ_GET, IQ_TO_SELF, private_get },
	{ "query", NS_PRIVATE, IQ_SET, IQ_TO_SELF, private_set },
	{ "query", NS_PRIVATE, IQ_GET | IQ_SET, IQ_TO_CONTACT | IQ_TO_SERVER,
	    private_not_yours },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const private_features[] = { NS_PRIVATE, NULL };

const struct module mod_private = {
	.name = "private",
	.features = private_features,
	.iq = private_iq,
	.config_check = private_config_check,
};
