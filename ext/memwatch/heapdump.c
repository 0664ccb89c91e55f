/*
 * heapdump.c -- `memwatch heap`: what a heap dump holds, and what three dumps retained.
 *
 * A dump is one JSON object per line and can be many GB, so nothing here holds the
 * dump: heapdump_scan.c streams it (zlib + json-c on parser threads) and calls a
 * visitor per object; this file folds objects into the C tables of heapdump_tab.c,
 * keyed by (file, line, class/type) with a cap on distinct keys, and turns the tables
 * into Ruby Arrays once the scan is over. The scan runs without the GVL.
 *
 * Two private primitives (lib/memwatch/heap.rb wraps them):
 *   Memwatch::Native._heap_summary(path, opts)   -> Hash
 *   Memwatch::Native._heap_diff(a, b, c, opts)    -> Hash
 * On unreadable or malformed input both return {error:, error_path:, error_line:}
 * instead of raising, so Ruby words the error (`memwatch: FILE:LINE: reason`).
 */
#include "memwatch.h"
#include "heapdump.h"
#include <ruby/thread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What every visitor shares: type and string interning, class names. */
typedef struct {
    hd_strtab types, strs;     /* strs: file names and class names, capped at max_keys */
    hd_map classes;            /* class address -> name id in strs (0: anonymous) */
} hd_names;

static int
is_type(const hd_obj *o, const char *name)
{
    return o->type_n == strlen(name) && !memcmp(o->type, name, o->type_n);
}

/* Objects point at their class by address and classes can appear anywhere in the dump,
 * so names are collected during the scan and resolved only when reporting. Returns the
 * type id (< HD_MAX_TYPES + 2), 0 on ENOMEM. */
static uint32_t
names_note(hd_names *n, const hd_obj *o)
{
    uint32_t type_id = hd_strtab_intern(&n->types, o->type, o->type_n);
    if (!type_id || !(is_type(o, "CLASS") || is_type(o, "MODULE"))) return type_id;
    uint32_t name_id = o->name ? hd_strtab_intern(&n->strs, o->name, o->name_n) : 0;
    if ((o->name && !name_id) || hd_map_put(&n->classes, o->addr, name_id)) return 0;
    return type_id;
}

/* IMEMO's "class" field is not a class; keys below HD_MAX_TYPES + 2 are type ids (see
 * class_label), so a (crafted) class address that low is not trusted as a class. */
static uint64_t
class_key(const hd_obj *o, uint32_t type_id)
{
    return o->klass >= HD_MAX_TYPES + 2 && !is_type(o, "IMEMO") ? o->klass : type_id;
}

static uint32_t
file_id(hd_names *n, const hd_obj *o)
{
    return o->file ? hd_strtab_intern(&n->strs, o->file, o->file_n) : 0;
}

/* ---------- summary: objects and bytes by type, generation, class, allocation site */
typedef struct {
    hd_names *names;
    hd_agg by_type, by_gen, by_class, by_site;
    int64_t since, max_gen;
    uint64_t objects, bytes, traced, skipped;
} hd_summary;

static int
summary_visit(void *ctx, const hd_obj *o)
{
    hd_summary *s = ctx;
    uint32_t type_id = names_note(s->names, o);
    if (!type_id) return -1;
    uint64_t ck = class_key(o, type_id), b = o->memsize;
    if (s->since >= 0 && o->gen < s->since) { s->skipped++; return 0; }
    s->objects++;
    s->bytes += b;
    if (o->gen > s->max_gen) s->max_gen = o->gen;
    if (hd_agg_add(&s->by_type, type_id, 0, 0, b) || hd_agg_add(&s->by_gen, (uint64_t)(o->gen + 1), 0, 0, b) ||
        hd_agg_add(&s->by_class, ck, 0, 0, b))
        return -1;
    if (o->gen < 0) return 0;
    s->traced++;
    uint32_t fid = file_id(s->names, o);
    if (o->file && !fid) return -1;
    return hd_agg_add(&s->by_site, fid, (uint64_t)o->line, ck, b);
}

