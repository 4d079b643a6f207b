/*
 * s2s.h - server-to-server streams (RFC 6120, XEP-0220 dialback,
 * XEP-0178 SASL EXTERNAL): outgoing routes to remote domains with queues,
 * and incoming streams whose domains are verified before their stanzas are
 * routed.
 */
#ifndef XMPPD_S2S_H
#define XMPPD_S2S_H

#include <sys/socket.h>
#include <stdint.h>

struct xml_node;
struct jid;

/* Start-up and reload: a fresh dialback secret once, trust anchors. */
int	 s2s_init(void);
/* An incoming connection on an s2s port. */
void	 s2s_accept(int fd, const struct sockaddr *, socklen_t, int direct_tls);
/* Send a stanza to a remote domain (queued until the route is up; bounced
 * with an error when it cannot be). */
void	 s2s_send(struct xml_node *, const struct jid *to);
void	 s2s_tick(int64_t now_ms);
void	 s2s_shutdown_all(void);
size_t	 s2s_count(void);

/* XEP-0185 dialback key (lower-case hex of HMAC-SHA256), for tests too. */
void	 s2s_dialback_key(const unsigned char *secret, size_t secret_len,
	    const char *receiving, const char *originating, const char *id,
	    char out[65]);

#endif
