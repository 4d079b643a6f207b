/*
 * avatar.h - XEP-0398: the pep and vcard modules keep the PEP avatar
 * (XEP-0084) and the vCard photo (XEP-0153) in step.  Each calls the
 * other's function when both modules are enabled; neither function calls
 * back, so a conversion never sets off the reverse one.
 */
#ifndef XMPPD_AVATAR_H
#define XMPPD_AVATAR_H

#include "module.h"

extern const struct module mod_pep, mod_vcard;

/* vcard.c: make b64 (base64 of MIME type, SHA-1 hex id) the vCard's
 * PHOTO; with b64 NULL take the photo off.  0, or -1 if b64 is not the
 * image id names or makes the vCard larger than max_size: then the old
 * PHOTO goes.  Other errors are logged. */
int	vcard_avatar(const char *host, const char *local, const char *type,
	    const char *b64, const char *id);
/* pep.c: publish a vCard photo (b64 of bytes bytes, SHA-1 hex, MIME
 * type) as the avatar; hex "" publishes "no avatar". */
void	pep_avatar(const char *host, const char *local, const char *type,
	    const char *b64, size_t bytes, const char *hex);

#endif
