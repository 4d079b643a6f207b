/*
 * conn.c - sockets, TLS pumping, output queues and the close protocol.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "tls.h"
#include "xml.h"

#define READ_CHUNK	16384
#define IP_BUCKETS	1024
#define MAX_READS_PER_RUN 16	/* fairness: at most this many reads per wakeup */

static struct conn_limits lim = {
	512 * 1024, 1024 * 1024, 1024, 16, 4, 2000, 256 * 1024
};
static struct conn	*all;		/* list of every conn */
static struct conn	*dirty;		/* conns with output to push */
static size_t		 nconns;
static size_t		 ndead;		/* CONN_DEAD, not yet freed */
static uint64_t		 next_id = 1;

/* ---- per-IP accounting ---- */

struct ipcount {
	char		 ip[48];
	unsigned	 total, unauth;
	struct ipcount	*next;
};
static struct ipcount	*ipbucket[IP_BUCKETS];

static unsigned
iphash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % IP_BUCKETS;
}

static struct ipcount *
ip_find(const char *ip, int create)
{
	struct ipcount *e, **head = &ipbucket[iphash(ip)];

	for (e = *head; e != NULL; e = e->next)
		if (strcmp(e->ip, ip) == 0)
			return e;
	if (!create)
		return NULL;
	e = xcalloc(1, sizeof *e);
	strlcpy_ok(e->ip, ip, sizeof e->ip);
	e->next = *head;
	*head = e;
	return e;
}

static void
ip_release(const char *ip, int was_unauth)
{
	struct ipcount *e, **pp = &ipbucket[iphash(ip)];

	for (; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->ip, ip) == 0)
			break;
	if (e == NULL)
		return;
	if (e->total > 0)
		e->total--;
	if (was_unauth && e->unauth > 0)
		e->unauth--;
	if (e->total == 0) {
		*pp = e->next;
		free(e);
	}
}

void
conn_set_limits(const struct conn_limits *l)
{
	lim = *l;
}

int
conn_may_accept(const char *ip)
{
	struct ipcount *e;

	if (nconns >= lim.max_connections)
		return 0;
	if ((e = ip_find(ip, 0)) == NULL)
		return 1;
	return e->total < lim.max_per_ip && e->unauth < lim.max_unauth_per_ip;
}

/* ---- listeners ---- */

struct listener {
	int		 fd;
	accept_fn	 fn;
	void		*arg;
	struct loop_source src;
};

static short
listener_events(void *arg)
{
	/* A full server stops watching its listeners (s6-ipcserverd). */
	return nconns < lim.max_connections ? POLLIN : 0;
}

static void
listener_run(void *arg, short revents)
{
	struct listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, i;

	for (i = 0; i < 64 && nconns < lim.max_connections; i++) {
		sl = sizeof ss;
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		l->fn(fd, (struct sockaddr *)&ss, sl, l->arg);
	}
}

struct listener *
listener_open(const char *addr, unsigned short port, accept_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct listener *l;
	int fd, one = 1, v6only = 0;

	memset(&ss, 0, sizeof ss);
	if (strcmp(addr, "*") == 0 || strcmp(addr, "::") == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons(port);
		sl = sizeof *s6;
	} else if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			goto bad;
		s6->sin6_port = htons(port);
		sl = sizeof *s6;
		v6only = 1;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			goto bad;
		s4->sin_port = htons(port);
		sl = sizeof *s4;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 && strcmp(addr, "*") == 0 && errno == EAFNOSUPPORT) {
		/* No IPv6 on this machine: "*" means all of IPv4. */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		memset(&ss, 0, sizeof ss);
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = htons(port);
		sl = sizeof *s4;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, 128) == -1) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", addr,
		    port, strerror(errno));
		close(fd);
		return NULL;
	}
	l = xcalloc(1, sizeof *l);
	l->fd = fd;
	l->fn = fn;
	l->arg = arg;
	l->src.fd = fd;
	l->src.events = listener_events;
	l->src.run = listener_run;
	l->src.arg = l;
	loop_add(&l->src);
	return l;
bad:
	snprintf(err, errlen, "bad interface address '%s'", addr);
	return NULL;
}

void
listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	loop_remove(&l->src);
	close(l->fd);
	free(l);
}

/* ---- connections ---- */

