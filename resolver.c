/*
 * resolver.c - asynchronous DNS on the poll loop (see resolver.h).
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "resolver.h"
#include "util.h"

#define TRY_MS		2500	/* per nameserver and try */
#define ROUNDS		2	/* times round the list of nameservers */
#define MAX_QUERIES	256	/* lookups in flight */
#define CACHE_SLOTS	128
#define TTL_MIN		30	/* seconds: cache bounds */
#define TTL_MAX		3600
#define TTL_NEG		60	/* NXDOMAIN and empty answers */
#define UDP_REPLY	1232
#define TCP_REPLY	65535

struct query {
	uint64_t	 handle;
	char		 name[DNS_NAME_MAX + 1];
	int		 type;
	resolve_fn	 fn;
	void		*arg;
	int		 cancelled, done;
	size_t		 attempt;	/* servers tried so far, over all rounds */
	int		 fd, tcp, connected;
	uint16_t	 id;
	uint8_t		 q[512];
	size_t		 qlen, sent;
	uint8_t		*in;		/* TCP: 2-byte length + reply */
	size_t		 inlen;
	int64_t		 deadline;
	struct loop_source src;
	struct dns_result res;
	struct query	*next;
};

struct cached {
	char		 name[DNS_NAME_MAX + 1];
	int		 type;
	int64_t		 expires;
	enum dns_status	 status;
	size_t		 n;
	struct dns_rr	*rr;
};

static struct query	*queries;
static size_t		 nqueries;
static uint64_t		 next_handle = 1;
static struct cached	 cache[CACHE_SLOTS];

static void	send_query(struct query *);

/* ---- cache ---- */

static struct cached *
cache_find(const char *name, int type, int64_t now)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (cache[i].rr != NULL || cache[i].name[0] != '\0') {
			if (cache[i].expires <= now) {
				free(cache[i].rr);
				memset(&cache[i], 0, sizeof cache[i]);
			} else if (cache[i].type == type &&
			    strcasecmp(cache[i].name, name) == 0)
				return &cache[i];
		}
	return NULL;
}

static void
cache_put(const struct query *q, int64_t now)
{
	struct cached *c = &cache[0];
	uint32_t ttl = TTL_MAX;

	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		if (cache[i].name[0] == '\0') {
			c = &cache[i];
			break;
		}
		if (cache[i].expires < c->expires)
			c = &cache[i];
	}
	free(c->rr);
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < q->res.n; i++)
		if (q->res.rr[i].ttl < ttl)
			ttl = q->res.rr[i].ttl;
	if (q->res.n == 0)
		ttl = TTL_NEG;
	if (ttl < TTL_MIN)
		ttl = TTL_MIN;
	strlcpy_ok(c->name, q->name, sizeof c->name);
	c->type = q->type;
	c->status = q->res.status;
	c->expires = now + (int64_t)ttl * 1000;
	c->n = q->res.n;
	if (c->n > 0) {
		c->rr = xcalloc(c->n, sizeof *c->rr);
		memcpy(c->rr, q->res.rr, c->n * sizeof *c->rr);
	}
}

/* ---- one query ---- */

static void
close_fd(struct query *q)
{
	if (q->fd != -1) {
		loop_remove(&q->src);
		close(q->fd);
		q->fd = -1;
	}
	free(q->in);
	q->in = NULL;
	q->inlen = 0;
}

static void
finish(struct query *q, enum dns_status st)
{
	close_fd(q);
	if (st != DNS_OK && st != DNS_NXDOMAIN) {
		memset(&q->res, 0, sizeof q->res);
		q->res.status = st;
	}
	q->done = 1;
}

static void
next_server(struct query *q)
{
	close_fd(q);
	q->attempt++;
	if (q->attempt >= dns_server_count() * ROUNDS) {
		log_debug("dns: %s (type %d): no answer", q->name, q->type);
		finish(q, DNS_TIMEOUT);
		return;
	}
	send_query(q);
}

static void
got_reply(struct query *q, const uint8_t *msg, size_t len)
{
	struct dns_result *r = &q->res;

	if (dns_parse_reply(msg, len, q->id, q->name, q->type, r) == -1) {
		if (q->tcp)
			next_server(q);
		return;		/* UDP: a stray or forged packet; keep waiting */
	}
	if (r->truncated && !q->tcp) {
		/* Too big for UDP: ask the same server over TCP. */
		close_fd(q);
		q->tcp = 1;
		send_query(q);
		return;
	}
	if (r->status == DNS_SERVFAIL) {
		next_server(q);
		return;
	}
	cache_put(q, now_ms());
	finish(q, r->status);
}

static short
q_events(void *arg)
{
	struct query *q = arg;

	if (q->fd == -1 || q->done)
		return 0;
	if (q->tcp && (!q->connected || q->sent < q->qlen + 2))
		return POLLOUT;
	return POLLIN;
}

