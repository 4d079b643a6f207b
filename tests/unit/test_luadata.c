/*
 * test_luadata.c - the strict Lua data reader: what Prosody really writes,
 * every escape and number form, and malformed or hostile input with the
 * exact reason and line.  Inputs are copied into buffers of exactly their
 * length (no NUL after them), so a read past the end shows under ASan.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "luadata.h"
#include "util.h"

void	test_luadata(void);

static char errbuf[256];
static unsigned errline;

static struct lua_doc *
parse_n(const char *s, size_t n, enum lua_mode mode,
    const struct lua_limits *lim)
{
	char *copy = xmalloc(n ? n : 1);
	struct lua_doc *d;

	memcpy(copy, s, n);
	d = lua_parse(copy, n, mode, lim, errbuf, sizeof errbuf, &errline);
	free(copy);	/* the document must not point into the input */
	return d;
}

static struct lua_doc *
parse(const char *s, enum lua_mode mode)
{
	return parse_n(s, strlen(s), mode, NULL);
}

/* The one value of "return <s>", or NULL; the doc goes to *d. */
static const struct lua_value *
ret(const char *s, struct lua_doc **d)
{
	*d = parse(s, LUA_MODE_RETURN);
	return lua_doc_value(*d, 0);
}

/* Expect s to fail in mode with a message containing want, on line. */
static void
bad_in(enum lua_mode mode, const char *s, const char *want, unsigned line)
{
	struct lua_doc *d = parse(s, mode);

	T_EXPECT(d == NULL, "accepted: %s", s);
	lua_doc_free(d);
	T_EXPECT(strstr(errbuf, want) != NULL, "input %s: error \"%s\", want "
	    "\"%s\"", s, errbuf, want);
	T_EXPECT(errline == line, "input %s: line %u, want %u", s, errline,
	    line);
}

/* ... as a .dat file, and as a .list file. */
static void
bad(const char *s, const char *want, unsigned line)
{
	bad_in(LUA_MODE_RETURN, s, want, line);
}

static void
bad_list(const char *s, const char *want, unsigned line)
{
	bad_in(LUA_MODE_ITEMS, s, want, line);
}

