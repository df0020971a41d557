#include "CStoq.h"

const char *cstoq_ngtcp2_version_string(void) {
    const ngtcp2_info *info = ngtcp2_version(0);
    return info ? info->version_str : "";
}

const char *cstoq_gnutls_version_string(void) {
    return gnutls_check_version(NULL);
}

const char *cstoq_nghttp3_version_string(void) {
    const nghttp3_info *info = nghttp3_version(0);
    return info ? info->version_str : "";
}

int cstoq_probe_ngtcp2_crypto_gnutls(void) {
    gnutls_session_t session;
    int rv = gnutls_init(&session, GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA);
    if (rv != 0) return rv;
    rv = ngtcp2_crypto_gnutls_configure_client_session(session);
    gnutls_deinit(session);
    return rv;
}
