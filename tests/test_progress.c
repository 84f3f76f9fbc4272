/* The progress display: lines fitted to the terminal's width, the bar
 * redrawn in place (and showing the evaluation), the ETA estimator, the
 * plural helper; and `train` / `sweep` under an 80-column pseudo-terminal
 * and with stderr in a file. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "biopp/eta.h"
#include "biopp/plural.h"
#include "biopp/progress_line.h"
#include "helpers.h"

static const int WIDTHS[] = {40, 80, 200};

static void expect_fits(const char *line, int width)
{
    cr_expect(bp_text_columns(line) <= width, "%d columns at width %d: \"%s\"",
              bp_text_columns(line), width, line);
    for (const char *p = line; *p; p++)
        cr_expect((unsigned char)*p >= 0x20 && *p != 0x7f, "control character in \"%s\"", line);
}

static void expect_has(const char *line, const char *needle, int width)
{
    cr_expect(strstr(line, needle), "width %d: \"%s\" lacks \"%s\"", width, line, needle);
}

/* ---- the bar ------------------------------------------------------------ */

static bp_bar sweep_bar(void)
{
    return (bp_bar){
        .tag = "[3/12]", .label = "hidden=2x400,rule=bdfa,lr=0.001,optimizer=adam,alpha=0.25",
        .epoch = 15, .epochs = 200, .step = 45, .steps = 100, .elapsed = 12.5, .eta = 15.25,
        .total = "sweep", .total_eta = 3725.0,
    };
}

Test(progress, bar_fits_40_80_200_columns_and_keeps_the_numbers)
{
    for (size_t w = 0; w < sizeof WIDTHS / sizeof *WIDTHS; w++) {
        int width = WIDTHS[w];
        char line[1024];
        bp_bar b = sweep_bar();
        bp_format_bar(line, sizeof line, width, &b);
        expect_fits(line, width);
        expect_has(line, "15/200", width);
        expect_has(line, "45%", width);
        expect_has(line, "15.2s", width); /* the epoch's ETA */
        expect_has(line, "1h02m", width); /* the sweep's */
        expect_has(line, "[3/12]", width);
        if (width >= 80) expect_has(line, "[#", width); /* the bar itself */
        if (width >= 200) expect_has(line, b.label, width);

        b.evaluating = 1;
        b.valid_n = 10000;
        b.test_n = 10000;
        bp_format_bar(line, sizeof line, width, &b);
        expect_fits(line, width);
        expect_has(line, "evaluating", width);
        expect_has(line, "15/200", width);
        cr_expect(!strstr(line, "ETA 0.0s") && !strstr(line, "100%"),
                  "width %d: evaluating is not shown as a finished epoch: \"%s\"", width, line);
        if (width >= 200) expect_has(line, "10000 valid, 10000 test", width);
    }
}

Test(progress, bar_of_train_fills_the_width_without_padding)
{
    char line[1024];
    bp_bar b = {.label = "train", .epoch = 1, .epochs = 3, .step = 10, .steps = 20,
                .elapsed = 1.0, .eta = 1.0, .total = "run", .total_eta = NAN};
    int cols = bp_format_bar(line, sizeof line, 79, &b);
    expect_fits(line, 79);
    cr_expect(cols >= 60, "the bar grows into the free columns: \"%s\"", line);
    cr_expect(line[strlen(line) - 1] != ' ', "no padding spaces: \"%s\"", line);
    expect_has(line, "run ETA ?", 79); /* unknown, not 0 */
}

/* ---- the per-epoch line ------------------------------------------------- */

static bp_epoch_metrics epoch_metrics(void)
{
    return (bp_epoch_metrics){
        .epoch = 123, .train_loss = 0.31416, .feedback_loss = 12.5, .train_error = 0.0981,
        .valid_error = 1.0, .test_error = 0.0877, .seconds = 75.0,
    };
}

