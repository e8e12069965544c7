/* mr-config.c: one table describes every setting: its environment variable (and the
 * newer Daytona name), its command-line flag, its type and default. Environment, .env
 * file, CLI and Python all go through mr_config_set(), so validation is the same. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "mr-config.h"
#include "mr-error.h"

typedef enum {
  SETTING_STRING,
  SETTING_URL,
  SETTING_PORT,
  SETTING_BOOL,
  SETTING_LOG_LEVEL,
  SETTING_DAYS,
  SETTING_SIZE,
} SettingType;

typedef struct {
  const char *env;
  const char *alias;        /* newer Daytona name; wins over env when set, as the June-2026
                             * runner reads DAYTONA_RUNNER_TOKEN first, API_TOKEN as fallback */
  const char *flag;
  SettingType type;
  gsize offset;
  const char *default_value;
  gboolean required;        /* required by the standalone server */
  const char *description;
} Setting;

#define FIELD(f) G_STRUCT_OFFSET (MrConfig, f)

static const Setting settings[] = {
  { "SERVER_URL", "DAYTONA_API_URL", "server-url", SETTING_URL, FIELD (server_url), NULL, TRUE,
    "Daytona server URL (validated; the mock makes no calls to it)" },
  { "API_TOKEN", "DAYTONA_RUNNER_TOKEN", "api-token", SETTING_STRING, FIELD (api_token), NULL, TRUE,
    "Bearer token clients must send" },
  { "API_PORT", NULL, "api-port", SETTING_PORT, FIELD (api_port), "8080", FALSE,
    "API server port; 0 picks a free port" },
  { "API_HOST", NULL, "api-host", SETTING_STRING, FIELD (api_host), NULL, FALSE,
    "Address to listen on (default: all interfaces)" },
  { "ENVIRONMENT", NULL, "environment", SETTING_STRING, FIELD (environment), NULL, FALSE,
    "Set to 'development' for debug mode" },
  { "LOG_LEVEL", NULL, "log-level", SETTING_LOG_LEVEL, FIELD (log_level), "warn", FALSE,
    "Logging level: debug, info, warn or error" },
  { "LOG_FILE_PATH", NULL, "log-file-path", SETTING_STRING, FIELD (log_file_path), NULL, FALSE,
    "Also append logs to this file (its directory is created)" },
  { "TOOLBOX_IMAGE", NULL, "toolbox-image", SETTING_STRING, FIELD (toolbox_image), "ubuntu:22.04", FALSE,
    "Image of the shared toolbox container (docker toolbox backend)" },
  { "SSH_GATEWAY_ENABLE", NULL, "ssh-gateway-enable", SETTING_BOOL, FIELD (ssh_gateway_enable), "false", FALSE,
    "Enable the SSH gateway" },
  { "CACHE_RETENTION_DAYS", NULL, "cache-retention-days", SETTING_DAYS, FIELD (cache_retention_days), "7", FALSE,
    "Days to retain sandbox state in the cache (values <= 0 mean 7)" },
  { "TLS_CERT_FILE", NULL, "tls-cert-file", SETTING_STRING, FIELD (tls_cert_file), NULL, FALSE,
    "TLS certificate file (PEM)" },
  { "TLS_KEY_FILE", NULL, "tls-key-file", SETTING_STRING, FIELD (tls_key_file), NULL, FALSE,
    "TLS private key file (PEM)" },
  { "ENABLE_TLS", NULL, "enable-tls", SETTING_BOOL, FIELD (enable_tls), "false", FALSE,
    "Serve HTTPS on the API port" },
  { "VERSION", NULL, "runner-version", SETTING_STRING, FIELD (version), "v0.0.0-dev", FALSE,
    "Version reported by GET / and /info" },
  { "SANDBOX_BACKEND", NULL, "sandbox-backend", SETTING_STRING, FIELD (sandbox_backend), "sandbox-memory", FALSE,
    "Sandbox plugin" },
  { "IMAGE_BACKEND", NULL, "image-backend", SETTING_STRING, FIELD (image_backend), "image-memory", FALSE,
    "Image plugin" },
  { "TOOLBOX_BACKEND", NULL, "toolbox-backend", SETTING_STRING, FIELD (toolbox_backend), "toolbox-local", FALSE,
    "Toolbox plugin: toolbox-local, toolbox-docker or toolbox-remote" },
  { "SSH_BACKEND", NULL, "ssh-backend", SETTING_STRING, FIELD (ssh_backend), "ssh-libssh", FALSE,
    "SSH gateway plugin (loaded when SSH_GATEWAY_ENABLE=true)" },
  { "METRICS_AUTH", NULL, "metrics-auth", SETTING_BOOL, FIELD (metrics_auth), "false", FALSE,
    "Require the token on /metrics" },
  { "MAX_BODY_SIZE", NULL, "max-body-size", SETTING_SIZE, FIELD (max_body_size), "10M", FALSE,
    "Largest JSON request body accepted (toolbox transfers are streamed and not limited)" },
};

