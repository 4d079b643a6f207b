/*
 * s2s.c - server-to-server streams.
 *
 * Outgoing: one route per (local domain, remote domain).  A stanza for a
 * remote domain waits in the route's bounded queue while the route finds
 * the peer (SRV _xmpp-server._tcp, then the domain itself on 5269, RFC 6120
 * 3.2), connects, negotiates STARTTLS and authenticates: SASL EXTERNAL
 * (XEP-0178) when the peer's certificate is trusted and names the domain,
 * else dialback (XEP-0220).  When the route cannot be made, every waiting
 * stanza is bounced with remote-server-not-found or remote-server-timeout.
 *
 * Incoming: the peer asks for a domain pair with <db:result/>; we ask the
 * authoritative server of the claimed domain (over our own route to it)
 * with <db:verify/>, and only then accept stanzas for that pair.  Every
 * stanza's from and to are checked against the verified pairs.
 *
 * Dialback keys follow XEP-0185: HMAC-SHA256 keyed with SHA-256 of a
 * secret made at start-up.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bearssl.h>

#include "conn.h"
#include "modules/module.h"
#include "resolver.h"
#include "s2s.h"
#include "server.h"
#include "stream.h"
#include "tls.h"

#define NS_DB		"jabber:server:dialback"
#define NS_DB_FEATURE	"urn:xmpp:features:dialback"
#define NS_TLS		"urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL		"urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STREAMS	"urn:ietf:params:xml:ns:xmpp-streams"

#define MAX_TARGETS	8	/* SRV targets tried per route */
#define MAX_ADDRS	8	/* addresses tried per target */
#define MAX_PAIRS	16	/* verified domain pairs per incoming stream */
#define MAX_VERIFIES	64	/* db:verify waiting per route */
#define CONNECT_MS	10000	/* per address */
#define DEFAULT_PORT	5269

static unsigned char	secret[32];
static int		secret_made;

/* ---- dialback keys ---- */

void
s2s_dialback_key(const unsigned char *sec, size_t seclen, const char *receiving,
    const char *originating, const char *id, char out[65])
{
	br_sha256_context sh;
	br_hmac_key_context kc;
	br_hmac_context hc;
	unsigned char k[32], mac[32];

	br_sha256_init(&sh);
	br_sha256_update(&sh, sec, seclen);
	br_sha256_out(&sh, k);
	br_hmac_key_init(&kc, &br_sha256_vtable, k, sizeof k);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, receiving, strlen(receiving));
	br_hmac_update(&hc, " ", 1);
	br_hmac_update(&hc, originating, strlen(originating));
	br_hmac_update(&hc, " ", 1);
	br_hmac_update(&hc, id, strlen(id));
	br_hmac_out(&hc, mac);
	for (size_t i = 0; i < sizeof mac; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	explicit_bzero(k, sizeof k);
}

static void
key_for(const char *receiving, const char *originating, const char *id,
    char out[65])
{
	s2s_dialback_key(secret, sizeof secret, receiving, originating, id, out);
}

/* A domain we answer for: a host or a service domain of a module. */
static int
is_local_domain(const char *d)
{
	if (host_is_local(d))
		return 1;
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->serves_domain && module_enabled(*m) && (*m)->serves_domain(d))
			return 1;
	return 0;
}

static const struct limits *
lim(void)
{
	return &server_config()->limits;
}

static void
send_text(struct conn *c, const char *s)
{
	conn_send(c, s, strlen(s));
}

