/*
 * loadgen.c - an XMPP client load generator for benchmarks.
 *
 * One process, one event loop (epoll: with thousands of connections the
 * generator must not pay for every idle one on every pass, or it would
 * cost more than the server it measures), non-blocking sockets.  Every session speaks
 * real XMPP as a client would: stream header, STARTTLS (or direct TLS),
 * SCRAM-SHA-1, resource binding, the legacy session IQ when the server
 * insists, initial presence.  Nothing in here knows which server it talks
 * to, so the same run works against xmppd, Prosody and ejabberd.
 *
 * Modes (see usage()):
 *   connect   log in N sessions, report the server's RSS, hold them
 *   logins    C connectors log in and out again and again: logins/s
 *   messages  P pairs of online sessions send each other ~100-byte
 *             messages; msgs/s and latency from a timestamp in the body
 *   register  create accounts with in-band registration (XEP-0077)
 *   probe     retry until the port answers, log in once: start-up time
 *
 * Results are printed as one line of key=value pairs starting with
 * "result", so scripts can pick out what they need.  Every loop is bounded
 * in time (--time plus --setup-timeout) and in count (--count).
 *
 * The certificate is not verified: this is a benchmark on loopback, and
 * verifying would only add the generator's CPU to every login.  The
 * x509 class below decodes the server's key (needed for the handshake)
 * and accepts any chain.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bearssl.h"

#include "../log.h"
#include "../util.h"
#include "../xml.h"

#define NS_TLS		"urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL		"urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND		"urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION	"urn:ietf:params:xml:ns:xmpp-session"
#define NS_PING		"urn:xmpp:ping"
#define NS_REGISTER	"jabber:iq:register"

/* ==== limits ==== */
#define MAX_COUNT	200000		/* sessions, connectors or pairs x 2 */
#define MAX_TIME	3600		/* seconds of measurement */
#define MAX_SETUP	600		/* seconds to get everything logged in */
#define MAX_WINDOW	1024		/* messages in flight per sender */
#define MAX_BODY	4000		/* message body bytes */
#define OUT_MAX		(1024 * 1024)	/* plaintext queued per connection */
#define READ_CHUNK	16384
#define CLOSE_WAIT_MS	2000		/* wait for the server's </stream> */
#define DRAIN_MS	3000		/* wait for messages still in flight */
#define SCRAM_CACHE	32768		/* salted passwords remembered */
#define HIST_BINS	1000000		/* 10 us each: up to 10 s */
#define HIST_RES_NS	10000
#define MAX_EVENTS	1024		/* epoll events taken per pass */

enum mode { M_CONNECT, M_LOGINS, M_MESSAGES, M_REGISTER, M_PROBE };

enum cstate {
	CS_FREE,	/* slot unused */
	CS_CONNECTING,	/* TCP connect in progress */
	CS_FEATURES,	/* stream header sent, waiting for features */
	CS_STARTTLS,	/* <starttls/> sent, waiting for <proceed/> */
	CS_AUTH1,	/* SCRAM client-first sent */
	CS_AUTH2,	/* SCRAM client-final sent */
	CS_BIND,	/* bind IQ sent */
	CS_SESSION,	/* legacy session IQ sent */
	CS_REGISTER,	/* registration IQ sent */
	CS_ONLINE,	/* bound, presence sent */
	CS_CLOSING	/* </stream:stream> sent, waiting for the server's */
};

enum fail {
	F_CONNECT, F_TLS, F_STREAM, F_AUTH, F_BIND, F_REGISTER, F_EOF,
	F_TIMEOUT, F_XML, F_OVERFLOW, F_NFAIL
};
static const char *const fail_names[F_NFAIL] = {
	"connect", "tls", "stream_error", "auth", "bind", "register", "eof",
	"timeout", "xml", "overflow"
};

/*
 * The no-verification X.509 engine: decodes the end-entity certificate
 * for its public key and accepts the chain whatever it says.
 */
struct lg_x509 {
	const br_x509_class	*vtable;
	br_x509_decoder_context	 dc;
	int			 ncert;
	int			 key_ok;
};

/* TLS state of one connection: allocated once, never moved (BearSSL
 * contexts point into themselves). */
struct lg_tls {
	br_ssl_client_context	 cc;
	struct lg_x509		 x509;
	unsigned char		 iobuf[BR_SSL_BUFSIZE_BIDI];
	/* Read ahead (as the server does): BearSSL takes a record's header
	 * and body in two pieces; a stanza's record and what follows come
	 * in one recv() here, and a short count says the socket is empty. */
	unsigned char		 istage[512];
	size_t			 ioff, ilen;
};

struct lconn {
	enum cstate		 st;
	int			 fd;
	int			 slot;
	int			 acct;		/* account number */
	unsigned		 gen;		/* logins done on this slot */
	int			 tls_done;	/* TLS is up */
	int			 auth_done;
	int			 want_write;	/* socket said EAGAIN */
	int			 can_read;	/* no EAGAIN or short read since
						 * epoll said readable */
	uint32_t		 ev_mask;	/* events registered with epoll */
	int			 dirty;		/* on the dirty list */
	int			 closed_sent;	/* </stream:stream> queued */
	int			 need_session;	/* server wants the session IQ */
	int			 offered;	/* TLS: offered a session to resume */
	struct lg_tls		*tls;		/* owned; NULL before TLS */
	struct xml_parser	*xp;		/* owned */
	struct buf		 out;		/* plaintext not yet sent */
	int64_t			 t_start;	/* ns: connect() called */
	int64_t			 deadline;	/* ns */
	/* SCRAM */
	char			 cnonce[48];
	char			 first_bare[320];
	unsigned char		 srv_sig[20];
	/* after bind */
	char			 jid[400];	/* full JID the server bound */
	/* messages */
	unsigned		 inflight;	/* sent and not yet received */
	uint64_t		 nsent;
};

struct hist {
	uint32_t	*bins;
	uint64_t	 n;
	uint64_t	 over;		/* beyond the last bin */
	int64_t		 max_ns;
	long double	 sum_ns;
};

struct opts {
	enum mode	 mode;
	const char	*host;
	const char	*port;
	const char	*domain;
	const char	*user_pattern;
	const char	*password;
	int		 direct_tls;
	long		 count;		/* sessions / connectors / pairs */
	long		 accounts;	/* distinct accounts to cycle through */
	long		 first;		/* number of the first account */
	double		 time;		/* seconds of measurement or hold */
	double		 warmup;	/* seconds before counting (messages, logins) */
	double		 rate;		/* messages/s in total; 0: windowed */
	long		 window;
	long		 concurrency;	/* logins in progress at once */
	double		 setup_timeout;
	long		 body;
	int		 presence;
	long		 server_pid;
	int		 verbose;
	int		 verify_sig;	/* check the server's ECDSA signature */
	int		 resume;	/* offer each slot's last TLS session */
};

static struct opts	 o = {
	.mode = M_CONNECT, .host = "127.0.0.1", .port = "5222",
	.domain = "localhost", .user_pattern = "user%d", .password = "bench",
	.count = 10, .accounts = 0, .first = 0, .time = 10, .warmup = 1,
	.rate = 0, .window = 4, .concurrency = 50, .setup_timeout = 120,
	.body = 100, .presence = 1, .server_pid = 0
};

static struct lconn	*conns;
/* --resume-tls: the TLS session of each slot's last login */
static br_ssl_session_parameters *saved_sess;
static unsigned char	*saved_ok;
static int		 nslots;
static int		*dirty;
static int		 epfd = -1;
static int		 ndirty;
static struct sockaddr_storage peer;
static socklen_t	 peerlen;
static volatile sig_atomic_t stop_signal;

/* counters */
static uint64_t		 fails[F_NFAIL];
static long		 nonline;	/* sessions online now */
static long		 nstarted;	/* connections started */
static long		 ninprogress;	/* started, not yet online or closed */
static uint64_t		 nlogins;	/* completed logins (counted ones) */
static uint64_t		 nresumed;	/* of those, TLS sessions resumed */
static unsigned		 tls_suite, tls_curve;	/* of a full handshake */
static uint64_t		 nlogins_all;
static uint64_t		 nregistered;
static long		 probe_tries;	/* probe: connect() calls */
static uint64_t		 msg_sent_total;
static uint64_t		 msg_recv_total;
static uint64_t		 msg_recv_window;
static uint64_t		 msg_bad;
static struct hist	 lat_hist;	/* message latency */
static struct hist	 login_hist;	/* connect() to presence sent */

/* phases of a messages or logins run */
static int		 sending;	/* messages: senders may send */
static int64_t		 t_send0;	/* ns: sending started */
static int64_t		 t_meas0;	/* ns: counting starts */
static int64_t		 t_meas1;	/* ns: counting stops */
static size_t		 rr_next;	/* rate mode: next sender */
static char		 pad[MAX_BODY + 1];

