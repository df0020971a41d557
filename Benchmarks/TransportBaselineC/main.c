/*
 * transport-baseline-c: the C reference for `stoqsim bench transport`.
 *
 * Drives ngtcp2 0.12 + GnuTLS (ngtcp2_crypto_gnutls) directly, both ends in one
 * thread, no sockets, datagrams in in-memory queues with a 1 ms one-way delay
 * on a virtual clock. Everything the Swift benchmark fixes is fixed the same
 * way here (see Sources/StoqTransport): certificate chain shape, GnuTLS
 * priority string and session flags, transport parameters and windows,
 * connection-ID lengths, the step order of InMemoryPair, the way
 * QuicConnection.transmit writes packets, the 1 GiB / 1 MiB / 32 MiB bulk
 * pattern, mallinfo2 heap accounting and thread CPU time. So the gap between
 * the two programs' figures is what our Swift layer costs.
 *
 * The one place where this program deliberately does less: the receiver counts
 * stream bytes inside recv_stream_data instead of copying them into a buffer
 * first (QuicConnection appends them to StreamState.received, then discard()
 * drops them). The benchmark's receiver discards, so the copy is Swift-side cost.
 *
 * Extra lines ("batched writes") run the bulk transfer the way the ngtcp2 note
 * (shared/notes/ngtcp2-0.12.md) measured it: every turn writes packets until
 * ngtcp2 returns 0 (congestion window, flow control or nothing left) instead
 * of stopping at the send quantum (at most 64 packets) as QuicConnection does.
 *
 * Usage: transport-baseline-c [--handshakes N] [--mebibytes N] [--pairs N] [--repeat N]
 */
#define _POSIX_C_SOURCE 200809L
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

/* ---- Settings copied from Sources/StoqTransport ---------------------------- */

/* TLSPriority.string: TLS 1.3 only, X25519 first, no middlebox-compat mode. */
static const char PRIORITY[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE";

/* TransportConfiguration defaults. */
#define STREAM_WINDOW (16ULL << 20)
#define CONNECTION_WINDOW (24ULL << 20)
#define MAX_STREAM_WINDOW (64ULL << 20)
#define MAX_CONNECTION_WINDOW (96ULL << 20)
#define MAX_STREAMS 100
#define IDLE_TIMEOUT (30 * NGTCP2_SECONDS)
#define MAX_UDP_PAYLOAD 1452
#define CID_LEN 16          /* connectionIDLength */
#define CLIENT_DCID_LEN 18  /* QuicConnection.client: first DCID */

#define MAX_VECS 16          /* QuicConnection.maxVecs */
#define CHUNK (64 << 10)     /* QuicConnection.sendChunkSize: writes are copied in 64 KiB pieces */
#define BUFFER_SIZE 65536    /* QuicEndpoint.bufferCapacity */
#define MAX_PACKETS_PER_TURN 64

/* ngtcp2 timestamps are virtual nanoseconds plus this (QuicConnection.timestampOffset). */
#define TS_OFFSET NGTCP2_SECONDS
#define ONE_WAY_DELAY NGTCP2_MILLISECONDS
#define TIME_LIMIT (600 * NGTCP2_SECONDS)

typedef enum { WRITE_SEND_QUANTUM, WRITE_UNTIL_CWND } write_mode;

/* ---- Seeded randomness: xoshiro256** as RandomStream ---------------------- */

typedef struct { uint64_t s[4]; } rng;

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* RandomStream(seed:stream:): the name hashed with FNV-1a. */
static void rng_init(rng *r, uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
    uint64_t sm = seed ^ h;
    splitmix(&sm);
    uint64_t sm2 = splitmix(&sm);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix(&sm2);
}

static uint64_t rng_next(rng *r) {
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void rng_fill(rng *r, uint8_t *dest, size_t n) {
    while (n > 0) {
        uint64_t w = rng_next(r);
        size_t k = n < 8 ? n : 8;
        memcpy(dest, &w, k);
        dest += k;
        n -= k;
    }
}

/* ---- Types ----------------------------------------------------------------- */

struct endpoint;

/* One piece of stream data, kept until the peer acknowledges it (ngtcp2
 * retransmits from the memory it was given). */
typedef struct { uint8_t *base; size_t len; uint64_t offset; } chunk;

/* Our one sending stream (the benchmarks open at most one per connection). */
typedef struct {
    int64_t id;               /* -1: none */
    chunk *chunks;
    size_t head, count, cap;  /* chunks[head..count) hold unacknowledged bytes */
    size_t cursor;            /* chunk holding sent_offset */
    uint64_t sent_offset, queued_offset;
    int fin_queued, fin_sent, in_queue, blocked, closed;
} send_stream;

typedef struct conn {
    struct endpoint *ep;
    ngtcp2_conn *q;
    gnutls_session_t tls;
    ngtcp2_crypto_conn_ref ref;
    ngtcp2_path_storage path;     /* the connection's path: read_pkt must get exactly this */
    ngtcp2_path_storage scratch;  /* written by writev_stream */
    ngtcp2_vec vecs[MAX_VECS];
    int is_server, handshake_completed, closed, failed, needs_tx;
    int close_pending;
    ngtcp2_connection_close_error ccerr;
    ngtcp2_tstamp expiry;
    ngtcp2_cid *ids;              /* connection IDs registered for us at the endpoint */
    size_t nids, capids;
    send_stream tx;
    /* Receiving side: what discard() would see. */
    int64_t rx_stream;
    uint64_t rx_unread, rx_total;
    int rx_readable, rx_fin, rx_fin_read, rx_stream_closed;
    uint64_t bytes_sent, datagrams_sent;
} conn;

/* Open-addressing table from connection ID to connection (QuicEndpoint.byID). */
typedef struct { uint8_t len; uint8_t id[NGTCP2_MAX_CIDLEN]; conn *c; } cid_slot;
typedef struct { cid_slot *slots; size_t cap, used /* live + tombstones */, live; } cid_table;
static conn TOMBSTONE_CONN;
#define TOMBSTONE (&TOMBSTONE_CONN)

/* Datagrams in flight in one direction: FIFO, every datagram sees the same delay. */
typedef struct { ngtcp2_tstamp arrival; size_t len; uint8_t data[MAX_UDP_PAYLOAD]; } datagram;
typedef struct { datagram *q; size_t head, count, cap; } lane;

typedef struct endpoint {
    int is_server;
    struct sockaddr_in6 addr;
    gnutls_certificate_credentials_t cred;  /* one shared object for all connections */
    gnutls_priority_t priority;
    rng random;
    cid_table ids;
    conn **live; size_t nlive, caplive;     /* creation order */
    conn **dead; size_t ndead, capdead;     /* closed, freed by the benchmark (untimed) */
    conn *last_accepted;
    write_mode mode;
    uint8_t buf[BUFFER_SIZE];
} endpoint;

typedef struct {
    endpoint client, server;
    lane to_server, to_client;
    ngtcp2_tstamp now;
} pair;

static void die(const char *what, int rv) {
    fprintf(stderr, "transport-baseline-c: %s failed: %d\n", what, rv);
    exit(2);
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n);
    if (!p) die("realloc", 0);
    return p;
}

/* ---- CID table ------------------------------------------------------------- */

static size_t cid_hash(const uint8_t *id, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ id[i]) * 0x100000001b3ULL;
    return (size_t)h;
}

