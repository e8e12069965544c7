/* mr-api-control-plane-dto.c: the control plane's sandbox DTO and its create body.
 *
 * The DTO carries the fields the SDKs read (official-clients.md section 4.5: id, state and
 * toolboxProxyUrl are the ones they need; 0.108 reads the rest in its constructor) and
 * the ones a user prints. Runner-level fields come from the sandbox plugin's record;
 * control-plane-only fields (labels, public, target, auto-* intervals) from the
 * facade's entry. Validation messages follow the API's class-validator wording, which
 * the SDKs show as the error message. */
#include <string.h>

#include "mr-api-control-plane.h"

typedef enum {
  KIND_STRING,
  KIND_BOOL,
  KIND_INT,          /* any integer */
  KIND_UINT,         /* an integer >= 0 */
  KIND_STRING_MAP,
  KIND_ARRAY,
  KIND_OBJECT,
  KIND_ANY,
} Kind;

typedef struct {
  const char *name;
  Kind kind;
} Field;

/* Fields of the create body that only the control plane knows; kept in the entry. */
static const Field meta_fields[] = {
  { "labels", KIND_STRING_MAP },
  { "public", KIND_BOOL },
  { "target", KIND_STRING },
  { "autoStopInterval", KIND_UINT },
  { "autoArchiveInterval", KIND_UINT },
  { "autoDeleteInterval", KIND_INT },
  { "autoPauseInterval", KIND_UINT },
  { "ttlMinutes", KIND_UINT },
  { "volumes", KIND_ARRAY },
  { "buildInfo", KIND_OBJECT },
  { "spot", KIND_BOOL },
  { "kvm", KIND_BOOL },
  { "gpuType", KIND_ANY },
  { "outboundProxyUrl", KIND_STRING },
  { "otelEndpointOverride", KIND_STRING },
  { "class", KIND_STRING },
};

/* Fields of the create body the sandbox plugin holds. */
static const Field runner_fields[] = {
  { "name", KIND_STRING },
  { "snapshot", KIND_STRING },
  { "user", KIND_STRING },
  { "env", KIND_STRING_MAP },
  { "cpu", KIND_UINT },
  { "gpu", KIND_UINT },
  { "memory", KIND_UINT },
  { "disk", KIND_UINT },
  { "networkBlockAll", KIND_BOOL },
  { "networkAllowList", KIND_STRING },
  { "domainAllowList", KIND_STRING },
};

/* Defaults the API reports for control-plane fields a create did not set. */
#define DEFAULT_TARGET "us"
#define DEFAULT_AUTO_STOP 15
#define DEFAULT_AUTO_ARCHIVE (7 * 24 * 60)
#define DEFAULT_AUTO_DELETE (-1)

/**
 * mr_cp_parse_object: (skip)
 * @body: (nullable): a request body
 * @allow_empty: whether an empty body stands for {}
 * @message: (out): why it is not a JSON object
 *
 * Returns: (transfer full) (nullable): the object
 */
