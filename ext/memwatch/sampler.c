/*
 * sampler.c — the sampler: its pthread, its rings, and fork/exit handling.
 *
 * Threads (see doc/internals.md and DESIGN.md "Data flow"):
 *   - the "memwatch" pthread ticks on CLOCK_MONOTONIC; each tick it reads
 *     /proc, the cgroup and the allocator, merges the latest GC counters,
 *     pushes the sample into two rings and writes one log row. It never
 *     calls the Ruby API and never needs the GVL.
 *   - GC counters need the Ruby API, and a GC event hook would tax every
 *     object allocation (~12%, DESIGN.md). So a small Ruby thread
 *     ("memwatch-gc", created in lib/memwatch/runner.rb) sleeps *without* the
 *     GVL in Sampler#_await_tick; the pthread wakes it at each tick and it
 *     copies the GC.stat counters (rb_gc_stat(sym): no allocation) into C.
 *     The pthread waits for them briefly; if the GVL is busy the row carries
 *     older counters, and gc_age_seconds says how old.
 *
 * Locking: one mutex per sampler guards the rings, the GC snapshot and the
 * notes from Ruby. Nobody does I/O or waits for the GVL while holding it, so
 * pthread_atfork can take it safely.
 */
#include "memwatch.h"
#include <ruby/thread.h>
#include <ruby/vm.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct mw_ring { mw_sample *buf; long cap, head, count; } mw_ring;

typedef struct mw_sampler {
    pthread_mutex_t lock;
    pthread_cond_t tick_cond;   /* the pthread sleeps here between ticks */
    pthread_cond_t gc_cond;     /* GC counter requests and replies */
    int initialized, running, thread_alive;
    pthread_t thread;
    clockid_t cpu_clock;
    pid_t pid;
    /* configuration (set by _start) */
    double interval;
    long pss_every, meminfo_every, long_every, periodic_every;
    int64_t page_size;
    /* state */
    mw_ring recent, lng;
    uint64_t ticks;
    int64_t gc[MW_MAX_GC_KEYS];
    double gc_tick;             /* 0 = no counters yet */
    uint64_t gc_seq, gc_reads;
    int gc_wanted, gc_stop, gc_interrupted;
    /* notes from Ruby, written into the next sample */
    int64_t note_ruby_malloc, note_leak_rate;
    char note_verdict[MW_VERDICT_LEN];
    /* errors from the pthread, reported by Ruby */
    int last_errno;
    const char *last_error_site;
    uint64_t error_count;
} mw_sampler;

static mw_sampler *active;     /* the running sampler of this process */
static VALUE gc_syms[MW_MAX_GC_KEYS];
static int ngc, heap_pages_idx = -1;

double
memwatch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct timespec
mono_deadline(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    return ts;
}