static void
q_run(void *arg, short revents)
{
	struct query *q = arg;
	uint8_t buf[UDP_REPLY];
	ssize_t n;

	if (q->done || q->fd == -1)
		return;
	if (!q->tcp) {
		n = recv(q->fd, buf, sizeof buf, 0);
		if (n > 0)
			got_reply(q, buf, (size_t)n);
		else if (n == -1 && errno != EAGAIN && errno != EINTR)
			next_server(q);	/* e.g. ICMP port unreachable */
		return;
	}
	if (!q->connected) {
		int e = 0;
		socklen_t el = sizeof e;
		if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1 || e != 0) {
			next_server(q);
			return;
		}
		q->connected = 1;
	}
	if (q->sent < q->qlen + 2) {
		uint8_t out[514];
		out[0] = (uint8_t)(q->qlen >> 8);
		out[1] = (uint8_t)q->qlen;
		memcpy(out + 2, q->q, q->qlen);
		n = send(q->fd, out + q->sent, q->qlen + 2 - q->sent, MSG_NOSIGNAL);
		if (n > 0)
			q->sent += (size_t)n;
		else if (n == -1 && errno != EAGAIN && errno != EINTR)
			next_server(q);
		return;
	}
	if (q->in == NULL)
		q->in = xmalloc(TCP_REPLY + 2);
	n = recv(q->fd, q->in + q->inlen, TCP_REPLY + 2 - q->inlen, 0);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		next_server(q);
		return;
	}
	if (n > 0)
		q->inlen += (size_t)n;
	if (q->inlen >= 2) {
		size_t want = (size_t)q->in[0] << 8 | q->in[1];
		if (q->inlen >= want + 2)
			got_reply(q, q->in + 2, want);
	}
}

static void
send_query(struct query *q)
{
	size_t ns = dns_server_count();
	const struct sockaddr_storage *ss;
	socklen_t sl;
	ssize_t qlen;

	if (ns == 0) {
		finish(q, DNS_TIMEOUT);
		return;
	}
	ss = dns_server(q->attempt % ns, &sl);
	random_bytes(&q->id, sizeof q->id);
	if ((qlen = dns_build_query(q->q, sizeof q->q, q->id, q->name, q->type)) < 0) {
		finish(q, DNS_BADREPLY);
		return;
	}
	q->qlen = (size_t)qlen;
	q->sent = 0;
	q->connected = 0;
	q->fd = socket(ss->ss_family, (q->tcp ? SOCK_STREAM : SOCK_DGRAM) |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd == -1) {
		log_warn("dns: socket");
		finish(q, DNS_TIMEOUT);
		return;
	}
	if (connect(q->fd, (const struct sockaddr *)ss, sl) == -1 &&
	    errno != EINPROGRESS) {
		close(q->fd);
		q->fd = -1;
		next_server(q);
		return;
	}
	if (!q->tcp && send(q->fd, q->q, q->qlen, 0) != (ssize_t)q->qlen) {
		next_server(q);
		return;
	}
	q->src.fd = q->fd;
	q->src.events = q_events;
	q->src.run = q_run;
	q->src.has_work = NULL;
	q->src.arg = q;
	loop_add(&q->src);
	q->deadline = now_ms() + TRY_MS;
}

uint64_t
resolve(const char *name, int type, resolve_fn fn, void *arg)
{
	struct query *q = xcalloc(1, sizeof *q);
	struct cached *c;
	int64_t now = now_ms();

	q->handle = next_handle++;
	q->fn = fn;
	q->arg = arg;
	q->type = type;
	q->fd = -1;
	q->next = queries;
	queries = q;
	nqueries++;
	if (strlcpy_ok(q->name, name, sizeof q->name) == -1) {
		finish(q, DNS_BADREPLY);
		return q->handle;
	}
	if ((c = cache_find(name, type, now)) != NULL) {
		q->res.status = c->status;
		q->res.n = c->n;
		if (c->n > 0)
			memcpy(q->res.rr, c->rr, c->n * sizeof *c->rr);
		q->done = 1;
		loop_wake();
		return q->handle;
	}
	if (nqueries > MAX_QUERIES) {
		log_warnx("dns: too many lookups in flight");
		finish(q, DNS_TIMEOUT);
		loop_wake();
		return q->handle;
	}
	send_query(q);
	if (q->done)
		loop_wake();
	return q->handle;
}

void
resolve_cancel(uint64_t handle)
{
	for (struct query *q = queries; q != NULL; q = q->next)
		if (q->handle == handle)
			q->cancelled = 1;
}

void
resolver_tick(int64_t now)
{
	for (struct query *q = queries; q != NULL; q = q->next)
		if (!q->done && q->fd != -1 && now >= q->deadline)
			next_server(q);
}

/* Answers go out here, outside any caller's stack frame. */
void
resolver_after_pass(void)
{
	struct query **qp = &queries, *q;

	while ((q = *qp) != NULL) {
		if (!q->done && !q->cancelled) {
			qp = &q->next;
			continue;
		}
		*qp = q->next;
		nqueries--;
		close_fd(q);
		if (!q->cancelled)
			q->fn(q->arg, &q->res);
		free(q);
	}
}

size_t
resolver_pending(void)
{
	return nqueries;
}
