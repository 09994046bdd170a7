/*
 * The demos' TLS options (see tlsopt.h).
 */
#include "tlsopt.h"

#include <stdio.h>
#include <string.h>

#ifdef SB_WITH_TLS
#include "switchboard_tls.h"
#endif

int sbd_tls_built(void)
{
#ifdef SB_WITH_TLS
    return 1;
#else
    return 0;
#endif
}

static int unbuilt(const char *name)
{
    fprintf(stderr, "%s: built without TLS support (rebuild with make TLS=1)\n", name);
    return 2;
}

static int opt_file(const char *name, const char *opt, const char **files, int *n,
                    const char *file)
{
    if (*n == SBD_TLS_MAX_CERTS) {
        fprintf(stderr, "%s: at most %d %s options\n", name, SBD_TLS_MAX_CERTS, opt);
        return 2;
    }
    files[(*n)++] = file;
    return 0;
}

int sbd_tls_opt_cert(const char *name, sbd_tls *o, const char *file)
{
    return opt_file(name, "--tls-cert", o->cert, &o->ncert, file);
}

int sbd_tls_opt_key(const char *name, sbd_tls *o, const char *file)
{
    return opt_file(name, "--tls-key", o->key, &o->nkey, file);
}

int sbd_tls_check(const char *name, const sbd_tls *o)
{
    if (!o->ncert && !o->nkey && !o->client && !o->ca && !o->insecure && !o->servername)
        return 0;
    if (!sbd_tls_built())
        return unbuilt(name);
    if (o->ncert != o->nkey) {
        fprintf(stderr, "%s: --tls-cert and --tls-key go together (one --tls-key for each "
                        "--tls-cert)\n",
                name);
        return 2;
    }
    if ((o->ca || o->insecure || o->servername) && !o->client) {
        fprintf(stderr, "%s: --ca, --insecure and --servername need --tls\n", name);
        return 2;
    }
    return 0;
}

#ifdef SB_WITH_TLS
int sbd_tls_listen(sbd *d, sbd_tls *o, const char *alpn)
{
    int err = 0, i, rc;

    if (!o->ncert)
        return 0;
    o->tls = sb_tls_new(SB_TLS_SERVER, &err);
    if (!o->tls) {
        fprintf(stderr, "%s: TLS: %s\n", d->name, sb_strerror(err));
        return 1;
    }
    for (i = 0, rc = 0; i < o->ncert && rc == 0; i++)
        rc = sb_tls_add_cert(o->tls, o->cert[i], o->key[i]);
    if (rc != 0 || (alpn && (rc = sb_tls_set_alpn(o->tls, alpn)) != 0)) {
        const char *why = sb_tls_config_error(o->tls);
        fprintf(stderr, "%s: TLS: %s\n", d->name, *why ? why : sb_strerror(rc));
        return 1;
    }
    for (i = 0; i < d->nlisteners; i++) {
        if (d->listeners[i] && (rc = sb_tls_listen(d->listeners[i], o->tls)) != 0) {
            fprintf(stderr, "%s: TLS: %s\n", d->name, sb_strerror(rc));
            return 1;
        }
    }
    return 0;
}

int sbd_tls_client(const char *name, sbd_tls *o, const char *alpn)
{
    int err = 0, rc = 0;

    if (!o->client)
        return 0;
    o->tls = sb_tls_new(SB_TLS_CLIENT, &err);
    if (!o->tls) {
        fprintf(stderr, "%s: TLS: %s\n", name, sb_strerror(err));
        return 1;
    }
    if (o->ca)
        rc = sb_tls_set_ca(o->tls, o->ca, NULL);
    if (rc == 0 && o->insecure)
        rc = sb_tls_set_verify(o->tls, SB_TLS_VERIFY_NONE);
    if (rc == 0 && alpn)
        rc = sb_tls_set_alpn(o->tls, alpn);
    if (rc) {
        const char *why = sb_tls_config_error(o->tls);
        fprintf(stderr, "%s: TLS: %s\n", name, *why ? why : sb_strerror(rc));
        return 1;
    }
    return 0;
}

int sbd_tls_connect(sbd_tls *o, sb_conn *c, const char *host)
{
    if (!o->tls)
        return 0;
    return sb_tls_connect(c, o->tls, o->servername ? o->servername : host);
}

const char *sbd_tls_describe(const sb_conn *c, char *buf, size_t len)
{
    const char *v = sb_tls_version(c), *ci = sb_tls_cipher(c), *a = sb_tls_alpn(c);

    if (!sb_tls_active(c) || !v) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    snprintf(buf, len, "%s %s%s%s%s", v, ci ? ci : "?", a ? " alpn " : "", a ? a : "",
             sb_tls_resumed(c) ? " resumed" : "");
    return buf;
}

const char *sbd_tls_error(const sb_conn *c)
{
    const char *e = sb_tls_error(c);
    return e ? e : "";
}

void sbd_tls_free(sbd_tls *o)
{
    sb_tls_free(o->tls);
    o->tls = NULL;
}
#else
int sbd_tls_listen(sbd *d, sbd_tls *o, const char *alpn)
{
    (void)alpn;
    return o->ncert ? unbuilt(d->name) : 0;
}

int sbd_tls_client(const char *name, sbd_tls *o, const char *alpn)
{
    (void)alpn;
    return o->client ? unbuilt(name) : 0;
}

int sbd_tls_connect(sbd_tls *o, sb_conn *c, const char *host)
{
    (void)o;
    (void)c;
    (void)host;
    return 0;
}

const char *sbd_tls_describe(const sb_conn *c, char *buf, size_t len)
{
    (void)c;
    if (len)
        buf[0] = '\0';
    return buf;
}

const char *sbd_tls_error(const sb_conn *c)
{
    (void)c;
    return "";
}

void sbd_tls_free(sbd_tls *o)
{
    o->tls = NULL;
}
#endif
