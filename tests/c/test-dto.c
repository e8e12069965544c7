/* Request binding: the Go runners' messages for bad bodies. */
#include <string.h>

#include "mr-dto.h"
#include "mr-error.h"
#include "api/mr-api-dtos.h"

static char *
bind_error (const MrDtoSchema *schema, const char *text)
{
  g_autoptr(GBytes) body = g_bytes_new (text, strlen (text));
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) o = mr_dto_bind (schema, body, TRUE, &error);

  if (o)
    return NULL;
  g_assert_error (error, MR_ERROR, MR_ERROR_INVALID_BODY);
  return g_strdup (error->message);
}

#define VALID "\"id\":\"a\",\"userId\":\"u\",\"snapshot\":\"s\",\"osUser\":\"o\",\"cpuQuota\":1,\"memoryQuota\":1,\"storageQuota\":1"

static void
test_messages (void)
{
  struct { const char *body, *message; } cases[] = {
    { "", "EOF" },
    { "  \n", "EOF" },
    { "[1]", "json: cannot unmarshal array into Go value of type dto.CreateSandboxDTO" },
    { "{" VALID ",\"cpuQuota\":1.5}", "json: cannot unmarshal number 1.5 into Go struct field CreateSandboxDTO.cpuQuota of type int64" },
    { "{" VALID ",\"cpuQuota\":\"2\"}", "json: cannot unmarshal string into Go struct field CreateSandboxDTO.cpuQuota of type int64" },
    { "{" VALID ",\"env\":[]}", "json: cannot unmarshal array into Go struct field CreateSandboxDTO.env of type map[string]string" },
    { "{" VALID ",\"registry\":{\"url\":5}}", "json: cannot unmarshal number into Go struct field CreateSandboxDTO.registry.url of type string" },
    { "{" VALID ",\"registry\":{}}", "Key: 'CreateSandboxDTO.Registry.Url' Error:Field validation for 'Url' failed on the 'required' tag" },
    { "{" VALID ",\"id\":\"\"}", "Key: 'CreateSandboxDTO.Id' Error:Field validation for 'Id' failed on the 'required' tag" },
    { "{" VALID ",\"cpuQuota\":0,\"gpuQuota\":-1}",
      "Key: 'CreateSandboxDTO.CpuQuota' Error:Field validation for 'CpuQuota' failed on the 'min' tag\n"
      "Key: 'CreateSandboxDTO.GpuQuota' Error:Field validation for 'GpuQuota' failed on the 'min' tag" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *message = bind_error (&mr_create_sandbox_dto, cases[i].body);
      g_assert_cmpstr (message, ==, cases[i].message);
    }
}

static void
test_accepts (void)
{
  /* unknown fields are ignored; null leaves the zero value; volumes are not validated */
  g_autofree char *message = bind_error (&mr_create_sandbox_dto,
                                         "{" VALID ",\"unknown\":{\"x\":1},\"env\":null,\"volumes\":[{\"bogus\":1}]}");
  g_assert_null (message);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dto/messages", test_messages);
  g_test_add_func ("/dto/accepts", test_accepts);
  return g_test_run ();
}
