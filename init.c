/*
 * init.c - `xmppd init DOMAIN`: write a first configuration with paths
 * under the home directory, and say what to do next.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "init.h"
#include "jid.h"
#include "util.h"

struct init_opts {
	char		 domain[JID_PART_MAX + 1];
	unsigned	 c2s_port, tls_port, s2s_port;
	const char	*data, *cert, *key;
	int		 force;
};

static int
parse_port(const char *s, unsigned *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
parse_args(int argc, char **argv, struct init_opts *o)
{
	memset(o, 0, sizeof *o);
	o->c2s_port = 5222;
	if (argc < 1 || argv[0][0] == '-' ||
	    strlcpy_ok(o->domain, argv[0], sizeof o->domain) == -1 ||
	    jid_prep_domain(o->domain) == -1) {
		fprintf(stderr, "xmppd init: first argument must be your domain\n");
		return -1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--force") == 0) {
			o->force = 1;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "xmppd init: %s needs a value\n", a);
			return -1;
		}
		i++;
		if ((strcmp(a, "--c2s-port") == 0 && parse_port(v, &o->c2s_port) == 0) ||
		    (strcmp(a, "--c2s-tls-port") == 0 && parse_port(v, &o->tls_port) == 0) ||
		    (strcmp(a, "--s2s-port") == 0 && parse_port(v, &o->s2s_port) == 0))
			continue;
		if (strcmp(a, "--data") == 0)
			o->data = v;
		else if (strcmp(a, "--cert") == 0)
			o->cert = v;
		else if (strcmp(a, "--key") == 0)
			o->key = v;
		else {
			fprintf(stderr, "xmppd init: bad option or value: %s %s\n", a, v);
			return -1;
		}
	}
	if ((o->cert == NULL) != (o->key == NULL)) {
		fprintf(stderr, "xmppd init: give --cert and --key together\n");
		return -1;
	}
	if ((o->tls_port && o->tls_port == o->c2s_port) ||
	    (o->s2s_port && (o->s2s_port == o->c2s_port || o->s2s_port == o->tls_port))) {
		fprintf(stderr, "xmppd init: each port may be used once\n");
		return -1;
	}
	return 0;
}

/* mkdir -p for the directory part of path. */
static int
make_parent(const char *path)
{
	char buf[4096];
	char *p;

	if (strlcpy_ok(buf, path, sizeof buf) == -1)
		return -1;
	for (p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0700) == -1 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return 0;
}

int
cmd_init(const char *path, int argc, char **argv)
{
	struct init_opts o;
	char cert[4200], key[4200], ports[64];
	FILE *fp;
	int fd;

	if (parse_args(argc, argv, &o) == -1)
		return 2;
	if (o.cert == NULL) {
		snprintf(cert, sizeof cert, "~/etc/certificates/%s.crt", o.domain);
		snprintf(key, sizeof key, "~/etc/certificates/%s.key", o.domain);
	} else {
		snprintf(cert, sizeof cert, "%s", o.cert);
		snprintf(key, sizeof key, "%s", o.key);
	}
	if (make_parent(path) == -1) {
		fprintf(stderr, "xmppd init: cannot create the directory of %s: %s\n",
		    path, strerror(errno));
		return 1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC |
	    (o.force ? O_TRUNC : O_EXCL), 0600);
	if (fd == -1) {
		if (errno == EEXIST)
			fprintf(stderr, "xmppd init: %s exists; use --force to "
			    "replace it\n", path);
		else
			fprintf(stderr, "xmppd init: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fp = fdopen(fd, "w");
	fprintf(fp,
	    "# xmppd configuration for %s, written by `xmppd init`.\n"
	    "# Every key is explained in sample.ini; `xmppd check` tests this file.\n"
	    "\n[server]\n"
	    "admins = admin@%s\n"
	    "data_path = %s\n"
	    "interfaces = *\n"
	    "c2s_ports = %u\n",
	    o.domain, o.domain, o.data ? o.data : "~/var/xmppd", o.c2s_port);
	if (o.tls_port)
		fprintf(fp, "c2s_direct_tls_ports = %u\n", o.tls_port);
	if (o.s2s_port)
		fprintf(fp, "s2s_ports = %u\n", o.s2s_port);
	fprintf(fp,
	    "modules = roster, ping, offline, disco, version, uptime, time, private, "
	    "vcard, privacy, blocklist, register, motd, welcome\n"
	    "\n[tls]\n"
	    "# Provider-managed certificates are renewed in place; xmppd notices.\n"
	    "certificate = %s\n"
	    "key = %s\n"
	    "\n[host %s]\n"
	    "enabled = true\n", cert, key, o.domain);
	if (fclose(fp) != 0) {
		fprintf(stderr, "xmppd init: writing %s: %s\n", path, strerror(errno));
		return 1;
	}
	snprintf(ports, sizeof ports, "%u", o.c2s_port);
	printf("wrote %s\n\nNext steps:\n"
	    "  1. Ask your provider to open port %s (and any other port you "
	    "listed),\n     e.g. `uberspace port add`, and put the number they "
	    "give you in c2s_ports.\n"
	    "  2. Publish DNS SRV records:\n"
	    "       _xmpp-client._tcp.%s. 3600 IN SRV 0 5 %s %s.\n",
	    path, ports, o.domain, ports, o.domain);
	if (o.tls_port)
		printf("       _xmpps-client._tcp.%s. 3600 IN SRV 0 5 %u %s.\n",
		    o.domain, o.tls_port, o.domain);
	if (o.s2s_port)
		printf("       _xmpp-server._tcp.%s. 3600 IN SRV 0 5 %u %s.\n",
		    o.domain, o.s2s_port, o.domain);
	printf("  3. Check everything:      xmppd check\n"
	    "  4. Add your account:      xmppd adduser admin@%s\n"
	    "  5. Run it under your supervisor in the foreground, e.g. supervisord:\n"
	    "       [program:xmppd]\n"
	    "       command=%%(ENV_HOME)s/bin/xmppd run\n"
	    "       autostart=yes\n"
	    "       autorestart=yes\n",
	    o.domain);
	return 0;
}
