/*
 * leaklab.c -- the leak lab's native helper (test only, never shipped).
 *
 * Owns: a real native leak (malloc + memset, never freed: what a buggy C
 * extension does) and read-only allocator probes (glibc mallinfo2, jemalloc
 * mallctl found with dlsym) used to measure each scenario's signature
 * independently of memwatch, so the lab can check memwatch instead of trusting it.
 */
#include <ruby.h>  /* first: its config.h defines _GNU_SOURCE (dladdr) */
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>
#ifdef HAVE_MALLOC_H
#include <malloc.h>
#endif

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static size_t leaked_bytes, leaked_blocks;
static void *leaked_head; /* blocks chain through their first word */

/*
 * call-seq: LeakLab.native_leak(bytes) -> Integer
 *
 * mallocs +bytes+, writes every byte (untouched pages would not become RSS)
 * and never frees it. Returns the total leaked so far. The blocks are chained
 * from a static: without that escape the compiler may drop the memset as a
 * dead store (it did, at -O2), and the "leak" would never become RSS.
 */
static VALUE
leaklab_native_leak(VALUE self, VALUE bytes)
{
    long n = NUM2LONG(bytes);
    char *p;

    if (n < (long)sizeof(void *) || n > (64L << 20))
        rb_raise(rb_eArgError, "bytes must be in %d..%ld, got %ld", (int)sizeof(void *), 64L << 20, n);
    p = malloc((size_t)n);
    if (!p) rb_raise(rb_eNoMemError, "malloc(%ld) failed", n);
    memset(p, 0x5a, (size_t)n);
    memcpy(p, &leaked_head, sizeof(void *));
    leaked_head = p;
    leaked_bytes += (size_t)n;
    leaked_blocks++;
    return SIZET2NUM(leaked_bytes);
}

/* call-seq: LeakLab.native_leaked -> [bytes, blocks] */
static VALUE
leaklab_native_leaked(VALUE self)
{
    return rb_ary_new_from_args(2, SIZET2NUM(leaked_bytes), SIZET2NUM(leaked_blocks));
}

static mallctl_fn
find_mallctl(void)
{
    void *f = dlsym(RTLD_DEFAULT, "mallctl");
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info a, b;

    /* only trust mallctl when it lives in the object that provides malloc */
    if (f && m && dladdr(f, &a) && dladdr(m, &b) && a.dli_fbase == b.dli_fbase)
        return (mallctl_fn)f;
    return NULL;
}

static void
je_put(VALUE h, mallctl_fn mallctl, const char *key, const char *name)
{
    size_t v = 0, len = sizeof v;

    if (mallctl(key, &v, &len, NULL, 0) == 0)
        rb_hash_aset(h, ID2SYM(rb_intern(name)), SIZET2NUM(v));
}

/*
 * call-seq: LeakLab.jemalloc_stats -> Hash or nil
 *
 * jemalloc stats.* after an epoch refresh; nil when jemalloc is not the
 * process allocator.
 */
static VALUE
leaklab_jemalloc_stats(VALUE self)
{
    mallctl_fn mallctl = find_mallctl();
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    VALUE h;

    if (!mallctl) return Qnil;
    mallctl("epoch", &epoch, &len, &epoch, len);
    h = rb_hash_new();
    je_put(h, mallctl, "stats.allocated", "je_allocated");
    je_put(h, mallctl, "stats.active", "je_active");
    je_put(h, mallctl, "stats.resident", "je_resident");
    je_put(h, mallctl, "stats.mapped", "je_mapped");
    je_put(h, mallctl, "stats.retained", "je_retained");
    je_put(h, mallctl, "stats.metadata", "je_metadata");
    return h;
}

/*
 * call-seq: LeakLab.glibc_stats -> Hash or nil
 *
 * glibc mallinfo2 (all arenas): in_use = uordblks + hblkhd, free = fordblks.
 */
static VALUE
leaklab_glibc_stats(VALUE self)
{
#ifdef HAVE_MALLINFO2
    struct mallinfo2 mi;
    VALUE h;

    if (find_mallctl()) return Qnil;
    mi = mallinfo2();
    h = rb_hash_new();
    rb_hash_aset(h, ID2SYM(rb_intern("gl_in_use")), SIZET2NUM(mi.uordblks + mi.hblkhd));
    rb_hash_aset(h, ID2SYM(rb_intern("gl_free")), SIZET2NUM(mi.fordblks));
    rb_hash_aset(h, ID2SYM(rb_intern("gl_arena")), SIZET2NUM(mi.arena));
    rb_hash_aset(h, ID2SYM(rb_intern("gl_mmap")), SIZET2NUM(mi.hblkhd));
    rb_hash_aset(h, ID2SYM(rb_intern("gl_keepcost")), SIZET2NUM(mi.keepcost));
    return h;
#else
    return Qnil;
#endif
}

/* call-seq: LeakLab.jemalloc? -> true or false */
static VALUE
leaklab_jemalloc_p(VALUE self)
{
    return find_mallctl() ? Qtrue : Qfalse;
}

void
Init_leaklab(void)
{
    VALUE m = rb_define_module("LeakLab");

    rb_define_module_function(m, "native_leak", leaklab_native_leak, 1);
    rb_define_module_function(m, "native_leaked", leaklab_native_leaked, 0);
    rb_define_module_function(m, "jemalloc_stats", leaklab_jemalloc_stats, 0);
    rb_define_module_function(m, "glibc_stats", leaklab_glibc_stats, 0);
    rb_define_module_function(m, "jemalloc?", leaklab_jemalloc_p, 0);
}
