/*
 * sasl.c - server side of SASL for XMPP (RFC 6120 section 6):
 * SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 5802, RFC 7677) and PLAIN (RFC 4616),
 * all checked against the stored SCRAM keys of the `account` file, which
 * never holds a password.
 *
 * Mapping of SCRAM's server errors (RFC 5802 section 7, "e=") onto the
 * RFC 6120 section 6.5 conditions; XMPP sends no server-final message on
 * failure, only <failure/> with one of these:
 *   invalid-encoding, a bad "=XX" escape, bad base64,
 *   a proof of the wrong length, syntax errors     -> malformed-request
 *   extensions-not-supported (the reserved "m=")   -> malformed-request
 *   a "p=" channel-binding flag                    -> malformed-request:
 *       we only run the non-PLUS mechanisms, and RFC 5802 section 6 allows
 *       "p" only together with a -PLUS name, so the request does not fit
 *       the mechanism the client chose (this is what a client gets that
 *       asks for channel binding we never offered);
 *   invalid-proof, unknown-user, channel-bindings-dont-match (c= is not
 *   our gs2 header), a nonce that is not ours,
 *   a username that cannot be a localpart          -> not-authorized
 * The "y" flag ("I could bind, but you did not offer it") is accepted,
 * because we do not advertise -PLUS; once -PLUS is offered, "y" must fail
 * (it is the downgrade signal).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl_hash.h>
#include <bearssl_hmac.h>

#include "jid.h"
#include "sasl.h"
#include "util.h"

/* Bytes of decoded payload per step. */
#define SASL_MAX_PAYLOAD	4096
#define SCRAM_MIN_ITER		1
#define SCRAM_MAX_ITER		1000000
#define SCRAM_SALT_MAX		64	/* salt room in a scram_key */
#define SCRAM_SNONCE_RAW	24	/* random bytes in our nonce part */
#define SCRAM_SNONCE_MAX	128	/* our nonce part, with NUL */
#define ACCOUNT_VERSION		1

_Static_assert(sizeof(((struct scram_key *)0)->salt) == SCRAM_SALT_MAX,
    "SCRAM_SALT_MAX must match struct scram_key");

const char *const sasl_mechanisms[] = {
	"SCRAM-SHA-256",
	"SCRAM-SHA-1",
	"PLAIN",
	NULL
};

enum sasl_mech { MECH_SCRAM, MECH_PLAIN };

enum sasl_state {
	ST_START,	/* waiting for client-first / the PLAIN message */
	ST_FINAL,	/* SCRAM: server-first sent, wait for client-final */
	ST_SUCCESS,
	ST_FAILED
};

/* Owned by the stream that authenticates; every string is ours. */
struct sasl {
	enum sasl_mech	 mech;
	enum scram_hash	 hash;		/* SCRAM only */
	enum sasl_state	 state;
	int		 prompted;	/* sent the empty challenge */
	sasl_lookup_fn	 lookup;
	void		*ctx;
	const char	*condition;	/* set on failure */
	const char	*reason;	/* for the log */
	char		*username;	/* normalised localpart */
	char		*authzid;	/* as sent, NULL if none */
	char		*out;		/* payload for the caller */

	/* SCRAM state between server-first and client-final. */
	int		 known;		/* account and key exist */
	const char	*unknown_why;	/* log reason when !known */
	struct scram_key key;		/* the account's or a fake one */
	char		*cbind;		/* base64 gs2 header */
	char		*first_bare;	/* client-first-message-bare */
	size_t		 first_bare_len;
	char		*server_first;
	size_t		 server_first_len;
	char		*nonce;		/* client nonce + ours */
	size_t		 nonce_len;
};

#ifdef XMPPD_TEST
static char	test_nonce[SCRAM_SNONCE_MAX];
static int	test_nonce_set;

/* Make the next server nonces this text (NULL: random again), so the RFC
 * transcripts can be replayed byte for byte. */
void
sasl_test_set_nonce(const char *s)
{
	if (s == NULL || strlcpy_ok(test_nonce, s, sizeof test_nonce) == -1) {
		test_nonce_set = 0;
		return;
	}
	test_nonce_set = 1;
}
#endif

/* ---- hashes ---- */

static const br_hash_class *
hash_class(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? &br_sha1_vtable : &br_sha256_vtable;
}

size_t
scram_hash_len(enum scram_hash h)
{
	switch (h) {
	case SCRAM_SHA1:
		return br_sha1_SIZE;
	case SCRAM_SHA256:
		return br_sha256_SIZE;
	default:
		return 0;
	}
}

static void
hash_once(enum scram_hash h, const void *data, size_t len, unsigned char *out)
{
	br_hash_compat_context hc;

	hash_class(h)->init(&hc.vtable);
	hash_class(h)->update(&hc.vtable, data, len);
	hash_class(h)->out(&hc.vtable, out);
	explicit_bzero(&hc, sizeof hc);
}