/* ---------- diff: objects born after A, alive in B and still alive in C
 *
 * With allocation tracing each object carries its generation (GC count at birth). Let
 * tA be the GC count when dump A was taken: an object of generation g < tA was born
 * before A; one of generation g >= tA was born after A unless A holds it (obj_id). The
 * same with tB for B: g < tB means born before B, so an object alive in C was alive in
 * B; g >= tB means it was in B only if B holds it. So only A's and B's objects of
 * generation >= tA, tB need identities, and compaction cannot confuse the rest.
 *
 * tA, tB come from the dumps' manifests (gen_a/gen_b options: the endpoint records
 * GC.count at each dump), or else are inferred as the highest generation in A and B.
 * The inference fails when the dumping process ran a GC of its own (a forked dump
 * child with gc=1): its later allocations carry a generation the app had not reached.
 * Objects without a generation (tracing off) fall back to address identity,
 * heapy-style, and are counted apart (retained_by_address). */
typedef struct {
    hd_names *names;
    int phase, by_address, given[2];
    int64_t gen[3], thr[2];          /* gen: highest seen; thr: tA, tB */
    hd_map bound[2], untraced_a, new_untraced_b;
    hd_agg allocated, retained;
    uint64_t objects[3], retained_by_address;
} hd_diff;

/* An object's identity across dumps: address, type and generation. Within one GC epoch
 * a slot is never reused (freeing needs a GC), so this is exact unless compaction moved
 * the object; without the generation, an object born after B in the slot of one of B's
 * dead objects would pass for it. (Addresses are 8-aligned and below 2^56; the odd
 * multiplier spreads generations over all bits: a collision needs a 2^-64 accident.) */
static uint64_t
obj_id(const hd_obj *o, uint32_t type_id)
{
    uint64_t id = (o->addr >> 3) ^ ((uint64_t)type_id << 56) ^ ((uint64_t)o->gen * 0x9e3779b97f4a7c15ULL);
    return id ? id : 1; /* 0 marks an empty map slot */
}

static int
diff_add(hd_diff *d, hd_agg *a, const hd_obj *o, uint32_t type_id)
{
    uint32_t fid = file_id(d->names, o);
    if (o->file && !fid) return -1;
    return hd_agg_add(a, fid, (uint64_t)(o->file ? o->line : 0), class_key(o, type_id), o->memsize);
}

/* Remembers dump i's objects of generation >= tA (tB). When the threshold is inferred
 * it is the newest generation so far: the set is dropped when a newer one shows up. */
static int
diff_track_bound(hd_diff *d, int i, const hd_obj *o, uint64_t id)
{
    if (o->gen > d->gen[i]) {
        d->gen[i] = o->gen;
        if (!d->given[i]) hd_map_free(&d->bound[i]);
    }
    return o->gen >= (d->given[i] ? d->thr[i] : d->gen[i]) ? hd_map_put(&d->bound[i], id, 1) : 0;
}

/* Called as the scan of dump `phase` starts: the previous dump's threshold is final. */
static void
diff_begin(hd_diff *d, int phase)
{
    d->phase = phase;
    if (phase > 0 && !d->given[phase - 1]) d->thr[phase - 1] = d->gen[phase - 1];
}

static int
born_after_a(const hd_diff *d, const hd_obj *o, uint64_t id)
{
    return o->gen >= d->thr[0] && !hd_map_find(&d->bound[0], id);
}

static int
alive_in_b(const hd_diff *d, const hd_obj *o, uint64_t id)
{
    return o->gen < d->thr[1] || hd_map_find(&d->bound[1], id);
}

static int
diff_visit_untraced(hd_diff *d, const hd_obj *o, uint32_t type_id, uint64_t id)
{
    if (!d->by_address) return 0;
    switch (d->phase) {
    case 0: return hd_map_put(&d->untraced_a, id, 1);
    case 1:
        if (hd_map_find(&d->untraced_a, id)) return 0;
        return hd_map_put(&d->new_untraced_b, id, 1) || diff_add(d, &d->allocated, o, type_id);
    default:
        if (!hd_map_find(&d->new_untraced_b, id)) return 0;
        d->retained_by_address++;
        return diff_add(d, &d->retained, o, type_id);
    }
}

