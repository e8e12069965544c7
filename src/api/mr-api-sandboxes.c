/* mr-api-sandboxes.c: the /sandboxes routes. Bodies are bound and validated here; the
 * lifecycle itself belongs to the sandbox plugin. Every operation is counted in
 * mock_runner_container_operation_total with its outcome. */
#include <string.h>

#include "mr-runner-private.h"
#include "mr-api-dtos.h"
#include "mr-error.h"
#include "mr-http.h"
#include "mr-json-writer.h"

static void
reply_daemon_version (MrExchange *ex, guint status)
{
  g_autofree char *version = mr_toolbox_backend_get_daemon_version (mr_runner_get_toolbox_backend (ex->runner));
  MrJsonWriter w;
  char *text;
  gsize len;

  mr_json_writer_init (&w);
  mr_json_writer_begin_object (&w);
  mr_json_writer_member_string (&w, "daemonVersion", version);
  mr_json_writer_end_object (&w);
  text = mr_json_writer_finish (&w, &len);
  mr_http_reply_json_text (ex->msg, status, text, len);
}

/* Ends an operation: counts it and answers the error, if any. Returns @ok. */
static gboolean
finish (MrExchange *ex, const char *operation, gboolean ok, GError **error)
{
  /* @error is a pointer so that it is read after the call in the argument list ran */
  mr_runner_observe_operation (ex->runner, operation, ok, ex->started_us);
  if (!ok)
    mr_http_reply_gerror (ex->msg, *error);
  return ok;
}

static MrSandbox *
sandbox_from_create (JsonObject *o)
{
  MrSandbox *s = mr_sandbox_new (mr_dto_get_string (o, "id"));
  static const char *const interpreted[] = {
    "id", "userId", "snapshot", "osUser", "name", "cpuQuota", "gpuQuota", "memoryQuota", "storageQuota",
    "env", "metadata", "networkBlockAll", "networkAllowList", "domainAllowList", NULL
  };
  g_autoptr(GList) members = json_object_get_members (o);

  s->user_id = g_strdup (mr_dto_get_string (o, "userId"));
  s->snapshot = g_strdup (mr_dto_get_string (o, "snapshot"));
  s->os_user = g_strdup (mr_dto_get_string (o, "osUser"));
  s->name = g_strdup (mr_dto_get_string (o, "name"));
  s->cpu = mr_dto_get_int (o, "cpuQuota", 0);
  s->gpu = mr_dto_get_int (o, "gpuQuota", 0);
  s->memory = mr_dto_get_int (o, "memoryQuota", 0);
  s->disk = mr_dto_get_int (o, "storageQuota", 0);
  g_hash_table_unref (s->env);
  s->env = mr_dto_get_string_map (o, "env");
  g_hash_table_unref (s->metadata);
  s->metadata = mr_dto_get_string_map (o, "metadata");
  s->network_block_all = mr_dto_get_bool (o, "networkBlockAll", FALSE);
  s->network_allow_list = g_strdup (mr_dto_get_string (o, "networkAllowList"));
  s->domain_allow_list = g_strdup (mr_dto_get_string (o, "domainAllowList"));

  /* keep what the runner does not interpret (entrypoint, volumes, registry, ...) */
  for (GList *l = members; l; l = l->next)
    if (!g_strv_contains (interpreted, l->data))
      {
        if (s->extra == NULL)
          s->extra = json_object_new ();
        json_object_set_member (s->extra, l->data, json_node_copy (json_object_get_member (o, l->data)));
      }
  return s;
}

static void
handle_create (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_create_sandbox_dto);
  g_autoptr(MrSandbox) spec = NULL;
  g_autoptr(GError) error = NULL;

  if (body == NULL)
    return;
  spec = sandbox_from_create (body);
  if (!finish (ex, "create", mr_sandbox_backend_create (mr_runner_get_sandbox_backend (ex->runner), spec, &error),
               &error))
    return;
  reply_daemon_version (ex, 201);
}

