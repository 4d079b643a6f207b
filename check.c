/*
 * check.c - `xmppd check`: certificates, ports, the data directory.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "dns.h"
#include "tls.h"

int
check_certs(const struct config *cfg)
{
	const struct host_config *h;
	int problems = 0;
	char err[512];

	for (h = cfg->hosts; h != NULL; h = h->next) {
		const char *cert = h->certificate ? h->certificate : cfg->certificate;
		const char *key = h->certificate ? h->key : cfg->key;
		struct tls_creds *cr;
		time_t exp;
		long days;

		if (!h->enabled)
			continue;
		if (cert == NULL || key == NULL) {
			printf("%s: no certificate configured: set certificate and key "
			    "in [tls] or [host %s]\n", h->name, h->name);
			problems++;
			continue;
		}
		cr = tls_creds_load(cert, key, err, sizeof err);
		if (cr == NULL) {
			printf("%s: %s\n", h->name, err);
			problems++;
			continue;
		}
		exp = tls_creds_expiry(cr);
		days = (long)((exp - time(NULL)) / 86400);
		if (!tls_creds_match_name(cr, h->name)) {
			printf("%s: the certificate in %s does not name %s: get one "
			    "that covers it\n", h->name, cert, h->name);
			problems++;
		}
		if (exp != 0 && exp < time(NULL)) {
			printf("%s: the certificate in %s has expired: renew it\n",
			    h->name, cert);
			problems++;
		} else if (exp != 0 && days < 14)
			printf("%s: warning: the certificate expires in %ld days\n",
			    h->name, days);
		else if (tls_creds_is_self_signed(cr)) {
			printf("%s: the certificate in %s is self-signed: clients "
			    "will warn, and other servers may refuse it; use your "
			    "provider's (Let's Encrypt) certificate\n", h->name, cert);
			problems++;
		}
		else
			printf("%s: certificate OK (%ld days left)\n", h->name, days);
		tls_creds_unref(cr);
	}
	return problems;
}

/* Can we bind addr:port?  0 yes, else the errno. */
static int
try_bind(const char *addr, unsigned short port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, rc = 0;

	memset(&ss, 0, sizeof ss);
	if (strcmp(addr, "*") == 0 || strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (strcmp(addr, "*") == 0)
			s6->sin6_addr = in6addr_any;
		else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return EINVAL;
		sl = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return EINVAL;
		sl = sizeof *s4;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) == -1)
		return errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1)
		rc = errno;
	close(fd);
	return rc;
}

static int
check_portlist(const struct config *cfg, const struct portlist *pl,
    const char *what)
{
	int problems = 0;

	for (size_t i = 0; i < cfg->interfaces.n; i++)
		for (size_t p = 0; p < pl->n; p++) {
			int e = try_bind(cfg->interfaces.v[i], pl->v[p]);
			if (e == 0)
				printf("port %u (%s) on %s: free\n", pl->v[p], what,
				    cfg->interfaces.v[i]);
			else if (e == EADDRINUSE)
				/* Not counted: a running xmppd holds it. */
				printf("port %u (%s) on %s: in use — fine if that is "
				    "this xmppd running; otherwise see `ss -ltnp` "
				    "and ask your provider for a port of your own\n",
				    pl->v[p], what, cfg->interfaces.v[i]);
			else {
				printf("port %u (%s) on %s: cannot be used: %s%s\n",
				    pl->v[p], what, cfg->interfaces.v[i], strerror(e),
				    e == EACCES ? " (ports below 1024 need root: "
				    "use a high port your provider opened)" : "");
				problems++;
			}
		}
	return problems;
}

int
check_ports(const struct config *cfg)
{
	return check_portlist(cfg, &cfg->c2s_ports, "clients, STARTTLS") +
	    check_portlist(cfg, &cfg->c2s_direct_tls_ports, "clients, direct TLS") +
	    check_portlist(cfg, &cfg->s2s_ports, "servers") +
	    check_portlist(cfg, &cfg->http_ports, "HTTP") +
	    check_portlist(cfg, &cfg->https_ports, "HTTPS") +
	    check_portlist(cfg, &cfg->proxy65_ports, "file transfer proxy");
}