/* ---- small helpers ---- */

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double
cpu_self_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of the server process (all threads), seconds; -1 if
 * there is no such process. */
static double
cpu_server_s(void)
{
	char path[64], line[2048], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	if (o.server_pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/stat", o.server_pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = '\0';
	/* the command name may hold spaces and parentheses: skip to the last ) */
	if ((p = strrchr(line, ')')) == NULL)
		return -1;
	/* fields 3.. follow; utime and stime are fields 14 and 15 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * Busy CPU seconds of the whole machine, all cores (user, nice, system,
 * irq, softirq, steal from /proc/stat).  With the server's and our own
 * CPU this tells how much went to other processes during a measurement:
 * on a shared machine that is the noise in the numbers.
 */
static double
cpu_machine_s(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f;
	int k;

	if ((f = fopen("/proc/stat", "r")) == NULL)
		return -1;
	k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (k != 8)
		return -1;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
	    (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of the server in KiB, or -1. */
static long
rss_server_kb(void)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (o.server_pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/status", o.server_pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static void
hist_init(struct hist *h)
{
	h->bins = xcalloc(HIST_BINS, sizeof *h->bins);
}

static void
hist_add(struct hist *h, int64_t ns)
{
	int64_t b;

	if (ns < 0)
		ns = 0;
	b = ns / HIST_RES_NS;
	if (b >= HIST_BINS)
		h->over++;
	else
		h->bins[b]++;
	h->n++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* The q-quantile in milliseconds (upper edge of its bin). */
static double
hist_q_ms(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	size_t i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BINS; i++) {
		seen += h->bins[i];
		if (seen >= want)
			return (double)(i + 1) * HIST_RES_NS / 1e6;
	}
	return (double)h->max_ns / 1e6;
}

/*
 * The local part for account number n: the pattern with its one "%d"
 * replaced ("%%" is a literal percent sign).  -1 if it does not fit.
 */
static int
user_name(long n, char *out, size_t outlen)
{
	const char *p;
	size_t len = 0;
	char num[24];
	int k;

	k = snprintf(num, sizeof num, "%ld", n);
	if (k < 0 || (size_t)k >= sizeof num)
		return -1;
	for (p = o.user_pattern; *p != '\0'; p++) {
		const char *add = p;
		size_t addlen = 1;

		if (p[0] == '%' && p[1] == 'd') {
			add = num;
			addlen = (size_t)k;
			p++;
		} else if (p[0] == '%' && p[1] == '%')
			p++;
		if (addlen >= outlen - len)
			return -1;
		memcpy(out + len, add, addlen);
		len += addlen;
	}
	out[len] = '\0';
	return 0;
}

static int
pattern_is_valid(const char *pat)
{
	int nd = 0;

	for (; *pat != '\0'; pat++) {
		if (*pat != '%')
			continue;
		if (pat[1] == 'd')
			nd++;
		else if (pat[1] != '%')
			return 0;
		pat++;
	}
	return nd == 1;
}

/* ---- the no-verification X.509 engine ---- */

static void
x_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct lg_x509 *x = (struct lg_x509 *)(void *)ctx;

	x->ncert = 0;
	x->key_ok = 0;
}

static void
x_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct lg_x509 *x = (struct lg_x509 *)(void *)ctx;

	/* Only the first certificate (the server's own) matters. */
	if (x->ncert == 0)
		br_x509_decoder_init(&x->dc, NULL, NULL);
}

static void
x_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct lg_x509 *x = (struct lg_x509 *)(void *)ctx;

	if (x->ncert == 0)
		br_x509_decoder_push(&x->dc, buf, len);
}

static void
x_end_cert(const br_x509_class **ctx)
{
	struct lg_x509 *x = (struct lg_x509 *)(void *)ctx;

	if (x->ncert == 0)
		x->key_ok = br_x509_decoder_last_error(&x->dc) == 0 &&
		    br_x509_decoder_get_pkey(&x->dc) != NULL;
	x->ncert++;
}

static unsigned
x_end_chain(const br_x509_class **ctx)
{
	struct lg_x509 *x = (struct lg_x509 *)(void *)ctx;

	return x->key_ok ? 0 : BR_ERR_X509_BAD_SERVER_NAME;
}

static const br_x509_pkey *
x_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct lg_x509 *x = (struct lg_x509 *)(void *)ctx;

	if (!x->key_ok)
		return NULL;
	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return br_x509_decoder_get_pkey(&x->dc);
}

/*
 * ECDSA "verification" that accepts every ServerKeyExchange signature.
 * The chain is not checked either, so checking the signature would not
 * authenticate anything; it would only make every generated login cost
 * the generator a P-256 double multiplication, and the generator must be
 * cheaper per login than the server it measures.  (RSA keys keep the
 * real check: the engine needs the hash it recovers, and it is cheap.)
 */
static uint32_t
accept_ecdsa(const br_ec_impl *impl, const void *hash, size_t hash_len,
    const br_ec_public_key *pk, const void *sig, size_t sig_len)
{
	return 1;
}

static const br_x509_class lg_x509_vtable = {
	sizeof(struct lg_x509),
	x_start_chain, x_start_cert, x_append, x_end_cert, x_end_chain,
	x_get_pkey
};

/* ---- SCRAM-SHA-1 (RFC 5802) ---- */

static void
hmac_sha1(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[20])
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, &br_sha1_vtable, key, keylen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, data, len);
	br_hmac_out(&hc, out);
}

/* PBKDF2-HMAC-SHA-1 with one output block (RFC 8018 5.2, dkLen = 20). */
static void
pbkdf2_sha1(const char *pass, const unsigned char *salt, size_t saltlen,
    unsigned iter, unsigned char out[20])
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	unsigned char u[20];
	static const unsigned char one[4] = { 0, 0, 0, 1 };
	unsigned i, j;

	br_hmac_key_init(&kc, &br_sha1_vtable, pass, strlen(pass));
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, salt, saltlen);
	br_hmac_update(&hc, one, sizeof one);
	br_hmac_out(&hc, u);
	memcpy(out, u, 20);
	for (i = 1; i < iter; i++) {
		br_hmac_init(&hc, &kc, 0);
		br_hmac_update(&hc, u, 20);
		br_hmac_out(&hc, u);
		for (j = 0; j < 20; j++)
			out[j] ^= u[j];
	}
}

/*
 * Salted passwords by (password, salt, iterations): a real client keeps
 * its SaltedPassword too, and without this the generator would spend its
 * CPU on PBKDF2 instead of loading the server.
 */
struct scram_ent {
	char		 key[200];	/* "iter:salt:password" */
	unsigned char	 salted[20];
	int		 used;
};
static struct scram_ent	scram_cache[SCRAM_CACHE];
static uint64_t		pbkdf2_runs;

