/*
 * test_tls.c - tls.c: loading credentials (good, missing, garbage,
 * mismatched, hostile), names and expiry, cipher lists, and whole
 * handshakes against a BearSSL client over a non-blocking socketpair:
 * data both ways, pausing, the pump's fairness cap, SNI picking, closes.
 *
 * The PEM blocks below were made once with openssl for these tests only
 * (EC P-256 and RSA-2048, valid 2026-11-25 to 2126-11-01).  The client
 * validates them at a fixed date, so the host clock does not matter.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "harness.h"
#include "tls.h"
#include "util.h"

/* Self-signed CA; issued B below. */
static const char PEM_CA_CRT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBljCCAT2gAwIBAgIUL8v12B8vewe342RIg4MxMHsLM5swCgYIKoZIzj0EAwIw\n"
	"GDEWMBQGA1UEAwwNeG1wcGQgdGVzdCBDQTAgFw0yNjExMjUxODEzMDdaGA8yMTI2\n"
	"MTEwMTE4MTMwN1owGDEWMBQGA1UEAwwNeG1wcGQgdGVzdCBDQTBZMBMGByqGSM49\n"
	"AgEGCCqGSM49AwEHA0IABE5WlqrWQBPZI4cz5/ziZKCZ88KKtZZdlLHDrMITLStD\n"
	"qe9sr5banFfH58jVAbBDSjocg1Ax2P1FtdlRSLAor5ijYzBhMB0GA1UdDgQWBBS1\n"
	"sSFgR7Y+eq2SW2H0t3hEI+9kCTAfBgNVHSMEGDAWgBS1sSFgR7Y+eq2SW2H0t3hE\n"
	"I+9kCTAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQD\n"
	"AgNHADBEAiBdZHcrjikY6B+azQZZH/QLhFrztot+sC3WrqyW0CZdPQIgcvDzjjJ0\n"
	"X5QcL/x1P8fRyBYgD+Mx6+f8EOmMUw3tXl4=\n"
	"-----END CERTIFICATE-----\n";

/* A: self-signed, SAN a.example, *.example.org, Upper.Example.NET. */
static const char PEM_A_CRT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBuDCCAV+gAwIBAgIUV8qaX85/JgefaoJ4Iw836+JpFfEwCgYIKoZIzj0EAwIw\n"
	"FDESMBAGA1UEAwwJYS5leGFtcGxlMCAXDTI2MTEyNTE4MTMwN1oYDzIxMjYxMTAx\n"
	"MTgxMzA3WjAUMRIwEAYDVQQDDAlhLmV4YW1wbGUwWTATBgcqhkjOPQIBBggqhkjO\n"
	"PQMBBwNCAAQ5V9hneTsceUo/PNdWcee3YGyPg5BFO9x8fcPpfHOTBmg1EjHmHS9X\n"
	"q3Zg82s18f4pOtubsBX61Z3hgPKzn1aCo4GMMIGJMB0GA1UdDgQWBBQOOWuh+Xx2\n"
	"xbRuoLudZX1LhW+2bzAfBgNVHSMEGDAWgBQOOWuh+Xx2xbRuoLudZX1LhW+2bzAP\n"
	"BgNVHRMBAf8EBTADAQH/MDYGA1UdEQQvMC2CCWEuZXhhbXBsZYINKi5leGFtcGxl\n"
	"Lm9yZ4IRVXBwZXIuRXhhbXBsZS5ORVQwCgYIKoZIzj0EAwIDRwAwRAIgHL1t0KxP\n"
	"ZpP1FSCCVJyyavWDaoKvSazuD515Hyg5C2MCICor01Ca//nK0DN0Ys5anUGcq+Hc\n"
	"sEOSoZxIQjalekoj\n"
	"-----END CERTIFICATE-----\n";

/* A's key as "openssl ecparam -genkey" writes it: EC PARAMETERS first. */
static const char PEM_A_KEY[] =
	"-----BEGIN EC PARAMETERS-----\n"
	"BggqhkjOPQMBBw==\n"
	"-----END EC PARAMETERS-----\n"
	"-----BEGIN EC PRIVATE KEY-----\n"
	"MHcCAQEEIMTV+9peTZUiJBH2K1AsGuyTka+tFVT3Uho1X2Bl5socoAoGCCqGSM49\n"
	"AwEHoUQDQgAEOVfYZ3k7HHlKPzzXVnHnt2Bsj4OQRTvcfH3D6XxzkwZoNRIx5h0v\n"
	"V6t2YPNrNfH+KTrbm7AV+tWd4YDys59Wgg==\n"
	"-----END EC PRIVATE KEY-----\n";

/* B's key, PKCS#8. */
static const char PEM_B_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3ZMZB2aulOj/ZIVd\n"
	"oiHe0kXZxeRR8RYp/8Z+kfVZI/uhRANCAAQRC2Z/wach224qgigL96HFm/0FwHLD\n"
	"GHpbz3w3Ewy2yxW/Z5DH5dG18cyAqHvj+DFrA1HH36oeRQiRHkvNi3/4\n"
	"-----END PRIVATE KEY-----\n";

