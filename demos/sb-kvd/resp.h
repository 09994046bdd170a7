/*
 * sb-kvd's RESP2 side.  Replies: each one built in a stack buffer and
 * queued with one sb_write(); the library sends everything a read produced
 * in one send().  Requests: the parser, a worked example of switching
 * framers inside on_data: a "*N" line (delimiter framer), then per
 * argument a "$len" line (same framer) and a fixed-length body (fixed
 * framer, len + 2 bytes for the trailing CRLF).  A line not starting with
 * '*' is an inline command (telnet, redis-benchmark's PING_INLINE).
 */
#ifndef SB_KVD_RESP_H
#define SB_KVD_RESP_H

#include "kvd.h"

#include <stddef.h>

/* ---------------------------------------------------------------- replies */

/* Queue one reply (raw bytes).  A failed write (past --max-output, or out
 * of memory) resets the client and sets cl->gone; later ones are no-ops. */
void out(client *cl, const void *p, size_t n);
/* At --log-level info and above: "sb-kvd: client PEER: MESSAGE" on stderr. */
void client_log(client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define OUT_LIT(cl, s) out(cl, s, sizeof(s) - 1)
/* v in decimal into buf (at most 20 bytes, no NUL).  Returns the length. */
size_t fmt_ll(char *buf, long long v);
void reply_int(client *cl, long long v);
void reply_array(client *cl, long long n);
void reply_bulk(client *cl, const char *p, size_t n);
void reply_nil(client *cl);
void reply_ok(client *cl);
/* "-CODE message\r\n", with CR and LF in the message made spaces. */
void reply_error(client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ERR_NOT_INT "ERR value is not an integer or out of range"
#define ERR_SYNTAX "ERR syntax error"
#define ERR_NOMEM "ERR out of memory"

void reply_arity(client *cl, const char *fullname);

/* Redis' string2ll.  Returns 1 with *out set, or 0. */
int str2ll(const char *s, size_t n, long long *out);

/* ----------------------------------------------------------------- parser */

/* One message each, cut by the framer cl->state asked for (on_data calls
 * these; a line has its trailing CR already dropped). */
void got_line(client *cl, const char *d, size_t n);   /* ST_LINE */
void got_header(client *cl, const char *d, size_t n); /* ST_HEADER */
void got_body(client *cl, const char *d);             /* ST_BODY: bulk + 2 bytes */
/* Free the client's argument buffers (after a protocol error, at close). */
void free_args(client *cl);

#endif
