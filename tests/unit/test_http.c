/*
 * test_http.c - the HTTP request parser, head checks and path handling
 * of http.c (no sockets): exact statuses for every malformed shape, any
 * split of the input, pipelined requests, and path normalisation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http.h"

void	test_http(void);

static struct http_parser p;
static struct http_head h;

/* Feed s in pieces of step bytes; the event at the end, and how many
 * bytes were taken in all. */
static enum http_parse
feed_steps(const char *s, size_t n, size_t step, size_t *taken)
{
	enum http_parse ev = HTTP_PARSE_MORE;
	size_t off = 0;

	http_parser_reset(&p);
	while (off < n && ev == HTTP_PARSE_MORE) {
		size_t k = n - off < step ? n - off : step;
		off += http_parser_feed(&p, s + off, k, &ev);
	}
	*taken = off;
	return ev;
}

/* The status a whole request head gets: parse error or head check. */
static int
status_of(const char *s, size_t n)
{
	size_t taken;
	enum http_parse ev = feed_steps(s, n, n, &taken);

	if (ev == HTTP_PARSE_ERROR)
		return p.status;
	if (ev != HTTP_PARSE_HEAD)
		return -1;
	return http_head_check(&p, &h);
}

#define STATUS(lit)	status_of(lit, sizeof(lit) - 1)

static void
test_splits(void)
{
	static const char req[] = "PUT /upload/a%20b HTTP/1.1\r\nHost: Example.ORG.:5281\r\n"
	    "content-LENGTH: 5\r\nX-Empty:\r\nX-Pad: \t v a l \t\r\n\r\nhello";
	size_t n = sizeof req - 1, head = n - 5, taken;

	for (size_t step = 1; step <= n; step++) {
		enum http_parse ev = feed_steps(req, n, step, &taken);
		T_EXPECT(ev == HTTP_PARSE_HEAD, "step %zu: event %d", step, (int)ev);
		T_EXPECT(taken == head, "step %zu: took %zu, head is %zu", step,
		    taken, head);
	}
	T_EQ_INT(http_head_check(&p, &h), 0);
	T_EQ_INT(h.method, HTTP_M_PUT);
	T_EQ_INT(h.minor, 1);
	T_EQ_STR(h.path, "/upload/a b");
	T_EQ_STR(h.host, "example.org");
	T_EQ_INT(h.content_length, 5);
	T_EQ_INT(h.keep_alive, 1);
	T_EQ_STR(http_parser_header(&p, "x-empty"), "");
	T_EQ_STR(http_parser_header(&p, "x-pad"), "v a l");
	T_EQ_STR(http_parser_header(&p, "content-length"), "5");
	T_EXPECT(http_parser_header(&p, "Content-Length") == NULL,
	    "names are stored in lower case");
	/* Nothing more is taken after a head. */
	T_EQ_INT(http_parser_feed(&p, "x", 1, &(enum http_parse){0}), 0);
}

static void
test_pipelined(void)
{
	static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "\r\nGET /b?q=1 HTTP/1.0\nConnection: keep-alive\n\n";
	enum http_parse ev;
	size_t k;

	http_parser_reset(&p);
	k = http_parser_feed(&p, two, sizeof two - 1, &ev);
	T_EQ_INT(ev, HTTP_PARSE_HEAD);
	T_EQ_INT(k, 28);
	T_EQ_INT(http_head_check(&p, &h), 0);
	T_EQ_STR(h.path, "/a");
	http_parser_reset(&p);
	k = http_parser_feed(&p, two + 28, sizeof two - 1 - 28, &ev);
	T_EQ_INT(ev, HTTP_PARSE_HEAD);
	T_EQ_INT(k, sizeof two - 1 - 28);
	T_EQ_INT(http_head_check(&p, &h), 0);
	T_EQ_STR(h.path, "/b");
	T_EQ_STR(h.query, "q=1");
	T_EQ_INT(h.minor, 0);
	T_EQ_INT(h.keep_alive, 1);
	T_EQ_STR(h.host, "");
}

