/*
 * test_sasl.c - SCRAM-SHA-1/-256 and PLAIN server side, and the account
 * credential record.
 *
 * Known answers: RFC 6070 (PBKDF2-HMAC-SHA1), RFC 7914 section 11
 * (PBKDF2-HMAC-SHA256), RFC 5802 section 5 and RFC 7677 section 3 (the
 * SCRAM transcripts, replayed byte for byte with the server nonce forced).
 * Everything else runs against a small SCRAM client written here, so the
 * tests can make valid proofs for messages the RFCs do not show (authzid,
 * "y" flag, extensions, upper-case names) and then break them one field
 * at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl_hash.h>
#include <bearssl_hmac.h>

#include "harness.h"
#include "sasl.h"
#include "util.h"

#ifndef XMPPD_TEST
#error "test_sasl.c needs -DXMPPD_TEST (it uses sasl_test_set_nonce)"
#endif

/* ---- helpers ---- */

static size_t
hexdec(const char *hex, unsigned char *out, size_t outlen)
{
	size_t n = 0;
	unsigned v;

	while (hex[0] != '\0' && hex[1] != '\0' && n < outlen) {
		if (sscanf(hex, "%2x", &v) != 1)
			break;
		out[n++] = (unsigned char)v;
		hex += 2;
	}
	return n;
}

static size_t
b64dec(const char *s, unsigned char *out, size_t outlen)
{
	ssize_t n = b64_decode(s, strlen(s), out, outlen);

	return n < 0 ? 0 : (size_t)n;
}

static const br_hash_class *
t_class(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? &br_sha1_vtable : &br_sha256_vtable;
}

static void
t_hmac(enum scram_hash h, const void *key, size_t keylen, const void *data,
    size_t len, unsigned char *out)
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, t_class(h), key, keylen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, data, len);
	br_hmac_out(&hc, out);
}

static void
t_hash(enum scram_hash h, const void *data, size_t len, unsigned char *out)
{
	br_hash_compat_context hc;

	t_class(h)->init(&hc.vtable);
	t_class(h)->update(&hc.vtable, data, len);
	t_class(h)->out(&hc.vtable, out);
}

/* The test's own PBKDF2 first block, written the slow obvious way. */
static void
t_hi(enum scram_hash h, const char *pw, size_t pwlen, const unsigned char *salt,
    size_t saltlen, unsigned iter, unsigned char *out)
{
	unsigned char buf[256], u[SCRAM_MAX_HASH];
	size_t n = scram_hash_len(h), i;
	unsigned r;

	memcpy(buf, salt, saltlen);
	memcpy(buf + saltlen, "\0\0\0\1", 4);
	t_hmac(h, pw, pwlen, buf, saltlen + 4, u);
	memcpy(out, u, n);
	for (r = 1; r < iter; r++) {
		t_hmac(h, pw, pwlen, u, n, u);
		for (i = 0; i < n; i++)
			out[i] ^= u[i];
	}
}

/* Check k against the StoredKey/ServerKey that SaltedPassword sp gives. */
static void
check_key_from_salted(enum scram_hash h, const struct scram_key *k,
    const unsigned char *sp, const char *what)
{
	unsigned char ck[SCRAM_MAX_HASH], sk[SCRAM_MAX_HASH];
	unsigned char vk[SCRAM_MAX_HASH];
	size_t n = scram_hash_len(h);

	t_hmac(h, sp, n, "Client Key", 10, ck);
	t_hash(h, ck, n, sk);
	t_hmac(h, sp, n, "Server Key", 10, vk);
	T_EXPECT(k->present, "%s: key present", what);
	T_EXPECT(memcmp(k->stored_key, sk, n) == 0, "%s: StoredKey", what);
	T_EXPECT(memcmp(k->server_key, vk, n) == 0, "%s: ServerKey", what);
}

/* ---- a tiny account database behind the lookup callback ---- */

struct t_db {
	const char		*name[8];
	struct account_creds	 creds[8];
	int			 n;
	int			 calls;
	char			 last[128];
};

static int
t_lookup(void *ctx, const char *username, struct account_creds *out)
{
	struct t_db *db = ctx;
	int i;

	db->calls++;
	snprintf(db->last, sizeof db->last, "%s", username);
	for (i = 0; i < db->n; i++)
		if (strcmp(db->name[i], username) == 0) {
			*out = db->creds[i];
			return 0;
		}
	return -1;
}

static struct account_creds *
db_add(struct t_db *db, const char *name)
{
	db->name[db->n] = name;
	memset(&db->creds[db->n], 0, sizeof db->creds[db->n]);
	return &db->creds[db->n++];
}

/* ---- driving the exchange ---- */

struct t_step {
	enum sasl_status st;
	char		 out[8192];
	size_t		 outlen;
};

static enum sasl_status
step(struct sasl *s, const char *in, size_t inlen, struct t_step *r)
{
	const char *o = NULL;
	size_t ol = 12345;

	r->st = sasl_step(s, in, inlen, &o, &ol);
	r->outlen = ol;
	r->out[0] = '\0';
	if (o != NULL && ol < sizeof r->out) {
		memcpy(r->out, o, ol);
		r->out[ol] = '\0';
	}
	return r->st;
}

static enum sasl_status
steps(struct sasl *s, const char *in, struct t_step *r)
{
	return step(s, in, strlen(in), r);
}

/* Server-first "r=...,s=...,i=..." into its parts; 0 / -1. */
static int
parse_server_first(const char *sf, char *nonce, size_t noncelen,
    unsigned char *salt, size_t *saltlen, unsigned *iter)
{
	const char *s = strstr(sf, ",s="), *i = strstr(sf, ",i=");
	char b64[256];
	ssize_t n;

	if (strncmp(sf, "r=", 2) != 0 || s == NULL || i == NULL || i < s ||
	    (size_t)(s - sf - 2) >= noncelen ||
	    (size_t)(i - s - 3) >= sizeof b64)
		return -1;
	memcpy(nonce, sf + 2, (size_t)(s - sf - 2));
	nonce[s - sf - 2] = '\0';
	memcpy(b64, s + 3, (size_t)(i - s - 3));
	b64[i - s - 3] = '\0';
	if ((n = b64_decode(b64, strlen(b64), salt, 64)) < 0)
		return -1;
	*saltlen = (size_t)n;
	*iter = (unsigned)strtoul(i + 3, NULL, 10);
	return 0;
}

/*
 * What a client does: send gs2 + bare, read server-first, answer with
 * c=base64(gs2), r=nonce, the extensions given and the proof for pw.
 * Returns the final status; *v_ok says whether v= is the signature the
 * client worked out itself (mutual authentication).
 */
static enum sasl_status
client_login(struct sasl *s, enum scram_hash h, const char *gs2,
    const char *bare, const char *final_ext, const char *pw, int *v_ok,
    struct t_step *r)
{
	static char first[8192], nonce[8192], cfwp[16384], am[32768];
	static char final[16500];
	char cb[256], proofb64[64], v[64];
	unsigned char salt[64], sp[SCRAM_MAX_HASH], ck[SCRAM_MAX_HASH];
	unsigned char sk[SCRAM_MAX_HASH], cs[SCRAM_MAX_HASH];
	unsigned char proof[SCRAM_MAX_HASH], vk[SCRAM_MAX_HASH];
	unsigned char ss[SCRAM_MAX_HASH];
	size_t saltlen, n = scram_hash_len(h), i;
	unsigned iter;

	*v_ok = 0;
	snprintf(first, sizeof first, "%s%s", gs2, bare);
	if (steps(s, first, r) != SASL_CONTINUE)
		return r->st;
	if (parse_server_first(r->out, nonce, sizeof nonce, salt, &saltlen,
	    &iter) == -1)
		return SASL_FAILURE;
	b64_encode(gs2, strlen(gs2), cb, sizeof cb);
	snprintf(cfwp, sizeof cfwp, "c=%s,r=%s%s%s", cb, nonce,
	    final_ext ? "," : "", final_ext ? final_ext : "");
	snprintf(am, sizeof am, "%s,%s,%s", bare, r->out, cfwp);
	t_hi(h, pw, strlen(pw), salt, saltlen, iter, sp);
	t_hmac(h, sp, n, "Client Key", 10, ck);
	t_hash(h, ck, n, sk);
	t_hmac(h, sk, n, am, strlen(am), cs);
	for (i = 0; i < n; i++)
		proof[i] = ck[i] ^ cs[i];
	b64_encode(proof, n, proofb64, sizeof proofb64);
	snprintf(final, sizeof final, "%s,p=%s", cfwp, proofb64);
	t_hmac(h, sp, n, "Server Key", 10, vk);
	t_hmac(h, vk, n, am, strlen(am), ss);
	memcpy(v, "v=", 2);
	b64_encode(ss, n, v + 2, sizeof v - 2);
	if (steps(s, final, r) == SASL_SUCCESS)
		*v_ok = strcmp(r->out, v) == 0;
	return r->st;
}

