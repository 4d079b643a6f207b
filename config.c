/*
 * config.c - sample.ini semantics on top of inih.
 *
 * The file is fed to inih through our own line reader, so that an
 * over-long line or a NUL byte is reported with its line number instead
 * of being cut or skipped silently.  Each key is parsed straight into a
 * fresh struct config; once the whole file is read the result is checked
 * as a whole (hosts, ports, certificates, limits that depend on each
 * other).  The first problem stops everything: one precise message is
 * more useful to an operator than a cascade of follow-on errors.
 *
 * Ranges chosen for [limits] (sample.ini documents the same):
 *   max_stanza_size          4K..16M            (default 256K)
 *   max_stanza_size_preauth  4K..16M, <= max_stanza_size (16K)
 *   max_depth                8..256             (32)
 *   max_attrs                8..512             (64)
 *   max_name                 32..1024           (256)
 *   max_connections          1..100000          (1024)
 *   max_connections_per_ip   1..100000, <= max_connections (16)
 *   max_unauth_per_ip        1..100000, <= max_connections_per_ip (4)
 *   auth_timeout             1..600 s           (30)
 *   auth_attempts            1..100             (5)
 *   max_resources            1..1000            (8)
 *   max_offline_messages     0..100000          (100; 0 keeps none)
 *   max_roster_items         1..100000          (1000)
 *   output_high_water        16K..256M          (512K)
 *   output_hard_limit        16K..1G, >= 2 * max_stanza_size and
 *                            >= output_high_water (1M)
 *   idle_timeout             10..86400 s        (300)
 *   ping_timeout             5..3600 s          (60)
 *   shutdown_timeout         1..300 s           (5)
 *   max_bytes_per_second     1K..1G             (256K)
 *   auth_failures_per_ip     1..100000 /min     (10)
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ini.h"

#include "config.h"
#include "dns.h"
#include "sasl.h"
#include "jid.h"
#include "log.h"
#include "tls.h"
#include "util.h"

/*
 * The reader and the handler below rely on how the Makefile configures
 * inih (handler with line numbers, stop at the first error, a call for
 * each section header, no multi-line values, no inline comments).
 */
#if !INI_HANDLER_LINENO || !INI_STOP_ON_FIRST_ERROR || \
    !INI_CALL_HANDLER_ON_NEW_SECTION || INI_ALLOW_MULTILINE || \
    INI_ALLOW_INLINE_COMMENTS || !INI_USE_STACK || INI_MAX_LINE != 1024
#error "config.c expects inih configured with the Makefile's INIFLAGS"
#endif

/* ini.c keeps section names in a 50-byte buffer and cuts them silently:
 * a name that fills it may have lost its end. */
#define INIH_SECTION_MAX	50

#define KIB	1024ULL
#define MIB	(1024ULL * 1024ULL)
#define GIB	(1024ULL * 1024ULL * 1024ULL)

#define MAXKEYS	26	/* keys in the largest section */

#define DEFAULT_DATA_PATH	"~/var/xmppd"
#define DEFAULT_AUTH		"internal_hashed"

enum section { SEC_NONE, SEC_SERVER, SEC_TLS, SEC_LIMITS, SEC_HOST, SEC_MODULE };

enum ktype {
	K_BOOL,		/* int: 1/0 */
	K_PATH,		/* char *: expanded, must not be empty */
	K_PATH_OPT,	/* char *: expanded, empty is NULL */
	K_TEXT,		/* char *: UTF-8 for stanzas, empty is NULL */
	K_LOGLEVEL,
	K_AUTH,
	K_ADMINS,
	K_IFACES,
	K_PORTS,
	K_MODULES,
	K_CIPHERS,
	K_TLSOPTS,
	K_DNS,		/* list of "ip", "ip:port" or "[ipv6]:port" */
	K_DOMAIN,	/* char *: a domain name, normalised */
	K_MECHS,	/* list of SASL mechanism names */
	K_UINT,		/* unsigned, decimal */
	K_SIZE		/* size_t, decimal with optional K or M */
};

struct key {
	const char		*name;
	enum ktype		 type;
	size_t			 off;	/* into the section's struct */
	unsigned long long	 min, max;
};

#define SRV(f)	offsetof(struct config, f)
#define LIM(f)	offsetof(struct limits, f)
#define HST(f)	offsetof(struct host_config, f)

static const struct key server_keys[] = {
	{ "admins",			K_ADMINS,	SRV(admins), 0, 0 },
	{ "data_path",			K_PATH,		SRV(data_path), 0, 0 },
	{ "log",			K_PATH_OPT,	SRV(log), 0, 0 },
	{ "log_level",			K_LOGLEVEL,	SRV(log_level), 0, 0 },
	{ "log_timestamps",		K_BOOL,		SRV(log_timestamps), 0, 0 },
	{ "interfaces",			K_IFACES,	SRV(interfaces), 0, 0 },
	{ "c2s_ports",			K_PORTS,	SRV(c2s_ports), 0, 0 },
	{ "c2s_direct_tls_ports",	K_PORTS,	SRV(c2s_direct_tls_ports), 0, 0 },
	{ "s2s_ports",			K_PORTS,	SRV(s2s_ports), 0, 0 },
	{ "s2s_direct_tls_ports",	K_PORTS,	SRV(s2s_direct_tls_ports), 0, 0 },
	{ "http_ports",			K_PORTS,	SRV(http_ports), 0, 0 },
	{ "https_ports",		K_PORTS,	SRV(https_ports), 0, 0 },
	{ "proxy65_ports",		K_PORTS,	SRV(proxy65_ports), 0, 0 },
	{ "http_trusted_proxies",	K_IFACES,	SRV(http_trusted_proxies), 0, 0 },
	{ "c2s_require_encryption",	K_BOOL,		SRV(c2s_require_encryption), 0, 0 },
	{ "s2s_require_encryption",	K_BOOL,		SRV(s2s_require_encryption), 0, 0 },
	{ "s2s_secure_auth",		K_BOOL,		SRV(s2s_secure_auth), 0, 0 },
	{ "allow_registration",		K_BOOL,		SRV(allow_registration), 0, 0 },
	{ "authentication",		K_AUTH,		SRV(authentication), 0, 0 },
	{ "modules",			K_MODULES,	SRV(modules), 0, 0 },
	{ "motd",			K_TEXT,		SRV(motd), 0, 0 },
	{ "welcome_message",		K_TEXT,		SRV(welcome_message), 0, 0 },
	{ "pidfile",			K_PATH_OPT,	SRV(pidfile), 0, 0 },
	{ "dns_servers",		K_DNS,		SRV(dns_servers), 0, 0 },
	{ "sasl_mechanisms",		K_MECHS,	SRV(sasl_mechanisms), 0, 0 },
};

