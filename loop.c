/*
 * loop.c - poll() loop with a self-pipe for signals.
 */
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

static struct loop_source **sources;	/* slot -> source; NULL once removed */
static size_t	 nsources, capsources;
static struct pollfd *pfds;
static size_t	*pfd_slot;		/* pollfd index -> slot in sources */
static size_t	 cappfds;
static int	 sigpipe[2] = { -1, -1 };
static void	(*sigfn[MAX_SIGNALS])(int);
static int	 signums[MAX_SIGNALS];
static size_t	 nsigs;
static void	(*tickfn)(int64_t);
static void	(*afterfn)(void);
static int	 stopping;
static int	 removed_any;

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
	if (sigpipe[0] != -1)
		return;
	if (pipe(sigpipe) == -1)
		fatal("pipe");
	set_nonblock(sigpipe[0]);
	set_nonblock(sigpipe[1]);
}

void
loop_add(struct loop_source *s)
{
	if (nsources == capsources) {
		capsources = capsources ? capsources * 2 : 64;
		sources = xrealloc(sources, capsources * sizeof *sources);
	}
	s->slot = nsources;
	s->active = 1;
	sources[nsources++] = s;
}

void
loop_remove(struct loop_source *s)
{
	if (!s->active)
		return;
	s->active = 0;
	sources[s->slot] = NULL;
	removed_any = 1;
}

/* Close the gaps left by removals; only between passes. */
static void
compact(void)
{
	size_t i, j = 0;

	for (i = 0; i < nsources; i++)
		if (sources[i] != NULL) {
			sources[j] = sources[i];
			sources[j]->slot = j;
			j++;
		}
	nsources = j;
	removed_any = 0;
}

size_t
loop_count(void)
{
	return nsources;
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
		size_t i, n = 1;
		int timeout, pending = 0, rc;
		int64_t now;

		if (removed_any)
			compact();
		if (nsources + 1 > cappfds) {
			cappfds = (nsources + 1) * 2;
			pfds = xrealloc(pfds, cappfds * sizeof *pfds);
			pfd_slot = xrealloc(pfd_slot, cappfds * sizeof *pfd_slot);
		}
		pfds[0].fd = sigpipe[0];
		pfds[0].events = POLLIN;
		pfds[0].revents = 0;
		pfd_slot[0] = 0;
		for (i = 0; i < nsources; i++) {
			struct loop_source *s = sources[i];
			short ev;
			if (s == NULL)
				continue;
			if (s->has_work != NULL && s->has_work(s->arg))
				pending = 1;
			ev = s->events(s->arg);
			if (ev == 0 || s->fd < 0)
				continue;
			pfds[n].fd = s->fd;
			pfds[n].events = ev;
			pfds[n].revents = 0;
			pfd_slot[n] = i;
			n++;
		}
		now = now_ms();
		timeout = pending ? 0 :
		    (int)(next_tick > now ? next_tick - now : 0);
		rc = poll(pfds, n, timeout);
		if (rc == -1 && errno != EINTR)
			fatal("poll");
		if (rc > 0 && (pfds[0].revents & POLLIN))
			drain_signals();
		for (i = 1; rc > 0 && i < n; i++) {
			/* By slot, not by pointer: a handler may have removed
			 * (and freed) a source that also fired.  Slots do not
			 * move within a pass; a removed one holds NULL. */
			struct loop_source *s = sources[pfd_slot[i]];
			if (pfds[i].revents == 0 || s == NULL)
				continue;
			s->run(s->arg, pfds[i].revents);
		}
		/* Work poll cannot see: decrypted input parked in TLS engines. */
		if (pending)
			for (i = 0; i < nsources; i++) {
				struct loop_source *s = sources[i];
				if (s != NULL && s->active && s->has_work != NULL &&
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
