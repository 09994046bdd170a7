/*
 * libswitchboard_tls: TLS over OpenSSL as a switchboard transport
 * (sb_transport, switchboard.h).  The reactor keeps the connection's
 * state machine; this file turns its reads and writes into SSL_read and
 * SSL_write, its opening into the handshake and its close into
 * close_notify.
 *
 * I/O: OpenSSL talks to the socket through a small BIO whose read and
 * write are sb_conn_sock_recv/send -- the library's own system-call
 * layer, so the test build's fault seam (one byte at a time, EAGAIN,
 * resets) reaches every TLS path.  SSL_read decrypts straight into the
 * reactor's read buffer and SSL_write encrypts straight from the
 * connection's output queue: the cipher's pass is the only copy.  Read
 * ahead is on (one recv() takes several records); the reactor asks
 * pending() after each read for what is then held inside.  Partial writes
 * and moving write buffers are allowed, so the output queue can give
 * SSL_write whatever it has at the front after SB_WANT_WRITE.  Idle
 * connections release OpenSSL's record buffers (SSL_MODE_RELEASE_BUFFERS).
 *
 * Choices: TLS 1.2 and 1.3; renegotiation refused; a server resumes
 * sessions with tickets (and its session cache for TLS 1.2 session IDs);
 * a client verifies the server against the system store (or the CA it is
 * given) and checks its name, and keeps one session per server name for
 * resumption.
 */
#include "switchboard_tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_MAX_CTX 32    /* certificates per server configuration */
#define TLS_CACHE 64      /* a client's saved sessions (server names) */
#define TLS_ERR_LEN 256
/* Ciphertext one recv() may take: four full records, as the reactor's
 * 64 KiB read takes four records' plaintext. */
#define TLS_READ_AHEAD (4 * (16384 + 256 + 64))

struct sb_tls {
    int mode;               /* SB_TLS_SERVER / SB_TLS_CLIENT */
    unsigned refs;          /* the owner's (until sb_tls_free) + one per connection */
    SSL_CTX *ctx[TLS_MAX_CTX]; /* [0]: the default; a server's others by SNI */
    int nctx;
    int ncert;              /* certificates added (a server needs one) */
    unsigned char alpn[256]; /* ALPN list, wire format */
    unsigned alpn_len;
    int verify;
    int resume;
    unsigned hs_ms;
    struct {
        char *name;
        SSL_SESSION *sess;
    } cache[TLS_CACHE];
    unsigned cache_next;
    char err[TLS_ERR_LEN];
};

typedef struct tls_conn {
    sb_tls *t;
    sb_conn *c;
    SSL *ssl;
    char *name;   /* client: the server name sessions are saved under */
    char alpn[256]; /* the protocol ALPN chose, NUL-terminated ("" none) */
    char sni[256];  /* server: the name the client asked for ("" none) */
    int sys_err;  /* the socket's error behind SSL_ERROR_SYSCALL */
    unsigned eof : 1;    /* the socket's EOF seen */
    unsigned failed : 1; /* a fatal error: no SSL_shutdown any more */
    unsigned close_notify : 1; /* the peer's close_notify came (not a bare EOF) */
    char err[TLS_ERR_LEN];
} tls_conn;

/* ------------------------------------------------------------------ BIO */

static BIO_METHOD *bio_method;
static CRYPTO_ONCE bio_once = CRYPTO_ONCE_STATIC_INIT;

static int bio_write(BIO *b, const char *buf, int n)
{
    tls_conn *tc = BIO_get_data(b);
    long r = sb_conn_sock_send(tc->c, buf, (size_t)n);

    BIO_clear_retry_flags(b);
    if (r >= 0)
        return (int)r;
    if (r == -EAGAIN) {
        BIO_set_retry_write(b);
        return -1;
    }
    tc->sys_err = (int)r;
    return -1;
}

static int bio_read(BIO *b, char *buf, int n)
{
    tls_conn *tc = BIO_get_data(b);
    long r = sb_conn_sock_recv(tc->c, buf, (size_t)n);

    BIO_clear_retry_flags(b);
    if (r > 0)
        return (int)r;
    if (r == 0) {
        tc->eof = 1;
        return 0;
    }
    if (r == -EAGAIN) {
        BIO_set_retry_read(b);
        return -1;
    }
    tc->sys_err = (int)r;
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    tls_conn *tc = BIO_get_data(b);

    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DUP:
        return 1;
    case BIO_CTRL_EOF:
        return tc && tc->eof;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "switchboard");

    if (!m)
        return;
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    bio_method = m;
}