static const struct key tls_keys[] = {
	{ "certificate",		K_PATH,		SRV(certificate), 0, 0 },
	{ "key",			K_PATH,		SRV(key), 0, 0 },
	{ "ciphers",			K_CIPHERS,	SRV(ciphers), 0, 0 },
	{ "options",			K_TLSOPTS,	SRV(tls_options), 0, 0 },
	{ "ca_file",			K_PATH_OPT,	SRV(ca_file), 0, 0 },
	{ "session_cache",		K_SIZE,		SRV(tls_session_cache), 0, 64 * MIB },
};

static const struct key limit_keys[] = {
	{ "max_stanza_size",		K_SIZE, LIM(max_stanza_size), 4 * KIB, 16 * MIB },
	{ "max_stanza_size_preauth",	K_SIZE, LIM(max_stanza_size_preauth), 4 * KIB, 16 * MIB },
	{ "max_depth",			K_UINT, LIM(max_depth), 8, 256 },
	{ "max_attrs",			K_UINT, LIM(max_attrs), 8, 512 },
	{ "max_name",			K_UINT, LIM(max_name), 32, 1024 },
	{ "max_connections",		K_UINT, LIM(max_connections), 1, 100000 },
	{ "max_connections_per_ip",	K_UINT, LIM(max_connections_per_ip), 1, 100000 },
	{ "max_unauth_per_ip",		K_UINT, LIM(max_unauth_per_ip), 1, 100000 },
	{ "auth_timeout",		K_UINT, LIM(auth_timeout), 1, 600 },
	{ "auth_attempts",		K_UINT, LIM(auth_attempts), 1, 100 },
	{ "max_resources",		K_UINT, LIM(max_resources), 1, 1000 },
	{ "max_offline_messages",	K_UINT, LIM(max_offline_messages), 0, 100000 },
	{ "max_roster_items",		K_UINT, LIM(max_roster_items), 1, 100000 },
	{ "output_high_water",		K_SIZE, LIM(output_high_water), 16 * KIB, 256 * MIB },
	{ "output_hard_limit",		K_SIZE, LIM(output_hard_limit), 16 * KIB, 1 * GIB },
	{ "idle_timeout",		K_UINT, LIM(idle_timeout), 10, 86400 },
	{ "ping_timeout",		K_UINT, LIM(ping_timeout), 5, 3600 },
	{ "shutdown_timeout",		K_UINT, LIM(shutdown_timeout), 1, 300 },
	{ "max_bytes_per_second",	K_SIZE, LIM(max_bytes_per_second), 1 * KIB, 1 * GIB },
	{ "auth_failures_per_ip",	K_UINT, LIM(auth_failures_per_ip), 1, 100000 },
	{ "s2s_timeout",		K_UINT, LIM(s2s_timeout), 1, 600 },
	{ "s2s_idle_timeout",		K_UINT, LIM(s2s_idle_timeout), 10, 86400 },
	{ "s2s_queue",			K_UINT, LIM(s2s_queue), 1, 100000 },
};

static const struct key host_keys[] = {
	{ "enabled",			K_BOOL,		HST(enabled), 0, 0 },
	{ "certificate",		K_PATH,		HST(certificate), 0, 0 },
	{ "key",			K_PATH,		HST(key), 0, 0 },
	{ "allow_registration",		K_BOOL,		HST(allow_registration), 0, 0 },
	{ "muc",			K_DOMAIN,	HST(muc), 0, 0 },
	{ "upload",			K_DOMAIN,	HST(upload), 0, 0 },
	{ "proxy65",			K_DOMAIN,	HST(proxy65), 0, 0 },
};

#define NKEYS(t)	(sizeof(t) / sizeof((t)[0]))
_Static_assert(NKEYS(server_keys) <= MAXKEYS, "MAXKEYS too small");
_Static_assert(NKEYS(tls_keys) <= MAXKEYS, "MAXKEYS too small");
_Static_assert(NKEYS(limit_keys) <= MAXKEYS, "MAXKEYS too small");
_Static_assert(NKEYS(host_keys) <= MAXKEYS, "MAXKEYS too small");

/* [tls] options: all name what BearSSL does anyway (no SSL 2/3, no
 * session tickets or compression, fresh (EC)DH keys, our suite order);
 * accepted so that a Prosody/OpenSSL option list carries over. */
static const char *const tls_option_names[] = {
	"no_sslv2", "no_sslv3", "no_ticket", "no_compression",
	"single_dh_use", "single_ecdh_use", "cipher_server_preference",
	"no_tlsv1", "no_tlsv1_1",
};

/* What we remember about a [host] section while parsing. */
struct hostmeta {
	int	line;
	int	seen[MAXKEYS];
};

enum rdstate { RD_OK, RD_LONG, RD_NUL, RD_IO, RD_MANY };

struct parse {
	struct config	*cfg;
	const char	*path;
	char		*err;
	size_t		 errlen;
	int		 failed;	/* err holds the message */

	/* the section being read */
	enum section	 sec;
	const struct key *keys;
	size_t		 nkeys;
	void		*base;		/* struct the keys' offsets apply to */
	int		*seen;		/* line of each key given, 0 if not */
	char		 secname[JID_PART_MAX + 8];	/* for messages */

	int		 sec_line[SEC_HOST];	/* [server] [tls] [limits] */
	int		 server_seen[MAXKEYS];
	int		 tls_seen[MAXKEYS];
	int		 limits_seen[MAXKEYS];

	struct host_config **tail;	/* where the next host goes */
	struct hostmeta	*hmeta;		/* parallel to cfg->hosts */
	size_t		 nhmeta;

	/* the line reader */
	FILE		*fp;
	int		 lines;		/* lines handed to inih */
	enum rdstate	 rd;
	int		 rd_errno;
	char		 last[INI_MAX_LINE];	/* the line inih works on */
};

