/*
 * fuzz_http.c - libFuzzer target for the HTTP request parser, the head
 * checks and path normalisation (http.c), without sockets.
 *
 * Byte 0 sets the chunk size (1..256); the rest is a connection's input,
 * fed in chunks.  Each complete head is checked; a request that passes
 * has its body skipped (Content-Length bytes) and parsing goes on with the
 * next request, as on a keep-alive connection.  Properties checked:
 *   - the parser never takes more than it was given, and takes nothing
 *     once it has a head or an error;
 *   - errors are 400, 414 or 431; head checks give 0 or a known status;
 *   - a normalised path starts with '/', has no "//", "/./", "/../",
 *     no control characters, and is valid UTF-8;
 *   - normalising again after re-encoding each segment gives the same path.
 *
 *   tests/fuzz.sh http     (or by hand:)
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Imodules \
 *       -Ivendor/bearssl-0.6/inc tests/fuzz/fuzz_http.c <the library> ...
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static void
check_path(const char *p)
{
	size_t n = strlen(p);
	char enc[3 * HTTP_MAX_REQUEST_LINE + 1], again[HTTP_MAX_REQUEST_LINE];
	size_t o = 0;

	if (strcmp(p, "*") == 0)
		return;
	check(n > 0 && p[0] == '/');
	check(strstr(p, "//") == NULL);
	check(strstr(p, "/./") == NULL && strstr(p, "/../") == NULL);
	check(!(n >= 3 && strcmp(p + n - 3, "/..") == 0));
	for (size_t i = 0; i < n; i++)
		check((unsigned char)p[i] >= 0x20 && p[i] != 0x7f && p[i] != '\\');
	check(utf8_is_valid(p, n));
	/* Re-encode segment by segment: the same path must come back. */
	for (const char *s = p; *s != '\0';) {
		const char *e;
		char seg[HTTP_MAX_REQUEST_LINE];
		size_t l;
		enc[o++] = '/';
		s++;
		e = strchr(s, '/');
		l = e != NULL ? (size_t)(e - s) : strlen(s);
		memcpy(seg, s, l);
		seg[l] = '\0';
		check(http_path_encode(seg, enc + o, sizeof enc - o) == 0);
		o += strlen(enc + o);
		s += l;
	}
	enc[o] = '\0';
	check(http_path_normalize(enc, o, again, sizeof again) == 0);
	check(strcmp(again, p) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_parser p;
	static struct http_head h;
	static const int ok_status[] = { 0, 400, 411, 413, 417, 501, 505 };
	size_t chunk, off = 1;
	uint64_t skip = 0;
	enum http_parse ev = HTTP_PARSE_MORE;
	char out[HTTP_MAX_REQUEST_LINE];

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] + 1;
	/* The whole input as a path, too. */
	if (size > 1 && data[1] == '/' &&
	    http_path_normalize((const char *)data + 1, size - 1, out,
	    sizeof out) == 0)
		check_path(out);
	http_parser_reset(&p);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk, took;
		if (skip > 0) {
			size_t s = skip < n ? (size_t)skip : n;
			skip -= s;
			off += s;
			continue;
		}
		took = http_parser_feed(&p, (const char *)data + off, n, &ev);
		check(took <= n);
		off += took;
		if (ev == HTTP_PARSE_ERROR) {
			check(p.status == 400 || p.status == 414 || p.status == 431);
			check(http_parser_feed(&p, "x", 1, &ev) == 0);
			break;
		}
		if (ev == HTTP_PARSE_HEAD) {
			int st = http_head_check(&p, &h), known = 0;
			check(http_parser_feed(&p, "x", 1, &ev) == 0);
			for (size_t i = 0; i < sizeof ok_status / sizeof ok_status[0]; i++)
				known |= st == ok_status[i];
			check(known);
			if (st != 0)
				break;
			check_path(h.path);
			check(strlen(h.host) <= HTTP_MAX_HOST);
			skip = h.content_length;
			http_parser_reset(&p);
		} else
			check(took == n);
	}
	return 0;
}
