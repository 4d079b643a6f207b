/*
 * ping.c - XEP-0199: the server answers pings addressed to it (and, on the
 * account's behalf, to the user's own bare JID).
 */
#include "module.h"

#define NS_PING	"urn:xmpp:ping"

static enum stanza_error
ping(struct iq_req *r)
{
	return iq_ok(r);
}

static const struct iq_handler ping_iq[] = {
	{ "ping", NS_PING, IQ_GET, IQ_TO_SERVER | IQ_TO_SELF, ping },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const ping_features[] = { NS_PING, NULL };

const struct module mod_ping = {
	.name = "ping",
	.features = ping_features,
	.iq = ping_iq,
};
