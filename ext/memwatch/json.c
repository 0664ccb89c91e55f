/*
 * json.c — the JSON encoders (json-c), shared by Memwatch.snapshot, the Rack
 * endpoint and the CLI so the documents cannot drift.
 *
 * Samples are encoded straight from the C rings through the column table:
 * no intermediate Ruby Hash per sample. Ruby values (config, verdict) go
 * through one small converter. Every document is built, serialised with
 * JSON_C_TO_STRING_PLAIN, copied into a Ruby String and the root put once.
 */
#include "memwatch.h"
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hash_ctx { json_object *obj; int depth; };

static json_object *from_ruby(VALUE v, int depth);

/* Keys: Strings and Symbols only (others are skipped). A key is copied with
 * strndup, so an embedded NUL truncates it instead of raising. */
static int
hash_i(VALUE key, VALUE val, VALUE arg)
{
    struct hash_ctx *ctx = (struct hash_ctx *)arg;
    char *k;
    if (SYMBOL_P(key)) k = strdup(rb_id2name(SYM2ID(key)));
    else if (RB_TYPE_P(key, T_STRING)) k = strndup(RSTRING_PTR(key), (size_t)RSTRING_LEN(key));
    else return ST_CONTINUE;
    if (k) json_object_object_add(ctx->obj, k, from_ruby(val, ctx->depth + 1));
    free(k);
    return ST_CONTINUE;
}

/* Ruby value -> json-c tree. Callers pass plain data (Hash, Array, String,
 * Symbol, Integer, Float, true/false/nil); anything else, and floats JSON
 * cannot carry (NaN, Infinity), become null. Nothing here calls Ruby code,
 * so nothing can raise half-way and leak the tree. Depth is capped. */
static json_object *
from_ruby(VALUE v, int depth)
{
    if (depth > 32) return NULL;
    switch (TYPE(v)) {
      case T_TRUE: return json_object_new_boolean(1);
      case T_FALSE: return json_object_new_boolean(0);
      case T_FIXNUM: return json_object_new_int64(FIX2LONG(v));
      case T_BIGNUM: return json_object_new_double(rb_big2dbl(v));
      case T_FLOAT: return isfinite(RFLOAT_VALUE(v)) ? json_object_new_double(RFLOAT_VALUE(v)) : NULL;
      case T_SYMBOL: return json_object_new_string(rb_id2name(SYM2ID(v)));
      case T_STRING: return json_object_new_string_len(RSTRING_PTR(v), (int)RSTRING_LEN(v));
      case T_ARRAY: {
        json_object *a = json_object_new_array();
        for (long i = 0; i < RARRAY_LEN(v); i++)
            json_object_array_add(a, from_ruby(RARRAY_AREF(v, i), depth + 1));
        return a;
      }
      case T_HASH: {
        struct hash_ctx ctx = { json_object_new_object(), depth };
        rb_hash_foreach(v, hash_i, (VALUE)&ctx);
        return ctx.obj;
      }
      default: return NULL;
    }
}

static json_object *
column_json(const mw_sample *s, const mw_column *c)
{
    int64_t v;
    switch (c->kind) {
      case MW_COL_TYPE: return json_object_new_string("sample");
      case MW_COL_TICK: return json_object_new_double(s->tick);
      case MW_COL_GC_AGE: return s->gc_age < 0 ? NULL : json_object_new_double(s->gc_age);
      case MW_COL_CPU: return json_object_new_double(s->cpu);
      case MW_COL_VERDICT: return s->verdict[0] ? json_object_new_string(s->verdict) : NULL;
      case MW_COL_GC: v = s->gc[c->index]; break;
      default: v = s->f[c->index]; break;
    }
    return v == MW_NA ? NULL : json_object_new_int64(v);
}

static json_object *
sample_row(const mw_sample *s)
{
    const mw_column *cols;
    int n = memwatch_columns(&cols);
    json_object *row = json_object_new_array_ext(n);
    for (int i = 0; i < n; i++) json_object_array_add(row, column_json(s, &cols[i]));
    return row;
}

static json_object *
sample_object(const mw_sample *s)
{
    const mw_column *cols;
    int n = memwatch_columns(&cols);
    json_object *o = json_object_new_object();
    for (int i = 0; i < n; i++) json_object_object_add(o, cols[i].name, column_json(s, &cols[i]));
    return o;
}

static json_object *
column_names(void)
{
    const mw_column *cols;
    int n = memwatch_columns(&cols);
    json_object *a = json_object_new_array_ext(n);
    for (int i = 0; i < n; i++) json_object_array_add(a, json_object_new_string(cols[i].name));
    return a;
}

static json_object *
rows_from(VALUE sampler, int which, double since, long limit, json_object **latest)
{
    mw_sample *buf;
    long n = memwatch_copy_samples(sampler, which, since, limit, &buf);
    json_object *rows = json_object_new_array_ext((int)n);
    for (long i = 0; i < n; i++) json_object_array_add(rows, sample_row(&buf[i]));
    if (latest) *latest = n > 0 ? sample_object(&buf[n - 1]) : NULL;
    free(buf);
    return rows;
}

static VALUE
to_string(json_object *root)
{
    size_t len;
    const char *s = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &len);
    VALUE str = rb_utf8_str_new(s, (long)len);
    json_object_put(root);
    return str;
}

/*
 * call-seq: Native._snapshot(sampler, parts_hash) -> String  (:nodoc:)
 *
 * parts_hash holds the Ruby-side parts (memwatch, config, allocator,
 * verdict, ...); "latest" and "history" come from the sampler's rings.
 * The rings are copied under the sampler's lock before anything raises.
 */
static VALUE
native_snapshot(VALUE self, VALUE sampler, VALUE parts)
{
    json_object *latest = NULL, *history = json_object_new_object();
    Check_Type(parts, T_HASH);
    json_object_object_add(history, "columns", column_names());
    json_object_object_add(history, "recent", rows_from(sampler, 0, -1, -1, &latest));
    json_object_object_add(history, "long", rows_from(sampler, 1, -1, -1, NULL));
    json_object *root = from_ruby(parts, 0);
    json_object_object_add(root, "latest", latest);
    json_object_object_add(root, "history", history);
    return to_string(root);
}

/* call-seq: Native._samples_json(sampler, which, since, limit) -> String  (:nodoc:)
 * {"columns": [...], "rows": [[...], ...]} */
static VALUE
native_samples_json(VALUE self, VALUE sampler, VALUE which, VALUE since, VALUE limit)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "columns", column_names());
    json_object_object_add(root, "rows", rows_from(sampler, NUM2INT(which),
        NIL_P(since) ? -1.0 : NUM2DBL(since), NIL_P(limit) ? -1 : NUM2LONG(limit), NULL));
    return to_string(root);
}

/* call-seq: Native._to_json(obj) -> String  (:nodoc:) */
static VALUE
native_to_json(VALUE self, VALUE obj)
{
    json_object *root = from_ruby(obj, 0);
    if (!root) return rb_str_new_cstr("null");
    return to_string(root);
}

void
Init_memwatch_json(VALUE mNative)
{
    rb_define_singleton_method(mNative, "_snapshot", native_snapshot, 2);
    rb_define_singleton_method(mNative, "_samples_json", native_samples_json, 4);
    rb_define_singleton_method(mNative, "_to_json", native_to_json, 1);
}
