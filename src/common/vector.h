/* segmap: typed growable arrays.
 *
 *   DEFINE_VECTOR_TYPE (u64_vector, uint64_t);
 *   struct u64_vector v = { 0 };
 *   if (u64_vector_append (&v, 42) == -1) ...   (errno ENOMEM)
 *   ... v.ptr[i], v.len ...
 *   free (v.ptr);
 *
 * Capacity doubles, so appending is amortised O(1).
 */
#ifndef SEGMAP_VECTOR_H
#define SEGMAP_VECTOR_H

#include <errno.h>
#include <stdlib.h>

#define DEFINE_VECTOR_TYPE(name, type)                                  \
  struct name {                                                         \
    type *ptr;                                                          \
    size_t len, cap;                                                    \
  };                                                                    \
  static inline int                                                     \
  name##_append (struct name *v, type elem)                             \
  {                                                                     \
    if (v->len == v->cap) {                                             \
      size_t cap = v->cap ? v->cap * 2 : 16;                            \
      type *p = realloc (v->ptr, cap * sizeof *p);                      \
      if (p == NULL)                                                    \
        return -1;                                                      \
      v->ptr = p;                                                       \
      v->cap = cap;                                                     \
    }                                                                   \
    v->ptr[v->len++] = elem;                                            \
    return 0;                                                           \
  }

#endif /* SEGMAP_VECTOR_H */
