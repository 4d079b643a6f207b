/*
 * test_util.c - bounded buffers, escaping, base64, UTF-8, comparisons.
 */
#include <limits.h>
#include <string.h>

#include "harness.h"
#include "util.h"

static void
test_buf(void)
{
	struct buf b;
	char big[300];

	buf_init(&b, 10);
	T_EQ_INT(buf_add(&b, "0123456789", 10), 0);
	T_EQ_INT(buf_used(&b), 10);
	T_EQ_INT(buf_add(&b, "x", 1), -1);		/* at the bound: refused */
	T_EQ_INT(buf_used(&b), 10);
	buf_consume(&b, 4);
	T_EQ_INT(buf_used(&b), 6);
	T_EQ_INT(buf_add(&b, "abcd", 4), 0);		/* room again after consume */
	T_EQ_INT(memcmp(buf_head(&b), "456789abcd", 10), 0);
	T_EQ_INT(buf_printf(&b, "%s", "y"), -1);
	buf_consume(&b, 100);				/* more than there is */
	T_EQ_INT(buf_used(&b), 0);
	buf_free(&b);

	buf_init(&b, 1 << 20);
	memset(big, 'a', sizeof big);
	for (int i = 0; i < 100; i++)
		T_EQ_INT(buf_add(&b, big, sizeof big), 0);
	T_EQ_INT(buf_used(&b), 30000);
	T_EQ_INT(buf_printf(&b, "%d-%s", 42, "z"), 0);
	T_EQ_INT(memcmp(buf_head(&b) + 30000, "42-z", 4), 0);
	T_EQ_INT(strlen(buf_cstr(&b)), 30004);
	buf_free(&b);

	buf_init(&b, 100);
	T_EQ_INT(buf_add_escaped(&b, "a<b>&\"c'", 8), 0);
	T_EQ_STR(buf_cstr(&b), "a&lt;b&gt;&amp;&quot;c&apos;");
	buf_free(&b);
	buf_init(&b, 7);
	T_EQ_INT(buf_add_escaped(&b, "<<", 2), -1);	/* escaped form too long */
	buf_free(&b);
}

static void
test_b64(void)
{
	static const struct { const char *plain, *enc; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char out[64];
	ssize_t n;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		n = b64_encode(v[i].plain, strlen(v[i].plain), out, sizeof out);
		T_EQ_INT(n, strlen(v[i].enc));
		T_EQ_STR(out, v[i].enc);
		n = b64_decode(v[i].enc, strlen(v[i].enc), out, sizeof out);
		T_EQ_INT(n, strlen(v[i].plain));
		T_EXPECT(memcmp(out, v[i].plain, (size_t)n) == 0, "decode %s", v[i].enc);
	}
	T_EQ_INT(b64_decode("Zm9", 3, out, sizeof out), -1);	/* not a multiple of 4 */
	T_EQ_INT(b64_decode("Zm9v\n", 5, out, sizeof out), -1);
	T_EQ_INT(b64_decode("Zh==", 4, out, sizeof out), -1);	/* non-zero pad bits */
	T_EQ_INT(b64_decode("Z===", 4, out, sizeof out), -1);
	T_EQ_INT(b64_decode("=m9v", 4, out, sizeof out), -1);
	T_EQ_INT(b64_decode("Zm==Zm9v", 8, out, sizeof out), -1);	/* pad mid-way */
	T_EQ_INT(b64_decode("Zm9vYmFy", 8, out, 5), -1);	/* no room */
	T_EQ_INT(b64_encode("foobar", 6, out, 8), -1);	/* no room for NUL */
}

static void
test_utf8(void)
{
	T_EXPECT(utf8_is_valid("plain", 5), "ascii");
	T_EXPECT(utf8_is_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), "2,3,4-byte");
	T_EXPECT(!utf8_is_valid("\xc0\xaf", 2), "overlong");
	T_EXPECT(!utf8_is_valid("\xe0\x80\xaf", 3), "overlong 3");
	T_EXPECT(!utf8_is_valid("\xed\xa0\x80", 3), "surrogate");
	T_EXPECT(!utf8_is_valid("\xf4\x90\x80\x80", 4), "> U+10FFFF");
	T_EXPECT(!utf8_is_valid("\xc3", 1), "truncated");
	T_EXPECT(!utf8_is_valid("\x80", 1), "lone continuation");
	T_EXPECT(!utf8_is_valid("\xff", 1), "0xff");
}

static void
test_misc(void)
{
	char small[4], stamp[32];
	int64_t us;
	int whole;
	unsigned long ul;

	T_EXPECT(ct_equal("abc", "abc", 3), "equal");
	T_EXPECT(!ct_equal("abc", "abd", 3), "differ");
	T_EQ_INT(strlcpy_ok(small, "abc", sizeof small), 0);
	T_EQ_INT(strlcpy_ok(small, "abcd", sizeof small), -1);
	T_EQ_STR(small, "abc");
	T_EXPECT(str_has_suffix("a.tmp", ".tmp"), "suffix");
	T_EXPECT(!str_has_suffix("tmp", ".tmp"), "short");
	format_xep82(0, stamp, sizeof stamp);
	T_EQ_STR(stamp, "1970-01-01T00:00:00Z");
	format_xep82(1764093350, stamp, sizeof stamp);
	T_EQ_STR(stamp, "2025-11-25T17:55:50Z");
	/* parse_xep82: microseconds, and whether the stamp had a fraction
	 * (muc's unit tests cover the refusals through muc_parse_time). */
	T_EQ_INT(parse_xep82("2025-11-25T17:55:50Z", &us, &whole), 0);
	T_EXPECT(us == (int64_t)1764093350 * 1000000 && whole, "whole second");
	T_EQ_INT(parse_xep82("2025-11-25T18:55:50.25+01:00", &us, &whole), 0);
	T_EXPECT(us == (int64_t)1764093350 * 1000000 + 250000 && !whole,
	    "fraction and zone");
	T_EQ_INT(parse_xep82("1969-12-31T23:59:59.5Z", &us, &whole), 0);
	T_EXPECT(us == -500000, "before 1970");
	T_EQ_INT(parse_xep82(NULL, &us, &whole), -1);
	T_EQ_INT(parse_xep82("2025-11-25T17:55:50", &us, &whole), -1);
	T_EQ_INT(parse_ulong("42", 1, 100, &ul), 0);
	T_EXPECT(ul == 42, "parse_ulong value");
	T_EQ_INT(parse_ulong("0", 1, 100, &ul), -1);	/* below min */
	T_EQ_INT(parse_ulong("101", 1, 100, &ul), -1);	/* above max */
	T_EQ_INT(parse_ulong("9", 0, 5, &ul), -1);	/* one digit above max */
	T_EQ_INT(parse_ulong("-1", 0, 5, &ul), -1);
	T_EQ_INT(parse_ulong(" 1", 0, 5, &ul), -1);
	T_EQ_INT(parse_ulong("", 0, 5, &ul), -1);
	T_EQ_INT(parse_ulong(NULL, 0, 5, &ul), -1);
	T_EQ_INT(parse_ulong("99999999999999999999999", 0, ULONG_MAX, &ul), -1);
	T_EXPECT(now_ms() > 0, "monotonic clock");
}

void
test_util(void)
{
	test_buf();
	test_b64();
	test_utf8();
	test_misc();
}
