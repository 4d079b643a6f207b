/*
 * sasl.h - server side of SASL (RFC 4422) for XMPP: SCRAM-SHA-1 and
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) against stored keys, and PLAIN
 * (RFC 4616) checked against the same stored keys.  No password is ever
 * stored.  Also the account credential record kept in the `account` file.
 */
#ifndef XMPPD_SASL_H
#define XMPPD_SASL_H

#include <stddef.h>

enum scram_hash { SCRAM_SHA1, SCRAM_SHA256, SCRAM_NHASH };
#define SCRAM_MAX_HASH	32
#define SCRAM_SALT_LEN	16
#define SCRAM_DEFAULT_ITER 4096

struct scram_key {
	int		present;
	unsigned	iter;
	unsigned char	salt[64];
	size_t		salt_len;
	unsigned char	stored_key[SCRAM_MAX_HASH];
	unsigned char	server_key[SCRAM_MAX_HASH];
};

/* What the `account` file holds: one scram_key per hash. */
struct account_creds {
	struct scram_key key[SCRAM_NHASH];
};

size_t	 scram_hash_len(enum scram_hash);
/* PBKDF2 + HMAC of RFC 5802: fill k from a password (random salt if
 * salt == NULL).  0 / -1. */
int	 scram_derive(enum scram_hash, const char *password, size_t pwlen,
	    unsigned iter, const unsigned char *salt, size_t salt_len,
	    struct scram_key *k);
/* Both hashes from one password, fresh salts. */
int	 account_creds_make(const char *password, unsigned iter,
	    struct account_creds *);
/* Does password match k?  Constant-time in the comparison.  1 / 0. */
int	 scram_check_password(enum scram_hash, const struct scram_key *k,
	    const char *password, size_t pwlen);

/*
 * The account file text, version 1:
 *   xmppd-account 1
 *   scram-sha-1 <iter> <salt b64> <StoredKey b64> <ServerKey b64>
 *   scram-sha-256 <iter> <salt b64> <StoredKey b64> <ServerKey b64>
 * format returns the length written (< outlen) or -1; parse returns 0, or
 * -1 with a reason (also for a newer version than we know).
 */
int	 account_creds_format(const struct account_creds *, char *out, size_t outlen);
int	 account_creds_parse(const char *text, size_t len, struct account_creds *,
	    char *err, size_t errlen);

/* ---- the SASL exchange ---- */

/* Looks up an account's credentials by the authcid (a localpart, already
 * SASLprep'd by the caller's rules).  0 found, -1 no such account. */
typedef int (*sasl_lookup_fn)(void *ctx, const char *username,
	    struct account_creds *out);

enum sasl_status {
	SASL_CONTINUE,	/* send a <challenge/> with out */
	SASL_SUCCESS,	/* send <success/> with out (may be empty) */
	SASL_FAILURE	/* send <failure/> with condition sasl_condition() */
};

struct sasl;

/* Mechanism names this code knows, in order of preference. */
extern const char *const sasl_mechanisms[];	/* NULL-terminated */

/* NULL if mech is not one we know. */
struct sasl *sasl_new(const char *mech, sasl_lookup_fn, void *ctx);
void	 sasl_free(struct sasl *);
/*
 * One step: in is the decoded payload from <auth/> or <response/>
 * (may be empty).  On SASL_CONTINUE/SASL_SUCCESS *out / *outlen is the
 * raw payload to base64 and send (owned by the sasl object, valid until the
 * next call).  After SASL_SUCCESS sasl_username() is the authenticated
 * localpart.  An empty first payload (no initial response) gets one empty
 * challenge; payloads over 4096 bytes fail.  in is never kept: the caller
 * wipes it (a PLAIN payload holds the password).
 */
enum sasl_status sasl_step(struct sasl *, const char *in, size_t inlen,
	    const char **out, size_t *outlen);
/* RFC 6120 section 6.5 condition: "not-authorized", "malformed-request",
 * "invalid-authzid", "invalid-mechanism", "encryption-required",
 * "credentials-expired", "account-disabled", "temporary-auth-failure".
 * NULL unless the last step returned SASL_FAILURE. */
const char *sasl_condition(const struct sasl *);
const char *sasl_username(const struct sasl *);	/* NULL until SUCCESS */
const char *sasl_authzid(const struct sasl *);	/* NULL if none given */
/* Human-readable reason for logs (never contains secrets). */
const char *sasl_log_reason(const struct sasl *);

#ifdef XMPPD_TEST
/* Tests only: the server nonce part becomes s (NULL: random again). */
void	 sasl_test_set_nonce(const char *);
#endif

#endif
