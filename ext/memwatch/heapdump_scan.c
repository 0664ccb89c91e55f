/*
 * heapdump_scan.c -- streams one heap dump (gzip or plain) through json-c.
 *
 * json-c builds a tree per line, about 2 us per object and 80% of a scan, so the
 * calling thread only cuts the input into batches of whole lines, and `threads`
 * pthreads parse them into compact records. The calling thread then hands each batch's
 * records to the visitor in file order, so the aggregates and the first error reported
 * do not depend on the thread count. Memory is bounded by the batches in flight
 * (2 x threads + 2 of ~1 MiB) plus one line of at most max_line bytes.
 * No Ruby API here: the whole scan runs without the GVL.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memrchr; this file does not include ruby/config.h */
#endif
#include "heapdump.h"
#include <json-c/json.h>
#include <zlib.h>
#include <pthread.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json-c < 0.15 (Ubuntu 20.04) has only the field that 0.15 deprecated. */
#if JSON_C_VERSION_NUM < (15 << 8)
#define json_tokener_get_parse_end(tok) ((size_t)(tok)->char_offset)
#endif

#define BATCH_BYTES (1 << 20)
#define MAX_THREADS 8
#define MAX_BATCHES (2 * MAX_THREADS + 2)
#define NO_STR UINT32_MAX

enum { B_FREE, B_FILLED, B_PARSING, B_PARSED };

/* An hd_obj whose strings are offsets into its batch's arena (which may move). */
typedef struct {
    hd_obj o;
    uint32_t type_off, file_off, name_off;
    long lineno;         /* where the object is in the dump, for errors */
    int root;
} hd_rec;

typedef struct {
    char *buf, *arena;
    size_t len, cap, alen, acap, nrec, rcap, max_line;
    hd_rec *recs;
    long first_line;
    int state, partial_last, failed, read_failed;
    hd_err err, rerr;    /* err: first parse error; rerr: reading stopped after the lines */
} hd_batch;

typedef struct {
    hd_scan *sc;
    gzFile gz;
    char *carry;         /* bytes after the last '\n' read so far */
    size_t clen, ccap;
    long next_line;
    int eof, nb, nth, quit;
    hd_batch b[MAX_BATCHES];
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t th[MAX_THREADS];
} hd_pipe;