static int	perr(struct parse *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/*
 * Record the first error: "FILE:LINE: msg", or "FILE: msg" for line 0.
 * Always returns -1 so callers can `return perr(...)`.
 */
static int
perr(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return -1;
	p->failed = 1;
	if (p->err == NULL || p->errlen == 0)
		return -1;
	if (line > 0)
		n = snprintf(p->err, p->errlen, "%s:%d: ", p->path, line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->path);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;	/* cut, but still NUL-terminated */
	va_start(ap, fmt);
	(void)vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

#define SHOWLEN	72	/* buffer for shown(); at least 4 */

/*
 * A value made safe to quote in a message: control bytes become '?' (a
 * config file may hold anything) and long values are shortened.
 */
static const char *
shown(const char *s, char *buf, size_t len)
{
	size_t i, n = strlen(s), keep = n;

	if (n >= len)
		keep = len - 4;		/* room for "..." */
	for (i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (keep < n) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* ---- small parsers ---- */

/* Copy v into buf (at least INI_MAX_LINE bytes) without one pair of
 * surrounding double quotes. */
static void
unquote(const char *v, char *buf, size_t buflen)
{
	size_t n = strlen(v);

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	if (n >= buflen)
		n = buflen - 1;	/* cannot happen: inih lines are shorter */
	memcpy(buf, v, n);
	buf[n] = '\0';
}

int
config_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < NKEYS(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/*
 * Decimal digits only (no sign, no blanks, no 0x), then optionally one
 * K or M when suffix is allowed.  -1: not a number; -2: too large.
 */
static int
parse_number(const char *s, int suffix, unsigned long long *out)
{
	unsigned long long v = 0, mult = 1;
	const char *q = s;

	if (!isdigit((unsigned char)*q))
		return -1;
	for (; isdigit((unsigned char)*q); q++) {
		unsigned d = (unsigned)(*q - '0');
		if (v > (ULLONG_MAX - d) / 10)
			return -2;
		v = v * 10 + d;
	}
	if (suffix && (*q == 'K' || *q == 'k')) {
		mult = KIB;
		q++;
	} else if (suffix && (*q == 'M' || *q == 'm')) {
		mult = MIB;
		q++;
	}
	if (*q != '\0')
		return -1;
	if (v > ULLONG_MAX / mult)
		return -2;
	*out = v * mult;
	return 0;
}

static void
strlist_add(struct strlist *l, const char *s)
{
	if (l->n >= SIZE_MAX / sizeof(char *) - 1)
		fatalx("config: list too long");
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
	l->v[l->n++] = xstrdup(s);
}

static int
strlist_has(const struct strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

static void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
portlist_has(const struct portlist *l, unsigned short port)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i] == port)
			return 1;
	return 0;
}

/* ---- list values ---- */

typedef int (*item_fn)(struct parse *, const struct key *, void *field,
    const char *item, int line);

/*
 * Items are separated by commas and/or blanks.  Quotes, a Prosody habit,
 * are accepted around the whole list ("a b") or around each item
 * ("a", "b"); an item that is empty after that is skipped.
 */
static int
list_each(struct parse *p, const struct key *k, void *field,
    const char *value, int line, item_fn fn)
{
	char buf[INI_MAX_LINE];
	char *s, *item, *end;
	size_t n = strlen(value);

	if (n >= sizeof(buf))
		return perr(p, line, "%s: value too long", k->name);
	memcpy(buf, value, n + 1);
	s = buf;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"' &&
	    memchr(s + 1, '"', n - 2) == NULL) {
		s[n - 1] = '\0';
		s++;
	}
	for (;;) {
		while (*s == ',' || isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		item = s;
		while (*s != '\0' && *s != ',' && !isspace((unsigned char)*s))
			s++;
		end = s;
		if (*s != '\0')
			s++;
		*end = '\0';
		n = (size_t)(end - item);
		if (n >= 2 && item[0] == '"' && item[n - 1] == '"') {
			item[n - 1] = '\0';
			item++;
			if (*item == '\0')
				continue;
		}
		if (fn(p, k, field, item, line) == -1)
			return -1;
	}
	return 0;
}

static int
admin_item(struct parse *p, const struct key *k, void *field,
    const char *item, int line)
{
	struct strlist *l = field;
	char out[JID_MAX + 1], sb[SHOWLEN];

	if (jid_normalize(item, out, sizeof(out)) == -1)
		return perr(p, line, "%s: '%s' is not a valid JID", k->name,
		    shown(item, sb, sizeof(sb)));
	/* In a normalised JID a '/' can only start the resource. */
	if (strchr(out, '/') != NULL)
		return perr(p, line, "%s: '%s' has a resource; give the bare "
		    "JID (user@domain)", k->name, shown(item, sb, sizeof(sb)));
	if (strchr(out, '@') == NULL)
		return perr(p, line, "%s: '%s' has no user part; give "
		    "user@domain", k->name, shown(item, sb, sizeof(sb)));
	if (!strlist_has(l, out))
		strlist_add(l, out);
	return 0;
}

static int
iface_item(struct parse *p, const struct key *k, void *field,
    const char *item, int line)
{
	struct strlist *l = field;
	struct in6_addr a6;
	struct in_addr a4;
	char txt[INET6_ADDRSTRLEN], sb[SHOWLEN];

	if (strcmp(item, "*") == 0) {
		if (l->n > 0)
			return perr(p, line, "%s: '*' already means every "
			    "address; list either '*' or addresses", k->name);
		strlist_add(l, "*");
		return 0;
	}
	/* Store the canonical text, so "::0:1" and "::1" are one address. */
	if (inet_pton(AF_INET, item, &a4) == 1) {
		if (inet_ntop(AF_INET, &a4, txt, sizeof(txt)) == NULL)
			return perr(p, line, "%s: cannot format '%s'", k->name,
			    shown(item, sb, sizeof(sb)));
	} else if (inet_pton(AF_INET6, item, &a6) == 1) {
		if (inet_ntop(AF_INET6, &a6, txt, sizeof(txt)) == NULL)
			return perr(p, line, "%s: cannot format '%s'", k->name,
			    shown(item, sb, sizeof(sb)));
	} else
		return perr(p, line, "%s: '%s' is not '*' or an IPv4 or IPv6 "
		    "address", k->name, shown(item, sb, sizeof(sb)));
	if (strlist_has(l, "*"))
		return perr(p, line, "%s: '*' already means every address; "
		    "list either '*' or addresses", k->name);
	if (strlist_has(l, txt))
		return perr(p, line, "%s: %s is listed twice", k->name, txt);
	strlist_add(l, txt);
	return 0;
}

static int
port_item(struct parse *p, const struct key *k, void *field,
    const char *item, int line)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} lists[] = {
		{ "c2s_ports", SRV(c2s_ports) },
		{ "c2s_direct_tls_ports", SRV(c2s_direct_tls_ports) },
		{ "s2s_ports", SRV(s2s_ports) },
		{ "s2s_direct_tls_ports", SRV(s2s_direct_tls_ports) },
		{ "http_ports", SRV(http_ports) },
		{ "https_ports", SRV(https_ports) },
		{ "proxy65_ports", SRV(proxy65_ports) },
	};
	struct portlist *l = field;
	unsigned long long v;
	char sb[SHOWLEN];
	size_t i;
	int r;

	r = parse_number(item, 0, &v);
	if (r == -1)
		return perr(p, line, "%s: '%s' is not a port number", k->name,
		    shown(item, sb, sizeof(sb)));
	if (r == -2 || v < 1 || v > 65535)
		return perr(p, line, "%s: port %s is out of range 1..65535",
		    k->name, shown(item, sb, sizeof(sb)));
	/* Two listeners cannot share a port, whatever their kind. */
	for (i = 0; i < NKEYS(lists); i++) {
		const struct portlist *o = (const struct portlist *)
		    (void *)((char *)p->cfg + lists[i].off);
		if (portlist_has(o, (unsigned short)v)) {
			if (o == l)
				return perr(p, line, "%s: port %llu is listed "
				    "twice", k->name, v);
			return perr(p, line, "%s: port %llu is already in %s",
			    k->name, v, lists[i].name);
		}
	}
	if (l->n >= CONFIG_MAX_PORTS)
		return perr(p, line, "%s: more than %d ports", k->name,
		    CONFIG_MAX_PORTS);
	l->v[l->n++] = (unsigned short)v;
	return 0;
}

static int
module_item(struct parse *p, const struct key *k, void *field,
    const char *item, int line)
{
	struct strlist *l = field;
	char sb[SHOWLEN];

	if (!module_name_known(item))
		return perr(p, line, "%s: unknown module '%s' (known: %s)",
		    k->name, shown(item, sb, sizeof(sb)), module_names());
	if (!strlist_has(l, item))
		strlist_add(l, item);
	return 0;
}

static int
mech_item(struct parse *p, const struct key *k, void *field,
    const char *item, int line)
{
	struct strlist *l = field;
	char sb[SHOWLEN];

	for (const char *const *m = sasl_mechanisms; *m; m++)
		if (strcmp(*m, item) == 0) {
			if (!strlist_has(l, item))
				strlist_add(l, item);
			return 0;
		}
	return perr(p, line, "%s: unknown mechanism '%s' (known: SCRAM-SHA-256 "
	    "SCRAM-SHA-1 PLAIN)", k->name, shown(item, sb, sizeof(sb)));
}

static int
dns_item(struct parse *p, const struct key *k, void *field,
    const char *item, int line)
{
	struct strlist *l = field;
	char sb[SHOWLEN];
	char *one[1] = { (char *)item };

	if (dns_set_servers(one, 1) == -1) {
		dns_set_servers(NULL, 0);
		return perr(p, line, "%s: '%s' is not an IP address, ip:port or "
		    "[ipv6]:port", k->name, shown(item, sb, sizeof(sb)));
	}
	dns_set_servers(NULL, 0);
	if (!strlist_has(l, item))
		strlist_add(l, item);
	return 0;
}

static int
cipher_item(struct parse *p, const struct key *k, void *field,
    const char *item, int line)
{
	struct strlist *l = field;
	char sb[SHOWLEN];

	if (!tls_cipher_known(item))
		return perr(p, line, "%s: unknown cipher suite '%s' (known: %s)",
		    k->name, shown(item, sb, sizeof(sb)), tls_cipher_names());
	/* A repeat changes nothing: the first place sets the preference. */
	if (!strlist_has(l, item))
		strlist_add(l, item);
	return 0;
}

static int
tlsopt_item(struct parse *p, const struct key *k, void *field,
    const char *item, int line)
{
	struct strlist *l = field;
	char sb[SHOWLEN], names[256];
	size_t i, n = 0;

	for (i = 0; i < NKEYS(tls_option_names); i++) {
		if (strcmp(item, tls_option_names[i]) == 0) {
			if (!strlist_has(l, item))
				strlist_add(l, item);
			return 0;
		}
	}
	names[0] = '\0';
	for (i = 0; i < NKEYS(tls_option_names); i++) {
		int w = snprintf(names + n, sizeof(names) - n, "%s%s",
		    i ? " " : "", tls_option_names[i]);
		if (w < 0 || (size_t)w >= sizeof(names) - n)
			break;
		n += (size_t)w;
	}
	return perr(p, line, "%s: unknown option '%s' (accepted, all "
	    "describing what BearSSL always does: %s)", k->name,
	    shown(item, sb, sizeof(sb)), names);
}

/* ---- one key ---- */

static int
set_path(struct parse *p, const struct key *k, char **field, const char *v,
    int line)
{
	char buf[INI_MAX_LINE], sb[SHOWLEN];
	char *path;

	unquote(v, buf, sizeof(buf));
	if (buf[0] == '\0') {
		if (k->type == K_PATH)
			return perr(p, line, "%s: empty path", k->name);
		free(*field);
		*field = NULL;
		return 0;
	}
	if ((path = config_expand_path(buf)) == NULL)
		return perr(p, line, "%s: cannot expand '%s': HOME is not set",
		    k->name, shown(buf, sb, sizeof(sb)));
	free(*field);
	*field = path;
	return 0;
}

/* Text that ends up inside stanzas must be valid XML character data. */
static int
set_text(struct parse *p, const struct key *k, char **field, const char *v,
    int line)
{
	char buf[INI_MAX_LINE];
	size_t i, n;

	unquote(v, buf, sizeof(buf));
	n = strlen(buf);
	if (!utf8_is_valid(buf, n))
		return perr(p, line, "%s: not valid UTF-8", k->name);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c < 0x20 && c != '\t')
			return perr(p, line, "%s: control character 0x%02x",
			    k->name, c);
	}
	free(*field);
	*field = n > 0 ? xstrdup(buf) : NULL;
	return 0;
}

