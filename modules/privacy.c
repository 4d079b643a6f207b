/*
 * privacy.c - privacy lists (XEP-0016) and the blocking command (XEP-0191)
 * over one stored model per account.
 *
 * The model is a set of named lists of ordered rules plus the name of the
 * default list, kept in the account's `privacy` file in the wire format:
 *
 *   <privacy xmlns='jabber:iq:privacy' version='1'>
 *     <default name='blocklist'/>
 *     <list name='blocklist'>
 *       <item type='jid' value='bob@example.org' action='deny' order='0'/>
 *     </list>
 *   </privacy>
 *
 * The blocklist of XEP-0191 is a view of the default list, as XEP-0191
 * section 3 recommends: its items of type 'jid' with action 'deny' that
 * cover every kind of stanza.  Blocking puts such items in front of the
 * default list (creating a list named "blocklist" and making it the default
 * when there is none); unblocking takes them out.  A block made with either
 * protocol is therefore seen by the other.
 *
 * Active lists (XEP-0016 section 2.3) belong to a session and live only in
 * memory.  Every account with a session has its model cached here, and a
 * few accounts without one are kept in a small LRU cache, so no stanza
 * makes us parse a file twice.  All changes go through this module, so the
 * cache never goes stale; the roster (for group and subscription rules) is
 * re-read only when its file changed.
 *
 * Where the rules are applied:
 *   inbound       stanzas arriving for an account (the addressed session's
 *                 active list, else the default list);
 *   outbound      stanzas a client sends (that session's list);
 *   route_filter  presence notifications a local account sends without its
 *                 client asking each time: broadcasts and probe answers.
 * mod_privacy and mod_blocklist share these hooks; when both are enabled
 * only mod_privacy's copies do the work.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster.h"

#define NS_PRIVACY		"jabber:iq:privacy"
#define NS_BLOCKING		"urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS	"urn:xmpp:blocking:errors"
#define NS_STANZAS		"urn:ietf:params:xml:ns:xmpp-stanzas"

#define PRIVACY_FILE		"privacy"
#define PRIVACY_FORMAT		"1"
#define PRIVACY_MAX_FILE	(8 * 1024 * 1024)
/* roster.c's file; only its stat() data is looked at here, to know when
 * the cached copy of the roster must be read again. */
#define ROSTER_FILE_NAME	"roster"
/* The list a first block creates when the account has no default list. */
#define BLOCKLIST_NAME		"blocklist"

#define DEFAULT_MAX_LISTS	32
#define DEFAULT_MAX_ITEMS	1000
#define LIMIT_MAX_LISTS		1000
#define LIMIT_MAX_ITEMS		100000
#define LIST_NAME_MAX		1023
#define GROUP_MAX		1023

/* Accounts without a session whose model stays cached. */
#define IDLE_CACHE_MAX		64
#define ACCT_BUCKETS		1024

extern const struct module mod_privacy, mod_blocklist;

/* ---- the model ---- */

enum { RT_ALL, RT_JID, RT_GROUP, RT_SUB };
/* Stanza kinds of XEP-0016 section 2.1; a rule without any covers all. */
enum { K_MSG = 1, K_IQ = 2, K_PIN = 4, K_POUT = 8 };
/* The four JID forms of XEP-0016 section 2.1, in matching order. */
enum { JF_FULL, JF_BARE, JF_DOMRES, JF_DOM };

struct prule {
	uint32_t	 order;
	unsigned char	 type;		/* RT_* */
	unsigned char	 deny;
	unsigned char	 kinds;		/* K_* bits, 0 = every stanza */
	unsigned char	 jform;		/* RT_JID: JF_* */
	int		 sub;		/* RT_SUB: SUB_* */
	char		*value;		/* as shown: normalised JID, group, or
					 * subscription; NULL for RT_ALL */
	char		*jbuf;		/* RT_JID: "local\0domain\0resource\0" */
	const char	*jl, *jd, *jr;	/* point into jbuf */
};

struct plist {
	char		*name;
	struct prule	*r;		/* sorted by order, orders unique */
	size_t		 n;
};

struct pmodel {
	struct plist	*l;
	size_t		 n;
	char		*def;		/* name of the default list, or NULL */
	int		 broken;	/* the stored file could not be read */
};

/* ---- the cache ---- */

/* What a session has chosen; only sessions that chose something have one. */
struct psess {
	uint64_t	 sid;
	char		*active;	/* active list, NULL: the default applies */
	int		 blocklist;	/* asked for the blocklist: gets pushes */
};

/* The account's roster as the rules need it: subscription and groups. */
struct rentry {
	char		*jid;
	int		 sub;
	char		**groups;
	size_t		 ngroups;
};

struct rview {
	struct stat	 key;		/* of the roster file; zeroed if none */
	struct rentry	*e;		/* sorted by jid */
	size_t		 n;
};

/* One cached account.  Owned by the hash table below. */
struct pacct {
	char		*bare, *host, *local;
	struct pmodel	*m;		/* never NULL */
	struct psess	*s;
	size_t		 ns;
	struct rview	*rv;		/* NULL until a rule needs it */
	int		 online;	/* has sessions (not in the LRU) */
	unsigned	 hold;		/* in use by a caller: not evicted */
	struct pacct	*hnext;
	struct pacct	*lprev, *lnext;
};

static struct pacct	*buckets[ACCT_BUCKETS];
static struct pacct	*lru_head, *lru_tail;	/* idle accounts, newest first */
static size_t		 nidle;
static int		 stopped;
/* Set while we route presence that our own route_filter must let pass:
 * the unavailable presence that tells a newly blocked contact we left. */
static int		 bypass;
static unsigned long	 push_seq;

static const struct xml_limits stored_limits = { PRIVACY_MAX_FILE, 8, 16, 64 };

/* ---- settings ---- */

static size_t
setting(const char *key, size_t def)
{
	const struct config *cfg = server_config();
	const char *v = cfg ? config_module_opt(cfg, "privacy", key) : NULL;

	return v != NULL ? (size_t)strtoul(v, NULL, 10) : def;
}

static int
privacy_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	unsigned long max, v;
	char *end;

	if (strcmp(key, "max_lists") == 0)
		max = LIMIT_MAX_LISTS;
	else if (strcmp(key, "max_items") == 0)
		max = LIMIT_MAX_ITEMS;
	else {
		snprintf(err, errlen, "unknown key '%s' in [privacy] "
		    "(known: max_lists, max_items)", key);
		return -1;
	}
	errno = 0;
	v = strtoul(value, &end, 10);
	if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
	    v < 1 || v > max) {
		snprintf(err, errlen, "%s must be a number from 1 to %lu",
		    key, max);
		return -1;
	}
	return 0;
}

/* ---- rules and lists ---- */

static void
rule_clear(struct prule *r)
{
	free(r->value);
	free(r->jbuf);
	memset(r, 0, sizeof *r);
}

static void
rule_set_jid(struct prule *r, const char *l, const char *d, const char *res)
{
	size_t nl = strlen(l), nd = strlen(d), nr = strlen(res);

	/* Each part is at most JID_PART_MAX bytes: no overflow. */
	r->jbuf = xmalloc(nl + nd + nr + 3);
	memcpy(r->jbuf, l, nl + 1);
	memcpy(r->jbuf + nl + 1, d, nd + 1);
	memcpy(r->jbuf + nl + nd + 2, res, nr + 1);
	r->jl = r->jbuf;
	r->jd = r->jbuf + nl + 1;
	r->jr = r->jbuf + nl + nd + 2;
	if (*l != '\0')
		r->jform = *res != '\0' ? JF_FULL : JF_BARE;
	else
		r->jform = *res != '\0' ? JF_DOMRES : JF_DOM;
}

static void
rule_copy(struct prule *d, const struct prule *s)
{
	*d = *s;
	d->value = s->value != NULL ? xstrdup(s->value) : NULL;
	d->jbuf = NULL;
	d->jl = d->jd = d->jr = NULL;
	if (s->jbuf != NULL)
		rule_set_jid(d, s->jl, s->jd, s->jr);
}

static int
rule_is_block(const struct prule *r)
{
	return r->type == RT_JID && r->deny && r->kinds == 0;
}

static int
rule_equal(const struct prule *a, const struct prule *b)
{
	if (a->order != b->order || a->type != b->type || a->deny != b->deny ||
	    a->kinds != b->kinds)
		return 0;
	if (a->value == NULL || b->value == NULL)
		return a->value == b->value;
	return strcmp(a->value, b->value) == 0;
}

static void
list_clear(struct plist *l)
{
	for (size_t i = 0; i < l->n; i++)
		rule_clear(&l->r[i]);
	free(l->r);
	free(l->name);
	memset(l, 0, sizeof *l);
}

static void
list_copy(struct plist *d, const struct plist *s)
{
	d->name = xstrdup(s->name);
	d->n = s->n;
	d->r = s->n ? xcalloc(s->n, sizeof *d->r) : NULL;
	for (size_t i = 0; i < s->n; i++)
		rule_copy(&d->r[i], &s->r[i]);
}

/* Same rules?  A missing list and an empty one both allow everything. */
static int
list_equal(const struct plist *a, const struct plist *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;

	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (!rule_equal(&a->r[i], &b->r[i]))
			return 0;
	return 1;
}

