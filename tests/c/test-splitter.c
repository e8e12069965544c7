/* The at-mock command splitter of POST /process/execute, the SDK wrapper forms, and the
 * rule that sends a command to a shell instead. */
#include "mr-command-line.h"

static void
assert_split (const char *command, const char * const *expected)
{
  g_auto(GStrv) words = mr_command_line_split (command);

  g_assert_cmpstrv (words, expected);
}

static void
test_split_quotes (void)
{
  assert_split ("echo hi", (const char *[]) { "echo", "hi", NULL });
  assert_split ("  echo   hi  ", (const char *[]) { "echo", "hi", NULL });
  /* quotes group, the other kind of quote is literal inside */
  assert_split ("echo 'a b' \"c d\"", (const char *[]) { "echo", "a b", "c d", NULL });
  assert_split ("echo \"it's\" 'say \"x\"'", (const char *[]) { "echo", "it's", "say \"x\"", NULL });
  /* quotes join with adjacent text */
  assert_split ("a'b c'd", (const char *[]) { "ab cd", NULL });
  /* no escapes, no expansion */
  assert_split ("echo a\\ b $HOME", (const char *[]) { "echo", "a\\", "b", "$HOME", NULL });
  /* only the space character separates */
  assert_split ("echo a\tb", (const char *[]) { "echo", "a\tb", NULL });
  /* empty words are dropped; an unterminated quote runs to the end */
  assert_split ("echo '' x", (const char *[]) { "echo", "x", NULL });
  assert_split ("echo 'a b", (const char *[]) { "echo", "a b", NULL });
  assert_split ("", (const char *[]) { NULL });
  assert_split ("   ", (const char *[]) { NULL });
  assert_split ("'' \"\"", (const char *[]) { NULL });
}

/* The at-mock SDKs' wrappers (toolbox-api.md section 2.3) */
static void
test_sdk_wrappers (void)
{
  const char *plain = "sh -c \"echo 'ZWNobyBoaQ==' | base64 -d | sh\"";
  const char *with_env = "sh -c \"export K1=$(echo 'YSBiICBj' | base64 -d);export K2=$(echo 'eA==' | base64 -d); "
                         "echo 'ZWNobyAiJEsxfCRLMiI=' | base64 -d | sh\"";
  const char *python = "sh -c 'python3 -u -c \"exec(__import__(\\\"base64\\\").b64decode(\\\"cHJpbnQoMSk=\\\").decode())\" a b'";
  g_auto(GStrv) w1 = mr_command_line_split (plain);
  g_auto(GStrv) w2 = mr_command_line_split (with_env);
  g_auto(GStrv) w3 = mr_command_line_split (python);

  g_assert_cmpstrv (w1, ((const char *[]) { "sh", "-c", "echo 'ZWNobyBoaQ==' | base64 -d | sh", NULL }));
  g_assert_cmpuint (g_strv_length (w2), ==, 3);
  g_assert_cmpstr (w2[2], ==, "export K1=$(echo 'YSBiICBj' | base64 -d);export K2=$(echo 'eA==' | base64 -d); "
                              "echo 'ZWNobyAiJEsxfCRLMiI=' | base64 -d | sh");
  g_assert_cmpuint (g_strv_length (w3), ==, 3);
  g_assert_true (g_str_has_prefix (w3[2], "python3 -u -c \"exec(__import__(\\\"base64\\\")"));
  g_assert_true (g_str_has_suffix (w3[2], "\" a b"));

  /* all are exec'd as argv: never through an outer shell */
  g_assert_true (mr_command_line_is_sdk_wrapper (plain));
  g_assert_true (mr_command_line_is_sdk_wrapper (with_env));
  g_assert_false (mr_command_line_needs_shell (plain, FALSE));
  g_assert_false (mr_command_line_needs_shell (with_env, FALSE));
  g_assert_false (mr_command_line_needs_shell (python, FALSE));
  g_assert_false (mr_command_line_is_sdk_wrapper ("sh -c \"a\" \"b\""));
  g_assert_false (mr_command_line_is_sdk_wrapper ("sh -c \"unterminated"));
}

