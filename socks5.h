/*
 * socks5.h - the SOCKS5 side of the XEP-0065 bytestream proxy
 * (proxy65_ports): handshakes, pairing by hash, and the relay once the
 * proxy65 module has activated a pair over XMPP.
 */
#ifndef XMPPD_SOCKS5_H
#define XMPPD_SOCKS5_H

#include <sys/socket.h>

#define SOCKS5_HASH_LEN	40	/* hex SHA-1 of SID + requester + target */

/* A connection accepted on a proxy65_ports port (an accept_fn). */
void	 socks5_accept(int fd, const struct sockaddr *, socklen_t, void *arg);
/*
 * Start relaying the two connections that asked for hash (lower-case
 * hex): 0, 1 if only one side is connected, -1 if none is (or the pair
 * already runs).
 */
int	 socks5_activate(const char *hash);
/* Shutdown: close every SOCKS5 connection. */
void	 socks5_stop(void);

#endif
