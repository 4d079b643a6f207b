/*
 * ws.h - the WebSocket protocol (RFC 6455) as a codec: the opening
 * handshake's accept key, incoming frames decoded into whole messages,
 * outgoing frames.  No I/O and nothing XMPP-specific: stream.c carries
 * XMPP over it (RFC 7395), modules/websocket.c does the HTTP upgrade.
 */
#ifndef XMPPD_WS_H
#define XMPPD_WS_H

#include <stddef.h>

#include "util.h"

#define WS_CONTROL_MAX	125	/* payload bytes of a control frame */

enum ws_event {
	WS_EV_NONE,		/* everything taken: feed more */
	WS_EV_TEXT,		/* a whole text message: ws_message() */
	WS_EV_PING,		/* answer with a pong carrying ws_message() */
	WS_EV_PONG,
	WS_EV_CLOSE,		/* the peer closes: ws_close_code() */
	WS_EV_ERROR		/* fail the connection with ws_close_code() */
};

/* Close codes (RFC 6455 7.4.1) we send. */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_TOO_BIG	1009

struct ws {
	int		 state;		/* where in a frame header we are */
	unsigned char	 hdr[14];	/* the header bytes so far */
	size_t		 hlen, hneed;
	int		 opcode;	/* of the current frame */
	int		 fin;
	unsigned char	 mask[4];
	unsigned long long left;	/* payload bytes still to come */
	size_t		 done;		/* payload bytes of this frame so far */
	int		 in_message;	/* a fragmented text message is open */
	struct buf	 msg;		/* the message being assembled */
	unsigned char	 ctl[WS_CONTROL_MAX];	/* a control frame's payload */
	size_t		 ctl_len;
	int		 close_code;
	const char	*error;		/* after WS_EV_ERROR: why, for the log */
};

/* max_message bounds one (reassembled) message; over it: 1009. */
void	 ws_init(struct ws *, size_t max_message);
void	 ws_free(struct ws *);
/*
 * Feed bytes from the peer (a client: every frame must be masked).
 * Returns how many were taken, up to and including the byte that
 * completed the event in *ev; after WS_EV_ERROR nothing more is taken.
 */
size_t	 ws_feed(struct ws *, const char *, size_t, enum ws_event *ev);
/* After WS_EV_TEXT, WS_EV_PING, WS_EV_PONG, WS_EV_CLOSE: the payload
 * (a close frame's reason, without the code).  Valid until the next feed. */
const char *ws_message(const struct ws *, size_t *len);
/* After WS_EV_CLOSE: the peer's code (1005 if none); after WS_EV_ERROR:
 * the code to close with. */
int	 ws_close_code(const struct ws *);

/* Append one unmasked final frame (a server's) to out: 0, or -1 if out
 * has no room (out unchanged). */
int	 ws_frame(struct buf *out, int opcode, const void *, size_t);
#define WS_OP_TEXT	1
#define WS_OP_CLOSE	8
#define WS_OP_PING	9
#define WS_OP_PONG	10
/* A close frame with a code. */
int	 ws_close_frame(struct buf *out, int code);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: 0, or -1 if the key is
 * not the base64 of 16 bytes.  out holds 29 bytes. */
int	 ws_accept_key(const char *key, char out[29]);

#endif
