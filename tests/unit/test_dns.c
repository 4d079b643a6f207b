/*
 * test_dns.c - DNS queries and the parsing of hostile replies.
 */
#include <arpa/inet.h>
#include <string.h>

#include "dns.h"
#include "harness.h"

/* A reply to id/name/type with the given answer section. */
static size_t
reply(uint8_t *out, uint16_t id, const char *name, int type, int rcode,
    unsigned an, const uint8_t *answers, size_t alen)
{
	ssize_t q = dns_build_query(out, 512, id, name, type);
	size_t len;

	if (q < 0)
		return 0;
	len = (size_t)q - 11;			/* drop the OPT record */
	out[2] = 0x81;				/* QR, RD */
	out[3] = (uint8_t)(0x80 | rcode);	/* RA */
	out[6] = (uint8_t)(an >> 8);
	out[7] = (uint8_t)an;
	out[11] = 0;
	if (alen > 0)
		memcpy(out + len, answers, alen);
	return len + alen;
}

void
test_dns(void)
{
	uint8_t q[512], msg[1024];
	struct dns_result r;
	ssize_t n;
	size_t len;
	char longname[300];

	n = dns_build_query(q, sizeof q, 0x1234, "_xmpp-client._tcp.example.org",
	    DNS_T_SRV);
	T_EXPECT(n == 12 + 31 + 4 + 11, "query length %zd", n);
	T_EQ_INT(q[0], 0x12);
	T_EQ_INT(q[12], 12);			/* "_xmpp-client" */
	T_EQ_INT(memcmp(q + 13, "_xmpp-client", 12), 0);
	memset(longname, 'a', sizeof longname);
	longname[64] = '\0';			/* one 64-byte label */
	T_EQ_INT(dns_build_query(q, sizeof q, 1, longname, DNS_T_A), -1);
	T_EQ_INT(dns_build_query(q, sizeof q, 1, "a..b", DNS_T_A), -1);
	for (int i = 0; i < 299; i++)
		longname[i] = (i % 2) ? '.' : 'a';
	longname[299] = '\0';			/* 300 bytes: over 255 */
	T_EQ_INT(dns_build_query(q, sizeof q, 1, longname, DNS_T_A), -1);

	/* resolv.conf lines */
	{
		char a[16];

		T_EQ_INT(dns_nameserver_of("nameserver 10.0.0.1\n", a, sizeof a), 0);
		T_EQ_STR(a, "10.0.0.1");
		T_EQ_INT(dns_nameserver_of(" \tnameserver\t::1 # lo\n", a, sizeof a), 0);
		T_EQ_STR(a, "::1");
		T_EQ_INT(dns_nameserver_of("nameservers 10.0.0.1", a, sizeof a), -1);
		T_EQ_INT(dns_nameserver_of("nameserver", a, sizeof a), -1);
		T_EQ_INT(dns_nameserver_of("nameserver   \n", a, sizeof a), -1);
		T_EQ_INT(dns_nameserver_of("# nameserver 1.2.3.4", a, sizeof a), -1);
		T_EQ_INT(dns_nameserver_of("nameserver 1234:5678:9abc:def0::1", a,
		    sizeof a), -1);			/* longer than a */
	}

	/* An SRV answer whose owner is a pointer to the question, and
	 * whose target is compressed too. */
	{
		static const uint8_t ans[] = {
			0xc0, 12, 0, 33, 0, 1, 0, 0, 0x0e, 0x10, 0, 13,
			0, 5, 0, 7, 0xb0, 0x66,		/* prio 5 weight 7 port 45158 */
			4, 'x', 'm', 'p', 'p', 0xc0, 30,	/* "xmpp." + "example.org" */
		};
		len = reply(msg, 7, "_xmpp-client._tcp.example.org", DNS_T_SRV, 0, 1,
		    ans, sizeof ans);
		T_EQ_INT(dns_parse_reply(msg, len, 7, "_xmpp-client._tcp.example.org",
		    DNS_T_SRV, &r), 0);
		T_EQ_INT(r.status, DNS_OK);
		T_EQ_INT(r.n, 1);
		T_EQ_INT(r.rr[0].priority, 5);
		T_EQ_INT(r.rr[0].weight, 7);
		T_EQ_INT(r.rr[0].port, 45158);
		T_EQ_STR(r.rr[0].target, "xmpp.example.org");
		T_EQ_INT(r.rr[0].ttl, 3600);
		/* wrong id, wrong name, wrong type: not our answer */
		T_EQ_INT(dns_parse_reply(msg, len, 8, "_xmpp-client._tcp.example.org",
		    DNS_T_SRV, &r), -1);
		T_EQ_INT(dns_parse_reply(msg, len, 7, "_xmpp-server._tcp.example.org",
		    DNS_T_SRV, &r), -1);
		T_EQ_INT(dns_parse_reply(msg, len, 7, "_xmpp-client._tcp.example.org",
		    DNS_T_A, &r), -1);
		/* every truncation of it is refused, never read past */
		for (size_t cut = 0; cut < len; cut++)
			T_EXPECT(dns_parse_reply(msg, cut, 7,
			    "_xmpp-client._tcp.example.org", DNS_T_SRV, &r) == -1,
			    "cut at %zu", cut);
	}
	/* a compression loop */
	{
		static const uint8_t ans[] = {
			0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 8,
			0, 1, 0, 1, 0, 80, 0xc0, 0x2d + 0,	/* points at itself */
		};
		len = reply(msg, 9, "a.b", DNS_T_SRV, 0, 1, ans, sizeof ans);
		msg[len - 1] = (uint8_t)(len - 2);	/* the pointer's own offset */
		T_EQ_INT(dns_parse_reply(msg, len, 9, "a.b", DNS_T_SRV, &r), -1);
	}
	/* A and AAAA, with a wrong rdlength refused */
	{
		static const uint8_t ans[] = {
			0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1,
		};
		char ip[64];
		len = reply(msg, 3, "h.test", DNS_T_A, 0, 1, ans, sizeof ans);
		T_EQ_INT(dns_parse_reply(msg, len, 3, "h.test", DNS_T_A, &r), 0);
		T_EQ_INT(r.n, 1);
		inet_ntop(AF_INET, &r.rr[0].a, ip, sizeof ip);
		T_EQ_STR(ip, "127.0.0.1");
		msg[len - 5] = 5;
		T_EQ_INT(dns_parse_reply(msg, len, 3, "h.test", DNS_T_A, &r), -1);
	}
	/* NXDOMAIN, SERVFAIL, truncation */
	len = reply(msg, 4, "nx.test", DNS_T_A, 3, 0, NULL, 0);
	T_EQ_INT(dns_parse_reply(msg, len, 4, "nx.test", DNS_T_A, &r), 0);
	T_EQ_INT(r.status, DNS_NXDOMAIN);
	len = reply(msg, 4, "nx.test", DNS_T_A, 2, 0, NULL, 0);
	T_EQ_INT(dns_parse_reply(msg, len, 4, "nx.test", DNS_T_A, &r), 0);
	T_EQ_INT(r.status, DNS_SERVFAIL);
	len = reply(msg, 4, "nx.test", DNS_T_A, 0, 0, NULL, 0);
	msg[2] |= 0x02;
	T_EQ_INT(dns_parse_reply(msg, len, 4, "nx.test", DNS_T_A, &r), 0);
	T_EXPECT(r.truncated, "TC bit seen");

	/* SRV ordering: priority first, all records kept */
	memset(&r, 0, sizeof r);
	r.n = 4;
	r.rr[0].priority = 20; r.rr[0].port = 4;
	r.rr[1].priority = 10; r.rr[1].weight = 0; r.rr[1].port = 1;
	r.rr[2].priority = 10; r.rr[2].weight = 100; r.rr[2].port = 2;
	r.rr[3].priority = 15; r.rr[3].port = 3;
	dns_sort_srv(&r);
	T_EQ_INT(r.rr[0].priority, 10);
	T_EQ_INT(r.rr[1].priority, 10);
	T_EQ_INT(r.rr[2].port, 3);
	T_EQ_INT(r.rr[3].port, 4);
	T_EQ_INT(r.rr[0].port + r.rr[1].port, 3);

	/* nameserver syntax */
	{
		char *ok[] = { "127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1" };
		char *bad[] = { "localhost", "1.2.3.4:0", "1.2.3.4:70000" };
		for (size_t i = 0; i < 4; i++)
			T_EXPECT(dns_set_servers(&ok[i], 1) == 0, "%s", ok[i]);
		for (size_t i = 0; i < 3; i++)
			T_EXPECT(dns_set_servers(&bad[i], 1) == -1, "%s", bad[i]);
		dns_set_servers(NULL, 0);
	}
}
