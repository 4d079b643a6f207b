/*
 * loop.h - the one event loop: file descriptors, a once-a-second tick,
 * signals through a self-pipe, and "ready" work that the kernel cannot see
 * (decrypted TLS input waiting in the engine).  Nothing XMPP-specific.
 *
 * Every pass asks each source's events() what it wants now, as if the
 * pollfd array were rebuilt, so no interest flags are ever switched on and
 * off; loop.c tells epoll only what differs from the last pass.
 */
#ifndef XMPPD_LOOP_H
#define XMPPD_LOOP_H

#include <stdint.h>

struct loop_source {
	int	 fd;
	/* Events wanted now (POLLIN/POLLOUT), 0 to sit this pass out.
	 * Asked every pass: it must be cheap and have no side effects. */
	short	(*events)(void *arg);
	/* Called with the events reported (POLLIN, POLLOUT, POLLERR,
	 * POLLHUP), or 0 when has_work said so. */
	void	(*run)(void *arg, short revents);
	/* Work waiting that the kernel will not report (may be NULL). */
	int	(*has_work)(void *arg);
	void	*arg;
	/* owned by loop.c */
	size_t	 slot;
	int	 active;
	int	 kfd;		/* fd and events the kernel has (kev 0: none) */
	short	 kev;
};

void	loop_init(void);
void	loop_add(struct loop_source *);
/* Safe from inside run(): the source is skipped from then on.  Call it
 * before closing the fd (the kernel's entry goes now). */
void	loop_remove(struct loop_source *);
/* fn runs about once a second with the monotonic time in ms. */
void	loop_set_tick(void (*fn)(int64_t now_ms));
/* fn runs after every pass (flush queued output, free closed conns). */
void	loop_set_after_pass(void (*fn)(void));
/* Deliver sig to fn from the loop, never from the handler. */
void	loop_on_signal(int sig, void (*fn)(int sig));
/* Return from loop_run() at the end of the current pass. */
void	loop_stop(void);
/* Wake the loop now (e.g. new work queued from a tick). */
void	loop_wake(void);
int	loop_run(void);
size_t	loop_count(void);

#endif
