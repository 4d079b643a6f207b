/*
 * http.h - a small HTTP/1.1 server on the poll loop (http_ports,
 * https_ports): strict, bounded request parsing, keep-alive, bodies
 * streamed to the handler as they arrive, files streamed out of the
 * disk, and a table of path prefixes that modules register handlers in.
 *
 * Handlers answer synchronously: when the head is complete (head()), while
 * the body arrives (body() returning -1 after answering), or when it is
 * complete (end()).  Only the sending of a file continues afterwards, and
 * http.c does that by itself.
 */
#ifndef XMPPD_HTTP_H
#define XMPPD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define HTTP_MAX_REQUEST_LINE	8192	/* bytes, CRLF included: else 414 */
#define HTTP_MAX_HEADER_BYTES	16384	/* all header lines: else 431 */
#define HTTP_MAX_HEADERS	64	/* header lines: else 431 */
#define HTTP_MAX_HOST		255	/* bytes of the Host name */

#define HTTP_HEADER_TIMEOUT_MS	10000	/* a request head, from its first byte */
#define HTTP_IDLE_TIMEOUT_MS	30000	/* keep-alive between requests */
#define HTTP_BODY_TIMEOUT_MS	20000	/* a body must make progress this often */
#define HTTP_SEND_TIMEOUT_MS	60000	/* a response must drain this often */

enum http_method {
	HTTP_M_OTHER = 0,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_PUT,
	HTTP_M_POST,
	HTTP_M_OPTIONS,
	HTTP_M_DELETE
};

/* ---- the request parser: bytes in, a head out; no I/O ---- */

struct http_hdr {
	const char	*name;		/* lower-cased */
	const char	*value;		/* without surrounding blanks */
};

enum http_parse {
	HTTP_PARSE_MORE,	/* everything taken: feed more */
	HTTP_PARSE_HEAD,	/* the head is complete: body bytes follow */
	HTTP_PARSE_ERROR	/* p->status says what to answer */
};

struct http_parser {
	int		 state;
	int		 status;	/* after HTTP_PARSE_ERROR: 400, 414, 431 */
	size_t		 len;		/* bytes kept in buf */
	size_t		 line;		/* where the current line starts in buf */
	size_t		 head_bytes;	/* header bytes so far (CRLFs included) */
	unsigned	 blank_lines;	/* empty lines before the request line */
	const char	*method, *target, *version;
	struct http_hdr	 hdr[HTTP_MAX_HEADERS];
	size_t		 nhdr;
	char		 buf[HTTP_MAX_REQUEST_LINE + HTTP_MAX_HEADER_BYTES + 1];
};

void	 http_parser_reset(struct http_parser *);
/*
 * Feed bytes.  Returns how many were taken: up to and including the byte
 * that completes the head (the rest is body or the next request), all of
 * them when more is needed, none after an error or a complete head.
 */
size_t	 http_parser_feed(struct http_parser *, const char *, size_t,
	    enum http_parse *);
/* The first header named so (name in lower case), or NULL. */
const char *http_parser_header(const struct http_parser *, const char *name);

/* What a parsed head asks for, checked. */
struct http_head {
	enum http_method method;
	int		 minor;		/* HTTP/1.minor */
	char		 path[HTTP_MAX_REQUEST_LINE];	/* decoded, normalised */
	const char	*query;		/* raw text after '?' (into the parser), or NULL */
	char		 host[HTTP_MAX_HOST + 1];	/* lower case, no port; "" if none */
	uint64_t	 content_length;
	int		 keep_alive;
	int		 expect_continue;
};
/*
 * Check a complete head and fill h: 0, or the status to answer (400 bad
 * syntax or path, 411 chunked body, 413 absurd length, 417 unknown
 * expectation, 501 unknown method or transfer coding, 505 HTTP version).
 */
int	 http_head_check(const struct http_parser *, struct http_head *);
/*
 * Decode and normalise the path of a request target (in, n bytes, starting
 * with '/', without the query): percent escapes decoded, empty and "."
 * segments dropped; -1 for "..", an encoded '/' or '\', a control
 * character, a byte URIs do not allow, bad escapes or bad UTF-8.
 */
int	 http_path_normalize(const char *in, size_t n, char *out, size_t outlen);
/* Percent-encode s for use as one path segment (all but A-Z a-z 0-9 - . _ ~).
 * 0, or -1 if out is too small. */
int	 http_path_encode(const char *s, char *out, size_t outlen);
const char *http_status_text(int status);
/* Is token (any case) one of the comma-separated list v (NULL: no)? */
int	 http_list_has(const char *v, const char *token);

/* ---- handlers ---- */

struct http_request;

