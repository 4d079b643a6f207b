/*
 * log.c - one line per event.  stderr by default: supervisors (s6-log,
 * multilog, journald, supervisord) collect it and add timestamps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level	level = LOG_LVL_INFO;
static int		fd = 2;
static int		stamps;

static const char *const names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum log_level l)
{
	level = l;
}

enum log_level
log_get_level(void)
{
	return level;
}

void
log_set_timestamps(int on)
{
	stamps = on;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -1;
}

int
log_set_file(const char *path)
{
	int nfd;

	if (path == NULL || *path == '\0') {
		if (fd != 2)
			close(fd);
		fd = 2;
		return 0;
	}
	nfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (nfd == -1)
		return -1;
	if (fd != 2)
		close(fd);
	fd = nfd;
	return 0;
}

/* One write() per line so lines from a crash-restart cycle never interleave. */
static void
emit(enum log_level l, const char *fmt, va_list ap, int with_errno, int saved)
{
	char line[2048];
	size_t n = 0;
	int k;

	if (stamps) {
		time_t t = time(NULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	k = snprintf(line + n, sizeof line - n, "%s: ", names[l]);
	if (k > 0)
		n += (size_t)k;
	k = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (k > 0)
		n = n + (size_t)k >= sizeof line ? sizeof line - 1 : n + (size_t)k;
	if (with_errno && n < sizeof line - 1) {
		k = snprintf(line + n, sizeof line - n, ": %s", strerror(saved));
		if (k > 0)
			n = n + (size_t)k >= sizeof line ? sizeof line - 1 : n + (size_t)k;
	}
	/* Never let a peer's bytes break the one-line-per-event promise. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	(void)!write(fd, line, n);
}

void
log_vat(enum log_level l, const char *fmt, va_list ap)
{
	int saved = errno;

	if (l <= level)
		emit(l, fmt, ap, 0, saved);
	errno = saved;
}

void
log_at(enum log_level l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vat(l, fmt, ap);
	va_end(ap);
}

#define LOGFN(fn, lvl, witherr)					\
void									\
fn(const char *fmt, ...)						\
{									\
	va_list ap;							\
	int saved = errno;						\
	if ((lvl) <= level) {						\
		va_start(ap, fmt);					\
		emit((lvl), fmt, ap, (witherr), saved);			\
		va_end(ap);						\
	}								\
	errno = saved;							\
}

LOGFN(log_warn, LOG_LVL_WARN, 1)
LOGFN(log_warnx, LOG_LVL_WARN, 0)
LOGFN(log_info, LOG_LVL_INFO, 0)
LOGFN(log_debug, LOG_LVL_DEBUG, 0)
LOGFN(log_error, LOG_LVL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	emit(LOG_LVL_ERROR, fmt, ap, 1, saved);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_LVL_ERROR, fmt, ap, 0, 0);
	va_end(ap);
	exit(1);
}
