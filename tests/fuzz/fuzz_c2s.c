/*
 * fuzz_c2s.c - libFuzzer target for the whole client stream, in process.
 *
 * The real server starts as usual through server_run(): a config written to
 * a temporary directory, three accounts (alice, bob, admin, who is in
 * admins), every module there is.  Two linker wraps make it fuzzable with no
 * test hook in the core:
 *
 *   --wrap=loop_run     server_run()'s call to the loop lands here once,
 *                       with everything set up; it logs bob in and hands
 *                       over to libFuzzer (LLVMFuzzerRunDriver).  Each input
 *                       then runs real loop passes (__real_loop_run) until
 *                       a condition holds.
 *   --wrap=conn_reap    runs after every pass: it reads what the server
 *                       wrote to our sockets and stops the loop once the
 *                       condition of the moment holds.
 *   --wrap=listener_open, listener_close: no port is ever bound.
 *
 * Each input is one connection: a socketpair whose one end goes to
 * c2s_accept() (from a fresh 10.x.y.z address, so per-address limits and
 * failed-login counts never carry over), the other is ours.
 *
 *   byte 0   bit 0: 0 = pre-authentication: the data is the stream from
 *                   its very first byte (header, STARTTLS, SASL, register);
 *                   1 = after login: the harness opens the stream, logs in
 *                   with SCRAM-SHA-256 and binds resource "fuzz" first, the
 *                   data is stanzas on the bound stream.
 *            bits 1-2: who logs in: 0/3 alice, 1 admin, 2 bob (a second
 *                   resource next to bob's long-lived session).
 *   byte 1   chunk size: 1..128 bytes (values < 128) or 64..8128 bytes;
 *            the loop runs until the server is idle between chunks.
 *   rest     the data.
 *
 * After the data the socket is shut down for writing: the server must
 * close the connection within 5 s (else: abort, a leaked connection).
 * Everything the server writes, on this connection and on bob's, must be
 * well-formed XML by our own tokenizer with no element in a reserved
 * namespace (see check_output()).
 * Accounts changed by the input (register, admin commands) are put back.
 * Bob's session lives across inputs, so routing to a real session, presence
 * and roster pushes are reached; if an input ends it, he logs in again.
 *
 * Build: tests/fuzz.sh (clang -fsanitize=fuzzer-no-link,address,undefined,
 * libclang_rt.fuzzer_no_main, -Wl,--wrap=loop_run,--wrap=conn_reap,
 * --wrap=listener_open,--wrap=listener_close).
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bearssl.h>

#include "account.h"
#include "config.h"
#include "conn.h"
#include "loop.h"
#include "sasl.h"
#include "server.h"
#include "store.h"
#include "stream.h"
#include "util.h"
#include "xml.h"

int	LLVMFuzzerRunDriver(int *, char ***, int (*)(const uint8_t *, size_t));
int	__real_loop_run(void);
void	__real_conn_reap(void);
int	__wrap_loop_run(void);
void	__wrap_conn_reap(void);
struct listener *__wrap_listener_open(const char *, unsigned short, accept_fn,
	    void *, char *, size_t);
void	__wrap_listener_close(struct listener *);

#define HOST		"localhost"
#define RESOURCE	"fuzz"
#define STEP_MS		2000	/* a login step or a chunk: normally < 1 ms */
#define CLOSE_MS	5000	/* EOF to closed connection */
#define RX_MAX		(1 << 20)

#define HEADER	"<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
		"xmlns:stream='http://etherx.jabber.org/streams' to='" HOST \
		"' version='1.0'>"

struct user {
	const char	*local;
	const char	*password;
	char		*account;	/* the account file as created */
	unsigned char	 client_key[32];
};

static struct user users[] = {
	{ "alice", "alice-pw", NULL, { 0 } },
	{ "admin", "admin-pw", NULL, { 0 } },
	{ "bob", "bob-pw", NULL, { 0 } },
};
#define U_ALICE	0
#define U_ADMIN	1
#define U_BOB	2
#define NUSERS	(sizeof users / sizeof users[0])

/* One client connection: our end of the socketpair and what came in. */
struct peer {
	int		 fd;		/* -1: none */
	uint64_t	 conn_id;	/* the server's struct conn */
	struct buf	 rx;
	struct xml_parser *chk;		/* checks what the server writes */
};

