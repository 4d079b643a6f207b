/*
 * test_store.c - per-account storage in a mkdtemp directory: escaping,
 * atomic writes, bounded reads, listings, accounts, and the lock (also
 * across processes, with fork).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "store.h"

#ifdef XMPPD_TEST
extern int store_test_fail_rename;
#endif

static char	tdir[PATH_MAX];		/* the mkdtemp directory */
static char	root[PATH_MAX];		/* data_path inside it */

static const struct {
	const char	*in;
	const char	*out;
} esc_cases[] = {
	{ "alice", "alice" },
	{ "a.b_c-d.0123456789", "a.b_c-d.0123456789" },
	{ "example.com", "example.com" },
	{ "Alice", "%41lice" },
	{ "ABCXYZ", "%41%42%43%58%59%5A" },
	{ "..", "%2E." },
	{ ".", "%2E" },
	{ ".hidden", "%2Ehidden" },
	{ "a/b", "a%2Fb" },
	{ "/", "%2F" },
	{ "../../etc/passwd", "%2E.%2F..%2Fetc%2Fpasswd" },
	{ "%", "%25" },
	{ "%41", "%2541" },
	{ "a b", "a%20b" },
	{ "a\\b", "a%5Cb" },
	{ "zo\xc3\xab", "zo%C3%AB" },
	{ "\xe5\xbc\xa0", "%E5%BC%A0" },
	{ "\x01\x7f\x80\xff", "%01%7F%80%FF" },
	{ "[::1]", "%5B%3A%3A1%5D" },
	{ "a@b", "a%40b" },
	{ "~x", "%7Ex" },
	/* a '.' starting ".tmp." is escaped: never looks like a temp file */
	{ "a.tmp.b", "a%2Etmp.b" },
	{ "x.tmp.1234", "x%2Etmp.1234" },
	{ ".tmp.", "%2Etmp." },
	{ "x..tmp.", "x.%2Etmp." },
	{ "x.tmp", "x.tmp" },
	{ "x.tmpx.", "x.tmpx." },
};

/* snprintf for the test's paths: a cut path is a failed check. */
static void mkpath(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
mkpath(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	T_EXPECT(n >= 0 && (size_t)n < outlen, "path cut: %s", out);
}

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path) == -1 ? -1 : 0;
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_entry, 128, FTW_DEPTH | FTW_PHYS);
}

static void
put_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	T_EXPECT(f != NULL, "cannot create %s", path);
	if (f == NULL)
		return;
	fputs(content, f);
	fclose(f);
}

static int
file_is(const char *path, const char *content)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, content) == 0;
}

static int	tmp_found;

static int
tmp_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	if (strstr(path + f->base, ".tmp.") != NULL) {
		fprintf(stderr, "temp file left: %s\n", path);
		tmp_found++;
	}
	return 0;
}

/* Temp files left anywhere under the data directory. */
static int
count_tmp(void)
{
	tmp_found = 0;
	nftw(root, tmp_entry, 128, FTW_PHYS);
	return tmp_found;
}

