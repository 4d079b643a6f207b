/*
 * sm.c - counters and the unacknowledged queue of XEP-0198.
 */
#include <stdlib.h>
#include <string.h>

#include "sm.h"
#include "util.h"
#include "xml.h"

struct unacked {
	struct xml_node	*st;		/* own arena */
	struct unacked	*next;
};

struct sm {
	char		 id[24];
	int		 resumable;
	uint32_t	 h_in;		/* stanzas handled from the client */
	uint32_t	 h_out;		/* stanzas sent to the client */
	uint32_t	 acked;		/* the client's last h */
	size_t		 n, max;
	struct unacked	*head, **tail;
};

struct sm *
sm_new(int resumable, size_t max_unacked)
{
	struct sm *m = xcalloc(1, sizeof *m);
	unsigned char r[15];

	random_bytes(r, sizeof r);
	b64_encode(r, sizeof r, m->id, sizeof m->id);
	for (char *p = m->id; *p; p++)
		if (*p == '+' || *p == '/')
			*p = 'x';
	m->resumable = resumable;
	m->max = max_unacked;
	m->tail = &m->head;
	return m;
}

void
sm_clear(struct sm *m)
{
	while (m->head != NULL) {
		struct unacked *u = m->head;
		m->head = u->next;
		xml_arena_free(u->st->arena);
		free(u);
	}
	m->tail = &m->head;
	m->n = 0;
}

void
sm_free(struct sm *m)
{
	if (m == NULL)
		return;
	sm_clear(m);
	free(m);
}

const char *
sm_id(const struct sm *m)
{
	return m->id;
}

int
sm_resumable(const struct sm *m)
{
	return m->resumable;
}

void
sm_count_in(struct sm *m)
{
	m->h_in++;		/* wraps at 2^32 as XEP-0198 4 says */
}

uint32_t
sm_h_in(const struct sm *m)
{
	return m->h_in;
}

uint32_t
sm_h_out(const struct sm *m)
{
	return m->h_out;
}

size_t
sm_unacked(const struct sm *m)
{
	return m->n;
}

int
sm_sent(struct sm *m, const struct xml_node *st)
{
	struct unacked *u;

	m->h_out++;
	if (m->n >= m->max)
		return -1;
	u = xcalloc(1, sizeof *u);
	u->st = xml_copy(xml_arena_new(), st);
	*m->tail = u;
	m->tail = &u->next;
	m->n++;
	return 0;
}

int
sm_ack(struct sm *m, uint32_t h)
{
	/* Unsigned arithmetic: correct across the 2^32 wrap. */
	uint32_t newly = h - m->acked;

	if (newly > m->n)
		return -1;
	for (uint32_t i = 0; i < newly; i++) {
		struct unacked *u = m->head;
		m->head = u->next;
		xml_arena_free(u->st->arena);
		free(u);
		m->n--;
	}
	if (m->head == NULL)
		m->tail = &m->head;
	m->acked = h;
	return 0;
}

void
sm_each_unacked(struct sm *m, void (*fn)(struct xml_node *, void *), void *arg)
{
	for (struct unacked *u = m->head; u != NULL; u = u->next)
		fn(u->st, arg);
}
