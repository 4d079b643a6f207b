/*
 * http.c - the HTTP/1.1 server (see http.h): a strict request parser, the
 * connection state machine on top of conn.c, responses, files streamed
 * from disk, the prefix table handlers register in, and host-meta.
 *
 * One request at a time per connection.  Bytes that arrive while a file
 * is still going out (pipelining) wait in a small buffer.  File data is
 * read from disk only while the connection's output queue is short: a
 * loop source without a descriptor asks for a turn whenever one of the
 * sending connections has drained below the low-water mark.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "http.h"
#include "loop.h"
#include "modules/module.h"
#include "server.h"

#define MAX_ROUTES	32
#define MAX_LINKS	8
#define EXTRA_MAX	8192	/* handler-added response headers */
#define HEAD_MAX	(EXTRA_MAX + 1024)	/* a whole response head */
#define PENDING_MAX	(HTTP_MAX_REQUEST_LINE + HTTP_MAX_HEADER_BYTES)
#define DISCARD_MAX	(256 * 1024)	/* body bytes read and dropped to keep a
					 * connection after an early answer */
#define LINGER_MAX	(1024 * 1024)	/* body bytes dropped after an answer
					 * that closes, so that the client is
					 * not reset before it reads it */
#define NOBODY_MAX	(64 * 1024)	/* body for a handler that takes none */
#define BLANK_LINES_MAX	4	/* empty lines tolerated before a request */
#define METHOD_MAX	32
#define PROGRESS_BYTES	1024	/* body bytes that count as progress */
#define PUMP_LOW	(32 * 1024)	/* refill a file response below this */
#define PUMP_TARGET	(128 * 1024)	/* ... up to this */
#define PUMP_CHUNK	(64 * 1024)

/* ---- small helpers ---- */

static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
is_token(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A field value byte (RFC 9110 5.5): HT, SP, visible, obs-text. */
static int
is_value_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decimal digits only, at most 18 of them (no overflow): 0, -1 for bad
 * syntax, -2 for too many digits. */
static int
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	if (n > 18)
		return -2;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	*out = v;
	return 0;
}

/* ---- the parser ---- */

enum { PS_START, PS_HEADERS, PS_DONE, PS_ERROR };

void
http_parser_reset(struct http_parser *p)
{
	p->state = PS_START;
	p->status = 0;
	p->len = p->line = p->head_bytes = 0;
	p->blank_lines = 0;
	p->method = p->target = p->version = NULL;
	p->nhdr = 0;
}

static void
parse_fail(struct http_parser *p, int status)
{
	p->state = PS_ERROR;
	p->status = status;
}

/* "METHOD SP target SP HTTP/d.d", exactly so (RFC 9112 3). */
static void
request_line(struct http_parser *p, char *s, size_t n)
{
	char *sp1, *sp2, *v;
	size_t i;

	sp1 = memchr(s, ' ', n);
	if (sp1 == NULL || !is_token(s, (size_t)(sp1 - s))) {
		parse_fail(p, 400);
		return;
	}
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - s));
	if (sp2 == NULL || sp2 == sp1 + 1) {
		parse_fail(p, 400);
		return;
	}
	for (char *t = sp1 + 1; t < sp2; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f) {
			parse_fail(p, 400);
			return;
		}
	v = sp2 + 1;
	i = n - (size_t)(v - s);
	if (i != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' ||
	    v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9') {
		parse_fail(p, 400);
		return;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	p->method = s;
	p->target = sp1 + 1;
	p->version = v;
	p->state = PS_HEADERS;
}

/* "name: value"; no folding, no blank before the colon. */
static void
header_line(struct http_parser *p, char *s, size_t n)
{
	char *colon, *v, *end;

	if (s[0] == ' ' || s[0] == '\t') {
		parse_fail(p, 400);	/* obs-fold */
		return;
	}
	colon = memchr(s, ':', n);
	if (colon == NULL || !is_token(s, (size_t)(colon - s))) {
		parse_fail(p, 400);
		return;
	}
	for (char *t = s; t < colon; t++)
		if (*t >= 'A' && *t <= 'Z')
			*t = (char)(*t - 'A' + 'a');
	*colon = '\0';
	v = colon + 1;
	end = s + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (char *t = v; t < end; t++)
		if (!is_value_byte((unsigned char)*t)) {
			parse_fail(p, 400);
			return;
		}
	*end = '\0';
	if (p->nhdr == HTTP_MAX_HEADERS) {
		parse_fail(p, 431);
		return;
	}
	p->hdr[p->nhdr].name = s;
	p->hdr[p->nhdr].value = v;
	p->nhdr++;
}

/* A complete line (LF included) is at buf + line. */
static void
complete_line(struct http_parser *p)
{
	char *s = p->buf + p->line;
	size_t n = p->len - p->line - 1;	/* without LF */

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\r', n) != NULL) {
		parse_fail(p, 400);	/* a bare CR */
		return;
	}
	s[n] = '\0';
	if (p->state == PS_START) {
		if (n == 0) {
			/* RFC 9112 2.2: ignore a few empty lines first. */
			if (++p->blank_lines > BLANK_LINES_MAX)
				parse_fail(p, 400);
			p->len = p->line = 0;
			return;
		}
		request_line(p, s, n);
	} else {
		p->head_bytes += p->len - p->line;
		if (n == 0)
			p->state = PS_DONE;
		else
			header_line(p, s, n);
	}
	p->line = p->len;
}

size_t
http_parser_feed(struct http_parser *p, const char *data, size_t n,
    enum http_parse *ev)
{
	size_t used = 0;

	while (used < n && (p->state == PS_START || p->state == PS_HEADERS)) {
		const char *nl = memchr(data + used, '\n', n - used);
		size_t take = nl != NULL ? (size_t)(nl - (data + used)) + 1 :
		    n - used;
		size_t have = p->len - p->line;

		if (p->state == PS_START && have + take > HTTP_MAX_REQUEST_LINE) {
			/* Something with a method and a space: a long URI;
			 * anything else is not a request at all. */
			size_t room = HTTP_MAX_REQUEST_LINE - have;
			int sp = memchr(p->buf + p->line, ' ', have) != NULL ||
			    memchr(data + used, ' ', room) != NULL;
			parse_fail(p, sp ? 414 : 400);
			break;
		}
		if (p->state == PS_HEADERS &&
		    p->head_bytes + have + take > HTTP_MAX_HEADER_BYTES) {
			parse_fail(p, 431);
			break;
		}
		memcpy(p->buf + p->len, data + used, take);
		p->len += take;
		used += take;
		if (nl != NULL)
			complete_line(p);
	}
	*ev = p->state == PS_DONE ? HTTP_PARSE_HEAD :
	    p->state == PS_ERROR ? HTTP_PARSE_ERROR : HTTP_PARSE_MORE;
	return used;
}

