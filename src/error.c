/*
 * Error codes: negative errno values for system errors, and the library's
 * own codes (SB_E*) in a reserved range.  One table names them all.
 */
#include "internal.h"

#include <string.h>

static const struct {
    int code;
    const char *msg;
} sb__errors[] = {
    {SB_EINVAL_ADDR, "address does not parse (want host:port, [v6]:port, *:port or unix:/path)"},
    {SB_EPORT, "port missing or out of range 0..65535"},
    {SB_ECLOSED, "connection is closing or closed"},
    {SB_EABORTED, "connection aborted locally"},
    {SB_EBUSY, "handles are still alive"},
    {SB_ERESOLVE, "host name could not be resolved"},
    {SB_EBUFFULL, "output queue is full"},
    {SB_ESIGNAL, "signal cannot be watched (invalid or already watched)"},
    {SB_ETOOLONG, "message longer than the maximum length"},
    {SB_EFRAME, "malformed frame header"},
    {SB_ENESTED, "called from inside a callback of the same loop"},
    {SB_EFDSET, "fd does not fit in an fd_set (FD_SETSIZE)"},
    {SB_ESHORTFILE, "file ended before the length queued for sending"},
    {SB_ETRUNCATED, "peer closed without close_notify (truncated stream)"},
    {SB_ETLS, "TLS protocol error"},
    {SB_ETLSHANDSHAKE, "TLS handshake failed"},
    {SB_ETLSVERIFY, "TLS certificate verification failed"},
    {SB_WANT_READ, "transport needs the socket readable"},
    {SB_WANT_WRITE, "transport needs the socket writable"},
};

#ifdef _WIN32
/* The POSIX errno names os_win32.c maps winsock's errors to, which the
 * Windows C runtime's strerror() calls "Unknown error". */
static const struct {
    int code;
    const char *msg;
} sb__win_errnos[] = {
    {EADDRINUSE, "Address already in use"},
    {EADDRNOTAVAIL, "Cannot assign requested address"},
    {EAFNOSUPPORT, "Address family not supported by protocol"},
    {EALREADY, "Operation already in progress"},
    {ECONNABORTED, "Software caused connection abort"},
    {ECONNREFUSED, "Connection refused"},
    {ECONNRESET, "Connection reset by peer"},
    {EHOSTUNREACH, "No route to host"},
    {EINPROGRESS, "Operation now in progress"},
    {EISCONN, "Transport endpoint is already connected"},
    {EMSGSIZE, "Message too long"},
    {ENETDOWN, "Network is down"},
    {ENETRESET, "Network dropped connection on reset"},
    {ENETUNREACH, "Network is unreachable"},
    {ENOBUFS, "No buffer space available"},
    {ENOPROTOOPT, "Protocol not available"},
    {ENOTCONN, "Transport endpoint is not connected"},
    {ENOTSOCK, "Socket operation on non-socket"},
    {EOPNOTSUPP, "Operation not supported"},
    {EPROTONOSUPPORT, "Protocol not supported"},
    {EPROTOTYPE, "Protocol wrong type for socket"},
    {ETIMEDOUT, "Connection timed out"},
};
#endif

/*
 * A static message for any code the library returns or reports.  0 is
 * "success"; -errno codes use strerror(), which glibc and musl both keep
 * static for known values.
 */
const char *sb_strerror(int code)
{
    size_t i;

    if (code == 0)
        return "success";
    for (i = 0; i < sizeof(sb__errors) / sizeof(sb__errors[0]); i++)
        if (sb__errors[i].code == code)
            return sb__errors[i].msg;
#ifdef _WIN32
    for (i = 0; i < sizeof(sb__win_errnos) / sizeof(sb__win_errnos[0]); i++)
        if (sb__win_errnos[i].code == -code)
            return sb__win_errnos[i].msg;
#endif
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

const char *sb_version(void)
{
    return SB_VERSION_STRING;
}

int sb_version_number(void)
{
    return SB_VERSION_NUMBER;
}