static int
path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void
test_escape(void)
{
	char out[512], back[512];
	char *s;
	size_t i;

	for (i = 0; i < sizeof esc_cases / sizeof esc_cases[0]; i++) {
		T_EXPECT(store_escape(esc_cases[i].in, out, sizeof out) == 0,
		    "escape case %zu refused", i);
		T_EXPECT(strcmp(out, esc_cases[i].out) == 0,
		    "escape case %zu: \"%s\", want \"%s\"", i, out,
		    esc_cases[i].out);
		T_EXPECT(store_unescape(out, back, sizeof back) == 0,
		    "unescape case %zu refused \"%s\"", i, out);
		T_EXPECT(strcmp(back, esc_cases[i].in) == 0,
		    "unescape case %zu: round trip gave \"%s\"", i, back);
	}

	/* refused inputs and sizes */
	errno = 0;
	T_EQ_INT(store_escape("", out, sizeof out), -1);
	T_EQ_INT(errno, EINVAL);
	T_EQ_INT(store_escape(NULL, out, sizeof out), -1);
	T_EQ_INT(store_escape("abc", out, 4), 0);
	T_EQ_STR(out, "abc");
	memset(out, 'X', sizeof out);
	T_EQ_INT(store_escape("abc", out, 3), -1);
	T_EQ_INT(errno, ERANGE);
	T_EQ_STR(out, "");
	T_EQ_INT(store_escape("A", out, 3), -1);
	T_EQ_INT(store_escape("A", out, 4), 0);
	T_EQ_STR(out, "%41");

	/* the 255-byte rule: by input length and by expansion */
	s = repeat('a', 255);
	T_EQ_INT(store_escape(s, out, sizeof out), 0);
	T_EQ_INT(strlen(out), 255);
	T_EQ_INT(store_unescape(out, back, sizeof back), 0);
	T_EQ_STR(back, s);
	free(s);
	s = repeat('a', 256);
	T_EQ_INT(store_escape(s, out, sizeof out), -1);
	T_EQ_INT(errno, ENAMETOOLONG);
	T_EQ_STR(out, "");
	free(s);
	s = repeat('A', 85);		/* 255 bytes escaped */
	T_EQ_INT(store_escape(s, out, sizeof out), 0);
	T_EQ_INT(strlen(out), 255);
	free(s);
	s = repeat('A', 86);		/* 258 bytes escaped */
	T_EQ_INT(store_escape(s, out, sizeof out), -1);
	T_EQ_INT(errno, ENAMETOOLONG);
	free(s);
	s = repeat('a', 254);
	s[0] = '/';			/* 256 bytes escaped */
	T_EQ_INT(store_escape(s, out, sizeof out), -1);
	T_EQ_INT(errno, ENAMETOOLONG);
	free(s);

	/* unescape takes only what escape makes */
	static const char *const bad[] = {
		"", "..", ".", ".hidden", "%2e.", "%2e", "%", "%4", "%4G",
		"%G1", "%-1", "% 41", "%61", "%2D", "%5F", "%30", "a%2Eb",
		"%2E%2E", "%00", "a%00b", "A", "abC", "a/b", "a b", "a\\b",
		"\xc3\xab", "zo\xc3\xab", "a.tmp.b", "x.tmp.1", "%41%", "%%41",
		"%c3%ab", "a%2e", "\x7f",
	};
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		mkpath(back, sizeof back, "%s", "untouched");
		errno = 0;
		T_EXPECT(store_unescape(bad[i], back, sizeof back) == -1,
		    "unescape accepted \"%s\" as \"%s\"", bad[i], back);
		T_EXPECT(errno == EINVAL, "unescape \"%s\": errno %d", bad[i],
		    errno);
		T_EXPECT(back[0] == '\0', "unescape \"%s\": out not cleared",
		    bad[i]);
	}
	s = repeat('a', 256);
	T_EQ_INT(store_unescape(s, back, sizeof back), -1);
	free(s);
	T_EQ_INT(store_unescape(NULL, back, sizeof back), -1);
	T_EQ_INT(store_unescape("%41bc", back, 4), 0);
	T_EQ_STR(back, "Abc");
	T_EQ_INT(store_unescape("%41bc", back, 3), -1);
	T_EQ_INT(errno, ERANGE);
	T_EQ_INT(store_unescape("%2E%2Etmp.", back, sizeof back), 0);
	T_EQ_STR(back, "..tmp.");
	T_EQ_INT(store_unescape(".%2Etmp.", back, sizeof back), -1);
	T_EQ_INT(store_unescape("%2E.%2Etmp.", back, sizeof back), 0);
	T_EQ_STR(back, "...tmp.");
}

static void
test_closed(void)
{
	char buf[PATH_MAX], *data = (char *)"x";

	store_close();
	T_EXPECT(store_root() == NULL, "store_root() while closed");
	errno = 0;
	T_EQ_INT(store_write("example.com", "alice", "roster", "x", 1), -1);
	T_EQ_INT(errno, EINVAL);
	T_EQ_INT(store_read("example.com", "alice", "roster", 10, &data), -1);
	T_EXPECT(data == NULL, "*out not cleared");
	T_EQ_INT(store_user_dir("example.com", "alice", buf, sizeof buf), -1);
	T_EQ_INT(store_user_exists("example.com", "alice"), 0);
	T_EQ_INT(store_user_create("example.com", "alice"), -1);
}