static void
test_prosody_files(void)
{
	/* As Prosody 0.12 writes them (copied from a real data directory). */
	static const char account[] =
	    "return {\n"
	    "\t[\"iteration_count\"] = 10000;\n"
	    "\t[\"server_key\"] = "
	    "\"d7bd8dc7316894d5619f3ad3049b959a510f0246\";\n"
	    "\t[\"salt\"] = \"095a7200-3ae5-4e6c-8e0e-d37929509366\";\n"
	    "\t[\"stored_key\"] = "
	    "\"c2b6ee4bbafb866d96f7ac7751671774033a5a89\";\n"
	    "};\n";
	static const char roster[] =
	    "return {\n"
	    "\t[false] = {\n"
	    "\t\t[\"version\"] = 7;\n"
	    "\t\t[\"pending\"] = {\n"
	    "\t\t\t[\"carol@localhost\"] = true;\n"
	    "\t\t};\n"
	    "\t};\n"
	    "\t[\"bob@localhost\"] = {\n"
	    "\t\t[\"name\"] = \"Dave \\\"D\\\" & Co\";\n"
	    "\t\t[\"subscription\"] = \"both\";\n"
	    "\t\t[\"groups\"] = {\n"
	    "\t\t\t[\"Friends\"] = true;\n"
	    "\t\t};\n"
	    "\t};\n"
	    "};\n";
	static const char offline[] =
	    "item({\n"
	    "\t{\n"
	    "\t\t\"hello 1\";\n"
	    "\t\t[\"name\"] = \"body\";\n"
	    "\t\t[\"attr\"] = {};\n"
	    "\t};\n"
	    "\t[\"when\"] = 1795631838;\n"
	    "\t[\"name\"] = \"message\";\n"
	    "\t[\"attr\"] = {\n"
	    "\t\t[\"xml:lang\"] = \"en\";\n"
	    "\t\t[\"http://example.org/ns\\001a\"] = \"x\";\n"
	    "\t};\n"
	    "});\n"
	    "item({\n"
	    "\t\"Alice Liddell \\195\\132\\195\\159\";\n"
	    "\t[\"when\"] = 1795631838.25;\n"
	    "});\n";
	const struct lua_value *v, *t, *m;
	struct lua_doc *d;
	int64_t i;

	v = ret(account, &d);
	T_EXPECT(d != NULL, "account: %s (line %u)", errbuf, errline);
	T_EQ_INT(lua_doc_count(d), 1);
	T_EXPECT(lua_is_table(v), "account is a table");
	T_EQ_INT(v ? v->nfields : 0, 4);
	T_EXPECT(lua_is_int(lua_get(v, "iteration_count"), &i) && i == 10000,
	    "iteration_count");
	T_EQ_STR(lua_cstr(lua_get(v, "salt")),
	    "095a7200-3ae5-4e6c-8e0e-d37929509366");
	T_EQ_STR(lua_cstr(lua_get(v, "stored_key")),
	    "c2b6ee4bbafb866d96f7ac7751671774033a5a89");
	T_EQ_INT(lua_get(v, "salt") ? lua_get(v, "salt")->line : 0, 4);
	T_EXPECT(lua_get(v, "password") == NULL, "no password");
	/* The file order is kept. */
	T_EQ_STR(v && v->nfields == 4 ? v->fields[1].key.str : NULL,
	    "server_key");
	lua_doc_free(d);

	v = ret(roster, &d);
	T_EXPECT(d != NULL, "roster: %s", errbuf);
	t = lua_get_bool(v, 0);
	T_EXPECT(lua_is_table(t), "[false] is the metadata");
	T_EXPECT(lua_get_bool(v, 1) == NULL, "no [true]");
	T_EXPECT(lua_is_int(lua_get(t, "version"), &i) && i == 7, "version");
	m = lua_get(lua_get(t, "pending"), "carol@localhost");
	T_EXPECT(m != NULL && m->type == LUA_T_BOOLEAN && m->boolean == 1,
	    "pending carol");
	t = lua_get(v, "bob@localhost");
	T_EQ_STR(lua_cstr(lua_get(t, "name")), "Dave \"D\" & Co");
	T_EQ_STR(lua_cstr(lua_get(t, "subscription")), "both");
	T_EXPECT(lua_get(lua_get(t, "groups"), "Friends") != NULL, "group");
	lua_doc_free(d);

	d = parse(offline, LUA_MODE_ITEMS);
	T_EXPECT(d != NULL, "offline: %s (line %u)", errbuf, errline);
	T_EQ_INT(lua_doc_count(d), 2);
	v = lua_doc_value(d, 0);
	T_EQ_INT(v ? v->line : 0, 1);
	T_EQ_STR(lua_cstr(lua_get(v, "name")), "message");
	m = lua_get_index(v, 1);
	T_EQ_STR(lua_cstr(lua_get(m, "name")), "body");
	T_EQ_STR(lua_cstr(lua_get_index(m, 1)), "hello 1");
	T_EXPECT(lua_is_table(lua_get(m, "attr")) &&
	    lua_get(m, "attr")->nfields == 0, "empty attr table");
	T_EQ_STR(lua_cstr(lua_get(lua_get(v, "attr"), "xml:lang")), "en");
	T_EQ_STR(lua_cstr(lua_get(lua_get(v, "attr"),
	    "http://example.org/ns\001a")), "x");
	v = lua_doc_value(d, 1);
	T_EQ_INT(v ? v->line : 0, 14);
	T_EQ_STR(lua_cstr(lua_get_index(v, 1)),
	    "Alice Liddell \xc3\x84\xc3\x9f");
	m = lua_get(v, "when");
	T_EXPECT(m != NULL && !m->is_integer && m->number == 1795631838.25,
	    "fractional when");
	T_EXPECT(!lua_is_int(m, NULL), "1795631838.25 is no integer");
	T_EXPECT(lua_doc_value(d, 2) == NULL, "no third item");
	lua_doc_free(d);
}

