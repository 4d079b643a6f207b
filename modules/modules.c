/*
 * modules.c - the static module table, module names, IQ dispatch.
 *
 * Order matters and is fixed here, not in the config: hooks run in table
 * order (presence before offline, so subscription requests are handled
 * before anything tries to store them).
 */
#include <stdio.h>
#include <string.h>

#include "module.h"

/*
 * Modules still being written are declared weak: until their file exists
 * their entry is NULL and skipped, so work on them can land one by one.
 */
#define MODULE(x)	extern const struct module x __attribute__((weak))
MODULE(mod_roster); MODULE(mod_presence); MODULE(mod_offline); MODULE(mod_ping);
MODULE(mod_disco); MODULE(mod_version); MODULE(mod_uptime); MODULE(mod_time);
MODULE(mod_private); MODULE(mod_vcard); MODULE(mod_privacy);
MODULE(mod_blocklist); MODULE(mod_register); MODULE(mod_motd);
MODULE(mod_welcome); MODULE(mod_admin_adhoc); MODULE(mod_posix);
MODULE(mod_carbons); MODULE(mod_csi); MODULE(mod_mam); MODULE(mod_pep);
MODULE(mod_muc); MODULE(mod_smacks); MODULE(mod_cloud_notify);
MODULE(mod_http_file_share); MODULE(mod_proxy65);
MODULE(mod_external_services); MODULE(mod_websocket); MODULE(mod_bosh);

/* Filters come first (privacy may drop a stanza before anyone sees it),
 * then the ones that add to stanzas (vcard's photo hash in presence),
 * then presence itself, then the rest. */
static const struct module *const all_modules[] = {
	&mod_privacy, &mod_blocklist, &mod_muc, &mod_mam, &mod_pep, &mod_vcard,
	&mod_roster, &mod_presence, &mod_carbons, &mod_csi, &mod_smacks,
	&mod_disco, &mod_version, &mod_uptime, &mod_time, &mod_ping,
	&mod_private, &mod_register, &mod_motd, &mod_welcome,
	&mod_admin_adhoc, &mod_posix, &mod_cloud_notify,
	&mod_http_file_share, &mod_proxy65,
	&mod_external_services,
	&mod_websocket,
	&mod_bosh,
	&mod_offline,
};
#define NALL	(sizeof all_modules / sizeof all_modules[0])
static const struct module *table[NALL + 1];

/* Which modules `modules =` switches on, worked out once per (re)load:
 * module_enabled() runs for every hook of every stanza. */
static const struct config *enabled_for;
static unsigned char enabled[NALL + 1];


static void
build_table(void)
{
	size_t i, n = 0;

	if (table[0] != NULL)
		return;
	for (i = 0; i < NALL; i++)
		if (all_modules[i] != NULL)
			table[n++] = all_modules[i];
	table[n] = NULL;
}

/*
 * Prosody module names a carried-over configuration may list that this
 * xmppd does not have (yet).  They are accepted, and start-up says that
 * they are ignored, so a seed configuration still loads.
 */
static const char *const foreign[] = {
	"saslauth", "tls", "dialback", "disco", "private", "vcard", "privacy",
	"version", "uptime", "time", "posix", "pep", "register", "admin_adhoc",
	"motd", "welcome", "blocklist", "carbons", "smacks", "mam", "csi",
	"cloud_notify", "bookmarks", "vcard_legacy", "muc", "muc_mam",
	"http_file_share", "websocket", "bosh", "proxy65", "external_services",
	"announce", "lastactivity", "groups", "watchregistrations", "legacyauth",
	"compression", "server_contact_info", "limits", "s2s_bidi",
	NULL
};

/* Handled by the core itself, always on. */
static const char *const builtin[] = { "saslauth", "tls", "dialback", NULL };

static int
in_list(const char *const *l, const char *name)
{
	for (; *l != NULL; l++)
		if (strcmp(*l, name) == 0)
			return 1;
	return 0;
}

static const struct module *
find(const char *name)
{
	build_table();
	for (const struct module *const *m = modules_all(); *m; m++)
		if (strcmp((*m)->name, name) == 0)
			return *m;
	return NULL;
}

int
module_name_known(const char *name)
{
	return find(name) != NULL || in_list(foreign, name);
}

