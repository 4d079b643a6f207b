/*
 * disco.c - service discovery (XEP-0030) for the server and for accounts,
 * the server's contact addresses (XEP-0157, carried as XEP-0128 extended
 * information), and the server's entity capabilities (XEP-0115) in stream
 * features.
 *
 * The server's disco#info is built from the enabled modules each time it
 * is asked for, and the caps 'ver' is hashed from that very tree, so the
 * two can never disagree after a reload.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bearssl_hash.h"

#include "roster.h"

#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	"http://jabber.org/protocol/disco#items"
#define NS_CAPS		"http://jabber.org/protocol/caps"
#define NS_XDATA	"jabber:x:data"
#define NS_SERVERINFO	"http://jabber.org/network/serverinfo"

/* Our caps node: a URI naming the software (XEP-0115 section 4). */
#define CAPS_NODE	"https://xmppd.invalid"
#define CAPS_VER_MAX	(B64_LEN(br_sha1_SIZE) + 1)

#define ADDR_MAX	16	/* addresses per [disco] key */
#define URI_MAX		512	/* bytes of one address */

/* Exported for tests/unit/test_disco.c only. */
int	 disco_caps_ver(const struct xml_node *query, char *out, size_t outlen);

/* [disco] keys and the XEP-0157 fields they fill, in field order. */
static const struct {
	const char	*key;
	const char	*field;
} addr_keys[] = {
	{ "abuse", "abuse-addresses" },
	{ "admin", "admin-addresses" },
	{ "feedback", "feedback-addresses" },
	{ "sales", "sales-addresses" },
	{ "security", "security-addresses" },
	{ "support", "support-addresses" },
};
#define NADDR_KEYS	(sizeof addr_keys / sizeof addr_keys[0])

/* ---- address lists ---- */

/*
 * The next item of a list, split as the core splits every list in the
 * config: items separated by commas and/or blanks, each perhaps in double
 * quotes, empty ones skipped.  1 with the item in out, 0 at the end of the
 * list, -1 for an item longer than outlen - 1 bytes.
 */
static int
list_next(const char **sp, char *out, size_t outlen)
{
	const char *s = *sp, *start;
	size_t n;

	for (;;) {
		while (*s == ',' || isspace((unsigned char)*s))
			s++;
		if (*s == '\0') {
			*sp = s;
			return 0;
		}
		start = s;
		while (*s != '\0' && *s != ',' && !isspace((unsigned char)*s))
			s++;
		n = (size_t)(s - start);
		if (n >= 2 && start[0] == '"' && start[n - 1] == '"') {
			start++;
			n -= 2;
		}
		if (n > 0)
			break;
	}
	if (n >= outlen)
		return -1;
	memcpy(out, start, n);
	out[n] = '\0';
	*sp = s;
	return 1;
}

