/*
 * muc.h - the insides of the group chat service (XEP-0045), shared by
 * muc.c (the service: routing, settings, disco, admin commands),
 * muc_room.c (rooms, affiliations, configuration, storage, avatars),
 * muc_occupant.c (presence, messages, roles, invitations, muc#admin) and
 * muc_archive.c (history and the room archive, XEP-0313).
 *
 * Nothing outside modules/muc*.c includes this; the rest of xmppd sees
 * only the mod_muc descriptor.
 */
#ifndef XMPPD_MUC_H
#define XMPPD_MUC_H

#include <stddef.h>
#include <stdint.h>

#include "module.h"

#define NS_MUC		"http://jabber.org/protocol/muc"
#define NS_MUC_USER	"http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN	"http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER	"http://jabber.org/protocol/muc#owner"
#define NS_MUC_ROOMCONFIG "http://jabber.org/protocol/muc#roomconfig"
#define NS_MUC_ROOMINFO	"http://jabber.org/protocol/muc#roominfo"
#define NS_MUC_REQUEST	"http://jabber.org/protocol/muc#request"
#define NS_MUC_STABLE_ID "http://jabber.org/protocol/muc#stable_id"
#define NS_MUC_SELFPING	"http://jabber.org/protocol/muc#self-ping-optimization"
#define NS_XDATA	"jabber:x:data"
#define NS_DELAY	"urn:xmpp:delay"
#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	"http://jabber.org/protocol/disco#items"
#define NS_COMMANDS	"http://jabber.org/protocol/commands"
#define NS_MAM		"urn:xmpp:mam:2"
#define NS_MAM_EXT	"urn:xmpp:mam:2#extended"
#define NS_RSM		"http://jabber.org/protocol/rsm"
#define NS_FORWARD	"urn:xmpp:forward:0"
#define NS_SID		"urn:xmpp:sid:0"
#define NS_VCARD	"vcard-temp"
#define NS_VCARD_UPDATE	"vcard-temp:x:update"
#define NS_PING		"urn:xmpp:ping"
#define NS_CONFERENCE	"jabber:x:conference"

#define MUC_MODNAME	"muc"
#define MUC_HASH_HEX	40	/* SHA-1 in hex (XEP-0153) */
#define MUC_NAME_MAX	256	/* bytes of a room name (roomname field) */
#define MUC_DESC_MAX	1024	/* bytes of a room description */
#define MUC_PASSWORD_MAX 256
#define MUC_REASON_MAX	1024	/* kick/ban/destroy/invite reasons */

/* Affiliations in rank order: a comparison says who outranks whom. */
enum muc_affil { AFF_OUTCAST, AFF_NONE, AFF_MEMBER, AFF_ADMIN, AFF_OWNER };
enum muc_role { ROLE_NONE, ROLE_VISITOR, ROLE_PARTICIPANT, ROLE_MODERATOR };
/* muc#roomconfig_allowpm */
enum muc_pm { PM_ANYONE, PM_PARTICIPANTS, PM_MODERATORS, PM_NONE };

/* [muc] settings with numbers. */
enum muc_setting {
	S_MAX_ROOMS,		/* rooms per service */
	S_MAX_ROOMS_PER_USER,	/* rooms a user owns (0: unlimited) */
	S_MAX_OCCUPANTS,	/* hard cap and default maxusers */
	S_MAX_HISTORY,		/* history messages kept and sent */
	S_MAX_ARCHIVE,		/* archived messages per room */
	S_MAX_NICK,		/* bytes of a nickname */
	S_MAX_SUBJECT,		/* bytes of a subject */
	S_MESSAGE_RATE,		/* stanzas per minute per occupant (0: off) */
	S_MESSAGE_BURST,
	S_MAX_VCARD,		/* bytes of a room vCard */
	S_MAX_AFFILIATIONS,	/* affiliation entries per room */
	S_MAX_PAGE,		/* archive results per query */
	S_NSETTINGS
};

enum muc_create { CREATE_ANYONE, CREATE_LOCAL, CREATE_ADMIN };