static conn *cid_get(cid_table *t, const uint8_t *id, size_t len) {
    if (t->cap == 0) return NULL;
    for (size_t i = cid_hash(id, len) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        cid_slot *s = &t->slots[i];
        if (!s->c) return NULL;
        if (s->c != TOMBSTONE && s->len == len && memcmp(s->id, id, len) == 0) return s->c;
    }
}

static void cid_put(cid_table *t, const uint8_t *id, size_t len, conn *c);

static void cid_rehash(cid_table *t, size_t cap) {
    cid_slot *old = t->slots;
    size_t oldcap = t->cap;
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) die("calloc", 0);
    t->cap = cap;
    t->used = t->live = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].c && old[i].c != TOMBSTONE) cid_put(t, old[i].id, old[i].len, old[i].c);
    free(old);
}

static void cid_put(cid_table *t, const uint8_t *id, size_t len, conn *c) {
    if ((t->used + 1) * 2 > t->cap) {
        /* Size from the live entries: connections come and go, tombstones should not grow the table. */
        size_t cap = 64;
        while (cap < (t->live + 1) * 4) cap *= 2;
        cid_rehash(t, cap);
    }
    size_t i = cid_hash(id, len) & (t->cap - 1);
    for (;; i = (i + 1) & (t->cap - 1)) {
        cid_slot *s = &t->slots[i];
        if (!s->c || s->c == TOMBSTONE) break;
        if (s->len == len && memcmp(s->id, id, len) == 0) { s->c = c; return; }
    }
    if (!t->slots[i].c) t->used++;
    t->live++;
    t->slots[i].len = (uint8_t)len;
    memcpy(t->slots[i].id, id, len);
    t->slots[i].c = c;
}

static void cid_remove(cid_table *t, const uint8_t *id, size_t len, conn *only) {
    if (t->cap == 0) return;
    for (size_t i = cid_hash(id, len) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        cid_slot *s = &t->slots[i];
        if (!s->c) return;
        if (s->c != TOMBSTONE && s->len == len && memcmp(s->id, id, len) == 0) {
            if (!only || s->c == only) { s->c = TOMBSTONE; t->live--; }
            return;
        }
    }
}

static void register_id(conn *c, const ngtcp2_cid *cid) {
    cid_put(&c->ep->ids, cid->data, cid->datalen, c);
    if (c->nids == c->capids) {
        c->capids = c->capids ? c->capids * 2 : 4;
        c->ids = xrealloc(c->ids, c->capids * sizeof *c->ids);
    }
    c->ids[c->nids++] = *cid;
}

static ngtcp2_cid make_cid(endpoint *ep, size_t len) {
    uint8_t bytes[NGTCP2_MAX_CIDLEN];
    ngtcp2_cid cid;
    rng_fill(&ep->random, bytes, len);
    ngtcp2_cid_init(&cid, bytes, len);
    return cid;
}

/* ---- Lanes ----------------------------------------------------------------- */

static datagram *lane_push(lane *l) {
    if (l->count == l->cap) {
        size_t oldcap = l->cap;
        l->cap = oldcap ? oldcap * 2 : 256;
        l->q = xrealloc(l->q, l->cap * sizeof *l->q);
        /* Unwrap the part that had wrapped around to the front. */
        if (l->head + l->count > oldcap) {
            size_t wrapped = l->head + l->count - oldcap;
            memcpy(l->q + oldcap, l->q, wrapped * sizeof *l->q);
        }
    }
    return &l->q[(l->head + l->count++) % l->cap];
}

static datagram *lane_front(lane *l) { return l->count ? &l->q[l->head] : NULL; }

static void lane_pop(lane *l) {
    l->head = (l->head + 1) % l->cap;
    l->count--;
}

/* ---- Send stream ----------------------------------------------------------- */

static int has_unsent(const send_stream *s) {
    return s->sent_offset < s->queued_offset || (s->fin_queued && !s->fin_sent);
}

static void release_chunks(send_stream *s) {
    for (size_t i = s->head; i < s->count; i++) free(s->chunks[i].base);
    free(s->chunks);
    s->chunks = NULL;
    s->head = s->count = s->cap = s->cursor = 0;
}

/* Points vecs at unsent bytes; *reaches_end says whether they run to the end of what is queued. */
static size_t gather(send_stream *s, ngtcp2_vec *vecs, int *reaches_end) {
    while (s->cursor < s->count && s->chunks[s->cursor].offset + s->chunks[s->cursor].len <= s->sent_offset)
        s->cursor++;
    size_t n = 0, i = s->cursor;
    uint64_t position = s->sent_offset;
    for (; n < MAX_VECS && i < s->count; i++, n++) {
        chunk *k = &s->chunks[i];
        size_t skip = (size_t)(position - k->offset);
        vecs[n].base = k->base + skip;
        vecs[n].len = k->len - skip;
        position = k->offset + k->len;
    }
    *reaches_end = i == s->count;
    return n;
}

/* Frees chunks the peer has acknowledged completely. */
static void acknowledge(send_stream *s, uint64_t upto) {
    while (s->head < s->count && s->chunks[s->head].offset + s->chunks[s->head].len <= upto) {
        free(s->chunks[s->head].base);
        s->head++;
    }
    if (s->cursor < s->head) s->cursor = s->head;
    /* Compact in batches so the array does not shift on every ACK. */
    if (s->head >= 64 || s->head == s->count) {
        memmove(s->chunks, s->chunks + s->head, (s->count - s->head) * sizeof *s->chunks);
        s->count -= s->head;
        s->cursor -= s->head;
        s->head = 0;
    }
}