static void
hmac_once(enum scram_hash h, const void *key, size_t keylen,
    const void *data, size_t len, unsigned char *out)
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, hash_class(h), key, keylen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, data, len);
	br_hmac_out(&hc, out);
	explicit_bzero(&kc, sizeof kc);
	explicit_bzero(&hc, sizeof hc);
}

/*
 * Hi() of RFC 5802 section 2.2: PBKDF2 (RFC 8018) with HMAC as the PRF,
 * limited to the first block because SCRAM wants exactly one hash length.
 * The key context is set up once: each round is then one HMAC of one
 * block, which matters at hundreds of thousands of rounds.
 */
static void
scram_hi(enum scram_hash h, const char *pw, size_t pwlen,
    const unsigned char *salt, size_t salt_len, unsigned iter,
    unsigned char *out)
{
	static const unsigned char int1[4] = { 0, 0, 0, 1 };
	br_hmac_key_context kc;
	br_hmac_context hc;
	unsigned char u[SCRAM_MAX_HASH];
	size_t n = scram_hash_len(h), i;
	unsigned r;

	br_hmac_key_init(&kc, hash_class(h), pw, pwlen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, salt, salt_len);
	br_hmac_update(&hc, int1, sizeof int1);
	br_hmac_out(&hc, u);
	memcpy(out, u, n);
	for (r = 1; r < iter; r++) {
		br_hmac_init(&hc, &kc, 0);
		br_hmac_update(&hc, u, n);
		br_hmac_out(&hc, u);
		for (i = 0; i < n; i++)
			out[i] ^= u[i];
	}
	explicit_bzero(&kc, sizeof kc);
	explicit_bzero(&hc, sizeof hc);
	explicit_bzero(u, sizeof u);
}

static int
iter_is_valid(unsigned iter)
{
	return iter >= SCRAM_MIN_ITER && iter <= SCRAM_MAX_ITER;
}

/* Is k complete and within our limits (a record from disk may not be)? */
static int
key_is_usable(const struct scram_key *k)
{
	return k->present && iter_is_valid(k->iter) && k->salt_len >= 1 &&
	    k->salt_len <= SCRAM_SALT_MAX;
}

/*
 * An empty password is refused: no account may have one, and PLAIN turns
 * it away before getting here.
 */
int
scram_derive(enum scram_hash h, const char *password, size_t pwlen,
    unsigned iter, const unsigned char *salt, size_t salt_len,
    struct scram_key *k)
{
	unsigned char salted[SCRAM_MAX_HASH], ckey[SCRAM_MAX_HASH];
	unsigned char s[SCRAM_SALT_MAX];
	size_t n = scram_hash_len(h);

	if (n == 0 || password == NULL || pwlen == 0 || !iter_is_valid(iter))
		return -1;
	if (salt != NULL && (salt_len == 0 || salt_len > SCRAM_SALT_MAX))
		return -1;
	/* Copied first: salt may point into *k itself (re-deriving a key). */
	if (salt == NULL) {
		salt_len = SCRAM_SALT_LEN;
		random_bytes(s, salt_len);
	} else
		memcpy(s, salt, salt_len);
	memset(k, 0, sizeof *k);
	memcpy(k->salt, s, salt_len);
	k->salt_len = salt_len;
	k->iter = iter;
	scram_hi(h, password, pwlen, k->salt, k->salt_len, iter, salted);
	hmac_once(h, salted, n, "Client Key", 10, ckey);
	hash_once(h, ckey, n, k->stored_key);
	hmac_once(h, salted, n, "Server Key", 10, k->server_key);
	k->present = 1;
	explicit_bzero(salted, sizeof salted);
	explicit_bzero(ckey, sizeof ckey);
	return 0;
}

int
account_creds_make(const char *password, unsigned iter,
    struct account_creds *c)
{
	int h;

	memset(c, 0, sizeof *c);
	if (password == NULL)
		return -1;
	for (h = 0; h < SCRAM_NHASH; h++) {
		if (scram_derive((enum scram_hash)h, password, strlen(password),
		    iter, NULL, 0, &c->key[h]) == -1) {
			explicit_bzero(c, sizeof *c);
			return -1;
		}
	}
	return 0;
}

int
scram_check_password(enum scram_hash h, const struct scram_key *k,
    const char *password, size_t pwlen)
{
	struct scram_key try;
	int ok;

	if (scram_hash_len(h) == 0 || k == NULL || !key_is_usable(k))
		return 0;
	if (scram_derive(h, password, pwlen, k->iter, k->salt, k->salt_len,
	    &try) == -1)
		return 0;
	ok = ct_equal(try.stored_key, k->stored_key, scram_hash_len(h));
	explicit_bzero(&try, sizeof try);
	return ok;
}

/* ---- the account file ---- */

static const char *const hash_names[SCRAM_NHASH] = {
	[SCRAM_SHA1] = "scram-sha-1",
	[SCRAM_SHA256] = "scram-sha-256",
};

