/*
 * test_muc.c - the group chat module's parsers that need no running
 * server: XEP-0082 times (history 'since', MAM start/end) and the
 * booleans of data forms.
 */
#include <stdint.h>

#include "harness.h"
#include "modules/muc.h"

void	test_muc(void);

static void
times(void)
{
	int64_t t = -1;

	T_EQ_INT(muc_parse_time("1970-01-01T00:00:00Z", &t), 0);
	T_EQ_INT(t, 0);
	T_EQ_INT(muc_parse_time("2002-10-13T23:58:37Z", &t), 0);
	T_EQ_INT(t, 1034553517);
	/* Fractions are accepted and dropped; offsets are applied. */
	T_EQ_INT(muc_parse_time("2002-10-13T23:58:37.123456Z", &t), 0);
	T_EQ_INT(t, 1034553517);
	T_EQ_INT(muc_parse_time("2002-10-14T01:58:37+02:00", &t), 0);
	T_EQ_INT(t, 1034553517);
	T_EQ_INT(muc_parse_time("2002-10-13T18:58:37-05:00", &t), 0);
	T_EQ_INT(t, 1034553517);
	/* Leap days, and a leap second as its last second. */
	T_EQ_INT(muc_parse_time("2000-02-29T00:00:00Z", &t), 0);
	T_EQ_INT(t, 951782400);
	T_EQ_INT(muc_parse_time("2016-12-31T23:59:60Z", &t), 0);
	T_EQ_INT(t, 1483228799);
	/* Before 1970 too. */
	T_EQ_INT(muc_parse_time("1969-12-31T23:59:59Z", &t), 0);
	T_EQ_INT(t, -1);

	/* Refused, with t untouched. */
	t = 42;
	T_EQ_INT(muc_parse_time(NULL, &t), -1);
	T_EQ_INT(muc_parse_time("", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13T23:58:37", &t), -1);	/* no zone */
	T_EQ_INT(muc_parse_time("2001-02-29T00:00:00Z", &t), -1);	/* no leap */
	T_EQ_INT(muc_parse_time("2002-13-01T00:00:00Z", &t), -1);
	T_EQ_INT(muc_parse_time("2002-00-01T00:00:00Z", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-32T00:00:00Z", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13T24:00:00Z", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13T23:60:00Z", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13T23:58:61Z", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13T23:58:37.Z", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13T23:58:37+2:00", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13T23:58:37+24:00", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13T23:58:37Zjunk", &t), -1);
	T_EQ_INT(muc_parse_time("2002-10-13 23:58:37Z", &t), -1);
	T_EQ_INT(muc_parse_time("+002-10-13T23:58:37Z", &t), -1);
	T_EQ_INT(muc_parse_time("0000-01-01T00:00:00Z", &t), -1);
	T_EQ_INT(t, 42);
}

static void
booleans(void)
{
	int b = -1;

	T_EQ_INT(muc_parse_bool("1", &b), 0);
	T_EQ_INT(b, 1);
	T_EQ_INT(muc_parse_bool("false", &b), 0);
	T_EQ_INT(b, 0);
	T_EQ_INT(muc_parse_bool("true", &b), 0);
	T_EQ_INT(b, 1);
	T_EQ_INT(muc_parse_bool("0", &b), 0);
	T_EQ_INT(b, 0);
	b = 7;
	T_EQ_INT(muc_parse_bool(NULL, &b), -1);
	T_EQ_INT(muc_parse_bool("", &b), -1);
	T_EQ_INT(muc_parse_bool("TRUE", &b), -1);
	T_EQ_INT(muc_parse_bool("yes", &b), -1);
	T_EQ_INT(muc_parse_bool("10", &b), -1);
	T_EQ_INT(muc_parse_bool("1 ", &b), -1);
	T_EQ_INT(b, 7);
}

void
test_muc(void)
{
	times();
	booleans();
}