static int
set_number(struct parse *p, const struct key *k, void *field, const char *v,
    int line)
{
	char buf[INI_MAX_LINE], sb[SHOWLEN];
	unsigned long long n;
	int r;

	unquote(v, buf, sizeof(buf));
	r = parse_number(buf, k->type == K_SIZE, &n);
	if (r == -1) {
		if (k->type == K_SIZE)
			return perr(p, line, "%s: '%s' is not a size (bytes, "
			    "or a number followed by K or M)", k->name,
			    shown(buf, sb, sizeof(sb)));
		return perr(p, line, "%s: '%s' is not a decimal number",
		    k->name, shown(buf, sb, sizeof(sb)));
	}
	if (r == -2 || n < k->min || n > k->max)
		return perr(p, line, "%s: %s is out of range %llu..%llu",
		    k->name, shown(buf, sb, sizeof(sb)), k->min, k->max);
	if (k->type == K_SIZE)
		*(size_t *)field = (size_t)n;
	else
		*(unsigned *)field = (unsigned)n;
	return 0;
}

static int
set_value(struct parse *p, const struct key *k, const char *v, int line)
{
	static const char *const levels[] = {
		[LOG_LVL_ERROR] = "error", [LOG_LVL_WARN] = "warn",
		[LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
	};
	void *field = (char *)p->base + k->off;
	char buf[INI_MAX_LINE], sb[SHOWLEN];
	size_t i;
	int b;

	switch (k->type) {
	case K_BOOL:
		unquote(v, buf, sizeof(buf));
		if (config_parse_bool(buf, &b) == -1)
			return perr(p, line, "%s: expected true/false, yes/no, "
			    "on/off or 1/0, not '%s'", k->name,
			    shown(buf, sb, sizeof(sb)));
		*(int *)field = b;
		return 0;
	case K_PATH:
	case K_PATH_OPT:
		return set_path(p, k, field, v, line);
	case K_TEXT:
		return set_text(p, k, field, v, line);
	case K_DOMAIN:
		unquote(v, buf, sizeof(buf));
		if (strlen(buf) > JID_PART_MAX || jid_prep_domain(buf) == -1)
			return perr(p, line, "%s: '%s' is not a domain name",
			    k->name, shown(buf, sb, sizeof(sb)));
		free(*(char **)field);
		*(char **)field = xstrdup(buf);
		return 0;
	case K_LOGLEVEL:
		unquote(v, buf, sizeof(buf));
		for (i = 0; i < NKEYS(levels); i++) {
			if (strcmp(buf, levels[i]) == 0) {
				*(enum log_level *)field = (enum log_level)i;
				return 0;
			}
		}
		return perr(p, line, "%s: expected error, warn, info or debug, "
		    "not '%s'", k->name, shown(buf, sb, sizeof(sb)));
	case K_AUTH:
		unquote(v, buf, sizeof(buf));
		if (strcmp(buf, "internal_plain") == 0)
			return perr(p, line, "%s: internal_plain is not "
			    "supported: xmppd never stores passwords, only "
			    "salted SCRAM hashes; use internal_hashed",
			    k->name);
		if (strcmp(buf, DEFAULT_AUTH) != 0)
			return perr(p, line, "%s: '%s' is not supported (the "
			    "only method is internal_hashed)", k->name,
			    shown(buf, sb, sizeof(sb)));
		free(*(char **)field);
		*(char **)field = xstrdup(buf);
		return 0;
	case K_ADMINS:
		return list_each(p, k, field, v, line, admin_item);
	case K_IFACES:
		if (list_each(p, k, field, v, line, iface_item) == -1)
			return -1;
		if (((struct strlist *)field)->n == 0)
			return perr(p, line, "%s: empty list (use * for every "
			    "address)", k->name);
		return 0;
	case K_PORTS:
		return list_each(p, k, field, v, line, port_item);
	case K_MODULES:
		return list_each(p, k, field, v, line, module_item);
	case K_CIPHERS:
		return list_each(p, k, field, v, line, cipher_item);
	case K_TLSOPTS:
		return list_each(p, k, field, v, line, tlsopt_item);
	case K_DNS:
		return list_each(p, k, field, v, line, dns_item);
	case K_MECHS:
		return list_each(p, k, field, v, line, mech_item);
	case K_UINT:
	case K_SIZE:
		return set_number(p, k, field, v, line);
	}
	return perr(p, line, "%s: internal error: no parser", k->name);
}

/* ---- sections ---- */

static int
begin_fixed(struct parse *p, enum section sec, const char *name, int line)
{
	if (p->sec_line[sec] != 0)
		return perr(p, line, "section [%s] appears twice (first at "
		    "line %d)", name, p->sec_line[sec]);
	p->sec_line[sec] = line;
	p->sec = sec;
	switch (sec) {
	case SEC_SERVER:
		p->keys = server_keys;
		p->nkeys = NKEYS(server_keys);
		p->base = p->cfg;
		p->seen = p->server_seen;
		break;
	case SEC_TLS:
		p->keys = tls_keys;
		p->nkeys = NKEYS(tls_keys);
		p->base = p->cfg;
		p->seen = p->tls_seen;
		break;
	default:
		p->keys = limit_keys;
		p->nkeys = NKEYS(limit_keys);
		p->base = &p->cfg->limits;
		p->seen = p->limits_seen;
		break;
	}
	(void)snprintf(p->secname, sizeof(p->secname), "%s", name);
	return 0;
}

static int
begin_host(struct parse *p, char *name, int line)
{
	char dom[JID_PART_MAX + 1], sb[SHOWLEN];
	struct host_config *h;
	size_t i, n;

	while (isspace((unsigned char)*name))
		name++;
	n = strlen(name);
	if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
		name[n - 1] = '\0';
		name++;
	}
	if (*name == '\0')
		return perr(p, line, "[host] needs a domain, as in "
		    "[host example.org]");
	if (strlcpy_ok(dom, name, sizeof(dom)) == -1 ||
	    jid_prep_domain(dom) == -1)
		return perr(p, line, "'%s' is not a valid domain",
		    shown(name, sb, sizeof(sb)));
	for (h = p->cfg->hosts, i = 0; h != NULL; h = h->next, i++)
		if (strcmp(h->name, dom) == 0)
			return perr(p, line, "duplicate [host %s] (first at "
			    "line %d)", dom, p->hmeta[i].line);

	if (p->nhmeta >= SIZE_MAX / sizeof(*p->hmeta) - 1)
		fatalx("config: too many hosts");
	p->hmeta = xrealloc(p->hmeta, (p->nhmeta + 1) * sizeof(*p->hmeta));
	memset(&p->hmeta[p->nhmeta], 0, sizeof(*p->hmeta));
	p->hmeta[p->nhmeta].line = line;

	h = xcalloc(1, sizeof(*h));
	h->name = xstrdup(dom);
	h->enabled = 1;
	h->allow_registration = -1;
	*p->tail = h;
	p->tail = &h->next;

	p->sec = SEC_HOST;
	p->keys = host_keys;
	p->nkeys = NKEYS(host_keys);
	p->base = h;
	p->seen = p->hmeta[p->nhmeta].seen;
	p->nhmeta++;
	(void)snprintf(p->secname, sizeof(p->secname), "host %s", dom);
	return 0;
}

