/*
 * server.c - the running server: listeners, certificates, signals,
 * reload (HUP and changed certificate files) and polite shutdown.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "loop.h"
#include "modules/module.h"
#include "dns.h"
#include "resolver.h"
#include "s2s.h"
#include "router.h"
#include "server.h"
#include "socks5.h"
#include "stream.h"
#include "tls.h"

#define CERT_CHECK_MS	10000	/* how often certificate files are looked at */
#define MAX_LISTENERS	64

struct host_creds {
	char		 *name;
	struct tls_creds *creds;	/* own reference */
};

static struct config	*cfg;
static int		 ready_fd = -1;

void
server_set_ready_fd(int fd)
{
	ready_fd = fd;
}
static char		*cfg_path;
static int64_t		 started;
static int		 stopping;
static int64_t		 stop_deadline;
static int64_t		 next_cert_check;
static struct tls_creds	*default_creds;
static struct host_creds *hcreds;
static size_t		 nhcreds;
static struct listener	*listeners[MAX_LISTENERS];
static size_t		 nlisteners;

const struct config *
server_config(void)
{
	return cfg;
}

int64_t
server_start_time(void)
{
	return started;
}

int
server_is_stopping(void)
{
	return stopping;
}

int
host_is_local(const char *domain)
{
	return cfg != NULL && config_host(cfg, domain) != NULL;
}

struct tls_creds *
server_creds(const char *host)
{
	if (host != NULL)
		for (size_t i = 0; i < nhcreds; i++)
			if (strcmp(hcreds[i].name, host) == 0)
				return hcreds[i].creds;
	if (default_creds != NULL)
		return default_creds;
	return nhcreds > 0 ? hcreds[0].creds : NULL;
}

/* SNI: the client named a host; give it that host's certificate. */
static struct tls_creds *
pick_creds(const char *name)
{
	char host[JID_PART_MAX + 1];

	if (name == NULL || strlcpy_ok(host, name, sizeof host) == -1 ||
	    jid_prep_domain(host) == -1)
		return server_creds(NULL);
	return server_creds(host);
}

static void
log_expiry(const char *what, const struct tls_creds *c)
{
	time_t t = tls_creds_expiry(c);
	char when[32];

	if (t == 0)
		return;
	format_xep82((int64_t)t, when, sizeof when);
	log_info("certificate for %s valid until %s (%lld days)", what, when,
	    (long long)((t - time(NULL)) / 86400));
}

/* Load every certificate the config names into new tables; on any error
 * nothing changes and -1 is returned. */
static int
load_creds(const struct config *c)
{
	struct tls_creds *ndef = NULL;
	struct host_creds *nh = NULL;
	size_t n = 0;
	char err[512];
	const struct host_config *h;

	if (c->certificate != NULL && c->key != NULL) {
		ndef = tls_creds_load(c->certificate, c->key, err, sizeof err);
		if (ndef == NULL) {
			log_warnx("[tls]: %s", err);
			return -1;
		}
	}
	nh = xcalloc(c->nhosts + 1, sizeof *nh);
	for (h = c->hosts; h != NULL; h = h->next) {
		struct tls_creds *cr;
		if (!h->enabled)
			continue;
		if (h->certificate != NULL) {
			cr = tls_creds_load(h->certificate, h->key, err, sizeof err);
			if (cr == NULL) {
				log_warnx("[host %s]: %s", h->name, err);
				goto fail;
			}
		} else if (ndef != NULL) {
			cr = ndef;
			tls_creds_ref(cr);
		} else {
			log_warnx("[host %s]: no certificate configured", h->name);
			goto fail;
		}
		if (!tls_creds_match_name(cr, h->name))
			log_warnx("certificate for %s does not name that host",
			    h->name);
		nh[n].name = xstrdup(h->name);
		nh[n].creds = cr;
		n++;
	}
	/* Swap: connections keep their own references to the old ones. */
	for (size_t i = 0; i < nhcreds; i++) {
		tls_creds_unref(hcreds[i].creds);
		free(hcreds[i].name);
	}
	free(hcreds);
	if (default_creds != NULL)
		tls_creds_unref(default_creds);
	hcreds = nh;
	nhcreds = n;
	default_creds = ndef;
	for (size_t i = 0; i < nhcreds; i++)
		log_expiry(hcreds[i].name, hcreds[i].creds);
	return 0;
fail:
	for (size_t i = 0; i < n; i++) {
		tls_creds_unref(nh[i].creds);
		free(nh[i].name);
	}
	free(nh);
	if (ndef != NULL)
		tls_creds_unref(ndef);
	return -1;
}

