/*
 * conn.h - one network connection: the socket, TLS when it is on, the
 * bounded output queue, backpressure, deadlines and the close protocol.
 * The stream layer above sees plaintext in (proto->input) and queues
 * plaintext out (conn_send); it never touches the fd or TLS.
 *
 * A conn is freed only at the end of a loop pass (conn_reap), so handlers
 * up the stack may keep using a conn they just closed.
 */
#ifndef XMPPD_CONN_H
#define XMPPD_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"
#include "util.h"

struct conn;
struct tls_creds;

struct conn_proto {
	/* Plaintext from the peer; the stream consumes all of it. */
	void	(*input)(struct conn *, const char *buf, size_t len);
	/* The connection is going away (called once): end the session. */
	void	(*closed)(struct conn *);
	/* The deadline set with conn_set_deadline() has passed. */
	void	(*timeout)(struct conn *);
	/* Free the stream state (called once, from conn_reap). */
	void	(*free)(struct conn *);
	/* Outgoing connections: the TCP connection is up (may be NULL). */
	void	(*connected)(struct conn *);
	/* Input is not wanted now, e.g. a relay whose other side has a full
	 * queue; nothing is read until it says no again (may be NULL). */
	int	(*held)(const struct conn *);
};

enum conn_state {
	CONN_CONNECTING,	/* outgoing: waiting for connect() to finish */
	CONN_OPEN,
	CONN_TLS_PENDING,	/* <proceed/> queued: TLS starts once it is out */
	CONN_CLOSING,		/* flushing what is queued, then closing */
	CONN_DEAD		/* fd closed, waiting to be freed */
};

struct conn {
	uint64_t	 id;		/* never reused */
	int		 fd;
	char		 ip[48];	/* numeric address of the peer */
	char		 peer[64];	/* "ip:port" for logs */
	enum conn_state	 state;
	int		 authenticated;	/* counts against per-IP unauth limit until set */
	int		 outgoing;	/* we connected (not in per-IP counts) */
	int		 tls_for_servers; /* ask TLS peers for a certificate (s2s) */
	int		 can_read, can_write;
	int		 tls_close_sent;
	int		 abort_pending;	/* slow consumer: killed after this pass */
	int		 unlimited_rate; /* not held to max_bytes_per_second (HTTP) */
	void		(*drain)(struct conn *); /* virtual: takes what is queued */
	void		*drain_arg;	/* for drain() */
	struct tls	*tls;		/* NULL until TLS starts */
	struct tls_creds *pending_creds; /* for CONN_TLS_PENDING */
	struct buf	 out;		/* plaintext queued for the peer */
	size_t		 high_water;	/* stop reading above this */
	int64_t		 deadline;	/* monotonic ms, 0 = none */
	int64_t		 close_deadline;
	int64_t		 created;
	uint64_t	 bytes_in, bytes_out;
	size_t		 bytes_this_second;	/* rate limit: reset by the tick */
	int		 throttle_logged;
	const struct conn_proto *proto;
	void		*stream;	/* owned by the stream layer */
	struct loop_source src;
	struct conn	*prev, *next;	/* all connections */
	struct conn	*next_dirty;
	int		 dirty;
	const char	*close_reason;	/* static string for the log */
};

struct conn_limits {
	size_t		 high_water;
	size_t		 hard_limit;
	unsigned	 max_connections;
	unsigned	 max_per_ip;
	unsigned	 max_unauth_per_ip;
	unsigned	 close_linger_ms;	/* how long a closing conn may flush */
	size_t		 max_bytes_per_second;	/* reading pauses above it */
};
void	 conn_set_limits(const struct conn_limits *);

/* A listening socket (port on address, or all addresses if addr is "*"). */
struct listener;
typedef void (*accept_fn)(int fd, const struct sockaddr *, socklen_t, void *arg);
struct listener *listener_open(const char *addr, unsigned short port,
	    accept_fn, void *arg, char *err, size_t errlen);
void	 listener_close(struct listener *);

/* Refuse (0) or allow (1) one more connection from this address. */
int	 conn_may_accept(const char *ip);
/* The same for a peer address; ip gets its text form. */
int	 conn_may_accept_addr(const struct sockaddr *, char *ip, size_t iplen);
struct conn *conn_new(int fd, const struct sockaddr *, socklen_t,
	    const struct conn_proto *, void *stream);
/*
 * A connection without a socket (BOSH sessions live across HTTP
 * requests): not polled and not in the per-address counts; whatever is
 * queued is handed to drain() after the pass, which takes what it can
 * (buf_consume on c->out).  Closing completes once the queue is empty.
 */
struct conn *conn_new_virtual(const char *ip, const struct conn_proto *,
	    void *stream, void (*drain)(struct conn *));
/* Connect to sa without blocking; proto->connected() or ->closed() tells
 * how it went.  NULL if no socket could be made. */
struct conn *conn_connect(const struct sockaddr *, socklen_t,
	    const struct conn_proto *, void *stream);
/* Start the client side of TLS now (after the peer's <proceed/>). */
void	 conn_start_tls_client(struct conn *, const char *server_name,
	    struct tls_creds *client_creds);
struct tls *conn_tls(const struct conn *);
/* Start TLS at once (direct TLS ports). */
void	 conn_start_tls_now(struct conn *, struct tls_creds *);
/* Start TLS once what is queued now has been written (STARTTLS). */
void	 conn_start_tls_after_flush(struct conn *, struct tls_creds *);
int	 conn_is_tls(const struct conn *);
const char *conn_tls_server_name(const struct conn *);

/* Queue bytes; over the hard limit the connection is closed as a slow
 * consumer and -1 returned. */
int	 conn_send(struct conn *, const void *, size_t);
/* Serialize a stanza into the queue (stream_ns as xml_serialize). */
struct xml_node;
int	 conn_send_xml(struct conn *, const struct xml_node *, const char *stream_ns);
void	 conn_set_authenticated(struct conn *);
/* Over max_bytes_per_second this second (virtual conns count their input
 * in bytes_this_second themselves). */
int	 conn_over_rate(const struct conn *);
void	 conn_set_deadline(struct conn *, int64_t ms);	/* 0 clears */
/* Flush what is queued, then close.  reason is a static string. */
void	 conn_close(struct conn *, const char *reason);
int	 conn_is_open(const struct conn *);

/* Called by the loop: write queued output, free closed connections,
 * fire deadlines. */
void	 conn_flush_dirty(void);
void	 conn_reap(void);
void	 conn_tick(int64_t now);
/* Close every connection (shutdown); with the stream layer's cooperation
 * they first get their goodbye queued. */
size_t	 conn_count(void);
size_t	 conn_count_open(void);
struct conn *conn_first(void);
/* The live connection with this id, or NULL (it is gone). */
struct conn *conn_by_id(uint64_t);
/* Per-connection log line prefixed with "c=ID ip:port". */
void	 conn_log(const struct conn *, int level, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
