/* sandbox-skeleton: a sandbox plugin to copy when writing your own.
 *
 * Copy this folder, rename the type, the descriptor name and the file, and fill in the
 * TODOs. A plugin is one shared module that exports `mr_plugin_descriptor`
 * (MR_PLUGIN_DEFINE below) and one GObject type implementing MrPlugin and the interface
 * of its kind: MrSandboxBackend here; MrImageBackend, MrToolboxBackend or MrSshBackend
 * for the other kinds. Select it with SANDBOX_BACKEND=sandbox-skeleton (or the
 * "sandbox-backend" property from Python) and put its folder on MOCK_RUNNER_PLUGIN_PATH.
 *
 * This skeleton keeps a plain table of id -> state. Everything runs on the runner's
 * server thread, so no locking is needed. */
#include "mock-runner.h"

#define MR_TYPE_SANDBOX_SKELETON (mr_sandbox_skeleton_get_type ())
G_DECLARE_FINAL_TYPE (MrSandboxSkeleton, mr_sandbox_skeleton, MR, SANDBOX_SKELETON, GObject)

struct _MrSandboxSkeleton {
  GObject parent_instance;
  MrRunner *runner;          /* the runner owns the plugin: do not reference it */
  GHashTable *sandboxes;     /* id -> MrSandbox */
};

static void plugin_iface_init (MrPluginInterface *iface);
static void sandbox_iface_init (MrSandboxBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MrSandboxSkeleton, mr_sandbox_skeleton, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (MR_TYPE_PLUGIN, plugin_iface_init)
                               G_IMPLEMENT_INTERFACE (MR_TYPE_SANDBOX_BACKEND, sandbox_iface_init))

/* Changes the state and tells the runner, which emits "sandbox-state-changed". */
static void
set_state (MrSandboxSkeleton *self, MrSandbox *sandbox, MrSandboxState state)
{
  MrSandboxState old = sandbox->state;

  sandbox->state = state;
  mr_runner_notify_sandbox_state (self->runner, sandbox->id, old, state);
}

static MrSandbox *
require (MrSandboxSkeleton *self, const char *id, GError **error)
{
  MrSandbox *sandbox = g_hash_table_lookup (self->sandboxes, id);

  if (sandbox == NULL)
    g_set_error (error, MR_ERROR, MR_ERROR_NOT_FOUND, "sandbox %s not found", id);  /* answered as 404 */
  return sandbox;
}

static gboolean
skeleton_create (MrSandboxBackend *backend, const MrSandbox *spec, GError **error)
{
  MrSandboxSkeleton *self = MR_SANDBOX_SKELETON (backend);
  MrSandbox *sandbox = mr_sandbox_copy (spec);

  /* TODO: create the real thing here */
  sandbox->state = MR_SANDBOX_STATE_UNKNOWN;
  g_hash_table_replace (self->sandboxes, g_strdup (spec->id), sandbox);
  set_state (self, sandbox, MR_SANDBOX_STATE_STARTED);
  return TRUE;
}

static MrSandbox *
skeleton_get (MrSandboxBackend *backend, const char *id)
{
  MrSandboxSkeleton *self = MR_SANDBOX_SKELETON (backend);
  MrSandbox *sandbox = g_hash_table_lookup (self->sandboxes, id);
  MrSandbox *copy;

  if (sandbox)
    return mr_sandbox_copy (sandbox);
  /* runners report ids they do not know as destroyed */
  copy = mr_sandbox_new (id);
  copy->exists = FALSE;
  copy->state = MR_SANDBOX_STATE_DESTROYED;
  return copy;
}

static gboolean
skeleton_start (MrSandboxBackend *backend, const char *id, GHashTable *metadata, GError **error)
{
  MrSandboxSkeleton *self = MR_SANDBOX_SKELETON (backend);
  MrSandbox *sandbox = require (self, id, error);

  if (sandbox == NULL)
    return FALSE;
  set_state (self, sandbox, MR_SANDBOX_STATE_STARTED);
  return TRUE;
}

static gboolean
skeleton_stop (MrSandboxBackend *backend, const char *id, gboolean force, GError **error)
{
  MrSandboxSkeleton *self = MR_SANDBOX_SKELETON (backend);
  MrSandbox *sandbox = require (self, id, error);

  if (sandbox == NULL)
    return FALSE;
  set_state (self, sandbox, MR_SANDBOX_STATE_STOPPED);
  return TRUE;
}

static gboolean
skeleton_destroy (MrSandboxBackend *backend, const char *id, GError **error)
{
  MrSandboxSkeleton *self = MR_SANDBOX_SKELETON (backend);
  MrSandbox *sandbox = g_hash_table_lookup (self->sandboxes, id);

  if (sandbox)
    {
      set_state (self, sandbox, MR_SANDBOX_STATE_DESTROYED);
      g_hash_table_remove (self->sandboxes, id);
    }
  return TRUE;   /* destroying twice is fine */
}

static GPtrArray *
skeleton_list (MrSandboxBackend *backend)
{
  MrSandboxSkeleton *self = MR_SANDBOX_SKELETON (backend);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_sandbox_free);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->sandboxes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (out, mr_sandbox_copy (value));
  return out;
}

static void
sandbox_iface_init (MrSandboxBackendInterface *iface)
{
  iface->create = skeleton_create;
  iface->get = skeleton_get;
  iface->start = skeleton_start;
  iface->stop = skeleton_stop;
  iface->destroy = skeleton_destroy;
  iface->list = skeleton_list;
  /* optional: remove, backup, resize, update_network, recover */
}

static gboolean
skeleton_setup (MrPlugin *plugin, MrRunner *runner, GError **error)
{
  MR_SANDBOX_SKELETON (plugin)->runner = runner;
  /* read options with mr_runner_get_option (runner, "SKELETON_...") here */
  return TRUE;
}

/* Every plugin that holds state implements reset: it is what runs between tests. */
static void
skeleton_reset (MrPlugin *plugin)
{
  g_hash_table_remove_all (MR_SANDBOX_SKELETON (plugin)->sandboxes);
}

static void
plugin_iface_init (MrPluginInterface *iface)
{
  iface->setup = skeleton_setup;
  iface->reset = skeleton_reset;
}

static void
mr_sandbox_skeleton_init (MrSandboxSkeleton *self)
{
  self->sandboxes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) mr_sandbox_free);
}

static void
mr_sandbox_skeleton_finalize (GObject *object)
{
  g_hash_table_unref (MR_SANDBOX_SKELETON (object)->sandboxes);
  G_OBJECT_CLASS (mr_sandbox_skeleton_parent_class)->finalize (object);
}

static void
mr_sandbox_skeleton_class_init (MrSandboxSkeletonClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mr_sandbox_skeleton_finalize;
}

static const MrPluginOption options[] = {
  { NULL, NULL, NULL }
};

MR_PLUGIN_DEFINE ("sandbox-skeleton", MR_PLUGIN_KIND_SANDBOX,
                  "A minimal sandbox plugin to copy when writing your own",
                  mr_sandbox_skeleton_get_type, options);