static void
test_open(void)
{
	char err[512], want[PATH_MAX + 64], path[PATH_MAX + 8];
	struct stat st;

	/* parents are created, mode 0700 */
	err[0] = 'X';
	T_EQ_INT(store_open(root, err, sizeof err), 0);
	T_EQ_STR(err, "");
	T_EQ_STR(store_root(), root);
	T_EXPECT(stat(root, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700, "data_path mode %o", st.st_mode);
	mkpath(path, sizeof path, "%s/.lock", root);
	T_EXPECT(stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 0777) == 0600, "lock file missing or mode %o",
	    st.st_mode);

	/* a second open in this same process is refused, the first kept */
	mkpath(want, sizeof want, "another xmppd is running on %s "
	    "(lock held)", root);
	T_EQ_INT(store_open(root, err, sizeof err), -1);
	T_EQ_STR(err, want);
	T_EQ_STR(store_root(), root);
	/* a trailing slash names the same directory, and the same lock */
	mkpath(path, sizeof path, "%s/", root);
	mkpath(want, sizeof want, "another xmppd is running on %s "
	    "(lock held)", path);
	T_EQ_INT(store_open(path, err, sizeof err), -1);
	T_EQ_STR(err, want);
	store_close();
	T_EQ_INT(store_open(path, err, sizeof err), 0);
	T_EQ_STR(store_root(), root);

	/* bad data paths */
	T_EQ_INT(store_open("", err, sizeof err), -1);
	T_EQ_STR(err, "data_path is empty");
	T_EQ_INT(store_open(NULL, err, 0), -1);
	mkpath(path, sizeof path, "%s/plainfile", tdir);
	put_file(path, "x");
	T_EQ_INT(store_open(path, err, sizeof err), -1);
	mkpath(want, sizeof want, "%s is not a directory", path);
	T_EQ_STR(err, want);
	mkpath(path, sizeof path, "%s/plainfile/sub", tdir);
	T_EQ_INT(store_open(path, err, sizeof err), -1);
	T_EXPECT(strncmp(err, "cannot create ", 14) == 0, "err: %s", err);
	/* failed opens left the open store alone */
	T_EQ_STR(store_root(), root);
}

/* Exit status of a child that tries to take the store. */
static int
child_open(int lock, const char *expect_err)
{
	char err[512];
	pid_t pid;
	int status, r;

	fflush(NULL);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		r = lock ? store_open(root, err, sizeof err) :
		    store_open_nolock(root, err, sizeof err);
		if (expect_err == NULL)
			_exit(r == 0 ? 0 : 1);
		_exit(r == -1 && strcmp(err, expect_err) == 0 ? 0 : 2);
	}
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void
test_lock(void)
{
	char err[512], want[PATH_MAX + 64];

	T_EQ_STR(store_root(), root);
	mkpath(want, sizeof want, "another xmppd is running on %s "
	    "(lock held)", root);
	T_EQ_INT(child_open(1, want), 0);
	/* adduser & co. need no lock */
	T_EQ_INT(child_open(0, NULL), 0);
	/* released by store_close() */
	store_close();
	T_EQ_INT(child_open(1, NULL), 0);
	/* ... and by the child's death: we can take it again */
	T_EQ_INT(store_open(root, err, sizeof err), 0);
	T_EQ_INT(child_open(1, want), 0);
}

static void
test_paths(void)
{
	char buf[PATH_MAX], want[PATH_MAX + 64];
	char *big;
	size_t i;

	T_EQ_INT(store_user_dir("example.com", "alice", buf, sizeof buf), 0);
	mkpath(want, sizeof want, "%s/example.com/alice", root);
	T_EQ_STR(buf, want);
	T_EQ_INT(store_user_dir("[::1]", "..", buf, sizeof buf), 0);
	mkpath(want, sizeof want, "%s/%%5B%%3A%%3A1%%5D/%%2E.", root);
	T_EQ_STR(buf, want);
	T_EQ_INT(store_path("example.com", "a/b", "offline/0000001", buf,
	    sizeof buf), 0);
	mkpath(want, sizeof want, "%s/example.com/a%%2Fb/offline/0000001",
	    root);
	T_EQ_STR(buf, want);

	/* too small an output buffer: one byte short, then exact */
	mkpath(want, sizeof want, "%s/example.com/alice", root);
	T_EQ_INT(store_user_dir("example.com", "alice", buf, strlen(want) + 1),
	    0);
	T_EQ_STR(buf, want);
	T_EQ_INT(store_user_dir("example.com", "alice", buf, strlen(want)), -1);
	T_EQ_INT(errno, ENAMETOOLONG);
	T_EQ_STR(buf, "");

	/* names from server code are still checked */
	static const char *const bad[] = {
		"", "/", "/etc/passwd", "a//b", "a/", ".", "..", ".x",
		"a/../b", "a/./b", "a/.hidden", "../x", "x.tmp.1",
		"a.tmp.b/c", "roster.tmp.",
	};
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		T_EXPECT(store_path("example.com", "alice", bad[i], buf,
		    sizeof buf) == -1, "name \"%s\" accepted", bad[i]);
		T_EXPECT(errno == EINVAL, "name \"%s\": errno %d", bad[i],
		    errno);
	}
	T_EQ_INT(store_path("example.com", "alice", NULL, buf, sizeof buf),
	    -1);
	T_EQ_INT(store_path("example.com", "", "roster", buf, sizeof buf),
	    -1);
	T_EQ_INT(store_path("", "alice", "roster", buf, sizeof buf), -1);
	T_EQ_INT(store_path("example.com", "alice", "a.tmp", buf,
	    sizeof buf), 0);

	/* a component over NAME_MAX; a whole path over PATH_MAX */
	big = repeat('n', 256);
	T_EQ_INT(store_path("example.com", "alice", big, buf, sizeof buf), -1);
	big[255] = '\0';
	T_EQ_INT(store_path("example.com", "alice", big, buf, sizeof buf), 0);
	free(big);
	big = repeat('d', PATH_MAX);
	for (i = 100; i < PATH_MAX; i += 101)
		big[i] = '/';
	T_EQ_INT(store_path("example.com", "alice", big, buf, sizeof buf), -1);
	T_EQ_INT(errno, ENAMETOOLONG);
	T_EQ_INT(store_write("example.com", "alice", big, "x", 1), -1);
	T_EQ_INT(errno, ENAMETOOLONG);
	free(big);
	/* a localpart whose escaped form is over 255 bytes */
	big = repeat('A', 100);
	T_EQ_INT(store_user_dir("example.com", big, buf, sizeof buf), -1);
	T_EQ_INT(errno, ENAMETOOLONG);
	T_EQ_INT(store_user_create("example.com", big), -1);
	free(big);
}

