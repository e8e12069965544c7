/* image-memory: the image registry of the Go mock runner, in memory
 * (runner-api.md sections 2.12 and 5.4).
 *
 *   pull   records the ref ("docker.io/" stripped): 100 MiB, entrypoint /bin/sh,
 *          cmd -c "sleep infinity", hash sha256 of the name;
 *   build  records 200 MiB and a build log, found again by the ref or by its build id
 *          (the ref up to its first ':', the name the runners give the log file);
 *   tag    copies an existing entry (hash included);
 *   exists is false for any ref ending in ":latest", as in every runner;
 *   remove is idempotent. */
#include <string.h>

#include "mock-runner.h"

#define PULLED_SIZE (100 * 1024 * 1024)
#define BUILT_SIZE (200 * 1024 * 1024)

#define MR_TYPE_IMAGE_MEMORY (mr_image_memory_get_type ())
G_DECLARE_FINAL_TYPE (MrImageMemory, mr_image_memory, MR, IMAGE_MEMORY, GObject)

struct _MrImageMemory {
  GObject parent_instance;
  MrRunner *runner;
  GHashTable *images;       /* normalised ref -> MrImage */
  GHashTable *logs;         /* normalised ref -> GBytes */
  GHashTable *build_ids;    /* build id -> normalised ref of the latest build with it */
};

static void plugin_iface_init (MrPluginInterface *iface);
static void image_iface_init (MrImageBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MrImageMemory, mr_image_memory, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (MR_TYPE_PLUGIN, plugin_iface_init)
                               G_IMPLEMENT_INTERFACE (MR_TYPE_IMAGE_BACKEND, image_iface_init))

static void
store (MrImageMemory *self, MrImage *image)
{
  gboolean added = !g_hash_table_contains (self->images, image->ref);
  g_autofree char *ref = g_strdup (image->ref);

  g_hash_table_replace (self->images, g_strdup (image->ref), image);
  if (added && self->runner)
    mr_runner_notify_image (self->runner, ref, TRUE);
}

static gboolean
memory_pull (MrImageBackend *backend, const char *ref, GError **error)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (backend);
  g_autofree char *name = mr_image_normalize_ref (ref);
  MrImage *image;

  if (*name == '\0')
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "snapshot name is empty");
      return FALSE;
    }
  if (g_hash_table_contains (self->images, name))
    return TRUE;
  image = mr_image_new (name, PULLED_SIZE);
  image->entrypoint = g_strsplit ("/bin/sh", " ", -1);
  image->cmd = g_new0 (char *, 3);
  image->cmd[0] = g_strdup ("-c");
  image->cmd[1] = g_strdup ("sleep infinity");
  store (self, image);
  return TRUE;
}

/* A build log shaped like Docker's, one step per Dockerfile instruction. */
static GBytes *
make_build_log (const char *ref, const char *dockerfile, const char *hash)
{
  GString *log = g_string_new (NULL);
  g_auto(GStrv) lines = g_strsplit (dockerfile ? dockerfile : "", "\n", -1);
  g_autoptr(GPtrArray) steps = g_ptr_array_new ();

  for (char **l = lines; *l; l++)
    {
      char *s = g_strstrip (*l);
      if (*s && *s != '#')
        g_ptr_array_add (steps, s);
    }
  g_string_append_printf (log, "Mock build log for %s\n", ref);
  for (guint i = 0; i < steps->len; i++)
    g_string_append_printf (log, "Step %u/%u : %s\n", i + 1, steps->len, (char *) steps->pdata[i]);
  g_string_append_printf (log, "Successfully built %.12s\nSuccessfully tagged %s\n",
                          g_str_has_prefix (hash, "sha256:") ? hash + 7 : hash, ref);
  g_string_append (log, "Build completed successfully.\n");
  return g_string_free_to_bytes (log);
}

/* The runners write a build's log to a file named after the ref up to its first ':', so
 * a request for "name" or "name:other" reads the log of the latest "name:tag" build. */
static char *
build_id (const char *ref)
{
  return g_strndup (ref, strcspn (ref, ":"));
}

static void
store_log (MrImageMemory *self, const char *ref, GBytes *log)
{
  g_hash_table_replace (self->logs, g_strdup (ref), log);
  g_hash_table_replace (self->build_ids, build_id (ref), g_strdup (ref));
}

static gboolean
memory_build (MrImageBackend *backend, const char *ref, const char *dockerfile, GError **error)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (backend);
  g_autofree char *name = mr_image_normalize_ref (ref);
  MrImage *image = mr_image_new (name, BUILT_SIZE);

  store_log (self, name, make_build_log (name, dockerfile, image->hash));
  store (self, image);
  return TRUE;
}

static gboolean
memory_exists (MrImageBackend *backend, const char *ref)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (backend);
  g_autofree char *name = NULL;

  if (ref == NULL || g_str_has_suffix (ref, ":latest"))
    return FALSE;
  name = mr_image_normalize_ref (ref);
  return g_hash_table_contains (self->images, name);
}

static MrImage *
memory_lookup (MrImageBackend *backend, const char *ref)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (backend);
  g_autofree char *name = ref ? mr_image_normalize_ref (ref) : NULL;
  MrImage *image = name ? g_hash_table_lookup (self->images, name) : NULL;

  return image ? mr_image_copy (image) : NULL;
}

