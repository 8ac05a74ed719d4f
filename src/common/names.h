/* segmap: what a container, vdisk or host name may be.
 *
 * Names appear in NBD export names, iSCSI IQNs (<prefix>:<vdisk>), file
 * names and SQL rows, so they are kept to a safe alphabet: 1 to 64
 * characters from [A-Za-z0-9._-], starting with a letter or digit.
 * '@' is reserved for snapshots (VDISK@SNAPSHOT), '/' can never
 * appear, and ".." is refused (it separates the two ends of a diff
 * export, VDISK@FROM..TO).
 */
#ifndef SEGMAP_NAMES_H
#define SEGMAP_NAMES_H

#include <stdbool.h>
#include <string.h>

#define SM_NAME_MAX 64

static inline bool
sm_valid_name (const char *name)
{
  size_t len = strlen (name);

  if (len == 0 || len > SM_NAME_MAX)
    return false;
  if (strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
              "0123456789._-") != len)
    return false;
  if (strstr (name, "..") != NULL)
    return false;
  return name[0] != '.' && name[0] != '-' && name[0] != '_';
}

#define SM_NAME_RULE "1-64 characters from A-Z a-z 0-9 . _ -, " \
  "starting with a letter or digit, without '..'"

/* A vdisk name, or a snapshot's VDISK@SNAP (at most SM_NAME_MAX in
 * all): what an iSCSI host may be granted. */
static inline bool
sm_valid_export_name (const char *name)
{
  const char *at = strchr (name, '@');
  char vdisk[SM_NAME_MAX + 1];

  if (at == NULL)
    return sm_valid_name (name);
  if (strlen (name) > SM_NAME_MAX || at - name > SM_NAME_MAX)
    return false;
  memcpy (vdisk, name, at - name);
  vdisk[at - name] = '\0';
  return sm_valid_name (vdisk) && sm_valid_name (at + 1);
}

/* A list of names, NAME[,NAME...] (a vdisk's pool of containers):
 * copies the name at *P into NAME (longer than SM_NAME_MAX: cut to
 * SM_NAME_MAX + 1 characters, so that sm_valid_name refuses it) and
 * moves *P past it and its comma.  false once the list is done. */
static inline bool
sm_name_list_next (const char **p, char name[SM_NAME_MAX + 2])
{
  size_t len;

  if (*p == NULL || **p == '\0')
    return false;
  len = strcspn (*p, ",");
  if (len > SM_NAME_MAX + 1) {
    memcpy (name, *p, SM_NAME_MAX + 1);
    name[SM_NAME_MAX + 1] = '\0';
  }
  else {
    memcpy (name, *p, len);
    name[len] = '\0';
  }
  *p += len + ((*p)[len] == ',');
  return true;
}

/* Is LIST a list of valid names (at least one; no empty item)? */
static inline bool
sm_valid_name_list (const char *list)
{
  char name[SM_NAME_MAX + 2];
  size_t len = strlen (list);

  if (len == 0 || list[len - 1] == ',')
    return false;
  while (sm_name_list_next (&list, name))
    if (!sm_valid_name (name))
      return false;
  return true;
}

#endif /* SEGMAP_NAMES_H */