static void
test_rw(void)
{
	static const char bin[] = "line\n\0<x a='1'/>\xff\x00end";
	char path[PATH_MAX], dir[PATH_MAX];
	char *data = NULL, *big;
	struct stat st;
	ssize_t n;
	size_t bigsz = 1024 * 1024 + 17, i;

	/* writing never creates an account (a deleted one stays deleted) */
	T_EQ_INT(store_write("example.com", "bob", "roster", bin,
	    sizeof bin - 1), -1);
	T_EQ_INT(errno, ENOENT);
	T_EQ_INT(store_user_exists("example.com", "bob"), 0);
	/* the host's own area is made on demand */
	T_EQ_INT(store_write("example.com", NULL, "motd", "hi", 2), 0);
	T_EQ_INT(store_user_exists("example.com", "bob"), 0);
	for (i = 0; i < 4; i++) {
		static const char *const acct[][2] = {
			{ "example.com", "alice" }, { "example.com", "bob" },
			{ "example.com", "carol" }, { "example.com", "dave" },
		};
		T_EQ_INT(store_user_create(acct[i][0], acct[i][1]), 0);
	}
	/* account directories are 0700, files in them 0600 */
	T_EQ_INT(store_write("example.com", "bob", "roster", bin,
	    sizeof bin - 1), 0);
	T_EQ_INT(store_user_exists("example.com", "bob"), 1);
	store_user_dir("example.com", "bob", dir, sizeof dir);
	T_EXPECT(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700,
	    "account dir mode %o", st.st_mode);
	store_path("example.com", "bob", "roster", path, sizeof path);
	T_EXPECT(stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 0777) == 0600, "file mode %o", st.st_mode);

	n = store_read("example.com", "bob", "roster", 1000, &data);
	T_EQ_INT(n, sizeof bin - 1);
	T_EXPECT(data != NULL && memcmp(data, bin, sizeof bin - 1) == 0 &&
	    data[n] == '\0', "content differs");
	free(data);

	/* replace with something shorter: no old bytes remain */
	T_EQ_INT(store_write("example.com", "bob", "roster", "new", 3), 0);
	n = store_read("example.com", "bob", "roster", 1000, &data);
	T_EQ_INT(n, 3);
	T_EQ_STR(data, "new");
	free(data);

	/* empty file; NULL data only with length 0 */
	T_EQ_INT(store_write("example.com", "bob", "empty", NULL, 0), 0);
	n = store_read("example.com", "bob", "empty", 0, &data);
	T_EQ_INT(n, 0);
	T_EQ_STR(data, "");
	free(data);
	T_EQ_INT(store_write("example.com", "bob", "empty", NULL, 1), -1);
	T_EQ_INT(errno, EINVAL);

	/* bounds: max is the largest size accepted */
	data = (char *)"junk";
	T_EQ_INT(store_read("example.com", "bob", "roster", 2, &data), -1);
	T_EQ_INT(errno, EFBIG);
	T_EXPECT(data == NULL, "*out set on EFBIG");
	n = store_read("example.com", "bob", "roster", 3, &data);
	T_EQ_INT(n, 3);
	free(data);

	/* missing file, missing account, directory, link */
	data = (char *)"junk";
	T_EQ_INT(store_read("example.com", "bob", "vcard", 100, &data), -1);
	T_EQ_INT(errno, ENOENT);
	T_EXPECT(data == NULL, "*out set on ENOENT");
	T_EQ_INT(store_read("example.com", "nobody", "vcard", 100, &data), -1);
	T_EQ_INT(errno, ENOENT);
	T_EQ_INT(store_read("example.org", "bob", "vcard", 100, &data), -1);
	T_EQ_INT(errno, ENOENT);
	T_EQ_INT(store_write("example.com", "bob", "sub/file", "x", 1), 0);
	T_EQ_INT(store_read("example.com", "bob", "sub", 100, &data), -1);
	T_EQ_INT(errno, EISDIR);
	mkpath(path, sizeof path, "%s/link", dir);
	T_EQ_INT(symlink("roster", path), 0);
	T_EQ_INT(store_read("example.com", "bob", "link", 100, &data), -1);
	T_EQ_INT(errno, ELOOP);
	T_EQ_INT(store_read("example.com", "bob", "roster", 100, NULL), -1);

	/* nested names create their directories */
	T_EQ_INT(store_write("example.com", "bob", "pep/urn%3Axmpp/items/1",
	    "<item/>", 7), 0);
	n = store_read("example.com", "bob", "pep/urn%3Axmpp/items/1", 100,
	    &data);
	T_EQ_INT(n, 7);
	T_EQ_STR(data, "<item/>");
	free(data);
	mkpath(path, sizeof path, "%s/pep/urn%%3Axmpp", dir);
	T_EXPECT(stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700, "subdir mode %o", st.st_mode);

	/* a big file: the write and read loops */
	big = malloc(bigsz);
	if (big == NULL)
		abort();
	for (i = 0; i < bigsz; i++)
		big[i] = (char)(i * 7 + i / 251);
	T_EQ_INT(store_write("example.com", "bob", "big", big, bigsz), 0);
	n = store_read("example.com", "bob", "big", bigsz, &data);
	T_EQ_INT(n, bigsz);
	T_EXPECT(data != NULL && memcmp(data, big, bigsz) == 0,
	    "big content differs");
	free(data);
	T_EQ_INT(store_read("example.com", "bob", "big", bigsz - 1, &data),
	    -1);
	T_EQ_INT(errno, EFBIG);
	free(big);

	/* store_remove: present, absent, bad name */
	T_EQ_INT(store_remove("example.com", "bob", "big"), 0);
	T_EQ_INT(store_read("example.com", "bob", "big", bigsz, &data), -1);
	T_EQ_INT(errno, ENOENT);
	T_EQ_INT(store_remove("example.com", "bob", "big"), 0);
	T_EQ_INT(store_remove("example.com", "nobody", "big"), 0);
	T_EQ_INT(store_remove("example.com", "bob", "../bob/roster"), -1);
	T_EQ_INT(errno, EINVAL);
	T_EQ_INT(store_remove("example.com", "bob", "sub"), -1);
	T_EQ_INT(count_tmp(), 0);
}

