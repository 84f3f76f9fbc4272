/* Shared by the libFuzzer targets (tests/fuzz/README.md): the loaders take
 * paths, so each input is written to a file in a private temporary folder
 * (on tmpfs when /dev/shm exists) before the reader under test sees it. */
#ifndef BIOPP_FUZZ_H
#define BIOPP_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The private folder, created on first use. */
static inline const char *fuzz_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/biopp-fuzz-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

/* Writes data to fuzz_dir()/name; returns the path (static buffer per name
 * slot: callers copy it when they need two). */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[4][512];
    static int slot;
    char *p = path[slot++ & 3];
    snprintf(p, sizeof path[0], "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    return p;
}

/* A NUL-terminated copy of the input (caller frees). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