JsonObject *
mr_cp_parse_object (GBytes *body, gboolean allow_empty, char **message)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  const char *data = body ? g_bytes_get_data (body, &len) : NULL;
  JsonNode *root;

  if (len == 0)
    {
      if (allow_empty)
        return json_object_new ();
      *message = g_strdup ("request body is required");
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, len, &error))
    {
      *message = g_strdup_printf ("invalid JSON in request body: %s", error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      *message = g_strdup ("request body must be a JSON object");
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

static gboolean
node_is_integer (JsonNode *n, gint64 *value)
{
  if (!JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  switch (json_node_get_value_type (n))
    {
    case G_TYPE_INT64:
      *value = json_node_get_int (n);
      return TRUE;
    case G_TYPE_DOUBLE:
      {
        double d = json_node_get_double (n);
        /* range first: converting a double beyond int64 (1e308) is undefined behaviour */
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double) (gint64) d)
          return FALSE;
        *value = (gint64) d;
        return TRUE;
      }
    default:
      return FALSE;
    }
}

static gboolean
node_is_string (JsonNode *n)
{
  return JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING;
}

/* Checks @name of @o against @kind; absent and null are fine. */
static gboolean
check_field (JsonObject *o, const char *name, Kind kind, char **message)
{
  JsonNode *n = json_object_get_member (o, name);
  gint64 i;

  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  switch (kind)
    {
    case KIND_STRING:
      if (node_is_string (n))
        return TRUE;
      *message = g_strdup_printf ("%s must be a string", name);
      return FALSE;
    case KIND_BOOL:
      if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN)
        return TRUE;
      *message = g_strdup_printf ("%s must be a boolean value", name);
      return FALSE;
    case KIND_INT:
    case KIND_UINT:
      if (!node_is_integer (n, &i))
        {
          *message = g_strdup_printf ("%s must be an integer number", name);
          return FALSE;
        }
      if (kind == KIND_UINT && i < 0)
        {
          *message = g_strdup_printf ("%s must not be less than 0", name);
          return FALSE;
        }
      return TRUE;
    case KIND_STRING_MAP:
      {
        g_autoptr(GList) members = NULL;
        if (!JSON_NODE_HOLDS_OBJECT (n))
          {
            *message = g_strdup_printf ("%s must be an object", name);
            return FALSE;
          }
        members = json_object_get_members (json_node_get_object (n));
        for (GList *l = members; l; l = l->next)
          if (!node_is_string (json_object_get_member (json_node_get_object (n), l->data)))
            {
              *message = g_strdup_printf ("%s.%s must be a string", name, (const char *) l->data);
              return FALSE;
            }
        return TRUE;
      }
    case KIND_ARRAY:
      if (JSON_NODE_HOLDS_ARRAY (n))
        return TRUE;
      *message = g_strdup_printf ("%s must be an array", name);
      return FALSE;
    case KIND_OBJECT:
      if (JSON_NODE_HOLDS_OBJECT (n))
        return TRUE;
      *message = g_strdup_printf ("%s must be an object", name);
      return FALSE;
    case KIND_ANY:
    default:
      return TRUE;
    }
}

/**
 * mr_cp_check_labels: (skip)
 * @body: a request body
 * @message: (out): what is wrong
 *
 * Returns: whether @body's labels member, if any, is a map of strings
 */
gboolean
mr_cp_check_labels (JsonObject *body, char **message)
{
  return check_field (body, "labels", KIND_STRING_MAP, message);
}

static const char *
get_string (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  return n && node_is_string (n) ? json_node_get_string (n) : NULL;
}

static gint64
get_int (JsonObject *o, const char *name, gint64 default_value)
{
  JsonNode *n = json_object_get_member (o, name);
  gint64 v;

  return n && node_is_integer (n, &v) ? v : default_value;
}

/* The image of the first FROM line of a Dockerfile: what a sandbox built from an Image runs. */
static char *
image_from_dockerfile (const char *dockerfile)
{
  g_auto(GStrv) lines = g_strsplit (dockerfile ? dockerfile : "", "\n", -1);

  for (char **line = lines; *line; line++)
    {
      g_auto(GStrv) words = NULL;
      char *l = g_strstrip (*line);
      if (g_ascii_strncasecmp (l, "FROM", 4) != 0 || !g_ascii_isspace (l[4]))
        continue;
      words = g_strsplit_set (l + 5, " \t", -1);
      for (char **w = words; *w; w++)
        if (**w && !g_str_has_prefix (*w, "--"))
          return g_strdup (*w);
    }
  return NULL;
}

static GHashTable *
string_map (JsonObject *o, const char *name)
{
  GHashTable *map = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  JsonNode *n = json_object_get_member (o, name);
  g_autoptr(GList) members = NULL;

  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return map;
  members = json_object_get_members (json_node_get_object (n));
  for (GList *l = members; l; l = l->next)
    g_hash_table_insert (map, g_strdup (l->data),
                         g_strdup (json_object_get_string_member (json_node_get_object (n), l->data)));
  return map;
}

/**
 * mr_cp_spec_from_create: (skip)
 * @ex: the create request
 * @body: its body
 * @meta: receives the control-plane fields of @body
 * @message: (out): why @body is invalid
 *
 * Turns the SDK's create body into the sandbox the plugin creates, with the API's
 * defaults for what the SDK left out, and a new id from the runner's random source.
 *
 * Returns: (transfer full) (nullable): the spec
 */
