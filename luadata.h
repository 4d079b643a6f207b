/*
 * luadata.h - a small, strict reader for the Lua data files Prosody's
 * internal storage writes (util.serialization through util.datamanager):
 *
 *   .dat files   return { ["key"] = "value"; [false] = { ... }; };
 *   .list files  item({ ... });  one call per stored item
 *
 * Only the data subset of Lua is understood: tables ([key] = value,
 * name = value and positional entries, separated by ',' or ';'), strings
 * (short strings with every Lua escape, long strings [[...]] / [==[...]==]),
 * numbers (integers, decimals, exponents, hexadecimal integers and the
 * (1/0), (-1/0), (0/0) Prosody writes for infinities and NaN), true, false,
 * nil and comments.  Nothing is evaluated: no expressions, variables or
 * functions, and no call but item(...) in list files.  Depth, size and the
 * number of values are bounded; a key given twice in one table is an error.
 */
#ifndef XMPPD_LUADATA_H
#define XMPPD_LUADATA_H

#include <stddef.h>
#include <stdint.h>

enum lua_type {
	LUA_T_NIL,
	LUA_T_BOOLEAN,
	LUA_T_NUMBER,
	LUA_T_STRING,
	LUA_T_TABLE
};

struct lua_field;

struct lua_value {
	enum lua_type	 type;
	unsigned	 line;		/* where it starts, from 1 */
	int		 boolean;	/* LUA_T_BOOLEAN: 0 or 1 */
	/* LUA_T_NUMBER: number always; integer too for Lua's integers */
	int		 is_integer;
	int64_t		 integer;
	double		 number;
	/* LUA_T_STRING: NUL-terminated, but may hold NULs: len counts all */
	const char	*str;
	size_t		 len;
	/* LUA_T_TABLE: the entries in file order */
	struct lua_field *fields;
	size_t		 nfields;
};

/* One table entry.  Positional entries get the integer keys 1, 2, ... as
 * in Lua; entries whose value is nil are not kept (Lua has none). */
struct lua_field {
	struct lua_value key;
	struct lua_value value;
};

struct lua_limits {
	size_t		 max_input;	/* bytes of the file */
	unsigned	 max_depth;	/* nesting; the top table is 1 */
	size_t		 max_values;	/* values and keys in all */
};
/* Prosody's serializer stops at depth 127 itself. */
#define LUA_DEFAULT_LIMITS \
	{ (size_t)64 * 1024 * 1024, 128, (size_t)1024 * 1024 }

enum lua_mode {
	LUA_MODE_RETURN,	/* "return <value>" with an optional ';' */
	LUA_MODE_ITEMS		/* any number of "item(<value>)" [';'] */
};

struct lua_doc;

/*
 * Parse a whole file.  NULL on error, with a reason in err and the line it
 * was found on in *errline (either may be NULL).  A LUA_MODE_RETURN
 * document holds exactly one value; a LUA_MODE_ITEMS one holds one per
 * item(...) call, in order.
 */
struct lua_doc	*lua_parse(const char *buf, size_t len, enum lua_mode,
		    const struct lua_limits *, char *err, size_t errlen,
		    unsigned *errline);
void		 lua_doc_free(struct lua_doc *);
size_t		 lua_doc_count(const struct lua_doc *);
/* The i-th value (0-based), or NULL when i is out of range. */
const struct lua_value *lua_doc_value(const struct lua_doc *, size_t i);

/* ---- looking at values (every function takes NULL and gives NULL/0) ---- */

/* The value under a string key / integer key / boolean key of a table,
 * or NULL when t is not a table or has no such key. */
const struct lua_value *lua_get(const struct lua_value *t, const char *key);
const struct lua_value *lua_get_index(const struct lua_value *t, int64_t i);
const struct lua_value *lua_get_bool(const struct lua_value *t, int b);
/* The string as a C string, or NULL if v is not a string or holds a NUL
 * byte (such a string cannot name anything in xmppd). */
const char	*lua_cstr(const struct lua_value *v);
/* v is a number with an integer value (2 and 2.0 alike): 1 with *out. */
int		 lua_is_int(const struct lua_value *v, int64_t *out);
int		 lua_is_table(const struct lua_value *v);
const char	*lua_type_name(enum lua_type);

#endif
