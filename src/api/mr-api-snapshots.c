/* mr-api-snapshots.c: the /snapshots routes (runner-api.md section 2.12, plus the
 * June-2026 /snapshots/inspect). The image plugin holds the registry; the push and
 * naming rules of the Go runners live here. */
#include <string.h>

#include "mr-runner-private.h"
#include "mr-api-dtos.h"
#include "mr-error.h"
#include "mr-http.h"
#include "mr-util.h"

#define LOG_POLL_INTERVAL_MS 250
#define LOG_FOLLOW_GRACE_MS 1000

static void
reply_bad_request (MrExchange *ex, const char *message)
{
  g_autofree char *text = g_strconcat ("bad request: ", message, NULL);

  mr_http_reply_error (ex->msg, 400, "BAD_REQUEST", text);
}

static void
reply_error (MrExchange *ex, const char *operation, GError *error)
{
  if (operation)
    mr_runner_observe_operation (ex->runner, operation, FALSE, ex->started_us);
  mr_http_reply_gerror (ex->msg, error);
}

/* "name:tag" with a non-empty tag after the last ':' of the last path component */
static gboolean
has_valid_tag (const char *ref)
{
  const char *slash = strrchr (ref, '/');
  const char *colon = strrchr (slash ? slash : ref, ':');

  return colon != NULL && colon[1] != '\0';
}

JsonNode *mr_api_snapshot_info_json (const MrImage *image, const char *name);

/**
 * mr_api_snapshot_info_json: (skip)
 *
 * SnapshotInfoResponse: {name, sizeGB, entrypoint?, cmd?, hash?}; hash without "sha256:".
 */
JsonNode *
mr_api_snapshot_info_json (const MrImage *image, const char *name)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "sizeGB");
  json_builder_add_double_value (b, image->size_bytes / (1024.0 * 1024.0 * 1024.0));
  if (image->entrypoint && image->entrypoint[0])
    {
      json_builder_set_member_name (b, "entrypoint");
      json_builder_begin_array (b);
      for (char **s = image->entrypoint; *s; s++)
        json_builder_add_string_value (b, *s);
      json_builder_end_array (b);
    }
  if (image->cmd && image->cmd[0])
    {
      json_builder_set_member_name (b, "cmd");
      json_builder_begin_array (b);
      for (char **s = image->cmd; *s; s++)
        json_builder_add_string_value (b, *s);
      json_builder_end_array (b);
    }
  if (image->hash && *image->hash)
    {
      json_builder_set_member_name (b, "hash");
      json_builder_add_string_value (b, g_str_has_prefix (image->hash, "sha256:") ? image->hash + 7 : image->hash);
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Tags @source as @target and "pushes" it, which in a mock means checking it exists. */
static gboolean
tag_and_push (MrImageBackend *images, const char *source, const char *target, GError **error)
{
  if (!mr_image_backend_tag (images, source, target, error))
    return FALSE;
  if (!mr_image_backend_exists (images, target))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_FAILED, "image %s not found after tagging", target);
      return FALSE;
    }
  return TRUE;
}

static void
handle_pull (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_pull_snapshot_dto);
  MrImageBackend *images = mr_runner_get_image_backend (ex->runner);
  g_autoptr(GError) error = NULL;
  const char *snapshot;
  JsonObject *destination;
  const char *new_tag;

  if (body == NULL)
    return;
  snapshot = mr_dto_get_string (body, "snapshot");
  if (!mr_image_backend_pull (images, snapshot, &error))
    { reply_error (ex, "pull", error); return; }

  destination = mr_dto_get_object (body, "destinationRegistry");
  if (destination)
    {
      const char *project = mr_dto_get_string (destination, "project");
      const char *ref = mr_dto_get_string (body, "destinationRef");
      g_autofree char *target = NULL;

      if (project == NULL || *project == '\0')
        { reply_bad_request (ex, "project is required when pushing to registry"); return; }
      if (ref && *ref)
        target = g_strdup (ref);
      else
        {
          g_autofree char *normalized = mr_image_normalize_ref (snapshot);
          g_autoptr(MrImage) image = mr_image_backend_lookup (images, normalized);
          const char *hash = image && image->hash ? image->hash : "";
          target = g_strdup_printf ("%s/%s/daytona-%s:daytona", mr_dto_get_string (destination, "url"), project,
                                    g_str_has_prefix (hash, "sha256:") ? hash + 7 : hash);
        }
      if (!tag_and_push (images, snapshot, target, &error))
        { reply_error (ex, "pull", error); return; }
    }
  new_tag = mr_dto_get_string (body, "newTag");
  if (new_tag && *new_tag && !mr_image_backend_tag (images, snapshot, new_tag, &error))
    { reply_error (ex, "pull", error); return; }

  mr_runner_observe_operation (ex->runner, "pull", TRUE, ex->started_us);
  mr_http_reply_json_string (ex->msg, 200, "Snapshot pulled successfully");
}

