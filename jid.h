/*
 * jid.h - JIDs per RFC 7622: parse, validate, normalise, format.
 */
#ifndef XMPPD_JID_H
#define XMPPD_JID_H

#include <stddef.h>

#define JID_PART_MAX	1023	/* bytes per part, RFC 7622 section 3.1 */
#define JID_MAX		(3 * JID_PART_MAX + 2)

struct jid {
	char	local[JID_PART_MAX + 1];	/* "" when absent */
	char	domain[JID_PART_MAX + 1];
	char	resource[JID_PART_MAX + 1];	/* "" when absent */
};

/*
 * Parse and normalise s.  Localpart and domain are case-folded (ASCII
 * lower-case; domain also loses a trailing dot); each part is checked for
 * valid UTF-8, length (1..1023 bytes when present), and forbidden
 * characters (localpart: " & ' / : < > @, spaces and controls; domain:
 * spaces, controls and characters not allowed in a host name; resource:
 * controls).  An empty part after '@' or '/' is invalid.
 * Returns 0, or -1 for an invalid JID.
 */
int	 jid_parse(struct jid *, const char *s);
int	 jid_parse_n(struct jid *, const char *s, size_t len);
/* Normalise just a localpart / domain / resource in place; 0 or -1. */
int	 jid_prep_local(char *);
int	 jid_prep_domain(char *);
int	 jid_prep_resource(char *);

/* "local@domain" or "domain"; out should hold JID_MAX + 1 bytes.  0 / -1. */
int	 jid_bare(const struct jid *, char *out, size_t outlen);
/* bare plus "/resource" when there is one. */
int	 jid_full(const struct jid *, char *out, size_t outlen);
int	 jid_is_bare(const struct jid *);
/* Same bare JID (parts are normalised, so a byte comparison). */
int	 jid_bare_equal(const struct jid *, const struct jid *);
/* Normalise a JID string in place form: out gets the canonical text. 0/-1 */
int	 jid_normalize(const char *in, char *out, size_t outlen);

#endif