/* --------------------------------------------------------------- errors */

/* OpenSSL's first queued error as words into buf (and the queue emptied). */
static void ssl_reason(char *buf, size_t len, const char *what)
{
    unsigned long e = ERR_get_error();
    char r[200];

    if (e) {
        const char *rs = ERR_reason_error_string(e);
        if (rs)
            snprintf(r, sizeof(r), "%s", rs);
        else
            ERR_error_string_n(e, r, sizeof(r));
    } else {
        snprintf(r, sizeof(r), "unknown OpenSSL error");
    }
    snprintf(buf, len, "%s%s%s", what ? what : "", what ? ": " : "", r);
    ERR_clear_error();
}

static int cfg_fail(sb_tls *t, int code, const char *what)
{
    ssl_reason(t->err, sizeof(t->err), what);
    return code;
}

/*
 * What a failed SSL_* call means for the connection: a code for the
 * reactor, and the detail in tc->err.  in_hs: during the handshake.
 */
static int conn_error(tls_conn *tc, int ret, int in_hs)
{
    int e = SSL_get_error(tc->ssl, ret);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        return SB_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return SB_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        /* SSL_OP_IGNORE_UNEXPECTED_EOF: a bare EOF ends the stream like
         * close_notify (so ours can still be sent); only the flag tells. */
        if (tc->close_notify)
            return 0;
        if (in_hs) {
            tc->failed = 1;
            snprintf(tc->err, sizeof(tc->err), "the peer closed the connection during the handshake");
            return SB_ETLSHANDSHAKE;
        }
        snprintf(tc->err, sizeof(tc->err), "the peer closed the connection without close_notify");
        return SB_ETRUNCATED;
    default:
        break;
    }
    tc->failed = 1;
    if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        e = SSL_ERROR_SYSCALL; /* a bare EOF, as OpenSSL 1.1 reported it */
    if (e == SSL_ERROR_SYSCALL) {
        int se = tc->sys_err;
        ERR_clear_error();
        if (se) {
            snprintf(tc->err, sizeof(tc->err), "%s%s", in_hs ? "during the handshake: " : "",
                     strerror(-se));
            return in_hs ? SB_ETLSHANDSHAKE : se;
        }
        snprintf(tc->err, sizeof(tc->err), "%s",
                 in_hs ? "the peer closed the connection during the handshake"
                       : "the peer closed the connection without close_notify");
        return in_hs ? SB_ETLSHANDSHAKE : SB_ETRUNCATED;
    }
    if (in_hs) {
        long v = SSL_get_verify_result(tc->ssl);
        if (v != X509_V_OK) {
            ERR_clear_error();
            snprintf(tc->err, sizeof(tc->err), "certificate verify failed: %s",
                     X509_verify_cert_error_string(v));
            return SB_ETLSVERIFY;
        }
    }
    ssl_reason(tc->err, sizeof(tc->err), NULL);
    return in_hs ? SB_ETLSHANDSHAKE : SB_ETLS;
}

/* ----------------------------------------------------------- transport */

static int tls_attach(void *arg, sb_conn *c, int fd, void **out);

static int tls_handshake(void *ctx)
{
    tls_conn *tc = ctx;
    const unsigned char *p;
    unsigned n;
    int r = SSL_do_handshake(tc->ssl);

    if (r != 1)
        return conn_error(tc, r, 1);
    SSL_get0_alpn_selected(tc->ssl, &p, &n);
    if (n)
        memcpy(tc->alpn, p, n); /* n < 256: one length byte */
    tc->alpn[n] = '\0';
    return 0;
}

