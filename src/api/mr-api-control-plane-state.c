/* mr-api-control-plane-state.c: the facade's per-runner table, sandbox id -> MrCpEntry.
 *
 * It lives on the runner object (no global state: two runners never share it), is only
 * touched on the server thread, and is emptied by mr_runner_reset() through
 * mr_api_control_plane_reset(). */
#include "mr-api-control-plane.h"

#define TABLE_KEY "mr-control-plane-entries"

static void
entry_free (MrCpEntry *e)
{
  g_clear_pointer (&e->meta, json_object_unref);
  g_clear_pointer (&e->last_dto, json_object_unref);
  g_free (e);
}

static GHashTable *
table (MrRunner *runner, gboolean create)
{
  GHashTable *t = g_object_get_data (G_OBJECT (runner), TABLE_KEY);

  if (t == NULL && create)
    {
      t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) entry_free);
      g_object_set_data_full (G_OBJECT (runner), TABLE_KEY, t, (GDestroyNotify) g_hash_table_unref);
    }
  return t;
}

/* Returns: (transfer none) (nullable): what the facade knows of @id */
MrCpEntry *
mr_cp_entry_lookup (MrRunner *runner, const char *id)
{
  GHashTable *t = table (runner, FALSE);

  return t && id ? g_hash_table_lookup (t, id) : NULL;
}

/* Returns: (transfer none): the entry of @id, created empty if needed */
MrCpEntry *
mr_cp_entry_ensure (MrRunner *runner, const char *id)
{
  GHashTable *t = table (runner, TRUE);
  MrCpEntry *e = g_hash_table_lookup (t, id);

  if (e == NULL)
    {
      e = g_new0 (MrCpEntry, 1);
      e->meta = json_object_new ();
      g_hash_table_insert (t, g_strdup (id), e);
    }
  return e;
}

/* Returns: (transfer container) (element-type utf8): the ids the facade has an entry for */
GList *
mr_cp_entry_ids (MrRunner *runner)
{
  GHashTable *t = table (runner, FALSE);

  return t ? g_hash_table_get_keys (t) : NULL;
}

/**
 * mr_api_control_plane_reset: (skip)
 * @runner: the runner
 *
 * Forgets every label, interval and destroyed sandbox the facade remembers; the runner
 * calls it from mr_runner_reset(), after the plugins have been reset.
 */
void
mr_api_control_plane_reset (MrRunner *runner)
{
  GHashTable *t = table (runner, FALSE);

  if (t)
    g_hash_table_remove_all (t);
}