static int
has_prefix_nocase(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Is u an xmpp:, mailto: or https: URI we are willing to publish? */
static int
uri_check(const char *u, char *err, size_t errlen)
{
	size_t n = strlen(u);
	const char *rest, *at;
	char jidbuf[URI_MAX];
	struct jid j;

	if (!utf8_is_valid(u, n)) {
		snprintf(err, errlen, "an address is not valid UTF-8");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];
		/* Not echoed: the value may hold control characters. */
		if (c < 0x20 || c == 0x7f || c == '"' || c == '<' || c == '>') {
			snprintf(err, errlen, "an address contains a control "
			    "character, a quote, '<' or '>'");
			return -1;
		}
	}
	if (has_prefix_nocase(u, "xmpp:")) {
		/* RFC 5122: a JID, perhaps followed by a query. */
		rest = u + 5;
		n = strcspn(rest, "?");
		if (n == 0 || n >= sizeof jidbuf || rest[0] == '/') {
			snprintf(err, errlen, "'%.64s' is not an xmpp: URI with "
			    "an address (xmpp:user@example.org)", u);
			return -1;
		}
		memcpy(jidbuf, rest, n);
		jidbuf[n] = '\0';
		if (jid_parse(&j, jidbuf) == -1) {
			snprintf(err, errlen, "'%.64s': '%.64s' is not a valid "
			    "JID", u, jidbuf);
			return -1;
		}
		return 0;
	}
	if (has_prefix_nocase(u, "mailto:")) {
		rest = u + 7;
		at = strchr(rest, '@');
		if (at == NULL || at == rest || at[1] == '\0' ||
		    strchr(at + 1, '@') != NULL) {
			snprintf(err, errlen, "'%.64s' is not a mailto: URI "
			    "with one address (mailto:abuse@example.org)", u);
			return -1;
		}
		return 0;
	}
	if (has_prefix_nocase(u, "https:")) {
		rest = u + 6;
		if (strncmp(rest, "//", 2) != 0 || rest[2] == '\0' ||
		    rest[2] == '/') {
			snprintf(err, errlen, "'%.64s' is not an https: URI "
			    "with a host (https://example.org/contact)", u);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "'%.64s' is not an xmpp:, mailto: or https: URI", u);
	return -1;
}

static int
disco_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	char item[URI_MAX], seen[ADDR_MAX][URI_MAX];
	const char *s = value;
	size_t i, n = 0;
	int rc;

	for (i = 0; i < NADDR_KEYS; i++)
		if (strcmp(key, addr_keys[i].key) == 0)
			break;
	if (i == NADDR_KEYS) {
		snprintf(err, errlen, "unknown key '%.64s' in [disco] (known: "
		    "abuse admin feedback sales security support)", key);
		return -1;
	}
	while ((rc = list_next(&s, item, sizeof item)) == 1) {
		if (n == ADDR_MAX) {
			snprintf(err, errlen, "%s: more than %d addresses", key,
			    ADDR_MAX);
			return -1;
		}
		if (uri_check(item, err, errlen) == -1)
			return -1;
		for (size_t k = 0; k < n; k++)
			if (strcmp(seen[k], item) == 0) {
				snprintf(err, errlen, "%s: '%.64s' is listed "
				    "twice", key, item);
				return -1;
			}
		memcpy(seen[n++], item, strlen(item) + 1);
	}
	if (rc == -1) {
		snprintf(err, errlen, "%s: an address is longer than %d bytes",
		    key, URI_MAX - 1);
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s: no address given (leave the key "
		    "out instead)", key);
		return -1;
	}
	return 0;
}

/* ---- the server's disco#info ---- */

static struct xml_node *
add_field(struct xml_node *form, const char *var, const char *type)
{
	struct xml_node *f = xml_add(form, "field", NULL);

	xml_set_attr(f, "var", var);
	if (type != NULL)
		xml_set_attr(f, "type", type);
	return f;
}

/* Append value to field 'var' of the contact form, making the form (and
 * the field) when it is the first value. */
static void
add_contact(struct xml_node *query, struct xml_node **form,
    const char *var, const char *value)
{
	struct xml_node *f;

	if (*form == NULL) {
		*form = xml_add(query, "x", NS_XDATA);
		xml_set_attr(*form, "type", "result");
		f = add_field(*form, "FORM_TYPE", "hidden");
		xml_add_text_child(f, "value", NULL, NS_SERVERINFO);
	}
	f = (*form)->last;
	if (strcmp(xml_attr(f, "var"), var) != 0)
		f = add_field(*form, var, "list-multi");
	xml_add_text_child(f, "value", NULL, value);
}

/*
 * XEP-0157 contact addresses as a XEP-0128 form, from [disco]; without
 * any, the administrators' xmpp: addresses.  Nothing if there is nothing
 * to say (a form with only FORM_TYPE would tell nobody anything).
 */
static void
add_contact_form(struct xml_node *query)
{
	const struct config *cfg = server_config();
	struct xml_node *form = NULL;
	const char *v, *s;
	char item[URI_MAX];
	int configured = 0;
	size_t i, k;

	for (i = 0; i < NADDR_KEYS; i++)
		if (config_module_opt(cfg, "disco", addr_keys[i].key) != NULL)
			configured = 1;
	if (!configured) {
		for (k = 0; k < cfg->admins.n; k++)
			if ((size_t)snprintf(item, sizeof item, "xmpp:%s",
			    cfg->admins.v[k]) < sizeof item)
				add_contact(query, &form, "admin-addresses", item);
		return;
	}
	for (i = 0; i < NADDR_KEYS; i++) {
		if ((v = config_module_opt(cfg, "disco", addr_keys[i].key)) == NULL)
			continue;
		s = v;
		while (list_next(&s, item, sizeof item) == 1)
			add_contact(query, &form, addr_keys[i].field, item);
	}
}

