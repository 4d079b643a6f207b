/*
 * time.c - entity time (XEP-0202): the server's clock in UTC and the
 * offset of its local time zone.
 */
#include <stdio.h>
#include <time.h>

#include "module.h"

#define NS_TIME		"urn:xmpp:time"

static enum stanza_error
time_get(struct iq_req *r)
{
	struct xml_node *reply, *q;
	int64_t now = wall_time();
	time_t t = (time_t)now;
	struct tm tm;
	long off, aoff;
	char tzo[16], utc[32];

	if (localtime_r(&t, &tm) == NULL)
		return ERR_INTERNAL_SERVER_ERROR;
	/* Real zones lie within -12:00..+14:00; anything else is nonsense. */
	off = tm.tm_gmtoff;
	aoff = off < 0 ? -off : off;
	if (aoff > 24L * 3600)
		return ERR_INTERNAL_SERVER_ERROR;
	snprintf(tzo, sizeof tzo, "%c%02ld:%02ld", off < 0 ? '-' : '+',
	    aoff / 3600, aoff % 3600 / 60);
	format_xep82(now, utc, sizeof utc);
	reply = iq_result(r);
	q = xml_add(reply, "time", NS_TIME);
	xml_add_text_child(q, "tzo", NULL, tzo);
	xml_add_text_child(q, "utc", NULL, utc);
	iq_reply(r, reply);
	return ERR_NONE;
}

static const struct iq_handler time_iq[] = {
	{ "time", NS_TIME, IQ_GET, IQ_TO_SERVER, time_get },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const time_features[] = { NS_TIME, NULL };

const struct module mod_time = {
	.name = "time",
	.features = time_features,
	.iq = time_iq,
};
