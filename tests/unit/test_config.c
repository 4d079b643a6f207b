/*
 * test_config.c - config.c: sample.ini, every class of error with its
 * exact message and line, defaults, path expansion, quoting, look-ups.
 *
 * Config files are written into a fresh temporary directory that also
 * serves as $HOME; HOME and XMPPD_CONFIG are restored at the end.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tls.h"
#include "harness.h"

static char	tdir[256];	/* also $HOME during the tests */
static char	tpath[300];	/* the config file under test */
static char	got[2048];	/* last error */
static char	want[2048];

/* The smallest valid configuration, and prefixes to build on. */
#define BASE_SERVER	"[server]\nc2s_ports = 5222\n"
#define BASE_TLS	"[tls]\ncertificate = /c.crt\nkey = /c.key\n"
#define BASE_HOST	"[host example.org]\n"
#define BASE		"# base\n" BASE_SERVER BASE_TLS BASE_HOST	/* 7 lines */

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL) {
		T_EXPECT(0, "cannot create %s: %s", path, strerror(errno));
		return;
	}
	if (len > 0 && fwrite(data, 1, len, f) != len)
		T_EXPECT(0, "cannot write %s", path);
	fclose(f);
}

/* Load text from tpath; the error (if any) lands in got. */
static int
load_n(const char *text, size_t len, struct config **out)
{
	write_file(tpath, text, len);
	got[0] = '\0';
	return config_load(tpath, out, got, sizeof(got));
}

static struct config *
load_ok(const char *text)
{
	struct config *cfg = NULL;
	int rc = load_n(text, strlen(text), &cfg);

	T_EXPECT(rc == 0 && cfg != NULL, "load failed: %s", got);
	return rc == 0 ? cfg : NULL;
}

/* Expect config_load to fail with exactly "tpath:LINE: msg". */
static int
load_fails(const char *text, size_t len)
{
	struct config *cfg = (struct config *)&cfg;	/* must become NULL */
	int rc = load_n(text, len, &cfg);

	if (rc == 0)
		config_free(cfg);
	return rc == -1 && cfg == NULL;
}

#define ERR_N(text, len, line, msg) do {				\
	int ok_ = load_fails((text), (len));				\
	if ((line) > 0)							\
		snprintf(want, sizeof(want), "%s:%d: %s", tpath, (line), (msg)); \
	else								\
		snprintf(want, sizeof(want), "%s: %s", tpath, (msg));	\
	T_EXPECT(ok_, "config_load did not fail as it should");	\
	T_EQ_STR(got, want);						\
} while (0)
#define ERR(text, line, msg)	ERR_N((text), strlen(text), (line), (msg))

static void
setenv_or_unset(const char *name, const char *value)
{
	if (value != NULL)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

static char *
saved_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL ? strdup(v) : NULL;
}

static const char *
home_path(const char *rest)
{
	static char buf[600];

	snprintf(buf, sizeof(buf), "%s%s", tdir, rest);
	return buf;
}

/* ---- sample.ini ---- */

static void
test_sample(void)
{
	static const char *const where[] = {
		"sample.ini", "../sample.ini", "../../sample.ini",
		"../../../sample.ini",
	};
	static const char *const mods[] = {
		"roster", "saslauth", "tls", "disco", "private", "vcard",
		"privacy", "blocklist", "version", "uptime", "time", "ping",
		"posix", "register", "admin_adhoc", "motd", "welcome", "offline",
		"pep", "carbons", "smacks", "csi", "cloud_notify", "mam", "muc",
	};
	struct config *cfg = NULL;
	const char *path = NULL;
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (access(where[i], R_OK) == 0) {
			path = where[i];
			break;
		}
	T_EXPECT(path != NULL, "sample.ini not found from the cwd");
	if (path == NULL)
		return;
	T_EQ_INT(config_load(path, &cfg, err, sizeof(err)), 0);
	T_EXPECT(cfg != NULL, "sample.ini: %s", err);
	if (cfg == NULL)
		return;
	T_EQ_STR(cfg->path, path);
	T_EQ_STR(cfg->data_path, home_path("/var/xmppd"));
	T_EQ_STR(cfg->certificate,
	    home_path("/etc/certificates/example.org.crt"));
	T_EQ_STR(cfg->key, home_path("/etc/certificates/example.org.key"));
	T_EQ_INT(cfg->c2s_ports.n, 1);
	T_EQ_INT(cfg->c2s_ports.v[0], 5222);
	T_EQ_INT(cfg->s2s_ports.n, 1);
	T_EQ_INT(cfg->s2s_ports.v[0], 5269);
	T_EQ_INT(cfg->c2s_direct_tls_ports.n, 0);
	T_EQ_INT(cfg->admins.n, 1);
	T_EXPECT(config_is_admin(cfg, "admin@example.org"), "admin");
	T_EQ_INT(cfg->modules.n, sizeof(mods) / sizeof(mods[0]));
	for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		T_EXPECT(config_has_module(cfg, mods[i]), "module %s", mods[i]);
		if (i < cfg->modules.n)
			T_EQ_STR(cfg->modules.v[i], mods[i]);
	}
	T_EQ_INT(cfg->nhosts, 1);
	T_EXPECT(config_host(cfg, "example.org") != NULL, "example.org");
	T_EQ_STR(cfg->authentication, "internal_hashed");
	T_EQ_INT(cfg->interfaces.n, 1);
	T_EQ_STR(cfg->interfaces.v[0], "*");
	/* sample.ini's commented-out values are the defaults */
	T_EQ_INT(cfg->limits.max_stanza_size, 262144);
	T_EQ_INT(cfg->limits.shutdown_timeout, 5);
	T_EQ_INT(cfg->log_level, LOG_LVL_INFO);
	T_EXPECT(cfg->motd == NULL, "no motd");
	config_free(cfg);
}

/* ---- defaults ---- */

