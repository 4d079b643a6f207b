/*
 * motd.c - the message of the day: when a session sends its initial
 * presence, its account gets the MOTD as a normal message from the host,
 * once per version of the text.
 *
 * The text is the host-level file "motd" (admins write it at run time
 * through admin_adhoc) or, when that is absent or blank, [server] motd.
 * Each account remembers the SHA-256 of the last text it was sent in its
 * "motd-seen" file, so a user gets each new text once however many
 * times and from however many devices they log in, and gets it again
 * only after it changed.  The same text routed to an account from the
 * host by anyone else (an announcement to online users when an admin
 * sets it) counts as sent, so it does not come twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearssl_hash.h"

#include "module.h"

#define MOTD_FILE		"motd"
#define MOTD_SEEN_FILE		"motd-seen"
#define MOTD_MAX		16384	/* bytes of the host-level file */
#define SEEN_MAX		1024
#define SEEN_FORMAT		"1"
#define NS_MOTD			"urn:xmppd:motd"
#define HASH_HEX		(2 * br_sha256_SIZE + 1)

static const struct xml_limits seen_limits = { SEEN_MAX, 2, 8, 64 };

/*
 * Can this go into a message body as it is?  Valid UTF-8 without NUL,
 * without the control characters XML 1.0 forbids (everything below
 * U+0020 but tab, newline and carriage return) and without U+FFFE and
 * U+FFFF, so a bad file can never break a client's stream.
 */
