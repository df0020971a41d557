#ifndef CSTOQ_H
#define CSTOQ_H
/* CStoq: the one place where STOQ Sim touches C. Each function carries the
 * cstoq_ prefix and says why Swift cannot call the library directly. */
#include "../../CStoqSystem/shim.h"

/* ngtcp2_version() returns a struct pointer whose field access is awkward from
 * Swift; this hands back the version string only. */
const char *cstoq_ngtcp2_version_string(void);

/* GNUTLS_VERSION-style checks go through gnutls_check_version(NULL), which Swift
 * imports fine, but we keep every library's probe in one shape. */
const char *cstoq_gnutls_version_string(void);

/* nghttp3_version() mirrors ngtcp2_version(). */
const char *cstoq_nghttp3_version_string(void);

/* ngtcp2_crypto_gnutls has no version call: this makes a GnuTLS client session,
 * lets ngtcp2_crypto_gnutls configure it for QUIC, and frees it. Returns 0 when
 * both libraries link and work, a negative library error code otherwise. */
int cstoq_probe_ngtcp2_crypto_gnutls(void);

#endif
