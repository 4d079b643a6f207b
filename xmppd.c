/*
 * xmppd.c - the command line: run, adduser, passwd, deluser, check,
 * version, help.  Exit status: 0 success, 1 failure, 2 usage or config.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "check.h"
#include "init.h"
#include "import.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#ifndef XMPPD_VERSION
#define XMPPD_VERSION "0.0.0"
#endif

static const char usage_text[] =
"usage: xmppd [-c FILE] [-N FD] [command]\n"
"\n"
"commands:\n"
"  run                 serve in the foreground (the default); logs go to stderr\n"
"  init DOMAIN [--c2s-port N] [--c2s-tls-port N] [--s2s-port N] [--data DIR]\n"
"       [--cert FILE --key FILE] [--force]\n"
"                      write a first configuration (to -c FILE or\n"
"                      ~/etc/xmppd.ini; never replaced without --force) and\n"
"                      print the next steps\n"
"  adduser JID         create an account; the password is asked for on a\n"
"                      terminal, or read as one line from standard input\n"
"  passwd JID          change an account's password (same input rules)\n"
"  deluser JID         delete an account and all its data\n"
"  check [config|certs|ports|data|dns|all]\n"
"                      explain every problem found in the configuration, the\n"
"                      certificates (names, key, expiry), the ports (free or\n"
"                      already ours), the data directory (writable, private)\n"
"                      and the DNS SRV records (printing the records to add);\n"
"                      exit 0 only when all is well (default: all)\n"
"  import-prosody PROSODY_DATA_DIR [--host HOST] [--dry-run] [--force]\n"
"                      import Prosody's accounts (passwords kept), rosters,\n"
"                      vCards, private XML, offline messages and PEP nodes;\n"
"                      run it while xmppd is stopped; existing accounts are\n"
"                      left alone without --force\n"
"  version             print the version\n"
"  help                this text\n"
"\n"
"options:\n"
"  -c FILE             configuration file (default: $XMPPD_CONFIG, else\n"
"                      ~/etc/xmppd.ini)\n"
"  -N FD               once the ports are open, write a newline to FD and close\n"
"                      it (s6 readiness notification)\n"
"\n"
"signals: TERM/INT close every stream politely and exit 0; HUP reloads the\n"
"configuration and certificates (a broken file is reported, the old one kept).\n"
"Changed certificate files are picked up without a signal.\n"
"\n"
"exit status: 0 success, 1 failure, 2 usage or configuration error.\n"
"See sample.ini for every configuration key.\n";

static int
usage(void)
{
	fputs(usage_text, stderr);
	return 2;
}

static int
load(const char *path, struct config **cfg)
{
	char err[1024];

	if (config_load(path, cfg, err, sizeof err) == -1) {
		fprintf(stderr, "xmppd: %s\n", err);
		return -1;
	}
	return 0;
}

/* One line from stdin, or a prompt without echo on a terminal. */
static int
read_password(const char *prompt, int confirm, char *out, size_t outlen)
{
	struct termios old, quiet;
	int tty = isatty(0);
	size_t n;
	char again[PASSWORD_MAX + 2];

	if (tty) {
		fputs(prompt, stderr);
		if (tcgetattr(0, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(0, TCSAFLUSH, &quiet);
		}
	}
	if (fgets(out, (int)outlen, stdin) == NULL) {
		if (tty) {
			tcsetattr(0, TCSAFLUSH, &old);
			fputc('\n', stderr);
		}
		fprintf(stderr, "xmppd: no password given\n");
		return -1;
	}
	n = strlen(out);
	if (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	else if (n == outlen - 1) {
		fprintf(stderr, "xmppd: password longer than %d bytes\n", PASSWORD_MAX);
		return -1;
	}
	if (n > 0 && out[n - 1] == '\r')
		out[--n] = '\0';
	if (tty) {
		fputc('\n', stderr);
		if (confirm) {
			fputs("Again: ", stderr);
			if (fgets(again, sizeof again, stdin) == NULL)
				again[0] = '\0';
			again[strcspn(again, "\r\n")] = '\0';
			fputc('\n', stderr);
		}
		tcsetattr(0, TCSAFLUSH, &old);
		if (confirm && strcmp(out, again) != 0) {
			explicit_bzero(again, sizeof again);
			fprintf(stderr, "xmppd: passwords do not match\n");
			return -1;
		}
		explicit_bzero(again, sizeof again);
	}
	if (n == 0) {
		fprintf(stderr, "xmppd: empty password\n");
		return -1;
	}
	return 0;
}

/* Parse JID for an account command; 0, or an exit status. */
static int
account_jid(const struct config *cfg, const char *s, struct jid *j)
{
	char err[512];

	if (jid_parse(j, s) == -1 || j->local[0] == '\0' || j->resource[0] != '\0') {
		fprintf(stderr, "xmppd: '%s' is not an account JID (user@host)\n", s);
		return 2;
	}
	if (config_host(cfg, j->domain) == NULL) {
		fprintf(stderr, "xmppd: %s is not an enabled [host] in %s\n",
		    j->domain, cfg->path);
		return 1;
	}
	if (store_open_nolock(cfg->data_path, err, sizeof err) == -1) {
		fprintf(stderr, "xmppd: %s\n", err);
		return 1;
	}
	return 0;
}

static int
cmd_account(const char *cmd, const char *path, const char *jidstr)
{
	struct config *cfg;
	struct jid j;
	char pw[PASSWORD_MAX + 2], err[512];
	int rc;

	if (load(path, &cfg) == -1)
		return 2;
	if ((rc = account_jid(cfg, jidstr, &j)) != 0)
		goto out;
	rc = 1;
	if (strcmp(cmd, "deluser") == 0) {
		if (account_delete(j.domain, j.local, err, sizeof err) == -1)
			fprintf(stderr, "xmppd: %s\n", err);
		else {
			printf("deleted %s@%s\n", j.local, j.domain);
			rc = 0;
		}
		goto out;
	}
	if (strcmp(cmd, "adduser") == 0 && account_exists(j.domain, j.local)) {
		fprintf(stderr, "xmppd: %s@%s already exists\n", j.local, j.domain);
		goto out;
	}
	if (strcmp(cmd, "passwd") == 0 && !account_exists(j.domain, j.local)) {
		fprintf(stderr, "xmppd: %s@%s does not exist\n", j.local, j.domain);
		goto out;
	}
	if (read_password("Password: ", 1, pw, sizeof pw) == -1)
		goto out;
	if (strcmp(cmd, "adduser") == 0)
		rc = account_create(j.domain, j.local, pw, err, sizeof err);
	else
		rc = account_set_password(j.domain, j.local, pw, err, sizeof err);
	explicit_bzero(pw, sizeof pw);
	if (rc == -1) {
		fprintf(stderr, "xmppd: %s\n", err);
		rc = 1;
	} else {
		printf("%s %s@%s\n", strcmp(cmd, "adduser") == 0 ? "created" :
		    "changed the password of", j.local, j.domain);
		rc = 0;
	}
out:
	config_free(cfg);
	return rc;
}

static int
cmd_check(const char *path, const char *what)
{
	struct config *cfg;
	int problems = 0;

	if (strcmp(what, "config") != 0 && strcmp(what, "certs") != 0 &&
	    strcmp(what, "ports") != 0 && strcmp(what, "data") != 0 &&
	    strcmp(what, "dns") != 0 &&
	    strcmp(what, "all") != 0)
		return usage();
	if (load(path, &cfg) == -1)
		return 2;
	printf("%s: configuration OK\n", path);
	if (strcmp(what, "certs") == 0 || strcmp(what, "all") == 0)
		problems += check_certs(cfg);
	if (strcmp(what, "ports") == 0 || strcmp(what, "all") == 0)
		problems += check_ports(cfg);
	if (strcmp(what, "data") == 0 || strcmp(what, "all") == 0)
		problems += check_data(cfg);
	if (strcmp(what, "dns") == 0 || strcmp(what, "all") == 0)
		problems += check_dns(cfg);
	if (strcmp(what, "config") != 0)
		printf(problems ? "%d problem(s) found\n" : "all checks passed\n",
		    problems);
	config_free(cfg);
	return problems ? 1 : 0;
}

static int
cmd_run(const char *path)
{
	struct config *cfg;

	if (load(path, &cfg) == -1)
		return 2;
	return server_run(cfg, path);
}

int
main(int argc, char **argv)
{
	char *path = NULL, *def = NULL;
	const char *cmd;
	int i = 1, rc;

	while (i < argc && argv[i][0] == '-' && (argv[i][1] == 'c' || argv[i][1] == 'N')) {
		const char *v = argv[i][2] != '\0' ? argv[i] + 2 :
		    i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			return usage();
		if (argv[i][1] == 'c')
			path = (char *)v;
		else {
			char *end;
			long fd = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || fd < 3 || fd > 1023)
				return usage();
			server_set_ready_fd((int)fd);
		}
		i += argv[i][2] != '\0' ? 1 : 2;
	}
	cmd = i < argc ? argv[i++] : "run";
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("xmppd %s\n", XMPPD_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (path == NULL) {
		def = config_default_path();
		if (def == NULL) {
			fprintf(stderr, "xmppd: HOME is not set; use -c FILE\n");
			return 2;
		}
		path = def;
	}
	if (strcmp(cmd, "run") == 0 && i == argc)
		rc = cmd_run(path);
	else if ((strcmp(cmd, "adduser") == 0 || strcmp(cmd, "passwd") == 0 ||
	    strcmp(cmd, "deluser") == 0) && i + 1 == argc)
		rc = cmd_account(cmd, path, argv[i]);
	else if (strcmp(cmd, "init") == 0 && i < argc)
		rc = cmd_init(path, argc - i, argv + i);
	else if (strcmp(cmd, "import-prosody") == 0 && i < argc)
		rc = cmd_import_prosody(path, argc - i, argv + i);
	else if (strcmp(cmd, "check") == 0 && i + 1 >= argc)
		rc = cmd_check(path, i < argc ? argv[i] : "all");
	else
		rc = usage();
	free(def);
	return rc;
}