static int
text_is_sendable(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	if (!utf8_is_valid(s, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (u[i] < 0x20 && u[i] != '\t' && u[i] != '\n' && u[i] != '\r')
			return 0;
		if (u[i] == 0xef && i + 2 < n && u[i + 1] == 0xbf &&
		    (u[i + 2] == 0xbe || u[i + 2] == 0xbf))
			return 0;
	}
	return 1;
}

/* Length of s without trailing blanks and line ends. */
static size_t
trimmed_len(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return n;
}

/*
 * The current MOTD for host as a heap string (caller frees), or NULL if
 * there is none.
 */
static char *
current_motd(const char *host)
{
	const char *cfg = server_config()->motd;
	char *text = NULL;
	ssize_t n;
	size_t len;

	n = store_read(host, NULL, MOTD_FILE, MOTD_MAX, &text);
	if (n < 0) {
		if (errno == EFBIG)
			log_warnx("motd: the motd file of %s is larger than %d "
			    "bytes; using [server] motd", host, MOTD_MAX);
		else if (errno != ENOENT)
			log_warn("motd: reading the motd file of %s", host);
	} else if (strlen(text) != (size_t)n ||
	    !text_is_sendable(text, (size_t)n)) {
		log_warnx("motd: the motd file of %s is not plain UTF-8 text; "
		    "using [server] motd", host);
	} else if ((len = trimmed_len(text, (size_t)n)) > 0) {
		text[len] = '\0';
		return text;
	}
	free(text);
	if (cfg == NULL || trimmed_len(cfg, strlen(cfg)) == 0)
		return NULL;
	return xstrndup(cfg, trimmed_len(cfg, strlen(cfg)));
}

static void
hash_hex(const char *text, char out[HASH_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[br_sha256_SIZE];
	br_sha256_context ctx;

	br_sha256_init(&ctx);
	br_sha256_update(&ctx, text, strlen(text));
	br_sha256_out(&ctx, h);
	for (size_t i = 0; i < sizeof h; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[2 * sizeof h] = '\0';
}

enum seen { SEEN_NO, SEEN_YES, SEEN_UNKNOWN };

/* Was the text with this hash already sent to the account? */
static enum seen
was_seen(const struct session *s, const char *hash)
{
	char *text = NULL, err[128];
	struct xml_node *root;
	const char *v, *h;
	enum seen r = SEEN_NO;
	ssize_t n;

	n = store_read(s->host, s->local, MOTD_SEEN_FILE, SEEN_MAX, &text);
	if (n < 0) {
		if (errno != ENOENT)
			log_warn("motd: reading %s of %s", MOTD_SEEN_FILE, s->bare);
		return SEEN_NO;
	}
	root = xml_parse_document(text, (size_t)n, &seen_limits, err, sizeof err);
	free(text);
	if (root == NULL || !xml_is(root, "motd-seen", NS_MOTD)) {
		log_warnx("motd: %s of %s is damaged (%s); replacing it",
		    MOTD_SEEN_FILE, s->bare, root ? "not motd-seen" : err);
		if (root != NULL)
			xml_arena_free(root->arena);
		return SEEN_NO;
	}
	v = xml_attr(root, "version");
	h = xml_attr(root, "sha256");
	if (v == NULL || strcmp(v, SEEN_FORMAT) != 0) {
		/* A newer xmppd wrote it: leave it alone, send nothing. */
		log_warnx("motd: %s of %s has format version %s; this xmppd "
		    "reads version " SEEN_FORMAT, MOTD_SEEN_FILE, s->bare,
		    v ? v : "(none)");
		r = SEEN_UNKNOWN;
	} else if (h != NULL && strcmp(h, hash) == 0)
		r = SEEN_YES;
	xml_arena_free(root->arena);
	return r;
}

static void
mark_seen(const char *host, const char *local, const char *hash)
{
	char doc[256];
	int n;

	n = snprintf(doc, sizeof doc, "<motd-seen xmlns='" NS_MOTD "' "
	    "version='" SEEN_FORMAT "' sha256='%s'/>\n", hash);
	if (n < 0 || (size_t)n >= sizeof doc)
		return;
	if (store_write(host, local, MOTD_SEEN_FILE, doc, (size_t)n) == -1)
		log_warn("motd: writing %s of %s@%s", MOTD_SEEN_FILE, local, host);
}

static void
motd_available(struct session *s)
{
	char *text, hash[HASH_HEX];
	struct xml_node *m;

	if ((text = current_motd(s->host)) == NULL)
		return;
	hash_hex(text, hash);
	if (was_seen(s, hash) == SEEN_NO) {
		m = xml_new(xml_arena_new(), "message", NS_CLIENT);
		xml_set_attr(m, "type", "normal");
		xml_set_attr(m, "from", s->host);
		xml_set_attr(m, "to", s->full);
		xml_add_text_child(m, "body", NULL, text);
		session_send(s, m);
		xml_arena_free(m->arena);
		mark_seen(s->host, s->local, hash);
		log_debug("motd: sent to %s", s->full);
	}
	free(text);
}

/*
 * A message from a host to one of its accounts that carries the current
 * MOTD: record it as seen.  Never drops anything.
 */
static int
motd_route_filter(struct xml_node *st, const struct jid *to)
{
	const char *from = xml_attr(st, "from"), *type = xml_attr(st, "type");
	const char *body;
	char *text, hash[HASH_HEX];
	size_t n;

	/* Cheap tests first: this runs for every stanza routed. */
	if (!xml_is(st, "message", NS_CLIENT) || to->local[0] == '\0' ||
	    from == NULL || strcmp(from, to->domain) != 0 ||
	    (type != NULL && strcmp(type, "error") == 0) ||
	    (body = xml_child_text(st, "body", NS_CLIENT)) == NULL ||
	    !host_is_local(to->domain) || !account_exists(to->domain, to->local))
		return 0;
	if ((text = current_motd(to->domain)) == NULL)
		return 0;
	/* Compare as the MOTD is sent: without trailing blank space. */
	n = trimmed_len(body, strlen(body));
	if (n == strlen(text) && memcmp(body, text, n) == 0) {
		hash_hex(text, hash);
		mark_seen(to->domain, to->local, hash);
		log_debug("motd: %s@%s got the MOTD from elsewhere", to->local,
		    to->domain);
	}
	free(text);
	return 0;
}

const struct module mod_motd = {
	.name = "motd",
	.session_available = motd_available,
	.route_filter = motd_route_filter,
};
