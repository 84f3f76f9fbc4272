/* CIFAR-10 binary batches (plain or gzip), loaded as one file and as the
 * same file twice (the concatenation path). */
#include "biopp/data.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("cifar", data, size);
    const char *paths[2] = {path, path};
    for (int count = 1; count <= 2; count++) {
        bp_error err;
        bp_images im;
        memset(&im, 0, sizeof im);
        if (bp_cifar_load_files(paths, count, &im, &err) == BP_OK) {
            if (im.n < count || im.dim != 3072) abort();
            for (int i = 0; i < im.n; i++)
                if (im.y[i] >= 10) abort();
            bp_images_free(&im);
        }
    }
    return 0;
}
