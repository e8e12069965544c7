/* Fault and latency rules: matching, limits, the three actions, seeded probability, and
 * what they never touch. */
#include "mr-test-http.h"

static char *
add_json (MrRunner *r, const char *json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MrFaultRule) rule = mr_fault_rule_new_from_json (json, &error);
  char *id;

  g_assert_no_error (error);
  id = mr_runner_add_fault (r, rule, &error);
  g_assert_no_error (error);
  return id;
}

static JsonObject *
parse_object (const char *text, JsonNode **keep)
{
  *keep = json_from_string (text, NULL);
  g_assert_nonnull (*keep);
  return json_node_get_object (*keep);
}

static void
test_error_rule (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autofree char *id = add_json (r, "{\"method\":\"POST\",\"path\":\"/sandboxes\",\"status\":503,\"times\":1}");
  g_auto(MrTestReply) first = { 0 };
  g_autoptr(JsonNode) keep = NULL;
  g_autoptr(GPtrArray) rules = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  JsonObject *body;
  g_autofree char *json = mr_test_create_json ("sb-f1");

  g_assert_cmpstr (id, ==, "fault-1");
  first = mr_test_http (r, "POST", "/sandboxes", json);
  g_assert_cmpuint (first.status, ==, 503);
  body = parse_object (first.body, &keep);
  /* the common error body */
  g_assert_cmpint (json_object_get_int_member (body, "statusCode"), ==, 503);
  g_assert_cmpstr (json_object_get_string_member (body, "code"), ==, "SERVICE_UNAVAILABLE");
  g_assert_cmpstr (json_object_get_string_member (body, "path"), ==, "/sandboxes");
  g_assert_cmpstr (json_object_get_string_member (body, "method"), ==, "POST");
  g_assert_nonnull (strstr (json_object_get_string_member (body, "message"), "fault-1"));
  /* the sandbox was not created: the route never saw the request */
  {
    g_autofree char *state = mr_test_state (r, "sb-f1");
    g_assert_cmpstr (state, ==, "destroyed");
  }
  /* times = 1: the next one goes through */
  g_assert_cmpuint (mr_test_create (r, "sb-f1"), ==, 201);

  rules = mr_runner_get_faults (r);
  g_assert_cmpuint (rules->len, ==, 1);
  g_assert_cmpuint (mr_fault_rule_get_hits (rules->pdata[0]), ==, 1);
  entries = mr_runner_get_requests (r, "POST", "/sandboxes", NULL);
  g_assert_cmpuint (entries->len, ==, 2);
  g_assert_cmpstr (mr_journal_entry_get_fault (entries->pdata[0]), ==, "fault-1");
  g_assert_cmpuint (mr_journal_entry_get_status (entries->pdata[0]), ==, 503);
  g_assert_null (mr_journal_entry_get_fault (entries->pdata[1]));
}

static void
test_matching (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autofree char *a = add_json (r, "{\"sandboxId\":\"sb-x\",\"status\":409,\"code\":\"CONFLICT\","
                                    "\"message\":\"conflict: busy\"}");
  g_autofree char *b = add_json (r, "{\"path\":\"/sandboxes/{id}/stop\",\"status\":500}");
  g_autofree char *c = add_json (r, "{\"method\":\"delete\",\"path\":\"/sandboxes/*\",\"status\":502}");

  g_assert_cmpuint (mr_test_create (r, "sb-y"), ==, 201);
  g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/sb-x", NULL), ==, 409);
  g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/sb-y", NULL), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-y/stop", "{}"), ==, 500);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-y/start", "{}"), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "DELETE", "/sandboxes/sb-y", NULL), ==, 502);
  /* the first matching rule wins */
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-x/stop", "{}"), ==, 409);

  g_assert_true (mr_runner_remove_fault (r, a));
  g_assert_false (mr_runner_remove_fault (r, a));
  g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/sb-x", NULL), ==, 200);
  mr_runner_clear_faults (r);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-y/stop", "{}"), ==, 200);
}

