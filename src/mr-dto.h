/* mr-dto.h: binding and validating JSON request bodies the way the Go runners do
 * (encoding/json + go-playground/validator), so error messages match theirs. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
  MR_DTO_STRING,
  MR_DTO_INT,
  MR_DTO_NUMBER,
  MR_DTO_BOOL,
  MR_DTO_STRING_MAP,
  MR_DTO_STRING_ARRAY,
  MR_DTO_OBJECT,          /* nested DTO, validated when present */
  MR_DTO_OBJECT_ARRAY,    /* elements are not validated (no "dive" tags) */
  MR_DTO_ANY,
} MrDtoType;

typedef enum {
  MR_DTO_REQUIRED = 1 << 0,   /* non-zero value: non-empty string, non-zero number, non-null */
  MR_DTO_MIN      = 1 << 1,   /* number >= min (so an omitted field fails when min > 0) */
} MrDtoFlags;

typedef struct _MrDtoSchema MrDtoSchema;

typedef struct {
  const char *json_name;     /* e.g. "cpuQuota" */
  const char *go_name;       /* e.g. "CpuQuota", as validator reports it */
  MrDtoType type;
  guint flags;
  gint64 min;
  const MrDtoSchema *nested;
} MrDtoField;

struct _MrDtoSchema {
  const char *go_type;       /* e.g. "CreateSandboxDTO" */
  const MrDtoField *fields;  /* terminated by a NULL json_name */
};

JsonObject *mr_dto_bind (const MrDtoSchema *schema, GBytes *body, gboolean validate, GError **error);
gboolean    mr_dto_validate (const MrDtoSchema *schema, JsonObject *object, GError **error);

const char *mr_dto_get_string (JsonObject *object, const char *name);
gint64      mr_dto_get_int (JsonObject *object, const char *name, gint64 default_value);
gboolean    mr_dto_get_bool (JsonObject *object, const char *name, gboolean default_value);
gboolean    mr_dto_has (JsonObject *object, const char *name);
GHashTable *mr_dto_get_string_map (JsonObject *object, const char *name);
char      **mr_dto_get_strv (JsonObject *object, const char *name);
JsonObject *mr_dto_get_object (JsonObject *object, const char *name);

G_END_DECLS
