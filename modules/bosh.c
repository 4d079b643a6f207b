/*
 * bosh.c - BOSH (XEP-0124) carrying XMPP (XEP-0206) on [bosh] path
 * (default /http-bind) of the HTTP ports, for web clients that cannot
 * use WebSocket.  The XMPP stream is stream.c's, on a virtual connection
 * (conn_new_virtual); this file only maps HTTP requests to it: rids in
 * order within a window of two, one request held for up to `wait`
 * seconds (long polling), the last responses kept for replay, pause,
 * terminate, and the session's end when the client stops asking.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "http.h"
#include "module.h"
#include "server.h"
#include "stream.h"

#define MODNAME		"bosh"
#define DEF_PATH	"/http-bind"
#define REL_BOSH	"urn:xmpp:alt-connections:xbosh"
#define NS_HTTPBIND	"http://jabber.org/protocol/httpbind"
#define NS_XBOSH	"urn:xmpp:xbosh"
#define REQUESTS	2	/* rid window: hold + 1 */
#define DEF_WAIT	60	/* seconds a request may be held */
#define DEF_INACTIVITY	60	/* seconds without a request: session over */
#define MAX_PAUSE	300
#define POLLING		2	/* advertised shortest polling interval */
#define REPLAY_MAX	65536	/* larger responses are not kept for replay */

struct breq;

struct bsess {
	char		 sid[33];
	uint64_t	 conn_id;	/* the virtual c2s connection */
	char		 ip[48];
	uint64_t	 next_rid;	/* the rid processed next */
	unsigned	 wait, hold;
	int		 created;	/* the creation response went out */
	int64_t		 idle_since;	/* no request held since (0: one is) */
	int64_t		 pause_until;
	struct breq	*held[REQUESTS + 1];	/* oldest first */
	size_t		 nheld;
	struct breq	*early;		/* a request ahead of next_rid */
	struct {
		uint64_t rid;
		struct buf body;
	}		 replay[REQUESTS];
	struct bsess	*next;
};

/* One POST: its body while it comes in, then its place in a session. */
struct breq {
	struct http_request *rq;
	struct bsess	*sess;
	uint64_t	 rid;
	int64_t		 since;
	struct buf	 in;
	struct xml_node	*body;		/* parsed, while waiting as "early" */
};

static struct bsess	*sessions;

static const char *
opt(const char *key)
{
	return config_module_opt(server_config(), MODNAME, key);
}

static unsigned
setting(const char *key, unsigned dflt, unsigned max)
{
	unsigned long v;

	return parse_ulong(opt(key), 1, max, &v) == 0 ? (unsigned)v : dflt;
}

static int
flag_secure(void)
{
	int v = 0;
	const char *f = opt("consider_secure");

	return f != NULL && config_parse_bool(f, &v) == 0 && v;
}

/* A body holds a few stanzas: the stanza limit with room for markup. */
static size_t
lim_stanza(void)
{
	return server_config()->limits.max_stanza_size + 16384;
}

static struct conn *
sess_conn(const struct bsess *s)
{
	struct conn *c = conn_by_id(s->conn_id);

	return c != NULL && c->state != CONN_DEAD ? c : NULL;
}

/* ---- answering ---- */

static void
respond(struct http_request *rq, const char *body, size_t len)
{
	http_cors_headers(rq, "POST, OPTIONS");
	http_respond(rq, 200, "text/xml; charset=utf-8", body, len);
}

/* A terminate body outside any session (or for a session now gone). */
static void
terminate(struct http_request *rq, const char *cond)
{
	char b[256];
	int n = snprintf(b, sizeof b, "<body xmlns='" NS_HTTPBIND "' "
	    "type='terminate' condition='%s'/>", cond);

	log_info("%s: %s: terminate %s", MODNAME, http_request_client(rq), cond);
	respond(rq, b, (size_t)n);
}

static void
unhold(struct bsess *s, size_t i)
{
	memmove(&s->held[i], &s->held[i + 1], (s->nheld - i - 1) * sizeof s->held[0]);
	if (--s->nheld == 0)
		s->idle_since = now_ms();
}

/*
 * Answer the oldest held request with what the stream has written (all
 * of it: standalone elements, so any cut between them is fine), as the
 * creation response first, as a terminate body when the stream is over.
 */
