/*
 * dns.c - DNS queries and answers, and a blocking lookup for the command
 * line.  Every length read from a reply is checked against the reply.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dns.h"
#include "util.h"

#define MAX_SERVERS	4
#define MAX_PTRS	32	/* compression pointers followed per name */
#define UDP_MAX		1232	/* what we ask for with EDNS0 */
#define TCP_MAX		65535

static struct sockaddr_storage servers[MAX_SERVERS];
static socklen_t servers_len[MAX_SERVERS];
static size_t	 nservers;
static int	 servers_set;

static int
parse_server(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	unsigned port = 53;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	/* "ip:port" for IPv4 only; IPv6 with a port as "[ip]:port". */
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || (size_t)(end - s - 1) >= sizeof host)
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		if (end[1] == ':')
			port = (unsigned)strtoul(end + 2, NULL, 10);
	} else if (colon != NULL && strchr(s, ':') == colon) {
		if ((size_t)(colon - s) >= sizeof host)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = (unsigned)strtoul(colon + 1, NULL, 10);
	} else if (strlcpy_ok(host, s, sizeof host) == -1)
		return -1;
	if (port == 0 || port > 65535)
		return -1;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*sl = sizeof *s4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sl = sizeof *s6;
		return 0;
	}
	return -1;
}

int
dns_set_servers(char *const *list, size_t n)
{
	nservers = 0;
	servers_set = n > 0;
	for (size_t i = 0; i < n && nservers < MAX_SERVERS; i++) {
		if (parse_server(list[i], &servers[nservers], &servers_len[nservers]) == -1)
			return -1;
		nservers++;
	}
	return 0;
}

int
dns_nameserver_of(const char *line, char *addr, size_t addrlen)
{
	size_t n;

	line += strspn(line, " \t");
	if (strncmp(line, "nameserver", 10) != 0 || strchr(" \t", line[10]) == NULL ||
	    line[10] == '\0')
		return -1;
	line += 10;
	line += strspn(line, " \t");
	n = strcspn(line, " \t\r\n#;");
	if (n == 0 || n >= addrlen)
		return -1;
	memcpy(addr, line, n);
	addr[n] = '\0';
	return 0;
}

void
dns_load_servers(void)
{
	FILE *fp;
	char line[256], addr[128];

	if (servers_set || nservers > 0)
		return;
	if ((fp = fopen("/etc/resolv.conf", "r")) != NULL) {
		while (nservers < MAX_SERVERS && fgets(line, sizeof line, fp) != NULL)
			if (dns_nameserver_of(line, addr, sizeof addr) == 0 &&
			    parse_server(addr, &servers[nservers],
			    &servers_len[nservers]) == 0)
				nservers++;
		fclose(fp);
	}
	if (nservers == 0)	/* resolv.conf(5): the default is localhost */
		parse_server("127.0.0.1", &servers[nservers], &servers_len[nservers]),
		    nservers++;
}

/* ---- messages ---- */

static int
put_name(uint8_t *buf, size_t buflen, size_t *off, const char *name)
{
	const char *p = name;
	size_t total = 0;

	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (len == 0 || len > 63 || (total += len + 1) > DNS_NAME_MAX ||
		    *off + 1 + len >= buflen)
			return -1;
		buf[(*off)++] = (uint8_t)len;
		memcpy(buf + *off, p, len);
		*off += len;
		p += len;
		if (*p == '.')
			p++;
	}
	if (*off >= buflen)
		return -1;
	buf[(*off)++] = 0;
	return 0;
}

ssize_t
dns_build_query(uint8_t *buf, size_t buflen, uint16_t id, const char *name,
    int type)
{
	size_t off = 12;

	if (buflen < 12 + 4 + 11)
		return -1;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01;			/* RD */
	buf[5] = 1;			/* QDCOUNT */
	buf[11] = 1;			/* ARCOUNT: the EDNS0 OPT record */
	if (put_name(buf, buflen, &off, name) == -1 || off + 4 + 11 > buflen)
		return -1;
	buf[off++] = (uint8_t)(type >> 8);
	buf[off++] = (uint8_t)type;
	buf[off++] = 0;
	buf[off++] = 1;			/* IN */
	/* OPT: root name, type 41, our UDP size, no flags (RFC 6891). */
	buf[off++] = 0;
	buf[off++] = 0;
	buf[off++] = 41;
	buf[off++] = (uint8_t)(UDP_MAX >> 8);
	buf[off++] = (uint8_t)UDP_MAX;
	memset(buf + off, 0, 6);
	off += 6;
	return (ssize_t)off;
}