/* B (SAN b.example, issued by the CA), then the CA. */
static const char PEM_B_CHAIN[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBuDCCAV2gAwIBAgIUUtQCi6FFkYq8CixV3a1B9lwT74EwCgYIKoZIzj0EAwIw\n"
	"GDEWMBQGA1UEAwwNeG1wcGQgdGVzdCBDQTAgFw0yNjExMjUxODEzMDdaGA8yMTI2\n"
	"MTEwMTE4MTMwN1owFDESMBAGA1UEAwwJYi5leGFtcGxlMFkwEwYHKoZIzj0CAQYI\n"
	"KoZIzj0DAQcDQgAEEQtmf8GnIdtuKoIoC/ehxZv9BcBywxh6W898NxMMtssVv2eQ\n"
	"x+XRtfHMgKh74/gxawNRx9+qHkUIkR5LzYt/+KOBhjCBgzAUBgNVHREEDTALggli\n"
	"LmV4YW1wbGUwCQYDVR0TBAIwADALBgNVHQ8EBAMCB4AwEwYDVR0lBAwwCgYIKwYB\n"
	"BQUHAwEwHQYDVR0OBBYEFGdxId0rDYeYYSm2ZzBuaZLJC+rIMB8GA1UdIwQYMBaA\n"
	"FLWxIWBHtj56rZJbYfS3eEQj72QJMAoGCCqGSM49BAMCA0kAMEYCIQCg3RB9204O\n"
	"L5HXwq/uJ+jEslT8WzfNDdW6FBfAF3MffQIhAPQ7mtFvAJU1/F21yhqhHir/iLD2\n"
	"76pOCEzfskt10CoU\n"
	"-----END CERTIFICATE-----\n"
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBljCCAT2gAwIBAgIUL8v12B8vewe342RIg4MxMHsLM5swCgYIKoZIzj0EAwIw\n"
	"GDEWMBQGA1UEAwwNeG1wcGQgdGVzdCBDQTAgFw0yNjExMjUxODEzMDdaGA8yMTI2\n"
	"MTEwMTE4MTMwN1owGDEWMBQGA1UEAwwNeG1wcGQgdGVzdCBDQTBZMBMGByqGSM49\n"
	"AgEGCCqGSM49AwEHA0IABE5WlqrWQBPZI4cz5/ziZKCZ88KKtZZdlLHDrMITLStD\n"
	"qe9sr5banFfH58jVAbBDSjocg1Ax2P1FtdlRSLAor5ijYzBhMB0GA1UdDgQWBBS1\n"
	"sSFgR7Y+eq2SW2H0t3hEI+9kCTAfBgNVHSMEGDAWgBS1sSFgR7Y+eq2SW2H0t3hE\n"
	"I+9kCTAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQD\n"
	"AgNHADBEAiBdZHcrjikY6B+azQZZH/QLhFrztot+sC3WrqyW0CZdPQIgcvDzjjJ0\n"
	"X5QcL/x1P8fRyBYgD+Mx6+f8EOmMUw3tXl4=\n"
	"-----END CERTIFICATE-----\n";

/* RSA-2048, self-signed, SAN rsa.example. */
static const char PEM_RSA_CRT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIDJzCCAg+gAwIBAgIUDm/yhl0LCCAK+iRicsqD0nx8G50wDQYJKoZIhvcNAQEL\n"
	"BQAwFjEUMBIGA1UEAwwLcnNhLmV4YW1wbGUwIBcNMjYxMTI1MTgxMzA3WhgPMjEy\n"
	"NjExMDExODEzMDdaMBYxFDASBgNVBAMMC3JzYS5leGFtcGxlMIIBIjANBgkqhkiG\n"
	"9w0BAQEFAAOCAQ8AMIIBCgKCAQEA63H+K0sVSvRqFuNVp5ZoB2JUs30+aG001oTH\n"
	"+4tqRrB4lpHRQltCh81osLto4rgck3s2VhBB0CfZebRfLGPpHrIbfjkEmT3DbPPv\n"
	"u+hENlNZ2ukmefV/LPWbuOV0pixyLhv7BbD0LhaCvOVIpc8oNpJDUuAQjD0utVoC\n"
	"TIgRMeFM2uPPj1kZ7hppAORAZ3M+mzLblzpQ9FK+bvCQDEjtA/zpzIN88W1Y7eq6\n"
	"O45YqvTc76gHIk5oAea/Q1XiLmsS7mkNP8cME+tJj4YGrJaMVkDWqDSyZwhtt8Eg\n"
	"BU3YBcaqpP/EGSizI/P1iOw3khA2qzZRwevt2J/CZXkV/8gS0QIDAQABo2swaTAd\n"
	"BgNVHQ4EFgQU6JJAiBy9CcXmFuLtwLb2xcsCkIEwHwYDVR0jBBgwFoAU6JJAiBy9\n"
	"CcXmFuLtwLb2xcsCkIEwDwYDVR0TAQH/BAUwAwEB/zAWBgNVHREEDzANggtyc2Eu\n"
	"ZXhhbXBsZTANBgkqhkiG9w0BAQsFAAOCAQEAIeylRASkPEPfoKPYNhT7uLKoQEgX\n"
	"OHh1BpS8zt/2TyICgZ80Yj8hdv7eKtBDc7DF0n7ZF9fp2ng3OfAF7V3YxcyKLsIk\n"
	"UyYrD/6PxMm53P/mjI3mcaCXQkzKVAKr2X+tiwFzuYCfslRApr0RhLkqssTtTbKT\n"
	"R+BfBGEhU2Hj1Kbq7AtQUI1RCVaICP3sNfJBQmPA6FZcYtg3zGXLtHQjk4HApOo0\n"
	"cHfyaYrUziF8zQCW8QpUmXC2xpaGEfaL2JSODnt1D869tsOkkuq4F8sRKPR1TQCJ\n"
	"i9+6MrLSahI/5b5foh5N4p5NW6geo4O7p3ZgKNhCaswL8Iy3ACzuYqbwFg==\n"
	"-----END CERTIFICATE-----\n";

/* Its key, PKCS#1 ("RSA PRIVATE KEY"). */
static const char PEM_RSA_KEY[] =
	"-----BEGIN RSA PRIVATE KEY-----\n"
	"MIIEogIBAAKCAQEA63H+K0sVSvRqFuNVp5ZoB2JUs30+aG001oTH+4tqRrB4lpHR\n"
	"QltCh81osLto4rgck3s2VhBB0CfZebRfLGPpHrIbfjkEmT3DbPPvu+hENlNZ2ukm\n"
	"efV/LPWbuOV0pixyLhv7BbD0LhaCvOVIpc8oNpJDUuAQjD0utVoCTIgRMeFM2uPP\n"
	"j1kZ7hppAORAZ3M+mzLblzpQ9FK+bvCQDEjtA/zpzIN88W1Y7eq6O45YqvTc76gH\n"
	"Ik5oAea/Q1XiLmsS7mkNP8cME+tJj4YGrJaMVkDWqDSyZwhtt8EgBU3YBcaqpP/E\n"
	"GSizI/P1iOw3khA2qzZRwevt2J/CZXkV/8gS0QIDAQABAoIBAACrKWFvl8FZ17Da\n"
	"l1e2vYWHj4/xoyREj2isZjaOQx4tV+ZSay8+l1Bh6WkEf8wSc7PAOm3hWgJ+R56S\n"
	"G4U5gB9wA4sLZZ7pEYauSagHstvj66ICebNRUYv1B+GRtqtWkHkoHmYeoaErKUSG\n"
	"jk1dYXwIMBWKfGvUYxPRsLkNagI6o/x6ec7xD4X2ysBNDopd0ijfDELogFG0yWUQ\n"
	"LbhOIa9xxU8o9hLN+O5Z+/VZLOcs7lqd2MLUBKFrMHEhwZ/dS6bhWowNQwzJ3WvY\n"
	"t457yd7Hr8G0L1VoSSHZW8wHhdY3dkmnXtQAJUR0p44cRkD7JoKXn/kw1SZBL5Hs\n"
	"o/1x7JECgYEA/ZbwFJf+gugH6rMCJETXqkr5rdlSZs5H5OfVCxO3NIg/M5sz0QmB\n"
	"68DUDvcTBx2WtOZ2PEW9mfT7NtNgMj1U81711az2/500hCVn46Gf1iCJ7Xa0fuWh\n"
	"7faY2qS1bAvIGATbAs0hck6wKY1LXLtanVTspBseewa+CyqTCVo9ENkCgYEA7a7n\n"
	"fwv4iCdKWW3utTjCDxAGGc69NJXOxqxLOaH3YIo+qidPctkRw+Gyd1M7c6eiG338\n"
	"2sihEtEV+Ug89iyj1PDDPxKPQf3hd/ICRJDy+5SyY9E+UdZS8PQ2dtrTQ2mLHmEk\n"
	"VnnmXNftRQLKKSOs6mgIi0VOk8Mf5+kbhNcuVrkCgYBcYNnAhsYeZexMYT2MfM+b\n"
	"p4hg/mP4M3kZOCLx0BLTPjbX09gCdFYxzaLyeKsj0nGOIM49kqJJLWc+R64pXxJN\n"
	"PfCMEGBCKcBxyzaXQ894L45PRQjnmTtt9oEkVRAJ9hjENzCZSqS+gU/HM0Oa2l1e\n"
	"Jwu1lHN8Ga6tXqsFoyvPsQKBgAN/8M6xGW6/zVt1v+8RL+JS5RQaNDUDA7FvNgha\n"
	"Ny9HudZ9j7DsO1O8DgmtwxFX5Y4sE74Q+DYzt/QcuTESxTLMfMN//XYGS/ydJqVl\n"
	"0P4dWWcY3KcN1djQb8DeRgAXHMJMweE4GElDsK20dc+XQ+OLtpx+X8LTO7QJfas+\n"
	"E+OZAoGAdBcusWXIuCr2eghxEqhnxHA5Wl6KC4Wc0mmli/KzWd+jnGZaNaOpKA4W\n"
	"k/0S0DlDjnbN1/BoLEt4ClDtdDU88uFSRMtclRwXjVQpWbnTbLlcrrHAJwHEOFLh\n"
	"ZSpoNe810YDxA0tjFXDzm9BqKlLvk43QWipGZsajeQc+y1gUOBw=\n"
	"-----END RSA PRIVATE KEY-----\n";

/* No SAN; subject O=xmppd tests, CN=CnOnly.Example. */
static const char PEM_CN_CRT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBtjCCAVugAwIBAgIUAc05Ca6tu5pfAlgau9vIevO+j9owCgYIKoZIzj0EAwIw\n"
	"LzEUMBIGA1UECgwLeG1wcGQgdGVzdHMxFzAVBgNVBAMMDkNuT25seS5FeGFtcGxl\n"
	"MCAXDTI2MTEyNTE4MTMwN1oYDzIxMjYxMTAxMTgxMzA3WjAvMRQwEgYDVQQKDAt4\n"
	"bXBwZCB0ZXN0czEXMBUGA1UEAwwOQ25Pbmx5LkV4YW1wbGUwWTATBgcqhkjOPQIB\n"
	"BggqhkjOPQMBBwNCAARPxRWZjkdmaiusdydSONexBbfPvY4ChtsJ4+YzWRhgiQtL\n"
	"ZmRHC0/aDopc2+ONfvCtOUKWejR0gTdkU7ueQr5Po1MwUTAdBgNVHQ4EFgQUh0M2\n"
	"wdmQqrCSRLGzWx50wSh1yrswHwYDVR0jBBgwFoAUh0M2wdmQqrCSRLGzWx50wSh1\n"
	"yrswDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEA7x0n5HhRaWcX\n"
	"VVMCBD4vQiMPhK+6hlUsfCTKah3g/hACIQDqrXA/UPcha2UuFsqjAf3CcyiM7TTU\n"
	"4PeAT6tiLaiOWQ==\n"
	"-----END CERTIFICATE-----\n";

/* Its key, "EC PRIVATE KEY" alone. */
static const char PEM_CN_KEY[] =
	"-----BEGIN EC PRIVATE KEY-----\n"
	"MHcCAQEEIGvwZNETo38/D10DOCHom+NNP2LNzWck/E1P/QKZLKqFoAoGCCqGSM49\n"
	"AwEHoUQDQgAET8UVmY5HZmorrHcnUjjXsQW3z72OAobbCePmM1kYYIkLS2ZkRwtP\n"
	"2g6KXNvjjX7wrTlClno0dIE3ZFO7nkK+Tw==\n"
	"-----END EC PRIVATE KEY-----\n";

/*
 * CN=cn.example; SAN only otherNames: xmppAddr xmpp.example, SRVName
 * _xmpp-client.srv.example and _imap.other.example.
 */
static const char PEM_X_CRT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIB9TCCAZugAwIBAgIUenFbhLRRr1Ng7C43HSsD6KuuVXswCgYIKoZIzj0EAwIw\n"
	"FTETMBEGA1UEAwwKY24uZXhhbXBsZTAgFw0yNjExMjUxODEzMDdaGA8yMTI2MTEw\n"
	"MTE4MTMwN1owFTETMBEGA1UEAwwKY24uZXhhbXBsZTBZMBMGByqGSM49AgEGCCqG\n"
	"SM49AwEHA0IABDRhaFn99c/FByhh1QxvyOy2pRevbFlLS/AgQPODgY42RrpgUXlY\n"
	"7o35aqrMigJus2h+cL77l9tngNAWKfeqibejgcYwgcMwHQYDVR0OBBYEFOofftw2\n"
	"P1NnMpwbKWpmy2HEeqyWMB8GA1UdIwQYMBaAFOofftw2P1NnMpwbKWpmy2HEeqyW\n"
	"MA8GA1UdEwEB/wQFMAMBAf8wcAYDVR0RBGkwZ6AaBggrBgEFBQcIBaAODAx4bXBw\n"
	"LmV4YW1wbGWgJgYIKwYBBQUHCAegGhYYX3htcHAtY2xpZW50LnNydi5leGFtcGxl\n"
	"oCEGCCsGAQUFBwgHoBUWE19pbWFwLm90aGVyLmV4YW1wbGUwCgYIKoZIzj0EAwID\n"
	"SAAwRQIhAP5TlCm80Iju4yop2urwBlDMVF8T+MrkJXzG0gL/QxPdAiBzDjuMMqem\n"
	"2ya/qPbRTYZ3O6vHYmljXXAlgXg6zpE4EA==\n"
	"-----END CERTIFICATE-----\n";

/* Its key. */
static const char PEM_X_KEY[] =
	"-----BEGIN EC PRIVATE KEY-----\n"
	"MHcCAQEEIOgSQgk+RtgdwsaHVa3bHXIBz0okbQWDqOLbMLHG0WiooAoGCCqGSM49\n"
	"AwEHoUQDQgAENGFoWf31z8UHKGHVDG/I7LalF69sWUtL8CBA84OBjjZGumBReVju\n"
	"jflqqsyKAm6zaH5wvvuX22eA0BYp96qJtw==\n"
	"-----END EC PRIVATE KEY-----\n";

/* B's key encrypted with PKCS#5 v2 (password "secret"). */
static const char PEM_ENC_KEY[] =
	"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
	"MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhffN/eRrcWOwICCAAw\n"
	"DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEMjBzm0s1/9vqCjD9a4AckoEgZDH\n"
	"hSvPjWAZkxHVw3J2hUz2lhJ4JbklFoQkoOrLxKaAgu1d2U9rewl6AFEhlbDBSYk9\n"
	"lMblfk+ZseVzkrE8v5+MEbrmhRVmNeP/uCr8JuwyzLjUrClojusLXMY6OtHv5CXS\n"
	"baiP7V8++c1xXVvY2xjP/BbwEB9I5O8bYAoDb7wZyvDudCUM7qfFAZ0F8xhFI3o=\n"
	"-----END ENCRYPTED PRIVATE KEY-----\n";

/* notAfter of every certificate above: 2126-11-01 18:13:07 UTC. */
#define PEM_NOTAFTER	4949230387LL
/* 2050-01-01 in BearSSL's count of days since 0000-01-01. */
#define CHECK_DAYS	(719528 + 29220)

static char tdir[] = "/tmp/xmppd-test-tls-XXXXXX";

/* A path in the test directory (a few may be in use at once). */
static const char *
tpath(const char *name)
{
	static char bufs[8][256];
	static unsigned k;
	char *b = bufs[k++ % 8];

	if (snprintf(b, 256, "%s/%s", tdir, name) >= 256)
		abort();
	return b;
}

static void
put(const char *name, const void *data, size_t len)
{
	const char *p = tpath(name);
	int fd;

	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_EXPECT(fd != -1, "open %s: %s", p, strerror(errno));
	if (fd == -1)
		return;
	T_EXPECT(write(fd, data, len) == (ssize_t)len, "write %s", p);
	close(fd);
}

static void
puts_file(const char *name, const char *s)
{
	put(name, s, strlen(s));
}

static void
cat2(const char *name, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = xmalloc(la + lb + 1);

	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	puts_file(name, s);
	free(s);
}

static struct tls_creds *
load(const char *cert, const char *key, char *err, size_t errlen)
{
	return tls_creds_load(tpath(cert), tpath(key), err, errlen);
}

/* The first PEM object of pem, decoded. */
static void
pem_grow(void *ctx, const void *p, size_t n)
{
	struct buf *b = ctx;

	if (buf_add(b, p, n) == -1)
		abort();
}

static unsigned char *
pem_der(const char *pem, size_t *len)
{
	br_pem_decoder_context pc;
	struct buf b;
	size_t left = strlen(pem), n;
	int done = 0;
	unsigned char *out;

	buf_init(&b, 1 << 20);
	br_pem_decoder_init(&pc);
	while (left > 0 && !done) {
		n = br_pem_decoder_push(&pc, pem, left);
		pem += n;
		left -= n;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			br_pem_decoder_setdest(&pc, pem_grow, &b);
			break;
		case BR_PEM_END_OBJ:
			done = 1;
			break;
		case BR_PEM_ERROR:
			abort();
		}
	}
	*len = buf_used(&b);
	out = xmalloc(*len);
	memcpy(out, buf_head(&b), *len);
	buf_free(&b);
	return out;
}