int
account_creds_format(const struct account_creds *c, char *out, size_t outlen)
{
	char salt[B64_LEN(SCRAM_SALT_MAX) + 1];
	char sk[B64_LEN(SCRAM_MAX_HASH) + 1], vk[B64_LEN(SCRAM_MAX_HASH) + 1];
	size_t off, n;
	int h, w, any = 0;

	if (out == NULL || outlen == 0)
		return -1;
	w = snprintf(out, outlen, "xmppd-account %d\n", ACCOUNT_VERSION);
	if (w < 0 || (size_t)w >= outlen)
		return -1;
	off = (size_t)w;
	for (h = 0; h < SCRAM_NHASH; h++) {
		const struct scram_key *k = &c->key[h];

		if (!k->present)
			continue;
		if (!key_is_usable(k))
			return -1;
		n = scram_hash_len((enum scram_hash)h);
		if (b64_encode(k->salt, k->salt_len, salt, sizeof salt) == -1 ||
		    b64_encode(k->stored_key, n, sk, sizeof sk) == -1 ||
		    b64_encode(k->server_key, n, vk, sizeof vk) == -1)
			return -1;
		w = snprintf(out + off, outlen - off, "%s %u %s %s %s\n",
		    hash_names[h], k->iter, salt, sk, vk);
		if (w < 0 || (size_t)w >= outlen - off)
			return -1;
		off += (size_t)w;
		any = 1;
	}
	if (!any)
		return -1;
	return (int)off;
}

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	/* A cut message is still a useful message. */
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Decimal, no sign, no leading zero: exactly what format writes. */
static int
parse_iter(const char *p, size_t n, unsigned *iter)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 7 || p[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v < SCRAM_MIN_ITER || v > SCRAM_MAX_ITER)
		return -1;
	*iter = (unsigned)v;
	return 0;
}

/*
 * Decode one base64 field of a key line: 0 and *got set, -1 not base64.
 * The scratch buffer is big enough for anything a sane file holds, so
 * "too long" shows up as a wrong length rather than as bad base64.
 */
static int
parse_b64_field(const char *p, size_t n, unsigned char *out, size_t outlen,
    size_t *got)
{
	unsigned char tmp[128];
	ssize_t r;

	if (n == 0 || n > B64_LEN(sizeof tmp))
		return -1;
	r = b64_decode(p, n, tmp, sizeof tmp);
	if (r < 0)
		return -1;
	*got = (size_t)r;
	if ((size_t)r <= outlen)
		memcpy(out, tmp, (size_t)r);
	explicit_bzero(tmp, sizeof tmp);
	return 0;
}

/* "xmppd-account N": 0 for our version, -1 with err set otherwise. */
static int
parse_header(const char *p, size_t n, char *err, size_t errlen)
{
	static const char magic[] = "xmppd-account ";
	size_t m = sizeof magic - 1, i;

	if (n <= m || memcmp(p, magic, m) != 0 || n - m > 20) {
		set_err(err, errlen, "line 1: not an xmppd account file");
		return -1;
	}
	for (i = m; i < n; i++)
		if (!is_digit(p[i])) {
			set_err(err, errlen,
			    "line 1: bad account file version");
			return -1;
		}
	if (p[m] == '0') {
		set_err(err, errlen, "line 1: bad account file version");
		return -1;
	}
	if (n - m != 1 || p[m] != '0' + ACCOUNT_VERSION) {
		set_err(err, errlen, "account file version %.*s is newer than "
		    "this xmppd understands", (int)(n - m), p + m);
		return -1;
	}
	return 0;
}