/* The most frequent request of all (SDKs poll it while they wait for a state): written
 * without a JSON tree (docs/performance.md). */
static void
handle_get (MrExchange *ex)
{
  g_autoptr(MrSandbox) s = mr_sandbox_backend_get (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id);
  MrJsonWriter w;
  char *text;
  gsize len;

  mr_json_writer_init (&w);
  mr_json_writer_begin_object (&w);
  mr_json_writer_member_string (&w, "state", mr_sandbox_state_to_string (s->state));
  mr_json_writer_member_string (&w, "backupState", mr_backup_state_to_string (s->backup_state));
  if (s->backup_error)
    mr_json_writer_member_string (&w, "backupError", s->backup_error);
  if (s->backup_snapshot)
    mr_json_writer_member_string (&w, "backupSnapshot", s->backup_snapshot);
  mr_json_writer_member (&w, "recoverable");
  mr_json_writer_boolean (&w, FALSE);
  if (s->state == MR_SANDBOX_STATE_STARTED)
    {
      g_autofree char *version = mr_toolbox_backend_get_daemon_version (mr_runner_get_toolbox_backend (ex->runner));
      mr_json_writer_member_string (&w, "daemonVersion", version);
    }
  mr_json_writer_end_object (&w);
  text = mr_json_writer_finish (&w, &len);
  mr_http_reply_json_text (ex->msg, 200, text, len);
}

/* The start body is a map of metadata; null is fine, an empty body is not (section 1.4). */
static gboolean
bind_metadata (MrExchange *ex, GHashTable **metadata)
{
  static const MrDtoField no_fields[] = { { NULL, NULL, 0, 0, 0, NULL } };
  static const MrDtoSchema map_schema = { "map[string]string", no_fields };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) object = mr_dto_bind (&map_schema, ex->body, FALSE, &error);
  g_autoptr(GList) members = NULL;

  if (object == NULL)
    {
      /* the body is a plain map, not a dto struct: Go names the type without a package,
       * and keeps the kind ("json: cannot unmarshal array into Go value of type map[string]string") */
      char *dto = strstr (error->message, "dto.map[string]string");
      if (dto)
        memmove (dto, dto + strlen ("dto."), strlen (dto + strlen ("dto.")) + 1);
      mr_http_reply_gerror (ex->msg, error);
      return FALSE;
    }
  members = json_object_get_members (object);
  for (GList *l = members; l; l = l->next)
    {
      JsonNode *v = json_object_get_member (object, l->data);
      if (!JSON_NODE_HOLDS_NULL (v) &&
          !(JSON_NODE_HOLDS_VALUE (v) && json_node_get_value_type (v) == G_TYPE_STRING))
        {
          g_set_error (&error, MR_ERROR, MR_ERROR_INVALID_BODY,
                       "json: cannot unmarshal %s into Go value of type string",
                       JSON_NODE_HOLDS_OBJECT (v) ? "object" : JSON_NODE_HOLDS_ARRAY (v) ? "array"
                       : json_node_get_value_type (v) == G_TYPE_BOOLEAN ? "bool" : "number");
          mr_http_reply_gerror (ex->msg, error);
          return FALSE;
        }
    }
  *metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (GList *l = members; l; l = l->next)
    {
      JsonNode *v = json_object_get_member (object, l->data);
      g_hash_table_insert (*metadata, g_strdup (l->data),
                           g_strdup (JSON_NODE_HOLDS_NULL (v) ? "" : json_node_get_string (v)));
    }
  return TRUE;
}

static void
handle_start (MrExchange *ex)
{
  g_autoptr(GHashTable) metadata = NULL;
  g_autoptr(GError) error = NULL;
  const char *token = mr_exchange_query (ex, "token");

  if (!bind_metadata (ex, &metadata))
    return;
  if (token && *token)
    g_hash_table_insert (metadata, g_strdup ("authToken"), g_strdup (token));
  if (!finish (ex, "start",
               mr_sandbox_backend_start (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id, metadata, &error),
               &error))
    return;
  reply_daemon_version (ex, 200);
}

