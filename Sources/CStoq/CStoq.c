#define _GNU_SOURCE
#include "CStoq.h"
#include <string.h>
#include <malloc.h>
#include <time.h>

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

void cstoq_ngtcp2_settings_default(ngtcp2_settings *settings) {
    ngtcp2_settings_default(settings);
}

void cstoq_ngtcp2_transport_params_default(ngtcp2_transport_params *params) {
    ngtcp2_transport_params_default(params);
}

void cstoq_ngtcp2_conn_set_early_remote_transport_params(ngtcp2_conn *conn,
                                                         const ngtcp2_transport_params *params) {
    ngtcp2_conn_set_early_remote_transport_params(conn, params);
}

int cstoq_ngtcp2_conn_client_new(ngtcp2_conn **pconn, const ngtcp2_cid *dcid,
                                 const ngtcp2_cid *scid, const ngtcp2_path *path,
                                 uint32_t version, const ngtcp2_callbacks *callbacks,
                                 const ngtcp2_settings *settings,
                                 const ngtcp2_transport_params *params,
                                 void *user_data) {
    return ngtcp2_conn_client_new(pconn, dcid, scid, path, version, callbacks,
                                  settings, params, NULL, user_data);
}

int cstoq_ngtcp2_conn_server_new(ngtcp2_conn **pconn, const ngtcp2_cid *dcid,
                                 const ngtcp2_cid *scid, const ngtcp2_path *path,
                                 uint32_t version, const ngtcp2_callbacks *callbacks,
                                 const ngtcp2_settings *settings,
                                 const ngtcp2_transport_params *params,
                                 void *user_data) {
    return ngtcp2_conn_server_new(pconn, dcid, scid, path, version, callbacks,
                                  settings, params, NULL, user_data);
}

int cstoq_ngtcp2_conn_read_pkt(ngtcp2_conn *conn, const ngtcp2_path *path,
                               const uint8_t *pkt, size_t pktlen, ngtcp2_tstamp ts) {
    ngtcp2_pkt_info pi = {0};
    return ngtcp2_conn_read_pkt(conn, path, &pi, pkt, pktlen, ts);
}

ngtcp2_ssize cstoq_ngtcp2_conn_writev_stream(ngtcp2_conn *conn, ngtcp2_path *path,
                                             uint8_t *dest, size_t destlen,
                                             ngtcp2_ssize *pdatalen, uint32_t flags,
                                             int64_t stream_id, const ngtcp2_vec *datav,
                                             size_t datavcnt, ngtcp2_tstamp ts) {
    ngtcp2_pkt_info pi;
    return ngtcp2_conn_writev_stream(conn, path, &pi, dest, destlen, pdatalen, flags,
                                     stream_id, datav, datavcnt, ts);
}

ngtcp2_ssize cstoq_ngtcp2_conn_write_connection_close(
    ngtcp2_conn *conn, ngtcp2_path *path, uint8_t *dest, size_t destlen,
    const ngtcp2_connection_close_error *ccerr, ngtcp2_tstamp ts) {
    ngtcp2_pkt_info pi;
    return ngtcp2_conn_write_connection_close(conn, path, &pi, dest, destlen, ccerr, ts);
}

void cstoq_ngtcp2_conn_get_conn_stat(ngtcp2_conn *conn, ngtcp2_conn_stat *cstat) {
    ngtcp2_conn_get_conn_stat(conn, cstat);
}

void cstoq_nghttp3_settings_default(nghttp3_settings *settings) {
    nghttp3_settings_default(settings);
}

int cstoq_nghttp3_conn_client_new(nghttp3_conn **pconn, const nghttp3_callbacks *callbacks,
                                  const nghttp3_settings *settings, void *user_data) {
    return nghttp3_conn_client_new(pconn, callbacks, settings, NULL, user_data);
}

int cstoq_nghttp3_conn_server_new(nghttp3_conn **pconn, const nghttp3_callbacks *callbacks,
                                  const nghttp3_settings *settings, void *user_data) {
    return nghttp3_conn_server_new(pconn, callbacks, settings, NULL, user_data);
}

void cstoq_gnutls_free(void *ptr) {
    gnutls_free(ptr);
}

size_t cstoq_heap_bytes_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

/* One simulation thread sets it around the calls that verify certificates. */
static _Thread_local int64_t cstoq_clock_override = -1;
static int cstoq_clock_installed = 0;

static time_t cstoq_tls_time(time_t *t) {
    time_t now = cstoq_clock_override >= 0 ? (time_t)cstoq_clock_override : time(NULL);
    if (t) *t = now;
    return now;
}

void cstoq_tls_set_clock(int64_t unix_seconds) {
    if (!cstoq_clock_installed) {
        gnutls_global_set_time_function(cstoq_tls_time);
        cstoq_clock_installed = 1;
    }
    cstoq_clock_override = unix_seconds;
}

/* GnuTLS keeps the pointer given to set_verify_cert2: static storage outlives every session. */
static gnutls_typed_vdata_st cstoq_client_purpose = {GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};

static int cstoq_verify_optional_client_certificate(gnutls_session_t session) {
    unsigned int count = 0, status = 0;
    if (gnutls_certificate_get_peers(session, &count) == NULL || count == 0) return 0;
    if (gnutls_certificate_verify_peers(session, &cstoq_client_purpose, 1, &status) < 0 || status != 0)
        return GNUTLS_E_CERTIFICATE_ERROR;
    return 0;
}

int cstoq_gnutls_verify_client_certificate(gnutls_session_t session, int required) {
    if (required) {
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert2(session, &cstoq_client_purpose, 1, 0);
    } else {
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
        gnutls_session_set_verify_function(session, cstoq_verify_optional_client_certificate);
    }
    return 0;
}

int cstoq_contains(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen) {
    return memmem(haystack, haystacklen, needle, needlelen) != NULL;
}