static void
test_atomic(void)
{
	char path[PATH_MAX], dir[PATH_MAX];
	char *data;
	ssize_t n;

	T_EQ_INT(store_write("example.com", "carol", "roster", "old", 3), 0);
	store_user_dir("example.com", "carol", dir, sizeof dir);

#ifdef XMPPD_TEST
	/* fail after the temp file is written, just before the rename */
	store_test_fail_rename = 1;
	errno = 0;
	T_EQ_INT(store_write("example.com", "carol", "roster", "new!", 4), -1);
	T_EQ_INT(errno, EIO);
	T_EQ_INT(store_write("example.com", "carol", "fresh", "x", 1), -1);
	store_test_fail_rename = 0;
	n = store_read("example.com", "carol", "roster", 100, &data);
	T_EQ_INT(n, 3);
	T_EQ_STR(data, "old");
	free(data);
	T_EQ_INT(store_read("example.com", "carol", "fresh", 100, &data), -1);
	T_EQ_INT(errno, ENOENT);
	T_EQ_INT(count_tmp(), 0);
#else
	/* without the hook: a read-only directory, unless we are root */
	if (geteuid() != 0) {
		chmod(dir, 0500);
		T_EQ_INT(store_write("example.com", "carol", "roster", "new!",
		    4), -1);
		chmod(dir, 0700);
		n = store_read("example.com", "carol", "roster", 100, &data);
		T_EQ_INT(n, 3);
		T_EQ_STR(data, "old");
		free(data);
		T_EQ_INT(count_tmp(), 0);
	}
#endif

	/* the rename itself fails: the target is a directory */
	T_EQ_INT(store_write("example.com", "carol", "offline/1", "m", 1), 0);
	T_EQ_INT(store_write("example.com", "carol", "offline", "x", 1), -1);
	T_EQ_INT(count_tmp(), 0);
	n = store_read("example.com", "carol", "offline/1", 100, &data);
	T_EQ_INT(n, 1);
	free(data);

	/* a stale temp file of a dead process with our pid is replaced */
	mkpath(path, sizeof path, "%s/roster.tmp.%ld", dir, (long)getpid());
	put_file(path, "stale");
	T_EQ_INT(store_write("example.com", "carol", "roster", "newer", 5), 0);
	T_EXPECT(!path_exists(path), "stale temp file left");
	n = store_read("example.com", "carol", "roster", 100, &data);
	T_EQ_INT(n, 5);
	T_EQ_STR(data, "newer");
	free(data);
	T_EQ_INT(count_tmp(), 0);
}

