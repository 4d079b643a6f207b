/*
 * router.h - the core's side of routing: binding sessions to the routing
 * table and taking stanzas from local clients.  Modules use module.h.
 */
#ifndef XMPPD_ROUTER_H
#define XMPPD_ROUTER_H

#include "modules/module.h"

/* The stream layer behind a session. */
struct session_ops {
	void	(*send)(void *stream, const struct xml_node *);
	/* Kick: close with this stream error condition. */
	void	(*kick)(void *stream, const char *condition, const char *text);
};

/*
 * Bind host/local/resource for a stream.  resource NULL or "" makes one up.
 * On a conflict the older session is kicked (RFC 6120 section 7.7.2.2).
 * Returns NULL with *err set (ERR_RESOURCE_CONSTRAINT over max_resources,
 * ERR_BAD_REQUEST for a bad resource).
 */
struct session *session_bind(const char *host, const char *local,
	    const char *resource, const struct session_ops *, void *stream,
	    enum stanza_error *err);
/* Unbind: the session is gone from the tables and freed. */
void	 session_unbind(struct session *);
/* A stanza from a bound client: from is already stamped. */
void	 router_from_client(struct session *, struct xml_node *);
size_t	 router_session_count(void);
/* Kick every session of an account (deleted account). */
void	 router_kick_user(const char *bare, const char *condition, const char *text);
/* End the sessions of accounts deleted from outside (each few seconds). */
void	 router_sweep_deleted(void);
/* Call fn for every session (shutdown, admin listings). */
void	 router_each_session(void (*fn)(struct session *, void *), void *arg);

#endif