static int
begin_section(struct parse *p, const char *section, int line)
{
	char buf[INIH_SECTION_MAX], sb[SHOWLEN];
	char *s, *e;
	size_t n = strlen(section);

	/* inih cut anything longer; a full buffer may be a cut one. */
	if (n >= INIH_SECTION_MAX - 1) {
		if (strncmp(section, "host", 4) == 0 &&
		    isspace((unsigned char)section[4]))
			return perr(p, line, "domain too long for a section "
			    "header: [host NAME] takes at most %d bytes "
			    "between the brackets", INIH_SECTION_MAX - 2);
		return perr(p, line, "section header too long: [%s...]",
		    shown(section, sb, sizeof(sb)));
	}
	memcpy(buf, section, n + 1);
	s = buf;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';

	if (strcmp(s, "server") == 0)
		return begin_fixed(p, SEC_SERVER, s, line);
	if (strcmp(s, "tls") == 0)
		return begin_fixed(p, SEC_TLS, s, line);
	if (strcmp(s, "limits") == 0)
		return begin_fixed(p, SEC_LIMITS, s, line);
	if (strncmp(s, "host", 4) == 0 &&
	    (s[4] == '\0' || isspace((unsigned char)s[4])))
		return begin_host(p, s + 4, line);
	if (*s == '\0')
		return perr(p, line, "empty section name []");
	if (module_name_known(s)) {
		/* [MODULE]: the module's own settings, checked by the module. */
		p->sec = SEC_MODULE;
		p->keys = NULL;
		p->nkeys = 0;
		snprintf(p->secname, sizeof p->secname, "%s", s);
		return 0;
	}
	return perr(p, line, "unknown section [%s] (known: [server], [tls], "
	    "[limits], [host NAME], or a module's name)", shown(s, sb, sizeof(sb)));
}

