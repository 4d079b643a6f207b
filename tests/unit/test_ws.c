/*
 * test_ws.c - the WebSocket codec: RFC 6455's examples, frames we write,
 * and the decoder on a masked, fragmented stream fed one byte at a time.
 */
#include <string.h>

#include "harness.h"
#include "ws.h"

/* A masked client frame into out: its length. */
static size_t
client_frame(unsigned char *out, int b0, const char *p, size_t n)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t h = 2;

	out[0] = (unsigned char)b0;
	if (n < 126)
		out[1] = (unsigned char)(0x80 | n);
	else {
		out[1] = 0x80 | 126;
		out[2] = (unsigned char)(n >> 8);
		out[3] = (unsigned char)n;
		h = 4;
	}
	memcpy(out + h, key, 4);
	for (size_t i = 0; i < n; i++)
		out[h + 4 + i] = (unsigned char)(p[i] ^ key[i & 3]);
	return h + 4 + n;
}

void
test_ws(void)
{
	char acc[29];
	struct buf b;
	struct ws w;
	unsigned char in[1024];
	size_t n = 0, len;
	enum ws_event ev;
	char big[300];

	/* RFC 6455 1.3 */
	T_EQ_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc), 0);
	T_EQ_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	T_EQ_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", acc), -1);
	T_EQ_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZXg=", acc), -1);

	/* RFC 6455 5.7: an unmasked "Hello"; 126 and 127 length forms. */
	buf_init(&b, 1 << 20);
	T_EQ_INT(ws_frame(&b, WS_OP_TEXT, "Hello", 5), 0);
	T_EQ_INT(buf_used(&b), 7);
	T_EQ_INT(memcmp(buf_head(&b), "\x81\x05Hello", 7), 0);
	buf_reset(&b);
	memset(big, 'x', sizeof big);
	T_EQ_INT(ws_frame(&b, WS_OP_TEXT, big, 256), 0);
	T_EQ_INT(memcmp(buf_head(&b), "\x81\x7e\x01\x00", 4), 0);
	buf_reset(&b);
	{
		static char huge[70000];
		T_EQ_INT(ws_frame(&b, WS_OP_TEXT, huge, sizeof huge), 0);
		T_EQ_INT(memcmp(buf_head(&b), "\x81\x7f\0\0\0\0\0\x01\x11\x70", 10), 0);
	}
	buf_free(&b);
	buf_init(&b, 8);		/* no room: nothing written */
	T_EQ_INT(ws_frame(&b, WS_OP_TEXT, "123456789", 9), -1);
	T_EQ_INT(buf_used(&b), 0);
	buf_free(&b);

	/* "Hel" + ping + "lo" + 200-byte text, one byte at a time. */
	n += client_frame(in + n, 0x01, "Hel", 3);
	n += client_frame(in + n, 0x89, "pp", 2);
	n += client_frame(in + n, 0x80, "lo", 2);
	n += client_frame(in + n, 0x81, big, 200);
	n += client_frame(in + n, 0x88, "\x03\xe9" "bye", 5);
	ws_init(&w, 256);
	{
		int k = 0;
		for (size_t i = 0; i < n; i++) {
			T_EQ_INT(ws_feed(&w, (const char *)in + i, 1, &ev), 1);
			if (ev == WS_EV_NONE)
				continue;
			const char *m = ws_message(&w, &len);
			if (k == 0)
				T_EXPECT(ev == WS_EV_PING && len == 2 &&
				    memcmp(m, "pp", 2) == 0, "ping");
			if (k == 1)
				T_EXPECT(ev == WS_EV_TEXT && len == 5 &&
				    memcmp(m, "Hello", 5) == 0, "Hello");
			if (k == 2)
				T_EXPECT(ev == WS_EV_TEXT && len == 200, "200");
			if (k == 3)
				T_EXPECT(ev == WS_EV_CLOSE && ws_close_code(&w) == 1001 &&
				    len == 3 && memcmp(m, "bye", 3) == 0, "close");
			k++;
		}
		T_EQ_INT(k, 4);
	}
	ws_free(&w);

	/* Over the bound: 1009 before the payload is read. */
	ws_init(&w, 100);
	n = client_frame(in, 0x81, big, 200);
	ws_feed(&w, (const char *)in, n, &ev);
	T_EQ_INT(ev, WS_EV_ERROR);
	T_EQ_INT(ws_close_code(&w), WS_CLOSE_TOO_BIG);
	T_EQ_INT(ws_feed(&w, (const char *)in, n, &ev), 0);	/* stays failed */
	T_EQ_INT(ev, WS_EV_ERROR);
	ws_free(&w);
}
