/*
 * websocket.c - XMPP over WebSocket (RFC 7395) for web clients: the
 * HTTP upgrade on [websocket] path (default /xmpp-websocket) of the
 * http_ports and https_ports, and the host-meta link (XEP-0156) that
 * tells clients where it is.  The stream itself is stream.c's, the same
 * as over TCP; the frames are ws.c's.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "module.h"
#include "server.h"
#include "stream.h"
#include "ws.h"

#define MODNAME		"websocket"
#define DEF_PATH	"/xmpp-websocket"
#define REL_WS		"urn:xmpp:alt-connections:websocket"
#define URL_MAX		1024


static const char *
opt(const char *key)
{
	return config_module_opt(server_config(), MODNAME, key);
}

static int
flag(const char *key)
{
	int v = 0;
	const char *s = opt(key);

	return s != NULL && config_parse_bool(s, &v) == 0 && v;
}

static void
refuse(struct http_request *rq, int status, const char *why)
{
	log_info("%s: %s refused (%d): %s", MODNAME, http_request_client(rq),
	    status, why);
	http_respond(rq, status, "text/plain; charset=utf-8", why, strlen(why));
}

static void
ws_head(struct http_request *rq, void *arg)
{
	const char *key = http_request_header(rq, "sec-websocket-key");
	const char *ver = http_request_header(rq, "sec-websocket-version");
	const char *origin = http_request_header(rq, "origin");
	const char *origins = opt("origins");
	int secure = http_request_secure(rq) || flag("consider_secure");
	char accept[29];

	if (http_request_method(rq) != HTTP_M_GET) {
		http_add_header(rq, "Allow", "GET");
		refuse(rq, 405, "WebSocket upgrades are GET requests\n");
		return;
	}
	if (!http_list_has(http_request_header(rq, "upgrade"), "websocket") ||
	    !http_list_has(http_request_header(rq, "connection"), "upgrade")) {
		http_add_header(rq, "Upgrade", "websocket");
		refuse(rq, 426, "This is an XMPP WebSocket endpoint (RFC 7395)\n");
		return;
	}
	if (ver == NULL || strcmp(ver, "13") != 0) {
		http_add_header(rq, "Sec-WebSocket-Version", "13");
		refuse(rq, 426, "WebSocket version 13 only\n");
		return;
	}
	if (key == NULL || ws_accept_key(key, accept) == -1 ||
	    http_request_content_length(rq) > 0) {
		refuse(rq, 400, "Bad Sec-WebSocket-Key or a body\n");
		return;
	}
	if (!http_list_has(http_request_header(rq, "sec-websocket-protocol"), "xmpp")) {
		refuse(rq, 400, "Sec-WebSocket-Protocol must offer xmpp\n");
		return;
	}
	if (origins != NULL && strcmp(origins, "*") != 0 &&
	    (origin == NULL || !http_list_has(origins, origin))) {
		refuse(rq, 403, "Origin not allowed\n");
		return;
	}
	if (!secure && server_config()->c2s_require_encryption) {
		refuse(rq, 403, "Encryption required: use wss://\n");
		return;
	}
	if (server_is_stopping()) {
		refuse(rq, 503, "Shutting down\n");
		return;
	}
	http_add_header(rq, "Upgrade", "websocket");
	http_add_header(rq, "Connection", "Upgrade");
	http_add_header(rq, "Sec-WebSocket-Accept", accept);
	http_add_header(rq, "Sec-WebSocket-Protocol", "xmpp");
	c2s_websocket(rq, secure);
}

static const struct http_handler ws_http = { ws_head, NULL, NULL, NULL };

static char mounted[HTTP_PATH_MAX];
static struct http_endpoint endpoint = {
	MODNAME, DEF_PATH, REL_WS, "wss", "ws", &ws_http, mounted
};

static int
websocket_init(void)
{
	return http_endpoint_mount(&endpoint);
}

static void
websocket_fini(void)
{
	http_endpoint_unmount(&endpoint);
}

static int
websocket_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	int b;

	if (http_endpoint_check(&endpoint, key, value) == 0)
		return 0;
	if (strcmp(key, "consider_secure") == 0 &&
	    config_parse_bool(value, &b) == 0)
		return 0;
	if (strcmp(key, "origins") == 0 && strlen(value) < URL_MAX)
		return 0;
	snprintf(err, errlen, "[%s] %.64s = '%.64s': expected path = /PATH, "
	    "consider_secure = true|false, origins = * or a list of "
	    "https://ORIGIN, external_url = wss://HOST/PATH", MODNAME, key,
	    value);
	return -1;
}

const struct module mod_websocket = {
	.name = MODNAME,
	.init = websocket_init,
	.fini = websocket_fini,
	.config_check = websocket_config_check,
};
