/* SSH access tokens: their alphabet and length, expiry, revocation, and that a new
 * token revokes the sandbox's earlier ones; the SFTP server against bad input. */
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "mock-runner.h"
#include "ssh/mr-ssh-access.h"
#include "ssh/mr-sftp-server.h"

#define MINUTE (60 * G_USEC_PER_SEC)

static guint32
counting_random (gpointer data)
{
  guint32 *state = data;

  /* every 6-bit value in turn, 62 and 63 included, which must be skipped */
  *state = *state * 1103515245u + 12345u;
  return *state;
}

static void
test_token_shape (void)
{
  guint32 state = 1;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (int i = 0; i < 200; i++)
    {
      char *token = mr_ssh_access_make_token (counting_random, &state);
      g_assert_cmpuint (strlen (token), ==, MR_SSH_TOKEN_LENGTH);
      for (const char *p = token; *p; p++)
        g_assert_true (g_ascii_isalnum (*p));
      g_assert_false (g_hash_table_contains (seen, token));
      g_hash_table_add (seen, token);
    }
}

static void
test_check_and_expiry (void)
{
  g_autoptr(MrSshAccessStore) store = mr_ssh_access_store_new ();
  g_autoptr(MrSshAccess) a = mr_ssh_access_store_create (store, "sbx", "id-1", "tok1", 1000, 1000 + MINUTE);
  g_autofree char *sandbox = NULL;

  g_assert_cmpstr (a->sandbox_id, ==, "sbx");
  g_assert_cmpint (a->expires_at, ==, 1000 + MINUTE);
  g_assert_cmpint (mr_ssh_access_store_check (store, "tok1", 1000 + MINUTE - 1, &sandbox), ==, MR_SSH_ACCESS_VALID);
  g_assert_cmpstr (sandbox, ==, "sbx");
  g_clear_pointer (&sandbox, g_free);
  g_assert_cmpint (mr_ssh_access_store_check (store, "tok1", 1000 + MINUTE, &sandbox), ==, MR_SSH_ACCESS_EXPIRED);
  g_assert_null (sandbox);
  g_assert_cmpint (mr_ssh_access_store_check (store, "other", 1000, NULL), ==, MR_SSH_ACCESS_UNKNOWN);
  g_assert_cmpint (mr_ssh_access_store_check (store, "", 1000, NULL), ==, MR_SSH_ACCESS_UNKNOWN);
  g_assert_cmpint (mr_ssh_access_store_check (store, NULL, 1000, NULL), ==, MR_SSH_ACCESS_UNKNOWN);
}

static void
test_new_token_revokes_earlier (void)
{
  g_autoptr(MrSshAccessStore) store = mr_ssh_access_store_new ();

  mr_ssh_access_free (mr_ssh_access_store_create (store, "sbx", "1", "first", 0, MINUTE));
  mr_ssh_access_free (mr_ssh_access_store_create (store, "other", "2", "theirs", 0, MINUTE));
  mr_ssh_access_free (mr_ssh_access_store_create (store, "sbx", "3", "second", 0, MINUTE));
  g_assert_cmpint (mr_ssh_access_store_check (store, "first", 1, NULL), ==, MR_SSH_ACCESS_UNKNOWN);
  g_assert_cmpint (mr_ssh_access_store_check (store, "second", 1, NULL), ==, MR_SSH_ACCESS_VALID);
  g_assert_cmpint (mr_ssh_access_store_check (store, "theirs", 1, NULL), ==, MR_SSH_ACCESS_VALID);
}

