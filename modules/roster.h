/*
 * roster.h - the roster of one account (RFC 6121 section 2), kept as an
 * XML document in the account's `roster` file:
 *
 *   <roster xmlns='jabber:iq:roster' version='1' ver='12'>
 *     <item jid='bob@example.org' name='Bob' subscription='both'>
 *       <group>Friends</group></item>
 *     <item jid='carol@example.org' subscription='none' ask='subscribe'/>
 *     <pending jid='dave@example.org'/>    (a subscription request waiting)
 *   </roster>
 *
 * Items carry exactly the attributes of the wire format (jid, name,
 * subscription, ask, approved), so a push is a copy of the stored item.
 */
#ifndef XMPPD_ROSTER_H
#define XMPPD_ROSTER_H

#include "module.h"

#define NS_ROSTER	"jabber:iq:roster"

enum { SUB_NONE = 0, SUB_TO = 1, SUB_FROM = 2, SUB_BOTH = 3 };

struct roster {
	struct xml_node	*root;		/* owns its arena */
	char		 host[JID_PART_MAX + 1];
	char		 local[JID_PART_MAX + 1];
	int		 changed;
};

/* Load (an empty roster if there is none yet).  0, or -1 if the stored
 * file is unreadable (logged). */
int	 roster_load(const char *host, const char *local, struct roster *);
/* Write back if changed, bumping the version.  0 / -1. */
int	 roster_save(struct roster *);
void	 roster_free(struct roster *);
uint64_t roster_version(const struct roster *);

struct xml_node *roster_item(const struct roster *, const char *jid);
struct xml_node *roster_item_add(struct roster *, const char *jid);
void	 roster_item_remove(struct roster *, struct xml_node *item);
size_t	 roster_count(const struct roster *);

int	 roster_sub(const struct xml_node *item);	/* SUB_* */
void	 roster_set_sub(struct roster *, struct xml_node *item, int sub);
int	 roster_ask(const struct xml_node *item);	/* pending out */
void	 roster_set_ask(struct roster *, struct xml_node *item, int on);
int	 roster_approved(const struct xml_node *item);	/* pre-approved */
void	 roster_set_approved(struct roster *, struct xml_node *item, int on);

int	 roster_pending_in(const struct roster *, const char *jid);
void	 roster_set_pending_in(struct roster *, const char *jid, int on);
/* Call fn for every pending subscription request. */
void	 roster_each_pending(const struct roster *,
	    void (*fn)(const char *jid, void *), void *);

/* Has host/local granted its presence to who ('from' or 'both')?  These
 * are the entities that may see what the account shows its contacts. */
int	 roster_is_subscriber(const char *host, const char *local,
	    const struct jid *who);

/* Push item (or a removal) to every interested resource of the account,
 * with the roster's current version (RFC 6121 2.1.6). */
void	 roster_push(const struct roster *, const struct xml_node *item, int removed);

#endif
