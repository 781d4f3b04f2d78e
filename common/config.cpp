// Placeholder until the config parser lands (see common/config.h).
#include "common/config.h"