static void
test_statuses(void)
{
	char *big;
	size_t n;

	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	T_EQ_INT(STATUS("GET / HTTP/1.0\r\n\r\n"), 0);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0);
	T_EQ_STR(h.host, "[::1]");
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
	T_EQ_INT(STATUS("GET / HTTP/1.9\r\nHost: a\r\n\r\n"), 0);
	T_EQ_INT(STATUS("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET /\r\n\r\n"), 400);
	T_EQ_INT(STATUS(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	T_EQ_INT(STATUS("PATCH / HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
	T_EQ_INT(STATUS("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
	T_EQ_INT(STATUS("G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 411);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 501);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 0\r\n\r\n"), 400);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n"
	    "Content-Length: 7\r\n\r\n"), 0);
	T_EQ_INT(h.content_length, 7);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n"
	    "Content-Length: 8\r\n\r\n"), 400);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n"), 0);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n"), 413);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"), 400);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n"), 0);
	T_EQ_INT(h.expect_continue, 1);
	T_EQ_INT(STATUS("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"), 417);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n"), 0);
	T_EQ_INT(h.keep_alive, 0);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\nA\tB: v\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400);
	T_EQ_INT(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 34), 400);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"), 0);
	T_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	T_EQ_INT(STATUS("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	T_EQ_STR(h.path, "*");
	T_EQ_INT(STATUS("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	T_EQ_INT(STATUS("GET HTTPS://Other.Example:8443 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	T_EQ_STR(h.host, "other.example");
	T_EQ_STR(h.path, "/");
	T_EQ_INT(STATUS("GET http://a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);

	/* Limits: 8 KiB request line (414 or 400), 16 KiB of headers and 64
	 * header lines (431), wherever the input is split. */
	n = 3 * HTTP_MAX_HEADER_BYTES;
	big = malloc(n);
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', n - 5);
	T_EQ_INT(status_of(big, n), 414);
	memset(big, 'a', n);
	T_EQ_INT(status_of(big, n), 400);
	/* A request line of exactly 8192 bytes with its CRLF is fine. */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', HTTP_MAX_REQUEST_LINE - 5 - 11);
	memcpy(big + HTTP_MAX_REQUEST_LINE - 11, " HTTP/1.0\r\n\r\n", 13);
	T_EQ_INT(status_of(big, HTTP_MAX_REQUEST_LINE + 2), 0);
	big[HTTP_MAX_REQUEST_LINE - 12] = 'a';
	memcpy(big + HTTP_MAX_REQUEST_LINE - 10, " HTTP/1.0\r\n\r\n", 13);
	T_EQ_INT(status_of(big, HTTP_MAX_REQUEST_LINE + 3), 414);
	{
		size_t o = 0, i;
		o += (size_t)snprintf(big, n, "GET / HTTP/1.1\r\nHost: a\r\n");
		for (i = 0; i < 63; i++)
			o += (size_t)snprintf(big + o, n - o, "X-%zu: 1\r\n", i);
		memcpy(big + o, "\r\n", 2);
		T_EQ_INT(status_of(big, o + 2), 0);
		memcpy(big + o, "Y: 2\r\n\r\n", 8);
		T_EQ_INT(status_of(big, o + 8), 431);
		/* 16384 bytes of header lines including the final CRLF: fine;
		 * one more byte: 431. */
		o = (size_t)snprintf(big, n, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
		/* "Host: a\r\n" 9, "X: " and CRLF 5, the final CRLF 2 */
		i = HTTP_MAX_HEADER_BYTES - 9 - 5 - 2;
		memset(big + o, 'v', i);
		memcpy(big + o + i, "\r\n\r\n", 4);
		T_EQ_INT(status_of(big, o + i + 4), 0);
		memset(big + o, 'v', i + 1);
		memcpy(big + o + i + 1, "\r\n\r\n", 4);
		T_EQ_INT(status_of(big, o + i + 5), 431);
	}
	free(big);
}

static void
test_paths(void)
{
	static const struct {
		const char *in, *out;	/* out NULL: refused */
	} cases[] = {
		{ "/", "/" },
		{ "//", "/" },
		{ "/a/b", "/a/b" },
		{ "/a//b///c", "/a/b/c" },
		{ "/a/./b/.", "/a/b/" },
		{ "/a/b/", "/a/b/" },
		{ "/%41%2d%7e", "/A-~" },
		{ "/caf%C3%A9", "/caf\xc3\xa9" },
		{ "/a%20b", "/a b" },
		{ "/...", "/..." },
		{ "/..a", "/..a" },
		{ "/a:@!$&'()*+,;=", "/a:@!$&'()*+,;=" },
		{ "/..", NULL },
		{ "/a/../b", NULL },
		{ "/%2e%2E", NULL },
		{ "/.%2e/", NULL },
		{ "/a%2Fb", NULL },
		{ "/a%5cb", NULL },
		{ "/a\\b", NULL },
		{ "/a%00", NULL },
		{ "/a%1f", NULL },
		{ "/a%7f", NULL },
		{ "/a%", NULL },
		{ "/a%4", NULL },
		{ "/a%g0", NULL },
		{ "/a b", NULL },
		{ "/a\"b", NULL },
		{ "/a<b>", NULL },
		{ "/a{b}", NULL },
		{ "/a|b", NULL },
		{ "/a^b", NULL },
		{ "/a`b", NULL },
		{ "/a[b]", NULL },
		{ "/\xc3\xa9", NULL },
		{ "/%ff", NULL },
		{ "/%c0%ae%c0%ae", NULL },
		{ "/%ed%a0%80", NULL },
		{ "a", NULL },
		{ "", NULL },
	};
	char out[64], enc[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = http_path_normalize(cases[i].in, strlen(cases[i].in),
		    out, sizeof out);
		if (cases[i].out == NULL)
			T_EXPECT(rc == -1, "'%s' accepted as '%s'", cases[i].in, out);
		else {
			T_EXPECT(rc == 0, "'%s' refused", cases[i].in);
			T_EQ_STR(rc == 0 ? out : "(refused)", cases[i].out);
		}
	}
	/* Bounded output. */
	T_EQ_INT(http_path_normalize("/abcdef", 7, out, 7), -1);
	T_EQ_INT(http_path_normalize("/abcdef", 7, out, 8), 0);
	/* Encoding a segment, and back. */
	T_EQ_INT(http_path_encode("a b/c\xc3\xa9~.-_", enc, sizeof enc), 0);
	T_EQ_STR(enc, "a%20b%2Fc%C3%A9~.-_");
	T_EQ_INT(http_path_encode("abc", enc, 3), -1);
	T_EQ_INT(http_path_encode("abc", enc, 4), 0);
	T_EQ_INT(http_path_encode("\xff", enc, 3), -1);
	T_EQ_INT(http_path_encode("x y.png", enc, sizeof enc), 0);
	{
		char path[80];
		snprintf(path, sizeof path, "/u/%s", enc);
		T_EQ_INT(http_path_normalize(path, strlen(path), out, sizeof out), 0);
		T_EQ_STR(out, "/u/x y.png");
	}
	T_EQ_STR(http_status_text(431), "Request Header Fields Too Large");
	T_EQ_STR(http_status_text(416), "Range Not Satisfiable");
}

void
test_http(void)
{
	test_splits();
	test_pipelined();
	test_statuses();
	test_paths();
}