static int	  g_argc;
static char	**g_argv;
static char	  dir[PATH_MAX];
static struct peer fz = { -1, 0, { NULL, 0, 0, 0, 0 }, NULL };
static struct peer bob = { -1, 0, { NULL, 0, 0, 0, 0 }, NULL };
static int	(*stop_when)(void);
static int64_t	  step_deadline;
static uint32_t	  next_addr = 1;
static int	  driver_started;

static void	die(const char *, const struct peer *) __attribute__((noreturn));

static void
die(const char *what, const struct peer *p)
{
	fprintf(stderr, "fuzz_c2s: %s\n", what);
	if (p != NULL && p->rx.data != NULL)
		fprintf(stderr, "fuzz_c2s: received: %.*s\n",
		    (int)(buf_used(&p->rx) > 2000 ? 2000 : buf_used(&p->rx)),
		    buf_head(&p->rx));
	abort();
}

/* ---- the wrapped loop ---- */

static struct conn *
find_conn(uint64_t id)
{
	for (struct conn *c = conn_first(); c != NULL; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static int
peer_gone(const struct peer *p)
{
	return find_conn(p->conn_id) == NULL;
}

/* ---- what the server writes ---- */

/*
 * The second oracle (the first is ASan/UBSan): everything the server
 * writes on a stream must be well-formed, namespace-correct XML that our
 * own tokenizer takes, and no element may be in the XML or XMLNS
 * namespace, which no serialization can declare (a client's parser would
 * drop the stream).  Checked until the stream ends or TLS starts.
 */
#define NS_XMLNS	"http://www.w3.org/2000/xmlns/"
#define NS_TLS		"urn:ietf:params:xml:ns:xmpp-tls"

static const struct xml_limits out_limits = { 4 << 20, 256, 4096, 4096 };

static int
reserved_ns(const struct xml_node *n)
{
	for (; n != NULL; n = n->next) {
		if (n->name == NULL)
			continue;
		if (strcmp(n->ns, NS_XML) == 0 || strcmp(n->ns, NS_XMLNS) == 0)
			return 1;
		if (reserved_ns(n->children))
			return 1;
	}
	return 0;
}

static void
checker_stop(struct peer *p)
{
	if (p->chk != NULL)
		xml_parser_free(p->chk);
	p->chk = NULL;
}

static void
checker_start(struct peer *p, const char *header)
{
	checker_stop(p);
	p->chk = xml_parser_new(XML_MODE_STREAM, &out_limits);
	if (header != NULL && (xml_feed(p->chk, header, strlen(header)) !=
	    strlen(header) || xml_event(p->chk) != XML_EV_STREAM_OPEN))
		die("checker: our own header", NULL);
}

static void
check_output(struct peer *p, const char *b, size_t n)
{
	char why[512];

	if (p->chk == NULL)
		return;
	while (n > 0 && p->chk != NULL) {
		size_t k = xml_feed(p->chk, b, n);
		struct xml_node *st;
		int stop = 0, res = 0;

		b += k;
		n -= k;
		switch (xml_event(p->chk)) {
		case XML_EV_NONE:
		case XML_EV_STREAM_OPEN:
			break;
		case XML_EV_STANZA:
			st = xml_take_stanza(p->chk);
			res = reserved_ns(st);
			stop = xml_is(st, "proceed", NS_TLS);
			xml_arena_free(st->arena);
			if (res)
				die("the server wrote an element in a reserved "
				    "namespace", p);
			if (stop)
				checker_stop(p);
			break;
		case XML_EV_STREAM_CLOSE:
			checker_stop(p);
			break;
		case XML_EV_ERROR:
			snprintf(why, sizeof why, "the server wrote bad XML: "
			    "%s: %s", xml_error(p->chk),
			    xml_error_detail(p->chk));
			die(why, p);
		default:
			die("checker: unexpected event", p);
		}
		if (k == 0 && xml_event(p->chk) == XML_EV_NONE)
			break;
	}
}

/* Read whatever the server wrote to p (kept up to RX_MAX, then dropped). */
static void
drain(struct peer *p)
{
	char b[16384];
	ssize_t n;

	if (p->fd == -1)
		return;
	while ((n = read(p->fd, b, sizeof b)) > 0) {
		if (buf_used(&p->rx) + (size_t)n > RX_MAX)
			buf_reset(&p->rx);
		(void)buf_add(&p->rx, b, (size_t)n);
		check_output(p, b, (size_t)n);
	}
}

void
__wrap_conn_reap(void)
{
	__real_conn_reap();
	if (!driver_started && stop_when == NULL)
		return;
	drain(&fz);
	drain(&bob);
	if (stop_when != NULL && (stop_when() || now_ms() > step_deadline))
		loop_stop();
}

/* Run loop passes until cond() holds (1) or ms went by (0). */
static int
run_until(int (*cond)(void), int64_t ms)
{
	if (cond())
		return 1;
	stop_when = cond;
	step_deadline = now_ms() + ms;
	while (!cond() && now_ms() <= step_deadline) {
		loop_wake();		/* the first poll must not sleep */
		__real_loop_run();
	}
	stop_when = NULL;
	return cond();
}

static int
fz_gone(void)
{
	return peer_gone(&fz);
}

/* Everything written has been read and answered, as far as we can see. */
static int
fz_idle(void)
{
	struct conn *c = find_conn(fz.conn_id);
	int pending = 0;

	if (c == NULL)
		return 1;
	if (c->fd >= 0 && ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0)
		return 0;
	for (c = conn_first(); c != NULL; c = c->next)
		if (c->state != CONN_DEAD && buf_used(&c->out) > 0)
			return 0;
	return 1;
}

static const char *rx_want;

static int
fz_has_want(void)
{
	return memmem(buf_head(&fz.rx), buf_used(&fz.rx), rx_want,
	    strlen(rx_want)) != NULL || fz_gone();
}

/* ---- connections ---- */

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		die("fcntl", NULL);
}

/* A new connection from a fresh 10.x.y.z address into c2s_accept(). */
static int
peer_open(struct peer *p)
{
	struct sockaddr_in sin;
	int sv[2];
	struct conn *c;
	uint64_t before = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		die("socketpair", NULL);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)(1024 + next_addr % 60000));
	sin.sin_addr.s_addr = htonl(0x0a000000u | (next_addr & 0xffffffu));
	next_addr++;
	for (c = conn_first(); c != NULL; c = c->next)
		if (c->id > before)
			before = c->id;
	c2s_accept(sv[0], (struct sockaddr *)&sin, sizeof sin, 0);
	p->conn_id = 0;
	for (c = conn_first(); c != NULL; c = c->next)
		if (c->fd == sv[0] && c->id > before)
			p->conn_id = c->id;
	if (p->conn_id == 0) {
		/* Refused (limits); c2s_accept closed its end. */
		close(sv[1]);
		return -1;
	}
	p->fd = sv[1];
	if (p->rx.data == NULL)
		buf_init(&p->rx, RX_MAX + 16384);
	buf_reset(&p->rx);
	checker_stop(p);
	return 0;
}

