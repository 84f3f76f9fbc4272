/* IDX images and labels, plain or gzip-compressed (bp_read_file inflates
 * whatever starts with the gzip magic): the seeds hold both kinds. */
#include "biopp/data.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("idx", data, size);
    bp_error err;
    bp_images im;
    memset(&im, 0, sizeof im);
    if (bp_idx_load_images(path, &im, &err) == BP_OK) {
        if (im.n < 1 || im.dim < 1 || !im.x) abort();
        bp_images_free(&im);
    }
    uint8_t *labels = NULL;
    int n = 0;
    if (bp_idx_load_labels(path, 10, &labels, &n, &err) == BP_OK) {
        for (int i = 0; i < n; i++)
            if (labels[i] >= 10) abort(); /* the loader must check every label */
        free(labels);
    }
    return 0;
}
