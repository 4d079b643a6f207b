/*
 * test_xml.c - the tokenizer, trees, builder and serializer.
 *
 * The central check: a stream fed whole, one byte at a time, split at
 * every point and in random chunks gives the same events at the same
 * input offsets.  Then every rejection with its condition, every limit at
 * N and N+1, the serializer's escaping and namespace rules, round trips,
 * document mode, the builder and stream restarts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util.h"
#include "xml.h"

/* ---- helpers ---- */

enum chunking { CH_WHOLE, CH_ONE, CH_SPLIT, CH_RANDOM };

struct feeder {
	enum chunking	 how;
	size_t		 split;		/* CH_SPLIT: first chunk length */
	uint32_t	 seed;		/* CH_RANDOM */
};

static size_t
next_chunk(struct feeder *f, size_t off, size_t left)
{
	size_t n;

	switch (f->how) {
	case CH_ONE:
		return 1;
	case CH_SPLIT:
		if (off < f->split)
			return f->split - off < left ? f->split - off : left;
		return left;
	case CH_RANDOM:
		f->seed = f->seed * 1103515245u + 12345u;
		n = 1 + (f->seed >> 16) % 17;
		return n < left ? n : left;
	default:
		return left;
	}
}

static void
log_tree(struct buf *log, const struct xml_node *n)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	if (xml_serialize(n, &b, NULL) == -1)
		buf_addstr(log, "(serialize failed)");
	else
		buf_add(log, buf_head(&b), buf_used(&b));
	buf_free(&b);
}

/*
 * Feed 'in' as f says, writing one line per event ("@offset EVENT ...")
 * into a malloc'd string.  Offsets are where xml_feed() stopped, so equal
 * logs mean equal events at equal bytes.
 */
static char *
run(enum xml_mode mode, const struct xml_limits *lim, const char *in,
    size_t len, struct feeder f)
{
	struct xml_parser *p;
	struct xml_node *n;
	struct buf log;
	size_t off = 0, end, k;
	char *s;
	int stop = 0;

	p = xml_parser_new(mode, lim);
	buf_init(&log, 1 << 22);
	while (off < len && !stop) {
		end = off + next_chunk(&f, off, len - off);
		while (off < end && !stop) {
			k = xml_feed(p, in + off, end - off);
			T_EXPECT(k <= end - off, "feed consumed too much");
			off += k;
			switch (xml_event(p)) {
			case XML_EV_NONE:
				T_EXPECT(off == end, "NONE with input left");
				break;
			case XML_EV_STREAM_OPEN:
				buf_printf(&log, "@%zu OPEN dns=%s ", off,
				    xml_stream_default_ns(p));
				log_tree(&log, xml_stream_header(p));
				buf_addstr(&log, "\n");
				break;
			case XML_EV_STANZA:
			case XML_EV_DOCUMENT:
				n = xml_take_stanza(p);
				buf_printf(&log, "@%zu %s ", off,
				    xml_event(p) == XML_EV_STANZA ?
				    "STANZA" : "DOC");
				log_tree(&log, n);
				buf_addstr(&log, "\n");
				xml_arena_free(n->arena);
				break;
			case XML_EV_STREAM_CLOSE:
				buf_printf(&log, "@%zu CLOSE\n", off);
				break;
			case XML_EV_ERROR:
				buf_printf(&log, "@%zu ERROR %s: %s\n", off,
				    xml_error(p), xml_error_detail(p));
				T_EQ_INT(xml_feed(p, "<a/>", 4), 0);
				T_EQ_INT(xml_event(p), XML_EV_ERROR);
				stop = 1;
				break;
			}
		}
	}
	if (!stop && xml_pending(p) > 0)
		buf_printf(&log, "pending %zu\n", xml_pending(p));
	xml_parser_free(p);
	s = strdup(buf_cstr(&log));
	buf_free(&log);
	return s;
}

static char *
run_whole(enum xml_mode mode, const struct xml_limits *lim, const char *in,
    size_t len)
{
	struct feeder f = { CH_WHOLE, 0, 0 };

	return run(mode, lim, in, len, f);
}

/* The split-invariance check: one byte, every split, random chunks. */
static void
check_splits(enum xml_mode mode, const struct xml_limits *lim,
    const char *in, size_t len, const char *want, int every_split)
{
	struct feeder f;
	char *got;
	size_t i;
	uint32_t seed;

	got = run_whole(mode, lim, in, len);
	T_EXPECT(strcmp(got, want) == 0, "whole:\n%s\nwant:\n%s", got, want);
	free(got);
	f.how = CH_ONE;
	got = run(mode, lim, in, len, f);
	T_EXPECT(strcmp(got, want) == 0, "bytewise:\n%s\nwant:\n%s", got,
	    want);
	free(got);
	if (every_split) {
		for (i = 1; i < len; i++) {
			f.how = CH_SPLIT;
			f.split = i;
			got = run(mode, lim, in, len, f);
			T_EXPECT(strcmp(got, want) == 0, "split at %zu:\n%s",
			    i, got);
			free(got);
		}
	}
	for (seed = 1; seed <= 20; seed++) {
		f.how = CH_RANDOM;
		f.seed = seed * 7919u;
		got = run(mode, lim, in, len, f);
		T_EXPECT(strcmp(got, want) == 0, "random seed %u:\n%s", seed,
		    got);
		free(got);
	}
}

#define HDR	"<stream:stream xmlns='jabber:client' " \
		"xmlns:stream='http://etherx.jabber.org/streams' " \
		"to='example.com' version='1.0'>"

/*
 * Feed a stream in stream mode, whole and byte by byte, and return the
 * condition of the error it ends with ("" for none).  The error must come
 * at the same byte both ways.
 */
static char errbuf[256];

static const char *
cond_of(enum xml_mode mode, const struct xml_limits *lim, const char *in,
    size_t len)
{
	struct feeder one = { CH_ONE, 0, 0 };
	char *a, *b, *e;
	const char *c;

	a = run_whole(mode, lim, in, len);
	b = run(mode, lim, in, len, one);
	T_EXPECT(strcmp(a, b) == 0, "whole vs bytewise differ for %.*s:\n"
	    "%s\n%s", (int)len, in, a, b);
	errbuf[0] = '\0';
	if ((c = strstr(a, "ERROR ")) != NULL) {
		c += 6;
		e = strchr(c, ':');
		snprintf(errbuf, sizeof errbuf, "%.*s", (int)(e - c), c);
	}
	free(a);
	free(b);
	return errbuf;
}

static const char *
stream_cond(const char *body)
{
	char in[4096];

	snprintf(in, sizeof in, "%s%s", HDR, body);
	return cond_of(XML_MODE_STREAM, NULL, in, strlen(in));
}

static const char *
doc_cond(const char *in, size_t len)
{
	return cond_of(XML_MODE_DOCUMENT, NULL, in, len);
}

static char *
ser(const struct xml_node *n, const char *stream_ns)
{
	struct buf b;
	char *s;

	buf_init(&b, 1 << 20);
	if (xml_serialize(n, &b, stream_ns) == -1)
		s = strdup("(failed)");
	else
		s = strdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

#define T_SER(n, sns, want) do {					\
	char *t_s_ = ser((n), (sns));					\
	T_EQ_STR(t_s_, (want));						\
	free(t_s_);							\
} while (0)

static int
tree_equal(const struct xml_node *a, const struct xml_node *b)
{
	const struct xml_attr *x, *y;
	const struct xml_node *c, *d;

	if ((a->name == NULL) != (b->name == NULL))
		return 0;
	if (a->name == NULL)
		return a->text_len == b->text_len &&
		    memcmp(a->text, b->text, a->text_len) == 0;
	if (strcmp(a->name, b->name) != 0 || strcmp(a->ns, b->ns) != 0)
		return 0;
	for (x = a->attrs, y = b->attrs; x && y; x = x->next, y = y->next)
		if (strcmp(x->name, y->name) != 0 ||
		    strcmp(x->value, y->value) != 0 ||
		    (x->ns == NULL) != (y->ns == NULL) ||
		    (x->ns != NULL && strcmp(x->ns, y->ns) != 0))
			return 0;
	if (x || y)
		return 0;
	for (c = a->children, d = b->children; c && d; c = c->next,
	    d = d->next)
		if (!tree_equal(c, d))
			return 0;
	return c == NULL && d == NULL;
}

/* ---- the realistic stream ---- */

