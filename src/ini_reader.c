/* The INI line reader shared by config and sweep files (the dialect is in
 * include/biopp/ini_reader.h).
 *
 * inih reads through an fgets-style callback. Ours hands it one cleaned-up,
 * syntax-checked line per call, so it always knows the line inih is on:
 * inih itself reports only "error on line N", our messages say what is
 * wrong, with file:line. Lines longer than inih's fixed buffer never reach
 * inih; the reader passes their pair on itself. */
#include "biopp/ini_reader.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <ini.h>

#define WHERE_MAX 4200 /* "file:line" for a path up to PATH_MAX */

typedef struct {
    const bp_ini_handler *h;
    const char *path;
    FILE *f;
    int lineno;       /* line last handed to inih */
    char *line;       /* getline buffer */
    size_t cap;
    char section[64]; /* current section ("" before the first header) */
    bool failed;
    bp_status status;
    bp_error *err;
} line_reader;

/* Records the first error. inih goes on calling the reader after a failed
 * handler, so the reader checks `failed` and ends the read. */
static bool reader_fail(line_reader *r, bp_status st)
{
    r->failed = true;
    r->status = st;
    return false;
}

static bool pass_pair(line_reader *r, const char *section, const char *key, const char *value)
{
    char where[WHERE_MAX];
    snprintf(where, sizeof where, "%s:%d", r->path, r->lineno);
    bp_status st = r->h->on_pair(r->h->user, section, key, value, where, r->lineno, r->err);
    return st != BP_OK ? reader_fail(r, st) : true;
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
    line_reader *r = user;
    if (r->failed)
        return 0;
    return pass_pair(r, section, name, value) ? 1 : 0;
}

/* Reads the next line; returns its text (after a byte order mark on line
 * 1), or NULL at the end of the file or on an error. */
static char *read_line(line_reader *r)
{
    errno = 0;
    ssize_t got = getline(&r->line, &r->cap, r->f);
    if (got < 0) {
        if (ferror(r->f)) {
            int e = errno;
            reader_fail(r, bp_fail(r->err, BP_ERR_IO, "%s: cannot read: %s", r->path,
                                   strerror(e ? e : EIO)));
        }
        return NULL;
    }
    r->lineno++;
    char *s = r->line;
    if (r->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
        s += 3; /* UTF-8 byte order mark */
    /* strlen would silently cut the line at a NUL byte */
    if (strlen(s) < (size_t)got - (size_t)(s - r->line)) {
        reader_fail(r, bp_fail(r->err, BP_ERR_CONFIG,
                               "%s:%d: NUL byte in line (not a text file?)", r->path,
                               r->lineno));
        return NULL;
    }
    return s;
}

/* A comment starts with ';' or '#' at the start or after whitespace; the
 * check for whitespace keeps a '#' inside a value such as a path. */
char *bp_ini_strip_line(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    for (char *p = s; *p; p++) {
        if ((*p == ';' || *p == '#') && (p == s || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            break;
        }
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* A "[section]" line: well formed and a section the caller knows. */
static bool check_header(line_reader *r, char *s)
{
    char *close = strchr(s, ']');
    if (!close)
        return reader_fail(r, bp_fail(r->err, BP_ERR_CONFIG, "%s:%d: '%s': missing ']'",
                                      r->path, r->lineno, s));
    if (close[1])
        return reader_fail(r, bp_fail(r->err, BP_ERR_CONFIG,
                                      "%s:%d: '%s': unexpected text after ']'", r->path,
                                      r->lineno, s));
    *close = '\0';
    bool ok = r->h->known_section(s + 1);
    if (ok)
        snprintf(r->section, sizeof r->section, "%s", s + 1);
    else
        reader_fail(r, bp_fail(r->err, BP_ERR_CONFIG,
                               "%s:%d: unknown section [%s] (valid sections: %s)", r->path,
                               r->lineno, s + 1, r->h->sections));
    *close = ']'; /* inih parses the header again */
    return ok;
}

/* A "key = value" line: eq is its first '=' or ':' (where inih splits it). */
static bool check_pair(line_reader *r, const char *s, const char *eq)
{
    if (!*eq)
        return reader_fail(r, bp_fail(r->err, BP_ERR_CONFIG,
                                      "%s:%d: '%s': expected 'key = value' or '[section]'",
                                      r->path, r->lineno, s));
    if (eq == s)
        return reader_fail(r, bp_fail(r->err, BP_ERR_CONFIG,
                                      "%s:%d: '%s': missing key before '%c'", r->path,
                                      r->lineno, s, *eq));
    return true;
}

/* A line too long for inih's buffer. Only a long value makes one (a header
 * that long is no known section), so s is a checked "key = value" with eq
 * at its separator and no leading whitespace: pass the pair on here. */
static bool pass_long_line(line_reader *r, char *s, char *eq)
{
    char *end = eq;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return pass_pair(r, r->section, s, eq + 1);
}

/* The fgets-style reader inih calls: one line per call into str (num
 * bytes), or NULL to end the read. */
static char *ini_reader_fn(char *str, int num, void *stream)
{
    line_reader *r = stream;
    if (r->failed || num < 2)
        return NULL;
    char *s = read_line(r);
    if (!s)
        return NULL;
    s = bp_ini_strip_line(s);
    char *eq = NULL;
    if (*s == '[') {
        if (!check_header(r, s))
            return NULL;
    } else if (*s) {
        eq = s + strcspn(s, "=:");
        if (!check_pair(r, s, eq))
            return NULL;
    }
    size_t len = strlen(s);
    if (len < (size_t)num) {
        memcpy(str, s, len + 1);
        return str;
    }
    if (!pass_long_line(r, s, eq))
        return NULL;
    str[0] = '\0'; /* inih sees a blank line and keeps counting */
    return str;
}

bp_status bp_ini_read(FILE *f, const char *path, const bp_ini_handler *h, bp_error *err)
{
    bp_error local; /* on_pair always gets an error to fill */
    line_reader r = {.h = h, .path = path, .f = f, .err = err ? err : &local};
    int rc = ini_parse_stream(ini_reader_fn, &r, ini_handler_fn, &r);
    free(r.line);
    if (r.failed)
        return r.status;
    if (rc == -2)
        return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", path);
    if (rc != 0) /* a line inih rejects that the checks above let through */
        return bp_fail(err, BP_ERR_CONFIG, "%s:%d: expected 'key = value' or '[section]'", path,
                       rc);
    return BP_OK;
}
