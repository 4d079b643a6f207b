/*
 * xml.h - the restricted-XML (RFC 6120 section 11) incremental tokenizer,
 * the stanza tree, a builder and the serializer.
 *
 * A tree lives in one arena: every node, attribute and string of a stanza is
 * allocated from it and freed with it in one xml_arena_free().  Whoever
 * holds the arena owns the stanza; handlers borrow.
 */
#ifndef XMPPD_XML_H
#define XMPPD_XML_H

#include <stddef.h>
#include "util.h"

#define NS_STREAM	"http://etherx.jabber.org/streams"
#define NS_CLIENT	"jabber:client"
#define NS_SERVER	"jabber:server"
#define NS_XML		"http://www.w3.org/XML/1998/namespace"

struct xml_arena;

struct xml_attr {
	const char	*name;	/* local name; "lang" for xml:lang */
	const char	*ns;	/* namespace URI, NULL for an unprefixed attribute */
	const char	*value;	/* unescaped, NUL-terminated */
	struct xml_attr	*next;
};

/*
 * An element (name != NULL) or a text node (name == NULL, text set).
 * Elements keep their namespace URI; prefixes are resolved away and the
 * serializer declares what it needs.
 */
struct xml_node {
	const char	*name;		/* local name, NULL for text */
	const char	*ns;		/* namespace URI ("" if none) */
	const char	*text;		/* text nodes: unescaped content */
	size_t		 text_len;
	struct xml_attr	*attrs;
	struct xml_node	*parent;
	struct xml_node	*children;	/* first child */
	struct xml_node	*last;		/* last child */
	struct xml_node	*next;		/* next sibling */
	struct xml_arena *arena;	/* owner of this node's memory */
};

/* ---- arena ---- */
struct xml_arena *xml_arena_new(void);
void	 xml_arena_free(struct xml_arena *);
void	*xml_arena_alloc(struct xml_arena *, size_t);
char	*xml_arena_strdup(struct xml_arena *, const char *);
char	*xml_arena_strndup(struct xml_arena *, const char *, size_t);
size_t	 xml_arena_size(const struct xml_arena *);	/* bytes allocated */

/* ---- reading a tree ---- */
const char *xml_attr(const struct xml_node *, const char *name);	/* unprefixed */
const char *xml_attr_ns(const struct xml_node *, const char *ns, const char *name);
/* First element child matching name and ns; NULL matches anything. */
struct xml_node *xml_child(const struct xml_node *, const char *name, const char *ns);
/* Next element sibling after 'prev' matching the same way. */
struct xml_node *xml_next(const struct xml_node *prev, const char *name, const char *ns);
/* First element child of any name (skips text). */
struct xml_node *xml_first_element(const struct xml_node *);
/* Concatenated direct text children, arena-allocated; "" if none. */
const char *xml_text(const struct xml_node *);
/* Text of the first matching child, or NULL if there is no such child. */
const char *xml_child_text(const struct xml_node *, const char *name, const char *ns);
int	 xml_is(const struct xml_node *, const char *name, const char *ns);

/* ---- building a tree ---- */
/* A new root element in arena a; ns must not be NULL. */
struct xml_node *xml_new(struct xml_arena *a, const char *name, const char *ns);
/* A new last child; ns NULL means the parent's namespace. */
struct xml_node *xml_add(struct xml_node *parent, const char *name, const char *ns);
/* Set (replace) or, with value NULL, remove an unprefixed attribute. */
void	 xml_set_attr(struct xml_node *, const char *name, const char *value);
void	 xml_set_attr_ns(struct xml_node *, const char *ns, const char *name, const char *value);
void	 xml_add_text(struct xml_node *, const char *text, size_t len);
/* Deep copy of src (from any arena) as a root in arena a, or as a new last child of parent. */
struct xml_node *xml_copy(struct xml_arena *a, const struct xml_node *src);
struct xml_node *xml_append_copy(struct xml_node *parent, const struct xml_node *src);
/* Unlink a child from its parent (memory stays in the arena). */
void	 xml_remove(struct xml_node *child);
/* Convenience: add <name xmlns=ns>text</name>. */
struct xml_node *xml_add_text_child(struct xml_node *parent, const char *name,
	    const char *ns, const char *text);