static void
test_strings(void)
{
	const struct lua_value *v;
	struct lua_doc *d;

	v = ret("return \"\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\\'\"", &d);
	T_EXPECT(v && v->len == 10 &&
	    memcmp(v->str, "\a\b\f\n\r\t\v\\\"'", 10) == 0, "simple escapes");
	lua_doc_free(d);
	v = ret("return '\\65\\066\\0677\\x41\\x7a\\u{48}\\u{20AC}"
	    "\\u{1F600}'", &d);
	T_EXPECT(v && v->len == 14 && memcmp(v->str,
	    "AB\x43" "7Az" "H\xe2\x82\xac\xf0\x9f\x98\x80", 14) == 0,
	    "decimal, hex and \\u escapes: %s", errbuf);
	lua_doc_free(d);
	v = ret("return \"a\\z  \n\t  b\\\nc\"", &d);
	T_EQ_STR(lua_cstr(v), "ab\nc");
	lua_doc_free(d);
	/* NUL inside: kept, counted, and refused as a C string. */
	v = ret("return \"a\\0b\"", &d);
	T_EXPECT(v && v->type == LUA_T_STRING && v->len == 3 &&
	    memcmp(v->str, "a\0b", 3) == 0, "embedded NUL");
	T_EXPECT(lua_cstr(v) == NULL, "no C string with a NUL");
	lua_doc_free(d);
	v = ret("return \"\"", &d);
	T_EXPECT(v && v->len == 0 && lua_cstr(v) && *lua_cstr(v) == '\0',
	    "empty");
	lua_doc_free(d);
	/* Raw bytes are kept (Prosody escapes them, others may not). */
	v = ret("return '\xff\x01'", &d);
	T_EXPECT(v && v->len == 2 && (unsigned char)v->str[0] == 0xff,
	    "raw bytes");
	lua_doc_free(d);

	/* Long strings: first newline dropped, line breaks become "\n". */
	v = ret("return [[\nline1\r\nline2\n\rline3]]", &d);
	T_EQ_STR(lua_cstr(v), "line1\nline2\nline3");
	lua_doc_free(d);
	v = ret("return [==[a]]b]=]c]==]", &d);
	T_EQ_STR(lua_cstr(v), "a]]b]=]c");
	lua_doc_free(d);
	v = ret("return [[\\n is not an escape]]", &d);
	T_EQ_STR(lua_cstr(v), "\\n is not an escape");
	lua_doc_free(d);
	d = parse("return { [[x]], [ [[k]] ] = 1 }", LUA_MODE_RETURN);
	v = lua_doc_value(d, 0);
	T_EQ_STR(lua_cstr(lua_get_index(v, 1)), "x");
	T_EXPECT(lua_is_int(lua_get(v, "k"), NULL), "long string as a key");
	lua_doc_free(d);
	/* Line numbers go on after a multi-line string. */
	d = parse("return {\n[[a\nb\nc]],\n\"x\" }", LUA_MODE_RETURN);
	v = lua_doc_value(d, 0);
	T_EQ_INT(lua_get_index(v, 2) ? lua_get_index(v, 2)->line : 0, 5);
	lua_doc_free(d);
}

static void
test_numbers(void)
{
	static const struct {
		const char	*text;
		int		 is_int;
		int64_t		 i;
		double		 d;
	} cases[] = {
		{ "0", 1, 0, 0 },
		{ "-1", 1, -1, -1 },
		{ "4096", 1, 4096, 4096 },
		{ "9223372036854775807", 1, INT64_MAX, 0 },
		{ "-9223372036854775808", 1, INT64_MIN, 0 },
		{ "9223372036854775808", 0, 0, 9223372036854775808.0 },
		{ "1.5", 0, 0, 1.5 },
		{ "-2.5e3", 0, 0, -2500 },
		{ "1e+20", 0, 0, 1e20 },
		{ "1E-2", 0, 0, 0.01 },
		{ ".5", 0, 0, 0.5 },
		{ "5.", 0, 0, 5 },
		{ "0x10", 1, 16, 16 },
		{ "0XfF", 1, 255, 255 },
		{ "1795631838.123456789", 0, 0, 1795631838.123456789 },
	};
	const struct lua_value *v;
	struct lua_doc *d;
	char src[64];

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		snprintf(src, sizeof src, "return %s", cases[k].text);
		v = ret(src, &d);
		T_EXPECT(v && v->type == LUA_T_NUMBER, "%s: %s", src, errbuf);
		if (v == NULL) {
			lua_doc_free(d);
			continue;
		}
		T_EQ_INT(v->is_integer, cases[k].is_int);
		if (cases[k].is_int)
			T_EXPECT(v->integer == cases[k].i, "%s: %lld", src,
			    (long long)v->integer);
		else
			T_EXPECT(v->number == cases[k].d, "%s: %.17g", src,
			    v->number);
		lua_doc_free(d);
	}
	v = ret("return (1/0)", &d);
	T_EXPECT(v && isinf(v->number) && v->number > 0, "(1/0)");
	lua_doc_free(d);
	v = ret("return (-1/0)", &d);
	T_EXPECT(v && isinf(v->number) && v->number < 0, "(-1/0)");
	lua_doc_free(d);
	v = ret("return -(1/0)", &d);
	T_EXPECT(v && isinf(v->number) && v->number < 0, "-(1/0)");
	lua_doc_free(d);
	v = ret("return (0/0)", &d);
	T_EXPECT(v && isnan(v->number) && !lua_is_int(v, NULL), "(0/0)");
	lua_doc_free(d);
	v = ret("return 2.0", &d);
	T_EXPECT(v && !v->is_integer && lua_is_int(v, NULL),
	    "2.0 has an integer value");
	lua_doc_free(d);
	v = ret("return 1e300", &d);
	T_EXPECT(v && !lua_is_int(v, NULL), "1e300 does not fit an integer");
	lua_doc_free(d);
}

