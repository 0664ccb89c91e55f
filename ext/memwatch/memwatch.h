/*
 * memwatch.h — the one shared header of the memwatch extension.
 *
 * A sample is a fixed C struct; the column table (columns.c) maps it to the
 * log header, to Ruby Hashes and to JSON, so the three formats cannot drift.
 */
#ifndef MEMWATCH_H
#define MEMWATCH_H 1

#include <ruby.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#define MW_NA INT64_MIN     /* "not measured": nil in Ruby, empty in TSV, null in JSON */
#define MW_MAX_GC_KEYS 48   /* GC.stat has 29 keys on 3.1, ~32 on 3.4 */
#define MW_VERDICT_LEN 24

/* Integer fields of a sample, in log column order (after the GC.stat keys). */
enum mw_field {
    MW_GC_STATE,  /* 0 none, 1 marking (marked/old counts partial), 2 sweeping */
    MW_RSS, MW_RSS_ANON, MW_RSS_FILE, MW_RSS_SHMEM, MW_SWAP, MW_THREADS,
    MW_PSS, MW_USS, MW_CG_USAGE, MW_CG_LIMIT,
    MW_AL0, MW_AL1, MW_AL2, MW_AL3, MW_AL4, MW_AL5, /* allocator-specific */
    MW_RUBY_HEAP, MW_RUBY_MALLOC,
    MW_HOST_AVAIL, MW_HOST_SLAB, MW_HOST_SUNRECLAIM,
    MW_LEAK_RATE,
    MW_NFIELDS
};

typedef struct mw_sample {
    double tick;        /* epoch seconds */
    double gc_age;      /* seconds between the GC counters' read and tick; <0 = none */
    double cpu;         /* sampler thread CPU seconds so far */
    int64_t f[MW_NFIELDS];
    int64_t gc[MW_MAX_GC_KEYS];
    char verdict[MW_VERDICT_LEN];
} mw_sample;

/* Column kinds: how one header column is read out of a sample. */
enum mw_col_kind { MW_COL_TYPE, MW_COL_TICK, MW_COL_GC, MW_COL_FIELD,
                   MW_COL_GC_AGE, MW_COL_CPU, MW_COL_VERDICT };
typedef struct mw_column { const char *name; enum mw_col_kind kind; int index; } mw_column;

/* columns.c */
int memwatch_columns_build(const char *const *gc_names, int ngc, int allocator);
int memwatch_columns(const mw_column **out);
VALUE memwatch_sample_to_hash(const mw_sample *s);

/* procfs.c: kept /proc and cgroup fds, reopened per process (fork!) */
int memwatch_procfs_open(void);
void memwatch_procfs_close(void);
int memwatch_read_status(mw_sample *s);
int memwatch_read_statm(mw_sample *s, int64_t shmem);
int memwatch_read_smaps_rollup(mw_sample *s);
int memwatch_read_cgroup(mw_sample *s, int limit);
int memwatch_read_meminfo(mw_sample *s);

/* allocator.c */
enum mw_allocator { MW_ALLOC_UNKNOWN, MW_ALLOC_GLIBC, MW_ALLOC_JEMALLOC };
int memwatch_allocator(void);
const char *memwatch_allocator_name(void);
int memwatch_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
void memwatch_read_allocator(mw_sample *s, int now);
int memwatch_allocator_purge(void);
const char *const *memwatch_allocator_fields(void);

/* logfile.c: one process-wide log, written only by the sampler thread */
size_t memwatch_format_row(const mw_sample *s, char *buf, size_t cap);
int memwatch_log_open(const char *path, int fd, const char *preamble, int64_t max_bytes, int keep);
int memwatch_log_write(const mw_sample *s);
void memwatch_log_close(void);
void memwatch_log_request_reopen(void);
int memwatch_log_active(void);
void memwatch_log_atfork_child(void);

/* sampler.c: the process-wide sampler, its pthread and rings */
double memwatch_now(void);
int memwatch_sampler_active(void);  /* a sampler thread runs in this process */
long memwatch_copy_samples(VALUE sampler, int which, double since, long limit, mw_sample **out);
VALUE memwatch_samples_to_array(const mw_sample *buf, long n);

/* Init functions, one per file that defines Ruby methods. */
void Init_memwatch_sampler(VALUE mNative);
void Init_memwatch_allocator(VALUE mNative);
void Init_memwatch_json(VALUE mNative);
void Init_memwatch_heapdump(VALUE mNative);
void Init_memwatch_jeprof(VALUE mNative);

#endif /* MEMWATCH_H */