static void
test_delay (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autofree char *id = add_json (r, "{\"action\":\"delay\",\"path\":\"/sandboxes\",\"delayMs\":200}");
  g_autofree char *err = add_json (r, "{\"path\":\"/info\",\"status\":504,\"delayMs\":150}");
  gint64 start = g_get_monotonic_time ();
  g_autoptr(GPtrArray) entries = NULL;

  /* served normally, after the delay */
  g_assert_cmpuint (mr_test_create (r, "sb-d"), ==, 201);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 200 * 1000);
  {
    g_autofree char *state = mr_test_state (r, "sb-d");
    g_assert_cmpstr (state, ==, "started");
  }
  entries = mr_runner_get_requests (r, "POST", "/sandboxes", NULL);
  g_assert_cmpuint (entries->len, ==, 1);
  g_assert_cmpuint (mr_journal_entry_get_status (entries->pdata[0]), ==, 201);
  g_assert_cmpstr (mr_journal_entry_get_fault (entries->pdata[0]), ==, id);
  g_assert_cmpint (mr_journal_entry_get_duration (entries->pdata[0]), >=, 200 * 1000);

  /* an error after a delay */
  start = g_get_monotonic_time ();
  g_assert_cmpuint (mr_test_status (r, "GET", "/info", NULL), ==, 504);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 150 * 1000);
}

static void
test_drop (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autofree char *id = add_json (r, "{\"action\":\"drop\",\"path\":\"/sandboxes/*\",\"times\":1}");
  g_auto(MrTestReply) dropped = { 0 };
  g_autoptr(GPtrArray) entries = NULL;

  dropped = mr_test_http (r, "GET", "/sandboxes/sb-z", NULL);
  g_assert_nonnull (dropped.error);
  g_assert_cmpuint (dropped.status, ==, 0);
  /* the runner carries on */
  g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/sb-z", NULL), ==, 200);
  entries = mr_runner_get_requests (r, NULL, "/sandboxes/sb-z", NULL);
  g_assert_cmpuint (entries->len, ==, 2);
  g_assert_cmpuint (mr_journal_entry_get_status (entries->pdata[0]), ==, 0);
  g_assert_true (mr_journal_entry_get_completed (entries->pdata[0]));
  g_assert_cmpstr (mr_journal_entry_get_fault (entries->pdata[0]), ==, id);
}

/* Which of 40 requests a 50 % rule hits, as a string of 0 and 1. */
static char *
probability_pattern (gint64 seed)
{
  g_autoptr(MrRunner) r = mr_runner_new ();
  GString *pattern = g_string_new (NULL);
  g_autofree char *id = NULL;

  mr_runner_set_seed (r, seed);
  g_assert_cmpuint (mr_runner_start (r, NULL), !=, 0);
  id = add_json (r, "{\"path\":\"/info\",\"status\":500,\"probability\":0.5}");
  for (int i = 0; i < 40; i++)
    g_string_append_c (pattern, mr_test_status (r, "GET", "/info", NULL) == 500 ? '1' : '0');
  return g_string_free (pattern, FALSE);
}

static void
test_seeded_probability (void)
{
  g_autofree char *a = probability_pattern (7);
  g_autofree char *b = probability_pattern (7);
  g_autofree char *c = probability_pattern (8);

  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (a, !=, c);
  g_assert_nonnull (strchr (a, '0'));
  g_assert_nonnull (strchr (a, '1'));
}