static void
test_tables(void)
{
	const struct lua_value *v;
	struct lua_doc *d;

	v = ret("return { \"a\", nil, \"b\"; x = 1, [\"y\"] = true, [2.0] = 5, "
	    "[-3] = false, [0.5] = 'h', }", &d);
	T_EXPECT(v != NULL, "mixed table: %s", errbuf);
	T_EQ_STR(lua_cstr(lua_get_index(v, 1)), "a");
	T_EQ_STR(lua_cstr(lua_get_index(v, 3)), "b");
	T_EXPECT(lua_get_index(v, 2) && lua_is_int(lua_get_index(v, 2), NULL),
	    "[2.0] is the key 2");
	T_EXPECT(lua_get(v, "x") && lua_get(v, "x")->integer == 1, "x = 1");
	T_EXPECT(lua_get(v, "y") && lua_get(v, "y")->boolean == 1, "[\"y\"]");
	T_EXPECT(lua_get_index(v, -3) && lua_get_index(v, -3)->type ==
	    LUA_T_BOOLEAN, "[-3]");
	T_EQ_INT(v ? v->nfields : 0, 7);	/* the nil is not kept */
	lua_doc_free(d);

	v = ret("return {}", &d);
	T_EXPECT(lua_is_table(v) && v->nfields == 0 && v->fields == NULL, "{}");
	lua_doc_free(d);
	v = ret("return {{{}}}", &d);
	T_EXPECT(lua_is_table(lua_get_index(lua_get_index(v, 1), 1)), "nested");
	lua_doc_free(d);
	v = ret("return { k = nil }", &d);
	T_EXPECT(lua_is_table(v) && v->nfields == 0, "k = nil is no entry");
	lua_doc_free(d);

	/* Comments anywhere white space may be. */
	v = ret("-- a comment\nreturn --[[ block\n comment ]] { --[==[ x ]==]\n"
	    "a = 1; -- trailing\n--[ not long\n b = 2 }; -- end", &d);
	T_EXPECT(v != NULL, "comments: %s (line %u)", errbuf, errline);
	T_EXPECT(lua_get(v, "a") && lua_get(v, "b") &&
	    lua_get(v, "b")->line == 6, "entries after comments");
	lua_doc_free(d);

	/* Lookups tolerate the wrong types. */
	T_EXPECT(lua_get(NULL, "x") == NULL && lua_get_index(NULL, 1) == NULL &&
	    lua_get_bool(NULL, 0) == NULL && lua_cstr(NULL) == NULL &&
	    !lua_is_int(NULL, NULL) && !lua_is_table(NULL), "NULL lookups");
	v = ret("return 'str'", &d);
	T_EXPECT(lua_get(v, "x") == NULL && lua_get_index(v, 1) == NULL,
	    "a string is no table");
	lua_doc_free(d);
	T_EQ_STR(lua_type_name(LUA_T_TABLE), "table");
	T_EQ_STR(lua_type_name(LUA_T_NIL), "nil");
}

static void
test_list_files(void)
{
	struct lua_doc *d;

	d = parse("", LUA_MODE_ITEMS);
	T_EXPECT(d != NULL && lua_doc_count(d) == 0, "empty list file");
	lua_doc_free(d);
	/* A failed append leaves spaces (util.datamanager's atomic_append). */
	d = parse("item({1});\n        \nitem ( 2 ) item\n{3}", LUA_MODE_ITEMS);
	T_EXPECT(d == NULL, "item{...} is not the call form we accept");
	lua_doc_free(d);
	d = parse("item({1});\n        \nitem ( 2 )item('x');;\n",
	    LUA_MODE_ITEMS);
	T_EXPECT(d != NULL && lua_doc_count(d) == 3, "three items: %s", errbuf);
	T_EXPECT(lua_cstr(lua_doc_value(d, 2)) != NULL, "third is a string");
	lua_doc_free(d);
	d = parse("return 1", LUA_MODE_ITEMS);
	T_EXPECT(d == NULL && strstr(errbuf, "item(") != NULL,
	    "return in a list");
	lua_doc_free(d);
	d = parse("item(1)", LUA_MODE_RETURN);
	T_EXPECT(d == NULL && strstr(errbuf, "return") != NULL,
	    "item in a .dat");
	lua_doc_free(d);
	/* A length shorter than the buffer is honoured. */
	d = parse_n("return 12345", 10, LUA_MODE_RETURN, NULL);
	T_EXPECT(d != NULL && lua_doc_value(d, 0)->integer == 123,
	    "prefix only");
	lua_doc_free(d);
}