MrSandbox *
mr_cp_spec_from_create (MrExchange *ex, JsonObject *body, JsonObject *meta, char **message)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (ex->msg);
  const char *org = soup_message_headers_get_one (headers, "X-Daytona-Organization-ID");
  g_autofree char *id = NULL;
  const char *name, *snapshot, *user;
  MrSandbox *s;

  for (guint i = 0; i < G_N_ELEMENTS (runner_fields); i++)
    if (!check_field (body, runner_fields[i].name, runner_fields[i].kind, message))
      return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (meta_fields); i++)
    if (!check_field (body, meta_fields[i].name, meta_fields[i].kind, message))
      return NULL;

  for (guint i = 0; i < G_N_ELEMENTS (meta_fields); i++)
    {
      JsonNode *n = json_object_get_member (body, meta_fields[i].name);
      if (n && !JSON_NODE_HOLDS_NULL (n))
        json_object_set_member (meta, meta_fields[i].name, json_node_copy (n));
    }

  id = mr_runner_random_uuid (ex->runner);
  s = mr_sandbox_new (id);
  name = get_string (body, "name");
  snapshot = get_string (body, "snapshot");
  user = get_string (body, "user");
  s->name = g_strdup (name && *name ? name : id);
  s->user_id = g_strdup (org && *org ? org : MR_CP_DEFAULT_ORG);
  s->os_user = g_strdup (user && *user ? user : "daytona");
  if (snapshot && *snapshot)
    s->snapshot = g_strdup (snapshot);
  else
    {
      JsonObject *build = json_object_has_member (meta, "buildInfo") ? json_object_get_object_member (meta, "buildInfo")
                                                                   : NULL;
      s->snapshot = build ? image_from_dockerfile (get_string (build, "dockerfileContent")) : NULL;
      if (s->snapshot == NULL)
        s->snapshot = g_strdup (MR_CP_DEFAULT_SNAPSHOT);
    }
  /* 0 or absent: the API's default resources */
  s->cpu = get_int (body, "cpu", 0) > 0 ? get_int (body, "cpu", 0) : 1;
  s->memory = get_int (body, "memory", 0) > 0 ? get_int (body, "memory", 0) : 1;
  s->disk = get_int (body, "disk", 0) > 0 ? get_int (body, "disk", 0) : 3;
  s->gpu = get_int (body, "gpu", 0);
  g_hash_table_unref (s->env);
  s->env = string_map (body, "env");
  s->network_block_all = json_object_get_boolean_member_with_default (body, "networkBlockAll", FALSE);
  s->network_allow_list = g_strdup (get_string (body, "networkAllowList"));
  s->domain_allow_list = g_strdup (get_string (body, "domainAllowList"));
  return s;
}

/**
 * mr_cp_format_time: (skip)
 * @unix_us: microseconds since the epoch, or 0 for now
 *
 * Returns: (transfer full): the time as JavaScript's toISOString() writes it
 */
char *
mr_cp_format_time (gint64 unix_us)
{
  g_autoptr(GDateTime) t = NULL;
  g_autofree char *base = NULL;

  if (unix_us <= 0)
    unix_us = g_get_real_time ();
  t = g_date_time_new_from_unix_utc (unix_us / G_USEC_PER_SEC);
  base = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%03dZ", base, (int) (unix_us % G_USEC_PER_SEC / 1000));
}

/**
 * mr_cp_toolbox_proxy_url: (skip)
 * @ex: a request
 *
 * The facade serves the toolbox at /toolbox/{id} of the address the client reached it
 * at (its Host header), so that a client behind a port mapping or a container name
 * gets a URL it can reach.
 *
 * Returns: (transfer full): the toolboxProxyUrl
 */
char *
mr_cp_toolbox_proxy_url (MrExchange *ex)
{
  const char *host = soup_message_headers_get_one (soup_server_message_get_request_headers (ex->msg), "Host");
  const char *scheme = mr_runner_get_config (ex->runner)->enable_tls ? "https" : "http";

  if (host == NULL || *host == '\0' || strpbrk (host, "/?#@ ") != NULL)
    return g_strconcat (mr_runner_get_url (ex->runner), "/toolbox", NULL);
  return g_strdup_printf ("%s://%s/toolbox", scheme, host);
}

static const char *
desired_state (MrSandboxState state)
{
  switch (state)
    {
    case MR_SANDBOX_STATE_STOPPED:
    case MR_SANDBOX_STATE_STOPPING:
      return "stopped";
    case MR_SANDBOX_STATE_DESTROYED:
    case MR_SANDBOX_STATE_DESTROYING:
      return "destroyed";
    default:
      return "started";
    }
}