static void
salted_password(const char *pass, const char *salt_b64, unsigned iter,
    const unsigned char *salt, size_t saltlen, unsigned char out[20])
{
	char key[200];
	uint32_t h = 2166136261u;
	const char *p;
	struct scram_ent *e;
	int k;

	k = snprintf(key, sizeof key, "%u:%s:%s", iter, salt_b64, pass);
	if (k < 0 || (size_t)k >= sizeof key) {
		pbkdf2_runs++;
		pbkdf2_sha1(pass, salt, saltlen, iter, out);
		return;
	}
	for (p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	e = &scram_cache[h % SCRAM_CACHE];
	if (e->used && strcmp(e->key, key) == 0) {
		memcpy(out, e->salted, 20);
		return;
	}
	pbkdf2_runs++;
	pbkdf2_sha1(pass, salt, saltlen, iter, out);
	memcpy(e->key, key, (size_t)k + 1);
	memcpy(e->salted, out, 20);
	e->used = 1;
}

/* ---- connections ---- */

static void	conn_fail(struct lconn *, enum fail, const char *);
static void	conn_free(struct lconn *);
static void	conn_finish(struct lconn *);
static void	on_stanza(struct lconn *, struct xml_node *);
static void	on_online(struct lconn *);
static void	top_up(struct lconn *);

/* Register what the connection waits for, if that changed. */
static void
ep_sync(struct lconn *c)
{
	struct epoll_event ev;
	uint32_t want;

	if (c->st == CS_FREE || c->fd == -1)
		return;
	want = c->st == CS_CONNECTING ? EPOLLOUT :
	    EPOLLIN | (c->want_write ? EPOLLOUT : 0);
	if (want == c->ev_mask)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = want;
	ev.data.u32 = (uint32_t)c->slot;
	if (epoll_ctl(epfd, c->ev_mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
	    &ev) == -1)
		fatal("epoll_ctl");
	c->ev_mask = want;
}

static void
mark_dirty(struct lconn *c)
{
	if (c->dirty || c->st == CS_FREE)
		return;
	c->dirty = 1;
	dirty[ndirty++] = c->slot;
}

static int
queue(struct lconn *c, const char *s, size_t n)
{
	if (buf_add(&c->out, s, n) == -1) {
		conn_fail(c, F_OVERFLOW, "output queue full");
		return -1;
	}
	mark_dirty(c);
	return 0;
}

static int
queue_str(struct lconn *c, const char *s)
{
	return queue(c, s, strlen(s));
}

static void
send_header(struct lconn *c)
{
	struct buf *b = &c->out;

	buf_addstr(b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
	    " xmlns:stream='http://etherx.jabber.org/streams' to='");
	buf_add_escaped(b, o.domain, strlen(o.domain));
	if (buf_addstr(b, "' version='1.0'>") == -1) {
		conn_fail(c, F_OVERFLOW, "output queue full");
		return;
	}
	mark_dirty(c);
	c->st = CS_FEATURES;
}

static void
tls_start(struct lconn *c)
{
	br_x509_minimal_context xmin;	/* only for init_full; replaced */
	struct lg_tls *t;

	t = xmalloc(sizeof *t);
	memset(&t->cc, 0, sizeof t->cc);
	br_ssl_client_init_full(&t->cc, &xmin, NULL, 0);
	t->x509.vtable = &lg_x509_vtable;
	br_ssl_engine_set_x509(&t->cc.eng, &t->x509.vtable);
	if (!o.verify_sig)
		br_ssl_engine_set_ecdsa(&t->cc.eng, accept_ecdsa);
	br_ssl_engine_set_buffer(&t->cc.eng, t->iobuf, sizeof t->iobuf, 1);
	c->offered = saved_ok != NULL && saved_ok[c->slot];
	if (c->offered)
		br_ssl_engine_set_session_parameters(&t->cc.eng,
		    &saved_sess[c->slot]);
	if (!br_ssl_client_reset(&t->cc, o.domain, c->offered)) {
		free(t);
		conn_fail(c, F_TLS, "client reset");
		return;
	}
	t->ioff = t->ilen = 0;
	c->tls = t;
	c->can_read = 1;
	xml_parser_reset(c->xp);
}

static void
conn_free(struct lconn *c)
{
	if (c->st == CS_FREE)
		return;
	if (c->st == CS_ONLINE)
		nonline--;
	else if (c->st != CS_CLOSING)
		ninprogress--;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	if (c->tls != NULL) {
		explicit_bzero(c->tls, sizeof *c->tls);
		free(c->tls);
		c->tls = NULL;
	}
	if (c->xp != NULL)
		xml_parser_free(c->xp);
	c->xp = NULL;
	buf_free(&c->out);
	c->st = CS_FREE;
}

static void
conn_fail(struct lconn *c, enum fail why, const char *detail)
{
	if (c->st == CS_FREE)
		return;
	fails[why]++;
	if (o.verbose || fails[why] <= 3)
		fprintf(stderr, "loadgen: slot %d: %s: %s\n", c->slot,
		    fail_names[why], detail != NULL ? detail : "");
	conn_free(c);
}

/* Start (or restart) slot s: a non-blocking connect. */
static void
conn_start(int s, long acct)
{
	struct lconn *c = &conns[s];
	unsigned gen = c->gen;
	int fd, one = 1, was_dirty = c->dirty;

	memset(c, 0, sizeof *c);
	c->slot = s;
	c->acct = (int)acct;
	c->fd = -1;
	c->gen = gen;
	/* A slot freed and restarted in one pass may still be on the dirty
	 * list: keep the flag so it is not added twice. */
	c->dirty = was_dirty;
	buf_init(&c->out, OUT_MAX);
	c->xp = xml_parser_new(XML_MODE_STREAM, NULL);
	c->st = CS_CONNECTING;
	c->t_start = now_ns();
	c->deadline = c->t_start + (int64_t)(o.setup_timeout * 1e9);
	nstarted++;
	ninprogress++;
	fd = socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		conn_fail(c, F_CONNECT, strerror(errno));
		return;
	}
	c->fd = fd;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&peer, peerlen) == -1 &&
	    errno != EINPROGRESS) {
		conn_fail(c, F_CONNECT, strerror(errno));
		return;
	}
	c->want_write = 1;
	ep_sync(c);
}

/* Called when the TCP connection is up. */
static void
conn_connected(struct lconn *c)
{
	c->want_write = 0;
	if (o.mode == M_PROBE && nlogins_all == 0) {
		printf("tcp_open_realtime_ns=%lld connect_tries=%ld\n",
		    (long long)realtime_ns(), probe_tries);
		fflush(stdout);
	}
	if (o.direct_tls) {
		tls_start(c);
		if (c->st == CS_FREE)
			return;
		c->tls_done = 1;
	}
	send_header(c);
}

/* Feed received plaintext to the parser and act on each event. */
static void
conn_input(struct lconn *c, const char *p, size_t n)
{
	size_t used;

	while (n > 0 && c->st != CS_FREE) {
		enum xml_event ev;
		struct lg_tls *before = c->tls;

		used = xml_feed(c->xp, p, n);
		p += used;
		n -= used;
		ev = xml_event(c->xp);
		switch (ev) {
		case XML_EV_NONE:
		case XML_EV_STREAM_OPEN:
			break;
		case XML_EV_STANZA: {
			struct xml_node *st = xml_take_stanza(c->xp);

			on_stanza(c, st);
			xml_arena_free(st->arena);
			break;
		}
		case XML_EV_STREAM_CLOSE:
			if (c->st == CS_CLOSING) {
				conn_finish(c);
				return;
			}
			conn_fail(c, F_EOF, "server closed the stream");
			return;
		case XML_EV_DOCUMENT:
			break;
		case XML_EV_ERROR:
			conn_fail(c, F_XML, xml_error_detail(c->xp));
			return;
		}
		/* STARTTLS began: what follows is TLS, not for the parser. */
		if (before == NULL && c->tls != NULL)
			return;
	}
}

/* Plain TCP: read and write until the socket would block. */
static void
pump_plain(struct lconn *c)
{
	char in[READ_CHUNK];
	ssize_t r;

	while (c->st != CS_FREE && c->tls == NULL) {
		if (buf_used(&c->out) > 0) {
			r = send(c->fd, buf_head(&c->out), buf_used(&c->out),
			    MSG_NOSIGNAL);
			if (r > 0) {
				buf_consume(&c->out, (size_t)r);
				continue;
			}
			if (r == -1 && errno != EAGAIN && errno != EINTR) {
				conn_fail(c, F_EOF, strerror(errno));
				return;
			}
			c->want_write = 1;
		} else
			c->want_write = 0;
		r = recv(c->fd, in, sizeof in, 0);
		if (r > 0) {
			conn_input(c, in, (size_t)r);
			continue;
		}
		if (r == 0) {
			conn_fail(c, F_EOF, "connection closed");
			return;
		}
		if (errno != EAGAIN && errno != EINTR)
			conn_fail(c, F_EOF, strerror(errno));
		return;
	}
}

/* TLS: run the engine until it needs the socket and the socket blocks. */
static void
pump_tls(struct lconn *c)
{
	br_ssl_engine_context *eng;
	unsigned char *b;
	size_t len, want;
	ssize_t r;
	int rblocked = !c->can_read, wblocked = 0, flushed = 1;
	struct lg_tls *t;

	c->want_write = 0;
	for (;;) {
		unsigned st;

		if (c->st == CS_FREE || c->tls == NULL)
			return;
		eng = &c->tls->cc.eng;
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			int err = br_ssl_engine_last_error(eng);
			char m[48];

			if (c->st == CS_CLOSING && err == 0) {
				conn_free(c);
				return;
			}
			snprintf(m, sizeof m, "engine closed, error %d", err);
			conn_fail(c, err ? F_TLS : F_EOF, m);
			return;
		}
		if ((st & BR_SSL_SENDREC) && !wblocked) {
			b = br_ssl_engine_sendrec_buf(eng, &len);
			r = send(c->fd, b, len, MSG_NOSIGNAL);
			if (r > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)r);
				continue;
			}
			if (r == -1 && errno != EAGAIN && errno != EINTR) {
				conn_fail(c, F_EOF, strerror(errno));
				return;
			}
			wblocked = 1;
			c->want_write = 1;
		}
		if (st & BR_SSL_RECVAPP) {
			b = br_ssl_engine_recvapp_buf(eng, &len);
			/* The parser copies what it keeps: ack first is safe
			 * only after feeding, so feed from the engine buffer. */
			conn_input(c, (const char *)b, len);
			if (c->st == CS_FREE || c->tls == NULL)
				return;
			br_ssl_engine_recvapp_ack(eng, len);
			continue;
		}
		if ((st & BR_SSL_SENDAPP) && buf_used(&c->out) > 0) {
			b = br_ssl_engine_sendapp_buf(eng, &len);
			if (len > buf_used(&c->out))
				len = buf_used(&c->out);
			memcpy(b, buf_head(&c->out), len);
			buf_consume(&c->out, len);
			br_ssl_engine_sendapp_ack(eng, len);
			flushed = 0;
			continue;
		}
		if (!flushed && buf_used(&c->out) == 0) {
			br_ssl_engine_flush(eng, 0);
			flushed = 1;
			continue;
		}
		t = c->tls;
		if ((st & BR_SSL_RECVREC) && (t->ilen > t->ioff || !rblocked)) {
			b = br_ssl_engine_recvrec_buf(eng, &len);
			if (t->ilen > t->ioff) {
				if (len > t->ilen - t->ioff)
					len = t->ilen - t->ioff;
				memcpy(b, t->istage + t->ioff, len);
				t->ioff += len;
				br_ssl_engine_recvrec_ack(eng, len);
				continue;
			}
			want = len < sizeof t->istage ? sizeof t->istage : len;
			r = recv(c->fd, want > len ? t->istage : b, want, 0);
			if (r > 0) {
				if ((size_t)r < want) {
					rblocked = 1;
					c->can_read = 0;
				}
				if (want > len) {
					t->ioff = 0;
					t->ilen = (size_t)r;
				} else
					br_ssl_engine_recvrec_ack(eng, (size_t)r);
				continue;
			}
			if (r == 0) {
				if (c->st == CS_CLOSING) {
					conn_free(c);
					return;
				}
				conn_fail(c, F_EOF, "connection closed");
				return;
			}
			if (errno != EAGAIN && errno != EINTR) {
				conn_fail(c, F_EOF, strerror(errno));
				return;
			}
			rblocked = 1;
			c->can_read = 0;
			continue;
		}
		return;
	}
}