struct collect {
	char	buf[512];
	int	calls;
	int	stop_at;	/* return 1 on this call; 0: never */
};

static int
collect_fn(const char *name, void *arg)
{
	struct collect *c = arg;
	size_t len = strlen(c->buf);

	(void)snprintf(c->buf + len, sizeof c->buf - len, "%s%s",
	    len > 0 ? "," : "", name);
	c->calls++;
	return c->calls == c->stop_at;
}

static int
remove_fn(const char *name, void *arg)
{
	char path[PATH_MAX];

	mkpath(path, sizeof path, "offline/%s", name);
	T_EQ_INT(store_remove("example.com", "dave", path), 0);
	return collect_fn(name, arg);
}

static void
test_list(void)
{
	struct collect c;
	char path[PATH_MAX], dir[PATH_MAX];
	ssize_t n;

	T_EQ_INT(store_write("example.com", "dave", "offline/0000010", "a", 1),
	    0);
	T_EQ_INT(store_write("example.com", "dave", "offline/0000002", "a", 1),
	    0);
	T_EQ_INT(store_write("example.com", "dave", "offline/0000001", "a", 1),
	    0);
	T_EQ_INT(store_write("example.com", "dave", "offline/B", "a", 1), 0);
	T_EQ_INT(store_write("example.com", "dave", "offline/a", "a", 1), 0);
	T_EQ_INT(store_write("example.com", "dave", "offline/%C3%A9", "a", 1),
	    0);
	T_EQ_INT(store_write("example.com", "dave", "offline/sub/x", "a", 1),
	    0);
	store_user_dir("example.com", "dave", dir, sizeof dir);
	/* temp files, dot files, directories and links are not listed */
	mkpath(path, sizeof path, "%s/offline/0000003.tmp.4242", dir);
	put_file(path, "partial");
	mkpath(path, sizeof path, "%s/offline/.hidden", dir);
	put_file(path, "h");
	mkpath(path, sizeof path, "%s/offline/zlink", dir);
	T_EQ_INT(symlink("a", path), 0);

	memset(&c, 0, sizeof c);
	n = store_list("example.com", "dave", "offline", collect_fn, &c);
	T_EQ_INT(n, 6);
	T_EQ_STR(c.buf, "%C3%A9,0000001,0000002,0000010,B,a");

	/* fn stops the walk: the count includes the call that stopped it */
	memset(&c, 0, sizeof c);
	c.stop_at = 2;
	n = store_list("example.com", "dave", "offline", collect_fn, &c);
	T_EQ_INT(n, 2);
	T_EQ_STR(c.buf, "%C3%A9,0000001");

	/* the account directory itself, a nested one, missing ones */
	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list("example.com", "dave", NULL, collect_fn, &c), 0);
	T_EQ_INT(store_write("example.com", "dave", "vcard", "v", 1), 0);
	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list("example.com", "dave", "", collect_fn, &c), 1);
	T_EQ_STR(c.buf, "vcard");
	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list("example.com", "dave", "offline/sub", collect_fn,
	    &c), 1);
	T_EQ_STR(c.buf, "x");
	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list("example.com", "dave", "archive", collect_fn, &c),
	    0);
	T_EQ_INT(store_list("example.com", "nobody", "offline", collect_fn,
	    &c), 0);
	T_EQ_INT(store_list("example.net", "dave", NULL, collect_fn, &c), 0);
	T_EQ_INT(c.calls, 0);
	T_EQ_INT(store_list("example.com", "dave", "../eve", collect_fn, &c),
	    -1);
	T_EQ_INT(errno, EINVAL);
	T_EQ_INT(store_list("example.com", "dave", "offline", NULL, NULL), -1);
	/* a file where a directory is wanted */
	T_EQ_INT(store_list("example.com", "dave", "offline/a", collect_fn,
	    &c), -1);
	T_EQ_INT(errno, ENOTDIR);

	/* fn may remove what it is shown, as offline delivery does */
	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list("example.com", "dave", "offline", remove_fn, &c),
	    6);
	T_EQ_STR(c.buf, "%C3%A9,0000001,0000002,0000010,B,a");
	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list("example.com", "dave", "offline", collect_fn, &c),
	    0);
	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list("example.com", "dave", "offline/sub", collect_fn,
	    &c), 1);

	/* the planted temp file of "another process" is ours to clean */
	mkpath(path, sizeof path, "%s/offline/0000003.tmp.4242", dir);
	T_EQ_INT(unlink(path), 0);
}

