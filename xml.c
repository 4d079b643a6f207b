/*
 * xml.c - the restricted-XML tokenizer, stanza trees, builder, serializer.
 *
 * The tokenizer is a byte-at-a-time state machine: every byte goes through
 * a UTF-8 decoder, every complete code point through one step of the
 * machine.  Nothing depends on how the input was split, so any split gives
 * the same events at the same byte.  Everything that can grow (the start
 * tag being read, text, the namespace scope, the open-element stack) is
 * bounded by the limits: names by max_name, values and text by max_stanza
 * (every byte of a stanza is counted as it arrives), attributes by
 * max_attrs, nesting by max_depth.
 *
 * Only the restricted XML of RFC 6120 section 11.1 is accepted: no
 * comments, processing instructions, DTDs, CDATA sections or entity
 * references beyond the five predefined ones.  With no DTD there is no
 * entity expansion, so "billion laughs" cannot happen.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"
#include "xml.h"

#define NS_XMLNS	"http://www.w3.org/2000/xmlns/"

/* ==== arena ==== */

#define ARENA_ALIGN	_Alignof(max_align_t)
#define ROUND_UP(n, a)	(((n) + (a) - 1) & ~((size_t)(a) - 1))
#define ARENA_FIRST	1024		/* bytes in the first chunk */
#define ARENA_GROW_MAX	65536		/* chunks grow by doubling up to this */

struct xml_chunk {
	struct xml_chunk *next;
	char		*data;
	size_t		 size;
	size_t		 used;
};

/*
 * The arena header and its first chunk share one allocation, so a small
 * stanza costs a single malloc().  'head' is the chunk being filled;
 * dedicated chunks for large allocations are linked behind it so that the
 * free space in 'head' is not wasted.
 */
struct xml_arena {
	struct xml_chunk  first;
	struct xml_chunk *head;
	size_t		  total;	/* bytes obtained from malloc */
	size_t		  next;		/* size of the next ordinary chunk */
};

#define ARENA_HDR	ROUND_UP(sizeof(struct xml_arena), ARENA_ALIGN)
#define CHUNK_HDR	ROUND_UP(sizeof(struct xml_chunk), ARENA_ALIGN)

struct xml_arena *
xml_arena_new(void)
{
	struct xml_arena *a;

	a = xmalloc(ARENA_HDR + ARENA_FIRST);
	a->first.next = NULL;
	a->first.data = (char *)a + ARENA_HDR;
	a->first.size = ARENA_FIRST;
	a->first.used = 0;
	a->head = &a->first;
	a->total = ARENA_HDR + ARENA_FIRST;
	a->next = 4096;
	return a;
}

void
xml_arena_free(struct xml_arena *a)
{
	struct xml_chunk *c, *next;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		if (c != &a->first)
			free(c);
	}
	free(a);
}

static struct xml_chunk *
chunk_new(struct xml_arena *a, size_t size)
{
	struct xml_chunk *c;

	c = xmalloc(CHUNK_HDR + size);
	c->data = (char *)c + CHUNK_HDR;
	c->size = size;
	c->used = 0;
	c->next = NULL;
	a->total += CHUNK_HDR + size;
	return c;
}

/* n bytes aligned to 'align' (a power of two no larger than ARENA_ALIGN). */
static void *
arena_get(struct xml_arena *a, size_t n, size_t align)
{
	struct xml_chunk *c = a->head;
	size_t off;

	if (n == 0)
		n = 1;
	off = ROUND_UP(c->used, align);
	if (off <= c->size && n <= c->size - off) {
		c->used = off + n;
		return c->data + off;
	}
	if (n > SIZE_MAX / 4)
		fatalx("xml_arena_alloc: %zu bytes", n);
	if (n > a->next / 4) {
		/* Large: its own chunk, behind the one being filled. */
		c = chunk_new(a, ROUND_UP(n, ARENA_ALIGN));
		c->next = a->head->next;
		a->head->next = c;
		c->used = n;
		return c->data;
	}
	c = chunk_new(a, a->next);
	c->next = a->head;
	a->head = c;
	if (a->next < ARENA_GROW_MAX)
		a->next *= 2;
	c->used = n;
	return c->data;
}

/*
 * n bytes at the end of the chunk being filled, with at least 'room' free
 * bytes after them, so that a string there can grow in place.
 */
static char *
arena_tail(struct xml_arena *a, size_t n, size_t room)
{
	struct xml_chunk *c = a->head;
	size_t size;

	if (n <= c->size - c->used && room <= c->size - c->used - n) {
		c->used += n;
		return c->data + c->used - n;
	}
	if (n > SIZE_MAX / 4 || room > SIZE_MAX / 4)
		fatalx("xml_arena: %zu bytes", n);
	size = n + room;
	if (size < a->next)
		size = a->next;
	c = chunk_new(a, ROUND_UP(size, ARENA_ALIGN));
	c->next = a->head;
	a->head = c;
	c->used = n;
	return c->data;
}

void *
xml_arena_alloc(struct xml_arena *a, size_t n)
{
	void *p;

	p = arena_get(a, n, ARENA_ALIGN);
	memset(p, 0, n);
	return p;
}