static void
pump(struct lconn *c)
{
	if (c->st == CS_FREE)
		return;
	if (c->tls != NULL) {
		pump_tls(c);
		return;
	}
	pump_plain(c);
	/* STARTTLS began inside pump_plain: start the handshake. */
	if (c->st != CS_FREE && c->tls != NULL)
		pump_tls(c);
}

/*
 * Polite logout: </stream:stream>, then wait for the server's (the
 * parser's STREAM_CLOSE event ends it, see conn_finish()).
 */
static void
conn_logout(struct lconn *c)
{
	if (c->st == CS_ONLINE)
		nonline--;
	else if (c->st != CS_CLOSING)
		ninprogress--;
	c->st = CS_CLOSING;
	c->deadline = now_ns() + (int64_t)CLOSE_WAIT_MS * 1000000;
	if (!c->closed_sent) {
		c->closed_sent = 1;
		queue_str(c, "</stream:stream>");
	}
}

/*
 * The server closed its stream after ours: send TLS close_notify (best
 * effort, the socket is non-blocking) and let go of the connection.
 */
static void
conn_finish(struct lconn *c)
{
	br_ssl_engine_context *eng;
	unsigned char *b;
	size_t len;
	ssize_t r;
	int tries;

	if (c->tls != NULL) {
		eng = &c->tls->cc.eng;
		br_ssl_engine_close(eng);
		for (tries = 0; tries < 8 &&
		    (br_ssl_engine_current_state(eng) & BR_SSL_SENDREC); tries++) {
			b = br_ssl_engine_sendrec_buf(eng, &len);
			r = send(c->fd, b, len, MSG_NOSIGNAL);
			if (r <= 0)
				break;
			br_ssl_engine_sendrec_ack(eng, (size_t)r);
		}
	}
	conn_free(c);
}

/* ---- the XMPP client state machine ---- */

static void
send_auth(struct lconn *c)
{
	char user[256], esc[256 * 3 + 1], first[400], b64[600];
	unsigned char rnd[18];
	size_t i, e = 0;
	ssize_t n;
	int k;

	if (user_name(c->acct, user, sizeof user) == -1) {
		conn_fail(c, F_AUTH, "user name too long");
		return;
	}
	/* RFC 5802 5.1: ',' and '=' in the name are escaped. */
	for (i = 0; user[i] != '\0'; i++) {
		if (user[i] == ',') {
			memcpy(esc + e, "=2C", 3);
			e += 3;
		} else if (user[i] == '=') {
			memcpy(esc + e, "=3D", 3);
			e += 3;
		} else
			esc[e++] = user[i];
	}
	esc[e] = '\0';
	random_bytes(rnd, sizeof rnd);
	if (b64_encode(rnd, sizeof rnd, c->cnonce, sizeof c->cnonce) < 0) {
		conn_fail(c, F_AUTH, "nonce");
		return;
	}
	k = snprintf(c->first_bare, sizeof c->first_bare, "n=%s,r=%s", esc,
	    c->cnonce);
	if (k < 0 || (size_t)k >= sizeof c->first_bare) {
		conn_fail(c, F_AUTH, "user name too long");
		return;
	}
	k = snprintf(first, sizeof first, "n,,%s", c->first_bare);
	if (k < 0 || (size_t)k >= sizeof first ||
	    (n = b64_encode(first, (size_t)k, b64, sizeof b64)) < 0) {
		conn_fail(c, F_AUTH, "client-first too long");
		return;
	}
	queue_str(c, "<auth xmlns='" NS_SASL "' mechanism='SCRAM-SHA-1'>");
	queue(c, b64, (size_t)n);
	queue_str(c, "</auth>");
	c->st = CS_AUTH1;
}

