/* mock-runner.c: the standalone server. Configured like the Go mock runner: a .env file
 * in the working directory, then the environment, then command-line flags. */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "mock-runner.h"

typedef struct {
  MrLogLevel level;
  FILE *file;
} LogTarget;

static GLogWriterOutput
write_log (GLogLevelFlags flags, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  LogTarget *target = user_data;
  MrLogLevel level = (flags & G_LOG_LEVEL_DEBUG) ? MR_LOG_LEVEL_DEBUG
                     : (flags & G_LOG_LEVEL_INFO) ? MR_LOG_LEVEL_INFO
                     : (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING)) ? MR_LOG_LEVEL_WARN
                     : MR_LOG_LEVEL_ERROR;
  const char *message = "";
  const char *domain = NULL;
  g_autoptr(GDateTime) now = NULL;
  g_autofree char *stamp = NULL;
  static const char *const names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

  if (level < target->level)
    return G_LOG_WRITER_HANDLED;
  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
      else if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
    }
  now = g_date_time_new_now_local ();
  stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S%:z");
  fprintf (stderr, "%s %-5s %s%s%s\n", stamp, names[level], domain ? domain : "", domain ? ": " : "", message);
  if (target->file)
    {
      fprintf (target->file, "%s %-5s %s%s%s\n", stamp, names[level], domain ? domain : "", domain ? ": " : "", message);
      fflush (target->file);
    }
  return G_LOG_WRITER_HANDLED;
}

static gboolean
setup_logging (const MrConfig *config, LogTarget *target, GError **error)
{
  target->level = config->log_level;
  if (g_strcmp0 (config->environment, "development") == 0)
    target->level = MR_LOG_LEVEL_DEBUG;
  if (config->log_file_path)
    {
      g_autofree char *dir = g_path_get_dirname (config->log_file_path);
      if (g_mkdir_with_parents (dir, 0755) != 0)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot create log directory %s: %s", dir, g_strerror (errno));
          return FALSE;
        }
      target->file = g_fopen (config->log_file_path, "a");
      if (target->file == NULL)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot open LOG_FILE_PATH %s: %s",
                       config->log_file_path, g_strerror (errno));
          return FALSE;
        }
    }
  g_log_set_writer_func (write_log, target, NULL);
  return TRUE;
}

/* The runner's own options: read from the environment like plugin options (or set with
 * -o NAME=VALUE), listed by --help. One table, so that what is read is what is listed. */
static const MrPluginOption runner_options[] = {
  { "STRICT", "false", "Answer 404 for unknown sandboxes where the real runners do (start, stop, resize, ...)" },
  { "ACCEPT_ANY_TOKEN", "false", "Accept any Bearer token on the runner and toolbox routes, as the Go mock does" },
  { "TOOLBOX_ANY_SANDBOX", "false", "Route toolbox requests for any sandbox id, even unknown or stopped ones" },
  { "START_TIMEOUT_SEC", "300", "Bound on start-up" },
  { "SNAPSHOT_LOGS_FOLLOW_TIMEOUT_SEC", "600", "Bound on /snapshots/logs?follow=true (STRICT only)" },
  /* the control-plane facade (docs/sdk.md) */
  { "CONTROL_PLANE_PREFIX", "/api", "Path segment of the control-plane routes the SDKs call; off disables them" },
  { "CONTROL_PLANE_API_KEY", NULL, "A second bearer key for the control-plane and /toolbox routes only" },
  { NULL, NULL, NULL }
};

/* Test controls (docs/mock-api.md), read the same way. */
static const MrPluginOption test_controls[] = {
  { "MOCK_RUNNER_SEED", NULL, "Seed the random source behind generated ids (default: not seeded)" },
  { "MOCK_RUNNER_TIMING", "immediate", "Lifecycle timing: immediate, manual or delay:<ms>" },
  { "MOCK_RUNNER_JOURNAL_SIZE", "10000", "Requests kept in the journal" },
  { NULL, NULL, NULL }
};

static void
print_options (const MrPluginOption *options)
{
  for (const MrPluginOption *o = options; o->name; o++)
    printf ("  %-33s %s%s%s%s\n", o->name, o->description, o->default_value ? " [default: " : "",
            o->default_value ? o->default_value : "", o->default_value ? "]" : "");
}

static void
print_help (const char *program)
{
  g_autofree char *variables = mr_config_describe_variables ();

  printf ("Usage: %s [OPTION...]\n\n"
          "A mock Daytona runner: sandbox and snapshot lifecycle in memory, toolbox operations for real.\n\n"
          "Settings (environment variable, flag, meaning). Flags win over the environment,\n"
          "which wins over a .env file in the working directory:\n%s\n"
          "Other options:\n"
          "  -o, --option KEY=VALUE     Set a runner or plugin option (see below and --list-plugins)\n"
          "  --list-plugins             List the plugins found and their options, then exit\n"
          "  --version                  Print the version and exit\n"
          "  -h, --help                 Show this help and exit\n\n"
          "Runner options (environment variable, or -o NAME=VALUE):\n",
          program, variables);
  print_options (runner_options);
  printf ("\nTest controls (environment variable, or -o NAME=VALUE; also under /_mock/, see docs/mock-api.md):\n");
  print_options (test_controls);
  printf ("\nPlugin options: see --list-plugins.\n"
          "  %-33s %s\n", "MOCK_RUNNER_PLUGIN_PATH",
          "Colon-separated plugin directories searched before " MR_PLUGIN_DIR);
}