static void
test_defaults(void)
{
	struct config *cfg = load_ok(BASE);
	const struct limits *l;

	if (cfg == NULL)
		return;
	l = &cfg->limits;
	T_EQ_STR(cfg->path, tpath);
	T_EQ_INT(cfg->admins.n, 0);
	T_EQ_STR(cfg->data_path, home_path("/var/xmppd"));
	T_EXPECT(cfg->log == NULL, "log: stderr");
	T_EQ_INT(cfg->log_level, LOG_LVL_INFO);
	T_EQ_INT(cfg->log_timestamps, 0);
	T_EQ_INT(cfg->interfaces.n, 1);
	T_EQ_STR(cfg->interfaces.v[0], "*");
	T_EQ_INT(cfg->c2s_direct_tls_ports.n, 0);
	T_EQ_INT(cfg->s2s_ports.n, 0);
	T_EQ_INT(cfg->c2s_require_encryption, 1);
	T_EQ_INT(cfg->s2s_require_encryption, 1);
	T_EQ_INT(cfg->allow_registration, 0);
	T_EQ_STR(cfg->authentication, "internal_hashed");
	T_EQ_INT(cfg->modules.n, 0);
	T_EXPECT(cfg->motd == NULL, "motd");
	T_EXPECT(cfg->welcome_message == NULL, "welcome_message");
	T_EXPECT(cfg->pidfile == NULL, "pidfile");
	T_EQ_STR(cfg->certificate, "/c.crt");
	T_EQ_STR(cfg->key, "/c.key");
	T_EQ_INT(cfg->ciphers.n, 0);
	T_EQ_INT(cfg->tls_options.n, 0);

	T_EQ_INT(l->max_stanza_size, 262144);
	T_EQ_INT(l->max_stanza_size_preauth, 16384);
	T_EQ_INT(l->max_depth, 32);
	T_EQ_INT(l->max_attrs, 64);
	T_EQ_INT(l->max_name, 256);
	T_EQ_INT(l->max_connections, 1024);
	T_EQ_INT(l->max_connections_per_ip, 16);
	T_EQ_INT(l->max_unauth_per_ip, 4);
	T_EQ_INT(l->auth_timeout, 30);
	T_EQ_INT(l->auth_attempts, 5);
	T_EQ_INT(l->max_resources, 8);
	T_EQ_INT(l->max_offline_messages, 100);
	T_EQ_INT(l->max_roster_items, 1000);
	T_EQ_INT(l->output_high_water, 524288);
	T_EQ_INT(l->output_hard_limit, 1048576);
	T_EQ_INT(l->idle_timeout, 300);
	T_EQ_INT(l->ping_timeout, 60);
	T_EQ_INT(l->shutdown_timeout, 5);

	T_EQ_INT(cfg->nhosts, 1);
	T_EXPECT(cfg->hosts != NULL, "one host");
	if (cfg->hosts != NULL) {
		T_EQ_STR(cfg->hosts->name, "example.org");
		T_EQ_INT(cfg->hosts->enabled, 1);
		T_EXPECT(cfg->hosts->certificate == NULL, "host cert");
		T_EXPECT(cfg->hosts->key == NULL, "host key");
		T_EQ_INT(cfg->hosts->allow_registration, -1);
		T_EXPECT(cfg->hosts->next == NULL, "one host");
	}
	config_free(cfg);
}

/* Every key set, in an unusual order, with the separators inih allows. */
static void
test_all_keys(void)
{
	struct config *cfg;
	const struct limits *l;
	char text[4096], cipher[128];
	const char *names = tls_cipher_names();
	size_t n;

	/* Whatever tls.c knows, its first cipher name must be accepted. */
	n = strcspn(names, " ");
	T_EXPECT(n > 0 && n < sizeof(cipher), "tls_cipher_names");
	if (n == 0 || n >= sizeof(cipher))
		return;
	memcpy(cipher, names, n);
	cipher[n] = '\0';

	snprintf(text, sizeof(text),
	    "; comment\n"
	    "# comment\n"
	    "[limits]\n"
	    "shutdown_timeout = 10\n"
	    "ping_timeout = 30\n"
	    "idle_timeout = 600\n"
	    "output_hard_limit = 4M\n"
	    "output_high_water = 1M\n"
	    "max_roster_items = 500\n"
	    "max_offline_messages = 0\n"
	    "max_resources = 3\n"
	    "auth_attempts = 2\n"
	    "auth_timeout = 20\n"
	    "max_unauth_per_ip = 2\n"
	    "max_connections_per_ip = 8\n"
	    "max_connections = 200\n"
	    "max_name = 128\n"
	    "max_attrs = 32\n"
	    "max_depth = 16\n"
	    "max_stanza_size_preauth = 8k\n"
	    "max_stanza_size = 524288\n"
	    "[host b.example]\n"
	    "proxy65 = Proxy.B.Example\n"
	    "allow_registration = yes\n"
	    "key = $HOME/b.key\n"
	    "certificate = ${HOME}/b.crt\n"
	    "enabled = on\n"
	    "[tls]\n"
	    "options = no_sslv2 no_sslv3, no_ticket,no_compression "
	    "single_dh_use single_ecdh_use cipher_server_preference no_tlsv1 "
	    "no_tlsv1_1\n"
	    "ciphers = %s\n"
	    "key: ~/k.pem\n"
	    "certificate: ~/c.pem\n"
	    "[server]\n"
	    "pidfile = ~/run/xmppd.pid\n"
	    "welcome_message = Welcome, friend!\n"
	    "motd = Maintenance at 22:00 = soon; be ready # really\n"
	    "modules = roster ping\n"
	    "authentication = internal_hashed\n"
	    "allow_registration = TRUE\n"
	    "s2s_require_encryption = off\n"
	    "c2s_require_encryption = 0\n"
	    "s2s_ports = 5269\n"
	    "proxy65_ports = 5000 40002\n"
	    "c2s_direct_tls_ports = 5223, 40001\n"
	    "c2s_ports = 40000\n"
	    "interfaces = 127.0.0.1, ::1\n"
	    "log_timestamps = Yes\n"
	    "log_level = debug\n"
	    "log = ~/logs/xmppd.log\n"
	    "data_path = /srv/xmppd\n"
	    "admins = Alice@Example.ORG, bob@b.example\n"
	    "\t  \n", cipher);
	if ((cfg = load_ok(text)) == NULL)
		return;
	l = &cfg->limits;
	T_EQ_INT(l->shutdown_timeout, 10);
	T_EQ_INT(l->ping_timeout, 30);
	T_EQ_INT(l->idle_timeout, 600);
	T_EQ_INT(l->output_hard_limit, 4 * 1048576);
	T_EQ_INT(l->output_high_water, 1048576);
	T_EQ_INT(l->max_roster_items, 500);
	T_EQ_INT(l->max_offline_messages, 0);
	T_EQ_INT(l->max_resources, 3);
	T_EQ_INT(l->auth_attempts, 2);
	T_EQ_INT(l->auth_timeout, 20);
	T_EQ_INT(l->max_unauth_per_ip, 2);
	T_EQ_INT(l->max_connections_per_ip, 8);
	T_EQ_INT(l->max_connections, 200);
	T_EQ_INT(l->max_name, 128);
	T_EQ_INT(l->max_attrs, 32);
	T_EQ_INT(l->max_depth, 16);
	T_EQ_INT(l->max_stanza_size_preauth, 8192);
	T_EQ_INT(l->max_stanza_size, 524288);

	T_EQ_INT(cfg->nhosts, 1);
	if (cfg->hosts != NULL) {
		T_EQ_STR(cfg->hosts->name, "b.example");
		T_EQ_INT(cfg->hosts->allow_registration, 1);
		T_EQ_STR(cfg->hosts->proxy65, "proxy.b.example");
		T_EQ_STR(cfg->hosts->key, home_path("/b.key"));
		T_EQ_STR(cfg->hosts->certificate, home_path("/b.crt"));
		T_EQ_INT(cfg->hosts->enabled, 1);
	}
	T_EQ_INT(cfg->tls_options.n, 9);
	if (cfg->tls_options.n == 9) {
		T_EQ_STR(cfg->tls_options.v[0], "no_sslv2");
		T_EQ_STR(cfg->tls_options.v[3], "no_compression");
		T_EQ_STR(cfg->tls_options.v[8], "no_tlsv1_1");
	}
	T_EQ_INT(cfg->ciphers.n, 1);
	if (cfg->ciphers.n == 1)
		T_EQ_STR(cfg->ciphers.v[0], cipher);
	T_EQ_STR(cfg->key, home_path("/k.pem"));
	T_EQ_STR(cfg->certificate, home_path("/c.pem"));
	T_EQ_STR(cfg->pidfile, home_path("/run/xmppd.pid"));
	T_EQ_STR(cfg->welcome_message, "Welcome, friend!");
	/* no inline comments: ';' and '#' stay in the value */
	T_EQ_STR(cfg->motd, "Maintenance at 22:00 = soon; be ready # really");
	T_EQ_INT(cfg->modules.n, 2);
	T_EXPECT(config_has_module(cfg, "roster"), "roster");
	T_EXPECT(config_has_module(cfg, "ping"), "ping");
	T_EXPECT(!config_has_module(cfg, "disco"), "disco");
	T_EQ_INT(cfg->allow_registration, 1);
	T_EQ_INT(cfg->s2s_require_encryption, 0);
	T_EQ_INT(cfg->c2s_require_encryption, 0);
	T_EQ_INT(cfg->s2s_ports.n, 1);
	T_EQ_INT(cfg->s2s_ports.v[0], 5269);
	T_EQ_INT(cfg->proxy65_ports.n, 2);
	T_EQ_INT(cfg->proxy65_ports.v[1], 40002);
	T_EQ_INT(cfg->c2s_direct_tls_ports.n, 2);
	T_EQ_INT(cfg->c2s_direct_tls_ports.v[0], 5223);
	T_EQ_INT(cfg->c2s_direct_tls_ports.v[1], 40001);
	T_EQ_INT(cfg->c2s_ports.n, 1);
	T_EQ_INT(cfg->c2s_ports.v[0], 40000);
	T_EQ_INT(cfg->interfaces.n, 2);
	if (cfg->interfaces.n == 2) {
		T_EQ_STR(cfg->interfaces.v[0], "127.0.0.1");
		T_EQ_STR(cfg->interfaces.v[1], "::1");
	}
	T_EQ_INT(cfg->log_timestamps, 1);
	T_EQ_INT(cfg->log_level, LOG_LVL_DEBUG);
	T_EQ_STR(cfg->log, home_path("/logs/xmppd.log"));
	T_EQ_STR(cfg->data_path, "/srv/xmppd");
	T_EQ_INT(cfg->admins.n, 2);
	if (cfg->admins.n == 2) {
		T_EQ_STR(cfg->admins.v[0], "alice@example.org");
		T_EQ_STR(cfg->admins.v[1], "bob@b.example");
	}
	config_free(cfg);
}