/* ---- Connections ----------------------------------------------------------- */

static void refresh_expiry(conn *c) { c->expiry = c->closed ? UINT64_MAX : ngtcp2_conn_get_expiry(c->q); }

/* The connection is over: its IDs leave the table, its buffers go. */
static void finish(conn *c) {
    if (c->closed) return;
    c->closed = 1;
    c->close_pending = 0;
    c->expiry = UINT64_MAX;
    c->tx.in_queue = 0;
    release_chunks(&c->tx);
    for (size_t i = 0; i < c->nids; i++) cid_remove(&c->ep->ids, c->ids[i].data, c->ids[i].datalen, c);
    c->nids = 0;
}

/* An error from read/write/expiry: end the connection the way the error asks (QuicConnection.handleFailure). */
static void handle_failure(conn *c, int rv) {
    switch (rv) {
    case NGTCP2_ERR_DRAINING:   /* the peer closed */
        finish(c);
        return;
    case NGTCP2_ERR_IDLE_CLOSE: case NGTCP2_ERR_DROP_CONN: case NGTCP2_ERR_CLOSING:
        c->failed = 1;
        finish(c);
        return;
    case NGTCP2_ERR_CRYPTO:
        c->failed = 1;
        ngtcp2_connection_close_error_set_transport_error_tls_alert(&c->ccerr, ngtcp2_conn_get_tls_alert(c->q), NULL, 0);
        c->close_pending = 1;
        break;
    default:
        if (c->close_pending) return;
        c->failed = 1;
        ngtcp2_connection_close_error_set_transport_error_liberr(&c->ccerr, rv, NULL, 0);
        c->close_pending = 1;
    }
    c->needs_tx = 1;
}

static void emit(conn *c, lane *out, ngtcp2_tstamp now, size_t n) {
    if (n > MAX_UDP_PAYLOAD) die("datagram larger than max_tx_udp_payload_size", (int)n);
    datagram *d = lane_push(out);
    d->arrival = now + ONE_WAY_DELAY;
    d->len = n;
    memcpy(d->data, c->ep->buf, n);  /* the one copy QuicEndpoint.transmit makes too */
    c->bytes_sent += n;
    c->datagrams_sent++;
}

static int write_close(conn *c, lane *out, ngtcp2_tstamp now) {
    ngtcp2_pkt_info pi;
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->q, &c->scratch.path, &pi, c->ep->buf, BUFFER_SIZE, &c->ccerr, now);
    if (n > 0) emit(c, out, now, (size_t)n);
    finish(c);
    return 0;
}

/* QuicConnection.transmit: packets until ngtcp2 has nothing more (0), at most
 * the send quantum's worth (≤ 64) unless the endpoint batches until cwnd;
 * then update_pkt_tx_time once for the whole turn. */
static void transmit(conn *c, ngtcp2_tstamp now, lane *out) {
    c->needs_tx = 0;
    if (c->closed) return;
    if (c->close_pending) { write_close(c, out, now); return; }
    size_t max_packets = SIZE_MAX;
    if (c->ep->mode == WRITE_SEND_QUANTUM) {
        size_t udp = ngtcp2_conn_get_max_tx_udp_payload_size(c->q);
        max_packets = ngtcp2_conn_get_send_quantum(c->q) / (udp ? udp : 1);
        if (max_packets > MAX_PACKETS_PER_TURN) max_packets = MAX_PACKETS_PER_TURN;
        if (max_packets < 1) max_packets = 1;
    }
    size_t packets = 0;
    int skip_stream = 0;  /* the stream could add no more to this packet: close it without */
    while (packets < max_packets) {
        send_stream *s = (!skip_stream && c->tx.in_queue) ? &c->tx : NULL;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        size_t nvecs = 0;
        int reaches_end = 1;
        if (s) {
            nvecs = gather(s, c->vecs, &reaches_end);
            if (reaches_end && s->fin_queued && !s->fin_sent) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_ssize accepted = -1;
        ngtcp2_pkt_info pi;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->q, &c->scratch.path, &pi, c->ep->buf, BUFFER_SIZE, &accepted,
                                                   flags, s ? s->id : -1, c->vecs, nvecs, now);
        if (s && accepted >= 0) {
            s->sent_offset += (uint64_t)accepted;
            if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && s->sent_offset == s->queued_offset) s->fin_sent = 1;
        }
        if (n < 0) {
            switch ((int)n) {
            case NGTCP2_ERR_WRITE_MORE:
                if (s && !has_unsent(s)) s->in_queue = 0; else skip_stream = 1;
                continue;
            case NGTCP2_ERR_STREAM_DATA_BLOCKED:
                if (s) { s->blocked = 1; s->in_queue = 0; }
                continue;
            case NGTCP2_ERR_STREAM_SHUT_WR: case NGTCP2_ERR_STREAM_NOT_FOUND:
                if (s) s->in_queue = 0;
                continue;
            default:
                handle_failure(c, (int)n);
                if (c->close_pending) write_close(c, out, now);
                return;
            }
        }
        if (s && !has_unsent(s)) s->in_queue = 0;
        if (n == 0) break;  /* congestion, flow control or pacing limited, or nothing left */
        emit(c, out, now, (size_t)n);
        packets++;
        skip_stream = 0;
    }
    ngtcp2_conn_update_pkt_tx_time(c->q, now);
    refresh_expiry(c);
}

/* discard() after a streamReadable event: count the bytes and give the credit back. */
static void deliver_events(conn *c) {
    if (!c->rx_readable || c->closed) return;
    uint64_t n = c->rx_unread;
    c->rx_unread = 0;
    c->rx_readable = 0;
    c->rx_total += n;
    if (c->rx_fin) c->rx_fin_read = 1;
    if (n > 0) {
        if (!c->rx_stream_closed) ngtcp2_conn_extend_max_stream_offset(c->q, c->rx_stream, n);
        ngtcp2_conn_extend_max_offset(c->q, n);
        c->needs_tx = 1;
    }
}