static char *
der_pem(const unsigned char *der, size_t len, const char *banner)
{
	size_t n = br_pem_encode(NULL, der, len, banner, BR_PEM_LINE64);
	char *s = xmalloc(n + 1);

	br_pem_encode(s, der, len, banner, BR_PEM_LINE64);
	return s;
}

/* ---- a BearSSL client ---- */

struct tclient {
	br_ssl_client_context	 cc;
	br_x509_minimal_context	 xc;
	unsigned char		 ibuf[BR_SSL_BUFSIZE_INPUT];
	unsigned char		 obuf[BR_SSL_BUFSIZE_OUTPUT];
	br_x509_trust_anchor	 ta[4];
	struct buf		 tamem[4][2];	/* DN, key bytes */
	size_t			 nta;
	int			 fd;
	const unsigned char	*out;		/* to send, once connected */
	size_t			 outlen, outoff;
	int			 one_byte_records;
	int			 want_close, close_started;
	unsigned char		*in;		/* received */
	size_t			 inlen, incap;
	int			 eof;
};

static void
dn_grow(void *ctx, const void *p, size_t n)
{
	pem_grow(ctx, p, n);
}

static void
ta_add(struct tclient *cl, const char *pem)
{
	br_x509_decoder_context dc;
	br_x509_trust_anchor *ta = &cl->ta[cl->nta];
	struct buf *dn = &cl->tamem[cl->nta][0], *kb = &cl->tamem[cl->nta][1];
	const br_x509_pkey *pk;
	unsigned char *der;
	size_t len;

	der = pem_der(pem, &len);
	buf_init(dn, 4096);
	buf_init(kb, 4096);
	br_x509_decoder_init(&dc, dn_grow, dn);
	br_x509_decoder_push(&dc, der, len);
	free(der);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL)
		abort();
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey = *pk;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		buf_add(kb, pk->key.rsa.n, pk->key.rsa.nlen);
		buf_add(kb, pk->key.rsa.e, pk->key.rsa.elen);
		ta->pkey.key.rsa.n = (unsigned char *)buf_head(kb);
		ta->pkey.key.rsa.e = ta->pkey.key.rsa.n + pk->key.rsa.nlen;
	} else {
		buf_add(kb, pk->key.ec.q, pk->key.ec.qlen);
		ta->pkey.key.ec.q = (unsigned char *)buf_head(kb);
	}
	ta->dn.data = (unsigned char *)buf_head(dn);
	ta->dn.len = buf_used(dn);
	cl->nta++;
}

static struct tclient *
client_new(int fd, const char *server_name, const char *ta1, const char *ta2)
{
	struct tclient *cl = xcalloc(1, sizeof *cl);

	cl->fd = fd;
	ta_add(cl, ta1);
	if (ta2 != NULL)
		ta_add(cl, ta2);
	br_ssl_client_init_full(&cl->cc, &cl->xc, cl->ta, cl->nta);
	br_x509_minimal_set_time(&cl->xc, CHECK_DAYS, 0);
	br_ssl_engine_set_buffers_bidi(&cl->cc.eng, cl->ibuf, sizeof cl->ibuf,
	    cl->obuf, sizeof cl->obuf);
	T_EXPECT(br_ssl_client_reset(&cl->cc, server_name, 0) == 1,
	    "client reset");
	cl->incap = 1 << 20;
	cl->in = xmalloc(cl->incap);
	return cl;
}

static void
client_free(struct tclient *cl)
{
	size_t i;

	for (i = 0; i < cl->nta; i++) {
		buf_free(&cl->tamem[i][0]);
		buf_free(&cl->tamem[i][1]);
	}
	free(cl->in);
	free(cl);
}

static unsigned
client_state(const struct tclient *cl)
{
	return br_ssl_engine_current_state(&cl->cc.eng);
}

static int
client_connected(const struct tclient *cl)
{
	return (client_state(cl) & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)) != 0;
}

/* Move everything that can move, trying the socket whatever poll said. */
static void
client_step(struct tclient *cl)
{
	br_ssl_engine_context *eng = &cl->cc.eng;
	int can_read = 1, can_write = 1, i;
	unsigned char *b;
	unsigned st;
	size_t len, k;
	ssize_t n;

	for (i = 0; i < 100000; i++) {
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED)
			return;
		if ((st & BR_SSL_SENDREC) && can_write) {
			b = br_ssl_engine_sendrec_buf(eng, &len);
			n = send(cl->fd, b, len, MSG_NOSIGNAL);
			if (n > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
				continue;
			}
			if (n == -1 && errno != EAGAIN) {
				cl->eof = 1;
				return;
			}
			can_write = 0;
		}
		if (st & BR_SSL_RECVAPP) {
			b = br_ssl_engine_recvapp_buf(eng, &len);
			k = len < cl->incap - cl->inlen ? len :
			    cl->incap - cl->inlen;
			T_EXPECT(k == len, "client input full");
			memcpy(cl->in + cl->inlen, b, k);
			cl->inlen += k;
			br_ssl_engine_recvapp_ack(eng, len);
			continue;
		}
		if (st & BR_SSL_SENDAPP) {
			if (cl->outoff < cl->outlen) {
				b = br_ssl_engine_sendapp_buf(eng, &len);
				k = cl->outlen - cl->outoff;
				if (k > len)
					k = len;
				if (cl->one_byte_records)
					k = 1;
				memcpy(b, cl->out + cl->outoff, k);
				br_ssl_engine_sendapp_ack(eng, k);
				cl->outoff += k;
				if (cl->one_byte_records ||
				    cl->outoff == cl->outlen)
					br_ssl_engine_flush(eng, 0);
				continue;
			}
			if (cl->want_close && !cl->close_started) {
				cl->close_started = 1;
				br_ssl_engine_close(eng);
				continue;
			}
		}
		if ((st & BR_SSL_RECVREC) && can_read) {
			b = br_ssl_engine_recvrec_buf(eng, &len);
			n = recv(cl->fd, b, len, 0);
			if (n > 0) {
				br_ssl_engine_recvrec_ack(eng, (size_t)n);
				continue;
			}
			if (n == 0 || errno != EAGAIN) {
				cl->eof = 1;
				return;
			}
			can_read = 0;
		}
		return;
	}
}

static short
client_events(const struct tclient *cl)
{
	unsigned st = client_state(cl);
	short ev = 0;

	if ((st & BR_SSL_CLOSED) || cl->eof)
		return 0;
	if (st & BR_SSL_SENDREC)
		ev |= POLLOUT;
	if (st & BR_SSL_RECVREC)
		ev |= POLLIN;
	return ev;
}

/* ---- the server's application side ---- */

struct sapp {
	unsigned char	*in;		/* what deliver() took */
	size_t		 inlen, incap;
	unsigned char	*out;		/* what pending() offers */
	size_t		 outlen, outoff, outcap;
	int		 paused;
	int		 echo;		/* send back what arrives */
	size_t		 delivers;
	size_t		 partial;	/* delivers that took less */
};

static size_t
s_deliver(void *arg, const unsigned char *p, size_t n)
{
	struct sapp *sa = arg;
	size_t room = sa->incap - sa->inlen;

	sa->delivers++;
	if (sa->paused)
		return 0;
	if (sa->echo && sa->outcap - sa->outlen < room)
		room = sa->outcap - sa->outlen;
	if (n > room) {
		n = room;
		sa->partial++;
	}
	memcpy(sa->in + sa->inlen, p, n);
	sa->inlen += n;
	if (sa->echo) {
		memcpy(sa->out + sa->outlen, p, n);
		sa->outlen += n;
	}
	return n;
}

static const unsigned char *
s_pending(void *arg, size_t *n)
{
	struct sapp *sa = arg;

	*n = sa->outlen - sa->outoff;
	return sa->out + sa->outoff;
}

static void
s_taken(void *arg, size_t n)
{
	struct sapp *sa = arg;

	T_EXPECT(n > 0 && n <= sa->outlen - sa->outoff, "taken %zu", n);
	sa->outoff += n;
	if (sa->outoff == sa->outlen)
		sa->outoff = sa->outlen = 0;
}

static void
s_queue(struct sapp *sa, const char *s)
{
	size_t n = strlen(s);

	if (n > sa->outcap - sa->outlen)
		abort();
	memcpy(sa->out + sa->outlen, s, n);
	sa->outlen += n;
}

/* ---- both ends on one socketpair ---- */

struct pair {
	struct tls	*t;
	struct tclient	*cl;
	struct sapp	 sa;
	struct tls_io	 io;
	int		 sfd, cfd;
	int		 can_read, can_write;
	int		 rc;		/* the last tls_pump() result */
	int		 pumps;
};

static void
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		abort();
}

