/*
 * test_jid.c - JID parsing and normalisation (RFC 7622), including hostile
 * input: bad UTF-8, embedded NULs, forbidden characters, every length
 * limit at N and N+1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "jid.h"

/* in: a JID; out: its canonical form, or NULL when it must be refused. */
static const struct {
	const char	*in;
	const char	*out;
} cases[] = {
	/* plain forms and case folding */
	{ "example.com", "example.com" },
	{ "Example.COM", "example.com" },
	{ "user@example.com", "user@example.com" },
	{ "USER@Example.Com/Res", "user@example.com/Res" },
	{ "example.com/Res Ource", "example.com/Res Ource" },
	{ "a@b", "a@b" },
	/* trailing dot of the domain */
	{ "example.com.", "example.com" },
	{ "u@example.com./r", "u@example.com/r" },
	{ ".", NULL },
	{ "..", NULL },
	{ "a@..", NULL },
	{ "a@example.com..", NULL },
	{ "a@.example.com", NULL },
	{ "a@b..c", NULL },
	/* splitting: first '/' starts the resource, first '@' before it */
	{ "a/b@c", "a/b@c" },
	{ "a@b/c/d@e", "a@b/c/d@e" },
	{ "a@b/@", "a@b/@" },
	{ "a@b//", "a@b//" },
	{ "a@b@c", NULL },
	{ "@", NULL },
	{ "@example.com", NULL },
	{ "a@", NULL },
	{ "a@/r", NULL },
	{ "a@b/", NULL },
	{ "/", NULL },
	{ "/res", NULL },
	{ "", NULL },
	/* localpart characters */
	{ "..@example.com", "..@example.com" },
	{ "%@example.com", "%@example.com" },
	{ "x!#$%*+=?^`{|}~;,.-_@example.com",
	    "x!#$%*+=?^`{|}~;,.-_@example.com" },
	{ "a\"b@c", NULL },
	{ "a&b@c", NULL },
	{ "a'b@c", NULL },
	{ "a:b@c", NULL },
	{ "a<b@c", NULL },
	{ "a>b@c", NULL },
	{ "a b@c", NULL },
	{ "a\tb@c", NULL },
	{ "a\x7f@c", NULL },
	{ "a\x01@c", NULL },
	{ "a\xc2\x85@c", NULL },		/* U+0085, a C1 control */
	{ "a\xc2\xa0@c", NULL },		/* U+00A0 no-break space */
	{ "a\xe1\x9a\x80@c", NULL },		/* U+1680 */
	{ "a\xe2\x80\x80@c", NULL },		/* U+2000 */
	{ "a\xe2\x80\x8a@c", NULL },		/* U+200A */
	{ "a\xe2\x80\xa8@c", NULL },		/* U+2028 */
	{ "a\xe2\x80\xa9@c", NULL },		/* U+2029 */
	{ "a\xe2\x80\xaf@c", NULL },		/* U+202F */
	{ "a\xe2\x81\x9f@c", NULL },		/* U+205F */
	{ "a\xe3\x80\x80@c", NULL },		/* U+3000 */
	{ "a\xe2\x80\x8b@c", NULL },		/* U+200B zero width space */
	{ "a\xe2\x80\xae@c", NULL },		/* U+202E right-to-left override */
	{ "a\xef\xbb\xbf@c", NULL },		/* U+FEFF */
	{ "a\xc2\xad@c", NULL },		/* U+00AD soft hyphen */
	{ "a\xef\xbf\xbf@c", NULL },		/* U+FFFF noncharacter */
	{ "a\xef\xb7\x90@c", NULL },		/* U+FDD0 noncharacter */
	{ "a\xee\x80\x80@c", NULL },		/* U+E000 private use */
	{ "a\xf3\xa0\x80\x81@c", NULL },	/* U+E0001 language tag */
	/* non-ASCII letters pass through, unfolded (documented limit) */
	{ "Ab\xc3\x84@Example.com", "ab\xc3\x84@example.com" },
	{ "\xe5\xbc\xa0\xe4\xb8\x89@example.com",
	    "\xe5\xbc\xa0\xe4\xb8\x89@example.com" },
	{ "\xf0\x9f\x98\x80@example.com", "\xf0\x9f\x98\x80@example.com" },
	/* UTF-8 errors, in each part */
	{ "\xc3@b", NULL },			/* cut short */
	{ "\xc3\x28@b", NULL },			/* bad continuation */
	{ "\x80@b", NULL },			/* stray continuation */
	{ "\xc0\xaf@b", NULL },			/* overlong '/' */
	{ "\xc1\xbf@b", NULL },			/* overlong */
	{ "\xe0\x80\xaf@b", NULL },		/* overlong, 3 bytes */
	{ "\xe0\x9f\xbf@b", NULL },		/* overlong U+07FF */
	{ "\xf0\x80\x80\xaf@b", NULL },		/* overlong, 4 bytes */
	{ "\xf0\x8f\xbf\xbf@b", NULL },		/* overlong U+FFFF */
	{ "\xed\xa0\x80@b", NULL },		/* U+D800 surrogate */
	{ "\xed\xbf\xbf@b", NULL },		/* U+DFFF surrogate */
	{ "\xf4\x90\x80\x80@b", NULL },		/* U+110000 */
	{ "\xf5\x80\x80\x80@b", NULL },
	{ "\xfe@b", NULL },
	{ "\xff@b", NULL },
	{ "\xe2\x82@b", NULL },			/* 3-byte cut short */
	{ "a@\xc3.com", NULL },
	{ "a@b\xed\xa0\x80", NULL },
	{ "a@b/\xc3", NULL },
	{ "a@b/\xe2\x82", NULL },
	{ "a@b/\xf0\x9f\x98", NULL },
	{ "a@b/\xed\xb0\x80", NULL },
	{ "a@b/x\xc0\x80", NULL },		/* overlong NUL */
	{ "\xed\x9f\xbf@b", "\xed\x9f\xbf@b" },	/* U+D7FF, just below */
	{ "\xf4\x8f\xbf\xbd@b", NULL },		/* U+10FFFD: private use */
	{ "a@b/\xf4\x8f\xbf\xbf", "a@b/\xf4\x8f\xbf\xbf" },	/* resource: ok */
	/* domain characters */
	{ "a@under_score.example", "a@under_score.example" },
	{ "a@-x-.example", "a@-x-.example" },
	{ "a@192.0.2.1", "a@192.0.2.1" },
	{ "a@xn--mller-kva.de", "a@xn--mller-kva.de" },
	{ "a@M\xc3\x9cller.DE", "a@m\xc3\x9cller.de" },
	{ "%", NULL },
	{ "a@%", NULL },
	{ "a@b%c", NULL },
	{ "a@exa!mple.com", NULL },
	{ "a@exa mple.com", NULL },
	{ "a@example.com:5222", NULL },
	{ "a@ex\x01.com", NULL },
	{ "a@ex\x7f.com", NULL },
	{ "a@example\xe3\x80\x82" "com", NULL },	/* ideographic stop */
	{ "a@example\xef\xbc\x8e" "com", NULL },	/* full-width stop */
	{ "a@ex\xc2\xa0.com", NULL },
	{ "a@ex\xe2\x80\x8b.com", NULL },
	{ "a@b\\c", NULL },
	{ "a@b'c", NULL },
	{ "a@b\"c", NULL },
	{ "a@b<c", NULL },
	{ "a@*.example", NULL },
	/* IP literals */
	{ "a@[::1]", "a@[::1]" },
	{ "[::1]", "[::1]" },
	{ "a@[2001:DB8::1]/r", "a@[2001:db8::1]/r" },
	{ "a@[::ffff:192.0.2.1]", "a@[::ffff:192.0.2.1]" },
	{ "a@[::1].", "a@[::1]" },
	{ "a@[::1", NULL },
	{ "a@::1", NULL },
	{ "a@[::1]x", NULL },
	{ "a@x[::1]", NULL },
	{ "a@[]", NULL },
	{ "a@[:]", NULL },
	{ "a@[:::]", NULL },
	{ "a@[192.0.2.1]", NULL },
	{ "a@[fe80::1%eth0]", NULL },
	{ "a@[::g]", NULL },
	{ "a@[1:2:3:4:5:6:7:8:9]", NULL },
	{ "a@[ ::1]", NULL },
	/* resources: free-form, but no controls */
	{ "a@b/ ", "a@b/ " },
	{ "a@b/x\xc2\xa0y", "a@b/x\xc2\xa0y" },
	{ "a@b/\xf0\x9f\x98\x80", "a@b/\xf0\x9f\x98\x80" },
	{ "a@b/\"&'<>:", "a@b/\"&'<>:" },
	{ "a@b/x\ty", NULL },
	{ "a@b/x\ny", NULL },
	{ "a@b/x\x7f", NULL },
	{ "a@b/x\xc2\x80", NULL },
	{ "a@b/x\xc2\x9f", NULL },
};

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* "a.a.a...a": n bytes of one-letter labels (n odd). */
static char *
labels(size_t n)
{
	char *s = repeat('a', n);
	size_t i;

	for (i = 1; i < n; i += 2)
		s[i] = '.';
	return s;
}

