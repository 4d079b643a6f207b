/*
 * test_loop.c - the event loop: events() asked every pass, interest that
 * comes and goes, has_work, and sources removed (their fd number reused)
 * by another source's handler in the same pass.
 */
#include <sys/socket.h>

#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "loop.h"

struct tsrc {
	struct loop_source src;
	int	 fd, peer;	/* a socketpair: we write to peer */
	short	 want;		/* what events() answers */
	int	 work;		/* has_work() answers */
	int	 runs, last_rev, run_pass;
	struct tsrc *victim;	/* removed by our run() */
};

static int	passes, stop_after;
static struct tsrc *spare;	/* added by a victim-removing run() */

static void	t_run(void *, short);

static short
t_events(void *arg)
{
	return ((struct tsrc *)arg)->want;
}

static int
t_has_work(void *arg)
{
	return ((struct tsrc *)arg)->work;
}

static void
t_close(struct tsrc *t)
{
	loop_remove(&t->src);
	close(t->fd);
	close(t->peer);
	t->fd = t->peer = -1;
}

/* A new source on a socketpair; its own end gets fd number at if >= 0. */
static void
t_open(struct tsrc *t, short want, int at)
{
	int sv[2], k;

	memset(t, 0, sizeof *t);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		abort();
	if (sv[1] == at) {
		k = sv[0];
		sv[0] = sv[1];
		sv[1] = k;
	}
	if (at >= 0 && sv[0] != at) {
		if (dup2(sv[0], at) == -1)
			abort();
		close(sv[0]);
		sv[0] = at;
	}
	t->fd = sv[0];
	t->peer = sv[1];
	t->want = want;
	t->src.fd = t->fd;
	t->src.events = t_events;
	t->src.run = t_run;
	t->src.has_work = t_has_work;
	t->src.arg = t;
	loop_add(&t->src);
}

static void
t_run(void *arg, short rev)
{
	struct tsrc *t = arg;
	char b[64];

	t->runs++;
	t->last_rev = rev;
	t->run_pass = passes;
	while (read(t->fd, b, sizeof b) > 0)
		;
	if (rev == 0 && t->work > 0)
		t->work--;
	if (t->victim != NULL && t->victim->src.active) {
		int old = t->victim->fd;

		t_close(t->victim);
		t_open(spare, POLLIN, old);	/* the same fd number */
		/* Readable at once, but not reported before the next pass. */
		(void)!write(spare->peer, "x", 1);
	}
}

static void
after(void)
{
	if (++passes >= stop_after)
		loop_stop();
}

static void
run_passes(int n)
{
	passes = 0;
	stop_after = n;
	loop_run();
}

void
test_loop(void)
{
	struct tsrc a, b, c, z;
	size_t base;

	loop_init();
	loop_set_after_pass(after);
	base = loop_count();
	spare = &z;

	/* Readable: reported once per pass while it stays readable. */
	t_open(&a, POLLIN, -1);
	T_EQ_INT(loop_count(), base + 1);
	(void)!write(a.peer, "hi", 2);
	run_passes(1);
	T_EQ_INT(a.runs, 1);
	T_EQ_INT(a.last_rev, POLLIN);
	/* Writable too, once it asks; 0 sits out (data waiting or not). */
	a.want = POLLOUT;
	run_passes(1);
	T_EQ_INT(a.runs, 2);
	T_EQ_INT(a.last_rev, POLLOUT);
	a.want = 0;
	(void)!write(a.peer, "hi", 2);
	t_open(&b, POLLOUT, -1);	/* keeps the passes from sleeping */
	run_passes(3);
	T_EQ_INT(a.runs, 2);
	a.want = POLLIN;
	run_passes(1);
	T_EQ_INT(a.runs, 3);
	T_EQ_INT(a.last_rev, POLLIN);

	/* has_work: run with 0, and no sleeping meanwhile. */
	b.want = 0;
	a.work = 2;
	run_passes(2);
	T_EQ_INT(a.runs, 5);
	T_EQ_INT(a.last_rev, 0);
	T_EQ_INT(a.work, 0);

	/* Two sources fire in one pass; whichever runs first removes the
	 * other and puts a new source on the freed fd number (and slot).
	 * The removed one is not run, nor the new one on the old event. */
	t_open(&c, POLLIN, -1);
	a.victim = &c;
	c.victim = &a;
	b.victim = NULL;
	(void)!write(a.peer, "x", 1);
	(void)!write(c.peer, "x", 1);
	a.runs = c.runs = 0;
	run_passes(1);
	T_EQ_INT(a.runs + c.runs, 1);
	T_EQ_INT(z.runs, 0);
	T_EQ_INT(loop_count(), base + 3);	/* a or c, b, z */
	/* The new source is registered on the next pass, and it works. */
	run_passes(1);
	T_EQ_INT(z.runs, 1);
	T_EQ_INT(z.last_rev, POLLIN);
	(void)!write(z.peer, "y", 1);
	run_passes(1);
	T_EQ_INT(z.runs, 2);

	/* Hang-up is reported even to a source that only reads. */
	close(z.peer);
	z.peer = -1;
	run_passes(1);
	T_EQ_INT(z.runs, 3);
	T_EXPECT(z.last_rev & (POLLHUP | POLLIN), "revents %#x", z.last_rev);
	loop_remove(&z.src);
	close(z.fd);

	if (a.src.active)
		t_close(&a);
	if (c.src.active)
		t_close(&c);
	t_close(&b);
	T_EQ_INT(loop_count(), base);
	loop_set_after_pass(NULL);
}
