/* mr-test-http.h: HTTP helpers shared by the C tests of the test controls (journal,
 * faults, timing): one blocking request with the runner's token, JSON in and out. */
#pragma once

#include <string.h>

#include "mock-runner.h"

typedef struct {
  guint status;
  char *body;
  GError *error;             /* transport failure (e.g. a dropped connection) */
} MrTestReply;

static inline void
mr_test_reply_clear (MrTestReply *reply)
{
  g_clear_pointer (&reply->body, g_free);
  g_clear_error (&reply->error);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MrTestReply, mr_test_reply_clear)

/* @token NULL: no Authorization header. */
static inline MrTestReply
mr_test_http_full (MrRunner *runner, const char *method, const char *path, const char *json,
                   const char *token)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 30, NULL);
  g_autofree char *url = g_strconcat (mr_runner_get_url (runner), path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GBytes) bytes = NULL;
  MrTestReply reply = { 0 };

  g_assert_nonnull (msg);
  if (token)
    {
      g_autofree char *value = g_strconcat ("Bearer ", token, NULL);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", value);
    }
  if (json)
    {
      g_autoptr(GBytes) body = g_bytes_new (json, strlen (json));
      soup_message_set_request_body_from_bytes (msg, "application/json", body);
    }
  bytes = soup_session_send_and_read (session, msg, NULL, &reply.error);
  reply.status = reply.error ? 0 : soup_message_get_status (msg);
  reply.body = bytes ? g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes)) : NULL;
  return reply;
}

static inline MrTestReply
mr_test_http (MrRunner *runner, const char *method, const char *path, const char *json)
{
  return mr_test_http_full (runner, method, path, json, mr_runner_get_token (runner));
}

/* The status of one request, body ignored. */
static inline guint
mr_test_status (MrRunner *runner, const char *method, const char *path, const char *json)
{
  g_auto(MrTestReply) reply = mr_test_http (runner, method, path, json);

  return reply.status;
}

static inline char *
mr_test_create_json (const char *id)
{
  return g_strdup_printf ("{\"id\":\"%s\",\"userId\":\"u\",\"snapshot\":\"ubuntu:22.04\",\"osUser\":\"daytona\","
                          "\"cpuQuota\":1,\"gpuQuota\":0,\"memoryQuota\":1,\"storageQuota\":3}", id);
}

static inline guint
mr_test_create (MrRunner *runner, const char *id)
{
  g_autofree char *json = mr_test_create_json (id);

  return mr_test_status (runner, "POST", "/sandboxes", json);
}

/* The sandbox's state as GET /sandboxes/{id} reports it. */
static inline char *
mr_test_state (MrRunner *runner, const char *id)
{
  g_autofree char *path = g_strdup_printf ("/sandboxes/%s", id);
  g_auto(MrTestReply) reply = mr_test_http (runner, "GET", path, NULL);
  g_autoptr(JsonNode) node = NULL;

  g_assert_cmpuint (reply.status, ==, 200);
  node = json_from_string (reply.body, NULL);
  g_assert_nonnull (node);
  return g_strdup (json_object_get_string_member (json_node_get_object (node), "state"));
}

static inline MrRunner *
mr_test_runner_new_started (void)
{
  MrRunner *runner = mr_runner_new ();
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (mr_runner_start (runner, &error), !=, 0);
  g_assert_no_error (error);
  return runner;
}