/* "scram-sha-N iter salt StoredKey ServerKey", single spaces. */
static int
parse_key_line(const char *p, size_t n, int lineno, struct account_creds *c,
    char *err, size_t errlen)
{
	const char *f[5];
	size_t fl[5], got, hl;
	const char *q, *e = p + n;
	struct scram_key *k;
	int nf = 0, h;

	for (q = p; nf < 5; nf++) {
		const char *sp = memchr(q, ' ', (size_t)(e - q));

		f[nf] = q;
		fl[nf] = (size_t)((sp ? sp : e) - q);
		if (sp == NULL) {
			nf++;
			break;
		}
		q = sp + 1;
	}
	for (h = 0; h < SCRAM_NHASH; h++)
		if (fl[0] == strlen(hash_names[h]) &&
		    memcmp(f[0], hash_names[h], fl[0]) == 0)
			break;
	if (h == SCRAM_NHASH) {
		set_err(err, errlen, "line %d: unknown entry \"%.*s\"", lineno,
		    (int)(fl[0] > 32 ? 32 : fl[0]), f[0]);
		return -1;
	}
	if (nf != 5 || f[4] + fl[4] != e) {
		set_err(err, errlen, "line %d: %s needs exactly 4 fields "
		    "separated by single spaces", lineno, hash_names[h]);
		return -1;
	}
	for (nf = 1; nf < 5; nf++)
		if (fl[nf] == 0) {
			set_err(err, errlen, "line %d: empty field", lineno);
			return -1;
		}
	k = &c->key[h];
	if (k->present) {
		set_err(err, errlen, "line %d: second %s entry", lineno,
		    hash_names[h]);
		return -1;
	}
	hl = scram_hash_len((enum scram_hash)h);
	if (parse_iter(f[1], fl[1], &k->iter) == -1) {
		set_err(err, errlen, "line %d: bad iteration count (must be "
		    "%d..%d)", lineno, SCRAM_MIN_ITER, SCRAM_MAX_ITER);
		return -1;
	}
	if (parse_b64_field(f[2], fl[2], k->salt, sizeof k->salt, &got) == -1) {
		set_err(err, errlen, "line %d: salt is not base64", lineno);
		return -1;
	}
	if (got == 0 || got > SCRAM_SALT_MAX) {
		set_err(err, errlen, "line %d: salt must be 1..%d bytes",
		    lineno, SCRAM_SALT_MAX);
		return -1;
	}
	k->salt_len = got;
	if (parse_b64_field(f[3], fl[3], k->stored_key, sizeof k->stored_key,
	    &got) == -1) {
		set_err(err, errlen, "line %d: StoredKey is not base64",
		    lineno);
		return -1;
	}
	if (got != hl) {
		set_err(err, errlen, "line %d: StoredKey must be %zu bytes",
		    lineno, hl);
		return -1;
	}
	if (parse_b64_field(f[4], fl[4], k->server_key, sizeof k->server_key,
	    &got) == -1) {
		set_err(err, errlen, "line %d: ServerKey is not base64",
		    lineno);
		return -1;
	}
	if (got != hl) {
		set_err(err, errlen, "line %d: ServerKey must be %zu bytes",
		    lineno, hl);
		return -1;
	}
	k->present = 1;
	return 0;
}

/*
 * Strict on purpose: every line, the last one included, ends in '\n', so
 * a file cut short by a crash or a full disk is refused instead of being
 * read as an account with fewer keys.
 */
int
account_creds_parse(const char *text, size_t len, struct account_creds *c,
    char *err, size_t errlen)
{
	const char *p = text, *e = text + len, *nl;
	int lineno = 0, h, any = 0;

	memset(c, 0, sizeof *c);
	set_err(err, errlen, "%s", "");
	if (text == NULL || len == 0) {
		set_err(err, errlen, "empty account file");
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		set_err(err, errlen, "account file contains a NUL byte");
		return -1;
	}
	while (p < e) {
		nl = memchr(p, '\n', (size_t)(e - p));
		lineno++;
		if (nl == NULL) {
			set_err(err, errlen, "line %d: no newline at the end "
			    "(truncated file?)", lineno);
			goto bad;
		}
		if (lineno == 1) {
			if (parse_header(p, (size_t)(nl - p), err,
			    errlen) == -1)
				goto bad;
		} else if (parse_key_line(p, (size_t)(nl - p), lineno, c, err,
		    errlen) == -1)
			goto bad;
		p = nl + 1;
	}
	for (h = 0; h < SCRAM_NHASH; h++)
		any |= c->key[h].present;
	if (!any) {
		set_err(err, errlen, "account file has no SCRAM key");
		goto bad;
	}
	return 0;
bad:
	explicit_bzero(c, sizeof *c);
	return -1;
}

/* ---- the exchange ---- */

struct sasl *
sasl_new(const char *mech, sasl_lookup_fn lookup, void *ctx)
{
	struct sasl *s;
	enum sasl_mech m;
	enum scram_hash h = SCRAM_SHA256;

	if (mech == NULL)
		return NULL;
	if (strcmp(mech, "SCRAM-SHA-256") == 0)
		m = MECH_SCRAM;
	else if (strcmp(mech, "SCRAM-SHA-1") == 0) {
		m = MECH_SCRAM;
		h = SCRAM_SHA1;
	} else if (strcmp(mech, "PLAIN") == 0)
		m = MECH_PLAIN;
	else
		return NULL;
	s = xcalloc(1, sizeof *s);
	s->mech = m;
	s->hash = h;
	s->state = ST_START;
	s->lookup = lookup;
	s->ctx = ctx;
	s->reason = "in progress";
	return s;
}

static void
free_str(char **p)
{
	if (*p != NULL) {
		xfree_secret(*p, strlen(*p));
		*p = NULL;
	}
}

/* Forget everything SCRAM kept between its two messages. */
static void
scram_clear(struct sasl *s)
{
	explicit_bzero(&s->key, sizeof s->key);
	free_str(&s->cbind);
	free_str(&s->first_bare);
	free_str(&s->server_first);
	free_str(&s->nonce);
	s->first_bare_len = s->server_first_len = s->nonce_len = 0;
}

