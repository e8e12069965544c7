/* mr-http.h: JSON replies and the common error body
 * {statusCode, message, code, timestamp, path, method}. */
#pragma once

#include <libsoup/soup.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define MR_JSON_CONTENT_TYPE "application/json; charset=utf-8"

char     *mr_http_format_timestamp (GDateTime *time);
char     *mr_http_json_to_string (JsonNode *node);
void      mr_http_reply_json (SoupServerMessage *msg, guint status, JsonNode *node);
void      mr_http_reply_json_text (SoupServerMessage *msg, guint status, char *text, gsize len);
void      mr_http_reply_json_string (SoupServerMessage *msg, guint status, const char *text);
void      mr_http_reply_bytes (SoupServerMessage *msg, guint status, const char *content_type, GBytes *bytes);
void      mr_http_reply_error (SoupServerMessage *msg, guint status, const char *code, const char *message);
void      mr_http_reply_error_at (SoupServerMessage *msg, guint status, const char *code,
                                  const char *message, const char *path);
void      mr_http_reply_gerror (SoupServerMessage *msg, const GError *error);
JsonNode *mr_http_error_body (guint status, const char *code, const char *message,
                              const char *path, const char *method);
const char *mr_http_client_ip (SoupServerMessage *msg);
gboolean  mr_http_request_has_body (SoupServerMessage *msg);
void      mr_http_reply_bodiless (SoupServerMessage *msg, guint status);
void      mr_http_keep_alive_without_body (SoupServerMessage *msg);
void      mr_http_redirect (SoupServerMessage *msg, const char *location);

G_END_DECLS