static void
expect_fail(struct sasl *s, struct t_step *r, const char *cond,
    const char *reason, const char *what)
{
	T_EXPECT(r->st == SASL_FAILURE, "%s: status %d, want failure", what,
	    (int)r->st);
	T_EXPECT(r->outlen == 0, "%s: failure carries no payload", what);
	T_EXPECT(sasl_condition(s) != NULL &&
	    strcmp(sasl_condition(s), cond) == 0,
	    "%s: condition %s, want %s", what,
	    sasl_condition(s) ? sasl_condition(s) : "(null)", cond);
	T_EXPECT(strcmp(sasl_log_reason(s), reason) == 0,
	    "%s: reason \"%s\", want \"%s\"", what, sasl_log_reason(s), reason);
	T_EXPECT(sasl_username(s) == NULL, "%s: no username after failure",
	    what);
}

/* Run one message as the first step of a fresh SCRAM exchange. */
static void
first_fails(struct t_db *db, const char *mech, const char *in, size_t len,
    const char *cond, const char *reason)
{
	struct sasl *s = sasl_new(mech, t_lookup, db);
	struct t_step r;

	step(s, in, len, &r);
	expect_fail(s, &r, cond, reason, in);
	sasl_free(s);
}

/* ---- PBKDF2 (Hi) through scram_derive ---- */

static void
test_pbkdf2(void)
{
	static const struct {
		enum scram_hash	 h;
		const char	*pw;
		size_t		 pwlen;
		const char	*salt;
		size_t		 saltlen;
		unsigned	 iter;
		const char	*hex;	/* first block of the key */
	} v[] = {
		/* RFC 6070 section 2 */
		{ SCRAM_SHA1, "password", 8, "salt", 4, 1,
		  "0c60c80f961f0e71f3a9b524af6012062fe037a6" },
		{ SCRAM_SHA1, "password", 8, "salt", 4, 2,
		  "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957" },
		{ SCRAM_SHA1, "password", 8, "salt", 4, 4096,
		  "4b007901b765489abead49d926f721d065a429c1" },
		/* RFC 6070, dkLen 25: its first 20 bytes are block 1 */
		{ SCRAM_SHA1, "passwordPASSWORDpassword", 24,
		  "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096,
		  "3d2eec4fe41c849b80c8d83662c0e44a8b291a96" },
		/* RFC 6070 NULs in password and salt: its dkLen 16 output is
		 * 56fa6aa75548099dcc37d7f03425e0c3; the last 4 bytes of the
		 * block are from Python's hashlib.pbkdf2_hmac. */
		{ SCRAM_SHA1, "pass\0word", 9, "sa\0lt", 5, 4096,
		  "56fa6aa75548099dcc37d7f03425e0c37f1c42b2" },
		/* RFC 7914 section 11 (PBKDF2-HMAC-SHA256), first 32 bytes */
		{ SCRAM_SHA256, "passwd", 6, "salt", 4, 1,
		  "55ac046e56e3089fec1691c22544b605"
		  "f94185216dde0465e68b9d57c20dacbc" },
		{ SCRAM_SHA256, "Password", 8, "NaCl", 4, 80000,
		  "4ddcd8f60b98be21830cee5ef22701f9"
		  "641a4418d04c0414aeff08876b34ab56" },
	};
	unsigned char sp[SCRAM_MAX_HASH], mine[SCRAM_MAX_HASH];
	struct scram_key k;
	char what[64];
	size_t i;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		snprintf(what, sizeof what, "pbkdf2 vector %zu", i);
		T_EQ_INT(hexdec(v[i].hex, sp, sizeof sp),
		    scram_hash_len(v[i].h));
		T_EQ_INT(scram_derive(v[i].h, v[i].pw, v[i].pwlen, v[i].iter,
		    (const unsigned char *)v[i].salt, v[i].saltlen, &k), 0);
		check_key_from_salted(v[i].h, &k, sp, what);
		T_EQ_INT(k.iter, v[i].iter);
		T_EQ_INT(k.salt_len, v[i].saltlen);
		T_EQ_MEM(k.salt, v[i].salt, v[i].saltlen);
		/* and the test's own Hi agrees with the RFC too */
		if (v[i].iter <= 4096) {
			t_hi(v[i].h, v[i].pw, v[i].pwlen,
			    (const unsigned char *)v[i].salt, v[i].saltlen,
			    v[i].iter, mine);
			T_EXPECT(memcmp(mine, sp, scram_hash_len(v[i].h)) == 0,
			    "%s: test Hi", what);
		}
	}
}

static void
test_derive(void)
{
	struct scram_key k, k2;
	const unsigned char salt[65] = { 1 };

	T_EQ_INT(scram_hash_len(SCRAM_SHA1), 20);
	T_EQ_INT(scram_hash_len(SCRAM_SHA256), 32);
	T_EQ_INT(scram_hash_len(SCRAM_NHASH), 0);

	/* the RFC 5802 / 7677 accounts: StoredKey and ServerKey from
	 * Python's hashlib for password "pencil" */
	{
		unsigned char sk[20], vk[20], rs[16];

		T_EQ_INT(b64dec("QSXCR+Q6sek8bf92", rs, sizeof rs), 12);
		T_EQ_INT(scram_derive(SCRAM_SHA1, "pencil", 6, 4096, rs, 12,
		    &k), 0);
		b64dec("6dlGYMOdZcOPutkcNY8U2g7vK9Y=", sk, sizeof sk);
		b64dec("D+CSWLOshSulAsxiupA+qs2/fTE=", vk, sizeof vk);
		T_EQ_MEM(k.stored_key, sk, 20);
		T_EQ_MEM(k.server_key, vk, 20);
	}

	/* bounds */
	T_EQ_INT(scram_derive(SCRAM_SHA1, "pw", 2, 0, NULL, 0, &k), -1);
	T_EQ_INT(scram_derive(SCRAM_SHA1, "pw", 2, 1000001, NULL, 0, &k), -1);
	T_EQ_INT(scram_derive(SCRAM_SHA1, "pw", 2, 1, NULL, 0, &k), 0);
	T_EQ_INT(scram_derive(SCRAM_SHA1, "", 0, 1, NULL, 0, &k), -1);
	T_EQ_INT(scram_derive(SCRAM_SHA1, NULL, 0, 1, NULL, 0, &k), -1);
	T_EQ_INT(scram_derive(SCRAM_NHASH, "pw", 2, 1, NULL, 0, &k), -1);
	T_EQ_INT(scram_derive(SCRAM_SHA1, "pw", 2, 1, salt, 0, &k), -1);
	T_EQ_INT(scram_derive(SCRAM_SHA1, "pw", 2, 1, salt, 65, &k), -1);
	T_EQ_INT(scram_derive(SCRAM_SHA1, "pw", 2, 1, salt, 64, &k), 0);
	T_EQ_INT(k.salt_len, 64);

	/* fresh salts */
	T_EQ_INT(scram_derive(SCRAM_SHA256, "pw", 2, 16, NULL, 0, &k), 0);
	T_EQ_INT(scram_derive(SCRAM_SHA256, "pw", 2, 16, NULL, 0, &k2), 0);
	T_EQ_INT(k.salt_len, SCRAM_SALT_LEN);
	T_EQ_INT(k.present, 1);
	T_EXPECT(memcmp(k.salt, k2.salt, SCRAM_SALT_LEN) != 0, "salts differ");
	T_EXPECT(memcmp(k.stored_key, k2.stored_key, 32) != 0, "keys differ");

	/* re-deriving into the key that holds the salt */
	k2 = k;
	T_EQ_INT(scram_derive(SCRAM_SHA256, "pw", 2, 16, k.salt, k.salt_len,
	    &k), 0);
	T_EXPECT(memcmp(&k, &k2, sizeof k) == 0, "salt may live in *k");

	/* scram_check_password */
	T_EQ_INT(scram_check_password(SCRAM_SHA256, &k, "pw", 2), 1);
	T_EQ_INT(scram_check_password(SCRAM_SHA256, &k, "pw!", 3), 0);
	T_EQ_INT(scram_check_password(SCRAM_SHA256, &k, "p", 1), 0);
	T_EQ_INT(scram_check_password(SCRAM_SHA256, &k, "PW", 2), 0);
	T_EQ_INT(scram_check_password(SCRAM_SHA256, &k, "", 0), 0);
	T_EQ_INT(scram_check_password(SCRAM_SHA1, &k, "pw", 2), 0);
	T_EQ_INT(scram_derive(SCRAM_SHA1, "a\0b", 3, 8, NULL, 0, &k), 0);
	T_EQ_INT(scram_check_password(SCRAM_SHA1, &k, "a\0b", 3), 1);
	T_EQ_INT(scram_check_password(SCRAM_SHA1, &k, "a", 1), 0);
	k.present = 0;
	T_EQ_INT(scram_check_password(SCRAM_SHA1, &k, "a\0b", 3), 0);
	k.present = 1;
	k.iter = 0;
	T_EQ_INT(scram_check_password(SCRAM_SHA1, &k, "a\0b", 3), 0);
	T_EQ_INT(scram_check_password(SCRAM_SHA1, NULL, "a\0b", 3), 0);
}

