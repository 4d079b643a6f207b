/*
 * ws.c - WebSocket frames (RFC 6455 5) and the handshake key (4.2.2).
 */
#include <string.h>

#include "bearssl_hash.h"
#include "ws.h"

enum { ST_HEAD, ST_PAYLOAD, ST_FAILED };

#define WS_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void
ws_init(struct ws *w, size_t max_message)
{
	memset(w, 0, sizeof *w);
	w->hneed = 2;
	buf_init(&w->msg, max_message);
}

void
ws_free(struct ws *w)
{
	buf_free(&w->msg);
}

static size_t
fail(struct ws *w, int code, const char *why, enum ws_event *ev)
{
	w->state = ST_FAILED;
	w->close_code = code;
	w->error = why;
	*ev = WS_EV_ERROR;
	return 0;
}

/*
 * The first two header bytes are in: check what they say and work out
 * how long the whole header is.  0, or -1 after fail().
 */
static int
check_start(struct ws *w, enum ws_event *ev)
{
	unsigned b0 = w->hdr[0], b1 = w->hdr[1], len7 = b1 & 0x7f;

	w->fin = (b0 & 0x80) != 0;
	w->opcode = b0 & 0x0f;
	if (b0 & 0x70)
		return fail(w, WS_CLOSE_PROTOCOL, "reserved bits set", ev), -1;
	if (!(b1 & 0x80))
		return fail(w, WS_CLOSE_PROTOCOL, "client frame not masked", ev), -1;
	switch (w->opcode) {
	case 0:
		if (!w->in_message)
			return fail(w, WS_CLOSE_PROTOCOL,
			    "continuation without a message", ev), -1;
		break;
	case WS_OP_TEXT:
		if (w->in_message)
			return fail(w, WS_CLOSE_PROTOCOL,
			    "new message inside a fragmented one", ev), -1;
		buf_reset(&w->msg);
		break;
	case 2:
		return fail(w, WS_CLOSE_UNSUPPORTED,
		    "binary frame (XMPP uses text)", ev), -1;
	case WS_OP_CLOSE: case WS_OP_PING: case WS_OP_PONG:
		if (!w->fin || len7 > WS_CONTROL_MAX)
			return fail(w, WS_CLOSE_PROTOCOL,
			    "fragmented or long control frame", ev), -1;
		w->ctl_len = 0;
		break;
	default:
		return fail(w, WS_CLOSE_PROTOCOL, "unknown opcode", ev), -1;
	}
	w->hneed = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
	return 0;
}

/* The whole header is in: length and mask.  0, or -1 after fail(). */
static int
check_header(struct ws *w, enum ws_event *ev)
{
	unsigned len7 = w->hdr[1] & 0x7f;
	unsigned long long len = len7;
	size_t i, n = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;

	if (n > 0)
		for (len = 0, i = 0; i < n; i++)
			len = len << 8 | w->hdr[2 + i];
	if (len >> 63)
		return fail(w, WS_CLOSE_PROTOCOL, "frame length out of range",
		    ev), -1;
	memcpy(w->mask, w->hdr + 2 + n, 4);
	if (!(w->opcode & 8) && len > w->msg.max - buf_used(&w->msg))
		return fail(w, WS_CLOSE_TOO_BIG, "message too big", ev), -1;
	w->left = len;
	w->done = 0;
	return 0;
}

/* A frame is complete: what it means. */
static enum ws_event
frame_done(struct ws *w, enum ws_event *ev)
{
	w->state = ST_HEAD;
	w->hlen = 0;
	w->hneed = 2;
	switch (w->opcode) {
	case WS_OP_PING:
		return *ev = WS_EV_PING;
	case WS_OP_PONG:
		return *ev = WS_EV_PONG;
	case WS_OP_CLOSE:
		if (w->ctl_len == 1) {
			fail(w, WS_CLOSE_PROTOCOL, "one-byte close payload", ev);
			return *ev;
		}
		w->close_code = w->ctl_len == 0 ? 1005 :
		    w->ctl[0] << 8 | w->ctl[1];
		return *ev = WS_EV_CLOSE;
	default:
		w->in_message = !w->fin;
		return *ev = w->fin ? WS_EV_TEXT : WS_EV_NONE;
	}
}