static long tls_recv(void *ctx, void *buf, size_t n)
{
    tls_conn *tc = ctx;
    char *p = buf;
    size_t got = 0;

    if (tc->failed)
        return SB_ETLS;
    /*
     * Each SSL_read gives at most one record; read ahead, one recv() took
     * up to TLS_READ_AHEAD bytes of them.  Go on while OpenSSL holds more:
     * once it holds none, the next SSL_read would only meet EAGAIN (or
     * what select() announces anyway), so stop -- the same one recv() per
     * readiness as a plain connection.
     */
    while (got < n) {
        size_t want = n - got < INT_MAX ? n - got : INT_MAX;
        int r = SSL_read(tc->ssl, p + got, (int)want);
        if (r > 0) {
            got += (size_t)r;
            if (!SSL_has_pending(tc->ssl))
                break;
            continue;
        }
        if (got) {
            /* Report the bytes; a condition is found again by the next call
             * (kept by OpenSSL: close_notify, errors) or is only EAGAIN. */
            int e = SSL_get_error(tc->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE &&
                e != SSL_ERROR_ZERO_RETURN)
                ERR_clear_error();
            break;
        }
        return conn_error(tc, r, 0);
    }
    return (long)got;
}

static long tls_send(void *ctx, const void *buf, size_t n)
{
    tls_conn *tc = ctx;
    const char *p = buf;
    size_t put = 0;

    if (tc->failed)
        return SB_ETLS;
    /* Partial writes are on: each SSL_write takes a record at a time. */
    while (put < n) {
        size_t want = n - put < INT_MAX ? n - put : INT_MAX;
        int r = SSL_write(tc->ssl, p + put, (int)want);
        if (r > 0) {
            put += (size_t)r;
            continue;
        }
        if (put) {
            if (SSL_get_error(tc->ssl, r) != SSL_ERROR_WANT_WRITE)
                ERR_clear_error(); /* met again by the next call */
            break;
        }
        r = conn_error(tc, r, 0);
        return r == 0 ? SB_ETLS : r;
    }
    return (long)put;
}

static int tls_shutdown(void *ctx)
{
    tls_conn *tc = ctx;
    int r;

    if (tc->failed || !SSL_is_init_finished(tc->ssl))
        return 0; /* nothing to say (or nothing can be said) */
    r = SSL_shutdown(tc->ssl);
    if (r >= 0)
        return 0; /* sent (1: the peer's came already) */
    r = conn_error(tc, r, 0);
    return r == SB_WANT_READ || r == SB_WANT_WRITE ? r : 0;
}

static size_t tls_pending(void *ctx)
{
    tls_conn *tc = ctx;

    return !tc->failed && SSL_has_pending(tc->ssl) ? 1 : 0;
}

static const char *tls_detail(void *ctx)
{
    tls_conn *tc = ctx;

    return tc->err;
}

static void tls_unref(sb_tls *t);

static void tls_detach(void *ctx)
{
    tls_conn *tc = ctx;

    SSL_free(tc->ssl);
    free(tc->name);
    tls_unref(tc->t);
    free(tc);
}

/* A listener's reference (sb_tls_listen) ends. */
static void tls_release(void *arg)
{
    tls_unref(arg);
}

static const sb_transport tls_transport = {
    "TLS",        tls_attach,  tls_handshake, tls_recv,   tls_send,
    tls_shutdown, tls_pending, tls_detail,    tls_detach, tls_release,
};

static int tls_attach(void *arg, sb_conn *c, int fd, void **out)
{
    sb_tls *t = arg;
    tls_conn *tc;
    BIO *b;

    (void)fd;
    if (!bio_method)
        return -ENOMEM;
    tc = calloc(1, sizeof(*tc));
    if (!tc)
        return -ENOMEM;
    tc->t = t;
    tc->c = c;
    tc->ssl = SSL_new(t->ctx[0]);
    b = tc->ssl ? BIO_new(bio_method) : NULL;
    if (!b) {
        SSL_free(tc->ssl);
        free(tc);
        ERR_clear_error();
        return -ENOMEM;
    }
    BIO_set_data(b, tc);
    SSL_set_bio(tc->ssl, b, b);
    SSL_set_app_data(tc->ssl, tc);
    if (t->mode == SB_TLS_SERVER)
        SSL_set_accept_state(tc->ssl);
    else
        SSL_set_connect_state(tc->ssl);
    t->refs++;
    *out = tc;
    return 0;
}

static tls_conn *conn_tls(const sb_conn *c)
{
    return c ? sb_conn_transport(c, &tls_transport) : NULL;
}

/* --------------------------------------------------------- configuration */

