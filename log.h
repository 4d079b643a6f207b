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
