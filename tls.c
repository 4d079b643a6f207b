/*
 * tls.c - BearSSL behind a non-blocking socket (server side).
 *
 * Credentials: PEM chain + key read once into a refcounted struct
 * tls_creds; every engine that uses them holds a reference, because BearSSL
 * keeps pointers to the chain and key instead of copying them.
 *
 * Connections: one struct tls per TLS connection, allocated whole, never
 * moved (the engine points into itself), wiped before it is freed.  The
 * pump follows BearSSL's tools/sslio.c shape: read the engine state, do
 * exactly one transfer, and read the state again, with record output first.
 *
 * SNI: our own server policy asks the picker for credentials once the
 * ClientHello (and with it the server name) has been read, then plays the
 * part of BearSSL's single-EC or single-RSA policy for the picked key.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "log.h"
#include "tls.h"
#include "util.h"

/* ==== limits ==== */
#define MAX_PEM_FILE	(1024 * 1024)	/* bytes in a cert/key file */
#define MAX_PEM_OBJECTS	1024		/* PEM blocks in one file (CA bundles: ~150) */
#define MAX_CHAIN	16		/* certificates sent to the client */
#define MAX_CERT_NAMES	256		/* names kept from the leaf */
#define MAX_DNS_NAME	253		/* RFC 1035, no final dot */
#define TLS_PUMP_MAX	64		/* transfers per tls_pump() */
/*
 * Our records carry at most 4 KiB of plaintext: the output buffer only
 * bounds what we send, and 4 KiB costs nothing in interoperability.  The
 * input buffer must take a full 16 KiB record from the peer.
 */
#define TLS_OBUF_SIZE	(4096 + 85)
/*
 * BearSSL takes a record's 5-byte header and its body in two pieces, so
 * reading straight into the engine costs three recv() calls per stanza:
 * header, body, and one to hear EAGAIN.  Records shorter than this are
 * read with what follows them into a small buffer of our own, one call,
 * and a short count says the socket is empty.
 */
#define TLS_ISTAGE	512

/* ---- credentials ---- */

struct file_id {
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	struct timespec	mtime;
};

struct cert_name {
	char	*name;		/* lower case, no final dot */
	int	 wildcard_ok;	/* from a dNSName or the CN */
};

/*
 * Owned by whoever holds a reference: the config that loaded it and
 * every struct tls that picked it.  Freed with the last reference.
 */
struct tls_creds {
	int			 refs;
	char			*cert_file;
	char			*key_file;
	struct file_id		 cert_id;
	struct file_id		 key_id;
	br_x509_certificate	*chain;		/* DER, leaf first */
	size_t			 chain_len;
	int			 key_type;	/* BR_KEYTYPE_EC or _RSA */
	br_ec_private_key	 ec;		/* points into key_mem */
	br_rsa_private_key	 rsa;		/* points into key_mem */
	unsigned char		*key_mem;
	size_t			 key_mem_len;
	time_t			 expiry;
	int			 self_issued;	/* issuer == subject */
	struct cert_name	*names;
	size_t			 nnames;
};

/* ---- connections ---- */

/* Our server policy: BearSSL calls it through the vtable pointer. */
struct tls_policy {
	const br_ssl_server_policy_class *vtable;	/* must be first */
	struct tls			 *t;
};

/*
 * Owned by the connection that created it.  Never copied or moved: the
 * BearSSL context holds pointers to its own fields and to pol.
 */
struct tls_peer;

struct tls {
	union {
		br_ssl_server_context	 sc;	/* accepted connections */
		br_ssl_client_context	 cc;	/* outgoing (s2s) */
	} u;
	br_ssl_engine_context	*eng;		/* &u.sc.eng or &u.cc.eng */
	struct tls_peer		*peer;		/* client side: chain check */
	unsigned char		 ibuf[BR_SSL_BUFSIZE_INPUT];
	unsigned char		 obuf[TLS_OBUF_SIZE];
	unsigned char		 istage[TLS_ISTAGE];	/* read, not yet */
	uint16_t		 ioff, ilen;		/* given to the engine */
	struct tls_policy	 pol;
	struct tls_creds	*creds;	/* a reference: those in use */
	const char		*why;		/* why the policy said no */
	int			 result;	/* sticky once not TLS_OK */
	/* br_ssl_engine_current_state() after our last call into the
	 * engine (nothing else changes it): tls_events() and
	 * tls_has_pending_input() run for every connection every pass. */
	unsigned		 st;
	unsigned char		 established;
	unsigned char		 unflushed;	/* sendapp bytes not sealed */
	unsigned char		 close_req;	/* tls_close() called */
	unsigned char		 close_sent;	/* engine close started */
	unsigned char		 cap_hit;	/* last pump stopped early */
	char			 sni[256];	/* lower-case SNI, or "" */
	char			 err[112];
};

/*
 * The client side's view of the server's chain.  BearSSL's minimal X.509
 * engine checks it against the trust anchors; we keep its verdict instead
 * of failing the handshake on it, because an untrusted peer may still be
 * authenticated by dialback (XEP-0220) unless secure auth is asked for.
 * The leaf is kept to check the name ourselves (RFC 6125 for XMPP:
 * DNS-ID, SRV-ID and XmppAddr, which BearSSL does not know).
 */
#define MAX_LEAF	16384

struct tls_peer {
	const br_x509_class	*vtable;	/* must be first */
	br_x509_minimal_context	 xm;
	unsigned		 verdict;	/* BR_ERR_X509_* of the chain */
	unsigned		 ncert;
	unsigned char		 leaf[MAX_LEAF];
	size_t			 leaf_len;
	int			 leaf_too_big;
	char			 verdict_text[64];
};

/* ---- cipher suites ---- */

static const struct suite {
	const char	*name;
	uint16_t	 id;
	unsigned char	 dflt;		/* in the default list */
	unsigned char	 cbc;		/* needs the AES-CBC engine */
} suites[] = {
	/* The defaults, in server preference order. */
	{ "ECDHE-ECDSA-AES128-GCM-SHA256",
	    BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 1, 0 },
	{ "ECDHE-RSA-AES128-GCM-SHA256",
	    BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, 1, 0 },
	{ "ECDHE-ECDSA-AES256-GCM-SHA384",
	    BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 1, 0 },
	{ "ECDHE-RSA-AES256-GCM-SHA384",
	    BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, 1, 0 },
	{ "ECDHE-ECDSA-CHACHA20-POLY1305",
	    BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 1, 0 },
	{ "ECDHE-RSA-CHACHA20-POLY1305",
	    BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 1, 0 },
	/* CBC with SHA-2 MACs: only when asked for by name. */
	{ "ECDHE-ECDSA-AES128-SHA256",
	    BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, 0, 1 },
	{ "ECDHE-ECDSA-AES256-SHA384",
	    BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384, 0, 1 },
	{ "ECDHE-RSA-AES128-SHA256",
	    BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, 0, 1 },
	{ "ECDHE-RSA-AES256-SHA384",
	    BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, 0, 1 },
};
#define NSUITES	(sizeof suites / sizeof suites[0])

/* The server-wide list, copied into each engine at tls_server_new(). */
static uint16_t	cur_suites[NSUITES];
static size_t	cur_nsuites;
static int	cur_cbc;
static int	cur_set;

static tls_pick_fn picker;

/* ---- small helpers ---- */

/* ASCII only: host names are compared byte-wise, whatever the locale. */
static char
lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static int
is_ldh(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '-';
}