/* ---- serializing ---- */
/*
 * Append n and its subtree to out.  'stream_ns' is the default namespace of
 * the stream the bytes go to (NS_CLIENT or NS_SERVER, or NULL for a
 * standalone document).  An element in jabber:client or jabber:server at the
 * top, or whose parent has the same namespace, is written without xmlns, so
 * a stanza moves between c2s and s2s streams with its namespace rewritten
 * as RFC 6120 section 4.8.3 requires.  With a stream_ns, elements in
 * NS_STREAM are written with the "stream:" prefix, which the stream header
 * must declare (RFC 6120 4.8.5).  Returns 0, or -1 if out is full (out is
 * then as it was).
 */
int	 xml_serialize(const struct xml_node *n, struct buf *out, const char *stream_ns);

/* ---- the incremental tokenizer ---- */

struct xml_limits {
	size_t		max_stanza;	/* bytes of one top-level child, markup included */
	unsigned	max_depth;	/* element nesting below the stream root;
					 * a document's root is level 1 */
	unsigned	max_attrs;	/* attributes per element (xmlns included) */
	unsigned	max_name;	/* bytes of a name, prefix included */
};
#define XML_DEFAULT_LIMITS	{ 262144, 32, 64, 256 }

enum xml_event {
	XML_EV_NONE,		/* need more input */
	XML_EV_STREAM_OPEN,	/* stream header complete: xml_stream_header() */
	XML_EV_STANZA,		/* a top-level child complete: xml_take_stanza() */
	XML_EV_STREAM_CLOSE,	/* </stream:stream> */
	XML_EV_DOCUMENT,	/* document mode: the root element closed */
	XML_EV_ERROR		/* xml_error(): fatal, the parser stays in error */
};

/*
 * RFC 6120 section 4.9.3 stream error conditions the tokenizer raises:
 * "not-well-formed", "restricted-xml", "bad-namespace-prefix",
 * "invalid-namespace", "policy-violation", "unsupported-encoding",
 * "invalid-xml", "bad-format", "unsupported-version".
 */
struct xml_parser;

enum xml_mode { XML_MODE_STREAM, XML_MODE_DOCUMENT };

struct xml_parser *xml_parser_new(enum xml_mode, const struct xml_limits *);
void	 xml_parser_free(struct xml_parser *);
/* Forget everything (stream restart after STARTTLS and SASL). */
void	 xml_parser_reset(struct xml_parser *);
void	 xml_parser_set_limits(struct xml_parser *, const struct xml_limits *);

/*
 * Feed bytes.  Consumes input up to and including the byte that completes
 * the next event, and returns how many bytes it consumed; the event is then
 * in xml_event().  Call again with the rest.  Never reads past len, never
 * keeps a pointer into buf.  After XML_EV_ERROR it consumes nothing more.
 */
size_t	 xml_feed(struct xml_parser *, const char *buf, size_t len);
enum xml_event xml_event(const struct xml_parser *);
/* After XML_EV_STANZA / XML_EV_DOCUMENT: the tree; the caller now owns its
 * arena (free with xml_arena_free(n->arena)). */
struct xml_node *xml_take_stanza(struct xml_parser *);
/* After XML_EV_STREAM_OPEN: the stream element (no children), valid until
 * reset or free.  Its ns is the stream namespace; the default namespace the
 * header declared is xml_stream_default_ns(). */
const struct xml_node *xml_stream_header(const struct xml_parser *);
const char *xml_stream_default_ns(const struct xml_parser *);
/* After XML_EV_ERROR: condition name and a human-readable detail. */
const char *xml_error(const struct xml_parser *);
const char *xml_error_detail(const struct xml_parser *);
/* Bytes of the current, incomplete top-level child (0 between stanzas). */
size_t	 xml_pending(const struct xml_parser *);

/* Parse one whole document (stored files).  NULL on error, with the reason
 * in err.  The caller owns the returned tree's arena. */
struct xml_node *xml_parse_document(const char *buf, size_t len,
	    const struct xml_limits *, char *err, size_t errlen);

#endif
