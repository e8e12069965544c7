/* sandbox-memory: sandboxes held in memory, with the Go mock runner's state machine
 * (runner-api.md section 5.3).
 *
 * Leniencies of the Go mock, kept by default:
 *   - GET never fails: an unknown id reads back as "destroyed";
 *   - start of an unknown id creates a minimal sandbox ("start resurrects");
 *   - stop, backup and network-settings do not check that the sandbox exists;
 *   - resize ends in "started" whatever the state before; resize of an unknown id is a 500;
 *   - any snapshot name is accepted, and create registers it as a pulled image.
 * STRICT=true answers 404 where the real runners do (Docker "no such container"):
 * start, stop, backup, resize, network-settings and recover of an unknown sandbox; and
 * resize keeps the state the sandbox had.
 *
 * The state cache of the Go mock is kept too: every state or backup write refreshes an
 * expiry CACHE_RETENTION_DAYS ahead (a GET writes back what it read), and a sandbox
 * nobody touched for that long reads back as "unknown". Expiry and timestamps read the
 * runner's clock, so a test advances it (mr_runner_advance_clock()) instead of waiting
 * days. */
#include <string.h>

#include "mock-runner.h"

#define MR_TYPE_SANDBOX_MEMORY (mr_sandbox_memory_get_type ())
G_DECLARE_FINAL_TYPE (MrSandboxMemory, mr_sandbox_memory, MR, SANDBOX_MEMORY, GObject)

typedef struct {
  MrSandbox *sandbox;
  gint64 expires_at;           /* the runner's monotonic clock, microseconds */
} Record;

struct _MrSandboxMemory {
  GObject parent_instance;
  MrRunner *runner;            /* owns us; not referenced */
  GHashTable *records;         /* id -> Record */
  gboolean strict;
  gint64 retention_us;
};

static void plugin_iface_init (MrPluginInterface *iface);
static void sandbox_iface_init (MrSandboxBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MrSandboxMemory, mr_sandbox_memory, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (MR_TYPE_PLUGIN, plugin_iface_init)
                               G_IMPLEMENT_INTERFACE (MR_TYPE_SANDBOX_BACKEND, sandbox_iface_init))

static void
record_free (Record *r)
{
  mr_sandbox_free (r->sandbox);
  g_free (r);
}

static Record *
lookup (MrSandboxMemory *self, const char *id)
{
  return id ? g_hash_table_lookup (self->records, id) : NULL;
}

static Record *
insert (MrSandboxMemory *self, MrSandbox *sandbox)
{
  Record *r = g_new0 (Record, 1);

  r->sandbox = sandbox;
  r->expires_at = mr_runner_get_monotonic_time (self->runner) + self->retention_us;
  g_hash_table_replace (self->records, g_strdup (sandbox->id), r);
  return r;
}

static void
set_state (MrSandboxMemory *self, Record *r, MrSandboxState state)
{
  MrSandboxState old = r->sandbox->state;
  g_autofree char *id = g_strdup (r->sandbox->id);

  /* every write refreshes the cache TTL (a GET writes back what it read); only a change
   * of state is an update of the sandbox */
  r->expires_at = mr_runner_get_monotonic_time (self->runner) + self->retention_us;
  if (old == state)
    return;
  r->sandbox->state = state;
  r->sandbox->updated_at = mr_runner_get_real_time (self->runner);
  mr_runner_notify_sandbox_state (self->runner, id, old, state);
}

/* The cache entry of a sandbox nobody touched for CACHE_RETENTION_DAYS has expired. */
static MrSandboxState
worked_out_state (MrSandboxMemory *self, Record *r)
{
  if (r == NULL)
    return MR_SANDBOX_STATE_DESTROYED;
  if (mr_runner_get_monotonic_time (self->runner) > r->expires_at)
    return MR_SANDBOX_STATE_UNKNOWN;
  return r->sandbox->state;
}

/* A backup write refreshes the cache entry too, as in the Go mock: the worked-out state
 * is written back (an expired entry becomes "unknown", as a GET would make it). */
static void
touch (MrSandboxMemory *self, Record *r)
{
  set_state (self, r, worked_out_state (self, r));
}

