/*
 * sampler.h — the sampler's struct, shared by sampler.c (the engine: thread,
 * tick, rings, fork) and sampler_rb.c (its Ruby binding). Private to them.
 */
#ifndef MEMWATCH_SAMPLER_H
#define MEMWATCH_SAMPLER_H 1

#include "memwatch.h"
#include <pthread.h>
#include <time.h>

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
    long pss_every, meminfo_every, long_every, periodic_every, status_every, gc_every;
    int64_t page_size;
    /* state */
    mw_ring recent, lng;
    uint64_t ticks;
    int64_t gc[MW_MAX_GC_KEYS];
    int64_t gc_state;           /* GC.latest_gc_info(:state) when gc[] was read */
    double gc_tick;             /* 0 = no counters yet */
    uint64_t gc_seq, gc_reads;
    int gc_wanted, gc_stop, gc_interrupted;
    /* figures read on status ticks only (about once a second), carried in between:
     * what statm lacks, the cgroup limit, and the thread's own CPU clock (pthread only) */
    int64_t cached_shmem, cached_swap, cached_threads, cached_cg_limit;
    double cached_cpu;
    /* notes from Ruby, written into the next sample */
    int64_t note_ruby_malloc, note_leak_rate;
    char note_verdict[MW_VERDICT_LEN];
    /* errors from the pthread, reported by Ruby */
    int last_errno;
    const char *last_error_site;
    uint64_t error_count;
} mw_sampler;

extern mw_sampler *memwatch_active;
extern int memwatch_heap_pages_idx;

void memwatch_sync_init(mw_sampler *s);
int memwatch_ring_alloc(mw_ring *r, long cap);
void memwatch_ring_free(mw_ring *r);
const mw_sample *memwatch_ring_at(const mw_ring *r, long i);
void memwatch_sample_clear(mw_sample *smp);
double memwatch_thread_cpu(mw_sampler *s);
void memwatch_read_native(mw_sampler *s, mw_sample *smp, int status, int pss, int meminfo, int now);
int memwatch_spawn_thread(mw_sampler *s);
int memwatch_stop_thread(mw_sampler *s);
void memwatch_sampler_hooks(void);

#endif /* MEMWATCH_SAMPLER_H */