static void
peer_close(struct peer *p)
{
	if (p->fd != -1)
		close(p->fd);
	p->fd = -1;
}

/* Write all of it, running the loop while the socket is full.  0, or -1
 * if the server closed the connection. */
static int
peer_write(struct peer *p, const void *data, size_t len)
{
	const char *s = data;

	while (len > 0) {
		ssize_t n = write(p->fd, s, len);
		if (n > 0) {
			s += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (p == &fz) {
			if (!run_until(fz_idle, STEP_MS) || fz_gone())
				return -1;
		} else
			(void)run_until(fz_idle, 50);
		if (peer_gone(p))
			return -1;
	}
	return 0;
}

/* ---- SCRAM-SHA-256 on the client side ---- */

static void
hmac256(const unsigned char *key, size_t klen, const void *a, size_t alen,
    unsigned char out[32])
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, &br_sha256_vtable, key, klen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, a, alen);
	br_hmac_out(&hc, out);
}

/* ClientKey = HMAC(PBKDF2-HMAC-SHA256(password, salt, iter), "Client Key") */
static void
client_key(const char *pw, const struct scram_key *k, unsigned char out[32])
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	unsigned char u[32], salted[32], one[4] = { 0, 0, 0, 1 };
	unsigned char stored[32];
	br_sha256_context sc;

	br_hmac_key_init(&kc, &br_sha256_vtable, pw, strlen(pw));
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, k->salt, k->salt_len);
	br_hmac_update(&hc, one, sizeof one);
	br_hmac_out(&hc, u);
	memcpy(salted, u, sizeof salted);
	for (unsigned i = 1; i < k->iter; i++) {
		br_hmac_init(&hc, &kc, 0);
		br_hmac_update(&hc, u, sizeof u);
		br_hmac_out(&hc, u);
		for (size_t j = 0; j < sizeof salted; j++)
			salted[j] ^= u[j];
	}
	hmac256(salted, sizeof salted, "Client Key", 10, out);
	br_sha256_init(&sc);
	br_sha256_update(&sc, out, 32);
	br_sha256_out(&sc, stored);
	if (memcmp(stored, k->stored_key, sizeof stored) != 0)
		die("our SCRAM keys do not match the account file", NULL);
}