void
sasl_free(struct sasl *s)
{
	if (s == NULL)
		return;
	scram_clear(s);
	free_str(&s->username);
	free_str(&s->authzid);
	free_str(&s->out);
	explicit_bzero(s, sizeof *s);
	free(s);
}

static enum sasl_status
fail(struct sasl *s, const char *condition, const char *reason)
{
	s->state = ST_FAILED;
	s->condition = condition;
	s->reason = reason;
	scram_clear(s);
	free_str(&s->username);
	return SASL_FAILURE;
}

/* Keep p (a NUL-terminated string from xmalloc) as the payload handed to
 * the caller, dropping the previous one. */
static void
set_out(struct sasl *s, char *p)
{
	free_str(&s->out);
	s->out = p;
}

/*
 * A saslname (RFC 5802 section 5.1): "=2C" stands for ',' and "=3D" for
 * '='; any other '=' is an encoding error.  NULL when invalid or empty.
 */
static char *
saslname_decode(const char *p, size_t n)
{
	char *out;
	size_t i, o = 0;

	if (n == 0)
		return NULL;
	out = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		if (p[i] != '=') {
			out[o++] = p[i];
			continue;
		}
		if (n - i >= 3 && p[i + 1] == '2' && p[i + 2] == 'C')
			out[o++] = ',';
		else if (n - i >= 3 && p[i + 1] == '3' && p[i + 2] == 'D')
			out[o++] = '=';
		else {
			free(out);
			return NULL;
		}
		i += 2;
	}
	out[o] = '\0';
	return out;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E. */
static int
nonce_char_is_ok(char c)
{
	return c >= 0x21 && c <= 0x7e && c != ',';
}

/*
 * An optional extension attr-val: ALPHA "=" 1*value-char (the value can
 * hold neither ',' nor NUL, which the caller already split on and
 * refused).  0 fine, -1 malformed, -2 the reserved mandatory "m".
 */
static int
check_extension(const char *p, size_t n)
{
	char a;

	if (n < 3 || p[1] != '=')
		return -1;
	a = (char)(p[0] | 0x20);
	if (a < 'a' || a > 'z')
		return -1;
	if (p[0] == 'm')
		return -2;
	return 0;
}

/* The per-process secret behind fake salts: stable while we run. */
static const unsigned char *
fake_secret(void)
{
	static unsigned char secret[32];
	static int ready;

	if (!ready) {
		random_bytes(secret, sizeof secret);
		ready = 1;
	}
	return secret;
}

/*
 * Credentials for a user who does not exist (or lacks a key for this
 * hash).  The salt is an HMAC of the name under a secret, so asking twice
 * gives the same salt, as for a real account, and the iteration count is
 * the default that accounts are made with: the server-first message does
 * not tell an attacker whether the account exists.
 */
static void
fake_key(enum scram_hash h, const char *username, struct scram_key *k)
{
	unsigned char mac[br_sha256_SIZE];
	br_hmac_key_context kc;
	br_hmac_context hc;
	unsigned char label[2];
	int i;

	memset(k, 0, sizeof *k);
	br_hmac_key_init(&kc, &br_sha256_vtable, fake_secret(), 32);
	for (i = 0; i < 3; i++) {
		label[0] = (unsigned char)i;
		label[1] = (unsigned char)h;
		br_hmac_init(&hc, &kc, 0);
		br_hmac_update(&hc, label, sizeof label);
		br_hmac_update(&hc, username, strlen(username));
		br_hmac_out(&hc, mac);
		if (i == 0)
			memcpy(k->salt, mac, SCRAM_SALT_LEN);
		else
			memcpy(i == 1 ? k->stored_key : k->server_key, mac,
			    scram_hash_len(h));
	}
	k->salt_len = SCRAM_SALT_LEN;
	k->iter = SCRAM_DEFAULT_ITER;
	k->present = 1;
	explicit_bzero(&kc, sizeof kc);
	explicit_bzero(&hc, sizeof hc);
	explicit_bzero(mac, sizeof mac);
}

/*
 * Look the user up and keep the key for hash h, or a fake one.  The copy
 * of the whole record is wiped at once: only one key is needed.
 */
static void
load_key(struct sasl *s, enum scram_hash h)
{
	struct account_creds creds;
	int found;

	memset(&creds, 0, sizeof creds);
	found = s->lookup != NULL && s->lookup(s->ctx, s->username,
	    &creds) == 0;
	if (found && key_is_usable(&creds.key[h])) {
		s->key = creds.key[h];
		s->known = 1;
	} else {
		fake_key(h, s->username, &s->key);
		s->known = 0;
		s->unknown_why = found ? "no key for this hash" :
		    "unknown user";
	}
	explicit_bzero(&creds, sizeof creds);
}

