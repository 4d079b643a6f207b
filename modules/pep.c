/*
 * pep.c - Personal Eventing Protocol (XEP-0163): every account is a small
 * publish-subscribe service (the XEP-0060 subset PEP needs), with
 * publish-options (XEP-0223), entity capabilities (XEP-0115) to learn who
 * wants which notifications, and the bookmark conversions of XEP-0402
 * (section 5.3) and XEP-0411.  Avatars (XEP-0084), OMEMO device lists and
 * bundles (XEP-0384) and bookmarks (XEP-0402) are plain PEP nodes here.
 *
 * What the account owner can do (requests without 'to' or to the own bare
 * JID): publish (the node is created on first publish, an item id is made
 * up when none is given, a republished id replaces the old item and
 * becomes the newest), publish-options preconditions, retract, items (all,
 * by id, max_items), create (with a configuration form), configure get and
 * set, default, delete, purge, affiliations and subscriptions get and set,
 * subscribe and unsubscribe.  Contacts (requests to the owner's bare JID)
 * can read items, subscribe, unsubscribe and list their own subscriptions
 * and affiliations, as each node's access model allows:
 *   open       everybody;
 *   presence   the owner's contacts with a 'from' or 'both' subscription
 *              (the default, XEP-0163 section 7);
 *   roster     such contacts in one of the node's roster_groups_allowed;
 *   whitelist  the owner and the JIDs the owner made 'member' or
 *              'publisher' (there is no other publisher than the owner:
 *              'publisher' is accepted as a synonym for access).
 * An 'outcast' affiliation locks a JID out whatever the model.  Refusals
 * use the errors of XEP-0060 section 6.5.11 and friends, with the
 * pubsub#errors condition after the stanza condition and the text.
 *
 * Notifications go out as <message type='headline'> (or 'normal' by node
 * configuration) from the owner's bare JID:
 * - to each available resource of the owner and of a contact whose
 *   presence the owner receives, when its entity capabilities list
 *   NODE+notify and the node's access model lets it see the node;
 * - to each explicit subscription (the subscribed JID), when the model
 *   still allows it; a bare subscribed JID whose available resources we
 *   know is served through those resources instead.
 * On initial presence of such a resource (or when its capabilities become
 * known or change), it gets the last item of each node it is newly
 * interested in, with a XEP-0203 delay, unless the node says
 * send_last_published_item = never.
 *
 * Entity capabilities: the 'ver' of a <c/> in presence is resolved by a
 * disco#info query to the announcing full JID (from the owner's bare JID,
 * node = node#ver); the answer comes back through the iq_response hook,
 * its hash is recomputed as XEP-0115 section 5 says (sha-1, sha-224,
 * sha-256, sha-384 and sha-512; ill-formed answers and wrong hashes are
 * not cached), and the NODE+notify features of a verified 'ver' are kept
 * in a bounded cache shared by everyone.  An unknown hash function or a
 * <c/> without one (the legacy format) is resolved for that JID alone.
 * Contacts' presence is tracked only while the owner is online: every
 * publication comes from an online owner, and the owner's probes bring
 * every contact's presence back at login.
 *
 * Bookmarks: urn:xmpp:bookmarks:1 is the one store.
 * - Private XML (XEP-0049) requests for <storage xmlns='storage:bookmarks'/>
 *   on the own account are answered here, before the private module sees
 *   them: a get returns the bookmarks:1 items as a XEP-0048 <storage/>; a
 *   set is compared with them, and only changed rooms are published (or
 *   retracted), with notifications.  <url/> bookmarks, which bookmarks:1
 *   has no place for, are kept aside in pep/x-bookmark-urls.
 * - The XEP-0048 PEP node 'storage:bookmarks' (XEP-0411) is a view of the
 *   same data: items returns one item 'current' with the <storage/>, a
 *   publish to it is applied like a private XML set, and every change of
 *   the bookmarks sends a storage:bookmarks notification (whitelist: the
 *   owner's resources only) to resources that want it.  Retract, delete
 *   and purge of that view are refused (change urn:xmpp:bookmarks:1).
 * - Bookmarks the private module stored before this module was enabled
 *   are copied once into bookmarks:1 when the account next logs in
 *   (XEP-0411 section 5: before the first login that can see them); the
 *   private module's copy is left as it was and is no longer read.
 * The account's disco#info shows urn:xmpp:bookmarks:1#compat,
 * urn:xmpp:bookmarks:1#compat-pep and urn:xmpp:bookmarks-conversion:0.
 *
 * Not done: subscription options, collection nodes, item expiry, RSM,
 * 'authorize' access (not-acceptable with unsupported-access-model),
 * notifications withheld by the owner's privacy lists or blocklist (a
 * blocked contact's presence never reaches us, so it gets no
 * caps-based notifications, but an explicit subscription made before the
 * block still does), XEP-0398 (the vCard module owns vCards).
 *
 * Storage, one file per node in the account directory:
 *   pep/n-<store_escape(node)>   or, for names too long for that,
 *   pep/h-<hex SHA-1 of the node name>
 * holding
 *   <node xmlns='urn:xmppd:pep' version='1' name='NODE'>
 *     <config access='presence' max_items='1' send_last='on_sub_and_presence'
 *        notification_type='headline' deliver_notifications='1'
 *        deliver_payloads='1' notify_retract='1' notify_delete='1'
 *        title='' description=''>
 *       <group>Friends</group>                  (roster_groups_allowed)
 *     </config>
 *     <affiliation jid='bob@example.org' affiliation='member'/>
 *     <subscription jid='bob@example.org/phone' subid='1f3a...'/>
 *     <item id='ID' stamp='2026-01-02T03:04:05Z'>PAYLOAD</item>  (oldest first)
 *   </node>
 * max_items is a number or 'max' (the server's limit, whatever it is when
 * read).  Other files: pep/x-bookmark-urls (<urls version='1'> with the
 * XEP-0048 <url/> elements) and pep/x-bookmarks-imported (a marker: the
 * private module's bookmarks were copied).  Files of a newer version are
 * refused with a log line.  Every write is checked against [pep] max_total
 * (bytes of everything under pep/), max_nodes, max_items_per_node and
 * max_item_size.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearssl_hash.h"
#include "roster.h"

#define NS_PUBSUB		"http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_OWNER		NS_PUBSUB "#owner"
#define NS_PUBSUB_EVENT		NS_PUBSUB "#event"
#define NS_PUBSUB_ERRORS	NS_PUBSUB "#errors"
#define NS_PUBOPT		NS_PUBSUB "#publish-options"
#define NS_NODE_CONFIG		NS_PUBSUB "#node_config"
#define NS_META_DATA		NS_PUBSUB "#meta-data"
#define NS_XDATA		"jabber:x:data"
#define NS_CAPS			"http://jabber.org/protocol/caps"
#define NS_DISCO_INFO		"http://jabber.org/protocol/disco#info"
#define NS_DELAY		"urn:xmpp:delay"
#define NS_ADDRESS		"http://jabber.org/protocol/address"
#define NS_STANZAS		"urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_PRIVATE		"jabber:iq:private"
#define NS_BOOKMARKS		"urn:xmpp:bookmarks:1"
#define NS_LEGACY_BM		"storage:bookmarks"
#define NS_STORE		"urn:xmppd:pep"

#define PEP_DIR			"pep"
#define PEP_FORMAT		"1"
#define URLS_FILE		PEP_DIR "/x-bookmark-urls"
#define IMPORTED_FILE		PEP_DIR "/x-bookmarks-imported"
/* Where the private module keeps storage:bookmarks (its documented
 * format: private/<store_escape("storage|storage:bookmarks")>). */
