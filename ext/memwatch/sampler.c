/*
 * sampler.c — the sampler engine: its pthread, its rings, and fork/exit
 * handling. Its Ruby binding is sampler_rb.c.
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
#include "sampler.h"
#include <ruby/vm.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

mw_sampler *memwatch_active;     /* the running sampler of this process */
int memwatch_heap_pages_idx = -1;

double
memwatch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
memwatch_sampler_active(void)
{
    return memwatch_active != NULL && memwatch_active->thread_alive;
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

void
memwatch_sync_init(mw_sampler *s)
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

/* Touched now, at start: calloc'd pages would otherwise fault in one by one
 * on the first pass of the ring, in the sampler's ticks (and memwatch's own
 * memory would creep up for hours instead of being what it reports). */
int
memwatch_ring_alloc(mw_ring *r, long cap)
{
    size_t bytes = (size_t)cap * sizeof(mw_sample);
    r->buf = calloc((size_t)cap, sizeof(mw_sample));
    /* volatile: a memset of calloc'd memory is a dead store the compiler may drop */
    for (size_t off = 0; r->buf && off < bytes; off += 4096) ((volatile char *)r->buf)[off] = 0;
    r->cap = r->buf ? cap : 0;
    r->head = r->count = 0;
    return r->buf ? 0 : -1;
}

void
memwatch_ring_free(mw_ring *r)
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

const mw_sample *
memwatch_ring_at(const mw_ring *r, long i) /* 0 = oldest */
{
    return &r->buf[(r->head - r->count + i + r->cap) % r->cap];
}

/* ---- one sample ------------------------------------------------------- */

void
memwatch_sample_clear(mw_sample *smp)
{
    smp->tick = memwatch_now();
    smp->gc_age = -1;
    smp->cpu = 0;
    for (int i = 0; i < MW_NFIELDS; i++) smp->f[i] = MW_NA;
    for (int i = 0; i < MW_MAX_GC_KEYS; i++) smp->gc[i] = MW_NA;
    smp->verdict[0] = '\0';
}

double
memwatch_thread_cpu(mw_sampler *s)
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

/* The native part of a sample: no Ruby API, safe on any thread. Without
 * +status+, RSS comes from statm and the status-only figures (swap, threads,
 * shmem) are the latest status tick's, at most status_every ticks old. */
void
memwatch_read_native(mw_sampler *s, mw_sample *smp, int status, int pss, int meminfo, int now)
{
    if (status) {
        if (memwatch_read_status(smp) < 0) record_error(s, "/proc/self/status");
    } else {
        if (memwatch_read_statm(smp, s->cached_shmem) < 0) record_error(s, "/proc/self/statm");
        smp->f[MW_SWAP] = s->cached_swap;
        smp->f[MW_THREADS] = s->cached_threads;
        smp->f[MW_CG_LIMIT] = s->cached_cg_limit;
    }
    if (pss && memwatch_read_smaps_rollup(smp) < 0) record_error(s, "/proc/self/smaps_rollup");
    if (memwatch_read_cgroup(smp, status) < 0) record_error(s, "cgroup memory files");
    if (meminfo && memwatch_read_meminfo(smp) < 0) record_error(s, "/proc/meminfo");
    memwatch_read_allocator(smp, now);
}

/* Copies the GC snapshot and the notes from Ruby into the sample (locked). */
static void
merge_locked(mw_sampler *s, mw_sample *smp)
{
    if (s->gc_tick > 0) {
        memcpy(smp->gc, s->gc, sizeof(s->gc));
        smp->f[MW_GC_STATE] = s->gc_state;
        smp->gc_age = smp->tick > s->gc_tick ? smp->tick - s->gc_tick : 0;
        if (memwatch_heap_pages_idx >= 0 && smp->gc[memwatch_heap_pages_idx] != MW_NA)
            smp->f[MW_RUBY_HEAP] = smp->gc[memwatch_heap_pages_idx] * s->page_size;
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

static int
every(mw_sampler *s, long n)
{
    return n > 0 && s->ticks % (uint64_t)n == 0;
}

/* Asks the memwatch-gc Ruby thread for GC counters; it answers while we read
 * /proc. Returns the sequence number its reply will move past. */
static uint64_t
request_gc(mw_sampler *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t seq = s->gc_seq;
    s->gc_wanted = 1;
    pthread_cond_broadcast(&s->gc_cond);
    pthread_mutex_unlock(&s->lock);
    return seq;
}

/* The documented core routine: one tick of the sampler thread. GC counters
 * are asked for every gc_every ticks only: waking the Ruby thread and waiting
 * for it is a third of a tick's CPU (two context switches), and at short
 * intervals the other rows carry the latest counters (gc_age_seconds). */
static void
tick(mw_sampler *s)
{
    mw_sample smp;
    int status = every(s, s->status_every), gc = every(s, s->gc_every);
    double patience = s->interval / 4 < 0.05 ? s->interval / 4 : 0.05;
    uint64_t seq = gc ? request_gc(s) : 0;

    memwatch_sample_clear(&smp);
    memwatch_read_native(s, &smp, status, every(s, s->pss_every), every(s, s->meminfo_every), 0);
    if (status) {
        s->cached_shmem = smp.f[MW_RSS_SHMEM];
        s->cached_swap = smp.f[MW_SWAP];
        s->cached_threads = smp.f[MW_THREADS];
        s->cached_cg_limit = smp.f[MW_CG_LIMIT];
        s->cached_cpu = memwatch_thread_cpu(s); /* a syscall: ~1 s resolution is enough */
    }
    smp.cpu = s->cached_cpu;

    pthread_mutex_lock(&s->lock);
    if (gc) await_gc_locked(s, seq, patience);
    merge_locked(s, &smp);
    ring_push(&s->recent, &smp);
    if (every(s, s->long_every)) ring_push(&s->lng, &smp);
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
        /* Late (a busy machine, a slow smaps_rollup): skip the missed ticks
         * and keep a full interval to the next one, never a burst. */
        double now = mono_now();
        if (next < now) next = now + s->interval;
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
int
memwatch_spawn_thread(mw_sampler *s)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&s->thread, NULL, sampler_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!err) pthread_getcpuclockid(s->thread, &s->cpu_clock);
    return err;
}

int
memwatch_stop_thread(mw_sampler *s)
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
    if (memwatch_active == s) memwatch_active = NULL;
    return 1;
}

static void
atfork_prepare(void)
{
    if (memwatch_active) pthread_mutex_lock(&memwatch_active->lock);
}

static void
atfork_parent(void)
{
    if (memwatch_active) pthread_mutex_unlock(&memwatch_active->lock);
}

/* The pthread does not exist in the child. Reset everything it owned and
 * do nothing else; Ruby restarts a sampler in the child if configured. */
static void
atfork_child(void)
{
    mw_sampler *s = memwatch_active;
    memwatch_log_atfork_child();
    memwatch_procfs_close();
    if (!s) return;
    memwatch_sync_init(s);
    s->running = s->thread_alive = 0;
    s->gc_stop = 1;
    s->recent.count = s->recent.head = s->lng.count = s->lng.head = 0;
    s->gc_tick = 0;
    s->pid = getpid();
    memwatch_active = NULL;
}

static void
at_vm_exit(ruby_vm_t *vm)
{
    if (memwatch_active) memwatch_stop_thread(memwatch_active);
}


/* Registers the fork and VM-exit handlers (once, from Init). */
void
memwatch_sampler_hooks(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    ruby_vm_at_exit(at_vm_exit);
}
