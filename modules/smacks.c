/*
 * smacks.c - XEP-0198 stream management: this module is its name in
 * `modules =` and its settings in [smacks]; the protocol lives in the
 * stream (stream.c with sm.c), since it counts what the stream carries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

#define NS_SM	"urn:xmpp:sm:3"

static int
smacks_config_check(const char *key, const char *value, char *err, size_t errlen)
{
	char *end;
	unsigned long v;

	if (strcmp(key, "resume_timeout") != 0 && strcmp(key, "max_unacked") != 0) {
		snprintf(err, errlen, "unknown key '%s' in [smacks] (known: "
		    "resume_timeout, max_unacked)", key);
		return -1;
	}
	v = strtoul(value, &end, 10);
	if (*value < '0' || *value > '9' || *end != '\0' ||
	    (strcmp(key, "resume_timeout") == 0 && v > 86400) ||
	    (strcmp(key, "max_unacked") == 0 && (v < 10 || v > 100000))) {
		snprintf(err, errlen, "%s: '%s' is out of range (%s)", key, value,
		    strcmp(key, "resume_timeout") == 0 ? "0..86400 seconds" :
		    "10..100000");
		return -1;
	}
	return 0;
}

static void
smacks_features(struct xml_node *features)
{
	xml_add(features, "sm", NS_SM);
}

static const char *const smacks_features_disco[] = { NS_SM, NULL };

const struct module mod_smacks = {
	.name = "smacks",
	.features = smacks_features_disco,
	.stream_features = smacks_features,
	.config_check = smacks_config_check,
};
