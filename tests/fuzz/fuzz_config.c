/*
 * fuzz_config.c - libFuzzer target for the configuration loader.
 *
 * The input is written to a temporary file and loaded with config_load()
 * (inih, our line reader, every key's parser, the whole-file checks).  The
 * module table (modules/modules.c and the modules) and tls.c's cipher names
 * are linked in, so [MODULE] sections and cipher lists are checked as in
 * the server.
 *
 * A failure must come with "FILE:LINE: reason" or "FILE: reason", fit the
 * buffer, and leave no config behind; a short error buffer is never
 * overrun.  An accepted config must obey every documented range and every
 * rule between limits, name each port at most once, list normalised hosts
 * that config_host() finds, and load the same way a second time.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "jid.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

#define KIB	((size_t)1024)
#define MIB	(1024 * KIB)
#define GIB	(1024 * MIB)

static char	path[PATH_MAX];

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if (snprintf(path, sizeof path, "%s/fuzz-config-XXXXXX", dir) >=
	    (int)sizeof path)
		abort();
	if ((fd = mkstemp(path)) == -1)
		abort();
	close(fd);
	atexit(cleanup);
	/* "~" in paths expands to this. */
	setenv("HOME", "/nonexistent-fuzz-home", 1);
	return 0;
}

static void
check_limits(const struct limits *l)
{
	check(l->max_stanza_size >= 4 * KIB && l->max_stanza_size <= 16 * MIB);
	check(l->max_stanza_size_preauth >= 4 * KIB &&
	    l->max_stanza_size_preauth <= l->max_stanza_size);
	check(l->max_depth >= 8 && l->max_depth <= 256);
	check(l->max_attrs >= 8 && l->max_attrs <= 512);
	check(l->max_name >= 32 && l->max_name <= 1024);
	check(l->max_connections >= 1 && l->max_connections <= 100000);
	check(l->max_connections_per_ip >= 1 &&
	    l->max_connections_per_ip <= l->max_connections);
	check(l->max_unauth_per_ip >= 1 &&
	    l->max_unauth_per_ip <= l->max_connections_per_ip);
	check(l->auth_timeout >= 1 && l->auth_timeout <= 600);
	check(l->auth_attempts >= 1 && l->auth_attempts <= 100);
	check(l->max_resources >= 1 && l->max_resources <= 1000);
	check(l->max_offline_messages <= 100000);
	check(l->max_roster_items >= 1 && l->max_roster_items <= 100000);
	check(l->output_high_water >= 16 * KIB &&
	    l->output_high_water <= l->output_hard_limit);
	check(l->output_hard_limit >= 16 * KIB && l->output_hard_limit <= GIB);
	check(l->output_hard_limit / 2 >= l->max_stanza_size);
	check(l->idle_timeout >= 10 && l->idle_timeout <= 86400);
	check(l->ping_timeout >= 5 && l->ping_timeout <= 3600);
	check(l->shutdown_timeout >= 1 && l->shutdown_timeout <= 300);
	check(l->max_bytes_per_second >= KIB && l->max_bytes_per_second <= GIB);
	check(l->auth_failures_per_ip >= 1 && l->auth_failures_per_ip <= 100000);
}

static void
check_ports(const struct config *c)
{
	const struct portlist *lists[] = { &c->c2s_ports,
	    &c->c2s_direct_tls_ports, &c->s2s_ports };
	unsigned short seen[3 * CONFIG_MAX_PORTS];
	size_t n = 0;

	check(c->c2s_ports.n + c->c2s_direct_tls_ports.n > 0);
	for (size_t i = 0; i < 3; i++) {
		check(lists[i]->n <= CONFIG_MAX_PORTS);
		for (size_t k = 0; k < lists[i]->n; k++) {
			check(lists[i]->v[k] != 0);
			for (size_t m = 0; m < n; m++)
				check(seen[m] != lists[i]->v[k]);
			seen[n++] = lists[i]->v[k];
		}
	}
}

static void
check_strlist(const struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		check(l->v[i] != NULL && l->v[i][0] != '\0');
}

static void
check_config(const struct config *c)
{
	const struct host_config *h;
	char name[JID_PART_MAX + 1];
	size_t n = 0;

	check(c->data_path != NULL && c->data_path[0] != '\0');
	check(c->log_level <= LOG_LVL_DEBUG);
	check_limits(&c->limits);
	check_ports(c);
	check_strlist(&c->admins);
	check_strlist(&c->interfaces);
	check_strlist(&c->modules);
	check_strlist(&c->ciphers);
	for (size_t i = 0; i < c->admins.n; i++)
		check(config_is_admin(c, c->admins.v[i]));
	for (size_t i = 0; i < c->modules.n; i++)
		check(config_has_module(c, c->modules.v[i]));
	check((c->certificate == NULL) == (c->key == NULL));
	for (h = c->hosts; h != NULL; h = h->next) {
		n++;
		check(h->name != NULL && strlen(h->name) < sizeof name);
		memcpy(name, h->name, strlen(h->name) + 1);
		check(jid_prep_domain(name) == 0 && strcmp(name, h->name) == 0);
		check((h->certificate == NULL) == (h->key == NULL));
		if (h->enabled)
			check(config_host(c, h->name) == h);
		else
			check(config_host(c, h->name) == NULL);
		for (const struct host_config *o = h->next; o; o = o->next)
			check(strcmp(o->name, h->name) != 0);
	}
	check(n == c->nhosts);
	for (size_t i = 0; i < c->nmodopts; i++)
		check(config_module_opt(c, c->modopts[i].module,
		    c->modopts[i].key) != NULL);
}

static void
check_error(const char *err, size_t errlen)
{
	size_t plen = strlen(path), len = strnlen(err, errlen);

	check(len < errlen);
	check(len > plen + 2);
	check(strncmp(err, path, plen) == 0 && err[plen] == ':');
	check(err[plen + 1] == ' ' || (err[plen + 1] >= '1' &&
	    err[plen + 1] <= '9'));
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct config *c = NULL, *c2 = NULL;
	char err[1024], small[24];
	FILE *fp;
	int rc;

	if (n > 256 * 1024)
		return 0;
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	if (n > 0 && fwrite(d, 1, n, fp) != n)
		abort();
	if (fclose(fp) != 0)
		abort();

	memset(err, 'X', sizeof err);
	rc = config_load(path, &c, err, sizeof err);
	if (rc == -1) {
		check(c == NULL);
		check_error(err, sizeof err);
		/* The same message, cut to fit a short buffer. */
		memset(small, 'X', sizeof small);
		check(config_load(path, &c2, small, sizeof small) == -1);
		check(c2 == NULL && strnlen(small, sizeof small) < sizeof small);
		check(strncmp(small, err, sizeof small - 1) == 0);
		return 0;
	}
	check(rc == 0 && c != NULL);
	check_config(c);
	/* Loading is a function of the file. */
	check(config_load(path, &c2, err, sizeof err) == 0);
	check(c2->nhosts == c->nhosts && c2->modules.n == c->modules.n &&
	    memcmp(&c2->limits, &c->limits, sizeof c->limits) == 0 &&
	    strcmp(c2->data_path, c->data_path) == 0);
	config_free(c2);
	config_free(c);
	return 0;
}
