/*
 * test_disco.c - the XEP-0115 verification string of modules/disco.c.
 * Expected values were computed independently with Python's hashlib over
 * the strings XEP-0115 section 5 spells out; the two examples of that
 * section must give the values printed in the XEP.
 */
#include <string.h>

#include "harness.h"
#include "modules/module.h"

void	 test_disco(void);
/* modules/disco.c, exported for this test only */
int	 disco_caps_ver(const struct xml_node *query, char *out, size_t outlen);

#define Q_OPEN	"<query xmlns='http://jabber.org/protocol/disco#info'>"
#define Q_CLOSE	"</query>"

/* XEP-0115 5.2: Exodus 0.9.1, features listed out of order. */
static const char simple[] =
    Q_OPEN
    "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
    "<feature var='http://jabber.org/protocol/muc'/>"
    "<feature var='http://jabber.org/protocol/caps'/>"
    "<feature var='http://jabber.org/protocol/disco#info'/>"
    "<feature var='http://jabber.org/protocol/disco#items'/>"
    Q_CLOSE;

/* XEP-0115 5.3: two identities with xml:lang, a software-info form. */
static const char complex[] =
    "<query xmlns='http://jabber.org/protocol/disco#info' "
    "node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>"
    "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
    "<identity xml:lang='el' category='client' name='\xce\xa8 0.11' type='pc'/>"
    "<feature var='http://jabber.org/protocol/caps'/>"
    "<feature var='http://jabber.org/protocol/disco#info'/>"
    "<feature var='http://jabber.org/protocol/disco#items'/>"
    "<feature var='http://jabber.org/protocol/muc'/>"
    "<x xmlns='jabber:x:data' type='result'>"
    "<field var='FORM_TYPE' type='hidden'>"
    "<value>urn:xmpp:dataforms:softwareinfo</value></field>"
    "<field var='ip_version' type='text-multi'>"
    "<value>ipv4</value><value>ipv6</value></field>"
    "<field var='os'><value>Mac</value></field>"
    "<field var='os_version'><value>10.5.1</value></field>"
    "<field var='software'><value>Psi</value></field>"
    "<field var='software_version'><value>0.11</value></field>"
    "</x>"
    Q_CLOSE;

/* Our own shape: one identity, a serverinfo form with unsorted values. */
static const char server[] =
    Q_OPEN
    "<identity category='server' type='im' name='xmppd'/>"
    "<feature var='urn:xmpp:ping'/>"
    "<feature var='http://jabber.org/protocol/disco#info'/>"
    "<x xmlns='jabber:x:data' type='result'>"
    "<field var='FORM_TYPE' type='hidden'>"
    "<value>http://jabber.org/network/serverinfo</value></field>"
    "<field var='support-addresses' type='list-multi'>"
    "<value>xmpp:b@example.org</value><value>mailto:a@example.org</value>"
    "</field>"
    "<field var='admin-addresses' type='list-multi'>"
    "<value>xmpp:admin@example.org</value></field>"
    "</x>"
    Q_CLOSE;

static struct xml_node *
parse(const char *s)
{
	struct xml_limits lim = XML_DEFAULT_LIMITS;
	char err[128];
	struct xml_node *n = xml_parse_document(s, strlen(s), &lim, err, sizeof err);

	T_EXPECT(n != NULL, "parse: %s", err);
	return n;
}

/* The ver of document s, or "ERROR" when disco_caps_ver refuses it. */
static const char *
ver_of(const char *s, char *out, size_t outlen)
{
	struct xml_node *q = parse(s);
	int rc;

	if (q == NULL)
		return "PARSE";
	rc = disco_caps_ver(q, out, outlen);
	xml_arena_free(q->arena);
	return rc == 0 ? out : "ERROR";
}