/* ---- the account file ---- */

static const char rfc_account[] =
    "xmppd-account 1\n"
    "scram-sha-1 4096 QSXCR+Q6sek8bf92 6dlGYMOdZcOPutkcNY8U2g7vK9Y= "
    "D+CSWLOshSulAsxiupA+qs2/fTE=\n"
    "scram-sha-256 4096 W22ZaJ0SNY7soEsUEjb6gQ== "
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY= "
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\n";

static void
rfc_creds(struct account_creds *c, const char *pw)
{
	unsigned char s1[16], s256[16];
	size_t n1 = b64dec("QSXCR+Q6sek8bf92", s1, sizeof s1);
	size_t n256 = b64dec("W22ZaJ0SNY7soEsUEjb6gQ==", s256, sizeof s256);

	memset(c, 0, sizeof *c);
	T_EQ_INT(scram_derive(SCRAM_SHA1, pw, strlen(pw), 4096, s1, n1,
	    &c->key[SCRAM_SHA1]), 0);
	T_EQ_INT(scram_derive(SCRAM_SHA256, pw, strlen(pw), 4096, s256, n256,
	    &c->key[SCRAM_SHA256]), 0);
}

static void
parse_fails(const char *text, size_t len, const char *want_err)
{
	struct account_creds c;
	char err[256];

	memset(&c, 0xa5, sizeof c);
	snprintf(err, sizeof err, "unset");
	T_EXPECT(account_creds_parse(text, len, &c, err, sizeof err) == -1,
	    "parse of %.40s... should fail", text);
	T_EXPECT(strcmp(err, want_err) == 0, "error \"%s\", want \"%s\"", err,
	    want_err);
	T_EXPECT(c.key[0].present == 0 && c.key[1].present == 0 &&
	    c.key[1].stored_key[0] == 0, "creds wiped after a failed parse");
}

static void
parse_fails_s(const char *text, const char *want_err)
{
	parse_fails(text, strlen(text), want_err);
}

