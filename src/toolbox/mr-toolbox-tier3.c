/* mr-toolbox-tier3.c: toolbox routes of the tier3 area (to be implemented). */
#include "mr-toolbox-private.h"

void
mr_tb_register_tier3 (MrRouter *router)
{
}