static int
order_cmp(const void *x, const void *y)
{
	const struct prule *a = x, *b = y;

	return a->order < b->order ? -1 : a->order > b->order;
}

static void
model_free(struct pmodel *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		list_clear(&m->l[i]);
	free(m->l);
	free(m->def);
	free(m);
}

static struct pmodel *
model_clone(const struct pmodel *s)
{
	struct pmodel *m = xcalloc(1, sizeof *m);

	m->n = s->n;
	m->l = s->n ? xcalloc(s->n, sizeof *m->l) : NULL;
	for (size_t i = 0; i < s->n; i++)
		list_copy(&m->l[i], &s->l[i]);
	m->def = s->def != NULL ? xstrdup(s->def) : NULL;
	return m;
}

static struct plist *
model_list(const struct pmodel *m, const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->l[i].name, name) == 0)
			return &m->l[i];
	return NULL;
}

static struct plist *
model_default(const struct pmodel *m)
{
	return model_list(m, m->def);
}

/* The list that applies to a session with this active list (or none). */
static const struct plist *
effective(const struct pmodel *m, const char *active)
{
	const struct plist *l = model_list(m, active);

	return l != NULL ? l : model_default(m);
}

/* Append l to m, which takes over what l owns. */
static struct plist *
model_append_list(struct pmodel *m, const struct plist *l)
{
	/* m->n is bounded by max_lists (or by the file's size). */
	m->l = xrealloc(m->l, (m->n + 1) * sizeof *m->l);
	m->l[m->n] = *l;
	return &m->l[m->n++];
}

static void
model_remove_list(struct pmodel *m, struct plist *l)
{
	size_t i = (size_t)(l - m->l);

	list_clear(l);
	memmove(&m->l[i], &m->l[i + 1], (m->n - i - 1) * sizeof *m->l);
	m->n--;
}

/* ---- parsing lists (from clients and from the file) ---- */

static int
parse_order(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static const char *const subnames[] = { "none", "to", "from", "both" };

static int
parse_sub(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, subnames[i]) == 0)
			return i;
	return -1;
}

static unsigned
parse_kinds(const struct xml_node *it, const char **why)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} kinds[] = {
		{ "message", K_MSG }, { "iq", K_IQ },
		{ "presence-in", K_PIN }, { "presence-out", K_POUT },
	};
	const struct xml_node *c;
	unsigned bits = 0, k;

	for (c = it->children; c != NULL; c = c->next) {
		if (c->name == NULL)
			continue;	/* text between the children */
		for (k = 0; k < 4; k++)
			if (strcmp(c->name, kinds[k].name) == 0 &&
			    strcmp(c->ns, NS_PRIVACY) == 0)
				break;
		if (k == 4) {
			*why = "An item may only contain <message/>, <iq/>, "
			    "<presence-in/> and <presence-out/>";
			return UINT_MAX;
		}
		if (bits & kinds[k].bit) {
			*why = "A stanza kind is named twice in an item";
			return UINT_MAX;
		}
		bits |= kinds[k].bit;
	}
	return bits;
}

/* One <item/> into r (cleared first).  ERR_NONE, or an error and *why. */
static enum stanza_error
parse_item(const struct xml_node *it, struct prule *r, const char **why)
{
	const char *type = xml_attr(it, "type"), *value = xml_attr(it, "value");
	const char *action = xml_attr(it, "action");
	char norm[JID_MAX + 1];
	struct jid j;
	unsigned kinds;

	memset(r, 0, sizeof *r);
	if (action == NULL ||
	    (strcmp(action, "allow") != 0 && strcmp(action, "deny") != 0)) {
		*why = "An item needs action='allow' or action='deny'";
		return ERR_BAD_REQUEST;
	}
	r->deny = strcmp(action, "deny") == 0;
	if (parse_order(xml_attr(it, "order"), &r->order) == -1) {
		*why = "An item needs an order from 0 to 4294967295";
		return ERR_BAD_REQUEST;
	}
	if ((kinds = parse_kinds(it, why)) == UINT_MAX)
		return ERR_BAD_REQUEST;
	r->kinds = (unsigned char)kinds;
	if (type == NULL) {
		if (value != NULL) {
			*why = "An item without a type has no value";
			return ERR_BAD_REQUEST;
		}
		r->type = RT_ALL;
		return ERR_NONE;
	}
	if (value == NULL || *value == '\0') {
		*why = "An item with a type needs a value";
		return ERR_BAD_REQUEST;
	}
	if (strcmp(type, "jid") == 0) {
		if (jid_parse(&j, value) == -1 ||
		    jid_full(&j, norm, sizeof norm) == -1) {
			*why = "The value of a jid item is not a valid JID";
			return ERR_BAD_REQUEST;
		}
		r->type = RT_JID;
		rule_set_jid(r, j.local, j.domain, j.resource);
		r->value = xstrdup(norm);
	} else if (strcmp(type, "group") == 0) {
		if (strlen(value) > GROUP_MAX) {
			*why = "Group name too long";
			return ERR_BAD_REQUEST;
		}
		r->type = RT_GROUP;
		r->value = xstrdup(value);
	} else if (strcmp(type, "subscription") == 0) {
		if ((r->sub = parse_sub(value)) == -1) {
			*why = "A subscription item's value is none, to, from "
			    "or both";
			return ERR_BAD_REQUEST;
		}
		r->type = RT_SUB;
		r->value = xstrdup(value);
	} else {
		*why = "An item's type is jid, group or subscription";
		return ERR_BAD_REQUEST;
	}
	return ERR_NONE;
}

/*
 * A <list/> with at least one item into l.  max bounds the items.
 * ERR_NONE, or an error with *why (l is then empty).
 */
static enum stanza_error
parse_list(const struct xml_node *ln, struct plist *l, size_t max,
    const char **why)
{
	const char *name = xml_attr(ln, "name");
	const struct xml_node *c;
	enum stanza_error e;
	size_t n = 0, i;

	memset(l, 0, sizeof *l);
	if (name == NULL || *name == '\0') {
		*why = "A list needs a name";
		return ERR_BAD_REQUEST;
	}
	if (strlen(name) > LIST_NAME_MAX) {
		*why = "List name too long";
		return ERR_BAD_REQUEST;
	}
	for (c = xml_first_element(ln); c != NULL; c = xml_next(c, NULL, NULL)) {
		if (!xml_is(c, "item", NS_PRIVACY)) {
			*why = "A list contains only <item/> elements";
			return ERR_BAD_REQUEST;
		}
		n++;
	}
	if (n > max) {
		*why = "Too many items in one list";
		return ERR_NOT_ALLOWED;
	}
	l->r = n ? xcalloc(n, sizeof *l->r) : NULL;
	for (c = xml_first_element(ln); c != NULL; c = xml_next(c, NULL, NULL)) {
		if ((e = parse_item(c, &l->r[l->n], why)) != ERR_NONE) {
			rule_clear(&l->r[l->n]);
			list_clear(l);
			return e;
		}
		l->n++;
	}
	if (l->n > 1)
		qsort(l->r, l->n, sizeof *l->r, order_cmp);
	for (i = 1; i < l->n; i++)
		if (l->r[i].order == l->r[i - 1].order) {
			list_clear(l);
			*why = "Orders must be unique within a list";
			return ERR_BAD_REQUEST;
		}
	l->name = xstrdup(name);
	return ERR_NONE;
}

/* ---- storage ---- */

static struct pmodel *
model_broken(struct pmodel *m)
{
	for (size_t i = 0; i < m->n; i++)
		list_clear(&m->l[i]);
	free(m->l);
	free(m->def);
	memset(m, 0, sizeof *m);
	m->broken = 1;
	return m;
}

static int
model_from_xml(struct pmodel *m, const struct xml_node *root, const char **why)
{
	const struct xml_node *c;
	const char *def = NULL;
	struct plist l;

	for (c = xml_first_element(root); c != NULL; c = xml_next(c, NULL, NULL)) {
		if (xml_is(c, "default", NS_PRIVACY) && def == NULL &&
		    xml_attr(c, "name") != NULL) {
			def = xml_attr(c, "name");
			continue;
		}
		if (!xml_is(c, "list", NS_PRIVACY)) {
			*why = "unexpected element";
			return -1;
		}
		/* Limits may have been lowered since: keep what is there. */
		if (parse_list(c, &l, SIZE_MAX, why) != ERR_NONE)
			return -1;
		if (model_list(m, l.name) != NULL) {
			list_clear(&l);
			*why = "two lists with the same name";
			return -1;
		}
		model_append_list(m, &l);
	}
	if (def != NULL) {
		if (model_list(m, def) == NULL) {
			*why = "the default list does not exist";
			return -1;
		}
		m->def = xstrdup(def);
	}
	return 0;
}