static void
test_users(void)
{
	static const char *const locals[] = {
		"zo\xc3\xab", "bob", "..", "a/b", ".hidden", "alice", "x.tmp.y",
	};
	char hdir[PATH_MAX + 16], path[PATH_MAX + 32], outside[PATH_MAX];
	char udir[PATH_MAX];
	struct collect c;
	struct stat st;
	size_t i;
	int k;

	for (i = 0; i < sizeof locals / sizeof locals[0]; i++)
		T_EXPECT(store_user_create("users.example", locals[i]) == 0,
		    "create \"%s\" failed", locals[i]);
	T_EQ_INT(store_user_create("users.example", "bob"), -1);
	T_EQ_INT(errno, EEXIST);
	T_EQ_INT(store_user_exists("users.example", "bob"), 1);
	T_EQ_INT(store_user_exists("users.example", "Bob"), 0);
	T_EQ_INT(store_user_exists("users.example", "carol"), 0);
	T_EQ_INT(store_user_exists("other.example", "bob"), 0);
	T_EQ_INT(store_user_exists("users.example", ""), 0);

	/* entries that are not accounts: skipped */
	mkpath(hdir, sizeof hdir, "%s/users.example", root);
	mkpath(path, sizeof path, "%s/BAD", hdir);
	mkdir(path, 0700);
	mkpath(path, sizeof path, "%s/%%2e", hdir);
	mkdir(path, 0700);
	mkpath(path, sizeof path, "%s/%%00", hdir);
	mkdir(path, 0700);
	mkpath(path, sizeof path, "%s/.dot", hdir);
	mkdir(path, 0700);
	mkpath(path, sizeof path, "%s/plainfile", hdir);
	put_file(path, "x");
	mkpath(path, sizeof path, "%s/dirlink", hdir);
	T_EQ_INT(symlink("bob", path), 0);

	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list_users("users.example", collect_fn, &c), 7);
	T_EQ_STR(c.buf, "..,.hidden,a/b,alice,bob,x.tmp.y,zo\xc3\xab");
	memset(&c, 0, sizeof c);
	c.stop_at = 1;
	T_EQ_INT(store_list_users("users.example", collect_fn, &c), 1);
	T_EQ_STR(c.buf, "..");
	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list_users("none.example", collect_fn, &c), 0);
	T_EQ_INT(store_list_users("users.example", NULL, NULL), -1);
	T_EQ_INT(store_list_users("", collect_fn, &c), -1);

	/* a file where the host directory should be */
	mkpath(path, sizeof path, "%s/file.example", root);
	put_file(path, "x");
	T_EQ_INT(store_user_create("file.example", "bob"), -1);
	T_EQ_INT(errno, ENOTDIR);
	T_EQ_INT(store_write("file.example", "bob", "roster", "x", 1), -1);
	T_EQ_INT(errno, ENOTDIR);
	T_EQ_INT(store_user_exists("file.example", "bob"), 0);
	T_EQ_INT(unlink(path), 0);

	/* deletion: nested directories, links to outside, hard links */
	mkpath(outside, sizeof outside, "%s/outside", tdir);
	T_EQ_INT(mkdir(outside, 0700), 0);
	mkpath(path, sizeof path, "%s/secret", outside);
	put_file(path, "keep me");
	mkpath(path, sizeof path, "%s/dir", outside);
	T_EQ_INT(mkdir(path, 0700), 0);
	mkpath(path, sizeof path, "%s/dir/file", outside);
	put_file(path, "keep me too");

	T_EQ_INT(store_write("users.example", "alice", "roster", "r", 1), 0);
	T_EQ_INT(store_write("users.example", "alice", "pep/n1/items/1", "i",
	    1), 0);
	T_EQ_INT(store_write("users.example", "alice", "pep/n1/items/2", "i",
	    1), 0);
	T_EQ_INT(store_write("users.example", "alice", "offline/1", "m", 1),
	    0);
	store_user_dir("users.example", "alice", udir, sizeof udir);
	mkpath(path, sizeof path, "%s/link-file", udir);
	mkpath(hdir, sizeof hdir, "%s/secret", outside);
	T_EQ_INT(symlink(hdir, path), 0);
	mkpath(path, sizeof path, "%s/pep/link-dir", udir);
	mkpath(hdir, sizeof hdir, "%s/dir", outside);
	T_EQ_INT(symlink(hdir, path), 0);
	mkpath(path, sizeof path, "%s/offline/up", udir);
	T_EQ_INT(symlink("../../..", path), 0);
	mkpath(path, sizeof path, "%s/hard", udir);
	mkpath(hdir, sizeof hdir, "%s/secret", outside);
	T_EQ_INT(link(hdir, path), 0);
	mkpath(path, sizeof path, "%s/fifo", udir);
	T_EQ_INT(mkfifo(path, 0600), 0);

	T_EQ_INT(store_user_delete("users.example", "alice"), 0);
	T_EQ_INT(store_user_exists("users.example", "alice"), 0);
	T_EXPECT(!path_exists(udir), "account dir still there");
	mkpath(path, sizeof path, "%s/secret", outside);
	T_EXPECT(file_is(path, "keep me"), "link target outside removed");
	mkpath(path, sizeof path, "%s/dir/file", outside);
	T_EXPECT(file_is(path, "keep me too"), "dir outside emptied");
	T_EXPECT(stat(root, &st) == 0, "data_path removed");
	T_EQ_INT(store_user_exists("users.example", "bob"), 1);
	mkpath(path, sizeof path, "%s/users.example/bob", root);
	T_EXPECT(path_exists(path), "other account removed");
	memset(&c, 0, sizeof c);
	T_EQ_INT(store_list_users("users.example", collect_fn, &c), 6);
	T_EQ_STR(c.buf, "..,.hidden,a/b,bob,x.tmp.y,zo\xc3\xab");

	/* again: no such account */
	T_EQ_INT(store_user_delete("users.example", "alice"), -1);
	T_EQ_INT(errno, ENOENT);
	T_EQ_INT(store_user_delete("none.example", "alice"), -1);
	T_EQ_INT(errno, ENOENT);
	T_EQ_INT(store_user_delete("users.example", ""), -1);

	/* accounts whose names need escaping */
	T_EQ_INT(store_user_delete("users.example", ".."), 0);
	T_EQ_INT(store_user_exists("users.example", ".."), 0);
	T_EQ_INT(store_user_delete("users.example", "a/b"), 0);
	T_EQ_INT(store_user_exists("users.example", "a/b"), 0);
	T_EQ_INT(store_user_exists("users.example", "bob"), 1);

	/* an account that is itself a link: the link goes, not its target */
	mkpath(path, sizeof path, "%s/users.example/mallory", root);
	T_EQ_INT(symlink(outside, path), 0);
	T_EQ_INT(store_user_delete("users.example", "mallory"), 0);
	T_EXPECT(!path_exists(path), "account link left");
	mkpath(path, sizeof path, "%s/secret", outside);
	T_EXPECT(file_is(path, "keep me"), "target of account link removed");

	/* a tree deeper than any we make is refused, and left whole */
	mkpath(path, sizeof path, "%s/users.example/deep", root);
	T_EQ_INT(mkdir(path, 0700), 0);
	for (k = 0; k < 40; k++) {
		size_t len = strlen(path);

		mkpath(path + len, sizeof path - len, "/d");
		mkdir(path, 0700);
	}
	T_EQ_INT(store_user_delete("users.example", "deep"), -1);
	T_EQ_INT(errno, ELOOP);
	T_EQ_INT(store_user_exists("users.example", "deep"), 1);
	T_EQ_INT(count_tmp(), 0);
}

void
test_store(void)
{
	char err[256];

	mkpath(tdir, sizeof tdir, "%s", "/tmp/xmppd-test-store-XXXXXX");
	if (mkdtemp(tdir) == NULL) {
		T_EXPECT(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	mkpath(root, sizeof root, "%s/data/sub", tdir);

	test_escape();
	test_closed();
	test_open();
	test_lock();
	test_paths();
	test_rw();
	test_atomic();
	test_list();
	test_users();

	/* store_open_nolock replaces the locked store and its lock */
	T_EQ_INT(store_open_nolock(root, err, sizeof err), 0);
	T_EQ_INT(child_open(1, NULL), 0);
	store_close();
	T_EXPECT(store_root() == NULL, "store_root() after close");
	rm_rf(tdir);
}