void
test_disco(void)
{
	char v[64];

	T_EQ_STR(ver_of(simple, v, sizeof v), "QgayPKawpkPSDYmwT/WM94uAlu0=");
	T_EQ_STR(ver_of(complex, v, sizeof v), "q07IKJEyjvHSyhy//CH0CxmKi8w=");
	/* "server/im//xmppd<" + sorted features + form with fields and
	 * values sorted (hashlib over the spelled-out string). */
	T_EQ_STR(ver_of(server, v, sizeof v), "QRLP2yxjjiPMY989vb6v89DKEPA=");

	/* Forms without FORM_TYPE, or whose FORM_TYPE is not hidden, are
	 * left out of the hash (5.4 rule 3): same ver as without them. */
	T_EQ_STR(ver_of(Q_OPEN
	    "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
	    "<feature var='http://jabber.org/protocol/muc'/>"
	    "<feature var='http://jabber.org/protocol/caps'/>"
	    "<feature var='http://jabber.org/protocol/disco#info'/>"
	    "<feature var='http://jabber.org/protocol/disco#items'/>"
	    "<x xmlns='jabber:x:data' type='result'>"
	    "<field var='os'><value>Mac</value></field></x>"
	    "<x xmlns='jabber:x:data' type='result'>"
	    "<field var='FORM_TYPE'><value>urn:x</value></field>"
	    "<field var='os'><value>Mac</value></field></x>"
	    Q_CLOSE, v, sizeof v), "QgayPKawpkPSDYmwT/WM94uAlu0=");

	/* A field without var (fixed text) carries no data: left out. */
	{
		char w[64];
		T_EQ_STR(ver_of(Q_OPEN "<x xmlns='jabber:x:data' type='result'>"
		    "<field var='FORM_TYPE' type='hidden'><value>urn:f</value></field>"
		    "<field type='fixed'><value>note</value></field>"
		    "<field var='a'><value>1</value></field></x>" Q_CLOSE, v, sizeof v),
		    ver_of(Q_OPEN "<x xmlns='jabber:x:data' type='result'>"
		    "<field var='FORM_TYPE' type='hidden'><value>urn:f</value></field>"
		    "<field var='a'><value>1</value></field></x>" Q_CLOSE, w, sizeof w));
		/* "urn:f<a<1<" */
		T_EQ_STR(w, "u/RxSlpe3ObxeElUhm3PnDr0SQ8=");
	}

	/* An empty query hashes the empty string. */
	T_EQ_STR(ver_of(Q_OPEN Q_CLOSE, v, sizeof v),
	    "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");

	/* Ill-formed answers (5.4): repeated identity, feature, FORM_TYPE,
	 * or a FORM_TYPE with two different values. */
	T_EQ_STR(ver_of(Q_OPEN
	    "<identity category='client' type='pc' name='a'/>"
	    "<identity category='client' type='pc' name='a'/>" Q_CLOSE,
	    v, sizeof v), "ERROR");
	T_EQ_STR(ver_of(Q_OPEN
	    "<feature var='urn:a'/><feature var='urn:b'/><feature var='urn:a'/>"
	    Q_CLOSE, v, sizeof v), "ERROR");
	T_EQ_STR(ver_of(Q_OPEN
	    "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' "
	    "type='hidden'><value>urn:f</value></field></x>"
	    "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' "
	    "type='hidden'><value>urn:f</value></field></x>" Q_CLOSE,
	    v, sizeof v), "ERROR");
	T_EQ_STR(ver_of(Q_OPEN
	    "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' "
	    "type='hidden'><value>urn:f</value><value>urn:g</value></field></x>"
	    Q_CLOSE, v, sizeof v), "ERROR");
	/* Identities need category and type; features need var. */
	T_EQ_STR(ver_of(Q_OPEN "<identity type='pc'/>" Q_CLOSE, v, sizeof v),
	    "ERROR");
	T_EQ_STR(ver_of(Q_OPEN "<feature/>" Q_CLOSE, v, sizeof v), "ERROR");
	/* Same identity in two languages is not a repeat. */
	T_EXPECT(strcmp(ver_of(Q_OPEN
	    "<identity category='client' type='pc' xml:lang='en' name='a'/>"
	    "<identity category='client' type='pc' xml:lang='de' name='a'/>"
	    Q_CLOSE, v, sizeof v), "ERROR") != 0, "two languages refused");

	/* Output buffer: 28 characters and the NUL, no less. */
	T_EQ_STR(ver_of(simple, v, 29), "QgayPKawpkPSDYmwT/WM94uAlu0=");
	T_EQ_STR(ver_of(simple, v, 28), "ERROR");
}