Test(progress, epoch_line_fits_40_80_200_columns_and_keeps_the_numbers)
{
    bp_epoch_metrics m = epoch_metrics();
    for (size_t w = 0; w < sizeof WIDTHS / sizeof *WIDTHS; w++) {
        int width = WIDTHS[w];
        char line[1024];
        bp_format_epoch_line(line, sizeof line, width, "train", 300, &m);
        expect_fits(line, width);
        expect_has(line, "123/300", width);
        expect_has(line, "9.81%", width);
        expect_has(line, "100.00%", width);
        expect_has(line, "8.77%", width);
        if (width >= 80) { /* every number at the default width */
            expect_has(line, "0.3142", width);
            expect_has(line, "12.5000", width);
            expect_has(line, "1m15s", width);
            expect_has(line, "valid", width);
        }
        m.diverged = 1;
        bp_format_epoch_line(line, sizeof line, width, "train", 300, &m);
        expect_fits(line, width);
        expect_has(line, "DIVERGED", width);
        m.diverged = 0;
    }
    /* No validation split: "-", not a number. */
    m.valid_error = -1.0;
    char line[1024];
    bp_format_epoch_line(line, sizeof line, 80, "train", 300, &m);
    expect_has(line, "valid -", 80);
}

Test(progress, fit_line_shortens_names_and_drops_the_least_kept_first)
{
    bp_line_field f[] = {
        {{"prefix:", NULL, ""}, 1, 0, 0},
        {{"a-rather-long-cell-name-of-a-sweep", NULL, NULL}, 3, 1, 0},
        {{"epoch 3/10", "ep 3/10", "3/10"}, 9, 0, 0},
        {{"extra", NULL, NULL}, 0, 0, 0},
    };
    char line[256];
    bp_fit_line(line, sizeof line, 200, f, 4);
    cr_expect_str_eq(line, "prefix:  a-rather-long-cell-name-of-a-sweep  epoch 3/10  extra");
    bp_fit_line(line, sizeof line, 40, f, 4);
    expect_fits(line, 40);
    expect_has(line, "3/10", 40);
    expect_has(line, "...", 40);
    bp_fit_line(line, sizeof line, 6, f, 4);
    cr_expect_str_eq(line, "3/10", "at 6 columns only the most kept field: \"%s\"", line);
    bp_fit_line(line, sizeof line, 3, f, 4);
    expect_fits(line, 3);
}

Test(progress, text_columns_count_characters_not_bytes)
{
    cr_expect_eq(bp_text_columns("8.77 ± 0.12%"), 12);
    cr_expect_eq(bp_text_columns(""), 0);
}

Test(progress, durations)
{
    char d[32];
    bp_format_duration(12.34, d, sizeof d);
    cr_expect_str_eq(d, "12.3s");
    bp_format_duration(245, d, sizeof d);
    cr_expect_str_eq(d, "4m05s");
    bp_format_duration(3725, d, sizeof d);
    cr_expect_str_eq(d, "1h02m");
    bp_format_duration(NAN, d, sizeof d);
    cr_expect_str_eq(d, "?");
    bp_format_duration(-1, d, sizeof d);
    cr_expect_str_eq(d, "?");
}

Test(progress, plural)
{
    char line[64];
    snprintf(line, sizeof line, "%d epoch%s, %d epoch%s, %d run%s", 1, bp_plural_s(1), 0,
             bp_plural_s(0), 3, bp_plural_s(3));
    cr_expect_str_eq(line, "1 epoch, 0 epochs, 3 runs");
}

/* ---- the ETA ------------------------------------------------------------ */

/* A first cell of 200 epochs at one second each, and two more like it. */
Test(progress, eta_falls_in_proportion_as_the_first_cell_advances)
{
    bp_eta_cell c[3] = {{1.0, 0, 0}, {1.0, 0, 0}, {1.0, 0, 0}};
    c[0].done = 15 / 200.0;
    double at15 = bp_eta_seconds(c, 3, 15.0);
    c[0].done = 184 / 200.0;
    double at184 = bp_eta_seconds(c, 3, 184.0);
    cr_expect_float_eq(at15, 185.0 + 400.0, 1e-6);
    cr_expect_float_eq(at184, 16.0 + 400.0, 1e-6);
    /* One cell alone: the time left of it. */
    c[0].done = 15 / 200.0;
    cr_expect_float_eq(bp_eta_seconds(c, 1, 15.0), 185.0, 1e-6);
    c[0].done = 184 / 200.0;
    cr_expect_float_eq(bp_eta_seconds(c, 1, 184.0), 16.0, 1e-6);
    c[0].done = 1.0;
    cr_expect_float_eq(bp_eta_seconds(c, 1, 200.0), 0.0, 1e-9);
}