/* ---- every error, with its line ---- */

static void
test_syntax_errors(void)
{
	char buf[1200], msg[300];
	char *text;
	size_t n;

	ERR(BASE "foo = 1\n", 8, "unknown key 'foo' in [host example.org]");
	ERR("[server]\nc2s_ports = 5222\nlimits = 3\n" BASE_TLS BASE_HOST, 3,
	    "unknown key 'limits' in [server]");
	ERR(BASE "[tls]\n", 8,
	    "section [tls] appears twice (first at line 4)");
	ERR("[limits]\nmax_stanza = 1\n", 2,
	    "unknown key 'max_stanza' in [limits]");
	ERR("\n[server]\n[bogus]\n", 3, "unknown section [bogus] (known: "
	    "[server], [tls], [limits], [host NAME], or a module's name)");
	ERR("[Server]\n", 1, "unknown section [Server] (known: "
	    "[server], [tls], [limits], [host NAME], or a module's name)");
	ERR("# hi\n[]\n", 2, "empty section name []");
	ERR("c2s_ports = 5222\n[server]\n", 1,
	    "key 'c2s_ports' before any section");
	ERR("; x\n\n  log = x\n", 3, "key 'log' before any section");
	ERR("[server]\nc2s_ports = 5222\nc2s_ports = 5223\n", 3,
	    "duplicate key 'c2s_ports' in [server] (first at line 2)");
	ERR(BASE "enabled = yes\nenabled = yes\n", 9,
	    "duplicate key 'enabled' in [host example.org] (first at line 8)");
	ERR("[server]\n[server\n", 2, "section header without a closing ']'");
	ERR("[server]\njust some words\n", 2,
	    "expected 'key = value', a [section] or a comment");
	ERR("[server]\n= 5\n", 2, "unknown key '' in [server]");
	/* Control bytes and long names are shown safely in messages. */
	ERR("[server]\nfo\001o = 1\n", 2, "unknown key 'fo?o' in [server]");
	memset(buf, 'k', 200);
	memcpy(buf, "[server]\n", 9);
	memcpy(buf + 200, " = 1\n", 6);
	memset(msg, 'k', 68);
	snprintf(msg + 68, sizeof(msg) - 68, "...' in [server]");
	{
		char full[400];
		snprintf(full, sizeof(full), "unknown key '%s", msg);
		ERR(buf, 2, full);
	}

	/* Line length: inih's buffer holds 1023 bytes with the newline. */
	text = buf;
	memcpy(text, "[server]\n#", 10);
	n = 10;
	memset(text + n, 'x', 1021);	/* line 2: 1022 bytes + newline */
	n += 1021;
	memcpy(text + n, "\n", 2);
	ERR(text, 0, "no enabled [host NAME] section: add one for each "
	    "domain this server serves");
	memcpy(text + n, "x\n", 3);	/* 1023 + newline: too long */
	ERR(text, 2, "line too long (more than 1023 bytes with its newline)");
	text[n + 1] = '\0';		/* 1023, last line without newline */
	ERR(text, 0, "no enabled [host NAME] section: add one for each "
	    "domain this server serves");
	/* A long value line, the common case (a path). */
	n = (size_t)snprintf(buf, sizeof(buf), "[server]\nc2s_ports = 1\n"
	    "data_path = /");
	memset(buf + n, 'p', 1100 - n);
	memcpy(buf + 1100, "\n[tls]\n", 8);
	ERR(buf, 3, "line too long (more than 1023 bytes with its newline)");

	/* NUL bytes would hide the rest of a line from inih. */
	ERR_N("[server]\nlog = a\0b\n", 19, 2, "NUL byte in line");
	/* A BOM is fine, and so are CRLF line ends and no final newline. */
	{
		struct config *cfg = load_ok("\xef\xbb\xbf[server]\r\n"
		    "c2s_ports = 5222\r\n" BASE_TLS "[host example.org]");
		if (cfg != NULL) {
			T_EQ_INT(cfg->c2s_ports.v[0], 5222);
			T_EQ_INT(cfg->nhosts, 1);
			config_free(cfg);
		}
	}
}

