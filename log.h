/*
 * log.h - one line per event on stderr (or a file), without timestamps
 * unless asked: supervisors' loggers add their own.
 */
#ifndef XMPPD_LOG_H
#define XMPPD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void	log_set_level(enum log_level);
enum log_level log_get_level(void);
/* Redirect to a file (append).  NULL or "" means stderr.  0 / -1. */
int	log_set_file(const char *path);
void	log_set_timestamps(int);
/*
 * Send log lines to syslog(3) instead of the file or stderr (on = 1: ident
 * and a facility name, one of auth, authpriv, cron, daemon, ftp, lpr,
 * mail, news, syslog, user, uucp, local0 ... local7), or stop doing so
 * (on = 0; ident and facility are ignored).  0, or -1 with errno EINVAL
 * for an unknown facility (nothing changes then).
 */
int	log_set_syslog(int on, const char *ident, const char *facility);
int	log_level_parse(const char *, enum log_level *);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_at(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_vat(enum log_level, const char *, va_list);
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));	/* + strerror */
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
