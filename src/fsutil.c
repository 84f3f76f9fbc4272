#include "biopp/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

bp_status bp_write_file_atomic(const char *path, const void *data, size_t len, bp_error *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return bp_fail(err, BP_ERR_IO, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return bp_fail(err, BP_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        if (ok) e = errno;
        unlink(tmp);
        return bp_fail(err, BP_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return BP_OK;
}

bp_status bp_mkdir_p(const char *path, bp_error *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return bp_fail(err, BP_ERR_IO, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return bp_fail(err, BP_ERR_IO, "%s: cannot create directory: %s", buf,
                           strerror(errno));
        *p = saved;
        if (saved == '\0') break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return bp_fail(err, BP_ERR_IO, "%s: exists and is not a directory", path);
    return BP_OK;
}

bp_status bp_read_text(const char *path, char **text, size_t *len, bp_error *err)
{
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return bp_fail(err, BP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", path);
    if (bad) {
        free(buf);
        return bp_fail(err, BP_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *text = buf;
    if (len) *len = n;
    return BP_OK;
}

int bp_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

bp_status bp_lock(const char *path, int wait, int *fd, bp_error *err)
{
    *fd = -1;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (f < 0) return bp_fail(err, BP_ERR_IO, "%s: cannot open the lock file: %s", path, strerror(errno));
    if (flock(f, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0) {
        *fd = f;
        return BP_OK;
    }
    int e = errno;
    close(f);
    if (e == EWOULDBLOCK && !wait) return BP_OK;
    if (e == EINTR)
        return bp_fail(err, BP_ERR_INTERRUPTED, "%s: interrupted while waiting for the lock", path);
    return bp_fail(err, BP_ERR_IO, "%s: cannot lock: %s", path, strerror(e));
}

void bp_unlock(int fd)
{
    if (fd >= 0) close(fd); /* closing the only descriptor releases the flock */
}

bp_status bp_check_writable_dir(const char *dir, bp_error *err)
{
    bp_status rc = bp_mkdir_p(dir, err);
    if (rc) return bp_fail_context(err, "output folder");
    char probe[4096];
    if (snprintf(probe, sizeof probe, "%s/" BP_WRITE_PROBE_PREFIX "XXXXXX", dir) >= (int)sizeof probe)
        return bp_fail(err, BP_ERR_IO, "%s: path too long", dir);
    int fd = mkstemp(probe);
    if (fd < 0)
        return bp_fail(err, BP_ERR_IO, "%s: output folder is not writable: %s", dir,
                       strerror(errno));
    int ok = write(fd, "x", 1) == 1 && fsync(fd) == 0;
    int e = errno;
    ok = close(fd) == 0 && ok;
    unlink(probe);
    if (!ok)
        return bp_fail(err, BP_ERR_IO, "%s: cannot write to the output folder: %s", dir,
                       strerror(e));
    return BP_OK;
}

int bp_dir_has_entries(const char *dir, const char *ignore)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int any = 0;
    size_t probe = strlen(BP_WRITE_PROBE_PREFIX);
    while (!any && (e = readdir(d)))
        any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
              (!ignore || strcmp(e->d_name, ignore)) &&
              strncmp(e->d_name, BP_WRITE_PROBE_PREFIX, probe);
    closedir(d);
    return any;
}
