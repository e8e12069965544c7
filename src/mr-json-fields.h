/* mr-json-fields.h: checks a JSON object against the members a record may have, so that a
 * state document with a misspelt member or a value of the wrong type is refused instead
 * of being read as the default. Not installed. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
  MR_JSON_STRING,
  MR_JSON_INT,
  MR_JSON_BOOL,
  MR_JSON_OBJECT,        /* any object */
  MR_JSON_STRING_MAP,    /* an object whose values are strings */
  MR_JSON_STRING_ARRAY,
} MrJsonKind;

typedef struct {
  const char *name;
  MrJsonKind kind;
} MrJsonField;

gboolean mr_json_check_fields (JsonObject        *object,
                               const MrJsonField *fields,
                               guint              n_fields,
                               const char        *what,
                               GError           **error);

G_END_DECLS