static void
test_value_errors(void)
{
	char msg[1024];

	ERR("[server]\nlog_timestamps = maybe\n", 2, "log_timestamps: "
	    "expected true/false, yes/no, on/off or 1/0, not 'maybe'");
	ERR("[server]\nc2s_require_encryption =\n", 2, "c2s_require_encryption:"
	    " expected true/false, yes/no, on/off or 1/0, not ''");
	ERR(BASE "enabled = 2\n", 8,
	    "enabled: expected true/false, yes/no, on/off or 1/0, not '2'");
	ERR("[server]\nlog_level = warning\n", 2,
	    "log_level: expected error, warn, info or debug, not 'warning'");
	ERR("[server]\nlog_level = DEBUG\n", 2,
	    "log_level: expected error, warn, info or debug, not 'DEBUG'");

	/* integers: decimal digits only */
	ERR("[limits]\nmax_depth = 12x\n", 2,
	    "max_depth: '12x' is not a decimal number");
	ERR("[limits]\nmax_depth = -5\n", 2,
	    "max_depth: '-5' is not a decimal number");
	ERR("[limits]\nmax_depth = +16\n", 2,
	    "max_depth: '+16' is not a decimal number");
	ERR("[limits]\nmax_depth = 0x10\n", 2,
	    "max_depth: '0x10' is not a decimal number");
	ERR("[limits]\nmax_depth = 1 6\n", 2,
	    "max_depth: '1 6' is not a decimal number");
	ERR("[limits]\nmax_depth =\n", 2,
	    "max_depth: '' is not a decimal number");
	ERR("[limits]\nmax_depth = 16K\n", 2,
	    "max_depth: '16K' is not a decimal number");
	ERR("[limits]\nmax_stanza_size = 10G\n", 2, "max_stanza_size: '10G' "
	    "is not a size (bytes, or a number followed by K or M)");
	ERR("[limits]\nmax_stanza_size = K\n", 2, "max_stanza_size: 'K' "
	    "is not a size (bytes, or a number followed by K or M)");
	ERR("[limits]\nmax_stanza_size = 1MM\n", 2, "max_stanza_size: '1MM' "
	    "is not a size (bytes, or a number followed by K or M)");

	/* out of range, overflow included */
	ERR("[limits]\nmax_depth = 7\n", 2,
	    "max_depth: 7 is out of range 8..256");
	ERR("[limits]\nmax_depth = 257\n", 2,
	    "max_depth: 257 is out of range 8..256");
	ERR("[limits]\nmax_depth = 4294967304\n", 2,
	    "max_depth: 4294967304 is out of range 8..256");
	ERR("[limits]\nmax_depth = 99999999999999999999999\n", 2,
	    "max_depth: 99999999999999999999999 is out of range 8..256");
	ERR("[limits]\nmax_stanza_size = 17M\n", 2,
	    "max_stanza_size: 17M is out of range 4096..16777216");
	ERR("[limits]\nmax_stanza_size = 4095\n", 2,
	    "max_stanza_size: 4095 is out of range 4096..16777216");
	ERR("[limits]\nmax_stanza_size = 18014398509481984M\n", 2,
	    "max_stanza_size: 18014398509481984M is out of range "
	    "4096..16777216");
	ERR("[limits]\nauth_attempts = 0\n", 2,
	    "auth_attempts: 0 is out of range 1..100");
	ERR("[limits]\noutput_hard_limit = 2G\n", 2,
	    "output_hard_limit: '2G' is not a size (bytes, or a number "
	    "followed by K or M)");
	ERR("[limits]\noutput_hard_limit = 1025M\n", 2,
	    "output_hard_limit: 1025M is out of range 16384..1073741824");

	/* limits that depend on each other; blamed on the line given */
	{
		/* defaults follow a lowered (or raised) limit they depend on */
		struct config *cfg = load_ok(BASE "[limits]\nmax_stanza_size = 8K\n"
		    "max_connections = 10\n");
		if (cfg != NULL) {
			T_EQ_INT(cfg->limits.max_stanza_size_preauth, 8192);
			T_EQ_INT(cfg->limits.max_connections_per_ip, 10);
			T_EQ_INT(cfg->limits.max_unauth_per_ip, 4);
			config_free(cfg);
		}
		cfg = load_ok(BASE "[limits]\nmax_stanza_size = 1M\n"
		    "max_connections = 2\n");
		if (cfg != NULL) {
			T_EQ_INT(cfg->limits.output_hard_limit, 2097152);
			T_EQ_INT(cfg->limits.max_unauth_per_ip, 2);
			config_free(cfg);
		}
	}
	ERR(BASE "[limits]\nmax_stanza_size_preauth = 64K\n"
	    "max_stanza_size = 32K\n", 9, "max_stanza_size_preauth (65536) "
	    "must not exceed max_stanza_size (32768)");
	ERR(BASE "[limits]\nmax_stanza_size_preauth = 512K\n"
	    "max_stanza_size = 1M\noutput_hard_limit = 1M\n", 11,
	    "output_hard_limit (1048576) must "
	    "be at least twice max_stanza_size (1048576)");
	ERR(BASE "[limits]\noutput_hard_limit = 256K\n", 9,
	    "output_hard_limit (262144) must be at least twice "
	    "max_stanza_size (262144)");
	ERR(BASE "[limits]\noutput_high_water = 2M\n", 9,
	    "output_high_water (2097152) must not exceed "
	    "output_hard_limit (1048576)");
	ERR(BASE "[limits]\nmax_connections = 10\nmax_connections_per_ip = 16\n", 10,
	    "max_connections_per_ip (16) must not exceed max_connections (10)");
	ERR(BASE "[limits]\nmax_unauth_per_ip = 17\n", 9,
	    "max_unauth_per_ip (17) must not exceed "
	    "max_connections_per_ip (16)");
	{
		struct config *cfg = load_ok(BASE "[limits]\n"
		    "max_stanza_size = 16M\noutput_hard_limit = 32M\n"
		    "max_stanza_size_preauth = 16M\n"
		    "max_connections = 1\nmax_connections_per_ip = 1\n"
		    "max_unauth_per_ip = 1\n");
		if (cfg != NULL) {
			T_EQ_INT(cfg->limits.max_stanza_size, 16777216);
			T_EQ_INT(cfg->limits.output_hard_limit, 33554432);
			config_free(cfg);
		}
	}

	/* authentication */
	ERR("[server]\nauthentication = internal_plain\n", 2,
	    "authentication: internal_plain is not supported: xmppd never "
	    "stores passwords, only salted SCRAM hashes; use internal_hashed");
	ERR("[server]\nauthentication = \"internal_plain\"\n", 2,
	    "authentication: internal_plain is not supported: xmppd never "
	    "stores passwords, only salted SCRAM hashes; use internal_hashed");
	ERR("[server]\nauthentication = ldap\n", 2, "authentication: 'ldap' "
	    "is not supported (the only method is internal_hashed)");

	/* modules and ciphers list what is known */
	snprintf(msg, sizeof(msg), "modules: unknown module 'nosuch' "
	    "(known: %s)", module_names());
	ERR("[server]\nmodules = roster, nosuch disco\n", 2, msg);
	snprintf(msg, sizeof(msg), "ciphers: unknown cipher suite "
	    "'RC4-MD5' (known: %s)", tls_cipher_names());
	ERR("[tls]\nciphers = RC4-MD5\n", 2, msg);
	ERR("[tls]\noptions = no_sslv2 no_tlsv1_2\n", 2, "options: unknown "
	    "option 'no_tlsv1_2' (accepted, all describing what BearSSL "
	    "always does: no_sslv2 no_sslv3 no_ticket no_compression "
	    "single_dh_use single_ecdh_use cipher_server_preference no_tlsv1 "
	    "no_tlsv1_1)");

	/* admins */
	ERR("[server]\nadmins = ok@example.org, <bad>@example.org\n", 2,
	    "admins: '<bad>@example.org' is not a valid JID");
	ERR("[server]\nadmins = user@@example.org\n", 2,
	    "admins: 'user@@example.org' is not a valid JID");
	ERR("[server]\nadmins = a@example.org/phone\n", 2, "admins: "
	    "'a@example.org/phone' has a resource; give the bare JID "
	    "(user@domain)");
	ERR("[server]\nadmins = example.org\n", 2, "admins: 'example.org' "
	    "has no user part; give user@domain");

	/* interfaces */
	ERR("[server]\ninterfaces = localhost\n", 2, "interfaces: 'localhost' "
	    "is not '*' or an IPv4 or IPv6 address");
	ERR("[server]\ninterfaces = 1.2.3\n", 2, "interfaces: '1.2.3' "
	    "is not '*' or an IPv4 or IPv6 address");
	ERR("[server]\ninterfaces = [::1]\n", 2, "interfaces: '[::1]' "
	    "is not '*' or an IPv4 or IPv6 address");
	ERR("[server]\ninterfaces = *, 127.0.0.1\n", 2, "interfaces: '*' "
	    "already means every address; list either '*' or addresses");
	ERR("[server]\ninterfaces = ::1 *\n", 2, "interfaces: '*' "
	    "already means every address; list either '*' or addresses");
	ERR("[server]\ninterfaces = 0:0::1, ::1\n", 2,
	    "interfaces: ::1 is listed twice");
	ERR("[server]\ninterfaces =\n", 2,
	    "interfaces: empty list (use * for every address)");

	/* ports */
	ERR("[server]\nc2s_ports = 5222\ns2s_ports = 5269, 5222\n", 3,
	    "s2s_ports: port 5222 is already in c2s_ports");
	ERR("[server]\ns2s_ports = 5269\nc2s_direct_tls_ports = 5269\n", 3,
	    "c2s_direct_tls_ports: port 5269 is already in s2s_ports");
	ERR("[server]\nhttp_ports = 5280\nproxy65_ports = 5280\n", 3,
	    "proxy65_ports: port 5280 is already in http_ports");
	ERR("[server]\nc2s_ports = 5222 5222\n", 2,
	    "c2s_ports: port 5222 is listed twice");
	ERR("[server]\nc2s_ports = 0\n", 2,
	    "c2s_ports: port 0 is out of range 1..65535");
	ERR("[server]\nc2s_ports = 65536\n", 2,
	    "c2s_ports: port 65536 is out of range 1..65535");
	ERR("[server]\nc2s_ports = 99999999999999999999999\n", 2,
	    "c2s_ports: port 99999999999999999999999 is out of range 1..65535");
	ERR("[server]\nc2s_ports = xmpp\n", 2,
	    "c2s_ports: 'xmpp' is not a port number");
	ERR("[server]\nc2s_ports = -1\n", 2,
	    "c2s_ports: '-1' is not a port number");
	ERR("[server]\nc2s_ports = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
	    2, "c2s_ports: more than 16 ports");

	/* text for stanzas */
	ERR("[server]\nmotd = bad \001 byte\n", 2,
	    "motd: control character 0x01");
	ERR("[server]\nwelcome_message = caf\xe9\n", 2,
	    "welcome_message: not valid UTF-8");

	/* paths */
	ERR("[server]\ndata_path =\n", 2, "data_path: empty path");
	ERR("[server]\ndata_path = \"\"\n", 2, "data_path: empty path");
	ERR("[tls]\ncertificate =\n", 2, "certificate: empty path");
	ERR(BASE "key = \n", 8, "key: empty path");
}

