/* mr-image.h: an image (snapshot) as the image backend records it. */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define MR_TYPE_IMAGE (mr_image_get_type ())

typedef struct _MrImage MrImage;

/**
 * MrImage:
 * @ref: the image reference, e.g. "ubuntu:22.04"
 * @size_bytes: image size in bytes
 * @entrypoint: (array zero-terminated=1) (nullable): entrypoint
 * @cmd: (array zero-terminated=1) (nullable): default command
 * @hash: (nullable): content hash, "sha256:<hex>"
 * @created_at: when it was recorded, microseconds since the epoch
 *
 * An image record. Records handed out by backends are copies.
 */
struct _MrImage {
  char *ref;
  gint64 size_bytes;
  char **entrypoint;
  char **cmd;
  char *hash;
  gint64 created_at;
};

GType    mr_image_get_type (void) G_GNUC_CONST;
MrImage *mr_image_new  (const char *ref, gint64 size_bytes);
MrImage *mr_image_copy (const MrImage *image);
void     mr_image_free (MrImage *image);
JsonNode *mr_image_to_json (const MrImage *image);
MrImage  *mr_image_from_json (JsonNode *node, GError **error);
char     *mr_image_normalize_ref (const char *ref);
char     *mr_image_hash_for_ref (const char *ref);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrImage, mr_image_free)

G_END_DECLS