/* The text of <elem ...>TEXT</elem> in what p received, base64-decoded. */
static ssize_t
sasl_payload(const struct peer *p, const char *elem, char *out, size_t outlen)
{
	char open[32], close[32];
	const char *h = buf_head(&p->rx), *e = h + buf_used(&p->rx);
	const char *a, *b;

	snprintf(open, sizeof open, "<%s", elem);
	snprintf(close, sizeof close, "</%s>", elem);
	if ((a = memmem(h, (size_t)(e - h), open, strlen(open))) == NULL ||
	    (a = memchr(a, '>', (size_t)(e - a))) == NULL)
		return -1;
	a++;
	if ((b = memmem(a, (size_t)(e - a), close, strlen(close))) == NULL)
		return -1;
	return b64_decode(a, (size_t)(b - a), out, outlen);
}

/* Stream, SCRAM-SHA-256, bind: 0, or -1 if the server refused (limits). */
static int
login(struct peer *p, const struct user *u, const char *resource)
{
	char first_bare[128], msg[1024], sf[512], final[1024], am[2048];
	char b64[512], *r, *end;
	unsigned char sig[32], proof[32];
	ssize_t n;
	int len;

	if (peer_open(p) == -1)
		return -1;
	snprintf(first_bare, sizeof first_bare, "n=%s,r=fuzzclientnonce%u",
	    u->local, next_addr);
	len = snprintf(msg, sizeof msg, "n,,%s", first_bare);
	if (b64_encode(msg, (size_t)len, b64, sizeof b64) == -1)
		die("b64", NULL);
	len = snprintf(msg, sizeof msg, HEADER "<auth xmlns='urn:ietf:params:"
	    "xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>", b64);
	rx_want = "</challenge>";
	if (peer_write(p, msg, (size_t)len) == -1 ||
	    !run_until(fz_has_want, STEP_MS) || peer_gone(p))
		die("no SCRAM challenge", p);
	if ((n = sasl_payload(p, "challenge", sf, sizeof sf - 1)) <= 0)
		die("bad SCRAM challenge", p);
	sf[n] = '\0';
	if (strncmp(sf, "r=", 2) != 0 || (end = strchr(sf, ',')) == NULL)
		die("bad server-first-message", p);
	r = sf + 2;
	len = snprintf(final, sizeof final, "c=biws,r=%.*s", (int)(end - r), r);
	snprintf(am, sizeof am, "%s,%s,%s", first_bare, sf, final);
	{
		br_sha256_context sc;
		unsigned char stored[32];
		br_sha256_init(&sc);
		br_sha256_update(&sc, u->client_key, 32);
		br_sha256_out(&sc, stored);
		hmac256(stored, sizeof stored, am, strlen(am), sig);
	}
	for (size_t i = 0; i < sizeof proof; i++)
		proof[i] = u->client_key[i] ^ sig[i];
	if (b64_encode(proof, sizeof proof, b64, sizeof b64) == -1)
		die("b64", NULL);
	len = snprintf(msg, sizeof msg, "%s,p=%s", final, b64);
	if (b64_encode(msg, (size_t)len, b64, sizeof b64) == -1)
		die("b64", NULL);
	buf_reset(&p->rx);
	len = snprintf(msg, sizeof msg, "<response xmlns='urn:ietf:params:xml:"
	    "ns:xmpp-sasl'>%s</response>", b64);
	rx_want = "</success>";
	if (peer_write(p, msg, (size_t)len) == -1 ||
	    !run_until(fz_has_want, STEP_MS) || peer_gone(p))
		die("SCRAM login failed", p);
	buf_reset(&p->rx);
	len = snprintf(msg, sizeof msg, HEADER "<iq type='set' id='bind1'>"
	    "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s"
	    "</resource></bind></iq>", resource);
	rx_want = "</jid>";
	if (peer_write(p, msg, (size_t)len) == -1 ||
	    !run_until(fz_has_want, STEP_MS) || peer_gone(p))
		die("bind failed", p);
	/* From here on one stream: check it, from what follows the bind
	 * result on (under a header like the server's). */
	{
		const char *h = buf_head(&p->rx), *e = h + buf_used(&p->rx);
		const char *j = memmem(h, (size_t)(e - h), "</jid>", 6);
		const char *q = j ? memmem(j, (size_t)(e - j), "</iq>", 5) : NULL;
		if (q == NULL)
			die("bind result", p);
		q += 5;
		checker_start(p, "<stream:stream xmlns='jabber:client' "
		    "xmlns:stream='http://etherx.jabber.org/streams'>");
		check_output(p, q, (size_t)(e - q));
	}
	buf_reset(&p->rx);
	return 0;
}