static void conn_receive(conn *c, const uint8_t *pkt, size_t len, ngtcp2_tstamp now) {
    if (c->closed) return;
    ngtcp2_pkt_info pi = {0};
    int rv = ngtcp2_conn_read_pkt(c->q, &c->path.path, &pi, pkt, len, now);
    if (rv != 0) handle_failure(c, rv);
    c->needs_tx = 1;
    if (!c->closed) refresh_expiry(c);
    deliver_events(c);
}

/* ---- ngtcp2 callbacks ------------------------------------------------------ */

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx) {
    rng_fill(&((endpoint *)ctx->native_handle)->random, dest, len);
}

static int cb_get_new_connection_id(ngtcp2_conn *q, ngtcp2_cid *cid, uint8_t *token, size_t len, void *user) {
    (void)q;
    conn *c = user;
    *cid = make_cid(c->ep, len);
    rng_fill(&c->ep->random, token, NGTCP2_STATELESS_RESET_TOKENLEN);
    register_id(c, cid);
    return 0;
}

static int cb_remove_connection_id(ngtcp2_conn *q, const ngtcp2_cid *cid, void *user) {
    (void)q;
    cid_remove(&((conn *)user)->ep->ids, cid->data, cid->datalen, NULL);
    return 0;
}

static int cb_handshake_completed(ngtcp2_conn *q, void *user) {
    (void)q;
    ((conn *)user)->handshake_completed = 1;
    return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *q, uint32_t flags, int64_t id, uint64_t offset, const uint8_t *data,
                               size_t len, void *user, void *stream_user) {
    (void)q; (void)offset; (void)data; (void)stream_user;
    conn *c = user;
    c->rx_stream = id;
    c->rx_unread += len;  /* counted, not copied: the receiver discards */
    if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) c->rx_fin = 1;
    c->rx_readable = 1;
    return 0;
}

static int cb_acked_stream_data_offset(ngtcp2_conn *q, int64_t id, uint64_t offset, uint64_t len, void *user,
                                       void *stream_user) {
    (void)q; (void)stream_user;
    conn *c = user;
    if (id == c->tx.id) acknowledge(&c->tx, offset + len);
    return 0;
}

static int cb_stream_close(ngtcp2_conn *q, uint32_t flags, int64_t id, uint64_t code, void *user, void *stream_user) {
    (void)flags; (void)code; (void)stream_user;
    conn *c = user;
    if (id == c->tx.id) { c->tx.closed = 1; c->tx.in_queue = 0; release_chunks(&c->tx); }
    if (id == c->rx_stream) c->rx_stream_closed = 1;
    /* Give the peer its stream credit back (ngtcp2 leaves MAX_STREAMS to the application). */
    if (!ngtcp2_conn_is_local_stream(q, id)) {
        if ((id & 0x2) == 0) ngtcp2_conn_extend_max_streams_bidi(q, 1); else ngtcp2_conn_extend_max_streams_uni(q, 1);
    }
    return 0;
}

static int cb_extend_max_stream_data(ngtcp2_conn *q, int64_t id, uint64_t max, void *user, void *stream_user) {
    (void)q; (void)max; (void)stream_user;
    conn *c = user;
    if (id == c->tx.id && c->tx.blocked) {
        c->tx.blocked = 0;
        if (has_unsent(&c->tx)) c->tx.in_queue = 1;
    }
    return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return ((conn *)ref->user_data)->q; }

static ngtcp2_callbacks callbacks(int server) {
    ngtcp2_callbacks cb;
    memset(&cb, 0, sizeof cb);
    if (server) {
        cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    } else {
        cb.client_initial = ngtcp2_crypto_client_initial_cb;
        cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.rand = cb_rand;
    cb.get_new_connection_id = cb_get_new_connection_id;
    cb.remove_connection_id = cb_remove_connection_id;
    cb.handshake_completed = cb_handshake_completed;
    cb.recv_stream_data = cb_recv_stream_data;
    cb.acked_stream_data_offset = cb_acked_stream_data_offset;
    cb.stream_close = cb_stream_close;
    cb.extend_max_stream_data = cb_extend_max_stream_data;
    return cb;
}

/* ---- Connection set-up ----------------------------------------------------- */

static void check_tls(const char *what, int rv) { if (rv < 0) die(what, rv); }

/* TLSSession.init: the same flags, priority, ALPN "stoq", SNI and verification. */
static void tls_session(conn *c) {
    endpoint *ep = c->ep;
    unsigned flags = GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA;
    flags |= c->is_server ? GNUTLS_SERVER | GNUTLS_NO_TICKETS : GNUTLS_CLIENT;
    check_tls("gnutls_init", gnutls_init(&c->tls, flags));
    check_tls("gnutls_priority_set", gnutls_priority_set(c->tls, ep->priority));
    check_tls("configure session", c->is_server ? ngtcp2_crypto_gnutls_configure_server_session(c->tls)
                                                : ngtcp2_crypto_gnutls_configure_client_session(c->tls));
    c->ref.get_conn = get_conn;
    c->ref.user_data = c;
    gnutls_session_set_ptr(c->tls, &c->ref);
    check_tls("gnutls_credentials_set", gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, ep->cred));
    gnutls_datum_t alpn = {(unsigned char *)"stoq", 4};
    check_tls("gnutls_alpn_set_protocols",
              gnutls_alpn_set_protocols(c->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY | (c->is_server ? GNUTLS_ALPN_SERVER_PRECEDENCE : 0)));
    if (!c->is_server) {
        check_tls("gnutls_server_name_set", gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, "localhost", 9));
        gnutls_session_set_verify_cert(c->tls, "localhost", 0);  /* chain to the root, name "localhost" */
    }
}

static conn *conn_alloc(endpoint *ep, int is_server, const struct sockaddr_in6 *remote) {
    conn *c = calloc(1, sizeof *c);
    if (!c) die("calloc", 0);
    c->ep = ep;
    c->is_server = is_server;
    c->tx.id = -1;
    c->rx_stream = -1;
    ngtcp2_path_storage_init(&c->path, (const ngtcp2_sockaddr *)&ep->addr, sizeof ep->addr,
                             (const ngtcp2_sockaddr *)remote, sizeof *remote, NULL);
    ngtcp2_path_storage_zero(&c->scratch);
    tls_session(c);
    return c;
}

