/*
 * allocator.c — which malloc this process uses, and its statistics.
 *
 * jemalloc is never linked: at Init we look up mallctl (or je_mallctl, the
 * default prefix on macOS builds) with dlsym(RTLD_DEFAULT), and accept it only
 * if malloc itself resolves to the same library (dladdr). That covers Ruby
 * built --with-jemalloc and LD_PRELOAD alike, and rejects a library that
 * merely bundles a private jemalloc. Otherwise glibc's mallinfo2 is used.
 *
 * The read functions run on the sampler pthread: no Ruby API.
 */
#include "memwatch.h"
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#ifdef __GLIBC__
# include <gnu/libc-version.h>
#endif
#include <string.h>
#include <time.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef int (*nametomib_fn)(const char *, size_t *, size_t *);
typedef int (*bymib_fn)(const size_t *, size_t, void *, size_t *, void *, size_t);

static int allocator = MW_ALLOC_UNKNOWN;
static mallctl_fn je_mallctl;
static bymib_fn je_bymib;
static const char *library_path;

#define JE_NSTATS 6
static const char *const je_stats[JE_NSTATS] = {
    "stats.allocated", "stats.active", "stats.resident",
    "stats.mapped", "stats.retained", "stats.metadata",
};
static const char *const je_fields[6] = {
    "je_allocated_bytes", "je_active_bytes", "je_resident_bytes",
    "je_mapped_bytes", "je_retained_bytes", "je_metadata_bytes",
};
static const char *const glibc_fields[6] = {
    "glibc_in_use_bytes", "glibc_free_bytes", "glibc_arena_bytes",
    "glibc_mmap_bytes", "glibc_releasable_bytes", NULL,
};
static size_t je_mib[JE_NSTATS][4], je_miblen[JE_NSTATS];
static size_t epoch_mib[2], epoch_miblen = 2;

#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
# if __GLIBC_PREREQ(2, 33)
#  define MW_HAVE_MALLINFO2 1
# endif
#endif

/* mallinfo2 walks every arena holding its lock: 166 ms was measured on a
 * fragmented heap, and even a small heap costs ~40 µs cold. So it runs at
 * most once a second, and when it is slow we skip ticks, doubling the gap. */
static int glibc_skip, glibc_backoff = 1;
static double glibc_last;

static const char *
symbol_library(void *sym)
{
    Dl_info info;
    return (sym && dladdr(sym, &info) && info.dli_fname) ? info.dli_fname : NULL;
}

static int
same_library(void *a, void *b)
{
    const char *la = symbol_library(a), *lb = symbol_library(b);
    return la && lb && strcmp(la, lb) == 0;
}

/* Stat names become MIBs once, so each read is a cheap lookup (~22 ns). */
static int
resolve_mibs(const char *prefix)
{
    char name[64];
    snprintf(name, sizeof(name), "%smallctlnametomib", prefix);
    nametomib_fn n2m = (nametomib_fn)dlsym(RTLD_DEFAULT, name);
    snprintf(name, sizeof(name), "%smallctlbymib", prefix);
    je_bymib = (bymib_fn)dlsym(RTLD_DEFAULT, name);
    if (!n2m || !je_bymib || n2m("epoch", epoch_mib, &epoch_miblen) != 0) return -1;
    for (int i = 0; i < JE_NSTATS; i++) {
        je_miblen[i] = 4;
        if (n2m(je_stats[i], je_mib[i], &je_miblen[i]) != 0) je_miblen[i] = 0;
    }
    return 0;
}

static void
detect(void)
{
    const char *prefix = "";
    void *fn = dlsym(RTLD_DEFAULT, "mallctl");
    if (!fn && (fn = dlsym(RTLD_DEFAULT, "je_mallctl")) != NULL) prefix = "je_";
    void *mall = dlsym(RTLD_DEFAULT, "malloc");
    if (fn && (same_library(fn, mall) || !symbol_library(mall))) {
        je_mallctl = (mallctl_fn)fn;
        if (resolve_mibs(prefix) == 0) {
            allocator = MW_ALLOC_JEMALLOC;
            library_path = symbol_library(fn);
            return;
        }
        je_mallctl = NULL;
    }
#ifdef __GLIBC__
    allocator = MW_ALLOC_GLIBC;
    library_path = symbol_library(mall);
#endif
}

int memwatch_allocator(void) { return allocator; }

const char *
memwatch_allocator_name(void)
{
    static const char *const names[] = { "unknown", "glibc", "jemalloc" };
    return names[allocator];
}

const char *const *
memwatch_allocator_fields(void)
{
    if (allocator == MW_ALLOC_JEMALLOC) return je_fields;
    if (allocator == MW_ALLOC_GLIBC) return glibc_fields;
    return NULL;
}

/* For other files (prof.dump, purge): ENOENT when not running on jemalloc. */
int
memwatch_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
{
    if (!je_mallctl) return ENOENT;
    return je_mallctl(name, oldp, oldlenp, newp, newlen);
}

