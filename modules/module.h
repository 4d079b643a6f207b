/*
 * module.h - everything a module may see: stanzas (xml.h), JIDs, storage,
 * the config, sessions as read-only records, routing, and its descriptor.
 * A module never sees connections, fds, TLS or the loop.
 */
#ifndef XMPPD_MODULE_H
#define XMPPD_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "jid.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "xml.h"

/* ---- stanza errors (RFC 6120 section 8.3.3) ---- */
enum stanza_error {
	ERR_NONE = 0,
	ERR_BAD_REQUEST,
	ERR_CONFLICT,
	ERR_FEATURE_NOT_IMPLEMENTED,
	ERR_FORBIDDEN,
	ERR_GONE,
	ERR_INTERNAL_SERVER_ERROR,
	ERR_ITEM_NOT_FOUND,
	ERR_JID_MALFORMED,
	ERR_NOT_ACCEPTABLE,
	ERR_NOT_ALLOWED,
	ERR_NOT_AUTHORIZED,
	ERR_POLICY_VIOLATION,
	ERR_RECIPIENT_UNAVAILABLE,
	ERR_REDIRECT,
	ERR_REGISTRATION_REQUIRED,
	ERR_REMOTE_SERVER_NOT_FOUND,
	ERR_REMOTE_SERVER_TIMEOUT,
	ERR_RESOURCE_CONSTRAINT,
	ERR_SERVICE_UNAVAILABLE,
	ERR_SUBSCRIPTION_REQUIRED,
	ERR_UNDEFINED_CONDITION,
	ERR_UNEXPECTED_REQUEST,
	ERR_COUNT
};
const char *stanza_error_name(enum stanza_error);
const char *stanza_error_type(enum stanza_error);	/* cancel, modify, auth, wait */

/* ---- sessions and accounts ---- */

struct user;

/* A bound resource of a local account.  Owned by router.c; modules read
 * the fields and use the functions below. */
struct session {
	uint64_t	 id;		/* never reused */
	char		 full[JID_MAX + 1];
	char		 bare[JID_MAX + 1];
	const char	*local, *host, *resource;	/* point into jid */
	struct jid	*jid;
	int		 priority;
	int		 available;	/* initial presence sent, not yet unavailable */
	int		 detached;	/* connection lost, waiting for resumption */
	int		 interested;	/* has requested the roster */
	struct xml_node	*presence;	/* last available presence (own arena) */
	struct strlist	 directed;	/* full/bare JIDs sent directed presence */
	struct user	*user;
	struct session	*next;		/* next session of the same account */
	int64_t		 started;	/* wall clock */
	void		*stream;	/* the c2s stream: router.c's business */
};

struct user {
	char		 bare[JID_MAX + 1];
	char		 local[JID_PART_MAX + 1];	/* own copies: sessions come */
	char		 host[JID_PART_MAX + 1];	/* and go, the user stays */
	struct session	*sessions;
	unsigned	 nsessions;
	struct user	*hnext;		/* hash chain */
};

struct user	*user_find(const char *bare);
struct session	*session_find(const char *full);
/* Send a stanza (serialized for jabber:client) to one session, through
 * the modules' session filters. */
void	 session_send(struct session *, const struct xml_node *);
/* Write it now, past the filters (for the module that held it). */
void	 session_deliver(struct session *, const struct xml_node *);

/* Accounts (account.h): exists, create, set password, delete.  Deleting
 * also ends the account's sessions. */
#include "account.h"
/* Call fn for every bound session on this server. */
void	 sessions_each(void (*fn)(struct session *, void *), void *arg);
size_t	 sessions_count(void);
/* Ask for a configuration reload (as SIGHUP does), after this pass. */
void	 server_request_reload(void);
int	 host_is_local(const char *domain);
const struct config *server_config(void);
int64_t	 server_start_time(void);

/* ---- routing ---- */

/*
 * Route a stanza by its 'to' (from must be set and trusted).  The stanza is
 * borrowed: routing copies or serializes what it keeps.
 */
void	 route(struct xml_node *);
/* Deliver to a local account by the default rules, past the modules'
 * inbound hooks (for a module that has handled its part). */
void	 route_local_default(struct xml_node *, const struct jid *to);
/* Bounce an error for a stanza back to its sender (never for errors). */
void	 route_error(const struct xml_node *orig, enum stanza_error, const char *text);

/* ---- IQ handling ---- */

enum { IQ_GET = 1, IQ_SET = 2 };
/* Where an IQ handler answers. */
enum {
	IQ_TO_SERVER = 1,	/* to the host (or absent 'to' if no account handler) */
	IQ_TO_SELF = 2,		/* to the sender's own bare JID, or absent 'to' */
	IQ_TO_CONTACT = 4,	/* to another account's bare JID, on its behalf */
	IQ_PREAUTH = 8		/* on a TLS stream before authentication */
};

struct iq_req {
	struct xml_node	*iq;		/* borrowed */
	struct xml_node	*payload;	/* the one child element */
	int		 type;		/* IQ_GET or IQ_SET */
	int		 where;
	const char	*id;
	struct jid	 from;		/* normalised */
	const char	*from_str;	/* as stamped */
	struct jid	 to;		/* host, or bare account JID */
	const char	*to_str;	/* what to answer from */
	struct session	*sess;		/* the asking local session, or NULL */
	/* Before authentication (IQ_PREAUTH handlers only): no JIDs; the
	 * reply goes straight back on the stream. */
	int		 preauth;
	const char	*peer_ip;	/* the client's address, if c2s */
	const char	*host;		/* the host the stream is for */
	void		(*reply_fn)(const struct iq_req *, struct xml_node *);
	void		*reply_ctx;
};