/* The runner's uppercase backup states, as the API spells them. */
static const char *
api_backup_state (MrBackupState state)
{
  switch (state)
    {
    case MR_BACKUP_STATE_PENDING: return "Pending";
    case MR_BACKUP_STATE_IN_PROGRESS: return "InProgress";
    case MR_BACKUP_STATE_COMPLETED: return "Completed";
    case MR_BACKUP_STATE_FAILED: return "Error";
    case MR_BACKUP_STATE_NONE:
    default: return "None";
    }
}

/* A node holding @o, which it takes over (json_node_init_object() adds a reference). */
static JsonNode *
object_node_take (JsonObject *o)
{
  JsonNode *n = json_node_init_object (json_node_alloc (), o);

  json_object_unref (o);
  return n;
}

static JsonNode *
empty_array_node (void)
{
  JsonArray *a = json_array_new ();
  JsonNode *n = json_node_init_array (json_node_alloc (), a);

  json_array_unref (a);
  return n;
}

static JsonNode *
map_node (GHashTable *map)
{
  JsonObject *o = json_object_new ();
  GHashTableIter iter;
  gpointer k, v;

  if (map)
    {
      g_hash_table_iter_init (&iter, map);
      while (g_hash_table_iter_next (&iter, &k, &v))
        json_object_set_string_member (o, k, v);
    }
  return object_node_take (o);
}

static void
set_meta_or (JsonObject *dto, JsonObject *meta, const char *name, JsonNode *fallback)
{
  JsonNode *n = meta ? json_object_get_member (meta, name) : NULL;

  if (n)
    {
      json_object_set_member (dto, name, json_node_copy (n));
      if (fallback)
        json_node_unref (fallback);
    }
  else if (fallback)
    json_object_set_member (dto, name, fallback);
}

static JsonNode *
int_node (gint64 v)
{
  return json_node_init_int (json_node_alloc (), v);
}

/**
 * mr_cp_sandbox_dto: (skip)
 * @ex: the request being answered
 * @s: a sandbox the plugin holds
 *
 * Builds the API's Sandbox DTO and remembers it, so that the sandbox can still be
 * described (as destroyed) once the plugin has forgotten it.
 *
 * Returns: (transfer full): the DTO
 */
