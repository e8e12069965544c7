/* mr-sdk-version.c: semver comparison and the SDK-version gates (mr-sdk-version.h).
 * Pure functions, unit-tested in tests/c/test-sdk-version.c. */
#include <string.h>

#include "mr-sdk-version.h"

typedef struct {
  guint64 number[3];
  char **prerelease;      /* NULL for a release */
} Version;

static gboolean
parse_number (const char **p, guint64 *value)
{
  const char *s = *p;

  if (!g_ascii_isdigit (*s))
    return FALSE;
  *value = 0;
  while (g_ascii_isdigit (*s))
    {
      if (*value > G_MAXUINT64 / 10 - 10)
        return FALSE;
      *value = *value * 10 + (guint64) (*s - '0');
      s++;
    }
  *p = s;
  return TRUE;
}

static gboolean
version_parse (const char *text, Version *v)
{
  const char *p = text;
  g_autofree char *pre = NULL;
  const char *plus;

  memset (v, 0, sizeof *v);
  if (p == NULL)
    return FALSE;
  if (*p == 'v' || *p == 'V')
    p++;
  for (int i = 0; i < 3; i++)
    {
      if (i > 0)
        {
          if (*p != '.' || !g_ascii_isdigit (p[1]))
            break;
          p++;
        }
      if (!parse_number (&p, &v->number[i]))
        return FALSE;
    }
  if (*p == '\0' || *p == '+')
    return TRUE;
  /* "1.2.3-rc.1", and "1.2.3foo" read as "1.2.3-foo" */
  if (*p == '-')
    p++;
  plus = strchr (p, '+');
  pre = plus ? g_strndup (p, plus - p) : g_strdup (p);
  if (*pre == '\0')
    return FALSE;
  v->prerelease = g_strsplit (pre, ".", -1);
  for (char **id = v->prerelease; *id; id++)
    if (**id == '\0')
      {
        g_clear_pointer (&v->prerelease, g_strfreev);
        return FALSE;
      }
  return TRUE;
}

static gboolean
is_numeric (const char *s)
{
  for (; *s; s++)
    if (!g_ascii_isdigit (*s))
      return FALSE;
  return TRUE;
}

static int
compare_identifiers (const char *a, const char *b)
{
  gboolean na = is_numeric (a), nb = is_numeric (b);

  if (na && nb)
    {
      gsize la = strlen (a), lb = strlen (b);
      /* no leading zeros in well-formed semver; compare by length, then digits */
      while (la > 1 && *a == '0')
        a++, la--;
      while (lb > 1 && *b == '0')
        b++, lb--;
      if (la != lb)
        return la < lb ? -1 : 1;
      return CLAMP (strcmp (a, b), -1, 1);
    }
  if (na != nb)
    return na ? -1 : 1;
  return CLAMP (strcmp (a, b), -1, 1);
}

static int
version_compare (const Version *a, const Version *b)
{
  guint i;

  for (i = 0; i < 3; i++)
    if (a->number[i] != b->number[i])
      return a->number[i] < b->number[i] ? -1 : 1;
  if (a->prerelease == NULL || b->prerelease == NULL)
    return a->prerelease == b->prerelease ? 0 : (a->prerelease == NULL ? 1 : -1);
  for (i = 0; a->prerelease[i] && b->prerelease[i]; i++)
    {
      int c = compare_identifiers (a->prerelease[i], b->prerelease[i]);
      if (c != 0)
        return c;
    }
  if (a->prerelease[i] == NULL && b->prerelease[i] == NULL)
    return 0;
  return a->prerelease[i] == NULL ? -1 : 1;
}

/**
 * mr_sdk_version_compare: (skip)
 * @version: (nullable): a client's version
 * @other: a well-formed version
 *
 * Returns: -1, 0 or 1; +1 when @version is missing or does not parse
 */
int
mr_sdk_version_compare (const char *version, const char *other)
{
  Version a, b;
  int result;

  if (!version_parse (version, &a))
    return 1;
  if (!version_parse (other, &b))
    {
      g_strfreev (a.prerelease);
      return 1;
    }
  result = version_compare (&a, &b);
  g_strfreev (a.prerelease);
  g_strfreev (b.prerelease);
  return result;
}

static gboolean
has_version (const char *version)
{
  return version != NULL && *version != '\0';
}

static gboolean
is_dev (const char *version)
{
  return version != NULL && strstr (version, "dev") != NULL;
}

/**
 * mr_sdk_version_is_older: (skip)
 *
 * Whether @version is a real version (present, parsable, not a dev build) older than
 * @threshold.
 */
gboolean
mr_sdk_version_is_older (const char *version, const char *threshold)
{
  return has_version (version) && !is_dev (version) && mr_sdk_version_compare (version, threshold) < 0;
}

/* The at-mock daemon's rule for its two gates: older than @threshold, a missing version
 * not being older and exactly "0.0.0-dev" (the SDKs built from source) exempt; other
 * pre-releases such as "0.26.0-dev" compare as semver (toolbox-api.md 1.3). */
static gboolean
is_older_at_mock (const char *version, const char *threshold)
{
  return has_version (version) && strcmp (version, "0.0.0-dev") != 0 &&
         mr_sdk_version_compare (version, threshold) < 0;
}

/**
 * mr_sdk_gate_combined_output: (skip)
 * @version: (nullable): the client's SDK version
 * @split_output_header: (nullable): the X-Daytona-Split-Output header
 *
 * SDKs before 0.27.0 want text without markers, and so does a client that sends no
 * version at all (curl) unless it asks for the markers with X-Daytona-Split-Output: true.
 */
gboolean
mr_sdk_gate_combined_output (const char *version, const char *split_output_header)
{
  if (!has_version (version))
    return g_strcmp0 (split_output_header, "true") != 0;
  return is_older_at_mock (version, "0.27.0-0");
}

/**
 * mr_sdk_gate_skip_server_demux: (skip)
 * @version: (nullable): the client's SDK version
 *
 * Before 0.167.0, and without a version, logs are text and exec replies carry no
 * server-side stdout/stderr.
 */
gboolean
mr_sdk_gate_skip_server_demux (const char *version)
{
  if (!has_version (version))
    return TRUE;
  return mr_sdk_version_is_older (version, "0.167.0-0");
}

/**
 * mr_sdk_gate_json_logs: (skip)
 * @version: (nullable): the client's SDK version
 *
 * Whether plain (non-WebSocket) session logs are JSON {output, stdout, stderr}: for the
 * SDKs that read them so (0.167.0 on), not for dev builds. The at-mock SDKs built from
 * source report "0.0.0-dev" and break on JSON (toolbox-api.md 3.6); their exec replies
 * may still carry stdout/stderr, which they overwrite with their own demultiplexing.
 */
gboolean
mr_sdk_gate_json_logs (const char *version)
{
  return !mr_sdk_gate_skip_server_demux (version) && !is_dev (version);
}

/**
 * mr_sdk_gate_legacy_session_cwd: (skip)
 * @version: (nullable): the client's SDK version
 *
 * Before 0.103.0 a session's shell starts in $HOME.
 */
gboolean
mr_sdk_gate_legacy_session_cwd (const char *version)
{
  return is_older_at_mock (version, "0.103.0-0");
}
