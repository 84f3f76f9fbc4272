/* Sweep files: lists, `seeds`, rule-scoped `RULE.key` lines. An expanded
 * sweep must give its first and last cell, and its spec text must load
 * back to a sweep with the same cells. */
#include "biopp/sweep.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("sweep.ini", data, size);
    bp_error err;
    bp_sweep *s = malloc(sizeof *s), *back = malloc(sizeof *back);
    bp_sweep_cell *cell = malloc(sizeof *cell);
    if (!s || !back || !cell) abort();
    bp_sweep_init(s);
    bp_sweep_init(back);
    if (bp_sweep_load(s, path, &err) == BP_OK && bp_sweep_expand(s, &err) == BP_OK) {
        if (bp_sweep_cell_at(s, 0, cell, &err) != BP_OK) abort();
        if (bp_sweep_cell_at(s, s->n_cells - 1, cell, &err) != BP_OK) abort();
        char *spec = NULL;
        if (bp_sweep_spec_text(s, &spec, &err) != BP_OK) abort();
        char copy[512];
        snprintf(copy, sizeof copy, "%s", fuzz_file("spec.ini", (uint8_t *)spec, strlen(spec)));
        free(spec);
        if (bp_sweep_load(back, copy, &err) != BP_OK || bp_sweep_expand(back, &err) != BP_OK)
            abort();
        if (back->n_cells != s->n_cells || back->n_seeds != s->n_seeds) abort();
    }
    bp_sweep_free(s);
    bp_sweep_free(back);
    free(s);
    free(back);
    free(cell);
    return 0;
}