static void
test_account(void)
{
	struct account_creds c, c2;
	char out[1024], err[256], line[512];
	int n, h;

	/* format: exact text for the RFC keys */
	rfc_creds(&c, "pencil");
	n = account_creds_format(&c, out, sizeof out);
	T_EQ_INT(n, (int)strlen(rfc_account));
	T_EQ_STR(out, rfc_account);
	/* the buffer must hold the NUL too */
	T_EQ_INT(account_creds_format(&c, out, strlen(rfc_account)), -1);
	T_EQ_INT(account_creds_format(&c, out, strlen(rfc_account) + 1),
	    (int)strlen(rfc_account));
	T_EQ_INT(account_creds_format(&c, out, 10), -1);
	T_EQ_INT(account_creds_format(&c, out, 0), -1);
	T_EQ_INT(account_creds_format(&c, NULL, 100), -1);

	/* parse: back to the same keys */
	T_EQ_INT(account_creds_parse(rfc_account, strlen(rfc_account), &c2, err,
	    sizeof err), 0);
	T_EQ_STR(err, "");
	for (h = 0; h < SCRAM_NHASH; h++) {
		T_EQ_INT(c2.key[h].present, 1);
		T_EQ_INT(c2.key[h].iter, 4096);
		T_EQ_INT(c2.key[h].salt_len, c.key[h].salt_len);
		T_EQ_MEM(c2.key[h].salt, c.key[h].salt, c.key[h].salt_len);
		T_EQ_MEM(c2.key[h].stored_key, c.key[h].stored_key,
		    scram_hash_len(h));
		T_EQ_MEM(c2.key[h].server_key, c.key[h].server_key,
		    scram_hash_len(h));
	}
	T_EQ_INT(scram_check_password(SCRAM_SHA1, &c2.key[SCRAM_SHA1],
	    "pencil", 6), 1);
	T_EQ_INT(scram_check_password(SCRAM_SHA256, &c2.key[SCRAM_SHA256],
	    "pencil", 6), 1);
	/* err may be absent */
	T_EQ_INT(account_creds_parse(rfc_account, strlen(rfc_account), &c2,
	    NULL, 0), 0);

	/* account_creds_make, then a round trip through the text */
	T_EQ_INT(account_creds_make("s3cr3t p\xc3\xa4ss", 4096, &c), 0);
	T_EQ_INT(c.key[SCRAM_SHA1].present, 1);
	T_EQ_INT(c.key[SCRAM_SHA256].present, 1);
	T_EQ_INT(c.key[SCRAM_SHA1].iter, 4096);
	T_EQ_INT(c.key[SCRAM_SHA1].salt_len, SCRAM_SALT_LEN);
	T_EXPECT(memcmp(c.key[0].salt, c.key[1].salt, SCRAM_SALT_LEN) != 0,
	    "each hash gets its own salt");
	n = account_creds_format(&c, out, sizeof out);
	T_EXPECT(n > 0 && (size_t)n == strlen(out), "format length %d", n);
	T_EQ_INT(account_creds_parse(out, (size_t)n, &c2, err, sizeof err), 0);
	T_EXPECT(memcmp(&c.key[0], &c2.key[0], sizeof c.key[0]) == 0 &&
	    memcmp(&c.key[1], &c2.key[1], sizeof c.key[1]) == 0,
	    "make -> format -> parse gives the same record");
	T_EQ_INT(scram_check_password(SCRAM_SHA1, &c2.key[SCRAM_SHA1],
	    "s3cr3t p\xc3\xa4ss", 12), 1);
	T_EQ_INT(scram_check_password(SCRAM_SHA256, &c2.key[SCRAM_SHA256],
	    "s3cr3t p\xc3\xa4ss", 12), 1);
	T_EQ_INT(account_creds_make("", 4096, &c), -1);
	T_EQ_INT(account_creds_make("x", 0, &c), -1);
	T_EQ_INT(account_creds_make("x", 1000001, &c), -1);
	T_EQ_INT(account_creds_make(NULL, 4096, &c), -1);

	/* one hash only, each way */
	rfc_creds(&c, "pencil");
	c.key[SCRAM_SHA1].present = 0;
	n = account_creds_format(&c, out, sizeof out);
	T_EQ_STR(out, "xmppd-account 1\n"
	    "scram-sha-256 4096 W22ZaJ0SNY7soEsUEjb6gQ== "
	    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY= "
	    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\n");
	T_EQ_INT(account_creds_parse(out, (size_t)n, &c2, err, sizeof err), 0);
	T_EQ_INT(c2.key[SCRAM_SHA1].present, 0);
	T_EQ_INT(c2.key[SCRAM_SHA256].present, 1);
	rfc_creds(&c, "pencil");
	c.key[SCRAM_SHA256].present = 0;
	n = account_creds_format(&c, out, sizeof out);
	T_EQ_INT(account_creds_parse(out, (size_t)n, &c2, err, sizeof err), 0);
	T_EQ_INT(c2.key[SCRAM_SHA1].present, 1);
	T_EQ_INT(c2.key[SCRAM_SHA256].present, 0);
	/* entries in the other order are fine */
	T_EQ_INT(account_creds_parse("xmppd-account 1\n"
	    "scram-sha-256 4096 W22ZaJ0SNY7soEsUEjb6gQ== "
	    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY= "
	    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\n"
	    "scram-sha-1 4096 QSXCR+Q6sek8bf92 6dlGYMOdZcOPutkcNY8U2g7vK9Y= "
	    "D+CSWLOshSulAsxiupA+qs2/fTE=\n", strlen(rfc_account), &c2, err,
	    sizeof err), 0);

	/* nothing, or a bad key, cannot be formatted */
	c.key[SCRAM_SHA1].present = 0;
	T_EQ_INT(account_creds_format(&c, out, sizeof out), -1);
	rfc_creds(&c, "pencil");
	c.key[SCRAM_SHA1].iter = 0;
	T_EQ_INT(account_creds_format(&c, out, sizeof out), -1);
	rfc_creds(&c, "pencil");
	c.key[SCRAM_SHA256].salt_len = 0;
	T_EQ_INT(account_creds_format(&c, out, sizeof out), -1);

	/* iteration bounds that parse */
	snprintf(line, sizeof line, "xmppd-account 1\nscram-sha-1 1 "
	    "QSXCR+Q6sek8bf92 6dlGYMOdZcOPutkcNY8U2g7vK9Y= "
	    "D+CSWLOshSulAsxiupA+qs2/fTE=\n");
	T_EQ_INT(account_creds_parse(line, strlen(line), &c2, err, sizeof err),
	    0);
	T_EQ_INT(c2.key[SCRAM_SHA1].iter, 1);
	snprintf(line, sizeof line, "xmppd-account 1\nscram-sha-1 1000000 "
	    "QSXCR+Q6sek8bf92 6dlGYMOdZcOPutkcNY8U2g7vK9Y= "
	    "D+CSWLOshSulAsxiupA+qs2/fTE=\n");
	T_EQ_INT(account_creds_parse(line, strlen(line), &c2, err, sizeof err),
	    0);
	T_EQ_INT(c2.key[SCRAM_SHA1].iter, 1000000);

	/* ---- every rejection ---- */
	parse_fails("", 0, "empty account file");
	parse_fails(rfc_account, 0, "empty account file");
	parse_fails("xmppd-account 1\n\0", 17,
	    "account file contains a NUL byte");
	parse_fails_s("xmppd-account 1\n", "account file has no SCRAM key");
	parse_fails_s("xmppd-account 1", "line 1: no newline at the end "
	    "(truncated file?)");
	parse_fails_s("xmppd-account 2\nscram-sha-1 4096 QSXCR+Q6sek8bf92 "
	    "6dlGYMOdZcOPutkcNY8U2g7vK9Y= D+CSWLOshSulAsxiupA+qs2/fTE=\n",
	    "account file version 2 is newer than this xmppd understands");
	parse_fails_s("xmppd-account 17\n",
	    "account file version 17 is newer than this xmppd understands");
	parse_fails_s("xmppd-account 0\n", "line 1: bad account file version");
	parse_fails_s("xmppd-account 01\n", "line 1: bad account file version");
	parse_fails_s("xmppd-account 1x\n", "line 1: bad account file version");
	parse_fails_s("xmppd-account -1\n", "line 1: bad account file version");
	parse_fails_s("xmppd-account  1\n", "line 1: bad account file version");
	parse_fails_s("xmppd-account 1 \n", "line 1: bad account file version");
	parse_fails_s("xmppd-account \n", "line 1: not an xmppd account file");
	parse_fails_s("xmppd-account\n", "line 1: not an xmppd account file");
	parse_fails_s("xmppd-acount 1\n", "line 1: not an xmppd account file");
	parse_fails_s("XMPPD-ACCOUNT 1\n", "line 1: not an xmppd account file");
	parse_fails_s("xmppd-account 123456789012345678901\n",
	    "line 1: not an xmppd account file");
	parse_fails_s("\nxmppd-account 1\n",
	    "line 1: not an xmppd account file");
	parse_fails_s("xmppd-account 1\r\n",
	    "line 1: bad account file version");

#define L1(rest) "xmppd-account 1\n" rest
#define SALT1 "QSXCR+Q6sek8bf92"
#define SK1 "6dlGYMOdZcOPutkcNY8U2g7vK9Y="
#define VK1 "D+CSWLOshSulAsxiupA+qs2/fTE="
#define SK256 "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
	/* the last line must end in a newline (a cut file) */
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " " VK1),
	    "line 2: no newline at the end (truncated file?)");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " " VK1 "\n\n"),
	    "line 3: unknown entry \"\"");
	parse_fails_s(L1("scram-sha-512 4096 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: unknown entry \"scram-sha-512\"");
	parse_fails_s(L1("SCRAM-SHA-1 4096 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: unknown entry \"SCRAM-SHA-1\"");
	parse_fails_s(L1("password pencil\n"),
	    "line 2: unknown entry \"password\"");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " " VK1 "\n"
	    "scram-sha-1 4096 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 3: second scram-sha-1 entry");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 "\n"),
	    "line 2: scram-sha-1 needs exactly 4 fields separated by single "
	    "spaces");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " " VK1 " x\n"),
	    "line 2: scram-sha-1 needs exactly 4 fields separated by single "
	    "spaces");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " " VK1 " \n"),
	    "line 2: scram-sha-1 needs exactly 4 fields separated by single "
	    "spaces");
	parse_fails_s(L1("scram-sha-1 4096  " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: scram-sha-1 needs exactly 4 fields separated by single "
	    "spaces");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 "  " VK1 "\n"),
	    "line 2: scram-sha-1 needs exactly 4 fields separated by single "
	    "spaces");
	parse_fails_s(L1("scram-sha-1\n"),
	    "line 2: scram-sha-1 needs exactly 4 fields separated by single "
	    "spaces");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " \n"),
	    "line 2: empty field");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 "\t" SK1 " " VK1 " x\n"),
	    "line 2: salt is not base64");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " " VK1 "\r\n"),
	    "line 2: ServerKey is not base64");
	/* iteration counts */
	parse_fails_s(L1("scram-sha-1 0 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: bad iteration count (must be 1..1000000)");
	parse_fails_s(L1("scram-sha-1 1000001 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: bad iteration count (must be 1..1000000)");
	parse_fails_s(L1("scram-sha-1 4294967297 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: bad iteration count (must be 1..1000000)");
	parse_fails_s(L1("scram-sha-1 04096 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: bad iteration count (must be 1..1000000)");
	parse_fails_s(L1("scram-sha-1 -1 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: bad iteration count (must be 1..1000000)");
	parse_fails_s(L1("scram-sha-1 +4096 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: bad iteration count (must be 1..1000000)");
	parse_fails_s(L1("scram-sha-1 4096x " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: bad iteration count (must be 1..1000000)");
	parse_fails_s(L1("scram-sha-1 0x10 " SALT1 " " SK1 " " VK1 "\n"),
	    "line 2: bad iteration count (must be 1..1000000)");
	/* salt */
	parse_fails_s(L1("scram-sha-1 4096 QSXCR+Q6sek8bf9 " SK1 " " VK1 "\n"),
	    "line 2: salt is not base64");
	parse_fails_s(L1("scram-sha-1 4096 QSXCR+Q6sek8bf9! " SK1 " " VK1 "\n"),
	    "line 2: salt is not base64");
	parse_fails_s(L1("scram-sha-1 4096 QSXC=+Q6sek8bf92 " SK1 " " VK1 "\n"),
	    "line 2: salt is not base64");
	/* 66 bytes of salt: valid base64, too long */
	{
		char salt66[B64_LEN(66) + 1], salt64[B64_LEN(64) + 1];
		unsigned char raw[66];

		memset(raw, 'A', sizeof raw);
		b64_encode(raw, 66, salt66, sizeof salt66);
		b64_encode(raw, 64, salt64, sizeof salt64);
		snprintf(line, sizeof line, L1("scram-sha-1 4096 %s " SK1 " " VK1
		    "\n"), salt66);
		parse_fails_s(line, "line 2: salt must be 1..64 bytes");
		snprintf(line, sizeof line, L1("scram-sha-1 4096 %s " SK1 " " VK1
		    "\n"), salt64);
		T_EQ_INT(account_creds_parse(line, strlen(line), &c2, err,
		    sizeof err), 0);
		T_EQ_INT(c2.key[SCRAM_SHA1].salt_len, 64);
	}
	/* keys */
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " 6dlGYMOdZcOPutkcNY8U2g7vK9Y "
	    VK1 "\n"), "line 2: StoredKey is not base64");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK256 " " VK1 "\n"),
	    "line 2: StoredKey must be 20 bytes");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " " SK256 "\n"),
	    "line 2: ServerKey must be 20 bytes");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " D+CSWLOshSulAsxi\n"),
	    "line 2: ServerKey must be 20 bytes");
	parse_fails_s(L1("scram-sha-1 4096 " SALT1 " " SK1 " D+CSWLOshSulAsxiupA+"
	    "qs2/fTF=\n"), "line 2: ServerKey is not base64");
	parse_fails_s(L1("scram-sha-256 4096 " SALT1 " " SK1 " " SK256 "\n"),
	    "line 2: StoredKey must be 32 bytes");
	parse_fails_s(L1("scram-sha-256 4096 " SALT1 " " SK256 " " VK1 "\n"),
	    "line 2: ServerKey must be 32 bytes");
	/* a very long field is a wrong length, not a crash */
	memset(line, 'A', sizeof line);
	memcpy(line, L1("scram-sha-1 4096 " SALT1 " "),
	    strlen(L1("scram-sha-1 4096 " SALT1 " ")));
	memcpy(line + 400, " " VK1 "\n", strlen(" " VK1 "\n") + 1);
	parse_fails_s(line, "line 2: StoredKey is not base64");
	/* a good line after a bad one changes nothing */
	parse_fails_s(L1("scram-sha-1 0 " SALT1 " " SK1 " " VK1 "\n"
	    "scram-sha-256 4096 W22ZaJ0SNY7soEsUEjb6gQ== " SK256 " " SK256 "\n"),
	    "line 2: bad iteration count (must be 1..1000000)");
	/* a short error buffer gets a cut message and no overflow */
	T_EQ_INT(account_creds_parse("xmppd-account 9\n", 16, &c2, err, 8), -1);
	T_EQ_STR(err, "account");