static size_t
count_children(const struct xml_node *n, const char *name, const char *ns)
{
	const struct xml_node *c;
	size_t k = 0;

	for (c = xml_child(n, name, ns); c != NULL; c = xml_next(c, name, ns))
		k++;
	return k;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Every enabled module's features, sorted and each once: XEP-0030 forbids
 * duplicates and XEP-0115 would call the whole answer ill-formed.
 */
static void
add_features(struct xml_node *query)
{
	struct xml_node *all, *fe;
	const char **v;
	size_t n, i;

	all = xml_new(query->arena, "query", NS_DISCO_INFO);
	modules_add_features(all);
	n = count_children(all, "feature", NULL);
	if (n == 0)
		return;
	v = xcalloc(n, sizeof *v);
	n = 0;
	for (fe = xml_child(all, "feature", NULL); fe != NULL;
	    fe = xml_next(fe, "feature", NULL))
		if (xml_attr(fe, "var") != NULL)
			v[n++] = xml_attr(fe, "var");
	qsort(v, n, sizeof *v, cmp_str);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
			continue;
		fe = xml_add(query, "feature", NULL);
		xml_set_attr(fe, "var", v[i]);
	}
	free(v);
}

static void
fill_server_info(struct xml_node *query)
{
	struct xml_node *id = xml_add(query, "identity", NULL);

	xml_set_attr(id, "category", "server");
	xml_set_attr(id, "type", "im");
	xml_set_attr(id, "name", "xmppd");
	add_features(query);
	add_contact_form(query);
}

/* ---- XEP-0115 verification string ---- */

struct ident {
	const char	*category, *type, *lang, *name;
};

static int
cmp_ident(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;
	int c;

	if ((c = strcmp(x->category, y->category)) != 0)
		return c;
	if ((c = strcmp(x->type, y->type)) != 0)
		return c;
	if ((c = strcmp(x->lang, y->lang)) != 0)
		return c;
	return strcmp(x->name, y->name);
}

struct form {
	const char		*type;		/* the FORM_TYPE */
	const struct xml_node	*x;
};

static int
cmp_form(const void *a, const void *b)
{
	const struct form *x = a, *y = b;

	return strcmp(x->type, y->type);
}

static int
cmp_field(const void *a, const void *b)
{
	const struct xml_node *x = *(const struct xml_node *const *)a;
	const struct xml_node *y = *(const struct xml_node *const *)b;

	return strcmp(xml_attr(x, "var"), xml_attr(y, "var"));
}

static void
hash_item(br_sha1_context *h, const char *s)
{
	br_sha1_update(h, s, strlen(s));
	br_sha1_update(h, "<", 1);
}

/*
 * The FORM_TYPE of a data form, or NULL if it has none that XEP-0115
 * counts (a hidden field with a value); *bad set if the form makes the
 * whole answer ill-formed (two FORM_TYPE fields, or values that differ).
 */
static const char *
form_type(const struct xml_node *x, int *bad)
{
	const struct xml_node *f, *v;
	const char *t = NULL, *type;

	for (f = xml_child(x, "field", NS_XDATA); f != NULL;
	    f = xml_next(f, "field", NS_XDATA)) {
		const char *var = xml_attr(f, "var");
		if (var == NULL || strcmp(var, "FORM_TYPE") != 0)
			continue;
		if (t != NULL) {
			*bad = 1;
			return NULL;
		}
		type = xml_attr(f, "type");
		if (type == NULL || strcmp(type, "hidden") != 0)
			return NULL;
		for (v = xml_child(f, "value", NS_XDATA); v != NULL;
		    v = xml_next(v, "value", NS_XDATA)) {
			if (t != NULL && strcmp(t, xml_text(v)) != 0) {
				*bad = 1;
				return NULL;
			}
			t = xml_text(v);
		}
		if (t == NULL)
			return NULL;
	}
	return t;
}

/*
 * Hash one form's fields but FORM_TYPE, sorted by var, each with its
 * values sorted.  Fields without var (XEP-0004 allows that only for
 * 'fixed' text) cannot be sorted and carry no data: left out.
 */
