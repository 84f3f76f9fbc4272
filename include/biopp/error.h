/* Error reporting: every function that can fail returns a bp_status and,
 * when it fails, fills a bp_error with a message that says what failed,
 * where (file, line, value) and what to do. Nothing in the library exits. */
#ifndef BIOPP_ERROR_H
#define BIOPP_ERROR_H

#include <stddef.h>

typedef enum {
    BP_OK = 0,
    BP_ERR_ARG,        /* a caller passed an invalid value */
    BP_ERR_IO,         /* a file could not be opened, read or written */
    BP_ERR_FORMAT,     /* a file's content is invalid (bad header, size, label) */
    BP_ERR_CONFIG,     /* a config key or value is invalid */
    BP_ERR_NOMEM,      /* host or device memory exhausted */
    BP_ERR_DEVICE,     /* a CUDA / cuBLAS failure, or no device */
    BP_ERR_DIVERGED,   /* a loss became NaN or Inf */
    BP_ERR_INTERRUPTED,/* SIGINT / SIGTERM asked us to stop */
    BP_ERR_UNSUPPORTED /* feature not built in (e.g. CUDA=0) */
} bp_status;

typedef struct {
    bp_status code;
    char msg[1024];
} bp_error;

/* Sets err (if non-NULL) and returns code, so callers can write
 * `return bp_fail(err, BP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));` */
bp_status bp_fail(bp_error *err, bp_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends context to an existing message: "loading config: <old message>". */
bp_status bp_fail_context(bp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *bp_status_name(bp_status code);

#endif
