/* biopp generate's computation (bp_bfa_generate: labels, targets and the
 * mirror network on the backend) on CUDA against the CPU backend. Skips
 * without a usable GPU. (eval is bp_group_evaluate, which the training
 * comparisons of test_cuda.c cover.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/backend.h"
#include "biopp/generate.h"
#include "biopp/net.h"

#define N_INPUT 784
#define CLASSES 10

static bp_backend *open_backend(bp_device device)
{
    bp_backend *be = NULL;
    bp_error err = {0};
    bp_status rc = device == BP_DEVICE_CUDA ? bp_backend_cuda_create(BP_PREC_FP32, &be, &err)
                                            : bp_backend_cpu_create(1, &be, &err);
    if (rc && device == BP_DEVICE_CUDA &&
        (rc == BP_ERR_UNSUPPORTED || (rc == BP_ERR_DEVICE && strstr(err.msg, "no CUDA device"))))
        cr_skip_test("no CUDA device: %s", err.msg);
    cr_assert_eq(rc, BP_OK, "%s", err.msg);
    return be;
}

/* x-hat of every class for a freshly initialised BFA net of 2 hidden
 * layers (the weights are drawn on the host from the seed: the same on
 * both backends). */
static float *generate_on(bp_device device, const bp_config *cfg)
{
    bp_backend *be = open_backend(device);
    bp_net *net = NULL;
    bp_error err = {0};
    uint64_t seed = cfg->seed;
    cr_assert_eq(bp_net_create(cfg, &seed, 1, N_INPUT, CLASSES, be, &net, &err), BP_OK, "%s",
                 err.msg);
    float *xhat = malloc((size_t)CLASSES * N_INPUT * sizeof *xhat);
    cr_assert_eq(bp_bfa_generate(net, be, 0, xhat, &err), BP_OK, "%s", err.msg);
    bp_net_destroy(net, be);
    bp_backend_destroy(be);
    return xhat;
}

Test(cuda_generate, mirror_network_matches_cpu)
{
    bp_config cfg;
    bp_config_defaults(&cfg);
    cfg.rule = BP_RULE_BFA;
    cfg.n_hidden = 2;
    cfg.hidden[0] = 37;
    cfg.hidden[1] = 29;
    cfg.batch = 16;
    cfg.train_size = 16;
    cfg.eval_batch = 16;
    cfg.seed = 3;
    float *gpu = generate_on(BP_DEVICE_CUDA, &cfg); /* first: skips without a device */
    float *cpu = generate_on(BP_DEVICE_CPU, &cfg);
    /* Three GEMMs and two tanh of float32: a few ulps apart. */
    for (int i = 0; i < CLASSES * N_INPUT; i++)
        cr_assert(fabsf(gpu[i] - cpu[i]) <= 1e-5f + 1e-4f * fabsf(cpu[i]),
                  "x-hat[%d] (class %d): cuda %.9g, cpu %.9g", i, i / N_INPUT, gpu[i], cpu[i]);
    /* Different classes, different images. */
    cr_expect(memcmp(cpu, cpu + N_INPUT, N_INPUT * sizeof *cpu) != 0);
    free(gpu);
    free(cpu);
}