static void
send_header(struct conn *c, const char *from, const char *to, const char *id)
{
	struct buf b;

	buf_init(&b, 4096);
	buf_addstr(&b, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' "
	    "xmlns:db='jabber:server:dialback' version='1.0' from='");
	buf_add_escaped(&b, from, strlen(from));
	if (to != NULL) {
		buf_addstr(&b, "' to='");
		buf_add_escaped(&b, to, strlen(to));
	}
	if (id != NULL) {
		buf_addstr(&b, "' id='");
		buf_addstr(&b, id);
	}
	buf_addstr(&b, "'>");
	conn_send(c, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

static void
send_db(struct conn *c, const char *elem, const char *from, const char *to,
    const char *id, const char *type, const char *key)
{
	struct xml_node *n = xml_new(xml_arena_new(), elem, NS_DB);

	xml_set_attr(n, "from", from);
	xml_set_attr(n, "to", to);
	if (id != NULL)
		xml_set_attr(n, "id", id);
	if (type != NULL)
		xml_set_attr(n, "type", type);
	if (key != NULL)
		xml_add_text(n, key, strlen(key));
	/* The db prefix is declared in our header; the serializer declares
	 * the namespace on the element itself, which is just as valid. */
	conn_send_xml(c, n, NS_SERVER);
	xml_arena_free(n->arena);
}

static struct xml_parser *
new_parser(void)
{
	const struct limits *l = lim();
	struct xml_limits xl = { l->max_stanza_size, l->max_depth, l->max_attrs,
	    l->max_name };

	return xml_parser_new(XML_MODE_STREAM, &xl);
}

static void
make_id(char *out, size_t outlen)
{
	unsigned char r[12];

	random_bytes(r, sizeof r);
	b64_encode(r, sizeof r, out, outlen);
	for (char *p = out; *p; p++)
		if (*p == '+' || *p == '/')
			*p = 'x';
}

/* ================= outgoing routes ================= */

enum out_state {
	O_RESOLVE,	/* SRV, then addresses */
	O_CONNECT,
	O_HEADER,	/* our header sent, theirs awaited */
	O_FEATURES,
	O_TLS,		/* <starttls/> sent */
	O_SASL,		/* <auth mechanism='EXTERNAL'/> sent */
	O_DIALBACK,	/* <db:result/> sent */
	O_READY
};

struct pending {
	struct xml_node	*st;		/* own arena */
	struct pending	*next;
};

struct verify {
	uint64_t	 in_conn;	/* the incoming stream that asked */
	char		 id[128];	/* its stream id */
	char		 key[65];
	int		 sent;
	struct verify	*next;
};

struct route {
	char		 local[JID_PART_MAX + 1];
	char		 remote[JID_PART_MAX + 1];
	enum out_state	 state;
	struct {
		char	 host[DNS_NAME_MAX + 1];
		uint16_t port;
		int	 direct_tls;	/* XEP-0368: TLS from the first byte */
	}		 tgt[MAX_TARGETS];
	struct dns_result srv[2];	/* _xmpp-server, _xmpps-server answers */
	size_t		 ntgt, itgt;
	struct sockaddr_storage addr[MAX_ADDRS];
	socklen_t	 addrlen[MAX_ADDRS];
	size_t		 naddr, iaddr;
	int		 lookups;	/* A/AAAA answers still to come */
	uint64_t	 dns[2];
	int		 timed_out;	/* something timed out: say so when bouncing */
	struct conn	*conn;
	struct xml_parser *xp;
	char		 stream_id[128];
	int		 tls, restarted, db_ns;
	struct pending	*q, **qtail;
	size_t		 nq;
	struct verify	*verifies;
	size_t		 nverifies;
	int64_t		 deadline;	/* the whole setup */
	int64_t		 last_used;
	struct route	*next;
};

static struct route	*routes;
static size_t		 nroutes;

static void	route_connected(struct conn *);
static void	route_input(struct conn *, const char *, size_t);
static void	route_closed(struct conn *);
static void	route_timeout(struct conn *);
static void	route_free_conn(struct conn *);
static void	next_target(struct route *);
static void	try_addr(struct route *);
static int	route_find_ptr(const struct route *);

static const struct conn_proto out_proto = {
	route_input, route_closed, route_timeout, route_free_conn, route_connected,
	NULL
};

static struct route *
route_find(const char *local, const char *remote)
{
	for (struct route *r = routes; r != NULL; r = r->next)
		if (strcmp(r->local, local) == 0 && strcmp(r->remote, remote) == 0)
			return r;
	return NULL;
}

/* Tell an incoming stream what the authoritative server said. */
static void	in_verified(uint64_t conn_id, const char *local, const char *remote,
		    int valid);

static void
drop_conn(struct route *r, const char *why)
{
	if (r->conn != NULL) {
		r->conn->stream = NULL;		/* the route lets go of it */
		conn_close(r->conn, why);
		r->conn = NULL;
	}
	if (r->xp != NULL) {
		xml_parser_free(r->xp);
		r->xp = NULL;
	}
	r->tls = r->restarted = r->db_ns = 0;
	r->stream_id[0] = '\0';
}

static void
route_free(struct route *r)
{
	struct route **rp;

	for (rp = &routes; *rp != NULL; rp = &(*rp)->next)
		if (*rp == r) {
			*rp = r->next;
			break;
		}
	nroutes--;
	for (int i = 0; i < 2; i++)
		if (r->dns[i] != 0)
			resolve_cancel(r->dns[i]);
	drop_conn(r, "route closed");
	while (r->q != NULL) {
		struct pending *p = r->q;
		r->q = p->next;
		xml_arena_free(p->st->arena);
		free(p);
	}
	while (r->verifies != NULL) {
		struct verify *v = r->verifies;
		r->verifies = v->next;
		free(v);
	}
	free(r);
}

/* The route cannot be made: bounce what waits, refuse pending verifies. */
static void
route_fail(struct route *r, enum stanza_error e, const char *why)
{
	struct pending *p;
	struct verify *v;

	log_info("s2s %s -> %s: %s", r->local, r->remote, why);
	/* Detach everything first: bouncing routes new stanzas. */
	p = r->q;
	r->q = NULL;
	r->qtail = &r->q;
	r->nq = 0;
	v = r->verifies;
	r->verifies = NULL;
	r->nverifies = 0;
	route_free(r);
	while (v != NULL) {
		struct verify *next = v->next;
		in_verified(v->in_conn, "", "", -1);
		free(v);
		v = next;
	}
	while (p != NULL) {
		struct pending *next = p->next;
		route_error(p->st, e, why);
		xml_arena_free(p->st->arena);
		free(p);
		p = next;
	}
}

static void
flush_verifies(struct route *r)
{
	for (struct verify *v = r->verifies; v != NULL; v = v->next)
		if (!v->sent) {
			send_db(r->conn, "verify", r->local, r->remote, v->id, NULL,
			    v->key);
			v->sent = 1;
		}
}

static void
route_ready(struct route *r)
{
	struct pending *p;

	r->state = O_READY;
	r->last_used = now_ms();
	conn_set_deadline(r->conn, now_ms() + (int64_t)lim()->s2s_idle_timeout * 1000);
	log_info("s2s %s -> %s: ready (%s)", r->local, r->remote,
	    r->tls ? "TLS" : "no TLS");
	while ((p = r->q) != NULL) {
		r->q = p->next;
		conn_send_xml(r->conn, p->st, NS_SERVER);
		xml_arena_free(p->st->arena);
		free(p);
	}
	r->qtail = &r->q;
	r->nq = 0;
	flush_verifies(r);
}

/* ---- finding the peer ---- */

static void
got_addr(void *arg, const struct dns_result *res)
{
	struct route *r = arg;

	r->lookups--;
	if (res->status == DNS_TIMEOUT)
		r->timed_out = 1;
	for (size_t i = 0; i < res->n && r->naddr < MAX_ADDRS; i++) {
		struct sockaddr_storage *ss = &r->addr[r->naddr];
		memset(ss, 0, sizeof *ss);
		if (res->rr[i].type == DNS_T_AAAA) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_addr = res->rr[i].aaaa;
			s6->sin6_port = htons(r->tgt[r->itgt].port);
			r->addrlen[r->naddr++] = sizeof *s6;
		} else if (res->rr[i].type == DNS_T_A) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
			s4->sin_family = AF_INET;
			s4->sin_addr = res->rr[i].a;
			s4->sin_port = htons(r->tgt[r->itgt].port);
			r->addrlen[r->naddr++] = sizeof *s4;
		}
	}
	if (r->lookups > 0)
		return;
	r->dns[0] = r->dns[1] = 0;
	r->iaddr = 0;
	try_addr(r);
}