static void
test_revoke (void)
{
  g_autoptr(MrSshAccessStore) store = mr_ssh_access_store_new ();

  mr_ssh_access_free (mr_ssh_access_store_create (store, "sbx", "1", "tok", 0, MINUTE));
  mr_ssh_access_free (mr_ssh_access_store_create (store, "other", "2", "theirs", 0, MINUTE));
  /* a token of another sandbox is not revoked through this one */
  g_assert_cmpuint (mr_ssh_access_store_revoke (store, "sbx", "theirs"), ==, 0);
  g_assert_cmpuint (mr_ssh_access_store_revoke (store, "sbx", "tok"), ==, 1);
  g_assert_cmpint (mr_ssh_access_store_check (store, "tok", 1, NULL), ==, MR_SSH_ACCESS_UNKNOWN);
  g_assert_cmpuint (mr_ssh_access_store_revoke (store, "other", NULL), ==, 1);
  g_assert_cmpint (mr_ssh_access_store_check (store, "theirs", 1, NULL), ==, MR_SSH_ACCESS_UNKNOWN);
  mr_ssh_access_free (mr_ssh_access_store_create (store, "sbx", "3", "again", 0, MINUTE));
  mr_ssh_access_store_clear (store);
  g_assert_cmpint (mr_ssh_access_store_check (store, "again", 1, NULL), ==, MR_SSH_ACCESS_UNKNOWN);
}

/* The SFTP server must end, not crash or hang, on what a broken client sends. */
static void
serve_input (const guint8 *input, gsize len, GByteArray *reply)
{
  int pair[2];
  guint8 buf[4096];
  gssize n;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, pair), ==, 0);
  g_assert_cmpint (write (pair[0], input, len), ==, (gssize) len);
  shutdown (pair[0], SHUT_WR);
  mr_sftp_serve (pair[1], "/");
  close (pair[1]);
  while ((n = read (pair[0], buf, sizeof buf)) > 0)
    g_byte_array_append (reply, buf, n);
  close (pair[0]);
}

static void
test_sftp_bad_input (void)
{
  static const guint8 huge_length[] = { 0x7f, 0xff, 0xff, 0xff, 1 };
  static const guint8 zero_length[] = { 0, 0, 0, 0 };
  static const guint8 truncated[] = { 0, 0, 0, 9, 3, 0, 0 };
  /* OPEN with a path length longer than the packet */
  static const guint8 bad_string[] = { 0, 0, 0, 9, 3, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff };
  /* INIT, then READ on a handle never opened */
  static const guint8 bad_handle[] = { 0, 0, 0, 5, 1, 0, 0, 0, 3,
                                       0, 0, 0, 22, 5, 0, 0, 0, 7, 0, 0, 0, 2, '4', '2',
                                       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0 };
  struct { const guint8 *data; gsize len; } cases[] = {
    { huge_length, sizeof huge_length },
    { zero_length, sizeof zero_length },
    { truncated, sizeof truncated },
    { bad_string, sizeof bad_string },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) reply = g_byte_array_new ();
      serve_input (cases[i].data, cases[i].len, reply);
    }

  {
    g_autoptr(GByteArray) reply = g_byte_array_new ();
    serve_input (bad_handle, sizeof bad_handle, reply);
    /* VERSION 3, then STATUS(id 7, FAILURE) */
    g_assert_cmpuint (reply->len, >, 9);
    g_assert_cmpuint (reply->data[4], ==, 2);
    g_assert_cmpuint (reply->data[8], ==, 3);
    {
      gsize at = 4 + ((reply->data[0] << 24) | (reply->data[1] << 16) | (reply->data[2] << 8) | reply->data[3]);
      g_assert_cmpuint (reply->len, >, at + 13);
      g_assert_cmpuint (reply->data[at + 4], ==, 101);    /* STATUS */
      g_assert_cmpuint (reply->data[at + 8], ==, 7);      /* the request id */
      g_assert_cmpuint (reply->data[at + 12], ==, 4);     /* FAILURE */
    }
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ssh-access/token-shape", test_token_shape);
  g_test_add_func ("/ssh-access/check-and-expiry", test_check_and_expiry);
  g_test_add_func ("/ssh-access/new-token-revokes-earlier", test_new_token_revokes_earlier);
  g_test_add_func ("/ssh-access/revoke", test_revoke);
  g_test_add_func ("/ssh-access/sftp-bad-input", test_sftp_bad_input);
  return g_test_run ();
}