/* Every limit at its bounds: min and max load, min-1 and max+1 do not. */
static void
test_limit_bounds(void)
{
#define LF(f)	offsetof(struct limits, f), sizeof(((struct limits *)0)->f)
	static const struct {
		const char		*name;
		size_t			 off, size;
		unsigned long long	 min, max;
		const char		*with_min, *with_max;	/* companions */
	} t[] = {
		{ "max_stanza_size", LF(max_stanza_size), 4096, 16777216,
		    "max_stanza_size_preauth = 4096\n",
		    "output_hard_limit = 32M\n" },
		{ "max_stanza_size_preauth", LF(max_stanza_size_preauth),
		    4096, 16777216, "",
		    "max_stanza_size = 16M\noutput_hard_limit = 32M\n" },
		{ "max_depth", LF(max_depth), 8, 256, "", "" },
		{ "max_attrs", LF(max_attrs), 8, 512, "", "" },
		{ "max_name", LF(max_name), 32, 1024, "", "" },
		{ "max_connections", LF(max_connections), 1, 100000,
		    "max_connections_per_ip = 1\nmax_unauth_per_ip = 1\n", "" },
		{ "max_connections_per_ip", LF(max_connections_per_ip), 1,
		    100000, "max_unauth_per_ip = 1\n",
		    "max_connections = 100000\n" },
		{ "max_unauth_per_ip", LF(max_unauth_per_ip), 1, 100000, "",
		    "max_connections = 100000\n"
		    "max_connections_per_ip = 100000\n" },
		{ "auth_timeout", LF(auth_timeout), 1, 600, "", "" },
		{ "auth_attempts", LF(auth_attempts), 1, 100, "", "" },
		{ "max_resources", LF(max_resources), 1, 1000, "", "" },
		{ "max_offline_messages", LF(max_offline_messages), 0, 100000,
		    "", "" },
		{ "max_roster_items", LF(max_roster_items), 1, 100000, "", "" },
		{ "output_high_water", LF(output_high_water), 16384, 268435456,
		    "", "output_hard_limit = 256M\n" },
		{ "output_hard_limit", LF(output_hard_limit), 16384, 1073741824,
		    "max_stanza_size = 8K\nmax_stanza_size_preauth = 4K\n"
		    "output_high_water = 16K\n", "" },
		{ "idle_timeout", LF(idle_timeout), 10, 86400, "", "" },
		{ "ping_timeout", LF(ping_timeout), 5, 3600, "", "" },
		{ "shutdown_timeout", LF(shutdown_timeout), 1, 300, "", "" },
	};
#undef LF
	char text[1024], msg[256];
	struct config *cfg;
	unsigned long long v, got_v;
	size_t i;
	int edge;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (edge = 0; edge < 2; edge++) {
			v = edge ? t[i].max : t[i].min;
			snprintf(text, sizeof(text), BASE "[limits]\n%s%s = %llu\n",
			    edge ? t[i].with_max : t[i].with_min, t[i].name, v);
			if ((cfg = load_ok(text)) == NULL) {
				T_EXPECT(0, "%s = %llu", t[i].name, v);
				continue;
			}
			if (t[i].size == sizeof(size_t))
				got_v = *(size_t *)(void *)
				    ((char *)&cfg->limits + t[i].off);
			else
				got_v = *(unsigned *)(void *)
				    ((char *)&cfg->limits + t[i].off);
			T_EXPECT(got_v == v, "%s = %llu, got %llu", t[i].name,
			    v, got_v);
			config_free(cfg);
		}
		snprintf(text, sizeof(text), "[limits]\n%s = %llu\n",
		    t[i].name, t[i].max + 1);
		snprintf(msg, sizeof(msg), "%s: %llu is out of range "
		    "%llu..%llu", t[i].name, t[i].max + 1, t[i].min, t[i].max);
		ERR(text, 2, msg);
		if (t[i].min == 0)
			continue;
		snprintf(text, sizeof(text), "[limits]\n%s = %llu\n",
		    t[i].name, t[i].min - 1);
		snprintf(msg, sizeof(msg), "%s: %llu is out of range "
		    "%llu..%llu", t[i].name, t[i].min - 1, t[i].min, t[i].max);
		ERR(text, 2, msg);
	}
}