static void
next_target(struct route *r)
{
	const char *host;
	struct in_addr a4;
	struct in6_addr a6;

	if (r->itgt >= r->ntgt) {
		route_fail(r, r->timed_out ? ERR_REMOTE_SERVER_TIMEOUT :
		    ERR_REMOTE_SERVER_NOT_FOUND, r->timed_out ?
		    "the remote server did not answer in time" :
		    "the remote server cannot be reached");
		return;
	}
	host = r->tgt[r->itgt].host;
	r->naddr = 0;
	r->iaddr = 0;
	/* An address literal needs no lookup. */
	if (inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
		struct dns_result one;
		memset(&one, 0, sizeof one);
		one.n = 1;
		if (inet_pton(AF_INET, host, &a4) == 1) {
			one.rr[0].type = DNS_T_A;
			one.rr[0].a = a4;
		} else {
			one.rr[0].type = DNS_T_AAAA;
			one.rr[0].aaaa = a6;
		}
		r->lookups = 1;
		got_addr(r, &one);
		return;
	}
	r->lookups = 2;
	r->dns[0] = resolve(host, DNS_T_AAAA, got_addr, r);
	r->dns[1] = resolve(host, DNS_T_A, got_addr, r);
}

/*
 * Both SRV answers are in (_xmpps-server for direct TLS, XEP-0368, and
 * _xmpp-server): one list by priority then weight, direct TLS first on a
 * tie (it saves a round trip).
 */
static void
srv_done(struct route *r)
{
	struct dns_result *all = &r->srv[0], *tls = &r->srv[1];
	size_t i;

	r->ntgt = r->itgt = 0;
	dns_sort_srv(all);
	dns_sort_srv(tls);
	for (size_t a = 0, t = 0; (a < all->n || t < tls->n) && r->ntgt < MAX_TARGETS; ) {
		int take_tls = t < tls->n && (a >= all->n ||
		    tls->rr[t].priority <= all->rr[a].priority);
		const struct dns_rr *rr = take_tls ? &tls->rr[t++] : &all->rr[a++];

		if (strcmp(rr->target, ".") == 0 || rr->target[0] == '\0')
			continue;	/* RFC 2782: "decidedly not available" */
		strlcpy_ok(r->tgt[r->ntgt].host, rr->target, sizeof r->tgt[0].host);
		r->tgt[r->ntgt].port = rr->port;
		r->tgt[r->ntgt++].direct_tls = take_tls;
	}
	if (r->ntgt == 0) {
		for (i = 0; i < all->n; i++)
			if (strcmp(all->rr[i].target, ".") == 0) {
				route_fail(r, ERR_REMOTE_SERVER_NOT_FOUND,
				    "the domain offers no XMPP service");
				return;
			}
		/* RFC 6120 3.2.2: no SRV records: the domain on 5269. */
		strlcpy_ok(r->tgt[0].host, r->remote, sizeof r->tgt[0].host);
		r->tgt[0].port = DEFAULT_PORT;
		r->tgt[0].direct_tls = 0;
		r->ntgt = 1;
	}
	next_target(r);
}

static void
got_srv(void *arg, const struct dns_result *res, int which)
{
	struct route *r = arg;

	r->dns[which] = 0;
	if (res->status == DNS_TIMEOUT)
		r->timed_out = 1;
	r->srv[which] = *res;
	if (res->status != DNS_OK)
		r->srv[which].n = 0;
	if (--r->lookups == 0)
		srv_done(r);
}

static void
got_srv_plain(void *arg, const struct dns_result *res)
{
	got_srv(arg, res, 0);
}

static void
got_srv_tls(void *arg, const struct dns_result *res)
{
	got_srv(arg, res, 1);
}

static void
route_start(struct route *r)
{
	char name[DNS_NAME_MAX + 1], tname[DNS_NAME_MAX + 1];

	r->state = O_RESOLVE;
	r->timed_out = 0;
	r->deadline = now_ms() + (int64_t)lim()->s2s_timeout * 1000;
	if (snprintf(name, sizeof name, "_xmpp-server._tcp.%s", r->remote) >=
	    (int)sizeof name ||
	    snprintf(tname, sizeof tname, "_xmpps-server._tcp.%s", r->remote) >=
	    (int)sizeof tname) {
		route_fail(r, ERR_REMOTE_SERVER_NOT_FOUND, "domain name too long");
		return;
	}
	r->lookups = 2;
	r->dns[0] = resolve(name, DNS_T_SRV, got_srv_plain, r);
	r->dns[1] = resolve(tname, DNS_T_SRV, got_srv_tls, r);
}

static void
try_addr(struct route *r)
{
	while (r->iaddr < r->naddr) {
		struct conn *c = conn_connect((struct sockaddr *)&r->addr[r->iaddr],
		    r->addrlen[r->iaddr], &out_proto, r);
		r->iaddr++;
		if (c == NULL)
			continue;
		r->conn = c;
		r->state = O_CONNECT;
		conn_set_deadline(c, now_ms() + CONNECT_MS);
		return;
	}
	r->itgt++;
	next_target(r);
}

/* This connection attempt failed: the next address, target, or give up. */
static void
attempt_failed(struct route *r, const char *why)
{
	log_info("s2s %s -> %s: %s", r->local, r->remote, why);
	drop_conn(r, why);
	if (r->state == O_READY) {
		/* A working route went away: start again only if needed. */
		if (r->q == NULL && r->verifies == NULL)
			route_free(r);
		else
			route_start(r);
		return;
	}
	r->state = O_CONNECT;
	try_addr(r);
}

