/*
 * The demos' TLS options, written once: a server's --tls-cert/--tls-key
 * (sb-echod, sb-httpd, sb-kvd, sb-proxyd) and a client's --tls, --ca,
 * --insecure, --servername (sb-echo).  Built on switchboard_tls.h when
 * the build has TLS (make TLS=1 defines SB_WITH_TLS); without it every
 * function here says so ("NAME: built without TLS support (rebuild with
 * make TLS=1)") and returns 2, the exit status.
 */
#ifndef SB_DEMO_TLSOPT_H
#define SB_DEMO_TLSOPT_H

#include "daemon.h"

struct sb_tls;

typedef struct sbd_tls {
    const char *cert, *key; /* server: --tls-cert, --tls-key */
    const char *ca;         /* client: --ca FILE (else the system store) */
    const char *servername; /* client: --servername (else the host) */
    int client;             /* client: --tls */
    int insecure;           /* client: --insecure */
    struct sb_tls *tls;     /* once set up */
} sbd_tls;

/* 1 when the build has TLS. */
int sbd_tls_built(void);
/* Options were given: check they go together (both --tls-cert and
 * --tls-key; --ca, --insecure or --servername only with --tls) and that the
 * build has TLS.  0, or 2 with a line on stderr. */
int sbd_tls_check(const char *name, const sbd_tls *o);
/* Server: load the certificate (alpn: the ALPN list, or NULL) and make every
 * listener of d speak TLS.  Does nothing without --tls-cert.  0, or 1 with
 * a line on stderr (2 without TLS in the build). */
int sbd_tls_listen(sbd *d, sbd_tls *o, const char *alpn);
/* Client: the configuration for sbd_tls_connect (nothing without --tls).
 * 0, or 1/2 with a line on stderr. */
int sbd_tls_client(const char *name, sbd_tls *o, const char *alpn);
/* Client: c (from sb_connect) speaks TLS to host.  0, or a negative code. */
int sbd_tls_connect(sbd_tls *o, sb_conn *c, const char *host);
/* What a TLS connection negotiated, for a log line ("TLSv1.3
 * TLS_AES_256_GCM_SHA384 resumed"); "" without TLS. */
const char *sbd_tls_describe(const sb_conn *c, char *buf, size_t len);
/* Why a TLS connection failed (sb_tls_error), or "". */
const char *sbd_tls_error(const sb_conn *c);
void sbd_tls_free(sbd_tls *o);

#endif
