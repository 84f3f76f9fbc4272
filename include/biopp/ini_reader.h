/* Reading INI files line by line for config and sweep files.
 *
 * libinih parses; the reader in front of it (src/ini_reader.c) makes sure
 * every error names file:line, which inih alone cannot do for the checks
 * below. The dialect:
 *   - `[section]` headers, checked against the caller's known sections;
 *   - `key = value` (or `key: value`) lines, split at the first '=' or ':';
 *   - comments: a line whose first non-blank character is `;` or `#`, and
 *     inline comments that start with `;` or `#` preceded by whitespace;
 *   - leading whitespace on any line is ignored (no continuation lines), as
 *     is a UTF-8 byte order mark at the start of the file;
 *   - lines of any length (longer than inih's line buffer are handled here);
 *   - a NUL byte in a line is an error (not a text file).
 * Keys before the first header come with section "". What a key means, and
 * whether it may repeat, is the caller's business (bp_ini_pair_fn). */
#ifndef BIOPP_INI_READER_H
#define BIOPP_INI_READER_H

#include <stdbool.h>
#include <stdio.h>

#include "biopp/error.h"

/* One `key = value` line. where is "file:line" (for messages), line its
 * number. Returns BP_OK, or fills err and returns the error, which stops
 * the read. */
typedef bp_status (*bp_ini_pair_fn)(void *user, const char *section, const char *key,
                                    const char *value, const char *where, int line,
                                    bp_error *err);

typedef struct {
    bool (*known_section)(const char *name); /* whether [name] is allowed */
    const char *sections;                    /* listed when it is not: "[data], [model]" */
    bp_ini_pair_fn on_pair;
    void *user;                              /* passed to on_pair */
} bp_ini_handler;

/* Strips a comment and surrounding whitespace from one line, in place, as
 * bp_ini_read does; returns the start of what is left. */
char *bp_ini_strip_line(char *s);

/* Reads the open file f (named path in messages) to its end, or to the
 * first error. The caller opens and closes f, so it words its own "cannot
 * open" message. */
bp_status bp_ini_read(FILE *f, const char *path, const bp_ini_handler *h, bp_error *err);

#endif
