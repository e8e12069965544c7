/* mr-api-control-plane.c: the control-plane facade's routes (official-clients.md 4.3, 4.4).
 *
 * Under CONTROL_PLANE_PREFIX (default /api; empty or "off" turns the facade off):
 *   POST   {p}/sandbox                       create
 *   GET    {p}/sandbox                       list, cursor-paginated ({items, nextCursor})
 *   GET    {p}/sandbox/paginated             list, page-paginated (SDK <= 0.17x)
 *   GET    {p}/sandbox/{idOrName}            get
 *   DELETE {p}/sandbox/{idOrName}            delete (destroy)
 *   POST   {p}/sandbox/{idOrName}/start|stop
 *   GET    {p}/sandbox/{idOrName}/toolbox-proxy-url
 *   PUT    {p}/sandbox/{idOrName}/labels
 *   POST   {p}/sandbox/{idOrName}/autostop|autoarchive|autodelete/{interval}
 *   GET    {p}/config                        (public, as in the API)
 *   GET    {p}/socket.io/                    the SDK's event stream: refused at once
 *   ANY    {p}/toolbox/{id}/toolbox/{path}   toolbox, SDK <= 0.108
 *   ANY    /toolbox/{id}/{path}              toolbox, SDK >= 0.115 (the DTO's toolboxProxyUrl)
 *
 * The prefix is one path segment, read at request time (the runner's routes are fixed
 * at construction, its settings are not): the routes match any first segment and
 * answer the runner's own 404 when it is not the configured one. They are registered
 * after every runner route, which therefore always win.
 *
 * Lifecycle goes through the sandbox plugin exactly as the runner API does, so both
 * APIs report the same states and /info counts the sandboxes. The toolbox routes hand
 * over to the same toolbox dispatch as /sandboxes/{id}/toolbox, with the prefix the
 * client used, so redirects stay under it. Credentials: the SDK's API key is the
 * runner token, or CONTROL_PLANE_API_KEY when that is set. */
#include <stdlib.h>
#include <string.h>

#include "mr-api-control-plane.h"
#include "mr-error.h"
#include "mr-http.h"

#define LIST_DEFAULT_LIMIT 100
#define LIST_MAX_LIMIT 200
/* SDKs before 0.180 read GET /sandbox as a plain array; later ones as {items, nextCursor} */
#define CURSOR_LIST_SDK_MINOR 180

/* Errors ----------------------------------------------------------------------------- */

/**
 * mr_cp_reply_error: (skip)
 * @ex: the request
 * @status: HTTP status
 * @message: what went wrong
 *
 * Answers in the API's error shape, {statusCode, message, error, ...}: the SDKs raise the
 * error class of the status (404: DaytonaNotFoundError) with the message field.
 */
void
mr_cp_reply_error (MrExchange *ex, guint status, const char *message)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *timestamp = mr_cp_format_time (0);

  json_object_set_int_member (o, "statusCode", status);
  json_object_set_string_member (o, "message", message);
  json_object_set_string_member (o, "error", soup_status_get_phrase (status));
  json_object_set_string_member (o, "timestamp", timestamp);
  json_object_set_string_member (o, "path", g_uri_get_path (soup_server_message_get_uri (ex->msg)));
  json_object_set_string_member (o, "method", soup_server_message_get_method (ex->msg));
  root = json_node_init_object (json_node_alloc (), o);
  mr_http_reply_json (ex->msg, status, root);
}

static void
reply_gerror (MrExchange *ex, const GError *error)
{
  g_autofree char *message = g_strconcat (mr_error_message_prefix (error), error->message, NULL);

  mr_cp_reply_error (ex, mr_error_http_status (error), message);
}

static void
reply_object (MrExchange *ex, guint status, JsonObject *o)
{
  g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), o);

  mr_http_reply_json (ex->msg, status, root);
}

/* Admission: prefix and credentials ---------------------------------------------------- */

/* Returns: (transfer full) (nullable): the configured prefix as one segment, or NULL when
 * the facade is off */