/* A sandbox record made here (not imported) is stamped with the runner's clock. */
static MrSandbox *
stamped (MrSandboxMemory *self, MrSandbox *sandbox)
{
  sandbox->created_at = sandbox->updated_at = mr_runner_get_real_time (self->runner);
  return sandbox;
}

static gboolean
not_found (GError **error, const char *id)
{
  g_set_error (error, MR_ERROR, MR_ERROR_NOT_FOUND, "sandbox container not found: no such container: %s", id);
  return FALSE;
}

static void
cancel_backup (Record *r)
{
  if (r->sandbox->backup_state == MR_BACKUP_STATE_IN_PROGRESS || r->sandbox->backup_state == MR_BACKUP_STATE_PENDING)
    r->sandbox->backup_state = MR_BACKUP_STATE_NONE;
}

/* Transitions: each ends in a callback the runner's lifecycle timing schedules. The
 * record may be gone by then (destroyed meanwhile), so they look it up again. */

typedef struct {
  MrSandboxMemory *self;
  MrSandboxState target;
} Step;

static Step *
step_new (MrSandboxMemory *self, MrSandboxState target)
{
  Step *step = g_new0 (Step, 1);

  step->self = g_object_ref (self);
  step->target = target;
  return step;
}

static void
step_free (Step *step)
{
  g_object_unref (step->self);
  g_free (step);
}

static void
complete_step (MrRunner *runner, const char *id, gpointer data)
{
  Step *step = data;
  Record *r = lookup (step->self, id);

  if (r == NULL)
    return;
  if (step->target == MR_SANDBOX_STATE_DESTROYED)
    {
      MrSandboxState old = r->sandbox->state;
      g_autofree char *copy = g_strdup (id);
      g_hash_table_remove (step->self->records, id);
      mr_runner_notify_sandbox_state (runner, copy, old, MR_SANDBOX_STATE_DESTROYED);
      return;
    }
  set_state (step->self, r, step->target);
}

static void
transition (MrSandboxMemory *self, Record *r, MrSandboxState via, MrSandboxState target)
{
  g_autofree char *id = g_strdup (r->sandbox->id);

  set_state (self, r, via);
  mr_runner_run_transition (self->runner, id, target, complete_step, step_new (self, target),
                            (GDestroyNotify) step_free);
}

static gboolean
ensure_toolbox (MrSandboxMemory *self, Record *r, GError **error)
{
  MrToolboxBackend *toolbox = mr_runner_get_toolbox_backend (self->runner);

  if (toolbox && !mr_toolbox_backend_ensure_running (toolbox, error))
    {
      set_state (self, r, MR_SANDBOX_STATE_ERROR);
      return FALSE;
    }
  return TRUE;
}

static gboolean
start_record (MrSandboxMemory *self, Record *r, GError **error)
{
  cancel_backup (r);
  set_state (self, r, MR_SANDBOX_STATE_STARTING);
  if (!ensure_toolbox (self, r, error))
    return FALSE;
  transition (self, r, MR_SANDBOX_STATE_STARTING, MR_SANDBOX_STATE_STARTED);
  return TRUE;
}

/* create: creating, then starting, then started (or stopped with skipStart) */
typedef struct {
  MrSandboxMemory *self;
  gboolean skip_start;
} CreateStep;

static void
create_step_free (CreateStep *c)
{
  g_object_unref (c->self);
  g_free (c);
}

static void
complete_create (MrRunner *runner, const char *id, gpointer data)
{
  CreateStep *c = data;
  Record *r = lookup (c->self, id);
  g_autoptr(GError) error = NULL;

  if (r == NULL || r->sandbox->state != MR_SANDBOX_STATE_CREATING)
    return;
  if (c->skip_start)
    set_state (c->self, r, MR_SANDBOX_STATE_STOPPED);
  else if (!start_record (c->self, r, &error))
    g_warning ("sandbox %s: %s", id, error->message);
}

