/* mr-api-dtos.c: field tables of the runner API request bodies. */
#include "mr-api-dtos.h"
#include "mr-http.h"

#define REQ MR_DTO_REQUIRED
#define GE MR_DTO_MIN
#define END { NULL, NULL, 0, 0, 0, NULL }

static const MrDtoField registry_fields[] = {
  { "url", "Url", MR_DTO_STRING, REQ, 0, NULL },
  { "username", "Username", MR_DTO_STRING, 0, 0, NULL },
  { "password", "Password", MR_DTO_STRING, 0, 0, NULL },
  { "project", "Project", MR_DTO_STRING, 0, 0, NULL },
  END
};
const MrDtoSchema mr_registry_dto = { "RegistryDTO", registry_fields };

static const MrDtoField create_sandbox_fields[] = {
  { "id", "Id", MR_DTO_STRING, REQ, 0, NULL },
  { "fromVolumeId", "FromVolumeId", MR_DTO_STRING, 0, 0, NULL },
  { "userId", "UserId", MR_DTO_STRING, REQ, 0, NULL },
  { "snapshot", "Snapshot", MR_DTO_STRING, REQ, 0, NULL },
  { "osUser", "OsUser", MR_DTO_STRING, REQ, 0, NULL },
  { "cpuQuota", "CpuQuota", MR_DTO_INT, GE, 1, NULL },
  { "gpuQuota", "GpuQuota", MR_DTO_INT, GE, 0, NULL },
  { "memoryQuota", "MemoryQuota", MR_DTO_INT, GE, 1, NULL },
  { "storageQuota", "StorageQuota", MR_DTO_INT, GE, 1, NULL },
  { "env", "Env", MR_DTO_STRING_MAP, 0, 0, NULL },
  { "registry", "Registry", MR_DTO_OBJECT, 0, 0, &mr_registry_dto },
  { "entrypoint", "Entrypoint", MR_DTO_STRING_ARRAY, 0, 0, NULL },
  { "volumes", "Volumes", MR_DTO_OBJECT_ARRAY, 0, 0, NULL },
  { "networkBlockAll", "NetworkBlockAll", MR_DTO_BOOL, 0, 0, NULL },
  { "networkAllowList", "NetworkAllowList", MR_DTO_STRING, 0, 0, NULL },
  { "metadata", "Metadata", MR_DTO_STRING_MAP, 0, 0, NULL },
  /* June 2026 */
  { "name", "Name", MR_DTO_STRING, 0, 0, NULL },
  { "domainAllowList", "DomainAllowList", MR_DTO_STRING, 0, 0, NULL },
  { "authToken", "AuthToken", MR_DTO_STRING, 0, 0, NULL },
  { "otelEndpoint", "OtelEndpoint", MR_DTO_STRING, 0, 0, NULL },
  { "skipStart", "SkipStart", MR_DTO_BOOL, 0, 0, NULL },
  { "sandboxClass", "SandboxClass", MR_DTO_STRING, 0, 0, NULL },
  { "organizationId", "OrganizationId", MR_DTO_STRING, 0, 0, NULL },
  { "regionId", "RegionId", MR_DTO_STRING, 0, 0, NULL },
  { "linkedSandboxId", "LinkedSandboxId", MR_DTO_STRING, 0, 0, NULL },
  END
};
const MrDtoSchema mr_create_sandbox_dto = { "CreateSandboxDTO", create_sandbox_fields };

static const MrDtoField create_backup_fields[] = {
  { "registry", "Registry", MR_DTO_OBJECT, REQ, 0, &mr_registry_dto },
  { "snapshot", "Snapshot", MR_DTO_STRING, REQ, 0, NULL },
  END
};
const MrDtoSchema mr_create_backup_dto = { "CreateBackupDTO", create_backup_fields };

/* June-2026 rules: every quota optional, 0 leaves it unchanged; negative values fail */
static const MrDtoField resize_fields[] = {
  { "cpu", "Cpu", MR_DTO_INT, GE, 0, NULL },
  { "gpu", "Gpu", MR_DTO_INT, GE, 0, NULL },
  { "memory", "Memory", MR_DTO_INT, GE, 0, NULL },
  { "disk", "Disk", MR_DTO_INT, GE, 0, NULL },
  { "registry", "Registry", MR_DTO_OBJECT, 0, 0, &mr_registry_dto },
  END
};
const MrDtoSchema mr_resize_sandbox_dto = { "ResizeSandboxDTO", resize_fields };

static const MrDtoField network_fields[] = {
  { "networkBlockAll", "NetworkBlockAll", MR_DTO_BOOL, 0, 0, NULL },
  { "networkAllowList", "NetworkAllowList", MR_DTO_STRING, 0, 0, NULL },
  { "networkLimitEgress", "NetworkLimitEgress", MR_DTO_BOOL, 0, 0, NULL },
  { "domainAllowList", "DomainAllowList", MR_DTO_STRING, 0, 0, NULL },
  END
};
const MrDtoSchema mr_network_settings_dto = { "UpdateNetworkSettingsDTO", network_fields };

