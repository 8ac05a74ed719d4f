/* placeholder replaced by the real plugin */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
static void *segmap_open (int ro) { return NBDKIT_HANDLE_NOT_NEEDED; }
static int64_t segmap_get_size (void *h) { return 0; }
static int segmap_pread (void *h, void *b, uint32_t c, uint64_t o, uint32_t f) { return 0; }
static struct nbdkit_plugin plugin = { .name = "segmap", .open = segmap_open, .get_size = segmap_get_size, .pread = segmap_pread };
NBDKIT_REGISTER_PLUGIN (plugin)
