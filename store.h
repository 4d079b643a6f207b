/*
 * store.h - per-account directories under data_path:
 *   <data_path>/<host>/<escaped localpart>/<name>
 * Every write is atomic (temp file, fsync, rename, fsync directory); every
 * read is bounded.  Names are chosen by server code; parts that come from
 * users (node names, namespaces) go through store_escape() first.
 */
#ifndef XMPPD_STORE_H
#define XMPPD_STORE_H

#include <stddef.h>
#include <sys/types.h>

/* Create data_path if needed and take its lock (a second server on the
 * same data_path is refused).  0, or -1 with a reason in err. */
int	 store_open(const char *data_path, char *err, size_t errlen);
/* Without the lock: for adduser & co. while a server may be running. */
int	 store_open_nolock(const char *data_path, char *err, size_t errlen);
void	 store_close(void);
const char *store_root(void);

/*
 * Escape a string into a safe path component: bytes outside [a-z0-9._-]
 * (and a leading '.') become %XX, so nothing can contain '/', '..' or NUL
 * or start with a dot.  Returns 0, or -1 if out is too small or the result
 * would be longer than 255 bytes (NAME_MAX).
 */
int	 store_escape(const char *in, char *out, size_t outlen);
int	 store_unescape(const char *in, char *out, size_t outlen);

/*
 * local == NULL everywhere below means the host's own directory
 * (<data_path>/<host>/%host), for server-wide data such as the MOTD; no
 * account can be named so.
 */
#define STORE_HOST_DIR	"%host"

/* Path of the account directory, or of a file in it (name may contain
 * '/' for subdirectories made by the server, e.g. "offline/00000001").
 * 0, or -1 if it does not fit. */
int	 store_user_dir(const char *host, const char *local, char *out, size_t outlen);
int	 store_path(const char *host, const char *local, const char *name,
	    char *out, size_t outlen);

int	 store_user_exists(const char *host, const char *local);
/* Create the account directory; -1 with errno EEXIST if it exists. */
int	 store_user_create(const char *host, const char *local);
/* Remove the account directory and everything in it. */
int	 store_user_delete(const char *host, const char *local);

/*
 * Read a whole file into a NUL-terminated heap buffer (*out, caller frees).
 * Returns its length, or -1 with errno: ENOENT missing, EFBIG larger than
 * max, other errno on I/O errors.
 */
ssize_t	 store_read(const char *host, const char *local, const char *name,
	    size_t max, char **out);
/* Like store_write, but only if name does not exist yet (-1 with errno
 * EEXIST otherwise): for records two processes may race to create. */
int	 store_create(const char *host, const char *local, const char *name,
	    const void *data, size_t len);
/* Atomic replace; creates missing subdirectories of name, but never the
 * account's directory (ENOENT if the account is gone).  0 / -1. */
int	 store_write(const char *host, const char *local, const char *name,
	    const void *data, size_t len);
/* Remove one file; missing is success.  0 / -1. */
int	 store_remove(const char *host, const char *local, const char *name);
/*
 * Call fn for each file in subdirectory dir of the account, in byte order
 * of the names (temp files skipped).  fn returns 0 to go on, non-zero to
 * stop.  Returns the number of files visited, or -1.
 */
ssize_t	 store_list(const char *host, const char *local, const char *dir,
	    int (*fn)(const char *name, void *arg), void *arg);
/* Accounts of a host, by unescaped localpart; like store_list. */
ssize_t	 store_list_users(const char *host,
	    int (*fn)(const char *local, void *arg), void *arg);

#endif
