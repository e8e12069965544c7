/* mr-json-writer.h: compact JSON written straight into a string, for replies on hot
 * routes where building a JsonNode tree costs more than the rest of the request. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  GString *out;
} MrJsonWriter;

void  mr_json_writer_init (MrJsonWriter *w);
void  mr_json_writer_begin_object (MrJsonWriter *w);
void  mr_json_writer_end_object (MrJsonWriter *w);
void  mr_json_writer_member (MrJsonWriter *w, const char *name);
void  mr_json_writer_string (MrJsonWriter *w, const char *value);
void  mr_json_writer_boolean (MrJsonWriter *w, gboolean value);
void  mr_json_writer_int (MrJsonWriter *w, gint64 value);
void  mr_json_writer_member_string (MrJsonWriter *w, const char *name, const char *value);
char *mr_json_writer_finish (MrJsonWriter *w, gsize *length);

G_END_DECLS