char *
xml_arena_strndup(struct xml_arena *a, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		fatalx("xml_arena_strndup: size");
	p = arena_get(a, n + 1, 1);
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xml_arena_strdup(struct xml_arena *a, const char *s)
{
	return xml_arena_strndup(a, s, strlen(s));
}

size_t
xml_arena_size(const struct xml_arena *a)
{
	return a->total;
}

/* ==== reading a tree ==== */

const char *
xml_attr(const struct xml_node *n, const char *name)
{
	const struct xml_attr *a;

	if (n == NULL || name == NULL)
		return NULL;
	for (a = n->attrs; a != NULL; a = a->next)
		if ((a->ns == NULL || a->ns[0] == '\0') &&
		    strcmp(a->name, name) == 0)
			return a->value;
	return NULL;
}

const char *
xml_attr_ns(const struct xml_node *n, const char *ns, const char *name)
{
	const struct xml_attr *a;

	if (ns == NULL || ns[0] == '\0')
		return xml_attr(n, name);
	if (n == NULL || name == NULL)
		return NULL;
	for (a = n->attrs; a != NULL; a = a->next)
		if (a->ns != NULL && strcmp(a->ns, ns) == 0 &&
		    strcmp(a->name, name) == 0)
			return a->value;
	return NULL;
}

int
xml_is(const struct xml_node *n, const char *name, const char *ns)
{
	if (n == NULL || n->name == NULL)
		return 0;
	if (name != NULL && strcmp(n->name, name) != 0)
		return 0;
	if (ns != NULL && strcmp(n->ns != NULL ? n->ns : "", ns) != 0)
		return 0;
	return 1;
}

static struct xml_node *
match_from(struct xml_node *c, const char *name, const char *ns)
{
	for (; c != NULL; c = c->next)
		if (xml_is(c, name, ns))
			return c;
	return NULL;
}

struct xml_node *
xml_child(const struct xml_node *n, const char *name, const char *ns)
{
	if (n == NULL)
		return NULL;
	return match_from(n->children, name, ns);
}

struct xml_node *
xml_next(const struct xml_node *prev, const char *name, const char *ns)
{
	if (prev == NULL)
		return NULL;
	return match_from(prev->next, name, ns);
}

struct xml_node *
xml_first_element(const struct xml_node *n)
{
	return xml_child(n, NULL, NULL);
}

const char *
xml_text(const struct xml_node *n)
{
	const struct xml_node *c, *only = NULL;
	size_t len = 0, ntext = 0;
	char *s, *w;

	if (n == NULL)
		return "";
	if (n->name == NULL)
		return n->text != NULL ? n->text : "";
	for (c = n->children; c != NULL; c = c->next) {
		if (c->name != NULL || c->text_len == 0)
			continue;
		if (c->text_len > SIZE_MAX - 1 - len)
			fatalx("xml_text: size");
		len += c->text_len;
		only = c;
		ntext++;
	}
	if (ntext == 0)
		return "";
	/* Text nodes are NUL-terminated already: one needs no copy. */
	if (ntext == 1)
		return only->text;
	w = s = arena_get(n->arena, len + 1, 1);
	for (c = n->children; c != NULL; c = c->next) {
		if (c->name != NULL || c->text_len == 0)
			continue;
		memcpy(w, c->text, c->text_len);
		w += c->text_len;
	}
	*w = '\0';
	return s;
}

const char *
xml_child_text(const struct xml_node *n, const char *name, const char *ns)
{
	const struct xml_node *c;

	if ((c = xml_child(n, name, ns)) == NULL)
		return NULL;
	return xml_text(c);
}

/* ==== building a tree ==== */

static struct xml_node *
node_new(struct xml_arena *a, struct xml_node *parent)
{
	struct xml_node *n;

	n = arena_get(a, sizeof *n, _Alignof(struct xml_node));
	memset(n, 0, sizeof *n);
	n->arena = a;
	if (parent != NULL) {
		n->parent = parent;
		if (parent->last != NULL)
			parent->last->next = n;
		else
			parent->children = n;
		parent->last = n;
	}
	return n;
}

struct xml_node *
xml_new(struct xml_arena *a, const char *name, const char *ns)
{
	struct xml_node *n;

	n = node_new(a, NULL);
	n->name = xml_arena_strdup(a, name);
	n->ns = xml_arena_strdup(a, ns != NULL ? ns : "");
	return n;
}

struct xml_node *
xml_add(struct xml_node *parent, const char *name, const char *ns)
{
	struct xml_node *n;

	n = node_new(parent->arena, parent);
	n->name = xml_arena_strdup(parent->arena, name);
	/* Share the parent's string when the namespace is the same. */
	if (ns == NULL || (parent->ns != NULL && strcmp(ns, parent->ns) == 0))
		n->ns = parent->ns != NULL ? parent->ns : "";
	else
		n->ns = xml_arena_strdup(parent->arena, ns);
	return n;
}

void
xml_set_attr_ns(struct xml_node *n, const char *ns, const char *name,
    const char *value)
{
	struct xml_attr *a, **ap;

	if (ns != NULL && ns[0] == '\0')
		ns = NULL;
	for (ap = &n->attrs; (a = *ap) != NULL; ap = &a->next) {
		if (strcmp(a->name, name) != 0)
			continue;
		if (ns == NULL ? (a->ns != NULL && a->ns[0] != '\0') :
		    (a->ns == NULL || strcmp(a->ns, ns) != 0))
			continue;
		if (value == NULL)
			*ap = a->next;
		else
			a->value = xml_arena_strdup(n->arena, value);
		return;
	}
	if (value == NULL)
		return;
	/* New attributes go last: order is kept as written. */
	a = arena_get(n->arena, sizeof *a, _Alignof(struct xml_attr));
	a->name = xml_arena_strdup(n->arena, name);
	a->ns = ns != NULL ? xml_arena_strdup(n->arena, ns) : NULL;
	a->value = xml_arena_strdup(n->arena, value);
	a->next = NULL;
	*ap = a;
}

void
xml_set_attr(struct xml_node *n, const char *name, const char *value)
{
	xml_set_attr_ns(n, NULL, name, value);
}

void
xml_add_text(struct xml_node *n, const char *text, size_t len)
{
	struct xml_node *t = n->last;
	struct xml_chunk *c = n->arena->head;
	char *s;

	if (len == 0)
		return;
	if (t != NULL && t->name == NULL) {
		if (len > SIZE_MAX - 1 - t->text_len)
			fatalx("xml_add_text: size");
		/*
		 * Merge with the text before.  When that text is the last
		 * thing in the current chunk and there is room, extend it in
		 * place, so that adding text piece by piece stays linear.
		 */
		if (t->text + t->text_len + 1 == c->data + c->used &&
		    len <= c->size - c->used) {
			s = (char *)t->text;
			memcpy(s + t->text_len, text, len);
			s[t->text_len + len] = '\0';
			c->used += len;
		} else {
			/* Leave as much room again: growth stays geometric. */
			s = arena_tail(n->arena, t->text_len + len + 1,
			    t->text_len + len + 1);
			memcpy(s, t->text, t->text_len);
			memcpy(s + t->text_len, text, len);
			s[t->text_len + len] = '\0';
		}
		t->text = s;
		t->text_len += len;
		return;
	}
	t = node_new(n->arena, n);
	t->ns = "";
	t->text = xml_arena_strndup(n->arena, text, len);
	t->text_len = len;
}

struct xml_node *
xml_add_text_child(struct xml_node *parent, const char *name, const char *ns,
    const char *text)
{
	struct xml_node *n;

	n = xml_add(parent, name, ns);
	if (text != NULL)
		xml_add_text(n, text, strlen(text));
	return n;
}

/*
 * Copy one node (not its children) under dp, or as a root if dp is NULL.
 * 'share': dp is the copy of s->parent, so their namespace strings can be
 * shared as they are in the source.
 */
static struct xml_node *
copy_node(struct xml_arena *a, const struct xml_node *s, struct xml_node *dp,
    int share)
{
	struct xml_node *d;
	const struct xml_attr *sa;
	struct xml_attr *da, **tail;

	d = node_new(a, dp);
	if (s->name == NULL) {
		d->ns = "";
		d->text = xml_arena_strndup(a, s->text != NULL ? s->text : "",
		    s->text != NULL ? s->text_len : 0);
		d->text_len = s->text != NULL ? s->text_len : 0;
		return d;
	}
	d->name = xml_arena_strdup(a, s->name);
	if (share && s->ns == s->parent->ns)
		d->ns = dp->ns;
	else
		d->ns = xml_arena_strdup(a, s->ns != NULL ? s->ns : "");
	tail = &d->attrs;
	for (sa = s->attrs; sa != NULL; sa = sa->next) {
		da = arena_get(a, sizeof *da, _Alignof(struct xml_attr));
		da->name = xml_arena_strdup(a, sa->name);
		if (sa->ns == NULL)
			da->ns = NULL;
		else if (sa->ns == s->ns)
			da->ns = d->ns;
		else
			da->ns = xml_arena_strdup(a, sa->ns);
		da->value = xml_arena_strdup(a, sa->value);
		da->next = NULL;
		*tail = da;
		tail = &da->next;
	}
	return d;
}

/* Iterative, so that the depth of src costs no stack. */
static struct xml_node *
copy_tree(struct xml_arena *a, const struct xml_node *src,
    struct xml_node *parent)
{
	struct xml_node *root, *dp, *d;
	const struct xml_node *s;

	root = copy_node(a, src, parent, 0);
	if (src->name == NULL)
		return root;
	dp = root;
	s = src->children;
	while (s != NULL) {
		d = copy_node(a, s, dp, 1);
		if (s->name != NULL && s->children != NULL) {
			dp = d;
			s = s->children;
			continue;
		}
		while (s->next == NULL) {
			s = s->parent;
			dp = dp->parent;
			if (s == src || s == NULL)
				return root;
		}
		s = s->next;
	}
	return root;
}

struct xml_node *
xml_copy(struct xml_arena *a, const struct xml_node *src)
{
	return copy_tree(a, src, NULL);
}

struct xml_node *
xml_append_copy(struct xml_node *parent, const struct xml_node *src)
{
	return copy_tree(parent->arena, src, parent);
}

void
xml_remove(struct xml_node *child)
{
	struct xml_node *p = child->parent, *c, *prev = NULL;

	if (p == NULL)
		return;
	for (c = p->children; c != NULL && c != child; c = c->next)
		prev = c;
	if (c == NULL)
		return;
	if (prev != NULL)
		prev->next = child->next;
	else
		p->children = child->next;
	if (p->last == child)
		p->last = prev;
	child->parent = NULL;
	child->next = NULL;
}

/* ==== serializing ==== */

/*
 * Escaping.  Beyond the five markup characters, CR is written as a
 * character reference everywhere, and TAB and LF inside attribute values,
 * because a parser normalizes the literal characters (CR LF to LF; white
 * space in attribute values to spaces): without this a round trip would
 * change the content.
 */
static int
add_escaped(struct buf *out, const char *s, size_t n, int attr)
{
	size_t i, start = 0;
	const char *rep;

	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '\r':
			rep = "&#13;";
			break;
		case '"':
			if (!attr)
				continue;
			rep = "&quot;";
			break;
		case '\'':
			if (!attr)
				continue;
			rep = "&apos;";
			break;
		case '\t':
			if (!attr)
				continue;
			rep = "&#9;";
			break;
		case '\n':
			if (!attr)
				continue;
			rep = "&#10;";
			break;
		default:
			continue;
		}
		if (i > start && buf_add(out, s + start, i - start) == -1)
			return -1;
		if (buf_addstr(out, rep) == -1)
			return -1;
		start = i + 1;
	}
	if (n > start)
		return buf_add(out, s + start, n - start);
	return 0;
}

static int
is_stanza_ns(const char *ns)
{
	return ns != NULL && (strcmp(ns, NS_CLIENT) == 0 ||
	    strcmp(ns, NS_SERVER) == 0);
}

/* One open element on the serializer's stack. */
struct ser_frame {
	const struct xml_node	*n;
	const char		*dflt;	/* default namespace for its children */
	int			 pfx;	/* written as stream:name */
};

