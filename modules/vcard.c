/*
 * vcard.c - vcard-temp (XEP-0054) and the server's part of vCard-based
 * avatars (XEP-0153).
 *
 * XEP-0054, with the choices it leaves:
 * - get on one's own bare JID (or without 'to'): the stored vCard, or an
 *   empty <vCard xmlns='vcard-temp'/> when there is none (3.1 allows an
 *   empty result or item-not-found; clients handle the empty one best);
 * - get on another local account: its vCard, or service-unavailable when
 *   it has none (3.3 "SHOULD service-unavailable or item-not-found"); the
 *   router gives the same answer for an account that does not exist, so
 *   the reply does not tell the two apart;
 * - get on the server's JID: item-not-found (the server has no vCard);
 * - set anywhere but one's own bare JID: forbidden (3.2);
 * - set: the payload must be <vCard xmlns='vcard-temp'/> (anything else in
 *   the namespace is bad-request), no larger than [vcard] max_size bytes
 *   as serialized (not-acceptable), with a PHOTO/BINVAL, if any, that is
 *   valid base64 once white space is removed (bad-request).  An empty
 *   vCard deletes the stored one.
 *
 * XEP-0153: the SHA-1 (hex) of the decoded PHOTO/BINVAL is kept with the
 * vCard.  Every available presence (no 'type', broadcast or directed) a
 * client sends gets <x xmlns='vcard-temp:x:update'><photo>HASH</photo></x>
 * when the account's vCard has a photo and the client gave no <photo/>
 * itself; a <photo/> from the client (empty or not) is left alone, as the
 * XEP makes it the client's business.  Without a photo nothing is added:
 * an empty <photo/> would tell other resources to fetch the vCard again
 * (XEP-0153 4.3).  The server does not resend presence after a vCard
 * change; clients do that (4.2).  This runs as an outbound hook, before
 * the presence module keeps and broadcasts the stanza.
 *
 * XEP-0398, with the pep module (avatar.h): a set that changes the photo
 * publishes it as the PEP avatar (a photo removed: "no avatar"), and the
 * pep module hands over each new PEP avatar as the PHOTO (TYPE, BINVAL)
 * when its SHA-1 is its id and the vCard stays within max_size; else the
 * old PHOTO goes, so the vCard never shows an avatar PEP has replaced.
 *
 * Files in the account directory:
 *   vcard        <store xmlns='vcard-temp' version='1' [photo='HASH']>
 *                  <vCard>...</vCard></store>
 *   vcard-photo  <photo xmlns='vcard-temp:x:update' version='1'>HASH</photo>
 *                (empty element: no photo), a cache of the attribute above
 *                so that presence does not parse a large vCard.
 * A set removes vcard-photo before it writes vcard, and writes it again
 * after; a missing vcard-photo is rebuilt from vcard.  So a crash between
 * two writes leaves no stale hash behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "avatar.h"
#include "bearssl_hash.h"

#define NS_VCARD		"vcard-temp"
#define NS_VCARD_UPDATE		"vcard-temp:x:update"
#define VCARD_FILE		"vcard"
#define PHOTO_FILE		"vcard-photo"
#define VCARD_FORMAT		"1"
#define HASH_HEX		(2 * br_sha1_SIZE)

#define DEFAULT_MAX_SIZE	((size_t)256 * 1024)
#define SETTING_MIN		((size_t)1024)
#define MAX_SIZE_TOP		((size_t)16 * 1024 * 1024)

/*
 * Stored files were checked when written; reads allow the largest size any
 * setting gives (lowering max_size never makes a stored vCard unreadable)
 * and the largest tree [limits] allows, plus the wrapper.
 */
#define READ_MAX		(MAX_SIZE_TOP + 4096)
#define PHOTO_READ_MAX		1024
static const struct xml_limits stored_limits = { READ_MAX, 260, 520, 1030 };
static const struct xml_limits photo_limits = { PHOTO_READ_MAX, 2, 4, 32 };

/* ---- settings ---- */


static size_t
max_size(void)
{
	const struct config *cfg = server_config();
	const char *v = cfg ? config_module_opt(cfg, "vcard", "max_size") : NULL;
	size_t n;

	if (v == NULL || config_parse_size(v, &n) == -1)
		return DEFAULT_MAX_SIZE;
	return n;
}

