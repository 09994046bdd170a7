/*
 * sb-kvd's keyspace: the hash table, its incremental rehash, the entries
 * and the TTL index (see keyspace.h).
 */
#include "keyspace.h"

#include <stdlib.h>
#include <string.h>

static inline size_t ent_size(size_t klen, size_t vcap)
{
    return sizeof(entry) + klen + vcap;
}

static inline uint64_t rotl64(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

/*
 * A seeded 64-bit hash, eight bytes at a time (multiply-rotate rounds and
 * the murmur3 finaliser).  Fast on short keys; the random seed keeps
 * collisions from being predictable, though it is no SipHash.
 */
uint64_t hash_key(uint64_t seed, const char *p, size_t n)
{
    const uint64_t k1 = 0x9e3779b97f4a7c15ull, k2 = 0xc2b2ae3d27d4eb4full;
    uint64_t h = seed ^ (n * k1), v;

    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&v, p, 8);
        h = rotl64(h ^ rotl64(v * k2, 31) * k1, 27) * 5 + 0x52dce729;
    }
    v = 0;
    memcpy(&v, p, n);
    h ^= rotl64(v * k2, 31) * k1;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

int table_alloc(db *d, table *t, size_t size)
{
    t->b = calloc(size, sizeof(*t->b));
    if (!t->b)
        return -1;
    t->size = size;
    t->used = 0;
    d->mem += size * sizeof(*t->b);
    return 0;
}

static void table_release(db *d, table *t)
{
    free(t->b);
    d->mem -= t->size * sizeof(*t->b);
    memset(t, 0, sizeof(*t));
}

/* The table a key with hash h lives in (see struct db). */
static inline table *home(db *d, uint64_t h)
{
    if (rehashing(d) && (h & (d->t[0].size - 1)) < d->rehash)
        return &d->t[1];
    return &d->t[0];
}

/*
 * Move up to n non-empty buckets of t[0] to t[1], looking at no more than
 * 10 * n empty ones, and finish the rehash once t[0] is empty.  O(n) plus
 * the chains moved.  Returns 1 while the rehash goes on.
 */
int rehash_step(db *d, size_t n)
{
    size_t empty = n * 10 + 1;

    if (!rehashing(d))
        return 0;
    while (n-- && d->t[0].used) {
        entry *e;
        while (!d->t[0].b[d->rehash]) {
            d->rehash++;
            if (--empty == 0)
                return 1;
        }
        for (e = d->t[0].b[d->rehash]; e;) {
            entry *next = e->next;
            size_t i = e->hash & (d->t[1].size - 1);
            e->next = d->t[1].b[i];
            d->t[1].b[i] = e;
            d->t[0].used--;
            d->t[1].used++;
            e = next;
        }
        d->t[0].b[d->rehash++] = NULL;
    }
    if (d->t[0].used)
        return 1;
    table_release(d, &d->t[0]);
    d->t[0] = d->t[1];
    memset(&d->t[1], 0, sizeof(d->t[1]));
    d->rehash = 0;
    return 0;
}

/* Start moving to a table of `size` buckets (no-op if one is in progress or
 * memory is short: the old table keeps working, with longer chains). */
void start_rehash(db *d, size_t size)
{
    if (rehashing(d) || size == d->t[0].size || table_alloc(d, &d->t[1], size))
        return;
    d->rehash = 0;
    rehash_step(d, 0); /* an empty t[0] is swapped at once */
}

/* The link pointing at the key's entry (to replace or unlink it), or NULL.
 * Moves one bucket of a rehash in progress first, as every access does. */
entry **db_find(db *d, const char *key, size_t klen, uint64_t h)
{
    table *t;
    entry **pp;

    if (rehashing(d))
        rehash_step(d, 1);
    t = home(d, h);
    if (!t->size)
        return NULL;
    for (pp = &t->b[h & (t->size - 1)]; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->data, key, klen) == 0)
            return pp;
    return NULL;
}

/* Add a new entry (its key is known to be absent); grows the table when it
 * holds as many keys as buckets. */
static void db_link(db *d, entry *e)
{
    table *t;
    size_t i;

    if (!rehashing(d) && d->t[0].used >= d->t[0].size)
        start_rehash(d, d->t[0].size * 2);
    t = home(d, e->hash);
    i = e->hash & (t->size - 1);
    e->next = t->b[i];
    t->b[i] = e;
    t->used++;
    d->mem += ent_size(e->klen, e->vcap);
}