static void
hash_form(br_sha1_context *h, const struct xml_node *x)
{
	const struct xml_node *f, *v, **fields;
	const char **vals;
	size_t nf = 0, nv, i, k;

	fields = xcalloc(count_children(x, "field", NS_XDATA) + 1,
	    sizeof *fields);
	for (f = xml_child(x, "field", NS_XDATA); f != NULL;
	    f = xml_next(f, "field", NS_XDATA)) {
		const char *var = xml_attr(f, "var");
		if (var != NULL && strcmp(var, "FORM_TYPE") != 0)
			fields[nf++] = f;
	}
	qsort(fields, nf, sizeof *fields, cmp_field);
	for (i = 0; i < nf; i++) {
		hash_item(h, xml_attr(fields[i], "var"));
		nv = count_children(fields[i], "value", NS_XDATA);
		vals = xcalloc(nv + 1, sizeof *vals);
		k = 0;
		for (v = xml_child(fields[i], "value", NS_XDATA); v != NULL;
		    v = xml_next(v, "value", NS_XDATA))
			vals[k++] = xml_text(v);
		qsort(vals, k, sizeof *vals, cmp_str);
		for (size_t j = 0; j < k; j++)
			hash_item(h, vals[j]);
		free(vals);
	}
	free(fields);
}

/*
 * The XEP-0115 section 5.1 verification string of a disco#info <query/>
 * (sha-1, base64) into out.  0, or -1 if the answer is ill-formed by
 * section 5.4 (repeated identities, features or FORM_TYPEs) or out is
 * too small.
 */
int
disco_caps_ver(const struct xml_node *query, char *out, size_t outlen)
{
	const struct xml_node *c;
	struct ident *ids = NULL;
	const char **feats = NULL;
	struct form *forms = NULL;
	size_t nid = 0, nfe = 0, nfo = 0, i;
	unsigned char digest[br_sha1_SIZE];
	br_sha1_context h;
	int bad = 0, rc = -1;

	if (outlen < CAPS_VER_MAX)
		return -1;
	ids = xcalloc(count_children(query, "identity", NS_DISCO_INFO) + 1,
	    sizeof *ids);
	feats = xcalloc(count_children(query, "feature", NS_DISCO_INFO) + 1,
	    sizeof *feats);
	forms = xcalloc(count_children(query, "x", NS_XDATA) + 1, sizeof *forms);
	for (c = xml_child(query, "identity", NS_DISCO_INFO); c != NULL;
	    c = xml_next(c, "identity", NS_DISCO_INFO)) {
		const char *lang = xml_attr_ns(c, NS_XML, "lang");
		ids[nid].category = xml_attr(c, "category");
		ids[nid].type = xml_attr(c, "type");
		ids[nid].lang = lang ? lang : "";
		ids[nid].name = xml_attr(c, "name") ? xml_attr(c, "name") : "";
		if (ids[nid].category == NULL || ids[nid].type == NULL)
			goto done;	/* both are required (XEP-0030) */
		nid++;
	}
	for (c = xml_child(query, "feature", NS_DISCO_INFO); c != NULL;
	    c = xml_next(c, "feature", NS_DISCO_INFO))
		if ((feats[nfe++] = xml_attr(c, "var")) == NULL)
			goto done;
	for (c = xml_child(query, "x", NS_XDATA); c != NULL;
	    c = xml_next(c, "x", NS_XDATA)) {
		const char *t = form_type(c, &bad);
		if (bad)
			goto done;
		if (t == NULL)
			continue;	/* 5.4: no FORM_TYPE, not hashed */
		forms[nfo].type = t;
		forms[nfo++].x = c;
	}
	qsort(ids, nid, sizeof *ids, cmp_ident);
	qsort(feats, nfe, sizeof *feats, cmp_str);
	qsort(forms, nfo, sizeof *forms, cmp_form);
	for (i = 1; i < nid; i++)
		if (cmp_ident(&ids[i - 1], &ids[i]) == 0)
			goto done;
	for (i = 1; i < nfe; i++)
		if (strcmp(feats[i - 1], feats[i]) == 0)
			goto done;
	for (i = 1; i < nfo; i++)
		if (strcmp(forms[i - 1].type, forms[i].type) == 0)
			goto done;

	br_sha1_init(&h);
	for (i = 0; i < nid; i++) {
		br_sha1_update(&h, ids[i].category, strlen(ids[i].category));
		br_sha1_update(&h, "/", 1);
		br_sha1_update(&h, ids[i].type, strlen(ids[i].type));
		br_sha1_update(&h, "/", 1);
		br_sha1_update(&h, ids[i].lang, strlen(ids[i].lang));
		br_sha1_update(&h, "/", 1);
		hash_item(&h, ids[i].name);
	}
	for (i = 0; i < nfe; i++)
		hash_item(&h, feats[i]);
	for (i = 0; i < nfo; i++) {
		hash_item(&h, forms[i].type);
		hash_form(&h, forms[i].x);
	}
	br_sha1_out(&h, digest);
	if (b64_encode(digest, sizeof digest, out, outlen) < 0)
		goto done;
	rc = 0;
done:
	free(ids);
	free(feats);
	free(forms);
	return rc;
}

