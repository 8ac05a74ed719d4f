/* segmap: mapping-table entry helpers (the entry itself is in entry.h). */
#include <config.h>

#include "proto/entry.h"

/* Name the state an entry puts its segment in, for logs and segmapctl.
 * Precedence follows what the fast path does with the entry: error
 * fails everything, alternate faults everything, zero and nowrite
 * still serve reads.  A word without ENTRY_VALID is invalid, whatever
 * else it holds.
 */
const char *
entry_state_to_string (sm_entry e)
{
  if (!entry_is_valid (e))
    return "invalid";
  if (e & ENTRY_ERROR)
    return "error";
  if (e & ENTRY_ALT)
    return "alternate";
  if (e & ENTRY_ZERO)
    return "zero";
  if (e & ENTRY_NOWRITE)
    return "nowrite";
  if (e & ENTRY_TRACK)
    return "tracked";
  if (e & ENTRY_OPEN)
    return "open";
  return "mapped";
}
