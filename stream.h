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
/* Shutdown: every stream gets system-shutdown and is closed. */
void	 c2s_shutdown_all(void);
/* Sessions waiting for XEP-0198 resumption that waited too long. */
void	 c2s_tick(int64_t now_ms);

#endif
