/* mr-config.h: the runner's settings, read from the environment and the command line. */
#pragma once

#include <glib-object.h>

#include "mr-types.h"

G_BEGIN_DECLS

/**
 * MrLogLevel:
 * @MR_LOG_LEVEL_DEBUG: everything
 * @MR_LOG_LEVEL_INFO: requests and lifecycle events
 * @MR_LOG_LEVEL_WARN: warnings and errors (the default)
 * @MR_LOG_LEVEL_ERROR: errors only
 *
 * Log levels of LOG_LEVEL.
 */
typedef enum {
  MR_LOG_LEVEL_DEBUG,
  MR_LOG_LEVEL_INFO,
  MR_LOG_LEVEL_WARN,
  MR_LOG_LEVEL_ERROR,
} MrLogLevel;

#define MR_TYPE_CONFIG (mr_config_get_type ())

/**
 * MrConfig:
 * @server_url: (nullable): SERVER_URL (or DAYTONA_API_URL): the Daytona API; validated only
 * @api_token: (nullable): API_TOKEN (or DAYTONA_RUNNER_TOKEN): the bearer token clients must send
 * @api_port: API_PORT; 0 picks an ephemeral port
 * @api_host: (nullable): API_HOST: the address to listen on; %NULL means all interfaces
 * @environment: (nullable): ENVIRONMENT; "development" turns on debug logging
 * @log_level: LOG_LEVEL
 * @log_file_path: (nullable): LOG_FILE_PATH: also append logs to this file
 * @toolbox_image: TOOLBOX_IMAGE: image of the shared toolbox container (docker backend)
 * @ssh_gateway_enable: SSH_GATEWAY_ENABLE: load the ssh plugin
 * @cache_retention_days: CACHE_RETENTION_DAYS: TTL of the sandbox state cache
 * @tls_cert_file: (nullable): TLS_CERT_FILE
 * @tls_key_file: (nullable): TLS_KEY_FILE
 * @enable_tls: ENABLE_TLS: serve HTTPS on the API port
 * @version: VERSION: the version reported by GET / and /info
 * @sandbox_backend: SANDBOX_BACKEND: sandbox plugin name
 * @image_backend: IMAGE_BACKEND: image plugin name
 * @toolbox_backend: TOOLBOX_BACKEND: toolbox plugin name
 * @ssh_backend: SSH_BACKEND: ssh plugin name
 * @metrics_auth: METRICS_AUTH: require the token on /metrics (as June-2026 runners do)
 * @max_body_size: MAX_BODY_SIZE: largest JSON request body accepted, in bytes
 * @options: (element-type utf8 utf8): plugin options (name to value)
 *
 * Runner settings. The seed's variables keep their names and defaults.
 */
typedef struct _MrConfig {
  char *server_url;
  char *api_token;
  guint api_port;
  char *api_host;
  char *environment;
  MrLogLevel log_level;
  char *log_file_path;
  char *toolbox_image;
  gboolean ssh_gateway_enable;
  guint cache_retention_days;
  char *tls_cert_file;
  char *tls_key_file;
  gboolean enable_tls;
  char *version;
  char *sandbox_backend;
  char *image_backend;
  char *toolbox_backend;
  char *ssh_backend;
  gboolean metrics_auth;
  guint64 max_body_size;
  GHashTable *options;
} MrConfig;

GType     mr_config_get_type (void) G_GNUC_CONST;
MrConfig *mr_config_new (void);
MrConfig *mr_config_copy (const MrConfig *config);
void      mr_config_free (MrConfig *config);

gboolean  mr_config_set (MrConfig *config, const char *name, const char *value, GError **error);
char     *mr_config_get (const MrConfig *config, const char *name);
gboolean  mr_config_load_environment (MrConfig *config, GError **error);
gboolean  mr_config_load_dotenv (MrConfig *config, const char *path, GError **error);
gboolean  mr_config_parse_args (MrConfig *config, int *argc, char ***argv, GError **error);
gboolean  mr_config_validate (MrConfig *config, gboolean standalone, GError **error);
void      mr_config_set_option (MrConfig *config, const char *name, const char *value);
const char *mr_config_get_option (const MrConfig *config, const char *name);
char     *mr_config_describe_variables (void);
const char *mr_log_level_to_string (MrLogLevel level);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrConfig, mr_config_free)

G_END_DECLS