struct http_handler {
	/* The head is complete: answer now, or wait for the body. */
	void	(*head)(struct http_request *, void *arg);
	/* Body bytes as they arrive (NULL: the body is thrown away).
	 * Return -1 after answering to refuse the rest. */
	int	(*body)(struct http_request *, const char *, size_t, void *arg);
	/* The whole body is in (also for requests without one): answer. */
	void	(*end)(struct http_request *, void *arg);
	/* The request is over, answered or not (connection lost, timeout):
	 * free what the handler kept for it.  May be NULL. */
	void	(*done)(struct http_request *, void *arg);
};

/*
 * Handle paths starting with prefix (which starts with '/'; a prefix that
 * ends with '/' matches below it, any other only itself).  The longest
 * matching prefix wins.  Registering a prefix again replaces it.  0 / -1.
 */
int	 http_register(const char *prefix, const struct http_handler *, void *arg);
void	 http_unregister(const char *prefix);

/*
 * host-meta (XEP-0156): a link for /.well-known/host-meta[.json], e.g.
 * rel "urn:xmpp:alt-connections:websocket", href "wss://{host}/ws";
 * "{host}" becomes the request's Host header.  Replaces a link with the
 * same rel; href NULL removes it.  0 / -1.
 */
int	 http_host_meta_link(const char *rel, const char *href);
/*
 * An endpoint for web clients (WebSocket, BOSH) that a module serves on
 * [MODULE] path (else default_path), announced in host-meta under rel
 * with [MODULE] external_url, else tls_scheme://{host}:PORT/path with
 * the first https_ports port or plain_scheme:// with the first http_ports
 * port.  plain_scheme must be tls_scheme without its last letter.
 */
#define HTTP_PATH_MAX	1024
struct http_endpoint {
	const char	*module;
	const char	*default_path;
	const char	*rel;
	const char	*tls_scheme, *plain_scheme;	/* "wss" "ws", "https" "http" */
	const struct http_handler *handler;
	char		*mounted;	/* HTTP_PATH_MAX bytes: the path served now */
};
/* (Re)register at init and on reload: 0, or -1 (logged). */
int	 http_endpoint_mount(struct http_endpoint *);
void	 http_endpoint_unmount(struct http_endpoint *);
/* A config_check for the keys path and external_url: 0 if valid. */
int	 http_endpoint_check(const struct http_endpoint *, const char *key,
	    const char *value);

/* ---- a request, for its handler ---- */

enum http_method http_request_method(const struct http_request *);
const char *http_request_method_name(const struct http_request *);
const char *http_request_path(const struct http_request *);
const char *http_request_query(const struct http_request *);
/* The first header named so (case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *, const char *name);
const char *http_request_host(const struct http_request *);	/* "" if none */
/* The client's address: the peer, or what a trusted proxy says. */
const char *http_request_client(const struct http_request *);
int	 http_request_is_tls(const struct http_request *);
/* Over TLS: ours, or a trusted proxy's that says X-Forwarded-Proto: https. */
int	 http_request_secure(const struct http_request *);
uint64_t http_request_content_length(const struct http_request *);
void	 http_request_set_data(struct http_request *, void *);
void	*http_request_data(const struct http_request *);
int	 http_request_responded(const struct http_request *);

/* ---- answering ---- */

/* A header for the coming response (name: value, no CR/LF in either);
 * -1 if it is not valid or there is no room. */
int	 http_add_header(struct http_request *, const char *name, const char *value);
/* A complete response from memory (type may be NULL for no body type).
 * HEAD gets the same headers without the body. */
void	 http_respond(struct http_request *, int status, const char *type,
	    const void *body, size_t len);
/* Answer later, from outside the handler (long polling): after end(),
 * the request waits without HTTP deadlines until http_respond(); done()
 * still says when the connection went first. */
void	 http_defer(struct http_request *);
/* CORS headers for web clients on other origins (any origin). */
void	 http_cors_headers(struct http_request *, const char *allowed_methods);
/* A short text/plain response naming the status. */
void	 http_respond_error(struct http_request *, int status);
/*
 * Send an open regular file of size bytes (fd belongs to http.c now):
 * 200, or 206 for one satisfiable byte range of a GET (416 if none is),
 * 304 when If-None-Match names etag; HEAD without the body.  etag is the
 * quoted entity tag, or NULL.
 */
void	 http_respond_file(struct http_request *, int fd, uint64_t size,
	    const char *type, const char *etag);

/*
 * Switch protocols (101), from a head() handler of a request without a
 * body: the headers added with http_add_header() go out with the 101,
 * the connection now belongs to proto and stream, and bytes the client
 * sent after the head are given to proto->input.  Returns the conn.
 */
struct conn_proto;
struct conn *http_upgrade(struct http_request *, const struct conn_proto *,
	    void *stream);

/* ---- the server side (server.c) ---- */

/* A connection accepted on an http_ports (tls 0) or https_ports port. */
void	 http_accept(int fd, const struct sockaddr *, socklen_t, int tls);

#endif