G_DEFINE_BOXED_TYPE (MrConfig, mr_config, mr_config_copy, mr_config_free)

static const Setting *
find_setting (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    if (g_ascii_strcasecmp (name, settings[i].env) == 0 ||
        (settings[i].alias && g_ascii_strcasecmp (name, settings[i].alias) == 0) ||
        g_ascii_strcasecmp (name, settings[i].flag) == 0)
      return &settings[i];
  return NULL;
}

/**
 * mr_log_level_to_string:
 * @level: a level
 *
 * Returns: (transfer none): "debug", "info", "warn" or "error"
 */
const char *
mr_log_level_to_string (MrLogLevel level)
{
  static const char *const names[] = { "debug", "info", "warn", "error" };

  return (guint) level < G_N_ELEMENTS (names) ? names[level] : "warn";
}

static gboolean
parse_bool (const char *value, gboolean *out)
{
  static const char *const truthy[] = { "1", "t", "true", "yes", "y", "on" };
  static const char *const falsy[] = { "0", "f", "false", "no", "n", "off" };

  for (guint i = 0; i < G_N_ELEMENTS (truthy); i++)
    if (g_ascii_strcasecmp (value, truthy[i]) == 0)
      return *out = TRUE, TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (falsy); i++)
    if (g_ascii_strcasecmp (value, falsy[i]) == 0)
      return *out = FALSE, TRUE;
  return FALSE;
}

static gboolean
parse_size (const char *value, guint64 *out)
{
  char *end = NULL;
  guint64 n;

  errno = 0;
  if (!g_ascii_isdigit (*value))
    return FALSE;
  n = g_ascii_strtoull (value, &end, 10);
  if (errno != 0)
    return FALSE;
  switch (g_ascii_toupper (*end))
    {
    case '\0': break;
    case 'K': n <<= 10; end++; break;
    case 'M': n <<= 20; end++; break;
    case 'G': n <<= 30; end++; break;
    default: return FALSE;
    }
  if (*end == 'i' || *end == 'B' || *end == 'b')
    end++;
  if (*end == 'B')
    end++;
  if (*end != '\0' || n == 0)
    return FALSE;
  *out = n;
  return TRUE;
}

static gboolean
apply (MrConfig *config, const Setting *s, const char *value, GError **error)
{
  gpointer field = G_STRUCT_MEMBER_P (config, s->offset);

  switch (s->type)
    {
    case SETTING_STRING:
      g_free (*(char **) field);
      *(char **) field = (value && *value) ? g_strdup (value) : NULL;
      return TRUE;

    case SETTING_URL:
      if (value && *value)
        {
          g_autoptr(GUri) uri = g_uri_parse (value, G_URI_FLAGS_NONE, NULL);
          if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
            {
              g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                           "invalid value for %s: '%s' (expected a URL such as http://localhost:3000)",
                           s->env, value);
              return FALSE;
            }
        }
      g_free (*(char **) field);
      *(char **) field = (value && *value) ? g_strdup (value) : NULL;
      return TRUE;

    case SETTING_PORT:
      {
        guint64 port = 0;
        if (!g_ascii_string_to_unsigned (value, 10, 0, 65535, &port, NULL))
          {
            g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                         "invalid value for %s: '%s' (expected a port number from 0 to 65535)", s->env, value);
            return FALSE;
          }
        *(guint *) field = port;
        return TRUE;
      }

    case SETTING_BOOL:
      if (!parse_bool (value, (gboolean *) field))
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                       "invalid value for %s: '%s' (expected true or false)", s->env, value);
          return FALSE;
        }
      return TRUE;

    case SETTING_LOG_LEVEL:
      {
        static const struct { const char *name; MrLogLevel level; } levels[] = {
          { "trace", MR_LOG_LEVEL_DEBUG }, { "debug", MR_LOG_LEVEL_DEBUG },
          { "info", MR_LOG_LEVEL_INFO }, { "warn", MR_LOG_LEVEL_WARN },
          { "warning", MR_LOG_LEVEL_WARN }, { "error", MR_LOG_LEVEL_ERROR },
          { "fatal", MR_LOG_LEVEL_ERROR }, { "panic", MR_LOG_LEVEL_ERROR },
        };
        for (guint i = 0; i < G_N_ELEMENTS (levels); i++)
          if (g_ascii_strcasecmp (value, levels[i].name) == 0)
            {
              *(MrLogLevel *) field = levels[i].level;
              return TRUE;
            }
        g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                     "invalid value for %s: '%s' (expected debug, info, warn or error)", s->env, value);
        return FALSE;
      }

    case SETTING_DAYS:
      {
        gint64 days = 0;
        if (!g_ascii_string_to_signed (value, 10, G_MININT32, G_MAXINT32, &days, NULL))
          {
            g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                         "invalid value for %s: '%s' (expected a whole number of days)", s->env, value);
            return FALSE;
          }
        /* the Go mock maps any value <= 0 to the default */
        *(guint *) field = days <= 0 ? 7 : (guint) days;
        return TRUE;
      }

    case SETTING_SIZE:
      if (!parse_size (value, (guint64 *) field))
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                       "invalid value for %s: '%s' (expected a size such as 1048576, 512K or 10M)", s->env, value);
          return FALSE;
        }
      return TRUE;
    }
  g_assert_not_reached ();
}