static const char c2s_in[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<stream:stream to='example.com' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' "
    "xml:lang='en' id=\"s&amp;1\">\n"
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
    "<required/></starttls><mechanisms "
    "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1"
    "</mechanism></mechanisms></stream:features>\n"
    "<iq type='set' id='bind_1'><bind "
    "xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony"
    "</resource></bind></iq>"
    "<message to='juliet@example.com' type='chat' id='m1' xml:lang='en'>"
    "<body>Wherefore art thou, &lt;Romeo&gt; &amp; &quot;Juliet&quot; "
    "&apos;&#x263A;&#9731; caf\xc3\xa9 \xf0\x9f\x8c\xb9]]]</body>"
    "<thread>t1</thread></message>"
    " \n\t \r\n "
    "<presence><show>away</show><status>at  the\r\n ball\rnow</status>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' "
    "ver='a\tb\r\nc'/></presence>"
    "<iq type='get' id='p1' to='pubsub.example.com'><pubsub "
    "xmlns='http://jabber.org/protocol/pubsub' xmlns:x='jabber:x:data'>"
    "<items node='urn:xmpp:microblog:0' x:max='10'/><x:x type='submit'>"
    "<x:field var='FORM_TYPE'><x:value>v</x:value></x:field></x:x>"
    "</pubsub></iq>"
    "<m:message xmlns:m='jabber:client' xmlns='urn:other'><body>"
    " </body><m:body>x&#10;&#13;y</m:body></m:message>"
    "</stream:stream>";

static const char c2s_want[] =
    "@182 OPEN dns=jabber:client <stream "
    "xmlns=\"http://etherx.jabber.org/streams\" to=\"example.com\" "
    "version=\"1.0\" xml:lang=\"en\" id=\"s&amp;1\"/>\n"
    "@390 STANZA <features xmlns=\"http://etherx.jabber.org/streams\">"
    "<starttls xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"><required/>"
    "</starttls><mechanisms xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\">"
    "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></features>\n"
    "@505 STANZA <iq xmlns=\"jabber:client\" type=\"set\" id=\"bind_1\">"
    "<bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\"><resource>balcony"
    "</resource></bind></iq>\n"
    "@708 STANZA <message xmlns=\"jabber:client\" "
    "to=\"juliet@example.com\" type=\"chat\" id=\"m1\" xml:lang=\"en\">"
    "<body>Wherefore art thou, &lt;Romeo&gt; &amp; \"Juliet\" "
    "'\xe2\x98\xba\xe2\x98\x83 caf\xc3\xa9 \xf0\x9f\x8c\xb9]]]</body>"
    "<thread>t1</thread></message>\n"
    "@867 STANZA <presence xmlns=\"jabber:client\"><show>away</show>"
    "<status>at  the\n ball\nnow</status>"
    "<c xmlns=\"http://jabber.org/protocol/caps\" hash=\"sha-1\" "
    "node=\"n\" ver=\"a b c\"/></presence>\n"
    "@1129 STANZA <iq xmlns=\"jabber:client\" type=\"get\" id=\"p1\" "
    "to=\"pubsub.example.com\"><pubsub "
    "xmlns=\"http://jabber.org/protocol/pubsub\"><items "
    "node=\"urn:xmpp:microblog:0\" xmlns:a0=\"jabber:x:data\" "
    "a0:max=\"10\"/><x xmlns=\"jabber:x:data\" type=\"submit\">"
    "<field var=\"FORM_TYPE\"><value>v</value></field></x></pubsub>"
    "</iq>\n"
    "@1237 STANZA <message xmlns=\"jabber:client\"><body "
    "xmlns=\"urn:other\"> </body><body>x\n&#13;y</body></message>\n"
    "@1253 CLOSE\n";

static void
test_c2s_stream(void)
{
	struct xml_parser *p;
	const struct xml_node *h;
	struct xml_node *n, *b;
	size_t len = sizeof c2s_in - 1, off = 0;

	check_splits(XML_MODE_STREAM, NULL, c2s_in, len, c2s_want, 1);

	/* The header and one stanza, looked at field by field. */
	p = xml_parser_new(XML_MODE_STREAM, NULL);
	off += xml_feed(p, c2s_in, len);
	T_EQ_INT(xml_event(p), XML_EV_STREAM_OPEN);
	T_EQ_INT(off, 182);
	T_EQ_INT(xml_pending(p), 0);
	h = xml_stream_header(p);
	T_EXPECT(h != NULL, "header");
	T_EQ_STR(h->name, "stream");
	T_EQ_STR(h->ns, NS_STREAM);
	T_EXPECT(h->children == NULL, "header has no children");
	T_EQ_STR(xml_attr(h, "to"), "example.com");
	T_EQ_STR(xml_attr(h, "version"), "1.0");
	T_EQ_STR(xml_attr(h, "id"), "s&1");
	T_EXPECT(xml_attr(h, "lang") == NULL, "xml:lang is not unprefixed");
	T_EQ_STR(xml_attr_ns(h, NS_XML, "lang"), "en");
	T_EXPECT(xml_attr(h, "xmlns") == NULL, "xmlns is not an attribute");
	T_EQ_STR(xml_stream_default_ns(p), NS_CLIENT);
	off += xml_feed(p, c2s_in + off, len - off);
	T_EQ_INT(xml_event(p), XML_EV_STANZA);
	n = xml_take_stanza(p);
	T_EXPECT(xml_take_stanza(p) == NULL, "taken once");
	T_EXPECT(xml_is(n, "features", NS_STREAM), "features");
	xml_arena_free(n->arena);
	/* Leave the next stanza untaken: the next feed frees it. */
	off += xml_feed(p, c2s_in + off, len - off);
	T_EQ_INT(xml_event(p), XML_EV_STANZA);
	/* A split in the middle of the message: pending counts its bytes. */
	off += xml_feed(p, c2s_in + off, 10);
	T_EQ_INT(xml_event(p), XML_EV_NONE);
	T_EQ_INT(xml_pending(p), 10);
	off += xml_feed(p, c2s_in + off, len - off);
	T_EQ_INT(xml_event(p), XML_EV_STANZA);
	T_EQ_INT(xml_pending(p), 0);
	n = xml_take_stanza(p);
	T_EXPECT(xml_is(n, "message", NS_CLIENT), "message");
	T_EQ_STR(xml_attr(n, "to"), "juliet@example.com");
	T_EQ_STR(xml_attr_ns(n, NS_XML, "lang"), "en");
	b = xml_child(n, "body", NS_CLIENT);
	T_EXPECT(b != NULL, "body");
	T_EQ_STR(xml_text(b), "Wherefore art thou, <Romeo> & \"Juliet\" "
	    "'\xe2\x98\xba\xe2\x98\x83 caf\xc3\xa9 \xf0\x9f\x8c\xb9]]]");
	T_EQ_INT(b->children->text_len, strlen(xml_text(b)));
	T_EQ_STR(xml_child_text(n, "thread", NULL), "t1");
	/* Stanza and children share one namespace string. */
	T_EXPECT(b->ns == n->ns, "ns string shared");
	xml_arena_free(n->arena);
	xml_parser_free(p);
}

/* ---- rejections ---- */

static void
test_rejections(void)
{
	static const struct {
		const char	*body;
		const char	*cond;
	} s[] = {
		/* restricted XML */
		{ "<message><!-- hi --></message>", "restricted-xml" },
		{ "<!-- hi -->", "restricted-xml" },
		{ "<message><?pi x?></message>", "restricted-xml" },
		{ "<?xml version='1.0'?>", "restricted-xml" },
		{ "<!DOCTYPE x>", "restricted-xml" },
		{ "<message><![CDATA[x]]></message>", "restricted-xml" },
		{ "<message><!ENTITY a 'b'></message>", "restricted-xml" },
		{ "<message>&nbsp;</message>", "restricted-xml" },
		{ "<message>&ampx;</message>", "restricted-xml" },
		{ "<message>&a:b;</message>", "restricted-xml" },
		{ "<message a='&foo;'/>", "restricted-xml" },
		/* character references */
		{ "<m>&#0;</m>", "not-well-formed" },
		{ "<m>&#x0;</m>", "not-well-formed" },
		{ "<m>&#8;</m>", "not-well-formed" },
		{ "<m>&#xD800;</m>", "not-well-formed" },
		{ "<m>&#xDFFF;</m>", "not-well-formed" },
		{ "<m>&#xFFFE;</m>", "not-well-formed" },
		{ "<m>&#xFFFF;</m>", "not-well-formed" },
		{ "<m>&#x110000;</m>", "not-well-formed" },
		{ "<m>&#1114112;</m>", "not-well-formed" },
		{ "<m>&#99999999999999999999;</m>", "not-well-formed" },
		{ "<m>&#xFFFFFFFFFFFFFFFF41;</m>", "not-well-formed" },
		{ "<m>&#;</m>", "not-well-formed" },
		{ "<m>&#x;</m>", "not-well-formed" },
		{ "<m>&#12a;</m>", "not-well-formed" },
		{ "<m>&#X41;</m>", "not-well-formed" },
		{ "<m>&#x4G;</m>", "not-well-formed" },
		{ "<m>& amp;</m>", "not-well-formed" },
		{ "<m>&amp</m>", "not-well-formed" },
		{ "<m>&1;</m>", "not-well-formed" },
		{ "<m a='&#1;'/>", "not-well-formed" },
		{ "<m a='&'/>", "not-well-formed" },
		/* forbidden characters and bad UTF-8 */
		{ "<m>\x01</m>", "not-well-formed" },
		{ "<m>\x1f</m>", "not-well-formed" },
		{ "<m a='\x0b'/>", "not-well-formed" },
		{ "<m\x0c/>", "not-well-formed" },
		{ "<m>\xef\xbf\xbe</m>", "not-well-formed" },
		{ "<m>\xef\xbf\xbf</m>", "not-well-formed" },
		{ "<m>\x80</m>", "not-well-formed" },
		{ "<m>\xbf</m>", "not-well-formed" },
		{ "<m>\xc0\x80</m>", "not-well-formed" },
		{ "<m>\xc1\xbf</m>", "not-well-formed" },
		{ "<m>\xe0\x80\x80</m>", "not-well-formed" },
		{ "<m>\xe0\x9f\xbf</m>", "not-well-formed" },
		{ "<m>\xed\xa0\x80</m>", "not-well-formed" },
		{ "<m>\xed\xbf\xbf</m>", "not-well-formed" },
		{ "<m>\xf0\x80\x80\x80</m>", "not-well-formed" },
		{ "<m>\xf0\x8f\xbf\xbf</m>", "not-well-formed" },
		{ "<m>\xf4\x90\x80\x80</m>", "not-well-formed" },
		{ "<m>\xf5\x80\x80\x80</m>", "not-well-formed" },
		{ "<m>\xf8\x88\x80\x80\x80</m>", "not-well-formed" },
		{ "<m>\xff</m>", "not-well-formed" },
		{ "<m>\xc3(</m>", "not-well-formed" },
		{ "<m>\xe2\x82(</m>", "not-well-formed" },
		{ "<m a='\xc3'/>", "not-well-formed" },
		{ "<\xc3\xa9\xc0/>", "not-well-formed" },
		/* structure */
		{ "<a></b>", "not-well-formed" },
		{ "<a><b></a></b>", "not-well-formed" },
		{ "<a></ab>", "not-well-formed" },
		{ "<ab></a>", "not-well-formed" },
		{ "<a></a b>", "not-well-formed" },
		{ "<a></ a>", "not-well-formed" },
		{ "<p:a xmlns:p='u' xmlns:q='u'></q:a>", "not-well-formed" },
		{ "<a>]]></a>", "not-well-formed" },
		{ "<a>]]]></a>", "not-well-formed" },
		{ "hello", "not-well-formed" },
		{ "<a/>x", "not-well-formed" },
		{ "&amp;", "not-well-formed" },
		{ "< a/>", "not-well-formed" },
		{ "<a / >", "not-well-formed" },
		/* attributes */
		{ "<a x='1' x='2'/>", "not-well-formed" },
		{ "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
		    "not-well-formed" },
		{ "<a xmlns:p='u' xmlns:p='v'/>", "not-well-formed" },
		{ "<a xmlns='u' xmlns='v'/>", "not-well-formed" },
		{ "<a x=1/>", "not-well-formed" },
		{ "<a x='1\"/><b/>", "not-well-formed" },
		{ "<a x='<'/>", "not-well-formed" },
		{ "<a x=\"a<b\"/>", "not-well-formed" },
		{ "<a x='1'y='2'/>", "not-well-formed" },
		{ "<a x/>", "not-well-formed" },
		{ "<a x />", "not-well-formed" },
		{ "<a x=/>", "not-well-formed" },
		/* names */
		{ "<1a/>", "not-well-formed" },
		{ "<-a/>", "not-well-formed" },
		{ "<.a/>", "not-well-formed" },
		{ "<a:/>", "not-well-formed" },
		{ "<:a/>", "not-well-formed" },
		{ "<a:b:c xmlns:a='u'/>", "not-well-formed" },
		{ "<a::b/>", "not-well-formed" },
		{ "<p:1a xmlns:p='u'/>", "not-well-formed" },
		{ "<a 1x='1'/>", "not-well-formed" },
		{ "<a x:='1'/>", "not-well-formed" },
		{ "<a :x='1'/>", "not-well-formed" },
		{ "<a -x='1'/>", "not-well-formed" },
		{ "<a x\xc2\xa0='1'/>", "not-well-formed" },
		{ "<\xcc\x80" "a/>", "not-well-formed" },
		{ "<a\xcc\x80/>", "" },
		/* namespaces */
		{ "<p:a/>", "bad-namespace-prefix" },
		{ "<a p:x='1'/>", "bad-namespace-prefix" },
		{ "<a><p:b/></a>", "bad-namespace-prefix" },
		{ "<a xmlns:p='u'/><p:b/>", "bad-namespace-prefix" },
		{ "<xmlns:a/>", "bad-namespace-prefix" },
		{ "<xml:a/>", "bad-namespace-prefix" },
		{ "<a><xml:evil/></a>", "bad-namespace-prefix" },
		{ "<a xmlns:xml='urn:other'/>", "not-well-formed" },
		{ "<a xmlns:x='http://www.w3.org/XML/1998/namespace'/>",
		    "not-well-formed" },
		{ "<a xmlns='http://www.w3.org/XML/1998/namespace'/>",
		    "not-well-formed" },
		{ "<a xmlns:xmlns='urn:x'/>", "not-well-formed" },
		{ "<a xmlns:x='http://www.w3.org/2000/xmlns/'/>",
		    "not-well-formed" },
		{ "<a xmlns='http://www.w3.org/2000/xmlns/'/>",
		    "not-well-formed" },
		{ "<a xmlns:p=''/>", "not-well-formed" },
		{ "<a xmlns:p='u'><b xmlns:p=''/></a>", "not-well-formed" },
		/* things that are fine */
		{ "<a xmlns:xml='http://www.w3.org/XML/1998/namespace' "
		    "xml:lang='en'/>", "" },
		{ "<a xmlns=''/>", "" },
		{ "<a x='1' y=\"'\" z='\"'/>", "" },
		{ "<a>]]&gt;]>]</a>", "" },
		{ "<xmlfoo/>", "" },
		{ "<a xml:space='preserve' xml:lang='x'/>", "" },
		{ "<_a.b-c\xc2\xb7\xcc\x80 \xc3\xa9='1'/>", "" },
		{ "<a>&#x10FFFF;&#xE000;&#xFFFD;&#x9;&#000065;</a>", "" },
		{ "<a\n\tx\n=\n'1'\r\n/>", "" },
		{ "<a></a\n>", "" },
		{ "</stream:stream> ", "" },
		{ "</stream:stream>x", "not-well-formed" },
		{ "</stream:stream><a/>", "not-well-formed" },
		{ "</stream>", "not-well-formed" },
	};
	static const struct {
		const char	*in;
		const char	*cond;
	} h[] = {
		{ "<stream:stream xmlns:stream='urn:wrong'>",
		    "invalid-namespace" },
		{ "<foo xmlns='http://etherx.jabber.org/streams'>",
		    "invalid-namespace" },
		{ "<s:foo xmlns:s='http://etherx.jabber.org/streams'>",
		    "invalid-namespace" },
		{ "<stream xmlns='jabber:client'>", "invalid-namespace" },
		{ "<stream>", "invalid-namespace" },
		{ "<stream:stream>", "bad-namespace-prefix" },
		{ "<stream:stream xmlns:stream="
		    "'http://etherx.jabber.org/streams'/>", "bad-format" },
		{ "<stream xmlns='http://etherx.jabber.org/streams'>", "" },
		{ "<x:stream xmlns:x='http://etherx.jabber.org/streams'>", "" },
		{ "<?xml version='1.0' encoding='ISO-8859-1'?>",
		    "unsupported-encoding" },
		{ "<?xml version='1.0' encoding='UTF-16'?>",
		    "unsupported-encoding" },
		{ "<?xml version='1.1'?>", "unsupported-version" },
		{ "<?xml version='2.0' encoding='UTF-8'?>",
		    "unsupported-version" },
		{ "<?xml encoding='UTF-8'?>", "not-well-formed" },
		{ "<?xml version='1.0'encoding='UTF-8'?>", "not-well-formed" },
		{ "<?xml version='1.0' standalone='maybe'?>",
		    "not-well-formed" },
		{ "<?xml version='1.0' standalone='yes' encoding='UTF-8'?>",
		    "not-well-formed" },
		{ "<?xml version='1.0' version='1.0'?>", "not-well-formed" },
		{ "<?xml version=1.0?>", "not-well-formed" },
		{ "<?xml ?>", "not-well-formed" },
		{ "<?xml version='1.0' encoding='utf-8' standalone='no' ?>"
		    "<stream:stream xmlns:stream="
		    "'http://etherx.jabber.org/streams'>", "" },
		{ "<?xml version=\"1.0\"?>\r\n<stream xmlns="
		    "'http://etherx.jabber.org/streams'>", "" },
		{ "<?xml version='1.0' \xc3\xa9?>", "not-well-formed" },
		{ "<?xml version='1.0'                                     "
		    "                                                      "
		    "                                                    ?>",
		    "not-well-formed" },
		{ "<?xmlfoo?>", "restricted-xml" },
		{ "<?xml-stylesheet href='x'?>", "restricted-xml" },
		{ "<?php?>", "restricted-xml" },
		{ " <?xml version='1.0'?>", "restricted-xml" },
		{ "\xef\xbb\xbf<stream:stream>", "not-well-formed" },
		{ "hello", "not-well-formed" },
		{ "</stream:stream>", "not-well-formed" },
		{ "<!DOCTYPE stream>", "restricted-xml" },
		{ "", "" },
	};
	static const struct {
		const char	*in;
		const char	*cond;
	} d[] = {
		{ "<a/>", "" },
		{ "\n <a/> \n", "" },
		{ "<?xml version='1.0'?>\n<a/>\n", "" },
		{ "<a/><b/>", "not-well-formed" },
		{ "<a/>x", "not-well-formed" },
		{ "<a/>&amp;", "not-well-formed" },
		{ "<a/><!-- c -->", "restricted-xml" },
		{ "<a/><?pi?>", "restricted-xml" },
		{ "x<a/>", "not-well-formed" },
		{ "</a>", "not-well-formed" },
		{ "<a></a></a>", "not-well-formed" },
		{ "<a/></a>", "not-well-formed" },
		{ "<p:a/>", "bad-namespace-prefix" },
		/* fuzzer: xmlns="" alone left the scope buffer NULL */
		{ "<query xmlns=\"\">i1=\"=titem></query>", "" },
		{ "<a xmlns=''><b/><p:c xmlns:p='u'/></a>", "" },
	};
	size_t i;

	for (i = 0; i < sizeof s / sizeof s[0]; i++) {
		const char *c = stream_cond(s[i].body);

		T_EXPECT(strcmp(c, s[i].cond) == 0, "stream body %zu \"%s\": "
		    "got \"%s\", want \"%s\"", i, s[i].body, c, s[i].cond);
	}
	for (i = 0; i < sizeof h / sizeof h[0]; i++) {
		const char *c = cond_of(XML_MODE_STREAM, NULL, h[i].in,
		    strlen(h[i].in));

		T_EXPECT(strcmp(c, h[i].cond) == 0, "stream start %zu \"%s\": "
		    "got \"%s\", want \"%s\"", i, h[i].in, c, h[i].cond);
	}
	for (i = 0; i < sizeof d / sizeof d[0]; i++) {
		const char *c = doc_cond(d[i].in, strlen(d[i].in));

		T_EXPECT(strcmp(c, d[i].cond) == 0, "document %zu \"%s\": "
		    "got \"%s\", want \"%s\"", i, d[i].in, c, d[i].cond);
	}

	/* NUL bytes, which a string table cannot hold. */
	{
		char in[512];
		size_t n = (size_t)snprintf(in, sizeof in, "%s<m>a", HDR);

		in[n++] = '\0';
		memcpy(in + n, "</m>", 4);
		T_EQ_STR(cond_of(XML_MODE_STREAM, NULL, in, n + 4),
		    "not-well-formed");
		T_EQ_STR(doc_cond("<a\0/>", 5), "not-well-formed");
		T_EQ_STR(doc_cond("\0", 1), "not-well-formed");
	}

	/* The error comes at the offending byte, and the detail says why. */
	{
		char *log;
		const char *in = "<a><!-- x --></a>";

		log = run_whole(XML_MODE_DOCUMENT, NULL, in, strlen(in));
		T_EQ_STR(log, "@6 ERROR restricted-xml: comments are not "
		    "allowed\n");
		free(log);
		in = "<a>&#xD800;</a>";
		log = run_whole(XML_MODE_DOCUMENT, NULL, in, strlen(in));
		T_EQ_STR(log, "@11 ERROR not-well-formed: character reference "
		    "to U+D800, which XML does not allow\n");
		free(log);
		in = "<a><b></a>";
		log = run_whole(XML_MODE_DOCUMENT, NULL, in, strlen(in));
		T_EQ_STR(log, "@9 ERROR not-well-formed: mismatched end tag, "
		    "expected </b>\n");
		free(log);
		in = "<a p:x='1'/>";
		log = run_whole(XML_MODE_DOCUMENT, NULL, in, strlen(in));
		T_EQ_STR(log, "@12 ERROR bad-namespace-prefix: prefix p of "
		    "attribute p:x is not bound\n");
		free(log);
		in = "<a>\xed\xa0\x80</a>";
		log = run_whole(XML_MODE_DOCUMENT, NULL, in, strlen(in));
		T_EQ_STR(log, "@5 ERROR not-well-formed: invalid UTF-8\n");
		free(log);
		in = "<a>&xxe;</a>";
		log = run_whole(XML_MODE_DOCUMENT, NULL, in, strlen(in));
		T_EQ_STR(log, "@8 ERROR restricted-xml: entity reference "
		    "&xxe; is not allowed\n");
		free(log);
	}
}

/* ---- limits ---- */

static const char *
limit_cond(enum xml_mode mode, const struct xml_limits *lim, const char *in)
{
	return cond_of(mode, lim, in, strlen(in));
}

static void
test_limits(void)
{
	struct xml_limits lim = XML_DEFAULT_LIMITS;
	char in[8192], body[4096], *log;
	size_t n, hl = strlen(HDR), i;
	struct feeder one = { CH_ONE, 0, 0 };

	T_EQ_INT(lim.max_stanza, 262144);
	T_EQ_INT(lim.max_depth, 32);
	T_EQ_INT(lim.max_attrs, 64);
	T_EQ_INT(lim.max_name, 256);

	/* max_stanza: a 1000-byte stanza at 1000 and 999. */
	memset(body, 'x', sizeof body);
	n = (size_t)snprintf(in, sizeof in, "%s <message><body>%.*s</body>"
	    "</message> ", HDR, 1000 - 32, body);
	T_EQ_INT(n, hl + 1 + 1000 + 1);
	lim.max_stanza = 1000;
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "");
	lim.max_stanza = 999;
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "policy-violation");
	/* ... refused at byte 1000 of the stanza, fast path or not. */
	log = run_whole(XML_MODE_STREAM, &lim, in, n);
	snprintf(body, sizeof body, "@%zu ERROR policy-violation: stanza "
	    "larger than 999 bytes (max_stanza)\n", hl + 1 + 1000);
	T_EXPECT(strstr(log, body) != NULL, "%s", log);
	free(log);
	log = run(XML_MODE_STREAM, &lim, in, n, one);
	T_EXPECT(strstr(log, body) != NULL, "%s", log);
	free(log);
	/* ... and a limit inside an attribute value and a tag. */
	memset(body, 'y', 2000);
	n = (size_t)snprintf(in, sizeof in, "%s<message to='%.*s'/>", HDR,
	    1000 - 16, body);
	lim.max_stanza = 1000;
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "");
	lim.max_stanza = 999;
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "policy-violation");
	/* White space between stanzas is not counted. */
	n = (size_t)snprintf(in, sizeof in, "%s%.*s<a/>%.*s<b/>", HDR, 500,
	    "                                                            "
	    "                                                            "
	    "                                                            "
	    "                                                            "
	    "                                                            "
	    "                                                            "
	    "                                                            "
	    "                                                            "
	    "                                                            ",
	    10, "          ");
	lim.max_stanza = hl;	/* the header is the biggest unit */
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "");
	/* The header is bounded by max_stanza too, declaration included. */
	n = (size_t)snprintf(in, sizeof in, "<?xml version='1.0'?>\n%s", HDR);
	lim.max_stanza = n;
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "");
	lim.max_stanza = n - 1;
	log = run_whole(XML_MODE_STREAM, &lim, in, n);
	snprintf(body, sizeof body, "@%zu ERROR policy-violation: stream "
	    "header larger than %zu bytes (max_stanza)\n", n, n - 1);
	T_EQ_STR(log, body);
	free(log);
	/* Document mode: the root, from '<' to '>'. */
	lim = (struct xml_limits)XML_DEFAULT_LIMITS;
	lim.max_stanza = 9;
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<?xml version='1.0'?>  <a>xx</a>  "), "");
	lim.max_stanza = 8;
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<?xml version='1.0'?>  <a>xx</a>  "), "policy-violation");

	/* max_depth: a stanza is level 1; N levels fine, N+1 refused. */
	lim = (struct xml_limits)XML_DEFAULT_LIMITS;
	lim.max_depth = 5;
	snprintf(in, sizeof in, "%s<a><b><c><d><e/></d></c></b></a>", HDR);
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "");
	snprintf(in, sizeof in, "%s<a><b><c><d><e><f/></e></d></c></b></a>",
	    HDR);
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "policy-violation");
	log = run_whole(XML_MODE_STREAM, &lim, in, strlen(in));
	snprintf(body, sizeof body, "@%zu ERROR policy-violation: elements "
	    "nested deeper than 5 levels (max_depth)\n", hl + 17);
	T_EXPECT(strstr(log, body) != NULL, "%s", log);
	free(log);
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<a><b><c><d><e>t</e></d></c></b></a>"), "");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<a><b><c><d><e><f/></e></d></c></b></a>"), "policy-violation");
	lim.max_depth = 0;
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, HDR), "");
	snprintf(in, sizeof in, "%s<a/>", HDR);
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "policy-violation");
	/* The default, 32, on a deep stanza. */
	lim = (struct xml_limits)XML_DEFAULT_LIMITS;
	n = (size_t)snprintf(in, sizeof in, "%s", HDR);
	for (i = 0; i < 32; i++)
		n += (size_t)snprintf(in + n, sizeof in - n, "<x>");
	for (i = 0; i < 32; i++)
		n += (size_t)snprintf(in + n, sizeof in - n, "</x>");
	T_EXPECT(n < sizeof in, "fits");
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "");
	n = (size_t)snprintf(in, sizeof in, "%s", HDR);
	for (i = 0; i < 33; i++)
		n += (size_t)snprintf(in + n, sizeof in - n, "<x>");
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, in), "policy-violation");

	/* max_attrs, xmlns declarations included. */
	lim = (struct xml_limits)XML_DEFAULT_LIMITS;
	lim.max_attrs = 3;
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<a x='1' xmlns='u' xmlns:p='v'/>"), "");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<a x='1' xmlns='u' xmlns:p='v' p:y='2'/>"), "policy-violation");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<a><b x='1' y='2' z='3'/><c x='1' y='2' z='3' w='4'/></a>"),
	    "policy-violation");
	/* The stream header has 4 (xmlns, xmlns:stream, to, version). */
	lim.max_attrs = 4;
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, HDR), "");
	lim.max_attrs = 3;
	T_EQ_STR(limit_cond(XML_MODE_STREAM, &lim, HDR), "policy-violation");
	lim.max_attrs = 0;
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<a/>"), "");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<a b=''/>"),
	    "policy-violation");

	/* max_name, in bytes, prefix included. */
	lim = (struct xml_limits)XML_DEFAULT_LIMITS;
	lim.max_name = 7;
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<abcdefg/>"), "");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<abcdefgh/>"),
	    "policy-violation");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<p:abcde xmlns:p='u'/>"), "");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<p:abcdef xmlns:p='u'/>"), "policy-violation");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<a bcdefgh='1'/>"), "");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<a bcdefghi='1'/>"),
	    "policy-violation");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<a xmlns:p='1'/>"), "");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<a xmlns:pq='1'/>"),
	    "policy-violation");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<a><b><cdefghi/></b></a>"),
	    "");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim,
	    "<a><b><cdefghij/></b></a>"), "policy-violation");
	/* "\xc3\xa9" is two bytes. */
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<abcde\xc3\xa9/>"), "");
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<abcdef\xc3\xa9/>"),
	    "policy-violation");
	/* End tags cannot be longer than their start tag anyway. */
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<abcdefg></abcdefgh>"),
	    "not-well-formed");
	/* Entity names are not names of elements: no limit but restricted. */
	T_EQ_STR(limit_cond(XML_MODE_DOCUMENT, &lim, "<a>&abcdefghijk;</a>"),
	    "restricted-xml");

	/* Limits can change between stanzas (bigger after auth). */
	{
		struct xml_parser *p;
		struct xml_limits small = XML_DEFAULT_LIMITS;
		const char *st = "<message><body>0123456789</body></message>";
		size_t k;

		small.max_stanza = hl;
		p = xml_parser_new(XML_MODE_STREAM, &small);
		k = xml_feed(p, HDR, hl);
		T_EQ_INT(k, hl);
		T_EQ_INT(xml_event(p), XML_EV_STREAM_OPEN);
		small.max_stanza = strlen(st);
		xml_parser_set_limits(p, &small);
		xml_feed(p, st, strlen(st));
		T_EQ_INT(xml_event(p), XML_EV_STANZA);
		small.max_stanza = strlen(st) - 1;
		xml_parser_set_limits(p, &small);
		xml_feed(p, st, strlen(st));
		T_EQ_INT(xml_event(p), XML_EV_ERROR);
		T_EQ_STR(xml_error(p), "policy-violation");
		xml_parser_set_limits(p, NULL);
		xml_parser_free(p);
	}
}