Test(progress, eta_weights_the_remaining_cells_by_cost)
{
    /* Cell 0 (cost 1) took 100 s; cell 1 costs 3, cell 2 costs 0.5. */
    bp_eta_cell c[3] = {{1.0, 0, 1.0}, {3.0, 0, 0}, {0.5, 0, 0}};
    cr_expect_float_eq(bp_eta_seconds(c, 3, 100.0), 350.0, 1e-6);
    /* Half of cell 1 done in 150 more seconds. */
    c[1].done = 0.5;
    cr_expect_float_eq(bp_eta_seconds(c, 3, 250.0), 200.0, 1e-6);
}

Test(progress, eta_counts_cells_done_before_as_zero)
{
    /* Cells 0 and 1 were done by an earlier command (no time measured for
     * them here); cell 2 was resumed at 50% and is at 75% after 10 s. */
    bp_eta_cell c[4] = {{5.0, 1, 1}, {5.0, 1, 1}, {2.0, 0.5, 0.75}, {2.0, 0, 0}};
    cr_expect_float_eq(bp_eta_seconds(c, 4, 10.0), 10.0 + 40.0, 1e-6);
    /* Nothing measured yet: unknown, not zero. */
    bp_eta_cell fresh[2] = {{1.0, 0, 0}, {1.0, 0, 0}};
    cr_expect(isnan(bp_eta_seconds(fresh, 2, 0.0)));
    cr_expect_float_eq(bp_eta_fraction(3, 10, 50, 100), 0.25, 1e-12);
    cr_expect_float_eq(bp_eta_fraction(10, 10, 100, 100), 1.0, 1e-12);
}

/* ---- through the binary ------------------------------------------------- */

/* Runs `sh -c cmd` on a pseudo-terminal of 80 columns (with COLUMNS=200 in
 * its environment, which the window size must win over); returns everything
 * it wrote (malloc'd) and its exit status in *rc. */
