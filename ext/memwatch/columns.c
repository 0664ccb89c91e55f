/*
 * columns.c — the column table: the one description of a sample's fields.
 *
 * The log header, Memwatch.samples' Hashes and the JSON history are all
 * driven by this table, so the three formats cannot disagree. It is built
 * once, at Init, from the running Ruby's GC.stat keys (Ruby versions rename
 * them) and the allocator found at run time.
 */
#include "memwatch.h"
#include <string.h>

#define MW_MAX_COLUMNS (MW_MAX_GC_KEYS + MW_NFIELDS + 8)

static mw_column columns[MW_MAX_COLUMNS];
/* IDs, not Symbol VALUEs: an ID never moves, while the Symbol of a name that
 * first existed as a dynamic symbol is a heap object compaction may move. */
static ID column_ids[MW_MAX_COLUMNS];
static int ncolumns;

static const char *const field_names[MW_NFIELDS] = {
    "gc_state", "rss_bytes", "rss_anon_bytes", "rss_file_bytes", "rss_shmem_bytes", "swap_bytes",
    "threads", "pss_bytes", "uss_bytes", "cgroup_usage_bytes", "cgroup_limit_bytes",
    NULL, NULL, NULL, NULL, NULL, NULL, /* allocator: see allocator.c */
    "ruby_heap_bytes", "ruby_malloc_bytes",
    "host_mem_available_bytes", "host_slab_bytes", "host_sunreclaim_bytes",
    "leak_bytes_per_hour",
};

static void
add(const char *name, enum mw_col_kind kind, int index)
{
    columns[ncolumns].name = name;
    columns[ncolumns].kind = kind;
    columns[ncolumns].index = index;
    column_ids[ncolumns] = rb_intern(name);
    ncolumns++;
}

/* Field columns in order, allocator fields named by the allocator in use. */
static void
add_fields(int from, int to, const char *const *al_names)
{
    for (int i = from; i < to; i++) {
        const char *name = field_names[i];
        if (i >= MW_AL0 && i <= MW_AL5)
            name = al_names ? al_names[i - MW_AL0] : NULL;
        if (name) add(name, MW_COL_FIELD, i);
    }
}

/* Called with the GVL at Init; gc_names must outlive the process. */
int
memwatch_columns_build(const char *const *gc_names, int ngc, int allocator)
{
    const char *const *al = memwatch_allocator_fields();
    ncolumns = 0;
    add("type", MW_COL_TYPE, 0);
    add("tick", MW_COL_TICK, 0);
    for (int i = 0; i < ngc && i < MW_MAX_GC_KEYS; i++)
        add(gc_names[i], MW_COL_GC, i);
    add("gc_age_seconds", MW_COL_GC_AGE, 0);
    add_fields(MW_GC_STATE, MW_LEAK_RATE, al);
    add("memwatch_cpu_seconds", MW_COL_CPU, 0);
    add("verdict", MW_COL_VERDICT, 0);
    add_fields(MW_LEAK_RATE, MW_NFIELDS, al);
    return ncolumns;
}

int
memwatch_columns(const mw_column **out)
{
    *out = columns;
    return ncolumns;
}

static VALUE
column_value(const mw_sample *s, const mw_column *c)
{
    int64_t v;
    switch (c->kind) {
      case MW_COL_TYPE: return rb_str_new_cstr("sample");
      case MW_COL_TICK: return DBL2NUM(s->tick);
      case MW_COL_GC_AGE: return s->gc_age < 0 ? Qnil : DBL2NUM(s->gc_age);
      case MW_COL_CPU: return DBL2NUM(s->cpu);
      case MW_COL_VERDICT: return s->verdict[0] ? rb_str_new_cstr(s->verdict) : Qnil;
      case MW_COL_GC: v = s->gc[c->index]; break;
      default: v = s->f[c->index]; break;
    }
    return v == MW_NA ? Qnil : LL2NUM(v);
}

/* A sample as a Hash with Symbol keys in column order (needs the GVL). */
VALUE
memwatch_sample_to_hash(const mw_sample *s)
{
    VALUE h = rb_hash_new();
    for (int i = 0; i < ncolumns; i++)
        rb_hash_aset(h, ID2SYM(column_ids[i]), column_value(s, &columns[i]));
    return h;
}
