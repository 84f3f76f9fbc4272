/* BFA's generator (the paper's Figure 6): the mirror network's x-hat for
 * the one-hot label of every class, and the PNG grid `biopp generate`
 * writes. */
#ifndef BIOPP_GENERATE_H
#define BIOPP_GENERATE_H

#include "biopp/net.h"

/* x-hat = sigma_x(g_0) of run r for y = e_k, k = 0..C-1, into xhat
 * (C x n_0 floats, row k = class k). A BFA net only; C <= rows_cap. */
bp_status bp_bfa_generate(bp_net *net, bp_backend *be, int r, float *xhat, bp_error *err);

/* Writes n tiles of `channels` planes of h x w floats each (CIFAR's layout:
 * channel planes, each row-major) as one 8-bit PNG, grey for 1 channel, RGB
 * for 3: `cols` tiles per row, each tile min-max scaled to 0..255 on its
 * own (all channels together; a constant tile is black), every pixel
 * enlarged to scale x scale, tiles `scale` pixels apart on mid-grey.
 * The image is cols*w*scale + (cols-1)*scale wide and
 * rows*h*scale + (rows-1)*scale high, rows = ceil(n / cols). */
bp_status bp_png_write_tiles(const char *path, const float *tiles, int n, int channels, int h,
                             int w, int cols, int scale, bp_error *err);

#endif
