/*
 * register.c - in-band registration (XEP-0077).
 *
 * Before authentication, on an encrypted stream, a client asks for the
 * registration form and creates an account with it; it then logs in as
 * usual.  Once authenticated, it can read its registration, change its
 * password or cancel its account.
 *
 * Creating accounts is the host's policy (allow_registration); changing
 * one's password and cancelling one's account are not, so both work when
 * registration is closed.  Creations are limited per client address (per
 * /64 for IPv6, the usual size of one customer's network) by a table in
 * memory: a restart forgets it, which gives an abuser one more burst at
 * most, and keeps a file write out of every refusal.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

#define NS_REGISTER		"jabber:iq:register"
#define NS_REGISTER_FEATURE	"http://jabber.org/features/iq-register"
#define NS_XDATA		"jabber:x:data"
#define FORM_REGISTER		"jabber:iq:register"
#define FORM_CHANGEPW		"jabber:iq:register:changepassword"

#define DEFAULT_MIN_PASSWORD	8
#define DEFAULT_PER_IP_HOUR	3
#define MAX_PER_IP_HOUR		10000
#define RATE_SLOTS		1024	/* client networks remembered */
#define HOUR_MS			((int64_t)3600 * 1000)
#define ESCAPED_MAX		(3 * JID_PART_MAX + 1)

/* Names people expect to reach the operators, or that look official. */
#define DEFAULT_RESERVED	"admin, administrator, root, postmaster, " \
				"abuse, webmaster, hostmaster, security, " \
				"support, xmpp"

#define INSTRUCTIONS_NEW	"Choose a username and a password for your " \
				"new account on this server."
#define INSTRUCTIONS_REGISTERED	"You are registered.  Send a new password " \
				"with your username to change it, or " \
				"<remove/> to delete your account."

static const char *
opt(const char *key)
{
	return config_module_opt(server_config(), "register", key);
}

static unsigned
opt_uint(const char *key, unsigned def)
{
	const char *v = opt(key);

	/* config_check accepted only plain decimal numbers in range. */
	return v != NULL ? (unsigned)strtoul(v, NULL, 10) : def;
}

/* ---- settings ---- */

static int
check_uint(const char *key, const char *v, unsigned long min,
    unsigned long max, char *err, size_t errlen)
{
	unsigned long n = 0;
	const char *p;

	for (p = v; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > max)
			break;
	}
	if (p == v || *p != '\0' || n < min || n > max) {
		snprintf(err, errlen, "[register] %s: expected a whole number "
		    "from %lu to %lu, not '%.64s'", key, min, max, v);
		return -1;
	}
	return 0;
}

/*
 * Is name (already prepared) one of the names in list (separated by
 * commas or blanks)?  With name NULL, only check the list.  1 or 0; -1
 * with a reason if an entry is not a valid localpart.
 */
static int
reserved_has(const char *list, const char *name, char *err, size_t errlen)
{
	const char *p = list, *e;
	char one[JID_PART_MAX + 1];
	size_t n;

	for (;;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return 0;
		for (e = p; *e != '\0' && *e != ',' && *e != ' ' && *e != '\t'; e++)
			;
		n = (size_t)(e - p);
		if (n >= sizeof one) {
			snprintf(err, errlen, "[register] reserved: a name is "
			    "longer than %d bytes", JID_PART_MAX);
			return -1;
		}
		memcpy(one, p, n);
		one[n] = '\0';
		if (jid_prep_local(one) == -1) {
			snprintf(err, errlen, "[register] reserved: '%.64s' is "
			    "not a valid username", one);
			return -1;
		}
		if (name != NULL && strcmp(one, name) == 0)
			return 1;
		p = e;
	}
}

static int
register_config_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	if (strcmp(key, "min_password_length") == 0)
		return check_uint(key, value, 1, PASSWORD_MAX, err, errlen);
	if (strcmp(key, "max_per_ip_per_hour") == 0)
		return check_uint(key, value, 0, MAX_PER_IP_HOUR, err, errlen);
	if (strcmp(key, "reserved") == 0)
		return reserved_has(value, NULL, err, errlen) == -1 ? -1 : 0;
	snprintf(err, errlen, "unknown key '%.64s' in [register] (known: "
	    "min_password_length, reserved, max_per_ip_per_hour)", key);
	return -1;
}

