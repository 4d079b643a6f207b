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
 *              (the default, XEP-0163 section 5);
 *   roster     such contacts in one of the node's roster_groups_allowed;
 *   whitelist  the owner and the JIDs the owner made 'member' or
 *              'publisher' (there is no other publisher than the owner:
 *              'publisher' is accepted as a synonym for access).
 * An 'outcast' affiliation locks a JID out whatever the model.  Refusals
 * use the errors of XEP-0060 section 6.5.9 and friends, with the
 * pubsub#errors condition after the stanza condition and the text.
 *
 * Notifications go out as <message type='headline'> (or 'normal' by node
 * configuration) from the owner's bare JID:
 * - to each available resource of the owner and of a contact whose
 *   presence the owner receives, when its entity capabilities list
 *   NODE+notify and the node's access model lets it see the node;
 * - to each explicit subscription (the subscribed JID), when the model
 *   still allows it; a bare subscribed JID whose available resources we
 *   know is served through those resources instead.  A subscription whose
 *   subscriber lost access is cancelled when the node is next written
 *   (XEP-0163 7.1).
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
 *   (XEP-0411 section 4: before the first login that can see them); the
 *   private module's copy is left as it was and is no longer read.
 * The account's disco#info shows urn:xmpp:bookmarks:1#compat,
 * urn:xmpp:bookmarks:1#compat-pep and urn:xmpp:bookmarks-conversion:0.
 *
 * Avatars (XEP-0398, with the vcard module on; avatar.h): after the owner
 * changes urn:xmpp:avatar:metadata, its newest item's first <info/>
 * without a url, with its data item, becomes the vCard's PHOTO, if the
 * data node is open (XEP-0398 section 8: a vCard is everybody's to read);
 * no such avatar takes the PHOTO off.  A vCard set that changes the photo
 * publishes the data, then the metadata (or empty metadata, XEP-0084
 * 4.5), with notifications, to nodes made open if new.  The account's
 * disco#info shows urn:xmpp:pep-vcard-conversion:0.
 *
 * Not done: subscription options, multiple subscriptions of one JID,
 * instant nodes, collection nodes, item expiry, RSM, the item publisher,
 * 'authorize' access (not-acceptable with unsupported-access-model),
 * notifications withheld by the owner's privacy lists or blocklist (a
 * blocked contact's presence never reaches us, so it gets no caps-based
 * notifications, but an explicit subscription made before the block
 * still does).
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

#include "avatar.h"
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
#define NS_AVATAR_DATA		"urn:xmpp:avatar:data"
#define NS_AVATAR_META		"urn:xmpp:avatar:metadata"

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
	{ "max_item_size", 1, ITEM_SIZE_MIN, ITEM_SIZE_TOP,
	    DEFAULT_MAX_ITEM_SIZE },
	{ "max_total", 1, TOTAL_MIN, TOTAL_TOP, DEFAULT_MAX_TOTAL },
	{ "max_nodes", 0, 1, MAX_NODES_TOP, DEFAULT_MAX_NODES },
};
#define NSETTINGS	(sizeof settings / sizeof settings[0])
enum { S_MAX_ITEMS, S_MAX_ITEM_SIZE, S_MAX_TOTAL, S_MAX_NODES };

