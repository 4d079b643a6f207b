/*
 * config.h - the INI configuration (sample.ini documents every key).
 * Parsed with inih into a new struct config, validated whole, then swapped
 * in; a bad file never replaces a good one.
 */
#ifndef XMPPD_CONFIG_H
#define XMPPD_CONFIG_H

#include <stddef.h>
#include "log.h"

#define CONFIG_MAX_PORTS	16

struct strlist {
	char	**v;
	size_t	  n;
};

struct portlist {
	unsigned short	v[CONFIG_MAX_PORTS];
	size_t		n;
};

struct host_config {
	char		*name;		/* normalised domain */
	int		 enabled;
	char		*certificate;	/* NULL: use [tls] */
	char		*key;
	int		 allow_registration;	/* -1: as [server] */
	char		*muc;		/* group chat service domain, or NULL */
	char		*upload;	/* HTTP upload service domain, or NULL */
	char		*proxy65;	/* SOCKS5 bytestream proxy domain, or NULL */
	struct host_config *next;
};

/* [limits]: every bound a peer can push against. */
struct limits {
	size_t	max_stanza_size;	/* after authentication, bytes */
	size_t	max_stanza_size_preauth;
	unsigned max_depth;
	unsigned max_attrs;
	unsigned max_name;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned max_unauth_per_ip;
	unsigned auth_timeout;		/* seconds for TLS + SASL + bind */
	unsigned auth_attempts;		/* failed SASL attempts per connection */
	unsigned max_resources;		/* sessions per account */
	unsigned max_offline_messages;	/* per account */
	unsigned max_roster_items;
	size_t	output_high_water;	/* stop reading this connection */
	size_t	output_hard_limit;	/* close a slow recipient */
	unsigned idle_timeout;		/* seconds before a ping */
	unsigned ping_timeout;		/* seconds to answer it */
	unsigned shutdown_timeout;	/* seconds to flush on TERM */
	size_t	max_bytes_per_second;	/* read from one connection */
	unsigned auth_failures_per_ip;	/* per minute, then refused a while */
	unsigned s2s_timeout;		/* seconds to connect and authenticate */
	unsigned s2s_idle_timeout;	/* seconds before an unused s2s closes */
	unsigned s2s_queue;		/* stanzas waiting per remote domain */
};

struct config {
	char		*path;		/* the file this came from */

	/* [server] */
	struct strlist	 admins;	/* normalised bare JIDs */
	char		*data_path;	/* ~ and $HOME expanded */
	char		*log;		/* file, or NULL for stderr */
	enum log_level	 log_level;
	int		 log_timestamps;
	struct strlist	 interfaces;	/* "*" = all IPv4 and IPv6 */
	struct portlist	 c2s_ports;
	struct portlist	 c2s_direct_tls_ports;
	struct portlist	 s2s_ports;
	struct portlist	 s2s_direct_tls_ports;	/* XEP-0368 for servers */
	struct portlist	 http_ports;	/* plain HTTP (behind a front end) */
	struct portlist	 https_ports;	/* HTTP over TLS */
	struct portlist	 proxy65_ports;	/* SOCKS5 bytestream proxy */
	struct strlist	 http_trusted_proxies;	/* may set X-Forwarded-For */
	int		 c2s_require_encryption;
	int		 s2s_require_encryption;
	int		 s2s_secure_auth;	/* only certificate-authenticated peers */
	int		 allow_registration;
	char		*authentication;	/* "internal_hashed" */
	struct strlist	 modules;
	char		*motd;		/* NULL: none */
	char		*welcome_message;
	char		*pidfile;
	struct strlist	 dns_servers;	/* empty: /etc/resolv.conf */
	struct strlist	 sasl_mechanisms;	/* empty: all we know */

	/* [tls] */
	char		*certificate;
	char		*key;
	struct strlist	 ciphers;	/* suite names; empty: the defaults */
	struct strlist	 tls_options;
	char		*ca_file;	/* trust anchors for servers' certificates */
	size_t		 tls_session_cache;	/* bytes, 0: no resumption */

	struct limits	 limits;

	/* [MODULE] sections: settings each module checked itself */
	struct modopt {
		char	*module, *key, *value;
		int	 line;
	}		*modopts;
	size_t		 nmodopts;

	struct host_config *hosts;	/* in file order */
	size_t		 nhosts;
};

/*
 * Load and validate path.  On error returns -1 with err holding
 * "FILE:LINE: reason" (or "FILE: reason" when no line applies).
 */
int	 config_load(const char *path, struct config **out, char *err, size_t errlen);
void	 config_free(struct config *);

/* The enabled host with that (normalised) name, or NULL. */
const struct host_config *config_host(const struct config *, const char *domain);
int	 config_is_admin(const struct config *, const char *bare_jid);
int	 config_has_module(const struct config *, const char *name);
/* The host's allow_registration, else [server]'s; 0 for a domain not served. */
int	 config_allow_registration(const struct config *, const char *domain);

/* "~/x" and "$HOME/x" expanded; heap string, or NULL if HOME is unset. */
char	*config_expand_path(const char *);
/* The default config path: $XMPPD_CONFIG, else ~/etc/xmppd.ini. */
char	*config_default_path(void);

/* true/yes/on/1 or false/no/off/0 (any case): 0 with *out, or -1. */
int	 config_parse_bool(const char *, int *);
/* A size as in [limits]: decimal bytes, or a number with K or M (KiB,
 * MiB).  For modules' settings.  0, or -1 if it is not one. */
int	 config_parse_size(const char *, size_t *);
/* A module's size setting key = value within min..max: 0, or -1 with
 * the reason in err (for config_check hooks). */
int	 config_check_size(const char *key, const char *value, size_t min,
	    size_t max, char *err, size_t errlen);

/* A module's setting from its [MODULE] section, or NULL if not given. */
const char *config_module_opt(const struct config *, const char *module,
	    const char *key);

/* provided by modules/modules.c */
/* Is key = value valid in [module]?  0, or -1 with a reason in err. */
int	 module_config_check(const char *module, const char *key,
	    const char *value, char *err, size_t errlen);
int	 module_name_known(const char *);
const char *module_names(void);	/* space-separated, for error messages */

#endif