/* ---- the per-address limit ---- */

/*
 * A generic cell rate algorithm: each creation moves the address's
 * "theoretical arrival time" one interval (an hour / limit) ahead; a new
 * one is allowed while that time is less than an hour minus one interval
 * ahead of now.  That allows `limit` at once, then one per interval, and
 * needs one number per address.
 */
struct rate {
	char	 key[64];	/* an IPv4 address, or an IPv6 /64 */
	int64_t	 tat;		/* monotonic ms; <= now means forgotten */
};

static struct rate rates[RATE_SLOTS];

static void
rate_key(const char *ip, char *out, size_t outlen)
{
	struct in6_addr a;
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET6, ip, &a) == 1) {
		memset(&a.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &a, text, sizeof text) != NULL) {
			snprintf(out, outlen, "%s/64", text);
			return;
		}
	}
	snprintf(out, outlen, "%s", ip);
}

static struct rate *
rate_find(const char *key, int64_t now, int make)
{
	struct rate *oldest = NULL;

	for (size_t i = 0; i < RATE_SLOTS; i++)
		if (rates[i].tat > now && strcmp(rates[i].key, key) == 0)
			return &rates[i];
	if (!make)
		return NULL;
	/* A forgotten slot, else the one closest to being forgotten. */
	for (size_t i = 0; i < RATE_SLOTS; i++) {
		if (rates[i].tat <= now) {
			oldest = &rates[i];
			break;
		}
		if (oldest == NULL || rates[i].tat < oldest->tat)
			oldest = &rates[i];
	}
	snprintf(oldest->key, sizeof oldest->key, "%s", key);
	oldest->tat = now;
	return oldest;
}

/* May this address create an account now?  (Does not count it.) */
static int
rate_is_allowed(const char *ip, unsigned limit)
{
	char key[64];
	int64_t now = now_ms();
	struct rate *r;

	if (ip == NULL || limit == 0)
		return 1;
	rate_key(ip, key, sizeof key);
	if ((r = rate_find(key, now, 0)) == NULL)
		return 1;
	return r->tat - now <= HOUR_MS - HOUR_MS / limit;
}

static void
rate_count(const char *ip, unsigned limit)
{
	char key[64];
	int64_t now = now_ms();
	struct rate *r;

	if (ip == NULL || limit == 0)
		return;
	rate_key(ip, key, sizeof key);
	r = rate_find(key, now, 1);
	r->tat = (r->tat > now ? r->tat : now) + HOUR_MS / limit;
}

/* ---- reading requests ---- */

struct reg_fields {
	const char	*username;	/* NULL: not given */
	const char	*password;
};

/* Send an error with a text; for handlers' "return fail(...)". */
static enum stanza_error
fail(const struct iq_req *r, enum stanza_error e, const char *text)
{
	iq_error(r, e, text);
	return ERR_NONE;
}

static int
set_field(const char **slot, const char *value)
{
	if (*slot != NULL)
		return -1;	/* twice: which one was meant? */
	*slot = value;
	return 0;
}

/*
 * The username and password of a request: from its data form when there
 * is one (XEP-0077 section 6: the form takes precedence), else from the
 * plain <username/> and <password/> elements.  ERR_NONE, or an error
 * with *why set.
 */
static enum stanza_error
read_fields(const struct xml_node *q, const char *form_type,
    struct reg_fields *f, const char **why)
{
	struct xml_node *x, *c;
	const char *type, *var, *v;

