/* mr-plugin.c: the MrPlugin interface, and finding, checking and loading plugin modules.
 *
 * Modules are searched in MOCK_RUNNER_PLUGIN_PATH (a colon-separated list) and then in
 * the install directory. A module is opened with immediate binding, so a missing symbol
 * fails at load time and names the file, not at the first request. Modules are made
 * resident: the types they register cannot be unregistered. */
#include <string.h>
#include <gmodule.h>

#include "mr-plugin.h"
#include "mr-error.h"
#include "mr-sandbox-backend.h"
#include "mr-image-backend.h"
#include "mr-toolbox-backend.h"
#include "mr-ssh-backend.h"

G_DEFINE_INTERFACE (MrPlugin, mr_plugin, G_TYPE_OBJECT)

static void
mr_plugin_default_init (MrPluginInterface *iface)
{
}

/**
 * mr_plugin_setup:
 * @self: a plugin
 * @runner: the runner that owns it
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the plugin accepted its configuration
 */
gboolean
mr_plugin_setup (MrPlugin *self, MrRunner *runner, GError **error)
{
  MrPluginInterface *iface = MR_PLUGIN_GET_IFACE (self);

  return iface->setup ? iface->setup (self, runner, error) : TRUE;
}

/**
 * mr_plugin_start:
 * @self: a plugin
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the plugin is ready to serve
 */
gboolean
mr_plugin_start (MrPlugin *self, GError **error)
{
  MrPluginInterface *iface = MR_PLUGIN_GET_IFACE (self);

  return iface->start ? iface->start (self, error) : TRUE;
}

/**
 * mr_plugin_stop:
 * @self: a plugin
 */
void
mr_plugin_stop (MrPlugin *self)
{
  MrPluginInterface *iface = MR_PLUGIN_GET_IFACE (self);

  if (iface->stop)
    iface->stop (self);
}

/**
 * mr_plugin_reset:
 * @self: a plugin
 *
 * Returns the plugin to its configured baseline.
 */
void
mr_plugin_reset (MrPlugin *self)
{
  MrPluginInterface *iface = MR_PLUGIN_GET_IFACE (self);

  if (iface->reset)
    iface->reset (self);
}

/**
 * mr_plugin_export_state:
 * @self: a plugin
 *
 * Returns: (transfer full) (nullable): the plugin's state, or %NULL if it has none
 */
JsonNode *
mr_plugin_export_state (MrPlugin *self)
{
  MrPluginInterface *iface = MR_PLUGIN_GET_IFACE (self);

  return iface->export_state ? iface->export_state (self) : NULL;
}

/**
 * mr_plugin_import_state:
 * @self: a plugin
 * @state: a value export_state produced
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_plugin_import_state (MrPlugin *self, JsonNode *state, GError **error)
{
  MrPluginInterface *iface = MR_PLUGIN_GET_IFACE (self);

  if (iface->import_state == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT,
                   "plugin %s cannot import state", G_OBJECT_TYPE_NAME (self));
      return FALSE;
    }
  return iface->import_state (self, state, error);
}

/**
 * mr_plugin_kind_to_string:
 * @kind: a kind
 *
 * Returns: (transfer none): "sandbox", "image", "toolbox" or "ssh"
 */
const char *
mr_plugin_kind_to_string (MrPluginKind kind)
{
  switch (kind)
    {
    case MR_PLUGIN_KIND_SANDBOX: return "sandbox";
    case MR_PLUGIN_KIND_IMAGE: return "image";
    case MR_PLUGIN_KIND_TOOLBOX: return "toolbox";
    case MR_PLUGIN_KIND_SSH: return "ssh";
    default: return "invalid";
    }
}

/**
 * mr_plugin_kind_get_interface:
 * @kind: a kind
 *
 * Returns: the interface type a plugin of @kind must implement, or %G_TYPE_INVALID
 */
GType
mr_plugin_kind_get_interface (MrPluginKind kind)
{
  switch (kind)
    {
    case MR_PLUGIN_KIND_SANDBOX: return MR_TYPE_SANDBOX_BACKEND;
    case MR_PLUGIN_KIND_IMAGE: return MR_TYPE_IMAGE_BACKEND;
    case MR_PLUGIN_KIND_TOOLBOX: return MR_TYPE_TOOLBOX_BACKEND;
    case MR_PLUGIN_KIND_SSH: return MR_TYPE_SSH_BACKEND;
    default: return G_TYPE_INVALID;
    }
}

/* MrPluginInfo --------------------------------------------------------------------- */

/**
 * MrPluginInfo:
 *
 * A plugin module that was found and checked, but not necessarily instantiated.
 */
struct _MrPluginInfo {
  gatomicrefcount ref;
  char *filename;
  GModule *module;
  const MrPluginDescriptor *descriptor;
};

G_DEFINE_BOXED_TYPE (MrPluginInfo, mr_plugin_info, mr_plugin_info_ref, mr_plugin_info_unref)

/**
 * mr_plugin_info_ref:
 * @info: a plugin info
 *
 * Returns: (transfer full): @info
 */
