/*
 * extdisco.c - XEP-0215 External Service Discovery (urn:xmpp:extdisco:2):
 * the STUN and TURN servers of [external_services], told to this server's
 * own accounts so their clients can make audio and video calls.
 *
 * With `secret` set, TURN services come with time-limited credentials in
 * the "TURN REST API" style a TURN server (coturn's use-auth-secret)
 * checks without asking us: username = EXPIRY:JID (EXPIRY in seconds
 * since 1970), password = base64(HMAC-SHA1(secret, username)).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "module.h"

#define MODNAME		"external_services"
#define NS_EXTDISCO	"urn:xmpp:extdisco:2"
#define MAX_SERVICES	16
#define HOST_MAX	253
#define DEF_TTL		86400
#define MIN_TTL		60
#define MAX_TTL		(7 * 86400)
#define SECRET_MAX	512

struct service {
	const char	*type;		/* "stun", "stuns", "turn", "turns" */
	char		 host[HOST_MAX + 3];	/* brackets for IPv6 */
	unsigned	 port;
	const char	*transport;	/* "udp" or "tcp" */
};

/* The keys, in the order services are listed, with their defaults. */
static const struct {
	const char	*key;
	unsigned	 port;
	const char	*transport;
	int		 restricted;	/* TURN: credentials when a secret is set */
} kinds[] = {
	{ "stun", 3478, "udp", 0 },
	{ "stuns", 5349, "tcp", 0 },
	{ "turn", 3478, "udp", 1 },
	{ "turns", 5349, "tcp", 1 },
};
#define NKINDS	(sizeof kinds / sizeof kinds[0])

static int
host_ok(const char *h, size_t n)
{
	if (n == 0 || n > HOST_MAX + 2)
		return 0;
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return 0;
		for (size_t i = 1; i + 1 < n; i++)
			if (!((h[i] >= '0' && h[i] <= '9') ||
			    (h[i] >= 'a' && h[i] <= 'f') ||
			    (h[i] >= 'A' && h[i] <= 'F') || h[i] == ':' ||
			    h[i] == '.'))
				return 0;
		return 1;
	}
	if (n > HOST_MAX || h[0] == '.' || h[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
		    (h[i] >= '0' && h[i] <= '9') || h[i] == '-' || h[i] == '.'))
			return 0;
	return 1;
}

/*
 * One entry "host[:port][/udp|/tcp]" of kind k into s.  0, or -1 with a
 * reason.
 */
