/*
 * The unit test runner: `unit all` or `unit NAME...`.
 * Ends with "unit: N checks, N failed" and exits 1 on any failure.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

int t_checks, t_failed;

static const struct {
	const char	*name;
	void		(*fn)(void);
} tests[] = {
	{ "util", test_util },
	{ "xml", test_xml },
	{ "jid", test_jid },
	{ "store", test_store },
	{ "sasl", test_sasl },
	{ "config", test_config },
	{ "tls", test_tls },
	{ "dns", test_dns },
	{ "disco", test_disco },
	{ "luadata", test_luadata },
	{ "muc", test_muc },
	{ "http", test_http },
	{ "ws", test_ws },
	{ "loop", test_loop },
};

int
main(int argc, char **argv)
{
	size_t i;
	int j, all, ran = 0;

	all = argc < 2 || strcmp(argv[1], "all") == 0;
	for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		int want = all;
		for (j = 1; !all && j < argc; j++)
			if (strcmp(argv[j], tests[i].name) == 0)
				want = 1;
		if (!want)
			continue;
		int before = t_failed, checks = t_checks;
		tests[i].fn();
		printf("unit %s: %d checks, %d failed\n", tests[i].name,
		    t_checks - checks, t_failed - before);
		ran++;
	}
	printf("unit: %d checks, %d failed\n", t_checks, t_failed);
	return (ran == 0 || t_failed) ? 1 : 0;
}
