/* mr-command-line.h: how POST /process/execute turns a command string into a process.
 *
 * The at-mock daemon never used a shell: it split the command on spaces, with '...'
 * and "..." grouping, and exec'd the argv. The SDKs of that time depend on it (their
 * `sh -c "export K=$(...); echo '<b64>' | base64 -d | sh"` wrapper must not meet an
 * outer shell). The latest SDK sends raw shell text plus `envs`, which needs a shell.
 * mr_command_line_needs_shell() decides between the two; see docs/toolbox.md. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char   **mr_command_line_split (const char *command);
gboolean mr_command_line_is_sdk_wrapper (const char *command);
gboolean mr_command_line_is_plain_argv (const char *command);
gboolean mr_command_line_needs_shell (const char *command, gboolean has_envs);
gboolean mr_env_name_is_valid (const char *name);
char    *mr_shell_quote_argv (const char * const *argv);

G_END_DECLS
