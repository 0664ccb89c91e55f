/* tick_probe.c: the physical limit of one memwatch sampler tick.
 *
 * Repeats, in a tight loop, exactly the reads a tick does (on kept-open fds, as the
 * sampler does) and prints the median ns per operation of 7 timed reps, one JSON
 * object per line. Compare with the real sampler's CPU per tick (bench/sections/
 * tick_cost.rb). Run it with LD_PRELOAD=libjemalloc.so.2 for the jemalloc path:
 * mallctl is found with dlsym, as the extension finds it.
 *
 *   cc -O2 -o tick_probe tick_probe.c -ldl && ./tick_probe [LOG] [LIBRUBY] [MB]
 *
 * Built with -DTICK_PROBE_RUBY it is instead a tiny Ruby extension (bench only, see
 * bench/c/extconf.rb): TickProbe.run(log_path) runs the same loops inside a Ruby
 * process, so mallinfo2 walks a Ruby heap and /proc describes a Ruby process.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
static mallctl_fn je_mallctl;
static int fd_status, fd_rollup, fd_meminfo, fd_statm, fd_cg, fd_log;
static volatile int64_t sink;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int64_t field(const char *buf, const char *key) {
    const char *p = strstr(buf, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static void op_status(void) {
    char buf[4096];
    ssize_t n = pread(fd_status, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    sink += field(buf, "\nVmRSS:") + field(buf, "\nRssAnon:") + field(buf, "\nRssFile:") +
            field(buf, "\nRssShmem:") + field(buf, "\nVmSwap:") + field(buf, "\nThreads:");
}

static void op_statm(void) {
    char buf[256];
    ssize_t n = pread(fd_statm, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    sink += strtoll(strchr(buf, ' ') + 1, NULL, 10);
}

static void op_rollup(void) {
    char buf[2048];
    ssize_t n = pread(fd_rollup, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    sink += field(buf, "\nPss:") + field(buf, "\nPrivate_Clean:") + field(buf, "\nPrivate_Dirty:");
}

static void op_meminfo(void) {
    char buf[8192];
    ssize_t n = pread(fd_meminfo, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    sink += field(buf, "\nMemAvailable:") + field(buf, "\nSlab:") + field(buf, "\nSUnreclaim:");
}

static void op_cgroup(void) {
    char buf[64];
    if (fd_cg < 0) return;
    ssize_t n = pread(fd_cg, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    sink += strtoll(buf, NULL, 10);
}

static void op_allocator(void) {
    if (je_mallctl) {
        static const char *keys[] = {"stats.allocated", "stats.active", "stats.resident",
                                     "stats.mapped", "stats.retained", "stats.metadata"};
        static size_t mib[6][4], miblen[6];
        uint64_t epoch = 1;
        size_t sz = sizeof(epoch);
        if (!miblen[0])
            for (int i = 0; i < 6; i++) { miblen[i] = 4; je_mallctl("", NULL, NULL, NULL, 0);
                int (*tomib)(const char *, size_t *, size_t *) = (int (*)(const char *, size_t *, size_t *))dlsym(RTLD_DEFAULT, "mallctlnametomib");
                tomib(keys[i], mib[i], &miblen[i]); }
        je_mallctl("epoch", &epoch, &sz, &epoch, sz);
        int (*bymib)(const size_t *, size_t, void *, size_t *, void *, size_t) =
            (int (*)(const size_t *, size_t, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "mallctlbymib");
        for (int i = 0; i < 6; i++) { size_t v, vs = sizeof(v); bymib(mib[i], miblen[i], &v, &vs, NULL, 0); sink += v; }
    } else {
        struct mallinfo2 mi = mallinfo2();
        sink += mi.uordblks + mi.hblkhd + mi.fordblks + mi.arena + mi.keepcost;
    }
}

/* One TSV row of 58 integer fields, formatted and written with one write(2). */
static void op_logrow(void) {
    char row[2048];
    int n = snprintf(row, sizeof(row), "sample\t%.3f", now_ns() / 1e9);
    for (int i = 0; i < 58; i++) n += snprintf(row + n, sizeof(row) - n, "\t%lld", (long long)(123456789 + i * 7919));
    row[n++] = '\n';
    sink += write(fd_log, row, n);
}