static int
diff_visit(void *ctx, const hd_obj *o)
{
    hd_diff *d = ctx;
    uint32_t type_id = names_note(d->names, o);
    if (!type_id) return -1;
    uint64_t id = obj_id(o, type_id);
    d->objects[d->phase]++;
    if (o->gen < 0) return diff_visit_untraced(d, o, type_id, id);
    switch (d->phase) {
    case 0: return diff_track_bound(d, 0, o, id);
    case 1:
        if (diff_track_bound(d, 1, o, id)) return -1;
        return born_after_a(d, o, id) ? diff_add(d, &d->allocated, o, type_id) : 0;
    default:
        if (o->gen > d->gen[2]) d->gen[2] = o->gen;
        return born_after_a(d, o, id) && alive_in_b(d, o, id) ? diff_add(d, &d->retained, o, type_id) : 0;
    }
}

/* ---------- Ruby glue: copy options in, scan without the GVL, build the result */
typedef struct {
    hd_scan sc;
    hd_names names;
    hd_summary sum;
    hd_diff diff;
    char *paths[3];
    int npaths, failed;        /* failed: index of the path that failed, or -1 */
} hd_job;

static ID id_since, id_max_keys, id_max_line_bytes, id_by_address, id_threads, id_gen_a, id_gen_b;

static VALUE
opt(VALUE opts, ID key)
{
    return NIL_P(opts) ? Qnil : rb_hash_aref(opts, ID2SYM(key));
}

static int
default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 4 ? 4 : (int)n;
}

/* Options are read (and may raise) before anything is allocated. */
static void
job_init(hd_job *j, VALUE opts)
{
    VALUE keys = opt(opts, id_max_keys), line = opt(opts, id_max_line_bytes);
    VALUE threads = opt(opts, id_threads);
    long max_keys = NIL_P(keys) ? 1000000 : NUM2LONG(keys);
    long max_line = NIL_P(line) ? 256L << 20 : NUM2LONG(line);
    int nth = NIL_P(threads) ? default_threads() : NUM2INT(threads);
    if (max_keys < 1 || max_line < 1024 || nth < 0 || nth > 8)
        rb_raise(rb_eArgError, "need max_keys >= 1, max_line_bytes >= 1024, 0 <= threads <= 8");
    memset(j, 0, sizeof *j);
    j->failed = -1;
    j->sc.max_line = (size_t)max_line;
    j->sc.threads = nth;
    j->sum.names = j->diff.names = &j->names;
    j->sum.by_type.max = j->sum.by_gen.max = j->sum.by_class.max = j->sum.by_site.max = (size_t)max_keys;
    j->diff.allocated.max = j->diff.retained.max = (size_t)max_keys;
    j->sum.max_gen = -1;
    j->diff.gen[0] = j->diff.gen[1] = j->diff.gen[2] = -1;
    j->sum.since = -1;
}

/* Paths are copied: an embedded String's bytes live in its slot, which compaction may
 * move while the GVL is released. */
static void
job_add_path(hd_job *j, VALUE path)
{
    if ((j->paths[j->npaths] = strdup(RSTRING_PTR(path)))) j->npaths++;
}

static VALUE
job_free(VALUE arg)
{
    hd_job *j = (hd_job *)arg;
    hd_agg *aggs[] = { &j->sum.by_type, &j->sum.by_gen, &j->sum.by_class, &j->sum.by_site,
                       &j->diff.allocated, &j->diff.retained };
    hd_map *maps[] = { &j->diff.bound[0], &j->diff.bound[1], &j->diff.untraced_a,
                       &j->diff.new_untraced_b, &j->names.classes };
    for (size_t i = 0; i < sizeof aggs / sizeof *aggs; i++) hd_agg_free(aggs[i]);
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) hd_map_free(maps[i]);
    hd_strtab_free(&j->names.types);
    hd_strtab_free(&j->names.strs);
    for (int i = 0; i < j->npaths; i++) free(j->paths[i]);
    return Qnil;
}

static void *
job_scan_nogvl(void *arg)
{
    hd_job *j = arg;
    for (int i = 0; i < j->npaths; i++) {
        diff_begin(&j->diff, i);
        if (hd_scan_file(&j->sc, j->paths[i])) { j->failed = i; break; }
    }
    return NULL;
}

