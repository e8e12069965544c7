/* mr-error.c: MR_ERROR and its mapping onto HTTP statuses and the common error body's
 * "code" strings (runner-api.md section 1.3). */
#include "mr-error.h"

G_DEFINE_QUARK (mr-error-quark, mr_error)

typedef struct {
  guint status;
  const char *code;
  const char *prefix;   /* the Go error middleware prefixes messages by class */
} MrErrorMapping;

static const MrErrorMapping mappings[] = {
  [MR_ERROR_FAILED]           = { 500, "INTERNAL_SERVER_ERROR", "" },
  [MR_ERROR_INVALID_ARGUMENT] = { 400, "BAD_REQUEST", "bad request: " },
  [MR_ERROR_INVALID_BODY]     = { 400, "INVALID_REQUEST_BODY", "invalid body request: " },
  [MR_ERROR_NOT_FOUND]        = { 404, "NOT_FOUND", "not found: " },
  [MR_ERROR_CONFLICT]         = { 409, "CONFLICT", "conflict: " },
  [MR_ERROR_UNAUTHORIZED]     = { 401, "UNAUTHORIZED", "unauthorized: " },
  [MR_ERROR_FORBIDDEN]        = { 403, "FORBIDDEN", "forbidden: " },
  [MR_ERROR_TIMEOUT]          = { 408, "REQUEST_TIMEOUT", "request timeout: " },
  [MR_ERROR_GONE]             = { 410, "GONE", "gone: " },
  [MR_ERROR_TOO_LARGE]        = { 413, "PAYLOAD_TOO_LARGE", "payload too large: " },
  [MR_ERROR_UNPROCESSABLE]    = { 422, "UNPROCESSABLE_ENTITY", "" },
  [MR_ERROR_BAD_GATEWAY]      = { 502, "BAD_GATEWAY", "bad gateway: " },
  [MR_ERROR_UNAVAILABLE]      = { 503, "SERVICE_UNAVAILABLE", "service unavailable: " },
  [MR_ERROR_CONFIG]           = { 500, "INTERNAL_SERVER_ERROR", "" },
  [MR_ERROR_PLUGIN]           = { 500, "INTERNAL_SERVER_ERROR", "" },
};

static const MrErrorMapping *
lookup (const GError *error)
{
  if (error == NULL || error->domain != MR_ERROR ||
      error->code < 0 || (gsize) error->code >= G_N_ELEMENTS (mappings))
    return &mappings[MR_ERROR_FAILED];
  return &mappings[error->code];
}

/**
 * mr_error_http_status:
 * @error: an error, usually in the #MR_ERROR domain
 *
 * Returns: the HTTP status the error is answered with (500 outside the domain)
 */
guint
mr_error_http_status (const GError *error)
{
  return lookup (error)->status;
}

/**
 * mr_error_http_code:
 * @error: an error, usually in the #MR_ERROR domain
 *
 * Returns: (transfer none): the `code` field of the common error body
 */
const char *
mr_error_http_code (const GError *error)
{
  return lookup (error)->code;
}

/**
 * mr_error_message_prefix:
 * @error: an error, usually in the #MR_ERROR domain
 *
 * Returns: (transfer none): the class prefix of the message, such as "not found: "
 */
const char *
mr_error_message_prefix (const GError *error)
{
  return lookup (error)->prefix;
}
