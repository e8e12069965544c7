/* mr-toolbox-files.c: toolbox routes of the files area (to be implemented). */
#include "mr-toolbox-private.h"

void
mr_tb_register_files (MrRouter *router)
{
}