/* Writes the start tag of element n; *dflt is the default ns in scope. */
static int
ser_start(const struct xml_node *n, struct buf *out, const char *stream_ns,
    int top, struct ser_frame *f, const char *dflt)
{
	const struct xml_attr *a, *b;
	const char *ns = n->ns != NULL ? n->ns : "";
	int decl = 0;
	unsigned k, idx;

	f->n = n;
	f->pfx = 0;
	f->dflt = dflt;
	if (top && is_stanza_ns(stream_ns) && is_stanza_ns(ns)) {
		/* RFC 6120 4.8.3: the stream's namespace, whichever it is. */
		f->dflt = ns;
	} else if (strcmp(ns, dflt) == 0) {
		f->dflt = dflt;
	} else if (stream_ns != NULL && strcmp(ns, NS_STREAM) == 0) {
		/* The stream header binds "stream"; RFC 6120 4.8.5. */
		f->pfx = 1;
	} else {
		decl = 1;
		f->dflt = ns;
	}
	if (buf_add(out, "<", 1) == -1 ||
	    (f->pfx && buf_add(out, "stream:", 7) == -1) ||
	    buf_addstr(out, n->name) == -1)
		return -1;
	if (decl && (buf_add(out, " xmlns=\"", 8) == -1 ||
	    add_escaped(out, ns, strlen(ns), 1) == -1 ||
	    buf_add(out, "\"", 1) == -1))
		return -1;
	for (a = n->attrs; a != NULL; a = a->next) {
		if (buf_add(out, " ", 1) == -1)
			return -1;
		if (a->ns == NULL || a->ns[0] == '\0') {
			/* unprefixed */
		} else if (strcmp(a->ns, NS_XML) == 0) {
			if (buf_add(out, "xml:", 4) == -1)
				return -1;
		} else {
			/*
			 * A generated prefix, a<k> for the k-th distinct
			 * namespace among this element's attributes,
			 * declared on this element the first time.
			 */
			k = 0;
			idx = (unsigned)-1;
			for (b = n->attrs; b != a; b = b->next) {
				const struct xml_attr *c;

				if (b->ns == NULL || b->ns[0] == '\0' ||
				    strcmp(b->ns, NS_XML) == 0)
					continue;
				for (c = n->attrs; c != b; c = c->next)
					if (c->ns != NULL &&
					    strcmp(c->ns, b->ns) == 0)
						break;
				if (c != b)
					continue;	/* not its first use */
				if (strcmp(b->ns, a->ns) == 0)
					idx = k;
				k++;
			}
			if (idx == (unsigned)-1) {
				idx = k;
				if (buf_printf(out, "xmlns:a%u=\"", idx) == -1 ||
				    add_escaped(out, a->ns, strlen(a->ns),
				    1) == -1 ||
				    buf_add(out, "\" ", 2) == -1)
					return -1;
			}
			if (buf_printf(out, "a%u:", idx) == -1)
				return -1;
		}
		if (buf_addstr(out, a->name) == -1 ||
		    buf_add(out, "=\"", 2) == -1 ||
		    add_escaped(out, a->value, strlen(a->value), 1) == -1 ||
		    buf_add(out, "\"", 1) == -1)
			return -1;
	}
	if (n->children == NULL)
		return buf_add(out, "/>", 2);
	return buf_add(out, ">", 1);
}

static int
ser_end(const struct ser_frame *f, struct buf *out)
{
	if (buf_add(out, "</", 2) == -1 ||
	    (f->pfx && buf_add(out, "stream:", 7) == -1) ||
	    buf_addstr(out, f->n->name) == -1 ||
	    buf_add(out, ">", 1) == -1)
		return -1;
	return 0;
}

/* Iterative: a tree built locally may be of any depth. */
static int
serialize(const struct xml_node *n, struct buf *out, const char *stream_ns)
{
	struct ser_frame fixed[32], *st = fixed, *nst;
	size_t depth = 0, cap = sizeof fixed / sizeof fixed[0];
	const struct xml_node *c;
	const char *dflt;
	int rc = -1;

	if (n->name == NULL)
		return add_escaped(out, n->text, n->text_len, 0);
	if (ser_start(n, out, stream_ns, 1, &st[0],
	    stream_ns != NULL ? stream_ns : "") == -1)
		return -1;
	if (n->children == NULL)
		return 0;
	depth = 1;
	c = n->children;
	for (;;) {
		if (c == NULL) {
			/* Close the innermost element, go on after it. */
			depth--;
			if (ser_end(&st[depth], out) == -1)
				goto done;
			if (depth == 0)
				break;
			c = st[depth].n->next;
			continue;
		}
		if (c->name == NULL) {
			if (add_escaped(out, c->text, c->text_len, 0) == -1)
				goto done;
			c = c->next;
			continue;
		}
		if (depth == cap) {
			if (cap > SIZE_MAX / 2 / sizeof *st)
				fatalx("xml_serialize: depth");
			nst = xrealloc(st == fixed ? NULL : st,
			    cap * 2 * sizeof *st);
			if (st == fixed)
				memcpy(nst, fixed, sizeof fixed);
			st = nst;
			cap *= 2;
		}
		dflt = st[depth - 1].dflt;
		if (ser_start(c, out, stream_ns, 0, &st[depth], dflt) == -1)
			goto done;
		if (c->children != NULL) {
			depth++;
			c = c->children;
		} else
			c = c->next;
	}
	rc = 0;
done:
	if (st != fixed)
		free(st);
	return rc;
}

int
xml_serialize(const struct xml_node *n, struct buf *out, const char *stream_ns)
{
	size_t used = buf_used(out);

	if (serialize(n, out, stream_ns) == 0)
		return 0;
	/* Take back what was written: no half stanza on the wire. */
	out->len = out->off + used;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return -1;
}

/* ==== the tokenizer ==== */

#define NWF		"not-well-formed"
#define POLICY		"policy-violation"
#define RESTRICTED	"restricted-xml"
#define BADPFX		"bad-namespace-prefix"

/* Where the machine is; comments give what it has just seen. */
enum xstate {
	XS_START,	/* nothing yet */
	XS_START_LT,	/* '<' as the very first byte */
	XS_PI_TARGET,	/* "<?", maybe the XML declaration */
	XS_DECL,	/* inside "<?xml ... ?>" */
	XS_PROLOG,	/* before the root element */
	XS_CONTENT,	/* character data, or white space between stanzas */
	XS_LT,		/* '<' */
	XS_BANG,	/* "<!" */
	XS_STAG_NAME,	/* '<' and part of an element name */
	XS_STAG_WS,	/* white space inside a start tag */
	XS_STAG_VAL,	/* the closing quote of an attribute value */
	XS_STAG_SLASH,	/* '/' inside a start tag */
	XS_ATTR_NAME,	/* part of an attribute name */
	XS_ATTR_EQ,	/* white space after an attribute name */
	XS_ATTR_QUOTE,	/* '=' */
	XS_ATTR_VAL,	/* inside a quoted value */
	XS_ETAG_NAME,	/* "</" and part of the name */
	XS_ETAG_WS,	/* white space after the end tag's name */
	XS_REF,		/* '&' */
	XS_CREF,	/* "&#" */
	XS_CREF_DEC,	/* "&#" and digits */
	XS_CREF_HEX,	/* "&#x" and maybe hex digits */
	XS_EREF,	/* '&' and part of a name */
	XS_EPILOG,	/* after the root element closed */
	XS_ERROR
};

/* A namespace index: a binding's position, or one of these. */
#define NSI_NONE	(-1L)	/* no namespace ("") */
#define NSI_XML		(-2L)	/* the predeclared xml prefix */
#define NSI_NULL	(-3L)	/* an unprefixed attribute */

/* A growable byte buffer; what bounds it is the caller's business. */
struct vbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

/* One attribute of the start tag being read; offsets into p->tag. */
struct xml_attrrec {
	size_t	 name_off;
	size_t	 name_len;
	size_t	 colon;		/* offset of ':' in the name, 0 if none */
	size_t	 val_off;
	size_t	 val_len;
	uint32_t hash;
	int	 decl;		/* xmlns or xmlns:p */
	long	 nsi;
};

/* A namespace declaration in scope; strings in p->nsbuf. */
struct xml_bind {
	size_t		 pfx_off;
	size_t		 pfx_len;	/* 0: the default namespace */
	size_t		 uri_off;
	size_t		 uri_len;
	const char	*acopy;		/* the URI in the stanza arena ... */
	unsigned long	 agen;		/* ... of this generation */
};

/* An open element. */
struct xml_open {
	size_t	 name_off;		/* its qualified name, in p->names */
	size_t	 name_len;
	size_t	 nbinds;		/* scope to go back to at its end */
	size_t	 nslen;
};

struct xml_parser {
	enum xml_mode	 mode;
	struct xml_limits lim;
	enum xstate	 state;
	enum xml_event	 ev;
	const char	*cond;
	char		 detail[160];

	/* UTF-8 decoder: a code point with u_need bytes to come */
	uint32_t	 u_cp;
	unsigned	 u_need;
	unsigned char	 u_lo, u_hi;	/* range of the next byte */

	/* raw bytes of the current stanza (or stream header) */
	int		 counting;
	size_t		 count;