static char *
configured_prefix (MrRunner *runner)
{
  const char *value = mr_runner_get_option (runner, "CONTROL_PLANE_PREFIX");
  g_autofree char *trimmed = NULL;

  if (value == NULL)
    value = MR_CP_DEFAULT_PREFIX;
  trimmed = g_strstrip (g_strdup (value));
  if (*trimmed == '\0' || g_ascii_strcasecmp (trimmed, "off") == 0 || g_ascii_strcasecmp (trimmed, "false") == 0 ||
      g_ascii_strcasecmp (trimmed, "none") == 0)
    return NULL;
  /* "/api", "api" and "/api/" name the same segment */
  {
    const char *start = trimmed;
    gsize len;
    while (*start == '/')
      start++;
    len = strlen (start);
    while (len > 0 && start[len - 1] == '/')
      len--;
    return len ? g_strndup (start, len) : NULL;
  }
}

/**
 * mr_api_control_plane_check_options: (skip)
 * @runner: a runner about to start
 * @error: return location for a #GError
 *
 * A prefix of more than one segment would never match a request: refused at start, so
 * that a misspelt setting does not silently turn the facade off.
 *
 * Returns: %FALSE with @error (MR_ERROR_CONFIG) if CONTROL_PLANE_PREFIX is unusable
 */