static void
sync_init(mw_sampler *s)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->tick_cond, &attr);
    pthread_cond_init(&s->gc_cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* ---- rings ------------------------------------------------------------ */

static int
ring_alloc(mw_ring *r, long cap)
{
    r->buf = calloc((size_t)cap, sizeof(mw_sample));
    r->cap = r->buf ? cap : 0;
    r->head = r->count = 0;
    return r->buf ? 0 : -1;
}

static void
ring_free(mw_ring *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

static void
ring_push(mw_ring *r, const mw_sample *smp)
{
    if (!r->cap) return;
    r->buf[r->head] = *smp;
    r->head = (r->head + 1) % r->cap;
    if (r->count < r->cap) r->count++;
}

static const mw_sample *
ring_at(const mw_ring *r, long i) /* 0 = oldest */
{
    return &r->buf[(r->head - r->count + i + r->cap) % r->cap];
}

/* ---- one sample ------------------------------------------------------- */

static void
sample_clear(mw_sample *smp)
{
    smp->tick = memwatch_now();
    smp->gc_age = -1;
    smp->cpu = 0;
    for (int i = 0; i < MW_NFIELDS; i++) smp->f[i] = MW_NA;
    for (int i = 0; i < MW_MAX_GC_KEYS; i++) smp->gc[i] = MW_NA;
    smp->verdict[0] = '\0';
}

static double
thread_cpu(mw_sampler *s)
{
    struct timespec ts;
    if (!s->thread_alive || clock_gettime(s->cpu_clock, &ts) != 0) return 0;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
record_error(mw_sampler *s, const char *site)
{
    pthread_mutex_lock(&s->lock);
    s->last_errno = errno;
    s->last_error_site = site;
    s->error_count++;
    pthread_mutex_unlock(&s->lock);
}

/* The native part of a sample: no Ruby API, safe on any thread. */
static void
read_native(mw_sampler *s, mw_sample *smp, int pss, int meminfo)
{
    if (memwatch_read_status(smp) < 0) record_error(s, "/proc/self/status");
    if (pss && memwatch_read_smaps_rollup(smp) < 0) record_error(s, "/proc/self/smaps_rollup");
    if (memwatch_read_cgroup(smp) < 0) record_error(s, "cgroup memory files");
    if (meminfo && memwatch_read_meminfo(smp) < 0) record_error(s, "/proc/meminfo");
    memwatch_read_allocator(smp);
}

/* Copies the GC snapshot and the notes from Ruby into the sample (locked). */
static void
merge_locked(mw_sampler *s, mw_sample *smp)
{
    if (s->gc_tick > 0) {
        memcpy(smp->gc, s->gc, sizeof(s->gc));
        smp->gc_age = smp->tick > s->gc_tick ? smp->tick - s->gc_tick : 0;
        if (heap_pages_idx >= 0 && smp->gc[heap_pages_idx] != MW_NA)
            smp->f[MW_RUBY_HEAP] = smp->gc[heap_pages_idx] * s->page_size;
    }
    smp->f[MW_RUBY_MALLOC] = s->note_ruby_malloc;
    smp->f[MW_LEAK_RATE] = s->note_leak_rate;
    memcpy(smp->verdict, s->note_verdict, MW_VERDICT_LEN);
    s->note_ruby_malloc = s->note_leak_rate = MW_NA;
    s->note_verdict[0] = '\0';
}

/* Waits a little for the memwatch-gc Ruby thread to answer the request made
 * at the start of the tick (reply: gc_seq moves past seq). An idle process
 * answers in microseconds; a busy one may hold the GVL for 100 ms per
 * runnable thread, and then this row keeps older counters (gc_age_seconds). */
static void
await_gc_locked(mw_sampler *s, uint64_t seq, double patience)
{
    struct timespec until = mono_deadline(mono_now() + patience);
    while (s->running && s->gc_seq == seq)
        if (pthread_cond_timedwait(&s->gc_cond, &s->lock, &until) == ETIMEDOUT) break;
}

/* The documented core routine: one tick of the sampler thread. */
static void
tick(mw_sampler *s)
{
    mw_sample smp;
    int pss = s->pss_every > 0 && s->ticks % (uint64_t)s->pss_every == 0;
    int meminfo = s->meminfo_every > 0 && s->ticks % (uint64_t)s->meminfo_every == 0;
    double patience = s->interval / 4 < 0.05 ? s->interval / 4 : 0.05;
    uint64_t seq;

    pthread_mutex_lock(&s->lock);
    seq = s->gc_seq;
    s->gc_wanted = 1;                       /* the Ruby thread starts now... */
    pthread_cond_broadcast(&s->gc_cond);
    pthread_mutex_unlock(&s->lock);

    sample_clear(&smp);                     /* ...while we read /proc */
    read_native(s, &smp, pss, meminfo);
    smp.cpu = thread_cpu(s);

    pthread_mutex_lock(&s->lock);
    await_gc_locked(s, seq, patience);
    merge_locked(s, &smp);
    ring_push(&s->recent, &smp);
    if (s->ticks % (uint64_t)s->long_every == 0) ring_push(&s->lng, &smp);
    s->ticks++;
    pthread_mutex_unlock(&s->lock);

    if (memwatch_log_write(&smp) < 0) record_error(s, "log write");
}

static void *
sampler_main(void *arg)
{
    mw_sampler *s = arg;
    double next = mono_now();
#ifdef HAVE_PTHREAD_SETNAME_NP
    pthread_setname_np(pthread_self(), "memwatch");
#endif
    pthread_mutex_lock(&s->lock);
    while (s->running) {
        pthread_mutex_unlock(&s->lock);
        tick(s);
        pthread_mutex_lock(&s->lock);
        next += s->interval;
        if (next < mono_now()) next = mono_now(); /* late: skip, never burst */
        struct timespec until = mono_deadline(next);
        while (s->running && pthread_cond_timedwait(&s->tick_cond, &s->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

/* Signals are blocked in the new thread, so Puma's USR1/HUP/TERM and
 * Ruby's own signal handling always land on Ruby threads. */
static int
spawn_thread(mw_sampler *s)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&s->thread, NULL, sampler_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!err) pthread_getcpuclockid(s->thread, &s->cpu_clock);
    return err;
}

static int
stop_thread(mw_sampler *s)
{
    if (!s->thread_alive) return 0;
    pthread_mutex_lock(&s->lock);
    s->running = 0;
    s->gc_stop = 1;
    pthread_cond_broadcast(&s->tick_cond);
    pthread_cond_broadcast(&s->gc_cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);   /* prompt: the thread is woken above */
    s->thread_alive = 0;
    if (active == s) active = NULL;
    return 1;
}

static void
atfork_prepare(void)
{
    if (active) pthread_mutex_lock(&active->lock);
}

static void
atfork_parent(void)
{
    if (active) pthread_mutex_unlock(&active->lock);
}

/* The pthread does not exist in the child. Reset everything it owned and
 * do nothing else; Ruby restarts a sampler in the child if configured. */
static void
atfork_child(void)
{
    mw_sampler *s = active;
    memwatch_log_atfork_child();
    memwatch_procfs_close();
    if (!s) return;
    sync_init(s);
    s->running = s->thread_alive = 0;
    s->gc_stop = 1;
    s->recent.count = s->recent.head = s->lng.count = s->lng.head = 0;
    s->gc_tick = 0;
    s->pid = getpid();
    active = NULL;
}

static void
at_vm_exit(ruby_vm_t *vm)
{
    if (active) stop_thread(active);
}

/* ---- Ruby binding: Memwatch::Native::Sampler -------------------------- */

static void
sampler_free(void *p)
{
    mw_sampler *s = p;
    if (s->initialized && s->pid == getpid()) stop_thread(s);
    ring_free(&s->recent);
    ring_free(&s->lng);
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
    sync_init(s);
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
    if (RARRAY_LEN(caps) != 2 || RARRAY_LEN(everies) != 4)
        rb_raise(rb_eArgError, "memwatch: expected [recent, long] and 4 tick counts");
    s->interval = NUM2DBL(interval);
    if (!(s->interval >= 0.01 && s->interval <= 3600))
        rb_raise(rb_eArgError, "interval must be between 0.01 and 3600 seconds");
    long recent = positive_long(RARRAY_AREF(caps, 0), "ring_size", 1000000);
    long lng = positive_long(RARRAY_AREF(caps, 1), "long_ring_size", 1000000);
    s->long_every = positive_long(RARRAY_AREF(everies, 0), "long_every", 1000000);
    s->pss_every = positive_long(RARRAY_AREF(everies, 1), "pss_every", 1000000);
    s->meminfo_every = positive_long(RARRAY_AREF(everies, 2), "meminfo_every", 1000000);
    s->periodic_every = positive_long(RARRAY_AREF(everies, 3), "periodic_every", 1000000);
    s->page_size = NUM2LL(page_size);
    ring_free(&s->recent);
    ring_free(&s->lng);
    if (ring_alloc(&s->recent, recent) < 0 || ring_alloc(&s->lng, lng) < 0)
        rb_raise(rb_eNoMemError, "memwatch: cannot allocate the sample rings");
}

/*
 * call-seq: sampler._start(interval, [ring, long_ring], [long_every, pss_every,
 *   meminfo_every, periodic_every], heap_page_size) -> true | false  (:nodoc:)
 *
 * The log (if any) must be opened first with Native._log_open.
 */
static VALUE
sampler_start(VALUE self, VALUE interval, VALUE caps, VALUE everies, VALUE page_size)
{
    mw_sampler *s = get_sampler(self);
    if (s->thread_alive) return Qfalse;
    if (active) rb_raise(rb_eRuntimeError, "memwatch: another sampler is already running");
    configure(s, interval, caps, everies, page_size);
    if (memwatch_procfs_open() < 0) rb_sys_fail("memwatch: /proc/self/status");
    s->ticks = s->gc_seq = s->gc_reads = 0;
    s->gc_tick = 0;
    s->gc_stop = s->gc_wanted = s->gc_interrupted = 0;
    s->running = 1;
    s->pid = getpid();
    int err = spawn_thread(s);
    if (err) {
        s->running = 0;
        rb_syserr_fail(err, "memwatch: pthread_create");
    }
    s->thread_alive = 1;
    active = s;
    return Qtrue;
}

/* call-seq: sampler._stop -> true | false  (:nodoc:) */
static VALUE
sampler_stop(VALUE self)
{
    mw_sampler *s = get_sampler(self);
    if (!stop_thread(s)) return Qfalse;
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

/* rb_gc_stat(sym) reads one counter and allocates nothing (~5 ns a key). */
static void
read_gc(int64_t *vals)
{
    for (int i = 0; i < ngc; i++) vals[i] = (int64_t)rb_gc_stat(gc_syms[i]);
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
    read_gc(vals);
    pthread_mutex_lock(&s->lock);
    memcpy(s->gc, vals, sizeof(int64_t) * (size_t)ngc);
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
    int own_fds = !s->thread_alive;
    if (own_fds && memwatch_procfs_open() < 0) rb_sys_fail("memwatch: /proc/self/status");
    sample_clear(&smp);
    read_native(s, &smp, 1, 1);
    if (own_fds) memwatch_procfs_close();
    read_gc(smp.gc);
    smp.gc_age = 0;
    if (heap_pages_idx >= 0)
        smp.f[MW_RUBY_HEAP] = smp.gc[heap_pages_idx] * (s->page_size ? s->page_size : 16384);
    smp.cpu = thread_cpu(s);
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
    while (first < r->count && ring_at(r, first)->tick <= since) first++;
    n = r->count - first;
    if (limit >= 0 && n > limit) { first += n - limit; n = limit; }
    *out = malloc(sizeof(mw_sample) * (size_t)(n > 0 ? n : 1));
    for (long i = 0; *out && i < n; i++) (*out)[i] = *ring_at(r, first + i);
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
    SET(h, "cpu_seconds", DBL2NUM(thread_cpu(s)));
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
    ngc = (int)RARRAY_LEN(keys) < MW_MAX_GC_KEYS ? (int)RARRAY_LEN(keys) : MW_MAX_GC_KEYS;
    for (int i = 0; i < ngc; i++) {
        gc_syms[i] = RARRAY_AREF(keys, i);  /* static symbols: never collected */
        names[i] = strdup(rb_id2name(SYM2ID(gc_syms[i])));
        if (strcmp(names[i], "heap_allocated_pages") == 0) heap_pages_idx = i;
        (void)rb_gc_stat(gc_syms[i]);
    }
    memwatch_columns_build(names, ngc, memwatch_allocator());
}

void
Init_memwatch_sampler(VALUE mNative)
{
    VALUE cSampler = rb_define_class_under(mNative, "Sampler", rb_cObject);
    init_gc_keys();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    ruby_vm_at_exit(at_vm_exit);
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