unsigned long	 muc_setting(enum muc_setting);
int		 muc_setting_bool(const char *key, int def);
enum muc_create	 muc_create_policy(void);
const char	*muc_service_name(void);

/* ---- rooms ---- */

struct room_config {
	char		*name;		/* NULL: none */
	char		*desc;
	char		*password;	/* NULL: not password-protected */
	int		 persistent;
	int		 public;
	int		 membersonly;
	int		 moderated;
	int		 whois_anyone;	/* non-anonymous */
	int		 changesubject;	/* occupants with voice may */
	int		 allowinvites;	/* members may invite (members-only) */
	int		 archive;	/* XEP-0313 archive (persistent rooms) */
	int		 allowpm;	/* enum muc_pm */
	unsigned	 maxusers;
	unsigned	 maxhistory;
};

/* An affiliation other than none: bare JID (or a domain, for bans). */
struct affil {
	char		*jid;
	int		 aff;		/* enum muc_affil */
	char		*nick;		/* reserved nickname, or NULL */
	char		*reason;	/* or NULL */
	struct affil	*next;
};

/* One client session behind an occupant ("multi-session nick"). */
struct osess {
	char		*jid;		/* real full JID */
	struct xml_node	*pres;		/* last presence: own arena, no to/from,
					 * no muc or muc#user extensions */
	struct osess	*next;
};

struct occupant {
	char		*nick;
	char		*bare;		/* real bare JID */
	int		 role;		/* enum muc_role */
	struct osess	*sess;		/* the first one is shown to others */
	size_t		 nsess;
	int64_t		 bucket_ms;	/* rate limit: when the bucket was full */
	struct occupant	*next;
};

/* A message kept for the discussion history (its own arena). */
struct hist {
	struct xml_node	*msg;		/* as reflected, without 'to' */
	int64_t		 t;		/* wall clock seconds */
};

struct archive;

struct room {
	char		*local;		/* room name: a normalised localpart */
	char		*service;
	char		*jid;		/* local@service */
	struct room_config cfg;
	struct affil	*affils;
	size_t		 naffils;
	struct occupant	*occ;
	size_t		 nocc;
	int		 locked;	/* created, waiting for the first form */
	/* subject: text NULL = never set */
	char		*subject;
	char		*subject_nick;
	int64_t		 subject_time;
	/* discussion history: a ring of cfg.maxhistory at most */
	struct hist	*hist;
	size_t		 hist_n, hist_head, hist_cap;
	int		 hist_loaded;	/* filled from the archive */
	/* vcard-temp (XEP-0054): own arena, or NULL; its photo hash */
	struct xml_node	*vcard;
	char		 avatar[MUC_HASH_HEX + 1];
	struct archive	*arch;		/* NULL until first needed */
	int64_t		 created;
	struct room	*hnext;
};

/* muc_room.c */
struct room	*room_find(const char *jid);
struct room	*room_create(const char *service, const char *local,
		    const char *owner);
void		 room_free(struct room *);
void		 rooms_each(void (*fn)(struct room *, void *), void *arg);
size_t		 rooms_count(const char *service);
int		 rooms_load(const char *service);
void		 rooms_free_all(void);
size_t		 rooms_owned_by(const char *bare);
void		 room_defaults(struct room_config *);
void		 room_config_free(struct room_config *);
/* Destroy: tell the occupants (alternate venue, reason), forget the room
 * and its storage.  r is freed. */
void		 room_destroy(struct room *, const char *alt, const char *reason,
		    const char *password);
int		 room_affil(const struct room *, const char *bare);
struct affil	*room_affil_entry(const struct room *, const char *jid);
int		 room_set_affil(struct room *, const char *jid, int aff,
		    const char *nick, const char *reason);
size_t		 room_count_affil(const struct room *, int aff);
const char	*room_reserved_nick(const struct room *, const char *bare);
const char	*room_nick_owner(const struct room *, const char *nick);
int		 room_save_config(struct room *);
int		 room_save_affils(struct room *);
int		 room_save_subject(struct room *);
int		 room_is_persistent(const struct room *);
enum stanza_error room_owner_get(struct room *, struct iq_req *);
enum stanza_error room_owner_set(struct room *, struct iq_req *,
		    const char *actor_bare);
