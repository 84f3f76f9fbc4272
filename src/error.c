#include "biopp/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bp_status bp_fail(bp_error *err, bp_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

bp_status bp_fail_context(bp_error *err, const char *fmt, ...)
{
    if (!err)
        return BP_ERR_ARG;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Both parts are bounded; a very long chain is cut, never overflowed. */
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t rest = sizeof err->msg - n - 3;
    strncpy(err->msg + n + 2, old, rest);
    err->msg[sizeof err->msg - 1] = '\0';
    return err->code;
}

const char *bp_status_name(bp_status code)
{
    switch (code) {
    case BP_OK: return "ok";
    case BP_ERR_ARG: return "invalid argument";
    case BP_ERR_IO: return "I/O error";
    case BP_ERR_FORMAT: return "bad file format";
    case BP_ERR_CONFIG: return "bad configuration";
    case BP_ERR_NOMEM: return "out of memory";
    case BP_ERR_DEVICE: return "device error";
    case BP_ERR_DIVERGED: return "diverged";
    case BP_ERR_INTERRUPTED: return "interrupted";
    case BP_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown error";
}
