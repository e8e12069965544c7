/* mr-dto.c: Go-compatible request binding.
 *
 * encoding/json rules kept here: bodies are JSON whatever the Content-Type; unknown
 * fields are ignored; null leaves a field at its zero value; an empty body is "EOF";
 * the first type mismatch is reported as
 *   json: cannot unmarshal <kind> into Go struct field <Type>.<json path> of type <go type>
 * Then validator rules: one line per failed field,
 *   Key: '<Type>.<GoName>' Error:Field validation for '<GoName>' failed on the '<tag>' tag */
#include <math.h>
#include <string.h>

#include "mr-dto.h"
#include "mr-error.h"

static const char *
go_type_name (const MrDtoField *f)
{
  switch (f->type)
    {
    case MR_DTO_STRING: return "string";
    case MR_DTO_INT: return "int64";
    case MR_DTO_NUMBER: return "float64";
    case MR_DTO_BOOL: return "bool";
    case MR_DTO_STRING_MAP: return "map[string]string";
    case MR_DTO_STRING_ARRAY: return "[]string";
    case MR_DTO_OBJECT: return f->nested ? f->nested->go_type : "struct";
    case MR_DTO_OBJECT_ARRAY: return "[]struct";
    case MR_DTO_ANY: return "interface {}";
    }
  return "?";
}

/* Go's name for a JSON value's kind in UnmarshalTypeError: a number that does not fit a
 * numeric field is named with its literal ("number 1.5"), otherwise just "number". */
static char *
json_kind_for (JsonNode *node, gboolean numeric_target)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT: return g_strdup ("object");
    case JSON_NODE_ARRAY: return g_strdup ("array");
    case JSON_NODE_NULL: return g_strdup ("null");
    case JSON_NODE_VALUE:
      {
        GType t = json_node_get_value_type (node);
        if (t == G_TYPE_STRING)
          return g_strdup ("string");
        if (t == G_TYPE_BOOLEAN)
          return g_strdup ("bool");
        if (!numeric_target)
          return g_strdup ("number");
        if (t == G_TYPE_DOUBLE)
          {
            char buf[G_ASCII_DTOSTR_BUF_SIZE];
            return g_strdup_printf ("number %s", g_ascii_dtostr (buf, sizeof buf, json_node_get_double (node)));
          }
        return g_strdup_printf ("number %" G_GINT64_FORMAT, json_node_get_int (node));
      }
    }
  return g_strdup ("value");
}

static char *
json_kind (JsonNode *node)
{
  return json_kind_for (node, FALSE);
}

static gboolean
is_string (JsonNode *n)
{
  return JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING;
}

static gboolean
is_number (JsonNode *n)
{
  return JSON_NODE_HOLDS_VALUE (n) &&
         (json_node_get_value_type (n) == G_TYPE_INT64 || json_node_get_value_type (n) == G_TYPE_DOUBLE);
}

static gboolean
type_error (const MrDtoSchema *root, const char *path, const MrDtoField *f, JsonNode *value, GError **error)
{
  g_autofree char *kind = json_kind_for (value, f->type == MR_DTO_INT || f->type == MR_DTO_NUMBER);

  g_set_error (error, MR_ERROR, MR_ERROR_INVALID_BODY,
               "json: cannot unmarshal %s into Go struct field %s.%s of type %s",
               kind, root->go_type, path, go_type_name (f));
  return FALSE;
}

