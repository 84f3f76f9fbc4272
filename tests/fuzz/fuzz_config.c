/* An INI config through libinih, our reader and bp_config_set, then the
 * cross-key validation; a valid config must write out and load back to the
 * same values. */
#include "biopp/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("config.ini", data, size);
    bp_config cfg, back;
    bp_error err;
    bp_config_defaults(&cfg);
    if (bp_config_load(&cfg, path, &err) != BP_OK) return 0;
    if (bp_config_validate(&cfg, &err) != BP_OK) return 0;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) abort();
    if (bp_config_write(&cfg, f, &err) != BP_OK) abort();
    fclose(f);
    char copy[512];
    snprintf(copy, sizeof copy, "%s", fuzz_file("written.ini", (const uint8_t *)text, len));
    free(text);
    bp_config_defaults(&back);
    if (bp_config_load(&back, copy, &err) != BP_OK) abort();
    if (memcmp(&back, &cfg, sizeof cfg) != 0) abort();
    return 0;
}