static void
handle_build (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_build_snapshot_dto);
  MrImageBackend *images = mr_runner_get_image_backend (ex->runner);
  g_autoptr(GError) error = NULL;
  const char *snapshot;

  if (body == NULL)
    return;
  snapshot = mr_dto_get_string (body, "snapshot");
  if (snapshot == NULL || !has_valid_tag (snapshot))
    { reply_bad_request (ex, "snapshot name must include a valid tag"); return; }
  if (mr_dto_get_bool (body, "pushToInternalRegistry", FALSE))
    {
      /* the Go mock panics on a missing registry; answer the same 400 as a missing project */
      JsonObject *registry = mr_dto_get_object (body, "registry");
      const char *project = registry ? mr_dto_get_string (registry, "project") : NULL;
      if (project == NULL || *project == '\0')
        { reply_bad_request (ex, "project is required when pushing to internal registry"); return; }
    }
  if (!mr_image_backend_build (images, snapshot, mr_dto_get_string (body, "dockerfile"), &error))
    { reply_error (ex, "build", error); return; }
  if (mr_dto_get_bool (body, "pushToInternalRegistry", FALSE))
    {
      JsonObject *registry = mr_dto_get_object (body, "registry");
      g_autofree char *target = g_strdup_printf ("%s/%s/%s", mr_dto_get_string (registry, "url"),
                                                 mr_dto_get_string (registry, "project"), snapshot);
      if (!tag_and_push (images, snapshot, target, &error))
        { reply_error (ex, "build", error); return; }
    }
  mr_runner_observe_operation (ex->runner, "build", TRUE, ex->started_us);
  mr_http_reply_json_string (ex->msg, 200, "Snapshot built successfully");
}

static void
handle_tag (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_tag_image_dto);
  MrImageBackend *images = mr_runner_get_image_backend (ex->runner);
  g_autoptr(GError) error = NULL;
  const char *source, *target;

  if (body == NULL)
    return;
  source = mr_dto_get_string (body, "sourceImage");
  target = mr_dto_get_string (body, "targetImage");
  if (!mr_image_backend_exists (images, source))
    {
      g_autofree char *message = g_strdup_printf ("not found: source image not found: %s", source);
      mr_http_reply_error (ex->msg, 404, "NOT_FOUND", message);
      return;
    }
  if (!has_valid_tag (target))
    { reply_bad_request (ex, "targetImage must include a valid tag"); return; }
  if (!mr_image_backend_tag (images, source, target, &error))
    { reply_error (ex, NULL, error); return; }
  mr_http_reply_json_string (ex->msg, 200, "Image tagged successfully");
}

/* Reads the required query parameter @name, or answers 400 and returns NULL. */
static const char *
require_query (MrExchange *ex, const char *name)
{
  const char *value = mr_exchange_query (ex, name);

  if (value == NULL || *value == '\0')
    {
      g_autofree char *message = g_strdup_printf ("%s parameter is required", name);
      reply_bad_request (ex, message);
      return NULL;
    }
  return value;
}

