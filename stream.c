/*
 * stream.c - c2s streams: RFC 6120 header and features, STARTTLS (5),
 * SASL (6), binding (7), stream errors (4.9), idle pings (XEP-0199).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "conn.h"
#include "http.h"
#include "router.h"
#include "sasl.h"
#include "sm.h"
#include "server.h"
#include "stream.h"
#include "tls.h"
#include "ws.h"

#define NS_TLS		"urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL		"urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND		"urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION	"urn:ietf:params:xml:ns:xmpp-session"
#define NS_STREAMS	"urn:ietf:params:xml:ns:xmpp-streams"
#define NS_PING		"urn:xmpp:ping"
#define NS_FRAMING	"urn:ietf:params:xml:ns:xmpp-framing"
#define NS_STREAM_PFX	"http://etherx.jabber.org/streams"

#define SASL_MAX_B64	8192	/* base64 text of one SASL message */

struct c2s {
	struct conn	*conn;
	struct ws	*ws;		/* RFC 7395 framing, NULL over TCP */
	int		 bosh;		/* XEP-0206: elements to a virtual conn */
	char		 ip[48];	/* the client's address (for auth limits) */
	struct xml_parser *xp;
	int		 header_sent;	/* our header for the current stream */
	int		 tls;		/* TLS on (or starting) */
	int		 authed;
	int		 done;		/* stream ended: ignore further input */
	struct sasl	*sasl;
	int		 plain;		/* the mechanism is PLAIN */
	unsigned	 sasl_failures;
	char		 host[JID_PART_MAX + 1];
	char		 user[JID_PART_MAX + 1];
	char		 id[24];
	struct session	*sess;
	int		 ping_pending;
	struct sm	*sm;		/* XEP-0198, once enabled */
	int64_t		 hibernate_until; /* detached, waiting for <resume/> */
	struct c2s	*hnext;		/* hibernating streams */
};

#define NS_SM		"urn:xmpp:sm:3"
#define SM_ASK_EVERY	5	/* unacknowledged stanzas before we send <r/> */

static struct c2s	*hibernating;

static void	c2s_input(struct conn *, const char *, size_t);
static void	c2s_closed(struct conn *);
static void	c2s_timeout(struct conn *);
static void	c2s_free(struct conn *);

static const struct conn_proto c2s_proto = {
	c2s_input, c2s_closed, c2s_timeout, c2s_free, NULL, NULL
};

static void	sess_send(void *, const struct xml_node *);
static void	end_session(struct c2s *);
static void	unhibernate(struct c2s *);
static void	c2s_destroy(struct c2s *);
static void	sess_kick(void *, const char *, const char *);

static const struct session_ops c2s_session_ops = { sess_send, sess_kick };

static const struct limits *
lim(void)
{
	return &server_config()->limits;
}

static void
set_parser_limits(struct c2s *s)
{
	const struct limits *l = lim();
	struct xml_limits xl;

	xl.max_stanza = s->authed ? l->max_stanza_size : l->max_stanza_size_preauth;
	xl.max_depth = l->max_depth;
	xl.max_attrs = l->max_attrs;
	xl.max_name = l->max_name;
	xml_parser_set_limits(s->xp, &xl);
}

/*
 * Everything a c2s stream writes goes through out(): one whole element
 * (or the stream's header or end) at a time, so that over WebSocket each
 * becomes one message (RFC 7395 3.3.3).
 */