static void op_cputime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    sink += ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Cold: one call every 10 ms, as a sampler tick makes it (caches and TLBs have
 * moved on in between). This is the figure to compare a tick with. */
static double cold_ns(void (*op)(void), int n) {
    double *v = malloc(sizeof(double) * n);
    struct timespec gap = {0, 10 * 1000 * 1000};
    for (int i = 0; i < n; i++) {
        nanosleep(&gap, NULL);
        double t = now_ns();
        op();
        v[i] = now_ns() - t;
    }
    qsort(v, n, sizeof(double), cmp);
    double m = v[n / 2];
    free(v);
    return m;
}

static int cold_reps = 50;

static void bench(const char *name, void (*op)(void)) {
    double reps[7];
    long iters = 1;
    for (;;) { /* calibrate to ~50 ms per rep */
        double t = now_ns();
        for (long i = 0; i < iters; i++) op();
        if (now_ns() - t > 5e7 || iters > (1L << 24)) break;
        iters *= 2;
    }
    for (int r = 0; r < 7; r++) {
        double t = now_ns();
        for (long i = 0; i < iters; i++) op();
        reps[r] = (now_ns() - t) / iters;
    }
    qsort(reps, 7, sizeof(double), cmp);
    printf("{\"op\":\"%s\",\"median_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,\"cold_ns\":%.1f}\n",
           name, reps[3], reps[0], reps[6], cold_ns(op, cold_reps));
    fflush(stdout);
}

/* Look like the process being compared: a Ruby process maps libruby and its
 * dependencies and has a few MB of heap; /proc reads cost more with more mappings. */
static void resemble(const char *libruby, long mb) {
    if (libruby && *libruby && !dlopen(libruby, RTLD_NOW | RTLD_GLOBAL)) fprintf(stderr, "dlopen: %s\n", dlerror());
    for (long i = 0; i < mb * 16; i++) memset(malloc(65536), 1, 65536);
}

static void run_all(const char *log_path) {
    je_mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    fd_status = open("/proc/self/status", O_RDONLY);
    fd_statm = open("/proc/self/statm", O_RDONLY);
    fd_rollup = open("/proc/self/smaps_rollup", O_RDONLY);
    fd_meminfo = open("/proc/meminfo", O_RDONLY);
    fd_cg = open("/sys/fs/cgroup/memory.current", O_RDONLY);
    fd_log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    printf("{\"allocator\":\"%s\"}\n", je_mallctl ? "jemalloc" : "glibc");
    bench("statm", op_statm);
    bench("status", op_status);
    bench("cgroup", op_cgroup);
    bench("smaps_rollup", op_rollup);
    bench("meminfo", op_meminfo);
    bench("allocator", op_allocator);
    bench("log_row", op_logrow);
    bench("thread_cputime", op_cputime);
    close(fd_status); close(fd_statm); close(fd_rollup); close(fd_meminfo); close(fd_log);
    if (fd_cg >= 0) close(fd_cg);
}

#ifdef TICK_PROBE_RUBY
#include <ruby.h>
static VALUE probe_run(VALUE self, VALUE path, VALUE reps) {
    cold_reps = NUM2INT(reps);
    run_all(StringValueCStr(path));
    return Qnil;
}
void Init_tick_probe(void) {
    rb_define_module_function(rb_define_module("TickProbe"), "run", probe_run, 2);
}
#else
int main(int argc, char **argv) {
    resemble(argc > 2 ? argv[2] : NULL, argc > 3 ? atol(argv[3]) : 0);
    run_all(argc > 1 ? argv[1] : "/dev/null");
    return 0;
}
#endif