static short	conn_events(void *);
static void	conn_run(void *, short);
static int	conn_has_work(void *);
static void	conn_kill(struct conn *, const char *);
static void	mark_dirty(struct conn *);

void
conn_log(const struct conn *c, int level, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	if ((enum log_level)level > log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_at((enum log_level)level, "c=%llu %s %s",
	    (unsigned long long)c->id, c->peer, msg);
}

/* Numeric address of a peer; v4-mapped IPv6 peers count as IPv4. */
static unsigned short
addr_ip(const struct sockaddr *sa, char *ip, size_t iplen)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, iplen);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, iplen);
		return ntohs(s6->sin6_port);
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, iplen);
		return ntohs(s4->sin_port);
	}
	strlcpy_ok(ip, "unknown", iplen);
	return 0;
}

int
conn_may_accept_addr(const struct sockaddr *sa, char *ip, size_t iplen)
{
	addr_ip(sa, ip, iplen);
	return conn_may_accept(ip);
}

/*
 * What every connection starts with: an id, the output queue, its
 * protocol, a place in the list of all connections; a socket (fd != -1)
 * is a loop source with its peer's address from sa.
 */
static struct conn *
conn_alloc(int fd, const struct sockaddr *sa, enum conn_state state,
    const struct conn_proto *proto, void *stream)
{
	struct conn *c = xcalloc(1, sizeof *c);
	unsigned short port;
	int one = 1;

	c->id = next_id++;
	c->fd = fd;
	c->state = state;
	buf_init(&c->out, lim.hard_limit);
	c->high_water = lim.high_water;
	c->created = now_ms();
	c->proto = proto;
	c->stream = stream;
	if (fd != -1) {
		port = addr_ip(sa, c->ip, sizeof c->ip);
		snprintf(c->peer, sizeof c->peer, strchr(c->ip, ':') ?
		    "[%s]:%u" : "%s:%u", c->ip, port);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->src.fd = fd;
		c->src.events = conn_events;
		c->src.run = conn_run;
		c->src.has_work = conn_has_work;
		c->src.arg = c;
		loop_add(&c->src);
	}
	c->next = all;
	if (all != NULL)
		all->prev = c;
	all = c;
	nconns++;
	return c;
}

struct conn *
conn_new(int fd, const struct sockaddr *sa, socklen_t sl,
    const struct conn_proto *proto, void *stream)
{
	struct conn *c = conn_alloc(fd, sa, CONN_OPEN, proto, stream);
	struct ipcount *e = ip_find(c->ip, 1);

	c->can_read = 1;
	c->can_write = 1;
	e->total++;
	e->unauth++;
	conn_log(c, LOG_LVL_INFO, "connection opened");
	return c;
}

struct conn *
conn_new_virtual(const char *ip, const struct conn_proto *proto, void *stream,
    void (*drain)(struct conn *))
{
	struct conn *c = conn_alloc(-1, NULL, CONN_OPEN, proto, stream);

	c->drain = drain;
	strlcpy_ok(c->ip, ip, sizeof c->ip);
	snprintf(c->peer, sizeof c->peer, "%s/http", ip);
	c->authenticated = 1;	/* counted by its HTTP connections */
	conn_log(c, LOG_LVL_INFO, "connection opened");
	return c;
}