	/* the start tag being read */
	struct vbuf	 tag;		/* element name, attribute names, values */
	size_t		 el_len;
	size_t		 el_colon;
	struct xml_attrrec *attrs;
	size_t		 nattrs;
	size_t		 attrcap;

	/* the name being read */
	size_t		 nm_len;
	size_t		 nm_coff;	/* offset of its ':' */
	int		 nm_start;	/* the next character starts a part */
	int		 nm_colon;

	uint32_t	 quote;
	size_t		 et_pos;	/* bytes of an end tag's name matched */
	int		 cr;		/* a literal CR came just before */
	int		 ended;		/* the root element has closed */
	int		 rb;		/* literal ']' just before (up to 2) */

	/* references */
	enum xstate	 ref_ret;
	uint32_t	 ref_val;
	size_t		 ref_len;
	char		 ref_name[16];

	/* the XML declaration */
	char		 decl[128];
	size_t		 decl_len;

	struct vbuf	 text;		/* character data not yet in the tree */
	struct vbuf	 names;		/* qualified names of open elements */
	struct xml_open	*open;
	size_t		 nopen;
	size_t		 opencap;
	struct vbuf	 nsbuf;		/* prefixes and URIs in scope */
	struct xml_bind	*binds;
	size_t		 nbinds;
	size_t		 bindcap;

	/* trees */
	struct xml_arena *arena;	/* of the stanza being built */
	struct xml_node	*root;
	struct xml_node	*cur;		/* innermost open element */
	unsigned long	 gen;		/* counts stanza arenas */
	struct xml_node	*done;		/* complete, not yet taken */
	struct xml_arena *harena;	/* the stream header's */
	struct xml_node	*header;
	const char	*stream_dns;
};

static const struct xml_limits default_limits = XML_DEFAULT_LIMITS;

/* ---- small helpers ---- */

