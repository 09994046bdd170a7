/*
 * sb-kvd's keyspace: a chained hash table with incremental rehashing (two
 * tables; a few buckets move per operation and per timer tick, so a
 * growing table never stalls the loop), its entries, and the TTL index
 * that the periodic timer samples (Redis' "active expire").  Knows nothing
 * of clients or the loop: expiry times are given by the caller.
 */
#ifndef SB_KVD_KEYSPACE_H
#define SB_KVD_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#define TABLE_MIN 16                     /* buckets */

/* One key and its value, in a single allocation: key bytes, then value. */
typedef struct entry entry;
struct entry {
    entry *next;       /* bucket chain */
    uint64_t hash;
    int64_t expire_at; /* server clock (srv_ms), ms; 0 = no TTL */
    uint32_t klen, vlen, vcap;
    uint32_t vol;      /* index in db.vol while expire_at != 0 */
    char data[];
};

typedef struct table {
    entry **b;
    size_t size; /* buckets: 0 or a power of two */
    size_t used;
} table;

/*
 * The keyspace.  While t[1] has buckets a rehash is in progress: the
 * buckets of t[0] below `rehash` have moved to t[1], the others not yet,
 * so a key lives in exactly one table, found by home().
 */
typedef struct db {
    table t[2];
    size_t rehash;
    entry **vol; /* every entry with a TTL, for sampling */
    size_t nvol, volcap;
    size_t mem;  /* bytes of entries, bucket arrays and the TTL index */
    uint64_t seed;
} db;

static inline char *ent_val(entry *e)
{
    return e->data + e->klen;
}

static inline int rehashing(const db *d)
{
    return d->t[1].size != 0;
}

static inline size_t db_count(const db *d)
{
    return d->t[0].used + d->t[1].used;
}

/* A seeded 64-bit hash of a key (the seed is db.seed). */
uint64_t hash_key(uint64_t seed, const char *p, size_t n);
/* A table of `size` buckets.  0, or -1 when out of memory. */
int table_alloc(db *d, table *t, size_t size);
/* Move up to n buckets of a rehash in progress.  1 while it goes on. */
int rehash_step(db *d, size_t n);
/* Start moving to a table of `size` buckets, if none is in progress. */
void start_rehash(db *d, size_t size);
/* The link pointing at the key's entry, or NULL. */
entry **db_find(db *d, const char *key, size_t klen, uint64_t h);
/* Set (when > 0) or clear (0) an entry's TTL.  0, or -1. */
int set_expire(db *d, entry *e, int64_t when);
/* Unlink *pp from its chain and free it. */
void db_unlink(db *d, entry **pp);
/* Room in the TTL index for one more entry, so that the next set_expire()
 * cannot fail.  0, or -1 when out of memory. */
int vol_reserve(db *d);
/* The link pointing at an entry known only by its address. */
entry **db_link_to(db *d, entry *e);
/* Delete an entry known only by its address (active expiry). */
void db_delete_entry(db *d, entry *e);
/* Give *pp's value exactly cap bytes of room.  The entry, or NULL. */
entry *ent_resize(db *d, entry **pp, size_t cap);
/* Store a value in *pp's entry, or in a new one when pp is NULL.  The
 * entry, or NULL when out of memory (nothing changed). */
entry *db_store(db *d, entry **pp, uint64_t h, const char *key, size_t klen,
                const char *val, size_t vlen);
/* Free every entry; keep (or make) an empty table of TABLE_MIN buckets. */
void db_clear(db *d, int keep_table);

#endif