/* Value of attribute "x=" in a SCRAM message, copied into out. */
static int
scram_attr(const char *msg, char name, char *out, size_t outlen)
{
	const char *p = msg, *end;
	size_t len;

	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		if (p[0] == name && p[1] == '=') {
			len = (size_t)(end - (p + 2));
			if (len >= outlen)
				return -1;
			memcpy(out, p + 2, len);
			out[len] = '\0';
			return 0;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return -1;
}

static void
on_challenge(struct lconn *c, const char *text)
{
	char sfirst[1024], nonce[256], salt_b64[256], iters[16];
	char final_wo[400], authmsg[2048], proofb64[64], out[600], b64[900];
	unsigned char salt[192], salted[20], ckey[20], skey[20], stored[20];
	unsigned char csig[20], proof[20];
	br_sha1_context sc;
	unsigned long iter;
	ssize_t n, sl;
	char *end;
	int k, i;

	if ((n = b64_decode(text, strlen(text), sfirst, sizeof sfirst - 1)) < 0) {
		conn_fail(c, F_AUTH, "bad challenge base64");
		return;
	}
	sfirst[n] = '\0';
	if (scram_attr(sfirst, 'r', nonce, sizeof nonce) == -1 ||
	    scram_attr(sfirst, 's', salt_b64, sizeof salt_b64) == -1 ||
	    scram_attr(sfirst, 'i', iters, sizeof iters) == -1 ||
	    strncmp(nonce, c->cnonce, strlen(c->cnonce)) != 0) {
		conn_fail(c, F_AUTH, "bad server-first-message");
		return;
	}
	errno = 0;
	iter = strtoul(iters, &end, 10);
	if (errno != 0 || *end != '\0' || iter == 0 || iter > 10000000) {
		conn_fail(c, F_AUTH, "bad iteration count");
		return;
	}
	if ((sl = b64_decode(salt_b64, strlen(salt_b64), salt, sizeof salt)) <= 0) {
		conn_fail(c, F_AUTH, "bad salt");
		return;
	}
	salted_password(o.password, salt_b64, (unsigned)iter, salt, (size_t)sl,
	    salted);
	hmac_sha1(salted, 20, "Client Key", 10, ckey);
	br_sha1_init(&sc);
	br_sha1_update(&sc, ckey, 20);
	br_sha1_out(&sc, stored);
	k = snprintf(final_wo, sizeof final_wo, "c=biws,r=%s", nonce);
	if (k < 0 || (size_t)k >= sizeof final_wo) {
		conn_fail(c, F_AUTH, "nonce too long");
		return;
	}
	k = snprintf(authmsg, sizeof authmsg, "%s,%s,%s", c->first_bare, sfirst,
	    final_wo);
	if (k < 0 || (size_t)k >= sizeof authmsg) {
		conn_fail(c, F_AUTH, "auth message too long");
		return;
	}
	hmac_sha1(stored, 20, authmsg, (size_t)k, csig);
	for (i = 0; i < 20; i++)
		proof[i] = ckey[i] ^ csig[i];
	hmac_sha1(salted, 20, "Server Key", 10, skey);
	hmac_sha1(skey, 20, authmsg, (size_t)k, c->srv_sig);
	if (b64_encode(proof, 20, proofb64, sizeof proofb64) < 0) {
		conn_fail(c, F_AUTH, "proof");
		return;
	}
	k = snprintf(out, sizeof out, "%s,p=%s", final_wo, proofb64);
	if (k < 0 || (size_t)k >= sizeof out ||
	    (n = b64_encode(out, (size_t)k, b64, sizeof b64)) < 0) {
		conn_fail(c, F_AUTH, "client-final too long");
		return;
	}
	queue_str(c, "<response xmlns='" NS_SASL "'>");
	queue(c, b64, (size_t)n);
	queue_str(c, "</response>");
	c->st = CS_AUTH2;
	explicit_bzero(salted, sizeof salted);
}

static void
on_success(struct lconn *c, const char *text)
{
	char msg[256], v[64];
	unsigned char sig[32];
	ssize_t n;

	if ((n = b64_decode(text, strlen(text), msg, sizeof msg - 1)) < 0) {
		conn_fail(c, F_AUTH, "bad success base64");
		return;
	}
	msg[n] = '\0';
	if (scram_attr(msg, 'v', v, sizeof v) == -1 ||
	    b64_decode(v, strlen(v), sig, sizeof sig) != 20 ||
	    !ct_equal(sig, c->srv_sig, 20)) {
		conn_fail(c, F_AUTH, "server signature does not verify");
		return;
	}
	c->auth_done = 1;
	xml_parser_reset(c->xp);
	send_header(c);
}

static void
send_bind(struct lconn *c)
{
	char res[64];

	snprintf(res, sizeof res, "lg%d-%u", c->slot, c->gen);
	queue_str(c, "<iq type='set' id='bind1'><bind xmlns='" NS_BIND
	    "'><resource>");
	queue_str(c, res);
	queue_str(c, "</resource></bind></iq>");
	c->st = CS_BIND;
}

static void
send_register(struct lconn *c)
{
	char user[256];

	if (user_name(c->acct, user, sizeof user) == -1) {
		conn_fail(c, F_REGISTER, "user name too long");
		return;
	}
	queue_str(c, "<iq type='set' id='reg1'><query xmlns='" NS_REGISTER
	    "'><username>");
	buf_add_escaped(&c->out, user, strlen(user));
	queue_str(c, "</username><password>");
	buf_add_escaped(&c->out, o.password, strlen(o.password));
	queue_str(c, "</password></query></iq>");
	c->st = CS_REGISTER;
}

static void
on_features(struct lconn *c, struct xml_node *f)
{
	struct xml_node *mechs, *m, *sess;
	int scram = 0;

	if (!c->tls_done) {
		if (xml_child(f, "starttls", NS_TLS) == NULL) {
			conn_fail(c, F_TLS, "server offers no STARTTLS");
			return;
		}
		queue_str(c, "<starttls xmlns='" NS_TLS "'/>");
		c->st = CS_STARTTLS;
		return;
	}
	if (o.mode == M_REGISTER) {
		send_register(c);
		return;
	}
	if (!c->auth_done) {
		if ((mechs = xml_child(f, "mechanisms", NS_SASL)) == NULL) {
			conn_fail(c, F_AUTH, "no SASL mechanisms offered");
			return;
		}
		for (m = xml_child(mechs, "mechanism", NS_SASL); m != NULL;
		    m = xml_next(m, "mechanism", NS_SASL))
			if (strcmp(xml_text(m), "SCRAM-SHA-1") == 0)
				scram = 1;
		if (!scram) {
			conn_fail(c, F_AUTH, "SCRAM-SHA-1 not offered");
			return;
		}
		send_auth(c);
		return;
	}
	if (xml_child(f, "bind", NS_BIND) == NULL) {
		conn_fail(c, F_BIND, "no bind feature");
		return;
	}
	sess = xml_child(f, "session", NS_SESSION);
	/* RFC 6121 leaves the session IQ out; send it only when required. */
	if (sess != NULL && xml_child(sess, "optional", NULL) != NULL)
		sess = NULL;
	/* the session IQ, if wanted, follows the bind result */
	c->need_session = sess != NULL;
	send_bind(c);
}

static void
on_online(struct lconn *c)
{
	int64_t t = now_ns();

	/* What the server chose (a resumed session has no key exchange). */
	if (c->tls != NULL && tls_curve == 0) {
		br_ssl_session_parameters sp;

		br_ssl_engine_get_session_parameters(&c->tls->cc.eng, &sp);
		tls_suite = sp.cipher_suite;
		tls_curve = (unsigned)br_ssl_engine_get_ecdhe_curve(
		    &c->tls->cc.eng);
	}

	if (o.presence)
		queue_str(c, "<presence/>");
	c->st = CS_ONLINE;
	ninprogress--;
	nonline++;
	nlogins_all++;
	if (o.mode == M_LOGINS) {
		int resumed = 0;

		if (saved_ok != NULL && c->tls != NULL) {
			br_ssl_session_parameters *sp = &saved_sess[c->slot];
			br_ssl_session_parameters now;

			/* The server resumed if it took the offered ID. */
			br_ssl_engine_get_session_parameters(&c->tls->cc.eng,
			    &now);
			resumed = c->offered && now.session_id_len > 0 &&
			    now.session_id_len == sp->session_id_len &&
			    memcmp(now.session_id, sp->session_id,
			    now.session_id_len) == 0;
			*sp = now;
			saved_ok[c->slot] = now.session_id_len > 0;
		}
		if (t >= t_meas0 && t < t_meas1 && t_meas0 != 0) {
			nlogins++;
			nresumed += resumed;
			hist_add(&login_hist, t - c->t_start);
		}
		conn_logout(c);
		return;
	}
	hist_add(&login_hist, t - c->t_start);
	if (o.mode == M_PROBE) {
		printf("login_done_realtime_ns=%lld\n", (long long)realtime_ns());
		fflush(stdout);
		conn_logout(c);
		return;
	}
	if (o.mode == M_MESSAGES && sending)
		top_up(c);
}

static void
on_iq(struct lconn *c, struct xml_node *st)
{
	const char *type = xml_attr(st, "type"), *id = xml_attr(st, "id");
	struct xml_node *b;

	if (type == NULL)
		type = "";
	if (id == NULL)
		id = "";
	if (c->st == CS_BIND && strcmp(id, "bind1") == 0) {
		if (strcmp(type, "result") != 0 ||
		    (b = xml_child(st, "bind", NS_BIND)) == NULL) {
			conn_fail(c, F_BIND, "bind refused");
			return;
		}
		if (strlcpy_ok(c->jid, xml_child_text(b, "jid", NS_BIND) ?
		    xml_child_text(b, "jid", NS_BIND) : "", sizeof c->jid) == -1 ||
		    c->jid[0] == '\0') {
			conn_fail(c, F_BIND, "no or over-long JID in bind result");
			return;
		}
		if (c->need_session) {
			queue_str(c, "<iq type='set' id='sess1'><session xmlns='"
			    NS_SESSION "'/></iq>");
			c->st = CS_SESSION;
			return;
		}
		on_online(c);
		return;
	}
	if (c->st == CS_SESSION && strcmp(id, "sess1") == 0) {
		if (strcmp(type, "result") != 0) {
			conn_fail(c, F_BIND, "session refused");
			return;
		}
		on_online(c);
		return;
	}
	if (c->st == CS_REGISTER && strcmp(id, "reg1") == 0) {
		if (strcmp(type, "result") != 0) {
			struct xml_node *e = xml_child(st, "error", NULL);
			struct xml_node *cond = e ? xml_first_element(e) : NULL;

			/* An account that exists already is as good. */
			if (cond != NULL && strcmp(cond->name, "conflict") == 0)
				nregistered++;
			else {
				conn_fail(c, F_REGISTER, cond ? cond->name : type);
				return;
			}
		} else
			nregistered++;
		ninprogress--;
		c->st = CS_ONLINE;	/* conn_logout counts it as online */
		nonline++;
		conn_logout(c);
		return;
	}
	/* Answer pings (XEP-0199) so idle servers keep us; refuse the rest. */
	if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0) {
		const char *from = xml_attr(st, "from");
		int ping = strcmp(type, "get") == 0 &&
		    xml_child(st, "ping", NS_PING) != NULL;

		buf_addstr(&c->out, ping ? "<iq type='result' id='" :
		    "<iq type='error' id='");
		buf_add_escaped(&c->out, id, strlen(id));
		if (from != NULL) {
			buf_addstr(&c->out, "' to='");
			buf_add_escaped(&c->out, from, strlen(from));
		}
		queue_str(c, ping ? "'/>" : "'><error type='cancel'>"
		    "<service-unavailable xmlns='urn:ietf:params:xml:ns:"
		    "xmpp-stanzas'/></error></iq>");
	}
}