const char *
module_names(void)
{
	static char names[1024];
	size_t n = 0;

	if (names[0] != '\0')
		return names;
	build_table();
	for (const struct module *const *m = modules_all(); *m; m++)
		n += (size_t)snprintf(names + n, sizeof names - n, "%s%s",
		    n ? " " : "", (*m)->name);
	for (const char *const *f = foreign; *f && n < sizeof names; f++)
		n += (size_t)snprintf(names + n, sizeof names - n, " %s", *f);
	return names;
}

const struct module *const *
modules_all(void)
{
	build_table();
	return table;
}

int
module_enabled(const struct module *m)
{
	const struct config *cfg = server_config();
	size_t i;

	if (m->always)
		return 1;
	if (cfg == NULL)
		return 0;
	build_table();
	if (enabled_for != cfg) {
		for (i = 0; table[i] != NULL; i++)
			enabled[i] = config_has_module(cfg, table[i]->name);
		enabled_for = cfg;
	}
	for (i = 0; table[i] != NULL; i++)
		if (table[i] == m)
			return enabled[i];
	return config_has_module(cfg, m->name);
}

int
modules_init(void)
{
	const struct config *cfg = server_config();

	build_table();
	enabled_for = NULL;	/* a new configuration: work it out again */
	for (size_t i = 0; i < cfg->modules.n; i++) {
		const char *name = cfg->modules.v[i];
		if (find(name) == NULL && !in_list(builtin, name))
			log_warnx("module '%s' is not available in this xmppd; "
			    "ignored", name);
	}
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->init != NULL && module_enabled(*m) && (*m)->init() == -1) {
			log_warnx("module %s failed to start", (*m)->name);
			return -1;
		}
	return 0;
}

void
modules_add_features(struct xml_node *query)
{
	for (const struct module *const *m = modules_all(); *m; m++) {
		if (!module_enabled(*m) || (*m)->features == NULL)
			continue;
		for (const char *const *f = (*m)->features; *f; f++) {
			struct xml_node *fe = xml_add(query, "feature", NULL);
			xml_set_attr(fe, "var", *f);
		}
	}
}

void
modules_dispatch_iq(struct iq_req *r)
{
	const struct iq_handler *h, *found = NULL;
	int wrong_type = 0;
	enum stanza_error e;

	for (const struct module *const *m = modules_all(); *m && found == NULL; m++) {
		if (!module_enabled(*m) || (*m)->iq == NULL)
			continue;
		for (h = (*m)->iq; h->fn != NULL; h++) {
			if (!(h->where & r->where) ||
			    strcmp(h->ns, r->payload->ns) != 0 ||
			    (h->name != NULL && strcmp(h->name, r->payload->name) != 0))
				continue;
			if (!(h->types & r->type)) {
				wrong_type = 1;
				continue;
			}
			found = h;
			break;
		}
	}
	if (found == NULL && r->where == IQ_TO_SELF && !wrong_type) {
		/* RFC 6120 10.3.3: for the account, else for the server. */
		r->where = IQ_TO_SERVER;
		modules_dispatch_iq(r);
		return;
	}
	if (found == NULL) {
		iq_error(r, wrong_type ? ERR_BAD_REQUEST :
		    ERR_SERVICE_UNAVAILABLE, NULL);
		return;
	}
	e = found->fn(r);
	if (e != ERR_NONE)
		iq_error(r, e, NULL);
}

int
module_config_check(const char *module, const char *key, const char *value,
    char *err, size_t errlen)
{
	const struct module *m = find(module);

	if (m == NULL) {
		snprintf(err, errlen, "module '%s' is not available in this "
		    "xmppd, so [%s] has no settings", module, module);
		return -1;
	}
	if (m->config_check == NULL) {
		snprintf(err, errlen, "module '%s' has no settings", module);
		return -1;
	}
	return m->config_check(key, value, err, errlen);
}

int
modules_handle_preauth(const char *ns)
{
	for (const struct module *const *m = modules_all(); *m; m++) {
		if (!module_enabled(*m) || (*m)->iq == NULL)
			continue;
		for (const struct iq_handler *h = (*m)->iq; h->fn != NULL; h++)
			if ((h->where & IQ_PREAUTH) && strcmp(h->ns, ns) == 0)
				return 1;
	}
	return 0;
}
