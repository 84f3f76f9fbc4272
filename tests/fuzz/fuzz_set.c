/* `--set key=value` values: each input line is one --set, applied to a
 * config (biopp train) and to a sweep (biopp sweep, where lists and
 * rule-scoped keys are allowed), then validated / expanded. */
#include "biopp/config.h"
#include "biopp/sweep.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    bp_config cfg;
    bp_error err;
    bp_config_defaults(&cfg);
    bp_sweep *s = malloc(sizeof *s);
    if (!s) abort();
    bp_sweep_init(s);
    int cfg_ok = 1, sweep_ok = 1, n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && n < 16;
         line = strtok_r(NULL, "\n", &save), n++) {
        if (cfg_ok && bp_config_override(&cfg, line, &err) != BP_OK) cfg_ok = 0;
        if (sweep_ok && bp_sweep_override(s, line, &err) != BP_OK) sweep_ok = 0;
    }
    if (cfg_ok) (void)bp_config_validate(&cfg, &err);
    if (sweep_ok && bp_sweep_expand(s, &err) == BP_OK) {
        bp_sweep_cell *cell = malloc(sizeof *cell);
        if (!cell) abort();
        if (bp_sweep_cell_at(s, s->n_cells - 1, cell, &err) != BP_OK) abort();
        free(cell);
    }
    bp_sweep_free(s);
    free(s);
    free(text);
    return 0;
}