static void
pair_open(struct pair *p, struct tls_creds *creds, const char *sni,
    const char *ta1, const char *ta2)
{
	int sv[2];

	memset(p, 0, sizeof *p);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	nonblock(sv[0]);
	nonblock(sv[1]);
	p->sfd = sv[0];
	p->cfd = sv[1];
	p->t = tls_server_new(creds);
	p->cl = client_new(p->cfd, sni, ta1, ta2);
	p->sa.incap = 1 << 20;
	p->sa.in = xmalloc(p->sa.incap);
	p->sa.outcap = 16384;
	p->sa.out = xmalloc(p->sa.outcap);
	p->io.arg = &p->sa;
	p->io.deliver = s_deliver;
	p->io.pending = s_pending;
	p->io.taken = s_taken;
	p->rc = TLS_OK;
}

static void
pair_close(struct pair *p)
{
	tls_free(p->t);
	client_free(p->cl);
	close(p->sfd);
	if (p->cfd != -1)
		close(p->cfd);
	free(p->sa.in);
	free(p->sa.out);
}

static void
pair_pump(struct pair *p)
{
	if (p->rc != TLS_OK)
		return;
	p->rc = tls_pump(p->t, p->sfd, &p->can_read, &p->can_write, &p->io);
	p->pumps++;
}

/*
 * Run both ends, with poll(), until done(p) or nothing moves for a
 * second.  Returns done(p).
 */
static int
pair_run(struct pair *p, int (*done)(struct pair *))
{
	struct pollfd pfd[2];
	int i, n, timeout;

	for (i = 0; i < 20000; i++) {
		pair_pump(p);
		client_step(p->cl);
		if (done(p))
			return 1;
		pfd[0].fd = p->sfd;
		pfd[0].events = p->rc == TLS_OK ? tls_events(p->t, 0) : 0;
		pfd[1].fd = p->cfd;
		pfd[1].events = client_events(p->cl);
		timeout = p->rc == TLS_OK && !p->sa.paused &&
		    tls_has_pending_input(p->t) ? 0 : 1000;
		if (pfd[0].events == 0 && pfd[1].events == 0 && timeout != 0)
			return 0;
		n = poll(pfd, 2, timeout);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 && timeout != 0)
			return 0;
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			p->can_read = 1;
		if (pfd[0].revents & (POLLOUT | POLLHUP | POLLERR))
			p->can_write = 1;
	}
	return done(p);
}

static int
done_connected(struct pair *p)
{
	return client_connected(p->cl) && tls_is_established(p->t);
}

static int
done_hello(struct pair *p)
{
	return p->sa.inlen >= 5;
}

static int
done_world(struct pair *p)
{
	return p->cl->inlen >= 5;
}

static int
done_server_finished(struct pair *p)
{
	return p->rc != TLS_OK;
}

static int
done_both_closed(struct pair *p)
{
	return p->rc != TLS_OK && (client_state(p->cl) & BR_SSL_CLOSED);
}

static int
done_client_closed(struct pair *p)
{
	return (client_state(p->cl) & BR_SSL_CLOSED) != 0;
}

static size_t bulk_len;

static int
done_bulk(struct pair *p)
{
	return p->cl->inlen >= bulk_len || p->rc != TLS_OK;
}

/* Client says hello, server answers world; both checked. */
static void
hello_world(struct pair *p)
{
	p->cl->out = (const unsigned char *)"hello";
	p->cl->outlen = 5;
	T_EXPECT(pair_run(p, done_hello), "server got hello (rc %d: %s)",
	    p->rc, tls_error_string(p->t));
	T_EQ_INT(p->sa.inlen, 5);
	T_EQ_MEM(p->sa.in, "hello", 5);
	s_queue(&p->sa, "world");
	T_EXPECT(pair_run(p, done_world), "client got world (rc %d: %s)",
	    p->rc, tls_error_string(p->t));
	T_EQ_INT(p->cl->inlen, 5);
	T_EQ_MEM(p->cl->in, "world", 5);
}

/* ---- tests: credentials ---- */

static void
write_fixtures(void)
{
	puts_file("ca.crt", PEM_CA_CRT);
	puts_file("a.crt", PEM_A_CRT);
	puts_file("a.key", PEM_A_KEY);
	puts_file("b.crt", PEM_B_CHAIN);
	puts_file("b.key", PEM_B_KEY);
	puts_file("rsa.crt", PEM_RSA_CRT);
	puts_file("rsa.key", PEM_RSA_KEY);
	puts_file("cn.crt", PEM_CN_CRT);
	puts_file("cn.key", PEM_CN_KEY);
	puts_file("x.crt", PEM_X_CRT);
	puts_file("x.key", PEM_X_KEY);
	puts_file("enc.key", PEM_ENC_KEY);
}

static void
test_creds_good(void)
{
	struct tls_creds *c;
	char err[512], *s;
	size_t n;
	static const char *const pairs[][2] = {
		{ "a.crt", "a.key" },		/* EC key after EC PARAMETERS */
		{ "b.crt", "b.key" },		/* chain of 2, PKCS#8 key */
		{ "rsa.crt", "rsa.key" },	/* RSA PRIVATE KEY */
		{ "cn.crt", "cn.key" },		/* EC PRIVATE KEY alone */
		{ "x.crt", "x.key" },
	};

	for (n = 0; n < sizeof pairs / sizeof pairs[0]; n++) {
		c = load(pairs[n][0], pairs[n][1], err, sizeof err);
		T_EXPECT(c != NULL, "load %s: %s", pairs[n][0], err);
		if (c == NULL)
			continue;
		T_EQ_STR(tls_creds_cert_file(c), tpath(pairs[n][0]));
		T_EQ_STR(tls_creds_key_file(c), tpath(pairs[n][1]));
		if (sizeof(time_t) == 8)
			T_EQ_INT(tls_creds_expiry(c), PEM_NOTAFTER);
		T_EQ_INT(tls_creds_changed_on_disk(c), 0);
		tls_creds_unref(c);
	}

	/* Chain and key in one file, either order. */
	cat2("ak.pem", PEM_A_CRT, PEM_A_KEY);
	c = load("ak.pem", "ak.pem", err, sizeof err);
	T_EXPECT(c != NULL, "combined file: %s", err);
	tls_creds_unref(c);
	cat2("ka.pem", PEM_A_KEY, PEM_A_CRT);
	c = load("ka.pem", "ka.pem", err, sizeof err);
	T_EXPECT(c != NULL, "combined file, key first: %s", err);
	tls_creds_unref(c);

	/* No final newline, and CRLF line ends. */
	n = strlen(PEM_A_CRT);
	put("nonl.crt", PEM_A_CRT, n - 1);
	c = load("nonl.crt", "a.key", err, sizeof err);
	T_EXPECT(c != NULL, "no final newline: %s", err);
	tls_creds_unref(c);
	s = xmalloc(2 * n + 1);
	{
		size_t i, j = 0;

		for (i = 0; i < n; i++) {
			if (PEM_A_CRT[i] == '\n')
				s[j++] = '\r';
			s[j++] = PEM_A_CRT[i];
		}
		put("crlf.crt", s, j);
	}
	free(s);
	c = load("crlf.crt", "a.key", err, sizeof err);
	T_EXPECT(c != NULL, "CRLF: %s", err);
	tls_creds_unref(c);

	/* References: one extra, two drops, freed once (ASan watches). */
	c = load("a.crt", "a.key", err, sizeof err);
	tls_creds_ref(c);
	tls_creds_unref(c);
	T_EXPECT(tls_creds_match_name(c, "a.example"), "still alive");
	tls_creds_unref(c);
	tls_creds_ref(NULL);
	tls_creds_unref(NULL);
	T_EQ_INT(tls_creds_expiry(NULL), 0);
	T_EQ_INT(tls_creds_match_name(NULL, "a.example"), 0);
}

/* Load, expect failure with exactly the message want. */
static void
expect_error(const char *cert, const char *key, const char *want)
{
	struct tls_creds *c;
	char err[512];

	c = load(cert, key, err, sizeof err);
	T_EXPECT(c == NULL, "%s + %s loaded", cert, key);
	T_EQ_STR(err, want);
	tls_creds_unref(c);
}

