/*
 * heapdump_tab.c -- the plain C hash tables `memwatch heap` aggregates into: an address
 * map, a counting table with a cap on distinct keys, and a string interner. Open
 * addressing at load <= 1/2, malloc only (they are filled without the GVL).
 */
#include "heapdump.h"
#include <stdlib.h>
#include <string.h>

static uint64_t
mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* ---------- u64 -> u64 map */
static hd_slot *
map_slot(const hd_map *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = mix(key) & mask;
    while (m->s[i].key && m->s[i].key != key) i = (i + 1) & mask;
    return &m->s[i];
}

const hd_slot *
hd_map_find(const hd_map *m, uint64_t key)
{
    if (!m->cap) return NULL;
    const hd_slot *s = map_slot(m, key);
    return s->key ? s : NULL;
}

static int
map_grow(hd_map *m)
{
    hd_map old = *m;
    m->cap = old.cap ? old.cap * 2 : 1024;
    m->len = 0;
    if (!(m->s = calloc(m->cap, sizeof *m->s))) { *m = old; return -1; }
    for (size_t i = 0; i < old.cap; i++)
        if (old.s[i].key) *map_slot(m, old.s[i].key) = old.s[i], m->len++;
    free(old.s);
    return 0;
}

int
hd_map_put(hd_map *m, uint64_t key, uint64_t val)
{
    if ((m->len + 1) * 2 > m->cap && map_grow(m)) return -1;
    hd_slot *s = map_slot(m, key);
    if (!s->key) { s->key = key; m->len++; }
    s->val = val;
    return 0;
}

void
hd_map_free(hd_map *m)
{
    free(m->s);
    memset(m, 0, sizeof *m);
}

/* ---------- counting table */
static hd_agg_slot *
agg_slot(const hd_agg *a, const uint64_t k[3])
{
    size_t mask = a->cap - 1, i = mix(k[0] ^ mix(k[1] ^ mix(k[2]))) & mask;
    while (a->s[i].count && memcmp(a->s[i].k, k, sizeof a->s[i].k)) i = (i + 1) & mask;
    return &a->s[i];
}

static int
agg_grow(hd_agg *a)
{
    hd_agg old = *a;
    a->cap = old.cap ? old.cap * 2 : 1024;
    if (!(a->s = calloc(a->cap, sizeof *a->s))) { *a = old; return -1; }
    for (size_t i = 0; i < old.cap; i++)
        if (old.s[i].count) *agg_slot(a, old.s[i].k) = old.s[i];
    free(old.s);
    return 0;
}

/* Past `max` distinct keys an object is counted as lost instead: memory stays bounded
 * whatever the dump holds, and the report says how much went uncategorised. The table
 * stops growing at `max`, so it always keeps free slots and probing ends. */
int
hd_agg_add(hd_agg *a, uint64_t k0, uint64_t k1, uint64_t k2, uint64_t bytes)
{
    uint64_t k[3] = { k0, k1, k2 };
    if ((a->len + 1) * 2 > a->cap && a->len < a->max && agg_grow(a)) return -1;
    hd_agg_slot *s = agg_slot(a, k);
    if (!s->count) {
        if (a->len >= a->max) { a->lost_count++; a->lost_bytes += bytes; return 0; }
        memcpy(s->k, k, sizeof k);
        a->len++;
    }
    s->count++;
    s->bytes += bytes;
    return 0;
}

void
hd_agg_free(hd_agg *a)
{
    free(a->s);
    a->s = NULL;
    a->cap = a->len = 0;
}

/* ---------- string interning */
static uint64_t
str_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    while (n--) h = (h ^ (unsigned char)*p++) * 0x100000001b3ULL;
    return h | 1; /* never 0: 0 marks an empty map slot */
}

int
hd_strtab_init(hd_strtab *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max + 2;
    if (!(t->str = calloc(64, sizeof *t->str))) return -1;
    t->len = 2;
    t->cap = 64;
    t->str[0] = strdup("");
    t->str[1] = strdup("(other)");
    return t->str[0] && t->str[1] ? 0 : -1;
}

/* The map is keyed by a 64-bit hash; on a collision the next key is a re-mix of it.
 * Past the cap every new string becomes "(other)", so memory stays bounded. */
uint32_t
hd_strtab_intern(hd_strtab *t, const char *p, size_t n)
{
    uint64_t key = str_hash(p, n);
    const hd_slot *s;
    while ((s = hd_map_find(&t->ids, key))) {
        const char *q = t->str[s->val];
        if (strlen(q) == n && !memcmp(q, p, n)) return (uint32_t)s->val;
        key = mix(key) | 1;
    }
    if (t->len >= t->max) return HD_OTHER_ID;
    if (t->len == t->cap) {
        char **grown = realloc(t->str, t->cap * 2 * sizeof *t->str);
        if (!grown) return 0;
        t->str = grown;
        t->cap *= 2;
    }
    if (!(t->str[t->len] = malloc(n + 1))) return 0;
    memcpy(t->str[t->len], p, n);
    t->str[t->len][n] = '\0';
    if (hd_map_put(&t->ids, key, t->len)) { free(t->str[t->len]); return 0; }
    return (uint32_t)t->len++;
}

void
hd_strtab_free(hd_strtab *t)
{
    for (size_t i = 0; t->str && i < t->len; i++) free(t->str[i]);
    free(t->str);
    hd_map_free(&t->ids);
    memset(t, 0, sizeof *t);
}
