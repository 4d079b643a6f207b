/*
 * store.c - per-account directories under data_path (see store.h):
 *   <data_path>/<escaped host>/<escaped localpart>/<name>
 *
 * Host and localpart always go through store_escape(), so no JID can name
 * a path outside its own directory; names are chosen by server code and
 * are checked anyway (no empty, dot-led or temp-looking components).
 * Writes are atomic: "<name>.tmp.<pid>" in the same directory, fsync,
 * rename over the old file, fsync the directory.  A crash at any instant
 * leaves the old or the new content, and at worst a stale temp file that
 * listings skip.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "util.h"

#define STORE_NAME_MAX	255	/* NAME_MAX of every file system we run on */
#define STORE_DEPTH_MAX	32	/* directory nesting we follow when deleting */
#define TMP_MARK	".tmp."	/* in temp file names, and nowhere else */
#define CLEAN_MARK	".clean-stop"	/* the last server stopped cleanly */

static char	store_dir[PATH_MAX];	/* the root; "" while closed */
static int	store_lockfd = -1;

#ifdef XMPPD_TEST
/* Tests set this to make store_write fail after the temp file is
 * complete and just before the rename. */
int	store_test_fail_rename;
#endif

static void set_err(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	/* A cut message is still a message: truncation is fine here. */
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
store_is_open(void)
{
	if (store_dir[0] == '\0') {
		errno = EINVAL;
		return 0;
	}
	return 1;
}

/* snprintf into a path buffer; -1 with ENAMETOOLONG if it did not fit. */
static int join(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
join(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
fsync_dir(const char *path)
{
	int fd, r, saved;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* fsync the directory holding path (path is changed, then restored). */
static int
fsync_parent(char *path)
{
	char *slash;
	int r;

	slash = strrchr(path, '/');
	if (slash == NULL)
		return fsync_dir(".");
	if (slash == path)
		return fsync_dir("/");
	*slash = '\0';
	r = fsync_dir(path);
	*slash = '/';
	return r;
}

static int
dir_exists(const char *path)
{
	struct stat st;
	int saved = errno, r;

	r = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	errno = saved;
	return r;
}

/*
 * Create the directories of path (0700) that come after its first `from`
 * bytes; with last set, the final component too.  A directory we create
 * is made durable by syncing its parent, as a file would be.
 */
static int
make_dirs(char *path, size_t from, int last)
{
	size_t i, len = strlen(path);
	char c;

	for (i = from + 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		if (path[i] == '\0' && !last)
			break;
		if (path[i - 1] == '/')
			continue;	/* "//" */
		c = path[i];
		path[i] = '\0';
		if (mkdir(path, 0700) == 0) {
			if (fsync_parent(path) == -1) {
				path[i] = c;
				return -1;
			}
		} else if (!dir_exists(path)) {
			/*
			 * An existing directory is fine whatever mkdir said
			 * (EROFS or EACCES can come before EEXIST).  A file
			 * in the way is ENOTDIR, not the EEXIST that
			 * store_user_create() keeps for an existing account.
			 */
			if (errno == EEXIST)
				errno = ENOTDIR;
			path[i] = c;
			return -1;
		}
		path[i] = c;
	}
	return 0;
}

static int
open_common(const char *data_path, int lock, char *err, size_t errlen)
{
	char dir[PATH_MAX], lockpath[PATH_MAX];
	struct stat st;
	size_t len;
	int fd = -1, saved;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (data_path == NULL || data_path[0] == '\0') {
		set_err(err, errlen, "data_path is empty");
		errno = EINVAL;
		return -1;
	}
	if (join(dir, sizeof dir, "%s", data_path) == -1 ||
	    join(lockpath, sizeof lockpath, "%s/.lock", data_path) == -1) {
		set_err(err, errlen, "data_path is too long");
		return -1;
	}
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';
	if (make_dirs(dir, 0, 1) == -1) {
		saved = errno;
		/* A file in the way gets its own message below. */
		if (stat(dir, &st) == -1) {
			set_err(err, errlen, "cannot create %s: %s", data_path,
			    strerror(saved));
			errno = saved;
			return -1;
		}
	}
	if (stat(dir, &st) == -1) {
		saved = errno;
		set_err(err, errlen, "cannot use %s: %s", data_path,
		    strerror(saved));
		errno = saved;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		set_err(err, errlen, "%s is not a directory", data_path);
		errno = ENOTDIR;
		return -1;
	}
	if (lock) {
		fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0600);
		if (fd == -1) {
			saved = errno;
			set_err(err, errlen, "cannot open %s: %s", lockpath,
			    strerror(saved));
			errno = saved;
			return -1;
		}
		/*
		 * flock() locks belong to the open file description, so this
		 * also refuses a second store_open() in this very process, and
		 * the lock goes away by itself when the process dies.
		 */
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			saved = errno;
			if (saved == EWOULDBLOCK)
				set_err(err, errlen, "another xmppd is running "
				    "on %s (lock held)", data_path);
			else
				set_err(err, errlen, "cannot lock %s: %s",
				    lockpath, strerror(saved));
			close(fd);
			errno = saved;
			return -1;
		}
	}
	/* Only now that nothing can fail does a new root replace the old. */
	store_close();
	memcpy(store_dir, dir, len + 1);
	store_lockfd = fd;
	return 0;
}

/*
 * Temp files left by a process that died in the middle of a write (kill
 * -9, power loss): the old file is intact, the temp file is garbage.  The
 * server removes them when it takes the lock; a command-line tool writing
 * right now (its pid is alive) keeps its own.  Bounded in depth and count.
 */
#define SWEEP_DEPTH	6
#define SWEEP_MAX	1000000

static void
sweep_temp(int dfd, int depth, size_t *seen, size_t *removed)
{
	DIR *d;
	struct dirent *de;

	if (depth > SWEEP_DEPTH || (d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL && ++*seen < SWEEP_MAX) {
		const char *mark;
		struct stat st;

		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub != -1)
				sweep_temp(sub, depth + 1, seen, removed);
			continue;
		}
		if (!S_ISREG(st.st_mode) ||
		    (mark = strstr(de->d_name, TMP_MARK)) == NULL)
			continue;
		{
			char *end;
			long pid = strtol(mark + strlen(TMP_MARK), &end, 10);
			if (*end != '\0' || pid <= 0 || pid == (long)getpid() ||
			    (kill((pid_t)pid, 0) == 0 || errno == EPERM))
				continue;	/* not ours to judge, or alive */
		}
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			(*removed)++;
	}
	closedir(d);
}

int
store_open(const char *data_path, char *err, size_t errlen)
{
	size_t seen = 0, removed = 0;
	char clean[PATH_MAX];
	int fd;

	if (open_common(data_path, 1, err, errlen) == -1)
		return -1;
	/* After a clean stop there is nothing to sweep, and with many
	 * accounts the walk would hold up start-up (80 ms per 10,000). */
	if (join(clean, sizeof clean, "%s/%s", store_dir, CLEAN_MARK) == 0 &&
	    unlink(clean) == 0)
		return 0;
	if ((fd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		sweep_temp(fd, 0, &seen, &removed);
	if (removed > 0)
		log_info("removed %zu temporary file(s) left by an interrupted "
		    "write", removed);
	return 0;
}

int
store_open_nolock(const char *data_path, char *err, size_t errlen)
{
	char clean[PATH_MAX];

	if (open_common(data_path, 0, err, errlen) == -1)
		return -1;
	/* A tool that writes may be interrupted: the next start sweeps. */
	if (join(clean, sizeof clean, "%s/%s", store_dir, CLEAN_MARK) == 0)
		unlink(clean);
	return 0;
}

void
store_close(void)
{
	char clean[PATH_MAX];
	int fd;

	if (store_lockfd != -1) {
		/* Every write finished: the next start need not sweep. */
		if (join(clean, sizeof clean, "%s/%s", store_dir, CLEAN_MARK) == 0 &&
		    (fd = open(clean, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) != -1)
			close(fd);
		close(store_lockfd);
		store_lockfd = -1;
	}
	store_dir[0] = '\0';
}

/* The root in use, or NULL while no store is open. */
const char *
store_root(void)
{
	return store_dir[0] != '\0' ? store_dir : NULL;
}

static int
byte_is_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '_' || c == '-';
}

/*
 * Besides the documented rule, a '.' that starts ".tmp." is escaped too:
 * then no escaped name can look like one of our temp files, which
 * listings skip and writes would collide with.  The empty string is
 * refused: it would make an empty path component.
 */
int
store_escape(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	size_t i, o, need;
	int esc;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (in == NULL || in[0] == '\0' || out == NULL) {
		errno = EINVAL;
		return -1;
	}
	for (i = o = 0; in[i] != '\0'; i++) {
		c = (unsigned char)in[i];
		esc = !byte_is_safe(c) || (c == '.' && (i == 0 ||
		    strncmp(in + i + 1, "tmp.", 4) == 0));
		need = esc ? 3 : 1;
		if (o + need > STORE_NAME_MAX || o + need >= outlen) {
			errno = o + need > STORE_NAME_MAX ? ENAMETOOLONG :
			    ERANGE;
			out[0] = '\0';
			return -1;
		}
		if (esc) {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0x0f];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* store_escape never writes lower-case hex */
}

/*
 * Strict: only what store_escape() produces is accepted (upper-case hex,
 * no escaped safe byte, no %00, no literal leading dot ...).  The decoded
 * text is escaped again and must give back the input exactly.
 */
int
store_unescape(const char *in, char *out, size_t outlen)
{
	char again[STORE_NAME_MAX + 1];
	size_t i, o;
	int hi, lo;
	unsigned char c;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (in == NULL || out == NULL || in[0] == '\0' ||
	    strlen(in) > STORE_NAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = o = 0; in[i] != '\0';) {
		if (in[i] == '%') {
			if ((hi = hex_value(in[i + 1])) == -1 ||
			    (lo = hex_value(in[i + 2])) == -1)
				goto bad;
			c = (unsigned char)(hi << 4 | lo);
			if (c == '\0')
				goto bad;
			i += 3;
		} else
			c = (unsigned char)in[i++];
		if (o + 1 >= outlen) {
			out[0] = '\0';
			errno = ERANGE;
			return -1;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (store_escape(out, again, sizeof again) == -1 ||
	    strcmp(again, in) != 0)
		goto bad;
	return 0;
bad:
	out[0] = '\0';
	errno = EINVAL;
	return -1;
}

/*
 * A name from server code: '/'-separated components, none empty, none
 * starting with '.' (so no "." or ".."), none longer than NAME_MAX, and
 * nothing that looks like a temp file.
 */
static int
name_is_ok(const char *name)
{
	const char *p, *slash;
	size_t clen;

	if (name == NULL || strstr(name, TMP_MARK) != NULL)
		return 0;
	for (p = name;; p = slash + 1) {
		if (*p == '\0' || *p == '/' || *p == '.')
			return 0;
		slash = strchr(p, '/');
		clen = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (clen > STORE_NAME_MAX)
			return 0;
		if (slash == NULL)
			return 1;
	}
}

static int
host_dir(const char *host, char *out, size_t outlen)
{
	char eh[STORE_NAME_MAX + 1];

	if (!store_is_open())
		return -1;
	if (host == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (store_escape(host, eh, sizeof eh) == -1)
		return -1;
	return join(out, outlen, "%s/%s", store_dir, eh);
}

int
store_user_dir(const char *host, const char *local, char *out,
    size_t outlen)
{
	char eh[STORE_NAME_MAX + 1], el[STORE_NAME_MAX + 1];

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (!store_is_open())
		return -1;
	if (host == NULL || out == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (store_escape(host, eh, sizeof eh) == -1)
		return -1;
	if (local == NULL)
		/* The host's own files: '%' followed by a non-hex letter is
		 * something store_escape() never writes, so no account can
		 * have this directory. */
		strlcpy_ok(el, STORE_HOST_DIR, sizeof el);
	else if (store_escape(local, el, sizeof el) == -1)
		return -1;
	return join(out, outlen, "%s/%s/%s", store_dir, eh, el);
}

int
store_path(const char *host, const char *local, const char *name,
    char *out, size_t outlen)
{
	char dir[PATH_MAX];

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (store_user_dir(host, local, dir, sizeof dir) == -1)
		return -1;
	if (!name_is_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	return join(out, outlen, "%s/%s", dir, name);
}

int
store_user_exists(const char *host, const char *local)
{
	char dir[PATH_MAX];
	struct stat st;

	if (store_user_dir(host, local, dir, sizeof dir) == -1)
		return 0;
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

int
store_user_create(const char *host, const char *local)
{
	char hdir[PATH_MAX], udir[PATH_MAX];

	if (host_dir(host, hdir, sizeof hdir) == -1 ||
	    store_user_dir(host, local, udir, sizeof udir) == -1)
		return -1;
	if (make_dirs(hdir, strlen(store_dir), 1) == -1)
		return -1;
	if (mkdir(udir, 0700) == -1)
		return -1;	/* EEXIST when the account exists */
	return fsync_dir(hdir);
}

/* A growable array of heap strings, for sorting directory entries. */
struct names {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

static void
names_add(struct names *ns, const char *s)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;

		if (cap < ns->cap || cap > SIZE_MAX / sizeof(*ns->v))
			fatalx("store: too many directory entries");
		ns->v = xrealloc(ns->v, cap * sizeof(*ns->v));
		ns->cap = cap;
	}
	ns->v[ns->n++] = xstrdup(s);
}

static void
names_free(struct names *ns)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	ns->v = NULL;
	ns->n = ns->cap = 0;
}

static int
names_cmp(const void *a, const void *b)
{
	/* strcmp compares as unsigned char: plain byte order. */
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Read the entries of the open directory d into ns.  Names starting with
 * '.' are never ours to list.  With users set, only directories whose
 * names unescape are kept (unescaped); otherwise only regular files, minus
 * temp files: callers read every name they are given.
 */
static int
read_entries(DIR *d, int users, struct names *ns)
{
	char local[STORE_NAME_MAX + 1];
	struct dirent *de;
	struct stat st;

	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (de->d_name[0] == '.')
			continue;
		if (!users && strstr(de->d_name, TMP_MARK) != NULL)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno == ENOENT)
				continue;	/* removed meanwhile */
			return -1;
		}
		if (users) {
			if (!S_ISDIR(st.st_mode) ||
			    store_unescape(de->d_name, local,
			    sizeof local) == -1)
				continue;
			names_add(ns, local);
		} else {
			if (!S_ISREG(st.st_mode))
				continue;
			names_add(ns, de->d_name);
		}
	}
	return errno != 0 ? -1 : 0;
}

static ssize_t
list_dir(const char *path, int users, int (*fn)(const char *, void *),
    void *arg)
{
	struct names ns = { NULL, 0, 0 };
	DIR *d;
	ssize_t visited = 0;
	size_t i;
	int fd, saved;

	/* A host directory may be an operator's link to another disk;
	 * inside an account nothing is followed. */
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    (users ? 0 : O_NOFOLLOW));
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (read_entries(d, users, &ns) == -1) {
		saved = errno;
		closedir(d);
		names_free(&ns);
		errno = saved;
		return -1;
	}
	closedir(d);
	if (ns.n > 1)
		qsort(ns.v, ns.n, sizeof(*ns.v), names_cmp);
	/* The names are copies: fn may remove or add files as it goes. */
	for (i = 0; i < ns.n; i++) {
		visited++;
		if (fn(ns.v[i], arg) != 0)
			break;
	}
	names_free(&ns);
	return visited;
}

ssize_t
store_list(const char *host, const char *local, const char *dir,
    int (*fn)(const char *name, void *arg), void *arg)
{
	char path[PATH_MAX];
	int r;

	if (fn == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (dir == NULL || dir[0] == '\0')
		r = store_user_dir(host, local, path, sizeof path);
	else
		r = store_path(host, local, dir, path, sizeof path);
	if (r == -1)
		return -1;
	return list_dir(path, 0, fn, arg);
}

ssize_t
store_list_users(const char *host, int (*fn)(const char *local, void *arg),
    void *arg)
{
	char path[PATH_MAX];

	if (fn == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (host_dir(host, path, sizeof path) == -1)
		return -1;
	return list_dir(path, 1, fn, arg);
}

/*
 * Remove the entry name of directory dfd and, if it is a directory,
 * everything below it.  Nothing is ever followed: a symbolic link is
 * opened with O_NOFOLLOW, fails, and is unlinked itself, so its target
 * (and anything outside the tree) survives.
 */
static int
remove_tree(int dfd, const char *name, int depth)
{
	struct names ns = { NULL, 0, 0 };
	struct dirent *de;
	DIR *d;
	size_t i;
	int fd, saved, r = 0;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOTDIR || errno == ELOOP) {
			if (unlinkat(dfd, name, 0) == -1 && errno != ENOENT)
				return -1;
			return 0;
		}
		return errno == ENOENT ? 0 : -1;
	}
	if (depth > STORE_DEPTH_MAX) {
		close(fd);
		errno = ELOOP;
		return -1;
	}
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	/* Collect first: removing entries while readdir() walks is murky. */
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		names_add(&ns, de->d_name);
	}
	if (errno != 0)
		r = -1;
	for (i = 0; r == 0 && i < ns.n; i++)
		r = remove_tree(dirfd(d), ns.v[i], depth + 1);
	saved = errno;
	closedir(d);
	names_free(&ns);
	if (r == -1) {
		errno = saved;
		return -1;
	}
	if (unlinkat(dfd, name, AT_REMOVEDIR) == -1)
		return -1;
	return 0;
}

int
store_user_delete(const char *host, const char *local)
{
	char hdir[PATH_MAX], el[STORE_NAME_MAX + 1];
	struct stat st;
	int hfd, r, saved;

	if (host_dir(host, hdir, sizeof hdir) == -1)
		return -1;
	if (local == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (store_escape(local, el, sizeof el) == -1)
		return -1;
	if ((hfd = open(hdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;	/* ENOENT: no such account */
	if (fstatat(hfd, el, &st, AT_SYMLINK_NOFOLLOW) == -1)
		r = -1;
	else if ((r = remove_tree(hfd, el, 0)) == 0)
		r = fsync(hfd);
	saved = errno;
	close(hfd);
	errno = saved;
	return r;
}

ssize_t
store_read(const char *host, const char *local, const char *name,
    size_t max, char **out)
{
	char path[PATH_MAX];
	struct stat st;
	char *buf = NULL;
	size_t size, got;
	ssize_t n;
	int fd, saved;

	if (out == NULL) {
		errno = EINVAL;
		return -1;
	}
	*out = NULL;
	if (store_path(host, local, name, path, sizeof path) == -1)
		return -1;
	/* Nothing in an account directory is a link we made. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto fail;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > max ||
	    (uintmax_t)st.st_size >= (uintmax_t)SSIZE_MAX) {
		errno = EFBIG;
		goto fail;
	}
	size = (size_t)st.st_size;
	buf = xmalloc(size + 1);
	/* Files are replaced by rename, never rewritten, so size holds; a
	 * file that shrank anyway just gives fewer bytes. */
	for (got = 0; got < size; got += (size_t)n) {
		n = read(fd, buf + got, size - got);
		if (n == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			goto fail;
		}
		if (n == 0)
			break;
	}
	buf[got] = '\0';
	close(fd);
	*out = buf;
	return (ssize_t)got;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

static int
open_tmp(const char *tmp)
{
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1 && errno == EEXIST) {
		/* Left by a dead process with our pid: no one else can be
		 * writing a file with our pid in its name. */
		if (unlink(tmp) == -1) {
			errno = EEXIST;
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	}
	return fd;
}

/*
 * Write name atomically: a temp file, fsync, then rename over the old
 * file, or (exclusive) link to a name that must not exist yet.
 * Directories inside the account are made on demand, the account's own
 * directory never: a write for an account deleted meanwhile fails with
 * ENOENT instead of bringing it back.
 */
static int
write_file(const char *host, const char *local, const char *name,
    const void *data, size_t len, int exclusive)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	const char *p = data;
	size_t off, chunk;
	ssize_t n;
	int fd = -1, saved;

	if (data == NULL && len > 0) {
		errno = EINVAL;
		return -1;
	}
	if (store_path(host, local, name, path, sizeof path) == -1)
		return -1;
	if (join(tmp, sizeof tmp, "%s" TMP_MARK "%ld", path,
	    (long)getpid()) == -1)
		return -1;
	fd = open_tmp(tmp);
	if (fd == -1 && errno == ENOENT) {
		char dir[PATH_MAX];
		struct stat st;
		/* Directories inside name (and the host's own area); an
		 * account directory only through store_user_create(). */
		if (local != NULL && (store_user_dir(host, local, dir,
		    sizeof dir) == -1 || stat(dir, &st) == -1)) {
			errno = ENOENT;
			return -1;
		}
		if (make_dirs(path, strlen(store_dir), 0) == -1)
			return -1;
		fd = open_tmp(tmp);
	}
	if (fd == -1)
		return -1;	/* nothing created, nothing to unlink */

	for (off = 0; off < len; off += (size_t)n) {
		chunk = len - off;
		if (chunk > (size_t)SSIZE_MAX)
			chunk = (size_t)SSIZE_MAX;
		n = write(fd, p + off, chunk);
		if (n == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			goto fail;
		}
		if (n == 0) {
			errno = EIO;
			goto fail;
		}
	}
	if (fsync(fd) == -1)
		goto fail;
#ifdef XMPPD_TEST
	if (store_test_fail_rename) {
		errno = EIO;
		goto fail;
	}
#endif
	n = close(fd);
	fd = -1;
	if (n == -1)
		goto fail;
	if (exclusive) {
		if (link(tmp, path) == -1)
			goto fail;
		unlink(tmp);
	} else if (rename(tmp, path) == -1)
		goto fail;
	return fsync_parent(path);
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int
store_write(const char *host, const char *local, const char *name,
    const void *data, size_t len)
{
	return write_file(host, local, name, data, len, 0);
}

int
store_create(const char *host, const char *local, const char *name,
    const void *data, size_t len)
{
	return write_file(host, local, name, data, len, 1);
}

int
store_remove(const char *host, const char *local, const char *name)
{
	char path[PATH_MAX];

	if (store_path(host, local, name, path, sizeof path) == -1)
		return -1;
	if (unlink(path) == -1)
		return errno == ENOENT ? 0 : -1;
	return fsync_parent(path);
}