/* A key of a [MODULE] section: the module says whether it is valid. */
static int
module_key(struct parse *p, const char *name, const char *value, int line)
{
	struct config *cfg = p->cfg;
	char err[256], v[INI_MAX_LINE];
	struct modopt *o;

	for (size_t i = 0; i < cfg->nmodopts; i++)
		if (strcmp(cfg->modopts[i].module, p->secname) == 0 &&
		    strcmp(cfg->modopts[i].key, name) == 0)
			return perr(p, line, "duplicate key '%s' in [%s] (first at "
			    "line %d)", name, p->secname, cfg->modopts[i].line);
	/* Modules' values may be lists: strip a pair of quotes only around
	 * a value with none inside ("a" "b" stays as written). */
	if (strchr(value, '"') == strrchr(value, '"') ||
	    memchr(value + 1, '"', strlen(value) - 2) == NULL)
		unquote(value, v, sizeof v);
	else
		snprintf(v, sizeof v, "%s", value);
	if (module_config_check(p->secname, name, v, err, sizeof err) == -1)
		return perr(p, line, "%s", err);
	cfg->modopts = xrealloc(cfg->modopts, (cfg->nmodopts + 1) * sizeof *o);
	o = &cfg->modopts[cfg->nmodopts++];
	o->module = xstrdup(p->secname);
	o->key = xstrdup(name);
	o->value = xstrdup(v);
	o->line = line;
	return 0;
}

static int
key_value(struct parse *p, const char *name, const char *value, int line)
{
	char sb[SHOWLEN];
	size_t i;

	if (p->sec == SEC_NONE)
		return perr(p, line, "key '%s' before any section",
		    shown(name, sb, sizeof(sb)));
	if (p->sec == SEC_MODULE)
		return module_key(p, name, value, line);
	for (i = 0; i < p->nkeys; i++)
		if (strcmp(p->keys[i].name, name) == 0)
			break;
	if (i == p->nkeys)
		return perr(p, line, "unknown key '%s' in [%s]",
		    shown(name, sb, sizeof(sb)), p->secname);
	if (p->seen[i] != 0)
		return perr(p, line, "duplicate key '%s' in [%s] (first at "
		    "line %d)", name, p->secname, p->seen[i]);
	p->seen[i] = line;
	return set_value(p, &p->keys[i], value, line);
}

static int
on_ini(void *user, const char *section, const char *name, const char *value,
    int line)
{
	struct parse *p = user;

	if (p->failed)
		return 0;
	if (name == NULL)
		return begin_section(p, section, line) == 0;
	return key_value(p, name, value, line) == 0;
}

/*
 * inih's line source.  It hands over whole lines only; a line that does
 * not fit inih's buffer with its newline (more than 1023 bytes), a NUL
 * byte or a read error ends the input early and is reported by
 * config_load (inih would cut the line, or strlen() would hide the rest).
 */
static char *
read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n = 0, max;
	int c = EOF;

	if (p->rd != RD_OK || p->failed || num < 2)
		return NULL;
	max = (size_t)num - 1;
	while ((c = getc(p->fp)) != EOF) {
		if (c == '\0') {
			p->rd = RD_NUL;
			return NULL;
		}
		if (n == max) {
			p->rd = RD_LONG;
			return NULL;
		}
		str[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (c == EOF && ferror(p->fp)) {
		p->rd = RD_IO;
		p->rd_errno = errno;
		return NULL;
	}
	if (n == 0)
		return NULL;
	if (p->lines == INT_MAX) {
		p->rd = RD_MANY;
		return NULL;
	}
	str[n] = '\0';
	p->lines++;
	if (n < sizeof(p->last))
		memcpy(p->last, str, n + 1);
	return str;
}

/* inih refused line `line` on its own: say what was wrong with it. */
static void
syntax_error(struct parse *p, int line)
{
	const char *s = p->last;

	if (line == 1 && (unsigned char)s[0] == 0xef &&
	    (unsigned char)s[1] == 0xbb && (unsigned char)s[2] == 0xbf)
		s += 3;
	while (isspace((unsigned char)*s))
		s++;
	if (line == p->lines && *s == '[')
		perr(p, line, "section header without a closing ']'");
	else
		perr(p, line, "expected 'key = value', a [section] or a "
		    "comment");
}

/* ---- the file as a whole ---- */

/* The line where key `name` was given in a section, 0 if it was not. */
static int
seen_at(const int *seen, const struct key *keys, size_t nkeys,
    const char *name)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (strcmp(keys[i].name, name) == 0)
			return seen[i];
	return 0;
}

/* The line to blame for a check on two limits: the first one given. */
static int
blame(struct parse *p, const char *a, const char *b)
{
	int line;

	if ((line = seen_at(p->limits_seen, limit_keys, NKEYS(limit_keys),
	    a)) != 0)
		return line;
	if ((line = seen_at(p->limits_seen, limit_keys, NKEYS(limit_keys),
	    b)) != 0)
		return line;
	return p->sec_line[SEC_LIMITS];
}

static int
limit_given(struct parse *p, const char *name)
{
	return seen_at(p->limits_seen, limit_keys, NKEYS(limit_keys), name) != 0;
}