/* TTL index: the entries with a TTL, so the timer can sample them. */
int vol_reserve(db *d)
{
    if (d->nvol == d->volcap) {
        size_t cap = d->volcap ? d->volcap * 2 : 64;
        entry **v = realloc(d->vol, cap * sizeof(*v));
        if (!v)
            return -1;
        d->mem += (cap - d->volcap) * sizeof(*v);
        d->vol = v;
        d->volcap = cap;
    }
    return 0;
}

static int vol_add(db *d, entry *e)
{
    if (vol_reserve(d))
        return -1;
    e->vol = (uint32_t)d->nvol;
    d->vol[d->nvol++] = e;
    return 0;
}

static void vol_del(db *d, entry *e)
{
    entry *last = d->vol[--d->nvol];
    d->vol[e->vol] = last;
    last->vol = e->vol;
}

/* Set (when > 0) or clear (0) an entry's TTL.  Returns 0, or -1 when the
 * TTL index cannot grow. */
int set_expire(db *d, entry *e, int64_t when)
{
    if (when && !e->expire_at && vol_add(d, e))
        return -1;
    if (!when && e->expire_at)
        vol_del(d, e);
    e->expire_at = when;
    return 0;
}

/* Unlink *pp from its chain and free it. */
void db_unlink(db *d, entry **pp)
{
    entry *e = *pp;

    *pp = e->next;
    home(d, e->hash)->used--;
    if (e->expire_at)
        vol_del(d, e);
    d->mem -= ent_size(e->klen, e->vcap);
    free(e);
}

/* The link pointing at an entry known only by its address. */
entry **db_link_to(db *d, entry *e)
{
    table *t = home(d, e->hash);
    entry **pp = &t->b[e->hash & (t->size - 1)];

    while (*pp != e)
        pp = &(*pp)->next;
    return pp;
}

/* Delete an entry known only by its address (active expiry). */
void db_delete_entry(db *d, entry *e)
{
    db_unlink(d, db_link_to(d, e));
}

/* Give *pp's value exactly cap bytes of room (the entry may move: the link
 * and the TTL index follow).  Returns the entry, or NULL (unchanged). */
entry *ent_resize(db *d, entry **pp, size_t cap)
{
    entry *e = *pp, *ne;
    size_t old = ent_size(e->klen, e->vcap);

    ne = realloc(e, ent_size(e->klen, cap));
    if (!ne)
        return NULL;
    d->mem = d->mem - old + ent_size(ne->klen, cap);
    ne->vcap = (uint32_t)cap;
    *pp = ne;
    if (ne->expire_at)
        d->vol[ne->vol] = ne;
    return ne;
}

/*
 * Store a value: in place when it fits without wasting much, else in a
 * resized entry, or in a new entry when pp is NULL (the key is absent and
 * h is its hash).  The TTL is left as it is.  The value is copied once.
 * Returns the entry, or NULL when out of memory (nothing changed).
 */
entry *db_store(db *d, entry **pp, uint64_t h, const char *key, size_t klen,
                const char *val, size_t vlen)
{
    entry *e;

    if (pp) {
        e = *pp;
        if (vlen > e->vcap || e->vcap > 2 * vlen + 64)
            if (!(e = ent_resize(d, pp, vlen)))
                return NULL;
    } else {
        if (!d->t[0].size && table_alloc(d, &d->t[0], TABLE_MIN))
            return NULL;
        if (!(e = malloc(ent_size(klen, vlen))))
            return NULL;
        e->hash = h;
        e->expire_at = 0;
        e->klen = (uint32_t)klen;
        e->vcap = (uint32_t)vlen;
        memcpy(e->data, key, klen);
        db_link(d, e);
    }
    e->vlen = (uint32_t)vlen;
    if (vlen)
        memcpy(ent_val(e), val, vlen);
    return e;
}

/* Free every entry; keep (or make) an empty table of TABLE_MIN buckets. */
void db_clear(db *d, int keep_table)
{
    int i;
    size_t j;

    for (i = 0; i < 2; i++) {
        for (j = 0; j < d->t[i].size; j++) {
            entry *e = d->t[i].b[j];
            while (e) {
                entry *next = e->next;
                free(e);
                e = next;
            }
        }
        table_release(d, &d->t[i]);
    }
    free(d->vol);
    d->vol = NULL;
    d->nvol = d->volcap = 0;
    d->rehash = 0;
    d->mem = 0;
    if (keep_table)
        table_alloc(d, &d->t[0], TABLE_MIN);
}
