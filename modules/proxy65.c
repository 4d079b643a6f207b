/*
 * proxy65.c - XEP-0065 SOCKS5 Bytestreams proxy on each host's proxy65
 * domain ([host NAME] proxy65 = proxy.NAME), for file transfer between
 * clients that cannot reach each other directly.  This is the XMPP side:
 * disco, the streamhost address, activation.  The SOCKS5 connections on
 * proxy65_ports are socks5.c's.  Only the host's own accounts may use it.
 */
#include <stdio.h>
#include <string.h>

#include <bearssl.h>

#include "module.h"
#include "socks5.h"

#define MODNAME		"proxy65"
#define NS_BS		"http://jabber.org/protocol/bytestreams"
#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define SERVICE_NAME	"SOCKS5 Bytestreams Service"

static const struct host_config *
service_host(const char *domain)
{
	for (const struct host_config *h = server_config()->hosts; h != NULL;
	    h = h->next)
		if (h->enabled && h->proxy65 != NULL &&
		    strcmp(h->proxy65, domain) == 0)
			return h;
	return NULL;
}

static int
p65_serves(const char *domain)
{
	return service_host(domain) != NULL;
}

/* disco#info and (empty) disco#items of the service. */
static enum stanza_error
disco(struct iq_req *r)
{
	struct xml_node *rep, *q, *n;

	if (r->type != IQ_GET)
		return ERR_BAD_REQUEST;
	if (xml_attr(r->payload, "node") != NULL)
		return ERR_ITEM_NOT_FOUND;
	rep = iq_result(r);
	q = xml_add(rep, "query", r->payload->ns);
	if (strcmp(r->payload->ns, NS_DISCO_INFO) == 0) {
		n = xml_add(q, "identity", NULL);
		xml_set_attr(n, "category", "proxy");
		xml_set_attr(n, "type", "bytestreams");
		xml_set_attr(n, "name", SERVICE_NAME);
		xml_set_attr(xml_add(q, "feature", NULL), "var", NS_DISCO_INFO);
		xml_set_attr(xml_add(q, "feature", NULL), "var", NS_BS);
	}
	iq_reply(r, rep);
	return ERR_NONE;
}

/* The address clients connect to (XEP-0065 4, Discovering Proxies). */
static enum stanza_error
streamhost(struct iq_req *r, const char *jid)
{
	const struct config *cfg = server_config();
	const char *addr = config_module_opt(cfg, MODNAME, "address");
	struct xml_node *rep, *n;
	char port[8];

	if (cfg->proxy65_ports.n == 0)
		return ERR_NOT_ALLOWED;		/* cannot act as a streamhost */
	rep = iq_result(r);
	n = xml_add(xml_add(rep, "query", NS_BS), "streamhost", NULL);
	xml_set_attr(n, "jid", jid);
	xml_set_attr(n, "host", addr != NULL ? addr : jid);
	snprintf(port, sizeof port, "%u", cfg->proxy65_ports.v[0]);
	xml_set_attr(n, "port", port);
	iq_reply(r, rep);
	return ERR_NONE;
}

/*
 * The requester (the IQ's sender) asks to start the pair for SID and
 * target: their SOCKS5 connections both named SHA1(SID + requester +
 * target) (XEP-0065 6.3.5).  Someone else's request names another hash.
 */