static gboolean
memory_create (MrSandboxBackend *backend, const MrSandbox *spec, GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  Record *r = lookup (self, spec->id);
  MrSandboxState state = worked_out_state (self, r);
  MrImageBackend *images = mr_runner_get_image_backend (self->runner);
  gboolean skip_start = spec->extra && json_object_get_boolean_member_with_default (spec->extra, "skipStart", FALSE);
  CreateStep *c;

  /* idempotent, as in the Go mock */
  if (r && (state == MR_SANDBOX_STATE_STARTED || state == MR_SANDBOX_STATE_PULLING_SNAPSHOT ||
            state == MR_SANDBOX_STATE_STARTING))
    return TRUE;
  if (r && (state == MR_SANDBOX_STATE_STOPPED || state == MR_SANDBOX_STATE_CREATING))
    return skip_start ? TRUE : start_record (self, r, error);

  {
    MrSandbox *sandbox = mr_sandbox_copy (spec);
    sandbox->exists = TRUE;
    sandbox->state = MR_SANDBOX_STATE_UNKNOWN;
    sandbox->backup_state = MR_BACKUP_STATE_NONE;
    r = insert (self, stamped (self, sandbox));
  }
  set_state (self, r, MR_SANDBOX_STATE_CREATING);
  /* the mock pull: any snapshot name is accepted and becomes a known image */
  if (spec->snapshot && *spec->snapshot && images && !mr_image_backend_pull (images, spec->snapshot, error))
    {
      set_state (self, r, MR_SANDBOX_STATE_ERROR);
      return FALSE;
    }
  if (!skip_start && !ensure_toolbox (self, r, error))
    return FALSE;
  c = g_new0 (CreateStep, 1);
  c->self = g_object_ref (self);
  c->skip_start = skip_start;
  mr_runner_run_transition (self->runner, spec->id, skip_start ? MR_SANDBOX_STATE_STOPPED : MR_SANDBOX_STATE_STARTING,
                            complete_create, c, (GDestroyNotify) create_step_free);
  return TRUE;
}

static MrSandbox *
memory_get (MrSandboxBackend *backend, const char *id)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  Record *r = lookup (self, id);
  MrSandbox *copy;
  MrSandboxState state;

  if (r == NULL)
    {
      copy = mr_sandbox_new (id ? id : "");
      copy->exists = FALSE;
      copy->state = (id == NULL || *id == '\0') ? MR_SANDBOX_STATE_UNKNOWN : MR_SANDBOX_STATE_DESTROYED;
      return copy;
    }
  /* GET writes the worked-out state back, which refreshes the cache TTL */
  state = worked_out_state (self, r);
  set_state (self, r, state);
  return mr_sandbox_copy (r->sandbox);
}

static gboolean
memory_start (MrSandboxBackend *backend, const char *id, GHashTable *metadata, GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  Record *r = lookup (self, id);

  if (r == NULL)
    {
      if (self->strict)
        return not_found (error, id);
      /* the Go mock creates a minimal record for an unknown id */
      r = insert (self, stamped (self, mr_sandbox_new (id)));
    }
  if (metadata)
    {
      GHashTableIter iter;
      gpointer k, v;
      g_hash_table_iter_init (&iter, metadata);
      while (g_hash_table_iter_next (&iter, &k, &v))
        g_hash_table_replace (r->sandbox->metadata, g_strdup (k), g_strdup (v));
    }
  if (worked_out_state (self, r) == MR_SANDBOX_STATE_STARTED)
    {
      set_state (self, r, MR_SANDBOX_STATE_STARTED);
      return ensure_toolbox (self, r, error);
    }
  return start_record (self, r, error);
}

static gboolean
memory_stop (MrSandboxBackend *backend, const char *id, gboolean force, GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  Record *r = lookup (self, id);

  if (r == NULL)
    return self->strict ? not_found (error, id) : TRUE;
  if (worked_out_state (self, r) == MR_SANDBOX_STATE_STOPPED)
    return TRUE;
  cancel_backup (r);
  transition (self, r, MR_SANDBOX_STATE_STOPPING, MR_SANDBOX_STATE_STOPPED);
  return TRUE;
}

static gboolean
memory_destroy (MrSandboxBackend *backend, const char *id, GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  Record *r = lookup (self, id);
  MrSandboxState state = worked_out_state (self, r);

  /* idempotent: unknown ids count as destroyed, in every runner */
  if (r == NULL || state == MR_SANDBOX_STATE_DESTROYED || state == MR_SANDBOX_STATE_DESTROYING)
    return TRUE;
  cancel_backup (r);
  transition (self, r, MR_SANDBOX_STATE_DESTROYING, MR_SANDBOX_STATE_DESTROYED);
  return TRUE;
}

static gboolean
memory_remove (MrSandboxBackend *backend, const char *id, GError **error)
{
  return memory_destroy (backend, id, error);
}

