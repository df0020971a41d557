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

/* ---- ngtcp2: the versioned API is reached through function-like macros that
 * pass the struct version; Swift imports no function-like macros, so each
 * wrapper below passes the version the headers were built with. ---- */

/* ngtcp2_settings_default is a macro over ngtcp2_settings_default_versioned. */
void cstoq_ngtcp2_settings_default(ngtcp2_settings *settings);

/* ngtcp2_transport_params_default is a macro over ..._versioned. */
void cstoq_ngtcp2_transport_params_default(ngtcp2_transport_params *params);

/* ngtcp2_conn_client_new is a macro (callbacks/settings/params versions). */
int cstoq_ngtcp2_conn_client_new(ngtcp2_conn **pconn, const ngtcp2_cid *dcid,
                                 const ngtcp2_cid *scid, const ngtcp2_path *path,
                                 uint32_t version, const ngtcp2_callbacks *callbacks,
                                 const ngtcp2_settings *settings,
                                 const ngtcp2_transport_params *params,
                                 void *user_data);

/* ngtcp2_conn_server_new is a macro (callbacks/settings/params versions). */
int cstoq_ngtcp2_conn_server_new(ngtcp2_conn **pconn, const ngtcp2_cid *dcid,
                                 const ngtcp2_cid *scid, const ngtcp2_path *path,
                                 uint32_t version, const ngtcp2_callbacks *callbacks,
                                 const ngtcp2_settings *settings,
                                 const ngtcp2_transport_params *params,
                                 void *user_data);

/* ngtcp2_conn_read_pkt is a macro (packet-info version); no ECN, so the
 * packet info is a zeroed local here. */
int cstoq_ngtcp2_conn_read_pkt(ngtcp2_conn *conn, const ngtcp2_path *path,
                               const uint8_t *pkt, size_t pktlen, ngtcp2_tstamp ts);

/* ngtcp2_conn_writev_stream is a macro (packet-info version); stream_id -1
 * writes a packet without stream data, as ngtcp2_conn_write_pkt does. */
ngtcp2_ssize cstoq_ngtcp2_conn_writev_stream(ngtcp2_conn *conn, ngtcp2_path *path,
                                             uint8_t *dest, size_t destlen,
                                             ngtcp2_ssize *pdatalen, uint32_t flags,
                                             int64_t stream_id, const ngtcp2_vec *datav,
                                             size_t datavcnt, ngtcp2_tstamp ts);

/* ngtcp2_conn_write_connection_close is a macro (packet-info version). */
ngtcp2_ssize cstoq_ngtcp2_conn_write_connection_close(
    ngtcp2_conn *conn, ngtcp2_path *path, uint8_t *dest, size_t destlen,
    const ngtcp2_connection_close_error *ccerr, ngtcp2_tstamp ts);

/* ngtcp2_conn_get_conn_stat is a macro (conn-stat version). */
void cstoq_ngtcp2_conn_get_conn_stat(ngtcp2_conn *conn, ngtcp2_conn_stat *cstat);

/* ngtcp2_conn_set_early_remote_transport_params is a macro (transport-params
 * version): a resuming client gives the server's remembered parameters. */
void cstoq_ngtcp2_conn_set_early_remote_transport_params(ngtcp2_conn *conn,
                                                         const ngtcp2_transport_params *params);

/* ---- nghttp3: as with ngtcp2, the versioned API sits behind function-like
 * macros that pass the struct versions; Swift imports none of them. ---- */

/* nghttp3_settings_default is a macro over nghttp3_settings_default_versioned. */
void cstoq_nghttp3_settings_default(nghttp3_settings *settings);

/* nghttp3_conn_client_new is a macro (callbacks/settings versions); default allocator. */
int cstoq_nghttp3_conn_client_new(nghttp3_conn **pconn, const nghttp3_callbacks *callbacks,
                                  const nghttp3_settings *settings, void *user_data);

/* nghttp3_conn_server_new is a macro (callbacks/settings versions); default allocator. */
int cstoq_nghttp3_conn_server_new(nghttp3_conn **pconn, const nghttp3_callbacks *callbacks,
                                  const nghttp3_settings *settings, void *user_data);

/* ---- GnuTLS ---- */

/* gnutls_free is a macro that also assigns NULL to its argument, over a
 * global function-pointer variable. */
void cstoq_gnutls_free(void *ptr);

/* ---- glibc ---- */

/* mallinfo2() lives in <malloc.h>, which Swift's Glibc module does not export:
 * bytes currently allocated by malloc (arena + mmap), for memory benchmarks. */
size_t cstoq_heap_bytes_in_use(void);

/* Whether needle occurs in haystack: glibc's memmem (SIMD), which Swift's
 * Glibc module hides as a GNU extension. */
int cstoq_contains(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);

/* GnuTLS checks certificate dates against the time its global time function
 * gives (time() by default). A simulation dates certificates on its own clock,
 * and gnutls_global_set_time_function takes a plain C function pointer, which
 * must read that instant from a global: this sets it (Unix seconds), or hands
 * back to the real clock when negative. Installs the function on first use. */
void cstoq_tls_set_clock(int64_t unix_seconds);
/* Mutual TLS on a server session: asks the client for a certificate and has
 * GnuTLS verify it in the handshake against the credentials' trust anchors
 * for the TLS client key purpose. `required`: GNUTLS_CERT_REQUIRE and
 * GnuTLS's own verification (gnutls_session_set_verify_cert2, whose purpose
 * is a typed-data array holding the string macro GNUTLS_KP_TLS_WWW_CLIENT,
 * which Swift does not import). Otherwise GNUTLS_CERT_REQUEST and a C verify
 * callback that accepts a client sending no certificate (GnuTLS's own
 * verification refuses that) and verifies one that is sent. Returns 0. */
int cstoq_gnutls_verify_client_certificate(gnutls_session_t session, int required);

#endif