static void
answer(struct bsess *s)
{
	struct conn *c = sess_conn(s);
	struct breq *r;
	struct buf b;
	const char *data = c != NULL ? buf_head(&c->out) : "";
	size_t len = c != NULL ? buf_used(&c->out) : 0;
	int end = c == NULL || c->state == CONN_CLOSING;

	if (s->nheld == 0)
		return;
	r = s->held[0];
	unhold(s, 0);
	r->sess = NULL;
	buf_init(&b, len + 1024);
	buf_addstr(&b, "<body xmlns='" NS_HTTPBIND "' xmlns:stream='" NS_STREAM "'");
	if (!s->created) {
		s->created = 1;
		buf_printf(&b, " sid='%s' wait='%u' requests='%d' hold='%u' "
		    "inactivity='%u' maxpause='%d' polling='%d' ver='1.11' "
		    "xmpp:version='1.0' xmpp:restartlogic='true' "
		    "xmlns:xmpp='" NS_XBOSH "'", s->sid, s->wait, REQUESTS,
		    s->hold, setting("inactivity", DEF_INACTIVITY, 3600),
		    MAX_PAUSE, POLLING);
	}
	if (end)
		buf_printf(&b, " type='terminate'%s", len >= 13 &&
		    memcmp(data, "<stream:error", 13) == 0 ?
		    " condition='remote-stream-error'" : "");
	buf_addstr(&b, ">");
	buf_add(&b, data, len);
	buf_addstr(&b, "</body>");
	if (c != NULL)
		buf_consume(&c->out, len);
	/* Kept for a client that asks again with the same rid. */
	{
		size_t k = r->rid % REQUESTS;
		buf_reset(&s->replay[k].body);
		s->replay[k].rid = 0;
		if (buf_used(&b) <= REPLAY_MAX &&
		    buf_add(&s->replay[k].body, buf_head(&b), buf_used(&b)) == 0)
			s->replay[k].rid = r->rid;
	}
	respond(r->rq, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

/* conn.c: the stream wrote something, or is closing. */
static void
drain(struct conn *c)
{
	struct bsess *s = c->drain_arg;

	if (s == NULL) {		/* the session is gone: nobody will read it */
		buf_reset(&c->out);
		return;
	}
	if (s->nheld > 0 && (buf_used(&c->out) > 0 || c->state == CONN_CLOSING))
		answer(s);
	else if (c->state == CONN_CLOSING && server_is_stopping())
		buf_reset(&c->out);	/* no request to carry it: stop now */
}

/* ---- sessions ---- */

static void
sess_free(struct bsess *s)
{
	struct bsess **pp;
	struct conn *c = sess_conn(s);

	while (s->nheld > 0)
		answer(s);		/* terminate bodies: the stream is gone */
	if (c != NULL)
		c->drain_arg = NULL;
	if (s->early != NULL) {
		s->early->sess = NULL;
		terminate(s->early->rq, "item-not-found");
	}
	for (pp = &sessions; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	for (size_t i = 0; i < REQUESTS; i++)
		buf_free(&s->replay[i].body);
	free(s);
}

static struct bsess *
sess_find(const char *sid)
{
	for (struct bsess *s = sessions; s != NULL; s = s->next)
		if (strcmp(s->sid, sid) == 0)
			return s;
	return NULL;
}

/* The stream is told the client is gone; its session follows. */
static void
sess_end(struct bsess *s, const char *why)
{
	struct conn *c = sess_conn(s);

	if (c != NULL)
		conn_close(c, why);
	sess_free(s);
}

/* A body's children belong to jabber:client when they name no other
 * namespace (XEP-0206 says clients must qualify them; not all do). */
static void
to_client_ns(struct xml_node *n)
{
	for (; n != NULL; n = n->next)
		if (n->name != NULL && strcmp(n->ns, NS_HTTPBIND) == 0) {
			n->ns = NS_CLIENT;
			to_client_ns(n->children);
		}
}

/* One request, in rid order: its content to the stream, then held. */
static void
process(struct bsess *s, struct breq *r, struct xml_node *body)
{
	struct conn *c = sess_conn(s);
	const char *type = xml_attr(body, "type");
	const char *pause = xml_attr(body, "pause");
	const char *restart = xml_attr_ns(body, NS_XBOSH, "restart");
	unsigned long p;
	struct buf b;

	s->next_rid = r->rid + 1;
	r->sess = s;
	s->held[s->nheld++] = r;
	s->idle_since = 0;
	http_defer(r->rq);
	if (c == NULL)
		return;
	if (restart != NULL && strcmp(restart, "true") == 0)
		c2s_bosh_open(c, xml_attr(body, "to"), "1.0");
	to_client_ns(body->children);
	buf_init(&b, lim_stanza() + 4096);
	for (struct xml_node *n = body->children; n != NULL; n = n->next) {
		if (n->name == NULL)
			continue;
		buf_reset(&b);
		if (xml_serialize(n, &b, NULL) == 0) {
			c->bytes_in += buf_used(&b);
			c->bytes_this_second += buf_used(&b);
			c2s_bosh_input(c, buf_head(&b), buf_used(&b));
		}
	}
	buf_free(&b);
	if (type != NULL && strcmp(type, "terminate") == 0)
		c2s_bosh_input(c, "</stream:stream>", 16);
	if (pause != NULL && parse_ulong(pause, 1, MAX_PAUSE, &p) == 0) {
		/* Every held request is answered; the session waits longer. */
		s->pause_until = now_ms() + (int64_t)p * 1000;
		while (s->nheld > 0)
			answer(s);
		return;
	}
	/* Over the hold (hold='0' polls): the oldest goes back now. */
	while (s->nheld > s->hold && s->nheld > 0)
		answer(s);
}

static void
create(struct breq *r, struct xml_node *body)
{
	struct http_request *rq = r->rq;
	struct bsess *s;
	unsigned long wait = DEF_WAIT, hold = 1;
	unsigned maxw = setting("max_wait", DEF_WAIT, 3600), n = 0;
	unsigned char rnd[16];
	const char *client = http_request_client(rq);

	for (s = sessions; s != NULL; s = s->next)
		n += strcmp(s->ip, client) == 0;
	if (n >= server_config()->limits.max_connections_per_ip) {
		terminate(rq, "policy-violation");
		return;
	}
	parse_ulong(xml_attr(body, "wait"), 0, 86400, &wait);
	parse_ulong(xml_attr(body, "hold"), 0, 1000, &hold);
	s = xcalloc(1, sizeof *s);
	s->wait = wait < 1 ? 1 : wait > maxw ? maxw : (unsigned)wait;
	s->hold = hold > 0 ? 1 : 0;
	random_bytes(rnd, sizeof rnd);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(s->sid + 2 * i, 3, "%02x", rnd[i]);
	strlcpy_ok(s->ip, client, sizeof s->ip);
	for (size_t i = 0; i < REQUESTS; i++)
		buf_init(&s->replay[i].body, REPLAY_MAX);
	s->next = sessions;
	sessions = s;
	s->conn_id = c2s_bosh_new(client, http_request_secure(rq) ||
	    flag_secure(), drain, s)->id;
	log_info("%s: %s: session %s (wait %u, hold %u)", MODNAME, client,
	    s->sid, s->wait, s->hold);
	c2s_bosh_open(sess_conn(s), xml_attr(body, "to"),
	    xml_attr_ns(body, NS_XBOSH, "version"));
	process(s, r, body);
}

/* The waiting request, when its turn has come. */
static void
take_early(struct bsess *s)
{
	struct breq *e = s->early;
	struct conn *c = sess_conn(s);

	if (e == NULL || e->rid != s->next_rid || c == NULL || conn_over_rate(c))
		return;
	s->early = NULL;
	process(s, e, e->body);
	xml_arena_free(e->body->arena);
	e->body = NULL;
}

/* A request for an existing session: rid order, window, replay.  The
 * body's tree is kept while the request waits as "early", freed else. */
static void
continue_session(struct bsess *s, struct breq *r, struct xml_node *body)
{
	size_t k = r->rid % REQUESTS;

	struct conn *c = sess_conn(s);

	if (r->rid >= s->next_rid && r->rid < s->next_rid + REQUESTS &&
	    s->early == NULL && (r->rid > s->next_rid || conn_over_rate(c))) {
		/* Overtook its predecessor, or the session is over its byte
		 * rate (as a socket's reading pauses): it waits, tree and all. */
		r->sess = s;
		r->body = body;
		s->early = r;
		http_defer(r->rq);
		return;
	}
	if (r->rid == s->next_rid) {
		process(s, r, body);
		take_early(s);
	} else if (r->rid < s->next_rid && s->replay[k].rid == r->rid)
		respond(r->rq, buf_head(&s->replay[k].body),
		    buf_used(&s->replay[k].body));
	else {
		terminate(r->rq, "item-not-found");
		sess_end(s, "bosh: rid out of window");
	}
	xml_arena_free(body->arena);
}

/* ---- HTTP ---- */

static void
bosh_head(struct http_request *rq, void *arg)
{
	struct breq *r;

	if (http_request_method(rq) == HTTP_M_OPTIONS) {
		http_cors_headers(rq, "POST, OPTIONS");
		http_respond(rq, 204, NULL, NULL, 0);
		return;
	}
	if (http_request_method(rq) != HTTP_M_POST) {
		http_add_header(rq, "Allow", "POST, OPTIONS");
		http_respond_error(rq, 405);
		return;
	}
	if (http_request_content_length(rq) > lim_stanza()) {
		http_respond_error(rq, 413);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->rq = rq;
	r->since = now_ms();
	buf_init(&r->in, lim_stanza());
	http_request_set_data(rq, r);
}

static int
bosh_body(struct http_request *rq, const char *p, size_t n, void *arg)
{
	struct breq *r = http_request_data(rq);

	return r != NULL && buf_add(&r->in, p, n) == 0 ? 0 : -1;
}

static void
bosh_end(struct http_request *rq, void *arg)
{
	struct breq *r = http_request_data(rq);
	struct xml_node *body;
	struct bsess *s = NULL;
	const char *sid;
	unsigned long rid;
	char err[128];

	if (r == NULL)
		return;
	body = xml_parse_document(buf_head(&r->in), buf_used(&r->in), NULL,
	    err, sizeof err);
	buf_free(&r->in);
	if (body == NULL || !xml_is(body, "body", NS_HTTPBIND) ||
	    parse_ulong(xml_attr(body, "rid"), 1, 9007199254740991UL, &rid) == -1) {
		log_info("%s: %s: bad request: %s", MODNAME,
		    http_request_client(rq), body == NULL ? err :
		    "not a <body/> with a rid");
		terminate(rq, "bad-request");
		goto out;
	}
	r->rid = rid;
	if ((sid = xml_attr(body, "sid")) == NULL) {
		if (!http_request_secure(rq) && !flag_secure() &&
		    server_config()->c2s_require_encryption) {
			terminate(rq, "policy-violation");
			goto out;
		}
		if (server_is_stopping()) {
			terminate(rq, "system-shutdown");
			goto out;
		}
		create(r, body);
	} else if ((s = sess_find(sid)) == NULL || sess_conn(s) == NULL)
		terminate(rq, "item-not-found");
	else {
		continue_session(s, r, body);
		return;		/* the tree is taken care of */
	}
out:
	if (body != NULL)
		xml_arena_free(body->arena);
}

/* The request is over (answered, or its connection went). */
static void
bosh_done(struct http_request *rq, void *arg)
{
	struct breq *r = http_request_data(rq);
	struct bsess *s;

	if (r == NULL)
		return;
	if ((s = r->sess) != NULL) {
		for (size_t i = 0; i < s->nheld; i++)
			if (s->held[i] == r) {
				unhold(s, i);
				break;
			}
		if (s->early == r)
			s->early = NULL;
	}
	if (r->body != NULL)
		xml_arena_free(r->body->arena);
	buf_free(&r->in);
	free(r);
	http_request_set_data(rq, NULL);
}

static const struct http_handler bosh_http = {
	bosh_head, bosh_body, bosh_end, bosh_done
};

/* Once a second: held requests past their wait, silent clients. */
static void
bosh_tick(int64_t now)
{
	struct bsess *s, *next;
	int64_t inactivity = (int64_t)setting("inactivity", DEF_INACTIVITY,
	    3600) * 1000;

	for (s = sessions; s != NULL; s = next) {
		next = s->next;
		if (sess_conn(s) == NULL) {
			sess_free(s);
			continue;
		}
		while (s->nheld > 0 &&
		    now - s->held[0]->since >= (int64_t)s->wait * 1000)
			answer(s);
		take_early(s);		/* a new second: maybe under the rate */
		if (s->early != NULL &&
		    now - s->early->since >= (int64_t)s->wait * 1000) {
			/* Its predecessor never came: the session is broken. */
			sess_end(s, "bosh: missing request");
			continue;
		}
		if (s->nheld == 0 && s->early == NULL &&
		    now - s->idle_since >= inactivity && now >= s->pause_until) {
			log_info("%s: session %s: no request for %lld s", MODNAME,
			    s->sid, (long long)(now - s->idle_since) / 1000);
			sess_end(s, "bosh: client gone");
		}
	}
}

static char mounted[HTTP_PATH_MAX];
static struct http_endpoint endpoint = {
	MODNAME, DEF_PATH, REL_BOSH, "https", "http", &bosh_http, mounted
};

static int
bosh_init(void)
{
	return http_endpoint_mount(&endpoint);
}

static void
bosh_fini(void)
{
	http_endpoint_unmount(&endpoint);
	while (sessions != NULL)
		sess_end(sessions, "bosh: module stopped");
}

static int
bosh_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	unsigned long v;
	int b;

	if (http_endpoint_check(&endpoint, key, value) == 0)
		return 0;
	if ((strcmp(key, "max_wait") == 0 || strcmp(key, "inactivity") == 0) &&
	    parse_ulong(value, 1, 3600, &v) == 0)
		return 0;
	if (strcmp(key, "consider_secure") == 0 &&
	    config_parse_bool(value, &b) == 0)
		return 0;
	snprintf(err, errlen, "[%s] %.64s = '%.64s': expected path = /PATH, "
	    "max_wait and inactivity = 1..3600 seconds, consider_secure = "
	    "true|false, external_url = https://HOST/PATH", MODNAME, key, value);
	return -1;
}

const struct module mod_bosh = {
	.name = MODNAME,
	.init = bosh_init,
	.fini = bosh_fini,
	.tick = bosh_tick,
	.config_check = bosh_config_check,
};
