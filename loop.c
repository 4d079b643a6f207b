/*
 * loop.c - the event loop: epoll, reconciled with events() every pass, and
 * a self-pipe for signals.
 *
 * Each pass asks every source what it wants now, as a rebuilt pollfd array
 * would, and compares the answer with what the kernel holds for it; only a
 * difference costs an epoll_ctl().  So handlers never switch interest on
 * and off, and the kernel's work per pass follows what changed and what is
 * ready, not how many connections are open (poll() scanned every socket on
 * every pass: two thirds of the server's CPU with 1,000 connections).
 *
 * Slots never move while a source is in them.  A freed slot's generation
 * changes, and every kernel registration carries slot and generation, so
 * an event for a source removed earlier in the same pass (its slot perhaps
 * already reused) is recognised and dropped.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

#define MAX_SIGNALS	8
#define TICK_MS		1000
#define SIGPIPE_KEY	UINT64_MAX	/* epoll data of the self-pipe */

/* events() answers in poll() bits; epoll uses the same values. */
_Static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT &&
    EPOLLERR == POLLERR && EPOLLHUP == POLLHUP, "epoll bits differ from poll");

static struct loop_source **sources;	/* slot -> source; NULL when free */
static uint32_t	*gens;			/* slot -> generation */
static size_t	*freeslots;		/* stack of free slots */
static size_t	 nslots, capslots, nfree;
static struct epoll_event *evs;
static size_t	 capevs;
static int	 epfd = -1;
static int	 sigpipe[2] = { -1, -1 };
static void	(*sigfn[MAX_SIGNALS])(int);
static int	 signums[MAX_SIGNALS];
static size_t	 nsigs;
static void	(*tickfn)(int64_t);
static void	(*afterfn)(void);
static int	 stopping;

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("fcntl");
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("fcntl");
}

void
loop_init(void)
{
	struct epoll_event e;

	if (sigpipe[0] != -1)
		return;
	if (pipe(sigpipe) == -1)
		fatal("pipe");
	set_nonblock(sigpipe[0]);
	set_nonblock(sigpipe[1]);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	memset(&e, 0, sizeof e);
	e.events = EPOLLIN;
	e.data.u64 = SIGPIPE_KEY;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigpipe[0], &e) == -1)
		fatal("epoll_ctl");
}

void
loop_add(struct loop_source *s)
{
	if (nfree > 0)
		s->slot = freeslots[--nfree];
	else {
		if (nslots == capslots) {
			capslots = capslots ? capslots * 2 : 64;
			sources = xrealloc(sources, capslots * sizeof *sources);
			gens = xrealloc(gens, capslots * sizeof *gens);
			freeslots = xrealloc(freeslots,
			    capslots * sizeof *freeslots);
		}
		gens[nslots] = 0;
		s->slot = nslots++;
	}
	s->active = 1;
	s->kfd = -1;
	s->kev = 0;
	sources[s->slot] = s;
}

/*
 * Make the kernel's registration match ev.  A failure is logged and
 * taken as done, so that it is not retried (and logged) every pass.
 */
static void
sync_source(struct loop_source *s, short ev)
{
	struct epoll_event e;
	int op;

	if (s->kev != 0 && s->kfd != s->fd) {	/* the owner changed fds */
		(void)epoll_ctl(epfd, EPOLL_CTL_DEL, s->kfd, NULL);
		s->kev = 0;
	}
	if (ev == s->kev)
		return;
	memset(&e, 0, sizeof e);
	e.events = (uint32_t)(unsigned short)ev;
	e.data.u64 = s->slot | (uint64_t)gens[s->slot] << 32;
	op = ev == 0 ? EPOLL_CTL_DEL : s->kev == 0 ? EPOLL_CTL_ADD :
	    EPOLL_CTL_MOD;
	if (epoll_ctl(epfd, op, s->fd, &e) == -1 &&
	    /* A stale entry for a reused fd, or one that vanished: the
	     * other operation fixes it. */
	    !(op == EPOLL_CTL_ADD && errno == EEXIST &&
	    epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &e) == 0) &&
	    !(op == EPOLL_CTL_MOD && errno == ENOENT &&
	    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &e) == 0) &&
	    op != EPOLL_CTL_DEL)
		log_warn("epoll_ctl fd %d", s->fd);
	s->kfd = s->fd;
	s->kev = ev;
}

