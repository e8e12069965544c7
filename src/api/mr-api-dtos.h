/* mr-api-dtos.h: the request DTOs of the runner API (runner-api.md sections 2-4), as the
 * union of the Dec-2025 and June-2026 fields. Go field names are those validator reports. */
#pragma once

#include "mr-dto.h"
#include "mr-runner-private.h"

extern const MrDtoSchema mr_registry_dto;
extern const MrDtoSchema mr_create_sandbox_dto;
extern const MrDtoSchema mr_create_backup_dto;
extern const MrDtoSchema mr_resize_sandbox_dto;
extern const MrDtoSchema mr_network_settings_dto;
extern const MrDtoSchema mr_recover_sandbox_dto;
extern const MrDtoSchema mr_is_recoverable_dto;
extern const MrDtoSchema mr_snapshot_from_sandbox_dto;
extern const MrDtoSchema mr_stop_sandbox_dto;
extern const MrDtoSchema mr_pull_snapshot_dto;
extern const MrDtoSchema mr_build_snapshot_dto;
extern const MrDtoSchema mr_tag_image_dto;
extern const MrDtoSchema mr_inspect_snapshot_dto;

JsonObject *mr_api_bind_body (MrExchange *ex, const MrDtoSchema *schema);
