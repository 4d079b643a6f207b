/*
 * fuzz_jid.c - libFuzzer target for JID parsing and file-name escaping.
 *
 * The whole input is parsed as a JID with jid_parse_n().  An accepted JID
 * must be stable: its text form parses again to the same parts, formats to
 * the same text, and jid_normalize() agrees.  A JID with a NUL byte is
 * never accepted.  The input (up to its first NUL) is also escaped with
 * store_escape(): the result may only hold safe bytes, never starts with a
 * dot, never names a temp file, and unescapes to the input; and
 * store_unescape() of the input, when it succeeds, escapes back to it.
 *
 *   tests/fuzz.sh builds it; by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *       tests/fuzz/fuzz_jid.c jid.c store.c util.c log.c -o fuzz_jid
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "store.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NAME_MAX_BYTES	255

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static int
same_jid(const struct jid *a, const struct jid *b)
{
	return strcmp(a->local, b->local) == 0 &&
	    strcmp(a->domain, b->domain) == 0 &&
	    strcmp(a->resource, b->resource) == 0;
}

static int
part_ok(const char *p, size_t max)
{
	return strlen(p) <= max && utf8_is_valid(p, strlen(p));
}

static void
jid_checks(const char *s, size_t n)
{
	static struct jid j, k;
	static char full[JID_MAX + 1], again[JID_MAX + 1], bare[JID_MAX + 1];
	static char norm[JID_MAX + 1], part[JID_PART_MAX + 1];
	int rc;

	rc = jid_parse_n(&j, s, n);
	if (memchr(s, '\0', n) != NULL) {
		check(rc == -1);
		return;
	}
	/* The counted and the C-string forms agree. */
	{
		char *z = xmalloc(n + 1);
		memcpy(z, s, n);
		z[n] = '\0';
		check(jid_parse(&k, z) == rc);
		if (rc == 0)
			check(same_jid(&j, &k));
		check((jid_normalize(z, norm, sizeof norm) == 0) == (rc == 0));
		free(z);
	}
	if (rc == -1)
		return;

	check(j.domain[0] != '\0');
	check(part_ok(j.local, JID_PART_MAX));
	check(part_ok(j.domain, JID_PART_MAX));
	check(part_ok(j.resource, JID_PART_MAX));
	/* No forbidden byte survived in the localpart. */
	for (const char *p = j.local; *p; p++)
		check(strchr("\"&'/:<>@ ", *p) == NULL &&
		    (unsigned char)*p >= 0x20 && *p != 0x7f);
	check(strchr(j.domain, '/') == NULL && strchr(j.domain, '@') == NULL);

	check(jid_full(&j, full, sizeof full) == 0);
	check(jid_bare(&j, bare, sizeof bare) == 0);
	check(strcmp(norm, full) == 0);
	check(strncmp(full, bare, strlen(bare)) == 0);
	check(jid_is_bare(&j) == (j.resource[0] == '\0'));

	/* Normal form is a fixed point. */
	check(jid_parse(&k, full) == 0);
	check(same_jid(&j, &k));
	check(jid_full(&k, again, sizeof again) == 0);
	check(strcmp(full, again) == 0);
	check(jid_bare_equal(&j, &k));

	/* Each part is already prepared: prep leaves it alone. */
	if (j.local[0] != '\0') {
		memcpy(part, j.local, strlen(j.local) + 1);
		check(jid_prep_local(part) == 0 && strcmp(part, j.local) == 0);
	}
	memcpy(part, j.domain, strlen(j.domain) + 1);
	check(jid_prep_domain(part) == 0 && strcmp(part, j.domain) == 0);
	if (j.resource[0] != '\0') {
		memcpy(part, j.resource, strlen(j.resource) + 1);
		check(jid_prep_resource(part) == 0 &&
		    strcmp(part, j.resource) == 0);
	}

	/* A short output buffer fails cleanly, never overflows. */
	if (strlen(full) > 1) {
		char *tiny = xmalloc(strlen(full));
		check(jid_full(&j, tiny, strlen(full)) == -1);
		free(tiny);
	}
}

static void
escape_checks(const char *s)
{
	static char esc[1024], back[1024], again[1024];
	size_t len = strlen(s);

	if (store_escape(s, esc, sizeof esc) == 0) {
		size_t elen = strlen(esc);

		check(len > 0);
		check(elen >= len && elen <= NAME_MAX_BYTES);
		check(esc[0] != '.');
		check(strstr(esc, ".tmp.") == NULL);
		for (const char *p = esc; *p; p++)
			check((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			    (*p >= 'A' && *p <= 'F') || strchr("._-%", *p) != NULL);
		check(store_unescape(esc, back, sizeof back) == 0);
		check(strcmp(back, s) == 0);
		/* Too small an output buffer: -1 and an empty string. */
		check(store_escape(s, again, elen) == -1 && again[0] == '\0');
	} else {
		/* Only an empty or a too long name fails (3 bytes per input
		 * byte at worst). */
		check(esc[0] == '\0');
		check(len == 0 || len > NAME_MAX_BYTES / 3);
	}

	if (store_unescape(s, back, sizeof back) == 0) {
		check(store_escape(back, again, sizeof again) == 0);
		check(strcmp(again, s) == 0);
		check(strlen(back) <= len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *z;

	if (n > 4 * JID_MAX)
		return 0;
	jid_checks((const char *)d, n);

	z = xmalloc(n + 1);
	memcpy(z, d, n);
	z[n] = '\0';
	escape_checks(z);
	free(z);
	return 0;
}
