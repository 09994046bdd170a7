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

/* Certificates a server takes (--tls-cert/--tls-key pairs; SNI chooses). */
#define SBD_TLS_MAX_CERTS 16

typedef struct sbd_tls {
    const char *cert[SBD_TLS_MAX_CERTS]; /* server: each --tls-cert, in order */
    const char *key[SBD_TLS_MAX_CERTS];  /* and each --tls-key */
    int ncert, nkey;
    const char *ca;         /* client: --ca FILE (else the system store) */
    const char *servername; /* client: --servername (else the host) */
    int client;             /* client: --tls */
    int insecure;           /* client: --insecure */
    struct sb_tls *tls;     /* once set up */
} sbd_tls;

/* 1 when the build has TLS. */
int sbd_tls_built(void);
/* The option parsers' --tls-cert FILE and --tls-key FILE: 0, or 2 with a
 * line on stderr past SBD_TLS_MAX_CERTS. */
int sbd_tls_opt_cert(const char *name, sbd_tls *o, const char *file);
int sbd_tls_opt_key(const char *name, sbd_tls *o, const char *file);
/* Options were given: check they go together (as many --tls-key as
 * --tls-cert; --ca, --insecure or --servername only with --tls) and that the
 * build has TLS.  0, or 2 with a line on stderr. */
int sbd_tls_check(const char *name, const sbd_tls *o);
/* Server: load the certificates (the first is the default, the others are
 * chosen by the client's SNI; alpn: the ALPN list, or NULL) and make every
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