/* fz_has_want and friends look at fz: bob's login borrows it. */
static void
bob_login(void)
{
	static const char hello[] = "<iq type='get' id='r1'><query "
	    "xmlns='jabber:iq:roster'/></iq><presence><priority>1</priority>"
	    "</presence>";
	struct peer keep = fz;

	fz = bob;
	fz.fd = -1;
	if (login(&fz, &users[U_BOB], "home") == -1)
		die("bob cannot log in", NULL);
	rx_want = "</iq>";
	if (peer_write(&fz, hello, sizeof hello - 1) == -1 ||
	    !run_until(fz_has_want, STEP_MS))
		die("bob's roster", &fz);
	bob = fz;
	fz = keep;
}

/* ---- accounts ---- */

static void
restore_accounts(void)
{
	for (size_t i = 0; i < NUSERS; i++) {
		char *text = NULL;
		ssize_t n = store_read(HOST, users[i].local, ACCOUNT_FILE,
		    ACCOUNT_MAX_FILE, &text);
		if (n >= 0 && strcmp(text, users[i].account) == 0) {
			free(text);
			continue;
		}
		free(text);
		if (!store_user_exists(HOST, users[i].local) &&
		    store_user_create(HOST, users[i].local) == -1)
			die("cannot recreate an account directory", NULL);
		if (store_write(HOST, users[i].local, ACCOUNT_FILE,
		    users[i].account, strlen(users[i].account)) == -1)
			die("cannot restore an account file", NULL);
	}
}

static void
make_accounts(const char *data)
{
	char err[512];

	if (store_open_nolock(data, err, sizeof err) == -1)
		die(err, NULL);
	for (size_t i = 0; i < NUSERS; i++) {
		struct account_creds cr;
		if (account_create(HOST, users[i].local, users[i].password,
		    err, sizeof err) == -1)
			die(err, NULL);
		if (account_load_creds(HOST, users[i].local, &cr) == -1)
			die("account_load_creds", NULL);
		client_key(users[i].password, &cr.key[SCRAM_SHA256],
		    users[i].client_key);
		if (store_read(HOST, users[i].local, ACCOUNT_FILE,
		    ACCOUNT_MAX_FILE, &users[i].account) < 0)
			die("store_read account", NULL);
	}
	store_close();
}

/* ---- one input ---- */

static int
one_input(const uint8_t *d, size_t n)
{
	size_t chunk, off;
	unsigned who;

	if (n < 2 || n > 65536 + 2)
		return 0;
	chunk = d[1] < 128 ? (size_t)d[1] + 1 : (size_t)(d[1] - 127) * 64;
	who = (d[0] >> 1) & 3;
	if (bob.fd == -1 || peer_gone(&bob)) {
		peer_close(&bob);
		bob_login();
	}
	if (d[0] & 1) {
		const struct user *u = &users[who == 1 ? U_ADMIN :
		    who == 2 ? U_BOB : U_ALICE];
		if (login(&fz, u, RESOURCE) == -1)
			die("login refused", NULL);
	} else if (peer_open(&fz) == -1)
		die("connection refused", NULL);
	else
		checker_start(&fz, NULL);

	for (off = 2; off < n && !fz_gone(); off += chunk) {
		size_t len = n - off < chunk ? n - off : chunk;
		if (peer_write(&fz, d + off, len) == -1)
			break;
		if (!run_until(fz_idle, STEP_MS))
			break;	/* slow, not stuck: the close below decides */
	}
	shutdown(fz.fd, SHUT_WR);
	if (!run_until(fz_gone, CLOSE_MS))
		die("connection still open 5 s after the client's EOF", &fz);
	drain(&fz);
	checker_stop(&fz);
	peer_close(&fz);
	restore_accounts();
	return 0;
}