static struct pmodel *
model_load(const char *host, const char *local)
{
	struct pmodel *m = xcalloc(1, sizeof *m);
	struct xml_node *root;
	char *text = NULL, err[256];
	const char *v, *why = NULL;
	ssize_t n;

	n = store_read(host, local, PRIVACY_FILE, PRIVACY_MAX_FILE, &text);
	if (n < 0) {
		if (errno == ENOENT)
			return m;
		log_warn("privacy lists of %s@%s", local, host);
		return model_broken(m);
	}
	root = xml_parse_document(text, (size_t)n, &stored_limits, err, sizeof err);
	free(text);
	if (root == NULL || !xml_is(root, "privacy", NS_PRIVACY)) {
		log_warnx("privacy lists of %s@%s are damaged: %s", local, host,
		    root ? "not a privacy document" : err);
		if (root != NULL)
			xml_arena_free(root->arena);
		return model_broken(m);
	}
	v = xml_attr(root, "version");
	if (v == NULL || strcmp(v, PRIVACY_FORMAT) != 0) {
		log_warnx("privacy lists of %s@%s have format version %s; this "
		    "xmppd reads version " PRIVACY_FORMAT, local, host,
		    v ? v : "(none)");
		xml_arena_free(root->arena);
		return model_broken(m);
	}
	if (model_from_xml(m, root, &why) == -1) {
		log_warnx("privacy lists of %s@%s are damaged: %s", local, host,
		    why);
		xml_arena_free(root->arena);
		return model_broken(m);
	}
	xml_arena_free(root->arena);
	return m;
}

static void
item_to_xml(struct xml_node *parent, const struct prule *r)
{
	static const char *const types[] = { NULL, "jid", "group", "subscription" };
	static const char *const kinds[] = { "message", "iq", "presence-in",
	    "presence-out" };
	struct xml_node *it = xml_add(parent, "item", NS_PRIVACY);
	char order[16];

	if (types[r->type] != NULL) {
		xml_set_attr(it, "type", types[r->type]);
		xml_set_attr(it, "value", r->value);
	}
	xml_set_attr(it, "action", r->deny ? "deny" : "allow");
	snprintf(order, sizeof order, "%lu", (unsigned long)r->order);
	xml_set_attr(it, "order", order);
	for (int k = 0; k < 4; k++)
		if (r->kinds & (1u << k))
			xml_add(it, kinds[k], NS_PRIVACY);
}

static struct xml_node *
list_to_xml(struct xml_node *parent, const struct plist *l, int with_items)
{
	struct xml_node *ln = xml_add(parent, "list", NS_PRIVACY);

	xml_set_attr(ln, "name", l->name);
	for (size_t i = 0; with_items && i < l->n; i++)
		item_to_xml(ln, &l->r[i]);
	return ln;
}

/* ERR_NONE, ERR_NOT_ALLOWED when it would be too large, or an I/O error. */
static enum stanza_error
model_save(const struct pacct *a, const struct pmodel *m)
{
	struct xml_node *root = xml_new(xml_arena_new(), "privacy", NS_PRIVACY);
	enum stanza_error e = ERR_NONE;
	struct buf b;

	xml_set_attr(root, "version", PRIVACY_FORMAT);
	if (m->def != NULL)
		xml_set_attr(xml_add(root, "default", NS_PRIVACY), "name", m->def);
	for (size_t i = 0; i < m->n; i++)
		list_to_xml(root, &m->l[i], 1);
	buf_init(&b, PRIVACY_MAX_FILE);
	if (xml_serialize(root, &b, NULL) == -1 || buf_addstr(&b, "\n") == -1) {
		log_info("privacy lists of %s would exceed %d bytes: refused",
		    a->bare, PRIVACY_MAX_FILE);
		e = ERR_NOT_ALLOWED;
	} else if (store_write(a->host, a->local, PRIVACY_FILE, buf_head(&b),
	    buf_used(&b)) == -1) {
		log_warn("saving privacy lists of %s", a->bare);
		e = ERR_INTERNAL_SERVER_ERROR;
	}
	buf_free(&b);
	xml_arena_free(root->arena);
	return e;
}

/* ---- the roster view ---- */

static void
rview_free(struct rview *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->n; i++) {
		for (size_t g = 0; g < v->e[i].ngroups; g++)
			free(v->e[i].groups[g]);
		free(v->e[i].groups);
		free(v->e[i].jid);
	}
	free(v->e);
	free(v);
}

static int
rentry_cmp(const void *x, const void *y)
{
	return strcmp(((const struct rentry *)x)->jid,
	    ((const struct rentry *)y)->jid);
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * The account's roster, read again only when the file changed (every
 * roster write replaces the file, so its inode, size or times change).
 * NULL if it cannot be read: group and subscription rules then see an
 * entity that is not in the roster.
 */
static const struct rview *
rview_get(struct pacct *a)
{
	char path[PATH_MAX];
	struct stat st;
	struct roster r;
	struct rview *v;
	struct xml_node *i, *g;

	if (store_path(a->host, a->local, ROSTER_FILE_NAME, path, sizeof path) == -1)
		return NULL;
	if (stat(path, &st) == -1) {
		if (errno != ENOENT)
			return NULL;
		memset(&st, 0, sizeof st);
	}
	if (a->rv != NULL && same_file(&a->rv->key, &st))
		return a->rv;
	rview_free(a->rv);
	a->rv = NULL;
	if (roster_load(a->host, a->local, &r) == -1)
		return NULL;
	v = xcalloc(1, sizeof *v);
	v->key = st;
	v->e = xcalloc(roster_count(&r) + 1, sizeof *v->e);
	for (i = xml_child(r.root, "item", NULL); i; i = xml_next(i, "item", NULL)) {
		struct rentry *e = &v->e[v->n];
		if (xml_attr(i, "jid") == NULL)
			continue;
		e->jid = xstrdup(xml_attr(i, "jid"));
		e->sub = roster_sub(i);
		for (g = xml_child(i, "group", NULL); g; g = xml_next(g, "group", NULL)) {
			e->groups = xrealloc(e->groups,
			    (e->ngroups + 1) * sizeof *e->groups);
			e->groups[e->ngroups++] = xstrdup(xml_text(g));
		}
		v->n++;
	}
	roster_free(&r);
	qsort(v->e, v->n, sizeof *v->e, rentry_cmp);
	a->rv = v;
	return v;
}

static const struct rentry *
rview_find(const struct rview *v, const char *bare)
{
	struct rentry key;

	if (v == NULL || v->n == 0)
		return NULL;
	key.jid = (char *)(uintptr_t)bare;
	return bsearch(&key, v->e, v->n, sizeof *v->e, rentry_cmp);
}

static int
rview_has_group(const struct rview *v, const char *group)
{
	for (size_t i = 0; v != NULL && i < v->n; i++)
		for (size_t g = 0; g < v->e[i].ngroups; g++)
			if (strcmp(v->e[i].groups[g], group) == 0)
				return 1;
	return 0;
}

/* ---- matching ---- */

/* d is dom, or a subdomain of it. */
static int
domain_within(const char *d, const char *dom)
{
	size_t nd = strlen(d), nm = strlen(dom);

	if (nd == nm)
		return strcmp(d, dom) == 0;
	return nd > nm && d[nd - nm - 1] == '.' && strcmp(d + nd - nm, dom) == 0;
}

static int
jid_matches(const struct prule *r, const struct jid *e)
{
	switch (r->jform) {
	case JF_FULL:
		return strcmp(e->local, r->jl) == 0 &&
		    strcmp(e->domain, r->jd) == 0 &&
		    strcmp(e->resource, r->jr) == 0;
	case JF_BARE:
		return strcmp(e->local, r->jl) == 0 &&
		    strcmp(e->domain, r->jd) == 0;
	case JF_DOMRES:
		return e->local[0] == '\0' && strcmp(e->domain, r->jd) == 0 &&
		    strcmp(e->resource, r->jr) == 0;
	default:
		return domain_within(e->domain, r->jd);
	}
}

/* The entity a stanza is exchanged with, and (once looked up) its roster
 * entry, so one evaluation reads the roster at most once. */
struct subject {
	const struct jid	*e;
	int			 looked;
	const struct rentry	*re;	/* NULL: not in the roster */
};

static int
rule_matches(struct pacct *a, const struct prule *r, unsigned kind,
    struct subject *sj)
{
	char bare[JID_MAX + 1];

	if (r->kinds != 0 && !(r->kinds & kind))
		return 0;
	switch (r->type) {
	case RT_ALL:
		return 1;
	case RT_JID:
		return jid_matches(r, sj->e);
	default:
		break;
	}
	if (!sj->looked) {
		sj->looked = 1;
		if (jid_bare(sj->e, bare, sizeof bare) == 0)
			sj->re = rview_find(rview_get(a), bare);
	}
	if (r->type == RT_SUB)
		return (sj->re ? sj->re->sub : SUB_NONE) == r->sub;
	for (size_t g = 0; sj->re != NULL && g < sj->re->ngroups; g++)
		if (strcmp(sj->re->groups[g], r->value) == 0)
			return 1;
	return 0;
}

/*
 * The rule of l that denies a stanza of this kind exchanged with e, or
 * NULL if the stanza may pass (the first matching rule decides; no
 * matching rule means allow, XEP-0016 section 2.2 rule 7).
 */
static const struct prule *
denied_by(struct pacct *a, const struct plist *l, unsigned kind,
    const struct jid *e)
{
	struct subject sj = { e, 0, NULL };

	if (l == NULL)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if (rule_matches(a, &l->r[i], kind, &sj))
			return l->r[i].deny ? &l->r[i] : NULL;
	return NULL;
}