/* Read a possibly compressed name at *off into out (dotted, lower-case). */
static int
get_name(const uint8_t *msg, size_t len, size_t *off, char *out, size_t outlen)
{
	size_t p = *off, o = 0, jumps = 0;
	int jumped = 0;

	for (;;) {
		uint8_t l;
		if (p >= len)
			return -1;
		l = msg[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++jumps > MAX_PTRS)
				return -1;
			if (!jumped)
				*off = p + 2;
			jumped = 1;
			p = (size_t)(l & 0x3f) << 8 | msg[p + 1];
			continue;
		}
		if ((l & 0xc0) != 0)
			return -1;
		p++;
		if (l == 0)
			break;
		if (p + l > len || o + l + 2 > outlen)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)msg[p + i];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			/* No separators or NULs inside a label we hand on. */
			if (c == '.' || c == '\0')
				return -1;
			out[o++] = c;
		}
		p += l;
	}
	out[o] = '\0';
	if (!jumped)
		*off = p;
	return 0;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int
dns_parse_reply(const uint8_t *msg, size_t len, uint16_t id, const char *name,
    int type, struct dns_result *res)
{
	size_t off = 12;
	unsigned qd, an, rcode;
	char qname[DNS_NAME_MAX + 2];

	memset(res, 0, sizeof *res);
	res->status = DNS_BADREPLY;
	if (len < 12 || get16(msg) != id || !(msg[2] & 0x80))
		return -1;
	res->truncated = (msg[2] & 0x02) != 0;
	rcode = msg[3] & 0x0f;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	if (qd != 1)
		return -1;
	if (get_name(msg, len, &off, qname, sizeof qname) == -1 ||
	    off + 4 > len || strcasecmp(qname, name) != 0 ||
	    get16(msg + off) != type)
		return -1;
	off += 4;
	if (rcode == 3) {
		res->status = DNS_NXDOMAIN;
		return 0;
	}
	if (rcode != 0) {
		res->status = DNS_SERVFAIL;
		return 0;
	}
	for (unsigned i = 0; i < an; i++) {
		char owner[DNS_NAME_MAX + 2];
		unsigned rtype, rdlen;
		uint32_t ttl;
		struct dns_rr *rr;

		if (get_name(msg, len, &off, owner, sizeof owner) == -1 ||
		    off + 10 > len)
			return -1;
		rtype = get16(msg + off);
		ttl = (uint32_t)get16(msg + off + 4) << 16 | get16(msg + off + 6);
		rdlen = get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -1;
		/* CNAMEs and other records just pass; we use the typed ones. */
		if ((int)rtype == type && res->n < DNS_MAX_RR) {
			rr = &res->rr[res->n];
			memset(rr, 0, sizeof *rr);
			rr->type = (int)rtype;
			rr->ttl = ttl;
			if (rtype == DNS_T_A && rdlen == 4) {
				memcpy(&rr->a, msg + off, 4);
				res->n++;
			} else if (rtype == DNS_T_AAAA && rdlen == 16) {
				memcpy(&rr->aaaa, msg + off, 16);
				res->n++;
			} else if (rtype == DNS_T_SRV && rdlen >= 7) {
				size_t t = off + 6;
				rr->priority = get16(msg + off);
				rr->weight = get16(msg + off + 2);
				rr->port = get16(msg + off + 4);
				if (get_name(msg, off + rdlen, &t, rr->target,
				    sizeof rr->target) == -1)
					return -1;
				res->n++;
			} else
				return -1;
		}
		off += rdlen;
	}
	res->status = DNS_OK;
	return 0;
}

