/* mr-error.h: the MR_ERROR domain shared by the runner, its plugins and the toolbox. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * MrError:
 * @MR_ERROR_FAILED: an internal failure (HTTP 500)
 * @MR_ERROR_INVALID_ARGUMENT: the client sent something invalid (HTTP 400)
 * @MR_ERROR_INVALID_BODY: the request body could not be bound or validated (HTTP 400)
 * @MR_ERROR_NOT_FOUND: the named object does not exist (HTTP 404)
 * @MR_ERROR_CONFLICT: the operation conflicts with the current state (HTTP 409)
 * @MR_ERROR_UNAUTHORIZED: missing or wrong credentials (HTTP 401)
 * @MR_ERROR_FORBIDDEN: not allowed (HTTP 403)
 * @MR_ERROR_TIMEOUT: the operation timed out (HTTP 408)
 * @MR_ERROR_GONE: the object existed but is gone (HTTP 410)
 * @MR_ERROR_TOO_LARGE: the request body is over the size limit (HTTP 413)
 * @MR_ERROR_UNPROCESSABLE: a recorded failure prevents the answer (HTTP 422)
 * @MR_ERROR_BAD_GATEWAY: an upstream could not be reached (HTTP 502)
 * @MR_ERROR_UNAVAILABLE: a service is not available right now (HTTP 503)
 * @MR_ERROR_CONFIG: invalid configuration
 * @MR_ERROR_PLUGIN: a plugin could not be found, loaded or used
 *
 * Error codes of the #MR_ERROR domain. The HTTP layer maps each code to a status.
 */
typedef enum {
  MR_ERROR_FAILED,
  MR_ERROR_INVALID_ARGUMENT,
  MR_ERROR_INVALID_BODY,
  MR_ERROR_NOT_FOUND,
  MR_ERROR_CONFLICT,
  MR_ERROR_UNAUTHORIZED,
  MR_ERROR_FORBIDDEN,
  MR_ERROR_TIMEOUT,
  MR_ERROR_GONE,
  MR_ERROR_TOO_LARGE,
  MR_ERROR_UNPROCESSABLE,
  MR_ERROR_BAD_GATEWAY,
  MR_ERROR_UNAVAILABLE,
  MR_ERROR_CONFIG,
  MR_ERROR_PLUGIN,
} MrError;

/**
 * MR_ERROR:
 *
 * The error domain of mock-runner.
 */
#define MR_ERROR (mr_error_quark ())

GQuark mr_error_quark (void);

guint        mr_error_http_status (const GError *error);
const char  *mr_error_http_code   (const GError *error);
const char  *mr_error_message_prefix (const GError *error);

G_END_DECLS