	memset(f, 0, sizeof *f);
	if ((x = xml_child(q, "x", NS_XDATA)) != NULL) {
		type = xml_attr(x, "type");
		if (type == NULL || strcmp(type, "submit") != 0) {
			*why = "A registration form must be sent with type='submit'";
			return ERR_BAD_REQUEST;
		}
		for (c = xml_child(x, "field", NS_XDATA); c != NULL;
		    c = xml_next(c, "field", NS_XDATA)) {
			if ((var = xml_attr(c, "var")) == NULL)
				continue;
			v = xml_child_text(c, "value", NS_XDATA);
			if (strcmp(var, "FORM_TYPE") == 0) {
				if (v == NULL || (strcmp(v, form_type) != 0 &&
				    strcmp(v, FORM_REGISTER) != 0)) {
					*why = "Unknown FORM_TYPE";
					return ERR_BAD_REQUEST;
				}
			} else if ((strcmp(var, "username") == 0 &&
			    set_field(&f->username, v ? v : "") == -1) ||
			    (strcmp(var, "password") == 0 &&
			    set_field(&f->password, v ? v : "") == -1)) {
				*why = "A field is given twice";
				return ERR_BAD_REQUEST;
			}
		}
		return ERR_NONE;
	}
	for (c = xml_first_element(q); c != NULL; c = xml_next(c, NULL, NULL)) {
		if (strcmp(c->ns, NS_REGISTER) != 0)
			continue;
		if ((strcmp(c->name, "username") == 0 &&
		    set_field(&f->username, xml_text(c)) == -1) ||
		    (strcmp(c->name, "password") == 0 &&
		    set_field(&f->password, xml_text(c)) == -1)) {
			*why = "An element is given twice";
			return ERR_BAD_REQUEST;
		}
	}
	return ERR_NONE;
}

/* A username as it will be stored: prepared, and short enough to be a
 * directory name.  0, or -1 with *why. */
static int
prepare_username(const char *in, char *out, size_t outlen, const char **why)
{
	char esc[ESCAPED_MAX];

	if (in == NULL || *in == '\0') {
		*why = "A username is required";
		return -1;
	}
	if (strlcpy_ok(out, in, outlen) == -1) {
		*why = "The username is too long";
		return -1;
	}
	if (jid_prep_local(out) == -1) {
		*why = "The username is not valid (no spaces, @, /, :, quotes "
		    "or angle brackets)";
		return -1;
	}
	if (store_escape(out, esc, sizeof esc) == -1) {
		*why = "The username is too long";
		return -1;
	}
	return 0;
}

/* Characters, not bytes: what a person typing a password counts. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Is this acceptable as a new password?  0, or -1 with a reason in why. */
static int
check_password(const char *pw, char *why, size_t whylen)
{
	unsigned min = opt_uint("min_password_length", DEFAULT_MIN_PASSWORD);

	if (pw == NULL || *pw == '\0') {
		snprintf(why, whylen, "A password is required");
		return -1;
	}
	if (strlen(pw) > PASSWORD_MAX) {
		snprintf(why, whylen, "The password is too long (at most %d "
		    "bytes)", PASSWORD_MAX);
		return -1;
	}
	if (utf8_chars(pw) < min) {
		snprintf(why, whylen, "The password is too short (at least %u "
		    "characters)", min);
		return -1;
	}
	return 0;
}

/* ---- before authentication ---- */

static void
add_form(struct xml_node *q)
{
	struct xml_node *x, *f;

	x = xml_add(q, "x", NS_XDATA);
	xml_set_attr(x, "type", "form");
	xml_add_text_child(x, "title", NULL, "Account registration");
	xml_add_text_child(x, "instructions", NULL, INSTRUCTIONS_NEW);
	f = xml_add(x, "field", NULL);
	xml_set_attr(f, "type", "hidden");
	xml_set_attr(f, "var", "FORM_TYPE");
	xml_add_text_child(f, "value", NULL, FORM_REGISTER);
	f = xml_add(x, "field", NULL);
	xml_set_attr(f, "type", "text-single");
	xml_set_attr(f, "label", "Username");
	xml_set_attr(f, "var", "username");
	xml_add(f, "required", NULL);
	f = xml_add(x, "field", NULL);
	xml_set_attr(f, "type", "text-private");
	xml_set_attr(f, "label", "Password");
	xml_set_attr(f, "var", "password");
	xml_add(f, "required", NULL);
}