/* Server: the certificate whose names match the client's SNI. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
    sb_tls *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    int i;

    tls_conn *tc = SSL_get_app_data(ssl);

    (void)alert;
    if (name && tc)
        snprintf(tc->sni, sizeof(tc->sni), "%s", name);
    if (!name || t->nctx < 2)
        return SSL_TLSEXT_ERR_OK;
    for (i = 0; i < t->nctx; i++) {
        X509 *x = SSL_CTX_get0_certificate(t->ctx[i]);
        if (x && X509_check_host(x, name, strlen(name), 0, NULL) == 1) {
            if (i > 0)
                SSL_set_SSL_CTX(ssl, t->ctx[i]);
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK; /* no match: the default certificate */
}

/* Server: the first of our ALPN protocols the client offers. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    sb_tls *t = arg;
    unsigned char *o;

    (void)ssl;
    if (!t->alpn_len)
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_select_next_proto(&o, outlen, t->alpn, t->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301: no_application_protocol */
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

/* Client: keep the session (TLS 1.3 tickets come after the handshake). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    tls_conn *tc = SSL_get_app_data(ssl);
    sb_tls *t;
    unsigned i, slot;

    if (!tc || !tc->name)
        return 0;
    t = tc->t;
    slot = t->cache_next;
    for (i = 0; i < TLS_CACHE; i++)
        if (t->cache[i].name && strcmp(t->cache[i].name, tc->name) == 0) {
            slot = i;
            break;
        }
    if (slot == t->cache_next) {
        char *n = strdup(tc->name);
        if (!n)
            return 0;
        free(t->cache[slot].name);
        t->cache[slot].name = n;
        t->cache_next = (t->cache_next + 1) % TLS_CACHE;
    }
    if (t->cache[slot].sess)
        SSL_SESSION_free(t->cache[slot].sess);
    t->cache[slot].sess = sess;
    return 1; /* ours now */
}

static int verify_flags(const sb_tls *t)
{
    if (t->verify == SB_TLS_VERIFY_NONE)
        return SSL_VERIFY_NONE;
    if (t->mode == SB_TLS_SERVER && t->verify == SB_TLS_VERIFY_REQUIRE)
        return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    return SSL_VERIFY_PEER;
}

static void apply_resume(sb_tls *t, SSL_CTX *x)
{
    if (t->mode == SB_TLS_SERVER) {
        if (t->resume) {
            SSL_CTX_clear_options(x, SSL_OP_NO_TICKET);
            SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_SERVER);
            SSL_CTX_set_num_tickets(x, 2);
        } else {
            SSL_CTX_set_options(x, SSL_OP_NO_TICKET);
            SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
            SSL_CTX_set_num_tickets(x, 0);
        }
    } else {
        SSL_CTX_set_session_cache_mode(x, t->resume ? SSL_SESS_CACHE_CLIENT |
                                                          SSL_SESS_CACHE_NO_INTERNAL_STORE
                                                    : SSL_SESS_CACHE_OFF);
    }
}

/* The peer's alerts: close_notify tells a clean end from a bare EOF
 * (which SSL_OP_IGNORE_UNEXPECTED_EOF reports the same way). */
static void on_info(const SSL *ssl, int where, int ret)
{
    tls_conn *tc;

    if (!(where & SSL_CB_READ_ALERT) || (ret & 0xff) != SSL3_AD_CLOSE_NOTIFY)
        return;
    tc = SSL_get_app_data(ssl);
    if (tc)
        tc->close_notify = 1;
}