static void
handle_stop (MrExchange *ex)
{
  g_autoptr(GError) error = NULL;
  /* the June-2026 runner ignores bind errors and an empty body here */
  g_autoptr(JsonObject) body = mr_dto_bind (&mr_stop_sandbox_dto, ex->body, FALSE, NULL);
  gboolean force = body ? mr_dto_get_bool (body, "force", FALSE) : FALSE;

  if (!finish (ex, "stop",
               mr_sandbox_backend_stop (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id, force, &error),
               &error))
    return;
  mr_http_reply_json_string (ex->msg, 200, "Sandbox stopped");
}

static void
handle_destroy (MrExchange *ex)
{
  g_autoptr(GError) error = NULL;

  if (!finish (ex, "destroy",
               mr_sandbox_backend_destroy (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id, &error),
               &error))
    return;
  mr_http_reply_json_string (ex->msg, 200, "Sandbox destroyed");
}

static void
handle_remove (MrExchange *ex)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = mr_sandbox_backend_remove (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id, &error);

  /* errors that say "not found" are swallowed, as the runners do */
  if (!ok && (g_error_matches (error, MR_ERROR, MR_ERROR_NOT_FOUND) || strstr (error->message, "not found")))
    {
      ok = TRUE;
      g_clear_error (&error);
    }
  if (!finish (ex, "remove", ok, &error))
    return;
  mr_http_reply_json_string (ex->msg, 200, "Sandbox removed");
}

static void
handle_backup (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_create_backup_dto);
  g_autoptr(GError) error = NULL;

  if (body == NULL)
    return;
  if (!finish (ex, "backup",
               mr_sandbox_backend_backup (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id,
                                          mr_dto_get_string (body, "snapshot"), &error),
               &error))
    return;
  mr_http_reply_json_string (ex->msg, 201, "Backup started");
}

static void
handle_resize (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_resize_sandbox_dto);
  g_autoptr(GError) error = NULL;
  gint64 cpu, gpu, memory, disk;

  if (body == NULL)
    return;
  /* 0 or absent leaves a quota unchanged (June 2026); gpu 0 is a real value when sent */
  cpu = mr_dto_get_int (body, "cpu", 0);
  memory = mr_dto_get_int (body, "memory", 0);
  disk = mr_dto_get_int (body, "disk", 0);
  gpu = mr_dto_has (body, "gpu") ? mr_dto_get_int (body, "gpu", 0) : -1;
  if (!finish (ex, "resize",
               mr_sandbox_backend_resize (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id,
                                          cpu > 0 ? cpu : -1, gpu, memory > 0 ? memory : -1,
                                          disk > 0 ? disk : -1, &error),
               &error))
    return;
  mr_http_reply_json_string (ex->msg, 200, "Sandbox resized");
}

static void
handle_network_settings (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_network_settings_dto);
  g_autoptr(GError) error = NULL;

  if (body == NULL)
    return;
  if (!finish (ex, "network-settings",
               mr_sandbox_backend_update_network (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id,
                                                  body, &error),
               &error))
    return;
  mr_http_reply_json_string (ex->msg, 200, "Network settings updated");
}

static void
handle_recover (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_recover_sandbox_dto);
  g_autoptr(MrSandbox) spec = NULL;
  g_autoptr(GError) error = NULL;

  if (body == NULL)
    return;
  json_object_set_string_member (body, "id", ex->sandbox_id);
  spec = sandbox_from_create (body);
  if (!finish (ex, "recover",
               mr_sandbox_backend_recover (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id, spec, &error),
               &error))
    return;
  mr_http_reply_json_string (ex->msg, 200, "Sandbox recovered");
}

static gboolean
is_recoverable_reason (const char *reason)
{
  static const char *const phrases[] = { "no space left on device", "storage limit", "disk quota exceeded" };
  g_autofree char *lower = g_ascii_strdown (reason, -1);

  for (guint i = 0; i < G_N_ELEMENTS (phrases); i++)
    if (strstr (lower, phrases[i]))
      return TRUE;
  return FALSE;
}

