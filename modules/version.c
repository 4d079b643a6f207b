/*
 * version.c - software version (XEP-0092) of the server: name, version
 * and, unless [version] hide_os says not to, the operating system.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "module.h"

#define NS_VERSION	"jabber:iq:version"

#ifndef XMPPD_VERSION
#define XMPPD_VERSION	"unknown"
#endif

/* The booleans every config key accepts. */
static int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
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

static int
hide_os(void)
{
	const char *v = config_module_opt(server_config(), "version", "hide_os");
	int b = 0;

	if (v != NULL && parse_bool(v, &b) == -1)
		b = 1;		/* checked at load; if in doubt, say less */
	return b;
}

/* Text from the kernel goes into a stanza: printable ASCII only. */
static int
is_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static enum stanza_error
version_get(struct iq_req *r)
{
	struct xml_node *reply, *q;
	struct utsname u;
	char os[sizeof u.sysname + sizeof u.release];

	reply = iq_result(r);
	q = xml_add(reply, "query", NS_VERSION);
	xml_add_text_child(q, "name", NULL, "xmppd");
	xml_add_text_child(q, "version", NULL, XMPPD_VERSION);
	if (!hide_os() && uname(&u) == 0 &&
	    (size_t)snprintf(os, sizeof os, "%s %s", u.sysname, u.release) <
	    sizeof os && is_printable(os))
		xml_add_text_child(q, "os", NULL, os);
	iq_reply(r, reply);
	return ERR_NONE;
}

static int
version_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	int b;

	if (strcmp(key, "hide_os") != 0) {
		snprintf(err, errlen, "unknown key '%.64s' in [version] (known: "
		    "hide_os)", key);
		return -1;
	}
	if (parse_bool(value, &b) == -1) {
		snprintf(err, errlen, "hide_os: expected true/false, yes/no, "
		    "on/off or 1/0, not '%.64s'", value);
		return -1;
	}
	return 0;
}

static const struct iq_handler version_iq[] = {
	{ "query", NS_VERSION, IQ_GET, IQ_TO_SERVER, version_get },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const version_features[] = { NS_VERSION, NULL };

const struct module mod_version = {
	.name = "version",
	.features = version_features,
	.iq = version_iq,
	.config_check = version_config_check,
};
