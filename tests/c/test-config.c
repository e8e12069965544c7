/* Settings: defaults, validation messages, aliases, flags over environment. */
#include "mock-runner.h"

static void
test_defaults (void)
{
  g_autoptr(MrConfig) c = mr_config_new ();

  g_assert_cmpuint (c->api_port, ==, 8080);
  g_assert_cmpint (c->log_level, ==, MR_LOG_LEVEL_WARN);
  g_assert_cmpstr (c->toolbox_image, ==, "ubuntu:22.04");
  g_assert_false (c->ssh_gateway_enable);
  g_assert_cmpuint (c->cache_retention_days, ==, 7);
  g_assert_false (c->enable_tls);
  g_assert_cmpstr (c->sandbox_backend, ==, "sandbox-memory");
  g_assert_cmpstr (c->image_backend, ==, "image-memory");
  g_assert_cmpstr (c->toolbox_backend, ==, "toolbox-local");
  g_assert_cmpstr (c->version, ==, "v0.0.0-dev");
  g_assert_null (c->api_token);
}

static void
test_invalid_values (void)
{
  g_autoptr(MrConfig) c = mr_config_new ();
  struct { const char *name, *value, *fragment; } cases[] = {
    { "API_PORT", "abc", "invalid value for API_PORT: 'abc'" },
    { "API_PORT", "70000", "invalid value for API_PORT" },
    { "ENABLE_TLS", "maybe", "invalid value for ENABLE_TLS: 'maybe' (expected true or false)" },
    { "LOG_LEVEL", "loud", "invalid value for LOG_LEVEL" },
    { "CACHE_RETENTION_DAYS", "3.5", "invalid value for CACHE_RETENTION_DAYS" },
    { "SERVER_URL", "not a url", "invalid value for SERVER_URL" },
    { "MAX_BODY_SIZE", "lots", "invalid value for MAX_BODY_SIZE" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (mr_config_set (c, cases[i].name, cases[i].value, &error));
      g_assert_error (error, MR_ERROR, MR_ERROR_CONFIG);
      g_assert_nonnull (strstr (error->message, cases[i].fragment));
      g_assert_null (strchr (error->message, '\n'));
    }
  g_assert_cmpuint (c->api_port, ==, 8080);
}

static void
test_values (void)
{
  g_autoptr(MrConfig) c = mr_config_new ();
  g_autofree char *port = NULL;

  g_assert_true (mr_config_set (c, "API_PORT", "0", NULL));
  g_assert_cmpuint (c->api_port, ==, 0);
  g_assert_true (mr_config_set (c, "CACHE_RETENTION_DAYS", "-4", NULL));
  g_assert_cmpuint (c->cache_retention_days, ==, 7);       /* the Go mock's rule */
  g_assert_true (mr_config_set (c, "LOG_LEVEL", "DEBUG", NULL));
  g_assert_cmpint (c->log_level, ==, MR_LOG_LEVEL_DEBUG);
  g_assert_true (mr_config_set (c, "MAX_BODY_SIZE", "512K", NULL));
  g_assert_cmpuint (c->max_body_size, ==, 512 * 1024);
  g_assert_true (mr_config_set (c, "DAYTONA_RUNNER_TOKEN", "t", NULL));   /* newer name */
  g_assert_cmpstr (c->api_token, ==, "t");
  g_assert_true (mr_config_set (c, "SOME_PLUGIN_OPTION", "x", NULL));
  g_assert_cmpstr (mr_config_get_option (c, "some_plugin_option"), ==, "x");
  port = mr_config_get (c, "api-port");
  g_assert_cmpstr (port, ==, "0");
}

static void
test_args_win (void)
{
  g_autoptr(MrConfig) c = mr_config_new ();
  g_autoptr(GError) error = NULL;
  char *args[] = { "mock-runner", "--api-port", "9000", "--log-level=info", "-o", "STRICT=true", NULL };
  char **argv = g_memdup2 (args, sizeof args);
  int argc = G_N_ELEMENTS (args) - 1;

  g_assert_true (mr_config_set (c, "API_PORT", "1234", NULL));
  g_assert_true (mr_config_parse_args (c, &argc, &argv, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (c->api_port, ==, 9000);
  g_assert_cmpint (c->log_level, ==, MR_LOG_LEVEL_INFO);
  g_assert_cmpstr (mr_config_get_option (c, "STRICT"), ==, "true");
  g_assert_cmpint (argc, ==, 1);
  g_free (argv);
}

static void
test_required (void)
{
  g_autoptr(MrConfig) c = mr_config_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (mr_config_validate (c, FALSE, NULL));
  g_assert_false (mr_config_validate (c, TRUE, &error));
  g_assert_nonnull (strstr (error->message, "SERVER_URL is required"));
  g_clear_error (&error);
  mr_config_set (c, "SERVER_URL", "http://localhost:3000", NULL);
  g_assert_false (mr_config_validate (c, TRUE, &error));
  g_assert_nonnull (strstr (error->message, "API_TOKEN is required"));
  g_clear_error (&error);
  mr_config_set (c, "API_TOKEN", "x", NULL);
  g_assert_true (mr_config_validate (c, TRUE, NULL));
  mr_config_set (c, "ENABLE_TLS", "true", NULL);
  mr_config_set (c, "TLS_CERT_FILE", "/nonexistent/cert.pem", NULL);
  mr_config_set (c, "TLS_KEY_FILE", "/nonexistent/key.pem", NULL);
  g_assert_false (mr_config_validate (c, TRUE, &error));
  g_assert_nonnull (strstr (error->message, "cannot read TLS_CERT_FILE"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/invalid-values", test_invalid_values);
  g_test_add_func ("/config/values", test_values);
  g_test_add_func ("/config/args-win", test_args_win);
  g_test_add_func ("/config/required", test_required);
  return g_test_run ();
}