static void
test_table(void)
{
	char out[JID_MAX + 1];
	size_t i;
	int r;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(out, 'X', sizeof out);
		r = jid_normalize(cases[i].in, out, sizeof out);
		if (cases[i].out == NULL) {
			T_EXPECT(r == -1, "case %zu: accepted \"%s\" as \"%s\"",
			    i, cases[i].in, out);
			T_EXPECT(out[0] == '\0', "case %zu: out not cleared",
			    i);
		} else {
			T_EXPECT(r == 0, "case %zu: refused \"%s\"", i,
			    cases[i].in);
			T_EXPECT(strcmp(out, cases[i].out) == 0,
			    "case %zu: \"%s\" gave \"%s\", want \"%s\"", i,
			    cases[i].in, out, cases[i].out);
		}
	}
}

static void
test_parts(void)
{
	struct jid j;

	T_EQ_INT(jid_parse(&j, "Juliet@Capulet.LIT/Balcony"), 0);
	T_EQ_STR(j.local, "juliet");
	T_EQ_STR(j.domain, "capulet.lit");
	T_EQ_STR(j.resource, "Balcony");
	T_EQ_INT(jid_is_bare(&j), 0);

	T_EQ_INT(jid_parse(&j, "capulet.lit"), 0);
	T_EQ_STR(j.local, "");
	T_EQ_STR(j.domain, "capulet.lit");
	T_EQ_STR(j.resource, "");
	T_EQ_INT(jid_is_bare(&j), 1);

	/* "a/b@c" is domain a, resource b@c: '/' splits first */
	T_EQ_INT(jid_parse(&j, "a/b@c"), 0);
	T_EQ_STR(j.local, "");
	T_EQ_STR(j.domain, "a");
	T_EQ_STR(j.resource, "b@c");

	T_EQ_INT(jid_parse(&j, "x@y/r/s@t/u"), 0);
	T_EQ_STR(j.local, "x");
	T_EQ_STR(j.domain, "y");
	T_EQ_STR(j.resource, "r/s@t/u");

	/* a failed parse leaves no part of the previous or partial JID */
	T_EQ_INT(jid_parse(&j, "good@example.com/res"), 0);
	T_EQ_INT(jid_parse(&j, "fine@example.com/\x01"), -1);
	T_EQ_STR(j.local, "");
	T_EQ_STR(j.domain, "");
	T_EQ_STR(j.resource, "");
	T_EQ_INT(jid_parse(&j, NULL), -1);
	T_EQ_STR(j.domain, "");
}