static void
job_ubf(void *arg)
{
    ((hd_job *)arg)->sc.interrupted = 1;
}

/* The scan; raises only for what is not the dump's fault (memory, interrupts). */
static void
job_run(hd_job *j, int npaths, size_t max_keys)
{
    if (j->npaths != npaths || hd_strtab_init(&j->names.types, HD_MAX_TYPES) ||
        hd_strtab_init(&j->names.strs, max_keys))
        rb_raise(rb_eNoMemError, "memwatch heap: out of memory");
    rb_thread_call_without_gvl(job_scan_nogvl, j, job_ubf, j);
    if (j->sc.interrupted) rb_thread_check_ints();
}

static void
hset(VALUE h, const char *key, VALUE v)
{
    rb_hash_aset(h, ID2SYM(rb_intern(key)), v);
}

static VALUE
class_label(const hd_names *n, uint64_t key)
{
    const hd_slot *s;
    if (key < HD_MAX_TYPES + 2)
        return key < n->types.len ? rb_sprintf("(%s)", n->types.str[key]) : rb_str_new_cstr("(unknown)");
    if ((s = hd_map_find(&n->classes, key)) && s->val) return rb_str_new_cstr(n->strs.str[s->val]);
    return rb_sprintf("#<Class:0x%llx>", (unsigned long long)key);
}

enum hd_row { ROW_TYPE, ROW_GEN, ROW_CLASS, ROW_SITE };

static VALUE
agg_row(const hd_names *n, const hd_agg_slot *e, enum hd_row kind)
{
    VALUE count = ULL2NUM(e->count), bytes = ULL2NUM(e->bytes);
    switch (kind) {
    case ROW_TYPE: return rb_ary_new_from_args(3, rb_str_new_cstr(n->types.str[e->k[0]]), count, bytes);
    case ROW_GEN: return rb_ary_new_from_args(3, e->k[0] ? LL2NUM((long long)e->k[0] - 1) : Qnil, count, bytes);
    case ROW_CLASS: return rb_ary_new_from_args(3, class_label(n, e->k[0]), count, bytes);
    default: break;
    }
    return rb_ary_new_from_args(5, e->k[0] ? rb_str_new_cstr(n->strs.str[e->k[0]]) : Qnil,
                                e->k[0] ? ULL2NUM(e->k[1]) : Qnil, class_label(n, e->k[2]), count, bytes);
}

/* {rows: [...], lost_count:, lost_bytes:}: rows in table order (Ruby sorts and cuts);
 * lost_* is what went past max_keys. */
static VALUE
agg_rows(const hd_names *n, const hd_agg *a, enum hd_row kind)
{
    VALUE rows = rb_ary_new_capa((long)a->len), h = rb_hash_new();
    for (size_t i = 0; i < a->cap; i++)
        if (a->s[i].count) rb_ary_push(rows, agg_row(n, &a->s[i], kind));
    hset(h, "rows", rows);
    hset(h, "lost_count", ULL2NUM(a->lost_count));
    hset(h, "lost_bytes", ULL2NUM(a->lost_bytes));
    return h;
}

static VALUE
job_error(const hd_job *j)
{
    VALUE h = rb_hash_new();
    hset(h, "error", rb_str_new_cstr(j->sc.err.msg));
    hset(h, "error_path", rb_str_new_cstr(j->paths[j->failed]));
    hset(h, "error_line", LONG2NUM(j->sc.err.line));
    return h;
}

static VALUE
summary_body(VALUE arg)
{
    hd_job *j = (hd_job *)arg;
    hd_summary *s = &j->sum;
    job_run(j, 1, s->by_site.max);
    if (j->failed >= 0) return job_error(j);
    VALUE h = rb_hash_new();
    hset(h, "objects", ULL2NUM(s->objects));
    hset(h, "bytes", ULL2NUM(s->bytes));
    hset(h, "traced", ULL2NUM(s->traced));
    hset(h, "skipped", ULL2NUM(s->skipped));
    hset(h, "roots", ULL2NUM(j->sc.roots));
    hset(h, "max_generation", s->max_gen < 0 ? Qnil : LL2NUM(s->max_gen));
    hset(h, "by_type", agg_rows(&j->names, &s->by_type, ROW_TYPE));
    hset(h, "by_generation", agg_rows(&j->names, &s->by_gen, ROW_GEN));
    hset(h, "by_class", agg_rows(&j->names, &s->by_class, ROW_CLASS));
    hset(h, "by_site", agg_rows(&j->names, &s->by_site, ROW_SITE));
    return h;
}

