/*
 * util.h - small helpers every part of xmppd uses: checked allocation,
 * bounded byte buffers, base64, randomness, time, string copies.
 */
#ifndef XMPPD_UTIL_H
#define XMPPD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Allocation never returns NULL: memory use is bounded by the limits, so
 * running out is a bug or a misconfiguration, and we stop with fatal(). */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
void	 xfree_secret(void *, size_t);	/* wipe, then free */

/*
 * A growable byte buffer with a hard maximum chosen by its owner.
 * buf_add() refuses (returns -1) rather than grow past max.
 */
struct buf {
	char	*data;
	size_t	 len;		/* bytes in use */
	size_t	 off;		/* bytes already consumed from the front */
	size_t	 cap;		/* bytes allocated */
	size_t	 max;		/* hard limit on len - off */
};
void	 buf_init(struct buf *, size_t max);
void	 buf_free(struct buf *);
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_addstr(struct buf *, const char *);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Escape & < > " ' for XML text and attribute values. */
int	 buf_add_escaped(struct buf *, const char *, size_t);
size_t	 buf_used(const struct buf *);		/* len - off */
const char *buf_head(const struct buf *);	/* data + off */
void	 buf_consume(struct buf *, size_t);
void	 buf_reset(struct buf *);
/* Make the content a NUL-terminated string (not counted in len). */
const char *buf_cstr(struct buf *);

/* base64 (RFC 4648, with padding).  Return the output length, or -1. */
ssize_t	 b64_encode(const void *, size_t, char *out, size_t outlen);
ssize_t	 b64_decode(const char *, size_t, void *out, size_t outlen);
#define B64_LEN(n)	((((n) + 2) / 3) * 4)

void	 random_bytes(void *, size_t);		/* fatal() if the OS has none */
int	 ct_equal(const void *, const void *, size_t);	/* constant time */

/* Monotonic milliseconds, and wall-clock seconds. */
int64_t	 now_ms(void);
int64_t	 wall_time(void);
/* "2026-11-25T17:55:50Z" (XEP-0082), out must hold 21 bytes. */
void	 format_xep82(int64_t t, char *out, size_t outlen);
/*
 * A XEP-0082 DateTime, CCYY-MM-DDThh:mm:ss[.sss]TZD, to microseconds
 * since 1970: 0, or -1 if s is NULL or not one.  *whole_second is set
 * when s has no fraction (a range ending there covers that second).
 */
int	 parse_xep82(const char *s, int64_t *out, int *whole_second);
/* Decimal digits only, min <= value <= max: 0, else -1 (also on "",
 * NULL, signs, spaces and overflow). */
int	 parse_ulong(const char *s, unsigned long min, unsigned long max,
	    unsigned long *out);

/* Copy with truncation check: 0 if it fit, -1 if it did not. */
int	 strlcpy_ok(char *dst, const char *src, size_t dstsize);
int	 str_has_suffix(const char *, const char *);
/* Valid UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF)? */
int	 utf8_is_valid(const char *, size_t);

#endif