/* Our part of the nonce: 24 random bytes in base64 (no ',' possible). */
static void
server_nonce(char *out, size_t outlen)
{
	unsigned char raw[SCRAM_SNONCE_RAW];

#ifdef XMPPD_TEST
	if (test_nonce_set) {
		(void)strlcpy_ok(out, test_nonce, outlen);
		return;
	}
#endif
	random_bytes(raw, sizeof raw);
	if (b64_encode(raw, sizeof raw, out, outlen) == -1)
		out[0] = '\0';	/* cannot happen: outlen fits it */
}

static enum sasl_status
scram_first(struct sasl *s, const char *in, size_t inlen)
{
	const char *p = in, *e = in + inlen, *q, *bare, *cn;
	char snonce[SCRAM_SNONCE_MAX], salt[B64_LEN(SCRAM_SALT_MAX) + 1];
	size_t gs2len, cnlen, snlen, need;
	int r;

	/* gs2-header: flag, optional authzid. */
	if (inlen >= 2 && p[0] == 'p' && p[1] == '=')
		return fail(s, "malformed-request",
		    "channel binding requested but not offered");
	if (inlen < 3 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',')
		return fail(s, "malformed-request", "malformed client-first");
	p += 2;
	if (*p == ',')
		p++;
	else if (e - p >= 2 && p[0] == 'a' && p[1] == '=') {
		q = memchr(p, ',', (size_t)(e - p));
		if (q == NULL)
			return fail(s, "malformed-request",
			    "malformed client-first");
		s->authzid = saslname_decode(p + 2, (size_t)(q - p - 2));
		if (s->authzid == NULL)
			return fail(s, "malformed-request",
			    "bad authzid encoding");
		p = q + 1;
	} else
		return fail(s, "malformed-request", "malformed client-first");
	gs2len = (size_t)(p - in);

	/* client-first-message-bare */
	bare = p;
	if (e - p >= 2 && p[0] == 'm' && p[1] == '=')
		return fail(s, "malformed-request",
		    "mandatory extension not supported");
	if (e - p < 2 || p[0] != 'n' || p[1] != '=' ||
	    (q = memchr(p, ',', (size_t)(e - p))) == NULL)
		return fail(s, "malformed-request", "malformed client-first");
	s->username = saslname_decode(p + 2, (size_t)(q - p - 2));
	if (s->username == NULL)
		return fail(s, "malformed-request", "bad username encoding");
	p = q + 1;
	if (e - p < 2 || p[0] != 'r' || p[1] != '=')
		return fail(s, "malformed-request", "malformed client-first");
	p += 2;
	cn = p;
	while (p < e && *p != ',') {
		if (!nonce_char_is_ok(*p))
			return fail(s, "malformed-request", "bad client nonce");
		p++;
	}
	cnlen = (size_t)(p - cn);
	if (cnlen == 0)
		return fail(s, "malformed-request", "bad client nonce");
	while (p < e) {
		p++;		/* the ',' */
		q = memchr(p, ',', (size_t)(e - p));
		if (q == NULL)
			q = e;
		r = check_extension(p, (size_t)(q - p));
		if (r == -2)
			return fail(s, "malformed-request",
			    "mandatory extension not supported");
		if (r == -1)
			return fail(s, "malformed-request",
			    "malformed client-first");
		p = q;
	}

	/* A name that cannot be a localpart has no account: say so now. */
	if (jid_prep_local(s->username) == -1)
		return fail(s, "not-authorized",
		    "username is not a valid localpart");
	load_key(s, s->hash);

	server_nonce(snonce, sizeof snonce);
	snlen = strlen(snonce);
	if (b64_encode(s->key.salt, s->key.salt_len, salt, sizeof salt) == -1)
		return fail(s, "temporary-auth-failure", "salt too long");
	s->nonce_len = cnlen + snlen;
	s->nonce = xmalloc(s->nonce_len + 1);
	memcpy(s->nonce, cn, cnlen);
	memcpy(s->nonce + cnlen, snonce, snlen + 1);
	s->cbind = xmalloc(B64_LEN(gs2len) + 1);
	if (b64_encode(in, gs2len, s->cbind, B64_LEN(gs2len) + 1) == -1)
		return fail(s, "temporary-auth-failure", "gs2 header");
	s->first_bare_len = (size_t)(e - bare);
	s->first_bare = xstrndup(bare, s->first_bare_len);

	/* "r=" nonce ",s=" salt ",i=" iter; inputs are bounded by 4 KiB. */
	need = 2 + s->nonce_len + 3 + strlen(salt) + 3 + 10 + 1;
	s->server_first = xmalloc(need);
	r = snprintf(s->server_first, need, "r=%s,s=%s,i=%u", s->nonce, salt,
	    s->key.iter);
	if (r < 0 || (size_t)r >= need)
		return fail(s, "temporary-auth-failure", "server-first");
	s->server_first_len = (size_t)r;
	set_out(s, xstrdup(s->server_first));
	s->state = ST_FINAL;
	return SASL_CONTINUE;
}

/* HMAC(key, AuthMessage), AuthMessage = client-first-message-bare ","
 * server-first-message "," client-final-message-without-proof. */