const char *
http_parser_header(const struct http_parser *p, const char *name)
{
	for (size_t i = 0; i < p->nhdr; i++)
		if (strcmp(p->hdr[i].name, name) == 0)
			return p->hdr[i].value;
	return NULL;
}

/* ---- checking a head ---- */

static const struct {
	const char	*name;
	enum http_method m;
} methods[] = {
	{ "GET", HTTP_M_GET }, { "HEAD", HTTP_M_HEAD }, { "PUT", HTTP_M_PUT },
	{ "POST", HTTP_M_POST }, { "OPTIONS", HTTP_M_OPTIONS },
	{ "DELETE", HTTP_M_DELETE },
};

/* pchar of RFC 3986 without '%': unreserved, sub-delims, ':' and '@'. */
static int
is_pchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("-._~!$&'()*+,;=:@", c) != NULL;
}

int
http_path_normalize(const char *in, size_t n, char *out, size_t outlen)
{
	size_t i = 0, o = 0, seg_o, seg_start;
	int trailing = 0;

	if (n == 0 || in[0] != '/' || outlen < 2)
		return -1;
	while (i < n) {
		i++;		/* the '/' */
		seg_o = o;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = '/';
		seg_start = o;
		while (i < n && in[i] != '/') {
			unsigned char c = (unsigned char)in[i];
			if (c == '%') {
				int hi, lo;
				if (n - i < 3 ||
				    (hi = hex_val((unsigned char)in[i + 1])) < 0 ||
				    (lo = hex_val((unsigned char)in[i + 2])) < 0)
					return -1;
				c = (unsigned char)(hi << 4 | lo);
				/* An encoded separator would let one segment
				 * name another directory. */
				if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
					return -1;
				i += 3;
			} else if (is_pchar(c))
				i++;
			else
				return -1;
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)c;
		}
		if (o - seg_start == 2 && out[seg_start] == '.' &&
		    out[seg_start + 1] == '.')
			return -1;
		trailing = o == seg_start ||
		    (o - seg_start == 1 && out[seg_start] == '.');
		if (trailing)
			o = seg_o;	/* "//" and "/./" */
	}
	if (trailing || o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return utf8_is_valid(out, o) ? 0 : -1;
}

int
http_path_encode(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		    c == '~';
		if (o + (plain ? 1 : 3) >= outlen)
			return -1;
		if (plain)
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

/* Host: reg-name, IPv4 or [IPv6], then an optional ":port". */
static int
parse_host(const char *v, size_t n, char *out, size_t outlen)
{
	size_t i = 0, hl;

	if (n > 0 && v[0] == '[') {
		while (i < n && v[i] != ']')
			i++;
		if (i == n)
			return -1;
		for (size_t k = 1; k < i; k++)
			if (hex_val((unsigned char)v[k]) < 0 && v[k] != ':' &&
			    v[k] != '.')
				return -1;
		i++;
	} else
		while (i < n && v[i] != ':') {
			unsigned char c = (unsigned char)v[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_'))
				return -1;
			i++;
		}
	hl = i;
	if (i < n) {
		if (v[i] != ':' || n - i - 1 > 5)
			return -1;
		for (size_t k = i + 1; k < n; k++)
			if (v[k] < '0' || v[k] > '9')
				return -1;
	}
	if (hl > 0 && v[hl - 1] == '.')
		hl--;
	if (hl >= outlen)
		return -1;
	for (size_t k = 0; k < hl; k++)
		out[k] = (v[k] >= 'A' && v[k] <= 'Z') ? (char)(v[k] - 'A' + 'a') :
		    v[k];
	out[hl] = '\0';
	return 0;
}

int
http_list_has(const char *v, const char *token)
{
	size_t tl = strlen(token);

	while (v != NULL && *v != '\0') {
		const char *e;
		size_t l;
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		e = v;
		while (*e != '\0' && *e != ',')
			e++;
		l = (size_t)(e - v);
		while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
			l--;
		if (l == tl && strncasecmp(v, token, tl) == 0)
			return 1;
		v = e;
	}
	return 0;
}

/* The last transfer coding of a list. */
static int
last_coding_is(const char *v, const char *coding)
{
	const char *c = strrchr(v, ',');

	c = c != NULL ? c + 1 : v;
	while (*c == ' ' || *c == '\t')
		c++;
	return strcasecmp(c, coding) == 0;
}

static int
check_target(const struct http_parser *p, struct http_head *h)
{
	const char *t = p->target, *q, *path;
	size_t tl = strlen(t), pl;

	if (memchr(t, '#', tl) != NULL)
		return 400;
	if (strcmp(t, "*") == 0) {
		if (h->method != HTTP_M_OPTIONS)
			return 400;
		strlcpy_ok(h->path, "*", sizeof h->path);
		return 0;
	}
	path = t;
	if (t[0] != '/') {
		/* absolute-form: its authority replaces Host (RFC 9112 3.2.2) */
		size_t skip;
		const char *a, *ae;
		if (strncasecmp(t, "http://", 7) == 0)
			skip = 7;
		else if (strncasecmp(t, "https://", 8) == 0)
			skip = 8;
		else
			return 400;
		a = t + skip;
		ae = a + strcspn(a, "/?");
		if (parse_host(a, (size_t)(ae - a), h->host, sizeof h->host) == -1)
			return 400;
		path = *ae == '/' ? ae : "/";
	}
	q = strchr(path, '?');
	pl = q != NULL ? (size_t)(q - path) : strlen(path);
	if (q != NULL)
		h->query = q + 1;
	if (http_path_normalize(path, pl, h->path, sizeof h->path) == -1)
		return 400;
	return 0;
}

static int
check_framing(const struct http_parser *p, struct http_head *h)
{
	int have_len = 0, have_te = 0, rc;
	uint64_t v;

	for (size_t i = 0; i < p->nhdr; i++) {
		const char *n = p->hdr[i].name, *val = p->hdr[i].value;
		if (strcmp(n, "transfer-encoding") == 0) {
			if (have_te++ == 0 && !last_coding_is(val, "chunked"))
				return 501;
		} else if (strcmp(n, "content-length") == 0) {
			if ((rc = parse_u64(val, strlen(val), &v)) == -2)
				return 413;
			if (rc == -1 || (have_len && v != h->content_length))
				return 400;
			have_len = 1;
			h->content_length = v;
		}
	}
	/* Both at once is how requests get smuggled past proxies. */
	if (have_te && have_len)
		return 400;
	if (have_te)
		return 411;	/* chunked request bodies: not taken */
	return 0;
}

int
http_head_check(const struct http_parser *p, struct http_head *h)
{
	const char *v;
	size_t nhost = 0;
	int rc;

	memset(h, 0, sizeof *h);
	if (p->state != PS_DONE)
		return 400;
	if (p->version[5] != '1')
		return 505;
	h->minor = p->version[7] - '0';
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strcmp(p->method, methods[i].name) == 0)
			h->method = methods[i].m;
	if (h->method == HTTP_M_OTHER)
		return 501;
	for (size_t i = 0; i < p->nhdr; i++)
		if (strcmp(p->hdr[i].name, "host") == 0) {
			v = p->hdr[i].value;
			if (nhost++ > 0 || parse_host(v, strlen(v), h->host,
			    sizeof h->host) == -1)
				return 400;
		}
	if (nhost == 0 && h->minor >= 1)
		return 400;
	if ((rc = check_target(p, h)) != 0)
		return rc;
	if ((rc = check_framing(p, h)) != 0)
		return rc;
	v = http_parser_header(p, "connection");
	if (h->minor >= 1)
		h->keep_alive = v == NULL || !http_list_has(v, "close");
	else
		h->keep_alive = v != NULL && http_list_has(v, "keep-alive") &&
		    !http_list_has(v, "close");
	if ((v = http_parser_header(p, "expect")) != NULL) {
		if (strcasecmp(v, "100-continue") != 0)
			return 417;
		h->expect_continue = 1;
	}
	return 0;
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return status < 300 ? "OK" : status < 500 ? "Error" :
	    "Server Error";
	}
}