static void settings_and_params(conn *c, ngtcp2_tstamp now, ngtcp2_settings *s, ngtcp2_transport_params *p) {
    ngtcp2_settings_default(s);
    s->initial_ts = now;
    s->max_tx_udp_payload_size = MAX_UDP_PAYLOAD;
    s->max_window = MAX_CONNECTION_WINDOW;
    s->max_stream_window = MAX_STREAM_WINDOW;
    s->rand_ctx.native_handle = c->ep;
    ngtcp2_transport_params_default(p);
    p->initial_max_stream_data_bidi_local = STREAM_WINDOW;
    p->initial_max_stream_data_bidi_remote = STREAM_WINDOW;
    p->initial_max_stream_data_uni = STREAM_WINDOW;
    p->initial_max_data = CONNECTION_WINDOW;
    p->initial_max_streams_bidi = MAX_STREAMS;
    p->initial_max_streams_uni = MAX_STREAMS;
    p->max_idle_timeout = IDLE_TIMEOUT;
}

static void adopt(endpoint *ep, conn *c) {
    if (ep->nlive == ep->caplive) {
        ep->caplive = ep->caplive ? ep->caplive * 2 : 16;
        ep->live = xrealloc(ep->live, ep->caplive * sizeof *ep->live);
    }
    ep->live[ep->nlive++] = c;
    c->needs_tx = 1;
}

static conn *connect_client(endpoint *ep, const struct sockaddr_in6 *server, ngtcp2_tstamp now) {
    conn *c = conn_alloc(ep, 0, server);
    ngtcp2_cid dcid = make_cid(ep, CLIENT_DCID_LEN), scid = make_cid(ep, CID_LEN);
    ngtcp2_settings s;
    ngtcp2_transport_params p;
    settings_and_params(c, now, &s, &p);
    ngtcp2_callbacks cb = callbacks(0);
    int rv = ngtcp2_conn_client_new(&c->q, &dcid, &scid, &c->path.path, NGTCP2_PROTO_VER_V1, &cb, &s, &p, NULL, c);
    if (rv != 0) die("ngtcp2_conn_client_new", rv);
    ngtcp2_conn_set_tls_native_handle(c->q, c->tls);
    register_id(c, &scid);
    refresh_expiry(c);
    adopt(ep, c);
    return c;
}

static conn *accept_server(endpoint *ep, const ngtcp2_pkt_hd *hd, const struct sockaddr_in6 *client, ngtcp2_tstamp now) {
    conn *c = conn_alloc(ep, 1, client);
    ngtcp2_cid scid = make_cid(ep, CID_LEN);
    ngtcp2_settings s;
    ngtcp2_transport_params p;
    settings_and_params(c, now, &s, &p);
    p.original_dcid = hd->dcid;  /* mandatory for servers */
    ngtcp2_callbacks cb = callbacks(1);
    int rv = ngtcp2_conn_server_new(&c->q, &hd->scid, &scid, &c->path.path, hd->version, &cb, &s, &p, NULL, c);
    if (rv != 0) die("ngtcp2_conn_server_new", rv);
    ngtcp2_conn_set_tls_native_handle(c->q, c->tls);
    register_id(c, &scid);
    register_id(c, &hd->dcid);  /* the client uses the original DCID until our first packet arrives */
    refresh_expiry(c);
    adopt(ep, c);
    return c;
}

static void conn_free(conn *c) {
    finish(c);
    ngtcp2_conn_del(c->q);
    gnutls_deinit(c->tls);  /* after the ngtcp2_conn: it holds the session as native handle */
    free(c->ids);
    free(c);
}

/* Queues bytes on our stream, copied in 64 KiB pieces (QuicConnection.write). */
static void conn_write(conn *c, const uint8_t *data, size_t len, int fin) {
    send_stream *s = &c->tx;
    while (len > 0) {
        size_t n = len < CHUNK ? len : CHUNK;
        if (s->count == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 64;
            s->chunks = xrealloc(s->chunks, s->cap * sizeof *s->chunks);
        }
        chunk *k = &s->chunks[s->count++];
        k->base = malloc(n);
        if (!k->base) die("malloc", 0);
        memcpy(k->base, data, n);
        k->len = n;
        k->offset = s->queued_offset;
        s->queued_offset += n;
        data += n;
        len -= n;
    }
    if (fin) s->fin_queued = 1;
    if (!s->in_queue && !s->blocked) s->in_queue = 1;
    c->needs_tx = 1;
}

/* ---- Endpoints ------------------------------------------------------------- */

/* Closed connections leave the live list; the benchmark frees them untimed. */
static void reap(endpoint *ep) {
    size_t k = 0;
    for (size_t i = 0; i < ep->nlive; i++) {
        conn *c = ep->live[i];
        if (!c->closed) { ep->live[k++] = c; continue; }
        if (ep->ndead == ep->capdead) {
            ep->capdead = ep->capdead ? ep->capdead * 2 : 16;
            ep->dead = xrealloc(ep->dead, ep->capdead * sizeof *ep->dead);
        }
        ep->dead[ep->ndead++] = c;
    }
    ep->nlive = k;
}

static void free_dead(endpoint *ep) {
    for (size_t i = 0; i < ep->ndead; i++) {
        if (ep->dead[i] == ep->last_accepted) ep->last_accepted = NULL;
        conn_free(ep->dead[i]);
    }
    ep->ndead = 0;
}

static void endpoint_receive(endpoint *ep, const datagram *d, const struct sockaddr_in6 *from, ngtcp2_tstamp now) {
    ngtcp2_version_cid vc;
    if (ngtcp2_pkt_decode_version_cid(&vc, d->data, d->len, CID_LEN) != 0) return;
    conn *c = cid_get(&ep->ids, vc.dcid, vc.dcidlen);
    if (!c) {
        ngtcp2_pkt_hd hd;
        if (!ep->is_server || ngtcp2_accept(&hd, d->data, d->len) != 0) return;  /* unroutable */
        c = accept_server(ep, &hd, from, now);
        ep->last_accepted = c;
    }
    conn_receive(c, d->data, d->len, now);
}

/* Linear scans over the live list (creation order): the heap QuicEndpoint
 * keeps pays off only with many timers, and these runs time at most two
 * connections at once. */
static ngtcp2_tstamp endpoint_next_deadline(const endpoint *ep) {
    ngtcp2_tstamp t = UINT64_MAX;
    for (size_t i = 0; i < ep->nlive; i++)
        if (!ep->live[i]->closed && ep->live[i]->expiry < t) t = ep->live[i]->expiry;
    return t;
}

