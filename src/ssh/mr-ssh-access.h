/* mr-ssh-access.h: the SSH access tokens of one runner (POST/DELETE
 * /sandboxes/{id}/ssh-access), checked by the ssh gateway plugin. Not installed.
 *
 * Each runner owns one store, so two runners in a process never share tokens. The store
 * has its own lock: the route runs on the server thread, the gateway checks tokens from
 * its connection threads. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Daytona's nanoid alphabet without "_" and "-" (toolbox-api.md section 5.1) */
#define MR_SSH_TOKEN_ALPHABET "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define MR_SSH_TOKEN_LENGTH 32

typedef struct _MrSshAccessStore MrSshAccessStore;

/* A copy of one access grant; times in microseconds since the epoch. */
typedef struct {
  char *id;
  char *sandbox_id;
  char *token;
  gint64 created_at;
  gint64 updated_at;
  gint64 expires_at;
} MrSshAccess;

void         mr_ssh_access_free (MrSshAccess *access);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrSshAccess, mr_ssh_access_free)

MrSshAccessStore *mr_ssh_access_store_new (void);
void         mr_ssh_access_store_free (MrSshAccessStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrSshAccessStore, mr_ssh_access_store_free)

/* Grants access to @sandbox_id until @expires_at, revoking its earlier tokens.
 * Returns a copy of the grant. */
MrSshAccess *mr_ssh_access_store_create (MrSshAccessStore *store, const char *sandbox_id, const char *id,
                                         const char *token, gint64 now, gint64 expires_at);
/* Revokes @token of @sandbox_id, or all its tokens when @token is NULL; returns how many. */
guint        mr_ssh_access_store_revoke (MrSshAccessStore *store, const char *sandbox_id, const char *token);

typedef enum {
  MR_SSH_ACCESS_VALID,
  MR_SSH_ACCESS_UNKNOWN,     /* never issued, or revoked */
  MR_SSH_ACCESS_EXPIRED,
} MrSshAccessStatus;

/* Checks @token at time @now; on MR_SSH_ACCESS_VALID sets @sandbox_id (transfer full). */
MrSshAccessStatus mr_ssh_access_store_check (MrSshAccessStore *store, const char *token, gint64 now,
                                             char **sandbox_id);
void         mr_ssh_access_store_clear (MrSshAccessStore *store);

/* A token of MR_SSH_TOKEN_LENGTH characters of MR_SSH_TOKEN_ALPHABET; @random_func
 * returns uniformly random 32-bit numbers (the runner's random source). */
char        *mr_ssh_access_make_token (guint32 (*random_func) (gpointer), gpointer data);

G_END_DECLS
