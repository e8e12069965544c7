/* mr-api-ssh.c: SSH access tokens, as the Daytona API hands them out
 * (toolbox-api.md 5.1), served by the runner so that tests need no API:
 *
 *   POST   /sandboxes/{id}/ssh-access?expiresInMinutes=60
 *          -> {id, sandboxId, token, expiresAt, createdAt, updatedAt, sshCommand}
 *          A new token revokes the sandbox's earlier ones.
 *   DELETE /sandboxes/{id}/ssh-access[?token=]  -> revokes one token, or all of them
 *   GET    /sandboxes/ssh-access/validate?token= -> {valid, sandboxId}
 *
 * The ssh gateway plugin takes these tokens as user names. They live in the runner's
 * own store (mr_runner_get_ssh_access()), so two runners never share them; reset
 * forgets them. */
#include <math.h>
#include <string.h>

#include "mr-runner-private.h"
#include "mr-http.h"
#include "ssh/mr-ssh-access.h"

#define DEFAULT_EXPIRES_MINUTES 60.0
#define MAX_EXPIRES_MINUTES (10.0 * 365 * 24 * 60)
#define DEFAULT_GATEWAY_PORT 2220

/* JavaScript's Date.toISOString(), as the API's JSON has it: "2026-01-02T03:04:05.678Z" */
static char *
format_js_time (gint64 usec)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
  g_autofree char *base = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%03dZ", base, (int) ((usec % G_USEC_PER_SEC) / 1000));
}

static gboolean
sandbox_known (MrExchange *ex)
{
  g_autoptr(MrSandbox) sandbox = NULL;

  if (mr_runner_get_option_bool (ex->runner, "TOOLBOX_ANY_SANDBOX", FALSE))
    return TRUE;
  sandbox = mr_sandbox_backend_get (mr_runner_get_sandbox_backend (ex->runner), ex->sandbox_id);
  if (sandbox->exists && sandbox->state != MR_SANDBOX_STATE_DESTROYED)
    return TRUE;
  {
    g_autofree char *message = g_strdup_printf ("not found: sandbox %s not found", ex->sandbox_id);
    mr_http_reply_error (ex->msg, 404, "NOT_FOUND", message);
  }
  return FALSE;
}

/* "ssh -p 2220 <token>@<host>", as the API's sshCommand (port 22 left out) */
static char *
ssh_command (MrRunner *runner, const char *token)
{
  MrSshBackend *gateway = mr_runner_get_ssh_backend (runner);
  const char *host = mr_runner_get_option (runner, "SSH_GATEWAY_HOST");
  g_autoptr(GUri) url = mr_runner_get_url (runner) ? g_uri_parse (mr_runner_get_url (runner), G_URI_FLAGS_NONE, NULL)
                                                   : NULL;
  gint64 port = gateway ? mr_ssh_backend_get_port (gateway) : 0;

  if (port == 0)
    port = mr_runner_get_option_int (runner, "SSH_GATEWAY_PORT", DEFAULT_GATEWAY_PORT);
  if (host == NULL || *host == '\0')
    host = url && g_uri_get_host (url) ? g_uri_get_host (url) : "localhost";
  if (port == 22)
    return g_strdup_printf ("ssh %s@%s", token, host);
  return g_strdup_printf ("ssh -p %" G_GINT64_FORMAT " %s@%s", port, token, host);
}

static guint32
runner_random (gpointer runner)
{
  return mr_runner_random_int (runner);
}

static void
handle_create (MrExchange *ex)
{
  const char *param = mr_exchange_query (ex, "expiresInMinutes");
  double minutes = DEFAULT_EXPIRES_MINUTES;
  g_autoptr(MrSshAccess) access = NULL;
  g_autoptr(JsonBuilder) b = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *token = NULL;
  g_autofree char *id = NULL;
  g_autofree char *command = NULL;
  g_autofree char *created = NULL;
  g_autofree char *updated = NULL;
  g_autofree char *expires = NULL;
  gint64 now;

  if (param && *param)
    {
      char *end = NULL;
      minutes = g_ascii_strtod (param, &end);
      /* fractions are allowed (the API multiplies by 60000), so tests can expire fast */
      if (end == param || *end != '\0' || !isfinite (minutes) || minutes <= 0 || minutes > MAX_EXPIRES_MINUTES)
        {
          g_autofree char *message = g_strdup_printf ("bad request: expiresInMinutes must be a positive number of "
                                                      "minutes, got '%s'", param);
          mr_http_reply_error (ex->msg, 400, "BAD_REQUEST", message);
          return;
        }
    }
  if (!sandbox_known (ex))
    return;

  token = mr_ssh_access_make_token (runner_random, ex->runner);
  id = mr_runner_random_uuid (ex->runner);
  now = mr_runner_get_real_time (ex->runner);
  access = mr_ssh_access_store_create (mr_runner_get_ssh_access (ex->runner), ex->sandbox_id, id, token, now,
                                       now + (gint64) (minutes * 60 * G_USEC_PER_SEC));
  command = ssh_command (ex->runner, token);
  created = format_js_time (access->created_at);
  updated = format_js_time (access->updated_at);
  expires = format_js_time (access->expires_at);

  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, access->id);
  json_builder_set_member_name (b, "sandboxId");
  json_builder_add_string_value (b, access->sandbox_id);
  json_builder_set_member_name (b, "token");
  json_builder_add_string_value (b, access->token);
  json_builder_set_member_name (b, "expiresAt");
  json_builder_add_string_value (b, expires);
  json_builder_set_member_name (b, "createdAt");
  json_builder_add_string_value (b, created);
  json_builder_set_member_name (b, "updatedAt");
  json_builder_add_string_value (b, updated);
  json_builder_set_member_name (b, "sshCommand");
  json_builder_add_string_value (b, command);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_revoke (MrExchange *ex)
{
  const char *token = mr_exchange_query (ex, "token");
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  guint n;

  if (!sandbox_known (ex))
    return;
  n = mr_ssh_access_store_revoke (mr_runner_get_ssh_access (ex->runner), ex->sandbox_id,
                                  token && *token ? token : NULL);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "sandboxId");
  json_builder_add_string_value (b, ex->sandbox_id);
  json_builder_set_member_name (b, "revoked");
  json_builder_add_int_value (b, n);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_validate (MrExchange *ex)
{
  g_autofree char *sandbox_id = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  MrSshAccessStatus status = mr_ssh_access_store_check (mr_runner_get_ssh_access (ex->runner),
                                                        mr_exchange_query (ex, "token"),
                                                        mr_runner_get_real_time (ex->runner), &sandbox_id);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "valid");
  json_builder_add_boolean_value (b, status == MR_SSH_ACCESS_VALID);
  json_builder_set_member_name (b, "sandboxId");
  if (sandbox_id)
    json_builder_add_string_value (b, sandbox_id);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

static const MrRoute routes[] = {
  { "POST", "/sandboxes/{id}/ssh-access", handle_create, NULL, 0, "ssh-access-create" },
  { "DELETE", "/sandboxes/{id}/ssh-access", handle_revoke, NULL, 0, "ssh-access-revoke" },
  { "GET", "/sandboxes/ssh-access/validate", handle_validate, NULL, 0, "ssh-access-validate" },
};

void
mr_api_register_ssh (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