static void
test_host_errors(void)
{
	char text[400], dom[64];

	ERR(BASE "[host Example.ORG.]\n", 8,
	    "duplicate [host example.org] (first at line 7)");
	ERR(BASE "[host other.example]\n[host example.org]\n", 9,
	    "duplicate [host example.org] (first at line 7)");
	ERR(BASE "[host]\n", 8, "[host] needs a domain, as in "
	    "[host example.org]");
	ERR(BASE "[host \"\"]\n", 8, "[host] needs a domain, as in "
	    "[host example.org]");
	ERR(BASE "[host exa mple.org]\n", 8, "'exa mple.org' is not a valid "
	    "domain");
	ERR(BASE "[host user@example.net]\n", 8, "'user@example.net' is not a "
	    "valid domain");

	/* inih keeps 49 bytes of a section name: 44 bytes of domain would
	 * fill them, and could be a cut name. */
	memset(dom, 'a', 43);
	memcpy(dom + 39, ".org", 5);	/* 43 bytes */
	snprintf(text, sizeof(text), BASE_SERVER BASE_TLS "[host %s]\n", dom);
	{
		struct config *cfg = load_ok(text);
		if (cfg != NULL) {
			T_EQ_STR(cfg->hosts->name, dom);
			config_free(cfg);
		}
	}
	memset(dom, 'a', 44);
	memcpy(dom + 40, ".org", 5);	/* 44 bytes */
	snprintf(text, sizeof(text), BASE_SERVER BASE_TLS "[host %s]\n", dom);
	ERR(text, 6, "domain too long for a section header: [host NAME] "
	    "takes at most 48 bytes between the brackets");
	snprintf(text, sizeof(text), BASE_SERVER BASE_TLS
	    "[host %s.%s.%s]\n", dom, dom, dom);
	ERR(text, 6, "domain too long for a section header: [host NAME] "
	    "takes at most 48 bytes between the brackets");
	snprintf(text, sizeof(text), "[%s%s]\n", dom, dom);
	{
		char msg[128];
		/* what inih kept: the first 49 bytes */
		snprintf(msg, sizeof(msg), "section header too long: "
		    "[%.44s%.5s...]", dom, dom);
		ERR(text, 1, msg);
	}

	/* validation of the whole */
	ERR(BASE_SERVER BASE_TLS, 0, "no enabled [host NAME] section: add "
	    "one for each domain this server serves");
	ERR(BASE "enabled = false\n", 0, "no enabled [host NAME] section: add "
	    "one for each domain this server serves");
	ERR("[server]\ns2s_ports = 5269\n" BASE_TLS BASE_HOST, 0,
	    "no c2s_ports or c2s_direct_tls_ports in [server]: clients could "
	    "not connect");
	ERR(BASE_TLS BASE_HOST, 0,
	    "no c2s_ports or c2s_direct_tls_ports in [server]: clients could "
	    "not connect");
	ERR(BASE_SERVER "\n\n[host example.org]\n", 5, "[host example.org] "
	    "has no certificate: set certificate and key here or in [tls]");
	ERR(BASE_SERVER "[host a.example]\ncertificate = /a.crt\n"
	    "key = /a.key\n[host b.example]\n", 6, "[host b.example] has no "
	    "certificate: set certificate and key here or in [tls]");
	ERR(BASE_SERVER "[tls]\ncertificate = /c.crt\n" BASE_HOST, 4,
	    "certificate without key in [tls]: give both or neither");
	ERR(BASE_SERVER "[tls]\n\nkey = /c.key\n" BASE_HOST, 5,
	    "key without certificate in [tls]: give both or neither");
	ERR(BASE "certificate = /h.crt\n", 8, "certificate without key in "
	    "[host example.org]: give both or neither");
	ERR(BASE "\nkey = /h.key\n", 9, "key without certificate in "
	    "[host example.org]: give both or neither");

	/* A disabled host needs no certificate; direct TLS alone is enough. */
	{
		struct config *cfg = load_ok("[server]\nc2s_direct_tls_ports = "
		    "5223\n[host off.example]\nenabled = false\n[host "
		    "on.example]\ncertificate = /on.crt\nkey = /on.key\n");
		if (cfg != NULL) {
			T_EQ_INT(cfg->nhosts, 2);
			T_EXPECT(config_host(cfg, "off.example") == NULL, "off");
			T_EXPECT(config_host(cfg, "on.example") != NULL, "on");
			config_free(cfg);
		}
	}
}

