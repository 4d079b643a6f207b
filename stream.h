/*
 * stream.h - the client-to-server stream (RFC 6120 sections 4-7):
 * header, features, STARTTLS, SASL, resource binding, stream errors,
 * then stanzas to the router.
 */
#ifndef XMPPD_STREAM_H
#define XMPPD_STREAM_H

#include <sys/socket.h>
#include <stdint.h>

/* A new c2s connection accepted on fd; direct_tls for XEP-0368 ports. */
void	 c2s_accept(int fd, const struct sockaddr *, socklen_t, int direct_tls);
/*
 * XMPP over WebSocket (RFC 7395): answer rq (a checked upgrade request)
 * with 101 and run a c2s stream on its connection.  secure: the client
 * reached us over TLS (directly or through a trusted front end), so
 * authentication may go ahead without STARTTLS, which is not offered.
 */
struct http_request;
void	 c2s_websocket(struct http_request *rq, int secure);
/*
 * BOSH (XEP-0206): a c2s stream on a virtual connection whose output
 * drain() hands to HTTP responses; what it writes are standalone
 * elements, and its end is the connection closing.  The caller starts
 * and restarts the stream with c2s_bosh_open() and feeds it whole
 * elements (a body's children) with c2s_bosh_input(); the client ends it
 * with "</stream:stream>" as input.
 */
struct conn *c2s_bosh_new(const char *client_ip, int secure,
	    void (*drain)(struct conn *), void *drain_arg);
void	 c2s_bosh_open(struct conn *, const char *to, const char *version);
void	 c2s_bosh_input(struct conn *, const char *, size_t);
/* Shutdown: every stream gets system-shutdown and is closed. */
void	 c2s_shutdown_all(void);
struct conn;
/* Write a stream error (RFC 6120 4.9) after the header, the close tag, a
 * log line ("what COND: text"), and close the connection. */
void	 stream_error_close(struct conn *, const char *cond, const char *text,
	    const char *what);
/* Sessions waiting for XEP-0198 resumption that waited too long. */
void	 c2s_tick(int64_t now_ms);

#endif
