/*
 * resolver.h - DNS lookups inside the poll loop: UDP, TCP when an answer
 * is truncated, each nameserver in turn with a timeout, and a small cache
 * bounded by the records' TTLs.  A stalled DNS server stalls nobody.
 */
#ifndef XMPPD_RESOLVER_H
#define XMPPD_RESOLVER_H

#include <stdint.h>

#include "dns.h"

/* The answer (status DNS_TIMEOUT when no server answered in time). */
typedef void (*resolve_fn)(void *arg, const struct dns_result *);

/* Start a lookup; fn is called exactly once, never from inside this call
 * (a cached answer comes on the next loop pass).  Returns a handle for
 * resolve_cancel(). */
uint64_t resolve(const char *name, int type, resolve_fn fn, void *arg);
/* fn will not be called for this lookup. */
void	 resolve_cancel(uint64_t handle);
/* Timeouts and deferred answers; the server calls this every second and
 * after each loop pass. */
void	 resolver_tick(int64_t now_ms);
void	 resolver_after_pass(void);
size_t	 resolver_pending(void);

#endif
