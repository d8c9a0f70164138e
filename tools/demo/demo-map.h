/* A small string-keyed hash map for the demo tools (the reply sink's idempotency keys,
 * the tap's post and reply ids): open addressing with linear probing, FNV-1a hashing,
 * keys copied, values are opaque pointers owned by the caller. Grows at half load, never
 * shrinks; sized for demo volumes (thousands to a few million keys). Header-only so each
 * tool stays one file. */
#ifndef SC_DEMO_MAP_H
#define SC_DEMO_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

struct demo_map_slot {
    char *key; /* NULL: empty */
    void *value;
};

struct demo_map {
    struct demo_map_slot *slots;
    size_t cap; /* 0 or a power of two */
    size_t len;
};

static inline uint64_t demo_map_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

static inline struct demo_map_slot *demo_map_find_slot(struct demo_map_slot *slots,
                                                       size_t cap, const char *key)
{
    size_t i = (size_t)demo_map_hash(key) & (cap - 1);
    while (slots[i].key && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* @brief Looks key up. @returns the slot's value pointer's address (so the caller can
 * fill it), adding an entry with value NULL when absent (*added = 1). Never NULL. */
static inline void **demo_map_put(struct demo_map *map, const char *key, int *added)
{
    if ((map->len + 1) * 2 > map->cap) {
        size_t cap = map->cap ? map->cap * 2 : 64;
        struct demo_map_slot *slots = sc_calloc(cap, sizeof(*slots));
        for (size_t i = 0; i < map->cap; i++)
            if (map->slots[i].key)
                *demo_map_find_slot(slots, cap, map->slots[i].key) = map->slots[i];
        sc_free(map->slots);
        map->slots = slots;
        map->cap = cap;
    }
    struct demo_map_slot *slot = demo_map_find_slot(map->slots, map->cap, key);
    *added = slot->key == NULL;
    if (!slot->key) {
        slot->key = sc_strdup(key);
        slot->value = NULL;
        map->len++;
    }
    return &slot->value;
}

/* @brief Looks key up. @returns the slot, or NULL when absent. */
static inline struct demo_map_slot *demo_map_get(const struct demo_map *map,
                                                 const char *key)
{
    if (!map->cap)
        return NULL;
    struct demo_map_slot *slot = demo_map_find_slot(map->slots, map->cap, key);
    return slot->key ? slot : NULL;
}

/* @brief Frees the keys and the table; free_value (may be NULL) is called on each value.
 */
static inline void demo_map_cleanup(struct demo_map *map, void (*free_value)(void *))
{
    for (size_t i = 0; i < map->cap; i++) {
        if (map->slots[i].key) {
            sc_free(map->slots[i].key);
            if (free_value)
                free_value(map->slots[i].value);
        }
    }
    sc_free(map->slots);
    memset(map, 0, sizeof(*map));
}

#endif
