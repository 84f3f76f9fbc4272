/* Shared test fixtures: tiny in-memory datasets, one-step training of a
 * group, and host copies of its parameters. */
#ifndef BIOPP_TEST_HELPERS_H
#define BIOPP_TEST_HELPERS_H

#include "biopp/backend.h"
#include "biopp/data.h"
#include "biopp/net.h"
#include "biopp/train.h"

/* A dataset of n random samples of `dim` pixels and `classes` classes
 * (train and test alike), deterministic in seed. */
void th_make_dataset(bp_dataset *ds, int n, int dim, int classes, unsigned seed);

/* A small config: batch = train_size = n, given hidden widths, rule. */
void th_config(bp_config *cfg, bp_rule_id rule, int n_hidden, const int *hidden, int n);

/* Host copy of run r of an arena's params (p), grads (g) or state. */
float *th_download(bp_group *g, const bp_arena *a, const float *src, int r);
/* Overwrites run r's tensor i of arena a with host values. */
void th_set_tensor(bp_group *g, const bp_arena *a, float *dst_arena, int i, int r,
                   const float *values);
/* Pointer to tensor i inside a host copy made by th_download. */
float *th_tensor(const bp_net *net, const bp_arena *a, float *host, int i);

/* Sets each listed feedback tensor (run 0) to the transpose of W_{layer[i]}. */
void th_tie_to_wt(bp_group *g, const bp_arena *a, float *dst, const int *tensor,
                  const int *layer, int count);

/* Trains one epoch (one step when batch == train_size); asserts success. */
void th_epoch(bp_group *g, bp_epoch_metrics *m);

/* Max |a-b| / (atol + rtol |b|) over n; <= 1 means within tolerance. */
double th_max_rel(const float *a, const double *b, size_t n, double atol, double rtol);

/* Path of the shared MNIST data, or NULL when absent (tests then skip). */
const char *th_mnist_dir(void);

/* Running the biopp binary as a user does ---------------------------- */

/* The binary under test: $BIOPP_BIN, else build/biopp. */
const char *th_bin(void);

/* Runs a shell command line (printf-style) with stderr joined to stdout;
 * returns its exit status (-1 when killed by a signal). When out is not
 * NULL, *out is the whole output (malloc'd, the caller frees). */
int th_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A new empty folder under /tmp (malloc'd name, the caller frees). */
char *th_tmpdir(void);

/* The whole of a text file (malloc'd); fails the test when unreadable. */
char *th_slurp(const char *path);
/* th_slurp of dir/name. */
char *th_slurp_in(const char *dir, const char *name);

/* dir/<fmt...> in a static buffer, 8 in rotation (so a few can be used in
 * one call); for a suite's temporary folder. */
const char *th_path(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes text to dir/name; returns the path (malloc'd, the caller frees). */
char *th_write_in(const char *dir, const char *name, const char *text);

/* Fails the test when text lacks needle, showing the text. */
void th_assert_has(const char *text, const char *needle);

#endif
