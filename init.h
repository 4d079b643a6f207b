/*
 * init.h - `xmppd init DOMAIN [options]`.
 */
#ifndef XMPPD_INIT_H
#define XMPPD_INIT_H

/* argv[0] is the domain.  Returns the exit status. */
int	cmd_init(const char *config_path, int argc, char **argv);

#endif