static int
check_limits(struct parse *p)
{
	struct limits *l = &p->cfg->limits;

	/* A default that does not fit under a limit the admin lowered
	 * follows it down; only two explicit values can contradict. */
	if (!limit_given(p, "max_stanza_size_preauth") &&
	    l->max_stanza_size_preauth > l->max_stanza_size)
		l->max_stanza_size_preauth = l->max_stanza_size;
	if (!limit_given(p, "max_connections_per_ip") &&
	    l->max_connections_per_ip > l->max_connections)
		l->max_connections_per_ip = l->max_connections;
	if (!limit_given(p, "max_unauth_per_ip") &&
	    l->max_unauth_per_ip > l->max_connections_per_ip)
		l->max_unauth_per_ip = l->max_connections_per_ip;
	if (!limit_given(p, "output_hard_limit") &&
	    l->output_hard_limit / 2 < l->max_stanza_size)
		l->output_hard_limit = 2 * l->max_stanza_size;
	if (!limit_given(p, "output_high_water") &&
	    l->output_high_water > l->output_hard_limit)
		l->output_high_water = l->output_hard_limit;
	if (l->max_stanza_size_preauth > l->max_stanza_size)
		return perr(p, blame(p, "max_stanza_size_preauth",
		    "max_stanza_size"), "max_stanza_size_preauth (%zu) must "
		    "not exceed max_stanza_size (%zu)",
		    l->max_stanza_size_preauth, l->max_stanza_size);
	/* A recipient must be able to queue at least two full stanzas. */
	if (l->output_hard_limit / 2 < l->max_stanza_size)
		return perr(p, blame(p, "output_hard_limit", "max_stanza_size"),
		    "output_hard_limit (%zu) must be at least twice "
		    "max_stanza_size (%zu)", l->output_hard_limit,
		    l->max_stanza_size);
	/* Stop reading from a connection before its peers are cut off. */
	if (l->output_high_water > l->output_hard_limit)
		return perr(p, blame(p, "output_high_water",
		    "output_hard_limit"), "output_high_water (%zu) must not "
		    "exceed output_hard_limit (%zu)", l->output_high_water,
		    l->output_hard_limit);
	if (l->max_connections_per_ip > l->max_connections)
		return perr(p, blame(p, "max_connections_per_ip",
		    "max_connections"), "max_connections_per_ip (%u) must not "
		    "exceed max_connections (%u)", l->max_connections_per_ip,
		    l->max_connections);
	if (l->max_unauth_per_ip > l->max_connections_per_ip)
		return perr(p, blame(p, "max_unauth_per_ip",
		    "max_connections_per_ip"), "max_unauth_per_ip (%u) must "
		    "not exceed max_connections_per_ip (%u)",
		    l->max_unauth_per_ip, l->max_connections_per_ip);
	return 0;
}

/* Certificate and key come as a pair; report at the one that is there. */
static int
check_pair(struct parse *p, const char *cert, const char *key,
    int cert_line, int key_line, const char *where)
{
	if (cert != NULL && key == NULL)
		return perr(p, cert_line, "certificate without key in [%s]: "
		    "give both or neither", where);
	if (key != NULL && cert == NULL)
		return perr(p, key_line, "key without certificate in [%s]: "
		    "give both or neither", where);
	return 0;
}

static int
finish(struct parse *p)
{
	struct config *cfg = p->cfg;
	struct host_config *h;
	char where[JID_PART_MAX + 8];
	size_t i, enabled = 0;

	if (cfg->data_path == NULL &&
	    (cfg->data_path = config_expand_path(DEFAULT_DATA_PATH)) == NULL)
		return perr(p, 0, "data_path: the default %s needs HOME, "
		    "which is not set", DEFAULT_DATA_PATH);
	if (cfg->authentication == NULL)
		cfg->authentication = xstrdup(DEFAULT_AUTH);
	if (cfg->interfaces.n == 0)
		strlist_add(&cfg->interfaces, "*");

	if (check_limits(p) == -1)
		return -1;
	if (check_pair(p, cfg->certificate, cfg->key,
	    seen_at(p->tls_seen, tls_keys, NKEYS(tls_keys), "certificate"),
	    seen_at(p->tls_seen, tls_keys, NKEYS(tls_keys), "key"),
	    "tls") == -1)
		return -1;
	for (h = cfg->hosts, i = 0; h != NULL; h = h->next, i++) {
		const int *seen = p->hmeta[i].seen;

		(void)snprintf(where, sizeof(where), "host %s", h->name);
		if (check_pair(p, h->certificate, h->key,
		    seen_at(seen, host_keys, NKEYS(host_keys), "certificate"),
		    seen_at(seen, host_keys, NKEYS(host_keys), "key"),
		    where) == -1)
			return -1;
		if (h->enabled)
			enabled++;
	}
	cfg->nhosts = i;

	if (enabled == 0)
		return perr(p, 0, "no enabled [host NAME] section: add one "
		    "for each domain this server serves");
	if (cfg->c2s_ports.n == 0 && cfg->c2s_direct_tls_ports.n == 0)
		return perr(p, 0, "no c2s_ports or c2s_direct_tls_ports in "
		    "[server]: clients could not connect");
	/* Every listener speaks TLS (STARTTLS or direct), so every enabled
	 * host needs credentials; whether the files exist is for `check`. */
	for (h = cfg->hosts, i = 0; h != NULL; h = h->next, i++) {
		if (!h->enabled || h->certificate != NULL ||
		    cfg->certificate != NULL)
			continue;
		return perr(p, p->hmeta[i].line, "[host %s] has no "
		    "certificate: set certificate and key here or in [tls]",
		    h->name);
	}
	return 0;
}