struct iq_handler {
	const char	*name;		/* payload element name, NULL = any */
	const char	*ns;
	int		 types;
	int		 where;
	/* Return ERR_NONE after sending a reply with iq_reply(), or an error
	 * the core sends for you. */
	enum stanza_error (*fn)(struct iq_req *);
};

/* An empty result for r in a new arena; add children, then iq_reply(). */
struct xml_node *iq_result(const struct iq_req *);
/* Send and free a reply made by iq_result(). */
void	 iq_reply(const struct iq_req *, struct xml_node *reply);
/* Reply with an error (the core does this for a handler's return value;
 * handlers that have already sent partial replies may call it). */
void	 iq_error(const struct iq_req *, enum stanza_error, const char *text);
/* Reply with an empty result. */
enum stanza_error iq_ok(const struct iq_req *);

/* ---- the module descriptor ---- */

struct module {
	const char	*name;		/* Prosody's name for it */
	int		 always;	/* on whatever `modules =` says */
	const char *const *features;	/* disco#info vars, NULL-terminated */
	const struct iq_handler *iq;	/* NULL-terminated by fn == NULL */

	int	(*init)(void);		/* after config load; -1 stops start-up */
	/* A stanza from a local client, from already stamped; 1 = consumed. */
	int	(*outbound)(struct session *, struct xml_node *);
	/* A stanza for a local account or one of its resources; 1 = consumed. */
	int	(*inbound)(struct xml_node *, const struct jid *to);
	/* A message no resource can take; 1 = stored, 0 = not mine. */
	int	(*offline)(struct xml_node *, const struct jid *to,
		    enum stanza_error *err);
	/* A message was handed to these sessions of one account (after
	 * routing; carbons, archives).  n >= 1. */
	void	(*message_delivered)(const struct xml_node *msg,
		    struct session *const *to, size_t n);
	/* Everything session_send() is about to write to a session passes
	 * here first; 1 = the module took it (e.g. holds it while the client
	 * is inactive) and sends it later with session_deliver(). */
	int	(*session_filter)(struct session *, const struct xml_node *);
	void	(*session_bound)(struct session *);
	/* A session came back on a new connection (XEP-0198 resumption). */
	void	(*session_resumed)(struct session *);
	void	(*session_available)(struct session *);	/* initial presence */
	void	(*session_end)(struct session *);	/* still in the tables */
	void	(*account_deleted)(const char *host, const char *local);
	/* Extra stream features after bind (e.g. rosterver). */
	void	(*stream_features)(struct xml_node *features);
	/* Extra stream features before authentication, on TLS streams. */
	void	(*preauth_features)(struct xml_node *features, const char *host);
	/* disco#items / disco#info on the server JID for a node (NULL: the
	 * top level): add items / identities and features to query.  For a
	 * node, return 1 if this module owns it (the disco module answers
	 * item-not-found when nobody does), or -ERR_x to answer that error
	 * (e.g. -ERR_FORBIDDEN); for NULL the return is ignored.
	 * The disco module calls these for every enabled module. */
	int	(*disco_items)(const struct iq_req *, const char *node,
		    struct xml_node *query);
	int	(*disco_info)(const struct iq_req *, const char *node,
		    struct xml_node *query);
	/* Every stanza route() is about to deliver (local or not), after
	 * 'to' was parsed; 1 = drop it (the module answers if it must). */
	int	(*route_filter)(struct xml_node *, const struct jid *to);
	/* disco on an account's bare JID (asked by someone allowed to see
	 * it): add identities/features (node NULL) or answer a node, as
	 * disco_info/disco_items do for the server. */
	int	(*account_info)(const struct iq_req *, const char *node,
		    struct xml_node *query);
	int	(*account_items)(const struct iq_req *, const char *node,
		    struct xml_node *query);
	/* A top-level element on a bound client stream that is not a stanza
	 * (CSI's <active/>, ...); 1 = handled (else: stream error). */
	int	(*stream_element)(struct session *, struct xml_node *);
	/* An IQ result or error addressed to the server or to an account's
	 * bare JID (answers to queries a module sent); 1 = consumed. */
	int	(*iq_response)(struct xml_node *, const struct jid *to);
	/* About once a second. */
	void	(*tick)(int64_t now_ms);
	/* Services on their own domains (group chat at conference.HOST):
	 * does this module serve domain?  Then every stanza for it goes to
	 * component_route() instead of the account rules. */
	int	(*serves_domain)(const char *domain);
	void	(*component_route)(struct xml_node *, const struct jid *to);
	/* An account was created by this process (registration, admin). */
	void	(*account_created)(const char *host, const char *local);
	/* Shutdown has begun: the listeners are closed and the streams are
	 * about to be; a last word to the clients goes out now. */
	void	(*stopping)(void);
	/* The server is stopping (after the last connection closed). */
	void	(*fini)(void);
	/* Is key = value valid in the module's [NAME] section?  0, or -1 with
	 * a reason.  Read values with config_module_opt(). */
	int	(*config_check)(const char *key, const char *value, char *err,
		    size_t errlen);
};

/* modules.c */
int	 module_name_known(const char *);
const char *module_names(void);
int	 modules_init(void);
int	 module_enabled(const struct module *);
const struct module *const *modules_all(void);
/* Dispatch an IQ get/set addressed as r says; sends exactly one reply. */
void	 modules_dispatch_iq(struct iq_req *);
/* Does an enabled module answer IQs in ns before authentication? */
int	 modules_handle_preauth(const char *ns);
/* Collect disco#info features of the enabled modules. */
void	 modules_add_features(struct xml_node *query);

#endif