static int
type_is(const struct xml_node *st, const char *t)
{
	const char *type = xml_attr(st, "type");

	if (t == NULL)
		return type == NULL;
	return type != NULL && strcmp(type, t) == 0;
}

/* The kind of a stanza for rules: inbound (to the user) or outbound.
 * Subscription presence, probes and errors are of no kind: only rules
 * for every stanza cover them. */
static unsigned
kind_of(const struct xml_node *st, int inbound)
{
	if (xml_is(st, "message", NULL))
		return inbound ? K_MSG : 0;
	if (xml_is(st, "iq", NULL))
		return inbound ? K_IQ : 0;
	if (xml_is(st, "presence", NULL) &&
	    (type_is(st, NULL) || type_is(st, "unavailable")))
		return inbound ? K_PIN : K_POUT;
	return 0;
}

/*
 * Never apply rules between an account's own resources (XEP-0016 section
 * 2.1 note), nor to the account's own server, which must keep answering.
 */
static int
exempt(const struct jid *e, const char *local, const char *host)
{
	if (strcmp(e->domain, host) != 0)
		return 0;
	return e->local[0] == '\0' || strcmp(e->local, local) == 0;
}

/* ---- the cache ---- */

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % ACCT_BUCKETS;
}

static struct pacct *
acct_find(const char *bare)
{
	struct pacct *a;

	for (a = buckets[hash(bare)]; a != NULL; a = a->hnext)
		if (strcmp(a->bare, bare) == 0)
			return a;
	return NULL;
}

static void
psess_clear(struct pacct *a)
{
	for (size_t i = 0; i < a->ns; i++)
		free(a->s[i].active);
	free(a->s);
	a->s = NULL;
	a->ns = 0;
}

static void
lru_unlink(struct pacct *a)
{
	if (a->lprev != NULL)
		a->lprev->lnext = a->lnext;
	else
		lru_head = a->lnext;
	if (a->lnext != NULL)
		a->lnext->lprev = a->lprev;
	else
		lru_tail = a->lprev;
	a->lprev = a->lnext = NULL;
	nidle--;
}

static void
lru_push(struct pacct *a)
{
	a->lprev = NULL;
	a->lnext = lru_head;
	if (lru_head != NULL)
		lru_head->lprev = a;
	lru_head = a;
	if (lru_tail == NULL)
		lru_tail = a;
	nidle++;
}

static void
acct_free(struct pacct *a)
{
	struct pacct **p;

	for (p = &buckets[hash(a->bare)]; *p != NULL; p = &(*p)->hnext)
		if (*p == a) {
			*p = a->hnext;
			break;
		}
	if (!a->online)
		lru_unlink(a);
	model_free(a->m);
	rview_free(a->rv);
	psess_clear(a);
	free(a->bare);
	free(a->host);
	free(a->local);
	free(a);
}

static void
lru_evict(void)
{
	struct pacct *a, *prev;

	for (a = lru_tail; a != NULL && nidle > IDLE_CACHE_MAX; a = prev) {
		prev = a->lprev;
		if (a->hold == 0)
			acct_free(a);
	}
}

/* Mark a as having sessions or not, moving it in or out of the LRU. */
static void
acct_set_online(struct pacct *a, int online)
{
	if (online && !a->online) {
		lru_unlink(a);
		a->online = 1;
	} else if (!online && a->online) {
		/* Active lists die with their sessions. */
		psess_clear(a);
		a->online = 0;
		lru_push(a);
	} else if (!online) {
		lru_unlink(a);
		lru_push(a);
	}
}

/* The cached account, loading its model if needed; NULL only if the JID
 * does not fit. */
static struct pacct *
acct_get(const char *host, const char *local)
{
	char bare[JID_MAX + 1];
	struct user *u;
	struct pacct *a;
	int online;
	unsigned h;

	if (snprintf(bare, sizeof bare, "%s@%s", local, host) >= (int)sizeof bare)
		return NULL;
	u = user_find(bare);
	online = u != NULL && u->sessions != NULL;
	if ((a = acct_find(bare)) != NULL) {
		acct_set_online(a, online);
		return a;
	}
	a = xcalloc(1, sizeof *a);
	a->bare = xstrdup(bare);
	a->host = xstrdup(host);
	a->local = xstrdup(local);
	a->m = model_load(host, local);
	a->online = online;
	h = hash(bare);
	a->hnext = buckets[h];
	buckets[h] = a;
	if (!online) {
		lru_push(a);
		a->hold++;
		lru_evict();
		a->hold--;
	}
	return a;
}

static void
acct_drop(const char *host, const char *local)
{
	char bare[JID_MAX + 1];
	struct pacct *a;

	if (snprintf(bare, sizeof bare, "%s@%s", local, host) >= (int)sizeof bare ||
	    (a = acct_find(bare)) == NULL)
		return;
	if (a->hold == 0)
		acct_free(a);
	else {
		model_free(a->m);
		a->m = xcalloc(1, sizeof *a->m);
	}
}

static void
acct_free_all(void)
{
	for (size_t i = 0; i < ACCT_BUCKETS; i++)
		while (buckets[i] != NULL)
			acct_free(buckets[i]);
}

static struct psess *
psess_find(const struct pacct *a, uint64_t sid)
{
	for (size_t i = 0; i < a->ns; i++)
		if (a->s[i].sid == sid)
			return &a->s[i];
	return NULL;
}

static struct psess *
psess_get(struct pacct *a, uint64_t sid)
{
	struct psess *p = psess_find(a, sid);

	if (p != NULL)
		return p;
	a->s = xrealloc(a->s, (a->ns + 1) * sizeof *a->s);
	p = &a->s[a->ns++];
	memset(p, 0, sizeof *p);
	p->sid = sid;
	return p;
}

static void
psess_remove(struct pacct *a, uint64_t sid)
{
	struct psess *p = psess_find(a, sid);

	if (p == NULL)
		return;
	free(p->active);
	*p = a->s[--a->ns];
}

static const char *
active_of(const struct pacct *a, uint64_t sid)
{
	const struct psess *p = psess_find(a, sid);

	return p != NULL ? p->active : NULL;
}

static const struct plist *
session_list(const struct pacct *a, const struct session *s)
{
	return effective(a->m, active_of(a, s->id));
}

static struct session *
user_session(const char *bare, const char *resource)
{
	struct user *u = user_find(bare);
	struct session *s;

	for (s = u ? u->sessions : NULL; s != NULL; s = s->next)
		if (strcmp(s->resource, resource) == 0)
			return s;
	return NULL;
}

static int
any_active(const struct pacct *a, const struct user *u)
{
	for (const struct session *s = u->sessions; s != NULL; s = s->next)
		if (model_list(a->m, active_of(a, s->id)) != NULL)
			return 1;
	return 0;
}

/* ---- enforcement ---- */

/* XEP-0016 section 2.13: what a blocked entity gets back. */
static void
refuse_inbound(struct xml_node *st, const char *to)
{
	log_debug("privacy: %s from %s to %s refused", st->name,
	    xml_attr(st, "from"), to);
	if (xml_is(st, "message", NULL)) {
		if (!type_is(st, "error"))
			route_error(st, ERR_SERVICE_UNAVAILABLE, NULL);
	} else if (xml_is(st, "iq", NULL)) {
		if (type_is(st, "get") || type_is(st, "set"))
			route_error(st, ERR_SERVICE_UNAVAILABLE, NULL);
	}
	/* presence of every type: dropped without a word */
}

/*
 * A message or presence notification for the bare JID while some session
 * has an active list: each available session decides for itself.  Returns
 * 1 if handled here.
 */
static int
inbound_per_session(struct pacct *a, struct user *u, struct xml_node *st,
    const struct jid *from, unsigned kind)
{
	struct session *s, *got[64];
	int msg = kind == K_MSG, headline = msg && type_is(st, "headline");
	int nallow = 0, ndeny = 0, best = -129;
	size_t ngot = 0;

	if (msg && !headline && !type_is(st, NULL) && !type_is(st, "chat") &&
	    !type_is(st, "normal"))
		return -1;		/* groupchat, error: as for the account */
	for (s = u->sessions; s != NULL; s = s->next) {
		if (!s->available || (msg && s->priority < 0))
			continue;
		if (denied_by(a, session_list(a, s), kind, from) != NULL)
			ndeny++;
		else {
			nallow++;
			if (s->priority > best)
				best = s->priority;
		}
	}
	if (nallow + ndeny == 0)
		return -1;		/* offline storage: the default list */
	if (ndeny == 0)
		return 0;
	if (nallow == 0) {
		refuse_inbound(st, a->bare);
		return 1;
	}
	/* Some sessions take it, some do not: deliver as the router would,
	 * among the ones that take it (RFC 6121 8.5.2.1), and tell the
	 * modules that follow deliveries (carbons, archives) as it does. */
	for (s = u->sessions; s != NULL; s = s->next) {
		if (!s->available || (msg && s->priority < 0) ||
		    (msg && !headline && s->priority != best) ||
		    denied_by(a, session_list(a, s), kind, from) != NULL)
			continue;
		session_send(s, st);
		if (msg && ngot < sizeof got / sizeof got[0])
			got[ngot++] = s;
	}
	for (const struct module *const *m = modules_all(); ngot > 0 && *m; m++)
		if ((*m)->message_delivered != NULL && module_enabled(*m))
			(*m)->message_delivered(st, got, ngot);
	return 1;
}