/* A context with the configuration's common settings. */
static SSL_CTX *ctx_new(sb_tls *t)
{
    SSL_CTX *x = SSL_CTX_new(t->mode == SB_TLS_SERVER ? TLS_server_method() : TLS_client_method());

    if (!x)
        return NULL;
    SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(x, TLS1_3_VERSION);
    SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_IGNORE_UNEXPECTED_EOF |
                               (t->mode == SB_TLS_SERVER ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
    SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(x, 1);
    SSL_CTX_set_default_read_buffer_len(x, TLS_READ_AHEAD);
    SSL_CTX_set_info_callback(x, on_info);
    SSL_CTX_set_verify(x, verify_flags(t), NULL);
    if (t->mode == SB_TLS_SERVER) {
        static const unsigned char sid[] = "switchboard";
        SSL_CTX_set_session_id_context(x, sid, sizeof(sid) - 1);
        SSL_CTX_set_tlsext_servername_callback(x, on_servername);
        SSL_CTX_set_tlsext_servername_arg(x, t);
        SSL_CTX_set_alpn_select_cb(x, on_alpn, t);
    } else {
        SSL_CTX_sess_set_new_cb(x, on_new_session);
    }
    apply_resume(t, x);
    return x;
}

sb_tls *sb_tls_new(int mode, int *err)
{
    sb_tls *t;

    if (mode != SB_TLS_SERVER && mode != SB_TLS_CLIENT) {
        if (err)
            *err = -EINVAL;
        return NULL;
    }
    CRYPTO_THREAD_run_once(&bio_once, bio_init);
    t = calloc(1, sizeof(*t));
    if (!t || !bio_method) {
        free(t);
        if (err)
            *err = -ENOMEM;
        return NULL;
    }
    t->mode = mode;
    t->refs = 1;
    t->verify = mode == SB_TLS_CLIENT ? SB_TLS_VERIFY_PEER : SB_TLS_VERIFY_NONE;
    t->resume = 1;
    t->hs_ms = 10000;
    t->ctx[0] = ctx_new(t);
    if (!t->ctx[0]) {
        ERR_clear_error();
        free(t);
        if (err)
            *err = -ENOMEM;
        return NULL;
    }
    t->nctx = 1;
    if (mode == SB_TLS_CLIENT && SSL_CTX_set_default_verify_paths(t->ctx[0]) != 1)
        ERR_clear_error(); /* no system store: only a CA given later verifies */
    return t;
}

static void tls_unref(sb_tls *t)
{
    int i;

    if (--t->refs)
        return;
    for (i = 0; i < t->nctx; i++)
        SSL_CTX_free(t->ctx[i]);
    for (i = 0; i < TLS_CACHE; i++) {
        free(t->cache[i].name);
        if (t->cache[i].sess)
            SSL_SESSION_free(t->cache[i].sess);
    }
    free(t);
}

void sb_tls_free(sb_tls *t)
{
    if (t)
        tls_unref(t);
}

/* Load a chain and key into x; 0 or a code (t->err says why). */
static int load_cert(sb_tls *t, SSL_CTX *x, const char *cert, const char *key)
{
    FILE *f;

    /* A missing file is named as such, not as a PEM error. */
    if (!(f = fopen(cert, "r")) || fclose(f)) {
        snprintf(t->err, sizeof(t->err), "%s: %s", cert, strerror(errno));
        return -errno;
    }
    if (!(f = fopen(key, "r")) || fclose(f)) {
        snprintf(t->err, sizeof(t->err), "%s: %s", key, strerror(errno));
        return -errno;
    }
    if (SSL_CTX_use_certificate_chain_file(x, cert) != 1)
        return cfg_fail(t, SB_ETLS, cert);
    if (SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM) != 1)
        return cfg_fail(t, SB_ETLS, key);
    if (SSL_CTX_check_private_key(x) != 1)
        return cfg_fail(t, SB_ETLS, "the key does not match the certificate");
    return 0;
}

int sb_tls_add_cert(sb_tls *t, const char *cert_file, const char *key_file)
{
    SSL_CTX *x;
    int r;

    if (!t || !cert_file || !key_file)
        return -EINVAL;
    t->err[0] = '\0';
    if (t->ncert == 0 || t->mode == SB_TLS_CLIENT) {
        /* The default one (a client's own certificate: only one). */
        r = load_cert(t, t->ctx[0], cert_file, key_file);
        if (r == 0)
            t->ncert = 1;
        return r;
    }
    if (t->nctx == TLS_MAX_CTX) {
        snprintf(t->err, sizeof(t->err), "at most %d certificates", TLS_MAX_CTX);
        return -ENOSPC;
    }
    x = ctx_new(t);
    if (!x)
        return cfg_fail(t, -ENOMEM, "SSL_CTX_new");
    r = load_cert(t, x, cert_file, key_file);
    if (r == 0) {
        /* What is set per context: the default's trust and versions. */
        X509_STORE *st = SSL_CTX_get_cert_store(t->ctx[0]);
        STACK_OF(X509_NAME) *cas = SSL_CTX_get_client_CA_list(t->ctx[0]);
        if (st && X509_STORE_up_ref(st))
            SSL_CTX_set_cert_store(x, st);
        if (cas) {
            STACK_OF(X509_NAME) *dup = SSL_dup_CA_list(cas);
            if (dup)
                SSL_CTX_set_client_CA_list(x, dup);
        }
        SSL_CTX_set_min_proto_version(x, SSL_CTX_get_min_proto_version(t->ctx[0]));
        SSL_CTX_set_max_proto_version(x, SSL_CTX_get_max_proto_version(t->ctx[0]));
        t->ctx[t->nctx++] = x;
        t->ncert++;
        return 0;
    }
    SSL_CTX_free(x);
    return r;
}

