/* mr-sandbox.c: wire names of sandbox and backup states, and the sandbox record. */
#include "mr-sandbox.h"
#include "mr-error.h"
#include "mr-json-fields.h"

static const char *const sandbox_state_names[] = {
  [MR_SANDBOX_STATE_UNKNOWN] = "unknown",
  [MR_SANDBOX_STATE_CREATING] = "creating",
  [MR_SANDBOX_STATE_RESTORING] = "restoring",
  [MR_SANDBOX_STATE_DESTROYED] = "destroyed",
  [MR_SANDBOX_STATE_DESTROYING] = "destroying",
  [MR_SANDBOX_STATE_STARTED] = "started",
  [MR_SANDBOX_STATE_STOPPED] = "stopped",
  [MR_SANDBOX_STATE_STARTING] = "starting",
  [MR_SANDBOX_STATE_STOPPING] = "stopping",
  [MR_SANDBOX_STATE_RESIZING] = "resizing",
  [MR_SANDBOX_STATE_ERROR] = "error",
  [MR_SANDBOX_STATE_PULLING_SNAPSHOT] = "pulling_snapshot",
};

static const char *const backup_state_names[] = {
  [MR_BACKUP_STATE_NONE] = "NONE",
  [MR_BACKUP_STATE_PENDING] = "PENDING",
  [MR_BACKUP_STATE_IN_PROGRESS] = "IN_PROGRESS",
  [MR_BACKUP_STATE_COMPLETED] = "COMPLETED",
  [MR_BACKUP_STATE_FAILED] = "FAILED",
};

/**
 * mr_sandbox_state_to_string:
 * @state: a state
 *
 * Returns: (transfer none): the lowercase wire name, e.g. "pulling_snapshot"
 */
const char *
mr_sandbox_state_to_string (MrSandboxState state)
{
  if ((guint) state >= G_N_ELEMENTS (sandbox_state_names))
    return "unknown";
  return sandbox_state_names[state];
}

/**
 * mr_sandbox_state_from_string:
 * @string: a wire name
 * @state: (out): the state
 *
 * Returns: %TRUE if @string names a state
 */
gboolean
mr_sandbox_state_from_string (const char *string, MrSandboxState *state)
{
  for (guint i = 0; string && i < G_N_ELEMENTS (sandbox_state_names); i++)
    if (g_ascii_strcasecmp (string, sandbox_state_names[i]) == 0)
      {
        *state = i;
        return TRUE;
      }
  return FALSE;
}

/**
 * mr_backup_state_to_string:
 * @state: a backup state
 *
 * Returns: (transfer none): the uppercase wire name, e.g. "IN_PROGRESS"
 */
const char *
mr_backup_state_to_string (MrBackupState state)
{
  if ((guint) state >= G_N_ELEMENTS (backup_state_names))
    return "NONE";
  return backup_state_names[state];
}

/**
 * mr_backup_state_from_string:
 * @string: a wire name, in any case
 * @state: (out): the state
 *
 * Returns: %TRUE if @string names a backup state
 */
gboolean
mr_backup_state_from_string (const char *string, MrBackupState *state)
{
  for (guint i = 0; string && i < G_N_ELEMENTS (backup_state_names); i++)
    if (g_ascii_strcasecmp (string, backup_state_names[i]) == 0)
      {
        *state = i;
        return TRUE;
      }
  return FALSE;
}

G_DEFINE_BOXED_TYPE (MrSandbox, mr_sandbox, mr_sandbox_copy, mr_sandbox_free)

static GHashTable *
string_table_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static GHashTable *
string_table_copy (GHashTable *table)
{
  GHashTable *copy = string_table_new ();
  GHashTableIter iter;
  gpointer key, value;

  if (table == NULL)
    return copy;
  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_hash_table_insert (copy, g_strdup (key), g_strdup (value));
  return copy;
}

/**
 * mr_sandbox_new:
 * @id: the sandbox id
 *
 * Returns: (transfer full): an empty record in state unknown, marked as existing
 */
MrSandbox *
mr_sandbox_new (const char *id)
{
  MrSandbox *sandbox = g_new0 (MrSandbox, 1);

  sandbox->id = g_strdup (id);
  sandbox->exists = TRUE;
  sandbox->state = MR_SANDBOX_STATE_UNKNOWN;
  sandbox->backup_state = MR_BACKUP_STATE_NONE;
  sandbox->env = string_table_new ();
  sandbox->metadata = string_table_new ();
  sandbox->created_at = sandbox->updated_at = g_get_real_time ();
  return sandbox;
}

/**
 * mr_sandbox_copy:
 * @sandbox: a record
 *
 * Returns: (transfer full): a deep copy
 */
