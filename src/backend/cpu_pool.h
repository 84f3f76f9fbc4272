/* A tiny persistent thread pool for the CPU backend: runs the independent
 * runs of a group in parallel (one OpenBLAS thread each), which beats
 * OpenBLAS's own threading on the small GEMMs of these networks. */
#ifndef BIOPP_CPU_POOL_H
#define BIOPP_CPU_POOL_H

typedef struct bp_pool bp_pool;

/* A pool of `threads` participants (the caller plus threads - 1 workers);
 * NULL when threads < 2 or on failure (callers then run serially). */
bp_pool *bp_pool_create(int threads);
void bp_pool_destroy(bp_pool *pool);
int bp_pool_size(const bp_pool *pool);

/* fn(arg, i) for every i in [0, n), spread over the participants; returns
 * when all are done. Item i always runs on participant i % size. */
void bp_pool_for(bp_pool *pool, int n, void (*fn)(void *arg, int i), void *arg);

#endif
