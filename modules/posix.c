/*
 * posix.c - the classic Unix daemon chores, each one optional: a pidfile
 * ([server] pidfile), the file creation mask, detaching from the
 * terminal, and logging to syslog.
 *
 * Supervisors (s6, runit, supervisord, systemd) want none of this: they
 * run xmppd in the foreground and read its stderr.  The defaults are
 * therefore "stay in the foreground, log to stderr"; only the umask has
 * an effect by default (077: the data is private).
 *
 * Everything happens in init, which the core calls after the config is
 * loaded and the data directory locked, before the listeners are opened.
 * init runs again after every reload: the umask and syslog settings are
 * applied again then, daemonize and the pidfile only at start-up.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "module.h"

#define DEFAULT_UMASK		077
#define DEFAULT_FACILITY	"daemon"
#define SYSLOG_IDENT		"xmppd"
#define PID_TEXT_MAX		32

/* Facility names log_set_syslog() knows. */
static const char *const facilities[] = {
	"auth", "authpriv", "cron", "daemon", "ftp", "lpr", "mail", "news",
	"syslog", "user", "uucp", "local0", "local1", "local2", "local3",
	"local4", "local5", "local6", "local7", NULL
};

static int	 started;	/* init ran once: daemonize and pidfile done */
static int	 daemonized;
static char	*pidfile;	/* the pidfile we wrote, removed at exit */
static pid_t	 pidfile_owner;

static const char *
opt(const char *key)
{
	return config_module_opt(server_config(), "posix", key);
}

