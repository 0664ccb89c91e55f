/*
 * procfs.c — process and host memory from /proc and the cgroup filesystem.
 *
 * Runs on the sampler pthread: plain C, no Ruby API, no allocation.
 * Files are opened once and re-read with pread(fd, ..., 0), which makes the
 * kernel regenerate them (1-2 µs for statm-sized files instead of an
 * open/read/close). The fds are per process: /proc/self is resolved at open
 * time, so a forked child must reopen them or it would read its parent's
 * figures (memwatch_procfs_open is called from every start).
 */
#include "memwatch.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fd_statm = -1, fd_status = -1, fd_rollup = -1, fd_meminfo = -1;
static int64_t page_bytes = 4096;
static int fd_cg_usage = -1, fd_cg_limit = -1;

static int
open_ro(const char *path)
{
    return open(path, O_RDONLY | O_CLOEXEC);
}

static void
close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Reads a whole small file into buf (NUL-terminated); -1 and errno on error. */
static ssize_t
pread_all(int fd, char *buf, size_t cap)
{
    ssize_t n;
    if (fd < 0) { errno = EBADF; return -1; }
    n = pread(fd, buf, cap - 1, 0);
    if (n < 0) return -1;
    buf[n] = '\0';
    return n;
}

/* "Key:   1234 kB" -> bytes; MW_NA when the key is absent. */
static int64_t
kb_field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p) return MW_NA;
    p += strlen(key);
    return (int64_t)strtoll(p, NULL, 10) * 1024;
}

static int64_t
num_field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p) return MW_NA;
    return (int64_t)strtoll(p + strlen(key), NULL, 10);
}

/* Finds this process's memory cgroup files: v2 ("0::/path"), then v1. */
static void
open_cgroup(void)
{
    char buf[4096], path[4200];
    int fd = open_ro("/proc/self/cgroup");
    ssize_t n = pread_all(fd, buf, sizeof(buf));
    if (fd >= 0) close(fd);
    if (n <= 0) return;
    char *v2 = strstr(buf, "0::");
    char *v1 = strstr(buf, ":memory:");
    if (v2 && (v2 == buf || v2[-1] == '\n')) {
        char *rel = v2 + 3, *end = strchr(rel, '\n');
        if (end) *end = '\0';
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.current", rel);
        fd_cg_usage = open_ro(path);
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", rel);
        fd_cg_limit = open_ro(path);
    }
    if (fd_cg_usage < 0 && v1) {
        char *rel = v1 + 8, *end = strchr(rel, '\n');
        if (end) *end = '\0';
        snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", rel);
        fd_cg_usage = open_ro(path);
        snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", rel);
        fd_cg_limit = open_ro(path);
    }
}

int
memwatch_procfs_open(void)
{
    memwatch_procfs_close();
    fd_statm = open_ro("/proc/self/statm");
    fd_status = open_ro("/proc/self/status");
    page_bytes = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
    fd_rollup = open_ro("/proc/self/smaps_rollup"); /* Linux 4.14+; optional */
    fd_meminfo = open_ro("/proc/meminfo");
    open_cgroup();
    return fd_status >= 0 ? 0 : -1;
}

void
memwatch_procfs_close(void)
{
    close_fd(&fd_statm);
    close_fd(&fd_status);
    close_fd(&fd_rollup);
    close_fd(&fd_meminfo);
    close_fd(&fd_cg_usage);
    close_fd(&fd_cg_limit);
}

int
memwatch_read_status(mw_sample *s)
{
    char buf[4096];
    if (pread_all(fd_status, buf, sizeof(buf)) < 0) return -1;
    s->f[MW_RSS] = kb_field(buf, "\nVmRSS:");
    s->f[MW_RSS_ANON] = kb_field(buf, "\nRssAnon:");
    s->f[MW_RSS_FILE] = kb_field(buf, "\nRssFile:");
    s->f[MW_RSS_SHMEM] = kb_field(buf, "\nRssShmem:");
    s->f[MW_SWAP] = kb_field(buf, "\nVmSwap:");
    s->f[MW_THREADS] = num_field(buf, "\nThreads:");
    return 0;
}

/* statm ("size resident shared ..." in pages) costs a third of status to
 * generate (measured: 12 vs 30 µs on a cold tick): read it every tick and
 * status every status_every ticks. resident - shared is exactly RssAnon (shared
 * counts file-backed and shmem pages); the file share is shared minus the
 * latest shmem from status. Returns -1 with errno on error. */
int
memwatch_read_statm(mw_sample *s, int64_t shmem)
{
    char buf[256], *p;
    if (pread_all(fd_statm, buf, sizeof(buf)) < 0) return -1;
    strtoll(buf, &p, 10);                       /* size: unused */
    long long resident = strtoll(p, &p, 10), shared = strtoll(p, NULL, 10);
    s->f[MW_RSS] = (int64_t)resident * page_bytes;
    s->f[MW_RSS_ANON] = (int64_t)(resident - shared) * page_bytes;
    if (shmem != MW_NA) {
        s->f[MW_RSS_SHMEM] = shmem;
        s->f[MW_RSS_FILE] = (int64_t)shared * page_bytes - shmem;
    }
    return 0;
}

/* PSS and USS (Private_Clean + Private_Dirty). Costs ~0.5 ms per 40 MB of
 * mappings, so the sampler reads it only every pss_every ticks. */
int
memwatch_read_smaps_rollup(mw_sample *s)
{
    char buf[2048];
    if (pread_all(fd_rollup, buf, sizeof(buf)) < 0) return -1;
    int64_t pc = kb_field(buf, "\nPrivate_Clean:");
    int64_t pd = kb_field(buf, "\nPrivate_Dirty:");
    s->f[MW_PSS] = kb_field(buf, "\nPss:");
    s->f[MW_USS] = (pc == MW_NA || pd == MW_NA) ? MW_NA : pc + pd;
    return 0;
}

/* "max" (v2) or a near-2^63 value (v1) means no limit: reported as nil. */
static int64_t
read_limit(void)
{
    char buf[64];
    if (pread_all(fd_cg_limit, buf, sizeof(buf)) <= 0 || buf[0] == 'm') return MW_NA;
    long long v = strtoll(buf, NULL, 10);
    return (v <= 0 || v >= (1LL << 62)) ? MW_NA : (int64_t)v;
}

/* The limit rarely changes: read with +limit+ (status ticks), else MW_NA and
 * the caller carries the last one. */
int
memwatch_read_cgroup(mw_sample *s, int limit)
{
    char buf[64];
    if (fd_cg_usage < 0) return 0;
    if (pread_all(fd_cg_usage, buf, sizeof(buf)) <= 0) return -1;
    s->f[MW_CG_USAGE] = strtoll(buf, NULL, 10);
    if (limit) s->f[MW_CG_LIMIT] = read_limit();
    return 0;
}

int
memwatch_read_meminfo(mw_sample *s)
{
    char buf[8192];
    if (pread_all(fd_meminfo, buf, sizeof(buf)) < 0) return -1;
    s->f[MW_HOST_AVAIL] = kb_field(buf, "\nMemAvailable:");
    s->f[MW_HOST_SLAB] = kb_field(buf, "\nSlab:");
    s->f[MW_HOST_SUNRECLAIM] = kb_field(buf, "\nSUnreclaim:");
    return 0;
}