/**
 * mr_config_new:
 *
 * Returns: (transfer full): settings with every default applied and nothing read from
 *   the environment
 */
MrConfig *
mr_config_new (void)
{
  MrConfig *config = g_new0 (MrConfig, 1);

  config->options = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    if (settings[i].default_value)
      {
        gboolean ok = apply (config, &settings[i], settings[i].default_value, NULL);
        g_assert (ok);
      }
  return config;
}

/**
 * mr_config_copy:
 * @config: settings
 *
 * Returns: (transfer full): a deep copy
 */
MrConfig *
mr_config_copy (const MrConfig *config)
{
  MrConfig *copy = g_new0 (MrConfig, 1);
  GHashTableIter iter;
  gpointer k, v;

  *copy = *config;
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    if (settings[i].type == SETTING_STRING || settings[i].type == SETTING_URL)
      {
        char **field = G_STRUCT_MEMBER_P (copy, settings[i].offset);
        *field = g_strdup (*field);
      }
  copy->options = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_iter_init (&iter, config->options);
  while (g_hash_table_iter_next (&iter, &k, &v))
    g_hash_table_insert (copy->options, g_strdup (k), g_strdup (v));
  return copy;
}

/**
 * mr_config_free:
 * @config: (nullable): settings
 */
void
mr_config_free (MrConfig *config)
{
  if (config == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    if (settings[i].type == SETTING_STRING || settings[i].type == SETTING_URL)
      g_free (G_STRUCT_MEMBER (char *, config, settings[i].offset));
  g_hash_table_unref (config->options);
  g_free (config);
}

/**
 * mr_config_set:
 * @config: settings
 * @name: a variable name (e.g. "API_PORT"), its newer alias, or a flag name ("api-port");
 *   any other name sets a plugin option
 * @value: the value as text
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the value was valid and applied
 */
gboolean
mr_config_set (MrConfig *config, const char *name, const char *value, GError **error)
{
  const Setting *s = find_setting (name);

  if (s == NULL)
    {
      mr_config_set_option (config, name, value);
      return TRUE;
    }
  return apply (config, s, value ? value : "", error);
}

/**
 * mr_config_get:
 * @config: settings
 * @name: a variable or option name
 *
 * Returns: (transfer full) (nullable): the value as text
 */
char *
mr_config_get (const MrConfig *config, const char *name)
{
  const Setting *s = find_setting (name);
  gconstpointer field;

  if (s == NULL)
    return g_strdup (mr_config_get_option (config, name));
  field = G_STRUCT_MEMBER_P (config, s->offset);
  switch (s->type)
    {
    case SETTING_STRING:
    case SETTING_URL: return g_strdup (*(char * const *) field);
    case SETTING_PORT:
    case SETTING_DAYS: return g_strdup_printf ("%u", *(const guint *) field);
    case SETTING_BOOL: return g_strdup (*(const gboolean *) field ? "true" : "false");
    case SETTING_LOG_LEVEL: return g_strdup (mr_log_level_to_string (*(const MrLogLevel *) field));
    case SETTING_SIZE: return g_strdup_printf ("%" G_GUINT64_FORMAT, *(const guint64 *) field);
    }
  return NULL;
}

/**
 * mr_config_load_environment:
 * @config: settings
 * @error: return location for a #GError
 *
 * Reads every setting's variable from the process environment. A newer alias that is
 * set and not empty (DAYTONA_RUNNER_TOKEN, DAYTONA_API_URL) wins over the older name.
 * Plugin options are not read here: the standalone server copies the variables that
 * the selected plugins declare.
 *
 * Returns: %TRUE if every value present was valid
 */
gboolean
mr_config_load_environment (MrConfig *config, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      const char *value = settings[i].alias ? g_getenv (settings[i].alias) : NULL;

      if (value == NULL || *value == '\0')
        value = g_getenv (settings[i].env);
      if (value == NULL)
        continue;
      if (!apply (config, &settings[i], value, error))
        return FALSE;
    }
  return TRUE;
}