/* One huge text node and one huge value fed a byte at a time. */
static void
test_big(void)
{
	struct xml_parser *p;
	struct xml_node *n;
	struct xml_limits lim = XML_DEFAULT_LIMITS;
	size_t big = 200000, i, k;
	char *in;

	lim.max_stanza = 1 << 20;
	in = malloc(2 * big + 64);
	memcpy(in, "<a v='", 6);
	memset(in + 6, 'v', big);
	memcpy(in + 6 + big, "'>", 2);
	for (i = 0; i < big; i++)
		in[8 + big + i] = "x\xc3\xa9]"[i % 4];
	/* keep whole characters: the last one is ']' */
	k = 8 + 2 * big;
	memcpy(in + k, "</a>", 4);
	k += 4;
	p = xml_parser_new(XML_MODE_DOCUMENT, &lim);
	for (i = 0; i < k; i++) {
		T_EQ_INT(xml_feed(p, in + i, 1), 1);
		if (xml_event(p) != XML_EV_NONE)
			break;
	}
	T_EQ_INT(i, k - 1);
	T_EQ_INT(xml_event(p), XML_EV_DOCUMENT);
	n = xml_take_stanza(p);
	T_EQ_INT(strlen(xml_attr(n, "v")), big);
	T_EQ_INT(n->children->text_len, big);
	T_EXPECT(n->children->next == NULL, "one text node");
	T_EXPECT(memcmp(n->children->text, in + 8 + big, big) == 0, "text");
	/* The arena is proportional to the input. */
	T_EXPECT(xml_arena_size(n->arena) < 3 * big, "arena %zu",
	    xml_arena_size(n->arena));
	xml_arena_free(n->arena);
	xml_parser_free(p);
	free(in);
}

