/*
 * sampler_rb.c — Memwatch::Native::Sampler, the Ruby face of the sampler:
 * TypedData lifecycle, start/stop, the memwatch-gc thread's wait-and-copy
 * primitive, and reading the rings into Ruby. Every function here runs with
 * the GVL on a Ruby thread; the engine (sampler.c) never does.
 */
#include "sampler.h"
#include <ruby/thread.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ID gc_ids[MW_MAX_GC_KEYS];  /* IDs never move (compaction) */
static int ngc;

/* ---- Ruby binding: Memwatch::Native::Sampler -------------------------- */

static void
sampler_free(void *p)
{
    mw_sampler *s = p;
    if (s->initialized && s->pid == getpid()) memwatch_stop_thread(s);
    memwatch_ring_free(&s->recent);
    memwatch_ring_free(&s->lng);
    xfree(s);
}

static size_t
sampler_memsize(const void *p)
{
    const mw_sampler *s = p;
    return sizeof(*s) + (size_t)(s->recent.cap + s->lng.cap) * sizeof(mw_sample);
}

/* No VALUEs inside, so no mark/compact. Not FREE_IMMEDIATELY: dfree joins. */
static const rb_data_type_t sampler_type = {
    "memwatch/sampler", { NULL, sampler_free, sampler_memsize, NULL, { NULL } }, NULL, NULL, 0
};

static VALUE
sampler_alloc(VALUE klass)
{
    mw_sampler *s;
    return TypedData_Make_Struct(klass, mw_sampler, &sampler_type, s);
}

static mw_sampler *
get_sampler(VALUE self)
{
    mw_sampler *s = rb_check_typeddata(self, &sampler_type);
    if (!s->initialized) rb_raise(rb_eRuntimeError, "uninitialized Memwatch::Native::Sampler");
    return s;
}

/* call-seq: Sampler.new -> sampler  (:nodoc:) */
static VALUE
sampler_initialize(VALUE self)
{
    mw_sampler *s = rb_check_typeddata(self, &sampler_type);
    if (s->initialized) rb_raise(rb_eRuntimeError, "Memwatch::Native::Sampler already initialized");
    memwatch_sync_init(s);
    s->pid = getpid();
    s->note_ruby_malloc = s->note_leak_rate = MW_NA;
    s->initialized = 1;
    return self;
}

static long
positive_long(VALUE v, const char *name, long max)
{
    long n = NUM2LONG(v);
    if (n < 1 || n > max) rb_raise(rb_eArgError, "%s must be between 1 and %ld, got %ld", name, max, n);
    return n;
}

static void
configure(mw_sampler *s, VALUE interval, VALUE caps, VALUE everies, VALUE page_size)
{
    Check_Type(caps, T_ARRAY);
    Check_Type(everies, T_ARRAY);
    if (RARRAY_LEN(caps) != 2 || RARRAY_LEN(everies) != 6)
        rb_raise(rb_eArgError, "memwatch: expected [recent, long] and 6 tick counts");
    s->interval = NUM2DBL(interval);
    if (!(s->interval >= 0.01 && s->interval <= 3600))
        rb_raise(rb_eArgError, "interval must be between 0.01 and 3600 seconds");
    long recent = positive_long(RARRAY_AREF(caps, 0), "ring_size", 1000000);
    long lng = positive_long(RARRAY_AREF(caps, 1), "long_ring_size", 1000000);
    s->long_every = positive_long(RARRAY_AREF(everies, 0), "long_every", 1000000);
    s->pss_every = positive_long(RARRAY_AREF(everies, 1), "pss_every", 1000000);
    s->meminfo_every = positive_long(RARRAY_AREF(everies, 2), "meminfo_every", 1000000);
    s->periodic_every = positive_long(RARRAY_AREF(everies, 3), "periodic_every", 1000000);
    s->status_every = positive_long(RARRAY_AREF(everies, 4), "status_every", 1000000);
    s->gc_every = positive_long(RARRAY_AREF(everies, 5), "gc_every", 1000000);
    s->page_size = NUM2LL(page_size);
    memwatch_ring_free(&s->recent);
    memwatch_ring_free(&s->lng);
    if (memwatch_ring_alloc(&s->recent, recent) < 0 || memwatch_ring_alloc(&s->lng, lng) < 0)
        rb_raise(rb_eNoMemError, "memwatch: cannot allocate the sample rings");
}

