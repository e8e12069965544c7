/* mr-image.c: the image record and the naming rules every image backend shares. */
#include <string.h>

#include "mr-image.h"
#include "mr-error.h"
#include "mr-json-fields.h"

G_DEFINE_BOXED_TYPE (MrImage, mr_image, mr_image_copy, mr_image_free)

/**
 * mr_image_new:
 * @ref: the image reference
 * @size_bytes: its size
 *
 * Returns: (transfer full): a record whose hash is derived from @ref
 */
MrImage *
mr_image_new (const char *ref, gint64 size_bytes)
{
  MrImage *image = g_new0 (MrImage, 1);

  image->ref = g_strdup (ref);
  image->size_bytes = size_bytes;
  image->hash = mr_image_hash_for_ref (ref);
  image->created_at = g_get_real_time ();
  return image;
}

/**
 * mr_image_copy:
 * @image: a record
 *
 * Returns: (transfer full): a deep copy
 */
MrImage *
mr_image_copy (const MrImage *image)
{
  MrImage *copy = g_new0 (MrImage, 1);

  copy->ref = g_strdup (image->ref);
  copy->size_bytes = image->size_bytes;
  copy->entrypoint = g_strdupv (image->entrypoint);
  copy->cmd = g_strdupv (image->cmd);
  copy->hash = g_strdup (image->hash);
  copy->created_at = image->created_at;
  return copy;
}

/**
 * mr_image_free:
 * @image: (nullable): a record
 */
void
mr_image_free (MrImage *image)
{
  if (image == NULL)
    return;
  g_free (image->ref);
  g_strfreev (image->entrypoint);
  g_strfreev (image->cmd);
  g_free (image->hash);
  g_free (image);
}

/**
 * mr_image_normalize_ref:
 * @ref: an image reference
 *
 * Strips the first "docker.io/" occurrence, as every runner does before it looks
 * an image up (runner-api.md section 2.12).
 *
 * Returns: (transfer full): the normalised reference
 */
char *
mr_image_normalize_ref (const char *ref)
{
  const char *at = strstr (ref, "docker.io/");
  GString *out;

  if (at == NULL)
    return g_strdup (ref);
  out = g_string_new_len (ref, at - ref);
  g_string_append (out, at + strlen ("docker.io/"));
  return g_string_free (out, FALSE);
}

/**
 * mr_image_hash_for_ref:
 * @ref: an image reference
 *
 * The Go mock's stand-in for a content hash: SHA-256 of the name.
 *
 * Returns: (transfer full): "sha256:" followed by 64 hex digits
 */
char *
mr_image_hash_for_ref (const char *ref)
{
  g_autofree char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, ref, -1);

  return g_strconcat ("sha256:", hex, NULL);
}

static void
add_strv (JsonBuilder *b, const char *name, char **strv)
{
  if (strv == NULL)
    return;
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (char **s = strv; *s; s++)
    json_builder_add_string_value (b, *s);
  json_builder_end_array (b);
}

/**
 * mr_image_to_json:
 * @image: a record
 *
 * Returns: (transfer full): the record as a JSON object, as used by state export
 */
JsonNode *
mr_image_to_json (const MrImage *image)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ref");
  json_builder_add_string_value (b, image->ref);
  json_builder_set_member_name (b, "sizeBytes");
  json_builder_add_int_value (b, image->size_bytes);
  add_strv (b, "entrypoint", image->entrypoint);
  add_strv (b, "cmd", image->cmd);
  if (image->hash)
    {
      json_builder_set_member_name (b, "hash");
      json_builder_add_string_value (b, image->hash);
    }
  json_builder_set_member_name (b, "createdAt");
  json_builder_add_int_value (b, image->created_at);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static char **
read_strv (JsonObject *o, const char *name)
{
  JsonNode *node = json_object_get_member (o, name);
  JsonArray *array;
  GPtrArray *out;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return NULL;
  array = json_node_get_array (node);
  out = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *e = json_array_get_element (array, i);
      if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
        g_ptr_array_add (out, g_strdup (json_node_get_string (e)));
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

static const char *
string_member (JsonObject *o, const char *name)
{
  JsonNode *node = json_object_get_member (o, name);

  if (node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  return NULL;
}

/* The members mr_image_to_json() writes (and "name" for "ref"), and nothing else: an
 * import must not read a misspelt member, or a size given as a string, as the default. */
static gboolean
check_members (JsonObject *o, GError **error)
{
  static const MrJsonField fields[] = {
    { "ref", MR_JSON_STRING }, { "name", MR_JSON_STRING }, { "sizeBytes", MR_JSON_INT },
    { "entrypoint", MR_JSON_STRING_ARRAY }, { "cmd", MR_JSON_STRING_ARRAY }, { "hash", MR_JSON_STRING },
    { "createdAt", MR_JSON_INT },
    { "buildLog", MR_JSON_STRING },   /* image-memory keeps the log of a build with its record */
  };
  const char *ref = string_member (o, "ref") ? string_member (o, "ref") : string_member (o, "name");
  g_autofree char *what = g_strdup_printf ("image %s", ref ? ref : "(no ref)");

  return mr_json_check_fields (o, fields, G_N_ELEMENTS (fields), what, error);
}

/**
 * mr_image_from_json:
 * @node: a JSON object as written by mr_image_to_json(); "ref" may also be "name"
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the record
 */
MrImage *
mr_image_from_json (JsonNode *node, GError **error)
{
  JsonObject *o;
  const char *ref;
  MrImage *image;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "an image must be a JSON object");
      return NULL;
    }
  o = json_node_get_object (node);
  if (!check_members (o, error))
    return NULL;
  ref = json_object_get_string_member_with_default (o, "ref",
          json_object_get_string_member_with_default (o, "name", NULL));
  if (ref == NULL || *ref == '\0')
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "an image needs a non-empty \"ref\"");
      return NULL;
    }
  image = mr_image_new (ref, json_object_get_int_member_with_default (o, "sizeBytes", 100 * 1024 * 1024));
  image->entrypoint = read_strv (o, "entrypoint");
  image->cmd = read_strv (o, "cmd");
  if (json_object_has_member (o, "hash"))
    {
      g_free (image->hash);
      image->hash = g_strdup (json_object_get_string_member_with_default (o, "hash", NULL));
    }
  image->created_at = json_object_get_int_member_with_default (o, "createdAt", image->created_at);
  return image;
}