/* The wrapper with env exports, run for real: values with spaces survive because the
 * inner sh expands $(...) inside an assignment, and no outer shell splits them. */
static void
test_sdk_wrapper_runs (void)
{
  /* K1 = "a b  c", K2 = "x", command = echo "$K1|$K2" */
  const char *with_env = "sh -c \"export K1=$(echo 'YSBiICBj' | base64 -d);export K2=$(echo 'eA==' | base64 -d); "
                         "echo 'ZWNobyAiJEsxfCRLMiI=' | base64 -d | sh\"";
  g_auto(GStrv) argv = mr_command_line_split (with_env);
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  int status = -1;

  if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, &status, &error))
    {
      g_test_skip (error->message);
      return;
    }
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (out, ==, "a b  c|x\n");
}

static void
test_plain_argv (void)
{
  const char *plain[] = {
    "echo hi", "ls -la /tmp", "echo 'a  b' \"c d\"", "printf '%s|' 'a$b' x", "python3 -c 'print(1)'",
    "nonexistent-program-xyz arg",
  };
  const char *shell[] = {
    "echo $HOME", "ls | wc -l", "a && b", "echo a; echo b", "echo hi > /tmp/x", "cat < x",
    "echo `id`", "echo \"$HOME\"", "echo \"a\\\"b\"", "ls *.txt", "echo ~", "echo a # c",
    "sleep 1 &", "(cd /tmp)", "FOO=bar env", "cd /tmp", "export A=1", "exit 3", "echo '' x",
    "echo 'unterminated", "echo a\tb", "echo a\nb", "for i in 1; do echo $i; done", "",
    "export K=\"$(printf '%s' 'eA==' | base64 -d)\"; echo $K",
  };

  for (guint i = 0; i < G_N_ELEMENTS (plain); i++)
    {
      g_test_message ("plain: %s", plain[i]);
      g_assert_true (mr_command_line_is_plain_argv (plain[i]));
      g_assert_false (mr_command_line_needs_shell (plain[i], FALSE));
      /* envs always need the shell */
      g_assert_true (mr_command_line_needs_shell (plain[i], TRUE));
    }
  for (guint i = 0; i < G_N_ELEMENTS (shell); i++)
    {
      g_test_message ("shell: %s", shell[i]);
      g_assert_false (mr_command_line_is_plain_argv (shell[i]));
      g_assert_true (mr_command_line_needs_shell (shell[i], FALSE));
    }
}

static void
test_env_names (void)
{
  const char *good[] = { "A", "_", "_a1", "PATH", "my_var_2" };
  const char *bad[] = { "", "1A", "A-B", "A B", "A=B", "é", "$A" };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (mr_env_name_is_valid (good[i]));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (mr_env_name_is_valid (bad[i]));
  g_assert_false (mr_env_name_is_valid (NULL));
}

static void
test_quote_argv (void)
{
  g_autofree char *none = mr_shell_quote_argv (NULL);
  g_autofree char *some = mr_shell_quote_argv ((const char *[]) { "a b", "it's", NULL });
  g_auto(GStrv) parsed = NULL;

  g_assert_cmpstr (none, ==, "");
  g_assert_true (g_shell_parse_argv (some, NULL, &parsed, NULL));
  g_assert_cmpstrv (parsed, ((const char *[]) { "a b", "it's", NULL }));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/splitter/quotes", test_split_quotes);
  g_test_add_func ("/splitter/sdk-wrappers", test_sdk_wrappers);
  g_test_add_func ("/splitter/sdk-wrapper-runs", test_sdk_wrapper_runs);
  g_test_add_func ("/splitter/plain-argv", test_plain_argv);
  g_test_add_func ("/splitter/env-names", test_env_names);
  g_test_add_func ("/splitter/quote-argv", test_quote_argv);
  return g_test_run ();
}