static void
complete_backup (MrRunner *runner, const char *id, gpointer data)
{
  Step *step = data;
  Record *r = lookup (step->self, id);

  if (r && r->sandbox->backup_state == MR_BACKUP_STATE_IN_PROGRESS)
    {
      r->sandbox->backup_state = MR_BACKUP_STATE_COMPLETED;
      touch (step->self, r);
    }
}

static gboolean
memory_backup (MrSandboxBackend *backend, const char *id, const char *snapshot, GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  Record *r = lookup (self, id);

  if (r == NULL)
    return self->strict ? not_found (error, id) : TRUE;
  touch (self, r);
  r->sandbox->backup_state = MR_BACKUP_STATE_IN_PROGRESS;
  g_clear_pointer (&r->sandbox->backup_error, g_free);
  g_free (r->sandbox->backup_snapshot);
  r->sandbox->backup_snapshot = g_strdup (snapshot);
  mr_runner_run_transition (self->runner, id, r->sandbox->state, complete_backup,
                            step_new (self, r->sandbox->state), (GDestroyNotify) step_free);
  return TRUE;
}

typedef struct {
  MrSandboxMemory *self;
  MrSandboxState target;
  gint64 cpu, gpu, memory, disk;
} ResizeStep;

static void
complete_resize (MrRunner *runner, const char *id, gpointer data)
{
  ResizeStep *s = data;
  Record *r = lookup (s->self, id);

  if (r == NULL)
    return;
  if (s->cpu >= 0)
    r->sandbox->cpu = s->cpu;
  if (s->gpu >= 0)
    r->sandbox->gpu = s->gpu;
  if (s->memory >= 0)
    r->sandbox->memory = s->memory;
  if (s->disk >= 0)
    r->sandbox->disk = s->disk;
  set_state (s->self, r, s->target);
}

static void
resize_step_free (ResizeStep *s)
{
  g_object_unref (s->self);
  g_free (s);
}

static gboolean
memory_resize (MrSandboxBackend *backend, const char *id, gint64 cpu, gint64 gpu, gint64 memory, gint64 disk,
               GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  Record *r = lookup (self, id);
  ResizeStep *s;

  if (r == NULL)
    {
      if (self->strict)
        return not_found (error, id);
      g_set_error (error, MR_ERROR, MR_ERROR_FAILED, "sandbox %s not found", id);
      return FALSE;
    }
  s = g_new0 (ResizeStep, 1);
  s->self = g_object_ref (self);
  /* the Go mock ends every resize in "started"; strict keeps the state the sandbox had */
  s->target = self->strict ? worked_out_state (self, r) : MR_SANDBOX_STATE_STARTED;
  s->cpu = cpu;
  s->gpu = gpu;
  s->memory = memory;
  s->disk = disk;
  set_state (self, r, MR_SANDBOX_STATE_RESIZING);
  mr_runner_run_transition (self->runner, id, s->target, complete_resize, s, (GDestroyNotify) resize_step_free);
  return TRUE;
}

static gboolean
memory_update_network (MrSandboxBackend *backend, const char *id, JsonObject *settings, GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  Record *r = lookup (self, id);

  if (r == NULL)
    return self->strict ? not_found (error, id) : TRUE;
  /* recorded, never applied */
  if (json_object_has_member (settings, "networkBlockAll"))
    r->sandbox->network_block_all = json_object_get_boolean_member_with_default (settings, "networkBlockAll", FALSE);
  if (json_object_has_member (settings, "networkAllowList"))
    {
      g_free (r->sandbox->network_allow_list);
      r->sandbox->network_allow_list = g_strdup (json_object_get_string_member_with_default (settings, "networkAllowList", NULL));
    }
  if (json_object_has_member (settings, "networkLimitEgress"))
    r->sandbox->network_limit_egress = json_object_get_boolean_member_with_default (settings, "networkLimitEgress", FALSE);
  if (json_object_has_member (settings, "domainAllowList"))
    {
      g_free (r->sandbox->domain_allow_list);
      r->sandbox->domain_allow_list = g_strdup (json_object_get_string_member_with_default (settings, "domainAllowList", NULL));
    }
  r->sandbox->updated_at = mr_runner_get_real_time (self->runner);
  return TRUE;
}

