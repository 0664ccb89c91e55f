/*
 * memwatch.c — Init_memwatch, the only exported symbol, and the bindings for
 * the process-wide log and column table.
 *
 * Reading order:
 *   memwatch.h    the sample struct, the column table, every shared function
 *   sampler.c     the pthread, its tick, the rings, fork and exit handling
 *   sampler_rb.c  Memwatch::Native::Sampler: start/stop, the GC-counter copy
 *   procfs.c      RSS, PSS/USS, cgroup and host memory from /proc
 *   allocator.c   jemalloc (found at run time, never linked) or glibc
 *   columns.c     one description of a sample's fields for every format
 *   logfile.c     the TSV log: one write(2) per row, rotation
 *   json.c        json-c encoders for Memwatch.snapshot and the endpoint
 *   heapdump.c    `memwatch heap`: summary and 3-dump diff of dump_all files
 *                 (heapdump_scan.c reads and parses, heapdump_tab.c tables)
 *   jeprof.c      jemalloc's prof.dump for /pprof/heap
 *
 * Everything Ruby-facing here is a private, positional primitive named with a
 * leading underscore; lib/memwatch.rb owns options, defaults and messages.
 */
#include "memwatch.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* call-seq: Native._columns -> Array of Symbols  (:nodoc:) */
static VALUE
native_columns(VALUE self)
{
    const mw_column *cols;
    int n = memwatch_columns(&cols);
    VALUE ary = rb_ary_new_capa(n);
    for (int i = 0; i < n; i++) rb_ary_push(ary, ID2SYM(rb_intern(cols[i].name)));
    return ary;
}

/*
 * call-seq: Native._log_open(path, fd, preamble, max_bytes, keep) -> true  (:nodoc:)
 *
 * path: a file to create/append (rotated by size), or nil to write to fd,
 * which we dup so the caller's IO can be closed independently. preamble: the "# key: value" lines; the
 * header row is appended here from the column table.
 */
/* The pthread writes rows without a lock (it owns the log while it runs):
 * replacing or freeing the log under it would be a use-after-free. */
static void
check_no_sampler(const char *what)
{
    if (memwatch_sampler_active())
        rb_raise(rb_eRuntimeError, "memwatch: cannot %s the log while the sampler runs", what);
}

static VALUE
native_log_open(VALUE self, VALUE path, VALUE fd, VALUE preamble, VALUE max_bytes, VALUE keep)
{
    const mw_column *cols;
    check_no_sampler("open");
    int n = memwatch_columns(&cols);
    VALUE text = rb_str_dup(StringValue(preamble));
    for (int i = 0; i < n; i++) {
        if (i) rb_str_cat_cstr(text, "\t");
        rb_str_cat_cstr(text, cols[i].name);
    }
    rb_str_cat_cstr(text, "\n");
    const char *cpath = NIL_P(path) ? NULL : StringValueCStr(path);
    int cfd = NIL_P(fd) ? -1 : fcntl(NUM2INT(fd), F_DUPFD_CLOEXEC, 3);
    if (!cpath && cfd < 0) rb_sys_fail("memwatch: dup of the log fd");
    if (memwatch_log_open(cpath, cfd, StringValueCStr(text), NUM2LL(max_bytes), NUM2INT(keep)) < 0) {
        int e = errno;
        memwatch_log_close();
        rb_syserr_fail_str(e, cpath ? path : rb_str_new_cstr("memwatch log"));
    }
    RB_GC_GUARD(text);
    return Qtrue;
}

/* call-seq: Native._log_close -> nil  (:nodoc:)  Only while no sampler runs. */
static VALUE
native_log_close(VALUE self)
{
    check_no_sampler("close");
    memwatch_log_close();
    return Qnil;
}

/* call-seq: Native._log_reopen -> true  (:nodoc:)  Done before the next row. */
static VALUE
native_log_reopen(VALUE self)
{
    memwatch_log_request_reopen();
    return Qtrue;
}

/* call-seq: Native._format_row(hash) -> String  (:nodoc:)
 * Formats a sample Hash (as returned by Sampler#_samples) as one TSV row, for
 * the endpoint's samples.tsv, with the log's own formatter. */
static VALUE
native_format_row(VALUE self, VALUE hash)
{
    const mw_column *cols;
    int n = memwatch_columns(&cols);
    VALUE out = rb_str_buf_new(64 * n);
    Check_Type(hash, T_HASH);
    for (int i = 0; i < n; i++) {
        VALUE v = rb_hash_aref(hash, ID2SYM(rb_intern(cols[i].name)));
        if (i) rb_str_cat_cstr(out, "\t");
        if (cols[i].kind == MW_COL_TICK && !NIL_P(v)) rb_str_catf(out, "%.3f", NUM2DBL(v));
        else if (!NIL_P(v)) rb_str_append(out, rb_obj_as_string(v));
    }
    rb_str_cat_cstr(out, "\n");
    return out;
}

RUBY_FUNC_EXPORTED void
Init_memwatch(void)
{
    VALUE mMemwatch = rb_define_module("Memwatch");
    VALUE mNative = rb_define_module_under(mMemwatch, "Native");
    Init_memwatch_allocator(mNative);   /* first: the columns depend on it */
    Init_memwatch_sampler(mNative);
    Init_memwatch_json(mNative);
    Init_memwatch_heapdump(mNative);
    Init_memwatch_jeprof(mNative);
    rb_define_singleton_method(mNative, "_columns", native_columns, 0);
    rb_define_singleton_method(mNative, "_log_open", native_log_open, 5);
    rb_define_singleton_method(mNative, "_log_close", native_log_close, 0);
    rb_define_singleton_method(mNative, "_log_reopen", native_log_reopen, 0);
    rb_define_singleton_method(mNative, "_format_row", native_format_row, 1);
}