/* ---- the serializer ---- */

static void
test_serializer(void)
{
	struct xml_arena *a = xml_arena_new();
	struct xml_node *m, *f, *fm, *b, *e;
	struct buf small;
	char *s;

	/* Escaping, text and attributes. */
	m = xml_new(a, "message", NS_CLIENT);
	xml_set_attr(m, "to", "a&b<c>d\"e'f\tg\nh\ri");
	b = xml_add_text_child(m, "body", NULL, "1 & 2 < 3 > 0 \"q\" 'a' "
	    "\t\n\r ]]>");
	T_EXPECT(b->ns == m->ns, "same ns shared");
	T_SER(m, NS_CLIENT, "<message to=\"a&amp;b&lt;c&gt;d&quot;e&apos;f"
	    "&#9;g&#10;h&#13;i\"><body>1 &amp; 2 &lt; 3 &gt; 0 \"q\" 'a' "
	    "\t\n&#13; ]]&gt;</body></message>");
	/* Namespace rewriting: c2s stanza onto s2s and back. */
	T_SER(m, NS_SERVER, "<message to=\"a&amp;b&lt;c&gt;d&quot;e&apos;f"
	    "&#9;g&#10;h&#13;i\"><body>1 &amp; 2 &lt; 3 &gt; 0 \"q\" 'a' "
	    "\t\n&#13; ]]&gt;</body></message>");
	xml_set_attr(m, "to", "romeo@example.net");
	xml_remove(b);
	T_SER(m, NULL, "<message xmlns=\"jabber:client\" "
	    "to=\"romeo@example.net\"/>");
	/* Forwarded: the inner message keeps its xmlns. */
	f = xml_add(m, "forwarded", "urn:xmpp:forward:0");
	fm = xml_add(f, "message", NS_CLIENT);
	xml_set_attr(fm, "type", "chat");
	xml_add_text_child(fm, "body", NULL, "hi");
	T_SER(m, NS_SERVER, "<message to=\"romeo@example.net\"><forwarded "
	    "xmlns=\"urn:xmpp:forward:0\"><message xmlns=\"jabber:client\" "
	    "type=\"chat\"><body>hi</body></message></forwarded></message>");
	T_SER(m, NS_CLIENT, "<message to=\"romeo@example.net\"><forwarded "
	    "xmlns=\"urn:xmpp:forward:0\"><message xmlns=\"jabber:client\" "
	    "type=\"chat\"><body>hi</body></message></forwarded></message>");
	/* Serializing an inner node makes it the top. */
	T_SER(fm, NS_SERVER, "<message type=\"chat\"><body>hi</body>"
	    "</message>");
	T_SER(fm, NULL, "<message xmlns=\"jabber:client\" type=\"chat\">"
	    "<body>hi</body></message>");
	/* A jabber:server stanza onto a c2s stream. */
	e = xml_new(a, "presence", NS_SERVER);
	xml_add(e, "x", "vcard-temp:x:update");
	T_SER(e, NS_CLIENT, "<presence><x xmlns=\"vcard-temp:x:update\"/>"
	    "</presence>");
	/* Other top namespaces keep theirs; "" needs xmlns="" on a stream. */
	e = xml_new(a, "features", NS_STREAM);
	xml_add(xml_add(e, "starttls", "urn:ietf:params:xml:ns:xmpp-tls"),
	    "required", NULL);
	xml_add(e, "bidi", NS_STREAM);
	T_SER(e, NS_CLIENT, "<stream:features><starttls "
	    "xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"><required/></starttls>"
	    "<stream:bidi/></stream:features>");
	T_SER(e, NULL, "<features xmlns=\"http://etherx.jabber.org/streams\">"
	    "<starttls xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"><required/>"
	    "</starttls><bidi/></features>");
	e = xml_new(a, "x", "");
	xml_add(e, "y", NULL);
	T_SER(e, NS_CLIENT, "<x xmlns=\"\"><y/></x>");
	T_SER(e, NULL, "<x><y/></x>");
	e = xml_new(a, "q", "urn:a");
	xml_add(xml_add(e, "r", ""), "s", "urn:a");
	T_SER(e, NULL, "<q xmlns=\"urn:a\"><r xmlns=\"\"><s "
	    "xmlns=\"urn:a\"/></r></q>");
	/* Namespaced attributes: xml:, generated prefixes, reuse. */
	e = xml_new(a, "e", "urn:e");
	xml_set_attr_ns(e, NS_XML, "lang", "de");
	xml_set_attr_ns(e, "urn:p", "one", "1");
	xml_set_attr(e, "plain", "p");
	xml_set_attr_ns(e, "urn:q", "two", "2");
	xml_set_attr_ns(e, "urn:p", "three", "3");
	xml_set_attr_ns(e, "urn:\"x\"", "four", "4");
	T_SER(e, NULL, "<e xmlns=\"urn:e\" xml:lang=\"de\" "
	    "xmlns:a0=\"urn:p\" a0:one=\"1\" plain=\"p\" xmlns:a1=\"urn:q\" "
	    "a1:two=\"2\" a0:three=\"3\" xmlns:a2=\"urn:&quot;x&quot;\" "
	    "a2:four=\"4\"/>");
	/* A text node alone. */
	T_SER(b->children, NULL, "1 &amp; 2 &lt; 3 &gt; 0 \"q\" 'a' \t\n"
	    "&#13; ]]&gt;");
	/* A full buffer: -1 and nothing left behind. */
	buf_init(&small, 20);
	T_EQ_INT(buf_add(&small, "abc", 3), 0);
	T_EQ_INT(xml_serialize(m, &small, NULL), -1);
	T_EQ_INT(buf_used(&small), 3);
	T_EQ_STR(buf_cstr(&small), "abc");
	buf_consume(&small, 1);
	T_EQ_INT(xml_serialize(xml_new(a, "ok", ""), &small, NULL), 0);
	T_EQ_STR(buf_cstr(&small), "bc<ok/>");
	buf_free(&small);

	/* Deep trees built locally serialize and copy without recursion. */
	{
		struct xml_node *d = xml_new(a, "d", "urn:d"), *c = d, *cp;
		struct xml_arena *a2 = xml_arena_new();
		int i;

		for (i = 0; i < 5000; i++)
			c = xml_add(c, "d", i % 2 ? "urn:d" : "urn:e");
		xml_add_text(c, "deep", 4);
		s = ser(d, NULL);
		T_EXPECT(strlen(s) > 5000 * 7, "deep serialized");
		T_EXPECT(strstr(s, "deep</d></d>") != NULL, "deep text");
		cp = xml_copy(a2, d);
		T_EXPECT(tree_equal(cp, d), "deep copy");
		free(s);
		xml_arena_free(a2);
	}
	xml_arena_free(a);
}

