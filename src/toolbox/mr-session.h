/* mr-session.h: the session engine behind /process/session (toolbox-api.md sections
 * 2.5 and 3.4), without HTTP.
 *
 * A session is a long-lived shell reading commands from a pipe, so that cd, export and
 * functions persist. Each command's stdout and stderr go to two FIFOs that the toolbox
 * reads itself and frames into output.log (mr-log-framing.h); the shell reports the
 * exit status on a separate pipe, and the command counts as finished, with exit_code
 * written, only once both FIFOs are drained. Commands get their own stdin: /dev/null
 * for sync commands, a FIFO fed by mr_session_command_send_input() for async ones.
 * Everything runs on the thread-default main context; nothing blocks. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MrSessionStore MrSessionStore;
typedef struct _MrSession MrSession;
typedef struct _MrSessionCommand MrSessionCommand;

typedef enum {
  MR_SESSION_EVENT_OUTPUT,      /* the log grew */
  MR_SESSION_EVENT_FINISHED,    /* exit code known and output drained; the log is final */
  MR_SESSION_EVENT_SHELL_DIED,  /* the session's shell exited while the command was pending */
  MR_SESSION_EVENT_GONE,        /* the session was deleted or the toolbox reset */
} MrSessionEvent;

typedef void (*MrSessionCommandFunc) (MrSessionCommand *command, MrSessionEvent event, gpointer user_data);
typedef void (*MrSessionDeletedFunc) (gpointer user_data);

MrSessionStore   *mr_session_store_new (GError **error);
void              mr_session_store_free (MrSessionStore *store);
const char       *mr_session_store_get_dir (MrSessionStore *store);
MrSession        *mr_session_store_lookup (MrSessionStore *store, const char *id);
GPtrArray        *mr_session_store_list (MrSessionStore *store);
MrSession        *mr_session_store_create (MrSessionStore *store, const char *id, const char *shell,
                                           const char *cwd, const char * const *envp, GError **error);
void              mr_session_store_delete (MrSessionStore *store, MrSession *session,
                                           MrSessionDeletedFunc done, gpointer user_data);

const char       *mr_session_get_id (MrSession *session);
GPid              mr_session_get_shell_pid (MrSession *session);
gboolean          mr_session_is_alive (MrSession *session);
GPtrArray        *mr_session_get_commands (MrSession *session);
MrSessionCommand *mr_session_lookup_command (MrSession *session, const char *id);
MrSessionCommand *mr_session_exec (MrSession *session, const char *id, const char *command,
                                   gboolean async, gboolean suppress_input_echo, GError **error);

MrSessionCommand *mr_session_command_ref (MrSessionCommand *command);
void              mr_session_command_unref (MrSessionCommand *command);
const char       *mr_session_command_get_id (MrSessionCommand *command);
const char       *mr_session_command_get_text (MrSessionCommand *command);
const char       *mr_session_command_get_log_path (MrSessionCommand *command);
gboolean          mr_session_command_is_finished (MrSessionCommand *command);
gboolean          mr_session_command_is_gone (MrSessionCommand *command);
int               mr_session_command_get_exit_code (MrSessionCommand *command);
GBytes           *mr_session_command_read_log (MrSessionCommand *command, GError **error);
gboolean          mr_session_command_send_input (MrSessionCommand *command, const char *data, GError **error);
guint             mr_session_command_watch (MrSessionCommand *command, MrSessionCommandFunc func, gpointer user_data);
void              mr_session_command_unwatch (MrSessionCommand *command, guint id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrSessionCommand, mr_session_command_unref)

G_END_DECLS