static void
errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	/* A cut message is still a message: truncation is fine here. */
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
tls_seterr(struct tls *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tls_seterr(struct tls *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(t->err, sizeof t->err, fmt, ap);
	va_end(ap);
}

/* ---- reading files ---- */

static void
file_id_set(struct file_id *id, const struct stat *sb)
{
	id->dev = sb->st_dev;
	id->ino = sb->st_ino;
	id->size = sb->st_size;
	id->mtime = sb->st_mtim;
}

static int
file_id_same(const struct file_id *id, const struct stat *sb)
{
	return id->dev == sb->st_dev && id->ino == sb->st_ino &&
	    id->size == sb->st_size &&
	    id->mtime.tv_sec == sb->st_mtim.tv_sec &&
	    id->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

/*
 * Read a whole regular file of at most MAX_PEM_FILE bytes.  The identity
 * recorded is that of the file we actually read (fstat on the open fd).
 */
static int
read_file(const char *path, struct file_id *id, unsigned char **out,
    size_t *outlen, char *err, size_t errlen)
{
	struct stat sb;
	unsigned char *buf;
	size_t cap, len = 0;
	ssize_t n;
	int fd;

	*out = NULL;
	*outlen = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		errf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		errf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (sb.st_size < 0 || (uintmax_t)sb.st_size > MAX_PEM_FILE) {
		errf(err, errlen, "%s is too large (more than %d bytes)",
		    path, MAX_PEM_FILE);
		close(fd);
		return -1;
	}
	/* One spare byte tells us if the file grew while we read it. */
	cap = (size_t)sb.st_size + 1;
	buf = xmalloc(cap);
	while (len < cap) {
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			errf(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
			xfree_secret(buf, cap);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len == cap) {
		errf(err, errlen, "%s changed while it was being read", path);
		xfree_secret(buf, cap);
		return -1;
	}
	file_id_set(id, &sb);
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- PEM ---- */

struct pem_obj {
	char		 name[128];
	unsigned char	*data;
	size_t		 len;
	size_t		 cap;
};

struct pem_list {
	struct pem_obj	 obj[MAX_PEM_OBJECTS];
	size_t		 n;
	size_t		 max;		/* bound on one object */
	int		 overflow;
};

static void
pem_append(void *ctx, const void *src, size_t len)
{
	struct pem_list *pl = ctx;
	struct pem_obj *o = &pl->obj[pl->n];
	size_t ncap;
	unsigned char *nd;

	if (pl->overflow || len > pl->max - o->len) {
		pl->overflow = 1;
		return;
	}
	if (o->len + len > o->cap) {
		ncap = o->cap ? o->cap : 512;
		while (ncap < o->len + len)
			ncap = ncap > pl->max / 2 ? pl->max : ncap * 2;
		/* Grow by hand so key bytes never linger in a freed block. */
		nd = xmalloc(ncap);
		if (o->len > 0)
			memcpy(nd, o->data, o->len);
		xfree_secret(o->data, o->cap);
		o->data = nd;
		o->cap = ncap;
	}
	memcpy(o->data + o->len, src, len);
	o->len += len;
}

static void
pem_list_free(struct pem_list *pl)
{
	size_t i;

	for (i = 0; i < MAX_PEM_OBJECTS; i++)
		xfree_secret(pl->obj[i].data, pl->obj[i].cap);
	explicit_bzero(pl, sizeof *pl);
}

/*
 * BearSSL keeps what follows "BEGIN " up to the end of the line, less
 * trailing dashes: with CRLF line ends a "\r" and the dashes before it
 * remain.  Cut both (and blanks), so "CERTIFICATE-----\r" is a cert.
 */
static void
pem_set_name(struct pem_obj *o, const char *name)
{
	size_t len;

	if (strlcpy_ok(o->name, name, sizeof o->name) == -1) {
		o->name[0] = '\0';
		return;
	}
	len = strlen(o->name);
	while (len > 0 && (o->name[len - 1] == '-' ||
	    o->name[len - 1] == '\r' || o->name[len - 1] == ' ' ||
	    o->name[len - 1] == '\t'))
		o->name[--len] = '\0';
}

/* Decode every PEM object of buf into pl.  -1 with a reason. */
static int
pem_decode(const unsigned char *buf, size_t len, struct pem_list *pl,
    const char *path, char *err, size_t errlen)
{
	br_pem_decoder_context pc;
	const unsigned char *p = buf;
	size_t left = len, n;
	int inobj = 0, extra_nl = 1;

	memset(pl, 0, sizeof *pl);
	/* Base64 never decodes to more bytes than its input. */
	pl->max = len;
	br_pem_decoder_init(&pc);
	while (left > 0) {
		n = br_pem_decoder_push(&pc, p, left);
		p += n;
		left -= n;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			if (pl->n == MAX_PEM_OBJECTS) {
				errf(err, errlen, "too many PEM objects in %s "
				    "(at most %d)", path, MAX_PEM_OBJECTS);
				goto fail;
			}
			pem_set_name(&pl->obj[pl->n],
			    br_pem_decoder_name(&pc));
			br_pem_decoder_setdest(&pc, pem_append, pl);
			inobj = 1;
			break;
		case BR_PEM_END_OBJ:
			br_pem_decoder_setdest(&pc, NULL, NULL);
			if (inobj) {
				pl->n++;
				inobj = 0;
			}
			break;
		case BR_PEM_ERROR:
			errf(err, errlen, "invalid PEM data in %s", path);
			goto fail;
		}
		if (pl->overflow) {
			errf(err, errlen, "invalid PEM data in %s", path);
			goto fail;
		}
		/* Files without a final newline are common: supply one. */
		if (left == 0 && extra_nl) {
			extra_nl = 0;
			p = (const unsigned char *)"\n";
			left = 1;
		}
	}
	if (inobj) {
		errf(err, errlen, "unterminated PEM object in %s", path);
		goto fail;
	}
	explicit_bzero(&pc, sizeof pc);
	return 0;
fail:
	explicit_bzero(&pc, sizeof pc);
	pem_list_free(pl);
	return -1;
}

/* ---- a small DER reader for the parts of the leaf BearSSL skips ---- */

struct der {
	const unsigned char	*p;
	size_t			 len;
};

/*
 * Take the next element off d: its tag and its contents.  Only what
 * certificates use: one-byte tags, definite lengths of up to 4 bytes,
 * always within d.
 */
static int
der_get(struct der *d, unsigned *tag, struct der *val)
{
	size_t l, hdr, nb, i;

	if (d->len < 2)
		return -1;
	*tag = d->p[0];
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	l = d->p[1];
	hdr = 2;
	if (l & 0x80) {
		nb = l & 0x7f;
		if (nb == 0 || nb > 4 || nb > d->len - 2)
			return -1;
		l = 0;
		for (i = 0; i < nb; i++)
			l = (l << 8) | d->p[2 + i];
		hdr += nb;
	}
	if (l > d->len - hdr)
		return -1;
	val->p = d->p + hdr;
	val->len = l;
	d->p += hdr + l;
	d->len -= hdr + l;
	return 0;
}

static int
der_expect(struct der *d, unsigned want, struct der *val)
{
	unsigned tag;

	if (der_get(d, &tag, val) == -1 || tag != want)
		return -1;
	return 0;
}

static int
der_oid_is(const struct der *oid, const unsigned char *want, size_t wlen)
{
	return oid->len == wlen && memcmp(oid->p, want, wlen) == 0;
}

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, y >= 1). */
static int64_t
days_from_epoch(int y, int m, int d)
{
	/* Count years from March so that February's leap day comes last. */
	int64_t yy = y - (m <= 2), cycle, yoc, doy, doc;

	cycle = yy / 400;
	yoc = yy - cycle * 400;				/* 0..399 */
	doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;	/* from March 1 */
	doc = yoc * 365 + yoc / 4 - yoc / 100 + doy;	/* 0..146096 */
	/* 719468 days from 0000-03-01 to 1970-01-01 */
	return cycle * 146097 + doc - 719468;
}

static int
digits(const unsigned char *p, size_t n, int *out)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/* UTCTime / GeneralizedTime in the forms RFC 5280 §4.1.2.5 allows. */
static int
der_time(unsigned tag, const struct der *v, time_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	const unsigned char *p = v->p;
	int y, mo, d, h, mi, s, dim;
	int64_t secs;

	if (tag == 0x17 && v->len == 13) {
		if (digits(p, 2, &y) == -1)
			return -1;
		y += y < 50 ? 2000 : 1900;
		p += 2;
	} else if (tag == 0x18 && v->len == 15) {
		if (digits(p, 4, &y) == -1 || y == 0)
			return -1;
		p += 4;
	} else
		return -1;
	if (digits(p, 2, &mo) == -1 || digits(p + 2, 2, &d) == -1 ||
	    digits(p + 4, 2, &h) == -1 || digits(p + 6, 2, &mi) == -1 ||
	    digits(p + 8, 2, &s) == -1 || p[10] != 'Z')
		return -1;
	if (mo < 1 || mo > 12)
		return -1;
	dim = mdays[mo - 1] + (mo == 2 && is_leap(y));
	if (d < 1 || d > dim || h > 23 || mi > 59 || s > 60)
		return -1;
	secs = days_from_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	/* A 32-bit time_t cannot say 2038 and after: keep the largest. */
	if ((int64_t)(time_t)secs != secs)
		secs = sizeof(time_t) == 4 ? INT32_MAX : 0;
	*out = (time_t)secs;
	return 0;
}

/*
 * Is this a host name we can match (letters, digits, hyphens, dots, no
 * empty label, at most 253 bytes)?  With wild, "*." may start it.
 */
static int
dns_name_is_valid(const char *s, size_t len, int wild)
{
	size_t i, label = 0;

	if (wild && len > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		len -= 2;
	}
	if (len == 0 || len > MAX_DNS_NAME)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!is_ldh(ch))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

struct name_acc {
	struct cert_name	*v;
	size_t			 n;
	int			 san_ids;	/* DNS, SRV, xmppAddr ids */
};

static void
name_add(struct name_acc *a, const unsigned char *p, size_t len, int wild)
{
	char *s;
	size_t i;

	if (len > 0 && p[len - 1] == '.')
		len--;
	if (a->n == MAX_CERT_NAMES || memchr(p, '\0', len) != NULL ||
	    !dns_name_is_valid((const char *)p, len, wild))
		return;
	s = xstrndup((const char *)p, len);
	for (i = 0; i < len; i++)
		s[i] = lower(s[i]);
	if (a->v == NULL)
		a->v = xcalloc(MAX_CERT_NAMES, sizeof *a->v);
	a->v[a->n].name = s;
	a->v[a->n].wildcard_ok = wild;
	a->n++;
}

static void
names_free(struct cert_name *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* id-on-xmppAddr (RFC 6120 §13.7.1.4) and id-on-dnsSRV (RFC 4985). */
static const unsigned char OID_XMPPADDR[] = { 0x2b, 0x06, 0x01, 0x05, 0x05,
    0x07, 0x08, 0x05 };
static const unsigned char OID_SRVNAME[] = { 0x2b, 0x06, 0x01, 0x05, 0x05,
    0x07, 0x08, 0x07 };
static const unsigned char OID_SAN[] = { 0x55, 0x1d, 0x11 };
static const unsigned char OID_CN[] = { 0x55, 0x04, 0x03 };

static int
parse_other_name(struct der gn, struct name_acc *a)
{
	struct der oid, wrap, val;
	unsigned tag;
	size_t plen;

	if (der_expect(&gn, 0x06, &oid) == -1 ||
	    der_expect(&gn, 0xa0, &wrap) == -1 ||
	    der_get(&wrap, &tag, &val) == -1)
		return -1;
	if (der_oid_is(&oid, OID_XMPPADDR, sizeof OID_XMPPADDR)) {
		a->san_ids++;
		if (tag == 0x0c)	/* UTF8String */
			name_add(a, val.p, val.len, 0);
	} else if (der_oid_is(&oid, OID_SRVNAME, sizeof OID_SRVNAME)) {
		a->san_ids++;
		if (tag != 0x16)	/* IA5String */
			return 0;
		/* Only our services name the domain they serve. */
		if (val.len > (plen = strlen("_xmpp-client.")) &&
		    (memcmp(val.p, "_xmpp-client.", plen) == 0 ||
		    memcmp(val.p, "_xmpp-server.", plen) == 0))
			name_add(a, val.p + plen, val.len - plen, 0);
	}
	return 0;
}

static int
parse_san(struct der v, struct name_acc *a)
{
	struct der seq, gn;
	unsigned tag;

	if (der_expect(&v, 0x30, &seq) == -1 || v.len != 0)
		return -1;
	while (seq.len > 0) {
		if (der_get(&seq, &tag, &gn) == -1)
			return -1;
		if (tag == 0x82) {		/* dNSName */
			a->san_ids++;
			name_add(a, gn.p, gn.len, 1);
		} else if (tag == 0xa0) {	/* otherName */
			if (parse_other_name(gn, a) == -1)
				return -1;
		}
	}
	return 0;
}

static int
parse_subject_cn(struct der name, struct name_acc *a)
{
	struct der rdn, atv, oid, val;
	unsigned tag;

	while (name.len > 0) {
		if (der_expect(&name, 0x31, &rdn) == -1)
			return -1;
		while (rdn.len > 0) {
			if (der_expect(&rdn, 0x30, &atv) == -1 ||
			    der_expect(&atv, 0x06, &oid) == -1 ||
			    der_get(&atv, &tag, &val) == -1)
				return -1;
			if (!der_oid_is(&oid, OID_CN, sizeof OID_CN))
				continue;
			/* UTF8String, PrintableString, T61String, IA5String */
			if (tag == 0x0c || tag == 0x13 || tag == 0x14 ||
			    tag == 0x16)
				name_add(a, val.p, val.len, 1);
		}
	}
	return 0;
}

/*
 * From the leaf: notAfter, the subjectAltName identifiers, and the CN,
 * which only counts when the certificate has no SAN identifier of ours
 * (RFC 6125 §6.4.4).  -1 if the DER does not have the expected shape.
 */
static int
parse_leaf(const unsigned char *p, size_t len, struct tls_creds *c)
{
	struct der all = { p, len }, cert, tbs, v, validity, subject, issuer;
	struct der exts, ext, oid, val;
	struct name_acc san = { NULL, 0, 0 }, cn = { NULL, 0, 0 };
	unsigned tag;
	int seen_san = 0;

	if (der_expect(&all, 0x30, &cert) == -1 ||
	    der_expect(&cert, 0x30, &tbs) == -1 ||
	    der_get(&tbs, &tag, &v) == -1)
		goto bad;
	if (tag == 0xa0 && der_get(&tbs, &tag, &v) == -1)	/* version */
		goto bad;
	if (tag != 0x02 ||					/* serial */
	    der_expect(&tbs, 0x30, &v) == -1 ||		/* algorithm */
	    der_expect(&tbs, 0x30, &issuer) == -1 ||
	    der_expect(&tbs, 0x30, &validity) == -1 ||
	    der_get(&validity, &tag, &v) == -1 ||		/* notBefore */
	    der_get(&validity, &tag, &v) == -1 ||		/* notAfter */
	    der_time(tag, &v, &c->expiry) == -1 ||
	    der_expect(&tbs, 0x30, &subject) == -1 ||
	    der_expect(&tbs, 0x30, &v) == -1)			/* key */
		goto bad;
	while (tbs.len > 0) {
		if (der_get(&tbs, &tag, &v) == -1)
			goto bad;
		if (tag != 0xa3)	/* skip the unique identifiers */
			continue;
		if (der_expect(&v, 0x30, &exts) == -1)
			goto bad;
		while (exts.len > 0) {
			if (der_expect(&exts, 0x30, &ext) == -1 ||
			    der_expect(&ext, 0x06, &oid) == -1)
				goto bad;
			/* The critical flag, if there. */
			if (ext.len > 0 && ext.p[0] == 0x01 &&
			    der_get(&ext, &tag, &val) == -1)
				goto bad;
			if (der_expect(&ext, 0x04, &val) == -1)
				goto bad;
			if (!der_oid_is(&oid, OID_SAN, sizeof OID_SAN))
				continue;
			/* RFC 5280 §4.2: an extension appears at most once. */
			if (seen_san++ || parse_san(val, &san) == -1)
				goto bad;
		}
	}
	if (parse_subject_cn(subject, &cn) == -1)
		goto bad;
	/* Issued by itself: no public CA vouches for it (`xmppd check`). */
	c->self_issued = issuer.len == subject.len &&
	    memcmp(issuer.p, subject.p, subject.len) == 0;
	if (san.n > 0)
		san.v = xrealloc(san.v, san.n * sizeof *san.v);
	if (cn.n > 0)
		cn.v = xrealloc(cn.v, cn.n * sizeof *cn.v);
	if (san.san_ids > 0) {
		c->names = san.v;
		c->nnames = san.n;
		names_free(cn.v, cn.n);
	} else {
		c->names = cn.v;
		c->nnames = cn.n;
		names_free(san.v, san.n);
	}
	return 0;
bad:
	names_free(san.v, san.n);
	names_free(cn.v, cn.n);
	return -1;
}

/* ---- keys ---- */

/* Copy the decoded key out of the decoder, into memory we own. */
static void
key_copy(struct tls_creds *c, const br_skey_decoder_context *kd)
{
	const br_ec_private_key *ek;
	const br_rsa_private_key *rk;
	unsigned char *m;

	c->key_type = br_skey_decoder_key_type(kd);
	if (c->key_type == BR_KEYTYPE_EC) {
		ek = br_skey_decoder_get_ec(kd);
		c->key_mem_len = ek->xlen;
		c->key_mem = xmalloc(c->key_mem_len);
		memcpy(c->key_mem, ek->x, ek->xlen);
		c->ec.curve = ek->curve;
		c->ec.x = c->key_mem;
		c->ec.xlen = ek->xlen;
		return;
	}
	rk = br_skey_decoder_get_rsa(kd);
	/* Five numbers of at most 512 bytes each: no overflow. */
	c->key_mem_len = rk->plen + rk->qlen + rk->dplen + rk->dqlen +
	    rk->iqlen;
	c->key_mem = m = xmalloc(c->key_mem_len);
	c->rsa.n_bitlen = rk->n_bitlen;
#define KEY_PART(f, fl) do {						\
	memcpy(m, rk->f, rk->fl);					\
	c->rsa.f = m;							\
	c->rsa.fl = rk->fl;						\
	m += rk->fl;							\
} while (0)
	KEY_PART(p, plen);
	KEY_PART(q, qlen);
	KEY_PART(dp, dplen);
	KEY_PART(dq, dqlen);
	KEY_PART(iq, iqlen);
#undef KEY_PART
}

static void
strip_zeros(const unsigned char **p, size_t *len)
{
	while (*len > 0 && **p == 0) {
		(*p)++;
		(*len)--;
	}
}

/*
 * 1 if the private key in c belongs to the public key pk, else 0.  For
 * RSA the moduli must be equal, and a signature made with the key must
 * verify with the certificate's exponent (BearSSL can only recompute e
 * for keys of its own making, whose primes are 3 mod 4).
 */
static int
key_is_pair(const struct tls_creds *c, const br_x509_pkey *pk)
{
	if (pk->key_type != c->key_type)
		return 0;
	if (c->key_type == BR_KEYTYPE_EC) {
		unsigned char q[BR_EC_KBUF_PUB_MAX_SIZE];
		br_ec_public_key pub;
		size_t n;

		n = br_ec_compute_pub(br_ec_get_default(), &pub, q, &c->ec);
		return n != 0 && pub.curve == pk->key.ec.curve &&
		    n == pk->key.ec.qlen && memcmp(q, pk->key.ec.q, n) == 0;
	} else {
		static const unsigned char probe[32] = "xmppd: key matches cert";
		br_rsa_compute_modulus modf;
		const unsigned char *a, *b;
		unsigned char *nbuf, *sig, out[sizeof probe];
		size_t alen, blen, nlen;
		int same;

		modf = br_rsa_compute_modulus_get_default();
		if ((nlen = modf(NULL, &c->rsa)) == 0)
			return 0;
		nbuf = xmalloc(nlen);
		if (modf(nbuf, &c->rsa) != nlen) {
			free(nbuf);
			return 0;
		}
		a = nbuf;
		alen = nlen;
		b = pk->key.rsa.n;
		blen = pk->key.rsa.nlen;
		strip_zeros(&a, &alen);
		strip_zeros(&b, &blen);
		same = alen == blen && memcmp(a, b, alen) == 0;
		free(nbuf);
		if (!same)
			return 0;
		sig = xmalloc(nlen);
		same = br_rsa_pkcs1_sign_get_default()(BR_HASH_OID_SHA256,
		    probe, sizeof probe, &c->rsa, sig) == 1 &&
		    br_rsa_pkcs1_vrfy_get_default()(sig, nlen,
		    BR_HASH_OID_SHA256, sizeof out, &pk->key.rsa, out) == 1 &&
		    memcmp(out, probe, sizeof probe) == 0;
		free(sig);
		return same;
	}
}

static int
pem_is_cert(const char *name)
{
	return strcmp(name, "CERTIFICATE") == 0 ||
	    strcmp(name, "X509 CERTIFICATE") == 0;
}

static int
pem_is_key(const char *name)
{
	return strcmp(name, "PRIVATE KEY") == 0 ||
	    strcmp(name, "RSA PRIVATE KEY") == 0 ||
	    strcmp(name, "EC PRIVATE KEY") == 0;
}

static int
load_chain(struct tls_creds *c, br_x509_decoder_context *leaf,
    char *err, size_t errlen)
{
	struct pem_list *pl;
	unsigned char *buf;
	size_t len, i, n = 0;
	br_x509_decoder_context dc;
	int e;

	if (read_file(c->cert_file, &c->cert_id, &buf, &len, err, errlen) ==
	    -1)
		return -1;
	pl = xmalloc(sizeof *pl);
	if (pem_decode(buf, len, pl, c->cert_file, err, errlen) == -1) {
		free(pl);
		free(buf);
		return -1;
	}
	free(buf);
	for (i = 0; i < pl->n; i++)
		if (pem_is_cert(pl->obj[i].name))
			n++;
	if (n == 0) {
		errf(err, errlen, "no certificate in %s", c->cert_file);
		goto fail;
	}
	if (n > MAX_CHAIN) {
		errf(err, errlen, "too many certificates in %s (at most %d)",
		    c->cert_file, MAX_CHAIN);
		goto fail;
	}
	c->chain = xcalloc(n, sizeof *c->chain);
	for (i = 0; i < pl->n; i++) {
		struct pem_obj *o = &pl->obj[i];
		br_x509_decoder_context *d = c->chain_len == 0 ? leaf : &dc;

		if (!pem_is_cert(o->name))
			continue;
		/* Every certificate must at least decode. */
		br_x509_decoder_init(d, NULL, NULL);
		br_x509_decoder_push(d, o->data, o->len);
		if ((e = br_x509_decoder_last_error(d)) != 0) {
			errf(err, errlen, "cannot parse certificate %zu in %s "
			    "(BearSSL error %d)", c->chain_len + 1,
			    c->cert_file, e);
			goto fail;
		}
		c->chain[c->chain_len].data = o->data;
		c->chain[c->chain_len].data_len = o->len;
		c->chain_len++;
		o->data = NULL;
		o->cap = 0;
	}
	if (parse_leaf(c->chain[0].data, c->chain[0].data_len, c) == -1) {
		errf(err, errlen, "cannot parse certificate 1 in %s",
		    c->cert_file);
		goto fail;
	}
	pem_list_free(pl);
	free(pl);
	return 0;
fail:
	pem_list_free(pl);
	free(pl);
	return -1;
}

static int
load_key(struct tls_creds *c, char *err, size_t errlen)
{
	struct pem_list *pl;
	br_skey_decoder_context kd;
	unsigned char *buf;
	size_t len, i, found = MAX_PEM_OBJECTS, nkeys = 0;
	int encrypted = 0, rc = -1;

	if (read_file(c->key_file, &c->key_id, &buf, &len, err, errlen) == -1)
		return -1;
	pl = xmalloc(sizeof *pl);
	if (pem_decode(buf, len, pl, c->key_file, err, errlen) == -1) {
		/* Old-style encrypted PEM has headers BearSSL rejects. */
		if (memmem(buf, len, "ENCRYPTED", 9) != NULL)
			errf(err, errlen, "encrypted private key in %s is not "
			    "supported", c->key_file);
		free(pl);
		xfree_secret(buf, len);
		return -1;
	}
	xfree_secret(buf, len);
	for (i = 0; i < pl->n; i++) {
		if (strcmp(pl->obj[i].name, "ENCRYPTED PRIVATE KEY") == 0)
			encrypted = 1;
		if (pem_is_key(pl->obj[i].name)) {
			nkeys++;
			found = i;
		}
	}
	if (nkeys == 0 && encrypted) {
		errf(err, errlen, "encrypted private key in %s is not "
		    "supported", c->key_file);
		goto out;
	}
	if (nkeys == 0) {
		errf(err, errlen, "no private key in %s", c->key_file);
		goto out;
	}
	if (nkeys > 1) {
		errf(err, errlen, "more than one private key in %s",
		    c->key_file);
		goto out;
	}
	br_skey_decoder_init(&kd);
	br_skey_decoder_push(&kd, pl->obj[found].data, pl->obj[found].len);
	if (br_skey_decoder_last_error(&kd) != 0) {
		errf(err, errlen, "cannot parse key in %s", c->key_file);
		goto out;
	}
	key_copy(c, &kd);
	rc = 0;
out:
	explicit_bzero(&kd, sizeof kd);
	pem_list_free(pl);
	free(pl);
	return rc;
}

static void
creds_free(struct tls_creds *c)
{
	size_t i;

	for (i = 0; i < c->chain_len; i++)
		free(c->chain[i].data);
	free(c->chain);
	xfree_secret(c->key_mem, c->key_mem_len);
	names_free(c->names, c->nnames);
	free(c->cert_file);
	free(c->key_file);
	xfree_secret(c, sizeof *c);
}

struct tls_creds *
tls_creds_load(const char *cert_file, const char *key_file, char *err,
    size_t errlen)
{
	struct tls_creds *c;
	br_x509_decoder_context leaf;
	const br_x509_pkey *pk;

	errf(err, errlen, "no error");
	if (cert_file == NULL || *cert_file == '\0' || key_file == NULL ||
	    *key_file == '\0') {
		errf(err, errlen, "no certificate or key file given");
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->refs = 1;
	c->cert_file = xstrdup(cert_file);
	c->key_file = xstrdup(key_file);
	if (load_chain(c, &leaf, err, errlen) == -1 ||
	    load_key(c, err, errlen) == -1)
		goto fail;
	pk = br_x509_decoder_get_pkey(&leaf);
	if (pk == NULL) {
		errf(err, errlen, "cannot parse certificate 1 in %s",
		    c->cert_file);
		goto fail;
	}
	if (!key_is_pair(c, pk)) {
		errf(err, errlen, "key in %s does not match certificate in %s",
		    c->key_file, c->cert_file);
		goto fail;
	}
	explicit_bzero(&leaf, sizeof leaf);
	return c;
fail:
	explicit_bzero(&leaf, sizeof leaf);
	creds_free(c);
	return NULL;
}

void
tls_creds_ref(struct tls_creds *c)
{
	if (c == NULL)
		return;
	if (c->refs == INT_MAX)
		fatalx("tls_creds_ref: reference count overflow");
	c->refs++;
}

void
tls_creds_unref(struct tls_creds *c)
{
	if (c == NULL)
		return;
	if (c->refs <= 0)
		fatalx("tls_creds_unref: not referenced");
	if (--c->refs == 0)
		creds_free(c);
}

time_t
tls_creds_expiry(const struct tls_creds *c)
{
	return c != NULL ? c->expiry : 0;
}

int
tls_creds_is_self_signed(const struct tls_creds *c)
{
	return c->self_issued && c->chain_len == 1;
}

int
tls_creds_match_name(const struct tls_creds *c, const char *host)
{
	char h[MAX_DNS_NAME + 2];
	const char *rest;
	size_t len, i;

	if (c == NULL || host == NULL)
		return 0;
	len = strlen(host);
	if (len > 0 && host[len - 1] == '.')
		len--;
	if (!dns_name_is_valid(host, len, 0))
		return 0;
	for (i = 0; i < len; i++)
		h[i] = lower(host[i]);
	h[len] = '\0';
	/* "*.example.org" stands for exactly one label, the leftmost. */
	rest = strchr(h, '.');
	for (i = 0; i < c->nnames; i++) {
		const char *n = c->names[i].name;

		if (c->names[i].wildcard_ok && n[0] == '*' && n[1] == '.') {
			if (rest != NULL && strchr(n + 2, '.') != NULL &&
			    strcmp(rest + 1, n + 2) == 0)
				return 1;
		} else if (strcmp(h, n) == 0)
			return 1;
	}
	return 0;
}

int
tls_creds_changed_on_disk(const struct tls_creds *c)
{
	struct stat sb;

	if (c == NULL)
		return 0;
	if (stat(c->cert_file, &sb) == -1 || !file_id_same(&c->cert_id, &sb))
		return 1;
	if (stat(c->key_file, &sb) == -1 || !file_id_same(&c->key_id, &sb))
		return 1;
	return 0;
}

const char *
tls_creds_cert_file(const struct tls_creds *c)
{
	return c != NULL ? c->cert_file : NULL;
}

const char *
tls_creds_key_file(const struct tls_creds *c)
{
	return c != NULL ? c->key_file : NULL;
}

/* ---- cipher suites ---- */

static const struct suite *
suite_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < NSUITES; i++)
		if (strcasecmp(suites[i].name, name) == 0)
			return &suites[i];
	return NULL;
}

static const struct suite *
suite_by_id(unsigned id)
{
	size_t i;

	for (i = 0; i < NSUITES; i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

int
tls_cipher_known(const char *name)
{
	return name != NULL && suite_by_name(name) != NULL;
}

const char *
tls_cipher_names(void)
{
	static char list[NSUITES * 40];
	size_t i, off = 0, l;

	if (list[0] != '\0')
		return list;
	for (i = 0; i < NSUITES; i++) {
		l = strlen(suites[i].name);
		/* Names are under 39 bytes: the table size is the bound. */
		if (off + l + 2 > sizeof list)
			fatalx("tls_cipher_names: list too long");
		if (off > 0)
			list[off++] = ' ';
		memcpy(list + off, suites[i].name, l);
		off += l;
		list[off] = '\0';
	}
	return list;
}

static void
set_default_suites(void)
{
	size_t i;

	cur_nsuites = 0;
	cur_cbc = 0;
	for (i = 0; i < NSUITES; i++)
		if (suites[i].dflt)
			cur_suites[cur_nsuites++] = suites[i].id;
	cur_set = 1;
}

/* ---- the session cache (c2s and HTTPS) ---- */

/*
 * Session IDs (BearSSL 0.6 has no tickets): a client that comes back
 * skips the ECDHE and the signature, about half of a login's CPU.  One
 * LRU store for every host, 100 bytes a session.  It holds master
 * secrets, so it is wiped when dropped, and it is dropped whole every
 * 24 hours: no session outlives RFC 5246's suggested limit (F.1.4).
 * BearSSL looks a session up before it reads the ClientHello's
 * extensions, so a session is not tied to the SNI it was made under
 * (RFC 6066 asks that it be); the stream's to= picks the host anyway,
 * and the key exchange and certificate are the ones the client checked
 * when the session was made.  Not for s2s: see tls_server_new_s2s().
 */
#define SCACHE_LIFE_MS	(24 * 3600 * 1000LL)

static br_ssl_session_cache_lru	 scache;
static unsigned char		*scache_mem;
static size_t			 scache_len;
static int64_t			 scache_born;

/* Forget every session; the store becomes len bytes (0: no cache). */
static void
scache_reset(size_t len)
{
	if (scache_mem != NULL)
		xfree_secret(scache_mem, scache_len);
	scache_mem = NULL;
	scache_len = len;
	scache_born = now_ms();
	/* Untouched pages of a large block cost no memory until used. */
	if (len > 0)
		scache_mem = xmalloc(len);
	/* Also with no store: engines set up earlier still point here. */
	br_ssl_session_cache_lru_init(&scache, scache_mem, len);
}

void
tls_set_session_cache(size_t bytes)
{
	if (bytes != scache_len)
		scache_reset(bytes);
}

int
tls_set_ciphers(char *const *names, size_t n, char *err, size_t errlen)
{
	uint16_t list[NSUITES], old[NSUITES];
	size_t i, j, cnt = 0, nold = cur_nsuites;
	int cbc = 0;

	for (i = 0; i < n; i++) {
		const struct suite *s = names[i] ? suite_by_name(names[i]) :
		    NULL;

		if (s == NULL) {
			errf(err, errlen, "unknown cipher suite \"%s\" "
			    "(valid: %s)", names[i] ? names[i] : "(null)",
			    tls_cipher_names());
			return -1;
		}
		for (j = 0; j < cnt; j++)
			if (list[j] == s->id)
				break;
		if (j < cnt)	/* named twice: the first one counts */
			continue;
		list[cnt++] = s->id;
		cbc |= s->cbc;
	}
	memcpy(old, cur_suites, sizeof old);
	if (cnt == 0)
		set_default_suites();
	else {
		memcpy(cur_suites, list, cnt * sizeof list[0]);
		cur_nsuites = cnt;
		cur_cbc = cbc;
		cur_set = 1;
	}
	/* BearSSL resumes a session whatever suites are configured now. */
	if (nold != cur_nsuites ||
	    memcmp(old, cur_suites, nold * sizeof old[0]) != 0)
		scache_reset(scache_len);
	return 0;
}

void
tls_set_picker(tls_pick_fn fn)
{
	picker = fn;
}

/* ---- the server policy ---- */

static struct tls *
policy_tls(const br_ssl_server_policy_class **pctx)
{
	/* pctx points at pol.vtable, the first member of struct tls_policy. */
	return ((const struct tls_policy *)(const void *)pctx)->t;
}

/*
 * The signature hash for ServerKeyExchange, from the ones the client
 * offered for our key type (already cut down to those we have).
 */
static int
pick_hash(unsigned bits)
{
	static const int pref[] = { br_sha256_ID, br_sha384_ID, br_sha512_ID };
	size_t i;

	for (i = 0; i < sizeof pref / sizeof pref[0]; i++)
		if (bits & (1u << pref[i]))
			return pref[i];
	return 0;
}

/* Keep our copy of the SNI: lower case, and only if it is a host name. */
static void
policy_save_sni(struct tls *t, const char *name)
{
	size_t len = strlen(name), i;

	t->sni[0] = '\0';
	if (len >= sizeof t->sni || !dns_name_is_valid(name, len, 0))
		return;
	for (i = 0; i < len; i++)
		t->sni[i] = lower(name[i]);
	t->sni[len] = '\0';
}

static int
policy_choose(const br_ssl_server_policy_class **pctx,
    const br_ssl_server_context *cc, br_ssl_server_choices *ch)
{
	struct tls *t = policy_tls(pctx);
	const br_suite_translated *st;
	struct tls_creds *c;
	size_t i, n;
	unsigned want;
	int hash;

	policy_save_sni(t, br_ssl_engine_get_server_name(&cc->eng));
	if (picker != NULL &&
	    (c = picker(t->sni[0] != '\0' ? t->sni : NULL)) != NULL &&
	    c != t->creds) {
		tls_creds_ref(c);
		tls_creds_unref(t->creds);
		t->creds = c;
	}
	if ((c = t->creds) == NULL) {
		t->why = "no certificate for the requested server name";
		return 0;
	}
	if (c->key_type == BR_KEYTYPE_EC) {
		want = BR_SSLKEYX_ECDHE_ECDSA;
		hash = pick_hash(br_ssl_server_get_client_hashes(cc) >> 8);
	} else {
		want = BR_SSLKEYX_ECDHE_RSA;
		hash = pick_hash(br_ssl_server_get_client_hashes(cc));
	}
	if (hash == 0) {
		t->why = "no common signature hash";
		return 0;
	}
	/* In server preference order (BR_OPT_ENFORCE_SERVER_PREFERENCES). */
	st = br_ssl_server_get_client_suites(cc, &n);
	for (i = 0; i < n; i++) {
		if ((unsigned)(st[i][1] >> 12) != want)
			continue;
		ch->cipher_suite = st[i][0];
		ch->algo_id = 0xff00 + (unsigned)hash;
		ch->chain = c->chain;
		ch->chain_len = c->chain_len;
		return 1;
	}
	t->why = c->key_type == BR_KEYTYPE_EC ?
	    "no common cipher suite for an EC certificate" :
	    "no common cipher suite for an RSA certificate";
	return 0;
}

/* Static ECDH and RSA key exchange are not among our suites. */
static uint32_t
policy_do_keyx(const br_ssl_server_policy_class **pctx,
    unsigned char *data, size_t *len)
{
	return 0;
}

/* Longest ASN.1 ECDSA signature BearSSL makes (P-521): 139 bytes. */
#define ECDSA_SIG_MAX	139

static size_t
policy_do_sign(const br_ssl_server_policy_class **pctx, unsigned algo_id,
    unsigned char *data, size_t hv_len, size_t len)
{
	struct tls *t = policy_tls(pctx);
	const struct tls_creds *c = t->creds;
	unsigned char hv[64];
	const unsigned char *oid;
	const br_hash_class *hc;
	size_t siglen;
	int id = (int)(algo_id & 0xff);

	/* choose() always asks the engine to hash for us. */
	if ((algo_id & 0xff00) != 0xff00 || hv_len > sizeof hv || c == NULL)
		return 0;
	memcpy(hv, data, hv_len);	/* the signature overwrites data */
	if (c->key_type == BR_KEYTYPE_EC) {
		hc = br_ssl_engine_get_hash(t->eng, id);
		if (hc == NULL || len < ECDSA_SIG_MAX)
			return 0;
		siglen = br_ecdsa_sign_asn1_get_default()(
		    br_ssl_engine_get_ec(t->eng), hc, hv, &c->ec, data);
	} else {
		switch (id) {
		case br_sha256_ID:
			oid = BR_HASH_OID_SHA256;
			break;
		case br_sha384_ID:
			oid = BR_HASH_OID_SHA384;
			break;
		case br_sha512_ID:
			oid = BR_HASH_OID_SHA512;
			break;
		default:
			return 0;
		}
		siglen = (c->rsa.n_bitlen + 7) >> 3;
		if (len < siglen ||
		    !br_rsa_pkcs1_sign_get_default()(oid, hv, hv_len, &c->rsa,
		    data))
			siglen = 0;
	}
	explicit_bzero(hv, sizeof hv);
	return siglen;
}

static const br_ssl_server_policy_class policy_vtable = {
	sizeof(struct tls_policy),
	policy_choose,
	policy_do_keyx,
	policy_do_sign
};

/* ---- connections ---- */

static const struct {
	int		 err;
	const char	*text;
} br_errors[] = {
	{ BR_ERR_BAD_PARAM, "bad parameter" },
	{ BR_ERR_BAD_STATE, "bad engine state" },
	{ BR_ERR_UNSUPPORTED_VERSION, "unsupported protocol version" },
	{ BR_ERR_BAD_VERSION, "record version mismatch" },
	{ BR_ERR_BAD_LENGTH, "bad record length" },
	{ BR_ERR_TOO_LARGE, "record too large" },
	{ BR_ERR_BAD_MAC, "bad record MAC or padding" },
	{ BR_ERR_NO_RANDOM, "no entropy for the random generator" },
	{ BR_ERR_UNKNOWN_TYPE, "unknown record type" },
	{ BR_ERR_UNEXPECTED, "unexpected message" },
	{ BR_ERR_BAD_CCS, "bad ChangeCipherSpec" },
	{ BR_ERR_BAD_ALERT, "bad alert message" },
	{ BR_ERR_BAD_HANDSHAKE, "bad handshake message" },
	{ BR_ERR_OVERSIZED_ID, "oversized session ID" },
	{ BR_ERR_BAD_CIPHER_SUITE, "bad cipher suite" },
	{ BR_ERR_BAD_COMPRESSION, "bad compression" },
	{ BR_ERR_BAD_FRAGLEN, "bad max fragment length" },
	{ BR_ERR_BAD_SECRENEG, "secure renegotiation failed" },
	{ BR_ERR_EXTRA_EXTENSION, "unexpected extension" },
	{ BR_ERR_BAD_SNI, "bad server name extension" },
	{ BR_ERR_BAD_HELLO_DONE, "bad ServerHelloDone" },
	{ BR_ERR_LIMIT_EXCEEDED, "internal limit exceeded" },
	{ BR_ERR_BAD_FINISHED, "bad Finished message" },
	{ BR_ERR_RESUME_MISMATCH, "session resumption mismatch" },
	{ BR_ERR_INVALID_ALGORITHM, "unsupported or invalid algorithm" },
	{ BR_ERR_BAD_SIGNATURE, "bad signature" },
	{ BR_ERR_WRONG_KEY_USAGE, "wrong key type or usage" },
	{ BR_ERR_NO_CLIENT_AUTH, "no client certificate" },
	{ BR_ERR_IO, "I/O error" },
};

static const struct {
	int		 alert;
	const char	*name;
} alerts[] = {
	{ 0, "close_notify" },
	{ 10, "unexpected_message" },
	{ 20, "bad_record_mac" },
	{ 21, "decryption_failed" },
	{ 22, "record_overflow" },
	{ 30, "decompression_failure" },
	{ 40, "handshake_failure" },
	{ 41, "no_certificate" },
	{ 42, "bad_certificate" },
	{ 43, "unsupported_certificate" },
	{ 44, "certificate_revoked" },
	{ 45, "certificate_expired" },
	{ 46, "certificate_unknown" },
	{ 47, "illegal_parameter" },
	{ 48, "unknown_ca" },
	{ 49, "access_denied" },
	{ 50, "decode_error" },
	{ 51, "decrypt_error" },
	{ 70, "protocol_version" },
	{ 71, "insufficient_security" },
	{ 80, "internal_error" },
	{ 86, "inappropriate_fallback" },
	{ 90, "user_canceled" },
	{ 100, "no_renegotiation" },
	{ 109, "missing_extension" },
	{ 110, "unsupported_extension" },
	{ 112, "unrecognized_name" },
	{ 116, "certificate_required" },
	{ 120, "no_application_protocol" },
};

static const char *
alert_name(int a)
{
	size_t i;

	for (i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
		if (alerts[i].alert == a)
			return alerts[i].name;
	return "unknown";
}

/* Put the engine's error (and our own reason, if any) into t->err. */
static void
set_engine_error(struct tls *t, int e)
{
	char what[64];
	size_t i;

	if (e >= BR_ERR_SEND_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT + 256)
		(void)snprintf(what, sizeof what, "sent alert %d (%s)",
		    e - BR_ERR_SEND_FATAL_ALERT,
		    alert_name(e - BR_ERR_SEND_FATAL_ALERT));
	else if (e >= BR_ERR_RECV_FATAL_ALERT &&
	    e < BR_ERR_RECV_FATAL_ALERT + 256)
		(void)snprintf(what, sizeof what, "received alert %d (%s)",
		    e - BR_ERR_RECV_FATAL_ALERT,
		    alert_name(e - BR_ERR_RECV_FATAL_ALERT));
	else {
		(void)snprintf(what, sizeof what, "BearSSL error %d", e);
		for (i = 0; i < sizeof br_errors / sizeof br_errors[0]; i++)
			if (br_errors[i].err == e) {
				(void)snprintf(what, sizeof what, "%s",
				    br_errors[i].text);
				break;
			}
	}
	if (t->why != NULL)
		tls_seterr(t, "%s: %s", what, t->why);
	else
		tls_seterr(t, "%s", what);
}

/*
 * The handshake is done once application data can move.  A resumed
 * session skipped policy_choose(), so the SNI is read here.
 */
static void
set_established(struct tls *t, unsigned st)
{
	if (t->established || !(st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)))
		return;
	t->established = 1;
	if (t->pol.vtable != NULL && t->sni[0] == '\0')
		policy_save_sni(t, br_ssl_engine_get_server_name(t->eng));
}

static int
finish(struct tls *t, int result)
{
	t->result = result;
	return result;
}

/*
 * AES-GCM and ChaCha20-Poly1305, with the implementations chosen once:
 * BearSSL's br_ssl_engine_set_default_aes_gcm() and _chapol() ask CPUID
 * each time, and CPUID traps to the hypervisor in a VM (2 % of a login).
 */
static void
set_aead(br_ssl_engine_context *eng)
{
	static const br_block_ctr_class *ctr;
	static br_ghash gh;
	static br_chacha20_run cc;
	static br_poly1305_run pc;

	if (ctr == NULL) {
		if ((ctr = br_aes_x86ni_ctr_get_vtable()) == NULL)
			ctr = &br_aes_ct64_ctr_vtable;
		if ((gh = br_ghash_pclmul_get()) == 0)
			gh = br_ghash_ctmul64;
		if ((cc = br_chacha20_sse2_get()) == 0)
			cc = br_chacha20_ct_run;
		if ((pc = br_poly1305_ctmulq_get()) == 0)
			pc = br_poly1305_ctmul_run;
	}
	br_ssl_engine_set_gcm(eng, &br_sslrec_in_gcm_vtable,
	    &br_sslrec_out_gcm_vtable);
	br_ssl_engine_set_aes_ctr(eng, ctr);
	br_ssl_engine_set_ghash(eng, gh);
	br_ssl_engine_set_chapol(eng, &br_sslrec_in_chapol_vtable,
	    &br_sslrec_out_chapol_vtable);
	br_ssl_engine_set_chacha20(eng, cc);
	br_ssl_engine_set_poly1305(eng, pc);
}

/* cache: may resume sessions from the session cache. */
static struct tls *
server_new(struct tls_creds *default_creds, int cache)
{
	br_ssl_engine_context *eng;
	struct tls *t;

	if (!cur_set)
		set_default_suites();
	if (scache_mem != NULL && now_ms() - scache_born >= SCACHE_LIFE_MS)
		scache_reset(scache_len);
	t = xcalloc(1, sizeof *t);
	t->pol.vtable = &policy_vtable;
	t->pol.t = t;
	if (default_creds != NULL) {
		tls_creds_ref(default_creds);
		t->creds = default_creds;
	}
	eng = t->eng = &t->u.sc.eng;
	/*
	 * A minimal profile: TLS 1.2, ECDHE (P-256, P-384, P-521, X25519)
	 * signed with ECDSA or RSA, AES-GCM, ChaCha20-Poly1305 and, only if
	 * asked for, AES-CBC with SHA-2 HMAC.
	 */
	br_ssl_server_zero(&t->u.sc);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, cur_suites, cur_nsuites);
	br_ssl_engine_set_default_ec(eng);
	br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
	br_ssl_engine_set_hash(eng, br_sha512_ID, &br_sha512_vtable);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	set_aead(eng);
	if (cur_cbc)
		br_ssl_engine_set_default_aes_cbc(eng);
	br_ssl_server_set_policy(&t->u.sc, &t->pol.vtable);
	if (cache && scache_mem != NULL)
		br_ssl_server_set_cache(&t->u.sc, &scache.vtable);
	/* No renegotiation: SENDAPP never vanishes in mid-stream. */
	br_ssl_engine_set_all_flags(eng, BR_OPT_NO_RENEGOTIATION |
	    BR_OPT_ENFORCE_SERVER_PREFERENCES);
	/* Two buffers: XMPP is full duplex (a shared one can deadlock). */
	br_ssl_engine_set_buffers_bidi(eng, t->ibuf, sizeof t->ibuf, t->obuf,
	    sizeof t->obuf);
	/*
	 * A failed reset (no entropy) leaves the engine closed with an
	 * error: the first tls_pump() reports it like any other.
	 */
	if (br_ssl_server_reset(&t->u.sc) != 1 &&
	    br_ssl_engine_last_error(eng) == BR_ERR_OK) {
		tls_seterr(t, "cannot reset the TLS engine");
		t->result = TLS_ERROR;
	}
	t->st = br_ssl_engine_current_state(eng);
	return t;
}

struct tls *
tls_server_new(struct tls_creds *default_creds)
{
	return server_new(default_creds, 1);
}

void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	if (t->peer != NULL)
		xfree_secret(t->peer, sizeof *t->peer);
	tls_creds_unref(t->creds);
	xfree_secret(t, sizeof *t);
}

static int
io_failed(struct tls *t, const char *op, int e)
{
	tls_seterr(t, "%s: %s", op, strerror(e));
	return finish(t, TLS_ERROR);
}

/* The peer closed TCP without a close_notify (or after ours). */
static int
peer_eof(struct tls *t)
{
	/* After the handshake this is only a truncation: common, harmless. */
	if (t->established || t->close_sent)
		return finish(t, TLS_CLOSED);
	tls_seterr(t, "peer closed during handshake");
	return finish(t, TLS_ERROR);
}

int
tls_pump(struct tls *t, int fd, int *can_read, int *can_write,
    const struct tls_io *io)
{
	br_ssl_engine_context *eng = t->eng;
	const unsigned char *src;
	unsigned char *buf;
	size_t len, avail, k;
	unsigned st;
	ssize_t n;
	int iter, paused = 0;

	if (t->result != TLS_OK)
		return t->result;
	t->cap_hit = 0;
	for (iter = 0;; iter++) {
		if (iter == TLS_PUMP_MAX) {
			t->cap_hit = 1;
			break;
		}
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED)
			break;
		set_established(t, st);

		/* 1. Records to send go first: handshake, alerts, data. */
		if ((st & BR_SSL_SENDREC) && *can_write) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			n = send(fd, buf, len, MSG_NOSIGNAL);
			if (n > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
				continue;
			}
			if (n == -1 && errno == EINTR)
				continue;
			if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
				*can_write = 0;
			else
				return io_failed(t, "send", errno);
		}

		/* 2. Decrypted input to the application, unless it pauses. */
		if ((st & BR_SSL_RECVAPP) && !paused) {
			buf = br_ssl_engine_recvapp_buf(eng, &len);
			k = io != NULL && io->deliver != NULL ?
			    io->deliver(io->arg, buf, len) : 0;
			if (k > len)
				fatalx("tls_pump: deliver took %zu of %zu "
				    "bytes", k, len);
			if (k > 0)
				br_ssl_engine_recvapp_ack(eng, k);
			if (k < len)
				paused = 1;
			continue;
		}

		/* 3. Plaintext from the application; seal after a batch. */
		if (st & BR_SSL_SENDAPP) {
			src = NULL;
			avail = 0;
			if (io != NULL && io->pending != NULL &&
			    io->taken != NULL)
				src = io->pending(io->arg, &avail);
			if (src != NULL && avail > 0) {
				buf = br_ssl_engine_sendapp_buf(eng, &len);
				k = avail < len ? avail : len;
				memcpy(buf, src, k);
				br_ssl_engine_sendapp_ack(eng, k);
				io->taken(io->arg, k);
				t->unflushed = 1;
				continue;
			}
			if (t->unflushed) {
				/* Never force: empty records upset peers. */
				br_ssl_engine_flush(eng, 0);
				t->unflushed = 0;
				continue;
			}
			if (t->close_req && !t->close_sent) {
				br_ssl_engine_close(eng);
				t->close_sent = 1;
				continue;
			}
		}

		/* 4. Records from the peer: what was read ahead first. */
		if ((st & BR_SSL_RECVREC) && !paused &&
		    (t->ilen > t->ioff || *can_read)) {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			if (t->ilen > t->ioff) {
				k = (size_t)(t->ilen - t->ioff);
				if (k > len)
					k = len;
				memcpy(buf, t->istage + t->ioff, k);
				t->ioff += k;
				br_ssl_engine_recvrec_ack(eng, k);
				iter--;		/* a copy, not a transfer */
				continue;
			}
			if (len < TLS_ISTAGE) {
				buf = t->istage;
				len = TLS_ISTAGE;
			}
			n = recv(fd, buf, len, 0);
			if (n > 0) {
				/* Short: the socket is empty (for now). */
				if ((size_t)n < len)
					*can_read = 0;
				if (buf == t->istage) {
					t->ioff = 0;
					t->ilen = (uint16_t)n;
				} else
					br_ssl_engine_recvrec_ack(eng, (size_t)n);
				continue;
			}
			if (n == 0)
				return peer_eof(t);
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				*can_read = 0;
			else
				return io_failed(t, "recv", errno);
		}
		break;		/* nothing could move */
	}

	st = t->st = br_ssl_engine_current_state(eng);
	if (st & BR_SSL_CLOSED) {
		int e = br_ssl_engine_last_error(eng);

		if (e == BR_ERR_OK)
			return finish(t, TLS_CLOSED);
		set_engine_error(t, e);
		return finish(t, TLS_ERROR);
	}
	set_established(t, st);
	/* Our close_notify is out; we do not wait for the peer's. */
	if (t->close_sent && !(st & BR_SSL_SENDREC))
		return finish(t, TLS_CLOSED);
	return TLS_OK;
}