int sb_tls_set_ca(sb_tls *t, const char *ca_file, const char *ca_dir)
{
    int i;

    if (!t || (!ca_file && !ca_dir))
        return -EINVAL;
    t->err[0] = '\0';
    for (i = 0; i < t->nctx; i++) {
        if (i == 0 && t->mode == SB_TLS_CLIENT) {
            /* Instead of the system store. */
            X509_STORE *st = X509_STORE_new();
            if (!st)
                return cfg_fail(t, -ENOMEM, "X509_STORE_new");
            SSL_CTX_set_cert_store(t->ctx[0], st);
        }
        if (SSL_CTX_load_verify_locations(t->ctx[i], ca_file, ca_dir) != 1)
            return cfg_fail(t, SB_ETLS, ca_file ? ca_file : ca_dir);
        if (t->mode == SB_TLS_SERVER && ca_file) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
            if (!names)
                return cfg_fail(t, SB_ETLS, ca_file);
            SSL_CTX_set_client_CA_list(t->ctx[i], names);
        }
    }
    return 0;
}

int sb_tls_set_verify(sb_tls *t, int mode)
{
    int i;

    if (!t || mode < SB_TLS_VERIFY_NONE || mode > SB_TLS_VERIFY_REQUIRE)
        return -EINVAL;
    t->verify = mode;
    for (i = 0; i < t->nctx; i++)
        SSL_CTX_set_verify(t->ctx[i], verify_flags(t), NULL);
    return 0;
}

int sb_tls_set_alpn(sb_tls *t, const char *protos)
{
    unsigned char wire[sizeof(t->alpn)];
    unsigned len = 0;
    const char *p = protos;

    if (!t)
        return -EINVAL;
    t->err[0] = '\0';
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || n > 255 || len + 1 + n > sizeof(wire)) {
            snprintf(t->err, sizeof(t->err), "bad ALPN list \"%s\"", protos);
            return -EINVAL;
        }
        wire[len++] = (unsigned char)n;
        memcpy(wire + len, p, n);
        len += (unsigned)n;
        p = e ? e + 1 : p + n;
    }
    if (t->mode == SB_TLS_CLIENT && SSL_CTX_set_alpn_protos(t->ctx[0], len ? wire : NULL, len))
        return cfg_fail(t, -ENOMEM, "ALPN");
    memcpy(t->alpn, wire, len);
    t->alpn_len = len;
    return 0;
}

int sb_tls_set_versions(sb_tls *t, int min, int max)
{
    int i;

    if (!t)
        return -EINVAL;
    if (!min)
        min = SB_TLS_1_2;
    if (!max)
        max = SB_TLS_1_3;
    if ((min != SB_TLS_1_2 && min != SB_TLS_1_3) || (max != SB_TLS_1_2 && max != SB_TLS_1_3) ||
        min > max) {
        snprintf(t->err, sizeof(t->err), "versions: TLS 1.2 and 1.3 only, lowest first");
        return -EINVAL;
    }
    for (i = 0; i < t->nctx; i++) {
        SSL_CTX_set_min_proto_version(t->ctx[i], min);
        SSL_CTX_set_max_proto_version(t->ctx[i], max);
    }
    return 0;
}

int sb_tls_set_resumption(sb_tls *t, int on)
{
    int i;

    if (!t)
        return -EINVAL;
    t->resume = on != 0;
    for (i = 0; i < t->nctx; i++)
        apply_resume(t, t->ctx[i]);
    return 0;
}