static void
test_parse_n(void)
{
	struct jid j;

	/* NULs inside the given length are refused, in every part */
	T_EQ_INT(jid_parse_n(&j, "a\0b@c", 5), -1);
	T_EQ_INT(jid_parse_n(&j, "a@b\0c", 5), -1);
	T_EQ_INT(jid_parse_n(&j, "a@bc/r\0", 7), -1);
	T_EQ_INT(jid_parse_n(&j, "\0", 1), -1);
	T_EQ_INT(jid_parse_n(&j, "a@b", 0), -1);
	/* only len bytes are looked at */
	T_EQ_INT(jid_parse_n(&j, "a@b/c", 3), 0);
	T_EQ_STR(j.local, "a");
	T_EQ_STR(j.domain, "b");
	T_EQ_STR(j.resource, "");
	T_EQ_INT(jid_parse_n(&j, "a@b/cd", 5), 0);
	T_EQ_STR(j.resource, "c");
	T_EQ_INT(jid_parse_n(&j, "a@b/c", 4), -1);	/* "a@b/" */
	T_EQ_INT(jid_parse_n(&j, "a@", 2), -1);
	T_EQ_INT(jid_parse_n(&j, "\xc3\xa9@b", 1), -1);	/* cut UTF-8 */
	T_EQ_INT(jid_parse_n(&j, "a@b/\xc3\xa9", 5), -1);
	T_EQ_INT(jid_parse_n(&j, "a@b/\xc3\xa9", 6), 0);
	T_EQ_STR(j.resource, "\xc3\xa9");
	T_EQ_INT(jid_parse_n(NULL, "a@b", 3), -1);
	T_EQ_INT(jid_parse_n(&j, NULL, 3), -1);
}