static void
test_malformed(void)
{
	struct lua_doc *d;

	bad("", "empty file", 1);
	bad("  \n -- only a comment\n", "empty file", 3);
	bad("return", "expected a value, found end of file", 1);
	bad("returnx {}", "expected \"return\"", 1);
	bad("{}", "expected \"return\"", 1);
	bad("return {} {}", "the end of the file after the value", 1);
	bad("return {};;", "the end of the file after", 1);
	bad("return {\n\t[\"a\"] = \"x;\n};\n", "unfinished string", 2);
	bad("return \"abc", "unfinished string", 1);
	bad("return {\n[[abc\n", "unfinished long string", 2);
	bad("--[[ never closed\n\nreturn 1", "unfinished long comment", 1);
	bad("return {\n a = 1\n b = 2 }", "expected ',', ';' or '}'", 3);
	bad("return { a = 1,", "expected a value, found end of file", 1);
	bad("return { [\"a\" = 1 }", "']' after a key", 1);
	bad("return { [\"a\"] 1 }", "'=' after a key", 1);
	bad("return { [\"a\"] == 1 }", "'=' after a key", 1);
	bad("return { a }", "'=' after a name", 1);
	bad("return { true = 1 }", "expected ',', ';' or '}'", 1);
	bad("return os.execute('rm -rf /')", "unexpected name 'os'", 1);
	bad("return { f = function() end }", "unexpected name 'function'", 1);
	bad("return {\n\n x = y }", "unexpected name 'y'", 3);
	bad("return 1 + 2", "after the value", 1);
	bad("return (2/0)", "expressions are not data", 1);
	bad("return - x", "a number after '-'", 1);
	bad("return 1e", "malformed number", 1);
	bad("return 0x", "malformed number", 1);
	bad("return 3x", "malformed number", 1);
	bad("return 1..2", "malformed number", 1);
	bad("return 0x1p4", "malformed number", 1);
	bad("return 1111111111111111111111111111111111111111111111111111111111"
	    "1111111", "numeral too long", 1);
	bad("return \"\\q\"", "invalid escape", 1);
	bad("return \"\\x4\"", "two hexadecimal digits", 1);
	bad("return \"\\256\"", "larger than 255", 1);
	bad("return \"\\u{110000}\"", "beyond U+10FFFF", 1);
	bad("return \"\\u{41\"", "closing '}'", 1);
	bad("return \"\\u41\"", "\\u needs", 1);
	bad("return \"ab\\", "unfinished string", 1);
	bad("return \"a\nb\"", "unfinished string", 1);
	bad("return { [nil] = 1 }", "nil cannot be a table key", 1);
	bad("return { [(0/0)] = 1 }", "NaN cannot be a table key", 1);
	bad("return { [{}] = 1 }", "a table cannot be a table key", 1);
	bad("return {\n[\"k\"] = 1;\n[\"k\"] = 2 }",
	    "key \"k\" appears twice", 3);
	bad("return { k = 1, [\"k\"] = 2 }", "appears twice", 1);
	bad("return { \"a\", [1] = \"b\" }", "key [1] appears twice", 1);
	bad("return { [2.0] = 1, [2] = 1 }", "key [2] appears twice", 1);
	bad("return { [true] = 1, [true] = 2 }", "a key appears twice", 1);
	bad_list("item({}", "')' closing item(", 1);
	bad_list("item{}", "'(' after item", 1);
	bad_list("item({});\nitems({})", "expected \"item(\"", 2);
	bad_list("item({});\nreturn {}", "expected \"item(\"", 2);
	bad("return \x01", "found byte 0x01", 1);
	/* A NUL byte between tokens is no white space. */
	d = parse_n("return {\"a\"\0}", 13, LUA_MODE_RETURN, NULL);
	T_EXPECT(d == NULL && strstr(errbuf, "found byte 0x00") != NULL,
	    "NUL between tokens: %s", errbuf);
	lua_doc_free(d);
}

