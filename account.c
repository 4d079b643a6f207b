/*
 * account.c - account records on disk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "modules/module.h"
#include "router.h"
#include "sasl.h"

static int
write_creds(const char *host, const char *local, const char *password,
    int create, char *err, size_t errlen)
{
	struct account_creds cr;
	char text[ACCOUNT_MAX_FILE];
	int n;

	if (*password == '\0' || strlen(password) > PASSWORD_MAX) {
		snprintf(err, errlen, "password must be 1 to %d bytes", PASSWORD_MAX);
		return -1;
	}
	if (account_creds_make(password, SCRAM_DEFAULT_ITER, &cr) == -1 ||
	    (n = account_creds_format(&cr, text, sizeof text)) < 0) {
		snprintf(err, errlen, "cannot derive keys");
		return -1;
	}
	explicit_bzero(&cr, sizeof cr);
	if ((create ? store_create : store_write)(host, local, ACCOUNT_FILE, text,
	    (size_t)n) == -1) {
		if (errno == EEXIST)
			snprintf(err, errlen, "%s@%s already exists", local, host);
		else if (errno == ENOENT)
			snprintf(err, errlen, "%s@%s does not exist", local, host);
		else
			snprintf(err, errlen, "cannot write account file: %s",
			    strerror(errno));
		return -1;
	}
	return 0;
}

int
account_create(const char *host, const char *local, const char *password,
    char *err, size_t errlen)
{
	if (account_exists(host, local)) {
		snprintf(err, errlen, "%s@%s already exists", local, host);
		errno = EEXIST;
		return -1;
	}
	if (store_user_create(host, local) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create account directory: %s",
		    strerror(errno));
		return -1;
	}
	/* Exclusive: of two racing creators exactly one succeeds. */
	if (write_creds(host, local, password, 1, err, errlen) == -1) {
		if (errno != EEXIST && !account_exists(host, local))
			store_user_delete(host, local);
		return -1;
	}
	if (server_config() != NULL)
		for (const struct module *const *m = modules_all(); *m; m++)
			if ((*m)->account_created != NULL && module_enabled(*m))
				(*m)->account_created(host, local);
	return 0;
}

int
account_set_password(const char *host, const char *local, const char *password,
    char *err, size_t errlen)
{
	if (!account_exists(host, local)) {
		snprintf(err, errlen, "%s@%s does not exist", local, host);
		errno = ENOENT;
		return -1;
	}
	return write_creds(host, local, password, 0, err, errlen);
}

int
account_delete(const char *host, const char *local, char *err, size_t errlen)
{
	if (!account_exists(host, local)) {
		snprintf(err, errlen, "%s@%s does not exist", local, host);
		errno = ENOENT;
		return -1;
	}
	if (server_config() != NULL) {
		char bare[2 * 1024 + 2];
		snprintf(bare, sizeof bare, "%s@%s", local, host);
		router_kick_user(bare, "not-authorized", "Account deleted");
	}
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->account_deleted != NULL)
			(*m)->account_deleted(host, local);
	if (store_user_delete(host, local) == -1) {
		snprintf(err, errlen, "cannot remove account directory: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
account_load_creds(const char *host, const char *local, struct account_creds *out)
{
	char *text = NULL, err[128];
	ssize_t n;
	int rc;

	n = store_read(host, local, ACCOUNT_FILE, ACCOUNT_MAX_FILE, &text);
	if (n < 0)
		return -1;
	rc = account_creds_parse(text, (size_t)n, out, err, sizeof err);
	if (rc == -1)
		log_warnx("account %s@%s: %s", local, host, err);
	explicit_bzero(text, (size_t)n);
	free(text);
	return rc;
}

int
account_exists(const char *host, const char *local)
{
	char path[4096];

	if (*local == '\0' || store_path(host, local, ACCOUNT_FILE, path, sizeof path) == -1)
		return 0;
	return access(path, F_OK) == 0;
}

int
account_add_missing_keys(const char *host, const char *local,
    const char *password, size_t pwlen)
{
	struct account_creds cr;
	char text[ACCOUNT_MAX_FILE], *pw;
	int n, rc = 0, changed = 0;

	if (account_load_creds(host, local, &cr) == -1)
		return -1;
	pw = xstrndup(password, pwlen);
	for (int h = 0; h < SCRAM_NHASH; h++)
		if (!cr.key[h].present) {
			if (scram_derive((enum scram_hash)h, pw, pwlen,
			    SCRAM_DEFAULT_ITER, NULL, 0, &cr.key[h]) == -1) {
				rc = -1;
				break;
			}
			changed = 1;
		}
	xfree_secret(pw, pwlen + 1);
	if (rc == 0 && changed) {
		if ((n = account_creds_format(&cr, text, sizeof text)) < 0 ||
		    store_write(host, local, ACCOUNT_FILE, text, (size_t)n) == -1)
			rc = -1;
		else
			log_info("account %s@%s: SCRAM keys added for every hash",
			    local, host);
		explicit_bzero(text, sizeof text);
	}
	explicit_bzero(&cr, sizeof cr);
	return rc;
}