static void
test_lengths(void)
{
	struct jid j;
	char *l1023 = repeat('L', JID_PART_MAX);
	char *l1024 = repeat('L', JID_PART_MAX + 1);
	char *r1023 = repeat('R', JID_PART_MAX);
	char *r1024 = repeat('R', JID_PART_MAX + 1);
	char *d1023 = labels(JID_PART_MAX);
	char *lab63 = repeat('d', 63), *lab64 = repeat('d', 64);
	char *buf = malloc(4 * JID_PART_MAX + 16);
	char *out = malloc(JID_MAX + 1);
	char *uni;
	size_t i;

	if (buf == NULL || out == NULL)
		abort();

	/* localpart: 1023 ok, 1024 refused */
	snprintf(buf, 4 * JID_PART_MAX + 16, "%s@b", l1023);
	T_EQ_INT(jid_parse(&j, buf), 0);
	T_EQ_INT(strlen(j.local), JID_PART_MAX);
	T_EXPECT(j.local[0] == 'l' && j.local[JID_PART_MAX - 1] == 'l',
	    "localpart not folded");
	snprintf(buf, 4 * JID_PART_MAX + 16, "%s@b", l1024);
	T_EQ_INT(jid_parse(&j, buf), -1);

	/* domain: 1023 ok, 1024 refused, 1023 + final dot ok */
	T_EQ_INT(strlen(d1023), JID_PART_MAX);
	T_EQ_INT(jid_parse(&j, d1023), 0);
	T_EQ_INT(strlen(j.domain), JID_PART_MAX);
	snprintf(buf, 4 * JID_PART_MAX + 16, "%sa", d1023);	/* 1024 */
	T_EQ_INT(jid_parse(&j, buf), -1);
	snprintf(buf, 4 * JID_PART_MAX + 16, "%s.", d1023);	/* 1024 */
	T_EQ_INT(jid_parse(&j, buf), 0);
	T_EQ_INT(strlen(j.domain), JID_PART_MAX);
	snprintf(buf, 4 * JID_PART_MAX + 16, "%s..", d1023);
	T_EQ_INT(jid_parse(&j, buf), -1);

	/* DNS labels: 63 ok, 64 refused; a U-label may be longer in UTF-8 */
	snprintf(buf, 4 * JID_PART_MAX + 16, "a@%s.example", lab63);
	T_EQ_INT(jid_parse(&j, buf), 0);
	snprintf(buf, 4 * JID_PART_MAX + 16, "a@%s.example", lab64);
	T_EQ_INT(jid_parse(&j, buf), -1);
	snprintf(buf, 4 * JID_PART_MAX + 16, "a@%s", lab64);
	T_EQ_INT(jid_parse(&j, buf), -1);
	uni = malloc(2 * 40 + 1);
	if (uni == NULL)
		abort();
	for (i = 0; i < 40; i++)
		memcpy(uni + 2 * i, "\xc3\xbc", 2);	/* 80 bytes of u-umlaut */
	uni[80] = '\0';
	snprintf(buf, 4 * JID_PART_MAX + 16, "a@%s.de", uni);
	T_EQ_INT(jid_parse(&j, buf), 0);
	free(uni);

	/* resource: 1023 ok, 1024 refused */
	snprintf(buf, 4 * JID_PART_MAX + 16, "a@b/%s", r1023);
	T_EQ_INT(jid_parse(&j, buf), 0);
	T_EQ_INT(strlen(j.resource), JID_PART_MAX);
	T_EXPECT(j.resource[0] == 'R', "resource was case-folded");
	snprintf(buf, 4 * JID_PART_MAX + 16, "a@b/%s", r1024);
	T_EQ_INT(jid_parse(&j, buf), -1);

	/* the longest JID, formatted into exactly JID_MAX + 1 bytes */
	snprintf(buf, 4 * JID_PART_MAX + 16, "%s@%s/%s", l1023, d1023, r1023);
	T_EQ_INT(strlen(buf), JID_MAX);
	T_EQ_INT(jid_parse(&j, buf), 0);
	T_EQ_INT(jid_full(&j, out, JID_MAX + 1), 0);
	T_EQ_INT(strlen(out), JID_MAX);
	T_EQ_INT(jid_full(&j, out, JID_MAX), -1);
	T_EQ_STR(out, "");
	T_EQ_INT(jid_bare(&j, out, JID_MAX + 1), 0);
	T_EQ_INT(strlen(out), 2 * JID_PART_MAX + 1);
	T_EQ_INT(jid_normalize(buf, out, JID_MAX + 1), 0);
	T_EQ_INT(jid_normalize(buf, out, JID_MAX), -1);

	free(l1023);
	free(l1024);
	free(r1023);
	free(r1024);
	free(d1023);
	free(lab63);
	free(lab64);
	free(buf);
	free(out);
}