/* ---- round trips ---- */

static void
test_round_trip(void)
{
	static const char *docs[] = {
		"<iq xmlns='jabber:client' type='set' id='x'><query "
		    "xmlns='jabber:iq:roster'><item jid='a@b' name='A &amp; "
		    "&lt;B&gt;' subscription='both'><group>G1</group>"
		    "<group>&#x1F600;</group></item></query></iq>",
		"<p:a xmlns:p='urn:p' xmlns:q='urn:q' xmlns='urn:d' "
		    "q:x='1' p:y='2' z='3' xml:lang='en'><b q:x='\t&#9;&#10;"
		    "&#13;\r\n'>  text\r\nwith&#13;cr  </b><q:c/><d "
		    "xmlns=''><e/></d><p:f/></p:a>",
		"<a>\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 &apos;&quot;</a>",
		"<a xmlns:z='urn:z'><z:b z:c='1' xmlns:y='urn:z' y:d='2'/></a>",
		"<a>]]&gt;]]</a>",
	};
	char err[256], *s1, *s2;
	struct xml_node *t1, *t2;
	size_t i;

	for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		t1 = xml_parse_document(docs[i], strlen(docs[i]), NULL, err,
		    sizeof err);
		T_EXPECT(t1 != NULL, "doc %zu: %s", i, err);
		if (t1 == NULL)
			continue;
		s1 = ser(t1, NULL);
		t2 = xml_parse_document(s1, strlen(s1), NULL, err, sizeof err);
		T_EXPECT(t2 != NULL, "reparse %zu: %s: %s", i, err, s1);
		if (t2 != NULL) {
			T_EXPECT(tree_equal(t1, t2), "tree %zu differs: %s",
			    i, s1);
			s2 = ser(t2, NULL);
			T_EQ_STR(s2, s1);
			free(s2);
			xml_arena_free(t2->arena);
		}
		free(s1);
		xml_arena_free(t1->arena);
	}
	/* The second one, in detail. */
	t1 = xml_parse_document(docs[1], strlen(docs[1]), NULL, err,
	    sizeof err);
	T_EXPECT(t1 != NULL, "%s", err);
	T_EQ_STR(t1->ns, "urn:p");
	T_EQ_STR(xml_attr_ns(t1, "urn:q", "x"), "1");
	T_EQ_STR(xml_attr_ns(t1, "urn:p", "y"), "2");
	T_EQ_STR(xml_attr(t1, "z"), "3");
	T_EXPECT(xml_attr(t1, "x") == NULL, "prefixed is not unprefixed");
	T_EQ_STR(xml_attr_ns(t1, NS_XML, "lang"), "en");
	T_EQ_STR(xml_attr_ns(xml_child(t1, "b", "urn:d"), "urn:q", "x"),
	    " \t\n\r ");
	T_EQ_STR(xml_child_text(t1, "b", NULL), "  text\nwith\rcr  ");
	T_EXPECT(xml_child(t1, "c", "urn:q") != NULL, "q:c");
	T_EXPECT(xml_child(xml_child(t1, "d", ""), "e", "") != NULL, "e");
	T_EXPECT(xml_child(t1, "f", "urn:p") != NULL, "p:f");
	s1 = ser(t1, NULL);
	T_EQ_STR(s1, "<a xmlns=\"urn:p\" xmlns:a0=\"urn:q\" a0:x=\"1\" "
	    "xmlns:a1=\"urn:p\" a1:y=\"2\" z=\"3\" xml:lang=\"en\"><b "
	    "xmlns=\"urn:d\" xmlns:a0=\"urn:q\" a0:x=\" &#9;&#10;&#13; \">"
	    "  text\nwith&#13;cr  </b><c xmlns=\"urn:q\"/><d xmlns=\"\"><e/>"
	    "</d><f/></a>");
	free(s1);
	xml_arena_free(t1->arena);
}

