/* SDK version comparison and the gates of toolbox-api.md section 1.3. */
#include "mr-sdk-version.h"

static void
test_compare (void)
{
  struct { const char *a, *b; int expected; } cases[] = {
    { "0.27.0", "0.27.0-0", 1 },
    { "0.26.9", "0.27.0-0", -1 },
    { "0.27.0-rc.1", "0.27.0-0", 1 },
    { "0.27.0-0", "0.27.0-0", 0 },
    { "1.2.3", "1.2.10", -1 },
    { "v0.166.9", "0.167.0-0", -1 },
    { "0.167.0", "0.167.0-0", 1 },
    { "0.218.0", "0.167.0-0", 1 },
    { "1.2.3foo", "1.2.3", -1 },            /* read as 1.2.3-foo */
    { "1.2.3-alpha", "1.2.3-alpha.1", -1 },
    { "1.2.3-alpha.2", "1.2.3-alpha.10", -1 },
    { "1.2.3-1", "1.2.3-alpha", -1 },       /* numeric identifiers sort first */
    { "1.2.3+build", "1.2.3", 0 },
    { "2", "1.9.9", 1 },
    { "unknown", "0.167.0-0", 1 },          /* unparsable counts as new */
    { "", "0.1.0", 1 },
    { NULL, "0.1.0", 1 },
    { "1.2.3-", "0.1.0", 1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s vs %s", cases[i].a, cases[i].b);
      g_assert_cmpint (mr_sdk_version_compare (cases[i].a, cases[i].b), ==, cases[i].expected);
    }
}

static void
test_combined_output (void)
{
  /* no version: stripped unless the client asks for the split output */
  g_assert_true (mr_sdk_gate_combined_output (NULL, NULL));
  g_assert_true (mr_sdk_gate_combined_output ("", "false"));
  g_assert_false (mr_sdk_gate_combined_output (NULL, "true"));
  /* old SDKs: stripped */
  g_assert_true (mr_sdk_gate_combined_output ("0.21.5", NULL));
  g_assert_true (mr_sdk_gate_combined_output ("0.26.99", "true"));
  /* SDKs from 0.27.0 and dev builds get the markers */
  g_assert_false (mr_sdk_gate_combined_output ("0.27.0", NULL));
  g_assert_false (mr_sdk_gate_combined_output ("0.27.1", NULL));
  g_assert_false (mr_sdk_gate_combined_output ("0.161.0", NULL));
  g_assert_false (mr_sdk_gate_combined_output ("0.0.0-dev", NULL));
  g_assert_false (mr_sdk_gate_combined_output ("unknown", NULL));
  /* at-mock exempts exactly 0.0.0-dev; other pre-releases compare as semver */
  g_assert_true (mr_sdk_gate_combined_output ("0.26.0-dev", NULL));
  g_assert_true (mr_sdk_gate_combined_output ("0.26.9-dev.1", NULL));
  g_assert_false (mr_sdk_gate_combined_output ("0.27.0-dev.1", NULL));
}

static void
test_skip_server_demux (void)
{
  g_assert_true (mr_sdk_gate_skip_server_demux (NULL));
  g_assert_true (mr_sdk_gate_skip_server_demux (""));
  g_assert_true (mr_sdk_gate_skip_server_demux ("0.161.0"));
  g_assert_true (mr_sdk_gate_skip_server_demux ("0.166.99"));
  g_assert_false (mr_sdk_gate_skip_server_demux ("0.167.0"));
  g_assert_false (mr_sdk_gate_skip_server_demux ("0.218.0"));
  g_assert_false (mr_sdk_gate_skip_server_demux ("0.0.0-dev"));
  g_assert_false (mr_sdk_gate_skip_server_demux ("0.100.0-dev.3"));
  g_assert_false (mr_sdk_gate_skip_server_demux ("unknown"));
}

/* toolbox-api.md 3.6: plain logs are JSON from 0.167.0, but text for dev builds, which is
 * what the at-mock SDKs built from source report (package.json "0.0.0-dev") */
static void
test_json_logs (void)
{
  g_assert_false (mr_sdk_gate_json_logs (NULL));
  g_assert_false (mr_sdk_gate_json_logs (""));
  g_assert_false (mr_sdk_gate_json_logs ("0.161.0"));
  g_assert_false (mr_sdk_gate_json_logs ("0.166.99"));
  g_assert_true (mr_sdk_gate_json_logs ("0.167.0"));
  g_assert_true (mr_sdk_gate_json_logs ("0.218.0"));
  g_assert_true (mr_sdk_gate_json_logs ("unknown"));
  g_assert_false (mr_sdk_gate_json_logs ("0.0.0-dev"));
  g_assert_false (mr_sdk_gate_json_logs ("0.200.0-dev.3"));
}

static void
test_legacy_cwd (void)
{
  g_assert_true (mr_sdk_gate_legacy_session_cwd ("0.102.9"));
  g_assert_true (mr_sdk_gate_legacy_session_cwd ("0.27.1"));
  g_assert_false (mr_sdk_gate_legacy_session_cwd ("0.103.0"));
  g_assert_false (mr_sdk_gate_legacy_session_cwd ("0.0.0-dev"));
  g_assert_true (mr_sdk_gate_legacy_session_cwd ("0.102.0-dev"));
  g_assert_false (mr_sdk_gate_legacy_session_cwd (NULL));
  g_assert_false (mr_sdk_gate_legacy_session_cwd ("unknown"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sdk-version/compare", test_compare);
  g_test_add_func ("/sdk-version/combined-output", test_combined_output);
  g_test_add_func ("/sdk-version/skip-server-demux", test_skip_server_demux);
  g_test_add_func ("/sdk-version/json-logs", test_json_logs);
  g_test_add_func ("/sdk-version/legacy-cwd", test_legacy_cwd);
  return g_test_run ();
}