static void
read_jemalloc(mw_sample *s)
{
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    /* jemalloc caches its stats; writing epoch refreshes them (~5 µs). */
    je_bymib(epoch_mib, epoch_miblen, &epoch, &sz, &epoch, sz);
    for (int i = 0; i < JE_NSTATS; i++) {
        size_t v = 0, vsz = sizeof(v);
        s->f[MW_AL0 + i] = (je_miblen[i] &&
            je_bymib(je_mib[i], je_miblen[i], &v, &vsz, NULL, 0) == 0) ? (int64_t)v : MW_NA;
    }
}

static void
read_glibc(mw_sample *s, int forced)
{
#ifdef MW_HAVE_MALLINFO2
    struct timespec a, b;
    if (glibc_skip > 0 && !forced) { glibc_skip--; return; }
    /* The sample's own time decides the rate limit: a clock read per tick is a
     * syscall on VMs whose clocksource has no vDSO path. */
    if (!forced && glibc_last > 0 && s->tick - glibc_last < 1.0 && s->tick >= glibc_last) return;
    glibc_last = s->tick;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct mallinfo2 mi = mallinfo2();
    clock_gettime(CLOCK_MONOTONIC, &b);
    s->f[MW_AL0] = (int64_t)(mi.uordblks + mi.hblkhd);
    s->f[MW_AL1] = (int64_t)mi.fordblks;
    s->f[MW_AL2] = (int64_t)mi.arena;
    s->f[MW_AL3] = (int64_t)mi.hblkhd;
    s->f[MW_AL4] = (int64_t)mi.keepcost;
    double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    if (ms > 5.0) {
        glibc_skip = glibc_backoff;
        if (glibc_backoff < 64) glibc_backoff *= 2;
    } else {
        glibc_backoff = 1;
    }
#else
    (void)s;
#endif
}

/* now: read even if the rate limit says skip (Memwatch.sample asks). */
void
memwatch_read_allocator(mw_sample *s, int now)
{
    if (allocator == MW_ALLOC_JEMALLOC) read_jemalloc(s);
    else if (allocator == MW_ALLOC_GLIBC) read_glibc(s, now);
}

/* The retention test: ask the allocator to return free memory to the OS. */
int
memwatch_allocator_purge(void)
{
    if (allocator == MW_ALLOC_JEMALLOC)  /* 4096 = MALLCTL_ARENAS_ALL */
        return je_mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
#ifdef __GLIBC__
    if (allocator == MW_ALLOC_GLIBC) { malloc_trim(0); return 0; }
#endif
    return ENOTSUP;
}

static VALUE
je_bool(const char *name)
{
    bool v = false;
    size_t sz = sizeof(v);
    return memwatch_mallctl(name, &v, &sz, NULL, 0) == 0 ? (v ? Qtrue : Qfalse) : Qnil;
}

static VALUE
je_version(void)
{
    const char *v = NULL;
    size_t sz = sizeof(v);
    return memwatch_mallctl("version", &v, &sz, NULL, 0) == 0 && v ? rb_str_new_cstr(v) : Qnil;
}

/* call-seq: Memwatch::Native._allocator_info -> Hash  (:nodoc:) */
static VALUE
native_allocator_info(VALUE self)
{
    VALUE h = rb_hash_new();
    rb_hash_aset(h, ID2SYM(rb_intern("name")), rb_str_new_cstr(memwatch_allocator_name()));
    rb_hash_aset(h, ID2SYM(rb_intern("library")), library_path ? rb_str_new_cstr(library_path) : Qnil);
    if (allocator == MW_ALLOC_JEMALLOC) {
        rb_hash_aset(h, ID2SYM(rb_intern("version")), je_version());
        rb_hash_aset(h, ID2SYM(rb_intern("prof_available")), je_bool("config.prof"));
        rb_hash_aset(h, ID2SYM(rb_intern("prof_enabled")), je_bool("opt.prof"));
        rb_hash_aset(h, ID2SYM(rb_intern("prof_active")), je_bool("prof.active"));
    }
#ifdef __GLIBC__
    else if (allocator == MW_ALLOC_GLIBC)
        rb_hash_aset(h, ID2SYM(rb_intern("version")), rb_str_new_cstr(gnu_get_libc_version()));
#endif
    return h;
}

/* call-seq: Memwatch::Native._purge -> true  (:nodoc:) */
static VALUE
native_purge(VALUE self)
{
    int err = memwatch_allocator_purge();
    if (err) rb_syserr_fail(err, "memwatch: allocator purge");
    return Qtrue;
}

void
Init_memwatch_allocator(VALUE mNative)
{
    detect();
    rb_define_singleton_method(mNative, "_allocator_info", native_allocator_info, 0);
    rb_define_singleton_method(mNative, "_purge", native_purge, 0);
}
