/*
 * heapdump.h -- private to heapdump*.c (the `memwatch heap` reader): the C tables the
 * aggregates live in, one dump object as C fields, and the streaming scan.
 */
#ifndef MEMWATCH_HEAPDUMP_H
#define MEMWATCH_HEAPDUMP_H 1

#include <stdint.h>
#include <stddef.h>

#define HD_MAX_TYPES 250   /* type ids double as class keys below 256 (see class_key) */
#define HD_OTHER_ID 1      /* string id of "(other)", used past the cap on strings */

/* u64 -> u64 map, open addressing; key 0 is "empty" (no object lives at 0). */
typedef struct { uint64_t key, val; } hd_slot;
typedef struct { hd_slot *s; size_t cap, len; } hd_map;

const hd_slot *hd_map_find(const hd_map *m, uint64_t key);
int hd_map_put(hd_map *m, uint64_t key, uint64_t val);          /* -1 = ENOMEM */
void hd_map_free(hd_map *m);

/* (k0, k1, k2) -> (count, bytes); past `max` keys objects go to lost_count/bytes. */
typedef struct { uint64_t k[3], count, bytes; } hd_agg_slot;
typedef struct { hd_agg_slot *s; size_t cap, len, max; uint64_t lost_count, lost_bytes; } hd_agg;

int hd_agg_add(hd_agg *a, uint64_t k0, uint64_t k1, uint64_t k2, uint64_t bytes);
void hd_agg_free(hd_agg *a);

/* Interned strings; id 0 is "", id 1 "(other)". */
typedef struct { char **str; size_t len, cap, max; hd_map ids; } hd_strtab;

int hd_strtab_init(hd_strtab *t, size_t max);                   /* -1 = ENOMEM */
uint32_t hd_strtab_intern(hd_strtab *t, const char *p, size_t n); /* 0 = ENOMEM */
void hd_strtab_free(hd_strtab *t);

/* One object line of a dump. Strings are not NUL-terminated; they live until the
 * visitor returns. */
typedef struct {
    uint64_t addr, klass, memsize;
    int64_t gen;                     /* -1: allocated while tracing was off */
    long line;                       /* "line" field (allocation site) */
    const char *type, *file, *name;  /* name: CLASS/MODULE name (or real class) */
    uint32_t type_n, file_n, name_n;
} hd_obj;

typedef struct { long line; char msg[200]; } hd_err;

typedef int (*hd_visit_fn)(void *ctx, const hd_obj *o);

/* One file scan. The caller fills the inputs; counters and err are outputs. */
typedef struct {
    hd_visit_fn visit;
    void *ctx;
    size_t max_line;           /* longest accepted line, bytes */
    int threads;               /* json-c parser threads, >= 1 */
    volatile int interrupted;  /* set from another thread to stop (Ctrl-C) */
    uint64_t roots;
    hd_err err;
} hd_scan;

/* Reads `path` (gzip or plain) and calls visit for each object, in file order, on the
 * calling thread. Returns 0, or -1 with sc->err filled. No Ruby API inside. */
int hd_scan_file(hd_scan *sc, const char *path);

#endif
