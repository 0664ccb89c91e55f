/*
 * jeprof.c -- jemalloc's heap profile on demand, for GET /pprof/heap and
 * Memwatch.native_profile. `prof.dump` writes the sampled live allocations with their
 * native call stacks and the process's mappings, in the format jeprof reads as it is.
 * It works only when jemalloc runs with profiling (MALLOC_CONF=prof:true); Ruby checks
 * that first (Memwatch.allocator_info) and explains how to enable it.
 */
#include "memwatch.h"
#include <ruby/thread.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

typedef struct {
    const char *path;
    int err;
} prof_job;

/* prof.dump takes the file name as a `const char *` written through newp. It stops
 * jemalloc's profiling briefly and writes a file: no Ruby, so no GVL needed. */
static void *
prof_dump_nogvl(void *arg)
{
    prof_job *j = arg;
    j->err = memwatch_mallctl("prof.dump", NULL, NULL, (void *)&j->path, sizeof j->path);
    return NULL;
}

/* call-seq: Memwatch::Native._prof_dump(path) -> true   :nodoc:
 *
 * Raises SystemCallError: ENOENT when the process does not run jemalloc with profiling
 * (opt.prof false), EFAULT when the file could not be written. */
static VALUE
native_prof_dump(VALUE self, VALUE path)
{
    char buf[PATH_MAX];
    const char *p = StringValueCStr(path);
    size_t n = strlen(p);
    prof_job j;
    if (n >= sizeof buf) rb_raise(rb_eArgError, "memwatch: profile path longer than %d bytes", PATH_MAX - 1);
    memcpy(buf, p, n + 1); /* the String may move while the GVL is released */
    j.path = buf;
    j.err = 0;
    rb_thread_call_without_gvl(prof_dump_nogvl, &j, NULL, NULL);
    if (j.err) rb_syserr_fail_str(j.err, path);
    return Qtrue;
}

void
Init_memwatch_jeprof(VALUE mNative)
{
    rb_define_private_method(rb_singleton_class(mNative), "_prof_dump", native_prof_dump, 1);
}