/*
 * call-seq: sampler._start(interval, [ring, long_ring], [long_every, pss_every,
 *   meminfo_every, periodic_every, status_every, gc_every], heap_page_size) -> true | false  (:nodoc:)
 *
 * periodic_every counts the memwatch-gc thread's wake-ups (one per gc_every ticks).
 *
 * The log (if any) must be opened first with Native._log_open.
 */
static VALUE
sampler_start(VALUE self, VALUE interval, VALUE caps, VALUE everies, VALUE page_size)
{
    mw_sampler *s = get_sampler(self);
    if (s->thread_alive) return Qfalse;
    if (memwatch_active) rb_raise(rb_eRuntimeError, "memwatch: another sampler is already running");
    configure(s, interval, caps, everies, page_size);
    if (memwatch_procfs_open() < 0) rb_sys_fail("memwatch: /proc/self/status");
    s->ticks = s->gc_seq = s->gc_reads = 0;
    s->cached_shmem = s->cached_swap = s->cached_threads = s->cached_cg_limit = MW_NA;
    s->cached_cpu = 0;
    s->gc_tick = 0;
    s->gc_stop = s->gc_wanted = s->gc_interrupted = 0;
    s->running = 1;
    s->pid = getpid();
    int err = memwatch_spawn_thread(s);
    if (err) {
        s->running = 0;
        rb_syserr_fail(err, "memwatch: pthread_create");
    }
    s->thread_alive = 1;
    memwatch_active = s;
    return Qtrue;
}

/* call-seq: sampler._stop -> true | false  (:nodoc:) */
static VALUE
sampler_stop(VALUE self)
{
    mw_sampler *s = get_sampler(self);
    if (!memwatch_stop_thread(s)) return Qfalse;
    memwatch_log_close();
    memwatch_procfs_close();
    return Qtrue;
}

/* call-seq: sampler._running? -> bool  (:nodoc:) */
static VALUE
sampler_running_p(VALUE self)
{
    mw_sampler *s = get_sampler(self);
    return (s->thread_alive && s->pid == getpid()) ? Qtrue : Qfalse;
}

/* ---- the memwatch-gc Ruby thread's side -------------------------------- */

static void *
gc_wait_nogvl(void *arg)
{
    mw_sampler *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->gc_wanted && !s->gc_stop && !s->gc_interrupted)
        pthread_cond_wait(&s->gc_cond, &s->lock);
    s->gc_wanted = 0;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Unblocking function: Thread#kill, Ruby's exit or a pending interrupt. */
static void
gc_wait_ubf(void *arg)
{
    mw_sampler *s = arg;
    pthread_mutex_lock(&s->lock);
    s->gc_interrupted = 1;
    pthread_cond_broadcast(&s->gc_cond);
    pthread_mutex_unlock(&s->lock);
}

static ID id_state, id_marking, id_sweeping;

/* rb_gc_stat(sym) reads one counter and allocates nothing (~5 ns a key).
 * Returns the GC's state: read mid-marking (incremental major GC),
 * heap_marked_slots and old_objects are partial counts, and the classifier
 * must not mistake them for a drop in live data. */
static int64_t
read_gc(int64_t *vals)
{
    for (int i = 0; i < ngc; i++) vals[i] = (int64_t)rb_gc_stat(ID2SYM(gc_ids[i]));
    VALUE state = rb_gc_latest_gc_info(ID2SYM(id_state));
    return state == ID2SYM(id_marking) ? 1 : state == ID2SYM(id_sweeping) ? 2 : 0;
}

/*
 * call-seq: sampler._await_tick -> true | :periodic | false  (:nodoc:)
 *
 * Sleeps without the GVL until the pthread asks for GC counters, copies them
 * into C, and returns; false once the sampler stops. Every periodic_every-th
 * call returns :periodic, the cue for Ruby-side periodic work.
 */
static VALUE
sampler_await_tick(VALUE self)
{
    mw_sampler *s = get_sampler(self);
    int64_t vals[MW_MAX_GC_KEYS];
    if (s->gc_stop || !s->thread_alive || s->pid != getpid()) return Qfalse;
    rb_thread_call_without_gvl(gc_wait_nogvl, s, gc_wait_ubf, s);
    s->gc_interrupted = 0;
    rb_thread_check_ints();
    if (s->gc_stop) return Qfalse;
    int64_t state = read_gc(vals);
    pthread_mutex_lock(&s->lock);
    memcpy(s->gc, vals, sizeof(int64_t) * (size_t)ngc);
    s->gc_state = state;
    s->gc_tick = memwatch_now();
    s->gc_seq++;
    pthread_cond_broadcast(&s->gc_cond);
    pthread_mutex_unlock(&s->lock);
    return (++s->gc_reads % (uint64_t)s->periodic_every == 0) ? ID2SYM(rb_intern("periodic")) : Qtrue;
}

