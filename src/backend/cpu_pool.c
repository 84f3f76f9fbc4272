#include "cpu_pool.h"

#include <pthread.h>
#include <stdlib.h>

struct bp_pool {
    int size;              /* participants, caller included */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long generation;
    int pending;           /* workers still busy with this generation */
    int quit;
    int n;
    void (*fn)(void *arg, int i);
    void *arg;
};

typedef struct {
    bp_pool *pool;
    int id;
} worker_arg;

static void run_share(bp_pool *p, int id)
{
    for (int i = id; i < p->n; i += p->size) p->fn(p->arg, i);
}

static void *worker_main(void *v)
{
    worker_arg *wa = v;
    bp_pool *p = wa->pool;
    int id = wa->id;
    free(wa);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_share(p, id);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

bp_pool *bp_pool_create(int threads)
{
    if (threads < 2) return NULL;
    bp_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->size = 1;
    for (int t = 1; t < threads; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        wa->pool = p;
        wa->id = t;
        if (pthread_create(&p->workers[t - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            break;
        }
        p->size++;
    }
    if (p->size < 2) {
        bp_pool_destroy(p);
        return NULL;
    }
    return p;
}

void bp_pool_destroy(bp_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int t = 0; t < p->size - 1; t++) pthread_join(p->workers[t], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int bp_pool_size(const bp_pool *p) { return p ? p->size : 1; }

void bp_pool_for(bp_pool *p, int n, void (*fn)(void *arg, int i), void *arg)
{
    if (!p || n < 2) {
        for (int i = 0; i < n; i++) fn(arg, i);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->n = n;
    p->fn = fn;
    p->arg = arg;
    p->pending = p->size - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_share(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