short
tls_events(const struct tls *t, int reading_paused)
{
	unsigned st;
	short ev = 0;

	if (t->result != TLS_OK)
		return 0;
	st = t->st;
	if (st & BR_SSL_CLOSED)
		return 0;
	if (st & BR_SSL_SENDREC)
		ev |= POLLOUT;
	if ((st & BR_SSL_RECVREC) && !reading_paused)
		ev |= POLLIN;
	return ev;
}

int
tls_has_pending_input(const struct tls *t)
{
	if (t->result != TLS_OK)
		return 0;
	return t->cap_hit || (t->st & BR_SSL_RECVAPP) != 0 ||
	    (t->ilen > t->ioff && (t->st & BR_SSL_RECVREC));
}

int
tls_is_established(const struct tls *t)
{
	return t->established;
}

void
tls_close(struct tls *t)
{
	if (t->result != TLS_OK || t->close_req)
		return;
	t->close_req = 1;
	/*
	 * Once established, the pump first moves what the application
	 * still has pending into the engine, then closes.  Before that,
	 * nothing can be sent but the alert.
	 */
	if (!t->established) {
		br_ssl_engine_close(t->eng);
		t->st = br_ssl_engine_current_state(t->eng);
		t->close_sent = 1;
	}
}

int
tls_is_flushed(const struct tls *t)
{
	unsigned st;

	if (t->result != TLS_OK)
		return 1;
	if (t->close_req && !t->close_sent)
		return 0;
	st = br_ssl_engine_current_state(t->eng);
	if (st & BR_SSL_CLOSED)
		return 1;
	return !(st & BR_SSL_SENDREC) && (t->close_sent || !t->unflushed);
}