#undef L1
#undef SALT1
#undef SK1
#undef VK1
#undef SK256
}

/* ---- the RFC transcripts ---- */

static void
test_rfc_transcripts(void)
{
	struct t_db db = { .n = 0 };
	struct sasl *s;
	struct t_step r;

	rfc_creds(db_add(&db, "user"), "pencil");

	/* RFC 5802 section 5 */
	sasl_test_set_nonce("3rfcNHYJY1ZVvWVs7j");
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	T_EXPECT(s != NULL, "sasl_new SCRAM-SHA-1");
	T_EQ_INT(steps(s, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &r),
	    SASL_CONTINUE);
	T_EQ_STR(r.out, "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "s=QSXCR+Q6sek8bf92,i=4096");
	T_EQ_INT(r.outlen, strlen(r.out));
	T_EQ_STR(db.last, "user");
	T_EXPECT(sasl_username(s) == NULL, "no username before success");
	T_EXPECT(sasl_condition(s) == NULL, "no condition while running");
	T_EQ_INT(steps(s, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &r), SASL_SUCCESS);
	T_EQ_STR(r.out, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
	T_EQ_INT(r.outlen, 30);
	T_EQ_STR(sasl_username(s), "user");
	T_EXPECT(sasl_authzid(s) == NULL, "no authzid");
	T_EXPECT(sasl_condition(s) == NULL, "no condition on success");
	T_EQ_STR(sasl_log_reason(s), "authenticated");
	/* anything after the last step fails */
	T_EQ_INT(steps(s, "c=biws", &r), SASL_FAILURE);
	expect_fail(s, &r, "malformed-request",
	    "step after the exchange finished", "after success");
	T_EQ_INT(step(s, "", 0, &r), SASL_FAILURE);
	T_EQ_INT(step(s, NULL, 0, &r), SASL_FAILURE);
	sasl_free(s);

	/* RFC 7677 section 3 */
	sasl_test_set_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	s = sasl_new("SCRAM-SHA-256", t_lookup, &db);
	T_EXPECT(s != NULL, "sasl_new SCRAM-SHA-256");
	T_EQ_INT(steps(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &r),
	    SASL_CONTINUE);
	T_EQ_STR(r.out, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
	T_EQ_INT(steps(s, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj"
	    ")hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &r),
	    SASL_SUCCESS);
	T_EQ_STR(r.out, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	T_EQ_STR(sasl_username(s), "user");
	sasl_free(s);

	/* Same transcript, wrong password stored: the proof must fail. */
	rfc_creds(&db.creds[0], "pencil2");
	s = sasl_new("SCRAM-SHA-256", t_lookup, &db);
	T_EQ_INT(steps(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &r),
	    SASL_CONTINUE);
	T_EQ_STR(r.out, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
	steps(s, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj"
	    ")hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &r);
	expect_fail(s, &r, "not-authorized", "bad proof", "wrong password");
	T_EQ_INT(steps(s, "n,,n=user,r=x", &r), SASL_FAILURE);
	expect_fail(s, &r, "malformed-request",
	    "step after the exchange finished", "after failure");
	sasl_free(s);

	/* SHA-1 transcript against a SHA-1 key from another password */
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	sasl_test_set_nonce("3rfcNHYJY1ZVvWVs7j");
	steps(s, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &r);
	steps(s, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &r);
	expect_fail(s, &r, "not-authorized", "bad proof", "wrong password 1");
	sasl_free(s);
	sasl_test_set_nonce(NULL);
}

/* ---- SCRAM against the test's client ---- */

static void
test_scram_client(void)
{
	struct t_db db = { .n = 0 };
	struct account_creds *c;
	struct sasl *s;
	struct t_step r;
	int v_ok, h;
	static const char *mech[] = { "SCRAM-SHA-1", "SCRAM-SHA-256" };
	enum scram_hash hh[] = { SCRAM_SHA1, SCRAM_SHA256 };

	c = db_add(&db, "juliet");
	T_EQ_INT(account_creds_make("r0m\xc3\xa9o, oh", 64, c), 0);
	c = db_add(&db, "us,er=x");
	T_EQ_INT(account_creds_make("pw", 64, c), 0);

	for (h = 0; h < 2; h++) {
		/* random server nonce: 32 base64 characters after ours */
		s = sasl_new(mech[h], t_lookup, &db);
		T_EQ_INT(client_login(s, hh[h], "n,,", "n=juliet,r=abc", NULL,
		    "r0m\xc3\xa9o, oh", &v_ok, &r), SASL_SUCCESS);
		T_EXPECT(v_ok, "%s: v= is the server signature", mech[h]);
		T_EQ_STR(sasl_username(s), "juliet");
		sasl_free(s);

		s = sasl_new(mech[h], t_lookup, &db);
		steps(s, "n,,n=juliet,r=abc", &r);
		T_EXPECT(strncmp(r.out, "r=abc", 5) == 0 && r.out[37] == ',' &&
		    strncmp(r.out + 37, ",s=", 3) == 0,
		    "%s: 32-character server nonce: %s", mech[h], r.out);
		sasl_free(s);

		/* wrong password through a real client */
		s = sasl_new(mech[h], t_lookup, &db);
		client_login(s, hh[h], "n,,", "n=juliet,r=abc", NULL,
		    "r0m\xc3\xa9o, OH", &v_ok, &r);
		expect_fail(s, &r, "not-authorized", "bad proof", "client pw");
		sasl_free(s);

		/* "y": client could bind, thinks we cannot: fine for us */
		s = sasl_new(mech[h], t_lookup, &db);
		T_EQ_INT(client_login(s, hh[h], "y,,", "n=juliet,r=abc", NULL,
		    "r0m\xc3\xa9o, oh", &v_ok, &r), SASL_SUCCESS);
		T_EXPECT(v_ok, "y flag: v=");
		sasl_free(s);

		/* authzid, escaped */
		s = sasl_new(mech[h], t_lookup, &db);
		T_EQ_INT(client_login(s, hh[h], "n,a=juliet@example.com,",
		    "n=juliet,r=abc", NULL, "r0m\xc3\xa9o, oh", &v_ok, &r),
		    SASL_SUCCESS);
		T_EQ_STR(sasl_authzid(s), "juliet@example.com");
		sasl_free(s);
		s = sasl_new(mech[h], t_lookup, &db);
		T_EQ_INT(client_login(s, hh[h], "n,a=a=2Cb=3Dc,",
		    "n=juliet,r=abc", NULL, "r0m\xc3\xa9o, oh", &v_ok, &r),
		    SASL_SUCCESS);
		T_EQ_STR(sasl_authzid(s), "a,b=c");
		sasl_free(s);

		/* escaped username; case folded before the lookup */
		s = sasl_new(mech[h], t_lookup, &db);
		T_EQ_INT(client_login(s, hh[h], "n,,", "n=US=2CER=3DX,r=abc",
		    NULL, "pw", &v_ok, &r), SASL_SUCCESS);
		T_EQ_STR(db.last, "us,er=x");
		T_EQ_STR(sasl_username(s), "us,er=x");
		sasl_free(s);
		s = sasl_new(mech[h], t_lookup, &db);
		T_EQ_INT(client_login(s, hh[h], "n,,", "n=JuLiEt,r=abc", NULL,
		    "r0m\xc3\xa9o, oh", &v_ok, &r), SASL_SUCCESS);
		T_EQ_STR(sasl_username(s), "juliet");
		sasl_free(s);

		/* optional extensions are ignored but still signed */
		s = sasl_new(mech[h], t_lookup, &db);
		T_EQ_INT(client_login(s, hh[h], "n,,",
		    "n=juliet,r=abc,x=first,Y=\xc3\xa9=", "z=final",
		    "r0m\xc3\xa9o, oh", &v_ok, &r), SASL_SUCCESS);
		T_EXPECT(v_ok, "extensions: v=");
		sasl_free(s);

		/* the mandatory extension in the final message */
		s = sasl_new(mech[h], t_lookup, &db);
		client_login(s, hh[h], "n,,", "n=juliet,r=abc", "m=must",
		    "r0m\xc3\xa9o, oh", &v_ok, &r);
		expect_fail(s, &r, "malformed-request",
		    "mandatory extension not supported", "m= in final");
		sasl_free(s);
	}

	/* the longest client-first we take: exactly 4096 bytes (its nonce
	 * is then too long for any client-final to repeat) */
	{
		static char big[4200];
		size_t pre = strlen("n,,n=juliet,r=");

		memcpy(big, "n,,n=juliet,r=", pre);
		memset(big + pre, 'x', 4096 - pre);
		big[4096] = '\0';
		s = sasl_new("SCRAM-SHA-256", t_lookup, &db);
		T_EQ_INT(client_login(s, SCRAM_SHA256, "n,,", big + 3, NULL,
		    "r0m\xc3\xa9o, oh", &v_ok, &r), SASL_FAILURE);
		T_EQ_STR(sasl_log_reason(s), "payload too large");
		sasl_free(s);
		s = sasl_new("SCRAM-SHA-256", t_lookup, &db);
		T_EQ_INT(steps(s, big, &r), SASL_CONTINUE);
		/* "r=" nonce ",s=" 16-byte salt ",i=64" */
		T_EQ_INT(r.outlen, 2 + 4096 - pre + 32 + 3 + 24 + 5);
		sasl_free(s);
		/* a 2000-byte nonce goes all the way */
		big[3 + 11 + 2000] = '\0';
		s = sasl_new("SCRAM-SHA-256", t_lookup, &db);
		T_EQ_INT(client_login(s, SCRAM_SHA256, "n,,", big + 3, NULL,
		    "r0m\xc3\xa9o, oh", &v_ok, &r), SASL_SUCCESS);
		T_EXPECT(v_ok, "long nonce: v=");
		sasl_free(s);
		memset(big + pre, 'x', 4097 - pre);
		first_fails(&db, "SCRAM-SHA-256", big, 4097,
		    "malformed-request", "payload too large");
	}
}

/* Build a client-final by hand from a server-first (nonce), with every
 * part replaceable. */
static void
final_case(struct t_db *db, const char *mech, const char *first,
    const char *fmt_final, const char *cond, const char *reason)
{
	struct sasl *s = sasl_new(mech, t_lookup, db);
	struct t_step r;
	char nonce[256], final[1024];
	unsigned char salt[64];
	size_t saltlen;
	unsigned iter;

	sasl_test_set_nonce("SRV");
	T_EQ_INT(steps(s, first, &r), SASL_CONTINUE);
	T_EQ_INT(parse_server_first(r.out, nonce, sizeof nonce, salt,
	    &saltlen, &iter), 0);
	snprintf(final, sizeof final, fmt_final, nonce);
	steps(s, final, &r);
	expect_fail(s, &r, cond, reason, final);
	sasl_free(s);
	sasl_test_set_nonce(NULL);
}

static void
test_scram_hostile(void)
{
	struct t_db db = { .n = 0 };
	struct sasl *s, *s2;
	struct t_step r, r2;
	static char sf1[sizeof r.out];

	rfc_creds(db_add(&db, "user"), "pencil");
	/* an account with only a SHA-256 key */
	rfc_creds(db_add(&db, "only256"), "pencil");
	db.creds[1].key[SCRAM_SHA1].present = 0;
	/* an account whose SHA-1 key is unusable (iteration count 0) */
	rfc_creds(db_add(&db, "broken"), "pencil");
	db.creds[2].key[SCRAM_SHA1].iter = 0;

	/* unknown user: looks like any account, then fails */
	sasl_test_set_nonce("SRV");
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	T_EQ_INT(steps(s, "n,,n=nobody,r=abc", &r), SASL_CONTINUE);
	T_EQ_STR(db.last, "nobody");
	T_EXPECT(strncmp(r.out, "r=abcSRV,s=", 11) == 0 &&
	    strlen(r.out) == 11 + 24 + 7 &&
	    strcmp(r.out + 35, ",i=4096") == 0,
	    "fake server-first has the usual shape: %s", r.out);
	snprintf(sf1, sizeof sf1, "%s", r.out);
	steps(s, "c=biws,r=abcSRV,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &r);
	expect_fail(s, &r, "not-authorized", "unknown user", "unknown user");
	sasl_free(s);
	/* asking again gives the same salt; another name another salt;
	 * the other hash another salt */
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	steps(s, "n,,n=nobody,r=abc", &r);
	T_EQ_STR(r.out, sf1);
	sasl_free(s);
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	s2 = sasl_new("SCRAM-SHA-256", t_lookup, &db);
	steps(s, "n,,n=nobody2,r=abc", &r);
	steps(s2, "n,,n=nobody,r=abc", &r2);
	T_EXPECT(strcmp(r.out, sf1) != 0, "salt depends on the name");
	T_EXPECT(strcmp(r2.out, sf1) != 0, "salt depends on the hash");
	T_EXPECT(strlen(r2.out) == strlen(sf1), "same shape for SHA-256");
	sasl_free(s);
	sasl_free(s2);
	/* no lookup function at all: everybody is unknown */
	s = sasl_new("SCRAM-SHA-256", NULL, NULL);
	T_EQ_INT(steps(s, "n,,n=user,r=abc", &r), SASL_CONTINUE);
	steps(s, "c=biws,r=abcSRV,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &r);
	expect_fail(s, &r, "not-authorized", "unknown user", "no lookup");
	sasl_free(s);
	/* an account without this hash's key is handled the same way */
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	T_EQ_INT(steps(s, "n,,n=only256,r=abc", &r), SASL_CONTINUE);
	T_EXPECT(strstr(r.out, ",i=4096") != NULL, "fake iteration count");
	steps(s, "c=biws,r=abcSRV,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &r);
	expect_fail(s, &r, "not-authorized", "no key for this hash",
	    "missing hash");
	sasl_free(s);
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	T_EQ_INT(steps(s, "n,,n=broken,r=abc", &r), SASL_CONTINUE);
	steps(s, "c=biws,r=abcSRV,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &r);
	expect_fail(s, &r, "not-authorized", "no key for this hash",
	    "unusable key");
	sasl_free(s);
	sasl_test_set_nonce(NULL);

	/* ---- client-final, one field broken at a time ---- */
#define F1	"n,,n=user,r=abc"
#define P20	"p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define P32	"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define FC(fmt, cond, why) \
	final_case(&db, "SCRAM-SHA-1", F1, fmt, cond, why)
#define NA	"not-authorized"
#define MR	"malformed-request"
	FC("c=eSws,r=%s," P20, NA, "channel binding mismatch");
	FC("c=bix3,r=%s," P20, NA, "channel binding mismatch");
	final_case(&db, "SCRAM-SHA-1", "y,,n=user,r=abc", "c=biws,r=%s," P20,
	    NA, "channel binding mismatch");
	FC("c=bi#s,r=%s," P20, MR, "bad channel-binding encoding");
	FC("c=biw,r=%s," P20, MR, "bad channel-binding encoding");
	FC("c=,r=%s," P20, MR, "bad channel-binding encoding");
	FC("c=biws,r=%sX," P20, NA, "nonce mismatch");
	FC("c=biws,r=abc," P20 "%.0s", NA, "nonce mismatch");
	FC("c=biws,r=abcSRX," P20 "%.0s", NA, "nonce mismatch");
	FC("c=biws,r=," P20 "%.0s", NA, "nonce mismatch");
	FC("c=biws,r=%s,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", MR,
	    "bad proof encoding");
	FC("c=biws,r=%s,p=v0X8v3Bz2T0CJGbJQyF0X+HI4T!=", MR,
	    "bad proof encoding");
	FC("c=biws,r=%s,p=v0X8v3Bz2T0C JGbJQyF0X+HI4Ts=", MR,
	    "bad proof encoding");
	FC("c=biws,r=%s,p=", MR, "bad proof encoding");
	FC("c=biws,r=%s,p=v0X8v3Bz2T0CJGbJQyF0X+HI", MR, "wrong proof length");
	FC("c=biws,r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAA", MR,
	    "wrong proof length");
	FC("c=biws,r=%s," P32, MR, "wrong proof length");
	final_case(&db, "SCRAM-SHA-256", F1, "c=biws,r=%s," P20, MR,
	    "wrong proof length");
	/* syntactically fine but wrong proofs */
	FC("c=biws,r=%s," P20, NA, "bad proof");
	FC("c=biws,r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", NA, "bad proof");
	final_case(&db, "SCRAM-SHA-256", F1, "c=biws,r=%s," P32, NA,
	    "bad proof");
	/* structure */
	FC("r=%s,c=biws," P20, MR, "malformed client-final");
	FC("c=biws,r=%s", MR, "malformed client-final");
	FC("c=biws,r=%s,", MR, "malformed client-final");
	FC("c=biws,r=%s," P20 ",x=1", MR, "malformed client-final");
	FC("c=biws,r=%s," P20 "," P20, MR, "malformed client-final");
	FC("c=biws,r=%s,r=x," P20, MR, "malformed client-final");
	FC("c=biws,r=%s,c=biws," P20, MR, "malformed client-final");
	FC("c=biws,r=%s,," P20, MR, "malformed client-final");
	FC("c=biws,r=%s,1=x," P20, MR, "malformed client-final");
	FC("c=biws,r=%s,x=," P20, MR, "malformed client-final");
	FC("c=biws,r=%s,xy=1," P20, MR, "malformed client-final");
	FC("c=biws,r=%s,m=x," P20, MR, "mandatory extension not supported");
	FC("%.0s", MR, "malformed client-final");
	FC("c=biws%.0s", MR, "malformed client-final");
	FC("C=biws,r=%s," P20, MR, "malformed client-final");
	FC("c=biws,r=%s,P=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", MR,
	    "malformed client-final");
	FC("c=biws,r=%s," P20 "\xff", MR, "invalid UTF-8");
#undef FC
#undef NA
#undef MR
#undef P20
#undef P32
#undef F1

	/* an empty client-final after server-first */
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	steps(s, "n,,n=user,r=abc", &r);
	step(s, "", 0, &r);
	expect_fail(s, &r, "malformed-request", "malformed client-final",
	    "empty client-final");
	sasl_free(s);
	/* a NUL in the client-final */
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	steps(s, "n,,n=user,r=abc", &r);
	step(s, "c=biws\0,r=x", 11, &r);
	expect_fail(s, &r, "malformed-request", "embedded NUL", "NUL final");
	sasl_free(s);

	/* ---- client-first ---- */
#define FF(in, cond, why) first_fails(&db, "SCRAM-SHA-1", in, sizeof in - 1, \
	    cond, why)
	FF("p=tls-unique,,n=user,r=abc", "malformed-request",
	    "channel binding requested but not offered");
	FF("p=tls-exporter,a=user,n=user,r=abc", "malformed-request",
	    "channel binding requested but not offered");
	FF("n,,m=ext,n=user,r=abc", "malformed-request",
	    "mandatory extension not supported");
	FF("n,,n=user,r=abc,m=ext", "malformed-request",
	    "mandatory extension not supported");
	FF("n,,n=user,r=abc,x=1,m=ext", "malformed-request",
	    "mandatory extension not supported");
	FF("x,,n=user,r=abc", "malformed-request", "malformed client-first");
	FF("N,,n=user,r=abc", "malformed-request", "malformed client-first");
	FF("p,,n=user,r=abc", "malformed-request", "malformed client-first");
	FF("n,n=user,r=abc", "malformed-request", "malformed client-first");
	FF("n", "malformed-request", "malformed client-first");
	FF("n,", "malformed-request", "malformed client-first");
	FF("n,,", "malformed-request", "malformed client-first");
	FF("nn,,n=user,r=abc", "malformed-request", "malformed client-first");
	FF("n,a=,n=user,r=abc", "malformed-request", "bad authzid encoding");
	FF("n,a=x=2c,n=user,r=abc", "malformed-request",
	    "bad authzid encoding");
	FF("n,a=user", "malformed-request", "malformed client-first");
	FF("n,b=user,n=user,r=abc", "malformed-request",
	    "malformed client-first");
	FF("n,,r=abc,n=user", "malformed-request", "malformed client-first");
	FF("n,,n=user", "malformed-request", "malformed client-first");
	FF("n,,n=user,", "malformed-request", "malformed client-first");
	FF("n,,n=user,s=abc", "malformed-request", "malformed client-first");
	FF("n,,n=user,r=", "malformed-request", "bad client nonce");
	FF("n,,n=user,r=,x=1", "malformed-request", "bad client nonce");
	FF("n,,n=user,r=ab c", "malformed-request", "bad client nonce");
	FF("n,,n=user,r=ab\x7f", "malformed-request", "bad client nonce");
	FF("n,,n=user,r=ab\xc3\xa9", "malformed-request", "bad client nonce");
	FF("n,,n=user,r=abc,", "malformed-request", "malformed client-first");
	FF("n,,n=user,r=abc,x", "malformed-request", "malformed client-first");
	FF("n,,n=user,r=abc,x=", "malformed-request", "malformed client-first");
	FF("n,,n=user,r=abc,1=2", "malformed-request",
	    "malformed client-first");
	FF("n,,n=user,r=abc,,x=1", "malformed-request",
	    "malformed client-first");
	FF("n,,n=,r=abc", "malformed-request", "bad username encoding");
	FF("n,,n=us=2cer,r=abc", "malformed-request", "bad username encoding");
	FF("n,,n=us=41er,r=abc", "malformed-request", "bad username encoding");
	FF("n,,n=user=,r=abc", "malformed-request", "bad username encoding");
	FF("n,,n=user=3,r=abc", "malformed-request", "bad username encoding");
	FF("n,,n=us\xffr,r=abc", "malformed-request", "invalid UTF-8");
	FF("n,,n=us\xc0\xafr,r=abc", "malformed-request", "invalid UTF-8");
	FF("n,,n=us\0er,r=abc", "malformed-request", "embedded NUL");
	FF("n,,n=user,r=abc\0", "malformed-request", "embedded NUL");
	FF("n,,n=us er,r=abc", "not-authorized",
	    "username is not a valid localpart");
	FF("n,,n=user@example.com,r=abc", "not-authorized",
	    "username is not a valid localpart");
	FF("n,,n=a/b,r=abc", "not-authorized",
	    "username is not a valid localpart");
	FF("n,,n=a:b,r=abc", "not-authorized",
	    "username is not a valid localpart");
	FF("n,,n=a<b,r=abc", "not-authorized",
	    "username is not a valid localpart");
	FF("n,,n=a\"b,r=abc", "not-authorized",
	    "username is not a valid localpart");
	FF("n,,n=a\tb,r=abc", "not-authorized",
	    "username is not a valid localpart");
	FF("n,,n=a\xc2\x85" "b,r=abc", "not-authorized",
	    "username is not a valid localpart");
#undef FF
	{
		/* a 1024-byte username is too long for a localpart */
		static char big[1100];

		memcpy(big, "n,,n=", 5);
		memset(big + 5, 'a', 1024);
		memcpy(big + 5 + 1024, ",r=abc", 7);
		first_fails(&db, "SCRAM-SHA-1", big, strlen(big),
		    "not-authorized", "username is not a valid localpart");
		/* 1023 bytes is fine (and unknown) */
		memmove(big + 5 + 1023, big + 5 + 1024, 7);
		s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
		T_EQ_INT(steps(s, big, &r), SASL_CONTINUE);
		T_EQ_INT(strlen(db.last), 127);	/* the test db cuts it */
		sasl_free(s);
	}

	/* no initial response: one empty challenge, then client-first */
	sasl_test_set_nonce("3rfcNHYJY1ZVvWVs7j");
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	T_EQ_INT(step(s, NULL, 0, &r), SASL_CONTINUE);
	T_EQ_INT(r.outlen, 0);
	T_EQ_STR(r.out, "");
	T_EQ_INT(steps(s, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &r),
	    SASL_CONTINUE);
	T_EQ_INT(steps(s, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &r), SASL_SUCCESS);
	T_EQ_STR(r.out, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
	sasl_free(s);
	sasl_test_set_nonce(NULL);
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	T_EQ_INT(step(s, "", 0, &r), SASL_CONTINUE);
	step(s, "", 0, &r);
	expect_fail(s, &r, "malformed-request", "malformed client-first",
	    "two empty responses");
	sasl_free(s);
	/* a NULL payload with a length is refused, not read */
	s = sasl_new("SCRAM-SHA-1", t_lookup, &db);
	step(s, NULL, 5, &r);
	expect_fail(s, &r, "malformed-request", "no payload", "NULL payload");
	sasl_free(s);
}

/* ---- PLAIN ---- */

static void
plain_case(struct t_db *db, const char *in, size_t len, enum sasl_status want,
    const char *cond, const char *reason, const char *user,
    const char *authzid)
{
	struct sasl *s = sasl_new("PLAIN", t_lookup, db);
	struct t_step r;

	T_EXPECT(s != NULL, "sasl_new PLAIN");
	step(s, in, len, &r);
	if (want == SASL_FAILURE) {
		expect_fail(s, &r, cond, reason, "PLAIN");
	} else {
		T_EXPECT(r.st == SASL_SUCCESS, "PLAIN: status %d, want success "
		    "(%s)", (int)r.st, sasl_log_reason(s));
		T_EQ_INT(r.outlen, 0);
		T_EXPECT(sasl_username(s) != NULL &&
		    strcmp(sasl_username(s), user) == 0, "PLAIN user %s",
		    sasl_username(s) ? sasl_username(s) : "(null)");
		if (authzid == NULL)
			T_EXPECT(sasl_authzid(s) == NULL, "PLAIN no authzid");
		else
			T_EXPECT(sasl_authzid(s) != NULL &&
			    strcmp(sasl_authzid(s), authzid) == 0,
			    "PLAIN authzid");
		T_EXPECT(sasl_condition(s) == NULL, "PLAIN no condition");
		/* and nothing after it */
		T_EQ_INT(step(s, in, len, &r), SASL_FAILURE);
		T_EXPECT(sasl_username(s) == NULL, "no user after extra step");
	}
	/* the reason never repeats the password */
	T_EXPECT(strstr(sasl_log_reason(s), "pencil") == NULL, "no password");
	sasl_free(s);
}

#define PC(lit, want, cond, reason, user, authzid) \
	plain_case(&db, lit, sizeof lit - 1, want, cond, reason, user, authzid)

static void
test_plain(void)
{
	struct t_db db = { .n = 0 };
	struct account_creds *c;
	struct sasl *s;
	struct t_step r;
	static char big[4200];

	rfc_creds(db_add(&db, "user"), "pencil");
	/* SHA-1 only */
	c = db_add(&db, "old");
	rfc_creds(c, "pencil");
	c->key[SCRAM_SHA256].present = 0;
	/* the two keys from different passwords: SHA-256 is the one used */
	c = db_add(&db, "mixed");
	rfc_creds(c, "pencil");
	{
		struct account_creds o;

		rfc_creds(&o, "other");
		c->key[SCRAM_SHA256] = o.key[SCRAM_SHA256];
	}
	/* SHA-256 key unusable: SHA-1 is used */
	c = db_add(&db, "half");
	rfc_creds(c, "pencil");
	c->key[SCRAM_SHA256].salt_len = 0;
	/* nothing usable */
	c = db_add(&db, "none");
	rfc_creds(c, "pencil");
	c->key[SCRAM_SHA1].iter = 0;
	c->key[SCRAM_SHA256].iter = 2000000;

	PC("\0user\0pencil", SASL_SUCCESS, NULL, NULL, "user", NULL);
	T_EQ_STR(db.last, "user");
	PC("\0USER\0pencil", SASL_SUCCESS, NULL, NULL, "user", NULL);
	T_EQ_STR(db.last, "user");
	PC("user@example.com\0user\0pencil", SASL_SUCCESS, NULL, NULL, "user",
	    "user@example.com");
	PC("\0old\0pencil", SASL_SUCCESS, NULL, NULL, "old", NULL);
	PC("\0mixed\0other", SASL_SUCCESS, NULL, NULL, "mixed", NULL);
	PC("\0mixed\0pencil", SASL_FAILURE, "not-authorized", "bad password",
	    NULL, NULL);
	PC("\0half\0pencil", SASL_SUCCESS, NULL, NULL, "half", NULL);
	PC("\0none\0pencil", SASL_FAILURE, "not-authorized", "no usable key",
	    NULL, NULL);
	PC("\0user\0Pencil", SASL_FAILURE, "not-authorized", "bad password",
	    NULL, NULL);
	PC("\0user\0pencil ", SASL_FAILURE, "not-authorized", "bad password",
	    NULL, NULL);
	PC("\0user\0pencilpencil", SASL_FAILURE, "not-authorized",
	    "bad password", NULL, NULL);
	PC("\0user\0", SASL_FAILURE, "not-authorized", "empty password",
	    NULL, NULL);
	PC("\0nobody\0pencil", SASL_FAILURE, "not-authorized", "unknown user",
	    NULL, NULL);
	T_EQ_STR(db.last, "nobody");
	PC("\0\0pencil", SASL_FAILURE, "malformed-request", "empty authcid",
	    NULL, NULL);
	PC("userpencil", SASL_FAILURE, "malformed-request",
	    "malformed PLAIN message", NULL, NULL);
	PC("\0userpencil", SASL_FAILURE, "malformed-request",
	    "malformed PLAIN message", NULL, NULL);
	PC("user\0pencil", SASL_FAILURE, "malformed-request",
	    "malformed PLAIN message", NULL, NULL);
	PC("\0user\0pen\0cil", SASL_FAILURE, "malformed-request",
	    "malformed PLAIN message", NULL, NULL);
	PC("\0user\0pencil\0", SASL_FAILURE, "malformed-request",
	    "malformed PLAIN message", NULL, NULL);
	PC("\0user\0\xff", SASL_FAILURE, "malformed-request", "invalid UTF-8",
	    NULL, NULL);
	PC("\0us\xc3\0pencil", SASL_FAILURE, "malformed-request",
	    "invalid UTF-8", NULL, NULL);
	PC("\xed\xa0\x80\0user\0pencil", SASL_FAILURE, "malformed-request",
	    "invalid UTF-8", NULL, NULL);
	PC("\0us er\0pencil", SASL_FAILURE, "not-authorized",
	    "username is not a valid localpart", NULL, NULL);
	PC("\0user@example.com\0pencil", SASL_FAILURE, "not-authorized",
	    "username is not a valid localpart", NULL, NULL);
	/* the authcid is not a saslname: "=2C" stays as it is */
	PC("\0us=2Cer\0pencil", SASL_FAILURE, "not-authorized",
	    "unknown user", NULL, NULL);
	T_EQ_STR(db.last, "us=2cer");

	/* no initial response */
	s = sasl_new("PLAIN", t_lookup, &db);
	T_EQ_INT(step(s, "", 0, &r), SASL_CONTINUE);
	T_EQ_INT(r.outlen, 0);
	T_EQ_INT(step(s, "\0user\0pencil", 12, &r), SASL_SUCCESS);
	T_EQ_STR(sasl_username(s), "user");
	sasl_free(s);
	s = sasl_new("PLAIN", t_lookup, &db);
	T_EQ_INT(step(s, "", 0, &r), SASL_CONTINUE);
	step(s, "", 0, &r);
	expect_fail(s, &r, "malformed-request", "malformed PLAIN message",
	    "PLAIN twice empty");
	sasl_free(s);

	/* size: 4096 bytes is read, 4097 is not */
	memcpy(big, "\0user\0", 6);
	memset(big + 6, 'p', 4090);
	plain_case(&db, big, 4096, SASL_FAILURE, "not-authorized",
	    "bad password", NULL, NULL);
	memset(big + 6, 'p', 4091);
	plain_case(&db, big, 4097, SASL_FAILURE, "malformed-request",
	    "payload too large", NULL, NULL);
}
#undef PC

static void
test_api(void)
{
	struct sasl *s;
	size_t i;

	T_EQ_STR(sasl_mechanisms[0], "SCRAM-SHA-256");
	T_EQ_STR(sasl_mechanisms[1], "SCRAM-SHA-1");
	T_EQ_STR(sasl_mechanisms[2], "PLAIN");
	T_EXPECT(sasl_mechanisms[3] == NULL, "mechanism list ends");
	for (i = 0; sasl_mechanisms[i] != NULL; i++) {
		s = sasl_new(sasl_mechanisms[i], NULL, NULL);
		T_EXPECT(s != NULL, "sasl_new(%s)", sasl_mechanisms[i]);
		T_EXPECT(sasl_condition(s) == NULL, "fresh: no condition");
		T_EXPECT(sasl_username(s) == NULL, "fresh: no username");
		T_EXPECT(sasl_authzid(s) == NULL, "fresh: no authzid");
		T_EXPECT(sasl_log_reason(s) != NULL, "fresh: a reason");
		sasl_free(s);
	}
	T_EXPECT(sasl_new("SCRAM-SHA-1-PLUS", NULL, NULL) == NULL, "-PLUS");
	T_EXPECT(sasl_new("SCRAM-SHA-256-PLUS", NULL, NULL) == NULL, "-PLUS");
	T_EXPECT(sasl_new("scram-sha-1", NULL, NULL) == NULL, "lower case");
	T_EXPECT(sasl_new("DIGEST-MD5", NULL, NULL) == NULL, "DIGEST-MD5");
	T_EXPECT(sasl_new("EXTERNAL", NULL, NULL) == NULL, "EXTERNAL");
	T_EXPECT(sasl_new("", NULL, NULL) == NULL, "empty");
	T_EXPECT(sasl_new(NULL, NULL, NULL) == NULL, "NULL");
	sasl_free(NULL);
}

void
test_sasl(void)
{
	test_api();
	test_pbkdf2();
	test_derive();
	test_account();
	test_rfc_transcripts();
	test_scram_client();
	test_scram_hostile();
	test_plain();
}