/* ---- the route table and host-meta links ---- */

struct route {
	char		*prefix;
	size_t		 len;
	const struct http_handler *h;
	void		*arg;
};

static struct route	routes[MAX_ROUTES];
static size_t		nroutes;

struct link {
	char	*rel, *href;
};
static struct link	links[MAX_LINKS];
static size_t		nlinks;

int
http_register(const char *prefix, const struct http_handler *h, void *arg)
{
	size_t i;

	if (prefix == NULL || prefix[0] != '/' || h == NULL ||
	    strlen(prefix) >= HTTP_MAX_REQUEST_LINE)
		return -1;
	for (i = 0; i < nroutes; i++)
		if (strcmp(routes[i].prefix, prefix) == 0)
			break;
	if (i == nroutes) {
		if (nroutes == MAX_ROUTES)
			return -1;
		routes[i].prefix = xstrdup(prefix);
		routes[i].len = strlen(prefix);
		nroutes++;
	}
	routes[i].h = h;
	routes[i].arg = arg;
	return 0;
}

void
http_unregister(const char *prefix)
{
	for (size_t i = 0; i < nroutes; i++)
		if (strcmp(routes[i].prefix, prefix) == 0) {
			free(routes[i].prefix);
			routes[i] = routes[--nroutes];
			return;
		}
}

static const struct route *
find_route(const char *path)
{
	const struct route *best = NULL;

	for (size_t i = 0; i < nroutes; i++) {
		const struct route *r = &routes[i];
		int dir = r->prefix[r->len - 1] == '/';
		if (dir ? strncmp(path, r->prefix, r->len) != 0 :
		    strcmp(path, r->prefix) != 0)
			continue;
		if (best == NULL || r->len > best->len)
			best = r;
	}
	return best;
}

int
http_host_meta_link(const char *rel, const char *href)
{
	size_t i;

	if (rel == NULL)
		return -1;
	for (i = 0; i < nlinks; i++)
		if (strcmp(links[i].rel, rel) == 0)
			break;
	if (href == NULL) {		/* remove it */
		if (i < nlinks) {
			free(links[i].rel);
			free(links[i].href);
			links[i] = links[--nlinks];
		}
		return 0;
	}
	if (i == nlinks) {
		if (nlinks == MAX_LINKS)
			return -1;
		links[i].rel = xstrdup(rel);
		nlinks++;
	} else
		free(links[i].href);
	links[i].href = xstrdup(href);
	return 0;
}