static void endpoint_handle_deadlines(endpoint *ep, ngtcp2_tstamp now) {
    for (size_t i = 0; i < ep->nlive; i++) {
        conn *c = ep->live[i];
        if (c->closed || c->expiry > now) continue;
        int rv = ngtcp2_conn_handle_expiry(c->q, now);
        if (rv != 0) handle_failure(c, rv);
        c->needs_tx = 1;
        if (!c->closed) refresh_expiry(c);
    }
    reap(ep);
}

static void endpoint_transmit(endpoint *ep, ngtcp2_tstamp now, lane *out) {
    for (size_t i = 0; i < ep->nlive; i++)
        if (ep->live[i]->needs_tx) transmit(ep->live[i], now, out);
    reap(ep);
}

/* ---- Pair: InMemoryPair's virtual clock ------------------------------------ */

static void flush(pair *p) {
    endpoint_transmit(&p->client, p->now, &p->to_server);
    endpoint_transmit(&p->server, p->now, &p->to_client);
}

static ngtcp2_tstamp next_event(pair *p) {
    ngtcp2_tstamp t = UINT64_MAX, u;
    if (p->to_server.count && (u = lane_front(&p->to_server)->arrival) < t) t = u;
    if (p->to_client.count && (u = lane_front(&p->to_client)->arrival) < t) t = u;
    if ((u = endpoint_next_deadline(&p->client)) < t) t = u;
    if ((u = endpoint_next_deadline(&p->server)) < t) t = u;
    return t;
}

/* Sends what both sides have ready, jumps to the next arrival or deadline, handles all due then. */
static int step(pair *p) {
    flush(p);
    ngtcp2_tstamp t = next_event(p);
    if (t == UINT64_MAX) return 0;
    if (t > p->now) p->now = t;
    datagram *d;
    while ((d = lane_front(&p->to_server)) && d->arrival <= p->now) {
        endpoint_receive(&p->server, d, &p->client.addr, p->now);
        lane_pop(&p->to_server);
    }
    while ((d = lane_front(&p->to_client)) && d->arrival <= p->now) {
        endpoint_receive(&p->client, d, &p->server.addr, p->now);
        lane_pop(&p->to_client);
    }
    endpoint_handle_deadlines(&p->client, p->now);
    endpoint_handle_deadlines(&p->server, p->now);
    flush(p);
    return 1;
}

/* Steps until cond holds; false if nothing can happen any more or the time limit passes. */
#define RUN_UNTIL(p, cond)                                                          \
    do {                                                                            \
        ngtcp2_tstamp end_ = (p)->now + TIME_LIMIT;                                 \
        while (!(cond)) if (!step(p) || (p)->now > end_) break;                     \
    } while (0)

static void run_for(pair *p, ngtcp2_duration duration) {
    ngtcp2_tstamp end = p->now + duration;
    for (;;) {
        flush(p);
        ngtcp2_tstamp t = next_event(p);
        if (t == UINT64_MAX || t > end) { if (p->now < end) p->now = end; return; }
        step(p);
    }
}

/* ---- Certificates (CertificateAuthorityForTesting) ------------------------- */

static void fill_certificate(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, uint64_t serial,
                             int is_ca, const char *dns) {
    check_tls("set_version", gnutls_x509_crt_set_version(crt, 3));
    uint8_t serial_bytes[8];
    for (int i = 0; i < 8; i++) serial_bytes[i] = (uint8_t)(serial >> (56 - 8 * i));
    serial_bytes[0] &= 0x7f;  /* positive INTEGER */
    check_tls("set_serial", gnutls_x509_crt_set_serial(crt, serial_bytes, sizeof serial_bytes));
    char dn[128];
    snprintf(dn, sizeof dn, "CN=%s", cn);
    check_tls("set_dn", gnutls_x509_crt_set_dn(crt, dn, NULL));
    time_t now = time(NULL);
    check_tls("set_activation_time", gnutls_x509_crt_set_activation_time(crt, now - 3600));
    check_tls("set_expiration_time", gnutls_x509_crt_set_expiration_time(crt, now + 30 * 86400));
    check_tls("set_key", gnutls_x509_crt_set_key(crt, key));
    check_tls("set_basic_constraints", gnutls_x509_crt_set_basic_constraints(crt, is_ca, -1));
    check_tls("set_key_usage", gnutls_x509_crt_set_key_usage(
        crt, is_ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN : GNUTLS_KEY_DIGITAL_SIGNATURE));
    if (!is_ca) check_tls("set_key_purpose_oid", gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
    if (dns) check_tls("set_subject_alt_name", gnutls_x509_crt_set_subject_alt_name(
        crt, GNUTLS_SAN_DNSNAME, dns, (unsigned)strlen(dns), GNUTLS_FSAN_APPEND));
    uint8_t key_id[64];
    size_t key_id_size = sizeof key_id;
    check_tls("get_key_id", gnutls_x509_crt_get_key_id(crt, 0, key_id, &key_id_size));
    check_tls("set_subject_key_id", gnutls_x509_crt_set_subject_key_id(crt, key_id, key_id_size));
}

static gnutls_x509_privkey_t generate_key(int ed25519) {
    gnutls_x509_privkey_t key;
    check_tls("privkey_init", gnutls_x509_privkey_init(&key));
    check_tls("privkey_generate2", ed25519
        ? gnutls_x509_privkey_generate2(key, GNUTLS_PK_EDDSA_ED25519, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519), 0, NULL, 0)
        : gnutls_x509_privkey_generate2(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0));
    return key;
}

/* A root CA ("Bench Root") and a leaf for DNS:localhost signed by it; the server
 * loads leaf + key from PEM, the client trusts the root PEM, as in TLSCredentials. */
