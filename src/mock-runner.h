/* mock-runner.h: the public API of libmockrunner. */
#pragma once

#define __MOCK_RUNNER_H_INSIDE__

#include "mr-version.h"
#include "mr-types.h"
#include "mr-error.h"
#include "mr-enums.h"
#include "mr-sandbox.h"
#include "mr-image.h"
#include "mr-config.h"
#include "mr-plugin.h"
#include "mr-sandbox-backend.h"
#include "mr-image-backend.h"
#include "mr-toolbox-backend.h"
#include "mr-ssh-backend.h"
#include "mr-runner.h"
#include "mr-journal.h"
#include "mr-faults.h"
#include "mr-timing.h"
#include "mr-clock.h"

#undef __MOCK_RUNNER_H_INSIDE__