static int
parse_entry(size_t k, const char *e, size_t n, struct service *s, char *err,
    size_t errlen)
{
	const char *slash = memchr(e, '/', n), *colon = NULL, *hend;
	size_t hn;
	unsigned long port = kinds[k].port;

	s->type = kinds[k].key;
	s->transport = kinds[k].transport;
	if (slash != NULL) {
		size_t tl = n - (size_t)(slash + 1 - e);
		if (tl == 3 && memcmp(slash + 1, "udp", 3) == 0)
			s->transport = "udp";
		else if (tl == 3 && memcmp(slash + 1, "tcp", 3) == 0)
			s->transport = "tcp";
		else {
			snprintf(err, errlen, "transport must be /udp or /tcp");
			return -1;
		}
		n = (size_t)(slash - e);
	}
	hend = e + n;
	/* The port follows the last ':' after a bracketed IPv6 address,
	 * or the only ':' of a name. */
	if (n > 0 && e[0] == '[') {
		const char *rb = memchr(e, ']', n);
		if (rb != NULL && rb + 1 < hend && rb[1] == ':')
			colon = rb + 1;
	} else
		colon = memchr(e, ':', n);
	if (colon != NULL) {
		unsigned long v = 0;
		const char *p = colon + 1;
		if (p == hend || hend - p > 5) {
			snprintf(err, errlen, "bad port in '%.*s'", (int)n, e);
			return -1;
		}
		for (; p < hend; p++) {
			if (*p < '0' || *p > '9') {
				snprintf(err, errlen, "bad port in '%.*s'",
				    (int)n, e);
				return -1;
			}
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v < 1 || v > 65535) {
			snprintf(err, errlen, "port out of range in '%.*s'",
			    (int)n, e);
			return -1;
		}
		port = v;
		hend = colon;
	}
	hn = (size_t)(hend - e);
	if (!host_ok(e, hn)) {
		snprintf(err, errlen, "bad host name in '%.*s'", (int)n, e);
		return -1;
	}
	memcpy(s->host, e, hn);
	s->host[hn] = '\0';
	for (char *c = s->host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	s->port = (unsigned)port;
	return 0;
}

/* Add the comma-separated entries of kind k in v to out. */
static int
parse_list(size_t k, const char *v, struct service *out, size_t *n, char *err,
    size_t errlen)
{
	const char *p = v;

	while (*p != '\0') {
		const char *e;
		size_t l;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strcspn(p, ",");
		l = (size_t)(e - p);
		while (l > 0 && (p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		if (l == 0) {
			snprintf(err, errlen, "empty entry");
			return -1;
		}
		if (*n == MAX_SERVICES) {
			snprintf(err, errlen, "more than %d services",
			    MAX_SERVICES);
			return -1;
		}
		if (parse_entry(k, p, l, &out[*n], err, errlen) == -1)
			return -1;
		(*n)++;
		p = *e == ',' ? e + 1 : e;
	}
	return 0;
}

static int
parse_ttl(const char *v, unsigned *out)
{
	unsigned long n = 0;

	if (v == NULL || *v == '\0' || strlen(v) > 9)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		n = n * 10 + (unsigned long)(*v - '0');
	}
	if (n < MIN_TTL || n > MAX_TTL)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int
ext_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	struct service sv[MAX_SERVICES];
	size_t n = 0;
	char why[160];
	unsigned ttl;

	for (size_t k = 0; k < NKINDS; k++) {
		if (strcmp(key, kinds[k].key) != 0)
			continue;
		if (parse_list(k, value, sv, &n, why, sizeof why) == 0)
			return 0;
		snprintf(err, errlen, "[%s] %s: %s (expected host[:port]"
		    "[/udp|/tcp], comma-separated)", MODNAME, key, why);
		return -1;
	}
	if (strcmp(key, "secret") == 0) {
		size_t l = strlen(value);
		if (l >= 16 && l <= SECRET_MAX)
			return 0;
		snprintf(err, errlen, "[%s] secret must be 16 to %d characters",
		    MODNAME, SECRET_MAX);
		return -1;
	}
	if (strcmp(key, "ttl") == 0) {
		if (parse_ttl(value, &ttl) == 0)
			return 0;
		snprintf(err, errlen, "[%s] ttl must be %d to %d seconds, not "
		    "'%.32s'", MODNAME, MIN_TTL, MAX_TTL, value);
		return -1;
	}
	snprintf(err, errlen, "unknown key '%.64s' in [%s] (known: stun, stuns, "
	    "turn, turns, secret, ttl)", key, MODNAME);
	return -1;
}

/* Every configured service (checked at load, so errors cannot happen). */
static size_t
services(struct service *out)
{
	const struct config *cfg = server_config();
	size_t n = 0;
	char err[160];

	for (size_t k = 0; k < NKINDS; k++) {
		const char *v = config_module_opt(cfg, MODNAME, kinds[k].key);
		size_t before = n;
		if (v != NULL && parse_list(k, v, out, &n, err, sizeof err) == -1) {
			log_warnx("%s: %s: %s", MODNAME, kinds[k].key, err);
			n = before;
		}
	}
	return n;
}

static int
restricted(const struct service *s)
{
	for (size_t k = 0; k < NKINDS; k++)
		if (strcmp(kinds[k].key, s->type) == 0)
			return kinds[k].restricted;
	return 0;
}

/* Add <service/> for s to parent, with credentials for who if it needs
 * them and there is a secret. */
static void
add_service(struct xml_node *parent, const struct service *s, const char *who)
{
	const char *secret = config_module_opt(server_config(), MODNAME, "secret");
	struct xml_node *e = xml_add(parent, "service", NULL);
	char num[16], user[JID_MAX + 32], when[32], pw[B64_LEN(20) + 1];
	unsigned char mac[20];
	unsigned ttl = DEF_TTL;
	br_hmac_key_context kc;
	br_hmac_context hc;
	int64_t expiry;

	xml_set_attr(e, "type", s->type);
	xml_set_attr(e, "host", s->host);
	snprintf(num, sizeof num, "%u", s->port);
	xml_set_attr(e, "port", num);
	xml_set_attr(e, "transport", s->transport);
	if (!restricted(s) || secret == NULL)
		return;
	parse_ttl(config_module_opt(server_config(), MODNAME, "ttl"), &ttl);
	expiry = wall_time() + ttl;
	snprintf(user, sizeof user, "%lld:%s", (long long)expiry, who);
	br_hmac_key_init(&kc, &br_sha1_vtable, secret, strlen(secret));
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, user, strlen(user));
	br_hmac_out(&hc, mac);
	if (b64_encode(mac, sizeof mac, pw, sizeof pw) < 0)
		return;
	format_xep82(expiry, when, sizeof when);
	xml_set_attr(e, "username", user);
	xml_set_attr(e, "password", pw);
	xml_set_attr(e, "expires", when);
	xml_set_attr(e, "restricted", "1");
	memset(&kc, 0, sizeof kc);
	memset(&hc, 0, sizeof hc);
}

/* This server's accounts only: the credentials cost the TURN server. */
static int
asker(const struct iq_req *r, char *who, size_t wholen)
{
	struct jid b = r->from;

	if (r->from.local[0] == '\0' || !host_is_local(r->from.domain))
		return -1;
	b.resource[0] = '\0';
	return jid_bare(&b, who, wholen);
}

static enum stanza_error
get_services(struct iq_req *r)
{
	struct service sv[MAX_SERVICES];
	const char *type = xml_attr(r->payload, "type");
	struct xml_node *reply, *q;
	char who[JID_MAX + 1];
	size_t n;

	if (asker(r, who, sizeof who) == -1)
		return ERR_FORBIDDEN;
	n = services(sv);
	reply = iq_result(r);
	q = xml_add(reply, "services", NS_EXTDISCO);
	if (type != NULL)
		xml_set_attr(q, "type", type);
	for (size_t i = 0; i < n; i++)
		if (type == NULL || strcmp(type, sv[i].type) == 0)
			add_service(q, &sv[i], who);
	iq_reply(r, reply);
	return ERR_NONE;
}

/* XEP-0215 3.3: fresh credentials for one service. */
static enum stanza_error
get_credentials(struct iq_req *r)
{
	struct service sv[MAX_SERVICES];
	struct xml_node *want = xml_child(r->payload, "service", NS_EXTDISCO);
	struct xml_node *reply, *q;
	const char *host, *type, *port;
	char who[JID_MAX + 1], num[16];
	size_t n;

	if (asker(r, who, sizeof who) == -1)
		return ERR_FORBIDDEN;
	if (want == NULL || (host = xml_attr(want, "host")) == NULL ||
	    (type = xml_attr(want, "type")) == NULL)
		return ERR_BAD_REQUEST;
	port = xml_attr(want, "port");
	if (config_module_opt(server_config(), MODNAME, "secret") == NULL)
		return ERR_ITEM_NOT_FOUND;
	n = services(sv);
	for (size_t i = 0; i < n; i++) {
		snprintf(num, sizeof num, "%u", sv[i].port);
		if (!restricted(&sv[i]) || strcmp(sv[i].host, host) != 0 ||
		    strcmp(sv[i].type, type) != 0 ||
		    (port != NULL && strcmp(port, num) != 0))
			continue;
		reply = iq_result(r);
		q = xml_add(reply, "credentials", NS_EXTDISCO);
		add_service(q, &sv[i], who);
		iq_reply(r, reply);
		return ERR_NONE;
	}
	return ERR_ITEM_NOT_FOUND;
}

static const struct iq_handler ext_iq[] = {
	{ "services", NS_EXTDISCO, IQ_GET, IQ_TO_SERVER, get_services },
	{ "credentials", NS_EXTDISCO, IQ_GET, IQ_TO_SERVER, get_credentials },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const ext_features[] = { NS_EXTDISCO, NULL };

static int
ext_init(void)
{
	struct service sv[MAX_SERVICES];

	if (services(sv) == 0)
		log_warnx("%s: no stun, stuns, turn or turns in [%s]: nothing "
		    "to announce", MODNAME, MODNAME);
	return 0;
}

const struct module mod_external_services = {
	.name = MODNAME,
	.features = ext_features,
	.iq = ext_iq,
	.init = ext_init,
	.config_check = ext_config_check,
};