static int
fail(hd_err *err, long line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->line = line;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int
reserve(char **p, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need) n *= 2;
    char *q = realloc(*p, n);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

static long
count_lines(const char *p, size_t n)
{
    long lines = 0;
    const char *end = p + n;
    while ((p = memchr(p, '\n', (size_t)(end - p)))) lines++, p++;
    return lines;
}

/* ---------- reading: whole lines into a batch, the rest carried to the next one */

/* zlib reports a cut gzip stream as an error from gzread, not as end of file. */
static int
read_more(hd_pipe *p, hd_batch *b)
{
    if (b->cap - b->len < BATCH_BYTES / 2 && reserve(&b->buf, &b->cap, b->len + BATCH_BYTES))
        return fail(&b->rerr, 0, "%s", "out of memory");
    int got = gzread(p->gz, b->buf + b->len, (unsigned)(b->cap - b->len)), zerr = Z_OK;
    const char *msg = gzerror(p->gz, &zerr);
    if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
        return fail(&b->rerr, 0, "truncated or corrupt gzip data (%s)", msg);
    p->eof = got == 0;
    b->len += (size_t)got;
    return 0;
}

/* Reads until the batch holds BATCH_BYTES and ends at a '\n' (or the file ends). */
static int
read_batch(hd_pipe *p, hd_batch *b)
{
    const char *nl = NULL;
    while (!p->eof) {
        if (read_more(p, b)) return -1;
        nl = b->len ? memrchr(b->buf, '\n', b->len) : NULL;
        size_t tail = nl ? b->len - (size_t)(nl + 1 - b->buf) : b->len;
        if (tail > p->sc->max_line)
            return fail(&b->rerr, 0, "line longer than %zu bytes (raise max_line_bytes, --max-line-bytes)",
                        p->sc->max_line);
        if (nl && b->len >= BATCH_BYTES) break;
    }
    if (p->eof) { b->partial_last = b->len && b->buf[b->len - 1] != '\n'; return 0; }
    p->clen = b->len - (size_t)(nl + 1 - b->buf);
    if (reserve(&p->carry, &p->ccap, p->clen)) return fail(&b->rerr, 0, "%s", "out of memory");
    memcpy(p->carry, nl + 1, p->clen);
    b->len -= p->clen;
    return 0;
}

static void
fill_batch(hd_pipe *p, hd_batch *b)
{
    b->len = b->nrec = b->alen = 0;
    b->partial_last = b->failed = b->read_failed = 0;
    b->first_line = p->next_line;
    b->max_line = p->sc->max_line;
    if (reserve(&b->buf, &b->cap, p->clen + BATCH_BYTES)) {
        b->read_failed = 1;
        fail(&b->rerr, 0, "%s", "out of memory");
    } else {
        memcpy(b->buf, p->carry, p->clen);
        b->len = p->clen;
        p->clen = 0;
        b->read_failed = read_batch(p, b) != 0;
    }
    if (b->read_failed) { /* keep the whole lines read before the error */
        const char *nl = b->len ? memrchr(b->buf, '\n', b->len) : NULL;
        b->len = nl ? (size_t)(nl + 1 - b->buf) : 0;
        b->partial_last = 0;
        p->eof = 1;
    }
    p->next_line += count_lines(b->buf, b->len) + b->partial_last;
    if (b->read_failed) b->rerr.line = p->next_line + 1;
}

/* ---------- parsing (worker threads): one line -> one record */
static int
blank(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t' || *p == '\r')) p++, n--;
    return n == 0;
}

static uint64_t
hex(json_object *v)
{
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    return s ? strtoull(s, NULL, 16) : 0;
}

static uint32_t
keep_str(hd_batch *b, json_object *v, uint32_t *n)
{
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    size_t len = s ? (size_t)json_object_get_string_len(v) : 0;
    if (!s || reserve(&b->arena, &b->acap, b->alen + len)) return NO_STR;
    uint32_t off = (uint32_t)b->alen;
    memcpy(b->arena + b->alen, s, len);
    b->alen += len;
    *n = (uint32_t)len;
    return off;
}

/* One pass over the keys. A singleton class is labelled by its real class, so the
 * class `Foo` itself (whose class is Foo's singleton) reads as "Class". */
static void
rec_fields(hd_batch *b, json_object *root, hd_rec *r)
{
    uint32_t real_off = NO_STR, real_n = 0;
    int singleton = 0;
    json_object_object_foreach(root, key, v) {
        switch (key[0]) {
        case 'a': if (!strcmp(key, "address")) r->o.addr = hex(v); break;
        case 'c': if (!strcmp(key, "class")) r->o.klass = hex(v); break;
        case 'f': if (!strcmp(key, "file")) r->file_off = keep_str(b, v, &r->o.file_n); break;
        case 'g': if (!strcmp(key, "generation")) r->o.gen = json_object_get_int64(v); break;
        case 'l': if (!strcmp(key, "line")) r->o.line = (long)json_object_get_int64(v); break;
        case 'm': if (!strcmp(key, "memsize")) r->o.memsize = (uint64_t)json_object_get_int64(v); break;
        case 'n': if (!strcmp(key, "name")) r->name_off = keep_str(b, v, &r->o.name_n); break;
        case 'r': if (!strcmp(key, "real_class_name")) real_off = keep_str(b, v, &real_n); break;
        case 's': if (!strcmp(key, "singleton")) singleton = json_object_get_boolean(v); break;
        case 't': if (!strcmp(key, "type")) r->type_off = keep_str(b, v, &r->o.type_n); break;
        default: break;
        }
    }
    if (r->name_off == NO_STR && singleton && real_off != NO_STR) {
        r->name_off = real_off;
        r->o.name_n = real_n;
    }
}

static int
is_type(hd_batch *b, const hd_rec *r, const char *name)
{
    return r->o.type_n == strlen(name) && !memcmp(b->arena + r->type_off, name, r->o.type_n);
}

static int
check_rec(hd_batch *b, hd_rec *r, long lineno)
{
    if (r->type_off == NO_STR)
        return fail(&b->err, lineno, "%s", "not a heap dump line (no \"type\" string)");
    if (is_type(b, r, "ROOT")) { r->root = 1; return 0; }
    if (is_type(b, r, "SHAPE")) { r->root = -1; return 0; } /* Ruby 3.3+: not an object */
    if (!r->o.addr) return fail(&b->err, lineno, "%s", "not a heap dump line (no \"address\")");
    return 0;
}

/* Removes `, "KEY":VALUE` from the line in place when VALUE is a string, an array of
 * strings or an object without nesting, as dump_all writes "references", "flags" and
 * "value". Those members are most of a dump's bytes and memwatch reads none of them;
 * not building json-c objects for them saves ~30% of a scan. The pattern cannot match
 * inside a JSON string (its quotes would be escaped there), and when the value does not
 * end as expected nothing is cut and json-c sees (and reports on) the whole line. */
static size_t
cut_member(char *line, size_t n, const char *pat, size_t plen)
{
    char *k = memmem(line, n, pat, plen), *end = line + n, *v, *e = NULL;
    if (!k || k - line < 2 || k[-2] != ',' || k[-1] != ' ') return n;
    v = k + plen;
    if (v >= end) return n;
    if (*v == '[') e = memchr(v, ']', (size_t)(end - v));
    else if (*v == '{') e = memchr(v, '}', (size_t)(end - v));
    else if (*v == '"') {
        for (e = v + 1; e < end && *e != '"'; e += *e == '\\' ? 2 : 1) {}
        if (e >= end) e = NULL;
    }
    if (!e) return n;
    memmove(k - 2, e + 1, (size_t)(end - e - 1));
    return n - (size_t)(e + 1 - (k - 2));
}

static size_t
slim_line(char *line, size_t n)
{
    static const char refs[] = "\"references\":", flags[] = "\"flags\":", value[] = "\"value\":";
    n = cut_member(line, n, refs, sizeof refs - 1);
    n = cut_member(line, n, flags, sizeof flags - 1);
    return cut_member(line, n, value, sizeof value - 1);
}

static json_object *
parse_json(json_tokener *tok, hd_batch *b, const char *p, size_t n, long lineno, int partial)
{
    json_tokener_reset(tok);
    json_object *root = json_tokener_parse_ex(tok, p, (int)n);
    enum json_tokener_error e = json_tokener_get_error(tok);
    if (!root) {
        if (e == json_tokener_continue || e == json_tokener_success)
            fail(&b->err, lineno, "%s", partial ? "truncated: the dump ends inside this line"
                                                : "incomplete JSON object");
        else
            fail(&b->err, lineno, "malformed JSON (%s)", json_tokener_error_desc(e));
        return NULL;
    }
    size_t end = json_tokener_get_parse_end(tok);
    if (!json_object_is_type(root, json_type_object) || (end < n && !blank(p + end, n - end))) {
        json_object_put(root);
        fail(&b->err, lineno, "%s", "not a heap dump line (expected one JSON object)");
        return NULL;
    }
    return root;
}

static int
parse_line(json_tokener *tok, hd_batch *b, char *p, size_t n, long lineno, int partial)
{
    json_object *root = parse_json(tok, b, p, slim_line(p, n), lineno, partial);
    if (!root) return -1;
    if (b->nrec == b->rcap) {
        size_t cap = b->rcap ? b->rcap * 2 : 4096;
        hd_rec *recs = realloc(b->recs, cap * sizeof *recs);
        if (!recs) { json_object_put(root); return fail(&b->err, lineno, "%s", "out of memory"); }
        b->recs = recs;
        b->rcap = cap;
    }
    hd_rec *r = &b->recs[b->nrec];
    memset(r, 0, sizeof *r);
    r->o.gen = -1;
    r->lineno = lineno;
    r->type_off = r->file_off = r->name_off = NO_STR;
    rec_fields(b, root, r);
    json_object_put(root);
    if (check_rec(b, r, lineno)) return -1;
    b->nrec++;
    return 0;
}

static void
parse_batch(hd_batch *b)
{
    json_tokener *tok = json_tokener_new();
    char *p = b->buf, *end = b->buf + b->len;
    long lineno = b->first_line;
    if (!tok) { b->failed = 1; fail(&b->err, lineno + 1, "%s", "out of memory"); return; }
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        if (n > b->max_line) {
            fail(&b->err, lineno, "line longer than %zu bytes (raise max_line_bytes, --max-line-bytes)", b->max_line);
            b->failed = 1;
            break;
        }
        if (!blank(p, n) && parse_line(tok, b, p, n, lineno, !nl && b->partial_last)) {
            b->failed = 1;
            break;
        }
        p = nl ? nl + 1 : end;
    }
    json_tokener_free(tok);
}