/* ---- document mode ---- */

static void
test_document(void)
{
	char err[128];
	struct xml_node *n;
	struct xml_limits lim = XML_DEFAULT_LIMITS;
	const char *d = "<?xml version='1.0' encoding='UTF-8'?>\n"
	    "<query xmlns='jabber:iq:roster' ver='3'>\n  <item jid='a@b'/>\n"
	    "</query>\n";

	n = xml_parse_document(d, strlen(d), NULL, err, sizeof err);
	T_EXPECT(n != NULL, "%s", err);
	T_EXPECT(xml_is(n, "query", "jabber:iq:roster"), "query");
	T_EQ_STR(xml_attr(n, "ver"), "3");
	/* Whitespace inside is content, kept as text nodes. */
	T_EXPECT(n->children != NULL && n->children->name == NULL,
	    "leading ws kept");
	T_EQ_STR(n->children->text, "\n  ");
	T_EQ_STR(xml_text(n), "\n  \n");
	T_EXPECT(xml_is(xml_first_element(n), "item", "jabber:iq:roster"),
	    "item");
	xml_arena_free(n->arena);

	T_EXPECT(xml_parse_document("<a>", 3, NULL, err, sizeof err) == NULL,
	    "incomplete");
	T_EQ_STR(err, "not-well-formed: incomplete document");
	T_EXPECT(xml_parse_document("", 0, NULL, err, sizeof err) == NULL,
	    "empty");
	T_EQ_STR(err, "not-well-formed: incomplete document");
	T_EXPECT(xml_parse_document("  ", 2, NULL, err, sizeof err) == NULL,
	    "blank");
	T_EXPECT(xml_parse_document("<a/><b/>", 8, NULL, err, sizeof err) ==
	    NULL, "two roots");
	T_EQ_STR(err, "not-well-formed: data after the root element");
	n = xml_parse_document("<a/>", 4, NULL, NULL, 0);
	T_EXPECT(n != NULL, "no err buffer is fine");
	xml_arena_free(n->arena);
	T_EXPECT(xml_parse_document("<a>", 3, NULL, NULL, 0) == NULL, "NULL");
	lim.max_depth = 1;
	T_EXPECT(xml_parse_document("<a><b/></a>", 11, &lim, err,
	    sizeof err) == NULL, "depth");
	T_EQ_STR(err, "policy-violation: elements nested deeper than 1 "
	    "levels (max_depth)");
	/* Truncated err buffers are NUL-terminated. */
	T_EXPECT(xml_parse_document("<a>", 3, NULL, err, 5) == NULL, "short");
	T_EQ_STR(err, "not-");
	/* Document mode has no stream: no default namespace. */
	n = xml_parse_document("<a><b/>x</a>\n\n", 14, NULL, err, sizeof err);
	T_EXPECT(n != NULL, "%s", err);
	T_EQ_STR(n->ns, "");
	T_EQ_STR(xml_text(n), "x");
	T_SER(n, NULL, "<a><b/>x</a>");
	T_SER(n, NS_CLIENT, "<a xmlns=\"\"><b/>x</a>");
	xml_arena_free(n->arena);

	/* A document parser's events. */
	{
		char *log = run_whole(XML_MODE_DOCUMENT, NULL,
		    "<a>1</a>\n", 9);

		T_EQ_STR(log, "@8 DOC <a>1</a>\n");
		free(log);
		check_splits(XML_MODE_DOCUMENT, NULL, d, strlen(d),
		    "@108 DOC <query xmlns=\"jabber:iq:roster\" ver=\"3\">\n"
		    "  <item jid=\"a@b\"/>\n</query>\n", 1);
	}
}