static void make_credentials(int ed25519, gnutls_certificate_credentials_t *server, gnutls_certificate_credentials_t *client) {
    gnutls_digest_algorithm_t digest = ed25519 ? GNUTLS_DIG_SHA512 : GNUTLS_DIG_SHA256;
    gnutls_x509_privkey_t root_key = generate_key(ed25519), leaf_key = generate_key(ed25519);
    gnutls_x509_crt_t root, leaf;
    check_tls("crt_init", gnutls_x509_crt_init(&root));
    check_tls("crt_init", gnutls_x509_crt_init(&leaf));
    fill_certificate(root, root_key, "Bench Root", 1, 1, NULL);
    check_tls("sign root", gnutls_x509_crt_sign2(root, root, root_key, digest, 0));
    fill_certificate(leaf, leaf_key, "localhost", 2, 0, "localhost");
    check_tls("sign leaf", gnutls_x509_crt_sign2(leaf, root, root_key, digest, 0));

    gnutls_datum_t root_pem, leaf_pem, key_pem;
    check_tls("export root", gnutls_x509_crt_export2(root, GNUTLS_X509_FMT_PEM, &root_pem));
    check_tls("export leaf", gnutls_x509_crt_export2(leaf, GNUTLS_X509_FMT_PEM, &leaf_pem));
    check_tls("export key", gnutls_x509_privkey_export2_pkcs8(leaf_key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &key_pem));
    check_tls("allocate credentials", gnutls_certificate_allocate_credentials(server));
    check_tls("allocate credentials", gnutls_certificate_allocate_credentials(client));
    check_tls("set_x509_key_mem2", gnutls_certificate_set_x509_key_mem2(*server, &leaf_pem, &key_pem, GNUTLS_X509_FMT_PEM, NULL, 0));
    if (gnutls_certificate_set_x509_trust_mem(*client, &root_pem, GNUTLS_X509_FMT_PEM) != 1) die("set_x509_trust_mem", 0);
    gnutls_free(root_pem.data);
    gnutls_free(leaf_pem.data);
    gnutls_free(key_pem.data);
    gnutls_x509_crt_deinit(root);
    gnutls_x509_crt_deinit(leaf);
    gnutls_x509_privkey_deinit(root_key);
    gnutls_x509_privkey_deinit(leaf_key);
}

static void endpoint_init(endpoint *ep, int is_server, uint64_t seed, write_mode mode,
                          gnutls_certificate_credentials_t cred) {
    memset(ep, 0, sizeof *ep);
    ep->is_server = is_server;
    ep->mode = mode;
    ep->cred = cred;
    /* fd00::1 port 50000 / fd00::2 port 443, as InMemoryPair's default addresses. */
    ep->addr.sin6_family = AF_INET6;
    ep->addr.sin6_port = htons(is_server ? 443 : 50000);
    ep->addr.sin6_addr.s6_addr[0] = 0xfd;
    ep->addr.sin6_addr.s6_addr[15] = is_server ? 2 : 1;
    rng_init(&ep->random, seed, is_server ? "server" : "client");
    check_tls("gnutls_priority_init", gnutls_priority_init(&ep->priority, PRIORITY, NULL));
}

static void endpoint_free(endpoint *ep) {
    for (size_t i = 0; i < ep->nlive; i++) conn_free(ep->live[i]);
    ep->nlive = 0;
    free_dead(ep);
    free(ep->live);
    free(ep->dead);
    free(ep->ids.slots);
    gnutls_priority_deinit(ep->priority);
    gnutls_certificate_free_credentials(ep->cred);
}

static pair *pair_new(uint64_t seed, int ed25519, write_mode mode) {
    pair *p = calloc(1, sizeof *p);
    if (!p) die("calloc", 0);
    gnutls_certificate_credentials_t server_cred, client_cred;
    make_credentials(ed25519, &server_cred, &client_cred);
    endpoint_init(&p->client, 0, seed, mode, client_cred);
    endpoint_init(&p->server, 1, seed, mode, server_cred);
    p->now = TS_OFFSET;
    return p;
}

static void pair_free(pair *p) {
    endpoint_free(&p->client);
    endpoint_free(&p->server);
    free(p->to_server.q);
    free(p->to_client.q);
    free(p);
}

static conn *pair_connect(pair *p) { return connect_client(&p->client, &p->server.addr, p->now); }

/* ---- Benchmarks ------------------------------------------------------------ */

typedef struct {
    char name[64];
    double value;
    const char *unit;
    double cpu_seconds;
    int verified;
    char detail[160];
} result;

static int64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static int established(const conn *c) { return c && c->handshake_completed; }

/* TransportBenchmarks.handshakes: full handshakes, chain verified; closing is not timed. */
static result bench_handshakes(int count, int ed25519) {
    pair *p = pair_new(1, ed25519, WRITE_SEND_QUANTUM);
    int64_t timed = 0;
    int completed = 0;
    for (int i = 0; i < count; i++) {
        p->server.last_accepted = NULL;
        int64_t start = cpu_ns();
        conn *c = pair_connect(p);
        RUN_UNTIL(p, (c->handshake_completed && established(p->server.last_accepted)) || c->closed);
        timed += cpu_ns() - start;
        conn *a = p->server.last_accepted;
        if (c->handshake_completed && established(a) && !c->failed) completed++;
        if (!c->closed) { ngtcp2_connection_close_error_set_application_error(&c->ccerr, 0, NULL, 0); c->close_pending = 1; c->needs_tx = 1; }
        RUN_UNTIL(p, !p->server.last_accepted || p->server.last_accepted->closed);
        free_dead(&p->client);
        free_dead(&p->server);
    }
    pair_free(p);
    result r = {.unit = "handshakes/s", .cpu_seconds = timed / 1e9, .verified = completed == count};
    snprintf(r.name, sizeof r.name, "handshakes (%s)", ed25519 ? "Ed25519" : "ECDSA P-256");
    r.value = completed / r.cpu_seconds;
    snprintf(r.detail, sizeof r.detail, "%d of %d, root → leaf chain verified, X25519", completed, count);
    return r;
}