static void
auth_hmac(const struct sasl *s, const unsigned char *key, const char *final,
    size_t final_len, unsigned char *out)
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, hash_class(s->hash), key,
	    scram_hash_len(s->hash));
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, s->first_bare, s->first_bare_len);
	br_hmac_update(&hc, ",", 1);
	br_hmac_update(&hc, s->server_first, s->server_first_len);
	br_hmac_update(&hc, ",", 1);
	br_hmac_update(&hc, final, final_len);
	br_hmac_out(&hc, out);
	explicit_bzero(&kc, sizeof kc);
	explicit_bzero(&hc, sizeof hc);
}

static enum sasl_status
scram_final(struct sasl *s, const char *in, size_t inlen)
{
	const char *p = in, *e = in + inlen, *q, *cv, *rv, *pv;
	unsigned char tmp[SASL_MAX_PAYLOAD];
	unsigned char csig[SCRAM_MAX_HASH], ckey[SCRAM_MAX_HASH];
	unsigned char skey[SCRAM_MAX_HASH];
	char v[2 + B64_LEN(SCRAM_MAX_HASH) + 1];
	size_t cl, rl, pl, wplen, n = scram_hash_len(s->hash), i;
	ssize_t got;
	int r, ok;

	/* "c=" cbind "," "r=" nonce *("," ext) "," "p=" proof */
	if (inlen < 2 || p[0] != 'c' || p[1] != '=' ||
	    (q = memchr(p, ',', inlen)) == NULL)
		return fail(s, "malformed-request", "malformed client-final");
	cv = p + 2;
	cl = (size_t)(q - cv);
	p = q + 1;
	if (e - p < 2 || p[0] != 'r' || p[1] != '=' ||
	    (q = memchr(p, ',', (size_t)(e - p))) == NULL)
		return fail(s, "malformed-request", "malformed client-final");
	rv = p + 2;
	rl = (size_t)(q - rv);
	p = q + 1;
	while ((q = memchr(p, ',', (size_t)(e - p))) != NULL) {
		r = check_extension(p, (size_t)(q - p));
		if (r == -2)
			return fail(s, "malformed-request",
			    "mandatory extension not supported");
		/* c, r and p each appear once, in their places. */
		if (r == -1 || *p == 'c' || *p == 'r' || *p == 'p')
			return fail(s, "malformed-request",
			    "malformed client-final");
		p = q + 1;
	}
	if (e - p < 2 || p[0] != 'p' || p[1] != '=')
		return fail(s, "malformed-request", "malformed client-final");
	pv = p + 2;
	pl = (size_t)(e - pv);
	wplen = (size_t)(p - 1 - in);

	/* Syntax first: both base64 values must decode. */
	if (cl == 0 || b64_decode(cv, cl, tmp, sizeof tmp) < 0)
		return fail(s, "malformed-request",
		    "bad channel-binding encoding");
	got = b64_decode(pv, pl, tmp, sizeof tmp);
	if (pl == 0 || got < 0)
		return fail(s, "malformed-request", "bad proof encoding");
	if ((size_t)got != n)
		return fail(s, "malformed-request", "wrong proof length");

	/* c= must repeat our gs2 header exactly, r= our whole nonce. */
	if (cl != strlen(s->cbind) || memcmp(cv, s->cbind, cl) != 0)
		return fail(s, "not-authorized", "channel binding mismatch");
	if (rl != s->nonce_len || memcmp(rv, s->nonce, rl) != 0)
		return fail(s, "not-authorized", "nonce mismatch");

	/* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey)
	 * must be StoredKey.  A fake key never passes. */
	auth_hmac(s, s->key.stored_key, in, wplen, csig);
	for (i = 0; i < n; i++)
		ckey[i] = tmp[i] ^ csig[i];
	hash_once(s->hash, ckey, n, skey);
	ok = ct_equal(skey, s->key.stored_key, n) & s->known;
	explicit_bzero(ckey, sizeof ckey);
	explicit_bzero(csig, sizeof csig);
	explicit_bzero(skey, sizeof skey);
	explicit_bzero(tmp, sizeof tmp);
	if (!ok)
		return fail(s, "not-authorized",
		    s->known ? "bad proof" : s->unknown_why);

	/* server-final: v= ServerSignature, sent inside <success/>. */
	auth_hmac(s, s->key.server_key, in, wplen, csig);
	memcpy(v, "v=", 2);
	if (b64_encode(csig, n, v + 2, sizeof v - 2) == -1)
		return fail(s, "temporary-auth-failure", "server-final");
	explicit_bzero(csig, sizeof csig);
	set_out(s, xstrdup(v));
	scram_clear(s);
	s->state = ST_SUCCESS;
	s->reason = "authenticated";
	return SASL_SUCCESS;
}

/*
 * PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616 section 2).  The
 * password is checked by deriving the SCRAM key from it (SHA-256 when the
 * account has that key) and is never copied: the caller owns and wipes
 * the decoded payload.
 */