size_t
ws_feed(struct ws *w, const char *data, size_t n, enum ws_event *ev)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t i = 0;

	*ev = WS_EV_NONE;
	/* A big message is done: idle sessions keep no big buffer. */
	if (!w->in_message && w->msg.cap > 16384)
		buf_free(&w->msg);
	if (w->state == ST_FAILED) {
		*ev = WS_EV_ERROR;
		return 0;
	}
	while (i < n || (w->state == ST_PAYLOAD && w->left == 0)) {
		if (w->state == ST_HEAD) {
			w->hdr[w->hlen++] = p[i++];
			if (w->hlen == 2 && check_start(w, ev) == -1)
				return i;
			if (w->hlen < w->hneed)
				continue;
			if (check_header(w, ev) == -1)
				return i;
			w->state = ST_PAYLOAD;
			continue;
		}
		if (w->left == 0) {
			if (frame_done(w, ev) != WS_EV_NONE)
				return i;
			continue;
		}
		{
			size_t take = n - i < w->left ? n - i : (size_t)w->left;
			char chunk[512];

			if (take > sizeof chunk)
				take = sizeof chunk;
			for (size_t k = 0; k < take; k++)
				chunk[k] = (char)(p[i + k] ^ w->mask[(w->done + k) & 3]);
			if (w->opcode & 8)
				memcpy(w->ctl + w->done, chunk, take);
			else if (buf_add(&w->msg, chunk, take) == -1)
				return fail(w, WS_CLOSE_TOO_BIG, "message too big",
				    ev) + i;
			w->done += take;
			w->ctl_len = w->done;
			w->left -= take;
			i += take;
		}
	}
	return i;
}

const char *
ws_message(const struct ws *w, size_t *len)
{
	if (w->opcode & 8) {
		size_t skip = w->opcode == WS_OP_CLOSE && w->ctl_len >= 2 ? 2 : 0;
		*len = w->ctl_len - skip;
		return (const char *)w->ctl + skip;
	}
	*len = buf_used(&w->msg);
	return buf_head(&w->msg);
}

int
ws_close_code(const struct ws *w)
{
	return w->close_code;
}

int
ws_frame(struct buf *out, int opcode, const void *data, size_t len)
{
	unsigned char h[10];
	size_t hl = 2, before = buf_used(out);

	h[0] = (unsigned char)(0x80 | opcode);
	if (len < 126)
		h[1] = (unsigned char)len;
	else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int k = 0; k < 8; k++)
			h[2 + k] = (unsigned char)((unsigned long long)len >> (56 - 8 * k));
		hl = 10;
	}
	if (buf_add(out, h, hl) == -1)
		return -1;
	if (len > 0 && buf_add(out, data, len) == -1) {
		out->len = out->off + before;	/* nothing half-written */
		return -1;
	}
	return 0;
}

int
ws_close_frame(struct buf *out, int code)
{
	unsigned char c[2] = { (unsigned char)(code >> 8), (unsigned char)code };

	return ws_frame(out, WS_OP_CLOSE, c, sizeof c);
}

int
ws_accept_key(const char *key, char out[29])
{
	unsigned char raw[18], md[br_sha1_SIZE];
	br_sha1_context h;

	if (strlen(key) != 24 || b64_decode(key, 24, raw, sizeof raw) != 16)
		return -1;
	br_sha1_init(&h);
	br_sha1_update(&h, key, 24);
	br_sha1_update(&h, WS_GUID, sizeof WS_GUID - 1);
	br_sha1_out(&h, md);
	return b64_encode(md, sizeof md, out, 29) == 28 ? 0 : -1;
}
