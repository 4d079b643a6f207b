/*
 * socks5.c - the SOCKS5 side of the XEP-0065 proxy: the part of RFC 1928
 * that XEP-0065 uses, pairing, and the relay.
 *
 * A client greets (version 5, "no authentication" among its methods),
 * then asks to CONNECT to a domain name that is the hex SHA-1 of SID +
 * requester JID + target JID.  The first connection with a hash waits,
 * the second one is its pair, a third is refused.  Nothing is read from
 * a waiting connection: the requester activates the pair over XMPP
 * (modules/proxy65.c) before anyone may send.  Then bytes go both ways,
 * and a side is not read while the other side's queue is over its
 * high-water mark, so a pair holds at most two output queues.  When one
 * side closes, the other flushes what it has and closes too.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "modules/module.h"
#include "socks5.h"

#define S5_IDLE_MS	300000	/* an active pair with nothing to relay */
#define S5_MAX_PENDING	64	/* connections not yet activated, in all */
#define REQ_LEN		(7 + SOCKS5_HASH_LEN)	/* a CONNECT to a hash */

enum { S5_GREET, S5_REQUEST, S5_WAIT, S5_RELAY };

/* One SOCKS5 connection; owned by its conn (freed in s5_free). */
struct s5 {
	struct conn	*c;
	struct s5	*peer;	/* the pair's other side, until either closes */
	struct s5	*next;	/* every one whose conn has not closed */
	int		 state;
	size_t		 n;	/* bytes in in[] */
	unsigned char	 in[2 + 255 + REQ_LEN];	/* greeting, then request */
	char		 hash[SOCKS5_HASH_LEN + 1];
};

static struct s5 *all;

static struct s5 *
find(const char *hash, struct s5 *not)
{
	struct s5 *o;

	for (o = all; o != NULL; o = o->next)
		if (o != not && o->state >= S5_WAIT && strcmp(o->hash, hash) == 0)
			break;
	return o;
}

/*
 * Take handshake bytes: NULL while all is well, else why the connection
 * is refused, with *rep the RFC 1928 reply code to send (0: none, 0xff:
 * no acceptable method).
 */
static const char *
handshake(struct s5 *s, const char *b, size_t len, int *rep)
{
	unsigned char *u = s->in;
	struct s5 *o;
	size_t i;

	*rep = 1;
	if (len > sizeof s->in - s->n)
		return "socks5: data before activation";
	memcpy(u + s->n, b, len);
	s->n += len;
	if (u[0] != 5)
		goto version;
	if (s->state == S5_GREET) {
		if (s->n < 2 || s->n < 2u + u[1])
			return NULL;
		if (memchr(u + 2, 0, u[1]) == NULL) {
			*rep = 0xff;
			return "socks5: wants authentication";
		}
		conn_send(s->c, "\5\0", 2);
		i = 2u + u[1];
		s->n -= i;
		memmove(u, u + i, s->n);
		s->state = S5_REQUEST;
		if (s->n > 0 && u[0] != 5)
			goto version;
	}
	/* The request: 5, CONNECT, 0, domain name, 40, hash, port. */
	if (s->n < 5)
		return NULL;
	if (u[1] != 1) {
		*rep = 7;
		return "socks5: not CONNECT";
	}
	if (u[3] != 3) {
		*rep = 8;
		return "socks5: not a domain name";
	}
	if (u[2] != 0 || u[4] != SOCKS5_HASH_LEN)
		return "socks5: not a SHA-1 hash";
	if (s->n < REQ_LEN)
		return NULL;
	if (s->n > REQ_LEN)
		return "socks5: data before activation";
	for (i = 0; i < SOCKS5_HASH_LEN; i++) {
		if (!isxdigit(u[5 + i]))
			return "socks5: not a SHA-1 hash";
		s->hash[i] = (char)tolower(u[5 + i]);
	}
	/* (In the list, an active side always has its peer.) */
	if ((o = find(s->hash, s)) != NULL && o->peer != NULL) {
		*rep = 2;
		return "socks5: hash in use";
	}
	/* Success, with BND.ADDR and BND.PORT as asked (XEP-0065 5.3.2). */
	u[1] = 0;
	conn_send(s->c, u, REQ_LEN);
	s->n = 0;
	s->state = S5_WAIT;
	if (o != NULL) {
		o->peer = s;
		s->peer = o;
	}
	return NULL;
version:
	*rep = 0;
	return "socks5: not version 5";
}

static void
s5_input(struct conn *c, const char *b, size_t len)
{
	struct s5 *s = c->stream;
	const char *why;
	int rep;

	if (s->state == S5_RELAY) {
		int64_t t = now_ms() + S5_IDLE_MS;
		conn_set_deadline(c, t);
		if (s->peer != NULL) {
			conn_set_deadline(s->peer->c, t);
			conn_send(s->peer->c, b, len);
		}
	} else if ((why = handshake(s, b, len, &rep)) != NULL) {
		unsigned char r[10] = { 5, (unsigned char)rep, 0, 1 };
		conn_send(c, r, rep == 0 ? 0 : rep == 0xff ? 2 : 10);
		conn_close(c, why);
	}
}

static int
s5_held(const struct conn *c)
{
	const struct s5 *s = c->stream;

	return s->state == S5_WAIT || (s->peer != NULL &&
	    buf_used(&s->peer->c->out) > s->peer->c->high_water);
}

static void
s5_closed(struct conn *c)
{
	struct s5 *s = c->stream, *p = s->peer, **pp;

	for (pp = &all; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	if (p != NULL) {
		p->peer = s->peer = NULL;
		conn_close(p->c, "socks5: other side closed");
		/* A slow reader may need longer than the usual linger for
		 * the queue of a relay. */
		p->c->close_deadline = now_ms() + S5_IDLE_MS;
	}
}

static void
s5_free(struct conn *c)
{
	free(c->stream);
}

static const struct conn_proto s5_proto = {
	s5_input, s5_closed, NULL, s5_free, NULL, s5_held
};

void
socks5_accept(int fd, const struct sockaddr *sa, socklen_t sl, void *arg)
{
	struct s5 *s;
	char ip[64];
	size_t n = 0;

	for (s = all; s != NULL; s = s->next)
		n += s->state != S5_RELAY;
	if (!conn_may_accept_addr(sa, ip, sizeof ip) || n >= S5_MAX_PENDING) {
		log_info("socks5 connection from %s refused: limits", ip);
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof *s);
	s->c = conn_new(fd, sa, sl, &s5_proto, s);
	/* Anonymous until activated: as long as a client has to log in. */
	conn_set_deadline(s->c, now_ms() +
	    (int64_t)server_config()->limits.auth_timeout * 1000);
	s->next = all;
	all = s;
}

int
socks5_activate(const char *hash)
{
	struct s5 *s = find(hash, NULL);

	if (s == NULL || s->state != S5_WAIT)
		return -1;
	if (s->peer == NULL)
		return 1;
	for (int i = 0; i < 2; i++, s = s->peer) {
		s->state = S5_RELAY;
		/* Bulk data of a local user: the XMPP byte rate does not
		 * apply, nor does the budget of anonymous connections. */
		s->c->unlimited_rate = 1;
		conn_set_authenticated(s->c);
		conn_set_deadline(s->c, now_ms() + S5_IDLE_MS);
	}
	conn_log(s->c, LOG_LVL_INFO, "socks5: relay to c=%llu activated",
	    (unsigned long long)s->peer->c->id);
	return 0;
}

void
socks5_stop(void)
{
	/* Each close takes the connection (and its pair) off the list. */
	while (all != NULL)
		conn_close(all->c, "server stopping");
}
