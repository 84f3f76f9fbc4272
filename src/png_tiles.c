/* See bp_png_write_tiles in include/biopp/generate.h (libpng). */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/generate.h"

#define GAP_GREY 128

/* Min-max scales one tile (all channels) into 8-bit pixels of the image. */
static void draw_tile(unsigned char *img, int stride, int x0, int y0, const float *t, int channels,
                      int h, int w, int scale)
{
    size_t n = (size_t)channels * h * w;
    float lo = t[0], hi = t[0];
    for (size_t i = 1; i < n; i++) {
        if (t[i] < lo) lo = t[i];
        if (t[i] > hi) hi = t[i];
    }
    float span = hi - lo;
    for (int y = 0; y < h * scale; y++)
        for (int x = 0; x < w * scale; x++)
            for (int c = 0; c < channels; c++) {
                float v = t[(size_t)c * h * w + (size_t)(y / scale) * w + x / scale];
                float s = span > 0 ? (v - lo) / span * 255.0f + 0.5f : 0.0f;
                img[(size_t)(y0 + y) * stride + (size_t)(x0 + x) * channels + c] =
                    (unsigned char)(s > 255.0f ? 255.0f : s);
            }
}

static bp_status write_png(const char *path, const unsigned char *img, int width, int height,
                           int channels, bp_error *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return bp_fail(err, BP_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        remove(tmp);
        return bp_fail(err, BP_ERR_IO, "%s: libpng failed to write the image", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(img + (size_t)y * width * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    int ok = fflush(f) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return bp_fail(err, BP_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return BP_OK;
}

bp_status bp_png_write_tiles(const char *path, const float *tiles, int n, int channels, int h,
                             int w, int cols, int scale, bp_error *err)
{
    if (n < 1 || (channels != 1 && channels != 3) || h < 1 || w < 1 || cols < 1 || scale < 1)
        return bp_fail(err, BP_ERR_ARG,
                       "%s: bad image grid (%d tiles of %dx%dx%d, %d per row, scale %d)", path, n,
                       channels, h, w, cols, scale);
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    long long width = (long long)cols * w * scale + (long long)(cols - 1) * scale;
    long long height = (long long)rows * h * scale + (long long)(rows - 1) * scale;
    if (width > 100000 || height > 100000)
        return bp_fail(err, BP_ERR_ARG, "%s: an image of %lldx%lld pixels is too large (lower "
                       "--scale)", path, width, height);
    size_t stride = (size_t)width * channels;
    unsigned char *img = malloc(stride * (size_t)height);
    if (!img) return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", path);
    memset(img, GAP_GREY, stride * (size_t)height);
    for (int k = 0; k < n; k++) {
        int x0 = (k % cols) * (w + 1) * scale, y0 = (k / cols) * (h + 1) * scale;
        draw_tile(img, (int)stride, x0, y0, tiles + (size_t)k * channels * h * w, channels, h, w,
                  scale);
    }
    bp_status rc = write_png(path, img, (int)width, (int)height, channels, err);
    free(img);
    return rc;
}