static size_t
setting(int which)
{
	const struct config *cfg = server_config();
	const char *v = NULL;
	size_t n;
	int rc;

	if (cfg != NULL)
		v = config_module_opt(cfg, "pep", settings[which].key);
	if (v == NULL)
		return settings[which].dflt;
	rc = settings[which].is_size ? config_parse_size(v, &n) :
	    parse_count(v, &n);
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
	rc = settings[i].is_size ? config_parse_size(value, &n) :
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

/* Is the stanza's type t (NULL: no type at all)? */
static int
ptype(const struct xml_node *p, const char *t)
{
	const char *type = xml_attr(p, "type");

	return t == NULL ? type == NULL : type != NULL && strcmp(type, t) == 0;
}

/* The next element sibling of c, whatever its name. */
static struct xml_node *
el_next(const struct xml_node *c)
{
	return xml_next(c, NULL, NULL);
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Does attribute name of n equal v (a missing one equals nothing)? */
static int
attr_is(const struct xml_node *n, const char *name, const char *v)
{
	const char *a = xml_attr(n, name);

	return a != NULL && strcmp(a, v) == 0;
}

/* A pubsub failure: a stanza condition, maybe a pubsub#errors one (with
 * a feature for <unsupported/>), maybe a text. */
struct perr {
	enum stanza_error	 e;
	const char		*cond;
	const char		*feature;
	const char		*text;
	const char		*type;		/* NULL: the usual one */
};

static void
perr_set(struct perr *pe, enum stanza_error e, const char *cond,
    const char *text)
{
	pe->e = e;
	pe->cond = cond;
	pe->feature = NULL;
	pe->text = text;
	pe->type = NULL;
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
	xml_set_attr(er, "type", pe->type != NULL ? pe->type :
	    stanza_error_type(pe->e));
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

/* 6.2.3.2: "wait" (RFC 6120's usual type for unexpected-request) would
 * invite a retry that can never succeed. */
static enum stanza_error
not_subscribed(const struct iq_req *r)
{
	struct perr pe;

	perr_set(&pe, ERR_UNEXPECTED_REQUEST, "not-subscribed", NULL);
	pe.type = "cancel";
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
		for (size_t i = 0; i < sizeof md; i++) {
			if (r < 0 || (size_t)r >= outlen)
				return -1;
			r += snprintf(out + r, outlen - (size_t)r, "%02x",
			    md[i]);
		}
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

/* A new node with the default configuration (XEP-0163 section 5). */
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

	if ((size_t)snprintf(file, sizeof file, PEP_DIR "/%s", name) >=
	    sizeof file ||
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
	if (store_write(host, local, p->file, buf_head(&b), buf_used(&b)) ==
	    -1) {
		log_warn("pep: saving node '%s' of %s@%s", p->name, local,
		    host);
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
		log_warn("pep: removing node '%s' of %s@%s", p->name, local,
		    host);
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
	if ((size_t)snprintf(file, sizeof file, PEP_DIR "/%s", name) >=
	    sizeof file)
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

	if (store_list(host, local, PEP_DIR, each_file, &c) < 0 &&
	    errno != ENOENT)
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

	for (it = item_first(p); it != NULL; it = item_next(it))
		if (attr_is(it, "id", id))
			return it;
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
	struct xml_node *it;
	size_t n = 0;

	for (it = item_first(p); it != NULL; it = item_next(it))
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

static const char *
bool_str(int b)
{
	return b ? "1" : "0";
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
	c->deliver_notifications = attr_bool(p->conf, "deliver_notifications",
	    1);
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
	xml_set_attr(nc, "deliver_notifications",
	    bool_str(c->deliver_notifications));
	xml_set_attr(nc, "deliver_payloads", bool_str(c->deliver_payloads));
	xml_set_attr(nc, "notify_retract", bool_str(c->notify_retract));
	xml_set_attr(nc, "notify_delete", bool_str(c->notify_delete));
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

static void
add_group(struct nconf *seen, const char *g)
{
	if (!groups_contain(seen, g) && seen->ngroups < MAX_GROUPS)
		seen->groups[seen->ngroups++] = g;
}

/* Options of roster_groups_allowed: every group of the roster, each
 * once, then chosen ones the roster no longer has. */
static void
group_options(struct xml_node *f, const struct nconf *c,
    const struct roster *r)
{
	struct xml_node *i, *g;
	struct nconf seen;
	size_t k;

	memset(&seen, 0, sizeof seen);
	for (i = xml_child(r->root, "item", NULL); i != NULL;
	    i = xml_next(i, "item", NULL))
		for (g = xml_child(i, "group", NULL); g != NULL;
		    g = xml_next(g, "group", NULL))
			add_group(&seen, xml_text(g));
	for (k = 0; k < c->ngroups; k++)
		add_group(&seen, c->groups[k]);
	for (k = 0; k < seen.ngroups; k++)
		form_value(xml_add(f, "option", NS_XDATA), seen.groups[k]);
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
	if (r != NULL && r->root != NULL)
		group_options(f, c, r);
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
		const struct xml_node *val;
		c->ngroups = 0;
		for (val = xml_child(f, "value", NS_XDATA); val != NULL;
		    val = xml_next(val, "value", NS_XDATA)) {
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
			return form_bad(pe, "The title or description is "
			    "too long");
		if (fi == F_TITLE)
			c->title = v;
		else
			c->description = v;
		return 0;
	case F_ACCESS:
		if ((k = name_index(access_names, v)) == -1) {
			perr_set(pe, ERR_NOT_ACCEPTABLE,
			    "unsupported-access-model", "Access models: open, "
			    "presence, roster, whitelist");
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
			return form_bad(pe, "pubsub#max_items must be a "
			    "positive number or 'max'");
		if (n > setting(S_MAX_ITEMS))
			return form_bad(pe, "pubsub#max_items is more than "
			    "this server keeps per node");
		c->max_items = n;
		return 0;
	case F_PERSIST:
		if ((b = parse_bool(v)) == -1)
			return form_bad(pe, "pubsub#persist_items is not a "
			    "boolean");
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
			return form_bad(pe, "pubsub#notification_type: "
			    "headline or normal");
		c->notif_type = k;
		return 0;
	case F_PUBLISH_MODEL:
		if (strcmp(v, "publishers") != 0)
			return form_bad(pe, "Only the owner publishes to a "
			    "PEP node");
		return 0;
	default:
		if ((b = parse_bool(v)) == -1)
			return form_bad(pe, "A boolean field has another "
			    "value");
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
			if (single_value(f, &v) != 1 ||
			    strcmp(v, form_type) != 0) {
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
			same = a->deliver_notifications ==
			    b->deliver_notifications;
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
	    n != NULL; n = xml_next(n, "affiliation", NS_STORE))
		if (attr_is(n, "jid", bare))
			return xml_attr(n, "affiliation");
	return NULL;
}

/*
 * May 'who' (a bare JID) retrieve items of p and hear of them?  1, or 0
 * with the refusal XEP-0060 6.5.9 gives in pe (pe may be NULL).
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
		perr_set(pe, ERR_NOT_AUTHORIZED,
		    "presence-subscription-required", NULL);
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

static int
caps_has(const struct caps *c, const char *node)
{
	for (size_t i = 0; i < c->nnodes; i++)
		if (strcmp(c->nodes[i], node) == 0)
			return 1;
	return 0;
}

/* Does the 'ver' behind key say NODE+notify? */
static int
caps_wants(const struct caps *c, const char *node)
{
	return c != NULL && c->known && caps_has(c, node);
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
vhash(const br_hash_class **ctx, const char *s)
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
vhash_form(const br_hash_class **ctx, const struct vform *vf)
{
	const struct xml_node *f, *v, **fields;
	const char **vals;
	size_t nf = 0, nv;

	vhash(ctx, vf->type);
	fields = xcalloc(n_children(vf->x, "field", NS_XDATA) + 1,
	    sizeof *fields);
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

	ids = xcalloc(n_children(q, "identity", NS_DISCO_INFO) + 1,
	    sizeof *ids);
	feats = xcalloc(n_children(q, "feature", NS_DISCO_INFO) + 1,
	    sizeof *feats);
	forms = xcalloc(n_children(q, "x", NS_XDATA) + 1, sizeof *forms);
	for (c = xml_child(q, "identity", NS_DISCO_INFO); c != NULL;
	    c = xml_next(c, "identity", NS_DISCO_INFO)) {
		const char *lang = xml_attr_ns(c, NS_XML, "lang");
		struct ident *id = &ids[nid++];
		id->cat = xml_attr(c, "category");
		id->type = xml_attr(c, "type");
		id->lang = lang != NULL ? lang : "";
		id->name = xml_attr(c, "name");
		if (id->name == NULL)
			id->name = "";
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
		c->nodes[n] = xstrndup(var, len);
		c->nnodes = n;
		/* Unverified answers may repeat a feature: keep it once. */
		if (caps_has(c, c->nodes[n]))
			free(c->nodes[n]);
		else
			n++;
	}
	c->nnodes = n;
	c->nodes = xrealloc(c->nodes, (n + 1) * sizeof *c->nodes);
}

/* ---- the resources an online owner hears of ---- */

/* An available resource whose presence the owner received (a contact's),
 * or one of the owner's own sessions. */
struct contact {
	char	*jid;		/* full JID */
	char	*key;		/* its caps key; NULL: it announced none */
	char	*sent;		/* key whose nodes have had their last items */
};

struct owner {
	char		*bare;
	struct contact	*c;
	size_t		 n, cap;
	struct owner	*next;
};

static struct owner	*owners[OWNER_BUCKETS];

static struct owner *
owner_find(const char *bare)
{
	struct owner *o;

	for (o = owners[str_hash(bare, OWNER_BUCKETS)]; o != NULL; o = o->next)
		if (strcmp(o->bare, bare) == 0)
			return o;
	return NULL;
}

static struct owner *
owner_get(const char *bare)
{
	struct owner *o = owner_find(bare);
	unsigned h;

	if (o != NULL)
		return o;
	h = str_hash(bare, OWNER_BUCKETS);
	o = xcalloc(1, sizeof *o);
	o->bare = xstrdup(bare);
	o->next = owners[h];
	owners[h] = o;
	return o;
}

static void
contact_clear(struct contact *k)
{
	free(k->jid);
	free(k->key);
	free(k->sent);
}

static void
owner_drop(const char *bare)
{
	struct owner **op, *o;

	for (op = &owners[str_hash(bare, OWNER_BUCKETS)]; (o = *op) != NULL;
	    op = &o->next)
		if (strcmp(o->bare, bare) == 0) {
			*op = o->next;
			for (size_t i = 0; i < o->n; i++)
				contact_clear(&o->c[i]);
			free(o->c);
			free(o->bare);
			free(o);
			return;
		}
}

static struct contact *
contact_find(struct owner *o, const char *jid)
{
	for (size_t i = 0; o != NULL && i < o->n; i++)
		if (strcmp(o->c[i].jid, jid) == 0)
			return &o->c[i];
	return NULL;
}

static struct contact *
contact_add(struct owner *o, const char *jid)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 8;
		o->c = xrealloc(o->c, o->cap * sizeof *o->c);
	}
	memset(&o->c[o->n], 0, sizeof o->c[o->n]);
	o->c[o->n].jid = xstrdup(jid);
	return &o->c[o->n++];
}

/* Forget jid (a full JID), or every resource of it when it is bare. */
static void
contact_drop(struct owner *o, const char *jid)
{
	int bare = strchr(jid, '/') == NULL;
	size_t len = strlen(jid);

	for (size_t i = 0; i < o->n; ) {
		const char *k = o->c[i].jid;
		if (bare ? strncmp(k, jid, len) == 0 && k[len] == '/' :
		    strcmp(k, jid) == 0) {
			contact_clear(&o->c[i]);
			o->c[i] = o->c[--o->n];
		} else
			i++;
	}
}

/* ---- sending notifications ---- */

/* Recipients of one notification, copied: sending may end sessions and
 * change every table here, so the list is made first. */
struct rcpt {
	char	*jid;
	int	 contact;	/* a presence subscriber: gets a replyto */
};

struct rlist {
	struct rcpt	*v;
	size_t		 n, cap;
};

static int
rlist_has(const struct rlist *rl, const char *jid)
{
	for (size_t i = 0; i < rl->n; i++)
		if (strcmp(rl->v[i].jid, jid) == 0)
			return 1;
	return 0;
}

/* Is a full JID of bare in the list? */
static int
rlist_has_resource_of(const struct rlist *rl, const char *bare)
{
	size_t len = strlen(bare);

	for (size_t i = 0; i < rl->n; i++)
		if (strncmp(rl->v[i].jid, bare, len) == 0 &&
		    rl->v[i].jid[len] == '/')
			return 1;
	return 0;
}

/* Append a copy of jid, repeated or not. */
static void
rlist_push(struct rlist *rl, const char *jid)
{
	if (rl->n == rl->cap) {
		rl->cap = rl->cap ? 2 * rl->cap : 8;
		rl->v = xrealloc(rl->v, rl->cap * sizeof *rl->v);
	}
	rl->v[rl->n].jid = xstrdup(jid);
	rl->v[rl->n++].contact = 0;
}

static void
rlist_add(struct rlist *rl, const char *jid, int contact)
{
	if (rlist_has(rl, jid))
		return;
	if (rl->n == rl->cap) {
		rl->cap = rl->cap ? 2 * rl->cap : 8;
		rl->v = xrealloc(rl->v, rl->cap * sizeof *rl->v);
	}
	rl->v[rl->n].jid = xstrdup(jid);
	rl->v[rl->n++].contact = contact;
}

static void
rlist_free(struct rlist *rl)
{
	for (size_t i = 0; i < rl->n; i++)
		free(rl->v[i].jid);
	free(rl->v);
	memset(rl, 0, sizeof *rl);
}

static int
is_presence_subscriber(struct actx *a, const char *bare)
{
	struct xml_node *it = actx_item(a, bare);

	return it != NULL && (roster_sub(it) & SUB_FROM) != 0;
}

/*
 * Who hears of a change to node p (name: node, for the view nodes that
 * have no file): interested resources of the owner and of contacts that
 * may see the node, then explicit subscriptions.
 */
static void
recipients(struct actx *a, const struct pnode *p, const struct nconf *c,
    const char *node, struct rlist *rl)
{
	struct owner *o = owner_find(a->bare);
	char bare[JID_MAX + 1];

	for (size_t i = 0; o != NULL && i < o->n; i++) {
		struct contact *k = &o->c[i];
		if (k->key == NULL || !caps_wants(caps_find(k->key), node) ||
		    bare_of(k->jid, bare, sizeof bare) == -1)
			continue;
		if (strcmp(bare, a->bare) == 0)
			rlist_add(rl, k->jid, 0);
		else if (p != NULL && may_access(a, p, c, bare, NULL))
			rlist_add(rl, k->jid, is_presence_subscriber(a, bare));
	}
	if (p == NULL)
		return;
	for (struct xml_node *s = xml_child(p->root, "subscription", NS_STORE);
	    s != NULL; s = xml_next(s, "subscription", NS_STORE)) {
		const char *j = xml_attr(s, "jid");
		if (j == NULL || bare_of(j, bare, sizeof bare) == -1 ||
		    !may_access(a, p, c, bare, NULL))
			continue;
		/* XEP-0163 4.3.2: a bare subscription goes to the resources
		 * that asked for it when we know of any. */
		if (strchr(j, '/') == NULL && rlist_has_resource_of(rl, j))
			continue;
		rlist_add(rl, j, is_presence_subscriber(a, bare));
	}
}

/*
 * Send <event/> to every recipient from the owner's bare JID.  publisher
 * (the publishing full JID) becomes a XEP-0033 replyto for presence
 * subscribers (XEP-0163 4.3.1); stamp, when set, a XEP-0203 delay.
 */
static void
send_event(const char *owner, const struct rlist *rl,
    const struct xml_node *event, int normal, const char *publisher,
    const char *stamp)
{
	struct xml_node *m, *ad, *d;
	char id[32];

	for (size_t i = 0; i < rl->n; i++) {
		m = xml_new(xml_arena_new(), "message", NS_CLIENT);
		make_id(id, sizeof id);
		xml_set_attr(m, "from", owner);
		xml_set_attr(m, "to", rl->v[i].jid);
		xml_set_attr(m, "type", normal ? "normal" : "headline");
		xml_set_attr(m, "id", id);
		xml_append_copy(m, event);
		if (publisher != NULL && rl->v[i].contact) {
			ad = xml_add(xml_add(m, "addresses", NS_ADDRESS),
			    "address", NULL);
			xml_set_attr(ad, "type", "replyto");
			xml_set_attr(ad, "jid", publisher);
		}
		if (stamp != NULL) {
			d = xml_add(m, "delay", NS_DELAY);
			xml_set_attr(d, "from", owner);
			xml_set_attr(d, "stamp", stamp);
		}
		route(m);
		xml_arena_free(m->arena);
	}
}

/* A new <event/> in its own arena, with <items node=''/> when items. */
static struct xml_node *
event_new(const char *node, const char *what, struct xml_node **inner)
{
	struct xml_node *ev;

	ev = xml_new(xml_arena_new(), "event", NS_PUBSUB_EVENT);
	*inner = xml_add(ev, what, NULL);
	xml_set_attr(*inner, "node", node);
	return ev;
}

/* Add an <item/> (stored form: id, stamp, payload) under parent, in
 * parent's namespace, with or without its payload. */
static struct xml_node *
add_item(struct xml_node *parent, const struct xml_node *stored, int payload)
{
	struct xml_node *it = xml_add(parent, "item", NULL), *pl;

	xml_set_attr(it, "id", xml_attr(stored, "id"));
	if (payload && (pl = xml_first_element(stored)) != NULL)
		xml_append_copy(it, pl);
	return it;
}

/* Notify everybody of an event on p (built by the caller). */
static void
notify(struct actx *a, const struct pnode *p, const struct nconf *c,
    const struct xml_node *event, const char *publisher)
{
	struct rlist rl = { NULL, 0, 0 };

	if (!c->deliver_notifications)
		return;
	recipients(a, p, c, p->name, &rl);
	send_event(a->bare, &rl, event, c->notif_type == 1, publisher, NULL);
	rlist_free(&rl);
}

static void
notify_item(struct actx *a, const struct pnode *p, const struct nconf *c,
    const struct xml_node *stored, const char *publisher)
{
	struct xml_node *items, *ev = event_new(p->name, "items", &items);

	add_item(items, stored, c->deliver_payloads);
	notify(a, p, c, ev, publisher);
	xml_arena_free(ev->arena);
}

static void
notify_retract(struct actx *a, const struct pnode *p, const struct nconf *c,
    const char *id)
{
	struct xml_node *items, *ev = event_new(p->name, "items", &items);

	xml_set_attr(xml_add(items, "retract", NULL), "id", id);
	notify(a, p, c, ev, NULL);
	xml_arena_free(ev->arena);
}

static void
notify_simple(struct actx *a, const struct pnode *p, const struct nconf *c,
    const char *what)
{
	struct xml_node *inner, *ev = event_new(p->name, what, &inner);

	notify(a, p, c, ev, NULL);
	xml_arena_free(ev->arena);
}

/* ---- last items for resources that become interested ---- */

static void	legacy_send(struct actx *, const char *to, const char *stamp);

/* The last item of node for jid (a resource of who), if it may have it
 * and the node sends last items on presence. */
static void
send_last(struct actx *a, const char *node, const char *jid, const char *who)
{
	struct xml_node *items, *ev, *it;
	struct rlist rl = { NULL, 0, 0 };
	struct nconf c;
	struct pnode p;

	if (strcmp(node, NS_LEGACY_BM) == 0) {
		/* The bookmarks view: whitelist, the owner alone. */
		if (strcmp(who, a->bare) == 0)
			legacy_send(a, jid, NULL);
		return;
	}
	if (node_load(a->host, a->local, node, &p) != 1)
		return;
	conf_read(&p, &c);
	if (c.deliver_notifications && c.send_last == SL_ON_SUB_AND_PRESENCE &&
	    (it = item_last(&p)) != NULL && may_access(a, &p, &c, who, NULL)) {
		ev = event_new(p.name, "items", &items);
		add_item(items, it, c.deliver_payloads);
		rlist_add(&rl, jid, 0);
		send_event(a->bare, &rl, ev, c.notif_type == 1, NULL,
		    xml_attr(it, "stamp"));
		rlist_free(&rl);
		xml_arena_free(ev->arena);
	}
	node_free(&p);
}

/*
 * A resource of owner_bare has (new) capabilities we know: send it the
 * last item of each node it now wants and did not want before.
 */
static void
deliver_last(const char *owner_bare, const char *jid)
{
	struct contact *k = contact_find(owner_find(owner_bare), jid);
	struct caps *c, *old;
	char **want, who[JID_MAX + 1], ob[JID_MAX + 1], j[JID_MAX + 1];
	size_t nwant = 0;
	struct jid oj;
	struct actx a;

	if (k == NULL || k->key == NULL || (c = caps_find(k->key)) == NULL ||
	    !c->known || (k->sent != NULL && strcmp(k->sent, k->key) == 0))
		return;
	old = k->sent != NULL ? caps_find(k->sent) : NULL;
	want = xcalloc(c->nnodes + 1, sizeof *want);
	for (size_t i = 0; i < c->nnodes; i++)
		if (!caps_wants(old, c->nodes[i]))
			want[nwant++] = xstrdup(c->nodes[i]);
	free(k->sent);
	k->sent = xstrdup(k->key);
	/* From here on k and the owner may go away: work on copies. */
	if (strlcpy_ok(ob, owner_bare, sizeof ob) == 0 &&
	    strlcpy_ok(j, jid, sizeof j) == 0 && jid_parse(&oj, ob) == 0 &&
	    bare_of(j, who, sizeof who) == 0) {
		actx_init(&a, oj.domain, oj.local);
		for (size_t i = 0; i < nwant; i++)
			send_last(&a, want[i], j, who);
		actx_free(&a);
	}
	for (size_t i = 0; i < nwant; i++)
		free(want[i]);
	free(want);
}

/* Every resource waiting for key gets its last items. */
static void
caps_resolved(const char *key)
{
	struct rlist owners_of = { NULL, 0, 0 }, jids = { NULL, 0, 0 };
	struct owner *o;
	size_t b, i;

	/* Copies first: delivering may change the tables. */
	for (b = 0; b < OWNER_BUCKETS; b++)
		for (o = owners[b]; o != NULL; o = o->next)
			for (i = 0; i < o->n; i++)
				if (o->c[i].key != NULL &&
				    strcmp(o->c[i].key, key) == 0) {
					rlist_push(&owners_of, o->bare);
					rlist_push(&jids, o->c[i].jid);
				}
	for (i = 0; i < jids.n; i++)
		deliver_last(owners_of.v[i].jid, jids.v[i].jid);
	rlist_free(&owners_of);
	rlist_free(&jids);
}
/* ---- asking for capabilities ---- */

static void
caps_send_query(struct caps *c, const char *from)
{
	struct xml_node *iq = xml_new(xml_arena_new(), "iq", NS_CLIENT), *q;
	char node[NODE_NAME_MAX + 512];

	snprintf(c->qid, sizeof c->qid, "pep-caps-%llu",
	    (unsigned long long)++query_seq);
	c->sent = now_ms();
	c->tries++;
	xml_set_attr(iq, "type", "get");
	xml_set_attr(iq, "id", c->qid);
	xml_set_attr(iq, "from", from);
	xml_set_attr(iq, "to", c->asked);
	q = xml_add(iq, "query", NS_DISCO_INFO);
	if ((size_t)snprintf(node, sizeof node, "%s#%s", c->cnode, c->ver) <
	    sizeof node)
		xml_set_attr(q, "node", node);
	log_debug("pep: asking %s about caps %s", c->asked, c->ver);
	route(iq);
	xml_arena_free(iq->arena);
}

/* Start resolving key by asking jid (from owner_bare). */
static void
caps_start(const char *key, const char *hash, const char *cnode,
    const char *ver, const char *jid, const char *owner_bare)
{
	struct caps *c;
	unsigned h;

	if (npending >= CAPS_PENDING_MAX)
		return;		/* the next presence tries again */
	if (ncaps >= CAPS_MAX)
		caps_evict();
	c = xcalloc(1, sizeof *c);
	c->key = xstrdup(key);
	c->hash = hash != NULL ? xstrdup(hash) : NULL;
	c->cnode = xstrdup(cnode);
	c->ver = xstrdup(ver);
	c->asked = xstrdup(jid);
	c->seq = ++caps_seq;
	h = str_hash(key, CAPS_BUCKETS);
	c->next = caps_tab[h];
	caps_tab[h] = c;
	ncaps++;
	npending++;
	caps_send_query(c, owner_bare);
}

/*
 * A query failed (error, timeout, wrong hash): ask another resource that
 * announced the same verifiable 'ver' (XEP-0115 5.4), a few times, then
 * forget the entry (the next presence with it starts again).
 */
static void
caps_failed(struct caps *c)
{
	struct owner *o;
	struct contact *k;

	for (size_t b = 0; c->hash != NULL && c->tries < CAPS_TRIES &&
	    b < OWNER_BUCKETS; b++)
		for (o = owners[b]; o != NULL; o = o->next)
			for (size_t i = 0; i < o->n; i++) {
				k = &o->c[i];
				if (k->key == NULL ||
				    strcmp(k->key, c->key) != 0 ||
				    strcmp(k->jid, c->asked) == 0)
					continue;
				free(c->asked);
				c->asked = xstrdup(k->jid);
				caps_send_query(c, o->bare);
				return;
			}
	caps_remove(c);
}
/* The answer to a caps query. */
static void
caps_answer(struct caps *c, const struct xml_node *st)
{
	const char *type = xml_attr(st, "type");
	const struct xml_node *q = xml_child(st, "query", NS_DISCO_INFO);
	char ver[B64_LEN(64) + 1], key[JID_MAX + 1];

	if (strcmp(type, "result") != 0 || q == NULL) {
		log_debug("pep: no caps from %s", c->asked);
		caps_failed(c);
		return;
	}
	if (c->hash != NULL && (caps_compute(q, caps_hash_class(c->hash), ver,
	    sizeof ver) == -1 || strcmp(ver, c->ver) != 0)) {
		log_info("pep: the disco#info of %s does not hash to its caps "
		    "ver %s; not used", c->asked, c->ver);
		caps_failed(c);
		return;
	}
	caps_take_nodes(c, q);
	c->known = 1;
	npending--;
	c->seq = ++caps_seq;
	snprintf(key, sizeof key, "%s", c->key);
	caps_resolved(key);
}

/*
 * The caps key of a presence from jid: 1 with key set, 0 without a <c/>
 * (or an unusable one).  hash is NULL for a JID-bound key.
 */
static int
caps_key(const struct xml_node *p, const char *jid, char *key, size_t keylen,
    const char **hash, const char **cnode, const char **ver)
{
	const struct xml_node *c = xml_child(p, "c", NS_CAPS);
	int r;

	if (c == NULL)
		return 0;
	*hash = xml_attr(c, "hash");
	*cnode = xml_attr(c, "node");
	*ver = xml_attr(c, "ver");
	if (*cnode == NULL || *ver == NULL || **ver == '\0' ||
	    strlen(*ver) > 256 || strlen(*cnode) > NODE_NAME_MAX ||
	    strchr(*ver, ' ') != NULL)
		return 0;
	if (caps_hash_class(*hash) != NULL)
		r = snprintf(key, keylen, "%s %s", *hash, *ver);
	else {
		/* Legacy or unknown hash: good for this JID only (5.4). */
		*hash = NULL;
		r = snprintf(key, keylen, "%s %s#%s", jid, *cnode, *ver);
	}
	return r > 0 && (size_t)r < keylen;
}

/*
 * An available (or unavailable) presence of jid (a full JID) reached the
 * online owner owner_bare, or came from one of its own sessions.
 */
static void
track(const char *owner_bare, const char *jid, const struct xml_node *p,
    int available)
{
	char key[2 * JID_MAX + 600];
	const char *hash = NULL, *cnode = NULL, *ver = NULL;
	struct owner *o = owner_find(owner_bare);
	struct contact *k;
	struct caps *c;
	int have;

	if (!available) {
		if (o != NULL)
			contact_drop(o, jid);
		return;
	}
	if (strchr(jid, '/') == NULL || user_find(owner_bare) == NULL)
		return;
	have = caps_key(p, jid, key, sizeof key, &hash, &cnode, &ver);
	if (o == NULL)
		o = owner_get(owner_bare);
	if ((k = contact_find(o, jid)) == NULL) {
		if (o->n >= CONTACTS_MAX) {
			log_debug("pep: %s hears of too many resources; %s "
			    "not tracked", owner_bare, jid);
			return;
		}
		k = contact_add(o, jid);
	}
	/* No <c/> now: the last one holds (XEP-0115 8.4). */
	if (have && (k->key == NULL || strcmp(k->key, key) != 0)) {
		free(k->key);
		k->key = xstrdup(key);
	}
	if (k->key == NULL)
		return;
	if ((c = caps_find(k->key)) == NULL) {
		if (have && strcmp(k->key, key) == 0)
			caps_start(key, hash, cnode, ver, jid, owner_bare);
		return;
	}
	if (c->known)
		deliver_last(owner_bare, jid);
}

/* ---- requests ---- */

/* One pubsub request on an account. */
struct preq {
	struct iq_req	*r;
	const char	*host, *local;		/* the owner */
	char		 who[JID_MAX + 1];	/* the requester, bare */
	int		 is_owner;
	struct actx	 a;
};

static void
preq_init(struct preq *q, struct iq_req *r)
{
	memset(q, 0, sizeof *q);
	q->r = r;
	q->host = r->to.domain;
	q->local = r->to.local;
	actx_init(&q->a, q->host, q->local);
	if (jid_bare(&r->from, q->who, sizeof q->who) == -1)
		q->who[0] = '\0';
	q->is_owner = strcmp(q->who, q->a.bare) == 0;
}

/* The NodeID of el: NULL after sending the error when it has none. */
static const char *
need_node(struct preq *q, const struct xml_node *el, enum stanza_error *sent)
{
	const char *node = xml_attr(el, "node");

	if (node == NULL || *node == '\0') {
		*sent = fail(q->r, ERR_BAD_REQUEST, "nodeid-required", NULL);
		return NULL;
	}
	if (strlen(node) > NODE_NAME_MAX) {
		*sent = fail(q->r, ERR_NOT_ACCEPTABLE, NULL,
		    "The node name is too long");
		return NULL;
	}
	return node;
}

static enum stanza_error
internal(struct preq *q)
{
	return fail(q->r, ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
}

/* A result with <pubsub xmlns=ns/> in it. */
static struct xml_node *
pubsub_result(struct preq *q, const char *ns, struct xml_node **ps)
{
	struct xml_node *reply = iq_result(q->r);

	*ps = xml_add(reply, "pubsub", ns);
	return reply;
}

static int	 is_view(const char *node);
static enum stanza_error view_publish(struct preq *,
		    const struct xml_node *item, const struct xml_node *opts);
static enum stanza_error view_items(struct preq *,
		    const struct xml_node *items);
static void	 legacy_changed(struct actx *);
static void	 avatar_to_vcard(struct actx *);

/* The owner changed node: what follows it (views, the vCard). */
static void
node_changed(struct actx *a, const char *node)
{
	if (strcmp(node, NS_BOOKMARKS) == 0)
		legacy_changed(a);
	if (strcmp(node, NS_AVATAR_META) == 0)
		avatar_to_vcard(a);
}

/*
 * The item of a publish request: exactly one <item/> with exactly one
 * payload element and a sensible id.  NULL after sending the error.
 */
static const struct xml_node *
publish_item(struct preq *q, const struct xml_node *pub,
    enum stanza_error *sent)
{
	const struct xml_node *it = NULL, *c;
	const char *id;
	size_t n = 0;

	for (c = xml_first_element(pub); c != NULL; c = el_next(c)) {
		if (!xml_is(c, "item", NS_PUBSUB)) {
			*sent = fail(q->r, ERR_BAD_REQUEST, NULL,
			    "<publish/> holds only an <item/>");
			return NULL;
		}
		it = c;
		n++;
	}
	if (n == 0) {
		*sent = fail(q->r, ERR_BAD_REQUEST, "item-required", NULL);
		return NULL;
	}
	if (n > 1) {
		*sent = fail(q->r, ERR_BAD_REQUEST, "invalid-payload",
		    "Publish one item at a time");
		return NULL;
	}
	c = xml_first_element(it);
	if (c == NULL) {
		*sent = fail(q->r, ERR_BAD_REQUEST, "payload-required", NULL);
		return NULL;
	}
	if (el_next(c) != NULL) {
		*sent = fail(q->r, ERR_BAD_REQUEST, "invalid-payload",
		    "An item holds exactly one payload element");
		return NULL;
	}
	id = xml_attr(it, "id");
	if (id != NULL && (*id == '\0' || strlen(id) > ITEM_ID_MAX)) {
		*sent = fail(q->r, ERR_BAD_REQUEST, NULL,
		    "The item id is empty or too long");
		return NULL;
	}
	return it;
}

/*
 * publish-options (XEP-0060 7.1.5, XEP-0223): opts is the
 * <publish-options/> element or NULL.  For an existing node (exists) the
 * fields are preconditions on cur; for a new one they are its
 * configuration (cur is changed).  0, or -1 with pe filled.
 */
static int
check_options(const struct xml_node *opts, int exists, struct nconf *cur,
    struct perr *pe)
{
	const struct xml_node *x;
	struct nconf want;
	unsigned given;

	if (opts == NULL || (x = xml_first_element(opts)) == NULL)
		return 0;
	if (el_next(x) != NULL || !xml_is(x, "x", NS_XDATA)) {
		perr_set(pe, ERR_BAD_REQUEST, NULL,
		    "<publish-options/> holds one data form");
		return -1;
	}
	want = *cur;
	if (conf_apply_form(x, NS_PUBOPT, &want, &given, pe) == -1) {
		if (pe->e == ERR_BAD_REQUEST)
			return -1;
		/* Unknown fields and values we cannot have: the node can
		 * never match (7.1.5: reject unknown fields). */
		perr_set(pe, ERR_CONFLICT, "precondition-not-met", pe->text);
		return -1;
	}
	if (!exists) {
		*cur = want;
		return 0;
	}
	if (!conf_matches(cur, &want, given)) {
		perr_set(pe, ERR_CONFLICT, "precondition-not-met", "The node's "
		    "configuration differs from the publish-options");
		return -1;
	}
	return 0;
}

/* Add the stored form of an item (payload pl) to p as the newest; NULL
 * if it is larger than max_item_size. */
static struct xml_node *
stored_item(struct pnode *p, const struct xml_node *pl, const char *id)
{
	struct xml_node *si;
	char stamp[32];
	struct buf b;

	now_stamp(stamp, sizeof stamp);
	si = xml_add(p->root, "item", NS_STORE);
	xml_set_attr(si, "id", id);
	xml_set_attr(si, "stamp", stamp);
	xml_append_copy(si, pl);
	buf_init(&b, setting(S_MAX_ITEM_SIZE));
	if (xml_serialize(si, &b, NULL) == -1) {
		buf_free(&b);
		xml_remove(si);
		return NULL;
	}
	buf_free(&b);
	return si;
}

/*
 * XEP-0163 7.1: a subscription whose subscriber lost access (presence
 * subscription gone, moved out of a roster group, access model changed)
 * is cancelled.  Done whenever the node is written anyway.
 */
static void
prune_subscriptions(struct actx *a, struct pnode *p, const struct nconf *c)
{
	struct xml_node *s, *next;
	char b[JID_MAX + 1];

	for (s = xml_child(p->root, "subscription", NS_STORE); s != NULL;
	    s = next) {
		next = xml_next(s, "subscription", NS_STORE);
		if (bare_of(xml_attr(s, "jid"), b, sizeof b) == -1 ||
		    !may_access(a, p, c, b, NULL)) {
			log_debug("pep: %s: subscription of %s to '%s' "
			    "cancelled", a->bare, xml_attr(s, "jid") ?
			    xml_attr(s, "jid") : "?", p->name);
			xml_remove(s);
		}
	}
}

/*
 * Publish payload pl to node as item id (NULL: a new id), the newest.  A
 * new node gets the default configuration with access acc, then opts
 * (publish-options); for an existing node opts are preconditions.  The
 * stored item, with p (node_free it either way) and c its configuration,
 * or NULL with pe filled.
 */
static struct xml_node *
publish_to(struct actx *a, const char *node, const struct xml_node *opts,
    int acc, const struct xml_node *pl, const char *id, struct pnode *p,
    struct nconf *c, struct perr *pe)
{
	struct xml_node *si, *old;
	char genid[32];
	int rc = node_load(a->host, a->local, node, p);

	if (rc == -1) {
		perr_set(pe, ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
		return NULL;
	}
	if (rc == 0)
		node_new(p, node);
	conf_read(p, c);
	if (rc == 0)
		c->access = acc;
	if (check_options(opts, rc == 1, c, pe) == -1)
		return NULL;
	if (rc == 0) {
		conf_write(p, c);
		conf_read(p, c);
	}
	if (id == NULL) {
		do
			make_id(genid, sizeof genid);
		while (item_find(p, genid) != NULL);
		id = genid;
	}
	old = item_find(p, id);
	if ((si = stored_item(p, pl, id)) == NULL) {
		log_info("pep: %s: item for '%s' refused, larger than "
		    "max_item_size (%zu bytes)", a->bare, node,
		    setting(S_MAX_ITEM_SIZE));
		perr_set(pe, ERR_NOT_ACCEPTABLE, "payload-too-big", NULL);
		return NULL;
	}
	if (old != NULL)
		xml_remove(old);	/* republished: now the newest */
	trim_items(p, c);
	prune_subscriptions(a, p, c);
	return node_save(a->host, a->local, p, pe) == ERR_NONE ? si : NULL;
}

static enum stanza_error
do_publish(struct preq *q, const struct xml_node *pub,
    const struct xml_node *opts)
{
	const struct xml_node *it;
	struct xml_node *si, *reply, *ps, *pe_el;
	const char *node;
	enum stanza_error sent = ERR_NONE;
	struct nconf c;
	struct pnode p;
	struct perr pe;

	if (!q->is_owner)
		return fail(q->r, ERR_FORBIDDEN, NULL, NULL);
	if ((node = need_node(q, pub, &sent)) == NULL ||
	    (it = publish_item(q, pub, &sent)) == NULL)
		return sent;
	if (is_view(node))
		return view_publish(q, it, opts);
	if ((si = publish_to(&q->a, node, opts, ACC_PRESENCE,
	    xml_first_element(it), xml_attr(it, "id"), &p, &c, &pe)) == NULL) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	reply = pubsub_result(q, NS_PUBSUB, &ps);
	pe_el = xml_add(ps, "publish", NULL);
	xml_set_attr(pe_el, "node", node);
	xml_set_attr(xml_add(pe_el, "item", NULL), "id", xml_attr(si, "id"));
	iq_reply(q->r, reply);
	notify_item(&q->a, &p, &c, si, q->r->from_str);
	node_changed(&q->a, node);
	node_free(&p);
	return ERR_NONE;
}

/* Load the node of a request: 0, or -1 after sending the error when it
 * cannot be (no node attribute, no such node, unreadable). */
static int
load_for(struct preq *q, const struct xml_node *el, struct pnode *p,
    const char **node, enum stanza_error *sent)
{
	int rc;

	if ((*node = need_node(q, el, sent)) == NULL)
		return -1;
	if ((rc = node_load(q->host, q->local, *node, p)) == -1) {
		*sent = internal(q);
		return -1;
	}
	if (rc == 0) {
		*sent = fail(q->r, ERR_ITEM_NOT_FOUND, NULL, NULL);
		return -1;
	}
	return 0;
}

/* Is stored item it among the <item id=''/> of a request (from want)? */
static int
asked_for(const struct xml_node *want, const struct xml_node *it)
{
	for (; want != NULL; want = xml_next(want, "item", NS_PUBSUB))
		if (xml_attr(want, "id") != NULL &&
		    attr_is(it, "id", xml_attr(want, "id")))
			return 1;
	return 0;
}

static enum stanza_error
do_items(struct preq *q, const struct xml_node *items)
{
	const struct xml_node *want;
	struct xml_node *reply, *ps, *out, *it;
	const char *node, *mi = xml_attr(items, "max_items");
	enum stanza_error sent = ERR_NONE;
	size_t max = 0, total, skip = 0, k = 0;
	struct nconf c;
	struct pnode p;
	struct perr pe;

	if (mi != NULL && (parse_count(mi, &max) == -1 || max == 0))
		return fail(q->r, ERR_BAD_REQUEST, NULL,
		    "max_items must be a positive number");
	if ((node = need_node(q, items, &sent)) == NULL)
		return sent;
	if (is_view(node))
		return view_items(q, items);
	if (load_for(q, items, &p, &node, &sent) == -1)
		return sent;
	conf_read(&p, &c);
	if (!may_access(&q->a, &p, &c, q->who, &pe)) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	reply = pubsub_result(q, NS_PUBSUB, &ps);
	out = xml_add(ps, "items", NULL);
	xml_set_attr(out, "node", node);
	want = xml_child(items, "item", NS_PUBSUB);
	total = item_count(&p);
	if (want == NULL && max > 0 && max < total)
		skip = total - max;	/* the N most recent (6.5.7) */
	for (it = item_first(&p); it != NULL; it = item_next(it), k++) {
		if (k < skip)
			continue;
		if (want == NULL || asked_for(want, it))
			add_item(out, it, 1);
	}
	iq_reply(q->r, reply);
	node_free(&p);
	return ERR_NONE;
}

static enum stanza_error
do_retract(struct preq *q, const struct xml_node *ret)
{
	const struct xml_node *it, *c;
	const char *node, *id, *nt = xml_attr(ret, "notify");
	enum stanza_error sent = ERR_NONE;
	struct xml_node *old;
	struct nconf conf;
	struct pnode p;
	struct perr pe;
	int n = 0, want_notify = nt != NULL ? parse_bool(nt) : 0;

	if (!q->is_owner)
		return fail(q->r, ERR_FORBIDDEN, NULL, NULL);
	if (want_notify == -1)
		return fail(q->r, ERR_BAD_REQUEST, NULL,
		    "notify must be a boolean");
	if ((node = need_node(q, ret, &sent)) == NULL)
		return sent;
	for (c = xml_first_element(ret), it = NULL; c != NULL;
	    c = el_next(c)) {
		if (!xml_is(c, "item", NS_PUBSUB))
			return fail(q->r, ERR_BAD_REQUEST, NULL,
			    "<retract/> holds only an <item/>");
		it = c;
		n++;
	}
	if (n == 0 || (id = xml_attr(it, "id")) == NULL || *id == '\0')
		return fail(q->r, ERR_BAD_REQUEST, "item-required", NULL);
	if (n > 1)
		return fail(q->r, ERR_BAD_REQUEST, NULL,
		    "Retract one item at a time");
	if (is_view(node))
		return fail(q->r, ERR_NOT_ALLOWED, NULL, "storage:bookmarks "
		    "shows urn:xmpp:bookmarks:1; retract from that node");
	if (load_for(q, ret, &p, &node, &sent) == -1)
		return sent;
	if ((old = item_find(&p, id)) == NULL) {
		node_free(&p);
		return fail(q->r, ERR_ITEM_NOT_FOUND, NULL, NULL);
	}
	conf_read(&p, &conf);
	xml_remove(old);
	if (node_save(q->host, q->local, &p, &pe) != ERR_NONE) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	iq_ok(q->r);
	if (want_notify || conf.notify_retract)
		notify_retract(&q->a, &p, &conf, id);
	node_changed(&q->a, node);
	node_free(&p);
	return ERR_NONE;
}

/* Apply the form of a <configure/> to c; -1 with pe filled. */
static int
configure_form(const struct xml_node *cfg, struct nconf *c, struct perr *pe)
{
	const struct xml_node *x;
	unsigned given;

	if (cfg == NULL || (x = xml_first_element(cfg)) == NULL)
		return 0;
	if (el_next(x) != NULL || !xml_is(x, "x", NS_XDATA)) {
		perr_set(pe, ERR_BAD_REQUEST, NULL,
		    "<configure/> holds one data form");
		return -1;
	}
	return conf_apply_form(x, NS_NODE_CONFIG, c, &given, pe);
}

static enum stanza_error
do_create(struct preq *q, const struct xml_node *cr, const struct xml_node *cfg)
{
	const char *node = xml_attr(cr, "node");
	struct nconf c;
	struct pnode p;
	struct perr pe;
	int rc, view;

	if (!q->is_owner)
		return fail(q->r, ERR_FORBIDDEN, NULL, NULL);
	if (node == NULL || *node == '\0')
		return fail(q->r, ERR_NOT_ACCEPTABLE, "nodeid-required", NULL);
	if (strlen(node) > NODE_NAME_MAX)
		return fail(q->r, ERR_NOT_ACCEPTABLE, NULL,
		    "The node name is too long");
	if (cfg != NULL && xml_attr(cfg, "node") != NULL)
		return fail(q->r, ERR_BAD_REQUEST, NULL,
		    "<configure/> after <create/> names no node");
	if ((view = is_view(node)) != 0)
		node = NS_BOOKMARKS;	/* the view is made of that node */
	if ((rc = node_load(q->host, q->local, node, &p)) == -1)
		return internal(q);
	if (rc == 1) {
		node_free(&p);
		return fail(q->r, ERR_CONFLICT, NULL, NULL);
	}
	node_new(&p, node);
	conf_read(&p, &c);
	if (view) {
		/* Private to the owner and holding every room (XEP-0402). */
		c.access = ACC_WHITELIST;
		c.max_items = 0;
		c.send_last = SL_NEVER;
	}
	if (configure_form(cfg, &c, &pe) == -1) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	conf_write(&p, &c);
	if (node_save(q->host, q->local, &p, &pe) != ERR_NONE) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	node_free(&p);
	return iq_ok(q->r);
}

static struct xml_node *
find_subscription(const struct pnode *p, const char *jid)
{
	for (struct xml_node *s = xml_child(p->root, "subscription", NS_STORE);
	    s != NULL; s = xml_next(s, "subscription", NS_STORE))
		if (attr_is(s, "jid", jid))
			return s;
	return NULL;
}

static size_t
count_named(const struct pnode *p, const char *name)
{
	size_t n = 0;

	for (struct xml_node *s = xml_child(p->root, name, NS_STORE); s != NULL;
	    s = xml_next(s, name, NS_STORE))
		n++;
	return n;
}

static void
subscription_el(struct xml_node *parent, const char *node, const char *jid,
    const char *subid, const char *state)
{
	struct xml_node *s = xml_add(parent, "subscription", NULL);

	if (node != NULL)
		xml_set_attr(s, "node", node);
	xml_set_attr(s, "jid", jid);
	if (subid != NULL)
		xml_set_attr(s, "subid", subid);
	xml_set_attr(s, "subscription", state);
}

/* The 'jid' of a (un)subscribe request, normalised; NULL after sending
 * the error.  It must be the requester's own (6.1.3.1). */
static const char *
sub_jid(struct preq *q, const struct xml_node *el, char *out, size_t outlen,
    enum stanza_error mismatch, enum stanza_error *sent)
{
	const char *j = xml_attr(el, "jid");
	char b[JID_MAX + 1];

	if (j == NULL || jid_normalize(j, out, outlen) == -1 ||
	    bare_of(out, b, sizeof b) == -1) {
		*sent = fail(q->r, ERR_BAD_REQUEST, "invalid-jid", NULL);
		return NULL;
	}
	if (strcmp(b, q->who) != 0) {
		*sent = mismatch == ERR_FORBIDDEN ?
		    fail(q->r, ERR_FORBIDDEN, NULL, NULL) :
		    fail(q->r, ERR_BAD_REQUEST, "invalid-jid", NULL);
		return NULL;
	}
	return out;
}

static enum stanza_error
do_subscribe(struct preq *q, const struct xml_node *sub,
    const struct xml_node *opts)
{
	const char *node, *jid;
	char jbuf[JID_MAX + 1], subid[32];
	enum stanza_error sent = ERR_NONE;
	struct xml_node *reply, *ps, *s, *last;
	struct nconf c;
	struct pnode p;
	struct perr pe;
	int fresh = 0;

	if ((node = need_node(q, sub, &sent)) == NULL)
		return sent;
	jid = sub_jid(q, sub, jbuf, sizeof jbuf, ERR_BAD_REQUEST, &sent);
	if (jid == NULL)
		return sent;
	if (opts != NULL && xml_first_element(opts) != NULL)
		return unsupported(q->r, "subscription-options");
	if (is_view(node)) {
		/* The owner hears of it through its caps; nobody else may. */
		if (!q->is_owner)
			return fail(q->r, ERR_NOT_ALLOWED, "closed-node", NULL);
		reply = pubsub_result(q, NS_PUBSUB, &ps);
		subscription_el(ps, node, jid, NULL, "subscribed");
		iq_reply(q->r, reply);
		return ERR_NONE;
	}
	if (load_for(q, sub, &p, &node, &sent) == -1)
		return sent;
	conf_read(&p, &c);
	if (!may_access(&q->a, &p, &c, q->who, &pe)) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	if ((s = find_subscription(&p, jid)) == NULL) {
		if (count_named(&p, "subscription") >= MAX_SUBSCRIPTIONS) {
			node_free(&p);
			return fail(q->r, ERR_POLICY_VIOLATION,
			    "too-many-subscriptions", NULL);
		}
		make_id(subid, sizeof subid);
		s = xml_add(p.root, "subscription", NS_STORE);
		xml_set_attr(s, "jid", jid);
		xml_set_attr(s, "subid", subid);
		if (node_save(q->host, q->local, &p, &pe) != ERR_NONE) {
			node_free(&p);
			return send_perr(q->r, &pe);
		}
		fresh = 1;
	}
	/* Not multi-subscribe: a second request gets the current state. */
	reply = pubsub_result(q, NS_PUBSUB, &ps);
	subscription_el(ps, node, jid, xml_attr(s, "subid"), "subscribed");
	iq_reply(q->r, reply);
	if (fresh && c.send_last != SL_NEVER && c.deliver_notifications &&
	    (last = item_last(&p)) != NULL) {
		struct rlist rl = { NULL, 0, 0 };
		struct xml_node *items, *ev = event_new(node, "items", &items);
		add_item(items, last, c.deliver_payloads);
		rlist_add(&rl, jid, 0);
		send_event(q->a.bare, &rl, ev, c.notif_type == 1, NULL,
		    xml_attr(last, "stamp"));
		rlist_free(&rl);
		xml_arena_free(ev->arena);
	}
	node_free(&p);
	return ERR_NONE;
}

static enum stanza_error
do_unsubscribe(struct preq *q, const struct xml_node *un)
{
	const char *node, *jid, *subid = xml_attr(un, "subid");
	char jbuf[JID_MAX + 1];
	enum stanza_error sent = ERR_NONE;
	struct xml_node *s;
	struct pnode p;
	struct perr pe;

	if ((node = need_node(q, un, &sent)) == NULL)
		return sent;
	jid = sub_jid(q, un, jbuf, sizeof jbuf, ERR_FORBIDDEN, &sent);
	if (jid == NULL)
		return sent;
	if (is_view(node))
		return q->is_owner ? iq_ok(q->r) :
		    not_subscribed(q->r);
	if (load_for(q, un, &p, &node, &sent) == -1)
		return sent;
	if ((s = find_subscription(&p, jid)) == NULL) {
		node_free(&p);
		return not_subscribed(q->r);
	}
	if (subid != NULL && (xml_attr(s, "subid") == NULL ||
	    strcmp(subid, xml_attr(s, "subid")) != 0)) {
		node_free(&p);
		return fail(q->r, ERR_NOT_ACCEPTABLE, "invalid-subid", NULL);
	}
	xml_remove(s);
	if (node_save(q->host, q->local, &p, &pe) != ERR_NONE) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	node_free(&p);
	return iq_ok(q->r);
}

/* Lists over every node: the requester's subscriptions or affiliations. */
struct list_ctx {
	struct preq	*q;
	struct xml_node	*out;
	const char	*only;		/* a node, or NULL for all */
	int		 found;		/* 'only' exists */
	int		 affiliations;
};

static int
list_one(struct pnode *p, void *arg)
{
	struct list_ctx *l = arg;
	struct preq *q = l->q;
	struct xml_node *s, *a;
	const char *aff, *j;
	char b[JID_MAX + 1];

	if (l->only != NULL && strcmp(l->only, p->name) != 0)
		return 0;
	l->found = 1;
	if (l->affiliations) {
		aff = q->is_owner ? "owner" : affiliation_of(p, q->who);
		if (aff != NULL) {
			a = xml_add(l->out, "affiliation", NULL);
			xml_set_attr(a, "node", p->name);
			xml_set_attr(a, "affiliation", aff);
		}
		return 0;
	}
	for (s = xml_child(p->root, "subscription", NS_STORE); s != NULL;
	    s = xml_next(s, "subscription", NS_STORE)) {
		j = xml_attr(s, "jid");
		if (j != NULL && bare_of(j, b, sizeof b) == 0 &&
		    strcmp(b, q->who) == 0)
			subscription_el(l->out, p->name, j,
			    xml_attr(s, "subid"), "subscribed");
	}
	return 0;
}
static enum stanza_error
do_list(struct preq *q, const struct xml_node *el, int affiliations)
{
	struct xml_node *reply, *ps;
	struct list_ctx l;

	memset(&l, 0, sizeof l);
	l.q = q;
	l.only = xml_attr(el, "node");
	l.affiliations = affiliations;
	reply = pubsub_result(q, NS_PUBSUB, &ps);
	l.out = xml_add(ps, affiliations ? "affiliations" : "subscriptions",
	    NULL);
	if (l.only != NULL)
		xml_set_attr(l.out, "node", l.only);
	nodes_each(q->host, q->local, list_one, &l);
	if (l.only != NULL && !l.found) {
		xml_arena_free(reply->arena);
		return fail(q->r, ERR_ITEM_NOT_FOUND, NULL, NULL);
	}
	iq_reply(q->r, reply);
	return ERR_NONE;
}

static int
pair_is(const struct xml_node *c, const struct xml_node *d, const char *a,
    const char *b)
{
	return strcmp(c->name, a) == 0 && strcmp(d->name, b) == 0;
}

/* The action of a <pubsub/> and what may follow it. */
static int
split_request(const struct xml_node *ps, const char *ns,
    const struct xml_node **act, const struct xml_node **extra)
{
	const struct xml_node *c = xml_first_element(ps), *d;

	*act = c;
	*extra = NULL;
	if (c == NULL || strcmp(c->ns, ns) != 0)
		return -1;
	if ((d = el_next(c)) == NULL)
		return 0;
	if (strcmp(d->ns, ns) != 0 || el_next(d) != NULL)
		return -1;
	if (pair_is(c, d, "publish", "publish-options") ||
	    pair_is(c, d, "create", "configure") ||
	    pair_is(c, d, "subscribe", "options")) {
		*extra = d;
		return 0;
	}
	return -1;
}

static enum stanza_error
pubsub_iq(struct iq_req *r)
{
	const struct xml_node *act, *extra;
	struct preq q;
	enum stanza_error e;
	int get = r->type == IQ_GET;
	const char *n;

	if (split_request(r->payload, NS_PUBSUB, &act, &extra) == -1)
		return fail(r, ERR_BAD_REQUEST, NULL,
		    "<pubsub/> holds one action (and its options)");
	preq_init(&q, r);
	n = act->name;
	if (get && strcmp(n, "items") == 0)
		e = do_items(&q, act);
	else if (get && strcmp(n, "subscriptions") == 0)
		e = do_list(&q, act, 0);
	else if (get && strcmp(n, "affiliations") == 0)
		e = do_list(&q, act, 1);
	else if (!get && strcmp(n, "publish") == 0)
		e = do_publish(&q, act, extra);
	else if (!get && strcmp(n, "retract") == 0)
		e = do_retract(&q, act);
	else if (!get && strcmp(n, "create") == 0)
		e = do_create(&q, act, extra);
	else if (!get && strcmp(n, "subscribe") == 0)
		e = do_subscribe(&q, act, extra);
	else if (!get && strcmp(n, "unsubscribe") == 0)
		e = do_unsubscribe(&q, act);
	else if (strcmp(n, "options") == 0 || strcmp(n, "default") == 0)
		e = unsupported(r, "subscription-options");
	else if (strcmp(n, "items") == 0 || strcmp(n, "subscriptions") == 0 ||
	    strcmp(n, "affiliations") == 0 || strcmp(n, "publish") == 0 ||
	    strcmp(n, "retract") == 0 || strcmp(n, "create") == 0 ||
	    strcmp(n, "subscribe") == 0 || strcmp(n, "unsubscribe") == 0)
		e = fail(r, ERR_BAD_REQUEST, NULL, get ?
		    "This action needs an IQ of type 'set'" :
		    "This action needs an IQ of type 'get'");
	else
		e = fail(r, ERR_FEATURE_NOT_IMPLEMENTED, NULL, NULL);
	actx_free(&q.a);
	return e;
}

/* ---- owner requests (pubsub#owner) ---- */

/* The configuration the storage:bookmarks view shows. */
static void
view_conf(struct nconf *c)
{
	memset(c, 0, sizeof *c);
	c->access = ACC_WHITELIST;
	c->max_items = 1;
	c->send_last = SL_ON_SUB_AND_PRESENCE;
	c->deliver_notifications = c->deliver_payloads = 1;
	c->notify_retract = c->notify_delete = 1;
	c->title = c->description = "";
}

static enum stanza_error
configure_get(struct preq *q, const struct xml_node *el)
{
	struct xml_node *reply, *ps, *cf;
	enum stanza_error sent = ERR_NONE;
	const char *node;
	struct nconf c;
	struct pnode p;
	int have = 0;

	if ((node = need_node(q, el, &sent)) == NULL)
		return sent;
	if (is_view(node))
		view_conf(&c);
	else {
		if (load_for(q, el, &p, &node, &sent) == -1)
			return sent;
		conf_read(&p, &c);
		have = 1;
	}
	reply = pubsub_result(q, NS_PUBSUB_OWNER, &ps);
	cf = xml_add(ps, "configure", NULL);
	xml_set_attr(cf, "node", node);
	(void)actx_item(&q->a, q->a.bare);	/* load the roster for groups */
	conf_form(cf, "form", &c, q->a.state == 1 ? &q->a.r : NULL);
	iq_reply(q->r, reply);
	if (have)
		node_free(&p);
	return ERR_NONE;
}

static enum stanza_error
configure_set(struct preq *q, const struct xml_node *el)
{
	const struct xml_node *x = xml_first_element(el);
	enum stanza_error sent = ERR_NONE;
	const char *node, *type;
	struct nconf c, want;
	struct pnode p;
	struct perr pe;
	unsigned given;

	if ((node = need_node(q, el, &sent)) == NULL)
		return sent;
	if (x == NULL || !xml_is(x, "x", NS_XDATA) || el_next(x) != NULL)
		return fail(q->r, ERR_BAD_REQUEST, NULL,
		    "<configure/> holds one data form");
	type = xml_attr(x, "type");
	if (type != NULL && strcmp(type, "cancel") == 0)
		return iq_ok(q->r);	/* 8.2.4: the configuration stays */
	if (is_view(node)) {
		view_conf(&c);
		want = c;
		if (conf_apply_form(x, NS_NODE_CONFIG, &want, &given,
		    &pe) == -1)
			return send_perr(q->r, &pe);
		if (!conf_matches(&c, &want, given))
			return fail(q->r, ERR_NOT_ACCEPTABLE, NULL,
			    "storage:bookmarks shows urn:xmpp:bookmarks:1 and "
			    "cannot be configured");
		return iq_ok(q->r);
	}
	if (load_for(q, el, &p, &node, &sent) == -1)
		return sent;
	conf_read(&p, &c);
	if (conf_apply_form(x, NS_NODE_CONFIG, &c, &given, &pe) == -1) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	conf_write(&p, &c);
	conf_read(&p, &c);
	trim_items(&p, &c);
	prune_subscriptions(&q->a, &p, &c);
	if (node_save(q->host, q->local, &p, &pe) != ERR_NONE) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	node_free(&p);
	return iq_ok(q->r);
}

static enum stanza_error
default_get(struct preq *q, const struct xml_node *el)
{
	const char *type = xml_attr(el, "type");
	struct xml_node *reply, *ps, *d;
	struct nconf c;
	struct pnode p;

	if (xml_attr(el, "node") != NULL)
		return fail(q->r, ERR_BAD_REQUEST, NULL,
		    "<default/> names no node");
	if (type != NULL && strcmp(type, "leaf") != 0)
		return unsupported(q->r, "collections");
	node_new(&p, "default");
	conf_read(&p, &c);
	reply = pubsub_result(q, NS_PUBSUB_OWNER, &ps);
	d = xml_add(ps, "default", NULL);
	conf_form(d, "form", &c, NULL);
	iq_reply(q->r, reply);
	node_free(&p);
	return ERR_NONE;
}

static enum stanza_error
do_delete(struct preq *q, const struct xml_node *el)
{
	enum stanza_error sent = ERR_NONE;
	struct xml_node *inner, *ev;
	struct rlist rl = { NULL, 0, 0 };
	const char *node;
	struct nconf c;
	struct pnode p;

	if ((node = need_node(q, el, &sent)) == NULL)
		return sent;
	if (is_view(node))
		return fail(q->r, ERR_NOT_ALLOWED, NULL, "storage:bookmarks "
		    "shows urn:xmpp:bookmarks:1; delete that node");
	if (load_for(q, el, &p, &node, &sent) == -1)
		return sent;
	conf_read(&p, &c);
	/* Who to tell, from the subscriptions the file holds. */
	if (c.notify_delete && c.deliver_notifications)
		recipients(&q->a, &p, &c, p.name, &rl);
	if (node_remove(q->host, q->local, &p) == -1) {
		rlist_free(&rl);
		node_free(&p);
		return internal(q);
	}
	iq_ok(q->r);
	ev = event_new(p.name, "delete", &inner);
	send_event(q->a.bare, &rl, ev, c.notif_type == 1, NULL, NULL);
	xml_arena_free(ev->arena);
	rlist_free(&rl);
	node_changed(&q->a, node);
	node_free(&p);
	return ERR_NONE;
}

static enum stanza_error
do_purge(struct preq *q, const struct xml_node *el)
{
	enum stanza_error sent = ERR_NONE;
	struct xml_node *it;
	const char *node;
	struct nconf c;
	struct pnode p;
	struct perr pe;

	if ((node = need_node(q, el, &sent)) == NULL)
		return sent;
	if (is_view(node))
		return fail(q->r, ERR_NOT_ALLOWED, NULL, "storage:bookmarks "
		    "shows urn:xmpp:bookmarks:1; purge that node");
	if (load_for(q, el, &p, &node, &sent) == -1)
		return sent;
	conf_read(&p, &c);
	while ((it = item_first(&p)) != NULL)
		xml_remove(it);
	if (node_save(q->host, q->local, &p, &pe) != ERR_NONE) {
		node_free(&p);
		return send_perr(q->r, &pe);
	}
	iq_ok(q->r);
	if (c.notify_retract)
		notify_simple(&q->a, &p, &c, "purge");
	node_changed(&q->a, node);
	node_free(&p);
	return ERR_NONE;
}

static const char *const affiliation_names[] = {
	"none", "member", "publisher", "outcast", NULL
};

/* Remove the <name/> records of p whose jid is jid (or, with bare set,
 * has jid as its bare JID). */
static void
remove_records(struct pnode *p, const char *name, const char *jid, int bare)
{
	struct xml_node *n, *next;
	char b[JID_MAX + 1];

	for (n = xml_child(p->root, name, NS_STORE); n != NULL; n = next) {
		next = xml_next(n, name, NS_STORE);
		if (bare ? bare_of(xml_attr(n, "jid"), b, sizeof b) == 0 &&
		    strcmp(b, jid) == 0 : attr_is(n, "jid", jid))
			xml_remove(n);
	}
}

/* The view and its refusals for the owner's lists (8.8, 8.9). */
static enum stanza_error
view_lists(struct preq *q, int set)
{
	if (set)
		return fail(q->r, ERR_NOT_ALLOWED, NULL,
		    "storage:bookmarks is the owner's alone");
	return fail(q->r, ERR_ITEM_NOT_FOUND, NULL, NULL);
}

static void
affiliations_list(struct preq *q, const struct pnode *p)
{
	struct xml_node *reply, *ps, *out, *a, *n;

	reply = pubsub_result(q, NS_PUBSUB_OWNER, &ps);
	out = xml_add(ps, "affiliations", NULL);
	xml_set_attr(out, "node", p->name);
	a = xml_add(out, "affiliation", NULL);
	xml_set_attr(a, "jid", q->a.bare);
	xml_set_attr(a, "affiliation", "owner");
	for (n = xml_child(p->root, "affiliation", NS_STORE); n != NULL;
	    n = xml_next(n, "affiliation", NS_STORE)) {
		a = xml_add(out, "affiliation", NULL);
		xml_set_attr(a, "jid", xml_attr(n, "jid"));
		xml_set_attr(a, "affiliation", xml_attr(n, "affiliation"));
	}
	iq_reply(q->r, reply);
}

/* Every <affiliation/> of a set is sensible?  ERR_NONE or sent error. */
static enum stanza_error
affiliations_check(struct preq *q, const struct xml_node *el, int *bad)
{
	const struct xml_node *c;
	const char *aff;
	char b[JID_MAX + 1];

	*bad = 1;
	for (c = xml_first_element(el); c != NULL; c = el_next(c)) {
		aff = xml_attr(c, "affiliation");
		if (!xml_is(c, "affiliation", NS_PUBSUB_OWNER) || aff == NULL ||
		    bare_of(xml_attr(c, "jid"), b, sizeof b) == -1)
			return fail(q->r, ERR_BAD_REQUEST, NULL, "Each "
			    "<affiliation/> needs a valid jid and an "
			    "affiliation");
		if (name_index(affiliation_names, aff) == -1 ||
		    strcmp(b, q->a.bare) == 0)
			return fail(q->r, ERR_NOT_ACCEPTABLE, NULL,
			    "Affiliations: none, member, publisher or outcast, "
			    "and the owner stays owner");
	}
	*bad = 0;
	return ERR_NONE;
}

/* One checked <affiliation/> of an owner's set; ERR_NONE to go on. */
static enum stanza_error
affiliation_apply(struct preq *q, struct pnode *p, const struct xml_node *c)
{
	const char *aff = xml_attr(c, "affiliation");
	char b[JID_MAX + 1];
	struct xml_node *a;

	bare_of(xml_attr(c, "jid"), b, sizeof b);
	remove_records(p, "affiliation", b, 0);
	if (strcmp(aff, "none") == 0)
		return ERR_NONE;
	if (count_named(p, "affiliation") >= MAX_AFFILIATIONS)
		return fail(q->r, ERR_POLICY_VIOLATION, NULL,
		    "Too many affiliations on one node");
	a = xml_add(p->root, "affiliation", NS_STORE);
	xml_set_attr(a, "jid", b);
	xml_set_attr(a, "affiliation", aff);
	/* An outcast is no subscriber either (4.1). */
	if (strcmp(aff, "outcast") == 0)
		remove_records(p, "subscription", b, 1);
	return ERR_NONE;
}

static void
subscriptions_list(struct preq *q, const struct pnode *p)
{
	struct xml_node *reply, *ps, *out, *n;

	reply = pubsub_result(q, NS_PUBSUB_OWNER, &ps);
	out = xml_add(ps, "subscriptions", NULL);
	xml_set_attr(out, "node", p->name);
	for (n = xml_child(p->root, "subscription", NS_STORE); n != NULL;
	    n = xml_next(n, "subscription", NS_STORE))
		subscription_el(out, NULL, xml_attr(n, "jid"),
		    xml_attr(n, "subid"), "subscribed");
	iq_reply(q->r, reply);
}

static enum stanza_error
subscriptions_check(struct preq *q, const struct xml_node *el, int *bad)
{
	const struct xml_node *c;
	const char *st, *jid;
	char j[JID_MAX + 1];

	*bad = 1;
	for (c = xml_first_element(el); c != NULL; c = el_next(c)) {
		st = xml_attr(c, "subscription");
		jid = xml_attr(c, "jid");
		if (!xml_is(c, "subscription", NS_PUBSUB_OWNER) ||
		    jid == NULL || jid_normalize(jid, j, sizeof j) == -1 ||
		    st == NULL)
			return fail(q->r, ERR_BAD_REQUEST, NULL, "Each "
			    "<subscription/> needs a valid jid and a state");
		if (strcmp(st, "none") != 0 && strcmp(st, "subscribed") != 0)
			return fail(q->r, ERR_NOT_ACCEPTABLE, NULL,
			    "Subscription states: none or subscribed");
	}
	*bad = 0;
	return ERR_NONE;
}

/* One checked <subscription/> of an owner's set; ERR_NONE to go on. */
static enum stanza_error
subscription_apply(struct preq *q, struct pnode *p, const struct xml_node *c)
{
	char j[JID_MAX + 1], subid[32];
	struct xml_node *n;

	jid_normalize(xml_attr(c, "jid"), j, sizeof j);
	if (attr_is(c, "subscription", "none")) {
		remove_records(p, "subscription", j, 0);
		return ERR_NONE;
	}
	if (find_subscription(p, j) != NULL)
		return ERR_NONE;
	if (count_named(p, "subscription") >= MAX_SUBSCRIPTIONS)
		return fail(q->r, ERR_POLICY_VIOLATION,
		    "too-many-subscriptions", NULL);
	make_id(subid, sizeof subid);
	n = xml_add(p->root, "subscription", NS_STORE);
	xml_set_attr(n, "jid", j);
	xml_set_attr(n, "subid", subid);
	return ERR_NONE;
}

/*
 * The owner's affiliation and subscription lists (XEP-0060 8.8, 8.9)
 * take one course: the node named, the owner's bookmark-style views
 * answered apart, a get lists, a set checks every entry before changing
 * any and saves the node once.
 */
struct owner_list {
	void	(*list)(struct preq *, const struct pnode *);
	enum stanza_error (*check)(struct preq *, const struct xml_node *,
		    int *bad);
	enum stanza_error (*apply)(struct preq *, struct pnode *,
		    const struct xml_node *);
};

static enum stanza_error
owner_list_iq(struct preq *q, const struct xml_node *el, int set,
    const struct owner_list *ops)
{
	enum stanza_error sent = ERR_NONE;
	const struct xml_node *c;
	const char *node;
	struct pnode p;
	struct perr pe;
	int bad;

	if ((node = need_node(q, el, &sent)) == NULL)
		return sent;
	if (is_view(node))
		return view_lists(q, set);
	if (load_for(q, el, &p, &node, &sent) == -1)
		return sent;
	if (!set) {
		ops->list(q, &p);
		node_free(&p);
		return ERR_NONE;
	}
	sent = ops->check(q, el, &bad);
	for (c = xml_first_element(el); !bad && c != NULL; c = el_next(c))
		if ((sent = ops->apply(q, &p, c)) != ERR_NONE)
			bad = 1;
	if (!bad && node_save(q->host, q->local, &p, &pe) != ERR_NONE) {
		sent = send_perr(q->r, &pe);
		bad = 1;
	}
	node_free(&p);
	return bad ? sent : iq_ok(q->r);
}

static const struct owner_list affiliation_list = {
	affiliations_list, affiliations_check, affiliation_apply
};
static const struct owner_list subscription_list = {
	subscriptions_list, subscriptions_check, subscription_apply
};

static enum stanza_error
owner_iq(struct iq_req *r)
{
	const struct xml_node *act, *extra;
	struct preq q;
	enum stanza_error e;
	int get = r->type == IQ_GET;
	const char *n;

	if (split_request(r->payload, NS_PUBSUB_OWNER, &act, &extra) == -1 ||
	    extra != NULL)
		return fail(r, ERR_BAD_REQUEST, NULL,
		    "<pubsub/> holds one action");
	preq_init(&q, r);
	n = act->name;
	if (!q.is_owner)
		e = fail(r, ERR_FORBIDDEN, NULL, NULL);
	else if (strcmp(n, "configure") == 0)
		e = get ? configure_get(&q, act) : configure_set(&q, act);
	else if (get && strcmp(n, "default") == 0)
		e = default_get(&q, act);
	else if (!get && strcmp(n, "delete") == 0)
		e = do_delete(&q, act);
	else if (!get && strcmp(n, "purge") == 0)
		e = do_purge(&q, act);
	else if (strcmp(n, "affiliations") == 0)
		e = owner_list_iq(&q, act, !get, &affiliation_list);
	else if (strcmp(n, "subscriptions") == 0)
		e = owner_list_iq(&q, act, !get, &subscription_list);
	else if (strcmp(n, "default") == 0 || strcmp(n, "delete") == 0 ||
	    strcmp(n, "purge") == 0)
		e = fail(r, ERR_BAD_REQUEST, NULL, get ?
		    "This action needs an IQ of type 'set'" :
		    "This action needs an IQ of type 'get'");
	else
		e = fail(r, ERR_FEATURE_NOT_IMPLEMENTED, NULL, NULL);
	actx_free(&q.a);
	return e;
}

/* ---- bookmarks: XEP-0048 views of urn:xmpp:bookmarks:1 ---- */

static int
is_view(const char *node)
{
	return node != NULL && strcmp(node, NS_LEGACY_BM) == 0;
}

/* A bookmarks:1 item as a XEP-0048 <conference/> under storage. */
static void
to_legacy(struct xml_node *storage, const struct xml_node *item)
{
	const struct xml_node *conf = xml_first_element(item), *c, *e;
	struct xml_node *lc;
	const char *v;

	if (conf == NULL || !xml_is(conf, "conference", NS_BOOKMARKS))
		return;
	lc = xml_add(storage, "conference", NULL);
	xml_set_attr(lc, "jid", xml_attr(item, "id"));
	if ((v = xml_attr(conf, "name")) != NULL)
		xml_set_attr(lc, "name", v);
	if (parse_bool(xml_attr(conf, "autojoin")) == 1)
		xml_set_attr(lc, "autojoin", "true");
	if ((v = xml_child_text(conf, "nick", NS_BOOKMARKS)) != NULL)
		xml_add_text_child(lc, "nick", NULL, v);
	if ((v = xml_child_text(conf, "password", NS_BOOKMARKS)) != NULL)
		xml_add_text_child(lc, "password", NULL, v);
	/* Extensions travel as the foreign children XEP-0048 clients kept. */
	if ((e = xml_child(conf, "extensions", NS_BOOKMARKS)) != NULL)
		for (c = xml_first_element(e); c != NULL; c = el_next(c))
			xml_append_copy(lc, c);
}

/*
 * A XEP-0048 <conference/> as a bookmarks:1 payload under parent; its
 * normalised room JID into id.  -1 when it names no valid room.
 */
static int
from_legacy(struct xml_node *parent, const struct xml_node *lc, char *id,
    size_t idlen)
{
	struct xml_node *conf, *ext = NULL;
	const struct xml_node *c;
	const char *v;

	v = xml_attr(lc, "jid");
	if (v == NULL || jid_normalize(v, id, idlen) == -1)
		return -1;
	conf = xml_add(parent, "conference", NS_BOOKMARKS);
	if ((v = xml_attr(lc, "name")) != NULL)
		xml_set_attr(conf, "name", v);
	if (parse_bool(xml_attr(lc, "autojoin")) == 1)
		xml_set_attr(conf, "autojoin", "true");
	if ((v = xml_child_text(lc, "nick", NS_LEGACY_BM)) != NULL)
		xml_add_text_child(conf, "nick", NULL, v);
	if ((v = xml_child_text(lc, "password", NS_LEGACY_BM)) != NULL)
		xml_add_text_child(conf, "password", NULL, v);
	for (c = xml_first_element(lc); c != NULL; c = el_next(c)) {
		if (strcmp(c->ns, NS_LEGACY_BM) == 0)
			continue;
		if (ext == NULL)
			ext = xml_add(conf, "extensions", NULL);
		xml_append_copy(ext, c);
	}
	return 0;
}

/* The kept <url/> bookmarks: 1 with *doc (caller frees), 0 if none. */
static int
urls_load(const char *host, const char *local, struct xml_node **doc)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*doc = NULL;
	if ((rc = read_file(host, local, URLS_FILE, &text, &len)) <= 0)
		return rc;
	*doc = parse_stored(host, local, URLS_FILE, text, len, "urls");
	free(text);
	return *doc != NULL ? 1 : -1;
}

/*
 * Append <storage xmlns='storage:bookmarks'/> with every bookmark under
 * parent.  1 if the account has bookmarks stored (even none left), 0 if
 * it never had any, -1 on errors (logged).
 */
static int
legacy_build(const char *host, const char *local, struct xml_node *parent)
{
	struct xml_node *st = xml_add(parent, "storage", NS_LEGACY_BM), *urls;
	struct pnode p;
	int rc, ru;

	if ((rc = node_load(host, local, NS_BOOKMARKS, &p)) == -1 ||
	    (ru = urls_load(host, local, &urls)) == -1) {
		if (rc == 1)
			node_free(&p);
		return -1;
	}
	if (rc == 1) {
		for (struct xml_node *it = item_first(&p); it != NULL;
		    it = item_next(it))
			to_legacy(st, it);
		node_free(&p);
	}
	if (ru == 1) {
		for (struct xml_node *u = xml_child(urls, "url", NS_LEGACY_BM);
		    u != NULL; u = xml_next(u, "url", NS_LEGACY_BM))
			xml_append_copy(st, u);
		xml_arena_free(urls->arena);
	}
	return rc == 1 || ru == 1;
}

/* The view's item for one resource of the owner. */
static void
legacy_send(struct actx *a, const char *to, const char *stamp)
{
	struct xml_node *items, *ev, *it;
	struct rlist rl = { NULL, 0, 0 };

	ev = event_new(NS_LEGACY_BM, "items", &items);
	it = xml_add(items, "item", NULL);
	xml_set_attr(it, "id", LEGACY_ITEM);
	if (legacy_build(a->host, a->local, it) == 1) {
		rlist_add(&rl, to, 0);
		send_event(a->bare, &rl, ev, 0, NULL, stamp);
		rlist_free(&rl);
	}
	xml_arena_free(ev->arena);
}

/* The bookmarks changed: the view's subscribers (the owner's resources
 * that want storage:bookmarks, XEP-0411 section 3) hear of it. */
static void
legacy_changed(struct actx *a)
{
	struct xml_node *items, *ev, *it;
	struct rlist rl = { NULL, 0, 0 };

	ev = event_new(NS_LEGACY_BM, "items", &items);
	recipients(a, NULL, NULL, NS_LEGACY_BM, &rl);
	if (rl.n > 0) {
		it = xml_add(items, "item", NULL);
		xml_set_attr(it, "id", LEGACY_ITEM);
		if (legacy_build(a->host, a->local, it) >= 0)
			send_event(a->bare, &rl, ev, 0, NULL, NULL);
	}
	rlist_free(&rl);
	xml_arena_free(ev->arena);
}

/* Same payload?  Compared as serialized. */
static int
same_tree(const struct xml_node *x, const struct xml_node *y)
{
	struct buf a, b;
	int same;

	if (x == NULL || y == NULL)
		return x == y;
	buf_init(&a, READ_MAX);
	buf_init(&b, READ_MAX);
	same = xml_serialize(x, &a, NULL) == 0 &&
	    xml_serialize(y, &b, NULL) == 0 && buf_used(&a) == buf_used(&b) &&
	    memcmp(buf_head(&a), buf_head(&b), buf_used(&a)) == 0;
	buf_free(&a);
	buf_free(&b);
	return same;
}

/* Write (or remove, when there are none) the kept <url/> bookmarks;
 * *changed tells whether they differ from what was stored. */
static enum stanza_error
urls_save(struct actx *a, const struct xml_node *storage, int *changed,
    struct perr *pe)
{
	struct xml_node *doc, *old = NULL;
	size_t n = 0, total, nodes, quota = setting(S_MAX_TOTAL);
	struct buf b;
	int rc, same;

	*changed = 0;
	if ((rc = urls_load(a->host, a->local, &old)) == -1)
		goto internal;
	doc = xml_new(xml_arena_new(), "urls", NS_STORE);
	xml_set_attr(doc, "version", PEP_FORMAT);
	for (const struct xml_node *u = xml_child(storage, "url", NS_LEGACY_BM);
	    u != NULL; u = xml_next(u, "url", NS_LEGACY_BM), n++)
		xml_append_copy(doc, u);
	same = rc == 1 ? same_tree(old, doc) : n == 0;
	if (old != NULL)
		xml_arena_free(old->arena);
	if (same) {
		xml_arena_free(doc->arena);
		return ERR_NONE;
	}
	*changed = 1;
	if (n == 0) {
		xml_arena_free(doc->arena);
		if (store_remove(a->host, a->local, URLS_FILE) == -1)
			goto internal;
		return ERR_NONE;
	}
	if (usage_of(a->host, a->local, &total, &nodes) == -1) {
		xml_arena_free(doc->arena);
		goto internal;
	}
	rc = serialize_doc(doc, &b, total < quota ? quota - total : 0);
	xml_arena_free(doc->arena);
	if (rc == -1) {
		perr_set(pe, ERR_POLICY_VIOLATION, NULL,
		    "The account's PEP storage is full");
		return pe->e;
	}
	rc = store_write(a->host, a->local, URLS_FILE, buf_head(&b),
	    buf_used(&b));
	buf_free(&b);
	if (rc == 0)
		return ERR_NONE;
	log_warn("pep: saving the url bookmarks of %s", a->bare);
internal:
	perr_set(pe, ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
	return pe->e;
}

/* A room a XEP-0048 <storage/> asks for. */
struct want {
	char			*id;
	const struct xml_node	*payload;
};

static struct want *
want_find(struct want *w, size_t n, const char *id)
{
	for (size_t i = 0; id != NULL && i < n; i++)
		if (strcmp(w[i].id, id) == 0)
			return &w[i];
	return NULL;
}

/*
 * Make the bookmarks what a XEP-0048 <storage/> says (a private XML set,
 * a publish to the storage:bookmarks view, the one-time import): rooms
 * that changed are published and rooms gone are retracted, with
 * notifications; unchanged ones are left alone (XEP-0402 5.3.2).
 */
static enum stanza_error
legacy_apply(struct actx *a, const struct xml_node *storage,
    const char *publisher, struct perr *pe)
{
	struct xml_node *scratch, *it, *next, *old, **changed = NULL;
	const struct xml_node *lc;
	struct want *w = NULL, *found;
	struct strlist gone = { NULL, 0 };
	size_t nw = 0, nconf = 0, nchanged = 0, i;
	enum stanza_error e = ERR_NONE;
	int rc, dirty = 0, urls_changed = 0;
	struct nconf c;
	struct pnode p;

	if ((rc = node_load(a->host, a->local, NS_BOOKMARKS, &p)) == -1) {
		perr_set(pe, ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
		return pe->e;
	}
	scratch = xml_new(xml_arena_new(), "scratch", NS_STORE);
	if (rc == 0) {
		node_new(&p, NS_BOOKMARKS);
		conf_read(&p, &c);
		c.access = ACC_WHITELIST;
		c.max_items = 0;
		c.send_last = SL_NEVER;
		conf_write(&p, &c);
		dirty = 1;
	}
	conf_read(&p, &c);
	if (c.access != ACC_WHITELIST) {
		/* XEP-0411 section 5: nobody but the owner sees them. */
		log_info("pep: %s: urn:xmpp:bookmarks:1 made whitelist for "
		    "XEP-0048 bookmarks", a->bare);
		c.access = ACC_WHITELIST;
		conf_write(&p, &c);
		conf_read(&p, &c);
		dirty = 1;
	}
	for (lc = xml_child(storage, "conference", NS_LEGACY_BM); lc != NULL;
	    lc = xml_next(lc, "conference", NS_LEGACY_BM))
		nconf++;
	if (nconf > conf_max_items(&c)) {
		perr_set(pe, ERR_NOT_ACCEPTABLE, NULL,
		    "More bookmarks than the server keeps");
		e = pe->e;
		goto out;
	}
	w = xcalloc(nconf + 1, sizeof *w);
	for (lc = xml_child(storage, "conference", NS_LEGACY_BM); lc != NULL;
	    lc = xml_next(lc, "conference", NS_LEGACY_BM)) {
		char id[JID_MAX + 1];
		if (from_legacy(scratch, lc, id, sizeof id) == -1) {
			log_debug("pep: %s: a XEP-0048 bookmark without a "
			    "valid room JID skipped", a->bare);
			continue;
		}
		if ((found = want_find(w, nw, id)) == NULL) {
			found = &w[nw++];
			found->id = xstrdup(id);
		}
		found->payload = scratch->last;	/* the last one wins */
	}
	for (it = item_first(&p); it != NULL; it = next) {
		next = item_next(it);
		if (want_find(w, nw, xml_attr(it, "id")) != NULL)
			continue;
		if (xml_attr(it, "id") != NULL) {
			gone.v = xrealloc(gone.v,
			    (gone.n + 1) * sizeof *gone.v);
			gone.v[gone.n++] = xstrdup(xml_attr(it, "id"));
		}
		xml_remove(it);
		dirty = 1;
	}
	changed = xcalloc(nw + 1, sizeof *changed);
	for (i = 0; i < nw; i++) {
		old = item_find(&p, w[i].id);
		if (old != NULL &&
		    same_tree(xml_first_element(old), w[i].payload))
			continue;
		if ((it = stored_item(&p, w[i].payload, w[i].id)) == NULL) {
			perr_set(pe, ERR_NOT_ACCEPTABLE, "payload-too-big",
			    NULL);
			e = pe->e;
			goto out;
		}
		if (old != NULL)
			xml_remove(old);
		changed[nchanged++] = it;
		dirty = 1;
	}
	if (dirty && (e = node_save(a->host, a->local, &p, pe)) != ERR_NONE)
		goto out;
	if ((e = urls_save(a, storage, &urls_changed, pe)) != ERR_NONE)
		goto out;
	for (i = 0; i < nchanged; i++)
		notify_item(a, &p, &c, changed[i], publisher);
	for (i = 0; i < gone.n; i++)
		notify_retract(a, &p, &c, gone.v[i]);
	if (nchanged > 0 || gone.n > 0 || urls_changed)
		legacy_changed(a);
out:
	for (i = 0; i < gone.n; i++)
		free(gone.v[i]);
	free(gone.v);
	free(changed);
	for (i = 0; i < nw; i++)
		free(w[i].id);
	free(w);
	node_free(&p);
	xml_arena_free(scratch->arena);
	return e;
}

/* A publish to the storage:bookmarks view (XEP-0411, XEP-0048 3.2). */
static enum stanza_error
view_publish(struct preq *q, const struct xml_node *item,
    const struct xml_node *opts)
{
	const struct xml_node *st = xml_first_element(item);
	struct xml_node *reply, *ps, *pub;
	struct nconf c;
	struct perr pe;

	if (!xml_is(st, "storage", NS_LEGACY_BM))
		return fail(q->r, ERR_BAD_REQUEST, "invalid-payload", "storage:"
		    "bookmarks holds a <storage xmlns='storage:bookmarks'/>");
	view_conf(&c);
	if (check_options(opts, 1, &c, &pe) == -1 ||
	    legacy_apply(&q->a, st, q->r->from_str, &pe) != ERR_NONE)
		return send_perr(q->r, &pe);
	reply = pubsub_result(q, NS_PUBSUB, &ps);
	pub = xml_add(ps, "publish", NULL);
	xml_set_attr(pub, "node", NS_LEGACY_BM);
	xml_set_attr(xml_add(pub, "item", NULL), "id", LEGACY_ITEM);
	iq_reply(q->r, reply);
	return ERR_NONE;
}

static enum stanza_error
view_items(struct preq *q, const struct xml_node *items)
{
	struct xml_node *reply, *ps, *out, *it;
	const struct xml_node *w = xml_child(items, "item", NS_PUBSUB);
	int rc;

	if (!q->is_owner)
		return fail(q->r, ERR_NOT_ALLOWED, "closed-node", NULL);
	reply = pubsub_result(q, NS_PUBSUB, &ps);
	out = xml_add(ps, "items", NULL);
	xml_set_attr(out, "node", NS_LEGACY_BM);
	it = xml_add(out, "item", NULL);
	xml_set_attr(it, "id", LEGACY_ITEM);
	if ((rc = legacy_build(q->host, q->local, it)) <= 0) {
		xml_arena_free(reply->arena);
		return rc == 0 ? fail(q->r, ERR_ITEM_NOT_FOUND, NULL, NULL) :
		    internal(q);
	}
	/* Asked for other items by id: there are none. */
	for (; w != NULL; w = xml_next(w, "item", NS_PUBSUB))
		if (xml_attr(w, "id") != NULL &&
		    strcmp(xml_attr(w, "id"), LEGACY_ITEM) == 0)
			break;
	if (xml_child(items, "item", NS_PUBSUB) != NULL && w == NULL)
		xml_remove(it);
	iq_reply(q->r, reply);
	return ERR_NONE;
}

/*
 * Private XML storage (XEP-0049) of <storage xmlns='storage:bookmarks'/>
 * on the own account, answered from the bookmarks (XEP-0402 5.3).  1 if
 * st was such a request and has been answered.
 */
static int
private_bookmarks(struct session *s, struct xml_node *st)
{
	const char *type = xml_attr(st, "type"), *to = xml_attr(st, "to");
	struct xml_node *q = NULL, *c, *reply, *rq;
	char tb[JID_MAX + 1];
	struct iq_req r;
	struct actx a;
	struct perr pe;
	int n = 0, rc;

	if (!xml_is(st, "iq", NULL) || xml_attr(st, "id") == NULL ||
	    (!ptype(st, "get") && !ptype(st, "set")))
		return 0;
	if (to != NULL && (jid_normalize(to, tb, sizeof tb) == -1 ||
	    strcmp(tb, s->bare) != 0))
		return 0;
	for (c = xml_first_element(st); c != NULL; c = el_next(c)) {
		q = c;
		n++;
	}
	if (n != 1 || !xml_is(q, "query", NS_PRIVATE) ||
	    (c = xml_first_element(q)) == NULL ||
	    !xml_is(c, "storage", NS_LEGACY_BM) || el_next(c) != NULL)
		return 0;
	memset(&r, 0, sizeof r);
	r.iq = st;
	r.payload = q;
	r.type = strcmp(type, "get") == 0 ? IQ_GET : IQ_SET;
	r.where = IQ_TO_SELF;
	r.id = xml_attr(st, "id");
	r.from = *s->jid;
	r.from_str = xml_attr(st, "from");
	r.to = *s->jid;
	r.to.resource[0] = '\0';
	r.to_str = to;
	r.sess = s;
	actx_init(&a, s->host, s->local);
	if (r.type == IQ_GET) {
		reply = iq_result(&r);
		rq = xml_add(reply, "query", NS_PRIVATE);
		if ((rc = legacy_build(s->host, s->local, rq)) == -1) {
			xml_arena_free(reply->arena);
			iq_error(&r, ERR_INTERNAL_SERVER_ERROR, NULL);
		} else
			iq_reply(&r, reply);
	} else if (legacy_apply(&a, c, r.from_str, &pe) != ERR_NONE)
		send_perr(&r, &pe);
	else
		iq_ok(&r);
	actx_free(&a);
	return 1;
}

/*
 * Bookmarks the private module stored before (its file format: a
 * <query xmlns='jabber:iq:private' version='1'> around the fragment) are
 * copied into bookmarks:1 once, when the account has no bookmarks:1 node
 * yet; the marker file keeps it from happening twice.
 */
static int
file_exists(const char *host, const char *local, const char *file)
{
	char path[PATH_MAX];
	struct stat sb;

	return store_path(host, local, file, path, sizeof path) == 0 &&
	    lstat(path, &sb) == 0;
}

static void
import_private(const char *host, const char *local)
{
	struct xml_node *doc, *st;
	char *text = NULL, err[256], file[NODE_FILE_MAX];
	struct actx a;
	struct perr pe;
	size_t len = 0;

	/* Two lstat()s per login once it is done (or never needed). */
	if (file_exists(host, local, IMPORTED_FILE) ||
	    node_file(NS_BOOKMARKS, file, sizeof file) == -1 ||
	    file_exists(host, local, file) ||
	    read_file(host, local, PRIVATE_BM_FILE, &text, &len) <= 0)
		return;
	doc = xml_parse_document(text, len, &stored_limits, err, sizeof err);
	free(text);
	if (doc == NULL || !xml_is(doc, "query", NS_PRIVATE) ||
	    !attr_is(doc, "version", "1") ||
	    (st = xml_child(doc, "storage", NS_LEGACY_BM)) == NULL) {
		log_warnx("pep: %s@%s: the private module's bookmarks are not "
		    "in a format this xmppd reads; not copied", local, host);
		if (doc != NULL)
			xml_arena_free(doc->arena);
		return;
	}
	actx_init(&a, host, local);
	if (legacy_apply(&a, st, NULL, &pe) == ERR_NONE) {
		if (store_write(host, local, IMPORTED_FILE, "1\n", 2) == -1)
			log_warn("pep: %s@%s: writing %s", local, host,
			    IMPORTED_FILE);
		else
			log_info("pep: %s@%s: XEP-0048 bookmarks copied to "
			    NS_BOOKMARKS, local, host);
	} else
		log_warnx("pep: %s@%s: copying XEP-0048 bookmarks failed: %s",
		    local, host, pe.text ? pe.text : stanza_error_name(pe.e));
	actx_free(&a);
	xml_arena_free(doc->arena);
}

/* ---- avatars: XEP-0398 ---- */

static void
avatar_to_vcard(struct actx *a)
{
	struct xml_node *info, *d = NULL;
	const char *id;
	struct pnode m, p;
	struct nconf c;

	if (!module_enabled(&mod_vcard) ||
	    node_load(a->host, a->local, NS_AVATAR_META, &m) == -1)
		return;
	for (info = xml_child(xml_first_element(item_last(&m)), "info",
	    NS_AVATAR_META); info != NULL && xml_attr(info, "url") != NULL;
	    info = xml_next(info, "info", NS_AVATAR_META))
		;	/* the first one held here */
	id = xml_attr(info, "id");
	p.root = NULL;
	if (id != NULL && node_load(a->host, a->local, NS_AVATAR_DATA,
	    &p) == 1) {
		conf_read(&p, &c);
		if (c.access == ACC_OPEN)
			d = xml_child(item_find(&p, id), "data",
			    NS_AVATAR_DATA);
	}
	if (vcard_avatar(a->host, a->local, xml_attr(info, "type"),
	    d ? xml_text(d) : NULL, id) == -1 || (id != NULL && d == NULL))
		log_info("pep: %s: avatar %s not copied to the vCard",
		    a->bare, id);
	node_free(&p);
	node_free(&m);
}

/* Publish pl to node as item id for the owner; 0, or -1 (logged). */
static int
avatar_put(struct actx *a, const char *node, const char *id,
    const struct xml_node *pl)
{
	struct xml_node *si;
	struct nconf c;
	struct pnode p;
	struct perr pe;

	if ((si = publish_to(a, node, NULL, ACC_OPEN, pl, id, &p, &c,
	    &pe)) != NULL)
		notify_item(a, &p, &c, si, NULL);
	node_free(&p);
	return si != NULL ? 0 : -1;
}

void
pep_avatar(const char *host, const char *local, const char *type,
    const char *b64, size_t bytes, const char *hex)
{
	struct xml_node *x = xml_new(xml_arena_new(), "x", NS_STORE), *md, *in;
	char num[24];
	struct actx a;

	actx_init(&a, host, local);
	md = xml_add(x, "metadata", NS_AVATAR_META);
	if (*hex != '\0') {
		in = xml_add(md, "info", NULL);
		snprintf(num, sizeof num, "%zu", bytes);
		xml_set_attr(in, "bytes", num);
		xml_set_attr(in, "id", hex);
		xml_set_attr(in, "type", type && *type ? type : "image/png");
	}
	if (*hex == '\0' || avatar_put(&a, NS_AVATAR_DATA, hex,
	    xml_add_text_child(x, "data", NS_AVATAR_DATA, b64)) == 0)
		avatar_put(&a, NS_AVATAR_META, *hex ? hex : NULL, md);
	actx_free(&a);
	xml_arena_free(x->arena);
}

/* ---- service discovery ---- */

static const char *const pep_features[] = {
	NS_PUBSUB "#access-open",
	NS_PUBSUB "#access-presence",
	NS_PUBSUB "#access-roster",
	NS_PUBSUB "#access-whitelist",
	NS_PUBSUB "#auto-create",
	NS_PUBSUB "#auto-subscribe",
	NS_PUBSUB "#config-node",
	NS_PUBSUB "#create-and-configure",
	NS_PUBSUB "#create-nodes",
	NS_PUBSUB "#delete-items",
	NS_PUBSUB "#delete-nodes",
	NS_PUBSUB "#filtered-notifications",
	NS_PUBSUB "#item-ids",
	NS_PUBSUB "#last-published",
	NS_PUBSUB "#manage-subscriptions",
	NS_PUBSUB "#member-affiliation",
	NS_PUBSUB "#meta-data",
	NS_PUBSUB "#modify-affiliations",
	NS_PUBSUB "#outcast-affiliation",
	NS_PUBSUB "#persistent-items",
	NS_PUBSUB "#presence-notifications",
	NS_PUBSUB "#publish",
	NS_PUBSUB "#publish-options",
	NS_PUBSUB "#purge-nodes",
	NS_PUBSUB "#retract-items",
	NS_PUBSUB "#retrieve-affiliations",
	NS_PUBSUB "#retrieve-default",
	NS_PUBSUB "#retrieve-items",
	NS_PUBSUB "#retrieve-subscriptions",
	NS_PUBSUB "#subscribe",
	NULL
};

/* Shown on the account only: the conversions are per account. */
static const char *const account_only_features[] = {
	NS_BOOKMARKS "#compat",
	NS_BOOKMARKS "#compat-pep",
	"urn:xmpp:bookmarks-conversion:0",
	NULL
};

static void
add_feature(struct xml_node *q, const char *var)
{
	xml_set_attr(xml_add(q, "feature", NULL), "var", var);
}

static void
add_identity(struct xml_node *q, const char *type)
{
	struct xml_node *id = xml_add(q, "identity", NULL);

	xml_set_attr(id, "category", "pubsub");
	xml_set_attr(id, "type", type);
}

/* The requester of a disco request, bare; -1 if it has none. */
static int
requester(const struct iq_req *r, char *who, size_t wholen)
{
	return jid_bare(&r->from, who, wholen);
}

static void
meta_data(struct xml_node *q, const struct nconf *c, const char *owner)
{
	struct xml_node *x = xml_add(q, "x", NS_XDATA), *f;
	char num[32];

	xml_set_attr(x, "type", "result");
	form_value(form_field(x, "FORM_TYPE", "hidden", NULL), NS_META_DATA);
	form_value(form_field(x, "pubsub#type", NULL, NULL), "");
	form_value(form_field(x, "pubsub#title", NULL, NULL), c->title);
	form_value(form_field(x, "pubsub#description", NULL, NULL),
	    c->description);
	form_value(form_field(x, "pubsub#access_model", NULL, NULL),
	    access_names[c->access]);
	f = form_field(x, "pubsub#owner", "jid-multi", NULL);
	form_value(f, owner);
	snprintf(num, sizeof num, "%zu", conf_max_items(c));
	form_value(form_field(x, "pubsub#max_items", NULL, NULL), num);
}

static int
pep_account_info(const struct iq_req *r, const char *node, struct xml_node *q)
{
	const char *const *f;
	char who[JID_MAX + 1];
	struct actx a;
	struct nconf c;
	struct pnode p;
	int rc;

	if (node == NULL) {
		add_identity(q, "pep");
		for (f = pep_features; *f != NULL; f++)
			add_feature(q, *f);
		for (f = account_only_features; *f != NULL; f++)
			add_feature(q, *f);
		if (module_enabled(&mod_vcard))
			add_feature(q, "urn:xmpp:pep-vcard-conversion:0");
		return 0;
	}
	if (requester(r, who, sizeof who) == -1)
		return 0;
	actx_init(&a, r->to.domain, r->to.local);
	if (is_view(node)) {
		struct xml_node *tmp = xml_new(xml_arena_new(), "x", NS_STORE);
		rc = strcmp(who, a.bare) == 0 &&
		    legacy_build(a.host, a.local, tmp) == 1;
		xml_arena_free(tmp->arena);
		if (rc) {
			add_identity(q, "leaf");
			add_feature(q, NS_PUBSUB);
		}
		actx_free(&a);
		return rc;
	}
	if ((rc = node_load(a.host, a.local, node, &p)) != 1)
		return rc == -1 ? -ERR_INTERNAL_SERVER_ERROR : 0;
	conf_read(&p, &c);
	/* Nodes one may not see do not exist for one (XEP-0163 6.2). */
	rc = may_access(&a, &p, &c, who, NULL);
	if (rc) {
		add_identity(q, "leaf");
		add_feature(q, NS_PUBSUB);
		meta_data(q, &c, a.bare);
	}
	actx_free(&a);
	node_free(&p);
	return rc;
}

struct disco_ctx {
	struct actx	*a;
	const char	*who;
	struct xml_node	*q;
};

static int
disco_node(struct pnode *p, void *arg)
{
	struct disco_ctx *d = arg;
	struct xml_node *it;
	struct nconf c;

	conf_read(p, &c);
	if (!may_access(d->a, p, &c, d->who, NULL))
		return 0;
	it = xml_add(d->q, "item", NULL);
	xml_set_attr(it, "jid", d->a->bare);
	xml_set_attr(it, "node", p->name);
	if (c.title[0] != '\0')
		xml_set_attr(it, "name", c.title);
	return 0;
}

static int
pep_account_items(const struct iq_req *r, const char *node, struct xml_node *q)
{
	char who[JID_MAX + 1];
	struct disco_ctx d;
	struct xml_node *tmp, *it, *s;
	struct actx a;
	struct nconf c;
	struct pnode p;
	int rc, owner;

	if (requester(r, who, sizeof who) == -1)
		return 0;
	actx_init(&a, r->to.domain, r->to.local);
	owner = strcmp(who, a.bare) == 0;
	if (node == NULL || is_view(node)) {
		tmp = xml_new(xml_arena_new(), "x", NS_STORE);
		rc = owner && legacy_build(a.host, a.local, tmp) == 1;
		xml_arena_free(tmp->arena);
		if (node != NULL) {
			if (rc) {
				it = xml_add(q, "item", NULL);
				xml_set_attr(it, "jid", a.bare);
				xml_set_attr(it, "name", LEGACY_ITEM);
			}
			return rc;
		}
		d.a = &a;
		d.who = who;
		d.q = q;
		nodes_each(a.host, a.local, disco_node, &d);
		if (rc) {
			it = xml_add(q, "item", NULL);
			xml_set_attr(it, "jid", a.bare);
			xml_set_attr(it, "node", NS_LEGACY_BM);
		}
		actx_free(&a);
		return 0;
	}
	if ((rc = node_load(a.host, a.local, node, &p)) != 1)
		return rc == -1 ? -ERR_INTERNAL_SERVER_ERROR : 0;
	conf_read(&p, &c);
	rc = may_access(&a, &p, &c, who, NULL);
	for (s = item_first(&p); rc && s != NULL; s = item_next(s)) {
		it = xml_add(q, "item", NULL);
		xml_set_attr(it, "jid", a.bare);
		xml_set_attr(it, "name", xml_attr(s, "id"));
	}
	actx_free(&a);
	node_free(&p);
	return rc;
}

/* ---- hooks ---- */

/* The owner's own presence and private XML bookmarks. */
static int
pep_outbound(struct session *s, struct xml_node *st)
{
	if (xml_is(st, "presence", NULL)) {
		if (xml_attr(st, "to") == NULL && ptype(st, NULL))
			track(s->bare, s->full, st, 1);
		else if (xml_attr(st, "to") == NULL && ptype(st, "unavailable"))
			track(s->bare, s->full, st, 0);
		return 0;
	}
	if (xml_is(st, "iq", NULL))
		return private_bookmarks(s, st);
	return 0;
}

/* Presence for an account: who is there, and with which caps. */
static int
pep_inbound(struct xml_node *st, const struct jid *to)
{
	char owner[JID_MAX + 1], from[JID_MAX + 1], fb[JID_MAX + 1];
	const char *f = xml_attr(st, "from");

	if (!xml_is(st, "presence", NULL) || to->local[0] == '\0' ||
	    (!ptype(st, NULL) && !ptype(st, "unavailable")) || f == NULL ||
	    jid_normalize(f, from, sizeof from) == -1 ||
	    jid_bare(to, owner, sizeof owner) == -1 ||
	    bare_of(from, fb, sizeof fb) == -1 || strcmp(fb, owner) == 0)
		return 0;
	track(owner, from, st, ptype(st, NULL));
	return 0;
}

static struct caps *
caps_pending(const char *qid)
{
	struct caps *c;

	for (size_t b = 0; b < CAPS_BUCKETS; b++)
		for (c = caps_tab[b]; c != NULL; c = c->next)
			if (!c->known && strcmp(c->qid, qid) == 0)
				return c;
	return NULL;
}

/* Answers to our caps queries. */
static int
pep_iq_response(struct xml_node *st, const struct jid *to)
{
	const char *id = xml_attr(st, "id"), *from = xml_attr(st, "from");
	char fn[JID_MAX + 1];
	struct caps *c;

	/* The router also shows us requests to bare JIDs: results only. */
	if (!xml_is(st, "iq", NULL) || id == NULL ||
	    (!ptype(st, "result") && !ptype(st, "error")) ||
	    strncmp(id, "pep-caps-", 9) != 0)
		return 0;
	if ((c = caps_pending(id)) == NULL)
		return 1;	/* a late answer: nobody else asked it */
	/* Only the JID asked may answer. */
	if (from != NULL && jid_normalize(from, fn, sizeof fn) == 0 &&
	    strcmp(fn, c->asked) == 0)
		caps_answer(c, st);
	return 1;
}

static void
pep_tick(int64_t now)
{
	struct caps *c, *next;

	for (size_t b = 0; b < CAPS_BUCKETS; b++)
		for (c = caps_tab[b]; c != NULL; c = next) {
			next = c->next;
			if (!c->known && now - c->sent > CAPS_TIMEOUT_MS) {
				log_debug("pep: no caps answer from %s",
				    c->asked);
				caps_failed(c);
				/* caps_failed may have removed c or sent it
				 * again; the rest of the chain is intact. */
			}
		}
}

static void
pep_session_bound(struct session *s)
{
	import_private(s->host, s->local);
}

static void
pep_session_end(struct session *s)
{
	struct owner *o = owner_find(s->bare);

	if (o == NULL)
		return;
	if (s->user != NULL && s->user->nsessions <= 1)
		owner_drop(s->bare);	/* the last one: forget the contacts */
	else
		contact_drop(o, s->full);
}

static void
pep_account_deleted(const char *host, const char *local)
{
	char bare[JID_MAX + 1];

	if ((size_t)snprintf(bare, sizeof bare, "%s@%s", local, host) <
	    sizeof bare)
		owner_drop(bare);
}

static void
pep_fini(void)
{
	struct caps *c, *cn;
	struct owner *o, *on;

	for (size_t b = 0; b < CAPS_BUCKETS; b++) {
		for (c = caps_tab[b]; c != NULL; c = cn) {
			cn = c->next;
			caps_free(c);
		}
		caps_tab[b] = NULL;
	}
	ncaps = npending = 0;
	for (size_t b = 0; b < OWNER_BUCKETS; b++) {
		for (o = owners[b]; o != NULL; o = on) {
			on = o->next;
			for (size_t i = 0; i < o->n; i++)
				contact_clear(&o->c[i]);
			free(o->c);
			free(o->bare);
			free(o);
		}
		owners[b] = NULL;
	}
}

#define ACCOUNT_WHERE	(IQ_TO_SELF | IQ_TO_CONTACT)

static const struct iq_handler pep_iq[] = {
	{ "pubsub", NS_PUBSUB, IQ_GET | IQ_SET, ACCOUNT_WHERE, pubsub_iq },
	{ "pubsub", NS_PUBSUB_OWNER, IQ_GET | IQ_SET, ACCOUNT_WHERE, owner_iq },
	{ NULL, NULL, 0, 0, NULL }
};

const struct module mod_pep = {
	.name = "pep",
	.features = pep_features,
	.iq = pep_iq,
	.outbound = pep_outbound,
	.inbound = pep_inbound,
	.iq_response = pep_iq_response,
	.tick = pep_tick,
	.session_bound = pep_session_bound,
	.session_end = pep_session_end,
	.account_deleted = pep_account_deleted,
	.account_info = pep_account_info,
	.account_items = pep_account_items,
	.fini = pep_fini,
	.config_check = pep_config_check,
};