static int
vcard_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	if (strcmp(key, "max_size") != 0) {
		snprintf(err, errlen, "unknown key '%s' in [vcard] (known: "
		    "max_size)", key);
		return -1;
	}
	return config_check_size(key, value, SETTING_MIN, MAX_SIZE_TOP, err,
	    errlen);
}

/* ---- the photo hash ---- */

static int
is_hex_hash(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == HASH_HEX;
}

/*
 * The SHA-1 of the vCard's photo, from PHOTO/BINVAL with white space
 * removed (XEP-0153 4.6): 1 with hex filled in, 0 if there is no photo
 * data, -1 if it is not base64.  With b64p, 1 also gives the caller that
 * base64 (to free) and the image's size.
 */
static int
photo_hash(const struct xml_node *vcard, char hex[HASH_HEX + 1], char **b64p,
    size_t *bytes)
{
	const struct xml_node *photo, *binval;
	unsigned char md[br_sha1_SIZE], *bin;
	const char *t;
	char *b64;
	size_t n = 0;
	ssize_t len;
	br_sha1_context h;

	hex[0] = '\0';
	photo = xml_child(vcard, "PHOTO", NS_VCARD);
	binval = photo ? xml_child(photo, "BINVAL", NS_VCARD) : NULL;
	if (binval == NULL)
		return 0;
	t = xml_text(binval);
	b64 = xmalloc(strlen(t) + 1);
	for (; *t != '\0'; t++)
		if (strchr(" \t\r\n", *t) == NULL)
			b64[n++] = *t;
	if (n == 0) {
		free(b64);
		return 0;	/* an empty BINVAL: no avatar (4.3) */
	}
	b64[n] = '\0';
	bin = xmalloc(n / 4 * 3 + 3);
	len = b64_decode(b64, n, bin, n / 4 * 3 + 3);
	if (len >= 0) {
		br_sha1_init(&h);
		br_sha1_update(&h, bin, (size_t)len);
		br_sha1_out(&h, md);
	}
	free(bin);
	if (len < 0 || b64p == NULL)
		free(b64);
	if (len < 0)
		return -1;
	if (b64p != NULL) {
		*b64p = b64;
		*bytes = (size_t)len;
	}
	for (size_t i = 0; i < sizeof md; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 1;
}

/* ---- storage ---- */

/*
 * The stored vCard of an account: 1 with *doc (the caller frees its
 * arena) and *vcard in it, 0 if there is none, -1 on an error (logged).
 */
static int
vcard_load(const char *host, const char *local, struct xml_node **doc,
    struct xml_node **vcard)
{
	char *text = NULL, err[256];
	struct xml_node *root, *v;
	const char *ver, *hash;
	ssize_t n;

	n = store_read(host, local, VCARD_FILE, READ_MAX, &text);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		log_warn("vCard of %s@%s", local, host);
		return -1;
	}
	root = xml_parse_document(text, (size_t)n, &stored_limits, err, sizeof err);
	free(text);
	if (root == NULL) {
		log_warnx("vCard of %s@%s is damaged: %s", local, host, err);
		return -1;
	}
	ver = xml_attr(root, "version");
	if (!xml_is(root, "store", NS_VCARD) || ver == NULL ||
	    strcmp(ver, VCARD_FORMAT) != 0) {
		log_warnx("vCard of %s@%s has format version %s; this xmppd "
		    "reads version " VCARD_FORMAT, local, host, ver ? ver : "(none)");
		xml_arena_free(root->arena);
		return -1;
	}
	v = xml_child(root, "vCard", NS_VCARD);
	hash = xml_attr(root, "photo");
	if (v == NULL || (hash != NULL && !is_hex_hash(hash))) {
		log_warnx("vCard of %s@%s is damaged: %s", local, host,
		    v == NULL ? "no <vCard/>" : "bad photo hash");
		xml_arena_free(root->arena);
		return -1;
	}
	*doc = root;
	*vcard = v;
	return 1;
}