int
check_data(const struct config *cfg)
{
	struct stat st;
	char probe[4096];
	int fd;

	if (stat(cfg->data_path, &st) == -1) {
		if (errno == ENOENT) {
			printf("data_path %s does not exist yet: xmppd creates it "
			    "(mode 0700) at the first start or adduser\n",
			    cfg->data_path);
			return 0;
		}
		printf("data_path %s: %s\n", cfg->data_path, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		printf("data_path %s is not a directory\n", cfg->data_path);
		return 1;
	}
	if (st.st_mode & 077) {
		printf("data_path %s can be read by other users of this machine "
		    "(mode %03o): run chmod 700 %s\n", cfg->data_path,
		    (unsigned)(st.st_mode & 0777), cfg->data_path);
		return 1;
	}
	if (snprintf(probe, sizeof probe, "%s/.check.%ld", cfg->data_path,
	    (long)getpid()) >= (int)sizeof probe ||
	    (fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1) {
		printf("data_path %s is not writable: %s\n", cfg->data_path,
		    strerror(errno));
		return 1;
	}
	close(fd);
	unlink(probe);
	printf("data_path %s: writable and private\n", cfg->data_path);
	return 0;
}

/* ---- DNS ---- */

static int
port_listed(const struct portlist *pl, unsigned port)
{
	for (size_t i = 0; i < pl->n; i++)
		if (pl->v[i] == port)
			return 1;
	return 0;
}

static int
has_address(const char *name)
{
	struct dns_result r;

	if (dns_lookup(name, DNS_T_A, 3000, &r) == 0 && r.status == DNS_OK && r.n > 0)
		return 1;
	return dns_lookup(name, DNS_T_AAAA, 3000, &r) == 0 &&
	    r.status == DNS_OK && r.n > 0;
}

/*
 * One SRV service of a host against the ports we listen on.  default_port
 * is where peers go without a record (0: nowhere).
 */
static int
check_srv(const char *host, const char *service, const struct portlist *ports,
    unsigned default_port, const char *what)
{
	char name[DNS_NAME_MAX + 1];
	struct dns_result r;
	int problems = 0, good = 0;

	if (snprintf(name, sizeof name, "%s.%s", service, host) >= (int)sizeof name)
		return 0;
	if (dns_lookup(name, DNS_T_SRV, 3000, &r) == -1) {
		if (ports->n == 0)
			return 0;	/* a service we do not offer */
		printf("%s: no answer from the DNS servers for %s\n", host, name);
		return 1;
	}
	if (r.status != DNS_OK && r.status != DNS_NXDOMAIN) {
		if (ports->n == 0)
			return 0;
		printf("%s: the DNS lookup of %s failed (server error)\n", host, name);
		return 1;
	}
	for (size_t i = 0; i < r.n; i++) {
		const struct dns_rr *rr = &r.rr[i];
		if (rr->target[0] == '\0' || strcmp(rr->target, ".") == 0) {
			printf("%s: %s says \"no service here\" (target .)%s\n", host,
			    name, ports->n ? ", but you configured ports for it" : "");
			problems += ports->n > 0;
			continue;
		}
		if (!port_listed(ports, rr->port)) {
			printf("%s: %s points at port %u, which xmppd does not listen "
			    "on for %s\n", host, name, rr->port, what);
			problems++;
		} else if (!has_address(rr->target)) {
			printf("%s: %s points at %s, which has no A or AAAA record\n",
			    host, name, rr->target);
			problems++;
		} else {
			printf("%s: %s -> %s port %u: OK\n", host, name, rr->target,
			    rr->port);
			good++;
		}
	}
	if (ports->n == 0 || good > 0)
		return problems;
	if (r.n == 0 && default_port != 0 && port_listed(ports, default_port)) {
		printf("%s: no %s record; %s use the standard port %u, which xmppd "
		    "listens on: OK\n", host, name, what, default_port);
		return problems;
	}
	printf("%s: add this record so %s find port %u:\n"
	    "    %s. 3600 IN SRV 5 0 %u %s.\n", host, what, ports->v[0], name,
	    ports->v[0], host);
	return problems + 1;
}

int
check_dns(const struct config *cfg)
{
	const struct host_config *h;
	struct portlist none = { { 0 }, 0 };
	int problems = 0;

	if (dns_set_servers(cfg->dns_servers.v, cfg->dns_servers.n) == -1)
		return 1;
	for (h = cfg->hosts; h != NULL; h = h->next) {
		char legacy[DNS_NAME_MAX + 1];
		struct dns_result r;

		if (!h->enabled)
			continue;
		problems += check_srv(h->name, "_xmpp-client._tcp", &cfg->c2s_ports,
		    5222, "clients");
		problems += check_srv(h->name, "_xmpps-client._tcp",
		    &cfg->c2s_direct_tls_ports, 0, "clients using direct TLS");
		problems += check_srv(h->name, "_xmpp-server._tcp", &cfg->s2s_ports,
		    5269, "other servers");
		problems += check_srv(h->name, "_xmpps-server._tcp", &none, 0,
		    "other servers using direct TLS");
		snprintf(legacy, sizeof legacy, "_jabber._tcp.%s", h->name);
		if (dns_lookup(legacy, DNS_T_SRV, 3000, &r) == 0 && r.status == DNS_OK &&
		    r.n > 0)
			printf("%s: %s is a legacy record nobody needs any more; "
			    "it may be removed\n", h->name, legacy);
	}
	return problems;
}
