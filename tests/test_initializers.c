/* placeholder: replaced by the initializer work */
#include "common.h"
int main(void) { return 0; }