static int
creds_changed(void)
{
	if (default_creds != NULL && tls_creds_changed_on_disk(default_creds))
		return 1;
	for (size_t i = 0; i < nhcreds; i++)
		if (tls_creds_changed_on_disk(hcreds[i].creds))
			return 1;
	return 0;
}

static void
accept_plain(int fd, const struct sockaddr *sa, socklen_t sl, void *arg)
{
	if (stopping) {
		close(fd);
		return;
	}
	c2s_accept(fd, sa, sl, 0);
}

static void
accept_tls(int fd, const struct sockaddr *sa, socklen_t sl, void *arg)
{
	if (stopping) {
		close(fd);
		return;
	}
	c2s_accept(fd, sa, sl, 1);
}

static void
accept_s2s(int fd, const struct sockaddr *sa, socklen_t sl, void *arg)
{
	if (stopping) {
		close(fd);
		return;
	}
	s2s_accept(fd, sa, sl, arg != NULL);
}

/* The HTTP server (http.c), linked in when it exists. */
extern void http_accept(int, const struct sockaddr *, socklen_t, int)
    __attribute__((weak));

static void
accept_http(int fd, const struct sockaddr *sa, socklen_t sl, void *arg)
{
	if (stopping) {
		close(fd);
		return;
	}
	http_accept(fd, sa, sl, arg != NULL);
}

static void
close_listeners(void)
{
	for (size_t i = 0; i < nlisteners; i++)
		listener_close(listeners[i]);
	nlisteners = 0;
}

static int
open_ports_arg(const struct config *c, const struct portlist *ports, accept_fn fn,
    void *arg);

static int
open_ports(const struct config *c, const struct portlist *ports, accept_fn fn)
{
	return open_ports_arg(c, ports, fn, NULL);
}

static int
open_ports_arg(const struct config *c, const struct portlist *ports, accept_fn fn,
    void *arg)
{
	char err[256];

	for (size_t i = 0; i < c->interfaces.n; i++)
		for (size_t p = 0; p < ports->n; p++) {
			struct listener *l;
			if (nlisteners == MAX_LISTENERS) {
				log_warnx("too many listeners");
				return -1;
			}
			l = listener_open(c->interfaces.v[i], ports->v[p], fn,
			    arg, err, sizeof err);
			if (l == NULL) {
				log_warnx("%s", err);
				return -1;
			}
			listeners[nlisteners++] = l;
			log_info("listening on %s port %u%s", c->interfaces.v[i],
			    ports->v[p], fn == accept_tls ? " (direct TLS)" :
			    fn == accept_s2s ? (arg != NULL ? " (servers, direct TLS)" :
			    " (servers)") : fn == accept_http ?
			    (arg != NULL ? " (HTTPS)" : " (HTTP)") :
			    fn == socks5_accept ? " (SOCKS5 proxy)" : "");
		}
	return 0;
}

