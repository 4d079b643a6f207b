/*
 * account.h - accounts: create, change password, delete, load credentials.
 * The `account` file in the account's directory holds SCRAM keys only.
 */
#ifndef XMPPD_ACCOUNT_H
#define XMPPD_ACCOUNT_H

#include <stddef.h>

struct account_creds;

#define ACCOUNT_FILE		"account"
#define ACCOUNT_MAX_FILE	4096
#define PASSWORD_MAX		1023

/* 0, or -1 with a reason in err (errno EEXIST if the account exists). */
int	 account_create(const char *host, const char *local, const char *password,
	    char *err, size_t errlen);
/* -1 with errno ENOENT if there is no such account. */
int	 account_set_password(const char *host, const char *local,
	    const char *password, char *err, size_t errlen);
int	 account_delete(const char *host, const char *local, char *err, size_t errlen);
int	 account_exists(const char *host, const char *local);
/* After a login that showed the password (PLAIN): derive the keys of
 * hashes the account lacks (imported accounts have SCRAM-SHA-1 only). */
int	 account_add_missing_keys(const char *host, const char *local,
	    const char *password, size_t pwlen);
int	 account_load_creds(const char *host, const char *local,
	    struct account_creds *);

#endif
