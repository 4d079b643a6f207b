/*
 * dns.h - a small DNS client (RFC 1035, RFC 2782 SRV, RFC 3596 AAAA):
 * queries built and answers parsed here, with bounds on everything a
 * server can send.  Nameservers come from /etc/resolv.conf unless the
 * config names them ([server] dns_servers, for tests).
 *
 * dns_lookup() waits for the answer: it is for the command line
 * (`xmppd check dns`), never for the poll loop.
 */
#ifndef XMPPD_DNS_H
#define XMPPD_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define DNS_T_A		1
#define DNS_T_AAAA	28
#define DNS_T_SRV	33
#define DNS_MAX_RR	32
#define DNS_NAME_MAX	255

struct dns_rr {
	int		 type;
	uint32_t	 ttl;
	uint16_t	 priority, weight, port;	/* SRV */
	char		 target[DNS_NAME_MAX + 1];	/* SRV target, no trailing dot */
	struct in_addr	 a;
	struct in6_addr	 aaaa;
};

enum dns_status {
	DNS_OK,		/* answers in rr (possibly none: NODATA) */
	DNS_NXDOMAIN,
	DNS_SERVFAIL,	/* or any other rcode */
	DNS_TIMEOUT,
	DNS_BADREPLY	/* malformed or mismatched */
};

struct dns_result {
	enum dns_status	 status;
	int		 truncated;
	size_t		 n;
	struct dns_rr	 rr[DNS_MAX_RR];
};

/* Nameservers ("ip" or "ip:port"); NULL or empty list: resolv.conf. */
int	 dns_set_servers(char *const *servers, size_t n);

/* The nameservers in use (resolv.conf read on first use). */
void	 dns_load_servers(void);
/* The address of a resolv.conf "nameserver ADDR" line: 0, or -1. */
int	 dns_nameserver_of(const char *line, char *addr, size_t addrlen);
size_t	 dns_server_count(void);
struct sockaddr_storage;
const struct sockaddr_storage *dns_server(size_t i, socklen_t *len);

/* A query for name/type with this id into buf; its length, or -1. */
ssize_t	 dns_build_query(uint8_t *buf, size_t buflen, uint16_t id,
	    const char *name, int type);
/* Parse a reply to (id, name, type) into res.  0, or -1 (res->status set). */
int	 dns_parse_reply(const uint8_t *msg, size_t len, uint16_t id,
	    const char *name, int type, struct dns_result *res);
/* Sort SRV records by priority, then weighted order (RFC 2782). */
void	 dns_sort_srv(struct dns_result *);

/* Blocking lookup: UDP, TCP when the answer is truncated, each server in
 * turn, timeout_ms per try.  Fills res; returns 0 if some server
 * answered, -1 otherwise. */
int	 dns_lookup(const char *name, int type, int timeout_ms, struct dns_result *res);

#endif