const char *
tls_error_string(const struct tls *t)
{
	return t->err[0] != '\0' ? t->err : "no error";
}

const char *
tls_server_name(const struct tls *t)
{
	return t->sni[0] != '\0' ? t->sni : NULL;
}

const char *
tls_cipher_name(const struct tls *t)
{
	const struct suite *s;

	/* The session's suite: policy_choose() is not asked when a
	 * session is resumed. */
	if (!t->established ||
	    (s = suite_by_id(t->eng->session.cipher_suite)) == NULL)
		return NULL;
	return s->name;
}

/* ==== the client side (outgoing server-to-server) ==== */

static br_x509_trust_anchor	*anchors;
static size_t			 nanchors;

struct dn_acc {
	unsigned char	*p;
	size_t		 len, cap;
};

static void
dn_append(void *ctx, const void *buf, size_t len)
{
	struct dn_acc *d = ctx;

	if (len > 65536 - d->len)
		return;		/* absurd DN: it will simply not match */
	if (d->len + len > d->cap) {
		d->cap = (d->len + len) * 2;
		d->p = xrealloc(d->p, d->cap);
	}
	memcpy(d->p + d->len, buf, len);
	d->len += len;
}

static void
anchors_free(br_x509_trust_anchor *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].dn.data);
		if (a[i].pkey.key_type == BR_KEYTYPE_RSA) {
			free(a[i].pkey.key.rsa.n);
			free(a[i].pkey.key.rsa.e);
		} else
			free(a[i].pkey.key.ec.q);
	}
	free(a);
}