JsonObject *
mr_cp_sandbox_dto (MrExchange *ex, const MrSandbox *s)
{
  MrCpEntry *entry = mr_cp_entry_ensure (ex->runner, s->id);
  JsonObject *meta = entry->meta;
  JsonObject *o = json_object_new ();
  g_autofree char *created = mr_cp_format_time (s->created_at);
  g_autofree char *updated = mr_cp_format_time (s->updated_at ? s->updated_at : s->created_at);
  g_autofree char *proxy = mr_cp_toolbox_proxy_url (ex);
  const char *host = soup_message_headers_get_one (soup_server_message_get_request_headers (ex->msg), "Host");
  static const char *const passthrough[] = {
    "autoPauseInterval", "ttlMinutes", "buildInfo", "spot", "kvm", "gpuType", "outboundProxyUrl",
    "otelEndpointOverride",
  };

  json_object_set_string_member (o, "id", s->id);
  json_object_set_string_member (o, "organizationId", s->user_id ? s->user_id : MR_CP_DEFAULT_ORG);
  json_object_set_string_member (o, "name", s->name && *s->name ? s->name : s->id);
  if (s->snapshot)
    json_object_set_string_member (o, "snapshot", s->snapshot);
  json_object_set_string_member (o, "user", s->os_user ? s->os_user : "daytona");
  json_object_set_member (o, "env", map_node (s->env));
  set_meta_or (o, meta, "labels", object_node_take (json_object_new ()));
  set_meta_or (o, meta, "public", json_node_init_boolean (json_node_alloc (), FALSE));
  json_object_set_boolean_member (o, "networkBlockAll", s->network_block_all);
  if (s->network_allow_list)
    json_object_set_string_member (o, "networkAllowList", s->network_allow_list);
  if (s->domain_allow_list)
    json_object_set_string_member (o, "domainAllowList", s->domain_allow_list);
  set_meta_or (o, meta, "target", json_node_init_string (json_node_alloc (), DEFAULT_TARGET));
  json_object_set_int_member (o, "cpu", s->cpu);
  json_object_set_int_member (o, "gpu", s->gpu);
  json_object_set_int_member (o, "memory", s->memory);
  json_object_set_int_member (o, "disk", s->disk);
  json_object_set_string_member (o, "state", mr_sandbox_state_to_string (s->state));
  json_object_set_string_member (o, "desiredState", desired_state (s->state));
  if (s->state == MR_SANDBOX_STATE_ERROR)
    json_object_set_string_member (o, "errorReason", s->backup_error ? s->backup_error
                                                     : "the sandbox plugin reported an error");
  json_object_set_boolean_member (o, "recoverable", FALSE);
  json_object_set_string_member (o, "backupState", api_backup_state (s->backup_state));
  set_meta_or (o, meta, "autoStopInterval", int_node (DEFAULT_AUTO_STOP));
  set_meta_or (o, meta, "autoArchiveInterval", int_node (DEFAULT_AUTO_ARCHIVE));
  set_meta_or (o, meta, "autoDeleteInterval", int_node (DEFAULT_AUTO_DELETE));
  for (guint i = 0; i < G_N_ELEMENTS (passthrough); i++)
    set_meta_or (o, meta, passthrough[i], NULL);
  set_meta_or (o, meta, "volumes", empty_array_node ());
  json_object_set_string_member (o, "createdAt", created);
  json_object_set_string_member (o, "updatedAt", updated);
  json_object_set_string_member (o, "lastActivityAt", updated);
  if (host && *host)
    json_object_set_string_member (o, "runnerDomain", host);
  if (s->state == MR_SANDBOX_STATE_STARTED)
    {
      g_autofree char *version = mr_toolbox_backend_get_daemon_version (mr_runner_get_toolbox_backend (ex->runner));
      if (version)
        json_object_set_string_member (o, "daemonVersion", version);
    }
  json_object_set_string_member (o, "toolboxProxyUrl", proxy);

  g_clear_pointer (&entry->last_dto, json_object_unref);
  entry->last_dto = json_object_ref (o);
  return o;
}

/**
 * mr_cp_destroyed_dto: (skip)
 * @ex: the request being answered
 * @id: a sandbox the plugin no longer holds
 *
 * Returns: (transfer full) (nullable): its last DTO with the state "destroyed", or %NULL
 *   if the facade never described it
 */
JsonObject *
mr_cp_destroyed_dto (MrExchange *ex, const char *id)
{
  MrCpEntry *entry = mr_cp_entry_lookup (ex->runner, id);
  g_autoptr(GList) members = NULL;
  JsonObject *o;

  if (entry == NULL || entry->last_dto == NULL)
    return NULL;
  /* a new top-level object: the remembered one may still be referenced elsewhere */
  o = json_object_new ();
  members = json_object_get_members (entry->last_dto);
  for (GList *l = members; l; l = l->next)
    if (strcmp (l->data, "daemonVersion") != 0 && strcmp (l->data, "errorReason") != 0)
      json_object_set_member (o, l->data, json_node_copy (json_object_get_member (entry->last_dto, l->data)));
  json_object_set_string_member (o, "state", "destroyed");
  json_object_set_string_member (o, "desiredState", "destroyed");
  return o;
}

/**
 * mr_cp_labels_match: (skip)
 * @dto: a sandbox DTO
 * @wanted: (nullable): labels that must all be present with these values
 *
 * Returns: whether @dto carries every label of @wanted
 */
gboolean
mr_cp_labels_match (JsonObject *dto, JsonObject *wanted)
{
  JsonObject *labels = json_object_get_object_member (dto, "labels");
  g_autoptr(GList) members = NULL;

  if (wanted == NULL)
    return TRUE;
  members = json_object_get_members (wanted);
  for (GList *l = members; l; l = l->next)
    {
      JsonNode *want = json_object_get_member (wanted, l->data);
      JsonNode *have = labels ? json_object_get_member (labels, l->data) : NULL;
      if (have == NULL || !node_is_string (have) || !node_is_string (want) ||
          strcmp (json_node_get_string (have), json_node_get_string (want)) != 0)
        return FALSE;
    }
  return TRUE;
}
