/*
 * jid.c - JIDs per RFC 7622: split, check and normalise the three parts.
 *
 * What this implements of PRECIS (RFC 8264/8265/7622) is deliberately a
 * subset that needs no Unicode tables:
 *  - every part must be valid UTF-8 (RFC 3629) and within 1..1023 bytes;
 *  - localpart and domain: ASCII letters are folded to lower case, and
 *    controls, spaces, invisible ("default ignorable") code points,
 *    private-use code points and noncharacters are refused, so that two
 *    localparts that print the same cannot name two accounts;
 *  - resource: only controls are refused (it is free-form text).
 * Known limitation: non-ASCII letters are passed through unchanged.  Full
 * PRECIS case mapping (Unicode toLower), width mapping and NFC need the
 * Unicode tables, which a static binary of this size does not carry; so
 * "Ä@example.com" and "ä@example.com" are two different JIDs here.  The
 * same holds for U-labels in domains (no IDNA2008 mapping to A-labels).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jid.h"

#define DNS_LABEL_MAX	63	/* RFC 1035 section 2.3.4 */

/*
 * Decode the code point at s[*i] (len bytes in all), advance *i.
 * Refuses what RFC 3629 refuses: stray continuation bytes, overlong forms,
 * surrogates, anything above U+10FFFF, and sequences cut short.
 */