static void
test_creds_errors(void)
{
	char want[1024], err[16], *big;
	struct tls_creds *c;

	snprintf(want, sizeof want, "cannot open %s: No such file or "
	    "directory", tpath("nope.crt"));
	expect_error("nope.crt", "a.key", want);
	snprintf(want, sizeof want, "cannot open %s: No such file or "
	    "directory", tpath("nope.key"));
	expect_error("a.crt", "nope.key", want);

	puts_file("garbage", "this is not PEM\n\x01\x02\xff\n");
	snprintf(want, sizeof want, "no certificate in %s", tpath("garbage"));
	expect_error("garbage", "a.key", want);
	puts_file("empty", "");
	snprintf(want, sizeof want, "no certificate in %s", tpath("empty"));
	expect_error("empty", "a.key", want);
	/* A key where the chain should be, and the other way round. */
	snprintf(want, sizeof want, "no certificate in %s", tpath("a.key"));
	expect_error("a.key", "a.key", want);
	snprintf(want, sizeof want, "no private key in %s", tpath("a.crt"));
	expect_error("a.crt", "a.crt", want);
	snprintf(want, sizeof want, "no private key in %s", tpath("garbage"));
	expect_error("a.crt", "garbage", want);

	/* PEM that is broken as PEM. */
	puts_file("badb64.crt", "-----BEGIN CERTIFICATE-----\nMIIB!!!!\n"
	    "-----END CERTIFICATE-----\n");
	snprintf(want, sizeof want, "invalid PEM data in %s",
	    tpath("badb64.crt"));
	expect_error("badb64.crt", "a.key", want);
	puts_file("unterm.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n");
	snprintf(want, sizeof want, "unterminated PEM object in %s",
	    tpath("unterm.crt"));
	expect_error("unterm.crt", "a.key", want);

	/* Good PEM, bad contents. */
	puts_file("junk.crt", "-----BEGIN CERTIFICATE-----\n"
	    "aGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n");
	snprintf(want, sizeof want, "cannot parse certificate 1 in %s "
	    "(BearSSL error 37)", tpath("junk.crt"));
	expect_error("junk.crt", "a.key", want);
	cat2("junk2.crt", PEM_A_CRT, "-----BEGIN CERTIFICATE-----\n"
	    "MAA=\n-----END CERTIFICATE-----\n");
	snprintf(want, sizeof want, "cannot parse certificate 2 in %s "
	    "(BearSSL error 36)", tpath("junk2.crt"));
	expect_error("junk2.crt", "a.key", want);
	puts_file("junk.key", "-----BEGIN PRIVATE KEY-----\n"
	    "aGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n");
	snprintf(want, sizeof want, "cannot parse key in %s",
	    tpath("junk.key"));
	expect_error("a.crt", "junk.key", want);
	cat2("two.key", PEM_A_KEY, PEM_B_KEY);
	snprintf(want, sizeof want, "more than one private key in %s",
	    tpath("two.key"));
	expect_error("a.crt", "two.key", want);

	/* Encrypted keys, PKCS#8 and the old OpenSSL headers. */
	snprintf(want, sizeof want, "encrypted private key in %s is not "
	    "supported", tpath("enc.key"));
	expect_error("b.crt", "enc.key", want);
	puts_file("encold.key", "-----BEGIN RSA PRIVATE KEY-----\n"
	    "Proc-Type: 4,ENCRYPTED\n"
	    "DEK-Info: AES-256-CBC,E8E2AC9877A963365D812AEB323B2593\n\n"
	    "aGVsbG8gd29ybGQ=\n-----END RSA PRIVATE KEY-----\n");
	snprintf(want, sizeof want, "encrypted private key in %s is not "
	    "supported", tpath("encold.key"));
	expect_error("rsa.crt", "encold.key", want);

	/* The key of another certificate, or of another type. */
	snprintf(want, sizeof want, "key in %s does not match certificate "
	    "in %s", tpath("b.key"), tpath("a.crt"));
	expect_error("a.crt", "b.key", want);
	snprintf(want, sizeof want, "key in %s does not match certificate "
	    "in %s", tpath("a.key"), tpath("rsa.crt"));
	expect_error("rsa.crt", "a.key", want);
	snprintf(want, sizeof want, "key in %s does not match certificate "
	    "in %s", tpath("rsa.key"), tpath("a.crt"));
	expect_error("a.crt", "rsa.key", want);
	/* B's chain starts with B: the CA's key is not B's. */
	cat2("cab.crt", PEM_CA_CRT, PEM_B_CHAIN);
	snprintf(want, sizeof want, "key in %s does not match certificate "
	    "in %s", tpath("b.key"), tpath("cab.crt"));
	expect_error("cab.crt", "b.key", want);

	/* Not a file, and too large. */
	snprintf(want, sizeof want, "%s is not a regular file", tdir);
	c = tls_creds_load(tdir, tpath("a.key"), want + 512, 512);
	T_EXPECT(c == NULL, "directory loaded");
	T_EQ_STR(want + 512, want);
	big = xmalloc(1024 * 1024 + 1);
	memset(big, '\n', 1024 * 1024 + 1);
	put("big.crt", big, 1024 * 1024 + 1);
	snprintf(want, sizeof want, "%s is too large (more than 1048576 "
	    "bytes)", tpath("big.crt"));
	expect_error("big.crt", "a.key", want);
	/* Exactly 1 MiB is allowed: it fails only for want of a cert. */
	put("big.crt", big, 1024 * 1024);
	snprintf(want, sizeof want, "no certificate in %s", tpath("big.crt"));
	expect_error("big.crt", "a.key", want);
	free(big);

	/* Too many certificates in the chain. */
	{
		size_t one = strlen(PEM_CA_CRT), i;
		char *chain = xmalloc(17 * one);

		for (i = 0; i < 17; i++)
			memcpy(chain + i * one, PEM_CA_CRT, one);
		put("long.crt", chain, 17 * one);
		free(chain);
		snprintf(want, sizeof want, "too many certificates in %s (at "
		    "most 16)", tpath("long.crt"));
		expect_error("long.crt", "a.key", want);
	}

	/* No names, and a small error buffer (cut, still terminated). */
	c = tls_creds_load(NULL, "x", want, sizeof want);
	T_EXPECT(c == NULL, "NULL cert file");
	T_EQ_STR(want, "no certificate or key file given");
	c = tls_creds_load("", "", err, sizeof err);
	T_EXPECT(c == NULL, "empty names");
	T_EQ_STR(err, "no certificate ");
	c = tls_creds_load(tpath("nope.crt"), tpath("a.key"), NULL, 0);
	T_EXPECT(c == NULL, "no error buffer");
}

static void
test_names(void)
{
	struct tls_creds *a, *cn, *x, *rsa;
	char err[512];

	a = load("a.crt", "a.key", err, sizeof err);
	cn = load("cn.crt", "cn.key", err, sizeof err);
	x = load("x.crt", "x.key", err, sizeof err);
	rsa = load("rsa.crt", "rsa.key", err, sizeof err);
	T_EXPECT(a && cn && x && rsa, "fixtures load: %s", err);
	if (!(a && cn && x && rsa))
		goto out;

	/* SAN dNSName: a.example, *.example.org, Upper.Example.NET */
	T_EQ_INT(tls_creds_match_name(a, "a.example"), 1);
	T_EQ_INT(tls_creds_match_name(a, "A.EXAMPLE"), 1);
	T_EQ_INT(tls_creds_match_name(a, "a.example."), 1);
	T_EQ_INT(tls_creds_match_name(a, "upper.example.net"), 1);
	T_EQ_INT(tls_creds_match_name(a, "UPPER.example.NET"), 1);
	T_EQ_INT(tls_creds_match_name(a, "b.example"), 0);
	T_EQ_INT(tls_creds_match_name(a, "example"), 0);
	T_EQ_INT(tls_creds_match_name(a, "aa.example"), 0);
	T_EQ_INT(tls_creds_match_name(a, "a.example.com"), 0);
	T_EQ_INT(tls_creds_match_name(a, ""), 0);
	T_EQ_INT(tls_creds_match_name(a, "."), 0);
	T_EQ_INT(tls_creds_match_name(a, NULL), 0);
	/* The wildcard stands for one label, the leftmost, never empty. */
	T_EQ_INT(tls_creds_match_name(a, "www.example.org"), 1);
	T_EQ_INT(tls_creds_match_name(a, "WWW.Example.Org"), 1);
	T_EQ_INT(tls_creds_match_name(a, "x-1.example.org."), 1);
	T_EQ_INT(tls_creds_match_name(a, "a.b.example.org"), 0);
	T_EQ_INT(tls_creds_match_name(a, "example.org"), 0);
	T_EQ_INT(tls_creds_match_name(a, ".example.org"), 0);
	T_EQ_INT(tls_creds_match_name(a, "*.example.org"), 0);
	T_EQ_INT(tls_creds_match_name(a, "www.example.org.evil"), 0);
	T_EQ_INT(tls_creds_match_name(a, "wwwexample.org"), 0);
	T_EQ_INT(tls_creds_match_name(a, "www..example.org"), 0);
	T_EQ_INT(tls_creds_match_name(a, "www.example.org\n"), 0);
	T_EQ_INT(tls_creds_match_name(a, "a.example/x"), 0);
	/* CN when there is no SAN at all, case-insensitive. */
	T_EQ_INT(tls_creds_match_name(cn, "cnonly.example"), 1);
	T_EQ_INT(tls_creds_match_name(cn, "CNONLY.EXAMPLE."), 1);
	T_EQ_INT(tls_creds_match_name(cn, "xmppd tests"), 0);
	T_EQ_INT(tls_creds_match_name(cn, "other.example"), 0);
	/* XMPP identities in the SAN; the CN then does not count. */
	T_EQ_INT(tls_creds_match_name(x, "xmpp.example"), 1);
	T_EQ_INT(tls_creds_match_name(x, "srv.example"), 1);
	T_EQ_INT(tls_creds_match_name(x, "other.example"), 0);
	T_EQ_INT(tls_creds_match_name(x, "cn.example"), 0);
	T_EQ_INT(tls_creds_match_name(rsa, "rsa.example"), 1);
	T_EQ_INT(tls_creds_match_name(rsa, "a.example"), 0);
out:
	tls_creds_unref(a);
	tls_creds_unref(cn);
	tls_creds_unref(x);
	tls_creds_unref(rsa);
}

static void
test_changed_on_disk(void)
{
	struct tls_creds *c;
	struct timespec ts[2];
	char err[512];

	puts_file("d.crt", PEM_A_CRT);
	puts_file("d.key", PEM_A_KEY);
	c = load("d.crt", "d.key", err, sizeof err);
	T_EXPECT(c != NULL, "load: %s", err);
	if (c == NULL)
		return;
	T_EQ_INT(tls_creds_changed_on_disk(c), 0);
	/* Same bytes, new mtime (as a renewal that changed nothing). */
	ts[0].tv_sec = ts[1].tv_sec = 1000000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	T_EXPECT(utimensat(AT_FDCWD, tpath("d.crt"), ts, 0) == 0, "utimensat");
	T_EQ_INT(tls_creds_changed_on_disk(c), 1);
	tls_creds_unref(c);
	c = load("d.crt", "d.key", err, sizeof err);
	T_EQ_INT(tls_creds_changed_on_disk(c), 0);
	/* A new key renamed over the old one: another inode. */
	puts_file("d.key.new", PEM_A_KEY);
	T_EXPECT(rename(tpath("d.key.new"), tpath("d.key")) == 0, "rename");
	T_EQ_INT(tls_creds_changed_on_disk(c), 1);
	tls_creds_unref(c);
	c = load("d.crt", "d.key", err, sizeof err);
	T_EQ_INT(tls_creds_changed_on_disk(c), 0);
	/* Gone counts as changed: the reload will say why. */
	T_EXPECT(unlink(tpath("d.crt")) == 0, "unlink");
	T_EQ_INT(tls_creds_changed_on_disk(c), 1);
	tls_creds_unref(c);
	T_EQ_INT(tls_creds_changed_on_disk(NULL), 0);
}

/* notAfter of a fresh -days 10 certificate, against openssl's reading. */
static void
test_expiry_openssl(void)
{
	struct tls_creds *c;
	struct tm tm;
	char cmd[1024], line[256], err[512];
	FILE *f;
	time_t want, now;

	if (system("openssl version >/dev/null 2>&1") != 0) {
		printf("unit tls: no openssl; -days 10 expiry check skipped\n");
		return;
	}
	snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout %s -out %s -days 10 "
	    "-subj /CN=ten.example >/dev/null 2>&1", tpath("ten.key"),
	    tpath("ten.crt"));
	T_EQ_INT(system(cmd), 0);
	c = load("ten.crt", "ten.key", err, sizeof err);
	T_EXPECT(c != NULL, "load: %s", err);
	snprintf(cmd, sizeof cmd, "openssl x509 -enddate -noout -in %s",
	    tpath("ten.crt"));
	f = popen(cmd, "r");
	T_EXPECT(f != NULL && fgets(line, sizeof line, f) != NULL,
	    "openssl x509 -enddate");
	if (f != NULL)
		pclose(f);
	/* notAfter=Dec  5 18:13:07 2026 GMT */
	memset(&tm, 0, sizeof tm);
	T_EXPECT(strncmp(line, "notAfter=", 9) == 0 &&
	    strptime(line + 9, "%b %d %H:%M:%S %Y GMT", &tm) != NULL,
	    "parse \"%s\"", line);
	want = timegm(&tm);
	now = time(NULL);
	T_EQ_INT(tls_creds_expiry(c), want);
	T_EXPECT(want - now > 10 * 86400 - 600 && want - now <= 10 * 86400,
	    "expiry %lld s from now", (long long)(want - now));
	T_EXPECT(tls_creds_match_name(c, "ten.example"), "CN ten.example");
	tls_creds_unref(c);
}

