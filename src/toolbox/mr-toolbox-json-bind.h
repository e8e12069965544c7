/* mr-toolbox-json-bind.h: JSON request bodies checked the way the daemon's gin binding
 * checks them (encoding/json type errors, then `validate:"required"` tags), with the
 * same error texts, so clients see the daemon's 400 messages. Not installed. */
#pragma once

#include "mr-toolbox-private.h"

G_BEGIN_DECLS

typedef enum {
  MR_TB_FIELD_STRING,
  MR_TB_FIELD_BOOL,
  MR_TB_FIELD_INT,
  MR_TB_FIELD_STRING_ARRAY,
  MR_TB_FIELD_OBJECT,
} MrTbFieldType;

typedef struct {
  const char *json_name;    /* "commit_id" */
  const char *go_name;      /* "CommitID", as validator messages name it */
  MrTbFieldType type;
  gboolean required;        /* strings: non-empty; arrays and objects: present, not null */
} MrTbField;

/* Parses call->body as a JSON object and checks it against @fields (terminated by a
 * field with a NULL json_name). On failure, sets @error to the text the daemon puts
 * after "invalid request body: " and returns NULL. */
JsonObject *mr_tb_bind_json (MrTbCall *call, const char *type_name, const MrTbField *fields, GError **error);

/* Like mr_tb_bind_json(), but answers 400 "invalid request body: ..." (Shape A) itself. */
JsonObject *mr_tb_bind_json_or_reply (MrTbCall *call, const char *type_name, const MrTbField *fields);

/* Member accessors tolerant of null and missing members */
const char *mr_tb_json_string (JsonObject *o, const char *name);       /* NULL if absent/null */
gboolean    mr_tb_json_bool (JsonObject *o, const char *name, gboolean default_value);
gboolean    mr_tb_json_has (JsonObject *o, const char *name);          /* present and not null */
char      **mr_tb_json_strv (JsonObject *o, const char *name);         /* (transfer full), never NULL */

G_END_DECLS