MrSandbox *
mr_sandbox_copy (const MrSandbox *sandbox)
{
  MrSandbox *copy = g_new0 (MrSandbox, 1);

  *copy = *sandbox;
  copy->id = g_strdup (sandbox->id);
  copy->backup_error = g_strdup (sandbox->backup_error);
  copy->backup_snapshot = g_strdup (sandbox->backup_snapshot);
  copy->user_id = g_strdup (sandbox->user_id);
  copy->snapshot = g_strdup (sandbox->snapshot);
  copy->os_user = g_strdup (sandbox->os_user);
  copy->name = g_strdup (sandbox->name);
  copy->env = string_table_copy (sandbox->env);
  copy->metadata = string_table_copy (sandbox->metadata);
  copy->network_allow_list = g_strdup (sandbox->network_allow_list);
  copy->domain_allow_list = g_strdup (sandbox->domain_allow_list);
  copy->extra = sandbox->extra ? json_object_ref (sandbox->extra) : NULL;
  return copy;
}

/**
 * mr_sandbox_free:
 * @sandbox: (nullable): a record
 */
void
mr_sandbox_free (MrSandbox *sandbox)
{
  if (sandbox == NULL)
    return;
  g_free (sandbox->id);
  g_free (sandbox->backup_error);
  g_free (sandbox->backup_snapshot);
  g_free (sandbox->user_id);
  g_free (sandbox->snapshot);
  g_free (sandbox->os_user);
  g_free (sandbox->name);
  g_clear_pointer (&sandbox->env, g_hash_table_unref);
  g_clear_pointer (&sandbox->metadata, g_hash_table_unref);
  g_free (sandbox->network_allow_list);
  g_free (sandbox->domain_allow_list);
  g_clear_pointer (&sandbox->extra, json_object_unref);
  g_free (sandbox);
}

static void
add_table (JsonBuilder *b, const char *name, GHashTable *table)
{
  g_autoptr(GList) keys = g_hash_table_get_keys (table);

  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
  keys = g_list_sort (keys, (GCompareFunc) g_strcmp0);
  for (GList *l = keys; l; l = l->next)
    {
      json_builder_set_member_name (b, l->data);
      json_builder_add_string_value (b, g_hash_table_lookup (table, l->data));
    }
  json_builder_end_object (b);
}

static void
add_optional_string (JsonBuilder *b, const char *name, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

/**
 * mr_sandbox_to_json:
 * @sandbox: a record
 *
 * Serialises the whole record, as used by state export.
 *
 * Returns: (transfer full): a JSON object
 */
JsonNode *
mr_sandbox_to_json (const MrSandbox *sandbox)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, sandbox->id);
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, mr_sandbox_state_to_string (sandbox->state));
  json_builder_set_member_name (b, "backupState");
  json_builder_add_string_value (b, mr_backup_state_to_string (sandbox->backup_state));
  add_optional_string (b, "backupError", sandbox->backup_error);
  add_optional_string (b, "backupSnapshot", sandbox->backup_snapshot);
  add_optional_string (b, "userId", sandbox->user_id);
  add_optional_string (b, "snapshot", sandbox->snapshot);
  add_optional_string (b, "osUser", sandbox->os_user);
  add_optional_string (b, "name", sandbox->name);
  json_builder_set_member_name (b, "cpuQuota");
  json_builder_add_int_value (b, sandbox->cpu);
  json_builder_set_member_name (b, "gpuQuota");
  json_builder_add_int_value (b, sandbox->gpu);
  json_builder_set_member_name (b, "memoryQuota");
  json_builder_add_int_value (b, sandbox->memory);
  json_builder_set_member_name (b, "storageQuota");
  json_builder_add_int_value (b, sandbox->disk);
  add_table (b, "env", sandbox->env);
  add_table (b, "metadata", sandbox->metadata);
  json_builder_set_member_name (b, "networkBlockAll");
  json_builder_add_boolean_value (b, sandbox->network_block_all);
  add_optional_string (b, "networkAllowList", sandbox->network_allow_list);
  json_builder_set_member_name (b, "networkLimitEgress");
  json_builder_add_boolean_value (b, sandbox->network_limit_egress);
  add_optional_string (b, "domainAllowList", sandbox->domain_allow_list);
  if (sandbox->extra)
    {
      json_builder_set_member_name (b, "extra");
      json_builder_add_value (b, json_node_init_object (json_node_alloc (), sandbox->extra));
    }
  json_builder_set_member_name (b, "createdAt");
  json_builder_add_int_value (b, sandbox->created_at);
  json_builder_set_member_name (b, "updatedAt");
  json_builder_add_int_value (b, sandbox->updated_at);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
read_table (JsonObject *o, const char *name, GHashTable *into)
{
  JsonNode *node = json_object_get_member (o, name);
  JsonObject *table;
  g_autoptr(GList) members = NULL;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return;
  table = json_node_get_object (node);
  members = json_object_get_members (table);
  for (GList *l = members; l; l = l->next)
    {
      JsonNode *v = json_object_get_member (table, l->data);
      if (JSON_NODE_HOLDS_VALUE (v) && json_node_get_value_type (v) == G_TYPE_STRING)
        g_hash_table_insert (into, g_strdup (l->data), g_strdup (json_node_get_string (v)));
    }
}