static gboolean
memory_tag (MrImageBackend *backend, const char *source, const char *target, GError **error)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (backend);
  g_autofree char *name = mr_image_normalize_ref (source);
  MrImage *image = g_hash_table_lookup (self->images, name);
  MrImage *copy;

  if (image == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_NOT_FOUND, "source image not found: %s", source);
      return FALSE;
    }
  copy = mr_image_copy (image);
  g_free (copy->ref);
  copy->ref = mr_image_normalize_ref (target);
  copy->created_at = g_get_real_time ();
  store (self, copy);
  return TRUE;
}

static gboolean
memory_add (MrImageBackend *backend, const MrImage *image, GError **error)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (backend);
  MrImage *copy = mr_image_copy (image);

  g_free (copy->ref);
  copy->ref = mr_image_normalize_ref (image->ref);
  store (self, copy);
  return TRUE;
}

static gboolean
memory_remove (MrImageBackend *backend, const char *ref, GError **error)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (backend);
  g_autofree char *name = mr_image_normalize_ref (ref);

  if (g_hash_table_remove (self->images, name) && self->runner)
    mr_runner_notify_image (self->runner, name, FALSE);
  return TRUE;
}

static GBytes *
memory_get_logs (MrImageBackend *backend, const char *ref)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (backend);
  g_autofree char *name = mr_image_normalize_ref (ref);
  GBytes *logs = g_hash_table_lookup (self->logs, name);

  if (logs == NULL)
    {
      g_autofree char *id = build_id (name);
      const char *built = g_hash_table_lookup (self->build_ids, id);
      logs = built ? g_hash_table_lookup (self->logs, built) : NULL;
    }
  return logs ? g_bytes_ref (logs) : NULL;
}

static gint
compare_refs (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 ((*(MrImage **) a)->ref, (*(MrImage **) b)->ref);
}

static GPtrArray *
memory_list (MrImageBackend *backend)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (backend);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_image_free);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->images);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (out, mr_image_copy (value));
  g_ptr_array_sort (out, compare_refs);
  return out;
}

static void
image_iface_init (MrImageBackendInterface *iface)
{
  iface->pull = memory_pull;
  iface->build = memory_build;
  iface->tag = memory_tag;
  iface->exists = memory_exists;
  iface->lookup = memory_lookup;
  iface->add = memory_add;
  iface->remove = memory_remove;
  iface->get_logs = memory_get_logs;
  iface->list = memory_list;
}

static gboolean
memory_setup (MrPlugin *plugin, MrRunner *runner, GError **error)
{
  MR_IMAGE_MEMORY (plugin)->runner = runner;
  return TRUE;
}

static void
memory_reset (MrPlugin *plugin)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (plugin);

  g_hash_table_remove_all (self->images);
  g_hash_table_remove_all (self->logs);
  g_hash_table_remove_all (self->build_ids);
}

static JsonNode *
memory_export (MrPlugin *plugin)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (plugin);
  g_autoptr(GPtrArray) all = memory_list (MR_IMAGE_BACKEND (plugin));
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < all->len; i++)
    {
      MrImage *image = all->pdata[i];
      JsonNode *node = mr_image_to_json (image);
      GBytes *logs = g_hash_table_lookup (self->logs, image->ref);
      if (logs)
        {
          g_autofree char *text = g_strndup (g_bytes_get_data (logs, NULL), g_bytes_get_size (logs));
          json_object_set_string_member (json_node_get_object (node), "buildLog", text);
        }
      json_array_add_element (array, node);
    }
  JsonNode *node = json_node_init_array (json_node_alloc (), array);

  json_array_unref (array);
  return node;
}

static gboolean
memory_import (MrPlugin *plugin, JsonNode *state, GError **error)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (plugin);
  g_autoptr(GPtrArray) parsed = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_image_free);
  JsonArray *array;

  if (!JSON_NODE_HOLDS_ARRAY (state))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "images must be a JSON array");
      return FALSE;
    }
  array = json_node_get_array (state);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      MrImage *image = mr_image_from_json (json_array_get_element (array, i), error);
      if (image == NULL)
        return FALSE;
      g_ptr_array_add (parsed, image);
    }
  memory_reset (plugin);
  for (guint i = 0; i < parsed->len; i++)
    {
      MrImage *image = g_steal_pointer (&parsed->pdata[i]);
      JsonObject *o = json_node_get_object (json_array_get_element (array, i));
      const char *log = json_object_get_string_member_with_default (o, "buildLog", NULL);
      g_autofree char *name = mr_image_normalize_ref (image->ref);
      g_free (image->ref);
      image->ref = g_steal_pointer (&name);
      if (log)
        store_log (self, image->ref, g_bytes_new (log, strlen (log)));
      g_hash_table_replace (self->images, g_strdup (image->ref), image);
    }
  return TRUE;
}

static void
plugin_iface_init (MrPluginInterface *iface)
{
  iface->setup = memory_setup;
  iface->reset = memory_reset;
  iface->export_state = memory_export;
  iface->import_state = memory_import;
}

static void
mr_image_memory_init (MrImageMemory *self)
{
  self->images = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) mr_image_free);
  self->logs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  self->build_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static void
mr_image_memory_finalize (GObject *object)
{
  MrImageMemory *self = MR_IMAGE_MEMORY (object);

  g_hash_table_unref (self->images);
  g_hash_table_unref (self->logs);
  g_hash_table_unref (self->build_ids);
  G_OBJECT_CLASS (mr_image_memory_parent_class)->finalize (object);
}

static void
mr_image_memory_class_init (MrImageMemoryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mr_image_memory_finalize;
}

MR_PLUGIN_DEFINE ("image-memory", MR_PLUGIN_KIND_IMAGE,
                  "Images in memory, with the Go mock runner's pull/build/tag/exists rules",
                  mr_image_memory_get_type, NULL);
