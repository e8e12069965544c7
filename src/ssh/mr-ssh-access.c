/* mr-ssh-access.c: the store of SSH access tokens. */
#include <string.h>

#include "mr-ssh-access.h"

struct _MrSshAccessStore {
  GMutex lock;
  GHashTable *by_token;    /* token -> MrSshAccess (owned) */
};

void
mr_ssh_access_free (MrSshAccess *access)
{
  if (access == NULL)
    return;
  g_free (access->id);
  g_free (access->sandbox_id);
  g_free (access->token);
  g_free (access);
}

static MrSshAccess *
access_copy (const MrSshAccess *a)
{
  MrSshAccess *copy = g_new0 (MrSshAccess, 1);

  copy->id = g_strdup (a->id);
  copy->sandbox_id = g_strdup (a->sandbox_id);
  copy->token = g_strdup (a->token);
  copy->created_at = a->created_at;
  copy->updated_at = a->updated_at;
  copy->expires_at = a->expires_at;
  return copy;
}

MrSshAccessStore *
mr_ssh_access_store_new (void)
{
  MrSshAccessStore *store = g_new0 (MrSshAccessStore, 1);

  g_mutex_init (&store->lock);
  store->by_token = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) mr_ssh_access_free);
  return store;
}

void
mr_ssh_access_store_free (MrSshAccessStore *store)
{
  if (store == NULL)
    return;
  g_hash_table_unref (store->by_token);
  g_mutex_clear (&store->lock);
  g_free (store);
}

/* Called with the lock held. */
static guint
revoke_locked (MrSshAccessStore *store, const char *sandbox_id, const char *token)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&iter, store->by_token);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      MrSshAccess *a = value;
      if (strcmp (a->sandbox_id, sandbox_id) == 0 && (token == NULL || strcmp (a->token, token) == 0))
        {
          g_hash_table_iter_remove (&iter);
          n++;
        }
    }
  return n;
}

MrSshAccess *
mr_ssh_access_store_create (MrSshAccessStore *store, const char *sandbox_id, const char *id,
                            const char *token, gint64 now, gint64 expires_at)
{
  MrSshAccess *a = g_new0 (MrSshAccess, 1);
  MrSshAccess *copy;

  a->id = g_strdup (id);
  a->sandbox_id = g_strdup (sandbox_id);
  a->token = g_strdup (token);
  a->created_at = a->updated_at = now;
  a->expires_at = expires_at;
  copy = access_copy (a);

  g_mutex_lock (&store->lock);
  /* as the Daytona API does: a new grant revokes the sandbox's earlier ones */
  revoke_locked (store, sandbox_id, NULL);
  g_hash_table_replace (store->by_token, a->token, a);
  g_mutex_unlock (&store->lock);
  return copy;
}

guint
mr_ssh_access_store_revoke (MrSshAccessStore *store, const char *sandbox_id, const char *token)
{
  guint n;

  g_mutex_lock (&store->lock);
  n = revoke_locked (store, sandbox_id, token);
  g_mutex_unlock (&store->lock);
  return n;
}

MrSshAccessStatus
mr_ssh_access_store_check (MrSshAccessStore *store, const char *token, gint64 now, char **sandbox_id)
{
  MrSshAccessStatus status;
  MrSshAccess *a;

  if (sandbox_id)
    *sandbox_id = NULL;
  if (token == NULL || *token == '\0')
    return MR_SSH_ACCESS_UNKNOWN;
  g_mutex_lock (&store->lock);
  a = g_hash_table_lookup (store->by_token, token);
  if (a == NULL)
    status = MR_SSH_ACCESS_UNKNOWN;
  else if (now >= a->expires_at)
    status = MR_SSH_ACCESS_EXPIRED;
  else
    {
      status = MR_SSH_ACCESS_VALID;
      if (sandbox_id)
        *sandbox_id = g_strdup (a->sandbox_id);
    }
  g_mutex_unlock (&store->lock);
  return status;
}

void
mr_ssh_access_store_clear (MrSshAccessStore *store)
{
  g_mutex_lock (&store->lock);
  g_hash_table_remove_all (store->by_token);
  g_mutex_unlock (&store->lock);
}

char *
mr_ssh_access_make_token (guint32 (*random_func) (gpointer), gpointer data)
{
  static const char alphabet[] = MR_SSH_TOKEN_ALPHABET;
  const guint n = sizeof alphabet - 1;   /* 62 */
  GString *token = g_string_sized_new (MR_SSH_TOKEN_LENGTH);

  while (token->len < MR_SSH_TOKEN_LENGTH)
    {
      /* 6 bits at a time, rejecting 62 and 63, so that every character is equally likely */
      guint32 r = random_func (data);
      for (int shift = 0; shift + 6 <= 32 && token->len < MR_SSH_TOKEN_LENGTH; shift += 6)
        {
          guint v = (r >> shift) & 63;
          if (v < n)
            g_string_append_c (token, alphabet[v]);
        }
    }
  return g_string_free (token, FALSE);
}
