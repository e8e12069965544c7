/* mr-command-line.c: the at-mock command splitter and the rule that sends a command to
 * a shell instead (see mr-command-line.h). Pure functions, unit-tested in
 * tests/c/test-splitter.c. */
#include <string.h>

#include "mr-command-line.h"

/**
 * mr_command_line_split: (skip)
 * @command: a command string
 *
 * The at-mock daemon's splitter: splits on the space character only; '...' and "..."
 * group text (inside one kind of quote the other kind is literal); there are no escapes
 * and no expansion; empty words are dropped; an unterminated quote runs to the end.
 *
 * Returns: (transfer full): the words, possibly none
 */
char **
mr_command_line_split (const char *command)
{
  GPtrArray *words = g_ptr_array_new ();
  GString *current = g_string_new (NULL);
  char quote = 0;

  for (const char *p = command; p && *p; p++)
    {
      if (*p == '"' || *p == '\'')
        {
          if (quote == 0)
            quote = *p;
          else if (quote == *p)
            quote = 0;
          else
            g_string_append_c (current, *p);
        }
      else if (*p == ' ' && quote == 0)
        {
          if (current->len > 0)
            {
              g_ptr_array_add (words, g_strndup (current->str, current->len));
              g_string_truncate (current, 0);
            }
        }
      else
        g_string_append_c (current, *p);
    }
  if (current->len > 0)
    g_ptr_array_add (words, g_strndup (current->str, current->len));
  g_string_free (current, TRUE);
  g_ptr_array_add (words, NULL);
  return (char **) g_ptr_array_free (words, FALSE);
}

/**
 * mr_command_line_is_sdk_wrapper: (skip)
 * @command: a command string
 *
 * Whether @command is the at-mock SDKs' `sh -c "<script>"` wrapper: exactly that
 * prefix, a closing double quote at the very end and none in between. Its script holds
 * `$(...)` that only the inner sh may expand, so it is always exec'd as argv.
 */
gboolean
mr_command_line_is_sdk_wrapper (const char *command)
{
  static const char prefix[] = "sh -c \"";
  gsize len;

  if (command == NULL || !g_str_has_prefix (command, prefix))
    return FALSE;
  len = strlen (command);
  if (len < sizeof prefix || command[len - 1] != '"')
    return FALSE;
  return memchr (command + sizeof prefix - 1, '"', len - sizeof prefix) == NULL;
}

/* Words a shell runs itself: exec'ing them as a program would fail or mean something else. */
static gboolean
is_shell_word (const char *word)
{
  static const char *const words[] = {
    ".", ":", "[[", "{", "}", "!", "alias", "bg", "break", "builtin", "case", "cd", "command",
    "continue", "declare", "dirs", "disown", "do", "done", "elif", "else", "enable", "esac",
    "eval", "exec", "exit", "export", "fc", "fg", "fi", "for", "function", "getopts", "hash",
    "history", "if", "jobs", "let", "local", "logout", "popd", "pushd", "read", "readonly",
    "return", "select", "set", "setopt", "shift", "shopt", "source", "suspend", "then", "time",
    "times", "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset", "until", "wait",
    "while", "coproc",
  };

  for (guint i = 0; i < G_N_ELEMENTS (words); i++)
    if (strcmp (word, words[i]) == 0)
      return TRUE;
  return FALSE;
}

/**
 * mr_command_line_is_plain_argv: (skip)
 * @command: a command string
 *
 * Whether a POSIX shell would turn @command into exactly the argv the splitter gives,
 * and run it as a program: no unquoted character a shell treats specially (operators,
 * expansions, globs, comments, tabs and newlines, assignments), no `$`, backquote or
 * backslash inside double quotes, no empty quoted word (the splitter drops it, a shell
 * keeps it), no unterminated quote, and a first word that is not a shell builtin or
 * keyword.
 */
gboolean
mr_command_line_is_plain_argv (const char *command)
{
  static const char special[] = "\t\n|&;<>()$`\\*?[]{}~#!^=";
  g_auto(GStrv) words = NULL;
  char quote = 0;
  gboolean word_has_text = FALSE;   /* the current word has a character or a quote pair */
  gboolean word_has_char = FALSE;   /* ...and at least one character */

  if (command == NULL)
    return FALSE;
  for (const char *p = command;; p++)
    {
      if (*p == '\0' || (*p == ' ' && quote == 0))
        {
          if (word_has_text && !word_has_char)
            return FALSE;          /* '' or "" as a whole word */
          word_has_text = word_has_char = FALSE;
          if (*p == '\0')
            break;
          continue;
        }
      if (quote == 0)
        {
          if (*p == '"' || *p == '\'')
            {
              quote = *p;
              word_has_text = TRUE;
            }
          else if (strchr (special, *p))
            return FALSE;
          else
            word_has_text = word_has_char = TRUE;
        }
      else if (*p == quote)
        quote = 0;
      else
        {
          if (quote == '"' && (*p == '$' || *p == '`' || *p == '\\'))
            return FALSE;
          word_has_text = word_has_char = TRUE;
        }
    }
  if (quote != 0)
    return FALSE;
  words = mr_command_line_split (command);
  return words[0] != NULL && !is_shell_word (words[0]);
}

/**
 * mr_command_line_needs_shell: (skip)
 * @command: a command string
 * @has_envs: whether the request carries `envs`
 *
 * The rule of POST /process/execute: the at-mock SDK wrapper is always exec'd as argv;
 * otherwise a command runs as `<shell> -c <command>` when the request has `envs` or
 * the command is not a plain argv (mr_command_line_is_plain_argv()), and as the
 * splitter's argv else.
 */
gboolean
mr_command_line_needs_shell (const char *command, gboolean has_envs)
{
  if (mr_command_line_is_sdk_wrapper (command))
    return FALSE;
  return has_envs || !mr_command_line_is_plain_argv (command);
}

/**
 * mr_env_name_is_valid: (skip)
 * @name: an environment variable name
 *
 * Whether @name matches ^[A-Za-z_][A-Za-z0-9_]*$.
 */
gboolean
mr_env_name_is_valid (const char *name)
{
  if (name == NULL || !(g_ascii_isalpha (name[0]) || name[0] == '_'))
    return FALSE;
  for (const char *p = name + 1; *p; p++)
    if (!(g_ascii_isalnum (*p) || *p == '_'))
      return FALSE;
  return TRUE;
}

/**
 * mr_shell_quote_argv: (skip)
 * @argv: (nullable): words
 *
 * Returns: (transfer full): the words single-quoted for a POSIX shell and joined with
 *   spaces, with a leading space when there is at least one ("" otherwise)
 */
char *
mr_shell_quote_argv (const char * const *argv)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; argv && argv[i]; i++)
    {
      g_autofree char *quoted = g_shell_quote (argv[i]);
      g_string_append_c (out, ' ');
      g_string_append (out, quoted);
    }
  return g_string_free (out, FALSE);
}
