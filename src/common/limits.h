/* segmap: the numbers every layer must agree on. */
#ifndef SEGMAP_LIMITS_H
#define SEGMAP_LIMITS_H

#include <stdint.h>

#define SM_SEGMENT_SIZE_DEFAULT (UINT64_C(1) << 20)   /* 1 MiB */
#define SM_SEGMENT_SIZE_MIN     (UINT64_C(1) << 16)   /* 64 KiB */
#define SM_SEGMENT_SIZE_MAX     (UINT64_C(1) << 26)   /* 64 MiB */
#define SM_BLOCK_SIZE           4096                  /* bitmap granularity */
#define SM_SECTOR_SIZE          512                   /* vdisk size unit */
#define SM_VDISK_SIZE_MAX       (UINT64_C(1) << 53)   /* 8 PiB */
#define SM_UNIT_SIZE            (UINT64_C(1) << 16)   /* allocation unit */
#define SM_MAX_CONTAINERS       65535                 /* ids 1..65535 */
#define SM_GROUP_MAX            256     /* vdisks in one group snapshot */

#define SM_DEFAULT_STATE_DIR    "./segmap-state"
#define SM_SOCKET_NAME          "segmap.sock"
#define SM_DATABASE_NAME        "segmap.db"
#define SM_DEFAULT_CONTAINER    "default"
#define SM_DEFAULT_CONTAINER_FILE "default.img"
#define SM_DEFAULT_CONTAINER_SIZE (UINT64_C(1) << 40) /* 1 TiB, sparse */
#define SM_DEFAULT_VDISK        "disk0"
#define SM_DEFAULT_VDISK_SIZE   (UINT64_C(1) << 30)   /* 1 GiB */

#endif /* SEGMAP_LIMITS_H */