static int
inbound_decide(struct pacct *a, struct xml_node *st, const struct jid *from,
    const struct jid *to)
{
	unsigned kind = kind_of(st, 1);
	struct user *u = user_find(a->bare);
	struct session *s;
	int rc;

	if (to->resource[0] != '\0' &&
	    (s = user_session(a->bare, to->resource)) != NULL) {
		if (denied_by(a, session_list(a, s), kind, from) == NULL)
			return 0;
		refuse_inbound(st, xml_attr(st, "to"));
		return 1;
	}
	/* XEP-0016 section 2.2 rules 1 and 2: the default list speaks for
	 * the account as a whole; active lists only for their sessions. */
	if (u != NULL && (kind == K_MSG || kind == K_PIN) && any_active(a, u) &&
	    (rc = inbound_per_session(a, u, st, from, kind)) != -1)
		return rc;
	if (denied_by(a, model_default(a->m), kind, from) == NULL)
		return 0;
	refuse_inbound(st, a->bare);
	return 1;
}

static int
inbound(struct xml_node *st, const struct jid *to)
{
	const char *f = xml_attr(st, "from");
	char bare[JID_MAX + 1];
	struct user *u;
	struct jid from;
	struct pacct *a;
	int rc;

	if (stopped || to->local[0] == '\0' || f == NULL ||
	    jid_parse(&from, f) == -1 || exempt(&from, to->local, to->domain))
		return 0;
	/* Presence broadcasts to an account without sessions reach nobody:
	 * no need to load its rules (think of fan-out to offline contacts). */
	if (kind_of(st, 1) == K_PIN && jid_bare(to, bare, sizeof bare) == 0 &&
	    ((u = user_find(bare)) == NULL || u->sessions == NULL))
		return 0;
	if ((a = acct_get(to->domain, to->local)) == NULL || a->m->n == 0)
		return 0;
	a->hold++;
	rc = inbound_decide(a, st, &from, to);
	a->hold--;
	return rc;
}

/* XEP-0016 section 2.13 / XEP-0191 section 3.3: not-acceptable, plus
 * <blocked/> when a block item (what XEP-0191 shows) decided. */
static void
refuse_outbound(struct session *s, const struct xml_node *st,
    const struct prule *r)
{
	struct xml_node *e, *er;
	const char *to = xml_attr(st, "to");

	if (type_is(st, "error") || (xml_is(st, "iq", NULL) && type_is(st, "result")))
		return;		/* nothing may answer these */
	log_debug("privacy: %s from %s to %s refused", st->name, s->full, to);
	e = xml_copy(xml_arena_new(), st);
	xml_set_attr(e, "from", to);
	xml_set_attr(e, "to", s->full);
	xml_set_attr(e, "type", "error");
	er = xml_add(e, "error", NULL);
	xml_set_attr(er, "type", "cancel");
	xml_add(er, "not-acceptable", NS_STANZAS);
	if (rule_is_block(r) && module_enabled(&mod_blocklist))
		xml_add(er, "blocked", NS_BLOCKING_ERRORS);
	session_send(s, e);
	xml_arena_free(e->arena);
}

static int
outbound(struct session *s, struct xml_node *st)
{
	const char *t = xml_attr(st, "to");
	const struct prule *r;
	struct pacct *a;
	struct jid to;

	if (stopped || t == NULL || jid_parse(&to, t) == -1 ||
	    exempt(&to, s->local, s->host))
		return 0;
	if ((a = acct_get(s->host, s->local)) == NULL || a->m->n == 0)
		return 0;
	r = denied_by(a, session_list(a, s), kind_of(st, 0), &to);
	if (r == NULL)
		return 0;
	refuse_outbound(s, st, r);
	return 1;
}

/*
 * Presence notifications from a local account that its client did not
 * address itself: broadcasts to contacts, answers to probes, unavailable
 * when a session ends.  The sending session's list decides (the default
 * list when the presence comes from the bare JID).
 */
static int
route_filter(struct xml_node *st, const struct jid *to)
{
	const char *f;
	const struct plist *l;
	struct session *s;
	struct pacct *a;
	struct jid from;

	if (stopped || bypass || !xml_is(st, "presence", NULL) ||
	    !(type_is(st, NULL) || type_is(st, "unavailable")))
		return 0;
	f = xml_attr(st, "from");
	if (f == NULL || jid_parse(&from, f) == -1 || from.local[0] == '\0' ||
	    !host_is_local(from.domain) || exempt(to, from.local, from.domain))
		return 0;
	if ((a = acct_get(from.domain, from.local)) == NULL || a->m->n == 0)
		return 0;
	s = from.resource[0] != '\0' ? user_session(a->bare, from.resource) : NULL;
	l = s != NULL ? session_list(a, s) : model_default(a->m);
	if (denied_by(a, l, K_POUT, to) == NULL)
		return 0;
	log_debug("privacy: presence from %s to %s withheld", f,
	    xml_attr(st, "to"));
	return 1;
}

/* ---- what a change of rules means for presence ---- */

static void
send_unavailable(const char *from, const char *to)
{
	struct xml_node *p = xml_new(xml_arena_new(), "presence", NS_CLIENT);

	xml_set_attr(p, "type", "unavailable");
	xml_set_attr(p, "from", from);
	xml_set_attr(p, "to", to);
	bypass++;
	route(p);
	bypass--;
	xml_arena_free(p->arena);
}

static void
route_presence_copy(const struct xml_node *pres, const char *from,
    const char *to)
{
	struct xml_node *c = xml_copy(xml_arena_new(), pres);

	xml_set_attr(c, "from", from);
	xml_set_attr(c, "to", to);
	route(c);
	xml_arena_free(c->arena);
}

/*
 * Outbound presence (XEP-0016 section 2.10, XEP-0191 section 3.3): a
 * contact that may no longer see us gets unavailable from this session;
 * one that may again gets its current presence.
 */
static void
out_effect(struct pacct *a, struct session *s, const struct plist *ol,
    const struct plist *nl, const char *jid)
{
	struct jid e;
	int od, nd;

	if (jid_parse(&e, jid) == -1 || exempt(&e, s->local, s->host))
		return;
	od = denied_by(a, ol, K_POUT, &e) != NULL;
	nd = denied_by(a, nl, K_POUT, &e) != NULL;
	if (od == nd)
		return;
	if (nd)
		send_unavailable(s->full, jid);
	else if (s->presence != NULL)
		route_presence_copy(s->presence, s->full, jid);
}

/*
 * Inbound presence (XEP-0016 section 2.9): a local contact whose presence
 * this session may no longer see looks unavailable to it; one that it may
 * see again has its current presence routed to it (so the contact's own
 * rules still apply).
 */
static void
in_effect(struct pacct *a, struct session *s, const struct plist *ol,
    const struct plist *nl, const char *jid)
{
	struct jid e;
	char bare[JID_MAX + 1];
	struct user *cu;
	struct session *c;

	if (jid_parse(&e, jid) == -1 || e.local[0] == '\0' ||
	    !host_is_local(e.domain) || exempt(&e, s->local, s->host) ||
	    jid_bare(&e, bare, sizeof bare) == -1 ||
	    (cu = user_find(bare)) == NULL)
		return;
	for (c = cu->sessions; c != NULL; c = c->next) {
		int od, nd;
		if (!c->available || c->presence == NULL)
			continue;
		od = denied_by(a, ol, K_PIN, c->jid) != NULL;
		nd = denied_by(a, nl, K_PIN, c->jid) != NULL;
		if (od == nd)
			continue;
		if (nd) {
			struct xml_node *p = xml_new(xml_arena_new(), "presence",
			    NS_CLIENT);
			xml_set_attr(p, "type", "unavailable");
			xml_set_attr(p, "from", c->full);
			xml_set_attr(p, "to", s->full);
			session_send(s, p);
			xml_arena_free(p->arena);
		} else
			route_presence_copy(c->presence, c->full, s->full);
	}
}

static void
session_effects(struct pacct *a, struct session *s, const struct plist *ol,
    const struct plist *nl)
{
	struct roster r;
	struct xml_node *i, *it;
	struct jid e;
	char bare[JID_MAX + 1];

	if (!s->available || roster_load(s->host, s->local, &r) == -1)
		return;
	for (i = xml_child(r.root, "item", NULL); i; i = xml_next(i, "item", NULL)) {
		const char *jid = xml_attr(i, "jid");
		if (jid == NULL)
			continue;
		if (roster_sub(i) & SUB_FROM)
			out_effect(a, s, ol, nl, jid);
		if (roster_sub(i) & SUB_TO)
			in_effect(a, s, ol, nl, jid);
	}
	/* Directed presence (RFC 6121 4.6) reached others too. */
	for (size_t k = 0; k < s->directed.n; k++) {
		const char *d = s->directed.v[k];
		if (jid_parse(&e, d) == -1 || jid_bare(&e, bare, sizeof bare) == -1)
			continue;
		it = roster_item(&r, bare);
		if (it != NULL && (roster_sub(it) & SUB_FROM) &&
		    strcmp(d, bare) == 0)
			continue;	/* told above */
		out_effect(a, s, ol, nl, d);
	}
	roster_free(&r);
}