/* ---- the outgoing stream ---- */

static void
route_connected(struct conn *c)
{
	struct route *r = c->stream;

	if (r == NULL)
		return;
	r->xp = new_parser();
	r->state = O_HEADER;
	if (r->tgt[r->itgt].direct_tls) {
		conn_start_tls_client(c, r->remote, server_creds(r->local));
		r->tls = 1;
	}
	send_header(c, r->local, r->remote, NULL);
}

static int
peer_trusted(struct route *r)
{
	struct tls *t = conn_tls(r->conn);

	return t != NULL && tls_peer_is_trusted(t) && tls_peer_names(t, r->remote);
}

static void
authenticate(struct route *r, struct xml_node *features)
{
	const struct config *cfg = server_config();
	struct xml_node *mechs = xml_child(features, "mechanisms", NS_SASL), *m;
	int trusted = peer_trusted(r);
	char key[65], b64[JID_PART_MAX * 2 + 8];

	if (r->tls && !trusted)
		log_info("s2s %s -> %s: certificate %s", r->local, r->remote,
		    tls_peer_verdict(conn_tls(r->conn)));
	if (cfg->s2s_secure_auth && !trusted) {
		route_fail(r, ERR_REMOTE_SERVER_NOT_FOUND,
		    "the remote server has no valid certificate (s2s_secure_auth)");
		return;
	}
	for (m = mechs ? xml_child(mechs, "mechanism", NULL) : NULL; m != NULL;
	    m = xml_next(m, "mechanism", NULL))
		if (trusted && strcmp(xml_text(m), "EXTERNAL") == 0) {
			/* XEP-0178: our certificate speaks for our domain. */
			b64_encode(r->local, strlen(r->local), b64, sizeof b64);
			send_text(r->conn, "<auth xmlns='" NS_SASL "' "
			    "mechanism='EXTERNAL'>");
			send_text(r->conn, b64);
			send_text(r->conn, "</auth>");
			r->state = O_SASL;
			return;
		}
	if (xml_child(features, "dialback", NS_DB_FEATURE) == NULL && !r->db_ns) {
		route_fail(r, ERR_REMOTE_SERVER_NOT_FOUND,
		    "the remote server offers no authentication we know");
		return;
	}
	key_for(r->remote, r->local, r->stream_id, key);
	send_db(r->conn, "result", r->local, r->remote, NULL, NULL, key);
	r->state = O_DIALBACK;
	/* Verifies need no authenticated stream (XEP-0220 2.4). */
	flush_verifies(r);
}

static void
on_features(struct route *r, struct xml_node *f)
{
	const struct config *cfg = server_config();

	if (r->restarted) {
		route_ready(r);		/* after SASL: no bind for servers */
		return;
	}
	if (!r->tls && xml_child(f, "starttls", NS_TLS) != NULL) {
		send_text(r->conn, "<starttls xmlns='" NS_TLS "'/>");
		r->state = O_TLS;
		return;
	}
	if (!r->tls && cfg->s2s_require_encryption) {
		route_fail(r, ERR_REMOTE_SERVER_NOT_FOUND,
		    "the remote server does not offer TLS (s2s_require_encryption)");
		return;
	}
	authenticate(r, f);
}

static void
on_verify_answer(struct route *r, struct xml_node *st)
{
	const char *id = xml_attr(st, "id"), *type = xml_attr(st, "type");
	struct verify **vp, *v;

	if (id == NULL || type == NULL)
		return;
	for (vp = &r->verifies; (v = *vp) != NULL; vp = &v->next)
		if (v->sent && strcmp(v->id, id) == 0)
			break;
	if (v == NULL)
		return;
	*vp = v->next;
	r->nverifies--;
	in_verified(v->in_conn, r->local, r->remote, strcmp(type, "valid") == 0);
	free(v);
}

static void
route_element(struct route *r, struct xml_node *st)
{
	if (xml_is(st, "features", NS_STREAM)) {
		on_features(r, st);
	} else if (xml_is(st, "proceed", NS_TLS) && r->state == O_TLS) {
		conn_start_tls_client(r->conn, r->remote, server_creds(r->local));
		r->tls = 1;
		xml_parser_reset(r->xp);
		r->state = O_HEADER;
		send_header(r->conn, r->local, r->remote, NULL);
	} else if (xml_is(st, "failure", NS_TLS)) {
		attempt_failed(r, "the remote server refused STARTTLS");
	} else if (xml_is(st, "success", NS_SASL) && r->state == O_SASL) {
		xml_parser_reset(r->xp);
		r->restarted = 1;
		r->state = O_HEADER;
		send_header(r->conn, r->local, r->remote, NULL);
	} else if (xml_is(st, "failure", NS_SASL) && r->state == O_SASL) {
		char key[65];
		/* EXTERNAL refused: dialback may still work. */
		key_for(r->remote, r->local, r->stream_id, key);
		send_db(r->conn, "result", r->local, r->remote, NULL, NULL, key);
		r->state = O_DIALBACK;
	} else if (xml_is(st, "result", NS_DB) && r->state == O_DIALBACK) {
		const char *type = xml_attr(st, "type");
		if (type != NULL && strcmp(type, "valid") == 0)
			route_ready(r);
		else
			route_fail(r, ERR_REMOTE_SERVER_NOT_FOUND,
			    "the remote server refused our dialback key");
	} else if (xml_is(st, "verify", NS_DB)) {
		on_verify_answer(r, st);
	} else if (xml_is(st, "error", NS_STREAM)) {
		struct xml_node *cond = xml_first_element(st);
		char why[128];
		snprintf(why, sizeof why, "stream error from the remote server: %s",
		    cond ? cond->name : "?");
		attempt_failed(r, why);
	}
	/* Anything else on our outgoing stream is ignored. */
}