/* Write the photo cache: hex, or "" for no photo.  0 / -1. */
static int
photo_save(const char *host, const char *local, const char *hex)
{
	char text[128];
	int n;

	if (*hex != '\0')
		n = snprintf(text, sizeof text, "<photo xmlns=\"" NS_VCARD_UPDATE
		    "\" version=\"" VCARD_FORMAT "\">%s</photo>\n", hex);
	else
		n = snprintf(text, sizeof text, "<photo xmlns=\"" NS_VCARD_UPDATE
		    "\" version=\"" VCARD_FORMAT "\"/>\n");
	if (n < 0 || (size_t)n >= sizeof text)
		return -1;
	if (store_write(host, local, PHOTO_FILE, text, (size_t)n) == -1) {
		log_warn("saving vCard photo hash of %s@%s", local, host);
		return -1;
	}
	return 0;
}

/* Rebuild the cache from the vCard (first use, or after a crash); an
 * account without a vCard gets no file. */
static int
photo_rebuild(const char *host, const char *local, char hex[HASH_HEX + 1])
{
	struct xml_node *doc, *v;
	const char *h;
	int rc;

	hex[0] = '\0';
	if ((rc = vcard_load(host, local, &doc, &v)) != 1)
		return rc;	/* no vCard, no cache: nothing to write */
	if ((h = xml_attr(doc, "photo")) != NULL)
		strlcpy_ok(hex, h, HASH_HEX + 1);
	xml_arena_free(doc->arena);
	photo_save(host, local, hex);	/* a failure is logged; retried later */
	return hex[0] != '\0';
}

/* The account's photo hash: 1 with hex, 0 if none, -1 on an error. */
static int
photo_of(const char *host, const char *local, char hex[HASH_HEX + 1])
{
	char *text = NULL, err[128];
	struct xml_node *root;
	const char *ver, *t;
	ssize_t n;
	int rc;

	hex[0] = '\0';
	n = store_read(host, local, PHOTO_FILE, PHOTO_READ_MAX, &text);
	if (n < 0) {
		if (errno == ENOENT)
			return photo_rebuild(host, local, hex);
		log_warn("vCard photo hash of %s@%s", local, host);
		return -1;
	}
	root = xml_parse_document(text, (size_t)n, &photo_limits, err, sizeof err);
	free(text);
	ver = root ? xml_attr(root, "version") : NULL;
	t = root ? xml_text(root) : "";
	if (root == NULL || !xml_is(root, "photo", NS_VCARD_UPDATE) ||
	    ver == NULL || strcmp(ver, VCARD_FORMAT) != 0 ||
	    (*t != '\0' && !is_hex_hash(t))) {
		/* Only a cache: say so once and build it again. */
		log_warnx("vCard photo hash of %s@%s unreadable (%s); rebuilt",
		    local, host, root ? "wrong format" : err);
		if (root != NULL)
			xml_arena_free(root->arena);
		return photo_rebuild(host, local, hex);
	}
	rc = *t != '\0';
	if (rc)
		strlcpy_ok(hex, t, HASH_HEX + 1);
	xml_arena_free(root->arena);
	return rc;
}

/* Store v (with its photo hash, "" for none), or delete with v NULL. */
static int
vcard_save(const char *host, const char *local, const struct xml_node *v,
    const char *hex)
{
	struct xml_node *root;
	struct buf b;
	int rc;

	/* The cache goes first: while it is missing it is rebuilt from
	 * whatever vcard holds, so it can never outlive its vCard. */
	if (store_remove(host, local, PHOTO_FILE) == -1) {
		log_warn("removing vCard photo hash of %s@%s", local, host);
		return -1;
	}
	if (v == NULL) {
		if ((rc = store_remove(host, local, VCARD_FILE)) == -1)
			log_warn("removing vCard of %s@%s", local, host);
		return rc;
	}
	root = xml_new(xml_arena_new(), "store", NS_VCARD);
	xml_set_attr(root, "version", VCARD_FORMAT);
	if (*hex != '\0')
		xml_set_attr(root, "photo", hex);
	xml_append_copy(root, v);
	buf_init(&b, READ_MAX);
	rc = xml_serialize(root, &b, NULL);
	xml_arena_free(root->arena);
	if (rc == 0)
		rc = buf_addstr(&b, "\n");
	if (rc == 0 && (rc = store_write(host, local, VCARD_FILE, buf_head(&b),
	    buf_used(&b))) == -1)
		log_warn("saving vCard of %s@%s", local, host);
	buf_free(&b);
	if (rc == 0)
		photo_save(host, local, hex);	/* else rebuilt on next use */
	return rc;
}