#define PRIVATE_BM_FILE		"private/storage%7Cstorage%3Abookmarks"
#define LEGACY_ITEM		"current"

#define NODE_NAME_MAX		1024	/* bytes of a node name */
#define ITEM_ID_MAX		3072	/* bytes of an item id (a JID fits) */
#define FILE_NAME_MAX		255
#define NODE_FILE_MAX		(sizeof PEP_DIR + 3 + FILE_NAME_MAX + 1)
#define MAX_GROUPS		64	/* roster_groups_allowed values */
#define MAX_SUBSCRIPTIONS	64	/* explicit subscriptions per node */
#define MAX_AFFILIATIONS	256	/* stored affiliations per node */
#define TEXT_MAX		1024	/* title, description, group names */

/* Settings: defaults and the ranges config_check accepts. */
#define DEFAULT_MAX_ITEMS	256
#define DEFAULT_MAX_ITEM_SIZE	((size_t)256 * 1024)
#define DEFAULT_MAX_TOTAL	((size_t)4 * 1024 * 1024)
#define DEFAULT_MAX_NODES	128
#define MAX_ITEMS_TOP		10000
#define MAX_NODES_TOP		10000
#define ITEM_SIZE_MIN		((size_t)1024)
#define ITEM_SIZE_TOP		((size_t)16 * 1024 * 1024)
#define TOTAL_MIN		((size_t)64 * 1024)
#define TOTAL_TOP		((size_t)1024 * 1024 * 1024)

/*
 * A stored file was checked against the settings when it was written;
 * reading allows the most any setting allows, so lowering a setting never
 * makes stored data unreadable.  Tree limits are generous: payloads were
 * bounded by [limits] when they arrived, and are shallower here.
 */
#define READ_MAX		(TOTAL_TOP + 4096)
static const struct xml_limits stored_limits = { READ_MAX, 260, 520, 1030 };

/* Entity capabilities bookkeeping. */
#define CAPS_BUCKETS		256
#define CAPS_MAX		1024	/* cached 'ver' strings */
#define CAPS_PENDING_MAX	64	/* disco#info queries out at once */
#define CAPS_TIMEOUT_MS		30000
#define CAPS_TRIES		3	/* JIDs asked about one 'ver' */
#define CAPS_NODES_MAX		256	/* +notify features kept per 'ver' */
#define OWNER_BUCKETS		1024
#define CONTACTS_MAX		512	/* resources tracked per online owner */

enum access { ACC_OPEN, ACC_PRESENCE, ACC_ROSTER, ACC_WHITELIST };
static const char *const access_names[] = {
	"open", "presence", "roster", "whitelist", NULL
};
enum send_last { SL_NEVER, SL_ON_SUB, SL_ON_SUB_AND_PRESENCE };
static const char *const send_last_names[] = {
	"never", "on_sub", "on_sub_and_presence", NULL
};
static const char *const notif_type_names[] = { "headline", "normal", NULL };

/* ---- settings ---- */