static void
route_input(struct conn *c, const char *buf, size_t len)
{
	struct route *r = c->stream;

	while (r != NULL && r->conn == c && len > 0 && c->state == CONN_OPEN) {
		size_t n = xml_feed(r->xp, buf, len);
		struct xml_node *st;

		buf += n;
		len -= n;
		switch (xml_event(r->xp)) {
		case XML_EV_NONE:
			break;
		case XML_EV_STREAM_OPEN: {
			const struct xml_node *h = xml_stream_header(r->xp);
			const char *id = xml_attr(h, "id");
			if (strcmp(xml_stream_default_ns(r->xp), NS_SERVER) != 0 ||
			    id == NULL || strlen(id) >= sizeof r->stream_id) {
				attempt_failed(r, "bad stream header from the remote server");
				return;
			}
			strlcpy_ok(r->stream_id, id, sizeof r->stream_id);
			r->db_ns = 1;	/* checked by the dialback feature too */
			r->state = O_FEATURES;
			break;
		}
		case XML_EV_STANZA:
		case XML_EV_DOCUMENT:
			if ((st = xml_take_stanza(r->xp)) != NULL) {
				route_element(r, st);
				xml_arena_free(st->arena);
				/* The route may be gone now. */
				if (route_find_ptr(r) == 0)
					return;
			}
			break;
		case XML_EV_STREAM_CLOSE:
			attempt_failed(r, "the remote server closed the stream");
			return;
		case XML_EV_ERROR:
			attempt_failed(r, xml_error(r->xp));
			return;
		}
		if (n == 0)
			break;
	}
}

static void
route_closed(struct conn *c)
{
	struct route *r = c->stream;

	if (r == NULL || r->conn != c)
		return;
	c->stream = NULL;
	r->conn = NULL;
	attempt_failed(r, c->close_reason ? c->close_reason : "connection closed");
}

static void
route_timeout(struct conn *c)
{
	struct route *r = c->stream;

	if (r == NULL)
		return;
	if (r->state == O_READY) {
		if (now_ms() - r->last_used >= (int64_t)lim()->s2s_idle_timeout * 1000) {
			send_text(c, "</stream:stream>");
			c->stream = NULL;
			r->conn = NULL;
			conn_close(c, "idle");
			if (r->q == NULL && r->verifies == NULL)
				route_free(r);
			else
				route_start(r);
		} else
			conn_set_deadline(c, r->last_used +
			    (int64_t)lim()->s2s_idle_timeout * 1000);
		return;
	}
	r->timed_out = 1;
	attempt_failed(r, "timed out");
}

static void
route_free_conn(struct conn *c)
{
	/* The route owns nothing the connection must free. */
}

static int
route_find_ptr(const struct route *r)
{
	for (struct route *x = routes; x != NULL; x = x->next)
		if (x == r)
			return 1;
	return 0;
}

static struct route *
route_get(const char *local, const char *remote)
{
	struct route *r = route_find(local, remote);

	if (r != NULL)
		return r;
	r = xcalloc(1, sizeof *r);
	strlcpy_ok(r->local, local, sizeof r->local);
	strlcpy_ok(r->remote, remote, sizeof r->remote);
	r->qtail = &r->q;
	r->next = routes;
	routes = r;
	nroutes++;
	route_start(r);
	return r;
}

