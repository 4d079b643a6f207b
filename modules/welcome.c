/*
 * welcome.c - a welcome message for every account this server process
 * creates (in-band registration, admin commands): [server]
 * welcome_message, with "$user" replaced by the new account's username
 * and "$host" by its domain, sent as a normal message from the host.
 *
 * It is routed like any message, so with nobody online yet it waits in
 * the offline store and arrives at the first login.  Accounts made with
 * `xmppd adduser` are created by another process and get no welcome.
 */
#include <stdio.h>
#include <string.h>

#include "module.h"

#define WELCOME_MAX	65536	/* bytes of the expanded text */

/* Append tmpl to b with $user and $host replaced; 0, or -1 if too long. */
static int
expand(struct buf *b, const char *tmpl, const char *local, const char *host)
{
	const char *p = tmpl, *d;
	int rc = 0;

	while (rc == 0 && (d = strchr(p, '$')) != NULL) {
		rc = buf_add(b, p, (size_t)(d - p));
		if (strncmp(d, "$user", 5) == 0) {
			rc |= buf_addstr(b, local);
			p = d + 5;
		} else if (strncmp(d, "$host", 5) == 0) {
			rc |= buf_addstr(b, host);
			p = d + 5;
		} else {
			rc |= buf_add(b, "$", 1);
			p = d + 1;
		}
	}
	if (rc == 0)
		rc = buf_addstr(b, p);
	return rc == 0 ? 0 : -1;
}

static void
welcome_created(const char *host, const char *local)
{
	const char *tmpl = server_config()->welcome_message;
	char to[JID_MAX + 1];
	struct xml_node *m;
	struct buf b;

	if (tmpl == NULL || *tmpl == '\0')
		return;
	if (snprintf(to, sizeof to, "%s@%s", local, host) >= (int)sizeof to)
		return;
	buf_init(&b, WELCOME_MAX);
	if (expand(&b, tmpl, local, host) == -1) {
		log_warnx("welcome: message for %s too long; not sent", to);
		buf_free(&b);
		return;
	}
	m = xml_new(xml_arena_new(), "message", NS_CLIENT);
	xml_set_attr(m, "type", "normal");
	xml_set_attr(m, "from", host);
	xml_set_attr(m, "to", to);
	xml_add_text_child(m, "body", NULL, buf_cstr(&b));
	route(m);
	xml_arena_free(m->arena);
	buf_free(&b);
	log_debug("welcome: message sent to %s", to);
}

const struct module mod_welcome = {
	.name = "welcome",
	.account_created = welcome_created,
};