static void
out(struct c2s *s, const char *p, size_t len)
{
	struct buf b;

	if (s->ws == NULL) {
		conn_send(s->conn, p, len);
		return;
	}
	buf_init(&b, len + 16);
	if (ws_frame(&b, WS_OP_TEXT, p, len) == 0)
		conn_send(s->conn, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

static void
send_str(struct c2s *s, const char *str)
{
	out(s, str, strlen(str));
}

/* Over WebSocket and BOSH every element stands alone: no stream header
 * declares namespaces or prefixes for it. */
static int
standalone(const struct c2s *s)
{
	return s->ws != NULL || s->bosh;
}

/* A stanza: standalone ones name their namespace. */
static void
send_xml(struct c2s *s, const struct xml_node *st)
{
	struct buf b;

	if (!standalone(s)) {
		conn_send_xml(s->conn, st, NS_CLIENT);
		return;
	}
	buf_init(&b, lim()->max_stanza_size * 4 + 65536);
	if (xml_serialize(st, &b, NULL) == 0)
		out(s, buf_head(&b), buf_used(&b));
	else
		conn_log(s->conn, LOG_LVL_WARN, "stanza too big to send");
	buf_free(&b);
}

/* The end of the stream, and over WebSocket of the connection (7395 3.6). */
static void
send_close(struct c2s *s)
{
	struct buf b;

	if (s->bosh)
		return;		/* the session's end says it (<body type='terminate'/>) */
	if (s->ws == NULL) {
		send_str(s, "</stream:stream>");
		return;
	}
	send_str(s, "<close xmlns='" NS_FRAMING "'/>");
	buf_init(&b, 16);
	ws_close_frame(&b, WS_CLOSE_NORMAL);
	conn_send(s->conn, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

static void
send_header(struct c2s *s)
{
	struct buf b;
	const char *from = s->host[0] ? s->host :
	    (server_config()->hosts ? server_config()->hosts->name : "localhost");
	unsigned char r[12];

	if (s->header_sent)
		return;
	random_bytes(r, sizeof r);
	b64_encode(r, sizeof r, s->id, sizeof s->id);
	for (char *p = s->id; *p; p++)
		if (*p == '+' || *p == '/')
			*p = 'x';
	s->header_sent = 1;
	if (s->bosh)
		return;		/* the session creation response is the header */
	buf_init(&b, 2048);
	buf_addstr(&b, s->ws != NULL ? "<open xmlns='" NS_FRAMING "' id='" :
	    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
	    "xmlns:stream='" NS_STREAM_PFX "' id='");
	buf_addstr(&b, s->id);
	buf_addstr(&b, "' from='");
	buf_add_escaped(&b, from, strlen(from));
	buf_addstr(&b, s->ws != NULL ? "' version='1.0' xml:lang='en'/>" :
	    "' version='1.0' xml:lang='en'>");
	out(s, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

/* <stream:error/> into b (initialised here); standalone declares the
 * stream prefix, as a WebSocket message must (RFC 7395 3.3.3). */
static void
error_element(struct buf *b, const char *cond, const char *text,
    int standalone)
{
	buf_init(b, 4096);
	buf_addstr(b, standalone ? "<stream:error xmlns:stream='" NS_STREAM_PFX
	    "'><" : "<stream:error><");
	buf_addstr(b, cond);
	buf_addstr(b, " xmlns='" NS_STREAMS "'/>");
	if (text != NULL && *text) {
		buf_addstr(b, "<text xmlns='" NS_STREAMS "'>");
		buf_add_escaped(b, text, strlen(text));
		buf_addstr(b, "</text>");
	}
	buf_addstr(b, "</stream:error>");
}

/* RFC 6120 4.9: header first if need be, the error, the close tag. */
static void
stream_error(struct c2s *s, const char *cond, const char *text)
{
	struct buf b;

	if (s->done)
		return;
	if (s->conn == NULL) {
		/* Hibernating (XEP-0198): nobody to tell; the next tick
		 * frees it. */
		s->done = 1;
		end_session(s);
		s->hibernate_until = 0;
		return;
	}
	send_header(s);
	s->done = 1;
	if (!standalone(s)) {
		stream_error_close(s->conn, cond, text, "stream error");
		return;
	}
	error_element(&b, cond, text, 1);
	out(s, buf_head(&b), buf_used(&b));
	buf_free(&b);
	send_close(s);
	conn_log(s->conn, LOG_LVL_INFO, "stream error %s%s%s", cond,
	    text ? ": " : "", text ? text : "");
	conn_close(s->conn, cond);
}

void
stream_error_close(struct conn *c, const char *cond, const char *text,
    const char *what)
{
	struct buf b;

	error_element(&b, cond, text, 0);
	buf_addstr(&b, "</stream:stream>");
	conn_send(c, buf_head(&b), buf_used(&b));
	buf_free(&b);
	conn_log(c, LOG_LVL_INFO, "%s %s%s%s", what, cond, text ? ": " : "",
	    text ? text : "");
	conn_close(c, cond);
}

/*
 * A stanza for the client: counted and kept for XEP-0198 when it is on.
 * While the stream hibernates there is no connection: it only waits in
 * the unacknowledged queue for <resume/>.
 */
static void
c2s_send(struct c2s *s, const struct xml_node *st)
{
	if (s->sm != NULL && sm_sent(s->sm, st) == -1) {
		if (s->conn != NULL)
			stream_error(s, "policy-violation",
			    "Too many unacknowledged stanzas");
		return;
	}
	if (s->conn == NULL)
		return;
	send_xml(s, st);
	if (s->sm != NULL && sm_unacked(s->sm) % SM_ASK_EVERY == 0)
		send_str(s, "<r xmlns='" NS_SM "'/>");
}

static int
smacks_on(void)
{
	return config_has_module(server_config(), "smacks");
}

static unsigned
sm_setting(const char *key, unsigned dflt)
{
	const char *v = config_module_opt(server_config(), "smacks", key);

	return v != NULL ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

/* [server] sasl_mechanisms narrows what is offered and accepted. */
static int
mech_allowed(const char *mech)
{
	const struct strlist *l = &server_config()->sasl_mechanisms;

	if (l->n == 0)
		return 1;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], mech) == 0)
			return 1;
	return 0;
}

static void
send_features(struct c2s *s)
{
	const struct config *cfg = server_config();
	struct xml_arena *a = xml_arena_new();
	struct xml_node *f = xml_new(a, "features", NS_STREAM), *n;

	if (!s->tls && !standalone(s)) {
		n = xml_add(f, "starttls", NS_TLS);
		if (cfg->c2s_require_encryption)
			xml_add(n, "required", NULL);
	}
	if (!s->authed && (s->tls || !cfg->c2s_require_encryption)) {
		n = xml_add(f, "mechanisms", NS_SASL);
		for (const char *const *m = sasl_mechanisms; *m; m++) {
			if (!s->tls && strcmp(*m, "PLAIN") == 0)
				continue;	/* never a password in clear */
			if (mech_allowed(*m))
				xml_add_text_child(n, "mechanism", NULL, *m);
		}
	}
	if (!s->authed && s->tls)
		for (const struct module *const *m = modules_all(); *m; m++)
			if ((*m)->preauth_features && module_enabled(*m))
				(*m)->preauth_features(f, s->host);
	if (s->authed) {
		xml_add(f, "bind", NS_BIND);
		n = xml_add(f, "session", NS_SESSION);
		xml_add(n, "optional", NULL);
		for (const struct module *const *m = modules_all(); *m; m++)
			if ((*m)->stream_features && module_enabled(*m))
				(*m)->stream_features(f);
	}
	/* The stream prefix is bound in our header: write it by hand. */
	{
		struct buf b;
		struct xml_node *c;
		buf_init(&b, 8192);
		buf_addstr(&b, standalone(s) ? "<stream:features xmlns:stream='"
		    NS_STREAM_PFX "'>" : "<stream:features>");
		for (c = f->children; c != NULL; c = c->next)
			xml_serialize(c, &b, NS_CLIENT);
		buf_addstr(&b, "</stream:features>");
		out(s, buf_head(&b), buf_used(&b));
		buf_free(&b);
	}
	xml_arena_free(a);
}

static void
on_header(struct c2s *s)
{
	const struct xml_node *h = xml_stream_header(s->xp);
	const char *to = xml_attr(h, "to"), *ver = xml_attr(h, "version");
	char host[JID_PART_MAX + 1];

	if (strcmp(xml_stream_default_ns(s->xp), NS_CLIENT) != 0) {
		stream_error(s, "invalid-namespace",
		    "This port serves jabber:client streams");
		return;
	}
	if (to == NULL || strlcpy_ok(host, to, sizeof host) == -1 ||
	    jid_prep_domain(host) == -1 ||
	    config_host(server_config(), host) == NULL) {
		stream_error(s, "host-unknown", "This server does not serve that domain");
		return;
	}
	if (s->host[0] != '\0' && strcmp(s->host, host) != 0) {
		/* A restarted stream must name the same host. */
		stream_error(s, "host-unknown", "Domain changed on stream restart");
		return;
	}
	strlcpy_ok(s->host, host, sizeof s->host);
	if (ver == NULL || strncmp(ver, "1.", 2) != 0) {
		stream_error(s, "unsupported-version", "XMPP 1.0 is required");
		return;
	}
	send_header(s);
	send_features(s);
}

/* ---- STARTTLS ---- */

static void
on_starttls(struct c2s *s, size_t remaining)
{
	struct tls_creds *cr;

	if (s->tls || s->authed || standalone(s)) {
		send_str(s, "<failure xmlns='" NS_TLS "'/>");
		send_close(s);
		s->done = 1;
		conn_close(s->conn, "STARTTLS in wrong state");
		return;
	}
	if (remaining > 0) {
		/* Bytes after <starttls/> in the same read would be taken as
		 * if they came over TLS (CVE-2011-0411): refuse. */
		conn_log(s->conn, LOG_LVL_INFO, "data after <starttls/>: closing");
		send_str(s, "<failure xmlns='" NS_TLS "'/>");
		send_close(s);
		s->done = 1;
		conn_close(s->conn, "STARTTLS injection");
		return;
	}
	cr = server_creds(s->host);
	if (cr == NULL) {
		send_str(s, "<failure xmlns='" NS_TLS "'/>");
		send_close(s);
		s->done = 1;
		conn_close(s->conn, "no certificate");
		return;
	}
	send_str(s, "<proceed xmlns='" NS_TLS "'/>");
	conn_start_tls_after_flush(s->conn, cr);
	s->tls = 1;
	xml_parser_reset(s->xp);
	s->header_sent = 0;
}

/* ---- SASL ---- */

/*
 * Failed logins per address over the last minute, in a small fixed table
 * (the oldest entry is reused when it is full).  Past the limit, logins
 * from that address are refused with temporary-auth-failure until the
 * minute is over: a guesser is slowed down, and since it is the address
 * that waits, nobody can lock an account out from elsewhere.
 */
#define AUTHFAIL_SLOTS	1024
#define AUTHFAIL_WINDOW	60000

static struct authfail {
	char	 ip[48];
	int64_t	 since;
	unsigned count;
} authfail[AUTHFAIL_SLOTS];

static struct authfail *
authfail_slot(const char *ip, int create)
{
	struct authfail *oldest = &authfail[0];
	int64_t now = now_ms();

	for (size_t i = 0; i < AUTHFAIL_SLOTS; i++) {
		struct authfail *a = &authfail[i];
		if (a->ip[0] != '\0' && now - a->since > AUTHFAIL_WINDOW)
			a->ip[0] = '\0';	/* expired */
		if (a->ip[0] != '\0' && strcmp(a->ip, ip) == 0)
			return a;
		if (a->ip[0] == '\0' || a->since < oldest->since)
			oldest = a;
	}
	if (!create)
		return NULL;
	strlcpy_ok(oldest->ip, ip, sizeof oldest->ip);
	oldest->since = now;
	oldest->count = 0;
	return oldest;
}

static int
authfail_blocked(const char *ip)
{
	struct authfail *a = authfail_slot(ip, 0);

	return a != NULL && a->count >= lim()->auth_failures_per_ip;
}

static int
sasl_lookup(void *ctx, const char *username, struct account_creds *out)
{
	struct c2s *s = ctx;

	return account_load_creds(s->host, username, out);
}

static void
sasl_failure(struct c2s *s, const char *cond, const char *why)
{
	char b[256];

	snprintf(b, sizeof b, "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
	send_str(s, b);
	if (s->sasl != NULL) {
		sasl_free(s->sasl);
		s->sasl = NULL;
	}
	conn_log(s->conn, LOG_LVL_INFO, "authentication failed: %s%s%s", cond,
	    why ? ": " : "", why ? why : "");
	if (strcmp(cond, "not-authorized") == 0)
		authfail_slot(s->ip, 1)->count++;
	if (++s->sasl_failures >= lim()->auth_attempts)
		stream_error(s, "policy-violation",
		    "Too many failed authentication attempts");
}

static void
sasl_send(struct c2s *s, const char *elem, const char *data, size_t len)
{
	struct buf b;
	char *enc;
	size_t cap = B64_LEN(len) + 1;

	buf_init(&b, cap + 128);
	buf_printf(&b, "<%s xmlns='" NS_SASL "'>", elem);
	if (len > 0) {
		enc = xmalloc(cap);
		b64_encode(data, len, enc, cap);
		buf_addstr(&b, enc);
		free(enc);
	} else if (strcmp(elem, "success") != 0)
		buf_addstr(&b, "=");
	buf_printf(&b, "</%s>", elem);
	out(s, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

static void
sasl_continue(struct c2s *s, const char *text)
{
	size_t tlen = strlen(text), dlen = 0;
	char *data = NULL;
	const char *out;
	size_t outlen;
	enum sasl_status st;

	if (tlen > SASL_MAX_B64) {
		sasl_failure(s, "malformed-request", "SASL data too long");
		return;
	}
	if (tlen > 0 && strcmp(text, "=") != 0) {
		ssize_t n;
		data = xmalloc(tlen);
		n = b64_decode(text, tlen, data, tlen);
		if (n < 0) {
			free(data);
			sasl_failure(s, "incorrect-encoding", "bad base64");
			return;
		}
		dlen = (size_t)n;
	}
	st = sasl_step(s->sasl, data ? data : "", dlen, &out, &outlen);
	if (st == SASL_SUCCESS && data != NULL && s->plain) {
		/* PLAIN carried the password: give an account that has only
		 * SCRAM-SHA-1 keys (imported from Prosody) the SHA-256 ones. */
		const char *pw = memchr(data, '\0', dlen);
		if (pw != NULL && (pw = memchr(pw + 1, '\0',
		    dlen - (size_t)(pw + 1 - data))) != NULL)
			account_add_missing_keys(s->host, sasl_username(s->sasl),
			    pw + 1, dlen - (size_t)(pw + 1 - data));
	}
	if (data != NULL)
		xfree_secret(data, tlen);
	switch (st) {
	case SASL_CONTINUE:
		sasl_send(s, "challenge", out, outlen);
		return;
	case SASL_FAILURE:
		sasl_failure(s, sasl_condition(s->sasl), sasl_log_reason(s->sasl));
		return;
	case SASL_SUCCESS:
		break;
	}
	{
		const char *az = sasl_authzid(s->sasl);
		char want[JID_MAX + 1];
		snprintf(want, sizeof want, "%s@%s", sasl_username(s->sasl), s->host);
		if (az != NULL && *az && strcmp(az, want) != 0 &&
		    strcmp(az, sasl_username(s->sasl)) != 0) {
			sasl_failure(s, "invalid-authzid", "authzid is not the user");
			return;
		}
	}
	strlcpy_ok(s->user, sasl_username(s->sasl), sizeof s->user);
	sasl_send(s, "success", out, outlen);
	sasl_free(s->sasl);
	s->sasl = NULL;
	s->authed = 1;
	conn_set_authenticated(s->conn);
	conn_log(s->conn, LOG_LVL_INFO, "authenticated as %s@%s", s->user, s->host);
	xml_parser_reset(s->xp);
	set_parser_limits(s);
	s->header_sent = 0;
}

static void
on_sasl(struct c2s *s, struct xml_node *st)
{
	const struct config *cfg = server_config();

	if (s->authed) {
		stream_error(s, "policy-violation", "Already authenticated");
		return;
	}
	if (xml_is(st, "abort", NS_SASL)) {
		if (s->sasl != NULL) {
			sasl_free(s->sasl);
			s->sasl = NULL;
		}
		send_str(s, "<failure xmlns='" NS_SASL "'><aborted/></failure>");
		return;
	}
	if (xml_is(st, "response", NS_SASL)) {
		if (s->sasl == NULL) {
			sasl_failure(s, "malformed-request", "response without auth");
			return;
		}
		sasl_continue(s, xml_text(st));
		return;
	}
	if (!xml_is(st, "auth", NS_SASL)) {
		stream_error(s, "unsupported-stanza-type", NULL);
		return;
	}
	if (s->sasl != NULL) {
		sasl_free(s->sasl);
		s->sasl = NULL;
	}
	if (!s->tls && cfg->c2s_require_encryption) {
		sasl_failure(s, "encryption-required", "auth before STARTTLS");
		return;
	}
	if (authfail_blocked(s->ip)) {
		sasl_failure(s, "temporary-auth-failure",
		    "too many failed logins from this address; try again later");
		return;
	}
	if (strcmp(xml_text(st), "=") == 0) {
		/* RFC 6120 6.4.2: "=" is a zero-length initial response;
		 * none of our mechanisms has a valid empty first message. */
		sasl_failure(s, "malformed-request", "empty initial response");
		return;
	}
	{
		const char *mech = xml_attr(st, "mechanism");
		s->plain = mech != NULL && strcmp(mech, "PLAIN") == 0;
		if (mech == NULL || (!s->tls && s->plain) || !mech_allowed(mech) ||
		    (s->sasl = sasl_new(mech, sasl_lookup, s)) == NULL) {
			sasl_failure(s, mech && strcmp(mech, "PLAIN") == 0 ?
			    "encryption-required" : "invalid-mechanism", mech);
			return;
		}
	}
	sasl_continue(s, xml_text(st));
}

/* ---- binding and stanzas ---- */

static void
send_iq_error(struct c2s *s, const struct xml_node *iq, enum stanza_error e)
{
	struct xml_arena *a = xml_arena_new();
	struct xml_node *r = xml_new(a, "iq", NS_CLIENT), *er;

	xml_set_attr(r, "type", "error");
	if (xml_attr(iq, "id"))
		xml_set_attr(r, "id", xml_attr(iq, "id"));
	er = xml_add(r, "error", NULL);
	xml_set_attr(er, "type", stanza_error_type(e));
	xml_add(er, stanza_error_name(e), "urn:ietf:params:xml:ns:xmpp-stanzas");
	c2s_send(s, r);
	xml_arena_free(a);
}

static void
on_bind(struct c2s *s, struct xml_node *iq, struct xml_node *bind)
{
	struct xml_arena *a;
	struct xml_node *r, *b;
	enum stanza_error err = ERR_NONE;
	const char *res = xml_child_text(bind, "resource", NS_BIND);

	if (s->sess != NULL) {
		/* One resource per stream (RFC 6120 7.7.2.1 allows refusing). */
		send_iq_error(s, iq, ERR_NOT_ALLOWED);
		return;
	}
	if (!account_exists(s->host, s->user)) {
		stream_error(s, "not-authorized", "Account no longer exists");
		return;
	}
	s->sess = session_bind(s->host, s->user, res, &c2s_session_ops, s, &err);
	if (s->sess == NULL) {
		send_iq_error(s, iq, err);
		return;
	}
	a = xml_arena_new();
	r = xml_new(a, "iq", NS_CLIENT);
	xml_set_attr(r, "type", "result");
	xml_set_attr(r, "id", xml_attr(iq, "id"));
	b = xml_add(r, "bind", NS_BIND);
	xml_add_text_child(b, "jid", NULL, s->sess->full);
	send_xml(s, r);
	xml_arena_free(a);
	conn_log(s->conn, LOG_LVL_INFO, "bound %s", s->sess->full);
	conn_set_deadline(s->conn, now_ms() + (int64_t)lim()->idle_timeout * 1000);
}

/* Bind and the legacy session IQ (RFC 3921; clients still send it). */
static int
on_stream_iq(struct c2s *s, struct xml_node *st)
{
	const char *type = xml_attr(st, "type");
	struct xml_node *b;

	if (type == NULL || strcmp(type, "set") != 0)
		return 0;
	if ((b = xml_child(st, "bind", NS_BIND)) != NULL) {
		if (xml_attr(st, "id") == NULL) {
			send_iq_error(s, st, ERR_BAD_REQUEST);
			return 1;
		}
		on_bind(s, st, b);
		return 1;
	}
	if (xml_child(st, "session", NS_SESSION) != NULL && s->sess != NULL) {
		struct xml_arena *a = xml_arena_new();
		struct xml_node *r = xml_new(a, "iq", NS_CLIENT);
		xml_set_attr(r, "type", "result");
		if (xml_attr(st, "id"))
			xml_set_attr(r, "id", xml_attr(st, "id"));
		c2s_send(s, r);
		xml_arena_free(a);
		return 1;
	}
	return 0;
}

static int
valid_type(const struct xml_node *st)
{
	static const char *const iq[] = { "get", "set", "result", "error", NULL };
	static const char *const msg[] = { "chat", "error", "groupchat",
	    "headline", "normal", NULL };
	static const char *const pres[] = { "error", "probe", "subscribe",
	    "subscribed", "unavailable", "unsubscribe", "unsubscribed", NULL };
	const char *t = xml_attr(st, "type");
	const char *const *l;

	if (xml_is(st, "iq", NULL)) {
		if (t == NULL)
			return 0;
		l = iq;
	} else if (t == NULL)
		return 1;
	else
		l = xml_is(st, "message", NULL) ? msg : pres;
	for (; *l; l++)
		if (strcmp(*l, t) == 0)
			return 1;
	return 0;
}

static void
on_client_stanza(struct c2s *s, struct xml_node *st)
{
	const char *from = xml_attr(st, "from");

	if (from != NULL) {
		struct jid j;
		if (jid_parse(&j, from) == -1 ||
		    strcmp(j.local, s->sess->local) != 0 ||
		    strcmp(j.domain, s->sess->host) != 0 ||
		    (j.resource[0] && strcmp(j.resource, s->sess->resource) != 0)) {
			stream_error(s, "invalid-from", "'from' is not your JID");
			return;
		}
	}
	xml_set_attr(st, "from", s->sess->full);
	if (!valid_type(st) ||
	    (xml_is(st, "iq", NULL) && xml_attr(st, "id") == NULL)) {
		route_error(st, ERR_BAD_REQUEST, "Missing or invalid 'type' or 'id'");
		return;
	}
	router_from_client(s->sess, st);
}

static void
preauth_reply(const struct iq_req *r, struct xml_node *reply)
{
	struct c2s *s = r->reply_ctx;

	/* No JIDs exist yet: the reply goes back on this stream as it is. */
	xml_set_attr(reply, "to", NULL);
	xml_set_attr(reply, "from", NULL);
	send_xml(s, reply);
}

/*
 * An IQ before authentication (in-band registration, XEP-0077): only on
 * an encrypted stream, and only for namespaces a module takes there.
 */
static int
preauth_iq(struct c2s *s, struct xml_node *st)
{
	struct xml_node *payload = xml_first_element(st);
	const char *type = xml_attr(st, "type");
	struct iq_req r;

	if (payload == NULL || type == NULL || !modules_handle_preauth(payload->ns))
		return 0;
	if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
		return 1;	/* results and errors: nothing to answer */
	memset(&r, 0, sizeof r);
	r.iq = st;
	r.payload = payload;
	r.type = strcmp(type, "get") == 0 ? IQ_GET : IQ_SET;
	r.where = IQ_PREAUTH;
	r.id = xml_attr(st, "id");
	r.preauth = 1;
	r.peer_ip = s->ip;
	r.host = s->host;
	strlcpy_ok(r.to.domain, s->host, sizeof r.to.domain);
	r.reply_fn = preauth_reply;
	r.reply_ctx = s;
	xml_set_attr(st, "from", NULL);
	xml_set_attr(st, "to", NULL);
	if (r.id == NULL) {
		iq_error(&r, ERR_BAD_REQUEST, "An IQ needs an id");
		return 1;
	}
	modules_dispatch_iq(&r);
	return 1;
}

static void
sm_failed(struct c2s *s, const char *cond)
{
	char b[256];

	snprintf(b, sizeof b, "<failed xmlns='" NS_SM "'><%s xmlns='"
	    "urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>", cond);
	send_str(s, b);
}

static int
parse_h(const char *v, uint32_t *out)
{
	char *end;
	unsigned long long h;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	h = strtoull(v, &end, 10);
	if (*end != '\0' || h > UINT32_MAX)
		return -1;
	*out = (uint32_t)h;
	return 0;
}

static int
sm_take_ack(struct c2s *s, const char *hv)
{
	uint32_t h;

	if (parse_h(hv, &h) == -1) {
		stream_error(s, "bad-format", "'h' must be a number");
		return -1;
	}
	if (sm_ack(s->sm, h) == -1) {
		/* XEP-0198 4: more acknowledged than we sent. */
		stream_error(s, "undefined-condition", "handled-count-too-high");
		return -1;
	}
	return 0;
}

static void
resend(struct xml_node *st, void *arg)
{
	struct c2s *s = arg;

	send_xml(s, st);
}

/* <resume/>: take over a session (hibernating, or still on a connection
 * that has not noticed it died) with what it did not get. */
static void
on_resume(struct c2s *s, struct xml_node *st)
{
	const char *previd = xml_attr(st, "previd");
	struct c2s *old = NULL;
	struct conn *c;
	char b[256];

	if (s->sess != NULL || !smacks_on()) {
		sm_failed(s, "unexpected-request");
		return;
	}
	for (struct c2s *h = hibernating; h != NULL && previd; h = h->hnext)
		if (h->sm != NULL && strcmp(sm_id(h->sm), previd) == 0)
			old = h;
	for (c = conn_first(); c != NULL && old == NULL && previd; c = c->next)
		if (c->proto == &c2s_proto && c->stream != NULL && c->stream != s &&
		    ((struct c2s *)c->stream)->sm != NULL &&
		    strcmp(sm_id(((struct c2s *)c->stream)->sm), previd) == 0)
			old = c->stream;
	if (old == NULL || old->sess == NULL || !sm_resumable(old->sm) ||
	    strcmp(old->host, s->host) != 0 || strcmp(old->user, s->user) != 0) {
		sm_failed(s, "item-not-found");
		return;
	}
	/* Take the session and its counters over. */
	s->sess = old->sess;
	s->sess->stream = s;
	s->sess->detached = 0;
	s->sm = old->sm;
	old->sess = NULL;
	old->sm = NULL;
	if (old->conn == NULL) {
		unhibernate(old);
		c2s_destroy(old);
	} else {
		stream_error(old, "conflict", "Session resumed elsewhere");
	}
	if (sm_take_ack(s, xml_attr(st, "h")) == -1)
		return;
	snprintf(b, sizeof b, "<resumed xmlns='" NS_SM "' previd='%s' h='%u'/>",
	    sm_id(s->sm), sm_h_in(s->sm));
	send_str(s, b);
	sm_each_unacked(s->sm, resend, s);
	conn_log(s->conn, LOG_LVL_INFO, "resumed %s (%zu stanzas sent again)",
	    s->sess->full, sm_unacked(s->sm));
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->session_resumed && module_enabled(*m))
			(*m)->session_resumed(s->sess);
	conn_set_deadline(s->conn, now_ms() + (int64_t)lim()->idle_timeout * 1000);
}

/* XEP-0198 elements: enable, r, a, resume. */
static void
on_sm(struct c2s *s, struct xml_node *st)
{
	char b[256];

	if (xml_is(st, "resume", NS_SM)) {
		on_resume(s, st);
		return;
	}
	if (xml_is(st, "enable", NS_SM)) {
		const char *r = xml_attr(st, "resume");
		unsigned timeout = sm_setting("resume_timeout", 300);
		int resume;

		if (!smacks_on()) {
			sm_failed(s, "feature-not-implemented");
			return;
		}
		if (s->sess == NULL || s->sm != NULL) {
			sm_failed(s, "unexpected-request");
			return;
		}
		resume = r != NULL && (strcmp(r, "true") == 0 || strcmp(r, "1") == 0) &&
		    timeout > 0;
		s->sm = sm_new(resume, sm_setting("max_unacked", 500));
		if (resume)
			snprintf(b, sizeof b, "<enabled xmlns='" NS_SM "' id='%s' "
			    "resume='true' max='%u'/>", sm_id(s->sm), timeout);
		else
			snprintf(b, sizeof b, "<enabled xmlns='" NS_SM "'/>");
		send_str(s, b);
		return;
	}
	if (s->sm == NULL) {
		stream_error(s, "unsupported-stanza-type",
		    "Stream management is not enabled");
		return;
	}
	if (xml_is(st, "r", NS_SM)) {
		snprintf(b, sizeof b, "<a xmlns='" NS_SM "' h='%u'/>", sm_h_in(s->sm));
		send_str(s, b);
	} else if (xml_is(st, "a", NS_SM))
		sm_take_ack(s, xml_attr(st, "h"));
	else
		stream_error(s, "unsupported-stanza-type", NULL);
}

static void
on_stanza(struct c2s *s, struct xml_node *st, size_t remaining)
{
	int is_stanza = st->ns != NULL && strcmp(st->ns, NS_CLIENT) == 0 &&
	    (xml_is(st, "message", NULL) || xml_is(st, "presence", NULL) ||
	    xml_is(st, "iq", NULL));

	if (xml_is(st, "starttls", NS_TLS)) {
		on_starttls(s, remaining);
		return;
	}
	if (st->ns != NULL && strcmp(st->ns, NS_SASL) == 0) {
		on_sasl(s, st);
		return;
	}
	if (!s->tls && server_config()->c2s_require_encryption) {
		stream_error(s, "not-authorized", "STARTTLS is required first");
		return;
	}
	if (!s->authed) {
		/* Only over TLS: a password must never travel in clear. */
		if (s->tls && xml_is(st, "iq", NS_CLIENT) && preauth_iq(s, st))
			return;
		stream_error(s, "not-authorized", "Authenticate first");
		return;
	}
	if (st->ns != NULL && strcmp(st->ns, NS_SM) == 0) {
		on_sm(s, st);
		return;
	}
	if (is_stanza && s->sm != NULL)
		sm_count_in(s->sm);
	if (!is_stanza) {
		if (s->sess != NULL)
			for (const struct module *const *m = modules_all(); *m; m++)
				if ((*m)->stream_element && module_enabled(*m) &&
				    (*m)->stream_element(s->sess, st))
					return;
		stream_error(s, "unsupported-stanza-type", NULL);
		return;
	}
	if (xml_is(st, "iq", NULL) && on_stream_iq(s, st))
		return;
	if (s->sess == NULL) {
		stream_error(s, "not-authorized", "Bind a resource first");
		return;
	}
	on_client_stanza(s, st);
}

/* Stream bytes into the XML tokenizer, events to their handlers. */
static void
feed_xml(struct c2s *s, const char *buf, size_t len)
{
	struct conn *c = s->conn;

	while (len > 0 && !s->done && c->state == CONN_OPEN) {
		size_t n = xml_feed(s->xp, buf, len);
		struct xml_node *st;

		buf += n;
		len -= n;
		switch (xml_event(s->xp)) {
		case XML_EV_NONE:
			break;
		case XML_EV_STREAM_OPEN:
			on_header(s);
			break;
		case XML_EV_STANZA:
		case XML_EV_DOCUMENT:
			st = xml_take_stanza(s->xp);
			if (st != NULL) {
				on_stanza(s, st, len);
				xml_arena_free(st->arena);
			}
			break;
		case XML_EV_STREAM_CLOSE:
			send_header(s);
			send_close(s);
			s->done = 1;
			conn_close(c, "client closed stream");
			return;
		case XML_EV_ERROR:
			stream_error(s, xml_error(s->xp), xml_error_detail(s->xp));
			return;
		}
		if (n == 0 && xml_event(s->xp) == XML_EV_NONE)
			break;	/* defensive: no progress */
	}
}

/* ---- XMPP over WebSocket (RFC 7395) ---- */

/* Is the message the framing element name (<open/>, <close/>)? */
static int
framing_is(const char *m, size_t len, const char *name)
{
	size_t nl = strlen(name);

	return len > nl + 1 && m[0] == '<' && memcmp(m + 1, name, nl) == 0 &&
	    strchr(" \t\r\n/>", m[nl + 1]) != NULL;
}

/* A stream header for the tokenizer, from what <open/> or a BOSH
 * session request said. */
static void
feed_open(struct c2s *s, const char *to, const char *version)
{
	struct buf b;

	buf_init(&b, 2048);
	buf_addstr(&b, "<stream:stream xmlns='jabber:client' xmlns:stream='"
	    NS_STREAM_PFX "'");
	if (to != NULL) {
		buf_addstr(&b, " to='");
		buf_add_escaped(&b, to, strlen(to));
		buf_addstr(&b, "'");
	}
	if (version != NULL) {
		buf_addstr(&b, " version='");
		buf_add_escaped(&b, version, strlen(version));
		buf_addstr(&b, "'");
	}
	buf_addstr(&b, ">");
	feed_xml(s, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

/*
 * <open/> and <close/> stand for the stream header and end tag: the
 * tokenizer gets those, so the rest of the stream logic is the same as
 * over TCP.  Every other message is whole elements, fed as they are.
 */
static void
ws_text(struct c2s *s, const char *m, size_t len)
{
	struct xml_node *f;
	char err[128];

	while (len > 0 && strchr(" \t\r\n", *m) != NULL)
		m++, len--;
	if (!framing_is(m, len, "open") && !framing_is(m, len, "close")) {
		feed_xml(s, m, len);
		if (!s->done && xml_pending(s->xp) > 0)
			stream_error(s, "not-well-formed", "A WebSocket message "
			    "must hold whole elements (RFC 7395 3.3.3)");
		return;
	}
	f = xml_parse_document(m, len, NULL, err, sizeof err);
	if (f == NULL || f->ns == NULL || strcmp(f->ns, NS_FRAMING) != 0) {
		stream_error(s, f == NULL ? "not-well-formed" : "invalid-namespace",
		    f == NULL ? err : "Framing elements are in " NS_FRAMING);
		if (f != NULL)
			xml_arena_free(f->arena);
		return;
	}
	if (strcmp(f->name, "close") == 0)
		feed_xml(s, "</stream:stream>", 16);
	else
		feed_open(s, xml_attr(f, "to"), xml_attr(f, "version"));
	xml_arena_free(f->arena);
}

/* A control frame of ours: ping answers, close frames. */
static void
ws_control(struct c2s *s, int opcode, const void *p, size_t len)
{
	struct buf b;

	buf_init(&b, WS_CONTROL_MAX + 16);
	if (ws_frame(&b, opcode, p, len) == 0)
		conn_send(s->conn, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

static void
ws_input(struct c2s *s, const char *buf, size_t len)
{
	while (len > 0 && !s->done && s->conn->state == CONN_OPEN) {
		enum ws_event ev;
		size_t n = ws_feed(s->ws, buf, len, &ev), mlen;
		const char *m = ws_message(s->ws, &mlen);
		unsigned char code[2];

		buf += n;
		len -= n;
		switch (ev) {
		case WS_EV_NONE:
		case WS_EV_PONG:
			break;
		case WS_EV_TEXT:
			ws_text(s, m, mlen);
			break;
		case WS_EV_PING:
			ws_control(s, WS_OP_PONG, m, mlen);
			break;
		case WS_EV_CLOSE:
			/* Without <close/> first this is a lost connection:
			 * a resumable session waits (RFC 7395 3.6.2). */
			ws_control(s, WS_OP_CLOSE, "\x03\xe8", 2);
			conn_close(s->conn, "websocket closed by the client");
			return;
		case WS_EV_ERROR:
			code[0] = (unsigned char)(ws_close_code(s->ws) >> 8);
			code[1] = (unsigned char)ws_close_code(s->ws);
			conn_log(s->conn, LOG_LVL_INFO, "websocket: %s",
			    s->ws->error);
			ws_control(s, WS_OP_CLOSE, code, 2);
			s->done = 1;
			conn_close(s->conn, "websocket protocol error");
			return;
		}
	}
}

static void
c2s_input(struct conn *c, const char *buf, size_t len)
{
	struct c2s *s = c->stream;

	if (s->sess != NULL) {
		s->ping_pending = 0;
		conn_set_deadline(c, now_ms() + (int64_t)lim()->idle_timeout * 1000);
	}
	if (s->ws != NULL)
		ws_input(s, buf, len);
	else
		feed_xml(s, buf, len);
}

/* Stanzas the client never acknowledged, when its session is over for
 * good (XEP-0198 4): messages go where they would go now (another
 * resource, offline storage); requests are answered with an error. */
static void
reroute(struct xml_node *st, void *arg)
{
	const char *type = xml_attr(st, "type");

	if (xml_is(st, "message", NULL)) {
		struct jid to;
		/* Copies made for this session alone (archive results,
		 * carbons) have no other place to go. */
		if (xml_child(st, "result", "urn:xmpp:mam:2") != NULL ||
		    xml_child(st, "received", "urn:xmpp:carbons:2") != NULL ||
		    xml_child(st, "sent", "urn:xmpp:carbons:2") != NULL)
			return;
		/* Past the modules' inbound hooks: it was archived and
		 * filtered when it first came in. */
		if ((type == NULL || strcmp(type, "chat") == 0 ||
		    strcmp(type, "normal") == 0) && xml_attr(st, "to") != NULL &&
		    jid_parse(&to, xml_attr(st, "to")) == 0 && to.local[0] != '\0' &&
		    host_is_local(to.domain))
			route_local_default(st, &to);
	} else if (xml_is(st, "iq", NULL) && type != NULL &&
	    (strcmp(type, "get") == 0 || strcmp(type, "set") == 0))
		route_error(st, ERR_SERVICE_UNAVAILABLE, NULL);
}

/* The session ends: unbind it, then deal with what was not acked. */
static void
end_session(struct c2s *s)
{
	if (s->sess != NULL) {
		struct session *sess = s->sess;
		s->sess = NULL;
		session_unbind(sess);
	}
	if (s->sm != NULL) {
		sm_each_unacked(s->sm, reroute, NULL);
		sm_clear(s->sm);
	}
}

static void
unhibernate(struct c2s *s)
{
	struct c2s **pp;

	for (pp = &hibernating; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	s->hnext = NULL;
}

static void
c2s_destroy(struct c2s *s)
{
	end_session(s);
	if (s->sasl != NULL)
		sasl_free(s->sasl);
	sm_free(s->sm);
	xml_parser_free(s->xp);
	if (s->ws != NULL)
		ws_free(s->ws);
	free(s->ws);
	free(s);
}

static void
c2s_closed(struct conn *c)
{
	struct c2s *s = c->stream;

	if (s == NULL)
		return;
	if (s->sess != NULL && s->sm != NULL && sm_resumable(s->sm) && !s->done &&
	    !server_is_stopping()) {
		/* XEP-0198 5: the connection is gone, the session waits for
		 * the client to come back with <resume/>. */
		conn_log(c, LOG_LVL_INFO, "%s: connection lost, session kept %u s "
		    "for resumption (%zu unacknowledged)", s->sess->full,
		    sm_setting("resume_timeout", 300), sm_unacked(s->sm));
		c->stream = NULL;
		s->conn = NULL;
		s->sess->detached = 1;
		s->hibernate_until = now_ms() +
		    (int64_t)sm_setting("resume_timeout", 300) * 1000;
		s->hnext = hibernating;
		hibernating = s;
		return;
	}
	s->done = 1;
	end_session(s);
}

static void
c2s_timeout(struct conn *c)
{
	struct c2s *s = c->stream;
	char b[JID_MAX * 2 + 128];

	if (s->sess == NULL) {
		stream_error(s, "connection-timeout",
		    "Authentication took too long");
		return;
	}
	if (s->ping_pending) {
		if (s->sm != NULL && sm_resumable(s->sm)) {
			/* Most likely a dead mobile connection: keep the
			 * session for <resume/> (XEP-0198 5). */
			conn_close(c, "no answer to ping");
			return;
		}
		stream_error(s, "connection-timeout", "No answer to ping");
		return;
	}
	snprintf(b, sizeof b, "<iq type='get' id='xmppd-ping' from='%s' to='%s'>"
	    "<ping xmlns='" NS_PING "'/></iq>", s->host, s->sess->full);
	send_str(s, b);
	s->ping_pending = 1;
	conn_set_deadline(c, now_ms() + (int64_t)lim()->ping_timeout * 1000);
}

static void
c2s_free(struct conn *c)
{
	struct c2s *s = c->stream;

	if (s != NULL)		/* NULL: hibernating, or handed on by resume */
		c2s_destroy(s);
}

void
c2s_tick(int64_t now)
{
	struct c2s *s, *next;

	for (s = hibernating; s != NULL; s = next) {
		next = s->hnext;
		if (now < s->hibernate_until && !server_is_stopping())
			continue;
		unhibernate(s);
		if (s->sess != NULL)
			log_info("%s: not resumed in time; session ended",
			    s->sess->full);
		c2s_destroy(s);
	}
}

static void
sess_send(void *stream, const struct xml_node *st)
{
	struct c2s *s = stream;

	if (!s->done || s->conn == NULL)
		c2s_send(s, st);
}

static void
sess_kick(void *stream, const char *cond, const char *text)
{
	stream_error(stream, cond, text);
}

void
c2s_accept(int fd, const struct sockaddr *sa, socklen_t sl, int direct_tls)
{
	struct c2s *s;
	struct conn *c;
	char ip[64];

	if (!conn_may_accept_addr(sa, ip, sizeof ip)) {
		log_info("connection from %s refused: per-address limit", ip);
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof *s);
	s->xp = xml_parser_new(XML_MODE_STREAM, NULL);
	c = conn_new(fd, sa, sl, &c2s_proto, s);
	s->conn = c;
	strlcpy_ok(s->ip, c->ip, sizeof s->ip);
	set_parser_limits(s);
	conn_set_deadline(c, now_ms() + (int64_t)lim()->auth_timeout * 1000);
	if (direct_tls) {
		struct tls_creds *cr = server_creds(NULL);
		if (cr == NULL) {
			conn_close(c, "no certificate");
			return;
		}
		s->tls = 1;
		conn_start_tls_now(c, cr);
	}
}

void
c2s_websocket(struct http_request *rq, int secure)
{
	struct c2s *s = xcalloc(1, sizeof *s);
	struct conn *c;

	s->xp = xml_parser_new(XML_MODE_STREAM, NULL);
	s->ws = xcalloc(1, sizeof *s->ws);
	/* A message is one stanza, within the stanza limit the tokenizer
	 * enforces; the slack lets that limit speak first. */
	ws_init(s->ws, lim()->max_stanza_size + 4096);
	s->tls = secure;
	strlcpy_ok(s->ip, http_request_client(rq), sizeof s->ip);
	c = http_upgrade(rq, &c2s_proto, s);
	s->conn = c;
	set_parser_limits(s);
	/* An XMPP stream now: the per-connection byte rate applies. */
	c->unlimited_rate = 0;
	conn_set_deadline(c, now_ms() + (int64_t)lim()->auth_timeout * 1000);
}

struct conn *
c2s_bosh_new(const char *client_ip, int secure, void (*drain)(struct conn *),
    void *drain_arg)
{
	struct c2s *s = xcalloc(1, sizeof *s);
	struct conn *c = conn_new_virtual(client_ip, &c2s_proto, s, drain);

	c->drain_arg = drain_arg;
	s->xp = xml_parser_new(XML_MODE_STREAM, NULL);
	s->bosh = 1;
	s->tls = secure;
	s->conn = c;
	strlcpy_ok(s->ip, client_ip, sizeof s->ip);
	set_parser_limits(s);
	conn_set_deadline(c, now_ms() + (int64_t)lim()->auth_timeout * 1000);
	return c;
}

void
c2s_bosh_open(struct conn *c, const char *to, const char *version)
{
	struct c2s *s = c->stream;

	if (s != NULL && !s->done && c->state == CONN_OPEN)
		feed_open(s, to, version);
}

void
c2s_bosh_input(struct conn *c, const char *p, size_t len)
{
	if (c->stream != NULL && c->state == CONN_OPEN)
		c2s_input(c, p, len);
}

void
c2s_shutdown_all(void)
{
	struct conn *c;

	/* Hibernating sessions end now: their stanzas go offline. */
	while (hibernating != NULL) {
		struct c2s *h = hibernating;
		unhibernate(h);
		c2s_destroy(h);
	}
	for (c = conn_first(); c != NULL; c = c->next)
		if (c->proto == &c2s_proto && conn_is_open(c))
			stream_error(c->stream, "system-shutdown",
			    "Server is shutting down");
}