static void
test_format(void)
{
	struct jid j, k;
	char out[64];

	T_EQ_INT(jid_parse(&j, "User@Example.com/Phone"), 0);
	T_EQ_INT(jid_bare(&j, out, sizeof out), 0);
	T_EQ_STR(out, "user@example.com");
	T_EQ_INT(jid_full(&j, out, sizeof out), 0);
	T_EQ_STR(out, "user@example.com/Phone");

	/* exact fit, and one byte short */
	T_EQ_INT(jid_bare(&j, out, sizeof "user@example.com"), 0);
	T_EQ_STR(out, "user@example.com");
	memset(out, 'X', sizeof out);
	T_EQ_INT(jid_bare(&j, out, sizeof "user@example.com" - 1), -1);
	T_EQ_STR(out, "");
	T_EQ_INT(jid_full(&j, out, sizeof "user@example.com/Phone"), 0);
	T_EQ_STR(out, "user@example.com/Phone");
	memset(out, 'X', sizeof out);
	T_EQ_INT(jid_full(&j, out, sizeof "user@example.com/Phone" - 1), -1);
	T_EQ_STR(out, "");
	T_EQ_INT(jid_full(&j, out, 1), -1);
	T_EQ_STR(out, "");
	T_EQ_INT(jid_full(&j, out, 0), -1);
	T_EQ_INT(jid_bare(&j, NULL, 0), -1);

	T_EQ_INT(jid_parse(&k, "example.com/r"), 0);
	T_EQ_INT(jid_bare(&k, out, sizeof out), 0);
	T_EQ_STR(out, "example.com");
	T_EQ_INT(jid_full(&k, out, sizeof out), 0);
	T_EQ_STR(out, "example.com/r");
	T_EQ_INT(jid_bare(&k, out, sizeof "example.com" - 1), -1);

	/* an empty struct has no domain: nothing to format */
	memset(&k, 0, sizeof k);
	T_EQ_INT(jid_bare(&k, out, sizeof out), -1);
	T_EQ_INT(jid_full(&k, out, sizeof out), -1);

	/* bare equality ignores resources, not localparts */
	T_EQ_INT(jid_parse(&k, "USER@example.COM./Laptop"), 0);
	T_EQ_INT(jid_bare_equal(&j, &k), 1);
	T_EQ_INT(jid_parse(&k, "user@example.com"), 0);
	T_EQ_INT(jid_bare_equal(&j, &k), 1);
	T_EQ_INT(jid_parse(&k, "user2@example.com/Phone"), 0);
	T_EQ_INT(jid_bare_equal(&j, &k), 0);
	T_EQ_INT(jid_parse(&k, "example.com"), 0);
	T_EQ_INT(jid_bare_equal(&j, &k), 0);
	T_EQ_INT(jid_parse(&k, "user@example.org"), 0);
	T_EQ_INT(jid_bare_equal(&j, &k), 0);

	/* jid_normalize */
	T_EQ_INT(jid_normalize("USER@EXAMPLE.COM./Res", out, sizeof out), 0);
	T_EQ_STR(out, "user@example.com/Res");
	memset(out, 'X', sizeof out);
	T_EQ_INT(jid_normalize("a@b/", out, sizeof out), -1);
	T_EQ_STR(out, "");
	T_EQ_INT(jid_normalize(NULL, out, sizeof out), -1);
	T_EQ_INT(jid_normalize("a@b", out, 3), -1);
	T_EQ_INT(jid_normalize("a@b", out, 4), 0);
	T_EQ_STR(out, "a@b");
}