/* The server's current verification string; 0 or -1. */
static int
server_caps_ver(char *ver, size_t verlen)
{
	struct xml_node *q = xml_new(xml_arena_new(), "query", NS_DISCO_INFO);
	int rc;

	fill_server_info(q);
	rc = disco_caps_ver(q, ver, verlen);
	xml_arena_free(q->arena);
	if (rc == -1)
		log_warnx("disco: cannot compute the caps hash of this server's "
		    "disco#info");
	return rc;
}

/* ---- who may see an account ---- */

/*
 * The owner, and contacts the account has granted presence to (RFC 6121
 * 'from' or 'both'): the same people who may see its presence.  Everybody
 * else must not learn whether the account even exists.
 */
static int
may_see_account(const struct iq_req *r)
{
	return r->where == IQ_TO_SELF ||
	    roster_is_subscriber(r->to.domain, r->to.local, &r->from);
}

/* ---- handlers ---- */

/*
 * Let the enabled modules answer for a node of the server (or add their
 * items at the top level, node NULL).  A hook returns 1 when the node is
 * its own and it filled q, 0 when not, or -ERR_x for an error to answer.
 * Returns ERR_NONE if a module answered, ERR_ITEM_NOT_FOUND if none did,
 * or the module's error.
 */
static enum stanza_error
ask_modules(int items, const struct iq_req *r, const char *node,
    struct xml_node *q)
{
	enum stanza_error e = ERR_ITEM_NOT_FOUND;

	for (const struct module *const *m = modules_all(); *m; m++) {
		int (*fn)(const struct iq_req *, const char *, struct xml_node *) =
		    items ? (*m)->disco_items : (*m)->disco_info;
		int rc;

		if (fn == NULL || !module_enabled(*m))
			continue;
		rc = fn(r, node, q);
		if (node == NULL)
			continue;	/* everyone adds to the top level */
		if (rc < 0)
			return (enum stanza_error)-rc;
		if (rc > 0)
			return ERR_NONE;
	}
	return node == NULL ? ERR_NONE : e;
}