/* One certificate of the bundle as a trust anchor; 0, or -1 to skip it. */
static int
make_anchor(const unsigned char *der, size_t len, br_x509_trust_anchor *ta)
{
	br_x509_decoder_context dc;
	struct dn_acc dn = { NULL, 0, 0 };
	const br_x509_pkey *pk;

	br_x509_decoder_init(&dc, dn_append, &dn);
	br_x509_decoder_push(&dc, der, len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL || br_x509_decoder_last_error(&dc) != 0) {
		free(dn.p);
		return -1;
	}
	memset(ta, 0, sizeof *ta);
	ta->dn.data = dn.p;
	ta->dn.len = dn.len;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta->pkey.key.rsa.n = xmalloc(pk->key.rsa.nlen);
		memcpy(ta->pkey.key.rsa.n, pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta->pkey.key.rsa.e = xmalloc(pk->key.rsa.elen);
		memcpy(ta->pkey.key.rsa.e, pk->key.rsa.e, pk->key.rsa.elen);
		ta->pkey.key.rsa.elen = pk->key.rsa.elen;
	} else {
		ta->pkey.key.ec.curve = pk->key.ec.curve;
		ta->pkey.key.ec.q = xmalloc(pk->key.ec.qlen);
		memcpy(ta->pkey.key.ec.q, pk->key.ec.q, pk->key.ec.qlen);
		ta->pkey.key.ec.qlen = pk->key.ec.qlen;
	}
	return 0;
}