static const MrDtoField recover_fields[] = {
  { "userId", "UserId", MR_DTO_STRING, REQ, 0, NULL },
  { "osUser", "OsUser", MR_DTO_STRING, REQ, 0, NULL },
  { "snapshot", "Snapshot", MR_DTO_STRING, 0, 0, NULL },
  { "cpuQuota", "CpuQuota", MR_DTO_INT, GE, 0, NULL },
  { "gpuQuota", "GpuQuota", MR_DTO_INT, GE, 0, NULL },
  { "memoryQuota", "MemoryQuota", MR_DTO_INT, GE, 0, NULL },
  { "storageQuota", "StorageQuota", MR_DTO_INT, GE, 0, NULL },
  { "env", "Env", MR_DTO_STRING_MAP, 0, 0, NULL },
  { "volumes", "Volumes", MR_DTO_OBJECT_ARRAY, 0, 0, NULL },
  { "networkBlockAll", "NetworkBlockAll", MR_DTO_BOOL, 0, 0, NULL },
  { "networkAllowList", "NetworkAllowList", MR_DTO_STRING, 0, 0, NULL },
  { "errorReason", "ErrorReason", MR_DTO_STRING, 0, 0, NULL },
  { "backupErrorReason", "BackupErrorReason", MR_DTO_STRING, 0, 0, NULL },
  { "registry", "Registry", MR_DTO_OBJECT, 0, 0, &mr_registry_dto },
  END
};
const MrDtoSchema mr_recover_sandbox_dto = { "RecoverSandboxDTO", recover_fields };

static const MrDtoField is_recoverable_fields[] = {
  { "errorReason", "ErrorReason", MR_DTO_STRING, REQ, 0, NULL },
  END
};
const MrDtoSchema mr_is_recoverable_dto = { "IsRecoverableDTO", is_recoverable_fields };

static const MrDtoField snapshot_from_sandbox_fields[] = {
  { "name", "Name", MR_DTO_STRING, REQ, 0, NULL },
  { "organizationId", "OrganizationId", MR_DTO_STRING, 0, 0, NULL },
  { "registry", "Registry", MR_DTO_OBJECT, 0, 0, &mr_registry_dto },
  END
};
const MrDtoSchema mr_snapshot_from_sandbox_dto = { "SnapshotFromSandboxDTO", snapshot_from_sandbox_fields };

static const MrDtoField stop_fields[] = {
  { "force", "Force", MR_DTO_BOOL, 0, 0, NULL },
  END
};
const MrDtoSchema mr_stop_sandbox_dto = { "StopSandboxDTO", stop_fields };

static const MrDtoField pull_fields[] = {
  { "snapshot", "Snapshot", MR_DTO_STRING, REQ, 0, NULL },
  { "registry", "Registry", MR_DTO_OBJECT, 0, 0, &mr_registry_dto },
  { "destinationRegistry", "DestinationRegistry", MR_DTO_OBJECT, 0, 0, &mr_registry_dto },
  { "destinationRef", "DestinationRef", MR_DTO_STRING, 0, 0, NULL },
  { "sandboxClass", "SandboxClass", MR_DTO_STRING, 0, 0, NULL },
  { "newTag", "NewTag", MR_DTO_STRING, 0, 0, NULL },
  END
};
const MrDtoSchema mr_pull_snapshot_dto = { "PullSnapshotRequestDTO", pull_fields };

static const MrDtoField build_fields[] = {
  { "snapshot", "Snapshot", MR_DTO_STRING, 0, 0, NULL },
  { "dockerfile", "Dockerfile", MR_DTO_STRING, REQ, 0, NULL },
  { "organizationId", "OrganizationId", MR_DTO_STRING, REQ, 0, NULL },
  { "context", "Context", MR_DTO_STRING_ARRAY, 0, 0, NULL },
  { "sourceRegistries", "SourceRegistries", MR_DTO_OBJECT_ARRAY, 0, 0, NULL },
  { "registry", "Registry", MR_DTO_OBJECT, 0, 0, &mr_registry_dto },
  { "pushToInternalRegistry", "PushToInternalRegistry", MR_DTO_BOOL, 0, 0, NULL },
  END
};
const MrDtoSchema mr_build_snapshot_dto = { "BuildSnapshotRequestDTO", build_fields };

static const MrDtoField tag_fields[] = {
  { "sourceImage", "SourceImage", MR_DTO_STRING, REQ, 0, NULL },
  { "targetImage", "TargetImage", MR_DTO_STRING, REQ, 0, NULL },
  END
};
const MrDtoSchema mr_tag_image_dto = { "TagImageRequestDTO", tag_fields };

static const MrDtoField inspect_fields[] = {
  { "snapshot", "Snapshot", MR_DTO_STRING, REQ, 0, NULL },
  { "registry", "Registry", MR_DTO_OBJECT, 0, 0, &mr_registry_dto },
  END
};
const MrDtoSchema mr_inspect_snapshot_dto = { "InspectSnapshotInRegistryRequest", inspect_fields };

/**
 * mr_api_bind_body: (skip)
 * @ex: the exchange, its body read
 * @schema: the DTO
 *
 * Binds and validates the body; on failure answers 400 with the Go runners' message.
 *
 * Returns: (transfer full) (nullable): the body's object, or %NULL once answered
 */
JsonObject *
mr_api_bind_body (MrExchange *ex, const MrDtoSchema *schema)
{
  g_autoptr(GError) error = NULL;
  JsonObject *object = mr_dto_bind (schema, ex->body, TRUE, &error);

  if (object == NULL)
    mr_http_reply_gerror (ex->msg, error);
  return object;
}