MrPluginInfo *
mr_plugin_info_ref (MrPluginInfo *info)
{
  g_atomic_ref_count_inc (&info->ref);
  return info;
}

/**
 * mr_plugin_info_unref:
 * @info: (transfer full): a plugin info
 */
void
mr_plugin_info_unref (MrPluginInfo *info)
{
  if (g_atomic_ref_count_dec (&info->ref))
    {
      /* the module stays resident: its types are registered for good */
      g_free (info->filename);
      g_free (info);
    }
}

/**
 * mr_plugin_info_get_name:
 * @info: a plugin info
 *
 * Returns: (transfer none): the plugin name
 */
const char *
mr_plugin_info_get_name (MrPluginInfo *info)
{
  return info->descriptor->name;
}

/**
 * mr_plugin_info_get_kind:
 * @info: a plugin info
 *
 * Returns: the plugin kind
 */
MrPluginKind
mr_plugin_info_get_kind (MrPluginInfo *info)
{
  return info->descriptor->kind;
}

/**
 * mr_plugin_info_get_description:
 * @info: a plugin info
 *
 * Returns: (transfer none): one line describing the plugin
 */
const char *
mr_plugin_info_get_description (MrPluginInfo *info)
{
  return info->descriptor->description ? info->descriptor->description : "";
}

/**
 * mr_plugin_info_get_filename:
 * @info: a plugin info
 *
 * Returns: (transfer none): the module file
 */
const char *
mr_plugin_info_get_filename (MrPluginInfo *info)
{
  return info->filename;
}

/**
 * mr_plugin_info_get_options: (skip)
 * @info: a plugin info
 *
 * Returns: (transfer none) (nullable): the options, terminated by a %NULL name
 */
const MrPluginOption *
mr_plugin_info_get_options (MrPluginInfo *info)
{
  return info->descriptor->options;
}

/**
 * mr_plugin_info_create:
 * @info: a plugin info
 * @error: return location for a #GError
 *
 * Instantiates the plugin, after checking that its type implements #MrPlugin and the
 * interface of its kind.
 *
 * Returns: (transfer full) (nullable): a new plugin instance
 */
MrPlugin *
mr_plugin_info_create (MrPluginInfo *info, GError **error)
{
  GType type = info->descriptor->get_type ();
  GType iface = mr_plugin_kind_get_interface (info->descriptor->kind);

  if (type == G_TYPE_INVALID || !G_TYPE_IS_INSTANTIATABLE (type) || G_TYPE_IS_ABSTRACT (type))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN,
                   "%s: plugin '%s' does not provide an instantiable type",
                   info->filename, info->descriptor->name);
      return NULL;
    }
  if (!g_type_is_a (type, MR_TYPE_PLUGIN) || !g_type_is_a (type, iface))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN,
                   "%s: type %s of plugin '%s' does not implement %s and %s",
                   info->filename, g_type_name (type), info->descriptor->name,
                   g_type_name (MR_TYPE_PLUGIN), g_type_name (iface));
      return NULL;
    }
  return g_object_new (type, NULL);
}

/* Discovery ------------------------------------------------------------------------ */

/**
 * mr_plugin_get_search_path:
 *
 * Returns: (transfer full): the directories searched for plugins, in order:
 *   the entries of MOCK_RUNNER_PLUGIN_PATH, then the install directory
 */
char **
mr_plugin_get_search_path (void)
{
  GStrvBuilder *builder = g_strv_builder_new ();
  const char *env = g_getenv ("MOCK_RUNNER_PLUGIN_PATH");
  char **result;

  if (env && *env)
    {
      g_auto(GStrv) dirs = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);
      for (char **d = dirs; *d; d++)
        if (**d)
          g_strv_builder_add (builder, *d);
    }
  g_strv_builder_add (builder, MR_PLUGIN_DIR);
  result = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return result;
}

/**
 * mr_plugin_load_file:
 * @filename: path of a plugin module
 * @error: return location for a #GError
 *
 * Opens the module and checks its descriptor and ABI version, without running any of
 * its code.
 *
 * Returns: (transfer full) (nullable): the plugin info
 */