int
tls_trust_load(const char *ca_file, char *err, size_t errlen)
{
	struct file_id id;
	struct pem_list *pl;
	unsigned char *buf;
	size_t len, n = 0;
	br_x509_trust_anchor *a;

	if (read_file(ca_file, &id, &buf, &len, err, errlen) == -1)
		return -1;
	pl = xmalloc(sizeof *pl);
	if (pem_decode(buf, len, pl, ca_file, err, errlen) == -1) {
		free(pl);
		free(buf);
		return -1;
	}
	free(buf);
	a = xcalloc(pl->n + 1, sizeof *a);
	for (size_t i = 0; i < pl->n; i++)
		if (pem_is_cert(pl->obj[i].name) &&
		    make_anchor(pl->obj[i].data, pl->obj[i].len, &a[n]) == 0)
			n++;
	pem_list_free(pl);
	free(pl);
	if (n == 0) {
		free(a);
		errf(err, errlen, "no usable certificate in %s", ca_file);
		return -1;
	}
	anchors_free(anchors, nanchors);
	anchors = a;
	nanchors = n;
	return 0;
}

size_t
tls_trust_count(void)
{
	return nanchors;
}

static struct tls_peer *
peer_of(const br_x509_class *const *ctx)
{
	return (struct tls_peer *)(void *)ctx;
}

