/*
 * check.h - `xmppd check`: each part prints one line per finding, saying
 * what is wrong and how to fix it, and returns the number of problems.
 */
#ifndef XMPPD_CHECK_H
#define XMPPD_CHECK_H

struct config;

int	check_certs(const struct config *);
int	check_ports(const struct config *);
int	check_data(const struct config *);
int	check_dns(const struct config *);

#endif
