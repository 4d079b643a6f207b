/*
 * fuzz_sasl.c - libFuzzer target for the server side of SASL.
 *
 * Input: one byte choosing the mechanism (0 SCRAM-SHA-1, 1 SCRAM-SHA-256,
 * 2 PLAIN, 3 a name taken from the input up to the first separator), then
 * the client's messages separated by 0xFF (a byte that valid UTF-8 never
 * holds, so it can not clash with a SCRAM message; PLAIN's NULs stay
 * usable).  Each message goes through sasl_step() until the exchange ends;
 * what is left is fed anyway (it must be refused, not crash).
 *
 * The lookup callback knows one account, "user" with password "pencil",
 * its keys made with a fixed salt and 16 iterations (cheap PLAIN checks),
 * and the server nonce is fixed ("SNONCE"), so seeds can hold a complete,
 * correct SCRAM exchange: tests/fuzz/mkseeds.py writes them.
 *
 * Checked: a success names "user"; a failure has one of the RFC 6120
 * conditions; an outgoing challenge is bounded and, for SCRAM, starts with
 * "r=" (first) or "v=" (final); a success for PLAIN only with the right
 * password in the message; nothing after the end of the exchange is
 * accepted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "sasl.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

#define SEP		0xff
#define FUZZ_USER	"user"
#define FUZZ_PASS	"pencil"
#define FUZZ_SALT	"fuzz-salt-16byte"
#define FUZZ_ITER	16
#define FUZZ_NONCE	"SNONCE"
#define MAX_STEPS	16

static struct account_creds creds;

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static int
lookup(void *ctx, const char *username, struct account_creds *out)
{
	int *calls = ctx;

	(*calls)++;
	check(username != NULL);
	if (strcmp(username, FUZZ_USER) != 0)
		return -1;
	*out = creds;
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	memset(&creds, 0, sizeof creds);
	if (scram_derive(SCRAM_SHA1, FUZZ_PASS, strlen(FUZZ_PASS), FUZZ_ITER,
	    (const unsigned char *)FUZZ_SALT, strlen(FUZZ_SALT),
	    &creds.key[SCRAM_SHA1]) == -1 ||
	    scram_derive(SCRAM_SHA256, FUZZ_PASS, strlen(FUZZ_PASS), FUZZ_ITER,
	    (const unsigned char *)FUZZ_SALT, strlen(FUZZ_SALT),
	    &creds.key[SCRAM_SHA256]) == -1)
		abort();
	sasl_test_set_nonce(FUZZ_NONCE);
	return 0;
}

static int
condition_known(const char *c)
{
	static const char *const known[] = {
		"aborted", "account-disabled", "credentials-expired",
		"encryption-required", "incorrect-encoding", "invalid-authzid",
		"invalid-mechanism", "malformed-request", "mechanism-too-weak",
		"not-authorized", "temporary-auth-failure", NULL
	};

	for (const char *const *k = known; *k; k++)
		if (strcmp(*k, c) == 0)
			return 1;
	return 0;
}

/*
 * Does the PLAIN message carry the right password for "user"?  The
 * authcid is prepared like a localpart (so "USER" is "user"); the password
 * is compared as it is.
 */
static int
plain_is_right(const uint8_t *m, size_t n)
{
	const uint8_t *a, *b;
	char user[JID_PART_MAX + 1];
	size_t ulen;

	if ((a = memchr(m, '\0', n)) == NULL)
		return 0;
	a++;
	if ((b = memchr(a, '\0', n - (size_t)(a - m))) == NULL)
		return 0;
	ulen = (size_t)(b - a);
	b++;
	if (ulen >= sizeof user)
		return 0;
	memcpy(user, a, ulen);
	user[ulen] = '\0';
	return jid_prep_local(user) == 0 && strcmp(user, FUZZ_USER) == 0 &&
	    n - (size_t)(b - m) == strlen(FUZZ_PASS) &&
	    memcmp(b, FUZZ_PASS, strlen(FUZZ_PASS)) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static const char *const mechs[] = { "SCRAM-SHA-1", "SCRAM-SHA-256",
	    "PLAIN" };
	const uint8_t *p, *end, *sep;
	char name[64];
	const char *mech, *out;
	size_t outlen;
	struct sasl *s;
	enum sasl_status st = SASL_CONTINUE;
	int calls = 0, steps = 0, finished = 0, plain = 0, scram = 0;

	if (n < 1 || n > 16384)
		return 0;
	p = d + 1;
	end = d + n;
	switch (d[0] & 3) {
	case 3:
		sep = memchr(p, SEP, (size_t)(end - p));
		if (sep == NULL || (size_t)(sep - p) >= sizeof name)
			return 0;
		memcpy(name, p, (size_t)(sep - p));
		name[sep - p] = '\0';
		mech = name;
		p = sep + 1;
		break;
	default:
		mech = mechs[d[0] & 3];
	}
	s = sasl_new(mech, lookup, &calls);
	if (s == NULL) {
		/* Only the names we know are known. */
		for (const char *const *m = sasl_mechanisms; *m; m++)
			check(strcmp(*m, mech) != 0);
		return 0;
	}
	plain = strcmp(mech, "PLAIN") == 0;
	scram = strncmp(mech, "SCRAM-", 6) == 0;
	check(sasl_username(s) == NULL);

	while (p <= end && steps < MAX_STEPS) {
		size_t len;
		char *msg;

		sep = memchr(p, SEP, (size_t)(end - p));
		len = sep != NULL ? (size_t)(sep - p) : (size_t)(end - p);
		/* A private copy: the library must not read past it. */
		msg = xmalloc(len + 1);
		memcpy(msg, p, len);
		out = NULL;
		outlen = (size_t)-1;
		st = sasl_step(s, len ? msg : NULL, len, &out, &outlen);
		steps++;
		if (finished) {
			/* Anything after the end is refused. */
			check(st == SASL_FAILURE);
		} else switch (st) {
		case SASL_CONTINUE:
			check(out != NULL && outlen <= 8192);
			check(sasl_condition(s) == NULL);
			if (scram && outlen > 0)
				check(outlen >= 2 && memcmp(out, "r=", 2) == 0);
			break;
		case SASL_SUCCESS:
			check(out != NULL && outlen <= 8192);
			check(sasl_username(s) != NULL);
			check(strcmp(sasl_username(s), FUZZ_USER) == 0);
			check(calls > 0);
			if (plain)
				check(plain_is_right((const uint8_t *)msg, len));
			if (scram)
				check(outlen >= 2 && memcmp(out, "v=", 2) == 0);
			finished = 1;
			break;
		case SASL_FAILURE:
			check(sasl_condition(s) != NULL);
			check(condition_known(sasl_condition(s)));
			check(sasl_log_reason(s) != NULL);
			finished = 1;
			break;
		default:
			check(0);
		}
		free(msg);
		if (sep == NULL)
			break;
		p = sep + 1;
	}
	if (st != SASL_SUCCESS && !finished)
		check(sasl_username(s) == NULL);
	sasl_free(s);
	return 0;
}