static void
handle_exists (MrExchange *ex)
{
  const char *snapshot = require_query (ex, "snapshot");
  g_autoptr(JsonObject) reply = NULL;
  g_autoptr(JsonNode) root = NULL;

  if (snapshot == NULL)
    return;
  reply = json_object_new ();
  json_object_set_boolean_member (reply, "exists",
                                  mr_image_backend_exists (mr_runner_get_image_backend (ex->runner), snapshot));
  root = json_node_init_object (json_node_alloc (), reply);
  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_info (MrExchange *ex)
{
  const char *snapshot = require_query (ex, "snapshot");
  MrImageBackend *images = mr_runner_get_image_backend (ex->runner);
  g_autoptr(MrImage) image = NULL;
  g_autoptr(JsonNode) root = NULL;

  if (snapshot == NULL)
    return;
  if (mr_image_backend_exists (images, snapshot))
    image = mr_image_backend_lookup (images, snapshot);
  if (image == NULL)
    {
      g_autofree char *message = g_strdup_printf ("not found: snapshot not found: %s", snapshot);
      mr_http_reply_error (ex->msg, 404, "NOT_FOUND", message);
      return;
    }
  root = mr_api_snapshot_info_json (image, snapshot);
  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_remove (MrExchange *ex)
{
  const char *snapshot = require_query (ex, "snapshot");
  g_autoptr(GError) error = NULL;

  if (snapshot == NULL)
    return;
  if (!mr_image_backend_remove (mr_runner_get_image_backend (ex->runner), snapshot, &error))
    { reply_error (ex, "remove-snapshot", error); return; }
  mr_http_reply_json_string (ex->msg, 200, "Snapshot removed successfully");
}

static void
handle_inspect (MrExchange *ex)
{
  g_autoptr(JsonObject) body = mr_api_bind_body (ex, &mr_inspect_snapshot_dto);
  g_autoptr(MrImage) image = NULL;
  g_autoptr(JsonObject) reply = NULL;
  g_autoptr(JsonNode) root = NULL;
  const char *snapshot;

  if (body == NULL)
    return;
  snapshot = mr_dto_get_string (body, "snapshot");
  /* a registry lookup without pulling: known images answer their record; others look
   * like a freshly pulled image */
  image = mr_image_backend_lookup (mr_runner_get_image_backend (ex->runner), snapshot);
  if (image == NULL)
    image = mr_image_new (snapshot, 100 * 1024 * 1024);
  reply = json_object_new ();
  json_object_set_string_member (reply, "hash", g_str_has_prefix (image->hash, "sha256:") ? image->hash + 7 : image->hash);
  json_object_set_double_member (reply, "sizeGB", image->size_bytes / (1024.0 * 1024.0 * 1024.0));
  root = json_node_init_object (json_node_alloc (), reply);
  mr_http_reply_json (ex->msg, 200, root);
}

/* Build logs ----------------------------------------------------------------------- */

typedef struct {
  MrRunner *runner;
  SoupServerMessage *msg;
  char *ref;
  gsize sent;
  GSource *source;
  gint64 deadline;
  gint64 grace_until;
} LogFollow;

static void
log_follow_free (LogFollow *f)
{
  mr_source_clear (&f->source);
  g_object_unref (f->msg);
  g_free (f->ref);
  g_free (f);
}

static void
log_follow_send_new (LogFollow *f)
{
  g_autoptr(GBytes) logs = mr_image_backend_get_logs (mr_runner_get_image_backend (f->runner), f->ref);
  gsize len = logs ? g_bytes_get_size (logs) : 0;

  if (len > f->sent)
    {
      soup_message_body_append (soup_server_message_get_response_body (f->msg), SOUP_MEMORY_COPY,
                                (const char *) g_bytes_get_data (logs, NULL) + f->sent, len - f->sent);
      f->sent = len;
      soup_server_message_unpause (f->msg);
    }
}

/* The real runners follow a log until the image exists; a ref that starts with "daytona"
 * is checked with ":daytona" appended (the API asks for daytona-<hash> logs of a
 * daytona-<hash>:daytona build). */
static gboolean
build_finished (MrImageBackend *images, const char *ref)
{
  g_autofree char *tagged = NULL;

  if (mr_image_backend_exists (images, ref))
    return TRUE;
  if (!g_str_has_prefix (ref, "daytona"))
    return FALSE;
  tagged = g_strconcat (ref, ":daytona", NULL);
  return mr_image_backend_exists (images, tagged);
}

static gboolean
log_follow_poll (gpointer data)
{
  LogFollow *f = data;
  gint64 now = g_get_monotonic_time ();

  log_follow_send_new (f);
  if (f->grace_until == 0 && build_finished (mr_runner_get_image_backend (f->runner), f->ref))
    f->grace_until = now + LOG_FOLLOW_GRACE_MS * 1000;
  if ((f->grace_until && now >= f->grace_until) || now >= f->deadline)
    {
      mr_source_clear (&f->source);
      soup_message_body_complete (soup_server_message_get_response_body (f->msg));
      soup_server_message_unpause (f->msg);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
follow_logs (MrExchange *ex, const char *ref)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (ex->msg);
  LogFollow *f = g_new0 (LogFollow, 1);

  /* stream the log as it grows until the image exists, then a second of grace */
  f->runner = ex->runner;
  f->msg = g_object_ref (ex->msg);
  f->ref = g_strdup (ref);
  f->deadline = g_get_monotonic_time () +
                mr_runner_get_option_int (ex->runner, "SNAPSHOT_LOGS_FOLLOW_TIMEOUT_SEC", 600) * G_TIME_SPAN_SECOND;
  soup_server_message_set_status (ex->msg, 200, NULL);
  soup_message_headers_set_content_type (headers, "application/octet-stream", NULL);
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (ex->msg), FALSE);
  f->source = mr_timeout_add (LOG_POLL_INTERVAL_MS, log_follow_poll, f);
  g_signal_connect_swapped (ex->msg, "finished", G_CALLBACK (log_follow_free), f);
  log_follow_send_new (f);
  soup_server_message_pause (ex->msg);
}

static void
handle_logs (MrExchange *ex)
{
  const char *ref = require_query (ex, "snapshotRef");
  MrImageBackend *images = mr_runner_get_image_backend (ex->runner);
  gboolean strict = mr_runner_get_option_bool (ex->runner, "STRICT", FALSE);
  g_autoptr(GBytes) logs = NULL;

  if (ref == NULL)
    return;
  logs = mr_image_backend_get_logs (images, ref);
  if (logs == NULL)
    {
      /* every runner answers at once here, follow or not */
      if (strict)
        {
          g_autofree char *message = g_strdup_printf ("not found: build logs not found for ref: %s", ref);
          mr_http_reply_error (ex->msg, 404, "NOT_FOUND", message);
          return;
        }
      /* the Go mock's synthetic log for an image it never built */
      logs = g_bytes_new_take (g_strdup_printf ("Mock build log for %s\nBuild completed successfully.\n", ref),
                               strlen (ref) + strlen ("Mock build log for \nBuild completed successfully.\n"));
    }
  /* Only the real runners (STRICT) follow. The Go mock ignores follow; and builds here end
   * before they answer, so following could only wait for an image that was removed. */
  else if (strict && g_strcmp0 (mr_exchange_query (ex, "follow"), "true") == 0 && !build_finished (images, ref))
    {
      follow_logs (ex, ref);
      return;
    }
  mr_http_reply_bytes (ex->msg, 200, "application/octet-stream", logs);
}

static const MrRoute routes[] = {
  { "POST", "/snapshots/pull", handle_pull, NULL, 0, "snapshot-pull" },
  { "POST", "/snapshots/build", handle_build, NULL, 0, "snapshot-build" },
  { "POST", "/snapshots/tag", handle_tag, NULL, 0, "snapshot-tag" },
  { "GET", "/snapshots/exists", handle_exists, NULL, 0, "snapshot-exists" },
  { "GET", "/snapshots/info", handle_info, NULL, 0, "snapshot-info" },
  { "POST", "/snapshots/remove", handle_remove, NULL, 0, "snapshot-remove" },
  { "GET", "/snapshots/logs", handle_logs, NULL, 0, "snapshot-logs" },
  { "POST", "/snapshots/inspect", handle_inspect, NULL, 0, "snapshot-inspect" },
};

void
mr_api_register_snapshots (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