static enum stanza_error
preauth_get(struct iq_req *r)
{
	struct xml_node *reply, *q;

	reply = iq_result(r);
	q = xml_add(reply, "query", NS_REGISTER);
	xml_add_text_child(q, "instructions", NULL, INSTRUCTIONS_NEW);
	xml_add(q, "username", NULL);
	xml_add(q, "password", NULL);
	add_form(q);
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
preauth_set(struct iq_req *r)
{
	struct reg_fields f;
	char local[JID_PART_MAX + 1], why[128], err[256];
	const char *reason = NULL, *host = r->host;
	unsigned limit = opt_uint("max_per_ip_per_hour", DEFAULT_PER_IP_HOUR);
	const char *reserved = opt("reserved");
	enum stanza_error e;

	if (xml_child(r->payload, "remove", NS_REGISTER) != NULL)
		return fail(r, ERR_UNEXPECTED_REQUEST,
		    "Log in to the account you want to remove first");
	if ((e = read_fields(r->payload, FORM_REGISTER, &f, &reason)) != ERR_NONE)
		return fail(r, e, reason);
	if (f.username == NULL || f.password == NULL)
		return fail(r, ERR_NOT_ACCEPTABLE,
		    "Both a username and a password are required");
	if (prepare_username(f.username, local, sizeof local, &reason) == -1)
		return fail(r, ERR_NOT_ACCEPTABLE, reason);
	if (check_password(f.password, why, sizeof why) == -1)
		return fail(r, ERR_NOT_ACCEPTABLE, why);
	if (reserved_has(reserved ? reserved : DEFAULT_RESERVED, local, err,
	    sizeof err) == 1)
		return fail(r, ERR_CONFLICT, "That username is reserved");
	/* After the checks of the request itself, so a refused client
	 * still learns what was wrong with it, but before the account
	 * lookup, so a refused client cannot probe for existing names. */
	if (!rate_is_allowed(r->peer_ip, limit)) {
		log_info("register: %s@%s refused for %s: more than %u "
		    "registrations from that address in an hour", local, host,
		    r->peer_ip, limit);
		return fail(r, ERR_POLICY_VIOLATION, "Too many accounts were "
		    "registered from your address; try again later");
	}
	if (account_exists(host, local))
		return fail(r, ERR_CONFLICT, "That username is already taken");
	if (account_create(host, local, f.password, err, sizeof err) == -1) {
		if (errno == EEXIST)
			return fail(r, ERR_CONFLICT, "That username is already taken");
		log_warnx("register: creating %s@%s for %s: %s", local, host,
		    r->peer_ip ? r->peer_ip : "?", err);
		return ERR_INTERNAL_SERVER_ERROR;
	}
	rate_count(r->peer_ip, limit);
	log_info("register: account %s@%s created by %s", local, host,
	    r->peer_ip ? r->peer_ip : "?");
	return iq_ok(r);
}

/* ---- after authentication ---- */

/* Is r about the sender's own account on its own server? */
static int
is_own_account(const struct iq_req *r)
{
	if (r->where == IQ_TO_SELF)
		return 1;
	return r->where == IQ_TO_SERVER && r->sess != NULL &&
	    r->from.local[0] != '\0' &&
	    strcmp(r->from.domain, r->to.domain) == 0;
}

static enum stanza_error
account_get(struct iq_req *r)
{
	struct xml_node *reply, *q;

	reply = iq_result(r);
	q = xml_add(reply, "query", NS_REGISTER);
	xml_add(q, "registered", NULL);
	xml_add_text_child(q, "instructions", NULL, INSTRUCTIONS_REGISTERED);
	xml_add_text_child(q, "username", NULL, r->from.local);
	/* The password is not known here: only SCRAM keys are stored. */
	xml_add(q, "password", NULL);
	iq_reply(r, reply);
	return ERR_NONE;
}

static enum stanza_error
cancel_account(struct iq_req *r)
{
	char host[JID_PART_MAX + 1], local[JID_PART_MAX + 1], err[256];
	struct xml_node *c;

	for (c = xml_first_element(r->payload); c != NULL;
	    c = xml_next(c, NULL, NULL))
		if (!xml_is(c, "remove", NS_REGISTER))
			return fail(r, ERR_BAD_REQUEST,
			    "<remove/> must be the only child of <query/>");
	snprintf(host, sizeof host, "%s", r->from.domain);
	snprintf(local, sizeof local, "%s", r->from.local);
	/* Answer first: deleting the account ends this very session (with
	 * the not-authorized stream error XEP-0077 section 3.2 asks for),
	 * and r must not be used after that. */
	iq_ok(r);
	if (account_delete(host, local, err, sizeof err) == -1)
		log_warnx("register: deleting %s@%s: %s", local, host, err);
	else
		log_info("register: account %s@%s deleted by its owner",
		    local, host);
	return ERR_NONE;
}

/* The <username/> of a password change: the localpart, or the bare JID. */
static int
names_sender(const struct iq_req *r, const char *username)
{
	char local[JID_PART_MAX + 1];
	const char *why;
	struct jid j;

	if (strchr(username, '@') != NULL)
		return jid_parse(&j, username) == 0 && j.resource[0] == '\0' &&
		    strcmp(j.local, r->from.local) == 0 &&
		    strcmp(j.domain, r->from.domain) == 0;
	return prepare_username(username, local, sizeof local, &why) == 0 &&
	    strcmp(local, r->from.local) == 0;
}

static enum stanza_error
change_password(struct iq_req *r)
{
	struct reg_fields f;
	const char *reason = NULL;
	char why[128], err[256];
	enum stanza_error e;

	if ((e = read_fields(r->payload, FORM_CHANGEPW, &f, &reason)) != ERR_NONE)
		return fail(r, e, reason);
	if (f.username == NULL || f.password == NULL || *f.username == '\0')
		return fail(r, ERR_BAD_REQUEST,
		    "Both <username/> and <password/> are required");
	/* XEP-0077 section 3.3: never set an empty password; keep the old. */
	if (*f.password == '\0')
		return fail(r, ERR_BAD_REQUEST,
		    "An empty password is refused; the password is unchanged");
	if (!names_sender(r, f.username))
		return fail(r, ERR_FORBIDDEN,
		    "You can change the password of your own account only");
	if (check_password(f.password, why, sizeof why) == -1)
		return fail(r, ERR_NOT_ACCEPTABLE, why);
	if (account_set_password(r->from.domain, r->from.local, f.password,
	    err, sizeof err) == -1) {
		log_warnx("register: password change for %s@%s: %s",
		    r->from.local, r->from.domain, err);
		return ERR_INTERNAL_SERVER_ERROR;
	}
	log_info("register: %s@%s changed the account's password",
	    r->from.local, r->from.domain);
	return iq_ok(r);
}

/* ---- dispatch ---- */

static enum stanza_error
register_query(struct iq_req *r)
{
	if (r->preauth) {
		if (!config_allow_registration(server_config(), r->host))
			return fail(r, ERR_SERVICE_UNAVAILABLE,
			    "In-band registration is not available on this "
			    "server");
		return r->type == IQ_GET ? preauth_get(r) : preauth_set(r);
	}
	if (!is_own_account(r))
		return fail(r, ERR_FORBIDDEN,
		    "Only the account itself can manage its registration");
	if (r->type == IQ_GET)
		return account_get(r);
	if (xml_child(r->payload, "remove", NS_REGISTER) != NULL)
		return cancel_account(r);
	return change_password(r);
}

static void
register_preauth_features(struct xml_node *features, const char *host)
{
	if (config_allow_registration(server_config(), host))
		xml_add(features, "register", NS_REGISTER_FEATURE);
}

static const struct iq_handler register_iq[] = {
	{ "query", NS_REGISTER, IQ_GET | IQ_SET,
	    IQ_PREAUTH | IQ_TO_SELF | IQ_TO_SERVER | IQ_TO_CONTACT,
	    register_query },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const register_features[] = { NS_REGISTER, NULL };

const struct module mod_register = {
	.name = "register",
	.features = register_features,
	.iq = register_iq,
	.preauth_features = register_preauth_features,
	.config_check = register_config_check,
};