/* ---- the builder and arena ---- */

static void
test_builder(void)
{
	struct xml_arena *a = xml_arena_new(), *a2;
	struct xml_node *iq, *q, *i1, *i2, *cp, *t;
	size_t before;
	char *big;
	int k;

	iq = xml_new(a, "iq", NS_CLIENT);
	T_EQ_STR(iq->name, "iq");
	T_EQ_STR(iq->ns, NS_CLIENT);
	T_EXPECT(iq->arena == a && iq->parent == NULL, "root");
	xml_set_attr(iq, "type", "get");
	xml_set_attr(iq, "id", "1");
	xml_set_attr(iq, "type", "result");
	T_EQ_STR(xml_attr(iq, "type"), "result");
	T_EQ_STR(iq->attrs->name, "type");	/* replaced in place */
	T_EQ_STR(iq->attrs->next->name, "id");
	xml_set_attr(iq, "type", NULL);
	T_EXPECT(xml_attr(iq, "type") == NULL, "removed");
	T_EQ_STR(iq->attrs->name, "id");
	xml_set_attr(iq, "nothing", NULL);
	xml_set_attr_ns(iq, "urn:x", "id", "nsid");
	T_EQ_STR(xml_attr(iq, "id"), "1");
	T_EQ_STR(xml_attr_ns(iq, "urn:x", "id"), "nsid");
	T_EQ_STR(xml_attr_ns(iq, NULL, "id"), "1");
	T_EQ_STR(xml_attr_ns(iq, "", "id"), "1");
	xml_set_attr_ns(iq, "urn:x", "id", "nsid2");
	T_EQ_STR(xml_attr_ns(iq, "urn:x", "id"), "nsid2");
	xml_set_attr(iq, "id", NULL);
	T_EXPECT(xml_attr(iq, "id") == NULL, "unprefixed removed");
	T_EQ_STR(xml_attr_ns(iq, "urn:x", "id"), "nsid2");
	xml_set_attr_ns(iq, "urn:x", "id", NULL);
	T_EXPECT(iq->attrs == NULL, "all removed");

	q = xml_add(iq, "query", "jabber:iq:roster");
	T_EXPECT(q->parent == iq && iq->children == q && iq->last == q,
	    "linked");
	i1 = xml_add(q, "item", NULL);
	T_EQ_STR(i1->ns, "jabber:iq:roster");
	xml_set_attr(i1, "jid", "a@b");
	i2 = xml_add(q, "item", NULL);
	xml_set_attr(i2, "jid", "c@d");
	xml_add_text(q, "ab", 2);
	xml_add_text(q, "", 0);
	xml_add_text(q, "cd", 2);
	T_EXPECT(q->last->name == NULL && q->last->text_len == 4,
	    "adjacent text merged");
	T_EQ_STR(q->last->text, "abcd");
	xml_add(q, "x", "urn:x");
	xml_add_text(q, "ef", 2);
	T_EQ_STR(xml_text(q), "abcdef");
	T_EQ_STR(xml_text(i1), "");
	T_EQ_STR(xml_text(NULL), "");
	T_EXPECT(xml_child(q, "item", NULL) == i1, "child");
	T_EXPECT(xml_next(i1, "item", NULL) == i2, "next");
	T_EXPECT(xml_next(i2, "item", NULL) == NULL, "no next");
	T_EXPECT(xml_next(i2, NULL, NULL) == q->last->parent->children->
	    next->next->next, "next any skips text");
	T_EXPECT(xml_child(q, NULL, "urn:x") != NULL, "by ns");
	T_EXPECT(xml_child(q, "item", "urn:x") == NULL, "name and ns");
	T_EXPECT(xml_child(NULL, NULL, NULL) == NULL, "NULL parent");
	T_EXPECT(xml_first_element(iq) == q, "first element");
	T_EQ_STR(xml_child_text(iq, "query", NULL), "abcdef");
	T_EXPECT(xml_child_text(iq, "nothing", NULL) == NULL, "no child");
	T_EXPECT(xml_is(q, "query", "jabber:iq:roster"), "is");
	T_EXPECT(xml_is(q, NULL, "jabber:iq:roster"), "is any name");
	T_EXPECT(xml_is(q, "query", NULL), "is any ns");
	T_EXPECT(!xml_is(q, "query", NS_CLIENT), "is not");
	T_EXPECT(!xml_is(q->last, NULL, NULL), "text is not an element");
	T_EXPECT(!xml_is(NULL, NULL, NULL), "NULL");
	t = xml_add_text_child(iq, "status", NULL, "s");
	T_EQ_STR(t->ns, NS_CLIENT);
	T_EQ_STR(xml_text(t), "s");
	t = xml_add_text_child(iq, "empty", "urn:e", NULL);
	T_EXPECT(t->children == NULL, "no text");
	T_SER(iq, NS_CLIENT, "<iq><query xmlns=\"jabber:iq:roster\"><item "
	    "jid=\"a@b\"/><item jid=\"c@d\"/>abcd<x xmlns=\"urn:x\"/>ef"
	    "</query><status>s</status><empty xmlns=\"urn:e\"/></iq>");

	/* Removing first, middle, last and a stranger. */
	xml_remove(i1);
	T_EXPECT(q->children == i2 && i1->parent == NULL, "remove first");
	xml_remove(q->last);
	T_EXPECT(q->last->name != NULL && q->last->next == NULL,
	    "remove last");
	xml_remove(i1);		/* no parent: nothing happens */
	xml_remove(i2->next);	/* the text in the middle */
	T_SER(q, NULL, "<query xmlns=\"jabber:iq:roster\"><item "
	    "jid=\"c@d\"/><x xmlns=\"urn:x\"/></query>");

	/* Copies live in their own arena. */
	a2 = xml_arena_new();
	cp = xml_copy(a2, iq);
	T_EXPECT(cp != iq && cp->arena == a2 && cp->parent == NULL, "copy");
	T_EXPECT(tree_equal(cp, iq), "copy equal");
	t = xml_append_copy(cp, i1);
	T_EXPECT(t->parent == cp && cp->last == t && t->arena == a2,
	    "append copy");
	T_EQ_STR(xml_attr(t, "jid"), "a@b");
	cp = xml_copy(a2, q->children);	/* a subtree */
	/* An attached child whose ns string is its parent's, copied under
	 * a parent in another namespace, keeps its own namespace. */
	{
		struct xml_node *w = xml_append_copy(xml_new(a2, "wrap",
		    "urn:w"), q->children);

		T_EQ_STR(w->ns, "jabber:iq:roster");
		T_EQ_STR(w->parent->ns, "urn:w");
	}
	xml_arena_free(a);
	/* a is gone; the copies still work (ASan checks). */
	T_SER(cp, NULL, "<item xmlns=\"jabber:iq:roster\" jid=\"c@d\"/>");
	T_SER(cp->arena == a2 ? t : NULL, NS_CLIENT,
	    "<item xmlns=\"jabber:iq:roster\" jid=\"a@b\"/>");

	/* Arena: many small, a few huge, size accounting. */
	before = xml_arena_size(a2);
	T_EXPECT(before >= 1024, "size %zu", before);
	for (k = 0; k < 10000; k++) {
		char *s = xml_arena_alloc(a2, 24);

		T_EXPECT(((uintptr_t)s & 7) == 0, "aligned");
		T_EXPECT(s[0] == 0 && s[23] == 0, "zeroed");
		memset(s, 0xa5, 24);
	}
	T_EXPECT(xml_arena_size(a2) >= before + 240000, "grew");
	big = xml_arena_alloc(a2, 1 << 20);
	memset(big, 1, 1 << 20);
	T_EXPECT(xml_arena_size(a2) >= before + 240000 + (1 << 20), "big");
	big = xml_arena_strndup(a2, "hello world", 5);
	T_EQ_STR(big, "hello");
	T_EQ_STR(xml_arena_strdup(a2, "x"), "x");
	T_EXPECT(xml_arena_alloc(a2, 0) != NULL, "zero size");
	xml_arena_free(a2);
	xml_arena_free(NULL);

	/* Text added piece by piece stays linear and correct. */
	a = xml_arena_new();
	t = xml_new(a, "t", "");
	for (k = 0; k < 100000; k++)
		xml_add_text(t, &"0123456789"[k % 10], 1);
	T_EQ_INT(t->children->text_len, 100000);
	T_EXPECT(t->children->next == NULL, "one node");
	T_EXPECT(memcmp(t->children->text, "0123456789", 10) == 0 &&
	    t->children->text[100000] == '\0', "content");
	T_EXPECT(xml_arena_size(a) < 600000, "arena %zu", xml_arena_size(a));
	xml_arena_free(a);
}

