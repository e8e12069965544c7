/* mr-json-fields.c: the member check of mr-json-fields.h. A null member counts as absent:
 * that is how a client writes "no value" for an optional field. */
#include "mr-json-fields.h"
#include "mr-error.h"

static gboolean
holds_type (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

static gboolean
all_members_are_strings (JsonObject *o)
{
  g_autoptr(GList) values = json_object_get_values (o);

  for (GList *l = values; l; l = l->next)
    if (!holds_type (l->data, G_TYPE_STRING))
      return FALSE;
  return TRUE;
}

static gboolean
all_elements_are_strings (JsonArray *a)
{
  for (guint i = 0; i < json_array_get_length (a); i++)
    if (!holds_type (json_array_get_element (a, i), G_TYPE_STRING))
      return FALSE;
  return TRUE;
}

static const char *
kind_name (MrJsonKind kind)
{
  switch (kind)
    {
    case MR_JSON_STRING: return "a string";
    case MR_JSON_INT: return "an integer";
    case MR_JSON_BOOL: return "a boolean";
    case MR_JSON_OBJECT: return "an object";
    case MR_JSON_STRING_MAP: return "an object of strings";
    case MR_JSON_STRING_ARRAY: return "an array of strings";
    default: return "?";
    }
}

static gboolean
is_kind (JsonNode *node, MrJsonKind kind)
{
  switch (kind)
    {
    case MR_JSON_STRING: return holds_type (node, G_TYPE_STRING);
    case MR_JSON_INT: return holds_type (node, G_TYPE_INT64);
    case MR_JSON_BOOL: return holds_type (node, G_TYPE_BOOLEAN);
    case MR_JSON_OBJECT: return JSON_NODE_HOLDS_OBJECT (node);
    case MR_JSON_STRING_MAP:
      return JSON_NODE_HOLDS_OBJECT (node) && all_members_are_strings (json_node_get_object (node));
    case MR_JSON_STRING_ARRAY:
      return JSON_NODE_HOLDS_ARRAY (node) && all_elements_are_strings (json_node_get_array (node));
    default: return FALSE;
    }
}

/* Returns: %FALSE with @error (MR_ERROR_INVALID_ARGUMENT) naming @what and the member if
 * @object has a member not in @fields or one of another kind. */
gboolean
mr_json_check_fields (JsonObject *object, const MrJsonField *fields, guint n_fields, const char *what,
                      GError **error)
{
  g_autoptr(GList) members = json_object_get_members (object);

  for (GList *l = members; l; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (object, name);
      const MrJsonField *field = NULL;

      for (guint i = 0; i < n_fields && field == NULL; i++)
        if (g_str_equal (fields[i].name, name))
          field = &fields[i];
      if (field == NULL)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "%s: unknown member '%s'", what, name);
          return FALSE;
        }
      if (!JSON_NODE_HOLDS_NULL (node) && !is_kind (node, field->kind))
        {
          g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "%s: %s must be %s", what, name,
                       kind_name (field->kind));
          return FALSE;
        }
    }
  return TRUE;
}
