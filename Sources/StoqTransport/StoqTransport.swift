// QUIC transport over ngtcp2 + GnuTLS (issue 3).