/* ---- settings ---- */

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1", NULL };
	static const char *const no[] = { "false", "no", "off", "0", NULL };

	for (int i = 0; yes[i] != NULL; i++) {
		if (strcmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* An octal mask of 1 to 4 digits, at most 0777.  0 or -1. */
static int
parse_umask(const char *v, mode_t *out)
{
	unsigned m = 0;
	size_t n = 0;

	for (; v[n] != '\0'; n++) {
		if (v[n] < '0' || v[n] > '7' || n == 4)
			return -1;
		m = m * 8 + (unsigned)(v[n] - '0');
	}
	if (n == 0 || m > 0777)
		return -1;
	*out = (mode_t)m;
	return 0;
}

static int
opt_bool(const char *key)
{
	const char *v = opt(key);
	int b = 0;

	return v != NULL && parse_bool(v, &b) == 0 && b;
}

static int
posix_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	mode_t m;
	int b;

	if (strcmp(key, "umask") == 0) {
		if (parse_umask(value, &m) == -1) {
			snprintf(err, errlen, "[posix] umask: expected an octal "
			    "mask from 000 to 777 (e.g. 077), not '%.32s'", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "daemonize") == 0 || strcmp(key, "syslog") == 0) {
		if (parse_bool(value, &b) == -1) {
			snprintf(err, errlen, "[posix] %s: expected true/false, "
			    "yes/no, on/off or 1/0, not '%.32s'", key, value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "syslog_facility") == 0) {
		for (const char *const *f = facilities; *f != NULL; f++)
			if (strcmp(value, *f) == 0)
				return 0;
		snprintf(err, errlen, "[posix] syslog_facility: '%.32s' is not "
		    "one of auth, authpriv, cron, daemon, ftp, lpr, mail, news, "
		    "syslog, user, uucp, local0 ... local7", value);
		return -1;
	}
	snprintf(err, errlen, "unknown key '%.64s' in [posix] (known: umask, "
	    "daemonize, syslog, syslog_facility)", key);
	return -1;
}

/* ---- the pidfile ---- */

/* The pid a pidfile holds, or -1. */
static long
read_pid(const char *path)
{
	char text[PID_TEXT_MAX], *end;
	ssize_t n;
	long pid;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno != 0 || end == text || (*end != '\n' && *end != '\0') ||
	    pid <= 0)
		return -1;
	return pid;
}

static void
remove_pidfile(void)
{
	if (pidfile == NULL || getpid() != pidfile_owner)
		return;
	/* Only ours: another xmppd may have taken the name over since. */
	if (read_pid(pidfile) == (long)getpid() && unlink(pidfile) == -1)
		log_warn("posix: removing pidfile %s", pidfile);
	free(pidfile);
	pidfile = NULL;
}

/* Write our pid to path atomically (temporary file, then rename). */
static int
write_pidfile(const char *path)
{
	char tmp[PATH_MAX], text[PID_TEXT_MAX];
	long old = read_pid(path);
	int fd, n, k;

	if (old > 0 && old != (long)getpid() &&
	    (kill((pid_t)old, 0) == 0 || errno == EPERM))
		log_warnx("posix: pidfile %s names process %ld, which is "
		    "running; replacing it", path, old);
	n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
	k = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof text || k < 0 || (size_t)k >= sizeof tmp) {
		log_warnx("posix: pidfile path %s is too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1) {
		log_warn("posix: creating %s", tmp);
		return -1;
	}
	if (write(fd, text, (size_t)n) != n || fsync(fd) == -1) {
		log_warn("posix: writing %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		log_warn("posix: renaming %s to %s", tmp, path);
		unlink(tmp);
		return -1;
	}
	pidfile = xstrdup(path);
	pidfile_owner = getpid();
	return 0;
}

static void
at_exit(void)
{
	remove_pidfile();
}

/* ---- detaching ---- */

/*
 * Fork into the background: the command returns (status 0) once the
 * daemon is set up, with the pidfile written, so scripts can use it at
 * once.  Returns in the daemon with *ready: the pipe to write the pid to
 * when that is done; -1 on failure (still in the foreground).
 */
static int
daemonize(int *ready)
{
	char buf[PID_TEXT_MAX];
	ssize_t n;
	pid_t pid;
	int p[2], null;

	if (pipe(p) == -1) {
		log_warn("posix: daemonize: pipe");
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("posix: daemonize: fork");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid > 0) {
		/* The command: wait for the daemon, report, leave without
		 * running exit handlers (they belong to the daemon). */
		close(p[1]);
		do
			n = read(p[0], buf, sizeof buf - 1);
		while (n == -1 && errno == EINTR);
		if (n <= 0) {
			log_error("posix: the daemon failed to start");
			_exit(1);
		}
		buf[n] = '\0';
		log_info("posix: running in the background as process %s", buf);
		_exit(0);
	}
	close(p[0]);
	if (setsid() == -1) {
		log_warn("posix: daemonize: setsid");
		_exit(1);
	}
	/* Not a session leader, so no terminal can ever become ours. */
	if ((pid = fork()) == -1) {
		log_warn("posix: daemonize: second fork");
		_exit(1);
	}
	if (pid > 0)
		_exit(0);
	if ((null = open("/dev/null", O_RDWR)) == -1) {
		log_warn("posix: daemonize: /dev/null");
		_exit(1);
	}
	/* stderr last: until here it still reached the operator. */
	if (dup2(null, 0) == -1 || dup2(null, 1) == -1 || dup2(null, 2) == -1)
		_exit(1);
	if (null > 2)
		close(null);
	*ready = p[1];
	return 0;
}

static void
report_ready(int fd)
{
	char text[PID_TEXT_MAX];
	int n;

	n = snprintf(text, sizeof text, "%ld", (long)getpid());
	if (n > 0)
		(void)!write(fd, text, (size_t)n);
	close(fd);
}

/* ---- init / fini ---- */

static int
posix_init(void)
{
	const struct config *cfg = server_config();
	const char *v, *fac;
	mode_t mask = DEFAULT_UMASK;
	int ready = -1, want_daemon = opt_bool("daemonize");
	int want_syslog = opt_bool("syslog");

	if ((v = opt("umask")) != NULL)
		(void)parse_umask(v, &mask);	/* config_check made sure */
	umask(mask);
	fac = (v = opt("syslog_facility")) != NULL ? v : DEFAULT_FACILITY;
	if (log_set_syslog(want_syslog, SYSLOG_IDENT, fac) == -1) {
		log_warnx("posix: syslog facility %s unknown", fac);
		return -1;
	}
	if (started) {
		if (want_daemon != daemonized)
			log_warnx("posix: daemonize changed; takes effect after "
			    "a restart");
		if ((cfg->pidfile == NULL) != (pidfile == NULL) ||
		    (pidfile != NULL && strcmp(cfg->pidfile, pidfile) != 0))
			log_warnx("posix: pidfile changed; takes effect after "
			    "a restart");
		return 0;
	}
	started = 1;
	if (want_daemon) {
		if (!want_syslog && cfg->log == NULL)
			log_warnx("posix: daemonize without [server] log or "
			    "[posix] syslog: log lines are discarded");
		if (daemonize(&ready) == -1)
			return -1;
		daemonized = 1;
	}
	if (cfg->pidfile != NULL) {
		if (write_pidfile(cfg->pidfile) == -1) {
			if (ready != -1)
				close(ready);	/* the command exits 1 */
			return -1;
		}
		atexit(at_exit);
	}
	if (ready != -1)
		report_ready(ready);
	log_info("posix: umask %03o%s%s%s%s", (unsigned)mask,
	    daemonized ? ", in the background" : "",
	    want_syslog ? ", logging to syslog" : "",
	    pidfile ? ", pidfile " : "", pidfile ? pidfile : "");
	return 0;
}

static void
posix_fini(void)
{
	remove_pidfile();
}

const struct module mod_posix = {
	.name = "posix",
	.init = posix_init,
	.fini = posix_fini,
	.config_check = posix_config_check,
};
