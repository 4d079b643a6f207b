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
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level	level = LOG_LVL_INFO;
static int		fd = 2;
static int		stamps;
static int		to_syslog;
static char		syslog_ident[32];	/* openlog() keeps the pointer */

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

static const struct {
	const char	*name;
	int		 value;
} facilities[] = {
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
	{ "cron", LOG_CRON }, { "daemon", LOG_DAEMON }, { "ftp", LOG_FTP },
	{ "lpr", LOG_LPR }, { "mail", LOG_MAIL }, { "news", LOG_NEWS },
	{ "syslog", LOG_SYSLOG }, { "user", LOG_USER }, { "uucp", LOG_UUCP },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

int
log_set_syslog(int on, const char *ident, const char *facility)
{
	size_t i;

	if (!on) {
		if (to_syslog)
			closelog();
		to_syslog = 0;
		return 0;
	}
	for (i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
		if (facility != NULL && strcmp(facility, facilities[i].name) == 0)
			break;
	if (i == sizeof facilities / sizeof facilities[0]) {
		errno = EINVAL;
		return -1;
	}
	if (to_syslog)
		closelog();
	snprintf(syslog_ident, sizeof syslog_ident, "%s",
	    ident != NULL ? ident : "xmppd");
	/* Connect now: later the process may not see /dev/log any more. */
	openlog(syslog_ident, LOG_PID | LOG_NDELAY, facilities[i].value);
	to_syslog = 1;
	return 0;
}

/* One write() per line so lines from a crash-restart cycle never interleave. */
static void
emit(enum log_level l, const char *fmt, va_list ap, int with_errno, int saved)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	size_t n = 0, body;
	int k;

	/* syslog stamps lines itself. */
	if (stamps && !to_syslog) {
		time_t t = time(NULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	k = snprintf(line + n, sizeof line - n, "%s: ", names[l]);
	if (k > 0)
		n += (size_t)k;
	body = n;
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
	if (to_syslog) {
		/* The priority says the level; the text goes without it. */
		syslog(prio[l], "%.*s", (int)(n - body), line + body);
		return;
	}
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