static void
peer_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_peer *p = peer_of(ctx);

	p->ncert = 0;
	p->leaf_len = 0;
	p->leaf_too_big = 0;
	p->verdict = BR_ERR_X509_NOT_TRUSTED;
	/* No name here: we check XMPP's kinds of names ourselves. */
	p->xm.vtable->start_chain(&p->xm.vtable, NULL);
}

static void
peer_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_peer *p = peer_of(ctx);

	if (p->ncert == 0 && length > MAX_LEAF)
		p->leaf_too_big = 1;
	p->xm.vtable->start_cert(&p->xm.vtable, length);
}

static void
peer_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls_peer *p = peer_of(ctx);

	if (p->ncert == 0 && !p->leaf_too_big) {
		if (len > MAX_LEAF - p->leaf_len)
			p->leaf_too_big = 1;
		else {
			memcpy(p->leaf + p->leaf_len, buf, len);
			p->leaf_len += len;
		}
	}
	p->xm.vtable->append(&p->xm.vtable, buf, len);
}

static void
peer_end_cert(const br_x509_class **ctx)
{
	struct tls_peer *p = peer_of(ctx);

	p->ncert++;
	p->xm.vtable->end_cert(&p->xm.vtable);
}

static unsigned
peer_end_chain(const br_x509_class **ctx)
{
	struct tls_peer *p = peer_of(ctx);
	unsigned e = p->xm.vtable->end_chain(&p->xm.vtable);

	/* The minimal engine says 0 for a chain that reached an anchor. */
	if (e == 0)
		e = BR_ERR_X509_OK;
	p->verdict = e;
	/* Untrusted is not fatal here: the verdict decides how we may
	 * authenticate later.  A broken chain is. */
	return (e == BR_ERR_X509_OK || e == BR_ERR_X509_NOT_TRUSTED) ? 0 : e;
}