/*
 * Broken certificates and keys must fail cleanly, never crash: every
 * byte of A's leaf replaced, and the DER cut at every length.
 */
static void
test_hostile(void)
{
	static const unsigned char subst[] = { 0x00, 0xff, 0x80, 0x81, 0x1f };
	struct tls_creds *c;
	unsigned char *der, *mut;
	size_t len, i, j, ok = 0, bad = 0, scalar;
	char err[512], *pem;

	der = pem_der(PEM_A_CRT, &len);
	mut = xmalloc(len);
	for (i = 0; i < len; i++) {
		for (j = 0; j < sizeof subst; j++) {
			memcpy(mut, der, len);
			if (mut[i] == subst[j])
				continue;
			mut[i] = subst[j];
			pem = der_pem(mut, len, "CERTIFICATE");
			puts_file("mut.crt", pem);
			free(pem);
			c = load("mut.crt", "a.key", err, sizeof err);
			if (c != NULL) {
				ok++;
				(void)tls_creds_match_name(c, "a.example");
				tls_creds_unref(c);
			} else {
				bad++;
				T_EXPECT(err[0] != '\0', "no reason given");
			}
		}
	}
	for (i = 0; i < len; i++) {
		pem = der_pem(der, i, "CERTIFICATE");
		puts_file("mut.crt", pem);
		free(pem);
		c = load("mut.crt", "a.key", err, sizeof err);
		T_EXPECT(c == NULL, "cut at %zu loaded", i);
		tls_creds_unref(c);
	}
	/* Some land in fields nobody checks here (the signature). */
	T_EXPECT(ok > 0 && bad > 0, "ok %zu bad %zu", ok, bad);
	free(mut);
	free(der);

	/*
	 * The key: a change to the private scalar must be refused (the
	 * key no longer matches); the public key copy inside may be
	 * ignored, and nothing may crash.
	 */
	der = pem_der(PEM_B_KEY, &len);
	mut = xmalloc(len);
	scalar = 0;
	for (i = 0; i + 5 <= len; i++)
		if (memcmp(der + i, "\x02\x01\x01\x04\x20", 5) == 0)
			scalar = i + 5;
	T_EXPECT(scalar > 0 && scalar + 32 <= len, "scalar at %zu", scalar);
	ok = bad = 0;
	for (i = 0; i < len; i++) {
		memcpy(mut, der, len);
		mut[i] ^= 0xa5;
		pem = der_pem(mut, len, "PRIVATE KEY");
		puts_file("mut.key", pem);
		free(pem);
		c = load("b.crt", "mut.key", err, sizeof err);
		if (i >= scalar && i < scalar + 32)
			T_EXPECT(c == NULL, "scalar byte %zu changed, accepted",
			    i);
		if (c != NULL)
			ok++;
		else
			bad++;
		tls_creds_unref(c);
	}
	T_EXPECT(bad >= 32, "ok %zu bad %zu", ok, bad);
	free(mut);
	free(der);
}

/* ---- tests: cipher suites ---- */

static const char ALL_NAMES[] =
	"ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-RSA-AES128-GCM-SHA256 "
	"ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-RSA-AES256-GCM-SHA384 "
	"ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-RSA-CHACHA20-POLY1305 "
	"ECDHE-ECDSA-AES128-SHA256 ECDHE-ECDSA-AES256-SHA384 "
	"ECDHE-RSA-AES128-SHA256 ECDHE-RSA-AES256-SHA384";

static void
test_cipher_names(void)
{
	char err[1024], want[1024];
	char *bad[] = { "ECDHE-ECDSA-AES128-GCM-SHA256", "RC4-MD5" };
	char *null1[] = { NULL };

	T_EQ_STR(tls_cipher_names(), ALL_NAMES);
	T_EQ_STR(tls_cipher_names(), ALL_NAMES);	/* built once */
	T_EQ_INT(tls_cipher_known("ECDHE-RSA-CHACHA20-POLY1305"), 1);
	T_EQ_INT(tls_cipher_known("ecdhe-rsa-chacha20-poly1305"), 1);
	T_EQ_INT(tls_cipher_known("ECDHE-RSA-AES256-SHA384"), 1);
	T_EQ_INT(tls_cipher_known("ECDHE-RSA-AES128-SHA"), 0);
	T_EQ_INT(tls_cipher_known("RC4-MD5"), 0);
	T_EQ_INT(tls_cipher_known(""), 0);
	T_EQ_INT(tls_cipher_known(NULL), 0);

	T_EQ_INT(tls_set_ciphers(bad, 2, err, sizeof err), -1);
	snprintf(want, sizeof want, "unknown cipher suite \"RC4-MD5\" "
	    "(valid: %s)", ALL_NAMES);
	T_EQ_STR(err, want);
	T_EQ_INT(tls_set_ciphers(null1, 1, err, sizeof err), -1);
	T_EXPECT(strncmp(err, "unknown cipher suite \"(null)\"", 29) == 0,
	    "%s", err);
	T_EQ_INT(tls_set_ciphers(bad, 1, err, sizeof err), 0);
	T_EQ_INT(tls_set_ciphers(NULL, 0, err, sizeof err), 0);
}

/* ---- tests: whole connections ---- */

static void
test_handshake_ec(void)
{
	struct tls_creds *a;
	struct pair p;
	char err[512];

	a = load("a.crt", "a.key", err, sizeof err);
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	tls_creds_unref(a);		/* the connection keeps its own */
	/* Waiting for the ClientHello: read only. */
	T_EQ_INT(tls_events(p.t, 0), POLLIN);
	T_EQ_INT(tls_events(p.t, 1), 0);
	T_EQ_INT(tls_is_established(p.t), 0);
	T_EQ_INT(tls_has_pending_input(p.t), 0);
	T_EXPECT(tls_cipher_name(p.t) == NULL, "no suite yet");
	T_EXPECT(tls_server_name(p.t) == NULL, "no SNI yet");
	T_EQ_STR(tls_error_string(p.t), "no error");
	T_EQ_INT(tls_is_flushed(p.t), 1);

	T_EXPECT(pair_run(&p, done_connected), "handshake (rc %d: %s, "
	    "client error %d)", p.rc, tls_error_string(p.t),
	    br_ssl_engine_last_error(&p.cl->cc.eng));
	T_EQ_INT(p.rc, TLS_OK);
	T_EQ_INT(tls_is_established(p.t), 1);
	T_EQ_STR(tls_cipher_name(p.t), "ECDHE-ECDSA-AES128-GCM-SHA256");
	T_EQ_STR(tls_server_name(p.t), "a.example");
	T_EQ_INT(br_ssl_engine_get_version(&p.cl->cc.eng), BR_TLS12);
	hello_world(&p);

	/* The client's close_notify ends it cleanly on our side. */
	p.cl->want_close = 1;
	T_EXPECT(pair_run(&p, done_both_closed), "closed");
	T_EQ_INT(p.rc, TLS_CLOSED);
	T_EQ_INT(br_ssl_engine_last_error(&p.cl->cc.eng), BR_ERR_OK);
	T_EQ_INT(tls_events(p.t, 0), 0);
	T_EQ_INT(tls_is_flushed(p.t), 1);
	/* Sticky. */
	T_EQ_INT(tls_pump(p.t, p.sfd, &p.can_read, &p.can_write, &p.io),
	    TLS_CLOSED);
	pair_close(&p);
}

static void
test_handshake_rsa(void)
{
	struct tls_creds *r;
	struct pair p;
	char err[512];

	r = load("rsa.crt", "rsa.key", err, sizeof err);
	pair_open(&p, r, "rsa.example", PEM_RSA_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "RSA handshake (rc %d: %s, "
	    "client error %d)", p.rc, tls_error_string(p.t),
	    br_ssl_engine_last_error(&p.cl->cc.eng));
	T_EQ_STR(tls_cipher_name(p.t), "ECDHE-RSA-AES128-GCM-SHA256");
	hello_world(&p);
	pair_close(&p);
	tls_creds_unref(r);
}

/*
 * One connection offering the session in *sp (if sp->session_id_len),
 * to a c2s (s2s 0) or s2s server; *sp becomes the connection's session.
 * Returns whether the server resumed the offered one.
 */
static int
resume_once(struct tls_creds *c, br_ssl_session_parameters *sp, int s2s)
{
	br_ssl_session_parameters was = *sp;
	struct pair p;
	int resumed;

	pair_open(&p, c, "a.example", PEM_A_CRT, NULL);
	if (s2s) {
		tls_free(p.t);
		p.t = tls_server_new_s2s(c);
	}
	if (was.session_id_len > 0) {
		br_ssl_engine_set_session_parameters(&p.cl->cc.eng, &was);
		T_EXPECT(br_ssl_client_reset(&p.cl->cc, "a.example", 1) == 1,
		    "client reset for resumption");
	}
	T_EXPECT(pair_run(&p, done_connected), "handshake (%s)",
	    tls_error_string(p.t));
	/* Resumed or not, the suite and the SNI are known. */
	T_EQ_STR(tls_cipher_name(p.t), "ECDHE-ECDSA-AES128-GCM-SHA256");
	T_EQ_STR(tls_server_name(p.t), "a.example");
	hello_world(&p);
	br_ssl_engine_get_session_parameters(&p.cl->cc.eng, sp);
	resumed = was.session_id_len == 32 && sp->session_id_len == 32 &&
	    memcmp(was.session_id, sp->session_id, 32) == 0;
	pair_close(&p);
	return resumed;
}

static void
test_resume(void)
{
	static char *one[] = { "ECDHE-ECDSA-AES128-GCM-SHA256" };
	br_ssl_session_parameters sp;
	struct tls_creds *a;
	char err[512];

	a = load("a.crt", "a.key", err, sizeof err);
	memset(&sp, 0, sizeof sp);
	/* No cache (the default until configured): never resumed. */
	T_EQ_INT(resume_once(a, &sp, 0), 0);
	T_EQ_INT(resume_once(a, &sp, 0), 0);
	tls_set_session_cache(100 * 10);
	T_EQ_INT(resume_once(a, &sp, 0), 0);	/* stored now */
	T_EQ_INT(resume_once(a, &sp, 0), 1);
	T_EQ_INT(resume_once(a, &sp, 0), 1);
	/* Not for servers: their certificate is checked every time. */
	T_EQ_INT(resume_once(a, &sp, 1), 0);
	/* Another suite list forgets every session... */
	T_EQ_INT(tls_set_ciphers(one, 1, err, sizeof err), 0);
	T_EQ_INT(resume_once(a, &sp, 0), 0);
	T_EQ_INT(resume_once(a, &sp, 0), 1);
	/* ... the same list again does not. */
	T_EQ_INT(tls_set_ciphers(one, 1, err, sizeof err), 0);
	T_EQ_INT(resume_once(a, &sp, 0), 1);
	/* So does another size, and 0 ends resumption. */
	tls_set_session_cache(100 * 20);
	T_EQ_INT(resume_once(a, &sp, 0), 0);
	tls_set_session_cache(0);
	T_EQ_INT(resume_once(a, &sp, 0), 0);
	T_EQ_INT(resume_once(a, &sp, 0), 0);
	T_EQ_INT(tls_set_ciphers(NULL, 0, err, sizeof err), 0);
	tls_creds_unref(a);
}