/* ---- reading from Ruby -------------------------------------------------- */

/* call-seq: sampler._sample_now -> Hash  (:nodoc:)  One sample, not stored. */
static VALUE
sampler_sample_now(VALUE self)
{
    mw_sampler *s = get_sampler(self);
    mw_sample smp;
    /* The kept fds are process-wide: while any sampler runs they are its own,
     * (pread on them is safe from two threads), and only without one do we
     * open and close them here. */
    int own_fds = !memwatch_sampler_active();
    if (own_fds && memwatch_procfs_open() < 0) rb_sys_fail("memwatch: /proc/self/status");
    memwatch_sample_clear(&smp);
    memwatch_read_native(s, &smp, 1, 1, 1, 1);
    if (own_fds) memwatch_procfs_close();
    smp.f[MW_GC_STATE] = read_gc(smp.gc);
    smp.gc_age = 0;
    if (memwatch_heap_pages_idx >= 0)
        smp.f[MW_RUBY_HEAP] = smp.gc[memwatch_heap_pages_idx] * (s->page_size ? s->page_size : 16384);
    smp.cpu = memwatch_thread_cpu(s);
    return memwatch_sample_to_hash(&smp);
}

/* A malloc'ed copy of the newest `limit` samples newer than `since` from ring
 * `which` (0 recent, 1 long); the caller frees *out. */
long
memwatch_copy_samples(VALUE self, int which, double since, long limit, mw_sample **out)
{
    mw_sampler *s = get_sampler(self);
    pthread_mutex_lock(&s->lock);
    mw_ring *r = which ? &s->lng : &s->recent;
    long first = 0, n;
    while (first < r->count && memwatch_ring_at(r, first)->tick <= since) first++;
    n = r->count - first;
    if (limit >= 0 && n > limit) { first += n - limit; n = limit; }
    *out = malloc(sizeof(mw_sample) * (size_t)(n > 0 ? n : 1));
    for (long i = 0; *out && i < n; i++) (*out)[i] = *memwatch_ring_at(r, first + i);
    pthread_mutex_unlock(&s->lock);
    if (!*out) rb_raise(rb_eNoMemError, "memwatch: cannot copy samples");
    return n;
}

struct to_array_args { const mw_sample *buf; long n; };

static VALUE
to_array_i(VALUE p)
{
    struct to_array_args *a = (struct to_array_args *)p;
    VALUE ary = rb_ary_new_capa(a->n);
    for (long i = 0; i < a->n; i++) rb_ary_push(ary, memwatch_sample_to_hash(&a->buf[i]));
    return ary;
}

static VALUE
free_i(VALUE p)
{
    free((void *)p);
    return Qnil;
}

/* Converts and frees buf (also when conversion raises). */
VALUE
memwatch_samples_to_array(const mw_sample *buf, long n)
{
    struct to_array_args a = { buf, n };
    return rb_ensure(to_array_i, (VALUE)&a, free_i, (VALUE)buf);
}

/* call-seq: sampler._samples(which, since, limit) -> Array  (:nodoc:) */
static VALUE
sampler_samples(VALUE self, VALUE which, VALUE since, VALUE limit)
{
    mw_sample *buf;
    long n = memwatch_copy_samples(self, NUM2INT(which), NIL_P(since) ? -1.0 : NUM2DBL(since),
                                   NIL_P(limit) ? -1 : NUM2LONG(limit), &buf);
    return memwatch_samples_to_array(buf, n);
}

/* call-seq: sampler._note_ruby_malloc(bytes) -> nil  (:nodoc:) */
static VALUE
sampler_note_ruby_malloc(VALUE self, VALUE bytes)
{
    mw_sampler *s = get_sampler(self);
    int64_t v = NUM2LL(bytes);
    pthread_mutex_lock(&s->lock);
    s->note_ruby_malloc = v;
    pthread_mutex_unlock(&s->lock);
    return Qnil;
}

