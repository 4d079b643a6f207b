/*
 * harness.h - the unit tests' tiny harness.  A failed check prints where
 * and what, counts, and the test goes on; main() reports and exits 1.
 */
#ifndef XMPPD_HARNESS_H
#define XMPPD_HARNESS_H

#include <stdio.h>
#include <string.h>

extern int t_checks, t_failed;

#define T_EXPECT(cond, ...) do {					\
	t_checks++;							\
	if (!(cond)) {							\
		t_failed++;						\
		fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

#define T_EQ_INT(a, b) do {						\
	long long t_a_ = (long long)(a), t_b_ = (long long)(b);	\
	T_EXPECT(t_a_ == t_b_, "%s = %lld, want %lld", #a, t_a_, t_b_); \
} while (0)

#define T_EQ_STR(a, b) do {						\
	const char *t_a_ = (a), *t_b_ = (b);				\
	T_EXPECT(t_a_ != NULL && t_b_ != NULL && strcmp(t_a_, t_b_) == 0, \
	    "%s = \"%s\", want \"%s\"", #a, t_a_ ? t_a_ : "(null)",	\
	    t_b_ ? t_b_ : "(null)");					\
} while (0)

#define T_EQ_MEM(a, b, n) do {						\
	T_EXPECT(memcmp((a), (b), (n)) == 0, "%s differs from %s", #a, #b); \
} while (0)

/* Each tests/unit/test_<name>.c defines one entry point. */
void	test_util(void);
void	test_xml(void);
void	test_jid(void);
void	test_store(void);
void	test_sasl(void);
void	test_config(void);
void	test_tls(void);
void	test_dns(void);
void	test_disco(void);
void	test_luadata(void);
void	test_muc(void);
void	test_http(void);
void	test_ws(void);
void	test_loop(void);

#endif