static int
open_listeners(const struct config *c)
{
	if (open_ports(c, &c->c2s_ports, accept_plain) == -1 ||
	    open_ports(c, &c->c2s_direct_tls_ports, accept_tls) == -1 ||
	    open_ports(c, &c->s2s_ports, accept_s2s) == -1 ||
	    open_ports_arg(c, &c->s2s_direct_tls_ports, accept_s2s, (void *)1) == -1 ||
	    open_ports(c, &c->proxy65_ports, socks5_accept) == -1) {
		close_listeners();
		return -1;
	}
	if (c->http_ports.n + c->https_ports.n > 0 && http_accept == NULL)
		log_warnx("http_ports/https_ports: this xmppd has no HTTP server; "
		    "those ports are not opened");
	else if (open_ports_arg(c, &c->http_ports, accept_http, NULL) == -1 ||
	    open_ports_arg(c, &c->https_ports, accept_http, (void *)1) == -1) {
		close_listeners();
		return -1;
	}
	return 0;
}

static int
same_ports(const struct portlist *a, const struct portlist *b)
{
	return a->n == b->n && memcmp(a->v, b->v, a->n * sizeof a->v[0]) == 0;
}

static int
same_listen(const struct config *a, const struct config *b)
{
	if (a->interfaces.n != b->interfaces.n)
		return 0;
	for (size_t i = 0; i < a->interfaces.n; i++)
		if (strcmp(a->interfaces.v[i], b->interfaces.v[i]) != 0)
			return 0;
	return same_ports(&a->c2s_ports, &b->c2s_ports) &&
	    same_ports(&a->c2s_direct_tls_ports, &b->c2s_direct_tls_ports) &&
	    same_ports(&a->s2s_ports, &b->s2s_ports) &&
	    same_ports(&a->s2s_direct_tls_ports, &b->s2s_direct_tls_ports) &&
	    same_ports(&a->http_ports, &b->http_ports) &&
	    same_ports(&a->https_ports, &b->https_ports) &&
	    same_ports(&a->proxy65_ports, &b->proxy65_ports);
}

static void
apply_limits(const struct config *c)
{
	struct conn_limits cl;

	cl.high_water = c->limits.output_high_water;
	cl.hard_limit = c->limits.output_hard_limit;
	cl.max_connections = c->limits.max_connections;
	cl.max_per_ip = c->limits.max_connections_per_ip;
	cl.max_unauth_per_ip = c->limits.max_unauth_per_ip;
	cl.close_linger_ms = 2000;
	cl.max_bytes_per_second = c->limits.max_bytes_per_second;
	conn_set_limits(&cl);
}

static int
apply_logging(const struct config *c)
{
	log_set_level(c->log_level);
	log_set_timestamps(c->log_timestamps);
	if (log_set_file(c->log) == -1) {
		log_warn("cannot open log file %s", c->log);
		return -1;
	}
	return 0;
}

static void
reload(void)
{
	struct config *ncfg, *old;
	char err[1024];

	log_info("reloading %s", cfg_path);
	if (config_load(cfg_path, &ncfg, err, sizeof err) == -1) {
		log_warnx("reload failed, keeping the running configuration: %s", err);
		return;
	}
	if (strcmp(ncfg->data_path, cfg->data_path) != 0)
		log_warnx("data_path changed: takes effect after a restart");
	if (tls_set_ciphers(ncfg->ciphers.v, ncfg->ciphers.n, err, sizeof err) == -1) {
		log_warnx("reload failed, keeping the running configuration: %s", err);
		config_free(ncfg);
		return;
	}
	if (load_creds(ncfg) == -1) {
		log_warnx("reload failed, keeping the running configuration");
		tls_set_ciphers(cfg->ciphers.v, cfg->ciphers.n, err, sizeof err);
		config_free(ncfg);
		return;
	}
	old = cfg;
	cfg = ncfg;
	/* Keep serving from the old data_path until restart. */
	free(cfg->data_path);
	cfg->data_path = xstrdup(old->data_path);
	if (!same_listen(old, cfg)) {
		close_listeners();
		if (open_listeners(cfg) == -1)
			log_warnx("some listeners could not be opened");
	}
	apply_limits(cfg);
	apply_logging(cfg);
	tls_set_session_cache(cfg->tls_session_cache);
	config_free(old);
	if (modules_init() == -1)
		log_warnx("a module failed to restart after reload");
	dns_set_servers(cfg->dns_servers.v, cfg->dns_servers.n);
	s2s_init();
	log_info("configuration reloaded");
}