void
s2s_send(struct xml_node *st, const struct jid *to)
{
	const char *from = xml_attr(st, "from");
	struct jid fj;
	struct route *r;
	struct pending *p;

	if (from == NULL || jid_parse(&fj, from) == -1 || !is_local_domain(fj.domain))
		return;		/* only our own users' stanzas leave */
	if (server_is_stopping()) {
		/* Goodbyes (unavailable presence) ride on streams that are
		 * up; no new connections while we stop. */
		r = route_find(fj.domain, to->domain);
		if (r != NULL && r->state == O_READY && r->conn != NULL)
			conn_send_xml(r->conn, st, NS_SERVER);
		return;
	}
	if (server_config()->s2s_ports.n + server_config()->s2s_direct_tls_ports.n == 0) {
		/* Dialback needs the peer to reach us back. */
		route_error(st, ERR_REMOTE_SERVER_NOT_FOUND,
		    "Federation is off on this server (no s2s_ports)");
		return;
	}
	r = route_get(fj.domain, to->domain);
	if (r->state == O_READY && r->conn != NULL) {
		r->last_used = now_ms();
		conn_send_xml(r->conn, st, NS_SERVER);
		return;
	}
	if (r->nq >= lim()->s2s_queue) {
		route_error(st, ERR_RESOURCE_CONSTRAINT,
		    "Too many stanzas waiting for this server");
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->st = xml_copy(xml_arena_new(), st);
	*r->qtail = p;
	r->qtail = &p->next;
	r->nq++;
}

/* An incoming stream wants remote's key checked by remote's own server. */
static void
ask_verify(uint64_t in_conn, const char *local, const char *remote,
    const char *id, const char *key)
{
	struct route *r = route_get(local, remote);
	struct verify *v;

	if (r->nverifies >= MAX_VERIFIES) {
		in_verified(in_conn, local, remote, 0);
		return;
	}
	v = xcalloc(1, sizeof *v);
	v->in_conn = in_conn;
	strlcpy_ok(v->id, id, sizeof v->id);
	strlcpy_ok(v->key, key, sizeof v->key);
	v->next = r->verifies;
	r->verifies = v;
	r->nverifies++;
	if (r->conn != NULL && (r->state == O_DIALBACK || r->state == O_READY))
		flush_verifies(r);
}

/* ================= incoming streams ================= */

struct pair {
	char	local[JID_PART_MAX + 1];
	char	remote[JID_PART_MAX + 1];
	int	valid;
};

struct s2s_in {
	struct conn	*conn;
	struct xml_parser *xp;
	int		 header_sent, tls, done;
	char		 sasl_remote[JID_PART_MAX + 1];	/* authenticated by EXTERNAL */
	int		 closing;	/* our </stream:stream> sent, theirs awaited */
	char		 id[32];
	char		 local[JID_PART_MAX + 1];	/* the header's 'to' */
	struct pair	 pairs[MAX_PAIRS];
	size_t		 npairs;
};

static void	in_input(struct conn *, const char *, size_t);
static void	in_closed(struct conn *);
static void	in_timeout(struct conn *);
static void	in_free(struct conn *);

static const struct conn_proto in_proto = {
	in_input, in_closed, in_timeout, in_free, NULL, NULL
};

static void
in_error(struct s2s_in *s, const char *cond, const char *text)
{
	if (s->done)
		return;
	if (!s->header_sent) {
		make_id(s->id, sizeof s->id);
		send_header(s->conn, s->local[0] ? s->local : "localhost", NULL, s->id);
		s->header_sent = 1;
	}
	s->done = 1;
	stream_error_close(s->conn, cond, text, "s2s stream error");
}

static void
in_header(struct s2s_in *s)
{
	const struct config *cfg = server_config();
	const struct xml_node *h = xml_stream_header(s->xp);
	const char *to = xml_attr(h, "to");
	char local[JID_PART_MAX + 1];
	struct buf b;

	if (strcmp(xml_stream_default_ns(s->xp), NS_SERVER) != 0) {
		in_error(s, "invalid-namespace", "This port serves jabber:server");
		return;
	}
	if (to == NULL || strlcpy_ok(local, to, sizeof local) == -1 ||
	    jid_prep_domain(local) == -1 || !is_local_domain(local)) {
		in_error(s, "host-unknown", "This server does not serve that domain");
		return;
	}
	strlcpy_ok(s->local, local, sizeof s->local);
	make_id(s->id, sizeof s->id);
	send_header(s->conn, s->local, NULL, s->id);
	s->header_sent = 1;
	buf_init(&b, 1024);
	buf_addstr(&b, "<stream:features>");
	if (!s->tls)
		buf_addstr(&b, cfg->s2s_require_encryption ?
		    "<starttls xmlns='" NS_TLS "'><required/></starttls>" :
		    "<starttls xmlns='" NS_TLS "'/>");
	if (s->tls && conn_tls(s->conn) != NULL)
		conn_log(s->conn, LOG_LVL_DEBUG, "s2s peer certificate: %s",
		    tls_peer_verdict(conn_tls(s->conn)));
	if (s->sasl_remote[0] == '\0' && s->tls && conn_tls(s->conn) != NULL &&
	    tls_peer_is_trusted(conn_tls(s->conn)))
		/* XEP-0178: the peer showed a certificate we trust. */
		buf_addstr(&b, "<mechanisms xmlns='" NS_SASL "'><mechanism>EXTERNAL"
		    "</mechanism></mechanisms>");
	/* Dialback only when certificates are not required (secure auth). */
	if (s->sasl_remote[0] == '\0' && !cfg->s2s_secure_auth &&
	    (s->tls || !cfg->s2s_require_encryption))
		buf_addstr(&b, "<dialback xmlns='" NS_DB_FEATURE "'><errors/></dialback>");
	buf_addstr(&b, "</stream:features>");
	conn_send(s->conn, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

static struct pair *
pair_find(struct s2s_in *s, const char *local, const char *remote)
{
	for (size_t i = 0; i < s->npairs; i++)
		if (strcmp(s->pairs[i].local, local) == 0 &&
		    strcmp(s->pairs[i].remote, remote) == 0)
			return &s->pairs[i];
	return NULL;
}

static void
in_verified(uint64_t conn_id, const char *local, const char *remote, int valid)
{
	struct conn *c = conn_by_id(conn_id);
	struct s2s_in *s;
	struct pair *p;

	if (c == NULL || c->proto != &in_proto || (s = c->stream) == NULL || s->done)
		return;
	if (valid < 0) {
		/* The authoritative server could not be asked at all. */
		for (size_t i = 0; i < s->npairs; i++)
			if (!s->pairs[i].valid)
				send_db(c, "result", s->pairs[i].local,
				    s->pairs[i].remote, NULL, "invalid", NULL);
		in_error(s, "remote-connection-failed",
		    "Could not reach your authoritative server to verify the key");
		return;
	}
	if ((p = pair_find(s, local, remote)) == NULL)
		return;
	send_db(c, "result", local, remote, NULL, valid ? "valid" : "invalid", NULL);
	if (!valid) {
		conn_log(c, LOG_LVL_INFO, "s2s dialback for %s failed", remote);
		in_error(s, "not-authorized", "Dialback key not valid");
		return;
	}
	p->valid = 1;
	conn_set_authenticated(c);
	conn_set_deadline(c, now_ms() + (int64_t)lim()->s2s_idle_timeout * 1000);
	conn_log(c, LOG_LVL_INFO, "s2s %s -> %s: verified by dialback", remote, local);
}

static void
in_db_result(struct s2s_in *s, struct xml_node *st)
{
	const char *from = xml_attr(st, "from"), *to = xml_attr(st, "to");
	char remote[JID_PART_MAX + 1], local[JID_PART_MAX + 1];
	const char *key = xml_text(st);
	struct pair *p;

	if (from == NULL || to == NULL || strlcpy_ok(remote, from, sizeof remote) == -1 ||
	    strlcpy_ok(local, to, sizeof local) == -1 || jid_prep_domain(remote) == -1 ||
	    jid_prep_domain(local) == -1) {
		in_error(s, "improper-addressing", "db:result needs from and to");
		return;
	}
	if (!is_local_domain(local)) {
		send_db(s->conn, "result", local, remote, NULL, "error", NULL);
		return;
	}
	if (!s->tls && server_config()->s2s_require_encryption) {
		in_error(s, "policy-violation", "STARTTLS is required first");
		return;
	}
	if (server_config()->s2s_secure_auth) {
		/* As the remote admin should read it: the certificate. */
		in_error(s, "not-authorized", "Your server's certificate is not "
		    "trusted here (s2s_secure_auth)");
		return;
	}
	if ((p = pair_find(s, local, remote)) == NULL) {
		if (s->npairs == MAX_PAIRS) {
			in_error(s, "policy-violation", "Too many domains on one stream");
			return;
		}
		p = &s->pairs[s->npairs++];
		strlcpy_ok(p->local, local, sizeof p->local);
		strlcpy_ok(p->remote, remote, sizeof p->remote);
	}
	if (strlen(key) != 64 || is_local_domain(remote)) {
		send_db(s->conn, "result", local, remote, NULL, "invalid", NULL);
		return;
	}
	ask_verify(s->conn->id, local, remote, s->id, key);
}

/* SASL EXTERNAL (XEP-0178): the certificate must name the domain. */
static void
in_sasl(struct s2s_in *s, struct xml_node *st)
{
	const struct xml_node *h = xml_stream_header(s->xp);
	const char *mech = xml_attr(st, "mechanism"), *text = xml_text(st);
	struct tls *t = conn_tls(s->conn);
	char domain[JID_PART_MAX + 1];
	ssize_t n;

	if (!xml_is(st, "auth", NS_SASL) || mech == NULL ||
	    strcmp(mech, "EXTERNAL") != 0 || s->sasl_remote[0] != '\0') {
		send_text(s->conn, "<failure xmlns='" NS_SASL "'><invalid-mechanism/>"
		    "</failure>");
		return;
	}
	if (*text != '\0' && strcmp(text, "=") != 0) {
		n = b64_decode(text, strlen(text), domain, sizeof domain - 1);
		if (n <= 0) {
			send_text(s->conn, "<failure xmlns='" NS_SASL "'>"
			    "<incorrect-encoding/></failure>");
			return;
		}
		domain[n] = '\0';
	} else if (xml_attr(h, "from") == NULL ||
	    strlcpy_ok(domain, xml_attr(h, "from"), sizeof domain) == -1) {
		send_text(s->conn, "<failure xmlns='" NS_SASL "'><invalid-authzid/>"
		    "</failure>");
		return;
	}
	if (jid_prep_domain(domain) == -1 || is_local_domain(domain) || t == NULL ||
	    !tls_peer_is_trusted(t) || !tls_peer_names(t, domain)) {
		conn_log(s->conn, LOG_LVL_INFO, "s2s EXTERNAL for %s refused", domain);
		send_text(s->conn, "<failure xmlns='" NS_SASL "'><not-authorized/>"
		    "</failure>");
		return;
	}
	strlcpy_ok(s->sasl_remote, domain, sizeof s->sasl_remote);
	send_text(s->conn, "<success xmlns='" NS_SASL "'/>");
	conn_set_authenticated(s->conn);
	conn_set_deadline(s->conn, now_ms() + (int64_t)lim()->s2s_idle_timeout * 1000);
	conn_log(s->conn, LOG_LVL_INFO, "s2s %s: authenticated by certificate "
	    "(SASL EXTERNAL)", domain);
	xml_parser_reset(s->xp);
	s->header_sent = 0;
}

/* We are the authoritative server: is this key one we made? */
static void
in_db_verify(struct s2s_in *s, struct xml_node *st)
{
	const char *from = xml_attr(st, "from"), *to = xml_attr(st, "to");
	const char *id = xml_attr(st, "id");
	char want[65];
	int ok;

	if (from == NULL || to == NULL || id == NULL) {
		in_error(s, "improper-addressing", "db:verify needs from, to and id");
		return;
	}
	key_for(from, to, id, want);
	ok = is_local_domain(to) && strlen(xml_text(st)) == 64 &&
	    ct_equal(want, xml_text(st), 64);
	send_db(s->conn, "verify", to, from, id, ok ? "valid" : "invalid", NULL);
}

static void
in_stanza(struct s2s_in *s, struct xml_node *st)
{
	const char *from = xml_attr(st, "from"), *to = xml_attr(st, "to");
	struct jid fj, tj;
	struct pair *p;

	if (from == NULL || to == NULL) {
		in_error(s, "improper-addressing", "Stanzas need from and to");
		return;
	}
	if (jid_parse(&fj, from) == -1 || jid_parse(&tj, to) == -1) {
		in_error(s, "invalid-from", "Malformed address");
		return;
	}
	p = pair_find(s, tj.domain, fj.domain);
	if ((p == NULL || !p->valid) && strcmp(s->sasl_remote, fj.domain) != 0) {
		/* RFC 6120 4.9.3.9: from a domain not verified on this stream. */
		in_error(s, "invalid-from", "Domain not verified on this stream");
		return;
	}
	if (!is_local_domain(tj.domain)) {
		in_error(s, "host-unknown", "This server does not serve that domain");
		return;
	}
	/* A stream in use is not idle (unless we are closing it). */
	if (!s->closing)
		conn_set_deadline(s->conn, now_ms() +
		    (int64_t)lim()->s2s_idle_timeout * 1000);
	route(st);
}

static void
in_element(struct s2s_in *s, struct xml_node *st, size_t remaining)
{
	if (xml_is(st, "starttls", NS_TLS)) {
		struct tls_creds *cr = server_creds(s->local);
		if (s->tls || remaining > 0 || cr == NULL) {
			send_text(s->conn, "<failure xmlns='" NS_TLS "'/></stream:stream>");
			s->done = 1;
			conn_close(s->conn, "STARTTLS refused");
			return;
		}
		send_text(s->conn, "<proceed xmlns='" NS_TLS "'/>");
		conn_start_tls_after_flush(s->conn, cr);
		s->tls = 1;
		xml_parser_reset(s->xp);
		s->header_sent = 0;
		return;
	}
	if (st->ns != NULL && strcmp(st->ns, NS_SASL) == 0) {
		in_sasl(s, st);
		return;
	}
	if (xml_is(st, "result", NS_DB)) {
		in_db_result(s, st);
		return;
	}
	if (xml_is(st, "verify", NS_DB)) {
		in_db_verify(s, st);
		return;
	}
	if (st->ns != NULL && strcmp(st->ns, NS_SERVER) == 0 &&
	    (xml_is(st, "message", NULL) || xml_is(st, "presence", NULL) ||
	    xml_is(st, "iq", NULL))) {
		in_stanza(s, st);
		return;
	}
	if (xml_is(st, "error", NS_STREAM)) {
		s->done = 1;
		conn_close(s->conn, "stream error from the remote server");
		return;
	}
	in_error(s, "unsupported-stanza-type", NULL);
}

static void
in_input(struct conn *c, const char *buf, size_t len)
{
	struct s2s_in *s = c->stream;

	while (len > 0 && !s->done && c->state == CONN_OPEN) {
		size_t n = xml_feed(s->xp, buf, len);
		struct xml_node *st;

		buf += n;
		len -= n;
		switch (xml_event(s->xp)) {
		case XML_EV_NONE:
			break;
		case XML_EV_STREAM_OPEN:
			in_header(s);
			break;
		case XML_EV_STANZA:
		case XML_EV_DOCUMENT:
			if ((st = xml_take_stanza(s->xp)) != NULL) {
				in_element(s, st, len);
				xml_arena_free(st->arena);
			}
			break;
		case XML_EV_STREAM_CLOSE:
			if (!s->closing)
				send_text(c, "</stream:stream>");
			s->done = 1;
			conn_close(c, s->closing ? "idle" :
			    "remote server closed the stream");
			return;
		case XML_EV_ERROR:
			in_error(s, xml_error(s->xp), xml_error_detail(s->xp));
			return;
		}
		if (n == 0)
			break;
	}
}

static void
in_closed(struct conn *c)
{
	struct s2s_in *s = c->stream;

	s->done = 1;
}

#define CLOSE_LINGER_MS	10000	/* after our </stream:stream>, for theirs */

static void
in_timeout(struct conn *c)
{
	struct s2s_in *s = c->stream;

	if (s->closing) {
		/* They never answered our close: now it is over. */
		s->done = 1;
		conn_close(c, "idle");
		return;
	}
	if ((s->npairs > 0 || s->sasl_remote[0] != '\0') && c->authenticated) {
		/* RFC 6120 4.4: we close our direction, and keep reading (and
		 * delivering) what they had already sent until they close
		 * theirs, so nothing in flight is lost. */
		send_text(c, "</stream:stream>");
		s->closing = 1;
		conn_set_deadline(c, now_ms() + CLOSE_LINGER_MS);
		return;
	}
	in_error(s, "connection-timeout", "Authentication took too long");
}

static void
in_free(struct conn *c)
{
	struct s2s_in *s = c->stream;

	xml_parser_free(s->xp);
	free(s);
}

void
s2s_accept(int fd, const struct sockaddr *sa, socklen_t sl, int direct_tls)
{
	struct s2s_in *s;
	struct conn *c;
	char ip[64];

	if (!conn_may_accept_addr(sa, ip, sizeof ip)) {
		log_info("s2s connection from %s refused: per-address limit", ip);
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof *s);
	s->xp = new_parser();
	c = conn_new(fd, sa, sl, &in_proto, s);
	c->tls_for_servers = 1;
	s->conn = c;
	conn_set_deadline(c, now_ms() + (int64_t)lim()->s2s_timeout * 1000);
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

/* ================= the rest ================= */

int
s2s_init(void)
{
	const struct config *cfg = server_config();
	const char *ca = cfg->ca_file;
	char err[512];

	if (!secret_made) {
		random_bytes(secret, sizeof secret);
		secret_made = 1;
	}
	/* No federation, no anchors to decode (it costs tens of ms). */
	if (cfg->s2s_ports.n + cfg->s2s_direct_tls_ports.n == 0 && cfg->ca_file == NULL)
		return 0;
	if (ca == NULL && access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
		ca = "/etc/ssl/certs/ca-certificates.crt";
	if (ca == NULL) {
		if (cfg->s2s_ports.n > 0)
			log_info("s2s: no trust anchors (set [tls] ca_file): remote "
			    "servers authenticate by dialback only");
		return 0;
	}
	if (tls_trust_load(ca, err, sizeof err) == -1) {
		log_warnx("s2s: %s", err);
		return cfg->ca_file != NULL ? -1 : 0;
	}
	log_info("s2s: %zu trust anchors from %s", tls_trust_count(), ca);
	return 0;
}

void
s2s_tick(int64_t now)
{
	struct route *r, *next;

	for (r = routes; r != NULL; r = next) {
		next = r->next;
		if (r->state != O_READY && now >= r->deadline) {
			r->timed_out = 1;
			route_fail(r, ERR_REMOTE_SERVER_TIMEOUT,
			    "the remote server did not answer in time");
		}
	}
}

void
s2s_shutdown_all(void)
{
	struct conn *c;

	for (c = conn_first(); c != NULL; c = c->next) {
		if (c->proto == &in_proto && conn_is_open(c))
			in_error(c->stream, "system-shutdown", "Server is shutting down");
		else if (c->proto == &out_proto && conn_is_open(c) && c->stream != NULL) {
			send_text(c, "</stream:stream>");
			conn_close(c, "shutdown");
		}
	}
}

size_t
s2s_count(void)
{
	return nroutes;
}