/* ---------- the pipeline */
static hd_batch *
next_filled(hd_pipe *p)
{
    for (int i = 0; i < p->nb; i++)
        if (p->b[i].state == B_FILLED) return &p->b[i];
    return NULL;
}

/* Batches are filled and consumed in ring order, so any FILLED one may be parsed. */
static void *
worker(void *arg)
{
    hd_pipe *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        hd_batch *b = next_filled(p);
        if (!b) {
            if (p->quit) break;
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        b->state = B_PARSING;
        pthread_mutex_unlock(&p->mu);
        parse_batch(b);
        pthread_mutex_lock(&p->mu);
        b->state = B_PARSED;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Records to the visitor in file order; then the batch's own error, if any. */
static int
visit_batch(hd_pipe *p, hd_batch *b)
{
    hd_scan *sc = p->sc;
    for (size_t i = 0; i < b->nrec; i++) {
        hd_rec *r = &b->recs[i];
        if (r->root) { sc->roots += r->root > 0; continue; }
        if (r->file_off == NO_STR) r->o.line = 0;
        r->o.type = b->arena + r->type_off;
        r->o.file = r->file_off == NO_STR ? NULL : b->arena + r->file_off;
        r->o.name = r->name_off == NO_STR ? NULL : b->arena + r->name_off;
        if (sc->visit(sc->ctx, &r->o)) return fail(&sc->err, r->lineno, "%s", "out of memory");
    }
    if (b->failed) { sc->err = b->err; return -1; }
    if (b->read_failed) { sc->err = b->rerr; return -1; }
    return 0;
}

/* Waits for the oldest batch; with no threads (threads: 0) parses it here. */
static void
wait_parsed(hd_pipe *p, hd_batch *b)
{
    while (b->state != B_PARSED) {
        if (!p->nth && b->state == B_FILLED) {
            b->state = B_PARSING;
            pthread_mutex_unlock(&p->mu);
            parse_batch(b);
            pthread_mutex_lock(&p->mu);
            b->state = B_PARSED;
        } else {
            pthread_cond_wait(&p->done, &p->mu);
        }
    }
}

static int
run_pipe(hd_pipe *p)
{
    uint64_t filled = 0, consumed = 0;
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (!rc) {
        while (!p->eof && filled - consumed < (uint64_t)p->nb) {
            hd_batch *b = &p->b[filled++ % (uint64_t)p->nb];
            pthread_mutex_unlock(&p->mu);
            fill_batch(p, b);
            pthread_mutex_lock(&p->mu);
            b->state = B_FILLED;
            pthread_cond_signal(&p->work);
        }
        if (consumed == filled) break;
        hd_batch *b = &p->b[consumed % (uint64_t)p->nb];
        wait_parsed(p, b);
        pthread_mutex_unlock(&p->mu);
        rc = p->sc->interrupted ? fail(&p->sc->err, b->first_line + 1, "%s", "interrupted")
                                : visit_batch(p, b);
        if (b->cap > 4 * BATCH_BYTES) { /* it held a huge line: do not keep that memory */
            free(b->buf);
            b->buf = NULL;
            b->cap = 0;
        }
        pthread_mutex_lock(&p->mu);
        b->state = B_FREE;
        consumed++;
    }
    p->quit = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void
pipe_free(hd_pipe *p)
{
    for (int i = 0; i < p->nth; i++) pthread_join(p->th[i], NULL);
    for (int i = 0; i < p->nb; i++) {
        free(p->b[i].buf);
        free(p->b[i].arena);
        free(p->b[i].recs);
    }
    free(p->carry);
    if (p->gz) gzclose(p->gz);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
}

int
hd_scan_file(hd_scan *sc, const char *path)
{
    hd_pipe p;
    int want = sc->threads < 0 ? 0 : sc->threads > MAX_THREADS ? MAX_THREADS : sc->threads, rc;
    memset(&p, 0, sizeof p);
    p.sc = sc;
    p.nb = 2 * (want ? want : 1) + 2;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.work, NULL);
    pthread_cond_init(&p.done, NULL);
    errno = 0;
    if (!(p.gz = gzopen(path, "rb"))) {
        rc = fail(&sc->err, 0, "cannot open (%s)", strerror(errno ? errno : ENOMEM));
    } else {
        gzbuffer(p.gz, 1 << 17);
        /* A thread that cannot start is not fatal: fewer (or no) parser threads. */
        while (p.nth < want && !pthread_create(&p.th[p.nth], NULL, worker, &p)) p.nth++;
        rc = run_pipe(&p);
    }
    pipe_free(&p);
    return rc;
}