/* A double-quoted .env value: \n and \r are a newline and a carriage return, any other
 * backslash keeps the character after it. */
static char *
unescape_double_quoted (const char *value, gsize len)
{
  GString *out = g_string_sized_new (len);

  for (gsize i = 0; i < len; i++)
    {
      if (value[i] == '\\' && i + 1 < len)
        {
          i++;
          g_string_append_c (out, value[i] == 'n' ? '\n' : value[i] == 'r' ? '\r' : value[i]);
        }
      else
        g_string_append_c (out, value[i]);
    }
  return g_string_free (out, FALSE);
}

/* One line of a .env file, read as the Go mock's loader (godotenv) reads it: an optional
 * "export " prefix; KEY=VALUE or KEY: VALUE; a value in single quotes (kept as is) or
 * double quotes (escapes expanded), anything after the closing quote ignored; or an
 * unquoted value, which ends where " #" starts an inline comment. Returns FALSE for
 * blank lines, comments and anything that is not an assignment. */
static gboolean
parse_dotenv_line (char *line, char **key, char **value)
{
  char *l = g_strstrip (line);
  char *sep, *v;

  if (*l == '\0' || *l == '#')
    return FALSE;
  if (g_str_has_prefix (l, "export") && g_ascii_isspace (l[6]))
    l = g_strchug (l + 6);
  sep = l + strcspn (l, "=:");
  if (*sep == '\0')
    return FALSE;
  *sep = '\0';
  *key = g_strstrip (l);
  if (**key == '\0')
    return FALSE;
  for (const char *c = *key; *c; c++)
    if (!g_ascii_isalnum (*c) && *c != '_' && *c != '.')
      return FALSE;
  v = g_strchug (sep + 1);
  if (*v == '"' || *v == '\'')
    {
      char quote = *v++;
      char *close = v;

      while (*close && !(*close == quote && (close == v || close[-1] != '\\')))
        close++;
      if (*close == '\0')
        return FALSE;   /* unterminated: godotenv refuses it too */
      *value = quote == '"' ? unescape_double_quoted (v, close - v) : g_strndup (v, close - v);
      return TRUE;
    }
  for (char *c = v; *c; c++)
    if (*c == '#' && c > v && g_ascii_isspace (c[-1]))
      {
        *c = '\0';
        break;
      }
  *value = g_strdup (g_strstrip (v));
  return TRUE;
}

/**
 * mr_config_load_dotenv:
 * @config: settings
 * @path: a `.env` file (KEY=VALUE lines; # comments; optional quotes)
 * @error: return location for a #GError
 *
 * Sets, in the process environment, each variable of @path that is not set yet, as the
 * Go mock does at startup. A missing file is not an error.
 *
 * Returns: %TRUE unless the file exists but cannot be read
 */
gboolean
mr_config_load_dotenv (MrConfig *config, const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) local = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &contents, NULL, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot read %s: %s", path, local->message);
      return FALSE;
    }
  lines = g_strsplit (contents, "\n", -1);
  for (char **line = lines; *line; line++)
    {
      char *key = NULL;
      g_autofree char *value = NULL;

      if (parse_dotenv_line (*line, &key, &value) && g_getenv (key) == NULL)
        g_setenv (key, value, FALSE);
    }
  return TRUE;
}

typedef struct {
  MrConfig *config;
  char **values;      /* one slot per setting, filled by GOption */
  char **options;     /* --option KEY=VALUE */
} ArgsContext;

/**
 * mr_config_parse_args:
 * @config: settings
 * @argc: (inout): argument count
 * @argv: (inout) (array length=argc): arguments; recognised ones are removed
 * @error: return location for a #GError
 *
 * Parses one `--flag VALUE` per setting (see mr_config_describe_variables()) and
 * repeated `--option KEY=VALUE` for plugin options. Flags win over the environment.
 *
 * Returns: %TRUE on success
 */