static const br_x509_pkey *
peer_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	const struct tls_peer *p = (const struct tls_peer *)(const void *)ctx;

	return p->xm.vtable->get_pkey(&p->xm.vtable, usages);
}

static const br_x509_class peer_vtable = {
	sizeof(struct tls_peer),
	peer_start_chain, peer_start_cert, peer_append, peer_end_cert,
	peer_end_chain, peer_get_pkey
};

/* The chain check: BearSSL's minimal engine inside our wrapper. */
static void
peer_init(struct tls_peer *p)
{
	static const br_hash_class *const hashes[] = {
		&br_sha1_vtable, &br_sha224_vtable, &br_sha256_vtable,
		&br_sha384_vtable, &br_sha512_vtable
	};

	br_x509_minimal_init(&p->xm, &br_sha256_vtable, anchors, nanchors);
	for (unsigned id = br_sha1_ID; id <= br_sha512_ID; id++)
		br_x509_minimal_set_hash(&p->xm, (int)id, hashes[id - br_sha1_ID]);
	br_x509_minimal_set_rsa(&p->xm, br_rsa_pkcs1_vrfy_get_default());
	br_x509_minimal_set_ecdsa(&p->xm, br_ec_get_default(),
	    br_ecdsa_vrfy_asn1_get_default());
	p->vtable = &peer_vtable;
	p->verdict = BR_ERR_X509_NOT_TRUSTED;
}

/*
 * The server side for other servers: like tls_server_new(), and it asks
 * for the peer's certificate (without insisting), so the peer can use
 * SASL EXTERNAL when its chain reaches one of our anchors (XEP-0178).
 * No session resumption: a resumed session has no certificate to check.
 */
struct tls *
tls_server_new_s2s(struct tls_creds *default_creds)
{
	struct tls *t = server_new(default_creds, 0);
	struct tls_peer *p;

	if (nanchors == 0 || t->result != TLS_OK)
		return t;
	p = t->peer = xcalloc(1, sizeof *t->peer);
	peer_init(p);
	br_ssl_server_set_trust_anchor_names_alt(&t->u.sc, anchors, nanchors);
	br_ssl_engine_set_x509(t->eng, &p->vtable);
	/* To check the peer's CertificateVerify (and to say in the
	 * CertificateRequest which kinds of key we can check). */
	br_ssl_engine_set_default_rsavrfy(t->eng);
	br_ssl_engine_set_default_ecdsa(t->eng);
	br_ssl_engine_add_flags(t->eng, BR_OPT_TOLERATE_NO_CLIENT_AUTH);
	return t;
}

struct tls *
tls_client_new(const char *server_name, struct tls_creds *client_creds)
{
	br_ssl_engine_context *eng;
	struct tls *t;
	struct tls_peer *p;

	if (!cur_set)
		set_default_suites();
	t = xcalloc(1, sizeof *t);
	p = t->peer = xcalloc(1, sizeof *t->peer);
	eng = t->eng = &t->u.cc.eng;
	br_ssl_client_zero(&t->u.cc);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, cur_suites, cur_nsuites);
	br_ssl_engine_set_default_ec(eng);
	br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
	br_ssl_engine_set_hash(eng, br_sha512_ID, &br_sha512_vtable);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	set_aead(eng);
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_default_ecdsa(eng);
	br_ssl_client_set_default_rsapub(&t->u.cc);
	if (cur_cbc)
		br_ssl_engine_set_default_aes_cbc(eng);
	peer_init(p);
	br_ssl_engine_set_x509(eng, &p->vtable);
	/* Our own certificate, for servers that ask (SASL EXTERNAL there). */
	if (client_creds != NULL) {
		tls_creds_ref(client_creds);
		t->creds = client_creds;
		if (client_creds->key_type == BR_KEYTYPE_EC)
			br_ssl_client_set_single_ec(&t->u.cc, client_creds->chain,
			    client_creds->chain_len, &client_creds->ec,
			    BR_KEYTYPE_SIGN, 0, br_ec_get_default(),
			    br_ecdsa_sign_asn1_get_default());
		else
			br_ssl_client_set_single_rsa(&t->u.cc, client_creds->chain,
			    client_creds->chain_len, &client_creds->rsa,
			    br_rsa_pkcs1_sign_get_default());
	}
	br_ssl_engine_set_all_flags(eng, BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_buffers_bidi(eng, t->ibuf, sizeof t->ibuf, t->obuf,
	    sizeof t->obuf);
	snprintf(t->sni, sizeof t->sni, "%s", server_name);
	if (br_ssl_client_reset(&t->u.cc, server_name, 0) != 1 &&
	    br_ssl_engine_last_error(eng) == BR_ERR_OK) {
		tls_seterr(t, "cannot reset the TLS engine");
		t->result = TLS_ERROR;
	}
	t->st = br_ssl_engine_current_state(eng);
	return t;
}

int
tls_peer_is_trusted(const struct tls *t)
{
	return t->peer != NULL && t->established &&
	    t->peer->verdict == BR_ERR_X509_OK;
}

int
tls_peer_names(const struct tls *t, const char *domain)
{
	struct tls_creds c;
	int ok;

	if (t->peer == NULL || !t->established || t->peer->leaf_too_big ||
	    t->peer->leaf_len == 0)
		return 0;
	memset(&c, 0, sizeof c);
	if (parse_leaf(t->peer->leaf, t->peer->leaf_len, &c) == -1)
		return 0;
	ok = tls_creds_match_name(&c, domain);
	names_free(c.names, c.nnames);
	return ok;
}

const char *
tls_peer_verdict(const struct tls *t)
{
	if (t->peer == NULL)
		return "no certificate check on this side";
	switch (t->peer->verdict) {
	case BR_ERR_X509_OK:
		return "trusted";
	case BR_ERR_X509_NOT_TRUSTED:
		return "not signed by a trusted authority";
	case BR_ERR_X509_EXPIRED:
		return "expired or not yet valid";
	default:
		snprintf(t->peer->verdict_text, sizeof t->peer->verdict_text,
		    "invalid certificate chain (BearSSL error %u)", t->peer->verdict);
		return t->peer->verdict_text;
	}
}