static void
list_plugins (void)
{
  g_auto(GStrv) path = mr_plugin_get_search_path ();
  g_autoptr(GPtrArray) errors = NULL;
  g_autoptr(GPtrArray) plugins = mr_plugin_discover ((const char * const *) path, &errors);

  for (guint i = 0; i < plugins->len; i++)
    {
      MrPluginInfo *info = plugins->pdata[i];
      printf ("%-8s %-16s %s\n         %s\n", mr_plugin_kind_to_string (mr_plugin_info_get_kind (info)),
              mr_plugin_info_get_name (info), mr_plugin_info_get_description (info),
              mr_plugin_info_get_filename (info));
      for (const MrPluginOption *o = mr_plugin_info_get_options (info); o && o->name; o++)
        printf ("         option %-28s %s%s%s%s\n", o->name, o->description,
                o->default_value ? " [default: " : "", o->default_value ? o->default_value : "",
                o->default_value ? "]" : "");
    }
  for (guint i = 0; i < errors->len; i++)
    printf ("error    %s\n", ((GError *) errors->pdata[i])->message);
}

/* Plugin options come from the environment too, for the variables plugins declare. */
static void
load_plugin_options (MrConfig *config)
{
  g_auto(GStrv) path = mr_plugin_get_search_path ();
  g_autoptr(GPtrArray) plugins = mr_plugin_discover ((const char * const *) path, NULL);
  const MrPluginOption *const tables[] = { runner_options, test_controls };

  for (gsize t = 0; t < G_N_ELEMENTS (tables); t++)
    for (const MrPluginOption *o = tables[t]; o->name; o++)
      if (g_getenv (o->name) && mr_config_get_option (config, o->name) == NULL)
        mr_config_set_option (config, o->name, g_getenv (o->name));
  for (guint i = 0; i < plugins->len; i++)
    for (const MrPluginOption *o = mr_plugin_info_get_options (plugins->pdata[i]); o && o->name; o++)
      if (g_getenv (o->name) && mr_config_get_option (config, o->name) == NULL)
        mr_config_set_option (config, o->name, g_getenv (o->name));
}

static gboolean
on_signal (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static int
fail (GError *error)
{
  fprintf (stderr, "mock-runner: %s\n", error->message);
  g_error_free (error);
  return 1;
}

int
main (int argc, char **argv)
{
  g_autoptr(MrConfig) config = mr_config_new ();
  g_autoptr(MrRunner) runner = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  GError *error = NULL;
  LogTarget log_target = { 0 };
  gboolean want_list = FALSE;

  setlocale (LC_ALL, "");
  /* a write into the pipe of a child that exited must fail with EPIPE, not kill the
   * runner (Python, which embeds the library, ignores SIGPIPE too) */
  signal (SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        {
          print_help (argv[0]);
          return 0;
        }
      if (strcmp (argv[i], "--version") == 0)
        {
          printf ("mock-runner %s\n", MR_PACKAGE_VERSION);
          return 0;
        }
      if (strcmp (argv[i], "--list-plugins") == 0)
        want_list = TRUE;
    }
  if (want_list)
    {
      list_plugins ();
      return 0;
    }

  if (!mr_config_load_dotenv (config, ".env", &error) ||
      !mr_config_load_environment (config, &error))
    return fail (error);
  load_plugin_options (config);
  if (!mr_config_parse_args (config, &argc, &argv, &error))
    return fail (error);
  if (argc > 1)
    {
      fprintf (stderr, "mock-runner: unknown argument '%s' (see --help)\n", argv[1]);
      return 1;
    }
  if (!mr_config_validate (config, TRUE, &error) || !setup_logging (config, &log_target, &error))
    return fail (error);

  /* handlers first: a SIGTERM right after the ready line must still stop us cleanly */
  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_unix_signal_add (SIGTERM, on_signal, loop);

  runner = mr_runner_new_with_config (config);
  if (mr_runner_start (runner, &error) == 0)
    return fail (error);

  printf ("mock-runner %s listening on %s (sandbox=%s image=%s toolbox=%s%s%s)\n",
          MR_PACKAGE_VERSION, mr_runner_get_url (runner), config->sandbox_backend, config->image_backend,
          config->toolbox_backend, config->ssh_gateway_enable ? " ssh=" : "",
          config->ssh_gateway_enable ? config->ssh_backend : "");
  fflush (stdout);

  g_main_loop_run (loop);

  mr_runner_stop (runner);
  if (log_target.file)
    fclose (log_target.file);
  return 0;
}
