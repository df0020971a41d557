#ifndef CSTOQ_SYSTEM_SHIM_H
#define CSTOQ_SYSTEM_SHIM_H
/* The system headers of the C libraries STOQ Sim links (Debian -dev packages). */
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <nghttp3/nghttp3.h>
#endif