/* call-seq: Memwatch::Native._heap_summary(path, opts) -> Hash   :nodoc: */
static VALUE
native_heap_summary(VALUE self, VALUE path, VALUE opts)
{
    hd_job j;
    VALUE since = opt(opts, id_since);
    long long gen = NIL_P(since) ? -1 : NUM2LL(since);
    StringValueCStr(path);
    job_init(&j, opts);
    j.sum.since = gen;
    j.sc.visit = summary_visit;
    j.sc.ctx = &j.sum;
    job_add_path(&j, path);
    return rb_ensure(summary_body, (VALUE)&j, job_free, (VALUE)&j);
}

static VALUE
gen_or_nil(int64_t g)
{
    return g < 0 ? Qnil : LL2NUM(g);
}

static VALUE
diff_body(VALUE arg)
{
    hd_job *j = (hd_job *)arg;
    hd_diff *d = &j->diff;
    job_run(j, 3, d->retained.max);
    if (j->failed >= 0) return job_error(j);
    VALUE h = rb_hash_new();
    hset(h, "objects", rb_ary_new_from_args(3, ULL2NUM(d->objects[0]), ULL2NUM(d->objects[1]),
                                            ULL2NUM(d->objects[2])));
    hset(h, "max_generation", rb_ary_new_from_args(3, gen_or_nil(d->gen[0]), gen_or_nil(d->gen[1]),
                                                   gen_or_nil(d->gen[2])));
    hset(h, "thresholds", rb_ary_new_from_args(2, LL2NUM(d->thr[0]), LL2NUM(d->thr[1])));
    hset(h, "retained_by_address", ULL2NUM(d->retained_by_address));
    hset(h, "allocated", agg_rows(&j->names, &d->allocated, ROW_SITE));
    hset(h, "retained", agg_rows(&j->names, &d->retained, ROW_SITE));
    return h;
}

/* call-seq: Memwatch::Native._heap_diff(a, b, c, opts) -> Hash   :nodoc: */
static VALUE
native_heap_diff(VALUE self, VALUE a, VALUE b, VALUE c, VALUE opts)
{
    hd_job j;
    VALUE ga = opt(opts, id_gen_a), gb = opt(opts, id_gen_b);
    int64_t ta = NIL_P(ga) ? -1 : NUM2LL(ga), tb = NIL_P(gb) ? -1 : NUM2LL(gb);
    StringValueCStr(a);
    StringValueCStr(b);
    StringValueCStr(c);
    job_init(&j, opts);
    j.diff.by_address = opt(opts, id_by_address) != Qfalse;
    j.diff.given[0] = !NIL_P(ga);
    j.diff.given[1] = !NIL_P(gb);
    j.diff.thr[0] = ta;
    j.diff.thr[1] = tb;
    j.sc.visit = diff_visit;
    j.sc.ctx = &j.diff;
    job_add_path(&j, a);
    job_add_path(&j, b);
    job_add_path(&j, c);
    return rb_ensure(diff_body, (VALUE)&j, job_free, (VALUE)&j);
}

void
Init_memwatch_heapdump(VALUE mNative)
{
    VALUE sing = rb_singleton_class(mNative);
    id_since = rb_intern("since");
    id_max_keys = rb_intern("max_keys");
    id_max_line_bytes = rb_intern("max_line_bytes");
    id_by_address = rb_intern("by_address");
    id_threads = rb_intern("threads");
    id_gen_a = rb_intern("gen_a");
    id_gen_b = rb_intern("gen_b");
    rb_define_private_method(sing, "_heap_summary", native_heap_summary, 2);
    rb_define_private_method(sing, "_heap_diff", native_heap_diff, 4);
}
