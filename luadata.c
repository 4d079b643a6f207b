/*
 * luadata.c - the strict Lua data reader (see luadata.h).
 *
 * A recursive-descent parser over the whole buffer.  Every value lives in
 * one arena freed with the document.  Table entries are collected on a
 * scratch stack shared by all tables (a table's entries are contiguous on
 * it while the table is open) and copied into the arena when the table
 * closes, so a table costs exactly one array.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "luadata.h"
#include "util.h"

#define ARENA_CHUNK	((size_t)64 * 1024)
#define ARENA_ALIGN	((size_t)16)
#define NUMERAL_MAX	64	/* bytes of a numeral; ours are shorter */

struct chunk {
	struct chunk	*next;
	size_t		 size, used;
	/* the bytes follow, aligned */
};

struct lua_doc {
	struct chunk	*chunks;
	struct lua_value *values;
	size_t		 nvalues;
};

struct parser {
	const char		*p, *end;
	unsigned		 line;
	unsigned		 depth;
	size_t			 nvalues;
	const struct lua_limits	*lim;
	struct lua_doc		*doc;
	struct lua_field	*stack;	/* open tables' entries */
	size_t			 sp, scap;
	char			*sbuf;	/* a string being unescaped */
	size_t			 slen, scap_s;
	char			*err;
	size_t			 errlen;
	unsigned		 errline;
	int			 failed;
};

/* ---- the arena ---- */