static void
on_message(struct lconn *c, struct xml_node *st)
{
	const char *body = xml_child_text(st, "body", NS_CLIENT);
	long long ts;
	long from;
	int64_t t = now_ns();
	struct lconn *s;

	if (body == NULL)
		body = xml_child_text(st, "body", NULL);
	if (body == NULL || sscanf(body, "lg %lld %ld", &ts, &from) != 2 ||
	    from < 0 || from >= nslots) {
		msg_bad++;
		return;
	}
	msg_recv_total++;
	if ((int64_t)ts >= t_meas0 && t < t_meas1) {
		msg_recv_window++;
		hist_add(&lat_hist, t - (int64_t)ts);
	}
	s = &conns[from];
	if (s->inflight > 0)
		s->inflight--;
	if (s->st == CS_ONLINE && sending && o.rate == 0)
		top_up(s);
}

static void
on_stanza(struct lconn *c, struct xml_node *st)
{
	if (xml_is(st, "error", NS_STREAM)) {
		struct xml_node *cond = xml_first_element(st);

		conn_fail(c, F_STREAM, cond != NULL ? cond->name : "?");
		return;
	}
	switch (c->st) {
	case CS_FEATURES:
		if (xml_is(st, "features", NS_STREAM))
			on_features(c, st);
		else
			conn_fail(c, F_STREAM, "expected stream features");
		return;
	case CS_STARTTLS:
		if (!xml_is(st, "proceed", NS_TLS)) {
			conn_fail(c, F_TLS, "STARTTLS refused");
			return;
		}
		if (buf_used(&c->out) > 0) {
			conn_fail(c, F_TLS, "unsent data before TLS");
			return;
		}
		tls_start(c);
		if (c->st != CS_FREE) {
			c->tls_done = 1;
			send_header(c);
		}
		return;
	case CS_AUTH1:
		if (xml_is(st, "challenge", NS_SASL))
			on_challenge(c, xml_text(st));
		else
			conn_fail(c, F_AUTH, st->name);
		return;
	case CS_AUTH2:
		if (xml_is(st, "success", NS_SASL))
			on_success(c, xml_text(st));
		else
			conn_fail(c, F_AUTH, st->name);
		return;
	case CS_CLOSING:
		return;
	default:
		break;
	}
	if (xml_is(st, "iq", NS_CLIENT))
		on_iq(c, st);
	else if (xml_is(st, "message", NS_CLIENT))
		on_message(c, st);
}

/* ---- messages ---- */

static void
send_message(struct lconn *c)
{
	struct lconn *to = &conns[c->slot ^ 1];
	char head[96];
	size_t hl;
	int k;

	if (to->jid[0] == '\0')
		return;
	k = snprintf(head, sizeof head, "lg %lld %d ", (long long)now_ns(),
	    c->slot);
	if (k < 0 || (size_t)k >= sizeof head)
		return;
	hl = (size_t)k;
	buf_addstr(&c->out, "<message type='chat' to='");
	buf_add_escaped(&c->out, to->jid, strlen(to->jid));
	buf_addstr(&c->out, "'><body>");
	buf_add(&c->out, head, hl);
	/* pad the body to o.body bytes */
	if ((size_t)o.body > hl)
		buf_add(&c->out, pad, (size_t)o.body - hl);
	if (queue_str(c, "</body></message>") == -1)
		return;
	c->inflight++;
	c->nsent++;
	msg_sent_total++;
}

/* Windowed mode: keep o.window messages in flight from c. */
static void
top_up(struct lconn *c)
{
	if (o.rate > 0 || conns[c->slot ^ 1].st != CS_ONLINE)
		return;
	while (c->st == CS_ONLINE && c->inflight < (unsigned)o.window &&
	    buf_used(&c->out) < OUT_MAX / 2)
		send_message(c);
}

/* Rate mode: send what the clock says is due, round robin. */
static void
pace(int64_t t)
{
	double due_d = (double)(t - t_send0) / 1e9 * o.rate;
	uint64_t due;
	size_t tried = 0;

	if (due_d <= (double)msg_sent_total)
		return;
	due = (uint64_t)due_d - msg_sent_total;
	while (due > 0 && tried < (size_t)nslots) {
		struct lconn *c = &conns[rr_next];

		rr_next = (rr_next + 1) % (size_t)nslots;
		if (c->st == CS_ONLINE && conns[c->slot ^ 1].st == CS_ONLINE &&
		    c->inflight < (unsigned)o.window) {
			send_message(c);
			due--;
			tried = 0;
		} else
			tried++;
	}
}

/* ---- set-up ---- */

static int
resolve(void)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&peer;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&peer;
	char *end;
	unsigned long port;

	errno = 0;
	port = strtoul(o.port, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return -1;
	memset(&peer, 0, sizeof peer);
	if (inet_pton(AF_INET, o.host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		peerlen = sizeof *s4;
		return 0;
	}
	if (inet_pton(AF_INET6, o.host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		peerlen = sizeof *s6;
		return 0;
	}
	return -1;
}

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static void
raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur >= (rlim_t)want)
		return;
	rl.rlim_cur = (rlim_t)want;
	if (rl.rlim_max < rl.rlim_cur)
		rl.rlim_max = rl.rlim_cur;	/* works as root */
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		(void)getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
"usage: loadgen MODE [options]\n"
"modes:\n"
"  connect    log in --count sessions, hold them --time s, report server RSS\n"
"  logins     --count connectors log in and out for --time s: logins/s\n"
"  messages   --count pairs exchange messages for --time s: msgs/s, latency\n"
"  register   create --count accounts by in-band registration (XEP-0077)\n"
"  probe      retry until the port answers (--time s at most), log in once\n"
"options:\n"
"  --host ADDR          server address, IPv4 or IPv6 literal (127.0.0.1)\n"
"  --port N             port (5222)\n"
"  --domain NAME        XMPP domain (localhost)\n"
"  --user-pattern PAT   local part with one %%d for the account number (user%%d)\n"
"  --password PW        password of every account (bench)\n"
"  --direct-tls         TLS from the first byte (XEP-0368) instead of STARTTLS\n"
"  --count N            sessions, connectors or pairs (10)\n"
"  --accounts N         cycle through N accounts (default: one per session)\n"
"  --first N            number of the first account (0)\n"
"  --time S             seconds to measure or hold (10)\n"
"  --warmup S           seconds before counting starts (1)\n"
"  --rate R             messages: R msgs/s in total; 0 = as fast as the window\n"
"                       allows (0)\n"
"  --window W           messages in flight per sender (4)\n"
"  --concurrency C      logins in progress at once (50)\n"
"  --setup-timeout S    seconds to get everyone logged in (120)\n"
"  --body N             message body bytes (100)\n"
"  --no-presence        do not send initial presence\n"
"  --server-pid PID     sample this process's CPU and RSS\n"
"  --resume-tls         logins: offer the TLS session of the slot's last login\n"
"                       (session ID resumption); tls_resumed= counts hits\n"
"  --verify-signature   check the server's ECDSA handshake signature (off:\n"
"                       the certificate is not checked either, and it costs\n"
"                       the generator more per login than the server)\n"
"  -v                   log every failure\n");
	exit(2);
}

static double
num_arg(const char *name, const char *v, double lo, double hi)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || d < lo || d > hi) {
		fprintf(stderr, "loadgen: %s: want a number in %g..%g\n", name,
		    lo, hi);
		exit(2);
	}
	return d;
}

static void
parse_args(int argc, char **argv)
{
	int i;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "connect") == 0)
		o.mode = M_CONNECT;
	else if (strcmp(argv[1], "logins") == 0)
		o.mode = M_LOGINS;
	else if (strcmp(argv[1], "messages") == 0)
		o.mode = M_MESSAGES;
	else if (strcmp(argv[1], "register") == 0)
		o.mode = M_REGISTER;
	else if (strcmp(argv[1], "probe") == 0)
		o.mode = M_PROBE;
	else
		usage();
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

#define TAKES(name)	(strcmp(a, name) == 0 && v != NULL && ++i)
		if (TAKES("--host"))
			o.host = v;
		else if (TAKES("--port"))
			o.port = v;
		else if (TAKES("--domain"))
			o.domain = v;
		else if (TAKES("--user-pattern"))
			o.user_pattern = v;
		else if (TAKES("--password"))
			o.password = v;
		else if (strcmp(a, "--direct-tls") == 0)
			o.direct_tls = 1;
		else if (TAKES("--count"))
			o.count = (long)num_arg(a, v, 1, MAX_COUNT);
		else if (TAKES("--accounts"))
			o.accounts = (long)num_arg(a, v, 1, 100000000);
		else if (TAKES("--first"))
			o.first = (long)num_arg(a, v, 0, 1000000000);
		else if (TAKES("--time"))
			o.time = num_arg(a, v, 0.1, MAX_TIME);
		else if (TAKES("--warmup"))
			o.warmup = num_arg(a, v, 0, 60);
		else if (TAKES("--rate"))
			o.rate = num_arg(a, v, 0, 10000000);
		else if (TAKES("--window"))
			o.window = (long)num_arg(a, v, 1, MAX_WINDOW);
		else if (TAKES("--concurrency"))
			o.concurrency = (long)num_arg(a, v, 1, MAX_COUNT);
		else if (TAKES("--setup-timeout"))
			o.setup_timeout = num_arg(a, v, 1, MAX_SETUP);
		else if (TAKES("--body"))
			o.body = (long)num_arg(a, v, 1, MAX_BODY);
		else if (strcmp(a, "--no-presence") == 0)
			o.presence = 0;
		else if (TAKES("--server-pid"))
			o.server_pid = (long)num_arg(a, v, 1, INT_MAX);
		else if (strcmp(a, "-v") == 0)
			o.verbose = 1;
		else if (strcmp(a, "--verify-signature") == 0)
			o.verify_sig = 1;
		else if (strcmp(a, "--resume-tls") == 0)
			o.resume = 1;
		else {
			fprintf(stderr, "loadgen: unknown or incomplete option %s\n",
			    a);
			usage();
		}