enum stanza_error room_disco_info(struct room *, struct iq_req *);
enum stanza_error room_vcard(struct room *, struct iq_req *,
		    const char *actor_bare);
void		 room_send_avatar(struct room *, const char *to);
void		 room_status_message(struct room *, const int *codes, size_t n);

/* muc_occupant.c */
struct occupant	*occ_by_nick(const struct room *, const char *nick);
struct occupant	*occ_by_jid(const struct room *, const char *full,
		    struct osess **sp);
int		 occ_default_role(const struct room *, int aff);
int		 occ_can_see_jid(const struct room *, const struct occupant *viewer);
void		 occ_presence(struct room *, struct xml_node *,
		    const struct jid *from, const struct jid *to);
void		 occ_message(struct room *, struct xml_node *,
		    const struct jid *from, const struct jid *to);
void		 occ_iq(struct room *, struct xml_node *,
		    const struct jid *from, const struct jid *to);
void		 occ_iq_response(struct room *, struct xml_node *,
		    const struct jid *from, const struct jid *to);
enum stanza_error occ_admin(struct room *, struct iq_req *,
		    const char *actor_bare);
/* Remove every occupant of bare (or of a domain) with these codes. */
void		 occ_remove_all(struct room *, const char *jid, int code,
		    const char *actor, const char *reason);
/* Presence of o to everyone after its role or affiliation changed. */
void		 occ_announce(struct room *, struct occupant *,
		    const char *actor, const char *reason);
/* After affiliation changes of jid: roles recomputed, presence sent,
 * or removed (outcast, members-only). */
/* Tell every occupant the service stops (332) and empty the rooms. */
void		 occ_shutdown_all(void);
void		 occ_affil_changed(struct room *, const char *jid,
		    const char *actor, const char *reason);
void		 occ_session_gone(const char *full);
/* Remove the occupants that delivery errors showed to be gone. */
void		 occ_ghosts_flush(void);
void		 occ_free_all(void);
void		 occ_pending_expire(int64_t now);
void		 occ_free(struct occupant *);
int		 occ_direct_invite(struct session *, struct xml_node *);

/* muc_archive.c */
void		 hist_add(struct room *, const struct xml_node *msg, int64_t t);
void		 hist_send(struct room *, const char *to,
		    const struct xml_node *history);
void		 hist_clear(struct room *);
/* Store msg (reflected form) in the archive; fills id.  0 / -1. */
int		 arch_append(struct room *, const struct xml_node *msg,
		    const char *nick, const char *bare, int subject,
		    char *id, size_t idlen);
int		 arch_enabled(const struct room *);
void		 arch_free(struct archive *);
void		 arch_remove(struct room *);
void		 arch_idle(struct room *);
enum stanza_error arch_query(struct room *, struct iq_req *,
		    const char *actor_bare);

/* muc.c */
/*
 * An error reply to st (nothing for an error, or a result).  type NULL:
 * the condition's usual type.  For presence, muc_x adds the empty
 * <x xmlns='http://jabber.org/protocol/muc'/> XEP-0045 shows.
 */
void		 muc_error(const struct xml_node *st, enum stanza_error,
		    const char *type, const char *text, int muc_x);
/* Route a copy of n addressed to 'to'. */
void		 muc_send_copy(const struct xml_node *n, const char *to);
int		 muc_is_admin(const char *bare);
int		 muc_parse_bool(const char *s, int *out);
/* XEP-0082 DateTime to seconds; 0 / -1. */
int		 muc_parse_time(const char *s, int64_t *out);
int		 muc_is_local_user(const char *bare);
struct xml_node	*muc_form_field(struct xml_node *x, const char *var,
		    const char *type, const char *label, const char *value);
const char	*muc_field_value(const struct xml_node *x, const char *var);
void		 muc_strip_ns(struct xml_node *n);

#endif