static size_t
chunk_hdr(void)
{
	return (sizeof(struct chunk) + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

static void *
arena_alloc(struct lua_doc *d, size_t n)
{
	struct chunk *c = d->chunks;
	size_t need, size;
	char *p;

	if (n > SIZE_MAX - ARENA_ALIGN)
		fatalx("luadata: allocation of %zu bytes", n);
	need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	if (c == NULL || c->size - c->used < need) {
		size = ARENA_CHUNK - chunk_hdr();
		if (need > size)
			size = need;
		if (size > SIZE_MAX - chunk_hdr())
			fatalx("luadata: allocation of %zu bytes", n);
		c = xmalloc(chunk_hdr() + size);
		c->size = size;
		c->used = 0;
		c->next = d->chunks;
		d->chunks = c;
	}
	p = (char *)c + chunk_hdr() + c->used;
	c->used += need;
	return p;
}

void
lua_doc_free(struct lua_doc *d)
{
	struct chunk *c, *next;

	if (d == NULL)
		return;
	for (c = d->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(d->values);
	free(d);
}

/* ---- errors ---- */

static int fail(struct parser *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	if (ps->failed)
		return -1;	/* the first error is the one that matters */
	ps->failed = 1;
	ps->errline = ps->line;
	if (ps->err != NULL && ps->errlen > 0) {
		va_start(ap, fmt);
		/* A cut message is still a message. */
		(void)vsnprintf(ps->err, ps->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* What is at p, for messages: a quoted character or "end of file". */
static const char *
here(const struct parser *ps, char *buf, size_t len)
{
	unsigned char c;

	if (ps->p >= ps->end)
		return "end of file";
	c = (unsigned char)*ps->p;
	if (c >= 0x21 && c < 0x7f)
		snprintf(buf, len, "'%c'", c);
	else
		snprintf(buf, len, "byte 0x%02x", c);
	return buf;
}

static int
unexpected(struct parser *ps, const char *wanted)
{
	char b[16];

	return fail(ps, "expected %s, found %s", wanted, here(ps, b, sizeof b));
}

/* ---- characters ---- */

static int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
hex_val(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c - 'A' + 10;
}

static int
is_name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
is_name_char(int c)
{
	return is_name_start(c) || is_digit(c);
}

static int
peek(const struct parser *ps, size_t off)
{
	if ((size_t)(ps->end - ps->p) <= off)
		return -1;
	return (unsigned char)ps->p[off];
}

/*
 * Step over one newline sequence at p ("\n", "\r", "\r\n" or "\n\r", as
 * Lua counts them) and count it.
 */
static void
newline(struct parser *ps)
{
	int c = peek(ps, 0), d = peek(ps, 1);

	ps->p++;
	if ((d == '\n' || d == '\r') && d != c)
		ps->p++;
	ps->line++;
}

/*
 * A long bracket at p: '[' '='* '['.  Returns its level (number of '='),
 * or -1 if p does not open one.
 */
static int
long_bracket_level(const struct parser *ps)
{
	size_t i = 1;

	if (peek(ps, 0) != '[')
		return -1;
	while (peek(ps, i) == '=')
		i++;
	if (peek(ps, i) != '[')
		return -1;
	return (int)(i - 1);
}

/* ---- the string scratch buffer ---- */

static void
sbuf_add(struct parser *ps, const char *s, size_t n)
{
	size_t cap;

	if (n > ps->scap_s - ps->slen) {
		if (ps->slen > SIZE_MAX - n - 1)
			fatalx("luadata: string too long");
		cap = ps->scap_s ? ps->scap_s : 256;
		while (cap - ps->slen < n + 1) {
			if (cap > SIZE_MAX / 2)
				fatalx("luadata: string too long");
			cap *= 2;
		}
		ps->sbuf = xrealloc(ps->sbuf, cap);
		ps->scap_s = cap;
	}
	memcpy(ps->sbuf + ps->slen, s, n);
	ps->slen += n;
}

static void
sbuf_byte(struct parser *ps, int c)
{
	char ch = (char)c;

	sbuf_add(ps, &ch, 1);
}

static void
string_value(struct parser *ps, struct lua_value *v)
{
	char *s = arena_alloc(ps->doc, ps->slen + 1);

	if (ps->slen > 0)
		memcpy(s, ps->sbuf, ps->slen);
	s[ps->slen] = '\0';
	v->type = LUA_T_STRING;
	v->str = s;
	v->len = ps->slen;
}

/* ---- whitespace and comments ---- */

static int skip_long(struct parser *, int level, int keep);

static int
skip_ws(struct parser *ps)
{
	int level;

	for (;;) {
		int c = peek(ps, 0);

		if (c == '\n' || c == '\r')
			newline(ps);
		else if (is_space(c))
			ps->p++;
		else if (c == '-' && peek(ps, 1) == '-') {
			ps->p += 2;
			if ((level = long_bracket_level(ps)) >= 0) {
				if (skip_long(ps, level, 0) == -1)
					return -1;
				continue;
			}
			while (ps->p < ps->end && *ps->p != '\n' &&
			    *ps->p != '\r')
				ps->p++;
		} else
			return 0;
	}
}

/*
 * The body of a long bracket at p (the opening '[' '='* '[' included): a
 * long string (keep: its bytes go to the scratch buffer) or a long
 * comment.  A newline right after the opening is not part of it, and
 * every newline sequence inside becomes "\n", as in Lua.
 */
static int
skip_long(struct parser *ps, int level, int keep)
{
	unsigned start = ps->line;
	int c, i;

	ps->p += (size_t)level + 2;
	if (peek(ps, 0) == '\n' || peek(ps, 0) == '\r')
		newline(ps);
	for (;;) {
		c = peek(ps, 0);
		if (c == -1) {
			ps->line = start;
			return fail(ps, "unfinished long %s", keep ? "string" :
			    "comment");
		}
		if (c == ']') {
			for (i = 0; i < level &&
			    peek(ps, 1 + (size_t)i) == '='; i++)
				;
			if (i == level && peek(ps, 1 + (size_t)level) == ']') {
				ps->p += (size_t)level + 2;
				return 0;
			}
		}
		if (c == '\n' || c == '\r') {
			newline(ps);
			if (keep)
				sbuf_byte(ps, '\n');
			continue;
		}
		if (keep)
			sbuf_byte(ps, c);
		ps->p++;
	}
}

/* ---- strings ---- */

/* Encode code point u as UTF-8 into the scratch buffer. */
static void
utf8_put(struct parser *ps, uint32_t u)
{
	char b[4];
	size_t n;

	if (u < 0x80) {
		b[0] = (char)u;
		n = 1;
	} else if (u < 0x800) {
		b[0] = (char)(0xc0 | (u >> 6));
		b[1] = (char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		b[0] = (char)(0xe0 | (u >> 12));
		b[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		b[2] = (char)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (u >> 18));
		b[1] = (char)(0x80 | ((u >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((u >> 6) & 0x3f));
		b[3] = (char)(0x80 | (u & 0x3f));
		n = 4;
	}
	sbuf_add(ps, b, n);
}

/* One escape sequence; p is on the character after the backslash. */
static int
escape(struct parser *ps)
{
	static const char simple[] = "abfnrtv\\\"'";
	static const char value[] = "\a\b\f\n\r\t\v\\\"'";
	const char *s;
	int c = peek(ps, 0), n, d;
	uint32_t u;

	if (c == -1)
		return fail(ps, "unfinished string");
	if (c != '\0' && (s = strchr(simple, c)) != NULL) {
		sbuf_byte(ps, value[s - simple]);
		ps->p++;
		return 0;
	}
	if (c == '\n' || c == '\r') {
		/* A backslash before a line break keeps the line break. */
		newline(ps);
		sbuf_byte(ps, '\n');
		return 0;
	}
	if (c == 'x') {
		if (!is_hex(peek(ps, 1)) || !is_hex(peek(ps, 2)))
			return fail(ps, "\\x needs two hexadecimal digits");
		sbuf_byte(ps, hex_val(peek(ps, 1)) * 16 + hex_val(peek(ps, 2)));
		ps->p += 3;
		return 0;
	}
	if (c == 'z') {
		ps->p++;
		while (is_space(peek(ps, 0))) {
			if (peek(ps, 0) == '\n' || peek(ps, 0) == '\r')
				newline(ps);
			else
				ps->p++;
		}
		return 0;
	}
	if (is_digit(c)) {
		for (n = 0, d = 0; n < 3 && is_digit(peek(ps, 0)); n++) {
			d = d * 10 + (peek(ps, 0) - '0');
			ps->p++;
		}
		if (d > 255)
			return fail(ps, "decimal escape \\%d is larger than "
			    "255", d);
		sbuf_byte(ps, d);
		return 0;
	}
	if (c == 'u') {
		if (peek(ps, 1) != '{' || !is_hex(peek(ps, 2)))
			return fail(ps, "\\u needs {hexadecimal digits}");
		ps->p += 2;
		for (u = 0; is_hex(peek(ps, 0)); ps->p++) {
			u = u * 16 + (uint32_t)hex_val(peek(ps, 0));
			if (u > 0x10ffff)
				return fail(ps, "\\u escape beyond U+10FFFF");
		}
		if (peek(ps, 0) != '}')
			return fail(ps, "\\u escape without its closing '}'");
		ps->p++;
		utf8_put(ps, u);
		return 0;
	}
	return fail(ps, "invalid escape sequence");
}

static int
short_string(struct parser *ps, struct lua_value *v)
{
	int quote = peek(ps, 0), c;
	unsigned start = ps->line;

	ps->p++;
	ps->slen = 0;
	for (;;) {
		c = peek(ps, 0);
		if (c == -1 || c == '\n' || c == '\r') {
			ps->line = start;
			return fail(ps, "unfinished string");
		}
		if (c == quote) {
			ps->p++;
			break;
		}
		if (c == '\\') {
			ps->p++;
			if (escape(ps) == -1)
				return -1;
			continue;
		}
		sbuf_byte(ps, c);
		ps->p++;
	}
	string_value(ps, v);
	return 0;
}

static int
long_string(struct parser *ps, int level, struct lua_value *v)
{
	ps->slen = 0;
	if (skip_long(ps, level, 1) == -1)
		return -1;
	string_value(ps, v);
	return 0;
}

/* ---- numbers ---- */

/*
 * A decimal numeral, digits with at most one '.' and an optional
 * exponent, as a double: 0, or -1 if malformed.  Not libc's strtod: its
 * exact float parser is 5 KB of a static binary, and Prosody's data only
 * holds timestamps and counts.
 */
static int
decimal_value(const char *s, double *out)
{
	uint64_t mant = 0;
	int exp10 = 0, any = 0, e = 0, eneg = 0, k;
	long double p = 1;

	for (; is_digit(*s); s++, any = 1)
		if (mant <= (UINT64_MAX - 9) / 10)
			mant = mant * 10 + (uint64_t)(*s - '0');
		else
			exp10++;		/* digits past what counts */
	if (*s == '.')
		for (s++; is_digit(*s); s++, any = 1)
			if (mant <= (UINT64_MAX - 9) / 10) {
				mant = mant * 10 + (uint64_t)(*s - '0');
				exp10--;
			}
	if (!any)
		return -1;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			eneg = *s++ == '-';
		if (!is_digit(*s))
			return -1;
		for (; is_digit(*s); s++)
			if (e < 100000)
				e = e * 10 + (*s - '0');
		exp10 += eneg ? -e : e;
	}
	if (*s != '\0')
		return -1;
	/* In long double (x87: 64-bit mantissa) the 19 digits and powers of
	 * ten to 10^27 are exact, so the one rounding to double at the end is
	 * almost always the right one. */
	for (k = exp10 < 0 ? -exp10 : exp10; k > 0 && p != INFINITY; k--)
		p = k > 5000 ? INFINITY : p * 10;
	*out = mant == 0 ? 0 : (double)(exp10 < 0 ? (long double)mant / p :
	    (long double)mant * p);
	return 0;
}

static int
numeral(struct parser *ps, int negative, struct lua_value *v)
{
	char buf[NUMERAL_MAX + 1];
	size_t n = 0;
	int hex = 0, isfloat = 0, c;
	uint64_t u = 0;
	double d;

	if (peek(ps, 0) == '0' && (peek(ps, 1) == 'x' || peek(ps, 1) == 'X')) {
		hex = 1;
		ps->p += 2;
	}
	for (;;) {
		c = peek(ps, 0);
		if (hex ? is_hex(c) : (is_digit(c) || c == '.')) {
			/* fine */
		} else if (!hex && (c == 'e' || c == 'E')) {
			isfloat = 1;
			if (n >= NUMERAL_MAX)
				return fail(ps, "numeral too long");
			buf[n++] = (char)c;
			ps->p++;
			c = peek(ps, 0);
			if (c != '+' && c != '-')
				continue;
		} else
			break;
		if (c == '.')
			isfloat = 1;
		if (n >= NUMERAL_MAX)
			return fail(ps, "numeral too long");
		buf[n++] = (char)c;
		ps->p++;
	}
	buf[n] = '\0';
	if (n == 0 || is_name_char(peek(ps, 0)) || peek(ps, 0) == '.')
		return fail(ps, "malformed number");
	v->type = LUA_T_NUMBER;
	if (hex) {
		/* Hexadecimal integers wrap around, as in Lua. */
		for (size_t i = 0; i < n; i++)
			u = u * 16 + (uint64_t)hex_val(buf[i]);
		v->is_integer = 1;
		v->integer = (int64_t)(negative ? 0 - u : u);
		v->number = (double)v->integer;
		return 0;
	}
	if (!isfloat) {
		for (size_t i = 0; i < n; i++) {
			unsigned dg = (unsigned)(buf[i] - '0');
			if (u > (UINT64_MAX - dg) / 10) {
				isfloat = 1;	/* Lua: a float then */
				break;
			}
			u = u * 10 + dg;
		}
		if (!isfloat && u <= (uint64_t)INT64_MAX) {
			v->is_integer = 1;
			v->integer = negative ? -(int64_t)u : (int64_t)u;
			v->number = (double)v->integer;
			return 0;
		}
		if (!isfloat && negative && u == (uint64_t)INT64_MAX + 1) {
			v->is_integer = 1;
			v->integer = INT64_MIN;
			v->number = (double)v->integer;
			return 0;
		}
	}
	/* Only digits, '.', e and signs got here: decimal_value() checks
	 * the order. */
	if (decimal_value(buf, &d) == -1)
		return fail(ps, "malformed number");
	v->is_integer = 0;
	v->number = negative ? -d : d;
	return 0;
}

/* (1/0), (-1/0) and (0/0): what Prosody writes for inf, -inf and NaN. */
static int
special_number(struct parser *ps, struct lua_value *v)
{
	static const struct {
		const char	*text;
		int		 kind;
	} forms[] = { { "(1/0)", 1 }, { "(-1/0)", -1 }, { "(0/0)", 0 } };
	size_t i, n;

	for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		n = strlen(forms[i].text);
		if ((size_t)(ps->end - ps->p) >= n &&
		    memcmp(ps->p, forms[i].text, n) == 0) {
			ps->p += n;
			v->type = LUA_T_NUMBER;
			v->is_integer = 0;
			v->number = forms[i].kind == 0 ? NAN :
			    forms[i].kind > 0 ? INFINITY : -INFINITY;
			return 0;
		}
	}
	return fail(ps, "expressions are not data (only (1/0), (-1/0) and "
	    "(0/0) are understood)");
}

/* ---- values and tables ---- */

static int value(struct parser *, struct lua_value *);

static int
count_value(struct parser *ps)
{
	if (++ps->nvalues > ps->lim->max_values)
		return fail(ps, "more than %zu values", ps->lim->max_values);
	return 0;
}

/* Length of the name at p (0 if none). */
static size_t
name_len(const struct parser *ps)
{
	size_t n = 0;

	if (!is_name_start(peek(ps, 0)))
		return 0;
	while (is_name_char(peek(ps, n)))
		n++;
	return n;
}

static int
name_is(const struct parser *ps, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(ps->p, word, n) == 0;
}

static int
is_keyword(const char *s, size_t n)
{
	static const char *const words[] = {
		"and", "break", "do", "else", "elseif", "end", "false", "for",
		"function", "goto", "if", "in", "local", "nil", "not", "or",
		"repeat", "return", "then", "true", "until", "while", NULL
	};

	for (const char *const *w = words; *w; w++)
		if (strlen(*w) == n && memcmp(s, *w, n) == 0)
			return 1;
	return 0;
}

static void
push_field(struct parser *ps, const struct lua_value *k,
    const struct lua_value *v)
{
	if (ps->sp == ps->scap) {
		size_t cap = ps->scap ? ps->scap * 2 : 64;
		if (cap > SIZE_MAX / sizeof *ps->stack)
			fatalx("luadata: too many entries");
		ps->stack = xrealloc(ps->stack, cap * sizeof *ps->stack);
		ps->scap = cap;
	}
	ps->stack[ps->sp].key = *k;
	ps->stack[ps->sp].value = *v;
	ps->sp++;
}

/* Order keys for the duplicate check: by type, then by value. */
static int
key_cmp(const void *a, const void *b)
{
	const struct lua_value *x = &(*(const struct lua_field *const *)a)->key;
	const struct lua_value *y = &(*(const struct lua_field *const *)b)->key;
	int r;

	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	switch (x->type) {
	case LUA_T_BOOLEAN:
		return x->boolean - y->boolean;
	case LUA_T_NUMBER:
		if (x->is_integer && y->is_integer)
			return x->integer < y->integer ? -1 :
			    x->integer > y->integer;
		/* An integer and a float are never equal: see fix_key(). */
		if (x->is_integer != y->is_integer)
			return x->is_integer ? -1 : 1;
		return x->number < y->number ? -1 : x->number > y->number;
	case LUA_T_STRING:
		r = memcmp(x->str, y->str, x->len < y->len ? x->len : y->len);
		if (r != 0)
			return r;
		return x->len < y->len ? -1 : x->len > y->len;
	default:
		return 0;
	}
}

/* A float key with an integer value is that integer, as in Lua. */
static int
fix_key(struct parser *ps, struct lua_value *k)
{
	if (k->type == LUA_T_NIL)
		return fail(ps, "nil cannot be a table key");
	if (k->type == LUA_T_TABLE)
		return fail(ps, "a table cannot be a table key here");
	if (k->type == LUA_T_NUMBER && !k->is_integer) {
		if (isnan(k->number))
			return fail(ps, "NaN cannot be a table key");
		if (k->number >= -9223372036854775808.0 &&
		    k->number < 9223372036854775808.0 &&
		    k->number == (double)(int64_t)k->number) {
			k->is_integer = 1;
			k->integer = (int64_t)k->number;
		}
	}
	return 0;
}

/* Entries [from, sp) of the stack become table t's; keys must differ. */
static int
close_table(struct parser *ps, size_t from, struct lua_value *t)
{
	size_t n = ps->sp - from, i;
	struct lua_field **order;
	int dup = -1;

	t->type = LUA_T_TABLE;
	t->nfields = n;
	t->fields = NULL;
	if (n == 0)
		return 0;
	if (n > SIZE_MAX / sizeof *t->fields)
		fatalx("luadata: table too large");
	t->fields = arena_alloc(ps->doc, n * sizeof *t->fields);
	memcpy(t->fields, ps->stack + from, n * sizeof *t->fields);
	ps->sp = from;
	if (n == 1)
		return 0;
	order = xcalloc(n, sizeof *order);
	for (i = 0; i < n; i++)
		order[i] = &t->fields[i];
	qsort(order, n, sizeof *order, key_cmp);
	for (i = 1; i < n && dup < 0; i++)
		if (key_cmp(&order[i - 1], &order[i]) == 0)
			dup = (int)(order[i] > order[i - 1] ?
			    order[i] - t->fields : order[i - 1] - t->fields);
	if (dup >= 0) {
		const struct lua_value *k = &t->fields[dup].key;
		ps->line = t->fields[dup].value.line;
		free(order);
		if (k->type == LUA_T_STRING)
			return fail(ps, "key \"%.64s\" appears twice in one "
			    "table", k->str);
		if (k->type == LUA_T_NUMBER && k->is_integer)
			return fail(ps, "key [%lld] appears twice in one table",
			    (long long)k->integer);
		return fail(ps, "a key appears twice in one table");
	}
	free(order);
	return 0;
}

static int
table(struct parser *ps, struct lua_value *t)
{
	struct lua_value k, v;
	size_t from = ps->sp, n;
	int64_t pos = 1;
	int level, c;

	if (++ps->depth > ps->lim->max_depth)
		return fail(ps, "tables nested deeper than %u",
		    ps->lim->max_depth);
	ps->p++;	/* '{' */
	for (;;) {
		if (skip_ws(ps) == -1)
			return -1;
		if (peek(ps, 0) == '}')
			break;
		memset(&k, 0, sizeof k);
		memset(&v, 0, sizeof v);
		k.line = ps->line;
		level = long_bracket_level(ps);
		if (peek(ps, 0) == '[' && level < 0) {
			/* [key] = value */
			ps->p++;
			if (skip_ws(ps) == -1 || value(ps, &k) == -1 ||
			    skip_ws(ps) == -1)
				return -1;
			if (peek(ps, 0) != ']')
				return unexpected(ps, "']' after a key");
			ps->p++;
			if (skip_ws(ps) == -1)
				return -1;
			if (peek(ps, 0) != '=' || peek(ps, 1) == '=')
				return unexpected(ps, "'=' after a key");
			ps->p++;
			if (fix_key(ps, &k) == -1 || skip_ws(ps) == -1 ||
			    value(ps, &v) == -1)
				return -1;
		} else if ((n = name_len(ps)) > 0 && !is_keyword(ps->p, n)) {
			/* name = value */
			const char *name = ps->p;
			ps->p += n;
			if (skip_ws(ps) == -1)
				return -1;
			if (peek(ps, 0) != '=' || peek(ps, 1) == '=')
				return unexpected(ps, "'=' after a name (names "
				    "are not values)");
			ps->p++;
			ps->slen = 0;
			sbuf_add(ps, name, n);
			string_value(ps, &k);
			if (count_value(ps) == -1 || skip_ws(ps) == -1 ||
			    value(ps, &v) == -1)
				return -1;
		} else {
			/* a positional value */
			if (value(ps, &v) == -1)
				return -1;
			k.type = LUA_T_NUMBER;
			k.is_integer = 1;
			k.integer = pos;
			k.number = (double)pos;
			if (pos == INT64_MAX)
				return fail(ps, "too many positional entries");
			pos++;
		}
		if (v.type != LUA_T_NIL)
			push_field(ps, &k, &v);
		if (skip_ws(ps) == -1)
			return -1;
		c = peek(ps, 0);
		if (c == ',' || c == ';') {
			ps->p++;
			continue;
		}
		if (c == '}')
			break;
		return unexpected(ps, "',', ';' or '}' in a table");
	}
	ps->p++;	/* '}' */
	ps->depth--;
	return close_table(ps, from, t);
}

static int
value(struct parser *ps, struct lua_value *v)
{
	int c, level;
	size_t n;

	memset(v, 0, sizeof *v);
	v->line = ps->line;
	if (count_value(ps) == -1)
		return -1;
	c = peek(ps, 0);
	if (c == '{')
		return table(ps, v);
	if (c == '"' || c == '\'')
		return short_string(ps, v);
	if (c == '[') {
		if ((level = long_bracket_level(ps)) < 0)
			return unexpected(ps, "a value");
		return long_string(ps, level, v);
	}
	if (c == '(')
		return special_number(ps, v);
	if (c == '-') {
		ps->p++;
		c = peek(ps, 0);
		if (c == '(' && peek(ps, 1) == '1') {
			/* "-(1/0)" is -inf too */
			if (special_number(ps, v) == -1)
				return -1;
			v->number = -v->number;
			return 0;
		}
		if (!is_digit(c) && !(c == '.' && is_digit(peek(ps, 1))))
			return unexpected(ps, "a number after '-'");
		return numeral(ps, 1, v);
	}
	if (is_digit(c) || (c == '.' && is_digit(peek(ps, 1))))
		return numeral(ps, 0, v);
	if ((n = name_len(ps)) > 0) {
		if (name_is(ps, n, "true") || name_is(ps, n, "false")) {
			v->type = LUA_T_BOOLEAN;
			v->boolean = name_is(ps, n, "true");
			ps->p += n;
			return 0;
		}
		if (name_is(ps, n, "nil")) {
			v->type = LUA_T_NIL;
			ps->p += n;
			return 0;
		}
		return fail(ps, "unexpected name '%.*s' (only data is "
		    "understood)", (int)(n > 32 ? 32 : n), ps->p);
	}
	return unexpected(ps, "a value");
}

/* ---- documents ---- */

static void
doc_add(struct lua_doc *d, const struct lua_value *v, size_t *cap)
{
	if (d->nvalues == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		if (c > SIZE_MAX / sizeof *d->values)
			fatalx("luadata: too many items");
		d->values = xrealloc(d->values, c * sizeof *d->values);
		*cap = c;
	}
	d->values[d->nvalues++] = *v;
}

/* The keyword word (not a prefix of a longer name) at p? */
static int
keyword_at(const struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	return name_len(ps) == n && memcmp(ps->p, word, n) == 0;
}

static int
parse_return(struct parser *ps, size_t *cap)
{
	struct lua_value v;

	if (skip_ws(ps) == -1)
		return -1;
	if (ps->p == ps->end)
		return fail(ps, "empty file (expected \"return\")");
	if (!keyword_at(ps, "return"))
		return unexpected(ps, "\"return\"");
	ps->p += 6;
	if (skip_ws(ps) == -1 || value(ps, &v) == -1 || skip_ws(ps) == -1)
		return -1;
	if (peek(ps, 0) == ';') {
		ps->p++;
		if (skip_ws(ps) == -1)
			return -1;
	}
	if (ps->p != ps->end)
		return unexpected(ps, "the end of the file after the value");
	doc_add(ps->doc, &v, cap);
	return 0;
}

static int
parse_items(struct parser *ps, size_t *cap)
{
	struct lua_value v;

	for (;;) {
		if (skip_ws(ps) == -1)
			return -1;
		if (ps->p == ps->end)
			return 0;
		if (peek(ps, 0) == ';') {
			ps->p++;	/* an empty statement */
			continue;
		}
		if (!keyword_at(ps, "item"))
			return unexpected(ps, "\"item(\"");
		ps->p += 4;
		if (skip_ws(ps) == -1)
			return -1;
		if (peek(ps, 0) != '(')
			return unexpected(ps, "'(' after item");
		ps->p++;
		if (skip_ws(ps) == -1 || value(ps, &v) == -1 ||
		    skip_ws(ps) == -1)
			return -1;
		if (peek(ps, 0) != ')')
			return unexpected(ps, "')' closing item(");
		ps->p++;
		doc_add(ps->doc, &v, cap);
	}
}

struct lua_doc *
lua_parse(const char *buf, size_t len, enum lua_mode mode,
    const struct lua_limits *lim, char *err, size_t errlen, unsigned *errline)
{
	static const struct lua_limits dflt = LUA_DEFAULT_LIMITS;
	struct parser ps;
	size_t cap = 0;
	int rc;

	memset(&ps, 0, sizeof ps);
	ps.lim = lim != NULL ? lim : &dflt;
	ps.err = err;
	ps.errlen = errlen;
	ps.line = 1;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (errline != NULL)
		*errline = 0;
	if (buf == NULL && len > 0) {
		fail(&ps, "no input");
		goto bad;
	}
	if (len > ps.lim->max_input) {
		ps.line = 0;
		fail(&ps, "larger than %zu bytes", ps.lim->max_input);
		goto bad;
	}
	ps.p = buf;
	ps.end = buf + len;
	ps.doc = xcalloc(1, sizeof *ps.doc);
	rc = mode == LUA_MODE_RETURN ? parse_return(&ps, &cap) :
	    parse_items(&ps, &cap);
	free(ps.stack);
	free(ps.sbuf);
	if (rc == 0)
		return ps.doc;
	lua_doc_free(ps.doc);
bad:
	if (errline != NULL)
		*errline = ps.errline;
	return NULL;
}

size_t
lua_doc_count(const struct lua_doc *d)
{
	return d != NULL ? d->nvalues : 0;
}

const struct lua_value *
lua_doc_value(const struct lua_doc *d, size_t i)
{
	if (d == NULL || i >= d->nvalues)
		return NULL;
	return &d->values[i];
}

/* ---- looking at values ---- */

const struct lua_value *
lua_get(const struct lua_value *t, const char *key)
{
	size_t n;

	if (t == NULL || t->type != LUA_T_TABLE || key == NULL)
		return NULL;
	n = strlen(key);
	for (size_t i = 0; i < t->nfields; i++) {
		const struct lua_value *k = &t->fields[i].key;
		if (k->type == LUA_T_STRING && k->len == n &&
		    memcmp(k->str, key, n) == 0)
			return &t->fields[i].value;
	}
	return NULL;
}

const struct lua_value *
lua_get_index(const struct lua_value *t, int64_t idx)
{
	if (t == NULL || t->type != LUA_T_TABLE)
		return NULL;
	for (size_t i = 0; i < t->nfields; i++) {
		const struct lua_value *k = &t->fields[i].key;
		if (k->type == LUA_T_NUMBER && k->is_integer &&
		    k->integer == idx)
			return &t->fields[i].value;
	}
	return NULL;
}

const struct lua_value *
lua_get_bool(const struct lua_value *t, int b)
{
	if (t == NULL || t->type != LUA_T_TABLE)
		return NULL;
	for (size_t i = 0; i < t->nfields; i++) {
		const struct lua_value *k = &t->fields[i].key;
		if (k->type == LUA_T_BOOLEAN && k->boolean == (b != 0))
			return &t->fields[i].value;
	}
	return NULL;
}

const char *
lua_cstr(const struct lua_value *v)
{
	if (v == NULL || v->type != LUA_T_STRING ||
	    memchr(v->str, '\0', v->len) != NULL)
		return NULL;
	return v->str;
}

int
lua_is_int(const struct lua_value *v, int64_t *out)
{
	if (v == NULL || v->type != LUA_T_NUMBER)
		return 0;
	if (v->is_integer) {
		if (out != NULL)
			*out = v->integer;
		return 1;
	}
	if (isnan(v->number) || v->number < -9223372036854775808.0 ||
	    v->number >= 9223372036854775808.0 ||
	    v->number != (double)(int64_t)v->number)
		return 0;
	if (out != NULL)
		*out = (int64_t)v->number;
	return 1;
}

int
lua_is_table(const struct lua_value *v)
{
	return v != NULL && v->type == LUA_T_TABLE;
}

const char *
lua_type_name(enum lua_type t)
{
	switch (t) {
	case LUA_T_NIL:
		return "nil";
	case LUA_T_BOOLEAN:
		return "boolean";
	case LUA_T_NUMBER:
		return "number";
	case LUA_T_STRING:
		return "string";
	case LUA_T_TABLE:
		return "table";
	}
	return "?";
}
