/* mr-image-backend.h: the interface of image (snapshot) plugins. */
#pragma once

#include "mr-plugin.h"
#include "mr-image.h"

G_BEGIN_DECLS

#define MR_TYPE_IMAGE_BACKEND (mr_image_backend_get_type ())
G_DECLARE_INTERFACE (MrImageBackend, mr_image_backend, MR, IMAGE_BACKEND, MrPlugin)

/**
 * MrImageBackendInterface:
 * @g_iface: the parent interface
 * @pull: make @ref available
 * @build: build @ref from @dockerfile, recording build logs
 * @tag: make @target a copy of existing @source
 * @exists: whether @ref is available (the runners' rule: a ref ending in ":latest" never is)
 * @lookup: the record of @ref, or %NULL
 * @add: record @image as available (used by snapshot-from-sandbox and state import)
 * @remove: forget @ref (idempotent)
 * @get_logs: the build log of @ref, or %NULL if there is none. The runners name a build's
 *   log after the ref up to its first ':', so a ref with another tag, or without one, may
 *   answer the log of the latest build of that name
 * @list: every image held
 *
 * Errors are in the #MR_ERROR domain.
 */
struct _MrImageBackendInterface {
  GTypeInterface g_iface;

  gboolean  (*pull)     (MrImageBackend *self, const char *ref, GError **error);
  gboolean  (*build)    (MrImageBackend *self, const char *ref, const char *dockerfile, GError **error);
  gboolean  (*tag)      (MrImageBackend *self, const char *source, const char *target, GError **error);
  gboolean  (*exists)   (MrImageBackend *self, const char *ref);
  MrImage  *(*lookup)   (MrImageBackend *self, const char *ref);
  gboolean  (*add)      (MrImageBackend *self, const MrImage *image, GError **error);
  gboolean  (*remove)   (MrImageBackend *self, const char *ref, GError **error);
  GBytes   *(*get_logs) (MrImageBackend *self, const char *ref);
  GPtrArray *(*list)    (MrImageBackend *self);
};

gboolean   mr_image_backend_pull (MrImageBackend *self, const char *ref, GError **error);
gboolean   mr_image_backend_build (MrImageBackend *self, const char *ref, const char *dockerfile, GError **error);
gboolean   mr_image_backend_tag (MrImageBackend *self, const char *source, const char *target, GError **error);
gboolean   mr_image_backend_exists (MrImageBackend *self, const char *ref);
MrImage   *mr_image_backend_lookup (MrImageBackend *self, const char *ref);
gboolean   mr_image_backend_add (MrImageBackend *self, const MrImage *image, GError **error);
gboolean   mr_image_backend_remove (MrImageBackend *self, const char *ref, GError **error);
GBytes    *mr_image_backend_get_logs (MrImageBackend *self, const char *ref);
GPtrArray *mr_image_backend_list (MrImageBackend *self);

G_END_DECLS
