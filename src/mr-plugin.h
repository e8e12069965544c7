/* mr-plugin.h: what every plugin module exports and implements.
 *
 * A plugin module is a shared object that exports one symbol, `mr_plugin_descriptor`
 * (declare it with MR_PLUGIN_DEFINE()). The loader reads abi_version from it before
 * anything else in the module runs, then instantiates get_type() and checks that the
 * type implements #MrPlugin and the interface of the declared kind.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "mr-types.h"

G_BEGIN_DECLS

/**
 * MR_PLUGIN_ABI_VERSION:
 *
 * The plugin ABI this library implements. A module built for another value is refused.
 */
#define MR_PLUGIN_ABI_VERSION 1

/**
 * MrPluginKind:
 * @MR_PLUGIN_KIND_SANDBOX: implements #MrSandboxBackend
 * @MR_PLUGIN_KIND_IMAGE: implements #MrImageBackend
 * @MR_PLUGIN_KIND_TOOLBOX: implements #MrToolboxBackend
 * @MR_PLUGIN_KIND_SSH: implements #MrSshBackend
 *
 * The four kinds of plugin.
 */
typedef enum {
  MR_PLUGIN_KIND_SANDBOX,
  MR_PLUGIN_KIND_IMAGE,
  MR_PLUGIN_KIND_TOOLBOX,
  MR_PLUGIN_KIND_SSH,
} MrPluginKind;

const char *mr_plugin_kind_to_string (MrPluginKind kind);
GType       mr_plugin_kind_get_interface (MrPluginKind kind);

/**
 * MrPluginOption:
 * @name: the option name, also the environment variable the standalone server reads
 * @default_value: (nullable): the default, as text
 * @description: one line for `--help` and `--list-plugins`
 *
 * An option a plugin reads with mr_runner_get_option().
 */
typedef struct {
  const char *name;
  const char *default_value;
  const char *description;
} MrPluginOption;

/**
 * MrPluginDescriptor: (skip)
 * @abi_version: must be #MR_PLUGIN_ABI_VERSION; read before anything else
 * @name: the plugin name used for selection, e.g. "sandbox-memory"
 * @kind: which interface the plugin implements
 * @description: one line
 * @get_type: returns the implementing type
 * @options: options, terminated by an entry whose name is %NULL
 *
 * What a plugin module exports as `mr_plugin_descriptor`.
 */
typedef struct {
  guint32 abi_version;
  const char *name;
  MrPluginKind kind;
  const char *description;
  GType (*get_type) (void);
  const MrPluginOption *options;
} MrPluginDescriptor;

/**
 * MR_PLUGIN_DEFINE:
 * @plugin_name: the plugin name (a string literal)
 * @plugin_kind: an #MrPluginKind
 * @plugin_description: one line
 * @type_func: the get_type function of the implementing type
 * @option_array: (nullable): an #MrPluginOption array or %NULL
 *
 * Declares the exported descriptor of a plugin module.
 */
#define MR_PLUGIN_DEFINE(plugin_name, plugin_kind, plugin_description, type_func, option_array) \
  G_MODULE_EXPORT const MrPluginDescriptor mr_plugin_descriptor = {                            \
    MR_PLUGIN_ABI_VERSION, plugin_name, plugin_kind, plugin_description, type_func, option_array \
  }

#define MR_TYPE_PLUGIN (mr_plugin_get_type ())
G_DECLARE_INTERFACE (MrPlugin, mr_plugin, MR, PLUGIN, GObject)

/**
 * MrPluginInterface:
 * @g_iface: the parent interface
 * @setup: called once after construction with the owning runner; read options here
 * @start: called when the runner starts, before it accepts requests (bind ports,
 *   create containers); may be %NULL
 * @stop: called when the runner stops; may be %NULL
 * @reset: return every piece of state to the configured baseline. Required for any
 *   plugin that holds state, so that reset between tests cannot fall behind.
 * @export_state: the plugin's state as JSON, or %NULL if it has none to export
 * @import_state: replace the plugin's state with a value export_state produced
 *
 * The contract every plugin implements, whatever its kind.
 */
struct _MrPluginInterface {
  GTypeInterface g_iface;

  gboolean  (*setup)        (MrPlugin *self, MrRunner *runner, GError **error);
  gboolean  (*start)        (MrPlugin *self, GError **error);
  void      (*stop)         (MrPlugin *self);
  void      (*reset)        (MrPlugin *self);
  JsonNode *(*export_state) (MrPlugin *self);
  gboolean  (*import_state) (MrPlugin *self, JsonNode *state, GError **error);
};

gboolean  mr_plugin_setup        (MrPlugin *self, MrRunner *runner, GError **error);
gboolean  mr_plugin_start        (MrPlugin *self, GError **error);
void      mr_plugin_stop         (MrPlugin *self);
void      mr_plugin_reset        (MrPlugin *self);
JsonNode *mr_plugin_export_state (MrPlugin *self);
gboolean  mr_plugin_import_state (MrPlugin *self, JsonNode *state, GError **error);

/* Discovery and loading ------------------------------------------------------------ */

#define MR_TYPE_PLUGIN_INFO (mr_plugin_info_get_type ())

typedef struct _MrPluginInfo MrPluginInfo;

GType        mr_plugin_info_get_type (void) G_GNUC_CONST;
MrPluginInfo *mr_plugin_info_ref (MrPluginInfo *info);
void         mr_plugin_info_unref (MrPluginInfo *info);
const char  *mr_plugin_info_get_name (MrPluginInfo *info);
MrPluginKind mr_plugin_info_get_kind (MrPluginInfo *info);
const char  *mr_plugin_info_get_description (MrPluginInfo *info);
const char  *mr_plugin_info_get_filename (MrPluginInfo *info);
const MrPluginOption *mr_plugin_info_get_options (MrPluginInfo *info);
MrPlugin    *mr_plugin_info_create (MrPluginInfo *info, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrPluginInfo, mr_plugin_info_unref)

char       **mr_plugin_get_search_path (void);
MrPluginInfo *mr_plugin_load_file (const char *filename, GError **error);
GPtrArray   *mr_plugin_discover (const char * const *search_path, GPtrArray **errors);
MrPluginInfo *mr_plugin_find (const char * const *search_path, MrPluginKind kind,
                              const char *name, GError **error);

G_END_DECLS
