/* segmap: helpers shared by the files of src/config/ (not a public API).
 *
 * The check_* functions validate one value from the file.  Each returns
 * NULL when the value is acceptable, or a static string saying why not;
 * the parser adds "FILE:LINE: invalid KEY 'VALUE': " in front, so they
 * never report anything themselves.
 */
#ifndef SEGMAP_CONFIG_INTERNAL_H
#define SEGMAP_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* config-values.c: strings */
const char *cfg_check_name (const char *value);
/* NAME[,NAME...] */
const char *cfg_check_name_list (const char *value);
const char *cfg_check_placement (const char *value);
const char *cfg_check_iscsi_uri (const char *value);
const char *cfg_check_agent_controller (const char *value);
const char *cfg_check_listen (const char *value);
const char *cfg_check_portal (const char *value);
const char *cfg_check_initiator (const char *value);
const char *cfg_check_target_prefix (const char *value);

/* config-values.c: sizes */
const char *cfg_check_segment_size (uint64_t size);
const char *cfg_check_vdisk_size (uint64_t size);
const char *cfg_check_container_size (uint64_t size);
const char *cfg_check_memory_limit (uint64_t size);

/* config-finish.c: ARRAY (N elements of SIZE bytes) grown by one zeroed
 * element at index N; NULL with errno set (ARRAY still valid) on ENOMEM. */
void *cfg_grow_array (void *array, size_t n, size_t size);

/* config-finish.c: paths.  Both return NULL with errno set (nothing
 * reported). */

/* PATH if absolute, else DIR/PATH (a leading "./" of PATH dropped). */
char *cfg_join_path (const char *dir, const char *path);

/* The absolute directory holding FILE (lexically: no symlinks resolved). */
char *cfg_absolute_dir (const char *file);

#endif /* SEGMAP_CONFIG_INTERNAL_H */