/* RFC 2782: lowest priority first; within one, a weighted random order. */
void
dns_sort_srv(struct dns_result *res)
{
	size_t i, j;

	for (i = 1; i < res->n; i++)
		for (j = i; j > 0 && res->rr[j].priority < res->rr[j - 1].priority; j--) {
			struct dns_rr t = res->rr[j];
			res->rr[j] = res->rr[j - 1];
			res->rr[j - 1] = t;
		}
	for (i = 0; i < res->n; ) {
		size_t end = i;
		while (end < res->n && res->rr[end].priority == res->rr[i].priority)
			end++;
		for (; i + 1 < end; i++) {
			uint32_t sum = 0, pick, run = 0, r;
			for (j = i; j < end; j++)
				sum += res->rr[j].weight;
			random_bytes(&r, sizeof r);
			pick = sum ? r % (sum + 1) : 0;
			for (j = i; j < end; j++) {
				run += res->rr[j].weight;
				if (run >= pick)
					break;
			}
			if (j == end)
				j = end - 1;
			struct dns_rr t = res->rr[i];
			res->rr[i] = res->rr[j];
			res->rr[j] = t;
		}
		i = end;
	}
}

/* ---- the blocking lookup ---- */

static int
wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = { fd, ev, 0 };

	return poll(&p, 1, ms) == 1 ? 0 : -1;
}

static ssize_t
ask_udp(const struct sockaddr_storage *ss, socklen_t sl, const uint8_t *q,
    size_t qlen, uint8_t *ans, size_t anslen, int ms)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ssize_t n = -1;

	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)ss, sl) == 0 &&
	    send(fd, q, qlen, 0) == (ssize_t)qlen && wait_fd(fd, POLLIN, ms) == 0)
		n = recv(fd, ans, anslen, 0);
	close(fd);
	return n;
}

static ssize_t
ask_tcp(const struct sockaddr_storage *ss, socklen_t sl, const uint8_t *q,
    size_t qlen, uint8_t *ans, size_t anslen, int ms)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint8_t hdr[2] = { (uint8_t)(qlen >> 8), (uint8_t)qlen };
	size_t got = 0, want = 0;
	ssize_t n;

	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)ss, sl) == -1 ||
	    send(fd, hdr, 2, MSG_NOSIGNAL) != 2 ||
	    send(fd, q, qlen, MSG_NOSIGNAL) != (ssize_t)qlen)
		goto fail;
	while (got < 2 || got < want + 2) {
		uint8_t b[4096];
		if (wait_fd(fd, POLLIN, ms) == -1 || (n = recv(fd, b, sizeof b, 0)) <= 0)
			goto fail;
		for (ssize_t k = 0; k < n; k++, got++) {
			if (got < 2)
				want = want << 8 | b[k];
			else if (got - 2 < anslen)
				ans[got - 2] = b[k];
		}
		if (got >= 2 && want > anslen)
			goto fail;
	}
	close(fd);
	return (ssize_t)want;
fail:
	close(fd);
	return -1;
}

int
dns_lookup(const char *name, int type, int timeout_ms, struct dns_result *res)
{
	uint8_t q[512], *ans = xmalloc(TCP_MAX);
	uint16_t id;
	ssize_t qlen, n;

	dns_load_servers();
	memset(res, 0, sizeof *res);
	res->status = DNS_TIMEOUT;
	for (size_t s = 0; s < nservers; s++) {
		random_bytes(&id, sizeof id);
		if ((qlen = dns_build_query(q, sizeof q, id, name, type)) < 0) {
			res->status = DNS_BADREPLY;
			break;
		}
		n = ask_udp(&servers[s], servers_len[s], q, (size_t)qlen, ans,
		    UDP_MAX, timeout_ms);
		if (n > 0 && dns_parse_reply(ans, (size_t)n, id, name, type, res) == 0 &&
		    res->truncated) {
			n = ask_tcp(&servers[s], servers_len[s], q, (size_t)qlen, ans,
			    TCP_MAX, timeout_ms);
			if (n <= 0 || dns_parse_reply(ans, (size_t)n, id, name, type, res) == -1)
				continue;
		}
		if (n > 0 && res->status != DNS_BADREPLY && res->status != DNS_TIMEOUT) {
			free(ans);
			return 0;
		}
		res->status = n > 0 ? DNS_BADREPLY : DNS_TIMEOUT;
	}
	free(ans);
	return -1;
}

size_t
dns_server_count(void)
{
	dns_load_servers();
	return nservers;
}

const struct sockaddr_storage *
dns_server(size_t i, socklen_t *len)
{
	*len = servers_len[i];
	return &servers[i];
}