/* A size: decimal bytes, or a number followed by K or M. */
static int
parse_size(const char *s, size_t *out)
{
	size_t v = 0, mult = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		size_t d = (size_t)(*p - '0');
		if (v > (SIZE_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (*p == 'K' || *p == 'k')
		mult = 1024;
	else if (*p == 'M' || *p == 'm')
		mult = 1024 * 1024;
	if (mult != 1)
		p++;
	if (*p != '\0' || v > SIZE_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

/* A plain decimal count. */
static int
parse_count(const char *s, size_t *out)
{
	size_t v = 0;

	if (*s < '0' || *s > '9' || strlen(s) > 9)
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (size_t)(*s - '0');
	if (*s != '\0')
		return -1;
	*out = v;
	return 0;
}

static const struct {
	const char	*key;
	int		 is_size;
	size_t		 min, top, dflt;
} settings[] = {
	{ "max_items_per_node", 0, 1, MAX_ITEMS_TOP, DEFAULT_MAX_ITEMS },
	{ "max_item_size", 1, ITEM_SIZE_MIN, ITEM_SIZE_TOP, DEFAULT_MAX_ITEM_SIZE },
	{ "max_total", 1, TOTAL_MIN, TOTAL_TOP, DEFAULT_MAX_TOTAL },
	{ "max_nodes", 0, 1, MAX_NODES_TOP, DEFAULT_MAX_NODES },
};
#define NSETTINGS	(sizeof settings / sizeof settings[0])
enum { S_MAX_ITEMS, S_MAX_ITEM_SIZE, S_MAX_TOTAL, S_MAX_NODES };

static size_t
setting(int which)
{
	const struct config *cfg = server_config();
	const char *v = cfg ? config_module_opt(cfg, "pep", settings[which].key) :
	    NULL;
	size_t n;
	int rc;

	if (v == NULL)
		return settings[which].dflt;
	rc = settings[which].is_size ? parse_size(v, &n) : parse_count(v, &n);
	if (rc == -1 || n < settings[which].min || n > settings[which].top)
		return settings[which].dflt;
	return n;
}

static int
pep_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	size_t i, n;
	int rc;

	for (i = 0; i < NSETTINGS; i++)
		if (strcmp(key, settings[i].key) == 0)
			break;
	if (i == NSETTINGS) {
		snprintf(err, errlen, "unknown key '%.64s' in [pep] (known: "
		    "max_items_per_node, max_item_size, max_total, max_nodes)",
		    key);
		return -1;
	}
	rc = settings[i].is_size ? parse_size(value, &n) :
	    parse_count(value, &n);
	if (rc == -1) {
		snprintf(err, errlen, "%s: '%.64s' is not %s", key, value,
		    settings[i].is_size ? "a size (bytes, or a number followed "
		    "by K or M)" : "a number");
		return -1;
	}
	if (n < settings[i].min || n > settings[i].top) {
		snprintf(err, errlen, "%s: %.64s is out of range %zu..%zu", key,
		    value, settings[i].min, settings[i].top);
		return -1;
	}
	return 0;
}

/* ---- small helpers ---- */

/* XEP-0060 booleans: "1"/"true" and "0"/"false"; -1 for anything else. */
static int
parse_bool(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
		return 1;
	if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
		return 0;
	return -1;
}

static int
name_index(const char *const *names, const char *s)
{
	for (int i = 0; s != NULL && names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* A fresh random id in hex (notifications, items, subscriptions). */
static void
make_id(char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[12];
	size_t i;

	random_bytes(r, sizeof r);
	for (i = 0; i < sizeof r && 2 * i + 2 < outlen; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 0x0f];
	}
	out[2 * i] = '\0';
}

static void
now_stamp(char *out, size_t outlen)
{
	format_xep82(wall_time(), out, outlen);
}

/* Bare form of a JID string into out (JID_MAX + 1); 0 or -1. */
static int
bare_of(const char *s, char *out, size_t outlen)
{
	struct jid j;

	if (s == NULL || jid_parse(&j, s) == -1)
		return -1;
	return jid_bare(&j, out, outlen);
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A pubsub failure: a stanza condition, maybe a pubsub#errors one (with
 * a feature for <unsupported/>), maybe a text. */
struct perr {
	enum stanza_error	 e;
	const char		*cond;
	const char		*feature;
	const char		*text;
};

static void
perr_set(struct perr *pe, enum stanza_error e, const char *cond,
    const char *text)
{
	pe->e = e;
	pe->cond = cond;
	pe->feature = NULL;
	pe->text = text;
}

/*
 * Send the error reply for r (RFC 6120 8.3.2: the defined condition,
 * then the text, then the application condition).  Returns ERR_NONE, so
 * a handler can "return send_perr(...)".
 */
static enum stanza_error
send_perr(const struct iq_req *r, const struct perr *pe)
{
	struct xml_node *reply = iq_result(r), *er, *c;

	xml_set_attr(reply, "type", "error");
	er = xml_add(reply, "error", NULL);
	xml_set_attr(er, "type", stanza_error_type(pe->e));
	xml_add(er, stanza_error_name(pe->e), NS_STANZAS);
	if (pe->text != NULL)
		xml_add_text_child(er, "text", NS_STANZAS, pe->text);
	if (pe->cond != NULL) {
		c = xml_add(er, pe->cond, NS_PUBSUB_ERRORS);
		if (pe->feature != NULL)
			xml_set_attr(c, "feature", pe->feature);
	}
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
fail(const struct iq_req *r, enum stanza_error e, const char *cond,
    const char *text)
{
	struct perr pe;

	perr_set(&pe, e, cond, text);
	return send_perr(r, &pe);
}

static enum stanza_error
unsupported(const struct iq_req *r, const char *feature)
{
	struct perr pe;

	perr_set(&pe, ERR_FEATURE_NOT_IMPLEMENTED, "unsupported", NULL);
	pe.feature = feature;
	return send_perr(r, &pe);
}

/* ---- node files ---- */

/* The file of a node: pep/n-ESCAPED, or pep/h-SHA1 for long names. */
static int
node_file(const char *node, char *out, size_t outlen)
{
	char esc[FILE_NAME_MAX + 1];
	unsigned char md[br_sha1_SIZE];
	br_sha1_context h;
	int r;

	if (store_escape(node, esc, sizeof esc) == 0 &&
	    strlen(esc) <= FILE_NAME_MAX - 2)
		r = snprintf(out, outlen, PEP_DIR "/n-%s", esc);
	else {
		br_sha1_init(&h);
		br_sha1_update(&h, node, strlen(node));
		br_sha1_out(&h, md);
		r = snprintf(out, outlen, PEP_DIR "/h-");
		for (size_t i = 0; i < sizeof md && r > 0 && (size_t)r < outlen; i++)
			r += snprintf(out + r, outlen - (size_t)r, "%02x", md[i]);
	}
	return r > 0 && (size_t)r < outlen ? 0 : -1;
}

/* A node loaded from (or to be written to) its file. */
struct pnode {
	char		 file[NODE_FILE_MAX];
	const char	*name;		/* in root's arena */
	struct xml_node	*root;		/* <node/>; owns its arena */
	struct xml_node	*conf;		/* root's <config/> */
	size_t		 disk;		/* bytes on disk now, 0 if none */
	int		 exists;	/* the file is there */
};

static void
node_free(struct pnode *p)
{
	if (p->root != NULL)
		xml_arena_free(p->root->arena);
	p->root = NULL;
}

/* Parse a stored document and check its root; NULL on error (logged). */
static struct xml_node *
parse_stored(const char *host, const char *local, const char *file,
    const char *text, size_t len, const char *rootname)
{
	struct xml_node *root;
	const char *v;
	char err[256];

	root = xml_parse_document(text, len, &stored_limits, err, sizeof err);
	if (root == NULL) {
		log_warnx("pep: %s of %s@%s is damaged: %s", file, local, host,
		    err);
		return NULL;
	}
	if (!xml_is(root, rootname, NS_STORE)) {
		log_warnx("pep: %s of %s@%s is damaged: no <%s/>", file, local,
		    host, rootname);
		xml_arena_free(root->arena);
		return NULL;
	}
	v = xml_attr(root, "version");
	if (v == NULL || strcmp(v, PEP_FORMAT) != 0) {
		log_warnx("pep: %s of %s@%s has format version %s; this xmppd "
		    "reads version " PEP_FORMAT, file, local, host,
		    v ? v : "(none)");
		xml_arena_free(root->arena);
		return NULL;
	}
	return root;
}

/* Read a file of the account: 1 with text, 0 if missing, -1 on errors. */
static int
read_file(const char *host, const char *local, const char *file,
    char **text, size_t *len)
{
	ssize_t n = store_read(host, local, file, READ_MAX, text);

	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		log_warn("pep: reading %s of %s@%s", file, local, host);
		return -1;
	}
	*len = (size_t)n;
	return 1;
}

/* Load a node file by file name: 1, 0 if there is none, -1 on errors. */
static int
node_load_file(const char *host, const char *local, const char *file,
    struct pnode *p)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(p, 0, sizeof *p);
	if (strlcpy_ok(p->file, file, sizeof p->file) == -1)
		return -1;
	if ((rc = read_file(host, local, file, &text, &len)) <= 0)
		return rc;
	p->root = parse_stored(host, local, file, text, len, "node");
	free(text);
	if (p->root == NULL)
		return -1;
	p->name = xml_attr(p->root, "name");
	p->conf = xml_child(p->root, "config", NS_STORE);
	if (p->name == NULL || p->conf == NULL) {
		log_warnx("pep: %s of %s@%s is damaged: no name or config",
		    file, local, host);
		node_free(p);
		return -1;
	}
	p->disk = len;
	p->exists = 1;
	return 1;
}

static int
node_load(const char *host, const char *local, const char *node,
    struct pnode *p)
{
	char file[NODE_FILE_MAX];
	int rc;

	memset(p, 0, sizeof *p);
	if (node_file(node, file, sizeof file) == -1)
		return -1;
	if ((rc = node_load_file(host, local, file, p)) != 1)
		return rc;
	if (strcmp(p->name, node) != 0) {
		/* Two names hashing alike, or a file renamed by hand. */
		log_warnx("pep: %s of %s@%s holds node '%s', not '%s'", file,
		    local, host, p->name, node);
		node_free(p);
		return -1;
	}
	return 1;
}

/* A new node with the default configuration (XEP-0163 section 7). */
static void
node_new(struct pnode *p, const char *node)
{
	memset(p, 0, sizeof *p);
	node_file(node, p->file, sizeof p->file);
	p->root = xml_new(xml_arena_new(), "node", NS_STORE);
	xml_set_attr(p->root, "version", PEP_FORMAT);
	xml_set_attr(p->root, "name", node);
	p->name = xml_attr(p->root, "name");
	p->conf = xml_add(p->root, "config", NULL);
	xml_set_attr(p->conf, "access", "presence");
	xml_set_attr(p->conf, "max_items", "1");
	xml_set_attr(p->conf, "send_last", "on_sub_and_presence");
	xml_set_attr(p->conf, "notification_type", "headline");
	xml_set_attr(p->conf, "deliver_notifications", "1");
	xml_set_attr(p->conf, "deliver_payloads", "1");
	xml_set_attr(p->conf, "notify_retract", "1");
	xml_set_attr(p->conf, "notify_delete", "1");
}

struct usage {
	const char	*host, *local;
	size_t		 total, nodes;
	int		 failed;
};

static int
add_usage(const char *name, void *arg)
{
	struct usage *u = arg;
	char file[NODE_FILE_MAX], path[PATH_MAX];
	struct stat st;

	if (snprintf(file, sizeof file, PEP_DIR "/%s", name) >= (int)sizeof file ||
	    store_path(u->host, u->local, file, path, sizeof path) == -1 ||
	    lstat(path, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size < 0) {
		u->failed = 1;
		return 1;
	}
	if ((unsigned long long)st.st_size > SIZE_MAX - u->total)
		u->total = SIZE_MAX;
	else
		u->total += (size_t)st.st_size;
	if (name[0] == 'n' || name[0] == 'h')
		u->nodes++;
	return 0;
}

/* Bytes under pep/ and the number of nodes; -1 on errors (logged). */
static int
usage_of(const char *host, const char *local, size_t *total, size_t *nodes)
{
	struct usage u = { host, local, 0, 0, 0 };

	if (store_list(host, local, PEP_DIR, add_usage, &u) < 0 || u.failed) {
		log_warn("pep: cannot count the storage of %s@%s", local, host);
		return -1;
	}
	*total = u.total;
	*nodes = u.nodes;
	return 0;
}

/* Serialize a stored document, bounded by max bytes; -1 if larger. */
static int
serialize_doc(const struct xml_node *root, struct buf *b, size_t max)
{
	buf_init(b, max);
	if (xml_serialize(root, b, NULL) == -1 || buf_addstr(b, "\n") == -1) {
		buf_free(b);
		return -1;
	}
	return 0;
}

/*
 * Write a node back, unless that would take the account past max_total
 * or (for a new node) max_nodes.  ERR_NONE, or the error with pe filled.
 */
static enum stanza_error
node_save(const char *host, const char *local, struct pnode *p,
    struct perr *pe)
{
	size_t quota = setting(S_MAX_TOTAL), total, nodes, avail;
	struct buf b;

	if (usage_of(host, local, &total, &nodes) == -1) {
		perr_set(pe, ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
		return pe->e;
	}
	if (!p->exists && nodes >= setting(S_MAX_NODES)) {
		log_info("pep: %s@%s: node '%s' refused, max_nodes (%zu) "
		    "reached", local, host, p->name, setting(S_MAX_NODES));
		perr_set(pe, ERR_POLICY_VIOLATION, NULL,
		    "The account has as many PEP nodes as the server allows");
		return pe->e;
	}
	total -= p->disk < total ? p->disk : total;
	/* A node that does not grow is always written: retracting must
	 * work even when a lowered max_total is exceeded already. */
	avail = quota > total ? quota - total : 0;
	if (avail < p->disk)
		avail = p->disk;
	if (serialize_doc(p->root, &b, avail) == -1) {
		log_info("pep: %s@%s: writing node '%s' refused, the account "
		    "would store more than max_total (%zu bytes)", local, host,
		    p->name, quota);
		perr_set(pe, ERR_POLICY_VIOLATION, NULL,
		    "The account's PEP storage is full");
		return pe->e;
	}
	if (store_write(host, local, p->file, buf_head(&b), buf_used(&b)) == -1) {
		log_warn("pep: saving node '%s' of %s@%s", p->name, local, host);
		buf_free(&b);
		perr_set(pe, ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
		return pe->e;
	}
	p->disk = buf_used(&b);
	p->exists = 1;
	buf_free(&b);
	return ERR_NONE;
}

static int
node_remove(const char *host, const char *local, struct pnode *p)
{
	if (store_remove(host, local, p->file) == -1) {
		log_warn("pep: removing node '%s' of %s@%s", p->name, local, host);
		return -1;
	}
	p->exists = 0;
	p->disk = 0;
	return 0;
}

/* Call fn for every node of an account (a node that cannot be read is
 * logged and skipped).  fn returns non-zero to stop. */
struct each_ctx {
	const char	*host, *local;
	int		(*fn)(struct pnode *, void *);
	void		*arg;
};

static int
each_file(const char *name, void *arg)
{
	struct each_ctx *c = arg;
	char file[NODE_FILE_MAX];
	struct pnode p;
	int stop = 0;

	if ((name[0] != 'n' && name[0] != 'h') || name[1] != '-')
		return 0;
	if (snprintf(file, sizeof file, PEP_DIR "/%s", name) >= (int)sizeof file)
		return 0;
	if (node_load_file(c->host, c->local, file, &p) != 1)
		return 0;
	{
		char want[NODE_FILE_MAX];
		/* Only a file under its own name counts (see node_load). */
		if (node_file(p.name, want, sizeof want) == 0 &&
		    strcmp(want, file) == 0)
			stop = c->fn(&p, c->arg);
	}
	node_free(&p);
	return stop;
}

static void
nodes_each(const char *host, const char *local,
    int (*fn)(struct pnode *, void *), void *arg)
{
	struct each_ctx c = { host, local, fn, arg };

	if (store_list(host, local, PEP_DIR, each_file, &c) < 0 && errno != ENOENT)
		log_warn("pep: listing the nodes of %s@%s", local, host);
}

/* ---- items ---- */

static struct xml_node *
item_first(const struct pnode *p)
{
	return xml_child(p->root, "item", NS_STORE);
}

static struct xml_node *
item_next(const struct xml_node *it)
{
	return xml_next(it, "item", NS_STORE);
}

static struct xml_node *
item_find(const struct pnode *p, const char *id)
{
	struct xml_node *it;

	for (it = item_first(p); it != NULL; it = item_next(it)) {
		const char *v = xml_attr(it, "id");
		if (v != NULL && strcmp(v, id) == 0)
			return it;
	}
	return NULL;
}

static struct xml_node *
item_last(const struct pnode *p)
{
	struct xml_node *it, *last = NULL;

	for (it = item_first(p); it != NULL; it = item_next(it))
		last = it;
	return last;
}

static size_t
item_count(const struct pnode *p)
{
	size_t n = 0;

	for (struct xml_node *it = item_first(p); it != NULL; it = item_next(it))
		n++;
	return n;
}

/* ---- node configuration ---- */

/* A node's configuration; strings are borrowed from a tree. */
struct nconf {
	int		 access;
	size_t		 max_items;	/* 0 means 'max': the server's limit */
	int		 send_last;
	int		 notif_type;	/* index in notif_type_names */
	int		 deliver_notifications, deliver_payloads;
	int		 notify_retract, notify_delete;
	const char	*title, *description;
	const char	*groups[MAX_GROUPS];
	size_t		 ngroups;
};

enum field {
	F_TITLE, F_DESCRIPTION, F_ACCESS, F_GROUPS, F_MAX_ITEMS, F_PERSIST,
	F_SEND_LAST, F_DELIVER_NOTIFICATIONS, F_DELIVER_PAYLOADS,
	F_NOTIFY_RETRACT, F_NOTIFY_DELETE, F_NOTIF_TYPE, F_PUBLISH_MODEL,
	F_COUNT
};
static const char *const field_vars[F_COUNT] = {
	"pubsub#title", "pubsub#description", "pubsub#access_model",
	"pubsub#roster_groups_allowed", "pubsub#max_items",
	"pubsub#persist_items", "pubsub#send_last_published_item",
	"pubsub#deliver_notifications", "pubsub#deliver_payloads",
	"pubsub#notify_retract", "pubsub#notify_delete",
	"pubsub#notification_type", "pubsub#publish_model",
};

/* The number of items a node keeps. */
static size_t
conf_max_items(const struct nconf *c)
{
	size_t lim = setting(S_MAX_ITEMS);

	return c->max_items == 0 || c->max_items > lim ? lim : c->max_items;
}

static int
attr_bool(const struct xml_node *n, const char *name, int dflt)
{
	int v = parse_bool(xml_attr(n, name));

	return v == -1 ? dflt : v;
}

static int
attr_name(const struct xml_node *n, const char *name,
    const char *const *names, int dflt)
{
	int v = name_index(names, xml_attr(n, name));

	return v == -1 ? dflt : v;
}

/* Read a stored configuration; values that make no sense get defaults
 * (the safest ones for access). */
static void
conf_read(const struct pnode *p, struct nconf *c)
{
	const struct xml_node *g;
	const char *v;
	size_t n;

	memset(c, 0, sizeof *c);
	c->access = attr_name(p->conf, "access", access_names, ACC_WHITELIST);
	v = xml_attr(p->conf, "max_items");
	if (v != NULL && strcmp(v, "max") == 0)
		c->max_items = 0;
	else if (v != NULL && parse_count(v, &n) == 0 && n > 0)
		c->max_items = n;
	else
		c->max_items = 1;
	c->send_last = attr_name(p->conf, "send_last", send_last_names,
	    SL_ON_SUB_AND_PRESENCE);
	c->notif_type = attr_name(p->conf, "notification_type",
	    notif_type_names, 0);
	c->deliver_notifications = attr_bool(p->conf, "deliver_notifications", 1);
	c->deliver_payloads = attr_bool(p->conf, "deliver_payloads", 1);
	c->notify_retract = attr_bool(p->conf, "notify_retract", 1);
	c->notify_delete = attr_bool(p->conf, "notify_delete", 1);
	c->title = xml_attr(p->conf, "title") ? xml_attr(p->conf, "title") : "";
	c->description = xml_attr(p->conf, "description") ?
	    xml_attr(p->conf, "description") : "";
	for (g = xml_child(p->conf, "group", NS_STORE);
	    g != NULL && c->ngroups < MAX_GROUPS;
	    g = xml_next(g, "group", NS_STORE))
		c->groups[c->ngroups++] = xml_text(g);
}

/* Store c in p's <config/>.  c may borrow from that very element: set
 * attributes get new copies and removed children stay in the arena. */
static void
conf_write(struct pnode *p, const struct nconf *c)
{
	struct xml_node *nc = p->conf, *g;
	char num[32];

	xml_set_attr(nc, "access", access_names[c->access]);
	if (c->max_items == 0)
		xml_set_attr(nc, "max_items", "max");
	else {
		snprintf(num, sizeof num, "%zu", c->max_items);
		xml_set_attr(nc, "max_items", num);
	}
	xml_set_attr(nc, "send_last", send_last_names[c->send_last]);
	xml_set_attr(nc, "notification_type", notif_type_names[c->notif_type]);
	xml_set_attr(nc, "deliver_notifications", c->deliver_notifications ? "1" : "0");
	xml_set_attr(nc, "deliver_payloads", c->deliver_payloads ? "1" : "0");
	xml_set_attr(nc, "notify_retract", c->notify_retract ? "1" : "0");
	xml_set_attr(nc, "notify_delete", c->notify_delete ? "1" : "0");
	xml_set_attr(nc, "title", c->title[0] != '\0' ? c->title : NULL);
	xml_set_attr(nc, "description", c->description[0] != '\0' ?
	    c->description : NULL);
	while ((g = xml_child(nc, "group", NS_STORE)) != NULL)
		xml_remove(g);
	for (size_t i = 0; i < c->ngroups; i++)
		xml_add_text_child(nc, "group", NULL, c->groups[i]);
}

/* Drop the oldest items beyond what the configuration keeps. */
static void
trim_items(struct pnode *p, const struct nconf *c)
{
	size_t n = item_count(p), keep = conf_max_items(c);

	while (n > keep) {
		xml_remove(item_first(p));
		n--;
	}
}

static int
groups_contain(const struct nconf *c, const char *g)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i], g) == 0)
			return 1;
	return 0;
}

/* ---- data forms ---- */

static struct xml_node *
form_field(struct xml_node *x, const char *var, const char *type,
    const char *label)
{
	struct xml_node *f = xml_add(x, "field", NS_XDATA);

	xml_set_attr(f, "var", var);
	if (type != NULL)
		xml_set_attr(f, "type", type);
	if (label != NULL)
		xml_set_attr(f, "label", label);
	return f;
}

static void
form_value(struct xml_node *f, const char *v)
{
	xml_add_text_child(f, "value", NS_XDATA, v);
}

static void
form_options(struct xml_node *f, const char *const *names)
{
	for (; *names != NULL; names++)
		form_value(xml_add(f, "option", NS_XDATA), *names);
}

static void
form_bool(struct xml_node *x, const char *var, const char *label, int v)
{
	form_value(form_field(x, var, "boolean", label), v ? "1" : "0");
}

/*
 * The node_config form for c (type 'form' to fill in, 'result' in
 * notifications and meta-data).  extra_groups: group names the owner may
 * choose from (the roster's), besides the ones chosen.
 */
static struct xml_node *
conf_form(struct xml_node *parent, const char *type, const struct nconf *c,
    const struct roster *r)
{
	struct xml_node *x = xml_add(parent, "x", NS_XDATA), *f;
	char num[32];

	xml_set_attr(x, "type", type);
	form_value(form_field(x, "FORM_TYPE", "hidden", NULL), NS_NODE_CONFIG);
	form_value(form_field(x, field_vars[F_TITLE], "text-single",
	    "A friendly name for the node"), c->title);
	form_value(form_field(x, field_vars[F_DESCRIPTION], "text-single",
	    "A description of the node"), c->description);
	f = form_field(x, field_vars[F_ACCESS], "list-single",
	    "Who may subscribe and retrieve items");
	form_options(f, access_names);
	form_value(f, access_names[c->access]);
	f = form_field(x, field_vars[F_GROUPS], "list-multi",
	    "Roster groups allowed to subscribe (access model 'roster')");
	if (r != NULL && r->root != NULL) {
		/* Every group of the roster, each once, then chosen ones the
		 * roster no longer has. */
		struct nconf seen;
		memset(&seen, 0, sizeof seen);
		for (struct xml_node *i = xml_child(r->root, "item", NULL); i;
		    i = xml_next(i, "item", NULL))
			for (struct xml_node *g = xml_child(i, "group", NULL); g;
			    g = xml_next(g, "group", NULL))
				if (!groups_contain(&seen, xml_text(g)) &&
				    seen.ngroups < MAX_GROUPS)
					seen.groups[seen.ngroups++] = xml_text(g);
		for (size_t k = 0; k < c->ngroups; k++)
			if (!groups_contain(&seen, c->groups[k]) &&
			    seen.ngroups < MAX_GROUPS)
				seen.groups[seen.ngroups++] = c->groups[k];
		for (size_t k = 0; k < seen.ngroups; k++)
			form_value(xml_add(f, "option", NS_XDATA), seen.groups[k]);
	}
	for (size_t k = 0; k < c->ngroups; k++)
		form_value(f, c->groups[k]);
	if (c->max_items == 0)
		snprintf(num, sizeof num, "max");
	else
		snprintf(num, sizeof num, "%zu", conf_max_items(c));
	form_value(form_field(x, field_vars[F_MAX_ITEMS], "text-single",
	    "Max # of items to persist ('max': the server's limit)"), num);
	form_bool(x, field_vars[F_PERSIST], "Persist items to storage", 1);
	f = form_field(x, field_vars[F_SEND_LAST], "list-single",
	    "When to send the last published item");
	form_options(f, send_last_names);
	form_value(f, send_last_names[c->send_last]);
	form_bool(x, field_vars[F_DELIVER_NOTIFICATIONS],
	    "Deliver event notifications", c->deliver_notifications);
	form_bool(x, field_vars[F_DELIVER_PAYLOADS],
	    "Deliver payloads with event notifications", c->deliver_payloads);
	form_bool(x, field_vars[F_NOTIFY_RETRACT],
	    "Notify subscribers when items are removed", c->notify_retract);
	form_bool(x, field_vars[F_NOTIFY_DELETE],
	    "Notify subscribers when the node is deleted", c->notify_delete);
	f = form_field(x, field_vars[F_NOTIF_TYPE], "list-single",
	    "Message type of event notifications");
	form_options(f, notif_type_names);
	form_value(f, notif_type_names[c->notif_type]);
	f = form_field(x, field_vars[F_PUBLISH_MODEL], "list-single",
	    "Who may publish (PEP: the owner)");
	form_value(xml_add(f, "option", NS_XDATA), "publishers");
	form_value(f, "publishers");
	return x;
}

/* The single value of a field: 1 with *v, 0 without a value, -1 when
 * there are several. */
static int
single_value(const struct xml_node *f, const char **v)
{
	const struct xml_node *val = xml_child(f, "value", NS_XDATA);

	if (val == NULL)
		return 0;
	if (xml_next(val, "value", NS_XDATA) != NULL)
		return -1;
	*v = xml_text(val);
	return 1;
}

static int
form_bad(struct perr *pe, const char *text)
{
	perr_set(pe, ERR_NOT_ACCEPTABLE, NULL, text);
	return -1;
}

/* Apply one field to c; 0, or -1 with pe (not-acceptable) filled. */
static int
apply_field(enum field fi, const struct xml_node *f, struct nconf *c,
    struct perr *pe)
{
	const char *v = NULL;
	int b, k;
	size_t n;

	if (fi == F_GROUPS) {
		c->ngroups = 0;
		for (const struct xml_node *val = xml_child(f, "value", NS_XDATA);
		    val != NULL; val = xml_next(val, "value", NS_XDATA)) {
			const char *g = xml_text(val);
			if (c->ngroups == MAX_GROUPS)
				return form_bad(pe, "Too many roster groups");
			if (*g == '\0' || strlen(g) > TEXT_MAX)
				return form_bad(pe, "A roster group name is "
				    "empty or too long");
			if (!groups_contain(c, g))
				c->groups[c->ngroups++] = g;
		}
		return 0;
	}
	if (single_value(f, &v) == -1)
		return form_bad(pe, "A field that takes one value has several");
	if (v == NULL && fi != F_TITLE && fi != F_DESCRIPTION)
		return form_bad(pe, "A field has no value");
	switch (fi) {
	case F_TITLE:
	case F_DESCRIPTION:
		if (v == NULL)
			v = "";
		if (strlen(v) > TEXT_MAX)
			return form_bad(pe, "The title or description is too long");
		if (fi == F_TITLE)
			c->title = v;
		else
			c->description = v;
		return 0;
	case F_ACCESS:
		if ((k = name_index(access_names, v)) == -1) {
			perr_set(pe, ERR_NOT_ACCEPTABLE, "unsupported-access-model",
			    "Access models: open, presence, roster, whitelist");
			return -1;
		}
		c->access = k;
		return 0;
	case F_MAX_ITEMS:
		if (strcmp(v, "max") == 0) {
			c->max_items = 0;
			return 0;
		}
		if (parse_count(v, &n) == -1 || n == 0)
			return form_bad(pe, "pubsub#max_items must be a positive "
			    "number or 'max'");
		if (n > setting(S_MAX_ITEMS))
			return form_bad(pe, "pubsub#max_items is more than this "
			    "server keeps per node");
		c->max_items = n;
		return 0;
	case F_PERSIST:
		if ((b = parse_bool(v)) == -1)
			return form_bad(pe, "pubsub#persist_items is not a boolean");
		if (!b)
			return form_bad(pe, "Items are always persisted here");
		return 0;
	case F_SEND_LAST:
		if ((k = name_index(send_last_names, v)) == -1)
			return form_bad(pe, "pubsub#send_last_published_item: "
			    "never, on_sub or on_sub_and_presence");
		c->send_last = k;
		return 0;
	case F_NOTIF_TYPE:
		if ((k = name_index(notif_type_names, v)) == -1)
			return form_bad(pe, "pubsub#notification_type: headline "
			    "or normal");
		c->notif_type = k;
		return 0;
	case F_PUBLISH_MODEL:
		if (strcmp(v, "publishers") != 0)
			return form_bad(pe, "Only the owner publishes to a PEP node");
		return 0;
	default:
		if ((b = parse_bool(v)) == -1)
			return form_bad(pe, "A boolean field has another value");
		if (fi == F_DELIVER_NOTIFICATIONS)
			c->deliver_notifications = b;
		else if (fi == F_DELIVER_PAYLOADS)
			c->deliver_payloads = b;
		else if (fi == F_NOTIFY_RETRACT)
			c->notify_retract = b;
		else
			c->notify_delete = b;
		return 0;
	}
}

/*
 * Apply a submitted form (FORM_TYPE form_type) to c; *given gets a bit
 * per field it named.  0, or -1 with pe filled: bad-request for a form
 * that is not one, not-acceptable for unknown fields and bad values.
 */
static int
conf_apply_form(const struct xml_node *x, const char *form_type,
    struct nconf *c, unsigned *given, struct perr *pe)
{
	const struct xml_node *f;
	const char *type = xml_attr(x, "type"), *var, *v = NULL;
	int fi;

	*given = 0;
	if (!xml_is(x, "x", NS_XDATA) || type == NULL ||
	    strcmp(type, "submit") != 0) {
		perr_set(pe, ERR_BAD_REQUEST, NULL, "Expected a data form of "
		    "type 'submit'");
		return -1;
	}
	for (f = xml_child(x, "field", NS_XDATA); f != NULL;
	    f = xml_next(f, "field", NS_XDATA)) {
		if ((var = xml_attr(f, "var")) == NULL)
			continue;	/* fixed text: carries nothing */
		if (strcmp(var, "FORM_TYPE") == 0) {
			if (single_value(f, &v) != 1 || strcmp(v, form_type) != 0) {
				perr_set(pe, ERR_BAD_REQUEST, NULL,
				    "The form has the wrong FORM_TYPE");
				return -1;
			}
			continue;
		}
		for (fi = 0; fi < F_COUNT; fi++)
			if (strcmp(var, field_vars[fi]) == 0)
				break;
		if (fi == F_COUNT) {
			perr_set(pe, ERR_NOT_ACCEPTABLE, NULL,
			    "The form has a field this server does not know");
			return -1;
		}
		if (*given & (1u << fi)) {
			perr_set(pe, ERR_BAD_REQUEST, NULL,
			    "A field is given twice");
			return -1;
		}
		*given |= 1u << fi;
		if (apply_field((enum field)fi, f, c, pe) == -1)
			return -1;
	}
	return 0;
}

static int
groups_equal(const struct nconf *a, const struct nconf *b)
{
	for (size_t i = 0; i < a->ngroups; i++)
		if (!groups_contain(b, a->groups[i]))
			return 0;
	for (size_t i = 0; i < b->ngroups; i++)
		if (!groups_contain(a, b->groups[i]))
			return 0;
	return 1;
}

/* Do the fields in 'given' have the same values in a and b? */
static int
conf_matches(const struct nconf *a, const struct nconf *b, unsigned given)
{
	for (int fi = 0; fi < F_COUNT; fi++) {
		int same;

		if (!(given & (1u << fi)))
			continue;
		switch (fi) {
		case F_TITLE:
			same = strcmp(a->title, b->title) == 0;
			break;
		case F_DESCRIPTION:
			same = strcmp(a->description, b->description) == 0;
			break;
		case F_ACCESS:
			same = a->access == b->access;
			break;
		case F_GROUPS:
			same = groups_equal(a, b);
			break;
		case F_MAX_ITEMS:
			/* 'max' and the number it means are the same. */
			same = conf_max_items(a) == conf_max_items(b);
			break;
		case F_SEND_LAST:
			same = a->send_last == b->send_last;
			break;
		case F_DELIVER_NOTIFICATIONS:
			same = a->deliver_notifications == b->deliver_notifications;
			break;
		case F_DELIVER_PAYLOADS:
			same = a->deliver_payloads == b->deliver_payloads;
			break;
		case F_NOTIFY_RETRACT:
			same = a->notify_retract == b->notify_retract;
			break;
		case F_NOTIFY_DELETE:
			same = a->notify_delete == b->notify_delete;
			break;
		case F_NOTIF_TYPE:
			same = a->notif_type == b->notif_type;
			break;
		default:	/* persist_items, publish_model: fixed */
			same = 1;
			break;
		}
		if (!same)
			return 0;
	}
	return 1;
}

/* ---- who may see a node ---- */

/* The owner's roster, loaded once for a batch of access checks. */
struct actx {
	const char	*host, *local;
	char		 bare[JID_MAX + 1];
	struct roster	 r;
	int		 state;		/* 0 not loaded, 1 loaded, -1 failed */
};

static void
actx_init(struct actx *a, const char *host, const char *local)
{
	memset(a, 0, sizeof *a);
	a->host = host;
	a->local = local;
	snprintf(a->bare, sizeof a->bare, "%s@%s", local, host);
}

static void
actx_free(struct actx *a)
{
	if (a->state == 1)
		roster_free(&a->r);
	a->state = 0;
}

static struct xml_node *
actx_item(struct actx *a, const char *bare)
{
	if (a->state == 0)
		a->state = roster_load(a->host, a->local, &a->r) == 0 ? 1 : -1;
	return a->state == 1 ? roster_item(&a->r, bare) : NULL;
}

static const char *
affiliation_of(const struct pnode *p, const char *bare)
{
	for (struct xml_node *n = xml_child(p->root, "affiliation", NS_STORE);
	    n != NULL; n = xml_next(n, "affiliation", NS_STORE)) {
		const char *j = xml_attr(n, "jid");
		if (j != NULL && strcmp(j, bare) == 0)
			return xml_attr(n, "affiliation");
	}
	return NULL;
}

/*
 * May 'who' (a bare JID) retrieve items of p and hear of them?  1, or 0
 * with the refusal XEP-0060 6.5.11 gives in pe (pe may be NULL).
 */
static int
may_access(struct actx *a, const struct pnode *p, const struct nconf *c,
    const char *who, struct perr *pe)
{
	struct perr dummy;
	struct xml_node *it;
	const char *aff;

	if (pe == NULL)
		pe = &dummy;
	if (strcmp(who, a->bare) == 0)
		return 1;
	aff = affiliation_of(p, who);
	if (aff != NULL && strcmp(aff, "outcast") == 0) {
		perr_set(pe, ERR_FORBIDDEN, NULL, NULL);
		return 0;
	}
	if (aff != NULL && (strcmp(aff, "member") == 0 ||
	    strcmp(aff, "publisher") == 0))
		return 1;
	switch (c->access) {
	case ACC_OPEN:
		return 1;
	case ACC_PRESENCE:
		it = actx_item(a, who);
		if (it != NULL && (roster_sub(it) & SUB_FROM))
			return 1;
		perr_set(pe, ERR_NOT_AUTHORIZED, "presence-subscription-required",
		    NULL);
		return 0;
	case ACC_ROSTER:
		it = actx_item(a, who);
		if (it != NULL && (roster_sub(it) & SUB_FROM))
			for (struct xml_node *g = xml_child(it, "group", NULL);
			    g != NULL; g = xml_next(g, "group", NULL))
				if (groups_contain(c, xml_text(g)))
					return 1;
		perr_set(pe, ERR_NOT_AUTHORIZED, "not-in-roster-group", NULL);
		return 0;
	default:
		perr_set(pe, ERR_NOT_ALLOWED, "closed-node", NULL);
		return 0;
	}
}

/* ---- entity capabilities (XEP-0115) ---- */

struct caps {
	char		*key;		/* "HASH VER", or "JID NODE#VER" */
	int		 known;		/* else a query is out */
	char	       **nodes;		/* NODE of every NODE+notify */
	size_t		 nnodes;
	char		 qid[40];	/* the query's id */
	char		*asked;		/* the full JID asked */
	char		*hash;		/* NULL: not verifiable (JID-bound) */
	char		*ver, *cnode;
	int		 tries;
	int64_t		 sent;		/* ms */
	uint64_t	 seq;		/* age, for eviction */
	struct caps	*next;
};

static struct caps	*caps_tab[CAPS_BUCKETS];
static size_t		 ncaps, npending;
static uint64_t		 caps_seq, query_seq;

static const struct {
	const char		*name;
	const br_hash_class	*cls;
} caps_hashes[] = {
	{ "sha-1", &br_sha1_vtable },
	{ "sha-224", &br_sha224_vtable },
	{ "sha-256", &br_sha256_vtable },
	{ "sha-384", &br_sha384_vtable },
	{ "sha-512", &br_sha512_vtable },
};

static const br_hash_class *
caps_hash_class(const char *name)
{
	for (size_t i = 0; name != NULL &&
	    i < sizeof caps_hashes / sizeof caps_hashes[0]; i++)
		if (strcmp(caps_hashes[i].name, name) == 0)
			return caps_hashes[i].cls;
	return NULL;
}

static unsigned
str_hash(const char *s, unsigned buckets)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % buckets;
}

static struct caps *
caps_find(const char *key)
{
	struct caps *c;

	for (c = caps_tab[str_hash(key, CAPS_BUCKETS)]; c != NULL; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

static void
caps_free(struct caps *c)
{
	for (size_t i = 0; i < c->nnodes; i++)
		free(c->nodes[i]);
	free(c->nodes);
	free(c->key);
	free(c->asked);
	free(c->hash);
	free(c->ver);
	free(c->cnode);
	free(c);
}

static void
caps_remove(struct caps *c)
{
	struct caps **cp;

	for (cp = &caps_tab[str_hash(c->key, CAPS_BUCKETS)]; *cp != NULL;
	    cp = &(*cp)->next)
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	if (!c->known)
		npending--;
	ncaps--;
	caps_free(c);
}

/* Make room for one more entry: forget the oldest known 'ver'. */
static void
caps_evict(void)
{
	struct caps *c, *old = NULL;

	for (size_t b = 0; b < CAPS_BUCKETS; b++)
		for (c = caps_tab[b]; c != NULL; c = c->next)
			if (c->known && (old == NULL || c->seq < old->seq))
				old = c;
	if (old != NULL)
		caps_remove(old);
}

/* Does the 'ver' behind key say NODE+notify? */
static int
caps_wants(const struct caps *c, const char *node)
{
	for (size_t i = 0; c != NULL && c->known && i < c->nnodes; i++)
		if (strcmp(c->nodes[i], node) == 0)
			return 1;
	return 0;
}

/* ---- the verification string (XEP-0115 section 5) ---- */

struct ident {
	const char	*cat, *type, *lang, *name;
};

static int
cmp_ident(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;
	int c;

	if ((c = strcmp(x->cat, y->cat)) != 0 ||
	    (c = strcmp(x->type, y->type)) != 0 ||
	    (c = strcmp(x->lang, y->lang)) != 0)
		return c;
	return strcmp(x->name, y->name);
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct vform {
	const char		*type;
	const struct xml_node	*x;
};

static int
cmp_vform(const void *a, const void *b)
{
	return strcmp(((const struct vform *)a)->type,
	    ((const struct vform *)b)->type);
}

static int
cmp_field_var(const void *a, const void *b)
{
	return strcmp(xml_attr(*(const struct xml_node *const *)a, "var"),
	    xml_attr(*(const struct xml_node *const *)b, "var"));
}

static size_t
n_children(const struct xml_node *n, const char *name, const char *ns)
{
	size_t k = 0;

	for (const struct xml_node *c = xml_child(n, name, ns); c != NULL;
	    c = xml_next(c, name, ns))
		k++;
	return k;
}

static void
vhash(const br_hash_class *const *ctx, const char *s)
{
	(*ctx)->update(ctx, s, strlen(s));
	(*ctx)->update(ctx, "<", 1);
}

/*
 * The FORM_TYPE of an extended-information form: its value, NULL when the
 * form does not count (no FORM_TYPE, or not hidden: 5.4 says ignore it),
 * *bad when it makes the answer ill-formed (values that differ).
 */
static const char *
vform_type(const struct xml_node *x, int *bad)
{
	const struct xml_node *f, *v;
	const char *t = NULL, *type;

	for (f = xml_child(x, "field", NS_XDATA); f != NULL;
	    f = xml_next(f, "field", NS_XDATA)) {
		const char *var = xml_attr(f, "var");
		if (var == NULL || strcmp(var, "FORM_TYPE") != 0)
			continue;
		if (t != NULL) {
			*bad = 1;	/* two FORM_TYPE fields */
			return NULL;
		}
		type = xml_attr(f, "type");
		for (v = xml_child(f, "value", NS_XDATA); v != NULL;
		    v = xml_next(v, "value", NS_XDATA)) {
			if (t != NULL && strcmp(t, xml_text(v)) != 0) {
				*bad = 1;
				return NULL;
			}
			t = xml_text(v);
		}
		if (t == NULL || type == NULL || strcmp(type, "hidden") != 0)
			return NULL;
	}
	return t;
}

static void
vhash_form(const br_hash_class *const *ctx, const struct vform *vf)
{
	const struct xml_node *f, *v, **fields;
	const char **vals;
	size_t nf = 0, nv;

	vhash(ctx, vf->type);
	fields = xcalloc(n_children(vf->x, "field", NS_XDATA) + 1, sizeof *fields);
	for (f = xml_child(vf->x, "field", NS_XDATA); f != NULL;
	    f = xml_next(f, "field", NS_XDATA)) {
		const char *var = xml_attr(f, "var");
		if (var != NULL && strcmp(var, "FORM_TYPE") != 0)
			fields[nf++] = f;
	}
	qsort(fields, nf, sizeof *fields, cmp_field_var);
	for (size_t i = 0; i < nf; i++) {
		vhash(ctx, xml_attr(fields[i], "var"));
		vals = xcalloc(n_children(fields[i], "value", NS_XDATA) + 1,
		    sizeof *vals);
		nv = 0;
		for (v = xml_child(fields[i], "value", NS_XDATA); v != NULL;
		    v = xml_next(v, "value", NS_XDATA))
			vals[nv++] = xml_text(v);
		qsort(vals, nv, sizeof *vals, cmp_strp);
		for (size_t k = 0; k < nv; k++)
			vhash(ctx, vals[k]);
		free(vals);
	}
	free(fields);
}

/*
 * Recompute the verification string of a disco#info <query/> with hash
 * class hc into out (base64).  0, or -1 if the answer is ill-formed
 * (XEP-0115 5.4: repeated identities, features or FORM_TYPEs).
 */
static int
caps_compute(const struct xml_node *q, const br_hash_class *hc, char *out,
    size_t outlen)
{
	const struct xml_node *c;
	struct ident *ids;
	const char **feats;
	struct vform *forms;
	size_t nid = 0, nfe = 0, nfo = 0, i, dlen;
	br_hash_compat_context ctx;
	unsigned char digest[64];
	int bad = 0, rc = -1;

	ids = xcalloc(n_children(q, "identity", NS_DISCO_INFO) + 1, sizeof *ids);
	feats = xcalloc(n_children(q, "feature", NS_DISCO_INFO) + 1, sizeof *feats);
	forms = xcalloc(n_children(q, "x", NS_XDATA) + 1, sizeof *forms);
	for (c = xml_child(q, "identity", NS_DISCO_INFO); c != NULL;
	    c = xml_next(c, "identity", NS_DISCO_INFO)) {
		const char *lang = xml_attr_ns(c, NS_XML, "lang");
		struct ident *id = &ids[nid++];
		id->cat = xml_attr(c, "category");
		id->type = xml_attr(c, "type");
		id->lang = lang != NULL ? lang : "";
		id->name = xml_attr(c, "name") != NULL ? xml_attr(c, "name") : "";
		if (id->cat == NULL || id->type == NULL)
			goto out;
	}
	for (c = xml_child(q, "feature", NS_DISCO_INFO); c != NULL;
	    c = xml_next(c, "feature", NS_DISCO_INFO))
		if ((feats[nfe++] = xml_attr(c, "var")) == NULL)
			goto out;
	for (c = xml_child(q, "x", NS_XDATA); c != NULL;
	    c = xml_next(c, "x", NS_XDATA)) {
		const char *t = vform_type(c, &bad);
		if (bad)
			goto out;
		if (t != NULL) {
			forms[nfo].type = t;
			forms[nfo++].x = c;
		}
	}
	qsort(ids, nid, sizeof *ids, cmp_ident);
	qsort(feats, nfe, sizeof *feats, cmp_strp);
	qsort(forms, nfo, sizeof *forms, cmp_vform);
	for (i = 1; i < nid; i++)
		if (cmp_ident(&ids[i - 1], &ids[i]) == 0)
			goto out;
	for (i = 1; i < nfe; i++)
		if (strcmp(feats[i - 1], feats[i]) == 0)
			goto out;
	for (i = 1; i < nfo; i++)
		if (strcmp(forms[i - 1].type, forms[i].type) == 0)
			goto out;
	hc->init(&ctx.vtable);
	for (i = 0; i < nid; i++) {
		hc->update(&ctx.vtable, ids[i].cat, strlen(ids[i].cat));
		hc->update(&ctx.vtable, "/", 1);
		hc->update(&ctx.vtable, ids[i].type, strlen(ids[i].type));
		hc->update(&ctx.vtable, "/", 1);
		hc->update(&ctx.vtable, ids[i].lang, strlen(ids[i].lang));
		hc->update(&ctx.vtable, "/", 1);
		vhash(&ctx.vtable, ids[i].name);
	}
	for (i = 0; i < nfe; i++)
		vhash(&ctx.vtable, feats[i]);
	for (i = 0; i < nfo; i++)
		vhash_form(&ctx.vtable, &forms[i]);
	hc->out(&ctx.vtable, digest);
	dlen = (hc->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK;
	if (dlen <= sizeof digest && b64_encode(digest, dlen, out, outlen) >= 0)
		rc = 0;
out:
	free(ids);
	free(feats);
	free(forms);
	return rc;
}

/* Keep the NODE of every NODE+notify feature of a disco#info answer. */
static void
caps_take_nodes(struct caps *c, const struct xml_node *q)
{
	static const char suffix[] = "+notify";
	size_t n = 0;

	c->nodes = xcalloc(CAPS_NODES_MAX, sizeof *c->nodes);
	for (const struct xml_node *f = xml_child(q, "feature", NS_DISCO_INFO);
	    f != NULL && n < CAPS_NODES_MAX;
	    f = xml_next(f, "feature", NS_DISCO_INFO)) {
		const char *var = xml_attr(f, "var");
		size_t len;
		if (var == NULL || !has_suffix(var, suffix))
			continue;
		len = strlen(var) - (sizeof suffix - 1);
		if (len == 0 || len > NODE_NAME_MAX)
			continue;
		c->nodes[n++] = xstrndup(var, len);
	}
	c->nnodes = n;
}