static int reload_requested;

void
server_request_reload(void)
{
	reload_requested = 1;
	loop_wake();
}

static void
begin_shutdown(void)
{
	if (stopping)
		return;
	stopping = 1;
	stop_deadline = now_ms() + (int64_t)cfg->limits.shutdown_timeout * 1000;
	log_info("shutting down");
	close_listeners();
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->stopping != NULL && module_enabled(*m))
			(*m)->stopping();
	c2s_shutdown_all();
	s2s_shutdown_all();
	socks5_stop();
}

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload();
	else
		begin_shutdown();
}

#define SWEEP_MS	300	/* a sixteenth of the users, every so often:
				 * all of them within about 5 s */

static void
tick(int64_t now)
{
	static int64_t next_sweep;

	conn_tick(now);
	c2s_tick(now);
	resolver_tick(now);
	s2s_tick(now);
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->tick != NULL && module_enabled(*m))
			(*m)->tick(now);
	if (now >= next_sweep) {
		next_sweep = now + SWEEP_MS;
		router_sweep_deleted();
	}
	if (now >= next_cert_check) {
		next_cert_check = now + CERT_CHECK_MS;
		if (!stopping && creds_changed()) {
			log_info("certificate files changed on disk: reloading them");
			if (load_creds(cfg) == -1)
				log_warnx("new certificates not usable; keeping the old ones");
		}
	}
	if (stopping && now >= stop_deadline)
		loop_stop();
	/* What the timers queued (pings, closes) leaves now, not a poll
	 * timeout later. */
	conn_flush_dirty();
	conn_reap();
}

static void
after_pass(void)
{
	if (reload_requested) {
		reload_requested = 0;
		reload();
	}
	resolver_after_pass();
	conn_flush_dirty();
	conn_reap();
	if (stopping && conn_count() == 0)
		loop_stop();
}

int
server_run(struct config *c, const char *path)
{
	char err[1024];

	cfg = c;
	cfg_path = xstrdup(path);
	started = wall_time();
	if (apply_logging(cfg) == -1)
		return 1;
	if (store_open(cfg->data_path, err, sizeof err) == -1) {
		log_error("%s", err);
		return 1;
	}
	if (tls_set_ciphers(cfg->ciphers.v, cfg->ciphers.n, err, sizeof err) == -1) {
		log_error("%s", err);
		return 2;
	}
	tls_set_session_cache(cfg->tls_session_cache);
	tls_set_picker(pick_creds);
	if (load_creds(cfg) == -1)
		return 1;
	apply_limits(cfg);
	if (modules_init() == -1)
		return 1;
	if (dns_set_servers(cfg->dns_servers.v, cfg->dns_servers.n) == -1 ||
	    s2s_init() == -1)
		return 1;
	loop_init();
	signal(SIGPIPE, SIG_IGN);
	loop_on_signal(SIGTERM, on_signal);
	loop_on_signal(SIGINT, on_signal);
	loop_on_signal(SIGHUP, on_signal);
	if (open_listeners(cfg) == -1)
		return 1;
	loop_set_tick(tick);
	loop_set_after_pass(after_pass);
	next_cert_check = now_ms() + CERT_CHECK_MS;
	if (ready_fd >= 0) {
		/* s6-style readiness: a newline, then the descriptor closes. */
		(void)!write(ready_fd, "\n", 1);
		close(ready_fd);
		ready_fd = -1;
	}
	log_info("xmppd ready: %zu host(s), %zu listener(s), data in %s",
	    nhcreds, nlisteners, cfg->data_path);
	loop_run();
	/* Whatever did not flush in time is dropped now. */
	for (const struct module *const *m = modules_all(); *m; m++)
		if ((*m)->fini != NULL && module_enabled(*m))
			(*m)->fini();
	log_info("stopped (%zu connection(s) still open at exit)", conn_count());
	store_close();
	return 0;
}
