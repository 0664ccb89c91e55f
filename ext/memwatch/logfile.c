/*
 * logfile.c — the periodic gc_tracer-style TSV log.
 *
 * Layout (see doc/internals.md): "# key: value" metadata lines, a header row
 * of column names, then one row per sample. Each row is formatted into a
 * stack buffer and written with a single write(2) on an O_APPEND fd, so rows
 * never tear or interleave and reach the file as written (no stdio buffer
 * that a fork could duplicate).
 *
 * Ownership: Ruby opens the log before the sampler thread starts and closes
 * it after the thread is joined; in between only the sampler thread touches
 * it. A reopen (external rotation) is requested with an atomic flag that the
 * sampler thread acts on before its next row, so Ruby never waits on a write.
 */
#include "memwatch.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int log_fd = -1;
static char *log_path;          /* NULL when logging to a caller's fd */
static char *log_preamble;      /* "# ..." lines followed by the header row */
static size_t log_preamble_len;
static int64_t log_size, log_max_bytes;
static int log_keep;
static volatile int reopen_requested;

static char *
append_int(char *p, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *p++ = '-';
    while (n) *p++ = tmp[--n];
    return p;
}

/* v with +digits+ decimals (3 or 6), as "%.Nf" prints it for the values we log
 * (finite, |v| < 2^53 / 10^digits), without printf: its floating-point path was ~5%
 * of a tick's CPU (perf). It rounds v * 10^digits, printf the exact binary value:
 * checked on 2M values, they differ in the last digit of a few per million. */
static char *
append_fixed(char *p, double v, int digits)
{
    int64_t scale = digits == 6 ? 1000000 : 1000;
    if (v != v) return p;                                  /* NaN: an empty field */
    if (v < 0) { *p++ = '-'; v = -v; }
    int64_t n = (int64_t)(v * (double)scale + 0.5);
    p = append_int(p, n / scale);
    *p++ = '.';
    for (int64_t d = scale / 10, r = n % scale; d > 0; d /= 10) *p++ = (char)('0' + (r / d) % 10);
    return p;
}

static char *
append_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *
append_column(char *p, const mw_sample *s, const mw_column *c)
{
    int64_t v;
    switch (c->kind) {
      case MW_COL_TYPE: return append_str(p, "sample");
      case MW_COL_TICK: return append_fixed(p, s->tick, 3);
      case MW_COL_GC_AGE: return s->gc_age < 0 ? p : append_fixed(p, s->gc_age, 3);
      case MW_COL_CPU: return append_fixed(p, s->cpu, 6);
      case MW_COL_VERDICT: return append_str(p, s->verdict);
      case MW_COL_GC: v = s->gc[c->index]; break;
      default: v = s->f[c->index]; break;
    }
    return v == MW_NA ? p : append_int(p, v);
}

/* One TSV row with its newline; returns its length (0 if cap is too small).
 * A column is at most 32 bytes, so cap >= 32 * ncolumns is always enough. */
size_t
memwatch_format_row(const mw_sample *s, char *buf, size_t cap)
{
    const mw_column *cols;
    int n = memwatch_columns(&cols);
    if (cap < (size_t)n * 32 + 2) return 0;
    char *p = buf;
    for (int i = 0; i < n; i++) {
        if (i) *p++ = '\t';
        p = append_column(p, s, &cols[i]);
    }
    *p++ = '\n';
    return (size_t)(p - buf);
}

static int
write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* x.tsv.(keep-1) -> x.tsv.keep, ..., x.tsv -> x.tsv.1 */
static void
shift_files(void)
{
    size_t len = strlen(log_path) + 16;
    char *from = malloc(len), *to = malloc(len);
    if (from && to) {
        for (int i = log_keep - 1; i >= 0; i--) {
            if (i == 0) snprintf(from, len, "%s", log_path);
            else snprintf(from, len, "%s.%d", log_path, i);
            snprintf(to, len, "%s.%d", log_path, i + 1);
            rename(from, to);
        }
    }
    free(from);
    free(to);
}

/* Opens log_path for appending; a new (empty) file starts with the preamble. */
static int
open_path(void)
{
    struct stat st;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    if (fstat(fd, &st) == 0 && st.st_size == 0) {
        if (write_all(fd, log_preamble, log_preamble_len) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        st.st_size = (off_t)log_preamble_len;
    }
    log_size = st.st_size;
    if (log_fd >= 0) close(log_fd);
    log_fd = fd;
    return 0;
}

static int
rotate(void)
{
    if (log_keep > 0) shift_files();
    else if (unlink(log_path) < 0 && errno != ENOENT) return -1;
    return open_path();
}

void
memwatch_log_close(void)
{
    if (log_fd >= 0) close(log_fd);
    log_fd = -1;
    free(log_path);
    free(log_preamble);
    log_path = log_preamble = NULL;
}

/* Called by Ruby before the sampler starts. path == NULL: log to fd (dup'ed
 * by the caller). An existing non-empty file is rotated away first, so a
 * file never holds two headers. Returns -1 with errno on failure. */
int
memwatch_log_open(const char *path, int fd, const char *preamble, int64_t max_bytes, int keep)
{
    struct stat st;
    memwatch_log_close();
    log_preamble = strdup(preamble);
    log_preamble_len = strlen(preamble);
    log_max_bytes = max_bytes;
    log_keep = keep;
    if (!path) {
        log_fd = fd;
        log_size = 0;
        return write_all(fd, log_preamble, log_preamble_len);
    }
    log_path = strdup(path);
    if (stat(path, &st) == 0 && st.st_size > 0) return rotate();
    return open_path();
}

void memwatch_log_request_reopen(void) { reopen_requested = 1; }
int memwatch_log_active(void) { return log_fd >= 0; }

/* Sampler thread only. Returns -1 with errno when the row was not written;
 * the caller records the error and keeps sampling. */
int
memwatch_log_write(const mw_sample *s)
{
    char buf[8192];
    if (log_fd < 0) return 0;
    if (reopen_requested && log_path) {
        reopen_requested = 0;
        if (open_path() < 0) return -1;
    }
    size_t len = memwatch_format_row(s, buf, sizeof(buf));
    if (log_path && log_max_bytes > 0 && log_size + (int64_t)len > log_max_bytes)
        if (rotate() < 0) return -1;
    if (write_all(log_fd, buf, len) < 0) return -1;
    log_size += (int64_t)len;
    return 0;
}

/* In a forked child: forget the parent's log without touching the file. */
void
memwatch_log_atfork_child(void)
{
    if (log_fd >= 0) close(log_fd);
    log_fd = -1;
}