static void
test_invalid_rules (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  static const char *const bad[] = {
    "{\"status\":200}",
    "{\"status\":700}",
    "{\"sandbox_id\":\"x\"}",
    "{\"action\":\"explode\"}",
    "{\"probability\":1.5}",
    "{\"probability\":\"half\"}",
    "{\"action\":\"delay\"}",
    "{\"times\":-1}",
    "[1]",
    "not json",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MrFaultRule) rule = mr_fault_rule_new_from_json (bad[i], &error);
      g_autofree char *id = NULL;
      if (rule)
        id = mr_runner_add_fault (r, rule, &error);
      g_assert_null (id);
      g_assert_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT);
      {
        g_auto(MrTestReply) reply = mr_test_http (r, "POST", "/_mock/faults", bad[i]);
        g_autoptr(JsonNode) keep = NULL;
        g_assert_cmpuint (reply.status, ==, 400);
        g_assert_cmpint (json_object_get_int_member (parse_object (reply.body, &keep), "statusCode"), ==, 400);
      }
    }
  {
    g_autoptr(GPtrArray) rules = mr_runner_get_faults (r);
    g_assert_cmpuint (rules->len, ==, 0);
  }
}

static void
test_never_touches_controls_or_auth (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autofree char *id = add_json (r, "{\"path\":\"*\",\"status\":500}");

  g_assert_cmpuint (mr_test_status (r, "GET", "/info", NULL), ==, 500);
  /* a bad token is still told so, and unknown routes still 404 */
  {
    g_auto(MrTestReply) reply = mr_test_http_full (r, "GET", "/info", NULL, "wrong");
    g_assert_cmpuint (reply.status, ==, 401);
  }
  g_assert_cmpuint (mr_test_status (r, "GET", "/nothing/here", NULL), ==, 404);
  /* the controls still answer, so the rule can be removed */
  g_assert_cmpuint (mr_test_status (r, "GET", "/_mock/faults", NULL), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "DELETE", "/_mock/faults", NULL), ==, 204);
  g_assert_cmpuint (mr_test_status (r, "GET", "/info", NULL), ==, 200);
}

static void
test_http_api (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(JsonNode) keep = NULL;
  JsonObject *rule;
  JsonArray *list;

  {
    g_auto(MrTestReply) reply = mr_test_http (r, "POST", "/_mock/faults",
                                              "{\"method\":\"GET\",\"path\":\"/info\",\"status\":429,\"times\":2}");
    g_assert_cmpuint (reply.status, ==, 201);
    rule = parse_object (reply.body, &keep);
    g_assert_cmpstr (json_object_get_string_member (rule, "id"), ==, "fault-1");
    g_assert_cmpstr (json_object_get_string_member (rule, "action"), ==, "error");
    g_assert_cmpint (json_object_get_int_member (rule, "status"), ==, 429);
  }
  g_assert_cmpuint (mr_test_status (r, "GET", "/info", NULL), ==, 429);
  {
    g_auto(MrTestReply) reply = mr_test_http (r, "GET", "/_mock/faults", NULL);
    g_autoptr(JsonNode) node = NULL;
    g_assert_cmpuint (reply.status, ==, 200);
    list = json_object_get_array_member (parse_object (reply.body, &node), "faults");
    g_assert_cmpuint (json_array_get_length (list), ==, 1);
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (list, 0), "hits"), ==, 1);
  }
  g_assert_cmpuint (mr_test_status (r, "DELETE", "/_mock/faults/fault-9", NULL), ==, 404);
  g_assert_cmpuint (mr_test_status (r, "DELETE", "/_mock/faults/fault-1", NULL), ==, 204);
  g_assert_cmpuint (mr_test_status (r, "GET", "/info", NULL), ==, 200);

  /* reset removes rules */
  g_free (add_json (r, "{\"path\":\"/info\",\"status\":500}"));
  mr_runner_reset (r);
  g_assert_cmpuint (mr_test_status (r, "GET", "/info", NULL), ==, 200);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/faults/error-rule", test_error_rule);
  g_test_add_func ("/faults/matching", test_matching);
  g_test_add_func ("/faults/delay", test_delay);
  g_test_add_func ("/faults/drop", test_drop);
  g_test_add_func ("/faults/seeded-probability", test_seeded_probability);
  g_test_add_func ("/faults/invalid-rules", test_invalid_rules);
  g_test_add_func ("/faults/never-touches-controls-or-auth", test_never_touches_controls_or_auth);
  g_test_add_func ("/faults/http-api", test_http_api);
  return g_test_run ();
}
