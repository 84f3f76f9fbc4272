/* The checkpoint reader, against a small BFA + Adam model (all three
 * arenas, with m and v). Each input is tried as it is and with a correct
 * CRC appended, so mutations get past the checksum to the header and
 * tensor table. BIOPP_FUZZ_SEED_OUT=FILE writes a valid checkpoint of the
 * model (for the seed corpus) and exits. */
#include <zlib.h>

#include "biopp/backend.h"
#include "biopp/runner.h"
#include "biopp/train.h"
#include "fuzz.h"

static bp_dataset ds;
static bp_backend *be;
static bp_group *g;

static void make_images(bp_images *im, int n, int dim)
{
    im->n = n;
    im->dim = im->width = dim;
    im->channels = im->height = 1;
    im->x = calloc((size_t)n * dim, 1);
    im->y = calloc((size_t)n, 1);
    if (!im->x || !im->y) abort();
    for (int i = 0; i < n * dim; i++) im->x[i] = (uint8_t)(i * 37);
    for (int i = 0; i < n; i++) im->y[i] = (uint8_t)(i % 3);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    bp_config cfg;
    bp_error err;
    bp_config_defaults(&cfg);
    cfg.rule = BP_RULE_BFA;
    cfg.optimizer = BP_OPT_ADAM;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 4;
    cfg.batch = cfg.train_size = cfg.eval_batch = 6;
    cfg.threads = 1;
    strcpy(ds.name, "synthetic");
    ds.classes = 3;
    make_images(&ds.train, 6, 8);
    make_images(&ds.test, 6, 8);
    uint64_t seed = cfg.seed;
    if (bp_backend_cpu_create(1, &be, &err) || bp_group_create(&cfg, &seed, 1, &ds, be, &g, &err)) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", err.msg);
        abort();
    }
    const char *out = getenv("BIOPP_FUZZ_SEED_OUT");
    if (out) {
        if (bp_checkpoint_save(g, 0, out, &err)) {
            fprintf(stderr, "fuzz_checkpoint: %s\n", err.msg);
            abort();
        }
        exit(0);
    }
    return 0;
}

static void try_load(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("checkpoint.bin", data, size);
    bp_error err;
    int epoch;
    (void)bp_checkpoint_peek_epoch(path, &epoch, &err);
    (void)bp_checkpoint_load(g, 0, path, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_load(data, size);
    uint8_t *fixed = malloc(size + 4);
    if (!fixed) abort();
    if (size) memcpy(fixed, data, size);
    uint32_t crc = (uint32_t)crc32(0L, data, (uInt)size);
    memcpy(fixed + size, &crc, 4);
    try_load(fixed, size + 4);
    free(fixed);
    return 0;
}