static void
vb_reserve(struct vbuf *b, size_t n)
{
	size_t cap;

	if (n <= b->cap - b->len)
		return;
	if (n > SIZE_MAX / 4 - b->len)
		fatalx("xml: buffer size");
	cap = b->cap ? b->cap : 64;
	while (cap - b->len < n)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

static void
vb_add(struct vbuf *b, const void *d, size_t n)
{
	if (n == 0)
		return;
	vb_reserve(b, n);
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

/* Empty b, and give its memory back if it grew past 'keep'. */
static void
vb_release(struct vbuf *b, size_t keep)
{
	b->len = 0;
	if (b->cap > keep) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
}

static size_t
utf8_put(char *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

static void
vb_addcp(struct vbuf *b, uint32_t c)
{
	char u[4];

	vb_add(b, u, utf8_put(u, c));
}

static int
is_ws(uint32_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* XML 1.0 production [2] Char. */
static int
is_xml_char(uint32_t c)
{
	return c == 0x9 || c == 0xa || c == 0xd ||
	    (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) ||
	    (c >= 0x10000 && c <= 0x10ffff);
}

/* XML 1.0 (fifth edition) NameStartChar, without ':' (NCName). */
static int
is_name_start(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_';
	return (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xf6) ||
	    (c >= 0xf8 && c <= 0x2ff) || (c >= 0x370 && c <= 0x37d) ||
	    (c >= 0x37f && c <= 0x1fff) || (c >= 0x200c && c <= 0x200d) ||
	    (c >= 0x2070 && c <= 0x218f) || (c >= 0x2c00 && c <= 0x2fef) ||
	    (c >= 0x3001 && c <= 0xd7ff) || (c >= 0xf900 && c <= 0xfdcf) ||
	    (c >= 0xfdf0 && c <= 0xfffd) || (c >= 0x10000 && c <= 0xeffff);
}

/* NameChar, without ':'. */
static int
is_name_char(uint32_t c)
{
	return is_name_start(c) || c == '-' || c == '.' ||
	    (c >= '0' && c <= '9') || c == 0xb7 ||
	    (c >= 0x300 && c <= 0x36f) || (c >= 0x203f && c <= 0x2040);
}

static int
str_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* FNV-1a, only to make the duplicate-attribute check cheap. */
static uint32_t
hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* Free the stanza being built, if any. */
static void
drop_tree(struct xml_parser *p)
{
	xml_arena_free(p->arena);
	p->arena = NULL;
	p->root = p->cur = NULL;
}

static void
drop_done(struct xml_parser *p)
{
	if (p->done != NULL) {
		xml_arena_free(p->done->arena);
		p->done = NULL;
	}
}

/* Enter the error state.  Returns -1 so that callers can return it. */
static int
fail(struct xml_parser *p, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct xml_parser *p, const char *cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* A detail cut short is still a good enough detail. */
	(void)vsnprintf(p->detail, sizeof p->detail, fmt, ap);
	va_end(ap);
	p->cond = cond;
	p->ev = XML_EV_ERROR;
	p->state = XS_ERROR;
	drop_tree(p);
	return -1;
}

/* In a stanza (or the document's root), where text is content. */
static int
in_content(const struct xml_parser *p)
{
	return p->mode == XML_MODE_STREAM ? p->nopen >= 2 : p->nopen >= 1;
}

/* A '<' outside any stanza starts a new unit whose bytes are counted. */
static int
unit_begin(struct xml_parser *p)
{
	if (p->counting)
		return 0;
	p->counting = 1;
	p->count = 1;
	if (p->count > p->lim.max_stanza)
		return fail(p, POLICY, "stanza larger than %zu bytes "
		    "(max_stanza)", p->lim.max_stanza);
	return 0;
}

/* ---- names ---- */

static void
name_begin(struct xml_parser *p)
{
	p->nm_len = 0;
	p->nm_coff = 0;
	p->nm_start = 1;
	p->nm_colon = 0;
}

/* Add one character to the qualified name being read into b. */
static int
name_add(struct xml_parser *p, struct vbuf *b, uint32_t c, const char *what)
{
	char u[4];
	size_t n;

	if (c == ':') {
		if (p->nm_start || p->nm_colon)
			return fail(p, NWF, "bad %s name: misplaced ':'",
			    what);
		p->nm_colon = 1;
		p->nm_coff = p->nm_len;
		p->nm_start = 1;
	} else if (p->nm_start ? !is_name_start(c) : !is_name_char(c))
		return fail(p, NWF, "character U+%04X not allowed in %s "
		    "name", (unsigned)c, what);
	else
		p->nm_start = 0;
	n = utf8_put(u, c);
	if (p->nm_len > p->lim.max_name || n > p->lim.max_name - p->nm_len)
		return fail(p, POLICY, "%s name longer than %u bytes "
		    "(max_name)", what, p->lim.max_name);
	vb_add(b, u, n);
	p->nm_len += n;
	return 0;
}

static int
name_end(struct xml_parser *p, const char *what)
{
	if (p->nm_start)
		return fail(p, NWF, "bad %s name: ends with ':'", what);
	return 0;
}

/* ---- namespaces ---- */

static long
lookup(const struct xml_parser *p, const char *pfx, size_t plen)
{
	size_t i;

	for (i = p->nbinds; i-- > 0; )
		if (p->binds[i].pfx_len == plen &&
		    memcmp(p->nsbuf.p + p->binds[i].pfx_off, pfx, plen) == 0)
			return (long)i;
	return NSI_NONE;
}

static void
uri_of(const struct xml_parser *p, long nsi, const char **u, size_t *len)
{
	if (nsi >= 0) {
		*u = p->nsbuf.p + p->binds[nsi].uri_off;
		*len = p->binds[nsi].uri_len;
	} else if (nsi == NSI_XML) {
		*u = NS_XML;
		*len = strlen(NS_XML);
	} else {
		*u = "";
		*len = 0;
	}
}

/*
 * The URI as a string in arena a.  For the stanza being built, each
 * binding's copy is made once and shared by every node that uses it.
 */
static const char *
ns_for(struct xml_parser *p, struct xml_arena *a, long nsi)
{
	struct xml_bind *b;

	if (nsi == NSI_NULL)
		return NULL;
	if (nsi == NSI_XML)
		return NS_XML;
	if (nsi == NSI_NONE || p->binds[nsi].uri_len == 0)
		return "";
	b = &p->binds[nsi];
	if (a != p->arena)
		return xml_arena_strndup(a, p->nsbuf.p + b->uri_off,
		    b->uri_len);
	if (b->acopy == NULL || b->agen != p->gen) {
		b->acopy = xml_arena_strndup(a, p->nsbuf.p + b->uri_off,
		    b->uri_len);
		b->agen = p->gen;
	}
	return b->acopy;
}

/*
 * An xmlns or xmlns:p attribute.  Namespaces in XML 1.0 section 3: xml
 * may only be bound to its own URI and nothing else to it; xmlns and its
 * URI are never bound; a prefix cannot be undeclared with "".  These are
 * namespace well-formedness errors, hence not-well-formed.
 */
static int
declare(struct xml_parser *p, const struct xml_attrrec *r)
{
	const char *name = p->tag.p + r->name_off, *uri;
	size_t plen, ulen;
	struct xml_bind *b;

	uri = p->tag.p + r->val_off;
	ulen = r->val_len;
	plen = r->colon != 0 ? r->name_len - 6 : 0;
	if (str_is(name + 6, plen, "xmlns"))
		return fail(p, NWF, "the prefix xmlns cannot be declared");
	if (str_is(name + 6, plen, "xml")) {
		if (!str_is(uri, ulen, NS_XML))
			return fail(p, NWF, "the prefix xml cannot be "
			    "bound to another namespace");
		return 0;
	}
	if (str_is(uri, ulen, NS_XML))
		return fail(p, NWF, "only the prefix xml may be bound to "
		    "the XML namespace");
	if (str_is(uri, ulen, NS_XMLNS))
		return fail(p, NWF, "the xmlns namespace cannot be declared");
	if (plen > 0 && ulen == 0)
		return fail(p, NWF, "xmlns:%.*s=\"\" is not allowed",
		    (int)plen, name + 6);
	if (p->nbinds == p->bindcap) {
		p->bindcap = p->bindcap ? p->bindcap * 2 : 16;
		p->binds = xrealloc(p->binds, p->bindcap * sizeof *p->binds);
	}
	/* Storage even for xmlns="": lookups do arithmetic on nsbuf.p. */
	vb_reserve(&p->nsbuf, plen + ulen + 1);
	b = &p->binds[p->nbinds++];
	b->pfx_len = plen;
	b->uri_len = ulen;
	/* vb_add may move p->nsbuf but not p->tag: name, uri stay valid. */
	b->pfx_off = p->nsbuf.len;
	vb_add(&p->nsbuf, name + 6, plen);
	b->uri_off = p->nsbuf.len;
	vb_add(&p->nsbuf, uri, ulen);
	b->acopy = NULL;
	b->agen = 0;
	return 0;
}

/* Resolve the qualified name at p->tag + off (':' at off + colon). */
static int
resolve(struct xml_parser *p, size_t off, size_t len, size_t colon,
    int elem, long *nsi)
{
	const char *q = p->tag.p + off;

	if (colon == 0) {
		*nsi = elem ? lookup(p, "", 0) : NSI_NULL;
		return 0;
	}
	if (str_is(q, colon, "xml")) {
		/* xml:lang and friends are attributes; an element in the XML
		 * namespace cannot be written back out legally (no prefix but
		 * xml may name that namespace), so it could not be forwarded. */
		if (elem)
			return fail(p, BADPFX, "element <%.*s> is in the reserved "
			    "xml namespace", (int)len, q);
		*nsi = NSI_XML;
		return 0;
	}
	if (str_is(q, colon, "xmlns"))
		return fail(p, BADPFX, "element <%.*s> has the prefix xmlns",
		    (int)len, q);
	*nsi = lookup(p, q, colon);
	if (*nsi == NSI_NONE)
		return fail(p, BADPFX, "prefix %.*s of %s %.*s is not bound",
		    (int)colon, q, elem ? "element" : "attribute",
		    (int)len, q);
	return 0;
}

/* ---- building ---- */

static void
flush_text(struct xml_parser *p)
{
	struct xml_node *t;

	if (p->text.len == 0 || p->cur == NULL) {
		p->text.len = 0;
		return;
	}
	t = node_new(p->arena, p->cur);
	t->ns = "";
	t->text = xml_arena_strndup(p->arena, p->text.p, p->text.len);
	t->text_len = p->text.len;
	p->text.len = 0;
}

static void
build_attrs(struct xml_parser *p, struct xml_node *n, struct xml_arena *a)
{
	struct xml_attrrec *r;
	struct xml_attr *x, **tail = &n->attrs;
	size_t i, lo;

	for (i = 0; i < p->nattrs; i++) {
		r = &p->attrs[i];
		if (r->decl)
			continue;
		lo = r->colon != 0 ? r->colon + 1 : 0;
		x = arena_get(a, sizeof *x, _Alignof(struct xml_attr));
		x->name = xml_arena_strndup(a, p->tag.p + r->name_off + lo,
		    r->name_len - lo);
		x->ns = ns_for(p, a, r->nsi);
		x->value = xml_arena_strndup(a, p->tag.p + r->val_off,
		    r->val_len);
		x->next = NULL;
		*tail = x;
		tail = &x->next;
	}
}

static void
push_open(struct xml_parser *p, size_t bmark, size_t nsmark)
{
	struct xml_open *o;

	if (p->nopen == p->opencap) {
		p->opencap = p->opencap ? p->opencap * 2 : 16;
		p->open = xrealloc(p->open, p->opencap * sizeof *p->open);
	}
	o = &p->open[p->nopen++];
	o->name_off = p->names.len;
	o->name_len = p->el_len;
	o->nbinds = bmark;
	o->nslen = nsmark;
	vb_add(&p->names, p->tag.p, p->el_len);
}

/* A stanza (or the document's root) is complete. */
static void
complete(struct xml_parser *p)
{
	p->done = p->root;
	p->root = p->cur = NULL;
	p->arena = NULL;
	p->counting = 0;
	p->count = 0;
	if (p->mode == XML_MODE_STREAM) {
		p->ev = XML_EV_STANZA;
		p->state = XS_CONTENT;
	} else {
		p->ev = XML_EV_DOCUMENT;
		p->state = XS_EPILOG;
		p->ended = 1;
	}
	/* A connection keeps its parser: do not keep a big stanza's room. */
	vb_release(&p->text, 16384);
	vb_release(&p->tag, 16384);
}

static void
elem_closed(struct xml_parser *p, struct xml_node *n)
{
	p->state = XS_CONTENT;
	if (n == p->root)
		complete(p);
	else
		p->cur = n->parent;
}

static int
open_stream(struct xml_parser *p, long nsi, size_t bmark, size_t nsmark,
    int empty)
{
	const char *u;
	size_t ulen, lo = p->el_colon ? p->el_colon + 1 : 0;
	struct xml_node *n;
	long d;

	uri_of(p, nsi, &u, &ulen);
	if (!str_is(p->tag.p + lo, p->el_len - lo, "stream") ||
	    !str_is(u, ulen, NS_STREAM))
		return fail(p, "invalid-namespace", "the root element must "
		    "be <stream> in the namespace " NS_STREAM);
	if (empty)
		return fail(p, "bad-format", "the stream element is empty");
	p->harena = xml_arena_new();
	n = node_new(p->harena, NULL);
	n->name = xml_arena_strdup(p->harena, "stream");
	n->ns = xml_arena_strdup(p->harena, NS_STREAM);
	build_attrs(p, n, p->harena);
	/* Nothing is bound before the root: a default is its own. */
	d = lookup(p, "", 0);
	p->stream_dns = ns_for(p, p->harena, d);
	p->header = n;
	push_open(p, bmark, nsmark);
	p->counting = 0;
	p->count = 0;
	p->state = XS_CONTENT;
	p->ev = XML_EV_STREAM_OPEN;
	return 0;
}

/* The start tag is complete ('>' or "/>"). */
static int
finish_stag(struct xml_parser *p, int empty)
{
	size_t bmark = p->nbinds, nsmark = p->nsbuf.len, i, j, lo, li, lj;
	struct xml_attrrec *r, *q;
	const char *t = p->tag.p, *ui, *uj;
	size_t uil, ujl;
	struct xml_node *n;
	long ensi;

	/* Duplicates as written, xmlns declarations included. */
	for (i = 0; i < p->nattrs; i++) {
		r = &p->attrs[i];
		for (j = 0; j < i; j++) {
			q = &p->attrs[j];
			if (q->hash == r->hash && q->name_len == r->name_len &&
			    memcmp(t + q->name_off, t + r->name_off,
			    r->name_len) == 0)
				return fail(p, NWF, "duplicate attribute %.*s",
				    (int)r->name_len, t + r->name_off);
		}
	}
	/* Declarations apply to the element's own name and attributes. */
	for (i = 0; i < p->nattrs; i++)
		if (p->attrs[i].decl && declare(p, &p->attrs[i]) == -1)
			return -1;
	if (resolve(p, 0, p->el_len, p->el_colon, 1, &ensi) == -1)
		return -1;
	for (i = 0; i < p->nattrs; i++) {
		r = &p->attrs[i];
		if (!r->decl && resolve(p, r->name_off, r->name_len, r->colon,
		    0, &r->nsi) == -1)
			return -1;
	}
	/* Duplicates after resolution: p:a and q:a with p, q the same URI. */
	for (i = 0; i < p->nattrs; i++) {
		r = &p->attrs[i];
		if (r->decl || r->colon == 0)
			continue;
		li = r->name_len - r->colon - 1;
		uri_of(p, r->nsi, &ui, &uil);
		for (j = 0; j < i; j++) {
			q = &p->attrs[j];
			if (q->decl || q->colon == 0)
				continue;
			lj = q->name_len - q->colon - 1;
			uri_of(p, q->nsi, &uj, &ujl);
			if (li == lj && memcmp(t + r->name_off + r->colon + 1,
			    t + q->name_off + q->colon + 1, li) == 0 &&
			    uil == ujl && memcmp(ui, uj, uil) == 0)
				return fail(p, NWF, "duplicate attribute "
				    "{%.*s}%.*s", (int)uil, ui, (int)li,
				    t + r->name_off + r->colon + 1);
		}
	}

	if (p->mode == XML_MODE_STREAM && p->nopen == 0)
		return open_stream(p, ensi, bmark, nsmark, empty);

	if (p->root == NULL) {
		p->arena = xml_arena_new();
		p->gen++;
		n = node_new(p->arena, NULL);
		p->root = n;
	} else
		n = node_new(p->arena, p->cur);
	lo = p->el_colon ? p->el_colon + 1 : 0;
	n->name = xml_arena_strndup(p->arena, t + lo, p->el_len - lo);
	n->ns = ns_for(p, p->arena, ensi);
	build_attrs(p, n, p->arena);
	if (empty) {
		p->nbinds = bmark;
		p->nsbuf.len = nsmark;
		elem_closed(p, n);
		return 0;
	}
	push_open(p, bmark, nsmark);
	p->cur = n;
	p->state = XS_CONTENT;
	return 0;
}

static int
finish_etag(struct xml_parser *p)
{
	struct xml_open *o = &p->open[p->nopen - 1];

	if (p->et_pos != o->name_len)
		return fail(p, NWF, "mismatched end tag, expected </%.*s>",
		    (int)o->name_len, p->names.p + o->name_off);
	p->nbinds = o->nbinds;
	p->nsbuf.len = o->nslen;
	p->names.len = o->name_off;
	p->nopen--;
	if (p->mode == XML_MODE_STREAM && p->nopen == 0) {
		p->state = XS_EPILOG;
		p->ended = 1;
		p->counting = 0;
		p->count = 0;
		p->ev = XML_EV_STREAM_CLOSE;
		return 0;
	}
	elem_closed(p, p->cur);
	return 0;
}

/* ---- the XML declaration ---- */

/* One pseudo-attribute name="value" (or 'value') at *sp. */
static int
decl_pair(const char **sp, const char *e, const char **name, size_t *nlen,
    const char **val, size_t *vlen)
{
	const char *s = *sp;
	char q;

	*name = s;
	while (s < e && *s >= 'a' && *s <= 'z')
		s++;
	*nlen = (size_t)(s - *name);
	while (s < e && is_ws((unsigned char)*s))
		s++;
	if (*nlen == 0 || s == e || *s++ != '=')
		return -1;
	while (s < e && is_ws((unsigned char)*s))
		s++;
	if (s == e || (*s != '"' && *s != '\''))
		return -1;
	q = *s++;
	*val = s;
	while (s < e && *s != q)
		s++;
	if (s == e)
		return -1;
	*vlen = (size_t)(s - *val);
	*sp = s + 1;
	return 0;
}

/* XML 1.0 production [23] XMLDecl, between "<?xml" S and "?>". */
static int
parse_decl(struct xml_parser *p, const char *s, size_t n)
{
	const char *e = s + n, *name, *val, *ws;
	size_t nlen, vlen;
	int seen = 0;	/* 1 version, 2 encoding, 3 standalone */

	for (;;) {
		ws = s;
		while (s < e && is_ws((unsigned char)*s))
			s++;
		if (s == e)
			break;
		if (seen > 0 && s == ws)
			return fail(p, NWF, "bad XML declaration");
		if (decl_pair(&s, e, &name, &nlen, &val, &vlen) == -1)
			return fail(p, NWF, "bad XML declaration");
		if (seen == 0 && str_is(name, nlen, "version")) {
			if (!str_is(val, vlen, "1.0"))
				return fail(p, "unsupported-version",
				    "XML version %.*s", (int)(vlen > 16 ? 16 :
				    vlen), val);
			seen = 1;
		} else if (seen == 1 && str_is(name, nlen, "encoding")) {
			if (vlen != 5 || strncasecmp(val, "UTF-8", 5) != 0)
				return fail(p, "unsupported-encoding",
				    "only UTF-8 is supported");
			seen = 2;
		} else if ((seen == 1 || seen == 2) &&
		    str_is(name, nlen, "standalone")) {
			if (!str_is(val, vlen, "yes") &&
			    !str_is(val, vlen, "no"))
				return fail(p, NWF, "bad XML declaration");
			seen = 3;
		} else
			return fail(p, NWF, "bad XML declaration");
	}
	if (seen == 0)
		return fail(p, NWF, "XML declaration without a version");
	return 0;
}

static int
decl_add(struct xml_parser *p, uint32_t c)
{
	if (c >= 0x80)
		return fail(p, NWF, "bad XML declaration");
	if (p->decl_len == sizeof p->decl)
		return fail(p, NWF, "XML declaration too long");
	p->decl[p->decl_len++] = (char)c;
	if (p->decl_len < 2 || p->decl[p->decl_len - 2] != '?' || c != '>')
		return 0;
	if (parse_decl(p, p->decl, p->decl_len - 2) == -1)
		return -1;
	p->state = XS_PROLOG;
	return 0;
}

/* ---- the machine ---- */

static int
stag_begin(struct xml_parser *p, uint32_t c)
{
	size_t level;

	/* The stream root is level 0, a stanza (or document root) 1. */
	level = p->mode == XML_MODE_STREAM ? p->nopen : p->nopen + 1;
	if (level > p->lim.max_depth)
		return fail(p, POLICY, "elements nested deeper than %u "
		    "levels (max_depth)", p->lim.max_depth);
	p->tag.len = 0;
	p->nattrs = 0;
	name_begin(p);
	p->state = XS_STAG_NAME;
	return name_add(p, &p->tag, c, "element");
}

static void
stag_name_end(struct xml_parser *p)
{
	p->el_len = p->tag.len;
	p->el_colon = p->nm_colon ? p->nm_coff : 0;
}

static int
attr_begin(struct xml_parser *p, uint32_t c)
{
	struct xml_attrrec *r;

	if (p->nattrs >= p->lim.max_attrs)
		return fail(p, POLICY, "more than %u attributes on an "
		    "element (max_attrs)", p->lim.max_attrs);
	if (p->nattrs == p->attrcap) {
		p->attrcap = p->attrcap ? p->attrcap * 2 : 8;
		p->attrs = xrealloc(p->attrs, p->attrcap * sizeof *p->attrs);
	}
	r = &p->attrs[p->nattrs++];
	memset(r, 0, sizeof *r);
	r->name_off = p->tag.len;
	name_begin(p);
	p->state = XS_ATTR_NAME;
	return name_add(p, &p->tag, c, "attribute");
}

static int
attr_name_end(struct xml_parser *p)
{
	struct xml_attrrec *r = &p->attrs[p->nattrs - 1];
	const char *name;

	if (name_end(p, "attribute") == -1)
		return -1;
	name = p->tag.p + r->name_off;
	r->name_len = p->tag.len - r->name_off;
	r->colon = p->nm_colon ? p->nm_coff : 0;
	r->hash = hash_bytes(name, r->name_len);
	r->decl = str_is(name, r->name_len, "xmlns") ||
	    (r->colon == 5 && memcmp(name, "xmlns", 5) == 0);
	return 0;
}

static int
lt(struct xml_parser *p, uint32_t c)
{
	if (c == '?')
		return fail(p, RESTRICTED, "processing instructions are not "
		    "allowed");
	if (c == '!') {
		p->state = XS_BANG;
		return 0;
	}
	if (p->ended)
		return fail(p, NWF, p->mode == XML_MODE_STREAM ?
		    "data after the end of the stream" :
		    "data after the root element");
	if (c == '/') {
		if (p->nopen == 0)
			return fail(p, NWF, "end tag without a start tag");
		p->et_pos = 0;
		p->state = XS_ETAG_NAME;
		return 0;
	}
	if (!is_name_start(c))
		return fail(p, NWF, "character U+%04X not allowed after '<'",
		    (unsigned)c);
	return stag_begin(p, c);
}

static int
content(struct xml_parser *p, uint32_t c)
{
	if (!in_content(p)) {
		/* Between stanzas: white space is a keepalive. */
		if (is_ws(c))
			return 0;
		if (c == '<') {
			p->state = XS_LT;
			return unit_begin(p);
		}
		return fail(p, NWF, "text between stanzas");
	}
	switch (c) {
	case '<':
		flush_text(p);
		p->cr = p->rb = 0;
		p->state = XS_LT;
		return 0;
	case '&':
		p->cr = p->rb = 0;
		p->ref_ret = XS_CONTENT;
		p->state = XS_REF;
		return 0;
	case '\r':
		/* XML 1.0 2.11: CR LF and a lone CR become LF. */
		vb_add(&p->text, "\n", 1);
		p->cr = 1;
		p->rb = 0;
		return 0;
	case '\n':
		if (p->cr) {
			p->cr = 0;
			return 0;
		}
		break;
	case ']':
		p->cr = 0;
		if (p->rb < 2)
			p->rb++;
		vb_add(&p->text, "]", 1);
		return 0;
	case '>':
		if (p->rb == 2)
			return fail(p, NWF, "\"]]>\" in text");
		break;
	}
	p->cr = p->rb = 0;
	vb_addcp(&p->text, c);
	return 0;
}

static int
attr_val(struct xml_parser *p, uint32_t c)
{
	struct xml_attrrec *r;

	if (c == p->quote) {
		r = &p->attrs[p->nattrs - 1];
		r->val_len = p->tag.len - r->val_off;
		p->state = XS_STAG_VAL;
		return 0;
	}
	switch (c) {
	case '<':
		return fail(p, NWF, "'<' in an attribute value");
	case '&':
		p->cr = 0;
		p->ref_ret = XS_ATTR_VAL;
		p->state = XS_REF;
		return 0;
	case '\r':
		/* Line ends become LF, then white space a space (3.3.3). */
		p->cr = 1;
		vb_add(&p->tag, " ", 1);
		return 0;
	case '\n':
		if (p->cr) {
			p->cr = 0;
			return 0;
		}
		/* FALLTHROUGH */
	case '\t':
		c = ' ';
		break;
	}
	p->cr = 0;
	vb_addcp(&p->tag, c);
	return 0;
}

static int
ref_emit(struct xml_parser *p, uint32_t c)
{
	vb_addcp(p->ref_ret == XS_ATTR_VAL ? &p->tag : &p->text, c);
	p->state = p->ref_ret;
	return 0;
}

static int
cref_end(struct xml_parser *p)
{
	if (!is_xml_char(p->ref_val))
		return fail(p, NWF, "character reference to U+%04X, which XML "
		    "does not allow", (unsigned)p->ref_val);
	return ref_emit(p, p->ref_val);
}

static int
eref_end(struct xml_parser *p)
{
	static const struct {
		const char	*name;
		char		 c;
	} pre[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' },
		{ "quot", '"' }, { "apos", '\'' },
	};
	size_t i, n = p->ref_len < sizeof p->ref_name ? p->ref_len :
	    sizeof p->ref_name;

	for (i = 0; i < sizeof pre / sizeof pre[0]; i++)
		if (str_is(p->ref_name, p->ref_len, pre[i].name))
			return ref_emit(p, (unsigned char)pre[i].c);
	return fail(p, RESTRICTED, "entity reference &%.*s%s; is not allowed",
	    (int)n, p->ref_name, n < p->ref_len ? "..." : "");
}

/* Keep the start of an entity name for the message; count the rest. */
static void
eref_add(struct xml_parser *p, uint32_t c)
{
	char u[4];
	size_t i, n = utf8_put(u, c);

	for (i = 0; i < n; i++)
		if (p->ref_len + i < sizeof p->ref_name)
			p->ref_name[p->ref_len + i] = u[i];
	p->ref_len += n;
}

static int
hexval(uint32_t c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (int)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (int)(c - 'A' + 10);
	return -1;
}

static int
step(struct xml_parser *p, uint32_t c)
{
	int d;

	if (!is_xml_char(c))
		return fail(p, NWF, "character U+%04X is not allowed in XML",
		    (unsigned)c);
	switch (p->state) {
	case XS_START:
		if (c == '<') {
			p->state = XS_START_LT;
			return unit_begin(p);
		}
		if (is_ws(c)) {
			p->state = XS_PROLOG;
			return 0;
		}
		if (c == 0xfeff)
			return fail(p, NWF, "byte order mark");
		return fail(p, NWF, "text before the root element");
	case XS_START_LT:
		if (c == '?') {
			p->decl_len = 0;
			p->state = XS_PI_TARGET;
			/* A document counts its root only, not this. */
			if (p->mode == XML_MODE_DOCUMENT)
				p->counting = 0;
			return 0;
		}
		return lt(p, c);
	case XS_PI_TARGET:
		/* Only "<?xml" and white space, and only at the start. */
		if (p->decl_len < 3 && c == (uint32_t)"xml"[p->decl_len]) {
			p->decl_len++;
			return 0;
		}
		if (p->decl_len == 3 && is_ws(c)) {
			p->decl_len = 0;
			p->state = XS_DECL;
			return 0;
		}
		return fail(p, RESTRICTED, "processing instructions are not "
		    "allowed");
	case XS_DECL:
		return decl_add(p, c);
	case XS_PROLOG:
		if (is_ws(c))
			return 0;
		if (c == '<') {
			p->state = XS_LT;
			return unit_begin(p);
		}
		return fail(p, NWF, "text before the root element");
	case XS_EPILOG:
		if (is_ws(c))
			return 0;
		if (c == '<') {
			/* Only to say restricted-xml for <!-- and <?. */
			p->state = XS_LT;
			return 0;
		}
		return fail(p, NWF, p->mode == XML_MODE_STREAM ?
		    "data after the end of the stream" :
		    "data after the root element");
	case XS_CONTENT:
		return content(p, c);
	case XS_LT:
		return lt(p, c);
	case XS_BANG:
		/*
		 * RFC 6120 11.1 allows only restricted XML: no comments,
		 * no DTD, and we refuse CDATA sections with them (a peer
		 * can always escape instead).
		 */
		if (c == '-')
			return fail(p, RESTRICTED, "comments are not allowed");
		if (c == '[')
			return fail(p, RESTRICTED, "CDATA sections are not "
			    "allowed");
		return fail(p, RESTRICTED, "DOCTYPE and markup declarations "
		    "are not allowed");
	case XS_STAG_NAME:
		if (is_ws(c) || c == '/' || c == '>') {
			if (name_end(p, "element") == -1)
				return -1;
			stag_name_end(p);
			if (c == '>')
				return finish_stag(p, 0);
			p->state = c == '/' ? XS_STAG_SLASH : XS_STAG_WS;
			return 0;
		}
		return name_add(p, &p->tag, c, "element");
	case XS_STAG_WS:
		if (is_ws(c))
			return 0;
		if (c == '/') {
			p->state = XS_STAG_SLASH;
			return 0;
		}
		if (c == '>')
			return finish_stag(p, 0);
		return attr_begin(p, c);
	case XS_STAG_VAL:
		if (is_ws(c)) {
			p->state = XS_STAG_WS;
			return 0;
		}
		if (c == '/') {
			p->state = XS_STAG_SLASH;
			return 0;
		}
		if (c == '>')
			return finish_stag(p, 0);
		return fail(p, NWF, "no white space between attributes");
	case XS_STAG_SLASH:
		if (c == '>')
			return finish_stag(p, 1);
		return fail(p, NWF, "'/' not followed by '>' in a start tag");
	case XS_ATTR_NAME:
		if (is_ws(c) || c == '=') {
			if (attr_name_end(p) == -1)
				return -1;
			p->state = c == '=' ? XS_ATTR_QUOTE : XS_ATTR_EQ;
			return 0;
		}
		if (c == '>' || c == '/')
			return fail(p, NWF, "attribute without a value");
		return name_add(p, &p->tag, c, "attribute");
	case XS_ATTR_EQ:
		if (is_ws(c))
			return 0;
		if (c == '=') {
			p->state = XS_ATTR_QUOTE;
			return 0;
		}
		return fail(p, NWF, "attribute without a value");
	case XS_ATTR_QUOTE:
		if (is_ws(c))
			return 0;
		if (c == '"' || c == '\'') {
			p->quote = c;
			p->cr = 0;
			p->attrs[p->nattrs - 1].val_off = p->tag.len;
			p->state = XS_ATTR_VAL;
			return 0;
		}
		return fail(p, NWF, "attribute value not quoted");
	case XS_ATTR_VAL:
		return attr_val(p, c);
	case XS_ETAG_NAME:
		if (is_ws(c) || c == '>') {
			if (p->et_pos == 0)
				return fail(p, NWF, "bad end tag");
			if (c == '>')
				return finish_etag(p);
			p->state = XS_ETAG_WS;
			return 0;
		} else {
			const struct xml_open *o = &p->open[p->nopen - 1];
			char u[4];
			size_t n = utf8_put(u, c);

			/* Compared as it comes: nothing to store. */
			if (n > o->name_len - p->et_pos ||
			    memcmp(p->names.p + o->name_off + p->et_pos, u,
			    n) != 0)
				return fail(p, NWF, "mismatched end tag, "
				    "expected </%.*s>", (int)o->name_len,
				    p->names.p + o->name_off);
			p->et_pos += n;
			return 0;
		}
	case XS_ETAG_WS:
		if (is_ws(c))
			return 0;
		if (c == '>')
			return finish_etag(p);
		return fail(p, NWF, "bad end tag");
	case XS_REF:
		if (c == '#') {
			p->state = XS_CREF;
			return 0;
		}
		if (c == ':' || is_name_start(c)) {
			p->ref_len = 0;
			p->state = XS_EREF;
			eref_add(p, c);
			return 0;
		}
		return fail(p, NWF, "'&' not followed by a reference");
	case XS_CREF:
		p->ref_val = 0;
		p->ref_len = 0;
		if (c == 'x') {
			p->state = XS_CREF_HEX;
			return 0;
		}
		if (c >= '0' && c <= '9') {
			p->state = XS_CREF_DEC;
			p->ref_val = c - '0';
			p->ref_len = 1;
			return 0;
		}
		return fail(p, NWF, "bad character reference");
	case XS_CREF_DEC:
		if (c == ';')
			return cref_end(p);
		if (c < '0' || c > '9')
			return fail(p, NWF, "bad character reference");
		p->ref_val = p->ref_val * 10 + (c - '0');
		if (p->ref_val > 0x10ffff)
			return fail(p, NWF, "character reference out of range");
		return 0;
	case XS_CREF_HEX:
		if (c == ';' && p->ref_len > 0)
			return cref_end(p);
		if ((d = hexval(c)) < 0)
			return fail(p, NWF, "bad character reference");
		p->ref_val = p->ref_val * 16 + (uint32_t)d;
		p->ref_len++;
		if (p->ref_val > 0x10ffff)
			return fail(p, NWF, "character reference out of range");
		return 0;
	case XS_EREF:
		if (c == ';')
			return eref_end(p);
		if (c != ':' && !is_name_char(c))
			return fail(p, NWF, "bad entity reference");
		eref_add(p, c);
		return 0;
	case XS_ERROR:
		return -1;
	}
	fatalx("xml: tokenizer state %d", (int)p->state);
}

/* ---- feeding ---- */

/* 1: a code point in *cp; 0: more bytes needed; -1: invalid UTF-8. */
static int
utf8_step(struct xml_parser *p, unsigned char b, uint32_t *cp)
{
	if (p->u_need == 0) {
		if (b < 0x80) {
			*cp = b;
			return 1;
		}
		/* RFC 3629: no overlongs, no surrogates, nothing past 10FFFF. */
		p->u_lo = 0x80;
		p->u_hi = 0xbf;
		if (b >= 0xc2 && b <= 0xdf) {
			p->u_cp = b & 0x1f;
			p->u_need = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			p->u_cp = b & 0x0f;
			p->u_need = 2;
			if (b == 0xe0)
				p->u_lo = 0xa0;
			else if (b == 0xed)
				p->u_hi = 0x9f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			p->u_cp = b & 0x07;
			p->u_need = 3;
			if (b == 0xf0)
				p->u_lo = 0x90;
			else if (b == 0xf4)
				p->u_hi = 0x8f;
		} else
			return -1;
		return 0;
	}
	if (b < p->u_lo || b > p->u_hi)
		return -1;
	p->u_cp = (p->u_cp << 6) | (b & 0x3f);
	p->u_lo = 0x80;
	p->u_hi = 0xbf;
	if (--p->u_need > 0)
		return 0;
	*cp = p->u_cp;
	return 1;
}

/*
 * The common case, a run of plain ASCII in text or in an attribute value,
 * in one go.  It stops before any byte the machine must see itself and
 * before the byte that would pass max_stanza, so the result is exactly
 * what the byte-by-byte path would give.
 */
static size_t
fast_run(struct xml_parser *p, const unsigned char *s, size_t n)
{
	struct vbuf *b;
	size_t k = 0;

	if (p->state == XS_CONTENT && p->rb == 0 && in_content(p)) {
		while (k < n && s[k] >= 0x20 && s[k] < 0x7f && s[k] != '<' &&
		    s[k] != '&' && s[k] != ']')
			k++;
		b = &p->text;
	} else if (p->state == XS_ATTR_VAL) {
		while (k < n && s[k] >= 0x20 && s[k] < 0x7f && s[k] != '<' &&
		    s[k] != '&' && s[k] != p->quote)
			k++;
		b = &p->tag;
	} else
		return 0;
	if (k == 0 || !p->counting)
		return 0;
	if (p->count >= p->lim.max_stanza)
		return 0;
	if (k > p->lim.max_stanza - p->count)
		k = p->lim.max_stanza - p->count;
	p->count += k;
	p->cr = 0;
	vb_add(b, s, k);
	return k;
}

size_t
xml_feed(struct xml_parser *p, const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0, k;
	uint32_t c;
	int r;

	if (p->state == XS_ERROR)
		return 0;
	drop_done(p);
	p->ev = XML_EV_NONE;
	while (i < len) {
		if (p->u_need == 0 && (k = fast_run(p, s + i, len - i)) > 0) {
			i += k;
			continue;
		}
		if (p->counting && ++p->count > p->lim.max_stanza) {
			fail(p, POLICY, "%s larger than %zu bytes (max_stanza)",
			    p->mode == XML_MODE_STREAM && p->header == NULL ?
			    "stream header" : "stanza", p->lim.max_stanza);
			return i + 1;
		}
		r = utf8_step(p, s[i++], &c);
		if (r < 0) {
			fail(p, NWF, "invalid UTF-8");
			return i;
		}
		if (r == 0)
			continue;
		if (step(p, c) == -1 || p->ev != XML_EV_NONE)
			return i;
	}
	return len;
}

/* ---- the parser object ---- */

struct xml_parser *
xml_parser_new(enum xml_mode mode, const struct xml_limits *lim)
{
	struct xml_parser *p;

	p = xcalloc(1, sizeof *p);
	p->mode = mode;
	p->lim = lim != NULL ? *lim : default_limits;
	xml_parser_reset(p);
	return p;
}

void
xml_parser_reset(struct xml_parser *p)
{
	drop_tree(p);
	drop_done(p);
	xml_arena_free(p->harena);
	p->harena = NULL;
	p->header = NULL;
	p->stream_dns = NULL;
	p->state = XS_START;
	p->ev = XML_EV_NONE;
	p->cond = NULL;
	p->detail[0] = '\0';
	p->u_need = 0;
	/* A stream's header is counted from the first byte. */
	p->counting = p->mode == XML_MODE_STREAM;
	p->count = 0;
	p->nattrs = 0;
	p->nopen = 0;
	p->nbinds = 0;
	p->cr = p->rb = 0;
	p->ended = 0;
	vb_release(&p->tag, 0);
	vb_release(&p->text, 0);
	vb_release(&p->names, 0);
	vb_release(&p->nsbuf, 0);
}

void
xml_parser_free(struct xml_parser *p)
{
	if (p == NULL)
		return;
	xml_parser_reset(p);
	free(p->attrs);
	free(p->open);
	free(p->binds);
	free(p);
}

void
xml_parser_set_limits(struct xml_parser *p, const struct xml_limits *lim)
{
	p->lim = lim != NULL ? *lim : default_limits;
}

enum xml_event
xml_event(const struct xml_parser *p)
{
	return p->ev;
}

struct xml_node *
xml_take_stanza(struct xml_parser *p)
{
	struct xml_node *n = p->done;

	p->done = NULL;
	return n;
}

const struct xml_node *
xml_stream_header(const struct xml_parser *p)
{
	return p->header;
}

const char *
xml_stream_default_ns(const struct xml_parser *p)
{
	return p->stream_dns != NULL ? p->stream_dns : "";
}

const char *
xml_error(const struct xml_parser *p)
{
	return p->cond != NULL ? p->cond : "";
}

const char *
xml_error_detail(const struct xml_parser *p)
{
	return p->detail;
}

size_t
xml_pending(const struct xml_parser *p)
{
	return p->counting ? p->count : 0;
}

struct xml_node *
xml_parse_document(const char *buf, size_t len, const struct xml_limits *lim,
    char *err, size_t errlen)
{
	struct xml_parser *p;
	struct xml_node *root = NULL;
	size_t off = 0;

	p = xml_parser_new(XML_MODE_DOCUMENT, lim);
	while (off < len) {
		off += xml_feed(p, buf + off, len - off);
		if (xml_event(p) == XML_EV_ERROR)
			break;
		if (xml_event(p) == XML_EV_DOCUMENT)
			root = xml_take_stanza(p);
	}
	if (xml_event(p) == XML_EV_ERROR || root == NULL) {
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen, "%s: %s",
			    xml_event(p) == XML_EV_ERROR ? xml_error(p) : NWF,
			    xml_event(p) == XML_EV_ERROR ?
			    xml_error_detail(p) : "incomplete document");
		if (root != NULL)
			xml_arena_free(root->arena);
		xml_parser_free(p);
		return NULL;
	}
	xml_parser_free(p);
	return root;
}