static int
utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
	size_t n, k;
	uint32_t c;
	unsigned char b = s[*i], lo = 0x80, hi = 0xbf;

	if (b < 0x80) {
		*cp = b;
		(*i)++;
		return 0;
	}
	if (b >= 0xc2 && b <= 0xdf) {
		n = 1;
		c = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 2;
		c = b & 0x0f;
		if (b == 0xe0)
			lo = 0xa0;	/* overlong below U+0800 */
		else if (b == 0xed)
			hi = 0x9f;	/* surrogates U+D800..U+DFFF */
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 3;
		c = b & 0x07;
		if (b == 0xf0)
			lo = 0x90;	/* overlong below U+10000 */
		else if (b == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return -1;
	if (len - *i - 1 < n)
		return -1;
	for (k = 1; k <= n; k++) {
		unsigned char t = s[*i + k];

		if (t < lo || t > hi)
			return -1;
		lo = 0x80;	/* only the second byte has a narrower range */
		hi = 0xbf;
		c = (c << 6) | (t & 0x3f);
	}
	*cp = c;
	*i += n + 1;
	return 0;
}

/* C0, DEL and C1 controls. */
static int
cp_is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* U+0020 and the other space separators (Unicode category Zs, Zl, Zp). */
static int
cp_is_space(uint32_t c)
{
	return c == 0x20 || c == 0xa0 || c == 0x1680 ||
	    (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	    c == 0x202f || c == 0x205f || c == 0x3000;
}

/*
 * Code points PRECIS's IdentifierClass disallows and that we can find
 * without tables: Default_Ignorable_Code_Point (zero-width characters,
 * bidi controls, variation selectors, the BOM ...: they make two
 * identifiers look alike), private use, and noncharacters.
 */
static int
cp_is_bad_in_identifier(uint32_t c)
{
	if (c == 0x00ad || c == 0x034f || c == 0x061c ||
	    c == 0x115f || c == 0x1160 || c == 0x17b4 || c == 0x17b5 ||
	    (c >= 0x180b && c <= 0x180f) || (c >= 0x200b && c <= 0x200f) ||
	    (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) ||
	    c == 0x3164 || (c >= 0xfe00 && c <= 0xfe0f) || c == 0xfeff ||
	    c == 0xffa0 || (c >= 0xfff0 && c <= 0xfff8) ||
	    (c >= 0x1bca0 && c <= 0x1bca3) || (c >= 0x1d173 && c <= 0x1d17a) ||
	    (c >= 0xe0000 && c <= 0xe0fff))
		return 1;
	if ((c >= 0xe000 && c <= 0xf8ff) || c >= 0xf0000)
		return 1;	/* private use planes (and their noncharacters) */
	if ((c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe)
		return 1;
	return 0;
}

/* Localpart: s holds len bytes followed by a NUL; checked and folded. */
static int
prep_local(char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i;
	uint32_t c;

	if (len == 0 || len > JID_PART_MAX)
		return -1;
	for (i = 0; i < len;) {
		if (u[i] < 0x80) {
			c = u[i];
			if (c <= 0x20 || c == 0x7f ||
			    strchr("\"&'/:<>@", (int)c) != NULL)
				return -1;
			if (c >= 'A' && c <= 'Z')
				s[i] = (char)(c - 'A' + 'a');
			i++;
			continue;
		}
		if (utf8_next(u, len, &i, &c) == -1)
			return -1;
		if (cp_is_control(c) || cp_is_space(c) ||
		    cp_is_bad_in_identifier(c))
			return -1;
	}
	return 0;
}

/* "[v6 address]": checked with inet_pton, hex digits lower-cased. */
static int
prep_ip6(char *s, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr in6;
	size_t i;

	if (len < 4 || s[len - 1] != ']' || len - 2 >= sizeof addr)
		return -1;
	for (i = 1; i < len - 1; i++) {
		if (s[i] >= 'A' && s[i] <= 'F')
			s[i] = (char)(s[i] - 'A' + 'a');
		addr[i - 1] = s[i];
	}
	addr[len - 2] = '\0';
	/* A zone ("%eth0") or anything but hex, ':' and '.' fails here. */
	if (inet_pton(AF_INET6, addr, &in6) != 1)
		return -1;
	return 0;
}

/*
 * Domain: len bytes at s, NUL-terminated, trailing dot already removed.
 * ASCII labels are host names ([a-z0-9-_], 1..63 bytes; '_' and hyphens
 * at either end are accepted because real servers use them).  Labels with
 * non-ASCII characters are taken as U-labels and only checked like a
 * localpart, without the 63-byte rule that applies to their A-label form.
 * The ideographic and full-width full stops are refused rather than
 * mapped to '.', so a domain has one spelling.
 */
static int
prep_domain_stripped(char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, start;
	uint32_t c;
	int ascii;

	if (len == 0 || len > JID_PART_MAX)
		return -1;
	if (s[0] == '[')
		return prep_ip6(s, len);
	start = 0;
	ascii = 1;
	for (i = 0; i <= len;) {
		if (i == len || u[i] == '.') {
			if (i == start)
				return -1;	/* empty label */
			if (ascii && i - start > DNS_LABEL_MAX)
				return -1;
			i++;
			start = i;
			ascii = 1;
			continue;
		}
		if (u[i] < 0x80) {
			c = u[i];
			if (c >= 'A' && c <= 'Z')
				s[i] = (char)(c - 'A' + 'a');
			else if (!((c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_'))
				return -1;
			i++;
			continue;
		}
		ascii = 0;
		if (utf8_next(u, len, &i, &c) == -1)
			return -1;
		if (cp_is_control(c) || cp_is_space(c) ||
		    cp_is_bad_in_identifier(c) ||
		    c == 0x3002 || c == 0xff0e || c == 0xff61)
			return -1;
	}
	return 0;
}

/* Resource: free-form, so only UTF-8 validity, length and no controls. */
static int
prep_resource(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i;
	uint32_t c;

	if (len == 0 || len > JID_PART_MAX)
		return -1;
	for (i = 0; i < len;) {
		if (utf8_next(u, len, &i, &c) == -1)
			return -1;
		if (cp_is_control(c))
			return -1;
	}
	return 0;
}

int
jid_prep_local(char *s)
{
	if (s == NULL)
		return -1;
	return prep_local(s, strlen(s));
}

int
jid_prep_domain(char *s)
{
	size_t len;

	if (s == NULL)
		return -1;
	len = strlen(s);
	/* RFC 7622 section 3.2: a final dot is not part of the domain. */
	if (len > 0 && s[len - 1] == '.')
		s[--len] = '\0';
	return prep_domain_stripped(s, len);
}

int
jid_prep_resource(char *s)
{
	if (s == NULL)
		return -1;
	return prep_resource(s, strlen(s));
}

int
jid_parse(struct jid *j, const char *s)
{
	if (s == NULL) {
		if (j != NULL)
			j->local[0] = j->domain[0] = j->resource[0] = '\0';
		return -1;
	}
	return jid_parse_n(j, s, strlen(s));
}

/*
 * RFC 7622 section 3.1: the resource starts after the first '/'; in what
 * comes before it, the first '@' ends the localpart.  So "a/b@c" is the
 * domain "a" with resource "b@c", and a resource may hold '@' and '/'.
 */
int
jid_parse_n(struct jid *j, const char *s, size_t len)
{
	const char *slash, *at;
	size_t pre, dstart, dlen, rlen;

	if (j == NULL)
		return -1;
	j->local[0] = j->domain[0] = j->resource[0] = '\0';
	if (s == NULL || len == 0)
		goto bad;
	/* A NUL would end the C string early: it is a control anyway. */
	if (memchr(s, '\0', len) != NULL)
		goto bad;

	slash = memchr(s, '/', len);
	pre = slash != NULL ? (size_t)(slash - s) : len;
	at = memchr(s, '@', pre);
	dstart = 0;
	if (at != NULL) {
		size_t llen = (size_t)(at - s);

		if (llen == 0 || llen > JID_PART_MAX)
			goto bad;
		memcpy(j->local, s, llen);
		j->local[llen] = '\0';
		if (prep_local(j->local, llen) == -1)
			goto bad;
		dstart = llen + 1;
	}

	dlen = pre - dstart;
	if (dlen > 0 && s[dstart + dlen - 1] == '.')
		dlen--;		/* stripped before the length check */
	if (dlen == 0 || dlen > JID_PART_MAX)
		goto bad;
	memcpy(j->domain, s + dstart, dlen);
	j->domain[dlen] = '\0';
	if (prep_domain_stripped(j->domain, dlen) == -1)
		goto bad;

	if (slash != NULL) {
		rlen = len - pre - 1;
		if (rlen == 0 || rlen > JID_PART_MAX)
			goto bad;
		memcpy(j->resource, slash + 1, rlen);
		j->resource[rlen] = '\0';
		if (prep_resource(j->resource, rlen) == -1)
			goto bad;
	}
	return 0;
bad:
	j->local[0] = j->domain[0] = j->resource[0] = '\0';
	return -1;
}

/* snprintf's result checked for errors and truncation; out "" on failure. */
static int
fmt_ok(int n, char *out, size_t outlen)
{
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int
jid_bare(const struct jid *j, char *out, size_t outlen)
{
	int n;

	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (j == NULL || j->domain[0] == '\0')
		return -1;
	if (j->local[0] != '\0')
		n = snprintf(out, outlen, "%s@%s", j->local, j->domain);
	else
		n = snprintf(out, outlen, "%s", j->domain);
	return fmt_ok(n, out, outlen);
}

int
jid_full(const struct jid *j, char *out, size_t outlen)
{
	int n;

	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (j == NULL || j->domain[0] == '\0')
		return -1;
	n = snprintf(out, outlen, "%s%s%s%s%s", j->local,
	    j->local[0] != '\0' ? "@" : "", j->domain,
	    j->resource[0] != '\0' ? "/" : "", j->resource);
	return fmt_ok(n, out, outlen);
}

int
jid_is_bare(const struct jid *j)
{
	return j->resource[0] == '\0';
}

int
jid_bare_equal(const struct jid *a, const struct jid *b)
{
	return strcmp(a->local, b->local) == 0 &&
	    strcmp(a->domain, b->domain) == 0;
}

int
jid_normalize(const char *in, char *out, size_t outlen)
{
	struct jid j;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (jid_parse(&j, in) == -1)
		return -1;
	return jid_full(&j, out, outlen);
}