/* Checks JSON types recursively; Go reports the first mismatch it meets. */
static gboolean
check_types (const MrDtoSchema *root, const MrDtoSchema *schema, const char *prefix,
             JsonObject *object, GError **error)
{
  for (const MrDtoField *f = schema->fields; f->json_name; f++)
    {
      JsonNode *v = json_object_get_member (object, f->json_name);
      g_autofree char *path = prefix ? g_strconcat (prefix, ".", f->json_name, NULL) : g_strdup (f->json_name);

      if (v == NULL || JSON_NODE_HOLDS_NULL (v))
        continue;
      switch (f->type)
        {
        case MR_DTO_STRING:
          if (!is_string (v))
            return type_error (root, path, f, v, error);
          break;
        case MR_DTO_INT:
          if (!is_number (v) ||
              (json_node_get_value_type (v) == G_TYPE_DOUBLE &&
               (floor (json_node_get_double (v)) != json_node_get_double (v) ||
                fabs (json_node_get_double (v)) > 9.2e18)))
            return type_error (root, path, f, v, error);
          break;
        case MR_DTO_NUMBER:
          if (!is_number (v))
            return type_error (root, path, f, v, error);
          break;
        case MR_DTO_BOOL:
          if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_BOOLEAN)
            return type_error (root, path, f, v, error);
          break;
        case MR_DTO_STRING_MAP:
          {
            JsonObject *map;
            g_autoptr(GList) members = NULL;
            if (!JSON_NODE_HOLDS_OBJECT (v))
              return type_error (root, path, f, v, error);
            map = json_node_get_object (v);
            members = json_object_get_members (map);
            for (GList *l = members; l; l = l->next)
              {
                JsonNode *e = json_object_get_member (map, l->data);
                if (!is_string (e) && !JSON_NODE_HOLDS_NULL (e))
                  {
                    MrDtoField elem = { f->json_name, f->go_name, MR_DTO_STRING, 0, 0, NULL };
                    g_autofree char *epath = g_strconcat (path, ".", (char *) l->data, NULL);
                    return type_error (root, epath, &elem, e, error);
                  }
              }
            break;
          }
        case MR_DTO_STRING_ARRAY:
          {
            JsonArray *array;
            if (!JSON_NODE_HOLDS_ARRAY (v))
              return type_error (root, path, f, v, error);
            array = json_node_get_array (v);
            for (guint i = 0; i < json_array_get_length (array); i++)
              {
                JsonNode *e = json_array_get_element (array, i);
                if (!is_string (e) && !JSON_NODE_HOLDS_NULL (e))
                  {
                    MrDtoField elem = { f->json_name, f->go_name, MR_DTO_STRING, 0, 0, NULL };
                    return type_error (root, path, &elem, e, error);
                  }
              }
            break;
          }
        case MR_DTO_OBJECT:
          if (!JSON_NODE_HOLDS_OBJECT (v))
            return type_error (root, path, f, v, error);
          if (f->nested && !check_types (root, f->nested, path, json_node_get_object (v), error))
            return FALSE;
          break;
        case MR_DTO_OBJECT_ARRAY:
          if (!JSON_NODE_HOLDS_ARRAY (v))
            return type_error (root, path, f, v, error);
          break;
        case MR_DTO_ANY:
          break;
        }
    }
  return TRUE;
}

static gboolean
is_zero (const MrDtoField *f, JsonNode *v)
{
  if (v == NULL || JSON_NODE_HOLDS_NULL (v))
    return TRUE;
  switch (f->type)
    {
    case MR_DTO_STRING: return json_node_get_string (v)[0] == '\0';
    case MR_DTO_INT:
    case MR_DTO_NUMBER: return json_node_get_double (v) == 0;
    case MR_DTO_BOOL: return !json_node_get_boolean (v);
    default: return FALSE;   /* maps, slices and pointers only fail "required" when nil */
    }
}

static void
validate_fields (const MrDtoSchema *schema, const char *namespace, JsonObject *object, GString *failures)
{
  for (const MrDtoField *f = schema->fields; f->json_name; f++)
    {
      JsonNode *v = json_object_get_member (object, f->json_name);
      const char *tag = NULL;

      if ((f->flags & MR_DTO_REQUIRED) && is_zero (f, v))
        tag = "required";
      else if ((f->flags & MR_DTO_MIN) && (f->type == MR_DTO_INT || f->type == MR_DTO_NUMBER))
        {
          double value = (v && is_number (v)) ? json_node_get_double (v) : 0;
          if (value < f->min)
            tag = "min";
        }
      if (tag)
        {
          if (failures->len)
            g_string_append_c (failures, '\n');
          g_string_append_printf (failures,
                                  "Key: '%s.%s' Error:Field validation for '%s' failed on the '%s' tag",
                                  namespace, f->go_name, f->go_name, tag);
          continue;
        }
      if (f->type == MR_DTO_OBJECT && f->nested && v && JSON_NODE_HOLDS_OBJECT (v))
        {
          g_autofree char *ns = g_strconcat (namespace, ".", f->go_name, NULL);
          validate_fields (f->nested, ns, json_node_get_object (v), failures);
        }
    }
}

/**
 * mr_dto_validate:
 * @schema: the DTO schema
 * @object: a bound object
 * @error: return location for a #GError
 *
 * Returns: %TRUE if every validation rule holds
 */