/* Handshake with only these suites; the one negotiated, or NULL. */
static void
expect_suite(struct tls_creds *c, const char *crt, char **names, size_t n,
    const char *want)
{
	struct pair p;
	char err[512];

	T_EQ_INT(tls_set_ciphers(names, n, err, sizeof err), 0);
	pair_open(&p, c, NULL, crt, NULL);
	T_EXPECT(pair_run(&p, done_connected), "handshake for %s (%s)", want,
	    tls_error_string(p.t));
	T_EQ_STR(tls_cipher_name(p.t), want);
	hello_world(&p);
	pair_close(&p);
}

static void
test_suites(void)
{
	struct tls_creds *a, *r;
	struct pair p;
	char err[512];
	char *chacha[] = { "ECDHE-ECDSA-CHACHA20-POLY1305" };
	char *cbc[] = { "ECDHE-ECDSA-AES256-SHA384" };
	char *rsacbc[] = { "ECDHE-RSA-AES128-SHA256" };
	char *pref[] = { "ECDHE-ECDSA-AES256-GCM-SHA384",
	    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES256-GCM-SHA384" };
	char *mixed[] = { "ECDHE-RSA-CHACHA20-POLY1305",
	    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384" };
	char *rsaonly[] = { "ECDHE-RSA-AES128-GCM-SHA256" };

	a = load("a.crt", "a.key", err, sizeof err);
	r = load("rsa.crt", "rsa.key", err, sizeof err);
	expect_suite(a, PEM_A_CRT, chacha, 1, "ECDHE-ECDSA-CHACHA20-POLY1305");
	expect_suite(a, PEM_A_CRT, cbc, 1, "ECDHE-ECDSA-AES256-SHA384");
	expect_suite(r, PEM_RSA_CRT, rsacbc, 1, "ECDHE-RSA-AES128-SHA256");
	/* Our order wins over the client's (it puts ChaCha20 first). */
	expect_suite(a, PEM_A_CRT, pref, 3, "ECDHE-ECDSA-AES256-GCM-SHA384");
	/* Suites for the other key type are passed over. */
	expect_suite(a, PEM_A_CRT, mixed, 3, "ECDHE-ECDSA-AES256-GCM-SHA384");
	expect_suite(r, PEM_RSA_CRT, mixed, 3, "ECDHE-RSA-CHACHA20-POLY1305");

	/* Nothing usable with an EC key: a clear reason, alert 40. */
	T_EQ_INT(tls_set_ciphers(rsaonly, 1, err, sizeof err), 0);
	pair_open(&p, a, NULL, PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_server_finished), "server gave up");
	T_EQ_INT(p.rc, TLS_ERROR);
	T_EQ_STR(tls_error_string(p.t), "sent alert 40 (handshake_failure): "
	    "no common cipher suite for an EC certificate");
	T_EQ_INT(tls_events(p.t, 0), 0);
	T_EQ_INT(tls_is_established(p.t), 0);
	T_EQ_INT(tls_has_pending_input(p.t), 0);
	T_EXPECT(tls_cipher_name(p.t) == NULL, "no suite");
	client_step(p.cl);
	T_EQ_INT(br_ssl_engine_last_error(&p.cl->cc.eng),
	    BR_ERR_RECV_FATAL_ALERT + 40);
	pair_close(&p);

	/* And back to the defaults. */
	T_EQ_INT(tls_set_ciphers(NULL, 0, err, sizeof err), 0);
	expect_suite(r, PEM_RSA_CRT, NULL, 0, "ECDHE-RSA-AES128-GCM-SHA256");
	tls_creds_unref(a);
	tls_creds_unref(r);
}

static struct tls_creds *pick_a, *pick_b;
static int picks, picked_null;
static char picked[256];

static struct tls_creds *
test_picker(const char *name)
{
	picks++;
	if (name == NULL) {
		picked_null++;
		return NULL;
	}
	snprintf(picked, sizeof picked, "%s", name);
	if (strcmp(name, "b.example") == 0)
		return pick_b;
	if (strcmp(name, "none.example") == 0)
		return NULL;
	return pick_a;
}

static void
test_sni(void)
{
	struct pair p;
	char err[512];

	pick_a = load("a.crt", "a.key", err, sizeof err);
	pick_b = load("b.crt", "b.key", err, sizeof err);
	tls_set_picker(test_picker);

	/*
	 * Default A, SNI b.example: the client trusts only the CA that
	 * issued B and checks the name, so success means B's chain.
	 */
	picks = 0;
	pair_open(&p, pick_a, "b.example", PEM_CA_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "SNI handshake (%s, client "
	    "error %d)", tls_error_string(p.t),
	    br_ssl_engine_last_error(&p.cl->cc.eng));
	T_EQ_INT(picks, 1);
	T_EQ_STR(picked, "b.example");
	T_EQ_STR(tls_server_name(p.t), "b.example");
	hello_world(&p);
	/* B lives on in the connection after the loader lets go. */
	tls_creds_unref(pick_b);
	pick_b = NULL;
	T_EQ_MEM(p.cl->in, "world", 5);
	pair_close(&p);
	pick_b = load("b.crt", "b.key", err, sizeof err);

	/* The name reaches the picker in lower case. */
	picks = 0;
	pair_open(&p, pick_a, "B.Example", PEM_CA_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "upper-case SNI (%s)",
	    tls_error_string(p.t));
	T_EQ_STR(picked, "b.example");
	T_EQ_STR(tls_server_name(p.t), "b.example");
	pair_close(&p);

	/* No SNI: the picker hears NULL and the default stays. */
	picks = picked_null = 0;
	pair_open(&p, pick_a, NULL, PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "no SNI (%s)",
	    tls_error_string(p.t));
	T_EQ_INT(picks, 1);
	T_EQ_INT(picked_null, 1);
	T_EXPECT(tls_server_name(p.t) == NULL, "no server name");
	pair_close(&p);

	/*
	 * A name the picker turns down: the default, A, is sent, and the
	 * client (trusting A, but asking for none.example) says the name
	 * is wrong.
	 */
	picks = 0;
	pair_open(&p, pick_a, "none.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_client_closed), "client gave up");
	T_EQ_INT(picks, 1);
	T_EQ_STR(picked, "none.example");
	T_EQ_INT(br_ssl_engine_last_error(&p.cl->cc.eng),
	    BR_ERR_X509_BAD_SERVER_NAME);
	pair_close(&p);

	/* A server name that is no host name is no server name. */
	picks = picked_null = 0;
	pair_open(&p, pick_a, "bad!name.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_client_closed), "client gave up");
	T_EQ_INT(picks, 1);
	T_EQ_INT(picked_null, 1);
	T_EXPECT(tls_server_name(p.t) == NULL, "no server name");
	pair_close(&p);

	/* No default and nothing picked: refused with a reason. */
	pair_open(&p, NULL, "none.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_server_finished), "refused");
	T_EQ_INT(p.rc, TLS_ERROR);
	T_EQ_STR(tls_error_string(p.t), "sent alert 40 (handshake_failure): "
	    "no certificate for the requested server name");
	pair_close(&p);

	/* No default, picked by name. */
	pair_open(&p, NULL, "b.example", PEM_CA_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "picked without default (%s)",
	    tls_error_string(p.t));
	pair_close(&p);

	tls_set_picker(NULL);
	tls_creds_unref(pick_a);
	tls_creds_unref(pick_b);
}

static void
test_server_close(void)
{
	struct tls_creds *a;
	struct pair p;
	char err[512];

	a = load("a.crt", "a.key", err, sizeof err);
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "handshake");
	hello_world(&p);
	/* Last words queued, then close: they go out before close_notify. */
	s_queue(&p.sa, "</stream:stream>");
	tls_close(p.t);
	T_EQ_INT(tls_is_flushed(p.t), 0);
	tls_close(p.t);			/* twice is harmless */
	T_EXPECT(pair_run(&p, done_server_finished), "server finished");
	T_EQ_INT(p.rc, TLS_CLOSED);
	T_EQ_INT(tls_is_flushed(p.t), 1);
	T_EQ_INT(p.sa.outlen, 0);
	T_EXPECT(pair_run(&p, done_client_closed), "client saw close_notify");
	T_EQ_INT(br_ssl_engine_last_error(&p.cl->cc.eng), BR_ERR_OK);
	T_EQ_INT(p.cl->inlen, 5 + 16);
	T_EQ_MEM(p.cl->in + 5, "</stream:stream>", 16);
	pair_close(&p);

	/* Closing during the handshake: only the alert, then done. */
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	client_step(p.cl);		/* ClientHello on its way */
	tls_close(p.t);
	T_EQ_INT(tls_is_flushed(p.t), 0);
	p.can_write = 1;
	pair_pump(&p);
	T_EQ_INT(p.rc, TLS_CLOSED);
	T_EQ_INT(tls_is_flushed(p.t), 1);
	pair_close(&p);
	tls_creds_unref(a);
}

/*
 * On the wire: 10000 bytes queued at once leave as records of at most
 * 4 KiB of plaintext, and the tail is sealed at once, not held back.
 */
static void
test_records(void)
{
	struct tls_creds *a;
	struct pair p;
	unsigned char wire[16384], *q;
	char err[512], msg[10001];
	size_t off, nrec = 0, plain = 0, len;
	ssize_t n;

	a = load("a.crt", "a.key", err, sizeof err);
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "handshake");
	memset(msg, 'x', 10000);
	msg[10000] = '\0';
	s_queue(&p.sa, msg);
	T_EQ_INT(tls_is_flushed(p.t), 1);	/* nothing in the engine yet */
	p.can_write = 1;
	pair_pump(&p);
	T_EQ_INT(p.rc, TLS_OK);
	T_EQ_INT(p.sa.outlen, 0);
	T_EQ_INT(tls_is_flushed(p.t), 1);
	T_EQ_INT(tls_events(p.t, 0), POLLIN);
	n = read(p.cfd, wire, sizeof wire);
	T_EXPECT(n > 10000, "read %zd", n);
	/* AES-128-GCM: 8 bytes of explicit nonce and a 16-byte tag. */
	for (off = 0; n > 0 && off + 5 <= (size_t)n; off += 5 + len) {
		q = wire + off;
		len = (size_t)q[3] << 8 | q[4];
		T_EQ_INT(q[0], 23);		/* application data */
		T_EXPECT(len - 24 <= 4096, "record of %zu bytes", len);
		plain += len - 24;
		nrec++;
	}
	T_EQ_INT(off, n);
	T_EQ_INT(nrec, 3);
	T_EQ_INT(plain, 10000);
	pair_close(&p);
	tls_creds_unref(a);
}

/* A raw peer: the server, and a socket to write anything into. */
static struct tls *
raw_open(struct tls_creds *c, int *sfd, int *cfd)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	nonblock(sv[0]);
	nonblock(sv[1]);
	*sfd = sv[0];
	*cfd = sv[1];
	return tls_server_new(c);
}

static int
raw_pump(struct tls *t, int fd)
{
	int r = 1, w = 1, rc = TLS_OK, i;

	for (i = 0; i < 100 && rc == TLS_OK && (r || w); i++)
		rc = tls_pump(t, fd, &r, &w, NULL);
	return rc;
}

static void
test_peer_errors(void)
{
	struct tls_creds *a;
	struct tls *t;
	struct pair p;
	unsigned char rec[64];
	char err[512];
	int sfd, cfd, r, w;
	ssize_t n;

	a = load("a.crt", "a.key", err, sizeof err);

	/* Half a ClientHello, then TCP EOF. */
	t = raw_open(a, &sfd, &cfd);
	T_EQ_INT(write(cfd, "\x16\x03\x01\x00\x50\x01\x00", 7), 7);
	r = w = 1;
	T_EQ_INT(tls_pump(t, sfd, &r, &w, NULL), TLS_OK);
	T_EQ_INT(r, 0);			/* drained: EAGAIN cleared it */
	T_EQ_INT(w, 1);			/* nothing to send yet */
	close(cfd);
	T_EQ_INT(raw_pump(t, sfd), TLS_ERROR);
	T_EQ_STR(tls_error_string(t), "peer closed during handshake");
	T_EQ_INT(raw_pump(t, sfd), TLS_ERROR);		/* sticky */
	T_EQ_INT(tls_events(t, 0), 0);
	tls_free(t);
	close(sfd);

	/* Not TLS at all: an alert goes back, and a reason stays. */
	t = raw_open(a, &sfd, &cfd);
	T_EQ_INT(write(cfd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 27);
	T_EQ_INT(raw_pump(t, sfd), TLS_ERROR);
	T_EQ_STR(tls_error_string(t), "unsupported protocol version");
	/* BearSSL gives up on such bytes without an alert. */
	n = read(cfd, rec, sizeof rec);
	T_EXPECT(n == -1 && errno == EAGAIN, "read %zd", n);
	tls_free(t);
	close(sfd);
	close(cfd);

	/* A record too large for anybody. */
	t = raw_open(a, &sfd, &cfd);
	T_EQ_INT(write(cfd, "\x16\x03\x01\x48\x01", 5), 5);
	T_EQ_INT(raw_pump(t, sfd), TLS_ERROR);
	T_EQ_STR(tls_error_string(t), "bad record length");
	tls_free(t);
	close(sfd);
	close(cfd);

	/* EOF after the handshake without close_notify: only a truncation. */
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "handshake");
	hello_world(&p);
	close(p.cfd);
	p.cfd = -1;
	p.can_read = 1;
	pair_pump(&p);
	T_EQ_INT(p.rc, TLS_CLOSED);
	T_EQ_STR(tls_error_string(p.t), "no error");
	pair_close(&p);

	/* A peer gone while we have records to send: send() fails. */
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "handshake");
	close(p.cfd);
	p.cfd = -1;
	s_queue(&p.sa, "are you there?");
	p.can_write = 1;
	pair_pump(&p);
	T_EQ_INT(p.rc, TLS_ERROR);
	T_EXPECT(strncmp(tls_error_string(p.t), "send: ", 6) == 0, "%s",
	    tls_error_string(p.t));
	pair_close(&p);
	tls_creds_unref(a);
}