gboolean
mr_config_parse_args (MrConfig *config, int *argc, char ***argv, GError **error)
{
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  GOptionEntry *entries = g_new0 (GOptionEntry, G_N_ELEMENTS (settings) + 2);
  char **values = g_new0 (char *, G_N_ELEMENTS (settings));
  char **options = NULL;
  gboolean ok = TRUE;
  g_autoptr(GError) local = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      entries[i].long_name = settings[i].flag;
      entries[i].arg = G_OPTION_ARG_STRING;
      entries[i].arg_data = &values[i];
      entries[i].description = settings[i].description;
      entries[i].arg_description = settings[i].env;
    }
  entries[G_N_ELEMENTS (settings)] = (GOptionEntry) {
    "option", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &options, "Plugin option", "KEY=VALUE"
  };
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_set_ignore_unknown_options (context, TRUE);

  if (!g_option_context_parse (context, argc, argv, &local))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "%s", local->message);
      ok = FALSE;
    }
  for (guint i = 0; ok && i < G_N_ELEMENTS (settings); i++)
    if (values[i] && !apply (config, &settings[i], values[i], error))
      ok = FALSE;
  for (char **o = options; ok && o && *o; o++)
    {
      char *eq = strchr (*o, '=');
      if (eq == NULL || eq == *o)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid --option '%s' (expected KEY=VALUE)", *o);
          ok = FALSE;
          break;
        }
      *eq = '\0';
      ok = mr_config_set (config, *o, eq + 1, error);
    }
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    g_free (values[i]);
  g_free (values);
  g_strfreev (options);
  g_free (entries);
  return ok;
}

/**
 * mr_config_validate:
 * @config: settings
 * @standalone: whether the standalone server needs SERVER_URL and API_TOKEN
 * @error: return location for a #GError
 *
 * Checks settings that depend on each other and the files they name.
 *
 * Returns: %TRUE if the settings can be used
 */
gboolean
mr_config_validate (MrConfig *config, gboolean standalone, GError **error)
{
  for (guint i = 0; standalone && i < G_N_ELEMENTS (settings); i++)
    if (settings[i].required && G_STRUCT_MEMBER (char *, config, settings[i].offset) == NULL)
      {
        g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "%s is required (set it in the environment or with --%s)",
                     settings[i].env, settings[i].flag);
        return FALSE;
      }
  if (config->enable_tls)
    {
      const char *files[] = { config->tls_cert_file, config->tls_key_file };
      const char *names[] = { "TLS_CERT_FILE", "TLS_KEY_FILE" };

      for (guint i = 0; i < 2; i++)
        {
          if (files[i] == NULL)
            {
              g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "ENABLE_TLS=true needs %s", names[i]);
              return FALSE;
            }
          if (g_access (files[i], R_OK) != 0)
            {
              g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot read %s '%s': %s",
                           names[i], files[i], g_strerror (errno));
              return FALSE;
            }
        }
    }
  return TRUE;
}

/**
 * mr_config_set_option:
 * @config: settings
 * @name: a plugin option name, e.g. "TOOLBOX_WORK_DIR"
 * @value: (nullable): its value; %NULL removes it
 */
void
mr_config_set_option (MrConfig *config, const char *name, const char *value)
{
  if (value == NULL)
    g_hash_table_remove (config->options, name);
  else
    g_hash_table_replace (config->options, g_ascii_strup (name, -1), g_strdup (value));
}

/**
 * mr_config_get_option:
 * @config: settings
 * @name: a plugin option name
 *
 * Returns: (transfer none) (nullable): the value
 */
const char *
mr_config_get_option (const MrConfig *config, const char *name)
{
  g_autofree char *key = g_ascii_strup (name, -1);

  return g_hash_table_lookup (config->options, key);
}

/**
 * mr_config_describe_variables:
 *
 * Returns: (transfer full): the settings as a help text, one per line
 */
char *
mr_config_describe_variables (void)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      g_autofree char *flag = g_strdup_printf ("--%s", settings[i].flag);
      g_string_append_printf (out, "  %-22s %-26s %s%s%s%s%s\n", settings[i].env, flag,
                              settings[i].description,
                              settings[i].default_value ? " [default: " : "",
                              settings[i].default_value ? settings[i].default_value : "",
                              settings[i].default_value ? "]" : "",
                              settings[i].required ? " [required]" : "");
      if (settings[i].alias)
        g_string_append_printf (out, "  %-22s %-26s same as %s, and wins over it\n", settings[i].alias, "",
                                settings[i].env);
    }
  return g_string_free (out, FALSE);
}