static gboolean
memory_recover (MrSandboxBackend *backend, const char *id, const MrSandbox *spec, GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  Record *r = lookup (self, id);

  if (r == NULL)
    {
      if (self->strict)
        return not_found (error, id);
      r = insert (self, stamped (self, mr_sandbox_copy (spec)));
    }
  else
    {
      if (spec->cpu > 0)
        r->sandbox->cpu = spec->cpu;
      if (spec->memory > 0)
        r->sandbox->memory = spec->memory;
      if (spec->disk > 0)
        r->sandbox->disk = spec->disk;
    }
  g_clear_pointer (&r->sandbox->backup_error, g_free);
  return start_record (self, r, error);
}

static GPtrArray *
memory_list (MrSandboxBackend *backend)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (backend);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_sandbox_free);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Record *r = value;
      MrSandbox *copy = mr_sandbox_copy (r->sandbox);
      copy->state = worked_out_state (self, r);
      g_ptr_array_add (out, copy);
    }
  return out;
}

static void
sandbox_iface_init (MrSandboxBackendInterface *iface)
{
  iface->create = memory_create;
  iface->get = memory_get;
  iface->start = memory_start;
  iface->stop = memory_stop;
  iface->destroy = memory_destroy;
  iface->remove = memory_remove;
  iface->backup = memory_backup;
  iface->resize = memory_resize;
  iface->update_network = memory_update_network;
  iface->recover = memory_recover;
  iface->list = memory_list;
}

/* MrPlugin ------------------------------------------------------------------------ */

static gboolean
memory_setup (MrPlugin *plugin, MrRunner *runner, GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (plugin);

  self->runner = runner;
  self->strict = mr_runner_get_option_bool (runner, "STRICT", FALSE);
  /* tests do not wait days: they advance the runner's clock */
  self->retention_us = (gint64) mr_runner_get_config (runner)->cache_retention_days * G_TIME_SPAN_DAY;
  return TRUE;
}

static void
memory_reset (MrPlugin *plugin)
{
  g_hash_table_remove_all (MR_SANDBOX_MEMORY (plugin)->records);
}

static JsonNode *
memory_export (MrPlugin *plugin)
{
  g_autoptr(GPtrArray) all = memory_list (MR_SANDBOX_BACKEND (plugin));
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < all->len; i++)
    json_array_add_element (array, mr_sandbox_to_json (all->pdata[i]));
  JsonNode *node = json_node_init_array (json_node_alloc (), array);

  json_array_unref (array);
  return node;
}

static gboolean
memory_import (MrPlugin *plugin, JsonNode *state, GError **error)
{
  MrSandboxMemory *self = MR_SANDBOX_MEMORY (plugin);
  g_autoptr(GPtrArray) parsed = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_sandbox_free);
  JsonArray *array;

  if (!JSON_NODE_HOLDS_ARRAY (state))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "sandboxes must be a JSON array");
      return FALSE;
    }
  array = json_node_get_array (state);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      MrSandbox *s = mr_sandbox_from_json (json_array_get_element (array, i), error);
      if (s == NULL)
        return FALSE;
      g_ptr_array_add (parsed, s);
    }
  g_hash_table_remove_all (self->records);
  for (guint i = 0; i < parsed->len; i++)
    insert (self, g_steal_pointer (&parsed->pdata[i]));
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
mr_sandbox_memory_init (MrSandboxMemory *self)
{
  self->records = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) record_free);
  self->retention_us = 7 * G_TIME_SPAN_DAY;
}

static void
mr_sandbox_memory_finalize (GObject *object)
{
  g_hash_table_unref (MR_SANDBOX_MEMORY (object)->records);
  G_OBJECT_CLASS (mr_sandbox_memory_parent_class)->finalize (object);
}

static void
mr_sandbox_memory_class_init (MrSandboxMemoryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mr_sandbox_memory_finalize;
}

static const MrPluginOption options[] = {
  { "STRICT", "false", "Answer 404 for unknown sandboxes where the real runners do (start, stop, resize, ...)" },
  { NULL, NULL, NULL }
};

MR_PLUGIN_DEFINE ("sandbox-memory", MR_PLUGIN_KIND_SANDBOX,
                  "Sandboxes in memory, with the Go mock runner's state machine",
                  mr_sandbox_memory_get_type, options);