static void
test_files(void)
{
	struct config *cfg = (struct config *)&cfg;
	char path[400], small[16];
	int rc;

	snprintf(path, sizeof(path), "%s/missing.ini", tdir);
	rc = config_load(path, &cfg, got, sizeof(got));
	T_EQ_INT(rc, -1);
	T_EXPECT(cfg == NULL, "out cleared");
	snprintf(want, sizeof(want), "%s: cannot open: %s", path,
	    strerror(ENOENT));
	T_EQ_STR(got, want);

	/* A directory opens but cannot be read. */
	cfg = (struct config *)&cfg;
	rc = config_load(tdir, &cfg, got, sizeof(got));
	T_EQ_INT(rc, -1);
	T_EXPECT(cfg == NULL, "out cleared");
	snprintf(want, sizeof(want), "%s: cannot read: %s", tdir,
	    strerror(EISDIR));
	T_EQ_STR(got, want);

	/* An empty file has no host. */
	ERR("", 0, "no enabled [host NAME] section: add one for each domain "
	    "this server serves");

	/* Short or absent error buffers: cut, NUL-terminated, no overflow. */
	write_file(tpath, "[bogus]\n", 8);
	memset(small, 'Z', sizeof(small));
	T_EQ_INT(config_load(tpath, &cfg, small, sizeof(small)), -1);
	T_EQ_INT(strlen(small), sizeof(small) - 1);
	T_EQ_MEM(small, tpath, sizeof(small) - 1);
	T_EQ_INT(config_load(tpath, &cfg, NULL, 0), -1);
	small[0] = 'Z';
	T_EQ_INT(config_load(tpath, &cfg, small, 1), -1);
	T_EQ_INT(small[0], '\0');
	T_EQ_INT(config_load(NULL, &cfg, got, sizeof(got)), -1);
	T_EQ_STR(got, "no configuration file");
}

/* ---- paths ---- */

static void
test_paths(void)
{
	char *s;

#define EXPAND(in, out) do {						\
	s = config_expand_path(in);					\
	T_EQ_STR(s, out);						\
	free(s);							\
} while (0)

	setenv("HOME", "/home/u", 1);
	EXPAND("~", "/home/u");
	EXPAND("~/", "/home/u/");
	EXPAND("~/var/xmppd", "/home/u/var/xmppd");
	EXPAND("$HOME", "/home/u");
	EXPAND("$HOME/etc/x.ini", "/home/u/etc/x.ini");
	EXPAND("${HOME}/etc/x.ini", "/home/u/etc/x.ini");
	EXPAND("${HOME}", "/home/u");
	EXPAND("/abs/~/x", "/abs/~/x");
	EXPAND("rel/x", "rel/x");
	EXPAND("", "");
	EXPAND("~user/x", "~user/x");
	EXPAND("$HOMEDIR/x", "$HOMEDIR/x");
	EXPAND("${HOME", "${HOME");
	EXPAND("x/~/y", "x/~/y");
	T_EXPECT(config_expand_path(NULL) == NULL, "NULL in, NULL out");

	setenv("HOME", "/home/u//", 1);
	EXPAND("~/x", "/home/u/x");
	setenv("HOME", "/", 1);
	EXPAND("~/x", "/x");
	EXPAND("~", "/");
	EXPAND("$HOME/x", "/x");

	setenv("HOME", "", 1);
	T_EXPECT(config_expand_path("~/x") == NULL, "empty HOME");
	unsetenv("HOME");
	T_EXPECT(config_expand_path("~/x") == NULL, "no HOME");
	T_EXPECT(config_expand_path("~") == NULL, "no HOME");
	T_EXPECT(config_expand_path("$HOME/x") == NULL, "no HOME");
	T_EXPECT(config_expand_path("${HOME}/x") == NULL, "no HOME");
	EXPAND("/etc/xmppd.ini", "/etc/xmppd.ini");
	EXPAND("~user/x", "~user/x");

	/* config_default_path */
	unsetenv("XMPPD_CONFIG");
	T_EXPECT(config_default_path() == NULL, "no HOME, no XMPPD_CONFIG");
	setenv("XMPPD_CONFIG", "/etc/xmppd/a.ini", 1);
	s = config_default_path();
	T_EQ_STR(s, "/etc/xmppd/a.ini");
	free(s);
	setenv("HOME", "/home/v", 1);
	setenv("XMPPD_CONFIG", "~/conf/b.ini", 1);
	s = config_default_path();
	T_EQ_STR(s, "/home/v/conf/b.ini");
	free(s);
	setenv("XMPPD_CONFIG", "", 1);
	s = config_default_path();
	T_EQ_STR(s, "/home/v/etc/xmppd.ini");
	free(s);
	unsetenv("XMPPD_CONFIG");
	s = config_default_path();
	T_EQ_STR(s, "/home/v/etc/xmppd.ini");
	free(s);
#undef EXPAND

	/* Paths in the file, with HOME unset. */
	unsetenv("HOME");
	ERR("[server]\ndata_path = ~/x\n", 2,
	    "data_path: cannot expand '~/x': HOME is not set");
	ERR("[server]\nlog = $HOME/log\n", 2,
	    "log: cannot expand '$HOME/log': HOME is not set");
	ERR(BASE, 0, "data_path: the default ~/var/xmppd needs HOME, which "
	    "is not set");
	{
		struct config *cfg = load_ok("[server]\ndata_path = /d\n"
		    "c2s_ports = 1\n" BASE_TLS BASE_HOST);
		if (cfg != NULL) {
			T_EQ_STR(cfg->data_path, "/d");
			config_free(cfg);
		}
	}
	setenv("HOME", tdir, 1);
	{
		struct config *cfg;

		ERR("[server]\nlog =\n" BASE_SERVER, 3,
		    "section [server] appears twice (first at line 1)");
		cfg = load_ok("[server]\nlog =\npidfile =\ndata_path = $HOME\n"
		    "c2s_ports = 1\n" BASE_TLS BASE_HOST);
		if (cfg != NULL) {
			T_EXPECT(cfg->log == NULL, "empty log: stderr");
			T_EXPECT(cfg->pidfile == NULL, "empty pidfile: none");
			T_EQ_STR(cfg->data_path, tdir);
			config_free(cfg);
		}
	}
}

/* ---- quotes and lists ---- */