/* ---- wraps ---- */

int
__wrap_loop_run(void)
{
	if (driver_started)
		return __real_loop_run();
	/* server_run() has set everything up: take over. */
	driver_started = 1;
	restore_accounts();
	bob_login();
	exit(LLVMFuzzerRunDriver(&g_argc, &g_argv, one_input));
}

struct listener *
__wrap_listener_open(const char *addr, unsigned short port, accept_fn fn,
    void *arg, char *err, size_t errlen)
{
	static char dummy;

	return (struct listener *)(void *)&dummy;
}

void
__wrap_listener_close(struct listener *l)
{
}

/* ---- start-up ---- */

static void
cleanup(void)
{
	char cmd[PATH_MAX + 32];

	if (dir[0] == '\0' || getenv("FUZZ_C2S_KEEP") != NULL)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_c2s: could not remove %s\n", dir);
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL || fputs(text, fp) == EOF || fclose(fp) != 0)
		die(path, NULL);
}

int
main(int argc, char **argv)
{
	char path[PATH_MAX + 64], data[PATH_MAX + 16], cmd[3 * PATH_MAX];
	char ini[8192], err[1024];
	const char *base = getenv("FUZZ_C2S_DIR"), *logf = getenv("FUZZ_C2S_LOG");
	struct config *cfg;
	struct stat st;

	g_argc = argc;
	g_argv = argv;
	if (base == NULL)
		base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof dir, "%s/fuzz-c2s-XXXXXX", base);
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", NULL);
	atexit(cleanup);
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=" HOST
	    " -addext subjectAltName=DNS:" HOST " -keyout '%s/key.pem' "
	    "-out '%s/cert.pem' 2>/dev/null", dir, dir);
	if (system(cmd) != 0)
		die("openssl req failed (is openssl installed?)", NULL);
	snprintf(ini, sizeof ini,
	    "[server]\n"
	    "data_path = %s\n"
	    "log = %s\n"
	    "log_level = debug\n"
	    "interfaces = 127.0.0.1\n"
	    "c2s_ports = 5222\n"
	    "c2s_require_encryption = false\n"
	    "allow_registration = true\n"
	    "modules = roster, presence, offline, ping, disco, version, uptime,"
	    " time, private, vcard, privacy, blocklist, register, motd, welcome,"
	    " admin_adhoc, posix, carbons, csi, pep, smacks, cloud_notify, mam,"
	    " muc\n"
	    "admins = admin@" HOST "\n"
	    "motd = Hello & <welcome>\n"
	    "welcome_message = Welcome!\n"
	    "[tls]\n"
	    "certificate = %s/cert.pem\n"
	    "key = %s/key.pem\n"
	    "[limits]\n"
	    "max_stanza_size = 65536\n"
	    "max_stanza_size_preauth = 8192\n"
	    "max_depth = 16\n"
	    "max_connections_per_ip = 100\n"
	    "max_unauth_per_ip = 100\n"
	    "auth_attempts = 3\n"
	    "max_resources = 4\n"
	    "max_offline_messages = 10\n"
	    "max_roster_items = 20\n"
	    "output_high_water = 256K\n"
	    "output_hard_limit = 512K\n"
	    "max_bytes_per_second = 1024M\n"
	    "auth_failures_per_ip = 100000\n"
	    "[host " HOST "]\n"
	    "enabled = true\n"
	    "muc = conference." HOST "\n",
	    data, logf != NULL ? logf : "/dev/null", dir, dir);
	snprintf(path, sizeof path, "%s/xmppd.ini", dir);
	write_file(path, ini);
	if (config_load(path, &cfg, err, sizeof err) == -1)
		die(err, NULL);
	make_accounts(cfg->data_path);
	setenv("HOME", dir, 1);
	/* Returns only if start-up failed: __wrap_loop_run never does. */
	server_run(cfg, path);
	die("server_run returned: start-up failed", NULL);
}
