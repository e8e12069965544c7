/* mr-tar.c: a ustar writer (POSIX.1-1988 headers with the ustar prefix field). Names
 * longer than 100 bytes are split into prefix and name at a "/", as ustar allows; a
 * name that cannot be split that way is refused rather than truncated. */
#include <string.h>

#include "mr-tar.h"
#include "mr-error.h"

#define BLOCK 512

struct _MrTar {
  GByteArray *data;
  gint64 mtime;
};

typedef struct {
  char name[100];
  char mode[8];
  char uid[8];
  char gid[8];
  char size[12];
  char mtime[12];
  char checksum[8];
  char typeflag;
  char linkname[100];
  char magic[6];
  char version[2];
  char uname[32];
  char gname[32];
  char devmajor[8];
  char devminor[8];
  char prefix[155];
  char padding[12];
} Header;

G_STATIC_ASSERT (sizeof (Header) == BLOCK);

/**
 * mr_tar_new: (skip)
 * @mtime: the modification time of every entry (seconds since the epoch)
 *
 * Returns: (transfer full): an empty archive
 */
MrTar *
mr_tar_new (gint64 mtime)
{
  MrTar *tar = g_new0 (MrTar, 1);

  tar->data = g_byte_array_new ();
  tar->mtime = mtime;
  return tar;
}

void
mr_tar_free (MrTar *tar)
{
  if (tar == NULL)
    return;
  if (tar->data)
    g_byte_array_unref (tar->data);
  g_free (tar);
}

/* Writes @value in octal, NUL-terminated, right-aligned in a field of @width bytes. */
static void
octal (char *field, gsize width, guint64 value)
{
  g_snprintf (field, width, "%0*" G_GINT64_MODIFIER "o", (int) width - 1, value);
}

static gboolean
set_name (Header *h, const char *path, GError **error)
{
  gsize len = strlen (path);
  const char *split;

  if (len == 0)
    {
      g_set_error_literal (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "empty name in archive");
      return FALSE;
    }
  if (len <= sizeof h->name)
    {
      memcpy (h->name, path, len);
      return TRUE;
    }
  /* the last "/" that leaves at most 100 bytes of name and 155 of prefix */
  for (split = path + len - 1; split > path; split--)
    if (*split == '/' && (gsize) (split - path) <= sizeof h->prefix && len - (split - path) - 1 <= sizeof h->name &&
        len - (split - path) - 1 > 0)
      {
        memcpy (h->prefix, path, split - path);
        memcpy (h->name, split + 1, len - (split - path) - 1);
        return TRUE;
      }
  g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "name too long for a ustar archive: %s", path);
  return FALSE;
}

static gboolean
add_entry (MrTar *tar, const char *path, char type, guint mode, const char *link, const guint8 *contents, gsize size,
           GError **error)
{
  Header h;
  guint sum = 0;
  static const guint8 zeros[BLOCK] = { 0 };

  memset (&h, 0, sizeof h);
  while (path[0] == '/')
    path++;
  if (!set_name (&h, path, error))
    return FALSE;
  if (link && strlen (link) > sizeof h.linkname)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "link target too long for a ustar archive: %s", link);
      return FALSE;
    }
  octal (h.mode, sizeof h.mode, mode & 07777);
  octal (h.uid, sizeof h.uid, 0);
  octal (h.gid, sizeof h.gid, 0);
  octal (h.size, sizeof h.size, size);
  octal (h.mtime, sizeof h.mtime, tar->mtime);
  h.typeflag = type;
  if (link)
    memcpy (h.linkname, link, strlen (link));
  memcpy (h.magic, "ustar", 6);     /* "ustar\0" */
  memcpy (h.version, "00", 2);
  memcpy (h.uname, "root", 4);
  memcpy (h.gname, "root", 4);
  octal (h.devmajor, sizeof h.devmajor, 0);
  octal (h.devminor, sizeof h.devminor, 0);
  /* the checksum is computed with its own field full of spaces */
  memset (h.checksum, ' ', sizeof h.checksum);
  for (gsize i = 0; i < sizeof h; i++)
    sum += ((const guint8 *) &h)[i];
  g_snprintf (h.checksum, sizeof h.checksum, "%06o", sum);   /* six digits, NUL, space */
  h.checksum[7] = ' ';

  g_byte_array_append (tar->data, (const guint8 *) &h, sizeof h);
  if (size)
    {
      g_byte_array_append (tar->data, contents, size);
      if (size % BLOCK)
        g_byte_array_append (tar->data, zeros, BLOCK - size % BLOCK);
    }
  return TRUE;
}

/**
 * mr_tar_add_directory: (skip)
 * @tar: an archive
 * @path: the directory, relative to where the archive is extracted
 * @mode: its permission bits
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_tar_add_directory (MrTar *tar, const char *path, guint mode, GError **error)
{
  g_autofree char *name = g_str_has_suffix (path, "/") ? g_strdup (path) : g_strconcat (path, "/", NULL);

  return add_entry (tar, name, '5', mode, NULL, NULL, 0, error);
}

/**
 * mr_tar_add_file: (skip)
 * @tar: an archive
 * @path: the file, relative to where the archive is extracted
 * @mode: its permission bits
 * @contents: its contents
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_tar_add_file (MrTar *tar, const char *path, guint mode, GBytes *contents, GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (contents, &size);

  return add_entry (tar, path, '0', mode, NULL, data, size, error);
}

/**
 * mr_tar_add_symlink: (skip)
 * @tar: an archive
 * @path: the link, relative to where the archive is extracted
 * @target: what it points to
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_tar_add_symlink (MrTar *tar, const char *path, const char *target, GError **error)
{
  return add_entry (tar, path, '2', 0777, target, NULL, 0, error);
}

/**
 * mr_tar_finish: (skip)
 * @tar: (transfer full): an archive
 *
 * Ends the archive (two zero blocks) and frees @tar.
 *
 * Returns: (transfer full): the archive's bytes
 */
GBytes *
mr_tar_finish (MrTar *tar)
{
  static const guint8 zeros[2 * BLOCK] = { 0 };
  GBytes *bytes;

  g_byte_array_append (tar->data, zeros, sizeof zeros);
  bytes = g_byte_array_free_to_bytes (g_steal_pointer (&tar->data));
  mr_tar_free (tar);
  return bytes;
}

/**
 * mr_tar_read_first_file: (skip)
 * @archive: a tar archive, as GET /containers/{id}/archive returns for one file
 * @name: (out) (optional) (transfer full): the entry's name
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the contents of the first regular file
 */
GBytes *
mr_tar_read_first_file (GBytes *archive, char **name, GError **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (archive, &len);
  gsize offset = 0;

  while (offset + BLOCK <= len)
    {
      const Header *h = (const Header *) (data + offset);
      guint64 size;
      g_autofree char *size_text = g_strndup (h->size, sizeof h->size);

      if (h->name[0] == '\0')
        break;
      size = g_ascii_strtoull (g_strstrip (size_text), NULL, 8);
      if (size > len - offset - BLOCK)
        break;
      if (h->typeflag == '0' || h->typeflag == '\0')
        {
          if (name)
            *name = g_strndup (h->name, sizeof h->name);
          return g_bytes_new_from_bytes (archive, offset + BLOCK, size);
        }
      offset += BLOCK + (size + BLOCK - 1) / BLOCK * BLOCK;
    }
  g_set_error_literal (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "no file in the archive");
  return NULL;
}