static void
test_limits(void)
{
	struct lua_limits lim = { 1024, 3, 10 };
	struct lua_doc *d;
	char *deep;
	size_t n;

	d = parse_n("return {{{}}}", 13, LUA_MODE_RETURN, &lim);
	T_EXPECT(d != NULL, "depth 3 is allowed: %s", errbuf);
	lua_doc_free(d);
	d = parse_n("return {{{{}}}}", 15, LUA_MODE_RETURN, &lim);
	T_EXPECT(d == NULL && strstr(errbuf, "nested deeper than 3"),
	    "depth 4: %s", errbuf);
	lua_doc_free(d);
	/* 10 values: the table, five keys... */
	d = parse_n("return {1,2,3,4,5,6,7,8,9}", 26, LUA_MODE_RETURN, &lim);
	T_EXPECT(d != NULL, "10 values: %s", errbuf);
	lua_doc_free(d);
	d = parse_n("return {1,2,3,4,5,6,7,8,9,0}", 28, LUA_MODE_RETURN, &lim);
	T_EXPECT(d == NULL && strstr(errbuf, "more than 10 values"),
	    "11 values");
	lua_doc_free(d);
	d = parse_n("return {a=1,b=2,c=3,d=4,e=5}", 28, LUA_MODE_RETURN, &lim);
	T_EXPECT(d == NULL && strstr(errbuf, "more than 10 values"),
	    "keys count");
	lua_doc_free(d);
	deep = xmalloc(2048);
	memset(deep, ' ', 2048);
	memcpy(deep, "return 1", 8);
	d = parse_n(deep, 1024, LUA_MODE_RETURN, &lim);
	T_EXPECT(d != NULL, "1024 bytes are allowed");
	lua_doc_free(d);
	d = parse_n(deep, 1025, LUA_MODE_RETURN, &lim);
	T_EXPECT(d == NULL && strstr(errbuf, "larger than 1024 bytes") &&
	    errline == 0, "1025 bytes: %s", errbuf);
	lua_doc_free(d);
	free(deep);

	/* The default depth bound holds against a flood of '{'. */
	n = 200000;
	deep = xmalloc(n + 7);
	memcpy(deep, "return ", 7);
	memset(deep + 7, '{', n);
	d = parse_n(deep, n + 7, LUA_MODE_RETURN, NULL);
	T_EXPECT(d == NULL && strstr(errbuf, "nested deeper than 128"),
	    "flood: %s", errbuf);
	lua_doc_free(d);
	free(deep);
}

/* Random token soup: never a crash, a leak or a read past the end; a
 * failure always has a reason and a line inside the input. */
static void
test_garbage(void)
{
	static const char *const tok[] = {
		"return", "item(", ")", "{", "}", "[", "]", "=", ",", ";", "\"",
		"'", "\\", "\\x", "\\u{", "\\2", "[[", "]]", "[=[", "]=]", "--",
		"--[[", "\n", " ", "1", "-", ".", "e", "0x", "(1/0)", "true",
		"nil", "name", "\x00", "\xff", "\r",
	};
	uint32_t seed = 12345;
	char buf[256];
	struct lua_doc *d;
	size_t n, lines;

	for (int round = 0; round < 20000; round++) {
		n = 0;
		lines = 1;
		while (n < 200) {
			const char *t;
			size_t tl;
			seed = seed * 1103515245u + 12345u;
			t = tok[(seed >> 16) % (sizeof tok / sizeof tok[0])];
			tl = t[0] == '\0' ? 1 : strlen(t);
			if (n + tl > sizeof buf)
				break;
			memcpy(buf + n, t, tl);
			for (size_t i = 0; i < tl; i++)
				lines += t[i] == '\n' || t[i] == '\r';
			n += tl;
			if (((seed >> 8) & 31) == 0)
				break;
		}
		d = parse_n(buf, n, round & 1 ? LUA_MODE_ITEMS :
		    LUA_MODE_RETURN, NULL);
		if (d == NULL) {
			T_EXPECT(errbuf[0] != '\0', "round %d: no reason",
			    round);
			T_EXPECT(errline >= 1 && errline <= lines, "round %d: "
			    "line %u of %zu", round, errline, lines);
		}
		lua_doc_free(d);
	}
}

void
test_luadata(void)
{
	test_prosody_files();
	test_strings();
	test_numbers();
	test_tables();
	test_list_files();
	test_malformed();
	test_limits();
	test_garbage();
}