/* ---- pushes ---- */

static void
push_privacy(const struct pacct *a, const char *name)
{
	struct user *u = user_find(a->bare);
	char id[40];

	/* XEP-0016 section 2.2 rule 10: to every connected resource. */
	for (struct session *s = u ? u->sessions : NULL; s; s = s->next) {
		struct xml_node *iq = xml_new(xml_arena_new(), "iq", NS_CLIENT);
		snprintf(id, sizeof id, "privacy-push-%lu", ++push_seq);
		xml_set_attr(iq, "type", "set");
		xml_set_attr(iq, "id", id);
		xml_set_attr(iq, "to", s->full);
		xml_set_attr(xml_add(xml_add(iq, "query", NS_PRIVACY), "list",
		    NS_PRIVACY), "name", name);
		session_send(s, iq);
		xml_arena_free(iq->arena);
	}
}

/* XEP-0191 section 3.3/3.4: to the resources that asked for the
 * blocklist.  n == 0 with "unblock" means everything was unblocked. */
static void
push_blocking(const struct pacct *a, const char *what, const char *const *jids,
    size_t n)
{
	struct user *u = user_find(a->bare);
	char id[40];

	for (struct session *s = u ? u->sessions : NULL; s; s = s->next) {
		const struct psess *p = psess_find(a, s->id);
		struct xml_node *iq, *b;
		if (p == NULL || !p->blocklist)
			continue;
		iq = xml_new(xml_arena_new(), "iq", NS_CLIENT);
		snprintf(id, sizeof id, "block-push-%lu", ++push_seq);
		xml_set_attr(iq, "type", "set");
		xml_set_attr(iq, "id", id);
		xml_set_attr(iq, "to", s->full);
		b = xml_add(iq, what, NS_BLOCKING);
		for (size_t i = 0; i < n; i++)
			xml_set_attr(xml_add(b, "item", NS_BLOCKING), "jid", jids[i]);
		session_send(s, iq);
		xml_arena_free(iq->arena);
	}
}

/* ---- the blocklist view ---- */

struct jidset {
	const char	**v;
	size_t		  n;
};

static int
jidset_has(const struct jidset *js, const char *j)
{
	for (size_t i = 0; i < js->n; i++)
		if (strcmp(js->v[i], j) == 0)
			return 1;
	return 0;
}

static void
jidset_add(struct jidset *js, const char *j)
{
	if (jidset_has(js, j))
		return;
	js->v = xrealloc(js->v, (js->n + 1) * sizeof *js->v);
	js->v[js->n++] = j;
}

/* The blocked JIDs of m, pointing into m. */
static void
blocklist_of(const struct pmodel *m, struct jidset *js)
{
	const struct plist *l = model_default(m);

	memset(js, 0, sizeof *js);
	for (size_t i = 0; l != NULL && i < l->n; i++)
		if (rule_is_block(&l->r[i]))
			jidset_add(js, l->r[i].value);
}

/* Pushes for the difference between two blocklists. */
static void
push_blocklist_diff(const struct pacct *a, const struct pmodel *om,
    const struct pmodel *nm, int unblock_all)
{
	struct jidset o, n, added = { NULL, 0 }, removed = { NULL, 0 };

	blocklist_of(om, &o);
	blocklist_of(nm, &n);
	for (size_t i = 0; i < o.n; i++)
		if (!jidset_has(&n, o.v[i]))
			jidset_add(&removed, o.v[i]);
	for (size_t i = 0; i < n.n; i++)
		if (!jidset_has(&o, n.v[i]))
			jidset_add(&added, n.v[i]);
	if (removed.n > 0)
		push_blocking(a, "unblock", removed.v,
		    unblock_all && n.n == 0 ? 0 : removed.n);
	if (added.n > 0)
		push_blocking(a, "block", added.v, added.n);
	free(o.v);
	free(n.v);
	free(added.v);
	free(removed.v);
}

/* ---- changes ---- */

/*
 * A change of an account's rules: what applied to each session before is
 * remembered, the change is made, then the sessions, contacts and other
 * resources are told what it means.
 */
struct change {
	struct pacct	*a;
	struct pmodel	*old;		/* kept alive until change_end() */
	struct {
		uint64_t		 sid;
		const struct plist	*l;
	}		*snap;
	size_t		 nsnap;
};

static void
change_begin(struct change *c, struct pacct *a)
{
	struct user *u = user_find(a->bare);
	struct session *s;

	memset(c, 0, sizeof *c);
	c->a = a;
	c->old = a->m;
	for (s = u ? u->sessions : NULL; s != NULL; s = s->next) {
		c->snap = xrealloc(c->snap, (c->nsnap + 1) * sizeof *c->snap);
		c->snap[c->nsnap].sid = s->id;
		c->snap[c->nsnap++].l = session_list(a, s);
	}
	a->hold++;
}

/* Save m and make it the model (m is consumed either way). */
static enum stanza_error
change_commit(struct change *c, struct pmodel *m)
{
	enum stanza_error e = model_save(c->a, m);

	if (e != ERR_NONE) {
		model_free(m);
		return e;
	}
	c->a->m = m;
	return ERR_NONE;
}

static void
change_abort(struct change *c)
{
	free(c->snap);
	c->a->hold--;
}

/* pushed: the list whose definition changed, or NULL. */
static void
change_end(struct change *c, const char *pushed, int unblock_all)
{
	struct pacct *a = c->a;
	struct user *u = user_find(a->bare);
	struct session *s;

	if (pushed != NULL)
		push_privacy(a, pushed);
	if (c->old != a->m)
		push_blocklist_diff(a, c->old, a->m, unblock_all);
	for (s = u ? u->sessions : NULL; s != NULL; s = s->next) {
		const struct plist *ol = NULL, *nl = session_list(a, s);
		size_t i;
		for (i = 0; i < c->nsnap && c->snap[i].sid != s->id; i++)
			;
		if (i < c->nsnap)
			ol = c->snap[i].l;
		else
			ol = effective(c->old, NULL);
		if (!list_equal(ol, nl))
			session_effects(a, s, ol, nl);
	}
	if (c->old != a->m)
		model_free(c->old);
	change_abort(c);
}

/* ---- XEP-0016 IQs ---- */

static enum stanza_error
reply_error(struct iq_req *r, enum stanza_error e, const char *text)
{
	iq_error(r, e, text);
	return ERR_NONE;
}

static enum stanza_error
damaged(struct iq_req *r)
{
	return reply_error(r, ERR_INTERNAL_SERVER_ERROR,
	    "The stored privacy lists are damaged; the server log says why");
}

static size_t
element_count(const struct xml_node *n)
{
	size_t k = 0;

	for (const struct xml_node *c = xml_first_element(n); c != NULL;
	    c = xml_next(c, NULL, NULL))
		k++;
	return k;
}

static enum stanza_error
privacy_get(struct iq_req *r)
{
	struct pacct *a = acct_get(r->from.domain, r->from.local);
	const struct xml_node *c = xml_first_element(r->payload);
	struct xml_node *reply, *q;
	const struct plist *l;
	const char *act;

	if (a == NULL)
		return ERR_BAD_REQUEST;
	if (a->m->broken)
		return damaged(r);
	if (c == NULL) {
		/* The names, preceded by the active and default lists. */
		reply = iq_result(r);
		q = xml_add(reply, "query", NS_PRIVACY);
		act = r->sess ? active_of(a, r->sess->id) : NULL;
		if (act != NULL)
			xml_set_attr(xml_add(q, "active", NS_PRIVACY), "name", act);
		if (a->m->def != NULL)
			xml_set_attr(xml_add(q, "default", NS_PRIVACY), "name",
			    a->m->def);
		for (size_t i = 0; i < a->m->n; i++)
			list_to_xml(q, &a->m->l[i], 0);
		iq_reply(r, reply);
		return ERR_NONE;
	}
	if (element_count(r->payload) != 1 || !xml_is(c, "list", NS_PRIVACY) ||
	    xml_attr(c, "name") == NULL)
		return reply_error(r, ERR_BAD_REQUEST,
		    "Ask for the list names, or for exactly one list by name");
	if ((l = model_list(a->m, xml_attr(c, "name"))) == NULL)
		return ERR_ITEM_NOT_FOUND;
	reply = iq_result(r);
	list_to_xml(xml_add(reply, "query", NS_PRIVACY), l, 1);
	iq_reply(r, reply);
	return ERR_NONE;
}

/* Does 'name' apply to a session of the account other than 'self'?  With
 * name NULL: does the default list apply to one? */
static int
in_use_elsewhere(const struct pacct *a, const struct session *self,
    const char *name)
{
	struct user *u = user_find(a->bare);
	const struct plist *l;

	for (struct session *s = u ? u->sessions : NULL; s; s = s->next) {
		if (s == self)
			continue;
		if (model_list(a->m, active_of(a, s->id)) != NULL) {
			if (name != NULL && strcmp(active_of(a, s->id), name) == 0)
				return 1;
			continue;
		}
		l = model_default(a->m);
		if (l != NULL && (name == NULL || strcmp(l->name, name) == 0))
			return 1;
	}
	return 0;
}