gboolean
mr_api_control_plane_check_options (MrRunner *runner, GError **error)
{
  g_autofree char *prefix = configured_prefix (runner);

  if (prefix && strchr (prefix, '/'))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid value for CONTROL_PLANE_PREFIX: '%s' (expected one "
                   "path segment such as /api, or off)", mr_runner_get_option (runner, "CONTROL_PLANE_PREFIX"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
secret_equal (const char *given, const char *expected)
{
  /* constant time in the length of the expected secret */
  gsize lg = strlen (given), le = strlen (expected);
  guint8 diff = lg != le;

  for (gsize i = 0; i < le; i++)
    diff |= (guint8) (expected[i] ^ (i < lg ? given[i] : 0));
  return diff == 0;
}

static gboolean
authorized (MrExchange *ex)
{
  const char *value = soup_message_headers_get_one (soup_server_message_get_request_headers (ex->msg),
                                                    "Authorization");
  const char *key = mr_runner_get_option (ex->runner, "CONTROL_PLANE_API_KEY");
  const char *token;

  if (value == NULL || g_ascii_strncasecmp (value, "Bearer ", 7) != 0)
    return FALSE;
  token = value + 7;
  return secret_equal (token, mr_runner_get_token (ex->runner)) || (key && *key && secret_equal (token, key));
}

static void
discard_body (MrExchange *ex)
{
  soup_message_body_set_accumulate (soup_server_message_get_request_body (ex->msg), FALSE);
}

/* Lets the request through, or answers it: the runner's 404 when the facade is off or the
 * first segment is not the prefix (as if the route did not exist), 401 without the key. */
static gboolean
admit (MrExchange *ex, gboolean has_prefix_param, gboolean need_auth)
{
  g_autofree char *prefix = configured_prefix (ex->runner);

  if (prefix == NULL || (has_prefix_param && g_strcmp0 (mr_exchange_param (ex, "cp"), prefix) != 0))
    {
      g_autofree char *message = g_strdup_printf ("not found: no route for %s %s",
                                                  soup_server_message_get_method (ex->msg),
                                                  g_uri_get_path (soup_server_message_get_uri (ex->msg)));
      discard_body (ex);
      mr_http_reply_error (ex->msg, 404, "NOT_FOUND", message);
      return FALSE;
    }
  if (need_auth && !authorized (ex))
    {
      discard_body (ex);
      mr_cp_reply_error (ex, 401, "Unauthorized");
      return FALSE;
    }
  return TRUE;
}

static void
early_authenticated (MrExchange *ex)
{
  admit (ex, TRUE, TRUE);
}

static void
early_public (MrExchange *ex)
{
  admit (ex, TRUE, FALSE);
}

/* Finding sandboxes -------------------------------------------------------------------- */

static MrSandboxBackend *
sandboxes (MrExchange *ex)
{
  return mr_runner_get_sandbox_backend (ex->runner);
}

static gboolean
is_live (const MrSandbox *s)
{
  return s->exists && s->state != MR_SANDBOX_STATE_DESTROYED;
}

/* A live sandbox named @name, if any. */
static MrSandbox *
find_by_name (MrExchange *ex, const char *name)
{
  g_autoptr(GPtrArray) all = mr_sandbox_backend_list (sandboxes (ex));

  for (guint i = 0; i < all->len; i++)
    {
      MrSandbox *s = all->pdata[i];
      if (s->state != MR_SANDBOX_STATE_DESTROYED && g_strcmp0 (s->name, name) == 0)
        return mr_sandbox_backend_get (sandboxes (ex), s->id);
    }
  return NULL;
}

/* A sandbox the facade described that the plugin no longer holds, by id or by name. */
static char *
find_gone (MrExchange *ex, const char *key)
{
  g_autoptr(GList) ids = NULL;
  MrCpEntry *e = mr_cp_entry_lookup (ex->runner, key);

  if (e && e->last_dto)
    return g_strdup (key);
  ids = mr_cp_entry_ids (ex->runner);
  for (GList *l = ids; l; l = l->next)
    {
      e = mr_cp_entry_lookup (ex->runner, l->data);
      if (e->last_dto && g_strcmp0 (json_object_get_string_member_with_default (e->last_dto, "name", NULL), key) == 0)
        {
          g_autoptr(MrSandbox) s = mr_sandbox_backend_get (sandboxes (ex), l->data);
          if (!s->exists)
            return g_strdup (l->data);
        }
    }
  return NULL;
}

/* Resolves the {id} of the route (a sandbox id or name). On success exactly one of
 * @sandbox (a record the plugin holds) and @gone_id (a destroyed sandbox the facade
 * remembers) is set; otherwise it answered 404. */
static gboolean
resolve (MrExchange *ex, MrSandbox **sandbox, char **gone_id)
{
  const char *key = mr_exchange_param (ex, "id");
  g_autoptr(MrSandbox) s = mr_sandbox_backend_get (sandboxes (ex), key);
  g_autofree char *message = NULL;

  *sandbox = NULL;
  *gone_id = NULL;
  if (s->exists)
    {
      *sandbox = g_steal_pointer (&s);
      return TRUE;
    }
  if ((*sandbox = find_by_name (ex, key)) != NULL)
    return TRUE;
  if ((*gone_id = find_gone (ex, key)) != NULL)
    return TRUE;
  message = g_strdup_printf ("Sandbox with ID or name %s not found", key);
  mr_cp_reply_error (ex, 404, message);
  return FALSE;
}

/* Like resolve(), for operations that need a sandbox that still exists (400 otherwise). */
static MrSandbox *
resolve_live (MrExchange *ex)
{
  MrSandbox *s = NULL;
  g_autofree char *gone = NULL;

  if (!resolve (ex, &s, &gone))
    return NULL;
  if (s == NULL || !is_live (s))
    {
      g_autofree char *message = g_strdup_printf ("Sandbox %s is destroyed", s ? s->id : gone);
      g_clear_pointer (&s, mr_sandbox_free);
      mr_cp_reply_error (ex, 400, message);
      return NULL;
    }
  return s;
}

/* Answers the current DTO of @id: the plugin's record, or the remembered one as destroyed. */
static void
reply_current (MrExchange *ex, const char *id, guint status)
{
  g_autoptr(MrSandbox) s = mr_sandbox_backend_get (sandboxes (ex), id);
  g_autoptr(JsonObject) dto = s->exists ? mr_cp_sandbox_dto (ex, s) : mr_cp_destroyed_dto (ex, id);

  if (dto == NULL)
    {
      g_autofree char *message = g_strdup_printf ("Sandbox with ID or name %s not found", id);
      mr_cp_reply_error (ex, 404, message);
      return;
    }
  reply_object (ex, status, dto);
}

/* Sandbox routes -------------------------------------------------------------------------- */

static void
handle_create (MrExchange *ex)
{
  g_autofree char *message = NULL;
  g_autoptr(JsonObject) body = mr_cp_parse_object (ex->body, TRUE, &message);
  g_autoptr(JsonObject) meta = json_object_new ();
  g_autoptr(MrSandbox) spec = NULL;
  g_autoptr(MrSandbox) clash = NULL;
  g_autoptr(GError) error = NULL;
  MrCpEntry *entry;
  gboolean ok;

  if (body == NULL || (spec = mr_cp_spec_from_create (ex, body, meta, &message)) == NULL)
    {
      mr_cp_reply_error (ex, 400, message);
      return;
    }
  if ((clash = find_by_name (ex, spec->name)) != NULL)
    {
      g_free (message);
      message = g_strdup_printf ("Sandbox with name %s already exists", spec->name);
      mr_cp_reply_error (ex, 409, message);
      return;
    }
  /* the entry first: a plugin that answers at once already has a DTO to describe */
  entry = mr_cp_entry_ensure (ex->runner, spec->id);
  json_object_unref (entry->meta);
  entry->meta = json_object_ref (meta);
  ok = mr_sandbox_backend_create (sandboxes (ex), spec, &error);
  mr_runner_observe_operation (ex->runner, "create", ok, ex->started_us);
  if (!ok)
    {
      reply_gerror (ex, error);
      return;
    }
  reply_current (ex, spec->id, 200);
}

static void
handle_get (MrExchange *ex)
{
  g_autoptr(MrSandbox) s = NULL;
  g_autofree char *gone = NULL;

  if (!resolve (ex, &s, &gone))
    return;
  reply_current (ex, s ? s->id : gone, 200);
}

static void
handle_start (MrExchange *ex)
{
  g_autoptr(MrSandbox) s = resolve_live (ex);
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (s == NULL)
    return;
  ok = mr_sandbox_backend_start (sandboxes (ex), s->id, NULL, &error);
  mr_runner_observe_operation (ex->runner, "start", ok, ex->started_us);
  if (!ok)
    reply_gerror (ex, error);
  else
    reply_current (ex, s->id, 200);
}

static void
handle_stop (MrExchange *ex)
{
  g_autoptr(MrSandbox) s = resolve_live (ex);
  g_autoptr(GError) error = NULL;
  gboolean force = g_strcmp0 (mr_exchange_query (ex, "force"), "true") == 0;
  gboolean ok;

  if (s == NULL)
    return;
  ok = mr_sandbox_backend_stop (sandboxes (ex), s->id, force, &error);
  mr_runner_observe_operation (ex->runner, "stop", ok, ex->started_us);
  if (!ok)
    reply_gerror (ex, error);
  else
    reply_current (ex, s->id, 200);
}

static void
handle_delete (MrExchange *ex)
{
  g_autoptr(MrSandbox) s = NULL;
  g_autofree char *gone = NULL;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (!resolve (ex, &s, &gone))
    return;
  if (s == NULL)
    {
      /* already gone: deleting again is not an error */
      reply_current (ex, gone, 200);
      return;
    }
  /* describe it once more, so that it can be answered as destroyed however fast it goes */
  json_object_unref (mr_cp_sandbox_dto (ex, s));
  ok = mr_sandbox_backend_destroy (sandboxes (ex), s->id, &error);
  mr_runner_observe_operation (ex->runner, "destroy", ok, ex->started_us);
  if (!ok)
    reply_gerror (ex, error);
  else
    reply_current (ex, s->id, 200);
}

static void
handle_toolbox_proxy_url (MrExchange *ex)
{
  g_autoptr(MrSandbox) s = NULL;
  g_autofree char *gone = NULL;
  g_autofree char *url = NULL;
  g_autoptr(JsonObject) o = NULL;

  if (!resolve (ex, &s, &gone))
    return;
  url = mr_cp_toolbox_proxy_url (ex);
  o = json_object_new ();
  json_object_set_string_member (o, "url", url);
  reply_object (ex, 200, o);
}

static void
handle_replace_labels (MrExchange *ex)
{
  g_autoptr(MrSandbox) s = resolve_live (ex);
  g_autofree char *message = NULL;
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonObject) reply = NULL;
  JsonNode *labels;
  MrCpEntry *entry;

  if (s == NULL)
    return;
  body = mr_cp_parse_object (ex->body, FALSE, &message);
  if (body == NULL || !mr_cp_check_labels (body, &message))
    {
      mr_cp_reply_error (ex, 400, message);
      return;
    }
  labels = json_object_get_member (body, "labels");
  if (labels == NULL || !JSON_NODE_HOLDS_OBJECT (labels))
    {
      mr_cp_reply_error (ex, 400, "labels must be an object");
      return;
    }
  entry = mr_cp_entry_ensure (ex->runner, s->id);
  json_object_set_member (entry->meta, "labels", json_node_copy (labels));
  reply = json_object_new ();
  json_object_set_member (reply, "labels", json_node_copy (labels));
  reply_object (ex, 200, reply);
}

/* POST {p}/sandbox/{id}/autostop|autoarchive|autodelete/{interval} */
static void
handle_set_interval (MrExchange *ex)
{
  g_autoptr(MrSandbox) s = resolve_live (ex);
  const char *text = mr_exchange_param (ex, "interval");
  const char *route = ex->route->name;
  const char *field = g_str_has_suffix (route, "autostop") ? "autoStopInterval"
                      : g_str_has_suffix (route, "autoarchive") ? "autoArchiveInterval" : "autoDeleteInterval";
  gint64 minutes;

  if (s == NULL)
    return;
  if (!g_ascii_string_to_signed (text, 10, strcmp (field, "autoDeleteInterval") == 0 ? -1 : 0, G_MAXINT32,
                                 &minutes, NULL))
    {
      g_autofree char *message = g_strdup_printf ("invalid interval '%s': expected a whole number of minutes", text);
      mr_cp_reply_error (ex, 400, message);
      return;
    }
  json_object_set_int_member (mr_cp_entry_ensure (ex->runner, s->id)->meta, field, minutes);
  reply_current (ex, s->id, 200);
}

/* Listing ---------------------------------------------------------------------------------- */

/* Every value of @name in the raw query (repeated keys, and comma-separated lists). */
static GPtrArray *
query_values (MrExchange *ex, const char *name)
{
  const char *query = g_uri_get_query (soup_server_message_get_uri (ex->msg));
  g_auto(GStrv) pairs = g_strsplit (query ? query : "", "&", -1);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

  for (char **p = pairs; *p; p++)
    {
      char *eq = strchr (*p, '=');
      g_autofree char *key = NULL;
      g_autofree char *value = NULL;
      g_auto(GStrv) items = NULL;
      if (eq == NULL)
        continue;
      g_strdelimit (*p, "+", ' ');
      key = g_uri_unescape_segment (*p, eq, NULL);
      value = g_uri_unescape_string (eq + 1, NULL);
      /* "states[]" is how some clients spell a repeated key */
      if (key == NULL || value == NULL ||
          (strcmp (key, name) != 0 && !(g_str_has_prefix (key, name) && strcmp (key + strlen (name), "[]") == 0)))
        continue;
      items = g_strsplit (value, ",", -1);
      for (char **i = items; *i; i++)
        if (**i)
          g_ptr_array_add (out, g_strdup (*i));
    }
  return out;
}

static gboolean
contains_string (GPtrArray *values, const char *s)
{
  for (guint i = 0; i < values->len; i++)
    if (g_strcmp0 (values->pdata[i], s) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
contains_fold (const char *haystack, const char *needle)
{
  g_autofree char *h = g_utf8_casefold (haystack ? haystack : "", -1);
  g_autofree char *n = g_utf8_casefold (needle, -1);

  return strstr (h, n) != NULL;
}

/* A listed DTO with its creation time in microseconds: the DTO's createdAt has only
 * milliseconds, and sandboxes created within one millisecond must still list newest first. */
typedef struct {
  gint64 created_us;
  JsonObject *dto;
} Listed;

static gint
by_creation_desc (gconstpointer a, gconstpointer b)
{
  const Listed *x = a, *y = b;

  if (x->created_us != y->created_us)
    return x->created_us < y->created_us ? 1 : -1;
  return g_strcmp0 (json_object_get_string_member (x->dto, "id"), json_object_get_string_member (y->dto, "id"));
}

static gint64
created_us_of_dto (JsonObject *dto)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_iso8601 (
      json_object_get_string_member_with_default (dto, "createdAt", ""), NULL);

  return t ? g_date_time_to_unix (t) * G_USEC_PER_SEC + g_date_time_get_microsecond (t) : 0;
}

/* The DTOs a list request selects, newest first; NULL after answering 400. */
static GPtrArray *
select_sandboxes (MrExchange *ex)
{
  const char *labels_text = mr_exchange_query (ex, "labels");
  const char *id = mr_exchange_query (ex, "id");
  const char *name = mr_exchange_query (ex, "name");
  gboolean include_gone = g_strcmp0 (mr_exchange_query (ex, "includeErroredDeleted"), "true") == 0;
  g_autoptr(GPtrArray) states = query_values (ex, "states");
  g_autoptr(GPtrArray) snapshots = query_values (ex, "snapshots");
  g_autoptr(JsonObject) wanted = NULL;
  g_autoptr(GPtrArray) all = mr_sandbox_backend_list (sandboxes (ex));
  g_autoptr(GHashTable) held = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GList) ids = NULL;
  g_autoptr(GArray) listed = g_array_new (FALSE, FALSE, sizeof (Listed));
  GPtrArray *dtos = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);

  if (labels_text && *labels_text)
    {
      g_autofree char *message = NULL;
      g_autoptr(GBytes) bytes = g_bytes_new (labels_text, strlen (labels_text));
      wanted = mr_cp_parse_object (bytes, FALSE, &message);
      if (wanted == NULL)
        {
          g_autofree char *m = g_strdup_printf ("labels must be a JSON object of strings: %s", message);
          mr_cp_reply_error (ex, 400, m);
          g_ptr_array_unref (dtos);
          return NULL;
        }
    }

  for (guint i = 0; i < all->len; i++)
    {
      MrSandbox *s = all->pdata[i];
      g_hash_table_add (held, s->id);
      if (s->state == MR_SANDBOX_STATE_DESTROYED && !include_gone)
        continue;
      g_ptr_array_add (dtos, mr_cp_sandbox_dto (ex, s));
    }
  if (include_gone)
    {
      ids = mr_cp_entry_ids (ex->runner);
      for (GList *l = ids; l; l = l->next)
        {
          JsonObject *dto;
          if (g_hash_table_contains (held, l->data) || (dto = mr_cp_destroyed_dto (ex, l->data)) == NULL)
            continue;
          g_ptr_array_add (dtos, dto);
        }
    }

  for (guint i = dtos->len; i > 0; i--)
    {
      JsonObject *dto = dtos->pdata[i - 1];
      if (!mr_cp_labels_match (dto, wanted) ||
          (id && *id && !contains_fold (json_object_get_string_member (dto, "id"), id)) ||
          (name && *name && !contains_fold (json_object_get_string_member (dto, "name"), name)) ||
          (states->len && !contains_string (states, json_object_get_string_member (dto, "state"))) ||
          (snapshots->len && !contains_string (snapshots,
                                               json_object_get_string_member_with_default (dto, "snapshot", ""))))
        g_ptr_array_remove_index (dtos, i - 1);
    }
  for (guint i = 0; i < dtos->len; i++)
    {
      Listed l = { 0, dtos->pdata[i] };
      MrSandbox *s = NULL;
      for (guint j = 0; j < all->len && s == NULL; j++)
        if (g_strcmp0 (((MrSandbox *) all->pdata[j])->id, json_object_get_string_member (l.dto, "id")) == 0)
          s = all->pdata[j];
      l.created_us = s ? s->created_at : created_us_of_dto (l.dto);
      g_array_append_val (listed, l);
    }
  g_array_sort (listed, by_creation_desc);
  for (guint i = 0; i < listed->len; i++)
    dtos->pdata[i] = g_array_index (listed, Listed, i).dto;
  return dtos;
}

static gboolean
parse_count (MrExchange *ex, const char *name, gint64 default_value, gint64 min, gint64 max, gint64 *out)
{
  const char *text = mr_exchange_query (ex, name);

  *out = default_value;
  if (text == NULL || *text == '\0')
    return TRUE;
  if (g_ascii_string_to_signed (text, 10, min, max, out, NULL))
    return TRUE;
  {
    g_autofree char *message = g_strdup_printf ("%s must be a whole number between %" G_GINT64_FORMAT
                                                 " and %" G_GINT64_FORMAT, name, min, max);
    mr_cp_reply_error (ex, 400, message);
  }
  return FALSE;
}

static JsonArray *
slice (GPtrArray *dtos, gint64 offset, gint64 limit)
{
  JsonArray *items = json_array_new ();

  for (gint64 i = offset; i < (gint64) dtos->len && i < offset + limit; i++)
    json_array_add_object_element (items, json_object_ref (dtos->pdata[i]));
  return items;
}

/* Whether the client is an SDK older than the cursor-paginated list. */
static gboolean
wants_plain_array (MrExchange *ex)
{
  const char *version = soup_message_headers_get_one (soup_server_message_get_request_headers (ex->msg),
                                                      "X-Daytona-SDK-Version");
  g_auto(GStrv) parts = NULL;

  if (version == NULL || mr_exchange_query (ex, "cursor") || mr_exchange_query (ex, "limit"))
    return FALSE;
  parts = g_strsplit (version[0] == 'v' ? version + 1 : version, ".", 3);
  return g_strv_length (parts) >= 2 && atoi (parts[0]) == 0 && atoi (parts[1]) < CURSOR_LIST_SDK_MINOR;
}

static void
handle_list (MrExchange *ex)
{
  g_autoptr(GPtrArray) dtos = NULL;
  g_autoptr(JsonObject) reply = NULL;
  gint64 limit, offset;
  const char *cursor = mr_exchange_query (ex, "cursor");

  if (!parse_count (ex, "limit", LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT, &limit))
    return;
  /* the cursor is opaque to clients: here, the offset of the next item */
  if (cursor && *cursor && !g_ascii_string_to_signed (cursor, 10, 0, G_MAXINT32, &offset, NULL))
    {
      mr_cp_reply_error (ex, 400, "invalid cursor");
      return;
    }
  if (cursor == NULL || *cursor == '\0')
    offset = 0;
  if ((dtos = select_sandboxes (ex)) == NULL)
    return;
  if (wants_plain_array (ex))
    {
      g_autoptr(JsonNode) root = json_node_init_array (json_node_alloc (), slice (dtos, 0, dtos->len));
      json_array_unref (json_node_get_array (root));
      mr_http_reply_json (ex->msg, 200, root);
      return;
    }
  reply = json_object_new ();
  json_object_set_array_member (reply, "items", slice (dtos, offset, limit));
  if (offset + limit < (gint64) dtos->len)
    {
      g_autofree char *next = g_strdup_printf ("%" G_GINT64_FORMAT, offset + limit);
      json_object_set_string_member (reply, "nextCursor", next);
    }
  else
    json_object_set_null_member (reply, "nextCursor");
  reply_object (ex, 200, reply);
}

static void
handle_list_paginated (MrExchange *ex)
{
  g_autoptr(GPtrArray) dtos = NULL;
  g_autoptr(JsonObject) reply = NULL;
  gint64 page, limit;

  if (!parse_count (ex, "page", 1, 1, G_MAXINT32, &page) ||
      !parse_count (ex, "limit", LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT, &limit) ||
      (dtos = select_sandboxes (ex)) == NULL)
    return;
  reply = json_object_new ();
  json_object_set_array_member (reply, "items", slice (dtos, (page - 1) * limit, limit));
  json_object_set_int_member (reply, "total", dtos->len);
  json_object_set_int_member (reply, "page", page);
  json_object_set_int_member (reply, "totalPages", (dtos->len + limit - 1) / limit);
  reply_object (ex, 200, reply);
}

/* Configuration ------------------------------------------------------------------------------ */

static void
handle_config (MrExchange *ex)
{
  g_autofree char *toolbox = mr_cp_toolbox_proxy_url (ex);
  g_autofree char *template = g_strconcat (toolbox, "/{{sandboxId}}/proxy/{{PORT}}", NULL);
  g_autoptr(JsonObject) o = json_object_new ();
  JsonObject *oidc = json_object_new ();

  json_object_set_string_member (o, "version", mr_runner_get_version (ex->runner));
  json_object_set_string_member (o, "proxyToolboxUrl", toolbox);
  json_object_set_string_member (o, "proxyTemplateUrl", template);
  json_object_set_string_member (o, "defaultSnapshot", MR_CP_DEFAULT_SNAPSHOT);
  json_object_set_string_member (o, "dashboardUrl", "");
  json_object_set_int_member (o, "maxAutoArchiveInterval", 30 * 24 * 60);
  json_object_set_boolean_member (o, "maintananceMode", FALSE);
  json_object_set_string_member (o, "environment", "mock");
  json_object_set_boolean_member (o, "linkedAccountsEnabled", FALSE);
  json_object_set_object_member (o, "announcements", json_object_new ());
  json_object_set_string_member (oidc, "issuer", "");
  json_object_set_string_member (oidc, "clientId", "");
  json_object_set_string_member (oidc, "audience", "");
  json_object_set_object_member (o, "oidc", oidc);
  reply_object (ex, 200, o);
}

/* Toolbox ---------------------------------------------------------------------------------- */

static void
toolbox_headers (MrExchange *ex)
{
  const char *id = mr_exchange_param (ex, "id");
  g_autofree char *escaped = g_uri_escape_string (id, NULL, FALSE);
  g_autofree char *prefix = g_strdup_printf ("/toolbox/%s", escaped);

  if (admit (ex, FALSE, TRUE))
    mr_api_toolbox_dispatch (ex, id, mr_exchange_param (ex, "path"), prefix);
}

static void
legacy_toolbox_headers (MrExchange *ex)
{
  const char *id = mr_exchange_param (ex, "id");
  g_autofree char *escaped = g_uri_escape_string (id, NULL, FALSE);
  g_autofree char *prefix = g_strdup_printf ("/%s/toolbox/%s/toolbox", mr_exchange_param (ex, "cp"), escaped);

  if (admit (ex, TRUE, TRUE))
    mr_api_toolbox_dispatch (ex, id, mr_exchange_param (ex, "path"), prefix);
}

#define CP MR_ROUTE_OWN_AUTH

static const MrRoute routes[] = {
  { "POST", "/{cp}/sandbox", handle_create, early_authenticated, CP, "cp-create" },
  { "GET", "/{cp}/sandbox", handle_list, early_authenticated, CP, "cp-list" },
  { "GET", "/{cp}/sandbox/paginated", handle_list_paginated, early_authenticated, CP, "cp-list-paginated" },
  { "GET", "/{cp}/sandbox/{id}", handle_get, early_authenticated, CP, "cp-get" },
  { "DELETE", "/{cp}/sandbox/{id}", handle_delete, early_authenticated, CP, "cp-delete" },
  { "POST", "/{cp}/sandbox/{id}/start", handle_start, early_authenticated, CP, "cp-start" },
  { "POST", "/{cp}/sandbox/{id}/stop", handle_stop, early_authenticated, CP, "cp-stop" },
  { "GET", "/{cp}/sandbox/{id}/toolbox-proxy-url", handle_toolbox_proxy_url, early_authenticated, CP,
    "cp-toolbox-proxy-url" },
  { "PUT", "/{cp}/sandbox/{id}/labels", handle_replace_labels, early_authenticated, CP, "cp-labels" },
  { "POST", "/{cp}/sandbox/{id}/autostop/{interval}", handle_set_interval, early_authenticated, CP, "cp-autostop" },
  { "POST", "/{cp}/sandbox/{id}/autoarchive/{interval}", handle_set_interval, early_authenticated, CP,
    "cp-autoarchive" },
  { "POST", "/{cp}/sandbox/{id}/autodelete/{interval}", handle_set_interval, early_authenticated, CP,
    "cp-autodelete" },
  { "GET", "/{cp}/config", handle_config, early_public, CP, "cp-config" },
  { "GET", "/{cp}/socket.io/", mr_cp_handle_socketio, early_public, CP, "cp-socket.io" },
  { "GET", "/{cp}/socket.io", mr_cp_handle_socketio, early_public, CP, "cp-socket.io" },
  { "*", "/{cp}/toolbox/{id}/toolbox/*path", mr_api_toolbox_body, legacy_toolbox_headers, CP | MR_ROUTE_STREAM,
    "cp-toolbox-legacy" },
  { "*", "/toolbox/{id}/*path", mr_api_toolbox_body, toolbox_headers, CP | MR_ROUTE_STREAM, "cp-toolbox" },
};

/**
 * mr_api_register_control_plane: (skip)
 * @router: the runner's router
 *
 * Adds the facade's routes; call it after every other route table.
 */
void
mr_api_register_control_plane (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