/* Where host-meta says an endpoint is: external_url, else our own port. */
static int
endpoint_url(const struct http_endpoint *ep, const char *path, char *out,
    size_t outlen)
{
	const struct config *cfg = server_config();
	const char *ext = config_module_opt(cfg, ep->module, "external_url");
	int n;

	if (ext != NULL)
		n = snprintf(out, outlen, "%s", ext);
	else if (cfg->https_ports.n > 0)
		n = snprintf(out, outlen, "%s://{host}:%u%s", ep->tls_scheme,
		    cfg->https_ports.v[0], path);
	else if (cfg->http_ports.n > 0)
		n = snprintf(out, outlen, "%s://{host}:%u%s", ep->plain_scheme,
		    cfg->http_ports.v[0], path);
	else
		return -1;
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
http_endpoint_mount(struct http_endpoint *ep)
{
	const char *path = config_module_opt(server_config(), ep->module, "path");
	char url[HTTP_PATH_MAX];

	if (path == NULL)
		path = ep->default_path;
	if (ep->mounted[0] != '\0' && strcmp(ep->mounted, path) != 0)
		http_unregister(ep->mounted);
	if (http_register(path, ep->handler, NULL) == -1) {
		log_warnx("%s: cannot serve %s", ep->module, path);
		return -1;
	}
	strlcpy_ok(ep->mounted, path, HTTP_PATH_MAX);
	if (endpoint_url(ep, path, url, sizeof url) == 0)
		http_host_meta_link(ep->rel, url);
	else
		log_warnx("%s: no http_ports, https_ports or external_url: "
		    "web clients cannot connect", ep->module);
	return 0;
}

void
http_endpoint_unmount(struct http_endpoint *ep)
{
	if (ep->mounted[0] != '\0')
		http_unregister(ep->mounted);
	ep->mounted[0] = '\0';
	http_host_meta_link(ep->rel, NULL);
}

int
http_endpoint_check(const struct http_endpoint *ep, const char *key,
    const char *value)
{
	size_t n = strlen(value), sl = strlen(ep->tls_scheme);

	if (n >= HTTP_PATH_MAX)
		return -1;
	if (strcmp(key, "path") == 0)
		return value[0] == '/' && strcspn(value, "?# \t") == n ? 0 : -1;
	if (strcmp(key, "external_url") == 0)
		return (strncmp(value, ep->tls_scheme, sl) == 0 &&
		    strncmp(value + sl, "://", 3) == 0) ||
		    (strncmp(value, ep->plain_scheme, sl - 1) == 0 &&
		    strncmp(value + sl - 1, "://", 3) == 0) ? 0 : -1;
	return -1;
}

/* ---- connections and requests ---- */

enum { RS_NONE, RS_STREAM, RS_DONE };

struct http_conn;

struct http_request {
	struct http_conn *hc;
	struct http_parser p;
	struct http_head h;
	const struct http_handler *handler;
	void		*arg;
	void		*data;
	char		 client[INET6_ADDRSTRLEN + 1];
	int		 head_done;	/* parsed, checked and dispatched */
	int		 responded;
	int		 status;
	int		 resp;		/* RS_* */
	int		 closing;	/* the response said Connection: close */
	int		 discard;	/* body bytes are dropped */
	int		 deferred;	/* answered later (http_defer) */
	int		 in_end;	/* the handler's end() is running */
	uint64_t	 body_left;
	uint64_t	 since_progress;
	uint64_t	 dropped;	/* body bytes discarded */
	struct buf	 extra;		/* the handler's response headers */
	int		 fd;		/* a file being sent, or -1 */
	uint64_t	 file_off, file_left;
	uint64_t	 body_bytes;	/* response body size, for the log */
};

struct http_conn {
	struct conn	*c;
	int		 tls;
	int		 dead;		/* closed() ran */
	int		 close_after;	/* no more requests on this one */
	int		 upgraded;	/* handed to another protocol (101) */
	unsigned	 served;
	struct http_request *rq;
	struct buf	 pending;	/* input waiting behind a response */
	struct http_conn *prev, *next;
};

static struct http_conn	*hconns;
static size_t		 nstreaming;
static int		 stop_handled;
static struct loop_source pump_src;
static int		 pump_added;

static void	process(struct http_conn *, const char *, size_t);
static void	finish(struct http_request *);
static void	maybe_finish(struct http_request *);
static void	run_pending(struct http_conn *);

enum http_method
http_request_method(const struct http_request *rq)
{
	return rq->h.method;
}

const char *
http_request_method_name(const struct http_request *rq)
{
	return rq->p.method;
}

const char *
http_request_path(const struct http_request *rq)
{
	return rq->h.path;
}

const char *
http_request_query(const struct http_request *rq)
{
	return rq->h.query;
}

const char *
http_request_header(const struct http_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->p.nhdr; i++)
		if (strcasecmp(rq->p.hdr[i].name, name) == 0)
			return rq->p.hdr[i].value;
	return NULL;
}

const char *
http_request_host(const struct http_request *rq)
{
	return rq->h.host;
}

const char *
http_request_client(const struct http_request *rq)
{
	return rq->client;
}

int
http_request_is_tls(const struct http_request *rq)
{
	return rq->hc->tls;
}

uint64_t
http_request_content_length(const struct http_request *rq)
{
	return rq->h.content_length;
}

void
http_request_set_data(struct http_request *rq, void *d)
{
	rq->data = d;
}

void *
http_request_data(const struct http_request *rq)
{
	return rq->data;
}

int
http_request_responded(const struct http_request *rq)
{
	return rq->responded;
}

/* ---- client addresses ---- */

/* Is ip one of http_trusted_proxies ("*" trusts everyone)? */
static int
is_trusted_proxy(const char *ip)
{
	const struct config *cfg = server_config();
	unsigned char a[16], b[16];
	int fa;

	if (cfg == NULL)
		return 0;
	fa = strchr(ip, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(fa, ip, a) != 1)
		return 0;
	for (size_t i = 0; i < cfg->http_trusted_proxies.n; i++) {
		const char *t = cfg->http_trusted_proxies.v[i];
		int fb = strchr(t, ':') != NULL ? AF_INET6 : AF_INET;
		if (strcmp(t, "*") == 0)
			return 1;
		if (fa == fb && inet_pton(fb, t, b) == 1 &&
		    memcmp(a, b, fa == AF_INET ? 4 : 16) == 0)
			return 1;
	}
	return 0;
}

static int
is_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(strchr(s, ':') != NULL ? AF_INET6 : AF_INET, s, b) == 1;
}

/*
 * The client: the peer, unless the peer is a trusted proxy; then the
 * right-most X-Forwarded-For address that is not a trusted proxy itself
 * (what is further left was written by whoever the client is).
 */
static void
find_client(struct http_request *rq)
{
	const char *peer = rq->hc->c->ip, *xff;
	char cur[INET6_ADDRSTRLEN + 1];

	strlcpy_ok(rq->client, peer, sizeof rq->client);
	if (!is_trusted_proxy(peer) ||
	    (xff = http_request_header(rq, "x-forwarded-for")) == NULL)
		return;
	for (size_t end = strlen(xff); end > 0;) {
		size_t start = end, l, comma;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		comma = start > 0 ? start - 1 : 0;
		l = end - start;
		while (l > 0 && (xff[start] == ' ' || xff[start] == '\t')) {
			start++;
			l--;
		}
		while (l > 0 && (xff[start + l - 1] == ' ' ||
		    xff[start + l - 1] == '\t'))
			l--;
		if (l == 0 || l >= sizeof cur)
			return;
		memcpy(cur, xff + start, l);
		cur[l] = '\0';
		if (!is_ip(cur))
			return;
		strlcpy_ok(rq->client, cur, sizeof rq->client);
		if (!is_trusted_proxy(cur))
			return;
		end = comma;
	}
}

int
http_request_secure(const struct http_request *rq)
{
	const char *p = http_request_header(rq, "x-forwarded-proto");

	return rq->hc->tls || (p != NULL && strcasecmp(p, "https") == 0 &&
	    is_trusted_proxy(rq->hc->c->ip));
}

/* ---- responses ---- */

int
http_add_header(struct http_request *rq, const char *name, const char *value)
{
	if (rq->responded || !is_token(name, strlen(name)))
		return -1;
	for (const char *v = value; *v != '\0'; v++)
		if (!is_value_byte((unsigned char)*v))
			return -1;
	if (buf_printf(&rq->extra, "%s: %s\r\n", name, value) == -1)
		return -1;
	return 0;
}