static void
handle_is_recoverable (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_is_recoverable_dto);
  g_autoptr(JsonObject) reply = NULL;
  g_autoptr(JsonNode) root = NULL;

  if (body == NULL)
    return;
  reply = json_object_new ();
  json_object_set_boolean_member (reply, "recoverable", is_recoverable_reason (mr_dto_get_string (body, "errorReason")));
  root = json_node_init_object (json_node_alloc (), reply);
  mr_http_reply_json (ex->msg, 200, root);
}

/* Shared with the snapshot routes: {name, sizeGB, entrypoint?, cmd?, hash?}. */
JsonNode *mr_api_snapshot_info_json (const MrImage *image, const char *name);

static void
handle_snapshot_from_sandbox (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_snapshot_from_sandbox_dto);
  MrSandboxBackend *sandboxes = mr_runner_get_sandbox_backend (ex->runner);
  g_autoptr(MrSandbox) sandbox = NULL;
  g_autoptr(MrImage) image = NULL;
  g_autoptr(MrImage) source = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;

  if (body == NULL)
    return;
  if (mr_dto_get_object (body, "registry") == NULL)
    {
      g_set_error (&error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "registry is required for sandbox snapshot");
      finish (ex, "snapshot", FALSE, &error);
      return;
    }
  sandbox = mr_sandbox_backend_get (sandboxes, ex->sandbox_id);
  if (!sandbox->exists && mr_runner_get_option_bool (ex->runner, "STRICT", FALSE))
    {
      g_set_error (&error, MR_ERROR, MR_ERROR_NOT_FOUND, "sandbox container not found: %s", ex->sandbox_id);
      finish (ex, "snapshot", FALSE, &error);
      return;
    }
  source = sandbox->snapshot ? mr_image_backend_lookup (mr_runner_get_image_backend (ex->runner), sandbox->snapshot)
                             : NULL;
  image = mr_image_new (mr_dto_get_string (body, "name"), source ? source->size_bytes : 100 * 1024 * 1024);
  if (source)
    {
      image->entrypoint = g_strdupv (source->entrypoint);
      image->cmd = g_strdupv (source->cmd);
    }
  if (!finish (ex, "snapshot", mr_image_backend_add (mr_runner_get_image_backend (ex->runner), image, &error), &error))
    return;
  root = mr_api_snapshot_info_json (image, image->ref);
  mr_http_reply_json (ex->msg, 200, root);
}

static const MrRoute routes[] = {
  { "POST", "/sandboxes", handle_create, NULL, 0, "create" },
  { "GET", "/sandboxes/{id}", handle_get, NULL, 0, "info" },
  { "DELETE", "/sandboxes/{id}", handle_remove, NULL, 0, "remove" },
  { "POST", "/sandboxes/{id}/start", handle_start, NULL, 0, "start" },
  { "POST", "/sandboxes/{id}/stop", handle_stop, NULL, 0, "stop" },
  { "POST", "/sandboxes/{id}/destroy", handle_destroy, NULL, 0, "destroy" },
  { "POST", "/sandboxes/{id}/backup", handle_backup, NULL, 0, "backup" },
  { "POST", "/sandboxes/{id}/resize", handle_resize, NULL, 0, "resize" },
  { "POST", "/sandboxes/{id}/network-settings", handle_network_settings, NULL, 0, "network-settings" },
  { "POST", "/sandboxes/{id}/recover", handle_recover, NULL, 0, "recover" },
  { "POST", "/sandboxes/{id}/is-recoverable", handle_is_recoverable, NULL, 0, "is-recoverable" },
  { "POST", "/sandboxes/{id}/snapshot-from-sandbox", handle_snapshot_from_sandbox, NULL, 0, "snapshot-from-sandbox" },
};

void
mr_api_register_sandboxes (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