static void
test_pause(void)
{
	struct tls_creds *a;
	struct pair p;
	char err[512];
	size_t before;

	a = load("a.crt", "a.key", err, sizeof err);
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "handshake");
	p.sa.paused = 1;
	p.cl->out = (const unsigned char *)"hello";
	p.cl->outlen = 5;
	client_step(p.cl);
	p.can_read = 1;
	before = p.sa.delivers;
	pair_pump(&p);
	T_EQ_INT(p.rc, TLS_OK);
	T_EQ_INT(p.sa.delivers, before + 1);	/* asked once, no spinning */
	T_EQ_INT(p.sa.inlen, 0);
	/* The plaintext waits in the engine, where poll cannot see it. */
	T_EQ_INT(tls_has_pending_input(p.t), 1);
	T_EQ_INT(tls_events(p.t, 0) & POLLIN, 0);
	p.sa.paused = 0;
	p.can_read = p.can_write = 0;
	pair_pump(&p);
	T_EQ_INT(p.sa.inlen, 5);
	T_EQ_MEM(p.sa.in, "hello", 5);
	T_EQ_INT(tls_has_pending_input(p.t), 0);
	T_EQ_INT(tls_events(p.t, 0), POLLIN);
	T_EQ_INT(tls_events(p.t, 1), 0);
	pair_close(&p);
	tls_creds_unref(a);
}

/*
 * Small records are read ahead, several in one recv(): while the reader
 * is paused they wait in our buffer, the socket is empty, and
 * tls_has_pending_input() must say so; resumed, they all arrive without
 * the socket being readable again.
 */
static void
test_read_ahead(void)
{
	struct tls_creds *a;
	struct pair p;
	char err[512];
	int i;

	a = load("a.crt", "a.key", err, sizeof err);
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "handshake");
	p.cl->one_byte_records = 1;
	p.cl->out = (const unsigned char *)"abcdef";
	p.cl->outlen = 6;
	for (i = 0; i < 100 && p.cl->outoff < p.cl->outlen; i++)
		client_step(p.cl);
	client_step(p.cl);
	p.sa.paused = 1;
	p.can_read = 1;
	pair_pump(&p);
	T_EQ_INT(p.rc, TLS_OK);
	T_EQ_INT(p.sa.inlen, 0);
	T_EQ_INT(p.can_read, 0);	/* a short read: the socket is empty */
	T_EQ_INT(tls_has_pending_input(p.t), 1);
	p.sa.paused = 0;
	for (i = 0; i < 10 && p.sa.inlen < 6; i++) {
		p.can_read = p.can_write = 0;
		pair_pump(&p);
	}
	T_EQ_INT(p.sa.inlen, 6);
	T_EQ_MEM(p.sa.in, "abcdef", 6);
	T_EQ_INT(tls_has_pending_input(p.t), 0);
	pair_close(&p);
	tls_creds_unref(a);
}

/*
 * 200 one-byte records (about what a socketpair buffers): one pump
 * takes some, and says come back.
 */
static void
test_fairness_cap(void)
{
	struct tls_creds *a;
	struct pair p;
	unsigned char msg[200];
	char err[512];
	int i, pumps = 0;

	for (i = 0; i < 200; i++)
		msg[i] = (unsigned char)i;
	a = load("a.crt", "a.key", err, sizeof err);
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	T_EXPECT(pair_run(&p, done_connected), "handshake");
	p.cl->one_byte_records = 1;
	p.cl->out = msg;
	p.cl->outlen = sizeof msg;
	for (i = 0; i < 1000 && (p.cl->outoff < p.cl->outlen ||
	    (client_state(p.cl) & BR_SSL_SENDREC)); i++)
		client_step(p.cl);
	T_EQ_INT(p.cl->outoff, 200);
	p.can_read = 1;
	pair_pump(&p);
	T_EQ_INT(p.rc, TLS_OK);
	/* A delivery is a transfer: 64 at most. */
	T_EXPECT(p.sa.inlen > 0 && p.sa.inlen <= 64, "first pump took %zu",
	    p.sa.inlen);
	T_EQ_INT(tls_has_pending_input(p.t), 1);
	while (p.sa.inlen < 200 && pumps < 1000 && p.rc == TLS_OK) {
		pair_pump(&p);
		pumps++;
	}
	T_EQ_INT(p.sa.inlen, 200);
	T_EQ_MEM(p.sa.in, msg, 200);
	/* A delivery per record and a recv() per 17 or so (read ahead
	 * 512 bytes at a time): 64 transfers a pump. */
	T_EXPECT(pumps >= 200 / 64, "%d pumps", pumps);
	pair_close(&p);
	tls_creds_unref(a);
}

/* 256 KiB each way through a 4 KiB echo queue (so deliver pauses). */
static void
test_bulk(void)
{
	struct tls_creds *a;
	struct pair p;
	unsigned char *msg;
	char err[512];
	size_t i;

	bulk_len = 256 * 1024;
	msg = xmalloc(bulk_len);
	for (i = 0; i < bulk_len; i++)
		msg[i] = (unsigned char)(i * 7 + (i >> 9));
	a = load("a.crt", "a.key", err, sizeof err);
	pair_open(&p, a, "a.example", PEM_A_CRT, NULL);
	p.sa.echo = 1;
	p.sa.outcap = 4096;
	p.cl->out = msg;
	p.cl->outlen = bulk_len;
	T_EXPECT(pair_run(&p, done_bulk), "echo of %zu bytes: got %zu (%s)",
	    bulk_len, p.cl->inlen, tls_error_string(p.t));
	T_EQ_INT(p.rc, TLS_OK);
	T_EQ_INT(p.sa.inlen, bulk_len);
	T_EQ_INT(p.cl->inlen, bulk_len);
	T_EXPECT(p.cl->inlen == bulk_len &&
	    memcmp(p.cl->in, msg, bulk_len) == 0, "echo differs");
	T_EXPECT(p.sa.partial > 0, "deliver never paused");
	pair_close(&p);
	tls_creds_unref(a);
	free(msg);
}

static void
rm_tree(void)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_tls: could not remove %s\n", tdir);
}

void
test_tls(void)
{
	if (mkdtemp(tdir) == NULL) {
		T_EXPECT(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	write_fixtures();
	test_creds_good();
	test_creds_errors();
	test_names();
	test_changed_on_disk();
	test_expiry_openssl();
	test_hostile();
	test_cipher_names();
	test_handshake_ec();
	test_handshake_rsa();
	test_resume();
	test_suites();
	test_sni();
	test_server_close();
	test_peer_errors();
	test_records();
	test_pause();
	test_read_ahead();
	test_fairness_cap();
	test_bulk();
	rm_tree();
}
