/* mr-state.c: the runner's state as one JSON document, so that a test can start from a
 * prepared set of sandboxes and images (GET/PUT /_mock/state, export/import from Python).
 *
 *   {"version": 1, "sandboxes": [...], "images": [...]}
 *
 * Each member is what the plugin of that kind exports (sandbox -> "sandboxes", image ->
 * "images", toolbox -> "toolbox", ssh -> "ssh"); plugins without state are left out.
 * An import replaces the state of the plugins whose member is present and leaves the
 * others alone. It is all or nothing: if one plugin refuses its part, the plugins
 * already imported get their previous state back. Transitions still waiting (delay or
 * manual timing) are dropped: they belong to the state being replaced, and so does what
 * the control-plane facade remembers of the sandboxes (it is not part of the document). */
#include <string.h>

#include "mr-runner-private.h"
#include "mr-error.h"
#include "mr-http.h"

#define STATE_VERSION 1

static void
node_unref_nullable (JsonNode *node)
{
  if (node)
    json_node_unref (node);
}

static const char *
member_for (MrPlugin *plugin)
{
  if (MR_IS_SANDBOX_BACKEND (plugin))
    return "sandboxes";
  if (MR_IS_IMAGE_BACKEND (plugin))
    return "images";
  if (MR_IS_TOOLBOX_BACKEND (plugin))
    return "toolbox";
  if (MR_IS_SSH_BACKEND (plugin))
    return "ssh";
  return NULL;
}

JsonNode *
mr_state_export (MrRunner *runner)
{
  GPtrArray *plugins = mr_runner_get_plugins (runner);
  JsonObject *root = json_object_new ();
  JsonNode *node = json_node_alloc ();

  json_object_set_int_member (root, "version", STATE_VERSION);
  for (guint i = 0; i < plugins->len; i++)
    {
      const char *member = member_for (plugins->pdata[i]);
      JsonNode *state = member ? mr_plugin_export_state (plugins->pdata[i]) : NULL;
      if (state)
        json_object_set_member (root, member, state);
    }
  json_node_init_object (node, root);
  json_object_unref (root);
  return node;
}

gboolean
mr_state_import (MrRunner *runner, JsonNode *node, GError **error)
{
  static const char *const known[] = { "version", "sandboxes", "images", "toolbox", "ssh", NULL };
  GPtrArray *plugins = mr_runner_get_plugins (runner);
  g_autoptr(GPtrArray) done = g_ptr_array_new ();
  g_autoptr(GPtrArray) saved = g_ptr_array_new_with_free_func ((GDestroyNotify) node_unref_nullable);
  g_autoptr(GList) members = NULL;
  JsonObject *root;
  JsonNode *version;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "state: expected a JSON object");
      return FALSE;
    }
  root = json_node_get_object (node);
  members = json_object_get_members (root);
  for (GList *l = members; l; l = l->next)
    if (!g_strv_contains (known, l->data))
      {
        g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "state: unknown member '%s'", (char *) l->data);
        return FALSE;
      }
  version = json_object_get_member (root, "version");
  if (version && !(JSON_NODE_HOLDS_VALUE (version) && json_node_get_value_type (version) == G_TYPE_INT64 &&
                   json_node_get_int (version) == STATE_VERSION))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "state: unsupported version (expected %d)",
                   STATE_VERSION);
      return FALSE;
    }
  for (GList *l = members; l; l = l->next)
    {
      gboolean taken = strcmp (l->data, "version") == 0;
      for (guint i = 0; i < plugins->len && !taken; i++)
        taken = g_strcmp0 (member_for (plugins->pdata[i]), l->data) == 0;
      if (!taken)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "state: no loaded plugin takes '%s'",
                       (char *) l->data);
          return FALSE;
        }
    }

  mr_timing_cancel_all (mr_runner_get_timing_state (runner));
  for (guint i = 0; i < plugins->len; i++)
    {
      MrPlugin *plugin = plugins->pdata[i];
      const char *member = member_for (plugin);
      JsonNode *part = member ? json_object_get_member (root, member) : NULL;
      JsonNode *previous;
      g_autoptr(GError) local = NULL;

      if (part == NULL)
        continue;
      previous = mr_plugin_export_state (plugin);
      if (!mr_plugin_import_state (plugin, part, &local))
        {
          /* put back what was imported already */
          for (guint j = 0; j < done->len; j++)
            if (saved->pdata[j])
              mr_plugin_import_state (done->pdata[j], saved->pdata[j], NULL);
          if (previous)
            {
              mr_plugin_import_state (plugin, previous, NULL);
              json_node_unref (previous);
            }
          g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "state: %s: %s", member, local->message);
          return FALSE;
        }
      g_ptr_array_add (done, plugin);
      g_ptr_array_add (saved, previous);
    }
  /* The control-plane facade's labels, intervals and destroyed DTOs describe the sandboxes
   * just replaced; kept, they would be pinned onto imported sandboxes of the same id. */
  if (json_object_has_member (root, "sandboxes"))
    mr_api_control_plane_reset (runner);
  return TRUE;
}

/* The runner's state methods ------------------------------------------------------------ */

typedef struct {
  const char *json;
  char *text;
  GError *error;
  gboolean ok;
} StateCall;

static void
export_in_server (MrRunner *runner, gpointer data)
{
  StateCall *c = data;
  g_autoptr(JsonNode) node = mr_state_export (runner);

  c->text = mr_http_json_to_string (node);
}

/**
 * mr_runner_export_state:
 * @self: a runner
 *
 * The state of every plugin (sandboxes and images with the memory plugins) as a JSON
 * document that mr_runner_import_state() takes back (see docs/mock-api.md).
 *
 * Returns: (transfer full): the state, as JSON text
 */
char *
mr_runner_export_state (MrRunner *self)
{
  StateCall c = { 0 };

  g_return_val_if_fail (MR_IS_RUNNER (self), NULL);
  if (!mr_runner_run_on_server (self, export_in_server, &c))
    return g_strdup ("{}");
  return c.text;
}

static void
import_in_server (MrRunner *runner, gpointer data)
{
  StateCall *c = data;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;

  if (!json_parser_load_from_data (parser, c->json, -1, &local))
    {
      g_set_error (&c->error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "state: %s", local->message);
      return;
    }
  c->ok = mr_state_import (runner, json_parser_get_root (parser), &c->error);
}

/**
 * mr_runner_import_state:
 * @self: a running runner
 * @json: a state document, as mr_runner_export_state() produces
 * @error: return location for a #GError
 *
 * Replaces the state of the plugins named in @json (all or nothing). Transitions still
 * waiting are dropped.
 *
 * Returns: %TRUE on success
 */
gboolean
mr_runner_import_state (MrRunner *self, const char *json, GError **error)
{
  StateCall c = { .json = json };

  g_return_val_if_fail (MR_IS_RUNNER (self), FALSE);
  g_return_val_if_fail (json != NULL, FALSE);

  if (!mr_runner_is_running (self))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFLICT, "state: the runner is not running (its plugins are not loaded)");
      return FALSE;
    }
  if (!mr_runner_run_on_server (self, import_in_server, &c))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_TIMEOUT, "the server thread did not answer");
      return FALSE;
    }
  if (c.error)
    g_propagate_error (error, c.error);
  return c.ok;
}