static void
test_prep(void)
{
	char s[JID_PART_MAX + 2];

	snprintf(s, sizeof s, "%s", "MiXeD.Case");
	T_EQ_INT(jid_prep_local(s), 0);
	T_EQ_STR(s, "mixed.case");
	snprintf(s, sizeof s, "%s", "");
	T_EQ_INT(jid_prep_local(s), -1);
	snprintf(s, sizeof s, "%s", "a@b");
	T_EQ_INT(jid_prep_local(s), -1);
	snprintf(s, sizeof s, "%s", "a/b");
	T_EQ_INT(jid_prep_local(s), -1);
	memset(s, 'a', JID_PART_MAX);
	s[JID_PART_MAX] = '\0';
	T_EQ_INT(jid_prep_local(s), 0);
	memset(s, 'a', JID_PART_MAX + 1);
	s[JID_PART_MAX + 1] = '\0';
	T_EQ_INT(jid_prep_local(s), -1);
	T_EQ_INT(jid_prep_local(NULL), -1);

	snprintf(s, sizeof s, "%s", "Example.COM.");
	T_EQ_INT(jid_prep_domain(s), 0);
	T_EQ_STR(s, "example.com");
	snprintf(s, sizeof s, "%s", "[::A]");
	T_EQ_INT(jid_prep_domain(s), 0);
	T_EQ_STR(s, "[::a]");
	snprintf(s, sizeof s, "%s", "a..");
	T_EQ_INT(jid_prep_domain(s), -1);
	snprintf(s, sizeof s, "%s", ".");
	T_EQ_INT(jid_prep_domain(s), -1);
	snprintf(s, sizeof s, "%s", "");
	T_EQ_INT(jid_prep_domain(s), -1);
	snprintf(s, sizeof s, "%s", "a/b");
	T_EQ_INT(jid_prep_domain(s), -1);
	snprintf(s, sizeof s, "%s", "a@b");
	T_EQ_INT(jid_prep_domain(s), -1);
	T_EQ_INT(jid_prep_domain(NULL), -1);

	snprintf(s, sizeof s, "%s", "Res/With@All");
	T_EQ_INT(jid_prep_resource(s), 0);
	T_EQ_STR(s, "Res/With@All");
	snprintf(s, sizeof s, "%s", "");
	T_EQ_INT(jid_prep_resource(s), -1);
	snprintf(s, sizeof s, "%s", "a\rb");
	T_EQ_INT(jid_prep_resource(s), -1);
	memset(s, 'r', JID_PART_MAX + 1);
	s[JID_PART_MAX + 1] = '\0';
	T_EQ_INT(jid_prep_resource(s), -1);
	s[JID_PART_MAX] = '\0';
	T_EQ_INT(jid_prep_resource(s), 0);
	T_EQ_INT(jid_prep_resource(NULL), -1);
}

void
test_jid(void)
{
	test_table();
	test_parts();
	test_parse_n();
	test_lengths();
	test_format();
	test_prep();
}