MrPluginInfo *
mr_plugin_load_file (const char *filename, GError **error)
{
  g_autoptr(GError) local = NULL;
  GModule *module;
  gpointer symbol = NULL;
  const MrPluginDescriptor *d;
  MrPluginInfo *info;

  if (!g_file_test (filename, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN, "%s: no such plugin file", filename);
      return NULL;
    }
  module = g_module_open_full (filename, G_MODULE_BIND_LOCAL, &local);
  if (module == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN, "%s: cannot load: %s", filename,
                   local ? local->message : g_module_error ());
      return NULL;
    }
  if (!g_module_symbol (module, "mr_plugin_descriptor", &symbol) || symbol == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN,
                   "%s: not a mock-runner plugin (no mr_plugin_descriptor symbol)", filename);
      g_module_close (module);
      return NULL;
    }
  d = symbol;
  /* abi_version is the first field: read it before trusting the rest of the layout */
  if (d->abi_version != MR_PLUGIN_ABI_VERSION)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN,
                   "%s: built for plugin ABI %u, but this mock-runner needs ABI %u; rebuild the plugin",
                   filename, d->abi_version, MR_PLUGIN_ABI_VERSION);
      g_module_close (module);
      return NULL;
    }
  if (d->name == NULL || *d->name == '\0' || d->get_type == NULL ||
      mr_plugin_kind_get_interface (d->kind) == G_TYPE_INVALID)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN,
                   "%s: invalid plugin descriptor (needs a name, a valid kind and get_type)", filename);
      g_module_close (module);
      return NULL;
    }
  g_module_make_resident (module);

  info = g_new0 (MrPluginInfo, 1);
  g_atomic_ref_count_init (&info->ref);
  info->filename = g_strdup (filename);
  info->module = module;
  info->descriptor = d;
  return info;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char **) a, *(char **) b);
}

static gboolean
is_module_name (const char *name)
{
  return g_str_has_suffix (name, "." G_MODULE_SUFFIX) && name[0] != '.';
}

/**
 * mr_plugin_discover:
 * @search_path: (array zero-terminated=1): directories to search
 * @errors: (out) (optional) (element-type GError) (transfer full): modules that failed to load
 *
 * Finds every plugin module. A plugin whose name was already found earlier in the search
 * path is skipped, so MOCK_RUNNER_PLUGIN_PATH shadows the install directory.
 *
 * Returns: (transfer full) (element-type MrPluginInfo): the plugins, sorted by kind and name
 */
GPtrArray *
mr_plugin_discover (const char * const *search_path, GPtrArray **errors)
{
  GPtrArray *found = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_plugin_info_unref);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  if (errors)
    *errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);

  for (const char * const *dir = search_path; dir && *dir; dir++)
    {
      g_autoptr(GDir) d = g_dir_open (*dir, 0, NULL);
      g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      const char *name;

      if (d == NULL)
        continue;
      while ((name = g_dir_read_name (d)) != NULL)
        if (is_module_name (name))
          g_ptr_array_add (names, g_strdup (name));
      g_ptr_array_sort (names, compare_names);

      for (guint i = 0; i < names->len; i++)
        {
          g_autofree char *path = g_build_filename (*dir, names->pdata[i], NULL);
          GError *error = NULL;
          MrPluginInfo *info = mr_plugin_load_file (path, &error);

          if (info == NULL)
            {
              if (errors)
                g_ptr_array_add (*errors, error);
              else
                g_error_free (error);
              continue;
            }
          if (g_hash_table_contains (seen, info->descriptor->name))
            {
              mr_plugin_info_unref (info);
              continue;
            }
          g_hash_table_add (seen, (gpointer) info->descriptor->name);
          g_ptr_array_add (found, info);
        }
    }
  return found;
}

/**
 * mr_plugin_find:
 * @search_path: (array zero-terminated=1): directories to search
 * @kind: the kind wanted
 * @name: the plugin name, which is also the module's base name (`<name>.so`)
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the plugin, or %NULL with an error that names
 *   the file and the reason, or lists what is available
 */
MrPluginInfo *
mr_plugin_find (const char * const *search_path, MrPluginKind kind, const char *name, GError **error)
{
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GString) available = NULL;
  g_autofree char *joined = NULL;

  if (name == NULL || *name == '\0' || strchr (name, '/') != NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN, "invalid %s plugin name '%s'",
                   mr_plugin_kind_to_string (kind), name ? name : "");
      return NULL;
    }

  for (const char * const *dir = search_path; dir && *dir; dir++)
    {
      g_autofree char *file = g_strconcat (name, "." G_MODULE_SUFFIX, NULL);
      g_autofree char *path = g_build_filename (*dir, file, NULL);
      MrPluginInfo *info;

      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      info = mr_plugin_load_file (path, error);
      if (info == NULL)
        return NULL;
      if (strcmp (info->descriptor->name, name) != 0 || info->descriptor->kind != kind)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN,
                       "%s: declares %s plugin '%s', but a %s plugin named '%s' was asked for",
                       path, mr_plugin_kind_to_string (info->descriptor->kind),
                       info->descriptor->name, mr_plugin_kind_to_string (kind), name);
          mr_plugin_info_unref (info);
          return NULL;
        }
      return info;
    }

  all = mr_plugin_discover (search_path, NULL);
  available = g_string_new (NULL);
  for (guint i = 0; i < all->len; i++)
    {
      MrPluginInfo *info = all->pdata[i];
      if (info->descriptor->kind != kind)
        continue;
      if (available->len)
        g_string_append (available, ", ");
      g_string_append (available, info->descriptor->name);
    }
  joined = g_strjoinv (":", (char **) search_path);
  g_set_error (error, MR_ERROR, MR_ERROR_PLUGIN,
               "no %s plugin named '%s' (searched %s; available: %s)",
               mr_plugin_kind_to_string (kind), name, joined,
               available->len ? available->str : "none");
  return NULL;
}
