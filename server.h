/*
 * server.h - the running server: config, certificates per host,
 * listeners, signals, reload and shutdown.
 */
#ifndef XMPPD_SERVER_H
#define XMPPD_SERVER_H

#include "config.h"

struct tls_creds;

/* Run until TERM/INT; takes ownership of cfg.  Returns the exit status. */
int	 server_run(struct config *cfg, const char *config_path);
/* Write a newline to fd once listening (s6 notification-fd); -1: none. */
void	 server_set_ready_fd(int fd);
/* Credentials for a host (borrowed), or the default ones. */
struct tls_creds *server_creds(const char *host);
/* True while shutting down. */
int	 server_is_stopping(void);

#endif