/* TransportBenchmarks.bulkGoodput: one uni stream, 1 MiB writes, ≤ 32 MiB outstanding, receiver discards. */
static result bench_bulk(uint64_t total, write_mode mode) {
    static uint8_t piece[1 << 20];
    memset(piece, 0xa5, sizeof piece);
    result r = {.unit = "MB/s"};
    snprintf(r.name, sizeof r.name, "bulk goodput");
    pair *p = pair_new(1, 1, mode);
    conn *c = pair_connect(p);
    RUN_UNTIL(p, c->handshake_completed && established(p->server.last_accepted));
    conn *s = p->server.last_accepted;
    if (!c->handshake_completed || !established(s)) {
        snprintf(r.detail, sizeof r.detail, "handshake failed");
        pair_free(p);
        return r;
    }
    int rv = ngtcp2_conn_open_uni_stream(c->q, &c->tx.id, NULL);
    if (rv != 0) die("ngtcp2_conn_open_uni_stream", rv);
    uint64_t written = 0;
    int64_t start = cpu_ns();
    while (!s->rx_fin_read) {
        while (written < total && written - s->rx_total < (32u << 20)) {
            uint64_t n = total - written < sizeof piece ? total - written : sizeof piece;
            conn_write(c, piece, (size_t)n, written + n == total);
            written += n;
        }
        if (!step(p) || c->closed) break;
    }
    r.cpu_seconds = (cpu_ns() - start) / 1e9;
    r.value = s->rx_total / r.cpu_seconds / 1e6;
    r.verified = s->rx_fin_read && s->rx_total == total && !c->failed && !s->failed;
    snprintf(r.detail, sizeof r.detail, "%llu MiB, %llu datagrams, %llu B each", (unsigned long long)(s->rx_total >> 20),
             (unsigned long long)c->datagrams_sent,
             (unsigned long long)(c->bytes_sent / (c->datagrams_sent ? c->datagrams_sent : 1)));
    pair_free(p);
    return r;
}

/* TransportBenchmarks.memoryPerConnectionPair: heap growth over `pairs` established pairs. */
static result bench_memory(int pairs) {
    result r = {.unit = "KiB"};
    snprintf(r.name, sizeof r.name, "memory per connection pair");
    pair *p = pair_new(1, 1, WRITE_SEND_QUANTUM);
    conn **clients = calloc((size_t)pairs, sizeof *clients);
    if (!clients) die("calloc", 0);
    /* One warm-up connection so lazily built shared state is not counted. */
    conn *warm = pair_connect(p);
    RUN_UNTIL(p, warm->handshake_completed && established(p->server.last_accepted));
    run_for(p, NGTCP2_SECONDS);
    size_t before = heap_in_use();
    int64_t start = cpu_ns();
    for (int i = 0; i < pairs; i++) {
        conn *c = pair_connect(p);
        RUN_UNTIL(p, (c->handshake_completed && established(p->server.last_accepted)) || c->closed);
        clients[i] = c;
    }
    /* Let ACKs and HANDSHAKE_DONE settle, as in a long-lived connection. */
    run_for(p, 500 * NGTCP2_MILLISECONDS);
    size_t after = heap_in_use();
    int ok = 0;
    for (int i = 0; i < pairs; i++) ok += clients[i]->handshake_completed && !clients[i]->closed;
    r.cpu_seconds = (cpu_ns() - start) / 1e9;
    r.value = ((double)after - (double)before) / pairs / 1024;
    r.verified = ok == pairs;
    snprintf(r.detail, sizeof r.detail, "%d pairs, %lld KiB heap (mallinfo2)", pairs,
             ((long long)after - (long long)before) / 1024);
    free(clients);
    pair_free(p);
    return r;
}

/* ---- Reporting: medians, printed only when every run checked out ----------- */

static int by_value(const void *a, const void *b) {
    double x = ((const result *)a)->value, y = ((const result *)b)->value;
    return (x > y) - (x < y);
}

static int report(const char *prefix, result *runs, int n) {
    qsort(runs, (size_t)n, sizeof *runs, by_value);
    for (int i = 0; i < n; i++) {
        if (!runs[i].verified) {
            printf("%s %s: not printed: run %d failed its check (%s)\n", prefix, runs[i].name, i + 1, runs[i].detail);
            return 0;
        }
    }
    result *m = &runs[n / 2];
    if (m->value >= 100) printf("%s %s: %.0f %s", prefix, m->name, m->value, m->unit);
    else printf("%s %s: %.2f %s", prefix, m->name, m->value, m->unit);
    printf(" (%.3f s CPU, %s)  (median of %d)\n", m->cpu_seconds, m->detail, n);
    fflush(stdout);
    /* Every run, on stderr so stdout keeps the Swift benchmark's line format. */
    fprintf(stderr, "  runs:");
    for (int i = 0; i < n; i++) fprintf(stderr, m->value >= 100 ? " %.0f" : " %.2f", runs[i].value);
    fprintf(stderr, " %s\n", m->unit);
    return 1;
}

int main(int argc, char **argv) {
    int handshakes = 2000, mebibytes = 1024, pairs = 1000, repetitions = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--handshakes")) handshakes = v;
        else if (!strcmp(argv[i], "--mebibytes")) mebibytes = v;
        else if (!strcmp(argv[i], "--pairs")) pairs = v;
        else if (!strcmp(argv[i], "--repeat")) repetitions = v;
        else { fprintf(stderr, "usage: %s [--handshakes N] [--mebibytes N] [--pairs N] [--repeat N]\n", argv[0]); return 2; }
    }
    if (handshakes <= 0 || mebibytes <= 0 || pairs <= 0 || repetitions <= 0 || repetitions > 99) {
        fprintf(stderr, "all options must be positive (--repeat at most 99)\n");
        return 2;
    }
    printf("C baseline: ngtcp2 %s, GnuTLS %s\n", ngtcp2_version(0)->version_str, gnutls_check_version(NULL));
    fflush(stdout);
    result runs[99];
    int ok = 1;
    /* Same order as `stoqsim bench transport`: memory, then the speed runs. */
    for (int i = 0; i < repetitions; i++) runs[i] = bench_memory(pairs);
    ok &= report("C baseline", runs, repetitions);
    for (int i = 0; i < repetitions; i++) runs[i] = bench_handshakes(handshakes, 1);
    ok &= report("C baseline", runs, repetitions);
    for (int i = 0; i < repetitions; i++) runs[i] = bench_handshakes(handshakes, 0);
    ok &= report("C baseline", runs, repetitions);
    for (int i = 0; i < repetitions; i++) runs[i] = bench_bulk((uint64_t)mebibytes << 20, WRITE_SEND_QUANTUM);
    ok &= report("C baseline", runs, repetitions);
    /* The note's variant. Handshake flights are a few packets, far below the
     * send quantum, so only the bulk run can differ. */
    for (int i = 0; i < repetitions; i++) runs[i] = bench_bulk((uint64_t)mebibytes << 20, WRITE_UNTIL_CWND);
    ok &= report("C baseline, batched writes (write until cwnd),", runs, repetitions);
    if (!ok) fprintf(stderr, "a benchmark's own check failed: the figures above are not valid\n");
    return ok ? 0 : 1;
}