static enum stanza_error
set_active(struct iq_req *r, struct pacct *a, const struct xml_node *c)
{
	const char *name = xml_attr(c, "name");
	struct change ch;
	struct psess *p;

	if (r->sess == NULL)
		return reply_error(r, ERR_BAD_REQUEST,
		    "An active list belongs to a session");
	if (name != NULL && model_list(a->m, name) == NULL)
		return ERR_ITEM_NOT_FOUND;
	change_begin(&ch, a);
	p = psess_get(a, r->sess->id);
	free(p->active);
	p->active = name != NULL ? xstrdup(name) : NULL;
	iq_ok(r);
	change_end(&ch, NULL, 0);
	return ERR_NONE;
}

static enum stanza_error
set_default(struct iq_req *r, struct pacct *a, const struct xml_node *c)
{
	const char *name = xml_attr(c, "name");
	struct pmodel *m;
	struct change ch;
	enum stanza_error e;

	if (a->m->broken)
		return damaged(r);
	if (name != NULL && model_list(a->m, name) == NULL)
		return ERR_ITEM_NOT_FOUND;
	if ((name == NULL && a->m->def == NULL) ||
	    (name != NULL && a->m->def != NULL && strcmp(name, a->m->def) == 0))
		return iq_ok(r);
	/* XEP-0016 section 2.4: not while another resource relies on it. */
	if (in_use_elsewhere(a, r->sess, NULL))
		return reply_error(r, ERR_CONFLICT,
		    "The default list is in use by another resource");
	m = model_clone(a->m);
	free(m->def);
	m->def = name != NULL ? xstrdup(name) : NULL;
	change_begin(&ch, a);
	if ((e = change_commit(&ch, m)) != ERR_NONE) {
		change_abort(&ch);
		return e;
	}
	iq_ok(r);
	change_end(&ch, NULL, 0);
	return ERR_NONE;
}

static enum stanza_error
remove_list(struct iq_req *r, struct pacct *a, const char *name)
{
	struct pmodel *m;
	struct change ch;
	struct psess *p;
	enum stanza_error e;

	if (model_list(a->m, name) == NULL)
		return ERR_ITEM_NOT_FOUND;
	/* XEP-0016 section 2.6: not while it applies to another resource. */
	if (in_use_elsewhere(a, r->sess, name))
		return reply_error(r, ERR_CONFLICT,
		    "The list is in use by another resource");
	m = model_clone(a->m);
	model_remove_list(m, model_list(m, name));
	if (m->def != NULL && strcmp(m->def, name) == 0) {
		free(m->def);
		m->def = NULL;
	}
	change_begin(&ch, a);
	if ((e = change_commit(&ch, m)) != ERR_NONE) {
		change_abort(&ch);
		return e;
	}
	if (r->sess != NULL && (p = psess_find(a, r->sess->id)) != NULL &&
	    p->active != NULL && strcmp(p->active, name) == 0) {
		free(p->active);
		p->active = NULL;
	}
	iq_ok(r);
	change_end(&ch, name, 0);
	return ERR_NONE;
}

/* XEP-0016 section 2.1: groups should be in the roster. */
static int
groups_known(struct pacct *a, const struct plist *l, const char **missing)
{
	const struct rview *v = NULL;
	int loaded = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (l->r[i].type != RT_GROUP)
			continue;
		if (!loaded) {
			v = rview_get(a);
			loaded = 1;
		}
		if (!rview_has_group(v, l->r[i].value)) {
			*missing = l->r[i].value;
			return 0;
		}
	}
	return 1;
}

static enum stanza_error
set_list(struct iq_req *r, struct pacct *a, const struct xml_node *c)
{
	const char *name = xml_attr(c, "name"), *why = NULL, *missing = NULL;
	struct plist nl, *old;
	struct pmodel *m;
	struct change ch;
	enum stanza_error e;
	char text[128];

	if (a->m->broken)
		return damaged(r);
	if (name == NULL || *name == '\0')
		return reply_error(r, ERR_BAD_REQUEST, "A list needs a name");
	if (xml_first_element(c) == NULL)
		return remove_list(r, a, name);
	if ((e = parse_list(c, &nl, setting("max_items", DEFAULT_MAX_ITEMS),
	    &why)) != ERR_NONE)
		return reply_error(r, e, why);
	if (!groups_known(a, &nl, &missing)) {
		snprintf(text, sizeof text, "No roster group is named '%.64s'",
		    missing);
		list_clear(&nl);	/* missing pointed into it */
		return reply_error(r, ERR_ITEM_NOT_FOUND, text);
	}
	if (model_list(a->m, name) == NULL &&
	    a->m->n >= setting("max_lists", DEFAULT_MAX_LISTS)) {
		list_clear(&nl);
		return reply_error(r, ERR_NOT_ALLOWED, "Too many privacy lists");
	}
	m = model_clone(a->m);
	if ((old = model_list(m, name)) != NULL) {
		list_clear(old);
		*old = nl;		/* replaces it (XEP-0016 section 2.5) */
	} else
		model_append_list(m, &nl);
	change_begin(&ch, a);
	if ((e = change_commit(&ch, m)) != ERR_NONE) {
		change_abort(&ch);
		return e == ERR_NOT_ALLOWED ? reply_error(r, e,
		    "The privacy lists would be too large") : e;
	}
	iq_ok(r);
	change_end(&ch, name, 0);
	return ERR_NONE;
}

static enum stanza_error
privacy_set(struct iq_req *r)
{
	struct pacct *a = acct_get(r->from.domain, r->from.local);
	const struct xml_node *c = xml_first_element(r->payload);

	if (a == NULL)
		return ERR_BAD_REQUEST;
	/* XEP-0016 section 2.1: exactly one child in a set. */
	if (c == NULL || element_count(r->payload) != 1)
		return reply_error(r, ERR_BAD_REQUEST,
		    "A privacy set holds exactly one <active/>, <default/> or "
		    "<list/>");
	if (xml_is(c, "active", NS_PRIVACY))
		return set_active(r, a, c);
	if (xml_is(c, "default", NS_PRIVACY))
		return set_default(r, a, c);
	if (xml_is(c, "list", NS_PRIVACY))
		return set_list(r, a, c);
	return reply_error(r, ERR_BAD_REQUEST,
	    "A privacy set holds <active/>, <default/> or <list/>");
}

/* ---- XEP-0191 IQs ---- */

static enum stanza_error
blocklist_get(struct iq_req *r)
{
	struct pacct *a = acct_get(r->from.domain, r->from.local);
	struct xml_node *reply, *b;
	struct jidset js;

	if (r->type != IQ_GET)
		return reply_error(r, ERR_BAD_REQUEST,
		    "The blocklist is read with type 'get'");
	if (a == NULL)
		return ERR_BAD_REQUEST;
	if (a->m->broken)
		return damaged(r);
	if (r->sess != NULL)
		psess_get(a, r->sess->id)->blocklist = 1;
	reply = iq_result(r);
	b = xml_add(reply, "blocklist", NS_BLOCKING);
	blocklist_of(a->m, &js);
	for (size_t i = 0; i < js.n; i++)
		xml_set_attr(xml_add(b, "item", NS_BLOCKING), "jid", js.v[i]);
	free(js.v);
	iq_reply(r, reply);
	return ERR_NONE;
}

/* The JIDs of a block or unblock, normalised and without repeats (heap
 * strings in *out).  ERR_NONE, or an error with *why. */
static enum stanza_error
request_jids(const struct xml_node *p, char ***out, size_t *n, size_t max,
    const char **why)
{
	char norm[JID_MAX + 1];
	const struct xml_node *c;
	const char *j;
	size_t i;

	*out = NULL;
	*n = 0;
	for (c = xml_first_element(p); c != NULL; c = xml_next(c, NULL, NULL)) {
		enum stanza_error e = ERR_NONE;
		if (!xml_is(c, "item", NS_BLOCKING) ||
		    (j = xml_attr(c, "jid")) == NULL) {
			*why = "Each <item/> needs a jid, and nothing else "
			    "belongs here";
			e = ERR_BAD_REQUEST;
		} else if (jid_normalize(j, norm, sizeof norm) == -1) {
			*why = "Not a valid JID";
			e = ERR_JID_MALFORMED;
		} else if (*n >= max) {
			*why = "Too many items";
			e = ERR_NOT_ALLOWED;
		}
		if (e != ERR_NONE) {
			for (i = 0; i < *n; i++)
				free((*out)[i]);
			free(*out);
			*out = NULL;
			*n = 0;
			return e;
		}
		for (i = 0; i < *n && strcmp((*out)[i], norm) != 0; i++)
			;
		if (i < *n)
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof **out);
		(*out)[(*n)++] = xstrdup(norm);
	}
	return ERR_NONE;
}

