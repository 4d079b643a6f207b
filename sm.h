/*
 * sm.h - XEP-0198 stream management state of one client stream: the two
 * counters and the stanzas sent but not yet acknowledged (kept as trees,
 * so they can be sent again on resumption or rerouted when the session
 * finally ends).  The protocol itself is stream.c's.
 */
#ifndef XMPPD_SM_H
#define XMPPD_SM_H

#include <stddef.h>
#include <stdint.h>

struct xml_node;
struct sm;

struct sm *sm_new(int resumable, size_t max_unacked);
void	 sm_free(struct sm *);
const char *sm_id(const struct sm *);	/* for <enabled id=''/> and resume */
int	 sm_resumable(const struct sm *);

/* A stanza was handled from the client (h counts modulo 2^32). */
void	 sm_count_in(struct sm *);
uint32_t sm_h_in(const struct sm *);
/* A stanza went to the client: keep a copy until acknowledged.  -1 when
 * the unacknowledged queue is full (the client does not ack). */
int	 sm_sent(struct sm *, const struct xml_node *);
/* The client acknowledged h stanzas in all: drop those.  -1 if h is more
 * than we sent (XEP-0198 <handled-count-too-high/>). */
int	 sm_ack(struct sm *, uint32_t h);
size_t	 sm_unacked(const struct sm *);
uint32_t sm_h_out(const struct sm *);
/* Call fn for each unacknowledged stanza, oldest first. */
void	 sm_each_unacked(struct sm *, void (*fn)(struct xml_node *, void *), void *);
/* Forget them (after they were resent or rerouted). */
void	 sm_clear(struct sm *);

#endif
