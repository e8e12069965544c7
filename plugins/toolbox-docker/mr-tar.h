/* mr-tar.h: writes a POSIX ustar archive in memory, as the Docker Engine API's archive
 * endpoint (PUT /containers/{id}/archive) takes it. Only what the toolbox needs:
 * directories, regular files and symbolic links, owned by root. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MrTar MrTar;

MrTar   *mr_tar_new (gint64 mtime);
gboolean mr_tar_add_directory (MrTar *tar, const char *path, guint mode, GError **error);
gboolean mr_tar_add_file (MrTar *tar, const char *path, guint mode, GBytes *contents, GError **error);
gboolean mr_tar_add_symlink (MrTar *tar, const char *path, const char *target, GError **error);
GBytes  *mr_tar_finish (MrTar *tar);
void     mr_tar_free (MrTar *tar);
GBytes  *mr_tar_read_first_file (GBytes *archive, char **name, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrTar, mr_tar_free)

G_END_DECLS
