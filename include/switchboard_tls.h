/*
 * switchboard_tls.h -- TLS for switchboard connections (libswitchboard_tls,
 * over OpenSSL).  A separate library: the core, libswitchboard, needs
 * nothing beyond libc.  Link with `pkg-config --libs switchboard-tls`.
 *
 * An sb_tls is one TLS configuration -- a server's certificates, a
 * client's trust store, ALPN, versions -- shared by any number of
 * connections.  sb_tls_listen() makes every connection a listener accepts
 * speak TLS; sb_tls_connect() makes an outbound one (from sb_connect) do
 * so once connected.  The connection keeps its handler, framer,
 * watermarks, timeouts and close flavours: on_open runs once the
 * handshake is done, sb_close() sends close_notify after the queued
 * output, sb_abort() resets.  A handshake that fails or times out reaches
 * on_close (without on_open) with SB_ETLSHANDSHAKE, SB_ETLSVERIFY or
 * -ETIMEDOUT, the detail readable with sb_tls_error() there.  A peer that
 * ends the stream without close_notify is reported with SB_ETRUNCATED.
 * See docs/tls.md.
 */
#ifndef SWITCHBOARD_TLS_H
#define SWITCHBOARD_TLS_H

#include "switchboard.h"

/* What libswitchboard_tls exports. */
#ifndef SB_TLS_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define SB_TLS_API __attribute__((visibility("default")))
#else
#define SB_TLS_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sb_tls sb_tls;

enum { SB_TLS_SERVER = 1, SB_TLS_CLIENT = 2 };

/* Peer verification (sb_tls_set_verify). */
enum {
    SB_TLS_VERIFY_NONE = 0,     /* no check at all (a client's --insecure) */
    SB_TLS_VERIFY_PEER = 1,     /* server: ask for a client certificate, verify one
                                   if given; client: the default */
    SB_TLS_VERIFY_REQUIRE = 2,  /* server: a verified client certificate or no
                                   handshake; client: as VERIFY_PEER */
};

/* Protocol versions (sb_tls_set_versions). */
enum { SB_TLS_1_2 = 0x0303, SB_TLS_1_3 = 0x0304 };

/*
 * A configuration for servers (SB_TLS_SERVER: add a certificate before
 * use) or clients (SB_TLS_CLIENT: verifies the server against the
 * system's trust store and checks its name, TLS 1.2 and 1.3, session
 * resumption on).  NULL with *err (-ENOMEM, -EINVAL) set; err may be
 * NULL.
 */
SB_TLS_API sb_tls *sb_tls_new(int mode, int *err);
/*
 * Drop the caller's reference to the configuration; it may come at any
 * time: the listeners it was given to (until closed or given another) and
 * the connections using it keep it alive.  NULL is a no-op.
 */
SB_TLS_API void sb_tls_free(sb_tls *t);

/*
 * Configuration.  Each returns 0 or a negative code (-EINVAL, -ENOENT,
 * SB_ETLS...), the detail then readable with sb_tls_config_error().
 */

/* Server: a certificate chain (PEM, leaf first) and its private key.  The
 * first one added is the default; later ones are chosen when the client's
 * SNI matches one of their names (wildcards included). */
SB_TLS_API int sb_tls_add_cert(sb_tls *t, const char *cert_file, const char *key_file);
/* Whom to trust (PEM file and/or hashed directory; either may be NULL):
 * a client's server CAs (instead of the system store), a server's client
 * CAs (for sb_tls_set_verify). */
SB_TLS_API int sb_tls_set_ca(sb_tls *t, const char *ca_file, const char *ca_dir);
SB_TLS_API int sb_tls_set_verify(sb_tls *t, int mode);
/* ALPN protocols in preference order, comma-separated ("h2,http/1.1").  A
 * server picks the first of its own the client offers, and fails the
 * handshake (no_application_protocol) if the client offers ALPN but none
 * of them; a client offers them.  NULL or "": none. */
SB_TLS_API int sb_tls_set_alpn(sb_tls *t, const char *protos);
/* Lowest and highest version [SB_TLS_1_2, SB_TLS_1_3]. */
SB_TLS_API int sb_tls_set_versions(sb_tls *t, int min, int max);
/* Session resumption: a server's tickets (and session cache), a client's
 * saved sessions, one per server name [1: on]. */
SB_TLS_API int sb_tls_set_resumption(sb_tls *t, int on);
/* Handshake time limit, from accept or connect [10000 ms]. */
SB_TLS_API int sb_tls_set_handshake_timeout(sb_tls *t, unsigned ms);
/* The reason of the last configuration call that failed ("" if none). */
SB_TLS_API const char *sb_tls_config_error(const sb_tls *t);

/* Every connection l accepts from now on speaks TLS (a server config); l
 * holds a reference to t until it is closed or given another.  0,
 * -EINVAL, or SB_ECLOSED (l is closed). */
SB_TLS_API int sb_tls_listen(sb_listener *l, sb_tls *t);
/*
 * c (from sb_connect, before on_open) does a TLS handshake once
 * connected (a client config).  servername is sent as SNI (a host name)
 * and, unless verification is off, the certificate must match it (a
 * host name, or an IP address literal, which is then not sent as SNI).
 * NULL: no SNI, and then verification fails unless it is off.
 */
SB_TLS_API int sb_tls_connect(sb_conn *c, sb_tls *t, const char *servername);

/* About a connection (NULL / 0 if c does not use TLS). */
SB_TLS_API int sb_tls_active(const sb_conn *c);
SB_TLS_API const char *sb_tls_alpn(const sb_conn *c);       /* negotiated, or NULL */
SB_TLS_API const char *sb_tls_servername(const sb_conn *c); /* SNI asked for, or NULL */
SB_TLS_API const char *sb_tls_version(const sb_conn *c);    /* "TLSv1.3" */
SB_TLS_API const char *sb_tls_cipher(const sb_conn *c);
SB_TLS_API int sb_tls_resumed(const sb_conn *c);            /* 1: session resumed */
/* The peer certificate's subject ("CN=..."), verified or not; length
 * needed like snprintf, or -ENOENT without one. */
SB_TLS_API int sb_tls_peer_subject(const sb_conn *c, char *buf, size_t len);
/* What failed (OpenSSL's reason, the verification error), also in
 * on_close; "" if nothing did. */
SB_TLS_API const char *sb_tls_error(const sb_conn *c);

#ifdef __cplusplus
}
#endif

#endif /* SWITCHBOARD_TLS_H */