static char *run_on_pty(const char *cmd, int *rc)
{
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    int fd;
    pid_t pid = forkpty(&fd, NULL, NULL, &ws);
    cr_assert_neq(pid, -1, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        setenv("COLUMNS", "200", 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    for (;;) {
        if (cap - n < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break; /* EIO once the child has closed the terminal */
        n += (size_t)got;
    }
    buf[n] = '\0';
    close(fd);
    int st;
    waitpid(pid, &st, 0);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

/* Every line (split on \n and \r, erase-to-end-of-line removed) is at most
 * width columns. */
static void expect_lines_fit(const char *text, int width)
{
    char *copy = strdup(text), *save = NULL;
    cr_assert_not_null(copy);
    for (char *p; (p = strstr(copy, "\033[K"));) memmove(p, p + 3, strlen(p + 3) + 1);
    int lines = 0;
    for (char *line = strtok_r(copy, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        lines++;
        cr_expect(bp_text_columns(line) <= width, "a line of %d columns (width %d): \"%s\"",
                  bp_text_columns(line), width, line);
    }
    cr_expect(lines > 0);
    free(copy);
}

static void expect_redrawn_in_place(const char *text)
{
    cr_expect(strstr(text, "\r") && strstr(text, "\033[K"), "no redraw (CR, ESC[K): %s", text);
    cr_expect(!strstr(text, "                    "), "padding spaces: %s", text);
    cr_expect(strstr(text, "evaluating"), "the bar does not show the evaluation: %s", text);
}

static void expect_no_control_characters(const char *text)
{
    cr_expect(!strchr(text, '\r') && !strchr(text, '\033'), "control characters in a log: %s",
              text);
}

/* A folder with tiny train and sweep configs, and absolute paths to the
 * binary and the data, for commands run from inside it. */
typedef struct {
    char *dir;
    char bin[PATH_MAX], data[PATH_MAX];
} fixture;

static void make_fixture(fixture *x, const char *data)
{
    x->dir = th_tmpdir();
    cr_assert_not_null(realpath(th_bin(), x->bin), "%s: %s", th_bin(), strerror(errno));
    cr_assert_not_null(realpath(data, x->data));
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/train.ini", x->dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("[data]\ndataset = mnist\ntrain_size = 1000\n[model]\nhidden = 1x32\n"
          "[train]\nbatch = 50\nepochs = 2\nthreads = 1\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/sweep.ini", x->dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("[sweep]\nseeds = 1\n[data]\ndataset = mnist\ntrain_size = 1000\n"
          "[model]\nhidden = 1x32\n[rule]\nrule = bp,dfa\n"
          "[train]\nbatch = 50\nepochs = 2\nthreads = 1\n", f);
    fclose(f);
}

Test(progress, train_fits_an_80_column_terminal_and_redraws_in_place, .timeout = 120)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    fixture x;
    make_fixture(&x, data);
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "cd %s && BIOPP_DATA_DIR=%s %s train --config train.ini", x.dir,
             x.data, x.bin);
    int rc;
    char *out = run_on_pty(cmd, &rc);
    cr_expect_eq(rc, 0, "%s", out);
    expect_lines_fit(out, 80);
    expect_redrawn_in_place(out);
    th_assert_has(out, "2 epochs");
    th_assert_has(out, "1 epoch left");
    free(out);
    free(x.dir);
}

Test(progress, sweep_fits_an_80_column_terminal_and_redraws_in_place, .timeout = 120)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    fixture x;
    make_fixture(&x, data);
    char cmd[4 * PATH_MAX];
    /* stdout (the summary's tables) to a file: it is printed after training. */
    snprintf(cmd, sizeof cmd,
             "cd %s && BIOPP_DATA_DIR=%s %s sweep --config sweep.ini --out sw > summary.txt",
             x.dir, x.data, x.bin);
    int rc;
    char *out = run_on_pty(cmd, &rc);
    cr_expect_eq(rc, 0, "%s", out);
    expect_lines_fit(out, 80);
    expect_redrawn_in_place(out);
    th_assert_has(out, "2 cells x 1 seed = 2 runs");
    th_assert_has(out, "(1 run");
    cr_expect(!strstr(out, "1 runs") && !strstr(out, "1 seeds"), "%s", out);
    free(out);
    free(x.dir);
}

Test(progress, output_to_a_file_is_one_line_per_epoch_without_control_characters,
     .timeout = 120)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    fixture x;
    make_fixture(&x, data);
    char *out;
    int rc = th_sh(&out, "cd %s && unset COLUMNS; BIOPP_DATA_DIR=%s %s train --config train.ini",
                   x.dir, x.data, x.bin);
    cr_expect_eq(rc, 0, "%s", out);
    expect_no_control_characters(out);
    expect_lines_fit(out, 80); /* the default width */
    int epochs = 0;
    for (const char *p = out; (p = strstr(p, "epoch ")); p++)
        epochs += !strncmp(p, "epoch 1/2 ", 10) || !strncmp(p, "epoch 2/2 ", 10);
    cr_expect_eq(epochs, 2, "one line per epoch: %s", out);
    free(out);
    rc = th_sh(&out, "(cd %s && unset COLUMNS; BIOPP_DATA_DIR=%s %s sweep --config sweep.ini "
                     "--out sw > summary.txt)",
               x.dir, x.data, x.bin);
    cr_expect_eq(rc, 0, "%s", out);
    expect_no_control_characters(out);
    expect_lines_fit(out, 80);
    free(out);
    free(x.dir);
}