/* ---- IQ handlers ---- */

/* The vCard itself has no content: nothing to keep. */
static int
is_empty(const struct xml_node *v)
{
	const struct xml_node *c;

	for (c = v->children; c != NULL; c = c->next) {
		if (c->name != NULL)
			return 0;
		for (size_t i = 0; i < c->text_len; i++)
			if (strchr(" \t\r\n", c->text[i]) == NULL)
				return 0;
	}
	return 1;
}

static enum stanza_error
wrong_element(struct iq_req *r)
{
	iq_error(r, ERR_BAD_REQUEST, "Expected <vCard xmlns='vcard-temp'/>");
	return ERR_NONE;
}

/* Answer with the vCard of host/local; ERR_ITEM_NOT_FOUND if none. */
static enum stanza_error
reply_vcard(struct iq_req *r, const char *host, const char *local)
{
	struct xml_node *doc, *v, *reply;
	int rc;

	if ((rc = vcard_load(host, local, &doc, &v)) == -1)
		return ERR_INTERNAL_SERVER_ERROR;
	if (rc == 0)
		return ERR_ITEM_NOT_FOUND;
	reply = iq_result(r);
	xml_append_copy(reply, v);
	xml_arena_free(doc->arena);
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
vcard_get_own(struct iq_req *r)
{
	struct xml_node *reply;
	enum stanza_error e;

	if (!xml_is(r->payload, "vCard", NS_VCARD))
		return wrong_element(r);
	e = reply_vcard(r, r->from.domain, r->from.local);
	if (e != ERR_ITEM_NOT_FOUND)
		return e;
	reply = iq_result(r);
	xml_add(reply, "vCard", NS_VCARD);
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
vcard_get_contact(struct iq_req *r)
{
	enum stanza_error e;

	if (!xml_is(r->payload, "vCard", NS_VCARD))
		return wrong_element(r);
	e = reply_vcard(r, r->to.domain, r->to.local);
	return e == ERR_ITEM_NOT_FOUND ? ERR_SERVICE_UNAVAILABLE : e;
}

static enum stanza_error
vcard_get_server(struct iq_req *r)
{
	if (!xml_is(r->payload, "vCard", NS_VCARD))
		return wrong_element(r);
	return ERR_ITEM_NOT_FOUND;
}

/*
 * Check v (a <vCard/>) and store it as the vCard of host/local, with its
 * photo's hash in hex (b64p, bytes: as photo_hash gives them); with want,
 * only if that hash is want.  ERR_NONE, or why not.
 */
static enum stanza_error
vcard_store(const char *host, const char *local, const struct xml_node *v,
    const char *want, char hex[HASH_HEX + 1], char **b64p, size_t *bytes)
{
	size_t limit = max_size();
	struct buf b;
	int rc;

	buf_init(&b, limit);
	rc = xml_serialize(v, &b, NULL);
	buf_free(&b);
	if (rc == -1) {
		log_info("vCard of %s@%s refused: larger than max_size (%zu "
		    "bytes)", local, host, limit);
		return ERR_NOT_ACCEPTABLE;
	}
	if (photo_hash(v, hex, b64p, bytes) == -1 ||
	    (want != NULL && strcasecmp(hex, want) != 0))
		return ERR_BAD_REQUEST;
	if (vcard_save(host, local, is_empty(v) ? NULL : v, hex) == -1)
		return ERR_INTERNAL_SERVER_ERROR;
	return ERR_NONE;
}

static enum stanza_error
vcard_set(struct iq_req *r)
{
	const char *host = r->from.domain, *local = r->from.local;
	char hex[HASH_HEX + 1], old[HASH_HEX + 1], *b64 = NULL;
	enum stanza_error e;
	size_t bytes = 0;

	if (!xml_is(r->payload, "vCard", NS_VCARD))
		return wrong_element(r);
	photo_of(host, local, old);
	if ((e = vcard_store(host, local, r->payload, NULL, hex, &b64,
	    &bytes)) != ERR_NONE) {
		iq_error(r, e, e == ERR_NOT_ACCEPTABLE ? "The vCard is larger "
		    "than the server stores" : e == ERR_BAD_REQUEST ?
		    "PHOTO/BINVAL is not base64" : NULL);
		return ERR_NONE;
	}
	iq_ok(r);
	/* XEP-0398: a new photo, or none after one, becomes the PEP avatar
	 * (after the answer: it cannot fail the set). */
	if (strcmp(old, hex) != 0 && module_enabled(&mod_pep))
		pep_avatar(host, local, xml_child_text(xml_child(r->payload,
		    "PHOTO", NS_VCARD), "TYPE", NS_VCARD), b64, bytes, hex);
	free(b64);
	return ERR_NONE;
}

int
vcard_avatar(const char *host, const char *local, const char *type,
    const char *b64, const char *id)
{
	struct xml_node *doc, *v, *ph;
	char hex[HASH_HEX + 1];
	const char *h;
	int rc = vcard_load(host, local, &doc, &v);

	if (rc == -1 || (rc == 0 && b64 == NULL))
		return 0;
	if (rc == 0)
		doc = v = xml_new(xml_arena_new(), "vCard", NS_VCARD);
	h = xml_attr(doc, "photo");
	while ((ph = xml_child(v, "PHOTO", NS_VCARD)) != NULL)
		xml_remove(ph);
	rc = 0;
	if (b64 != NULL) {
		ph = xml_add(v, "PHOTO", NULL);
		xml_add_text_child(ph, "TYPE", NULL, type);
		xml_add_text_child(ph, "BINVAL", NULL, b64);
		/* The same hash: the same photo, nothing to write. */
		if ((h != NULL && strcasecmp(h, id) == 0) ||
		    vcard_store(host, local, v, id, hex, NULL, NULL) == ERR_NONE)
			goto out;
		xml_remove(ph);
		rc = -1;
	}
	if (h != NULL)	/* no PHOTO rather than one PEP has replaced */
		vcard_store(host, local, v, NULL, hex, NULL, NULL);
out:
	xml_arena_free(doc->arena);
	return rc;
}

static enum stanza_error
vcard_not_yours(struct iq_req *r)
{
	iq_error(r, ERR_FORBIDDEN, "Only the account itself can change its "
	    "vCard");
	return ERR_NONE;
}

/* ---- presence ---- */

static int
vcard_outbound(struct session *s, struct xml_node *st)
{
	struct xml_node *x;
	char hex[HASH_HEX + 1];

	if (!xml_is(st, "presence", NULL) || xml_attr(st, "type") != NULL)
		return 0;
	x = xml_child(st, "x", NS_VCARD_UPDATE);
	if (x != NULL && xml_child(x, "photo", NS_VCARD_UPDATE) != NULL)
		return 0;		/* the client says it itself */
	if (photo_of(s->host, s->local, hex) != 1)
		return 0;
	if (x == NULL)
		x = xml_add(st, "x", NS_VCARD_UPDATE);
	xml_add_text_child(x, "photo", NS_VCARD_UPDATE, hex);
	return 0;
}

static const struct iq_handler vcard_iq[] = {
	{ NULL, NS_VCARD, IQ_GET, IQ_TO_SELF, vcard_get_own },
	{ NULL, NS_VCARD, IQ_SET, IQ_TO_SELF, vcard_set },
	{ NULL, NS_VCARD, IQ_GET, IQ_TO_CONTACT, vcard_get_contact },
	{ NULL, NS_VCARD, IQ_GET, IQ_TO_SERVER, vcard_get_server },
	{ NULL, NS_VCARD, IQ_SET, IQ_TO_CONTACT | IQ_TO_SERVER, vcard_not_yours },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const vcard_features[] = { NS_VCARD, NULL };

const struct module mod_vcard = {
	.name = "vcard",
	.features = vcard_features,
	.iq = vcard_iq,
	.outbound = vcard_outbound,
	.config_check = vcard_config_check,
};