static void
free_jids(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Put k new block rules in front of l (XEP-0191 section 3: blocked items
 * come first), renumbering l only when there is no room before it. */
static void
list_prepend_blocks(struct plist *l, char **jids, size_t k)
{
	struct prule *nr = xcalloc(l->n + k, sizeof *nr);
	uint32_t base;
	struct jid j;
	size_t i;

	if (l->n > 0 && l->r[0].order >= k)
		base = l->r[0].order - (uint32_t)k;
	else {
		base = 0;
		for (i = 0; i < l->n; i++)	/* n + k <= a few 100000 */
			l->r[i].order = (uint32_t)(k + i);
	}
	for (i = 0; i < k; i++) {
		if (jid_parse(&j, jids[i]) == -1)
			fatalx("privacy: normalised JID does not parse");
		nr[i].order = base + (uint32_t)i;
		nr[i].type = RT_JID;
		nr[i].deny = 1;
		nr[i].value = xstrdup(jids[i]);
		rule_set_jid(&nr[i], j.local, j.domain, j.resource);
	}
	if (l->n > 0)
		memcpy(nr + k, l->r, l->n * sizeof *nr);
	free(l->r);
	l->r = nr;
	l->n += k;
}

static int
list_blocks(const struct plist *l, const char *jid)
{
	for (size_t i = 0; l != NULL && i < l->n; i++)
		if (rule_is_block(&l->r[i]) && strcmp(l->r[i].value, jid) == 0)
			return 1;
	return 0;
}

static enum stanza_error
block_set(struct iq_req *r)
{
	struct pacct *a = acct_get(r->from.domain, r->from.local);
	size_t max = setting("max_items", DEFAULT_MAX_ITEMS), n, k = 0, i;
	const char *why = NULL;
	char **jids, name[LIST_NAME_MAX + 1];
	struct pmodel *m;
	struct plist *l;
	struct change ch;
	enum stanza_error e;

	if (r->type != IQ_SET)
		return reply_error(r, ERR_BAD_REQUEST, "A block is of type 'set'");
	if (a == NULL)
		return ERR_BAD_REQUEST;
	if ((e = request_jids(r->payload, &jids, &n, max, &why)) != ERR_NONE)
		return reply_error(r, e, why);
	if (n == 0)
		return reply_error(r, ERR_BAD_REQUEST,
		    "A block needs at least one item");
	for (i = 0; i < n; i++) {
		struct jid j;
		if (jid_parse(&j, jids[i]) == 0 && j.local[0] != '\0' &&
		    exempt(&j, a->local, a->host)) {
			free_jids(jids, n);
			return reply_error(r, ERR_NOT_ACCEPTABLE,
			    "An account cannot block itself");
		}
	}
	if (a->m->broken) {
		free_jids(jids, n);
		return damaged(r);
	}
	m = model_clone(a->m);
	if ((l = model_default(m)) == NULL) {
		/* The blocklist is the default list: make one. */
		if ((l = model_list(m, BLOCKLIST_NAME)) == NULL) {
			struct plist nl = { xstrdup(BLOCKLIST_NAME), NULL, 0 };
			l = model_append_list(m, &nl);
		}
		m->def = xstrdup(BLOCKLIST_NAME);
	}
	/* Keep only the JIDs not blocked yet, in the order asked. */
	for (i = 0; i < n; i++)
		if (list_blocks(l, jids[i]))
			free(jids[i]);
		else
			jids[k++] = jids[i];
	if (k == 0 && a->m->def != NULL) {
		free(jids);
		model_free(m);
		return iq_ok(r);	/* all of them were blocked already */
	}
	if (l->n + k > max) {
		free_jids(jids, k);
		model_free(m);
		return reply_error(r, ERR_NOT_ALLOWED, "The blocklist is full");
	}
	list_prepend_blocks(l, jids, k);
	free_jids(jids, k);
	snprintf(name, sizeof name, "%s", l->name);
	change_begin(&ch, a);
	if ((e = change_commit(&ch, m)) != ERR_NONE) {
		change_abort(&ch);
		return e == ERR_NOT_ALLOWED ? reply_error(r, e,
		    "The privacy lists would be too large") : e;
	}
	iq_ok(r);
	change_end(&ch, name, 0);
	return ERR_NONE;
}

static enum stanza_error
unblock_set(struct iq_req *r)
{
	struct pacct *a = acct_get(r->from.domain, r->from.local);
	const char *why = NULL;
	char **jids, name[LIST_NAME_MAX + 1];
	size_t n, i, k;
	struct pmodel *m;
	struct plist *l;
	struct change ch;
	enum stanza_error e;

	if (r->type != IQ_SET)
		return reply_error(r, ERR_BAD_REQUEST,
		    "An unblock is of type 'set'");
	if (a == NULL)
		return ERR_BAD_REQUEST;
	if ((e = request_jids(r->payload, &jids, &n,
	    setting("max_items", DEFAULT_MAX_ITEMS), &why)) != ERR_NONE)
		return reply_error(r, e, why);
	if (a->m->broken) {
		free_jids(jids, n);
		return damaged(r);
	}
	m = model_clone(a->m);
	l = model_default(m);
	/* No items: unblock everyone (XEP-0191 section 3.4). */
	for (i = k = 0; l != NULL && i < l->n; i++) {
		size_t j;
		for (j = 0; j < n && strcmp(jids[j], l->r[i].value ?
		    l->r[i].value : "") != 0; j++)
			;
		if (rule_is_block(&l->r[i]) && (n == 0 || j < n))
			rule_clear(&l->r[i]);
		else
			l->r[k++] = l->r[i];
	}
	free_jids(jids, n);
	if (l == NULL || k == l->n) {
		model_free(m);
		return iq_ok(r);
	}
	l->n = k;
	snprintf(name, sizeof name, "%s", l->name);
	change_begin(&ch, a);
	if ((e = change_commit(&ch, m)) != ERR_NONE) {
		change_abort(&ch);
		return e;
	}
	iq_ok(r);
	change_end(&ch, name, n == 0);
	return ERR_NONE;
}

/* ---- session and account events ---- */

static void
sess_bound(struct session *s)
{
	if (!stopped)
		(void)acct_get(s->host, s->local);	/* load at login */
}

static void
sess_end(struct session *s)
{
	struct pacct *a;

	if (stopped || (a = acct_find(s->bare)) == NULL)
		return;
	psess_remove(a, s->id);
	/* Still in the router's tables: the last one leaves the account
	 * idle, in the LRU, where the presence module's goodbye finds it. */
	if (s->user == NULL || s->user->nsessions <= 1) {
		acct_set_online(a, 0);
		a->hold++;
		lru_evict();
		a->hold--;
	}
}

static void
acct_deleted(const char *host, const char *local)
{
	acct_drop(host, local);
}

static void
acct_created(const char *host, const char *local)
{
	acct_drop(host, local);		/* a stale entry for the old name */
}

static void
privacy_fini(void)
{
	acct_free_all();
	stopped = 1;
}

/* ---- the descriptors ---- */

/*
 * Both modules enforce the same rules, once: mod_blocklist's hooks stand
 * aside when mod_privacy is enabled.
 */
static int
bl_inbound(struct xml_node *st, const struct jid *to)
{
	return module_enabled(&mod_privacy) ? 0 : inbound(st, to);
}

static int
bl_outbound(struct session *s, struct xml_node *st)
{
	return module_enabled(&mod_privacy) ? 0 : outbound(s, st);
}

static int
bl_route_filter(struct xml_node *st, const struct jid *to)
{
	return module_enabled(&mod_privacy) ? 0 : route_filter(st, to);
}

static void
bl_sess_bound(struct session *s)
{
	if (!module_enabled(&mod_privacy))
		sess_bound(s);
}

static void
bl_sess_end(struct session *s)
{
	if (!module_enabled(&mod_privacy))
		sess_end(s);
}

static void
bl_acct_created(const char *host, const char *local)
{
	if (!module_enabled(&mod_privacy))
		acct_created(host, local);
}

static const struct iq_handler privacy_iq[] = {
	{ "query", NS_PRIVACY, IQ_GET, IQ_TO_SELF, privacy_get },
	{ "query", NS_PRIVACY, IQ_SET, IQ_TO_SELF, privacy_set },
	{ NULL, NULL, 0, 0, NULL }
};

/* Both types are taken so that a wrong one gets bad-request. */
static const struct iq_handler blocklist_iq[] = {
	{ "blocklist", NS_BLOCKING, IQ_GET | IQ_SET, IQ_TO_SELF, blocklist_get },
	{ "block", NS_BLOCKING, IQ_GET | IQ_SET, IQ_TO_SELF, block_set },
	{ "unblock", NS_BLOCKING, IQ_GET | IQ_SET, IQ_TO_SELF, unblock_set },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const privacy_features[] = { NS_PRIVACY, NULL };
static const char *const blocklist_features[] = { NS_BLOCKING, NULL };

const struct module mod_privacy = {
	.name = "privacy",
	.features = privacy_features,
	.iq = privacy_iq,
	.inbound = inbound,
	.outbound = outbound,
	.route_filter = route_filter,
	.session_bound = sess_bound,
	.session_end = sess_end,
	.account_deleted = acct_deleted,	/* called whether enabled or not */
	.account_created = acct_created,
	.fini = privacy_fini,
	.config_check = privacy_config_check,
};

const struct module mod_blocklist = {
	.name = "blocklist",
	.features = blocklist_features,
	.iq = blocklist_iq,
	.inbound = bl_inbound,
	.outbound = bl_outbound,
	.route_filter = bl_route_filter,
	.session_bound = bl_sess_bound,
	.session_end = bl_sess_end,
	.account_created = bl_acct_created,
	.fini = privacy_fini,
};