static enum sasl_status
plain_step(struct sasl *s, const char *in, size_t inlen)
{
	const char *e = in + inlen, *n1, *n2, *pw;
	size_t zl, cl, pwl;
	struct account_creds creds;
	struct scram_key fake;
	const struct scram_key *k = NULL;
	enum scram_hash h = SCRAM_SHA256;
	const char *why;
	int found, ok;

	if ((n1 = memchr(in, '\0', inlen)) == NULL ||
	    (n2 = memchr(n1 + 1, '\0', (size_t)(e - n1 - 1))) == NULL)
		return fail(s, "malformed-request", "malformed PLAIN message");
	pw = n2 + 1;
	pwl = (size_t)(e - pw);
	if (memchr(pw, '\0', pwl) != NULL)
		return fail(s, "malformed-request", "malformed PLAIN message");
	zl = (size_t)(n1 - in);
	cl = (size_t)(n2 - n1 - 1);
	if (!utf8_is_valid(in, zl) || !utf8_is_valid(n1 + 1, cl) ||
	    !utf8_is_valid(pw, pwl))
		return fail(s, "malformed-request", "invalid UTF-8");
	if (cl == 0)
		return fail(s, "malformed-request", "empty authcid");
	if (zl > 0)
		s->authzid = xstrndup(in, zl);
	s->username = xstrndup(n1 + 1, cl);
	if (jid_prep_local(s->username) == -1)
		return fail(s, "not-authorized",
		    "username is not a valid localpart");
	if (pwl == 0)
		return fail(s, "not-authorized", "empty password");

	memset(&creds, 0, sizeof creds);
	found = s->lookup != NULL && s->lookup(s->ctx, s->username,
	    &creds) == 0;
	if (found && key_is_usable(&creds.key[SCRAM_SHA256]))
		k = &creds.key[SCRAM_SHA256];
	else if (found && key_is_usable(&creds.key[SCRAM_SHA1])) {
		h = SCRAM_SHA1;
		k = &creds.key[SCRAM_SHA1];
	}
	/* Spend the same work on a missing account as on a wrong password. */
	why = found ? "bad password" : "unknown user";
	if (k == NULL) {
		fake_key(SCRAM_SHA256, s->username, &fake);
		if (found)
			why = "no usable key";
	}
	ok = scram_check_password(h, k ? k : &fake, pw, pwl) && k != NULL;
	explicit_bzero(&creds, sizeof creds);
	explicit_bzero(&fake, sizeof fake);
	if (!ok)
		return fail(s, "not-authorized", why);
	set_out(s, xstrdup(""));
	s->state = ST_SUCCESS;
	s->reason = "authenticated";
	return SASL_SUCCESS;
}

enum sasl_status
sasl_step(struct sasl *s, const char *in, size_t inlen, const char **out,
    size_t *outlen)
{
	static const char empty[] = "";
	enum sasl_status st;

	if (out != NULL)
		*out = empty;
	if (outlen != NULL)
		*outlen = 0;
	if (in == NULL) {
		if (inlen != 0)
			return fail(s, "malformed-request", "no payload");
		in = empty;
	}
	if (s->state == ST_SUCCESS || s->state == ST_FAILED)
		return fail(s, "malformed-request",
		    "step after the exchange finished");
	if (inlen > SASL_MAX_PAYLOAD)
		return fail(s, "malformed-request", "payload too large");
	/* No initial response: ask for it with an empty challenge, once
	 * (RFC 6120 section 6.4.2). */
	if (inlen == 0 && s->state == ST_START && !s->prompted) {
		s->prompted = 1;
		set_out(s, xstrdup(""));
		return SASL_CONTINUE;
	}
	if (s->mech == MECH_PLAIN)
		st = plain_step(s, in, inlen);
	else if (memchr(in, '\0', inlen) != NULL)
		st = fail(s, "malformed-request", "embedded NUL");
	else if (!utf8_is_valid(in, inlen))
		st = fail(s, "malformed-request", "invalid UTF-8");
	else if (s->state == ST_START)
		st = scram_first(s, in, inlen);
	else
		st = scram_final(s, in, inlen);
	if (st != SASL_FAILURE) {
		if (out != NULL)
			*out = s->out;
		if (outlen != NULL)
			*outlen = strlen(s->out);
	}
	return st;
}

/* NULL unless the last step failed. */
const char *
sasl_condition(const struct sasl *s)
{
	return s->state == ST_FAILED ? s->condition : NULL;
}

/* NULL unless the exchange succeeded: a name that was only tried is not
 * an identity. */
const char *
sasl_username(const struct sasl *s)
{
	return s->state == ST_SUCCESS ? s->username : NULL;
}

const char *
sasl_authzid(const struct sasl *s)
{
	return s->authzid;
}

const char *
sasl_log_reason(const struct sasl *s)
{
	return s->reason;
}