int sb_tls_set_handshake_timeout(sb_tls *t, unsigned ms)
{
    if (!t)
        return -EINVAL;
    t->hs_ms = ms ? ms : 10000;
    return 0;
}

const char *sb_tls_config_error(const sb_tls *t)
{
    return t ? t->err : "";
}

/* ----------------------------------------------------------- attaching */

int sb_tls_listen(sb_listener *l, sb_tls *t)
{
    int r;

    if (!l || !t || t->mode != SB_TLS_SERVER)
        return -EINVAL;
    if (t->ncert == 0) {
        snprintf(t->err, sizeof(t->err), "a server needs a certificate (sb_tls_add_cert)");
        return -EINVAL;
    }
    t->refs++; /* the listener's, until it closes or gets another */
    r = sb_listener_set_transport(l, &tls_transport, t, t->hs_ms);
    if (r < 0)
        t->refs--;
    return r;
}

int sb_tls_connect(sb_conn *c, sb_tls *t, const char *servername)
{
    unsigned char ip[16];
    tls_conn *tc;
    int is_ip, r, i;

    if (!c || !t || t->mode != SB_TLS_CLIENT)
        return -EINVAL;
    if (!servername && t->verify != SB_TLS_VERIFY_NONE) {
        snprintf(t->err, sizeof(t->err), "verification needs the server's name");
        return -EINVAL;
    }
    r = sb_conn_set_transport(c, &tls_transport, t, t->hs_ms);
    if (r < 0)
        return r;
    if (!servername)
        return 0;
    tc = conn_tls(c);
    is_ip = inet_pton(AF_INET, servername, ip) == 1 || inet_pton(AF_INET6, servername, ip) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(tc->ssl, servername) != 1)
        return cfg_fail(t, SB_ETLS, "SNI");
    if (t->verify != SB_TLS_VERIFY_NONE) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(tc->ssl);
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, servername)
                       : X509_VERIFY_PARAM_set1_host(vp, servername, 0);
        if (ok != 1)
            return cfg_fail(t, SB_ETLS, "host name check");
    }
    if (t->resume) {
        tc->name = strdup(servername);
        if (!tc->name)
            return -ENOMEM;
        for (i = 0; i < TLS_CACHE; i++)
            if (t->cache[i].name && strcmp(t->cache[i].name, servername) == 0) {
                SSL_set_session(tc->ssl, t->cache[i].sess);
                break;
            }
    }
    return 0;
}

/* --------------------------------------------------------------- queries */

int sb_tls_active(const sb_conn *c)
{
    return conn_tls(c) != NULL;
}

const char *sb_tls_alpn(const sb_conn *c)
{
    tls_conn *tc = conn_tls(c);

    return tc && tc->alpn[0] ? tc->alpn : NULL;
}

const char *sb_tls_servername(const sb_conn *c)
{
    tls_conn *tc = conn_tls(c);

    if (!tc)
        return NULL;
    if (tc->t->mode == SB_TLS_SERVER)
        return tc->sni[0] ? tc->sni : NULL;
    return SSL_get_servername(tc->ssl, TLSEXT_NAMETYPE_host_name);
}

const char *sb_tls_version(const sb_conn *c)
{
    tls_conn *tc = conn_tls(c);

    return tc ? SSL_get_version(tc->ssl) : NULL;
}

const char *sb_tls_cipher(const sb_conn *c)
{
    tls_conn *tc = conn_tls(c);

    return tc ? SSL_get_cipher_name(tc->ssl) : NULL;
}

int sb_tls_resumed(const sb_conn *c)
{
    tls_conn *tc = conn_tls(c);

    return tc ? SSL_session_reused(tc->ssl) : 0;
}

int sb_tls_peer_subject(const sb_conn *c, char *buf, size_t len)
{
    tls_conn *tc = conn_tls(c);
    X509 *x;
    char tmp[512];

    if (!tc || !(x = SSL_get0_peer_certificate(tc->ssl)))
        return -ENOENT;
    X509_NAME_oneline(X509_get_subject_name(x), tmp, sizeof(tmp));
    return snprintf(buf, len, "%s", tmp);
}

const char *sb_tls_error(const sb_conn *c)
{
    tls_conn *tc = conn_tls(c);

    return tc ? tc->err : "";
}