#undef TAKES
	}
	if (!pattern_is_valid(o.user_pattern)) {
		fprintf(stderr, "loadgen: --user-pattern needs exactly one %%d\n");
		exit(2);
	}
	if (resolve() == -1) {
		fprintf(stderr, "loadgen: --host must be an IP address and --port "
		    "a port number\n");
		exit(2);
	}
	if (o.mode == M_MESSAGES && o.count * 2 > MAX_COUNT) {
		fprintf(stderr, "loadgen: too many pairs\n");
		exit(2);
	}
}

/* ---- the loop ---- */

static void
print_fails(void)
{
	int i;

	for (i = 0; i < F_NFAIL; i++)
		printf(" fail_%s=%llu", fail_names[i],
		    (unsigned long long)fails[i]);
}

static long
account_for(long n)
{
	long na = o.accounts > 0 ? o.accounts : o.count *
	    (o.mode == M_MESSAGES ? 2 : 1);

	return o.first + n % na;
}

int
main(int argc, char **argv)
{
	struct epoll_event *evs;
	int *work;
	int64_t t0, t_all_online = 0, t_end, t_hard, t_last_scan = 0;
	double cpu0, cpu_meas0 = 0, cpu_meas1 = 0, srv_meas0 = -1, srv_meas1 = -1;
	double mach0 = -1, mach1 = -1;
	long rss_connected = -1, want_online, i;
	int done = 0, ready_printed = 0, exit_code = 0;
	struct sigaction sa;

	parse_args(argc, argv);
	log_set_level(LOG_LVL_WARN);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	memset(pad, 'x', sizeof pad - 1);

	switch (o.mode) {
	case M_MESSAGES:
		nslots = (int)(o.count * 2);
		break;
	case M_PROBE:
		nslots = 1;
		break;
	default:
		nslots = (int)o.count;
	}
	raise_nofile(nslots + 64);
	conns = xcalloc((size_t)nslots, sizeof *conns);
	if (o.resume && o.mode == M_LOGINS) {
		saved_sess = xcalloc((size_t)nslots, sizeof *saved_sess);
		saved_ok = xcalloc((size_t)nslots, 1);
	}
	dirty = xcalloc((size_t)nslots, sizeof *dirty);
	work = xcalloc((size_t)nslots, sizeof *work);
	evs = xcalloc(MAX_EVENTS, sizeof *evs);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	for (i = 0; i < nslots; i++) {
		conns[i].st = CS_FREE;
		conns[i].fd = -1;
		conns[i].slot = (int)i;
	}
	hist_init(&lat_hist);
	hist_init(&login_hist);

	t0 = now_ns();
	cpu0 = cpu_self_s();
	want_online = o.mode == M_MESSAGES ? o.count * 2 : o.count;
	/* Hard bound on the whole run. */
	t_hard = t0 + (int64_t)((o.setup_timeout + o.warmup + o.time) * 1e9) +
	    (int64_t)(DRAIN_MS + CLOSE_WAIT_MS + 1000) * 1000000;
	t_end = 0;
	if (o.mode == M_LOGINS) {
		t_meas0 = t0 + (int64_t)(o.warmup * 1e9);
		t_meas1 = t_meas0 + (int64_t)(o.time * 1e9);
		t_end = t_meas1;
		t_hard = t_end + (int64_t)CLOSE_WAIT_MS * 1000000 + 1000000000;
	}
	if (o.mode == M_PROBE)
		t_hard = t0 + (int64_t)(o.time * 1e9);

	while (!done) {
		int64_t t = now_ns();
		int n, timeout;

		if (stop_signal) {
			fprintf(stderr, "loadgen: signal %d, stopping\n",
			    (int)stop_signal);
			break;
		}
		if (t >= t_hard) {
			fprintf(stderr, "loadgen: time bound reached\n");
			exit_code = 1;
			break;
		}

		/* start connections */
		switch (o.mode) {
		case M_CONNECT:
		case M_REGISTER:
		case M_MESSAGES:
			while (nstarted < want_online && ninprogress < o.concurrency)
				conn_start((int)nstarted, account_for(nstarted));
			break;
		case M_LOGINS:
			if (t < t_end)
				for (i = 0; i < nslots; i++)
					if (conns[i].st == CS_FREE) {
						conns[i].gen++;
						conn_start((int)i, account_for(i));
					}
			break;
		case M_PROBE:
			if (conns[0].st == CS_FREE && nlogins_all == 0) {
				if (probe_tries > 0) {
					struct timespec ts = { 0, 1000000 };

					nanosleep(&ts, NULL);	/* 1 ms between tries */
				}
				probe_tries++;
				conn_start(0, account_for(0));
			}
			break;
		}

		/* phase changes */
		if (o.mode == M_PROBE && nlogins_all > 0 &&
		    conns[0].st == CS_FREE)
			break;
		if (o.mode == M_REGISTER && nstarted >= want_online &&
		    ninprogress == 0 && nonline == 0) {
			int any = 0;

			for (i = 0; i < nslots; i++)
				if (conns[i].st != CS_FREE)
					any = 1;
			if (!any)
				break;
		}
		if ((o.mode == M_CONNECT || o.mode == M_MESSAGES) &&
		    t_all_online == 0 && nstarted >= want_online &&
		    ninprogress == 0) {
			t_all_online = t;
			if (nonline < want_online) {
				fprintf(stderr, "loadgen: only %ld of %ld sessions "
				    "logged in\n", nonline, want_online);
				exit_code = 1;
				if (nonline == 0)
					break;
			}
			if (o.mode == M_CONNECT) {
				struct timespec ts = { 1, 0 };

				t_end = t + (int64_t)(o.time * 1e9);
				/* Let the server settle, then sample it. */
				nanosleep(&ts, NULL);
				rss_connected = rss_server_kb();
				printf("ready connected=%ld login_s=%.3f "
				    "server_rss_kb=%ld\n", nonline,
				    (double)(t - t0) / 1e9, rss_connected);
				fflush(stdout);
				ready_printed = 1;
				/* the server's CPU while it only holds them */
				t_meas0 = now_ns();
				t_meas1 = t_meas0 + (int64_t)(o.time * 1e9);
				cpu_meas0 = cpu_self_s();
				srv_meas0 = cpu_server_s();
				mach0 = cpu_machine_s();
			} else {
				sending = 1;
				t_send0 = t;
				t_meas0 = t + (int64_t)(o.warmup * 1e9);
				t_meas1 = t_meas0 + (int64_t)(o.time * 1e9);
				t_end = t_meas1;
				t_hard = t_end + (int64_t)(DRAIN_MS + 1000) * 1000000;
				for (i = 0; i < nslots; i++)
					if (conns[i].st == CS_ONLINE)
						top_up(&conns[i]);
			}
		}
		if (o.mode == M_MESSAGES && sending) {
			if (cpu_meas0 == 0 && t >= t_meas0) {
				cpu_meas0 = cpu_self_s();
				srv_meas0 = cpu_server_s();
				mach0 = cpu_machine_s();
			}
			if (t >= t_meas1) {
				if (cpu_meas1 == 0) {
					cpu_meas1 = cpu_self_s();
					srv_meas1 = cpu_server_s();
					mach1 = cpu_machine_s();
				}
				sending = 0;
				t_hard = t + (int64_t)DRAIN_MS * 1000000;
			} else if (o.rate > 0)
				pace(t);
		}
		if (o.mode == M_MESSAGES && t_end != 0 && !sending) {
			uint64_t infl = 0;

			for (i = 0; i < nslots; i++)
				if (conns[i].st == CS_ONLINE)
					infl += conns[i].inflight;
			if (infl == 0)
				break;
		}
		if (o.mode == M_LOGINS) {
			if (cpu_meas0 == 0 && t >= t_meas0) {
				cpu_meas0 = cpu_self_s();
				srv_meas0 = cpu_server_s();
				mach0 = cpu_machine_s();
			}
			if (cpu_meas1 == 0 && t >= t_meas1) {
				cpu_meas1 = cpu_self_s();
				srv_meas1 = cpu_server_s();
				mach1 = cpu_machine_s();
			}
			if (t >= t_end && ninprogress == 0 && nonline == 0) {
				int any = 0;

				for (i = 0; i < nslots; i++)
					if (conns[i].st != CS_FREE)
						any = 1;
				if (!any)
					break;
			}
			/* logins still going at the end are abandoned */
			if (t >= t_end)
				for (i = 0; i < nslots; i++)
					if (conns[i].st != CS_FREE &&
					    conns[i].st != CS_CLOSING)
						conn_free(&conns[i]);
		}
		if (o.mode == M_CONNECT && t_end != 0 && t >= t_end) {
			cpu_meas1 = cpu_self_s();
			srv_meas1 = cpu_server_s();
			mach1 = cpu_machine_s();
			t_meas1 = t;
			break;
		}

		/*
		 * Flush what handlers queued.  Pumping one connection can queue
		 * output on others (a message received tops up its sender), so
		 * take the list as it is, start a new one, and go round a few
		 * times; each slot is on the list at most once (its flag).
		 */
		for (int round = 0; round < 8 && ndirty > 0; round++) {
			int nwork = ndirty;

			memcpy(work, dirty, (size_t)nwork * sizeof *work);
			ndirty = 0;
			for (int k = 0; k < nwork; k++) {
				struct lconn *c = &conns[work[k]];

				c->dirty = 0;
				if (c->st != CS_FREE && c->st != CS_CONNECTING) {
					pump(c);
					ep_sync(c);
				}
			}
		}

		/* deadlines, ten times a second */
		if (t - t_last_scan > 100000000) {
			t_last_scan = t;
			for (i = 0; i < nslots; i++) {
				struct lconn *c = &conns[i];

				if (c->st == CS_FREE || c->st == CS_ONLINE)
					continue;
				if (t >= c->deadline) {
					if (c->st == CS_CLOSING)
						conn_free(c);
					else
						conn_fail(c, F_TIMEOUT, "login deadline");
				}
			}
		}

		timeout = (o.mode == M_MESSAGES && sending && o.rate > 0) ? 1 :
		    (o.mode == M_PROBE ? 1 : 50);
		n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int k = 0; k < n; k++) {
			uint32_t s = evs[k].data.u32;
			struct lconn *c;

			if (s >= (uint32_t)nslots)
				continue;
			c = &conns[s];
			/* freed by an earlier event of this pass */
			if (c->st == CS_FREE || c->fd == -1)
				continue;
			if (c->st == CS_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof err;

				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
				    &el) == -1 || err != 0) {
					if (o.mode == M_PROBE) {
						/* not listening yet: try again */
						conn_free(c);
						nstarted--;
					} else
						conn_fail(c, F_CONNECT,
						    strerror(err ? err : errno));
					continue;
				}
				conn_connected(c);
			}
			if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				c->can_read = 1;
			pump(c);
			ep_sync(c);
		}
	}

	/* report */
	{
		int64_t t = now_ns();
		double wall = (double)(t - t0) / 1e9;
		double cpu = cpu_self_s() - cpu0;

		if (cpu_meas1 == 0 && cpu_meas0 != 0) {
			cpu_meas1 = cpu_self_s();
			srv_meas1 = cpu_server_s();
			mach1 = cpu_machine_s();
			if (t < t_meas1)
				t_meas1 = t;
		}
		printf("result mode=%s", argv[1]);
		if (tls_curve != 0)
			printf(" tls_suite=0x%04x tls_curve=%u", tls_suite,
			    tls_curve);
		switch (o.mode) {
		case M_CONNECT:
			printf(" sessions=%ld wanted=%ld held_at_end=%ld"
			    " server_rss_kb=%ld login_p50_ms=%.2f"
			    " login_p99_ms=%.2f",
			    ready_printed ? (long)nlogins_all : nonline,
			    want_online, nonline, rss_connected,
			    hist_q_ms(&login_hist, 0.5), hist_q_ms(&login_hist, 0.99));
			if (srv_meas0 >= 0 && srv_meas1 >= 0 && t_meas1 > t_meas0)
				printf(" server_hold_cpu_pct=%.2f",
				    100 * (srv_meas1 - srv_meas0) /
				    ((double)(t_meas1 - t_meas0) / 1e9));
			break;
		case M_LOGINS: {
			double mt = (double)(t_meas1 - t_meas0) / 1e9;

			printf(" connectors=%ld logins=%llu tls_resumed=%llu"
			    " seconds=%.3f logins_per_s=%.1f login_p50_ms=%.2f"
			    " login_p99_ms=%.2f",
			    o.count, (unsigned long long)nlogins,
			    (unsigned long long)nresumed, mt,
			    mt > 0 ? (double)nlogins / mt : 0,
			    hist_q_ms(&login_hist, 0.5), hist_q_ms(&login_hist, 0.99));
			if (srv_meas0 >= 0 && srv_meas1 >= 0)
				printf(" server_cpu_s=%.3f server_cpu_pct=%.1f"
				    " server_cpu_ms_per_login=%.3f",
				    srv_meas1 - srv_meas0,
				    100 * (srv_meas1 - srv_meas0) / mt,
				    nlogins > 0 ? 1000 * (srv_meas1 - srv_meas0) /
				    (double)nlogins : 0.0);
			if (cpu_meas1 > 0 && nlogins > 0)
				printf(" lg_cpu_ms_per_login=%.3f",
				    1000 * (cpu_meas1 - cpu_meas0) / (double)nlogins);
			if (cpu_meas1 > 0)
				printf(" lg_cpu_window_pct=%.1f",
				    100 * (cpu_meas1 - cpu_meas0) / mt);
			break;
		}
		case M_MESSAGES: {
			double mt = (double)(t_meas1 - t_meas0) / 1e9;
			double sc = srv_meas1 - srv_meas0;

			printf(" pairs=%ld rate=%.0f window=%ld sent=%llu"
			    " received=%llu counted=%llu seconds=%.3f"
			    " msgs_per_s=%.1f p50_ms=%.3f p90_ms=%.3f"
			    " p99_ms=%.3f max_ms=%.3f lost=%lld bad=%llu",
			    o.count, o.rate, o.window,
			    (unsigned long long)msg_sent_total,
			    (unsigned long long)msg_recv_total,
			    (unsigned long long)msg_recv_window, mt,
			    mt > 0 ? (double)msg_recv_window / mt : 0,
			    hist_q_ms(&lat_hist, 0.5), hist_q_ms(&lat_hist, 0.9),
			    hist_q_ms(&lat_hist, 0.99),
			    (double)lat_hist.max_ns / 1e6,
			    (long long)(msg_sent_total - msg_recv_total),
			    (unsigned long long)msg_bad);
			if (srv_meas0 >= 0 && srv_meas1 >= 0 &&
			    msg_recv_window > 0)
				printf(" server_cpu_s=%.3f server_cpu_pct=%.1f"
				    " server_cpu_s_per_100k=%.3f",
				    sc, 100 * sc / mt,
				    sc * 100000 / (double)msg_recv_window);
			if (cpu_meas1 > 0)
				printf(" lg_cpu_window_pct=%.1f",
				    100 * (cpu_meas1 - cpu_meas0) / mt);
			break;
		}
		case M_REGISTER:
			printf(" registered=%llu wanted=%ld",
			    (unsigned long long)nregistered, o.count);
			if ((long)nregistered < o.count)
				exit_code = 1;
			break;
		case M_PROBE:
			printf(" logged_in=%llu tries=%ld",
			    (unsigned long long)nlogins_all, probe_tries);
			if (nlogins_all == 0)
				exit_code = 1;
			break;
		}
		if (mach0 >= 0 && mach1 >= 0 && cpu_meas1 > 0 && t_meas1 > t_meas0) {
			double mt = (double)(t_meas1 - t_meas0) / 1e9;
			double busy = mach1 - mach0, other = busy -
			    (cpu_meas1 - cpu_meas0);

			if (srv_meas0 >= 0 && srv_meas1 >= 0)
				other -= srv_meas1 - srv_meas0;
			printf(" machine_busy_pct=%.1f other_cpu_pct=%.1f",
			    100 * busy / mt, other > 0 ? 100 * other / mt : 0.0);
		}
		print_fails();
		printf(" pbkdf2_runs=%llu lg_cpu_s=%.3f lg_wall_s=%.3f"
		    " lg_cpu_pct=%.1f\n", (unsigned long long)pbkdf2_runs, cpu,
		    wall, wall > 0 ? 100 * cpu / wall : 0);
		fflush(stdout);
	}
	for (i = 0; i < nslots; i++)
		conn_free(&conns[i]);
	free(conns);
	free(dirty);
	free(work);
	free(evs);
	close(epfd);
	free(lat_hist.bins);
	free(login_hist.bins);
	return exit_code;
}
