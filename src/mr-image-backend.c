/* mr-image-backend.c: dispatch wrappers of the image plugin interface. */
#include "mr-image-backend.h"

G_DEFINE_INTERFACE (MrImageBackend, mr_image_backend, MR_TYPE_PLUGIN)

static void
mr_image_backend_default_init (MrImageBackendInterface *iface)
{
}

#define IFACE(self) MR_IMAGE_BACKEND_GET_IFACE (self)

/**
 * mr_image_backend_pull:
 * @self: an image backend
 * @ref: the image ref
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_image_backend_pull (MrImageBackend *self, const char *ref, GError **error)
{
  return IFACE (self)->pull (self, ref, error);
}

/**
 * mr_image_backend_build:
 * @self: an image backend
 * @ref: the image ref to build
 * @dockerfile: the Dockerfile text
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_image_backend_build (MrImageBackend *self, const char *ref, const char *dockerfile, GError **error)
{
  return IFACE (self)->build (self, ref, dockerfile, error);
}

/**
 * mr_image_backend_tag:
 * @self: an image backend
 * @source: an existing image ref
 * @target: the new ref
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_image_backend_tag (MrImageBackend *self, const char *source, const char *target, GError **error)
{
  return IFACE (self)->tag (self, source, target, error);
}

/**
 * mr_image_backend_exists:
 * @self: an image backend
 * @ref: the image ref
 *
 * Returns: whether the image is available
 */
gboolean
mr_image_backend_exists (MrImageBackend *self, const char *ref)
{
  return IFACE (self)->exists (self, ref);
}

/**
 * mr_image_backend_lookup:
 * @self: an image backend
 * @ref: the image ref
 *
 * Returns: (transfer full) (nullable): the record
 */
MrImage *
mr_image_backend_lookup (MrImageBackend *self, const char *ref)
{
  return IFACE (self)->lookup (self, ref);
}

/**
 * mr_image_backend_add:
 * @self: an image backend
 * @image: the image to record
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_image_backend_add (MrImageBackend *self, const MrImage *image, GError **error)
{
  return IFACE (self)->add (self, image, error);
}

/**
 * mr_image_backend_remove:
 * @self: an image backend
 * @ref: the image ref
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_image_backend_remove (MrImageBackend *self, const char *ref, GError **error)
{
  return IFACE (self)->remove (self, ref, error);
}

/**
 * mr_image_backend_get_logs:
 * @self: an image backend
 * @ref: the image ref
 *
 * Returns: (transfer full) (nullable): the build log
 */
GBytes *
mr_image_backend_get_logs (MrImageBackend *self, const char *ref)
{
  return IFACE (self)->get_logs ? IFACE (self)->get_logs (self, ref) : NULL;
}

/**
 * mr_image_backend_list:
 * @self: an image backend
 *
 * Returns: (transfer full) (element-type MrImage): every image held
 */
GPtrArray *
mr_image_backend_list (MrImageBackend *self)
{
  return IFACE (self)->list (self);
}