static enum stanza_error
activate(struct iq_req *r)
{
	const char *sid = xml_attr(r->payload, "sid");
	const char *t = xml_child_text(r->payload, "activate", NS_BS);
	char to[JID_MAX + 1];
	char hex[SOCKS5_HASH_LEN + 1];
	unsigned char md[br_sha1_SIZE];
	br_sha1_context h;
	struct jid tj;

	if (sid == NULL || t == NULL)
		return ERR_BAD_REQUEST;
	if (jid_parse(&tj, t) == -1 || jid_full(&tj, to, sizeof to) == -1)
		return ERR_JID_MALFORMED;
	/* from was stamped by the server: already in canonical form. */
	br_sha1_init(&h);
	br_sha1_update(&h, sid, strlen(sid));
	br_sha1_update(&h, r->from_str, strlen(r->from_str));
	br_sha1_update(&h, to, strlen(to));
	br_sha1_out(&h, md);
	for (size_t i = 0; i < sizeof md; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	switch (socks5_activate(hex)) {
	case 0:
		return iq_ok(r);
	case 1:
		return ERR_NOT_ALLOWED;		/* only one side connected */
	}
	return ERR_ITEM_NOT_FOUND;
}

static void
p65_route(struct xml_node *st, const struct jid *to)
{
	const char *type = xml_attr(st, "type");
	const struct host_config *h = service_host(to->domain);
	struct iq_req r;
	enum stanza_error e = ERR_SERVICE_UNAVAILABLE;

	if (xml_is(st, "message", NULL))
		route_error(st, ERR_SERVICE_UNAVAILABLE, NULL);
	if (!xml_is(st, "iq", NULL) || type == NULL ||
	    (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
		return;		/* presence, answers: nothing to do */
	memset(&r, 0, sizeof r);
	r.iq = st;
	r.payload = xml_first_element(st);
	r.type = type[0] == 'g' ? IQ_GET : IQ_SET;
	r.where = IQ_TO_SERVER;
	r.id = xml_attr(st, "id");
	r.from_str = xml_attr(st, "from");
	r.to_str = xml_attr(st, "to");
	if (r.from_str == NULL || jid_parse(&r.from, r.from_str) == -1)
		return;
	if (r.payload == NULL || xml_next(r.payload, NULL, NULL) != NULL)
		e = ERR_BAD_REQUEST;
	else if (to->local[0] != '\0' || to->resource[0] != '\0')
		;
	else if (strcmp(r.payload->name, "query") != 0)
		;
	else if (strcmp(r.payload->ns, NS_DISCO_INFO) == 0 ||
	    strcmp(r.payload->ns, "http://jabber.org/protocol/disco#items") == 0)
		e = disco(&r);
	else if (strcmp(r.payload->ns, NS_BS) != 0)
		;
	else if (r.from.local[0] == '\0' || strcmp(r.from.domain, h->name) != 0)
		e = ERR_FORBIDDEN;	/* not an account of this host */
	else
		e = r.type == IQ_GET ? streamhost(&r, h->proxy65) : activate(&r);
	if (e != ERR_NONE)
		iq_error(&r, e, NULL);
}

/* The service in its host's disco#items (XEP-0065 4). */
static int
p65_disco_items(const struct iq_req *r, const char *node, struct xml_node *q)
{
	const struct host_config *h = config_host(server_config(), r->to.domain);
	struct xml_node *it;

	if (node == NULL && h != NULL && h->proxy65 != NULL) {
		it = xml_add(q, "item", NULL);
		xml_set_attr(it, "jid", h->proxy65);
		xml_set_attr(it, "name", SERVICE_NAME);
	}
	return 0;
}

/* [proxy65] address: what clients connect to (sent as it is, escaped). */
static int
p65_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	if (strcmp(key, "address") == 0 && value[0] != '\0' &&
	    strlen(value) < 254)
		return 0;
	snprintf(err, errlen, "[%s] knows only address = a host name or IP "
	    "address", MODNAME);
	return -1;
}

static int
p65_init(void)
{
	if (server_config()->proxy65_ports.n == 0)
		log_warnx("%s: no proxy65_ports in [server]: the proxy "
		    "refuses to act as a streamhost", MODNAME);
	return 0;
}

const struct module mod_proxy65 = {
	.name = MODNAME,
	.init = p65_init,
	.disco_items = p65_disco_items,
	.serves_domain = p65_serves,
	.component_route = p65_route,
	.config_check = p65_config_check,
};