static void
test_quotes(void)
{
	struct config *cfg;

	cfg = load_ok("[server]\n"
	    "data_path = \"/srv/x y\"\n"
	    "motd = \"  Hello, \"world\"  \"\n"
	    "welcome_message = \"\"\n"
	    "c2s_ports = \"5222\"\n"
	    "s2s_ports = \"5269\", \"5270\"\n"
	    "log_level = \"warn\"\n"
	    "log_timestamps = \"true\"\n"
	    "modules = \"roster disco\"\n"
	    "admins = \"a@example.org\", \"b@example.org\",, \"\" "
	    "c@example.org a@example.org\n"
	    "interfaces = \"::1\"\n"
	    "[tls]\n"
	    "certificate = \"~/c.crt\"\n"
	    "key = \"~/c.key\"\n"
	    "[limits]\n"
	    "max_stanza_size = \"512K\"\n"
	    "max_depth = \"20\"\n"
	    "[host \"Example.ORG\"]\n"
	    "enabled = \"yes\"\n");
	if (cfg == NULL)
		return;
	T_EQ_STR(cfg->data_path, "/srv/x y");
	/* one pair only: inner quotes and blanks are the user's */
	T_EQ_STR(cfg->motd, "  Hello, \"world\"  ");
	T_EXPECT(cfg->welcome_message == NULL, "\"\" is empty: none");
	T_EQ_INT(cfg->c2s_ports.n, 1);
	T_EQ_INT(cfg->c2s_ports.v[0], 5222);
	T_EQ_INT(cfg->s2s_ports.n, 2);
	T_EQ_INT(cfg->s2s_ports.v[1], 5270);
	T_EQ_INT(cfg->log_level, LOG_LVL_WARN);
	T_EQ_INT(cfg->log_timestamps, 1);
	T_EQ_INT(cfg->modules.n, 2);
	T_EXPECT(config_has_module(cfg, "disco"), "disco");
	T_EQ_INT(cfg->admins.n, 3);	/* the repeat is dropped */
	if (cfg->admins.n == 3)
		T_EQ_STR(cfg->admins.v[2], "c@example.org");
	T_EQ_STR(cfg->interfaces.v[0], "::1");
	T_EQ_STR(cfg->certificate, home_path("/c.crt"));
	T_EQ_INT(cfg->limits.max_stanza_size, 524288);
	T_EQ_INT(cfg->limits.max_depth, 20);
	T_EXPECT(config_host(cfg, "example.org") != NULL, "quoted host");
	config_free(cfg);

	/* Lists: commas and blanks in any mix, empty items skipped. */
	cfg = load_ok("[server]\nmodules = roster,,disco \t ping , ,roster\n"
	    "c2s_ports = ,5222,\ns2s_ports =\nadmins =\n" BASE_TLS BASE_HOST);
	if (cfg != NULL) {
		T_EQ_INT(cfg->modules.n, 3);
		if (cfg->modules.n == 3) {
			T_EQ_STR(cfg->modules.v[0], "roster");
			T_EQ_STR(cfg->modules.v[1], "disco");
			T_EQ_STR(cfg->modules.v[2], "ping");
		}
		T_EQ_INT(cfg->c2s_ports.n, 1);
		T_EQ_INT(cfg->s2s_ports.n, 0);
		T_EQ_INT(cfg->admins.n, 0);
		config_free(cfg);
	}
	/* A lone quote is not a pair. */
	ERR("[server]\nlog_level = \"info\n", 2,
	    "log_level: expected error, warn, info or debug, not '\"info'");
}

/* ---- look-ups ---- */

static void
test_lookups(void)
{
	struct config *cfg;

	cfg = load_ok("[server]\nc2s_ports = 5222\n"
	    "admins = Admin@Example.ORG, root@b.example\n"
	    "allow_registration = false\n" BASE_TLS
	    "[host a.example]\nallow_registration = true\n"
	    "[host b.example]\n"
	    "[host c.example]\nenabled = false\nallow_registration = true\n"
	    "[host d.example]\nallow_registration = false\n");
	if (cfg == NULL)
		return;
	T_EQ_INT(cfg->nhosts, 4);
	T_EQ_STR(cfg->hosts->name, "a.example");	/* file order */
	T_EQ_STR(cfg->hosts->next->next->next->name, "d.example");
	T_EXPECT(config_host(cfg, "a.example") != NULL, "a");
	T_EXPECT(config_host(cfg, "b.example") != NULL, "b");
	T_EXPECT(config_host(cfg, "c.example") == NULL, "c is disabled");
	T_EXPECT(config_host(cfg, "x.example") == NULL, "x is unknown");
	T_EXPECT(config_host(cfg, "A.example") == NULL, "names are normalised");
	T_EXPECT(config_host(cfg, "") == NULL, "empty");
	T_EXPECT(config_host(cfg, NULL) == NULL, "NULL");

	T_EQ_INT(config_allow_registration(cfg, "a.example"), 1);
	T_EQ_INT(config_allow_registration(cfg, "b.example"), 0);
	T_EQ_INT(config_allow_registration(cfg, "c.example"), 0);
	T_EQ_INT(config_allow_registration(cfg, "d.example"), 0);
	T_EQ_INT(config_allow_registration(cfg, "x.example"), 0);

	T_EQ_INT(config_is_admin(cfg, "admin@example.org"), 1);
	T_EQ_INT(config_is_admin(cfg, "root@b.example"), 1);
	T_EQ_INT(config_is_admin(cfg, "Admin@Example.ORG"), 0);
	T_EQ_INT(config_is_admin(cfg, "admin@example.org/res"), 0);
	T_EQ_INT(config_is_admin(cfg, "admin@example.or"), 0);
	T_EQ_INT(config_is_admin(cfg, "example.org"), 0);
	T_EQ_INT(config_is_admin(cfg, NULL), 0);
	T_EQ_INT(config_has_module(cfg, "roster"), 0);
	config_free(cfg);

	/* The server default applies where a host says nothing. */
	cfg = load_ok("[server]\nc2s_ports = 5222\nallow_registration = yes\n"
	    BASE_TLS "[host a.example]\n"
	    "[host d.example]\nallow_registration = no\n");
	if (cfg == NULL)
		return;
	T_EQ_INT(config_allow_registration(cfg, "a.example"), 1);
	T_EQ_INT(config_allow_registration(cfg, "d.example"), 0);
	T_EQ_INT(config_allow_registration(cfg, "x.example"), 0);
	config_free(cfg);

	T_EXPECT(config_host(NULL, "a") == NULL, "NULL config");
	T_EQ_INT(config_is_admin(NULL, "a@b"), 0);
	T_EQ_INT(config_has_module(NULL, "roster"), 0);
	T_EQ_INT(config_allow_registration(NULL, "a"), 0);
	config_free(NULL);
}

void
test_config(void)
{
	char *old_home = saved_env("HOME");
	char *old_conf = saved_env("XMPPD_CONFIG");
	const char *tmp = getenv("TMPDIR");

	snprintf(tdir, sizeof(tdir), "%s/xmppd-config-XXXXXX",
	    tmp != NULL && *tmp != '\0' && strlen(tmp) < 200 ? tmp : "/tmp");
	if (mkdtemp(tdir) == NULL) {
		T_EXPECT(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(tpath, sizeof(tpath), "%s/t.ini", tdir);
	setenv("HOME", tdir, 1);
	unsetenv("XMPPD_CONFIG");

	test_sample();
	test_defaults();
	test_all_keys();
	test_syntax_errors();
	test_value_errors();
	test_limit_bounds();
	test_host_errors();
	test_files();
	test_quotes();
	test_lookups();
	test_paths();	/* last: it changes HOME */

	unlink(tpath);
	rmdir(tdir);
	setenv_or_unset("HOME", old_home);
	setenv_or_unset("XMPPD_CONFIG", old_conf);
	free(old_home);
	free(old_conf);
}
