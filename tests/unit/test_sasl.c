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
	unsigned char ck[SCRAM_MAX_HASH], sk[SCRAM_MAX_HASH], vk[SCRAM_MAX_HASH];
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
	    (size_t)(s - sf - 2) >= noncelen || (size_t)(i - s - 3) >= sizeof b64)
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
	static char first[4200], nonce[4200], cfwp[4400], am[12800];
	static char final[4600];
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
		const char	*hex;	/* first block of the derived key */
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
		  "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc" },
		{ SCRAM_SHA256, "Password", 8, "NaCl", 4, 80000,
		  "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56" },
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
		T_EQ_INT(scram_derive(SCRAM_SHA1, "pencil", 6, 4096, rs, 12, &k),
		    0);
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
	strcpy(err, "unset");
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
	    "s3cr3t p\xc3\xa4ss", 11), 1);
	T_EQ_INT(scram_check_password(SCRAM_SHA256, &c2.key[SCRAM_SHA256],
	    "s3cr3t p\xc3\xa4ss", 11), 1);
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
	parse_fails_s("\nxmppd-account 1\n", "line 1: not an xmppd account file");
	parse_fails_s("xmppd-account 1\r\n", "line 1: bad account file version");

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
