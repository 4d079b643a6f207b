/*
 * fuzz_xml.c - libFuzzer target for the tokenizer and the serializer.
 *
 * The first byte sets the chunk size (1..256), the rest is fed in stream
 * mode.  Every stanza is serialized, parsed again as a document (which
 * must succeed) and serialized again (which must give the same bytes).
 * The same input is also tried whole as a document.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *       tests/fuzz/fuzz_xml.c xml.c util.c log.c -o fuzz_xml
 *   ./fuzz_xml tests/fuzz/corpus/xml
 */
#include "util.h"
#include "xml.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Small limits, so that the fuzzer reaches them. */
static const struct xml_limits lim = { 8192, 12, 16, 48 };

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static int
same(const struct buf *a, const struct buf *b)
{
	return buf_used(a) == buf_used(b) &&
	    __builtin_memcmp(buf_head(a), buf_head(b), buf_used(a)) == 0;
}

/* Serialize, re-parse, serialize again: the same bytes both times. */
static void
round_trip(const struct xml_node *n)
{
	/* Escapes and added xmlns make the text longer: be generous. */
	struct xml_limits big = { 1 << 24, lim.max_depth, 4096, 4096 };
	struct xml_arena *a;
	struct xml_node *t, *cp;
	struct buf b1, b2;
	char err[256];

	buf_init(&b1, 1 << 24);
	buf_init(&b2, 1 << 24);
	check(xml_serialize(n, &b1, NULL) == 0);
	t = xml_parse_document(buf_head(&b1), buf_used(&b1), &big, err,
	    sizeof err);
	check(t != NULL);
	check(xml_serialize(t, &b2, NULL) == 0);
	check(same(&b1, &b2));
	xml_arena_free(t->arena);

	/* A copy in another arena writes the same. */
	a = xml_arena_new();
	cp = xml_copy(a, n);
	buf_reset(&b2);
	check(xml_serialize(cp, &b2, NULL) == 0);
	check(same(&b1, &b2));
	/* So does a child copied under a parent in another namespace. */
	if ((t = xml_first_element(n)) != NULL) {
		buf_reset(&b1);
		buf_reset(&b2);
		check(xml_serialize(t, &b1, NULL) == 0);
		cp = xml_append_copy(xml_new(a, "w", "urn:fuzz:w"), t);
		check(xml_serialize(cp, &b2, NULL) == 0);
		check(same(&b1, &b2));
	}
	xml_arena_free(a);

	/* The stream forms must not fail either. */
	buf_reset(&b2);
	check(xml_serialize(n, &b2, NS_CLIENT) == 0);
	buf_reset(&b2);
	check(xml_serialize(n, &b2, NS_SERVER) == 0);
	buf_free(&b1);
	buf_free(&b2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct xml_parser *p;
	struct xml_node *st;
	const char *s;
	size_t chunk, off = 0, end, k;
	int done = 0;

	if (n < 1)
		return 0;
	chunk = (size_t)d[0] + 1;
	s = (const char *)d + 1;
	n--;

	p = xml_parser_new(XML_MODE_STREAM, &lim);
	while (off < n && !done) {
		end = off + (n - off < chunk ? n - off : chunk);
		while (off < end && !done) {
			k = xml_feed(p, s + off, end - off);
			check(k <= end - off);
			off += k;
			switch (xml_event(p)) {
			case XML_EV_NONE:
				check(off == end);
				break;
			case XML_EV_STREAM_OPEN:
				check(xml_stream_header(p) != NULL);
				check(xml_stream_default_ns(p) != NULL);
				break;
			case XML_EV_STANZA:
				st = xml_take_stanza(p);
				check(st != NULL && st->name != NULL);
				check(xml_pending(p) == 0);
				round_trip(st);
				xml_arena_free(st->arena);
				break;
			case XML_EV_STREAM_CLOSE:
				break;
			case XML_EV_ERROR:
				check(xml_error(p)[0] != '\0');
				check(xml_feed(p, "<", 1) == 0);
				done = 1;
				break;
			default:
				check(0);
			}
		}
	}
	xml_parser_free(p);

	st = xml_parse_document(s, n, &lim, NULL, 0);
	if (st != NULL) {
		round_trip(st);
		xml_arena_free(st->arena);
	}
	return 0;
}