gboolean
mr_dto_validate (const MrDtoSchema *schema, JsonObject *object, GError **error)
{
  g_autoptr(GString) failures = g_string_new (NULL);

  validate_fields (schema, schema->go_type, object, failures);
  if (failures->len == 0)
    return TRUE;
  g_set_error (error, MR_ERROR, MR_ERROR_INVALID_BODY, "%s", failures->str);
  return FALSE;
}

/**
 * mr_dto_bind:
 * @schema: the DTO schema
 * @body: (nullable): the request body
 * @validate: whether to apply the validation rules after binding
 * @error: return location for a #GError (#MR_ERROR_INVALID_BODY)
 *
 * Returns: (transfer full) (nullable): the body's JSON object
 */
JsonObject *
mr_dto_bind (const MrDtoSchema *schema, GBytes *body, gboolean validate, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local = NULL;
  gsize len = 0;
  const char *data = body ? g_bytes_get_data (body, &len) : NULL;
  JsonNode *root;
  JsonObject *object;
  gboolean blank = TRUE;

  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isspace (data[i]))
      {
        blank = FALSE;
        break;
      }
  if (blank)
    {
      g_set_error_literal (error, MR_ERROR, MR_ERROR_INVALID_BODY, "EOF");
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, len, &local))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_BODY, "%s", local->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (JSON_NODE_HOLDS_NULL (root))
    object = json_object_new ();
  else if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_autofree char *kind = json_kind (root);
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_BODY,
                   "json: cannot unmarshal %s into Go value of type dto.%s", kind, schema->go_type);
      return NULL;
    }
  else
    object = json_object_ref (json_node_get_object (root));

  if (!check_types (schema, schema, NULL, object, error) ||
      (validate && !mr_dto_validate (schema, object, error)))
    {
      json_object_unref (object);
      return NULL;
    }
  return object;
}

/* Accessors that apply Go's zero values to absent and null members. */

gboolean
mr_dto_has (JsonObject *object, const char *name)
{
  JsonNode *v = json_object_get_member (object, name);

  return v != NULL && !JSON_NODE_HOLDS_NULL (v);
}

const char *
mr_dto_get_string (JsonObject *object, const char *name)
{
  JsonNode *v = json_object_get_member (object, name);

  return (v && is_string (v)) ? json_node_get_string (v) : NULL;
}

gint64
mr_dto_get_int (JsonObject *object, const char *name, gint64 default_value)
{
  JsonNode *v = json_object_get_member (object, name);

  return (v && is_number (v)) ? json_node_get_int (v) : default_value;
}

gboolean
mr_dto_get_bool (JsonObject *object, const char *name, gboolean default_value)
{
  JsonNode *v = json_object_get_member (object, name);

  if (v && JSON_NODE_HOLDS_VALUE (v) && json_node_get_value_type (v) == G_TYPE_BOOLEAN)
    return json_node_get_boolean (v);
  return default_value;
}

GHashTable *
mr_dto_get_string_map (JsonObject *object, const char *name)
{
  GHashTable *table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  JsonNode *v = json_object_get_member (object, name);
  g_autoptr(GList) members = NULL;

  if (v == NULL || !JSON_NODE_HOLDS_OBJECT (v))
    return table;
  members = json_object_get_members (json_node_get_object (v));
  for (GList *l = members; l; l = l->next)
    {
      JsonNode *e = json_object_get_member (json_node_get_object (v), l->data);
      g_hash_table_insert (table, g_strdup (l->data), g_strdup (is_string (e) ? json_node_get_string (e) : ""));
    }
  return table;
}

char **
mr_dto_get_strv (JsonObject *object, const char *name)
{
  JsonNode *v = json_object_get_member (object, name);
  GStrvBuilder *b;
  char **out;

  if (v == NULL || !JSON_NODE_HOLDS_ARRAY (v))
    return NULL;
  b = g_strv_builder_new ();
  for (guint i = 0; i < json_array_get_length (json_node_get_array (v)); i++)
    {
      JsonNode *e = json_array_get_element (json_node_get_array (v), i);
      g_strv_builder_add (b, is_string (e) ? json_node_get_string (e) : "");
    }
  out = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return out;
}

JsonObject *
mr_dto_get_object (JsonObject *object, const char *name)
{
  JsonNode *v = json_object_get_member (object, name);

  return (v && JSON_NODE_HOLDS_OBJECT (v)) ? json_node_get_object (v) : NULL;
}