void
loop_remove(struct loop_source *s)
{
	if (!s->active)
		return;
	/* Now, while the fd is still open: closed, its number may be
	 * reused by a new source before the next pass. */
	if (s->kev != 0)
		(void)epoll_ctl(epfd, EPOLL_CTL_DEL, s->kfd, NULL);
	s->kev = 0;
	s->active = 0;
	sources[s->slot] = NULL;
	gens[s->slot]++;
	freeslots[nfree++] = s->slot;
}

size_t
loop_count(void)
{
	return nslots - nfree;
}

void
loop_set_tick(void (*fn)(int64_t))
{
	tickfn = fn;
}

void
loop_set_after_pass(void (*fn)(void))
{
	afterfn = fn;
}

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	(void)!write(sigpipe[1], &b, 1);
	errno = saved;
}

void
loop_on_signal(int sig, void (*fn)(int))
{
	struct sigaction sa;

	if (nsigs == MAX_SIGNALS)
		fatalx("too many signal handlers");
	loop_init();
	signums[nsigs] = sig;
	sigfn[nsigs++] = fn;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(sig, &sa, NULL) == -1)
		fatal("sigaction");
}

void
loop_stop(void)
{
	stopping = 1;
}

void
loop_wake(void)
{
	on_signal(0);
}

static void
drain_signals(void)
{
	unsigned char b[64];
	ssize_t n, i;
	size_t k;

	while ((n = read(sigpipe[0], b, sizeof b)) > 0)
		for (i = 0; i < n; i++)
			for (k = 0; k < nsigs; k++)
				if (signums[k] == b[i])
					sigfn[k](b[i]);
}

int
loop_run(void)
{
	int64_t next_tick = now_ms() + TICK_MS;

	loop_init();
	stopping = 0;
	while (!stopping) {
		size_t i;
		int timeout, pending = 0, n, k;
		int64_t now;

		for (i = 0; i < nslots; i++) {
			struct loop_source *s = sources[i];
			if (s == NULL)
				continue;
			if (s->has_work != NULL && s->has_work(s->arg))
				pending = 1;
			sync_source(s, s->fd >= 0 ? s->events(s->arg) : 0);
		}
		if (capevs < nslots + 1) {
			capevs = (nslots + 1) * 2;
			evs = xrealloc(evs, capevs * sizeof *evs);
		}
		now = now_ms();
		timeout = pending ? 0 :
		    (int)(next_tick > now ? next_tick - now : 0);
		n = epoll_wait(epfd, evs, (int)capevs, timeout);
		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		/* Signals first, as when the self-pipe was pollfd[0]. */
		for (k = 0; k < n; k++)
			if (evs[k].data.u64 == SIGPIPE_KEY)
				drain_signals();
		for (k = 0; k < n; k++) {
			uint64_t key = evs[k].data.u64;
			size_t slot = (size_t)(uint32_t)key;
			struct loop_source *s;

			/* The self-pipe, or a source removed in this pass
			 * (its slot perhaps reused since)? */
			if (key == SIGPIPE_KEY || slot >= nslots ||
			    (s = sources[slot]) == NULL ||
			    gens[slot] != (uint32_t)(key >> 32))
				continue;
			s->run(s->arg, (short)evs[k].events);
		}
		/* Work epoll cannot see: decrypted input parked in TLS engines. */
		if (pending)
			for (i = 0; i < nslots; i++) {
				struct loop_source *s = sources[i];
				if (s != NULL && s->has_work != NULL &&
				    s->has_work(s->arg))
					s->run(s->arg, 0);
			}
		if (afterfn != NULL)
			afterfn();
		now = now_ms();
		if (now >= next_tick) {
			next_tick = now + TICK_MS;
			if (tickfn != NULL)
				tickfn(now);
		}
	}
	return 0;
}
