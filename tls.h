/*
 * tls.h - BearSSL behind a non-blocking socket, server and client side.
 *
 * Credentials (chain + key) are loaded from PEM files and reference-counted:
 * BearSSL contexts point at them, so they must outlive every connection
 * using them, across reloads.  A struct tls is allocated once per TLS
 * connection, never moved, and wiped before it is freed.
 */
#ifndef XMPPD_TLS_H
#define XMPPD_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct tls_creds;
struct tls;

/* Load a PEM chain and an RSA or EC key.  NULL with a reason in err. */
struct tls_creds *tls_creds_load(const char *cert_file, const char *key_file,
	    char *err, size_t errlen);
void	 tls_creds_ref(struct tls_creds *);
void	 tls_creds_unref(struct tls_creds *);
/* Not-after of the leaf certificate (0 if unknown). */
time_t	 tls_creds_expiry(const struct tls_creds *);
/* A lone certificate issued by itself (no CA: clients warn about it). */
int	 tls_creds_is_self_signed(const struct tls_creds *);
/* Does the leaf certificate name this host (CN / dNSName, wildcards)? */
int	 tls_creds_match_name(const struct tls_creds *, const char *host);
/* The files it came from, and whether they changed on disk since. */
int	 tls_creds_changed_on_disk(const struct tls_creds *);
const char *tls_creds_cert_file(const struct tls_creds *);
const char *tls_creds_key_file(const struct tls_creds *);

/* Cipher suites: names as in sample.ini.  Set the server-wide list from
 * names (empty: the defaults); -1 with the offending name in err, listing
 * the valid names. */
int	 tls_cipher_known(const char *name);
const char *tls_cipher_names(void);	/* space-separated list */
int	 tls_set_ciphers(char *const *names, size_t n, char *err, size_t errlen);

/*
 * The SNI callback: picks credentials for a server name (NULL name: no
 * SNI).  Returns a borrowed pointer; tls takes its own reference.
 */
typedef struct tls_creds *(*tls_pick_fn)(const char *server_name);
void	 tls_set_picker(tls_pick_fn);

/* The server-side session cache (for tls_server_new(), not s2s): bytes
 * of store, 100 a session, 0 for none.  Sessions are forgotten when the
 * size or the cipher suites change, and every 24 hours. */
void	 tls_set_session_cache(size_t bytes);

/* Server side of a new TLS connection on fd (resumes sessions). */
struct tls *tls_server_new(struct tls_creds *default_creds);
void	 tls_free(struct tls *);

/*
 * The pump.  fd is non-blocking.  can_read / can_write are readiness bits
 * from the event loop (cleared here on EAGAIN or a short read).  Decrypted input is handed to
 * deliver(arg, buf, len), which returns how many bytes it took (it may take
 * fewer to pause).  Plaintext to send is taken from pending(arg, &len) and
 * acknowledged with taken(arg, n).
 * Returns TLS_OK, TLS_CLOSED (peer closed cleanly or close finished) or
 * TLS_ERROR (with a reason in tls_error_string()).
 */
struct tls_io {
	void		*arg;
	size_t		(*deliver)(void *arg, const unsigned char *buf, size_t len);
	const unsigned char *(*pending)(void *arg, size_t *len);
	void		(*taken)(void *arg, size_t n);
};
enum { TLS_OK = 0, TLS_CLOSED = 1, TLS_ERROR = -1 };
int	 tls_pump(struct tls *, int fd, int *can_read, int *can_write,
	    const struct tls_io *);
/* Poll events this connection needs (POLLIN / POLLOUT). */
short	 tls_events(const struct tls *, int reading_paused);
/* Decrypted bytes wait inside the engine, or bytes read ahead wait to
 * go in (the kernel will not report either). */
int	 tls_has_pending_input(const struct tls *);
/* Handshake finished? */
int	 tls_is_established(const struct tls *);
/* Start a close_notify; tls_pump then drains it. */
void	 tls_close(struct tls *);
/* Nothing left to send (records all written). */
int	 tls_is_flushed(const struct tls *);
const char *tls_error_string(const struct tls *);
const char *tls_server_name(const struct tls *);	/* SNI, or NULL */
const char *tls_cipher_name(const struct tls *);	/* negotiated suite */
/* ---- the client side (outgoing server-to-server) ---- */

/* Trust anchors for checking servers' chains (a PEM bundle, e.g. the
 * system's /etc/ssl/certs/ca-certificates.crt).  0, or -1 with a reason. */
int	 tls_trust_load(const char *ca_file, char *err, size_t errlen);
size_t	 tls_trust_count(void);
/* Server side for incoming server-to-server streams: also asks for the
 * peer's certificate, which it may withhold. */
struct tls *tls_server_new_s2s(struct tls_creds *default_creds);
/* A client connection to server_name (sent as SNI); client_creds (may be
 * NULL) is offered to servers that ask for a certificate. */
struct tls *tls_client_new(const char *server_name, struct tls_creds *client_creds);
/* After the handshake: the server's chain reached a trust anchor. */
int	 tls_peer_is_trusted(const struct tls *);
/* ... and its leaf names this domain (DNS-ID, SRV-ID, XmppAddr, CN). */
int	 tls_peer_names(const struct tls *, const char *domain);
/* Human-readable verdict for logs. */
const char *tls_peer_verdict(const struct tls *);

#endif