static enum stanza_error
module_node(int items, struct iq_req *r, const char *node)
{
	struct xml_node *reply = iq_result(r), *q;
	enum stanza_error e;

	q = xml_add(reply, "query", items ? NS_DISCO_ITEMS : NS_DISCO_INFO);
	xml_set_attr(q, "node", node);
	if ((e = ask_modules(items, r, node, q)) != ERR_NONE) {
		xml_arena_free(reply->arena);
		return e;
	}
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
server_info(struct iq_req *r, const char *node)
{
	struct xml_node *reply, *q;
	char ver[CAPS_VER_MAX], capsnode[sizeof CAPS_NODE + CAPS_VER_MAX];

	if (node != NULL) {
		/* XEP-0115 6.2: node#ver is another name for our info. */
		if (server_caps_ver(ver, sizeof ver) == -1)
			return ERR_ITEM_NOT_FOUND;
		snprintf(capsnode, sizeof capsnode, CAPS_NODE "#%s", ver);
		if (strcmp(node, capsnode) != 0)
			return module_node(0, r, node);
	}
	reply = iq_result(r);
	q = xml_add(reply, "query", NS_DISCO_INFO);
	if (node != NULL)
		xml_set_attr(q, "node", node);
	fill_server_info(q);
	iq_reply(r, reply);
	return ERR_NONE;
}

/* A node of an account (PEP nodes): the modules' account hooks. */
static enum stanza_error
account_node(int items, struct iq_req *r, const char *node)
{
	struct xml_node *reply = iq_result(r), *q;

	q = xml_add(reply, "query", items ? NS_DISCO_ITEMS : NS_DISCO_INFO);
	xml_set_attr(q, "node", node);
	for (const struct module *const *m = modules_all(); *m; m++) {
		int (*fn)(const struct iq_req *, const char *, struct xml_node *) =
		    items ? (*m)->account_items : (*m)->account_info;
		int rc;
		if (fn == NULL || !module_enabled(*m))
			continue;
		if ((rc = fn(r, node, q)) < 0) {
			xml_arena_free(reply->arena);
			return (enum stanza_error)-rc;
		}
		if (rc > 0) {
			iq_reply(r, reply);
			return ERR_NONE;
		}
	}
	xml_arena_free(reply->arena);
	return ERR_ITEM_NOT_FOUND;
}

static enum stanza_error
account_info(struct iq_req *r, const char *node)
{
	struct xml_node *reply, *q, *n;

	if (!may_see_account(r))
		return ERR_SERVICE_UNAVAILABLE;
	if (node != NULL)
		return account_node(0, r, node);
	reply = iq_result(r);
	q = xml_add(reply, "query", NS_DISCO_INFO);
	n = xml_add(q, "identity", NULL);
	xml_set_attr(n, "category", "account");
	xml_set_attr(n, "type", "registered");
	n = xml_add(q, "feature", NULL);
	xml_set_attr(n, "var", NS_DISCO_INFO);
	/* Modules with something per account (PEP, archives) add theirs. */
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->account_info && module_enabled(*m))
			(*m)->account_info(r, NULL, q);
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
disco_info(struct iq_req *r)
{
	const char *node = xml_attr(r->payload, "node");

	if (r->where == IQ_TO_SERVER)
		return server_info(r, node);
	return account_info(r, node);
}

/* Items: the server's come from the modules (services, command nodes). */
static enum stanza_error
disco_items(struct iq_req *r)
{
	struct xml_node *reply;
	const char *node = xml_attr(r->payload, "node");

	if (r->where == IQ_TO_CONTACT && !may_see_account(r))
		return ERR_SERVICE_UNAVAILABLE;
	if (r->where == IQ_TO_SERVER && node != NULL)
		return module_node(1, r, node);
	if (node != NULL)
		return account_node(1, r, node);
	reply = iq_result(r);
	{
		struct xml_node *q = xml_add(reply, "query", NS_DISCO_ITEMS);
		if (r->where == IQ_TO_SERVER)
			ask_modules(1, r, NULL, q);	/* components, services */
		else
			for (const struct module *const *m = modules_all(); *m; m++)
				if ((*m)->account_items && module_enabled(*m))
					(*m)->account_items(r, NULL, q);
	}
	iq_reply(r, reply);
	return ERR_NONE;
}

/* ---- stream features ---- */

static void
caps_feature(struct xml_node *features)
{
	struct xml_node *c;
	char ver[CAPS_VER_MAX];

	if (server_caps_ver(ver, sizeof ver) == -1)
		return;
	c = xml_add(features, "c", NS_CAPS);
	xml_set_attr(c, "hash", "sha-1");
	xml_set_attr(c, "node", CAPS_NODE);
	xml_set_attr(c, "ver", ver);
}

static void
caps_preauth_feature(struct xml_node *features, const char *host)
{
	caps_feature(features);
}

#define ALL_WHERE	(IQ_TO_SERVER | IQ_TO_SELF | IQ_TO_CONTACT)

static const struct iq_handler disco_iq[] = {
	{ "query", NS_DISCO_INFO, IQ_GET, ALL_WHERE, disco_info },
	{ "query", NS_DISCO_ITEMS, IQ_GET, ALL_WHERE, disco_items },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const disco_features[] = {
	NS_DISCO_INFO, NS_DISCO_ITEMS, NULL
};

const struct module mod_disco = {
	.name = "disco",
	.features = disco_features,
	.iq = disco_iq,
	.stream_features = caps_feature,
	.preauth_features = caps_preauth_feature,
	.config_check = disco_config_check,
};
