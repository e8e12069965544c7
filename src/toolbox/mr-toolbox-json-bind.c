/* mr-toolbox-json-bind.c: request bodies checked like gin's ShouldBindJSON with the
 * daemon's validator: first the JSON decoding (a wrong type is an error, null is the
 * zero value), then every `validate:"required"` field, all failures joined by "\n". */
#include <string.h>

#include "mr-toolbox-json-bind.h"
#include "mr-error.h"

static const char *
json_kind (JsonNode *node)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT: return "object";
    case JSON_NODE_ARRAY: return "array";
    case JSON_NODE_NULL: return "null";
    default:
      break;
    }
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING: return "string";
    case G_TYPE_BOOLEAN: return "bool";
    default: return "number";
    }
}

static const char *
go_type (MrTbFieldType type)
{
  switch (type)
    {
    case MR_TB_FIELD_STRING: return "string";
    case MR_TB_FIELD_BOOL: return "bool";
    case MR_TB_FIELD_INT: return "int";
    case MR_TB_FIELD_STRING_ARRAY: return "[]string";
    case MR_TB_FIELD_OBJECT: return "struct";
    default: return "?";
    }
}

static gboolean
value_is (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* encoding/json: does @node decode into @type? (null always does: it leaves the zero value) */
static gboolean
decodes_as (JsonNode *node, MrTbFieldType type, const char **bad_kind)
{
  *bad_kind = json_kind (node);
  if (JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  switch (type)
    {
    case MR_TB_FIELD_STRING:
      return value_is (node, G_TYPE_STRING);
    case MR_TB_FIELD_BOOL:
      return value_is (node, G_TYPE_BOOLEAN);
    case MR_TB_FIELD_INT:
      return value_is (node, G_TYPE_INT64);
    case MR_TB_FIELD_OBJECT:
      return JSON_NODE_HOLDS_OBJECT (node);
    case MR_TB_FIELD_STRING_ARRAY:
      if (!JSON_NODE_HOLDS_ARRAY (node))
        return FALSE;
      for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
        {
          JsonNode *e = json_array_get_element (json_node_get_array (node), i);
          if (!JSON_NODE_HOLDS_NULL (e) && !value_is (e, G_TYPE_STRING))
            {
              *bad_kind = json_kind (e);
              return FALSE;
            }
        }
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
satisfies_required (JsonNode *node, MrTbFieldType type)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return FALSE;
  switch (type)
    {
    case MR_TB_FIELD_STRING:
      return *json_node_get_string (node) != '\0';
    case MR_TB_FIELD_BOOL:
      return json_node_get_boolean (node);     /* the zero value fails, as in the validator */
    case MR_TB_FIELD_INT:
      return json_node_get_int (node) != 0;
    default:
      return TRUE;                             /* slices and pointers: present is enough */
    }
}

JsonObject *
mr_tb_bind_json (MrTbCall *call, const char *type_name, const MrTbField *fields, GError **error)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(GString) failures = NULL;
  g_autoptr(GError) local = NULL;

  body = mr_tb_parse_body_object (call, &local);
  if (body == NULL)
    {
      /* a JSON value that is not an object is a type error in encoding/json */
      if (g_error_matches (local, MR_ERROR, MR_ERROR_INVALID_BODY) && strcmp (local->message, "EOF") != 0)
        g_set_error (error, MR_ERROR, MR_ERROR_INVALID_BODY,
                     "json: cannot unmarshal non-object into Go value of type %s", type_name);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }

  for (const MrTbField *f = fields; f->json_name; f++)
    {
      JsonNode *node = json_object_get_member (body, f->json_name);
      const char *bad_kind;

      if (node && !decodes_as (node, f->type, &bad_kind))
        {
          g_set_error (error, MR_ERROR, MR_ERROR_INVALID_BODY,
                       "json: cannot unmarshal %s into Go struct field %s.%s of type %s",
                       bad_kind, type_name, f->json_name,
                       f->type == MR_TB_FIELD_STRING_ARRAY && strcmp (bad_kind, "array") != 0 &&
                       JSON_NODE_HOLDS_ARRAY (node) ? "string" : go_type (f->type));
          return NULL;
        }
    }

  for (const MrTbField *f = fields; f->json_name; f++)
    if (f->required && !satisfies_required (json_object_get_member (body, f->json_name), f->type))
      {
        if (failures == NULL)
          failures = g_string_new (NULL);
        else
          g_string_append_c (failures, '\n');
        g_string_append_printf (failures, "Key: '%s.%s' Error:Field validation for '%s' failed on the 'required' tag",
                                type_name, f->go_name, f->go_name);
      }
  if (failures)
    {
      g_set_error_literal (error, MR_ERROR, MR_ERROR_INVALID_BODY, failures->str);
      return NULL;
    }
  return g_steal_pointer (&body);
}

JsonObject *
mr_tb_bind_json_or_reply (MrTbCall *call, const char *type_name, const MrTbField *fields)
{
  g_autoptr(GError) error = NULL;
  JsonObject *body = mr_tb_bind_json (call, type_name, fields, &error);

  if (body == NULL)
    mr_tb_reply_error_printf (call, 400, "invalid request body: %s", error->message);
  return body;
}

const char *
mr_tb_json_string (JsonObject *o, const char *name)
{
  JsonNode *node = json_object_get_member (o, name);

  return node && value_is (node, G_TYPE_STRING) ? json_node_get_string (node) : NULL;
}

gboolean
mr_tb_json_bool (JsonObject *o, const char *name, gboolean default_value)
{
  JsonNode *node = json_object_get_member (o, name);

  return node && value_is (node, G_TYPE_BOOLEAN) ? json_node_get_boolean (node) : default_value;
}

gboolean
mr_tb_json_has (JsonObject *o, const char *name)
{
  JsonNode *node = json_object_get_member (o, name);

  return node != NULL && !JSON_NODE_HOLDS_NULL (node);
}

char **
mr_tb_json_strv (JsonObject *o, const char *name)
{
  JsonNode *node = json_object_get_member (o, name);
  GPtrArray *out = g_ptr_array_new ();

  if (node && JSON_NODE_HOLDS_ARRAY (node))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
      {
        JsonNode *e = json_array_get_element (json_node_get_array (node), i);
        /* encoding/json decodes a null element of []string as "" */
        g_ptr_array_add (out, g_strdup (value_is (e, G_TYPE_STRING) ? json_node_get_string (e) : ""));
      }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}