/* ---- restart, feed semantics ---- */

static void
test_restart(void)
{
	struct xml_parser *p;
	struct xml_node *n;
	const char *s1 = "<?xml version='1.0'?><stream:stream "
	    "xmlns='jabber:client' xmlns:stream="
	    "'http://etherx.jabber.org/streams' to='a'>"
	    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><junk";
	const char *s2 = "<?xml version='1.0'?><stream:stream "
	    "xmlns='jabber:server' xmlns:stream="
	    "'http://etherx.jabber.org/streams' to='b'><message/>";
	size_t len = strlen(s1), off;

	p = xml_parser_new(XML_MODE_STREAM, NULL);
	off = xml_feed(p, s1, len);
	T_EQ_INT(xml_event(p), XML_EV_STREAM_OPEN);
	off += xml_feed(p, s1 + off, len - off);
	T_EQ_INT(xml_event(p), XML_EV_STANZA);
	/* The caller sees the bytes after <starttls/>: an injection. */
	T_EQ_INT(len - off, 5);
	T_EQ_STR(s1 + off, "<junk");
	n = xml_take_stanza(p);
	T_EXPECT(xml_is(n, "starttls", "urn:ietf:params:xml:ns:xmpp-tls"),
	    "starttls");
	xml_arena_free(n->arena);
	off += xml_feed(p, s1 + off, len - off);
	T_EQ_INT(xml_event(p), XML_EV_NONE);
	T_EQ_INT(xml_pending(p), 5);

	xml_parser_reset(p);
	T_EXPECT(xml_stream_header(p) == NULL, "header gone");
	T_EQ_STR(xml_stream_default_ns(p), "");
	T_EQ_INT(xml_pending(p), 0);
	off = xml_feed(p, s2, strlen(s2));
	T_EQ_INT(xml_event(p), XML_EV_STREAM_OPEN);
	T_EQ_STR(xml_stream_default_ns(p), NS_SERVER);
	T_EQ_STR(xml_attr(xml_stream_header(p), "to"), "b");
	xml_feed(p, s2 + off, strlen(s2) - off);
	T_EQ_INT(xml_event(p), XML_EV_STANZA);
	n = xml_take_stanza(p);
	T_EXPECT(xml_is(n, "message", NS_SERVER), "s2s message");
	T_SER(n, NS_CLIENT, "<message/>");
	xml_arena_free(n->arena);

	/* Reset out of an error, and out of the middle of a stanza. */
	xml_feed(p, "<a><!--", 7);
	T_EQ_INT(xml_event(p), XML_EV_ERROR);
	T_EQ_STR(xml_error(p), "restricted-xml");
	T_EQ_INT(xml_feed(p, "x", 1), 0);
	xml_parser_reset(p);
	T_EQ_INT(xml_event(p), XML_EV_NONE);
	T_EQ_STR(xml_error(p), "");
	xml_feed(p, s2, strlen(s2) - 3);	/* stops inside <message/> */
	xml_parser_reset(p);
	off = xml_feed(p, s2, strlen(s2));
	T_EQ_INT(xml_event(p), XML_EV_STREAM_OPEN);
	/* Untaken stanza, then free: nothing leaks (LSan checks). */
	xml_feed(p, s2 + off, strlen(s2) - off);
	T_EQ_INT(xml_event(p), XML_EV_STANZA);
	xml_parser_free(p);
	xml_parser_free(NULL);

	/* Zero-length feeds. */
	p = xml_parser_new(XML_MODE_STREAM, NULL);
	T_EQ_INT(xml_feed(p, "", 0), 0);
	T_EQ_INT(xml_event(p), XML_EV_NONE);
	xml_parser_free(p);

	/* Default namespace undeclared on the header, a prefix instead. */
	p = xml_parser_new(XML_MODE_STREAM, NULL);
	s1 = "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
	    "xmlns:c='jabber:client'><c:message><body/></c:message>"
	    "<presence/></s:stream>";
	len = strlen(s1);
	off = xml_feed(p, s1, len);
	T_EQ_STR(xml_stream_default_ns(p), "");
	off += xml_feed(p, s1 + off, len - off);
	n = xml_take_stanza(p);
	T_SER(n, NULL, "<message xmlns=\"jabber:client\"><body xmlns=\"\"/>"
	    "</message>");
	xml_arena_free(n->arena);
	off += xml_feed(p, s1 + off, len - off);
	n = xml_take_stanza(p);
	T_EQ_STR(n->ns, "");
	T_SER(n, NS_CLIENT, "<presence xmlns=\"\"/>");
	xml_arena_free(n->arena);
	off += xml_feed(p, s1 + off, len - off);
	T_EQ_INT(xml_event(p), XML_EV_STREAM_CLOSE);
	T_EQ_INT(off, len);
	xml_parser_free(p);
}

void
test_xml(void)
{
	test_c2s_stream();
	test_rejections();
	test_limits();
	test_big();
	test_serializer();
	test_round_trip();
	test_document();
	test_builder();
	test_restart();
}