static void
add_date(struct buf *b)
{
	char d[64];
	struct tm tm;
	time_t t = time(NULL);

	if (gmtime_r(&t, &tm) != NULL &&
	    strftime(d, sizeof d, "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0)
		buf_printf(b, "Date: %s\r\n", d);
}

/*
 * Whether the connection ends after this response: the client asked, the
 * server is stopping, or too much of an unread body would have to be
 * read and thrown away first.
 */
static int
must_close(const struct http_request *rq)
{
	return !rq->head_done || !rq->h.keep_alive || rq->hc->close_after ||
	    server_is_stopping() || rq->body_left > DISCARD_MAX;
}

/* Queue the status line and the headers. */
static void
send_head(struct http_request *rq, int status, const char *type,
    uint64_t body_len)
{
	struct buf b;
	int bad = 0;

	rq->responded = 1;
	rq->status = status;
	rq->closing = must_close(rq);
	if (rq->body_left > 0)
		rq->discard = 1;
	buf_init(&b, HEAD_MAX);
	bad |= buf_printf(&b, "HTTP/1.1 %d %s\r\n", status,
	    http_status_text(status));
	add_date(&b);
	bad |= buf_addstr(&b, "Server: xmppd\r\n");
	if (type != NULL)
		bad |= buf_printf(&b, "Content-Type: %s\r\n", type);
	if (status != 204 && status != 304)
		bad |= buf_printf(&b, "Content-Length: %llu\r\n",
		    (unsigned long long)body_len);
	if (rq->closing)
		bad |= buf_addstr(&b, "Connection: close\r\n");
	else if (rq->h.minor == 0)	/* HTTP/1.0 closes unless told */
		bad |= buf_addstr(&b, "Connection: keep-alive\r\n");
	bad |= buf_add(&b, buf_head(&rq->extra), buf_used(&rq->extra));
	bad |= buf_addstr(&b, "\r\n");
	if (bad) {
		/* Cannot happen with the bounds above; never send half. */
		conn_log(rq->hc->c, LOG_LVL_WARN, "http: response head too big");
		rq->closing = 1;
		rq->hc->close_after = 1;
	} else
		conn_send(rq->hc->c, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

static int
has_body(const struct http_request *rq, int status)
{
	return rq->h.method != HTTP_M_HEAD && status != 204 && status != 304;
}

void
http_respond(struct http_request *rq, int status, const char *type,
    const void *body, size_t len)
{
	if (rq->responded || rq->hc->dead)
		return;
	send_head(rq, status, type, len);
	if (has_body(rq, status) && len > 0) {
		conn_send(rq->hc->c, body, len);
		rq->body_bytes = len;
	}
	rq->resp = RS_DONE;
	if (rq->deferred && !rq->in_end) {
		/* Outside the request's own processing: move on here. */
		struct http_conn *hc = rq->hc;
		maybe_finish(rq);
		run_pending(hc);
	}
}

void
http_defer(struct http_request *rq)
{
	rq->deferred = 1;
	conn_set_deadline(rq->hc->c, 0);
}

void
http_respond_error(struct http_request *rq, int status)
{
	char b[128];
	int n;

	n = snprintf(b, sizeof b, "%d %s\n", status, http_status_text(status));
	if (n < 0 || (size_t)n >= sizeof b)
		n = 0;
	http_respond(rq, status, "text/plain; charset=utf-8", b, (size_t)n);
}

/* Does an If-None-Match list name etag (weak comparison, RFC 9110 13.1.2)? */
static int
etag_listed(const char *list, const char *etag)
{
	size_t el;

	if (strcmp(list, "*") == 0)
		return 1;
	if (strncmp(etag, "W/", 2) == 0)
		etag += 2;
	el = strlen(etag);
	while (*list != '\0') {
		const char *e;
		size_t l;
		while (*list == ' ' || *list == '\t' || *list == ',')
			list++;
		if (strncmp(list, "W/", 2) == 0)
			list += 2;
		e = list;
		while (*e != '\0' && *e != ',')
			e++;
		l = (size_t)(e - list);
		while (l > 0 && (list[l - 1] == ' ' || list[l - 1] == '\t'))
			l--;
		if (l == el && memcmp(list, etag, el) == 0)
			return 1;
		list = e;
	}
	return 0;
}

/*
 * One byte range of a Range header (RFC 9110 14.1.2): 1 with [*a, *b],
 * -1 when it cannot be satisfied, 0 when the header is to be ignored
 * (several ranges, another unit, bad syntax): then the whole file goes.
 */
static int
parse_range(const char *v, uint64_t size, uint64_t *a, uint64_t *b)
{
	const char *s, *dash;
	uint64_t x, y;

	if (strncasecmp(v, "bytes=", 6) != 0)
		return 0;
	s = v + 6;
	if (strchr(s, ',') != NULL || (dash = strchr(s, '-')) == NULL)
		return 0;
	if (dash == s) {
		if (parse_u64(dash + 1, strlen(dash + 1), &y) != 0)
			return 0;
		if (y == 0 || size == 0)
			return -1;
		*a = y >= size ? 0 : size - y;
		*b = size - 1;
		return 1;
	}
	if (parse_u64(s, (size_t)(dash - s), &x) != 0)
		return 0;
	if (dash[1] == '\0')
		y = UINT64_MAX;
	else if (parse_u64(dash + 1, strlen(dash + 1), &y) != 0 || y < x)
		return 0;
	if (x >= size)
		return -1;
	*a = x;
	*b = y >= size ? size - 1 : y;
	return 1;
}

static void	pump_init(void);

void
http_respond_file(struct http_request *rq, int fd, uint64_t size,
    const char *type, const char *etag)
{
	const char *inm, *range, *ifr;
	uint64_t a = 0, b = size ? size - 1 : 0, len = size;
	int status = 200, r;
	char cr[96];

	if (rq->responded || rq->hc->dead) {
		close(fd);
		return;
	}
	if (etag != NULL)
		http_add_header(rq, "ETag", etag);
	http_add_header(rq, "Accept-Ranges", "bytes");
	inm = http_request_header(rq, "if-none-match");
	if (etag != NULL && inm != NULL && etag_listed(inm, etag)) {
		close(fd);
		http_respond(rq, 304, NULL, NULL, 0);
		return;
	}
	range = http_request_header(rq, "range");
	ifr = http_request_header(rq, "if-range");
	if (range != NULL && rq->h.method == HTTP_M_GET &&
	    (ifr == NULL || (etag != NULL && strcmp(ifr, etag) == 0))) {
		r = parse_range(range, size, &a, &b);
		if (r == -1) {
			close(fd);
			snprintf(cr, sizeof cr, "bytes */%llu",
			    (unsigned long long)size);
			http_add_header(rq, "Content-Range", cr);
			http_respond(rq, 416, NULL, NULL, 0);
			return;
		}
		if (r == 1) {
			status = 206;
			len = b - a + 1;
			snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu",
			    (unsigned long long)a, (unsigned long long)b,
			    (unsigned long long)size);
			http_add_header(rq, "Content-Range", cr);
		} else
			a = 0;
	}
	send_head(rq, status, type, len);
	if (!has_body(rq, status) || len == 0 || rq->hc->dead) {
		close(fd);
		rq->resp = RS_DONE;
		return;
	}
	rq->fd = fd;
	rq->file_off = a;
	rq->file_left = len;
	rq->body_bytes = len;
	rq->resp = RS_STREAM;
	nstreaming++;
	pump_init();
	conn_set_deadline(rq->hc->c, now_ms() + HTTP_SEND_TIMEOUT_MS);
}

/* ---- host-meta (XEP-0156) ---- */

static void
json_str(struct buf *b, const char *s)
{
	buf_addstr(b, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			buf_printf(b, "\\u%04x", c);
		else
			buf_add(b, s, 1);
	}
	buf_addstr(b, "\"");
}

/* href with "{host}" replaced by the request's Host header. */
static void
expand_href(const char *href, const char *host, char *out, size_t outlen)
{
	const char *m = strstr(href, "{host}");

	if (m == NULL || host == NULL) {
		strlcpy_ok(out, href, outlen);
		return;
	}
	if (snprintf(out, outlen, "%.*s%s%s", (int)(m - href), href, host,
	    m + 6) >= (int)outlen)
		out[0] = '\0';
}

void
http_cors_headers(struct http_request *rq, const char *allowed)
{
	http_add_header(rq, "Access-Control-Allow-Origin", "*");
	http_add_header(rq, "Access-Control-Allow-Methods", allowed);
	http_add_header(rq, "Access-Control-Allow-Headers",
	    "Authorization, Content-Type");
	http_add_header(rq, "Access-Control-Max-Age", "86400");
}

static void
hostmeta_head(struct http_request *rq, void *arg)
{
	int json = arg != NULL;
	const char *host = http_request_header(rq, "host");
	struct buf b;
	char href[1024];

	http_cors_headers(rq, "GET, HEAD, OPTIONS");
	if (rq->h.method == HTTP_M_OPTIONS) {
		http_respond(rq, 204, NULL, NULL, 0);
		return;
	}
	if (rq->h.method != HTTP_M_GET && rq->h.method != HTTP_M_HEAD) {
		http_add_header(rq, "Allow", "GET, HEAD, OPTIONS");
		http_respond_error(rq, 405);
		return;
	}
	/* Only for the hosts we serve: nothing to say about others. */
	if (!host_is_local(rq->h.host)) {
		http_respond_error(rq, 404);
		return;
	}
	buf_init(&b, 16384);
	if (json)
		buf_addstr(&b, "{\"links\":[");
	else
		buf_addstr(&b, "<?xml version='1.0' encoding='utf-8'?>\n"
		    "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n");
	for (size_t i = 0; i < nlinks; i++) {
		expand_href(links[i].href, host, href, sizeof href);
		if (json) {
			buf_addstr(&b, i ? ",{\"rel\":" : "{\"rel\":");
			json_str(&b, links[i].rel);
			buf_addstr(&b, ",\"href\":");
			json_str(&b, href);
			buf_addstr(&b, "}");
		} else {
			buf_addstr(&b, "  <Link rel='");
			buf_add_escaped(&b, links[i].rel, strlen(links[i].rel));
			buf_addstr(&b, "' href='");
			buf_add_escaped(&b, href, strlen(href));
			buf_addstr(&b, "'/>\n");
		}
	}
	buf_addstr(&b, json ? "]}\n" : "</XRD>\n");
	http_respond(rq, 200, json ? "application/json" : "application/xrd+xml",
	    buf_head(&b), buf_used(&b));
	buf_free(&b);
}

static const struct http_handler hostmeta_handler = {
	hostmeta_head, NULL, NULL, NULL
};

/* ---- the request life cycle ---- */

static struct http_request *
new_request(struct http_conn *hc)
{
	struct http_request *rq = xcalloc(1, sizeof *rq);

	rq->hc = hc;
	rq->fd = -1;
	http_parser_reset(&rq->p);
	buf_init(&rq->extra, EXTRA_MAX);
	strlcpy_ok(rq->client, hc->c->ip, sizeof rq->client);
	return rq;
}

static void
call_done(struct http_request *rq)
{
	const struct http_handler *h = rq->handler;

	rq->handler = NULL;
	if (h != NULL && h->done != NULL)
		h->done(rq, rq->arg);
}

static void
free_request(struct http_request *rq)
{
	if (rq->resp == RS_STREAM && nstreaming > 0)
		nstreaming--;
	if (rq->fd != -1)
		close(rq->fd);
	buf_free(&rq->extra);
	free(rq);
}

static void
log_request(const struct http_request *rq, const char *how)
{
	conn_log(rq->hc->c, LOG_LVL_INFO, "http %s %s -> %d%s (%llu bytes) "
	    "client %s", rq->p.method != NULL ? rq->p.method : "-",
	    rq->head_done ? rq->h.path : "-", rq->status, how,
	    (unsigned long long)rq->body_bytes, rq->client);
}

/* The response is out and the body in: on to the next request. */
static void
finish(struct http_request *rq)
{
	struct http_conn *hc = rq->hc;
	int closing = rq->closing || hc->close_after;

	log_request(rq, "");
	call_done(rq);
	hc->rq = NULL;
	free_request(rq);
	hc->served++;
	if (closing) {
		conn_close(hc->c, "http: done");
		return;
	}
	conn_set_deadline(hc->c, now_ms() + HTTP_IDLE_TIMEOUT_MS);
}

/*
 * Done once the answer is out and the body is in.  An answer that closes
 * the connection still lets the client send a while (up to LINGER_MAX):
 * closing a socket with unread input resets it, and a reset can destroy
 * the answer before the client has read it.
 */
static void
maybe_finish(struct http_request *rq)
{
	if (rq->responded && rq->resp == RS_DONE && (rq->body_left == 0 ||
	    (rq->closing && rq->dropped >= LINGER_MAX)))
		finish(rq);
}

static void
body_complete(struct http_request *rq)
{
	if (!rq->responded && rq->handler != NULL && rq->handler->end != NULL) {
		rq->in_end = 1;
		rq->handler->end(rq, rq->arg);
		rq->in_end = 0;
	}
	if (!rq->responded && !rq->hc->dead && !rq->deferred) {
		conn_log(rq->hc->c, LOG_LVL_WARN, "http: no answer for %s %s",
		    rq->p.method, rq->h.path);
		http_respond_error(rq, 500);
	}
	if (!rq->hc->dead)
		maybe_finish(rq);
}

static void
dispatch(struct http_request *rq)
{
	struct http_conn *hc = rq->hc;
	const struct route *r = NULL;
	struct route builtin;
	int st;

	st = http_head_check(&rq->p, &rq->h);
	find_client(rq);
	if (st != 0) {
		http_respond_error(rq, st);
		finish(rq);
		return;
	}
	rq->head_done = 1;
	rq->body_left = rq->h.content_length;
	if (strcmp(rq->h.path, "*") == 0) {
		/* OPTIONS * (RFC 9110 9.3.7): what the server does at all. */
		http_add_header(rq, "Allow", "GET, HEAD, PUT, OPTIONS");
		http_respond(rq, 204, NULL, NULL, 0);
	} else if (strcmp(rq->h.path, "/.well-known/host-meta") == 0 ||
	    strcmp(rq->h.path, "/.well-known/host-meta.json") == 0) {
		builtin.h = &hostmeta_handler;
		builtin.arg = rq->h.path[22] == '.' ? (void *)1 : NULL;
		r = &builtin;
	} else
		r = find_route(rq->h.path);
	if (r == NULL)
		http_respond_error(rq, 404);	/* nothing if answered above */
	else {
		rq->handler = r->h;
		rq->arg = r->arg;
		if (r->h->body == NULL) {
			rq->discard = 1;
			if (rq->body_left > NOBODY_MAX)
				http_respond_error(rq, 413);
		}
		if (!rq->responded && r->h->head != NULL)
			r->h->head(rq, rq->arg);
	}
	if (hc->dead)
		return;
	if (!rq->responded && rq->body_left > 0 && rq->h.expect_continue)
		conn_send(hc->c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	if (rq->body_left > 0 && rq->resp != RS_STREAM)
		conn_set_deadline(hc->c, now_ms() + HTTP_BODY_TIMEOUT_MS);
	if (rq->body_left == 0)
		body_complete(rq);
	else
		maybe_finish(rq);
}

static void
take_body(struct http_request *rq, const char **data, size_t *n)
{
	struct http_conn *hc = rq->hc;
	size_t take = *n < rq->body_left ? *n : (size_t)rq->body_left;
	const char *p = *data;

	*data += take;
	*n -= take;
	rq->body_left -= take;
	if (!rq->discard && rq->handler != NULL && rq->handler->body != NULL &&
	    rq->handler->body(rq, p, take, rq->arg) == -1 && !rq->responded &&
	    !hc->dead)
		http_respond_error(rq, 500);
	if (hc->dead)
		return;
	if (rq->responded) {
		if (rq->discard)
			rq->dropped += take;
		rq->discard = 1;
	}
	rq->since_progress += take;
	if (rq->resp != RS_STREAM && rq->since_progress >= PROGRESS_BYTES) {
		rq->since_progress = 0;
		conn_set_deadline(hc->c, now_ms() + HTTP_BODY_TIMEOUT_MS);
	}
	if (rq->body_left == 0)
		body_complete(rq);
	else if (rq->responded)
		maybe_finish(rq);
}

static void
unlink_conn(struct http_conn *hc)
{
	if (hc->prev != NULL)
		hc->prev->next = hc->next;
	else
		hconns = hc->next;
	if (hc->next != NULL)
		hc->next->prev = hc->prev;
	buf_free(&hc->pending);
	free(hc);
}

struct conn *
http_upgrade(struct http_request *rq, const struct conn_proto *proto,
    void *stream)
{
	struct http_conn *hc = rq->hc;
	struct buf b;

	rq->responded = 1;
	rq->status = 101;
	rq->resp = RS_DONE;
	buf_init(&b, HEAD_MAX);
	buf_addstr(&b, "HTTP/1.1 101 Switching Protocols\r\n");
	add_date(&b);
	buf_addstr(&b, "Server: xmppd\r\n");
	buf_add(&b, buf_head(&rq->extra), buf_used(&rq->extra));
	buf_addstr(&b, "\r\n");
	conn_send(hc->c, buf_head(&b), buf_used(&b));
	buf_free(&b);
	hc->upgraded = 1;
	hc->dead = 1;		/* the HTTP side stops here */
	hc->c->proto = proto;
	hc->c->stream = stream;
	return hc->c;
}

/* After a 101: the HTTP state goes; what followed the head is the new
 * protocol's. */
static void
hand_over(struct http_conn *hc, const char *data, size_t n)
{
	struct conn *c = hc->c;

	log_request(hc->rq, "");
	call_done(hc->rq);
	free_request(hc->rq);
	unlink_conn(hc);
	if (n > 0 && c->state == CONN_OPEN)
		c->proto->input(c, data, n);
}

static void
process(struct http_conn *hc, const char *data, size_t n)
{
	enum http_parse ev;
	size_t k;

	while (n > 0 && !hc->dead && hc->c->state == CONN_OPEN) {
		struct http_request *rq = hc->rq;
		if (rq != NULL && rq->head_done) {
			if (rq->body_left > 0) {
				take_body(rq, &data, &n);
				continue;
			}
			/* A file is still going out: the next request
			 * waits (pipelining), within bounds. */
			if (buf_add(&hc->pending, data, n) == -1)
				hc->close_after = 1;
			return;
		}
		if (rq == NULL) {
			rq = hc->rq = new_request(hc);
			if (hc->served > 0)
				conn_set_deadline(hc->c, now_ms() +
				    HTTP_HEADER_TIMEOUT_MS);
		}
		k = http_parser_feed(&rq->p, data, n, &ev);
		data += k;
		n -= k;
		if (ev == HTTP_PARSE_ERROR) {
			http_respond_error(rq, rq->p.status);
			finish(rq);
			return;
		}
		if (ev == HTTP_PARSE_HEAD)
			dispatch(rq);
	}
	if (hc->upgraded)
		hand_over(hc, data, n);
}

/* ---- sending files: the pump ---- */

static size_t
pump_target(const struct conn *c)
{
	size_t t = PUMP_TARGET;

	if (c->out.max / 2 < t)
		t = c->out.max / 2;
	return t < 4096 ? 4096 : t;
}

static int
wants_data(const struct http_conn *hc)
{
	const struct http_request *rq = hc->rq;

	return !hc->dead && rq != NULL && rq->resp == RS_STREAM &&
	    hc->c->state == CONN_OPEN &&
	    buf_used(&hc->c->out) < pump_target(hc->c) / 4;
}

static void
run_pending(struct http_conn *hc)
{
	size_t n = buf_used(&hc->pending);
	char *copy;

	if (n == 0 || hc->dead || hc->rq != NULL ||
	    hc->c->state != CONN_OPEN)
		return;
	copy = xmalloc(n);
	memcpy(copy, buf_head(&hc->pending), n);
	buf_reset(&hc->pending);
	process(hc, copy, n);
	free(copy);
}

static void
refill(struct http_conn *hc)
{
	static char chunk[PUMP_CHUNK];
	struct http_request *rq = hc->rq;
	struct conn *c = hc->c;
	size_t target = pump_target(c);

	while (rq->file_left > 0 && buf_used(&c->out) < target) {
		size_t want = target - buf_used(&c->out);
		ssize_t n;
		if (want > sizeof chunk)
			want = sizeof chunk;
		if (want > rq->file_left)
			want = (size_t)rq->file_left;
		n = pread(rq->fd, chunk, want, (off_t)rq->file_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The head promised a length: all we can do is
			 * to stop, so the client sees a short body. */
			conn_log(c, LOG_LVL_WARN, "http: reading %s: %s",
			    rq->h.path, n == 0 ? "file shrank" : strerror(errno));
			hc->close_after = 1;
			conn_close(c, "http: file read error");
			return;
		}
		if (conn_send(c, chunk, (size_t)n) == -1 || hc->dead)
			return;
		rq->file_off += (uint64_t)n;
		rq->file_left -= (uint64_t)n;
	}
	conn_set_deadline(c, now_ms() + HTTP_SEND_TIMEOUT_MS);
	if (rq->file_left > 0)
		return;
	close(rq->fd);
	rq->fd = -1;
	rq->resp = RS_DONE;
	if (nstreaming > 0)
		nstreaming--;
	if (rq->body_left > 0 && !rq->closing) {
		/* A body is still being thrown away. */
		conn_set_deadline(c, now_ms() + HTTP_BODY_TIMEOUT_MS);
		return;
	}
	finish(rq);
	run_pending(hc);
}

static short
pump_events(void *arg)
{
	return 0;
}

/* Stopping: idle connections go now, busy ones after their response. */
static void
stop_all(void)
{
	stop_handled = 1;
	for (struct http_conn *hc = hconns; hc != NULL; hc = hc->next) {
		if (hc->dead)
			continue;
		hc->close_after = 1;
		if (hc->rq == NULL || !hc->rq->head_done)
			conn_close(hc->c, "server stopping");
	}
}

static int
pump_has_work(void *arg)
{
	if (server_is_stopping() && !stop_handled && hconns != NULL)
		return 1;
	if (nstreaming == 0)
		return 0;
	for (struct http_conn *hc = hconns; hc != NULL; hc = hc->next)
		if (wants_data(hc))
			return 1;
	return 0;
}

static void
pump_run(void *arg, short revents)
{
	struct http_conn *hc, *next;

	if (server_is_stopping() && !stop_handled)
		stop_all();
	/* Connections leave the list only in conn_reap, after the pass. */
	for (hc = hconns; hc != NULL; hc = next) {
		next = hc->next;
		if (wants_data(hc))
			refill(hc);
	}
}

static void
pump_init(void)
{
	if (pump_added)
		return;
	pump_added = 1;
	pump_src.fd = -1;
	pump_src.events = pump_events;
	pump_src.run = pump_run;
	pump_src.has_work = pump_has_work;
	pump_src.arg = NULL;
	loop_add(&pump_src);
}

/* ---- the connection protocol ---- */

static void
http_input(struct conn *c, const char *buf, size_t len)
{
	process(c->stream, buf, len);
}

/* The connection is going: what it was doing ends in http_free(), when
 * no handler is running any more. */
static void
http_closed(struct conn *c)
{
	struct http_conn *hc = c->stream;

	hc->dead = 1;
}

static void
http_timeout(struct conn *c)
{
	struct http_conn *hc = c->stream;
	struct http_request *rq = hc->rq;

	if (hc->dead)
		return;
	if (rq != NULL && rq->responded) {
		conn_close(c, "http: client not reading");
		return;
	}
	if (rq == NULL && hc->served > 0) {
		conn_close(c, "http: idle");
		return;
	}
	/* A head or a body that did not come in time (RFC 9110 15.5.9). */
	if (rq == NULL)
		rq = hc->rq = new_request(hc);
	hc->close_after = 1;
	http_respond_error(rq, 408);
	finish(rq);
}

static void
http_free(struct conn *c)
{
	struct http_conn *hc = c->stream;
	struct http_request *rq = hc->rq;

	if (rq != NULL) {
		if (rq->head_done)
			log_request(rq, ", aborted");
		call_done(rq);
		free_request(rq);
	}
	unlink_conn(hc);
}

static const struct conn_proto http_proto = {
	http_input, http_closed, http_timeout, http_free, NULL, NULL
};

void
http_accept(int fd, const struct sockaddr *sa, socklen_t sl, int tls)
{
	struct http_conn *hc;
	struct tls_creds *cr = NULL;
	char ip[64];

	/* A front end brings many clients through one address. */
	if (!conn_may_accept_addr(sa, ip, sizeof ip) && !is_trusted_proxy(ip)) {
		log_info("http connection from %s refused: per-address limit",
		    ip);
		close(fd);
		return;
	}
	if (tls && (cr = server_creds(NULL)) == NULL) {
		log_warnx("https connection from %s refused: no certificate", ip);
		close(fd);
		return;
	}
	pump_init();
	hc = xcalloc(1, sizeof *hc);
	hc->tls = tls;
	buf_init(&hc->pending, PENDING_MAX);
	hc->next = hconns;
	if (hconns != NULL)
		hconns->prev = hc;
	hconns = hc;
	hc->c = conn_new(fd, sa, sl, &http_proto, hc);
	/* Uploads are bulk data with their own size limits and deadlines:
	 * the per-connection byte rate for XMPP streams does not apply. */
	hc->c->unlimited_rate = 1;
	/* Not an XMPP login: no unauthenticated-connection budget. */
	conn_set_authenticated(hc->c);
	conn_set_deadline(hc->c, now_ms() + HTTP_HEADER_TIMEOUT_MS);
	if (tls)
		conn_start_tls_now(hc->c, cr);
}