static struct config *
config_new(const char *path)
{
	struct config *cfg;
	struct limits *l;

	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path);
	cfg->log_level = LOG_LVL_INFO;
	cfg->log_timestamps = 0;
	cfg->c2s_require_encryption = 1;
	cfg->s2s_require_encryption = 1;
	cfg->allow_registration = 0;
	cfg->tls_session_cache = 1 * MIB;

	/* ==== limits: the defaults, see sample.ini ==== */
	l = &cfg->limits;
	l->max_stanza_size = 256 * KIB;
	l->max_stanza_size_preauth = 16 * KIB;
	l->max_depth = 32;
	l->max_attrs = 64;
	l->max_name = 256;
	l->max_connections = 1024;
	l->max_connections_per_ip = 16;
	l->max_unauth_per_ip = 4;
	l->auth_timeout = 30;
	l->auth_attempts = 5;
	l->max_resources = 8;
	l->max_offline_messages = 100;
	l->max_roster_items = 1000;
	l->output_high_water = 512 * KIB;
	l->output_hard_limit = 1 * MIB;
	l->idle_timeout = 300;
	l->ping_timeout = 60;
	l->shutdown_timeout = 5;
	l->max_bytes_per_second = 256 * KIB;
	l->auth_failures_per_ip = 10;
	l->s2s_timeout = 30;
	l->s2s_idle_timeout = 600;
	l->s2s_queue = 200;
	return cfg;
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	struct parse *p;
	int rc, ret;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL) {
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen, "no configuration file");
		return -1;
	}

	/* The parse state holds a line buffer: keep it off the stack. */
	p = xcalloc(1, sizeof(*p));
	p->cfg = config_new(path);
	p->path = path;
	p->err = err;
	p->errlen = errlen;
	p->tail = &p->cfg->hosts;

	if ((p->fp = fopen(path, "r")) == NULL) {
		perr(p, 0, "cannot open: %s", strerror(errno));
	} else {
		rc = ini_parse_stream(read_line, p, on_ini, p);
		if (p->failed)
			;	/* the handler said why */
		else if (p->rd == RD_LONG)
			perr(p, p->lines + 1, "line too long (more than %d "
			    "bytes with its newline)", INI_MAX_LINE - 1);
		else if (p->rd == RD_NUL)
			perr(p, p->lines + 1, "NUL byte in line");
		else if (p->rd == RD_IO)
			perr(p, 0, "cannot read: %s", strerror(p->rd_errno));
		else if (p->rd == RD_MANY)
			perr(p, 0, "too many lines");
		else if (rc > 0)
			syntax_error(p, rc);
		else if (rc < 0)
			perr(p, 0, "out of memory while parsing");
		else
			(void)finish(p);
		fclose(p->fp);
	}

	ret = p->failed ? -1 : 0;
	if (ret == 0)
		*out = p->cfg;
	else
		config_free(p->cfg);
	free(p->hmeta);
	free(p);
	return ret;
}

void
config_free(struct config *cfg)
{
	struct host_config *h, *next;

	if (cfg == NULL)
		return;
	free(cfg->path);
	strlist_free(&cfg->admins);
	free(cfg->data_path);
	free(cfg->log);
	strlist_free(&cfg->interfaces);
	free(cfg->authentication);
	strlist_free(&cfg->modules);
	free(cfg->motd);
	free(cfg->welcome_message);
	free(cfg->pidfile);
	free(cfg->ca_file);
	free(cfg->certificate);
	free(cfg->key);
	strlist_free(&cfg->ciphers);
	strlist_free(&cfg->dns_servers);
	strlist_free(&cfg->sasl_mechanisms);
	strlist_free(&cfg->http_trusted_proxies);
	strlist_free(&cfg->tls_options);
	for (size_t i = 0; i < cfg->nmodopts; i++) {
		free(cfg->modopts[i].module);
		free(cfg->modopts[i].key);
		free(cfg->modopts[i].value);
	}
	free(cfg->modopts);
	for (h = cfg->hosts; h != NULL; h = next) {
		next = h->next;
		free(h->name);
		free(h->certificate);
		free(h->key);
		free(h->muc);
		free(h->upload);
		free(h->proxy65);
		free(h);
	}
	free(cfg);
}

const struct host_config *
config_host(const struct config *cfg, const char *domain)
{
	const struct host_config *h;

	if (cfg == NULL || domain == NULL)
		return NULL;
	for (h = cfg->hosts; h != NULL; h = h->next)
		if (h->enabled && strcmp(h->name, domain) == 0)
			return h;
	return NULL;
}

int
config_is_admin(const struct config *cfg, const char *bare_jid)
{
	if (cfg == NULL || bare_jid == NULL)
		return 0;
	return strlist_has(&cfg->admins, bare_jid);
}

int
config_has_module(const struct config *cfg, const char *name)
{
	if (cfg == NULL || name == NULL)
		return 0;
	return strlist_has(&cfg->modules, name);
}

int
config_allow_registration(const struct config *cfg, const char *domain)
{
	const struct host_config *h;

	/* Never for a domain we do not serve. */
	if ((h = config_host(cfg, domain)) == NULL)
		return 0;
	if (h->allow_registration >= 0)
		return h->allow_registration;
	return cfg->allow_registration;
}

char *
config_expand_path(const char *path)
{
	const char *home, *rest;
	size_t hlen, rlen;
	char *out;

	if (path == NULL)
		return NULL;
	if (path[0] == '~' && (path[1] == '\0' || path[1] == '/'))
		rest = path + 1;
	else if (strncmp(path, "${HOME}", 7) == 0)
		rest = path + 7;
	else if (strncmp(path, "$HOME", 5) == 0 &&
	    (path[5] == '\0' || path[5] == '/'))
		rest = path + 5;
	else
		return xstrdup(path);	/* "~user" too: we do not look it up */

	/* An empty HOME would turn "~/x" into "/x": treat it as unset. */
	if ((home = getenv("HOME")) == NULL || *home == '\0')
		return NULL;
	hlen = strlen(home);
	while (hlen > 1 && home[hlen - 1] == '/')
		hlen--;
	if (hlen == 1 && home[0] == '/' && rest[0] == '/')
		hlen = 0;	/* HOME=/ and "~/x": "/x", not "//x" */
	rlen = strlen(rest);
	if (hlen > SIZE_MAX - rlen - 1)
		return NULL;
	out = xmalloc(hlen + rlen + 1);
	memcpy(out, home, hlen);
	memcpy(out + hlen, rest, rlen + 1);
	return out;
}

char *
config_default_path(void)
{
	const char *env = getenv("XMPPD_CONFIG");

	/* Expanded as well: supervisors pass "~/..." through unexpanded. */
	if (env != NULL && *env != '\0')
		return config_expand_path(env);
	return config_expand_path("~/etc/xmppd.ini");
}

const char *
config_module_opt(const struct config *cfg, const char *module, const char *key)
{
	for (size_t i = 0; i < cfg->nmodopts; i++)
		if (strcmp(cfg->modopts[i].module, module) == 0 &&
		    strcmp(cfg->modopts[i].key, key) == 0)
			return cfg->modopts[i].value;
	return NULL;
}

int
config_parse_size(const char *s, size_t *out)
{
	unsigned long long v;

	if (parse_number(s, 1, &v) != 0 || v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}

int
config_check_size(const char *key, const char *value, size_t min,
    size_t max, char *err, size_t errlen)
{
	size_t n;

	if (config_parse_size(value, &n) == -1) {
		snprintf(err, errlen, "%s: '%s' is not a size (bytes, or a "
		    "number followed by K or M)", key, value);
		return -1;
	}
	if (n < min || n > max) {
		snprintf(err, errlen, "%s: %s is out of range %zu..%zu", key,
		    value, min, max);
		return -1;
	}
	return 0;
}