static char *
dup_string_member (JsonObject *o, const char *name)
{
  JsonNode *node = json_object_get_member (o, name);

  if (node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  return NULL;
}

/* The members mr_sandbox_to_json() writes, and nothing else: an import must not read a
 * misspelt member, or a quota given as a string, as the default. */
static gboolean
check_members (JsonObject *o, GError **error)
{
  static const MrJsonField fields[] = {
    { "id", MR_JSON_STRING }, { "state", MR_JSON_STRING }, { "backupState", MR_JSON_STRING },
    { "backupError", MR_JSON_STRING }, { "backupSnapshot", MR_JSON_STRING }, { "userId", MR_JSON_STRING },
    { "snapshot", MR_JSON_STRING }, { "osUser", MR_JSON_STRING }, { "name", MR_JSON_STRING },
    { "cpuQuota", MR_JSON_INT }, { "gpuQuota", MR_JSON_INT }, { "memoryQuota", MR_JSON_INT },
    { "storageQuota", MR_JSON_INT }, { "env", MR_JSON_STRING_MAP }, { "metadata", MR_JSON_STRING_MAP },
    { "networkBlockAll", MR_JSON_BOOL }, { "networkAllowList", MR_JSON_STRING },
    { "networkLimitEgress", MR_JSON_BOOL }, { "domainAllowList", MR_JSON_STRING },
    { "extra", MR_JSON_OBJECT }, { "createdAt", MR_JSON_INT }, { "updatedAt", MR_JSON_INT },
  };
  g_autofree char *id = dup_string_member (o, "id");
  g_autofree char *what = g_strdup_printf ("sandbox %s", id ? id : "(no id)");

  return mr_json_check_fields (o, fields, G_N_ELEMENTS (fields), what, error);
}

/**
 * mr_sandbox_from_json:
 * @node: a JSON object as written by mr_sandbox_to_json()
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the record, or %NULL if @node is not a sandbox
 */
MrSandbox *
mr_sandbox_from_json (JsonNode *node, GError **error)
{
  JsonObject *o;
  g_autofree char *id = NULL;
  g_autofree char *state = NULL;
  g_autofree char *backup = NULL;
  MrSandbox *sandbox;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "a sandbox must be a JSON object");
      return NULL;
    }
  o = json_node_get_object (node);
  if (!check_members (o, error))
    return NULL;
  id = dup_string_member (o, "id");
  if (id == NULL || *id == '\0')
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "a sandbox needs a non-empty \"id\"");
      return NULL;
    }
  sandbox = mr_sandbox_new (id);
  state = dup_string_member (o, "state");
  if (state && !mr_sandbox_state_from_string (state, &sandbox->state))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "sandbox %s: unknown state \"%s\"", id, state);
      mr_sandbox_free (sandbox);
      return NULL;
    }
  if (state == NULL)
    sandbox->state = MR_SANDBOX_STATE_STARTED;
  backup = dup_string_member (o, "backupState");
  if (backup && *backup && !mr_backup_state_from_string (backup, &sandbox->backup_state))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "sandbox %s: unknown backup state \"%s\"", id, backup);
      mr_sandbox_free (sandbox);
      return NULL;
    }
  sandbox->backup_error = dup_string_member (o, "backupError");
  sandbox->backup_snapshot = dup_string_member (o, "backupSnapshot");
  sandbox->user_id = dup_string_member (o, "userId");
  sandbox->snapshot = dup_string_member (o, "snapshot");
  sandbox->os_user = dup_string_member (o, "osUser");
  sandbox->name = dup_string_member (o, "name");
  sandbox->cpu = json_object_get_int_member_with_default (o, "cpuQuota", 0);
  sandbox->gpu = json_object_get_int_member_with_default (o, "gpuQuota", 0);
  sandbox->memory = json_object_get_int_member_with_default (o, "memoryQuota", 0);
  sandbox->disk = json_object_get_int_member_with_default (o, "storageQuota", 0);
  read_table (o, "env", sandbox->env);
  read_table (o, "metadata", sandbox->metadata);
  sandbox->network_block_all = json_object_get_boolean_member_with_default (o, "networkBlockAll", FALSE);
  sandbox->network_allow_list = dup_string_member (o, "networkAllowList");
  sandbox->network_limit_egress = json_object_get_boolean_member_with_default (o, "networkLimitEgress", FALSE);
  sandbox->domain_allow_list = dup_string_member (o, "domainAllowList");
  if (json_object_has_member (o, "extra") && JSON_NODE_HOLDS_OBJECT (json_object_get_member (o, "extra")))
    sandbox->extra = json_object_ref (json_object_get_object_member (o, "extra"));
  sandbox->created_at = json_object_get_int_member_with_default (o, "createdAt", sandbox->created_at);
  sandbox->updated_at = json_object_get_int_member_with_default (o, "updatedAt", sandbox->updated_at);
  return sandbox;
}
