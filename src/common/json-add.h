/* segmap: adding members to a json-c object, for the builders of the
 * control API's answers (controller/admin*.c, check.c) and the iSCSI
 * service's session list (service/service.c).
 *
 * json-c has no unsigned integers: a u64 goes in as int64, which holds
 * every size and count segmap reports (at most 2^63 - 1; vdisks stop at
 * 8 PiB).
 */
#ifndef SEGMAP_COMMON_JSON_ADD_H
#define SEGMAP_COMMON_JSON_ADD_H

#include <stdbool.h>
#include <stdint.h>

#include <json.h>

static inline void
json_add_u64 (json_object *o, const char *key, uint64_t v)
{
  json_object_object_add (o, key, json_object_new_int64 ((int64_t) v));
}

static inline void
json_add_string (json_object *o, const char *key, const char *v)
{
  json_object_object_add (o, key, json_object_new_string (v));
}

static inline void
json_add_bool (json_object *o, const char *key, bool v)
{
  json_object_object_add (o, key, json_object_new_boolean (v));
}

#endif /* SEGMAP_COMMON_JSON_ADD_H */
