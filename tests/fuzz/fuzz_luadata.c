/*
 * fuzz_luadata.c - libFuzzer target for the Lua data reader.
 *
 * The first byte picks the mode (even: a .dat file, odd: a .list file),
 * the rest is the file.  Whatever parses is written out again as Lua text
 * (every string escaped, every key in brackets), which must parse again to
 * an equal tree; a failure must come with a reason and a line inside the
 * input.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *       tests/fuzz/fuzz_luadata.c luadata.c util.c log.c -lm -o fuzz_luadata
 *   ./fuzz_luadata -max_len=4096 tests/fuzz/corpus/luadata
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "luadata.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Small limits, so that the fuzzer reaches them. */
static const struct lua_limits lim = { 65536, 16, 4096 };

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static void
put_string(struct buf *b, const char *s, size_t n)
{
	char esc[8];

	check(buf_add(b, "\"", 1) == 0);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			check(buf_add(b, s + i, 1) == 0);
		else {
			snprintf(esc, sizeof esc, "\\%03u", c);
			check(buf_addstr(b, esc) == 0);
		}
	}
	check(buf_add(b, "\"", 1) == 0);
}

static void
put_value(struct buf *b, const struct lua_value *v)
{
	char num[64];

	switch (v->type) {
	case LUA_T_NIL:
		check(buf_addstr(b, "nil") == 0);
		break;
	case LUA_T_BOOLEAN:
		check(buf_addstr(b, v->boolean ? "true" : "false") == 0);
		break;
	case LUA_T_NUMBER:
		if (v->is_integer)
			snprintf(num, sizeof num, "%lld",
			    (long long)v->integer);
		else if (isnan(v->number))
			snprintf(num, sizeof num, "(0/0)");
		else if (isinf(v->number))
			snprintf(num, sizeof num, v->number > 0 ? "(1/0)" :
			    "(-1/0)");
		else
			snprintf(num, sizeof num, "%.17g", v->number);
		/* "%.17g" may print a float without '.': keep it a float. */
		if (!v->is_integer && isfinite(v->number) &&
		    strpbrk(num, ".en") == NULL)
			strncat(num, ".0", sizeof num - strlen(num) - 1);
		check(buf_addstr(b, num) == 0);
		break;
	case LUA_T_STRING:
		put_string(b, v->str, v->len);
		break;
	case LUA_T_TABLE:
		check(buf_addstr(b, "{") == 0);
		for (size_t i = 0; i < v->nfields; i++) {
			check(buf_addstr(b, "[") == 0);
			put_value(b, &v->fields[i].key);
			check(buf_addstr(b, "]=") == 0);
			put_value(b, &v->fields[i].value);
			check(buf_addstr(b, ";") == 0);
		}
		check(buf_addstr(b, "}") == 0);
		break;
	}
}

static int
equal(const struct lua_value *a, const struct lua_value *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case LUA_T_NIL:
		return 1;
	case LUA_T_BOOLEAN:
		return a->boolean == b->boolean;
	case LUA_T_NUMBER:
		if (a->is_integer != b->is_integer)
			return 0;
		if (a->is_integer)
			return a->integer == b->integer;
		return (isnan(a->number) && isnan(b->number)) ||
		    a->number == b->number;
	case LUA_T_STRING:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	case LUA_T_TABLE:
		if (a->nfields != b->nfields)
			return 0;
		for (size_t i = 0; i < a->nfields; i++)
			if (!equal(&a->fields[i].key, &b->fields[i].key) ||
			    !equal(&a->fields[i].value, &b->fields[i].value))
				return 0;
		return 1;
	}
	return 0;
}

/* Invariants of every value the reader hands out. */
static void
walk(const struct lua_value *v, unsigned maxline)
{
	check(v->line >= 1 && v->line <= maxline);
	if (v->type == LUA_T_STRING) {
		check(v->str != NULL && v->str[v->len] == '\0');
		check((lua_cstr(v) != NULL) ==
		    (memchr(v->str, 0, v->len) == NULL));
	}
	if (v->type == LUA_T_TABLE)
		for (size_t i = 0; i < v->nfields; i++) {
			check(v->fields[i].key.type != LUA_T_NIL &&
			    v->fields[i].value.type != LUA_T_NIL);
			walk(&v->fields[i].value, maxline);
		}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum lua_mode mode;
	struct lua_doc *d, *d2;
	struct buf b;
	char err[128];
	unsigned line, lines = 1;

	if (size < 1)
		return 0;
	mode = data[0] & 1 ? LUA_MODE_ITEMS : LUA_MODE_RETURN;
	data++;
	size--;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n' || data[i] == '\r';
	d = lua_parse((const char *)data, size, mode, &lim, err, sizeof err,
	    &line);
	if (d == NULL) {
		check(err[0] != '\0' && line <= lines);
		return 0;
	}
	buf_init(&b, 1 << 24);
	for (size_t i = 0; i < lua_doc_count(d); i++) {
		walk(lua_doc_value(d, i), lines);
		check(buf_addstr(&b, mode == LUA_MODE_ITEMS ? "item(" :
		    "return ") == 0);
		put_value(&b, lua_doc_value(d, i));
		check(buf_addstr(&b, mode == LUA_MODE_ITEMS ? ");\n" :
		    ";\n") == 0);
	}
	/* Written out by us the data takes more bytes, and keys for positional
	 * entries count as values. */
	{
		struct lua_limits big = lim;
		big.max_input = 1 << 24;
		big.max_values = 1 << 20;
		d2 = lua_parse(buf_head(&b), buf_used(&b), mode, &big, err,
		    sizeof err, &line);
	}
	check(d2 != NULL);
	check(lua_doc_count(d2) == lua_doc_count(d));
	for (size_t i = 0; i < lua_doc_count(d); i++)
		check(equal(lua_doc_value(d, i), lua_doc_value(d2, i)));
	lua_doc_free(d2);
	lua_doc_free(d);
	buf_free(&b);
	return 0;
}