struct conn *
conn_connect(const struct sockaddr *sa, socklen_t sl,
    const struct conn_proto *proto, void *stream)
{
	struct conn *c;
	int fd;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return NULL;
	/* Refused at once (no route, no address): no conn at all. */
	if (connect(fd, sa, sl) == -1 && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	c = conn_alloc(fd, sa, CONN_CONNECTING, proto, stream);
	c->outgoing = 1;
	c->authenticated = 1;
	conn_log(c, LOG_LVL_INFO, "connecting");
	return c;
}

void
conn_start_tls_client(struct conn *c, const char *server_name,
    struct tls_creds *client_creds)
{
	c->tls = tls_client_new(server_name, client_creds);
	c->can_read = c->can_write = 1;
	mark_dirty(c);
}

struct tls *
conn_tls(const struct conn *c)
{
	return c->tls;
}

void
conn_set_authenticated(struct conn *c)
{
	struct ipcount *e;

	if (c->authenticated)
		return;
	c->authenticated = 1;
	if ((e = ip_find(c->ip, 0)) != NULL && e->unauth > 0)
		e->unauth--;
}

int
conn_is_open(const struct conn *c)
{
	return c->state == CONN_OPEN || c->state == CONN_TLS_PENDING ||
	    c->state == CONN_CONNECTING;
}

int
conn_is_tls(const struct conn *c)
{
	return c->tls != NULL;
}

const char *
conn_tls_server_name(const struct conn *c)
{
	return c->tls ? tls_server_name(c->tls) : NULL;
}

void
conn_set_deadline(struct conn *c, int64_t ms)
{
	c->deadline = ms;
}

static void
mark_dirty(struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	c->next_dirty = dirty;
	dirty = c;
}

/* Drop the fd and tell the stream (once); the memory goes in conn_reap. */
static void
conn_kill(struct conn *c, const char *why)
{
	if (c->state == CONN_DEAD)
		return;
	if (c->close_reason == NULL)
		c->close_reason = why;
	if (c->state != CONN_CLOSING && c->proto->closed != NULL)
		c->proto->closed(c);
	c->state = CONN_DEAD;
	ndead++;
	if (c->drain == NULL)
		loop_remove(&c->src);
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	conn_log(c, LOG_LVL_INFO, "connection closed (%s, %llu bytes in, %llu out)",
	    c->close_reason ? c->close_reason : "closed",
	    (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
}

void
conn_close(struct conn *c, const char *reason)
{
	if (c->state == CONN_CLOSING || c->state == CONN_DEAD)
		return;
	c->close_reason = reason;
	if (c->proto->closed != NULL)
		c->proto->closed(c);
	c->state = CONN_CLOSING;
	c->close_deadline = now_ms() + lim.close_linger_ms;
	if (c->tls != NULL && tls_is_established(c->tls) == 0) {
		/* Nothing useful can be said inside a half-done handshake. */
		conn_kill(c, reason);
		return;
	}
	mark_dirty(c);
}

/*
 * The peer does not read: drop what is queued and end the connection at
 * the end of this pass (conn_flush_dirty), not now, because whoever is
 * sending may still be walking lists that the end of the session changes.
 */
static void
slow_consumer(struct conn *c)
{
	conn_log(c, LOG_LVL_INFO, "output queue over %zu bytes: closing slow "
	    "consumer", lim.hard_limit);
	buf_reset(&c->out);
	c->abort_pending = 1;
	mark_dirty(c);
}

int
conn_send(struct conn *c, const void *p, size_t n)
{
	if (c->state == CONN_DEAD || c->abort_pending)
		return -1;
	if (buf_add(&c->out, p, n) == -1) {
		slow_consumer(c);
		return -1;
	}
	mark_dirty(c);
	return 0;
}

int
conn_send_xml(struct conn *c, const struct xml_node *n, const char *stream_ns)
{
	size_t before = c->out.len;

	if (c->state == CONN_DEAD || c->abort_pending)
		return -1;
	if (xml_serialize(n, &c->out, stream_ns) == -1) {
		c->out.len = before;
		slow_consumer(c);
		return -1;
	}
	mark_dirty(c);
	return 0;
}

/* ---- TLS glue ---- */

/* Over its byte budget for this second: stop reading until the tick. */
static int
throttled(const struct conn *c)
{
	return !c->unlimited_rate && c->bytes_this_second >= lim.max_bytes_per_second;
}

int
conn_over_rate(const struct conn *c)
{
	return throttled(c);
}

static int
may_read(const struct conn *c)
{
	return c->state == CONN_OPEN && buf_used(&c->out) <= c->high_water &&
	    !throttled(c) && (c->proto->held == NULL || !c->proto->held(c));
}

static size_t
tls_deliver(void *arg, const unsigned char *p, size_t n)
{
	struct conn *c = arg;

	if (!may_read(c))
		return 0;
	c->bytes_in += n;
	c->bytes_this_second += n;
	c->proto->input(c, (const char *)p, n);
	return n;
}

static const unsigned char *
tls_pending_out(void *arg, size_t *n)
{
	struct conn *c = arg;

	*n = buf_used(&c->out);
	return (const unsigned char *)buf_head(&c->out);
}

static void
tls_taken(void *arg, size_t n)
{
	struct conn *c = arg;

	c->bytes_out += n;
	buf_consume(&c->out, n);
}

static void
start_tls(struct conn *c, struct tls_creds *creds)
{
	c->tls = c->tls_for_servers ? tls_server_new_s2s(creds) : tls_server_new(creds);
	c->state = CONN_OPEN;
	c->can_read = c->can_write = 1;
	if (c->tls == NULL)
		conn_kill(c, "TLS setup failed");
}

void
conn_start_tls_now(struct conn *c, struct tls_creds *creds)
{
	start_tls(c, creds);
}

void
conn_start_tls_after_flush(struct conn *c, struct tls_creds *creds)
{
	c->state = CONN_TLS_PENDING;
	c->pending_creds = creds;
	tls_creds_ref(creds);
	mark_dirty(c);
}

/* ---- I/O ---- */

static void
pump_tls(struct conn *c)
{
	static const struct tls_io io = { NULL, tls_deliver, tls_pending_out, tls_taken };
	struct tls_io myio = io;
	int rc;

	myio.arg = c;
	rc = tls_pump(c->tls, c->fd, &c->can_read, &c->can_write, &myio);
	if (rc == TLS_ERROR) {
		conn_log(c, LOG_LVL_INFO, "TLS: %s", tls_error_string(c->tls));
		conn_kill(c, "TLS error");
	} else if (rc == TLS_CLOSED)
		conn_kill(c, c->state == CONN_CLOSING ? c->close_reason : "peer closed");
}

/* Plain socket: write what is queued. */
static void
write_plain(struct conn *c)
{
	while (buf_used(&c->out) > 0 && c->can_write) {
		ssize_t n = send(c->fd, buf_head(&c->out), buf_used(&c->out),
		    MSG_NOSIGNAL);
		if (n > 0) {
			c->bytes_out += (size_t)n;
			buf_consume(&c->out, (size_t)n);
		} else if (n == -1 && errno == EINTR)
			continue;
		else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			c->can_write = 0;
		else {
			conn_kill(c, "write error");
			return;
		}
	}
	if (c->state == CONN_TLS_PENDING && buf_used(&c->out) == 0) {
		struct tls_creds *cr = c->pending_creds;
		c->pending_creds = NULL;
		start_tls(c, cr);
		tls_creds_unref(cr);
	}
}

static void
read_plain(struct conn *c)
{
	char b[READ_CHUNK];
	int i;

	for (i = 0; i < MAX_READS_PER_RUN && c->tls == NULL && c->can_read &&
	    may_read(c); i++) {
		ssize_t n = recv(c->fd, b, sizeof b, 0);
		if (n > 0) {
			c->bytes_in += (size_t)n;
			c->bytes_this_second += (size_t)n;
			c->proto->input(c, b, (size_t)n);
		} else if (n == 0) {
			conn_kill(c, "peer closed");
			return;
		} else if (errno == EINTR)
			continue;
		else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->can_read = 0;
			return;
		} else {
			conn_kill(c, "read error");
			return;
		}
	}
}

/* An outgoing connect() finished, one way or the other. */
static void
connect_done(struct conn *c)
{
	int e = 0;
	socklen_t el = sizeof e;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1 || e != 0) {
		conn_log(c, LOG_LVL_INFO, "connect: %s", strerror(e ? e : errno));
		c->state = CONN_OPEN;	/* so closed() runs */
		conn_kill(c, "connect failed");
		return;
	}
	c->state = CONN_OPEN;
	c->can_read = 1;
	conn_log(c, LOG_LVL_INFO, "connected");
	if (c->proto->connected != NULL)
		c->proto->connected(c);
}

static void
conn_io(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	if (c->drain != NULL) {
		c->drain(c);
		if (c->state == CONN_CLOSING && buf_used(&c->out) == 0)
			conn_kill(c, c->close_reason);
		return;
	}
	if (c->state == CONN_CONNECTING) {
		if (!c->can_write)
			return;
		connect_done(c);
		if (c->state == CONN_DEAD)
			return;
	}
	if (c->tls != NULL) {
		pump_tls(c);
		/* Closing: once the queue is out, send close_notify, and
		 * drop the connection when that has left too. */
		if (c->state == CONN_CLOSING && buf_used(&c->out) == 0 &&
		    !c->tls_close_sent) {
			tls_close(c->tls);
			c->tls_close_sent = 1;
			pump_tls(c);
		}
		if (c->state == CONN_CLOSING && buf_used(&c->out) == 0 &&
		    tls_is_flushed(c->tls))
			conn_kill(c, c->close_reason);
		return;
	}
	write_plain(c);
	if (c->state == CONN_DEAD)
		return;
	if (c->tls != NULL) {		/* STARTTLS just switched over */
		pump_tls(c);
		return;
	}
	if (c->state == CONN_CLOSING) {
		if (buf_used(&c->out) == 0)
			conn_kill(c, c->close_reason);
		return;
	}
	read_plain(c);
	if (c->state == CONN_DEAD)
		return;
	if (c->tls != NULL)		/* the input just started TLS (client) */
		pump_tls(c);
	else if (buf_used(&c->out) > 0)
		write_plain(c);
}

static short
conn_events(void *arg)
{
	struct conn *c = arg;
	short ev = 0;
	int paused = !may_read(c);

	if (c->state == CONN_DEAD)
		return 0;
	if (c->state == CONN_CONNECTING)
		return POLLOUT;
	if (c->tls != NULL)
		return tls_events(c->tls, paused);
	if (!paused)
		ev |= POLLIN;
	if (buf_used(&c->out) > 0)
		ev |= POLLOUT;
	/* A closing plain conn still wants to see the peer hang up. */
	return ev;
}

static int
conn_has_work(void *arg)
{
	struct conn *c = arg;

	return c->tls != NULL && may_read(c) && tls_has_pending_input(c->tls);
}

static void
conn_run(void *arg, short revents)
{
	struct conn *c = arg;

	if (revents & (POLLIN | POLLHUP | POLLERR))
		c->can_read = 1;
	if (revents & (POLLOUT | POLLHUP | POLLERR))
		c->can_write = 1;
	conn_io(c);
}

void
conn_flush_dirty(void)
{
	while (dirty != NULL) {
		struct conn *c = dirty;
		dirty = c->next_dirty;
		c->dirty = 0;
		c->next_dirty = NULL;
		if (c->abort_pending && c->state != CONN_DEAD) {
			conn_kill(c, "slow consumer");
			continue;
		}
		/* Try the write now: most replies leave without another poll. */
		if (c->state != CONN_DEAD)
			conn_io(c);
	}
}

void
conn_reap(void)
{
	struct conn *c, *next;

	/* After every pass: walk the list only when there is a dead one. */
	for (c = ndead > 0 ? all : NULL; c != NULL; c = next) {
		next = c->next;
		if (c->state != CONN_DEAD || c->dirty)
			continue;
		ndead--;
		if (c->prev)
			c->prev->next = c->next;
		else
			all = c->next;
		if (c->next)
			c->next->prev = c->prev;
		nconns--;
		if (!c->outgoing && c->drain == NULL)
			ip_release(c->ip, !c->authenticated);
		if (c->proto->free != NULL)
			c->proto->free(c);
		if (c->tls != NULL)
			tls_free(c->tls);
		if (c->pending_creds != NULL)
			tls_creds_unref(c->pending_creds);
		buf_free(&c->out);
		free(c);
	}
}

void
conn_tick(int64_t now)
{
	struct conn *c;

	for (c = all; c != NULL; c = c->next) {
		if (throttled(c)) {
			if (!c->throttle_logged)
				conn_log(c, LOG_LVL_INFO, "over %zu bytes/s: "
				    "reading paused", lim.max_bytes_per_second);
			c->throttle_logged = 1;
			mark_dirty(c);	/* resume reading (and TLS input) now */
		}
		c->bytes_this_second = 0;
		if (c->state == CONN_CLOSING && now >= c->close_deadline) {
			conn_kill(c, c->close_reason);
			continue;
		}
		if (c->state != CONN_DEAD && c->deadline != 0 && now >= c->deadline) {
			c->deadline = 0;
			if (c->state == CONN_CLOSING)
				conn_kill(c, "timeout");
			else if (c->proto->timeout != NULL)
				c->proto->timeout(c);
			else
				conn_close(c, "timeout");
		}
	}
}

size_t
conn_count(void)
{
	return nconns;
}

size_t
conn_count_open(void)
{
	struct conn *c;
	size_t n = 0;

	for (c = all; c != NULL; c = c->next)
		if (c->state != CONN_DEAD)
			n++;
	return n;
}

struct conn *
conn_first(void)
{
	return all;
}

struct conn *
conn_by_id(uint64_t id)
{
	for (struct conn *c = all; c != NULL; c = c->next)
		if (c->id == id && c->state != CONN_DEAD)
			return c;
	return NULL;
}