/* call-seq: sampler._set_verdict(kind, bytes_per_hour) -> nil  (:nodoc:) */
static VALUE
sampler_set_verdict(VALUE self, VALUE kind, VALUE rate)
{
    mw_sampler *s = get_sampler(self);
    const char *k = StringValueCStr(kind);
    int64_t r = NIL_P(rate) ? MW_NA : NUM2LL(rate);
    if (strlen(k) >= MW_VERDICT_LEN || strpbrk(k, "\t\n"))
        rb_raise(rb_eArgError, "verdict kind must be a short word, got %"PRIsVALUE, kind);
    pthread_mutex_lock(&s->lock);
    memcpy(s->note_verdict, k, strlen(k) + 1);
    s->note_leak_rate = r;
    pthread_mutex_unlock(&s->lock);
    return Qnil;
}

#define SET(h, k, v) rb_hash_aset(h, ID2SYM(rb_intern(k)), v)

/* call-seq: sampler._stats -> Hash  (:nodoc:)  memwatch's own figures. */
static VALUE
sampler_stats(VALUE self)
{
    mw_sampler *s = get_sampler(self);
    VALUE h = rb_hash_new(), err = Qnil;
    pthread_mutex_lock(&s->lock);
    uint64_t ticks = s->ticks, errors = s->error_count;
    long nrecent = s->recent.count, nlong = s->lng.count;
    int e = s->last_errno;
    const char *site = s->last_error_site;
    pthread_mutex_unlock(&s->lock);
    if (site) err = rb_sprintf("%s: %s", site, strerror(e));
    SET(h, "ticks", ULL2NUM(ticks));
    SET(h, "errors", ULL2NUM(errors));
    SET(h, "last_error", err);
    SET(h, "cpu_seconds", DBL2NUM(memwatch_thread_cpu(s)));
    SET(h, "bytes", SIZET2NUM(sampler_memsize(s)));
    SET(h, "recent_samples", LONG2NUM(nrecent));
    SET(h, "long_samples", LONG2NUM(nlong));
    SET(h, "gc_reads", ULL2NUM(s->gc_reads));
    return h;
}
#undef SET

/* Reads the running Ruby's GC.stat keys once: the log header and the GC
 * columns follow them, and reading each once warms rb_gc_stat's symbols. */
static void
init_gc_keys(void)
{
    static const char *names[MW_MAX_GC_KEYS];
    VALUE h = rb_hash_new();
    rb_gc_stat(h);
    VALUE keys = rb_funcall(h, rb_intern("keys"), 0);
    id_state = rb_intern("state");
    id_marking = rb_intern("marking");
    id_sweeping = rb_intern("sweeping");
    (void)rb_gc_latest_gc_info(ID2SYM(id_state)); /* warm its symbol table */
    ngc = (int)RARRAY_LEN(keys) < MW_MAX_GC_KEYS ? (int)RARRAY_LEN(keys) : MW_MAX_GC_KEYS;
    for (int i = 0; i < ngc; i++) {
        gc_ids[i] = SYM2ID(RARRAY_AREF(keys, i));
        names[i] = strdup(rb_id2name(gc_ids[i]));
        if (strcmp(names[i], "heap_allocated_pages") == 0) memwatch_heap_pages_idx = i;
        (void)rb_gc_stat(ID2SYM(gc_ids[i]));
    }
    memwatch_columns_build(names, ngc, memwatch_allocator());
}

void
Init_memwatch_sampler(VALUE mNative)
{
    VALUE cSampler = rb_define_class_under(mNative, "Sampler", rb_cObject);
    init_gc_keys();
    memwatch_sampler_hooks();
    rb_define_alloc_func(cSampler, sampler_alloc);
    rb_define_method(cSampler, "initialize", sampler_initialize, 0);
    rb_define_method(cSampler, "_start", sampler_start, 4);
    rb_define_method(cSampler, "_stop", sampler_stop, 0);
    rb_define_method(cSampler, "_running?", sampler_running_p, 0);
    rb_define_method(cSampler, "_await_tick", sampler_await_tick, 0);
    rb_define_method(cSampler, "_sample_now", sampler_sample_now, 0);
    rb_define_method(cSampler, "_samples", sampler_samples, 3);
    rb_define_method(cSampler, "_note_ruby_malloc", sampler_note_ruby_malloc, 1);
    rb_define_method(cSampler, "_set_verdict", sampler_set_verdict, 2);
    rb_define_method(cSampler, "_stats", sampler_stats, 0);
}
