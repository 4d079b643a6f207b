/*
 * fuzz_ws.c - libFuzzer target for the WebSocket frame decoder (ws.c).
 *
 * The input is a client's byte stream.  It is decoded twice, in one piece
 * and split at every byte: both runs must report the same events with the
 * same payloads and stop at the same place (the decoder is push-based
 * like the XML tokenizer), a message never exceeds its bound, and a
 * control payload never exceeds 125 bytes.
 *
 *   tests/fuzz.sh builds it; by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ivendor/bearssl-0.6/inc \
 *       tests/fuzz/fuzz_ws.c ws.c util.c log.c build/san/libbearssl.a -o fuzz_ws
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_MESSAGE	4096
#define MAX_EVENTS	256

struct run {
	int	 ev[MAX_EVENTS];
	size_t	 len[MAX_EVENTS];
	uint32_t sum[MAX_EVENTS];	/* a checksum of each payload */
	size_t	 n;
	size_t	 used;			/* bytes taken before an error */
};

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static void
record(struct run *r, struct ws *w, enum ws_event ev)
{
	size_t len, i;
	const char *m;
	uint32_t s = 0;

	if (ev == WS_EV_NONE || r->n == MAX_EVENTS)
		return;
	m = ws_message(w, &len);
	if (ev == WS_EV_ERROR || ev == WS_EV_CLOSE)
		len = 0, s = (uint32_t)ws_close_code(w);
	check(ev == WS_EV_TEXT ? len <= MAX_MESSAGE : len <= WS_CONTROL_MAX);
	for (i = 0; i < len; i++)
		s = s * 31 + (unsigned char)m[i];
	r->ev[r->n] = ev;
	r->len[r->n] = len;
	r->sum[r->n++] = s;
}

/* Decode data fed step bytes at a time (0: all at once). */
static void
decode(const uint8_t *data, size_t size, size_t step, struct run *r)
{
	struct ws w;
	size_t off = 0;

	memset(r, 0, sizeof *r);
	ws_init(&w, MAX_MESSAGE);
	while (off < size) {
		size_t chunk = step == 0 || size - off < step ? size - off : step;
		const char *p = (const char *)data + off;
		while (chunk > 0) {
			enum ws_event ev;
			size_t k = ws_feed(&w, p, chunk, &ev);
			check(k <= chunk);
			record(r, &w, ev);
			p += k;
			chunk -= k;
			off += k;
			if (ev == WS_EV_ERROR)
				goto out;
			check(k > 0 || ev != WS_EV_NONE);
		}
	}
out:
	r->used = off;
	ws_free(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, bytes;

	decode(data, size, 0, &whole);
	decode(data, size, 1, &bytes);
	check(whole.n == bytes.n && whole.used == bytes.used);
	for (size_t i = 0; i < whole.n; i++)
		check(whole.ev[i] == bytes.ev[i] && whole.len[i] == bytes.len[i] &&
		    whole.sum[i] == bytes.sum[i]);
	return 0;
}
